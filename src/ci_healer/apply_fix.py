"""Apply flow: a maintainer's approval → exactly the shown diff on a new ``ai-fix/`` branch + a PR.

Checks, in order (SECURITY.md items 6–8, 13, 14, 19, 23), each refusal replied on the PR with exit 0:

1. the approver is not a bot (unless listed in ``allowed-bots``) and has ``admin``, ``maintain`` or
   ``write`` collaborator permission, read from the API (``author_association`` is not trusted);
   for a label the *sender* is checked and the label is removed either way (a failure to remove it
   is a warning, never a replacement for the answer);
2. the proposal is read ONLY from ci-healer's own comment (marker + bot login) or check run
   (name + app); the id typed after the command, if any, must be the current proposal's;
3. it is an approvable patch (``status`` proposed and ``patch_shown``);
4. the diff re-read from that body (:func:`ci_healer.render.read_diff`) hashes to the digest in the
   metadata, else "digest mismatch";
5. a comment's proposal equals ci-healer's check run of the same proposal id, which only ci-healer
   can write — else the comment was edited (item 19);
6. a bare command or the label is newer than the proposal it would apply (item 23);
7. the PR head (or the branch tip) is still the head SHA of the metadata, else stale;
8. the diff applies with :func:`ci_healer.patch.patch_from_diff` at that SHA and passes the policy again.

Then: fork PRs get review suggestions (or a ``git apply`` block) and nothing is pushed; other PRs
get a Git Data API commit whose only parent is the head SHA, a NEW ref
``refs/heads/ai-fix/<run_id>-<digest8>`` (never updated, never forced, never the default or the
failing branch), a PR into the failing branch, and a ``workflow_dispatch`` of the failed workflow
on the fix branch (pushes made with ``GITHUB_TOKEN`` start no workflow run). These writes are a
recoverable sequence (item 21): when the fix branch already holds ci-healer's commit (same tree,
head SHA as only parent), a re-run or a new approval opens the missing PR and sets the status line;
a fix branch holding anything else is refused and never overwritten.

API failures end in exit 1 with the cause in the job summary, a reply to the approver and the
``confused`` reaction on the command.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from ci_healer.dashboard import update_dashboard
from ci_healer.events import Apply, Reject
from ci_healer.flow import (
    EXIT_OK,
    Context,
    FixMetadata,
    Refused,
    embed_fix_metadata,
    fail,
    read_fix_metadata,
    render_md,
    set_origin_status,
    set_status,
    withdraw,
)
from ci_healer.github_api import (
    WRITE_PERMISSIONS,
    CheckRunInfo,
    CommentInfo,
    GitHubError,
    PullInfo,
    validate_fix_ref,
)
from ci_healer.ledger import read_ledger
from ci_healer.markers import REPLY_MARKER
from ci_healer.notify import notify
from ci_healer.patch import ProposalError, diff_digest, parse_patch, patch_from_diff
from ci_healer.policy import PolicyConfig, check_patch
from ci_healer.render import (
    COMMENT_MARKER,
    ProposalMetadata,
    fence,
    inline_code,
    read_diff,
    read_metadata,
    risk_label,
)
from ci_healer.repo import MODE_EXECUTABLE, MODE_FILE, RepoError


@dataclass
class _Proposal:
    """A proposal found in ci-healer's own body."""

    meta: ProposalMetadata
    body: str
    diff: str
    comment: CommentInfo | None
    check_run: CheckRunInfo | None


# ------------------------------------------------------------------------------------ helpers


def reply(ctx: Context, pr_number: int | None, icon: str, message: str, details: str = "") -> None:
    """Post a short reply on the PR (or only the job summary when there is none)."""
    body = render_md("action_reply.md.j2", marker=REPLY_MARKER, icon=icon, message=message, details=details)
    ctx.runner.append_summary(body.split("\n", 1)[1])
    if pr_number is None or ctx.settings.dry_run:
        return
    try:
        ctx.gh.create_comment(pr_number, body)
    except GitHubError as err:
        ctx.runner.warning(f"could not reply on the pull request: {err}")


def _react(ctx: Context, comment_id: int | None, content: str) -> None:
    if comment_id is None or ctx.settings.dry_run:
        return
    try:
        ctx.gh.react(comment_id, content)
    except GitHubError as err:
        ctx.runner.warning(f"could not add the {content} reaction: {err}")


