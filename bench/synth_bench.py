#!/usr/bin/env python
"""Benchmark for issue 4: stock provider import vs. a full synth with provider_import.

    python bench/synth_bench.py [--runs 5] [--skip-tests]
                                [--pytest-args '-q -m "not terraform and not integration" tests/']

Runs, alternately and N times each (after --warmup unmeasured rounds):

* stock import: ``python -c "import cdktf_cdktf_provider_aws"`` (no provider_import);
* full synth:   ``python main.py`` (every stack) into a fresh temporary CDKTF_OUTDIR,
                with CDKTF_STOCK_PROVIDER_IMPORT removed from the environment;
* optionally (--stock-synth) the same synth with CDKTF_STOCK_PROVIDER_IMPORT=1;

then the test suite (--test-runs times, default once).  Prints the medians of
wall time and of peak RSS (ru_maxrss from os.wait4: the largest single process in
the child's tree, which here is usually the node jsii kernel) and the ratio
synth / stock import against the goal (<= 0.35, aim 0.25).  The first warmup synth
runs with -X importtime to report whether main.py really imported the provider
lazily (i.e. calls provider_import.install() first).  It only reports figures; it
never fails on timing (exit status 1 only if a child failed).
"""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GOAL, AIM = 0.35, 0.25
APP = os.path.join(REPO, "main.py")  # the real app: every stack of the shipped configuration
UNUSED_AWS_MODULE = "cdktf_cdktf_provider_aws.accessanalyzer_analyzer"  # imported only by the stock path
DEFAULT_PYTEST_ARGS = '-q -m "not terraform and not integration" tests/'

sys.path.insert(0, REPO)
from tools.node_runtime import use_project_node  # noqa: E402


class Run:
    def __init__(self, wall: float, maxrss_kb: int, rc: int, stdout: str, stderr: str) -> None:
        self.wall, self.maxrss_kb, self.rc = wall, maxrss_kb, rc
        self.stdout, self.stderr = stdout, stderr


