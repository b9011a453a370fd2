"""The one place configuration is read: `config/environments.toml` plus a few environment variables.

Everything is validated into frozen dataclasses before any construct exists, so a bad
value stops synthesis with one `ConfigError` naming the field and the value.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import os
import tomllib
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from constructs_lib.alarms import AlarmSettings
from constructs_lib.cache import CacheSettings
from constructs_lib.database_settings import DatabaseSettings
from constructs_lib.networking import NetworkSettings
from constructs_lib.processor import ProcessorSettings, dead_letter_retention_seconds
from constructs_lib.stream import StreamSettings
from constructs_lib.validation import (
    LOG_RETENTION_DAYS,
    require,
    require_choice,
    require_name,
    require_recovery_window,
    require_region,
    require_zones_for,
)
from processor.contract import ConfigError
from stacks.load import LoadSettings
from stacks.names import ResourceNames
from stacks.platform_config import (
    ENV_CONFIG_FILE,
    ENV_EMULATOR_ENDPOINT,
    ENV_RETIRED_STATE_KEY,
    ENV_STATE_BUCKET,
    ENV_STATE_KEYS,
    ENV_STATE_REGION,
    KNOWN_ENVIRONMENTS,
    BackendConfig,
    CiConfig,
    EmulatorConfig,
    require_account,
    require_real_account,
)

DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "config" / "environments.toml"
PROTECTED_ENVIRONMENTS = frozenset({"prod"})
#: Environments whose secrets may be deleted at once (secret_recovery_days = 0), so destroy + redeploy works.
DISPOSABLE_ENVIRONMENTS = frozenset({"dev"})


def _check_between_sections(env: EnvironmentConfig) -> None:
    """Rules between sections of one environment, named by the setting a reader would change first."""
    try:
        require_zones_for("database.multi_az", env.database.multi_az, env.network.az_count)
        require_zones_for("cache.automatic_failover", env.cache.automatic_failover, env.network.az_count)
    except ConfigError as error:
        raise ConfigError("network.az_count", env.network.az_count, f"at least 2 when {error.field} is on") from None
    require(
        env.database.backup_replication_region != env.region,
        "database.backup_replication_region",
        env.database.backup_replication_region,
        f"a region other than the environment's ({env.region})",
    )
    # The dead-letter queue keeps pointers into the stream: they must outlive the retries by an hour.
    dead_letter_retention_seconds(env.stream.retention_hours, env.processor.max_record_age_seconds)


@dataclass(frozen=True, kw_only=True)
class EnvironmentConfig:
    """Everything that differs between dev, staging and prod.

    account_id: the AWS account the environment is deployed to (one account per environment is the supported
      layout; several environments in one account is the fallback, docs/deploying.md). Every provider of the
      environment's stack refuses any other account (`allowed_account_ids`).
    """

    name: str
    account_id: str
    region: str = "ap-northeast-1"
    log_retention_days: int = 365
    secret_recovery_days: int = 30
    network: NetworkSettings = field(default_factory=NetworkSettings)
    stream: StreamSettings = field(default_factory=StreamSettings)
    cache: CacheSettings = field(default_factory=CacheSettings)
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    alarms: AlarmSettings = field(default_factory=AlarmSettings)
    processor: ProcessorSettings = field(default_factory=ProcessorSettings)
    load: LoadSettings = field(default_factory=LoadSettings)  # sizing only (stacks/capacity.py); synthesizes nothing

    def __post_init__(self) -> None:
        require_choice("name", self.name, KNOWN_ENVIRONMENTS)
        require_account("account_id", self.account_id)
        require_region("region", self.region)
        require_choice("log_retention_days", self.log_retention_days, LOG_RETENTION_DAYS)
        require_recovery_window("secret_recovery_days", self.secret_recovery_days)
        require(
            self.secret_recovery_days != 0 or self.name in DISPOSABLE_ENVIRONMENTS,
            "secret_recovery_days",
            self.secret_recovery_days,
            "7-30 outside dev (0, delete at once, is for dev only)",
        )
        _check_between_sections(self)
        if self.name in PROTECTED_ENVIRONMENTS:
            require(
                self.database.deletion_protection,
                "database.deletion_protection",
                self.database.deletion_protection,
                f"true in {self.name}",
            )
            require(
                not self.database.skip_final_snapshot,
                "database.skip_final_snapshot",
                self.database.skip_final_snapshot,
                f"false in {self.name}",
            )


@dataclass(frozen=True, kw_only=True)
class ProjectConfig:
    """Identity: `name` prefixes every resource name and the state key; `owner` becomes a tag."""

    name: str = "japancart"
    owner: str = "platform"

    def __post_init__(self) -> None:
        require_name("name", self.name, r"[a-z][a-z0-9-]{1,19}", "lowercase letters, digits and '-' (2-20 characters)")
        require_name("owner", self.owner, r"[A-Za-z0-9 ._@+-]{1,128}", "a tag value (letters, digits, ' ._@+-')")


@dataclass(frozen=True, kw_only=True)
class AppConfig:
    """The whole application: project identity, state backend, CI identities and every environment."""

    project: ProjectConfig
    backend: BackendConfig
    ci: CiConfig
    environments: tuple[EnvironmentConfig, ...]
    emulator: EmulatorConfig | None = None

    def __post_init__(self) -> None:
        seen: dict[str, ipaddress.IPv4Network] = {}
        for env in self.environments:
            network = env.network.network
            for other, other_network in seen.items():
                require(
                    not network.overlaps(other_network),
                    f"environments.{env.name}.network.vpc_cidr",
                    env.network.vpc_cidr,
                    f"a block that does not overlap environments.{other} ({other_network})",
                )
            seen[env.name] = network
            self.names(env).check()
            restore = env.database.restore
            require(
                restore is None or restore.source == self.names(env).database,
                f"environments.{env.name}.database.restore.source",
                restore and restore.source,
                f"this environment's database identifier ({self.names(env).database})",
            )
        names = {env.name for env in self.environments}
        for name in self.backend.environment_roles:
            require(
                name in names,
                "backend.environment_roles",
                name,
                f"a configured environment ({', '.join(sorted(names))})",
            )

    def names(self, env: EnvironmentConfig) -> ResourceNames:
        """The resource names of `env`'s constructs (checked against the constructs' rules at load)."""
        return ResourceNames(self.project.name, env.name)

    def state_key(self, stack: str) -> str:
        """The state object of a stack: `<project>/<stack>/terraform.tfstate`."""
        return f"{self.state_prefix(stack)}/terraform.tfstate"

    def state_prefix(self, stack: str) -> str:
        """Everything of one stack's state (object, lock file, workspaces) lives under `<project>/<stack>/`."""
        return f"{self.project.name}/{stack}"

    def accounts(self) -> tuple[str, ...]:
        """The environments' accounts, in the order the environments are configured, each once."""
        return tuple(dict.fromkeys(env.account_id for env in self.environments))

    def environments_in(self, account: str) -> tuple[EnvironmentConfig, ...]:
        return tuple(env for env in self.environments if env.account_id == account)

    @staticmethod
    def ci_stack_name(account: str) -> str:
        """One CI stack per account (the GitHub OIDC provider exists once per account): `ci-<account id>`."""
        return f"ci-{account}"

    def stack_names(self) -> tuple[str, ...]:
        """Every stack, in deployment order: the state bootstrap, the CI identities, the environments."""
        return ("bootstrap", *(self.ci_stack_name(a) for a in self.accounts()), *(e.name for e in self.environments))

    def require_deployable(self, stacks: tuple[str, ...]) -> None:
        """What must be real before anything is deployed: the bucket, every account (the bootstrap's policies
        name them all), the repository the CI roles trust, and the state key of every stack but the bootstrap."""
        self.backend.require_chosen()
        for env in self.environments:
            require_real_account(f"environments.{env.name}.account_id", env.account_id)
        self.ci.require_chosen()
        for stack in stacks:
            if stack != "bootstrap":
                self.backend.require_state_key(stack)


