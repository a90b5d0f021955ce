"""The fake's world: users, repositories with real git objects, workflow runs, PRs and what clients wrote.

Everything is plain dataclasses guarded by one lock (:attr:`FakeState.lock`); the HTTP layer renders
them into GitHub's JSON shapes. Build a scenario with the ``add_*`` helpers or :meth:`FakeState.seed`
(the same thing from a JSON document, used by ``POST /_fake/seed`` and ``--state FILE``).
"""

from __future__ import annotations

import base64
import itertools
import threading
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from .gitobjects import (
    MODE_EXECUTABLE,
    MODE_FILE,
    MODE_SUBMODULE,
    MODE_SYMLINK,
    GitObjectError,
    GitStore,
)

BOT_LOGIN = "github-actions[bot]"
BOT_ID = 41898282  # github-actions[bot]'s real user id
BOT_EMAIL = "41898282+github-actions[bot]@users.noreply.github.com"
EPOCH = 1_735_725_600  # 2025-01-01T10:00:00Z: all fake timestamps count from here
# Collaborator roles (role_name) and the legacy ``permission`` each maps to, as documented for
# "Get repository permissions for a user": maintain -> write, triage -> read.
ROLES = {
    "admin": "admin",
    "maintain": "write",
    "write": "write",
    "triage": "read",
    "read": "read",
    "none": "none",
}


class StateError(ValueError):
    """A seed document or helper call is inconsistent (unknown repo, branch, job...)."""


