"""Redis: the last 24 hours of transactions, as PostgreSQL holds them.

Keys (each expires with the event it describes, so Redis holds a rolling day and never grows):
  ``txn:{transaction_id}``    -> canonical transaction JSON, expiring history TTL after it occurred
  ``cust:{customer_id}:txns`` -> sorted set, score = event epoch seconds,
                                 member = ``{currency}:{amount}:{transaction_id}``
  ``history:ready``           -> run id of the server the history was last made complete on
  ``history:rebuild:*``       -> a rebuild's lock and cursor, per server (see ``processor.history``)
Only versions PostgreSQL committed are written here, after the commit, so Redis never holds
a transaction the database does not. A server that restarted, was restored or failed over has
a new run id, which the batch's own script call reports: the processor then rebuilds the day
from PostgreSQL (see ``processor.history``).
"""

from __future__ import annotations

import json
import ssl
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import redis

from processor.config import RedisSettings
from processor.contract import AUTH_IAM
from processor.redis_iam import IAMCredentialProvider
from processor.schema import CURRENCY_MINOR_UNITS, Transaction

SOCKET_TIMEOUT_SECONDS = 5
#: ElastiCache closes IAM-authenticated connections after 12 hours; the processor reconnects (with a fresh
#: token) once its client is this old, an hour before, between batches.
MAX_CONNECTION_SECONDS = 11 * 3600
READY_KEY = "history:ready"


def txn_key(transaction_id: str) -> str:
    return f"txn:{transaction_id}"


def customer_key(customer_id: str) -> str:
    return f"cust:{customer_id}:txns"


def encode_member(txn: Transaction) -> str:
    places = CURRENCY_MINOR_UNITS[txn.currency]
    return f"{txn.currency}:{txn.amount:.{places}f}:{txn.transaction_id}"


def credential_provider(settings: RedisSettings) -> redis.CredentialProvider:
    """What redis-py asks for at every connect: a fresh IAM token, or the rig's password."""
    if settings.auth == AUTH_IAM:
        return IAMCredentialProvider(settings.username, str(settings.cache_name), str(settings.region))
    return redis.UsernamePasswordCredentialProvider(settings.username, settings.password)


def connect(settings: RedisSettings) -> redis.Redis:
    """TLS 1.2+ with the certificate chain and host name checked; logs in as the RBAC user."""
    return redis.Redis(
        host=settings.host,
        port=settings.port,
        credential_provider=credential_provider(settings),
        ssl=True,
        ssl_cert_reqs="required",
        ssl_check_hostname=True,
        ssl_min_version=ssl.TLSVersion.TLSv1_2,
        socket_connect_timeout=SOCKET_TIMEOUT_SECONDS,
        socket_timeout=SOCKET_TIMEOUT_SECONDS,
        decode_responses=True,
        # CLIENT SETINFO is outside the user's rights; don't send it.
        lib_name=None,
        lib_version=None,
    )


