"""tools/cost: every resource type priced or free, the bill on the real stacks, docs/cost.md = the tool's output,
a changed configuration moving exactly the line items it should, and the price table's refresh command."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from environments import synth_environment

from constructs_lib.stream import StreamSettings
from stacks.load import LoadSettings
from tools.cost.__main__ import main
from tools.cost.estimate import Load, changes, estimate, total
from tools.cost.refresh import main as refresh
from tools.cost.rules import FREE, RULES
from tools.cost.table import CostError, load_prices, load_usage

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "golden"
SHIPPED_CONFIG = ROOT / "config" / "environments.toml"
ENVIRONMENTS = ("dev", "staging", "prod")
PRICES, USAGE = load_prices(), load_usage()


def stacks_dir(tmp_path: Path, documents: dict[str, Path]) -> Path:
    """A cdktf.out/stacks-shaped directory of the given stack files."""
    for name, source in documents.items():
        (tmp_path / name).mkdir(parents=True)
        shutil.copy(source, tmp_path / name / "cdk.tf.json")
    return tmp_path


def test_every_resource_type_in_the_synthesized_stacks_is_priced_or_free(stacks: dict[str, dict[str, Any]]) -> None:
    unknown = {
        f"{name}: {resource_type}"
        for name, document in stacks.items()
        for resource_type in document.get("resource", {})
        if resource_type not in RULES and resource_type not in FREE
    }
    assert not unknown, f"no price rule and not listed free in tools/cost/rules.py: {sorted(unknown)}"


def test_free_types_say_why_and_none_is_also_priced() -> None:
    assert not set(FREE) & set(RULES)
    assert all(len(reason) > 10 for reason in FREE.values())


def test_an_unknown_resource_type_is_refused_by_name() -> None:
    document = {"resource": {"aws_instance": {"x": {"instance_type": "m7g.large"}}}}
    with pytest.raises(CostError, match="resource type must be priced.*'aws_instance'"):
        estimate(document, PRICES, USAGE, Load(1, 1024))


def test_an_unpriced_instance_class_is_refused_by_name() -> None:
    document = {"resource": {"aws_db_instance": {"x": {"instance_class": "db.x9.huge", "storage_type": "gp3"}}}}
    with pytest.raises(CostError, match=r"rds_instance_hour\.db\.x9\.huge"):
        estimate(document, PRICES, USAGE, Load(1, 1024))


def test_cross_region_backup_replication_is_priced_from_its_source_instance() -> None:
    document = {
        "resource": {
            "aws_db_instance": {
                "db": {"instance_class": "db.t4g.medium", "storage_type": "gp3", "allocated_storage": 50}
            },
            "aws_db_instance_automated_backups_replication": {
                "replica": {"source_db_instance_arn": "${aws_db_instance.db.arn}", "retention_period": 7}
            },
        }
    }
    items = {i.key: i for i in estimate(document, PRICES, USAGE, Load(1, 1024))}
    per_gb = PRICES.price("rds_storage", "backup_gb_month") + PRICES.price("rds_storage", "cross_region_transfer_gb")
    assert items["rds-backup-replica:replica"].monthly == pytest.approx(50 * per_gb)


def test_a_bad_load_in_the_configuration_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "environments.toml"
    config.write_text('[environments.dev]\nload = { average_records_per_second = "lots" }\n')
    directory = stacks_dir(tmp_path / "stacks", {"dev": GOLDEN / "dev.json"})
    assert main([str(directory), "--config", str(config)]) == 1
    assert capsys.readouterr().err == (
        "cost: environments.dev.load.average_records_per_second must be a number >= 0, got 'lots'\n"
    )


def test_usage_defaults_are_the_config_layers() -> None:
    assert USAGE["default_average_records_per_second"] == LoadSettings().average_records_per_second
    assert USAGE["default_average_record_bytes"] == StreamSettings().average_record_bytes


def test_price_table_names_source_date_currency_region() -> None:
    assert PRICES.data["region"] == "ap-northeast-1" and PRICES.data["currency"] == "USD"
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", PRICES.data["retrieved"]) and "AWS" in PRICES.data["source"]


def test_prod_bill_from_the_golden_stack() -> None:
    import json

    items = {i.key: i for i in estimate(json.loads((GOLDEN / "prod.json").read_text()), PRICES, USAGE, Load(17, 1024))}
    hours = PRICES.hours
    assert items["rds:database/instance"].monthly == pytest.approx(
        2 * hours * PRICES.price("rds_instance_hour", "db.r7g.large")
    )
    assert items["rds-storage:database/instance"].monthly == pytest.approx(
        2 * 100 * PRICES.price("rds_storage", "gp3_gb_month")
    )
    assert items["redis:cache/group"].monthly == pytest.approx(
        3 * hours * PRICES.price("elasticache_node_hour", "cache.r7g.large")
    )
    endpoint = items["endpoint:network/secretsmanager-endpoint"]
    assert endpoint.detail.endswith("x 3 AZ")
    # Three data-class keys and the replicated backups' key in ap-northeast-3.
    assert items["kms:key_month"].monthly == 4 * PRICES.price("kms", "key_month")
    assert items["rds-backup-replica:backup-replication/replication"].monthly == pytest.approx(
        100 * (PRICES.price("rds_storage", "backup_gb_month") + PRICES.price("rds_storage", "cross_region_transfer_gb"))
    )
    assert items["cloudwatch:alarms"].detail.startswith("28 metric alarms")


def test_docs_cost_md_holds_the_tools_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    directory = stacks_dir(tmp_path, {env: GOLDEN / f"{env}.json" for env in ENVIRONMENTS})
    assert main([str(directory), "--config", str(SHIPPED_CONFIG)]) == 0
    printed = capsys.readouterr().out
    docs = (ROOT / "docs" / "cost.md").read_text(encoding="utf-8")
    shown = docs.split("<!-- make cost: begin -->\n", 1)[1].split("<!-- make cost: end -->", 1)[0]
    assert shown == printed, "docs/cost.md is stale: paste `make cost`'s output between its markers"


def test_bad_input_is_one_line_and_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    directory = stacks_dir(tmp_path, {"dev": GOLDEN / "dev.json"})
    assert main([str(directory), "--config", str(SHIPPED_CONFIG), "--env", "qa"]) == 1
    assert capsys.readouterr().err.strip().startswith("cost: --env must be an environment of the configuration")
    assert main([str(tmp_path / "nowhere"), "--config", str(SHIPPED_CONFIG)]) == 1
    assert "cost: stacks must be a directory holding" in capsys.readouterr().err


def test_japancart_config_moves_the_load_driven_items(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A modified copy of the shipped configuration, named by JAPANCART_CONFIG: prod at 10x the load."""
    changed = tmp_path / "environments.toml"
    text = SHIPPED_CONFIG.read_text(encoding="utf-8")
    changed.write_text(text.replace("average_records_per_second = 17,", "average_records_per_second = 170,"))
    assert changed.read_text() != text
    monkeypatch.setenv("JAPANCART_CONFIG", str(changed))
    directory = stacks_dir(tmp_path / "stacks", {env: GOLDEN / f"{env}.json" for env in ENVIRONMENTS})
    assert main([str(directory), "--base", str(directory), "--base-config", str(SHIPPED_CONFIG)]) == 0
    out = capsys.readouterr().out
    sections = dict(re.findall(r"### (\w+): (.*?)(?=\n### |\Z)", out, re.S))
    assert "No line item changed." in sections["dev"] and "No line item changed." in sections["staging"]
    changed_keys = set(re.findall(r"^\| (\w\S*) \|", sections["prod"], re.M)) - {"Line"}
    # One invocation a second either way (1 s batching window): more records per batch, not more log lines.
    assert changed_keys == {"kinesis:stream/stream", "lambda:processor/function"}
    assert not {k for k in changed_keys if k.startswith(("rds", "redis", "kms", "endpoint"))}


