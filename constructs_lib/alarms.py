"""Alarms that notify people, and a dashboard of the key metrics."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, ClassVar

from cdktf_cdktf_provider_aws.cloudwatch_dashboard import CloudwatchDashboard
from cdktf_cdktf_provider_aws.cloudwatch_metric_alarm import CloudwatchMetricAlarm
from cdktf_cdktf_provider_aws.data_aws_iam_policy_document import (
    DataAwsIamPolicyDocument,
    DataAwsIamPolicyDocumentStatement,
    DataAwsIamPolicyDocumentStatementPrincipals,
)
from cdktf_cdktf_provider_aws.db_event_subscription import DbEventSubscription
from cdktf_cdktf_provider_aws.iam_role import IamRole
from cdktf_cdktf_provider_aws.iam_role_policy import IamRolePolicy
from cdktf_cdktf_provider_aws.sns_topic import SnsTopic
from cdktf_cdktf_provider_aws.sns_topic_policy import SnsTopicPolicy
from cdktf_cdktf_provider_aws.sns_topic_subscription import SnsTopicSubscription
from constructs import Construct

from .cache import TransactionCache
from .database import TransactionDatabase
from .encryption import Account, EncryptionKey, ServicePublisher
from .guards import deny_insecure_transport, service_source, source_condition
from .logs import encrypted_log_group
from .monitoring import AlarmSpec
from .stream import TransactionStream
from .validation import (
    LOG_RETENTION_DAYS,
    NameRule,
    require,
    require_choice,
    require_email,
    require_int,
    require_range,
    require_region,
)

#: Protocols whose delivery status SNS can log (e-mail is not one of them).
DELIVERY_STATUS_PROTOCOLS = ("application", "firehose", "http", "lambda", "sqs")
DELIVERY_STATUS_SUCCESS_SAMPLE_PERCENT = 100
#: RDS events worth waking someone for (FSBP RDS.20 and RDS.21 name these categories).
RDS_INSTANCE_EVENTS = (
    "availability",
    "configuration change",
    "deletion",
    "failover",
    "failure",
    "low storage",
    "maintenance",
    "notification",
    "recovery",
    "restoration",
)
RDS_PARAMETER_GROUP_EVENTS = ("configuration change",)


#: The topic's and the alarms' name: a prefix of SNS topic and CloudWatch alarm names.
ALARM_NAME_RULE = NameRule(r"[A-Za-z0-9_-]{1,200}", "letters, digits, '_' or '-'")


@dataclass(frozen=True, kw_only=True)
class AlertSettings:
    """Who hears about alarms and how every alarm on the topic evaluates (`AlertTopic`).

    alert_emails: addresses subscribed to the alarm topic (each must confirm by e-mail). Each subscription
      is keyed by its address, not its position: adding or removing one address touches only that one.
      Default: none (alarms still reach the topic and the console).
    period_seconds / evaluation_periods: every alarm evaluates this many periods of this length (60, 300,
      900 or 3600 s; 1-100 periods). Default: 300 s and 2 periods (ten minutes above a threshold).
    """

    alert_emails: tuple[str, ...] = ()
    period_seconds: int = 300
    evaluation_periods: int = 2

    def __post_init__(self) -> None:
        require(isinstance(self.alert_emails, tuple), "alert_emails", self.alert_emails, "a list of e-mail addresses")
        seen: set[str] = set()
        for index, email in enumerate(self.alert_emails):
            require_email(f"alert_emails[{index}]", email)
            require(email.lower() not in seen, f"alert_emails[{index}]", email, "an address not listed before")
            seen.add(email.lower())
        require_choice("period_seconds", self.period_seconds, frozenset({60, 300, 900, 3600}))
        require_int("evaluation_periods", self.evaluation_periods, 1, 100)


@dataclass(frozen=True, kw_only=True)
class AlarmThresholds:
    """What `SystemAlarms` alarms on: stream, Redis and PostgreSQL metrics above (free storage and memory:
    below) these values.

    stream_iterator_age_ms: the stream's consumer lag. Default: 60,000 (a minute).
    stream_throttled_requests: throttled reads or writes per period. Default: 0 (any).
    cache_engine_cpu_percent / cache_memory_percent: per Redis node. Default: 75 and 80.
    cache_evictions: evicted keys per period (history lost before its TTL). Default: 100.
    cache_replication_lag_seconds: a replica's lag behind the primary. Default: 30.
    db_cpu_percent / db_connections: the instance's CPU and open connections. Default: 80 and 200.
    db_free_storage_gib / db_freeable_memory_mib: alarm below these. Default: 5 GiB and 256 MiB.
    db_read_latency_ms / db_write_latency_ms: average I/O latency. Default: 20 and 20.
    """

    stream_iterator_age_ms: int = 60_000
    stream_throttled_requests: int = 0
    cache_engine_cpu_percent: float = 75
    cache_memory_percent: float = 80
    cache_evictions: int = 100
    cache_replication_lag_seconds: float = 30
    db_cpu_percent: float = 80
    db_free_storage_gib: float = 5
    db_connections: int = 200
    db_freeable_memory_mib: float = 256
    db_read_latency_ms: float = 20
    db_write_latency_ms: float = 20

    def __post_init__(self) -> None:
        for name in ("stream_iterator_age_ms", "stream_throttled_requests", "cache_evictions", "db_connections"):
            require_int(name, getattr(self, name), 0, 10**12)
        for name in (
            "cache_replication_lag_seconds",
            "db_free_storage_gib",
            "db_freeable_memory_mib",
            "db_read_latency_ms",
            "db_write_latency_ms",
        ):
            require_range(name, getattr(self, name), 0, 10**12)
        for name in ("cache_engine_cpu_percent", "cache_memory_percent", "db_cpu_percent"):
            require_range(name, getattr(self, name), 1, 100)


@dataclass(frozen=True, kw_only=True)
class AlarmSettings(AlertSettings, AlarmThresholds):
    """The `[alarms]` section of the configuration: the topic's `AlertSettings` and the `AlarmThresholds`."""

    def __post_init__(self) -> None:
        AlertSettings.__post_init__(self)
        AlarmThresholds.__post_init__(self)


