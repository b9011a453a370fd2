"""The command line: parse the arguments, load every plan, write the report, and turn the verdict into the exit
code a pipeline acts on. Usage::

    terraform show -json tfplan > dev.plan.json
    python -m tools.plan_report dev.plan.json staging.plan.json [--output report.md]
        [--name path/to/x.json=dev] [--allow-destructive]
        [--stack-config NAME=cdk.tf.json] [--base-stack-config NAME=cdk.tf.json]

Exit codes: 0 report written; 2 an input file is unreadable or not a plan, or the output can't be written (one
error line on stderr naming the file; no report is written); 3 report written, but a red section is not empty
(destructive, in-place damage, provisioner, or a plan not started from the environment's state) and neither
``--allow-destructive`` nor ``PLAN_REPORT_ALLOW_DESTRUCTIVE=1`` was given, so a pipeline stops for a human.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence

from tools.plan_json import PlanInputError, write_atomically
from tools.plan_report.model import OVERRIDE_ENV, Options
from tools.plan_report.plan import load_all
from tools.plan_report.render import render_report
from tools.plan_report.risk import find_damage_rows, find_dangers, find_state_warnings

#: The first line of ``--help``.
DESCRIPTION = "Markdown risk report for Terraform plans, for review in pull requests."

EXIT_OK = 0
EXIT_INVALID_INPUT = 2
EXIT_DESTRUCTIVE = 3

TRUTHY = frozenset({"1", "true", "yes", "on"})


def parse_args(argv: Sequence[str] | None) -> Options:
    """Parse the command line (argparse exits 2 on usage errors)."""
    parser = argparse.ArgumentParser(prog="python -m tools.plan_report", description=DESCRIPTION)
    parser.add_argument(
        "plans", nargs="+", metavar="PLAN.json", help="`terraform show -json PLANFILE` output, one file per stack"
    )
    parser.add_argument("-o", "--output", help="write the Markdown report here (default: stdout)")
    parser.add_argument(
        "--name",
        action="append",
        default=[],
        metavar="FILE=NAME",
        help="stack name for FILE (default: file name without .plan.json)",
    )
    parser.add_argument(
        "--allow-destructive",
        action="store_true",
        help=f"exit 0 even with destructive changes (or set {OVERRIDE_ENV}=1)",
    )
    parser.add_argument(
        "--stack-config",
        action="append",
        default=[],
        metavar="NAME=FILE",
        help="the stack's synthesized cdk.tf.json on this branch (its state location)",
    )
    parser.add_argument(
        "--base-stack-config",
        action="append",
        default=[],
        metavar="NAME=FILE",
        help="the stack's cdk.tf.json on the base branch (the stack exists there)",
    )
    args = parser.parse_args(argv)
    configs: dict[str, dict[str, str]] = {"stack": {}, "base": {}}
    for kind, flag, items in (
        ("stack", "--stack-config", args.stack_config),
        ("base", "--base-stack-config", args.base_stack_config),
    ):
        for item in items:
            name, sep, file = item.partition("=")
            if not sep or not file or not name:
                parser.error(f"{flag} expects NAME=FILE, got {item!r}")
            configs[kind][name] = file
    names: dict[str, str] = {}
    for item in args.name:
        file, sep, name = item.partition("=")
        if not sep or not file or not name:
            parser.error(f"--name expects FILE=NAME, got {item!r}")
        names[file] = name
        names[os.path.normpath(file)] = name
    return Options(
        plans=args.plans,
        output=args.output,
        names=names,
        allow_destructive=args.allow_destructive,
        stack_configs=configs["stack"],
        base_configs=configs["base"],
    )


def override_requested(options: Options, environ: Mapping[str, str]) -> bool:
    """Whether destructive changes are explicitly allowed (flag or environment variable)."""
    return options.allow_destructive or environ.get(OVERRIDE_ENV, "").strip().lower() in TRUTHY


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    """Run the report; returns the process exit code (see the module docstring)."""
    options = parse_args(argv)
    env = os.environ if environ is None else environ
    try:
        stacks = load_all(options)
        state_warnings = find_state_warnings(stacks, options)
    except PlanInputError as exc:
        print(f"plan_report: error: {exc}", file=sys.stderr)
        return EXIT_INVALID_INPUT
    allowed = override_requested(options, env)
    report = render_report(stacks, allowed, state_warnings)
    if options.output:
        try:
            write_atomically(options.output, report)
        except OSError as exc:
            print(f"plan_report: error: {options.output}: cannot write report ({exc.strerror or exc})", file=sys.stderr)
            return EXIT_INVALID_INPUT
    else:
        sys.stdout.write(report)
    if state_warnings and not allowed:
        print(
            f"plan_report: {len(state_warnings)} stack(s) not planned from their environment's state; a human must "
            f"check the state location and re-run with --allow-destructive (or {OVERRIDE_ENV}=1) to proceed",
            file=sys.stderr,
        )
        return EXIT_DESTRUCTIVE
    red = [
        f"{count} {what}"
        for count, what in (
            (len(find_dangers(stacks)), "destructive change(s) to stateful resources"),
            (len(find_damage_rows(stacks)), "in-place damaging change(s)"),
            (sum(len(stack.provisioners) for stack in stacks), "provisioner(s)"),
        )
        if count
    ]
    if red and not allowed:
        print(
            f"plan_report: {', '.join(red)}; a human must review the plan and re-run with --allow-destructive "
            f"(or {OVERRIDE_ENV}=1) to proceed",
            file=sys.stderr,
        )
        return EXIT_DESTRUCTIVE
    return EXIT_OK
