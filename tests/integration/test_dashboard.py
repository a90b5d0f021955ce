"""The dashboard issue, driven by the real flows against the fake GitHub API.

A sequence of failures, approvals, a rejection, a supersession, verifications (green and red), a
merge and a close is played with ``dashboard: true``; every figure of the resulting issue is checked
against expected values computed here from the sequence and the fake's own records (not by calling
:func:`ci_healer.report.build_report`). Then: a second run edits the same issue, a closed dashboard
stays closed, a 403 on the issue creation leaves the job green with a warning, and a hostile root
cause cannot inject markdown, HTML or mentions (SECURITY.md item 4).

``examples/dashboard.md`` is the dashboard of the sequence; the test fails when the committed file
differs. Regenerate it with::

    CI_HEALER_REGENERATE=1 python3 -m pytest tests/integration/test_dashboard.py
"""

from __future__ import annotations

import os
import re
import statistics
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ci_healer import dashboard
from ci_healer.ledger import clear_cache
from ci_healer.models import Category, FileEdit, Proposal
from ci_healer.render import COMMENT_MARKER, read_diff, read_metadata
from ci_healer.report import format_duration
from ci_healer.tokens import estimate_tokens
from tests.fakegithub import BOT_LOGIN, payloads
from tests.fakegithub.fixtures import standard_fake  # noqa: F401
from tests.fakegithub.scenario import PYTEST_LOG
from tests.integration.conftest import LLM_KEY, FixedBackend, Harness, analyze, approve
from tests.test_ledger import failing_pr, fix_pr_of, verify

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "dashboard.md"
REGENERATE = "CI_HEALER_REGENERATE=1 python3 -m pytest tests/integration/test_dashboard.py"


@dataclass
class Story:
    """What the test did, to check the dashboard against."""

    harness: Harness
    prs: dict[str, int] = field(default_factory=dict)
    fix_prs: dict[str, int] = field(default_factory=dict)
    runs: dict[str, int] = field(default_factory=dict)
    superseded_run: int = 0
    after_verify: str = ""  # the dashboard right after the last verification


def dashboards(h: Harness) -> list:
    """Every issue of the repository that carries the dashboard marker (any author, any state)."""
    return [
        i
        for i in h.world.state.issues.values()
        if i.repo == h.world.repo and not i.pull and dashboard.DASHBOARD_MARKER in i.body
    ]


def the_dashboard(h: Harness):
    [issue] = dashboards(h)
    assert issue.user == BOT_LOGIN and issue.title == dashboard.DASHBOARD_TITLE
    return issue


def new_failure_on(h: Harness, branch: str, pr: int) -> int:
    """A new commit on the PR branch (the same regression plus a note) and its failed run."""
    w = h.world
    sha = w.state.commit_files(
        w.repo, branch, {"NOTES.md": "second try\n"}, message="Add a note", author="dev-wes"
    )
    w.state.pull(w.repo, pr).pull.head_sha = sha
    run = w.state.add_run(
        w.repo,
        head_branch=branch,
        workflow=w.state.workflows[w.workflow_id],
        pull_requests=[pr],
        actor="dev-wes",
        jobs=[{"name": "test", "conclusion": "failure", "log": PYTEST_LOG}],
    )
    return run.id


def play(h: Harness) -> Story:
    """Seven proposals on six PRs: merged after green, red (fix PR still open), rejected, closed
    unmerged after green, waiting, and one superseded by a newer failure of its PR (waiting); then
    a last failure after the merge and the close, so the final dashboard sees them."""
    h.inputs["max-attempts"] = "1"  # a red fix is not re-analysed
    h.inputs["dashboard"] = "true"
    story = Story(h)
    for name in ("green-merged", "red", "rejected", "green-closed", "waiting", "super"):
        number, run_id = failing_pr(h, f"b-{name}")
        analyze(h, run_id)
        story.prs[name], story.runs[name] = number, run_id
    story.superseded_run = story.runs["super"]
    story.runs["super"] = new_failure_on(h, "b-super", story.prs["super"])
    analyze(h, story.runs["super"])
    for name, user in (("green-merged", "dev-wes"), ("red", "maintainer-mia"), ("green-closed", "lead-lou")):
        out = approve(h, user=user, pr=story.prs[name])
        assert out.code == 0, out.stdout + out.summary
        story.fix_prs[name] = fix_pr_of(h, story.prs[name]).number
    out = approve(h, user="lead-lou", body="/reject-fix", pr=story.prs["rejected"])
    assert out.code == 0, out.stdout + out.summary
    state = h.world.state
    for name, conclusion in (("green-merged", "success"), ("red", "failure"), ("green-closed", "success")):
        verify(h, state.issues[(h.world.repo, story.fix_prs[name])], conclusion)
    story.after_verify = the_dashboard(h).body
    merged = state.issues[(h.world.repo, story.fix_prs["green-merged"])]
    merged.state, merged.pull.merged = "closed", True
    state.issues[(h.world.repo, story.fix_prs["green-closed"])].state = "closed"
    number, run_id = failing_pr(h, "b-late")
    analyze(h, run_id)
    story.prs["late"], story.runs["late"] = number, run_id
    return story


