"""Alerts do not depend on arrival order or batch boundaries (property-based, real PostgreSQL)."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reference import reference_alerts, stored_alerts
from txn_events import failed_ids, kinesis_event

pytestmark = pytest.mark.integration

LIMITS = dict(max_txns_per_hour=3, max_daily_total=Decimal(20000), max_single_amount=Decimal(9000))
# A fixed Tokyo-day boundary (15:00 UTC) sits inside the span, so windows straddle it.
BASE = datetime(2026, 11, 25, 13, 0, tzinfo=UTC)


@pytest.fixture
def processor(settings):
    from processor.config import RuleThresholds
    from processor.handler import BatchProcessor

    batch_processor = BatchProcessor(replace(settings, thresholds=RuleThresholds(**LIMITS)), emit=lambda line: None)
    yield batch_processor
    batch_processor.close()


transactions = st.lists(
    st.tuples(
        st.sampled_from(["alice", "bob", "carol"]),
        st.integers(min_value=0, max_value=6 * 3600 - 1),
        st.sampled_from([500, 2500, 7000, 9500]),
        st.sampled_from(["JPY", "JPY", "USD"]),
    ),
    min_size=1,
    max_size=40,
)


def docs_of(items):
    return [
        {
            "transaction_id": f"txn-{i:04d}",
            "customer_id": customer,
            "merchant_id": "m-1",
            "amount": str(amount),
            "currency": currency,
            "occurred_at": (BASE + timedelta(seconds=offset)).astimezone(timezone(timedelta(hours=9))).isoformat(),
            "payment_method": "card",
        }
        for i, (customer, offset, amount, currency) in enumerate(items)
    ]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    items=transactions,
    order=st.randoms(use_true_random=False),
    cuts=st.lists(st.integers(1, 40), max_size=6),
    redeliver=st.booleans(),
)
def test_alerts_equal_the_reference_whatever_the_order_and_batching(
    items, order, cuts, redeliver, processor, clean_stores, pg_conn
):
    clean_stores()
    docs = docs_of(items)
    shuffled = list(docs)
    order.shuffle(shuffled)
    boundaries = sorted({0, len(shuffled), *[c for c in cuts if c < len(shuffled)]})
    batches = [shuffled[a:b] for a, b in itertools.pairwise(boundaries)]
    if redeliver:  # a batch delivered twice (Kinesis at-least-once) changes nothing
        batches.append(batches[0])
    for n, batch in enumerate(batches):
        assert failed_ids(processor.process(kinesis_event(batch, first_seq=n * 100))) == []
    expected = reference_alerts(docs, **LIMITS)
    assert stored_alerts(pg_conn) == expected
