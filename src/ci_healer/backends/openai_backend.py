"""Proposals from the OpenAI Chat Completions API or any server that speaks it.

Works with api.openai.com, Azure OpenAI's v1 endpoint, GitHub Models
(``https://models.github.ai/inference``; keyed with the GitHub token), Ollama
(``http://localhost:11434/v1``) and vLLM, through the official ``openai`` SDK's
``client.chat.completions.create``.

Output format: ``response_format={"type": "json_schema", "json_schema": {"name": "submit_proposal",
"schema": <proposal_json_schema()>, "strict": true}}`` (OpenAI Structured Outputs). When the server
refuses it naming ``response_format``/``json_schema`` (servers without structured outputs: a 400, or
a request-validation error answered as 422 by FastAPI servers and as 500 by llama-cpp-python's
``llama_cpp.server``), the same call is made once more with ``{"type": "json_object"}`` (JSON mode; the system prompt carries
the field list and an example) and later calls keep that mode. The schema is not sent beside
``json_object``: llama-cpp-python 0.3.36 accepts it there and its server process dies turning this
schema into a grammar. The reply is validated with
:func:`ci_healer.backends.llm.parse_proposal` either way, with one repair round.

Errors: 401/403 → ``auth``; 429 → ``throttled`` and 5xx/connection errors → ``unavailable`` (both
retried, honouring ``Retry-After``); the SDK's timeout → ``timeout`` (not retried; the message names
the limit and the input ``llm-timeout``); other 4xx → ``config``. The SDK's own retries are turned off
on the client built here so one policy governs. The HTTP 200 body is decoded here (raw response),
not by the SDK: a body that is not JSON (a proxy's login page) → ``config``; JSON cut in transit →
``unavailable`` (retried); JSON that is no completion → ``invalid_output``; an empty ``choices`` list
→ ``invalid_output`` ("returned no choices"); a ``refusal`` or ``finish_reason: content_filter`` →
``refused``; ``finish_reason: length`` → asked once more with twice the ``max_completion_tokens``
(up to :data:`~ci_healer.backends.llm.MAX_OUTPUT_TOKENS_CEILING`), then ``truncated``. Messages name
the endpoint by scheme, host and path only, and are redacted of every secret.

Usage: every completion's ``usage.prompt_tokens`` / ``usage.completion_tokens`` (the documented
Chat Completions response fields) is added to :attr:`OpenAIBackend.usage`, a running
:class:`~ci_healer.models.Usage`; a reply without them counts as ``unreported``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple
from urllib.parse import urlparse

import openai
from openai.types.chat import ChatCompletionMessageParam
from openai.types.shared_params import ResponseFormatJSONObject, ResponseFormatJSONSchema
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
    check_base_url,
    describe_validation_error,
    display_url,
    echo_for_repair,
    error_boundary,
    invalid_output,
    larger_output_budget,
    parse_proposal,
    parse_retry_after,
    proposal_json_schema,
    redacted_error,
    render_repair,
    truncated_error,
    usage_count,
)
from ci_healer.models import EditFailure, Proposal, ProposalRequest, Usage
from ci_healer.redact import Redactor

log = logging.getLogger(__name__)

DEFAULT_OPENAI_MODEL = "gpt-4o-mini"
DEFAULT_GITHUB_MODELS_MODEL = "openai/gpt-4o-mini"
GITHUB_MODELS_HOSTS = frozenset({"models.github.ai", "models.inference.ai.azure.com"})
_FORMAT_HINTS = ("response_format", "json_schema", "structured output", "strict")
_NO_KEY = "unused"
"""Bearer token sent to a server that needs none (not a secret, so never redacted)."""


def is_github_models(base_url: str | None) -> bool:
    """True when ``base_url`` points at GitHub Models (which takes a GitHub token as the key)."""
    return bool(base_url) and (urlparse(base_url).hostname or "").lower() in GITHUB_MODELS_HOSTS


class _Reply(NamedTuple):
    text: str
    truncated: bool
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


class OpenAIBackend:
    """``Backend`` on an OpenAI-compatible Chat Completions endpoint.

    ``model``: model name (default ``gpt-4o-mini``, or ``openai/gpt-4o-mini`` on GitHub Models).
    ``api_key``: the key, from the settings (:func:`ci_healer.backends.make_backend`: input
    ``openai-api-key``, the CLI's ``OPENAI_API_KEY``, or the GitHub token for GitHub Models); only
    a custom ``base_url`` may go without one (Ollama, vLLM). ``timeout_s``: per request, seconds
    (input ``llm-timeout``). ``max_retries``: retries after the first attempt on 429/5xx/connection
    errors. ``client``: an ``openai.OpenAI`` to use instead of building one (tests, Azure clients).
    ``strict``: send ``strict: true`` with the schema. ``sleep``: the backoff's sleep function.
    ``secrets``: literal values (the GitHub token, ...) redacted from every error message, besides
    the key itself. ``max_output_tokens``: ``max_completion_tokens`` of a request; a reply cut off
    by it is asked once more with up to ``output_tokens_ceiling``. ``usage``: the running
    :class:`~ci_healer.models.Usage` of every reply received (the engine reports each analysis'
    share).
    Raises ``BackendError("auth")`` at construction when no key can be found for api.openai.com,
    ``BackendError("config")`` when ``base_url`` is not an http(s) URL.
    """

    name = "openai"

    def __init__(
        self,
        *,
        model: str | None = None,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout_s: float = 60.0,
        max_retries: int = 3,
        client: openai.OpenAI | None = None,
        max_prompt_tokens: int = DEFAULT_MAX_PROMPT_TOKENS,
        strict: bool = True,
        sleep: Callable[[float], None] = time.sleep,
        secrets: Iterable[str | None] = (),
        max_output_tokens: int = MAX_OUTPUT_TOKENS,
        output_tokens_ceiling: int = MAX_OUTPUT_TOKENS_CEILING,
    ) -> None:
        github_models = is_github_models(base_url)
        self.model = model or (DEFAULT_GITHUB_MODELS_MODEL if github_models else DEFAULT_OPENAI_MODEL)
        self.max_prompt_tokens = max_prompt_tokens
        self.strict = strict
        self.retry = RetryPolicy(max_retries=max_retries, sleep=sleep)
        self.timeout_s = timeout_s
        self.max_output_tokens = max_output_tokens
        self.output_tokens_ceiling = output_tokens_ceiling
        self._json_mode_only = False
        self.usage = Usage()
        self.schema_repairs = 0
        """How many replies so far were not a valid proposal and got the one schema repair round."""
        secrets = [s for s in secrets if s]
        self._redactor = Redactor(secrets)
        if client is not None:
            self._client = client
            self.endpoint = display_url(str(client.base_url))
            self._redactor = Redactor([*secrets, client.api_key if client.api_key != _NO_KEY else None])
            return
        if base_url is not None:
            try:
                check_base_url(base_url)
            except ValueError as err:
                raise BackendError("config", f"openai-base-url {err}") from None
        self.endpoint = display_url(base_url or "https://api.openai.com/v1")
        key = api_key  # from the settings: openai-api-key / OPENAI_API_KEY, or the GitHub token
        if key:
            self._redactor = Redactor([*secrets, key])
        else:
            if base_url is None or github_models:
                where = "GITHUB_TOKEN" if github_models else "OPENAI_API_KEY or openai-api-key"
                raise BackendError("auth", f"no API key for the openai backend: set {where}")
            key = _NO_KEY  # local servers (Ollama, vLLM) ignore the bearer token
        try:
            self._client = openai.OpenAI(api_key=key, base_url=base_url, timeout=timeout_s, max_retries=0)
        except openai.OpenAIError as err:  # e.g. a malformed base URL
            raise redacted_error(
                BackendError("config", f"cannot build the OpenAI client for {self.endpoint}: {err}"),
                self._redactor,
            ) from None

    # ------------------------------------------------------------------------------------------

    def propose(self, request: ProposalRequest) -> Proposal:
        """Ask the model once (plus one repair round) for a :class:`Proposal`; see module doc.

        Raises :class:`BackendError` for every failure (transport, HTTP status, a body that is not
        a completion, a cut-off or refused reply, an invalid reply after the repair round), its
        message redacted of the key and the other secrets.
        """
        with error_boundary(self._redactor, self.name):
            return self._propose(request)

    def _propose(self, request: ProposalRequest) -> Proposal:
        prompt = build_messages(request, max_prompt_tokens=self.max_prompt_tokens, output_mode="json")
        messages: list[ChatCompletionMessageParam] = [
            {"role": "system", "content": prompt.system},
            {"role": "user", "content": prompt.user},
        ]
        reply = self._complete(messages)
        try:
            return parse_proposal(reply)
        except ValidationError as err:
            errors = describe_validation_error(err)
        log.info("openai reply invalid (%d problems); one repair round", len(errors))
        self.schema_repairs += 1
        messages += [
            {"role": "assistant", "content": echo_for_repair(reply)},
            {"role": "user", "content": render_repair(errors, output_mode="json")},
        ]
        reply = self._complete(messages)
        try:
            return parse_proposal(reply)
        except ValidationError as err:
            raise invalid_output(describe_validation_error(err)) from None

    def repair_edits(
        self, request: ProposalRequest, previous: Proposal, failures: list[EditFailure]
    ) -> Proposal:
        """One patch-repair round (:func:`ci_healer.backends.llm.build_repair_messages`); an invalid
        reply is ``BackendError("invalid_output")`` at once (no second schema repair)."""
        with error_boundary(self._redactor, self.name):
            return self._repair_edits(request, previous, failures)

    def _repair_edits(
        self, request: ProposalRequest, previous: Proposal, failures: list[EditFailure]
    ) -> Proposal:
        prompt = build_repair_messages(
            request, previous, failures, max_prompt_tokens=self.max_prompt_tokens, output_mode="json"
        )
        messages: list[ChatCompletionMessageParam] = [
            {"role": "system", "content": prompt.system},
            {"role": "user", "content": prompt.user},
            {"role": "assistant", "content": prompt.previous},
            {"role": "user", "content": prompt.repair},
        ]
        reply = self._complete(messages)
        try:
            return parse_proposal(reply)
        except ValidationError as err:
            raise invalid_output(describe_validation_error(err)) from None

    def _complete(self, messages: list[ChatCompletionMessageParam]) -> str:
        """One chat completion (with retries, and one retry with a larger output cap when the reply
        was cut off); returns the message text ('' when none)."""
        limit = self.max_output_tokens

        def attempt() -> _Reply:
            try:
                return self._create(messages, limit)
            except BackendError as err:
                if self._json_mode_only or not _is_format_rejection(err):
                    raise
                log.info("endpoint rejected json_schema output; falling back to JSON mode")
                self._json_mode_only = True
                return self._create(messages, limit)

        while True:
            reply = call_with_retries(attempt, self.retry)
            if not reply.truncated:
                return reply.text
            bigger = larger_output_budget(limit, self.output_tokens_ceiling)
            if bigger is None:
                raise truncated_error(limit, "finish_reason: length", "max_completion_tokens")
            log.info("openai reply cut off at %d tokens; asking once more with %d", limit, bigger)
            limit = bigger

    def response_format(self) -> ResponseFormatJSONSchema | ResponseFormatJSONObject:
        """The ``response_format`` the next request sends (json_schema, or json_object after a fallback)."""
        if self._json_mode_only:
            return {"type": "json_object"}
        return {
            "type": "json_schema",
            "json_schema": {
                "name": SCHEMA_NAME,
                "description": SCHEMA_DESCRIPTION,
                "schema": proposal_json_schema(),
                "strict": self.strict,
            },
        }

    def _create(self, messages: list[ChatCompletionMessageParam], max_tokens: int) -> _Reply:
        try:
            raw = self._client.chat.completions.with_raw_response.create(
                model=self.model,
                messages=messages,
                response_format=self.response_format(),
                max_completion_tokens=max_tokens,
            )
        except openai.APIError as err:
            raise _map_error(err, self.endpoint, self.timeout_s) from err
        reply = _read_completion(raw.text, raw.headers.get("content-type", ""), self.endpoint)
        self.usage = self.usage.add(reply.prompt_tokens, reply.completion_tokens)
        return reply


def _read_completion(body: str, content_type: str, endpoint: str) -> _Reply:
    """The reply text of a Chat Completions HTTP 200 body, decoded and checked here rather than by
    the SDK (which hands back a bare string for a non-JSON body and raises ``JSONDecodeError`` for
    broken JSON). Raises :class:`BackendError` naming what is wrong with the body."""
    media_type = content_type.split(";", 1)[0].strip().lower() or "no Content-Type"
    try:
        data = json.loads(body)
    except ValueError as err:
        if "json" not in media_type:
            raise BackendError(
                "config",
                f"the endpoint {endpoint} answered HTTP 200 with {media_type}, not JSON ({len(body)} characters): "
                "openai-base-url seems to point at a proxy, login or error page instead of an OpenAI-compatible API (…/v1)",
            ) from None
        raise RetryableError(
            "unavailable",
            f"the endpoint {endpoint} answered HTTP 200 with invalid JSON ({getattr(err, 'msg', 'undecodable')}; character "
            f"{getattr(err, 'pos', '?')} of {len(body)}): the body was probably cut in transit",
        ) from None
    choices = data.get("choices") if isinstance(data, dict) else None
    if not isinstance(choices, list):
        error = data.get("error") if isinstance(data, dict) else None
        what = (
            "an error object" if error is not None else f"JSON without a choices list ({type(data).__name__})"
        )
        raise BackendError(
            "invalid_output", f"the endpoint {endpoint} answered HTTP 200 with {what}, not a chat completion"
        )
    if not choices:
        raise BackendError(
            "invalid_output",
            f"the endpoint {endpoint} returned no choices (an empty choices list); the request was accepted but no reply "
            "was generated, which some proxies and content filters do",
        )
    choice: dict[str, Any] = choices[0] if isinstance(choices[0], dict) else {}
    message_value = choice.get("message")
    message: dict[str, Any] = message_value if isinstance(message_value, dict) else {}
    refusal = message.get("refusal")
    if isinstance(refusal, str) and refusal.strip():
        raise BackendError("refused", f"the model refused to answer: {' '.join(refusal.split())[:200]}")
    finish = choice.get("finish_reason")
    if finish == "content_filter":
        raise BackendError(
            "refused",
            f"the endpoint's content filter stopped the reply (finish_reason: content_filter) at {endpoint}",
        )
    content = message.get("content")
    text = content if isinstance(content, str) else ""
    usage = data.get("usage")
    return _Reply(
        text, finish == "length", usage_count(usage, "prompt_tokens"), usage_count(usage, "completion_tokens")
    )


def _is_format_rejection(err: BackendError) -> bool:
    """True when the endpoint refused the request's ``response_format``: a 400 naming it, or a
    request-validation error about that field whatever the status (FastAPI servers answer 422,
    llama-cpp-python's server 500 with ``'loc': ('body', 'response_format', 'type')``)."""
    text = str(err).lower()
    if err.code == "config" and "400" in text and any(hint in text for hint in _FORMAT_HINTS):
        return True
    return "response_format" in text and ("validation error" in text or "literal_error" in text)


def _map_error(err: openai.APIError, endpoint: str, timeout_s: float) -> BackendError:
    """Map an SDK exception to a :class:`BackendError` with a stable code (see module doc)."""
    if isinstance(err, openai.APITimeoutError):
        return BackendError(
            "timeout",
            f"the OpenAI-compatible endpoint {endpoint} did not answer within {timeout_s:g} s (input llm-timeout); "
            "raise llm-timeout for a slow local model",
        )
    if isinstance(err, openai.APIConnectionError):
        cause = err.__cause__
        why = f"{type(cause).__name__}: {cause}" if cause is not None else str(err)
        return RetryableError(
            "unavailable", f"cannot reach the OpenAI-compatible endpoint {endpoint}: {_one_line(why)}"
        )
    if isinstance(err, openai.APIStatusError):
        status = err.status_code
        detail = _error_detail(err)
        retry_after = parse_retry_after(err.response.headers.get("retry-after"))
        if status in (401, 403):
            return BackendError(
                "auth", f"the endpoint {endpoint} refused the credentials (HTTP {status}): {detail}"
            )
        if status == 429:
            return RetryableError(
                "throttled", f"rate limited by the endpoint (HTTP 429): {detail}", retry_after_s=retry_after
            )
        if status == 408:
            return BackendError("timeout", f"the endpoint timed out (HTTP 408): {detail}")
        if status >= 500:
            return RetryableError(
                "unavailable", f"the endpoint failed (HTTP {status}): {detail}", retry_after_s=retry_after
            )
        return BackendError(
            "config", f"the endpoint {endpoint} rejected the request (HTTP {status}): {detail}"
        )
    return BackendError("unavailable", f"OpenAI SDK error: {_one_line(str(err))}")


def _one_line(text: str, limit: int = 300) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _error_detail(err: openai.APIStatusError) -> str:
    body = err.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return " ".join(str(inner["message"]).split())[:300]
    return " ".join(str(err.message).split())[:300]


__all__ = [
    "DEFAULT_GITHUB_MODELS_MODEL",
    "DEFAULT_OPENAI_MODEL",
    "OpenAIBackend",
    "check_base_url",
    "is_github_models",
]
