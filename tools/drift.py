"""Drift check of one deployed environment: ``make drift ENV=<env>`` and the scheduled drift workflow.

    python -m tools.drift --stack-dir cdktf.out/stacks/dev --name dev --out plans [--no-init]
        ->  plans/dev.drift.json (the plan JSON after the rewrites below: secrets in clear; never upload it)
            plans/dev.drift.md   (the masked drift report: safe to publish)
        (the binary plan, plans/dev.drift.tfplan, is deleted once shown)

Runs ``terraform plan -refresh-only -lock=false``: a refresh-only plan compares what exists with the state and
nothing else, so a change merged but not deployed yet is not reported as drift, and ``-lock=false`` lets the
read-only plan role (which may not write the lock file) run it. The drift section is the plan report's own
(``tools.plan_report``: same masking, same deleted-stateful-resource warning). Standard library only, so the
workflow's job with the AWS token installs nothing.

Two rewrites before the report, because a state written by an apply is partly stale at once: an attribute another
resource fills in (a role's ``inline_policy`` from its ``aws_iam_role_policy``, a topic's ``policy`` from its
``aws_sns_topic_policy``) or that moves by itself (``latest_restorable_time``) differs from the refreshed value
with nobody having changed anything.

* ``keep_declared_attributes``: only what the configuration declares counts, plus ``tags`` / ``tags_all`` (the
  provider's default tags are configuration too), compared as values (an empty value is null, a list is a set).
* ``set_aside_managed_rules``: a security group's ``ingress`` / ``egress`` list every rule the group has,
  including those declared as ``aws_vpc_security_group_*_rule`` resources; those are set aside, and a rule no
  resource declares (added by hand) is drift, as one line per rule.

Exit codes: 0 no drift; 2 drift (the report lists it); 1 error (Terraform failed, or the plan is unreadable;
one line on stderr says which, and no report is written).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tools.plan_json import PlanInputError, as_dict, write_atomically
from tools.plan_report.model import StackPlan
from tools.plan_report.plan import load_plan
from tools.plan_report.render import render_damage, render_drift
from tools.plan_report.risk import find_damage_rows

EXIT_CLEAN = 0
EXIT_ERROR = 1
EXIT_DRIFT = 2

#: Hidden marker the workflow finds its issue by (one open issue per environment; docs/operations.md).
MARKER = "<!-- japancart-drift:{name} -->"
#: How much of Terraform's output an error shows.
ERROR_TAIL_CHARS = 3000


class DriftError(Exception):
    """Terraform failed or its plan cannot be read: exit 1, never a false "no drift"."""


def terraform(args: Sequence[str], stack_dir: Path, env: Mapping[str, str], binary: str) -> str:
    """Run one Terraform command in the stack's directory; its stdout, or ``DriftError`` with the output's tail."""
    try:
        proc = subprocess.run(
            [binary, *args],
            cwd=stack_dir,
            env=dict(env),
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except OSError as exc:
        raise DriftError(f"cannot run {binary} ({exc.strerror or exc}): install Terraform") from exc
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr)[-ERROR_TAIL_CHARS:]
        raise DriftError(f"terraform {args[0]} in {stack_dir} exited {proc.returncode}:\n{tail}")
    return proc.stdout


#: Protocol names as AWS echoes them in a group's rule list, keyed by what a rule resource may say.
PROTOCOLS = {"6": "tcp", "17": "udp", "1": "icmp", "58": "icmpv6", "all": "-1"}
RULE_TYPES = {"aws_vpc_security_group_ingress_rule": "ingress", "aws_vpc_security_group_egress_rule": "egress"}


def rule_atom(protocol: Any, from_port: Any, to_port: Any, kind: str, target: Any) -> tuple[str, ...]:
    """One rule reduced to what identifies it: protocol, ports (none for all traffic), source or destination."""
    name = PROTOCOLS.get(str(protocol).lower(), str(protocol).lower())
    ports = ("", "") if name == "-1" else (str(from_port), str(to_port))
    if kind == "referenced_security_group_id":  # another account's group reads `<account>/<group id>`
        target = str(target).split("/")[-1]
    return (name, *ports, kind, str(target))


def rule_text(atom: tuple[str, ...], direction: str) -> str:
    """A rule as one line an on-call engineer reads at a glance: ``tcp 5432 from 0.0.0.0/0``."""
    protocol, low, high, _, target = atom
    ports = "all traffic" if protocol == "-1" else f"{protocol} {low}" + (f"-{high}" if high != low else "")
    return f"{ports} {'from' if direction == 'ingress' else 'to'} {target}"


def inline_atoms(rules: Any, group_id: str) -> set[tuple[str, ...]]:
    """A group's ``ingress`` / ``egress`` list (one item per protocol and ports) as single rules."""
    atoms: set[tuple[str, ...]] = set()
    for rule in rules if isinstance(rules, list) else []:
        rule = as_dict(rule)
        targets = [
            *(("cidr_ipv4", c) for c in rule.get("cidr_blocks") or []),
            *(("cidr_ipv6", c) for c in rule.get("ipv6_cidr_blocks") or []),
            *(("prefix_list_id", p) for p in rule.get("prefix_list_ids") or []),
            *(("referenced_security_group_id", g) for g in rule.get("security_groups") or []),
            *((("referenced_security_group_id", group_id),) if rule.get("self") else ()),
        ]
        atoms |= {rule_atom(rule.get("protocol"), rule.get("from_port"), rule.get("to_port"), *t) for t in targets}
    return atoms


