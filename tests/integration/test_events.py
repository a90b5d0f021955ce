"""events.route: the one decision table from event to activity, on GitHub's real payloads."""

from __future__ import annotations

import pytest

from ci_healer.events import (
    Analyze,
    Apply,
    EventError,
    Reject,
    RerunPassed,
    Skip,
    Verify,
    load_event,
    route,
)
from ci_healer.settings import ActionSettings
from tests.fakegithub import payloads
from tests.fakegithub.fixtures import require_spec
from tests.fakegithub.scenario import standard

API = "http://127.0.0.1:1"


@pytest.fixture
def world():
    require_spec()
    return standard()


@pytest.fixture
def settings(tmp_path):
    return ActionSettings.from_environ(
        {
            "INPUT_GITHUB-TOKEN": "ghs_x",
            "GITHUB_REPOSITORY": "octo-org/hello-app",
            "GITHUB_EVENT_NAME": "workflow_run",
            "GITHUB_EVENT_PATH": str(tmp_path / "e.json"),
        }
    )


@pytest.mark.parametrize(
    ("conclusion", "branch", "expected"),
    [
        ("failure", "fix-rounding", Analyze),
        ("timed_out", "fix-rounding", Analyze),
        ("failure", "ai-fix/1-abcdef12", Verify),
        ("success", "ai-fix/1-abcdef12", Verify),
        ("success", "fix-rounding", Skip),
        ("cancelled", "fix-rounding", Skip),
        ("skipped", "ai-fix/1-abcdef12", Skip),
    ],
)
def test_workflow_run_routing(world, settings, conclusion: str, branch: str, expected: type) -> None:
    payload = payloads.workflow_run_completed(world.state, world.run_id, api=API, conclusion=conclusion)
    payload["workflow_run"]["head_branch"] = branch
    assert isinstance(route("workflow_run", payload, settings), expected)


@pytest.mark.parametrize(
    ("attempt", "conclusion", "branch", "expected"),
    [
        (2, "success", "fix-rounding", RerunPassed),
        (3, "success", "fix-rounding", RerunPassed),
        (1, "success", "fix-rounding", Skip),
        (2, "failure", "fix-rounding", Analyze),
        (2, "success", "ai-fix/1-abcdef12", Verify),
    ],
)
def test_a_later_attempt_that_passed_is_a_rerun_passed(
    world, settings, attempt: int, conclusion: str, branch: str, expected: type
) -> None:
    payload = payloads.workflow_run_completed(world.state, world.run_id, api=API, conclusion=conclusion)
    payload["workflow_run"].update(head_branch=branch, run_attempt=attempt)
    assert isinstance(route("workflow_run", payload, settings), expected)


def test_workflow_run_requested_is_skipped(world, settings) -> None:
    payload = payloads.workflow_run_completed(world.state, world.run_id, api=API)
    payload["action"] = "requested"
    assert isinstance(route("workflow_run", payload, settings), Skip)


def test_failure_on_a_commit_authored_by_the_bot_is_skipped(world, settings) -> None:
    payload = payloads.workflow_run_completed(world.state, world.run_id, api=API)
    payload["workflow_run"]["head_commit"]["author"] = {
        "name": "github-actions[bot]",
        "email": "41898282+github-actions[bot]@users.noreply.github.com",
    }
    activity = route("workflow_run", payload, settings)
    assert isinstance(activity, Skip) and "loop" in activity.reason


@pytest.mark.parametrize(
    ("body", "action", "user", "expected", "pid"),
    [
        ("/approve-fix", "created", "dev-wes", Apply, None),
        ("/approve-fix 1014-abcdef12\nthanks", "created", "dev-wes", Apply, "1014-abcdef12"),
        ("/approve-fix", "edited", "dev-wes", Skip, None),
        ("/approve-fix", "deleted", "dev-wes", Skip, None),
        ("please /approve-fix", "created", "dev-wes", Skip, None),
        ("/approve-fixes", "created", "dev-wes", Skip, None),
        ("/reject-fix", "created", "dev-wes", Reject, None),
        ("/approve-fix", "created", "github-actions[bot]", Skip, None),
        ("/approve-fix", "created", "renovate[bot]", Apply, None),
    ],
)
def test_issue_comment_routing(world, settings, body, action, user, expected, pid) -> None:
    comment = world.state.add_comment(world.repo, world.pr, body=body, user=user)
    payload = payloads.issue_comment(
        world.state, comment.id, api=API, action=action, previous_body="x" if action == "edited" else None
    )
    activity = route("issue_comment", payload, settings)
    assert isinstance(activity, expected)
    if isinstance(activity, Apply):
        assert activity.pr_number == world.pr and activity.actor == user and activity.proposal_id == pid
        assert activity.actor_is_bot == user.endswith("[bot]")


def test_comment_on_an_issue_is_skipped(world, settings) -> None:
    issue = world.state.add_issue(world.repo, title="bug")
    comment = world.state.add_comment(world.repo, issue.number, body="/approve-fix", user="dev-wes")
    assert isinstance(
        route("issue_comment", payloads.issue_comment(world.state, comment.id, api=API), settings), Skip
    )


