"""Analyze flow: a failed workflow run → one check run, one PR comment, job summary and outputs.

Steps: jobs of the failed run attempt → logs of the failed jobs (streamed, tail kept under
``max-log-bytes``) → :func:`ci_healer.engine.analyze` with a :class:`GitHubRepoSource` at the head
SHA (nothing is checked out, no subprocess) → check run ``ci-healer`` (conclusion ``neutral``) on
the head SHA, and one comment on the run's PR found by marker and bot login, both carrying the
proposal id, head SHA and diff digest as hidden metadata (:mod:`ci_healer.render`).

``proposal_id`` is ``<run_id>-<digest[:8]>`` when there is a diff, else
``<run_id>-<fingerprint[:8]>``.

Context read through the API (all with the analyze job's ``actions: read``, ``contents: read``):

- **The last green run** of the same workflow (the CiDiff technique: Hubner, Falleri et al.,
  "CiDiff: Diffing CI logs", ISSTA 2025, arXiv 2504.18182): the newest successful run older than
  the failed one on the failing branch (same head repository), else on the PR's base branch (the
  default branch for a push). Each failed job's log is passed through
  :func:`ci_healer.greendiff.drop_green_lines` with the log of the green run's job of the same name
  (same download path and byte cap) before extraction (:func:`ci_healer.engine.triage` ``green``;
  the fingerprint stays the one of the log as it is). No green run, no job of that name, or a
  green log that cannot be read (404, 410 expired) leaves the log as it is, with a notice. The job
  summary, check run and comment name the green run (linked) and the lines dropped.
- **The failing change**: a PR's files and patches (``GET pulls/{n}/files``, at most
  :data:`MAX_CHANGED_FILES` files and :data:`MAX_CHANGE_PATCH_BYTES` of patch text); for a run
  without a PR, the comparison from the green run's head SHA to the failed head SHA
  (``GET compare/{base}...{head}``; ``diverged`` — a force-push — is the change since their merge
  base; a 404 leaves the change out). Its files rank first in the repository context and it is sent
  to the model redacted and fenced (:func:`ci_healer.engine.analyze` ``change``).
- **Every failed job**: the logs of the first :data:`MAX_JOBS_READ` failed jobs are read and
  triaged (extract, redact, classify); jobs whose failures have the same fingerprint are one group
  ("the same failure in 6 of 8 failed jobs"). One proposal per run: the *primary* group — the most
  jobs, a code failure before a runner one (infrastructure, timeout, out of memory, unknown), then
  GitHub's job order — is analyzed with its first job's blocks; the comment lists every failed job
  with its group, category and a link to its first failure line, and says which were not read.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from ci_healer.auto_apply import attempts_made, auto_apply, gate_fields, gates, status_for
from ci_healer.backends.base import BackendError
from ci_healer.backends.rules import RulesBackend
from ci_healer.dashboard import update_dashboard
from ci_healer.engine import AnalyzeOptions, Triage, analyze, triage
from ci_healer.events import WorkflowRunData
from ci_healer.flow import EXIT_OK, AnalyzeOutcome, Context, fail, set_status
from ci_healer.github_api import (
    ChangeFiles,
    GitHubError,
    JobInfo,
    LogDownload,
    PullInfo,
    RunInfo,
    StepInfo,
)
from ci_healer.ledger import analysis_fields, with_ledger
from ci_healer.memory import Recall, recall
from ci_healer.models import Analysis, Category, ChangeKind, FailingChange, PastFix
from ci_healer.notify import notify
from ci_healer.policy import PolicyConfig
from ci_healer.render import (
    COMMENT_MARKER,
    FailedJob,
    GreenRun,
    RenderMeta,
    read_metadata,
    render_check_run,
    render_comment,
    render_job_summary,
)
from ci_healer.repo import RepoError, RepoSource
from ci_healer.rerun import maybe_rerun

MAX_JOBS_READ = 5
"""Failed jobs whose logs are read at most, in the order GitHub lists them."""
MAX_CHANGED_FILES = 300
"""Files of the failing change read at most (GitHub lists at most 3,000 files of a PR, 300 of a
comparison)."""
MAX_CHANGE_PATCH_BYTES = 200_000
"""Patch text of the failing change read at most (UTF-8 bytes); later files keep only their path."""
GREEN_RUNS_LISTED = 10
"""Successful runs listed per branch when looking for the last green one (one page)."""
_RUNNER_CATEGORIES = frozenset(
    {Category.INFRASTRUCTURE, Category.TIMEOUT, Category.OUT_OF_MEMORY, Category.UNKNOWN}
)
ANNOTATION_MESSAGE_LIMIT = 60_000
_FILE_LINE = re.compile(
    r"(?<![\w./-])((?:[\w.-]+/)*[\w.-]+\.[A-Za-z0-9]{1,8})(?::|\", line |\(|, line )(\d{1,7})\b"
)


def proposal_id_for(run_id: int, analysis: Analysis) -> str:
    """``<run_id>-<digest8>``, or ``<run_id>-<fingerprint8>`` when there is no diff."""
    tail = (analysis.digest or analysis.fingerprint or "0" * 8)[:8]
    return f"{run_id}-{tail}"


def annotations_for(analysis: Analysis, repo: RepoSource | None, *, limit: int = 50) -> list[dict]:
    """Check-run annotations at each ``file:line`` the failure blocks name that exists in the
    repository (``tests/test_calc.py:5``, ``File "x.py", line 3``), at most ``limit``."""
    if repo is None:
        return []
    try:
        paths = set(repo.list_paths())
    except RepoError:
        return []
    seen: set[tuple[str, int]] = set()
    out: list[dict] = []
    message = analysis.root_cause[:ANNOTATION_MESSAGE_LIMIT] or "ci-healer found the failure here"
    for block in analysis.blocks:
        for m in _FILE_LINE.finditer(block.text):
            path, line = m.group(1).removeprefix("./"), int(m.group(2))
            if path not in paths or line < 1 or (path, line) in seen:
                continue
            seen.add((path, line))
            out.append(
                {
                    "path": path,
                    "start_line": line,
                    "end_line": line,
                    "annotation_level": "warning",
                    "title": f"ci-healer: {analysis.category.value}",
                    "message": message,
                }
            )
            if len(out) >= limit:
                return out
    return out


@dataclass
class JobRead:
    """What was read for one failed job: its log (``None`` when not read, ``note`` says why), the
    triage of the log (block line numbers are lines of the whole job log), and how many lines the
    green log made blank (``green_dropped``, ``None`` when there was no green log to compare)."""

    job: JobInfo
    log: LogDownload | None = None
    found: Triage | None = None
    note: str = ""
    green_dropped: int | None = None


def _shift(found: Triage, lines: int) -> Triage:
    """Add ``lines`` (dropped from the head of the log) to every block's line numbers."""
    if not lines:
        return found
    blocks = [
        b.model_copy(update={"start_line": b.start_line + lines, "end_line": b.end_line + lines})
        for b in found.blocks
    ]
    return Triage(
        blocks,
        found.classification,
        found.redactions,
        found.lines_total + lines,
        found.tokens,
        found.green_dropped,
    )


