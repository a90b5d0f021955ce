"""Notifications: one POST to a webhook when a proposal is proposed, applied, verified or fails.

Two shapes of body:

* ``slack`` — a Slack incoming webhook message with Block Kit ``blocks`` and a ``text`` fallback
  (https://api.slack.com/messaging/webhooks, https://api.slack.com/reference/block-kit/blocks).
  Text is Slack ``mrkdwn``: ``&``, ``<`` and ``>`` are escaped as Slack documents
  (https://api.slack.com/reference/surfaces/formatting#escaping), so ``<!channel>``, ``<!here>``,
  ``<@U123>`` or a ``<url|label>`` link inside a root cause can never ping anyone or link anywhere;
  plain ``@channel``/``@here``/``@everyone`` get a zero-width joiner after the ``@``.
* ``generic`` — a flat JSON object (:meth:`NotifyEvent.generic`) for any other receiver: a
  Teams/Discord adapter or a custom endpoint.

The shape is chosen by the webhook host (``hooks.slack.com`` → ``slack``) unless the
``notify-format`` input names one. Every text is redacted with :mod:`ci_healer.redact` first (the
same secrets as the comment, plus the webhook URL itself) — SECURITY.md item 4.

A webhook that fails, answers non-2xx or does not answer within :data:`DEFAULT_TIMEOUT` seconds
never fails the job: :meth:`Notifier.send` prints one warning through the
:class:`~ci_healer.workflow_commands.Runner` and returns ``False``. The webhook URL is a secret
(it carries the credential in its path): it is masked with ``::add-mask::`` when the notifier is
built and no message ci-healer prints names it — the warning gives only the HTTP status or the
class of error, never the text of a ``requests`` exception (which contains the host and path).
"""

from __future__ import annotations

import re
from typing import Any, Literal, get_args
from urllib.parse import urlsplit

import requests
from pydantic import BaseModel, ConfigDict, Field

from ci_healer.models import RISK_LEVELS, RiskLevel
from ci_healer.redact import redact_text
from ci_healer.workflow_commands import Runner

DEFAULT_TIMEOUT = 5.0
"""Seconds to wait for the webhook (connect and read) before giving up with a warning."""

SLACK_HOST = "hooks.slack.com"
ROOT_CAUSE_LIMIT = 280
"""Characters of the root cause's first line shown in a notification."""

EventKind = Literal["proposed", "applied", "verified", "failed"]
NotifyFormat = Literal["auto", "slack", "generic"]
NOTIFY_FORMATS: tuple[NotifyFormat, ...] = get_args(NotifyFormat)

_TITLES = {
    "proposed": "Fix proposed",
    "applied": "Fix applied",
    "verified": "Fix verified: CI passed",
    "failed": "Fix did not pass",
}
_BADGES = {"low": "🟢 low risk", "medium": "🟡 medium risk", "high": "🔴 high risk"}
_BROADCAST = re.compile(r"@(channel|here|everyone)\b", re.IGNORECASE)
_ZWJ = "\u2060"


