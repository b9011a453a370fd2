"""Rule evaluation at the threshold edges: exactly N does not fire, N+1 does."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import List

from processor.config import RuleThresholds
from processor.models import WindowEntry
from processor.rules import (RULE_DAILY_TOTAL, RULE_SINGLE_AMOUNT, RULE_TXNS_PER_HOUR, evaluate)
from processor.schema import Transaction

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)
LIMITS = RuleThresholds(max_txns_per_hour=3, max_daily_total=Decimal(10000), max_single_amount=Decimal(5000))


def txn(i: int, amount: str = "100", seconds_after: float = 0, customer: str = "c1",
        currency: str = "JPY") -> Transaction:
    return Transaction(f"t{i}", customer, "m1", Decimal(amount), currency,
                       T0 + timedelta(seconds=seconds_after), "card")


def window(txns: List[Transaction]) -> dict:
    out: dict = {}
    for t in txns:
        out.setdefault(t.customer_id, []).append(
            WindowEntry(t.transaction_id, t.currency, t.amount, t.epoch_seconds))
    return out


def hits(txns: List[Transaction], rule: str, limits: RuleThresholds = LIMITS) -> List[str]:
    return [a.transaction_id for a in evaluate(txns, window(txns), limits) if a.rule == rule]


def test_hourly_count_exactly_n_does_not_fire():
    assert hits([txn(i, seconds_after=i * 60) for i in range(3)], RULE_TXNS_PER_HOUR) == []


def test_hourly_count_n_plus_one_fires_on_the_extra_transaction():
    txns = [txn(i, seconds_after=i * 60) for i in range(4)]
    alerts = [a for a in evaluate(txns, window(txns), LIMITS) if a.rule == RULE_TXNS_PER_HOUR]
    assert [a.transaction_id for a in alerts] == ["t3"]
    assert alerts[0].observed_value == 4 and alerts[0].threshold == 3


def test_hourly_count_ignores_transactions_older_than_an_hour():
    txns = [txn(0, seconds_after=0)] + [txn(i, seconds_after=3599 + i) for i in range(1, 4)]
    assert hits(txns, RULE_TXNS_PER_HOUR) == []  # t0 is exactly one hour before t1: outside


def test_daily_total_exactly_x_does_not_fire():
    txns = [txn(1, "4000"), txn(2, "4000", 7200), txn(3, "2000", 14400)]
    assert hits(txns, RULE_DAILY_TOTAL) == []


def test_daily_total_above_x_fires():
    txns = [txn(1, "4000"), txn(2, "4000", 7200), txn(3, "2001", 14400)]
    alerts = [a for a in evaluate(txns, window(txns), LIMITS) if a.rule == RULE_DAILY_TOTAL]
    assert [(a.transaction_id, a.observed_value) for a in alerts] == [("t3", Decimal(10001))]


def test_daily_total_window_is_24_hours_and_per_currency():
    txns = [txn(1, "4000"), txn(2, "4000", 86400), txn(3, "2001", 86401)]
    assert hits(txns, RULE_DAILY_TOTAL) == []  # t1 falls out of t3's 24 h window
    mixed = [txn(1, "4000"), txn(2, "4000", 60), txn(3, "2001", 120, currency="USD")]
    assert hits(mixed, RULE_DAILY_TOTAL) == []  # yen and dollars are not summed


def test_single_amount_exactly_y_does_not_fire_and_above_fires():
    assert hits([txn(1, "5000")], RULE_SINGLE_AMOUNT) == []
    assert hits([txn(2, "5001")], RULE_SINGLE_AMOUNT) == ["t2"]
    assert hits([txn(3, "5000.01", currency="USD")], RULE_SINGLE_AMOUNT) == ["t3"]


def test_customers_are_judged_separately():
    txns = [txn(i, seconds_after=i, customer=f"c{i % 2}") for i in range(6)]
    assert hits(txns, RULE_TXNS_PER_HOUR) == []
