"""The transport of ci-healer's GitHub REST calls: the PyGithub client, its retries and pacing,
and the mapping of every failure to :class:`GitHubError`. The operations (check runs, comments,
pull requests, refs, logs ...) are in :mod:`ci_healer.github_api`, which re-exports these names.

Errors: every failed call is turned into :class:`GitHubError` with the HTTP ``status``, the
operation that failed and, for a 403, the permission the token most likely lacks (from the
``X-Accepted-GitHub-Permissions`` header when GitHub sends it, else from the operation), so the
caller can print "grant `checks: write`" instead of a stack trace.

Retries (SECURITY.md item 21): reads and idempotent writes (``PATCH``, ``PUT``, ``DELETE``) are
retried on 5xx by :class:`WriteSafeRetry`; a ``POST`` is never re-sent blindly after a 5xx or a
lost answer, because GitHub may have honoured it before the proxy answered 502 (the operations
look for the object first: :meth:`ci_healer.github_api.GitHubClient._create`). Secondary rate
limits (403/429 with ``Retry-After``) are retried for every method: GitHub did not carry such a
request out. Writes are paced one second apart (:func:`make_github`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import requests
from github import Auth, Github, GithubException, GithubRetry

T = TypeVar("T")

# Permission each operation needs, for the message of a 403 without X-Accepted-GitHub-Permissions.
_NEEDS: dict[str, str] = {
    "check run": "checks: write",
    "comment": "pull-requests: write",
    "reaction": "pull-requests: write",
    "label": "pull-requests: write",
    "pull request": "pull-requests: write",
    "review": "pull-requests: write",
    "commit": "contents: write",
    "ref": "contents: write",
    "dispatch": "actions: write",
    "re-run": "actions: write",
    "jobs": "actions: read",
    "job log": "actions: read",
    "workflow run": "actions: read",
    "contents": "contents: read",
    "permission": "the default repository metadata access",
    "PR files": "pull-requests: read",
    "comparison": "contents: read",
    "issue": "issues: write",
}


class GitHubError(Exception):
    """A GitHub API call failed.

    ``status``: HTTP status (0 when no answer arrived); ``what``: the operation ("create check
    run"); ``permission``: for a 403, the missing permission in workflow syntax (``checks: write``),
    else ``None``. ``str(err)`` is one line for the job summary.
    """

    def __init__(self, what: str, status: int, message: str, *, permission: str | None = None) -> None:
        self.what = what
        self.status = status
        self.permission = permission
        hint = f" — the token lacks `{permission}`" if permission else ""
        super().__init__(f"{what} failed ({status or 'no answer'}): {message}{hint}")


def _permission_from(err: GithubException, what: str) -> str | None:
    headers = {k.lower(): v for k, v in (err.headers or {}).items()}
    accepted = headers.get("x-accepted-github-permissions")
    if accepted:
        # "checks=write" or "contents=read; contents=write" -> "checks: write"
        first = accepted.split(";")[0].split(",")[0].strip()
        name, _, level = first.partition("=")
        if name and level:
            return f"{name.strip()}: {level.strip()}"
    for key, needed in _NEEDS.items():
        if key in what:
            return needed
    return None


def _message(err: GithubException) -> str:
    data = err.data
    if isinstance(data, dict):
        msg = str(data.get("message") or "")
        errors = data.get("errors")
        if isinstance(errors, list) and errors:
            details = []
            for item in errors[:3]:
                details.append(
                    str(item.get("message") or item.get("code") or item)
                    if isinstance(item, dict)
                    else str(item)
                )
            msg = f"{msg} ({'; '.join(details)})"
        return msg[:500] or "no message"
    return str(data)[:500] if data else "no message"


def call(what: str, fn: Callable[[], T]) -> T:
    """Run one PyGithub call; turn its failures into :class:`GitHubError` naming ``what``."""
    try:
        return fn()
    except GithubException as err:
        permission = _permission_from(err, what) if err.status == 403 else None
        raise GitHubError(what, err.status, _message(err), permission=permission) from None
    except requests.exceptions.RetryError as err:
        raise GitHubError(what, 0, f"gave up after retries ({err})") from None
    except requests.exceptions.RequestException as err:
        raise GitHubError(what, 0, f"{type(err).__name__}: {err}") from None


NON_IDEMPOTENT_METHODS = frozenset({"POST"})
"""Methods whose repetition can create a second object (a comment, a check run, a workflow run)."""


class WriteSafeRetry(GithubRetry):
    """:class:`github.GithubRetry` that never re-sends a ``POST`` after a 5xx or a lost answer.

    PyGithub's retry re-sends ``POST`` on 500–599; when GitHub had created the comment or check run
    before its proxy answered 502, the retry creates a second one. Here a ``POST`` is retried only
    for rate limits (403/429 with ``Retry-After`` or a rate-limit message: GitHub did not carry the
    request out, "Rate limits for the REST API"), and connection errors before the request was sent;
    a read timeout or a 5xx on a ``POST`` is given back to the caller, which looks for the object
    before creating it again (:meth:`GitHubClient._create`). ``PATCH`` (idempotent: it sets a body)
    is retried like ``GET``.
    """

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault(
            "allowed_methods",
            frozenset({"DELETE", "GET", "HEAD", "OPTIONS", "PUT", "TRACE", "PATCH", "POST"}),
        )
        kwargs.setdefault("status_forcelist", [*range(500, 600), 429])
        super().__init__(**kwargs)

    def is_retry(self, method: str, status_code: int, has_retry_after: bool = False) -> bool:
        """No retry of a non-idempotent method on a 5xx answer."""
        if method.upper() in NON_IDEMPOTENT_METHODS and status_code >= 500:
            return False
        return super().is_retry(method, status_code, has_retry_after)

    def increment(
        self,
        method: str | None = None,
        url: str | None = None,
        response: Any = None,
        error: Exception | None = None,
        _pool: Any = None,
        _stacktrace: Any = None,
    ) -> Any:
        """A read error (the request was sent, the answer lost) on a ``POST`` is raised, not retried."""
        if (
            error is not None
            and response is None
            and (method or "").upper() in NON_IDEMPOTENT_METHODS
            and self._is_read_error(error)
        ):
            raise error.with_traceback(_stacktrace)
        return super().increment(method, url, response, error, _pool, _stacktrace)


def may_have_been_done(err: GitHubError) -> bool:
    """True when a write failed in a way that does not say whether GitHub carried it out: a 5xx
    (the proxy in front of GitHub answered) or no answer at all."""
    return err.status >= 500 or err.status == 0


def make_github(
    *,
    token: str,
    api_url: str,
    retries: int = 5,
    backoff: float = 1.0,
    timeout: int = 30,
    seconds_between_requests: float | None = None,
    seconds_between_writes: float | None = 1.0,
    secondary_rate_wait: float = 60,
) -> Github:
    """A PyGithub client for ``api_url`` (GitHub Enterprise Server works) that retries 5xx, rate
    limits and secondary rate limits with :class:`WriteSafeRetry` (``retries`` attempts,
    exponential ``backoff`` seconds; a secondary rate limit without ``Retry-After`` waits
    ``secondary_rate_wait`` seconds; a POST is never re-sent after a 5xx). Writes are spaced one
    second apart, GitHub's advice for avoiding secondary rate limits ("Best practices for using the
    REST API": wait at least one second between mutating requests); reads are not paced (an
    analysis makes about a dozen, serially), so the action's own overhead stays near one second."""
    retry = WriteSafeRetry(
        total=retries,
        backoff_factor=backoff,
        secondary_rate_wait=secondary_rate_wait,
        max_rate_limit_wait=300,
    )
    return Github(
        auth=Auth.Token(token),
        base_url=api_url,
        retry=retry,
        timeout=timeout,
        per_page=100,
        seconds_between_requests=seconds_between_requests,
        seconds_between_writes=seconds_between_writes,
    )
