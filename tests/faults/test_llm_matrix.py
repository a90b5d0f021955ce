"""Fault matrix of the LLM backends: every way an endpoint can fail, for ``openai`` and ``bedrock``.

Each case runs the real SDK (openai + httpx, boto3 + botocore) against ``tests/llm_server.py`` on
127.0.0.1 (port 0), which plays both Chat Completions and Bedrock's Converse API. Each row asserts
the :class:`~ci_healer.backends.base.BackendError` code, a message that names the cause (and the fix
where there is one), the number of requests the server saw (retries), the backoff delays asked for
(the sleep is injected: no test waits on a backoff), and that no secret — the API key, the GitHub
token, the AWS session token, in any encoding the redactor knows — is in the message (SECURITY.md
item 22). The engine turns every such error into the documented fallback to the rules backend
(``tests/faults/test_llm_flow.py``). Each row is recorded in the shared fault-matrix collector.
"""

from __future__ import annotations

import base64
import os
import socket
from dataclasses import dataclass

import pytest

from ci_healer.backends import BackendSettings
from ci_healer.backends.base import BackendError
from ci_healer.backends.bedrock import BedrockBackend
from ci_healer.backends.openai_backend import OpenAIBackend
from ci_healer.models import Block, Category, Classification, ContextFile, Proposal, ProposalRequest
from ci_healer.settings import backend_from_environment
from tests import llm_server
from tests.faults.matrix import record

API_KEY = "sk-proj-FaultMatrixKey0123456789abcdefGHIJ"
RUN_TOKEN = "ghs_" + "FaultMatrixToken0123456789abcdefghij"
SESSION_TOKEN = "IQoJb3JpZ2luX2VjFaultMatrixSessionToken0123456789+/abc="
MAX_RETRIES = 2
FAST_TIMEOUT_S = 0.2

LOG_BLOCK = """\
tests/test_report.py:3: in <module>
    import pandas as pd
E   ModuleNotFoundError: No module named 'pandas'
=========================== short test summary info ============================
ERROR tests/test_report.py
"""


def make_request() -> ProposalRequest:
    return ProposalRequest(
        repository="acme/report-tool",
        blocks=[Block(start_line=212, end_line=216, reason="pytest-error", text=LOG_BLOCK)],
        classification=Classification(
            category=Category.DEPENDENCY, fingerprint="3f9a0c1d2e4b5a69", signals=["module-not-found"]
        ),
        files=[
            ContextFile(
                path="requirements.txt",
                start_line=1,
                end_line=2,
                text="flask==3.0.3\npytest==8.2.0\n",
                reason="manifest",
            )
        ],
        manifests=["requirements.txt"],
    )


def secret_forms() -> list[str]:
    """The secrets as they could leak: plain, base64 (also as a Basic credential), hex."""
    out = []
    for secret in (API_KEY, RUN_TOKEN, SESSION_TOKEN):
        out += [secret, base64.b64encode(secret.encode()).decode().rstrip("="), secret.encode().hex()]
        out.append(base64.b64encode(f"x-access-token:{secret}".encode()).decode()[24:44])
    return out


@dataclass(frozen=True)
class Case:
    """One row: the server scenario, the expected code, words the message must contain, the
    requests the server must see, and how many backoff sleeps."""

    name: str
    scenario: str
    code: str
    words: tuple[str, ...]
    requests: int
    sleeps: int = 0


