"""Prerequisites of the test tiers that live outside the repository, in one place.

A missing prerequisite skips the tests that need it with one reason that says what to install and
how; under ``CI`` (set by GitHub Actions and by ``.ci/run``'s runner) it fails them instead, so CI
never passes by skipping. ``tests/README.md`` lists the tiers.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NoReturn

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


def corpus_reason(what: str = "") -> str:
    """Why a test that needs the corpus (or its part ``what``) cannot run: one text for all of them.
    ``what`` is named only when the corpus itself is there."""
    root = corpus_dir()
    where = f"has no {what}" if what and (root / "INDEX.jsonl").is_file() else "is not"
    return (
        f"the failure-log corpus {where} at {root}: set CI_HEALER_CORPUS to a folder holding "
        "INDEX.jsonl and <source>/<case>/log.txt (layout: bench/README.md)"
    )


def corpus_missing(what: str = "") -> NoReturn:
    """Skip the calling test because the corpus (or the part ``what`` of it, e.g. a source folder)
    is absent, with one reason for every such test, so the run says it once. Fails instead under
    ``CI``, unless ``CI_HEALER_NO_CORPUS=1`` says this clone has no corpus on purpose (``.ci/run``)."""
    reason = corpus_reason(what)
    if os.environ.get("CI_HEALER_NO_CORPUS") == "1":
        pytest.skip(reason)
    missing(reason)
    raise AssertionError("unreachable")  # missing() never returns


def require_corpus() -> Path:
    """:func:`corpus_dir` when it holds ``INDEX.jsonl``; else :func:`corpus_missing`."""
    root = corpus_dir()
    if not (root / "INDEX.jsonl").is_file():
        corpus_missing()
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
