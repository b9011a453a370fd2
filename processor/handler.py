"""Lambda entry point: ``processor.handler.handle``.

Per batch: parse and validate; then, concurrently, (a) open a PostgreSQL
transaction and insert the transactions and rejects, and (b) write the
transactions to Redis in one round trip and read back the customers' windows;
then evaluate the rules, insert the alerts and commit. Overlapping (a) and (b)
hides one server's latency behind the other's. Records whose storage failed
are returned in ``batchItemFailures`` so Kinesis redelivers them; every write
is idempotent, so redelivery is safe. Connections and secrets live for the
container; a broken connection is dropped and reopened on the next call.
"""

from __future__ import annotations

import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Dict, List, Mapping, Optional

import pg8000.exceptions
import redis

from processor import aws_secrets, metrics, pg_store, redis_store, rules
from processor.config import Settings, settings_from_env
from processor.kinesis import ParsedBatch, parse_event
from processor.migrate import apply_migrations
from processor.models import AlertRow

logger = logging.getLogger("processor")
logger.setLevel(logging.INFO)

REDIS_ERRORS = (redis.exceptions.RedisError, OSError)
PG_ERRORS = (pg8000.exceptions.Error, OSError)
_INVALID_PASSWORD = "28P01"


def _describe(exc: BaseException) -> str:
    """Error class and message; driver messages carry host/port, never credentials."""
    return f"{type(exc).__name__}: {exc}"


def _failures(sequence_numbers: List[str]) -> Dict[str, List[Dict[str, str]]]:
    ordered = list(dict.fromkeys(sequence_numbers))
    return {"batchItemFailures": [{"itemIdentifier": seq} for seq in ordered]}


class BatchProcessor:
    """Holds the container's connections; ``process`` handles one Kinesis event."""

    def __init__(self, settings: Settings, clock: Callable[[], float] = time.time,
                 emit: Callable[[str], None] = print) -> None:
        self.settings = settings
        self._clock = clock
        self._emit = emit
        self._redis: Optional[redis.Redis] = None
        self._pg: Optional[Any] = None
        self._migrated = False
        # One worker: the PostgreSQL stage runs on it while Redis runs here.
        self._pg_worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pg")
        # Set when a server rejects our credentials: the caller re-reads the secrets.
        self.credentials_rejected = False

    # -- connections -------------------------------------------------------
    def _redis_client(self) -> redis.Redis:
        if self._redis is None:
            self._redis = redis_store.connect(self.settings.redis)
        return self._redis

    def _pg_conn(self) -> Any:
        if self._pg is None:
            conn = pg_store.connect(self.settings.db)
            try:
                if not self._migrated:
                    applied = apply_migrations(conn)
                    if applied:
                        logger.info("applied migrations %s", ", ".join(applied))
                    self._migrated = True
            except BaseException:
                conn.close()
                raise
            self._pg = conn
        return self._pg

    def _drop_redis(self) -> None:
        if self._redis is not None:
            try:
                self._redis.close()
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
        """Release connections and the worker thread; the processor is unusable afterwards."""
        self._drop_redis()
        self._drop_pg()
        self._pg_worker.shutdown(wait=True)

    # -- batch path --------------------------------------------------------
    def _redis_stage(self, batch: ParsedBatch) -> Optional[List[AlertRow]]:
        """Write to Redis and evaluate rules; ``None`` means Redis failed."""
        txns = batch.unique_transactions
        if not txns:
            return []
        try:
            client = self._redis_client()
            windows = redis_store.write_batch(client, txns, self.settings.history_ttl_seconds,
                                              self._clock())
        except REDIS_ERRORS as exc:
            if isinstance(exc, redis.exceptions.AuthenticationError):
                self.credentials_rejected = True
            logger.error("redis write failed, %d records will be retried: %s",
                         len(batch.accepted), _describe(exc))
            self._drop_redis()
            return None
        return rules.evaluate(txns, windows, self.settings.thresholds)

    def _pg_failed(self, exc: BaseException, records: int) -> None:
        if isinstance(exc, pg8000.exceptions.DatabaseError) and exc.args \
                and isinstance(exc.args[0], dict) and exc.args[0].get("C") == _INVALID_PASSWORD:
            self.credentials_rejected = True
        logger.error("postgres write failed, %d records will be retried: %s", records, _describe(exc))
        self._drop_pg()

    def _pg_begin(self, batch: ParsedBatch) -> bool:
        """Insert transactions and rejects in an open DB transaction; False if PostgreSQL failed."""
        rows = [(item.sequence_number, item.transaction) for item in batch.unique_accepted]
        try:
            pg_store.begin_batch(self._pg_conn(), rows, batch.rejected)
            return True
        except PG_ERRORS as exc:
            self._pg_failed(exc, len(batch.accepted) + len(batch.rejected))
            return False

    def _pg_finish(self, batch: ParsedBatch, alerts: List[AlertRow]) -> Optional[List[str]]:
        """Insert alerts and commit; the new alerts' rules, or None if PostgreSQL failed."""
        try:
            return pg_store.finish_batch(self._pg, alerts)
        except PG_ERRORS as exc:
            self._pg_failed(exc, len(batch.accepted) + len(batch.rejected))
            return None

    def process(self, event: Mapping[str, Any]) -> Dict[str, List[Dict[str, str]]]:
        batch = parse_event(event)
        for item in batch.rejected:
            logger.warning("rejected record %s: %s", item.sequence_number, item.reason)
        if not batch.accepted and not batch.rejected:
            return _failures([])
        pg_begun = self._pg_worker.submit(self._pg_begin, batch)
        try:
            alerts = self._redis_stage(batch)
        except BaseException:
            # An unexpected error: wait for the worker, then leave no open DB transaction.
            if pg_begun.result() and self._pg is not None:
                pg_store.rollback_quietly(self._pg)
            raise
        begun = pg_begun.result()
        new_alert_rules = self._pg_finish(batch, alerts or []) if begun else None
        accepted_seqs = [item.sequence_number for item in batch.accepted]
        if new_alert_rules is None:
            # Nothing from this batch is durably stored: retry all of it, rejects included.
            return _failures(accepted_seqs + [item.sequence_number for item in batch.rejected])
        metrics.emit_rule_hits(self.settings.metric_namespace, self.settings.environment,
                               new_alert_rules, int(self._clock() * 1000), self._emit)
        return _failures(accepted_seqs if alerts is None else [])


def make_handler(settings: Settings, **kwargs: Any) -> Callable[[Mapping[str, Any], Any], Dict]:
    """A Lambda-style handler bound to explicit settings (tests, local runs)."""
    processor = BatchProcessor(settings, **kwargs)

    def handler(event: Mapping[str, Any], context: Any = None) -> Dict:
        return processor.process(event)

    handler.processor = processor  # type: ignore[attr-defined]
    return handler


_container_processor: Optional[BatchProcessor] = None


def handle(event: Mapping[str, Any], context: Any = None) -> Dict:
    """Lambda handler: settings and secrets are loaded once per container."""
    global _container_processor
    if _container_processor is None:
        _container_processor = BatchProcessor(settings_from_env(os.environ, aws_secrets.fetch_secret_string))
    result = _container_processor.process(event)
    if _container_processor.credentials_rejected:
        # The RDS-managed password (or Redis token) was rotated: re-read secrets next time.
        logger.warning("credentials rejected; secrets will be re-read on the next invocation")
        _container_processor.close()
        _container_processor = None
        aws_secrets.clear_cache()
    return result
