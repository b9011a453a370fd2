"""PostgreSQL: the source of truth for transactions, rejects, conflicts, rule windows and alerts.

A batch is one database transaction of a few statements, whatever its size. Each statement
takes the whole batch as one bound JSON parameter read with ``json_to_recordset``: SQL text
that never varies, no values in the SQL, and serialisation by the C json encoder. Each
statement is prepared once per connection (see :func:`_run`). Every write is idempotent, so a
redelivered batch changes nothing: transactions and rejects are inserted ``ON CONFLICT DO
NOTHING``, and the rule windows count only the transactions that were new.
"""

from __future__ import annotations

import json
import socket
import ssl
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from json.encoder import encode_basestring as _json_string
from typing import Any

import pg8000.exceptions
import pg8000.native

from processor import pan
from processor.config import DbSettings, RuleThresholds
from processor.contract import AUTH_IAM
from processor.kinesis import Accepted, Conflict, Rejected
from processor.models import AlertRow, WindowTotal
from processor.rules import window_starts
from processor.schema import CURRENCY_MINOR_UNITS, Transaction

CONNECT_TIMEOUT_SECONDS = 10
APPLICATION_NAME = "transaction-processor"

# New transactions, and the rule windows they fall in, in one statement. An id is new when it
# can be claimed in transaction_ids (unique across the monthly partitions of transactions);
# `inserted` holds only those rows, so the window counts never see a redelivery twice.
# The window rows are upserted in key order so concurrent batches lock them in one order.
# Only the windows now above their rule's threshold come back (no other can raise an alert;
# decoding all of them cost ~3 ms a batch). The answer is one row of two JSON arrays: decoding
# thousands of rows in pg8000 costs more than the statement itself.
STORE_TRANSACTIONS = """
WITH incoming AS (
    SELECT * FROM json_to_recordset(CAST(:rows AS json))
        AS t(transaction_id text, customer_id text, merchant_id text, amount numeric, currency text,
             occurred_at timestamptz, payment_method text, metadata jsonb, shard_id text,
             sequence_number text, hour_epoch bigint, day_epoch bigint)
), claimed AS (
    INSERT INTO transaction_ids (transaction_id, occurred_at)
    SELECT transaction_id, occurred_at FROM incoming ORDER BY transaction_id
    ON CONFLICT (transaction_id) DO NOTHING
    RETURNING transaction_id
), inserted AS (
    INSERT INTO transactions (transaction_id, customer_id, merchant_id, amount, currency, occurred_at,
                              payment_method, metadata, shard_id, sequence_number)
    SELECT transaction_id, customer_id, merchant_id, amount, currency, occurred_at,
           payment_method, metadata, shard_id, sequence_number
    FROM incoming JOIN claimed USING (transaction_id)
    RETURNING transaction_id
), fresh AS (
    SELECT incoming.* FROM incoming JOIN inserted USING (transaction_id)
), deltas AS (
    SELECT customer_id, 'hour' AS kind, to_timestamp(hour_epoch) AS window_start, '' AS currency,
           count(*) AS txn_count, 0 AS total
    FROM fresh GROUP BY customer_id, hour_epoch
    UNION ALL
    SELECT customer_id, 'day', to_timestamp(day_epoch), currency, count(*), sum(amount)
    FROM fresh GROUP BY customer_id, day_epoch, currency
), windows AS (
    INSERT INTO customer_windows AS w (customer_id, kind, window_start, currency, txn_count, total)
    SELECT customer_id, kind, window_start, currency, txn_count, total
    FROM deltas ORDER BY customer_id, kind, window_start, currency
    ON CONFLICT (customer_id, kind, window_start, currency) DO UPDATE
        SET txn_count = w.txn_count + EXCLUDED.txn_count, total = w.total + EXCLUDED.total
    RETURNING customer_id, kind, window_start, currency, txn_count, total
)
SELECT (SELECT json_agg(json_build_array(customer_id, kind, extract(epoch FROM window_start)::bigint, currency,
                                          txn_count, total::text)) FROM windows
        WHERE (kind = 'hour' AND txn_count > CAST(:max_txns_per_hour AS integer))
           OR (kind = 'day' AND total > CAST(:max_daily_total AS numeric))),
       (SELECT json_agg(transaction_id) FROM inserted)
"""

# The stored version of ids this batch did not insert (redeliveries, duplicates, conflicts).
STORED_VERSIONS = """
SELECT t.transaction_id, t.customer_id, t.merchant_id, t.amount::text, t.currency, t.occurred_at,
       t.payment_method, t.metadata
FROM transaction_ids i JOIN transactions t USING (transaction_id, occurred_at)
WHERE i.transaction_id IN (SELECT value FROM json_array_elements_text(CAST(:ids AS json)))
"""

