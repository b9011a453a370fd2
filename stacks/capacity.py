"""Capacity checks no single construct can make: load x record size x retention against node, shards and disk.

From an environment's configuration this derives what the 24-hour Redis history, the Kinesis stream and
the PostgreSQL storage must hold, refuses (one `ConfigError` naming the setting to change) what cannot
work, and renders the per-environment summary `make synth` prints. The per-transaction byte counts were
measured on the test rig (tests/support/servers.py) with the processor's own writers; tests/test_capacity.py
measures them again and fails if the model stops covering what the code really stores.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from constructs_lib.validation import require
from stacks.config import EnvironmentConfig

GIB = 1024**3
MIB = 1024**2
SECONDS_PER_MONTH = 365.25 / 12 * 86_400

#: `maxmemory` (bytes) per node type: AWS ElastiCache User Guide, "Engine specific parameters" >
#: "Redis OSS node-type specific parameters" (ParameterGroups.Engine, #ParameterGroups.Redis.NodeSpecific);
#: AWS fixes it per node type. Current generations only; r6gd (data tiering) is left out on purpose.
NODE_MAXMEMORY_BYTES: Mapping[str, int] = {
    "cache.t3.micro": 536_870_912,
    "cache.t3.small": 1_471_026_299,
    "cache.t3.medium": 3_317_862_236,
    "cache.t4g.micro": 536_870_912,
    "cache.t4g.small": 1_471_026_299,
    "cache.t4g.medium": 3_317_862_236,
    "cache.m5.large": 6_854_542_746,
    "cache.m5.xlarge": 13_891_921_715,
    "cache.m5.2xlarge": 27_966_669_210,
    "cache.m5.4xlarge": 56_116_178_125,
    "cache.m5.12xlarge": 168_715_971_994,
    "cache.m5.24xlarge": 337_500_562_842,
    "cache.m6g.large": 6_854_542_746,
    "cache.m6g.xlarge": 13_891_921_715,
    "cache.m6g.2xlarge": 27_966_669_210,
    "cache.m6g.4xlarge": 56_116_178_125,
    "cache.m6g.8xlarge": 111_325_552_312,
    "cache.m6g.12xlarge": 168_715_971_994,
    "cache.m6g.16xlarge": 225_000_375_228,
    "cache.m7g.large": 6_854_542_746,
    "cache.m7g.xlarge": 13_891_921_715,
    "cache.m7g.2xlarge": 27_966_669_210,
    "cache.m7g.4xlarge": 56_116_178_125,
    "cache.m7g.8xlarge": 111_325_552_312,
    "cache.m7g.12xlarge": 168_715_971_994,
    "cache.m7g.16xlarge": 225_000_375_228,
    "cache.r5.large": 14_037_181_030,
    "cache.r5.xlarge": 28_261_849_702,
    "cache.r5.2xlarge": 56_711_183_565,
    "cache.r5.4xlarge": 113_609_865_216,
    "cache.r5.12xlarge": 341_206_346_547,
    "cache.r5.24xlarge": 682_485_973_811,
    "cache.r6g.large": 14_037_181_030,
    "cache.r6g.xlarge": 28_261_849_702,
    "cache.r6g.2xlarge": 56_711_183_565,
    "cache.r6g.4xlarge": 113_609_865_216,
    "cache.r6g.8xlarge": 225_000_375_228,
    "cache.r6g.12xlarge": 341_206_346_547,
    "cache.r6g.16xlarge": 450_000_750_456,
    "cache.r7g.large": 14_037_181_030,
    "cache.r7g.xlarge": 28_261_849_702,
    "cache.r7g.2xlarge": 56_711_183_565,
    "cache.r7g.4xlarge": 113_609_865_216,
    "cache.r7g.8xlarge": 225_000_375_228,
    "cache.r7g.12xlarge": 341_206_346_547,
    "cache.r7g.16xlarge": 450_000_750_456,
    "cache.c7gn.large": 3_317_862_236,
    "cache.c7gn.xlarge": 6_854_542_746,
    "cache.c7gn.2xlarge": 13_891_921_715,
    "cache.c7gn.4xlarge": 27_966_669_210,
    "cache.c7gn.8xlarge": 56_116_178_125,
    "cache.c7gn.12xlarge": 84_357_985_997,
    "cache.c7gn.16xlarge": 113_609_865_216,
}
#: ElastiCache keeps this share of maxmemory for backups and replication (`reserved-memory-percent`, default 25
#: in the redis7 family); the cache construct's parameter group sets only `maxmemory-policy`, so it applies.
RESERVED_MEMORY_PERCENT = 25

# Bytes one transaction costs, as (per byte of record, fixed per transaction); measured on the rig with the
# processor's writers, 20,000 transactions of 270 and 980 JSON bytes (tests/test_capacity.py re-measures).
#: Redis: the `txn:{id}` string (the jemalloc size class of a value is at most 25% above it) plus key, expiry,
#: hash-table entries and the `cust:{id}:txns` member. Measured 393-406 fixed bytes with one customer set per
#: transaction (the worst case); 450 also covers hash tables at millions of keys (up to 2 buckets per key).
REDIS_BYTES_PER_RECORD_BYTE = 1.25
REDIS_FIXED_BYTES_PER_TRANSACTION = 450
#: PostgreSQL: the row in its monthly partition with its indexes, `transaction_ids` and the customer's hour/day
#: window rows, after VACUUM. Measured 1.13-1.16 bytes per record byte plus 514-557 bytes (one customer per
#: transaction; the fixed part shrinks as tables grow), rounded up.
DB_BYTES_PER_RECORD_BYTE = 1.2
DB_FIXED_BYTES_PER_TRANSACTION = 560
#: Write capacity a new on-demand stream starts with, in shards (4 MiB/s, 4,000 records/s); it then follows
#: up to twice its previous peak (AWS Kinesis Data Streams developer guide, "Choose the data stream capacity mode").
ON_DEMAND_INITIAL_SHARDS = 4


@dataclass(frozen=True)
class HistoryCapacity:
    """The Redis history at the average load plus headroom against one node's usable memory."""

    node_type: str
    records_per_second: float
    ttl_seconds: int
    bytes_per_transaction: int
    usable_bytes: int

    @property
    def need_bytes(self) -> int:
        return math.ceil(self.records_per_second * self.ttl_seconds * self.bytes_per_transaction)


