"""`terraform init -backend=false` + `terraform validate` of every synthesized stack, real CLI + real provider.

Zero errors and zero warnings, from validate and from init.  The one init notice that is about the
machine, not our configuration, is Terraform's "Incomplete lock file information for providers": it is
printed whenever providers come from a local mirror (lock hashes computed locally for one platform), so it
is expected offline and listed separately rather than silently dropped.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from synthesis import STACK_NAMES
from tests.e2e.conftest import STATIC_AND_CLI_GROUP
from tools.terraform import TerraformCLI, copy_stack

pytestmark = [pytest.mark.terraform, pytest.mark.xdist_group(STATIC_AND_CLI_GROUP)]

MIRROR_INIT_NOTICE = "Warning: Incomplete lock file information for providers"


@pytest.fixture(scope="module")
def validate_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("validate")


@pytest.mark.parametrize("stack", STACK_NAMES)
def test_stack_initializes_and_validates_cleanly(
    stack: str, synth_dir: Path, terraform_cli: TerraformCLI, validate_root: Path, e2e_summary
) -> None:
    work = copy_stack(synth_dir / stack, validate_root)
    init = terraform_cli.init(work, backend=False).check()
    init_warnings = init.warnings()
    mirror_notices = [w for w in init_warnings if w.startswith(MIRROR_INIT_NOTICE)]
    other_init_warnings = [w for w in init_warnings if not w.startswith(MIRROR_INIT_NOTICE)]
    if mirror_notices:
        assert terraform_cli.providers.offline, "lock-file notice without a local mirror: investigate"

    result = terraform_cli.validate(work)
    e2e_summary(
        f"{stack}: terraform validate valid={result.raw.get('valid')} errors={len(result.errors)} "
        f"warnings={len(result.warnings)}; init warnings={len(other_init_warnings)}"
        + (" (+ offline mirror lock-file notice)" if mirror_notices else "")
        + "".join(f"\n    {d}" for d in result.errors + result.warnings + other_init_warnings)
    )
    assert not result.errors, "\n".join(result.errors)
    assert not result.warnings, "fix these in our constructs:\n" + "\n".join(result.warnings)
    assert not other_init_warnings, "\n".join(other_init_warnings)
    assert result.raw.get("valid") is True
