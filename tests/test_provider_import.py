"""Tests for provider_import (issue 4): lazy loading of cdktf_cdktf_provider_* submodules.

* The mechanism itself runs in-process against tiny fake provider packages built in
  tmp_path with the same layout as the generated bindings (no jsii involved).
* Behaviour on the real AWS bindings runs in subprocesses, so that the state of
  this pytest process (which resource modules other tests already imported) is irrelevant.
* The byte-identity test (marked ``slow``) synthesizes main.py twice - stock import vs
  provider_import - and compares the two output trees file by file, byte for byte. It is
  what verifies a jsii version for provider_import.VERIFIED_JSII_VERSIONS.
"""

from __future__ import annotations

import filecmp
import importlib
import importlib.machinery
import json
import os
import pkgutil
import subprocess
import sys
import textwrap
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from stacks import provider_import  # noqa: E402
from stacks.provider_import import ENV_VAR, ProviderImportWarning  # noqa: E402

SUBMODULES = ("alpha", "beta", "gamma_delta")

# --------------------------------------------------------------------------------------
# fake provider packages
# --------------------------------------------------------------------------------------

ROOT_HEAD = '''\
r"""
# Fake CDKTF prebuilt bindings (same layout as cdktf_cdktf_provider_aws)
"""
from pkgutil import extend_path
__path__ = extend_path(__path__, __name__)

import typing

import publication

from ._jsii import *

__all__ = {all!r}

'''
MARKER = "publication.publish()\n"
BLOCK_COMMENT = "\n# Loading modules to ensure their types are registered with the jsii runtime library\n"

JSII_INIT = """\
import publication


class jsii:  # stands in for the jsii runtime: only the call shape matters here
    class JSIIAssembly:
        @staticmethod
        def load(*args):
            return args


__jsii_assembly__ = jsii.JSIIAssembly.load(
    "@fake/provider-fake", "1.0.0", __name__[0:-6], "provider-fake@1.0.0.jsii.tgz"
)

__all__ = ["__jsii_assembly__"]

publication.publish()
"""

SUBMODULE_INIT = """\
import publication

from .._jsii import *


class {cls}:
    pass


__all__ = ["{cls}"]

publication.publish()
"""


def _class_name(module: str) -> str:
    return "".join(part.title() for part in module.split("_"))


def build_fake_package(
    where: Path,
    *,
    tail: str | None = None,
    head_marker: str = MARKER,
    jsii_init: str = JSII_INIT,
) -> str:
    """Write a fake provider package under ``where``; return its (unique) name.

    ``tail`` replaces the text after the marker (default: the stock import block).
    """
    name = f"cdktf_cdktf_provider_fake{uuid.uuid4().hex[:10]}"
    root = where / name
    (root / "_jsii").mkdir(parents=True)
    if tail is None:
        tail = BLOCK_COMMENT + "".join(f"from . import {sub}\n" for sub in SUBMODULES)
    (root / "__init__.py").write_text(ROOT_HEAD.format(all=list(SUBMODULES)) + head_marker + tail)
    (root / "_jsii" / "__init__.py").write_text(jsii_init)
    for sub in SUBMODULES:
        (root / sub).mkdir()
        (root / sub / "__init__.py").write_text(SUBMODULE_INIT.format(cls=_class_name(sub)))
    importlib.invalidate_caches()
    return name


def loaded_submodules(package: str) -> list[str]:
    return sorted(sub for sub in SUBMODULES if f"{package}.{sub}" in sys.modules)


@pytest.fixture
def fakes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """tmp_path on sys.path; fake packages are purged from sys.modules afterwards."""
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for module in [m for m in sys.modules if m.startswith("cdktf_cdktf_provider_fake")]:
        del sys.modules[module]


def quiet_install() -> bool:
    """install() without the "imported before install()" warning about the real bindings,
    which other tests in this process may have imported the stock way (e.g. when pytest
    runs with CDKTF_STOCK_PROVIDER_IMPORT=1)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ProviderImportWarning)
        return provider_import.install()


@pytest.fixture
def finder(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The lazy finder is installed (tests/conftest.py normally did it already)."""
    monkeypatch.delenv(ENV_VAR, raising=False)
    was_installed = provider_import.is_installed()
    assert quiet_install() is True
    yield
    if not was_installed:
        provider_import.uninstall()


