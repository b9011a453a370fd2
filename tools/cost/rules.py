"""One price rule per billable resource type, and the types that cost nothing with the reason why.

A rule reads the synthesized resources of its type and returns line items; estimate.py refuses a type that is
in neither table, so a new resource cannot be free by omission.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tools.cost.table import CostError, PriceTable

DAYS_PER_MONTH = 365.25 / 12
SECONDS_PER_MONTH = DAYS_PER_MONTH * 86_400
GB = 1e9
PUT_UNIT_BYTES = 25 * 1024
Resources = list[tuple[str, dict[str, Any]]]


@dataclass(frozen=True)
class LineItem:
    """One priced thing: `key` is stable between base and head (type and construct path) for the diff."""

    key: str
    detail: str
    monthly: float


@dataclass(frozen=True)
class Context:
    prices: PriceTable
    usage: dict[str, float]
    records_per_second: float
    record_bytes: float
    document: dict[str, Any]

    def resources(self, resource_type: str) -> Resources:
        return list(self.document.get("resource", {}).get(resource_type, {}).items())

    @property
    def records_per_month(self) -> float:
        return self.records_per_second * SECONDS_PER_MONTH


def path_of(key: str, body: dict[str, Any]) -> str:
    """The construct path without the stack name: the same resource in base and head has the same path."""
    path = body.get("//", {}).get("metadata", {}).get("path", key)
    return str(path).split("/", 1)[-1]


def _refs(value: Any, resource_type: str) -> set[str]:
    return set(re.findall(rf"\${{{re.escape(resource_type)}\.([^.}}]+)\.", str(value)))


def rds(ctx: Context, items: Resources) -> list[LineItem]:
    out = []
    for key, body in items:
        cls, copies = body.get("instance_class"), 2 if body.get("multi_az") else 1
        hours = ctx.prices.hours * copies
        label = f"{path_of(key, body)}"
        az = "Multi-AZ" if copies == 2 else "Single-AZ"
        out.append(LineItem(f"rds:{label}", f"{cls} {az}", ctx.prices.price("rds_instance_hour", str(cls)) * hours))
        storage, gb = str(body.get("storage_type", "gp2")), float(body.get("allocated_storage", 20))
        cost = ctx.prices.price("rds_storage", f"{storage}_gb_month") * gb * copies
        iops = float(body.get("iops", 0) or 0)
        if storage == "io1":
            cost += ctx.prices.price("rds_storage", "io1_iops_month") * iops * copies
        elif storage == "gp3":
            baseline = 3000 if gb < 400 else 12000
            cost += ctx.prices.price("rds_storage", "gp3_iops_month") * max(0.0, iops - baseline) * copies
        provisioned = f", {iops:g} IOPS" if iops else ""
        out.append(LineItem(f"rds-storage:{label}", f"{gb:g} GB {storage}{provisioned}, x{copies}", cost))
    return out


def elasticache(ctx: Context, items: Resources) -> list[LineItem]:
    out = []
    for key, body in items:
        node = str(body.get("node_type"))
        if "num_node_groups" in body:
            shards = int(body["num_node_groups"])
            nodes = shards * (int(body.get("replicas_per_node_group", 0)) + 1)
        else:
            shards, nodes = 1, int(body.get("num_cache_clusters", 1))
        cost = ctx.prices.price("elasticache_node_hour", node) * nodes * ctx.prices.hours
        out.append(LineItem(f"redis:{path_of(key, body)}", f"{nodes} x {node} ({shards} shard)", cost))
    return out


def kinesis(ctx: Context, items: Resources) -> list[LineItem]:
    out, hours = [], ctx.prices.hours
    for key, body in items:
        label, mode = path_of(key, body), body.get("stream_mode_details", {}).get("stream_mode", "PROVISIONED")
        if mode == "ON_DEMAND":
            ingest = ctx.records_per_month * ctx.record_bytes / GB
            cost = ctx.prices.price("kinesis", "on_demand_stream_hour") * hours
            cost += ctx.prices.price("kinesis", "on_demand_ingest_gb") * ingest
            out.append(LineItem(f"kinesis:{label}", f"on-demand, {ingest:.1f} GB in", cost))
            continue
        shards = int(body.get("shard_count", 1))
        units = ctx.records_per_month * math.ceil(ctx.record_bytes / PUT_UNIT_BYTES)
        cost = shards * hours * ctx.prices.price("kinesis", "shard_hour")
        cost += units / 1e6 * ctx.prices.price("kinesis", "put_payload_units_million")
        if int(body.get("retention_period", 24)) > 24:
            cost += shards * hours * ctx.prices.price("kinesis", "extended_retention_shard_hour")
        out.append(LineItem(f"kinesis:{label}", f"{shards} shard, {units / 1e6:.1f} M PUT units", cost))
        metrics = len(body.get("shard_level_metrics", []))
        if metrics:
            metric_cost = metrics * shards * ctx.prices.price("cloudwatch", "custom_metric_month")
            out.append(LineItem(f"kinesis-metrics:{label}", f"{metrics} shard-level metrics", metric_cost))
    return out


def backup_replication(ctx: Context, items: Resources) -> list[LineItem]:
    """Cross-region automated backups: one full copy of the source's allocated storage kept in the other region,
    and that much sent across once a month (an upper bound: after the first copy only changes travel)."""
    sources = dict(ctx.resources("aws_db_instance"))
    out = []
    for key, body in items:
        (source,) = _refs(body.get("source_db_instance_arn"), "aws_db_instance") or {""}
        gb = float(sources.get(source, {}).get("allocated_storage", 20))
        cost = gb * (
            ctx.prices.price("rds_storage", "backup_gb_month")
            + ctx.prices.price("rds_storage", "cross_region_transfer_gb")
        )
        out.append(
            LineItem(f"rds-backup-replica:{path_of(key, body)}", f"{gb:g} GB kept and copied in the other region", cost)
        )
    return out


def nat_gateway(ctx: Context, items: Resources) -> list[LineItem]:
    gb = ctx.usage["nat_gateway_gb_month"]
    return [
        LineItem(
            f"nat:{path_of(key, body)}",
            f"1 gateway, {gb:g} GB",
            ctx.prices.hours * ctx.prices.price("vpc", "nat_gateway_hour")
            + gb * ctx.prices.price("vpc", "nat_gateway_gb"),
        )
        for key, body in items
    ]


def eip(ctx: Context, items: Resources) -> list[LineItem]:
    hourly = ctx.prices.price("vpc", "public_ipv4_hour")
    return [LineItem(f"eip:{path_of(k, b)}", "public IPv4 address", hourly * ctx.prices.hours) for k, b in items]


def vpc_endpoint(ctx: Context, items: Resources) -> list[LineItem]:
    out = []
    for key, body in items:
        if body.get("vpc_endpoint_type", "Gateway") != "Interface":
            continue  # gateway endpoints (S3, DynamoDB) are free
        azs, gb = len(body.get("subnet_ids", [])), ctx.usage["interface_endpoint_gb_month"]
        cost = azs * ctx.prices.hours * ctx.prices.price("vpc", "interface_endpoint_az_hour")
        cost += gb * ctx.prices.price("vpc", "interface_endpoint_gb")
        service = str(body.get("service_name", "")).rsplit(".", 1)[-1]
        out.append(LineItem(f"endpoint:{path_of(key, body)}", f"{service} interface endpoint x {azs} AZ", cost))
    return out


def per_resource(section: str, sku: str, what: str) -> Callable[[Context, Resources], list[LineItem]]:
    """A flat monthly fee per resource, as one line per type (KMS keys, secrets, dashboards)."""

    def rule(ctx: Context, items: Resources) -> list[LineItem]:
        count = len(items)
        return [LineItem(f"{section}:{sku}", f"{what}: {count}", count * ctx.prices.price(section, sku))]

    return rule


def alarms(ctx: Context, items: Resources) -> list[LineItem]:
    fast = sum(1 for _, body in items if int(body.get("period", 60) or 60) < 60)
    cost = (len(items) - fast) * ctx.prices.price("cloudwatch", "alarm_month")
    cost += fast * ctx.prices.price("cloudwatch", "high_resolution_alarm_month")
    return [LineItem("cloudwatch:alarms", f"{len(items)} metric alarms ({fast} high-resolution)", cost)]


def stream_function_keys(ctx: Context) -> set[str]:
    """The functions an event source mapping feeds (the processor): the rest run once a day at most."""
    keys: set[str] = set()
    for _, body in ctx.resources("aws_lambda_event_source_mapping"):
        keys |= _refs(body.get("function_name"), "aws_lambda_function")
    return keys


def invocations(ctx: Context) -> tuple[float, float]:
    """Stream-fed invocations a month and records per invocation, from the mapping's batch size and window."""
    mappings = ctx.resources("aws_lambda_event_source_mapping")
    if not mappings or ctx.records_per_month == 0:
        return 0.0, 0.0
    body = mappings[0][1]
    batch, window = float(body.get("batch_size", 100)), float(body.get("maximum_batching_window_in_seconds", 0))
    per_call = min(batch, max(1.0, ctx.records_per_second * max(window, 1.0)))
    return ctx.records_per_month / per_call, per_call


