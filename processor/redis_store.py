"""Redis 24-hour history: one round trip per batch writes it and reads the rule windows back.

Keys (all expire after the history TTL, so Redis never grows without bound):
  ``txn:{transaction_id}``      -> canonical transaction JSON
  ``cust:{customer_id}:txns``   -> sorted set, score = event epoch seconds,
                                   member = ``{currency}:{amount}:{transaction_id}``
The amount lives in the member so the daily-total rule needs no extra lookups;
it is formatted to the currency's minor units so a redelivery yields the same member.
"""

from __future__ import annotations

import json
from collections import defaultdict
from decimal import Decimal
from typing import Dict, Iterable, List, Mapping, Sequence

import redis

from processor.config import RedisSettings
from processor.models import WindowEntry
from processor.schema import CURRENCY_MINOR_UNITS, Transaction

SOCKET_TIMEOUT_SECONDS = 5
# Widest rule window; the reader fetches this much history before the oldest event.
RULE_LOOKBACK_SECONDS = 86400


def txn_key(transaction_id: str) -> str:
    return f"txn:{transaction_id}"


def customer_key(customer_id: str) -> str:
    return f"cust:{customer_id}:txns"


def encode_member(txn: Transaction) -> str:
    places = CURRENCY_MINOR_UNITS[txn.currency]
    return f"{txn.currency}:{txn.amount:.{places}f}:{txn.transaction_id}"


def decode_member(member: str, score: float) -> WindowEntry:
    currency, amount, transaction_id = member.split(":", 2)
    return WindowEntry(transaction_id, currency, Decimal(amount), float(score))


def connect(settings: RedisSettings) -> redis.Redis:
    """Client for ElastiCache (TLS + AUTH token) or a local test server (plain TCP)."""
    kwargs = {}
    if settings.tls:
        kwargs.update(ssl=True, ssl_cert_reqs="required")
    return redis.Redis(
        host=settings.host, port=settings.port, password=settings.auth_token,
        socket_connect_timeout=SOCKET_TIMEOUT_SECONDS, socket_timeout=SOCKET_TIMEOUT_SECONDS,
        decode_responses=True, **kwargs,
    )


# One server-side call per batch. For each customer: store each transaction
# under its own key with the TTL, add it to the customer's sorted set, trim the
# set to the history window, refresh its expiry and return the rule window as
# one newline-joined string (ids cannot contain control characters).
# ARGV = [ttl, trim cutoff, JSON [[set key, window start, [[txn key, score,
# member, txn json], ...]], ...]]; every key touched is also listed in KEYS.
# One bulk request and one short reply per batch keeps the client (pure-Python
# redis-py) cheap: packing or parsing thousands of items costs more than Redis does.
_WRITE_AND_READ_WINDOWS = """
local ttl = tonumber(ARGV[1])
local cutoff = ARGV[2]
local windows = {}
for c, customer in ipairs(cjson.decode(ARGV[3])) do
  local set_key = customer[1]
  for _, txn in ipairs(customer[3]) do
    redis.call('SET', txn[1], txn[4], 'EX', ttl)
    redis.call('ZADD', set_key, txn[2], txn[3])
  end
  redis.call('ZREMRANGEBYSCORE', set_key, '-inf', cutoff)
  redis.call('EXPIRE', set_key, ttl)
  local window = redis.call('ZRANGEBYSCORE', set_key, '(' .. customer[2], '+inf', 'WITHSCORES')
  windows[c] = table.concat(window, '\\n')
end
return windows
"""


def _by_customer(transactions: Iterable[Transaction]) -> Dict[str, List[Transaction]]:
    grouped: Dict[str, List[Transaction]] = defaultdict(list)
    for txn in transactions:
        grouped[txn.customer_id].append(txn)
    return grouped


def write_batch(client: redis.Redis, transactions: Sequence[Transaction], ttl_seconds: int,
                now: float) -> Mapping[str, List[WindowEntry]]:
    """Write the batch in one round trip and return each touched customer's rule window.

    Each customer's sorted set is trimmed to ``now - ttl_seconds``; the returned
    window starts 24 h before the customer's oldest event in the batch.
    """
    if not transactions:
        return {}
    grouped = _by_customer(transactions)
    keys: List[str] = []
    plan = []
    for customer_id, txns in grouped.items():
        since = min(t.epoch_seconds for t in txns) - RULE_LOOKBACK_SECONDS
        rows = [[txn_key(t.transaction_id), repr(t.epoch_seconds), encode_member(t), t.to_json()]
                for t in txns]
        plan.append([customer_key(customer_id), repr(since), rows])
        keys.append(customer_key(customer_id))
        keys += [row[0] for row in rows]
    script = client.register_script(_WRITE_AND_READ_WINDOWS)
    replies = script(keys=keys, args=[ttl_seconds, repr(now - ttl_seconds),
                                      json.dumps(plan, ensure_ascii=False)])
    windows: Dict[str, List[WindowEntry]] = {}
    for customer_id, joined in zip(grouped, replies):
        flat = joined.split("\n") if joined else []
        windows[customer_id] = [decode_member(flat[i], float(flat[i + 1])) for i in range(0, len(flat), 2)]
    return windows
