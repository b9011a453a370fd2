"""tools.adopt: what an interrupted apply created but could not record goes into state, if it is ours.

The Terraform runs are recorded by a stand-in runner here; the real import through the scratch configuration,
against the emulator after a real interrupt, is tests/e2e/test_cdktf_cli.py.
"""

from __future__ import annotations

import json
from pathlib import Path

from tools.adopt import ADOPTABLE, Candidate, adopt, candidates, scratch_configuration

TAGS = {"Project": "japancart", "Environment": "dev", "ManagedBy": "cdktf"}
DOCUMENT = {
    "terraform": {
        "backend": {"s3": {"bucket": "b", "key": "japancart/dev/terraform.tfstate"}},
        "required_providers": {
            "aws": {"source": "hashicorp/aws", "version": "~> 5.99"},
            "random": {"source": "hashicorp/random"},
        },
    },
    "provider": {
        "aws": [
            {"region": "ap-northeast-1", "default_tags": [{"tags": TAGS}]},
            {"alias": "other", "region": "us-east-1"},
        ]
    },
    "resource": {
        "aws_kinesis_stream": {
            "stream_A": {"name": "japancart-dev-transactions", "kms_key_id": "${aws_kms_key.k.arn}"},
            "computed_B": {"name": "${var.name}"},
        },
        "aws_sqs_queue": {"dlq": {"name": "japancart-dev-dlq"}},
    },
}


def stack(tmp_path: Path) -> Path:
    (tmp_path / "cdk.tf.json").write_text(json.dumps(DOCUMENT), encoding="utf-8")
    (tmp_path / ".terraform.lock.hcl").write_text("# lock\n", encoding="utf-8")
    return tmp_path


class Runner:
    """Answers `terraform` calls from a script keyed by subcommand, and records them with the scratch config."""

    def __init__(self, answers: dict[str, tuple[int, str]]) -> None:
        self.answers = answers
        self.calls: list[tuple[list[str], dict[str, str], dict]] = []

    def __call__(self, args: list[str], env: dict[str, str]) -> tuple[int, str]:
        work = Path(args[0].removeprefix("-chdir="))
        config = json.loads((work / "main.tf.json").read_text())
        assert (work / ".terraform.lock.hcl").read_text() == "# lock\n"
        self.calls.append((args[1:], env, config))
        return self.answers[args[1]]


def pulled(tags: dict[str, str]) -> str:
    return json.dumps(
        {
            "resources": [
                {
                    "mode": "managed",
                    "type": "aws_kinesis_stream",
                    "name": "stream_A",
                    "instances": [{"attributes": {"name": "japancart-dev-transactions", "tags_all": tags}}],
                }
            ]
        }
    )


def test_candidates_are_literal_names_of_types_whose_provider_records_the_id_late() -> None:
    assert set(ADOPTABLE) == {"aws_kinesis_stream"}
    assert candidates(DOCUMENT) == [Candidate("aws_kinesis_stream", "stream_A", "japancart-dev-transactions")]


def test_scratch_configuration_holds_the_backend_the_provider_and_only_the_import_id() -> None:
    config = scratch_configuration(DOCUMENT, candidates(DOCUMENT)[0])
    assert config == {
        "terraform": {
            "backend": DOCUMENT["terraform"]["backend"],
            "required_providers": {"aws": {"source": "hashicorp/aws", "version": "~> 5.99"}},
        },
        "provider": {"aws": [DOCUMENT["provider"]["aws"][0]]},
        "resource": {"aws_kinesis_stream": {"stream_A": {"name": "japancart-dev-transactions"}}},
    }


def test_an_object_with_this_stacks_tags_is_adopted(tmp_path: Path) -> None:
    runner = Runner({"import": (0, "Import successful!"), "state": (0, pulled({**TAGS, "Name": "x"}))})
    adopted, problems = adopt(stack(tmp_path), runner)
    assert (adopted, problems) == (["aws_kinesis_stream.stream_A (japancart-dev-transactions)"], [])
    (import_args, env, _), (pull_args, _, _) = runner.calls
    assert import_args == [
        "import",
        "-input=false",
        "-no-color",
        "aws_kinesis_stream.stream_A",
        "japancart-dev-transactions",
    ]
    assert pull_args == ["state", "pull"]
    assert env == {"TF_DATA_DIR": str((tmp_path / ".terraform").resolve())}  # the stack's own init: same state
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".adopt-")], "the scratch directory is removed"


def test_an_object_without_this_stacks_tags_is_let_go(tmp_path: Path) -> None:
    runner = Runner({"import": (0, "Import successful!"), "state": (0, pulled({"Project": "someone-else"}))})
    adopted, problems = adopt(stack(tmp_path), runner)
    assert adopted == [] and len(problems) == 1
    assert problems[0].startswith("japancart-dev-transactions exists without this stack's tags, so it was not adopted")
    assert runner.calls[-1][0] == ["state", "rm", "-no-color", "aws_kinesis_stream.stream_A"]


def test_nothing_to_adopt_when_managed_or_absent(tmp_path: Path) -> None:
    for output in (
        "Error: Resource already managed by Terraform",
        "Error: Cannot import non-existent remote object",
        'aws_kinesis_stream.stream_A: Importing from ID "japancart-dev-transactions"...\n\nError: couldn\'t find resource',
    ):
        runner = Runner({"import": (1, output)})
        assert adopt(stack(tmp_path), runner) == ([], [])
        assert [call[0][0] for call in runner.calls] == ["import"]


def test_another_import_failure_is_reported_in_one_line(tmp_path: Path) -> None:
    runner = Runner(
        {"import": (1, "Initializing...\nError: error configuring S3 Backend: no valid credential sources\n\nmore")}
    )
    assert adopt(stack(tmp_path), runner) == (
        [],
        [
            "could not check aws_kinesis_stream.stream_A (japancart-dev-transactions): "
            "Error: error configuring S3 Backend: no valid credential sources"
        ],
    )