def managed_atoms(doc: Mapping[str, Any]) -> dict[tuple[str, str], set[tuple[str, ...]]]:
    """``(group id, "ingress"|"egress") -> rules`` declared as rule resources, from the refreshed prior state."""
    managed: dict[tuple[str, str], set[tuple[str, ...]]] = {}
    resources = as_dict(as_dict(as_dict(doc.get("prior_state")).get("values")).get("root_module")).get("resources")
    for resource in resources if isinstance(resources, list) else []:
        direction = RULE_TYPES.get(as_dict(resource).get("type", ""))
        if direction is None:
            continue
        values = as_dict(resource.get("values"))
        kind = next(
            (k for k in ("cidr_ipv4", "cidr_ipv6", "prefix_list_id", "referenced_security_group_id") if values.get(k)),
            "",
        )
        atom = rule_atom(
            values.get("ip_protocol"), values.get("from_port"), values.get("to_port"), kind, values.get(kind)
        )
        managed.setdefault((str(values.get("security_group_id")), direction), set()).add(atom)
    return managed


def set_aside_managed_rules(doc: dict[str, Any]) -> dict[str, Any]:
    """Each drifted security group's ``ingress`` / ``egress`` on both sides, as the single rules that no rule
    resource declares (``rule_text`` lines, sorted): equal sides then drop out of the report as unchanged."""
    managed = managed_atoms(doc)
    for item in doc.get("resource_drift") or []:
        change = as_dict(as_dict(item).get("change"))
        if as_dict(item).get("type") != "aws_security_group" or not change.get("before") or not change.get("after"):
            continue
        group_id = str(change["after"].get("id") or change["before"].get("id"))
        for direction in ("ingress", "egress"):
            declared = managed.get((group_id, direction), set())
            for side in ("before", "after"):
                extra = sorted(inline_atoms(change[side].get(direction), group_id) - declared)
                change[side][direction] = [rule_text(atom, direction) for atom in extra]
    return doc


#: Counted although no resource's configuration names them: tags (the provider's default tags) and, after
#: ``set_aside_managed_rules``, the rules no rule resource declares.
ALWAYS_WATCHED = frozenset({"tags", "tags_all"})
WATCHED_BY_TYPE: Mapping[str, frozenset[str]] = {"aws_security_group": frozenset({"ingress", "egress"})}


def canonical(value: Any) -> Any:
    """A value compared as meaning: empty (null, "", [], {}) is null, and a list is a set (the provider's sets
    come back in any order)."""
    if isinstance(value, dict):
        items = {key: canonical(item) for key, item in value.items()}
        return {key: item for key, item in items.items() if item is not None} or None
    if isinstance(value, list):
        items = [canonical(item) for item in value]
        return sorted(json.dumps(item, sort_keys=True) for item in items if item is not None) or None
    return None if value == "" else value


def declared_attributes(doc: Mapping[str, Any]) -> dict[str, dict[str, frozenset[str] | None]]:
    """``address -> {attribute its configuration sets: for a nested block, the block's arguments set}`` (root
    module; cdktf stacks have no child modules)."""
    resources = as_dict(as_dict(doc.get("configuration")).get("root_module")).get("resources")
    declared: dict[str, dict[str, frozenset[str] | None]] = {}
    for resource in resources if isinstance(resources, list) else []:
        expressions = as_dict(as_dict(resource).get("expressions"))
        declared[str(resource.get("address"))] = {
            key: frozenset(k for block in value if isinstance(block, dict) for k in block)
            if isinstance(value, list)
            else None
            for key, value in expressions.items()
        }
    return declared


def project(value: Any, keys: frozenset[str] | None) -> Any:
    """A nested block's value reduced to the arguments the configuration sets (the rest is the provider's or the
    API's to fill in: an ACL rule's ``icmp_code`` read back as 0 for "all traffic")."""
    if keys is None:
        return value
    if isinstance(value, list):
        return [project(item, keys) for item in value]
    return {key: item for key, item in value.items() if key in keys} if isinstance(value, dict) else value


