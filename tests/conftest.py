"""Fixtures shared by every tier (see tests/README.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.prereq import require_corpus


@pytest.fixture(scope="session")
def corpus() -> Path:
    """The labeled failure-log corpus folder; skips (fails under ``CI``) when it is absent."""
    return require_corpus()
