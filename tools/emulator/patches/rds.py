"""RDS gap patches: unique DbiResourceId, Performance Insights settings, user parameters' Source, parameter
and subnet groups an instance still uses, cross-region automated backups replication, an event
subscription's sources, and a point-in-time restore taken for a read replica.

Why: with moto 5.2.5 the Terraform AWS provider cannot read back two DB instances, shows perpetual diffs on
Performance Insights and parameters, and a destroy that left an instance behind hangs instead of failing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tools.emulator.patches.registry import gap


@gap(
    "rds-unique-dbi-resource-id",
    "Every DB instance gets the same hard-coded DbiResourceId (db-M5ENSHXFPU6XHZ4G4ZEI5QIO2U).  The provider "
    "keys aws_db_instance on that id and reads it back with the dbi-resource-id filter, so as soon as two "
    "instances exist (dev and prod side by side) the read matches two and fails with 'couldn't find resource'.",
    "Give each new DB instance a unique random DbiResourceId of the real shape (db- + 26 base32 characters).",
)
def _patch_rds_dbi_resource_id() -> None:
    """Observed on moto 5.2.5. No upstream issue found (searched 2026-12-03). The same symptom on LocalStack:
    localstack/localstack#9577. Retire when moto gives each DB instance its own DbiResourceId."""
    import base64
    import uuid

    from moto.rds import models as rds

    original = rds.DBInstance.__init__

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        self.dbi_resource_id = "db-" + base64.b32encode(uuid.uuid4().bytes).decode()[:26]

    rds.DBInstance.__init__ = __init__


@gap(
    "rds-performance-insights",
    "CreateDBInstance/ModifyDBInstance ignore EnablePerformanceInsights, PerformanceInsightsKMSKeyId and "
    "PerformanceInsightsRetentionPeriod and DescribeDBInstances never returns them: perpetual diff "
    "performance_insights_enabled false -> true.",
    "Store the three settings on the instance (create and modify) so they are returned like AWS does.",
)
def _patch_rds_performance_insights() -> None:
    """Observed on moto 5.2.5. No upstream issue found (searched 2026-12-03). Retire when moto stores and
    returns EnablePerformanceInsights, PerformanceInsightsKMSKeyId and PerformanceInsightsRetentionPeriod."""
    from moto.rds import models as rds

    def remember(db: Any, kwargs: dict[str, Any]) -> None:
        if kwargs.get("enable_performance_insights") is not None:
            db.performance_insights_enabled = bool(kwargs["enable_performance_insights"])
        if kwargs.get("performance_insights_kms_key_id"):
            db.performance_insights_kms_key_id = kwargs["performance_insights_kms_key_id"]
        if kwargs.get("performance_insights_retention_period") is not None:
            db.performance_insights_retention_period = int(kwargs["performance_insights_retention_period"])
        if getattr(db, "performance_insights_enabled", False) and not getattr(
            db, "performance_insights_retention_period", None
        ):
            db.performance_insights_retention_period = 7  # AWS default

    original_init, original_update = rds.DBInstance.__init__, rds.DBInstance.update

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        self.performance_insights_enabled = False
        remember(self, kwargs)

    def update(self: Any, **kwargs: Any) -> None:
        original_update(self, **kwargs)
        remember(self, kwargs)

    rds.DBInstance.__init__, rds.DBInstance.update = __init__, update


@gap(
    "rds-parameter-source",
    "DescribeDBParameters returns the parameters set with ModifyDBParameterGroup without Source=user (and "
    "ignores the Source filter); the provider keeps only user parameters, so every configured parameter "
    "shows as a perpetual '+ parameter' diff.",
    "Mark parameters set through ModifyDBParameterGroup as Source=user and honour the Source filter.",
)
def _patch_rds_parameter_source() -> None:
    """Observed on moto 5.2.5. No upstream issue found (searched 2026-12-03). Retire when moto's
    DescribeDBParameters reports parameters set by ModifyDBParameterGroup with Source=user and honours the
    Source filter."""
    from moto.core.responses import ActionResult
    from moto.rds import responses as rr
    from moto.rds.exceptions import DBParameterGroupNotFoundError

    def describe_db_parameters(self: Any) -> Any:
        name = self.params.get("DBParameterGroupName")
        groups = self.backend.describe_db_parameter_groups({"db_parameter_group_name": name})
        if not groups:
            raise DBParameterGroupNotFoundError(name)
        params = [{"Source": "user", "IsModifiable": True, **dict(p)} for p in groups[0].parameters.values()]
        source = self.params.get("Source")
        if source:
            params = [p for p in params if p.get("Source") == source]
        return ActionResult({"Parameters": params})

    rr.RDSResponse.describe_db_parameters = describe_db_parameters