def _options(ctx: Context) -> AnalyzeOptions:
    return AnalyzeOptions(
        max_tokens=ctx.settings.max_block_tokens,
        secrets=ctx.secrets,
        policy=PolicyConfig(
            protected_paths=ctx.settings.protected_paths, allowed_paths=ctx.settings.allowed_paths
        ),
    )


def _green_run(
    ctx: Context, run: WorkflowRunData, branches: list[tuple[str, str | None]], notes: list[str]
) -> RunInfo | None:
    """The newest successful run of ``run``'s workflow older than ``run`` on the first of
    ``branches`` (``(branch, head repository or None for any)``) that has one."""
    if run.workflow_id is None:
        notes.append("the event names no workflow, so no green run was compared")
        return None
    for branch, head_repo in branches:
        try:
            found = ctx.gh.successful_runs(run.workflow_id, branch=branch, limit=GREEN_RUNS_LISTED)
        except GitHubError as err:
            ctx.runner.warning(f"could not list the successful runs of the workflow on {branch}: {err}")
            continue
        for green in found:
            if green.id < run.id and (
                head_repo is None or (green.head_repository or "").lower() == head_repo.lower()
            ):
                return green
    notes.append(
        "no earlier successful run of this workflow was found, so the failed logs were read as they are"
    )
    return None


