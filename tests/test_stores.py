"""What the two private stores (Redis history, PostgreSQL) do alike: `allow_from` and the shared props checks."""

from __future__ import annotations

from typing import Any

import pytest
from bare_stack import admitted, bare_stack, required_only, with_defaults

from constructs_lib.cache import TransactionCache, TransactionCacheProps
from constructs_lib.database import TransactionDatabase, TransactionDatabaseProps
from constructs_lib.networking import Networking, NetworkingProps
from processor.contract import ConfigError

#: construct, its props, the store's name, its security group's name, its port, its standby switch
STORES = {
    "cache": (
        TransactionCache,
        TransactionCacheProps,
        "bare-history",
        "bare-history-cache",
        6379,
        "automatic_failover",
    ),
    "database": (
        TransactionDatabase,
        TransactionDatabaseProps,
        "bare-transactions",
        "bare-transactions-db",
        5432,
        "multi_az",
    ),
}


def store_props(store: str, **overrides: Any) -> Any:
    _, props, name, *_ = STORES[store]
    return required_only(props, name, **overrides)


@pytest.mark.parametrize("store", STORES)
def test_allow_from_admits_exactly_the_named_group_on_the_store_port(store: str) -> None:
    construct, props, name, group_name, port, _ = STORES[store]

    def build(bare) -> None:
        built = construct(bare.stack, store, props(name=name, keys=bare.keys, networking=bare.network))
        built.allow_from(bare.network.app_security_group)

    stack = with_defaults(build)
    store_key, _ = stack.one("aws_security_group", name=group_name)
    app_key, _ = stack.one("aws_security_group", name="bare-app")
    [ingress] = admitted(stack, store_key)
    assert ingress["referenced_security_group_id"] == stack.ref("aws_security_group", app_key, "id")
    assert (ingress["from_port"], ingress["to_port"], ingress["ip_protocol"]) == (port, port, "tcp")


@pytest.mark.parametrize("store", STORES)
@pytest.mark.parametrize(
    "overrides, message",
    [
        pytest.param({"log_retention_days": 10}, "log_retention_days must be one of", id="log-retention-unknown"),
    ],
)
def test_fails_when_a_shared_prop_is_refused(store: str, overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        store_props(store, **overrides)
    assert message in str(raised.value)


@pytest.mark.parametrize("store", STORES)
def test_fails_when_the_standby_has_a_single_zone(store: str) -> None:
    _, props, name, *_, standby = STORES[store]
    bare = bare_stack(network=False)
    one_zone = Networking(
        bare.stack, "one-zone", NetworkingProps(name="one", region="ap-northeast-1", az_count=1, key=bare.keys.logs)
    )
    with pytest.raises(ConfigError, match=f"{standby} must be off when the network has fewer than 2"):
        props(name=name, keys=bare.keys, networking=one_zone)
