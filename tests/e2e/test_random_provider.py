"""The hashicorp/random stand-in (tools/random_provider), exercised through real Terraform.

Always uses the stand-in (an empty TF_PLUGIN_MIRROR-like dir makes the rule pick it), whatever the machine has.
"""

from __future__ import annotations

import json
import re
import string
import warnings
from pathlib import Path

import pytest

from tools.random_provider.provider import SPECIAL
from tools.terraform import INSTALL_HINT, TerraformCLI, terraform_binary

pytestmark = [pytest.mark.terraform, pytest.mark.xdist_group("terraform-static")]

CONFIG = {
    "terraform": {"required_providers": {"random": {"source": "hashicorp/random", "version": "3.6.3"}}},
    "variable": {"keeper": {"type": "string", "default": "1"}},
    "resource": {
        "random_password": {
            "db": {
                "length": 32,
                "min_upper": 4,
                "min_lower": 4,
                "min_numeric": 5,
                "min_special": 3,
                "override_special": "!#%+-_",
                "keepers": {"rotation": "${var.keeper}"},
            },
            "digits_only": {"length": 12, "special": False, "upper": False, "lower": False},
            "defaults": {"length": 40},
            "no_numeric": {"length": 30, "numeric": False},
        }
    },
    "output": {
        name: {"value": f"${{random_password.{name}.result}}", "sensitive": True}
        for name in ("db", "digits_only", "defaults", "no_numeric")
    }
    | {"db_hash": {"value": "${random_password.db.bcrypt_hash}", "sensitive": True}},
}


@pytest.fixture(scope="module")
def standin_tf(tmp_path_factory: pytest.TempPathFactory) -> TerraformCLI:
    if terraform_binary() is None:
        pytest.fail(INSTALL_HINT)
    root = tmp_path_factory.mktemp("random-standin")
    empty_mirror = root / "empty-mirror"
    empty_mirror.mkdir()
    tf = TerraformCLI.create(root / "tf", mirror=str(empty_mirror))
    assert "registry.terraform.io/hashicorp/random" in tf.providers.standins, tf.providers.describe()
    return tf


@pytest.fixture(scope="module")
def applied(standin_tf: TerraformCLI, tmp_path_factory: pytest.TempPathFactory) -> Path:
    cfg = tmp_path_factory.mktemp("random-config")
    (cfg / "main.tf.json").write_text(json.dumps(CONFIG, indent=2))
    standin_tf.init(cfg, backend=False).check()
    validated = standin_tf.validate(cfg)
    assert not validated.errors and not validated.warnings, validated.raw
    standin_tf.apply(cfg).check()
    return cfg


def _state(tf: TerraformCLI, cfg: Path) -> dict[str, dict]:
    shown = json.loads(tf.run(["show", "-json", "-no-color"], cfg).check().stdout)
    return {r["name"]: r["values"] for r in shown["values"]["root_module"]["resources"]}


def test_result_honours_length_minimums_and_classes(standin_tf: TerraformCLI, applied: Path) -> None:
    out = {k: v["value"] for k, v in standin_tf.output_json(applied).items()}
    db = out["db"]
    assert len(db) == 32
    assert sum(c.isupper() for c in db) >= 4 and sum(c.islower() for c in db) >= 4
    assert sum(c.isdigit() for c in db) >= 5 and sum(c in "!#%+-_" for c in db) >= 3
    assert set(db) <= set(string.ascii_letters + string.digits + "!#%+-_"), "override_special replaces the default set"

    assert len(out["digits_only"]) == 12 and out["digits_only"].isdigit()
    assert len(out["defaults"]) == 40 and set(out["defaults"]) <= set(string.ascii_letters + string.digits + SPECIAL)
    assert len(out["no_numeric"]) == 30 and not any(c.isdigit() for c in out["no_numeric"])

    assert re.fullmatch(r"\$2a\$10\$[./A-Za-z0-9]{53}", out["db_hash"]), "bcrypt_hash is a cost-10 bcrypt hash"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            import crypt  # verify the hash really matches the password where the stdlib can
    except ImportError:
        return
    assert crypt.crypt(db, out["db_hash"].replace("$2a$", "$2b$", 1)) == out["db_hash"].replace("$2a$", "$2b$", 1)


def test_state_matches_upstream_schema(standin_tf: TerraformCLI, applied: Path) -> None:
    state = _state(standin_tf, applied)
    db, no_numeric = state["db"], state["no_numeric"]
    assert db["id"] == "none"
    assert db["special"] is db["upper"] is db["lower"] is db["numeric"] is db["number"] is True
    assert db["keepers"] == {"rotation": "1"}
    assert no_numeric["numeric"] is False and no_numeric["number"] is False, "number follows numeric like upstream"
    assert state["defaults"]["min_upper"] == 0 and state["defaults"]["override_special"] is None


def test_replan_is_clean_and_result_is_stable(standin_tf: TerraformCLI, applied: Path) -> None:
    before = standin_tf.output_json(applied)["db"]["value"]
    plan = standin_tf.plan(applied)
    assert plan.returncode == 0, f"perpetual diff:\n{plan.output}"
    standin_tf.apply(applied).check()
    assert standin_tf.output_json(applied)["db"]["value"] == before


def test_changing_keepers_replaces_only_that_password(standin_tf: TerraformCLI, applied: Path) -> None:
    before = {k: v["value"] for k, v in standin_tf.output_json(applied).items()}
    plan = standin_tf.plan(applied, extra=["-var", "keeper=2"])
    assert plan.returncode == 2, plan.output
    assert "random_password.db must be replaced" in plan.output
    assert "1 to add, 0 to change, 1 to destroy" in plan.output
    standin_tf.apply(applied, extra=["-var", "keeper=2"]).check()
    after = {k: v["value"] for k, v in standin_tf.output_json(applied).items()}
    assert after["db"] != before["db"] and len(after["db"]) == 32
    assert after["defaults"] == before["defaults"]
    assert standin_tf.plan(applied, extra=["-var", "keeper=2"]).returncode == 0
    standin_tf.destroy(applied, extra=["-var", "keeper=2"]).check()
    assert standin_tf.state_list(applied) == []


def test_length_below_sum_of_minimums_is_rejected(standin_tf: TerraformCLI, tmp_path: Path) -> None:
    cfg = {
        "terraform": CONFIG["terraform"],
        "resource": {"random_password": {"bad": {"length": 4, "min_upper": 3, "min_numeric": 3}}},
    }
    (tmp_path / "main.tf.json").write_text(json.dumps(cfg))
    standin_tf.init(tmp_path, backend=False).check()
    result = standin_tf.validate(tmp_path)
    assert any("at least sum of min_upper" in e for e in result.errors), result.raw
