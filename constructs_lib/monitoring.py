"""What a construct offers to be watched: alarm specs and dashboard graphs of its own metrics.

As the AWS CDK's `metric_*()` methods do, each construct says what of it to watch (`alarm_specs(...)`, thresholds
passed in; `dashboard_graphs()`); `AlertTopic.alarm` turns a spec into an alarm in the caller's scope, which fixes
its Terraform address, and `SystemAlarms` lays the graphs out on one dashboard.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypedDict

from .validation import require_choice

TREAT_MISSING = frozenset({"breaching", "notBreaching", "ignore", "missing"})
GIB = 1024**3
MIB = 1024**2


@dataclass(frozen=True, kw_only=True)
class AlarmSpec:
    """One metric condition worth waking someone for."""

    suffix: str
    description: str
    namespace: str
    metric: str
    dimensions: Mapping[str, str]
    statistic: str
    comparison: str
    threshold: float
    treat_missing_data: str

    def __post_init__(self) -> None:
        require_choice("treat_missing_data", self.treat_missing_data, TREAT_MISSING)


class SpecCommon(TypedDict):
    """The AlarmSpec fields every alarm of one resource shares."""

    namespace: str
    dimensions: Mapping[str, str]
    comparison: str


@dataclass(frozen=True)
class DashboardGraph:
    """One dashboard widget: a title, its metrics (CloudWatch's `[namespace, name, dimension, value]` rows) and
    the statistic drawn."""

    title: str
    metrics: list[list[str]]
    stat: str
