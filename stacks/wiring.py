"""Configuration -> construct props: the one place each configuration field meets the prop it sets.

One function per construct builds its props from the validated configuration. A prop a construct
refuses is reported as the configuration field it came from (`environments.prod.cache.num_nodes`,
or `project.name` for a resource name derived from it), so every refusal reads as configuration.
Rules that span sections of one environment live in the configuration layer (stacks/config.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from constructs_lib.alarms import AlarmThresholds, AlertSettings, AlertTopic, AlertTopicProps, SystemAlarmsProps
from constructs_lib.cache import TransactionCache, TransactionCacheProps
from constructs_lib.database import TransactionDatabase, TransactionDatabaseProps
from constructs_lib.encryption import EncryptionKey, EnvironmentKeys
from constructs_lib.maintenance import DataMaintenanceProps
from constructs_lib.networking import Networking, NetworkingProps
from constructs_lib.processor import (
    LambdaBundle,
    TransactionProcessor,
    TransactionProcessorProps,
)
from constructs_lib.stream import TransactionStream, TransactionStreamProps
from processor.contract import APP_DB_USER, REDIS_ACL_RULES, ConfigError
from stacks.config import AppConfig, EnvironmentConfig


@dataclass(frozen=True)
class Source:
    """The configuration field a prop comes from: its path and its value there."""

    path: str
    value: Any


def _props[P](cls: type[P], sources: Mapping[str, Source], **values: Any) -> P:
    """`cls(**values)`; a prop it refuses is re-raised as the configuration field in `sources` it came from.

    A prop equal to its field (or a field of a nested section) keeps the message with the field's path; a
    prop derived from a field (a resource name from `project.name`) names the field and shows what it made.
    A refused prop without a source is a wiring bug and propagates unchanged.
    """
    try:
        return cls(**values)
    except ConfigError as error:
        head, _, rest = error.field.partition(".")
        source = sources.get(head)
        if source is None:
            raise
        if rest:
            raise ConfigError(f"{source.path}.{rest}", error.value, error.expectation) from None
        if error.value is source.value or error.value == source.value:
            raise ConfigError(source.path, error.value, error.expectation) from None
        raise ConfigError(
            source.path,
            source.value,
            f"a value for which {cls.__name__}.{error.field} ({error.value!r}) is {error.expectation}",
        ) from None


def _path(env: EnvironmentConfig, field: str = "") -> str:
    return f"environments.{env.name}" + (f".{field}" if field else "")


def resource_prefix(config: AppConfig, env: EnvironmentConfig) -> str:
    """`<project>-<environment>`: the prefix of every resource name of the environment."""
    return f"{config.project.name}-{env.name}"


def _named(config: AppConfig) -> Source:
    return Source("project.name", config.project.name)


def _common(env: EnvironmentConfig) -> dict[str, Source]:
    return {
        "log_retention_days": Source(_path(env, "log_retention_days"), env.log_retention_days),
        "secret_recovery_days": Source(_path(env, "secret_recovery_days"), env.secret_recovery_days),
    }


def _section(
    env: EnvironmentConfig, section: str, part: type | None = None
) -> tuple[dict[str, Any], dict[str, Source]]:
    """A configuration section's fields (or only those of `part`, the props base that owns them) as props of
    the same names, and where each came from."""
    settings = getattr(env, section)
    values = {f.name: getattr(settings, f.name) for f in fields(part or settings)}
    return values, {name: Source(_path(env, f"{section}.{name}"), value) for name, value in values.items()}


def network_props(config: AppConfig, env: EnvironmentConfig, logs_key: EncryptionKey) -> NetworkingProps:
    """`network.*`, the region and the log retention (flow logs)."""
    settings, sources = _section(env, "network")
    return _props(
        NetworkingProps,
        {
            **sources,
            "name": _named(config),
            "region": Source(_path(env, "region"), env.region),
            "flow_log_retention_days": _common(env)["log_retention_days"],
        },
        **settings,
        name=resource_prefix(config, env),
        region=env.region,
        key=logs_key,
        flow_log_retention_days=env.log_retention_days,
    )


def stream_props(config: AppConfig, env: EnvironmentConfig, data_key: EncryptionKey) -> TransactionStreamProps:
    """`stream.*`."""
    settings, sources = _section(env, "stream")
    return _props(
        TransactionStreamProps,
        {**sources, "name": _named(config)},
        **settings,
        name=f"{resource_prefix(config, env)}-transactions",
        key=data_key,
    )


def cache_props(
    config: AppConfig, env: EnvironmentConfig, keys: EnvironmentKeys, network: Networking
) -> TransactionCacheProps:
    """`cache.*` and log retention (slow log); the Redis user has the processor's rules and is named for the
    group (`<project>-<env>-history-processor`), so each environment's user id is its own in a shared account."""
    settings, sources = _section(env, "cache")
    return _props(
        TransactionCacheProps,
        {**sources, **_common(env), "name": _named(config)},
        **settings,
        name=f"{resource_prefix(config, env)}-history",
        keys=keys,
        networking=network,
        app_access_rules=REDIS_ACL_RULES,
        log_retention_days=env.log_retention_days,
    )


def database_props(
    config: AppConfig, env: EnvironmentConfig, keys: EnvironmentKeys, network: Networking
) -> TransactionDatabaseProps:
    """`database.*`, log retention (exported logs) and the secret's recovery window."""
    settings, sources = _section(env, "database")
    return _props(
        TransactionDatabaseProps,
        {**sources, **_common(env), "name": _named(config), "connection_secret_name": _named(config)},
        **settings,
        name=f"{resource_prefix(config, env)}-transactions",
        keys=keys,
        networking=network,
        connection_secret_name=f"{config.project.name}/{env.name}/db-connection",
        app_username=APP_DB_USER,
        log_retention_days=env.log_retention_days,
        secret_recovery_days=env.secret_recovery_days,
    )


def alert_topic_props(config: AppConfig, env: EnvironmentConfig, logs_key: EncryptionKey) -> AlertTopicProps:
    """`alarms.alert_emails`, `period_seconds`, `evaluation_periods` and log retention (delivery-status logs)."""
    settings, sources = _section(env, "alarms", AlertSettings)
    return _props(
        AlertTopicProps,
        {**sources, **_common(env), "name": _named(config)},
        **settings,
        name=resource_prefix(config, env),
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
    settings, sources = _section(env, "alarms", AlarmThresholds)
    return _props(
        SystemAlarmsProps,
        {**sources, "name": _named(config), "region": Source(_path(env, "region"), env.region)},
        **settings,
        name=resource_prefix(config, env),
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
    settings, sources = _section(env, "processor")
    return _props(
        TransactionProcessorProps,
        {
            **sources,
            **_common(env),
            "name": _named(config),
            "environment": Source(_path(env, "name"), env.name),
            "stream": Source(_path(env, "stream"), env.stream),
        },
        **settings,
        name=resource_prefix(config, env),
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
    return _props(
        DataMaintenanceProps,
        {**_common(env), "name": _named(config)},
        name=resource_prefix(config, env),
        bundle=bundle,
        code=processor.code,
        after=processor.migration_ready,
        keys=keys,
        networking=network,
        database=database,
        topic=topic,
        log_retention_days=env.log_retention_days,
    )