def _build[T](cls: type[T], table: Any, path: str, **extra: Any) -> T:
    """Instantiate a settings dataclass from a TOML table, rejecting unknown keys by name."""
    require(isinstance(table, dict), path, table, "a table")
    known = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    for key, value in table.items():
        require(key in known, f"{path}.{key}", value, f"a known setting of [{path}]")
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING  # type: ignore[misc]
        require(
            not required or f.name in table or f.name in extra,
            f"{path}.{f.name}",
            None,
            f"set in [{path}] (it has no default)",
        )
    values = {k: _value(cls, k, v, f"{path}.{k}") for k, v in table.items()}
    try:
        return cls(**values, **extra)
    except ConfigError as error:
        raise error.within(path) from None


def _value(cls: Any, key: str, value: Any, path: str) -> Any:
    """A TOML value as the settings field `key` takes it: lists as tuples, a table as the settings dataclass the
    field names (e.g. `database.restore`), built with the same checks."""
    if isinstance(value, list):
        return tuple(value)
    if isinstance(value, dict):
        hint = typing.get_type_hints(cls).get(key)
        nested = [t for t in typing.get_args(hint) or (hint,) if dataclasses.is_dataclass(t)]
        if nested:
            return _build(nested[0], value, path)
    return value


_SECTIONS: Mapping[str, type] = {
    "network": NetworkSettings,
    "stream": StreamSettings,
    "cache": CacheSettings,
    "database": DatabaseSettings,
    "alarms": AlarmSettings,
    "processor": ProcessorSettings,
    "load": LoadSettings,
}


