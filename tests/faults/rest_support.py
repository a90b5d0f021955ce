"""Shared pieces of the REST fault matrix (``tests/faults/test_rest_*.py``).

* :data:`FAULTS` — the answers injected into the fake GitHub API: 403 (with GitHub's
  ``X-Accepted-GitHub-Permissions`` header), 404, 422 and 500 for the whole run, one 502, one
  "created then 502" (GitHub carried the write out, the proxy answered 502) and one secondary rate
  limit with ``Retry-After``.
* :class:`Prepared` — a world ready for one flow (analyze, apply or verify), built once per test
  session and cloned for every case (cloning the fake's state costs milliseconds; building it
  through the flows costs a second).
* :func:`normalized` — the state a maintainer sees (proposal comments, check runs, fix branches and
  pull requests), with ids, SHAs and times taken out, to compare a healed run with a clean one.
* :func:`no_sleep` — urllib3's retry sleeps are recorded instead of slept, so the matrix stays fast
  and the tests can check that ``Retry-After`` was honoured.
"""

from __future__ import annotations

import copy
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ci_healer.render import COMMENT_MARKER
from tests.fakegithub import BOT_LOGIN, FakeGitHub, FakeState, payloads
from tests.fakegithub.fixtures import require_spec
from tests.fakegithub.scenario import Scenario, standard
from tests.integration.conftest import Harness

RETRY_AFTER = 7
"""Seconds in the ``Retry-After`` of the injected secondary rate limit (never slept in tests)."""


@dataclass(frozen=True)
class Fault:
    """One kind of injected answer. ``times=None``: every matching request for the whole run."""

    name: str
    status: int
    message: str
    times: int | None = None
    after: bool = False
    headers: dict[str, str] = field(default_factory=dict)
    writes_only: bool = False


FAULTS: dict[str, Fault] = {
    f.name: f
    for f in [
        Fault("403", 403, "Resource not accessible by integration"),
        Fault("404", 404, "Not Found"),
        Fault("422", 422, "Validation Failed"),
        Fault("500", 500, "Server Error"),
        Fault("502", 502, "Bad Gateway", times=1),
        Fault("created-then-502", 502, "Bad Gateway", times=1, after=True, writes_only=True),
        Fault(
            "rate-limit",
            403,
            "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
            times=1,
            headers={"Retry-After": str(RETRY_AFTER)},
        ),
    ]
}


def accepted_permissions(operation_id: str, method: str) -> str:
    """What GitHub sends in ``X-Accepted-GitHub-Permissions`` on a 403 for this operation."""
    level = "read" if method == "GET" else "write"
    family = operation_id.split("/", 1)[0]
    name = {
        "checks": "checks",
        "pulls": "pull_requests",
        "issues": "issues",
        "reactions": "issues",
        "git": "contents",
        "actions": "actions",
    }.get(family, "contents")
    if operation_id in ("repos/get", "repos/get-collaborator-permission-level"):
        name, level = "metadata", "read"
    return f"{name}={level}"


def inject(fake: FakeGitHub, fault: Fault, operation_id: str, method: str):
    """Install ``fault`` on ``method operation_id``; returns the rule (``hits`` counts uses)."""
    headers = dict(fault.headers)
    if fault.status == 403 and "Retry-After" not in headers:
        headers["X-Accepted-GitHub-Permissions"] = accepted_permissions(operation_id, method)
    return fake.fail(
        fault.status,
        fault.message,
        operation_id=operation_id,
        method=method,
        times=fault.times,
        headers=headers,
        after=fault.after,
    )


def clone_state(state: FakeState) -> FakeState:
    """A deep copy of the fake's state with fresh locks."""
    memo = {id(state.lock): threading.RLock(), id(state.git._lock): threading.RLock()}
    return copy.deepcopy(state, memo)


@dataclass
class Prepared:
    """A world ready for one flow: ``state`` (cloned per case) and ``event(state, api)`` building
    the event the flow runs on."""

    world: Scenario
    event_name: str
    event: Callable[[FakeState, str], dict[str, Any]]

    def start(self, tmp: Path) -> tuple[Harness, dict[str, Any]]:
        """A fresh fake on a clone of the world, and the event payload."""
        state = clone_state(self.world.state)
        fake = FakeGitHub(state, spec=require_spec()).start()
        world = copy.copy(self.world)
        world.state = state
        h = Harness(fake, world, tmp)
        return h, self.event(state, fake.url)


def prepare_analyze() -> Prepared:
    """The standard world before its failed run is analysed."""
    world = standard()
    return Prepared(
        world,
        "workflow_run",
        lambda state, api: payloads.workflow_run_completed(state, world.run_id, api=api),
    )


def prepare_apply(tmp: Path) -> Prepared:
    """The standard world analysed, with a writer's ``/approve-fix`` on the PR."""
    base = prepare_analyze()
    h, payload = base.start(tmp)
    try:
        assert h.run("workflow_run", payload).code == 0
        command = h.world.state.add_comment(h.world.repo, h.world.pr, body="/approve-fix", user="dev-wes")
    finally:
        h.fake.stop()
    return Prepared(
        h.world, "issue_comment", lambda state, api: payloads.issue_comment(state, command.id, api=api)
    )


