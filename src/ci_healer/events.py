"""The one place that decides, from the event GitHub delivered, what ci-healer does.

:func:`route` reads the webhook payload (``GITHUB_EVENT_PATH``) through small pydantic models that
keep only the fields used (``extra="ignore"``) and returns one :class:`Activity`:

* ``workflow_run`` ``completed`` with conclusion ``failure``/``timed_out`` → :class:`Analyze`
  (:class:`Verify` when the head branch is ``ai-fix/*``); ``success`` on ``ai-fix/*`` →
  :class:`Verify`; ``success`` of a run attempt above 1 elsewhere → :class:`RerunPassed`; a
  failure whose head commit ci-healer itself authored outside ``ai-fix/*`` →
  :class:`Skip` (loop guard); anything else → :class:`Skip`.
* ``issue_comment`` ``created`` (never ``edited``) on a PR whose first line starts with the approval
  command → :class:`Apply`; ``/reject-fix`` → :class:`Reject`; ci-healer's own comments → Skip.
* ``pull_request``/``pull_request_target`` ``labeled`` with the approval label → :class:`Apply`
  (the *sender* is the one whose permission is checked).
* ``workflow_dispatch`` with input ``run-id`` → :class:`Apply` of the proposal in that run's check run.

Malformed payloads raise :class:`EventError` whose message names the missing or invalid field.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ci_healer.github_api import DEFAULT_BOT_LOGIN, FIX_BRANCH_PREFIX
from ci_healer.markers import COMMIT_SHA, PROPOSAL_ID_RE

REJECT_COMMAND = "/reject-fix"


class EventError(Exception):
    """The event payload is not JSON or lacks a field ci-healer needs; the message names it."""


class _M(BaseModel):
    model_config = ConfigDict(extra="ignore")


class _User(_M):
    login: str
    type: str = "User"


class _RepoRef(_M):
    full_name: str


class _CommitAuthor(_M):
    name: str = ""
    email: str = ""


class _HeadCommit(_M):
    id: str = ""
    author: _CommitAuthor | None = None


class _PullRef(_M):
    number: int


class WorkflowRunData(_M):
    """``workflow_run`` object of the ``workflow_run`` event."""

    id: int = Field(ge=1)
    run_attempt: int = Field(default=1, ge=1)
    head_sha: str = Field(pattern=COMMIT_SHA)
    head_branch: str | None = None
    conclusion: str | None = None
    event: str = ""
    workflow_id: int | None = None
    html_url: str = ""
    pull_requests: list[_PullRef] = Field(default_factory=list)
    head_repository: _RepoRef | None = None
    repository: _RepoRef | None = None
    head_commit: _HeadCommit | None = None


class WorkflowRunPayload(_M):
    """The ``workflow_run`` event."""

    action: str
    workflow_run: WorkflowRunData
    repository: _RepoRef


class _Comment(_M):
    id: int
    body: str = ""
    user: _User
    created_at: str = ""


class _Issue(_M):
    number: int
    pull_request: dict[str, Any] | None = None


class IssueCommentPayload(_M):
    """The ``issue_comment`` event."""

    action: str
    comment: _Comment
    issue: _Issue
    repository: _RepoRef


class _Label(_M):
    name: str


class _Pull(_M):
    number: int
    updated_at: str = ""


class PullRequestPayload(_M):
    """The ``pull_request`` / ``pull_request_target`` event."""

    action: str
    number: int | None = None
    pull_request: _Pull
    label: _Label | None = None
    sender: _User
    repository: _RepoRef


class WorkflowDispatchPayload(_M):
    """The ``workflow_dispatch`` event."""

    inputs: dict[str, Any] | None = None
    sender: _User
    repository: _RepoRef


# ------------------------------------------------------------------------------------ activities


@dataclass(frozen=True)
class Skip:
    """Nothing to do; ``reason`` is printed as one notice."""

    reason: str


@dataclass(frozen=True)
class Analyze:
    """Analyze the failed run ``run``."""

    run: WorkflowRunData


@dataclass(frozen=True)
class Verify:
    """A run on an ``ai-fix/`` branch completed: update the original proposal."""

    run: WorkflowRunData


@dataclass(frozen=True)
class RerunPassed:
    """A later attempt (``run_attempt`` above 1) of a run passed: if ci-healer analyzed an
    earlier attempt of it, that failure is marked flaky (:mod:`ci_healer.rerun`)."""

    run: WorkflowRunData


@dataclass(frozen=True)
class Apply:
    """Apply a proposal. ``source``: ``comment``, ``label``, ``dispatch`` or ``auto`` (opt-in
    auto-apply, :mod:`ci_healer.auto_apply`: no human approver, the gates decided). ``actor`` is whose
    permission is checked (commenter, label sender, dispatcher). ``pr_number`` is ``None`` for a
    dispatch (then ``run_id`` names the analysed run). ``proposal_id`` is the id the maintainer
    typed, if any. ``requested_at`` is when the approval was made (GitHub's ISO 8601 time: the
    comment's ``created_at``; for a label the pull request's ``updated_at`` in the event, which
    adding the label sets), compared with the proposal's time (SECURITY.md item 23)."""

    source: Literal["comment", "label", "dispatch", "auto"]
    actor: str
    actor_is_bot: bool
    pr_number: int | None = None
    comment_id: int | None = None
    proposal_id: str | None = None
    label: str | None = None
    run_id: int | None = None
    requested_at: str | None = None