def _green_jobs(ctx: Context, green: RunInfo | None) -> dict[str, JobInfo]:
    if green is None:
        return {}
    try:
        return {j.name: j for j in ctx.gh.list_jobs(green.id, green.run_attempt) if j.conclusion == "success"}
    except GitHubError as err:
        ctx.runner.warning(f"could not list the jobs of green run {green.id}: {err}")
        return {}


def _read_job(ctx: Context, job: JobInfo, green_job: JobInfo | None, options: AnalyzeOptions) -> JobRead:
    """Download, green-diff and triage one failed job's log; never raises for API errors."""
    cap = ctx.settings.max_log_bytes
    try:
        log = ctx.gh.download_log(job.id, max_bytes=cap)
    except GitHubError as err:
        ctx.runner.warning(
            f"log of job {job.name} could not be read: {'the logs expired' if err.status == 410 else err}"
        )
        reason = (
            "the logs expired"
            if err.status == 410
            else "the log was not found"
            if err.status == 404
            else f"HTTP {err.status or 'no answer'}"
        )
        return JobRead(job, note=f"log not read: {reason}")
    green: bytes | None = None
    if green_job is not None:
        try:
            green = ctx.gh.download_log(green_job.id, max_bytes=cap).data
        except GitHubError as err:
            reason = "it expired" if err.status == 410 else str(err)
            ctx.runner.notice(
                f"the green log of job {job.name} could not be read ({reason}); its failed log is read as it is"
            )
    if log.truncated:
        ctx.runner.notice(
            f"the log of job {job.name} was {log.total_bytes} bytes; its first {log.skipped_lines} lines were skipped (max-log-bytes)"
        )
    found = triage(log.data, options=options, green=green)
    return JobRead(job, log, _shift(found, log.skipped_lines), green_dropped=found.green_dropped)


def _groups(reads: list[JobRead]) -> list[list[JobRead]]:
    """Analyzed jobs grouped by failure fingerprint, primary group first: the most jobs, a code
    failure before a runner one (infrastructure, timeout, out of memory, unknown), a log with
    blocks before an empty one, then GitHub's job order."""
    by: dict[str, list[JobRead]] = {}
    for r in reads:
        if r.found is not None:
            by.setdefault(r.found.classification.fingerprint, []).append(r)
    order = {id(r): i for i, r in enumerate(reads)}

    def rank(group: list[JobRead]) -> tuple:
        first = group[0].found
        assert first is not None
        return (
            not first.blocks,
            first.classification.category in _RUNNER_CATEGORIES,
            -len(group),
            order[id(group[0])],
        )

    return sorted(by.values(), key=rank)


def _change(
    ctx: Context, run: WorkflowRunData, pr: PullInfo | None, green: RunInfo | None, notes: list[str]
) -> FailingChange | None:
    """The failing change: the PR's files, else the comparison from the green run's head SHA."""
    caps = {"max_files": MAX_CHANGED_FILES, "max_patch_bytes": MAX_CHANGE_PATCH_BYTES}
    if pr is not None:
        try:
            read = ctx.gh.pull_changed_files(pr.number, **caps)
        except GitHubError as err:
            ctx.runner.warning(f"the files of pull request #{pr.number} could not be read: {err}")
            return None
        return _failing_change("pull_request", read, notes, number=pr.number, head_sha=run.head_sha)
    if green is None:
        notes.append(
            "the failing change is unknown (no pull request and no earlier green commit to compare with)"
        )
        return None
    if green.head_sha == run.head_sha:
        notes.append(
            f"commit {run.head_sha[:12]} passed in green run {green.id}: the failure may be flaky, and there is no change to show"
        )
        return None
    try:
        cmp = ctx.gh.compare_commits(green.head_sha, run.head_sha, **caps)
    except GitHubError as err:
        if err.status == 404:
            notes.append(
                f"the last green commit {green.head_sha[:12]} and the head {run.head_sha[:12]} could not be compared "
                "(GitHub found no common history: a force-push?), so the failing change is left out"
            )
        else:
            ctx.runner.warning(f"the failing change could not be read: {err}")
        return None
    base = green.head_sha
    if cmp.status == "diverged":
        notes.append(
            f"the last green commit {green.head_sha[:12]} is not an ancestor of the head (a force-push?): "
            f"the change is the one since their merge base {cmp.merge_base_sha[:12]}"
        )
        base = cmp.merge_base_sha or base
    elif cmp.status in ("behind", "identical"):
        notes.append(
            f"the head {run.head_sha[:12]} adds nothing to the last green commit {green.head_sha[:12]} ({cmp.status})"
        )
        return None
    return _failing_change("push", cmp.change, notes, base_sha=base, head_sha=run.head_sha)