def test_a_bigger_changed_config_moves_totals_and_exactly_those_line_items(tmp_path: Path) -> None:
    """Real synthesis: dev as shipped vs dev with a bigger database and cache, and a NAT gateway."""
    shipped = {
        "network": {"vpc_cidr": "10.10.0.0/16", "zone_ids": ["apne1-az4", "apne1-az1"]},
        "cache": {"node_type": "cache.t4g.micro", "num_nodes": 2},
        "database": {"instance_class": "db.t4g.medium"},
    }
    bigger = {
        "network": {**shipped["network"], "nat_gateway": True},
        "cache": {"node_type": "cache.r7g.large", "num_nodes": 3},
        "database": {"instance_class": "db.r7g.large"},
    }
    (tmp_path / "base").mkdir(), (tmp_path / "head").mkdir()
    base_stack = synth_environment(tmp_path / "base", **shipped).document
    head_stack = synth_environment(tmp_path / "head", **bigger).document
    load = Load(1, 1024)
    base, head = estimate(base_stack, PRICES, USAGE, load), estimate(head_stack, PRICES, USAGE, load)
    moved = {c.key: c.delta for c in changes(base, head)}
    hours = PRICES.hours
    rds_delta = (
        2
        * hours
        * (PRICES.price("rds_instance_hour", "db.r7g.large") - PRICES.price("rds_instance_hour", "db.t4g.medium"))
    )
    redis_delta = hours * (
        3 * PRICES.price("elasticache_node_hour", "cache.r7g.large")
        - 2 * PRICES.price("elasticache_node_hour", "cache.t4g.micro")
    )
    # Testing.synth writes no construct paths: the items are keyed by logical id there, one per prefix.
    assert [v for k, v in moved.items() if k.startswith("rds:")] == [pytest.approx(rds_delta)], moved
    assert [v for k, v in moved.items() if k.startswith("redis:")] == [pytest.approx(redis_delta)], moved
    assert {k for k in moved if k.startswith(("nat:", "eip:"))}, moved
    assert all(delta > 0 for key, delta in moved.items() if not key.startswith("logs:")), moved
    assert not {k for k in moved if k.startswith(("kms", "kinesis", "endpoint", "lambda"))}, moved
    assert total(head) - total(base) == pytest.approx(sum(moved.values()))


