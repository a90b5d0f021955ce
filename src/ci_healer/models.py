"""Boundary models shared by every stage of the analysis pipeline.

Every value that crosses a module boundary (extraction result, proposal, risk, analysis) is a
pydantic model, so the JSON the CLI prints and the JSON the model must return are validated by
the same code.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator


class Category(StrEnum):
    """Fixed failure vocabulary. ``infrastructure`` covers network and runner failures."""

    DEPENDENCY = "dependency"
    TEST = "test"
    COMPILE = "compile"
    LINT = "lint"
    FORMAT = "format"
    TYPE_CHECK = "type-check"
    TIMEOUT = "timeout"
    INFRASTRUCTURE = "infrastructure"
    OUT_OF_MEMORY = "out-of-memory"
    CONFIGURATION = "configuration"
    UNKNOWN = "unknown"


class Block(BaseModel):
    """One failure block cut out of a log.

    ``start_line``/``end_line`` are 1-indexed and inclusive, counted on the raw input split on
    ``\\n`` only (a bare ``\\r`` does not start a line), so they map to GitHub's log line anchors.
    ``text`` is the cleaned text (timestamps, ANSI codes and CR progress frames removed,
    repeated lines folded). ``reason`` names the signal that found the block, e.g.
    ``python-traceback`` or ``pytest-error``.
    """

    model_config = ConfigDict(frozen=True)

    start_line: int = Field(ge=1)
    end_line: int = Field(ge=1)
    reason: str
    text: str


class Extraction(BaseModel):
    """Result of :func:`ci_healer.extract.extract` — the public ``extract --format json`` shape."""

    blocks: list[Block]
    lines_total: int = Field(ge=0)
    tokens: int = Field(ge=0, description="Estimated tokens of all block texts (see ci_healer.tokens).")


class Classification(BaseModel):
    """Category, flakiness suspicion and a re-run-stable fingerprint of one failure."""

    category: Category
    flaky_suspect: bool = False
    fingerprint: str = Field(description="16 hex digits; equal for re-runs of the same failure.")
    signals: list[str] = Field(default_factory=list, description="Which rules decided the category.")


class FileEdit(BaseModel):
    """A search/replace edit. An empty ``original`` appends ``replacement`` to the file."""

    file_path: str = Field(min_length=1, max_length=400)
    original: str = Field(default="", max_length=20_000)
    replacement: str = Field(max_length=20_000)


class Proposal(BaseModel):
    """The LLM output contract of PRODUCT.md; also what the offline ``rules`` backend returns."""

    model_config = ConfigDict(extra="forbid")

    root_cause: str = Field(min_length=1, max_length=2_000)
    category: Category
    files_to_modify: list[FileEdit] = Field(default_factory=list, max_length=20)
    confidence: float = Field(ge=0.0, le=1.0)

    @field_validator("category", mode="before")
    @classmethod
    def _lower_category(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value


class FileChange(BaseModel):
    """One file of a computed patch: full old and new text plus counts, used by policy and risk."""

    path: str
    old_text: str
    new_text: str
    is_new_file: bool = False
    added: list[str] = Field(default_factory=list, description="Added lines, without the leading '+'.")
    removed: list[str] = Field(default_factory=list, description="Removed lines, without the leading '-'.")


MatchRule = Literal["exact", "trailing_whitespace", "indentation", "similarity", "append", "new_file"]

_MATCH_WORDS = {
    "exact": "matched exactly",
    "trailing_whitespace": "matched ignoring trailing whitespace and line endings",
    "indentation": "matched ignoring indentation",
    "similarity": "matched the most similar lines",
    "append": "appended to the file",
    "new_file": "created the file",
}


class EditMatch(BaseModel):
    """Where one search/replace edit matched its file, and by which rule (see :mod:`ci_healer.patch`).

    ``edit_index`` is 1-based in the proposal's ``files_to_modify``; ``start_line``/``end_line``
    are the 1-indexed inclusive lines of the base text the edit replaced (``None`` for
    ``append``/``new_file``); ``similarity`` (0–1) is set for the ``similarity`` rule only.
    """

    edit_index: int = Field(ge=1)
    file_path: str
    rule: MatchRule
    start_line: int | None = None
    end_line: int | None = None
    similarity: float | None = None

    @property
    def lenient(self) -> bool:
        """True when ``original`` was not found verbatim (a rule other than exact/append/new_file)."""
        return self.rule in ("trailing_whitespace", "indentation", "similarity")

    def describe(self) -> str:
        """One line for the comment: ``edit 2 (src/a.py, lines 4-6) matched ignoring indentation``."""
        where = self.file_path
        if self.start_line is not None:
            where += (
                f", line {self.start_line}"
                if self.end_line in (None, self.start_line)
                else f", lines {self.start_line}-{self.end_line}"
            )
        words = _MATCH_WORDS[self.rule]
        if self.similarity is not None:
            words += f" (similarity {self.similarity:.2f})"
        return f"edit {self.edit_index} ({where}) {words}"


class EditFailure(BaseModel):
    """Why one edit of a proposal could not be applied, with what the repair round shows the model.

    ``code`` is the :class:`~ci_healer.patch.ProposalError` code; ``closest_lines`` are up to 20
    lines of the file most similar to the edit's ``original`` starting at 1-indexed
    ``closest_start_line``; ``nearby_paths`` are existing repository paths close to a path that
    does not exist.
    """

    edit_index: int = Field(ge=1)
    file_path: str
    code: str
    message: str
    original: str = ""
    closest_start_line: int | None = None
    closest_lines: list[str] = Field(default_factory=list)
    nearby_paths: list[str] = Field(default_factory=list)


class Patch(BaseModel):
    """A validated unified diff and its per-file changes. ``digest`` is the sha256 hex of ``diff``.

    ``matches`` records, per edit in proposal order, which rule located it (empty for a patch
    re-read from a diff).
    """

    diff: str
    digest: str
    files: list[FileChange]
    matches: list[EditMatch] = Field(default_factory=list)

    @property
    def changed_lines(self) -> int:
        """Added plus removed lines over all files."""
        return sum(len(f.added) + len(f.removed) for f in self.files)


class Violation(BaseModel):
    """A policy finding that withholds a patch (``code`` is stable, e.g. ``path_traversal``)."""

    code: str
    path: str | None = None
    message: str


class Finding(BaseModel):
    """A check on the final diff that does not withhold it but raises the risk badge to ``level``.

    ``code`` is stable: ``unverified_dependency``, ``unlisted_dependency``, ``unseen_file``,
    ``unseen_lines``, ``new_file``,
    ``new_file_kind``, ``new_folder``. ``message`` is the reason shown in the risk badge.
    """

    code: str
    path: str
    level: Literal["medium", "high"]
    message: str


class Cheat(BaseModel):
    """A "cheating" change: the patch hides the failure instead of fixing it (forces high risk)."""

    code: str = Field(
        description="skip_test, delete_test, weaken_assertion, change_assertion, continue_on_error, lint_disable, loosen_threshold, timeout_only"
    )
    path: str
    line: str = Field(description="The offending added or removed line, for the comment.")
    message: str


RiskLevel = Literal["low", "medium", "high"]
RISK_LEVELS: tuple[RiskLevel, ...] = get_args(RiskLevel)


class Risk(BaseModel):
    """Risk badge of PRODUCT.md: a level and the reasons that produced it (never empty)."""

    level: RiskLevel
    reasons: list[str] = Field(min_length=1)


class Redactions(BaseModel):
    """How many secrets of each kind were replaced (``{"github_token": 1, "llm_key": 2}``)."""

    counts: dict[str, int] = Field(default_factory=dict)

    @property
    def total(self) -> int:
        """Sum over kinds."""
        return sum(self.counts.values())

    def merge(self, other: Redactions) -> Redactions:
        """Return a new object with per-kind counts summed."""
        merged = dict(self.counts)
        for kind, n in other.counts.items():
            merged[kind] = merged.get(kind, 0) + n
        return Redactions(counts=merged)


class Usage(BaseModel):
    """Tokens a model endpoint reported for the calls of one analysis (or a backend's lifetime).

    ``requests``: completed HTTP calls that returned a reply (retries after an error do not
    count; a reply cut off at the output cap does). ``prompt_tokens``/``completion_tokens``: the
    sums of what the responses' usage fields said (OpenAI Chat Completions ``usage.prompt_tokens``
    / ``usage.completion_tokens``; Bedrock Converse ``usage.inputTokens`` / ``usage.outputTokens``).
    ``unreported``: how many of the ``requests`` carried no usage (some OpenAI-compatible servers
    omit it); their tokens are not in the sums, so the sums are then a lower bound.
    """

    requests: int = Field(default=0, ge=0)
    prompt_tokens: int = Field(default=0, ge=0)
    completion_tokens: int = Field(default=0, ge=0)
    unreported: int = Field(default=0, ge=0)

    @property
    def complete(self) -> bool:
        """True when there was at least one request and every one reported its usage."""
        return self.requests > 0 and self.unreported == 0

    def add(self, prompt_tokens: int | None, completion_tokens: int | None) -> Usage:
        """A new object with one more request; ``None`` for either count = usage not reported."""
        if prompt_tokens is None or completion_tokens is None:
            return self.model_copy(update={"requests": self.requests + 1, "unreported": self.unreported + 1})
        return Usage(
            requests=self.requests + 1,
            prompt_tokens=self.prompt_tokens + max(0, prompt_tokens),
            completion_tokens=self.completion_tokens + max(0, completion_tokens),
            unreported=self.unreported,
        )

    def since(self, earlier: Usage) -> Usage:
        """The usage between ``earlier`` (a snapshot of the same running total) and this one."""
        return Usage(
            requests=self.requests - earlier.requests,
            prompt_tokens=self.prompt_tokens - earlier.prompt_tokens,
            completion_tokens=self.completion_tokens - earlier.completion_tokens,
            unreported=self.unreported - earlier.unreported,
        )


AnalysisStatus = Literal["proposed", "no_patch", "withheld", "failed"]


class Analysis(BaseModel):
    """What ``ci-healer analyze --format json`` prints and what the renderers consume.

    ``status``: ``proposed`` — a diff passed policy; ``no_patch`` — root cause only;
    ``withheld`` — a diff was computed but policy refused it (``violations``);
    ``failed`` — the backend or the proposal failed (``message``).
    """

    root_cause: str
    category: Category
    confidence: float = Field(ge=0.0, le=1.0)
    risk: Risk
    files_to_modify: list[FileEdit] = Field(default_factory=list)
    diff: str = ""
    digest: str = ""
    blocks: list[Block] = Field(default_factory=list)
    redactions: Redactions = Field(default_factory=Redactions)
    fingerprint: str = ""
    flaky_suspect: bool = False
    backend: str
    status: AnalysisStatus = "no_patch"
    message: str = ""
    violations: list[Violation] = Field(default_factory=list)
    cheats: list[Cheat] = Field(default_factory=list)
    findings: list[Finding] = Field(default_factory=list)
    edit_matches: list[EditMatch] = Field(
        default_factory=list, description="How each edit located its file text."
    )
    repair_rounds: int = Field(
        default=0, ge=0, description="Patch-repair rounds asked of the backend (0 or 1)."
    )
    lines_total: int = 0
    tokens: int = 0
    usage: Usage | None = Field(
        default=None,
        description="Tokens the model endpoint reported for this analysis' calls; None when no model was called.",
    )


class ContextFile(BaseModel):
    """A window of one repository file given to the model (``text`` already redacted).

    ``start_line``/``end_line`` are 1-indexed inclusive line numbers of the window in the file.
    ``reason`` says why it was included (``named-in-log``, ``manifest``).
    """

    path: str
    start_line: int = Field(ge=1)
    end_line: int = Field(ge=0)
    text: str
    reason: str


class ChangedFile(BaseModel):
    """One file of the failing change (a PR's files or a push's compare), as GitHub lists it.

    ``status`` is GitHub's (``added``, ``modified``, ``removed``, ``renamed``, ``copied``,
    ``changed``, ``unchanged``); ``patch`` is the unified-diff hunks GitHub gives (no ``---``/``+++``
    header; empty for binary or very large files, or when the byte cap was reached).
    """

    path: str
    status: str = "modified"
    patch: str = ""
    previous_path: str | None = None


ChangeKind = Literal["pull_request", "push"]
"""A failing change is a pull request's files or the commits of a push since the last green run."""


