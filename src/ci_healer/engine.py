"""The analysis pipeline: log → failure blocks → redaction → classification → context → proposal
→ diff → policy → risk.

Pure orchestration: the log, the repository and the backend are passed in, so the whole pipeline
runs offline in tests and in the CLI. Nothing here raises for bad model output or a bad patch: every
such outcome is an :class:`~ci_healer.models.Analysis` with ``status`` ``failed`` or ``withheld`` and a
message that says why.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import BinaryIO, NotRequired, TypedDict, TypeVar

from ci_healer import context as repo_context
from ci_healer.backends.base import Backend, BackendError, RepairingBackend
from ci_healer.backends.rules import RulesBackend
from ci_healer.classify import classify
from ci_healer.extract import extract
from ci_healer.greendiff import drop_green_lines
from ci_healer.models import (
    Analysis,
    AnalysisStatus,
    Block,
    Category,
    ChangedFile,
    Classification,
    ContextFile,
    FailingChange,
    FileEdit,
    PastFix,
    Proposal,
    ProposalRequest,
    Redactions,
    Usage,
    Violation,
)
from ci_healer.patch import ProposalError, build_patch
from ci_healer.policy import PolicyConfig, check_edits_paths, check_patch, detect_cheats, review_patch
from ci_healer.redact import Redactor
from ci_healer.repo import RepoSource
from ci_healer.risk import assess
from ci_healer.tokens import estimate_tokens

LogSource = bytes | str | os.PathLike[str] | BinaryIO
_T = TypeVar("_T", Block, ContextFile)


@dataclass(frozen=True)
class AnalyzeOptions:
    """Knobs of one analysis.

    ``max_tokens``: budget of the failure blocks (estimated tokens, see :mod:`ci_healer.tokens`).
    ``secrets``: literal values (LLM key, GitHub token) redacted wherever they appear.
    ``policy``: path and size policy of SECURITY.md items 9–12.
    ``confidence_threshold``: proposals below it are at least medium risk.
    ``context_bytes``: cap on repository file text sent to the backend.
    ``green_budget_factor``: when the last green run's log is subtracted, the blocks may use up to
    this many times ``max_tokens``: the diff leaves mostly the failure, so a long failure (a list
    of compiler errors, a long trace) fits whole while the usual one stays small. Measured on the
    46 CiDiff cases with a passing log (``python bench/greendiff.py``): 95.7% of labels hit at
    1,500 tokens, 97.8% at 6,000, both at a median of 490 tokens (p95 2,976 at 6,000). The
    prompt builder still keeps the whole request within ``max-prompt-tokens``.
    ``lenient_edits``: accept an edit whose ``original`` is not verbatim in the file by the lenient
    rules of :func:`ci_healer.patch.build_patch` (off: exact quotes only).
    ``repair_round``: ask a :class:`~ci_healer.backends.base.RepairingBackend` once for corrected
    edits when they do not apply (off: the first failure is final). Both are on in the product;
    ``bench/models.py --no-fuzzy --no-repair`` turns them off to measure what they add.
    """

    max_tokens: int = 1500
    secrets: Sequence[str | None] = ()
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    confidence_threshold: float = 0.6
    context_bytes: int = 24_000
    green_budget_factor: int = 4
    lenient_edits: bool = True
    repair_round: bool = True


def _redact_texts(redactor: Redactor, items: Sequence[_T]) -> tuple[list[_T], Redactions]:
    """Redact the ``text`` field of every block or file window; return the copies and the counts."""
    total = Redactions()
    out: list[_T] = []
    for item in items:
        text, counts = redactor.redact(item.text)
        total = total.merge(counts)
        out.append(item.model_copy(update={"text": text}))
    return out, total


def changed_lines(change: FailingChange) -> dict[str, list[int]]:
    """Head-side (``+``) line numbers of each file of ``change`` whose patch GitHub gave, parsed
    with unidiff; an unparseable patch gives no lines for that file (its path still counts)."""
    from unidiff.errors import UnidiffParseError
    from unidiff.patch import PatchSet

    out: dict[str, list[int]] = {}
    for f in change.files:
        if not f.patch:
            continue
        try:
            patched = PatchSet(f"--- a/{f.path}\n+++ b/{f.path}\n{f.patch}\n")
        except UnidiffParseError:
            continue
        lines = [
            ln.target_line_no
            for pf in patched
            for hunk in pf
            for ln in hunk
            if ln.is_added and ln.target_line_no
        ]
        if lines:
            out[f.path] = lines
    return out


def redact_change(redactor: Redactor, change: FailingChange) -> tuple[FailingChange, Redactions]:
    """``change`` with every path and patch redacted (a diff may add a secret), and the counts."""
    total = Redactions()
    files: list[ChangedFile] = []
    for f in change.files:
        patch, counts = redactor.redact(f.patch)
        path, path_counts = redactor.redact(f.path)
        total = total.merge(counts).merge(path_counts)
        files.append(f.model_copy(update={"patch": patch, "path": path}))
    return change.model_copy(update={"files": files}), total


def build_request(
    blocks: Sequence[Block],
    classification: Classification,
    repo: RepoSource | None,
    *,
    redactor: Redactor,
    context_bytes: int,
    change: FailingChange | None = None,
    past_fix: PastFix | None = None,
) -> tuple[ProposalRequest, Redactions]:
    """Assemble the redacted :class:`ProposalRequest` for ``blocks`` (already redacted).

    ``change``: the failing change as read (not yet redacted); its files rank first among the
    repository windows (:func:`ci_healer.context.gather` ``changed_files``/``changed_lines``) and
    it is sent redacted as ``request.change``. Returns the request and the redaction counts of the
    repository files and the change it includes.
    """
    files: list[ContextFile] = []
    manifests: list[str] = []
    packages: list[str] = []
    change_counts = Redactions()
    if change is not None:
        change, change_counts = redact_change(redactor, change)
    if repo is not None:
        paths = [f.path for f in change.files if f.status != "removed"] if change is not None else []
        files = repo_context.gather(
            blocks,
            repo,
            category=classification.category,
            max_bytes=context_bytes,
            changed_files=paths,
            changed_lines=changed_lines(change) if change is not None else None,
        )
        manifests = repo_context.find_manifests(repo)
        packages = repo_context.project_packages(repo)
    files, counts = _redact_texts(redactor, files)
    if past_fix is not None:
        # a merged diff is repository text like any other: it may hold a secret
        diff, fix_counts = redactor.redact(past_fix.diff)
        past_fix = past_fix.model_copy(update={"diff": diff})
        change_counts = change_counts.merge(fix_counts)
    request = ProposalRequest(
        repository=repo.name if repo is not None else "",
        blocks=list(blocks),
        classification=classification,
        files=files,
        manifests=manifests,
        project_packages=packages,
        change=change,
        past_fix=past_fix,
    )
    return request, counts.merge(change_counts)


def _secrets_in_edits(redactor: Redactor, edits: Sequence[FileEdit]) -> list[Violation]:
    found: list[Violation] = []
    for edit in edits:
        _, counts = redactor.redact(edit.replacement)
        if counts.total:
            kinds = ", ".join(sorted(counts.counts))
            found.append(
                Violation(
                    code="secret_in_patch",
                    path=edit.file_path,
                    message=f"the proposed edit contains a secret ({kinds})",
                )
            )
    return found


@dataclass(frozen=True)
class Triage:
    """One job log's failure before any model call: its redacted ``blocks``, their
    ``classification`` (category and :func:`ci_healer.classify.fingerprint`), the ``redactions``
    made in the blocks, the extraction's ``lines_total`` and ``tokens``, and ``green_dropped``: the
    lines a green log blanked (``None`` when no green log was compared)."""

    blocks: list[Block]
    classification: Classification
    redactions: Redactions
    lines_total: int
    tokens: int
    green_dropped: int | None = None


GREEN_FOLD = "[... {n} lines the last green run printed too ...]"
_BLANK_RUN = re.compile(r"(?:^[ \t]*\n){3,}", re.MULTILINE)


def fold_blank_runs(text: str) -> str:
    """Replace each run of three or more empty lines of a block's text by one
    :data:`GREEN_FOLD` line. A log passed through :func:`ci_healer.greendiff.drop_green_lines`
    keeps its blanked lines (so line numbers hold); inside a block they carry nothing."""
    return _BLANK_RUN.sub(lambda m: GREEN_FOLD.format(n=m.group(0).count("\n")) + "\n", text)


def triage(log: LogSource, *, options: AnalyzeOptions | None = None, green: bytes | None = None) -> Triage:
    """Extract, redact and classify one failed job log (no repository, no backend).

    ``green``: the log of the same job in the last successful run of the workflow. The lines
    both logs print are blanked first (:func:`ci_healer.greendiff.drop_green_lines`, the CiDiff
    technique) and the blocks are extracted from what is left, runs of blanked lines folded
    (:func:`fold_blank_runs`). The fingerprint stays the one of the log as it is, so that re-runs,
    and jobs whose green log is missing, keep theirs (on the 46 CiDiff cases of the corpus the
    blocks of the diffed log give the same fingerprint in only 22). ``log`` must then be bytes.

    Two jobs whose triages have the same ``classification.fingerprint`` failed the same way (the
    same failure in several matrix jobs). Raises ``OSError`` only when ``log`` is an unreadable
    path, ``TypeError`` when ``green`` is given with a ``log`` that is not bytes.
    """
    options = options or AnalyzeOptions()
    redactor = Redactor(options.secrets)
    extraction = extract(log, max_tokens=options.max_tokens)
    blocks, redactions = _redact_texts(redactor, extraction.blocks)
    classification = classify(blocks)
    if green is None:
        return Triage(blocks, classification, redactions, extraction.lines_total, extraction.tokens)
    if not isinstance(log, bytes):
        raise TypeError("a green log can only be compared with a failed log given as bytes")
    diff = drop_green_lines(log, green)
    diffed = extract(diff.log, max_tokens=options.max_tokens * max(1, options.green_budget_factor))
    blocks, redactions = _redact_texts(redactor, diffed.blocks)
    blocks = [b.model_copy(update={"text": fold_blank_runs(b.text)}) for b in blocks]
    found = classify(blocks).model_copy(update={"fingerprint": classification.fingerprint})
    tokens = sum(estimate_tokens(b.text) for b in blocks)
    return Triage(blocks, found, redactions, diffed.lines_total, tokens, green_dropped=diff.dropped)


class _AnalysisBase(TypedDict):
    """The :class:`Analysis` fields known before the proposal (blocks, counts, backend name)."""

    blocks: list[Block]
    redactions: Redactions
    fingerprint: str
    flaky_suspect: bool
    backend: str
    lines_total: int
    tokens: int
    repair_rounds: NotRequired[int]


class _AnalysisCommon(_AnalysisBase):
    """:class:`_AnalysisBase` and the proposal's root cause, category and confidence."""

    root_cause: str
    category: Category
    confidence: float


