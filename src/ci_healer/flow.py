"""What the analyze, apply and verify flows share: the injected I/O, exit codes, the failure report
(:func:`fail`), the status line ci-healer keeps in its own comment and check run (and
:func:`set_origin_status`, which writes it on the original proposal), the outcome of the analyze
flow, and the metadata of a fix PR. No flow imports another: the verify flow gets the analyze flow
injected (:class:`AnalyzeFlow`).

The status line sits right after the two header lines of a body written by
:mod:`ci_healer.render` (marker and metadata), between ``<!-- ci-healer:status -->`` and
``<!-- ci-healer:status-end -->``, so it can be replaced without re-rendering the analysis (which
is not stored anywhere but in the body itself). Its text is escaped with
:func:`ci_healer.render.escape_prose`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ci_healer.backends.base import Backend
from ci_healer.events import WorkflowRunData
from ci_healer.github_api import CheckRunInfo, CommentInfo, GitHubClient, GitHubError, PullInfo
from ci_healer.markers import (
    COMMIT_SHA,
    DIGEST,
    FIX,
    PROPOSAL_ID,
    STATUS_CLOSE,
    STATUS_OPEN,
    encode_metadata_line,
    read_metadata_line,
)
from ci_healer.models import Analysis
from ci_healer.render import embed_metadata, escape_prose, read_metadata
from ci_healer.repo import RepoSource
from ci_healer.settings import ActionSettings
from ci_healer.templating import markdown_env
from ci_healer.workflow_commands import Runner

EXIT_OK = 0
EXIT_FAILURE = 1


BackendFactory = Callable[[RepoSource | None], Backend]


@dataclass
class Context:
    """Everything a flow needs; all I/O is injected.

    ``backend_factory(repo)`` builds the proposal backend only when a model call is due (so a
    flow that must not call the model never builds one).
    """

    settings: ActionSettings
    gh: GitHubClient
    runner: Runner
    backend_factory: BackendFactory
    environ: dict[str, str] = field(default_factory=dict)

    @property
    def secrets(self) -> list[str]:
        """Literal secret values to redact."""
        return self.settings.secret_values()

    def escape(self, text: str) -> str:
        """Untrusted text as plain markdown (no mentions, links, HTML or commands)."""
        return escape_prose(text, repository=self.settings.repository, server_url=self.settings.server_url)

    def pr_url(self, number: int) -> str:
        """Web URL of PR ``number`` of this repository."""
        return f"{self.settings.server_url}/{self.settings.repository}/pull/{number}"

    def run_url(self, run_id: int) -> str:
        """Web URL of workflow run ``run_id``."""
        return f"{self.settings.server_url}/{self.settings.repository}/actions/runs/{run_id}"


class Refused(Exception):
    """An approval is refused for a reason the user must see (replied on the PR, exit 0)."""

    def __init__(self, reason: str, *, code: str) -> None:
        super().__init__(reason)
        self.code = code


@dataclass
class AnalyzeOutcome:
    """What the analyze flow did: its exit code and, when it got that far, the analysis and where
    it was posted."""

    exit_code: int
    analysis: Analysis | None = None
    proposal_id: str | None = None
    pr: PullInfo | None = None
    comment: CommentInfo | None = None
    check_run: CheckRunInfo | None = None


class AnalyzeFlow(Protocol):
    """The analyze flow as the verify flow calls it (:func:`ci_healer.analyze_run.run_analyze`)."""

    def __call__(
        self, ctx: Context, run: WorkflowRunData, *, status_note: str | None = None
    ) -> AnalyzeOutcome: ...


def render_md(template: str, **values: Any) -> str:
    """Render ``templates/<template>``; every value must already be safe markdown."""
    return markdown_env().get_template(template).render(**values).strip("\n") + "\n"


def set_status(body: str, status_markdown: str) -> str:
    """Return ``body`` with its status line set to ``status_markdown`` (replacing an old one).

    Only bodies that start with ci-healer's header get a status line; others are returned unchanged.
    """
    if read_metadata(body) is None:
        return body
    head, _, rest = body.partition("\n")
    meta_line, _, rest = rest.partition("\n")
    rest = re.sub(
        re.escape(STATUS_OPEN) + r".*?" + re.escape(STATUS_CLOSE) + r"\n\n?",
        "",
        rest,
        count=1,
        flags=re.DOTALL,
    )
    block = f"{STATUS_OPEN}\n{status_markdown.strip()}\n{STATUS_CLOSE}\n\n"
    return f"{head}\n{meta_line}\n{block}{rest}"


def fail(ctx: Context, what: str, err: GitHubError | None, *, hint: str | None = None) -> int:
    """Explain a failure in the job summary, print one ``::error::`` and return exit code 1."""
    detail = str(err) if err is not None else ""
    if hint is None and err is not None:
        if err.permission:
            hint = f"Add `permissions: {err.permission}` to the job that runs ci-healer."
        elif err.status == 404:
            hint = "The object was not found: check that the run, PR or commit still exists and that the token can see this repository."
        elif err.status == 422:
            hint = "GitHub refused the request as invalid; the message above says which field."
        elif err.status >= 500 or err.status == 0:
            hint = "GitHub did not answer after retries; re-run the job later."
    ctx.runner.append_summary(
        render_md(
            "action_error.md.j2",
            what=ctx.escape(what),
            detail=ctx.escape(detail),
            hint=ctx.escape(hint or ""),
        )
    )
    ctx.runner.error(f"ci-healer: {what}" + (f": {detail}" if detail else ""))
    return EXIT_FAILURE


def set_origin_status(ctx: Context, fix: FixMetadata, status: str) -> None:
    """Write ``status`` into the status line of the original proposal: its comment (only when ci-healer
    wrote it) and its check run. A failed API call is a warning, not a failure of the flow."""
    if fix.origin_comment_id is not None:
        try:
            original = ctx.gh.get_comment(fix.origin_comment_id)
            if original.user == ctx.gh.bot_login:
                ctx.gh.update_comment(original.id, set_status(original.body, status))
        except GitHubError as err:
            ctx.runner.warning(f"could not update the proposal comment: {err}")
    if fix.origin_check_run_id is not None:
        try:
            cr = ctx.gh.get_check_run(fix.origin_check_run_id)
            ctx.gh.update_check_summary(cr.id, title=cr.title, summary=set_status(cr.summary, status))
        except GitHubError as err:
            ctx.runner.warning(f"could not update the check run: {err}")


def withdraw(body: str) -> str:
    """Return ``body`` with ``patch_shown`` false in its metadata: the proposal can no longer be
    applied (used when a maintainer rejects it). Its ledger fields (:mod:`ci_healer.ledger`) are kept."""
    meta = read_metadata(body)
    if meta is None:
        return body
    from ci_healer.ledger import read_ledger, with_ledger  # the ledger module reads this one

    rest = body.split("\n", 2)[2] if body.count("\n") >= 2 else ""
    return with_ledger(
        embed_metadata(meta.model_copy(update={"patch_shown": False})) + rest, read_ledger(body)
    )


class FixMetadata(BaseModel):
    """Hidden record in the body of a fix PR: where the proposal came from, which attempt this is
    (1 for the first fix of a failure) and the commit ci-healer created (``fix_sha``)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    proposal_id: str = Field(pattern=PROPOSAL_ID)
    origin_pr: int | None = Field(default=None, ge=1)
    origin_comment_id: int | None = Field(default=None, ge=1)
    origin_check_run_id: int | None = Field(default=None, ge=1)
    origin_run_id: int | None = Field(default=None, ge=1)
    base_sha: str = Field(pattern=COMMIT_SHA)
    digest: str = Field(pattern=DIGEST)
    attempt: int = Field(default=1, ge=1, le=100)
    fix_sha: str | None = Field(default=None, pattern=COMMIT_SHA)
    """The commit ci-healer created on the fix branch; only a run of it (or of a descendant that is
    the fix PR's head) verifies the fix (SECURITY.md item 20)."""


def embed_fix_metadata(meta: FixMetadata) -> str:
    """The first line of a fix PR body."""
    return encode_metadata_line(FIX, meta.model_dump(mode="json")) + "\n"


def read_fix_metadata(body: str) -> FixMetadata | None:
    """The :class:`FixMetadata` on the first line of a fix PR body, or ``None``."""
    found = read_metadata_line(body or "", FIX)
    if found is None:
        return None
    try:
        return FixMetadata.model_validate(found[1])
    except ValidationError:
        return None
