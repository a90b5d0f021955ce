"""Fixtures shared by every tier (see tests/README.md)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ci_healer.repo import LocalRepo
from tests.faults import matrix
from tests.prereq import REPO_ROOT, require_corpus


def pytest_addoption(parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager) -> None:
    """Accept ``--numprocesses`` (in ``addopts``) when pytest-xdist is not installed or is disabled with
    ``-p no:xdist``: the tests then run in this one process, as with ``-n 0``."""
    if not pluginmanager.has_plugin("xdist"):
        parser.addoption(
            "--numprocesses",
            dest="numprocesses",
            default=None,
            help="ignored: pytest-xdist is not installed or is disabled, the tests run in one process",
        )


#: the marker expression of ``addopts`` (pyproject.toml): the fast tiers
FAST_TIERS = "not slow and not e2e"


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int | None:
    """``--numprocesses=auto`` (in ``addopts``) spreads the README's test command (the fast tiers
    of the whole ``testpaths``) over the CPUs; any other selection runs in one process: named files
    or folders (starting workers costs more than a file takes), and ``-m`` with another marker
    expression, as the end-to-end tier shares one Docker daemon and must not run in parallel.
    An explicit ``-n N`` always wins; ``-n auto`` on the command line spreads any selection.
    ``None`` lets pytest-xdist count the CPUs."""
    asked = any(a == "-n" or a.startswith(("-n", "--numprocesses")) for a in config.invocation_params.args)
    if asked:
        return None
    whole = config.args_source is pytest.Config.ArgsSource.TESTPATHS
    if not whole or config.option.markexpr != FAST_TIERS:
        return 0
    return None


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


# ---- the fault matrix (tests/faults/matrix.py), with or without pytest-xdist ---------------------


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    """Remember the collection order, by which the matrix rows of several workers are sorted."""
    matrix.set_collection([item.nodeid for item in session.items])


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    """Attribute the matrix rows recorded during ``item`` (setup, call, teardown) to it."""
    matrix.set_current_test(item.nodeid)
    try:
        return (yield)
    finally:
        matrix.set_current_test("")


def pytest_sessionfinish(session: pytest.Session) -> None:
    """In a pytest-xdist worker: hand this worker's matrix rows to the controller."""
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput[matrix.WORKEROUTPUT_KEY] = matrix.export()


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    """On the pytest-xdist controller: gather the rows of a worker that finished."""
    matrix.absorb(getattr(node, "workeroutput", {}).get(matrix.WORKEROUTPUT_KEY))


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """Print the fault matrices, grouped by kind, after the test session (the controller's, under
    pytest-xdist: a worker prints nothing), then what was skipped: each reason once, with the
    number of tests it skipped (``-ra`` lists them per place)."""
    matrix.report(terminalreporter)
    reasons: dict[str, int] = {}
    for report in terminalreporter.stats.get("skipped", []):
        longrepr = getattr(report, "longrepr", None)
        reason = str(longrepr[2]) if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)
        reason = reason.removeprefix("Skipped: ")
        reasons[reason] = reasons.get(reason, 0) + 1
    if reasons:
        terminalreporter.section("skipped, and why")
        for reason, count in sorted(reasons.items(), key=lambda pair: -pair[1]):
            terminalreporter.write_line(f"{count:5} test{'s' if count != 1 else ' '}  {reason}")
