"""End-to-end scenarios: the real action image under act, against the fake GitHub API.

Each scenario runs the workflow files of ``tests/e2e/workflows/`` (the example workflows with
``uses: ./`` after a checkout) with act, for a real webhook payload, in the action image built from
this repository's ``Dockerfile``. The container reaches the fake API on the host's 127.0.0.1
(host networking). Every scenario asserts on act's result (job and step results, step outputs, job
summary) and on what the fake API received and holds.

The world (``scenario_world``): the bundled missing-dependency example as the repository at the
PR's head SHA and its job log as the failed job's log, analysed by the offline ``rules`` backend, so
every proposal is a real diff. Each scenario gets a fresh fake; what it needs beforehand (the
proposal comment, an applied fix) is produced by the same Action code run in this process, so each
scenario stands and fails on its own assertions.

Figures (act wall time, action step time, time from the action container's start to its first API
call and to the posted comment, API calls) are printed at the end of the module and written to
``.e2e/e2e-figures.json`` (see ``scenario_figures``). The tests not marked ``e2e`` (the workflow
files mirror the examples; the figure helpers) run without Docker.
"""

from __future__ import annotations

import contextlib
import difflib
import json
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import harness
import pytest
import yaml
from scenario_figures import (
    FigureBook,
    ScenarioFigures,
    container_windows,
    parse_go_duration,
    step_duration,
)
from scenario_world import (
    HEAD_BRANCH,
    MAINTAINER,
    READER,
    REPLY_MARKER,
    TRIAGER,
    WRITER,
    World,
    build_world,
    job_steps,
    run_in_process,
)

from ci_healer.dashboard import DASHBOARD_MARKER, DASHBOARD_TITLE
from ci_healer.render import read_diff, read_metadata
from tests.fakegithub import BOT_LOGIN, payloads
from tests.fakegithub.fixtures import require_spec

HERE = Path(__file__).resolve().parent
WORKFLOWS = HERE / "workflows"
ANALYZE = ".github/workflows/ci-healer-analyze.yml"
ANALYZE_UNFILTERED = ".github/workflows/ci-healer-analyze-unfiltered.yml"
APPLY = ".github/workflows/ci-healer-apply.yml"
DASHBOARD = ".github/workflows/ci-healer-analyze-dashboard.yml"
ANALYZE_AUTO_APPLY = ".github/workflows/ci-healer-analyze-auto-apply.yml"
STEP = "heal"  # the `id:` of the ci-healer step in every workflow file
PROPOSAL_ID = re.compile(r"^(\d+)-([0-9a-f]{8})$")

ActRunner = Callable[..., harness.ActResult]

# ---------------------------------------------------------------------------------------------
# fixtures


@pytest.fixture(scope="module")
def figures(request: pytest.FixtureRequest) -> Iterator[FigureBook]:
    """The module's figure book; printed and written to ``<state root>/e2e-figures.json`` at the end."""
    book = FigureBook()
    yield book
    if not book.scenarios:
        return
    path = book.write(harness.state_root() / "e2e-figures.json")
    lines = [*book.lines(), f"e2e figures written to {path}"]
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    suspended = capture.global_and_fixture_disabled() if capture is not None else contextlib.nullcontext()
    with suspended:
        print("\n" + "\n".join(lines), flush=True)


