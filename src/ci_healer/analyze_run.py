"""Analyze flow: a failed workflow run → one check run, one PR comment, job summary and outputs.

Steps: jobs of the failed run attempt → logs of the failed jobs (streamed, tail kept under
``max-log-bytes``) → :func:`ci_healer.engine.analyze` with a :class:`GitHubRepoSource` at the head
SHA (nothing is checked out, no subprocess) → check run ``ci-healer`` (conclusion ``neutral``) on
the head SHA, and one comment on the run's PR found by marker and bot login, both carrying the
proposal id, head SHA and diff digest as hidden metadata (:mod:`ci_healer.render`).

``proposal_id`` is ``<run_id>-<digest[:8]>`` when there is a diff, else
``<run_id>-<fingerprint[:8]>``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ci_healer.backends.base import BackendError
from ci_healer.engine import AnalyzeOptions, analyze
from ci_healer.events import WorkflowRunData
from ci_healer.flow import EXIT_FAILURE, EXIT_OK, Context, render_md
from ci_healer.github_api import (
    CheckRunInfo,
    CommentInfo,
    GitHubError,
    JobInfo,
    LogDownload,
    PullInfo,
)
from ci_healer.models import Analysis
from ci_healer.policy import PolicyConfig
from ci_healer.render import (
    COMMENT_MARKER,
    RenderMeta,
    read_metadata,
    render_check_run,
    render_comment,
    render_job_summary,
)
from ci_healer.repo import RepoError, RepoSource

MAX_JOBS_READ = 5
"""Failed jobs whose logs are read at most, in the order GitHub lists them."""
ANNOTATION_MESSAGE_LIMIT = 60_000
_FILE_LINE = re.compile(r"(?<![\w./-])((?:[\w.-]+/)*[\w.-]+\.[A-Za-z0-9]{1,8})(?::|\", line |\(|, line )(\d{1,7})\b")


@dataclass
class AnalyzeOutcome:
    """What the analyze flow did: its exit code and, when it got that far, the analysis and where
    it was posted."""

    exit_code: int
    analysis: Analysis | None = None
    proposal_id: str | None = None
    pr: PullInfo | None = None
    comment: CommentInfo | None = None
    check_run: CheckRunInfo | None = None


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
            out.append({
                "path": path, "start_line": line, "end_line": line, "annotation_level": "warning",
                "title": f"ci-healer: {analysis.category.value}", "message": message,
            })
            if len(out) >= limit:
                return out
    return out


def _shift(analysis: Analysis, lines: int) -> Analysis:
    """Add ``lines`` (dropped from the head of the log) to every block's line numbers."""
    if not lines:
        return analysis
    blocks = [b.model_copy(update={"start_line": b.start_line + lines, "end_line": b.end_line + lines}) for b in analysis.blocks]
    return analysis.model_copy(update={"blocks": blocks, "lines_total": analysis.lines_total + lines})


def _pick_log(ctx: Context, jobs: list[JobInfo]) -> tuple[JobInfo, LogDownload] | None:
    """The first failed job whose log has any text (the extractor finds a block in every non-empty
    log), else the first readable one; the log is extracted once, later, by the engine."""
    first: tuple[JobInfo, LogDownload] | None = None
    for job in jobs[:MAX_JOBS_READ]:
        try:
            log = ctx.gh.download_log(job.id, max_bytes=ctx.settings.max_log_bytes)
        except GitHubError as err:
            reason = "the logs expired" if err.status == 410 else str(err)
            ctx.runner.warning(f"log of job {job.name} could not be read: {reason}")
            continue
        if log.data.strip():
            return job, log
        if first is None:
            first = (job, log)
    return first


def _analyze(ctx: Context, log: bytes, repo: RepoSource | None) -> Analysis:
    options = AnalyzeOptions(
        max_tokens=ctx.settings.max_block_tokens,
        secrets=ctx.secrets,
        policy=PolicyConfig(protected_paths=ctx.settings.protected_paths, allowed_paths=ctx.settings.allowed_paths),
    )
    backend = ctx.backend_factory(repo)
    try:
        return analyze(log, repo=repo, backend=backend, options=options)
    except RepoError as err:
        ctx.runner.warning(f"repository files could not be read, so no patch was made: {err}")
        return analyze(log, repo=None, backend=ctx.backend_factory(None), options=options)


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


