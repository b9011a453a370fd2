"""The policy gate: what a synthesized stack may contain, checked before Terraform runs on it.

Usage::

    python -m tools.policy_gate cdktf.out/stacks [--policy tools/policy_allowlist.toml]      (make policy-gate)
    python tools/policy_gate.py --cli-config "$RUNNER_TEMP/terraform.rc"

CI runs the first form before every ``terraform init`` (pull-request plans: the BASE branch's copy of this file
and of the allow-list, so a pull request cannot loosen its own gate; deploy preview and apply: the deployed
commit's). The second form writes a Terraform CLI configuration whose ``provider_installation`` block installs
only the allow-listed providers: the same list, so a provider the gate did not see cannot be installed either.

Each stack is a directory holding ``cdk.tf.json``. Refused, one line per finding
(``<stack>: <resource or block>: <what is refused>``):

* provisioners (``local-exec``, ``remote-exec``, ``file``, any other) and ``connection`` blocks on any
  resource, ``removed`` block or data source: they run commands on the machine that holds the credentials;
* data sources outside the allow-list, ``external`` above all (it runs a program at plan time, next to the
  plan role);
* providers outside the allow-list: ``required_providers`` sources, ``provider`` blocks (aliases too) and the
  ``provider`` meta-argument of resources and data sources;
* backend and provider overrides: a backend other than ``s3`` (the bootstrap stack's phase-1 ``local`` backend
  at its documented path is the one exception) or a ``cloud`` block; ``endpoints`` and any other endpoint
  setting, any ``skip_*``, static credentials, ``profile`` / ``shared_*_files``, ``assume_role*`` with a role
  the allow-list does not name (it names none), any setting not on the short list below; an AWS provider
  without ``allowed_account_ids`` naming exactly one 12-digit account, as a literal (every provider pins the
  account it may change);
* modules, from any source;
* resource types outside the allow-list (a new type is a reviewed change of ``tools/policy_allowlist.toml``);
* the file functions (``file()``, ``templatefile()``, ``fileset()``, ``filebase64()``, ...) in any expression:
  a plan can print what they read, e.g. ``/proc/self/environ`` with the job's credentials;
* any top-level block other than ``terraform``, ``provider``, ``resource``, ``data``, ``output``, ``locals``,
  ``variable``, ``moved``, ``import``, ``removed`` (``check`` and ``ephemeral`` blocks read at plan time too);
* a JSON key written twice in one object (Terraform reads every copy, a JSON parser and a reviewer one);
* a second configuration file in a stack directory (``*.tf``, ``*.tf.json``, ``*.tfvars``, ``terraform.d/``):
  Terraform loads it next to ``cdk.tf.json`` without this gate having read it.

Exit codes: 0 nothing refused (one summary line); 1 findings (one line each, on stdout); 2 unusable input (no
stacks, unreadable JSON, a malformed allow-list): one error line on stderr naming the file.
Standard library only: CI runs it from a bare checkout of ``tools/`` without installing anything.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tomllib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

EXIT_PASS = 0
EXIT_REFUSED = 1
EXIT_INVALID_INPUT = 2

DEFAULT_POLICY = Path(__file__).resolve().with_name("policy_allowlist.toml")
STACK_FILE = "cdk.tf.json"
DEFAULT_REGISTRY = "registry.terraform.io"

TOP_LEVEL_BLOCKS = frozenset(
    {"//", "terraform", "provider", "resource", "data", "output", "locals", "variable", "moved", "import", "removed"}
)
TERRAFORM_SETTINGS = frozenset({"//", "backend", "required_providers", "required_version"})
#: Settings an AWS provider block may have; anything else is an override a reviewer must see in this file first.
AWS_PROVIDER_SETTINGS = frozenset({"//", "alias", "region", "default_tags", "ignore_tags", "allowed_account_ids"})
#: Settings of the S3 backend: where the state is, its key and lock; nothing about how to reach AWS.
S3_BACKEND_SETTINGS = frozenset(
    {"bucket", "key", "region", "encrypt", "kms_key_id", "use_lockfile", "allowed_account_ids", "workspace_key_prefix"}
)
LOCAL_BACKEND_SETTINGS = frozenset({"path"})
STATIC_CREDENTIALS = frozenset({"access_key", "secret_key", "token", "sse_customer_key"})
CREDENTIAL_FILES = frozenset({"profile", "shared_config_files", "shared_credentials_files", "shared_credentials_file"})
ACCOUNT_ID = re.compile(r"\d{12}")
FILE_FUNCTIONS = re.compile(
    r"\b(file|fileexists|fileset|filebase64|filebase64sha256|filebase64sha512|filemd5|filesha1|"
    r"filesha256|filesha512|templatefile)\s*\("
)
#: Files Terraform reads from its working directory besides cdk.tf.json.
TERRAFORM_FILE = re.compile(r".*\.(tf|tf\.json|tofu|tofu\.json|tfvars|tfvars\.json)$")


class PolicyInputError(ValueError):
    """A stack or the allow-list is unusable; the message names the file (and the field)."""


@dataclass(frozen=True)
class Policy:
    """The allow-list: normalised provider sources, resource and data source types, backend exceptions, roles."""

    providers: frozenset[str]
    resources: frozenset[str]
    data_sources: frozenset[str]
    local_backends: Mapping[str, str]
    assume_role_arns: frozenset[str]


# ---------------------------------------------------------------------------------------------------------
# The allow-list
# ---------------------------------------------------------------------------------------------------------
def normalise_source(source: str) -> str:
    """``hashicorp/aws`` -> ``registry.terraform.io/hashicorp/aws`` (Terraform compares sources case-insensitively)."""
    parts = source.strip().lower().split("/")
    return "/".join([DEFAULT_REGISTRY, *parts] if len(parts) == 2 else parts)


def display_source(source: str) -> str:
    """A normalised source as people write it: the default registry's host left out."""
    return source.removeprefix(f"{DEFAULT_REGISTRY}/")


