"""Every GitHub REST operation ci-healer makes, through PyGithub: check runs, comments, reviews,
pull requests, refs and commits, workflow runs and their job logs. The transport under them (the
client, retries, pacing, error mapping) is :mod:`ci_healer.github_transport`; its public names are
re-exported here.

The one exception is the job log blob: GitHub answers ``GET .../actions/jobs/{job_id}/logs`` with a
302 to a short-lived signed URL (PyGithub's ``WorkflowJob.logs_url()`` returns it), which is
streamed here with ``requests`` under a byte cap and without the token (the blob host needs none).

Errors: every failed call is turned into :class:`GitHubError` with the HTTP ``status``, the
operation that failed and, for a 403, the permission the token most likely lacks (from the
``X-Accepted-GitHub-Permissions`` header when GitHub sends it, else from the operation), so the
caller can print "grant `checks: write`" instead of a stack trace.

Retries (SECURITY.md item 21): reads and idempotent writes (``PATCH``, ``PUT``, ``DELETE``) are
retried on 5xx by :class:`WriteSafeRetry`; a ``POST`` is never re-sent blindly after a 5xx or a
lost answer, because GitHub may have honoured it before the proxy answered 502. Instead each
create looks for the object it meant to create (:meth:`GitHubClient._create`: marker + bot login
for a comment, name + head SHA for a check run, the ref name for a ref, the head branch for a pull
request) and creates it again only when it is not there. Secondary rate limits (403/429 with
``Retry-After``) are retried for every method: GitHub did not carry such a request out.

Sizes: every body written (comment, pull request, check-run summary and text, review) goes through
:func:`fit_body`, which shortens it honestly to GitHub's 65,535 limit instead of letting GitHub
answer 422.
"""

from __future__ import annotations

import base64
import functools
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import requests
from github import Github
from github.File import File
from github.InputGitTreeElement import InputGitTreeElement
from github.PaginatedList import PaginatedList
from github.WorkflowJob import WorkflowJob
from github.WorkflowRun import WorkflowRun
from pydantic import BaseModel

from ci_healer.github_transport import (
    NON_IDEMPOTENT_METHODS,
    GitHubError,
    WriteSafeRetry,
    call,
    make_github,
    may_have_been_done,
)
from ci_healer.models import ChangedFile
from ci_healer.render import GITHUB_BODY_LIMIT, abbreviate
from ci_healer.repo import (
    MODE_FILE,
    MODE_SUBMODULE,
    MODE_SYMLINK,
    MODE_TREE,
    RepoError,
    TreeEntry,
)

T = TypeVar("T")

CHECK_RUN_NAME = "ci-healer"
DEFAULT_BOT_LOGIN = "github-actions[bot]"
"""Login of the ``GITHUB_TOKEN`` identity; ``GET /user`` is not available to that token."""
ANNOTATIONS_PER_REQUEST = 50
"""GitHub accepts at most 50 annotations per check-run create/update request (REST docs)."""
WRITE_PERMISSIONS = frozenset({"admin", "maintain", "write"})
FIX_BRANCH_PREFIX = "ai-fix/"


def _run_info(raw: dict[str, Any], repository: str) -> RunInfo:
    """A :class:`RunInfo` from the REST ``workflow-run`` object ``raw`` (a single run, or one item
    of a run listing)."""
    pulls = raw.get("pull_requests") or []
    return RunInfo(
        id=raw["id"],
        run_attempt=raw.get("run_attempt") or 1,
        head_sha=raw["head_sha"],
        head_branch=raw.get("head_branch"),
        head_repository=(raw.get("head_repository") or {}).get("full_name"),
        repository=repository,
        event=raw.get("event") or "",
        conclusion=raw.get("conclusion"),
        workflow_id=raw.get("workflow_id"),
        html_url=raw.get("html_url") or "",
        pull_requests=[p["number"] for p in pulls if isinstance(p, dict) and "number" in p],
    )


def _iso(value: Any) -> str:
    """A PyGithub ``datetime`` (UTC) as GitHub writes it, ``2025-01-01T10:00:00Z`` ('' for none)."""
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value is not None else ""


def fit_body(body: str, limit: int = GITHUB_BODY_LIMIT) -> str:
    """``body`` shortened to at most ``limit`` UTF-8 bytes (GitHub's 65,535 for check-run output
    and, in characters, 65,536 for comments and pull requests), with a notice saying so: failure
    blocks are cut first, then prose, and a diff that does not fit is replaced by a notice that the
    patch cannot be approved (:func:`ci_healer.render.abbreviate`; fences are never left open)."""
    return abbreviate(body, limit)


# ------------------------------------------------------------------------------------ values


class RunInfo(BaseModel):
    """The fields of a workflow run that ci-healer uses."""

    id: int
    run_attempt: int = 1
    head_sha: str
    head_branch: str | None = None
    head_repository: str | None = None
    repository: str
    event: str = ""
    conclusion: str | None = None
    workflow_id: int | None = None
    html_url: str = ""
    pull_requests: list[int] = []


class StepInfo(BaseModel):
    """A step of a job: its ``number`` (the ``N`` of GitHub's ``#step:N:L`` log anchors), name,
    conclusion and start/end times (whole seconds, UTC, as GitHub gives them)."""

    number: int
    name: str = ""
    conclusion: str | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None


class JobInfo(BaseModel):
    """A job of a workflow run attempt (``steps`` as the jobs list gives them)."""

    id: int
    name: str
    conclusion: str | None = None
    html_url: str | None = None
    steps: list[StepInfo] = []


