"""The shipped configuration with its placeholders filled in, as an operator fills them: the state bucket, the
accounts, the GitHub repository. Everything else (comments, environments, sizes) stays as shipped.

`make emulator` writes one for the local trial (every account moto's default one: the single-account
fallback), and the tests write one standing in for an operator, so `python main.py` runs exactly as it would
after an operator edited `config/environments.toml`.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path

SHIPPED = Path(__file__).resolve().parents[1] / "config" / "environments.toml"


def fill_placeholders(
    shipped: str, *, bucket: str, accounts: Mapping[str, str], repository: str, repository_id: int
) -> str:
    """`shipped` (TOML text) with `[backend] bucket` and `account_id`, every `[environments.<env>] account_id`
    (`accounts`: `backend` and each environment name) and `[ci] repository` / `repository_id` replaced."""
    replacements: dict[str, dict[str, str]] = {
        "backend": {"bucket": _quoted(bucket), "account_id": _quoted(accounts["backend"])},
        "ci": {"repository": _quoted(repository), "repository_id": str(repository_id)},
    }
    document = tomllib.loads(shipped)
    for env in document.get("environments", {}):
        replacements[f"environments.{env}"] = {"account_id": _quoted(accounts[env])}
    section, lines, done = "", [], set()
    for line in shipped.splitlines(keepends=True):
        header = re.fullmatch(r"\s*\[([A-Za-z0-9_.-]+)\]\s*", line)
        if header:
            section = header.group(1)
        setting = re.match(r"(\s*)([A-Za-z_]+)(\s*=\s*)", line)
        if setting and setting.group(2) in replacements.get(section, {}):
            value = replacements[section][setting.group(2)]
            line = f"{setting.group(1)}{setting.group(2)}{setting.group(3)}{value}\n"
            done.add((section, setting.group(2)))
        lines.append(line)
    missing = {(s, k) for s, keys in replacements.items() for k in keys} - done
    if missing:
        raise ValueError(f"the shipped configuration has no line for {sorted(missing)}")
    return "".join(lines)


def write_filled_config(path: Path, **values: object) -> Path:
    """`fill_placeholders` of the shipped file, written to `path` (atomically: parallel test workers share it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = fill_placeholders(SHIPPED.read_text(encoding="utf-8"), **values)  # type: ignore[arg-type]
    scratch = path.with_name(f".{path.name}.{os.getpid()}")
    scratch.write_text(text, encoding="utf-8")
    scratch.replace(path)
    return path


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