def check_approver(ctx: Context, login: str, is_bot: bool) -> str:
    """The approver's collaborator permission; raises :class:`Refused` unless it allows writing."""
    if is_bot and login not in ctx.settings.allowed_bots:
        raise Refused(
            f"{inline_code(login)} is a bot, and bots may not approve fixes unless listed in `allowed-bots`.",
            code="bot",
        )
    permission = ctx.gh.permission(login)
    if permission not in WRITE_PERMISSIONS:
        raise Refused(
            f"{inline_code(login)} has {inline_code(permission)} permission; approving a fix needs write, maintain or admin.",
            code="permission",
        )
    return permission


def _find_check_run(
    ctx: Context, head_sha: str, *, run_id: int | None = None
) -> tuple[CheckRunInfo, ProposalMetadata] | None:
    for cr in ctx.gh.list_check_runs(head_sha):
        meta = read_metadata(cr.summary)
        if meta is not None and (run_id is None or meta.run_id == run_id):
            return cr, meta
    return None


def _proposal_from(
    body: str, comment: CommentInfo | None, check_run: CheckRunInfo | None, wanted: str | None
) -> _Proposal:
    meta = read_metadata(body)
    if meta is None:
        raise Refused("there is no ci-healer proposal here to apply.", code="no_proposal")
    if wanted is not None and wanted != meta.proposal_id:
        raise Refused(
            f"proposal {inline_code(wanted)} is not the current proposal ({inline_code(meta.proposal_id)}); approve the one shown.",
            code="unknown_proposal",
        )
    if meta.status != "proposed" or not meta.patch_shown or not meta.digest:
        why = {
            "no_patch": "it has no patch",
            "withheld": "its patch was withheld by policy",
            "failed": "the analysis failed",
        }.get(meta.status, "its patch is not shown (too large, or rejected)")
        raise Refused(
            f"proposal {inline_code(meta.proposal_id)} cannot be applied: {why}.", code="not_approvable"
        )
    diff = read_diff(body)
    if diff is None or diff_digest(diff) != meta.digest:
        raise Refused(
            "digest mismatch: the diff in ci-healer's comment is not the one it proposed (the comment was edited). "
            "Nothing was applied; re-run the failed workflow to get a fresh proposal.",
            code="digest_mismatch",
        )
    return _Proposal(meta, body, diff, comment, check_run)


# ------------------------------------------------------------------------------------ fork PRs


def suggestions(diff: str, commentable: dict[str, set[int]]) -> list[dict] | None:
    """Review comments with ```` ```suggestion ```` blocks reproducing ``diff`` on the PR head, or
    ``None`` when some hunk touches lines outside the PR diff (GitHub only accepts review
    comments on lines of the diff)."""
    comments: list[dict] = []
    for pf in parse_patch(diff):
        lines_ok = commentable.get(pf.path, set())
        for hunk in pf.hunks:
            lines = list(hunk)
            changed = [i for i, ln in enumerate(lines) if ln.is_added or ln.is_removed]
            if not changed:
                continue
            lo, hi = changed[0], changed[-1]
            if not any(lines[i].is_removed for i in range(lo, hi + 1)):
                # pure insertion: anchor on the context line before (or after) it
                if lo > 0 and lines[lo - 1].source_line_no is not None:
                    lo -= 1
                elif hi + 1 < len(lines) and lines[hi + 1].source_line_no is not None:
                    hi += 1
                else:
                    return None
            span = lines[lo : hi + 1]
            src = [ln.source_line_no for ln in span if ln.source_line_no is not None]
            if not src or any(n not in lines_ok for n in src):
                return None
            new_text = "".join(ln.value for ln in span if not ln.is_removed)
            comment = {
                "path": pf.path,
                "line": max(src),
                "side": "RIGHT",
                "body": fence(new_text, "suggestion"),
            }
            if min(src) != max(src):
                comment.update(start_line=min(src), start_side="RIGHT")
            comments.append(comment)
    return comments


