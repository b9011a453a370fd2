"""S3 gap patch: the bucket policy evaluated for every bucket and object request, for the requester, with
tools/iam_policy.py; plus ``s3_action``, the IAM action S3 authorizes for a REST request.

Why: moto 5.2.5 evaluates bucket policies only for object requests, by HTTP method, with StringEquals only and
without the requester, so the state bucket's TLS-only Deny denied everything and per-role denies never applied.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

from tools.emulator.patches.registry import gap
from tools.emulator.patches.requester import request_principal

#: Request context the emulator stands in for: AWS endpoints are HTTPS, so requests arrive over TLS.
S3_POLICY_CONTEXT = {"aws:SecureTransport": "true"}
#: Request headers that S3 exposes as condition keys (``s3:<header>``).
S3_HEADER_KEYS = ("x-amz-server-side-encryption", "x-amz-server-side-encryption-aws-kms-key-id")
_s3_request = threading.local()

#: Bucket sub-resources (query parameters) -> the IAM action S3 authorizes, per method. A bucket request with
#: none of them is ListBucket (GET/HEAD) or Create/DeleteBucket (PUT/DELETE).
_BUCKET_ACTIONS: dict[str, dict[str, str]] = {
    "GET": {
        "versions": "s3:ListBucketVersions",
        "uploads": "s3:ListBucketMultipartUploads",
        "policy": "s3:GetBucketPolicy",
        "policyStatus": "s3:GetBucketPolicyStatus",
        "versioning": "s3:GetBucketVersioning",
        "location": "s3:GetBucketLocation",
        "acl": "s3:GetBucketAcl",
        "tagging": "s3:GetBucketTagging",
        "encryption": "s3:GetEncryptionConfiguration",
        "lifecycle": "s3:GetLifecycleConfiguration",
        "publicAccessBlock": "s3:GetBucketPublicAccessBlock",
        "ownershipControls": "s3:GetBucketOwnershipControls",
        "logging": "s3:GetBucketLogging",
        "cors": "s3:GetBucketCORS",
        "website": "s3:GetBucketWebsite",
        "replication": "s3:GetReplicationConfiguration",
        "notification": "s3:GetBucketNotification",
        "accelerate": "s3:GetAccelerateConfiguration",
        "object-lock": "s3:GetBucketObjectLockConfiguration",
        "requestPayment": "s3:GetBucketRequestPayment",
    },
    "PUT": {
        "policy": "s3:PutBucketPolicy",
        "versioning": "s3:PutBucketVersioning",
        "acl": "s3:PutBucketAcl",
        "tagging": "s3:PutBucketTagging",
        "encryption": "s3:PutEncryptionConfiguration",
        "lifecycle": "s3:PutLifecycleConfiguration",
        "publicAccessBlock": "s3:PutBucketPublicAccessBlock",
        "ownershipControls": "s3:PutBucketOwnershipControls",
        "logging": "s3:PutBucketLogging",
        "cors": "s3:PutBucketCORS",
        "website": "s3:PutBucketWebsite",
        "replication": "s3:PutReplicationConfiguration",
        "notification": "s3:PutBucketNotification",
        "accelerate": "s3:PutAccelerateConfiguration",
        "object-lock": "s3:PutBucketObjectLockConfiguration",
    },
    "DELETE": {
        "policy": "s3:DeleteBucketPolicy",
        "tagging": "s3:PutBucketTagging",
        "encryption": "s3:PutEncryptionConfiguration",
        "lifecycle": "s3:PutLifecycleConfiguration",
        "publicAccessBlock": "s3:PutBucketPublicAccessBlock",
        "ownershipControls": "s3:PutBucketOwnershipControls",
        "cors": "s3:PutBucketCORS",
        "website": "s3:DeleteBucketWebsite",
        "replication": "s3:PutReplicationConfiguration",
    },
}
_OBJECT_ACTIONS: dict[str, dict[str, tuple[str, str]]] = {  # sub-resource -> (action, action on a version)
    "GET": {
        "acl": ("s3:GetObjectAcl", "s3:GetObjectVersionAcl"),
        "tagging": ("s3:GetObjectTagging", "s3:GetObjectVersionTagging"),
        "attributes": ("s3:GetObjectAttributes", "s3:GetObjectVersionAttributes"),
        "retention": ("s3:GetObjectRetention", "s3:GetObjectRetention"),
        "legal-hold": ("s3:GetObjectLegalHold", "s3:GetObjectLegalHold"),
        "uploadId": ("s3:ListMultipartUploadParts", "s3:ListMultipartUploadParts"),
    },
    "PUT": {
        "acl": ("s3:PutObjectAcl", "s3:PutObjectVersionAcl"),
        "tagging": ("s3:PutObjectTagging", "s3:PutObjectVersionTagging"),
        "retention": ("s3:PutObjectRetention", "s3:PutObjectRetention"),
        "legal-hold": ("s3:PutObjectLegalHold", "s3:PutObjectLegalHold"),
    },
    "DELETE": {
        "uploadId": ("s3:AbortMultipartUpload", "s3:AbortMultipartUpload"),
        "tagging": ("s3:DeleteObjectTagging", "s3:DeleteObjectVersionTagging"),
    },
    "POST": {"restore": ("s3:RestoreObject", "s3:RestoreObject")},
}
_OBJECT_DEFAULTS = {
    "GET": ("s3:GetObject", "s3:GetObjectVersion"),
    "HEAD": ("s3:GetObject", "s3:GetObjectVersion"),
    "PUT": ("s3:PutObject", "s3:PutObject"),
    "POST": ("s3:PutObject", "s3:PutObject"),
    "DELETE": ("s3:DeleteObject", "s3:DeleteObjectVersion"),
}


def s3_action(method: str, query: dict[str, Any], *, object_request: bool) -> str:
    """The IAM action S3 authorizes for a REST request (S3 User Guide, "Actions, resources, and condition keys":
    a HEAD of an object is GetObject, a GET with versionId is GetObjectVersion, a listing is ListBucket)."""
    method = method.upper()
    if object_request:
        version = 1 if "versionId" in query else 0
        for subresource, actions in _OBJECT_ACTIONS.get(method, {}).items():
            if subresource in query:
                return actions[version]
        return _OBJECT_DEFAULTS.get(method, ("s3:GetObject", "s3:GetObject"))[version]
    for subresource, action in _BUCKET_ACTIONS.get(method, {}).items():
        if subresource in query:
            return action
    if method == "POST" and "delete" in query:
        return "s3:DeleteObject"  # checked per key by moto (FakeBucket.get_permission)
    return {"PUT": "s3:CreateBucket", "DELETE": "s3:DeleteBucket"}.get(method, "s3:ListBucket")


def _bucket_policy_decision(bucket: Any, action: str, resource: str) -> str | None:
    """The bucket policy's decision for this thread's request (None when the bucket has no policy)."""
    from tools.iam_policy import Request, evaluate

    if bucket.policy is None:
        return None
    document = json.loads(bucket.policy.decode() if isinstance(bucket.policy, bytes) else bucket.policy)
    state = getattr(_s3_request, "state", None) or {}
    return evaluate(document, Request(action, resource, state.get("principal"), state.get("context", {})))


@gap(
    "s3-bucket-policies",
    "Bucket policies are enforced only for object requests, by HTTP method (HEAD becomes s3:HeadObject, a GET of "
    "a version s3:GetObject), with only StringEquals conditions and without the requester: every other operator "
    "is ignored, so the state bucket's DenyInsecureTransport (Bool aws:SecureTransport=false) became an "
    "unconditional Deny, and Principal, NotResource, aws:PrincipalArn and s3:prefix were never evaluated.",
    "Evaluate the bucket policy for every bucket and object request with tools/iam_policy.py: the IAM action S3 "
    "authorizes (GetObjectVersion, ListBucket, ListBucketVersions, PutBucketPolicy, ...), the requester (the role "
    "of an AssumeRole session, an IAM user, else the default account's root), and the request context of AWS's "
    "HTTPS endpoints (aws:SecureTransport=true, aws:PrincipalArn, aws:PrincipalAccount, s3:prefix, the SSE "
    "headers); an explicit Deny refuses the request with 403 AccessDenied, as in AWS.",
)
def _patch_s3_bucket_policies() -> None:
    """Observed on moto 5.2.5. No upstream issue found (searched 2026-12-03). Retire when moto evaluates bucket
    policies for every bucket and object request with the action S3 authorizes, the requester (Principal,
    aws:PrincipalArn) and all condition operators."""
    from moto.iam.access_control import PermissionResult
    from moto.s3 import models as s3
    from moto.s3.exceptions import S3AccessDeniedError, S3ClientError
    from moto.s3.responses import S3Response

    def get_permission(self: Any, action: str, resource: str) -> Any:  # moto's own object checks, DeleteObjects
        decision = _bucket_policy_decision(self, "s3:GetObject" if action == "s3:HeadObject" else action, resource)
        return {
            None: PermissionResult.NEUTRAL,
            "Deny": PermissionResult.DENIED,
            "Allow": PermissionResult.PERMITTED,
        }.get(decision, PermissionResult.NEUTRAL)

    def checked(original: Callable[..., Any], object_request: bool) -> Callable[..., Any]:
        def response(self: Any, request: Any, full_url: str) -> Any:
            query = self._get_querystring(request, full_url)
            headers = {k.lower(): v for k, v in request.headers.items()}
            context: dict[str, Any] = {
                **S3_POLICY_CONTEXT,
                **{f"s3:{name}": headers[name] for name in S3_HEADER_KEYS if name in headers},
            }
            if "prefix" in query and not object_request:
                context["s3:prefix"] = query["prefix"][0]
            _s3_request.state = {"principal": request_principal(self.get_access_key()), "context": context}
            try:
                bucket_name = self.parse_bucket_name_from_url(request, full_url)
                try:
                    bucket = self.backend.get_bucket(bucket_name) if bucket_name else None
                except S3ClientError:
                    bucket = None
                if bucket is not None:
                    key = self.parse_key_name() if object_request else ""
                    resource = f"arn:{bucket.partition}:s3:::{bucket_name}" + (f"/{key}" if key else "")
                    action = s3_action(request.method, query, object_request=object_request and bool(key))
                    if _bucket_policy_decision(bucket, action, resource) == "Deny":
                        raise S3AccessDeniedError()
                return original(self, request, full_url)
            finally:
                _s3_request.state = None

        return response

    s3.FakeBucket.get_permission = get_permission
    S3Response._bucket_response = checked(S3Response._bucket_response, False)
    S3Response._key_response = checked(S3Response._key_response, True)


#: This module's patches, in the order they are applied.
PATCHES = (_patch_s3_bucket_policies,)
