"""The README and docs/ stay a front door and a set of rooms: every relative link lands on a file and a
heading that exist, every page is reachable from the README, and the README stays short (issue 18)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = sorted([ROOT / "README.md", ROOT / "CHANGELOG.md", *(ROOT / "docs").glob("*.md")])
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def anchors(page: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens (code spans included)."""
    found = set()
    for line in re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S).splitlines():
        if match := re.match(r"#{1,6} (.*)", line):
            found.add(re.sub(r"[^\w\- ]", "", match.group(1).strip().lower()).replace(" ", "-"))
    return found


def local_links(page: Path) -> list[tuple[Path, str]]:
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)
    links = []
    for target in LINK.findall(text):
        if re.match(r"[a-z]+:", target):
            continue
        path, _, anchor = target.partition("#")
        links.append(((page.parent / path).resolve() if path else page, anchor))
    return links


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_lands_on_a_file_and_heading(page: Path) -> None:
    for target, anchor in local_links(page):
        assert target.exists(), f"{page.relative_to(ROOT)} links to a missing {target}"
        if anchor:
            assert anchor in anchors(target), (
                f"{page.relative_to(ROOT)} links to a missing heading #{anchor} of {target.name}"
            )


def test_every_page_of_docs_is_reachable_from_the_readme() -> None:
    linked = {target for target, _ in local_links(ROOT / "README.md")}
    assert set((ROOT / "docs").glob("*.md")) - {ROOT / "docs" / "README.md"} <= linked
    assert ROOT / "CHANGELOG.md" in linked


def test_the_readme_is_a_front_door_not_a_manual() -> None:
    lines = (ROOT / "README.md").read_text(encoding="utf-8").count("\n")
    assert lines <= 200, f"README.md has {lines} lines: move the detail to docs/"


def test_nothing_points_at_readme_sections_that_moved() -> None:
    """Comments and messages once cited `README, "<section>"`; the sections live in docs/ now."""
    stale = []
    for path in [
        ROOT / "main.py",
        ROOT / "Makefile",
        *ROOT.glob("config/*.toml"),
        *ROOT.glob(".github/**/*"),
        *ROOT.glob("stacks/*.py"),
        *ROOT.glob("constructs_lib/*.py"),
        *ROOT.glob("processor/*.py"),
        *ROOT.glob("tools/**/*.py"),
        *ROOT.glob("tools/*.toml"),
    ]:
        if path.is_file() and re.search(r'README,? \(?"', path.read_text(encoding="utf-8")):
            stale.append(str(path.relative_to(ROOT)))
    assert not stale, stale
