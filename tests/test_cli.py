"""The command line's public contract: ``extract`` JSON shapes, ``analyze`` formats and exit codes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ci_healer.cli import EXIT_ANALYSIS_FAILED, EXIT_OK, EXIT_USAGE, main

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "missing-dependency"
CORPUS = Path(os.environ.get("CI_HEALER_CORPUS") or ROOT.parent / "shared" / "corpus")
LOGS = ROOT / "tests" / "data" / "logs"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_extract_json_of_one_log_is_one_object(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "extract", str(EXAMPLE / "job.log"), "--format", "json")
    assert code == EXIT_OK
    payload = json.loads(out)
    assert set(payload) == {"blocks", "lines_total", "tokens"}
    assert payload["lines_total"] == (EXAMPLE / "job.log").read_bytes().count(b"\n") + (
        0 if (EXAMPLE / "job.log").read_bytes().endswith(b"\n") else 1
    )
    assert payload["blocks"] and set(payload["blocks"][0]) == {"start_line", "end_line", "reason", "text"}
    assert payload["tokens"] <= 1500


def test_extract_json_of_several_logs_is_json_lines_with_path(capsys: pytest.CaptureFixture[str]) -> None:
    logs = [str(EXAMPLE / "job.log"), *sorted(str(p) for p in LOGS.glob("*.log"))]
    code, out, _ = run(capsys, "extract", *logs, "--format", "json", "--max-tokens", "400")
    assert code == EXIT_OK
    rows = [json.loads(line) for line in out.splitlines()]
    assert [row["path"] for row in rows] == logs
    assert all(row["tokens"] <= 400 for row in rows)


def test_extract_text_names_the_lines_and_the_reason(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "extract", str(EXAMPLE / "job.log"))
    assert code == EXIT_OK
    assert "ModuleNotFoundError: No module named 'yaml'" in out
    assert "--- lines " in out


@pytest.mark.parametrize(
    "argv",
    [
        ["extract", "no/such/file.log"],
        ["analyze", "--log", "no/such/file.log"],
        ["analyze", "--log", str(EXAMPLE / "job.log"), "--repo", "no/such/dir"],
    ],
)
def test_missing_inputs_are_usage_errors(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    code, _, err = run(capsys, *argv)
    assert code == EXIT_USAGE
    assert "not found" in err


@pytest.mark.parametrize("value", ["0", "-5", "many"])
def test_bad_token_budgets_are_rejected(capsys: pytest.CaptureFixture[str], value: str) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["extract", str(EXAMPLE / "job.log"), "--max-tokens", value])
    assert exc.value.code == EXIT_USAGE


def test_analyze_json_has_the_documented_fields(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys,
        "analyze",
        "--log",
        str(EXAMPLE / "job.log"),
        "--repo",
        str(EXAMPLE / "repo"),
        "--backend",
        "rules",
        "--format",
        "json",
    )
    assert code == EXIT_OK
    payload = json.loads(out)
    for key in (
        "root_cause",
        "category",
        "confidence",
        "risk",
        "files_to_modify",
        "diff",
        "blocks",
        "redactions",
        "fingerprint",
        "backend",
    ):
        assert key in payload, key
    assert payload["backend"] == "rules"
    assert payload["risk"]["level"] == "medium" and payload["risk"]["reasons"]
    assert "+PyYAML" in payload["diff"].splitlines()


def test_analyze_diff_format_prints_a_patch_git_accepts(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, _ = run(
        capsys,
        "analyze",
        "--log",
        str(EXAMPLE / "job.log"),
        "--repo",
        str(EXAMPLE / "repo"),
        "--backend",
        "rules",
        "--format",
        "diff",
    )
    assert code == EXIT_OK
    patch = tmp_path / "fix.patch"
    patch.write_text(out)
    work = tmp_path / "work"
    shutil.copytree(EXAMPLE / "repo", work)  # outside any git work tree, so paths are taken as given
    checked = subprocess.run(["git", "apply", str(patch)], cwd=work, capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    assert "PyYAML" in (work / "requirements.txt").read_text().splitlines()


def test_analyze_markdown_shows_root_cause_risk_and_diff(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys,
        "analyze",
        "--log",
        str(EXAMPLE / "job.log"),
        "--repo",
        str(EXAMPLE / "repo"),
        "--backend",
        "rules",
    )
    assert code == EXIT_OK
    assert "Root cause" in out and "medium" in out and "```diff" in out and "+PyYAML" in out


def test_analyze_with_an_unreachable_model_exits_3_with_the_reason(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-real-key-000000")
    code, out, _ = run(
        capsys,
        "analyze",
        "--log",
        str(EXAMPLE / "job.log"),
        "--repo",
        str(EXAMPLE / "repo"),
        "--backend",
        "openai",
        "--openai-base-url",
        "http://127.0.0.1:9",
        "--format",
        "json",
    )
    assert code == EXIT_ANALYSIS_FAILED
    payload = json.loads(out)
    assert payload["status"] == "failed" and "openai" in payload["message"]
    assert "yaml" in payload["root_cause"]
    assert "sk-test-not-a-real-key-000000" not in out


def test_the_installed_console_script_runs() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "ci_healer",
            "analyze",
            "--log",
            str(EXAMPLE / "job.log"),
            "--repo",
            str(EXAMPLE / "repo"),
            "--backend",
            "rules",
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["category"] == "dependency"


@pytest.mark.slow
@pytest.mark.skipif(not (CORPUS / "INDEX.jsonl").is_file(), reason="corpus not found: set CI_HEALER_CORPUS")
def test_rules_analysis_of_corpus_logs_always_has_a_root_cause_and_category(
    capsys: pytest.CaptureFixture[str],
) -> None:
    rows = [json.loads(line) for line in (CORPUS / "INDEX.jsonl").read_text().splitlines()]
    sample = rows[::6]  # every source, deterministic
    for row in sample:
        code, out, _ = run(
            capsys,
            "analyze",
            "--log",
            str(CORPUS / row["path"] / "log.txt"),
            "--backend",
            "rules",
            "--format",
            "json",
        )
        assert code == EXIT_OK, row["path"]
        payload = json.loads(out)
        assert payload["root_cause"].strip(), row["path"]
        assert payload["category"] in {
            "dependency",
            "test",
            "compile",
            "lint",
            "format",
            "type-check",
            "timeout",
            "infrastructure",
            "out-of-memory",
            "configuration",
            "unknown",
        }
