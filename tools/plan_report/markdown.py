"""Markdown that untrusted text cannot break: ``cell`` escapes text for a table cell, ``code`` makes inline code
that is safe inside one, ``fenced`` a code block whose fence outlasts any backtick run in its text. Resource
addresses, values and policy documents in a plan come from the pull request under review, so every piece of plan
text reaches the report through these three; they sit in a module of their own because the risk rules (the state
warnings' wording) and the renderer both need them.
"""

from __future__ import annotations

import html


def cell(text: str) -> str:
    """Escape text for a Markdown table cell."""
    return html.escape(text, quote=False).replace("|", "&#124;").replace("\n", " ")


def code(text: str) -> str:
    """Inline code that is safe inside a table cell (backticks and pipes can't break it)."""
    return f"<code>{cell(text)}</code>"


def fenced(language: str, text: str) -> list[str]:
    """A fenced code block whose fence is longer than any backtick run in ``text`` (so it can't be closed early)."""
    longest = run = 0
    for char in text:
        run = run + 1 if char == "`" else 0
        longest = max(longest, run)
    fence = "`" * max(3, longest + 1)
    return [f"{fence}{language}", *text.splitlines(), fence]
