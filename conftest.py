"""Root pytest hooks: report how long each chapter takes under nbval.

Every chapter must run in under ``CHAPTER_BUDGET_S`` seconds in fast mode. The
times are printed at the end of the run and written to ``_build/chapter-times.json``;
a chapter over budget is named in the report.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest

CHAPTER_BUDGET_S = 90.0
_chapter_seconds: dict[str, float] = defaultdict(float)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    path = report.nodeid.split("::", 1)[0]
    if path.endswith(".ipynb"):
        _chapter_seconds[path] += report.duration


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _chapter_seconds:
        return
    terminalreporter.section("chapter execution times (nbval)")
    for path, seconds in sorted(_chapter_seconds.items()):
        flag = "" if seconds <= CHAPTER_BUDGET_S else f"  OVER THE {CHAPTER_BUDGET_S:.0f} s BUDGET"
        terminalreporter.write_line(f"{seconds:7.1f} s  {path}{flag}")
    out = Path(__file__).resolve().parent / "_build" / "chapter-times.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(dict(sorted(_chapter_seconds.items())), indent=2) + "\n")
