"""Root pytest hooks: report how long each chapter takes under nbval.

Every chapter must run in under ``CHAPTER_BUDGET_S`` seconds in fast mode, and all of
them together in under ``BOOK_BUDGET_S``. The times are printed at the end of the run and
written to ``_build/chapter-times.json``; in fast mode a chapter (or the book) over budget
fails the run.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest

CHAPTER_BUDGET_S = 90.0
BOOK_BUDGET_S = 15 * 60.0
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


def over_budget(seconds: dict[str, float]) -> list[str]:
    """Chapters over ``CHAPTER_BUDGET_S`` and, if so, the book over ``BOOK_BUDGET_S``."""
    problems = [
        f"{path} took {t:.0f} s (budget {CHAPTER_BUDGET_S:.0f} s)"
        for path, t in sorted(seconds.items())
        if t > CHAPTER_BUDGET_S
    ]
    if sum(seconds.values()) > BOOK_BUDGET_S:
        problems.append(
            f"all chapters took {sum(seconds.values()):.0f} s (budget {BOOK_BUDGET_S:.0f} s)"
        )
    return problems


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    from gdynbook import config

    problems = over_budget(_chapter_seconds) if config.fast_mode() else []
    if problems and exitstatus == 0:
        for problem in problems:
            print(f"\nTIME BUDGET EXCEEDED: {problem}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