class PullInfo(BaseModel):
    """A pull request: number, head and base, and whether its head lives in a fork."""

    number: int
    head_sha: str
    head_ref: str
    head_repository: str | None
    base_ref: str
    html_url: str
    user: str = ""
    body: str = ""
    state: str = "open"

    def is_fork(self, repository: str) -> bool:
        """True when the head branch lives in another repository than ``repository``."""
        return (self.head_repository or "").lower() != repository.lower()


class CommentInfo(BaseModel):
    """An issue or PR comment; ``created_at``/``updated_at`` are GitHub's ISO 8601 times
    (``2025-01-01T10:00:00Z``), ``updated_at`` the time of the last write by anyone."""

    id: int
    user: str
    body: str
    html_url: str = ""
    created_at: str = ""
    updated_at: str = ""


class IssueInfo(BaseModel):
    """An issue (not a pull request): ``state`` is ``open`` or ``closed``."""

    number: int
    user: str
    state: str
    body: str = ""
    html_url: str = ""


class CheckRunInfo(BaseModel):
    """A check run and its output summary."""

    id: int
    name: str
    head_sha: str
    summary: str = ""
    title: str = ""
    text: str = ""
    html_url: str = ""
    app_slug: str = ""
    started_at: datetime | None = None


@dataclass(frozen=True)
class LogDownload:
    """A job log as read: ``data`` (the last ``max_bytes`` at most, starting at a line boundary),
    ``skipped_lines`` (lines dropped from the start, to add to every line number),
    ``skipped_bytes`` and ``total_bytes``."""

    data: bytes
    skipped_lines: int
    skipped_bytes: int
    total_bytes: int

    @property
    def truncated(self) -> bool:
        """True when the head of the log was dropped."""
        return self.skipped_bytes > 0


@dataclass(frozen=True)
class ChangeFiles:
    """Files of a change as read under caps: ``files`` (at most the file cap; a patch past the
    byte cap is emptied), ``total_files`` (what GitHub says changed, when it says so, else
    ``len(files)``), ``patches_dropped`` (files whose patch text was left out for the byte cap)."""

    files: list[ChangedFile]
    total_files: int
    patches_dropped: int = 0

    @property
    def files_capped(self) -> bool:
        """True when fewer files were read than changed."""
        return self.total_files > len(self.files)


@dataclass(frozen=True)
class Comparison:
    """``GET compare/{base}...{head}``: GitHub's ``status`` (``ahead``, ``behind``, ``identical``,
    ``diverged``), ``ahead_by``/``behind_by`` commit counts, the ``merge_base_sha`` the three-dot
    comparison is computed from, and the changed files."""

    status: str
    ahead_by: int
    behind_by: int
    merge_base_sha: str
    change: ChangeFiles


def _steps(job: WorkflowJob) -> list[StepInfo]:
    """The steps of a job as the jobs list gave them (read from the listed attributes: PyGithub's
    ``raw_data`` would fetch each job again); a step without a number is left out."""
    return [
        StepInfo(
            number=st.number,
            name=st.name or "",
            conclusion=st.conclusion,
            started_at=st.started_at,
            completed_at=st.completed_at,
        )
        for st in job.steps or []
        if isinstance(st.number, int)
    ]


def _changed_files(
    items: Iterable[Any], *, max_files: int, max_patch_bytes: int
) -> tuple[list[ChangedFile], int]:
    """``ChangedFile`` values from GitHub's diff-entry objects (dicts), the first ``max_files``;
    patches are kept until ``max_patch_bytes`` (UTF-8) are used. Returns ``(files, patches_dropped)``."""
    files: list[ChangedFile] = []
    used = dropped = 0
    for item in items:
        patch = str(item.get("patch") or "")
        size = len(patch.encode("utf-8", "surrogatepass"))
        if patch and used + size > max_patch_bytes:
            patch, dropped = "", dropped + 1
        used += len(patch.encode("utf-8", "surrogatepass"))
        files.append(
            ChangedFile(
                path=str(item.get("filename") or ""),
                status=str(item.get("status") or "modified"),
                patch=patch,
                previous_path=item.get("previous_filename"),
            )
        )
        if len(files) >= max_files:  # stop before PaginatedList asks for the next page
            break
    return files, dropped


_REF_COMPONENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,120}$")


def validate_fix_ref(branch: str, *, default_branch: str, failing_branch: str | None) -> str:
    """Return ``refs/heads/<branch>`` after checking ``branch`` is a safe ``ai-fix/`` name.

    Rules (``git check-ref-format`` plus ours): it starts with ``ai-fix/``, has exactly one more
    component of ``[A-Za-z0-9._-]`` that does not start with ``.`` or end with ``.lock``, has no
    ``..``, and is neither the default branch nor the failing branch. Raises ``ValueError``.
    """
    if not branch.startswith(FIX_BRANCH_PREFIX):
        raise ValueError(f"fix branch {branch!r} does not start with {FIX_BRANCH_PREFIX}")
    rest = branch[len(FIX_BRANCH_PREFIX) :]
    if not _REF_COMPONENT.match(rest) or ".." in rest or rest.endswith((".lock", ".")):
        raise ValueError(f"fix branch {branch!r} is not a valid ref name")
    if branch in (default_branch, failing_branch):
        raise ValueError(f"fix branch {branch!r} would overwrite the default or the failing branch")
    return f"refs/heads/{branch}"


# ------------------------------------------------------------------------------------ repo source


class RepoReadError(RepoError):
    """A read of the repository through the API failed; ``status`` and ``permission`` are those of
    the :class:`GitHubError` (so a 403 still names the permission the token lacks)."""

    def __init__(self, message: str, err: GitHubError) -> None:
        super().__init__(message)
        self.status = err.status
        self.permission = err.permission