def _failing_change(kind: ChangeKind, read: ChangeFiles, notes: list[str], **fields: Any) -> FailingChange:
    own: list[str] = []
    if read.files_capped:
        own.append(f"only the first {len(read.files)} of {read.total_files} changed files were read")
    if read.patches_dropped:
        own.append(
            f"the patches of {read.patches_dropped} files were left out ({MAX_CHANGE_PATCH_BYTES} bytes of patch text are read at most)"
        )
    what = (
        f"pull request #{fields['number']}"
        if kind == "pull_request"
        else f"the commits since {fields['base_sha'][:12]}"
    )
    notes.append(
        f"the failing change ({what}, {read.total_files} changed files) ranks first in the context sent to the model"
    )
    notes.extend(f"failing change: {n}" for n in own)
    return FailingChange(kind=kind, files=read.files, total_files=read.total_files, notes=own, **fields)


def analyze_triage(
    ctx: Context,
    found: Triage,
    repo: RepoSource | None,
    change: FailingChange | None,
    *,
    past_fix: PastFix | None = None,
) -> Analysis:
    """The engine's analysis of the primary failure ``found`` with the run's settings and backend.

    Used by :func:`run_analyze` and by ``ci-healer analyze --run``. A repository that cannot be
    read (:class:`RepoError`) gives a warning and an analysis without files (root cause, no patch).
    Raises :class:`BackendError` only when the backend cannot be set up.
    """
    options = _options(ctx)
    backend = ctx.backend_factory(repo)
    try:
        return analyze(found, repo=repo, backend=backend, options=options, change=change, past_fix=past_fix)
    except RepoError as err:
        ctx.runner.warning(f"repository files could not be read, so no patch was made: {err}")
        return analyze(
            found,
            repo=None,
            backend=ctx.backend_factory(None),
            options=options,
            change=change,
            past_fix=past_fix,
        )


def _job_url(ctx: Context, job: JobInfo) -> str | None:
    s = ctx.settings
    return (
        job.html_url if job.html_url and job.html_url.startswith(f"{s.server_url}/{s.repository}/") else None
    )


_LOG_TIME = re.compile(rb"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.\d+)?Z ")
_STEP_MARK = re.compile(rb"^(?:\S+Z )?##\[group\](Run .*?)\r?$")


