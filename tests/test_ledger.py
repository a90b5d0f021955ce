"""The outcome ledger: the ``ledger`` object extends the hidden metadata without breaking it, and
the reader rebuilds every proposal's lifecycle from what the real flows wrote to the fake GitHub
API (proposed, approved, rejected, applied, verified green / red, merged)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ci_healer.flow import FixMetadata, embed_fix_metadata, read_fix_metadata
from ci_healer.ledger import (
    LedgerFields,
    LedgerReader,
    clear_cache,
    embed_ledger,
    fields_from_body,
    read_ledger,
)
from ci_healer.render import ProposalMetadata, embed_metadata, read_metadata
from tests.fakegithub import payloads
from tests.fakegithub.fixtures import standard_fake  # noqa: F401
from tests.fakegithub.scenario import CALC, PYTEST_LOG
from tests.integration.conftest import Harness, analyze, approve

SHA = "a" * 40
DIGEST = "b" * 64


def proposal_body(**meta) -> str:
    values = {
        "proposal_id": "77-abc",
        "head_sha": SHA,
        "digest": DIGEST,
        "run_id": 77,
        "status": "proposed",
        "patch_shown": True,
    }
    values.update(meta)
    return embed_metadata(ProposalMetadata(**values)) + "## body\n\n| 🟢 **low** | test | 0.9 | `rules` |\n"


# ---------------------------------------------------------------------------- the format


def test_old_bodies_without_ledger_fields_still_parse() -> None:
    body = proposal_body()
    assert read_ledger(body) is None
    assert read_metadata(body).proposal_id == "77-abc"
    fix = embed_fix_metadata(FixMetadata(proposal_id="77-abc", base_sha=SHA, digest=DIGEST)) + "text\n"
    assert read_ledger(fix) is None and read_fix_metadata(fix).proposal_id == "77-abc"


def test_ledger_fields_round_trip_and_existing_readers_keep_working() -> None:
    at = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    fields = LedgerFields(
        category="test",
        risk="low",
        backend="openai",
        model="gpt-4o-mini",
        prompt_tokens=1200,
        completion_tokens=300,
        analysis_seconds=4.5,
        proposed_at=at,
    )
    body = embed_ledger(proposal_body(), fields)
    assert read_ledger(body) == fields
    meta = read_metadata(body)
    assert meta is not None and meta.digest == DIGEST and meta.patch_shown
    assert body.split("\n", 2)[2] == proposal_body().split("\n", 2)[2]  # the rest is untouched
    # a later write adds to the object and keeps what was there
    later = embed_ledger(body, LedgerFields(approver="maintainer-mia", approved_at=at))
    got = read_ledger(later)
    assert got.approver == "maintainer-mia" and got.prompt_tokens == 1200 and got.model == "gpt-4o-mini"
    fix = embed_ledger(
        embed_fix_metadata(FixMetadata(proposal_id="77-abc", base_sha=SHA, digest=DIGEST)), fields
    )
    assert read_fix_metadata(fix).digest == DIGEST and read_ledger(fix).backend == "openai"


def test_ledger_json_cannot_close_the_html_comment() -> None:
    body = embed_ledger(proposal_body(), LedgerFields(model="x --> <script>&"))
    line = body.split("\n")[1]
    assert line.count("-->") == 1 and line.endswith(" -->") and "<script>" not in line
    assert read_ledger(body).model == "x --> <script>&"


def test_body_without_metadata_is_refused_and_an_invalid_ledger_is_ignored() -> None:
    with pytest.raises(ValueError):
        embed_ledger("just text\n", LedgerFields(risk="low"))
    forged = proposal_body().replace('"head_sha"', '"ledger":{"risk":"extreme"},"head_sha"', 1)
    assert read_metadata(forged) is not None and read_ledger(forged) is None


def test_fields_from_a_rendered_body_without_ledger() -> None:
    at = datetime(2025, 1, 1, tzinfo=UTC)
    body = proposal_body().replace(
        "## body",
        "<!-- ci-healer:status -->\n🚫 Rejected by `lead-lou`; no.\n<!-- ci-healer:status-end -->\n\n## body",
    )
    got = fields_from_body(body, at)
    assert (got.risk, got.category, got.backend, got.rejected_at) == ("low", "test", "rules", at)


# ---------------------------------------------------------------------------- the real flows


@dataclass
class Story:
    """What the test did, to check the ledger against."""

    harness: Harness
    prs: dict[str, int] = field(default_factory=dict)
    fix_prs: dict[str, int] = field(default_factory=dict)


def failing_pr(h: Harness, name: str) -> tuple[int, int]:
    """A new PR on branch ``name`` with the rounding regression and its failed CI run."""
    w = h.world
    w.state.commit_files(
        w.repo,
        name,
        {"src/hello/calc.py": CALC.replace("amount * 100 + 0.5", "amount * 100")},
        message=f"Regress rounding ({name})",
        author="dev-wes",
        create=True,
    )
    pr = w.state.add_pull(w.repo, head_branch=name, title=name, user="dev-wes")
    run = w.state.add_run(
        w.repo,
        head_branch=name,
        workflow=w.state.workflows[w.workflow_id],
        pull_requests=[pr.number],
        actor="dev-wes",
        jobs=[{"name": "test", "conclusion": "failure", "log": PYTEST_LOG}],
    )
    return pr.number, run.id


def fix_pr_of(h: Harness, origin: int):
    return next(
        i
        for i in h.world.state.issues.values()
        if i.pull and i.pull.head_ref.startswith("ai-fix/") and read_fix_metadata(i.body).origin_pr == origin
    )


def verify(h: Harness, fix_issue, conclusion: str) -> None:
    w = h.world
    jobs = [
        {"name": "test", "conclusion": conclusion, "log": PYTEST_LOG if conclusion == "failure" else "ok\n"}
    ]
    run = w.state.add_run(
        w.repo,
        head_branch=fix_issue.pull.head_ref,
        event="workflow_dispatch",
        conclusion=conclusion,
        jobs=jobs,
    )
    out = h.run("workflow_run", payloads.workflow_run_completed(w.state, run.id, api=h.fake.url))
    assert out.code == 0, out.stdout + out.summary


def play(h: Harness) -> Story:
    """Five proposals: merged after green, red, rejected, closed unmerged after green, waiting."""
    h.inputs["max-attempts"] = "1"  # a red fix is not re-analysed (keeps one proposal per PR)
    story = Story(h)
    for name in ("green-merged", "red", "rejected", "green-closed", "waiting"):
        number, run_id = failing_pr(h, f"b-{name}")
        analyze(h, run_id)
        story.prs[name] = number
    for name, user in (("green-merged", "dev-wes"), ("red", "maintainer-mia"), ("green-closed", "lead-lou")):
        out = approve(h, user=user, pr=story.prs[name])
        assert out.code == 0, out.stdout + out.summary
        story.fix_prs[name] = fix_pr_of(h, story.prs[name]).number
    out = approve(h, user="lead-lou", body="/reject-fix", pr=story.prs["rejected"])
    assert out.code == 0, out.stdout + out.summary
    state = h.world.state
    for name, conclusion in (("green-merged", "success"), ("red", "failure"), ("green-closed", "success")):
        verify(h, state.issues[(h.world.repo, story.fix_prs[name])], conclusion)
    merged = state.issues[(h.world.repo, story.fix_prs["green-merged"])]
    merged.state, merged.pull.merged = "closed", True
    state.issues[(h.world.repo, story.fix_prs["green-closed"])].state = "closed"
    return story


@pytest.fixture
def story(standard_fake, tmp_path: Path) -> Story:  # noqa: F811
    fake, world = standard_fake
    # the fake's label view has a null description, which the list-pulls response schema refuses
    world.state.issues[(world.repo, world.pr)].labels = []
    clear_cache()
    yield play(Harness(fake, world, tmp_path))
    clear_cache()


def test_reader_rebuilds_each_lifecycle_from_the_real_flows(story: Story) -> None:
    h = story.harness
    records = {r.pr_number: r for r in LedgerReader(h.client()).records()}
    got = {name: records[n] for name, n in story.prs.items()}
    assert {n: r.outcome for n, r in got.items()} == {
        "green-merged": "merged",
        "red": "verified_red",
        "rejected": "rejected",
        "green-closed": "closed_unmerged",
        "waiting": "proposed",
    }
    assert {n: r.fix_pr_number for n, r in got.items()} == {
        "green-merged": story.fix_prs["green-merged"],
        "red": story.fix_prs["red"],
        "rejected": None,
        "green-closed": story.fix_prs["green-closed"],
        "waiting": None,
    }
    assert got["green-merged"].approver == "dev-wes" and got["red"].approver == "maintainer-mia"
    assert got["green-merged"].verified_at is not None and got["red"].verified_at is None
    assert got["red"].verify_failed_at is not None and got["rejected"].rejected_at is not None
    for rec in got.values():
        assert rec.risk in ("low", "medium", "high") and rec.category and rec.backend
        # written by the analyze flow into the metadata (a rejection keeps them)
        assert rec.analysis_seconds is not None and rec.tokens_estimated and rec.prompt_tokens > 0
        assert rec.run_id and len(rec.head_sha) == 40 and rec.proposed_at is not None
    for name in ("green-merged", "green-closed"):
        rec = got[name]
        assert rec.failure_at <= rec.proposed_at <= rec.applied_at <= rec.verified_at


def test_reader_is_bounded_and_cached(story: Story) -> None:
    h = story.harness
    few = LedgerReader(h.client(), max_pulls=2, max_failed_runs=0).records()
    # the two newest PRs are the two newest fix PRs: only their proposals are known
    assert {r.fix_pr_number for r in few} == {story.fix_prs["red"], story.fix_prs["green-closed"]}
    # the newest failed runs add the proposals in the check runs on their head commits
    more = LedgerReader(h.client(), max_pulls=2, max_failed_runs=2).records()
    assert {r.pr_number for r in more} - {r.pr_number for r in few} == {story.prs["waiting"]}
    reader = LedgerReader(h.client())
    first = reader.records()
    h.world.state.issues[(h.world.repo, story.fix_prs["red"])].state = "closed"
    assert reader.records() == first  # served from the per-process cache
    clear_cache()
    red = next(r for r in reader.records() if r.fix_pr_number == story.fix_prs["red"])
    assert red.outcome == "closed_unmerged"


@pytest.mark.parametrize(("scenario", "estimated"), [("valid", False), ("no-usage", True)])
def test_the_ledger_records_the_reported_usage_and_estimates_only_without_it(
    example_repo, scenario: str, estimated: bool
) -> None:
    """An analysis through a Chat Completions server records ``usage.prompt_tokens`` /
    ``completion_tokens`` of the response; a response without usage gets the flagged estimate."""
    from ci_healer.backends.openai_backend import OpenAIBackend
    from ci_healer.engine import analyze as run_analysis
    from ci_healer.ledger import analysis_fields
    from tests import llm_server

    log = Path(__file__).resolve().parents[1] / "examples" / "missing-dependency" / "job.log"
    with llm_server.serve() as url:
        backend = OpenAIBackend(model=scenario, base_url=url, sleep=lambda s: None)
        analysis = run_analysis(log, repo=example_repo, backend=backend)
    fields = analysis_fields(analysis, model=scenario, seconds=1.0)
    assert analysis.usage is not None and analysis.usage.requests >= 1
    assert fields.tokens_estimated is estimated
    if not estimated:
        requests = analysis.usage.requests
        assert (fields.prompt_tokens, fields.completion_tokens) == (900 * requests, 80 * requests)
    else:
        assert fields.prompt_tokens == analysis.tokens
