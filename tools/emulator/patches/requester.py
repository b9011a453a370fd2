"""Who signed a request to the emulator: ``request_principal``, shared by the S3 and KMS patches, which evaluate a
resource policy (tools/iam_policy.py) for that principal.  Not a patch itself."""

from __future__ import annotations

from typing import Any


def request_principal(access_key: str) -> Any:
    """Who signed an emulator request: the role of an ``sts:AssumeRole*`` session (moto hands out keys per
    session), the IAM user owning the key, else the root of moto's default account (the ``testing`` keys)."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.iam.models import iam_backends
    from moto.sts.models import sts_backends

    from tools.iam_policy import Principal

    for account_id, partitions in list(sts_backends.items()):
        for backend in list(partitions.values()):
            role = backend.get_assumed_role_from_access_key(access_key)
            if role is not None:
                return Principal("AWS", role.role_arn, account_id)
    for account_id, partitions in list(iam_backends.items()):
        for backend in list(partitions.values()):
            key = backend.access_keys.get(access_key)
            if key is not None and getattr(key, "role_arn", None) is None:
                return Principal("AWS", backend.get_user(key.user_name).arn, account_id)
    return Principal.root(DEFAULT_ACCOUNT_ID)
