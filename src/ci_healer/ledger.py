"""The outcome ledger: what happened to every proposal, stored only in GitHub's own objects.

A proposal's lifecycle is proposed → approved / rejected / superseded → applied (fix PR) →
verified green / red → merged / closed unmerged. There is no server or database: the record of a
proposal is rebuilt from what ci-healer already writes —

* the hidden metadata line of its PR comment and check run (:func:`ci_healer.render.read_metadata`)
  and the status line between ``<!-- ci-healer:status -->`` markers (:mod:`ci_healer.flow`);
* the hidden first line of a fix PR body (:class:`ci_healer.flow.FixMetadata`), the fix PR's
  state, ``merged`` flag and timestamps, and its ``Approved by`` line;
* an optional ``"ledger"`` object inside either metadata JSON (:class:`LedgerFields`, written with
  :func:`embed_ledger`): category, risk, backend, model, token usage, analysis wall time, approver
  and the time of each transition. Both metadata models ignore unknown keys, so bodies with it are
  read by older versions, and bodies without it (written before it existed) still parse here:
  fields the ``ledger`` object does not give come from the rendered body and the objects' own
  timestamps (see :meth:`LedgerReader.records`).

The analyze flow writes the ``ledger`` object into its comment and check run
(:func:`analysis_fields`, :func:`with_ledger`); rejecting keeps it (:func:`ci_healer.flow.withdraw`).
A proposal that a newer one replaced in the PR comment before any decision is found only through a
check run on a commit the reader visits (PR heads, the comment's head SHA, fix PR bases, the head
commits of the newest failed workflow runs), so ``superseded`` is a lower bound.

Reads are bounded (the newest ``max_pulls`` pull requests, at most ``max_check_shas`` commits'
check runs) and cached per process and repository.
"""

from __future__ import annotations

import functools
import itertools
import re
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ci_healer.flow import read_fix_metadata
from ci_healer.github_api import GitHubClient, GitHubError, call
from ci_healer.markers import (
    COMMENT_MARKER,
    STATUS_CLOSE,
    STATUS_OPEN,
    read_metadata_line,
    replace_metadata_line,
)
from ci_healer.render import read_metadata

LEDGER_KEY = "ledger"
"""Key of the :class:`LedgerFields` object inside the metadata JSON."""

DEFAULT_MAX_PULLS = 100
DEFAULT_MAX_CHECK_SHAS = 200
FAILED_RUNS_READ = 100
"""Newest failed workflow runs whose head commits' check runs are read (one page)."""

Risk = Literal["low", "medium", "high"]

# The first row of the Risk | Category | Confidence | Backend table of templates/_sections.md.j2.
_TABLE_ROW = re.compile(
    r"^\| \S+ \*\*(low|medium|high)\*\* \| ([^|\n]*) \| ([^|\n]*) \| ([^|\n]*) \|\s*$", re.MULTILINE
)
_APPROVED_BY = re.compile(r"^\*\*Approved by:\*\* `([^`\n]{1,100})`", re.MULTILINE)
_STATUS_ACTOR = re.compile(r"(?:Approved|Rejected) by `([^`\n]{1,100})`")