def analyze(
    log: LogSource | Triage,
    *,
    repo: RepoSource | None,
    backend: Backend,
    options: AnalyzeOptions | None = None,
    change: FailingChange | None = None,
    past_fix: PastFix | None = None,
) -> Analysis:
    """Run the whole pipeline on one failed job log.

    ``log``: raw bytes, a path, or a binary stream (streamed; memory stays bounded), or the
    :class:`Triage` of a log already extracted.
    ``repo``: the repository at the failing commit, or ``None`` (root cause only, no patch).
    ``change``: the failing change (PR files or push comparison, not yet redacted): its files
    rank first in the repository context and it is sent to the backend redacted.
    ``past_fix``: a merged fix of the same failure (:mod:`ci_healer.memory`), sent redacted as
    one example.
    Returns an :class:`Analysis`; never raises for backend, proposal or policy failures.
    Raises ``OSError`` only when ``log`` is a path that cannot be read.

    ``Analysis.usage``: when ``backend`` keeps a running ``usage`` (:class:`~ci_healer.models.Usage`,
    the model backends do), the tokens its endpoint reported for this analysis' calls (the
    proposal, its schema repair and the patch-repair round); ``None`` for the ``rules`` backend.
    """
    before = _usage_of(backend)
    analysis = _analyze(log, repo=repo, backend=backend, options=options, change=change, past_fix=past_fix)
    after = _usage_of(backend)
    if before is None or after is None:
        return analysis
    return analysis.model_copy(update={"usage": after.since(before)})


