"""Single REST faults that used to lose work or duplicate it (SECURITY.md item 21), and bodies over
GitHub's size limit on every write."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ci_healer.github_api import GitHubClient, make_github
from ci_healer.render import GITHUB_BODY_LIMIT, body_size
from tests.fakegithub import FakeGitHub
from tests.fakegithub.fixtures import require_spec
from tests.fakegithub.scenario import standard
from tests.faults.matrix import record
from tests.faults.rest_support import fix_pulls, no_sleep, prepare_analyze, prepare_apply, proposal_comments
from tests.integration.conftest import TOKEN


@pytest.fixture
def started():
    fakes: list[FakeGitHub] = []
    yield fakes
    for fake in fakes:
        fake.stop()
        assert not fake.violations, fake.violation_report()


def test_blob_read_failure_during_analysis_still_posts_the_analysis(
    started, tmp_path: Path, monkeypatch
) -> None:
    """A 5xx on ``git/blobs`` used to escape as "internal error" and discard the whole analysis."""
    no_sleep(monkeypatch)
    h, payload = prepare_analyze().start(tmp_path)
    started.append(h.fake)
    h.fake.fail(500, "Server Error", operation_id="git/get-blob")
    out = h.run("workflow_run", payload)
    assert out.code == 0, out.stdout + out.summary
    assert "internal error" not in out.stdout + out.summary
    [comment] = proposal_comments(h.world.state)
    assert "ci-healer" in comment.body
    warnings = [ln for ln in out.stdout.splitlines() if ln.startswith("::warning")]
    assert any("could not be read" in w and "500" in w for w in warnings), out.stdout


@pytest.mark.parametrize(
    ("flow", "operation_id"),
    [
        ("analyze", "checks/create"),
        ("analyze", "issues/create-comment"),
        ("apply", "git/create-ref"),
        ("apply", "pulls/create"),
    ],
)
def test_created_then_502_leaves_one_object_and_no_second_post(
    started, tmp_path: Path, monkeypatch, flow: str, operation_id: str
) -> None:
    """GitHub created the object, the proxy answered 502: the POST is not re-sent blindly; the
    object is looked up and the run finishes with exactly one of it."""
    no_sleep(monkeypatch)
    prep = prepare_analyze() if flow == "analyze" else prepare_apply(tmp_path)
    h, payload = prep.start(tmp_path)
    started.append(h.fake)
    h.fake.fail(502, "Bad Gateway", operation_id=operation_id, times=1, after=True)
    out = h.run(prep.event_name, payload)
    assert out.code == 0, out.stdout + out.summary
    state, repo = h.world.state, h.world.repo
    posts = h.fake.calls("POST", operation_id)
    assert len(posts) == 1, [p.path for p in posts]
    counts = {
        "checks/create": len(state.check_runs),
        "issues/create-comment": len(proposal_comments(state)),
        "git/create-ref": len([r for r in state.ref_writes if r["ref"].startswith("refs/heads/ai-fix/")]),
        "pulls/create": len(fix_pulls(state, repo)),
    }
    assert counts[operation_id] == 1, counts
    # the run went on to the end
    assert len(proposal_comments(state)) == 1 and len(state.check_runs) == 1
    if flow == "apply":
        assert len(fix_pulls(state, repo)) == 1 and len(state.dispatches) == 1


# ------------------------------------------------------------------------------------ body sizes


def _client(fake: FakeGitHub, repo: str) -> GitHubClient:
    gh = make_github(token=TOKEN, api_url=fake.url, retries=1, backoff=0.01, seconds_between_writes=None)
    return GitHubClient(gh, repo)


def _huge() -> str:
    block = "\n".join(f"E   line {i}: " + "x" * 60 for i in range(2_000))
    return f"## ci-healer\n\nSome prose.\n\n```text\n{block}\n```\n\nClosing prose.\n"


WRITES = [
    "create_comment",
    "update_comment",
    "create_pull",
    "create_check_run",
    "update_check_summary",
    "create_review",
]


@pytest.mark.parametrize("write", WRITES)
def test_every_write_fits_a_body_over_65535_characters_and_says_so(started, write: str) -> None:
    world = standard()
    fake = FakeGitHub(world.state, spec=require_spec()).start()
    started.append(fake)
    gh = _client(fake, world.repo)
    s = world.state
    body = _huge()
    assert len(body) > 100_000
    if write == "create_comment":
        stored = s.comments[gh.create_comment(world.pr, body).id].body
    elif write == "update_comment":
        c = s.add_comment(world.repo, world.pr, body="x", user="github-actions[bot]")
        gh.update_comment(c.id, body)
        stored = s.comments[c.id].body
    elif write == "create_pull":
        s.commit_files(world.repo, "ai-fix/1-abcdef12", {"x.txt": "x\n"}, create=True)
        pr = gh.create_pull(title="t", body=body, head="ai-fix/1-abcdef12", base="main")
        stored = s.issues[(world.repo, pr.number)].body
    elif write == "create_check_run":
        cr = gh.upsert_check_run(head_sha=world.head_sha, title="t", summary=body, text=body, annotations=[])
        stored = s.check_runs[cr.id].output["summary"]
        assert body_size(s.check_runs[cr.id].output["text"]) <= GITHUB_BODY_LIMIT
    elif write == "update_check_summary":
        cr = gh.upsert_check_run(head_sha=world.head_sha, title="t", summary="s", text="t", annotations=[])
        gh.update_check_summary(cr.id, title="t", summary=body, text=body)
        stored = s.check_runs[cr.id].output["summary"]
    else:
        gh.create_review(world.fork_pr, commit_sha=world.fork_head_sha, body=body, comments=[])
        [review] = s.reviews.values()
        stored = review.body
    assert body_size(stored) <= GITHUB_BODY_LIMIT
    # honest: the cut says what was left out ("… N lines omitted …" inside the failure block, or
    # "abbreviated to fit GitHub's size limit" after dropped prose)
    assert re.search(r"… \d+ lines omitted …|abbreviated to fit GitHub's size limit", stored), stored[-300:]
    assert stored.startswith("## ci-healer\n\nSome prose.") and stored.count("```") % 2 == 0
    record(
        "rest",
        f"body of {len(body)} characters × {write}",
        f"stored {len(stored)} characters, the cut is marked",
    )


def test_fit_body_keeps_a_body_under_the_limit_unchanged() -> None:
    from ci_healer.github_api import fit_body

    body = "short body\n"
    assert fit_body(body) == body


# ------------------------------------------------------------------------------------ the retry policy


@pytest.mark.parametrize(
    ("method", "status", "retry_after", "retried"),
    [
        ("GET", 502, False, True),
        ("PATCH", 502, False, True),
        ("POST", 500, False, False),
        ("POST", 502, False, False),
        ("POST", 503, True, False),
        ("POST", 403, True, True),  # secondary rate limit: GitHub did not carry the request out
        ("POST", 429, True, True),
        ("POST", 422, False, False),
    ],
)
def test_write_safe_retry_never_resends_a_post_after_a_5xx(
    method: str, status: int, retry_after: bool, retried: bool
) -> None:
    from ci_healer.github_api import WriteSafeRetry

    retry = WriteSafeRetry(total=3, backoff_factor=0)
    assert retry.is_retry(method, status, retry_after) is retried


def test_write_safe_retry_raises_a_lost_answer_to_a_post_instead_of_resending() -> None:
    from urllib3.exceptions import ReadTimeoutError

    from ci_healer.github_api import WriteSafeRetry

    retry = WriteSafeRetry(total=3, backoff_factor=0)
    lost = ReadTimeoutError(None, "/repos/o/r/issues/1/comments", "read timed out")
    with pytest.raises(ReadTimeoutError):
        retry.increment(method="POST", url="/repos/o/r/issues/1/comments", error=lost)
    assert retry.increment(method="GET", url="/repos/o/r", error=lost).total == 2
