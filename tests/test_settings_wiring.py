"""Every configuration field reaches the synthesized Terraform: flipping it changes the stack.

The fields are enumerated from the configuration dataclasses, so a new field without an entry in
FLIPS (or SYNTH_NEUTRAL, with the reason) fails here instead of being validated and then ignored.
One in-process synth per field (about a second each); marked slow, run by `make test`.
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cdktf
import pytest
from config_files import write_config

from constructs_lib.bundled_function import LambdaBundle
from constructs_lib.database_recovery import RestoreSettings
from stacks.bootstrap_stack import StateBootstrapStack
from stacks.ci_stack import CiIdentityStack
from stacks.config import AppConfig, EnvironmentConfig, load_config
from stacks.monitoring_stack import TransactionMonitoringStack
from stacks.platform_config import EmulatorConfig
from synthesis import TEST_BACKEND, TEST_REPOSITORY_ID

pytestmark = pytest.mark.slow

ENVIRONMENT = "staging"
OTHER_KEY_ARN = "arn:aws:kms:ap-northeast-1:123456789012:key/11111111-2222-4333-8444-555555555555"

#: Another valid value for every field (`environment.<field>` / `environment.<section>.<field>` for the
#: environment under test, built on the construct defaults).
FLIPS: dict[str, Any] = {
    "project.name": "shop",
    "project.owner": "risk-team",
    "backend.bucket": "another-state-bucket",
    "backend.region": "ap-northeast-3",
    "backend.account_id": "210987654321",
    "backend.state_keys": {ENVIRONMENT: OTHER_KEY_ARN},
    "backend.bootstrap_state": "s3",
    "backend.environment_roles": {ENVIRONMENT: ("arn:aws:iam::309876543210:role/break-glass",)},
    "ci.repository": "acme-payments/another-repository",
    "ci.repository_id": 700000099,
    "ci.repository_owner_id": 42,
    "ci.oidc_subject": "immutable",
    "ci.pull_request_workflow": ".github/workflows/plan.yml",
    "ci.deploy_workflow": ".github/workflows/deploy.yml",
    "environment.account_id": "408765432109",
    "emulator.endpoint": "http://127.0.0.1:5000",
    "environment.name": "dev",
    "environment.region": "ap-northeast-3",
    "environment.log_retention_days": 90,
    "environment.secret_recovery_days": 7,
    "environment.network.vpc_cidr": "10.40.0.0/16",
    "environment.network.az_count": 3,
    "environment.network.subnet_prefix": 25,
    "environment.network.nat_gateway": True,
    "environment.network.zone_ids": ("apne1-az4", "apne1-az1"),
    "environment.stream.capacity_mode": "ON_DEMAND",
    "environment.stream.peak_records_per_second": 1000,  # 2 shards
    "environment.stream.average_record_bytes": 8192,  # 2 shards
    "environment.stream.headroom": 5.0,  # 2 shards
    "environment.stream.retention_hours": 48,
    "environment.cache.node_type": "cache.r7g.large",
    "environment.cache.num_nodes": 3,
    "environment.cache.automatic_failover": False,
    "environment.cache.engine_version": "7.0",
    "environment.cache.snapshot_retention_days": 3,
    "environment.cache.snapshot_window": "13:00-14:00",
    "environment.cache.maintenance_window": "mon:17:00-mon:18:00",
    "environment.database.instance_class": "db.r7g.large",
    "environment.database.engine_version": "16.4",
    "environment.database.allocated_storage_gb": 100,
    "environment.database.max_allocated_storage_gb": 500,
    "environment.database.multi_az": False,
    "environment.database.backup_retention_days": 14,
    "environment.database.backup_window": "13:00-14:00",
    "environment.database.maintenance_window": "mon:18:00-mon:19:00",
    "environment.database.deletion_protection": False,
    "environment.database.skip_final_snapshot": True,
    "environment.database.slow_statement_ms": 1000,
    "environment.database.db_name": "txns",
    "environment.database.master_username": "shop_admin",
    "environment.database.transaction_retention_months": 120,
    "environment.database.rejected_retention_days": 30,
    "environment.database.conflict_retention_days": 14,
    "environment.database.alert_retention_days": 400,
    "environment.database.partition_drop_grace_days": 7,
    "environment.database.export_before_drop": True,
    "environment.database.backup_replication_region": "ap-northeast-3",
    "environment.database.restore": RestoreSettings(source=f"japancart-{ENVIRONMENT}-transactions", latest=True),
    "environment.alarms.alert_emails": ("oncall@example.com",),
    "environment.alarms.period_seconds": 60,
    "environment.alarms.evaluation_periods": 3,
    "environment.alarms.stream_iterator_age_ms": 120_000,
    "environment.alarms.stream_throttled_requests": 5,
    "environment.alarms.cache_engine_cpu_percent": 60,
    "environment.alarms.cache_memory_percent": 70,
    "environment.alarms.cache_evictions": 10,
    "environment.alarms.cache_replication_lag_seconds": 60,
    "environment.alarms.db_cpu_percent": 70,
    "environment.alarms.db_free_storage_gib": 10,
    "environment.alarms.db_connections": 300,
    "environment.alarms.db_freeable_memory_mib": 512,
    "environment.alarms.db_read_latency_ms": 30,
    "environment.alarms.db_write_latency_ms": 30,
    "environment.processor.memory_mb": 1024,
    "environment.processor.timeout_seconds": 120,
    "environment.processor.reserved_concurrency": 10,
    "environment.processor.batch_size": 100,
    "environment.processor.batching_window_seconds": 5,
    "environment.processor.parallelization_factor": 2,
    "environment.processor.max_retries": 3,
    "environment.processor.max_record_age_seconds": 3600,
    "environment.processor.history_ttl_seconds": 172_800,
    "environment.processor.rule_max_txns_per_hour": 50,
    "environment.processor.rule_max_daily_total": 3_000_000,
    "environment.processor.rule_max_single_amount": 600_000,
    "environment.processor.errors_threshold": 1,
    "environment.processor.throttles_threshold": 1,
    "environment.processor.iterator_age_ms": 120_000,
    "environment.processor.dead_letter_threshold": 1,
    "environment.processor.rule_hits_threshold": 1,
    "environment.processor.conflicts_threshold": 1,
}
#: Fields that shape only the state bootstrap stack, or only the CI stack: flipped and compared there instead.
BOOTSTRAP_ONLY = frozenset({"backend.bootstrap_state", "backend.environment_roles", "backend.account_id"})
CI_ONLY = frozenset(
    {
        "ci.repository",
        "ci.repository_id",
        "ci.oidc_subject",
        "ci.pull_request_workflow",
        "ci.deploy_workflow",
        "ci.repository_owner_id",
    }
)
#: Settings a field is used with, set on both sides of its flip: the owner id shapes only the `immutable`
#: subject (which needs both ids); a bucket in another account or region needs no key of the old one.
CONTEXT: dict[str, dict[str, Any]] = {
    "ci.repository_owner_id": {"ci.repository_owner_id": 41, "ci.oidc_subject": "immutable"},
    "ci.oidc_subject": {"ci.repository_owner_id": 42},
    "backend.account_id": {"backend.state_keys": {}},
    "backend.region": {"backend.state_keys": {}},
}
#: Fields whose flip cannot change any stack, and why.
SYNTH_NEUTRAL: dict[str, str] = {
    "ci.approver_teams": "read by the label gate (the pull-request workflow reads config/environments.toml), "
    "not by any stack; validated here so a typo stops synthesis",
    "environment.load.average_records_per_second": "sizing only: stacks/capacity.py checks it against the Redis "
    "node, shards and disk before synthesis (tests/test_capacity.py flips it); no resource depends on it",
    "environment.load.headroom": "sizing only: the history's margin in stacks/capacity.py (tests/test_capacity.py)",
}


def config_fields() -> Iterator[str]:
    """Every leaf field of the configuration, as the dotted names FLIPS uses."""
    yield from (f"project.{f.name}" for f in dataclasses.fields(_config().project))
    yield from (f"backend.{f.name}" for f in dataclasses.fields(_config().backend))
    yield from (f"ci.{f.name}" for f in dataclasses.fields(_config().ci))
    yield from (f"emulator.{f.name}" for f in dataclasses.fields(EmulatorConfig))
    env = _config().environments[0]
    for field in dataclasses.fields(EnvironmentConfig):
        value = getattr(env, field.name)
        if dataclasses.is_dataclass(value):
            yield from (f"environment.{field.name}.{f.name}" for f in dataclasses.fields(value))
        else:
            yield f"environment.{field.name}"


_BASE: list[AppConfig] = []


def _config() -> AppConfig:
    """The environment under test on the construct defaults (read once)."""
    if not _BASE:
        with tempfile.TemporaryDirectory() as scratch:
            config_file = write_config(
                Path(scratch), {ENVIRONMENT: {}}, ci={"oidc_subject": "custom", "repository_id": TEST_REPOSITORY_ID}
            )
            _BASE.append(load_config({**TEST_BACKEND, "JAPANCART_CONFIG": str(config_file)}))
    return _BASE[0]


def flipped(config: AppConfig, field: str, value: Any) -> AppConfig:
    """`config` with one field replaced (validated again by the dataclasses)."""
    section, _, rest = field.partition(".")
    if section == "emulator":
        return dataclasses.replace(config, emulator=EmulatorConfig(endpoint=value))
    if section in ("project", "backend", "ci"):
        return dataclasses.replace(config, **{section: dataclasses.replace(getattr(config, section), **{rest: value})})
    env = config.environments[0]
    inner, _, leaf = rest.partition(".")
    if leaf:
        env = dataclasses.replace(env, **{inner: dataclasses.replace(getattr(env, inner), **{leaf: value})})
    else:
        env = dataclasses.replace(env, **{inner: value})
    return dataclasses.replace(config, environments=(env,))


BUNDLE = LambdaBundle(path=str(Path(__file__).resolve()), sha256_base64="dGVzdA==", migrations_checksum="0" * 64)


def synthesized(config: AppConfig, field: str) -> dict[str, Any]:
    """The one stack `field` can shape, synthesized in process, without the values that differ per run."""
    app = cdktf.Testing.app()
    if field in BOOTSTRAP_ONLY:
        stack = StateBootstrapStack(app, config)
    elif field in CI_ONLY:
        stack = CiIdentityStack(app, config, config.environments[0].account_id)
    else:
        stack = TransactionMonitoringStack(app, config, config.environments[0], BUNDLE)
    return json.loads(cdktf.Testing.synth(stack))


@pytest.fixture(scope="module")
def baseline() -> dict[str, dict[str, Any]]:
    """The unflipped stacks: the environment's, the bootstrap's, the CI stack's."""
    config = _config()
    return {
        "": synthesized(config, ""),
        "bootstrap": synthesized(config, next(iter(BOOTSTRAP_ONLY))),
        "ci": synthesized(config, next(iter(CI_ONLY))),
    }