def keep_declared_attributes(doc: dict[str, Any]) -> dict[str, Any]:
    """In each drifted (not deleted) resource, an attribute that is not watched, or whose two values mean the same,
    is given its old value on both sides, so the report leaves it out (and the resource, if nothing is left)."""
    declared = declared_attributes(doc)
    for item in doc.get("resource_drift") or []:
        change = as_dict(as_dict(item).get("change"))
        before, after = change.get("before"), change.get("after")
        if not isinstance(before, dict) or not isinstance(after, dict):
            continue
        address = str(item.get("address", "")).split("[")[0]  # count / for_each instances share a configuration
        shapes = declared.get(address, {})
        watched = {*shapes, *ALWAYS_WATCHED, *WATCHED_BY_TYPE.get(str(item.get("type")), ())}
        for key in {*before, *after}:
            keys = shapes.get(key)
            if key not in watched or canonical(project(before.get(key), keys)) == canonical(
                project(after.get(key), keys)
            ):
                after[key] = before.get(key)
    return doc


def plan_drift(stack_dir: Path, out: Path, name: str, env: Mapping[str, str], binary: str, init: bool) -> Path:
    """Init (unless already done), plan refresh-only without the lock, and write the plan's JSON (security-group
    rules set aside) next to the binary plan, which is deleted: both hold secrets in clear."""
    if init:
        terraform(["init", "-input=false", "-no-color"], stack_dir, env, binary)
    plan_file, plan_json = out / f"{name}.drift.tfplan", out / f"{name}.drift.json"
    try:
        terraform(
            ["plan", "-refresh-only", "-lock=false", "-input=false", "-no-color", f"-out={plan_file}"],
            stack_dir,
            env,
            binary,
        )
        shown = terraform(["show", "-json", str(plan_file)], stack_dir, env, binary)
        try:
            doc = json.loads(shown)
        except ValueError as exc:
            raise DriftError(f"terraform show -json printed no JSON: {exc}") from exc
        write_atomically(str(plan_json), json.dumps(keep_declared_attributes(set_aside_managed_rules(doc))))
    finally:
        plan_file.unlink(missing_ok=True)
    return plan_json


def render(stack: StackPlan) -> str:
    """The issue body / job summary: a marker, the verdict, red rows for stateful resources deleted outside
    Terraform, and the plan report's drift section."""
    lines = [MARKER.format(name=stack.name), f"# Drift in `{stack.name}`", ""]
    if not stack.drift:
        lines += ["✅ No drift: every resource in the state matches what exists.", ""]
        return "\n".join(lines)
    lines += render_damage(find_damage_rows([stack]))
    lines += render_drift(stack)
    lines += [
        "Each change was made outside Terraform. Either put it in the code (a pull request) or undo it: the next "
        "deploy of this environment overwrites it. This check does not cover what Terraform does not manage "
        "(docs/operations.md).",
        "",
    ]
    return "\n".join(lines)


def check(
    stack_dir: Path, name: str, out: Path, env: Mapping[str, str], binary: str = "terraform", init: bool = True
) -> int:
    """Plan, write ``<out>/<name>.drift.json`` and ``.drift.md``, and return the exit code."""
    out.mkdir(parents=True, exist_ok=True)
    report = out / f"{name}.drift.md"
    report.unlink(missing_ok=True)  # an error must not leave an earlier run's verdict to be read as this one's
    try:
        plan_json = plan_drift(stack_dir, out, name, env, binary, init)
        stack = load_plan(str(plan_json), name, refresh_only=True)
    except (DriftError, PlanInputError) as exc:
        print(f"drift: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    write_atomically(str(report), render(stack))
    if stack.drift:
        print(f"drift: {stack.drifted} resource(s) in {name} changed outside Terraform: see {report}", file=sys.stderr)
        return EXIT_DRIFT
    print(f"drift: none in {name}", file=sys.stderr)
    return EXIT_CLEAN


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.drift", description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--stack-dir", type=Path, required=True, help="the synthesized stack (cdk.tf.json)")
    parser.add_argument("--name", required=True, help="the environment, for the file names and the report")
    parser.add_argument("--out", type=Path, default=Path("plans"), help="where the plan JSON and report go")
    parser.add_argument("--no-init", action="store_true", help="the stack directory is initialised already")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on a usage error, which would read as "drift"
        return EXIT_CLEAN if exc.code == 0 else EXIT_ERROR
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]*", args.name):
        print(f"drift: error: --name {args.name!r}: letters, digits, - and _ only (it names files)", file=sys.stderr)
        return EXIT_ERROR
    if not (args.stack_dir / "cdk.tf.json").is_file():
        print(f"drift: error: --stack-dir {args.stack_dir}: no cdk.tf.json (synthesize first)", file=sys.stderr)
        return EXIT_ERROR
    return check(args.stack_dir.resolve(), args.name, args.out.resolve(), os.environ, init=not args.no_init)


if __name__ == "__main__":
    sys.exit(main())
