"""``ci-healer analyze --run``: a failed workflow run read through the (fake) GitHub API, its files
from a local checkout at the head SHA or through the API, ``--format diff`` and ``--apply``, the
token from ``GITHUB_TOKEN``/``GH_TOKEN``/``gh auth token``, and the ``github-models`` backend.

The run is the fake's standard world (``octo-org/hello-app``, PR #1, failed job ``test``) with a
pytest collection error for an undeclared module (a hand-written excerpt of that class of log),
which the offline ``rules`` backend fixes by declaring the distribution in ``pyproject.toml``.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from ci_healer import cli, run_source
from ci_healer.backends import GITHUB_MODELS_BASE_URL, BackendError, BackendSettings, make_backend
from ci_healer.run_source import RunRefError, local_checkout, parse_run_ref
from ci_healer.settings import ActionSettings
from tests.fakegithub.fixtures import require_spec
from tests.fakegithub.scenario import REPO, Scenario, standard
from tests.fakegithub.server import FakeGitHub

TOKEN = "ghs_cliRunTestToken0123456789abcdefABCD"
GH_CLI_TOKEN = "gho_fromTheGitHubCliToken0123456789abcd"

MISSING_MODULE_LOG = """2025-01-01T10:00:01.0000000Z ##[group]Run pytest -q
2025-01-01T10:00:01.0000000Z pytest -q
2025-01-01T10:00:01.0000000Z shell: /usr/bin/bash -e {0}
2025-01-01T10:00:01.0000000Z ##[endgroup]
2025-01-01T10:00:02.0000000Z ==================================== ERRORS ====================================
2025-01-01T10:00:02.0000000Z ____________________ ERROR collecting tests/test_calc.py ______________________
2025-01-01T10:00:02.0000000Z ImportError while importing test module '/home/runner/work/hello-app/hello-app/tests/test_calc.py'.
2025-01-01T10:00:02.0000000Z Traceback:
2025-01-01T10:00:02.0000000Z tests/test_calc.py:1: in <module>
2025-01-01T10:00:02.0000000Z     import yaml
2025-01-01T10:00:02.0000000Z E   ModuleNotFoundError: No module named 'yaml'
2025-01-01T10:00:02.0000000Z =========================== short test summary info ============================
2025-01-01T10:00:02.0000000Z ERROR tests/test_calc.py
2025-01-01T10:00:02.0000000Z !!!!!!!!!!!!!!!!!!!! Interrupted: 1 error during collection !!!!!!!!!!!!!!!!!!!!
2025-01-01T10:00:02.0000000Z =============================== 1 error in 0.19s ===============================
2025-01-01T10:00:02.0000000Z ##[error]Process completed with exit code 2.
"""

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


# ------------------------------------------------------------------------------------ fixtures


@pytest.fixture
def world() -> Iterator[tuple[FakeGitHub, Scenario]]:
    """The standard fake world whose failed job log is :data:`MISSING_MODULE_LOG`; fails at
    teardown when any request or response disagreed with GitHub's REST description."""
    spec = require_spec()
    scenario = standard(log=MISSING_MODULE_LOG)
    fake = FakeGitHub(scenario.state, spec=spec).start()
    yield fake, scenario
    fake.stop()
    assert not fake.violations, fake.violation_report()


