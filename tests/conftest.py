"""Fixtures shared by every tier (see tests/README.md)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ci_healer.repo import LocalRepo
from tests.prereq import REPO_ROOT, require_corpus


@pytest.fixture(scope="session")
def corpus() -> Path:
    """The labeled failure-log corpus folder; skips (fails under ``CI``) when it is absent."""
    return require_corpus()


@pytest.fixture()
def example_repo(tmp_path: Path) -> LocalRepo:
    """A private copy of the bundled example repository (``examples/missing-dependency/repo``);
    tests may change or add files in it."""
    target = tmp_path / "repo"
    shutil.copytree(REPO_ROOT / "examples" / "missing-dependency" / "repo", target)
    return LocalRepo(target, name="tidyconf")
