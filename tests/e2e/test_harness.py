"""Smoke test of the end-to-end harness: daemon, both images and one act run of a docker action.

The throwaway action runs inside the real action image (``act-dockeraction:latest``) with its
entrypoint overridden, reads an input, the event payload and the token, calls a server on the
host's 127.0.0.1, and writes step outputs (one multi-line) and a job summary.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import harness
import pytest

pytestmark = pytest.mark.e2e

SMOKE_SCRIPT = textwrap.dedent(
    """
    import json, os, urllib.request
    import ci_healer  # proves the real action image is the one running

    event = json.load(open(os.environ["GITHUB_EVENT_PATH"], encoding="utf-8"))
    run_id = event["workflow_run"]["id"]
    url = f"{os.environ['GITHUB_API_URL']}/repos/{os.environ['GITHUB_REPOSITORY']}/actions/runs/{run_id}"
    request = urllib.request.Request(url, headers={"Authorization": "Bearer " + os.environ["INPUT_TOKEN"]})
    with urllib.request.urlopen(request, timeout=10) as response:
        conclusion = json.load(response)["conclusion"]
    with open(os.environ["GITHUB_OUTPUT"], "a", encoding="utf-8") as out:
        out.write(f"echoed={os.environ['INPUT_GREETING']}\\n")
        out.write(f"conclusion={conclusion}\\n")
        out.write("multi<<EOF_SMOKE\\nline one\\nline two\\nEOF_SMOKE\\n")
    with open(os.environ["GITHUB_STEP_SUMMARY"], "a", encoding="utf-8") as summary:
        summary.write(f"## Smoke summary\\n\\nrun {run_id} concluded **{conclusion}**\\n")
    """
)

ACTION_YML = textwrap.dedent(
    """
    name: e2e smoke action
    description: Reads an input and the event, calls the API, writes outputs and a summary.
    inputs:
      greeting:
        description: Text echoed back as an output.
        required: true
      token:
        description: Token sent to the API.
        required: true
    outputs:
      echoed:
        description: The greeting.
      conclusion:
        description: What the API said.
      multi:
        description: A multi-line value.
    runs:
      using: docker
      image: Dockerfile
      entrypoint: python3
      args:
        - -c
        - "import os, runpy; runpy.run_path(os.path.join(os.environ['GITHUB_WORKSPACE'], 'smoke_action.py'), run_name='__main__')"
    """
)

WORKFLOW_YML = textwrap.dedent(
    """
    name: smoke
    on:
      workflow_run:
        workflows: [CI]
        types: [completed]
    jobs:
      probe:
        runs-on: ubuntu-latest
        steps:
          - uses: actions/checkout@v4
          - id: probe
            uses: ./
            with:
              greeting: hello from act
              token: ${{ secrets.GITHUB_TOKEN }}
    """
)


def _workflow_run_event(run_id: int) -> dict:
    return {
        "action": "completed",
        "workflow_run": {"id": run_id, "name": "CI", "conclusion": "failure", "head_sha": "a" * 40},
        "repository": {
            "full_name": "octo-org/octo-repo",
            "name": "octo-repo",
            "owner": {"login": "octo-org"},
        },
    }


def _smoke_tree(tmp_path: Path) -> Path:
    """A git work tree holding the throwaway smoke docker action and a workflow that uses it."""
    return harness.make_work_tree(
        tmp_path / "repo",
        files={
            "action.yml": ACTION_YML,
            "Dockerfile": "FROM python:3.12-slim\n",
            "smoke_action.py": SMOKE_SCRIPT,
            ".github/workflows/smoke.yml": WORKFLOW_YML,
        },
    )


def test_act_runs_a_docker_action_in_the_action_image(
    act_runner, recording_server: harness.RecordingServer, action_image: harness.BuildInfo, tmp_path: Path
) -> None:
    run_id = 4242
    recording_server.routes[f"GET /repos/octo-org/octo-repo/actions/runs/{run_id}"] = (
        200,
        {},
        {"id": run_id, "conclusion": "failure"},
    )
    tree = _smoke_tree(tmp_path)

    result = act_runner(
        work_tree=tree,
        workflow=".github/workflows/smoke.yml",
        event_name="workflow_run",
        event_payload=_workflow_run_event(run_id),
        api_url=recording_server.url,
        repository="octo-org/octo-repo",
    )

    assert result.exit_code == 0, result.log_text() + result.stderr
    assert result.jobs == {"probe": "success"}
    assert [s.result for s in result.steps if s.stage == "Main"] == ["success", "success"]
    assert result.output("echoed", "probe") == "hello from act"
    assert result.output("conclusion", "probe") == "failure"
    assert result.output("multi", "probe") == "line one\nline two"
    assert "## Smoke summary" in result.summary and f"run {run_id} concluded **failure**" in result.summary
    paths = [r.path for r in recording_server.requests]
    assert paths == [f"/repos/octo-org/octo-repo/actions/runs/{run_id}"]
    assert recording_server.requests[0].headers["Authorization"] == f"Bearer {harness.FAKE_GITHUB_TOKEN}"
    assert harness.FAKE_GITHUB_TOKEN not in result.stdout, "act must mask the token secret in its log"


def test_a_failing_step_is_reported_and_its_containers_removed(
    act_runner, docker_daemon: harness.DockerDaemon, recording_server: harness.RecordingServer, tmp_path: Path
) -> None:
    # No route: the API answers 404, urlopen raises, the docker action exits non-zero.
    tree = _smoke_tree(tmp_path)
    result = act_runner(
        work_tree=tree,
        workflow=".github/workflows/smoke.yml",
        event_name="workflow_run",
        event_payload=_workflow_run_event(7),
        api_url=recording_server.url,
    )
    assert result.exit_code == 1
    assert result.jobs == {"probe": "failure"}
    assert result.output("echoed") is None
    assert [r.path for r in recording_server.requests] == ["/repos/octo-org/octo-repo/actions/runs/7"]
    names = docker_daemon.docker("ps", "-a", "--format", "{{.Names}}").stdout.split()
    assert not [n for n in names if n.startswith("act-")], names


def test_the_image_entrypoint_resolves_under_act(act_runner, tmp_path: Path) -> None:
    # No runs.entrypoint: act must start the image's own ENTRYPOINT (ci-healer action) with args.
    action = "name: entrypoint\ndescription: image entrypoint\nruns:\n  using: docker\n  image: Dockerfile\n  args: [--help]\n"
    workflow = textwrap.dedent(
        """
        on: workflow_dispatch
        jobs:
          entry:
            runs-on: ubuntu-latest
            steps:
              - uses: actions/checkout@v4
              - id: real
                uses: ./
        """
    )
    tree = harness.make_work_tree(
        tmp_path / "repo",
        files={
            "action.yml": action,
            "Dockerfile": "FROM python:3.12-slim\n",
            ".github/workflows/entry.yml": workflow,
        },
    )
    result = act_runner(
        work_tree=tree, workflow=".github/workflows/entry.yml", event_name="workflow_dispatch", event_payload={"inputs": {}},
        api_url="http://127.0.0.1:9",
    )  # fmt: skip
    assert result.exit_code == 0, result.log_text() + result.stderr
    assert result.jobs == {"entry": "success"}
    assert "usage: ci-healer action" in result.log_text()


def test_the_action_image_runs_the_installed_cli(
    docker_daemon: harness.DockerDaemon, action_image: harness.BuildInfo
) -> None:
    proc = docker_daemon.docker(
        "run", "--rm", "--network", "host", "--entrypoint", "ci-healer", harness.ACTION_IMAGE, "--help"
    )
    assert "action" in proc.stdout
    entry = json.loads(
        docker_daemon.docker(
            "image", "inspect", "--format", "{{json .Config.Entrypoint}}", harness.ACTION_IMAGE
        ).stdout
    )
    assert entry == ["ci-healer", "action"]
    assert action_image.size_bytes < 250_000_000, f"action image is {action_image.size_bytes / 1e6:.0f} MB"
