"""Write small configuration files for tests (TOML from nested dicts)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {value!r} as TOML")


def write_config(directory: Path, environments: dict[str, dict[str, Any]], **sections: dict[str, Any]) -> Path:
    """A config file with [backend], [ci] and the given [environments.<name>] tables; each environment in its
    own test account unless its table names one (`account_id`), the sections' other settings as given."""
    from synthesis import TEST_ACCOUNTS, TEST_REPOSITORY

    defaults = {
        "backend": {"bucket": "test-state-bucket", "account_id": TEST_ACCOUNTS["backend"]},
        "ci": {"repository": TEST_REPOSITORY},
    }
    lines = []
    for section, table in {**defaults, **sections}.items():
        lines.append(f"[{section}]")
        lines += [f"{k} = {_value(v)}" for k, v in {**defaults.get(section, {}), **table}.items()]
    for name, table in environments.items():
        lines.append(f"[environments.{name}]")
        lines += [
            f"{k} = {_value(v)}" for k, v in {"account_id": TEST_ACCOUNTS.get(name, "111111111111"), **table}.items()
        ]
    path = directory / "environments.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def dump_config(document: dict[str, Any]) -> str:
    """A parsed configuration written back as TOML: top-level tables, then one table per environment."""
    lines = []
    for section, table in document.items():
        for name, body in table.items() if section == "environments" else [(None, table)]:
            lines.append(f"[{section}.{name}]" if name else f"[{section}]")
            lines += [f"{k} = {_value(v)}" for k, v in body.items()]
    return "\n".join(lines) + "\n"