def _reasons(path: Path, document: Mapping[str, Any], table: str) -> dict[str, str]:
    """A table of ``name = "why the project needs it"``; every entry must say why."""
    entries = document.get(table, {})
    if not isinstance(entries, dict):
        raise PolicyInputError(f'{path}: [{table}] must be a table of name = "reason"')
    for name, reason in entries.items():
        if not isinstance(reason, str) or not reason.strip():
            raise PolicyInputError(
                f"{path}: [{table}] {name} must say why it is allowed (a non-empty string), not {reason!r}"
            )
    return entries


def load_policy(path: Path = DEFAULT_POLICY) -> Policy:
    """Read and validate the allow-list (an unknown table is refused: a typo must not silently allow nothing)."""
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise PolicyInputError(f"{path}: cannot read the allow-list: {error}") from None
    unknown = set(document) - {"providers", "resources", "data_sources", "backends", "assume_role"}
    if unknown:
        raise PolicyInputError(f"{path}: unknown table(s) {', '.join(sorted(unknown))}")
    providers = _reasons(path, document, "providers")
    if not providers:
        raise PolicyInputError(f"{path}: [providers] is empty: nothing could be planned")
    for source in providers:
        if len(source.split("/")) not in (2, 3):
            raise PolicyInputError(f"{path}: [providers] {source!r} is not a provider source (namespace/type)")
    local = document.get("backends", {}).get("local", {})
    if not isinstance(local, dict) or not all(isinstance(v, str) and v for v in local.values()):
        raise PolicyInputError(f"{path}: [backends] local must map a stack name to its local state path")
    roles = document.get("assume_role", {}).get("role_arns", [])
    if not isinstance(roles, list) or not all(isinstance(r, str) and r.startswith("arn:") for r in roles):
        raise PolicyInputError(f"{path}: [assume_role] role_arns must be a list of role ARNs, not {roles!r}")
    return Policy(
        providers=frozenset(normalise_source(s) for s in providers),
        resources=frozenset(_reasons(path, document, "resources")),
        data_sources=frozenset(_reasons(path, document, "data_sources")),
        local_backends=dict(local),
        assume_role_arns=frozenset(roles),
    )


def cli_config(policy: Policy) -> str:
    """A Terraform CLI configuration that installs exactly the allow-listed providers, from their registry."""
    include = ", ".join(f'"{source}"' for source in sorted(policy.providers))
    return (
        "# Written by tools/policy_gate.py --cli-config from tools/policy_allowlist.toml.\n"
        f"provider_installation {{\n  direct {{\n    include = [{include}]\n  }}\n}}\n"
    )


# ---------------------------------------------------------------------------------------------------------
# Reading a stack
# ---------------------------------------------------------------------------------------------------------
def _entries(value: Any) -> Iterator[tuple[str, Any]]:
    """(key, body) of a JSON block map, which HCL's JSON syntax also lets one write as a list of maps."""
    if isinstance(value, dict):
        yield from ((k, v) for k, v in value.items() if k != "//")
    elif isinstance(value, list):
        for item in value:
            yield from _entries(item)