@dataclass(frozen=True)
class Reject:
    """A maintainer rejected the proposal on PR ``pr_number``."""

    actor: str
    actor_is_bot: bool
    pr_number: int
    comment_id: int
    proposal_id: str | None = None


Activity = Skip | Analyze | Verify | Apply | Reject | RerunPassed


def load_event(path: str | Path) -> dict[str, Any]:
    """Read the event JSON at ``path`` (``GITHUB_EVENT_PATH``). Raises :class:`EventError` for
    every malformed file: unreadable, not UTF-8, not JSON, nested too deeply to parse, not an object."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as err:
        raise EventError(f"cannot read the event file GITHUB_EVENT_PATH ({err.strerror or err})") from None
    except UnicodeDecodeError as err:
        raise EventError(f"the event file is not UTF-8 (byte {err.start}: {err.reason})") from None
    try:
        data = json.loads(text)
    except RecursionError:
        raise EventError("the event file is not usable JSON: it is nested too deeply") from None
    except ValueError as err:
        raise EventError(f"the event file is not valid JSON: {str(err)[:200]}") from None
    if not isinstance(data, dict):
        raise EventError("the event file does not hold a JSON object")
    return data


def _parse(model: type[BaseModel], payload: dict[str, Any], event_name: str) -> Any:
    try:
        return model.model_validate(payload)
    except RecursionError:
        raise EventError(f"{event_name} event: the payload is nested too deeply") from None
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(root)"
        raise EventError(f"{event_name} event: field {where}: {first['msg']}") from None


def _command(body: str, command: str) -> tuple[bool, str | None]:
    """``(matches, proposal_id)`` for a comment whose first line is ``command [id]``."""
    first = body.lstrip("\ufeff").split("\n", 1)[0].strip()
    words = first.split()
    if not words or words[0] != command:
        return False, None
    if len(words) >= 2 and PROPOSAL_ID_RE.match(words[1]):
        return True, words[1]
    return True, None


def _is_bot(user: _User) -> bool:
    return user.type == "Bot" or user.login.endswith("[bot]")


def route(
    event_name: str, payload: dict[str, Any], settings: Any, *, bot_login: str = DEFAULT_BOT_LOGIN
) -> Activity:
    """Decide what to do for event ``event_name`` with ``payload``.

    ``settings`` supplies ``approval_command`` and ``approval_label`` (an
    :class:`~ci_healer.settings.ActionSettings`); ``bot_login`` is ci-healer's own login, whose
    comments are ignored. Raises :class:`EventError` for a malformed payload.
    """
    approval_command: str = settings.approval_command
    approval_label: str | None = settings.approval_label
    if event_name == "workflow_run":
        ev = _parse(WorkflowRunPayload, payload, event_name)
        run = ev.workflow_run
        if ev.action != "completed":
            return Skip(f"workflow_run {ev.action}: ci-healer acts on completed runs only")
        on_fix_branch = (run.head_branch or "").startswith(FIX_BRANCH_PREFIX)
        if run.conclusion in ("failure", "timed_out"):
            if on_fix_branch:
                return Verify(run)
            author = run.head_commit.author if run.head_commit else None
            if (
                author is not None
                and bot_login
                and bot_login in (author.name, author.email.split("+", 1)[-1].split("@", 1)[0])
            ):
                return Skip("the failing commit was authored by ci-healer itself; skipped to avoid a loop")
            return Analyze(run)
        if run.conclusion == "success" and on_fix_branch:
            return Verify(run)
        if run.conclusion == "success" and run.run_attempt > 1:
            return RerunPassed(run)
        return Skip(f"workflow run concluded {run.conclusion or 'without a conclusion'}: nothing to analyze")

    if event_name == "issue_comment":
        ev = _parse(IssueCommentPayload, payload, event_name)
        if ev.action != "created":
            return Skip(
                f"issue_comment {ev.action}: only newly created comments can approve (edits are ignored)"
            )
        if ev.issue.pull_request is None:
            return Skip("the comment is on an issue, not a pull request")
        if ev.comment.user.login == bot_login:
            return Skip("the comment is ci-healer's own")
        approve, pid = _command(ev.comment.body, approval_command)
        if approve:
            return Apply(
                "comment",
                ev.comment.user.login,
                _is_bot(ev.comment.user),
                pr_number=ev.issue.number,
                comment_id=ev.comment.id,
                proposal_id=pid,
                requested_at=ev.comment.created_at or None,
            )
        reject, pid = _command(ev.comment.body, REJECT_COMMAND)
        if reject:
            return Reject(
                ev.comment.user.login, _is_bot(ev.comment.user), ev.issue.number, ev.comment.id, pid
            )
        return Skip("the comment is not an approval or rejection command")

    if event_name in ("pull_request", "pull_request_target"):
        ev = _parse(PullRequestPayload, payload, event_name)
        if ev.action != "labeled":
            return Skip(f"{event_name} {ev.action}: ci-healer acts on the approval label only")
        if not approval_label or ev.label is None or ev.label.name != approval_label:
            return Skip("the added label is not the approval label")
        return Apply(
            "label",
            ev.sender.login,
            _is_bot(ev.sender),
            pr_number=ev.pull_request.number,
            label=ev.label.name,
            requested_at=ev.pull_request.updated_at or None,
        )

    if event_name == "workflow_dispatch":
        ev = _parse(WorkflowDispatchPayload, payload, event_name)
        raw = (ev.inputs or {}).get("run-id")
        if raw is None or str(raw).strip() == "":
            return Skip("workflow_dispatch without a run-id input: nothing to apply")
        text = str(raw).strip()
        if not text.isdigit() or int(text) < 1:
            raise EventError(
                f"workflow_dispatch event: input run-id must be a workflow run id (digits), not {text[:40]!r}"
            )
        return Apply("dispatch", ev.sender.login, _is_bot(ev.sender), run_id=int(text))

    return Skip(f"event {event_name!r} is not one ci-healer handles")


__all__ = [
    "REJECT_COMMAND",
    "Activity",
    "Analyze",
    "Apply",
    "EventError",
    "Reject",
    "RerunPassed",
    "Skip",
    "Verify",
    "WorkflowRunData",
    "load_event",
    "route",
]