@pytest.fixture
def env(monkeypatch, world, tmp_path) -> dict[str, str]:
    """A clean environment: the token in ``GITHUB_TOKEN``, the fake as ``GITHUB_API_URL``, no LLM
    credentials, the working folder an empty temporary one (not a checkout)."""
    fake, _ = world
    for var in (
        "GITHUB_TOKEN",
        "GH_TOKEN",
        "OPENAI_API_KEY",
        "OPENAI_BASE_URL",
        "AWS_ACCESS_KEY_ID",
        "AWS_PROFILE",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    monkeypatch.setenv("GITHUB_API_URL", fake.url)
    monkeypatch.setenv("GITHUB_SERVER_URL", "https://github.com")  # the fake plays github.com's API
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    return {"api": fake.url}


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def checkout_at_head(
    scenario: Scenario, dest: Path, *, remote: str = f"https://github.com/{REPO}.git"
) -> Path:
    """A real git checkout of the fake repository at the run's head SHA: the fake's git objects
    (whose ids are git's own) written with ``git hash-object``, ``HEAD`` on the head commit, and
    ``origin`` pointing at the repository."""
    git = scenario.state.git
    subprocess.run(["git", "init", "-q", str(dest)], check=True)
    with tempfile.TemporaryDirectory() as scratch:
        by_kind: dict[str, list[tuple[str, Path]]] = {}
        for n, (sha, (kind, body)) in enumerate(sorted(git._objects.items())):
            path = Path(scratch) / str(n)
            path.write_bytes(body)
            by_kind.setdefault(kind, []).append((sha, path))
        for kind in ("blob", "tree", "commit"):  # a tree or commit may only name objects already written
            items = by_kind.get(kind, [])
            done = subprocess.run(
                ["git", "hash-object", "-w", "--literally", "-t", kind, "--stdin-paths"],
                cwd=dest,
                input="".join(f"{p}\n" for _, p in items),
                capture_output=True,
                text=True,
                check=True,
            )
            assert done.stdout.split() == [sha for sha, _ in items]
    run = scenario.state.runs[scenario.run_id]
    subprocess.run(["git", "update-ref", "refs/heads/fix-rounding", run.head_sha], cwd=dest, check=True)
    subprocess.run(["git", "symbolic-ref", "HEAD", "refs/heads/fix-rounding"], cwd=dest, check=True)
    subprocess.run(["git", "reset", "-q", "--hard"], cwd=dest, check=True)
    subprocess.run(["git", "remote", "add", "origin", remote], cwd=dest, check=True)
    return dest


def api_paths(fake: FakeGitHub) -> list[str]:
    return [r.path for r in fake.requests]


# ------------------------------------------------------------------------------------ --run forms


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("https://github.com/octo-org/hello-app/actions/runs/123", ("octo-org/hello-app", 123, None, None)),
        ("https://github.com/octo-org/hello-app/actions/runs/123/", ("octo-org/hello-app", 123, None, None)),
        (
            "https://github.com/octo-org/hello-app/actions/runs/123/attempts/2",
            ("octo-org/hello-app", 123, 2, None),
        ),
        (
            "https://github.com/octo-org/hello-app/actions/runs/123/job/456",
            ("octo-org/hello-app", 123, None, 456),
        ),
        (
            "https://github.com/octo-org/hello-app/actions/runs/123/job/456#step:4:12",
            ("octo-org/hello-app", 123, None, 456),
        ),
        (
            "https://github.com/octo-org/hello-app/actions/runs/123?pr=7",
            ("octo-org/hello-app", 123, None, None),
        ),
        ("octo-org/hello-app/123", ("octo-org/hello-app", 123, None, None)),
        ("  Octo.Org/hello_app/9  ", ("Octo.Org/hello_app", 9, None, None)),
    ],
)
def test_run_url_forms_parse(text: str, expected: tuple) -> None:
    ref = parse_run_ref(text)
    assert (ref.repository, ref.run_id, ref.attempt, ref.job_id) == expected
    assert (ref.server_url, ref.api_url) == ("https://github.com", "https://api.github.com")


def test_a_ghes_run_url_needs_the_api_url_of_that_server() -> None:
    url = "https://ghe.example.com/team/app/actions/runs/77/attempts/3"
    with pytest.raises(RunRefError, match=r"--api-url .*https://ghe.example.com/api/v3"):
        parse_run_ref(url)
    with pytest.raises(RunRefError, match=r"not github\.com"):
        parse_run_ref(url, api_url="https://api.github.com")  # a token for one server never goes to another
    ref = parse_run_ref(url, api_url="https://ghe.example.com/api/v3/")
    assert (ref.repository, ref.run_id, ref.attempt) == ("team/app", 77, 3)
    assert (ref.server_url, ref.api_url, ref.host) == (
        "https://ghe.example.com",
        "https://ghe.example.com/api/v3",
        "ghe.example.com",
    )
    short = parse_run_ref("team/app/77", api_url="https://ghe.example.com/api/v3")
    assert short.server_url == "https://ghe.example.com"


@pytest.mark.parametrize(
    "text",
    [
        "https://github.com/octo-org/hello-app/pull/1",
        "https://github.com/octo-org/hello-app/actions/runs/abc",
        "octo-org/hello-app",
        "octo-org/hello-app/12/13",
        "ftp://github.com/octo-org/hello-app/actions/runs/1",
        "../etc/passwd/1",
    ],
)
def test_other_values_are_refused_with_the_expected_forms(text: str) -> None:
    with pytest.raises(RunRefError, match="actions/runs"):
        parse_run_ref(text)