def step_anchor(log: LogDownload, line: int, steps: Sequence[StepInfo]) -> tuple[int, int] | None:
    """``(N, L)`` of GitHub's ``#step:N:L`` job-log anchor for ``line`` of the whole job log, or
    ``None`` when it is not known for sure.

    The job log download has no step numbers, so the step is recovered from the nearest
    ``##[group]Run ...`` line at or above ``line`` (the first line GitHub shows for a ``run:`` or
    ``uses:`` step) and the jobs API's step times: the step whose name is that ``Run ...`` text
    among the steps running within a second of the marker's timestamp, else the only step that
    started by that second and had not ended before it (a step ending in that second is the one
    before). ``L`` counts from the marker line (line 1 of the step). ``None`` when the marker
    is not in the downloaded tail, has no timestamp, or the step is ambiguous.
    """
    lines = log.data.split(b"\n")
    idx = line - log.skipped_lines - 1
    if not 0 <= idx < len(lines):
        return None
    start = next((i for i in range(idx, -1, -1) if _STEP_MARK.match(lines[i])), None)
    if start is None:
        return None
    stamp, mark = _LOG_TIME.match(lines[start]), _STEP_MARK.match(lines[start])
    if stamp is None or mark is None:
        return None
    at = datetime.strptime(stamp.group(1).decode(), "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
    second = timedelta(seconds=1)
    near = [
        st
        for st in steps
        if st.started_at and st.completed_at and st.started_at - second <= at <= st.completed_at + second
    ]
    named = [st for st in near if st.name == mark.group(1).decode("utf-8", "replace").strip()]
    # a marker starts a step: the step that ends in the marker's second is the one before it
    inside = [
        st
        for st in near
        if st.started_at is not None
        and st.completed_at is not None
        and st.started_at <= at
        and (at < st.completed_at or st.started_at == st.completed_at == at)
    ]
    step = named[0] if len(named) == 1 else inside[0] if not named and len(inside) == 1 else None
    return (step.number, idx - start + 1) if step is not None else None


def _failed_jobs(
    ctx: Context, reads: list[JobRead], groups: list[list[JobRead]], skipped: list[JobInfo]
) -> tuple[FailedJob, ...]:
    number = {id(r): n for n, group in enumerate(groups, 1) for r in group}
    out = []
    for r in reads:
        found = r.found
        url = _job_url(ctx, r.job)
        anchor = (
            step_anchor(r.log, found.blocks[0].start_line, r.job.steps)
            if url and r.log and found and found.blocks
            else None
        )
        out.append(
            FailedJob(
                name=r.job.name,
                url=f"{url}#step:{anchor[0]}:{anchor[1]}" if url and anchor else url,
                category=found.classification.category.value if found is not None else None,
                group=number.get(id(r)),
                line=found.blocks[0].start_line if found is not None and found.blocks else None,
                note=r.note,
            )
        )
    out += [
        FailedJob(
            name=j.name,
            url=_job_url(ctx, j),
            note=f"log not read: at most {MAX_JOBS_READ} failed jobs are read",
        )
        for j in skipped
    ]
    return tuple(out)


def _existing_check_run(ctx: Context, head_sha: str) -> int | None:
    try:
        runs = ctx.gh.list_check_runs(head_sha)
    except GitHubError as err:
        ctx.runner.warning(f"could not list check runs: {err}")
        return None
    for cr in runs:
        if read_metadata(cr.summary) is not None:
            return cr.id
    return None


@dataclass
class RunInputs:
    """What :func:`gather_inputs` read for one failed run attempt, before any proposal is made:
    the failed ``jobs`` (GitHub's order), the run's open ``pr`` (``None`` for a push), the
    ``head_repo`` (``owner/name``), the ``green`` run compared with, the ``reads`` of the first
    :data:`MAX_JOBS_READ` failed jobs and the ``skipped`` rest, the failure ``groups`` (primary
    first, never empty), the reads ``compared`` with a green log, the failing ``change`` and the
    ``notes`` about the context (already printed as notices)."""

    jobs: list[JobInfo]
    pr: PullInfo | None
    head_repo: str
    green: RunInfo | None
    reads: list[JobRead]
    skipped: list[JobInfo]
    groups: list[list[JobRead]]
    compared: list[JobRead]
    change: FailingChange | None
    notes: list[str]

    @property
    def primary(self) -> JobRead:
        """The first job of the primary group: the one whose blocks are analyzed."""
        return self.groups[0][0]


def gather_inputs(ctx: Context, run: WorkflowRunData) -> RunInputs | AnalyzeOutcome:
    """Read everything the analysis of failed run ``run`` needs, posting nothing: its failed jobs,
    their logs (green-diffed and triaged), its PR, the last green run and the failing change.
    Returns an :class:`AnalyzeOutcome` instead when there is nothing to analyze (no failed job:
    exit 0) or the jobs or every log could not be read (explained through ``ctx.runner``, exit 1).
    Never raises for API errors. Used by :func:`run_analyze` and by ``ci-healer analyze --run``."""
    s = ctx.settings
    gh = ctx.gh
    try:
        jobs = [j for j in gh.list_jobs(run.id, run.run_attempt) if j.conclusion in ("failure", "timed_out")]
    except GitHubError as err:
        return AnalyzeOutcome(fail(ctx, "could not list the jobs of the failed run", err))
    if not jobs:
        ctx.runner.notice(f"run {run.id} attempt {run.run_attempt} has no failed job: nothing to analyze")
        return AnalyzeOutcome(EXIT_OK)

    pr: PullInfo | None = None
    try:
        pr = gh.find_pull_for_run(_run_info(ctx, run))
    except GitHubError as err:
        ctx.runner.warning(f"could not look up the pull request of the run: {err}")
    head_repo = run.head_repository.full_name if run.head_repository else s.repository
    notes: list[str] = []
    branches: list[tuple[str, str | None]] = [(run.head_branch, head_repo)] if run.head_branch else []
    try:
        base_branch = pr.base_ref if pr is not None else gh.default_branch
    except GitHubError as err:
        ctx.runner.warning(f"could not read the default branch: {err}")
        base_branch = None
    if base_branch and base_branch != run.head_branch:
        branches.append((base_branch, s.repository))
    green = _green_run(ctx, run, branches, notes)
    green_jobs = _green_jobs(ctx, green)

    options = _options(ctx)
    reads = [_read_job(ctx, job, green_jobs.get(job.name), options) for job in jobs[:MAX_JOBS_READ]]
    skipped = jobs[MAX_JOBS_READ:]
    if skipped:
        ctx.runner.notice(
            f"{len(skipped)} more failed jobs were not read (at most {MAX_JOBS_READ}): "
            + ", ".join(j.name for j in skipped)
        )
    groups = _groups(reads)
    if not groups:
        return AnalyzeOutcome(
            fail(
                ctx,
                "no log of a failed job could be read",
                None,
                hint="Grant `actions: read` to the job, and re-run it before the logs expire.",
            )
        )
    compared = [r for r in reads if r.green_dropped is not None]
    if green is not None and not compared:
        notes.append(
            f"green run {green.id} has no readable log of a job named like the failed ones, so the failed logs were read as they are"
        )
    change = _change(ctx, run, pr, green, notes)
    for note in notes:
        ctx.runner.notice(note)
    return RunInputs(jobs, pr, head_repo, green, reads, skipped, groups, compared, change, notes)


def run_analyze(ctx: Context, run: WorkflowRunData, *, status_note: str | None = None) -> AnalyzeOutcome:
    """Analyze failed run ``run`` and post the result. Never raises for API errors: they end in
    a job-summary explanation, one ``::error::`` and exit code 1 (a 403 on the check run or the
    comment is a warning naming the missing permission, and the other one is still posted)."""
    s = ctx.settings
    gh = ctx.gh
    gathered = gather_inputs(ctx, run)
    if isinstance(gathered, AnalyzeOutcome):
        return gathered
    pr, head_repo, green, notes = gathered.pr, gathered.head_repo, gathered.green, gathered.notes
    reads, skipped, groups, compared, change = (
        gathered.reads,
        gathered.skipped,
        gathered.groups,
        gathered.compared,
        gathered.change,
    )
    primary = gathered.primary
    assert primary.found is not None
    job = primary.job

    repo: RepoSource | None = gh.repo_source(run.head_sha)
    rerun = maybe_rerun(ctx, run, gathered)  # flaky or infrastructure: re-run once, no patch
    recalled = (
        recall(ctx, primary.found.classification.fingerprint, run_id=run.id) if rerun is None else Recall()
    )
    started = time.monotonic()
    try:
        if rerun is not None:  # the offline rules name the cause; the model is never called
            analysis = analyze(primary.found, repo=None, backend=RulesBackend(None), options=_options(ctx))
        else:
            analysis = analyze_triage(ctx, primary.found, repo, change, past_fix=recalled.example)
    except BackendError as err:
        return AnalyzeOutcome(fail(ctx, "the proposal backend could not be set up", None, hint=str(err)))
    ledger = analysis_fields(analysis, model=s.backend.model, seconds=time.monotonic() - started)

    proposal_id = proposal_id_for(run.id, analysis)
    fork = pr.is_fork(s.repository) if pr is not None else head_repo.lower() != s.repository.lower()
    found_gates = (
        None
        if rerun is not None
        else gates(ctx, run, analysis, fork=fork, attempts=attempts_made(ctx, pr, recalled.records))
    )
    for extra in (rerun.ledger if rerun else None, recalled.fields, gate_fields(found_gates)):
        ledger = ledger.merged_with(extra)
    status = (
        rerun.status
        if rerun is not None
        else status_for(found_gates, proposal_id, s.approval_command)
        if found_gates
        else None
    )
    meta = RenderMeta(
        proposal_id=proposal_id,
        head_sha=run.head_sha,
        repository=s.repository,
        server_url=s.server_url,
        run_id=run.id,
        run_attempt=run.run_attempt,
        job_id=job.id,
        job_name=job.name,
        log_url=_job_url(ctx, job),
        approval_command=s.approval_command,
        approval_label=s.approval_label,
        fork=fork,
        verification=status_note,
        failed_jobs=_failed_jobs(ctx, reads, groups, skipped),
        green_run=GreenRun(
            run_id=green.id,
            url=green.html_url or None,
            jobs=len(compared),
            dropped=sum(r.green_dropped or 0 for r in compared),
        )
        if green is not None and compared
        else None,
        notes=tuple(notes) + recalled.notes,
    )
    out = AnalyzeOutcome(EXIT_OK, analysis=analysis, proposal_id=proposal_id, pr=pr)
    ctx.runner.append_summary(render_job_summary(analysis, meta))
    for name, value in (
        ("root-cause", analysis.root_cause),
        ("category", analysis.category.value),
        ("risk", analysis.risk.level),
        ("proposal-id", proposal_id),
    ):
        ctx.runner.set_output(name, value)
    if s.dry_run:
        ctx.runner.notice(
            f"dry run: analysis {analysis.status} ({analysis.risk.level} risk); nothing was posted"
        )
        return out

    errors: list[GitHubError] = []
    check = render_check_run(analysis, meta)
    check = check.model_copy(update={"summary": _with_status(with_ledger(check.summary, ledger), status)})
    try:
        out.check_run = gh.upsert_check_run(
            head_sha=run.head_sha,
            title=check.title,
            summary=check.summary,
            text=check.text,
            annotations=annotations_for(analysis, repo),
            existing_id=_existing_check_run(ctx, run.head_sha),
            details_url=meta.log_url,
        )
    except GitHubError as err:
        if err.status == 403:
            ctx.runner.warning(
                f"the check run was not created: {err}. Add `permissions: checks: write` to the job."
            )
        else:
            errors.append(err)
    if pr is not None:
        body = _with_status(with_ledger(render_comment(analysis, meta), ledger), status)
        try:
            out.comment, _ = gh.upsert_comment(pr.number, body, COMMENT_MARKER)
        except GitHubError as err:
            if err.status == 403:
                ctx.runner.warning(
                    f"the PR comment was not posted: {err}. Add `permissions: pull-requests: write` to the job."
                )
            else:
                errors.append(err)
    else:
        ctx.runner.notice(
            "the run has no open pull request: the proposal is in the check run; approve it with a workflow_dispatch run-id"
        )
    if errors:
        out.exit_code = fail(ctx, "posting the analysis failed", errors[0])
        return out
    ctx.runner.notice(
        f"ci-healer: {analysis.status.replace('_', ' ')}, {analysis.risk.level} risk, proposal {proposal_id}"
    )
    if analysis.status == "proposed":
        notify(
            ctx,
            "proposed",
            proposal_id=proposal_id,
            risk=analysis.risk.level,
            root_cause=analysis.root_cause,
            comment_url=out.comment.html_url if out.comment else None,
            run_id=run.id,
        )
    if found_gates:
        out.exit_code = auto_apply(
            ctx,
            run,
            found_gates,
            proposal_id=proposal_id,
            digest=analysis.digest,
            pr=pr,
            comment=out.comment,
            check_run=out.check_run,
        )
    if status_note is None:  # a re-analysis by the verify flow updates the dashboard itself
        update_dashboard(ctx)
    return out


def _with_status(body: str, status: str | None) -> str:
    return set_status(body, status) if status else body


def _run_info(ctx: Context, run: WorkflowRunData) -> RunInfo:
    return RunInfo(
        id=run.id,
        run_attempt=run.run_attempt,
        head_sha=run.head_sha,
        head_branch=run.head_branch,
        head_repository=run.head_repository.full_name if run.head_repository else ctx.settings.repository,
        repository=ctx.settings.repository,
        event=run.event,
        conclusion=run.conclusion,
        workflow_id=run.workflow_id,
        html_url=run.html_url,
        pull_requests=[p.number for p in run.pull_requests],
    )