class GitHubRepoSource:
    """:class:`~ci_healer.repo.RepoSource` over the GitHub API at one commit; nothing is checked out.

    The whole tree comes from one ``GET git/trees/{sha}?recursive=1`` call (lazily); file text from
    ``GET git/blobs/{sha}`` (cached, at most ``max_file_bytes`` per file). When GitHub truncates the
    tree (over 100,000 entries / 7 MB), :meth:`list_paths` is what GitHub returned and
    :meth:`entry` falls back to walking the non-recursive trees of the path's parents.
    Raises :class:`RepoReadError` (a :class:`~ci_healer.repo.RepoError`) when the tree or a blob
    cannot be read, so the analysis goes on without files instead of failing as a whole.
    """

    def __init__(self, repo: Any, sha: str, *, max_file_bytes: int = 1_000_000) -> None:
        self._repo = repo
        self.sha = sha
        self.name = repo.full_name
        self._max_file_bytes = max_file_bytes
        self._entries: dict[str, tuple[str, str, int | None]] | None = None  # path -> (mode, sha, size)
        self._truncated = False
        self._texts: dict[str, str | None] = {}
        self.tree_sha: str | None = None

    def _load(self) -> dict[str, tuple[str, str, int | None]]:
        if self._entries is None:
            try:
                tree = call("read tree", lambda: self._repo.get_git_tree(self.sha, recursive=True))
            except GitHubError as err:
                raise RepoReadError(
                    f"cannot read the repository tree at {self.sha[:12]}: {err}", err
                ) from None
            self.tree_sha = tree.sha
            self._truncated = bool(tree.raw_data.get("truncated"))
            self._entries = {e.path: (e.mode, e.sha, e.size) for e in tree.tree}
        return self._entries

    def entry(self, path: str) -> TreeEntry | None:
        """See :meth:`RepoSource.entry`: a path below a symlink or submodule reports that entry."""
        entries = self._load()
        parts = path.split("/")
        for i in range(1, len(parts) + 1):
            sub = "/".join(parts[:i])
            found = entries.get(sub)
            if found is None:
                return None
            mode, _, size = found
            if i == len(parts):
                return TreeEntry(path=sub, mode=mode, size=size)
            if mode in (MODE_SYMLINK, MODE_SUBMODULE):
                return TreeEntry(path=sub, mode=mode, size=size)
            if mode != MODE_TREE:
                return None
        return None

    def read_text(self, path: str) -> str | None:
        """See :meth:`RepoSource.read_text` (``None`` for larger than ``max_file_bytes``)."""
        if path in self._texts:
            return self._texts[path]
        found = self._load().get(path)
        text: str | None = None
        if (
            found is not None
            and found[0] in (MODE_FILE, "100755")
            and (found[2] or 0) <= self._max_file_bytes
        ):
            try:
                blob = call("read contents", lambda: self._repo.get_git_blob(found[1]))
            except GitHubError as err:
                raise RepoReadError(f"cannot read {path} at {self.sha[:12]}: {err}", err) from None
            try:
                text = base64.b64decode(blob.content or "").decode("utf-8")
            except (ValueError, UnicodeDecodeError):
                text = None
        self._texts[path] = text
        return text

    def list_paths(self) -> list[str]:
        """See :meth:`RepoSource.list_paths`: blobs and symlinks, sorted."""
        return sorted(
            p for p, (mode, _, _) in self._load().items() if mode not in (MODE_TREE, MODE_SUBMODULE)
        )


# ------------------------------------------------------------------------------------ client


