"""Proposals from the OpenAI Chat Completions API or any server that speaks it.

Works with api.openai.com, Azure OpenAI's v1 endpoint, GitHub Models
(``https://models.github.ai/inference``; the key defaults to ``GITHUB_TOKEN``), Ollama
(``http://localhost:11434/v1``) and vLLM, through the official ``openai`` SDK's
``client.chat.completions.create``.

Output format: ``response_format={"type": "json_schema", "json_schema": {"name": "submit_proposal",
"schema": <proposal_json_schema()>, "strict": true}}`` (OpenAI Structured Outputs). When the server
answers 400 naming ``response_format``/``json_schema`` (servers without structured outputs), the
same call is made once more with ``{"type": "json_object"}`` (JSON mode; the system prompt carries
the field list and an example) and later calls keep that mode. The reply is validated with
:func:`ci_healer.backends.llm.parse_proposal` either way, with one repair round.

Errors: 401/403 → ``auth``; 429 → ``throttled`` and 5xx/connection errors → ``unavailable`` (both
retried, honouring ``Retry-After``); the SDK's timeout → ``timeout``; other 4xx → ``config``. The SDK's
own retries are turned off on the client built here so one policy governs.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlparse

import openai
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
    parse_retry_after,
    proposal_json_schema,
    render_repair,
)
from ci_healer.models import EditFailure, Proposal, ProposalRequest

log = logging.getLogger(__name__)

DEFAULT_OPENAI_MODEL = "gpt-4o-mini"
DEFAULT_GITHUB_MODELS_MODEL = "openai/gpt-4o-mini"
GITHUB_MODELS_HOSTS = frozenset({"models.github.ai", "models.inference.ai.azure.com"})
_FORMAT_HINTS = ("response_format", "json_schema", "structured output", "strict")


def is_github_models(base_url: str | None) -> bool:
    """True when ``base_url`` points at GitHub Models (which takes a GitHub token as the key)."""
    return bool(base_url) and (urlparse(base_url).hostname or "").lower() in GITHUB_MODELS_HOSTS


class OpenAIBackend:
    """``Backend`` on an OpenAI-compatible Chat Completions endpoint.

    ``model``: model name (default ``gpt-4o-mini``, or ``openai/gpt-4o-mini`` on GitHub Models).
    ``api_key``: the key; when None, ``GITHUB_TOKEN`` for GitHub Models, else ``OPENAI_API_KEY``;
    a custom ``base_url`` may go without one (Ollama, vLLM). ``timeout_s``: per request, seconds.
    ``max_retries``: retries after the first attempt on 429/5xx/connection errors.
    ``client``: an ``openai.OpenAI`` to use instead of building one (tests, Azure clients).
    ``strict``: send ``strict: true`` with the schema. ``sleep``: the backoff's sleep function.
    Raises ``BackendError("auth")`` at construction when no key can be found for api.openai.com.
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
    ) -> None:
        github_models = is_github_models(base_url)
        self.model = model or (DEFAULT_GITHUB_MODELS_MODEL if github_models else DEFAULT_OPENAI_MODEL)
        self.max_prompt_tokens = max_prompt_tokens
        self.strict = strict
        self.retry = RetryPolicy(max_retries=max_retries, sleep=sleep)
        self._json_mode_only = False
        if client is not None:
            self._client = client
            return
        key = api_key or os.environ.get("GITHUB_TOKEN" if github_models else "OPENAI_API_KEY")
        if not key:
            if base_url is None or github_models:
                where = "GITHUB_TOKEN" if github_models else "OPENAI_API_KEY or openai-api-key"
                raise BackendError("auth", f"no API key for the openai backend: set {where}")
            key = "unused"  # local servers (Ollama, vLLM) ignore the bearer token
        try:
            self._client = openai.OpenAI(api_key=key, base_url=base_url, timeout=timeout_s, max_retries=0)
        except openai.OpenAIError as err:  # e.g. a malformed base URL
            raise BackendError("config", f"cannot build the OpenAI client: {err}") from err

    # ------------------------------------------------------------------------------------------

    def propose(self, request: ProposalRequest) -> Proposal:
        """Ask the model once (plus one repair round) for a :class:`Proposal`; see module doc."""
        prompt = build_messages(request, max_prompt_tokens=self.max_prompt_tokens, output_mode="json")
        messages: list[dict[str, str]] = [
            {"role": "system", "content": prompt.system},
            {"role": "user", "content": prompt.user},
        ]
        reply = self._complete(messages)
        try:
            return parse_proposal(reply)
        except ValidationError as err:
            errors = describe_validation_error(err)
        log.info("openai reply invalid (%d problems); one repair round", len(errors))
        messages += [
            {"role": "assistant", "content": echo_for_repair(reply)},
            {"role": "user", "content": render_repair(errors, output_mode="json")},
        ]
        reply = self._complete(messages)
        try:
            return parse_proposal(reply)
        except ValidationError as err:
            raise invalid_output(describe_validation_error(err)) from None

    def repair_edits(self, request: ProposalRequest, previous: Proposal, failures: list[EditFailure]) -> Proposal:
        """One patch-repair round (:func:`ci_healer.backends.llm.build_repair_messages`); an invalid
        reply is ``BackendError("invalid_output")`` at once (no second schema repair)."""
        prompt = build_repair_messages(
            request, previous, failures, max_prompt_tokens=self.max_prompt_tokens, output_mode="json"
        )
        messages = [
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

    def _complete(self, messages: list[dict[str, str]]) -> str:
        """One chat completion (with retries); returns the message text ('' when none)."""

        def attempt() -> str:
            try:
                return self._create(messages)
            except BackendError as err:
                if err.code != "config" or self._json_mode_only or not _is_format_rejection(err):
                    raise
                log.info("endpoint rejected json_schema output; falling back to JSON mode")
                self._json_mode_only = True
                return self._create(messages)

        return call_with_retries(attempt, self.retry)

    def response_format(self) -> dict[str, Any]:
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

    def _create(self, messages: list[dict[str, str]]) -> str:
        try:
            completion = self._client.chat.completions.create(
                model=self.model,
                messages=messages,  # type: ignore[arg-type]
                response_format=self.response_format(),  # type: ignore[arg-type]
                max_completion_tokens=MAX_OUTPUT_TOKENS,
            )
        except openai.APIError as err:
            raise _map_error(err) from err
        choices = getattr(completion, "choices", None) or []
        if not choices:
            return ""
        message = choices[0].message
        refusal = getattr(message, "refusal", None)
        if refusal:
            return f"(the model refused: {refusal})"
        return message.content or ""


def _is_format_rejection(err: BackendError) -> bool:
    text = str(err).lower()
    return "400" in text and any(hint in text for hint in _FORMAT_HINTS)


def _map_error(err: openai.APIError) -> BackendError:
    """Map an SDK exception to a :class:`BackendError` with a stable code (see module doc)."""
    if isinstance(err, openai.APITimeoutError):
        return BackendError("timeout", "the OpenAI-compatible endpoint did not answer within the timeout")
    if isinstance(err, openai.APIConnectionError):
        return RetryableError("unavailable", f"cannot reach the OpenAI-compatible endpoint: {err}")
    if isinstance(err, openai.APIStatusError):
        status = err.status_code
        detail = _error_detail(err)
        retry_after = parse_retry_after(err.response.headers.get("retry-after"))
        if status in (401, 403):
            return BackendError("auth", f"the endpoint refused the credentials (HTTP {status}): {detail}")
        if status == 429:
            return RetryableError("throttled", f"rate limited by the endpoint (HTTP 429): {detail}", retry_after_s=retry_after)
        if status == 408:
            return BackendError("timeout", f"the endpoint timed out (HTTP 408): {detail}")
        if status >= 500:
            return RetryableError("unavailable", f"the endpoint failed (HTTP {status}): {detail}", retry_after_s=retry_after)
        return BackendError("config", f"the endpoint rejected the request (HTTP {status}): {detail}")
    return BackendError("unavailable", f"OpenAI SDK error: {err}")


def _error_detail(err: openai.APIStatusError) -> str:
    body = err.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return " ".join(str(inner["message"]).split())[:300]
    return " ".join(str(err.message).split())[:300]


__all__ = ["DEFAULT_GITHUB_MODELS_MODEL", "DEFAULT_OPENAI_MODEL", "OpenAIBackend", "is_github_models"]