def iso(ts: int) -> str:
    """Unix seconds -> GitHub's ``YYYY-MM-DDTHH:MM:SSZ``."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class User:
    login: str
    id: int
    type: str = "User"  # "User" | "Bot" | "Organization"

    @property
    def email(self) -> str:
        return f"{self.id}+{self.login}@users.noreply.github.com"


@dataclass
class Repo:
    owner: str
    name: str
    id: int
    default_branch: str = "main"
    private: bool = False
    fork_of: str | None = None  # full_name of the parent
    refs: dict[str, str] = field(default_factory=dict)  # "refs/heads/main" -> commit sha
    collaborators: dict[str, str] = field(default_factory=dict)  # login -> role_name
    labels: list[str] = field(default_factory=lambda: ["bug", "ai-fix"])

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"


@dataclass
class Workflow:
    id: int
    repo: str
    name: str
    path: str  # ".github/workflows/ci.yml"


@dataclass
class Step:
    name: str
    number: int
    conclusion: str | None = "success"
    status: str = "completed"


@dataclass
class Job:
    id: int
    run_id: int
    repo: str
    name: str
    conclusion: str | None
    status: str = "completed"
    run_attempt: int = 1
    steps: list[Step] = field(default_factory=list)
    log: bytes = b""
    logs_expired: bool = False  # GitHub answers 410 Gone after the retention period
    started: int = EPOCH


@dataclass
class Run:
    id: int
    repo: str
    workflow_id: int
    head_branch: str
    head_sha: str
    head_repo: str  # full_name; differs from ``repo`` for fork PRs
    event: str = "pull_request"
    status: str = "completed"
    conclusion: str | None = "failure"
    run_number: int = 1
    run_attempt: int = 1
    actor: str = "octocat"
    pull_requests: list[int] = field(default_factory=list)  # PR numbers listed in the payload
    display_title: str = ""


@dataclass
class Issue:
    """An issue or, when ``pull`` is set, a pull request (they share the number space)."""

    repo: str
    number: int
    id: int
    title: str
    user: str
    body: str = ""
    state: str = "open"
    labels: list[str] = field(default_factory=list)
    pull: PullInfo | None = None
    created: int = EPOCH
    updated: int | None = None  # last change (a label added...); None = never changed


@dataclass
class PullInfo:
    head_repo: str
    head_ref: str
    head_sha: str
    base_ref: str
    base_sha: str
    draft: bool = False
    merged: bool = False
    maintainer_can_modify: bool = False


@dataclass
class Comment:
    id: int
    repo: str
    issue_number: int
    user: str
    body: str
    created: int
    updated: int


@dataclass
class Reaction:
    id: int
    comment_id: int
    user: str
    content: str
    created: int


@dataclass
class CheckRun:
    id: int
    repo: str
    name: str
    head_sha: str
    status: str = "queued"
    conclusion: str | None = None
    details_url: str | None = None
    external_id: str | None = None
    started_at: str | None = None
    completed_at: str | None = None
    output: dict[str, Any] = field(default_factory=dict)  # title, summary, text
    annotations: list[dict[str, Any]] = field(default_factory=list)
    updates: int = 0


@dataclass
class Review:
    id: int
    repo: str
    pull_number: int
    user: str
    body: str
    event: str
    commit_id: str
    comments: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class ReviewComment:
    id: int
    repo: str
    pull_number: int
    user: str
    body: str
    path: str
    commit_id: str
    line: int | None = None
    side: str | None = "RIGHT"
    start_line: int | None = None
    review_id: int | None = None


class FakeState:
    """All state of the fake GitHub. Mutate only while holding :attr:`lock`.

    ``identity`` is the login every authenticated request acts as (``github-actions[bot]``, type
    Bot, like a workflow's ``GITHUB_TOKEN``). Ids come from one counter so they never collide.
    """

    def __init__(self, *, identity: str = BOT_LOGIN) -> None:
        self.lock = threading.RLock()
        self.git = GitStore()
        self._ids = itertools.count(1001)
        self._clock = itertools.count(EPOCH + 600, 7)
        self.users: dict[str, User] = {}
        self.repos: dict[str, Repo] = {}
        self.workflows: dict[int, Workflow] = {}
        self.runs: dict[int, Run] = {}
        self.jobs: dict[int, Job] = {}
        self.issues: dict[tuple[str, int], Issue] = {}
        self.comments: dict[int, Comment] = {}
        self.reactions: dict[int, Reaction] = {}
        self.check_runs: dict[int, CheckRun] = {}
        self.reviews: dict[int, Review] = {}
        self.review_comments: dict[int, ReviewComment] = {}
        self.dispatches: list[dict[str, Any]] = []
        self.reruns: list[dict[str, Any]] = []  # POST actions/runs/{id}/rerun-failed-jobs
        self.ref_writes: list[dict[str, Any]] = []  # every ref created/updated through the API
        self.label_removals: list[dict[str, Any]] = []
        self.issue_edits: list[dict[str, Any]] = []  # every PATCH of an issue: repo, number, fields
        self.add_user(BOT_LOGIN, type="Bot", id=BOT_ID)
        self.identity = identity
        if identity not in self.users:
            self.add_user(identity)

    # ---- ids and time -------------------------------------------------------------------------

    def next_id(self) -> int:
        """A fresh id, unique across all object kinds."""
        return next(self._ids)

    def now(self) -> int:
        """A monotonically increasing fake clock (unix seconds)."""
        return next(self._clock)

    # ---- users and repos ----------------------------------------------------------------------

    def add_user(self, login: str, *, type: str = "User", id: int | None = None) -> User:
        """Register a user (``type`` ``User``/``Bot``/``Organization``); returns the existing one if known."""
        with self.lock:
            if login not in self.users:
                self.users[login] = User(login, id or self.next_id(), type)
            return self.users[login]

    def repo(self, full_name: str) -> Repo:
        """The repository ``owner/name``; raises :class:`StateError` when unknown."""
        try:
            return self.repos[full_name]
        except KeyError:
            raise StateError(f"unknown repository {full_name}") from None

    def add_repo(
        self,
        full_name: str,
        *,
        files: dict[str, Any] | None = None,
        default_branch: str = "main",
        private: bool = False,
        fork_of: str | None = None,
        collaborators: dict[str, str] | None = None,
        message: str = "Initial commit",
    ) -> Repo:
        """Create a repository whose default branch holds one commit with ``files``.

        ``files`` maps a path to text, bytes, or ``{"mode": "100755", "content": str}``; symlinks are
        ``{"mode": "120000", "content": target}``, submodules ``{"mode": "160000", "sha": commit}``.
        A fork (``fork_of``) starts from the parent's default-branch commit unless ``files`` is given.
        ``collaborators`` maps login -> role_name (admin/maintain/write/triage/read).
        """
        owner, _, name = full_name.partition("/")
        if not owner or not name or "/" in name:
            raise StateError(f"repository name must be owner/name, got {full_name!r}")
        with self.lock:
            if full_name in self.repos:
                raise StateError(f"repository {full_name} already exists")
            self.add_user(owner, type="Organization" if owner.endswith("-org") else "User")
            repo = Repo(owner, name, self.next_id(), default_branch, private, fork_of)
            self.repos[full_name] = repo
            if fork_of and files is None:
                parent = self.repo(fork_of)
                repo.refs[f"refs/heads/{default_branch}"] = parent.refs[f"refs/heads/{parent.default_branch}"]
            else:
                self.commit_files(
                    full_name,
                    default_branch,
                    files or {"README.md": f"# {name}\n"},
                    message=message,
                    create=True,
                )
            for login, role in (collaborators or {}).items():
                self.set_permission(full_name, login, role)
            if not fork_of:
                self.set_permission(full_name, owner, "admin")
            return repo

    def set_permission(self, full_name: str, login: str, role: str) -> None:
        """Make ``login`` a collaborator with ``role`` (admin, maintain, write, triage, read, none)."""
        if role not in ROLES:
            raise StateError(f"unknown role {role!r}; use one of {sorted(ROLES)}")
        with self.lock:
            self.add_user(login, type="Bot" if login.endswith("[bot]") else "User")
            self.repo(full_name).collaborators[login] = role

    def permission(self, full_name: str, login: str) -> str:
        """role_name of ``login``: its collaborator role, else ``read`` (public) / ``none`` (private)."""
        repo = self.repo(full_name)
        if login in repo.collaborators:
            return repo.collaborators[login]
        return "none" if repo.private else "read"

    # ---- git ----------------------------------------------------------------------------------

    @staticmethod
    def _file_change(value: Any) -> tuple[str, bytes | str] | None:
        if value is None:
            return None
        if isinstance(value, bytes):
            return (MODE_FILE, value)
        if isinstance(value, str):
            return (MODE_FILE, value.encode())
        if isinstance(value, dict):
            mode = str(value.get("mode", MODE_FILE))
            if mode == MODE_SUBMODULE:
                return (mode, str(value["sha"]))
            if mode not in (MODE_FILE, MODE_EXECUTABLE, MODE_SYMLINK):
                raise StateError(f"unsupported file mode {mode}")
            if "base64" in value:
                return (mode, base64.b64decode(value["base64"]))
            return (mode, str(value.get("content", "")).encode())
        raise StateError(f"bad file value {value!r}")

    def commit_files(
        self,
        full_name: str,
        branch: str,
        files: dict[str, Any],
        *,
        message: str = "Update files",
        author: str | None = None,
        create: bool = False,
    ) -> str:
        """Commit ``files`` (same shapes as :meth:`add_repo`; ``None`` deletes) on top of ``branch``.

        With ``create`` the branch may be new (it starts from nothing, or from the default branch
        when that exists). Returns the new commit sha and moves the branch to it.
        """
        with self.lock:
            repo = self.repo(full_name)
            ref = f"refs/heads/{branch}"
            parent = repo.refs.get(ref)
            if parent is None:
                if not create:
                    raise StateError(f"branch {branch} does not exist in {full_name}")
                parent = repo.refs.get(f"refs/heads/{repo.default_branch}")
            base_tree = self.git.commit(parent).tree if parent else None
            tree = self.git.edit_tree(base_tree, {p: self._file_change(v) for p, v in files.items()})
            who = self.add_user(author or repo.owner)
            sig = (who.login, who.email, self.now())
            sha = self.git.put_commit(tree, [parent] if parent else [], message, author=sig)
            repo.refs[ref] = sha
            return sha

    def resolve_commit(self, full_name: str, ref: str) -> str | None:
        """Commit sha for a sha, ``heads/x``, ``refs/heads/x``, branch or tag name; ``None`` if unknown."""
        repo = self.repo(full_name)
        if self.git.kind(ref) == "commit":
            return ref
        for candidate in (ref, f"refs/{ref}", f"refs/heads/{ref}", f"refs/tags/{ref}"):
            if candidate in repo.refs:
                return repo.refs[candidate]
        if len(ref) >= 7 and all(c in "0123456789abcdef" for c in ref):
            hits = [s for s in self.git._commits if s.startswith(ref)]
            if len(hits) == 1:
                return hits[0]
        return None

    # ---- actions ------------------------------------------------------------------------------

    def add_workflow(
        self,
        full_name: str,
        *,
        name: str = "CI",
        path: str = ".github/workflows/ci.yml",
        id: int | None = None,
    ) -> Workflow:
        """Register a workflow file of ``full_name``."""
        with self.lock:
            self.repo(full_name)
            wf = Workflow(id or self.next_id(), full_name, name, path)
            self.workflows[wf.id] = wf
            return wf

    def add_run(
        self,
        full_name: str,
        *,
        head_branch: str,
        head_sha: str | None = None,
        head_repo: str | None = None,
        workflow: Workflow | None = None,
        conclusion: str | None = "failure",
        event: str = "pull_request",
        pull_requests: list[int] | None = None,
        run_attempt: int = 1,
        id: int | None = None,
        actor: str = "octocat",
        jobs: list[dict[str, Any]] | None = None,
    ) -> Run:
        """Add a completed workflow run and its ``jobs``.

        ``head_sha`` defaults to the tip of ``head_branch`` in ``head_repo`` (default: the repo
        itself; give the fork's full_name for a fork PR). Each job dict: ``name``, ``conclusion``,
        ``steps`` (list of names or ``{name, conclusion}``), ``log`` (str/bytes), ``run_attempt``.
        """
        with self.lock:
            head_repo = head_repo or full_name
            if head_sha is None:
                head_sha = self.resolve_commit(head_repo, head_branch)
                if head_sha is None:
                    raise StateError(f"branch {head_branch} not found in {head_repo}")
            wf = (
                workflow
                or next((w for w in self.workflows.values() if w.repo == full_name), None)
                or self.add_workflow(full_name)
            )
            self.add_user(actor)
            number = 1 + sum(1 for r in self.runs.values() if r.workflow_id == wf.id)
            run = Run(
                id or self.next_id(),
                full_name,
                wf.id,
                head_branch,
                head_sha,
                head_repo,
                event,
                "completed",
                conclusion,
                number,
                run_attempt,
                actor,
                list(pull_requests or []),
                display_title=f"{wf.name} on {head_branch}",
            )
            self.runs[run.id] = run
            for spec in jobs or []:
                self.add_job(run, **spec)
            return run

    def add_job(
        self,
        run: Run,
        *,
        name: str,
        conclusion: str | None = "success",
        steps: list[Any] | None = None,
        log: str | bytes = b"",
        run_attempt: int | None = None,
        id: int | None = None,
        logs_expired: bool = False,
    ) -> Job:
        """Add a job to ``run``; ``steps`` are names or ``{"name", "conclusion"}`` dicts."""
        with self.lock:
            parsed = []
            for i, step in enumerate(steps or ["Set up job", "Run tests", "Complete job"], start=1):
                if isinstance(step, str):
                    parsed.append(Step(step, i, "success"))
                else:
                    parsed.append(
                        Step(
                            step["name"],
                            i,
                            step.get("conclusion", "success"),
                            step.get("status", "completed"),
                        )
                    )
            job = Job(
                id or self.next_id(),
                run.id,
                run.repo,
                name,
                conclusion,
                "completed",
                run_attempt or run.run_attempt,
                parsed,
                log.encode() if isinstance(log, str) else log,
                logs_expired,
                self.now(),
            )
            self.jobs[job.id] = job
            return job

    # ---- issues and pulls ---------------------------------------------------------------------

    def add_issue(
        self,
        full_name: str,
        *,
        title: str,
        user: str = "octocat",
        body: str = "",
        labels: list[str] | None = None,
    ) -> Issue:
        """Open an issue; returns it (its ``number`` is the next in the repo)."""
        with self.lock:
            self.repo(full_name)
            self.add_user(user)
            number = 1 + max((n for (r, n) in self.issues if r == full_name), default=0)
            issue = Issue(
                full_name,
                number,
                self.next_id(),
                title,
                user,
                body,
                "open",
                list(labels or []),
                None,
                self.now(),
            )
            self.issues[(full_name, number)] = issue
            return issue

    def add_pull(
        self,
        full_name: str,
        *,
        head_branch: str,
        head_repo: str | None = None,
        base: str | None = None,
        title: str = "Change",
        user: str | None = None,
        body: str = "",
        labels: list[str] | None = None,
        maintainer_can_modify: bool = False,
    ) -> Issue:
        """Open a PR from ``head_repo:head_branch`` (default: same repo) into ``base`` (default branch)."""
        with self.lock:
            repo = self.repo(full_name)
            head_repo = head_repo or full_name
            base = base or repo.default_branch
            head_sha = self.resolve_commit(head_repo, f"refs/heads/{head_branch}")
            base_sha = self.resolve_commit(full_name, f"refs/heads/{base}")
            if head_sha is None or base_sha is None:
                raise StateError(f"branch {head_repo}:{head_branch} or {full_name}:{base} does not exist")
            user = user or self.repo(head_repo).owner
            issue = self.add_issue(full_name, title=title, user=user, body=body, labels=labels)
            issue.pull = PullInfo(
                head_repo,
                head_branch,
                head_sha,
                base,
                base_sha,
                maintainer_can_modify=maintainer_can_modify,
            )
            return issue

    def pull(self, full_name: str, number: int) -> Issue | None:
        """The PR ``number`` of ``full_name``, ``None`` when absent or an issue."""
        issue = self.issues.get((full_name, number))
        return issue if issue and issue.pull else None

    def add_comment(self, full_name: str, number: int, *, body: str, user: str) -> Comment:
        """Post an issue/PR comment as ``user`` (seeding, e.g. a maintainer's ``/approve-fix``)."""
        with self.lock:
            if (full_name, number) not in self.issues:
                raise StateError(f"no issue or PR #{number} in {full_name}")
            self.add_user(user, type="Bot" if user.endswith("[bot]") else "User")
            now = self.now()
            comment = Comment(self.next_id(), full_name, number, user, body, now, now)
            self.comments[comment.id] = comment
            return comment

    # ---- seeding from JSON --------------------------------------------------------------------

    def seed(self, doc: dict[str, Any]) -> dict[str, Any]:
        """Apply a scenario document; returns the ids/shas created (for the caller to build events).

        Shape (every key optional)::

            {"identity": "github-actions[bot]",
             "users": [{"login": "alice", "type": "User"}],
             "repos": [{"full_name": "o/r", "files": {...}, "default_branch": "main",
                        "private": false, "fork_of": null, "collaborators": {"alice": "write"},
                        "branches": {"feature": {"files": {...}, "message": "..."}}}],
             "workflows": [{"repo": "o/r", "name": "CI", "path": ".github/workflows/ci.yml", "id": 1}],
             "pulls": [{"repo": "o/r", "head_branch": "feature", "head_repo": "fork/r", "title": "..."}],
             "runs": [{"repo": "o/r", "head_branch": "feature", "head_repo": "fork/r",
                       "conclusion": "failure", "pull_requests": [1],
                       "jobs": [{"name": "test", "conclusion": "failure", "steps": [...], "log": "..."}]}],
             "comments": [{"repo": "o/r", "number": 1, "user": "alice", "body": "/approve-fix"}]}

        Raises :class:`StateError` (nothing is half-applied only per item: items before the bad
        one stay applied, so seed a fresh server when a seed fails).
        """
        created: dict[str, Any] = {
            "repos": {},
            "runs": [],
            "jobs": [],
            "pulls": [],
            "comments": [],
            "workflows": [],
        }
        try:
            with self.lock:
                if "identity" in doc:
                    self.add_user(
                        doc["identity"],
                        type="Bot" if doc["identity"].endswith("[bot]") else "User",
                    )
                    self.identity = doc["identity"]
                for u in doc.get("users", []):
                    self.add_user(u["login"], type=u.get("type", "User"), id=u.get("id"))
                for r in doc.get("repos", []):
                    repo = self.add_repo(
                        r["full_name"],
                        files=r.get("files"),
                        default_branch=r.get("default_branch", "main"),
                        private=r.get("private", False),
                        fork_of=r.get("fork_of"),
                        collaborators=r.get("collaborators"),
                    )
                    heads = {}
                    for branch, spec in (r.get("branches") or {}).items():
                        heads[branch] = self.commit_files(
                            repo.full_name,
                            branch,
                            spec.get("files", {}),
                            message=spec.get("message", f"Work on {branch}"),
                            create=True,
                        )
                    created["repos"][repo.full_name] = {
                        "id": repo.id,
                        "refs": dict(repo.refs),
                    }
                for w in doc.get("workflows", []):
                    created["workflows"].append(
                        self.add_workflow(
                            w["repo"],
                            name=w.get("name", "CI"),
                            path=w.get("path", ".github/workflows/ci.yml"),
                            id=w.get("id"),
                        ).id
                    )
                for p in doc.get("pulls", []):
                    pr = self.add_pull(
                        p["repo"],
                        head_branch=p["head_branch"],
                        head_repo=p.get("head_repo"),
                        base=p.get("base"),
                        title=p.get("title", "Change"),
                        user=p.get("user"),
                        body=p.get("body", ""),
                        labels=p.get("labels"),
                    )
                    created["pulls"].append(pr.number)
                for run_doc in doc.get("runs", []):
                    run_doc = dict(run_doc)
                    wf_id = run_doc.pop("workflow_id", None)
                    full_name = run_doc.pop("repo")
                    run = self.add_run(
                        full_name,
                        workflow=self.workflows.get(wf_id) if wf_id else None,
                        **run_doc,
                    )
                    created["runs"].append(run.id)
                    created["jobs"].extend(j.id for j in self.jobs.values() if j.run_id == run.id)
                for c in doc.get("comments", []):
                    created["comments"].append(
                        self.add_comment(c["repo"], c["number"], body=c["body"], user=c["user"]).id
                    )
        except (KeyError, TypeError) as exc:
            raise StateError(f"bad seed document: {exc!r}") from exc
        except GitObjectError as exc:
            raise StateError(str(exc)) from exc
        return created

    # ---- dumping ------------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """JSON-ready view of everything clients changed plus the seeded world (logs omitted)."""
        with self.lock:
            return {
                "identity": self.identity,
                "repos": {
                    k: {
                        "id": r.id,
                        "default_branch": r.default_branch,
                        "private": r.private,
                        "fork_of": r.fork_of,
                        "refs": dict(r.refs),
                        "collaborators": dict(r.collaborators),
                    }
                    for k, r in self.repos.items()
                },
                "runs": [asdict(r) for r in self.runs.values()],
                "jobs": [
                    {k: v for k, v in asdict(j).items() if k != "log"} | {"log_bytes": len(j.log)}
                    for j in self.jobs.values()
                ],
                "issues": [asdict(i) for i in self.issues.values()],
                "comments": [asdict(c) for c in self.comments.values()],
                "reactions": [asdict(r) for r in self.reactions.values()],
                "check_runs": [asdict(c) for c in self.check_runs.values()],
                "reviews": [asdict(r) for r in self.reviews.values()],
                "review_comments": [asdict(c) for c in self.review_comments.values()],
                "dispatches": list(self.dispatches),
                "reruns": list(self.reruns),
                "ref_writes": list(self.ref_writes),
                "label_removals": list(self.label_removals),
                "issue_edits": list(self.issue_edits),
            }
