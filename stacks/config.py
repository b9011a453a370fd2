"""The one place configuration is read: `config/environments.toml` plus a few environment variables.

Everything is validated into frozen dataclasses before any construct exists, so a bad
value stops synthesis with one `ConfigError` naming the field and the value.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, TypeVar

from constructs_lib.alarms import AlarmSettings
from constructs_lib.cache import CacheSettings
from constructs_lib.database import DatabaseSettings
from constructs_lib.networking import NetworkSettings
from constructs_lib.processor import ProcessorSettings
from constructs_lib.stream import StreamSettings
from constructs_lib.validation import (
    LOG_RETENTION_DAYS,
    ConfigError,
    require,
    require_choice,
    require_name,
    require_recovery_window,
    require_region,
)
from processor.config import ENVIRONMENTS
from stacks.capacity import LoadSettings

from .wiring import check_environment

DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "config" / "environments.toml"
KNOWN_ENVIRONMENTS = frozenset(ENVIRONMENTS)  # the processor validates the same names at run time
PROTECTED_ENVIRONMENTS = frozenset({"prod"})
#: Environments whose secrets may be deleted at once (secret_recovery_days = 0), so destroy + redeploy works.
DISPOSABLE_ENVIRONMENTS = frozenset({"dev"})

# Environment variables that override the file (synth never needs AWS, so these are plain values).
ENV_CONFIG_FILE = "JAPANCART_CONFIG"
ENV_STATE_BUCKET = "JAPANCART_STATE_BUCKET"
ENV_STATE_REGION = "JAPANCART_STATE_REGION"
ENV_STATE_KMS_KEY = "JAPANCART_STATE_KMS_KEY_ID"
ENV_EMULATOR_ENDPOINT = "JAPANCART_AWS_ENDPOINT"

#: The shipped `[backend] bucket`: S3 bucket names are global, so every organisation must choose its own.
PLACEHOLDER_BUCKET = "choose-your-own-state-bucket"
KMS_KEY_ARN_PATTERN = r"arn:aws[a-z-]*:kms:[a-z]{2}(-[a-z]+)+-\d:\d{12}:key/(mrk-[0-9a-f]{32}|[0-9a-f-]{36})"
ROLE_ARN_PATTERN = r"arn:aws[a-z-]*:iam::\d{12}:role/[A-Za-z0-9+=,.@_/*-]{1,512}"
BOOTSTRAP_STATE = frozenset({"local", "s3"})
#: Phase 1 of the bootstrap keeps its state here, relative to its stack directory (cdktf.out/stacks/bootstrap):
#: the project root, outside cdktf.out (which every synth replaces) and never an absolute machine path.
BOOTSTRAP_LOCAL_STATE = "../../../terraform.bootstrap.tfstate"


@dataclass(frozen=True, kw_only=True)
class BackendConfig:
    """Remote state: an S3 bucket (made by the bootstrap stack) with S3-native locking.

    bucket: the state bucket's globally unique name (no default: choose your own).
    kms_key_id: ARN of the state key, the bootstrap stack's output `state_key_arn`. Every state object is
      written with it, and the bucket refuses uploads under any other key. Required by the environment
      stacks; empty while only the bootstrap stack exists (phase 1).
    bootstrap_state: where the bootstrap stack keeps its own state: "local" (phase 1, a file in the project
      root) or "s3" (phase 2, `<project>/bootstrap/terraform.tfstate` in the bucket it created).
    environment_roles: optional, per environment, the IAM role ARNs (wildcards allowed) that run that
      environment's Terraform; the bucket policy then keeps each to its own `<project>/<env>/` prefix.
    """

    bucket: str
    region: str = "ap-northeast-1"
    kms_key_id: str = ""
    bootstrap_state: str = "local"
    environment_roles: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        require_name("bucket", self.bucket, r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", "an S3 bucket name")
        require_region("region", self.region)
        if self.kms_key_id:
            require_name("kms_key_id", self.kms_key_id, KMS_KEY_ARN_PATTERN,
                         "the ARN of a KMS key (the bootstrap stack's output state_key_arn)")
        require_choice("bootstrap_state", self.bootstrap_state, BOOTSTRAP_STATE)
        require(self.bootstrap_state == "local" or bool(self.kms_key_id), "bootstrap_state", self.bootstrap_state,
                "'local' until kms_key_id is set (phase 1 of the bootstrap)")
        require(isinstance(self.environment_roles, Mapping), "environment_roles", self.environment_roles,
                "a table of environment name = [role ARNs]")
        for name, roles in self.environment_roles.items():
            require_choice("environment_roles", name, KNOWN_ENVIRONMENTS)
            require(isinstance(roles, (list, tuple)) and len(roles) > 0, f"environment_roles.{name}", roles,
                    "a non-empty list of IAM role ARNs")
            for index, role in enumerate(roles):
                require_name(f"environment_roles.{name}[{index}]", role, ROLE_ARN_PATTERN,
                             "an IAM role ARN such as arn:aws:iam::111122223333:role/japancart-dev-apply")

    def require_chosen(self) -> None:
        """Outside tests, the shipped placeholder bucket name must have been replaced."""
        require(self.bucket != PLACEHOLDER_BUCKET, "backend.bucket", self.bucket,
                f"your own globally unique S3 bucket name (config/environments.toml [backend] or {ENV_STATE_BUCKET}), "
                "not the shipped placeholder")

    def require_state_key(self) -> None:
        """The environment stacks encrypt their state with the bootstrap stack's key: its ARN must be known."""
        require(bool(self.kms_key_id), "backend.kms_key_id", self.kms_key_id,
                f"the bootstrap stack's output state_key_arn ({ENV_STATE_KMS_KEY} or [backend] kms_key_id); "
                "until then synthesize only the bootstrap stack: python main.py bootstrap")


