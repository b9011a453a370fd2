"""`python -m tools.cost`: the monthly bill per environment (make cost), or base -> head for the PR report."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tools.cost.estimate import changes, config_path, estimate, loads_from_config, read_stack
from tools.cost.render import bill, comparison
from tools.cost.table import CostError, load_prices, load_usage


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tools.cost", description=__doc__)
    parser.add_argument("stacks", type=Path, help="directory of synthesized stacks (cdktf.out/stacks): the head")
    parser.add_argument("--env", action="append", default=[], help="only this environment (repeatable)")
    parser.add_argument(
        "--config", help="configuration file (default: JAPANCART_CONFIG, else config/environments.toml)"
    )
    parser.add_argument("--base", type=Path, help="the base branch's synthesized stacks: print base -> head")
    parser.add_argument("--base-config", help="the base branch's configuration file (default: --config's)")
    return parser.parse_args(argv)


def run(args: argparse.Namespace) -> str:
    prices, usage = load_prices(), load_usage()
    loads = loads_from_config(config_path(args.config), usage)
    for name in args.env:
        if name not in loads:
            raise CostError("--env", name, f"an environment of the configuration ({', '.join(loads)})")
    environments = args.env or [name for name in loads if (args.stacks / name / "cdk.tf.json").exists()]
    if not environments:
        raise CostError("stacks", str(args.stacks), "a directory holding <environment>/cdk.tf.json (run make synth)")
    header = f"Monthly cost per environment ({prices.header}; docs/cost.md says what is not covered)\n"
    base_loads = loads_from_config(Path(args.base_config), usage) if args.base_config else loads
    parts = [header]
    for name in environments:
        head = estimate(read_stack(args.stacks / name / "cdk.tf.json"), prices, usage, loads[name])
        if args.base is None:
            parts.append(bill(name, head))
            continue
        base_file = args.base / name / "cdk.tf.json"
        base = (
            estimate(read_stack(base_file), prices, usage, base_loads.get(name, loads[name]))
            if base_file.exists()
            else None
        )
        parts.append(comparison(name, base, head, changes(base or [], head)))
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    try:
        print(run(parse(argv)), end="")
    except CostError as error:
        print(f"cost: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
