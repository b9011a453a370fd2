"""The change set of a saved plan: what the deploy's reviewers approved, checked again before anything is applied.

Usage (``deploy-environment.yml``: the preview job writes it, the apply job checks its own plan against it)::

    terraform show -json tfplan > dev.plan.json
    python tools/change_set.py write dev.plan.json --output dev.change-set.json
    python tools/change_set.py check --approved dev.change-set.json dev.plan.json

A change set lists every resource (and output) the plan changes: its address, its actions and a SHA-256 digest of
what the plan does to it. The digest covers the attributes that change (the old and new value of each) and, for an
attribute Terraform only knows after apply, one marker instead of the value: two plans of the same configuration
and state agree there even though neither knows the value yet, and a computed attribute that no plan touches (a
database's latest restorable time) never makes them differ. A destroy is its address and actions. Sensitive
values are replaced by a marker before hashing (an attribute whose sensitive value changes still counts as a
change), so nothing in the file is derived from a secret; the file holds no value at all, only addresses, actions
and digests. A drift between the two plans that changes what the plan does, or a different configuration, changes
the change set.

``check`` exits 0 when the plan's change set equals the approved one, else 1 with one line per difference on stdout::

    aws_sqs_queue.dlq: what the plan does differs from the approved preview (update)
    aws_kms_key.k: actions update (approved) -> delete, create (now)
    aws_s3_bucket.b: not in the approved preview (now: create)
    aws_db_instance.db: in the approved preview (update), not planned now

Exit 2: an input is unreadable or not what it should be (one error line naming the file). Standard library only.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Mapping, Sequence
from typing import Any

if __package__:  # python -m tools.change_set, and imports (tests)
    from tools.plan_json import (
        SENSITIVE,
        UNKNOWN,
        PlanInputError,
        as_dict,
        contains_true,
        read_json,
        sub,
        validate_plan,
        write_atomically,
    )
else:  # python tools/change_set.py (the deploy jobs run it as a script): this directory is on sys.path
    from plan_json import (  # type: ignore[no-redef]
        SENSITIVE,
        UNKNOWN,
        PlanInputError,
        as_dict,
        contains_true,
        read_json,
        sub,
        validate_plan,
        write_atomically,
    )

EXIT_SAME = 0
EXIT_DIFFERENT = 1
EXIT_INVALID_INPUT = 2

FORMAT = "japancart-change-set/1"
#: Actions that change nothing (a no-op still counts when it moves the resource to another address).
UNCHANGED = (["no-op"],)
DIGEST_PREFIX = "sha256:"


def collapse(value: Any, unknown: Any, sensitive: Any) -> Any:
    """``value`` with every part Terraform knows only after apply, and every sensitive part, replaced by a marker."""
    if unknown is True:
        return UNKNOWN
    if sensitive is True:
        return SENSITIVE
    if isinstance(value, dict) or isinstance(unknown, dict) or isinstance(sensitive, dict):
        mapping = as_dict(value)
        keys = {*mapping, *as_dict(unknown)}
        return {key: collapse(mapping.get(key), sub(unknown, key), sub(sensitive, key)) for key in sorted(keys)}
    if isinstance(value, list) or isinstance(unknown, list) or isinstance(sensitive, list):
        items = value if isinstance(value, list) else []
        unknowns = unknown if isinstance(unknown, list) else []
        masks = sensitive if isinstance(sensitive, list) else []
        size = max(len(items), len(unknowns))
        return [
            collapse(
                items[i] if i < len(items) else None,
                unknowns[i] if i < len(unknowns) else False,
                masks[i] if i < len(masks) else False,
            )
            for i in range(size)
        ]
    return value


def what_changes(change: Mapping[str, Any]) -> dict[str, Any]:
    """Per top-level attribute the plan changes: ``{"after": ...}`` when (partly) known only after apply, else
    ``{"before": ..., "after": ...}``; markers instead of unknown and sensitive values. Nothing for a destroy."""
    if change["actions"] == ["delete"]:
        return {}
    before, after = as_dict(change.get("before")), as_dict(change.get("after"))
    unknown = change.get("after_unknown") or {}
    changed: dict[str, Any] = {}
    for key in sorted({*before, *after, *as_dict(unknown)}):
        new = collapse(after.get(key), sub(unknown, key), sub(change.get("after_sensitive"), key))
        if contains_true(sub(unknown, key)):
            changed[key] = {"after": new}
        elif before.get(key) != after.get(key) or change.get("before") is None:
            changed[key] = {
                "before": collapse(before.get(key), False, sub(change.get("before_sensitive"), key)),
                "after": new,
            }
    return changed


def digest(document: Any) -> str:
    """SHA-256 of the canonical JSON of ``document`` (keys sorted, no spacing)."""
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return DIGEST_PREFIX + hashlib.sha256(text.encode("utf-8")).hexdigest()


def entry(change: Mapping[str, Any], **identity: Any) -> dict[str, Any]:
    """One change set entry: the actions, and the digest of everything that says what the plan does."""
    actions = list(change["actions"])
    return {"actions": actions, "digest": digest({"actions": actions, "changes": what_changes(change), **identity})}


def change_set(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The change set of a validated plan document."""
    changes: dict[str, Any] = {}
    for item in doc.get("resource_changes", []):
        change = item["change"]
        moved = item.get("previous_address")
        if change["actions"] in UNCHANGED and not moved:
            continue
        address = item["address"] + (f" (deposed {item['deposed']})" if item.get("deposed") else "")
        changes[address] = entry(change, previous_address=moved, importing=change.get("importing"))
    for name, change in sorted(as_dict(doc.get("output_changes")).items()):
        if isinstance(change, dict) and isinstance(change.get("actions"), list) and change["actions"] not in UNCHANGED:
            changes[f"output.{name}"] = entry(change)
    return {
        "format": FORMAT,
        "terraform_version": str(doc.get("terraform_version", "unknown")),
        "changes": dict(sorted(changes.items())),
    }


