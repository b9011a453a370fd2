-- Transactions partitioned by month of occurred_at, so a retention period is a partition detach
-- rather than a mass DELETE. transaction_ids keeps ids unique across partitions (a partitioned
-- table's primary key must include the partition key).

CREATE TABLE transaction_ids (
    transaction_id TEXT PRIMARY KEY,
    occurred_at    TIMESTAMPTZ NOT NULL
);
INSERT INTO transaction_ids (transaction_id, occurred_at) SELECT transaction_id, occurred_at FROM transactions;

ALTER TABLE transaction_conflicts DROP CONSTRAINT transaction_conflicts_transaction_id_fkey;
ALTER TABLE transaction_conflicts
    ADD CONSTRAINT transaction_conflicts_transaction_id_fkey
    FOREIGN KEY (transaction_id) REFERENCES transaction_ids (transaction_id);

ALTER TABLE transactions RENAME TO transactions_unpartitioned;
ALTER INDEX transactions_pkey RENAME TO transactions_unpartitioned_pkey;
ALTER INDEX transactions_customer_occurred_idx RENAME TO transactions_unpartitioned_customer_occurred_idx;
ALTER INDEX transactions_occurred_idx RENAME TO transactions_unpartitioned_occurred_idx;

CREATE TABLE transactions (
    transaction_id  TEXT NOT NULL,
    customer_id     TEXT NOT NULL,
    merchant_id     TEXT NOT NULL,
    amount          NUMERIC(18, 3) NOT NULL CHECK (amount > 0),
    currency        CHAR(3) NOT NULL,
    occurred_at     TIMESTAMPTZ NOT NULL,
    payment_method  TEXT NOT NULL,
    metadata        JSONB,
    sequence_number TEXT NOT NULL,
    ingested_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    shard_id        TEXT,
    PRIMARY KEY (transaction_id, occurred_at)
) PARTITION BY RANGE (occurred_at);
CREATE INDEX transactions_customer_occurred_idx ON transactions (customer_id, occurred_at);
CREATE INDEX transactions_occurred_idx ON transactions (occurred_at, transaction_id);

-- Monthly partitions (UTC months) from `first_month` through `last_month`; existing ones are kept.
-- Run by the migration function's daily maintenance, months ahead of need.
CREATE FUNCTION ensure_transaction_partitions(first_month DATE, last_month DATE) RETURNS SETOF TEXT
LANGUAGE plpgsql AS $$
DECLARE
    month DATE := date_trunc('month', first_month)::date;
    name  TEXT;
BEGIN
    WHILE month <= last_month LOOP
        name := format('transactions_y%sm%s', to_char(month, 'YYYY'), to_char(month, 'MM'));
        IF to_regclass(name) IS NULL THEN
            EXECUTE format('CREATE TABLE %I PARTITION OF transactions FOR VALUES FROM (%L) TO (%L)', name,
                           (month::timestamp AT TIME ZONE 'UTC'),
                           ((month + interval '1 month')::timestamp AT TIME ZONE 'UTC'));
            RETURN NEXT name;
        END IF;
        month := (month + interval '1 month')::date;
    END LOOP;
END
$$;

-- Room for what is stored already, and for late and early arrivals around today.
SELECT count(*) FROM ensure_transaction_partitions(
    LEAST((SELECT min(occurred_at) FROM transactions_unpartitioned), now() - interval '12 months')::date,
    (now() + interval '3 months')::date);

INSERT INTO transactions SELECT transaction_id, customer_id, merchant_id, amount, currency, occurred_at,
                                payment_method, metadata, sequence_number, ingested_at, shard_id
FROM transactions_unpartitioned;
DROP TABLE transactions_unpartitioned;

GRANT SELECT, INSERT ON transactions, transaction_ids TO txn_writer;
