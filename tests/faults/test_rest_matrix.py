"""REST fault matrix: every REST call of the analyze, apply and verify flows answered 403, 404, 422,
500, one 502, "created then 502" and a secondary rate limit with ``Retry-After`` (SECURITY.md items
16 and 21).

Each case asserts what a maintainer needs after the faulted run and after a re-run of the same
event: at most one proposal comment per PR, one check run per commit, one pull request and one
dispatch per fix branch; no fix branch without a pull request; exit code 1 with one ``::error::``
naming the call and the status (a 403 names the permission), or exit 0 with a warning naming it;
``Retry-After`` honoured; and the re-run heals to the state a run without the fault leaves.

By default a selection runs so that the tier stays fast: the four creates whose duplicates or
orphans a maintainer would have to clean up (comment, check run, ref, pull request) get every fault;
every other call gets one fault (reads) or "created then 502" plus one (writes), rotating through
the kinds. ``CI_HEALER_FAULT_MATRIX=full`` runs every call with every fault.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.faults.matrix import record
from tests.faults.rest_support import (
    FAULTS,
    RETRY_AFTER,
    Prepared,
    accepted_permissions,
    ci_notes,
    inject,
    invariants,
    no_sleep,
    normalized,
    orphan_refs,
    prepare_analyze,
    prepare_apply,
    prepare_verify,
)

CALLS: dict[str, list[tuple[str, str]]] = {
    "analyze": [
        ("GET", "repos/get"),
        ("GET", "actions/list-jobs-for-workflow-run-attempt"),
        ("GET", "actions/list-workflow-runs"),
        ("GET", "actions/download-job-logs-for-workflow-run"),
        ("GET", "pulls/list-files"),
        ("GET", "git/get-tree"),
        ("GET", "git/get-blob"),
        ("GET", "pulls/get"),
        ("GET", "repos/get-commit"),
        ("GET", "checks/list-for-ref"),
        ("POST", "checks/create"),
        ("GET", "issues/get"),
        ("GET", "issues/list-comments"),
        ("POST", "issues/create-comment"),
        ("GET", "pulls/list"),  # the ledger, for past fixes of the same failure (ci_healer.memory)
        ("GET", "actions/list-workflow-runs-for-repo"),  # the ledger: failed runs with no PR
    ],
    "apply": [
        ("GET", "repos/get"),
        ("POST", "reactions/create-for-issue-comment"),
        ("GET", "repos/get-collaborator-permission-level"),
        ("GET", "pulls/get"),
        ("GET", "issues/get"),
        ("GET", "issues/list-comments"),
        ("GET", "repos/get-commit"),
        ("GET", "checks/list-for-ref"),
        ("GET", "git/get-tree"),
        ("GET", "git/get-blob"),
        ("POST", "git/create-blob"),
        ("POST", "git/create-tree"),
        ("GET", "git/get-ref"),
        ("GET", "git/get-commit"),
        ("POST", "git/create-commit"),
        ("POST", "git/create-ref"),
        ("POST", "pulls/create"),
        ("GET", "actions/get-workflow-run"),
        ("POST", "actions/create-workflow-dispatch"),
        ("GET", "issues/get-comment"),
        ("PATCH", "issues/update-comment"),
        ("GET", "checks/get"),
        ("PATCH", "checks/update"),
    ],
    "verify": [
        ("GET", "repos/get"),
        ("GET", "pulls/list"),
        ("GET", "pulls/get"),
        ("GET", "issues/get-comment"),
        ("PATCH", "issues/update-comment"),
        ("GET", "checks/get"),
        ("PATCH", "checks/update"),
    ],
}
CLEANUP_CREATES = {"checks/create", "issues/create-comment", "git/create-ref", "pulls/create"}
"""Creates whose duplicate or orphan a maintainer would have to clean up by hand: every fault."""
DISPATCH_PATH = {"actions/get-workflow-run", "actions/create-workflow-dispatch"}
"""Calls of the dispatch step: when it fails, CI is not started and a re-run does not repeat it."""
READ_ROTATION = ["403", "500", "rate-limit", "404", "502", "422"]
WRITE_ROTATION = ["403", "500", "rate-limit", "422", "404", "502"]


def selected() -> list[tuple[str, str, str, str]]:
    """``(flow, method, operation_id, fault)`` of the cases to run."""
    full = os.environ.get("CI_HEALER_FAULT_MATRIX", "").lower() == "full"
    cases = []
    for flow, calls in CALLS.items():
        for i, (method, op) in enumerate(calls):
            applicable = [name for name, f in FAULTS.items() if method != "GET" or not f.writes_only]
            if full or op in CLEANUP_CREATES:
                chosen = applicable
            elif method == "GET":
                chosen = [READ_ROTATION[i % len(READ_ROTATION)]]
            else:
                chosen = ["created-then-502", WRITE_ROTATION[i % len(WRITE_ROTATION)]]
            cases += [(flow, method, op, fault) for fault in chosen]
    return cases


@pytest.fixture(scope="session")
def prepared(tmp_path_factory) -> dict[str, Prepared]:
    """The three starting worlds, built once."""
    from tests.fakegithub.fixtures import require_spec

    require_spec()
    tmp = tmp_path_factory.mktemp("prepared")
    return {"analyze": prepare_analyze(), "apply": prepare_apply(tmp), "verify": prepare_verify(tmp)}


@pytest.fixture(scope="session")
def baselines(prepared, tmp_path_factory) -> dict[str, dict]:
    """The state each flow leaves without any fault, and the calls it makes."""
    out = {}
    for flow, prep in prepared.items():
        h, payload = prep.start(tmp_path_factory.mktemp(f"baseline-{flow}"))
        try:
            result = h.run(prep.event_name, payload)
            assert result.code == 0, result.stdout + result.summary
            calls = {(r.method, r.operation_id) for r in h.fake.requests if r.operation_id}
            out[flow] = {"state": normalized(h.world.state, h.world.repo), "calls": calls}
        finally:
            h.fake.stop()
    return out


def test_the_matrix_covers_every_rest_call_of_each_flow(baselines) -> None:
    """A guard: when a flow starts making a new REST call, it must join the matrix."""
    for flow, base in baselines.items():
        assert base["calls"] <= set(CALLS[flow]), (
            f"{flow} makes calls the matrix lacks: {sorted(base['calls'] - set(CALLS[flow]))}"
        )


def _cause_named(text: str, method: str, op: str, status: int) -> bool:
    if status == 403:
        name, _, level = accepted_permissions(op, method).partition("=")
        return f"{name}: {level}" in text
    return bool(re.search(rf"\({status}\)|\b{status}\b", text))


@pytest.mark.parametrize(("flow", "method", "op", "fault"), selected(), ids=lambda v: str(v))
def test_rest_fault(
    prepared, baselines, tmp_path: Path, monkeypatch, flow: str, method: str, op: str, fault: str
) -> None:
    sleeps = no_sleep(monkeypatch)
    prep = prepared[flow]
    h, payload = prep.start(tmp_path)
    state, repo = h.world.state, h.world.repo
    try:
        rule = inject(h.fake, FAULTS[fault], op, method)
        first = h.run(prep.event_name, payload)
        assert first.code in (0, 1)
        problems = invariants(state, repo)
        assert not problems, problems
        said = first.stdout + first.summary
        errors = [ln for ln in first.stdout.splitlines() if ln.startswith("::error")]
        if rule.hits == 0:
            outcome = "call not reached"
        elif first.code == 1:
            assert len(errors) == 1, first.stdout
            assert _cause_named(said, method, op, FAULTS[fault].status), said
            outcome = "exit 1, cause named"
        elif normalized(state, repo) == baselines[flow]["state"]:
            outcome = "healed in the run"
        else:
            warnings = [ln for ln in first.stdout.splitlines() if ln.startswith("::warning")]
            assert (
                any(_cause_named(w, method, op, FAULTS[fault].status) for w in warnings)
                or "not applied" in said
            ), said
            outcome = "exit 0, warning names the cause"
        if fault == "rate-limit" and rule.hits:
            assert RETRY_AFTER in sleeps, sleeps
            outcome += f", waited Retry-After {RETRY_AFTER}s"
        h.fake.failures.clear()
        if normalized(state, repo) != baselines[flow]["state"]:
            again = h.run(prep.event_name, payload)
            assert again.code == 0, again.stdout + again.summary
            outcome += "; re-run healed"
        assert not invariants(state, repo), invariants(state, repo)
        assert orphan_refs(state, repo) == []
        healed, expected = normalized(state, repo), dict(baselines[flow]["state"])
        if op in DISPATCH_PATH and healed["dispatched"] != expected["dispatched"]:
            # a dispatch is never repeated (it cannot be looked up); the fix PR says CI was not started
            assert healed["dispatched"] == [] and any(
                "CI" in note and "not" in note for note in ci_notes(state, repo)
            )
            healed.pop("dispatched"), expected.pop("dispatched")
            outcome += "; CI not started, the fix PR says so"
        assert healed == expected, (healed, expected)
        record("rest", f"{flow:7} {method:5} {op} × {fault}", outcome)
    finally:
        h.fake.stop()
