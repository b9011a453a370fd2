"""The Markdown report, built from the model and the risk rules. In this order: the red "plans that do not start
from the environment's state" section; the red "Destructive changes to stateful resources" section (a destroy or
replace of a stateful type, with what forces the replacement; a destroy that is half of a rename reads "rename
(destroy + create)"); the red in-place damage and provisioner sections; the renames, each with its fix (the HCL
``moved`` block and the cdktf 0.20 ``move_from_id`` call; red when the type is data-bearing, a warning otherwise);
per stack, counts to add / change / destroy / replace (a replace counted only as a replace, Terraform's own
wording next to it); then per stack the resources changed outside Terraform and a table of the changed resources
with the top-level attributes that change (masked, computed values on one ``known after apply`` line, JSON
documents as the paths that change inside them). Only presentation lives here: what is red comes from ``risk``,
what a value looks like from ``diff``.
"""

from __future__ import annotations

from collections.abc import Sequence

from tools.plan_damage import Damage
from tools.plan_report.diff import MAX_JSON_VALUE_CHARS, json_diff, json_documents, shorten, to_text
from tools.plan_report.markdown import cell, code, fenced
from tools.plan_report.model import (
    OVERRIDE_ENV,
    AttributeChange,
    DamageRow,
    Danger,
    Rename,
    ResourceChange,
    StackPlan,
    StateWarning,
)
from tools.plan_report.risk import at_risk, find_damage_rows, find_dangers

#: How much of a long report is shown: a stack's table starts open up to this many rows; JSON paths per attribute,
#: names of computed attributes and drifted resources listed before "… and N more".
OPEN_DETAILS_UP_TO = 25
MAX_JSON_CHANGES = 8
MAX_UNKNOWN_NAMES = 10
MAX_DRIFT_LISTED = 25


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
            reason = (
                f"address changed to {code(danger.rename.new_address)} (same {code(danger.rename.identifier)}): "
                "add the <code>moved</code> block below"
            )
        lines.append(
            f"| {cell(danger.stack)} | {code(change.address)} | **{action}** | {cell(danger.at_risk)} | {reason} |"
        )
    return lines + [""]


def render_damage_change(damage: Damage) -> str:
    """The attribute with its old and new values: a policy as the paths that change inside it, an opened ingress
    list as the rule blocks it gains, anything else as ``old → new``."""
    name = damage.rule.attribute
    documents = json_documents(str(damage.rule.path[-1]), damage.before, damage.after)
    if documents is not None:
        return render_json_changes(AttributeChange(name, "", "", json_changes=tuple(json_diff(*documents))))
    if (
        damage.before is None
        and isinstance(damage.after, list)
        and all(isinstance(item, dict) for item in damage.after)
    ):
        return "<br>".join(
            f"{code(name)}: + {code(shorten(to_text(item), MAX_JSON_VALUE_CHARS))}" for item in damage.after
        )
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
            change, counts = (
                "<i>the object is gone; this plan creates a new, empty one</i>",
                "stateful resource deleted outside Terraform",
            )
        else:
            change, counts = render_damage_change(row.damage), row.damage.rule.check.describes
        lines.append(
            f"| {cell(row.stack)} | {code(row.address)} | **{cell(row.action)}** | {change} | {cell(counts)} | "
            f"{cell(row.at_risk)} |"
        )
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
    lines += [
        f"| {cell(name)} | {code(p.address)} | {code(p.type)} | {code(shorten(p.command, MAX_JSON_VALUE_CHARS))} |"
        for name, p in found
    ]
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
        lines += [
            f"**{cell(name)}**: {code(rename.old_address)} → {code(rename.new_address)} "
            f"(same {code(rename.identifier)}).{warning}",
            "",
        ]
        lines += ["Terraform (HCL):", "", *fenced("hcl", rename.moved_block), ""]
        lines += [
            f"cdktf (Python), on the resource that now synthesizes {code(rename.new_address)}:",
            "",
            *fenced("python", rename.cdktf_call),
            "",
        ]
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


def render_change_cell(change: ResourceChange, rename: Rename | None = None) -> str:
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
    lines = [
        f"## Stack `{stack.name}`",
        "",
        f"`{stack.path}` · Terraform {stack.terraform_version} · {terraform_wording(stack)}",
        "",
    ]
    if stack.errored or not stack.complete:
        lines += [
            "> [!WARNING]",
            "> Terraform reports this plan as errored or incomplete: it does not show every change.",
            "",
        ]
    lines += render_drift(stack)
    if not shown:
        return lines + ["No changes. The infrastructure matches the configuration.", ""]
    opened = " open" if len(shown) <= OPEN_DETAILS_UP_TO else ""
    lines += [
        f"<details{opened}><summary>{len(shown)} changed resource(s)</summary>",
        "",
        "| Resource | Action | Changes |",
        "|---|---|---|",
    ]
    for change in shown:
        action = f"<code>{cell(change.symbol.strip() or '·')}</code> {cell(change.action)}"
        if (change.destructive and at_risk(stack.name, change.type)) or change.damage:
            action = f"🛑 {action}"
        lines.append(
            f"| {code(change.address)} | {action} | {render_change_cell(change, stack.rename_of(change.address))} |"
        )
    return lines + ["", "</details>", ""]


def render_state_warnings(warnings: Sequence[StateWarning]) -> list[str]:
    """The red state section (nothing when every plan starts from the environment's own state)."""
    if not warnings:
        return []
    lines = [
        "## 🛑 Plans that do not start from the environment's state",
        "",
        "> [!CAUTION]",
        "> Applying would build a second copy of the environment and orphan the running one.",
        "",
    ]
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