def lambdas(ctx: Context, items: Resources) -> list[LineItem]:
    fed, (calls, per_call) = stream_function_keys(ctx), invocations(ctx)
    out = []
    for key, body in items:
        arch = (body.get("architectures") or ["x86_64"])[0]
        memory_gb = float(body.get("memory_size", 128)) / 1024
        if key in fed:
            n = calls
            seconds = (
                ctx.usage["processor_ms_per_invocation"] + per_call * ctx.usage["processor_ms_per_record"]
            ) / 1000
            detail = f"{n / 1e6:.2f} M invocations of {per_call:.0f} records"
        else:
            n, seconds = DAYS_PER_MONTH, float(body.get("timeout", 3))
            detail = "daily, at its full timeout (upper bound)"
        cost = n * seconds * memory_gb * ctx.prices.price("lambda", f"{arch}_gb_second")
        cost += n / 1e6 * ctx.prices.price("lambda", "requests_million")
        out.append(LineItem(f"lambda:{path_of(key, body)}", detail, cost))
    return out


def log_groups(ctx: Context, items: Resources) -> list[LineItem]:
    """Ingestion and steady-state storage (ingest x retention) from the load and usage.toml's per-event sizes."""
    fed, (calls, _) = stream_function_keys(ctx), invocations(ctx)
    groups_of: dict[str, str] = {}
    for key, body in ctx.resources("aws_lambda_function"):
        for group in _refs(body.get("logging_config", {}).get("log_group"), "aws_cloudwatch_log_group"):
            groups_of[group] = "processor" if key in fed else "job"
    subnets = len(ctx.resources("aws_subnet"))
    for _, body in ctx.resources("aws_flow_log"):
        for group in _refs(body.get("log_destination"), "aws_cloudwatch_log_group"):
            groups_of[group] = "flow"
    sizes = {
        "processor": calls * ctx.usage["processor_log_bytes_per_invocation"],
        "job": ctx.usage["daily_job_log_bytes"] * DAYS_PER_MONTH,
        "flow": subnets * ctx.usage["flow_log_bytes_per_subnet_month"],
        "quiet": ctx.usage["quiet_log_bytes_per_day"] * DAYS_PER_MONTH,
    }
    ingest_cost = stored_gb = ingest_gb = 0.0
    for key, body in items:
        kind = groups_of.get(key, "quiet")
        gb = sizes[kind] / GB
        ingest_gb += gb
        sku = "logs_vended_ingest_gb" if kind == "flow" else "logs_ingest_gb"
        ingest_cost += gb * ctx.prices.price("cloudwatch", sku)
        retention_days = int(body.get("retention_in_days", 0) or 0) or 365  # 0 = never expires: a year shown
        stored_gb += gb * retention_days / DAYS_PER_MONTH
    return [
        LineItem("logs:ingestion", f"{len(items)} log groups, {ingest_gb:.2f} GB a month", ingest_cost),
        LineItem(
            "logs:storage",
            f"{stored_gb:.1f} GB kept",
            stored_gb * ctx.prices.price("cloudwatch", "logs_storage_gb_month"),
        ),
    ]


