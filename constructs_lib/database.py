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
    SECRET_APP_USERNAME,
    SECRET_MAINTAINER_USERNAME,
    SECRET_PASSWORD_SECRET_ARN,
    RetentionPolicy,
)

from .checkov import skip_check
from .database_recovery import DB_IDENTIFIER_RULE, RestoreSettings
from .database_settings import DatabaseSettings, parameters_of
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
    require_name,
    require_recovery_window,
)

POSTGRES_PORT = 5432
LOG_EXPORTS = ("postgresql", "upgrade")
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

    NAME_RULE: ClassVar[NameRule] = DB_IDENTIFIER_RULE

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
        if self.restore is not None:
            require(
                self.restore.source == self.name,
                "restore.source",
                self.restore.source,
                f"this database's identifier ({self.name})",
            )

    @property
    def secret_name(self) -> str:
        """The connection secret's name: `connection_secret_name`, or `<name>/db-connection`."""
        return self.connection_secret_name or f"{self.name}/db-connection"


@dataclass(frozen=True)
class _InstanceShared:
    """What every instance of the construct uses: its subnet and parameter groups and monitoring role."""

    subnets: str
    parameters: str
    monitoring_role_arn: str


class TransactionDatabase(Construct):
    """A private, encrypted, Multi-AZ PostgreSQL 16 instance that keeps its data on destroy.

    With `restore`, a second instance restored from the first's backups is the one the system uses (secret, grants,
    alarms, `identifier`); the first stays as it was until `restore.keep_source` is turned off.
    """

    def __init__(self, scope: Construct, construct_id: str, props: TransactionDatabaseProps) -> None:
        super().__init__(scope, construct_id)
        net = props.networking
        account = props.keys.data.account
        restore = props.restore
        #: The instance the system uses: the restored one while `restore` is set, else the one named `name`.
        self.identifier: str = restore.target if restore else props.name
        #: Its ARN, known from its identifier before it exists (trust policies name it).
        self.arn: str = account.arn("rds", f"db:{self.identifier}")
        # construct-id prefix -> identifier: the source keeps the unprefixed ids (its Terraform addresses).
        instances = {} if restore and not restore.keep_source else {"": props.name}
        if restore:
            instances["restored-"] = restore.target

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
                for name, (value, method) in sorted(parameters_of(props).items())
            ],
        )
        shared = _InstanceShared(
            subnets=subnets.name,
            parameters=parameters.name,
            monitoring_role_arn=self._monitoring_role(
                props, [account.arn("rds", f"db:{name}") for name in instances.values()]
            ).arn,
        )
        built = {
            prefix: self._db_instance(prefix, name, props, shared, restore if prefix else None)
            for prefix, name in instances.items()
        }
        self._instance = built["restored-" if restore else ""]
        #: Every instance the construct holds: the one in use and, during a restore, the source kept beside it.
        self.identifiers: tuple[str, ...] = tuple(instances.values())
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

        self.parameter_group_name: str = parameters.name
        self.address: str = self._instance.address
        self.port: int = POSTGRES_PORT
        #: The instance's own security group (admits what `allow_from` named).
        self.security_group_id: str = self._security_group.id
        self.endpoint: str = self._instance.endpoint
        #: The instance's ARN from the provider (a dependency on it, unlike `arn`).
        self.instance_arn: str = self._instance.arn
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

    def _db_instance(
        self,
        prefix: str,
        identifier: str,
        props: TransactionDatabaseProps,
        shared: _InstanceShared,
        restore: RestoreSettings | None,
    ) -> DbInstance:
        """One PostgreSQL instance `identifier` with its exported log groups (construct ids `<prefix>instance`,
        `<prefix>log-<kind>`, `<prefix>created`); `restore`: created from the source's backups instead of empty."""
        # RDS would create these on first export, unencrypted and kept forever.
        log_groups = [
            encrypted_log_group(
                self,
                f"{prefix}log-{kind}",
                name=f"/aws/rds/instance/{identifier}/{kind}",
                key_arn=props.keys.logs.key_arn,
                retention_days=props.log_retention_days,
            )
            for kind in LOG_EXPORTS
        ]
        instance = DbInstance(
            self,
            f"{prefix}instance",
            identifier=identifier,
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
            db_subnet_group_name=shared.subnets,
            vpc_security_group_ids=[self._security_group.id],
            parameter_group_name=shared.parameters,
            multi_az=props.multi_az,
            publicly_accessible=False,
            performance_insights_enabled=True,
            performance_insights_kms_key_id=props.keys.data.key_arn,
            performance_insights_retention_period=7,
            monitoring_interval=60,
            monitoring_role_arn=shared.monitoring_role_arn,
            enabled_cloudwatch_logs_exports=list(LOG_EXPORTS),
            backup_retention_period=props.backup_retention_days,
            backup_window=props.backup_window,
            maintenance_window=props.maintenance_window,
            copy_tags_to_snapshot=True,
            deletion_protection=props.deletion_protection,
            skip_final_snapshot=props.skip_final_snapshot,
            final_snapshot_identifier=(
                None if props.skip_final_snapshot else self._final_snapshot_name(identifier, f"{prefix}created")
            ),
            restore_to_point_in_time=restore.point_in_time() if restore else None,
            # Once restored, the instance is the system's database: editing where it came from never replaces it.
            lifecycle=TerraformResourceLifecycle(ignore_changes=["restore_to_point_in_time"]) if restore else None,
            depends_on=log_groups,
        )
        if not props.deletion_protection:
            skip_check(
                instance,
                "CKV_AWS_293",
                "deletion protection is off by this environment's configuration "
                "(database.deletion_protection = false: a disposable database)",
            )
        return instance

    def _final_snapshot_name(self, name: str, construct_id: str) -> str:
        """`<name>-final-<UTC creation time>`: fixed for the life of the instance (the time is taken once,
        when Terraform first creates it, by a built-in `terraform_data` that ignores later changes), new for
        every instance, so a second destroy never collides with the first's snapshot. No extra provider."""
        created = DataResource(
            self,
            construct_id,
            input={"at": Fn.timestamp()},
            lifecycle=TerraformResourceLifecycle(ignore_changes=["input"]),
        )
        at = Fn.lookup(created.output, "at")
        return f"{name}-final-{Fn.formatdate('YYYYMMDDhhmmss', Token.as_string(at))}"

    def _monitoring_role(self, props: TransactionDatabaseProps, instance_arns: list[str]) -> IamRole:
        """The role RDS enhanced monitoring assumes to publish OS metrics, for these instances only."""
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
                    condition=service_source(account.account_id, *instance_arns),
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