def run_analyze(ctx: Context, run: WorkflowRunData, *, status_note: str | None = None) -> AnalyzeOutcome:
    """Analyze failed run ``run`` and post the result. Never raises for API errors: they end in
    a job-summary explanation, one ``::error::`` and exit code 1 (a 403 on the check run or the
    comment is a warning naming the missing permission, and the other one is still posted)."""
    s = ctx.settings
    gh = ctx.gh
    try:
        jobs = [j for j in gh.list_jobs(run.id, run.run_attempt) if j.conclusion in ("failure", "timed_out")]
    except GitHubError as err:
        return AnalyzeOutcome(fail(ctx, "could not list the jobs of the failed run", err))
    if not jobs:
        ctx.runner.notice(f"run {run.id} attempt {run.run_attempt} has no failed job: nothing to analyze")
        return AnalyzeOutcome(EXIT_OK)
    picked = _pick_log(ctx, jobs)
    if picked is None:
        return AnalyzeOutcome(fail(ctx, "no log of a failed job could be read", None,
                                   hint="Grant `actions: read` to the job, and re-run it before the logs expire."))
    job, log = picked

    repo: RepoSource | None = gh.repo_source(run.head_sha)
    try:
        analysis = _shift(_analyze(ctx, log.data, repo), log.skipped_lines)
    except BackendError as err:
        return AnalyzeOutcome(fail(ctx, "the proposal backend could not be set up", None, hint=str(err)))
    if log.truncated:
        ctx.runner.notice(f"the log of job {job.name} was {log.total_bytes} bytes; its first {log.skipped_lines} lines were skipped (max-log-bytes)")

    proposal_id = proposal_id_for(run.id, analysis)
    pr: PullInfo | None = None
    try:
        pr = gh.find_pull_for_run(_run_info(ctx, run))
    except GitHubError as err:
        ctx.runner.warning(f"could not look up the pull request of the run: {err}")
    head_repo = run.head_repository.full_name if run.head_repository else s.repository
    fork = pr.is_fork(s.repository) if pr is not None else head_repo.lower() != s.repository.lower()
    meta = RenderMeta(
        proposal_id=proposal_id,
        head_sha=run.head_sha,
        repository=s.repository,
        server_url=s.server_url,
        run_id=run.id,
        run_attempt=run.run_attempt,
        job_id=job.id,
        job_name=job.name,
        log_url=job.html_url if job.html_url and job.html_url.startswith(f"{s.server_url}/{s.repository}/") else None,
        approval_command=s.approval_command,
        approval_label=s.approval_label,
        fork=fork,
        verification=status_note,
    )
    out = AnalyzeOutcome(EXIT_OK, analysis=analysis, proposal_id=proposal_id, pr=pr)
    ctx.runner.append_summary(render_job_summary(analysis, meta))
    for name, value in (("root-cause", analysis.root_cause), ("category", analysis.category.value),
                        ("risk", analysis.risk.level), ("proposal-id", proposal_id)):
        ctx.runner.set_output(name, value)
    if s.dry_run:
        ctx.runner.notice(f"dry run: analysis {analysis.status} ({analysis.risk.level} risk); nothing was posted")
        return out

    errors: list[GitHubError] = []
    check = render_check_run(analysis, meta)
    try:
        out.check_run = gh.upsert_check_run(
            head_sha=run.head_sha, title=check.title, summary=check.summary, text=check.text,
            annotations=annotations_for(analysis, repo), existing_id=_existing_check_run(ctx, run.head_sha),
            details_url=meta.log_url,
        )
    except GitHubError as err:
        if err.status == 403:
            ctx.runner.warning(f"the check run was not created: {err}. Add `permissions: checks: write` to the job.")
        else:
            errors.append(err)
    if pr is not None:
        body = render_comment(analysis, meta)
        try:
            out.comment, _ = gh.upsert_comment(pr.number, body, COMMENT_MARKER)
        except GitHubError as err:
            if err.status == 403:
                ctx.runner.warning(f"the PR comment was not posted: {err}. Add `permissions: pull-requests: write` to the job.")
            else:
                errors.append(err)
    else:
        ctx.runner.notice("the run has no open pull request: the proposal is in the check run; approve it with a workflow_dispatch run-id")
    if errors:
        out.exit_code = fail(ctx, "posting the analysis failed", errors[0])
        return out
    ctx.runner.notice(f"ci-healer: {analysis.status.replace('_', ' ')}, {analysis.risk.level} risk, proposal {proposal_id}")
    return out


def _run_info(ctx: Context, run: WorkflowRunData):
    from ci_healer.github_api import RunInfo

    return RunInfo(
        id=run.id, run_attempt=run.run_attempt, head_sha=run.head_sha, head_branch=run.head_branch,
        head_repository=run.head_repository.full_name if run.head_repository else ctx.settings.repository,
        repository=ctx.settings.repository, event=run.event, conclusion=run.conclusion, workflow_id=run.workflow_id,
        html_url=run.html_url, pull_requests=[p.number for p in run.pull_requests],
    )


def fail(ctx: Context, what: str, err: GitHubError | None, *, hint: str | None = None) -> int:
    """Explain a failure in the job summary, print one ``::error::`` and return exit code 1."""
    detail = str(err) if err is not None else ""
    if hint is None and err is not None:
        if err.permission:
            hint = f"Add `permissions: {err.permission}` to the job that runs ci-healer."
        elif err.status == 404:
            hint = "The object was not found: check that the run, PR or commit still exists and that the token can see this repository."
        elif err.status == 422:
            hint = "GitHub refused the request as invalid; the message above says which field."
        elif err.status >= 500 or err.status == 0:
            hint = "GitHub did not answer after retries; re-run the job later."
    ctx.runner.append_summary(render_md("action_error.md.j2", what=ctx.escape(what), detail=ctx.escape(detail), hint=ctx.escape(hint or "")))
    ctx.runner.error(f"ci-healer: {what}" + (f": {detail}" if detail else ""))
    return EXIT_FAILURE
