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


def tool(name: str, package: str, *, what: str) -> str:
    """Path of the ``name`` executable (on PATH or beside this Python); skips the calling test
    (fails under ``CI``) when it is missing, saying ``pip install package`` and ``what`` was not done."""
    import shutil
    import sys

    found = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    if not found:
        missing(f"{name} is not installed (pip install {package}); {what}")
    return str(found)


def offline_env() -> dict[str, str]:
    """The environment without any GitHub token, so a linter such as zizmor cannot go online."""
    drop = {"GH_TOKEN", "GITHUB_TOKEN", "ZIZMOR_GITHUB_TOKEN", "GH_HOST"}
    env = {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("ZIZMOR_")}
    env["NO_COLOR"] = "1"
    return env