INSERT_REJECTED = """
INSERT INTO rejected_transactions (stream_arn, shard_id, sequence_number, partition_key, raw_payload, reason)
SELECT stream_arn, shard_id, sequence_number, partition_key, decode(raw_hex, 'hex'), reason
FROM json_to_recordset(CAST(:rows AS json))
     AS r(stream_arn text, shard_id text, sequence_number text, partition_key text, raw_hex text, reason text)
ON CONFLICT (stream_arn, shard_id, sequence_number) DO NOTHING
"""

INSERT_CONFLICTS = """
INSERT INTO transaction_conflicts (transaction_id, stream_arn, shard_id, sequence_number, payload)
SELECT transaction_id, stream_arn, shard_id, sequence_number, payload
FROM json_to_recordset(CAST(:rows AS json))
     AS c(transaction_id text, stream_arn text, shard_id text, sequence_number text, payload jsonb)
ON CONFLICT (stream_arn, shard_id, sequence_number) DO NOTHING
RETURNING transaction_id
"""

# Once per customer, rule and window; a later batch that raises the value updates it in place.
UPSERT_ALERTS = """
INSERT INTO rule_alerts AS a (rule, customer_id, window_key, window_start, window_end, currency,
                              transaction_id, observed_value, threshold)
SELECT rule, customer_id, window_key, window_start, window_end, currency, transaction_id,
       observed_value, threshold
FROM json_to_recordset(CAST(:rows AS json))
     AS r(rule text, customer_id text, window_key text, window_start timestamptz, window_end timestamptz,
          currency text, transaction_id text, observed_value numeric, threshold numeric)
ORDER BY rule, customer_id, window_key
ON CONFLICT (rule, customer_id, window_key) DO UPDATE
    SET observed_value = GREATEST(a.observed_value, EXCLUDED.observed_value), updated_at = now()
RETURNING rule, (xmax = 0) AS created
"""

HISTORY_PAGE = """
SELECT transaction_id, customer_id, merchant_id, amount::text, currency, occurred_at,
       payment_method, metadata
FROM transactions
WHERE occurred_at > CAST(:since AS timestamptz)
  AND (occurred_at, transaction_id) > (CAST(:after_at AS timestamptz), :after_id)
ORDER BY occurred_at, transaction_id
LIMIT :page_size
"""


def _json(rows: Any) -> str:
    # Decimals go as strings so PostgreSQL parses them exactly into numeric.
    return json.dumps(rows, ensure_ascii=False, separators=(",", ":"), default=str)


# Per connection: SQL text -> its server-side prepared statement.
_PREPARED: weakref.WeakKeyDictionary[Any, dict[str, Any]] = weakref.WeakKeyDictionary()


def _run(conn: Any, sql: str, **params: Any) -> Any:
    """Run ``sql`` as a named prepared statement of ``conn``, prepared on first use.

    pg8000's ``run`` sends an unnamed statement: Parse, Describe and Execute in three round trips,
    and the server plans the statement again each time (about 4 ms for STORE_TRANSACTIONS in
    EXPLAIN ANALYZE on the rig). A named statement is one round trip (Bind + Execute), and after
    five runs the server keeps a generic plan. Prepared statements live as long as the session,
    through COMMIT and ROLLBACK alike; a dropped connection takes its statements with it.
    """
    statements = _PREPARED.setdefault(conn, {})
    statement = statements.get(sql)
    if statement is None:
        statement = statements[sql] = conn.prepare(sql)
    return statement.run(**params)


# Fields of a PostgreSQL error that name things, never values (protocol, "Error and Notice Message
# Fields"): the message (M), detail (D), hint (H) and where (W) may quote row values and are never used.
_NAME_FIELDS = (("s", "schema"), ("t", "table"), ("c", "column"), ("d", "data type"), ("n", "constraint"))
# The condition names of the SQLSTATEs a record's content or a store outage usually causes.
_CONDITIONS = {
    "22001": "string_data_right_truncation",
    "22003": "numeric_value_out_of_range",
    "22007": "invalid_datetime_format",
    "22008": "datetime_field_overflow",
    "22021": "character_not_in_repertoire",
    "22P02": "invalid_text_representation",
    "22P05": "untranslatable_character",
    "23502": "not_null_violation",
    "23503": "foreign_key_violation",
    "23505": "unique_violation",
    "23514": "check_violation",
    "28P01": "invalid_password",
    "40001": "serialization_failure",
    "40P01": "deadlock_detected",
    "53300": "too_many_connections",
    "54000": "program_limit_exceeded",
    "57P01": "admin_shutdown",
}