def _offer_to_fork(ctx: Context, pr: PullInfo, proposal: _Proposal) -> None:
    try:
        found = suggestions(proposal.diff, ctx.gh.pull_file_lines(pr.number))
    except GitHubError as err:
        ctx.runner.warning(f"could not read the PR diff for suggestions: {err}")
        found = None
    if found:
        ctx.gh.create_review(
            pr.number,
            commit_sha=proposal.meta.head_sha,
            comments=found,
            body=f"ci-healer: proposal {inline_code(proposal.meta.proposal_id)} as suggestions (fork pull request: nothing was pushed).",
        )
        reply(
            ctx,
            pr.number,
            "💡",
            f"this pull request comes from a fork, so nothing was pushed; proposal {inline_code(proposal.meta.proposal_id)} was posted as review suggestions.",
        )
        return
    reply(
        ctx,
        pr.number,
        "💡",
        f"this pull request comes from a fork, so nothing was pushed; apply proposal {inline_code(proposal.meta.proposal_id)} yourself:",
        render_md("action_fork_patch.md.j2", fence=fence(proposal.diff, "diff")).strip(),
    )


# ------------------------------------------------------------------------------------ the flow


def run_apply(ctx: Context, act: Apply) -> int:
    """Run the apply flow for ``act``. Returns the exit code: 0 for success and for refusals
    (replied on the PR), 1 for API failures (explained in the job summary, replied on the PR, and
    the command gets the ``confused`` reaction)."""
    if act.source == "comment":
        _react(ctx, act.comment_id, "eyes")
    try:
        try:
            check_approver(ctx, act.actor, act.actor_is_bot)
        finally:
            _remove_label(ctx, act)
        result = _apply(ctx, act)
    except Refused as refusal:
        ctx.runner.notice(f"approval by {act.actor} refused ({refusal.code})")
        reply(ctx, act.pr_number, "⛔", f"not applied: {refusal}")
        _react(ctx, act.comment_id, "confused")
        return EXIT_OK
    except (GitHubError, RepoError) as err:
        _react(ctx, act.comment_id, "confused")
        return _api_failure(ctx, act, err)
    _react(ctx, act.comment_id, "rocket")
    return result


def _remove_label(ctx: Context, act: Apply) -> None:
    """Remove the approval label (it is a request, granted or not). A failure is a warning naming
    the cause; it never hides the decision on the approval itself."""
    if act.source != "label" or act.pr_number is None or not act.label or ctx.settings.dry_run:
        return
    try:
        ctx.gh.remove_label(act.pr_number, act.label)
    except GitHubError as err:
        ctx.runner.warning(f"could not remove the {act.label} label: {err}")


def _api_failure(ctx: Context, act: Apply, err: GitHubError | RepoError) -> int:
    """An API failure during apply: the precise cause in the job summary (exit 1) and a reply to
    the approver, so the approval does not go unanswered."""
    gh_err = err if isinstance(err, GitHubError) else None
    status = gh_err.status if gh_err is not None else getattr(err, "status", 0)
    permission = gh_err.permission if gh_err is not None else getattr(err, "permission", None)
    if permission:
        what_next = f"the workflow must grant `{permission}`."
    elif status >= 500 or status == 0:
        what_next = (
            "GitHub did not answer; approve again (or re-run this job) to finish: nothing is applied twice."
        )
    else:
        what_next = "see the job summary of this run."
    reply(
        ctx,
        act.pr_number,
        "⚠️",
        f"not applied: a GitHub API call failed ({ctx.escape(str(err))}); {what_next}",
    )
    if gh_err is not None:
        return fail(ctx, "applying the fix failed", gh_err)
    return fail(ctx, "applying the fix failed: the repository could not be read", None, hint=str(err)[:500])


