"""Capacity: the arithmetic on hand-computed inputs, every refusal, main.py's summary, and the byte model
measured again on the rig's real redis-server and PostgreSQL with the processor's own writers."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from config_files import write_config

from processor.contract import ConfigError
from stacks.capacity import (
    capacity_warnings,
    db_bytes_per_transaction,
    format_summary,
    plan_all,
    plan_environment,
    redis_bytes_per_transaction,
    usable_memory_bytes,
)
from stacks.config import EnvironmentConfig, load_config

ROOT = Path(__file__).resolve().parent.parent


def environment(tmp_path: Path, name: str = "dev", **settings: Any) -> EnvironmentConfig:
    """One environment read through load_config, so refusals carry the same field paths as synth."""
    return load_config({"JAPANCART_CONFIG": str(write_config(tmp_path, {name: settings}))}).environments[0]


# ---- arithmetic on known inputs --------------------------------------------------------------------------


def test_usable_memory_is_maxmemory_less_the_reserved_quarter() -> None:
    # AWS's own example: a 0.5 GiB micro node reports maxmemory 402653184 (0.375 GiB) with 25% reserved.
    assert usable_memory_bytes("cache.node_type", "cache.t4g.micro") == 402_653_184
    assert usable_memory_bytes("cache.node_type", "cache.r7g.large") == 14_037_181_030 * 3 // 4


def test_reserved_memory_is_the_parameter_group_default(prod) -> None:
    """The 25% above holds only while the cache construct leaves reserved memory at its default."""
    _, group = prod.one("aws_elasticache_parameter_group")
    assert [p["name"] for p in group["parameter"]] == ["maxmemory-policy"]


def test_bytes_per_transaction_for_a_one_kib_record() -> None:
    assert redis_bytes_per_transaction(1024) == 1280 + 450
    assert db_bytes_per_transaction(1024) == 1229 + 560  # ceil(1024 x 1.2) + fixed


@pytest.mark.parametrize(
    "peak, record_bytes, needed, provisioned",
    [
        (170, 1024, 1, 1),  # the shipped peak: one shard
        (1000, 1024, 1, 2),  # exactly one shard's records; the construct adds 50% headroom
        (1001, 1024, 2, 2),  # one record over
        (1000, 4096, 4, 6),  # byte-bound: 3.9 MiB/s
    ],
)
def test_shards_needed_for_the_bare_peak(
    tmp_path: Path, peak: int, record_bytes: int, needed: int, provisioned: int
) -> None:
    env = environment(tmp_path, stream={"peak_records_per_second": peak, "average_record_bytes": record_bytes})
    stream = plan_environment(env).stream
    assert (stream.needed_shards, stream.shards) == (needed, provisioned)


def test_plan_of_the_launch_load_by_hand(tmp_path: Path) -> None:
    env = environment(
        tmp_path,
        "prod",
        cache={"node_type": "cache.r7g.large", "num_nodes": 3},
        network={"az_count": 3},
        database={"allocated_storage_gb": 100, "max_allocated_storage_gb": 1000},
        load={"average_records_per_second": 17, "headroom": 1.0},
    )
    plan = plan_environment(env)
    # 17/s x (1 + 1.0) x 86,400 s x 1,730 B
    assert plan.history.need_bytes == 34 * 86_400 * 1730 == 5_082_048_000
    assert plan.history.usable_bytes == 10_527_885_772
    # 17/s x 2,629,800 s (a 30.4375-day month) x 1,789 B
    assert plan.storage.bytes_per_month == 17 * 2_629_800 * 1789 == 79_980_107_400
    assert round(plan.storage.months_until(1000), 2) == 13.43
    assert (plan.stream.shards, plan.stream.needed_shards) == (1, 1)


def test_on_demand_shows_the_implied_shards_and_warns_above_a_new_streams_capacity(tmp_path: Path) -> None:
    env = environment(
        tmp_path,
        stream={"capacity_mode": "ON_DEMAND", "peak_records_per_second": 5000},
        database={"transaction_retention_months": 12},
    )
    plan = plan_environment(env)
    assert (plan.stream.shards, plan.stream.needed_shards) == (None, 5)
    assert "on-demand (~5 shards)" in format_summary([plan])
    assert capacity_warnings(plan) == [
        "the peak needs 5 shards: a new on-demand stream starts with 4 and throttles until it has scaled"
    ]


def test_warns_when_storage_fills_before_the_retention(tmp_path: Path) -> None:
    plan = plan_environment(environment(tmp_path, load={"average_records_per_second": 3}))
    # 3/s x 2,629,800 s x 1,789 B = 13.1 GiB a month: 200 GiB lasts 15.2 months, retention is 84.
    assert capacity_warnings(plan) == [
        "postgres reaches its 200 GiB maximum in 15.2 months, before the 84-month retention"
    ]
    quiet = plan_environment(environment(tmp_path, database={"transaction_retention_months": 12}))
    assert capacity_warnings(quiet) == []


# ---- refusals --------------------------------------------------------------------------------------------


def test_fails_when_node_too_small_for_history(tmp_path: Path) -> None:
    env = environment(tmp_path, cache={"node_type": "cache.t4g.micro"}, load={"average_records_per_second": 17})
    with pytest.raises(ConfigError) as raised:
        plan_environment(env)
    assert (raised.value.field, raised.value.value) == ("environments.dev.cache.node_type", "cache.t4g.micro")
    assert "34 records/s x 1,730 B = 4.73 GiB, over 0.38 GiB usable" in str(raised.value)


def test_fails_on_a_node_type_without_a_known_maxmemory(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError,
        match=r"environments\.dev\.cache\.node_type must be a current-generation "
        r"ElastiCache node type .*, got 'cache\.x9\.large'",
    ):
        plan_environment(environment(tmp_path, cache={"node_type": "cache.x9.large"}))


def test_fails_when_the_first_month_does_not_fit_the_storage_ceiling(tmp_path: Path) -> None:
    env = environment(
        tmp_path,
        cache={"node_type": "cache.r7g.xlarge"},
        database={"allocated_storage_gb": 20, "max_allocated_storage_gb": 100},
        load={"average_records_per_second": 30},
    )
    with pytest.raises(ConfigError) as raised:  # 30 x 2,629,800 x 1,789 B = 131.4 GiB
        plan_environment(env)
    assert (raised.value.field, raised.value.value) == ("environments.dev.database.max_allocated_storage_gb", 100)
    assert "at least one month of transactions (131.4 GiB)" in str(raised.value)


def test_fails_when_the_average_exceeds_the_peak(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError,
        match=r"environments\.dev\.load\.average_records_per_second must be at most "
        r"stream\.peak_records_per_second \(170\), got 171",
    ):
        plan_environment(
            environment(
                tmp_path,
                cache={"node_type": "cache.r7g.4xlarge"},
                database={"max_allocated_storage_gb": 10_000},
                load={"average_records_per_second": 171},
            )
        )


@pytest.mark.parametrize(
    "load, message",
    [
        (
            {"average_records_per_second": 1.5},
            "average_records_per_second must be a whole number from 1 to 10000000, got 1.5",
        ),
        (
            {"average_records_per_second": True},
            "average_records_per_second must be a whole number from 1 to 10000000, got True",
        ),
        (
            {"average_records_per_second": 0},
            "average_records_per_second must be a whole number from 1 to 10000000, got 0",
        ),
        ({"headroom": -0.5}, "headroom must be a number from 0 to 10, got -0.5"),
        (
            {"peak_records_per_second": 170},
            "peak_records_per_second must be a known setting of [environments.dev.load], got 170",
        ),
    ],
)
def test_fails_on_bad_load(tmp_path: Path, load: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        environment(tmp_path, load=load)
    assert str(raised.value) == f"environments.dev.load.{message}"


# ---- the shipped configuration and main.py -------------------------------------------------------------


def test_the_shipped_configuration_fits() -> None:
    plans = plan_all(load_config().environments)
    assert [p.environment for p in plans] == ["dev", "staging", "prod"]
    assert all(p.history.need_bytes <= p.history.usable_bytes for p in plans)


def run_main(tmp_path: Path, config: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "CDKTF_OUTDIR": str(tmp_path / "cdktf.out")}
    if config is not None:
        env["JAPANCART_CONFIG"] = str(config)
    return subprocess.run(
        [sys.executable, str(ROOT / "main.py")], cwd=tmp_path, capture_output=True, text=True, env=env, timeout=300
    )


@pytest.mark.slow
def test_synth_prints_one_screen_of_capacity_for_the_shipped_configuration(tmp_path: Path) -> None:
    result = run_main(tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert [line for line in lines if line.startswith("capacity ")] == [
        "capacity dev: 1 records/s average, history sized for +100%",
        "capacity staging: 3 records/s average, history sized for +100%",
        "capacity prod: 17 records/s average, history sized for +100%",
    ]
    assert "  redis     cache.r7g.large      4.73 of 9.80 GiB usable (48%), 1,730 B/transaction" in lines
    assert "  kinesis   1 shard (1 needed)   peak 170 records/s, 0.17 MiB/s" in lines
    assert "  postgres  +74.5 GiB/month      100 GiB allocated lasts 1.3 months, 1000 GiB max in 13.4" in lines
    assert len(lines) <= 24 and max(map(len, lines)) <= 100


@pytest.mark.slow
def test_synth_refuses_a_node_too_small_in_one_line_and_writes_nothing(tmp_path: Path) -> None:
    config = write_config(
        tmp_path, {"dev": {"cache": {"node_type": "cache.t4g.micro"}, "load": {"average_records_per_second": 17}}}
    )
    result = run_main(tmp_path, config)
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(
        "configuration error: environments.dev.cache.node_type must be a node type whose usable "
        "memory holds the 86,400 s history: "
    )
    assert line.endswith(", got 'cache.t4g.micro'")
    assert not (tmp_path / "cdktf.out").exists() and result.stdout == ""


# ---- the byte model against what the processor really stores --------------------------------------------


def transactions(count: int, metadata_bytes: int) -> list:
    """Realistic transactions, one customer each (the most per-customer overhead), within the last hour."""
    from processor.schema import ValidationError, validate

    rng = random.Random(7)
    now = datetime.now(UTC)
    made = []
    for i in range(count):
        doc = {
            "transaction_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "customer_id": f"cust-{i:06d}",
            "merchant_id": f"merchant-{rng.randrange(50):04d}",
            "amount": str(rng.randrange(100, 30000, 10)),
            "currency": "JPY",
            "occurred_at": datetime.fromtimestamp(now.timestamp() - rng.uniform(0, 3600), UTC).isoformat(),
            "payment_method": "card",
            "metadata": {"channel": "web", "note": "x" * metadata_bytes},
        }
        try:
            made.append(validate(doc))
        except ValidationError:  # a random id that looks like a card number; the processor rejects it too
            continue
    return made


def record_bytes(txns: list) -> int:
    return round(sum(len(t.to_json().encode()) for t in txns) / len(txns))


@pytest.fixture(scope="module")
def redis_rig(rig_ca) -> Iterator[Any]:
    from processor.contract import REDIS_ACL_RULES
    from tests.support.pipeline import REDIS_USER
    from tests.support.servers import RedisServer

    server = RedisServer(
        rig_ca, acl_rules=REDIS_ACL_RULES, user=REDIS_USER, password="capacity-test-password-0123456789"
    )
    server.start()
    yield server
    server.destroy()


@pytest.fixture(scope="module")
def postgres_rig(rig_ca) -> Iterator[Any]:
    from tests.support.pipeline import migrate
    from tests.support.servers import PostgresServer

    server = PostgresServer(rig_ca)
    server.start()
    migrate(server)
    yield server
    server.destroy()


@pytest.mark.integration
@pytest.mark.parametrize("metadata_bytes", [0, 700])
def test_redis_model_covers_what_the_processor_stores(redis_rig, metadata_bytes: int) -> None:
    from processor.redis_store import write_history

    client = redis_rig.client(decode_responses=True)
    client.flushall()
    txns = transactions(10_000, metadata_bytes)
    before = client.info("memory")["used_memory"]
    for start in range(0, len(txns), 500):
        write_history(client, txns[start : start + 500], 86_400, time.time())
    measured = (client.info("memory")["used_memory"] - before) / len(txns)
    assert client.dbsize() == 2 * len(txns)  # every transaction and its customer's set are really there
    modelled = redis_bytes_per_transaction(record_bytes(txns))
    assert measured <= modelled, (measured, modelled)
    assert measured >= 0.8 * modelled, (measured, modelled)  # conservative, not wildly so


@pytest.mark.integration
@pytest.mark.parametrize("metadata_bytes", [0, 700])
def test_database_model_covers_what_the_processor_stores(postgres_rig, metadata_bytes: int) -> None:
    from processor.config import RuleThresholds
    from processor.kinesis import Accepted, RecordRef
    from processor.pg_store import store_transactions

    size = (
        "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'public' AND c.relkind IN ('r', 't')"
    )
    conn = postgres_rig.connect(postgres_rig.master_user, postgres_rig.master_password)
    try:
        conn.run("TRUNCATE transactions, transaction_ids, customer_windows RESTART IDENTITY CASCADE")
        conn.run("VACUUM FULL")
        before = conn.run(size)[0][0]
        txns = transactions(10_000, metadata_bytes)
        # What is stored does not depend on the thresholds (they only pick the windows returned).
        thresholds = RuleThresholds(
            max_txns_per_hour=30, max_daily_total=Decimal(2_000_000), max_single_amount=Decimal(500_000)
        )
        stream = "arn:aws:kinesis:ap-northeast-1:111122223333:stream/japancart-dev-transactions"
        accepted = [Accepted(RecordRef(stream, "shardId-000000000000", str(10**20 + i)), t) for i, t in enumerate(txns)]
        for start in range(0, len(accepted), 500):
            conn.run("BEGIN")
            store_transactions(conn, accepted[start : start + 500], [], thresholds)
            conn.run("COMMIT")
        conn.run("VACUUM ANALYZE")  # what autovacuum does in production: visibility and free-space maps
        assert conn.run("SELECT count(*) FROM transactions")[0][0] == len(txns)
        measured = (conn.run(size)[0][0] - before) / len(txns)
    finally:
        conn.close()
    modelled = db_bytes_per_transaction(record_bytes(txns))
    assert measured <= modelled, (measured, modelled)
    assert measured >= 0.8 * modelled, (measured, modelled)


def test_summary_block_lists_each_resource_once(tmp_path: Path) -> None:
    """The block a reader scans: one header, then redis, kinesis and postgres, aligned in one column."""
    text = format_summary([plan_environment(environment(tmp_path, database={"transaction_retention_months": 12}))])
    lines = text.splitlines()
    assert [line[:12] for line in lines] == ["capacity dev", "  redis     ", "  kinesis   ", "  postgres  "]
    assert all(line[12] != " " and line[32] == " " and line[33] != " " for line in lines[1:]), text