class LedgerFields(BaseModel):
    """The ledger part of a proposal's hidden metadata (every field optional).

    Tokens: ``prompt_tokens`` / ``completion_tokens`` as the backend reported its usage, or an
    estimate (:mod:`ci_healer.tokens`) with ``tokens_estimated`` true. ``analysis_seconds`` is wall
    time of the analysis. Times are UTC; ``failure_at`` is when the failed workflow run completed.
    ``root_cause`` is the first line of the analysis' root cause as the backend wrote it (redacted,
    not escaped: untrusted text, escape it before rendering).
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    category: str | None = Field(default=None, max_length=40)
    risk: Risk | None = None
    backend: str | None = Field(default=None, max_length=60)
    model: str | None = Field(default=None, max_length=120)
    root_cause: str | None = Field(default=None, max_length=300)
    prompt_tokens: int | None = Field(default=None, ge=0)
    completion_tokens: int | None = Field(default=None, ge=0)
    tokens_estimated: bool = False
    analysis_seconds: float | None = Field(default=None, ge=0)
    approver: str | None = Field(default=None, max_length=100)
    failure_at: datetime | None = None
    proposed_at: datetime | None = None
    approved_at: datetime | None = None
    rejected_at: datetime | None = None
    superseded_at: datetime | None = None
    applied_at: datetime | None = None
    verified_at: datetime | None = None
    verify_failed_at: datetime | None = None
    merged_at: datetime | None = None
    closed_at: datetime | None = None
    rerun_at: datetime | None = None
    """When ci-healer re-ran the failed jobs instead of proposing a patch (:mod:`ci_healer.rerun`)."""
    rerun_passed_at: datetime | None = None
    """When a later attempt of the same run (same head SHA) passed: the outcome ``passed_on_rerun``."""
    flaky: bool = False
    """The same fingerprint failed and then passed on the same head SHA."""
    past_fix_pr: int | None = Field(default=None, ge=1)
    """A merged fix PR of an earlier proposal with the same fingerprint (:mod:`ci_healer.memory`)."""
    auto_apply_gates: dict[str, bool] | None = None
    """Each auto-apply gate and whether it passed (:mod:`ci_healer.auto_apply`), when it was on."""
    auto_applied_at: datetime | None = None
    """When ci-healer opened the fix PR itself, every gate having passed."""

    def merged_with(self, other: LedgerFields | None) -> LedgerFields:
        """``self`` with every field that is unset here taken from ``other``."""
        if other is None:
            return self
        mine = self.model_dump(exclude_defaults=True)
        return LedgerFields.model_validate({**other.model_dump(exclude_defaults=True), **mine})


def read_ledger(body: str) -> LedgerFields | None:
    """The :class:`LedgerFields` in the metadata of a proposal body or fix PR body, or ``None``
    (no metadata, no ``ledger`` key, or a value that fails validation)."""
    found = read_metadata_line(body or "")
    value = found[1].get(LEDGER_KEY) if found is not None else None
    if not isinstance(value, dict):
        return None
    try:
        return LedgerFields.model_validate(value)
    except ValidationError:
        return None


def embed_ledger(body: str, fields: LedgerFields) -> str:
    """``body`` with ``fields`` merged into the ``ledger`` object of its metadata line (fields
    already there and not set in ``fields`` are kept), written in the one metadata-line format of
    :mod:`ci_healer.markers`.

    Raises ``ValueError`` when ``body`` has no ci-healer metadata line (nothing is changed).
    """
    found = read_metadata_line(body or "")
    if found is None:
        raise ValueError("body has no ci-healer metadata line")
    data = dict(found[1])
    data[LEDGER_KEY] = fields.merged_with(read_ledger(body)).model_dump(mode="json", exclude_defaults=True)
    return replace_metadata_line(body, data)


class ProposalRecord(LedgerFields):
    """One proposal as the ledger knows it: identity, where it lives, and its transitions.

    ``outcome`` is the furthest state reached: ``proposed`` (waiting), ``rejected``,
    ``superseded``, ``applied``, ``verified_green``, ``verified_red``, ``merged``,
    ``closed_unmerged`` or ``passed_on_rerun`` (a later attempt of the failed run passed on the
    same head SHA: flaky). ``status`` is the analysis status of the metadata (``proposed`` when a
    patch was offered, else ``no_patch``/``withheld``/``failed``).
    """

    proposal_id: str
    run_id: int | None = None
    head_sha: str = ""
    fingerprint: str = ""
    status: str = "proposed"
    pr_number: int | None = None
    comment_url: str | None = None
    check_run_url: str | None = None
    fix_pr_number: int | None = None
    fix_pr_url: str | None = None
    fix_attempt: int | None = None

    @property
    def approvable(self) -> bool:
        """True when a patch was offered (the analysis status is ``proposed``)."""
        return self.status == "proposed"

    @property
    def approved(self) -> bool:
        """True once a maintainer approved it (a fix PR exists or an approval time is known)."""
        return self.approved_at is not None or self.fix_pr_number is not None

    @property
    def outcome(self) -> str:
        if self.merged_at is not None:
            return "merged"
        if self.closed_at is not None:
            return "closed_unmerged"
        if self.verified_at is not None:
            return "verified_green"
        if self.verify_failed_at is not None:
            return "verified_red"
        if self.fix_pr_number is not None or self.applied_at is not None:
            return "applied"
        if self.rerun_passed_at is not None:
            return "passed_on_rerun"
        if self.rejected_at is not None:
            return "rejected"
        if self.superseded_at is not None:
            return "superseded"
        return "proposed"


def status_text(body: str) -> str:
    """The status line of a ci-healer body (between the status markers), or ``""``."""
    start = body.find(STATUS_OPEN)
    end = body.find(STATUS_CLOSE, start + 1)
    return body[start + len(STATUS_OPEN) : end].strip() if start >= 0 and end > start else ""


def fields_from_body(body: str, at: datetime | None) -> LedgerFields:
    """What a rendered proposal body tells without a ``ledger`` object: risk, category and backend
    from its first summary table row, and the transition its status line names (at ``at``, the
    body's last edit): rejected, verified green (``fix verified``), verified red (``fix did not
    pass``), approved (``Approved by``)."""
    values: dict[str, Any] = {}
    row = _TABLE_ROW.search(body)
    if row:
        values["risk"] = row.group(1)
        values["category"] = row.group(2).strip().strip("`")[:40] or None
        values["backend"] = row.group(4).strip().strip("`")[:60] or None
    status = status_text(body)
    actor = _STATUS_ACTOR.search(status)
    if status.startswith("🚫") or "Rejected by" in status:
        values["rejected_at"] = at
    elif "fix verified" in status:
        values["verified_at"] = at
    elif "fix did not pass" in status:
        values["verify_failed_at"] = at
    elif "Approved by" in status:
        values["approved_at"] = at
    if actor and "Approved by" in status:
        values["approver"] = actor.group(1)
    return LedgerFields.model_validate(values)


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


_CACHE: dict[tuple[str, int, int, int], list[ProposalRecord]] = {}


def clear_cache() -> None:
    """Forget every ledger read in this process."""
    _CACHE.clear()


class LedgerReader:
    """Rebuilds the ledger of one repository from the API through ``gh`` (a
    :class:`~ci_healer.github_api.GitHubClient`; its ``bot_login`` identifies ci-healer's objects).

    ``max_pulls`` bounds the pull requests read (newest first, any state; one paginated list plus
    one comment list per PR); ``max_check_shas`` bounds the commits whose ``ci-healer`` check runs
    are read; ``max_failed_runs`` the newest failed workflow runs whose head commits are among them
    (one page; 0 = none). ``progress(done, total)`` is called after each PR. Raises
    :class:`~ci_healer.github_api.GitHubError` when the PR list itself cannot be read; a comment or
    check-run list that fails is skipped.
    """

    def __init__(
        self,
        gh: GitHubClient,
        *,
        max_pulls: int = DEFAULT_MAX_PULLS,
        max_check_shas: int = DEFAULT_MAX_CHECK_SHAS,
        max_failed_runs: int = FAILED_RUNS_READ,
        progress: Any = None,
    ) -> None:
        self.gh = gh
        self.max_pulls = max_pulls
        self.max_check_shas = max_check_shas
        self.max_failed_runs = max_failed_runs
        self.progress = progress

    def records(self) -> list[ProposalRecord]:
        """Every proposal found, ordered by ``proposed_at`` (unknown last). Cached per process."""
        key = (self.gh.repository, self.max_pulls, self.max_check_shas, self.max_failed_runs)
        if key not in _CACHE:
            _CACHE[key] = self._read()
        return list(_CACHE[key])

    # ---- reading ---------------------------------------------------------------------------

    def _pulls(self) -> list[Any]:
        return call(
            "list pull requests",
            lambda: list(
                itertools.islice(
                    self.gh.repo.get_pulls(state="all", sort="created", direction="desc"), self.max_pulls
                )
            ),
        )

    def _read(self) -> list[ProposalRecord]:
        pulls = self._pulls()
        records: dict[str, ProposalRecord] = {}
        fixes: dict[str, dict[str, Any]] = {}
        shas: dict[str, int | None] = {}
        bot = self.gh.bot_login
        for done, pr in enumerate(pulls, 1):
            raw = pr.raw_data
            author = (raw.get("user") or {}).get("login") or ""
            fix = read_fix_metadata(raw.get("body") or "") if author == bot else None
            if fix is not None:
                # the list view has no ``merged`` flag: read the fix PR itself (one call per fix PR)
                full = call("read pull request", functools.partial(self.gh.repo.get_pull, pr.number))
                fixes[fix.proposal_id] = self._fix_values(full, fix)
                shas.setdefault(fix.base_sha, fix.origin_pr)
            else:
                self._read_comment(pr.number, records)
                head = (raw.get("head") or {}).get("sha")
                if head:
                    shas.setdefault(head, pr.number)
            if self.progress:
                self.progress(done, len(pulls))
        for rec in list(records.values()):
            shas.setdefault(rec.head_sha, rec.pr_number)
        for sha, pr_number in self._failed_run_shas():
            shas.setdefault(sha, pr_number)
        for sha, pr_number in itertools.islice(shas.items(), self.max_check_shas):
            self._read_checks(sha, pr_number, records)
        for proposal_id, values in fixes.items():
            rec = records.get(proposal_id) or ProposalRecord(proposal_id=proposal_id)
            ledger = LedgerFields.model_validate(values["ledger"]) if values.get("ledger") else None
            update = {
                k: v
                for k, v in values.items()
                if k != "ledger" and v is not None and getattr(rec, k, None) is None
            }
            rec = rec.model_copy(update=update)
            records[proposal_id] = rec.model_copy(update=self._set_fields(rec, ledger))
        self._mark_superseded(records)
        self._fill_failure_times(records)
        far = datetime.max.replace(tzinfo=UTC)
        return sorted(records.values(), key=lambda r: (r.proposed_at or far, r.proposal_id))

    @staticmethod
    def _set_fields(rec: ProposalRecord, extra: LedgerFields | None) -> dict[str, Any]:
        if extra is None:
            return {}
        return {
            k: v
            for k, v in extra.model_dump(exclude_defaults=True).items()
            if getattr(rec, k) in (None, False)
        }

    def _fix_values(self, pr: Any, fix: Any) -> dict[str, Any]:
        raw = pr.raw_data
        body = raw.get("body") or ""
        approver = _APPROVED_BY.search(body)
        created = _utc(pr.created_at)
        merged = bool(raw.get("merged")) or raw.get("merged_at") is not None
        closed_at = _utc(pr.closed_at) if raw.get("closed_at") else None
        if raw.get("state") == "closed" and closed_at is None:
            closed_at = _utc(pr.updated_at)
        ledger = read_ledger(body)
        return {
            "fix_pr_number": pr.number,
            "fix_pr_url": raw.get("html_url"),
            "fix_attempt": fix.attempt,
            "run_id": fix.origin_run_id,
            "head_sha": fix.base_sha,
            "pr_number": fix.origin_pr,
            "applied_at": created,
            "approved_at": created,
            "approver": approver.group(1) if approver else None,
            "merged_at": (_utc(pr.merged_at) or closed_at or _utc(pr.updated_at)) if merged else None,
            "closed_at": closed_at if not merged else None,
            "ledger": ledger.model_dump(exclude_defaults=True) if ledger else None,
        }

    def _absorb(
        self,
        records: dict[str, ProposalRecord],
        body: str,
        at_created: datetime | None,
        at_updated: datetime | None,
        **where: Any,
    ) -> None:
        meta = read_metadata(body)
        if meta is None:
            return
        found = fields_from_body(body, at_updated).merged_with(None)
        ledger = read_ledger(body)
        fields = ledger.merged_with(found) if ledger else found
        if at_created is not None:
            # GitHub's own timestamp wins: every other transition is read from GitHub's clock too
            fields = fields.model_copy(update={"proposed_at": at_created})
        old = records.get(meta.proposal_id)
        base = {
            "proposal_id": meta.proposal_id,
            "run_id": meta.run_id,
            "head_sha": meta.head_sha,
            "fingerprint": meta.fingerprint,
            "status": meta.status,
        }
        rec = ProposalRecord.model_validate(
            {
                **fields.model_dump(exclude_defaults=True),
                **base,
                **{k: v for k, v in where.items() if v is not None},
            }
        )
        if old is not None:
            # keep the earliest proposal time and anything only the other copy knows
            merged = {
                k: v
                for k, v in old.model_dump(exclude_defaults=True).items()
                if getattr(rec, k) in (None, False, "")
            }
            if old.proposed_at and rec.proposed_at and old.proposed_at < rec.proposed_at:
                merged["proposed_at"] = old.proposed_at
            rec = rec.model_copy(update=merged)
        records[meta.proposal_id] = rec

    def _failed_run_shas(self) -> list[tuple[str, int | None]]:
        """``(head SHA, PR number or None)`` of the newest failed workflow runs (one page, at most
        ``max_failed_runs``). A proposal that a newer one replaced in its PR comment, and one
        made for a push without a PR, live only in the check run on such a commit. A list that
        fails is skipped (``actions: read`` may be missing)."""
        if self.max_failed_runs <= 0:
            return []
        try:
            runs = call(
                "list workflow runs",
                lambda: list(
                    itertools.islice(self.gh.repo.get_workflow_runs(status="failure"), self.max_failed_runs)
                ),
            )
        except GitHubError:
            return []
        out = []
        for run in runs:
            prs = run.pull_requests or []
            out.append((run.head_sha, prs[0].number if prs else None))
        return out

    def _read_comment(self, number: int, records: dict[str, ProposalRecord]) -> None:
        bot = self.gh.bot_login
        try:
            comments = call("list comments", lambda: list(self.gh.repo.get_issue(number).get_comments()))
        except GitHubError:
            return
        for c in comments:
            if (c.user.login if c.user else "") == bot and (c.body or "").startswith(COMMENT_MARKER):
                self._absorb(
                    records,
                    c.body,
                    _utc(c.created_at),
                    _utc(c.updated_at),
                    pr_number=number,
                    comment_url=c.html_url,
                )

    def _read_checks(self, sha: str, pr_number: int | None, records: dict[str, ProposalRecord]) -> None:
        try:
            checks = self.gh.list_check_runs(sha)
        except GitHubError:
            return
        for cr in checks:
            # GitHub's clock, like a comment's created_at: a check run is created with the analysis
            self._absorb(
                records,
                cr.summary,
                _utc(cr.started_at),
                None,
                pr_number=pr_number,
                check_run_url=cr.html_url,
            )

    @staticmethod
    def _mark_superseded(records: dict[str, ProposalRecord]) -> None:
        """A proposal still waiting (no decision) whose PR got a later proposal is superseded at
        the later proposal's time."""
        by_pr: dict[int, list[tuple[datetime, ProposalRecord]]] = {}
        for rec in records.values():
            if rec.pr_number is not None and rec.proposed_at is not None:
                by_pr.setdefault(rec.pr_number, []).append((rec.proposed_at, rec))
        for timed in by_pr.values():
            group = [rec for _, rec in sorted(timed, key=lambda pair: pair[0])]
            for older, newer in itertools.pairwise(group):
                if older.outcome == "proposed" and older.approvable:
                    records[older.proposal_id] = older.model_copy(update={"superseded_at": newer.proposed_at})

    def _fill_failure_times(self, records: dict[str, ProposalRecord]) -> None:
        """``failure_at`` of verified proposals: when their failed run was last updated
        (completed), read once per run; without a run, the proposal time."""
        for pid, rec in list(records.items()):
            if rec.failure_at is not None or rec.verified_at is None:
                continue
            when = rec.proposed_at
            if rec.run_id is not None:
                try:
                    run = call(
                        "read workflow run", functools.partial(self.gh.repo.get_workflow_run, rec.run_id)
                    )
                    when = _utc(run.updated_at) or _utc(run.created_at) or when
                except GitHubError:
                    pass
            records[pid] = rec.model_copy(update={"failure_at": when})


# ---- writing (called by the flows) ---------------------------------------------------------


def analysis_fields(
    analysis: Any, *, model: str | None, seconds: float, now: datetime | None = None
) -> LedgerFields:
    """The ledger fields of a fresh ``analysis`` (:class:`ci_healer.models.Analysis`): category,
    risk, backend, ``model`` (the configured model id, ``None`` for the backend's default),
    ``seconds`` of analysis wall time, ``proposed_at`` = ``now``, the first line of the root cause
    (at most 300 characters).

    Tokens: what the model endpoint reported (``analysis.usage``: Chat Completions
    ``usage.prompt_tokens``/``completion_tokens``, Bedrock Converse ``usage.inputTokens``/
    ``outputTokens``, summed over the analysis' calls), ``tokens_estimated`` false. Only when the
    usage is absent, or some call's response carried none, an estimate
    (:func:`ci_healer.tokens.estimate_tokens`) is recorded instead, flagged ``tokens_estimated``:
    prompt = the failure blocks' tokens (a lower bound: the prompt also holds instructions and
    file windows), completion = the root cause, edits and diff. The offline ``rules`` backend
    calls no model and records no tokens.
    """
    from ci_healer.tokens import estimate_tokens

    values: dict[str, Any] = {
        "category": getattr(analysis.category, "value", str(analysis.category))[:40],
        "risk": analysis.risk.level,
        "backend": (analysis.backend or "")[:60] or None,
        "model": (model or None) and model[:120],
        "analysis_seconds": round(max(seconds, 0.0), 3),
        "root_cause": _first_line(analysis.root_cause, 300) or None,
        "proposed_at": now or datetime.now(UTC),
    }
    usage = getattr(analysis, "usage", None)
    if analysis.backend != "rules" and usage is not None and usage.complete:
        values.update(
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            tokens_estimated=False,
        )
    elif analysis.backend != "rules":
        edits = "".join(e.original + e.replacement for e in analysis.files_to_modify)
        values.update(
            prompt_tokens=analysis.tokens,
            tokens_estimated=True,
            completion_tokens=estimate_tokens(analysis.root_cause + edits + analysis.diff),
        )
    return LedgerFields.model_validate(values)


def _first_line(text: str, limit: int) -> str:
    line = next((ln.strip() for ln in (text or "").splitlines() if ln.strip()), "")
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


def with_ledger(body: str, fields: LedgerFields | None, *, limit: int | None = None) -> str:
    """:func:`embed_ledger` that never fails a flow: ``body`` unchanged when ``fields`` is
    ``None``, the body has no metadata line, or the result would pass ``limit`` UTF-8 bytes
    (default GitHub's 65,535; the ledger is dropped rather than the body abbreviated)."""
    from ci_healer.render import GITHUB_BODY_LIMIT

    if fields is None:
        return body
    try:
        out = embed_ledger(body, fields)
    except ValueError:
        return body
    return out if len(out.encode("utf-8")) <= (limit or GITHUB_BODY_LIMIT) else body
