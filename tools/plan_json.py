"""Reading ``terraform show -json`` of a saved plan: the helpers the plan tools share.

``tools.plan_report`` (the risk report), ``tools.plan_damage`` (its in-place damage rules) and
``tools.change_set`` (the approved preview's change set) read the same JSON the same way: one error naming the
file for anything that is not a plan, and the ``*_sensitive`` / ``after_unknown`` trees applied the same way.
Standard library only (CI runs these tools without installing anything).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

SENSITIVE = "(sensitive value)"
UNKNOWN = "(known after apply)"


class PlanInputError(Exception):
    """An input file that can't be read or isn't the JSON of a saved Terraform plan."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path


def read_json(path: str) -> Any:
    """Parse a JSON file, turning every failure into one ``PlanInputError``."""
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except OSError as exc:
        raise PlanInputError(path, f"cannot read file ({exc.strerror or exc})") from exc
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise PlanInputError(
            path, "not UTF-8 text (pass `terraform show -json PLANFILE`, not the binary plan)"
        ) from exc
    except json.JSONDecodeError as exc:
        raise PlanInputError(path, f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from exc


def validate_plan(doc: Any, path: str) -> None:
    """Reject anything that isn't ``terraform show -json`` of a saved plan (format 1.x)."""
    if not isinstance(doc, dict):
        raise PlanInputError(path, "not a Terraform plan: the JSON is not an object")
    version = doc.get("format_version")
    if not isinstance(version, str) or not version.startswith("1."):
        raise PlanInputError(path, f"not a Terraform plan: format_version {version!r} is not 1.x")
    if "planned_values" not in doc and "resource_changes" not in doc:
        raise PlanInputError(path, "not a Terraform plan: no planned_values/resource_changes (is this a state file?)")
    changes = doc.get("resource_changes", [])
    if not isinstance(changes, list):
        raise PlanInputError(path, "resource_changes is not a list")
    for index, item in enumerate(changes):
        if not is_valid_change(item):
            raise PlanInputError(path, f"resource_changes[{index}] has no address or change.actions")


def is_valid_change(item: Any) -> bool:
    """Whether a ``resource_changes`` entry has the fields this report relies on."""
    if not isinstance(item, dict) or not isinstance(item.get("address"), str):
        return False
    change = item.get("change")
    actions = change.get("actions") if isinstance(change, dict) else None
    return isinstance(actions, list) and bool(actions) and all(isinstance(a, str) for a in actions)


class Marker(str):
    """A placeholder rendered bare (not JSON-quoted): ``(sensitive value)``, ``(known after apply)``."""


def as_dict(value: Any) -> dict[str, Any]:
    """``value`` if it is a JSON object, else an empty dict (for null ``before``/``after``)."""
    return value if isinstance(value, dict) else {}


def sub(tree: Any, key: str) -> Any:
    """``tree[key]`` for a mask tree that may be a bare bool (which then applies to every key)."""
    if isinstance(tree, dict):
        return tree.get(key, False)
    return tree is True


def contains_true(tree: Any) -> bool:
    """Whether a ``*_sensitive`` / ``after_unknown`` tree marks anything at all."""
    if tree is True:
        return True
    if isinstance(tree, dict):
        return any(contains_true(v) for v in tree.values())
    if isinstance(tree, list):
        return any(contains_true(v) for v in tree)
    return False


def is_empty(value: Any) -> bool:
    """null, ``""``, ``[]`` and ``{}`` all mean "nothing set" for a diff (providers swap them freely)."""
    return value is None or value == "" or value == [] or value == {}


def apply_mask(value: Any, mask: Any) -> Any:
    """Replace the parts of ``value`` that ``mask`` (a ``*_sensitive`` tree) marks ``true``."""
    if mask is True:
        return Marker(SENSITIVE)
    if isinstance(value, dict) and isinstance(mask, dict):
        return {key: apply_mask(item, mask.get(key, False)) for key, item in value.items()}
    if isinstance(value, list) and isinstance(mask, list):
        return [apply_mask(item, mask[i] if i < len(mask) else False) for i, item in enumerate(value)]
    return value


def apply_unknown(value: Any, unknown: Any) -> Any:
    """Replace the parts of ``value`` that ``after_unknown`` marks ``true`` with ``(known after apply)``."""
    if unknown is True:
        return Marker(UNKNOWN)
    if isinstance(unknown, dict) and (isinstance(value, dict) or value is None):
        mapping = as_dict(value)
        return {key: apply_unknown(mapping.get(key), unknown.get(key, False)) for key in sorted({*mapping, *unknown})}
    if isinstance(unknown, list) and (isinstance(value, list) or value is None):
        items = list(value or [])
        size = max(len(items), len(unknown))
        return [
            apply_unknown(items[i] if i < len(items) else None, unknown[i] if i < len(unknown) else False)
            for i in range(size)
        ]
    return value


def write_atomically(path: str, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file + rename, so a failure leaves nothing half-written.

    A path that exists and is not a regular file (``/dev/null``, ``/dev/stdout``, a pipe) is written to as it
    is: renaming over it would replace the device with a file (for every other process, too)."""
    target = Path(path)
    if target.exists() and not target.is_file():
        with open(target, "w", encoding="utf-8") as handle:
            handle.write(text)
        return
    directory = target.parent if str(target.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
