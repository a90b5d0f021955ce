"""Session fixtures for the end-to-end tests: one private dockerd, both images, an act runner.

Without the tools (see ``tests/e2e/setup.sh``) the tests are skipped, unless the environment
variable ``CI`` is set: then a missing prerequisite fails the session, so CI really runs them.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness


def _require_prerequisites() -> None:
    decision, message = harness.prerequisite_decision(
        harness.check_prerequisites(), ci=bool(os.environ.get("CI"))
    )
    if decision == "fail":
        pytest.fail(message, pytrace=False)
    if decision == "skip":
        pytest.skip(message)


@pytest.fixture(scope="session")
def docker_daemon() -> Iterator[harness.DockerDaemon]:
    """A private dockerd on its own socket (stopped after the session, also on failure)."""
    _require_prerequisites()
    with harness.private_daemon() as daemon:
        yield daemon


@pytest.fixture(scope="session")
def base_image(docker_daemon: harness.DockerDaemon) -> harness.BuildInfo:
    """The locally built ``python:3.12-slim`` (built once per data root, then reused)."""
    return harness.build_base_image(docker_daemon)


@pytest.fixture(scope="session")
def action_image(docker_daemon: harness.DockerDaemon, base_image: harness.BuildInfo) -> harness.BuildInfo:
    """The repository's ``Dockerfile`` built as ``act-dockeraction:latest`` (what ``uses: ./`` runs)."""
    return harness.build_action_image(docker_daemon)


@pytest.fixture()
def act_runner(
    docker_daemon: harness.DockerDaemon, action_image: harness.BuildInfo
) -> Iterator[Callable[..., harness.ActResult]]:
    """``act_runner(work_tree=..., workflow=..., event_name=..., event_payload=..., api_url=..., ...)``.

    Calls :func:`harness.run_act` against the session daemon; act's containers and volumes are
    removed after each run and again at teardown, so a failing test leaves nothing behind.
    """

    def runner(**kwargs: Any) -> harness.ActResult:
        return harness.run_act(docker_daemon, **kwargs)

    try:
        yield runner
    finally:
        harness.remove_act_containers(docker_daemon)


@pytest.fixture()
def recording_server() -> Iterator[harness.RecordingServer]:
    """A :class:`harness.RecordingServer` on 127.0.0.1 (add routes via ``.routes[...] = ...``)."""
    with harness.RecordingServer() as server:
        yield server