@pytest.fixture(scope="module")
def work_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A git work tree with this repository's ``action.yml`` and ``Dockerfile`` (``uses: ./``) and
    the scenario workflows under ``.github/workflows/``; act runs in it."""
    files: dict[str, str] = {
        "action.yml": (harness.REPO_ROOT / "action.yml").read_text(encoding="utf-8"),
        "Dockerfile": (harness.REPO_ROOT / "Dockerfile").read_text(encoding="utf-8"),
    }
    for path in sorted(WORKFLOWS.glob("*.yml")):
        files[f".github/workflows/{path.name}"] = path.read_text(encoding="utf-8")
    return harness.make_work_tree(tmp_path_factory.mktemp("e2e-work-tree") / "repo", files=files)


@pytest.fixture()
def world(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[World]:
    """A fresh seeded fake GitHub on 127.0.0.1 (the lint variant for a test marked
    ``lint_world``); fails the test when any request or response disagreed with GitHub's REST
    description."""
    spec = require_spec()
    w = build_world(spec, tmp_path, lint=request.node.get_closest_marker("lint_world") is not None)
    try:
        yield w
    finally:
        w.fake.stop()
    if w.fake.violations:
        pytest.fail(
            f"requests/responses disagree with GitHub's REST description:\n{w.fake.violation_report()}",
            pytrace=False,
        )


@pytest.fixture()
def act(
    act_runner: ActRunner, work_tree: Path, figures: FigureBook, docker_daemon: harness.DockerDaemon
) -> Callable[..., harness.ActResult]:
    """``act(world, name, workflow, event_name, payload)``: run act once and record the figures.

    Also checks what holds for every run: the token never shows in act's log (the action asks
    the runner to mask it), every API request carried it, the pre-signed log download URL did not
    get it, and no act container is left behind.
    """

    def go(
        world: World, name: str, workflow: str, event_name: str, payload: dict[str, Any]
    ) -> harness.ActResult:
        mark = world.fake.mark()
        since = time.time()
        result = act_runner(
            work_tree=work_tree,
            workflow=workflow,
            event_name=event_name,
            event_payload=payload,
            api_url=world.fake.url,
            repository=world.repo,
        )
        hits = world.fake.hits[mark:]
        [window, *_] = action_containers(docker_daemon, since) or [(None, None)]
        start, die = window
        posted = [h.at for h in hits if h.method == "POST" and h.path.endswith("/comments")]
        posted += [h.at for h in hits if h.method == "PATCH" and "/issues/comments/" in h.path]
        figures.add(
            name,
            ScenarioFigures(
                act_seconds=round(result.seconds, 3),
                step_seconds=round(d, 3) if (d := step_duration(result.records, STEP)) is not None else None,
                container_seconds=round(die - start, 3) if (start and die) else None,
                start_to_first_call_seconds=round(hits[0].at - start, 3) if (start and hits) else None,
                start_to_comment_seconds=round(min(posted) - start, 3) if (start and posted) else None,
                api_calls=len(hits),
                api_writes=len(world.writes_since(mark)),
                outcome="ran",
            ),
        )
        masks = [r.get("arg") for r in result.records if r.get("command") == "add-mask"]
        assert harness.FAKE_GITHUB_TOKEN not in result.log_text() + result.stderr, (
            "act must mask the token in its log"
        )
        api = [r for r in world.fake.requests[mark:] if not r.path.startswith("/_blobs/")]
        blobs = [r for r in world.fake.requests[mark:] if r.path.startswith("/_blobs/")]
        assert all(r.authorization for r in api), [r.path for r in api if not r.authorization]
        # the log download redirects to a pre-signed URL: the token must not follow the redirect
        assert not any(r.authorization for r in blobs), "the token was sent to the log storage URL"
        if hits:
            assert harness.FAKE_GITHUB_TOKEN in masks, "the action must ask the runner to mask its token"
        left = [
            n
            for n in docker_daemon.docker("ps", "-a", "--format", "{{.Names}}").stdout.split()
            if n.startswith("act-")
        ]
        assert not left, f"act containers left behind: {left}"
        return result

    if not figures.act_version:
        found = harness.find_act()
        if found:
            figures.act_version = harness.run([found, "--version"], timeout=30, check=False).stdout.strip()
    return go


def action_containers(daemon: harness.DockerDaemon, since: float) -> list[tuple[float, float | None]]:
    """``(start, die)`` host times of the action image's containers started since ``since``
    (from the daemon's container events; empty when the action never started)."""
    proc = daemon.docker(
        "events",
        "--since",
        f"{since:.3f}",
        "--until",
        f"{time.time() + 0.1:.3f}",
        "--filter",
        "type=container",
        "--format",
        "{{json .}}",
        timeout=30,
        check=False,
    )
    events = []
    for line in proc.stdout.splitlines():
        with contextlib.suppress(ValueError):
            events.append(json.loads(line))
    return container_windows(events, harness.ACTION_IMAGE)


def passed(figures: FigureBook, name: str) -> None:
    """Mark scenario ``name`` as passed in the figure book (called after its last assertion)."""
    figures.scenarios[name].outcome = "passed"


# ---------------------------------------------------------------------------------------------
# helpers


def failure_event(world: World) -> dict[str, Any]:
    """``workflow_run`` completed/failure for the PR's failed CI run (GitHub's example payload)."""
    return payloads.workflow_run_completed(world.state, world.run_id, api=world.fake.url)


def analyse_in_process(world: World) -> str:
    """Precondition: the failure analysed (check run + proposal comment); returns the proposal id."""
    code, out = run_in_process(world, "workflow_run", failure_event(world))
    assert code == 0, f"precondition: in-process analysis failed:\n{out}"
    return world.proposal_id()


def approval_event(world: World, user: str, body: str = "/approve-fix") -> dict[str, Any]:
    """``issue_comment`` created: ``user`` comments ``body`` on the PR."""
    comment = world.state.add_comment(world.repo, world.pr, body=body, user=user)
    return payloads.issue_comment(world.state, comment.id, api=world.fake.url)


def heal_step(result: harness.ActResult) -> list[str]:
    """Results of the ci-healer step's Main stage (one entry when it ran)."""
    return [s.result for s in result.steps if s.step_id == STEP and s.stage == "Main"]


def ran_ok(result: harness.ActResult, job: str) -> str:
    """Assertion message context, after checking act exited 0 with the job and step successful."""
    context = result.log_text()[-6000:] + result.stderr[-2000:]
    assert result.exit_code == 0, context
    assert result.jobs == {job: "success"}, context
    assert heal_step(result) == ["success"], context
    return context


def nothing_pushed(world: World, mark: int) -> None:
    """No git object, ref, PR or dispatch was written since ``mark``."""
    writes = [(h.method, h.path) for h in world.writes_since(mark)]
    pushed = [w for w in writes if re.search(r"/git/(blobs|trees|commits|refs)|/pulls$|/dispatches$", w[1])]
    assert pushed == [], pushed
    assert world.fix_ref_writes() == [] and world.state.dispatches == []
    assert [p for p in world.pulls() if p.pull.head_ref.startswith("ai-fix/")] == []


# ---------------------------------------------------------------------------------------------
# the workflow files mirror the examples (runs without Docker)


def _load(path: Path) -> dict[str, Any]:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    doc["on"] = doc.pop(True, doc.get("on"))  # YAML 1.1 reads the key `on` as true
    return doc


@pytest.mark.parametrize(
    ("mirror", "example"),
    [("ci-healer-analyze.yml", "ci-healer-analyze.yml"), ("ci-healer-apply.yml", "ci-healer-apply.yml")],
)
def test_act_workflows_mirror_the_examples(mirror: str, example: str) -> None:
    ours, theirs = _load(WORKFLOWS / mirror), _load(harness.REPO_ROOT / "examples" / "workflows" / example)
    assert ours["on"] == theirs["on"] and ours["permissions"] == theirs["permissions"]
    assert ours["jobs"].keys() == theirs["jobs"].keys()
    for name, job in ours["jobs"].items():
        expected = theirs["jobs"][name]
        assert job["if"] == expected["if"] and job["permissions"] == expected["permissions"]
        assert job["runs-on"] == expected["runs-on"]
        assert [s.get("uses") for s in job["steps"]] == ["actions/checkout@v4", "./"]
        assert [s.get("uses") for s in expected["steps"]] == ["ci-healer/ci-healer@v1"]
        assert job["steps"][1]["id"] == STEP
        # only the backend is pinned (offline); every other input keeps the example's value
        assert {k: v for k, v in job["steps"][1].get("with", {}).items() if k != "backend"} == {
            k: v for k, v in expected["steps"][0].get("with", {}).items() if k != "backend"
        }
        assert job["steps"][1]["with"]["backend"] == "rules"


# ---------------------------------------------------------------------------------------------
# the figure helpers (run without Docker)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("555.8ms", 0.5558),
        ("2.95s", 2.95),
        ("1m2.5s", 62.5),
        ("1h0m1s", 3601.0),
        ("750µs", 0.00075),
        ("12ns", 1.2e-8),
    ],
)
def test_go_durations_as_act_prints_them(text: str, seconds: float) -> None:
    assert parse_go_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "2.95", "s", "2.95 s", "fast", "1m2.5sx", "-1s"])