class GitHubClient:
    """Typed access to one repository (``owner/name``) through a PyGithub client.

    All methods raise :class:`GitHubError` on API failures. ``bot_login`` is the login the token
    acts as (``github-actions[bot]`` for the run token); it identifies ci-healer's own comments.
    """

    def __init__(self, gh: Github, repository: str, *, bot_login: str = DEFAULT_BOT_LOGIN) -> None:
        self.gh = gh
        self.repository = repository
        self.bot_login = bot_login
        self._repo: Any = None

    @property
    def repo(self) -> Any:
        """The PyGithub ``Repository`` (fetched once)."""
        if self._repo is None:
            self._repo = call("read repository", lambda: self.gh.get_repo(self.repository))
        return self._repo

    def _create(self, what: str, post: Callable[[], T], find: Callable[[], T | None] | None) -> T:
        """Run the create ``post``; after an answer that does not say whether it was carried out
        (:func:`may_have_been_done`), look for the object with ``find`` and create it again only
        when it is not there (SECURITY.md item 21). ``find=None``: a create that cannot be looked up
        is not repeated (the first error is raised)."""
        try:
            return call(what, post)
        except GitHubError as err:
            if not may_have_been_done(err) or find is None:
                raise
            first = err
        try:
            found = find()
        except GitHubError as err:
            raise GitHubError(
                what, first.status, f"{first}; looking for what it may have created failed too: {err}"
            ) from None
        if found is not None:
            return found
        return call(what, post)

    @property
    def default_branch(self) -> str:
        """The repository's default branch."""
        return str(self.repo.default_branch)

    # ---- runs, jobs, logs -------------------------------------------------------------------

    def get_run(self, run_id: int) -> RunInfo:
        """The workflow run ``run_id``."""
        run = call("read workflow run", lambda: self.repo.get_workflow_run(run_id))
        return _run_info(run.raw_data, self.repository)

    def list_jobs(self, run_id: int, attempt: int) -> list[JobInfo]:
        """Jobs of attempt ``attempt`` of run ``run_id`` (``GET .../runs/{id}/attempts/{n}/jobs``)."""
        url = f"{self.repo.url}/actions/runs/{run_id}/attempts/{attempt}/jobs"

        def fetch() -> list[JobInfo]:
            pages = PaginatedList(WorkflowJob, self.gh.requester, url, None, list_item="jobs")
            return [
                JobInfo(id=j.id, name=j.name, conclusion=j.conclusion, html_url=j.html_url, steps=_steps(j))
                for j in pages
            ]

        return call("list jobs", fetch)

    def download_log(self, job_id: int, *, max_bytes: int, chunk_size: int = 1 << 16) -> LogDownload:
        """Stream the log of job ``job_id``, keeping its last ``max_bytes`` bytes.

        Keeps the *tail* (the failure is at the end of a job log) and starts it at a line
        boundary; ``skipped_lines`` counts the ``\\n``-terminated lines dropped, so a line number
        ``n`` of ``data`` is line ``n + skipped_lines`` of the whole log. Memory stays below
        ``max_bytes + chunk_size``. A 410 means the logs expired (retention period).
        """
        job = WorkflowJob(
            self.gh.requester,
            {},
            {"url": f"{self.repo.url}/actions/jobs/{job_id}", "id": job_id},
            completed=True,
        )
        location = call("download job log", job.logs_url)
        try:
            with requests.get(location, stream=True, timeout=60) as response:
                if response.status_code != 200:
                    raise GitHubError(
                        "download job log", response.status_code, "the log blob could not be read"
                    )
                return _tail(response.iter_content(chunk_size=chunk_size), max_bytes)
        except requests.exceptions.RequestException as err:
            raise GitHubError("download job log", 0, f"{type(err).__name__}: {err}") from None

    # ---- repository contents ------------------------------------------------------------------

    def repo_source(self, sha: str) -> GitHubRepoSource:
        """A :class:`GitHubRepoSource` at commit ``sha``."""
        return GitHubRepoSource(self.repo, sha)

    # ---- pull requests ------------------------------------------------------------------------

    def _pull_info(self, pr: Any) -> PullInfo:
        raw = pr.raw_data
        head = raw.get("head") or {}
        return PullInfo(
            number=raw["number"],
            head_sha=head.get("sha", ""),
            head_ref=head.get("ref", ""),
            head_repository=((head.get("repo") or {}).get("full_name")),
            base_ref=(raw.get("base") or {}).get("ref", ""),
            html_url=raw.get("html_url") or "",
            user=((raw.get("user") or {}).get("login") or ""),
            body=raw.get("body") or "",
            state=raw.get("state") or "open",
        )

    def get_pull(self, number: int) -> PullInfo:
        """PR ``number`` (fresh: its current head SHA)."""
        return self._pull_info(call("read pull request", lambda: self.repo.get_pull(number)))

    def find_pull_for_run(self, run: RunInfo) -> PullInfo | None:
        """The open PR a run belongs to: ``workflow_run.pull_requests``, else the PRs of the head
        commit (``GET commits/{sha}/pulls``), else ``pulls?head=owner:branch`` (fork PRs have an
        empty ``pull_requests`` in the event). ``None`` when the run has no PR (a push)."""
        for number in run.pull_requests:
            pr = self.get_pull(number)
            if pr.state == "open":
                return pr

        def by_commit() -> list[PullInfo]:
            return [self._pull_info(p) for p in self.repo.get_commit(run.head_sha).get_pulls()]

        for pr in call("list pull requests of commit", by_commit):
            if pr.head_sha == run.head_sha and pr.state == "open":
                return self.get_pull(pr.number)
        if run.head_branch and run.head_repository:
            owner = run.head_repository.split("/")[0]
            found = call(
                "list pull requests",
                lambda: [
                    self._pull_info(p)
                    for p in self.repo.get_pulls(state="open", head=f"{owner}:{run.head_branch}")
                ],
            )
            for pr in found:
                if pr.head_sha == run.head_sha:
                    return self.get_pull(pr.number)
        return None

    def find_pull_by_branch(self, branch: str, *, state: str = "all") -> PullInfo | None:
        """The newest PR whose head is ``owner:branch`` of this repository."""
        owner = self.repository.split("/")[0]
        found = call(
            "list pull requests",
            lambda: [self._pull_info(p) for p in self.repo.get_pulls(state=state, head=f"{owner}:{branch}")],
        )
        return self.get_pull(found[0].number) if found else None

    def create_pull(self, *, title: str, body: str, head: str, base: str) -> PullInfo:
        """Open a PR from branch ``head`` of this repository into ``base``. When GitHub answers
        5xx (or nothing), or 422 "A pull request already exists", the open PR with that head branch
        is looked up and returned instead of opening a second one."""
        body = fit_body(body)

        def find() -> PullInfo | None:
            found = self.find_pull_by_branch(head, state="open")
            return found if found is not None and found.base_ref == base else None

        try:
            return self._create(
                "create pull request",
                lambda: self._pull_info(
                    self.repo.create_pull(
                        title=title, body=body, head=head, base=base, maintainer_can_modify=False
                    )
                ),
                find,
            )
        except GitHubError as err:
            if err.status == 422 and "already exists" in str(err):
                found = find()
                if found is not None:
                    return found
            raise

    def pull_file_lines(self, number: int) -> dict[str, set[int]]:
        """Right-side (head) line numbers each file of PR ``number`` shows in its diff — the lines
        a review comment may target."""
        from unidiff.errors import UnidiffParseError
        from unidiff.patch import PatchSet

        out: dict[str, set[int]] = {}

        def fetch() -> None:
            for f in self.repo.get_pull(number).get_files():
                lines: set[int] = set()
                if f.patch:
                    try:
                        for pf in PatchSet(f"--- a/{f.filename}\n+++ b/{f.filename}\n{f.patch}\n"):
                            for hunk in pf:
                                lines.update(
                                    ln.target_line_no for ln in hunk if ln.target_line_no is not None
                                )
                    except UnidiffParseError:  # unparseable patch text: no line of that file is commentable
                        lines = set()
                out[f.filename] = lines

        call("list pull request files", fetch)
        return out

    def create_review(
        self, number: int, *, commit_sha: str, body: str, comments: list[dict[str, Any]]
    ) -> None:
        """A ``COMMENT`` review on PR ``number`` with line ``comments`` (suggestions)."""

        def post() -> None:
            self.gh.requester.requestJsonAndCheck(
                "POST",
                f"{self.repo.url}/pulls/{number}/reviews",
                input={
                    "commit_id": commit_sha,
                    "body": fit_body(body),
                    "event": "COMMENT",
                    "comments": comments,
                },
            )

        self._create("create review", post, None)

    def remove_label(self, number: int, label: str) -> None:
        """Remove ``label`` from issue/PR ``number`` (a 404 — already gone — is ignored)."""
        try:
            call("remove label", lambda: self.repo.get_issue(number).remove_from_labels(label))
        except GitHubError as err:
            if err.status != 404:
                raise

    # ---- comments -----------------------------------------------------------------------------

    def list_comments(self, number: int) -> list[CommentInfo]:
        """All comments of issue/PR ``number``, oldest first."""

        def fetch() -> list[CommentInfo]:
            return [
                CommentInfo(
                    id=c.id,
                    user=c.user.login if c.user else "",
                    body=c.body or "",
                    html_url=c.html_url or "",
                    created_at=_iso(c.created_at),
                    updated_at=_iso(c.updated_at),
                )
                for c in self.repo.get_issue(number).get_comments()
            ]

        return call("list comments", fetch)

    def find_own_comment(self, number: int, marker: str) -> CommentInfo | None:
        """ci-healer's comment on ``number``: the first one whose body starts with ``marker`` AND
        whose author is :attr:`bot_login` (a user can copy the marker, not the login)."""
        for c in self.list_comments(number):
            if c.user == self.bot_login and c.body.startswith(marker):
                return c
        return None

    def create_comment(self, number: int, body: str, *, marker: str | None = None) -> CommentInfo:
        """Post a comment on issue/PR ``number`` (``body`` shortened by :func:`fit_body`).

        After a 5xx or no answer, the comment is looked for before posting again: with ``marker``,
        ci-healer's one comment starting with it (and then set to ``body``); else the bot's latest
        comment, when its body is exactly ``body``."""
        body = fit_body(body)

        def post() -> CommentInfo:
            c = self.repo.get_issue(number).create_comment(body)
            return CommentInfo(
                id=c.id, user=c.user.login if c.user else "", body=c.body or "", html_url=c.html_url or ""
            )

        def find() -> CommentInfo | None:
            if marker is not None:
                found = self.find_own_comment(number, marker)
                if found is not None and found.body != body:
                    self.update_comment(found.id, body)
                    found = found.model_copy(update={"body": body})
                return found
            mine = [c for c in self.list_comments(number) if c.user == self.bot_login]
            return mine[-1] if mine and mine[-1].body == body else None

        return self._create("create comment", post, find)

    def update_comment(self, comment_id: int, body: str) -> None:
        """Replace the body of comment ``comment_id``."""

        def edit() -> None:
            self.gh.requester.requestJsonAndCheck(
                "PATCH", f"{self.repo.url}/issues/comments/{comment_id}", input={"body": fit_body(body)}
            )

        call("update comment", edit)

    def get_comment(self, comment_id: int) -> CommentInfo:
        """Comment ``comment_id`` as it is now."""
        _, data = call(
            "read comment",
            lambda: self.gh.requester.requestJsonAndCheck(
                "GET", f"{self.repo.url}/issues/comments/{comment_id}"
            ),
        )
        return CommentInfo(
            id=data["id"],
            user=(data.get("user") or {}).get("login") or "",
            body=data.get("body") or "",
            html_url=data.get("html_url") or "",
            created_at=data.get("created_at") or "",
            updated_at=data.get("updated_at") or "",
        )

    def upsert_comment(self, number: int, body: str, marker: str) -> tuple[CommentInfo, bool]:
        """Edit ci-healer's one comment on ``number`` in place, or create it. Returns
        ``(comment, created)``."""
        found = self.find_own_comment(number, marker)
        if found is not None:
            self.update_comment(found.id, body)
            return found.model_copy(update={"body": fit_body(body)}), False
        return self.create_comment(number, body, marker=marker), True

    # ---- issues -------------------------------------------------------------------------------

    @staticmethod
    def _issue_info(data: dict[str, Any]) -> IssueInfo:
        return IssueInfo(
            number=data["number"],
            user=(data.get("user") or {}).get("login") or "",
            state=data.get("state") or "open",
            body=data.get("body") or "",
            html_url=data.get("html_url") or "",
        )

    def find_own_issues(self, marker: str, *, max_pages: int = 3) -> list[IssueInfo]:
        """Issues, open and closed, created by :attr:`bot_login` whose body contains ``marker``,
        oldest first. Reads ``GET /repos/{owner}/{repo}/issues?creator=…&state=all`` (which lists
        pull requests too; they are skipped) for at most ``max_pages`` pages of 100: pagination is
        bounded. A user can copy the marker, not the login."""

        def fetch() -> list[IssueInfo]:
            found: list[IssueInfo] = []
            for page in range(1, max_pages + 1):
                _, items = self.gh.requester.requestJsonAndCheck(
                    "GET",
                    f"{self.repo.url}/issues",
                    parameters={
                        "state": "all",
                        "creator": self.bot_login,
                        "sort": "created",
                        "direction": "asc",
                        "per_page": 100,
                        "page": page,
                    },
                )
                items = items if isinstance(items, list) else []
                found += [
                    self._issue_info(i)
                    for i in items
                    if "pull_request" not in i
                    and (i.get("user") or {}).get("login") == self.bot_login
                    and marker in (i.get("body") or "")
                ]
                if len(items) < 100:
                    break
            return found

        return call("list issues", fetch)

    def create_issue(self, title: str, body: str, *, marker: str) -> IssueInfo:
        """Open an issue (``body`` shortened by :func:`fit_body`). After a 5xx or no answer, the
        bot's issue containing ``marker`` is looked for before posting again (SECURITY.md item 21)."""
        body = fit_body(body)

        def find() -> IssueInfo | None:
            found = self.find_own_issues(marker)
            return found[0] if found else None

        return self._create(
            "create issue",
            lambda: self._issue_info(
                self.gh.requester.requestJsonAndCheck(
                    "POST", f"{self.repo.url}/issues", input={"title": title, "body": body}
                )[1]
            ),
            find,
        )

    def update_issue_body(self, number: int, body: str) -> None:
        """Replace the body of issue ``number`` (nothing else: its state, title and labels stay as
        a maintainer left them). ``PATCH /repos/{owner}/{repo}/issues/{issue_number}``."""

        def edit() -> None:
            self.gh.requester.requestJsonAndCheck(
                "PATCH", f"{self.repo.url}/issues/{number}", input={"body": fit_body(body)}
            )

        call("update issue", edit)

    def close_issue(self, number: int, body: str) -> None:
        """Close issue ``number`` with ``body`` (used only for an issue ci-healer itself has just
        created twice). ``PATCH /repos/{owner}/{repo}/issues/{issue_number}``."""

        def edit() -> None:
            self.gh.requester.requestJsonAndCheck(
                "PATCH",
                f"{self.repo.url}/issues/{number}",
                input={"body": fit_body(body), "state": "closed", "state_reason": "not_planned"},
            )

        call("close issue", edit)

    def react(self, comment_id: int, content: str) -> None:
        """Add reaction ``content`` (``eyes``, ``rocket``, ``confused``) to a comment. GitHub answers
        200 with the existing reaction when it is already there, so after a 5xx it is sent again."""
        self._create(
            "create reaction",
            lambda: self.gh.requester.requestJsonAndCheck(
                "POST", f"{self.repo.url}/issues/comments/{comment_id}/reactions", input={"content": content}
            ),
            lambda: None,
        )

    # ---- permissions --------------------------------------------------------------------------

    def permission(self, login: str) -> str:
        """Collaborator permission of ``login``: the ``role_name`` (``admin``, ``maintain``,
        ``write``, ``triage``, ``read``, ``none``) of ``GET collaborators/{login}/permission``.
        A 404 (unknown user) is ``none``. ``author_association`` is never used."""
        try:
            return call("read permission", lambda: self.repo.get_collaborator_role_name(login))
        except GitHubError as err:
            if err.status == 404:
                return "none"
            raise

    # ---- check runs ---------------------------------------------------------------------------

    def _check_info(self, cr: Any) -> CheckRunInfo:
        # attributes, not raw_data: raw_data makes PyGithub fetch each listed check run again
        out, app = cr.output, cr.app
        return CheckRunInfo(
            id=cr.id,
            name=cr.name,
            head_sha=cr.head_sha,
            summary=(out.summary if out else None) or "",
            title=(out.title if out else None) or "",
            text=(out.text if out else None) or "",
            html_url=cr.html_url or "",
            app_slug=(app.slug if app else None) or "",
            started_at=cr.started_at,
        )

    def list_check_runs(self, sha: str) -> list[CheckRunInfo]:
        """ci-healer's own check runs on commit ``sha``, newest first: name ``ci-healer`` and, for a
        ``<slug>[bot]`` token identity, created by the app ``<slug>`` (another app cannot pose as
        ci-healer by using the same name)."""
        slug = self.bot_login[: -len("[bot]")] if self.bot_login.endswith("[bot]") else None

        def fetch() -> list[CheckRunInfo]:
            runs = self.repo.get_commit(sha).get_check_runs(check_name=CHECK_RUN_NAME)
            found = [self._check_info(c) for c in runs]
            return sorted((c for c in found if slug is None or c.app_slug == slug), key=lambda c: -c.id)

        return call("list check runs", fetch)

    def get_check_run(self, check_run_id: int) -> CheckRunInfo:
        """Check run ``check_run_id``."""
        return self._check_info(call("read check run", lambda: self.repo.get_check_run(check_run_id)))

    def upsert_check_run(
        self,
        *,
        head_sha: str,
        title: str,
        summary: str,
        text: str,
        annotations: list[dict[str, Any]],
        existing_id: int | None = None,
        details_url: str | None = None,
    ) -> CheckRunInfo:
        """Create (or update ``existing_id``) the completed ``ci-healer`` check run with conclusion
        ``neutral``; annotations go in chunks of :data:`ANNOTATIONS_PER_REQUEST` (the first with
        the create/update, the rest in follow-up updates)."""
        chunks = [
            annotations[i : i + ANNOTATIONS_PER_REQUEST]
            for i in range(0, len(annotations), ANNOTATIONS_PER_REQUEST)
        ] or [[]]
        summary, text = fit_body(summary), fit_body(text)

        def output(chunk: list[dict[str, Any]]) -> dict[str, Any]:
            out: dict[str, Any] = {"title": title, "summary": summary, "text": text}
            if chunk:
                out["annotations"] = chunk
            return out

        extra = {"details_url": details_url} if details_url else {}
        if existing_id is None:

            def find() -> Any:
                # a check run of ours on this commit that the unanswered create may have made: set it
                # to this output (a PATCH sets the same fields, so repeating it is harmless)
                found = self.list_check_runs(head_sha)
                if not found:
                    return None
                cr = call("update check run", lambda: self.repo.get_check_run(found[0].id))
                call(
                    "update check run",
                    lambda: cr.edit(
                        status="completed", conclusion="neutral", output=output(chunks[0]), **extra
                    ),
                )
                return cr

            cr = self._create(
                "create check run",
                lambda: self.repo.create_check_run(
                    name=CHECK_RUN_NAME,
                    head_sha=head_sha,
                    status="completed",
                    conclusion="neutral",
                    output=output(chunks[0]),
                    **extra,
                ),
                find,
            )
        else:
            cr = call("update check run", lambda: self.repo.get_check_run(existing_id))
            call(
                "update check run",
                lambda: cr.edit(status="completed", conclusion="neutral", output=output(chunks[0]), **extra),
            )
        for chunk in chunks[1:]:
            call("update check run", functools.partial(cr.edit, output=output(chunk)))
        return self._check_info(cr).model_copy(update={"summary": summary, "title": title, "text": text})

    def update_check_summary(
        self, check_run_id: int, *, title: str, summary: str, text: str | None = None
    ) -> None:
        """Replace the output summary of an existing check run (annotations are kept)."""
        out: dict[str, Any] = {"title": title, "summary": fit_body(summary)}
        if text is not None:
            out["text"] = fit_body(text)

        def edit() -> None:
            self.gh.requester.requestJsonAndCheck(
                "PATCH", f"{self.repo.url}/check-runs/{check_run_id}", input={"output": out}
            )

        call("update check run", edit)

    # ---- git data -----------------------------------------------------------------------------

    def commit_files(
        self, *, parent_sha: str, base_tree_sha: str, files: dict[str, tuple[str, str]], message: str
    ) -> str:
        """Create blobs, a tree on ``base_tree_sha`` and a commit whose only parent is
        ``parent_sha``; ``files`` maps path → ``(mode, text)``. Returns the commit SHA. No ref
        is touched."""
        tree_sha = self.create_tree(base_tree_sha=base_tree_sha, files=files)
        return self.create_commit(tree_sha=tree_sha, parent_sha=parent_sha, message=message)

    def create_tree(self, *, base_tree_sha: str, files: dict[str, tuple[str, str]]) -> str:
        """Blobs for ``files`` (path → ``(mode, text)``) and a tree on ``base_tree_sha``; returns the
        tree SHA. Git objects are content-addressed, so after a 5xx each is simply created again
        (the same content gets the same SHA)."""
        repo = self.repo
        elements = []
        for path, (mode, text) in sorted(files.items()):
            blob = self._create(
                "create commit (blob)", functools.partial(repo.create_git_blob, text, "utf-8"), lambda: None
            )
            elements.append(InputGitTreeElement(path=path, mode=mode, type="blob", sha=blob.sha))
        base = call("create commit (tree)", lambda: repo.get_git_tree(base_tree_sha))
        tree = self._create(
            "create commit (tree)", lambda: repo.create_git_tree(elements, base), lambda: None
        )
        return str(tree.sha)

    def create_commit(self, *, tree_sha: str, parent_sha: str, message: str) -> str:
        """A commit of ``tree_sha`` whose only parent is ``parent_sha``; returns its SHA. Created
        again after a 5xx: a commit nothing points at is harmless, and the ref is made only once."""
        repo = self.repo
        tree = call("create commit (tree)", lambda: repo.get_git_tree(tree_sha))
        parent = call("create commit", lambda: repo.get_git_commit(parent_sha))
        commit = self._create(
            "create commit", lambda: repo.create_git_commit(message, tree, [parent]), lambda: None
        )
        return str(commit.sha)

    def get_commit_info(self, sha: str) -> tuple[str, list[str]]:
        """``(tree_sha, parent_shas)`` of commit ``sha`` (``GET git/commits/{sha}``)."""
        commit = call("read commit", lambda: self.repo.get_git_commit(sha))
        return str(commit.tree.sha), [str(p.sha) for p in commit.parents]

    def create_ref(self, ref: str, sha: str) -> None:
        """``POST git/refs``: create ``ref`` at ``sha``. Never updates an existing ref (GitHub
        answers 422 "Reference already exists"), never forces. After a 5xx the ref is read: at
        ``sha`` it was created; at another commit a :class:`GitHubError` (422) says so."""

        def find() -> bool | None:
            at = self.branch_sha(ref.removeprefix("refs/heads/"))
            if at is None:
                return None
            if at != sha:
                raise GitHubError("create ref", 422, f"{ref} exists and points at {at[:12]}, not {sha[:12]}")
            return True

        self._create("create ref", lambda: self.repo.create_git_ref(ref, sha), find)

    def branch_sha(self, branch: str) -> str | None:
        """Commit SHA at the tip of ``branch``, ``None`` when the branch does not exist."""
        try:
            ref = call("read ref", lambda: self.repo.get_git_ref(f"heads/{branch}"))
        except GitHubError as err:
            if err.status == 404:
                return None
            raise
        return str(ref.object.sha)

    # ---- the failing change and the last green run (analyze context, read only) ---------------

    def pull_changed_files(self, number: int, *, max_files: int, max_patch_bytes: int) -> ChangeFiles:
        """The files of PR ``number`` with their patches (``GET pulls/{n}/files``, paginated, 100 a
        page), at most ``max_files`` (GitHub itself lists at most 3,000) and ``max_patch_bytes`` of
        patch text; when the file cap is reached, ``total_files`` is the PR's ``changed_files``
        (``GET pulls/{n}``), else the files listed. Needs ``pull-requests: read`` (or
        ``contents: read`` on a public repository)."""
        url = f"{self.repo.url}/pulls/{number}/files"

        def fetch() -> ChangeFiles:
            pages = PaginatedList(File, self.gh.requester, url, {"per_page": min(100, max(max_files, 1))})
            files, dropped = _changed_files(
                (p.raw_data for p in pages), max_files=max_files, max_patch_bytes=max_patch_bytes
            )
            total = len(files)
            if total >= max_files:
                _, pr = self.gh.requester.requestJsonAndCheck("GET", f"{self.repo.url}/pulls/{number}")
                total = max(total, int(pr.get("changed_files") or 0) if isinstance(pr, dict) else 0)
            return ChangeFiles(files, total, dropped)

        return call("list PR files", fetch)

    def compare_commits(self, base: str, head: str, *, max_files: int, max_patch_bytes: int) -> Comparison:
        """``GET compare/{base}...{head}`` (three dots: the change since their merge base). GitHub lists
        at most 300 files of a comparison, on the first page only, so one page is read (``per_page=1``
        keeps the commit list small). A 404 means a commit is gone or the two have no common history
        (a force-push can do both). Needs ``contents: read``."""

        def fetch() -> Comparison:
            _, data = self.gh.requester.requestJsonAndCheck(
                "GET", f"{self.repo.url}/compare/{base}...{head}", parameters={"per_page": 1}
            )
            files, dropped = _changed_files(
                data.get("files") or [], max_files=max_files, max_patch_bytes=max_patch_bytes
            )
            total = max(len(data.get("files") or []), len(files))
            return Comparison(
                status=str(data.get("status") or ""),
                ahead_by=int(data.get("ahead_by") or 0),
                behind_by=int(data.get("behind_by") or 0),
                merge_base_sha=str((data.get("merge_base_commit") or {}).get("sha") or ""),
                change=ChangeFiles(files, total, dropped),
            )

        return call("read comparison", fetch)

    def successful_runs(self, workflow_id: int, *, branch: str, limit: int = 10) -> list[RunInfo]:
        """The newest (at most ``limit``) successful runs of workflow ``workflow_id`` on ``branch``
        (``GET actions/workflows/{id}/runs?status=success&branch=...``, one page, newest first as
        GitHub lists them). A branch that never ran, or was deleted before any run, gives ``[]``.
        Needs ``actions: read``."""
        url = f"{self.repo.url}/actions/workflows/{workflow_id}/runs"
        params = {
            "status": "success",
            "branch": branch,
            "per_page": max(1, min(limit, 100)),
            "exclude_pull_requests": "true",
        }

        def fetch() -> list[RunInfo]:
            out: list[RunInfo] = []
            for run in PaginatedList(WorkflowRun, self.gh.requester, url, params, list_item="workflow_runs"):
                out.append(_run_info(run.raw_data, self.repository))
                if len(out) >= limit:
                    break
            return out

        return call("list workflow runs", fetch)

    def dispatch_workflow(self, workflow_id: int, ref: str) -> None:
        """``POST actions/workflows/{id}/dispatches`` on branch ``ref``. A 422 means the workflow
        has no ``workflow_dispatch`` trigger."""

        def post() -> None:
            self.gh.requester.requestJsonAndCheck(
                "POST", f"{self.repo.url}/actions/workflows/{workflow_id}/dispatches", input={"ref": ref}
            )

        # a repeated dispatch would start a second workflow run, and a dispatch leaves nothing to
        # look up by: after a 5xx it is not repeated (the caller says CI may not have started)
        self._create("dispatch workflow", post, None)

    def rerun_failed_jobs(self, run_id: int) -> None:
        """``POST actions/runs/{run_id}/rerun-failed-jobs``: re-run the failed jobs of a completed
        run (and the jobs that depend on them) as its next run attempt. Needs ``actions: write``
        (a 403 names it). Never repeated after a 5xx: a second request would start another attempt."""

        def post() -> None:
            self.gh.requester.requestJsonAndCheck(
                "POST", f"{self.repo.url}/actions/runs/{run_id}/rerun-failed-jobs"
            )

        self._create("re-run failed jobs", post, None)


