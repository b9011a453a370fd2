"""CloudWatch Embedded Metric Format (EMF) lines: rule hits and transaction conflicts.

Printed to stdout; Lambda ships them to CloudWatch Logs, which extracts the metrics. Rule
hits have two dimension sets so one alarm can watch all rules per environment
(``[Environment]``) while dashboards can still split by rule.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from processor.contract import DIMENSION_ENVIRONMENT, DIMENSION_RULE, METRIC_CONFLICTS, METRIC_RULE_HITS

DIMENSION_SETS = [[DIMENSION_ENVIRONMENT], [DIMENSION_ENVIRONMENT, DIMENSION_RULE]]


def _document(
    namespace: str, timestamp_ms: int, metric: str, dimensions: list[list[str]], values: dict[str, Any]
) -> dict[str, Any]:
    return {
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [
                {"Namespace": namespace, "Dimensions": dimensions, "Metrics": [{"Name": metric, "Unit": "Count"}]}
            ],
        },
        **values,
    }


def rule_hit_documents(
    namespace: str, environment: str, rules: Iterable[str], timestamp_ms: int
) -> list[dict[str, Any]]:
    """One EMF document per rule, carrying that rule's count of new alerts for the batch."""
    return [
        _document(
            namespace,
            timestamp_ms,
            METRIC_RULE_HITS,
            DIMENSION_SETS,
            {DIMENSION_ENVIRONMENT: environment, DIMENSION_RULE: rule, METRIC_RULE_HITS: count},
        )
        for rule, count in sorted(Counter(rules).items())
    ]


def conflict_documents(namespace: str, environment: str, conflicts: int, timestamp_ms: int) -> list[dict[str, Any]]:
    if not conflicts:
        return []
    return [
        _document(
            namespace,
            timestamp_ms,
            METRIC_CONFLICTS,
            [[DIMENSION_ENVIRONMENT]],
            {DIMENSION_ENVIRONMENT: environment, METRIC_CONFLICTS: conflicts},
        )
    ]


def emit_batch(
    namespace: str,
    environment: str,
    new_alert_rules: Iterable[str],
    conflicts: int,
    timestamp_ms: int,
    write: Callable[[str], None] = print,
) -> None:
    for doc in (
        *rule_hit_documents(namespace, environment, new_alert_rules, timestamp_ms),
        *conflict_documents(namespace, environment, conflicts, timestamp_ms),
    ):
        write(json.dumps(doc, separators=(",", ":")))
