"""PostgreSQL writer: one statement per table per batch, one commit per batch.

Each table gets a single multi-row ``INSERT ... SELECT FROM json_to_recordset(:rows)
... ON CONFLICT DO NOTHING``. The whole batch is one bound JSON parameter: no
values in the SQL text, SQL that does not vary with batch size (pg8000 reuses the
prepared statement), and serialisation by the C json encoder, which is several
times faster than binding thousands of individual parameters or arrays.
``ON CONFLICT DO NOTHING`` makes Kinesis redelivery idempotent.
"""

from __future__ import annotations

import json
import socket
import ssl
from typing import Any, Dict, List, Sequence, Tuple

import pg8000.native

from processor.config import DbSettings
from processor.kinesis import Rejected
from processor.models import AlertRow
from processor.schema import Transaction

CONNECT_TIMEOUT_SECONDS = 10

INSERT_TRANSACTIONS = """
INSERT INTO transactions (transaction_id, customer_id, merchant_id, amount, currency,
                          occurred_at, payment_method, metadata, sequence_number)
SELECT transaction_id, customer_id, merchant_id, amount, currency,
       occurred_at, payment_method, metadata, sequence_number
FROM json_to_recordset(CAST(:rows AS json))
     AS t(transaction_id text, customer_id text, merchant_id text, amount numeric,
          currency text, occurred_at timestamptz, payment_method text, metadata jsonb,
          sequence_number text)
ON CONFLICT (transaction_id) DO NOTHING
"""

INSERT_REJECTED = """
INSERT INTO rejected_transactions (sequence_number, partition_key, raw_payload, reason)
SELECT sequence_number, partition_key, decode(raw_hex, 'hex'), reason
FROM json_to_recordset(CAST(:rows AS json))
     AS r(sequence_number text, partition_key text, raw_hex text, reason text)
ON CONFLICT (sequence_number) DO NOTHING
"""

INSERT_ALERTS = """
INSERT INTO transaction_alerts (rule, customer_id, transaction_id, observed_value, threshold)
SELECT rule, customer_id, transaction_id, observed_value, threshold
FROM json_to_recordset(CAST(:rows AS json))
     AS a(rule text, customer_id text, transaction_id text, observed_value numeric,
          threshold numeric)
ON CONFLICT (rule, transaction_id) DO NOTHING
RETURNING rule
"""


def _rows_param(rows: List[Dict[str, Any]]) -> str:
    # Decimals go as strings so PostgreSQL parses them exactly into numeric.
    return json.dumps(rows, ensure_ascii=False, separators=(",", ":"), default=str)


def _tcp_socket(host: str, port: int) -> socket.socket:
    """A socket with TCP_NODELAY: pg8000 does not set it, and a large Bind message
    then waits out Nagle + delayed ACK (~40 ms per batch on Linux)."""
    sock = socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_SECONDS)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    return sock


def connect(settings: DbSettings) -> pg8000.native.Connection:
    """Open a connection; TLS when ``settings.ssl`` (RDS), plain TCP for local tests."""
    ssl_context = None
    if settings.ssl:
        # Encrypt in transit. The RDS CA is not in the Lambda trust store, so the
        # server certificate is not verified here (see report: bundle the RDS CA).
        ssl_context = ssl.create_default_context()
        ssl_context.check_hostname = False
        ssl_context.verify_mode = ssl.CERT_NONE
    sock = _tcp_socket(settings.host, settings.port)
    try:
        return pg8000.native.Connection(
            user=settings.username, password=settings.password, sock=sock,
            database=settings.dbname, ssl_context=ssl_context,
            timeout=CONNECT_TIMEOUT_SECONDS, application_name="transaction-processor",
        )
    except BaseException:
        sock.close()
        raise


def _insert_transactions(conn, rows: Sequence[Tuple[str, Transaction]]) -> None:
    if not rows:
        return
    conn.run(INSERT_TRANSACTIONS, rows=_rows_param([
        {"transaction_id": t.transaction_id, "customer_id": t.customer_id,
         "merchant_id": t.merchant_id, "amount": str(t.amount), "currency": t.currency,
         "occurred_at": t.occurred_at.isoformat(), "payment_method": t.payment_method,
         "metadata": t.metadata, "sequence_number": seq}
        for seq, t in rows
    ]))


def _insert_rejected(conn, rejected: Sequence[Rejected]) -> None:
    if not rejected:
        return
    conn.run(INSERT_REJECTED, rows=_rows_param([
        {"sequence_number": r.sequence_number,
         "partition_key": None if r.partition_key is None else r.partition_key.replace("\x00", ""),
         "raw_hex": r.raw_payload.hex(), "reason": r.reason}
        for r in rejected
    ]))


def _insert_alerts(conn, alerts: Sequence[AlertRow]) -> List[str]:
    """Returns the rules of the alerts that were new (not already stored)."""
    if not alerts:
        return []
    inserted = conn.run(INSERT_ALERTS, rows=_rows_param([
        {"rule": a.rule, "customer_id": a.customer_id, "transaction_id": a.transaction_id,
         "observed_value": str(a.observed_value), "threshold": str(a.threshold)}
        for a in alerts
    ]))
    return [row[0] for row in inserted or []]


def begin_batch(conn, transactions: Sequence[Tuple[str, Transaction]],
                rejected: Sequence[Rejected]) -> None:
    """Open the batch's DB transaction and insert its transactions and rejects."""
    conn.run("BEGIN")
    try:
        _insert_transactions(conn, transactions)
        _insert_rejected(conn, rejected)
    except BaseException:
        rollback_quietly(conn)
        raise


def finish_batch(conn, alerts: Sequence[AlertRow]) -> List[str]:
    """Insert the alerts and commit; return the rules of alerts that were new."""
    try:
        new_rules = _insert_alerts(conn, alerts)
        conn.run("COMMIT")
        return new_rules
    except BaseException:
        rollback_quietly(conn)
        raise


def rollback_quietly(conn) -> None:
    try:
        conn.run("ROLLBACK")
    except Exception:  # connection already broken; the caller drops it
        pass


def write_batch(conn, transactions: Sequence[Tuple[str, Transaction]],
                rejected: Sequence[Rejected], alerts: Sequence[AlertRow]) -> List[str]:
    """Store a batch atomically; return the rules of alerts that were new (not redelivered)."""
    begin_batch(conn, transactions, rejected)
    return finish_batch(conn, alerts)
