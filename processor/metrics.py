"""CloudWatch Embedded Metric Format (EMF) lines for rule hits.

Printed to stdout; Lambda ships them to CloudWatch Logs, which extracts the
metric. Two dimension sets so one alarm can watch all rules per environment
(``[Environment]``) while dashboards can still split by rule.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Callable, Dict, Iterable, List

METRIC_RULE_HITS = "RuleHits"
DIMENSION_ENVIRONMENT = "Environment"
DIMENSION_RULE = "Rule"
DIMENSION_SETS = [[DIMENSION_ENVIRONMENT], [DIMENSION_ENVIRONMENT, DIMENSION_RULE]]


def rule_hit_documents(namespace: str, environment: str, rules: Iterable[str],
                       timestamp_ms: int) -> List[Dict]:
    """One EMF document per rule, carrying that rule's hit count for the batch."""
    documents = []
    for rule, count in sorted(Counter(rules).items()):
        documents.append({
            "_aws": {
                "Timestamp": timestamp_ms,
                "CloudWatchMetrics": [{
                    "Namespace": namespace,
                    "Dimensions": DIMENSION_SETS,
                    "Metrics": [{"Name": METRIC_RULE_HITS, "Unit": "Count"}],
                }],
            },
            DIMENSION_ENVIRONMENT: environment,
            DIMENSION_RULE: rule,
            METRIC_RULE_HITS: count,
        })
    return documents


def emit_rule_hits(namespace: str, environment: str, rules: Iterable[str], timestamp_ms: int,
                   write: Callable[[str], None] = print) -> None:
    for doc in rule_hit_documents(namespace, environment, rules, timestamp_ms):
        write(json.dumps(doc, separators=(",", ":")))
