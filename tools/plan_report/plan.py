"""Reading plan files into the model: ``load_all`` / ``load_plan`` validate each ``terraform show -json`` file and
name its stack (``stack_name_for``); ``summarise_change`` reduces one ``resource_changes`` entry to a
``ResourceChange`` (action label, what forces a replacement, the attributes that change, the in-place damage rules
it trips); ``find_drift``, ``find_renames`` and ``find_provisioners`` read the drift, the destroy + create pairs of
one object whose address changed, and the provisioners in the configuration. Everything that knows the layout of
Terraform's plan JSON lives here, so the risk rules and the renderer only ever see the model.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from typing import Any

from tools.plan_damage import find_damage
from tools.plan_json import PlanInputError, as_dict, contains_true, is_valid_change, read_json, sub, validate_plan
from tools.plan_report.diff import attribute_changes, to_text
from tools.plan_report.model import (
    ACTION_LABELS,
    AttributeChange,
    Drift,
    Options,
    Provisioner,
    Rename,
    ResourceChange,
    StackPlan,
)

#: Attributes listed per changed or drifted resource before "… and N more".
MAX_ATTRIBUTES = 12

#: A create lists fewer attributes (everything is new; the plan artifact has the rest), without the
#: provider-computed ``tags_all`` (the provider's default tags, repeated on every resource).
MAX_CREATE_ATTRIBUTES = 8
CREATE_HIDDEN = frozenset({"tags_all"})

#: Attributes that name the real object, most specific first. A destroy and a create of the same type that agree on
#: the first of these known on both sides are one object whose address changed (a renamed construct id), not two.
#: A ``*_prefix`` only counts when the full name is not known yet (Terraform generates it on create).
RENAME_IDENTIFIERS: tuple[str, ...] = (
    "name",
    "identifier",
    "replication_group_id",
    "bucket",
    "function_name",
    "alarm_name",
    "dashboard_name",
    "cluster_identifier",
    "user_id",
    "user_group_id",
    "name_prefix",
    "identifier_prefix",
    "bucket_prefix",
)


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


def load_plan(path: str, name: str, *, refresh_only: bool = False) -> StackPlan:
    """Read, validate and summarise one plan file. A ``refresh_only`` plan (``plan -refresh-only``, the drift
    check's) lists every drifted resource: there, drift is the whole point, not context for other changes."""
    doc = read_json(path)
    validate_plan(doc, path)
    items = doc.get("resource_changes", [])
    return StackPlan(
        name=name,
        path=path,
        terraform_version=str(doc.get("terraform_version", "unknown")),
        changes=tuple(summarise_change(item) for item in items),
        drift=find_drift(
            doc.get("resource_drift"), doc.get("relevant_attributes"), planned_attribute_names(items), refresh_only
        ),
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
            runs = [
                as_dict(expressions.get(name)).get("constant_value")
                for name in PROVISIONER_COMMANDS
                if name in expressions
            ]
            command = " ".join(
                to_text(value) if not isinstance(value, str) else value for value in runs if value is not None
            )
            found.append(
                Provisioner(
                    prefix + str(resource.get("address", "")),
                    str(as_dict(provisioner).get("type", "")),
                    command or "(computed)",
                )
            )
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


def find_drift(
    drift: Any, relevant: Any, planned: Mapping[str, set[str]], everything: bool = False
) -> tuple[Drift, ...]:
    """Resources changed outside Terraform that matter to this plan, ignoring null-vs-empty noise: what other
    changes depend on (Terraform's ``relevant_attributes``, as its own "Objects have changed outside of
    Terraform" note shows), and what this plan overwrites (a hand-made change that applying undoes, which
    Terraform's note leaves out); a resource deleted outside Terraform always matters. ``everything``: every
    drifted resource (a refresh-only plan has no other changes to be relevant to)."""
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
        if address not in addresses and not everything:
            attrs = reverted
        if attrs:
            found.append(
                Drift(
                    address,
                    False,
                    tuple(attrs[:MAX_ATTRIBUTES]),
                    max(0, len(attrs) - MAX_ATTRIBUTES),
                    reverted=bool(reverted),
                )
            )
    return tuple(found)


def shared_identifier(destroyed: Mapping[str, Any], created: Mapping[str, Any]) -> str | None:
    """``name = "x"`` when a destroyed object and a created one carry the same identifier (the first of
    ``RENAME_IDENTIFIERS`` known and not sensitive on both sides), else None."""
    before, after = as_dict(destroyed.get("before")), as_dict(created.get("after"))
    for key in RENAME_IDENTIFIERS:
        hidden = (
            sub(destroyed.get("before_sensitive"), key),
            sub(created.get("after_sensitive"), key),
            sub(created.get("after_unknown"), key),
        )
        if any(contains_true(tree) for tree in hidden):
            continue
        old, new = before.get(key), after.get(key)
        if isinstance(old, str) and old and isinstance(new, str) and new:
            return f"{key} = {json.dumps(old, ensure_ascii=False)}" if old == new else None
    return None


def find_renames(items: Sequence[Mapping[str, Any]]) -> tuple[Rename, ...]:
    """Pairs of a destroy and a create of the same type and identifier: one object whose address changed."""

    def plain(item: Mapping[str, Any], actions: list[str]) -> bool:
        return (
            item["change"]["actions"] == actions
            and not item.get("deposed")
            and item.get("mode", "managed") == "managed"
        )

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
