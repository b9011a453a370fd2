"""Processor throughput of this checkout against another (the baseline), alternating on one machine.

    python bench/parity.py BASELINE_CHECKOUT [--rounds 5] [--python PY] [--baseline-python PY] [-- BENCH ARGS]

Runs ``bench/processor_bench.py`` of the baseline checkout and of this one in turn, ``--rounds`` times
each, the order swapped every round (ABBA), so that a load that comes and goes on a shared machine
falls on both alike; then prints each figure's median and every run's value side by side. Each bench
runs with its own checkout's interpreter (``<checkout>/.venv/bin/python`` unless given) and its own
test rig. Every run must print verified TLS for both stores: a run that does not is reported, and the
comparison fails (exit 1), since its figures would not measure production's configuration.
Arguments after ``--`` go to both benches (e.g. ``-- --runs 3 --e2e-records 5000``).
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]

#: Figure name -> pattern of its value in the bench's output (both versions print these lines).
FIGURES = {
    "batch path txn/s": re.compile(r"^batch path .*: median ([\d,]+) txn/s", re.M),
    "naive path txn/s": re.compile(r"^naive path .*: median ([\d,]+) txn/s", re.M),
    "end to end records/s": re.compile(r"^end to end .*: ([\d,]+) records/s", re.M),
    "end to end CPU ms": re.compile(r"^end to end .*CPU of this process meanwhile ([\d,]+) ms", re.M),
    "client CPU ms/batch": re.compile(r"^CPU per batch.*client ([\d.]+)", re.M),
    "PostgreSQL CPU ms/batch": re.compile(r"^CPU per batch.*PostgreSQL backend ([\d.]+)", re.M),
    "Redis CPU ms/batch": re.compile(r"^CPU per batch.*Redis ([\d.]+)", re.M),
}
#: What a run must print about each store's connection to count (the bench's describe_connections).
VERIFIED = {
    "postgres": re.compile(r"^postgres.*certificate and host name verified", re.M),
    "redis": re.compile(r"^redis.*TLSv1\.[23], certificate and host name verified", re.M),
}


def run_bench(checkout: Path, python: str, bench_args: list[str]) -> str:
    """One bench run of ``checkout``: its output (a failed run stops the comparison, with its error)."""
    done = subprocess.run(
        [python, str(checkout / "bench" / "processor_bench.py"), *bench_args],
        cwd=checkout,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        sys.exit(f"bench of {checkout} failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    return done.stdout


def figures(output: str) -> dict[str, float]:
    """The figures a run printed (those its version does not print are left out)."""
    found = {}
    for name, pattern in FIGURES.items():
        match = pattern.search(output)
        if match:
            found[name] = float(match.group(1).replace(",", ""))
    return found


def unverified(output: str) -> list[str]:
    """The stores a run did not print verified TLS for."""
    return [store for store, pattern in VERIFIED.items() if not pattern.search(output)]


def connection_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if any(pattern.match(line) for pattern in VERIFIED.values())]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("baseline", type=Path, help="the other checkout (e.g. a git worktree of the baseline commit)")
    parser.add_argument("--rounds", type=int, default=5, help="bench runs of each checkout")
    parser.add_argument("--python", help="interpreter for this checkout (default: its .venv)")
    parser.add_argument("--baseline-python", help="interpreter for the baseline checkout (default: its .venv)")
    argv = sys.argv[1:]
    split = argv.index("--") if "--" in argv else len(argv)
    args, bench_args = parser.parse_args(argv[:split]), argv[split + 1 :]
    checkouts = {
        "baseline": (
            args.baseline.resolve(),
            args.baseline_python or str(args.baseline.resolve() / ".venv/bin/python"),
        ),
        "this": (HERE, args.python or str(HERE / ".venv/bin/python")),
    }
    results: dict[str, list[dict[str, float]]] = {name: [] for name in checkouts}
    failures = []
    for round_number in range(args.rounds):
        order = list(checkouts) if round_number % 2 == 0 else list(reversed(checkouts))
        for name in order:
            checkout, python = checkouts[name]
            output = run_bench(checkout, python, bench_args)
            if len(results[name]) == 0:  # each checkout's first run: what its servers said
                for line in connection_lines(output):
                    print(f"[{name}] {line}")
            missing = unverified(output)
            if missing:
                failures.append(f"{name} run {round_number + 1}: no verified TLS printed for {', '.join(missing)}")
            results[name].append(figures(output))
            print(f"round {round_number + 1} {name}: {results[name][-1]}", flush=True)
    print(f"\nmedians of {args.rounds} alternating runs each (baseline: {checkouts['baseline'][0]}):")
    print(f"{'figure':<26}{'baseline':>12}{'this':>12}{'change':>9}   runs (baseline | this)")
    for figure in FIGURES:
        values = {name: [run[figure] for run in runs if figure in run] for name, runs in results.items()}
        if not all(values.values()):
            continue
        old, new = (statistics.median(values[name]) for name in ("baseline", "this"))
        spec = ".1f" if figure.endswith("ms/batch") else ",.0f"  # CPU per batch: tenths of a ms
        runs = " | ".join(", ".join(format(v, spec) for v in values[name]) for name in values)
        print(f"{figure:<26}{old:>12,.1f}{new:>12,.1f}{(new - old) / old:>+9.1%}   {runs}")
    for failure in failures:
        print(f"NOT COMPARABLE: {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