def _time(value: str | None) -> datetime | None:
    """GitHub's ISO 8601 time (``2025-01-01T10:00:00Z``) or ``None``."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def fix_branch(meta: ProposalMetadata) -> str:
    """``ai-fix/<run_id>-<digest8>``: the fix branch of a proposal, built only from the run id and
    the digest (SECURITY.md item 13)."""
    return f"ai-fix/{meta.run_id or 0}-{meta.digest[:8]}"


def _check_not_older(ctx: Context, act: Apply, proposal: _Proposal) -> None:
    """A bare command or the label must be newer than the proposal it would apply (SECURITY.md
    item 23): a command written before ci-healer replaced the proposal approves the one its author
    read, not the new one. The proposal time is the last time ci-healer wrote its comment
    (``updated_at``; edits by anyone else are refused by :func:`_check_copy`). Times come from
    GitHub, to the second; a command of the same second is refused too."""
    if act.proposal_id is not None or proposal.comment is None:
        return
    asked, proposed = _time(act.requested_at), _time(proposal.comment.updated_at)
    if asked is None or proposed is None or asked > proposed:
        return
    if ctx.gh.branch_sha(fix_branch(proposal.meta)) is not None:
        # this very proposal was already approved (its fix branch exists) and ci-healer's status
        # line made the comment newer: a re-run of that approval finishes it, it approves nothing new
        return
    what = "label was added" if act.source == "label" else "command was written"
    raise Refused(
        f"the {what} at {asked:%Y-%m-%d %H:%M:%S} UTC, before the current proposal {inline_code(proposal.meta.proposal_id)} "
        f"was posted ({proposed:%Y-%m-%d %H:%M:%S} UTC), so it may approve a proposal its author did not see. "
        f"To apply the current one, comment {inline_code(ctx.settings.approval_command + ' ' + proposal.meta.proposal_id)}.",
        code="older_than_proposal",
    )


def _check_copy(ctx: Context, proposal: _Proposal) -> CheckRunInfo:
    """The comment's proposal must be the one in ci-healer's check run (SECURITY.md item 19).

    Any writer can edit any comment, including the diff and the digest in its hidden metadata; a
    check run's output can be written only by the app that created it. So the check run of the same
    proposal id on the same head SHA must hold the same digest, status, root cause and ``patch_shown``; else the
    comment was edited and is refused. Returns that check run; raises :class:`Refused`.
    """
    meta = proposal.meta
    for cr in ctx.gh.list_check_runs(meta.head_sha):
        copy = read_metadata(cr.summary)
        if copy is None or copy.proposal_id != meta.proposal_id:
            continue
        if (
            copy.digest != meta.digest
            or copy.status != meta.status
            or copy.root_cause != meta.root_cause  # shown again in the fix PR body
            or not copy.patch_shown
        ):
            break
        return cr
    else:
        raise Refused(
            f"ci-healer's check run for proposal {inline_code(meta.proposal_id)} was not found on {inline_code(meta.head_sha[:12])}, "
            "so the comment cannot be checked against a copy only ci-healer can write. Nothing was applied; grant `checks: write` "
            "to the analysis job and re-run the failed workflow.",
            code="no_check_copy",
        )
    raise Refused(
        f"the comment was edited: its proposal {inline_code(meta.proposal_id)} differs from ci-healer's check run for that "
        "proposal (which only ci-healer can write). Nothing was applied; re-run the failed workflow to get a fresh proposal.",
        code="edited",
    )


def _apply(ctx: Context, act: Apply) -> int:
    gh, s = ctx.gh, ctx.settings
    pr: PullInfo | None = None
    check: CheckRunInfo | None = None
    current_sha: str | None
    if act.pr_number is not None:
        pr = gh.get_pull(act.pr_number)
        comment = gh.find_own_comment(pr.number, COMMENT_MARKER)
        if comment is None:
            raise Refused("there is no ci-healer proposal on this pull request.", code="no_proposal")
        proposal = _proposal_from(comment.body, comment, None, act.proposal_id)
        check = _check_copy(ctx, proposal)
        _check_not_older(ctx, act, proposal)
        current_sha, failing_branch = pr.head_sha, pr.head_ref
    else:
        assert act.run_id is not None
        try:
            run = gh.get_run(act.run_id)
        except GitHubError as err:
            if err.status != 404:
                raise
            run = None
        if run is None or run.repository.lower() != s.repository.lower():
            raise Refused(
                f"run {act.run_id} is not a workflow run of {inline_code(s.repository)}.", code="unknown_run"
            )
        found = _find_check_run(ctx, run.head_sha, run_id=run.id)
        if found is None:
            raise Refused(
                f"run {act.run_id} has no ci-healer proposal in its check runs.", code="no_proposal"
            )
        check = found[0]
        proposal = _proposal_from(found[0].summary, None, found[0], act.proposal_id)
        pr = gh.find_pull_for_run(run)
        if pr is not None:
            current_sha, failing_branch = pr.head_sha, pr.head_ref
        else:
            failing_branch = run.head_branch or ""
            current_sha = gh.branch_sha(failing_branch) if failing_branch else None
    meta = proposal.meta
    if current_sha != meta.head_sha:
        raise Refused(
            f"the proposal is stale: it was computed for {inline_code(meta.head_sha[:12])} but the branch is now at "
            f"{inline_code((current_sha or 'nothing')[:12])}. Re-run the analysis (re-run the failed workflow) to get a fresh proposal.",
            code="stale",
        )

    repo = gh.repo_source(meta.head_sha)
    try:
        patch = patch_from_diff(proposal.diff, repo)
    except ProposalError as err:
        raise Refused(
            f"the patch no longer applies ({err.code}): {ctx.escape(str(err))}", code="does_not_apply"
        ) from None
    new_files = {f.path: f.new_text for f in patch.files}
    violations = check_patch(
        patch, repo, PolicyConfig(protected_paths=s.protected_paths, allowed_paths=s.allowed_paths)
    )
    if violations:
        codes = ", ".join(sorted({inline_code(v.code) for v in violations}))
        raise Refused(f"the patch breaks the safety policy ({codes}).", code="policy")

    if pr is not None and pr.is_fork(s.repository):
        if s.dry_run:
            ctx.runner.notice("dry run: fork pull request, the patch would be offered as suggestions")
            return EXIT_OK
        _offer_to_fork(ctx, pr, proposal)
        return EXIT_OK

    run_id = meta.run_id or 0
    branch = fix_branch(meta)
    try:
        ref = validate_fix_ref(branch, default_branch=gh.default_branch, failing_branch=failing_branch)
    except ValueError as err:
        raise Refused(ctx.escape(str(err)), code="bad_ref") from None
    if s.dry_run:
        ctx.runner.notice(f"dry run: would create {branch} and open a pull request into {failing_branch}")
        return EXIT_OK

    files: dict[str, tuple[str, str]] = {}
    for path, text in new_files.items():
        entry = repo.entry(path)
        files[path] = (
            entry.mode if entry is not None and entry.mode in (MODE_FILE, MODE_EXECUTABLE) else MODE_FILE,
            text,
        )
    if repo.tree_sha is None:  # pragma: no cover - patch_from_diff always reads the tree
        repo.list_paths()
    # The steps below are a recoverable sequence (SECURITY.md item 21): blobs and the tree are
    # content-addressed, so the tree SHA says what ci-healer's commit contains; a fix branch that
    # already exists is finished (pull request, status line, CI) when its tip is such a commit, and
    # refused, never overwritten, when it points at anything else.
    tree_sha = gh.create_tree(base_tree_sha=str(repo.tree_sha), files=files)
    existing = gh.branch_sha(branch)
    if existing is None:
        commit_sha = gh.create_commit(
            tree_sha=tree_sha,
            parent_sha=meta.head_sha,
            message=f"ci-healer: apply proposal {meta.proposal_id}\n\n{_approval_words(act)}. Patch digest {meta.digest}.",
        )
        gh.create_ref(ref, commit_sha)
    else:
        if gh.get_commit_info(existing) != (tree_sha, [meta.head_sha]):
            raise Refused(
                f"branch {inline_code(branch)} exists but does not hold ci-healer's commit for this proposal; "
                "ci-healer never overwrites a branch. Delete the branch to apply the proposal again.",
                code="foreign_ref",
            )
        commit_sha = existing
        done = gh.find_pull_by_branch(branch, state="all")
        if done is not None and done.user == gh.bot_login:
            fix_meta = read_fix_metadata(done.body)
            if fix_meta is not None:
                set_origin_status(
                    ctx,
                    fix_meta,
                    _applied_status(ctx, fix_meta_actor(done.body) or act.actor, done.number, branch),
                )
            raise Refused(
                f"this proposal was already applied: branch {inline_code(branch)}, fix pull request <{ctx.pr_url(done.number)}>.",
                code="already_applied",
            )
        ctx.runner.notice(
            f"branch {branch} already holds ci-healer's commit {commit_sha[:12]}: finishing the pull request"
        )

    # where the fix came from, and which attempt this is
    parent = read_fix_metadata(pr.body) if pr is not None and pr.user == gh.bot_login else None
    if check is None:
        check = (_find_check_run(ctx, meta.head_sha, run_id=meta.run_id) or (None, None))[0]
    fix_meta = FixMetadata(
        proposal_id=meta.proposal_id,
        origin_pr=parent.origin_pr if parent else (pr.number if pr else None),
        origin_comment_id=parent.origin_comment_id
        if parent
        else (proposal.comment.id if proposal.comment else None),
        origin_check_run_id=parent.origin_check_run_id if parent else (check.id if check else None),
        origin_run_id=parent.origin_run_id if parent else meta.run_id,
        base_sha=meta.head_sha,
        digest=meta.digest,
        attempt=(parent.attempt + 1) if parent else 1,
        fix_sha=commit_sha,
    )

    ledger = read_ledger(proposal.body)  # risk: the ledger fields the analyze flow wrote
    risk = ledger.risk if ledger is not None else None
    body = render_md(
        "action_fix_pr.md.j2",
        metadata=embed_fix_metadata(fix_meta).rstrip("\n"),
        failing=inline_code(failing_branch),
        digest=inline_code(meta.digest),
        base_sha=inline_code(meta.head_sha[:12]),
        root_cause=ctx.escape(meta.root_cause) if meta.root_cause.strip() else "see the proposal",
        risk=risk_label(risk) if risk else "see the proposal",
        approver=AUTO_APPROVER if act.source == "auto" else inline_code(act.actor),
        run_url=ctx.run_url(run_id),
    )
    fix_pr = gh.create_pull(
        title=f"ci-healer: fix for run {run_id} ({meta.digest[:8]})",
        body=body,
        head=branch,
        base=failing_branch,
    )
    fix_url = ctx.pr_url(fix_pr.number)
    ci_note = _dispatch(ctx, run_id, branch)
    if ci_note:
        reply(ctx, fix_pr.number, "ℹ️", ci_note)
    ctx.runner.set_output("fix-branch", branch)
    ctx.runner.set_output("fix-pr-url", fix_url)
    applied = (
        f"🤖 Auto-applied: fix pull request <{fix_url}> (branch {inline_code(branch)})."
        if act.source == "auto"
        else _applied_status(ctx, act.actor, fix_pr.number, branch)
    )
    set_origin_status(ctx, fix_meta, applied)
    ctx.runner.append_summary(
        f"### ci-healer applied proposal {inline_code(meta.proposal_id)}\n\nFix pull request: <{fix_url}>\n"
    )
    ctx.runner.notice(f"fix pull request opened: {fix_url}")
    notify(
        ctx,
        "applied",
        proposal_id=meta.proposal_id,
        risk=risk,
        root_cause=meta.root_cause,
        message=_approval_words(act).lower(),
        run_id=run_id,
        fix_pr_number=fix_pr.number,
        attempt=fix_meta.attempt,
    )
    update_dashboard(ctx)
    return EXIT_OK


AUTO_APPROVER = "nobody: auto-applied (`auto-apply: low`, every gate passed)"
"""The fix PR body's approver line for ``source == "auto"`` (no login: the ledger records no approver)."""


