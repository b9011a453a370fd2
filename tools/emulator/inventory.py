"""What a stack left in the emulator: ``inventory`` (everything of the kinds our stacks create, by kind),
``leftovers`` (what is still there after a destroy, optionally only a stack's own), ``untracked`` (what exists
but no resource of a state holds) and ``state_identifiers`` (the identifiers a ``terraform show -json`` holds).
The end-to-end tests use them to prove a destroy is clean and an interrupted apply lost nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tools.emulator.server import Emulator


def state_identifiers(show_json: dict) -> set[str]:
    """Every string attribute (id, arn, name, ..., nested ones too) of every managed resource in
    ``terraform show -json`` output: what ``leftovers(..., only=...)`` looks for after a destroy."""
    found: set[str] = set()

    def strings(value: Any) -> None:  # nested too: e.g. aws_db_instance.master_user_secret[0].secret_arn
        if isinstance(value, str):
            if value and len(value) < 2048:
                found.add(value)
        elif isinstance(value, dict):
            for v in value.values():
                strings(v)
        elif isinstance(value, list):
            for v in value:
                strings(v)

    def walk(module: dict) -> None:
        for res in module.get("resources", []):
            if res.get("mode") == "managed":
                strings(res.get("values") or {})
        for child in module.get("child_modules", []):
            walk(child)

    walk((show_json.get("values") or {}).get("root_module") or {})
    return found


#: Each kind ``inventory`` lists -> (Terraform type, state attribute) holding the same identifier: how
#: ``untracked`` finds an object in a stack's state. Attributes set from the configuration or the id, never
#: one read back after create: a create cut off mid-wait leaves a tainted resource with only those.
#: (A kind missing here, e.g. manual RDS snapshots, is never reported as untracked.)
STATE_IDENTITY: dict[str, tuple[str, str]] = {
    "ec2 vpc": ("aws_vpc", "id"),
    "ec2 subnet": ("aws_subnet", "id"),
    "ec2 security group": ("aws_security_group", "id"),
    "ec2 route table": ("aws_route_table", "id"),
    "ec2 vpc endpoint": ("aws_vpc_endpoint", "id"),
    "ec2 internet gateway": ("aws_internet_gateway", "id"),
    "ec2 nat gateway": ("aws_nat_gateway", "id"),
    "ec2 elastic ip": ("aws_eip", "id"),
    "ec2 flow log": ("aws_flow_log", "id"),
    "kinesis stream": ("aws_kinesis_stream", "name"),
    "rds instance": ("aws_db_instance", "identifier"),
    "rds subnet group": ("aws_db_subnet_group", "name"),
    "rds parameter group": ("aws_db_parameter_group", "name"),
    "rds event subscription": ("aws_db_event_subscription", "name"),
    "elasticache replication group": ("aws_elasticache_replication_group", "replication_group_id"),
    "elasticache subnet group": ("aws_elasticache_subnet_group", "name"),
    "elasticache user": ("aws_elasticache_user", "user_id"),
    "elasticache user group": ("aws_elasticache_user_group", "user_group_id"),
    "secretsmanager secret": ("aws_secretsmanager_secret", "id"),
    "cloudwatch alarm": ("aws_cloudwatch_metric_alarm", "alarm_name"),
    "cloudwatch dashboard": ("aws_cloudwatch_dashboard", "dashboard_name"),
    "logs log group": ("aws_cloudwatch_log_group", "name"),
    "sns topic": ("aws_sns_topic", "id"),
    "sqs queue": ("aws_sqs_queue", "id"),
    "lambda function": ("aws_lambda_function", "function_name"),
    "lambda event source mapping": ("aws_lambda_event_source_mapping", "id"),
    "scheduler schedule": ("aws_scheduler_schedule", "name"),
    "iam role": ("aws_iam_role", "name"),
    "iam policy": ("aws_iam_policy", "arn"),
    "iam oidc provider": ("aws_iam_openid_connect_provider", "arn"),
    "s3 bucket": ("aws_s3_bucket", "bucket"),
    "kms key (not pending deletion)": ("aws_kms_key", "id"),
}


@dataclass
class Inventory:
    """What exists in the emulator, by kind; ``member_of`` maps an ElastiCache member cluster to its group."""

    found: dict[str, list[str]]
    member_of: dict[str, str]


def inventory(
    emu: Emulator,
    *,
    keep_buckets: set[str] = frozenset(),
    keep_kms_aliases: set[str] = frozenset(),
    credentials: dict[str, str] | None = None,
) -> Inventory:
    """Everything of the kinds our stacks create that exists in the emulator, in the account of ``credentials``
    (default: the test credentials' account).  KMS keys cannot be deleted, only scheduled: a key counts unless it
    is ``PendingDeletion`` (or belongs to an alias in ``keep_kms_aliases``).  Default VPC resources, main route
    tables and AWS-managed secrets of other services are not listed."""
    found: dict[str, list[str]] = {}

    def add(kind: str, items: list[str]) -> None:
        if items:
            found[kind] = sorted(items)

    def client(service: str) -> Any:
        return emu.client(service, credentials=credentials)

    ec2 = client("ec2")
    vpcs = [v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"] if not v.get("IsDefault")]
    add("ec2 vpc", vpcs)
    if vpcs:
        flt = [{"Name": "vpc-id", "Values": vpcs}]
        add("ec2 subnet", [s["SubnetId"] for s in ec2.describe_subnets(Filters=flt)["Subnets"]])
        add(
            "ec2 security group",
            [
                g["GroupId"]
                for g in ec2.describe_security_groups(Filters=flt)["SecurityGroups"]
                if g["GroupName"] != "default"
            ],
        )
        add(
            "ec2 route table",
            [
                t["RouteTableId"]
                for t in ec2.describe_route_tables(Filters=flt)["RouteTables"]
                if not any(a.get("Main") for a in t.get("Associations", []))
            ],
        )
    add(
        "ec2 vpc endpoint",
        [
            e["VpcEndpointId"]
            for e in ec2.describe_vpc_endpoints()["VpcEndpoints"]
            if e.get("State") not in ("deleted", "Deleted")
        ],
    )
    add(
        "ec2 internet gateway",
        [
            g["InternetGatewayId"]
            for g in ec2.describe_internet_gateways()["InternetGateways"]
            if any(a.get("VpcId") in vpcs for a in g.get("Attachments", [])) or not g.get("Attachments")
        ],
    )
    add(
        "ec2 nat gateway",
        [
            n["NatGatewayId"]
            for n in ec2.describe_nat_gateways()["NatGateways"]
            if n.get("State") not in ("deleted", "deleting")
        ],
    )
    add("ec2 elastic ip", [a["AllocationId"] for a in ec2.describe_addresses()["Addresses"]])
    add("ec2 flow log", [f["FlowLogId"] for f in ec2.describe_flow_logs()["FlowLogs"]])

    add("kinesis stream", client("kinesis").list_streams()["StreamNames"])
    rds = client("rds")
    add("rds instance", [d["DBInstanceIdentifier"] for d in rds.describe_db_instances()["DBInstances"]])
    add("rds subnet group", [g["DBSubnetGroupName"] for g in rds.describe_db_subnet_groups()["DBSubnetGroups"]])
    add(
        "rds parameter group",
        [
            g["DBParameterGroupName"]
            for g in rds.describe_db_parameter_groups()["DBParameterGroups"]
            if not g["DBParameterGroupName"].startswith("default.")
        ],
    )
    add(
        "rds snapshot",
        [s["DBSnapshotIdentifier"] for s in rds.describe_db_snapshots(SnapshotType="manual")["DBSnapshots"]],
    )
    add(
        "rds event subscription",
        [e["CustSubscriptionId"] for e in rds.describe_event_subscriptions()["EventSubscriptionsList"]],
    )
    ec = client("elasticache")
    add(
        "elasticache replication group",
        [g["ReplicationGroupId"] for g in ec.describe_replication_groups()["ReplicationGroups"]],
    )
    clusters = ec.describe_cache_clusters()["CacheClusters"]
    add("elasticache cluster", [c["CacheClusterId"] for c in clusters])
    member_of = {c["CacheClusterId"]: c["ReplicationGroupId"] for c in clusters if c.get("ReplicationGroupId")}
    add(
        "elasticache subnet group",
        [
            g["CacheSubnetGroupName"]
            for g in ec.describe_cache_subnet_groups()["CacheSubnetGroups"]
            if g["CacheSubnetGroupName"] != "default"
        ],
    )
    # user id "default" is the account's built-in default user (in AWS as in moto), never ours
    add("elasticache user", [u["UserId"] for u in ec.describe_users()["Users"] if u["UserId"] != "default"])
    add("elasticache user group", [g["UserGroupId"] for g in ec.describe_user_groups()["UserGroups"]])
    # ARNs: also catches secrets a service created for us (e.g. RDS's managed master-user secret)
    add(
        "secretsmanager secret",
        [s["ARN"] for s in client("secretsmanager").list_secrets()["SecretList"] if "DeletedDate" not in s],
    )
    cw = client("cloudwatch")
    add("cloudwatch alarm", [a["AlarmName"] for a in cw.describe_alarms()["MetricAlarms"]])
    add("cloudwatch dashboard", [d["DashboardName"] for d in cw.list_dashboards()["DashboardEntries"]])
    add("logs log group", [g["logGroupName"] for g in client("logs").describe_log_groups()["logGroups"]])
    add("sns topic", [t["TopicArn"] for t in client("sns").list_topics()["Topics"]])
    add("sqs queue", client("sqs").list_queues().get("QueueUrls", []))
    lam = client("lambda")
    add("lambda function", [f["FunctionName"] for f in lam.list_functions()["Functions"]])
    add("lambda event source mapping", [m["UUID"] for m in lam.list_event_source_mappings()["EventSourceMappings"]])
    add("scheduler schedule", [s["Name"] for s in client("scheduler").list_schedules()["Schedules"]])
    iam = client("iam")
    add(
        "iam role", [r["RoleName"] for r in iam.list_roles()["Roles"] if not r["Path"].startswith("/aws-service-role/")]
    )
    add("iam policy", [p["Arn"] for p in iam.list_policies(Scope="Local")["Policies"]])
    add("iam oidc provider", [p["Arn"] for p in iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]])
    add("s3 bucket", [b["Name"] for b in client("s3").list_buckets()["Buckets"] if b["Name"] not in keep_buckets])

    kms = client("kms")
    kept = {
        a["TargetKeyId"]
        for a in kms.list_aliases()["Aliases"]
        if a["AliasName"] in keep_kms_aliases and a.get("TargetKeyId")
    }
    live = []
    for key in kms.list_keys()["Keys"]:
        meta = kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]
        if meta["KeyManager"] == "CUSTOMER" and meta["KeyState"] != "PendingDeletion" and key["KeyId"] not in kept:
            live.append(key["KeyId"])
    add("kms key (not pending deletion)", live)
    return Inventory(found=found, member_of=member_of)


def leftovers(
    emu: Emulator,
    *,
    keep_buckets: set[str] = frozenset(),
    keep_kms_aliases: set[str] = frozenset(),
    only: set[str] | None = None,
    credentials: dict[str, str] | None = None,
) -> dict[str, list[str]]:
    """Everything of the kinds our stacks create that still exists in the emulator (empty dict = clean), in the
    account of ``credentials``.

    ``only``: restrict to these identifiers (e.g. ``state_identifiers`` of one stack, taken after apply),
    so stacks applied side by side in one emulator do not see each other (a replication group's member
    clusters match through the group's id).
    """
    stock = inventory(emu, keep_buckets=keep_buckets, keep_kms_aliases=keep_kms_aliases, credentials=credentials)
    if only is None:
        return stock.found
    left = {
        kind: [i for i in items if i in only or stock.member_of.get(i) in only] for kind, items in stock.found.items()
    }
    return {kind: items for kind, items in left.items() if items}


def untracked(
    emu: Emulator,
    show_json: dict,
    *,
    keep_buckets: set[str] = frozenset(),
    keep_kms_aliases: set[str] = frozenset(),
    credentials: dict[str, str] | None = None,
) -> dict[str, list[str]]:
    """What exists in the emulator (in the account of ``credentials``) but is in no resource of the state
    (``terraform show -json``), kind by kind through ``STATE_IDENTITY``: an object of a kind counts as tracked only
    when a resource of that kind's type holds its identifier (a stream's name that is also the database's
    identifier does not make it tracked). Member clusters count with their replication group, RDS's managed
    master secret with its instance."""
    attributes = {rtype: attribute for rtype, attribute in STATE_IDENTITY.values()}
    in_state: dict[str, set[str]] = {rtype: set() for rtype in attributes}

    def walk(module: dict) -> None:
        for res in module.get("resources", []):
            values = res.get("values") or {}
            if res.get("mode") == "managed" and res["type"] in attributes:
                in_state[res["type"]].add(str(values.get(attributes[res["type"]])))
            if res.get("mode") == "managed" and res["type"] == "aws_db_instance":
                for secret in values.get("master_user_secret") or []:
                    in_state["aws_secretsmanager_secret"].add(secret.get("secret_arn", ""))
        for child in module.get("child_modules", []):
            walk(child)

    walk((show_json.get("values") or {}).get("root_module") or {})
    stock = inventory(emu, keep_buckets=keep_buckets, keep_kms_aliases=keep_kms_aliases, credentials=credentials)
    missing: dict[str, list[str]] = {}
    for kind, items in stock.found.items():
        if kind == "elasticache cluster":
            lost = [i for i in items if stock.member_of.get(i) not in in_state["aws_elasticache_replication_group"]]
        elif kind in STATE_IDENTITY:
            lost = [i for i in items if i not in in_state[STATE_IDENTITY[kind][0]]]
        else:
            continue  # e.g. manual RDS snapshots: never in state
        if lost:
            missing[kind] = lost
    return missing
