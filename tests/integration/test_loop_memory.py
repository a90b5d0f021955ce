"""The loop's memory in the real flows against the fake GitHub API: flaky re-runs (at most once per
run, "flaky: passed on re-run" in the comment and the ledger), past fixes recalled from the ledger
(comment and prompt example), and opt-in auto-apply with each of its gates (SECURITY.md item 24)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ci_healer.backends.llm import build_messages
from ci_healer.ledger import LedgerReader, read_ledger
from ci_healer.models import Category, FileEdit, Proposal
from ci_healer.render import read_metadata
from tests.fakegithub import BOT_LOGIN, payloads
from tests.fakegithub.fixtures import standard_fake  # noqa: F401
from tests.fakegithub.scenario import CALC, PYTEST_LOG
from tests.integration.conftest import FixedBackend, Harness, analyze, approve, own_comment

# A registry answering 503 while pip downloads: the transient "network" class of classify.py.
REGISTRY_503_LOG = """2025-01-01T10:00:01.0000000Z ##[group]Run pip install -e . pytest
2025-01-01T10:00:01.0000000Z pip install -e . pytest
2025-01-01T10:00:01.0000000Z ##[endgroup]
2025-01-01T10:00:03.0000000Z Collecting pytest
2025-01-01T10:00:09.0000000Z   WARNING: Retrying (Retry(total=0, connect=None, read=None, redirect=None, status=None)) after connection broken by 'ProtocolError('Connection aborted.', ConnectionResetError(104, 'Connection reset by peer'))': /simple/pytest/
2025-01-01T10:00:12.0000000Z ERROR: Could not install packages due to an OSError: HTTPSConnectionPool(host='pypi.org', port=443): Max retries exceeded with url: /simple/pytest/ (Caused by ResponseError('too many 503 error responses'))
2025-01-01T10:00:12.0000000Z HTTP 503 Service Unavailable
2025-01-01T10:00:12.0000000Z ##[error]Process completed with exit code 1.
"""

# ruff's concise output for an unused import: the "lint" class.
RUFF_LOG = """2025-01-01T10:00:01.0000000Z ##[group]Run ruff check .
2025-01-01T10:00:01.0000000Z ruff check .
2025-01-01T10:00:01.0000000Z ##[endgroup]
2025-01-01T10:00:02.0000000Z src/hello/calc.py:2:8: F401 [*] `os` imported but unused
2025-01-01T10:00:02.0000000Z Found 1 error.
2025-01-01T10:00:02.0000000Z [*] 1 fixable with the `--fix` option.
2025-01-01T10:00:02.0000000Z ##[error]Process completed with exit code 1.
"""
LINTY_CALC = CALC.replace('"""Money helpers."""\n', '"""Money helpers."""\nimport os\n', 1)
LINT_FIX = Proposal(
    root_cause="`os` is imported in src/hello/calc.py but never used (ruff F401).",
    category=Category.LINT,
    files_to_modify=[FileEdit(file_path="src/hello/calc.py", original="import os\n", replacement="")],
    confidence=0.95,
)


@pytest.fixture
def h(standard_fake, tmp_path: Path) -> Harness:  # noqa: F811
    fake, world = standard_fake
    world.state.issues[(world.repo, world.pr)].labels = []
    return Harness(fake, world, tmp_path)


def set_log(h: Harness, log: str, run_id: int | None = None) -> None:
    w = h.world
    for job in w.state.jobs.values():
        if job.run_id == (run_id or w.run_id) and job.conclusion == "failure":
            job.log = log.encode()


def failing_pr(h: Harness, branch: str, files: dict[str, str], log: str) -> tuple[int, int]:
    """A new PR on ``branch`` with ``files`` and its failed CI run with job log ``log``."""
    w = h.world
    w.state.commit_files(w.repo, branch, files, message=f"Change ({branch})", author="dev-wes", create=True)
    pr = w.state.add_pull(w.repo, head_branch=branch, title=branch, user="dev-wes")
    run = w.state.add_run(
        w.repo,
        head_branch=branch,
        workflow=w.state.workflows[w.workflow_id],
        pull_requests=[pr.number],
        actor="dev-wes",
        jobs=[{"name": "test", "conclusion": "failure", "log": log}],
    )
    return pr.number, run.id


def passed_attempt(h: Harness, run_id: int) -> None:
    """The next attempt of ``run_id`` passed (what GitHub reports after a re-run)."""
    run = h.world.state.runs[run_id]
    run.status, run.conclusion = "completed", "success"
    h.world.state.add_job(
        run, name="test", conclusion="success", log="5 passed\n", run_attempt=run.run_attempt
    )


def fix_prs(h: Harness) -> list:
    return [i for i in h.world.state.issues.values() if i.pull and i.pull.head_ref.startswith("ai-fix/")]


# ---------------------------------------------------------------------------------- flaky re-runs


def test_flaky_failure_is_re_run_once_and_passed_on_re_run_is_recorded(h: Harness) -> None:
    w = h.world
    h.inputs["rerun-flaky"] = "true"
    set_log(h, REGISTRY_503_LOG)
    out = analyze(h)
    assert out.backends_built == 0  # no model for a re-run
    assert [r["run_id"] for r in w.state.reruns] == [w.run_id]
    comment = own_comment(h)
    assert "Re-ran the failed jobs once" in comment.body and "```diff" not in comment.body
    assert read_ledger(comment.body).rerun_at is not None

    # GitHub delivers the re-run's completion as run_attempt 2, success
    passed_attempt(h, w.run_id)
    assert w.state.runs[w.run_id].run_attempt == 2
    out = h.run("workflow_run", payloads.workflow_run_completed(w.state, w.run_id, api=h.fake.url))
    assert out.code == 0, out.stdout + out.summary
    comment = own_comment(h)
    assert "flaky: passed on re-run" in comment.body and "the re-run ci-healer started" in comment.body
    [check] = w.state.check_runs.values()
    assert "flaky: passed on re-run" in check.output["summary"]
    assert len(w.state.reruns) == 1
    [record] = [r for r in LedgerReader(h.client()).records() if r.run_id == w.run_id]
    assert record.outcome == "passed_on_rerun" and record.flaky and record.rerun_at is not None


def test_second_attempt_failing_again_is_analyzed_and_never_re_run(h: Harness) -> None:
    w = h.world
    h.inputs["rerun-flaky"] = "true"
    set_log(h, REGISTRY_503_LOG)
    analyze(h)
    run = w.state.runs[w.run_id]
    run.status, run.conclusion = "completed", "failure"
    w.state.add_job(run, name="test", conclusion="failure", log=REGISTRY_503_LOG, run_attempt=2)
    out = analyze(h)
    assert len(w.state.reruns) == 1  # attempt 2 is never re-run
    assert "re-runs a run once only" in out.stdout
    assert "Re-ran the failed jobs" not in own_comment(h).body


def test_code_failure_is_not_re_run(h: Harness) -> None:
    h.inputs["rerun-flaky"] = "true"
    analyze(h)  # the pytest assertion failure of the standard scenario
    assert h.world.state.reruns == []
    assert "```diff" in own_comment(h).body


def test_rerun_flaky_off_by_default_proposes_as_usual(h: Harness) -> None:
    set_log(h, REGISTRY_503_LOG)
    analyze(h)
    assert h.world.state.reruns == []
    assert "Re-ran" not in own_comment(h).body


def test_rerun_403_warns_naming_actions_write_and_analyzes(h: Harness) -> None:
    h.inputs["rerun-flaky"] = "true"
    set_log(h, REGISTRY_503_LOG)
    h.fake.fail(
        403,
        "Resource not accessible by integration",
        operation_id="actions/re-run-workflow-failed-jobs",
        headers={"X-Accepted-GitHub-Permissions": "actions=write"},
    )
    out = analyze(h)
    warnings = [ln for ln in out.command_lines if ln.startswith("::warning")]
    assert any("actions: write" in ln for ln in warnings), warnings
    assert h.world.state.reruns == []
    assert out.backends_built == 1 and "Re-ran" not in own_comment(h).body


def test_success_of_a_run_ci_healer_never_saw_writes_nothing(h: Harness) -> None:
    w = h.world
    run = w.state.runs[w.run_id]
    run.run_attempt = 2
    out = h.run(
        "workflow_run",
        payloads.workflow_run_completed(w.state, w.run_id, api=h.fake.url, conclusion="success"),
    )
    assert out.code == 0 and "analyzed no earlier attempt" in out.stdout
    assert h.fake.calls("POST") == [] and h.fake.calls("PATCH") == []


# ---------------------------------------------------------------------------------- past fixes


def test_merged_fix_of_the_same_failure_is_named_and_given_as_prompt_example(h: Harness) -> None:
    analyze(h)
    assert approve(h, user="dev-wes").code == 0
    [fix] = fix_prs(h)
    fix.state, fix.pull.merged = "closed", True
    # the same regression comes back on another branch: same fingerprint
    number, run_id = failing_pr(
        h, "again", {"src/hello/calc.py": CALC.replace("amount * 100 + 0.5", "amount * 100")}, PYTEST_LOG
    )
    analyze(h, run_id)
    body = own_comment(h, number).body
    # the escaper shows the reference as code (no cross-reference is created from ci-healer's text)
    assert re.search(rf"The same failure was fixed by `#{fix.number}` on \d{{4}}-\d{{2}}-\d{{2}}", body)
    assert read_ledger(body).past_fix_pr == fix.number
    request = h.backend.requests[-1]
    assert request.past_fix is not None and request.past_fix.pr_number == fix.number
    assert "+    return int(amount * 100 + 0.5)" in request.past_fix.diff
    prompt = build_messages(request)
    fenced = f"<<<DATA {prompt.delimiter}>>>\n{request.past_fix.diff}"
    assert fenced in prompt.user and f"pull request #{fix.number}" in prompt.user


def test_rejected_proposal_of_the_same_failure_is_named(h: Harness) -> None:
    analyze(h)
    first = read_metadata(own_comment(h).body).proposal_id
    assert approve(h, user="dev-wes", body="/reject-fix").code == 0
    number, run_id = failing_pr(
        h, "again", {"src/hello/calc.py": CALC.replace("amount * 100 + 0.5", "amount * 100")}, PYTEST_LOG
    )
    analyze(h, run_id)
    body = own_comment(h, number).body
    assert "was rejected on" in body and first in body
    assert h.backend.requests[-1].past_fix is None


def test_past_fix_is_dropped_first_when_the_prompt_is_over_budget(h: Harness) -> None:
    analyze(h)
    request = h.backend.requests[-1]
    from ci_healer.models import PastFix

    big = request.model_copy(
        update={"past_fix": PastFix(pr_number=9, merged_on="2026-11-03", diff="+x = 1\n" * 2000)}
    )
    prompt = build_messages(big, max_prompt_tokens=3000)
    assert "A past fix of the same failure" not in prompt.user
    assert "Failure blocks" in prompt.user


# ---------------------------------------------------------------------------------- auto-apply


def lint_world(h: Harness, proposal: Proposal = LINT_FIX, branch: str = "tidy") -> tuple[int, int]:
    h.backend = FixedBackend(proposal)
    h.inputs["auto-apply"] = "low"
    return failing_pr(h, branch, {"src/hello/calc.py": LINTY_CALC}, RUFF_LOG)


def test_low_risk_lint_fix_is_auto_applied_as_a_fix_pr(h: Harness) -> None:
    w = h.world
    number, run_id = lint_world(h)
    heads_before = {i.pull.head_ref: i.pull.head_sha for i in w.state.issues.values() if i.pull}
    out = analyze(h, run_id)
    [fix] = fix_prs(h)
    assert (
        fix.user == BOT_LOGIN and fix.pull.base_ref == "tidy" and fix.state == "open" and not fix.pull.merged
    )
    assert "auto-applied" in fix.body and "dev-wes" not in fix.body
    assert out.outputs["fix-pr-url"].endswith(f"/pull/{fix.number}")
    # never pushes to the failing branch: its head is unchanged
    assert w.state.pull(w.repo, number).pull.head_sha == heads_before["tidy"]
    body = own_comment(h, number).body
    assert "Auto-applied" in body and f"/pull/{fix.number}" in body
    for gate in ("patch", "risk", "no-cheating", "confidence", "category", "not-fork", "not-default-branch"):
        assert f"✅ {gate}:" in body, gate
    ledger = read_ledger(body)
    assert ledger.auto_applied_at is not None and all(ledger.auto_apply_gates.values())
    assert len(ledger.auto_apply_gates) == 8
    [record] = [r for r in LedgerReader(h.client()).records() if r.pr_number == number]
    assert record.fix_pr_number == fix.number and record.auto_applied_at is not None


def test_auto_apply_off_by_default_waits_for_approval(h: Harness) -> None:
    number, run_id = lint_world(h)
    del h.inputs["auto-apply"]
    analyze(h, run_id)
    assert fix_prs(h) == []
    assert "auto-apply" not in own_comment(h, number).body.lower()


MANIFEST_FIX = Proposal(
    root_cause="ruff is not pinned.",
    category=Category.LINT,
    files_to_modify=[FileEdit(file_path="pyproject.toml", original="", replacement="# lint\n")],
    confidence=0.95,
)
CHEAT_FIX = Proposal(
    root_cause="silence the warning",
    category=Category.LINT,
    files_to_modify=[
        FileEdit(file_path="src/hello/calc.py", original="import os\n", replacement="import os  # noqa\n")
    ],
    confidence=0.95,
)


def _refused(h: Harness, number: int, gate: str) -> str:
    """Nothing was applied for PR ``number``: no fix PR into its branch, no new ``ai-fix/`` ref;
    the comment and the ledger name ``gate`` as failed."""
    w = h.world
    branch = w.state.pull(w.repo, number).pull.head_ref
    assert [i for i in fix_prs(h) if i.pull.base_ref == branch] == []
    run_ids = {r.id for r in w.state.runs.values() if r.head_branch == branch}
    refs = [r["ref"] for r in w.state.ref_writes if r["ref"].startswith("refs/heads/ai-fix/")]
    assert not [r for r in refs if int(r.split("/")[-1].split("-")[0]) in run_ids], refs
    body = own_comment(h, number).body
    assert f"❌ {gate}:" in body and "Not auto-applied" in body, body[:3000]
    assert read_ledger(body).auto_apply_gates[gate] is False
    return body


def test_medium_risk_manifest_change_is_not_auto_applied(h: Harness) -> None:
    number, run_id = lint_world(h, MANIFEST_FIX)
    analyze(h, run_id)
    body = _refused(h, number, "risk")
    assert "risk is medium" in body
    assert "/approve-fix" in body  # it still waits for a maintainer


@pytest.mark.parametrize(
    ("gate", "proposal", "inputs"),
    [
        ("patch", LINT_FIX.model_copy(update={"files_to_modify": []}), {}),
        ("no-cheating", CHEAT_FIX, {}),
        ("confidence", LINT_FIX.model_copy(update={"confidence": 0.7}), {}),
        ("confidence", LINT_FIX, {"auto-apply-confidence": "0.99"}),
        ("category", LINT_FIX.model_copy(update={"category": Category.TEST}), {}),
        ("category", LINT_FIX, {"auto-apply-categories": "format"}),
        ("attempts", LINT_FIX, {"max-attempts": "0"}),
    ],
)
def test_each_failing_gate_blocks_auto_apply(h: Harness, gate: str, proposal: Proposal, inputs: dict) -> None:
    number, run_id = lint_world(h, proposal)
    h.inputs.update(inputs)
    analyze(h, run_id)
    _refused(h, number, gate)


def test_fork_pr_is_never_auto_applied(h: Harness) -> None:
    w = h.world
    lint_world(h)
    analyze(h, w.fork_run_id)
    _refused(h, w.fork_pr, "not-fork")
    assert h.fake.calls(operation_id="pulls/create-review") == []  # not even suggestions


def test_default_branch_failure_is_never_auto_applied(h: Harness) -> None:
    w = h.world
    lint_world(h)
    w.state.commit_files(w.repo, "main", {"src/hello/calc.py": LINTY_CALC}, message="Lint", author="dev-wes")
    run = w.state.add_run(
        w.repo,
        head_branch="main",
        workflow=w.state.workflows[w.workflow_id],
        event="push",
        pull_requests=[],
        jobs=[{"name": "test", "conclusion": "failure", "log": RUFF_LOG}],
    )
    analyze(h, run.id)
    assert fix_prs(h) == []
    [check] = [c for c in w.state.check_runs.values() if c.head_sha == run.head_sha]
    assert "❌ not-default-branch:" in check.output["summary"]
    assert read_ledger(check.output["summary"]).auto_apply_gates["not-default-branch"] is False


def test_attempts_count_earlier_fix_prs_of_the_same_failure(h: Harness) -> None:
    lint_world(h)
    h.inputs["max-attempts"] = "1"
    _, run_id = failing_pr(h, "tidy-1", {"src/hello/calc.py": LINTY_CALC}, RUFF_LOG)
    analyze(h, run_id)
    assert len(fix_prs(h)) == 1  # attempt 1 of 1
    number, run_id = failing_pr(h, "tidy-2", {"src/hello/calc.py": LINTY_CALC}, RUFF_LOG)
    analyze(h, run_id)
    assert len(fix_prs(h)) == 1
    body = _refused(h, number, "attempts")
    assert "1 fix attempt(s) made" in body