def test_refresh_reprices_from_an_offer_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    prices = tmp_path / "prices.toml"
    shutil.copy(ROOT / "tools" / "cost" / "prices.toml", prices)
    offer = ROOT / "tests" / "tools" / "fixtures" / "cost" / "AmazonRDS.json"
    assert refresh([str(offer), "--prices", str(prices), "--date", "2027-01-15"]) == 0
    out = capsys.readouterr().out
    table = load_prices(prices)
    assert table.price("rds_instance_hour", "db.t4g.medium") == 0.1111  # Single-AZ PostgreSQL, Tokyo only
    assert table.price("rds_instance_hour", "db.r7g.large") == PRICES.price("rds_instance_hour", "db.r7g.large")
    assert table.data["retrieved"] == "2027-01-15"
    assert "db.t4g.medium" in out and "not in the file, left as they were: " in out and "db.r7g.large" in out
    assert table.price("elasticache_node_hour", "cache.t4g.micro") == PRICES.price(
        "elasticache_node_hour", "cache.t4g.micro"
    )


def test_refresh_refuses_another_offer(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    offer = tmp_path / "AmazonEC2.json"
    offer.write_text('{"offerCode": "AmazonEC2", "products": {}, "terms": {}}')
    assert refresh([str(offer), "--prices", str(tmp_path / "missing.toml")]) == 1
    assert capsys.readouterr().err.startswith("cost refresh: ")


@pytest.mark.parametrize(("args", "expected"), [((), ""), (("ENV=prod",), " --env prod")])
def test_make_cost_synthesizes_then_prints_every_or_one_environment(args: tuple[str, ...], expected: str) -> None:
    make = shutil.which("make")
    assert make, "GNU make is not on PATH"
    environ = {k: v for k, v in os.environ.items() if k not in ("ENV", "MAKEFLAGS", "MAKELEVEL")}
    done = subprocess.run(
        [make, "--no-print-directory", "-n", "cost", *args], cwd=ROOT, env=environ, capture_output=True, text=True
    )  # -n: print the recipes, run none
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    synth = lines.index(".venv/bin/python main.py --review")
    assert lines[synth + 1] == f".venv/bin/python -m tools.cost cdktf.out/stacks{expected}"
