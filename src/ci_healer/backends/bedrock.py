"""Proposals from Amazon Nova on Amazon Bedrock through the Converse API.

Default model: ``us.amazon.nova-pro-v1:0``, the US cross-region inference profile of Amazon Nova Pro
(Bedrock model id ``amazon.nova-pro-v1:0``; "Supported foundation models in Amazon Bedrock" and
"Supported Regions and models for inference profiles" in the Bedrock user guide). The ``us.`` profile
serves requests from US Regions; elsewhere pass ``eu.amazon.nova-pro-v1:0`` or
``apac.amazon.nova-pro-v1:0``, a plain model id where on-demand use is offered, or another Nova model
such as ``us.amazon.nova-lite-v1:0`` or ``us.amazon.nova-2-lite-v1:0``.

The proposal comes back as a forced tool call: ``toolConfig`` declares one tool, ``submit_proposal``,
whose ``inputSchema`` is :func:`ci_healer.backends.llm.proposal_json_schema`, and ``toolChoice`` names
it; the JSON is the ``toolUse.input`` of the reply. Nothing is ever run for that "tool" — it is only
a typed channel for the answer. A reply without the tool call (or whose input fails validation)
gets one repair round: the ``toolResult`` with ``status: error`` and the validation problems.

Credentials come from boto3's default chain (environment, web identity / OIDC, profile, container or
instance role); the Region from ``region``, else ``AWS_REGION``, else ``AWS_DEFAULT_REGION``.
Timeouts go to ``botocore.config.Config(connect_timeout, read_timeout)``; botocore's own retries are
off (``total_max_attempts=1``, the first try only) so that :func:`ci_healer.backends.llm.call_with_retries` governs both
backends the same way. Errors: ``ThrottlingException`` → ``throttled``; ``InternalServerException``,
``ServiceUnavailableException``, ``ModelNotReadyException``, ``ModelErrorException`` and connection
errors → ``unavailable`` (both retried); ``ModelTimeoutException`` and read/connect timeouts →
``timeout``; ``AccessDeniedException`` and missing or rejected credentials → ``auth``;
``ValidationException``/``ResourceNotFoundException`` → ``config`` with the model id and Region.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from typing import Any

import boto3
import botocore.config
import botocore.exceptions
from pydantic import ValidationError

from ci_healer.backends.base import BackendError
from ci_healer.backends.llm import (
    DEFAULT_MAX_PROMPT_TOKENS,
    MAX_OUTPUT_TOKENS,
    SCHEMA_DESCRIPTION,
    SCHEMA_NAME,
    RetryableError,
    RetryPolicy,
    build_messages,
    build_repair_messages,
    call_with_retries,
    describe_validation_error,
    echo_for_repair,
    invalid_output,
    parse_proposal,
    proposal_json_schema,
    render_repair,
)
from ci_healer.models import EditFailure, Proposal, ProposalRequest

log = logging.getLogger(__name__)

DEFAULT_NOVA_MODEL = "us.amazon.nova-pro-v1:0"
DEFAULT_REGION = "us-east-1"

_THROTTLED = {"ThrottlingException", "TooManyRequestsException", "ServiceQuotaExceededException"}
_UNAVAILABLE = {"InternalServerException", "ServiceUnavailableException", "ModelNotReadyException", "ModelErrorException"}
_AUTH = {
    "AccessDeniedException",
    "UnrecognizedClientException",
    "InvalidSignatureException",
    "ExpiredTokenException",
    "InvalidClientTokenId",
    "SignatureDoesNotMatch",
}
_CONFIG = {"ValidationException", "ResourceNotFoundException"}


def resolve_region(region: str | None) -> str:
    """``region``, else ``AWS_REGION``, else ``AWS_DEFAULT_REGION``, else ``us-east-1``."""
    return region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or DEFAULT_REGION


class BedrockBackend:
    """``Backend`` on Amazon Bedrock's Converse API with an Amazon Nova model (see module doc).

    ``model_id``: a Bedrock model id or inference profile id. ``region``: AWS Region (see
    :func:`resolve_region`). ``timeout_s``: connect and read timeout, seconds. ``max_retries``:
    retries after the first attempt on throttling and 5xx. ``client``: a ``bedrock-runtime`` client
    to use instead of building one (tests use a ``botocore.stub.Stubber`` on a real client).
    ``sleep``: the backoff's sleep function.
    """

    name = "bedrock"

    def __init__(
        self,
        *,
        model_id: str = DEFAULT_NOVA_MODEL,
        region: str | None = None,
        timeout_s: float = 60.0,
        max_retries: int = 3,
        client: Any = None,
        max_prompt_tokens: int = DEFAULT_MAX_PROMPT_TOKENS,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.model_id = model_id
        self.region = resolve_region(region)
        self.max_prompt_tokens = max_prompt_tokens
        self.retry = RetryPolicy(max_retries=max_retries, sleep=sleep)
        if client is not None:
            self._client = client
            return
        config = botocore.config.Config(
            connect_timeout=timeout_s,
            read_timeout=timeout_s,
            retries={"mode": "standard", "total_max_attempts": 1},
        )
        try:
            self._client = boto3.session.Session().client("bedrock-runtime", region_name=self.region, config=config)
        except botocore.exceptions.BotoCoreError as err:
            raise BackendError("config", f"cannot build the Bedrock client for Region {self.region}: {err}") from err

    def tool_config(self) -> dict[str, Any]:
        """The Converse ``toolConfig``: the one ``submit_proposal`` tool, forced by ``toolChoice``."""
        return {
            "tools": [
                {
                    "toolSpec": {
                        "name": SCHEMA_NAME,
                        "description": SCHEMA_DESCRIPTION,
                        "inputSchema": {"json": proposal_json_schema()},
                    }
                }
            ],
            "toolChoice": {"tool": {"name": SCHEMA_NAME}},
        }

    def propose(self, request: ProposalRequest) -> Proposal:
        """Ask Nova once (plus one repair round) for a :class:`Proposal`; see module doc."""
        prompt = build_messages(request, max_prompt_tokens=self.max_prompt_tokens, output_mode="tool")
        system = [{"text": prompt.system}]
        messages: list[dict[str, Any]] = [{"role": "user", "content": [{"text": prompt.user}]}]

        reply = self._converse(system, messages)
        proposal, errors, tool_use_id, assistant = _read_reply(reply)
        if proposal is not None:
            return proposal
        log.info("bedrock reply invalid (%d problems); one repair round", len(errors))
        repair_text = render_repair(errors, output_mode="tool")
        messages.append(assistant)
        if tool_use_id is not None:
            content: list[dict[str, Any]] = [
                {"toolResult": {"toolUseId": tool_use_id, "content": [{"text": "\n".join(errors)}], "status": "error"}},
                {"text": repair_text},
            ]
        else:
            content = [{"text": repair_text}]
        messages.append({"role": "user", "content": content})

        reply = self._converse(system, messages)
        proposal, errors, _, _ = _read_reply(reply)
        if proposal is not None:
            return proposal
        raise invalid_output(errors)

    def repair_edits(self, request: ProposalRequest, previous: Proposal, failures: list[EditFailure]) -> Proposal:
        """One patch-repair round (:func:`ci_healer.backends.llm.build_repair_messages`) through the
        same forced tool call; an invalid reply is ``BackendError("invalid_output")`` at once."""
        prompt = build_repair_messages(
            request, previous, failures, max_prompt_tokens=self.max_prompt_tokens, output_mode="tool"
        )
        messages: list[dict[str, Any]] = [
            {"role": "user", "content": [{"text": prompt.user}]},
            {"role": "assistant", "content": [{"text": prompt.previous}]},
            {"role": "user", "content": [{"text": prompt.repair}]},
        ]
        proposal, errors, _, _ = _read_reply(self._converse([{"text": prompt.system}], messages))
        if proposal is not None:
            return proposal
        raise invalid_output(errors)

    def _converse(self, system: list[dict[str, str]], messages: list[dict[str, Any]]) -> dict[str, Any]:
        def attempt() -> dict[str, Any]:
            try:
                return self._client.converse(
                    modelId=self.model_id,
                    system=system,
                    messages=messages,
                    inferenceConfig={"maxTokens": MAX_OUTPUT_TOKENS, "temperature": 0.0},
                    toolConfig=self.tool_config(),
                )
            except botocore.exceptions.ClientError as err:
                raise self._map_client_error(err) from err
            except (botocore.exceptions.ReadTimeoutError, botocore.exceptions.ConnectTimeoutError) as err:
                raise BackendError("timeout", f"Bedrock did not answer within the timeout: {err}") from err
            except (botocore.exceptions.NoCredentialsError, botocore.exceptions.PartialCredentialsError) as err:
                raise BackendError("auth", f"no AWS credentials for Bedrock: {err}; configure an IAM role or keys") from err
            except botocore.exceptions.EndpointConnectionError as err:
                raise RetryableError("unavailable", f"cannot reach Bedrock: {err}") from err
            except botocore.exceptions.ParamValidationError as err:
                raise BackendError("config", f"Bedrock request rejected by the SDK: {err}") from err
            except botocore.exceptions.BotoCoreError as err:
                raise RetryableError("unavailable", f"Bedrock call failed: {err}") from err

        return call_with_retries(attempt, self.retry)

    def _map_client_error(self, err: botocore.exceptions.ClientError) -> BackendError:
        info = err.response.get("Error", {})
        code = str(info.get("Code", "Unknown"))
        message = " ".join(str(info.get("Message", "")).split())[:300]
        where = f"model {self.model_id} in {self.region}"
        if code in _THROTTLED:
            return RetryableError("throttled", f"Bedrock throttled the request ({code}): {message}")
        if code in _UNAVAILABLE:
            return RetryableError("unavailable", f"Bedrock failed ({code}) for {where}: {message}")
        if code == "ModelTimeoutException":
            return BackendError("timeout", f"Bedrock model timed out ({code}): {message}")
        if code in _AUTH:
            return BackendError(
                "auth",
                f"Bedrock denied access ({code}) to {where}: {message}; the role needs bedrock:InvokeModel on it "
                "and the model must be enabled in the account",
            )
        if code in _CONFIG:
            return BackendError("config", f"Bedrock rejected the request ({code}) for {where}: {message}")
        status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if isinstance(status, int) and status >= 500:
            return RetryableError("unavailable", f"Bedrock failed ({code}, HTTP {status}): {message}")
        return BackendError("config", f"Bedrock error ({code}) for {where}: {message}")


def _read_reply(reply: dict[str, Any]) -> tuple[Proposal | None, list[str], str | None, dict[str, Any]]:
    """``(proposal, errors, toolUseId, assistant message)`` from a Converse response.

    The proposal is the ``submit_proposal`` toolUse input; with no tool call, a JSON object in the
    text content is accepted too. ``errors`` lists validation problems when the proposal is None.
    """
    message = reply.get("output", {}).get("message") or {"role": "assistant", "content": []}
    content = message.get("content") or []
    tool_use = next((c["toolUse"] for c in content if "toolUse" in c and c["toolUse"].get("name") == SCHEMA_NAME), None)
    if tool_use is None:
        tool_use = next((c["toolUse"] for c in content if "toolUse" in c), None)
    if tool_use is not None:
        try:
            return Proposal.model_validate(tool_use.get("input")), [], tool_use.get("toolUseId"), message
        except ValidationError as err:
            return None, describe_validation_error(err), tool_use.get("toolUseId"), message
    text = "".join(c.get("text", "") for c in content if "text" in c)
    assistant = {"role": "assistant", "content": [{"text": echo_for_repair(text) or "(no reply)"}]}
    if text.strip():
        try:
            return parse_proposal(text), [], None, assistant
        except ValidationError as err:
            errors = describe_validation_error(err)
    else:
        errors = []
    stop = reply.get("stopReason", "unknown")
    return None, [f"(whole reply): the reply did not call the tool {SCHEMA_NAME} (stopReason {stop})", *errors], None, assistant


__all__ = ["DEFAULT_NOVA_MODEL", "BedrockBackend", "resolve_region"]
