"""The transaction processor: a Lambda function fed by the stream, with its wiring and alarms."""

from __future__ import annotations

from dataclasses import dataclass

from cdktf import AssetType, TerraformAsset
from cdktf_cdktf_provider_aws.data_aws_iam_policy_document import (
    DataAwsIamPolicyDocument,
    DataAwsIamPolicyDocumentStatement,
    DataAwsIamPolicyDocumentStatementPrincipals,
)
from cdktf_cdktf_provider_aws.iam_role import IamRole
from cdktf_cdktf_provider_aws.iam_role_policy import IamRolePolicy
from cdktf_cdktf_provider_aws.lambda_event_source_mapping import (
    LambdaEventSourceMapping,
    LambdaEventSourceMappingDestinationConfig,
    LambdaEventSourceMappingDestinationConfigOnFailure,
)
from cdktf_cdktf_provider_aws.lambda_function import (
    LambdaFunction,
    LambdaFunctionDeadLetterConfig,
    LambdaFunctionEnvironment,
    LambdaFunctionLoggingConfig,
    LambdaFunctionTracingConfig,
    LambdaFunctionVpcConfig,
)
from cdktf_cdktf_provider_aws.sqs_queue import SqsQueue
from constructs import Construct

from .alarms import AlarmSpec, AlertTopic
from .cache import TransactionCache
from .checkov import skip_check
from .database import TransactionDatabase
from .encryption import EncryptionKey
from .logs import encrypted_log_group
from .networking import Networking
from .stream import TransactionStream
from .validation import LOG_RETENTION_DAYS, require, require_choice, require_name, require_range

HANDLER = "processor.handler.handle"
RUNTIME = "python3.12"
METRIC_NAMESPACE = "JapanCart/TransactionMonitoring"
DLQ_RETENTION_SECONDS = 14 * 24 * 3600


@dataclass(frozen=True, kw_only=True)
class ProcessorSettings:
    """How the processor consumes the stream, and the monitoring rules it applies.

    batch_size / batching_window_seconds: records per invocation and how long to gather them.
    max_retries / max_record_age_seconds: after these, a failing record goes to the dead-letter queue.
    reserved_concurrency: concurrent executions kept for (and capped at) the processor.
    rule_max_txns_per_hour: alert when one customer makes more transactions than this in an hour.
    rule_max_daily_total: alert when one customer's 24-hour total exceeds this (in the transaction currency).
    rule_max_single_amount: alert on any single transaction above this.
    """

    memory_mb: int = 512
    timeout_seconds: int = 60
    reserved_concurrency: int = 5
    batch_size: int = 500
    batching_window_seconds: int = 1
    parallelization_factor: int = 1
    max_retries: int = 5
    max_record_age_seconds: int = 21_600
    rule_max_txns_per_hour: int = 30
    rule_max_daily_total: int = 2_000_000
    rule_max_single_amount: int = 500_000
    errors_threshold: int = 0
    throttles_threshold: int = 0
    iterator_age_ms: int = 60_000
    dead_letter_threshold: int = 0
    rule_hits_threshold: int = 0

    def __post_init__(self) -> None:
        require_range("memory_mb", self.memory_mb, 128, 10_240)
        require_range("timeout_seconds", self.timeout_seconds, 1, 900)
        require_range("reserved_concurrency", self.reserved_concurrency, 1, 1000)
        require_range("batch_size", self.batch_size, 1, 10_000)
        require_range("batching_window_seconds", self.batching_window_seconds, 0, 300)
        require_range("parallelization_factor", self.parallelization_factor, 1, 10)
        require_range("max_retries", self.max_retries, 0, 10_000)
        require(self.max_record_age_seconds == -1 or 60 <= self.max_record_age_seconds <= 604_800,
                "max_record_age_seconds", self.max_record_age_seconds, "-1 (no limit) or 60 to 604800")
        for name in ("rule_max_txns_per_hour", "rule_max_daily_total", "rule_max_single_amount"):
            require_range(name, getattr(self, name), 1, 10**15)
        for name in ("errors_threshold", "throttles_threshold", "iterator_age_ms", "dead_letter_threshold",
                     "rule_hits_threshold"):
            require_range(name, getattr(self, name), 0, 10**12)


@dataclass(frozen=True, kw_only=True)
class LambdaBundle:
    """A deterministic deployment zip and its base64 SHA-256 (Terraform's source_code_hash)."""

    path: str
    sha256_base64: str


