"""Verify flow: a run on an ``ai-fix/`` branch completed → say on the original proposal whether
the fix turned CI green.

The fix PR is found by its head branch; its body's first line holds :class:`FixMetadata`
(written by :mod:`ci_healer.apply_fix`, trusted only when the PR was opened by ci-healer's own
login) naming the original comment and check run and the attempt number. On success both get
"fix verified: CI passed". On failure they get "fix did not pass"; the new failure is analysed
(and posted on the fix PR) only while ``attempt < max-attempts`` — over the cap the proposal
backend is never built, so the model is never called (SECURITY.md item 17).

Only a run of ci-healer's own commit verifies (SECURITY.md item 20): the run's head repository must
be this repository (a fork can push a branch named like the fix branch, and its run reaches the
``workflow_run`` trigger of the base repository), and its head SHA must be the commit ci-healer
created (``fix_sha`` in the fix PR's metadata) — or the fix PR's current head when that descends
from ci-healer's commit (a maintainer pushed a follow-up), which the status line then says.
"""

from __future__ import annotations

from ci_healer.dashboard import update_dashboard
from ci_healer.events import WorkflowRunData
from ci_healer.flow import EXIT_OK, AnalyzeFlow, Context, fail, read_fix_metadata, set_origin_status
from ci_healer.github_api import GitHubError
from ci_healer.notify import notify
from ci_healer.render import inline_code

MAX_DESCENT = 50
"""Commits walked back from a run's head looking for ci-healer's commit (follow-ups on a fix PR)."""


def _descends(ctx: Context, sha: str, ancestor: str) -> bool:
    """True when ``ancestor`` is reachable from ``sha`` in at most :data:`MAX_DESCENT` first-parent
    steps (``GET git/commits/{sha}``)."""
    for _ in range(MAX_DESCENT):
        if sha == ancestor:
            return True
        _, parents = ctx.gh.get_commit_info(sha)
        if not parents:
            return False
        sha = parents[0]
    return sha == ancestor


def _whose_run(ctx: Context, run: WorkflowRunData, pr, fix) -> str | None:
    """Why ``run`` cannot verify the fix (``None`` when it can; ``""`` for ci-healer's own commit,
    else a note that it ran on a descendant)."""
    head_repo = run.head_repository.full_name if run.head_repository else ""
    if head_repo.lower() != ctx.settings.repository.lower():
        return f"its head repository is {head_repo or 'unknown'}, not {ctx.settings.repository}"
    if fix.fix_sha is None:
        return "the fix pull request does not record ci-healer's commit"
    if run.head_sha == fix.fix_sha:
        return None
    if run.head_sha == pr.head_sha and _descends(ctx, run.head_sha, fix.fix_sha):
        return None
    return f"its head {run.head_sha[:12]} is not ci-healer's commit {fix.fix_sha[:12]} or the fix pull request's head descending from it"


def run_verify(ctx: Context, run: WorkflowRunData, *, analyze: AnalyzeFlow) -> int:
    """Run the verify flow for the completed run ``run`` on an ``ai-fix/`` branch; a new failure
    under the attempt cap is handed to ``analyze`` (the analyze flow, injected by the caller)."""
    branch = run.head_branch or ""
    try:
        pr = ctx.gh.find_pull_by_branch(branch)
    except GitHubError as err:
        return fail(ctx, "could not find the fix pull request", err)
    fix = read_fix_metadata(pr.body) if pr is not None and pr.user == ctx.gh.bot_login else None
    if pr is None or fix is None:
        ctx.runner.notice(f"no ci-healer fix pull request for branch {branch}: nothing to verify")
        return EXIT_OK
    try:
        refused = _whose_run(ctx, run, pr, fix)
    except GitHubError as err:
        return fail(ctx, "could not read the commits of the fix branch", err)
    if refused is not None:
        ctx.runner.warning(
            f"run {run.id} on {branch} does not verify ci-healer's fix: {refused}; nothing was changed"
        )
        return EXIT_OK
    cap = ctx.settings.max_attempts
    run_link = f"<{ctx.run_url(run.id)}>"
    on = (
        ""
        if run.head_sha == fix.fix_sha
        else (
            f" on {inline_code(run.head_sha[:12])}, a later commit of the fix pull request that descends from ci-healer's commit "
            f"{inline_code((fix.fix_sha or '')[:12])}"
        )
    )
    if run.conclusion == "success":
        status = f"✅ fix verified: CI passed on the fix pull request <{ctx.pr_url(pr.number)}>{on} (run {run_link}, attempt {fix.attempt} of {cap})."
        if not ctx.settings.dry_run:
            set_origin_status(ctx, fix, status)
        ctx.runner.append_summary(f"### ci-healer: fix verified\n\n{status}\n")
        ctx.runner.notice(f"fix verified: CI passed on {branch}")
        notify(
            ctx,
            "verified",
            proposal_id=fix.proposal_id,
            message="CI passed on the fix pull request",
            run_id=run.id,
            fix_pr_number=pr.number,
            attempt=fix.attempt,
        )
        update_dashboard(ctx)
        return EXIT_OK

    notify(
        ctx,
        "failed",
        proposal_id=fix.proposal_id,
        message="CI failed on the fix pull request",
        run_id=run.id,
        fix_pr_number=pr.number,
        attempt=fix.attempt,
    )

    if fix.attempt >= cap:
        status = (
            f"❌ fix did not pass: CI failed on the fix pull request <{ctx.pr_url(pr.number)}> (run {run_link}). "
            f"Attempt {fix.attempt} of {cap}: ci-healer stops proposing for this failure."
        )
        if not ctx.settings.dry_run:
            set_origin_status(ctx, fix, status)
        ctx.runner.append_summary(f"### ci-healer: fix did not pass\n\n{status}\n")
        ctx.runner.notice(
            f"fix on {branch} did not pass; attempt cap {cap} reached, the model was not called"
        )
        update_dashboard(ctx)
        return EXIT_OK

    outcome = analyze(ctx, run, status_note=f"attempt {fix.attempt + 1} of {cap}")
    cause = (
        ctx.escape(outcome.analysis.root_cause)
        if outcome.analysis is not None
        else "the new failure could not be analysed"
    )
    new = (
        f" New proposal {inline_code(outcome.proposal_id)} on the fix pull request."
        if outcome.proposal_id and outcome.analysis and outcome.analysis.status == "proposed"
        else ""
    )
    status = (
        f"❌ fix did not pass: CI failed on the fix pull request <{ctx.pr_url(pr.number)}> (run {run_link}).\n\n"
        f"New failure: {cause}{new}"
    )
    if not ctx.settings.dry_run:
        set_origin_status(ctx, fix, status)
    update_dashboard(ctx)
    return outcome.exit_code
