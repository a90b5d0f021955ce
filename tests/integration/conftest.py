"""Shared fixtures of the in-process integration tests: the fake GitHub API, settings built from
a docker action's environment, a fixed-proposal backend, and a helper that runs the Action on
an event and collects its exit code, stdout, job summary and outputs."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from ci_healer import action
from ci_healer.backends.rules import RulesBackend
from ci_healer.github_api import GitHubClient, make_github
from ci_healer.models import Category, FileEdit, Proposal, ProposalRequest
from ci_healer.render import COMMENT_MARKER
from ci_healer.settings import ActionSettings
from ci_healer.workflow_commands import Runner
from tests.fakegithub import BOT_LOGIN, FakeGitHub, payloads
from tests.fakegithub.fixtures import fake_github, require_spec, standard_fake  # noqa: F401
from tests.fakegithub.scenario import Scenario

TOKEN = "ghs_integrationTestToken0123456789abcdef"
LLM_KEY = "sk-integration-llm-key-0123456789"

ROUNDING_FIX = Proposal(
    root_cause="round_cents truncates instead of rounding half up since the last commit.",
    category=Category.TEST,
    files_to_modify=[
        FileEdit(
            file_path="src/hello/calc.py",
            original="return int(amount * 100)\n",
            replacement="return int(amount * 100 + 0.5)\n",
        )
    ],
    confidence=0.9,
)


class FixedBackend:
    """A Backend that returns one fixed proposal and records every request it gets."""

    name = "fixed"

    def __init__(self, proposal: Proposal = ROUNDING_FIX) -> None:
        self.proposal = proposal
        self.requests: list[ProposalRequest] = []

    def propose(self, request: ProposalRequest) -> Proposal:
        self.requests.append(request)
        return self.proposal


@dataclass
class Outcome:
    """What one Action run did."""

    code: int
    stdout: str
    summary: str
    outputs: dict[str, str]
    backends_built: int = 0

    @property
    def command_lines(self) -> list[str]:
        return [ln for ln in self.stdout.splitlines() if ln.startswith("::")]


@dataclass
class Harness:
    """Runs the Action in process against ``fake``."""

    fake: FakeGitHub
    world: Scenario
    tmp: Path
    backend: Any = field(default_factory=FixedBackend)
    inputs: dict[str, str] = field(default_factory=dict)

    def settings(self, event_name: str, event_path: Path) -> ActionSettings:
        env = {
            "INPUT_GITHUB-TOKEN": TOKEN,
            "INPUT_OPENAI-API-KEY": LLM_KEY,
            "INPUT_BACKEND": "rules",
            "GITHUB_REPOSITORY": self.world.repo,
            "GITHUB_EVENT_NAME": event_name,
            "GITHUB_EVENT_PATH": str(event_path),
            "GITHUB_API_URL": self.fake.url,
            "GITHUB_SERVER_URL": "https://github.com",
            "GITHUB_RUN_ID": "99999",
        }
        env.update({f"INPUT_{k.upper()}": v for k, v in self.inputs.items()})
        return ActionSettings.from_environ(env)

    def client(self) -> GitHubClient:
        gh = make_github(
            token=TOKEN,
            api_url=self.fake.url,
            retries=3,
            backoff=0.01,
            seconds_between_requests=None,
            seconds_between_writes=None,
        )
        return GitHubClient(gh, self.world.repo)

    def run(
        self, event_name: str, payload: dict[str, Any] | str, *, backend_factory: Callable | None = None
    ) -> Outcome:
        path = self.tmp / f"event-{len(list(self.tmp.glob('event-*')))}.json"
        path.write_text(payload if isinstance(payload, str) else json.dumps(payload), encoding="utf-8")
        stream = io.StringIO()
        runner = Runner(stream=stream, environ={})
        built = {"n": 0}

        def factory(repo):
            built["n"] += 1
            return self.backend if self.backend is not None else RulesBackend(repo)

        code = action.run(
            settings=self.settings(event_name, path),
            github=self.client(),
            runner=runner,
            backend_factory=backend_factory or factory,
        )
        return Outcome(code, stream.getvalue(), "".join(runner.summary), dict(runner.outputs), built["n"])


@pytest.fixture
def harness(standard_fake, tmp_path: Path) -> Harness:  # noqa: F811
    fake, world = standard_fake
    return Harness(fake, world, tmp_path)


def analyze(h: Harness, run_id: int | None = None) -> Outcome:
    """Run the analyze flow on the failed run ``run_id`` (default: the PR run)."""
    w = h.world
    out = h.run("workflow_run", payloads.workflow_run_completed(w.state, run_id or w.run_id, api=h.fake.url))
    assert out.code == 0, out.stdout + out.summary
    return out


def approve(
    h: Harness,
    *,
    user: str = "dev-wes",
    body: str = "/approve-fix",
    pr: int | None = None,
    action_name: str = "created",
) -> Outcome:
    """Post ``body`` as ``user`` on the PR and run the Action on the ``issue_comment`` event."""
    w = h.world
    comment = w.state.add_comment(w.repo, pr or w.pr, body=body, user=user)
    payload = payloads.issue_comment(
        w.state,
        comment.id,
        api=h.fake.url,
        action=action_name,
        previous_body="old" if action_name == "edited" else None,
    )
    return h.run("issue_comment", payload)


def own_comment(h: Harness, number: int | None = None):
    """ci-healer's proposal comment on PR ``number`` (default: the PR of the scenario)."""
    found = [
        c
        for c in h.fake.state.comments.values()
        if c.issue_number == (number or h.world.pr)
        and c.user == BOT_LOGIN
        and c.body.startswith(COMMENT_MARKER)
    ]
    assert len(found) == 1, f"expected one ci-healer comment, found {len(found)}"
    return found[0]


def replies(h: Harness, number: int | None = None) -> list[str]:
    """Bodies of ci-healer's replies on PR ``number``."""
    return [
        c.body
        for c in h.fake.state.comments.values()
        if c.issue_number == (number or h.world.pr)
        and c.user == BOT_LOGIN
        and c.body.startswith("<!-- ci-healer:reply -->")
    ]