def _usage_of(backend: Backend) -> Usage | None:
    usage = getattr(backend, "usage", None)
    return usage if isinstance(usage, Usage) else None


def _analyze(
    log: LogSource | Triage,
    *,
    repo: RepoSource | None,
    backend: Backend,
    options: AnalyzeOptions | None,
    change: FailingChange | None,
    past_fix: PastFix | None,
) -> Analysis:
    options = options or AnalyzeOptions()
    redactor = Redactor(options.secrets)

    found = log if isinstance(log, Triage) else triage(log, options=options)
    blocks, classification = found.blocks, found.classification
    request, file_counts = build_request(
        blocks,
        classification,
        repo,
        redactor=redactor,
        context_bytes=options.context_bytes,
        change=change,
        past_fix=past_fix,
    )
    redactions = found.redactions.merge(file_counts)

    base: _AnalysisBase = {
        "blocks": blocks,
        "redactions": redactions,
        "fingerprint": classification.fingerprint,
        "flaky_suspect": classification.flaky_suspect,
        "backend": backend.name,
        "lines_total": found.lines_total,
        "tokens": found.tokens,
    }

    try:
        proposal = backend.propose(request)
    except BackendError as err:
        fallback = RulesBackend(repo).propose(request)
        risk = assess(
            None, confidence=0.0, violations=(), cheats=(), confidence_threshold=options.confidence_threshold
        )
        return Analysis(
            root_cause=fallback.root_cause,
            category=classification.category,
            confidence=0.0,
            risk=risk,
            status="failed",
            message=f"{backend.name} backend failed ({err.code}): {err}; the root cause shown comes from the offline rules.",
            **base,
        )

    root_cause, cause_counts = redactor.redact(proposal.root_cause)
    redactions = redactions.merge(cause_counts)
    base["redactions"] = redactions
    proposal = proposal.model_copy(update={"root_cause": root_cause})
    return _finish(
        proposal, repo=repo, redactor=redactor, options=options, base=base, request=request, backend=backend
    )


