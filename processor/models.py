"""Plain records shared between the rules and the stores (no driver imports)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal


@dataclass(frozen=True)
class WindowTotal:
    """A customer's running count and total in one rule window, as PostgreSQL holds it now."""

    customer_id: str
    kind: str  # "hour" (all currencies) or "day" (one currency)
    window_start: datetime
    currency: str  # "" for the hourly window
    txn_count: int
    total: Decimal


@dataclass(frozen=True)
class AlertRow:
    """A rule hit, stored once per customer, rule and window in ``rule_alerts``."""

    rule: str
    customer_id: str
    window_key: str
    window_start: datetime
    window_end: datetime
    currency: str
    transaction_id: str | None  # the transaction itself, for the single-amount rule
    observed_value: Decimal
    threshold: Decimal
