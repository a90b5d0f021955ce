"""A shared collector for the fault matrices (REST faults, model faults).

Each case of a matrix calls :func:`record` with its kind (``"rest"``, ``"llm"``...), the case name
and what happened; ``tests/faults/conftest.py`` prints every row at the end of the test session,
grouped by kind, so the matrix is visible in the CI log and not only as pass/fail counts.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass


@dataclass(frozen=True)
class Row:
    """One case of a fault matrix: ``kind`` (the matrix), ``case`` (the fault and where it was
    injected) and ``outcome`` (what ci-healer did about it, in a few words)."""

    kind: str
    case: str
    outcome: str


_ROWS: list[Row] = []
_LOCK = threading.Lock()


def record(kind: str, case: str, outcome: str) -> None:
    """Add one row to the matrix ``kind``."""
    with _LOCK:
        _ROWS.append(Row(kind, case, outcome))


def rows() -> list[Row]:
    """All rows recorded so far, in recording order."""
    with _LOCK:
        return list(_ROWS)


def report(terminalreporter) -> None:
    """Print every row, grouped by kind, with counts (call from ``pytest_terminal_summary``)."""
    found = rows()
    if not found:
        return
    kinds = sorted({r.kind for r in found})
    terminalreporter.section("fault matrix")
    for kind in kinds:
        mine = [r for r in found if r.kind == kind]
        width = max(len(r.case) for r in mine)
        terminalreporter.write_line(f"{kind}: {len(mine)} cases")
        for r in mine:
            terminalreporter.write_line(f"  {r.case.ljust(width)}  {r.outcome}")
    terminalreporter.write_line(f"total: {len(found)} cases")