def _environment(name: str, table: Any) -> EnvironmentConfig:
    path = f"environments.{name}"
    require(isinstance(table, dict), path, table, "a table")
    sections = {key: _build(cls, table.get(key, {}), f"{path}.{key}") for key, cls in _SECTIONS.items()}
    scalars = {k: v for k, v in table.items() if k not in _SECTIONS}
    return _build(EnvironmentConfig, scalars, path, name=name, **sections)


def load_config(environ: Mapping[str, str] | None = None) -> AppConfig:
    """Read and validate the configuration file named by JAPANCART_CONFIG (or the default)."""
    environ = os.environ if environ is None else environ
    path = Path(environ.get(ENV_CONFIG_FILE) or DEFAULT_CONFIG)
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(ENV_CONFIG_FILE, str(path), "an existing configuration file") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(str(path), str(error), "valid TOML") from None

    for key in document:
        require(
            key in {"project", "backend", "ci", "environments"},
            key,
            document[key],
            "one of the sections [project], [backend], [ci], [environments.<name>]",
        )
    project = _build(ProjectConfig, document.get("project", {}), "project")
    backend_table = dict(document.get("backend", {}))
    require(
        "kms_key_id" not in backend_table,
        "backend.kms_key_id",
        backend_table.get("kms_key_id"),
        "replaced by [backend] state_keys, one key per stack (the bootstrap stack's output state_key_arns)",
    )
    require(
        not environ.get(ENV_RETIRED_STATE_KEY),
        ENV_RETIRED_STATE_KEY,
        environ.get(ENV_RETIRED_STATE_KEY),
        f"unset: replaced by {ENV_STATE_KEYS}, one key per stack (the bootstrap stack's output state_key_arns)",
    )
    for variable, key in ((ENV_STATE_BUCKET, "bucket"), (ENV_STATE_REGION, "region")):
        if environ.get(variable):
            backend_table[key] = environ[variable]
    if environ.get(ENV_STATE_KEYS):
        backend_table["state_keys"] = _json_table(ENV_STATE_KEYS, environ[ENV_STATE_KEYS])
    roles = backend_table.get("environment_roles", {})
    if isinstance(roles, dict):
        backend_table["environment_roles"] = {k: tuple(v) if isinstance(v, list) else v for k, v in roles.items()}
    backend = _build(BackendConfig, backend_table, "backend")
    ci = _build(CiConfig, document.get("ci", {}), "ci")

    environments_table = document.get("environments", {})
    require(
        isinstance(environments_table, dict) and environments_table,
        "environments",
        environments_table,
        "at least one [environments.<name>] table",
    )
    for name in environments_table:
        require_choice("environments", name, KNOWN_ENVIRONMENTS)
    environments = tuple(_environment(name, table) for name, table in environments_table.items())

    endpoint = environ.get(ENV_EMULATOR_ENDPOINT)
    emulator = _build(EmulatorConfig, {"endpoint": endpoint}, ENV_EMULATOR_ENDPOINT) if endpoint else None
    return AppConfig(project=project, backend=backend, ci=ci, environments=environments, emulator=emulator)


def _json_table(variable: str, text: str) -> dict[str, Any]:
    """`{"stack": "arn", ...}`, as `terraform output -json state_key_arns` prints it."""
    try:
        table = json.loads(text)
    except json.JSONDecodeError:
        table = None
    require(
        isinstance(table, dict),
        variable,
        text,
        "a JSON object of stack name to state key ARN "
        "(terraform -chdir=cdktf.out/stacks/bootstrap output -json state_key_arns)",
    )
    return table
