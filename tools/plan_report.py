"""Markdown risk report for Terraform plans, for review in pull requests.

Usage::

    terraform show -json tfplan > dev.plan.json
    python -m tools.plan_report dev.plan.json staging.plan.json [--output report.md]
        [--name path/to/x.json=dev] [--allow-destructive]

Input is the JSON of one or more *saved plans* (``terraform show -json PLANFILE``, format 1.x). Each file is
one stack, named after the file (``dev.plan.json`` -> ``dev``) unless ``--name FILE=NAME`` says otherwise.

The report lists, in this order:

1. A red "Destructive changes to stateful resources" section for every destroy or replace of a resource
   whose type is in ``STATEFUL_TYPES``, with what forces a replacement (the plan's ``replace_paths``).
   SQS queues (messages waiting, e.g. dead-lettered transactions) and CloudWatch log groups (the audit
   trail) count too: what they hold exists nowhere else.
   Every ``aws_s3_bucket`` and every ``aws_dynamodb_table`` counts as stateful, in every stack, not only
   the bootstrap stack's state bucket and lock table: losing any bucket's objects or any table's items is
   irreversible, and a false alarm costs one human look.
   A destroy that is half of a rename (below) reads "rename (destroy + create)".
2. Renames: a destroy and a create of the same type with the same identifier (``RENAME_IDENTIFIERS``: ``name``,
   ``identifier``, ``bucket``, ... or ``name_prefix`` while the name is still unknown) are one object whose
   address changed (a construct id was renamed). Each is listed with its fix: the HCL ``moved`` block and the
   cdktf 0.20 ``move_from_id`` call; red (above) when the type is data-bearing, a warning otherwise.
3. Per stack, counts to add / change / destroy / replace (a replace is counted only as a replace, not also
   as an add and a destroy; the line in Terraform's own wording is shown next to it for comparison).
4. Per stack, the resources changed outside Terraform (``resource_drift`` that matters to the plan, or
   deleted), each with the attributes that changed.
5. Per stack, a table of changed resources with the top-level attributes that change (before -> after).
   Sensitive values are masked (``before_sensitive`` / ``after_sensitive``), attributes Terraform computes
   during apply share one ``known after apply`` line (unless they force a replacement), JSON documents
   (policies, and any attribute whose two values are JSON objects) show the paths that change inside them,
   and long values are shortened in the middle. A change between null and an empty string/list/map is not
   shown: providers swap them freely and it changes nothing.

State location (``--stack-config NAME=cdk.tf.json`` and ``--base-stack-config NAME=cdk.tf.json``, the stack's
synthesized configuration on this branch and on the base branch): red when a stack's state location (backend
bucket/key, or local path) differs from the base branch's, since a fresh ``init`` there starts from empty state and
orphans the running environment; and red when the stack exists on the base branch but its plan starts from an
empty state (``prior_state`` without resources) and creates resources. Both exit 3 like a destructive change (a deliberate,
already migrated state move is let through the same way, by a human).

Exit codes: 0 report written; 2 an input file is unreadable or not a plan, or the output can't be written
(one error line on stderr naming the file; no report is written); 3 report written, but the red section is
not empty and neither ``--allow-destructive`` nor ``PLAN_REPORT_ALLOW_DESTRUCTIVE=1`` was given, so a
pipeline stops for a human.

Standard library only.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import sys
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Sequence

if __package__:  # python -m tools.plan_report, and imports (tests, tools.change_set)
    from tools.plan_json import (SENSITIVE, UNKNOWN, Marker, PlanInputError, apply_mask, apply_unknown, as_dict,
                                 contains_true, is_empty, is_valid_change, read_json, sub, validate_plan, write_atomically)
    from tools.plan_damage import Damage, find_damage
else:  # python tools/plan_report.py (CI runs the base branch's copy as a script): this directory is on sys.path
    from plan_json import (SENSITIVE, UNKNOWN, Marker, PlanInputError, apply_mask, apply_unknown, as_dict,  # type: ignore[no-redef]
                           contains_true, is_empty, is_valid_change, read_json, sub, validate_plan, write_atomically)
    from plan_damage import Damage, find_damage  # type: ignore[no-redef]

EXIT_OK = 0
EXIT_INVALID_INPUT = 2
EXIT_DESTRUCTIVE = 3

OVERRIDE_ENV = "PLAN_REPORT_ALLOW_DESTRUCTIVE"
TRUTHY = frozenset({"1", "true", "yes", "on"})

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

MAX_VALUE_CHARS = 60
MAX_ATTRIBUTES = 12
#: A create lists fewer attributes (everything is new; the plan artifact has the rest), without the
#: provider-computed ``tags_all`` (the provider's default tags, repeated on every resource).
MAX_CREATE_ATTRIBUTES = 8
CREATE_HIDDEN = frozenset({"tags_all"})
#: Attributes that say which object this is; listed first (after those forcing a replacement).
IDENTITY_ATTRIBUTES = frozenset(
    {"name", "identifier", "bucket", "alarm_name", "function_name", "replication_group_id", "cidr_block", "description"}
)
OPEN_DETAILS_UP_TO = 25
#: Attributes that name the real object, most specific first. A destroy and a create of the same type that agree on
#: the first of these known on both sides are one object whose address changed (a renamed construct id), not two.
#: A ``*_prefix`` only counts when the full name is not known yet (Terraform generates it on create).
RENAME_IDENTIFIERS: tuple[str, ...] = (
    "name", "identifier", "replication_group_id", "bucket", "function_name", "alarm_name", "dashboard_name",
    "cluster_identifier", "user_id", "user_group_id", "name_prefix", "identifier_prefix", "bucket_prefix",
)
#: Attributes that hold a JSON policy document (besides any ``*_policy``); any attribute whose old and new values
#: both parse as JSON objects is diffed the same way.
POLICY_ATTRIBUTES = frozenset({"policy", "assume_role_policy"})
MAX_JSON_CHANGES = 8
#: A whole added/removed policy statement is worth more room than an attribute value.
MAX_JSON_VALUE_CHARS = 120
MAX_UNKNOWN_NAMES = 10
MAX_DRIFT_LISTED = 25

#: Terraform ``actions`` lists -> (our label, the symbol Terraform prints).
ACTION_LABELS: Mapping[tuple[str, ...], tuple[str, str]] = {
    ("create",): ("create", "+"),
    ("update",): ("update", "~"),
    ("delete",): ("destroy", "-"),
    ("delete", "create"): ("replace", "-/+"),
    ("create", "delete"): ("replace (create before destroy)", "+/-"),
    ("read",): ("read", "<="),
    ("no-op",): ("no-op", " "),
    ("forget",): ("forget (removed from state only)", "."),
}
DESTRUCTIVE_ACTIONS = frozenset({"destroy", "replace", "replace (create before destroy)"})


@dataclass(frozen=True)
class JsonChange:
    """One path inside a JSON document (a policy) that is added (``+``), removed (``-``) or changed (``~``)."""

    kind: str
    path: str
    before: str = ""
    after: str = ""


@dataclass(frozen=True)
class AttributeChange:
    """One top-level attribute whose value changes, already masked and rendered as short text.

    ``json_changes`` is set when both sides are JSON documents: the reviewer reads what changes inside,
    not two blobs."""

    name: str
    before: str
    after: str
    forces_replacement: bool = False
    json_changes: Optional[tuple[JsonChange, ...]] = None


@dataclass(frozen=True)
class ResourceChange:
    """One entry of ``resource_changes`` reduced to what a reviewer needs."""

    address: str
    type: str
    action: str
    symbol: str
    replace_paths: tuple[str, ...] = ()
    reason: Optional[str] = None
    attributes: tuple[AttributeChange, ...] = ()
    omitted_attributes: int = 0
    known_after_apply: tuple[str, ...] = ()
    previous_address: Optional[str] = None
    #: The in-place damage rules (``tools.plan_damage.RULES``) this change trips.
    damage: tuple[Damage, ...] = ()

    @property
    def destructive(self) -> bool:
        """True for a destroy or a replace (either order)."""
        return self.action in DESTRUCTIVE_ACTIONS

    @property
    def shown(self) -> bool:
        """Whether the change belongs in the table (no-ops and data-source reads do not)."""
        return self.action not in ("no-op", "read")


@dataclass(frozen=True)
class Rename:
    """A destroy and a create of one real object whose Terraform address changed (a construct id was renamed).

    Applied as planned, the object and its data are deleted and an empty one is created; a ``moved`` block
    (cdktf: ``move_from_id`` on the new resource) moves the state instead."""

    type: str
    old_address: str
    new_address: str
    identifier: str

    @property
    def moved_block(self) -> str:
        """The HCL fix: a ``moved`` block from the old address to the new one."""
        return f"moved {{\n  from = {self.old_address}\n  to   = {self.new_address}\n}}"

    @property
    def cdktf_call(self) -> str:
        """The same fix in cdktf (0.20+) Python, called on the resource object that now has the new address."""
        return f"resource.move_from_id({json.dumps(self.old_address)})"


@dataclass(frozen=True)
class Drift:
    """A resource changed (or deleted) outside Terraform since the last apply, with what changed."""

    address: str
    deleted: bool
    attributes: tuple[AttributeChange, ...] = ()
    omitted_attributes: int = 0
    reverted: bool = False
    type: str = ""


@dataclass(frozen=True)
class Provisioner:
    """A provisioner in the plan's configuration: a command Terraform runs where it applies, next to its credentials."""

    address: str
    type: str
    command: str