@dataclass(frozen=True)
class StreamCapacity:
    """Shards the write peak needs (no headroom) against what the stream has (None: on-demand)."""

    peak_records_per_second: int
    peak_bytes_per_second: int
    needed_shards: int
    shards: int | None


@dataclass(frozen=True)
class StorageCapacity:
    """Database growth at the average load against allocated and autoscaling storage."""

    bytes_per_month: int
    allocated_gb: int
    max_allocated_gb: int
    retention_months: int

    def months_until(self, gigabytes: int) -> float:
        return gigabytes * GIB / self.bytes_per_month

    @property
    def fills_before_retention(self) -> bool:
        """Storage autoscaling hits its ceiling before the oldest partition ages out."""
        return self.months_until(self.max_allocated_gb) < self.retention_months


@dataclass(frozen=True)
class CapacityPlan:
    """One environment's capacity, already checked: building it raised if anything cannot fit."""

    environment: str
    average_records_per_second: int
    headroom: float
    history: HistoryCapacity
    stream: StreamCapacity
    storage: StorageCapacity


def usable_memory_bytes(field: str, node_type: str) -> int:
    """What one node can hold: its fixed maxmemory less the reserved share."""
    require(
        node_type in NODE_MAXMEMORY_BYTES,
        field,
        node_type,
        "a current-generation ElastiCache node type with a published maxmemory (stacks/capacity.py)",
    )
    return NODE_MAXMEMORY_BYTES[node_type] * (100 - RESERVED_MEMORY_PERCENT) // 100


def redis_bytes_per_transaction(record_bytes: int) -> int:
    return math.ceil(record_bytes * REDIS_BYTES_PER_RECORD_BYTE) + REDIS_FIXED_BYTES_PER_TRANSACTION


def db_bytes_per_transaction(record_bytes: int) -> int:
    return math.ceil(record_bytes * DB_BYTES_PER_RECORD_BYTE) + DB_FIXED_BYTES_PER_TRANSACTION


def check_history(field: str, history: HistoryCapacity) -> None:
    """Refuse a node type whose usable memory cannot hold the history (cluster mode off: one node holds it all)."""
    require(
        history.need_bytes <= history.usable_bytes,
        field,
        history.node_type,
        f"a node type whose usable memory holds the {history.ttl_seconds:,} s history: "
        f"{history.records_per_second:g} records/s x {history.bytes_per_transaction:,} B = "
        f"{history.need_bytes / GIB:.2f} GiB, over {history.usable_bytes / GIB:.2f} GiB usable "
        f"({100 - RESERVED_MEMORY_PERCENT}% of maxmemory)",
    )


def check_storage(field: str, storage: StorageCapacity) -> None:
    """Refuse storage that cannot take even the first month; later months only warn (`capacity_warnings`)."""
    require(
        storage.bytes_per_month <= storage.max_allocated_gb * GIB,
        field,
        storage.max_allocated_gb,
        f"at least one month of transactions ({storage.bytes_per_month / GIB:,.1f} GiB)",
    )