@pytest.mark.parametrize(("label", "expected"), [("ci-healer:approve", Apply), ("bug", Skip)])
def test_label_routing_checks_the_sender(world, settings, label: str, expected: type) -> None:
    payload = payloads.pull_request_labeled(
        world.state, world.repo, world.pr, label, sender="triage-tom", api=API
    )
    activity = route("pull_request_target", payload, settings)
    assert isinstance(activity, expected)
    if isinstance(activity, Apply):
        assert activity.actor == "triage-tom" and activity.source == "label"


@pytest.mark.parametrize(
    ("inputs", "expected"), [({"run-id": "1014"}, Apply), ({}, Skip), ({"run-id": ""}, Skip)]
)
def test_dispatch_routing(world, settings, inputs, expected) -> None:
    payload = payloads.workflow_dispatch(
        world.state, world.repo, world.workflow_id, ref="main", inputs=inputs, sender="dev-wes", api=API
    )
    assert isinstance(route("workflow_dispatch", payload, settings), expected)


@pytest.mark.parametrize("bad", ["1014; rm -rf /", "-1", "abc", "0"])
def test_dispatch_with_a_bad_run_id_is_an_event_error(world, settings, bad: str) -> None:
    payload = payloads.workflow_dispatch(
        world.state,
        world.repo,
        world.workflow_id,
        ref="main",
        inputs={"run-id": bad},
        sender="dev-wes",
        api=API,
    )
    with pytest.raises(EventError, match="run-id"):
        route("workflow_dispatch", payload, settings)


@pytest.mark.parametrize(
    ("event", "payload", "field"),
    [
        ("workflow_run", {}, "action"),
        ("workflow_run", {"action": "completed", "repository": {"full_name": "a/b"}}, "workflow_run"),
        (
            "issue_comment",
            {"action": "created", "repository": {"full_name": "a/b"}, "issue": {"number": 1}},
            "comment",
        ),
        (
            "pull_request",
            {"action": "labeled", "repository": {"full_name": "a/b"}, "pull_request": {"number": "x"}},
            "pull_request.number",
        ),
    ],
)
def test_malformed_payloads_name_the_field(settings, event, payload, field) -> None:
    with pytest.raises(EventError, match=field.replace(".", r"\.")):
        route(event, payload, settings)


def test_unknown_event_is_skipped(settings) -> None:
    assert isinstance(route("push", {"ref": "refs/heads/main"}, settings), Skip)


@pytest.mark.parametrize(("content", "message"), [("{", "not valid JSON"), ("[1]", "JSON object")])
def test_load_event_errors(tmp_path, content, message) -> None:
    path = tmp_path / "event.json"
    path.write_text(content)
    with pytest.raises(EventError, match=message):
        load_event(path)
    with pytest.raises(EventError, match="cannot read"):
        load_event(tmp_path / "missing.json")


DEEP = 200_000


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"action": "created", "comment": {"body": "\xff\xfe/approve-fix"}}', "not UTF-8"),
        (b"\xef\xbb\xbf{}", "not valid JSON"),  # a byte-order mark
        (b"[" * DEEP + b"]" * DEEP, "nested too deeply"),
        (b'{"a":' * DEEP + b"1" + b"}" * DEEP, "nested too deeply"),
        (b"", "not valid JSON"),
        (b"1" * 10_000, "not valid JSON"),  # over Python's int-digit limit
        (b"\x00\x00", "not valid JSON"),
        (b'"just a string"', "JSON object"),
    ],
    ids=["invalid-utf8", "bom", "deep-arrays", "deep-objects", "empty", "huge-int", "nul", "string"],
)
def test_every_malformed_event_file_is_the_actions_own_error(tmp_path, content: bytes, message: str) -> None:
    """SECURITY.md item 5 and the exit-code contract: a broken GITHUB_EVENT_PATH ends in one
    ``::error::`` and exit 1, never a traceback."""
    import io

    from ci_healer import action
    from ci_healer.workflow_commands import Runner

    path = tmp_path / "event.json"
    path.write_bytes(content)
    with pytest.raises(EventError, match=message):
        load_event(path)
    settings = ActionSettings.from_environ(
        {
            "INPUT_GITHUB-TOKEN": "ghs_x",
            "GITHUB_REPOSITORY": "octo-org/hello-app",
            "GITHUB_EVENT_NAME": "issue_comment",
            "GITHUB_EVENT_PATH": str(path),
        }
    )
    stream = io.StringIO()
    runner = Runner(stream=stream, environ={})

    class NoGitHub:
        bot_login = "github-actions[bot]"

        def __getattr__(self, name):
            raise AssertionError(f"the API was called ({name}) for a malformed event")

    def no_backend(repo):
        raise AssertionError("a backend was built for a malformed event")

    code = action.run(settings=settings, github=NoGitHub(), runner=runner, backend_factory=no_backend)
    errors = [ln for ln in stream.getvalue().splitlines() if ln.startswith("::error")]
    assert code == 1 and len(errors) == 1 and "the event payload cannot be used" in errors[0]
