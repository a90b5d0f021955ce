"""Past fixes: what happened to earlier proposals for the same failure, read from the ledger.

Before a failure is analyzed, the outcome ledger (:class:`ci_healer.ledger.LedgerReader`, bounded
to the newest :data:`MAX_PULLS` pull requests and :data:`MAX_CHECK_SHAS` commits, cached per
process) is searched for proposals of other runs with the same failure fingerprint
(:func:`ci_healer.classify.fingerprint`, stable across re-runs):

* the newest one whose fix PR was **merged**: the comment says "the same failure was fixed by #456
  on 2026-11-03", and that fix PR's diff (``GET pulls/{n}/files``, at most
  :data:`MAX_EXAMPLE_FILES` files and :data:`MAX_EXAMPLE_CHARS` characters) goes to the model as
  one example (:class:`ci_healer.models.PastFix`), redacted and inside a data fence like every
  other repository text (SECURITY.md item 2), and dropped first when the prompt is over budget;
* the newest one that was **rejected**: the comment says so, naming the proposal id.

Only one example, only merged fixes (a maintainer reviewed and merged that diff). A ledger that
cannot be read is a warning: the analysis goes on without memory.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ci_healer.flow import Context
from ci_healer.github_api import GitHubError
from ci_healer.ledger import LedgerFields, LedgerReader, ProposalRecord
from ci_healer.models import PastFix

MAX_PULLS = 30
"""Pull requests read for the memory (newest first; each costs one comment list)."""
MAX_CHECK_SHAS = 30
"""Commits whose ci-healer check runs are read for the memory."""
MAX_EXAMPLE_FILES = 10
MAX_EXAMPLE_CHARS = 4000
"""Characters of the past fix's diff given to the model at most (cut at a line end, said so)."""


@dataclass(frozen=True)
class Recall:
    """What the ledger knows about a failure: ``notes`` for the comment (plain text, escaped by
    the renderer), the prompt ``example`` (``None`` without a merged fix or its diff), the ledger
    ``fields`` to record (``past_fix_pr``) and the ``records`` of the same fingerprint (newest
    first; the auto-apply attempt gate counts their fix PRs)."""

    notes: tuple[str, ...] = ()
    example: PastFix | None = None
    fields: LedgerFields | None = None
    records: tuple[ProposalRecord, ...] = field(default_factory=tuple)


def same_failure(ctx: Context, fingerprint: str, *, run_id: int | None = None) -> list[ProposalRecord]:
    """Ledger records of ``fingerprint`` from runs other than ``run_id``, newest first. Raises
    :class:`~ci_healer.github_api.GitHubError` when the pull request list cannot be read."""
    if not fingerprint:
        return []
    records = LedgerReader(ctx.gh, max_pulls=MAX_PULLS, max_check_shas=MAX_CHECK_SHAS).records()
    same = [r for r in records if r.fingerprint == fingerprint and (run_id is None or r.run_id != run_id)]
    return same[::-1]


def example_diff(ctx: Context, number: int) -> tuple[str, bool]:
    """The unified diff of fix PR ``number`` (``--- a/``/``+++ b/`` headers and GitHub's hunks per
    file), cut to :data:`MAX_EXAMPLE_CHARS`; returns ``(diff, cut)``."""
    read = ctx.gh.pull_changed_files(number, max_files=MAX_EXAMPLE_FILES, max_patch_bytes=MAX_EXAMPLE_CHARS)
    parts = []
    for f in read.files:
        if not f.patch:
            continue
        old = "/dev/null" if f.status == "added" else f"a/{f.previous_path or f.path}"
        new = "/dev/null" if f.status == "removed" else f"b/{f.path}"
        parts.append(f"--- {old}\n+++ {new}\n{f.patch.rstrip()}\n")
    text = "".join(parts)
    cut = read.files_capped or read.patches_dropped > 0
    if len(text) > MAX_EXAMPLE_CHARS:
        text = text[:MAX_EXAMPLE_CHARS].rsplit("\n", 1)[0] + "\n"
        cut = True
    return text, cut


def recall(ctx: Context, fingerprint: str, *, run_id: int) -> Recall:
    """The :class:`Recall` of ``fingerprint`` for the analysis of run ``run_id``. Never raises for
    API errors (a warning, and an empty recall)."""
    try:
        same = same_failure(ctx, fingerprint, run_id=run_id)
    except GitHubError as err:
        ctx.runner.warning(f"past proposals could not be read, so none is recalled: {err}")
        return Recall()
    notes: list[str] = []
    example: PastFix | None = None
    merged = next((r for r in same if r.merged_at is not None and r.fix_pr_number), None)
    if merged is not None:
        assert merged.fix_pr_number is not None and merged.merged_at is not None
        day = f"{merged.merged_at:%Y-%m-%d}"
        notes.append(f"the same failure was fixed by #{merged.fix_pr_number} on {day}")
        try:
            diff, cut = example_diff(ctx, merged.fix_pr_number)
        except GitHubError as err:
            ctx.runner.warning(
                f"the diff of fix pull request #{merged.fix_pr_number} could not be read: {err}"
            )
            diff, cut = "", False
        if diff.strip():
            example = PastFix(pr_number=merged.fix_pr_number, merged_on=day, diff=diff, cut=cut)
    rejected = next((r for r in same if r.rejected_at is not None), None)
    if rejected is not None:
        assert rejected.rejected_at is not None
        notes.append(
            f"a proposal for the same failure ({rejected.proposal_id}) was rejected on {rejected.rejected_at:%Y-%m-%d}"
        )
    fields = LedgerFields(past_fix_pr=merged.fix_pr_number) if merged is not None else None
    return Recall(tuple(notes), example, fields, tuple(same))
