"""RDS PostgreSQL 16: permanent storage of every transaction."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from cdktf import DataResource, Fn, TerraformResourceLifecycle, Token
from cdktf_cdktf_provider_aws.data_aws_iam_policy_document import (
    DataAwsIamPolicyDocument,
    DataAwsIamPolicyDocumentStatement,
    DataAwsIamPolicyDocumentStatementPrincipals,
)
from cdktf_cdktf_provider_aws.db_instance import DbInstance
from cdktf_cdktf_provider_aws.db_parameter_group import DbParameterGroup, DbParameterGroupParameter
from cdktf_cdktf_provider_aws.db_subnet_group import DbSubnetGroup
from cdktf_cdktf_provider_aws.iam_role import IamRole
from cdktf_cdktf_provider_aws.iam_role_policy_attachment import IamRolePolicyAttachment
from cdktf_cdktf_provider_aws.security_group import SecurityGroup
from constructs import Construct

from processor.contract import (
    APP_DB_USER,
    MAINTAINER_DB_USER,
    MASTER_DB_USER,
    RETENTION_LIMITS,
    SECRET_APP_USERNAME,
    SECRET_MAINTAINER_USERNAME,
    SECRET_PASSWORD_SECRET_ARN,
    RetentionPolicy,
)

from .checkov import skip_check
from .grants import PolicyGrantee
from .guards import service_source
from .logs import encrypted_log_group
from .monitoring import GIB, MIB, AlarmSpec, DashboardGraph
from .secrets import READ_ACTION, SECRET_NAME_RULE, Secret, SecretProps
from .security_group_rules import allow_from_store, store_security_group
from .store import PrivateStoreProps
from .validation import (
    NameRule,
    require,
    require_bool,
    require_clear_windows,
    require_int,
    require_name,
    require_recovery_window,
)

POSTGRES_PORT = 5432
LOG_EXPORTS = ("postgresql", "upgrade")
#: pgaudit classes logged for every session: schema changes, role and privilege changes, and every
#: INSERT/UPDATE/DELETE/TRUNCATE/COPY. Session auditing (not object auditing through an audit role) so a
#: new table or partition is audited without a migration remembering to grant it to the audit role.
PGAUDIT_CLASSES = "ddl,role,write"
#: What each database alarm (`alarm_specs`) tells on-call.
DB_ALARM_DESCRIPTIONS = {
    "db-cpu": "Database CPU is high",
    "db-free-storage": "Database storage is nearly full (autoscaling may be at its ceiling)",
    "db-connections": "Database connections are near the limit",
    "db-freeable-memory": "Database memory is low",
    "db-read-latency": "Database reads are slow",
    "db-write-latency": "Database writes are slow",
}


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

    @property
    def retention(self) -> RetentionPolicy:
        """What the daily data-lifecycle run keeps (the migration function sets it as the database's policy)."""
        return RetentionPolicy(**{name: getattr(self, name) for name in RetentionPolicy.__dataclass_fields__})


@dataclass(frozen=True, kw_only=True)
class TransactionDatabaseProps(DatabaseSettings, PrivateStoreProps):
    """Inputs of `TransactionDatabase`: the instance's shape and safety switches (the `DatabaseSettings`
    fields, each defaulted), what every private store takes (`PrivateStoreProps`: networking, log
    retention) and:

    name: the DB instance identifier; also names its groups, role and final snapshot. Required.
    keys: `data` encrypts storage and Performance Insights, `secrets` the master and connection
      secrets, `logs` the exported logs. Required.
    connection_secret_name: the secret holding host, port, dbname, the master username, the ARN
      of the RDS-managed password secret and the application's role name. Default: `<name>/db-connection`.
    app_username: the PostgreSQL role the application logs in as with an IAM auth token (the
      migrations create it; this construct only names it in the connection secret and in
      `app_connect_arn`). Default: the processor's role (`processor.contract.APP_DB_USER`).
    maintainer_username: the role the daily data-lifecycle run logs in as with an IAM auth token (created by
      the migrations, allowed only the lifecycle functions). Default: `processor.contract.MAINTAINER_DB_USER`.
    secret_recovery_days: recovery window of the connection secret when deleted (0: at once). Default: 30.

    No security group is admitted until `TransactionDatabase.allow_from` names one.
    """

    NAME_RULE: ClassVar[NameRule] = NameRule(
        r"[a-z](?!.*--)[a-z0-9-]{0,52}[a-z0-9]",
        "an RDS identifier: lowercase letters, digits, single hyphens, at most 54 characters",
    )

    name: str
    connection_secret_name: str = ""
    app_username: str = APP_DB_USER
    maintainer_username: str = MAINTAINER_DB_USER
    secret_recovery_days: int = 30

    def __post_init__(self) -> None:
        super().__post_init__()
        require_recovery_window("secret_recovery_days", self.secret_recovery_days)
        self.NAME_RULE.check("name", self.name)
        require_name(
            "app_username", self.app_username, r"[a-z][a-z0-9_]{0,62}", "a PostgreSQL role name such as txn_writer"
        )
        require(
            self.app_username != self.master_username,
            "app_username",
            self.app_username,
            f"a role other than the master user ({self.master_username})",
        )
        require_name(
            "maintainer_username",
            self.maintainer_username,
            r"[a-z][a-z0-9_]{0,62}",
            "a PostgreSQL role name such as txn_maintainer",
        )
        require(
            self.maintainer_username not in (self.master_username, self.app_username),
            "maintainer_username",
            self.maintainer_username,
            f"a role other than the master ({self.master_username}) and the application's ({self.app_username})",
        )
        self.check_store("multi_az", self.multi_az)
        if self.connection_secret_name:
            SECRET_NAME_RULE.check("connection_secret_name", self.connection_secret_name)

    @property
    def secret_name(self) -> str:
        """The connection secret's name: `connection_secret_name`, or `<name>/db-connection`."""
        return self.connection_secret_name or f"{self.name}/db-connection"


class TransactionDatabase(Construct):
    """A private, encrypted, Multi-AZ PostgreSQL 16 instance that keeps its data on destroy."""

    def __init__(self, scope: Construct, construct_id: str, props: TransactionDatabaseProps) -> None:
        super().__init__(scope, construct_id)
        net = props.networking
        account = props.keys.data.account
        #: The instance's ARN, known from its identifier before it exists (trust policies name it).
        self.arn: str = account.arn("rds", f"db:{props.name}")

        self._security_group = store_security_group(
            self,
            name=f"{props.name}-db",
            vpc_id=net.vpc_id,
            description="PostgreSQL; admits only the application security group",
        )

        subnets = DbSubnetGroup(
            self,
            "subnets",
            name=props.name,
            subnet_ids=net.private_subnet_ids,
            description="Private subnets of the transaction database",
        )
        parameters = DbParameterGroup(
            self,
            "parameters",
            name=f"{props.name}-postgres16",
            family="postgres16",
            description="TLS only; slow statements and connections logged without bound values; pgaudit",
            parameter=[
                DbParameterGroupParameter(name=name, value=value, apply_method=method)
                for name, (value, method) in sorted(_parameters(props).items())
            ],
        )
        # RDS would create these on first export, unencrypted and kept forever.
        log_groups = [
            encrypted_log_group(
                self,
                f"log-{kind}",
                name=f"/aws/rds/instance/{props.name}/{kind}",
                key_arn=props.keys.logs.key_arn,
                retention_days=props.log_retention_days,
            )
            for kind in LOG_EXPORTS
        ]

        self._instance = DbInstance(
            self,
            "instance",
            identifier=props.name,
            engine="postgres",
            engine_version=props.engine_version,
            port=POSTGRES_PORT,
            auto_minor_version_upgrade=True,
            instance_class=props.instance_class,
            storage_type="gp3",
            allocated_storage=props.allocated_storage_gb,
            max_allocated_storage=props.max_allocated_storage_gb,
            storage_encrypted=True,
            kms_key_id=props.keys.data.key_arn,
            db_name=props.db_name,
            username=props.master_username,
            manage_master_user_password=True,
            master_user_secret_kms_key_id=props.keys.secrets.key_arn,
            iam_database_authentication_enabled=True,
            db_subnet_group_name=subnets.name,
            vpc_security_group_ids=[self._security_group.id],
            parameter_group_name=parameters.name,
            multi_az=props.multi_az,
            publicly_accessible=False,
            performance_insights_enabled=True,
            performance_insights_kms_key_id=props.keys.data.key_arn,
            performance_insights_retention_period=7,
            monitoring_interval=60,
            monitoring_role_arn=self._monitoring_role(props).arn,
            enabled_cloudwatch_logs_exports=list(LOG_EXPORTS),
            backup_retention_period=props.backup_retention_days,
            backup_window=props.backup_window,
            maintenance_window=props.maintenance_window,
            copy_tags_to_snapshot=True,
            deletion_protection=props.deletion_protection,
            skip_final_snapshot=props.skip_final_snapshot,
            final_snapshot_identifier=None if props.skip_final_snapshot else self._final_snapshot_name(props.name),
            depends_on=log_groups,
        )
        if not props.deletion_protection:
            skip_check(
                self._instance,
                "CKV_AWS_293",
                "deletion protection is off by this environment's configuration "
                "(database.deletion_protection = false: a disposable database)",
            )
        password_secret_arn = self._instance.master_user_secret.get(0).secret_arn
        self.connection_secret = Secret(
            self,
            "connection-secret",
            SecretProps(
                name=props.secret_name,
                description="Where to connect to the transaction database: the master user's password is in "
                "password_secret_arn; the roles app_username and maintainer_username sign in with IAM tokens",
                key=props.keys.secrets,
                recovery_window_days=props.secret_recovery_days,
                value={
                    "engine": "postgres",
                    "host": self._instance.address,
                    "port": self._instance.port,
                    "dbname": props.db_name,
                    "username": props.master_username,
                    SECRET_PASSWORD_SECRET_ARN: password_secret_arn,
                    SECRET_APP_USERNAME: props.app_username,
                    SECRET_MAINTAINER_USERNAME: props.maintainer_username,
                },
            ),
        )
        skip_check(
            self.connection_secret.secret,
            "CKV2_AWS_57",
            "holds no credential (host, port, users, database); "
            "the password is RDS's managed master-user secret, which RDS rotates",
        )

        self.identifier: str = props.name
        self.parameter_group_name: str = parameters.name
        self.address: str = self._instance.address
        self.port: int = POSTGRES_PORT
        #: The instance's own security group (admits what `allow_from` named).
        self.security_group_id: str = self._security_group.id
        self.endpoint: str = self._instance.endpoint
        self.connection_secret_arn: str = self.connection_secret.secret_arn
        self.password_secret_arn: str = password_secret_arn
        #: DbiResourceId (db-XXXX): what IAM database authentication ARNs name the instance by.
        self.resource_id: str = self._instance.resource_id
        self.app_username: str = props.app_username
        #: The only `rds-db:connect` resource the application needs: its own role on this instance.
        self.app_connect_arn: str = account.arn("rds-db", f"dbuser:{self.resource_id}/{props.app_username}")
        self.maintainer_username: str = props.maintainer_username
        #: The only `rds-db:connect` resource the daily maintenance needs: the maintainer role on this instance.
        self.maintainer_connect_arn: str = account.arn(
            "rds-db", f"dbuser:{self.resource_id}/{props.maintainer_username}"
        )
        #: What the daily data-lifecycle run keeps; the migration function sets it in the database.
        self.retention: RetentionPolicy = props.retention

    def grant_read_connection(self, grantee: PolicyGrantee, sid: str = "ReadDatabaseConnection") -> None:
        """Let `grantee` read where to connect (the connection secret), never the master password."""
        self.connection_secret.grant_read(grantee, sid)

    def grant_read_master_credentials(self, grantee: PolicyGrantee, sid: str = "ReadMasterCredentials") -> None:
        """Let `grantee` read the connection secret and the RDS-managed master password (migrations only)."""
        grantee.allow(sid, [READ_ACTION], [self.connection_secret_arn, self.password_secret_arn])

    def grant_connect(self, grantee: PolicyGrantee, sid: str = "SignInAsTheApplicationRole") -> None:
        """Let `grantee` sign in with IAM auth tokens as the application role, and as no other role."""
        grantee.allow(sid, ["rds-db:connect"], [self.app_connect_arn])

    def grant_connect_as_maintainer(self, grantee: PolicyGrantee, sid: str = "SignInAsTheMaintainerRole") -> None:
        """Let `grantee` sign in with IAM auth tokens as the maintainer role, and as no other role."""
        grantee.allow(sid, ["rds-db:connect"], [self.maintainer_connect_arn])

    def allow_from(self, clients: SecurityGroup, construct_id: str = "clients") -> None:
        """Admit `clients` on the PostgreSQL port (an egress rule on it, an ingress rule here), under `construct_id`."""
        allow_from_store(
            self, construct_id, clients=clients, store=self._security_group, port=POSTGRES_PORT, service="PostgreSQL"
        )

    def alarm_specs(
        self,
        *,
        cpu_percent: float,
        free_storage_gib: float,
        connections: float,
        freeable_memory_mib: float,
        read_latency_ms: float,
        write_latency_ms: float,
    ) -> list[AlarmSpec]:
        """Keyed by the instance identifier: the resource's `id` is the DbiResourceId and matches no metric."""
        above, below = "GreaterThanThreshold", "LessThanThreshold"
        rows = [  # suffix, metric, comparison, threshold, missing data
            ("db-cpu", "CPUUtilization", above, cpu_percent, "missing"),
            ("db-free-storage", "FreeStorageSpace", below, free_storage_gib * GIB, "breaching"),
            ("db-connections", "DatabaseConnections", above, connections, "missing"),
            ("db-freeable-memory", "FreeableMemory", below, freeable_memory_mib * MIB, "breaching"),
            ("db-read-latency", "ReadLatency", above, read_latency_ms / 1000, "missing"),
            ("db-write-latency", "WriteLatency", above, write_latency_ms / 1000, "missing"),
        ]
        return [
            AlarmSpec(
                suffix=suffix,
                metric=metric,
                namespace="AWS/RDS",
                dimensions={"DBInstanceIdentifier": self.identifier},
                statistic="Average",
                comparison=comparison,
                threshold=threshold,
                treat_missing_data=missing,
                description=DB_ALARM_DESCRIPTIONS[suffix],
            )
            for suffix, metric, comparison, threshold, missing in rows
        ]

    def dashboard_graphs(self) -> list[DashboardGraph]:
        """CPU and connections, and I/O latency."""

        def rds(metric: str) -> list[str]:
            return ["AWS/RDS", metric, "DBInstanceIdentifier", self.identifier]

        return [
            DashboardGraph(
                "Database CPU (%) and connections", [rds("CPUUtilization"), rds("DatabaseConnections")], "Average"
            ),
            DashboardGraph("Database latency (s)", [rds("ReadLatency"), rds("WriteLatency")], "Average"),
        ]

    def _final_snapshot_name(self, name: str) -> str:
        """`<name>-final-<UTC creation time>`: fixed for the life of the instance (the time is taken once,
        when Terraform first creates it, by a built-in `terraform_data` that ignores later changes), new for
        every instance, so a second destroy never collides with the first's snapshot. No extra provider."""
        created = DataResource(
            self,
            "created",
            input={"at": Fn.timestamp()},
            lifecycle=TerraformResourceLifecycle(ignore_changes=["input"]),
        )
        at = Fn.lookup(created.output, "at")
        return f"{name}-final-{Fn.formatdate('YYYYMMDDhhmmss', Token.as_string(at))}"

    def _monitoring_role(self, props: TransactionDatabaseProps) -> IamRole:
        """The role RDS enhanced monitoring assumes to publish OS metrics, for this instance only."""
        account = props.keys.data.account
        trust = DataAwsIamPolicyDocument(
            self,
            "monitoring-trust",
            statement=[
                DataAwsIamPolicyDocumentStatement(
                    actions=["sts:AssumeRole"],
                    principals=[
                        DataAwsIamPolicyDocumentStatementPrincipals(
                            type="Service", identifiers=["monitoring.rds.amazonaws.com"]
                        )
                    ],
                    condition=service_source(account.account_id, self.arn),
                )
            ],
        )
        role = IamRole(self, "monitoring-role", name=f"{props.name}-rds-monitoring", assume_role_policy=trust.json)
        IamRolePolicyAttachment(
            self,
            "monitoring-policy",
            role=role.name,
            policy_arn=f"arn:{account.partition}:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole",
        )
        return role


def _parameters(settings: DatabaseSettings) -> dict[str, tuple[str, str]]:
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
