"""Markdown tables: one environment's bill (make cost, docs/cost.md) and base -> head per environment (PR report)."""

from __future__ import annotations

from tools.cost.estimate import Change, total
from tools.cost.rules import LineItem


def money(value: float) -> str:
    return f"${value:,.2f}"


def bill(environment: str, items: list[LineItem]) -> str:
    lines = [
        f"### {environment}: {money(total(items))} a month",
        "",
        "| Line item | What | Monthly |",
        "| --- | --- | ---: |",
    ]
    lines += [f"| {i.key} | {i.detail} | {money(i.monthly)} |" for i in items]
    lines.append(f"| **Total** | | **{money(total(items))}** |")
    return "\n".join(lines) + "\n"


def _side(item: LineItem | None) -> str:
    return f"{money(item.monthly)} ({item.detail})" if item else "-"


def comparison(environment: str, base: list[LineItem] | None, head: list[LineItem], changed: list[Change]) -> str:
    if base is None:
        return f"### {environment}: new, {money(total(head))} a month\n"
    before, after = total(base), total(head)
    lines = [f"### {environment}: {money(before)} -> {money(after)} a month ({after - before:+,.2f})", ""]
    if not changed:
        return "\n".join(lines) + "No line item changed.\n"
    lines += ["| Line item | Base | Head | Change |", "| --- | --- | --- | ---: |"]
    lines += [f"| {c.key} | {_side(c.base)} | {_side(c.head)} | {c.delta:+,.2f} |" for c in changed]
    return "\n".join(lines) + "\n"
