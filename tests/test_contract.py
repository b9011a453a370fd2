"""The seam between the stacks and the Lambda (processor/contract.py), checked end to end.

Each shipped environment is synthesized (the session's `stacks` fixture) and each function of the zip gets its
synthesized `environment.variables` parsed by the runtime's own parser, as Lambda would hand them over. A
variable renamed, dropped or mis-valued on one side only fails here. Terraform references (`${aws_...}`) have
no value at synth time: `Deployed` puts in what AWS would (an ARN, a host name) for the resource the reference
names, so the shape the runtime checks is the real one; AWS_REGION is what Lambda itself sets.
"""

from __future__ import annotations

import ast
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from processor import contract as c
from processor.config import maintainer_db_settings, master_db_settings, settings_from_env
from processor.metrics import conflict_documents, rule_hit_documents
from stacks.config import EnvironmentConfig, load_config
from synthesis import TEST_BACKEND

MASTER_PASSWORD = "not-a-real-password"
_REFERENCE = re.compile(r"\$\{(aws_[a-z0-9_]+)\.([A-Za-z0-9_-]+)\.([a-z0-9_\[\].]+)\}")
# The connection secret's value: `${jsonencode({"key" = value, ...})}` with values literal or references.
_SECRET_PAIR = re.compile(r'"(\w+)" = ("[^"]*"|[^,}]+)')


@dataclass(frozen=True)
class Deployed:
    """One synthesized environment as AWS would resolve its references."""

    document: dict[str, Any]
    env: EnvironmentConfig

    def resource(self, resource_type: str, name: str) -> dict[str, Any]:
        return self.document["resource"][resource_type][name]

    def value(self, reference: str) -> str:
        """What the reference `${type.name.attribute}` holds once applied (a literal is itself)."""
        match = _REFERENCE.fullmatch(reference)
        if match is None:
            assert "${" not in reference, f"unexpected expression {reference!r}"
            return reference
        resource_type, name, attribute = match.groups()
        body = self.resource(resource_type, name)  # a KeyError here: the reference names no resource
        region, account = self.env.region, self.env.account_id
        resolved = {
            ("aws_kinesis_stream", "arn"): lambda: f"arn:aws:kinesis:{region}:{account}:stream/{body['name']}",
            ("aws_secretsmanager_secret", "arn"): lambda: (
                f"arn:aws:secretsmanager:{region}:{account}:secret:{body['name']}-AbC123"
            ),
            ("aws_elasticache_replication_group", "primary_endpoint_address"): lambda: (
                f"master.{body['replication_group_id']}.abc123.apne1.cache.amazonaws.com"
            ),
            ("aws_db_instance", "address"): lambda: f"{body['identifier']}.abc123.{region}.rds.amazonaws.com",
            ("aws_db_instance", "port"): lambda: "5432",
            ("aws_db_instance", "master_user_secret[0].secret_arn"): lambda: (
                f"arn:aws:secretsmanager:{region}:{account}:secret:rds!db-0123-AbC123"
            ),
        }.get((resource_type, attribute))
        assert resolved is not None, f"no deployed value known for {reference}: teach Deployed.value"
        return resolved()

    def function(self, handler: str) -> dict[str, str]:
        """The environment Lambda hands the function with `handler`: its variables, resolved, plus the region."""
        (body,) = [f for f in self.document["resource"]["aws_lambda_function"].values() if f["handler"] == handler]
        variables = {name: self.value(value) for name, value in body["environment"]["variables"].items()}
        return {**variables, "AWS_REGION": self.env.region}

    def secrets(self) -> dict[str, str]:
        """Secrets Manager as the functions read it: the connection secret (as the database construct writes it)
        under its ARN, and the RDS-managed master secret it points to."""
        (version,) = self.document["resource"]["aws_secretsmanager_secret_version"].values()
        secret_ref = version["secret_id"].replace(".id}", ".arn}")
        connection = {
            key: json.loads(raw) if raw.startswith('"') else self.value(f"${{{raw.strip()}}}")
            for key, raw in _SECRET_PAIR.findall(version["secret_string"])
        }
        master = {"username": connection["username"], "password": MASTER_PASSWORD}
        return {
            self.value(secret_ref): json.dumps(connection),
            connection[c.SECRET_PASSWORD_SECRET_ARN]: json.dumps(master),
        }