@gap(
    "rds-groups-in-use",
    "DeleteDBParameterGroup and DeleteDBSubnetGroup delete a group that a DB instance still uses; AWS refuses "
    "(InvalidDBParameterGroupState, InvalidDBSubnetGroupStateFault). After that every DescribeDBInstances fails "
    "with HTTP 500 (KeyError on the parameter group), so a destroy that leaves an instance behind (one Terraform "
    "never recorded) hangs on the VPC instead of failing on the group.",
    "Refuse both deletes with AWS's error codes while an instance uses the group.",
)
def _patch_rds_groups_in_use() -> None:
    """Observed on moto 5.2.5. No upstream issue found (searched 2026-12-03). Retire when moto refuses to
    delete a parameter or subnet group an instance uses (InvalidDBParameterGroupState,
    InvalidDBSubnetGroupStateFault)."""
    from moto.rds import models as rds
    from moto.rds.exceptions import RDSClientError

    backend_cls = rds.RDSBackend
    delete_parameter_group, delete_subnet_group = backend_cls.delete_db_parameter_group, backend_cls.delete_subnet_group

    def users(backend: Any, group_of: Callable[[Any], str | None], name: str) -> list[str]:
        return sorted(db_id for db_id, db in backend.databases.items() if group_of(db) == name)

    def parameter_group(db: Any) -> str | None:
        return getattr(db, "db_parameter_group_name", None)

    def subnet_group(db: Any) -> str | None:  # moto's db_subnet_group_name is write-only; the group object is not
        return getattr(getattr(db, "db_subnet_group", None), "name", None)

    def delete_db_parameter_group(self: Any, db_parameter_group_name: str) -> Any:
        if users(self, parameter_group, db_parameter_group_name):
            raise RDSClientError(
                "InvalidDBParameterGroupState",
                "One or more database instances are still members of "
                f"this parameter group {db_parameter_group_name}, so the group cannot be deleted",
            )
        return delete_parameter_group(self, db_parameter_group_name)

    def delete_db_subnet_group(self: Any, subnet_name: str) -> Any:
        using = users(self, subnet_group, subnet_name)
        if using:
            raise RDSClientError(
                "InvalidDBSubnetGroupStateFault",
                f"Cannot delete the subnet group '{subnet_name}' "
                f"because at least one database instance: {using[0]} is still using it.",
            )
        return delete_subnet_group(self, subnet_name)

    backend_cls.delete_db_parameter_group = delete_db_parameter_group
    backend_cls.delete_subnet_group = delete_db_subnet_group


@gap(
    "rds-automated-backups-replication",
    "StartDBInstanceAutomatedBackupsReplication and StopDBInstanceAutomatedBackupsReplication are not implemented "
    "and DescribeDBInstanceAutomatedBackups ignores DBInstanceAutomatedBackupsArn, so "
    "aws_db_instance_automated_backups_replication (prod's backups in a second region) can be neither created, "
    "read nor destroyed.",
    "Keep each replication in the destination region's backend: Start checks the source instance exists (in its "
    "own region) and records a 'replicating' backup with its key and retention, Describe by ARN returns it "
    "(DBInstanceAutomatedBackupNotFound once stopped), Stop removes it. No backup data is copied.",
)
def _patch_rds_backup_replication() -> None:
    """Observed on moto 5.2.5. The actions are absent from its RDS responses; no upstream issue found (searched
    2026-12-04). Retire when moto implements cross-region automated backups replication."""
    import uuid

    from moto.core.responses import ActionResult
    from moto.rds import models as rds
    from moto.rds import responses as rr
    from moto.rds.exceptions import RDSClientError

    def replicas(response: Any) -> dict[str, dict[str, Any]]:
        """ARN -> backup, in the backend of the request's account and (destination) region."""
        return response.backend.__dict__.setdefault("automated_backup_replicas", {})  # type: ignore[no-any-return]

    def start(self: Any) -> Any:
        source_arn = self.params["SourceDBInstanceArn"]
        _, _, _, source_region, account, resource = source_arn.split(":", 5)
        identifier = resource.removeprefix("db:")
        (source,) = rds.rds_backends[account][source_region].describe_db_instances(identifier)
        arn = f"arn:aws:rds:{self.region}:{self.current_account}:auto-backup:ab-{uuid.uuid4().hex[:26]}"
        backup = {
            "DBInstanceAutomatedBackupsArn": arn,
            "DBInstanceArn": source_arn,
            "DBInstanceIdentifier": identifier,
            "DbiResourceId": source.dbi_resource_id,
            "Region": source_region,
            "Status": "replicating",
            "Engine": "postgres",
            "Encrypted": True,
            "KmsKeyId": self.params.get("KmsKeyId"),
            "BackupRetentionPeriod": int(self.params.get("BackupRetentionPeriod") or 7),
        }
        replicas(self)[arn] = backup
        return ActionResult({"DBInstanceAutomatedBackup": backup})

    def stop(self: Any) -> Any:
        source_arn = self.params["SourceDBInstanceArn"]
        found = [arn for arn, b in replicas(self).items() if b["DBInstanceArn"] == source_arn]
        if not found:
            raise RDSClientError(
                "InvalidDBInstanceAutomatedBackupState",
                f"Automated backups of {source_arn} are not replicating to the current region",
            )
        return ActionResult({"DBInstanceAutomatedBackup": replicas(self).pop(found[0])})

    original_describe = rr.RDSResponse.describe_db_instance_automated_backups

    def describe(self: Any) -> Any:
        arn = self.params.get("DBInstanceAutomatedBackupsArn")
        if not arn:
            return original_describe(self)
        if arn not in replicas(self):
            raise RDSClientError("DBInstanceAutomatedBackupNotFound", f"Automated backup {arn} not found")
        return ActionResult({"DBInstanceAutomatedBackups": [replicas(self)[arn]]})

    rr.RDSResponse.start_db_instance_automated_backups_replication = start
    rr.RDSResponse.stop_db_instance_automated_backups_replication = stop
    rr.RDSResponse.describe_db_instance_automated_backups = describe