def describe_error(exc: BaseException) -> str:
    """An error for logs and reject reasons, without any value of a row.

    A server error is described by its SQLSTATE, severity and the names of the schema, table, column,
    data type and constraint it concerns: its message and detail can quote the values of the failing
    row (``Failing row contains (...)``, ``invalid input syntax for type numeric: "..."``). Any other
    error (network, TLS, driver) is its class and message, card numbers masked.
    """
    fields = exc.args[0] if isinstance(exc, pg8000.exceptions.DatabaseError) and exc.args else None
    if not isinstance(fields, dict):
        return f"{type(exc).__name__}: {pan.redact(str(exc))}"
    code = str(fields.get("C", "?"))
    parts = [
        f"{fields.get('V') or fields.get('S') or 'ERROR'} SQLSTATE {code}"
        + (f" ({_CONDITIONS[code]})" if code in _CONDITIONS else "")
    ]
    parts += [f"{label} {fields[key]}" for key, label in _NAME_FIELDS if fields.get(key)]
    return f"{type(exc).__name__}: {', '.join(parts)}"


def _decoded(value: Any) -> Any:
    """pg8000 hands json back decoded already; be explicit about text from older servers."""
    return json.loads(value) if isinstance(value, str) else value


def _ssl_context(ca_file: str) -> ssl.SSLContext:
    """verify-full: the server's chain must lead to ``ca_file`` and name the host we dialled."""
    context = ssl.create_default_context(cafile=ca_file)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def _tcp_socket(host: str, port: int) -> socket.socket:
    """A socket with TCP_NODELAY: pg8000 does not set it, and a large Bind message
    then waits out Nagle + delayed ACK (~40 ms per batch on Linux)."""
    sock = socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_SECONDS)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    return sock


def iam_auth_token(settings: DbSettings) -> str:
    """A 15-minute RDS IAM token for ``settings.username``, signed locally with the function's role."""
    import boto3  # provided by the Lambda runtime; only this path needs it

    client = boto3.client("rds", region_name=settings.region)
    token: str = client.generate_db_auth_token(
        DBHostname=settings.host, Port=settings.port, DBUsername=settings.username, Region=settings.region
    )
    return token


def connect(settings: DbSettings) -> pg8000.native.Connection:
    """A TLS connection with the server certificate and host name verified, whatever the auth."""
    context = _ssl_context(settings.ca_file)  # before any socket: a bad CA path fails here
    password = iam_auth_token(settings) if settings.auth == AUTH_IAM else settings.password
    sock = _tcp_socket(settings.host, settings.port)
    try:
        # `host` is what pg8000 checks the certificate against when it wraps `sock`.
        return pg8000.native.Connection(
            user=settings.username,
            password=password,
            host=settings.host,
            port=settings.port,
            sock=sock,
            database=settings.dbname,
            ssl_context=context,
            timeout=CONNECT_TIMEOUT_SECONDS,
            application_name=APPLICATION_NAME,
        )
    except BaseException:
        sock.close()
        raise


def transaction_from_row(row: Sequence[Any]) -> Transaction:
    """Rebuild the canonical :class:`Transaction` from a stored row (its digest matches the original)."""
    transaction_id, customer_id, merchant_id, amount, currency, occurred_at, payment_method, metadata = row
    places = CURRENCY_MINOR_UNITS[currency]
    if isinstance(metadata, str):
        metadata = json.loads(metadata)
    return Transaction(
        transaction_id=transaction_id,
        customer_id=customer_id,
        merchant_id=merchant_id,
        amount=Decimal(amount).quantize(Decimal(1).scaleb(-places)),
        currency=currency,
        occurred_at=occurred_at.astimezone(UTC),
        payment_method=payment_method,
        metadata=metadata,
    )


@dataclass
class StoredBatch:
    """What PostgreSQL now holds for a batch: the version of every id, and what was new."""

    versions: dict[str, Transaction] = field(default_factory=dict)
    new_transactions: list[Transaction] = field(default_factory=list)
    windows: list[WindowTotal] = field(default_factory=list)  # changed and now above their threshold
    conflicts: int = 0


def _transaction_rows(items: Sequence[Accepted]) -> str:
    """The rows for ``json_to_recordset``: each transaction's canonical JSON, whose keys are the
    column names, with where it came from and its window starts appended. The canonical text is
    made once per transaction and also goes to Redis, so nothing is encoded twice."""
    rows = []
    for item in items:
        txn = item.transaction
        hour, day = window_starts(txn.epoch_seconds)
        rows.append(
            f'{txn.to_json()[:-1]},"shard_id":{_json_string(item.ref.shard_id)},'
            f'"sequence_number":{_json_string(item.ref.sequence_number)},'
            f'"hour_epoch":{hour},"day_epoch":{day}}}'
        )
    return f"[{','.join(rows)}]"