def run(cmd: Sequence[str], env: dict[str, str], cwd: str = REPO) -> Run:
    """Run cmd, return wall time and the child's own peak RSS (os.wait4)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(list(cmd), cwd=cwd, env=env, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode("utf-8", "replace")
        stderr = err.read().decode("utf-8", "replace")
    # ru_maxrss is in KiB on Linux.
    return Run(wall, usage.ru_maxrss, proc.returncode, stdout, stderr)


def base_env() -> dict[str, str]:
    env = dict(os.environ)
    use_project_node(env)  # jsii in the children on the project's Node.js 24, as `make synth` runs it
    env.pop("CDKTF_STOCK_PROVIDER_IMPORT", None)
    # Synth speed does not depend on the state bucket, the accounts or the state keys: where the operator has not
    # filled them in yet, the shipped configuration's placeholders and review synthesis (every stack, same work).
    env.setdefault("JAPANCART_STATE_BUCKET", "bench-terraform-state")
    # the repo root importable for the import-only comparison too (python main.py has it anyway)
    env["PYTHONPATH"] = os.pathsep.join([REPO, *filter(None, [env.get("PYTHONPATH")])])
    return env


def default_python() -> str:
    venv = os.path.join(REPO, ".venv", "bin", "python")
    return venv if os.path.exists(venv) else sys.executable


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="measured runs of each command (default 5)")
    parser.add_argument("--warmup", type=int, default=1, help="unmeasured rounds first (default 1)")
    parser.add_argument("--python", default=default_python(), help="interpreter (default: .venv/bin/python)")
    parser.add_argument(
        "--stock-synth", action="store_true", help="also time the synth with CDKTF_STOCK_PROVIDER_IMPORT=1"
    )
    parser.add_argument("--skip-tests", action="store_true", help="do not time the test suite")
    parser.add_argument(
        "--pytest-args",
        default=DEFAULT_PYTEST_ARGS,
        help=f"arguments after 'python -m pytest' (default: {DEFAULT_PYTEST_ARGS!r})",
    )
    parser.add_argument("--test-runs", type=int, default=1, help="test-suite runs (default 1)")
    args = parser.parse_args(argv)

    env = base_env()
    failures = []
    with tempfile.TemporaryDirectory(prefix="synth_bench_") as tmp:
        commands = {
            "stock import": ([args.python, "-c", "import cdktf_cdktf_provider_aws"], {}),
            "full synth": ([args.python, APP, "--review"], {}),
        }
        if args.stock_synth:
            commands["synth, stock import"] = ([args.python, APP, "--review"], {"CDKTF_STOCK_PROVIDER_IMPORT": "1"})
        results: dict[str, list[Run]] = {name: [] for name in commands}
        names = list(commands)
        counter = 0
        lazy_seen: bool | None = None
        for round_no in range(args.warmup + args.runs):
            order = names if round_no % 2 == 0 else names[::-1]  # alternate A B / B A
            for name in order:
                cmd, extra = commands[name]
                child_env = dict(env, **extra)
                probe = round_no == 0 and args.warmup > 0 and name == "full synth"
                if APP in cmd:
                    counter += 1
                    child_env["CDKTF_OUTDIR"] = os.path.join(tmp, f"out{counter}")
                if probe:  # unmeasured: see whether the app really imports lazily
                    cmd = [cmd[0], "-X", "importtime", *cmd[1:]]
                result = run(cmd, child_env)
                if probe and result.rc == 0:
                    lazy_seen = UNUSED_AWS_MODULE not in result.stderr
                label = "warmup" if round_no < args.warmup else f"run {round_no - args.warmup + 1}"
                print(
                    f"  {label:>7} {name:<20} {result.wall:7.2f} s {result.maxrss_kb / 1024:7.0f} MiB"
                    + ("" if result.rc == 0 else f"  rc={result.rc}"),
                    file=sys.stderr,
                    flush=True,
                )
                if result.rc != 0:
                    failures.append((name, result))
                elif round_no >= args.warmup:
                    results[name].append(result)

        tests: list[Run] = []
        pytest_cmd = [args.python, "-m", "pytest", *shlex.split(args.pytest_args)]
        if not args.skip_tests:
            for _ in range(args.test_runs):
                result = run(pytest_cmd, base_env())
                print(f"  tests   rc={result.rc} {result.wall:7.2f} s", file=sys.stderr, flush=True)
                tests.append(result)

    def row(label: str, runs: list[Run]) -> str:
        walls = [r.wall for r in runs]
        if not walls:
            return f"{label:<30} {'n/a':>8}"
        rss = median([r.maxrss_kb / 1024 for r in runs])
        return f"{label:<30} {median(walls):8.2f} {min(walls):8.2f} {max(walls):8.2f} {rss:9.0f} {len(walls):>3}"

    print()
    print(f"app: main.py   python: {args.python}   runs: {args.runs} (+{args.warmup} warmup), alternating")
    print(f"{'':<30} {'median s':>8} {'min s':>8} {'max s':>8} {'RSS MiB':>9} {'n':>3}")
    print(row("stock import (aws provider)", results["stock import"]))
    print(row("full synth (provider_import)", results["full synth"]))
    if args.stock_synth:
        print(row("full synth (stock import)", results["synth, stock import"]))
    stock, synth = results["stock import"], results["full synth"]
    if stock and synth:
        ratio = median([r.wall for r in synth]) / median([r.wall for r in stock])
        verdict = "meets goal" if ratio <= GOAL else "MISSES goal"
        print(f"{'ratio synth / stock import':<30} {ratio:8.3f}   goal <= {GOAL} (aim {AIM}): {verdict}")
    if lazy_seen is not None:
        print(
            "lazy provider import in the synth: "
            + (
                "yes"
                if lazy_seen
                else f"NO - {UNUSED_AWS_MODULE} was imported; does the app call provider_import.install() first?"
            )
        )
    if not args.skip_tests:
        label = f"tests ({'ok' if all(t.rc == 0 for t in tests) else 'FAILED'})"
        print(row(label, tests))
        print(f"  tests command: {shlex.join(pytest_cmd)}")
        for result in tests:
            if result.rc != 0:  # pytest's own summary lines say what failed
                summary = [
                    line for line in result.stdout.splitlines() if line.startswith(("FAILED", "ERROR"))
                ] or result.stdout.splitlines()[-5:]
                print("\n".join("    " + line for line in summary[:20]))
    print(
        "RSS = ru_maxrss from os.wait4: the largest single process of the child's tree that was"
        " waited for\n      (python itself or the node jsii kernel it reaps at exit), not a sum."
    )
    for name, result in failures:
        print(f"\n{name} failed (rc={result.rc}); stderr tail:\n{result.stderr[-2000:]}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
