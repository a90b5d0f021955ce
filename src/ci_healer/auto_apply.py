"""Opt-in auto-apply: a proposal that passes every gate gets its fix PR without waiting for approval.

Input ``auto-apply: low`` (default ``off``). After the analysis is posted, :func:`gates` decides;
only when ALL hold is the proposal applied (SECURITY.md item 24):

1. ``patch`` — a patch was proposed and shown (status ``proposed``, a diff);
2. ``risk`` — its risk badge is low (:mod:`ci_healer.risk`: fewer than 10 changed lines in ordinary
   source files; a dependency manifest is medium, CI configuration high);
3. ``no-cheating`` — no finding that the patch hides the failure (:class:`ci_healer.models.Cheat`:
   a skipped or weakened test, a lint-disable comment, a loosened threshold);
4. ``confidence`` — the backend's confidence is at least ``auto-apply-confidence`` (default 0.8);
5. ``category`` — the failure category is in ``auto-apply-categories`` (default
   ``format,lint,type-check``: :class:`ci_healer.models.Category` values);
6. ``not-fork`` — the run is not from a fork (nothing is ever pushed for a fork PR, item 14);
7. ``not-default-branch`` — the failing branch is not the repository's default branch;
8. ``attempts`` — the fix attempts already made for this failure are below ``max-attempts``: the
   attempt of the fix PR the run belongs to (a failure on an ``ai-fix/`` branch), or the fix PRs of
   proposals with the same fingerprint in the ledger, whichever is more.

The apply itself is :func:`ci_healer.apply_fix.apply_proposal` with source ``auto``: the same
checks as an approval from step 2 on (the proposal read back from ci-healer's own comment and check
run, digest, copy check, head SHA, patch and policy again), a NEW ``ai-fix/`` branch and a PR into
the failing branch. It never merges and never pushes to the failing branch. The approver check
(step 1 of an approval) is replaced by the gates: there is no human to check.

The comment's and check run's status line lists every gate with pass or fail; the ledger records
them (``auto_apply_gates``) and, when the fix PR is opened, ``auto_applied_at``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from ci_healer.events import Apply, WorkflowRunData
from ci_healer.flow import Context, Refused, read_fix_metadata, set_status
from ci_healer.github_api import CheckRunInfo, CommentInfo, GitHubError, PullInfo
from ci_healer.ledger import LedgerFields, ProposalRecord, with_ledger
from ci_healer.models import Analysis
from ci_healer.render import inline_code
from ci_healer.repo import RepoError


@dataclass(frozen=True)
class Gate:
    """One auto-apply condition: its ``name``, whether it ``passed`` and ``detail`` (safe markdown)."""

    name: str
    passed: bool
    detail: str


def attempts_made(ctx: Context, pr: PullInfo | None, records: Sequence[ProposalRecord]) -> int:
    """Fix attempts already made for this failure: the attempt number of ci-healer's fix PR ``pr``
    (the run failed on its ``ai-fix/`` branch), or the fix PRs among ``records`` (same
    fingerprint, other runs), whichever is more."""
    chain = 0
    if pr is not None and pr.user == ctx.gh.bot_login:
        fix = read_fix_metadata(pr.body)
        chain = fix.attempt if fix is not None else 0
    return max(chain, sum(1 for r in records if r.fix_pr_number is not None))


def gates(
    ctx: Context,
    run: WorkflowRunData,
    analysis: Analysis,
    *,
    fork: bool,
    attempts: int,
) -> list[Gate] | None:
    """Every gate of the module docstring for ``analysis`` of ``run`` (``None`` when auto-apply is
    off). ``fork``: the run's head repository is not this one; ``attempts``: :func:`attempts_made`.
    Reads the default branch (a failure to read it fails that gate)."""
    s = ctx.settings
    if s.auto_apply == "off":
        return None
    proposed = analysis.status == "proposed" and bool(analysis.diff)
    category = analysis.category.value
    allowed = ", ".join(inline_code(c) for c in s.auto_apply_categories) or "none"
    branch = run.head_branch or ""
    try:
        default = ctx.gh.default_branch
        on_default = branch == default
        branch_detail = (
            f"the failing branch {inline_code(branch)} is the default branch"
            if on_default
            else f"the failing branch {inline_code(branch)} is not the default branch {inline_code(default)}"
        )
    except GitHubError as err:
        on_default = True
        branch_detail = f"the default branch could not be read ({ctx.escape(str(err))})"
    confidence = f"{analysis.confidence:.2f}"
    threshold = f"{s.auto_apply_confidence:.2f}"
    return [
        Gate(
            "patch",
            proposed,
            "a patch was proposed"
            if proposed
            else f"no patch to apply (status {inline_code(analysis.status)})",
        ),
        Gate("risk", analysis.risk.level == "low", f"risk is {analysis.risk.level}"),
        Gate(
            "no-cheating",
            not analysis.cheats,
            "no finding that the patch hides the failure"
            if not analysis.cheats
            else f"{len(analysis.cheats)} finding(s) that the patch hides the failure",
        ),
        Gate(
            "confidence",
            analysis.confidence >= s.auto_apply_confidence,
            f"confidence {confidence} {'≥' if analysis.confidence >= s.auto_apply_confidence else '<'} {threshold}",
        ),
        Gate(
            "category",
            category in s.auto_apply_categories,
            f"category {inline_code(category)} {'is' if category in s.auto_apply_categories else 'is not'} in {allowed}",
        ),
        Gate("not-fork", not fork, "the run is from a fork" if fork else "the run is not from a fork"),
        Gate("not-default-branch", not on_default, branch_detail),
        Gate(
            "attempts",
            attempts < s.max_attempts,
            f"{attempts} fix attempt(s) made, {'below' if attempts < s.max_attempts else 'not below'} max-attempts {s.max_attempts}",
        ),
    ]


def gate_fields(found: Sequence[Gate] | None) -> LedgerFields | None:
    """The ledger fields of ``found`` (``auto_apply_gates``), ``None`` when auto-apply is off."""
    return None if found is None else LedgerFields(auto_apply_gates={g.name: g.passed for g in found})


def gate_list(found: Sequence[Gate]) -> str:
    """The gates as a markdown list, one ``✅``/``❌`` line each."""
    return "\n".join(f"- {'✅' if g.passed else '❌'} {g.name}: {g.detail}" for g in found)


def status_for(found: Sequence[Gate], proposal_id: str, approval_command: str) -> str:
    """The status line posted with the analysis: every gate passed (the fix PR is being opened),
    or which failed and that the proposal waits for approval."""
    if all(g.passed for g in found):
        head = "🤖 Auto-apply (`auto-apply: low`): every gate passed, so ci-healer opens the fix pull request itself."
    else:
        failed = ", ".join(g.name for g in found if not g.passed)
        head = f"🤖 Not auto-applied (`auto-apply: low`): gate(s) {failed} failed. " + (
            f"A maintainer can still approve it with {inline_code(f'{approval_command} {proposal_id}')}."
            if found[0].passed
            else ""
        )
    return f"{head.strip()}\n\n{gate_list(found)}"


def _rewrite(
    ctx: Context,
    comment: CommentInfo | None,
    check_run: CheckRunInfo | None,
    status: str,
    fields: LedgerFields | None,
) -> None:
    """Set ``status`` and merge ``fields`` into ci-healer's comment and check run (warnings on failure)."""
    if comment is not None:
        try:
            current = ctx.gh.get_comment(comment.id)
            ctx.gh.update_comment(current.id, set_status(with_ledger(current.body, fields), status))
        except GitHubError as err:
            ctx.runner.warning(f"could not update the proposal comment: {err}")
    if check_run is not None:
        try:
            cr = ctx.gh.get_check_run(check_run.id)
            ctx.gh.update_check_summary(
                cr.id, title=cr.title, summary=set_status(with_ledger(cr.summary, fields), status)
            )
        except GitHubError as err:
            ctx.runner.warning(f"could not update the check run: {err}")


