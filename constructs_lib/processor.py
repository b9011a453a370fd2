"""The transaction processor: a Lambda function fed by the stream, its failure queue, roles and alarms.

It runs its schema migration (`schema_migration.py`) before taking records; what it shares with the zip's
other functions is in `bundled_function.py`.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, ClassVar

from cdktf import AssetType, TerraformAsset
from cdktf_cdktf_provider_aws.iam_role import IamRole
from cdktf_cdktf_provider_aws.lambda_event_source_mapping import (
    LambdaEventSourceMapping,
    LambdaEventSourceMappingDestinationConfig,
    LambdaEventSourceMappingDestinationConfigOnFailure,
)
from cdktf_cdktf_provider_aws.lambda_function import (
    LambdaFunction,
    LambdaFunctionEnvironment,
    LambdaFunctionLoggingConfig,
    LambdaFunctionTracingConfig,
)
from cdktf_cdktf_provider_aws.lambda_invocation import LambdaInvocation
from cdktf_cdktf_provider_aws.sqs_queue import SqsQueue
from cdktf_cdktf_provider_aws.sqs_queue_policy import SqsQueuePolicy
from constructs import Construct

from processor import contract as c
from processor.contract import ConfigError

from .alarms import AlertTopic
from .bundled_function import (
    RUNTIME,
    UNSIGNED_CODE,
    LambdaBundle,
    lambda_role,
    own_logs_and_network,
    private_vpc_config,
)
from .cache import TransactionCache
from .checkov import skip_check
from .database import TransactionDatabase
from .encryption import EnvironmentKeys
from .grants import PolicyGrantee
from .guards import deny_insecure_transport
from .logs import encrypted_log_group
from .monitoring import AlarmSpec
from .networking import Networking
from .replay_role import replay_role
from .schema_migration import SchemaMigration, SchemaMigrationProps
from .stream import TransactionStream
from .validation import LOG_RETENTION_DAYS, NameRule, require, require_choice, require_int, require_name

#: A dead-lettered record must stay readable in the stream at least this long (time to replay it),
#: and SQS keeps a message at most 14 days.
DLQ_MIN_RETENTION_SECONDS = 3600
DLQ_MAX_RETENTION_SECONDS = 14 * 24 * 3600


def dead_letter_retention_seconds(stream_retention_hours: int, max_record_age_seconds: int) -> int:
    """How long the dead-letter queue keeps a failure record: as long as it still points at data.

    A Kinesis failure record holds shard and sequence numbers, not the transaction. A record reaches
    the queue when it is `max_record_age_seconds` old, and the stream drops it at its retention, so a
    pointer is useful for `retention - max age`: that is the queue's retention (at most SQS's 14 days).
    Less than an hour leaves no time to replay, so that combination is rejected.
    """
    readable = stream_retention_hours * 3600 - max_record_age_seconds
    if readable < DLQ_MIN_RETENTION_SECONDS:
        needed = math.ceil((max_record_age_seconds + DLQ_MIN_RETENTION_SECONDS) / 3600)
        raise ConfigError(
            "stream.retention_hours",
            stream_retention_hours,
            f"at least {needed} when processor.max_record_age_seconds is {max_record_age_seconds} "
            "(a dead-lettered record must stay readable in the stream for an hour)",
        )
    return min(readable, DLQ_MAX_RETENTION_SECONDS)


@dataclass(frozen=True, kw_only=True)
class ProcessorSettings:
    """How the processor consumes the stream, and the monitoring rules it applies.

    memory_mb / timeout_seconds: the function's size and time limit. Default: 512 MB and 60 s.
    reserved_concurrency: concurrent executions kept for (and capped at) the processor. Default: 5.
    batch_size / batching_window_seconds: records per invocation and how long to gather them.
      Default: 500 records, 1 s.
    parallelization_factor: concurrent batches per shard (order is kept per partition key). Default: 1.
    max_retries: retries of a failing batch before its records go to the dead-letter queue.
      Default: -1, retry until the records reach max_record_age_seconds, so an outage of Redis or
      PostgreSQL shorter than that loses nothing and needs no replay.
    max_record_age_seconds: age at which a still-failing record goes to the dead-letter queue,
      60-604800. Default: 21,600 (6 h). Must leave the stream an hour of retention after it (the
      queue holds pointers into the stream; see `dead_letter_retention_seconds`).
    history_ttl_seconds: how long after its event a transaction stays in the Redis history (the processor
      sets this expiry on every history key). At least the longest rule window (86,400 s: the daily total),
      at most 30 days. Default: 86,400 (24 h).
    rule_max_txns_per_hour: alert when one customer makes more transactions than this in an hour. Default: 30.
    rule_max_daily_total: alert when one customer's Tokyo-day total exceeds this (in the transaction
      currency). Default: 2,000,000.
    rule_max_single_amount: alert on any single transaction above this. Default: 500,000.
    errors_threshold, throttles_threshold, dead_letter_threshold, rule_hits_threshold, conflicts_threshold:
      the processor's alarms fire when more than this many happen in a period. Default: 0 (any).
    iterator_age_ms: the lag alarm fires above this. Default: 60,000 (a minute behind the stream).
    """

    memory_mb: int = 512
    timeout_seconds: int = 60
    reserved_concurrency: int = 5
    batch_size: int = 500
    batching_window_seconds: int = 1
    parallelization_factor: int = 1
    max_retries: int = -1
    max_record_age_seconds: int = 21_600
    history_ttl_seconds: int = c.LONGEST_RULE_WINDOW_SECONDS
    rule_max_txns_per_hour: int = 30
    rule_max_daily_total: int = 2_000_000
    rule_max_single_amount: int = 500_000
    errors_threshold: int = 0
    throttles_threshold: int = 0
    iterator_age_ms: int = 60_000
    dead_letter_threshold: int = 0
    rule_hits_threshold: int = 0
    conflicts_threshold: int = 0

    def __post_init__(self) -> None:
        require_int("memory_mb", self.memory_mb, 128, 10_240)
        require_int("timeout_seconds", self.timeout_seconds, 1, 900)
        require_int("reserved_concurrency", self.reserved_concurrency, 1, 1000)
        require_int("batch_size", self.batch_size, 1, 10_000)
        require_int("batching_window_seconds", self.batching_window_seconds, 0, 300)
        require_int("parallelization_factor", self.parallelization_factor, 1, 10)
        require(
            isinstance(self.max_retries, int)
            and not isinstance(self.max_retries, bool)
            and (self.max_retries == -1 or 0 <= self.max_retries <= 10_000),
            "max_retries",
            self.max_retries,
            "-1 (until max_record_age_seconds) or a number from 0 to 10000",
        )
        require_int("max_record_age_seconds", self.max_record_age_seconds, 60, 604_800)
        # Shorter than the daily rule's window, the history would silently undercount that rule.
        require_int("history_ttl_seconds", self.history_ttl_seconds, c.LONGEST_RULE_WINDOW_SECONDS, 30 * 86_400)
        for name in ("rule_max_txns_per_hour", "rule_max_daily_total", "rule_max_single_amount"):
            require_int(name, getattr(self, name), 1, 10**15)
        for name in (
            "errors_threshold",
            "throttles_threshold",
            "iterator_age_ms",
            "dead_letter_threshold",
            "rule_hits_threshold",
            "conflicts_threshold",
        ):
            require_int(name, getattr(self, name), 0, 10**12)


@dataclass(frozen=True, kw_only=True)
class TransactionProcessorProps(ProcessorSettings):
    """Inputs of `TransactionProcessor`: how it consumes and what it checks (the `ProcessorSettings` fields,
    each defaulted), and what it reads, where it writes, who hears about failures (all required):

    name: prefix of the functions, queue and roles (`<name>-processor`, `<name>-migrate`).
    environment: value of the metric dimension `Environment` the function emits.
    bundle: the deployment zip.
    keys: `data` encrypts the dead-letter queue (and the stream it reads), `secrets` the function
      environments (and the secrets they read), `logs` the log groups.
    networking: the private subnets and the application security group the function runs with.
    stream, cache, database: what it consumes and where it writes; each grants the function its access.
    topic: where its alarms go.
    log_retention_days: retention of its log groups (a CloudWatch Logs value). Default: 365.
    """

    NAME_RULE: ClassVar[NameRule] = NameRule(
        r"[A-Za-z0-9_-]{1,54}", "letters, digits, '_' or '-' (at most 54 characters)"
    )

    name: str
    environment: str
    bundle: LambdaBundle
    keys: EnvironmentKeys
    networking: Networking
    stream: TransactionStream
    cache: TransactionCache
    database: TransactionDatabase
    topic: AlertTopic
    log_retention_days: int = 365

    def __post_init__(self) -> None:
        super().__post_init__()
        self.NAME_RULE.check("name", self.name)
        require_name("environment", self.environment, r"[a-z][a-z0-9-]{0,30}", "a short lowercase name")
        require_choice("log_retention_days", self.log_retention_days, LOG_RETENTION_DAYS)
        dead_letter_retention_seconds(self.stream.retention_hours, self.max_record_age_seconds)


class TransactionProcessor(Construct):
    """Lambda in the private subnets with the application security group, fed by the stream.

    Failed records are retried (bisecting the batch) until they reach the maximum record age, then
    sent to an encrypted dead-letter queue that keeps each pointer while the stream still holds the
    record; only the function's role may send to it, and the function accepts records of this stream
    only (`STREAM_ARN`). The function's role can read only this stream, the connection secret and this
    key, and sign in (IAM auth tokens) to PostgreSQL as the application role and to Redis as the
    application user only. A `<name>-replay` role runs the replay tool (`replay_role_arn`). A
    `SchemaMigration` from the same
    zip brings the schema up to date before the stream source exists, and again whenever the
    bundled migrations change.
    """

    def __init__(self, scope: Construct, construct_id: str, props: TransactionProcessorProps) -> None:
        super().__init__(scope, construct_id)
        function_name = f"{props.name}-processor"

        self._dead_letter_queue = SqsQueue(
            self,
            "dlq",
            name=f"{function_name}-dlq",
            kms_master_key_id=props.keys.data.key_arn,
            message_retention_seconds=dead_letter_retention_seconds(
                props.stream.retention_hours, props.max_record_age_seconds
            ),
        )
        log_group = encrypted_log_group(
            self,
            "logs",
            name=f"/aws/lambda/{function_name}",
            key_arn=props.keys.logs.key_arn,
            retention_days=props.log_retention_days,
        )
        role = self._role(function_name, props, log_group.arn)
        SqsQueuePolicy(
            self,
            "dlq-policy",
            queue_url=self._dead_letter_queue.url,
            policy=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        deny_insecure_transport("sqs:*", self._dead_letter_queue.arn),
                        _only_sender(self._dead_letter_queue.arn, role.arn),
                    ],
                }
            ),
        )

        code = TerraformAsset(self, "code", path=props.bundle.path, type=AssetType.FILE)
        self._migration = SchemaMigration(
            self,
            "migration",
            SchemaMigrationProps(
                name=props.name,
                bundle=props.bundle,
                code=code,
                keys=props.keys,
                networking=props.networking,
                database=props.database,
                log_retention_days=props.log_retention_days,
            ),
        )
        self._function = LambdaFunction(
            self,
            "function",
            function_name=function_name,
            description="Stores each transaction in the Redis history and PostgreSQL; applies monitoring rules",
            role=role.arn,
            runtime=RUNTIME,
            handler=c.PROCESSOR_HANDLER,
            filename=code.path,
            source_code_hash=props.bundle.sha256_base64,
            memory_size=props.memory_mb,
            timeout=props.timeout_seconds,
            reserved_concurrent_executions=props.reserved_concurrency,
            kms_key_arn=props.keys.secrets.key_arn,
            vpc_config=private_vpc_config(props.networking),
            environment=LambdaFunctionEnvironment(variables=_processor_variables(props)),
            tracing_config=LambdaFunctionTracingConfig(mode="Active"),
            logging_config=LambdaFunctionLoggingConfig(log_format="Text", log_group=log_group.name),
            depends_on=[log_group],
        )
        skip_check(self._function, "CKV_AWS_272", UNSIGNED_CODE)
        skip_check(
            self._function,
            "CKV_AWS_116",
            "never invoked asynchronously: its records come from the stream's event "
            "source mapping, whose on-failure destination keeps pointers only; an "
            "async dead-letter queue would copy whole payloads into that queue",
        )
        self._event_source_mapping = LambdaEventSourceMapping(
            self,
            "stream-source",
            event_source_arn=props.stream.stream_arn,
            function_name=self._function.arn,
            starting_position="TRIM_HORIZON",
            batch_size=props.batch_size,
            maximum_batching_window_in_seconds=props.batching_window_seconds,
            parallelization_factor=props.parallelization_factor,
            function_response_types=["ReportBatchItemFailures"],
            bisect_batch_on_function_error=True,
            maximum_retry_attempts=props.max_retries,
            maximum_record_age_in_seconds=props.max_record_age_seconds,
            destination_config=LambdaEventSourceMappingDestinationConfig(
                on_failure=LambdaEventSourceMappingDestinationConfigOnFailure(
                    destination_arn=self._dead_letter_queue.arn
                )
            ),
            # No batch before the schema (and the application role) exists.
            depends_on=[self._migration.ready],
        )
        self._replay_role = replay_role(
            self,
            name=props.name,
            keys=props.keys,
            stream=props.stream,
            queue_arn=self._dead_letter_queue.arn,
            function_arn=self._function.arn,
        )
        self.function_name: str = function_name
        self.function_arn: str = self._function.arn
        self.dead_letter_queue_url: str = self._dead_letter_queue.url
        self.migration_function_name: str = self._migration.function_name
        #: The deployment zip as an asset of the stack, for other functions of the same code.
        self.code: TerraformAsset = code
        #: The migration's run by Terraform: depend on it to start after the schema (and its roles) exist.
        self.migration_ready: LambdaInvocation = self._migration.ready
        #: The role `python -m operator_tools.replay` runs as (see `replay_role.py`).
        self.replay_role_arn: str = self._replay_role.arn
        self._environment = props.environment
        # Its own alarms, from its own definitions (`alarm_specs`), in its own scope.
        self._alarms = [
            props.topic.alarm(self, spec)
            for spec in self.alarm_specs(
                errors=props.errors_threshold,
                throttles=props.throttles_threshold,
                iterator_age_ms=props.iterator_age_ms,
                dead_letters=props.dead_letter_threshold,
                rule_hits=props.rule_hits_threshold,
                conflicts=props.conflicts_threshold,
            )
        ]

    def alarm_specs(
        self,
        *,
        errors: float,
        throttles: float,
        iterator_age_ms: float,
        dead_letters: float,
        rule_hits: float,
        conflicts: float,
    ) -> list[AlarmSpec]:
        """Failed and throttled invocations, lag behind the stream, dead letters, and what the runtime reports
        (rule hits and conflicting re-sends, in the contract's namespace), each above its threshold."""
        function = {"FunctionName": self.function_name}
        queue = {"QueueName": self._dead_letter_queue.name}
        environment = {c.DIMENSION_ENVIRONMENT: self._environment}
        rows = [  # suffix, namespace, metric, dimensions, statistic, threshold, description
            (
                "processor-errors",
                "AWS/Lambda",
                "Errors",
                function,
                "Sum",
                errors,
                "The processor failed invocations; records are being retried",
            ),
            (
                "processor-throttles",
                "AWS/Lambda",
                "Throttles",
                function,
                "Sum",
                throttles,
                "The processor hit its reserved concurrency",
            ),
            (
                "processor-iterator-age",
                "AWS/Lambda",
                "IteratorAge",
                function,
                "Maximum",
                iterator_age_ms,
                "The processor is falling behind the stream",
            ),
            (
                "processor-dead-letters",
                "AWS/SQS",
                "ApproximateNumberOfMessagesVisible",
                queue,
                "Maximum",
                dead_letters,
                "Records gave up after retries and wait in the dead-letter queue",
            ),
            (
                "transaction-rule-hits",
                c.METRIC_NAMESPACE,
                c.METRIC_RULE_HITS,
                environment,
                "Sum",
                rule_hits,
                "A monitoring rule flagged transactions; see transaction_alerts",
            ),
            (
                "transaction-conflicts",
                c.METRIC_NAMESPACE,
                c.METRIC_CONFLICTS,
                environment,
                "Sum",
                conflicts,
                "A transaction id arrived again with different content; the processor log names it",
            ),
        ]
        return [
            AlarmSpec(
                suffix=suffix,
                namespace=namespace,
                metric=metric,
                dimensions=dimensions,
                statistic=statistic,
                comparison="GreaterThanThreshold",
                threshold=threshold,
                treat_missing_data="notBreaching",
                description=description,
            )
            for suffix, namespace, metric, dimensions, statistic, threshold, description in rows
        ]

    def _role(self, function_name: str, props: TransactionProcessorProps, log_group_arn: str) -> IamRole:
        """Least privilege: this stream, the connection secret (never the master password), its own database
        role and Redis user, each key only through the service that needs it, this queue, its own logs."""
        keys = props.keys
        grantee = PolicyGrantee()
        props.stream.grant_read(grantee)
        props.database.grant_read_connection(grantee, sid="ReadStoreCredentials")
        props.database.grant_connect(grantee)
        props.cache.grant_connect(grantee)
        keys.data.grant_decrypt(grantee, via="kinesis", sid="DecryptTheStream")
        keys.data.grant_encrypt_decrypt(grantee, via="sqs", sid="EncryptDeadLetters")
        keys.secrets.grant_decrypt(grantee, via="secretsmanager", sid="DecryptStoreCredentials")
        keys.secrets.grant_decrypt(grantee, via="lambda", sid="DecryptOwnEnvironment")
        grantee.allow("SendFailuresToTheDeadLetterQueue", ["sqs:SendMessage"], [self._dead_letter_queue.arn])
        own_logs_and_network(grantee, log_group_arn)
        role, _ = lambda_role(self, function_name, "transaction-processor", keys.data.account, grantee)
        return role


def _only_sender(queue_arn: str, sender_role_arn: str) -> dict[str, Any]:
    """A queue-policy statement denying `sqs:SendMessage` to every principal but `sender_role_arn`.

    Lambda sends an event source mapping's on-failure records with the function's execution role
    (which needs `sqs:SendMessage` on the destination), so that role is the one sender; anyone else
    could plant pointers for the replay tool to follow. `aws:PrincipalArn` is the role's ARN for every
    session of it."""
    return {
        "Sid": "OnlyTheProcessorSendsFailures",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "sqs:SendMessage",
        "Resource": queue_arn,
        "Condition": {"ArnNotEquals": {"aws:PrincipalArn": sender_role_arn}},
    }


def _processor_variables(props: TransactionProcessorProps) -> dict[str, str]:
    """The processor's environment, named by the contract its runtime parses (`processor.config.settings_from_env`).
    It signs in to PostgreSQL and Redis with IAM auth tokens (never a password)."""
    return {
        c.ENV_DB_SECRET: props.database.connection_secret_arn,
        c.ENV_DB_AUTH: c.AUTH_IAM,
        c.ENV_REDIS_HOST: props.cache.primary_endpoint_address,
        c.ENV_REDIS_PORT: str(props.cache.port),
        c.ENV_REDIS_USER: props.cache.app_user_name,
        c.ENV_REDIS_CACHE_NAME: props.cache.replication_group_id,
        c.ENV_REDIS_AUTH: c.AUTH_IAM,
        c.ENV_HISTORY_TTL: str(props.history_ttl_seconds),
        c.ENV_MAX_TXNS_PER_HOUR: str(props.rule_max_txns_per_hour),
        c.ENV_MAX_DAILY_TOTAL: str(props.rule_max_daily_total),
        c.ENV_MAX_SINGLE_AMOUNT: str(props.rule_max_single_amount),
        c.ENV_METRIC_NAMESPACE: c.METRIC_NAMESPACE,
        c.ENV_ENVIRONMENT: props.environment,
        c.ENV_STREAM_ARN: props.stream.stream_arn,  # the only source the function accepts records from
    }