def test_bad_go_durations_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not a Go duration"):
        parse_go_duration(text)


def test_step_duration_reads_the_step_result_of_that_step_only() -> None:
    records = [
        {
            "stepID": ["0"],
            "stage": "Main",
            "stepResult": "success",
            "msg": "  ✅  Success - Main actions/checkout@v4 [70.6ms]",
        },
        {"stepID": [STEP], "stage": "Main", "msg": "⭐ Run Main ./"},
        {
            "stepID": [STEP],
            "stage": "Main",
            "stepResult": "success",
            "msg": "  ✅  Success - Main ./ [2.269694405s]",
        },
    ]
    assert step_duration(records, STEP) == pytest.approx(2.269694405)
    assert step_duration(records, "0") == pytest.approx(0.0706)
    assert step_duration(records, "missing") is None
    assert step_duration([{**records[2], "msg": "no timer"}], STEP) is None


def test_container_windows_pair_start_and_die_of_the_action_image() -> None:
    def event(action: str, cid: str, image: str, nanos: int) -> dict[str, Any]:
        return {
            "Type": "container",
            "Action": action,
            "Actor": {"ID": cid, "Attributes": {"image": image}},
            "timeNano": nanos,
        }

    events = [
        event("create", "a", harness.ACTION_IMAGE, 1_000_000_000),
        event("start", "job", harness.BASE_IMAGE, 1_500_000_000),
        event("start", "a", harness.ACTION_IMAGE, 2_000_000_000),
        event("die", "a", harness.ACTION_IMAGE, 4_250_000_000),
        event("start", "b", harness.ACTION_IMAGE, 5_000_000_000),
        {"Type": "network", "Action": "connect", "timeNano": 2_100_000_000},
    ]
    assert container_windows(events, harness.ACTION_IMAGE) == [(2.0, 4.25), (5.0, None)]
    assert container_windows(events, "other:latest") == []


