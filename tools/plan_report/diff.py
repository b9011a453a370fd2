"""How one attribute's change is shown: the top-level attributes of a ``change`` that differ, masked
(``before_sensitive`` / ``after_sensitive``), computed values set aside, null-versus-empty noise dropped, values
rendered as short one-line text (``to_text``, ``shorten`` in the middle), and JSON documents (policies, and any
attribute whose two values are JSON objects) diffed into the paths that change inside them (``json_diff``, lists
by ``Sid`` or position in ``list_diff``). Kept apart from reading the plan (``plan``) and from Markdown
(``render``): it is the one place that decides what a value looks like in the report, for planned changes, drift
and the in-place damage rows alike.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from tools.plan_json import Marker, apply_mask, apply_unknown, as_dict, contains_true, is_empty, sub
from tools.plan_report.model import AttributeChange, JsonChange

#: A value longer than this is cut in the middle (``shorten``).
MAX_VALUE_CHARS = 60
#: A whole added/removed policy statement is worth more room than an attribute value.
MAX_JSON_VALUE_CHARS = 120

#: Attributes that say which object this is; listed first (after those forcing a replacement).
IDENTITY_ATTRIBUTES = frozenset(
    {"name", "identifier", "bucket", "alarm_name", "function_name", "replication_group_id", "cidr_block", "description"}
)

#: Attributes that hold a JSON policy document (besides any ``*_policy``); any attribute whose old and new values
#: both parse as JSON objects is diffed the same way.
POLICY_ATTRIBUTES = frozenset({"policy", "assume_role_policy"})


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


def parse_json_object(value: Any) -> dict[str, Any] | None:
    """``value`` parsed, when it is a (non-masked) string holding a JSON object; else None."""
    if not isinstance(value, str) or isinstance(value, Marker):
        return None
    try:
        parsed = json.loads(value)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


def json_documents(name: str, old: Any, new: Any) -> tuple[dict[str, Any], dict[str, Any]] | None:
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


def statement_ids(items: list[Any]) -> list[str] | None:
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
        return [
            change for i, (a, b) in enumerate(zip(old, new, strict=True)) for change in json_diff(a, b, f"{path}[{i}]")
        ]
    removed = [
        JsonChange("-", f"{path}[{i}]", before=json_value(item)) for i, item in enumerate(old) if item not in new
    ]
    added = [JsonChange("+", f"{path}[{i}]", after=json_value(item)) for i, item in enumerate(new) if item not in old]
    return removed + added