def _approval_words(act: Apply) -> str:
    """``Approved by <login>``, or ``Auto-applied (auto-apply: low, every gate passed)``."""
    return (
        "Auto-applied (auto-apply: low, every gate passed)"
        if act.source == "auto"
        else f"Approved by {act.actor}"
    )


def apply_proposal(ctx: Context, act: Apply) -> int:
    """Steps 2–8 of the module docstring and the writes, without the approver check: for
    :mod:`ci_healer.auto_apply`, whose gates replace it. Raises :class:`Refused`,
    :class:`~ci_healer.github_api.GitHubError` or :class:`~ci_healer.repo.RepoError`."""
    return _apply(ctx, act)


def _applied_status(ctx: Context, actor: str, number: int, branch: str) -> str:
    return f"🚀 Approved by {inline_code(actor)}: fix pull request <{ctx.pr_url(number)}> (branch {inline_code(branch)})."


def fix_meta_actor(body: str) -> str | None:
    """The approver named in a fix PR body written by ci-healer (``**Approved by:** `login```)."""
    m = re.search(r"^\*\*Approved by:\*\* `([^`\n]{1,100})`", body or "", flags=re.MULTILINE)
    return m.group(1) if m else None


def _dispatch(ctx: Context, run_id: int, branch: str) -> str:
    """Start the failed workflow on the fix branch; returns a note for the fix PR ('' when started).

    A dispatch is never repeated after a failure: a repeated dispatch starts a second workflow run,
    and there is nothing to look up to know whether the first one was carried out."""
    app_hint = (
        "Pushes and pull requests made with the run token start no workflow runs. To get CI on fix pull requests, "
        "pass a GitHub App installation token as `github-token`, or add a `workflow_dispatch` trigger to the workflow."
    )
    try:
        workflow_id = ctx.gh.get_run(run_id).workflow_id
    except GitHubError as err:
        ctx.runner.warning(f"could not start CI on {branch}: {err}")
        return (
            f"CI was not started on this branch: the failed run could not be read ({ctx.escape(str(err))}). "
            + app_hint
        )
    if workflow_id is None:
        return app_hint
    try:
        ctx.gh.dispatch_workflow(workflow_id, branch)
        return ""
    except GitHubError as err:
        ctx.runner.warning(f"could not start CI on {branch}: {err}")
        if err.status == 422:
            return (
                "The failed workflow has no `workflow_dispatch` trigger, so CI was not started on this branch. "
                + app_hint
            )
        if err.status == 403:
            return (
                f"CI was not started on this branch: the token lacks `{err.permission or 'actions: write'}`. "
                + app_hint
            )
        return (
            "CI may not have started on this branch: GitHub did not answer the dispatch, and ci-healer does not repeat it "
            "(a second dispatch would start a second run). If no run appears, close and reopen this pull request."
        )