def test_figure_book_document_and_lines(tmp_path: Path) -> None:
    book = FigureBook()
    book.add("1-failure", ScenarioFigures(3.4, 2.2, 2.0, 0.6, 1.9, 17, 2, "passed"))
    book.add("3-success", ScenarioFigures(0.04, None, None, None, None, 0, 0, "ran"))
    doc = json.loads(book.write(tmp_path / "figures" / "e2e-figures.json").read_text(encoding="utf-8"))
    assert doc["analysis"] == {
        "api_calls": 17,
        "api_writes": 2,
        "start_to_first_call_seconds": 0.6,
        "start_to_comment_seconds": 1.9,
    }
    assert (
        doc["scenarios"]["3-success"]["step_seconds"] is None
        and doc["scenarios"]["3-success"]["outcome"] == "ran"
    )
    lines = book.lines()
    assert len(lines) == 2 and "17 API calls (2 writes)" in lines[0] and "start->comment 1.90s" in lines[0]
    assert "action step n/a" in lines[1] and "comment" not in lines[1]
    assert not list((tmp_path / "figures").glob("*.tmp"))


# ---------------------------------------------------------------------------------------------
# the scenarios


@pytest.mark.e2e
def test_1_failure_posts_a_check_run_and_one_comment(world: World, act, figures: FigureBook) -> None:
    result = act(world, "1-failure", ANALYZE, "workflow_run", failure_event(world))
    context = ran_ok(result, "analyze")

    # act: outputs and job summary
    assert result.output("category", STEP) == "dependency", context
    root_cause = result.output("root-cause", STEP) or ""
    assert "yaml" in root_cause and "PyYAML" in root_cause, root_cause
    assert (
        result.output("risk", STEP) == "medium"
    )  # a dependency manifest changes (examples/missing-dependency/README.md)
    proposal_id = result.output("proposal-id", STEP) or ""
    match = PROPOSAL_ID.match(proposal_id)
    assert match and int(match.group(1)) == world.run_id, proposal_id
    assert "PyYAML" in result.summary, result.summary[:2000]

    # the fake: one ci-healer check run on the head SHA, exactly one PR comment with the real diff
    [check] = world.check_runs()
    assert check.name == "ci-healer" and check.status == "completed" and check.conclusion == "neutral"
    [comment] = world.proposal_comments()
    meta = read_metadata(comment.body)
    assert meta is not None and meta.status == "proposed" and meta.patch_shown
    assert meta.proposal_id == proposal_id and meta.head_sha == world.head_sha
    diff = read_diff(comment.body)
    assert "+++ b/requirements.txt" in diff and "\n+PyYAML\n" in diff, diff
    assert read_metadata(check.output["summary"]).digest == meta.digest
    assert world.replies() == [] and world.fix_ref_writes() == []
    writes = [(h.method, h.path) for h in world.writes_since(0)]
    assert writes == [
        ("POST", f"/repos/{world.repo}/check-runs"),
        ("POST", f"/repos/{world.repo}/issues/{world.pr}/comments"),
    ]
    passed(figures, "1-failure")


