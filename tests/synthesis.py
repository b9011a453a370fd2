"""Synthesize the app for tests and query the JSON by resource type and properties."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

from processor.config import ENVIRONMENTS

ROOT = Path(__file__).resolve().parent.parent
#: Every stack the shipped configuration synthesizes (it configures every known environment). The name
#: of stacks.app.BOOTSTRAP is spelled out: importing stacks/ here would start jsii in every test session
#: (tests/test_stacks.py checks the two agree).
STACK_NAMES = ("bootstrap", *ENVIRONMENTS)
#: What an operator sets instead of the shipped placeholder bucket, and the bootstrap stack's key ARN.
TEST_STATE_BUCKET = "japancart-terraform-state"
TEST_STATE_KEY_ARN = "arn:aws:kms:ap-northeast-1:111122223333:key/0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
TEST_BACKEND = {"JAPANCART_STATE_BUCKET": TEST_STATE_BUCKET, "JAPANCART_STATE_KMS_KEY_ID": TEST_STATE_KEY_ARN}


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
        return [(key, body) for key, body in self.resources(resource_type).items()
                if all(body.get(k) == v for k, v in properties.items())]

    def one(self, resource_type: str, **properties: Any) -> tuple[str, dict[str, Any]]:
        matches = self.find(resource_type, **properties)
        assert len(matches) == 1, f"expected one {resource_type} with {properties}, found {len(matches)}"
        return matches[0]

    def key_ref(self, data_class: str, attribute: str = "arn") -> str:
        """Reference to the KMS key of `data_class` (`data`, `secrets`, `logs`), found through its alias."""
        (_, alias), = [(k, a) for k, a in self.resources("aws_kms_alias").items()
                       if a["name"].endswith(f"-{data_class}")]
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
