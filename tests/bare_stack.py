"""A bare stack for construct tests: the providers and the collaborators a construct cannot default.

Construct tests build one construct with its default props here, instead of reading an environment
stack whose configuration (dev turns deletion protection off) would stand in for the defaults.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import cdktf
from cdktf import TerraformStack

from constructs_lib.encryption import Account, EncryptionKey, EncryptionKeyProps, EnvironmentKeys
from constructs_lib.networking import Networking, NetworkingProps
from stacks.providers import aws_provider
from synthesis import StackView

NAME = "bare"


@dataclass
class BareStack:
    """A stack with the AWS provider, three keys and a default network."""

    stack: TerraformStack
    keys: EnvironmentKeys
    network: Networking

    def view(self) -> StackView:
        return StackView(json.loads(cdktf.Testing.synth(self.stack)))


def _key(stack: TerraformStack, construct_id: str, data_class: str, account: Account, *services: str) -> EncryptionKey:
    return EncryptionKey(
        stack,
        construct_id,
        EncryptionKeyProps(
            alias=f"{NAME}-{data_class}", description=data_class, account=account, via_services=services
        ),
    )


def bare_stack(*, network: bool = True) -> BareStack:
    """The stack; `network=False` leaves the VPC out (for constructs that do not need one)."""
    stack = TerraformStack(cdktf.Testing.app(), NAME)
    aws_provider(stack, region="ap-northeast-1", account_id="111122223333", tags={}, emulator=None)
    account = Account(stack, "account")
    keys = EnvironmentKeys(
        data=_key(stack, "key", "data", account, "elasticache", "kinesis", "rds", "sqs"),
        secrets=_key(stack, "secrets-key", "secrets", account, "lambda", "secretsmanager"),
        logs=_key(stack, "logs-key", "logs", account, "sns"),
    )
    vpc = (
        Networking(stack, "network", NetworkingProps(name=NAME, region="ap-northeast-1", key=keys.logs))
        if network
        else None
    )
    return BareStack(stack=stack, keys=keys, network=vpc)  # type: ignore[arg-type]


def with_defaults(build: Callable[[BareStack], Any]) -> StackView:
    """Synthesize a bare stack after `build` added the construct under test to it."""
    bare = bare_stack()
    build(bare)
    return bare.view()


def required_only[P](props: type[P], default_name: str, /, **overrides: Any) -> P:
    """A store's props with only its required fields (real collaborators from a bare stack), plus `overrides`."""
    bare = bare_stack()
    return props(**{"name": default_name, "keys": bare.keys, "networking": bare.network, **overrides})


def admitted(stack: StackView, security_group_key: str) -> list[dict[str, Any]]:
    """The ingress rules of one security group (by its key in the stack)."""
    target = stack.ref("aws_security_group", security_group_key, "id")
    return [
        rule
        for rule in stack.resources("aws_vpc_security_group_ingress_rule").values()
        if rule["security_group_id"] == target
    ]


@dataclass
class DefaultSystem:
    """Every construct of an environment, each built with only its required props."""

    bare: BareStack
    stream: Any
    cache: Any
    database: Any
    topic: Any
    processor: Any


def default_system() -> DefaultSystem:
    """Stream, stores, alert topic and processor on default props, the stores admitting the app group."""
    from constructs_lib.alarms import AlertTopic, AlertTopicProps
    from constructs_lib.bundled_function import LambdaBundle
    from constructs_lib.cache import TransactionCache, TransactionCacheProps
    from constructs_lib.database import TransactionDatabase, TransactionDatabaseProps
    from constructs_lib.processor import TransactionProcessor, TransactionProcessorProps
    from constructs_lib.stream import TransactionStream, TransactionStreamProps

    bare = bare_stack()
    keys, network = bare.keys, bare.network
    stream = TransactionStream(bare.stack, "stream", TransactionStreamProps(name=f"{NAME}-transactions", key=keys.data))
    cache = TransactionCache(
        bare.stack, "cache", TransactionCacheProps(name=f"{NAME}-history", keys=keys, networking=network)
    )
    database = TransactionDatabase(
        bare.stack, "database", TransactionDatabaseProps(name=f"{NAME}-transactions", keys=keys, networking=network)
    )
    for store in (cache, database):
        store.allow_from(network.app_security_group)
    topic = AlertTopic(bare.stack, "alerts", AlertTopicProps(name=NAME, key=keys.logs))
    bundle = LambdaBundle(path=__file__, sha256_base64="dGVzdA==", migrations_checksum="0" * 64)
    processor = TransactionProcessor(
        bare.stack,
        "processor",
        TransactionProcessorProps(
            name=NAME,
            environment="dev",
            bundle=bundle,
            keys=keys,
            networking=network,
            stream=stream,
            cache=cache,
            database=database,
            topic=topic,
        ),
    )
    return DefaultSystem(bare=bare, stream=stream, cache=cache, database=database, topic=topic, processor=processor)