@pytest.mark.e2e
def test_2_rerun_of_the_same_failure_edits_the_same_comment(world: World, act, figures: FigureBook) -> None:
    proposal_id = analyse_in_process(world)
    [before] = world.proposal_comments()
    first_id, first_updated = before.id, before.updated
    mark = world.fake.mark()

    result = act(world, "2-rerun", ANALYZE, "workflow_run", failure_event(world))
    ran_ok(result, "analyze")
    assert result.output("proposal-id", STEP) == proposal_id

    [after] = world.proposal_comments()
    assert after.id == first_id and after.updated > first_updated
    assert read_metadata(after.body).proposal_id == proposal_id
    [check] = world.check_runs()
    assert check.updates >= 1
    writes = [(h.method, h.path) for h in world.writes_since(mark)]
    assert ("PATCH", f"/repos/{world.repo}/issues/comments/{first_id}") in writes
    assert not [w for w in writes if w[0] == "POST" and w[1].endswith("/comments")], writes
    assert not [w for w in writes if w[0] == "POST" and w[1].endswith("/check-runs")], writes
    passed(figures, "2-rerun")


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("workflow", "name"), [(ANALYZE, "3-success"), (ANALYZE_UNFILTERED, "3-success-unfiltered")]
)
def test_3_success_is_skipped_and_nothing_is_written(
    world: World, act, figures: FigureBook, workflow: str, name: str
) -> None:
    event = payloads.workflow_run_completed(
        world.state, world.run_id, api=world.fake.url, conclusion="success"
    )
    result = act(world, name, workflow, "workflow_run", event)
    assert result.exit_code == 0, result.log_text()
    if workflow == ANALYZE:
        # the job's `if:` pre-filter skips it: act prints no job and the action never starts
        assert heal_step(result) == [] and "success" not in result.jobs.values()
        assert world.fake.hits == []
    else:
        # without the pre-filter the action starts and its own event routing skips the run
        assert result.jobs == {"analyze": "success"} and heal_step(result) == ["success"]
        assert "ci-healer skipped" in result.log_text() and "concluded success" in result.log_text()
        assert result.output("proposal-id") is None
        assert world.writes_since(0) == []
    assert world.check_runs() == [] and world.proposal_comments() == [] and world.replies() == []
    passed(figures, name)