@dataclass(frozen=True)
class StackPlan:
    """One plan file: its stack name and its changes."""

    name: str
    path: str
    terraform_version: str
    changes: tuple[ResourceChange, ...]
    drift: tuple[Drift, ...] = ()
    errored: bool = False
    complete: bool = True
    prior_resources: int = 0
    renames: tuple[Rename, ...] = ()
    provisioners: tuple[Provisioner, ...] = ()

    @property
    def drifted(self) -> int:
        """How many resources changed outside Terraform."""
        return len(self.drift)

    def count(self, *actions: str) -> int:
        """How many changes have one of ``actions``."""
        return sum(1 for c in self.changes if c.action in actions)

    def rename_of(self, address: str) -> Optional[Rename]:
        """The rename whose old or new address is ``address``, if any."""
        return next((r for r in self.renames if address in (r.old_address, r.new_address)), None)


@dataclass(frozen=True)
class Danger:
    """A destroy or replace of a stateful resource: one row of the red section (``rename`` when it is one)."""

    stack: str
    change: ResourceChange
    at_risk: str
    rename: Optional[Rename] = None


@dataclass
class Options:
    """Parsed command line."""

    plans: list[str]
    output: Optional[str]
    names: dict[str, str] = field(default_factory=dict)
    allow_destructive: bool = False
    stack_configs: dict[str, str] = field(default_factory=dict)
    base_configs: dict[str, str] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------------------
# Reading plans
# ---------------------------------------------------------------------------------------------------------
def stack_name_for(path: str, names: Mapping[str, str]) -> str:
    """The stack name for ``path``: an explicit ``--name`` mapping, else the file name without suffixes."""
    for key in (path, os.path.normpath(path), os.path.basename(path)):
        if key in names:
            return names[key]
    base = os.path.basename(path)
    stem = base
    for suffix in (".json", ".plan", ".tfplan"):
        if stem.endswith(suffix) and len(stem) > len(suffix):
            stem = stem[: -len(suffix)]
    return stem or base


def load_plan(path: str, name: str) -> StackPlan:
    """Read, validate and summarise one plan file."""
    doc = read_json(path)
    validate_plan(doc, path)
    items = doc.get("resource_changes", [])
    return StackPlan(
        name=name,
        path=path,
        terraform_version=str(doc.get("terraform_version", "unknown")),
        changes=tuple(summarise_change(item) for item in items),
        drift=find_drift(doc.get("resource_drift"), doc.get("relevant_attributes"), planned_attribute_names(items)),
        errored=bool(doc.get("errored", False)),
        complete=bool(doc.get("complete", True)),
        prior_resources=count_managed(((doc.get("prior_state") or {}).get("values") or {}).get("root_module")),
        renames=find_renames(items),
        provisioners=find_provisioners((doc.get("configuration") or {}).get("root_module")),
    )