@dataclass(frozen=True, kw_only=True)
class TransactionProcessorProps:
    """Inputs of `TransactionProcessor`: what it reads, where it writes, who hears about failures.

    environment: value of the metric dimension `Environment` the function emits.
    """

    name: str
    environment: str
    settings: ProcessorSettings
    bundle: LambdaBundle
    key: EncryptionKey
    networking: Networking
    stream: TransactionStream
    cache: TransactionCache
    database: TransactionDatabase
    topic: AlertTopic
    log_retention_days: int = 365

    def __post_init__(self) -> None:
        require_name("name", self.name, r"[A-Za-z0-9_-]{1,54}", "letters, digits, '_' or '-' (at most 54 characters)")
        require_name("environment", self.environment, r"[a-z][a-z0-9-]{0,30}", "a short lowercase name")
        require_choice("log_retention_days", self.log_retention_days, LOG_RETENTION_DAYS)


class TransactionProcessor(Construct):
    """Lambda in the private subnets with the application security group, fed by the stream.

    Failed records are retried (bisecting the batch), then sent to an encrypted dead-letter
    queue; the function's role can read only this stream, these secrets and this key.
    """

    def __init__(self, scope: Construct, construct_id: str, props: TransactionProcessorProps) -> None:
        super().__init__(scope, construct_id)
        settings = props.settings
        function_name = f"{props.name}-processor"

        self.dead_letter_queue = SqsQueue(self, "dlq", name=f"{function_name}-dlq",
                                          kms_master_key_id=props.key.key_arn,
                                          message_retention_seconds=DLQ_RETENTION_SECONDS)
        log_group = encrypted_log_group(self, "logs", name=f"/aws/lambda/{function_name}",
                                        key_arn=props.key.key_arn, retention_days=props.log_retention_days)
        role = self._role(function_name, props, log_group.arn)

        code = TerraformAsset(self, "code", path=props.bundle.path, type=AssetType.FILE)
        self.function = LambdaFunction(
            self,
            "function",
            function_name=function_name,
            description="Stores each transaction in the Redis history and PostgreSQL; applies monitoring rules",
            role=role.arn,
            runtime=RUNTIME,
            handler=HANDLER,
            filename=code.path,
            source_code_hash=props.bundle.sha256_base64,
            memory_size=settings.memory_mb,
            timeout=settings.timeout_seconds,
            reserved_concurrent_executions=settings.reserved_concurrency,
            kms_key_arn=props.key.key_arn,
            vpc_config=LambdaFunctionVpcConfig(subnet_ids=props.networking.private_subnet_ids,
                                               security_group_ids=[props.networking.app_security_group.id]),
            environment=LambdaFunctionEnvironment(variables={
                "DB_CONNECTION_SECRET_ARN": props.database.connection_secret_arn,
                "REDIS_SECRET_ARN": props.cache.auth_secret_arn,
                "HISTORY_TTL_SECONDS": str(props.cache.history_ttl_seconds),
                "RULE_MAX_TXNS_PER_HOUR": str(settings.rule_max_txns_per_hour),
                "RULE_MAX_DAILY_TOTAL": str(settings.rule_max_daily_total),
                "RULE_MAX_SINGLE_AMOUNT": str(settings.rule_max_single_amount),
                "METRIC_NAMESPACE": METRIC_NAMESPACE,
                "ENVIRONMENT": props.environment,
            }),
            tracing_config=LambdaFunctionTracingConfig(mode="Active"),
            dead_letter_config=LambdaFunctionDeadLetterConfig(target_arn=self.dead_letter_queue.arn),
            logging_config=LambdaFunctionLoggingConfig(log_format="Text", log_group=log_group.name),
            depends_on=[log_group],
        )
        skip_check(self.function, "CKV_AWS_272", "no AWS Signer profile in this project: the zip is built from the "
                                                 "locked sources and pinned by source_code_hash")
        self.event_source_mapping = LambdaEventSourceMapping(
            self,
            "stream-source",
            event_source_arn=props.stream.stream_arn,
            function_name=self.function.arn,
            starting_position="TRIM_HORIZON",
            batch_size=settings.batch_size,
            maximum_batching_window_in_seconds=settings.batching_window_seconds,
            parallelization_factor=settings.parallelization_factor,
            function_response_types=["ReportBatchItemFailures"],
            bisect_batch_on_function_error=True,
            maximum_retry_attempts=settings.max_retries,
            maximum_record_age_in_seconds=settings.max_record_age_seconds,
            destination_config=LambdaEventSourceMappingDestinationConfig(
                on_failure=LambdaEventSourceMappingDestinationConfigOnFailure(
                    destination_arn=self.dead_letter_queue.arn)),
        )
        self.alarms = [props.topic.alarm(self, spec) for spec in _alarm_specs(props, function_name,
                                                                                self.dead_letter_queue.name)]
        self.function_name: str = function_name
        self.function_arn: str = self.function.arn
        self.dead_letter_queue_url: str = self.dead_letter_queue.url

    def _role(self, function_name: str, props: TransactionProcessorProps, log_group_arn: str) -> IamRole:
        """Least privilege: this stream, these three secrets, this key, this queue, its own logs."""
        trust = DataAwsIamPolicyDocument(self, "trust", statement=[DataAwsIamPolicyDocumentStatement(
            actions=["sts:AssumeRole"],
            principals=[DataAwsIamPolicyDocumentStatementPrincipals(type="Service",
                                                                     identifiers=["lambda.amazonaws.com"])],
        )])
        role = IamRole(self, "role", name=function_name, assume_role_policy=trust.json)

        def allow(sid: str, actions: list[str], resources: list[str]) -> DataAwsIamPolicyDocumentStatement:
            return DataAwsIamPolicyDocumentStatement(sid=sid, actions=actions, resources=resources)

        permissions = DataAwsIamPolicyDocument(self, "permissions", statement=[
            allow("ReadTheTransactionStream", ["kinesis:DescribeStream", "kinesis:DescribeStreamSummary",
                                               "kinesis:GetRecords", "kinesis:GetShardIterator",
                                               "kinesis:ListShards"], [props.stream.stream_arn]),
            allow("ReadStoreCredentials", ["secretsmanager:GetSecretValue"],
                  [props.database.connection_secret_arn, props.database.password_secret_arn,
                   props.cache.auth_secret_arn]),
            allow("UseTheEnvironmentKey", ["kms:Decrypt", "kms:GenerateDataKey"], [props.key.key_arn]),
            allow("SendFailuresToTheDeadLetterQueue", ["sqs:SendMessage"], [self.dead_letter_queue.arn]),
            allow("WriteOwnLogs", ["logs:CreateLogStream", "logs:PutLogEvents"], [f"{log_group_arn}:*"]),
            # ENI management and X-Ray have no resource-level permissions.
            allow("AttachToThePrivateSubnets", ["ec2:CreateNetworkInterface", "ec2:DescribeNetworkInterfaces",
                                                "ec2:DeleteNetworkInterface", "ec2:AssignPrivateIpAddresses",
                                                "ec2:UnassignPrivateIpAddresses"], ["*"]),
            allow("PublishTraces", ["xray:PutTraceSegments", "xray:PutTelemetryRecords"], ["*"]),
        ])
        wildcard = ("'*' only for Lambda's VPC ENI actions (as in AWSLambdaVPCAccessExecutionRole) and X-Ray "
                    "puts, which take no resource ARNs; every other statement is scoped")
        skip_check(permissions, "CKV_AWS_111", wildcard)
        skip_check(permissions, "CKV_AWS_356", wildcard)
        IamRolePolicy(self, "policy", name="transaction-processor", role=role.id, policy=permissions.json)
        return role


