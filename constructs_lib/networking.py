"""The system's own VPC: private subnets per AZ, flow logs, private endpoints; a way out only with the NAT gateway."""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass
from typing import ClassVar, TypedDict

from cdktf import Fn
from cdktf_cdktf_provider_aws.data_aws_availability_zones import DataAwsAvailabilityZones
from cdktf_cdktf_provider_aws.data_aws_iam_policy_document import (
    DataAwsIamPolicyDocument,
    DataAwsIamPolicyDocumentStatement,
    DataAwsIamPolicyDocumentStatementPrincipals,
)
from cdktf_cdktf_provider_aws.default_network_acl import (
    DefaultNetworkAcl,
    DefaultNetworkAclEgress,
    DefaultNetworkAclIngress,
)
from cdktf_cdktf_provider_aws.default_security_group import DefaultSecurityGroup
from cdktf_cdktf_provider_aws.eip import Eip
from cdktf_cdktf_provider_aws.flow_log import FlowLog
from cdktf_cdktf_provider_aws.iam_role import IamRole
from cdktf_cdktf_provider_aws.iam_role_policy import IamRolePolicy
from cdktf_cdktf_provider_aws.internet_gateway import InternetGateway
from cdktf_cdktf_provider_aws.nat_gateway import NatGateway
from cdktf_cdktf_provider_aws.route import Route
from cdktf_cdktf_provider_aws.route_table import RouteTable
from cdktf_cdktf_provider_aws.route_table_association import RouteTableAssociation
from cdktf_cdktf_provider_aws.security_group import SecurityGroup
from cdktf_cdktf_provider_aws.subnet import Subnet
from cdktf_cdktf_provider_aws.vpc import Vpc
from cdktf_cdktf_provider_aws.vpc_endpoint import VpcEndpoint
from cdktf_cdktf_provider_aws.vpc_security_group_egress_rule import VpcSecurityGroupEgressRule
from constructs import Construct

from .checkov import skip_check
from .encryption import EncryptionKey
from .guards import service_source
from .logs import encrypted_log_group
from .security_group_rules import allow_tcp, security_group
from .validation import (
    LOG_RETENTION_DAYS,
    NameRule,
    parse_cidr,
    require,
    require_bool,
    require_choice,
    require_int,
    require_name,
    require_region,
)

HTTPS = 443
EPHEMERAL_PORTS = (1024, 65535)


@dataclass(frozen=True, kw_only=True)
class NetworkSettings:
    """Address plan of the VPC.

    vpc_cidr: the VPC's IPv4 block, /16 to /24. Default: 10.0.0.0/16.
    az_count: availability zones to spread subnets over. Default: 2, the minimum for Multi-AZ.
    subnet_prefix: prefix length of every subnet, carved in order from vpc_cidr (the public
      blocks first, then the private ones; the public blocks stay reserved without the NAT gateway,
      so turning it on or off never moves a private subnet). Default: 24 (251 usable addresses each).
    nat_gateway: add an internet gateway, public subnets and one NAT gateway, for consumers that need
      HTTPS to the internet (nothing else leaves: security group and network ACL admit 443 only).
      Default: off, and then the VPC has no internet gateway, no public subnet and no route out at all;
      the Secrets Manager endpoint covers what the processor calls (it reaches nothing else outside
      the VPC: Lambda polls the stream, RDS auth tokens are signed locally, logs go through Lambda).
    zone_ids: the zone ids (e.g. apne1-az4) to place subnets in, one per AZ, in order. Zone
      ids name the same physical zone in every account, and a pinned list never grows when
      AWS adds a zone. Default: none, meaning the first az_count available zones.
    """

    vpc_cidr: str = "10.0.0.0/16"
    az_count: int = 2
    subnet_prefix: int = 24
    nat_gateway: bool = False
    zone_ids: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        network = parse_cidr("vpc_cidr", self.vpc_cidr)
        require(16 <= network.prefixlen <= 24, "vpc_cidr", self.vpc_cidr, "a block from /16 to /24")
        require_int("az_count", self.az_count, 1, 6)
        require_int("subnet_prefix", self.subnet_prefix, network.prefixlen + 1, 28)
        capacity = 2 ** (self.subnet_prefix - network.prefixlen)
        require(
            capacity >= 2 * self.az_count,
            "subnet_prefix",
            self.subnet_prefix,
            f"small enough that {2 * self.az_count} subnets fit in {self.vpc_cidr} "
            f"(a /{self.subnet_prefix} gives {capacity})",
        )
        require_bool("nat_gateway", self.nat_gateway)
        require(isinstance(self.zone_ids, tuple), "zone_ids", self.zone_ids, 'a list of zone ids such as ["apne1-az4"]')
        if self.zone_ids:
            require(
                len(self.zone_ids) == self.az_count,
                "zone_ids",
                list(self.zone_ids),
                f"one zone id per availability zone ({self.az_count})",
            )
            require(len(set(self.zone_ids)) == len(self.zone_ids), "zone_ids", list(self.zone_ids), "distinct")
            for index, zone_id in enumerate(self.zone_ids):
                require_name(f"zone_ids[{index}]", zone_id, r"[a-z]{2,5}\d-az\d{1,2}", "a zone id such as apne1-az4")

    @property
    def network(self) -> ipaddress.IPv4Network:
        return ipaddress.IPv4Network(self.vpc_cidr)

    def subnet_cidrs(self) -> tuple[list[str], list[str]]:
        """(public, private) subnet blocks, one per AZ, carved with `ipaddress` (the public ones are used
        only with the NAT gateway, but always carved, so the private blocks never depend on it)."""
        blocks = self.network.subnets(new_prefix=self.subnet_prefix)
        carved = [str(next(blocks)) for _ in range(2 * self.az_count)]
        return carved[: self.az_count], carved[self.az_count :]


