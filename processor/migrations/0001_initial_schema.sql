-- Permanent storage for validated transactions, rejected records and rule alerts.

CREATE TABLE transactions (
    transaction_id  TEXT PRIMARY KEY,
    customer_id     TEXT NOT NULL,
    merchant_id     TEXT NOT NULL,
    amount          NUMERIC(18, 3) NOT NULL CHECK (amount > 0),
    currency        CHAR(3) NOT NULL,
    occurred_at     TIMESTAMPTZ NOT NULL,
    payment_method  TEXT NOT NULL,
    metadata        JSONB,
    sequence_number TEXT NOT NULL,
    ingested_at     TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX transactions_customer_occurred_idx ON transactions (customer_id, occurred_at);

-- Records that were not JSON or failed validation, kept verbatim so nothing is lost.
CREATE TABLE rejected_transactions (
    id              BIGSERIAL PRIMARY KEY,
    sequence_number TEXT NOT NULL UNIQUE,
    partition_key   TEXT,
    raw_payload     BYTEA NOT NULL,
    reason          TEXT NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- One row per rule hit; unique (rule, transaction_id) makes redelivery idempotent.
CREATE TABLE transaction_alerts (
    id              BIGSERIAL PRIMARY KEY,
    rule            TEXT NOT NULL,
    customer_id     TEXT NOT NULL,
    transaction_id  TEXT NOT NULL,
    observed_value  NUMERIC NOT NULL,
    threshold       NUMERIC NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT transaction_alerts_rule_txn_key UNIQUE (rule, transaction_id)
);

CREATE INDEX transaction_alerts_customer_idx ON transaction_alerts (customer_id, created_at);
