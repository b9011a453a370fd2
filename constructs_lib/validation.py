"""Input validation shared by every construct's props.

Every rejected value raises one `ConfigError` that names the field and the value, so a
bad configuration stops synthesis with a single readable line instead of a traceback
from deep inside jsii.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Any

from cdktf import Token

from processor.contract import ConfigError


def require(ok: bool, field: str, value: Any, expectation: str) -> None:
    """Raise `ConfigError` unless `ok`."""
    if not ok:
        raise ConfigError(field, value, expectation)


def is_token(value: Any) -> bool:
    """True for values only known at apply time; those are not validated at synth."""
    return isinstance(value, str) and Token.is_unresolved(value)


def require_range(field: str, value: Any, low: int | float, high: int | float) -> None:
    """Require a number (int or float, not a bool) within [low, high]: for fields that take fractions."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and low <= value <= high
    require(ok, field, value, f"a number from {low} to {high}")


def require_int(field: str, value: Any, low: int, high: int) -> None:
    """Require a whole number within [low, high]. Bools and floats are refused (TOML `2.5` or `true` would
    otherwise pass a range check and fail later inside jsii or Terraform with a TypeError)."""
    ok = isinstance(value, int) and not isinstance(value, bool) and low <= value <= high
    require(ok, field, value, f"a whole number from {low} to {high}")


def require_bool(field: str, value: Any) -> None:
    """Require true or false (not 0/1 or a string)."""
    require(isinstance(value, bool), field, value, "true or false")


def require_choice(field: str, value: Any, choices: tuple[Any, ...] | frozenset[Any]) -> None:
    """Require one of a fixed set of values, of the same type (`true` is not 1, `30.0` is not 30)."""
    shown = ", ".join(repr(c) for c in sorted(choices))
    require(any(value == c and type(value) is type(c) for c in choices), field, value, f"one of {shown}")


def require_name(field: str, value: Any, pattern: str, description: str) -> None:
    """Require a resource name that matches an AWS naming rule (tokens pass)."""
    if is_token(value):
        return
    require(isinstance(value, str) and re.fullmatch(pattern, value) is not None, field, value, description)


@dataclass(frozen=True)
class NameRule:
    """A construct's rule for its `name`, a class attribute of its props: the props check the name they are
    given, and a configuration that derives names checks them with the same rule when it loads."""

    pattern: str
    expectation: str

    def check(self, field: str, value: Any) -> None:
        require_name(field, value, self.pattern, self.expectation)


REGION_PATTERN = r"[a-z]{2}(-[a-z]+)+-\d"


def require_region(field: str, value: Any) -> None:
    """Require an AWS region name such as ap-northeast-1."""
    require_name(field, value, REGION_PATTERN, "an AWS region such as ap-northeast-1")


def parse_cidr(field: str, value: Any) -> ipaddress.IPv4Network:
    """Parse an IPv4 network written in canonical form (host bits zero)."""
    try:
        return ipaddress.IPv4Network(value, strict=True)
    except (ValueError, TypeError):
        raise ConfigError(field, value, "an IPv4 CIDR block with zero host bits, such as 10.0.0.0/16") from None


# CloudWatch Logs accepts only these retention periods.
LOG_RETENTION_DAYS = frozenset(
    {1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653}
)

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")


def require_zones_for(field: str, enabled: bool, az_count: int) -> None:
    """A Multi-AZ feature needs a network spread over at least two availability zones."""
    if enabled:
        require(az_count >= 2, field, enabled, f"off when the network has fewer than 2 availability zones ({az_count})")


def require_recovery_window(field: str, value: Any) -> None:
    """A Secrets Manager recovery window: 7-30 days, or 0 to delete at once (no recovery)."""
    ok = isinstance(value, int) and not isinstance(value, bool) and (value == 0 or 7 <= value <= 30)
    require(ok, field, value, "0 (delete at once) or a number of days from 7 to 30")


def require_email(field: str, value: Any) -> None:
    """Require a plausible e-mail address (SNS rejects anything else at apply time)."""
    require(
        isinstance(value, str) and _EMAIL.fullmatch(value) is not None,
        field,
        value,
        "an e-mail address such as ops@example.com",
    )


_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAILY_WINDOW = re.compile(r"([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)")
_WEEKLY_WINDOW = re.compile(
    r"(mon|tue|wed|thu|fri|sat|sun):([01]\d|2[0-3]):([0-5]\d)-(mon|tue|wed|thu|fri|sat|sun):([01]\d|2[0-3]):([0-5]\d)"
)
_WEEK_MINUTES = 7 * 24 * 60


def daily_window_minutes(field: str, value: Any) -> tuple[int, int]:
    """Parse an `hh:mm-hh:mm` UTC window into minutes after midnight (start, end)."""
    match = _DAILY_WINDOW.fullmatch(value) if isinstance(value, str) else None
    require(match is not None, field, value, "a UTC window 'hh:mm-hh:mm'")
    assert match is not None
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    start, end = h1 * 60 + m1, h2 * 60 + m2
    duration = (end - start) % (24 * 60)
    require(duration >= 60, field, value, "a window of at least 60 minutes")
    return start, end


def weekly_window_minutes(field: str, value: Any) -> tuple[int, int]:
    """Parse a `ddd:hh:mm-ddd:hh:mm` UTC window into minutes after Monday 00:00."""
    match = _WEEKLY_WINDOW.fullmatch(value) if isinstance(value, str) else None
    require(match is not None, field, value, "a UTC window 'ddd:hh:mm-ddd:hh:mm'")
    assert match is not None
    d1, h1, m1, d2, h2, m2 = match.groups()
    start = _DAYS.index(d1) * 1440 + int(h1) * 60 + int(m1)
    end = _DAYS.index(d2) * 1440 + int(h2) * 60 + int(m2)
    require((end - start) % _WEEK_MINUTES >= 60, field, value, "a window of at least 60 minutes")
    return start, end


def windows_overlap(daily: tuple[int, int], weekly: tuple[int, int]) -> bool:
    """Whether a daily window meets a weekly window on any day of the week."""

    def span(start: int, length: int) -> set[int]:
        return {(start + i) % _WEEK_MINUTES for i in range(length)}

    daily_length = (daily[1] - daily[0]) % 1440
    weekly_span = span(weekly[0], (weekly[1] - weekly[0]) % _WEEK_MINUTES)
    return any(span(daily[0] + day * 1440, daily_length) & weekly_span for day in range(7))


def require_clear_windows(daily_field: str, daily: Any, weekly_field: str, weekly: Any) -> None:
    """Require a well-formed daily window (snapshots, backups) that never meets the weekly maintenance window."""
    if windows_overlap(daily_window_minutes(daily_field, daily), weekly_window_minutes(weekly_field, weekly)):
        raise ConfigError(weekly_field, weekly, f"clear of {daily_field} {daily!r}")
