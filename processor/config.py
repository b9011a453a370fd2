"""All runtime configuration parsing, in one place.

The Terraform construct sets the environment variables below; tests and local
runs can build a :class:`Settings` directly and skip Secrets Manager. Errors
name the variable (or secret key) and the offending value, never a secret.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Callable, Mapping, Optional

ENV_DB_SECRET = "DB_CONNECTION_SECRET_ARN"
ENV_REDIS_SECRET = "REDIS_SECRET_ARN"
ENV_HISTORY_TTL = "HISTORY_TTL_SECONDS"
ENV_MAX_TXNS_PER_HOUR = "RULE_MAX_TXNS_PER_HOUR"
ENV_MAX_DAILY_TOTAL = "RULE_MAX_DAILY_TOTAL"
ENV_MAX_SINGLE_AMOUNT = "RULE_MAX_SINGLE_AMOUNT"
ENV_METRIC_NAMESPACE = "METRIC_NAMESPACE"
ENV_ENVIRONMENT = "ENVIRONMENT"

DEFAULT_HISTORY_TTL_SECONDS = 86400
DEFAULT_METRIC_NAMESPACE = "JapanCart/TransactionMonitoring"
ENVIRONMENTS = ("dev", "staging", "prod")

SecretFetcher = Callable[[str], str]


class ConfigError(ValueError):
    """Configuration is missing or malformed; message names the variable and value."""


@dataclass(frozen=True)
class DbSettings:
    host: str
    port: int
    dbname: str
    username: str
    password: str
    ssl: bool = True

    def __repr__(self) -> str:  # keep the password out of logs and tracebacks
        return (f"DbSettings(host={self.host!r}, port={self.port}, dbname={self.dbname!r}, "
                f"username={self.username!r}, ssl={self.ssl})")


@dataclass(frozen=True)
class RedisSettings:
    host: str
    port: int
    auth_token: Optional[str]
    tls: bool = True

    def __repr__(self) -> str:
        return f"RedisSettings(host={self.host!r}, port={self.port}, tls={self.tls})"


@dataclass(frozen=True)
class RuleThresholds:
    """Per-environment limits; a rule fires when the observed value is strictly greater."""

    max_txns_per_hour: int
    max_daily_total: Decimal
    max_single_amount: Decimal


@dataclass(frozen=True)
class Settings:
    db: DbSettings
    redis: RedisSettings
    thresholds: RuleThresholds
    history_ttl_seconds: int = DEFAULT_HISTORY_TTL_SECONDS
    metric_namespace: str = DEFAULT_METRIC_NAMESPACE
    environment: str = "dev"


def _required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise ConfigError(f"environment variable {name} is required but not set")
    return value


def parse_positive_int(name: str, raw: Any) -> int:
    """Parse a strictly positive integer; ``name`` is used in the error message."""
    try:
        value = int(str(raw).strip())
    except ValueError:
        raise ConfigError(f"{name} must be a positive integer, got {raw!r}") from None
    if value <= 0:
        raise ConfigError(f"{name} must be a positive integer, got {raw!r}")
    return value


def parse_positive_decimal(name: str, raw: Any) -> Decimal:
    try:
        value = Decimal(str(raw).strip())
    except InvalidOperation:
        raise ConfigError(f"{name} must be a positive number, got {raw!r}") from None
    if not value.is_finite() or value <= 0:
        raise ConfigError(f"{name} must be a positive number, got {raw!r}")
    return value


def thresholds_from_env(env: Mapping[str, str]) -> RuleThresholds:
    return RuleThresholds(
        max_txns_per_hour=parse_positive_int(ENV_MAX_TXNS_PER_HOUR, _required(env, ENV_MAX_TXNS_PER_HOUR)),
        max_daily_total=parse_positive_decimal(ENV_MAX_DAILY_TOTAL, _required(env, ENV_MAX_DAILY_TOTAL)),
        max_single_amount=parse_positive_decimal(ENV_MAX_SINGLE_AMOUNT, _required(env, ENV_MAX_SINGLE_AMOUNT)),
    )


def _secret_json(fetch: SecretFetcher, arn: str, what: str) -> dict:
    try:
        data = json.loads(fetch(arn))
    except json.JSONDecodeError:
        raise ConfigError(f"{what} secret {arn} is not valid JSON") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{what} secret {arn} must be a JSON object")
    return data


def _secret_field(data: dict, key: str, arn: str) -> Any:
    if key not in data or data[key] in (None, ""):
        raise ConfigError(f"secret {arn} is missing key {key!r}")
    return data[key]


def db_settings_from_secrets(fetch: SecretFetcher, connection_arn: str) -> DbSettings:
    """Read the connection secret, then the RDS-managed password secret it points to."""
    conn = _secret_json(fetch, connection_arn, "database connection")
    engine = conn.get("engine", "postgres")
    if engine not in ("postgres", "postgresql"):
        raise ConfigError(f"secret {connection_arn} key 'engine' must be 'postgres', got {engine!r}")
    password_arn = str(_secret_field(conn, "password_secret_arn", connection_arn))
    managed = _secret_json(fetch, password_arn, "database password")
    return DbSettings(
        host=str(_secret_field(conn, "host", connection_arn)),
        port=parse_positive_int(f"secret {connection_arn} key 'port'", conn.get("port", 5432)),
        dbname=str(_secret_field(conn, "dbname", connection_arn)),
        # The managed secret holds the authoritative username (it is what RDS rotates).
        username=str(managed.get("username") or _secret_field(conn, "username", connection_arn)),
        password=str(_secret_field(managed, "password", password_arn)),
        ssl=bool(conn.get("ssl", True)),
    )


def redis_settings_from_secret(fetch: SecretFetcher, arn: str) -> RedisSettings:
    data = _secret_json(fetch, arn, "redis")
    tls = data.get("tls", True)
    if not isinstance(tls, bool):
        raise ConfigError(f"secret {arn} key 'tls' must be true or false, got {tls!r}")
    token = data.get("auth_token")
    return RedisSettings(
        host=str(_secret_field(data, "host", arn)),
        port=parse_positive_int(f"secret {arn} key 'port'", data.get("port", 6379)),
        auth_token=str(token) if token else None,
        tls=tls,
    )


def db_settings_from_env(env: Mapping[str, str], fetch: SecretFetcher) -> DbSettings:
    """Only the database part (used by ``python -m processor.migrate``)."""
    return db_settings_from_secrets(fetch, _required(env, ENV_DB_SECRET))


def settings_from_env(env: Mapping[str, str], fetch: SecretFetcher) -> Settings:
    """Build :class:`Settings` from Lambda environment variables plus two secrets."""
    environment = _required(env, ENV_ENVIRONMENT)
    if environment not in ENVIRONMENTS:
        raise ConfigError(f"{ENV_ENVIRONMENT} must be one of {', '.join(ENVIRONMENTS)}, got {environment!r}")
    ttl_raw = env.get(ENV_HISTORY_TTL, "").strip() or str(DEFAULT_HISTORY_TTL_SECONDS)
    # Validate the plain variables before any network call to Secrets Manager.
    thresholds = thresholds_from_env(env)
    ttl = parse_positive_int(ENV_HISTORY_TTL, ttl_raw)
    db_arn, redis_arn = _required(env, ENV_DB_SECRET), _required(env, ENV_REDIS_SECRET)
    return Settings(
        db=db_settings_from_secrets(fetch, db_arn),
        redis=redis_settings_from_secret(fetch, redis_arn),
        thresholds=thresholds,
        history_ttl_seconds=ttl,
        metric_namespace=env.get(ENV_METRIC_NAMESPACE, "").strip() or DEFAULT_METRIC_NAMESPACE,
        environment=environment,
    )