class NotifyEvent(BaseModel):
    """One lifecycle event of a proposal, as a notification shows it.

    ``root_cause`` and ``message`` are untrusted (model prose, log text): they are redacted and
    escaped when a body is built. URLs (``comment_url``, ``run_url``, ``fix_pr_url``) are ci-healer's
    own links to GitHub; one that is not ``http(s)`` or contains a character that could end a Slack
    link (``<``, ``>``, ``|``, whitespace) is dropped.
    """

    model_config = ConfigDict(frozen=True)

    kind: EventKind
    repository: str
    proposal_id: str
    risk: RiskLevel | None = None
    root_cause: str = ""
    message: str = ""
    comment_url: str | None = None
    run_url: str | None = None
    fix_pr_url: str | None = None
    attempt: int | None = Field(default=None, ge=1)

    def generic(self, secrets: list[str] | tuple[str, ...] = ()) -> dict[str, Any]:
        """The ``generic`` body: ``{"event", "title", "repository", "proposal_id", "risk",
        "root_cause", "message", "links": {"comment", "run", "fix_pr"}, "attempt"}`` with every text
        redacted (not escaped: receivers treat it as plain text) and unsafe links set to ``None``."""
        return {
            "event": self.kind,
            "title": _TITLES[self.kind],
            "repository": self.repository,
            "proposal_id": self.proposal_id,
            "risk": self.risk,
            "root_cause": _redact(first_line(self.root_cause), secrets),
            "message": _redact(self.message, secrets),
            "links": {
                "comment": safe_link(self.comment_url),
                "run": safe_link(self.run_url),
                "fix_pr": safe_link(self.fix_pr_url),
            },
            "attempt": self.attempt,
        }

    def slack(self, secrets: list[str] | tuple[str, ...] = ()) -> dict[str, Any]:
        """The Slack Block Kit body: a ``header``-like bold ``section`` (title, repository, risk
        badge), a ``section`` with the root cause in one line, an optional ``context`` with the
        message, and a ``context`` of links (comment, run, fix PR). ``text`` is the notification
        fallback. Every text is redacted, then escaped with :func:`slack_escape`."""
        badge = _BADGES.get(self.risk or "", "")
        title = f"*{_TITLES[self.kind]}* in `{slack_escape(self.repository)}`"
        if badge:
            title += f" · {badge}"
        cause = slack_escape(_redact(first_line(self.root_cause), secrets)) or "_no root cause_"
        blocks: list[dict[str, Any]] = [
            {"type": "section", "text": {"type": "mrkdwn", "text": title}},
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*Root cause:* {cause}"}},
        ]
        if self.message:
            blocks.append(
                {
                    "type": "context",
                    "elements": [
                        {"type": "mrkdwn", "text": slack_escape(_redact(first_line(self.message), secrets))}
                    ],
                }
            )
        links = [
            f"<{link}|{label}>"
            for label, raw in (
                ("comment", self.comment_url),
                ("run", self.run_url),
                ("fix PR", self.fix_pr_url),
            )
            if (link := safe_link(raw))
        ]
        if links:
            blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": " · ".join(links)}]})
        fallback = f"ci-healer: {_TITLES[self.kind]} in {slack_escape(self.repository)} ({self.proposal_id})"
        return {"text": fallback, "blocks": blocks}


def first_line(text: str, limit: int = ROOT_CAUSE_LIMIT) -> str:
    """The first non-blank line of ``text``, stripped, cut to ``limit`` characters with ``…``."""
    line = next((ln.strip() for ln in (text or "").splitlines() if ln.strip()), "")
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