@gap(
    "rds-event-subscription-sources",
    "AddSourceIdentifierToSubscription and RemoveSourceIdentifierFromSubscription are not implemented, so an event "
    "subscription's source_ids cannot change in place (a database restore adds the restored instance to the "
    "instance-events subscription; retiring the source removes it).",
    "Add or remove the identifier on the stored subscription and return it, SubscriptionNotFound for an unknown name.",
)
def _patch_rds_event_subscription_sources() -> None:
    """Observed on moto 5.2.5. The actions are absent from its RDS responses; no upstream issue found (searched
    2026-12-04). Retire when moto implements Add/RemoveSourceIdentifier(To|From)Subscription."""
    from moto.core.responses import ActionResult
    from moto.rds import responses as rr
    from moto.rds.exceptions import RDSClientError

    def change(add: bool) -> Callable[[Any], Any]:
        def action(self: Any) -> Any:
            name, source = self.params["SubscriptionName"], self.params["SourceIdentifier"]
            subscription = self.backend.event_subscriptions.get(name)
            if subscription is None:
                raise RDSClientError("SubscriptionNotFound", f"Subscription {name} not found.")
            others = [s for s in subscription.source_ids if s != source]
            subscription.source_ids = [*others, source] if add else others
            return ActionResult({"EventSubscription": subscription})

        return action

    rr.RDSResponse.add_source_identifier_to_subscription = change(add=True)
    rr.RDSResponse.remove_source_identifier_from_subscription = change(add=False)


@gap(
    "rds-restore-is-not-a-replica",
    "RestoreDBInstanceToPointInTime keeps the request's SourceDBInstanceIdentifier on the new instance, which then "
    "reports it as ReadReplicaSourceDBInstanceIdentifier: the provider reads the restored instance as a read replica "
    "of its source (a perpetual replicate_source_db diff).",
    "Clear the read-replica source of the instance a point-in-time restore creates (AWS restores a standalone "
    "instance).",
)
def _patch_rds_restore_is_not_a_replica() -> None:
    """Observed on moto 5.2.5. No upstream issue found (searched 2026-12-04). Retire when moto's point-in-time
    restore no longer reports the source as ReadReplicaSourceDBInstanceIdentifier."""
    from moto.rds import models as rds

    original = rds.RDSBackend.restore_db_instance_to_point_in_time

    def restore_db_instance_to_point_in_time(self: Any, *args: Any, **kwargs: Any) -> Any:
        restored = original(self, *args, **kwargs)
        restored.source_db_instance_identifier = None
        return restored

    rds.RDSBackend.restore_db_instance_to_point_in_time = restore_db_instance_to_point_in_time


#: This module's patches, in the order they are applied.
PATCHES = (
    _patch_rds_dbi_resource_id,
    _patch_rds_performance_insights,
    _patch_rds_parameter_source,
    _patch_rds_groups_in_use,
    _patch_rds_backup_replication,
    _patch_rds_event_subscription_sources,
    _patch_rds_restore_is_not_a_replica,
)