@dataclass(frozen=True, kw_only=True)
class NetworkingProps(NetworkSettings):
    """Inputs of `Networking`: the address plan (the `NetworkSettings` fields, each defaulted) and:

    name: prefix of every resource name, e.g. `japancart-dev`. Required.
    region: the region the VPC is in; names the endpoint services. Required.
    key: the logs key, which encrypts the flow-log group. Required.
    flow_log_retention_days: retention of the VPC flow-log group (a CloudWatch Logs value). Default: 365.
    """

    NAME_RULE: ClassVar[NameRule] = NameRule(
        r"[a-z][a-z0-9-]{1,30}", "lowercase letters, digits and '-' (2-31 characters)"
    )

    name: str
    region: str
    key: EncryptionKey
    flow_log_retention_days: int = 365

    def __post_init__(self) -> None:
        super().__post_init__()
        self.NAME_RULE.check("name", self.name)
        require_region("region", self.region)
        require_choice("flow_log_retention_days", self.flow_log_retention_days, LOG_RETENTION_DAYS)


class _Placement(TypedDict, total=False):
    """Where one subnet goes, as Subnet keywords: a pinned zone id or an available zone's name."""

    availability_zone: str
    availability_zone_id: str


class Networking(Construct):
    """VPC, subnets, routing, flow logs, endpoints and the application security group.

    The application security group is the one identity the data stores admit; a
    consumer (the processor) runs in the private subnets with it attached. Public subnets, the
    internet gateway and every route to 0.0.0.0/0 exist only with the NAT gateway.
    """

    def __init__(self, scope: Construct, construct_id: str, props: NetworkingProps) -> None:
        super().__init__(scope, construct_id)
        zones = self._zones(props)

        self._vpc = Vpc(
            self,
            "vpc",
            cidr_block=props.vpc_cidr,
            enable_dns_support=True,
            enable_dns_hostnames=True,
            tags={"Name": props.name},
        )
        self.vpc_id: str = self._vpc.id
        # Managed with no rules, so nothing can fall back on the permissive default group.
        DefaultSecurityGroup(self, "default-sg", vpc_id=self._vpc.id)

        self._private_route_table = RouteTable(
            self, "private-rt", vpc_id=self._vpc.id, tags={"Name": f"{props.name}-private"}
        )
        public_cidrs, private_cidrs = props.subnet_cidrs()
        self._private_subnets = self._subnets("private", props.name, private_cidrs, zones, self._private_route_table)
        self.private_subnet_ids: list[str] = [s.id for s in self._private_subnets]
        self.availability_zone_count: int = props.az_count
        self._public_subnets: list[Subnet] = self._nat(props, public_cidrs, zones) if props.nat_gateway else []

        self._default_network_acl(props)
        self._flow_logs(props)

        self.app_security_group: SecurityGroup = security_group(
            self,
            "app-sg",
            name=f"{props.name}-app",
            vpc_id=self._vpc.id,
            description="Consumers of the transaction stores; the only source the stores admit",
        )
        self._endpoints(props)
        if props.nat_gateway:
            VpcSecurityGroupEgressRule(
                self,
                "app-internet-egress",
                security_group_id=self.app_security_group.id,
                cidr_ipv4="0.0.0.0/0",
                ip_protocol="tcp",
                from_port=HTTPS,
                to_port=HTTPS,
                description="HTTPS to the internet through the NAT gateway",
            )

    def _nat(self, props: NetworkingProps, public_cidrs: list[str], zones: list[_Placement]) -> list[Subnet]:
        """The way out, built only with `nat_gateway`: an internet gateway, public subnets routed to it, and one
        NAT gateway that the private route table sends 0.0.0.0/0 to. Returns the public subnets."""
        igw = InternetGateway(self, "igw", vpc_id=self._vpc.id, tags={"Name": props.name})
        public_rt = RouteTable(self, "public-rt", vpc_id=self._vpc.id, tags={"Name": f"{props.name}-public"})
        Route(
            self, "public-default", route_table_id=public_rt.id, destination_cidr_block="0.0.0.0/0", gateway_id=igw.id
        )
        public_subnets = self._subnets("public", props.name, public_cidrs, zones, public_rt)
        eip = Eip(self, "nat-eip", domain="vpc", tags={"Name": f"{props.name}-nat"})
        nat = NatGateway(
            self,
            "nat",
            allocation_id=eip.id,
            subnet_id=public_subnets[0].id,
            tags={"Name": props.name},
            depends_on=[igw],
        )
        Route(
            self,
            "private-default",
            route_table_id=self._private_route_table.id,
            destination_cidr_block="0.0.0.0/0",
            nat_gateway_id=nat.id,
        )
        return public_subnets

    def _zones(self, settings: NetworkSettings) -> list[_Placement]:
        """Subnet placement per AZ: the pinned zone ids, or else the first available zones."""
        if settings.zone_ids:
            return [{"availability_zone_id": zone_id} for zone_id in settings.zone_ids]
        available = DataAwsAvailabilityZones(self, "zones", state="available")
        skip_check(
            available,
            "CKV_AWS_394",
            "network.zone_ids is not set for this network: subnets take the "
            f"first {settings.az_count} available zones; set zone_ids to pin them",
        )
        return [{"availability_zone": Fn.element(available.names, index)} for index in range(settings.az_count)]

    def _subnets(
        self, tier: str, name: str, cidrs: list[str], zones: list[_Placement], route_table: RouteTable
    ) -> list[Subnet]:
        group = Construct(self, tier)
        subnets = []
        for index, cidr in enumerate(cidrs):
            subnet = Subnet(
                group,
                f"subnet-{index}",
                vpc_id=self._vpc.id,
                cidr_block=cidr,
                **zones[index],
                map_public_ip_on_launch=False,
                tags={"Name": f"{name}-{tier}-{index}", "Tier": tier},
            )
            RouteTableAssociation(group, f"rta-{index}", subnet_id=subnet.id, route_table_id=route_table.id)
            subnets.append(subnet)
        return subnets

    def _flow_logs(self, props: NetworkingProps) -> None:
        group = encrypted_log_group(
            self,
            "flow-log-group",
            name=f"/vpc/{props.name}/flow-logs",
            key_arn=props.key.key_arn,
            retention_days=props.flow_log_retention_days,
        )
        trust = DataAwsIamPolicyDocument(
            self,
            "flow-log-trust",
            statement=[
                DataAwsIamPolicyDocumentStatement(
                    actions=["sts:AssumeRole"],
                    principals=[
                        DataAwsIamPolicyDocumentStatementPrincipals(
                            type="Service", identifiers=["vpc-flow-logs.amazonaws.com"]
                        )
                    ],
                    condition=service_source(props.key.account_id, props.key.account.arn("ec2", "vpc-flow-log/*")),
                )
            ],
        )
        role = IamRole(self, "flow-log-role", name=f"{props.name}-flow-logs", assume_role_policy=trust.json)
        write = DataAwsIamPolicyDocument(
            self,
            "flow-log-write",
            statement=[
                DataAwsIamPolicyDocumentStatement(
                    actions=["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                    resources=[group.arn, f"{group.arn}:*"],
                )
            ],
        )
        IamRolePolicy(self, "flow-log-policy", name="write-flow-logs", role=role.id, policy=write.json)
        FlowLog(
            self,
            "flow-log",
            vpc_id=self._vpc.id,
            traffic_type="ALL",
            log_destination_type="cloud-watch-logs",
            log_destination=group.arn,
            iam_role_arn=role.arn,
            max_aggregation_interval=60,
        )

    def _default_network_acl(self, settings: NetworkSettings) -> None:
        """Every subnet's ACL, managed: traffic within the VPC, and (only with the NAT gateway) HTTPS out
        and its return traffic. Nothing from the internet reaches SSH, RDP or any listening port."""
        ingress = [
            DefaultNetworkAclIngress(
                rule_no=100, action="allow", protocol="-1", from_port=0, to_port=0, cidr_block=settings.vpc_cidr
            )
        ]
        egress = [
            DefaultNetworkAclEgress(
                rule_no=100, action="allow", protocol="-1", from_port=0, to_port=0, cidr_block=settings.vpc_cidr
            )
        ]
        if settings.nat_gateway:
            ingress.append(
                DefaultNetworkAclIngress(
                    rule_no=200,
                    action="allow",
                    protocol="tcp",
                    from_port=EPHEMERAL_PORTS[0],
                    to_port=EPHEMERAL_PORTS[1],
                    cidr_block="0.0.0.0/0",
                )
            )
            egress.append(
                DefaultNetworkAclEgress(
                    rule_no=200, action="allow", protocol="tcp", from_port=HTTPS, to_port=HTTPS, cidr_block="0.0.0.0/0"
                )
            )
        subnets = [s.id for s in self._public_subnets + self._private_subnets]
        DefaultNetworkAcl(
            self,
            "default-nacl",
            default_network_acl_id=self._vpc.default_network_acl_id,
            subnet_ids=subnets,
            ingress=ingress,
            egress=egress,
        )

    def _endpoints(self, props: NetworkingProps) -> None:
        """The Secrets Manager interface endpoint, so consumers need no NAT; its policy comes from
        `restrict_secrets_endpoint` once the secrets exist. (No S3 endpoint: nothing here calls S3.)"""
        region = props.region
        endpoint_sg = security_group(
            self,
            "endpoint-sg",
            name=f"{props.name}-endpoints",
            vpc_id=self._vpc.id,
            description="Interface endpoints; admits HTTPS from the application group",
        )
        allow_tcp(
            self,
            "app-to-endpoints",
            source=self.app_security_group,
            target=endpoint_sg,
            port=HTTPS,
            description="HTTPS to the Secrets Manager endpoint",
        )
        self.secrets_manager_endpoint = VpcEndpoint(
            self,
            "secretsmanager-endpoint",
            vpc_id=self._vpc.id,
            service_name=f"com.amazonaws.{region}.secretsmanager",
            vpc_endpoint_type="Interface",
            private_dns_enabled=True,
            subnet_ids=self.private_subnet_ids,
            security_group_ids=[endpoint_sg.id],
            tags={"Name": f"{props.name}-secretsmanager"},
        )

    def restrict_secrets_endpoint(self, account_id: str, secret_arns: list[str]) -> None:
        """Limit the Secrets Manager endpoint to reading `secret_arns` by principals of `account_id`: a
        workload in this VPC cannot use it to reach any other secret, or another account's."""
        self.secrets_manager_endpoint.policy = json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "ReadThisSystemsSecretsOnly",
                        "Effect": "Allow",
                        "Principal": {"AWS": "*"},
                        "Action": ["secretsmanager:GetSecretValue"],
                        "Resource": secret_arns,
                        "Condition": {"StringEquals": {"aws:PrincipalAccount": account_id}},
                    }
                ],
            }
        )
