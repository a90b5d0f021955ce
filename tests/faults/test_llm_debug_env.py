"""Debug switches print no secret and no unredacted log text (SECURITY.md items 3 and 22).

``ACTIONS_STEP_DEBUG=true`` / ``RUNNER_DEBUG=1`` (GitHub's step debug logging) and ``OPENAI_LOG=debug``
(the openai SDK's own switch, read when the SDK is imported: it installs a stderr handler and sets
the ``openai`` logger to DEBUG) are set on a real ``ci-healer analyze`` process that talks to the
local server; its stdout and stderr must not contain the API key, the GitHub token, the AWS secret
key or session token, in any encoding the redactor knows, nor the token that the job log itself
leaks. The endpoints answer with errors that echo the credentials they were sent.
"""

from __future__ import annotations

import base64
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ci_healer.backends.openai_backend import OpenAIBackend
from ci_healer.models import Block, Category, Classification, ProposalRequest

HERE = Path(__file__).resolve().parent.parent
ROOT = HERE.parent


from tests import llm_server  # noqa: E402  (one module, one scenario call counter)

API_KEY = "sk-proj-DebugSwitchKey0123456789abcdefGHIJKL"
RUN_TOKEN = "ghs_" + "DebugSwitchToken0123456789abcdefghijk"
AWS_SECRET = "debugSwitchSecretAccessKey0123456789abcd"
SESSION_TOKEN = "IQoJb3JpZ2luX2VjDebugSwitchSessionToken0123456789abcdef"
LOG_TOKEN = "ghp_" + "R8f2kQ9zLx7Vw3Nc5Tb1Hy6Ju4Mp0Sd2Ae7G"  # printed by the failing job itself

JOB_LOG = f"""\
2024-05-01T10:00:01.0000000Z ##[group]Run pytest -q
2024-05-01T10:00:02.0000000Z + export DEPLOY_TOKEN={LOG_TOKEN}
2024-05-01T10:00:03.0000000Z tests/test_report.py:3: in <module>
2024-05-01T10:00:03.0000000Z     import pandas as pd
2024-05-01T10:00:03.0000000Z E   ModuleNotFoundError: No module named 'pandas'
2024-05-01T10:00:03.1000000Z ##[error]Process completed with exit code 1.
"""

DEBUG_ENV = {"ACTIONS_STEP_DEBUG": "true", "RUNNER_DEBUG": "1", "OPENAI_LOG": "debug"}


def forms(secret: str) -> list[str]:
    return [
        secret,
        base64.b64encode(secret.encode()).decode().rstrip("="),
        secret.encode().hex(),
        secret[4:24],
    ]


ALL_FORMS = [f for s in (API_KEY, RUN_TOKEN, AWS_SECRET, SESSION_TOKEN, LOG_TOKEN) for f in forms(s)]


@pytest.fixture(scope="module")
def server():
    with llm_server.serve() as url:
        yield url


def run_cli(tmp_path: Path, args: list[str], extra_env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    log = tmp_path / "job.log"
    log.write_text(JOB_LOG, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "OPENAI_", "INPUT_"))}
    env.update(DEBUG_ENV)
    env.update(
        {
            "PYTHONPATH": os.pathsep.join(
                [str(Path(__import__("ci_healer").__file__).parents[1]), str(ROOT)]
            ),
            "OPENAI_API_KEY": API_KEY,
            "GITHUB_TOKEN": RUN_TOKEN,
            "AWS_ACCESS_KEY_ID": "AKIADEBUGSWITCH00000",
            "AWS_SECRET_ACCESS_KEY": AWS_SECRET,
            "AWS_SESSION_TOKEN": SESSION_TOKEN,
            "AWS_REGION": "us-east-1",
            "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
        }
    )
    env.update(extra_env)
    return subprocess.run(
        [sys.executable, "-m", "ci_healer", "analyze", "--log", str(log), "--format", "json", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("model", ["echo-key-401", "echo-key-400"])
def test_openai_backend_under_debug_switches_prints_no_secret(
    server: str, tmp_path: Path, model: str
) -> None:
    proc = run_cli(tmp_path, ["--backend", "openai", "--openai-base-url", server, "--model", model], {})
    printed = proc.stdout + proc.stderr
    assert proc.returncode in (0, 3), printed  # 3: the analysis fell back to the rules backend
    assert "Traceback" not in printed
    assert "openai backend failed" in proc.stdout
    assert (
        "DEBUG] HTTP Response: POST" in proc.stderr
    )  # OPENAI_LOG=debug was honoured: its log is what is checked
    for form in ALL_FORMS:
        assert form not in printed, f"{form!r} printed under {DEBUG_ENV}"


def test_bedrock_backend_under_debug_switches_prints_no_secret(server: str, tmp_path: Path) -> None:
    model = "echo-token-403"
    endpoint = server.removesuffix("/v1")
    proc = run_cli(
        tmp_path, ["--backend", "bedrock", "--model", model], {"AWS_ENDPOINT_URL_BEDROCK_RUNTIME": endpoint}
    )
    printed = proc.stdout + proc.stderr
    assert proc.returncode in (0, 3), printed
    assert llm_server.call_count(model, bedrock=True) >= 1  # the request reached the local endpoint
    assert "bedrock backend failed (auth)" in proc.stdout
    for form in ALL_FORMS:
        assert form not in printed, f"{form!r} printed under {DEBUG_ENV}"


def test_ci_healer_debug_log_records_hold_no_secret(server: str, caplog: pytest.LogCaptureFixture) -> None:
    """With every logger at DEBUG (what a debugging user would switch on), ci-healer's own records
    (the repair round, the fallback to JSON mode) carry no secret."""
    caplog.set_level(logging.DEBUG, logger="ci_healer")
    request = ProposalRequest(
        repository="acme/app",
        blocks=[
            Block(
                start_line=1,
                end_line=2,
                reason="pytest-error",
                text="tests/test_app.py:3: in <module>\nE   boom",
            )
        ],
        classification=Classification(category=Category.TEST, fingerprint="0123456789abcdef"),
    )
    backend = OpenAIBackend(
        model="repair", api_key=API_KEY, base_url=server, max_retries=0, secrets=[RUN_TOKEN]
    )
    backend.propose(request)
    assert any("repair round" in r.getMessage() for r in caplog.records)
    for form in ALL_FORMS:
        assert form not in caplog.text
