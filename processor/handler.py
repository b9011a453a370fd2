"""Lambda entry point: ``processor.handler.handle``.

Per batch: parse and validate every record on its own (a bad record is rejected with a
reason, never fails the batch); then one PostgreSQL transaction stores the new transactions,
rejects and conflicts, updates the rule windows and the alerts, and commits; then the
committed versions go to the Redis history. PostgreSQL is the source of truth, so Redis is
written only after the commit. When a store fails, the batch's records are returned in
``batchItemFailures`` and Kinesis redelivers them; every write is idempotent, so that is safe.
Any other error drops both connections before re-raising, so a connection left in an unknown
state is never used again.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping
from typing import Any

import pg8000.exceptions
import redis

from processor import aws_secrets, history, metrics, pan, pg_store, redis_store, rules
from processor.config import Settings, settings_from_env
from processor.kinesis import Accepted, ForeignEventError, ParsedBatch, Rejected, parse_event, refuse_foreign_records

logger = logging.getLogger("processor")
logger.setLevel(logging.INFO)

REDIS_ERRORS = (redis.exceptions.RedisError, OSError)
PG_ERRORS = (pg8000.exceptions.Error, OSError)
_INVALID_PASSWORD = "28P01"
# SQLSTATE classes a record's content causes (data exception, integrity, program limit):
# retrying cannot help, and with unlimited retries it would hold the shard for hours.
_RECORD_ERROR_CLASSES = ("22", "23", "54")
# At most this long per invocation goes to rebuilding a lost Redis history.
REBUILD_BUDGET_SECONDS = 20.0


def _describe(exc: BaseException) -> str:
    """An error for the log: PostgreSQL's without any row value (``pg_store.describe_error``), any other as
    its class and message (driver messages carry host and port, never credentials), card numbers masked."""
    if isinstance(exc, pg8000.exceptions.Error):
        return pg_store.describe_error(exc)
    return f"{type(exc).__name__}: {pan.redact(str(exc))}"


def _sqlstate(exc: BaseException) -> str:
    if isinstance(exc, pg8000.exceptions.DatabaseError) and exc.args and isinstance(exc.args[0], dict):
        return str(exc.args[0].get("C", ""))
    return ""


def _refused(item: Accepted, exc: BaseException) -> Rejected:
    return Rejected(
        item.ref,
        None,
        item.transaction.to_json().encode("utf-8"),
        f"the database refused the record ({pg_store.describe_error(exc)})",
    )


def _failures(sequence_numbers: list[str]) -> dict[str, list[dict[str, str]]]:
    ordered = list(dict.fromkeys(sequence_numbers))
    return {"batchItemFailures": [{"itemIdentifier": seq} for seq in ordered]}


class BatchProcessor:
    """Holds the container's connections; ``process`` handles one Kinesis event."""

    def __init__(
        self, settings: Settings, clock: Callable[[], float] = time.time, emit: Callable[[str], None] = print
    ) -> None:
        self.settings = settings
        self._clock = clock
        self._emit = emit
        self._redis: redis.Redis | None = None
        self._redis_since = 0.0
        self._pg: Any | None = None
        # Set when a server rejects our credentials: the caller re-reads the secrets.
        self.credentials_rejected = False

    # -- connections -------------------------------------------------------
    def _redis_client(self) -> redis.Redis:
        """The container's Redis client; replaced (new connections, new IAM tokens) once it is
        ``MAX_CONNECTION_SECONDS`` old, before ElastiCache closes IAM connections at 12 hours. Every
        connection the client has was made after it, so none is older."""
        if self._redis is not None and self._clock() - self._redis_since >= redis_store.MAX_CONNECTION_SECONDS:
            logger.info(
                "redis connections are %d s old: reconnecting before ElastiCache's 12-hour limit",
                int(self._clock() - self._redis_since),
            )
            self._drop_redis()
        if self._redis is None:
            self._redis = redis_store.connect(self.settings.redis)
            self._redis_since = self._clock()
        return self._redis

    def _pg_conn(self) -> Any:
        if self._pg is None:
            self._pg = pg_store.connect(self.settings.db)
        return self._pg

    def _drop_redis(self) -> None:
        if self._redis is not None:
            try:
                self._redis.close()  # type: ignore[no-untyped-call]  # redis-py leaves Redis.close unannotated
            except Exception:  # already broken; nothing else to release
                pass
        self._redis = None

    def _drop_pg(self) -> None:
        if self._pg is not None:
            try:
                self._pg.close()
            except Exception:  # socket is gone; closing is best effort
                pass
        self._pg = None

    def close(self) -> None:
        """Release both connections (the next batch reconnects)."""
        self._drop_redis()
        self._drop_pg()

    # -- stages --------------------------------------------------------------
    def _store(self, batch: ParsedBatch) -> tuple[pg_store.StoredBatch, list[str]]:
        """One DB transaction: rows, conflicts, rejects, windows, alerts. Returns new alerts' rules."""
        conn = self._pg_conn()
        conn.run("BEGIN")
        try:
            stored = pg_store.store_transactions(conn, batch.accepted, batch.rejected, self.settings.thresholds)
            alerts = rules.evaluate(stored.windows, stored.new_transactions, self.settings.thresholds)
            new_alert_rules = pg_store.upsert_alerts(conn, alerts)
            conn.run("COMMIT")
        except BaseException:
            pg_store.rollback_quietly(conn)
            raise
        return stored, new_alert_rules

    def _store_isolating(self, batch: ParsedBatch) -> tuple[pg_store.StoredBatch, list[str]]:
        """Store the batch; if a record's content makes PostgreSQL refuse it, store the rest in
        halves and reject that record with the database's reason instead of retrying for hours."""
        try:
            return self._store(batch)
        except pg8000.exceptions.DatabaseError as exc:
            if _sqlstate(exc)[:2] not in _RECORD_ERROR_CLASSES:
                raise
            if len(batch.accepted) <= 1:
                if not batch.accepted:
                    raise  # the rejects alone failed: nothing to isolate
                logger.error("postgres refused record %s: %s", batch.accepted[0].sequence_number, _describe(exc))
                return self._store(ParsedBatch(rejected=[*batch.rejected, _refused(batch.accepted[0], exc)]))
        middle = len(batch.accepted) // 2
        first = self._store_isolating(ParsedBatch(batch.accepted[:middle], batch.rejected))
        second = self._store_isolating(ParsedBatch(batch.accepted[middle:], []))
        merged = first[0]
        merged.versions.update(second[0].versions)
        merged.new_transactions += second[0].new_transactions
        merged.windows += second[0].windows
        merged.conflicts += second[0].conflicts
        return merged, first[1] + second[1]

    def _pg_failed(self, exc: BaseException, records: int) -> None:
        if (
            isinstance(exc, pg8000.exceptions.DatabaseError)
            and exc.args
            and isinstance(exc.args[0], dict)
            and exc.args[0].get("C") == _INVALID_PASSWORD
        ):
            self.credentials_rejected = True
        logger.error("postgres write failed, %d records will be retried: %s", records, _describe(exc))
        self._drop_pg()

    def _write_history(self, stored: pg_store.StoredBatch, budget_seconds: float) -> None:
        client = self._redis_client()
        state = redis_store.write_history(
            client, list(stored.versions.values()), self.settings.history_ttl_seconds, self._clock()
        )
        if not state.complete:  # whichever server answered this batch lacks part of the day
            self._rebuild(client, state.run_id, budget_seconds)

    def _rebuild(self, client: redis.Redis, run_id: str, budget_seconds: float) -> None:
        """The batch is already stored everywhere; a failing rebuild step is retried next batch."""
        try:
            history.rebuild_step(
                client,
                self._pg_conn(),
                run_id=run_id,
                ttl_seconds=self.settings.history_ttl_seconds,
                budget_seconds=budget_seconds,
                clock=self._clock,
            )
        except PG_ERRORS as exc:
            logger.error("redis history rebuild paused, postgres failed: %s", _describe(exc))
            self._drop_pg()
        except REDIS_ERRORS as exc:
            logger.error("redis history rebuild paused, redis failed: %s", _describe(exc))
            self._drop_redis()

    # -- batch path ----------------------------------------------------------
    def process(
        self, event: Mapping[str, Any], rebuild_budget_seconds: float = REBUILD_BUDGET_SECONDS
    ) -> dict[str, list[dict[str, str]]]:
        try:
            refuse_foreign_records(event, self.settings.stream_arn)
        except ForeignEventError as exc:
            # Fails the invocation (the Errors alarm counts it); nothing of the event is parsed or stored.
            logger.error("%s", exc)
            raise
        batch = parse_event(event)
        for item in batch.rejected:
            logger.warning("rejected record %s/%s: %s", item.ref.shard_id, item.sequence_number, item.reason)
        if not batch.accepted and not batch.rejected:
            return _failures([])
        try:
            stored, new_alert_rules = self._store_isolating(batch)
        except PG_ERRORS as exc:
            # Nothing from this batch is stored: retry all of it, rejects included.
            self._pg_failed(exc, len(batch.sequence_numbers))
            return _failures(batch.sequence_numbers)
        except BaseException:
            self.close()
            raise
        if stored.conflicts:
            logger.warning(
                "%d records reuse a stored transaction id with other content; kept in transaction_conflicts",
                stored.conflicts,
            )
        try:
            self._write_history(stored, rebuild_budget_seconds)
        except REDIS_ERRORS as exc:
            if isinstance(exc, redis.exceptions.AuthenticationError):
                self.credentials_rejected = True
            logger.error("redis write failed, %d records will be retried: %s", len(batch.accepted), _describe(exc))
            self._drop_redis()
            return _failures([item.sequence_number for item in batch.accepted])
        except BaseException:
            self.close()
            raise
        metrics.emit_batch(
            self.settings.metric_namespace,
            self.settings.environment,
            new_alert_rules,
            stored.conflicts,
            int(self._clock() * 1000),
            self._emit,
        )
        return _failures([])


