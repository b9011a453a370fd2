"""The seam between the stacks and the Lambda: every name both sides must spell the same way.

The constructs (``constructs_lib``) build the functions' environments, secrets, users and alarms from these
names; the runtime (``processor``) reads them back. Standard library only: this module ships in the Lambda
zip and is imported at synth time, so it must import nothing else of either side.
``tests/test_contract.py`` feeds each synthesized function's environment to the runtime's parsers.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

#: Every environment, in deployment order: the one list (stacks/config.py and the tests derive theirs from it).
ENVIRONMENTS: Final = ("dev", "staging", "prod")

# --- Entry points of the zip's functions -------------------------------------------------------------------
PROCESSOR_HANDLER: Final = "processor.handler.handle"
MIGRATION_HANDLER: Final = "processor.migrate.handle"
MAINTENANCE_HANDLER: Final = "processor.maintain.handle"
#: The event the schedule sends the maintenance function (it also accepts none).
MAINTENANCE_EVENT: Final = {"action": "maintain"}

# --- Environment variables ---------------------------------------------------------------------------------
# Every function reads the connection secret; the processor and the maintenance function sign in as their
# own roles (DB_AUTH), the migration function as the master (from the secret named inside the connection).
ENV_DB_SECRET: Final = "DB_CONNECTION_SECRET_ARN"
ENV_DB_AUTH: Final = "DB_AUTH"
ENV_DB_PASSWORD_SECRET: Final = "DB_PASSWORD_SECRET_ARN"  # only with DB_AUTH=password (the test rig)
ENV_DB_CA_BUNDLE: Final = "DB_CA_BUNDLE"  # optional: the zip's RDS bundle otherwise
ENV_REDIS_HOST: Final = "REDIS_HOST"
ENV_REDIS_PORT: Final = "REDIS_PORT"
ENV_REDIS_USER: Final = "REDIS_USER"
ENV_REDIS_CACHE_NAME: Final = "REDIS_CACHE_NAME"  # the replication group id IAM tokens are signed for
ENV_REDIS_AUTH: Final = "REDIS_AUTH"
ENV_REDIS_PASSWORD_SECRET: Final = "REDIS_PASSWORD_SECRET_ARN"  # only with REDIS_AUTH=password (the test rig)
ENV_HISTORY_TTL: Final = "HISTORY_TTL_SECONDS"
ENV_MAX_TXNS_PER_HOUR: Final = "RULE_MAX_TXNS_PER_HOUR"
ENV_MAX_DAILY_TOTAL: Final = "RULE_MAX_DAILY_TOTAL"
ENV_MAX_SINGLE_AMOUNT: Final = "RULE_MAX_SINGLE_AMOUNT"
ENV_METRIC_NAMESPACE: Final = "METRIC_NAMESPACE"
ENV_ENVIRONMENT: Final = "ENVIRONMENT"
ENV_STREAM_ARN: Final = "STREAM_ARN"  # the one stream whose records the processor accepts
ENV_REGIONS: Final = ("AWS_REGION", "AWS_DEFAULT_REGION")  # set by Lambda itself, never by the constructs

#: How a function signs in to either store (the value of DB_AUTH and REDIS_AUTH): short-lived IAM tokens in
#: AWS, a password only on the test rig.
AUTH_IAM: Final = "iam"
AUTH_PASSWORD: Final = "password"

# --- The connection secret (JSON written by the database construct, read by every function) ----------------
SECRET_APP_USERNAME: Final = "app_username"
SECRET_MAINTAINER_USERNAME: Final = "maintainer_username"
SECRET_PASSWORD_SECRET_ARN: Final = "password_secret_arn"  # the RDS-managed master secret

# --- Users -------------------------------------------------------------------------------------------------
#: The database's owner, unless configured (`database.master_username`): the migration function's user.
MASTER_DB_USER: Final = "japancart_admin"
#: The PostgreSQL role the processor logs in as (created by the migrations, IAM auth on RDS).
APP_DB_USER: Final = "txn_writer"
#: The role the daily data-lifecycle run logs in as: it may only execute the lifecycle functions.
MAINTAINER_DB_USER: Final = "txn_maintainer"
#: What the processor's ElastiCache user may do: its own key prefixes and the commands below (EVAL runs the
#: batch script, whose calls, INFO included, Redis checks against the same rules). The cache construct
#: grants exactly this; the test rig's redis-server too.
REDIS_ACL_RULES: Final = (
    "~txn:* ~cust:* ~history:* -@all +ping +info +eval +get +set +del +zadd +zremrangebyscore +pexpireat"
)


def redis_app_user(replication_group_id: str) -> str:
    """The processor's ElastiCache user (name and id) unless configured: named for its cache, so one
    account can hold several environments' users."""
    return f"{replication_group_id}-processor"


