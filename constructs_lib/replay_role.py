"""The replay role: what an operator re-driving the processor's failed batches may do, and who may be it."""

from __future__ import annotations

from cdktf_cdktf_provider_aws.data_aws_iam_policy_document import (
    DataAwsIamPolicyDocument,
    DataAwsIamPolicyDocumentStatement,
    DataAwsIamPolicyDocumentStatementCondition,
    DataAwsIamPolicyDocumentStatementPrincipals,
)
from cdktf_cdktf_provider_aws.iam_role import IamRole
from cdktf_cdktf_provider_aws.iam_role_policy import IamRolePolicy
from constructs import Construct

from .encryption import EnvironmentKeys
from .grants import PolicyGrantee
from .stream import TransactionStream

#: What the replay tool does with the failure queue: read pointers, delete the replayed ones, make the
#: kept ones visible again, and read the queue's attributes.
REPLAY_QUEUE_ACTIONS = (
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "sqs:ChangeMessageVisibility",
    "sqs:GetQueueAttributes",
)


def replay_role(
    scope: Construct, *, name: str, keys: EnvironmentKeys, stream: TransactionStream, queue_arn: str, function_arn: str
) -> IamRole:
    """`<name>-replay`: what `python -m operator_tools.replay` needs and nothing else. It reads and settles the
    failure queue's pointers, reads the stream, invokes the processor function (unqualified), and decrypts
    through SQS and Kinesis only.

    Trust: this account's principals whose own IAM policy allows `sts:AssumeRole` on this role (the account
    as principal delegates the choice to IAM, where on-call access is granted), and only with MFA
    (`aws:MultiFactorAuthPresent`, absent and so refused for long-term keys). MFA rather than a principal
    tag: the role reads every transaction in the stream and can delete the pointers to lost records, so a
    leaked access key alone must not be enough, and a tag condition would hand the decision to whoever
    may tag users and roles.

    Ids replay-trust, replay-role, replay-permissions and replay-policy in `scope` (the processor)."""
    account = keys.data.account
    grantee = PolicyGrantee()
    grantee.allow("SettleFailurePointers", list(REPLAY_QUEUE_ACTIONS), [queue_arn])
    stream.grant_read(grantee)
    grantee.allow("InvokeTheProcessor", ["lambda:InvokeFunction"], [function_arn])
    keys.data.grant_decrypt(grantee, via="sqs", sid="DecryptFailurePointers")
    keys.data.grant_decrypt(grantee, via="kinesis", sid="DecryptTheStream")
    trust = DataAwsIamPolicyDocument(
        scope,
        "replay-trust",
        statement=[
            DataAwsIamPolicyDocumentStatement(
                actions=["sts:AssumeRole"],
                principals=[
                    DataAwsIamPolicyDocumentStatementPrincipals(
                        type="AWS", identifiers=[account.arn("iam", "root", regional=False)]
                    )
                ],
                condition=[
                    DataAwsIamPolicyDocumentStatementCondition(
                        test="Bool", variable="aws:MultiFactorAuthPresent", values=["true"]
                    )
                ],
            )
        ],
    )
    role = IamRole(
        scope,
        "replay-role",
        name=f"{name}-replay",
        assume_role_policy=trust.json,
        description="Runs python -m operator_tools.replay: re-drives the failure queue's batches",
    )
    permissions = DataAwsIamPolicyDocument(scope, "replay-permissions", statement=grantee.statements())
    IamRolePolicy(scope, "replay-policy", name="replay-failed-batches", role=role.id, policy=permissions.json)
    return role
