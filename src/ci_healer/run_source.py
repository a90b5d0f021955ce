"""``ci-healer analyze --run``: a failed workflow run read from a terminal, the way the Action reads it.

- :func:`parse_run_ref` turns ``https://github.com/OWNER/NAME/actions/runs/ID`` (also with
  ``/attempts/N`` or ``/job/JOBID`` after it, or a GitHub Enterprise Server host) or
  ``OWNER/NAME/ID`` into a :class:`RunRef`.
- :func:`resolve_token` finds the REST token: ``GITHUB_TOKEN``, ``GH_TOKEN``, else the output of
  ``gh auth token`` (GitHub CLI; run without a shell, under a timeout). The token is never printed.
- :func:`local_checkout` tells whether a folder is a git checkout of the run's repository at its
  head SHA (``git rev-parse HEAD`` and the remotes' URLs); otherwise the files are read through the
  API at the head SHA (:class:`~ci_healer.github_api.GitHubRepoSource`, as the Action does).
- :func:`analyze_run_ref` gathers the failed jobs, their logs, the last green run and the failing
  change with :func:`ci_healer.analyze_run.gather_inputs` (the Action's own code) and makes the
  proposal with the same engine; nothing is posted.
- :func:`apply_diff` applies the proposal's diff to the local work tree with ``git apply`` after
  ``git apply --check``, refusing a dirty work tree (``git status --porcelain``) and, without
  ``--yes``, a session without a terminal to confirm on.

Every subprocess is an argument list (no shell) with a timeout.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit

from pydantic import SecretStr

from ci_healer.analyze_run import RunInputs, analyze_triage, gather_inputs
from ci_healer.backends import BackendSettings, make_backend
from ci_healer.events import WorkflowRunData
from ci_healer.flow import AnalyzeOutcome, Context
from ci_healer.github_api import GitHubClient, GitHubError, LogDownload, call, make_github
from ci_healer.models import Analysis
from ci_healer.redact import Redactor
from ci_healer.repo import LocalRepo, RepoSource
from ci_healer.settings import ActionSettings, backend_from_environment
from ci_healer.workflow_commands import Runner

PUBLIC_SERVER = "https://github.com"
PUBLIC_API = "https://api.github.com"
GH_TIMEOUT_S = 10
"""Seconds ``gh auth token`` may take (it reads a local keyring or config file)."""
GIT_TIMEOUT_S = 60
"""Seconds one ``git`` command may take."""

TOKEN_HELP = (
    "no GitHub token: set GITHUB_TOKEN or GH_TOKEN, or install the GitHub CLI and run "
    "`gh auth login` (ci-healer then uses `gh auth token`)"
)

_NAME = r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,99})"
_SHORT = re.compile(rf"^({_NAME})/({_NAME})/(\d{{1,20}})$")
_RUN_PATH = re.compile(
    rf"^/({_NAME})/({_NAME})/actions/runs/(\d{{1,20}})(?:/attempts/(\d{{1,6}}))?(?:/job/(\d{{1,20}}))?(?:/[^?#]*)?/?$"
)


class RunRefError(ValueError):
    """A ``--run`` value or the server options around it cannot be used; the message says why."""


@dataclass(frozen=True)
class RunRef:
    """A workflow run named on the command line: ``repository`` (``owner/name``), ``run_id``, the
    ``attempt`` (``None``: the run's latest), the ``job_id`` of a job URL, and the ``server_url``
    (web host) and ``api_url`` (REST base) to reach it."""

    repository: str
    run_id: int
    attempt: int | None = None
    job_id: int | None = None
    server_url: str = PUBLIC_SERVER
    api_url: str = PUBLIC_API

    @property
    def host(self) -> str:
        """Host name of the web server (``github.com``, a GHES host)."""
        return (urlsplit(self.server_url).hostname or "github.com").lower()


def _server_of_api(api_url: str) -> str:
    """Web URL of the server whose REST base is ``api_url``: ``https://api.github.com`` →
    ``https://github.com``; GHES ``https://HOST/api/v3`` → ``https://HOST`` (GitHub docs,
    "REST API endpoints for GitHub Enterprise Server": the API lives under ``/api/v3``)."""
    parts = urlsplit(api_url)
    host = (parts.hostname or "").lower()
    if host == "api.github.com":
        return PUBLIC_SERVER
    if host.startswith("api.") and host.endswith(".ghe.com"):  # GitHub Enterprise Cloud with data residency
        return f"{parts.scheme}://{host[4:]}"
    return f"{parts.scheme}://{parts.netloc}"


def parse_run_ref(text: str, *, api_url: str | None = None, server_url: str | None = None) -> RunRef:
    """Parse ``--run``. ``api_url`` is ``--api-url`` or ``GITHUB_API_URL``; ``server_url`` is
    ``GITHUB_SERVER_URL`` (used for the ``OWNER/NAME/ID`` form).

    Web URL forms (GitHub's run, attempt and job pages): ``https://HOST/OWNER/NAME/actions/runs/ID``,
    ``.../runs/ID/attempts/N``, ``.../runs/ID/job/JOBID`` (a query or ``#step:..`` anchor is ignored).
    A host other than ``github.com`` is a GitHub Enterprise Server: its REST base must be given
    (``--api-url https://HOST/api/v3``). Raises :class:`RunRefError`.
    """
    text = text.strip()
    api = (api_url or "").rstrip("/") or None
    short = _SHORT.match(text)
    if short:
        owner, name, run_id = short.groups()
        api = api or PUBLIC_API
        server = (server_url or "").rstrip("/") or _server_of_api(api)
        return RunRef(f"{owner}/{name}", int(run_id), server_url=server, api_url=api)
    parts = urlsplit(text)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise RunRefError(
            f"--run must be a run URL (https://github.com/OWNER/NAME/actions/runs/ID) or OWNER/NAME/RUN_ID, not {text!r}"
        )
    m = _RUN_PATH.match(parts.path)
    if m is None:
        raise RunRefError(f"not a workflow run URL: {text!r} (expected .../OWNER/NAME/actions/runs/ID)")
    owner, name, run_id, attempt, job_id = m.groups()
    host = parts.hostname.lower()
    server = f"{parts.scheme}://{parts.netloc}".lower()
    if host in ("github.com", "www.github.com"):
        server, api = PUBLIC_SERVER, api or PUBLIC_API
    elif api is None or (urlsplit(api).hostname or "").lower() not in (host, f"api.{host}"):
        raise RunRefError(
            f"{host} is not github.com: give its REST API base with --api-url or GITHUB_API_URL "
            f"(GitHub Enterprise Server: {server}/api/v3)"
        )
    if attempt is not None and int(attempt) < 1:
        raise RunRefError(f"run attempt must be 1 or more, not {attempt}")
    return RunRef(
        f"{owner}/{name}",
        int(run_id),
        int(attempt) if attempt else None,
        int(job_id) if job_id else None,
        server_url=server,
        api_url=api,
    )


# ------------------------------------------------------------------------------------ token


def resolve_token(
    environ: Mapping[str, str],
    *,
    host: str = "github.com",
    which: Callable[[str], str | None] = shutil.which,
    run: Callable[..., subprocess.CompletedProcess] = subprocess.run,
) -> SecretStr:
    """The REST token: ``GITHUB_TOKEN``, else ``GH_TOKEN``, else ``gh auth token --hostname HOST``
    when ``gh`` is on ``PATH`` (GitHub CLI manual, ``gh auth token``: prints the token gh uses for
    a host). Raises :class:`RunRefError` with :data:`TOKEN_HELP` when none gives one; gh's own
    output is never shown (it could hold the token)."""
    for var in ("GITHUB_TOKEN", "GH_TOKEN"):
        value = (environ.get(var) or "").strip()
        if value:
            return SecretStr(value)
    gh = which("gh")
    if gh:
        try:
            done = run(
                [gh, "auth", "token", "--hostname", host],
                capture_output=True,
                text=True,
                timeout=GH_TIMEOUT_S,
                check=False,
                stdin=subprocess.DEVNULL,
            )
        except (OSError, subprocess.TimeoutExpired):
            done = None
        value = (done.stdout or "").strip() if done is not None and done.returncode == 0 else ""
        if value and "\n" not in value and " " not in value:
            return SecretStr(value)
    raise RunRefError(TOKEN_HELP)


# ------------------------------------------------------------------------------------ git


def _git(folder: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["git", *args],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=GIT_TIMEOUT_S,
        check=False,
        stdin=subprocess.DEVNULL,
    )


_REMOTE = re.compile(r"^(?:[a-z+]+://)?(?:[^@/]+@)?([^/:]+)(?::\d+)?[:/](.+?)(?:\.git)?/?$", re.IGNORECASE)


def _remote_names_repo(url: str, host: str, repository: str) -> bool:
    """True when git remote ``url`` (``https://HOST/O/N(.git)``, ``git@HOST:O/N.git``,
    ``ssh://git@HOST/O/N``) is repository ``repository`` on ``host``."""
    m = _REMOTE.match(url.strip())
    return (
        m is not None
        and m.group(1).lower() == host.lower()
        and m.group(2).strip("/").lower() == repository.lower()
    )


def local_checkout(
    folder: str | os.PathLike[str], repository: str, head_sha: str, *, host: str = "github.com"
) -> tuple[bool, str]:
    """``(True, "")`` when ``folder`` is the top of a git checkout whose ``HEAD`` is ``head_sha``
    and one of whose remotes is ``repository`` on ``host``; else ``(False, why)``."""
    path = Path(folder)
    if shutil.which("git") is None:
        return False, "git is not installed"
    try:
        top = _git(path, "rev-parse", "--show-toplevel")
        if top.returncode != 0:
            return False, f"{path} is not a git checkout"
        if Path(top.stdout.strip()).resolve() != path.resolve():
            return False, f"{path} is not the top folder of its git checkout"
        head = _git(path, "rev-parse", "HEAD").stdout.strip()
        if head.lower() != head_sha.lower():
            return False, f"{path} is at {head[:12] or 'no commit'}, not the run's head {head_sha[:12]}"
        remotes = _git(path, "remote", "-v").stdout.splitlines()
    except (OSError, subprocess.TimeoutExpired) as err:
        return False, f"git could not be run ({type(err).__name__})"
    urls = {line.split()[1] for line in remotes if len(line.split()) >= 2}
    if not any(_remote_names_repo(u, host, repository) for u in urls):
        return False, f"no remote of {path} is {host}/{repository}"
    return True, ""


class ApplyRefused(Exception):
    """``--apply`` would not apply the diff; the message says why. ``code`` is the exit code."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def apply_diff(
    diff: str,
    folder: str | os.PathLike[str],
    *,
    assume_yes: bool,
    interactive: bool,
    confirm: Callable[[str], bool],
    usage_code: int = 2,
    failed_code: int = 3,
) -> bool:
    """Apply unified ``diff`` to the git work tree ``folder``: refuse when not ``interactive`` (no
    TTY) unless ``assume_yes``, refuse a dirty work tree (any line of ``git status --porcelain``),
    run ``git apply --check``, ask ``confirm(question)`` unless ``assume_yes``, then ``git apply``.
    Returns ``True`` when applied, ``False`` when the user declined (nothing changed). Raises
    :class:`ApplyRefused` (``usage_code`` for a refusal, ``failed_code`` when git rejects the diff)."""
    path = Path(folder)
    if not assume_yes and not interactive:
        raise ApplyRefused(
            "--apply asks for confirmation on a terminal; there is none here (pass --yes to apply anyway)",
            usage_code,
        )
    try:
        status = _git(path, "status", "--porcelain")
        if status.returncode != 0:
            raise ApplyRefused(f"--apply needs a git work tree: {path} is not one", usage_code)
        if status.stdout.strip():
            raise ApplyRefused(
                f"the work tree of {path} has uncommitted changes (git status --porcelain); "
                "commit or stash them first, or use --format diff",
                usage_code,
            )
        check = subprocess.run(
            ["git", "apply", "--check", "-"],
            cwd=path,
            input=diff,
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_S,
            check=False,
        )
        if check.returncode != 0:
            raise ApplyRefused(
                f"git apply --check rejected the diff: {check.stderr.strip()[:500]}", failed_code
            )
        if not assume_yes and not confirm("Apply this diff to the work tree? [y/N] "):
            return False
        done = subprocess.run(
            ["git", "apply", "-"],
            cwd=path,
            input=diff,
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        raise ApplyRefused(f"git could not be run ({type(err).__name__})", usage_code) from None
    if done.returncode != 0:
        raise ApplyRefused(f"git apply failed: {done.stderr.strip()[:500]}", failed_code)
    return True


# ------------------------------------------------------------------------------------ progress


class TerminalRunner(Runner):
    """A :class:`Runner` for a terminal: notices, warnings and errors become plain
    ``ci-healer: warning: ...`` lines on ``stream`` (standard error), passed through the
    :class:`~ci_healer.redact.Redactor` with the literal ``secrets`` (SECURITY.md item 22: an
    error text that echoes the token); masks are not needed (nothing is a workflow log) and the
    summary stays in memory."""

    def __init__(self, *, stream: TextIO, secrets: list[str]) -> None:
        super().__init__(stream=stream, environ={})
        self._redactor = Redactor(secrets)
        self.sink: Callable[[str], None] | None = None
        """When set (a live progress display), lines go through it instead of ``stream``."""

    def command(self, name: str, message: str = "", **properties: str | int | None) -> None:
        """Print one line for ``notice``/``warning``/``error``; ignore the other commands."""
        if name not in ("notice", "warning", "error"):
            return
        line = f"ci-healer: {name}: {self._redactor.redact(message)[0]}"
        if self.sink is not None:
            self.sink(line)
            return
        self.stream.write(line + "\n")
        self.stream.flush()


class _Progress:
    """Progress of log downloads on standard error, with ``rich`` (the optional ``cli`` extra)
    when it is installed and standard error is a terminal; otherwise nothing is shown."""

    def __init__(self, stream: TextIO, enabled: bool) -> None:
        self._bar: Any = None
        self._task: Any = None
        self._count = 0
        if not enabled:
            return
        try:
            from rich.console import Console
            from rich.progress import BarColumn, DownloadColumn, Progress, SpinnerColumn, TextColumn
        except ImportError:
            return
        self._bar = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            console=Console(file=stream),
            transient=True,
        )

    @contextmanager
    def shown(self, runner: TerminalRunner) -> Iterator[None]:
        """Show the display while the body runs; ``runner``'s lines are printed above it."""
        if self._bar is None:
            yield
            return
        with self._bar:
            self._task = self._bar.add_task("reading the run", total=None)
            runner.sink = lambda line: self._bar.console.print(
                line, markup=False, highlight=False, soft_wrap=True
            )
            try:
                yield
            finally:
                runner.sink = None

    def log_started(self, job_id: int) -> None:
        if self._bar is not None and self._task is not None:
            self._count += 1
            self._bar.update(self._task, description=f"downloading job log {self._count} (job {job_id})")

    def log_done(self, log: LogDownload) -> None:
        if self._bar is not None and self._task is not None:
            self._bar.advance(self._task, log.total_bytes)


class _ProgressClient(GitHubClient):
    """:class:`GitHubClient` that reports every job log download to a :class:`_Progress`."""

    progress: _Progress

    def download_log(self, job_id: int, *, max_bytes: int, chunk_size: int = 1 << 16) -> LogDownload:
        """See :meth:`GitHubClient.download_log`."""
        self.progress.log_started(job_id)
        log = super().download_log(job_id, max_bytes=max_bytes, chunk_size=chunk_size)
        self.progress.log_done(log)
        return log


# ------------------------------------------------------------------------------------ analysis


@dataclass
class RunAnalysis:
    """What :func:`analyze_run_ref` produced: the ``analysis`` (``None`` when there was nothing to
    analyze or the run could not be read: ``exit_code`` says which), the gathered ``inputs``, the
    local folder the files came from (``None``: through the API) and the run's head SHA."""

    exit_code: int
    analysis: Analysis | None = None
    inputs: RunInputs | None = None
    local_folder: Path | None = None
    head_sha: str = ""


def _run_data(client: GitHubClient, ref: RunRef) -> WorkflowRunData:
    """The run as the ``workflow_run`` event would give it; the attempt of ``ref`` (or of its
    job, ``GET actions/jobs/{id}`` ``run_attempt``) replaces the latest one."""
    info = client.get_run(ref.run_id)
    attempt = ref.attempt
    if attempt is None and ref.job_id is not None:
        _, job = call(
            "read job",
            lambda: client.gh.requester.requestJsonAndCheck(
                "GET", f"{client.repo.url}/actions/jobs/{ref.job_id}"
            ),
        )
        if int(job.get("run_id") or 0) != ref.run_id:
            raise GitHubError("read job", 404, f"job {ref.job_id} is not a job of run {ref.run_id}")
        attempt = int(job.get("run_attempt") or info.run_attempt)
    if attempt is not None and attempt > info.run_attempt:
        raise GitHubError(
            "read workflow run", 404, f"run {ref.run_id} has {info.run_attempt} attempt(s), not {attempt}"
        )
    return WorkflowRunData.model_validate(
        {
            "id": info.id,
            "run_attempt": attempt or info.run_attempt,
            "head_sha": info.head_sha,
            "head_branch": info.head_branch,
            "conclusion": info.conclusion,
            "event": info.event,
            "workflow_id": info.workflow_id,
            "html_url": info.html_url,
            "pull_requests": [{"number": n} for n in info.pull_requests],
            "head_repository": {"full_name": info.head_repository} if info.head_repository else None,
            "repository": {"full_name": ref.repository},
        }
    )


def analyze_run_ref(
    ref: RunRef,
    *,
    token: SecretStr,
    backend: BackendSettings,
    repo_folder: str | None,
    cwd: str | os.PathLike[str],
    stderr: TextIO,
    progress: bool,
    protected_paths: list[str] = (),  # type: ignore[assignment]
    allowed_paths: list[str] = (),  # type: ignore[assignment]
    max_block_tokens: int = 1500,
    environ: Mapping[str, str] | None = None,
    github_factory: Callable[..., Any] | None = None,
) -> RunAnalysis:
    """Analyze workflow run ``ref`` as the Action's analyze flow would, posting nothing.

    Files come from ``repo_folder`` (``--repo``) when given, else from ``cwd`` when it is a checkout
    of the run's repository at its head SHA (:func:`local_checkout`), else through the API at the
    head SHA. ``github_factory(token=, api_url=)`` builds the PyGithub client (default
    :func:`~ci_healer.github_api.make_github`). Notices and warnings go to ``stderr`` as
    ``ci-healer: ...`` lines. Exit codes: 0 with
    an analysis (or nothing to analyze), 1 when GitHub could not be read (the reason is on stderr).
    Raises :class:`~ci_healer.backends.BackendError` for a backend that cannot be set up and
    :class:`~ci_healer.repo.RepoError` for a ``repo_folder`` that does not exist.
    """
    secret = token.get_secret_value()
    env = dict(os.environ if environ is None else environ)
    settings = ActionSettings(
        github_token=token,
        backend=backend_from_environment(backend.model_copy(update={"github_token": token}), env),
        protected_paths=list(protected_paths),
        allowed_paths=list(allowed_paths),
        max_block_tokens=max_block_tokens,
        dry_run=True,
        api_url=ref.api_url,
        server_url=ref.server_url,
        repository=ref.repository,
        event_name="workflow_run",
        event_path="",
    )
    runner = TerminalRunner(stream=stderr, secrets=settings.secret_values())
    gh = (github_factory or make_github)(token=secret, api_url=ref.api_url)
    client = _ProgressClient(gh, ref.repository)
    client.progress = _Progress(stderr, progress)
    make_backend(settings.backend, repo=None)  # a backend set-up error stops before any download
    ctx = Context(
        settings=settings,
        gh=client,
        runner=runner,
        backend_factory=lambda repo: make_backend(settings.backend, repo=repo),
    )
    try:
        with client.progress.shown(runner):
            run = _run_data(client, ref)
            gathered = gather_inputs(ctx, run)
    except GitHubError as err:
        runner.error(f"the run could not be read: {err}")
        return RunAnalysis(1)
    if isinstance(gathered, AnalyzeOutcome):
        return RunAnalysis(gathered.exit_code, head_sha=run.head_sha)
    folder: Path | None = None
    repo: RepoSource
    if repo_folder is not None:
        folder = Path(repo_folder)
        repo = LocalRepo(folder, name=ref.repository)
        ok, why = local_checkout(folder, ref.repository, run.head_sha, host=ref.host)
        if not ok:
            runner.warning(f"--repo {folder}: {why}; its files are read as they are")
    else:
        ok, why = local_checkout(cwd, ref.repository, run.head_sha, host=ref.host)
        if ok:
            folder = Path(cwd)
            repo = LocalRepo(folder, name=ref.repository)
        else:
            runner.notice(f"files are read through the API at {run.head_sha[:12]} ({why})")
            repo = client.repo_source(run.head_sha)
    primary = gathered.primary
    assert primary.found is not None
    analysis = analyze_triage(ctx, primary.found, repo, gathered.change)
    runner.notice(
        f"run {run.id} attempt {run.run_attempt}: job {primary.job.name} analyzed "
        f"({len(gathered.jobs)} failed job(s), {len(gathered.groups)} distinct failure(s))"
    )
    return RunAnalysis(0, analysis, gathered, folder, run.head_sha)


def stderr_is_tty(stream: TextIO = sys.stderr) -> bool:
    """True when ``stream`` is a terminal (progress is shown only then)."""
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


__all__ = [
    "TOKEN_HELP",
    "ApplyRefused",
    "RunAnalysis",
    "RunRef",
    "RunRefError",
    "TerminalRunner",
    "analyze_run_ref",
    "apply_diff",
    "local_checkout",
    "parse_run_ref",
    "resolve_token",
]