# One call per batch. KEYS[1] is the ready marker. ARGV = [now ms, ttl ms, JSON [[set key, [[txn key,
# score, member, txn json, expire-at ms], ...]], ...]]. Each customer's set is trimmed to the history and
# expires with its newest event. The other keys travel in ARGV only: the replication group runs with
# cluster mode disabled, where a script may touch keys it did not declare, and declaring a thousand keys
# per batch costs the client more than the script costs Redis. (Cluster mode would need one call per
# hash slot instead.)
#
# A page of a rebuild (processor.history) also passes KEYS[2] (the cursor of that server's rebuild) and
# KEYS[3] (its lock), and ARGV[4] (the run id the rebuild is for), ARGV[5] (the cursor after this page,
# '' on the last page), ARGV[6] (the lock's token) and ARGV[7] (the lock's lifetime, ms). It writes
# nothing on another server; on that one it advances the cursor, or on the last page marks the history
# complete, in the same atomic step as the page, and extends the lock if it is still the caller's.
#
# Returns {ready marker, this server's run id}: which server answered comes with every batch, at no
# extra round trip, whatever connection redis-py (re)made underneath.
_WRITE_HISTORY = """
local run_id = string.match(redis.call('INFO', 'server'), 'run_id:(%x+)') or ''
local rebuilding = #KEYS == 3
if rebuilding and run_id ~= ARGV[4] then
  return {redis.call('GET', KEYS[1]), run_id}
end
local now = tonumber(ARGV[1])
local ttl = tonumber(ARGV[2])
local cutoff = '(' .. tostring((now - ttl) / 1000)
for _, customer in ipairs(cjson.decode(ARGV[3])) do
  local set_key = customer[1]
  local expire_at = 0
  for _, txn in ipairs(customer[2]) do
    redis.call('SET', txn[1], txn[4], 'PXAT', txn[5])
    redis.call('ZADD', set_key, txn[2], txn[3])
    expire_at = math.max(expire_at, txn[5])
  end
  redis.call('ZREMRANGEBYSCORE', set_key, '-inf', cutoff)
  -- The set lives as long as its newest event: only ever extend (GT); a new set has no expiry yet (NX).
  if redis.call('PEXPIREAT', set_key, expire_at, 'GT') == 0 then
    redis.call('PEXPIREAT', set_key, expire_at, 'NX')
  end
end
if rebuilding then
  if ARGV[5] == '' then
    redis.call('SET', KEYS[1], run_id)
    redis.call('DEL', KEYS[2])
  else
    redis.call('SET', KEYS[2], ARGV[5], 'PX', ARGV[2])
  end
  if redis.call('GET', KEYS[3]) == ARGV[6] then
    redis.call('SET', KEYS[3], ARGV[6], 'PX', ARGV[7])
  end
end
return {redis.call('GET', KEYS[1]), run_id}
"""


@dataclass(frozen=True)
class HistoryState:
    """What the server said after a write: the ready marker it holds and its own run id."""

    marker: str | None
    run_id: str

    @property
    def complete(self) -> bool:
        """The history was last made complete on this very server (a restart or failover changes the id)."""
        return bool(self.run_id) and self.marker == self.run_id


@dataclass(frozen=True)
class RebuildPage:
    """Where a rebuild page goes: the server it is for, that server's cursor and lock keys, the cursor
    after this page (None on the last page) and the lock's token and lifetime."""

    run_id: str
    cursor_key: str
    cursor: str | None
    lock_key: str
    lock_token: str
    lock_ms: int


def expires_at_ms(txn: Transaction, ttl_seconds: int, now: float) -> int:
    """History TTL after the event, and never more than the TTL from now (clock-skewed producers)."""
    return int(min(txn.epoch_seconds + ttl_seconds, now + ttl_seconds) * 1000)


def write_history(
    client: redis.Redis,
    transactions: Sequence[Transaction],
    ttl_seconds: int,
    now: float,
    page: RebuildPage | None = None,
) -> HistoryState:
    """Write the transactions still inside the history (a batch, or with ``page`` a rebuild page on the
    server it names); return the ready marker and the run id of the server that answered."""
    now_ms = int(now * 1000)
    grouped: dict[str, list[list[str | int]]] = defaultdict(list)
    for txn in transactions:
        expire_at = expires_at_ms(txn, ttl_seconds, now)
        if expire_at > now_ms:  # older ones are already outside the rolling day
            grouped[customer_key(txn.customer_id)].append(
                [txn_key(txn.transaction_id), repr(txn.epoch_seconds), encode_member(txn), txn.to_json(), expire_at]
            )
    plan = json.dumps([[set_key, rows] for set_key, rows in grouped.items()], ensure_ascii=False)
    if page is None:
        reply = client.eval(_WRITE_HISTORY, 1, READY_KEY, str(now_ms), str(ttl_seconds * 1000), plan)
    else:
        reply = client.eval(
            _WRITE_HISTORY,
            3,
            READY_KEY,
            page.cursor_key,
            page.lock_key,
            str(now_ms),
            str(ttl_seconds * 1000),
            plan,
            page.run_id,
            page.cursor or "",
            page.lock_token,
            str(page.lock_ms),
        )
    # redis-py annotates eval as returning str; the script returns its two-element array.
    marker, run_id = cast("list[Any]", reply)
    return HistoryState(None if marker is None else str(marker), str(run_id))
