"""Verify flow: a run on an ``ai-fix/`` branch completed → say on the original proposal whether
the fix turned CI green.

The fix PR is found by its head branch; its body's first line holds :class:`FixMetadata`
(written by :mod:`ci_healer.apply_fix`, trusted only when the PR was opened by ci-healer's own
login) naming the original comment and check run and the attempt number. On success both get
"fix verified: CI passed". On failure they get "fix did not pass"; the new failure is analysed
(and posted on the fix PR) only while ``attempt < max-attempts`` — over the cap the proposal
backend is never built, so the model is never called (SECURITY.md item 17).
"""

from __future__ import annotations

from ci_healer.analyze_run import fail, run_analyze
from ci_healer.apply_fix import _set_origin_status
from ci_healer.events import WorkflowRunData
from ci_healer.flow import EXIT_OK, Context, read_fix_metadata
from ci_healer.github_api import GitHubError
from ci_healer.render import inline_code


def run_verify(ctx: Context, run: WorkflowRunData) -> int:
    """Run the verify flow for the completed run ``run`` on an ``ai-fix/`` branch."""
    branch = run.head_branch or ""
    try:
        pr = ctx.gh.find_pull_by_branch(branch)
    except GitHubError as err:
        return fail(ctx, "could not find the fix pull request", err)
    fix = read_fix_metadata(pr.body) if pr is not None and pr.user == ctx.gh.bot_login else None
    if pr is None or fix is None:
        ctx.runner.notice(f"no ci-healer fix pull request for branch {branch}: nothing to verify")
        return EXIT_OK
    cap = ctx.settings.max_attempts
    run_link = f"<{ctx.run_url(run.id)}>"
    if run.conclusion == "success":
        status = f"✅ fix verified: CI passed on the fix pull request <{ctx.pr_url(pr.number)}> (run {run_link}, attempt {fix.attempt} of {cap})."
        if not ctx.settings.dry_run:
            _set_origin_status(ctx, fix, status)
        ctx.runner.append_summary(f"### ci-healer: fix verified\n\n{status}\n")
        ctx.runner.notice(f"fix verified: CI passed on {branch}")
        return EXIT_OK

    if fix.attempt >= cap:
        status = (f"❌ fix did not pass: CI failed on the fix pull request <{ctx.pr_url(pr.number)}> (run {run_link}). "
                  f"Attempt {fix.attempt} of {cap}: ci-healer stops proposing for this failure.")
        if not ctx.settings.dry_run:
            _set_origin_status(ctx, fix, status)
        ctx.runner.append_summary(f"### ci-healer: fix did not pass\n\n{status}\n")
        ctx.runner.notice(f"fix on {branch} did not pass; attempt cap {cap} reached, the model was not called")
        return EXIT_OK

    outcome = run_analyze(ctx, run, status_note=f"attempt {fix.attempt + 1} of {cap}")
    cause = ctx.escape(outcome.analysis.root_cause) if outcome.analysis is not None else "the new failure could not be analysed"
    new = f" New proposal {inline_code(outcome.proposal_id)} on the fix pull request." if outcome.proposal_id and outcome.analysis and outcome.analysis.status == "proposed" else ""
    status = (f"❌ fix did not pass: CI failed on the fix pull request <{ctx.pr_url(pr.number)}> (run {run_link}).\n\n"
              f"New failure: {cause}{new}")
    if not ctx.settings.dry_run:
        _set_origin_status(ctx, fix, status)
    return outcome.exit_code
