-- The processor as a least-privileged role, rule windows that do not depend on arrival order,
-- duplicate ids with other content kept as conflicts, and rejects keyed by where they came from.

-- Which shard a transaction arrived on (unknown for rows stored before this migration).
ALTER TABLE transactions ADD COLUMN shard_id TEXT;
-- Rebuilding the Redis history reads the last day in event-time order.
CREATE INDEX transactions_occurred_idx ON transactions (occurred_at, transaction_id);

-- A sequence number is unique only within its shard; the stream and shard make the key.
ALTER TABLE rejected_transactions
    ADD COLUMN stream_arn TEXT NOT NULL DEFAULT '',
    ADD COLUMN shard_id TEXT NOT NULL DEFAULT '';
ALTER TABLE rejected_transactions DROP CONSTRAINT rejected_transactions_sequence_number_key;
ALTER TABLE rejected_transactions
    ADD CONSTRAINT rejected_transactions_source_key UNIQUE (stream_arn, shard_id, sequence_number);

-- A record whose transaction_id was already stored with other content. The stored version stays
-- the truth; this keeps what else arrived, visible and alarmed (metric TransactionConflicts).
CREATE TABLE transaction_conflicts (
    id              BIGSERIAL PRIMARY KEY,
    transaction_id  TEXT NOT NULL REFERENCES transactions (transaction_id),
    stream_arn      TEXT NOT NULL,
    shard_id        TEXT NOT NULL,
    sequence_number TEXT NOT NULL,
    payload         JSONB NOT NULL,
    received_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT transaction_conflicts_source_key UNIQUE (stream_arn, shard_id, sequence_number)
);
CREATE INDEX transaction_conflicts_txn_idx ON transaction_conflicts (transaction_id);

-- Running count (UTC clock hour, all currencies) and total (Tokyo calendar day, per currency)
-- of each customer's transactions: the rules read these, so the order of arrival cannot matter.
CREATE TABLE customer_windows (
    customer_id  TEXT NOT NULL,
    kind         TEXT NOT NULL CHECK (kind IN ('hour', 'day')),
    window_start TIMESTAMPTZ NOT NULL,
    currency     TEXT NOT NULL,
    txn_count    INTEGER NOT NULL,
    total        NUMERIC(24, 3) NOT NULL,
    PRIMARY KEY (customer_id, kind, window_start, currency)
);

INSERT INTO customer_windows (customer_id, kind, window_start, currency, txn_count, total)
SELECT customer_id, 'hour', date_trunc('hour', occurred_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', '',
       count(*), 0
FROM transactions GROUP BY 1, 3
UNION ALL
SELECT customer_id, 'day', date_trunc('day', occurred_at AT TIME ZONE 'Asia/Tokyo') AT TIME ZONE 'Asia/Tokyo',
       currency, count(*), sum(amount)
FROM transactions GROUP BY 1, 3, 4;

-- One alert per customer, rule and window; observed_value rises as late transactions arrive.
-- window_key: '2026-11-27T05:00Z' (hour), '2026-11-27/JPY' (Tokyo day), or the transaction id.
CREATE TABLE rule_alerts (
    id              BIGSERIAL PRIMARY KEY,
    rule            TEXT NOT NULL,
    customer_id     TEXT NOT NULL,
    window_key      TEXT NOT NULL,
    window_start    TIMESTAMPTZ NOT NULL,
    window_end      TIMESTAMPTZ NOT NULL,
    currency        TEXT NOT NULL,
    transaction_id  TEXT,
    observed_value  NUMERIC NOT NULL,
    threshold       NUMERIC NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT rule_alerts_window_key UNIQUE (rule, customer_id, window_key)
);
CREATE INDEX rule_alerts_customer_idx ON rule_alerts (customer_id, window_start);

-- Alerts of the per-arrival rules of 0001 cannot be compared with windowed ones; kept, not written.
ALTER TABLE transaction_alerts RENAME TO transaction_alerts_0001;

-- The processor's role: exactly the statements in processor/pg_store.py, nothing else.
-- On RDS it logs in with IAM tokens (rds_iam); elsewhere (the test rig) it is given a password.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'txn_writer') THEN
        CREATE ROLE txn_writer LOGIN;
    END IF;
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'rds_iam') THEN
        GRANT rds_iam TO txn_writer;
    END IF;
END
$$;
GRANT USAGE ON SCHEMA public TO txn_writer;
GRANT SELECT, INSERT ON transactions TO txn_writer;
-- ON CONFLICT needs to read the conflict target's columns, and nothing else of the rejects.
GRANT INSERT, SELECT (stream_arn, shard_id, sequence_number) ON rejected_transactions TO txn_writer;
GRANT SELECT, INSERT ON transaction_conflicts TO txn_writer;
GRANT SELECT, INSERT, UPDATE ON customer_windows TO txn_writer;
GRANT SELECT, INSERT, UPDATE (observed_value, updated_at) ON rule_alerts TO txn_writer;
GRANT USAGE ON SEQUENCE rejected_transactions_id_seq, transaction_conflicts_id_seq, rule_alerts_id_seq
    TO txn_writer;
