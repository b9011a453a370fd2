"""A bare stack for construct tests: the providers and the collaborators a construct cannot default.

Construct tests build one construct with its default props here, instead of reading an environment
stack whose configuration (dev turns deletion protection off) would stand in for the defaults.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable

import cdktf
from cdktf import TerraformStack

from constructs_lib.encryption import Account, EncryptionKey, EncryptionKeyProps, EnvironmentKeys
from constructs_lib.networking import Networking, NetworkingProps
from stacks.providers import aws_provider, random_provider
from synthesis import StackView

NAME = "bare"


@dataclass
class BareStack:
    """A stack with the AWS and random providers, three keys and a default network."""

    stack: TerraformStack
    keys: EnvironmentKeys
    network: Networking

    def view(self) -> StackView:
        return StackView(json.loads(cdktf.Testing.synth(self.stack)))


def _key(stack: TerraformStack, construct_id: str, data_class: str, account: Account, *services: str) -> EncryptionKey:
    return EncryptionKey(stack, construct_id, EncryptionKeyProps(
        alias=f"{NAME}-{data_class}", description=data_class, account=account, via_services=services))


def bare_stack(*, network: bool = True) -> BareStack:
    """The stack; `network=False` leaves the VPC out (for constructs that do not need one)."""
    stack = TerraformStack(cdktf.Testing.app(), NAME)
    aws_provider(stack, region="ap-northeast-1", tags={}, emulator=None)
    random_provider(stack)
    account = Account(stack, "account")
    keys = EnvironmentKeys(
        data=_key(stack, "key", "data", account, "elasticache", "kinesis", "rds", "sqs"),
        secrets=_key(stack, "secrets-key", "secrets", account, "lambda", "secretsmanager"),
        logs=_key(stack, "logs-key", "logs", account, "sns"),
    )
    vpc = Networking(stack, "network", NetworkingProps(name=NAME, region="ap-northeast-1", key=keys.logs)) \
        if network else None
    return BareStack(stack=stack, keys=keys, network=vpc)  # type: ignore[arg-type]


def with_defaults(build: Callable[[BareStack], Any]) -> StackView:
    """Synthesize a bare stack after `build` added the construct under test to it."""
    bare = bare_stack()
    build(bare)
    return bare.view()


def admitted(stack: StackView, security_group_key: str) -> list[dict[str, Any]]:
    """The ingress rules of one security group (by its key in the stack)."""
    target = stack.ref("aws_security_group", security_group_key, "id")
    return [rule for rule in stack.resources("aws_vpc_security_group_ingress_rule").values()
            if rule["security_group_id"] == target]