def _tree_paths(repo: RepoSource) -> list[str] | None:
    """The repository's file list for the new-file checks; ``None`` when it cannot be read."""
    try:
        return repo.list_paths()
    except Exception:  # a RepoSource is injected; an unreadable tree only skips those checks
        return None


def _repair_round(
    backend: RepairingBackend,
    request: ProposalRequest,
    proposal: Proposal,
    err: ProposalError,
    redactor: Redactor,
) -> tuple[Proposal, Redactions]:
    """Ask ``backend`` once for corrected edits; the failure report is redacted like the request."""
    assert err.failure is not None
    failure = err.failure.model_copy(
        update={
            "original": redactor.redact(err.failure.original)[0],
            "closest_lines": [redactor.redact(line)[0] for line in err.failure.closest_lines],
            "nearby_paths": [redactor.redact(path)[0] for path in err.failure.nearby_paths],
        }
    )
    repaired = backend.repair_edits(request, proposal, [failure])
    root_cause, counts = redactor.redact(repaired.root_cause)
    return repaired.model_copy(update={"root_cause": root_cause}), counts


def _finish(
    proposal: Proposal,
    *,
    repo: RepoSource | None,
    redactor: Redactor,
    options: AnalyzeOptions,
    base: _AnalysisBase,
    request: ProposalRequest | None = None,
    backend: Backend | None = None,
    first_failure: str = "",
) -> Analysis:
    """Turn a validated proposal into a diff, run policy and risk, and build the Analysis.

    When the edits do not apply and ``backend`` can repair (:class:`RepairingBackend`), it is asked
    once for corrected edits, which go through this same function (``first_failure`` then holds
    the first reason, shown with the second when the repair fails too).
    """
    edits = list(proposal.files_to_modify)
    # What the analysis reports never carries a secret, even one the model put into an edit.
    shown_edits = [
        edit.model_copy(
            update={
                "original": redactor.redact(edit.original)[0],
                "replacement": redactor.redact(edit.replacement)[0],
            }
        )
        for edit in edits
    ]
    common: _AnalysisCommon = {
        **base,
        "root_cause": proposal.root_cause,
        "category": proposal.category,
        "confidence": proposal.confidence,
    }

    def without_patch(status: AnalysisStatus, message: str, violations: Sequence[Violation] = ()) -> Analysis:
        risk = assess(
            None,
            confidence=proposal.confidence,
            violations=violations,
            cheats=(),
            confidence_threshold=options.confidence_threshold,
        )
        return Analysis(
            risk=risk,
            files_to_modify=shown_edits,
            status=status,
            message=message,
            violations=list(violations),
            **common,
        )

    if not edits:
        if first_failure:
            return without_patch(
                "no_patch", f"{first_failure}; after one repair round, no patch was proposed"
            )
        return without_patch("no_patch", "no patch proposed: root cause only")
    if repo is None:
        return without_patch(
            "no_patch", "no repository given, so the proposed edits cannot be turned into a diff"
        )

    violations = check_edits_paths(edits, options.policy, repo=repo) + _secrets_in_edits(redactor, edits)
    if violations:
        return without_patch("withheld", "the proposed patch was withheld by policy", violations)
    try:
        patch = build_patch(edits, repo, lenient=options.lenient_edits)
    except ProposalError as err:
        reason = f"the proposal could not be turned into a diff ({err.code}): {err}"
        if first_failure:
            return without_patch("failed", f"{first_failure}; after one repair round, {reason}")
        if (
            err.failure is None
            or request is None
            or not options.repair_round
            or not isinstance(backend, RepairingBackend)
        ):
            return without_patch("failed", reason)
        try:
            repaired, counts = _repair_round(backend, request, proposal, err, redactor)
        except BackendError as repair_err:
            common["repair_rounds"] = 1
            return without_patch(
                "failed", f"{reason}; the repair round failed ({repair_err.code}): {repair_err}"
            )
        again: _AnalysisBase = {**base, "repair_rounds": 1, "redactions": base["redactions"].merge(counts)}
        return _finish(
            repaired,
            repo=repo,
            redactor=redactor,
            options=options,
            base=again,
            request=request,
            backend=backend,
            first_failure=reason,
        )

    violations = check_patch(patch, repo, options.policy)
    cheats = detect_cheats(patch, blocks=base["blocks"])
    findings = review_patch(
        patch,
        blocks=base["blocks"],
        context_files=request.files if request is not None else (),
        repo_paths=_tree_paths(repo),
        manifests=request.manifests if request is not None else (),
        project_packages=request.project_packages if request is not None else (),
    )
    risk = assess(
        patch,
        confidence=proposal.confidence,
        violations=violations,
        cheats=cheats,
        confidence_threshold=options.confidence_threshold,
        findings=findings,
        matches=patch.matches,
        repair_rounds=base.get("repair_rounds", 0),
    )
    status: AnalysisStatus
    if violations:
        status, message = "withheld", "the proposed patch was withheld by policy"
    else:
        status, message = "proposed", ""
    return Analysis(
        risk=risk,
        files_to_modify=shown_edits,
        diff=patch.diff,
        digest=patch.digest,
        status=status,
        message=message,
        violations=violations,
        cheats=cheats,
        findings=findings,
        edit_matches=patch.matches,
        **common,
    )
