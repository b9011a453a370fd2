"""Rule windows and threshold edges (pure functions; the windows' counts come from PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from processor.config import RuleThresholds
from processor.models import WindowTotal
from processor.rules import (
    RULE_DAILY_TOTAL,
    RULE_SINGLE_AMOUNT,
    RULE_TXNS_PER_HOUR,
    WINDOW_DAY,
    WINDOW_HOUR,
    day_start,
    evaluate,
    hour_start,
    window_key,
)
from processor.schema import Transaction

LIMITS = RuleThresholds(max_txns_per_hour=3, max_daily_total=Decimal(10000), max_single_amount=Decimal(5000))
T0 = datetime(2026, 11, 25, 12, 34, 56, 789, tzinfo=UTC)


def hour(count: int, start: datetime = T0) -> WindowTotal:
    return WindowTotal("c1", WINDOW_HOUR, hour_start(start), "", count, Decimal(0))


def day(total: str, currency: str = "JPY") -> WindowTotal:
    return WindowTotal("c1", WINDOW_DAY, day_start(T0), currency, 2, Decimal(total))


def txn(amount: str, currency: str = "JPY") -> Transaction:
    return Transaction("t1", "c1", "m1", Decimal(amount), currency, T0, "card")


def test_hour_window_is_the_utc_clock_hour():
    assert hour_start(T0) == datetime(2026, 11, 25, 12, tzinfo=UTC)
    assert hour_start(datetime(2026, 11, 25, 21, 59, tzinfo=timezone(timedelta(hours=9)))) == datetime(
        2026, 11, 25, 12, tzinfo=UTC
    )


@pytest.mark.parametrize(
    "at, start",
    [
        (datetime(2026, 11, 25, 14, 59, 59, tzinfo=UTC), datetime(2026, 11, 24, 15, tzinfo=UTC)),
        (datetime(2026, 11, 25, 15, 0, 0, tzinfo=UTC), datetime(2026, 11, 25, 15, tzinfo=UTC)),
    ],
)
def test_day_window_is_the_tokyo_calendar_day(at, start):
    assert day_start(at) == start
    assert window_key(WINDOW_DAY, start, "JPY") == f"{(start + timedelta(hours=9)).date()}/JPY"


def test_hourly_count_exactly_n_does_not_fire_and_n_plus_one_does():
    assert evaluate([hour(3)], [], LIMITS) == []
    [alert] = evaluate([hour(4)], [], LIMITS)
    assert (alert.rule, alert.window_key, alert.observed_value, alert.threshold) == (
        RULE_TXNS_PER_HOUR,
        "2026-11-25T12:00Z",
        Decimal(4),
        Decimal(3),
    )
    assert alert.window_end - alert.window_start == timedelta(hours=1) and alert.transaction_id is None


def test_daily_total_is_per_currency_and_strictly_above():
    assert evaluate([day("10000")], [], LIMITS) == []
    [alert] = evaluate([day("10000.01", "USD")], [], LIMITS)
    assert (alert.rule, alert.currency, alert.window_key, alert.observed_value) == (
        RULE_DAILY_TOTAL,
        "USD",
        "2026-11-25/USD",
        Decimal("10000.01"),
    )


def test_single_amount_fires_for_the_transaction_itself():
    assert evaluate([], [txn("5000")], LIMITS) == []
    [alert] = evaluate([], [txn("5001")], LIMITS)
    assert (alert.rule, alert.window_key, alert.transaction_id, alert.observed_value) == (
        RULE_SINGLE_AMOUNT,
        "t1",
        "t1",
        Decimal(5001),
    )


@pytest.mark.parametrize(
    "at",
    [
        T0,
        datetime(2026, 11, 25, 14, 59, 59, 999999, tzinfo=UTC),
        datetime(2026, 11, 25, 15, 0, tzinfo=UTC),
        datetime(2026, 12, 31, 23, 30, tzinfo=timezone(timedelta(hours=-5))),
    ],
)
def test_fast_window_starts_agree_with_the_calendar_definitions(at):
    from processor.rules import window_starts

    assert window_starts(at.timestamp()) == (int(hour_start(at).timestamp()), int(day_start(at).timestamp()))


def test_the_longest_rule_window_the_history_ttl_must_cover_is_the_daily_window() -> None:
    """The construct and the runtime refuse a history TTL below LONGEST_RULE_WINDOW_SECONDS: it must be the
    longest window a rule counts over, or a shorter TTL would pass and silently undercount that rule."""
    from processor.contract import LONGEST_RULE_WINDOW_SECONDS
    from processor.rules import DAY, HOUR

    assert LONGEST_RULE_WINDOW_SECONDS == max(DAY, HOUR).total_seconds()
