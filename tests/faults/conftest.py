"""Fault-matrix tier: prints the rows every matrix recorded (see :mod:`tests.faults.matrix`)."""

from __future__ import annotations

from tests.faults.matrix import report


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    """Print the fault matrices, grouped by kind, after the test session."""
    report(terminalreporter)