def _bodies(value: Any) -> Iterator[dict[str, Any]]:
    """The block bodies of one label: an object, or a list of objects (cdktf writes provider blocks that way)."""
    if isinstance(value, dict):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from _bodies(item)


def read_stack(path: Path) -> tuple[dict[str, Any], list[str]]:
    """The stack's JSON, and the JSON paths of every key written twice in one object."""
    duplicates: list[str] = []

    def unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: dict[str, Any] = {}
        for key, value in pairs:
            if key in seen and key != "//":
                duplicates.append(key)
            seen[key] = value
        return seen

    try:
        document = json.loads(path.read_text(encoding="utf-8"), object_pairs_hook=unique)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise PolicyInputError(f"{path}: not readable as JSON: {error}") from None
    if not isinstance(document, dict):
        raise PolicyInputError(f"{path}: the top level must be a JSON object")
    return document, duplicates


# ---------------------------------------------------------------------------------------------------------
# The checks (each returns (address, what is refused) pairs)
# ---------------------------------------------------------------------------------------------------------
Finding = tuple[str, str]


def _terraform_bodies(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The terraform block(s): HCL's JSON syntax lets one write several, as a list."""
    return list(_bodies(document.get("terraform", {})))


def _provider_sources(document: Mapping[str, Any]) -> dict[str, str]:
    """Local provider name -> normalised source, from required_providers (a name not listed is hashicorp/<name>)."""
    sources = {}
    requirements = [_entries(body.get("required_providers", {})) for body in _terraform_bodies(document)]
    for name, requirement in (entry for entries in requirements for entry in entries):
        source = requirement.get("source") if isinstance(requirement, dict) else None
        sources[name] = normalise_source(source if isinstance(source, str) else f"hashicorp/{name}")
    return sources


def _source_of(local_name: str, sources: Mapping[str, str]) -> str:
    return sources.get(local_name, normalise_source(f"hashicorp/{local_name}"))


def _settings(body: Mapping[str, Any], allowed: frozenset[str], policy: Policy) -> Iterator[str]:
    """What is refused among the settings of a provider or backend block."""
    for key in sorted(body):
        value = body[key]
        if key.startswith("assume_role"):
            arns = [b.get("role_arn") for b in _bodies(value)] or [None]
            refused = [arn for arn in arns if arn not in policy.assume_role_arns]
            if refused:
                yield (
                    f"{key} is refused: role {refused[0]} is not in [assume_role] role_arns of the allow-list "
                    f"({', '.join(sorted(policy.assume_role_arns)) or 'none allowed'})"
                )
        elif key in allowed:
            continue
        elif "endpoint" in key:
            yield f"{key} is refused (sends API calls to another host)"
        elif key.startswith("skip_"):
            yield f"{key} is refused (turns off a check of the credentials, region or account)"
        elif key in STATIC_CREDENTIALS:
            yield f"{key} is refused (static credentials in the configuration)"
        elif key in CREDENTIAL_FILES:
            yield f"{key} is refused (credentials from a local profile or file)"
        else:
            yield f"{key} is not an allowed setting"
    if "allowed_account_ids" in body and "allowed_account_ids" in allowed:
        ids = body["allowed_account_ids"]
        if not (isinstance(ids, list) and len(ids) == 1 and isinstance(ids[0], str) and ACCOUNT_ID.fullmatch(ids[0])):
            yield f"allowed_account_ids must name exactly one 12-digit account id, not {json.dumps(ids)}"


def check_terraform_block(stack: str, document: Mapping[str, Any], policy: Policy) -> Iterator[Finding]:
    """The terraform block: known settings only, an allowed backend, allowed provider sources."""
    bodies = _terraform_bodies(document)
    for key in sorted({key for body in bodies for key in body} - TERRAFORM_SETTINGS):
        reason = "refused (state and runs elsewhere)" if key == "cloud" else "is not an allowed setting"
        yield f"terraform.{key}", reason
    backends = [backend for body in bodies for backend in _entries(body.get("backend", {}))]
    if not backends:
        yield "terraform.backend", "none: the state would stay on the machine that ran Terraform"
    for kind, body in backends:
        address = f"backend {kind}"
        if kind == "local" and stack in policy.local_backends:
            for key in sorted(set(body) - LOCAL_BACKEND_SETTINGS):
                yield address, f"{key} is not an allowed setting"
            if body.get("path") != policy.local_backends[stack]:
                yield (
                    address,
                    (
                        f"path {body.get('path')!r} is not the documented {policy.local_backends[stack]!r} "
                        f"([backends] local of the allow-list)"
                    ),
                )
        elif kind != "s3":
            yield address, "refused: state is kept in S3 (only the bootstrap stack's phase 1 keeps it locally)"
        else:
            for reason in _settings(body, S3_BACKEND_SETTINGS, policy):
                yield address, reason
    for name, source in _provider_sources(document).items():
        if source not in policy.providers:
            yield f"required_providers.{name}", f"{display_source(source)} is not on the provider allow-list"


def check_providers(document: Mapping[str, Any], policy: Policy) -> Iterator[Finding]:
    """Every provider block: an allowed source; an AWS provider pins its account and overrides nothing."""
    sources = _provider_sources(document)
    for name, value in _entries(document.get("provider", {})):
        source = _source_of(name, sources)
        for body in _bodies(value):
            address = f"provider {name}" + (f".{body['alias']}" if isinstance(body.get("alias"), str) else "")
            if source not in policy.providers:
                yield address, f"{display_source(source)} is not on the provider allow-list"
                continue
            if source == normalise_source("hashicorp/aws"):
                if "allowed_account_ids" not in body:
                    yield address, "no allowed_account_ids (every AWS provider pins the account it may change)"
                for reason in _settings(body, AWS_PROVIDER_SETTINGS, policy):
                    yield address, reason


def _provisioners(address: str, body: Mapping[str, Any]) -> Iterator[Finding]:
    for provisioner in _bodies(body.get("provisioner", [])):
        for kind in sorted(k for k in provisioner if k != "//"):
            yield address, f"provisioner {kind} is refused (runs a command where Terraform runs)"
    if "connection" in body:
        yield address, "connection is refused (provisioners' remote access)"


def _meta_provider(
    address: str, body: Mapping[str, Any], sources: Mapping[str, str], policy: Policy
) -> Iterator[Finding]:
    reference = body.get("provider")
    if isinstance(reference, str):
        source = _source_of(reference.split(".")[0], sources)
        if source not in policy.providers:
            yield address, f"provider {reference} ({display_source(source)}) is not on the provider allow-list"


def check_blocks(document: Mapping[str, Any], policy: Policy) -> Iterator[Finding]:
    """Top-level block types, modules, resources, data sources and removed blocks."""
    sources = _provider_sources(document)
    for key in sorted(set(document) - TOP_LEVEL_BLOCKS):
        if key == "module":
            for name, value in _entries(document["module"]):
                found = [b.get("source") for b in _bodies(value)]
                yield f"module.{name}", f"modules are refused (source {found[0] if found else None!r})"
        else:
            yield key, f"block type {key} is not allowed"
    for resource_type, instances in _entries(document.get("resource", {})):
        for name, value in _entries(instances):
            address = f"{resource_type}.{name}"
            if resource_type not in policy.resources:
                yield address, f"resource type {resource_type} is not on the allow-list"
            for body in _bodies(value):
                yield from _provisioners(address, body)
                yield from _meta_provider(address, body, sources, policy)
    for data_type, instances in _entries(document.get("data", {})):
        for name, value in _entries(instances):
            address = f"data.{data_type}.{name}"
            if data_type == "external":
                yield address, "data source external is refused (runs a program at plan time)"
            elif data_type not in policy.data_sources:
                yield address, f"data source type {data_type} is not on the allow-list"
            for body in _bodies(value):
                yield from _provisioners(address, body)
                yield from _meta_provider(address, body, sources, policy)
    for body in _bodies(document.get("removed", [])):
        yield from _provisioners(f"removed {body.get('from')}", body)
    for body in _bodies(document.get("import", [])):
        yield from _meta_provider(f"import {body.get('to')}", body, sources, policy)


def _address(path: tuple[str, ...]) -> str:
    """A readable address for a JSON path: ``resource.T.N...`` -> ``T.N``, ``data.T.N`` -> ``data.T.N``."""
    head, rest = path[0], path[1:]
    if head == "resource" and len(rest) >= 2:
        return f"{rest[0]}.{rest[1]}"
    if head == "data" and len(rest) >= 2:
        return f"data.{rest[0]}.{rest[1]}"
    if head == "provider" and rest:
        return f"provider {rest[0]}"
    if head in ("output", "module", "variable") and rest:
        return f"{head}.{rest[0]}"
    if head == "locals" and rest:
        return f"local.{rest[0]}"
    return head


def check_expressions(document: Mapping[str, Any]) -> Iterator[Finding]:
    """The file functions, in any expression of any block."""
    found: dict[tuple[str, str], None] = {}

    def walk(node: Any, path: tuple[str, ...]) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key != "//":
                    walk(value, (*path, key))
        elif isinstance(node, list):
            for value in node:
                walk(value, path)
        elif isinstance(node, str) and path and ("${" in node or "%{" in node):
            for match in FILE_FUNCTIONS.finditer(node):
                found[(_address(path), match.group(1))] = None

    walk(document, ())
    for address, function in found:
        yield address, f"{function}() is refused (reads a file of the machine that runs Terraform)"


def check_stack_directory(directory: Path) -> Iterator[Finding]:
    """Configuration Terraform would load besides cdk.tf.json."""
    for entry in sorted(directory.iterdir()):
        if entry.name == STACK_FILE:
            continue
        if entry.name == "terraform.d" or (entry.is_file() and TERRAFORM_FILE.fullmatch(entry.name)):
            yield f"file {entry.name}", f"refused: Terraform loads it next to {STACK_FILE}, unchecked"


def check_stack(stack: str, document: Mapping[str, Any], policy: Policy, duplicates: Sequence[str] = ()) -> list[str]:
    """Every finding of one stack's JSON, as ``<stack>: <address>: <reason>`` lines."""
    findings: list[Finding] = [
        ("JSON", f"key {key!r} written twice in one object (Terraform reads both)") for key in duplicates
    ]
    findings += check_terraform_block(stack, document, policy)
    findings += check_providers(document, policy)
    findings += check_blocks(document, policy)
    findings += check_expressions(document)
    return [f"{stack}: {address}: {reason}" for address, reason in findings]


def check_directory(stacks_dir: Path, policy: Policy) -> tuple[list[str], list[str]]:
    """(stack names, findings) of every stack directory under ``stacks_dir``."""
    if not stacks_dir.is_dir():
        raise PolicyInputError(f"{stacks_dir}: no such directory (run `make synth` first)")
    directories = sorted(p for p in stacks_dir.iterdir() if p.is_dir())
    if not directories:
        raise PolicyInputError(f"{stacks_dir}: no stack directories in it (run `make synth` first)")
    findings: list[str] = []
    for directory in directories:
        if not (directory / STACK_FILE).is_file():
            raise PolicyInputError(f"{directory}: no {STACK_FILE} (not a synthesized stack)")
        document, duplicates = read_stack(directory / STACK_FILE)
        findings += check_stack(directory.name, document, policy, duplicates)
        findings += [f"{directory.name}: {address}: {reason}" for address, reason in check_stack_directory(directory)]
    return [d.name for d in directories], findings


# ---------------------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------------------
def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tools.policy_gate", description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("stacks", nargs="?", type=Path, help="directory of synthesized stacks (cdktf.out/stacks)")
    parser.add_argument("--policy", type=Path, default=DEFAULT_POLICY, help="the allow-list (default: %(default)s)")
    parser.add_argument(
        "--cli-config",
        type=Path,
        metavar="FILE",
        help="write a Terraform CLI configuration installing only the allow-listed providers",
    )
    args = parser.parse_args(argv)
    if (args.stacks is None) == (args.cli_config is None):
        parser.error("give either a stacks directory or --cli-config FILE")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        policy = load_policy(args.policy)
        if args.cli_config is not None:
            try:
                args.cli_config.write_text(cli_config(policy), encoding="utf-8")
            except OSError as error:
                raise PolicyInputError(f"{args.cli_config}: cannot write the CLI configuration: {error}") from None
            print(f"policy gate: {args.cli_config} installs only {', '.join(sorted(policy.providers))}")
            return EXIT_PASS
        stacks, findings = check_directory(args.stacks, policy)
    except PolicyInputError as error:
        print(f"policy gate: {error}", file=sys.stderr)
        return EXIT_INVALID_INPUT
    if findings:
        print("\n".join(findings))
        return EXIT_REFUSED
    print(f"policy gate: {len(stacks)} stack(s) checked ({', '.join(stacks)}), nothing refused")
    return EXIT_PASS


if __name__ == "__main__":
    sys.exit(main())
