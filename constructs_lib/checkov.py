"""Suppress a checkov check on one resource, in code, with the reason next to the resource.

    from constructs_lib.checkov import skip_check
    skip_check(bucket, "CKV_AWS_144", "state bucket: cross-region replication is not wanted for Terraform state")

CDKTF synthesizes Terraform JSON, where comments do not exist, so the skip goes into the resource's
``"//"`` metadata object (which CDKTF already emits for every resource and Terraform ignores)::

    "aws_s3_bucket": {"state": {"//": {"checkov": {"skip": [{"id": "CKV_AWS_144", "comment": "..."}]},
                                       "metadata": {...}}, ...}}

A data source's ``"//"`` is rewritten by CDKTF 0.20 after overrides, so a data source's skip goes into the
stack's top-level ``"//"`` instead, with the data source's address::

    {"//": {"checkov": {"skip": [{"id": "CKV_AWS_111", "comment": "...",
                                  "address": "data.aws_iam_policy_document.processor_permissions_333572CD"}]}, ...}}

That is the form proposed upstream for CDKTF (bridgecrewio/checkov#4634), mirroring the CloudFormation
``Metadata.checkov.skip`` form checkov honours.  checkov 3.3.30's ``terraform_json`` runner does not read it
yet (it scans every resource with an empty skip list), so our gate (``tools/checkov_gate.py``) applies
these skips to checkov's report itself: a failed check whose resource carries a matching skip becomes
"suppressed" and is printed with its reason; a skip that matches no failing check fails the gate (stale).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # only for annotations: the gate imports skips_of without starting the jsii runtime
    import cdktf

_CHECK_ID = re.compile(r"^CKV2?_[A-Z0-9]+_\d+$")
_ATTR = "_japancart_checkov_skips"


def skip_check(resource: cdktf.TerraformResource | cdktf.TerraformDataSource, check_id: str, reason: str) -> None:
    """Record that checkov check ``check_id`` does not apply to ``resource`` (a resource or data source,
    e.g. an ``aws_iam_policy_document``), for ``reason``: one line a reviewer would accept."""
    import cdktf  # noqa: PLC0415 -- loaded anyway by whoever builds the resource

    if not _CHECK_ID.match(check_id):
        raise ValueError(f"not a checkov check id: {check_id!r}")
    reason = reason.strip()
    if not reason or "\n" in reason:
        raise ValueError("a skip needs a one-line reason a reviewer would accept")
    if isinstance(resource, cdktf.TerraformDataSource):
        # CDKTF 0.20 rewrites a data source's "//" with its metadata after applying overrides, so the skip
        # of a data source goes into the stack's own "//" object, naming the data source's address.
        stack = cdktf.TerraformStack.of(resource)
        address = f"data.{resource.terraform_resource_type}.{stack.get_logical_id(resource)}"
        _append(
            stack,
            "//.checkov.skip",
            {"id": check_id, "comment": reason, "address": address},
            lambda e: e["id"] == check_id and e["address"] == address,
            f"{check_id} is already skipped on {address}",
        )
        return
    _append(
        resource,
        "//.checkov.skip",
        {"id": check_id, "comment": reason},
        lambda e: e["id"] == check_id,
        f"{check_id} is already skipped on {resource.node.path}",
    )


def _append(element: Any, path: str, entry: dict[str, str], same: Any, duplicate: str) -> None:
    entries: list[dict[str, str]] = getattr(element, _ATTR, None) or []
    if any(same(e) for e in entries):
        raise ValueError(duplicate)
    entries = [*entries, entry]
    setattr(element, _ATTR, entries)  # kept on the object itself, so separate Apps never mix
    # One override holding the whole list: CDKTF overrides replace (not append to) lists.
    element.add_override(path, [dict(e) for e in entries])


def skips_of(resource_json: Mapping[str, Any]) -> dict[str, str]:
    """The ``{check_id: reason}`` skips recorded in one synthesized resource body (the inverse of
    ``skip_check``, used by the gate)."""
    meta = resource_json.get("//") or {}
    entries = ((meta.get("checkov") or {}).get("skip")) or []
    return {
        e["id"]: e.get("comment", "")
        for e in entries
        if isinstance(e, Mapping) and e.get("id") and not e.get("address")
    }


def stack_skips_of(stack_json: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """``{address: {check_id: reason}}`` recorded in a synthesized stack's own ``"//"`` (data sources)."""
    meta = stack_json.get("//") or {}
    out: dict[str, dict[str, str]] = {}
    for e in ((meta.get("checkov") or {}).get("skip")) or []:
        if isinstance(e, Mapping) and e.get("id") and e.get("address"):
            out.setdefault(e["address"], {})[e["id"]] = e.get("comment", "")
    return out