# ------------------------------------------------------------------------------------ reading the run


def test_logs_and_files_come_through_the_api_without_a_checkout(world, env, capsys) -> None:
    fake, w = world
    code, out, err = run_cli(
        capsys, "analyze", "--run", f"{w.repo}/{w.run_id}", "--backend", "rules", "--format", "json"
    )
    assert code == 0, err
    analysis = json.loads(out)
    assert any("No module named 'yaml'" in b["text"] for b in analysis["blocks"])
    assert "PyYAML" in analysis["diff"] and "pyproject.toml" in analysis["diff"]
    paths = api_paths(fake)
    head = w.state.runs[w.run_id].head_sha
    assert f"/repos/{w.repo}/actions/runs/{w.run_id}/attempts/1/jobs" in paths
    assert f"/_blobs/job-logs/{w.failed_job_id}" in paths  # the failed job's log, and only failed jobs'
    assert f"/_blobs/job-logs/{w.passed_job_id}" not in paths
    assert f"/repos/{w.repo}/git/trees/{head}" in paths  # the files at the head SHA
    assert any(p.startswith(f"/repos/{w.repo}/git/blobs/") for p in paths)
    assert f"/repos/{w.repo}/pulls/{w.pr}/files" in paths  # the failing change, as the Action reads it
    assert not [r for r in fake.requests if r.method != "GET"]  # nothing is posted
    assert "files are read through the API" in err and "is not a git checkout" in err
    assert TOKEN not in out + err


def test_the_markdown_report_is_the_cli_report_of_the_analysis(world, env, capsys) -> None:
    _fake, w = world
    code, out, err = run_cli(
        capsys,
        "analyze",
        "--run",
        f"https://github.com/{w.repo}/actions/runs/{w.run_id}",
        "--backend",
        "rules",
    )
    assert code == 0, err
    assert out.startswith("## ci-healer:") and "PyYAML" in out
    assert "job test analyzed (1 failed job(s), 1 distinct failure(s))" in err
    assert TOKEN not in out + err


def test_a_job_url_reads_the_attempt_that_job_belongs_to(world, env, capsys) -> None:
    fake, w = world
    url = f"https://github.com/{w.repo}/actions/runs/{w.run_id}/job/{w.failed_job_id}"
    code, out, err = run_cli(capsys, "analyze", "--run", url, "--backend", "rules", "--format", "diff")
    assert code == 0, err
    assert f"/repos/{w.repo}/actions/jobs/{w.failed_job_id}" in api_paths(fake)
    assert '+    "PyYAML",' in out


def test_a_job_of_another_run_or_a_missing_attempt_is_an_error(world, env, capsys) -> None:
    _fake, w = world
    code, out, err = run_cli(
        capsys,
        "analyze",
        "--run",
        f"https://github.com/{w.repo}/actions/runs/{w.fork_run_id}/job/{w.failed_job_id}",
        "--backend",
        "rules",
    )
    assert code == 2 and out == "" and f"job {w.failed_job_id} is not a job of run {w.fork_run_id}" in err
    code, out, err = run_cli(
        capsys,
        "analyze",
        "--run",
        f"https://github.com/{w.repo}/actions/runs/{w.run_id}/attempts/5",
        "--backend",
        "rules",
    )
    assert code == 2 and "has 1 attempt(s), not 5" in err
    assert TOKEN not in out + err


def test_an_unknown_run_is_an_error_that_names_the_call(world, env, capsys) -> None:
    _fake, w = world
    code, out, err = run_cli(capsys, "analyze", "--run", f"{w.repo}/987654", "--backend", "rules")
    assert code == 2 and out == ""
    assert "read workflow run failed (404)" in err
    assert TOKEN not in err