def prepare_verify(tmp: Path) -> Prepared:
    """The standard world analysed and applied, with a green run of the fix commit."""
    base = prepare_apply(tmp)
    h, payload = base.start(tmp)
    try:
        out = h.run("issue_comment", payload)
        assert out.code == 0, out.stdout + out.summary
        w = h.world
        fix = next(i for i in w.state.issues.values() if i.pull and i.pull.head_ref.startswith("ai-fix/"))
        run = w.state.add_run(
            w.repo,
            head_branch=fix.pull.head_ref,
            event="workflow_dispatch",
            conclusion="success",
            jobs=[{"name": "test", "conclusion": "success", "log": "ok\n"}],
        )
    finally:
        h.fake.stop()
    return Prepared(
        h.world, "workflow_run", lambda state, api: payloads.workflow_run_completed(state, run.id, api=api)
    )


_SHA = re.compile(r"\b[0-9a-f]{40}\b|\b[0-9a-f]{12}\b")
_NUMBER = re.compile(r"\d+")


def _norm(text: str | None) -> str:
    return _NUMBER.sub("N", _SHA.sub("<sha>", text or ""))


def proposal_comments(state: FakeState) -> list[Any]:
    """ci-healer's proposal comments (not its replies)."""
    return [c for c in state.comments.values() if c.user == BOT_LOGIN and c.body.startswith(COMMENT_MARKER)]


def fix_pulls(state: FakeState, repo: str) -> list[Any]:
    return [
        i
        for i in state.issues.values()
        if i.repo == repo and i.pull and i.pull.head_ref.startswith("ai-fix/")
    ]


def fix_refs(state: FakeState, repo: str) -> dict[str, str]:
    return {ref: sha for ref, sha in state.repo(repo).refs.items() if ref.startswith("refs/heads/ai-fix/")}


def normalized(state: FakeState, repo: str) -> dict[str, Any]:
    """What a maintainer sees, without ids, SHAs and times: proposal comments (metadata and text),
    ci-healer's check runs, the trees of the fix branches and the fix pull requests. Replies and
    reactions are left out (a re-run answers its approval again)."""
    return {
        "comments": sorted((c.issue_number, _norm(c.body)) for c in proposal_comments(state)),
        "check_runs": sorted(
            (c.name, _norm(c.output.get("summary"))) for c in state.check_runs.values() if c.repo == repo
        ),
        "fix_trees": sorted((ref, state.git.commit(sha).tree) for ref, sha in fix_refs(state, repo).items()),
        "fix_pulls": sorted(
            (i.pull.head_ref, i.pull.base_ref, i.state, _norm(i.body)) for i in fix_pulls(state, repo)
        ),
        "dispatched": sorted({d["ref"] for d in state.dispatches}),
    }


def ci_notes(state: FakeState, repo: str) -> list[str]:
    """ci-healer's replies on fix pull requests (the note saying CI was not started)."""
    numbers = {i.number for i in fix_pulls(state, repo)}
    return [
        c.body
        for c in state.comments.values()
        if c.user == BOT_LOGIN and c.issue_number in numbers and c.body.startswith("<!-- ci-healer:reply -->")
    ]


def invariants(state: FakeState, repo: str) -> list[str]:
    """What must hold after any run, faulted or not: at most one proposal comment per PR, at most
    one ci-healer check run per commit, at most one pull request per fix branch, at most one
    dispatch per fix branch."""
    problems = []
    per_pr: dict[int, int] = {}
    for c in proposal_comments(state):
        per_pr[c.issue_number] = per_pr.get(c.issue_number, 0) + 1
    problems += [f"{n} proposal comments on #{pr}" for pr, n in per_pr.items() if n > 1]
    per_sha: dict[str, int] = {}
    for c in state.check_runs.values():
        per_sha[c.head_sha] = per_sha.get(c.head_sha, 0) + 1
    problems += [f"{n} check runs on {sha[:12]}" for sha, n in per_sha.items() if n > 1]
    per_ref: dict[str, int] = {}
    for i in fix_pulls(state, repo):
        per_ref[i.pull.head_ref] = per_ref.get(i.pull.head_ref, 0) + 1
    problems += [f"{n} pull requests from {ref}" for ref, n in per_ref.items() if n > 1]
    dispatched: dict[str, int] = {}
    for d in state.dispatches:
        dispatched[d["ref"]] = dispatched.get(d["ref"], 0) + 1
    problems += [f"{n} dispatches on {ref}" for ref, n in dispatched.items() if n > 1]
    return problems


def orphan_refs(state: FakeState, repo: str) -> list[str]:
    """Fix branches without a pull request."""
    with_pr = {f"refs/heads/{i.pull.head_ref}" for i in fix_pulls(state, repo)}
    return sorted(ref for ref in fix_refs(state, repo) if ref not in with_pr)


def no_sleep(monkeypatch) -> list[float | None]:
    """Make urllib3's retries sleep nothing; returns the list of ``Retry-After`` values seen
    (``None`` for a plain back-off)."""
    from urllib3.util.retry import Retry

    seen: list[float | None] = []

    def sleep(self, response=None):
        seen.append(self.get_retry_after(response) if response is not None else None)

    monkeypatch.setattr(Retry, "sleep", sleep)
    return seen