def make_handler(settings: Settings, **kwargs: Any) -> Callable[[Mapping[str, Any], Any], dict[str, Any]]:
    """A Lambda-style handler bound to explicit settings (benchmarks, local runs)."""
    processor = BatchProcessor(settings, **kwargs)

    def handler(event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
        return processor.process(event, _rebuild_budget(context))

    handler.processor = processor  # type: ignore[attr-defined]
    return handler


def _rebuild_budget(context: Any) -> float:
    """Leave the rest of the invocation for the batch itself (and 10 s to spare)."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if remaining is None:
        return REBUILD_BUDGET_SECONDS
    left_ms: float = remaining()  # the Lambda context's callable (untyped)
    return max(0.0, min(REBUILD_BUDGET_SECONDS, left_ms / 1000 - 10))


_container_processor: BatchProcessor | None = None


def handle(event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
    """Lambda handler: settings and secrets are loaded once per container."""
    global _container_processor
    if _container_processor is None:
        _container_processor = BatchProcessor(settings_from_env(os.environ, aws_secrets.fetch_secret_string))
    result = _container_processor.process(event, _rebuild_budget(context))
    if _container_processor.credentials_rejected:
        # A revoked login (or on the rig, a changed password): start the container afresh next time.
        logger.warning("credentials rejected; secrets will be re-read on the next invocation")
        _container_processor.close()
        _container_processor = None
        aws_secrets.clear_cache()
    return result
