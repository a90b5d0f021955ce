"""BedrockBackend on a real ``bedrock-runtime`` client with ``botocore.stub.Stubber``.

The stubber checks every request against the Converse operation of the service model shipped with
botocore and every canned response against its output shape, so these tests fail when the request
or the response handling drifts from the real API.
"""

from __future__ import annotations

import copy

import boto3
import botocore.config
import pytest
from botocore.stub import ANY, Stubber

from ci_healer.backends import BackendSettings
from ci_healer.backends.base import BackendError
from ci_healer.backends.bedrock import DEFAULT_NOVA_MODEL, BedrockBackend, resolve_region
from ci_healer.backends.llm import proposal_json_schema
from ci_healer.models import Block, Category, Classification, ContextFile, Proposal, ProposalRequest, Usage
from ci_healer.settings import backend_from_environment

# A Go compile error as printed by `go build ./...` in a GitHub Actions step.
LOG_BLOCK = """\
go: downloading github.com/spf13/cobra v1.8.0
# github.com/acme/tool/cmd
cmd/root.go:42:9: undefined: version
cmd/root.go:57:2: declared and not used: cfg
Error: Process completed with exit code 1.
"""

ROOT_GO = """\
func Execute() error {
\tcfg := loadConfig()
\trootCmd.Version = version
\treturn rootCmd.Execute()
}
"""

PROPOSAL = {
    "root_cause": "cmd/root.go uses an undefined identifier version and declares cfg without using it, so go build fails.",
    "category": "compile",
    "files_to_modify": [
        {
            "file_path": "cmd/root.go",
            "original": "\tcfg := loadConfig()\n\trootCmd.Version = version\n",
            "replacement": "\trootCmd.Version = buildVersion\n",
        }
    ],
    "confidence": 0.55,
}


def make_request() -> ProposalRequest:
    return ProposalRequest(
        repository="acme/tool",
        blocks=[Block(start_line=88, end_line=92, reason="go-build-error", text=LOG_BLOCK)],
        classification=Classification(
            category=Category.COMPILE, fingerprint="a1b2c3d4e5f60718", signals=["go-compile"]
        ),
        files=[
            ContextFile(path="cmd/root.go", start_line=40, end_line=44, text=ROOT_GO, reason="named-in-log")
        ],
        manifests=["go.mod"],
    )


def converse_response(content: list[dict], stop_reason: str = "tool_use") -> dict:
    return {
        "output": {"message": {"role": "assistant", "content": content}},
        "stopReason": stop_reason,
        "usage": {"inputTokens": 1500, "outputTokens": 120, "totalTokens": 1620},
        "metrics": {"latencyMs": 2100},
    }


def tool_use(payload: dict, tool_use_id: str = "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q") -> dict:
    return {"toolUse": {"toolUseId": tool_use_id, "name": "submit_proposal", "input": payload}}