ATTEMPTS = MAX_RETRIES + 1
OPENAI_CASES = [
    Case(
        "429",
        "always-429",
        "throttled",
        ("HTTP 429", f"gave up after {ATTEMPTS} attempts"),
        ATTEMPTS,
        MAX_RETRIES,
    ),
    Case(
        "500",
        "always-500",
        "unavailable",
        ("HTTP 500", f"gave up after {ATTEMPTS} attempts"),
        ATTEMPTS,
        MAX_RETRIES,
    ),
    Case("timeout", "hang", "timeout", ("did not answer within 0.2 s", "llm-timeout"), 1),
    Case(
        "connection refused",
        "valid",
        "unavailable",
        ("cannot reach", "http://127.0.0.1:", "/v1", "ConnectError"),
        ATTEMPTS,
        MAX_RETRIES,
    ),
    Case("non-JSON 200", "html-200", "config", ("HTTP 200 with text/html, not JSON", "openai-base-url"), 1),
    Case(
        "invalid JSON",
        "invalid-json",
        "unavailable",
        ("HTTP 200 with invalid JSON", f"gave up after {ATTEMPTS} attempts"),
        ATTEMPTS,
        MAX_RETRIES,
    ),
    Case(
        "schema violation",
        "invalid-twice",
        "invalid_output",
        ("not a valid proposal after one repair round", "category"),
        2,
    ),
    Case("empty choices", "empty-choices", "invalid_output", ("returned no choices",), 1),
    Case("refusal", "refusal", "refused", ("the model refused to answer", "can't help"), 1),
    Case(
        "truncated",
        "length",
        "truncated",
        ("cut off at max_completion_tokens=8192", "finish_reason: length"),
        2,
    ),
    Case(
        "401 echoing the key",
        "echo-key-401",
        "auth",
        ("refused the credentials (HTTP 401)", "[REDACTED:literal_secret]"),
        1,
    ),
    Case(
        "400 echoing the header",
        "echo-key-400",
        "config",
        ("rejected the request (HTTP 400)", "[REDACTED:"),
        1,
    ),
    Case("not a completion", "not-completion", "invalid_output", ("not a chat completion",), 1),
]
BEDROCK_CASES = [
    Case(
        "429",
        "always-throttle",
        "throttled",
        ("ThrottlingException", f"gave up after {ATTEMPTS} attempts"),
        ATTEMPTS,
        MAX_RETRIES,
    ),
    Case(
        "500",
        "always-500",
        "unavailable",
        ("InternalServerException", f"gave up after {ATTEMPTS} attempts"),
        ATTEMPTS,
        MAX_RETRIES,
    ),
    Case("timeout", "hang", "timeout", ("did not answer within 0.2 s", "llm-timeout"), 1),
    Case(
        "connection refused",
        "valid",
        "unavailable",
        ("cannot reach Bedrock at http://127.0.0.1:", "EndpointConnectionError"),
        ATTEMPTS,
        MAX_RETRIES,
    ),
    Case("non-JSON 200", "html-200", "config", ("HTTP 200 with text/html, not JSON",), 1),
    Case(
        "invalid JSON",
        "invalid-json",
        "unavailable",
        ("not a Converse response", f"gave up after {ATTEMPTS} attempts"),
        ATTEMPTS,
        MAX_RETRIES,
    ),
    Case(
        "schema violation",
        "invalid-twice",
        "invalid_output",
        ("not a valid proposal after one repair round", "category"),
        2,
    ),
    Case("empty message", "empty", "invalid_output", ("empty message", "stopReason: end_turn"), 1),
    Case("refusal", "refusal", "refused", ("stopReason: content_filtered",), 1),
    Case("truncated", "length", "truncated", ("cut off at maxTokens=8192", "stopReason: max_tokens"), 2),
    Case(
        "403 echoing the session token",
        "echo-token-403",
        "auth",
        ("AccessDeniedException", "[REDACTED:literal_secret]", "bedrock:InvokeModel"),
        1,
    ),
]


@pytest.fixture(scope="module")
def server():
    with llm_server.serve() as url:
        yield url


