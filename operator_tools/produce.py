"""Synthetic transaction producer for the Kinesis stream (real AWS or moto).

    python -m operator_tools.produce --stream NAME --rate 20 --count 1000 \
        [--region R] [--endpoint-url URL] [--seed S] [--include-invalid]

Besides ordinary traffic it always includes one customer per monitoring rule
that trips it (thresholds from the ``RULE_*`` variables or flags), so a
deployment can be smoke-tested end to end.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from processor.config import parse_positive_decimal, parse_positive_int
from processor.contract import ENV_MAX_DAILY_TOTAL, ENV_MAX_SINGLE_AMOUNT, ENV_MAX_TXNS_PER_HOUR
from processor.rules import HOUR, hour_start
from processor.schema import PAYMENT_METHODS

MAX_RECORDS_PER_PUT = 500
MAX_PUT_ATTEMPTS = 5
DEFAULT_THRESHOLDS = {ENV_MAX_TXNS_PER_HOUR: "20", ENV_MAX_DAILY_TOTAL: "1000000", ENV_MAX_SINGLE_AMOUNT: "500000"}
_JST = timezone(timedelta(hours=9))


@dataclass
class Plan:
    """What will be sent: encoded records plus which customers should trip which rule."""

    records: list[dict[str, Any]] = field(default_factory=list)
    trippers: dict[str, str] = field(default_factory=dict)
    invalid: int = 0


class TransactionFactory:
    def __init__(self, rng: random.Random, now: datetime) -> None:
        self.rng = rng
        self.now = now
        self.merchants = [f"merchant-{i:04d}" for i in range(50)]

    def make(
        self, customer_id: str, amount: Decimal, currency: str = "JPY", seconds_ago: float = 0.0
    ) -> dict[str, Any]:
        occurred = (self.now - timedelta(seconds=seconds_ago)).astimezone(_JST)
        return {
            "transaction_id": str(uuid.UUID(int=self.rng.getrandbits(128), version=4)),
            "customer_id": customer_id,
            "merchant_id": self.rng.choice(self.merchants),
            "amount": str(amount),
            "currency": currency,
            "occurred_at": occurred.isoformat(timespec="milliseconds"),
            "payment_method": self.rng.choice(sorted(PAYMENT_METHODS)),
            "metadata": {"channel": self.rng.choice(["web", "app", "store"]), "synthetic": True},
        }

    def ordinary(self) -> dict[str, Any]:
        customer = f"cust-{self.rng.randrange(1, 5000):05d}"
        if self.rng.random() < 0.9:
            return self.make(customer, Decimal(self.rng.randrange(100, 30000, 10)), "JPY", self.rng.uniform(0, 1800))
        cents = Decimal(self.rng.randrange(100, 50000)) / 100
        return self.make(customer, cents, self.rng.choice(["USD", "EUR"]), self.rng.uniform(0, 1800))


def _record(doc: dict[str, Any] | bytes, partition_key: str) -> dict[str, Any]:
    data = doc if isinstance(doc, bytes) else json.dumps(doc).encode("utf-8")
    return {"Data": data, "PartitionKey": partition_key}


def _invalid_payloads(factory: TransactionFactory) -> list[bytes]:
    naive = factory.make("cust-invalid", Decimal(500))
    naive["occurred_at"] = "2026-01-01T10:00:00"
    fractional_yen = factory.make("cust-invalid", Decimal("10.5"))
    bad_currency = factory.make("cust-invalid", Decimal(100), currency="XXX")
    negative = factory.make("cust-invalid", Decimal(-1))
    return [b"this is not json", b'{"transaction_id": "broken"'] + [
        json.dumps(doc).encode("utf-8") for doc in (naive, fractional_yen, bad_currency, negative)
    ]


def build_plan(
    count: int,
    seed: int,
    max_txns_per_hour: int,
    max_daily_total: Decimal,
    max_single_amount: Decimal,
    include_invalid: bool = False,
    now: datetime | None = None,
) -> Plan:
    """Deterministic for a given seed (apart from ``now``)."""
    rng = random.Random(seed)
    factory = TransactionFactory(rng, now or datetime.now(UTC))
    plan = Plan()
    docs: list[dict[str, Any]] = []
    burst, spender, whale = (f"cust-trip-{name}-{seed}" for name in ("burst", "daily", "single"))
    # The rules count per clock hour and per Tokyo day: put every tripper inside the last full
    # clock hour (which lies inside one Tokyo day), just over each threshold, with amounts that
    # keep the other rules quiet.
    anchor = hour_start(factory.now) - HOUR
    ago = (factory.now - anchor).total_seconds()
    step = 3000 / (max_txns_per_hour + 1)
    docs += [factory.make(burst, Decimal(1000), seconds_ago=ago - i * step) for i in range(max_txns_per_hour + 1)]
    plan.trippers[burst] = "max_txns_per_hour"
    part = min(max_single_amount, max_daily_total / 3).to_integral_value(rounding="ROUND_FLOOR")
    part = max(part, Decimal(1))
    spend_parts = int(max_daily_total // part) + 1  # spend_parts * part > max_daily_total
    docs += [factory.make(spender, part, seconds_ago=ago - 3000 * i / spend_parts) for i in range(spend_parts)]
    plan.trippers[spender] = "max_daily_total"
    docs.append(factory.make(whale, max_single_amount.quantize(Decimal(1)) + 1, seconds_ago=ago - 60))
    plan.trippers[whale] = "max_single_amount"
    while len(docs) < count:
        docs.append(factory.ordinary())
    rng.shuffle(docs)
    plan.records = [_record(doc, doc["customer_id"]) for doc in docs[: max(count, 0)]]
    if include_invalid:
        invalid = _invalid_payloads(factory)
        plan.records += [_record(payload, f"invalid-{i}") for i, payload in enumerate(invalid)]
        plan.invalid = len(invalid)
    return plan


def put_all(
    client: Any,
    stream: str,
    records: Sequence[dict[str, Any]],
    rate: float,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> int:
    """Send at about ``rate`` records/s in ``put_records`` calls of at most 500; retry throttled ones."""
    chunk_size = max(1, min(MAX_RECORDS_PER_PUT, int(rate)))
    failed_total = 0
    for start in range(0, len(records), chunk_size):
        began = clock()
        pending = list(records[start : start + chunk_size])
        for attempt in range(MAX_PUT_ATTEMPTS):
            response = client.put_records(StreamName=stream, Records=pending)
            if not response.get("FailedRecordCount"):
                pending = []
                break
            pending = [rec for rec, res in zip(pending, response["Records"], strict=True) if "ErrorCode" in res]
            sleep(0.1 * 2**attempt)
        failed_total += len(pending)
        remaining = len(records[start : start + chunk_size]) / rate - (clock() - began)
        if remaining > 0 and start + chunk_size < len(records):
            sleep(remaining)
    return failed_total


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m operator_tools.produce", description=__doc__.split("\n\n")[0])
    parser.add_argument("--stream", required=True)
    parser.add_argument("--rate", type=float, default=20.0, help="records per second")
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--region", default=None)
    parser.add_argument("--endpoint-url", default=None)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--include-invalid", action="store_true")
    for env_name, default in DEFAULT_THRESHOLDS.items():
        flag = "--" + env_name.lower().replace("rule_", "").replace("_", "-")
        parser.add_argument(
            flag, default=os.environ.get(env_name, default), help=f"defaults to ${env_name} or {default}"
        )
    args = parser.parse_args(argv)
    if args.rate <= 0 or args.count < 0:
        parser.error(f"--rate must be > 0 and --count >= 0, got {args.rate} and {args.count}")

    import boto3

    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**31)
    plan = build_plan(
        args.count,
        seed,
        parse_positive_int("--max-txns-per-hour", args.max_txns_per_hour),
        parse_positive_decimal("--max-daily-total", args.max_daily_total),
        parse_positive_decimal("--max-single-amount", args.max_single_amount),
        include_invalid=args.include_invalid,
    )
    client = boto3.client("kinesis", region_name=args.region, endpoint_url=args.endpoint_url)
    failed = put_all(client, args.stream, plan.records, args.rate)
    print(f"seed={seed} sent={len(plan.records) - failed} failed={failed} invalid={plan.invalid}")
    for customer, rule in plan.trippers.items():
        print(f"expect {rule} for {customer}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