def _tail(chunks: Iterable[bytes], max_bytes: int) -> LogDownload:
    """Keep the last ``max_bytes`` of a byte stream, counting the newlines of what is dropped."""
    kept = bytearray()
    skipped_bytes = 0
    skipped_lines = 0
    total = 0
    for chunk in chunks:
        if not chunk:
            continue
        total += len(chunk)
        kept += chunk
        excess = len(kept) - max_bytes
        if excess > 0:
            skipped_lines += kept.count(b"\n", 0, excess)
            skipped_bytes += excess
            del kept[:excess]
    if skipped_bytes:
        # start at a line boundary: drop the partial first line
        cut = kept.find(b"\n")
        if cut < 0:
            skipped_bytes += len(kept)
            kept.clear()
        else:
            skipped_lines += 1
            skipped_bytes += cut + 1
            del kept[: cut + 1]
    return LogDownload(bytes(kept), skipped_lines, skipped_bytes, total)


def iter_chunks(data: bytes, size: int) -> Iterator[bytes]:
    """``data`` in pieces of ``size`` bytes (test helper for :func:`_tail`)."""
    for i in range(0, len(data), size):
        yield data[i : i + size]


__all__ = [
    "ANNOTATIONS_PER_REQUEST",
    "CHECK_RUN_NAME",
    "DEFAULT_BOT_LOGIN",
    "NON_IDEMPOTENT_METHODS",
    "WRITE_PERMISSIONS",
    "ChangeFiles",
    "CheckRunInfo",
    "CommentInfo",
    "Comparison",
    "GitHubClient",
    "GitHubError",
    "GitHubRepoSource",
    "JobInfo",
    "LogDownload",
    "PullInfo",
    "RepoReadError",
    "RunInfo",
    "StepInfo",
    "WriteSafeRetry",
    "call",
    "fit_body",
    "make_github",
    "may_have_been_done",
    "validate_fix_ref",
]
