-- The daily data lifecycle as its own role, txn_maintainer, instead of the master user; a retention policy
-- only the master can set; retention for detached partitions, conflicts and alerts.
--
-- txn_maintainer holds no table privilege at all: only EXECUTE on the four lifecycle_* functions below,
-- which run as their owner (the master, who owns every table) and do exactly the upkeep, nothing else.
-- They read the retention from maintenance_policy, which the migration function writes from the
-- configuration on each deploy (processor/maintain.py set_policy), and they never look past the server's
-- own date: whoever holds txn_maintainer can run the configured upkeep early, never shorten a retention.

-- A function is executable by every role unless revoked: not the master's, from now on.
ALTER DEFAULT PRIVILEGES REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION ensure_transaction_partitions(DATE, DATE) FROM PUBLIC;

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'txn_maintainer') THEN
        CREATE ROLE txn_maintainer LOGIN;
    END IF;
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'rds_iam') THEN
        GRANT rds_iam TO txn_maintainer;  -- IAM auth tokens on RDS; the rig gives it a password instead
    END IF;
END
$$;

-- One row: what the daily run keeps. Written by the master only (no grant on it).
CREATE TABLE maintenance_policy (
    singleton                    BOOLEAN PRIMARY KEY DEFAULT true CHECK (singleton),
    transaction_retention_months INTEGER NOT NULL CHECK (transaction_retention_months > 0),
    rejected_retention_days      INTEGER NOT NULL CHECK (rejected_retention_days > 0),
    conflict_retention_days      INTEGER NOT NULL CHECK (conflict_retention_days > 0),
    alert_retention_days         INTEGER NOT NULL CHECK (alert_retention_days > 0),
    partition_drop_grace_days    INTEGER NOT NULL CHECK (partition_drop_grace_days > 0),
    export_before_drop           BOOLEAN NOT NULL,
    updated_at                   TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Every monthly partition detached past retention: since when, whether and where it was exported, and when
-- it was dropped (the row stays as the record of what was dropped).
CREATE TABLE detached_partitions (
    table_name      TEXT PRIMARY KEY,
    month           DATE NOT NULL,
    detached_on     DATE NOT NULL,
    exported_at     TIMESTAMPTZ,
    export_rows     BIGINT,
    export_sha256   TEXT,
    export_location TEXT,
    dropped_on      DATE
);
-- Partitions the daily run detached before this migration start their grace period now.
INSERT INTO detached_partitions (table_name, month, detached_on)
SELECT c.relname, make_date(substr(c.relname, 15, 4)::int, substr(c.relname, 20, 2)::int, 1), current_date
FROM pg_class c
WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r' AND NOT c.relispartition
  AND c.relname ~ '^transactions_y[0-9]{4}m[0-9]{2}$';

-- The day the run acts for: the caller's (tests pin one; the function passes today), never later than the
-- server's UTC date, so nobody can make the run act as if retention had already passed.
CREATE FUNCTION maintenance_day(requested DATE) RETURNS DATE
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT LEAST(requested, (now() AT TIME ZONE 'UTC')::date)
$$;

CREATE FUNCTION maintenance_policy_in_force() RETURNS maintenance_policy
LANGUAGE plpgsql STABLE SET search_path = public, pg_temp AS $$
DECLARE
    policy maintenance_policy;
BEGIN
    SELECT * INTO policy FROM public.maintenance_policy;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no maintenance policy: the migration function sets it from the configuration on deploy'
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    RETURN policy;
END
$$;

-- The oldest month whose transactions are kept on `on_day`.
CREATE FUNCTION maintenance_oldest_kept_month(on_day DATE, policy maintenance_policy) RETURNS DATE
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT (date_trunc('month', on_day) - make_interval(months => policy.transaction_retention_months - 1))::date
$$;

-- Monthly partitions from twelve months back (late arrivals; never before the oldest kept month) to three ahead.
CREATE FUNCTION lifecycle_create_partitions(requested DATE) RETURNS SETOF TEXT
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    run_day DATE               := public.maintenance_day(requested);
    policy  maintenance_policy := public.maintenance_policy_in_force();
BEGIN
    RETURN QUERY SELECT public.ensure_transaction_partitions(
        GREATEST((date_trunc('month', run_day) - interval '12 months')::date,
                 public.maintenance_oldest_kept_month(run_day, policy)),
        (date_trunc('month', run_day) + interval '3 months')::date);
END
$$;

-- Partitions older than the retention leave `transactions` (kept as plain tables) and start their grace period.
CREATE FUNCTION lifecycle_detach_partitions(requested DATE) RETURNS SETOF TEXT
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    run_day DATE := public.maintenance_day(requested);
    cutoff  DATE := public.maintenance_oldest_kept_month(run_day, public.maintenance_policy_in_force());
    part    RECORD;
BEGIN
    FOR part IN
        SELECT c.relname AS name,
               make_date(substr(c.relname, 15, 4)::int, substr(c.relname, 20, 2)::int, 1) AS month
        FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'public.transactions'::regclass AND c.relname ~ '^transactions_y[0-9]{4}m[0-9]{2}$'
        ORDER BY c.relname
    LOOP
        CONTINUE WHEN part.month >= cutoff;
        EXECUTE format('ALTER TABLE public.transactions DETACH PARTITION public.%I', part.name);
        INSERT INTO public.detached_partitions AS d (table_name, month, detached_on)
        VALUES (part.name, part.month, run_day)
        ON CONFLICT (table_name) DO UPDATE  -- attached again by hand and detached again: a new grace period
            SET detached_on = EXCLUDED.detached_on, exported_at = NULL, export_rows = NULL,
                export_sha256 = NULL, export_location = NULL, dropped_on = NULL;
        RETURN NEXT part.name;
    END LOOP;
END
$$;

-- Detached partitions whose grace period is over are dropped, when the policy asks for an export only once
-- they were exported and still hold exactly the exported rows. One row per partition acted on or waiting.
CREATE FUNCTION lifecycle_drop_partitions(requested DATE)
RETURNS TABLE (table_name TEXT, outcome TEXT)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    run_day DATE               := public.maintenance_day(requested);
    policy  maintenance_policy := public.maintenance_policy_in_force();
    part    public.detached_partitions;
    target  REGCLASS;
    kept    BIGINT;
BEGIN
    FOR part IN SELECT * FROM public.detached_partitions d
                WHERE d.dropped_on IS NULL AND d.detached_on + policy.partition_drop_grace_days <= run_day
                ORDER BY d.table_name
    LOOP
        table_name := part.table_name;
        target := to_regclass(format('public.%I', part.table_name));
        IF target IS NULL THEN
            outcome := 'gone';  -- dropped by hand: recorded as dropped now
        ELSIF (SELECT c.relispartition FROM pg_class c WHERE c.oid = target) THEN
            outcome := 'attached';  -- put back into transactions by hand: not ours to drop
            RETURN NEXT;
            CONTINUE;
        ELSIF policy.export_before_drop AND part.exported_at IS NULL THEN
            outcome := 'awaiting export';
            RETURN NEXT;
            CONTINUE;
        ELSE
            IF policy.export_before_drop THEN
                EXECUTE format('SELECT count(*) FROM public.%I', part.table_name) INTO kept;
                IF kept IS DISTINCT FROM part.export_rows THEN
                    outcome := 'changed since export';
                    RETURN NEXT;
                    CONTINUE;
                END IF;
            END IF;
            EXECUTE format('DROP TABLE public.%I', part.table_name);
            outcome := 'dropped';
        END IF;
        UPDATE public.detached_partitions d SET dropped_on = run_day WHERE d.table_name = part.table_name;
        RETURN NEXT;
    END LOOP;
END
$$;

-- Rows past their retention: ids and rule windows of months no longer kept, and the conflicts of those ids
-- (a conflict without its transaction explains nothing, and would block deleting the id); rejects, conflicts
-- and alerts after their days. Counts per table.
CREATE FUNCTION lifecycle_purge(requested DATE) RETURNS JSONB
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    run_day   DATE               := public.maintenance_day(requested);
    policy    maintenance_policy := public.maintenance_policy_in_force();
    cutoff    TIMESTAMPTZ        := public.maintenance_oldest_kept_month(run_day, policy)::timestamp AT TIME ZONE 'UTC';
    midnight  TIMESTAMP          := run_day::timestamp;
    conflicts BIGINT;
    ids       BIGINT;
    windows   BIGINT;
    rejects   BIGINT;
    alerts    BIGINT;
BEGIN
    DELETE FROM public.transaction_conflicts c
    WHERE c.received_at < (midnight - make_interval(days => policy.conflict_retention_days)) AT TIME ZONE 'UTC'
       OR c.transaction_id IN (SELECT i.transaction_id FROM public.transaction_ids i WHERE i.occurred_at < cutoff);
    GET DIAGNOSTICS conflicts = ROW_COUNT;
    DELETE FROM public.transaction_ids i WHERE i.occurred_at < cutoff;
    GET DIAGNOSTICS ids = ROW_COUNT;
    DELETE FROM public.customer_windows w WHERE w.window_start < cutoff;
    GET DIAGNOSTICS windows = ROW_COUNT;
    DELETE FROM public.rejected_transactions r
    WHERE r.created_at < (midnight - make_interval(days => policy.rejected_retention_days)) AT TIME ZONE 'UTC';
    GET DIAGNOSTICS rejects = ROW_COUNT;
    DELETE FROM public.rule_alerts a
    WHERE a.updated_at < (midnight - make_interval(days => policy.alert_retention_days)) AT TIME ZONE 'UTC';
    GET DIAGNOSTICS alerts = ROW_COUNT;
    RETURN jsonb_build_object('transaction_ids', ids, 'customer_windows', windows, 'rejected_transactions', rejects,
                              'transaction_conflicts', conflicts, 'rule_alerts', alerts);
END
$$;

-- The export tool (processor/maintain.py, as the master) records an export here; the row count must match
-- what the table holds, so a partial export can never let the drop go ahead.
CREATE FUNCTION mark_partition_exported(partition_name TEXT, exported_rows BIGINT, sha256 TEXT, location TEXT)
RETURNS VOID
LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
DECLARE
    held BIGINT;
BEGIN
    IF NOT EXISTS (SELECT FROM public.detached_partitions d
                   WHERE d.table_name = partition_name AND d.dropped_on IS NULL) THEN
        RAISE EXCEPTION 'partition % is not a detached partition awaiting its drop', partition_name;
    END IF;
    EXECUTE format('SELECT count(*) FROM public.%I', partition_name) INTO held;
    IF held <> exported_rows THEN
        RAISE EXCEPTION 'partition % holds % rows, the export has %', partition_name, held, exported_rows;
    END IF;
    UPDATE public.detached_partitions d
    SET exported_at = now(), export_rows = exported_rows, export_sha256 = sha256, export_location = location
    WHERE d.table_name = partition_name;
END
$$;

GRANT EXECUTE ON FUNCTION lifecycle_create_partitions(DATE), lifecycle_detach_partitions(DATE),
    lifecycle_drop_partitions(DATE), lifecycle_purge(DATE) TO txn_maintainer;
