"""Adopt into Terraform state the objects that an interrupted apply created but could not record.

Terraform's graceful stop (one Ctrl-C) asks the provider to cancel what is in flight. Most AWS resources
record their id right after the create call and only then wait for the object to become ready, so a
cancelled wait leaves them in state, tainted (the next apply replaces them). A few record the id only after
the wait: the object exists, the state does not know it, and the next apply fails with "already exists".
``ADOPTABLE`` lists those of the types our stacks use (hashicorp/aws 5.x; a type joins the table when its
provider code is found to do this). ``tools.graceful`` calls ``adopt`` after it stopped a deploy.

``terraform import`` in the stack directory would evaluate the whole configuration against a half-built
state and fail (a reference to a resource not yet created is null), so each candidate (a resource of such
a type, named literally in the stack's ``cdk.tf.json``) is imported through a scratch configuration that
holds the stack's backend and provider and that one resource, run with the stack's own ``.terraform``
(``TF_DATA_DIR``): the same state, nothing applied. "Already managed" and "non-existent remote object" mean
nothing to adopt. An imported object must carry the stack's provider ``default_tags`` (the provider sets
them in the create call), else it is not ours: it is removed from state again and reported, and the next
apply fails on it as before.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

#: type -> the configuration attribute that is the resource's import id.
ADOPTABLE: dict[str, str] = {
    # resourceStreamCreate calls d.SetId(StreamARN) only after waitStreamCreated returns: a stop during that
    # wait (10 s or more) leaves the stream outside state, and CreateStream then fails with ResourceInUse.
    "aws_kinesis_stream": "name",
}

#: What ``terraform import`` answers when there is nothing to adopt: the address is in state already, or the
#: object does not exist (Terraform's own words, or the provider's when its importer reads first, as the
#: Kinesis stream's does).
NOTHING_TO_ADOPT = (
    "Resource already managed by Terraform",
    "Cannot import non-existent remote object",
    "Error: couldn't find resource",
)

#: Runs ``terraform <args>`` with extra environment variables; returns (exit code, combined output).
Terraform = Callable[[list[str], dict[str, str]], tuple[int, str]]


@dataclass(frozen=True)
class Candidate:
    rtype: str
    name: str
    import_id: str

    @property
    def address(self) -> str:
        return f"{self.rtype}.{self.name}"


def candidates(document: dict) -> list[Candidate]:
    """The resources of ``ADOPTABLE`` types whose import id is a literal in the configuration."""
    found = []
    for rtype, attribute in sorted(ADOPTABLE.items()):
        for name, config in sorted((document.get("resource", {}).get(rtype) or {}).items()):
            value = config.get(attribute)
            if isinstance(value, str) and value and "${" not in value:
                found.append(Candidate(rtype, name, value))
    return found


def _aws_provider(document: dict) -> dict:
    return next((p for p in document.get("provider", {}).get("aws", []) if "alias" not in p), {})


def scratch_configuration(document: dict, candidate: Candidate) -> dict:
    """The stack's backend and AWS provider, and the candidate with only its import id: nothing to evaluate."""
    settings = document.get("terraform", {})
    return {
        "terraform": {
            "backend": settings.get("backend", {}),
            "required_providers": {"aws": settings.get("required_providers", {}).get("aws", {})},
        },
        "provider": {"aws": [_aws_provider(document)]},
        "resource": {candidate.rtype: {candidate.name: {ADOPTABLE[candidate.rtype]: candidate.import_id}}},
    }


def _tags_in_state(pulled: str, candidate: Candidate) -> dict[str, str]:
    for resource in json.loads(pulled).get("resources", []):
        if (resource.get("mode"), resource.get("type"), resource.get("name")) == (
            "managed",
            candidate.rtype,
            candidate.name,
        ):
            for instance in resource.get("instances", []):
                return dict(instance.get("attributes", {}).get("tags_all") or {})
    return {}


def adopt(stack_dir: Path, terraform: Terraform | None = None) -> tuple[list[str], list[str]]:
    """Try every candidate; returns (adopted "address (id)" entries, problems, one line each)."""
    run = terraform or _terraform
    document = json.loads((stack_dir / "cdk.tf.json").read_text(encoding="utf-8"))
    wanted = dict(((_aws_provider(document).get("default_tags") or [{}])[0]).get("tags") or {})
    data_dir = {"TF_DATA_DIR": str((stack_dir / ".terraform").resolve())}
    adopted: list[str] = []
    problems: list[str] = []
    for candidate in candidates(document):
        with tempfile.TemporaryDirectory(prefix=".adopt-", dir=stack_dir) as scratch:
            work = Path(scratch)
            (work / "main.tf.json").write_text(json.dumps(scratch_configuration(document, candidate)), encoding="utf-8")
            if (stack_dir / ".terraform.lock.hcl").is_file():
                shutil.copy(stack_dir / ".terraform.lock.hcl", work / ".terraform.lock.hcl")
            chdir = f"-chdir={work}"
            code, output = run(
                [chdir, "import", "-input=false", "-no-color", candidate.address, candidate.import_id], data_dir
            )
            if code != 0:
                if not any(answer in output for answer in NOTHING_TO_ADOPT):
                    problems.append(
                        f"could not check {candidate.address} ({candidate.import_id}): {_first_error(output)}"
                    )
                continue
            code, pulled = run([chdir, "state", "pull"], data_dir)
            tags = _tags_in_state(pulled, candidate) if code == 0 else {}
            if any(tags.get(k) != v for k, v in wanted.items()):
                run([chdir, "state", "rm", "-no-color", candidate.address], data_dir)
                problems.append(
                    f"{candidate.import_id} exists without this stack's tags, so it was not adopted; if it "
                    f"is yours, import it: terraform import {candidate.address} {candidate.import_id}"
                )
                continue
            adopted.append(f"{candidate.address} ({candidate.import_id})")
    return adopted, problems


def _first_error(output: str) -> str:
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    return next((line for line in lines if line.startswith("Error:")), lines[-1] if lines else "no output")


def _terraform(args: list[str], env: dict[str, str]) -> tuple[int, str]:
    done = subprocess.run(
        ["terraform", *args],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        env={**os.environ, **env},
        check=False,
    )
    return done.returncode, done.stdout + done.stderr