@pytest.fixture
def harness(standard_fake, tmp_path: Path, monkeypatch) -> Harness:  # noqa: F811
    fake, world = standard_fake
    # the fake's label view has a null description, which the list-pulls response schema refuses
    world.state.issues[(world.repo, world.pr)].labels = []
    # the dashboard measures ages and its 30-day window on the fake API's clock
    monkeypatch.setattr(dashboard, "clock", lambda: datetime.fromtimestamp(world.state.now(), UTC))
    clear_cache()
    yield Harness(fake, world, tmp_path)
    clear_cache()


@pytest.fixture
def story(harness: Harness) -> Story:
    return play(harness)


# ---------------------------------------------------------------------------- expectations


def section(body: str, heading: str) -> str:
    start = body.index(f"## {heading}")
    end = body.find("\n## ", start + 1)
    return body[start : end if end > 0 else len(body)]


def table(text: str) -> list[list[str]]:
    """The data rows of the first markdown table in ``text``, split on unescaped ``|``."""
    rows = [ln for ln in text.splitlines() if ln.startswith("|")]
    return [[c.strip() for c in re.split(r"(?<!\\)\|", ln)[1:-1]] for ln in rows[2:]]


def tables(text: str) -> list[list[list[str]]]:
    """The data rows of every markdown table in ``text``."""
    return [table(block) for block in text.split("\n\n") if block.lstrip().startswith("|")]


def figures(body: str) -> dict[str, str]:
    rows = tables(section(body, "The last 30 days"))[0]
    return {r[0]: r[1] for r in rows}


def own_comment_of(h: Harness, pr: int):
    [c] = [
        c
        for c in h.world.state.comments.values()
        if c.issue_number == pr and c.user == BOT_LOGIN and c.body.startswith(COMMENT_MARKER)
    ]
    return c


def expected_waits(story: Story) -> list[int]:
    """Seconds from the failed run's completion to the green verification of each green fix, from
    the fake's records: the run completes 5 s before its first job started
    (tests/fakegithub/views.py), the verification is the last edit of the origin comment."""
    state = story.harness.world.state
    out = []
    for name in ("green-merged", "green-closed"):
        run_id = story.runs[name]
        completed = min(j.started for j in state.jobs.values() if j.run_id == run_id) - 5
        out.append(own_comment_of(story.harness, story.prs[name]).updated - completed)
    return out


def pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.0f} %"