@pytest.fixture(scope="module", params=c.ENVIRONMENTS)
def deployed(request: pytest.FixtureRequest, stacks: dict[str, dict[str, Any]]) -> Deployed:
    (env,) = [e for e in load_config(TEST_BACKEND).environments if e.name == request.param]
    return Deployed(stacks[env.name], env)


def test_every_function_of_the_zip_has_a_contract_entry_point(deployed: Deployed) -> None:
    handlers = sorted(f["handler"] for f in deployed.document["resource"]["aws_lambda_function"].values())
    assert handlers == sorted((c.PROCESSOR_HANDLER, c.MIGRATION_HANDLER, c.MAINTENANCE_HANDLER))


def test_the_processor_parses_its_synthesized_environment(deployed: Deployed) -> None:
    env, config = deployed.function(c.PROCESSOR_HANDLER), deployed.env
    settings = settings_from_env(env, deployed.secrets().__getitem__)
    rules = config.processor
    assert (
        settings.thresholds.max_txns_per_hour,
        settings.thresholds.max_daily_total,
        settings.thresholds.max_single_amount,
    ) == (rules.rule_max_txns_per_hour, rules.rule_max_daily_total, rules.rule_max_single_amount)
    assert settings.history_ttl_seconds == rules.history_ttl_seconds
    assert settings.environment == config.name and settings.metric_namespace == c.METRIC_NAMESPACE
    (stream,) = deployed.document["resource"]["aws_kinesis_stream"].values()
    assert settings.stream_arn == f"arn:aws:kinesis:{config.region}:{config.account_id}:stream/{stream['name']}"
    assert (settings.db.username, settings.db.auth) == (c.APP_DB_USER, c.AUTH_IAM)
    (group,) = deployed.document["resource"]["aws_elasticache_replication_group"].values()
    assert settings.redis.cache_name == group["replication_group_id"]
    assert settings.redis.username == c.redis_app_user(group["replication_group_id"])
    assert (settings.redis.port, settings.redis.auth) == (group["port"], c.AUTH_IAM)


def test_the_maintenance_function_signs_in_as_the_maintainer(deployed: Deployed) -> None:
    db = maintainer_db_settings(deployed.function(c.MAINTENANCE_HANDLER), deployed.secrets().__getitem__)
    assert (db.username, db.auth) == (c.MAINTAINER_DB_USER, c.AUTH_IAM)


def test_the_migration_function_signs_in_as_the_master(deployed: Deployed) -> None:
    db = master_db_settings(deployed.function(c.MIGRATION_HANDLER), deployed.secrets().__getitem__)
    assert (db.username, db.password) == (deployed.env.database.master_username, MASTER_PASSWORD)


def test_the_processor_alarms_watch_the_metrics_it_emits(deployed: Deployed) -> None:
    """Each alarm on the processor's namespace matches a metric (name and dimensions) its EMF lines declare."""
    documents = [
        *rule_hit_documents(c.METRIC_NAMESPACE, deployed.env.name, ["any-rule"], 0),
        *conflict_documents(c.METRIC_NAMESPACE, deployed.env.name, 1, 0),
    ]
    emitted = {
        (
            d["_aws"]["CloudWatchMetrics"][0]["Namespace"],
            metric["Name"],
            json.dumps({name: d[name] for name in dimensions}, sort_keys=True),
        )
        for d in documents
        for metric in d["_aws"]["CloudWatchMetrics"][0]["Metrics"]
        for dimensions in d["_aws"]["CloudWatchMetrics"][0]["Dimensions"]
    }
    alarms = [
        (a["namespace"], a["metric_name"], json.dumps(a["dimensions"], sort_keys=True))
        for a in deployed.document["resource"]["aws_cloudwatch_metric_alarm"].values()
        if a.get("namespace") == c.METRIC_NAMESPACE
    ]
    assert len(alarms) == 2 and set(alarms) <= emitted


def test_the_contract_imports_nothing_but_the_standard_library() -> None:
    """It ships in the Lambda zip and is imported at synth time: neither side's dependencies may come with it."""
    tree = ast.parse(Path(c.__file__).read_text(encoding="utf-8"))
    modules = {
        alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names
    }
    modules |= {
        node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module
    }
    assert modules and modules <= set(sys.stdlib_module_names) | {"__future__"}