def alert_publishers(name: str, account: Account) -> tuple[ServicePublisher, ...]:
    """The services that publish to the alert topic of `name`, each pinned to this project's resources:
    CloudWatch alarms named `<name>-*` and RDS event subscriptions named `<name>-*`. The topic's policy and
    the logs key's policy are both built from this one list."""
    return (
        ServicePublisher(principal="cloudwatch.amazonaws.com", source_arn=account.arn("cloudwatch", f"alarm:{name}-*")),
        ServicePublisher(principal="events.rds.amazonaws.com", source_arn=account.arn("rds", f"es:{name}-*")),
    )


@dataclass(frozen=True, kw_only=True)
class AlertTopicProps(AlertSettings):
    """Inputs of `AlertTopic`: recipients and evaluation (the `AlertSettings` fields, each defaulted) and:

    name: prefix of the topic (`<name>-alarms`), its alarms and its delivery-status role. Required.
    key: the logs key, which encrypts the topic and its delivery-status logs. Required.
    log_retention_days: retention of the delivery-status logs (a CloudWatch Logs value). Default: 365.
    """

    NAME_RULE: ClassVar[NameRule] = ALARM_NAME_RULE

    name: str
    key: EncryptionKey
    log_retention_days: int = 365

    def __post_init__(self) -> None:
        super().__post_init__()
        self.NAME_RULE.check("name", self.name)
        require_choice("log_retention_days", self.log_retention_days, LOG_RETENTION_DAYS)