def test_every_figure_of_the_dashboard_matches_the_sequence(story: Story) -> None:
    h = story.harness
    issue = the_dashboard(h)
    body = issue.body
    assert issue.state == "open" and body.startswith(dashboard.DASHBOARD_MARKER + "\n")
    # one issue created, then edited in place by every later flow
    assert len(h.fake.calls("POST", "issues/create")) == 1
    assert len(h.fake.calls("PATCH", "issues/update")) >= 10
    assert {e["number"] for e in h.world.state.issue_edits} == {issue.number}
    assert all(e["fields"] == ["body"] for e in h.world.state.issue_edits)  # never the state

    # the sequence: 8 proposals (6 PRs, one with two failures, and the last one), 3 approved,
    # 1 rejected, 1 superseded, 3 applied, 2 green, 1 red, 1 merged
    proposals, approved, applied, green, merged = 8, 3, 3, 2, 1
    median = statistics.median(expected_waits(story))
    assert median > 0
    assert figures(body) == {
        "proposals": str(proposals),
        "with an approvable patch": str(proposals),
        "approved": str(approved),
        "rejected": "1",
        "superseded": "1",
        "approval rate": pct(approved, proposals),
        "applied (fix PRs)": str(applied),
        "applied fixes that turned CI green": f"{green} ({pct(green, applied)})",
        "applied fixes that stayed red": "1",
        "merged fix PRs": f"{merged} ({pct(merged, applied)})",
        "median time from failure to green": format_duration(median),
    }

    # tokens: one backend, estimated (the backend reports no usage)
    backend = h.backend
    assert len(backend.requests) == proposals
    prompt = sum(estimate_tokens(b.text) for req in backend.requests for b in req.blocks)
    edits = "".join(e.original + e.replacement for e in backend.proposal.files_to_modify)
    diffs = {}
    for cr in h.world.state.check_runs.values():
        meta = read_metadata(cr.output.get("summary") or "")
        if meta is not None:
            diffs[meta.proposal_id] = read_diff(cr.output["summary"]) or ""
    assert len(diffs) == proposals
    completion = sum(estimate_tokens(backend.proposal.root_cause + edits + d) for d in diffs.values())
    [_, tokens] = tables(section(body, "The last 30 days"))
    assert tokens == [["`fixed`", str(proposals), f"{prompt} (estimated)", f"{completion} (estimated)", "0"]]

    # open proposals: waiting, the newer failure of "super", late — newest first, with the command
    open_rows = table(section(body, "Open proposals"))
    workflow = h.world.state.workflows[h.world.workflow_id].name
    want_open = []
    for name in ("late", "super", "waiting"):
        meta = read_metadata(own_comment_of(h, story.prs[name]).body)
        assert meta.run_id == story.runs[name]
        want_open.append(
            (f"`b-{name}`", workflow, f"`/approve-fix {meta.proposal_id}` on [#{story.prs[name]}]")
        )
    got_open = [(r[3], r[2], r[6].split("(")[0]) for r in open_rows]
    assert got_open == want_open
    assert all(r[0] == "🟢 low" and r[1] == "test" for r in open_rows)

    # open fix PRs: only the red one is still open, with CI failed
    fix_rows = table(section(body, "Open fix pull requests"))
    assert [(r[0].split("]")[0], r[2], r[6]) for r in fix_rows] == [
        (f"[#{story.fix_prs['red']}", "❌ CI failed", "`maintainer-mia`")
    ]

    # the verify flow updated it: right after the verifications all three fix PRs were open
    ci = {r[0].split("]")[0]: r[2] for r in table(section(story.after_verify, "Open fix pull requests"))}
    assert ci == {
        f"[#{story.fix_prs['green-merged']}": "✅ CI passed",
        f"[#{story.fix_prs['red']}": "❌ CI failed",
        f"[#{story.fix_prs['green-closed']}": "✅ CI passed",
    }

    # the outcomes, newest first: everything that is not waiting
    outcome_rows = table(section(body, "Last 20 outcomes"))
    assert sorted(r[3] for r in outcome_rows) == sorted(
        ["🎉 merged", "🗑️ closed unmerged", "❌ verified red", "🚫 rejected", "↪️ superseded"]
    )
    by_outcome = {r[3]: r for r in outcome_rows}
    assert by_outcome["🎉 merged"][6].startswith(f"[#{story.fix_prs['green-merged']}]")
    assert by_outcome["↪️ superseded"][2].startswith(f"[#{story.prs['super']}]")
    assert by_outcome["🚫 rejected"][2].startswith(f"[#{story.prs['rejected']}]")
    stamps = [r[0] for r in outcome_rows]
    assert stamps == sorted(stamps, reverse=True)

    # the chart: the fake's clock keeps every event in one week, the current one
    chart = section(body, "Proposals and merged fixes per week")
    assert "```mermaid\nxychart-beta\n" in chart
    assert f"    bar [0, 0, 0, 0, 0, 0, 0, {proposals}]" in chart
    assert f"    line [0, 0, 0, 0, 0, 0, 0, {merged}]" in chart
    weeks = table(chart.split("```\n", 2)[-1])
    assert len(weeks) == dashboard.CHART_WEEKS and weeks[-1][1:] == [str(proposals), str(merged)]
    assert datetime.fromisoformat(weeks[-1][0]).weekday() == 0


def test_the_example_dashboard_is_the_one_of_the_sequence(story: Story) -> None:
    body = the_dashboard(story.harness).body
    if os.environ.get("CI_HEALER_REGENERATE") == "1":
        EXAMPLE.write_text(body, encoding="utf-8")
    assert EXAMPLE.is_file(), f"examples/dashboard.md is missing; write it with: {REGENERATE}"
    assert EXAMPLE.read_text(encoding="utf-8") == body, (
        f"examples/dashboard.md differs from the dashboard of the test sequence; regenerate it with: {REGENERATE}"
    )


def test_a_second_run_edits_the_same_issue(harness: Harness) -> None:
    h = harness
    h.inputs["dashboard"] = "true"
    _, run_id = failing_pr(h, "b-first")
    analyze(h, run_id)
    first = the_dashboard(h)
    body_before = first.body
    assert "b-first" in body_before and "b-second" not in body_before
    _, run2 = failing_pr(h, "b-second")
    out = analyze(h, run2)
    again = the_dashboard(h)  # still exactly one
    assert again.number == first.number and "b-second" in again.body and again.body != body_before
    assert len(h.fake.calls("POST", "issues/create")) == 1
    assert "::warning" not in out.stdout