def sns(ctx: Context, items: Resources) -> list[LineItem]:
    emails = len(ctx.resources("aws_sns_topic_subscription")) * ctx.usage["alert_emails_month"]
    cost = emails / 1e5 * ctx.prices.price("sns", "email_100k")
    return [LineItem("sns:topics", f"topics: {len(items)}, e-mails: {emails:g}", cost)]


def sqs(ctx: Context, items: Resources) -> list[LineItem]:
    requests = len(items) * ctx.usage["dead_letter_requests_month"]
    cost = requests / 1e6 * ctx.prices.price("sqs", "requests_million")
    return [LineItem("sqs:queues", f"queues: {len(items)}, requests: {requests:g}", cost)]


def scheduler(ctx: Context, items: Resources) -> list[LineItem]:
    runs = len(items) * DAYS_PER_MONTH
    return [
        LineItem(
            "scheduler:schedules", f"{runs:.0f} runs", runs / 1e6 * ctx.prices.price("scheduler", "invocations_million")
        )
    ]


def s3(ctx: Context, items: Resources) -> list[LineItem]:
    gb = ctx.usage["state_bucket_gb"]
    return [
        LineItem(f"s3:{path_of(k, b)}", f"{gb:g} GB", gb * ctx.prices.price("s3", "standard_gb_month"))
        for k, b in items
    ]