def slack_escape(text: str) -> str:
    """``text`` as inert Slack mrkdwn: ``&`` → ``&amp;``, ``<`` → ``&lt;``, ``>`` → ``&gt;``
    (Slack's three control characters), and ``@channel``/``@here``/``@everyone`` broken with a
    word joiner (U+2060) so no broadcast mention can fire."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _BROADCAST.sub(lambda m: f"@{_ZWJ}{m.group(1)}", text)


def safe_link(url: str | None) -> str | None:
    """``url`` when it is an ``http(s)`` URL with a host and no character that ends a Slack link
    (``<``, ``>``, ``|``, whitespace, quote); else ``None``."""
    if not url or re.search(r"[<>|\s\"']", url):
        return None
    parts = urlsplit(url)
    return url if parts.scheme in ("https", "http") and parts.netloc else None


def choose_format(url: str, requested: NotifyFormat = "auto") -> Literal["slack", "generic"]:
    """``requested`` unless ``auto``; for ``auto``, ``slack`` when the host is ``hooks.slack.com``."""
    if requested != "auto":
        return requested
    host = (urlsplit(url).hostname or "").lower()
    return "slack" if host == SLACK_HOST else "generic"


def _redact(text: str, secrets: list[str] | tuple[str, ...]) -> str:
    return redact_text(text or "", secrets)[0]


class Notifier:
    """Posts :class:`NotifyEvent` bodies to one webhook; never raises for a webhook failure.

    ``url`` is the webhook (a secret). ``runner`` gets the ``add-mask`` of the URL at once and a
    warning per failed POST. ``secrets`` are redacted from every text (the URL is added to them).
    ``session`` is injected for tests (default: a new :class:`requests.Session`). ``timeout`` is in
    seconds, for connecting and for reading the answer each.
    """

    def __init__(
        self,
        url: str,
        *,
        runner: Runner,
        fmt: NotifyFormat = "auto",
        secrets: list[str] | tuple[str, ...] = (),
        timeout: float = DEFAULT_TIMEOUT,
        session: requests.Session | None = None,
    ) -> None:
        self._url = url
        self.runner = runner
        self.format = choose_format(url, fmt)
        self.secrets = sorted({*secrets, url})
        self.timeout = timeout
        self.session = session or requests.Session()
        runner.add_mask(url)

    def __repr__(self) -> str:
        return f"Notifier(format={self.format!r}, timeout={self.timeout})"

    def body(self, event: NotifyEvent) -> dict[str, Any]:
        """The JSON body :meth:`send` posts for ``event``."""
        return event.slack(self.secrets) if self.format == "slack" else event.generic(self.secrets)

    def send(self, event: NotifyEvent) -> bool:
        """POST ``event``; ``True`` on a 2xx answer. Any failure (connection error, timeout,
        non-2xx) is one warning on the runner and ``False`` — the job goes on."""
        try:
            resp = self.session.post(self._url, json=self.body(event), timeout=(self.timeout, self.timeout))
        except requests.Timeout:
            reason = f"no answer within {self.timeout:g} s"
        except requests.RequestException as err:
            reason = f"request failed ({type(err).__name__})"
        else:
            if 200 <= resp.status_code < 300:
                return True
            reason = f"HTTP {resp.status_code}"
        self.runner.warning(
            f"ci-healer: the {event.kind} notification was not delivered: {reason}; the job goes on"
        )
        return False


def notifier_from_settings(settings: Any, runner: Runner) -> Notifier | None:
    """A :class:`Notifier` for ``settings.notify_webhook`` (an :class:`~ci_healer.settings.ActionSettings`),
    or ``None`` when the input is empty."""
    hook = getattr(settings, "notify_webhook", None)
    if hook is None or not hook.get_secret_value():
        return None
    return Notifier(
        hook.get_secret_value(),
        runner=runner,
        fmt=getattr(settings, "notify_format", "auto"),
        secrets=settings.secret_values(),
    )


_NOTIFIERS: dict[tuple[int, str], Notifier] = {}


def notify(
    ctx: Any,
    kind: EventKind,
    *,
    proposal_id: str,
    risk: str | None = None,
    root_cause: str = "",
    message: str = "",
    comment_url: str | None = None,
    run_id: int | None = None,
    fix_pr_number: int | None = None,
    attempt: int | None = None,
) -> bool:
    """Send one notification for a flow (``ctx`` is a :class:`ci_healer.flow.Context`).

    Does nothing (``False``) without a ``notify-webhook`` or in a dry run. Never raises: a webhook
    failure is a warning (:meth:`Notifier.send`), and so is any error building the event. One
    :class:`Notifier` per runner and webhook is kept for the process (one ``add-mask``).
    """
    settings = ctx.settings
    hook = getattr(settings, "notify_webhook", None)
    if hook is None or not hook.get_secret_value() or settings.dry_run:
        return False
    try:
        key = (id(ctx.runner), hook.get_secret_value())
        notifier = _NOTIFIERS.get(key)
        if notifier is None:
            built = notifier_from_settings(settings, ctx.runner)
            if built is None:  # not reached: the webhook was checked above
                return False
            notifier = _NOTIFIERS[key] = built
        event = NotifyEvent(
            kind=kind,
            repository=settings.repository,
            proposal_id=proposal_id,
            risk=next((level for level in RISK_LEVELS if level == risk), None),
            root_cause=root_cause,
            message=message,
            comment_url=comment_url,
            run_url=ctx.run_url(run_id) if run_id else None,
            fix_pr_url=ctx.pr_url(fix_pr_number) if fix_pr_number else None,
            attempt=attempt,
        )
        return notifier.send(event)
    except Exception as err:  # a notification must never fail the job
        ctx.runner.warning(
            f"ci-healer: the {kind} notification was not sent ({type(err).__name__}); the job goes on"
        )
        return False
