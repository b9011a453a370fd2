"""The schema migration: a function of the processor's zip that Terraform runs, as the master user, per deploy."""

from __future__ import annotations

import json
from dataclasses import dataclass

from cdktf import TerraformAsset
from cdktf_cdktf_provider_aws.lambda_invocation import LambdaInvocation
from constructs import Construct

from processor import contract as c

from .bundled_function import BundledFunction, LambdaBundle, bundled_function
from .checkov import skip_check
from .database import TransactionDatabase
from .encryption import EnvironmentKeys
from .grants import PolicyGrantee
from .networking import Networking
from .validation import LOG_RETENTION_DAYS, require_choice, require_name

#: Migrations take an advisory lock and run a few DDL statements; five minutes is generous.
MIGRATION_TIMEOUT_SECONDS = 300
MIGRATION_MEMORY_MB = 256


@dataclass(frozen=True, kw_only=True)
class SchemaMigrationProps:
    """Inputs of `SchemaMigration`.

    name: prefix of the function (`<name>-migrate`) and its role.
    bundle: the processor's zip; its `migrations_checksum` decides when the migration runs again.
    code: the zip as an asset of the stack (shared with the processor function).
    keys: `secrets` encrypts the function's environment and the secrets it reads, `logs` its log group.
    networking: the private subnets and the application security group (the one the database admits).
    database: the connection secret and the RDS-managed master secret it reads.
    log_retention_days: retention of the function's log group (a CloudWatch Logs value). Default: 365.
    """

    name: str
    bundle: LambdaBundle
    code: TerraformAsset
    keys: EnvironmentKeys
    networking: Networking
    database: TransactionDatabase
    log_retention_days: int = 365

    def __post_init__(self) -> None:
        require_name("name", self.name, r"[A-Za-z0-9_-]{1,56}", "letters, digits, '_' or '-' (at most 56 characters)")
        require_choice("log_retention_days", self.log_retention_days, LOG_RETENTION_DAYS)


class SchemaMigration(Construct):
    """A Lambda from the processor's zip that applies the SQL migrations as the master user, and its run.

    Only this function's role may read the RDS-managed master secret. It has no event source:
    Terraform invokes it (`aws_lambda_invocation`) on the first deploy and again when the bundled
    migrations or the configured retention change (both are the input and the trigger), after the
    function, its permissions, the connection secret and the Secrets Manager endpoint exist. A failing
    migration fails the apply. The run also sets the retention the daily maintenance reads
    (`processor.maintain.RetentionPolicy`, from the database's settings); that maintenance runs in its
    own function as `txn_maintainer` (`DataMaintenance`), never as the master.
    """

    def __init__(self, scope: Construct, construct_id: str, props: SchemaMigrationProps) -> None:
        super().__init__(scope, construct_id)
        function_name = f"{props.name}-migrate"
        database = props.database
        secrets_key = props.keys.secrets
        grantee = PolicyGrantee()
        database.grant_read_master_credentials(grantee, sid="ReadMigrationCredentials")
        secrets_key.grant_decrypt(grantee, via="secretsmanager", sid="DecryptMigrationCredentials")
        self._function, policy = bundled_function(
            self,
            BundledFunction(
                function_name=function_name,
                handler=c.MIGRATION_HANDLER,
                policy_name="schema-migration",
                description="Applies the PostgreSQL schema migrations as the master user; run by Terraform per deploy",
                memory_mb=MIGRATION_MEMORY_MB,
                timeout_seconds=MIGRATION_TIMEOUT_SECONDS,
                variables={c.ENV_DB_SECRET: database.connection_secret_arn},
                bundle=props.bundle,
                code=props.code,
                keys=props.keys,
                networking=props.networking,
                log_retention_days=props.log_retention_days,
            ),
            grantee,
        )
        skip_check(
            self._function,
            "CKV_AWS_116",
            "no payload worth keeping: Terraform's run is synchronous and fails the apply, which shows the error",
        )
        checksum = props.bundle.migrations_checksum
        retention = json.dumps(database.retention.as_dict(), sort_keys=True)
        ready = [policy, props.networking.secrets_manager_endpoint]
        if database.connection_secret.version is not None:
            ready.append(database.connection_secret.version)
        #: The migration's run by Terraform: depend on it to start after the schema is current.
        self.ready: LambdaInvocation = LambdaInvocation(
            self,
            "run",
            function_name=self._function.function_name,
            input=json.dumps({"checksum": checksum, "retention": json.loads(retention)}),
            triggers={"migrations_checksum": checksum, "retention": retention},
            lifecycle_scope="CREATE_ONLY",
            depends_on=ready,
        )
        self.function_name: str = function_name
        self.function_arn: str = self._function.arn