RULES: dict[str, Callable[[Context, Resources], list[LineItem]]] = {
    "aws_db_instance": rds,
    "aws_db_instance_automated_backups_replication": backup_replication,
    "aws_elasticache_replication_group": elasticache,
    "aws_kinesis_stream": kinesis,
    "aws_nat_gateway": nat_gateway,
    "aws_eip": eip,
    "aws_vpc_endpoint": vpc_endpoint,
    "aws_kms_key": per_resource("kms", "key_month", "customer managed keys"),
    "aws_secretsmanager_secret": per_resource("secretsmanager", "secret_month", "secrets"),
    "aws_cloudwatch_dashboard": per_resource("cloudwatch", "dashboard_month", "dashboards"),
    "aws_cloudwatch_metric_alarm": alarms,
    "aws_cloudwatch_log_group": log_groups,
    "aws_lambda_function": lambdas,
    "aws_sns_topic": sns,
    "aws_sqs_queue": sqs,
    "aws_scheduler_schedule": scheduler,
    "aws_s3_bucket": s3,
}

#: Types AWS does not bill, or whose cost a rule above already counts: each with the reason.
FREE: dict[str, str] = {
    "aws_db_event_subscription": "RDS event notifications are free; the SNS deliveries are priced on the topic",
    "aws_db_parameter_group": "configuration only",
    "aws_db_subnet_group": "configuration only",
    "aws_default_network_acl": "network ACLs are free",
    "aws_default_security_group": "security groups are free",
    "aws_elasticache_parameter_group": "configuration only",
    "aws_elasticache_subnet_group": "configuration only",
    "aws_elasticache_user": "Redis ACL users are free",
    "aws_elasticache_user_group": "Redis ACL user groups are free",
    "aws_flow_log": "billed as ingestion into its log group (aws_cloudwatch_log_group)",
    "aws_iam_openid_connect_provider": "IAM is free",
    "aws_iam_policy": "IAM is free",
    "aws_iam_role": "IAM is free",
    "aws_iam_role_policy": "IAM is free",
    "aws_iam_role_policy_attachment": "IAM is free",
    "aws_internet_gateway": "internet gateways are free (traffic through NAT is priced on the NAT gateway)",
    "aws_kms_alias": "aliases are free",
    "aws_lambda_event_source_mapping": "Kinesis polling by Lambda is free; the invocations are priced on the function",
    "aws_lambda_invocation": "one migration run per deploy: priced as the function's daily upper bound",
    "aws_route": "routes are free",
    "aws_route_table": "route tables are free",
    "aws_route_table_association": "route tables are free",
    "aws_s3_bucket_lifecycle_configuration": "configuration of the bucket",
    "aws_s3_bucket_ownership_controls": "configuration of the bucket",
    "aws_s3_bucket_policy": "configuration of the bucket",
    "aws_s3_bucket_public_access_block": "configuration of the bucket",
    "aws_s3_bucket_server_side_encryption_configuration": "configuration of the bucket",
    "aws_s3_bucket_versioning": "configuration of the bucket (versions are in state_bucket_gb)",
    "aws_secretsmanager_secret_version": "priced per secret, not per version",
    "aws_security_group": "security groups are free",
    "aws_sns_topic_policy": "configuration of the topic",
    "aws_sns_topic_subscription": "deliveries are priced on the topic",
    "aws_sqs_queue_policy": "configuration of the queue",
    "aws_subnet": "subnets are free",
    "aws_vpc": "VPCs are free",
    "aws_vpc_security_group_egress_rule": "security group rules are free",
    "aws_vpc_security_group_ingress_rule": "security group rules are free",
    "terraform_data": "exists only in Terraform state",
}


def check_known(resource_type: str) -> None:
    if resource_type not in RULES and resource_type not in FREE:
        raise CostError(
            "resource type", resource_type, "priced in tools/cost/rules.py RULES or listed free in FREE (with a reason)"
        )