def test_a_closed_dashboard_stays_closed(harness: Harness) -> None:
    h = harness
    h.inputs["dashboard"] = "true"
    _, run_id = failing_pr(h, "b-first")
    analyze(h, run_id)
    issue = the_dashboard(h)
    issue.state = "closed"  # a maintainer closed it
    body = issue.body
    edits = len(h.world.state.issue_edits)
    _, run2 = failing_pr(h, "b-second")
    out = analyze(h, run2)
    assert out.code == 0
    assert issue.state == "closed" and issue.body == body and len(h.world.state.issue_edits) == edits
    assert len(dashboards(h)) == 1 and len(h.fake.calls("POST", "issues/create")) == 1
    assert f"::notice::ci-healer: the dashboard issue #{issue.number} is closed" in out.stdout


def test_a_dashboard_copied_by_a_user_is_not_used(harness: Harness) -> None:
    h = harness
    h.inputs["dashboard"] = "true"
    fake_one = h.world.state.add_issue(
        h.world.repo, title="ci-healer dashboard", user="dev-wes", body=f"{dashboard.DASHBOARD_MARKER}\nmine"
    )
    _, run_id = failing_pr(h, "b-first")
    analyze(h, run_id)
    assert fake_one.body.endswith("mine")
    [ours] = [i for i in dashboards(h) if i.user == BOT_LOGIN]
    assert ours.number != fake_one.number


def test_403_on_issue_creation_leaves_the_job_green_with_a_warning(harness: Harness) -> None:
    h = harness
    h.inputs["dashboard"] = "true"
    h.fake.fail(
        403,
        "Resource not accessible by integration",
        operation_id="issues/create",
        headers={"X-Accepted-GitHub-Permissions": "issues=write"},
    )
    number, run_id = failing_pr(h, "b-first")
    out = h.run("workflow_run", payloads.workflow_run_completed(h.world.state, run_id, api=h.fake.url))
    assert out.code == 0, out.stdout + out.summary
    assert dashboards(h) == []
    own_comment_of(h, number)  # the main result is posted
    assert out.outputs["proposal-id"]
    warnings = [ln for ln in out.stdout.splitlines() if ln.startswith("::warning")]
    assert len(warnings) == 1 and "issues: write" in warnings[0]
    assert "dashboard issue was not updated" in out.summary and "issues: write" in out.summary
    assert "::error" not in out.stdout


def test_issue_created_then_502_leaves_one_dashboard(harness: Harness) -> None:
    """SECURITY.md item 21: GitHub created the issue but answered 502; it is found, not repeated."""
    h = harness
    h.inputs["dashboard"] = "true"
    rule = h.fake.fail(502, "Bad Gateway", operation_id="issues/create", times=1, after=True)
    _, run_id = failing_pr(h, "b-first")
    out = analyze(h, run_id)
    assert rule.hits == 1 and len(dashboards(h)) == 1
    assert len(h.fake.calls("POST", "issues/create")) == 1
    assert "::warning" not in out.stdout
    _, run2 = failing_pr(h, "b-second")
    analyze(h, run2)
    assert len(dashboards(h)) == 1 and "b-second" in the_dashboard(h).body


def test_without_the_input_no_issue_is_read_or_written(harness: Harness) -> None:
    h = harness
    _, run_id = failing_pr(h, "b-first")
    analyze(h, run_id)
    assert dashboards(h) == []
    assert not [r for r in h.fake.requests if r.operation_id and r.operation_id.startswith("issues/list-for")]


HOSTILE = (
    "**bold** | table | @octo-org/maintainers " + LLM_KEY + " ![x](https://evil.example/?d=1) "
    "<img src=x onerror=alert(1)> <!-- hidden --> </details> [click](https://evil.example) @admin"
)


def test_hostile_root_cause_cannot_inject_into_the_dashboard(harness: Harness) -> None:
    """SECURITY.md item 4 (and item 3 for the secret): the root cause is redacted and escaped."""
    h = harness
    h.inputs["dashboard"] = "true"
    h.backend = FixedBackend(
        Proposal(
            root_cause=HOSTILE,
            category=Category.TEST,
            files_to_modify=[
                FileEdit(
                    file_path="src/hello/calc.py",
                    original="return int(amount * 100)\n",
                    replacement="return int(amount * 100 + 0.5)\n",
                )
            ],
            confidence=0.9,
        )
    )
    _, run_id = failing_pr(h, "b-hostile")
    analyze(h, run_id)
    body = the_dashboard(h).body
    [line] = [ln for ln in body.splitlines() if "bold" in ln]
    assert LLM_KEY not in body
    assert "<img" not in body and "<!-- hidden" not in body and "</details>" not in body
    assert "](https://evil" not in body and "![" not in body
    # mentions only inside code spans; markdown punctuation escaped; the row is not split
    outside_code = re.sub(r"`[^`]*`", "", line)
    assert "@" not in outside_code
    assert "\\*\\*bold\\*\\*" in line and "\\| table \\|" in line
    assert body.count(dashboard.DASHBOARD_MARKER) == 1 and body.count("<!--") == 1
