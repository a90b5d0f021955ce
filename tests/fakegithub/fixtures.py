"""pytest fixtures for the fake GitHub. Import them into a test module or a conftest::

    from tests.fakegithub.fixtures import fake_github, standard_fake  # noqa: F401

Both start a server on 127.0.0.1 (free port) and **fail the test at teardown** when any request or
response disagreed with GitHub's REST description, listing every violation. When the npm
descriptions are missing the test is skipped, unless ``CI`` is set, where it fails.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from .scenario import Scenario, standard
from .server import FakeGitHub
from .spec import Spec, SpecMissing
from .state import FakeState


def require_spec() -> Spec:
    """The loaded :class:`Spec`; skips the test (fails when ``CI`` is set) if it is not installed."""
    try:
        return Spec.load()
    except SpecMissing as exc:
        if os.environ.get("CI"):
            pytest.fail(f"{exc} (required when CI is set)")
        pytest.skip(f"{exc}; run tests/setup-octokit.sh to enable the fake GitHub API tests")


def _finish(fake: FakeGitHub) -> None:
    fake.stop()
    if fake.violations:
        pytest.fail(
            f"{len(fake.violations)} request(s)/response(s) disagree with GitHub's REST description:\n{fake.violation_report()}",
            pytrace=False,
        )


@pytest.fixture
def fake_github() -> Iterator[FakeGitHub]:
    """An empty fake (seed it through ``fake_github.state``)."""
    fake = FakeGitHub(FakeState(), spec=require_spec()).start()
    yield fake
    _finish(fake)


@contextmanager
def serving_standard() -> Iterator[tuple[FakeGitHub, Scenario]]:
    """``(fake, scenario)`` with :func:`scenario.standard` loaded, served for the ``with`` block;
    fails on leaving it when any traffic disagreed with the description. For a fixture of a wider
    scope (a module whose tests only read what one sequence of flows wrote)."""
    spec = require_spec()
    world = standard()
    fake = FakeGitHub(world.state, spec=spec).start()
    try:
        yield fake, world
    finally:
        _finish(fake)


@pytest.fixture
def standard_fake() -> Iterator[tuple[FakeGitHub, Scenario]]:
    """``(fake, scenario)`` with :func:`scenario.standard` loaded."""
    with serving_standard() as served:
        yield served
