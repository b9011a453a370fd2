"""Rebuild the Redis history from PostgreSQL on a server that does not hold all of it.

``history:ready`` holds the run id of the server on which the history was last made complete. Every
batch's script call returns it together with the run id of the server that answered (redis-py
reconnects silently, so only the server can say who it is). A server with another run id restarted,
was restored from an older snapshot, or is a replica promoted by a failover that may lack the last
writes: the day is copied again from PostgreSQL, page by page, on that server.

Per server (keys carry its run id):

* ``history:rebuild:lock:<run id>``: one rebuild at a time across containers. It lives in Redis with an
  expiry, so it outlives a container that dies holding it and then frees itself; each page extends it.
* ``history:rebuild:cursor:<run id>``: the last key copied. Whoever holds the lock next continues from
  it, in this invocation's time budget or the next, in any container.

Each page, its cursor and, on the last page, the ready marker are written by one script call that first
checks the server is still the one the rebuild is for: pages written to a server that was then replaced
are never counted, and the marker only ever names a server that received every page. Batches keep being
written meanwhile: both write PostgreSQL's versions, so the order does not matter.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, cast

import redis

from processor import pg_store, redis_store

logger = logging.getLogger("processor")

PAGE_SIZE = 2000
#: The lock outlives the step's budget by this much (a slow last page), then expires on its own.
LOCK_MARGIN_SECONDS = 30
_START: tuple[str, str] = ("-infinity", "")
# Delete the lock only if it is still ours (it may have expired and been taken by another).
_RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"


def lock_key(run_id: str) -> str:
    return f"history:rebuild:lock:{run_id}"


def cursor_key(run_id: str) -> str:
    return f"history:rebuild:cursor:{run_id}"


def rebuild_step(
    client: redis.Redis,
    conn: Any,
    *,
    run_id: str,
    ttl_seconds: int,
    budget_seconds: float,
    clock: Callable[[], float] = time.time,
) -> bool:
    """Copy history pages to the server ``run_id`` until done or out of time; True when it is complete.

    False when another container holds the lock, the budget ran out (the cursor keeps the place), or a
    different server now answers (the next batch finds it and starts that server's own rebuild)."""
    token = uuid.uuid4().hex
    lock, cursor = lock_key(run_id), cursor_key(run_id)
    lock_ms = int((budget_seconds + LOCK_MARGIN_SECONDS) * 1000)
    if not client.set(lock, token, nx=True, px=lock_ms):
        return False  # another processor is rebuilding this server
    try:
        started = time.monotonic()
        saved = cast("str | bytes | None", client.get(cursor))  # the sync client: a value, not an awaitable
        after = tuple(json.loads(saved)) if saved else _START
        if after == _START:
            logger.warning("redis server %s lacks part of the history: rebuilding it from postgres", run_id)
        since = datetime.fromtimestamp(clock() - ttl_seconds, UTC)
        copied = 0
        while True:
            page = pg_store.history_page(conn, since, after, PAGE_SIZE)
            last = len(page) < PAGE_SIZE
            if not last:
                after = (page[-1].occurred_at.isoformat(), page[-1].transaction_id)
            state = redis_store.write_history(
                client,
                page,
                ttl_seconds,
                clock(),
                redis_store.RebuildPage(
                    run_id=run_id,
                    cursor_key=cursor,
                    cursor=None if last else json.dumps(after),
                    lock_key=lock,
                    lock_token=token,
                    lock_ms=lock_ms,
                ),
            )
            if state.run_id != run_id:
                logger.warning(
                    "redis server changed during the history rebuild (%s, now %s): the new server gets its own",
                    run_id,
                    state.run_id,
                )
                return False
            copied += len(page)
            if last:
                logger.info("redis history rebuilt from postgres on %s: %d transactions in this step", run_id, copied)
                return True
            if time.monotonic() - started > budget_seconds:
                logger.info(
                    "redis history rebuild of %s continues next invocation (%d copied in this step)", run_id, copied
                )
                return False
    finally:
        client.eval(_RELEASE, 1, lock, token)
