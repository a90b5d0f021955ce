"""Flaky and infrastructure failures: re-run the failed jobs once instead of proposing a patch,
and record a later attempt that passed.

**Re-run** (input ``rerun-flaky: true``, needs ``actions: write``). When every failed job of the
run attempt was read and triaged (at most :data:`ci_healer.analyze_run.MAX_JOBS_READ`; an unread
job may be anything) and each one is classified as a runner or transient failure —
``flaky_suspect`` (registry 5xx, connection reset, DNS failure, runner lost:
:mod:`ci_healer.classify` rules 1 and 5), or category ``infrastructure`` or ``out-of-memory`` (an
OOM-killed runner) — ci-healer asks GitHub to re-run the failed jobs
(``POST /repos/{owner}/{repo}/actions/runs/{run_id}/rerun-failed-jobs``, GitHub REST "Re-run
failed jobs from a workflow run") and posts its check run and comment saying so, with a root cause
from the offline rules and no patch: the model is never called.

At most once per run: only run attempt 1 is re-run. The re-run arrives as ``run_attempt`` 2 (the
workflow run's attempt counter, GitHub docs "Re-running workflows and jobs"); if it fails again it
is analyzed as usual and never re-run. A 403 (the token lacks ``actions: write``) is a warning that
names the permission, and the failure is analyzed as usual; so is any other API error (a 5xx is not
repeated: a second request could start a second attempt).

**Passed on re-run.** A ``workflow_run`` completed with conclusion ``success`` and
``run_attempt`` above 1 (the example workflow lets it through its ``if:``) is matched to
ci-healer's check run of the same run id on the same head SHA. Found, its check run and comment
get the status "flaky: passed on re-run" and the ledger fields ``rerun_passed_at`` (the outcome
``passed_on_rerun``) and ``flaky`` (:mod:`ci_healer.ledger`): the same fingerprint failed and then
passed on the same head SHA. Whether ci-healer or a maintainer started the re-run, the status says.
Nothing of ci-healer's for that run: nothing is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from ci_healer.events import WorkflowRunData
from ci_healer.flow import EXIT_OK, Context, set_status
from ci_healer.github_api import GitHubError
from ci_healer.ledger import LedgerFields, read_ledger, with_ledger
from ci_healer.models import Category
from ci_healer.render import COMMENT_MARKER, read_metadata

if TYPE_CHECKING:  # the analyze flow imports this module
    from ci_healer.analyze_run import RunInputs

RERUN_CATEGORIES = frozenset({Category.INFRASTRUCTURE, Category.OUT_OF_MEMORY})
"""Categories re-run even without the ``flaky_suspect`` flag: failures of the runner, not the code."""


@dataclass(frozen=True)
class RerunDecision:
    """What the analyze flow posts when the failed jobs were re-run: the ``status`` line and the
    ``ledger`` fields (``rerun_at``)."""

    status: str
    ledger: LedgerFields


def transient(inputs: RunInputs) -> bool:
    """True when every failed job of the attempt was read and each is a suspected flaky or a
    runner failure (:data:`RERUN_CATEGORIES`); False when any job was not read or is anything else."""
    if inputs.skipped or not inputs.reads:
        return False
    for read in inputs.reads:
        found = read.found
        if found is None:
            return False
        c = found.classification
        if not (c.flaky_suspect or c.category in RERUN_CATEGORIES):
            return False
    return True


def maybe_rerun(ctx: Context, run: WorkflowRunData, inputs: RunInputs) -> RerunDecision | None:
    """Re-run the failed jobs of ``run`` when ``rerun-flaky`` is on, the failure is
    :func:`transient` and this is run attempt 1. Returns what to post, or ``None`` to analyze as
    usual (off, not transient, a later attempt, dry run, or the request failed: a warning says why).
    Never raises for API errors."""
    s = ctx.settings
    if not s.rerun_flaky or not transient(inputs):
        return None
    if run.run_attempt != 1:
        ctx.runner.notice(
            f"run {run.id} attempt {run.run_attempt} failed again in a way that is usually transient; "
            "ci-healer re-runs a run once only (attempt 1), so this failure is analyzed"
        )
        return None
    if s.dry_run:
        ctx.runner.notice(
            f"dry run: the failed jobs of run {run.id} would be re-run (flaky or infrastructure)"
        )
        return None
    try:
        ctx.gh.rerun_failed_jobs(run.id)
    except GitHubError as err:
        if err.status == 403:
            ctx.runner.warning(
                f"the failed jobs were not re-run: {err}. Add `permissions: actions: write` to the job "
                "(rerun-flaky needs it); the failure is analyzed instead."
            )
        else:
            ctx.runner.warning(f"the failed jobs were not re-run: {err}; the failure is analyzed instead.")
        return None
    ctx.runner.notice(f"run {run.id}: the failed jobs were re-run once (flaky or infrastructure failure)")
    status = (
        f"🔁 Re-ran the failed jobs once (run attempt {run.run_attempt + 1} of <{ctx.run_url(run.id)}>): "
        "every failed job failed in a way that is usually transient (infrastructure or a suspected flaky "
        "failure), so no patch is proposed. If the re-run fails too, ci-healer analyzes it; it never "
        "re-runs a run twice."
    )
    return RerunDecision(status, LedgerFields(rerun_at=datetime.now(UTC)))


def _mark(body: str, status: str, fields: LedgerFields) -> str:
    return set_status(with_ledger(body, fields), status)


def run_rerun_passed(ctx: Context, run: WorkflowRunData) -> int:
    """Record that attempt ``run.run_attempt`` of ``run`` passed (see the module docstring).
    Returns the exit code: 0, also when ci-healer analyzed no earlier attempt of the run; API
    failures are warnings (the record is a note, never worth a failed job)."""
    from ci_healer.analyze_run import _run_info

    gh = ctx.gh
    try:
        checks = [
            cr
            for cr in gh.list_check_runs(run.head_sha)
            if (meta := read_metadata(cr.summary)) is not None and meta.run_id == run.id
        ]
    except GitHubError as err:
        ctx.runner.warning(f"could not list the check runs of {run.head_sha[:12]}: {err}")
        return EXIT_OK
    if not checks:
        ctx.runner.notice(
            f"run {run.id} passed on attempt {run.run_attempt}; ci-healer analyzed no earlier attempt of it"
        )
        return EXIT_OK
    ours = any((read_ledger(cr.summary) or LedgerFields()).rerun_at is not None for cr in checks)
    who = "the re-run ci-healer started" if ours else "a re-run of the same commit"
    status = (
        f"✅ flaky: passed on re-run — attempt {run.run_attempt} of <{ctx.run_url(run.id)}> ({who}) passed on "
        f"the same commit {run.head_sha[:12]}, so the failure above was flaky and needs no patch."
    )
    fields = LedgerFields(rerun_passed_at=datetime.now(UTC), flaky=True)
    if ctx.settings.dry_run:
        ctx.runner.notice(f"dry run: run {run.id} passed on re-run; nothing was posted")
        return EXIT_OK
    for cr in checks:
        try:
            gh.update_check_summary(cr.id, title=cr.title, summary=_mark(cr.summary, status, fields))
        except GitHubError as err:
            ctx.runner.warning(f"could not update the check run: {err}")
    try:
        pr = gh.find_pull_for_run(_run_info(ctx, run))
        comment = gh.find_own_comment(pr.number, COMMENT_MARKER) if pr is not None else None
        meta = read_metadata(comment.body) if comment is not None else None
        if comment is not None and meta is not None and meta.run_id == run.id:
            gh.update_comment(comment.id, _mark(comment.body, status, fields))
    except GitHubError as err:
        ctx.runner.warning(f"could not update the proposal comment: {err}")
    ctx.runner.append_summary(f"### ci-healer: flaky: passed on re-run\n\n{status}\n")
    ctx.runner.notice(f"run {run.id}: flaky: passed on re-run (attempt {run.run_attempt})")
    return EXIT_OK
