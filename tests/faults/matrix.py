"""A shared collector for the fault matrices (REST faults, model faults).

Each case of a matrix calls :func:`record` with its kind (``"rest"``, ``"llm"``...), the case name
and what happened; ``tests/conftest.py`` prints every row at the end of the test session, grouped
by kind, so the matrix is visible in the CI log and not only as pass/fail counts.

Under pytest-xdist each worker process records its own rows: the worker hands them to the
controller in ``config.workeroutput`` (:func:`export`), the controller gathers them
(:func:`absorb`) and prints one table, in the tests' collection order, as a run in one process does.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Row:
    """One case of a fault matrix: ``kind`` (the matrix), ``case`` (the fault and where it was
    injected) and ``outcome`` (what ci-healer did about it, in a few words); ``test`` is the node id
    of the test that recorded it ("" outside a test), used to order the rows of several workers."""

    kind: str
    case: str
    outcome: str
    test: str = ""


#: the key of the rows in ``config.workeroutput`` (pytest-xdist)
WORKEROUTPUT_KEY = "fault_matrix_rows"

_ROWS: list[Row] = []
_LOCK = threading.Lock()
_current_test = ""
# node id -> position in the collection, identical in every xdist worker (xdist checks that)
_order: dict[str, int] = {}


def record(kind: str, case: str, outcome: str) -> None:
    """Add one row to the matrix ``kind``."""
    with _LOCK:
        _ROWS.append(Row(kind, case, outcome, _current_test))


def rows() -> list[Row]:
    """All rows recorded so far (in this process, plus those absorbed from workers), in the order of
    the tests that recorded them, and in recording order within one test."""
    with _LOCK:
        found = list(enumerate(_ROWS))
    found.sort(key=lambda pair: (_order.get(pair[1].test, len(_order)), pair[0]))
    return [row for _, row in found]


def set_collection(nodeids: list[str]) -> None:
    """Remember the collection order (``session.items``) that :func:`rows` sorts by."""
    _order.clear()
    _order.update({nodeid: i for i, nodeid in enumerate(nodeids)})


def set_current_test(nodeid: str) -> None:
    """Attribute the rows recorded from now on to the test ``nodeid`` ("" between tests)."""
    global _current_test
    _current_test = nodeid


def export() -> list[dict[str, str]]:
    """This process's rows as plain dicts (what ``config.workeroutput`` can carry)."""
    with _LOCK:
        return [
            {
                "kind": r.kind,
                "case": r.case,
                "outcome": r.outcome,
                "test": r.test,
                "order": _order.get(r.test, -1),
            }
            for r in _ROWS
        ]


def absorb(exported: Any) -> None:
    """Add the rows :func:`export` produced in a worker (a list of dicts; anything else is ignored),
    with the collection position of the tests that recorded them."""
    if not isinstance(exported, list):
        return
    with _LOCK:
        for d in exported:
            row = Row(str(d["kind"]), str(d["case"]), str(d["outcome"]), str(d.get("test", "")))
            _ROWS.append(row)
            if isinstance(d.get("order"), int) and d["order"] >= 0:
                _order.setdefault(row.test, d["order"])


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
