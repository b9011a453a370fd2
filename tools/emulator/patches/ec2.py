"""EC2 gap patches: descriptions of security-group rules that reference a group or a prefix list, and a deleted
subnet's network ACL association.

Why: moto 5.2.5 loses those descriptions (a perpetual '+ description' diff on the VPC security group rules) and
keeps a deleted subnet in aws_default_network_acl.subnet_ids (a perpetual '- subnet-...' diff).
"""

from __future__ import annotations

from typing import Any

from tools.emulator.patches.registry import gap


@gap(
    "ec2-security-group-rule-descriptions",
    "DescribeSecurityGroupRules returns a rule's Description only for CIDR rules: rules that reference a "
    "security group or a prefix list lose it (perpetual '+ description' diff on "
    "aws_vpc_security_group_ingress_rule/egress_rule).",
    "Return the description given with the referenced group (UserIdGroupPairs) or prefix list as well.",
)
def _patch_ec2_rule_descriptions() -> None:
    """Observed on moto 5.2.5. No upstream issue found (searched 2026-12-03). (getmoto/moto#8086 fixed
    DescribeSecurityGroupRules by rule id, not the descriptions.) Retire when moto returns the description of
    rules that reference a group or a prefix list."""
    from moto.ec2.models import security_groups as sg

    original_init = sg.SecurityGroupRule.__init__

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        prefix = kwargs.get("prefix_list_id") if "prefix_list_id" in kwargs else (args[7] if len(args) > 7 else None)
        self._emu_prefix_description = prefix.get("Description") if isinstance(prefix, dict) else None

    def description(self: Any) -> str | None:
        return (
            self.ip_range.get("Description")
            or (self.source_group or {}).get("Description")
            or getattr(self, "_emu_prefix_description", None)
        )

    sg.SecurityGroupRule.__init__ = __init__
    sg.SecurityGroupRule.description = property(description)


@gap(
    "ec2-delete-subnet-acl-association",
    "DeleteSubnet keeps the deleted subnet's network ACL association, so DescribeNetworkAcls still lists the "
    "subnet and aws_default_network_acl.subnet_ids shows a perpetual '- subnet-...' diff once a subnet is "
    "destroyed (seen when the public subnets leave an environment); AWS drops the association with the subnet.",
    "After DeleteSubnet, drop the subnet's association from every network ACL.",
)
def _patch_ec2_delete_subnet_acl_association() -> None:
    """Observed on moto 5.2.5. No upstream issue found (searched 2026-12-03). Retire when moto's DeleteSubnet
    drops the subnet's network ACL association."""
    from moto.ec2.models.subnets import SubnetBackend

    original = SubnetBackend.delete_subnet

    def delete_subnet(self: Any, subnet_id: str) -> Any:
        subnet = original(self, subnet_id)
        for acl in getattr(self, "network_acls", {}).values():
            for association_id in [a for a, assoc in acl._associations.items() if assoc.subnet_id == subnet_id]:
                del acl._associations[association_id]
        return subnet

    SubnetBackend.delete_subnet = delete_subnet


#: This module's patches, in the order they are applied.
PATCHES = (
    _patch_ec2_rule_descriptions,
    _patch_ec2_delete_subnet_acl_association,
)
