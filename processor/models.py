"""Plain records shared between the rules and the stores (no driver imports)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class WindowEntry:
    """One transaction in a customer's Redis history window."""

    transaction_id: str
    currency: str
    amount: Decimal
    epoch: float


@dataclass(frozen=True)
class AlertRow:
    """A rule hit, stored in ``transaction_alerts``."""

    rule: str
    customer_id: str
    transaction_id: str
    observed_value: Decimal
    threshold: Decimal