# --- Rules -------------------------------------------------------------------------------------------------
#: The longest window a rule looks back over (the daily total): a shorter history TTL would let history keys
#: expire while their day still counts. The construct refuses such a TTL; so does the runtime.
LONGEST_RULE_WINDOW_SECONDS: Final = 86_400

# --- Metrics (CloudWatch Embedded Metric Format, alarmed on by the processor construct) ---------------------
METRIC_NAMESPACE: Final = "JapanCart/TransactionMonitoring"
METRIC_RULE_HITS: Final = "RuleHits"
METRIC_CONFLICTS: Final = "TransactionConflicts"
DIMENSION_ENVIRONMENT: Final = "Environment"
DIMENSION_RULE: Final = "Rule"


# --- Errors --------------------------------------------------------------------------------------------------
class ConfigError(ValueError):
    """A setting that cannot work: the house's one error for bad configuration, at synth or at run time.

    Here (standard library only) so the stacks, the constructs and the Lambda raise and catch the same class.
    `ConfigError(field, value, expectation)` reads "<field> must be <expectation>, got <value>" and keeps
    the three for callers that re-qualify the field; `ConfigError(message)` is for a problem that is not one
    value out of range (a variable not set, a secret that is not JSON).
    """

    def __init__(self, field: str, value: Any = None, expectation: str | None = None) -> None:
        self.field = field
        self.value = value
        self.expectation = expectation
        super().__init__(field if expectation is None else f"{field} must be {expectation}, got {value!r}")

    def within(self, prefix: str) -> ConfigError:
        """The same error, with the field path qualified by the enclosing section."""
        if self.expectation is None:
            return ConfigError(f"{prefix}.{self.field}")
        return ConfigError(f"{prefix}.{self.field}", self.value, self.expectation)


# --- The retention policy the migration function sets and the maintenance function applies ---------------------
@dataclass(frozen=True)
class RetentionPolicy:
    """What the daily run keeps; the fields and defaults of `database.*` in the configuration.

    transaction_retention_months: months of transactions kept; older monthly partitions are detached. 84.
    rejected_retention_days: days a rejected record (raw payload and reason) is kept. 90.
    conflict_retention_days: days a conflicting duplicate (its whole payload) is kept. 90.
    alert_retention_days: days a rule alert is kept after it last changed. 2,555 (seven years, as transactions).
    partition_drop_grace_days: days a detached partition waits before it is dropped. 30.
    export_before_drop: drop a detached partition only once it was exported. Off.
    """

    transaction_retention_months: int = 84
    rejected_retention_days: int = 90
    conflict_retention_days: int = 90
    alert_retention_days: int = 2555
    partition_drop_grace_days: int = 30
    export_before_drop: bool = False

    def __post_init__(self) -> None:
        for name, (low, high) in RETENTION_LIMITS.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise ConfigError(f"retention.{name} must be a whole number from {low} to {high}, got {value!r}")
        if not isinstance(self.export_before_drop, bool):
            raise ConfigError(f"retention.export_before_drop must be true or false, got {self.export_before_drop!r}")

    @classmethod
    def from_mapping(cls, values: Any) -> RetentionPolicy:
        """From the migration event's `retention` object: every field, nothing else."""
        if not isinstance(values, Mapping):
            raise ConfigError(f"retention must be an object, got {values!r}")
        names = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(values) - set(names))
        missing = [name for name in names if name not in values]
        if unknown or missing:
            raise ConfigError(
                f"retention must have exactly the keys {', '.join(names)}; unknown {unknown}, missing {missing}"
            )
        return cls(**values)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


#: Whole-number fields of `RetentionPolicy` and their ranges (the construct validates the same).
RETENTION_LIMITS = {
    "transaction_retention_months": (1, 240),
    "rejected_retention_days": (1, 3650),
    "conflict_retention_days": (1, 3650),
    "alert_retention_days": (1, 3650),
    "partition_drop_grace_days": (1, 3650),
}