def closed_port() -> int:
    """A local port nothing listens on (bound, then closed: connecting is refused at once)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def aws_env(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAFAULTMATRIX00000")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "faultMatrixSecretAccessKey0123456789abcd")
    monkeypatch.setenv("AWS_SESSION_TOKEN", SESSION_TOKEN)
    for var in ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.delenv(var, raising=False)


def openai_backend(base_url: str, case: Case, sleeps: list[float]) -> OpenAIBackend:
    if case.name == "connection refused":
        base_url = f"http://127.0.0.1:{closed_port()}/v1"
    return OpenAIBackend(
        model=case.scenario,
        api_key=API_KEY,
        base_url=base_url,
        timeout_s=FAST_TIMEOUT_S if case.name == "timeout" else 10,
        max_retries=MAX_RETRIES,
        sleep=sleeps.append,
        secrets=[RUN_TOKEN],
    )


def bedrock_backend(base_url: str, case: Case, sleeps: list[float]) -> BedrockBackend:
    endpoint = base_url.removesuffix("/v1")
    if case.name == "connection refused":
        endpoint = f"http://127.0.0.1:{closed_port()}"
    return BedrockBackend(
        model_id=case.scenario,
        region="us-east-1",
        endpoint_url=endpoint,
        timeout_s=FAST_TIMEOUT_S if case.name == "timeout" else 10,
        max_retries=MAX_RETRIES,
        sleep=sleeps.append,
        # the environment's AWS secrets arrive through the settings, as in the Action
        secrets=[
            RUN_TOKEN,
            API_KEY,
            *backend_from_environment(BackendSettings(), os.environ).secret_values(),
        ],
    )


def check(backend_name: str, case: Case, backend, sleeps: list[float], *, bedrock: bool) -> None:
    with pytest.raises(BackendError) as info:
        backend.propose(make_request())
    err = info.value
    message = str(err)
    requests = (
        llm_server.call_count(case.scenario, bedrock=bedrock) if case.name != "connection refused" else None
    )
    seen = requests if requests is not None else ATTEMPTS
    record(
        "llm",
        f"{backend_name}: {case.name}",
        f"BackendError({err.code}) after {seen} request(s), {len(sleeps)} backoff(s): {message[:110]}",
    )
    assert err.code == case.code, message
    for word in case.words:
        assert word in message, f"{word!r} not in {message!r}"
    for form in secret_forms():
        assert form not in message, f"a secret form leaked: {message!r}"
    assert err.__cause__ is None and err.__suppress_context__  # no SDK exception text rides along
    if requests is not None:
        assert requests == case.requests, f"{requests} requests, expected {case.requests}"
    assert len(sleeps) == case.sleeps, sleeps
    assert "\n" not in message


@pytest.fixture(autouse=True)
def fresh_counts():
    llm_server._Handler.calls.clear()


@pytest.mark.parametrize("case", OPENAI_CASES, ids=[c.name for c in OPENAI_CASES])
def test_openai_fault(server, case: Case) -> None:
    sleeps: list[float] = []
    check("openai", case, openai_backend(server, case, sleeps), sleeps, bedrock=False)
    if case.name == "429":
        assert sleeps == [7.0, 7.0]  # the server's Retry-After


@pytest.mark.parametrize("case", BEDROCK_CASES, ids=[c.name for c in BEDROCK_CASES])
def test_bedrock_fault(server, aws_env, case: Case) -> None:
    sleeps: list[float] = []
    check("bedrock", case, bedrock_backend(server, case, sleeps), sleeps, bedrock=True)


# ---------------------------------------------------------------------- recoveries


@pytest.mark.parametrize("bedrock", [False, True], ids=["openai", "bedrock"])
def test_a_cut_off_reply_is_asked_once_more_with_twice_the_output_cap(server, aws_env, bedrock: bool) -> None:
    sleeps: list[float] = []
    case = Case("truncated once", "length-once", "", (), 2)
    backend = bedrock_backend(server, case, sleeps) if bedrock else openai_backend(server, case, sleeps)
    proposal = backend.propose(make_request())
    requests = llm_server.call_count("length-once", bedrock=bedrock)
    record(
        "llm",
        f"{'bedrock' if bedrock else 'openai'}: truncated once",
        f"proposal after {requests} requests (output cap 4096, then 8192)",
    )
    assert proposal == Proposal.model_validate(llm_server.VALID_PROPOSAL)
    assert requests == 2 and sleeps == []


def test_no_larger_cap_means_no_second_request(server) -> None:
    sleeps: list[float] = []
    backend = OpenAIBackend(
        model="length",
        api_key=API_KEY,
        base_url=server,
        max_retries=0,
        sleep=sleeps.append,
        max_output_tokens=8192,
        output_tokens_ceiling=8192,
    )
    with pytest.raises(BackendError) as info:
        backend.propose(make_request())
    assert info.value.code == "truncated" and "max_completion_tokens=8192" in str(info.value)
    assert llm_server.call_count("length") == 1
    record(
        "llm",
        "openai: truncated at the output-cap ceiling",
        "BackendError(truncated) after 1 request (no larger cap allowed)",
    )
