"""Verify flow: CI on the ai-fix/ branch updates the original comment and check run; the attempt
cap stops the model from being called again."""

from __future__ import annotations

from ci_healer.flow import read_fix_metadata
from tests.fakegithub import payloads
from tests.fakegithub.scenario import PYTEST_LOG
from tests.integration.conftest import Harness, analyze, approve, own_comment


def applied(h: Harness):
    analyze(h)
    out = approve(h)
    assert out.code == 0, out.stdout + out.summary
    w = h.world
    return next(i for i in w.state.issues.values() if i.pull and i.pull.head_ref.startswith("ai-fix/"))


def fix_run(h: Harness, fix_pr, conclusion: str) -> dict:
    w = h.world
    jobs = [
        {"name": "test", "conclusion": conclusion, "log": PYTEST_LOG if conclusion == "failure" else "ok\n"}
    ]
    run = w.state.add_run(
        w.repo, head_branch=fix_pr.pull.head_ref, event="workflow_dispatch", conclusion=conclusion, jobs=jobs
    )
    return payloads.workflow_run_completed(w.state, run.id, api=h.fake.url)


def test_fix_branch_success_marks_the_proposal_verified(harness: Harness) -> None:
    fix_pr = applied(harness)
    out = harness.run("workflow_run", fix_run(harness, fix_pr, "success"))
    assert out.code == 0 and out.backends_built == 0
    assert "fix verified: CI passed" in own_comment(harness).body
    [check] = [c for c in harness.world.state.check_runs.values() if c.head_sha == harness.world.head_sha]
    assert "fix verified: CI passed" in check.output["summary"]
    assert read_fix_metadata(fix_pr.body).attempt == 1


def test_fix_branch_failure_over_the_cap_never_calls_the_model(harness: Harness) -> None:
    harness.inputs["max-attempts"] = "1"
    fix_pr = applied(harness)
    calls_before = len(harness.backend.requests)

    def forbidden(repo):
        raise AssertionError("the backend must not be built over the attempt cap")

    out = harness.run("workflow_run", fix_run(harness, fix_pr, "failure"), backend_factory=forbidden)
    assert out.code == 0
    assert len(harness.backend.requests) == calls_before
    body = own_comment(harness).body
    assert "fix did not pass" in body and "stops proposing" in body


def test_fix_branch_failure_under_the_cap_reanalyses_on_the_fix_pr(harness: Harness) -> None:
    fix_pr = applied(harness)
    out = harness.run("workflow_run", fix_run(harness, fix_pr, "failure"))
    assert out.code == 0 and out.backends_built == 1
    assert "fix did not pass" in own_comment(harness).body
    assert "New failure" in own_comment(harness).body
    own_comment(harness, fix_pr.number)  # the new analysis is posted on the fix PR


def test_run_on_unknown_ai_fix_branch_is_a_notice(harness: Harness) -> None:
    w = harness.world
    w.state.commit_files(w.repo, "ai-fix/1-deadbeef", {"x.txt": "x\n"}, create=True)
    run = w.state.add_run(
        w.repo,
        head_branch="ai-fix/1-deadbeef",
        conclusion="failure",
        jobs=[{"name": "t", "conclusion": "failure", "log": PYTEST_LOG}],
    )
    out = harness.run("workflow_run", payloads.workflow_run_completed(w.state, run.id, api=harness.fake.url))
    assert out.code == 0 and out.backends_built == 0 and "nothing to verify" in out.stdout


def test_fix_metadata_in_a_pr_not_opened_by_the_bot_is_ignored(harness: Harness) -> None:
    fix_pr = applied(harness)
    fix_pr.user = "dev-wes"  # a look-alike PR opened by a person
    out = harness.run("workflow_run", fix_run(harness, fix_pr, "success"))
    assert out.code == 0 and "fix verified" not in own_comment(harness).body


# ------------------------------------------------------------------------------------ item 20


def test_fork_run_on_a_branch_named_like_the_fix_branch_does_not_verify(harness: Harness) -> None:
    """SECURITY.md item 20: a fork pushes ``ai-fix/<run>-<digest8>``; its green run reaches the base
    repository's workflow_run trigger and must not mark the fix verified."""
    w = harness.world
    fix_pr = applied(harness)
    before = own_comment(harness).body
    fork_sha = w.state.commit_files(
        w.fork, fix_pr.pull.head_ref, {"README.md": "# forged\n"}, create=True, author="contributor"
    )
    run = w.state.add_run(
        w.repo,
        head_branch=fix_pr.pull.head_ref,
        head_repo=w.fork,
        head_sha=fork_sha,
        event="pull_request",
        conclusion="success",
        jobs=[{"name": "test", "conclusion": "success", "log": "ok\n"}],
    )
    out = harness.run("workflow_run", payloads.workflow_run_completed(w.state, run.id, api=harness.fake.url))
    assert out.code == 0 and out.backends_built == 0
    assert own_comment(harness).body == before
    assert "does not verify" in out.stdout and w.fork in out.stdout


def test_run_of_a_commit_ci_healer_did_not_create_does_not_verify(harness: Harness) -> None:
    """A base-repository run on the fix branch name but at another commit (not the fix PR's head)."""
    w = harness.world
    fix_pr = applied(harness)
    before = own_comment(harness).body
    run = w.state.add_run(
        w.repo,
        head_branch=fix_pr.pull.head_ref,
        head_sha=w.head_sha,
        event="push",
        conclusion="success",
        jobs=[{"name": "test", "conclusion": "success", "log": "ok\n"}],
    )
    out = harness.run("workflow_run", payloads.workflow_run_completed(w.state, run.id, api=harness.fake.url))
    assert out.code == 0 and own_comment(harness).body == before and "not ci-healer's commit" in out.stdout


def test_follow_up_commit_on_the_fix_pr_verifies_and_says_so(harness: Harness) -> None:
    w = harness.world
    fix_pr = applied(harness)
    fix_sha = read_fix_metadata(fix_pr.body).fix_sha
    assert fix_sha == fix_pr.pull.head_sha
    later = w.state.commit_files(
        w.repo, fix_pr.pull.head_ref, {"README.md": "# follow-up\n"}, author="dev-wes"
    )
    fix_pr.pull.head_sha = later
    out = harness.run("workflow_run", fix_run(harness, fix_pr, "success"))
    assert out.code == 0
    body = own_comment(harness).body
    assert "fix verified" in body and "descends from ci-healer's commit" in body and later[:12] in body
