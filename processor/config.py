"""All runtime configuration parsing, in one place.

The Terraform constructs set the environment variables named in :mod:`processor.contract`; tests and local
runs can build a :class:`Settings` directly and skip Secrets Manager. Errors
name the variable (or secret key) and the offending value, never a secret.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from processor.contract import (
    AUTH_IAM,
    AUTH_PASSWORD,
    ENV_DB_AUTH,
    ENV_DB_CA_BUNDLE,
    ENV_DB_PASSWORD_SECRET,
    ENV_DB_SECRET,
    ENV_ENVIRONMENT,
    ENV_HISTORY_TTL,
    ENV_MAX_DAILY_TOTAL,
    ENV_MAX_SINGLE_AMOUNT,
    ENV_MAX_TXNS_PER_HOUR,
    ENV_METRIC_NAMESPACE,
    ENV_REDIS_AUTH,
    ENV_REDIS_CACHE_NAME,
    ENV_REDIS_HOST,
    ENV_REDIS_PASSWORD_SECRET,
    ENV_REDIS_PORT,
    ENV_REDIS_USER,
    ENV_REGIONS,
    ENV_STREAM_ARN,
    ENVIRONMENTS,
    LONGEST_RULE_WINDOW_SECONDS,
    SECRET_APP_USERNAME,
    SECRET_MAINTAINER_USERNAME,
    SECRET_PASSWORD_SECRET_ARN,
    ConfigError,
)

# Amazon's RDS certificate authorities, shipped in the zip (see processor/certs/SOURCE.md).
RDS_CA_BUNDLE = str(Path(__file__).resolve().parent / "certs" / "rds-ca-bundle.pem")

SecretFetcher = Callable[[str], str]


@dataclass(frozen=True)
class DbSettings:
    """Where and as whom to connect. TLS is always on and always verified against ``ca_file``.

    ``auth="iam"`` signs a 15-minute RDS auth token as the password at each connect (no stored
    credential); ``auth="password"`` uses ``password`` (the migration function's master secret,
    or the test rig's password for the application role).
    """

    host: str
    port: int
    dbname: str
    username: str
    auth: str = AUTH_PASSWORD
    password: str | None = None
    region: str | None = None
    ca_file: str = RDS_CA_BUNDLE

    def __repr__(self) -> str:  # keep the password out of logs and tracebacks
        return (
            f"DbSettings(host={self.host!r}, port={self.port}, dbname={self.dbname!r}, "
            f"username={self.username!r}, auth={self.auth!r})"
        )


@dataclass(frozen=True)
class RedisSettings:
    """An ElastiCache RBAC user over TLS; certificates are checked against the system trust store.

    ``auth="iam"`` signs a 15-minute ElastiCache IAM token for ``username`` on the replication group
    ``cache_name`` at each connect (no stored credential; ``processor.redis_iam``); ``auth="password"``
    uses ``password`` (the test rig).
    """

    host: str
    port: int
    username: str
    password: str | None = None
    auth: str = AUTH_PASSWORD
    cache_name: str | None = None
    region: str | None = None

    def __repr__(self) -> str:  # keep the password out of logs and tracebacks
        return (
            f"RedisSettings(host={self.host!r}, port={self.port}, username={self.username!r}, "
            f"auth={self.auth!r}, cache_name={self.cache_name!r})"
        )


@dataclass(frozen=True)
class RuleThresholds:
    """Per-environment limits; a rule fires when the observed value is strictly greater."""

    max_txns_per_hour: int
    max_daily_total: Decimal
    max_single_amount: Decimal


@dataclass(frozen=True)
class Settings:
    """What the processor runs with. The construct sets every variable these come from, so none has a
    default here to compete with the construct's (a missing one fails fast, naming the variable)."""

    db: DbSettings
    redis: RedisSettings
    thresholds: RuleThresholds
    history_ttl_seconds: int
    metric_namespace: str
    environment: str
    stream_arn: str  # records from any other eventSourceARN are refused


def parse_stream_arn(name: str, raw: Any) -> str:
    """A Kinesis stream ARN (``arn:<partition>:kinesis:<region>:<account>:stream/<name>``)."""
    from processor.kinesis import stream_parts

    value = str(raw).strip()
    try:
        stream_parts(value)
    except ValueError:
        raise ConfigError(
            f"{name} must be a Kinesis stream ARN like arn:aws:kinesis:<region>:<account>:stream/<name>, got {raw!r}"
        ) from None
    return value


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


def parse_port(name: str, raw: Any) -> int:
    """A TCP port, 1-65535; ``name`` is used in the error message."""
    value = parse_positive_int(name, raw)
    if value > 65_535:
        raise ConfigError(f"{name} must be a port from 1 to 65535, got {raw!r}")
    return value


def parse_history_ttl(raw: Any) -> int:
    """The history TTL the construct configured: whole seconds, at least the longest rule window."""
    value = parse_positive_int(ENV_HISTORY_TTL, raw)
    if value < LONGEST_RULE_WINDOW_SECONDS:
        raise ConfigError(
            f"{ENV_HISTORY_TTL} must be at least {LONGEST_RULE_WINDOW_SECONDS} (the longest rule window), got {raw!r}"
        )
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


def _secret_json(fetch: SecretFetcher, arn: str, what: str) -> dict[str, Any]:
    try:
        data = json.loads(fetch(arn))
    except json.JSONDecodeError:
        raise ConfigError(f"{what} secret {arn} is not valid JSON") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{what} secret {arn} must be a JSON object")
    return data


def _secret_field(data: dict[str, Any], key: str, arn: str) -> Any:
    if key not in data or data[key] in (None, ""):
        raise ConfigError(f"secret {arn} is missing key {key!r}")
    return data[key]


def _region(env: Mapping[str, str]) -> str | None:
    return next((env[name].strip() for name in ENV_REGIONS if env.get(name, "").strip()), None)


def _connection(fetch: SecretFetcher, connection_arn: str) -> dict[str, Any]:
    conn = _secret_json(fetch, connection_arn, "database connection")
    engine = conn.get("engine", "postgres")
    if engine not in ("postgres", "postgresql"):
        raise ConfigError(f"secret {connection_arn} key 'engine' must be 'postgres', got {engine!r}")
    return conn


def _db_settings(
    env: Mapping[str, str], conn: dict[str, Any], arn: str, *, username: str, auth: str, password: str | None
) -> DbSettings:
    return DbSettings(
        host=str(_secret_field(conn, "host", arn)),
        port=parse_positive_int(f"secret {arn} key 'port'", conn.get("port", 5432)),
        dbname=str(_secret_field(conn, "dbname", arn)),
        username=username,
        auth=auth,
        password=password,
        region=_region(env),
        ca_file=env.get(ENV_DB_CA_BUNDLE, "").strip() or RDS_CA_BUNDLE,
    )


def _auth(env: Mapping[str, str], name: str) -> str:
    """An auth mode variable (``DB_AUTH``, ``REDIS_AUTH``): ``iam`` (which needs the region) or ``password``."""
    auth = _required(env, name)
    if auth not in (AUTH_IAM, AUTH_PASSWORD):
        raise ConfigError(f"{name} must be {AUTH_IAM!r} or {AUTH_PASSWORD!r}, got {auth!r}")
    if auth == AUTH_IAM and _region(env) is None:
        raise ConfigError(f"{name}={AUTH_IAM} needs AWS_REGION (Lambda sets it), but it is not set")
    return auth


def _rig_password(env: Mapping[str, str], fetch: SecretFetcher, name: str, username: str, what: str) -> str:
    """Password mode (the test rig): the password in the secret ``env[name]``, which must be ``username``'s."""
    arn = _required(env, name)
    secret = _secret_json(fetch, arn, what)
    if secret.get("username") != username:
        raise ConfigError(f"secret {arn} key 'username' must be {username!r}, got {secret.get('username')!r}")
    return str(_secret_field(secret, "password", arn))


def _iam_role_db_settings(env: Mapping[str, str], fetch: SecretFetcher, username_key: str) -> DbSettings:
    """A role that signs in with IAM tokens (`DB_AUTH=iam`), named by the connection secret's `username_key`;
    on the test rig (`DB_AUTH=password`) with the password of `DB_PASSWORD_SECRET_ARN`, which must name it."""
    arn = _required(env, ENV_DB_SECRET)
    auth = _auth(env, ENV_DB_AUTH)
    conn = _connection(fetch, arn)
    username = str(_secret_field(conn, username_key, arn))
    password = None
    if auth == AUTH_PASSWORD:
        password = _rig_password(env, fetch, ENV_DB_PASSWORD_SECRET, username, "database password")
    return _db_settings(env, conn, arn, username=username, auth=auth, password=password)


def app_db_settings(env: Mapping[str, str], fetch: SecretFetcher) -> DbSettings:
    """The processor's connection: the application role, never the master user."""
    return _iam_role_db_settings(env, fetch, SECRET_APP_USERNAME)


def maintainer_db_settings(env: Mapping[str, str], fetch: SecretFetcher) -> DbSettings:
    """The daily maintenance's connection: the maintainer role, never the master user."""
    return _iam_role_db_settings(env, fetch, SECRET_MAINTAINER_USERNAME)


def master_db_settings(env: Mapping[str, str], fetch: SecretFetcher) -> DbSettings:
    """The migration function's connection: the master user, password from the RDS-managed secret."""
    arn = _required(env, ENV_DB_SECRET)
    conn = _connection(fetch, arn)
    password_arn = str(_secret_field(conn, SECRET_PASSWORD_SECRET_ARN, arn))
    managed = _secret_json(fetch, password_arn, "database password")
    # The managed secret holds the authoritative username (it is what RDS rotates).
    username = str(managed.get("username") or _secret_field(conn, "username", arn))
    return _db_settings(
        env,
        conn,
        arn,
        username=username,
        auth=AUTH_PASSWORD,
        password=str(_secret_field(managed, "password", password_arn)),
    )


# An ElastiCache user id (and so an IAM user's name, which must equal it): ElastiCache stores ids in
# lowercase and allows letters, digits and hyphens, starting with a letter.
_REDIS_USER_ID = re.compile(r"[a-z][a-z0-9-]*")
# A replication group id: 1-40 lowercase letters, digits and hyphens, starting with a letter, not ending
# with a hyphen nor holding two in a row.
_REPLICATION_GROUP_ID = re.compile(r"[a-z](?:(?!.*--)[a-z0-9-]{0,38}[a-z0-9])?")
_HOST_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?")


def redis_endpoint_settings(env: Mapping[str, str]) -> RedisSettings:
    """Where and as whom to reach Redis, from the plain variables (no secret is read here)."""
    host = _required(env, ENV_REDIS_HOST)
    if not _HOST_NAME.fullmatch(host):
        raise ConfigError(f"{ENV_REDIS_HOST} must be a host name, got {host!r}")
    port = parse_port(ENV_REDIS_PORT, _required(env, ENV_REDIS_PORT))
    username = _required(env, ENV_REDIS_USER)
    auth = _auth(env, ENV_REDIS_AUTH)
    if auth == AUTH_PASSWORD:
        _required(env, ENV_REDIS_PASSWORD_SECRET)
        return RedisSettings(host, port, username, auth=auth)
    if not _REDIS_USER_ID.fullmatch(username):
        raise ConfigError(
            f"{ENV_REDIS_USER} must be an ElastiCache IAM user id (lowercase letters, digits and "
            f"hyphens, starting with a letter), got {username!r}"
        )
    cache_name = _required(env, ENV_REDIS_CACHE_NAME)
    if not _REPLICATION_GROUP_ID.fullmatch(cache_name):
        raise ConfigError(
            f"{ENV_REDIS_CACHE_NAME} must be a replication group id (1-40 lowercase letters, digits "
            f"and single hyphens, starting with a letter), got {cache_name!r}"
        )
    return RedisSettings(host, port, username, auth=auth, cache_name=cache_name, region=_region(env))


def redis_settings(env: Mapping[str, str], fetch: SecretFetcher) -> RedisSettings:
    """The processor's Redis user: IAM tokens in AWS, or the rig's password from ``REDIS_PASSWORD_SECRET_ARN``."""
    settings = redis_endpoint_settings(env)
    if settings.auth == AUTH_IAM:
        return settings
    return replace(
        settings, password=_rig_password(env, fetch, ENV_REDIS_PASSWORD_SECRET, settings.username, "redis password")
    )


def settings_from_env(env: Mapping[str, str], fetch: SecretFetcher) -> Settings:
    """Build :class:`Settings` from Lambda environment variables plus the secrets they name."""
    environment = _required(env, ENV_ENVIRONMENT)
    if environment not in ENVIRONMENTS:
        raise ConfigError(f"{ENV_ENVIRONMENT} must be one of {', '.join(ENVIRONMENTS)}, got {environment!r}")
    # Validate the plain variables before any network call to Secrets Manager.
    thresholds = thresholds_from_env(env)
    ttl = parse_history_ttl(_required(env, ENV_HISTORY_TTL))
    stream_arn = parse_stream_arn(ENV_STREAM_ARN, _required(env, ENV_STREAM_ARN))
    redis_endpoint_settings(env)
    return Settings(
        db=app_db_settings(env, fetch),
        redis=redis_settings(env, fetch),
        thresholds=thresholds,
        history_ttl_seconds=ttl,
        metric_namespace=_required(env, ENV_METRIC_NAMESPACE),
        environment=environment,
        stream_arn=stream_arn,
    )
