"""Redis: the last 24 hours of transactions, as PostgreSQL holds them.

Keys (each expires with the event it describes, so Redis holds a rolling day and never grows):
  ``txn:{transaction_id}``    -> canonical transaction JSON, expiring history TTL after it occurred
  ``cust:{customer_id}:txns`` -> sorted set, score = event epoch seconds,
                                 member = ``{currency}:{amount}:{transaction_id}``
  ``history:ready``           -> run id of the server the history was last made complete on
Only versions PostgreSQL committed are written here, after the commit, so Redis never holds
a transaction the database does not. A server that restarted or failed over has a new run id:
the processor then rebuilds the day from PostgreSQL (see ``processor.history``).
"""

from __future__ import annotations

import json
import ssl
from collections import defaultdict
from typing import Dict, List, Optional, Sequence

import redis

from processor.config import RedisSettings
from processor.schema import CURRENCY_MINOR_UNITS, Transaction

SOCKET_TIMEOUT_SECONDS = 5
# The ElastiCache RBAC user the processor logs in as, and everything it may do: its own key
# prefixes and the commands below (EVAL runs the batch script, whose calls Redis checks against
# the same rules). The cache construct grants exactly this; the test rig's redis-server too.
REDIS_USER = "txn-processor"
ACL_RULES = ("~txn:* ~cust:* ~history:* -@all +ping +info +eval +get +set +del "
             "+zadd +zremrangebyscore +pexpireat")
READY_KEY = "history:ready"


def txn_key(transaction_id: str) -> str:
    return f"txn:{transaction_id}"


def customer_key(customer_id: str) -> str:
    return f"cust:{customer_id}:txns"


def encode_member(txn: Transaction) -> str:
    places = CURRENCY_MINOR_UNITS[txn.currency]
    return f"{txn.currency}:{txn.amount:.{places}f}:{txn.transaction_id}"


def connect(settings: RedisSettings) -> redis.Redis:
    """TLS 1.2+ with the certificate chain and host name checked; logs in as the RBAC user."""
    return redis.Redis(
        host=settings.host, port=settings.port, username=settings.username, password=settings.password,
        ssl=True, ssl_cert_reqs="required", ssl_check_hostname=True,
        ssl_min_version=ssl.TLSVersion.TLSv1_2,
        socket_connect_timeout=SOCKET_TIMEOUT_SECONDS, socket_timeout=SOCKET_TIMEOUT_SECONDS,
        decode_responses=True,
        # CLIENT SETINFO is outside the user's rights; don't send it.
        lib_name=None, lib_version=None,
    )


def server_run_id(client: redis.Redis) -> str:
    """Changes whenever the server restarts, and on failover (another node answers)."""
    return str(client.info("server").get("run_id", ""))


# One call per batch. ARGV = [now ms, ttl ms, JSON [[set key, [[txn key, score, member,
# txn json, expire-at ms], ...]], ...]]. Each customer's set is trimmed to the history and
# expires with its newest event. Returns the ready marker (KEYS[1]). The other keys travel in
# ARGV only: the replication group runs with cluster mode disabled, where a script may touch
# keys it did not declare, and declaring a thousand keys per batch costs the client more than
# the script costs Redis. (Cluster mode would need one call per hash slot instead.)
_WRITE_HISTORY = """
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
return redis.call('GET', KEYS[1])
"""


def expires_at_ms(txn: Transaction, ttl_seconds: int, now: float) -> int:
    """History TTL after the event, and never more than the TTL from now (clock-skewed producers)."""
    return int(min(txn.epoch_seconds + ttl_seconds, now + ttl_seconds) * 1000)


def write_history(client: redis.Redis, transactions: Sequence[Transaction], ttl_seconds: int,
                  now: float) -> Optional[str]:
    """Write the transactions still inside the history; return the ``history:ready`` marker."""
    now_ms = int(now * 1000)
    grouped: Dict[str, List[list]] = defaultdict(list)
    for txn in transactions:
        expire_at = expires_at_ms(txn, ttl_seconds, now)
        if expire_at > now_ms:  # older ones are already outside the rolling day
            grouped[customer_key(txn.customer_id)].append(
                [txn_key(txn.transaction_id), repr(txn.epoch_seconds), encode_member(txn), txn.to_json(), expire_at])
    plan = [[set_key, rows] for set_key, rows in grouped.items()]
    marker = client.eval(_WRITE_HISTORY, 1, READY_KEY, now_ms, ttl_seconds * 1000,
                         json.dumps(plan, ensure_ascii=False))
    return None if marker is None else str(marker)
