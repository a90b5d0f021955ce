"""The world the end-to-end scenarios run in: a fake GitHub seeded with the bundled example.

``acme-tools/tidyconf`` (public, default branch ``main``) holds the files of
``examples/missing-dependency/repo/`` minus the YAML loader and its test; PR #1 (branch
``yaml-config``, by the writer ``dev-wes``) adds them, so its head SHA carries exactly the example
tree, in which ``src/tidyconf/loader.py`` imports ``yaml`` while ``requirements.txt`` lacks
``PyYAML``. Its run of the ``CI`` workflow failed in job ``test`` with
``examples/missing-dependency/job.log`` as the job log, so the offline ``rules`` backend proposes
a real diff (``+PyYAML`` in ``requirements.txt``).

One deviation from the example tree: the ``CI`` workflow file gets a ``workflow_dispatch``
trigger, since GitHub answers 422 to a workflow dispatch of a workflow without one, and the
approval scenario expects ci-healer to start CI on the fix branch that way.

:class:`TimedFakeGitHub` records the host wall-clock time of every answered request, so a scenario
can measure "from the start of the action step to the posted comment" and count the API calls of
one analysis. :func:`run_in_process` runs the same Action code in this interpreter (with the same
``rules`` backend, without PyGithub's pauses between requests) to produce a scenario's
preconditions quickly, such as the proposal comment an approval scenario approves.
"""

from __future__ import annotations

import io
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ci_healer import action
from ci_healer.backends import make_backend
from ci_healer.github_api import GitHubClient, make_github
from ci_healer.render import COMMENT_MARKER, read_metadata
from ci_healer.settings import ActionSettings
from ci_healer.workflow_commands import Runner
from tests.fakegithub import BOT_LOGIN, FakeGitHub, FakeState
from tests.fakegithub.spec import Spec
from tests.fakegithub.state import Comment, Issue

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = REPO_ROOT / "examples" / "missing-dependency"
REPO = "acme-tools/tidyconf"
HEAD_BRANCH = "yaml-config"
#: Files the PR adds on top of ``main`` (the rest of the example tree is already on ``main``).
PR_FILES = ("src/tidyconf/loader.py", "tests/test_loader.py")
#: Collaborators by role (GitHub's ``role_name`` of the collaborator permission endpoint).
MAINTAINER, WRITER, TRIAGER, READER = "maintainer-mia", "dev-wes", "triage-tom", "reader-rae"
REPLY_MARKER = "<!-- ci-healer:reply -->"
FAKE_TOKEN = "ghs_e2eInProcessToken000000000000000000"


