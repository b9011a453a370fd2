"""docs/configuration.md's table names every setting with its real default: checked against the dataclasses."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from stacks.config import _SECTIONS, EnvironmentConfig, ProjectConfig
from stacks.platform_config import BackendConfig, CiConfig

CONFIGURATION_DOC = Path(__file__).resolve().parent.parent / "docs" / "configuration.md"
#: EnvironmentConfig fields that are not settings: `name` is the table's own key, [environments.<name>].
NOT_SETTINGS = frozenset({"name"})
_NO_DEFAULT = "—"
_EMPTY = "none"


def documented() -> dict[str, str]:
    """Setting -> default as the documentation's table writes it (`—`: required, `none`: empty)."""
    text = CONFIGURATION_DOC.read_text(encoding="utf-8")
    table = text[text.index("| Setting | Default | Meaning |") :]
    rows = [line for line in table.splitlines()[2:] if line.startswith("| ")]
    settings: dict[str, str] = {}
    for row in rows[: next((i for i, r in enumerate(rows) if not r.startswith("| `")), len(rows))]:
        names_cell, defaults_cell = (cell.strip() for cell in row.strip("|").split(" | ")[:2])
        names = re.findall(r"`([^`]+)`", names_cell)
        defaults = [_item(item) for item in re.split(r" / ", defaults_cell)]
        assert len(names) == len(defaults), f"names and defaults do not pair up in: {row}"
        # The first name is written in full; the others in the row share its section prefix.
        prefix = re.match(r"(.*[. ])?", names[0]).group(0)  # type: ignore[union-attr]
        for index, (name, default) in enumerate(zip(names, defaults, strict=True)):
            full = name if index == 0 else prefix + name
            assert full not in settings, f"{full} is documented twice"
            settings[full] = default
    return settings


def _item(item: str) -> str:
    match = re.match(r"`([^`]*)`", item.strip())
    return match.group(1) if match else item.strip().split(" ")[0]


def actual() -> dict[str, str]:
    """Setting -> default rendered the documentation's way, from the configuration dataclasses."""

    def render(value: Any) -> str:
        if value is dataclasses.MISSING:
            return _NO_DEFAULT
        if isinstance(value, bool):
            return "true" if value else "false"
        if value is None or value in ((), {}, ""):
            return _EMPTY
        return str(value)

    def default(field: dataclasses.Field) -> Any:
        if field.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
            return field.default_factory()  # type: ignore[misc]
        return field.default

    def rows() -> Iterator[tuple[str, str]]:
        for cls, prefix in ((ProjectConfig, "[project] "), (BackendConfig, "[backend] "), (CiConfig, "[ci] ")):
            yield from ((prefix + f.name, render(default(f))) for f in dataclasses.fields(cls))
        for f in dataclasses.fields(EnvironmentConfig):
            if f.name not in _SECTIONS and f.name not in NOT_SETTINGS:
                yield f.name, render(default(f))
        for section, cls in _SECTIONS.items():
            yield from ((f"{section}.{f.name}", render(default(f))) for f in dataclasses.fields(cls))

    return dict(rows())


def test_readme_documents_every_setting_and_nothing_else() -> None:
    assert sorted(documented()) == sorted(actual())


def test_readme_defaults_are_the_dataclass_defaults() -> None:
    readme, code = documented(), actual()
    assert {k: v for k, v in readme.items() if code.get(k) != v} == {}