#: The provisioner arguments that say what runs (``connection`` blocks, which can hold passwords, are never read).
PROVISIONER_COMMANDS = ("command", "inline", "script", "scripts", "source", "destination")


def find_provisioners(module: Any, prefix: str = "") -> tuple[Provisioner, ...]:
    """Every provisioner in a ``configuration`` module tree (``module_calls`` too), with what it runs when the
    configuration says it as a constant."""
    if not isinstance(module, dict):
        return ()
    found: list[Provisioner] = []
    for resource in module.get("resources") or []:
        for provisioner in (resource.get("provisioners") or []) if isinstance(resource, dict) else []:
            expressions = as_dict(as_dict(provisioner).get("expressions"))
            runs = [as_dict(expressions.get(name)).get("constant_value") for name in PROVISIONER_COMMANDS if name in expressions]
            command = " ".join(to_text(value) if not isinstance(value, str) else value for value in runs if value is not None)
            found.append(Provisioner(prefix + str(resource.get("address", "")), str(as_dict(provisioner).get("type", "")),
                                     command or "(computed)"))
    for name, call in sorted(as_dict(module.get("module_calls")).items()):
        found += find_provisioners(as_dict(call).get("module"), f"{prefix}module.{name}.")
    return tuple(found)


def count_managed(module: Any) -> int:
    """Managed resources in a ``root_module`` tree of ``terraform show -json`` (child modules too)."""
    if not isinstance(module, dict):
        return 0
    own = sum(1 for r in module.get("resources") or [] if isinstance(r, dict) and r.get("mode") == "managed")
    return own + sum(count_managed(child) for child in module.get("child_modules") or [])


def planned_attribute_names(items: Sequence[Mapping[str, Any]]) -> dict[str, set[str]]:
    """``address -> top-level attributes this plan changes`` on an existing object (an update or replace)."""
    planned: dict[str, set[str]] = {}
    for item in items:
        change = item["change"]
        if "update" not in change["actions"] and sorted(change["actions"]) != ["create", "delete"]:
            continue
        before, after = as_dict(change.get("before")), as_dict(change.get("after"))
        planned[item["address"]] = {key for key in {*before, *after} if before.get(key) != after.get(key)}
    return planned


def find_drift(drift: Any, relevant: Any, planned: Mapping[str, set[str]]) -> tuple[Drift, ...]:
    """Resources changed outside Terraform that matter to this plan, ignoring null-vs-empty noise: what other
    changes depend on (Terraform's ``relevant_attributes``, as its own "Objects have changed outside of
    Terraform" note shows), and what this plan overwrites (a hand-made change that applying undoes, which
    Terraform's note leaves out); a resource deleted outside Terraform always matters."""
    if not isinstance(drift, list):
        return ()
    addresses = {r.get("resource") for r in relevant if isinstance(r, dict)} if isinstance(relevant, list) else set()
    found: list[Drift] = []
    for item in drift:
        if not is_valid_change(item):
            continue
        change, address = item["change"], item["address"]
        if change["actions"] == ["delete"]:
            found.append(Drift(address, deleted=True, type=str(item.get("type", ""))))
            continue
        attrs, _ = attribute_changes(change, ())
        reverted = [a for a in attrs if a.name in planned.get(address, set())]
        if address not in addresses:
            attrs = reverted
        if attrs:
            found.append(Drift(address, False, tuple(attrs[:MAX_ATTRIBUTES]), max(0, len(attrs) - MAX_ATTRIBUTES),
                               reverted=bool(reverted)))
    return tuple(found)


def shared_identifier(destroyed: Mapping[str, Any], created: Mapping[str, Any]) -> Optional[str]:
    """``name = "x"`` when a destroyed object and a created one carry the same identifier (the first of
    ``RENAME_IDENTIFIERS`` known and not sensitive on both sides), else None."""
    before, after = as_dict(destroyed.get("before")), as_dict(created.get("after"))
    for key in RENAME_IDENTIFIERS:
        hidden = (sub(destroyed.get("before_sensitive"), key), sub(created.get("after_sensitive"), key),
                  sub(created.get("after_unknown"), key))
        if any(contains_true(tree) for tree in hidden):
            continue
        old, new = before.get(key), after.get(key)
        if isinstance(old, str) and old and isinstance(new, str) and new:
            return f"{key} = {json.dumps(old, ensure_ascii=False)}" if old == new else None
    return None


def find_renames(items: Sequence[Mapping[str, Any]]) -> tuple[Rename, ...]:
    """Pairs of a destroy and a create of the same type and identifier: one object whose address changed."""
    def plain(item: Mapping[str, Any], actions: list[str]) -> bool:
        return item["change"]["actions"] == actions and not item.get("deposed") and item.get("mode", "managed") == "managed"

    created = [item for item in items if plain(item, ["create"])]
    renames: list[Rename] = []
    for old in (item for item in items if plain(item, ["delete"])):
        for new in created:
            identifier = new.get("type") == old.get("type") and shared_identifier(old["change"], new["change"])
            if identifier:
                renames.append(Rename(str(old.get("type", "")), old["address"], new["address"], identifier))
                created.remove(new)
                break
    return tuple(renames)


# ---------------------------------------------------------------------------------------------------------
# One resource change
# ---------------------------------------------------------------------------------------------------------
def classify(actions: Sequence[str]) -> tuple[str, str]:
    """Map Terraform's ``actions`` list to (label, symbol); unknown combinations keep their own words."""
    return ACTION_LABELS.get(tuple(actions), ("+".join(actions), "?"))


def format_path(path: Sequence[Any]) -> str:
    """Render a ``replace_paths`` entry such as ``["tags", "Name"]`` as ``tags["Name"]``."""
    text = ""
    for step in path:
        if isinstance(step, int):
            text += f"[{step}]"
        elif text:
            text += f'["{step}"]' if not str(step).isidentifier() else f".{step}"
        else:
            text = str(step)
    return text or "(whole resource)"


