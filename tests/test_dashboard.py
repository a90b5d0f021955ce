"""The dashboard body and the update's error handling, offline (the flows against the fake GitHub
API are in tests/integration/test_dashboard.py)."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from ci_healer import dashboard
from ci_healer.dashboard import RunLabel, render_dashboard, update_dashboard, weekly_counts
from ci_healer.github_api import GitHubError
from ci_healer.ledger import ProposalRecord
from ci_healer.report import build_report, render_markdown
from ci_healer.workflow_commands import Runner

NOW = datetime(2025, 3, 12, 15, 0, tzinfo=UTC)  # a Wednesday
SECRET = "sk-unit-test-secret-0123456789abcdef"


def rec(pid: str, **values) -> ProposalRecord:
    values.setdefault("proposed_at", NOW - timedelta(hours=1))
    values.setdefault("risk", "low")
    values.setdefault("category", "test")
    values.setdefault("backend", "rules")
    return ProposalRecord(proposal_id=pid, **values)


def rows(body: str, heading: str) -> list[list[str]]:
    start = body.index(f"## {heading}")
    end = body.find("\n## ", start + 1)
    block = body[start:end].split("\n\n")
    lines = next(b for b in block if b.startswith("|")).splitlines()[2:]
    return [[c.strip() for c in re.split(r"(?<!\\)\|", ln)[1:-1]] for ln in lines]


def test_cells_are_escaped_redacted_and_cannot_split_a_row() -> None:
    """SECURITY.md items 3 and 4: untrusted names and root causes are inert in the table."""
    hostile = rec(
        "9-abc",
        run_id=9,
        pr_number=4,
        category="lint|<b>x</b>",
        root_cause=f"@octo-org/team uses {SECRET} in <img src=x> | [a](https://evil.example)",
    )
    body = render_dashboard(
        [hostile],
        repository="o/r",
        now=NOW,
        runs=lambda run_id: RunLabel(workflow="CI | <script>@all", branch="feat|@x`y"),
        secrets=[SECRET],
    )
    [row] = rows(body, "Open proposals")
    assert len(row) == 7  # no value split the row
    assert row[1] == "lint\\|&lt;b&gt;x&lt;/b&gt;"
    assert (
        "<script>" not in body and "&lt;script&gt;" in row[2] and "@all" not in re.sub(r"`[^`]*`", "", row[2])
    )
    assert row[3].startswith("``") and "\\|" in row[3]
    assert SECRET not in body and "<img" not in body and "](https://evil" not in body
    [cause] = [ln for ln in body.splitlines() if ln.startswith("- run ")]
    assert "@" not in re.sub(r"`[^`]*`", "", cause)


def test_the_figures_are_the_reports_own() -> None:
    """The dashboard shows build_report's figures through the report's own template part."""
    records = [
        rec("1-a", fix_pr_number=7, verified_at=NOW, failure_at=NOW - timedelta(minutes=30)),
        rec("2-b", rejected_at=NOW),
        rec("3-c", proposed_at=NOW - timedelta(days=40)),  # outside the 30 days
    ]
    body = render_dashboard(records, repository="o/r", now=NOW)
    report = build_report(records, repository="o/r", since=NOW - timedelta(days=30), until=NOW)
    figures = render_markdown(report).split("UTC).\n\n", 1)[1]
    assert figures.strip() in body
    assert report.proposals == 2 and "| approval rate | 50 % |" in body


def test_weekly_counts_bin_by_iso_week() -> None:
    monday = datetime(2025, 3, 10, tzinfo=UTC)
    records = [
        rec("a", proposed_at=monday),  # first second of the current week
        rec("b", proposed_at=monday - timedelta(seconds=1), merged_at=monday + timedelta(days=1)),
        rec("c", proposed_at=monday - timedelta(weeks=7)),  # the oldest week charted
        rec("d", proposed_at=monday - timedelta(weeks=8)),  # before the chart
    ]
    weeks = weekly_counts(records, now=NOW)
    assert [w[0] for w in weeks][-1] == monday and len(weeks) == dashboard.CHART_WEEKS
    assert [p for _, p, _ in weeks] == [1, 0, 0, 0, 0, 0, 1, 1]
    assert [m for _, _, m in weeks] == [0, 0, 0, 0, 0, 0, 0, 1]
    chart = dashboard.mermaid_chart(weeks)
    assert chart.startswith("xychart-beta\n") and "bar [1, 0, 0, 0, 0, 0, 1, 1]" in chart


def test_outcomes_are_newest_first_and_capped() -> None:
    records = [rec(f"{i}-x", rejected_at=NOW - timedelta(minutes=i)) for i in range(1, 26)]
    got = rows(render_dashboard(records, repository="o/r", now=NOW), "Last 20 outcomes")
    assert len(got) == dashboard.OUTCOMES_SHOWN
    assert [r[1] for r in got] == [f"`{i}-x`" for i in range(1, 21)]


def test_a_proposal_without_a_pr_names_the_dispatch_and_ages_are_from_now() -> None:
    body = render_dashboard(
        [rec("5-p", run_id=5, proposed_at=NOW - timedelta(days=2, hours=3))],
        repository="o/r",
        approval_command="/fix-it",
        now=NOW,
    )
    [row] = rows(body, "Open proposals")
    assert row[5] == "2 d 3 h" and row[6] == "dispatch the apply workflow with `run-id: 5`"
    with_pr = render_dashboard(
        [rec("5-p", run_id=5, pr_number=3)], repository="o/r", approval_command="/fix-it", now=NOW
    )
    assert "`/fix-it 5-p` on [#3](https://github.com/o/r/pull/3)" in with_pr


class Exploding:
    """A GitHub client on which every call fails."""

    def __init__(self, err: Exception) -> None:
        self.err = err
        self.calls = 0

    def __getattr__(self, name: str):
        def fail(*args, **kwargs):
            self.calls += 1
            raise self.err

        return fail


def ctx_with(gh, **settings) -> SimpleNamespace:
    values = {"dashboard": True, "dry_run": False, "repository": "o/r", "server_url": "https://github.com"}
    values.update(approval_command="/approve-fix", **settings)
    stream = io.StringIO()
    return SimpleNamespace(
        settings=SimpleNamespace(**values),
        gh=gh,
        runner=Runner(stream=stream, environ={}),
        secrets=[SECRET],
        stream=stream,
    )


def test_disabled_or_dry_run_makes_no_call() -> None:
    for settings, want in (({"dashboard": False}, "disabled"), ({"dry_run": True}, "dry-run")):
        gh = Exploding(RuntimeError("no call expected"))
        assert update_dashboard(ctx_with(gh, **settings)) == want and gh.calls == 0


def test_any_failure_is_one_warning_and_never_raises() -> None:
    forbidden = ctx_with(
        Exploding(
            GitHubError("list issues", 403, f"Resource not accessible {SECRET}", permission="issues: write")
        )
    )
    assert update_dashboard(forbidden) == "failed"
    out = forbidden.stream.getvalue()
    assert out.count("::warning") == 1 and "issues: write" in out and SECRET not in out
    assert "issues: write" in "".join(forbidden.runner.summary)
    broken = ctx_with(Exploding(KeyError("boom")))
    assert update_dashboard(broken) == "failed"
    assert "internal error (KeyError)" in broken.stream.getvalue()


class RacingGitHub:
    """Another run creates the dashboard between this run's first look and its create."""

    repository = "o/r"
    bot_login = "github-actions[bot]"

    def __init__(self) -> None:
        self.issues: list = []
        self.looks = 0
        self.closed: list[tuple[int, str]] = []
        self.edited: list[int] = []

    def find_own_issues(self, marker: str):
        self.looks += 1
        if self.looks == 3:  # after our create: the other run's issue is older
            return [
                SimpleNamespace(number=5, state="open", body=marker),
                SimpleNamespace(number=6, state="open", body=marker),
            ]
        return []

    def create_issue(self, title: str, body: str, *, marker: str):
        return SimpleNamespace(number=6, state="open", body=body)

    def close_issue(self, number: int, body: str) -> None:
        self.closed.append((number, body))

    def update_issue_body(self, number: int, body: str) -> None:
        self.edited.append(number)


def test_two_runs_creating_at_once_leave_one_open_dashboard(monkeypatch) -> None:
    monkeypatch.setattr(dashboard.LedgerReader, "records", lambda self: [rec("1-a", pr_number=2)])
    gh = RacingGitHub()
    ctx = ctx_with(gh)
    assert update_dashboard(ctx) == "edited"
    assert [n for n, _ in gh.closed] == [6] and gh.edited == [5]
    assert dashboard.DASHBOARD_MARKER not in gh.closed[0][1] and "#5" in gh.closed[0][1]