def test_the_last_green_run_is_compared_as_the_action_does(world, env, capsys) -> None:
    fake, w = world
    base = w.state.resolve_commit(w.repo, "main")
    setup = MISSING_MODULE_LOG.split("2025-01-01T10:00:02")[0]  # the set-up lines both runs print
    green = w.state.add_run(
        w.repo,
        id=w.run_id - 500,
        head_branch="fix-rounding",
        head_sha=base,
        conclusion="success",
        workflow=w.state.workflows[w.workflow_id],
        jobs=[
            {
                "name": "test",
                "conclusion": "success",
                "log": setup + "2025-01-01T10:00:02.0000000Z 2 passed\n",
            }
        ],
    )
    green_job = next(j.id for j in w.state.jobs.values() if j.run_id == green.id)
    code, out, err = run_cli(
        capsys, "analyze", "--run", f"{w.repo}/{w.run_id}", "--backend", "rules", "--format", "json"
    )
    assert code == 0, err
    assert f"/_blobs/job-logs/{green_job}" in api_paths(
        fake
    )  # the green job's log was read to blank common lines
    assert "no earlier successful run" not in err
    assert "PyYAML" in json.loads(out)["diff"]


def test_a_run_without_failed_jobs_has_nothing_to_analyze(world, env, capsys) -> None:
    fake, w = world
    green = w.state.add_run(
        w.repo,
        head_branch="main",
        conclusion="success",
        event="push",
        jobs=[{"name": "test", "conclusion": "success", "log": "2025-01-01T10:00:01.0000000Z ok\n"}],
    )
    code, out, err = run_cli(capsys, "analyze", "--run", f"{w.repo}/{green.id}", "--backend", "rules")
    assert code == 0 and out == ""
    assert f"run {green.id} attempt 1 has no failed job: nothing to analyze" in err
    assert not [p for p in api_paths(fake) if p.startswith("/_blobs/")]


def test_repo_folder_is_read_as_it_is_with_a_warning_when_not_a_checkout_at_the_head(
    world, env, capsys, tmp_path
) -> None:
    fake, w = world
    folder = tmp_path / "plain"
    head = w.state.runs[w.run_id].head_sha
    tree = w.state.git.commit(head).tree
    for path, entry in w.state.git.walk(tree):
        if entry.mode in ("100644", "100755"):
            (folder / path).parent.mkdir(parents=True, exist_ok=True)
            (folder / path).write_bytes(w.state.git.blob(entry.sha))
    code, out, err = run_cli(
        capsys,
        "analyze",
        "--run",
        f"{w.repo}/{w.run_id}",
        "--repo",
        str(folder),
        "--backend",
        "rules",
        "--format",
        "diff",
    )
    assert code == 0, err
    assert f"--repo {folder}: {folder} is not a git checkout; its files are read as they are" in err
    assert "pyproject.toml" in out and not [p for p in api_paths(fake) if "/git/" in p]
    code, out, err = run_cli(
        capsys, "analyze", "--run", f"{w.repo}/{w.run_id}", "--repo", str(tmp_path / "absent")
    )
    assert code == 2 and "repository folder not found" in err


# ------------------------------------------------------------------------------------ local checkout, --apply


@needs_git
def test_diff_from_a_checkout_at_the_head_sha_applies_with_git_apply(
    world, env, capsys, tmp_path, monkeypatch
) -> None:
    fake, w = world
    repo = checkout_at_head(w, tmp_path / "hello-app")
    monkeypatch.chdir(repo)
    code, out, err = run_cli(
        capsys, "analyze", "--run", f"{w.repo}/{w.run_id}", "--backend", "rules", "--format", "diff"
    )
    assert code == 0, err
    assert "through the API" not in err
    assert not [p for p in api_paths(fake) if "/git/" in p]  # files were read from the checkout
    subprocess.run(["git", "apply", "--check", "-"], cwd=repo, input=out, text=True, check=True)
    subprocess.run(["git", "apply", "-"], cwd=repo, input=out, text=True, check=True)
    assert '"PyYAML"' in (repo / "pyproject.toml").read_text(encoding="utf-8")