def load_plan_change_set(path: str) -> dict[str, Any]:
    """Read a plan JSON file and reduce it to its change set."""
    doc = read_json(path)
    validate_plan(doc, path)
    return change_set(doc)


def load_change_set(path: str) -> dict[str, Any]:
    """Read a change set file, checking its shape (a wrong file must not compare as "everything differs")."""
    doc = read_json(path)
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise PlanInputError(path, f"not a change set: format {as_dict(doc).get('format')!r} is not {FORMAT!r}")
    changes = doc.get("changes")
    if not isinstance(changes, dict):
        raise PlanInputError(path, f"not a change set: changes must be an object, got {changes!r}")
    for address, item in changes.items():
        actions, hashed = as_dict(item).get("actions"), as_dict(item).get("digest")
        if not (
            isinstance(actions, list)
            and actions
            and all(isinstance(a, str) for a in actions)
            and isinstance(hashed, str)
            and hashed.startswith(DIGEST_PREFIX)
        ):
            raise PlanInputError(
                path, f"changes[{address!r}] must hold actions and a {DIGEST_PREFIX} digest, got {item!r}"
            )
    return doc


def actions_text(actions: Sequence[str]) -> str:
    return ", ".join(actions)


def differences(approved: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """One line per address whose change differs between the approved change set and the current one."""
    old, new = approved["changes"], current["changes"]
    lines: list[str] = []
    for address in sorted({*old, *new}):
        if address not in new:
            lines.append(
                f"{address}: in the approved preview ({actions_text(old[address]['actions'])}), not planned now"
            )
        elif address not in old:
            lines.append(f"{address}: not in the approved preview (now: {actions_text(new[address]['actions'])})")
        elif old[address]["actions"] != new[address]["actions"]:
            lines.append(
                f"{address}: actions {actions_text(old[address]['actions'])} (approved) -> "
                f"{actions_text(new[address]['actions'])} (now)"
            )
        elif old[address]["digest"] != new[address]["digest"]:
            lines.append(
                f"{address}: what the plan does differs from the approved preview ({actions_text(new[address]['actions'])})"
            )
    return lines


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python tools/change_set.py", description=__doc__.split("\n\n", 1)[0])
    commands = parser.add_subparsers(dest="command", required=True)
    write = commands.add_parser("write", help="write the change set of a plan")
    write.add_argument("plan", metavar="PLAN.json", help="`terraform show -json PLANFILE` output")
    write.add_argument("-o", "--output", required=True, help="where to write the change set (JSON)")
    check = commands.add_parser("check", help="compare a plan with an approved change set")
    check.add_argument("--approved", required=True, help="the change set the reviewers approved")
    check.add_argument(
        "plan", metavar="PLAN.json", help="`terraform show -json PLANFILE` output of the plan about to be applied"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit code (see the module docstring)."""
    args = parse_args(argv)
    try:
        if args.command == "write":
            current = load_plan_change_set(args.plan)
            try:
                write_atomically(args.output, json.dumps(current, indent=2, sort_keys=True) + "\n")
            except OSError as exc:
                raise PlanInputError(args.output, f"cannot write the change set ({exc.strerror or exc})") from exc
            print(f"change_set: {len(current['changes'])} change(s) of {args.plan} written to {args.output}")
            return EXIT_SAME
        approved, current = load_change_set(args.approved), load_plan_change_set(args.plan)
    except PlanInputError as exc:
        print(f"change_set: error: {exc}", file=sys.stderr)
        return EXIT_INVALID_INPUT
    found = differences(approved, current)
    for line in found:
        print(line)
    if found:
        print(f"change_set: {len(found)} difference(s) from the approved preview: nothing was applied", file=sys.stderr)
        return EXIT_DIFFERENT
    print(f"change_set: the plan matches the approved preview ({len(current['changes'])} change(s))")
    return EXIT_SAME


if __name__ == "__main__":
    sys.exit(main())
