"""Grants: each resource adds its own statement to the grantee's policy; same purpose, one statement."""

from __future__ import annotations

import pytest
from bare_stack import bare_stack

from constructs_lib.grants import PolicyGrantee
from constructs_lib.secrets import Secret, SecretProps
from constructs_lib.stream import CONSUMER_ACTIONS, TransactionStream, TransactionStreamProps
from processor.contract import ConfigError


def summary(grantee: PolicyGrantee) -> list[tuple[str, list[str], list[str], list[str]]]:
    """(sid, actions, resources, kms:ViaService values) per statement, in order."""
    return [
        (s.sid, s.actions, s.resources, [v for c in (s.condition or []) for v in c.values])
        for s in grantee.statements()
    ]


def test_resources_grant_in_order_and_one_purpose_merges_into_one_statement() -> None:
    bare = bare_stack(network=False)
    stream = TransactionStream(bare.stack, "stream", TransactionStreamProps(name="bare", key=bare.keys.data))
    first = Secret(bare.stack, "first", SecretProps(name="bare/first", description="d", key=bare.keys.secrets))
    second = Secret(bare.stack, "second", SecretProps(name="bare/second", description="d", key=bare.keys.secrets))
    grantee = PolicyGrantee()
    stream.grant_read(grantee)
    first.grant_read(grantee, sid="ReadCredentials")
    second.grant_read(grantee, sid="ReadCredentials")
    bare.keys.data.grant_decrypt(grantee, via="kinesis", sid="DecryptTheStream")
    bare.keys.data.grant_encrypt_decrypt(grantee, via="sqs", sid="EncryptQueue")
    [read_stream, read_secrets, decrypt, encrypt] = summary(grantee)
    assert read_stream == ("ReadTheTransactionStream", list(CONSUMER_ACTIONS), [stream.stream_arn], [])
    assert read_secrets == (
        "ReadCredentials",
        ["secretsmanager:GetSecretValue"],
        [first.secret_arn, second.secret_arn],
        [],
    )
    assert decrypt[:3] == ("DecryptTheStream", ["kms:Decrypt"], [bare.keys.data.key_arn])
    assert decrypt[3] == [bare.keys.data.account.endpoint("kinesis")]
    assert encrypt[1:] == (
        ["kms:Decrypt", "kms:GenerateDataKey"],
        [bare.keys.data.key_arn],
        [bare.keys.data.account.endpoint("sqs")],
    )


def test_fails_when_a_statement_id_is_reused_for_other_actions() -> None:
    grantee = PolicyGrantee()
    grantee.allow("Read", ["secretsmanager:GetSecretValue"], ["arn:a"])
    with pytest.raises(ConfigError, match="sid must be a statement id used again only with the same actions"):
        grantee.allow("Read", ["kinesis:GetRecords"], ["arn:b"])


def test_fails_when_a_key_is_granted_through_a_service_it_does_not_serve() -> None:
    bare = bare_stack(network=False)
    with pytest.raises(ConfigError, match="service must be one of this key's services"):
        bare.keys.logs.grant_decrypt(PolicyGrantee(), via="kinesis", sid="Nope")
