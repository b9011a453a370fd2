"""Rebuild the Redis history from PostgreSQL after Redis lost it (restart, node replacement, failover).

``history:ready`` holds the run id of the server on which the history was last complete. A
server with another run id has lost data (or never had it), so one processor at a time takes
``history:rebuild:lock`` and copies the last day from PostgreSQL page by page, resuming from
``history:rebuild:cursor`` in later invocations when its time budget runs out. Batches keep
being written meanwhile: both write PostgreSQL's versions, so the order does not matter.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from datetime import datetime, timezone
from typing import Any, Callable, Tuple

import redis

from processor import pg_store, redis_store

logger = logging.getLogger("processor")

LOCK_KEY = "history:rebuild:lock"
CURSOR_KEY = "history:rebuild:cursor"
PAGE_SIZE = 2000
_START: Tuple[str, str] = ("-infinity", "")
# Delete the lock only if it is still ours (it may have expired and been taken by another).
_RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"


def rebuild_step(client: redis.Redis, conn: Any, *, run_id: str, ttl_seconds: int, budget_seconds: float,
                 clock: Callable[[], float] = time.time) -> bool:
    """Copy history pages until done or out of time; True when the history is complete again."""
    token = uuid.uuid4().hex
    if not client.set(LOCK_KEY, token, nx=True, px=int((budget_seconds + 30) * 1000)):
        return False  # another processor is rebuilding
    try:
        started = time.monotonic()
        saved = client.get(CURSOR_KEY)
        cursor = json.loads(saved) if saved else None
        after = tuple(cursor["after"]) if cursor and cursor.get("run_id") == run_id else _START
        since = datetime.fromtimestamp(clock() - ttl_seconds, timezone.utc)
        copied = 0
        while True:
            page = pg_store.history_page(conn, since, after, PAGE_SIZE)
            redis_store.write_history(client, page, ttl_seconds, clock())
            copied += len(page)
            if len(page) < PAGE_SIZE:
                client.set(redis_store.READY_KEY, run_id)
                client.delete(CURSOR_KEY)
                logger.info("redis history rebuilt from postgres: %d transactions in this step", copied)
                return True
            last = page[-1]
            after = (last.occurred_at.isoformat(), last.transaction_id)
            client.set(CURSOR_KEY, json.dumps({"run_id": run_id, "after": after}))
            if time.monotonic() - started > budget_seconds:
                logger.info("redis history rebuild continues next invocation (%d copied so far in this step)", copied)
                return False
    finally:
        client.eval(_RELEASE, 1, LOCK_KEY, token)