def _alarm_specs(props: TransactionProcessorProps, function_name: str, queue_name: str) -> list[AlarmSpec]:
    s = props.settings
    function = {"FunctionName": function_name}

    def spec(suffix: str, namespace: str, metric: str, dimensions: dict[str, str], statistic: str,
             threshold: float, description: str) -> AlarmSpec:
        return AlarmSpec(suffix=suffix, namespace=namespace, metric=metric, dimensions=dimensions,
                         statistic=statistic, comparison="GreaterThanThreshold", threshold=threshold,
                         treat_missing_data="notBreaching", description=description)

    return [
        spec("processor-errors", "AWS/Lambda", "Errors", function, "Sum", s.errors_threshold,
             "The processor failed invocations; records are being retried"),
        spec("processor-throttles", "AWS/Lambda", "Throttles", function, "Sum", s.throttles_threshold,
             "The processor hit its reserved concurrency"),
        spec("processor-iterator-age", "AWS/Lambda", "IteratorAge", function, "Maximum", s.iterator_age_ms,
             "The processor is falling behind the stream"),
        spec("processor-dead-letters", "AWS/SQS", "ApproximateNumberOfMessagesVisible", {"QueueName": queue_name},
             "Maximum", s.dead_letter_threshold, "Records gave up after retries and wait in the dead-letter queue"),
        spec("transaction-rule-hits", METRIC_NAMESPACE, "RuleHits", {"Environment": props.environment}, "Sum",
             s.rule_hits_threshold, "A monitoring rule flagged transactions; see transaction_alerts"),
    ]