@dataclass(frozen=True, kw_only=True)
class EmulatorConfig:
    """Test-only: point providers and the backend at a local AWS emulator (moto)."""

    endpoint: str

    def __post_init__(self) -> None:
        require_name("endpoint", self.endpoint, r"https?://(127\.\d+\.\d+\.\d+|localhost|\[::1\])(:\d+)?/?",
                     "a loopback URL such as http://127.0.0.1:5000")


@dataclass(frozen=True, kw_only=True)
class EnvironmentConfig:
    """Everything that differs between dev, staging and prod."""

    name: str
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
        require_region("region", self.region)
        require_choice("log_retention_days", self.log_retention_days, LOG_RETENTION_DAYS)
        require_recovery_window("secret_recovery_days", self.secret_recovery_days)
        require(self.secret_recovery_days != 0 or self.name in DISPOSABLE_ENVIRONMENTS, "secret_recovery_days",
                self.secret_recovery_days, "7-30 outside dev (0, delete at once, is for dev only)")
        check_environment(self)  # rules between sections live with the wiring (stacks/wiring.py)
        if self.name in PROTECTED_ENVIRONMENTS:
            require(self.database.deletion_protection, "database.deletion_protection",
                    self.database.deletion_protection, f"true in {self.name}")
            require(not self.database.skip_final_snapshot, "database.skip_final_snapshot",
                    self.database.skip_final_snapshot, f"false in {self.name}")


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
    """The whole application: project identity, state backend and every environment."""

    project: ProjectConfig
    backend: BackendConfig
    environments: tuple[EnvironmentConfig, ...]
    emulator: EmulatorConfig | None = None

    def __post_init__(self) -> None:
        seen: dict[str, ipaddress.IPv4Network] = {}
        for env in self.environments:
            network = env.network.network
            for other, other_network in seen.items():
                require(not network.overlaps(other_network), f"environments.{env.name}.network.vpc_cidr",
                        env.network.vpc_cidr, f"a block that does not overlap environments.{other} ({other_network})")
            seen[env.name] = network

    def state_key(self, environment: str) -> str:
        return f"{self.project.name}/{environment}/terraform.tfstate"


T = TypeVar("T")


def _build(cls: type[T], table: Any, path: str, **extra: Any) -> T:
    """Instantiate a settings dataclass from a TOML table, rejecting unknown keys by name."""
    require(isinstance(table, dict), path, table, "a table")
    known = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    for key, value in table.items():
        require(key in known, f"{path}.{key}", value, f"a known setting of [{path}]")
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in table.items()}
    try:
        return cls(**values, **extra)
    except ConfigError as error:
        raise error.within(path) from None


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
        require(key in {"project", "backend", "environments"}, key, document[key],
                "one of the sections [project], [backend], [environments.<name>]")
    project = _build(ProjectConfig, document.get("project", {}), "project")
    backend_table = dict(document.get("backend", {}))
    for variable, key in ((ENV_STATE_BUCKET, "bucket"), (ENV_STATE_REGION, "region"), (ENV_STATE_KMS_KEY, "kms_key_id")):
        if environ.get(variable):
            backend_table[key] = environ[variable]
    roles = backend_table.get("environment_roles", {})
    if isinstance(roles, dict):
        backend_table["environment_roles"] = {k: tuple(v) if isinstance(v, list) else v for k, v in roles.items()}
    backend = _build(BackendConfig, backend_table, "backend")

    environments_table = document.get("environments", {})
    require(isinstance(environments_table, dict) and environments_table, "environments", environments_table,
            "at least one [environments.<name>] table")
    for name in environments_table:
        require_choice("environments", name, KNOWN_ENVIRONMENTS)
    environments = tuple(_environment(name, table) for name, table in environments_table.items())

    endpoint = environ.get(ENV_EMULATOR_ENDPOINT)
    emulator = _build(EmulatorConfig, {"endpoint": endpoint}, ENV_EMULATOR_ENDPOINT) if endpoint else None
    return AppConfig(project=project, backend=backend, environments=environments, emulator=emulator)