def auto_apply(
    ctx: Context,
    run: WorkflowRunData,
    found: Sequence[Gate],
    *,
    proposal_id: str,
    digest: str,
    pr: PullInfo | None,
    comment: CommentInfo | None,
    check_run: CheckRunInfo | None,
) -> int:
    """Apply proposal ``proposal_id`` (patch ``digest``) of ``run`` when every gate in ``found`` passed, through the
    approval's code path; then write the final status (fix PR and gates) and ``auto_applied_at``.
    Returns the exit code: 0 when nothing was due, applied, or refused (the status line says
    why); 1 for an API failure during apply (explained in the job summary)."""
    from ci_healer.apply_fix import apply_proposal

    if not found or not all(g.passed for g in found) or ctx.settings.dry_run:
        return 0
    act = Apply(
        "auto",
        ctx.gh.bot_login,
        True,
        pr_number=pr.number if pr is not None else None,
        run_id=run.id,
        proposal_id=proposal_id,
    )
    try:
        code = apply_proposal(ctx, act)
    except Refused as refusal:
        ctx.runner.warning(f"auto-apply of proposal {proposal_id} stopped: {refusal}")
        status = f"🤖 Auto-apply stopped: {refusal}\n\n{gate_list(found)}"
        _rewrite(ctx, comment, check_run, status, None)
        return 0
    except (GitHubError, RepoError) as err:
        from ci_healer.analyze_run import fail

        ctx.runner.warning(f"auto-apply of proposal {proposal_id} failed: {err}")
        status = (
            f"🤖 Auto-apply failed: a GitHub API call failed ({ctx.escape(str(err))}). "
            f"Approve the proposal to finish it: nothing is applied twice.\n\n{gate_list(found)}"
        )
        _rewrite(ctx, comment, check_run, status, None)
        if isinstance(err, GitHubError):
            return fail(ctx, "auto-applying the fix failed", err)
        return fail(
            ctx, "auto-applying the fix failed: the repository could not be read", None, hint=str(err)
        )
    branch = f"ai-fix/{run.id}-{digest[:8]}"  # apply_fix.fix_branch of this proposal
    fix_pr = None
    try:
        fix_pr = ctx.gh.find_pull_by_branch(branch)
    except GitHubError as err:
        ctx.runner.warning(f"could not read the fix pull request of {branch}: {err}")
    where = f" <{ctx.pr_url(fix_pr.number)}>" if fix_pr is not None else ""
    status = (
        f"🤖 Auto-applied (`auto-apply: low`, no human approval): fix pull request{where} "
        f"(branch {inline_code(branch)}). ci-healer never merges: review it "
        f"and merge it yourself. Every gate passed:\n\n{gate_list(found)}"
    )
    _rewrite(ctx, comment, check_run, status, LedgerFields(auto_applied_at=datetime.now(UTC)))
    return code
