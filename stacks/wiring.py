"""Configuration -> construct props: the one place each configuration field meets the prop it sets.

One function per construct builds its props from the configuration, a plain mapping. Everything was
validated when the configuration loaded (stacks/config.py): each section by the constructs' own settings
classes, the rules between sections, and every derived name by the rule of the construct that takes it
(stacks/names.py). A prop refused here is a wiring bug, not a configuration error.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from cdktf import TerraformProvider

from constructs_lib.alarms import AlarmThresholds, AlertSettings, AlertTopic, AlertTopicProps, SystemAlarmsProps
from constructs_lib.bundled_function import LambdaBundle
from constructs_lib.cache import TransactionCache, TransactionCacheProps
from constructs_lib.database import TransactionDatabase, TransactionDatabaseProps
from constructs_lib.database_recovery import BackupReplicationProps
from constructs_lib.encryption import EncryptionKey, EnvironmentKeys
from constructs_lib.maintenance import DataMaintenanceProps
from constructs_lib.networking import Networking, NetworkingProps
from constructs_lib.processor import TransactionProcessor, TransactionProcessorProps
from constructs_lib.stream import TransactionStream, TransactionStreamProps
from processor.contract import APP_DB_USER, REDIS_ACL_RULES
from stacks.config import AppConfig, EnvironmentConfig


def _section(env: EnvironmentConfig, section: str, part: type | None = None) -> dict[str, Any]:
    """A configuration section's fields (or only those of `part`, the props base that owns them): the
    configuration's sections are the constructs' settings, validated when they loaded, passed on by name."""
    settings = getattr(env, section)
    return {f.name: getattr(settings, f.name) for f in fields(part or settings)}


def network_props(config: AppConfig, env: EnvironmentConfig, logs_key: EncryptionKey) -> NetworkingProps:
    """`network.*`, the region and the log retention (flow logs)."""
    settings = _section(env, "network")
    return NetworkingProps(
        **settings,
        name=config.names(env).prefix,
        region=env.region,
        key=logs_key,
        flow_log_retention_days=env.log_retention_days,
    )


def stream_props(config: AppConfig, env: EnvironmentConfig, data_key: EncryptionKey) -> TransactionStreamProps:
    """`stream.*`."""
    settings = _section(env, "stream")
    return TransactionStreamProps(
        **settings,
        name=config.names(env).stream,
        key=data_key,
    )


def cache_props(
    config: AppConfig, env: EnvironmentConfig, keys: EnvironmentKeys, network: Networking
) -> TransactionCacheProps:
    """`cache.*` and log retention (slow log); the Redis user has the processor's rules and is named for the
    group (`<project>-<env>-history-processor`), so each environment's user id is its own in a shared account."""
    settings = _section(env, "cache")
    return TransactionCacheProps(
        **settings,
        name=config.names(env).cache,
        keys=keys,
        networking=network,
        app_access_rules=REDIS_ACL_RULES,
        log_retention_days=env.log_retention_days,
    )


def database_props(
    config: AppConfig, env: EnvironmentConfig, keys: EnvironmentKeys, network: Networking
) -> TransactionDatabaseProps:
    """`database.*`, log retention (exported logs) and the secret's recovery window."""
    settings = _section(env, "database")
    return TransactionDatabaseProps(
        **settings,
        name=config.names(env).database,
        keys=keys,
        networking=network,
        connection_secret_name=config.names(env).connection_secret,
        app_username=APP_DB_USER,
        log_retention_days=env.log_retention_days,
        secret_recovery_days=env.secret_recovery_days,
    )


def backup_replication_props(
    config: AppConfig, env: EnvironmentConfig, database: TransactionDatabase, provider: TerraformProvider
) -> BackupReplicationProps:
    """`database.backup_replication_region` (the provider's region) and `backup_retention_days`."""
    return BackupReplicationProps(
        name=config.names(env).prefix,
        source_arn=database.instance_arn,
        retention_days=env.database.backup_retention_days,
        provider=provider,
    )


def alert_topic_props(config: AppConfig, env: EnvironmentConfig, logs_key: EncryptionKey) -> AlertTopicProps:
    """`alarms.alert_emails`, `period_seconds`, `evaluation_periods` and log retention (delivery-status logs)."""
    settings = _section(env, "alarms", AlertSettings)
    return AlertTopicProps(
        **settings,
        name=config.names(env).prefix,
        key=logs_key,
        log_retention_days=env.log_retention_days,
    )


def system_alarms_props(
    config: AppConfig,
    env: EnvironmentConfig,
    topic: AlertTopic,
    stream: TransactionStream,
    cache: TransactionCache,
    database: TransactionDatabase,
) -> SystemAlarmsProps:
    """The `alarms.*` thresholds of the stream, the cache and the database, and the dashboard's region."""
    settings = _section(env, "alarms", AlarmThresholds)
    return SystemAlarmsProps(
        **settings,
        name=config.names(env).prefix,
        region=env.region,
        topic=topic,
        stream=stream,
        cache=cache,
        database=database,
    )


def processor_props(
    config: AppConfig,
    env: EnvironmentConfig,
    bundle: LambdaBundle,
    keys: EnvironmentKeys,
    network: Networking,
    stream: TransactionStream,
    cache: TransactionCache,
    database: TransactionDatabase,
    topic: AlertTopic,
) -> TransactionProcessorProps:
    """`processor.*` and log retention; the environment's name is the metric dimension."""
    settings = _section(env, "processor")
    return TransactionProcessorProps(
        **settings,
        name=config.names(env).prefix,
        environment=env.name,
        bundle=bundle,
        keys=keys,
        networking=network,
        stream=stream,
        cache=cache,
        database=database,
        topic=topic,
        log_retention_days=env.log_retention_days,
    )


def maintenance_props(
    config: AppConfig,
    env: EnvironmentConfig,
    bundle: LambdaBundle,
    keys: EnvironmentKeys,
    network: Networking,
    database: TransactionDatabase,
    topic: AlertTopic,
    processor: TransactionProcessor,
) -> DataMaintenanceProps:
    """The daily data lifecycle: log retention; what it keeps reaches the database through `database.*`."""
    return DataMaintenanceProps(
        name=config.names(env).prefix,
        bundle=bundle,
        code=processor.code,
        after=processor.migration_ready,
        keys=keys,
        networking=network,
        database=database,
        topic=topic,
        log_retention_days=env.log_retention_days,
    )
