"""Proposal backends: ``rules`` (offline), ``openai`` (and compatible endpoints), ``bedrock``.

:func:`make_backend` is the one place that turns settings into a backend; ``auto`` picks an LLM
backend only when its credentials are present in the environment, else the offline ``rules``.
"""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import BaseModel, Field, SecretStr

from ci_healer.backends.base import Backend, BackendError, RepairingBackend
from ci_healer.repo import RepoSource

BackendName = Literal["auto", "rules", "openai", "bedrock", "github-models"]
BACKEND_NAMES: tuple[BackendName, ...] = get_args(BackendName)

GITHUB_MODELS_BASE_URL = "https://models.github.ai/inference"
"""The GitHub Models inference endpoint (OpenAI-compatible) that backend ``github-models`` calls."""


class BackendSettings(BaseModel):
    """Backend choice and its connection settings (secrets are hidden from ``repr``)."""

    backend: BackendName = "auto"
    model: str | None = Field(default=None, description="Model id; each backend has a documented default.")
    openai_base_url: str | None = None
    openai_api_key: SecretStr | None = None
    github_token: SecretStr | None = Field(
        default=None, description="Used as the key for GitHub Models endpoints."
    )
    aws_region: str | None = None
    aws_credentials: bool = Field(
        default=False,
        description="AWS credentials are in the environment, for boto3's default chain (auto picks bedrock).",
    )
    aws_secrets: list[SecretStr] = Field(
        default_factory=list,
        repr=False,
        description="The environment's AWS secret access key and session token, redacted like every secret.",
    )
    timeout_s: float = Field(
        default=60.0, gt=0, le=3600, description="Per LLM request, seconds (input llm-timeout)."
    )
    max_retries: int = Field(default=3, ge=0, le=10)
    max_prompt_tokens: int = Field(default=6000, ge=1500)

    def secret_values(self) -> list[str]:
        """The literal secret values, for redaction and ``::add-mask::``."""
        return [
            s.get_secret_value()
            for s in (self.openai_api_key, self.github_token, *self.aws_secrets)
            if s is not None and s.get_secret_value()
        ]


def resolve_backend_name(settings: BackendSettings) -> str:
    """``auto`` → ``openai`` when an API key or base URL is configured, ``bedrock`` when AWS credentials
    are in the environment (``settings.aws_credentials``), else ``rules``. Explicit names are
    returned unchanged."""
    if settings.backend != "auto":
        return settings.backend
    if settings.openai_api_key is not None or settings.openai_base_url:
        return "openai"
    if settings.aws_credentials:
        return "bedrock"
    return "rules"


def make_backend(settings: BackendSettings, *, repo: RepoSource | None) -> Backend:
    """Build the backend ``settings`` ask for.

    Raises :class:`BackendError` (code ``config``) when a required setting is missing or invalid,
    e.g. the ``openai`` backend with neither an API key, a GitHub token nor a base URL, or a base
    URL without ``http://``/``https://``. Every secret of ``settings`` is handed to the backend,
    which redacts it from its error messages. Credentials come only from ``settings``
    (:func:`ci_healer.settings.backend_from_environment` reads the environment's).
    """
    name = resolve_backend_name(settings)
    if name == "github-models":
        # One word for the zero-secret start: the openai backend on GitHub Models (its default model,
        # openai/gpt-4o-mini), keyed with the GitHub token only; an OpenAI key never goes there.
        from ci_healer.backends.openai_backend import is_github_models

        if settings.github_token is None:
            raise BackendError(
                "config", "the github-models backend needs a GitHub token (GITHUB_TOKEN, with `models: read`)"
            )
        url = (
            settings.openai_base_url if is_github_models(settings.openai_base_url) else GITHUB_MODELS_BASE_URL
        )
        settings, name = (
            settings.model_copy(update={"openai_base_url": url, "openai_api_key": None}),
            "openai",
        )
    if name == "rules":
        from ci_healer.backends.rules import RulesBackend

        return RulesBackend(repo)
    if name == "openai":
        from ci_healer.backends.openai_backend import OpenAIBackend, is_github_models

        # The GitHub token is a key only for GitHub Models; any other endpoint never receives it.
        key = settings.openai_api_key or (
            settings.github_token if is_github_models(settings.openai_base_url) else None
        )
        if key is None and not settings.openai_base_url:
            raise BackendError(
                "config",
                "the openai backend needs openai-api-key (or a base URL of a server that needs none)",
            )
        return OpenAIBackend(
            api_key=key.get_secret_value() if key is not None else None,
            base_url=settings.openai_base_url,
            timeout_s=settings.timeout_s,
            max_retries=settings.max_retries,
            max_prompt_tokens=settings.max_prompt_tokens,
            secrets=settings.secret_values(),
            model=settings.model,
        )
    if name == "bedrock":
        from ci_healer.backends.bedrock import DEFAULT_NOVA_MODEL, BedrockBackend

        return BedrockBackend(
            region=settings.aws_region,
            timeout_s=settings.timeout_s,
            max_retries=settings.max_retries,
            max_prompt_tokens=settings.max_prompt_tokens,
            secrets=settings.secret_values(),
            model_id=settings.model if settings.model is not None else DEFAULT_NOVA_MODEL,
        )
    raise BackendError(
        "config", f"unknown backend {name!r}: use auto, rules, openai, bedrock or github-models"
    )


__all__ = [
    "GITHUB_MODELS_BASE_URL",
    "Backend",
    "BackendError",
    "BackendSettings",
    "RepairingBackend",
    "make_backend",
    "resolve_backend_name",
]
