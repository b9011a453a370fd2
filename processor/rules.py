"""Monitoring rules over fixed windows, so the result never depends on arrival order.

Each transaction belongs to exactly one window per rule: its UTC clock hour (count of
transactions) and its Tokyo calendar day (total per currency; amounts in different
currencies are never added). PostgreSQL keeps each window's running count and total,
counting every transaction once however often it is delivered; a window whose value is
strictly above the threshold gets one alert, whose observed value rises as late
transactions arrive. The single-amount rule is its own window: the transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

from processor.config import RuleThresholds
from processor.models import AlertRow, WindowTotal
from processor.schema import Transaction

RULE_TXNS_PER_HOUR = "max_txns_per_hour"
RULE_DAILY_TOTAL = "max_daily_total"
RULE_SINGLE_AMOUNT = "max_single_amount"
ALL_RULES = (RULE_TXNS_PER_HOUR, RULE_DAILY_TOTAL, RULE_SINGLE_AMOUNT)
WINDOW_HOUR = "hour"
WINDOW_DAY = "day"
# JapanCart's business day is the calendar day in Japan (no daylight saving time).
BUSINESS_TZ = timezone(timedelta(hours=9), "JST")
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


_OFFSET = int(BUSINESS_TZ.utcoffset(None).total_seconds())


def window_starts(epoch_seconds: float) -> tuple[int, int]:
    """(hour start, Tokyo day start) as epoch seconds: integer arithmetic for the batch hot path."""
    second = int(epoch_seconds // 1)
    return second - second % 3600, (second + _OFFSET) // 86400 * 86400 - _OFFSET


def hour_start(at: datetime) -> datetime:
    """Start (UTC) of the clock hour containing ``at``."""
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def day_start(at: datetime) -> datetime:
    """Start (as a UTC instant) of the Tokyo calendar day containing ``at``."""
    local = at.astimezone(BUSINESS_TZ).replace(hour=0, minute=0, second=0, microsecond=0)
    return local.astimezone(UTC)


def window_key(kind: str, start: datetime, currency: str = "") -> str:
    """Stable text key of a window: `2026-11-27T05:00Z` (hour) or `2026-11-27/JPY` (Tokyo day)."""
    if kind == WINDOW_HOUR:
        return start.astimezone(UTC).strftime("%Y-%m-%dT%H:00Z")
    return f"{start.astimezone(BUSINESS_TZ).strftime('%Y-%m-%d')}/{currency}"


def evaluate(
    windows: Iterable[WindowTotal], new_transactions: Sequence[Transaction], thresholds: RuleThresholds
) -> list[AlertRow]:
    """Alerts for windows now strictly above their threshold, and for single amounts above theirs."""
    alerts: list[AlertRow] = []
    for w in windows:
        start = w.window_start.astimezone(UTC)
        if w.kind == WINDOW_HOUR and w.txn_count > thresholds.max_txns_per_hour:
            alerts.append(
                AlertRow(
                    RULE_TXNS_PER_HOUR,
                    w.customer_id,
                    window_key(WINDOW_HOUR, start),
                    start,
                    start + HOUR,
                    "",
                    None,
                    Decimal(w.txn_count),
                    Decimal(thresholds.max_txns_per_hour),
                )
            )
        elif w.kind == WINDOW_DAY and w.total > thresholds.max_daily_total:
            alerts.append(
                AlertRow(
                    RULE_DAILY_TOTAL,
                    w.customer_id,
                    window_key(WINDOW_DAY, start, w.currency),
                    start,
                    start + DAY,
                    w.currency,
                    None,
                    w.total,
                    thresholds.max_daily_total,
                )
            )
    for txn in new_transactions:
        if txn.amount > thresholds.max_single_amount:
            alerts.append(
                AlertRow(
                    RULE_SINGLE_AMOUNT,
                    txn.customer_id,
                    txn.transaction_id,
                    txn.occurred_at,
                    txn.occurred_at,
                    txn.currency,
                    txn.transaction_id,
                    txn.amount,
                    thresholds.max_single_amount,
                )
            )
    return alerts
