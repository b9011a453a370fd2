"""Secrets Manager secrets encrypted with the environment key."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cdktf import Fn
from cdktf_cdktf_provider_aws.secretsmanager_secret import SecretsmanagerSecret
from cdktf_cdktf_provider_aws.secretsmanager_secret_version import SecretsmanagerSecretVersion
from constructs import Construct

from .encryption import EncryptionKey
from .grants import PolicyGrantee
from .validation import NameRule, require_recovery_window

READ_ACTION = "secretsmanager:GetSecretValue"
#: What Secrets Manager accepts as a secret's name.
SECRET_NAME_RULE = NameRule(r"[A-Za-z0-9/_+=.@-]{1,512}", "a Secrets Manager name")


@dataclass(frozen=True, kw_only=True)
class SecretProps:
    """Inputs of `Secret`.

    name: the secret's name, e.g. `japancart/dev/db-connection`.
    description: what a reader finds in it.
    key: the environment key that encrypts it.
    value: the JSON document stored as the current version; values may be tokens
      (endpoints, a generated password), rendered with Terraform's jsonencode. Default: none (no version:
      something else, e.g. RDS, writes the value).
    recovery_window_days: how long a deleted secret can be restored, 7-30 days, during which its name stays
      reserved. 0 deletes it at once (no recovery), so a destroyed environment can be redeployed under the
      same names right away: for disposable environments only. Default: 30.
    """

    name: str
    description: str
    key: EncryptionKey
    value: Mapping[str, Any] = field(default_factory=dict)
    recovery_window_days: int = 30

    def __post_init__(self) -> None:
        SECRET_NAME_RULE.check("name", self.name)
        require_recovery_window("recovery_window_days", self.recovery_window_days)


class Secret(Construct):
    """A KMS-encrypted secret and its current value; only its ARN ever leaves the construct."""

    def __init__(self, scope: Construct, construct_id: str, props: SecretProps) -> None:
        super().__init__(scope, construct_id)
        self.secret = SecretsmanagerSecret(
            self,
            "secret",
            name=props.name,
            description=props.description,
            kms_key_id=props.key.key_arn,
            recovery_window_in_days=props.recovery_window_days,
        )
        #: The current value (None without `value`): depend on it to run after the secret is readable.
        self.version: SecretsmanagerSecretVersion | None = None
        if props.value:
            self.version = SecretsmanagerSecretVersion(
                self, "value", secret_id=self.secret.id, secret_string=Fn.jsonencode(dict(props.value))
            )
        self.secret_arn: str = self.secret.arn

    def grant_read(self, grantee: PolicyGrantee, sid: str = "ReadSecrets") -> None:
        """Let `grantee` read the secret's value (decrypting it is the key's grant: `grant_decrypt`)."""
        grantee.allow(sid, [READ_ACTION], [self.secret_arn])
