"""Networking: address plan, private-only subnets without NAT, flow logs, endpoints, optional NAT (HTTPS out only)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from config_files import write_config
from environments import synth_environment

from constructs_lib.networking import NetworkSettings
from processor.contract import ConfigError
from synthesis import StackView, synth_stacks


def test_subnets_are_carved_with_ipaddress_in_order() -> None:
    public, private = NetworkSettings(vpc_cidr="10.30.0.0/16", az_count=3, subnet_prefix=20).subnet_cidrs()
    assert public == ["10.30.0.0/20", "10.30.16.0/20", "10.30.32.0/20"]
    assert private == ["10.30.48.0/20", "10.30.64.0/20", "10.30.80.0/20"]


def test_fails_when_vpc_block_is_too_small_for_a_vpc() -> None:
    with pytest.raises(ConfigError, match=r"vpc_cidr must be a block from /16 to /24, got '10.0.0.0/8'"):
        NetworkSettings(vpc_cidr="10.0.0.0/8")


def test_vpc_and_subnets(dev) -> None:
    _, vpc = dev.one("aws_vpc")
    assert vpc["cidr_block"] == "10.10.0.0/16"
    assert vpc["enable_dns_support"] is True and vpc["enable_dns_hostnames"] is True
    subnets = dev.resources("aws_subnet").values()
    # The public blocks 10.10.0.0/24 and 10.10.1.0/24 stay reserved: dev has no NAT gateway, so no public subnet.
    assert sorted(s["cidr_block"] for s in subnets) == ["10.10.2.0/24", "10.10.3.0/24"]
    assert all(s["map_public_ip_on_launch"] is False for s in subnets)
    zones = {s["tags"]["Name"]: s["availability_zone_id"] for s in subnets}
    assert zones == {"japancart-dev-private-0": "apne1-az4", "japancart-dev-private-1": "apne1-az1"}
    assert dev.data("aws_availability_zones") == {}


def test_without_pinned_zones_subnets_take_the_first_available(tmp_path: Path) -> None:
    config = write_config(tmp_path, {"dev": {"network": {"az_count": 2}}})
    stack = StackView(synth_stacks(tmp_path / "out", {"JAPANCART_CONFIG": str(config)})["dev"])
    zones_key, zones = stack.document["data"]["aws_availability_zones"].popitem()
    assert zones["state"] == "available"
    placed = sorted(s["availability_zone"] for s in stack.resources("aws_subnet").values())
    assert placed == [f"${{element(data.aws_availability_zones.{zones_key}.names, {i})}}" for i in (0, 1)]
    skipped = [s for s in stack.document["//"]["checkov"]["skip"] if s["id"] == "CKV_AWS_394"]
    assert skipped and skipped[0]["address"].endswith(zones_key)


def test_fails_when_zone_ids_do_not_match_the_zone_count() -> None:
    with pytest.raises(
        ConfigError, match=r"zone_ids must be one zone id per availability zone \(3\), got \['apne1-az4'\]"
    ):
        NetworkSettings(az_count=3, zone_ids=("apne1-az4",))


def test_prod_spreads_over_three_zones(prod) -> None:
    assert sorted(s["tags"]["Name"] for s in prod.resources("aws_subnet").values()) == [
        "japancart-prod-private-0",
        "japancart-prod-private-1",
        "japancart-prod-private-2",
    ]


def test_default_security_group_is_managed_with_no_rules(dev) -> None:
    _, group = dev.one("aws_default_security_group")
    assert "ingress" not in group and "egress" not in group


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_without_nat_nothing_is_public(env: str, stacks: dict) -> None:
    """No shipped environment uses the NAT gateway, so none has an internet gateway, a public subnet, a public
    route table or any route at all (the private route table keeps only the VPC's local route)."""
    stack = StackView(stacks[env])
    for kind in ("aws_internet_gateway", "aws_route", "aws_nat_gateway", "aws_eip", "aws_egress_only_internet_gateway"):
        assert stack.resources(kind) == {}, kind
    ((_, table),) = stack.resources("aws_route_table").items()
    assert table["tags"]["Name"] == f"japancart-{env}-private" and "route" not in table
    assert {s["tags"]["Tier"] for s in stack.resources("aws_subnet").values()} == {"private"}
    internet = [r for r in stack.resources("aws_vpc_security_group_egress_rule").values() if "cidr_ipv4" in r]
    assert internet == []
    _, acl = stack.one("aws_default_network_acl")
    assert [r for r in acl["ingress"] + acl["egress"] if r["cidr_block"] == "0.0.0.0/0"] == []


def test_flow_logs_go_to_an_encrypted_group_with_retention(dev) -> None:
    key_ref = dev.key_ref("logs")
    group_key, group = dev.one("aws_cloudwatch_log_group", name="/vpc/japancart-dev/flow-logs")
    assert group["kms_key_id"] == key_ref and group["retention_in_days"] == 30
    _, flow = dev.one("aws_flow_log")
    assert flow["traffic_type"] == "ALL"
    assert flow["log_destination"] == dev.ref("aws_cloudwatch_log_group", group_key, "arn")


def test_secrets_endpoint_lets_consumers_work_without_nat(dev) -> None:
    ((_, secrets),) = dev.resources("aws_vpc_endpoint").items()  # no S3 endpoint: nothing here calls S3
    assert (secrets["vpc_endpoint_type"], secrets["service_name"]) == (
        "Interface",
        "com.amazonaws.ap-northeast-1.secretsmanager",
    )
    assert secrets["private_dns_enabled"] is True
    private_subnets = {
        dev.ref("aws_subnet", k, "id") for k, s in dev.resources("aws_subnet").items() if s["tags"]["Tier"] == "private"
    }
    assert set(secrets["subnet_ids"]) == private_subnets


def test_secrets_endpoint_reads_only_this_systems_secrets(dev) -> None:
    _, secrets = dev.one("aws_vpc_endpoint")
    (statement,) = json.loads(secrets["policy"])["Statement"]
    assert statement["Effect"] == "Allow" and statement["Action"] == ["secretsmanager:GetSecretValue"]
    db_key, _ = dev.one("aws_db_instance")
    assert statement["Resource"] == [
        dev.ref(
            "aws_secretsmanager_secret",
            dev.one("aws_secretsmanager_secret", name="japancart/dev/db-connection")[0],
            "arn",
        ),
        f"${{aws_db_instance.{db_key}.master_user_secret[0].secret_arn}}",
    ]  # the database's two secrets: Redis has none (IAM auth)
    account = statement["Condition"]["StringEquals"]["aws:PrincipalAccount"]
    assert account.startswith("${data.aws_caller_identity.account_") and account.endswith(".account_id}")


def test_app_security_group_reaches_only_the_stores_and_the_endpoint(dev) -> None:
    app_key, _ = dev.one("aws_security_group", name="japancart-dev-app")
    egress = [
        r
        for r in dev.resources("aws_vpc_security_group_egress_rule").values()
        if r["security_group_id"] == dev.ref("aws_security_group", app_key, "id")
    ]
    assert sorted(r["from_port"] for r in egress) == [443, 5432, 6379]
    assert all(
        "referenced_security_group_id" in r and "prefix_list_id" not in r and "cidr_ipv4" not in r for r in egress
    )


def test_flow_log_role_trusts_only_this_accounts_flow_logs(dev) -> None:
    _, role = dev.one("aws_iam_role", name="japancart-dev-flow-logs")
    trust = dev.data("aws_iam_policy_document")[role["assume_role_policy"].split(".")[2]]
    (statement,) = trust["statement"]
    conditions = {c["variable"]: (c["test"], c["values"]) for c in statement["condition"]}
    assert conditions["aws:SourceAccount"][0] == "StringEquals"
    test, (source,) = conditions["aws:SourceArn"]
    assert test == "ArnLike" and source.endswith(":vpc-flow-log/*") and ":ec2:" in source


@pytest.mark.parametrize("nat", [False, True])
def test_default_network_acl_is_managed_and_closed_to_the_internet(tmp_path: Path, nat: bool) -> None:
    stack = synth_environment(tmp_path, network={"nat_gateway": nat})
    vpc_key, _ = stack.one("aws_vpc")
    _, acl = stack.one("aws_default_network_acl")
    assert acl["default_network_acl_id"] == stack.ref("aws_vpc", vpc_key, "default_network_acl_id")
    assert set(acl["subnet_ids"]) == {stack.ref("aws_subnet", k, "id") for k in stack.resources("aws_subnet")}
    internet_in = [r for r in acl["ingress"] if r["cidr_block"] == "0.0.0.0/0"]
    assert [(r["protocol"], r["from_port"], r["to_port"]) for r in internet_in] == (
        [("tcp", 1024, 65535)] if nat else []
    )
    internet_out = [r for r in acl["egress"] if r["cidr_block"] == "0.0.0.0/0"]
    assert [(r["protocol"], r["from_port"], r["to_port"]) for r in internet_out] == ([("tcp", 443, 443)] if nat else [])
    assert [r["cidr_block"] for r in acl["ingress"] if r["protocol"] == "-1"] == ["10.0.0.0/16"]  # the VPC only


def test_optional_nat_gateway(tmp_path: Path) -> None:
    stack = synth_environment(tmp_path, network={"nat_gateway": True})
    check_nat_network(stack, "japancart-dev", ["10.0.0.0/24", "10.0.1.0/24"])


def check_nat_network(stack: StackView, name: str, public_blocks: list[str]) -> None:
    """With the NAT gateway: an internet gateway, public subnets routed to it, the NAT gateway in the first of
    them, the private route table's way out through it, and HTTPS (443) the only thing that may leave."""
    igw_key, _ = stack.one("aws_internet_gateway")
    public_rt, _ = stack.one("aws_route_table", tags={"Name": f"{name}-public"})
    private_rt, _ = stack.one("aws_route_table", tags={"Name": f"{name}-private"})
    routes = {(r["route_table_id"], r["destination_cidr_block"]): r for r in stack.resources("aws_route").values()}
    assert set(routes) == {
        (stack.ref("aws_route_table", public_rt, "id"), "0.0.0.0/0"),
        (stack.ref("aws_route_table", private_rt, "id"), "0.0.0.0/0"),
    }
    assert routes[(stack.ref("aws_route_table", public_rt, "id"), "0.0.0.0/0")]["gateway_id"] == stack.ref(
        "aws_internet_gateway", igw_key, "id"
    )
    nat_key, nat = stack.one("aws_nat_gateway")
    assert routes[(stack.ref("aws_route_table", private_rt, "id"), "0.0.0.0/0")]["nat_gateway_id"] == stack.ref(
        "aws_nat_gateway", nat_key, "id"
    )
    public = {k: s for k, s in stack.resources("aws_subnet").items() if s["tags"]["Tier"] == "public"}
    assert sorted(s["cidr_block"] for s in public.values()) == public_blocks
    assert all(s["map_public_ip_on_launch"] is False for s in public.values())
    first, _ = stack.one("aws_subnet", tags={"Name": f"{name}-public-0", "Tier": "public"})
    assert nat["subnet_id"] == stack.ref("aws_subnet", first, "id")
    associated = {a["subnet_id"]: a["route_table_id"] for a in stack.resources("aws_route_table_association").values()}
    assert {associated[stack.ref("aws_subnet", k, "id")] for k in public} == {
        stack.ref("aws_route_table", public_rt, "id")
    }
    # Egress to the internet: one security-group rule, TCP 443 from the application group; the network ACL
    # lets 443 out and only the replies (ephemeral ports) back in.
    internet = [r for r in stack.resources("aws_vpc_security_group_egress_rule").values() if "cidr_ipv4" in r]
    app_key, _ = stack.one("aws_security_group", name=f"{name}-app")
    assert [
        (r["security_group_id"], r["cidr_ipv4"], r["ip_protocol"], r["from_port"], r["to_port"]) for r in internet
    ] == [(stack.ref("aws_security_group", app_key, "id"), "0.0.0.0/0", "tcp", 443, 443)]
    _, acl = stack.one("aws_default_network_acl")
    assert [(r["protocol"], r["from_port"], r["to_port"]) for r in acl["egress"] if r["cidr_block"] == "0.0.0.0/0"] == [
        ("tcp", 443, 443)
    ]
    assert [
        (r["protocol"], r["from_port"], r["to_port"]) for r in acl["ingress"] if r["cidr_block"] == "0.0.0.0/0"
    ] == [("tcp", 1024, 65535)]
    assert set(acl["subnet_ids"]) == {stack.ref("aws_subnet", k, "id") for k in stack.resources("aws_subnet")}


def test_bare_network_with_nat_gateway() -> None:
    """The construct alone, NAT on and every other prop defaulted: the same way out, nothing wider."""
    from bare_stack import bare_stack

    from constructs_lib.networking import Networking, NetworkingProps

    bare = bare_stack(network=False)
    Networking(
        bare.stack,
        "network",
        NetworkingProps(name="bare", region="ap-northeast-1", key=bare.keys.logs, nat_gateway=True),
    )
    stack = bare.view()
    check_nat_network(stack, "bare", ["10.0.0.0/24", "10.0.1.0/24"])
    assert sorted(
        s["cidr_block"] for s in stack.resources("aws_subnet").values() if s["tags"]["Tier"] == "private"
    ) == ["10.0.2.0/24", "10.0.3.0/24"]  # the same private blocks as without NAT: turning it on moves no subnet


def test_defaults_are_two_private_zones_without_nat_and_with_encrypted_flow_logs() -> None:
    from bare_stack import with_defaults

    stack = with_defaults(lambda bare: None)  # the bare stack's network is built with default props
    assert stack.one("aws_vpc")[1]["cidr_block"] == "10.0.0.0/16"
    subnets = sorted(s["cidr_block"] for s in stack.resources("aws_subnet").values())
    assert subnets == ["10.0.2.0/24", "10.0.3.0/24"]  # private only; 10.0.0.0/23 is reserved for public subnets
    assert all(s["map_public_ip_on_launch"] is False for s in stack.resources("aws_subnet").values())
    for kind in ("aws_nat_gateway", "aws_eip", "aws_internet_gateway", "aws_route"):
        assert stack.resources(kind) == {}, kind
    _, flow_logs = stack.one("aws_cloudwatch_log_group", name="/vpc/bare/flow-logs")
    assert flow_logs["kms_key_id"] == stack.key_ref("logs") and flow_logs["retention_in_days"] == 365
    assert stack.one("aws_flow_log")[1]["traffic_type"] == "ALL"


@pytest.mark.parametrize(
    "overrides, message",
    [
        pytest.param({"name": "Bare"}, "name must be lowercase letters", id="name-not-lowercase"),
        pytest.param({"region": "tokyo"}, "region must be an AWS region", id="region-malformed"),
        pytest.param({"flow_log_retention_days": 10}, "flow_log_retention_days must be one of", id="retention-unknown"),
        pytest.param({"az_count": 2.0}, "az_count must be a whole number from 1 to 6", id="float-zone-count"),
        pytest.param({"nat_gateway": "no"}, "nat_gateway must be true or false", id="nat-not-bool"),
        pytest.param(
            {"zone_ids": ("apne1-az4",)},
            "zone_ids must be one zone id per availability zone (2)",
            id="zone-ids-miscounted",
        ),
    ],
)
def test_fails_when_a_prop_is_refused(overrides: dict, message: str) -> None:
    from bare_stack import bare_stack

    from constructs_lib.networking import NetworkingProps

    key = bare_stack(network=False).keys.logs
    with pytest.raises(ConfigError) as raised:
        NetworkingProps(**{"name": "bare", "region": "ap-northeast-1", "key": key, **overrides})
    assert message in str(raised.value)