def run_reject(ctx: Context, act: Reject) -> int:
    """``/reject-fix`` by a writer: the proposal is marked rejected and can no longer be applied.

    Both copies are withdrawn — the comment and ci-healer's check run of the proposal — so editing
    the comment back cannot revive a rejected proposal (the apply step compares the two, SECURITY.md
    item 19). Who may reject is checked like who may approve (write, maintain or admin; bots only
    when allow-listed)."""
    _react(ctx, act.comment_id, "eyes")
    try:
        check_approver(ctx, act.actor, act.actor_is_bot)
        comment = ctx.gh.find_own_comment(act.pr_number, COMMENT_MARKER)
        meta = read_metadata(comment.body) if comment else None
        if comment is None or meta is None:
            raise Refused("there is no ci-healer proposal on this pull request.", code="no_proposal")
        if act.proposal_id is not None and act.proposal_id != meta.proposal_id:
            raise Refused(
                f"proposal {inline_code(act.proposal_id)} is not the current proposal.",
                code="unknown_proposal",
            )
        if not ctx.settings.dry_run:
            status = f"🚫 Rejected by {inline_code(act.actor)}; this proposal can no longer be applied."
            ctx.gh.update_comment(comment.id, set_status(withdraw(comment.body), status))
            for cr in ctx.gh.list_check_runs(meta.head_sha):
                copy = read_metadata(cr.summary)
                if copy is not None and copy.proposal_id == meta.proposal_id:
                    ctx.gh.update_check_summary(
                        cr.id, title=cr.title, summary=set_status(withdraw(cr.summary), status)
                    )
    except Refused as refusal:
        reply(ctx, act.pr_number, "⛔", f"not rejected: {refusal}")
        _react(ctx, act.comment_id, "confused")
        return EXIT_OK
    except GitHubError as err:
        _react(ctx, act.comment_id, "confused")
        reply(
            ctx,
            act.pr_number,
            "⚠️",
            f"not rejected: a GitHub API call failed ({ctx.escape(str(err))}); comment the command again to retry.",
        )
        return fail(ctx, "rejecting the proposal failed", err)
    _react(ctx, act.comment_id, "+1")
    ctx.runner.notice(f"proposal {meta.proposal_id} rejected by {act.actor}")
    update_dashboard(ctx)
    return EXIT_OK
