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
Replies: an HTTP 200 body botocore cannot parse → ``config`` (not JSON, e.g. a proxy page) or
``unavailable`` (JSON cut in transit; retried); ``stopReason`` ``guardrail_intervened`` or
``content_filtered`` → ``refused``; an empty message → ``invalid_output``; ``max_tokens`` → asked once
more with twice the ``maxTokens`` (up to :data:`~ci_healer.backends.llm.MAX_OUTPUT_TOKENS_CEILING`),
then ``truncated``. Every message is redacted of the literal secrets, the environment's
``AWS_SECRET_ACCESS_KEY`` and ``AWS_SESSION_TOKEN`` included (passed in ``secrets`` from
:attr:`ci_healer.backends.BackendSettings.aws_secrets`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

import boto3
import botocore.config
import botocore.exceptions
from pydantic import ValidationError

from ci_healer.backends.base import BackendError
from ci_healer.backends.llm import (
    DEFAULT_MAX_PROMPT_TOKENS,
    MAX_OUTPUT_TOKENS,
    MAX_OUTPUT_TOKENS_CEILING,
    SCHEMA_DESCRIPTION,
    SCHEMA_NAME,
    RetryableError,
    RetryPolicy,
    build_messages,
    build_repair_messages,
    call_with_retries,
    describe_validation_error,
    display_url,
    echo_for_repair,
    error_boundary,
    invalid_output,
    larger_output_budget,
    parse_proposal,
    proposal_json_schema,
    render_repair,
    truncated_error,
    usage_count,
)
from ci_healer.models import EditFailure, Proposal, ProposalRequest, Usage
from ci_healer.redact import Redactor

log = logging.getLogger(__name__)

DEFAULT_NOVA_MODEL = "us.amazon.nova-pro-v1:0"
DEFAULT_REGION = "us-east-1"

_THROTTLED = {"ThrottlingException", "TooManyRequestsException", "ServiceQuotaExceededException"}
_UNAVAILABLE = {
    "InternalServerException",
    "ServiceUnavailableException",
    "ModelNotReadyException",
    "ModelErrorException",
}
_AUTH = {
    "AccessDeniedException",
    "UnrecognizedClientException",
    "InvalidSignatureException",
    "ExpiredTokenException",
    "InvalidClientTokenId",
    "SignatureDoesNotMatch",
}
_CONFIG = {"ValidationException", "ResourceNotFoundException"}
_REFUSED_STOPS = {"guardrail_intervened", "content_filtered"}


def resolve_region(region: str | None) -> str:
    """``region``, else ``us-east-1`` (the settings fill ``region`` from the input, then
    ``AWS_REGION``, then ``AWS_DEFAULT_REGION``: :func:`ci_healer.settings.backend_from_environment`)."""
    return region or DEFAULT_REGION


class BedrockBackend:
    """``Backend`` on Amazon Bedrock's Converse API with an Amazon Nova model (see module doc).

    ``model_id``: a Bedrock model id or inference profile id. ``region``: AWS Region (see
    :func:`resolve_region`). ``endpoint_url``: a bedrock-runtime endpoint other than the Region's
    public one (a VPC interface endpoint). ``timeout_s``: connect and read timeout, seconds (input
    ``llm-timeout``). ``max_retries``:
    retries after the first attempt on throttling and 5xx. ``client``: a ``bedrock-runtime`` client
    to use instead of building one (tests use a ``botocore.stub.Stubber`` on a real client).
    ``sleep``: the backoff's sleep function. ``secrets``: literal values redacted from every error
    message. ``max_output_tokens``: ``maxTokens`` of a request; a reply stopped at it is asked once
    more with up to ``output_tokens_ceiling``. ``usage``: the running
    :class:`~ci_healer.models.Usage` of every Converse reply (``usage.inputTokens`` /
    ``usage.outputTokens``); the engine reports each analysis' share.
    """

    name = "bedrock"

    def __init__(
        self,
        *,
        model_id: str = DEFAULT_NOVA_MODEL,
        region: str | None = None,
        endpoint_url: str | None = None,
        timeout_s: float = 60.0,
        max_retries: int = 3,
        client: Any = None,
        max_prompt_tokens: int = DEFAULT_MAX_PROMPT_TOKENS,
        sleep: Callable[[float], None] = time.sleep,
        secrets: Iterable[str | None] = (),
        max_output_tokens: int = MAX_OUTPUT_TOKENS,
        output_tokens_ceiling: int = MAX_OUTPUT_TOKENS_CEILING,
    ) -> None:
        self.model_id = model_id
        self.region = resolve_region(region)
        self.max_prompt_tokens = max_prompt_tokens
        self.retry = RetryPolicy(max_retries=max_retries, sleep=sleep)
        self.timeout_s = timeout_s
        self.max_output_tokens = max_output_tokens
        self.output_tokens_ceiling = output_tokens_ceiling
        self.usage = Usage()
        self.schema_repairs = 0
        """How many replies so far were not a valid proposal and got the one schema repair round."""
        # The AWS secret key and session token are among ``secrets`` (BackendSettings.aws_secrets):
        # an error text may echo a request header (X-Amz-Security-Token).
        self._redactor = Redactor(secrets)
        if client is not None:
            self._client = client
            return
        config = botocore.config.Config(
            connect_timeout=timeout_s,
            read_timeout=timeout_s,
            retries={"mode": "standard", "total_max_attempts": 1},
        )
        try:
            self._client = boto3.session.Session().client(
                "bedrock-runtime", region_name=self.region, endpoint_url=endpoint_url, config=config
            )
        except botocore.exceptions.BotoCoreError as err:
            raise BackendError(
                "config", f"cannot build the Bedrock client for Region {self.region}: {err}"
            ) from err

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
        """Ask Nova once (plus one repair round) for a :class:`Proposal`; see module doc.

        Raises :class:`BackendError` for every failure, its message redacted of the secrets.
        """
        with error_boundary(self._redactor, self.name):
            return self._propose(request)

    @property
    def endpoint(self) -> str:
        """The Bedrock runtime endpoint as it appears in messages (no query)."""
        url = getattr(getattr(self._client, "meta", None), "endpoint_url", None)
        return display_url(url) if isinstance(url, str) else f"Bedrock in {self.region}"

    def _propose(self, request: ProposalRequest) -> Proposal:
        prompt = build_messages(request, max_prompt_tokens=self.max_prompt_tokens, output_mode="tool")
        system = [{"text": prompt.system}]
        messages: list[dict[str, Any]] = [{"role": "user", "content": [{"text": prompt.user}]}]

        reply = self._converse(system, messages)
        proposal, errors, tool_use_id, assistant = _read_reply(reply)
        if proposal is not None:
            return proposal
        log.info("bedrock reply invalid (%d problems); one repair round", len(errors))
        self.schema_repairs += 1
        repair_text = render_repair(errors, output_mode="tool")
        messages.append(assistant)
        if tool_use_id is not None:
            content: list[dict[str, Any]] = [
                {
                    "toolResult": {
                        "toolUseId": tool_use_id,
                        "content": [{"text": "\n".join(errors)}],
                        "status": "error",
                    }
                },
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

    def repair_edits(
        self, request: ProposalRequest, previous: Proposal, failures: list[EditFailure]
    ) -> Proposal:
        """One patch-repair round (:func:`ci_healer.backends.llm.build_repair_messages`) through the
        same forced tool call; an invalid reply is ``BackendError("invalid_output")`` at once."""
        with error_boundary(self._redactor, self.name):
            return self._repair_edits(request, previous, failures)

    def _repair_edits(
        self, request: ProposalRequest, previous: Proposal, failures: list[EditFailure]
    ) -> Proposal:
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
        """One Converse call (with retries, and one retry with a larger ``maxTokens`` when the reply
        stopped at ``max_tokens``). Raises :class:`BackendError` for a body that is no Converse
        response, an empty or refused reply, or a reply cut off twice."""
        limit = self.max_output_tokens

        def attempt() -> dict[str, Any]:
            return _check_reply(self._call(system, messages, limit), self.endpoint)

        while True:
            reply = call_with_retries(attempt, self.retry)
            if reply.get("stopReason") != "max_tokens":
                return reply
            bigger = larger_output_budget(limit, self.output_tokens_ceiling)
            if bigger is None:
                raise truncated_error(limit, "stopReason: max_tokens", "maxTokens")
            log.info("bedrock reply cut off at %d tokens; asking once more with %d", limit, bigger)
            limit = bigger

    def _call(
        self, system: list[dict[str, str]], messages: list[dict[str, Any]], max_tokens: int
    ) -> dict[str, Any]:
        reply = self._send(system, messages, max_tokens)
        usage = reply.get("usage") if isinstance(reply, dict) else None
        self.usage = self.usage.add(usage_count(usage, "inputTokens"), usage_count(usage, "outputTokens"))
        return reply

    def _send(
        self, system: list[dict[str, str]], messages: list[dict[str, Any]], max_tokens: int
    ) -> dict[str, Any]:
        try:
            return self._client.converse(
                modelId=self.model_id,
                system=system,
                messages=messages,
                inferenceConfig={"maxTokens": max_tokens, "temperature": 0.0},
                toolConfig=self.tool_config(),
            )
        except botocore.exceptions.ClientError as err:
            raise self._map_client_error(err) from err
        except (botocore.exceptions.ReadTimeoutError, botocore.exceptions.ConnectTimeoutError) as err:
            raise BackendError(
                "timeout",
                f"Bedrock ({self.endpoint}) did not answer within {self.timeout_s:g} s (input llm-timeout): "
                f"{type(err).__name__}; raise llm-timeout or try a smaller model",
            ) from err
        except (botocore.exceptions.NoCredentialsError, botocore.exceptions.PartialCredentialsError) as err:
            raise BackendError(
                "auth", f"no AWS credentials for Bedrock: {err}; configure an IAM role or keys"
            ) from err
        except botocore.exceptions.EndpointConnectionError as err:
            raise RetryableError(
                "unavailable", f"cannot reach Bedrock at {self.endpoint} ({type(err).__name__})"
            ) from err
        except botocore.exceptions.ParamValidationError as err:
            raise BackendError("config", f"Bedrock request rejected by the SDK: {err}") from err
        except botocore.exceptions.BotoCoreError as err:
            raise RetryableError("unavailable", f"Bedrock call failed: {err}") from err
        except ValueError as err:  # botocore.parsers.ResponseParserError and JSON decoding
            raise RetryableError(
                "unavailable",
                f"Bedrock's reply could not be decoded ({type(err).__name__}) at {self.endpoint}",
            ) from err

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


def _check_reply(reply: dict[str, Any], endpoint: str) -> dict[str, Any]:
    """``reply`` when it is a Converse response with content (or cut off at ``max_tokens``, which
    the caller handles); raises :class:`BackendError` otherwise.

    botocore turns an HTTP 200 body it cannot parse (a proxy's HTML page, JSON cut in transit) into
    a response with only ``ResponseMetadata``, so a missing ``output`` is told apart by the
    Content-Type: not JSON → ``config``; JSON → ``unavailable`` (retried).
    """
    stop = reply.get("stopReason")
    output = reply.get("output")
    if not isinstance(output, dict) or stop is None:
        headers = reply.get("ResponseMetadata", {}).get("HTTPHeaders", {})
        media_type = (
            str(headers.get("content-type", "")).split(";", 1)[0].strip().lower() or "no Content-Type"
        )
        if "json" not in media_type:
            raise BackendError(
                "config",
                f"Bedrock ({endpoint}) answered HTTP 200 with {media_type}, not JSON: the endpoint seems to be a proxy, "
                "login or error page rather than bedrock-runtime",
            )
        raise RetryableError(
            "unavailable",
            f"Bedrock ({endpoint}) answered HTTP 200 with a body that is not a Converse response (no output or stopReason; "
            "invalid or cut JSON)",
        )
    if stop in _REFUSED_STOPS:
        raise BackendError(
            "refused",
            f"Bedrock stopped the reply (stopReason: {stop}): a guardrail or content filter blocked it",
        )
    if stop == "max_tokens":
        return reply
    message = output.get("message")
    if not isinstance(message, dict) or not message.get("content"):
        raise BackendError(
            "invalid_output",
            f"Bedrock returned an empty message (stopReason: {stop}): the model produced neither text nor the {SCHEMA_NAME} tool call",
        )
    return reply


def _read_reply(reply: dict[str, Any]) -> tuple[Proposal | None, list[str], str | None, dict[str, Any]]:
    """``(proposal, errors, toolUseId, assistant message)`` from a Converse response.

    The proposal is the ``submit_proposal`` toolUse input; with no tool call, a JSON object in the
    text content is accepted too. ``errors`` lists validation problems when the proposal is None.
    """
    message = reply.get("output", {}).get("message") or {"role": "assistant", "content": []}
    content = message.get("content") or []
    tool_use = next(
        (c["toolUse"] for c in content if "toolUse" in c and c["toolUse"].get("name") == SCHEMA_NAME), None
    )
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
    return (
        None,
        [f"(whole reply): the reply did not call the tool {SCHEMA_NAME} (stopReason {stop})", *errors],
        None,
        assistant,
    )


__all__ = ["DEFAULT_NOVA_MODEL", "BedrockBackend", "resolve_region"]
