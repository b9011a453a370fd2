"""How the transaction database comes back: a point-in-time restore into a new instance, and its automated
backups replicated to a second region (docs/operations.md, "Restoring the database")."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import ClassVar

from cdktf import TerraformProvider
from cdktf_cdktf_provider_aws.db_instance import DbInstanceRestoreToPointInTime
from cdktf_cdktf_provider_aws.db_instance_automated_backups_replication import (
    DbInstanceAutomatedBackupsReplication,
)
from constructs import Construct

from processor.contract import ConfigError

from .encryption import Account, EncryptionKey, EncryptionKeyProps
from .validation import NameRule, require, require_bool, require_int

#: `restore.time`: RFC 3339 in UTC, to the second, as RDS's RestoreTime and the console show it.
RESTORE_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
#: An RDS DB instance identifier (also what `TransactionDatabaseProps.NAME_RULE` requires of the database's name).
DB_IDENTIFIER_RULE = NameRule(
    r"[a-z](?!.*--)[a-z0-9-]{0,52}[a-z0-9]",
    "an RDS identifier: lowercase letters, digits, single hyphens, at most 54 characters",
)


@dataclass(frozen=True, kw_only=True)
class RestoreSettings:
    """A point-in-time restore of the database into a new instance; the processor is pointed at the new one by
    the same plan. Kept in the configuration after the restore: it is where the running database came from.

    source: the instance whose automated backups are restored, i.e. this environment's database identifier
      (`<project>-<env>-transactions`; checked when the configuration loads). Required.
    time: the UTC second to restore to, e.g. `2026-12-04T01:30:00Z`: within the source's backup retention, not
      in the future. Exactly one of `time` and `latest`.
    latest: restore to the source's latest restorable time (RDS: typically within the last five minutes).
    name: the new instance's identifier. Default: `<source>-restored`.
    keep_source: keep the source instance in the stack, unchanged and still protected, until a human has checked
      the restored one. Default: on. Turning it off makes the plan delete the source: the destructive-change gate
      holds that for an approver, and deletion protection refuses it until someone turns it off by hand.
    """

    source: str
    time: str = ""
    latest: bool = False
    name: str = ""
    keep_source: bool = True

    def __post_init__(self) -> None:
        DB_IDENTIFIER_RULE.check("source", self.source)
        require_bool("latest", self.latest)
        require_bool("keep_source", self.keep_source)
        require(bool(self.time) != self.latest, "time", self.time, "a restore time, or latest = true (exactly one)")
        if self.time:
            moment = _utc_time(self.time)
            if moment is None:
                raise ConfigError("time", self.time, "a UTC time such as 2026-12-04T01:30:00Z")
            require(moment <= datetime.now(UTC), "time", self.time, "a time already past (a restore reads backups)")
        DB_IDENTIFIER_RULE.check("name", self.target)  # `<source>-restored` too can outgrow the 54 characters
        require(self.target != self.source, "name", self.name, f"an identifier other than the source ({self.source})")

    @property
    def target(self) -> str:
        """The restored instance's identifier."""
        return self.name or f"{self.source}-restored"

    def point_in_time(self) -> DbInstanceRestoreToPointInTime:
        """The `restore_to_point_in_time` block of the restored instance."""
        if self.latest:
            return DbInstanceRestoreToPointInTime(
                source_db_instance_identifier=self.source, use_latest_restorable_time=True
            )
        return DbInstanceRestoreToPointInTime(source_db_instance_identifier=self.source, restore_time=self.time)


@dataclass(frozen=True, kw_only=True)
class BackupReplicationProps:
    """Inputs of `BackupReplication`.

    name: prefixes the replica key's alias (`<name>-backups`). Required.
    source_arn: the ARN of the DB instance whose automated backups are replicated. Required.
    retention_days: days the replicated backups are kept (RDS: 1-35). Required.
    provider: the AWS provider of the destination region (the resources are created there). Required.
    """

    ALIAS_RULE: ClassVar[NameRule] = NameRule(r"[A-Za-z0-9/_-]{1,240}", "letters, digits, '/', '_' or '-'")

    name: str
    source_arn: str
    retention_days: int
    provider: TerraformProvider

    def __post_init__(self) -> None:
        self.ALIAS_RULE.check("name", self.name)
        require_int("retention_days", self.retention_days, 1, 35)


class BackupReplication(Construct):
    """The database's automated backups (snapshots and transaction logs) copied to a second region, encrypted there
    with a key of that region: a point-in-time restore survives the loss of the primary region."""

    def __init__(self, scope: Construct, construct_id: str, props: BackupReplicationProps) -> None:
        super().__init__(scope, construct_id)
        account = Account(self, "account", provider=props.provider)
        self.key = EncryptionKey(
            self,
            "key",
            EncryptionKeyProps(
                alias=f"{props.name}-backups",
                account=account,
                via_services=("rds",),
                description=f"Replicated automated backups of {props.name}'s database",
            ),
        )
        replication = DbInstanceAutomatedBackupsReplication(
            self,
            "replication",
            provider=props.provider,
            source_db_instance_arn=props.source_arn,
            kms_key_id=self.key.key_arn,
            retention_period=props.retention_days,
        )
        #: The replicated backups' ARN (`arn:...:auto-backup:ab-...`): what a restore in that region names.
        self.arn: str = replication.id
        self.region: str = account.region


def _utc_time(value: str) -> datetime | None:
    try:
        return datetime.strptime(value, RESTORE_TIME_FORMAT).replace(tzinfo=UTC)
    except (TypeError, ValueError):
        return None
