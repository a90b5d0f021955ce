"""A stateful fake GitHub REST API, checked against GitHub's official OpenAPI description.

Public API::

    from tests.fakegithub import FakeGitHub, FakeState, Spec, SpecMissing, payloads, scenario
    with FakeGitHub(scenario.standard_state()) as gh:   # gh.url, gh.state, gh.violations
        ...

Run it standalone for container scenarios: ``python -m tests.fakegithub --port 8080 --state seed.json``.
"""

from .server import ApiError, Failure, FakeGitHub, Recorded
from .spec import Spec, SpecMissing, Violation
from .state import BOT_LOGIN, FakeState, StateError

__all__ = [
    "BOT_LOGIN",
    "ApiError",
    "Failure",
    "FakeGitHub",
    "FakeState",
    "Recorded",
    "Spec",
    "SpecMissing",
    "StateError",
    "Violation",
]
