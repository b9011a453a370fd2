"""Show the e2e tests' summaries (checkov suppressions, validate results, wall times) at the end of the run.

Tests record text with the ``e2e_summary`` fixture (a ``record_property``), so the text travels in the test
report, also from pytest-xdist workers to the controller.  These two hooks collect and print it.  They are
active whenever ``tests/e2e/conftest.py`` is loaded on the process that prints the summary; under
``pytest -n 2`` over ``tests/`` the controller does not load that conftest, so load this module as a plugin
there (``-p tests.e2e.summary``, e.g. in pytest.ini's addopts) to see the summary.
"""

from __future__ import annotations

import pytest

SUMMARY_KEY = "e2e_summary"
_collected: dict[tuple[str, str], None] = {}  # ordered, de-duplicated (conftest + -p plugin may both run)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call":
        for key, value in report.user_properties:
            if key == SUMMARY_KEY:
                _collected[(report.nodeid, str(value))] = None


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    if not _collected or getattr(config, "_e2e_summary_printed", False):
        return
    config._e2e_summary_printed = True
    terminalreporter.section("e2e summary (checkov gate, terraform validate, emulator round trip)")
    for nodeid, text in _collected:
        terminalreporter.write_line(f"[{nodeid}]")
        for line in text.strip("\n").splitlines():
            terminalreporter.write_line(f"  {line}")
