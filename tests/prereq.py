"""Prerequisites of the test tiers that live outside the repository, in one place.

A missing prerequisite skips the tests that need it with one reason that says what to install and
how; under ``CI`` (set by GitHub Actions and by ``.ci/run``'s runner) it fails them instead, so CI
never passes by skipping. ``tests/README.md`` lists the tiers.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def corpus_dir() -> Path:
    """The labeled failure-log corpus: ``$CI_HEALER_CORPUS``, else ``../shared/corpus`` beside the repository."""
    return Path(os.environ.get("CI_HEALER_CORPUS") or REPO_ROOT.parent / "shared" / "corpus")


def missing(reason: str) -> None:
    """Skip the calling test with ``reason``; fail it when ``CI`` is set. Never returns."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (required when CI is set)", pytrace=False)
    pytest.skip(reason)


def require_corpus() -> Path:
    """:func:`corpus_dir` when it holds ``INDEX.jsonl``; else skips (fails under ``CI``) with how to get it."""
    root = corpus_dir()
    if not (root / "INDEX.jsonl").is_file():
        missing(
            f"the failure-log corpus is not at {root}: set CI_HEALER_CORPUS to a folder holding "
            "INDEX.jsonl and <source>/<case>/log.txt (layout: bench/README.md)"
        )
    return root
