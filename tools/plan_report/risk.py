"""What makes a plan red: a destroy or replace of a resource whose type holds data (``STATEFUL_TYPES``, with the
bootstrap stack's own wording; ``at_risk``, ``find_dangers``), an in-place damage rule a change trips or a stateful
resource deleted outside Terraform (``find_damage_rows``; the rules themselves are ``tools.plan_damage``), and a plan
that does not start from the environment's state (``find_state_warnings``: the state location, backend bucket/key
or local path, differs from the base branch's, or a stack that exists on the base branch is planned from empty
state and creates resources). Every SQS queue, log group, bucket and table counts, in every stack: losing what
they hold is irreversible, and a false alarm costs one human look. The rules live apart from the renderer so that
the report and the exit code (``cli``) read the same verdict.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from tools.plan_json import read_json
from tools.plan_report.markdown import cell, code
from tools.plan_report.model import DamageRow, Danger, Options, StackPlan, StateWarning

#: Resource types whose destruction loses data (or makes data unreadable), with what is at risk.
STATEFUL_TYPES: Mapping[str, str] = {
    "aws_db_instance": "database: its data is lost unless restored from a snapshot",
    "aws_elasticache_replication_group": "cache: every cached key and session is lost",
    "aws_kinesis_stream": "stream: records not yet consumed are lost; consumers must re-point",
    "aws_kms_key": "KMS key: data encrypted under it becomes unreadable once the key is deleted",
    "aws_secretsmanager_secret": "secret: its value and version history are lost",
    "aws_s3_bucket": "S3 bucket: its objects are lost",
    "aws_dynamodb_table": "DynamoDB table: its items are lost",
    # Data-bearing beyond the stores: what they hold exists nowhere else.
    "aws_sqs_queue": "queue: messages waiting in it are lost (the dead-letter queue holds transactions that failed every retry)",
    "aws_cloudwatch_log_group": "log group: every log event in it is deleted (flow logs, database and processor logs: the audit trail)",
}

#: Extra wording for the bootstrap stack, whose bucket and table hold every environment's state.
BOOTSTRAP_STACK = "bootstrap"
BOOTSTRAP_NOTES: Mapping[str, str] = {
    "aws_s3_bucket": "Terraform state bucket: every environment's state is lost",
    "aws_dynamodb_table": "Terraform state lock table: concurrent runs are no longer locked out",
}

#: What a stateful resource deleted outside Terraform means, where its type needs more than ``STATEFUL_TYPES``.
DELETED_OUTSIDE_NOTES: Mapping[str, str] = {
    "aws_kms_key": (
        "KMS key scheduled for deletion (or deleted) outside Terraform: what it encrypts becomes unreadable for good "
        "when the waiting period ends. Cancel the deletion (aws kms cancel-key-deletion) and enable the key again "
        "instead of applying a new one"
    ),
}


def at_risk(stack: str, resource_type: str) -> str | None:
    """What is lost if a resource of this type is destroyed, or None if the type isn't stateful."""
    if stack == BOOTSTRAP_STACK and resource_type in BOOTSTRAP_NOTES:
        return BOOTSTRAP_NOTES[resource_type]
    return STATEFUL_TYPES.get(resource_type)


def find_damage_rows(stacks: Sequence[StackPlan]) -> list[DamageRow]:
    """Every in-place damage rule tripped, and every stateful resource deleted outside Terraform, across all stacks."""
    rows: list[DamageRow] = []
    for stack in stacks:
        for drift in stack.drift:
            risk = at_risk(stack.name, drift.type)
            if drift.deleted and risk is not None:
                note = DELETED_OUTSIDE_NOTES.get(
                    drift.type, f"deleted outside Terraform; {risk}: restore it rather than applying a new, empty one"
                )
                rows.append(DamageRow(stack.name, drift.address, "deleted outside Terraform", note))
        for change in stack.changes:
            rows += [
                DamageRow(stack.name, change.address, change.action, damage.rule.at_risk, damage)
                for damage in change.damage
            ]
    return rows


def find_dangers(stacks: Sequence[StackPlan]) -> list[Danger]:
    """Every destroy or replace of a stateful resource, across all stacks."""
    dangers: list[Danger] = []
    for stack in stacks:
        for change in stack.changes:
            risk = at_risk(stack.name, change.type)
            if change.destructive and risk is not None:
                dangers.append(Danger(stack.name, change, risk, stack.rename_of(change.address)))
    return dangers


def state_location(path: str) -> str:
    """Where a synthesized stack keeps its state: ``s3://bucket/key`` (region), a local path, or the default."""
    document = read_json(path)
    backend = ((document.get("terraform") or {}).get("backend") or {}) if isinstance(document, dict) else {}
    if "s3" in backend:
        s3 = backend["s3"]
        return f"s3://{s3.get('bucket')}/{s3.get('key')} ({s3.get('region')})"
    for kind, settings in backend.items():
        return f"{kind} backend {json.dumps(settings, sort_keys=True)}"
    return "local terraform.tfstate (no backend)"


def find_state_warnings(stacks: Sequence[StackPlan], options: Options) -> list[StateWarning]:
    """State moved away from the base branch's location, or an existing environment planned from empty state."""
    warnings: list[StateWarning] = []
    for stack in stacks:
        base_path = options.base_configs.get(stack.name)
        if base_path is None:
            continue  # a new stack in this change: nothing exists yet to orphan
        head_path = options.stack_configs.get(stack.name)
        if head_path is not None:
            head, base = state_location(head_path), state_location(base_path)
            if head != base:
                warnings.append(
                    StateWarning(
                        stack.name,
                        (
                            f"state location changes from {code(base)} to {code(head)}: a fresh <code>init</code> starts from "
                            "empty state there and plans to create everything again, while the running environment is "
                            "orphaned. Move the state first (<code>terraform init -migrate-state</code>) or keep the location."
                        ),
                    )
                )
                continue
        if stack.prior_resources == 0 and stack.count("create") > 0:
            warnings.append(
                StateWarning(
                    stack.name,
                    (
                        f"the plan starts from an empty state although <code>{cell(stack.name)}</code> exists on the base "
                        f"branch, and creates {stack.count('create')} resource(s): wrong bucket/key, credentials for another "
                        "account, or lost state. Do not apply; find the environment's state first."
                    ),
                )
            )
    return warnings