def test_every_configuration_field_has_a_flip_or_a_reason() -> None:
    fields = set(config_fields())
    assert fields - FLIPS.keys() - SYNTH_NEUTRAL.keys() == set(), "add a flip (or a SYNTH_NEUTRAL reason)"
    assert FLIPS.keys() - fields == set() and SYNTH_NEUTRAL.keys() - fields == set(), "stale entries"
    assert all(reason.strip() for reason in SYNTH_NEUTRAL.values())


@pytest.mark.parametrize("field", sorted(FLIPS))
def test_flipping_a_field_changes_the_synthesized_stack(field: str, baseline: dict[str, dict[str, Any]]) -> None:
    base = _config()
    before = _leaf(base, field)
    assert before != FLIPS[field], f"{field}: the flip must differ from the default {before!r}"
    for other, value in CONTEXT.get(field, {}).items():
        base = flipped(base, other, value)
    after = synthesized(flipped(base, field, FLIPS[field]), field)
    which = "bootstrap" if field in BOOTSTRAP_ONLY else "ci" if field in CI_ONLY else ""
    reference = synthesized(base, field) if field in CONTEXT else baseline[which]
    assert after != reference, f"{field} = {FLIPS[field]!r} left the stack unchanged"


def _leaf(config: AppConfig, field: str) -> Any:
    section, _, rest = field.partition(".")
    if section == "emulator":
        return None if config.emulator is None else getattr(config.emulator, rest)
    node: Any = config.environments[0] if section == "environment" else getattr(config, section)
    for part in rest.split("."):
        node = getattr(node, part)
    return node