@pytest.mark.e2e
def test_4_writer_approval_creates_the_fix_branch_pr_and_dispatch(
    world: World, act, figures: FigureBook
) -> None:
    proposal_id = analyse_in_process(world)
    digest8 = proposal_id.split("-", 1)[1]
    branch = f"ai-fix/{world.run_id}-{digest8}"

    result = act(world, "4-approve-writer", APPLY, "issue_comment", approval_event(world, WRITER))
    context = ran_ok(result, "apply")
    assert result.output("fix-branch", STEP) == branch, context

    # exactly one new ref, created (never updated), on a commit whose only parent is the head SHA
    [write] = world.fix_ref_writes()
    assert write["action"] == "create" and write["ref"] == f"refs/heads/{branch}" and write["force"] is False
    commit = world.state.git.commit(write["sha"])
    assert list(commit.parents) == [world.head_sha]
    git = world.state.git
    fixed = git.blob(git.lookup(commit.tree, "requirements.txt").sha).decode()
    original = git.blob(git.lookup(git.commit(world.head_sha).tree, "requirements.txt").sha).decode()
    changes = [line for line in difflib.ndiff(original.splitlines(), fixed.splitlines()) if line[:1] in "+-"]
    assert changes == ["+ PyYAML"], changes
    loader = "src/tidyconf/loader.py"
    assert git.lookup(commit.tree, loader).sha == git.lookup(git.commit(world.head_sha).tree, loader).sha
    # the fix PR into the failing branch, opened by the bot, and CI dispatched on the fix branch
    [fix_pr] = [p for p in world.pulls() if p.pull.head_ref == branch]
    assert fix_pr.pull.base_ref == HEAD_BRANCH and fix_pr.user == BOT_LOGIN and WRITER in fix_pr.body
    assert result.output("fix-pr-url", STEP).endswith(f"/pull/{fix_pr.number}")
    assert [(d["ref"], d["workflow_path"]) for d in world.state.dispatches] == [
        (branch, ".github/workflows/ci.yml")
    ]
    [comment] = world.proposal_comments()
    assert f"/pull/{fix_pr.number}" in comment.body
    passed(figures, "4-approve-writer")


@pytest.mark.e2e
def test_5_reader_approval_is_refused(world: World, act, figures: FigureBook) -> None:
    analyse_in_process(world)
    pulls_before = len(world.pulls())
    mark = world.fake.mark()

    result = act(world, "5-approve-reader", APPLY, "issue_comment", approval_event(world, READER))
    ran_ok(result, "apply")  # a refusal is not a failure: exit 0
    assert result.output("fix-branch") is None and result.output("fix-pr-url") is None

    [reply] = world.replies()
    assert reply.startswith(REPLY_MARKER) and "permission" in reply and READER in reply
    assert "confused" in [r.content for r in world.state.reactions.values()]
    nothing_pushed(world, mark)
    assert len(world.pulls()) == pulls_before
    passed(figures, "5-approve-reader")


@pytest.mark.e2e
def test_6_label_by_a_triage_user_is_refused(world: World, act, figures: FigureBook) -> None:
    analyse_in_process(world)
    mark = world.fake.mark()
    event = payloads.pull_request_labeled(
        world.state, world.repo, world.pr, "ci-healer:approve", sender=TRIAGER, api=world.fake.url
    )

    result = act(world, "6-label-triage", APPLY, "pull_request_target", event)
    ran_ok(result, "apply")
    assert result.output("fix-branch") is None

    nothing_pushed(world, mark)
    assert world.state.label_removals == [
        {"repo": world.repo, "number": world.pr, "label": "ci-healer:approve"}
    ]
    assert "ci-healer:approve" not in world.state.pull(world.repo, world.pr).labels
    passed(figures, "6-label-triage")


@pytest.mark.e2e
def test_7_approval_after_the_head_moved_is_stale(world: World, act, figures: FigureBook) -> None:
    analyse_in_process(world)
    new_head = world.state.commit_files(
        world.repo, HEAD_BRANCH, {"README.md": "# tidyconf\n\nMoved on.\n"}, message="Docs", author=WRITER
    )
    world.state.pull(world.repo, world.pr).pull.head_sha = new_head
    mark = world.fake.mark()

    result = act(world, "7-approve-stale", APPLY, "issue_comment", approval_event(world, MAINTAINER))
    ran_ok(result, "apply")
    assert result.output("fix-branch") is None

    [reply] = world.replies()
    assert "stale" in reply and "Re-run the analysis" in reply
    nothing_pushed(world, mark)
    passed(figures, "7-approve-stale")


