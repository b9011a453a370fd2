"""Monitoring rules over the per-customer Redis window.

Pure functions so the threshold edges are unit-testable without servers. Each
rule is judged per transaction, over the window ending at that transaction's
event time, so the result does not depend on arrival order and a redelivered
batch yields the same alerts (``transaction_alerts`` is unique per rule + id).
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from decimal import Decimal
from itertools import accumulate
from typing import Dict, List, Mapping, Sequence

from processor.config import RuleThresholds
from processor.models import AlertRow, WindowEntry
from processor.schema import Transaction

RULE_TXNS_PER_HOUR = "max_txns_per_hour"
RULE_DAILY_TOTAL = "max_daily_total"
RULE_SINGLE_AMOUNT = "max_single_amount"
ALL_RULES = (RULE_TXNS_PER_HOUR, RULE_DAILY_TOTAL, RULE_SINGLE_AMOUNT)
HOUR_SECONDS = 3600
DAY_SECONDS = 86400


class _CustomerWindow:
    """Sorted event times plus per-currency prefix sums for O(log n) window queries."""

    def __init__(self, entries: Sequence[WindowEntry]) -> None:
        ordered = sorted(entries, key=lambda e: e.epoch)
        self.epochs = [e.epoch for e in ordered]
        per_currency: Dict[str, List[WindowEntry]] = defaultdict(list)
        for entry in ordered:
            per_currency[entry.currency].append(entry)
        self.currency_epochs = {c: [e.epoch for e in es] for c, es in per_currency.items()}
        self.currency_sums = {
            c: [Decimal(0), *accumulate(e.amount for e in es)] for c, es in per_currency.items()
        }

    def count(self, start_exclusive: float, end_inclusive: float) -> int:
        return bisect_right(self.epochs, end_inclusive) - bisect_right(self.epochs, start_exclusive)

    def total(self, currency: str, start_exclusive: float, end_inclusive: float) -> Decimal:
        epochs = self.currency_epochs.get(currency)
        if not epochs:
            return Decimal(0)
        sums = self.currency_sums[currency]
        hi = bisect_right(epochs, end_inclusive)
        lo = bisect_right(epochs, start_exclusive)
        return sums[hi] - sums[lo] if hi > lo else Decimal(0)


def evaluate(transactions: Sequence[Transaction], windows: Mapping[str, Sequence[WindowEntry]],
             thresholds: RuleThresholds) -> List[AlertRow]:
    """Alerts for every transaction that pushes a value strictly above its threshold.

    Daily totals are summed per currency (amounts in different currencies are
    not added together) and compared with the same ``max_daily_total`` number.
    """
    prepared = {customer: _CustomerWindow(entries) for customer, entries in windows.items()}
    empty = _CustomerWindow([])
    alerts: List[AlertRow] = []
    for txn in transactions:
        window = prepared.get(txn.customer_id, empty)
        at = txn.epoch_seconds
        hourly = window.count(at - HOUR_SECONDS, at)
        if hourly > thresholds.max_txns_per_hour:
            alerts.append(AlertRow(RULE_TXNS_PER_HOUR, txn.customer_id, txn.transaction_id,
                                   Decimal(hourly), Decimal(thresholds.max_txns_per_hour)))
        daily = window.total(txn.currency, at - DAY_SECONDS, at)
        if daily > thresholds.max_daily_total:
            alerts.append(AlertRow(RULE_DAILY_TOTAL, txn.customer_id, txn.transaction_id,
                                   daily, thresholds.max_daily_total))
        if txn.amount > thresholds.max_single_amount:
            alerts.append(AlertRow(RULE_SINGLE_AMOUNT, txn.customer_id, txn.transaction_id,
                                   txn.amount, thresholds.max_single_amount))
    return alerts
