"""A stack's line items and total, and the base -> head difference per environment."""

from __future__ import annotations

import json
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tools.cost.rules import RULES, Context, LineItem, check_known
from tools.cost.table import CostError, PriceTable

DEFAULT_CONFIG = Path("config") / "environments.toml"


@dataclass(frozen=True)
class Load:
    records_per_second: float
    record_bytes: float


def config_path(explicit: str | None = None) -> Path:
    """--config, else JAPANCART_CONFIG (as stacks/config.py reads it), else the shipped file."""
    return Path(explicit or os.environ.get("JAPANCART_CONFIG") or DEFAULT_CONFIG)


def loads_from_config(path: Path, usage: dict[str, float]) -> dict[str, Load]:
    """Each environment's average load and record size: the figures the bill scales with."""
    try:
        with path.open("rb") as handle:
            environments = tomllib.load(handle).get("environments", {})
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise CostError("configuration", str(path), f"a readable TOML file ({error})") from error
    loads = {}
    for name, table in environments.items():
        rate = table.get("load", {}).get("average_records_per_second", usage["default_average_records_per_second"])
        size = table.get("stream", {}).get("average_record_bytes", usage["default_average_record_bytes"])
        for field, value in (("load.average_records_per_second", rate), ("stream.average_record_bytes", size)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise CostError(f"environments.{name}.{field}", value, "a number >= 0")
        loads[name] = Load(float(rate), float(size))
    return loads


def read_stack(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise CostError("stack", str(path), f"a synthesized cdk.tf.json ({error})") from error
    if not isinstance(document, dict):
        raise CostError("stack", str(path), "a JSON object")
    return document


def estimate(document: dict[str, Any], prices: PriceTable, usage: dict[str, float], load: Load) -> list[LineItem]:
    """Every line item of one stack; refuses a resource type with no rule and no free entry."""
    types = sorted(document.get("resource", {}))
    for resource_type in types:
        check_known(resource_type)
    ctx = Context(prices, usage, load.records_per_second, load.record_bytes, document)
    return [item for t in types if t in RULES for item in RULES[t](ctx, ctx.resources(t))]


def total(items: list[LineItem]) -> float:
    return sum(item.monthly for item in items)


@dataclass(frozen=True)
class Change:
    key: str
    base: LineItem | None
    head: LineItem | None

    @property
    def delta(self) -> float:
        return (self.head.monthly if self.head else 0.0) - (self.base.monthly if self.base else 0.0)


def changes(base: list[LineItem], head: list[LineItem], threshold: float = 0.005) -> list[Change]:
    """Line items added, removed, or whose cost or description moved."""
    before, after = {i.key: i for i in base}, {i.key: i for i in head}
    out = []
    for key in sorted(before.keys() | after.keys()):
        b, h = before.get(key), after.get(key)
        if b is None or h is None or abs(b.monthly - h.monthly) >= threshold or b.detail != h.detail:
            out.append(Change(key, b, h))
    return out
