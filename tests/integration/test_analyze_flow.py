"""Analyze flow: a failed workflow_run becomes one check run and one PR comment."""

from __future__ import annotations

import pytest

from ci_healer.render import COMMENT_MARKER, read_diff, read_metadata
from tests.fakegithub import BOT_LOGIN, payloads
from tests.integration.conftest import Harness


def bot_comments(h: Harness, number: int) -> list:
    return [
        c
        for c in h.fake.state.comments.values()
        if c.issue_number == number and c.user == BOT_LOGIN and c.body.startswith(COMMENT_MARKER)
    ]


def test_failure_posts_one_check_run_and_one_comment_with_the_proposal(harness: Harness) -> None:
    w = harness.world
    out = harness.run(
        "workflow_run", payloads.workflow_run_completed(w.state, w.run_id, api=harness.fake.url)
    )
    assert out.code == 0, out.stdout + out.summary
    checks = [c for c in w.state.check_runs.values() if c.head_sha == w.head_sha]
    assert len(checks) == 1 and checks[0].name == "ci-healer" and checks[0].conclusion == "neutral"
    comments = bot_comments(harness, w.pr)
    assert len(comments) == 1
    meta = read_metadata(comments[0].body)
    assert meta is not None and meta.head_sha == w.head_sha and meta.status == "proposed"
    assert meta.proposal_id == f"{w.run_id}-{meta.digest[:8]}"
    assert "+    return int(amount * 100 + 0.5)" in read_diff(comments[0].body)
    assert read_metadata(checks[0].output["summary"]).digest == meta.digest
    assert checks[0].annotations and checks[0].annotations[0]["path"] == "tests/test_calc.py"
    assert out.outputs["proposal-id"] == meta.proposal_id and out.outputs["risk"] in ("low", "medium", "high")


def test_rerun_of_the_same_failure_edits_the_same_comment(harness: Harness) -> None:
    w = harness.world
    for _ in range(2):
        out = harness.run(
            "workflow_run", payloads.workflow_run_completed(w.state, w.run_id, api=harness.fake.url)
        )
        assert out.code == 0
    comments = bot_comments(harness, w.pr)
    assert len(comments) == 1 and comments[0].updated > comments[0].created
    checks = [c for c in w.state.check_runs.values() if c.head_sha == w.head_sha]
    assert len(checks) == 1 and checks[0].updates >= 1


def test_success_is_skipped_and_nothing_is_posted(harness: Harness) -> None:
    w = harness.world
    out = harness.run(
        "workflow_run",
        payloads.workflow_run_completed(w.state, w.run_id, api=harness.fake.url, conclusion="success"),
    )
    assert out.code == 0 and out.backends_built == 0
    assert "skipped" in out.stdout and not w.state.check_runs and not bot_comments(harness, w.pr)


def test_dry_run_posts_nothing_but_sets_outputs(harness: Harness) -> None:
    w = harness.world
    harness.inputs["dry-run"] = "true"
    out = harness.run(
        "workflow_run", payloads.workflow_run_completed(w.state, w.run_id, api=harness.fake.url)
    )
    assert out.code == 0 and out.outputs["proposal-id"].startswith(f"{w.run_id}-")
    assert not w.state.check_runs and not bot_comments(harness, w.pr)
    assert all(r.method == "GET" for r in harness.fake.requests)


def test_check_run_403_warns_naming_checks_write_and_still_comments(harness: Harness) -> None:
    w = harness.world
    harness.fake.forbid_check_runs()
    out = harness.run(
        "workflow_run", payloads.workflow_run_completed(w.state, w.run_id, api=harness.fake.url)
    )
    assert out.code == 0
    warnings = [ln for ln in out.command_lines if ln.startswith("::warning")]
    assert warnings and "checks: write" in warnings[0]
    assert len(bot_comments(harness, w.pr)) == 1 and not w.state.check_runs


def test_server_error_once_is_retried(harness: Harness) -> None:
    w = harness.world
    rule = harness.fake.fail(
        502, "Bad Gateway", operation_id="actions/list-jobs-for-workflow-run-attempt", times=1
    )
    out = harness.run(
        "workflow_run", payloads.workflow_run_completed(w.state, w.run_id, api=harness.fake.url)
    )
    assert out.code == 0 and rule.hits == 1
    assert len(bot_comments(harness, w.pr)) == 1


def test_persistent_server_error_is_a_precise_failure(harness: Harness) -> None:
    w = harness.world
    harness.fake.fail(502, "Bad Gateway", operation_id="actions/list-jobs-for-workflow-run-attempt")
    out = harness.run(
        "workflow_run", payloads.workflow_run_completed(w.state, w.run_id, api=harness.fake.url)
    )
    assert out.code == 1
    errors = [ln for ln in out.command_lines if ln.startswith("::error")]
    assert len(errors) == 1 and "list jobs" in errors[0]
    assert "re-run the job later" in out.summary
    assert not w.state.check_runs and not bot_comments(harness, w.pr)


def test_comment_404_is_reported_with_exit_1(harness: Harness) -> None:
    w = harness.world
    harness.fake.fail(404, "Not Found", operation_id="issues/create-comment")
    out = harness.run(
        "workflow_run", payloads.workflow_run_completed(w.state, w.run_id, api=harness.fake.url)
    )
    assert out.code == 1 and "create comment failed (404)" in out.summary


def test_fork_run_is_found_by_head_and_marked_as_fork(harness: Harness) -> None:
    w = harness.world
    out = harness.run(
        "workflow_run", payloads.workflow_run_completed(w.state, w.fork_run_id, api=harness.fake.url)
    )
    assert out.code == 0
    comments = bot_comments(harness, w.fork_pr)
    assert len(comments) == 1 and read_metadata(comments[0].body).head_sha == w.fork_head_sha


@pytest.mark.parametrize(
    "payload",
    [
        "{not json",
        "[]",
        '{"action": "completed"}',
        '{"action": "completed", "repository": {"full_name": "octo-org/hello-app"}, "workflow_run": {"id": 1, "head_sha": "nothex"}}',
    ],
)
def test_malformed_event_is_one_error_and_exit_1(harness: Harness, payload: str) -> None:
    out = harness.run("workflow_run", payload)
    assert out.code == 1
    assert len([ln for ln in out.command_lines if ln.startswith("::error")]) == 1
    assert "event" in out.summary
    assert not harness.fake.requests


def test_main_reads_the_environment_and_routes(harness: Harness, tmp_path, capsys) -> None:
    import json

    from ci_healer import action

    w = harness.world
    event = tmp_path / "event.json"
    event.write_text(
        json.dumps(
            payloads.workflow_run_completed(w.state, w.run_id, api=harness.fake.url, conclusion="success")
        )
    )
    summary = tmp_path / "summary.md"
    env = {
        "INPUT_GITHUB-TOKEN": "ghs_mainTest",
        "GITHUB_REPOSITORY": w.repo,
        "GITHUB_EVENT_NAME": "workflow_run",
        "GITHUB_EVENT_PATH": str(event),
        "GITHUB_API_URL": harness.fake.url,
        "GITHUB_STEP_SUMMARY": str(summary),
    }
    assert action.main(env) == 0
    assert "::add-mask::ghs_mainTest" in capsys.readouterr().out
    env["INPUT_MAX-ATTEMPTS"] = "many"
    assert action.main(env) == 1
    out = capsys.readouterr().out
    assert [ln for ln in out.splitlines() if ln.startswith("::error")] == [
        "::error::ci-healer: invalid settings: input max-attempts must be a whole number, not 'many'"
    ]
    assert "max-attempts" in summary.read_text()