@pytest.fixture
def no_finder(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The finder is removed for the test and put back afterwards if it was there.

    Request it before ``fakes`` so the fake packages are purged before the re-install
    (install() warns about provider packages already imported)."""
    was_installed = provider_import.is_installed()
    provider_import.uninstall()
    yield
    provider_import.uninstall()
    if was_installed:
        monkeypatch.delenv(ENV_VAR, raising=False)
        quiet_install()


def import_recording_warnings(name: str):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")  # "once" must come from provider_import itself
        module = importlib.import_module(name)
    return module, [w for w in caught if issubclass(w.category, ProviderImportWarning)]


# --------------------------------------------------------------------------------------
# the mechanism, in-process, on fake packages
# --------------------------------------------------------------------------------------


def test_root_import_is_lazy_and_submodules_load_on_demand(fakes: Path, finder: None) -> None:
    name = build_fake_package(fakes)
    pkg, caught = import_recording_warnings(name)

    assert caught == []
    assert provider_import.status()[name] == "lazy"
    assert loaded_submodules(name) == []
    # publication.publish() ran: the public module is what sys.modules holds
    assert sys.modules[name] is pkg and pkg._private is sys.modules[f"{name}._private"]
    assert pkg.__all__ == list(SUBMODULES)
    assert pkg.__file__ == str(fakes / name / "__init__.py")
    assert pkg.__spec__.origin == pkg.__file__ and pkg.__spec__.name == name
    assert list(pkg.__path__) == [str(fakes / name)]
    assert {m.name for m in pkgutil.iter_modules(pkg.__path__)} == {"_jsii", *SUBMODULES}
    assert pkg.__doc__.strip().startswith("# Fake CDKTF prebuilt bindings")

    # "from pkg.sub import X" style
    alpha_cls = importlib.import_module(f"{name}.alpha").Alpha
    assert loaded_submodules(name) == ["alpha"]
    assert pkg.alpha.Alpha is alpha_cls
    # "from pkg import sub" style
    ns: dict[str, object] = {}
    exec(f"from {name} import beta", ns)
    assert ns["beta"] is sys.modules[f"{name}.beta"] is pkg.beta
    # plain attribute access (PEP 562 __getattr__) imports on first use
    assert pkg.gamma_delta.GammaDelta.__module__ == f"{name}.gamma_delta"
    assert loaded_submodules(name) == list(SUBMODULES)
    assert set(SUBMODULES) <= set(dir(pkg))
    assert not hasattr(pkg, "no_such_submodule")
    with pytest.raises(ImportError):
        exec(f"from {name} import no_such_submodule", {})


def test_jsii_module_gets_submodule_fqn_map(fakes: Path, finder: None) -> None:
    name = build_fake_package(fakes)
    importlib.import_module(name)
    jsii_private = sys.modules[f"{name}._jsii"]._private
    assert jsii_private._SUBMODULE_FQN_MAP == {
        "@fake/provider-fake.alpha": f"{name}.alpha",
        "@fake/provider-fake.beta": f"{name}.beta",
        "@fake/provider-fake.gammaDelta": f"{name}.gamma_delta",
    }
    assert sys.modules[f"{name}._jsii"].__jsii_assembly__[0] == "@fake/provider-fake"


def test_package_defining_its_own_fqn_map_is_left_alone(fakes: Path, finder: None) -> None:
    own = JSII_INIT.replace("__jsii_assembly__ =", '_SUBMODULE_FQN_MAP = {"x.y": "own"}\n__jsii_assembly__ =')
    name = build_fake_package(fakes, jsii_init=own)
    pkg, caught = import_recording_warnings(name)
    assert caught == [] and loaded_submodules(name) == []
    assert sys.modules[f"{name}._jsii"]._private._SUBMODULE_FQN_MAP == {"x.y": "own"}


def test_blank_and_comment_lines_inside_the_block_are_accepted(fakes: Path, finder: None) -> None:
    tail = "\n# a comment\nfrom . import alpha\n\n   # indented comment\nfrom . import beta   \n\n"
    name = build_fake_package(fakes, tail=tail)
    pkg, caught = import_recording_warnings(name)
    assert caught == [] and provider_import.status()[name] == "lazy"
    assert loaded_submodules(name) == []


# layout -> (build_fake_package kwargs, submodules the stock code imports)
BROKEN_LAYOUTS = {
    "marker missing": (dict(head_marker="publication.publish(  )\n"), SUBMODULES),
    "marker twice": (dict(head_marker=MARKER + MARKER), SUBMODULES),
    "aliased import": (dict(tail="from . import alpha as a\nfrom . import beta\n"), ("alpha", "beta")),
    "several names on one line": (dict(tail="from . import alpha, beta\n"), ("alpha", "beta")),
    "import from a submodule": (dict(tail="from . import alpha\nfrom .beta import Beta\n"), ("alpha", "beta")),
    "other statement": (dict(tail="from . import alpha\nimport os\nfrom . import beta\n"), ("alpha", "beta")),
    "no import block": (dict(tail="\n# nothing else\n"), ()),
    "no JSIIAssembly.load": (dict(jsii_init="import publication\n__all__ = []\npublication.publish()\n"), SUBMODULES),
}


@pytest.mark.parametrize("layout", sorted(BROKEN_LAYOUTS))
def test_unexpected_layout_falls_back_to_stock_import_with_one_warning(layout: str, fakes: Path, finder: None) -> None:
    kwargs, expected = BROKEN_LAYOUTS[layout]
    name = build_fake_package(fakes, **kwargs)

    pkg, caught = import_recording_warnings(name)

    assert len(caught) == 1, [str(w.message) for w in caught]
    assert name in str(caught[0].message) and "stock" in str(caught[0].message)
    assert provider_import.status()[name].startswith("stock: ")
    assert loaded_submodules(name) == sorted(expected)  # the stock code ran, block included
    assert not hasattr(pkg.__spec__.loader, "submodules")

    # said ONCE: importing it again (fresh) does not warn again
    for module in [m for m in sys.modules if m.startswith(name)]:
        del sys.modules[module]
    _, caught_again = import_recording_warnings(name)
    assert caught_again == []


def test_install_is_idempotent(finder: None) -> None:
    assert provider_import.install() is True
    assert provider_import.install() is True
    ours = [i for i, f in enumerate(sys.meta_path) if provider_import._is_ours(f)]
    assert len(ours) == 1
    assert ours[0] < sys.meta_path.index(importlib.machinery.PathFinder)


def test_env_var_disables_install(no_finder: None, fakes: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_VAR, "1")
    assert provider_import.stock_requested()
    assert provider_import.install() is False
    assert not provider_import.is_installed()

    name = build_fake_package(fakes)
    _, caught = import_recording_warnings(name)
    assert caught == []
    assert loaded_submodules(name) == list(SUBMODULES)  # stock: everything imported
    assert name not in provider_import.status()


@pytest.mark.parametrize("value", ["0", "", "no"])
def test_env_var_other_values_keep_lazy_import(value: str, no_finder: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_VAR, value)
    assert provider_import.install() is True


def test_install_after_a_provider_import_warns_once(
    no_finder: None, fakes: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)
    name = build_fake_package(fakes)
    importlib.import_module(name)  # stock, before install()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert provider_import.install() is True
    messages = [str(w.message) for w in caught if issubclass(w.category, ProviderImportWarning)]
    assert len(messages) == 1 and name in messages[0] and "before provider_import.install()" in messages[0]


def test_locked_jsii_is_a_verified_version() -> None:
    """Upgrading jsii in Pipfile.lock fails here until the byte-identity test below passed with it
    and the version was added to VERIFIED_JSII_VERSIONS (else every synth takes the slow path)."""
    lock = json.loads((REPO / "Pipfile.lock").read_text(encoding="utf-8"))
    pins = {section["jsii"]["version"] for section in (lock["default"], lock["develop"]) if "jsii" in section}
    assert pins, "jsii is not in Pipfile.lock"
    assert {pin.removeprefix("==") for pin in pins} <= provider_import.VERIFIED_JSII_VERSIONS
    assert provider_import.installed_jsii_version() in provider_import.VERIFIED_JSII_VERSIONS


def test_verified_jsii_takes_the_lazy_path_silently(
    no_finder: None, fakes: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)
    with monkeypatch.context() as patch:  # undone before no_finder puts the real finder back
        patch.setattr(provider_import, "VERIFIED_JSII_VERSIONS", frozenset({provider_import.installed_jsii_version()}))
        assert quiet_install() is True
    name = build_fake_package(fakes)
    importlib.import_module(name)
    assert provider_import.status()[name] == "lazy" and loaded_submodules(name) == []
    assert capsys.readouterr().err == ""


def test_unverified_jsii_keeps_the_stock_import_and_says_so_once(
    no_finder: None, fakes: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)
    with monkeypatch.context() as patch:  # undone before no_finder puts the real finder back
        patch.setattr(provider_import, "VERIFIED_JSII_VERSIONS", frozenset({"0.0.1"}))
        patch.setattr(provider_import, "_warned", set())
        assert provider_import.install() is False
        assert provider_import.install() is False
    assert not provider_import.is_installed()
    lines = capsys.readouterr().err.splitlines()
    assert lines == [
        f"provider_import: jsii {provider_import.installed_jsii_version()} is not a verified version "
        "(0.0.1); using the stock provider import"
    ]
    name = build_fake_package(fakes)
    importlib.import_module(name)
    assert loaded_submodules(name) == list(SUBMODULES) and name not in provider_import.status()


def test_camel_case_matches_jsii_submodule_names_of_installed_bindings() -> None:
    """The FQN map relies on jsii submodule name == camelCase(Python name); check it
    against the class FQNs of every installed binding (cheap: reads the first FQN of each)."""
    checked = 0
    for package in ("cdktf_cdktf_provider_aws",):
        spec = importlib.machinery.PathFinder.find_spec(package)  # bypasses the lazy finder
        assert spec is not None, f"{package} is not installed"
        base = Path(spec.origin).parent
        for sub in sorted(p for p in base.iterdir() if (p / "__init__.py").exists() and not p.name.startswith("_")):
            with open(sub / "__init__.py", encoding="utf-8") as handle:
                for line in handle:
                    if 'jsii_type="' in line:
                        fqn = line.split('jsii_type="', 1)[1].split('"', 1)[0]
                        break
                else:
                    continue
            assembly_and_sub, _ = fqn.rsplit(".", 1)
            assert assembly_and_sub.endswith("." + provider_import._camel(sub.name)), (sub, fqn)
            checked += 1
    assert checked > 2000, "the cdktf_cdktf_provider_aws bindings are not installed"


# --------------------------------------------------------------------------------------
# real bindings, in subprocesses
# --------------------------------------------------------------------------------------


def child_env(stock: bool = False) -> dict[str, str]:
    env = dict(os.environ)
    env.pop(ENV_VAR, None)
    if stock:
        env[ENV_VAR] = "1"
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [env.get("PYTHONPATH")])])
    return env


def run_probe(code: str, stock: bool = False) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=str(REPO),
        env=child_env(stock),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


AWS_PROBE = """
    import json, sys, warnings
    from stacks import provider_import
    warnings.simplefilter("error", provider_import.ProviderImportWarning)  # no silent fallback
    assert provider_import.install()
    import cdktf_cdktf_provider_aws as aws
    P = "cdktf_cdktf_provider_aws."
    def loaded():
        return sorted(m[len(P):] for m in sys.modules
                      if m.startswith(P) and not m[len(P):].startswith("_") and m.count(".") == 1)
    out = {"status": provider_import.status(), "after_root": loaded(), "n_all": len(aws.__all__)}
    from cdktf_cdktf_provider_aws.provider import AwsProvider
    import cdktf_cdktf_provider_aws.vpc
    from cdktf_cdktf_provider_aws.subnet import Subnet
    out["vpc_attr"] = aws.vpc is sys.modules[P + "vpc"] and aws.vpc.Vpc.__jsii_type__
    out["kms_key_attr"] = aws.kms_key.KmsKey.__jsii_type__  # PEP 562 attribute access
    out["after_imports"] = loaded()
    # a type handed back by jsii from a submodule nobody imported (e.g. a callback result):
    # jsii's resolver imports the submodule through the seeded _SUBMODULE_FQN_MAP.
    import jsii._reference_map as refmap
    from jsii._kernel.types import ObjRef
    obj = refmap._refs.resolve(None, ObjRef(ref="@cdktf/provider-aws.sqsQueue.SqsQueue@999999"))
    out["resolved"] = type(obj).__module__
    out["after_resolve"] = loaded()
    out["file"] = aws.__file__
    print(json.dumps(out))
"""


def test_real_aws_bindings_load_lazily() -> None:
    out = run_probe(AWS_PROBE)
    assert out["status"] == {"cdktf_cdktf_provider_aws": "lazy"}
    assert out["after_root"] == []
    assert out["n_all"] > 2000
    assert out["vpc_attr"] == "@cdktf/provider-aws.vpc.Vpc"
    assert out["kms_key_attr"] == "@cdktf/provider-aws.kmsKey.KmsKey"
    assert out["after_imports"] == ["kms_key", "provider", "subnet", "vpc"]
    assert out["resolved"] == "cdktf_cdktf_provider_aws.sqs_queue"
    assert out["after_resolve"] == ["kms_key", "provider", "sqs_queue", "subnet", "vpc"]
    assert out["file"].endswith(os.path.join("cdktf_cdktf_provider_aws", "__init__.py"))


# --------------------------------------------------------------------------------------
# byte identity of the synthesized output (slow: one stock synth is ~10 s)
# --------------------------------------------------------------------------------------

UNUSED_AWS_MODULE = "cdktf_cdktf_provider_aws.accessanalyzer_analyzer"


def synth(app: Path, outdir: Path, stock: bool) -> str:
    """Run ``python [-X importtime] <app>`` with CDKTF_OUTDIR=outdir; return stderr."""
    env = child_env(stock)
    env["CDKTF_OUTDIR"] = str(outdir)
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", str(app)],
        cwd=str(REPO),
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, f"{app.name} (stock={stock}) failed:\n{proc.stderr[-4000:]}"
    return proc.stderr


def tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def assert_same_synth_both_ways(app: Path, tmp_path: Path) -> None:
    stock_out, lazy_out = tmp_path / "out-stock", tmp_path / "out-lazy"
    stock_err = synth(app, stock_out, stock=True)
    lazy_err = synth(app, lazy_out, stock=False)

    # The comparison means something only if the two runs really imported differently.
    if UNUSED_AWS_MODULE not in stock_err:
        pytest.fail(f"the stock run of {app.name} did not import the whole AWS provider")
    if UNUSED_AWS_MODULE in lazy_err:
        pytest.fail(
            f"{app.name} imported the whole AWS provider: does it call "
            "provider_import.install() before its first cdktf_cdktf_provider_* import?"
        )
    if "falling back to the stock" in lazy_err:
        pytest.fail(f"provider_import fell back to the stock import:\n{lazy_err[-2000:]}")

    files = tree(stock_out)
    assert "manifest.json" in files and any(f.endswith("cdk.tf.json") for f in files), files
    assert tree(lazy_out) == files
    different = [f for f in files if not filecmp.cmp(stock_out / f, lazy_out / f, shallow=False)]
    assert different == [], f"synthesized files differ: {different}"


@pytest.mark.slow
def test_main_py_synth_is_byte_identical(tmp_path: Path) -> None:
    """python main.py (every stack), stock import vs provider_import."""
    assert_same_synth_both_ways(REPO / "main.py", tmp_path)
