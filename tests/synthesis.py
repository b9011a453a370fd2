"""Synthesize the app for tests and query the JSON by resource type and properties."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from processor.contract import ENVIRONMENTS
from tools.operator_config import write_filled_config

ROOT = Path(__file__).resolve().parent.parent
#: What an operator puts in place of the shipped placeholders: the state bucket, one account per environment
#: (the supported layout) plus the bucket's account (moto's default account, so the emulator's default
#: credentials are that account's operator), the GitHub repository.
TEST_STATE_BUCKET = "japancart-terraform-state"
TEST_ACCOUNTS = {"backend": "123456789012", "dev": "210987654321", "staging": "309876543210", "prod": "408765432109"}
TEST_REPOSITORY = "acme-payments/japancart-infrastructure"
TEST_REPOSITORY_ID = 700000001
#: The shipped configuration filled in with those (git-ignored, rewritten by every test session).
TEST_CONFIG = write_filled_config(
    ROOT / "build" / "test-config" / "environments.toml",
    bucket=TEST_STATE_BUCKET,
    accounts=TEST_ACCOUNTS,
    repository=TEST_REPOSITORY,
    repository_id=TEST_REPOSITORY_ID,
)
#: Every stack that configuration synthesizes (every known environment, one CI stack per account). Spelled
#: out: importing stacks/ here would start jsii in every test session (tests/test_stacks.py checks they agree).
STACK_NAMES = ("bootstrap", *(f"ci-{TEST_ACCOUNTS[env]}" for env in ENVIRONMENTS), *ENVIRONMENTS)


def state_key_arn(stack: str, account: str = TEST_ACCOUNTS["backend"]) -> str:
    """A distinct, well-formed key ARN per stack, as the bootstrap stack's output state_key_arns lists them."""
    digits = "".join(f"{ord(c):02x}" for c in stack)[-12:].rjust(12, "0")
    return f"arn:aws:kms:ap-northeast-1:{account}:key/0a1b2c3d-4e5f-4a6b-8c7d-{digits}"


#: The bootstrap stack's output state_key_arns for every stack (and the stacks of the tests' own configurations).
TEST_STATE_KEYS = {
    stack: state_key_arn(stack) for stack in (*STACK_NAMES, *(f"ci-{a}" for a in TEST_ACCOUNTS.values()))
}
TEST_BACKEND = {
    "JAPANCART_CONFIG": str(TEST_CONFIG),
    "JAPANCART_STATE_BUCKET": TEST_STATE_BUCKET,
    "JAPANCART_STATE_KEYS": json.dumps(TEST_STATE_KEYS),
}


#: The account every AWS provider of a test stack pins (contract 1: `allowed_account_ids`).
TEST_ACCOUNT = "111122223333"


def contract_conforming(document: dict[str, Any]) -> dict[str, Any]:
    """A copy of a synthesized stack as the issue-16 workstream contracts leave it: every AWS provider pins its
    account (contract 1, workstream E) and hashicorp/random is gone (contract 3, workstream B). Once both are
    merged this changes nothing; the policy gate's tests start from it so each refusal is tested on its own."""
    document = copy.deepcopy(document)
    for body in document.get("provider", {}).get("aws", []):
        body.setdefault("allowed_account_ids", [TEST_ACCOUNT])
    document["terraform"].get("required_providers", {}).pop("random", None)
    document.get("provider", {}).pop("random", None)
    document.get("resource", {}).pop("random_password", None)
    return document


def leaf_attributes(node: Any, key: str = "") -> Iterator[tuple[str, Any]]:
    """Every scalar in a JSON document with the name of the attribute that holds it (list items keep the
    list's name), for checks over whole stacks such as "no attribute named like a password holds a value"."""
    if isinstance(node, dict):
        for name, value in node.items():
            yield from leaf_attributes(value, name)
    elif isinstance(node, list):
        for value in node:
            yield from leaf_attributes(value, key)
    else:
        yield key, node


def synth_stacks(outdir: Path, environ: dict[str, str] | None = None) -> dict[str, dict[str, Any]]:
    """Synthesize the app from the (default or given) configuration; return each stack's JSON."""
    from stacks.app import synthesize
    from stacks.config import load_config

    synthesize(load_config({**TEST_BACKEND, **(environ or {})}), str(outdir))
    return {path.name: json.loads((path / "cdk.tf.json").read_text()) for path in (outdir / "stacks").iterdir()}


class StackView:
    """Query helpers over one synthesized stack: match by type and properties, never by logical id."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document

    def resources(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return self.document.get("resource", {}).get(resource_type, {})

    def data(self, data_type: str) -> dict[str, dict[str, Any]]:
        return self.document.get("data", {}).get(data_type, {})

    def find(self, resource_type: str, **properties: Any) -> list[tuple[str, dict[str, Any]]]:
        return [
            (key, body)
            for key, body in self.resources(resource_type).items()
            if all(body.get(k) == v for k, v in properties.items())
        ]

    def one(self, resource_type: str, **properties: Any) -> tuple[str, dict[str, Any]]:
        matches = self.find(resource_type, **properties)
        assert len(matches) == 1, f"expected one {resource_type} with {properties}, found {len(matches)}"
        return matches[0]

    def key_ref(self, data_class: str, attribute: str = "arn") -> str:
        """Reference to the KMS key of `data_class` (`data`, `secrets`, `logs`), found through its alias."""
        ((_, alias),) = [
            (k, a) for k, a in self.resources("aws_kms_alias").items() if a["name"].endswith(f"-{data_class}")
        ]
        key = alias["target_key_id"].split(".")[1]
        return self.ref("aws_kms_key", key, attribute)

    def key_body(self, data_class: str) -> dict[str, Any]:
        return self.resources("aws_kms_key")[self.key_ref(data_class).split(".")[1]]

    @staticmethod
    def ref(resource_type: str, key: str, attribute: str) -> str:
        return f"${{{resource_type}.{key}.{attribute}}}"

    def __iter__(self) -> Iterator[tuple[str, str, dict[str, Any]]]:
        for resource_type, items in self.document.get("resource", {}).items():
            for key, body in items.items():
                yield resource_type, key, body
