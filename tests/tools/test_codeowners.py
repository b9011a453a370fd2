"""CODEOWNERS owns every path (issue 16, item 8), read with GitHub's rules.

GitHub reads the first of ``.github/CODEOWNERS``, ``CODEOWNERS``, ``docs/CODEOWNERS``; each line is a pattern and
its owners, and for a file the LAST matching line decides (a line without owners leaves the file unowned).
Patterns follow most gitignore rules, except that ``!`` negation, ``[ ]`` ranges and ``\\#`` escapes do not work,
and ``dir/*`` matches only the files directly in ``dir``. The matcher below implements those rules and is
tested on the examples of GitHub's documentation ("About code owners") before it is trusted with ours.
"""

from __future__ import annotations

import re
import subprocess
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CODEOWNERS = ROOT / ".github" / "CODEOWNERS"
PLATFORM = "@japancart/platform-engineering"
OWNER = re.compile(r"@[A-Za-z0-9-]+(/[A-Za-z0-9._-]+)?|[^@\s]+@[^@\s]+\.[^@\s]+")
#: Paths that decide what deploys, who may deploy it and what gates a deploy: platform engineering owns them.
CONTROL_PLANE = (
    ".github/CODEOWNERS",
    ".github/workflows/pull-request.yml",
    ".github/workflows/deploy.yml",
    ".ci/run",
    "tools/policy_gate.py",
    "tools/policy_allowlist.toml",
    "tools/plan_report/risk.py",
    "stacks/app.py",
    "constructs_lib/security_group_rules.py",
    "constructs_lib/encryption.py",
    "config/environments.toml",
    "main.py",
    "stacks/provider_import.py",
    "cdktf.json",
    "Makefile",
    "Pipfile",
    "Pipfile.lock",
    "package.json",
    "package-lock.json",
    "processor/handler.py",
    "processor/migrations/0001_initial_schema.sql",
)


def glob_regex(pattern: str) -> re.Pattern[str]:
    """A CODEOWNERS pattern as a regex over a repository path (no leading slash)."""
    anchored = pattern.startswith("/") or "/" in pattern.rstrip("/")
    directory = pattern.endswith("/")
    segments = pattern.strip("/").split("/")
    parts = []
    for index, segment in enumerate(segments):
        last = index == len(segments) - 1
        if segment == "**":
            parts.append(".*" if last else "(?:.*/)?")
            continue
        translated = "".join("[^/]*" if c == "*" else "[^/]" if c == "?" else re.escape(c) for c in segment)
        parts.append(translated if last else translated + "/")
    body = "".join(parts)
    if directory:
        tail = "/.*"
    elif "*" in segments[-1] or "?" in segments[-1]:
        tail = ""  # `docs/*`: the entries directly in docs/, not what is below them
    else:
        tail = "(?:/.*)?"  # a name: the file, or the directory and everything in it
    return re.compile(("" if anchored else "(?:.*/)?") + body + tail)


def parse(text: str) -> list[tuple[str, tuple[str, ...]]]:
    """(pattern, owners) per rule line, refusing syntax GitHub does not support and owners it cannot resolve."""
    rules = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        pattern, *owners = line.split("#", 1)[0].split()
        assert not pattern.startswith("!") and "[" not in pattern and "\\" not in pattern, (
            f"line {number}: unsupported {pattern!r}"
        )
        for owner in owners:
            assert OWNER.fullmatch(owner), f"line {number}: {owner!r} is not @user, @org/team or an e-mail address"
        rules.append((pattern, tuple(owners)))
    return rules


def owners_of(path: str, rules: list[tuple[str, tuple[str, ...]]]) -> tuple[str, ...] | None:
    """The owners of the last matching rule (None: no rule matches; (): a rule un-owns it)."""
    found = None
    for pattern, owners in rules:
        if glob_regex(pattern).fullmatch(path):
            found = owners
    return found


@cache
def rules() -> list[tuple[str, tuple[str, ...]]]:
    return parse(CODEOWNERS.read_text(encoding="utf-8"))


def tracked_files() -> list[str]:
    done = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"git ls-files failed (the test needs the git checkout): {done.stderr}"
    files = [f for f in done.stdout.split("\0") if f]
    assert len(files) > 100, files
    return files


# The example file of GitHub's documentation ("About code owners"), its comments left out; each case below is
# one of the statements those comments make.
DOC_RULES = """
*       @global-owner1 @global-owner2
*.js    @js-owner
*.go docs@example.com
*.txt @octo-org/octocats
/build/logs/ @doctocat
docs/*  docs@example.com
apps/ @octocat
/docs/ @doctocat
/scripts/ @doctocat @octocat
**/logs @octocat
/apps/ @octocat
/apps/github
"""


@pytest.mark.parametrize(
    "path, expected",
    [
        ("README.md", ("@global-owner1", "@global-owner2")),  # default owners for everything
        ("src/app.js", ("@js-owner",)),  # a later match takes precedence
        ("main.go", ("docs@example.com",)),  # e-mail addresses work as owners
        ("notes.txt", ("@octo-org/octocats",)),  # teams: @org/team-name
        ("docs/getting-started.md", ("@doctocat",)),  # docs/* matches, and /docs/ comes later
        ("scripts/deploy.sh", ("@doctocat", "@octocat")),  # "approval from @doctocat or @octocat"
        ("build/logs/today.txt", ("@octocat",)),  # /build/logs/, then **/logs (a later line)
        ("deeply/nested/logs/x.txt", ("@octocat",)),  # "any file in a /logs directory such as /deeply/nested/logs"
        ("web/apps/index.html", ("@octocat",)),  # "any file in an apps directory anywhere"
        ("apps/github/index.html", ()),  # "except for the /apps/github subdirectory, as its owners are left empty"
    ],
)
def test_the_matcher_follows_githubs_examples(path: str, expected: tuple[str, ...]) -> None:
    assert owners_of(path, parse(DOC_RULES)) == expected


def test_dir_star_matches_only_the_files_directly_in_it() -> None:
    """GitHub: `docs/*` matches docs/getting-started.md but not docs/build-app/troubleshooting.md."""
    doc_rules = parse("* @default\ndocs/* docs@example.com\n")
    assert owners_of("docs/getting-started.md", doc_rules) == ("docs@example.com",)
    assert owners_of("docs/build-app/troubleshooting.md", doc_rules) == ("@default",)


def test_unsupported_syntax_and_unresolvable_owners_are_refused() -> None:
    for text in ("!/tools/ @a", "/[ab]/ @a", "\\#file @a", "/tools/ japancart/platform-engineering"):
        with pytest.raises(AssertionError):
            parse(text)


def test_there_is_one_codeowners_file() -> None:
    """GitHub uses the first of three locations; a second file would be silently ignored (or win)."""
    assert [p for p in ("CODEOWNERS", "docs/CODEOWNERS") if (ROOT / p).exists()] == []
    assert CODEOWNERS.is_file()


def test_every_tracked_file_has_an_owner() -> None:
    unowned = [path for path in tracked_files() if not owners_of(path, rules())]
    assert unowned == [], f"files without a code owner: {unowned}"


def test_a_file_added_anywhere_later_is_owned() -> None:
    for path in ("new_module.py", "docs/new/guide.md", "a/b/c/d.txt", ".hidden"):
        assert owners_of(path, rules()) == (PLATFORM,), path


@pytest.mark.parametrize("path", CONTROL_PLANE)
def test_the_control_plane_is_owned_by_platform_engineering(path: str) -> None:
    assert path in tracked_files(), f"{path} is not tracked: update CONTROL_PLANE"
    assert PLATFORM in (owners_of(path, rules()) or ()), path