def store_transactions(
    conn: pg8000.native.Connection,
    accepted: Sequence[Accepted],
    rejected: Sequence[Rejected],
    thresholds: RuleThresholds,
) -> StoredBatch:
    """Inside an open DB transaction: insert, classify duplicates, record conflicts and rejects.
    ``thresholds`` select the windows worth returning: those a rule may alert on.

    A new id is inserted from its first occurrence in ``accepted``. Then every occurrence is compared
    with the version PostgreSQL holds (stored before, or just inserted): one with other content is a
    conflict, one with the same content a harmless duplicate, whatever the rest of the batch holds."""
    result = StoredBatch()
    first: dict[str, Accepted] = {}
    for item in accepted:
        first.setdefault(item.transaction.transaction_id, item)
    firsts = list(first.values())
    inserted: set[str] = set()
    if firsts:
        [[windows, new_ids]] = _run(
            conn,
            STORE_TRANSACTIONS,
            rows=_transaction_rows(firsts),
            max_txns_per_hour=thresholds.max_txns_per_hour,
            max_daily_total=str(thresholds.max_daily_total),
        )
        inserted = set(_decoded(new_ids) or ())
        result.windows = [
            WindowTotal(customer, kind, datetime.fromtimestamp(start, UTC), currency, count, Decimal(total))
            for customer, kind, start, currency, count, total in _decoded(windows) or ()
        ]
    existing = [item.transaction.transaction_id for item in firsts if item.transaction.transaction_id not in inserted]
    if existing:
        result.versions.update(
            (row[0], transaction_from_row(row)) for row in _run(conn, STORED_VERSIONS, ids=_json(existing))
        )
    for item in firsts:
        txn = item.transaction
        if txn.transaction_id in inserted:
            result.versions[txn.transaction_id] = txn
            result.new_transactions.append(txn)
    conflicts = []
    for item in accepted:
        kept = result.versions[item.transaction.transaction_id]
        if kept is not item.transaction and kept.content_sha256 != item.transaction.content_sha256:
            conflicts.append(Conflict(item.ref, item.transaction))
    if conflicts:
        result.conflicts = len(
            _run(
                conn,
                INSERT_CONFLICTS,
                rows=_json(
                    [
                        {
                            "transaction_id": c.transaction.transaction_id,
                            "stream_arn": c.ref.stream_arn,
                            "shard_id": c.ref.shard_id,
                            "sequence_number": c.ref.sequence_number,
                            "payload": json.loads(c.transaction.to_json()),
                        }
                        for c in conflicts
                    ]
                ),
            )
            or []
        )
    if rejected:
        _run(
            conn,
            INSERT_REJECTED,
            rows=_json(
                [
                    {
                        "stream_arn": r.ref.stream_arn,
                        "shard_id": r.ref.shard_id,
                        "sequence_number": r.ref.sequence_number,
                        "partition_key": None if r.partition_key is None else r.partition_key.replace("\x00", ""),
                        "raw_hex": r.raw_payload.hex(),
                        "reason": r.reason,
                    }
                    for r in rejected
                ]
            ),
        )
    return result


def upsert_alerts(conn: pg8000.native.Connection, alerts: Sequence[AlertRow]) -> list[str]:
    """Store rule hits; return the rules of the alerts that are new (not raised before)."""
    if not alerts:
        return []
    rows = _run(
        conn,
        UPSERT_ALERTS,
        rows=_json(
            [
                {
                    "rule": a.rule,
                    "customer_id": a.customer_id,
                    "window_key": a.window_key,
                    "window_start": a.window_start.isoformat(),
                    "window_end": a.window_end.isoformat(),
                    "currency": a.currency,
                    "transaction_id": a.transaction_id,
                    "observed_value": str(a.observed_value),
                    "threshold": str(a.threshold),
                }
                for a in alerts
            ]
        ),
    )
    return [rule for rule, created in rows or [] if created]


def history_page(
    conn: pg8000.native.Connection, since: datetime, after: tuple[str, str], page_size: int
) -> list[Transaction]:
    """Transactions that occurred after ``since``, in (occurred_at, id) order after the ``after`` key."""
    # Planned for each page's own bounds, not prepared: rebuilds are rare, and a generic plan
    # would know neither the LIMIT nor how much of the table the range selects.
    rows = conn.run(HISTORY_PAGE, since=since.isoformat(), after_at=after[0], after_id=after[1], page_size=page_size)
    return [transaction_from_row(row) for row in rows]


def rollback_quietly(conn: Any | None) -> None:
    if conn is None:
        return
    try:
        conn.run("ROLLBACK")
    except Exception:  # connection already broken; the caller drops it
        pass
