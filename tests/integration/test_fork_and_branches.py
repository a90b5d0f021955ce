"""Fork PRs get suggestions and never a pushed branch; hostile branch names change nothing; a
push failure without a PR is applied through workflow_dispatch."""

from __future__ import annotations

import pytest

from ci_healer.github_api import validate_fix_ref
from ci_healer.models import Category, FileEdit, Proposal
from ci_healer.render import read_metadata
from tests.fakegithub import payloads
from tests.fakegithub.scenario import PYTEST_LOG
from tests.integration.conftest import (
    FixedBackend,
    Harness,
    analyze,
    approve,
    own_comment,
    replies,
)

FORK_FIX = Proposal(
    root_cause="split() defaults to two ways.",
    category=Category.TEST,
    confidence=0.8,
    files_to_modify=[
        FileEdit(file_path="src/hello/calc.py", original="ways: int = 2)", replacement="ways: int = 3)")
    ],
)
README_FIX = Proposal(
    root_cause="docs",
    category=Category.TEST,
    confidence=0.8,
    files_to_modify=[
        FileEdit(
            file_path="README.md",
            original="Small money helpers.",
            replacement="Small money helpers, rounded half up.",
        )
    ],
)


def test_fork_approval_pushes_nothing_and_posts_suggestions(harness: Harness) -> None:
    w = harness.world
    harness.backend = FixedBackend(FORK_FIX)
    analyze(harness, w.fork_run_id)
    out = approve(harness, pr=w.fork_pr, user="dev-wes")
    assert out.code == 0, out.stdout + out.summary
    assert harness.fake.state.ref_writes == [] and harness.fake.state.dispatches == []
    reviews = list(w.state.reviews.values())
    assert len(reviews) == 1 and reviews[0].event == "COMMENT"
    [comment] = reviews[0].comments
    assert (
        comment["path"] == "src/hello/calc.py"
        and "```suggestion" in comment["body"]
        and "ways: int = 3)" in comment["body"]
    )
    assert "fork" in replies(harness, w.fork_pr)[0]


def test_fork_change_outside_the_pr_diff_gets_a_git_apply_block(harness: Harness) -> None:
    w = harness.world
    harness.backend = FixedBackend(README_FIX)
    analyze(harness, w.fork_run_id)
    out = approve(harness, pr=w.fork_pr, user="maintainer-mia")
    assert out.code == 0
    assert harness.fake.state.ref_writes == [] and not w.state.reviews
    reply = replies(harness, w.fork_pr)[0]
    assert "```diff" in reply and "+Small money helpers, rounded half up." in reply


@pytest.mark.parametrize("branch", ["main;rm -rf", "refs/heads/main", "$(curl evil)", "../x"])
def test_hostile_head_branch_changes_nothing_about_the_ref_written(harness: Harness, branch: str) -> None:
    w = harness.world
    from tests.fakegithub.scenario import CALC

    head = w.state.commit_files(
        w.repo,
        branch,
        {"src/hello/calc.py": CALC.replace("amount * 100 + 0.5", "amount * 100")},
        create=True,
        author="dev-wes",
    )
    pr = w.state.add_pull(w.repo, head_branch=branch, title="x", user="dev-wes")
    pr.pull.head_sha = head
    run = w.state.add_run(
        w.repo,
        head_branch=branch,
        head_sha=head,
        pull_requests=[pr.number],
        jobs=[{"name": "test", "conclusion": "failure", "log": PYTEST_LOG}],
    )
    payload = payloads.workflow_run_completed(w.state, run.id, api=harness.fake.url)
    assert harness.run("workflow_run", payload).code == 0
    meta = read_metadata(own_comment(harness, pr.number).body)
    out = approve(harness, pr=pr.number)
    assert out.code == 0, out.stdout + out.summary
    assert [r["ref"] for r in w.state.ref_writes] == [f"refs/heads/ai-fix/{run.id}-{meta.digest[:8]}"]
    assert (
        w.state.repo(w.repo).refs[f"refs/heads/{branch}"] == w.state.pull(w.repo, pr.number).pull.head_sha
    )  # untouched
    fix = next(i for i in w.state.issues.values() if i.pull and i.pull.head_ref.startswith("ai-fix/"))
    assert fix.pull.base_ref == branch


@pytest.mark.parametrize(
    ("branch", "ok"),
    [
        ("ai-fix/123-abcdef01", True),
        ("ai-fix/../main", False),
        ("ai-fix/123-abc.lock", False),
        ("ai-fix/.hidden", False),
        ("ai-fix/a b", False),
        ("ai-fix/a~1", False),
        ("main", False),
        ("ai-fix/x/y", False),
        ("ai-fix/", False),
    ],
)
def test_fix_ref_validation(branch: str, ok: bool) -> None:
    if ok:
        assert (
            validate_fix_ref(branch, default_branch="main", failing_branch="feature")
            == f"refs/heads/{branch}"
        )
    else:
        with pytest.raises(ValueError):
            validate_fix_ref(branch, default_branch="main", failing_branch="feature")


def test_fix_ref_is_never_the_failing_branch() -> None:
    with pytest.raises(ValueError):
        validate_fix_ref("ai-fix/1-abc", default_branch="main", failing_branch="ai-fix/1-abc")


def test_push_failure_without_pr_is_applied_through_workflow_dispatch(harness: Harness) -> None:
    w = harness.world
    from tests.fakegithub.scenario import CALC

    w.state.commit_files(
        w.repo, "main", {"src/hello/calc.py": CALC.replace("amount * 100 + 0.5", "amount * 100")}
    )
    run = w.state.add_run(
        w.repo,
        head_branch="main",
        event="push",
        jobs=[{"name": "test", "conclusion": "failure", "log": PYTEST_LOG}],
    )
    analyze(harness, run.id)
    [check] = [c for c in w.state.check_runs.values() if c.head_sha == run.head_sha]
    meta = read_metadata(check.output["summary"])
    payload = payloads.workflow_dispatch(
        w.state,
        w.repo,
        w.workflow_id,
        ref="main",
        inputs={"run-id": str(run.id)},
        sender="dev-wes",
        api=harness.fake.url,
    )
    out = harness.run("workflow_dispatch", payload)
    assert out.code == 0, out.stdout + out.summary
    assert [r["ref"] for r in w.state.ref_writes] == [f"refs/heads/ai-fix/{run.id}-{meta.digest[:8]}"]
    fix = next(i for i in w.state.issues.values() if i.pull and i.pull.head_ref.startswith("ai-fix/"))
    assert fix.pull.base_ref == "main"
    assert "Approved by" in w.state.check_runs[check.id].output["summary"]


def test_dispatch_by_reader_is_refused(harness: Harness) -> None:
    w = harness.world
    payload = payloads.workflow_dispatch(
        w.state,
        w.repo,
        w.workflow_id,
        ref="main",
        inputs={"run-id": str(w.run_id)},
        sender="reader-rae",
        api=harness.fake.url,
    )
    out = harness.run("workflow_dispatch", payload)
    assert out.code == 0 and w.state.ref_writes == [] and "permission" in out.summary