@pytest.mark.e2e
def test_8_fix_branch_success_marks_the_comment_verified(world: World, act, figures: FigureBook) -> None:
    analyse_in_process(world)
    code, out = run_in_process(world, "issue_comment", approval_event(world, WRITER))
    assert code == 0, f"precondition: in-process approval failed:\n{out}"
    [fix_pr] = [p for p in world.pulls() if p.pull.head_ref.startswith("ai-fix/")]
    run = world.state.add_run(
        world.repo,
        head_branch=fix_pr.pull.head_ref,
        event="workflow_dispatch",
        conclusion="success",
        actor=BOT_LOGIN,
        jobs=[{"name": "test", "conclusion": "success", "log": "5 passed in 0.12s\n"}],
    )
    [comment] = world.proposal_comments()
    assert "fix verified" not in comment.body
    mark = world.fake.mark()

    result = act(
        world,
        "8-verify",
        ANALYZE,
        "workflow_run",
        payloads.workflow_run_completed(world.state, run.id, api=world.fake.url),
    )
    ran_ok(result, "analyze")

    [after] = world.proposal_comments()
    assert after.id == comment.id and "fix verified: CI passed" in after.body
    [check] = world.check_runs()
    assert "fix verified: CI passed" in check.output["summary"]
    assert world.proposal_comments(fix_pr.number) == []  # no new analysis on the fix PR
    assert not [h for h in world.writes_since(mark) if h.method == "POST" and h.path.endswith("/comments")]
    passed(figures, "8-verify")


def dashboard_issues(world: World) -> list[Any]:
    """Every issue (not PR) of the repository that carries the dashboard marker."""
    return [
        i
        for i in world.state.issues.values()
        if i.repo == world.repo and not i.pull and DASHBOARD_MARKER in i.body
    ]


@pytest.mark.e2e
def test_dashboard_created_then_edited_in_place(world: World, act, figures: FigureBook) -> None:
    result = act(world, "dashboard-1-created", DASHBOARD, "workflow_run", failure_event(world))
    context = ran_ok(result, "analyze")
    first_id = result.output("proposal-id", STEP) or ""
    assert PROPOSAL_ID.match(first_id), context
    [issue] = dashboard_issues(world)
    assert issue.user == BOT_LOGIN and issue.title == DASHBOARD_TITLE and issue.state == "open"
    assert issue.body.startswith(DASHBOARD_MARKER + "\n")
    assert f"`/approve-fix {first_id}` on [#{world.pr}]" in issue.body, issue.body[:3000]
    assert "```mermaid\nxychart-beta\n" in issue.body
    writes = [(h.method, h.path) for h in world.writes_since(0)]
    assert writes.count(("POST", f"/repos/{world.repo}/issues")) == 1, writes
    assert "::warning" not in result.log_text(), context

    # a second failure of the pull request (a new run of CI on the same head)
    run = world.state.add_run(
        world.repo,
        head_branch=HEAD_BRANCH,
        workflow=world.state.workflows[world.workflow_id],
        pull_requests=[world.pr],
        actor=WRITER,
        jobs=[
            {"name": "test", "conclusion": "failure", "log": world.job_log, "steps": job_steps(world.job_log)}
        ],
    )
    mark = world.fake.mark()
    event = payloads.workflow_run_completed(world.state, run.id, api=world.fake.url)
    result = act(world, "dashboard-2-edited", DASHBOARD, "workflow_run", event)
    context = ran_ok(result, "analyze")
    second_id = result.output("proposal-id", STEP) or ""
    assert second_id != first_id and second_id.startswith(f"{run.id}-"), context
    [again] = dashboard_issues(world)
    assert again.number == issue.number and again.state == "open"
    assert f"`/approve-fix {second_id}` on [#{world.pr}]" in again.body
    assert first_id not in again.body  # the first proposal was replaced on the same commit
    writes = [(h.method, h.path) for h in world.writes_since(mark)]
    assert ("PATCH", f"/repos/{world.repo}/issues/{issue.number}") in writes, writes
    assert ("POST", f"/repos/{world.repo}/issues") not in writes, writes
    assert world.state.issue_edits and {e["fields"] == ["body"] for e in world.state.issue_edits} == {True}
    passed(figures, "dashboard-1-created")
    passed(figures, "dashboard-2-edited")