class AlertTopic(Construct):
    """An encrypted SNS topic, its e-mail subscribers, and the way to hang alarms on it.

    The topic policy refuses requests without TLS, lets the account manage the topic, and lets only this
    project's alarms and RDS event subscriptions publish. SNS logs the delivery status of every protocol
    that supports it into two pre-created, encrypted log groups through a role only this topic can assume.
    """

    def __init__(self, scope: Construct, construct_id: str, props: AlertTopicProps) -> None:
        super().__init__(scope, construct_id)
        self._props = props
        account = props.key.account
        topic_name = f"{props.name}-alarms"
        topic_arn = account.arn("sns", topic_name)
        feedback = self._delivery_status_role(props, topic_name, topic_arn)
        status_logging: dict[str, Any] = {}  # role ARNs and sample rates, as SnsTopic keywords
        for protocol in DELIVERY_STATUS_PROTOCOLS:
            status_logging[f"{protocol}_success_feedback_role_arn"] = feedback.arn
            status_logging[f"{protocol}_failure_feedback_role_arn"] = feedback.arn
            status_logging[f"{protocol}_success_feedback_sample_rate"] = DELIVERY_STATUS_SUCCESS_SAMPLE_PERCENT
        self._topic = SnsTopic(self, "topic", name=topic_name, kms_master_key_id=props.key.key_arn, **status_logging)
        self.topic_arn: str = self._topic.arn
        root = {"AWS": f"arn:{account.partition}:iam::{account.account_id}:root"}
        statements = [
            deny_insecure_transport("sns:*", self._topic.arn),
            {
                "Sid": "AccountManagesTheTopic",
                "Effect": "Allow",
                "Principal": root,
                "Action": [
                    "sns:GetTopicAttributes",
                    "sns:SetTopicAttributes",
                    "sns:AddPermission",
                    "sns:RemovePermission",
                    "sns:DeleteTopic",
                    "sns:Subscribe",
                    "sns:ListSubscriptionsByTopic",
                    "sns:Publish",
                ],
                "Resource": self._topic.arn,
            },
        ] + [
            {
                "Sid": "PublishFor" + "".join(p.capitalize() for p in publisher.principal.split(".")[:-2]),
                "Effect": "Allow",
                "Principal": {"Service": publisher.principal},
                "Action": "sns:Publish",
                "Resource": self._topic.arn,
                "Condition": source_condition(account.account_id, publisher.source_arn),
            }
            for publisher in alert_publishers(props.name, account)
        ]
        SnsTopicPolicy(
            self, "policy", arn=self._topic.arn, policy=json.dumps({"Version": "2012-10-17", "Statement": statements})
        )
        # Keyed by address (construct ids may hold '@' and '.'; e-mail addresses never hold '/').
        subscribers = Construct(self, "subscribers")
        self._subscriptions = {
            email: SnsTopicSubscription(
                subscribers, email.lower(), topic_arn=self._topic.arn, protocol="email", endpoint=email
            )
            for email in props.alert_emails
        }

    def _delivery_status_role(self, props: AlertTopicProps, topic_name: str, topic_arn: str) -> IamRole:
        """The role SNS assumes to log delivery status, and the two log groups it writes (created here, so they
        are encrypted and expire, instead of SNS creating them unencrypted and kept forever)."""
        account = props.key.account
        base = f"sns/{account.region}/{account.account_id}/{topic_name}"
        groups = [
            encrypted_log_group(
                self, f"delivery-{kind}", name=name, key_arn=props.key.key_arn, retention_days=props.log_retention_days
            )
            for kind, name in (("success", base), ("failure", f"{base}/Failure"))
        ]
        trust = DataAwsIamPolicyDocument(
            self,
            "delivery-status-trust",
            statement=[
                DataAwsIamPolicyDocumentStatement(
                    actions=["sts:AssumeRole"],
                    principals=[
                        DataAwsIamPolicyDocumentStatementPrincipals(type="Service", identifiers=["sns.amazonaws.com"])
                    ],
                    condition=service_source(account.account_id, topic_arn),
                )
            ],
        )
        role = IamRole(
            self, "delivery-status-role", name=f"{props.name}-sns-delivery-status", assume_role_policy=trust.json
        )
        write = DataAwsIamPolicyDocument(
            self,
            "delivery-status-write",
            statement=[
                DataAwsIamPolicyDocumentStatement(
                    sid="WriteDeliveryStatusLogs",
                    actions=["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                    resources=[arn for group in groups for arn in (group.arn, f"{group.arn}:*")],
                )
            ],
        )
        IamRolePolicy(self, "delivery-status-policy", name="write-delivery-status", role=role.id, policy=write.json)
        return role

    def alarm(self, scope: Construct, spec: AlarmSpec) -> CloudwatchMetricAlarm:
        """A metric alarm that notifies this topic when it fires and when it recovers."""
        props = self._props
        return CloudwatchMetricAlarm(
            scope,
            spec.suffix,
            alarm_name=f"{self._props.name}-{spec.suffix}",
            alarm_description=spec.description,
            namespace=spec.namespace,
            metric_name=spec.metric,
            dimensions=dict(spec.dimensions),
            statistic=spec.statistic,
            comparison_operator=spec.comparison,
            threshold=spec.threshold,
            period=props.period_seconds,
            evaluation_periods=props.evaluation_periods,
            treat_missing_data=spec.treat_missing_data,
            alarm_actions=[self._topic.arn],
            ok_actions=[self._topic.arn],
        )


@dataclass(frozen=True, kw_only=True)
class SystemAlarmsProps(AlarmThresholds):
    """Inputs of `SystemAlarms`: the thresholds (the `AlarmThresholds` fields, each defaulted) and:

    name: prefix of the alarms, the RDS event subscriptions and the dashboard. Required.
    region: the region the dashboard's widgets read. Required.
    topic: where every alarm goes. Required.
    stream / cache / database: what is watched. Required.
    """

    NAME_RULE: ClassVar[NameRule] = ALARM_NAME_RULE

    name: str
    region: str
    topic: AlertTopic
    stream: TransactionStream
    cache: TransactionCache
    database: TransactionDatabase

    def __post_init__(self) -> None:
        super().__post_init__()
        self.NAME_RULE.check("name", self.name)
        require_region("region", self.region)


class SystemAlarms(Construct):
    """Alarms on the stream, every cache member and the database, RDS event subscriptions (instance and
    parameter group) to the same topic, plus one dashboard."""

    def __init__(self, scope: Construct, construct_id: str, props: SystemAlarmsProps) -> None:
        super().__init__(scope, construct_id)
        # Each store owns its alarms (what to watch and how); this construct passes the configured thresholds.
        specs = (
            props.stream.alarm_specs(
                iterator_age_ms=props.stream_iterator_age_ms, throttled_requests=props.stream_throttled_requests
            )
            + props.cache.alarm_specs(
                engine_cpu_percent=props.cache_engine_cpu_percent,
                memory_percent=props.cache_memory_percent,
                evictions=props.cache_evictions,
                replication_lag_seconds=props.cache_replication_lag_seconds,
            )
            + props.database.alarm_specs(
                cpu_percent=props.db_cpu_percent,
                free_storage_gib=props.db_free_storage_gib,
                connections=props.db_connections,
                freeable_memory_mib=props.db_freeable_memory_mib,
                read_latency_ms=props.db_read_latency_ms,
                write_latency_ms=props.db_write_latency_ms,
            )
        )
        self._alarms = [props.topic.alarm(self, spec) for spec in specs]
        database = props.database
        self._database_events = [
            DbEventSubscription(
                self,
                "db-instance-events",
                name=f"{props.name}-db-instance-events",
                sns_topic=props.topic.topic_arn,
                source_type="db-instance",
                source_ids=list(database.identifiers),  # during a restore, the source's events too
                event_categories=list(RDS_INSTANCE_EVENTS),
            ),
            DbEventSubscription(
                self,
                "db-parameter-events",
                name=f"{props.name}-db-parameter-events",
                sns_topic=props.topic.topic_arn,
                source_type="db-parameter-group",
                source_ids=[database.parameter_group_name],
                event_categories=list(RDS_PARAMETER_GROUP_EVENTS),
            ),
        ]
        self._dashboard = CloudwatchDashboard(
            self, "dashboard", dashboard_name=props.name, dashboard_body=json.dumps(_dashboard(props), sort_keys=True)
        )
        self.dashboard_name: str = props.name


def _dashboard(props: SystemAlarmsProps) -> dict[str, Any]:
    """Key metrics of stream, cache and database, one widget per concern (each store names its graphs)."""
    graphs = props.stream.dashboard_graphs() + props.cache.dashboard_graphs() + props.database.dashboard_graphs()
    return {
        "widgets": [
            {
                "type": "metric",
                "width": 12,
                "height": 6,
                "properties": {
                    "title": graph.title,
                    "region": props.region,
                    "stat": graph.stat,
                    "period": 60,
                    "view": "timeSeries",
                    "metrics": graph.metrics,
                },
            }
            for graph in graphs
        ]
    }
