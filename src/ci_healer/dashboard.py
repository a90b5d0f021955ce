"""The dashboard issue (input ``dashboard: true``): one issue that shows the state of every
proposal, edited in place by the analyze, apply and verify flows after their main work.

The convention is Renovate's "Dependency Dashboard": one issue per repository, found again by a
hidden marker (:data:`DASHBOARD_MARKER`) in its body AND the bot's login as its author — a user can
copy the marker, not the login (the same rule that finds ci-healer's PR comment,
:meth:`~ci_healer.github_api.GitHubClient.find_own_comment`). Open and closed issues are searched
(``GET /repos/{owner}/{repo}/issues?creator=<bot>&state=all``, at most 3 pages of 100), and the
oldest one found is the dashboard:

* none found → it is created (once: a create that got no answer looks before posting again,
  SECURITY.md item 21);
* open → its body is replaced (``PATCH``; title, labels and state are left alone);
* closed → a maintainer closed it: nothing is written, a notice says so. ci-healer never re-opens
  it and never creates a second one.

Content (:func:`render_dashboard`): open proposals (risk badge, category, failing workflow and
branch, age, the exact approve command), open fix PRs with their CI state, the last
:data:`OUTCOMES_SHOWN` outcomes, the figures of the last :data:`WINDOW_DAYS` days — computed by
:func:`ci_healer.report.build_report`, the code of ``ci-healer report``, and rendered by the same
template part — and a Mermaid ``xychart-beta`` chart (GitHub renders Mermaid in issues) of
proposals and merged fixes per week. Every record comes from :class:`ci_healer.ledger.LedgerReader`.

Untrusted text (a root cause from the model, workflow and branch names from the run, a category
read back from a body) is redacted with the run's secrets and escaped with
:func:`ci_healer.render.escape_prose`, as in the PR comment (SECURITY.md items 3 and 4); table cells
also escape ``|`` so a value cannot split its row.

Failure never spreads: :func:`update_dashboard` catches everything, writes one warning to the log
and the job summary (a 403 names ``issues: write``), and returns; the flow's exit code and its
main result (comment, check run, fix PR) are never touched.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from ci_healer.github_api import GitHubError, call
from ci_healer.ledger import LedgerReader, ProposalRecord, clear_cache
from ci_healer.redact import redact_text
from ci_healer.render import escape_prose, inline_code
from ci_healer.report import Report, build_report, format_duration, format_percent
from ci_healer.templating import markdown_env

DASHBOARD_MARKER = "<!-- ci-healer:dashboard -->"
DASHBOARD_TITLE = "ci-healer dashboard"
WINDOW_DAYS = 30
"""Days of the figures."""
OUTCOMES_SHOWN = 20
OPEN_SHOWN = 25
"""Open proposals (and open fix PRs) listed; the workflow run of each listed proposal is read once."""
CHART_WEEKS = 8
LEDGER_MAX_PULLS = 30
LEDGER_MAX_CHECK_SHAS = 45
LEDGER_MAX_FAILED_RUNS = 20
"""Bounds of the ledger read of each update: the newest 30 pull requests, check runs of at most 45
commits, the newest 20 failed runs. Measured on the fake API, an update costs about 5.5 requests
per pull request read (76 for 14), so these keep it near 170 requests against the 1,000 per hour
and repository a ``GITHUB_TOKEN`` gets; ``ci-healer report`` reads further back (100 by default)."""
ROOT_CAUSE_CHARS = 160

_BADGES = {"low": "🟢 low", "medium": "🟡 medium", "high": "🔴 high"}
_CI_STATE = {
    "applied": "⏳ waiting for CI",
    "verified_green": "✅ CI passed",
    "verified_red": "❌ CI failed",
}
_OUTCOME_LABEL = {
    "rejected": "🚫 rejected",
    "superseded": "↪️ superseded",
    "applied": "🚀 applied",
    "verified_green": "✅ verified green",
    "verified_red": "❌ verified red",
    "merged": "🎉 merged",
    "closed_unmerged": "🗑️ closed unmerged",
}
_UNESCAPED_PIPE = re.compile(r"(?<!\\)\|")


def clock() -> datetime:
    """The current time, UTC (tests replace it with the fake API's clock)."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class RunLabel:
    """Workflow name and head branch of a failed workflow run (untrusted text)."""

    workflow: str
    branch: str


RunLookup = Callable[[int], RunLabel | None]


def outcome_time(rec: ProposalRecord) -> datetime | None:
    """When ``rec`` reached its :attr:`~ci_healer.ledger.ProposalRecord.outcome` (``None`` when unknown)."""
    return {
        "merged": rec.merged_at,
        "closed_unmerged": rec.closed_at,
        "verified_green": rec.verified_at,
        "verified_red": rec.verify_failed_at,
        "applied": rec.applied_at,
        "rejected": rec.rejected_at,
        "superseded": rec.superseded_at,
        "proposed": rec.proposed_at,
    }[rec.outcome]


def week_start(value: datetime) -> datetime:
    """Monday 00:00 UTC of the ISO week of ``value``."""
    day = value.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return day - timedelta(days=day.weekday())


def weekly_counts(
    records: Iterable[ProposalRecord], *, now: datetime, weeks: int = CHART_WEEKS
) -> list[tuple[datetime, int, int]]:
    """``(monday, proposals, merged fixes)`` of the last ``weeks`` ISO weeks up to ``now``'s,
    oldest first: proposals counted by ``proposed_at``, merged fixes by ``merged_at``."""
    last = week_start(now)
    starts = [last - timedelta(weeks=weeks - 1 - i) for i in range(weeks)]
    proposed = dict.fromkeys(starts, 0)
    merged = dict.fromkeys(starts, 0)
    for rec in records:
        if rec.proposed_at is not None and week_start(rec.proposed_at) in proposed:
            proposed[week_start(rec.proposed_at)] += 1
        if rec.merged_at is not None and week_start(rec.merged_at) in merged:
            merged[week_start(rec.merged_at)] += 1
    return [(s, proposed[s], merged[s]) for s in starts]


def mermaid_chart(weeks: list[tuple[datetime, int, int]]) -> str:
    """A Mermaid ``xychart-beta`` of proposals (bars) and merged fixes (line) per week; every
    value is a date or a count ci-healer computed."""
    labels = ", ".join(f'"{s:%m-%d}"' for s, _, _ in weeks)
    top = max([1] + [max(p, m) for _, p, m in weeks])
    return "\n".join(
        [
            "xychart-beta",
            '    title "Proposals (bars) and merged fixes (line) per week"',
            f"    x-axis [{labels}]",
            f'    y-axis "count" 0 --> {top + 1}',
            f"    bar [{', '.join(str(p) for _, p, _ in weeks)}]",
            f"    line [{', '.join(str(m) for _, _, m in weeks)}]",
        ]
    )


def _age(seconds: float) -> str:
    return format_duration(max(seconds, 0.0))


def _stamp(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M") if value is not None else "unknown"


class _Text:
    """Redaction and escaping of untrusted text for one repository."""

    def __init__(self, repository: str, server_url: str, secrets: Iterable[str]) -> None:
        self.repository, self.server_url, self.secrets = repository, server_url, sorted(set(secrets))

    def cell(self, text: str | None, limit: int = ROOT_CAUSE_CHARS) -> str:
        """One table cell: redacted, on one line, shortened to ``limit``, escaped, no bare ``|``."""
        value = " ".join(redact_text(text or "", self.secrets)[0].split())
        if len(value) > limit:
            value = value[: limit - 1].rstrip() + "…"
        out = escape_prose(value, repository=self.repository, server_url=self.server_url)
        return _UNESCAPED_PIPE.sub(r"\\|", out)

    def code(self, text: str) -> str:
        """A code span that is also safe in a table cell."""
        return _UNESCAPED_PIPE.sub(r"\\|", inline_code(text))


def render_dashboard(
    records: Iterable[ProposalRecord],
    *,
    repository: str,
    server_url: str = "https://github.com",
    approval_command: str = "/approve-fix",
    now: datetime,
    runs: RunLookup | None = None,
    secrets: Iterable[str] = (),
) -> str:
    """The markdown body of the dashboard issue (``templates/dashboard.md.j2``), starting with
    :data:`DASHBOARD_MARKER`.

    ``records``: the ledger (:meth:`~ci_healer.ledger.LedgerReader.records`); ``now``: the time
    ages and the :data:`WINDOW_DAYS`-day window are measured from (UTC); ``runs(run_id)``: the
    workflow name and branch of a failed run, or ``None`` when unknown (called at most
    :data:`OPEN_SHOWN` times); ``secrets``: literal values redacted from every untrusted text.
    """
    records = list(records)
    text = _Text(repository, server_url, secrets)
    base = f"{server_url.rstrip('/')}/{repository}"

    def pr_link(number: int | None) -> str:
        return f"[#{number}]({base}/pull/{number})" if number else "—"

    def run_link(run_id: int | None) -> str:
        return f"[{run_id}]({base}/actions/runs/{run_id})" if run_id else "—"

    waiting = [r for r in records if r.outcome == "proposed" and r.approvable]
    waiting.sort(key=lambda r: (r.proposed_at or now, r.proposal_id), reverse=True)
    open_rows = []
    for rec in waiting[:OPEN_SHOWN]:
        label = runs(rec.run_id) if runs is not None and rec.run_id else None
        command = (
            f"{text.code(f'{approval_command} {rec.proposal_id}')} on {pr_link(rec.pr_number)}"
            if rec.pr_number
            else f"dispatch the apply workflow with `run-id: {rec.run_id}`"
            if rec.run_id
            else "—"
        )
        open_rows.append(
            {
                "risk": _BADGES.get(rec.risk or "", "⚪ unknown"),
                "category": text.cell(rec.category or "unknown", 40),
                "workflow": text.cell(label.workflow, 60) if label else "unknown",
                "branch": text.code(label.branch) if label and label.branch else "unknown",
                "run": run_link(rec.run_id),
                "age": _age((now - rec.proposed_at).total_seconds()) if rec.proposed_at else "unknown",
                "command": command,
                "root_cause": text.cell(rec.root_cause) if rec.root_cause else "",
            }
        )
    fixes = [r for r in records if r.fix_pr_number is not None and r.outcome in _CI_STATE]
    fixes.sort(key=lambda r: (r.applied_at or now, r.proposal_id), reverse=True)
    fix_rows = [
        {
            "fix_pr": pr_link(rec.fix_pr_number),
            "origin": pr_link(rec.pr_number),
            "ci": _CI_STATE[rec.outcome],
            "risk": _BADGES.get(rec.risk or "", "⚪ unknown"),
            "category": text.cell(rec.category or "unknown", 40),
            "attempt": rec.fix_attempt or 1,
            "approver": text.code(rec.approver) if rec.approver else "unknown",
            "age": _age((now - rec.applied_at).total_seconds()) if rec.applied_at else "unknown",
        }
        for rec in fixes[:OPEN_SHOWN]
    ]
    far = datetime.min.replace(tzinfo=UTC)
    done = [r for r in records if r.outcome != "proposed"]
    done.sort(key=lambda r: (outcome_time(r) or far, r.proposal_id), reverse=True)
    outcome_rows = [
        {
            "when": _stamp(outcome_time(rec)),
            "proposal": text.code(rec.proposal_id),
            "pr": pr_link(rec.pr_number),
            "outcome": _OUTCOME_LABEL[rec.outcome],
            "risk": _BADGES.get(rec.risk or "", "⚪ unknown"),
            "category": text.cell(rec.category or "unknown", 40),
            "fix_pr": pr_link(rec.fix_pr_number),
        }
        for rec in done[:OUTCOMES_SHOWN]
    ]
    since = now - timedelta(days=WINDOW_DAYS)
    report: Report = build_report(records, repository=repository, since=since, until=now)
    weeks = weekly_counts(records, now=now)
    body = (
        markdown_env()
        .get_template("dashboard.md.j2")
        .render(
            marker=DASHBOARD_MARKER,
            updated=_stamp(now),
            window_days=WINDOW_DAYS,
            open_rows=open_rows,
            open_more=max(len(waiting) - OPEN_SHOWN, 0),
            fix_rows=fix_rows,
            fix_more=max(len(fixes) - OPEN_SHOWN, 0),
            outcome_rows=outcome_rows,
            outcomes_shown=OUTCOMES_SHOWN,
            r=report,
            pct=format_percent,
            duration=format_duration,
            code=text.code,
            chart=mermaid_chart(weeks),
            weeks=[(f"{s:%Y-%m-%d}", p, m) for s, p, m in weeks],
            approval_command=inline_code(approval_command),
        )
    )
    return body.strip("\n") + "\n"


def _run_lookup(ctx: Any) -> RunLookup:
    cache: dict[int, RunLabel | None] = {}

    def lookup(run_id: int) -> RunLabel | None:
        if run_id not in cache:
            try:
                run = call("read workflow run", lambda: ctx.gh.repo.get_workflow_run(run_id))
                cache[run_id] = RunLabel(workflow=run.name or "", branch=run.head_branch or "")
            except GitHubError:
                cache[run_id] = None
        return cache[run_id]

    return lookup


def _warn(ctx: Any, reason: str) -> None:
    text = escape_prose(
        redact_text(reason, ctx.secrets)[0],
        repository=ctx.settings.repository,
        server_url=ctx.settings.server_url,
    )
    ctx.runner.warning(f"ci-healer: the dashboard issue was not updated: {reason}; the job goes on")
    ctx.runner.append_summary(
        f"### ⚠️ ci-healer: the dashboard issue was not updated\n\n{text}\n\n"
        "The flow's result above is complete; the dashboard is brought up to date by the next run.\n"
    )


def _create(ctx: Any, body: str) -> str:
    """Create the dashboard. Two flows of different branches may run at once and both find none:
    the list is read again just before and just after the create, and when an older dashboard
    exists, this run's copy is closed pointing at it (ci-healer's own issue, seconds old) and the
    older one is edited instead, so one dashboard stays open."""
    found = ctx.gh.find_own_issues(DASHBOARD_MARKER)
    if found:
        if found[0].state != "open":
            return "closed"
        ctx.gh.update_issue_body(found[0].number, body)
        return "edited"
    made = ctx.gh.create_issue(DASHBOARD_TITLE, body, marker=DASHBOARD_MARKER)
    oldest = ctx.gh.find_own_issues(DASHBOARD_MARKER)
    if oldest and oldest[0].number != made.number:
        ctx.gh.close_issue(
            made.number,
            f"Duplicate of #{oldest[0].number}, the ci-healer dashboard (two runs created one at once).\n",
        )
        if oldest[0].state == "open":
            ctx.gh.update_issue_body(oldest[0].number, body)
        return "edited"
    ctx.runner.notice(f"ci-healer: dashboard issue #{made.number} created")
    return "created"


def update_dashboard(ctx: Any) -> str:
    """Bring the dashboard issue up to date for a flow (``ctx`` is a :class:`ci_healer.flow.Context`).

    Returns what happened: ``disabled`` (input ``dashboard`` is false), ``dry-run``, ``created``,
    ``edited``, ``unchanged``, ``closed`` (a maintainer closed it: left closed, one notice) or
    ``failed`` (one warning in the log and the job summary; a 403 names ``issues: write``). Never
    raises. The ledger is read afresh (its per-process cache is cleared first), so the dashboard
    shows what the flow has just written.
    """
    settings = ctx.settings
    if not getattr(settings, "dashboard", False):
        return "disabled"
    if settings.dry_run:
        return "dry-run"
    try:
        found = ctx.gh.find_own_issues(DASHBOARD_MARKER)
        issue = found[0] if found else None
        if issue is not None and issue.state != "open":
            ctx.runner.notice(
                f"ci-healer: the dashboard issue #{issue.number} is closed; it is left closed and not updated"
            )
            return "closed"
        clear_cache()
        records = LedgerReader(
            ctx.gh,
            max_pulls=LEDGER_MAX_PULLS,
            max_check_shas=LEDGER_MAX_CHECK_SHAS,
            max_failed_runs=LEDGER_MAX_FAILED_RUNS,
        ).records()
        body = render_dashboard(
            records,
            repository=settings.repository,
            server_url=settings.server_url,
            approval_command=settings.approval_command,
            now=clock(),
            runs=_run_lookup(ctx),
            secrets=ctx.secrets,
        )
        if issue is None:
            return _create(ctx, body)
        if issue.body == body:
            return "unchanged"
        ctx.gh.update_issue_body(issue.number, body)
        return "edited"
    except GitHubError as err:
        if err.status == 403:
            reason = f"{err.what} was refused (403): add `permissions: issues: write` to the job"
        elif err.status == 410:
            reason = f"{err.what} failed (410): issues are disabled in this repository"
        else:
            reason = str(err)
        _warn(ctx, reason)
    except Exception as err:  # the dashboard must never fail the flow
        _warn(ctx, f"internal error ({type(err).__name__})")
    return "failed"