@needs_git
def test_a_checkout_of_another_repository_or_commit_is_not_used(world, tmp_path) -> None:
    _, w = world
    head = w.state.runs[w.run_id].head_sha
    repo = checkout_at_head(w, tmp_path / "other", remote="git@github.com:someone/else.git")
    assert local_checkout(repo, w.repo, head) == (False, f"no remote of {repo} is github.com/{w.repo}")
    subprocess.run(
        ["git", "remote", "set-url", "origin", f"git@github.com:{w.repo}.git"], cwd=repo, check=True
    )
    assert local_checkout(repo, w.repo, head) == (True, "")
    assert local_checkout(repo, w.repo.upper(), head, host="GitHub.com")[
        0
    ]  # names compare case-insensitively
    assert local_checkout(repo, w.repo, head, host="ghe.example.com")[0] is False
    other = "0" * 40
    ok, why = local_checkout(repo, w.repo, other)
    assert not ok and "not the run's head 000000000000" in why
    ok, why = local_checkout(repo / "src", w.repo, head)
    assert not ok and "not the top folder" in why


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@needs_git
def test_apply_refuses_a_dirty_work_tree(world, env, capsys, tmp_path, monkeypatch) -> None:
    _, w = world
    repo = checkout_at_head(w, tmp_path / "hello-app")
    (repo / "README.md").write_text("local edit\n", encoding="utf-8")
    before = (repo / "pyproject.toml").read_text(encoding="utf-8")
    monkeypatch.chdir(repo)
    code, _out, err = run_cli(
        capsys, "analyze", "--run", f"{w.repo}/{w.run_id}", "--backend", "rules", "--apply", "--yes"
    )
    assert code == 2
    assert "uncommitted changes" in err and "git status --porcelain" in err
    assert (repo / "pyproject.toml").read_text(encoding="utf-8") == before


@needs_git
def test_apply_refuses_without_a_terminal_unless_yes(world, env, capsys, tmp_path, monkeypatch) -> None:
    _, w = world
    repo = checkout_at_head(w, tmp_path / "hello-app")
    monkeypatch.chdir(repo)
    monkeypatch.setattr("sys.stdin", io.StringIO("y\n"))  # piped input, not a terminal: never read as consent
    code, _out, err = run_cli(
        capsys, "analyze", "--run", f"{w.repo}/{w.run_id}", "--backend", "rules", "--apply"
    )
    assert code == 2 and "there is none here (pass --yes" in err
    assert '"PyYAML"' not in (repo / "pyproject.toml").read_text(encoding="utf-8")
    code, _out, err = run_cli(
        capsys,
        "analyze",
        "--run",
        f"{w.repo}/{w.run_id}",
        "--backend",
        "rules",
        "--apply",
        "--yes",
        "--format",
        "diff",
    )
    assert code == 0, err
    assert f"applied to {repo}" in err
    assert '"PyYAML"' in (repo / "pyproject.toml").read_text(encoding="utf-8")
    status = subprocess.run(
        ["git", "status", "--porcelain"], cwd=repo, capture_output=True, text=True, check=True
    ).stdout
    assert status.split() == ["M", "pyproject.toml"]


@needs_git
@pytest.mark.parametrize(("answer", "applied"), [("y\n", True), ("\n", False), ("no\n", False)])
def test_apply_asks_on_a_terminal(
    world, env, capsys, tmp_path, monkeypatch, answer: str, applied: bool
) -> None:
    _, w = world
    repo = checkout_at_head(w, tmp_path / "hello-app")
    monkeypatch.chdir(repo)
    monkeypatch.setattr("sys.stdin", _Tty(answer))
    code, _out, err = run_cli(
        capsys, "analyze", "--run", f"{w.repo}/{w.run_id}", "--backend", "rules", "--apply"
    )
    assert code == 0, err
    assert "Apply this diff to the work tree? [y/N]" in err
    assert ('"PyYAML"' in (repo / "pyproject.toml").read_text(encoding="utf-8")) is applied
    assert ("applied to" in err) is applied and ("not applied" in err) is (not applied)


@needs_git
def test_apply_runs_git_apply_check_first(world, env, capsys, tmp_path) -> None:
    _, w = world
    repo = checkout_at_head(w, tmp_path / "hello-app")
    diff = "--- a/missing.txt\n+++ b/missing.txt\n@@ -1 +1 @@\n-a\n+b\n"
    with pytest.raises(run_source.ApplyRefused, match="git apply --check rejected") as refused:
        run_source.apply_diff(diff, repo, assume_yes=True, interactive=False, confirm=lambda q: True)
    assert refused.value.code == 3
    assert not (repo / "missing.txt").exists()


def test_apply_without_a_local_checkout_is_refused(world, env, capsys) -> None:
    _, w = world
    code, _out, err = run_cli(
        capsys, "analyze", "--run", f"{w.repo}/{w.run_id}", "--backend", "rules", "--apply", "--yes"
    )
    assert code == 2 and "--apply needs a local checkout at" in err


