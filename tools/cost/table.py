"""The price table and usage figures: loaded once, checked, and looked up with one clear error per miss."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PRICES = HERE / "prices.toml"
USAGE = HERE / "usage.toml"
REQUIRED_HEADER = ("source", "retrieved", "currency", "region", "hours_per_month")


class CostError(ValueError):
    """Input the estimate cannot price: names the field and the value."""

    def __init__(self, field: str, value: Any, expectation: str) -> None:
        super().__init__(f"{field} must be {expectation}, got {value!r}")


@dataclass(frozen=True)
class PriceTable:
    """Unit prices by section and SKU, with where and when they were read."""

    data: dict[str, Any]

    @property
    def hours(self) -> float:
        return float(self.data["hours_per_month"])

    def price(self, section: str, sku: str) -> float:
        table = self.data.get(section)
        if not isinstance(table, dict) or not isinstance(table.get(sku), (int, float)):
            raise CostError(
                f"{section}.{sku}", table.get(sku) if isinstance(table, dict) else None, f"a price in {PRICES.name}"
            )
        return float(table[sku])

    @property
    def header(self) -> str:
        return (
            f"{self.data['region']}, {self.data['currency']}, on-demand list prices retrieved {self.data['retrieved']}"
        )


def _read(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise CostError(str(path), None, f"a readable TOML file ({error})") from error


def load_prices(path: Path = PRICES) -> PriceTable:
    data = _read(path)
    for key in REQUIRED_HEADER:
        if key not in data:
            raise CostError(f"{path.name}: {key}", None, "set (the table names its source, date, currency and region)")
    return PriceTable(data)


def load_usage(path: Path = USAGE) -> dict[str, float]:
    data = _read(path)
    for key, value in data.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise CostError(f"{path.name}: {key}", value, "a number >= 0")
    return {key: float(value) for key, value in data.items()}
