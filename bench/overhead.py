"""The action's own overhead: image size, wall time to the posted comment, REST calls per analysis.

One analysis is the standard scenario of the fake GitHub REST API (``tests/fakegithub``): a failed
``workflow_run`` of a pull request whose failed job log is a pytest failure. The action runs with
``backend: rules`` — the offline backend, i.e. a zero-latency model — so the wall time is
ci-healer's own cost: start-up, log download, extraction, context, patch, policy, rendering and
the REST calls, measured from process start to the moment the fake records the PR comment
(``issues/create-comment`` or ``issues/update-comment``). The number of API calls is the length
of the fake's request log after the process exits.

``measure_host`` runs ``python -m ci_healer action`` on the host (no container start-up);
``measure_container`` runs the image with ``docker run --network host`` (the fake listens on the
host's loopback). Every failure to measure is returned as a ``not measured: <why>`` note, never
raised.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from tempfile import TemporaryDirectory

from bench.corpus import REPO_ROOT

DEFAULT_IMAGE = "act-dockeraction:latest"
"""The tag the end-to-end harness gives the action image (what ``act`` runs for ``uses: ./``)."""
FAKE_TOKEN = "ghs_benchFakeTokenNotReal00000000000000000"
COMMENT_OPERATIONS = ("issues/create-comment", "issues/update-comment")


@dataclass
class Overhead:
    """One measurement; ``None`` figures come with ``note`` saying why they were not measured."""

    where: str
    seconds: float | None = None
    api_calls: int | None = None
    exit_code: int | None = None
    note: str = ""


@dataclass
class ImageSize:
    """Size in bytes of the action image, or ``None`` with a ``note``."""

    tag: str
    size: int | None = None
    note: str = ""


def _docker(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, check=False)


def docker_problem() -> str | None:
    """``None`` when the docker CLI reaches a daemon, else why not."""
    if shutil.which("docker") is None:
        return "no docker CLI on PATH"
    try:
        proc = _docker("info", "--format", "{{.ServerVersion}}", timeout=20)
    except subprocess.TimeoutExpired:
        return "docker info timed out"
    if proc.returncode != 0:
        reason = (proc.stderr.strip().splitlines() or ["docker info failed"])[-1]
        return f"Docker daemon not reachable ({reason})"
    return None


def image_size(tag: str = DEFAULT_IMAGE) -> ImageSize:
    """``docker image inspect`` size of ``tag`` (uncompressed, all layers)."""
    problem = docker_problem()
    if problem:
        return ImageSize(tag, note=f"not measured: {problem}")
    proc = _docker("image", "inspect", "--format", "{{.Size}}", tag)
    if proc.returncode != 0:
        return ImageSize(
            tag, note=f"not measured: image {tag} not built (python tests/e2e/harness.py images builds it)"
        )
    return ImageSize(tag, int(proc.stdout.strip()))


def _scenario(tmp: Path):
    """Start the fake with the standard scenario; return (fake, environment for the action)."""
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    from tests.fakegithub import payloads, scenario
    from tests.fakegithub.server import FakeGitHub

    world = scenario.standard()
    fake = FakeGitHub(world.state).start()
    event = payloads.workflow_run_completed(world.state, world.run_id, api=fake.url)
    event_path = payloads.write_event(tmp / "event.json", event)
    for name in ("summary.md", "output.txt", "env.txt"):
        (tmp / name).touch()
    workspace = tmp / "workspace"
    workspace.mkdir()
    env = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_API_URL": fake.url,
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_REPOSITORY": world.repo,
        "GITHUB_EVENT_NAME": "workflow_run",
        "GITHUB_EVENT_PATH": str(event_path),
        "GITHUB_RUN_ID": "1",
        "GITHUB_WORKSPACE": str(workspace),
        "GITHUB_STEP_SUMMARY": str(tmp / "summary.md"),
        "GITHUB_OUTPUT": str(tmp / "output.txt"),
        "GITHUB_ENV": str(tmp / "env.txt"),
        "RUNNER_TEMP": str(tmp),
        "INPUT_GITHUB-TOKEN": FAKE_TOKEN,
        "INPUT_BACKEND": "rules",
    }
    return fake, env


def _run(where: str, argv_for_env, *, timeout: float) -> Overhead:
    try:
        with TemporaryDirectory(prefix="ci-healer-overhead-") as tmp_name:
            tmp = Path(tmp_name)
            try:
                fake, env = _scenario(tmp)
            except Exception as exc:
                return Overhead(
                    where, note=f"not measured: fake GitHub API unavailable ({type(exc).__name__}: {exc})"
                )
            try:
                argv, proc_env = argv_for_env(env)
                started = time.perf_counter()
                proc = subprocess.Popen(
                    argv, env=proc_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
                )
                posted: float | None = None
                deadline = started + timeout
                while proc.poll() is None and time.perf_counter() < deadline:
                    if posted is None and any(
                        r.operation_id in COMMENT_OPERATIONS for r in list(fake.requests)
                    ):
                        posted = time.perf_counter() - started
                    time.sleep(0.005)
                if proc.poll() is None:
                    proc.kill()
                    proc.communicate()
                    return Overhead(where, note=f"not measured: the action did not finish in {timeout:.0f} s")
                _, stderr = proc.communicate()
                if posted is None and any(r.operation_id in COMMENT_OPERATIONS for r in list(fake.requests)):
                    posted = time.perf_counter() - started  # posted in the last poll interval
                calls = len(fake.requests)
            finally:
                fake.stop()
            if posted is None:
                tail = " | ".join(stderr.strip().splitlines()[-3:])[-400:]
                return Overhead(
                    where,
                    api_calls=calls,
                    exit_code=proc.returncode,
                    note=f"not measured: no PR comment was posted (exit {proc.returncode}: {tail})",
                )
            return Overhead(where, posted, calls, proc.returncode)
    except (OSError, subprocess.SubprocessError) as exc:
        return Overhead(where, note=f"not measured: {type(exc).__name__}: {exc}")


def measure_host(*, timeout: float = 120) -> Overhead:
    """``python -m ci_healer action`` against the fake, on the host interpreter."""

    def argv(env: dict[str, str]) -> tuple[list[str], dict[str, str]]:
        base = {k: v for k, v in os.environ.items() if not k.startswith(("INPUT_", "GITHUB_"))}
        return [sys.executable, "-m", "ci_healer", "action"], {**base, **env}

    return _run("host process", argv, timeout=timeout)


def measure_container(tag: str = DEFAULT_IMAGE, *, timeout: float = 180) -> Overhead:
    """``docker run`` of the action image against the fake (host networking, temp folder mounted)."""
    problem = docker_problem()
    if problem:
        return Overhead("container", note=f"not measured: {problem}")
    if _docker("image", "inspect", tag).returncode != 0:
        return Overhead("container", note=f"not measured: image {tag} not built")

    def argv(env: dict[str, str]) -> tuple[list[str], dict[str, str]]:
        tmp = Path(env["RUNNER_TEMP"])
        args = ["docker", "run", "--rm", "--network", "host", "-v", f"{tmp}:{tmp}"]
        for key, value in env.items():
            args += ["-e", f"{key}={value}"]
        return [*args, tag], dict(os.environ)

    return _run("container", argv, timeout=timeout)


if __name__ == "__main__":
    print(
        json.dumps({"image": image_size().__dict__, "host": measure_host().__dict__}, indent=2, default=str)
    )