@pytest.mark.e2e
@pytest.mark.lint_world
def test_9_auto_apply_opens_a_fix_pr_for_a_low_risk_lint_fix(world: World, act, figures: FigureBook) -> None:
    result = act(world, "9-auto-apply-lint", ANALYZE_AUTO_APPLY, "workflow_run", failure_event(world))
    context = ran_ok(result, "analyze")
    assert result.output("category", STEP) == "lint" and result.output("risk", STEP) == "low", context
    proposal_id = result.output("proposal-id", STEP) or ""
    branch = f"ai-fix/{world.run_id}-{proposal_id.split('-', 1)[1]}"
    assert result.output("fix-branch", STEP) == branch, context

    # a NEW ai-fix/ ref on a commit whose only parent is the head SHA, deleting the unused import
    [write] = world.fix_ref_writes()
    assert write["action"] == "create" and write["ref"] == f"refs/heads/{branch}" and write["force"] is False
    git = world.state.git
    commit = git.commit(write["sha"])
    assert list(commit.parents) == [world.head_sha]
    loader = "src/tidyconf/loader.py"
    fixed = git.blob(git.lookup(commit.tree, loader).sha).decode()
    original = git.blob(git.lookup(git.commit(world.head_sha).tree, loader).sha).decode()
    changes = [line for line in difflib.ndiff(original.splitlines(), fixed.splitlines()) if line[:1] in "+-"]
    assert changes == ["- import os"], changes
    # the failing branch is untouched; the fix PR targets it, opened by the bot, not merged
    assert world.state.pull(world.repo, world.pr).pull.head_sha == world.head_sha
    [fix_pr] = [p for p in world.pulls() if p.pull.head_ref == branch]
    assert fix_pr.pull.base_ref == HEAD_BRANCH and fix_pr.user == BOT_LOGIN and not fix_pr.pull.merged
    assert "auto-applied" in fix_pr.body and fix_pr.state == "open"
    assert [d["ref"] for d in world.state.dispatches] == [branch]
    # the comment says it was auto-applied and why each gate passed
    [comment] = world.proposal_comments()
    assert "Auto-applied" in comment.body and f"/pull/{fix_pr.number}" in comment.body
    gates = [line for line in comment.body.splitlines() if line.startswith(("- ✅", "- ❌"))]
    assert len(gates) == 8 and all(g.startswith("- ✅") for g in gates), gates
    assert world.replies() == []
    passed(figures, "9-auto-apply-lint")


@pytest.mark.e2e
def test_10_auto_apply_refuses_a_medium_risk_manifest_change(world: World, act, figures: FigureBook) -> None:
    result = act(world, "10-auto-apply-medium", ANALYZE_AUTO_APPLY, "workflow_run", failure_event(world))
    context = ran_ok(result, "analyze")
    assert result.output("risk", STEP) == "medium", context  # requirements.txt changes
    assert result.output("fix-branch") is None and result.output("fix-pr-url") is None
    nothing_pushed(world, 0)
    [comment] = world.proposal_comments()
    meta = read_metadata(comment.body)
    assert meta is not None and meta.status == "proposed" and meta.patch_shown  # still approvable
    assert "Not auto-applied" in comment.body and "- ❌ risk: risk is medium" in comment.body
    assert [line for line in comment.body.splitlines() if line.startswith("- ❌")] == [
        "- ❌ risk: risk is medium"
    ]
    writes = [(h.method, h.path) for h in world.writes_since(0)]
    assert writes == [
        ("POST", f"/repos/{world.repo}/check-runs"),
        ("POST", f"/repos/{world.repo}/issues/{world.pr}/comments"),
    ]
    passed(figures, "10-auto-apply-medium")
