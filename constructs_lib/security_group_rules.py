"""Security-group plumbing: one rule pair per permitted flow, SG to SG, never a CIDR."""

from __future__ import annotations

from cdktf_cdktf_provider_aws.security_group import SecurityGroup
from cdktf_cdktf_provider_aws.vpc_security_group_egress_rule import VpcSecurityGroupEgressRule
from cdktf_cdktf_provider_aws.vpc_security_group_ingress_rule import VpcSecurityGroupIngressRule
from constructs import Construct


def security_group(scope: Construct, construct_id: str, *, name: str, description: str, vpc_id: str) -> SecurityGroup:
    """A security group with no inline rules.

    Terraform removes AWS's default allow-all egress rule when it creates the group,
    so the group admits and emits only what `allow_tcp` adds.
    """
    return SecurityGroup(scope, construct_id, name=name, description=description, vpc_id=vpc_id)


def allow_tcp(
    scope: Construct, construct_id: str, *, source: SecurityGroup, target: SecurityGroup, port: int, description: str
) -> None:
    """Let `source` open TCP connections to `target` on `port`: an egress and an ingress rule."""
    flow = Construct(scope, construct_id)
    VpcSecurityGroupEgressRule(
        flow,
        "egress",
        security_group_id=source.id,
        referenced_security_group_id=target.id,
        ip_protocol="tcp",
        from_port=port,
        to_port=port,
        description=description,
    )
    VpcSecurityGroupIngressRule(
        flow,
        "ingress",
        security_group_id=target.id,
        referenced_security_group_id=source.id,
        ip_protocol="tcp",
        from_port=port,
        to_port=port,
        description=description,
    )


def store_security_group(scope: Construct, *, name: str, description: str, vpc_id: str) -> SecurityGroup:
    """A data store's own group (construct id `sg`); it admits nothing until `allow_from_store` names a client."""
    return security_group(scope, "sg", name=name, vpc_id=vpc_id, description=description)


def allow_from_store(
    scope: Construct, construct_id: str, *, clients: SecurityGroup, store: SecurityGroup, port: int, service: str
) -> None:
    """Admit `clients` into a data store's group on its port: what the stores' `allow_from` does."""
    allow_tcp(
        scope,
        construct_id,
        source=clients,
        target=store,
        port=port,
        description=f"{service} from the application security group",
    )
