"""The analysis pipeline: log → failure blocks → redaction → classification → context → proposal
→ diff → policy → risk.

Pure orchestration: the log, the repository and the backend are passed in, so the whole pipeline
runs offline in tests and in the CLI. Nothing here raises for bad model output or a bad patch: every
such outcome is an :class:`~ci_healer.models.Analysis` with ``status`` ``failed`` or ``withheld`` and a
message that says why.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import BinaryIO, TypeVar

from ci_healer import context as repo_context
from ci_healer.backends.base import Backend, BackendError, RepairingBackend
from ci_healer.backends.rules import RulesBackend
from ci_healer.classify import classify
from ci_healer.extract import extract
from ci_healer.models import (
    Analysis,
    Block,
    Classification,
    ContextFile,
    FileEdit,
    Proposal,
    ProposalRequest,
    Redactions,
    Violation,
)
from ci_healer.patch import ProposalError, build_patch
from ci_healer.policy import PolicyConfig, check_edits_paths, check_patch, detect_cheats, review_patch
from ci_healer.redact import Redactor
from ci_healer.repo import RepoSource
from ci_healer.risk import assess

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
    """

    max_tokens: int = 1500
    secrets: Sequence[str | None] = ()
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    confidence_threshold: float = 0.6
    context_bytes: int = 24_000


def _redact_texts(redactor: Redactor, items: Sequence[_T]) -> tuple[list[_T], Redactions]:
    """Redact the ``text`` field of every block or file window; return the copies and the counts."""
    total = Redactions()
    out: list[_T] = []
    for item in items:
        text, counts = redactor.redact(item.text)
        total = total.merge(counts)
        out.append(item.model_copy(update={"text": text}))
    return out, total


def build_request(
    blocks: Sequence[Block],
    classification: Classification,
    repo: RepoSource | None,
    *,
    redactor: Redactor,
    context_bytes: int,
) -> tuple[ProposalRequest, Redactions]:
    """Assemble the redacted :class:`ProposalRequest` for ``blocks`` (already redacted).

    Returns the request and the redaction counts of the repository files it includes.
    """
    files: list[ContextFile] = []
    manifests: list[str] = []
    packages: list[str] = []
    if repo is not None:
        files = repo_context.gather(blocks, repo, category=classification.category, max_bytes=context_bytes)
        manifests = repo_context.find_manifests(repo)
        packages = repo_context.project_packages(repo)
    files, counts = _redact_texts(redactor, files)
    request = ProposalRequest(
        repository=repo.name if repo is not None else "",
        blocks=list(blocks),
        classification=classification,
        files=files,
        manifests=manifests,
        project_packages=packages,
    )
    return request, counts


def _secrets_in_edits(redactor: Redactor, edits: Sequence[FileEdit]) -> list[Violation]:
    found: list[Violation] = []
    for edit in edits:
        _, counts = redactor.redact(edit.replacement)
        if counts.total:
            kinds = ", ".join(sorted(counts.counts))
            found.append(
                Violation(code="secret_in_patch", path=edit.file_path, message=f"the proposed edit contains a secret ({kinds})")
            )
    return found


def analyze(
    log: LogSource,
    *,
    repo: RepoSource | None,
    backend: Backend,
    options: AnalyzeOptions | None = None,
) -> Analysis:
    """Run the whole pipeline on one failed job log.

    ``log``: raw bytes, a path, or a binary stream (streamed; memory stays bounded).
    ``repo``: the repository at the failing commit, or ``None`` (root cause only, no patch).
    Returns an :class:`Analysis`; never raises for backend, proposal or policy failures.
    Raises ``OSError`` only when ``log`` is a path that cannot be read.
    """
    options = options or AnalyzeOptions()
    redactor = Redactor(options.secrets)

    extraction = extract(log, max_tokens=options.max_tokens)
    blocks, redactions = _redact_texts(redactor, extraction.blocks)
    classification = classify(blocks)
    request, file_counts = build_request(
        blocks, classification, repo, redactor=redactor, context_bytes=options.context_bytes
    )
    redactions = redactions.merge(file_counts)

    base = {
        "blocks": blocks,
        "redactions": redactions,
        "fingerprint": classification.fingerprint,
        "flaky_suspect": classification.flaky_suspect,
        "backend": backend.name,
        "lines_total": extraction.lines_total,
        "tokens": extraction.tokens,
    }

    try:
        proposal = backend.propose(request)
    except BackendError as err:
        fallback = RulesBackend(repo).propose(request)
        risk = assess(None, confidence=0.0, violations=(), cheats=(), confidence_threshold=options.confidence_threshold)
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
    return _finish(proposal, repo=repo, redactor=redactor, options=options, base=base, request=request, backend=backend)


def _tree_paths(repo: RepoSource) -> list[str] | None:
    """The repository's file list for the new-file checks; ``None`` when it cannot be read."""
    try:
        return repo.list_paths()
    except Exception:  # a RepoSource is injected; an unreadable tree only skips those checks
        return None


def _repair_round(
    backend: RepairingBackend, request: ProposalRequest, proposal: Proposal, err: ProposalError, redactor: Redactor
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
    base: dict,
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
        edit.model_copy(update={"original": redactor.redact(edit.original)[0], "replacement": redactor.redact(edit.replacement)[0]})
        for edit in edits
    ]
    common = dict(root_cause=proposal.root_cause, category=proposal.category, confidence=proposal.confidence, **base)

    def without_patch(status: str, message: str, violations: Sequence[Violation] = ()) -> Analysis:
        risk = assess(
            None,
            confidence=proposal.confidence,
            violations=violations,
            cheats=(),
            confidence_threshold=options.confidence_threshold,
        )
        return Analysis(risk=risk, files_to_modify=shown_edits, status=status, message=message, violations=list(violations), **common)

    if not edits:
        if first_failure:
            return without_patch("no_patch", f"{first_failure}; after one repair round, no patch was proposed")
        return without_patch("no_patch", "no patch proposed: root cause only")
    if repo is None:
        return without_patch("no_patch", "no repository given, so the proposed edits cannot be turned into a diff")

    violations = check_edits_paths(edits, options.policy, repo=repo) + _secrets_in_edits(redactor, edits)
    if violations:
        return without_patch("withheld", "the proposed patch was withheld by policy", violations)
    try:
        patch = build_patch(edits, repo)
    except ProposalError as err:
        reason = f"the proposal could not be turned into a diff ({err.code}): {err}"
        if first_failure:
            return without_patch("failed", f"{first_failure}; after one repair round, {reason}")
        if err.failure is None or request is None or not isinstance(backend, RepairingBackend):
            return without_patch("failed", reason)
        try:
            repaired, counts = _repair_round(backend, request, proposal, err, redactor)
        except BackendError as repair_err:
            common["repair_rounds"] = 1
            return without_patch("failed", f"{reason}; the repair round failed ({repair_err.code}): {repair_err}")
        again = {**base, "repair_rounds": 1, "redactions": base["redactions"].merge(counts)}
        return _finish(
            repaired, repo=repo, redactor=redactor, options=options, base=again, request=request, backend=backend, first_failure=reason
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
