"""``ci-healer report``: the figures of a sequence of proposals played through the real flows
against the fake GitHub API, checked against that sequence in all three formats."""

from __future__ import annotations

import csv
import io
import json
import statistics
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from ci_healer import cli
from ci_healer.ledger import LedgerReader, ProposalRecord, clear_cache
from ci_healer.render import COMMENT_MARKER, read_diff
from ci_healer.report import build_report, parse_since, progress_bar, render_csv, render_json, render_markdown
from ci_healer.tokens import estimate_tokens
from tests.fakegithub.fixtures import serving_standard
from tests.integration.conftest import TOKEN, Harness
from tests.test_ledger import Story, play

SINCE = datetime(2025, 1, 1, tzinfo=UTC)
UNTIL = datetime(2025, 2, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def played(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Story]:
    """The sequence, played once for the module through the real flows: the tests here only read
    it back (the ledger's and the report's GET requests), so they share one fake."""
    with serving_standard() as (fake, world):
        world.state.issues[(world.repo, world.pr)].labels = []  # see tests/test_ledger.py
        clear_cache()
        yield play(Harness(fake, world, tmp_path_factory.mktemp("report")))


@pytest.fixture
def story(played: Story) -> Iterator[Story]:
    """:func:`played`, with the ledger's per-process cache empty before and after each test."""
    clear_cache()
    yield played
    clear_cache()


def expected(story: Story) -> dict:
    """The figures, from the sequence :func:`tests.test_ledger.play` ran and the fake's own
    timestamps (failed run completed → origin comment edited by the green verification)."""
    h = story.harness
    state = h.world.state
    waits = []
    for name in ("green-merged", "green-closed"):
        pr = story.prs[name]
        [comment] = [
            c
            for c in state.comments.values()
            if c.issue_number == pr
            and c.user == "github-actions[bot]"
            and c.body.startswith("<!-- ci-healer:comment -->")
        ]
        [run] = [r for r in state.runs.values() if pr in (r.pull_requests or [])]
        # the fake dates a run 5 s before its first job started (tests/fakegithub/views.py)
        run_completed = min(j.started for j in state.jobs.values() if j.run_id == run.id) - 5
        waits.append(comment.updated - run_completed)
    return {
        "proposals": 5,
        "approvable": 5,
        "approved": 3,
        "rejected": 1,
        "superseded": 0,
        "approval_rate": 3 / 5,
        "applied": 3,
        "verified_green": 2,
        "verified_red": 1,
        "green_rate": 2 / 3,
        "merged": 1,
        "merge_rate": 1 / 3,
        "median_seconds_to_green": float(statistics.median(waits)),
    }


def expected_tokens(story: Story) -> tuple[int, int]:
    """The estimated tokens the analyze flow records for the five proposals (the backends report
    no usage): prompt = the failure blocks each request sent to the backend, completion = the
    proposal's root cause and edits plus the diff shown in each comment."""
    h = story.harness
    assert len(h.backend.requests) == 5
    prompt = sum(estimate_tokens(b.text) for req in h.backend.requests for b in req.blocks)
    fix = h.backend.proposal
    edits = "".join(e.original + e.replacement for e in fix.files_to_modify)
    completion = 0
    for pr in story.prs.values():
        [body] = [
            c.body
            for c in h.world.state.comments.values()
            if c.issue_number == pr and c.body.startswith(COMMENT_MARKER)
        ]
        completion += estimate_tokens(fix.root_cause + edits + (read_diff(body) or ""))
    return prompt, completion


def test_every_figure_matches_the_sequence(story: Story) -> None:
    records = LedgerReader(story.harness.client()).records()
    report = build_report(records, repository=story.harness.world.repo, since=SINCE, until=UNTIL)
    want = expected(story)
    got = report.model_dump(include=set(want))
    assert got == pytest.approx(want)
    assert want["median_seconds_to_green"] > 0
    [tokens] = report.tokens
    want_tokens = expected_tokens(story)
    assert (tokens.backend, tokens.proposals, tokens.without_usage, tokens.estimated) == ("fixed", 5, 0, True)
    assert (tokens.prompt_tokens, tokens.completion_tokens) == want_tokens
    # a period that ends before the first proposal holds none
    empty = build_report(
        records, repository="o/r", since=SINCE, until=datetime(2025, 1, 1, 10, 1, tzinfo=UTC)
    )
    assert empty.proposals == 0 and empty.approval_rate is None and empty.median_seconds_to_green is None


@pytest.mark.parametrize("fmt", ["markdown", "json", "csv"])
def test_cli_report_in_each_format(story: Story, fmt: str, monkeypatch, capsys) -> None:
    h = story.harness
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    monkeypatch.setenv("GITHUB_API_URL", h.fake.url)
    code = cli.main(["report", "--repo", h.world.repo, "--since", "2025-01-01", "--format", fmt])
    out, err = capsys.readouterr()
    assert code == cli.EXIT_OK, err
    assert err == ""  # stderr is not a terminal here: no progress bar
    want = expected(story)
    if fmt == "json":
        data = json.loads(out)
        assert {k: data[k] for k in want} == pytest.approx(want)
        prompt, completion = expected_tokens(story)
        assert data["tokens"] == [
            {
                "backend": "fixed",
                "proposals": 5,
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "estimated": True,
                "without_usage": 0,
            }
        ]
    elif fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(out)))
        figures = {r["figure"]: r["value"] for r in rows if r["backend"] == ""}
        assert {k: float(figures[k]) for k in want} == pytest.approx(want)
        prompt, completion = expected_tokens(story)
        assert {(r["figure"], r["value"]) for r in rows if r["backend"] == "fixed"} == {
            ("backend_proposals", "5"),
            ("prompt_tokens", str(prompt)),
            ("completion_tokens", str(completion)),
            ("tokens_estimated", "true"),
            ("without_usage", "0"),
        }
    else:
        minutes = round(want["median_seconds_to_green"]) // 60
        prompt, completion = expected_tokens(story)
        for line in (
            "| proposals | 5 |",
            "| approved | 3 |",
            "| rejected | 1 |",
            "| approval rate | 60 % |",
            "| applied (fix PRs) | 3 |",
            "| applied fixes that turned CI green | 2 (67 %) |",
            "| applied fixes that stayed red | 1 |",
            "| merged fix PRs | 1 (33 %) |",
            f"| median time from failure to green | {minutes} min |",
            f"| `fixed` | 5 | {prompt} (estimated) | {completion} (estimated) | 0 |",
        ):
            assert line in out, line