@pytest.fixture
def client(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLEEXAMPLE00")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "example-secret-not-real")
    real = boto3.client(
        "bedrock-runtime",
        region_name="us-east-1",
        config=botocore.config.Config(retries={"mode": "standard", "max_attempts": 1}),
    )
    with Stubber(real) as stubber:
        real.stubber = stubber
        yield real
        stubber.assert_no_pending_responses()


def expected_params(messages=ANY) -> dict:
    return {
        "modelId": DEFAULT_NOVA_MODEL,
        "system": ANY,
        "messages": messages,
        "inferenceConfig": {"maxTokens": ANY, "temperature": 0.0},
        "toolConfig": {
            "tools": [
                {
                    "toolSpec": {
                        "name": "submit_proposal",
                        "description": ANY,
                        "inputSchema": {"json": proposal_json_schema()},
                    }
                }
            ],
            "toolChoice": {"tool": {"name": "submit_proposal"}},
        },
    }


def make_backend(client, **kwargs) -> tuple[BedrockBackend, list[float]]:
    sleeps: list[float] = []
    return BedrockBackend(client=client, sleep=sleeps.append, **kwargs), sleeps


class Recorder:
    """Keeps the ``messages`` of each Converse call (the stubber validated them already)."""

    def __init__(self, client) -> None:
        self.calls: list[dict] = []
        client.meta.events.register("provide-client-params.bedrock-runtime.Converse", self._keep)

    def _keep(self, params, **_):
        self.calls.append(copy.deepcopy(params))


def test_tool_use_reply_becomes_proposal(client):
    client.stubber.add_response("converse", converse_response([tool_use(PROPOSAL)]), expected_params())
    recorder = Recorder(client)
    backend, sleeps = make_backend(client)

    proposal = backend.propose(make_request())

    assert proposal == Proposal.model_validate(PROPOSAL)
    assert sleeps == []
    (call,) = recorder.calls
    system, user = call["system"][0]["text"], call["messages"][0]["content"][0]["text"]
    assert "submit_proposal" in system
    assert "cmd/root.go:42:9: undefined: version" in user
    delimiter = user.split("<<<DATA ", 1)[1].split(">>>", 1)[0]
    assert f"<<<DATA {delimiter}>>>\n{LOG_BLOCK.rstrip()}\n<<<END {delimiter}>>>" in user
    # Converse usage.inputTokens / outputTokens, as the response gave them.
    assert backend.usage == Usage(requests=1, prompt_tokens=1500, completion_tokens=120)


def test_reply_without_tool_use_gets_repair_round(client):
    client.stubber.add_response(
        "converse",
        converse_response(
            [{"text": "The build fails because version is undefined."}], stop_reason="end_turn"
        ),
        expected_params(),
    )
    client.stubber.add_response("converse", converse_response([tool_use(PROPOSAL)]), expected_params())
    recorder = Recorder(client)
    backend, _ = make_backend(client)

    proposal = backend.propose(make_request())

    assert proposal.category is Category.COMPILE
    second = recorder.calls[1]["messages"]
    assert [m["role"] for m in second] == ["user", "assistant", "user"]
    assert second[1]["content"] == [{"text": "The build fails because version is undefined."}]
    repair = second[2]["content"][0]["text"]
    assert "did not call the tool submit_proposal" in repair and "end_turn" in repair


def test_invalid_tool_input_is_answered_with_tool_result_error_then_invalid_output(client):
    bad = {
        "root_cause": "x",
        "category": "compile",
        "files_to_modify": [{"file_path": "cmd/root.go"}],
        "confidence": 1.7,
    }
    client.stubber.add_response(
        "converse", converse_response([tool_use(bad, "tooluse_first")]), expected_params()
    )
    client.stubber.add_response(
        "converse", converse_response([tool_use(bad, "tooluse_second")]), expected_params()
    )
    recorder = Recorder(client)
    backend, _ = make_backend(client)

    with pytest.raises(BackendError) as info:
        backend.propose(make_request())

    assert info.value.code == "invalid_output"
    repair_turn = recorder.calls[1]["messages"][2]["content"]
    result = repair_turn[0]["toolResult"]
    assert result["toolUseId"] == "tooluse_first" and result["status"] == "error"
    problems = result["content"][0]["text"]
    assert "files_to_modify.0.replacement: Field required" in problems
    assert "confidence: Input should be less than or equal to 1" in problems


def test_throttling_is_retried_then_succeeds(client):
    client.stubber.add_client_error(
        "converse",
        service_error_code="ThrottlingException",
        service_message="Too many requests, please wait before trying again.",
        http_status_code=429,
        expected_params=expected_params(),
    )
    client.stubber.add_client_error(
        "converse",
        service_error_code="ServiceUnavailableException",
        service_message="Service unavailable",
        http_status_code=503,
        expected_params=expected_params(),
    )
    client.stubber.add_response("converse", converse_response([tool_use(PROPOSAL)]), expected_params())
    backend, sleeps = make_backend(client)

    proposal = backend.propose(make_request())

    assert proposal.confidence == pytest.approx(0.55)
    assert len(sleeps) == 2
    assert 0 <= sleeps[0] <= 1.0 and 0 <= sleeps[1] <= 2.0


def test_throttling_past_max_retries_is_throttled_error(client):
    for _ in range(2):
        client.stubber.add_client_error(
            "converse",
            service_error_code="ThrottlingException",
            service_message="Too many requests",
            http_status_code=429,
        )
    backend, sleeps = make_backend(client, max_retries=1)

    with pytest.raises(BackendError) as info:
        backend.propose(make_request())

    assert info.value.code == "throttled"
    assert "2 attempts" in str(info.value)
    assert len(sleeps) == 1


@pytest.mark.parametrize(
    ("error_code", "status", "message", "expected_code", "expected_text"),
    [
        (
            "ValidationException",
            400,
            "Invocation of model ID amazon.nova-pro-v1:0 with on-demand throughput isn't supported.",
            "config",
            "on-demand throughput",
        ),
        ("ResourceNotFoundException", 404, "Model not found", "config", DEFAULT_NOVA_MODEL),
        (
            "AccessDeniedException",
            403,
            "You don't have access to the model with the specified model ID.",
            "auth",
            "bedrock:InvokeModel",
        ),
        (
            "UnrecognizedClientException",
            403,
            "The security token included in the request is invalid.",
            "auth",
            "security token",
        ),
        (
            "ModelTimeoutException",
            408,
            "Model has timed out in processing the request.",
            "timeout",
            "timed out",
        ),
    ],
)
def test_client_errors_map_to_stable_codes_without_retry(
    client, error_code, status, message, expected_code, expected_text
):
    client.stubber.add_client_error(
        "converse", service_error_code=error_code, service_message=message, http_status_code=status
    )
    backend, sleeps = make_backend(client)

    with pytest.raises(BackendError) as info:
        backend.propose(make_request())

    assert info.value.code == expected_code
    assert expected_text in str(info.value)
    assert sleeps == []


def test_internal_errors_exhaust_retries_as_unavailable(client):
    for _ in range(4):
        client.stubber.add_client_error(
            "converse",
            service_error_code="InternalServerException",
            service_message="Internal error",
            http_status_code=500,
        )
    backend, sleeps = make_backend(client, max_retries=3)

    with pytest.raises(BackendError) as info:
        backend.propose(make_request())

    assert info.value.code == "unavailable"
    assert len(sleeps) == 3


@pytest.mark.parametrize(
    ("argument", "env", "expected"),
    [
        ("eu-west-1", {"AWS_REGION": "us-west-2"}, "eu-west-1"),
        (None, {"AWS_REGION": "us-west-2", "AWS_DEFAULT_REGION": "ap-southeast-2"}, "us-west-2"),
        (None, {"AWS_DEFAULT_REGION": "ap-southeast-2"}, "ap-southeast-2"),
        (None, {}, "us-east-1"),
    ],
)
def test_region_resolution(argument, env, expected):
    settings = backend_from_environment(BackendSettings(backend="bedrock", aws_region=argument), env)
    assert resolve_region(settings.aws_region) == expected


def test_built_client_uses_timeouts_and_no_sdk_retries(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLEEXAMPLE00")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "example-secret-not-real")
    backend = BedrockBackend(region="eu-central-1", timeout_s=12.5, model_id="eu.amazon.nova-pro-v1:0")
    config = backend._client.meta.config
    assert backend._client.meta.region_name == "eu-central-1"
    assert (config.connect_timeout, config.read_timeout) == (12.5, 12.5)
    assert config.retries["total_max_attempts"] == 1


def test_missing_credentials_is_auth_error(monkeypatch, tmp_path):
    for var in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    backend = BedrockBackend(region="us-east-1", timeout_s=2, sleep=lambda s: None)
    with pytest.raises(BackendError) as info:
        backend.propose(make_request())
    assert info.value.code == "auth"


def _params_with_max_tokens(limit: int) -> dict:
    params = expected_params()
    params["inferenceConfig"] = {"maxTokens": limit, "temperature": 0.0}
    return params


def test_reply_stopped_at_max_tokens_is_asked_once_more_with_twice_the_cap(client):
    cut = converse_response(
        [{"text": '{"root_cause": "cmd/root.go uses an undefined'}], stop_reason="max_tokens"
    )
    client.stubber.add_response("converse", cut, _params_with_max_tokens(4096))
    client.stubber.add_response(
        "converse", converse_response([tool_use(PROPOSAL)]), _params_with_max_tokens(8192)
    )
    backend, sleeps = make_backend(client)

    assert backend.propose(make_request()) == Proposal.model_validate(PROPOSAL)
    assert sleeps == []


def test_reply_stopped_at_max_tokens_twice_is_truncated_not_a_repair(client):
    cut = converse_response(
        [{"text": '{"root_cause": "cmd/root.go uses an undefined'}], stop_reason="max_tokens"
    )
    client.stubber.add_response("converse", cut, _params_with_max_tokens(4096))
    client.stubber.add_response("converse", cut, _params_with_max_tokens(8192))
    backend, _ = make_backend(client)

    with pytest.raises(BackendError) as info:
        backend.propose(make_request())
    assert info.value.code == "truncated"
    assert "cut off at maxTokens=8192" in str(info.value) and "stopReason: max_tokens" in str(info.value)


@pytest.mark.parametrize("stop", ["guardrail_intervened", "content_filtered"])
def test_guardrail_or_filter_stop_is_refused_without_a_repair_round(client, stop):
    client.stubber.add_response(
        "converse", converse_response([{"text": "Sorry."}], stop_reason=stop), expected_params()
    )
    backend, _ = make_backend(client)

    with pytest.raises(BackendError) as info:
        backend.propose(make_request())
    assert info.value.code == "refused" and stop in str(info.value)


def test_empty_message_is_reported_as_such(client):
    client.stubber.add_response("converse", converse_response([], stop_reason="end_turn"), expected_params())
    backend, _ = make_backend(client)

    with pytest.raises(BackendError) as info:
        backend.propose(make_request())
    assert info.value.code == "invalid_output" and "empty message" in str(info.value)


def test_access_denied_text_echoing_the_session_token_is_redacted(client):
    token = "IQoJb3JpZ2luX2VjStubberSessionToken0123456789abcdef"
    # the environment's session token reaches the backend through the settings, as a secret
    settings = backend_from_environment(BackendSettings(backend="bedrock"), {"AWS_SESSION_TOKEN": token})
    assert token in settings.secret_values() and token not in repr(settings)
    client.stubber.add_client_error(
        "converse",
        service_error_code="AccessDeniedException",
        service_message=f"session {token} is not authorized",
        http_status_code=403,
    )
    backend, _ = make_backend(client, secrets=["ghs_" + "S" * 36, *settings.secret_values()])

    with pytest.raises(BackendError) as info:
        backend.propose(make_request())
    assert info.value.code == "auth"
    assert token not in str(info.value) and "[REDACTED:literal_secret]" in str(info.value)