class FailingChange(BaseModel):
    """The change the failed run tested: the files of a pull request
    (``GET pulls/{n}/files``) or of a push since the last commit whose run of the same workflow
    succeeded (``GET compare/{base}...{head}``).

    ``total_files`` is how many files GitHub says changed (it may exceed ``len(files)``: reading is
    capped); ``notes`` say in plain words what was capped or why the change is partial.
    """

    kind: ChangeKind
    base_sha: str = ""
    head_sha: str = ""
    number: int | None = Field(default=None, description="PR number for kind pull_request.")
    files: list[ChangedFile] = Field(default_factory=list)
    total_files: int = 0
    notes: list[str] = Field(default_factory=list)


class PastFix(BaseModel):
    """A merged fix of an earlier failure with the same fingerprint (:mod:`ci_healer.memory`),
    given to the model as one example: the fix PR's number, the day it was merged
    (``YYYY-MM-DD``) and its unified ``diff`` (size-capped; ``cut`` when shortened)."""

    pr_number: int = Field(ge=1)
    merged_on: str = Field(pattern=r"^\d{4}-\d{2}-\d{2}$")
    diff: str
    cut: bool = False


class ProposalRequest(BaseModel):
    """Everything a backend may see: redacted failure blocks, the classification, file windows."""

    repository: str = Field(description="owner/name, or a folder name for a local repository")
    blocks: list[Block]
    classification: Classification
    files: list[ContextFile] = Field(default_factory=list)
    manifests: list[str] = Field(
        default_factory=list, description="Dependency manifest paths present in the repository."
    )
    project_packages: list[str] = Field(
        default_factory=list, description="Import names of the project's own packages."
    )
    change: FailingChange | None = Field(
        default=None, description="The failing change (redacted), when it could be read."
    )
    past_fix: PastFix | None = Field(
        default=None, description="A merged fix of the same failure (redacted), as one example."
    )