def record(
    pid: str, backend: str, prompt: int | None, completion: int | None, estimated: bool = False
) -> ProposalRecord:
    return ProposalRecord(
        proposal_id=pid,
        backend=backend,
        prompt_tokens=prompt,
        completion_tokens=completion,
        tokens_estimated=estimated,
        proposed_at=datetime(2025, 1, 5, tzinfo=UTC),
    )


def test_tokens_are_summed_per_backend_and_estimates_flagged() -> None:
    records = [
        record("1", "openai", 1000, 200),
        record("2", "openai", 500, 100, estimated=True),
        record("3", "bedrock", 700, 50),
        record("4", "bedrock", None, None),
    ]
    report = build_report(records, repository="o/r", since=SINCE, until=UNTIL)
    got = {
        t.backend: (t.proposals, t.prompt_tokens, t.completion_tokens, t.estimated, t.without_usage)
        for t in report.tokens
    }
    assert got == {"openai": (2, 1500, 300, True, 0), "bedrock": (2, 700, 50, False, 1)}
    assert "| `openai` | 2 | 1500 (estimated) | 300 (estimated) | 0 |" in render_markdown(report)
    assert "tokens_estimated,openai,true" in render_csv(report)
    assert json.loads(render_json(report))["tokens"][0]["backend"] == "bedrock"


def test_since_shapes() -> None:
    now = datetime(2025, 3, 1, tzinfo=UTC)
    assert parse_since("30d", now) == datetime(2025, 1, 30, tzinfo=UTC)
    assert parse_since("2w", now) == datetime(2025, 2, 15, tzinfo=UTC)
    assert parse_since("2025-01-31", now) == datetime(2025, 1, 31, tzinfo=UTC)
    with pytest.raises(ValueError, match="30d"):
        parse_since("last month", now)


def test_cli_refuses_a_bad_since_and_a_missing_token(monkeypatch, capsys) -> None:
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    monkeypatch.delenv("GH_TOKEN", raising=False)
    assert cli.main(["report", "--repo", "o/r", "--since", "soon"]) == cli.EXIT_USAGE
    assert "--since must look like" in capsys.readouterr().err
    assert cli.main(["report", "--repo", "o/r"]) == cli.EXIT_USAGE
    assert "GITHUB_TOKEN" in capsys.readouterr().err


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_only_on_a_terminal() -> None:
    plain = io.StringIO()
    update, close = progress_bar(plain)
    update(1, 2)
    close()
    assert plain.getvalue() == ""
    pytest.importorskip("rich")
    tty = Terminal()
    update, close = progress_bar(tty)
    update(1, 2)
    update(2, 2)
    close()
    assert "reading pull requests" in tty.getvalue()