def plan_environment(env: EnvironmentConfig) -> CapacityPlan:
    """Derive and check one environment's capacity; a refusal names the setting under `environments.<name>`."""
    path = f"environments.{env.name}"
    load, stream, record_bytes = env.load, env.stream, env.stream.average_record_bytes
    require(
        load.average_records_per_second <= stream.peak_records_per_second,
        f"{path}.load.average_records_per_second",
        load.average_records_per_second,
        f"at most stream.peak_records_per_second ({stream.peak_records_per_second})",
    )
    history = HistoryCapacity(
        node_type=env.cache.node_type,
        records_per_second=load.average_records_per_second * (1 + load.headroom),
        ttl_seconds=env.processor.history_ttl_seconds,
        bytes_per_transaction=redis_bytes_per_transaction(record_bytes),
        usable_bytes=usable_memory_bytes(f"{path}.cache.node_type", env.cache.node_type),
    )
    check_history(f"{path}.cache.node_type", history)
    stream_capacity = StreamCapacity(
        peak_records_per_second=stream.peak_records_per_second,
        peak_bytes_per_second=stream.peak_records_per_second * record_bytes,
        needed_shards=dataclasses.replace(stream, headroom=0).shard_count,  # the construct's formula, bare peak
        shards=stream.shard_count if stream.capacity_mode == "PROVISIONED" else None,
    )
    storage = StorageCapacity(
        bytes_per_month=math.ceil(
            load.average_records_per_second * SECONDS_PER_MONTH * db_bytes_per_transaction(record_bytes)
        ),
        allocated_gb=env.database.allocated_storage_gb,
        max_allocated_gb=env.database.max_allocated_storage_gb,
        retention_months=env.database.transaction_retention_months,
    )
    check_storage(f"{path}.database.max_allocated_storage_gb", storage)
    return CapacityPlan(
        environment=env.name,
        average_records_per_second=load.average_records_per_second,
        headroom=load.headroom,
        history=history,
        stream=stream_capacity,
        storage=storage,
    )


def plan_all(environments: Iterable[EnvironmentConfig]) -> tuple[CapacityPlan, ...]:
    return tuple(plan_environment(env) for env in environments)


def _shards(count: int) -> str:
    return f"{count} shard" + ("" if count == 1 else "s")


def capacity_warnings(plan: CapacityPlan) -> list[str]:
    """What fits today but will not stay so; printed, never refused."""
    found = []
    storage, stream = plan.storage, plan.stream
    if storage.fills_before_retention:
        found.append(
            f"postgres reaches its {storage.max_allocated_gb} GiB maximum in "
            f"{storage.months_until(storage.max_allocated_gb):,.1f} months, before the "
            f"{storage.retention_months}-month retention"
        )
    if stream.shards is None and stream.needed_shards > ON_DEMAND_INITIAL_SHARDS:
        found.append(
            f"the peak needs {_shards(stream.needed_shards)}: a new on-demand stream starts with "
            f"{ON_DEMAND_INITIAL_SHARDS} and throttles until it has scaled"
        )
    return found


def _row(label: str, what: str, detail: str) -> str:
    """One summary line; the columns line up across resources and environments."""
    return f"  {label:<9} {what:<20} {detail}"


def format_summary(plans: Iterable[CapacityPlan]) -> str:
    """One aligned block per environment, short enough for one screen with three environments."""
    lines = []
    for plan in plans:
        history, stream, storage = plan.history, plan.stream, plan.storage
        shards = (
            f"{_shards(stream.shards)} ({stream.needed_shards} needed)"
            if stream.shards is not None
            else f"on-demand (~{_shards(stream.needed_shards)})"
        )
        lines += [
            f"capacity {plan.environment}: {plan.average_records_per_second:,} records/s average, "
            f"history sized for +{plan.headroom:.0%}",
            _row(
                "redis",
                history.node_type,
                f"{history.need_bytes / GIB:.2f} of {history.usable_bytes / GIB:.2f} GiB usable "
                f"({history.need_bytes / history.usable_bytes:.0%}), {history.bytes_per_transaction:,} B/transaction",
            ),
            _row(
                "kinesis",
                shards,
                f"peak {stream.peak_records_per_second:,} records/s, {stream.peak_bytes_per_second / MIB:.2f} MiB/s",
            ),
            _row(
                "postgres",
                f"+{storage.bytes_per_month / GIB:,.1f} GiB/month",
                f"{storage.allocated_gb} GiB allocated lasts {storage.months_until(storage.allocated_gb):,.1f} "
                f"months, {storage.max_allocated_gb} GiB max in "
                f"{storage.months_until(storage.max_allocated_gb):,.1f}",
            ),
        ]
        lines += [f"  WARNING   {warning}" for warning in capacity_warnings(plan)]
    return "\n".join(lines)