def to_text(value: Any) -> str:
    """Compact one-line text: JSON for data, bare words for markers."""
    if isinstance(value, Marker):
        return str(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)}: {to_text(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(to_text(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)


def shorten(text: str, limit: int = MAX_VALUE_CHARS) -> str:
    """Cut ``text`` to ``limit`` characters in the middle (ARNs and IDs differ at the end)."""
    if len(text) <= limit:
        return text
    head = (limit - 1) // 2
    tail = limit - 1 - head
    return text[:head] + "…" + text[-tail:]


def attribute_changes(change: Mapping[str, Any], forced: Sequence[str]) -> tuple[list[AttributeChange], list[str]]:
    """The top-level attributes that change, masked and shortened; also the names of those that are wholly
    unknown until apply (collapsed into one line by the renderer, unless they force a replacement)."""
    before, after = as_dict(change.get("before")), as_dict(change.get("after"))
    unknown = change.get("after_unknown") or {}
    creating = change.get("before") is None
    result: list[AttributeChange] = []
    unknown_names: list[str] = []
    for key in sorted({*before, *after, *as_dict(unknown)}):
        old, new, unk = before.get(key), after.get(key), sub(unknown, key)
        if not contains_true(unk) and (old == new or (is_empty(old) and is_empty(new))):
            continue
        if unk is True and key not in forced:
            unknown_names.append(key)
            continue
        if creating and is_empty(new) and not contains_true(unk):
            continue
        masked_old = apply_mask(old, sub(change.get("before_sensitive"), key))
        masked_new = apply_mask(new, sub(change.get("after_sensitive"), key))
        documents = None if creating or contains_true(unk) else json_documents(key, masked_old, masked_new)
        shown_old = "null" if creating else shorten(to_text(masked_old))
        shown_new = shorten(to_text(apply_unknown(masked_new, unk)))
        diff = tuple(json_diff(*documents)) if documents else None
        result.append(AttributeChange(key, shown_old, shown_new, key in forced, diff))
    result.sort(key=lambda a: (not a.forces_replacement, a.name not in IDENTITY_ATTRIBUTES, a.name))
    return result, unknown_names


def parse_json_object(value: Any) -> Optional[dict[str, Any]]:
    """``value`` parsed, when it is a (non-masked) string holding a JSON object; else None."""
    if not isinstance(value, str) or isinstance(value, Marker):
        return None
    try:
        parsed = json.loads(value)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


def json_documents(name: str, old: Any, new: Any) -> Optional[tuple[dict[str, Any], dict[str, Any]]]:
    """Both sides as JSON objects when the attribute holds a JSON document: any attribute whose two values
    parse as objects, and a policy attribute (``policy``, ``*_policy``) that is set or cleared."""
    parsed_old, parsed_new = parse_json_object(old), parse_json_object(new)
    if parsed_old is not None and parsed_new is not None:
        return parsed_old, parsed_new
    if name in POLICY_ATTRIBUTES or name.endswith("_policy"):
        if parsed_old is not None and is_empty(new):
            return parsed_old, {}
        if parsed_new is not None and is_empty(old):
            return {}, parsed_new
    return None


def json_step(key: Any, first: bool) -> str:
    """One step of a JSON path: ``Statement``, ``.Effect``, ``["aws:SourceArn"]``, ``[0]``."""
    if isinstance(key, int):
        return f"[{key}]"
    text = str(key)
    if text.isidentifier():
        return text if first else f".{text}"
    return f"[{json.dumps(text, ensure_ascii=False)}]"


def json_value(value: Any) -> str:
    """A JSON value as short one-line text (keys sorted, so ``Action`` and ``Effect`` come first)."""
    return shorten(json.dumps(value, ensure_ascii=False, sort_keys=True), MAX_JSON_VALUE_CHARS)


def json_diff(old: Any, new: Any, path: str = "") -> list[JsonChange]:
    """What changes between two JSON values, as added/removed/changed paths (objects by key, lists via
    ``list_diff``)."""
    if old == new:
        return []
    if isinstance(old, dict) and isinstance(new, dict):
        changes: list[JsonChange] = []
        for key in sorted({*old, *new}, key=str):
            step = path + json_step(key, not path)
            if key not in new:
                changes.append(JsonChange("-", step, before=json_value(old[key])))
            elif key not in old:
                changes.append(JsonChange("+", step, after=json_value(new[key])))
            else:
                changes += json_diff(old[key], new[key], step)
        return changes
    if isinstance(old, list) and isinstance(new, list):
        return list_diff(old, new, path)
    return [JsonChange("~", path or "(document)", json_value(old), json_value(new))]


def statement_ids(items: list[Any]) -> Optional[list[str]]:
    """The ``Sid`` of every item when each is an object with a distinct one (policy statements), else None."""
    sids = [item.get("Sid") for item in items if isinstance(item, dict)]
    if len(sids) != len(items) or not all(isinstance(s, str) and s for s in sids) or len(set(sids)) != len(sids):
        return None
    return sids


def list_diff(old: list[Any], new: list[Any], path: str) -> list[JsonChange]:
    """Lists: statements matched by ``Sid`` when they all have one, else position by position when the length
    is the same, else the items only on one side (an insertion does not shift every later item into a change)."""
    old_sids, new_sids = statement_ids(old), statement_ids(new)
    if old_sids is not None and new_sids is not None:
        changes: list[JsonChange] = []
        for sid in [*old_sids, *(s for s in new_sids if s not in old_sids)]:
            step = f"{path}[Sid={json.dumps(sid, ensure_ascii=False)}]"
            if sid not in new_sids:
                changes.append(JsonChange("-", step, before=json_value(old[old_sids.index(sid)])))
            elif sid not in old_sids:
                changes.append(JsonChange("+", step, after=json_value(new[new_sids.index(sid)])))
            else:
                changes += json_diff(old[old_sids.index(sid)], new[new_sids.index(sid)], step)
        return changes
    if len(old) == len(new):
        return [change for i, (a, b) in enumerate(zip(old, new)) for change in json_diff(a, b, f"{path}[{i}]")]
    removed = [JsonChange("-", f"{path}[{i}]", before=json_value(item)) for i, item in enumerate(old) if item not in new]
    added = [JsonChange("+", f"{path}[{i}]", after=json_value(item)) for i, item in enumerate(new) if item not in old]
    return removed + added


def summarise_change(item: Mapping[str, Any]) -> ResourceChange:
    """Reduce one ``resource_changes`` entry to a ``ResourceChange``."""
    change = item["change"]
    action, symbol = classify(change["actions"])
    address = item["address"] + (f" (deposed {item['deposed']})" if item.get("deposed") else "")
    if change.get("importing") is not None:
        action = "import" if action == "no-op" else f"{action} + import"
    if item.get("previous_address") and action == "no-op":
        action, symbol = f"move from {item['previous_address']}", "→"
    paths = tuple(format_path(p) for p in change.get("replace_paths") or [] if isinstance(p, list))
    attrs: list[AttributeChange] = []
    unknown_names: list[str] = []
    if action not in ("destroy", "no-op", "read") and not action.startswith(("forget", "move from")):
        forced_roots = [p.split("[", 1)[0].split(".", 1)[0] for p in paths]
        attrs, unknown_names = attribute_changes(change, forced_roots)
    limit = MAX_ATTRIBUTES
    if action == "create":
        attrs = [a for a in attrs if a.name not in CREATE_HIDDEN]
        limit = MAX_CREATE_ATTRIBUTES
    return ResourceChange(
        address=address,
        type=str(item.get("type", "")),
        action=action,
        symbol=symbol,
        replace_paths=paths,
        reason=item.get("action_reason"),
        attributes=tuple(attrs[:limit]),
        omitted_attributes=max(0, len(attrs) - limit),
        known_after_apply=tuple(unknown_names),
        previous_address=item.get("previous_address"),
        damage=find_damage(item),
    )


# ---------------------------------------------------------------------------------------------------------
# Risk
# ---------------------------------------------------------------------------------------------------------
def at_risk(stack: str, resource_type: str) -> Optional[str]:
    """What is lost if a resource of this type is destroyed, or None if the type isn't stateful."""
    if stack == BOOTSTRAP_STACK and resource_type in BOOTSTRAP_NOTES:
        return BOOTSTRAP_NOTES[resource_type]
    return STATEFUL_TYPES.get(resource_type)


#: What a stateful resource deleted outside Terraform means, where its type needs more than ``STATEFUL_TYPES``.
DELETED_OUTSIDE_NOTES: Mapping[str, str] = {
    "aws_kms_key": ("KMS key scheduled for deletion (or deleted) outside Terraform: what it encrypts becomes unreadable for good "
                    "when the waiting period ends. Cancel the deletion (aws kms cancel-key-deletion) and enable the key again "
                    "instead of applying a new one"),
}


@dataclass(frozen=True)
class DamageRow:
    """One row of the red in-place damage section: a rule a change trips, or a stateful resource deleted outside
    Terraform (``damage`` None)."""

    stack: str
    address: str
    action: str
    at_risk: str
    damage: Optional[Damage] = None


def find_damage_rows(stacks: Sequence[StackPlan]) -> list[DamageRow]:
    """Every in-place damage rule tripped, and every stateful resource deleted outside Terraform, across all stacks."""
    rows: list[DamageRow] = []
    for stack in stacks:
        for drift in stack.drift:
            risk = at_risk(stack.name, drift.type)
            if drift.deleted and risk is not None:
                note = DELETED_OUTSIDE_NOTES.get(drift.type, f"deleted outside Terraform; {risk}: restore it rather than "
                                                                "applying a new, empty one")
                rows.append(DamageRow(stack.name, drift.address, "deleted outside Terraform", note))
        for change in stack.changes:
            rows += [DamageRow(stack.name, change.address, change.action, damage.rule.at_risk, damage) for damage in change.damage]
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


@dataclass(frozen=True)
class StateWarning:
    """A stack whose plan does not start from the state the running environment lives in."""

    stack: str
    message: str


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
                warnings.append(StateWarning(stack.name, (
                    f"state location changes from {code(base)} to {code(head)}: a fresh <code>init</code> starts from "
                    "empty state there and plans to create everything again, while the running environment is "
                    "orphaned. Move the state first (<code>terraform init -migrate-state</code>) or keep the location.")))
                continue
        if stack.prior_resources == 0 and stack.count("create") > 0:
            warnings.append(StateWarning(stack.name, (
                f"the plan starts from an empty state although <code>{cell(stack.name)}</code> exists on the base "
                f"branch, and creates {stack.count('create')} resource(s): wrong bucket/key, credentials for another "
                "account, or lost state. Do not apply; find the environment's state first.")))
    return warnings


# ---------------------------------------------------------------------------------------------------------
# Markdown
# ---------------------------------------------------------------------------------------------------------
def cell(text: str) -> str:
    """Escape text for a Markdown table cell."""
    return html.escape(text, quote=False).replace("|", "&#124;").replace("\n", " ")


def code(text: str) -> str:
    """Inline code that is safe inside a table cell (backticks and pipes can't break it)."""
    return f"<code>{cell(text)}</code>"


def fenced(language: str, text: str) -> list[str]:
    """A fenced code block whose fence is longer than any backtick run in ``text`` (so it can't be closed early)."""
    longest = run = 0
    for char in text:
        run = run + 1 if char == "`" else 0
        longest = max(longest, run)
    fence = "`" * max(3, longest + 1)
    return [f"{fence}{language}", *text.splitlines(), fence]


def reason_text(change: ResourceChange) -> str:
    """Why the resource is replaced: the attributes that force it, or Terraform's reason."""
    if change.replace_paths:
        return ", ".join(code(p) for p in change.replace_paths)
    reasons = {
        "replace_because_tainted": "resource is tainted",
        "replace_by_request": "requested with <code>-replace</code>",
        "replace_by_triggers": "<code>replace_triggered_by</code>",
        "delete_because_no_resource_config": "removed from the configuration",
        "delete_because_wrong_repetition": "count/for_each changed",
        "delete_because_count_index": "count reduced",
        "delete_because_each_key": "for_each key removed",
        "delete_because_no_module": "module removed",
        "delete_because_no_move_target": "moved target missing",
    }
    if change.reason:
        return reasons.get(change.reason, cell(change.reason))
    return "removed from the configuration" if change.action == "destroy" else "—"


def render_dangers(dangers: Sequence[Danger], everything_clean: bool = False) -> list[str]:
    """The red section, or one green line when there is nothing to warn about (saying so for the in-place rules
    and provisioners too when ``everything_clean``)."""
    if not dangers:
        if everything_clean:
            return ["✅ **No destroy or replace of stateful resources, no in-place damage, no provisioner.**", ""]
        return ["✅ **No destroy or replace of stateful resources.**", ""]
    lines = [
        "## 🛑 Destructive changes to stateful resources",
        "",
        "> [!CAUTION]",
        f"> **{len(dangers)} stateful resource(s) will be DESTROYED or REPLACED. Their data can be lost for good.**",
        "> Do not apply this plan until a human has checked each row below, taken backups or snapshots where",
        f"> needed, and explicitly allowed it (`--allow-destructive` or `{OVERRIDE_ENV}=1`).",
        "",
        "| Stack | Resource | Action | What is at risk | Forced by |",
        "|---|---|---|---|---|",
    ]
    for danger in dangers:
        change, action, reason = danger.change, cell(danger.change.action), reason_text(danger.change)
        if danger.rename is not None:
            action = "rename (destroy + create)"
            reason = (f"address changed to {code(danger.rename.new_address)} (same {code(danger.rename.identifier)}): "
                      "add the <code>moved</code> block below")
        lines.append(f"| {cell(danger.stack)} | {code(change.address)} | **{action}** | {cell(danger.at_risk)} | {reason} |")
    return lines + [""]


def render_damage_change(damage: Damage) -> str:
    """The attribute with its old and new values: a policy as the paths that change inside it, an opened ingress
    list as the rule blocks it gains, anything else as ``old → new``."""
    name = damage.rule.attribute
    documents = json_documents(str(damage.rule.path[-1]), damage.before, damage.after)
    if documents is not None:
        return render_json_changes(AttributeChange(name, "", "", json_changes=tuple(json_diff(*documents))))
    if damage.before is None and isinstance(damage.after, list) and all(isinstance(item, dict) for item in damage.after):
        return "<br>".join(f"{code(name)}: + {code(shorten(to_text(item), MAX_JSON_VALUE_CHARS))}" for item in damage.after)
    if damage.before is None:
        return f"{code(name)}: {code(shorten(to_text(damage.after)))}"
    return f"{code(name)}: {code(shorten(to_text(damage.before)))} → {code(shorten(to_text(damage.after)))}"


def render_damage(rows: Sequence[DamageRow]) -> list[str]:
    """The red in-place damage section (nothing when no rule is tripped)."""
    if not rows:
        return []
    lines = [
        "## 🛑 In-place damage to data or its protection",
        "",
        "> [!CAUTION]",
        f"> **{len(rows)} change(s) lose data or weaken its protection** without destroying the resource: retention or "
        "backups cut, deletion protection lifted, encryption or a key turned off, a key or bucket policy rewritten, "
        "versioning suspended, a port opened to the internet, or a stateful resource deleted outside Terraform.",
        f"> Do not apply this plan until a human has checked each row below and explicitly allowed it "
        f"(`--allow-destructive` or `{OVERRIDE_ENV}=1`).",
        "",
        "| Stack | Resource | Action | Change | Counts as damage | What is at risk |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        if row.damage is None:
            change, counts = "<i>the object is gone; this plan creates a new, empty one</i>", "stateful resource deleted outside Terraform"
        else:
            change, counts = render_damage_change(row.damage), row.damage.rule.check.describes
        lines.append(f"| {cell(row.stack)} | {code(row.address)} | **{cell(row.action)}** | {change} | {cell(counts)} | "
                     f"{cell(row.at_risk)} |")
    return lines + [""]


def render_provisioners(stacks: Sequence[StackPlan]) -> list[str]:
    """The red provisioner section (nothing when the configuration holds none)."""
    found = [(stack.name, provisioner) for stack in stacks for provisioner in stack.provisioners]
    if not found:
        return []
    lines = [
        "## 🛑 Provisioners: commands Terraform runs",
        "",
        "> [!CAUTION]",
        f"> **{len(found)} provisioner(s) in the configuration.** A provisioner runs a command on the machine that applies, "
        "with the apply role's credentials; nothing in this project needs one (the policy gate refuses them before "
        "planning). Find out where it came from before anything is applied.",
        "",
        "| Stack | Resource | Provisioner | Runs |",
        "|---|---|---|---|",
    ]
    lines += [f"| {cell(name)} | {code(p.address)} | {code(p.type)} | {code(shorten(p.command, MAX_JSON_VALUE_CHARS))} |"
              for name, p in found]
    return lines + [""]


def render_renames(stacks: Sequence[StackPlan]) -> list[str]:
    """Every rename with its fix (HCL ``moved`` block and the cdktf call); nothing when there is none."""
    renames = [(stack.name, rename) for stack in stacks for rename in stack.renames]
    if not renames:
        return []
    data_bearing = any(at_risk(name, rename.type) for name, rename in renames)
    lines = [
        "## 🔀 Renamed resources: add a `moved` block",
        "",
        "> [!CAUTION]" if data_bearing else "> [!WARNING]",
        f"> {len(renames)} resource(s) changed their Terraform address (a construct id was renamed) but keep their "
        "identifier: as planned, each is destroyed and created again empty. A `moved` block keeps the object and "
        "its data; cdktf 0.20 writes one with `move_from_id` on the renamed resource.",
        "",
    ]
    for name, rename in renames:
        risk = at_risk(name, rename.type)
        warning = f" 🛑 {cell(risk)}" if risk else ""
        lines += [f"**{cell(name)}**: {code(rename.old_address)} → {code(rename.new_address)} "
                  f"(same {code(rename.identifier)}).{warning}", ""]
        lines += ["Terraform (HCL):", "", *fenced("hcl", rename.moved_block), ""]
        lines += [f"cdktf (Python), on the resource that now synthesizes {code(rename.new_address)}:", "",
                  *fenced("python", rename.cdktf_call), ""]
    return lines


def render_counts(stacks: Sequence[StackPlan]) -> list[str]:
    """The summary table: counts per stack."""
    lines = ["## Summary", "", "| Stack | Add | Change | Destroy | Replace |", "|---|---:|---:|---:|---:|"]
    for stack in stacks:
        replace = stack.count("replace", "replace (create before destroy)")
        lines.append(
            f"| {cell(stack.name)} | {stack.count('create')} | {stack.count('update')} | {stack.count('destroy')} | {replace} |"
        )
    return lines + [""]


def terraform_wording(stack: StackPlan) -> str:
    """Terraform's own ``Plan: X to add, Y to change, Z to destroy.`` (a replace counts as add + destroy)."""
    replace = stack.count("replace", "replace (create before destroy)")
    add = stack.count("create") + replace
    destroy = stack.count("destroy") + replace
    return f"Plan: {add} to add, {stack.count('update')} to change, {destroy} to destroy."


def render_json_changes(attr: AttributeChange) -> str:
    """A JSON attribute as the paths that change inside it, one per line (capped)."""
    changes = attr.json_changes or ()
    if not changes:
        return f"{code(attr.name)} (JSON): <i>same document, formatting only</i>"
    lines = [f"{code(attr.name)} (JSON, {len(changes)} change(s)):"]
    for item in changes[:MAX_JSON_CHANGES]:
        if item.kind == "+":
            lines.append(f"&nbsp;&nbsp;+ {code(item.path)}: {code(item.after)}")
        elif item.kind == "-":
            lines.append(f"&nbsp;&nbsp;− {code(item.path)} (was {code(item.before)})")
        else:
            lines.append(f"&nbsp;&nbsp;~ {code(item.path)}: {code(item.before)} → {code(item.after)}")
    if len(changes) > MAX_JSON_CHANGES:
        lines.append(f"&nbsp;&nbsp;<i>… and {len(changes) - MAX_JSON_CHANGES} more</i>")
    return "<br>".join(lines)


def render_attribute(attr: AttributeChange, creating: bool) -> str:
    """One attribute: ``name: after`` on a create, else ``name: before → after`` or its JSON diff."""
    flag = " 🔸 <b>forces replacement</b>" if attr.forces_replacement else ""
    if attr.json_changes is not None:
        return render_json_changes(attr) + flag
    if creating:
        return f"{code(attr.name)}: {code(attr.after)}{flag}"
    return f"{code(attr.name)}: {code(attr.before)} → {code(attr.after)}{flag}"


def render_known_after_apply(change: ResourceChange) -> str:
    """Attributes Terraform computes during apply, collapsed into one line (names listed unless it's a create)."""
    names = change.known_after_apply
    line = f"<i>+ {len(names)} attribute(s) known after apply"
    if change.action != "create":
        listed = ", ".join(code(n) for n in names[:MAX_UNKNOWN_NAMES])
        line += f": {listed}" + (", …" if len(names) > MAX_UNKNOWN_NAMES else "")
    return line + "</i>"


def render_change_cell(change: ResourceChange, rename: Optional[Rename] = None) -> str:
    """The "Changes" cell: one ``name: before → after`` line per attribute, computed values on one line."""
    notes = []
    if rename is not None and change.address == rename.old_address:
        notes.append(f"🔀 <b>renamed</b> to {code(rename.new_address)}: destroyed and created again unless moved")
    elif rename is not None:
        notes.append(f"🔀 <b>renamed</b> from {code(rename.old_address)}: add a <code>moved</code> block")
    if change.previous_address and not change.action.startswith("move from"):
        notes.append(f"<i>moved from {code(change.previous_address)}</i>")
    if change.action == "destroy":
        return "<br>".join([*notes, "<i>the whole resource is destroyed</i>"])
    creating = change.action == "create" or change.action.startswith("create")
    parts = notes + [render_attribute(attr, creating) for attr in change.attributes]
    if change.omitted_attributes:
        parts.append(f"<i>… and {change.omitted_attributes} more</i>")
    if change.known_after_apply:
        parts.append(render_known_after_apply(change))
    return "<br>".join(parts) if parts else "—"


def render_drift(stack: StackPlan) -> list[str]:
    """Resources changed outside Terraform, each with what changed (capped), or nothing."""
    if not stack.drift:
        return []
    lines = [f"ℹ️ **{stack.drifted} resource(s) changed outside Terraform** since the last apply (drift):", ""]
    for drift in stack.drift[:MAX_DRIFT_LISTED]:
        if drift.deleted:
            lines.append(f"* {code(drift.address)}: <i>deleted outside Terraform</i>")
            continue
        attrs = [render_attribute(attr, False) for attr in drift.attributes]
        if drift.omitted_attributes:
            attrs.append(f"<i>… and {drift.omitted_attributes} more</i>")
        reverted = " <i>(this plan overwrites it)</i>" if drift.reverted else ""
        lines.append(f"* {code(drift.address)}: " + "; ".join(attrs) + reverted)
    if stack.drifted > MAX_DRIFT_LISTED:
        lines.append(f"* <i>… and {stack.drifted - MAX_DRIFT_LISTED} more</i>")
    return lines + [""]


def render_stack(stack: StackPlan) -> list[str]:
    """One stack's section: header line, notes, and the table of changed resources."""
    shown = [c for c in stack.changes if c.shown]
    lines = [f"## Stack `{stack.name}`", "", f"`{stack.path}` · Terraform {stack.terraform_version} · {terraform_wording(stack)}", ""]
    if stack.errored or not stack.complete:
        lines += ["> [!WARNING]", "> Terraform reports this plan as errored or incomplete: it does not show every change.", ""]
    lines += render_drift(stack)
    if not shown:
        return lines + ["No changes. The infrastructure matches the configuration.", ""]
    opened = " open" if len(shown) <= OPEN_DETAILS_UP_TO else ""
    lines += [f"<details{opened}><summary>{len(shown)} changed resource(s)</summary>", "", "| Resource | Action | Changes |", "|---|---|---|"]
    for change in shown:
        action = f"<code>{cell(change.symbol.strip() or '·')}</code> {cell(change.action)}"
        if (change.destructive and at_risk(stack.name, change.type)) or change.damage:
            action = f"🛑 {action}"
        lines.append(f"| {code(change.address)} | {action} | {render_change_cell(change, stack.rename_of(change.address))} |")
    return lines + ["", "</details>", ""]


def render_state_warnings(warnings: Sequence[StateWarning]) -> list[str]:
    """The red state section (nothing when every plan starts from the environment's own state)."""
    if not warnings:
        return []
    lines = ["## 🛑 Plans that do not start from the environment's state", "", "> [!CAUTION]",
             "> Applying would build a second copy of the environment and orphan the running one.", ""]
    lines += [f"* **{cell(w.stack)}**: {w.message}" for w in warnings]
    return lines + [""]


def render_report(stacks: Sequence[StackPlan], allowed: bool, state_warnings: Sequence[StateWarning] = ()) -> str:
    """The whole Markdown report: red sections first, then the summary, then one section per stack."""
    lines = ["# Terraform plan risk report", ""]
    dangers, damage, provisioners = find_dangers(stacks), find_damage_rows(stacks), render_provisioners(stacks)
    lines += render_state_warnings(state_warnings)
    lines += render_dangers(dangers, everything_clean=not damage and not provisioners)
    lines += render_damage(damage)
    lines += provisioners
    if allowed and (state_warnings or dangers or damage or provisioners):
        lines += ["> [!WARNING]", "> Override in effect: destructive changes were explicitly allowed for this run.", ""]
    lines += render_renames(stacks)
    lines += render_counts(stacks)
    for stack in stacks:
        lines += render_stack(stack)
    return "\n".join(lines).rstrip() + "\n"


# ---------------------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------------------
def parse_args(argv: Optional[Sequence[str]]) -> Options:
    """Parse the command line (argparse exits 2 on usage errors)."""
    parser = argparse.ArgumentParser(prog="python -m tools.plan_report", description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("plans", nargs="+", metavar="PLAN.json", help="`terraform show -json PLANFILE` output, one file per stack")
    parser.add_argument("-o", "--output", help="write the Markdown report here (default: stdout)")
    parser.add_argument("--name", action="append", default=[], metavar="FILE=NAME", help="stack name for FILE (default: file name without .plan.json)")
    parser.add_argument("--allow-destructive", action="store_true", help=f"exit 0 even with destructive changes (or set {OVERRIDE_ENV}=1)")
    parser.add_argument("--stack-config", action="append", default=[], metavar="NAME=FILE",
                        help="the stack's synthesized cdk.tf.json on this branch (its state location)")
    parser.add_argument("--base-stack-config", action="append", default=[], metavar="NAME=FILE",
                        help="the stack's cdk.tf.json on the base branch (the stack exists there)")
    args = parser.parse_args(argv)
    configs: dict[str, dict[str, str]] = {"stack": {}, "base": {}}
    for kind, flag, items in (("stack", "--stack-config", args.stack_config), ("base", "--base-stack-config", args.base_stack_config)):
        for item in items:
            name, sep, file = item.partition("=")
            if not sep or not file or not name:
                parser.error(f"{flag} expects NAME=FILE, got {item!r}")
            configs[kind][name] = file
    names: dict[str, str] = {}
    for item in args.name:
        file, sep, name = item.partition("=")
        if not sep or not file or not name:
            parser.error(f"--name expects FILE=NAME, got {item!r}")
        names[file] = name
        names[os.path.normpath(file)] = name
    return Options(plans=args.plans, output=args.output, names=names, allow_destructive=args.allow_destructive,
                   stack_configs=configs["stack"], base_configs=configs["base"])


def override_requested(options: Options, environ: Mapping[str, str]) -> bool:
    """Whether destructive changes are explicitly allowed (flag or environment variable)."""
    return options.allow_destructive or environ.get(OVERRIDE_ENV, "").strip().lower() in TRUTHY


def load_all(options: Options) -> list[StackPlan]:
    """Load every plan, rejecting two files that would report under the same stack name."""
    stacks: list[StackPlan] = []
    seen: dict[str, str] = {}
    for path in options.plans:
        name = stack_name_for(path, options.names)
        if name in seen:
            raise PlanInputError(path, f"stack name {name!r} already used by {seen[name]} (use --name FILE=NAME)")
        seen[name] = path
        stacks.append(load_plan(path, name))
    return stacks


def main(argv: Optional[Sequence[str]] = None, environ: Optional[Mapping[str, str]] = None) -> int:
    """Run the report; returns the process exit code (see the module docstring)."""
    options = parse_args(argv)
    env = os.environ if environ is None else environ
    try:
        stacks = load_all(options)
        state_warnings = find_state_warnings(stacks, options)
    except PlanInputError as exc:
        print(f"plan_report: error: {exc}", file=sys.stderr)
        return EXIT_INVALID_INPUT
    allowed = override_requested(options, env)
    report = render_report(stacks, allowed, state_warnings)
    if options.output:
        try:
            write_atomically(options.output, report)
        except OSError as exc:
            print(f"plan_report: error: {options.output}: cannot write report ({exc.strerror or exc})", file=sys.stderr)
            return EXIT_INVALID_INPUT
    else:
        sys.stdout.write(report)
    if state_warnings and not allowed:
        print(f"plan_report: {len(state_warnings)} stack(s) not planned from their environment's state; a human must "
              f"check the state location and re-run with --allow-destructive (or {OVERRIDE_ENV}=1) to proceed",
              file=sys.stderr)
        return EXIT_DESTRUCTIVE
    red = [f"{count} {what}" for count, what in (
        (len(find_dangers(stacks)), "destructive change(s) to stateful resources"),
        (len(find_damage_rows(stacks)), "in-place damaging change(s)"),
        (sum(len(stack.provisioners) for stack in stacks), "provisioner(s)"),
    ) if count]
    if red and not allowed:
        print(f"plan_report: {', '.join(red)}; a human must review the plan and re-run with --allow-destructive "
              f"(or {OVERRIDE_ENV}=1) to proceed", file=sys.stderr)
        return EXIT_DESTRUCTIVE
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