def test_apply_needs_run(capsys, tmp_path) -> None:
    log = tmp_path / "job.log"
    log.write_text(MISSING_MODULE_LOG, encoding="utf-8")
    code, _out, err = run_cli(capsys, "analyze", "--log", str(log), "--apply")
    assert code == 2 and "--apply and --yes need --run" in err


# ------------------------------------------------------------------------------------ token


def test_no_token_exits_2_naming_the_three_ways_to_give_one(monkeypatch, capsys, tmp_path) -> None:
    for var in ("GITHUB_TOKEN", "GH_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))  # no gh
    code, out, err = run_cli(capsys, "analyze", "--run", "octo-org/hello-app/1")
    assert code == 2 and out == ""
    assert "GITHUB_TOKEN" in err and "GH_TOKEN" in err and "gh auth token" in err


def _fake_gh(folder: Path, *, token: str, exit_code: int = 0) -> Path:
    """A ``gh`` on PATH that records its arguments and prints ``token`` for ``auth token``."""
    folder.mkdir(exist_ok=True)
    script = folder / "gh"
    script.write_text(
        "#!/bin/sh\n"
        f'printf "%s\\n" "$*" >> "{folder}/calls"\n'
        f'if [ "$1 $2" = "auth token" ]; then printf "%s\\n" "{token}"; exit {exit_code}; fi\n'
        "exit 1\n",
        encoding="utf-8",
    )
    script.chmod(0o755)
    return folder


@pytest.mark.skipif(os.name != "posix", reason="the fake gh is a shell script")
def test_gh_auth_token_is_used_when_no_variable_holds_a_token(
    world, env, capsys, tmp_path, monkeypatch
) -> None:
    _, w = world
    monkeypatch.delenv("GITHUB_TOKEN")
    bin_dir = _fake_gh(tmp_path / "bin", token=GH_CLI_TOKEN)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    used: list[str] = []
    real = run_source.make_github

    def recording(*, token: str, api_url: str):
        used.append(token)
        return real(token=token, api_url=api_url, retries=1, backoff=0.01)

    monkeypatch.setattr(run_source, "make_github", recording)
    code, out, err = run_cli(
        capsys, "analyze", "--run", f"{w.repo}/{w.run_id}", "--backend", "rules", "--format", "json"
    )
    assert code == 0, err
    assert used == [GH_CLI_TOKEN]
    assert (bin_dir / "calls").read_text(encoding="utf-8").split("\n")[
        0
    ] == "auth token --hostname github.com"
    assert GH_CLI_TOKEN not in out + err


def test_gh_failing_or_printing_junk_gives_no_token(tmp_path) -> None:
    bin_dir = _fake_gh(tmp_path / "bin", token="not logged in", exit_code=0)
    with pytest.raises(RunRefError, match="GH_TOKEN"):
        run_source.resolve_token({}, which=lambda name: str(bin_dir / name))
    bin_dir = _fake_gh(tmp_path / "bin2", token=GH_CLI_TOKEN, exit_code=1)
    with pytest.raises(RunRefError) as err:
        run_source.resolve_token({}, which=lambda name: str(bin_dir / name))
    assert GH_CLI_TOKEN not in str(err.value)
    assert run_source.resolve_token({"GH_TOKEN": " x1 "}, which=lambda name: None).get_secret_value() == "x1"
    assert run_source.resolve_token({"GITHUB_TOKEN": "a", "GH_TOKEN": "b"}).get_secret_value() == "a"


def test_gh_is_run_without_a_shell_and_with_a_timeout() -> None:
    seen: dict = {}

    def run(argv, **kwargs):
        seen.update(argv=argv, **kwargs)
        return subprocess.CompletedProcess(argv, 0, stdout=GH_CLI_TOKEN + "\n", stderr="")

    token = run_source.resolve_token({}, host="ghe.example.com", which=lambda name: "/opt/bin/gh", run=run)
    assert token.get_secret_value() == GH_CLI_TOKEN
    assert seen["argv"] == ["/opt/bin/gh", "auth", "token", "--hostname", "ghe.example.com"]
    assert seen.get("shell", False) is False and seen["timeout"] == run_source.GH_TIMEOUT_S
    assert GH_CLI_TOKEN not in repr(token)


def test_terminal_messages_never_show_the_token() -> None:
    stream = io.StringIO()
    runner = run_source.TerminalRunner(stream=stream, secrets=[TOKEN])
    runner.warning(f"a message that quotes {TOKEN}")
    runner.add_mask(TOKEN)
    assert stream.getvalue() == "ci-healer: warning: a message that quotes [REDACTED:literal_secret]\n"


# ------------------------------------------------------------------------------------ progress


def test_no_progress_output_when_stderr_is_not_a_terminal(world, env, capsys) -> None:
    _, w = world
    code, _out, err = run_cli(
        capsys, "analyze", "--run", f"{w.repo}/{w.run_id}", "--backend", "rules", "--format", "diff"
    )
    assert code == 0
    assert "downloading" not in err and "\r" not in err and "\x1b[" not in err
    assert all(line.startswith("ci-healer: ") for line in err.splitlines()), err


def test_progress_on_a_terminal_names_the_log_downloads(world, env) -> None:
    pytest.importorskip("rich")
    _, w = world
    stream = _Tty()
    result = run_source.analyze_run_ref(
        parse_run_ref(f"{w.repo}/{w.run_id}", api_url=env["api"]),
        token=SecretStr(TOKEN),
        backend=BackendSettings(backend="rules"),
        repo_folder=None,
        cwd=os.getcwd(),
        stderr=stream,
        progress=True,
    )
    assert result.exit_code == 0 and result.analysis is not None
    shown = stream.getvalue()
    assert "downloading job log 1" in shown
    assert "ci-healer: notice: files are read through the API" in shown  # notices still reach the terminal
    assert TOKEN not in shown


def test_with_backend_github_models_a_log_needs_a_github_token(monkeypatch, capsys, tmp_path) -> None:
    for var in ("GITHUB_TOKEN", "GH_TOKEN", "OPENAI_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # no gh
    log = tmp_path / "job.log"
    log.write_text(MISSING_MODULE_LOG, encoding="utf-8")
    code, _out, err = run_cli(capsys, "analyze", "--log", str(log), "--backend", "github-models")
    assert code == 2 and "github-models backend needs a GitHub token" in err


# ------------------------------------------------------------------------------------ github-models


def test_github_models_backend_is_one_word(monkeypatch) -> None:
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    backend = make_backend(BackendSettings(backend="github-models", github_token=SecretStr(TOKEN)), repo=None)
    assert backend._client.api_key == TOKEN
    assert str(backend._client.base_url).rstrip("/") == GITHUB_MODELS_BASE_URL
    assert backend.model == "openai/gpt-4o-mini"


def test_github_models_sends_neither_the_token_elsewhere_nor_an_openai_key_there(monkeypatch) -> None:
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    settings = BackendSettings(
        backend="github-models",
        github_token=SecretStr(TOKEN),
        openai_api_key=SecretStr("sk-" + "k" * 40),
        openai_base_url="https://llm.example.com/v1",
        model="openai/gpt-4.1",
    )
    backend = make_backend(settings, repo=None)
    assert str(backend._client.base_url).rstrip("/") == GITHUB_MODELS_BASE_URL
    assert backend._client.api_key == TOKEN and backend.model == "openai/gpt-4.1"
    with pytest.raises(BackendError) as err:
        make_backend(BackendSettings(backend="github-models"), repo=None)
    assert err.value.code == "config" and "GitHub token" in str(err.value)


def test_a_backend_that_cannot_be_set_up_stops_before_any_download(world, env, capsys, monkeypatch) -> None:
    fake, w = world
    monkeypatch.delenv("GITHUB_TOKEN")
    monkeypatch.setenv("GH_TOKEN", TOKEN)
    code, _out, err = run_cli(capsys, "analyze", "--run", f"{w.repo}/{w.run_id}", "--backend", "openai")
    assert code == 2 and "openai-api-key" in err
    assert fake.requests == []
    assert TOKEN not in err


def test_the_action_input_backend_accepts_github_models(tmp_path) -> None:
    event = tmp_path / "event.json"
    event.write_text("{}", encoding="utf-8")
    settings = ActionSettings.from_environ(
        {
            "INPUT_GITHUB-TOKEN": TOKEN,
            "INPUT_BACKEND": "github-models",
            "GITHUB_REPOSITORY": REPO,
            "GITHUB_EVENT_NAME": "workflow_run",
            "GITHUB_EVENT_PATH": str(event),
        }
    )
    assert settings.backend.backend == "github-models"
    assert make_backend(settings.backend, repo=None)._client.api_key == TOKEN