def example_files() -> dict[str, str]:
    """The example repository as ``{path: text}``, with ``workflow_dispatch`` added to ``CI``.

    Raises ``FileNotFoundError`` when the example is missing and ``ValueError`` when the example's
    CI workflow no longer has the ``pull_request:`` line the trigger is added after.
    """
    root = EXAMPLE / "repo"
    files = {
        p.relative_to(root).as_posix(): p.read_text(encoding="utf-8")
        for p in sorted(root.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }
    if not files:
        raise FileNotFoundError(f"no files under {root}")
    ci = files[".github/workflows/ci.yml"]
    if "\n  pull_request:\n" not in ci:
        raise ValueError(
            "examples/missing-dependency/repo/.github/workflows/ci.yml has no 'pull_request:' trigger line"
        )
    files[".github/workflows/ci.yml"] = ci.replace(
        "\n  pull_request:\n", "\n  pull_request:\n  workflow_dispatch:\n", 1
    )
    return files


def job_steps(log: str) -> list[Any]:
    """Step names of the job as GitHub lists them: ``Set up job``, one ``Run <x>`` per
    ``##[group]Run <x>`` section of the log (the last one failed), ``Complete job``."""
    names = [line.split("##[group]", 1)[1].strip() for line in log.split("\n") if "##[group]Run " in line]
    if not names:
        return ["Set up job", {"name": "Run tests", "conclusion": "failure"}, "Complete job"]
    return ["Set up job", *names[:-1], {"name": names[-1], "conclusion": "failure"}, "Complete job"]


@dataclass
class Hit:
    """One answered request: host wall-clock ``at`` (unix seconds), method, path, status."""

    at: float
    method: str
    path: str
    status: int


class TimedFakeGitHub(FakeGitHub):
    """:class:`FakeGitHub` that also records when each request was answered (:attr:`hits`)."""

    def __init__(self, state: FakeState, *, spec: Spec) -> None:
        super().__init__(state, spec=spec)
        self.hits: list[Hit] = []

    def handle(
        self, method: str, raw_path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        """Answer like :meth:`FakeGitHub.handle` and append a :class:`Hit`."""
        status, out_headers, payload = super().handle(method, raw_path, headers, body)
        self.hits.append(Hit(time.time(), method, raw_path.split("?", 1)[0], status))
        return status, out_headers, payload

    def mark(self) -> int:
        """Index into :attr:`hits` and :attr:`requests` to count what a later run adds."""
        return len(self.hits)


@dataclass
class World:
    """The seeded fake and the ids a scenario needs."""

    fake: TimedFakeGitHub
    repo: str
    pr: int
    run_id: int
    head_sha: str
    workflow_id: int
    job_log: str
    tmp: Path
    events: list[Path] = field(default_factory=list)

    @property
    def state(self) -> FakeState:
        return self.fake.state

    # ---- what the fake holds ------------------------------------------------------------------

    def proposal_comments(self, number: int | None = None) -> list[Comment]:
        """ci-healer's proposal comments on PR ``number`` (default: the failing PR)."""
        number = number or self.pr
        return [
            c
            for c in self.state.comments.values()
            if c.issue_number == number and c.user == BOT_LOGIN and c.body.startswith(COMMENT_MARKER)
        ]

    def replies(self, number: int | None = None) -> list[str]:
        """Bodies of ci-healer's replies (refusals, notes) on PR ``number``."""
        number = number or self.pr
        return [
            c.body
            for c in self.state.comments.values()
            if c.issue_number == number and c.user == BOT_LOGIN and c.body.startswith(REPLY_MARKER)
        ]

    def check_runs(self) -> list[Any]:
        """Check runs on the failing head SHA."""
        return [c for c in self.state.check_runs.values() if c.head_sha == self.head_sha]

    def fix_ref_writes(self) -> list[dict[str, Any]]:
        """Refs created or updated through the API under ``refs/heads/ai-fix/``."""
        return [r for r in self.state.ref_writes if r["ref"].startswith("refs/heads/ai-fix/")]

    def pulls(self) -> list[Issue]:
        """Every PR of the repository."""
        return [i for i in self.state.issues.values() if i.repo == self.repo and i.pull is not None]

    def proposal_id(self) -> str:
        """Proposal id of the one proposal comment (``AssertionError`` when there is not exactly one)."""
        comments = self.proposal_comments()
        assert len(comments) == 1, f"expected one proposal comment, found {len(comments)}"
        meta = read_metadata(comments[0].body)
        assert meta is not None, "the proposal comment has no metadata"
        return meta.proposal_id

    def writes_since(self, mark: int) -> list[Hit]:
        """Non-GET requests answered after :meth:`TimedFakeGitHub.mark` returned ``mark``."""
        return [h for h in self.fake.hits[mark:] if h.method not in ("GET", "HEAD")]


LOADER = "src/tidyconf/loader.py"


def lint_variant(files: dict[str, str]) -> tuple[dict[str, str], str]:
    """The lint variant of the world: the PR's ``src/tidyconf/loader.py`` also imports ``os``,
    which it never uses, and the failed job is ``ruff check`` reporting it (F401, ruff's concise
    output), so the offline ``rules`` backend proposes a one-line deletion: low risk, category
    lint. Returns the changed files and the job log."""
    text = files[LOADER]
    anchor = "from __future__ import annotations\n\n"
    if anchor not in text:
        raise ValueError(f"{LOADER} of the example has no '{anchor.strip()}' line")
    changed = text.replace(anchor, anchor + "import os\n", 1)
    line = changed.split("\n").index("import os") + 1
    log = (
        "2025-01-01T10:00:01.0000000Z ##[group]Run ruff check .\n"
        "2025-01-01T10:00:01.0000000Z ruff check .\n"
        "2025-01-01T10:00:01.0000000Z ##[endgroup]\n"
        f"2025-01-01T10:00:02.0000000Z {LOADER}:{line}:8: F401 [*] `os` imported but unused\n"
        "2025-01-01T10:00:02.0000000Z Found 1 error.\n"
        "2025-01-01T10:00:02.0000000Z [*] 1 fixable with the `--fix` option.\n"
        "2025-01-01T10:00:02.0000000Z ##[error]Process completed with exit code 1.\n"
    )
    return {**files, LOADER: changed}, log


def build_world(fake_spec: Spec, tmp: Path, *, lint: bool = False) -> World:
    """Seed a fresh :class:`FakeState` and start a :class:`TimedFakeGitHub` on 127.0.0.1
    (``lint``: the :func:`lint_variant` of the PR and its log).

    The caller stops ``world.fake``. Raises ``FileNotFoundError`` when the example is missing.
    """
    files = example_files()
    log = (EXAMPLE / "job.log").read_text(encoding="utf-8")
    if lint:
        files, log = lint_variant(files)
    state = FakeState()
    base = {path: text for path, text in files.items() if path not in PR_FILES}
    state.add_repo(
        REPO,
        files=base,
        collaborators={MAINTAINER: "admin", WRITER: "write", TRIAGER: "triage", READER: "read"},
    )
    state.set_permission(REPO, BOT_LOGIN, "write")
    head = state.commit_files(
        REPO,
        HEAD_BRANCH,
        {p: files[p] for p in PR_FILES},
        message="Load settings from YAML",
        author=WRITER,
        create=True,
    )
    pr = state.add_pull(REPO, head_branch=HEAD_BRANCH, title="Load settings from YAML files", user=WRITER)
    workflow = state.add_workflow(REPO, name="CI", path=".github/workflows/ci.yml")
    run = state.add_run(
        REPO,
        head_branch=HEAD_BRANCH,
        workflow=workflow,
        pull_requests=[pr.number],
        actor=WRITER,
        jobs=[{"name": "test", "conclusion": "failure", "log": log, "steps": job_steps(log)}],
    )
    fake = TimedFakeGitHub(state, spec=fake_spec).start()
    return World(fake, REPO, pr.number, run.id, head, workflow.id, log, tmp)


def run_in_process(
    world: World, event_name: str, payload: dict[str, Any], *, inputs: dict[str, str] | None = None
) -> tuple[int, str]:
    """Run the Action in this interpreter on one event against ``world.fake``; returns
    ``(exit code, workflow-command output)``. Used for preconditions only; the scenario under test
    always runs in the container."""
    path = world.tmp / f"inproc-event-{len(world.events)}.json"
    path.write_text(json.dumps(payload), encoding="utf-8")
    world.events.append(path)
    env = {
        "INPUT_GITHUB-TOKEN": FAKE_TOKEN,
        "INPUT_BACKEND": "rules",
        "GITHUB_REPOSITORY": world.repo,
        "GITHUB_EVENT_NAME": event_name,
        "GITHUB_EVENT_PATH": str(path),
        "GITHUB_API_URL": world.fake.url,
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_RUN_ID": "77",
        **{f"INPUT_{k.upper()}": v for k, v in (inputs or {}).items()},
    }
    settings = ActionSettings.from_environ(env)
    gh = make_github(
        token=FAKE_TOKEN,
        api_url=world.fake.url,
        retries=2,
        backoff=0.01,
        seconds_between_requests=None,
        seconds_between_writes=None,
    )
    client = GitHubClient(gh, world.repo, bot_login=settings.bot_login)
    stream = io.StringIO()
    runner = Runner(stream=stream)
    code = action.run(
        settings=settings,
        github=client,
        runner=runner,
        backend_factory=lambda repo: make_backend(settings.backend, repo=repo),
    )
    return code, stream.getvalue() + "".join(runner.summary)
