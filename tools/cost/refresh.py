"""`python -m tools.cost.refresh OFFER.json...`: refresh prices.toml's instance and node prices from AWS's bulk price list.

Offline: download the offer files yourself (docs/cost.md, "Refreshing the prices"; AmazonRDS and AmazonElastiCache
for ap-northeast-1), then run this. It rewrites the hourly price of every instance class and node type the table
lists, and the `retrieved` date; it prints what it changed and which listed SKUs the files did not have. The other
sections (storage, Kinesis, VPC, ...) are few and stable: check them by hand against the same files.
"""

from __future__ import annotations

import argparse
import datetime
import json
import re
import sys
from pathlib import Path
from typing import Any

from tools.cost.table import PRICES, CostError, load_prices

#: Offer code -> (price table section, attribute filter a product must match besides the region).
OFFERS: dict[str, tuple[str, dict[str, str]]] = {
    "AmazonRDS": ("rds_instance_hour", {"databaseEngine": "PostgreSQL", "deploymentOption": "Single-AZ"}),
    "AmazonElastiCache": ("elasticache_node_hour", {"cacheEngine": "Redis"}),
}


def hourly_prices(offer: dict[str, Any], region: str) -> tuple[str, dict[str, float]]:
    """(section, {instance type: USD per hour}) from one bulk offer file's products and on-demand terms."""
    code = offer.get("offerCode")
    if code not in OFFERS:
        raise CostError("offerCode", code, f"one of {', '.join(OFFERS)}")
    section, wanted = OFFERS[code]
    prices: dict[str, float] = {}
    on_demand = offer.get("terms", {}).get("OnDemand", {})
    for sku, product in offer.get("products", {}).items():
        attributes = product.get("attributes", {})
        if attributes.get("regionCode") != region or any(attributes.get(k) != v for k, v in wanted.items()):
            continue
        for term in on_demand.get(sku, {}).values():
            for dimension in term.get("priceDimensions", {}).values():
                if dimension.get("unit") in ("Hrs", "Hours"):
                    prices[attributes["instanceType"]] = float(dimension["pricePerUnit"]["USD"])
    return section, prices


def rewrite(text: str, section: str, prices: dict[str, float]) -> tuple[str, list[str]]:
    """The table's text with the listed SKUs of `section` repriced; comments and layout kept."""
    changed, current = [], None
    lines = text.splitlines(keepends=True)
    for index, line in enumerate(lines):
        header = re.match(r"\[(\w+)\]", line)
        if header:
            current = header.group(1)
        entry = re.match(r'"([^"]+)" = ([0-9.]+)', line)
        if current == section and entry and entry.group(1) in prices:
            new = prices[entry.group(1)]
            if float(entry.group(2)) != new:
                changed.append(f"{section}.{entry.group(1)}: {entry.group(2)} -> {new:g}")
            lines[index] = f'"{entry.group(1)}" = {new:g}\n'
    return "".join(lines), changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.cost.refresh", description=__doc__)
    parser.add_argument("offers", nargs="+", type=Path, help="AWS Price List bulk offer files (JSON)")
    parser.add_argument("--prices", type=Path, default=PRICES)
    parser.add_argument("--date", default=datetime.date.today().isoformat(), help="the retrieval date to record")
    args = parser.parse_args(argv)
    try:
        table = load_prices(args.prices)
        text = args.prices.read_text(encoding="utf-8")
        for path in args.offers:
            try:
                offer = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as error:
                raise CostError("offer file", str(path), f"an AWS Price List JSON file ({error})") from error
            section, prices = hourly_prices(offer, str(table.data["region"]))
            text, changed = rewrite(text, section, prices)
            print("\n".join(changed) or f"{path.name}: no price changed")
            missing = sorted(set(table.data.get(section, {})) - set(prices))
            if missing:
                print(f"{path.name}: not in the file, left as they were: {', '.join(missing)}")
        text = re.sub(r'(?m)^retrieved = "[^"]*"', f'retrieved = "{args.date}"', text)
        args.prices.write_text(text, encoding="utf-8")
    except CostError as error:
        print(f"cost refresh: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
