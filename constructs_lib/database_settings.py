"""The PostgreSQL instance's settings: its shape, safety switches, retention, recovery and parameters."""

from __future__ import annotations

from dataclasses import dataclass

from processor.contract import MASTER_DB_USER, RETENTION_LIMITS, RetentionPolicy

from .database_recovery import RestoreSettings
from .validation import (
    require,
    require_bool,
    require_clear_windows,
    require_int,
    require_name,
    require_region,
)

#: pgaudit classes logged for every session: schema changes, role and privilege changes, and every
#: INSERT/UPDATE/DELETE/TRUNCATE/COPY. Session auditing (not object auditing through an audit role) so a
#: new table or partition is audited without a migration remembering to grant it to the audit role.
PGAUDIT_CLASSES = "ddl,role,write"


@dataclass(frozen=True, kw_only=True)
class DatabaseSettings:
    """Shape and safety of the PostgreSQL instance.

    instance_class: RDS class. Default: db.t4g.medium (the smallest with Performance Insights).
    engine_version: "16" lets RDS pick its current 16.x minor and keep it current through
      automatic minor upgrades, so no retired minor is ever pinned. Default: "16".
    allocated_storage_gb / max_allocated_storage_gb: gp3 size at creation and the ceiling of
      storage autoscaling. Default: 20 and 200.
    multi_az: a synchronous standby in a second AZ. Default: on.
    backup_retention_days: automated backups kept, 1-35. Default: 7.
    backup_window / maintenance_window: UTC windows that must not overlap. Default: 16:00-17:00 daily and
      sun:18:00-sun:19:00 (01:00 and Monday 03:00 in Tokyo).
    deletion_protection: refuse DeleteDBInstance. Default: on.
    skip_final_snapshot: destroy without a last snapshot. Default: off (a snapshot is kept).
    slow_statement_ms: statements slower than this are logged. Default: 500.
    db_name / master_username: the database and its owner; the password is generated and
      rotated by RDS in Secrets Manager, never seen by Terraform. Default: transactions and japancart_admin.
    transaction_retention_months: months of transactions kept; older monthly partitions are detached by
      the daily data-lifecycle run. 1-240. Default: 84 (seven years, the usual retention of payment records).
    rejected_retention_days: days a rejected record (raw payload and reason) is kept before the daily run
      purges it. 1-3650. Default: 90.
    conflict_retention_days: days a conflicting duplicate (its whole payload) is kept. 1-3650. Default: 90.
    alert_retention_days: days a rule alert is kept after it last changed. 1-3650. Default: 2,555 (seven
      years, as long as the transactions it was computed from).
    partition_drop_grace_days: days a detached partition is kept before the daily run drops it. 1-3650.
      Default: 30.
    export_before_drop: drop a detached partition only after `python -m processor.maintain export` wrote it
      to a file and recorded it. Default: off (the partition is past its retention; dropping it is the point).
    backup_replication_region: a second region the automated backups are replicated to (kept as long as
      `backup_retention_days`, encrypted with a key of that region). Default: none.
    restore: a point-in-time restore into a new instance (`RestoreSettings`). Default: none.
    """

    instance_class: str = "db.t4g.medium"
    engine_version: str = "16"
    allocated_storage_gb: int = 20
    max_allocated_storage_gb: int = 200
    multi_az: bool = True
    backup_retention_days: int = 7
    backup_window: str = "16:00-17:00"
    maintenance_window: str = "sun:18:00-sun:19:00"
    deletion_protection: bool = True
    skip_final_snapshot: bool = False
    slow_statement_ms: int = 500
    db_name: str = "transactions"
    master_username: str = MASTER_DB_USER
    transaction_retention_months: int = RetentionPolicy.transaction_retention_months
    rejected_retention_days: int = RetentionPolicy.rejected_retention_days
    conflict_retention_days: int = RetentionPolicy.conflict_retention_days
    alert_retention_days: int = RetentionPolicy.alert_retention_days
    partition_drop_grace_days: int = RetentionPolicy.partition_drop_grace_days
    export_before_drop: bool = RetentionPolicy.export_before_drop
    backup_replication_region: str = ""
    restore: RestoreSettings | None = None

    def __post_init__(self) -> None:
        require_name(
            "instance_class",
            self.instance_class,
            r"db\.[a-z0-9]+\.[a-z0-9]+",
            "an RDS instance class such as db.t4g.medium",
        )
        require_name("engine_version", self.engine_version, r"16(\.\d+)?", "a PostgreSQL 16 version such as 16")
        require_int("allocated_storage_gb", self.allocated_storage_gb, 20, 65_536)
        require_int("max_allocated_storage_gb", self.max_allocated_storage_gb, self.allocated_storage_gb + 1, 65_536)
        for name in ("multi_az", "deletion_protection", "skip_final_snapshot"):
            require_bool(name, getattr(self, name))
        require_int("backup_retention_days", self.backup_retention_days, 1, 35)
        require_clear_windows("backup_window", self.backup_window, "maintenance_window", self.maintenance_window)
        require_int("slow_statement_ms", self.slow_statement_ms, 0, 3_600_000)
        require_name("db_name", self.db_name, r"[a-z][a-z0-9_]{0,62}", "a PostgreSQL identifier such as transactions")
        require_name(
            "master_username",
            self.master_username,
            r"[a-z][a-z0-9_]{0,62}",
            "a PostgreSQL role name such as japancart_admin",
        )
        require(
            self.master_username not in {"postgres", "admin", "rdsadmin"},
            "master_username",
            self.master_username,
            "a name RDS does not reserve",
        )
        for name, (low, high) in RETENTION_LIMITS.items():
            require_int(name, getattr(self, name), low, high)
        require_bool("export_before_drop", self.export_before_drop)
        if self.backup_replication_region:
            require_region("backup_replication_region", self.backup_replication_region)
        require(
            self.restore is None or isinstance(self.restore, RestoreSettings),
            "restore",
            self.restore,
            'a table such as { source = "japancart-prod-db", time = "2026-12-04T01:30:00Z" }',
        )

    @property
    def retention(self) -> RetentionPolicy:
        """What the daily data-lifecycle run keeps (the migration function sets it as the database's policy)."""
        return RetentionPolicy(**{name: getattr(self, name) for name in RetentionPolicy.__dataclass_fields__})


def parameters_of(settings: DatabaseSettings) -> dict[str, tuple[str, str]]:
    """name -> (value, apply method). Static parameters (shared_preload_libraries) apply at the next reboot."""
    return {
        "rds.force_ssl": ("1", "immediate"),
        "log_min_duration_statement": (str(settings.slow_statement_ms), "immediate"),
        # Bound parameters (customer ids, amounts, metadata) never reach the logs, on success or on error.
        "log_parameter_max_length": ("0", "immediate"),
        "log_parameter_max_length_on_error": ("0", "immediate"),
        "log_connections": ("1", "immediate"),
        "log_disconnections": ("1", "immediate"),
        "shared_preload_libraries": ("pgaudit", "pending-reboot"),
        "pgaudit.log": (PGAUDIT_CLASSES, "immediate"),
        # Statement text only: pgaudit's own parameter logging would bypass log_parameter_max_length.
        "pgaudit.log_parameter": ("0", "immediate"),
        "pgaudit.log_catalog": ("0", "immediate"),
    }
