"""One environment of the transaction monitoring system, as one Terraform stack."""

from __future__ import annotations

from cdktf import Aspects, TerraformOutput, TerraformStack
from constructs import Construct

from constructs_lib.alarms import AlertTopic, SystemAlarms, alert_publishers
from constructs_lib.boundary import PermissionsBoundary
from constructs_lib.bundled_function import LambdaBundle
from constructs_lib.cache import TransactionCache
from constructs_lib.database import TransactionDatabase
from constructs_lib.database_recovery import BackupReplication
from constructs_lib.encryption import Account, EncryptionKey, EncryptionKeyProps, EnvironmentKeys
from constructs_lib.maintenance import DataMaintenance
from constructs_lib.networking import Networking
from constructs_lib.processor import TransactionProcessor
from constructs_lib.stream import TransactionStream

from . import wiring
from .config import AppConfig, EnvironmentConfig
from .identity import Identities
from .providers import aws_provider, common_tags, state_backend


class TransactionMonitoringStack(TerraformStack):
    """Stream, history cache, database, secrets and alarms of one environment, with remote state.

    Every IAM role in it carries the environment's workload boundary (created by the CI stack of its account):
    the apply role may create roles only with it, so a role added here by any construct gets it automatically.
    """

    def __init__(self, scope: Construct, config: AppConfig, env: EnvironmentConfig, bundle: LambdaBundle) -> None:
        super().__init__(scope, env.name)
        name = config.names(env).prefix
        provider = {"account_id": env.account_id, "tags": common_tags(config, env.name), "emulator": config.emulator}
        aws_provider(self, region=env.region, **provider)
        state_backend(self, config, env.name)
        Aspects.of(self).add(PermissionsBoundary(Identities(config).workload_boundary_arn(env.name)))

        keys = _keys(self, name)
        network = Networking(self, "network", wiring.network_props(config, env, keys.logs))
        app_sg = network.app_security_group
        stream = TransactionStream(self, "stream", wiring.stream_props(config, env, keys.data))
        cache = TransactionCache(self, "cache", wiring.cache_props(config, env, keys, network))
        database = TransactionDatabase(self, "database", wiring.database_props(config, env, keys, network))
        replicated = env.database.backup_replication_region
        if replicated:
            replication = BackupReplication(
                self,
                "backup-replication",
                wiring.backup_replication_props(
                    config, env, database, aws_provider(self, region=replicated, alias="backups", **provider)
                ),
            )
        cache.allow_from(app_sg)
        database.allow_from(app_sg)
        network.restrict_secrets_endpoint(
            keys.secrets.account_id, [database.connection_secret_arn, database.password_secret_arn]
        )
        topic = AlertTopic(self, "alerts", wiring.alert_topic_props(config, env, keys.logs))
        alarms = SystemAlarms(self, "alarms", wiring.system_alarms_props(config, env, topic, stream, cache, database))
        processor = TransactionProcessor(
            self,
            "processor",
            wiring.processor_props(config, env, bundle, keys, network, stream, cache, database, topic),
        )
        DataMaintenance(
            self,
            "maintenance",
            wiring.maintenance_props(config, env, bundle, keys, network, database, topic, processor),
        )

        outputs = {
            "vpc_id": (network.vpc_id, "The system's VPC"),
            "kinesis_stream_name": (stream.stream_name, "Producers put transactions here"),
            "kinesis_stream_arn": (stream.stream_arn, "ARN of the transaction stream"),
            "redis_endpoint": (cache.primary_endpoint_address, "Primary endpoint of the Redis history (TLS)"),
            "redis_port": (cache.port, "Redis port"),
            "rds_endpoint": (database.address, "Host name of the PostgreSQL instance"),
            "rds_port": (database.port, "PostgreSQL port"),
            "db_secret_arn": (
                database.connection_secret_arn,
                "Secret with host, port, dbname, username, password_secret_arn, app_username, maintainer_username",
            ),
            "elasticache_security_group_id": (cache.security_group_id, "Security group of the Redis nodes"),
            "rds_security_group_id": (database.security_group_id, "Security group of the database"),
            "app_security_group_id": (app_sg.id, "Attach to consumers: the only group the stores admit"),
            "redis_user_name": (
                cache.app_user_name,
                "Redis user (and user id) the processor signs in as with IAM auth tokens; no password exists",
            ),
            "redis_replication_group_id": (cache.replication_group_id, "What Redis IAM auth tokens are signed for"),
            "alarm_topic_arn": (topic.topic_arn, "SNS topic every alarm notifies"),
            "kms_key_arn": (keys.data.key_arn, "Customer-managed key of the transaction data"),
            "secrets_kms_key_arn": (
                keys.secrets.key_arn,
                "Customer-managed key of the secrets and Lambda environments",
            ),
            "logs_kms_key_arn": (keys.logs.key_arn, "Customer-managed key of the log groups and the alarm topic"),
            "dashboard_name": (alarms.dashboard_name, "CloudWatch dashboard of stream, cache and database"),
            "processor_function_name": (processor.function_name, "Lambda function consuming the stream"),
            "dead_letter_queue_url": (processor.dead_letter_queue_url, "Records that failed every retry"),
            "replay_role_arn": (processor.replay_role_arn, "Role to run python -m operator_tools.replay as (MFA)"),
        }
        if replicated:
            outputs["replicated_backups_arn"] = (
                replication.arn,
                f"The database's automated backups in {replicated}: what a restore in that region names",
            )
        for output_id, (value, description) in outputs.items():
            TerraformOutput(self, output_id, value=value, description=description)


def _keys(scope: Construct, name: str) -> EnvironmentKeys:
    """One key per data class. The data key keeps the construct id `key` (and so its Terraform address):
    RDS and ElastiCache cannot change their storage key in place."""
    account = Account(scope, "account")
    log_groups = (
        f"/aws/lambda/{name}-*",
        f"/aws/rds/instance/{name}-*",
        f"/elasticache/{name}-*",
        f"/vpc/{name}/*",
        f"sns/{account.region}/{account.account_id}/{name}-*",
    )
    return EnvironmentKeys(
        data=EncryptionKey(
            scope,
            "key",
            EncryptionKeyProps(
                alias=f"{name}-data",
                account=account,
                via_services=("elasticache", "kinesis", "rds", "sqs"),
                description=f"Transaction data of {name}: stream, RDS storage and Performance Insights, Redis, "
                "dead-letter queue",
            ),
        ),
        secrets=EncryptionKey(
            scope,
            "secrets-key",
            EncryptionKeyProps(
                alias=f"{name}-secrets",
                account=account,
                via_services=("lambda", "secretsmanager"),
                description=f"Secrets of {name}: Secrets Manager secrets and Lambda environments",
            ),
        ),
        logs=EncryptionKey(
            scope,
            "logs-key",
            EncryptionKeyProps(
                alias=f"{name}-logs",
                account=account,
                via_services=("sns",),
                log_group_patterns=log_groups,
                publishers=alert_publishers(name, account),
                description=f"Logs and alerts of {name}: CloudWatch log groups and the alarm topic",
            ),
        ),
    )
