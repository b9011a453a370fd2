"""An independent statement of the monitoring rules, computed over a whole set of transactions.

Written from the rule definitions in docs/processor.md ("Monitoring rules"), without importing
processor.rules, so the property tests compare two implementations, not one with itself.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal

AlertKey = tuple[str, str, str]  # (rule, customer_id, window_key)


def reference_alerts(
    transactions: Iterable[Mapping], max_txns_per_hour: int, max_daily_total: Decimal, max_single_amount: Decimal
) -> dict[AlertKey, Decimal]:
    """{(rule, customer, window): final observed value} for every window strictly above its limit."""
    hourly: dict[tuple[str, str], int] = defaultdict(int)
    daily: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    alerts: dict[AlertKey, Decimal] = {}
    for doc in transactions:
        utc = datetime.fromisoformat(doc["occurred_at"]).astimezone(UTC)
        tokyo_date = (utc + timedelta(hours=9)).date().isoformat()
        amount = Decimal(str(doc["amount"]))
        hourly[(doc["customer_id"], utc.strftime("%Y-%m-%dT%H:00Z"))] += 1
        daily[(doc["customer_id"], f"{tokyo_date}/{doc['currency']}")] += amount
        if amount > max_single_amount:
            alerts[("max_single_amount", doc["customer_id"], doc["transaction_id"])] = amount
    for (customer, key), count in hourly.items():
        if count > max_txns_per_hour:
            alerts[("max_txns_per_hour", customer, key)] = Decimal(count)
    for (customer, key), total in daily.items():
        if total > max_daily_total:
            alerts[("max_daily_total", customer, key)] = total
    return alerts


def stored_alerts(conn) -> dict[AlertKey, Decimal]:
    """The same shape, read from rule_alerts."""
    return {
        (rule, customer, key): Decimal(value)
        for rule, customer, key, value in conn.run(
            "SELECT rule, customer_id, window_key, observed_value FROM rule_alerts"
        )
    }
