"""The data stores admit exactly the application security group, never a CIDR."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(
    "store_sg_name, port", [("japancart-dev-history-cache", 6379), ("japancart-dev-transactions-db", 5432)]
)
def test_store_admits_exactly_the_app_security_group(dev, store_sg_name: str, port: int) -> None:
    app_key, _ = dev.one("aws_security_group", name="japancart-dev-app")
    store_key, _ = dev.one("aws_security_group", name=store_sg_name)
    store_ref = dev.ref("aws_security_group", store_key, "id")
    ingress = [
        r for r in dev.resources("aws_vpc_security_group_ingress_rule").values() if r["security_group_id"] == store_ref
    ]
    assert len(ingress) == 1
    rule = ingress[0]
    assert rule["referenced_security_group_id"] == dev.ref("aws_security_group", app_key, "id")
    assert (rule["from_port"], rule["to_port"], rule["ip_protocol"]) == (port, port, "tcp")
    assert "cidr_ipv4" not in rule
    # The matching egress on the app group, so the app group emits nothing it was not given.
    egress = [
        r
        for r in dev.resources("aws_vpc_security_group_egress_rule").values()
        if r.get("referenced_security_group_id") == store_ref
    ]
    assert [e["security_group_id"] for e in egress] == [dev.ref("aws_security_group", app_key, "id")]


def test_no_rule_anywhere_admits_a_cidr(dev, prod) -> None:
    for stack in (dev, prod):
        for rule in stack.resources("aws_vpc_security_group_ingress_rule").values():
            assert "cidr_ipv4" not in rule and "cidr_ipv6" not in rule
        for group in stack.resources("aws_security_group").values():
            assert "ingress" not in group and "egress" not in group
