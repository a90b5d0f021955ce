"""The Action's settings, parsed once from ``INPUT_*`` and ``GITHUB_*`` environment variables.

GitHub passes a docker action's inputs as ``INPUT_<NAME>`` with the name upper-cased and the hyphen
*kept* (``INPUT_GITHUB-TOKEN``); other runners and shells use underscores. Both spellings are read
(the hyphenated one wins). Secrets are :class:`pydantic.SecretStr`, so ``repr(settings)`` never shows
them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Literal, TypeVar

from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator

from ci_healer.backends import BACKEND_NAMES, BackendSettings
from ci_healer.backends.llm import check_base_url
from ci_healer.models import Category
from ci_healer.notify import NOTIFY_FORMATS, NotifyFormat

#: Every input of action.yml with its default (None = no default), read when an input is unset (a
#: run outside the Action). action.yml is the source: tests/test_contract.py checks that this table,
#: the README and every settings field default (here and in BackendSettings) equal its defaults.
INPUT_DEFAULTS: dict[str, str | None] = {
    "github-token": None,
    "backend": "auto",
    "model": "",
    "openai-base-url": "",
    "openai-api-key": "",
    "aws-region": "",
    "approval-command": "/approve-fix",
    "approval-label": "ci-healer:approve",
    "protected-paths": "",
    "allowed-paths": "",
    "allowed-bots": "",
    "bot-login": "github-actions[bot]",
    "max-log-bytes": "50000000",
    "max-block-tokens": "1500",
    "max-prompt-tokens": "6000",
    "llm-timeout": "60",
    "max-attempts": "2",
    "dry-run": "false",
    "notify-webhook": "",
    "notify-format": "auto",
    "dashboard": "false",
    "rerun-flaky": "false",
    "auto-apply": "off",
    "auto-apply-confidence": "0.8",
    "auto-apply-categories": "format,lint,type-check",
}


_Choice = TypeVar("_Choice", bound=str)


def _one_of(value: str, options: tuple[_Choice, ...]) -> _Choice | None:
    """``value`` as the one of ``options`` it equals (typed as that choice), or ``None``."""
    return next((option for option in options if option == value), None)


AWS_CREDENTIAL_VARS = (
    "AWS_ACCESS_KEY_ID",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_PROFILE",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
)
"""Any of these set means boto3's default credential chain has something to use (auto → bedrock)."""
AWS_SECRET_VARS = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
"""AWS secrets of the environment: redacted and masked like every other secret."""


def backend_from_environment(backend: BackendSettings, environ: Mapping[str, str]) -> BackendSettings:
    """``backend`` with what the environment says about AWS: the Region when none is set
    (``AWS_REGION``, then ``AWS_DEFAULT_REGION``), whether credentials are there
    (:data:`AWS_CREDENTIAL_VARS`) and the secret values to redact (:data:`AWS_SECRET_VARS`).

    The one place the backends' environment is read: the backends take credentials only from
    their :class:`~ci_healer.backends.BackendSettings`."""
    region = backend.aws_region or environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION") or None
    secrets = [SecretStr(value) for var in AWS_SECRET_VARS if (value := environ.get(var))]
    return backend.model_copy(
        update={
            "aws_region": region,
            "aws_credentials": any(environ.get(var) for var in AWS_CREDENTIAL_VARS),
            "aws_secrets": secrets,
        }
    )


class SettingsError(Exception):
    """An input or environment variable is missing or invalid; the message names it."""


def read_input(name: str, environ: Mapping[str, str]) -> str | None:
    """Value of input ``name`` (``github-token``) from ``INPUT_GITHUB-TOKEN`` or ``INPUT_GITHUB_TOKEN``;
    ``None`` when neither is set or both are blank."""
    upper = name.upper()
    for key in (f"INPUT_{upper}", f"INPUT_{upper.replace('-', '_')}"):
        value = environ.get(key)
        if value is not None and value.strip() != "":
            return value.strip()
    return None


def input_given_empty(name: str, environ: Mapping[str, str]) -> bool:
    """Whether input ``name`` is present in the step's environment but blank.

    GitHub sets ``INPUT_<NAME>`` for every input of a docker action: the workflow's value, else the
    default of action.yml. A present, blank variable is therefore the workflow's explicit
    ``name: ""`` (for ``approval-label``: "Empty disables labels"), not an unset input.
    """
    upper = name.upper()
    values = [environ.get(key) for key in (f"INPUT_{upper}", f"INPUT_{upper.replace('-', '_')}")]
    present = [v for v in values if v is not None]
    return bool(present) and all(v.strip() == "" for v in present)


def _split_list(value: str | None) -> list[str]:
    if not value:
        return []
    parts = value.replace(",", "\n").splitlines()
    return [p.strip() for p in parts if p.strip()]


def _bool(name: str, value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in {"true", "yes", "1", "on"}:
        return True
    if lowered in {"false", "no", "0", "off", ""}:
        return False
    raise SettingsError(f"input {name} must be true or false, not {value!r}")


class ActionSettings(BaseModel):
    """All settings of one Action run. Build with :meth:`from_environ`."""

    github_token: SecretStr = Field(repr=False)
    backend: BackendSettings
    approval_command: str = "/approve-fix"
    approval_label: str | None = "ci-healer:approve"
    protected_paths: list[str] = Field(default_factory=list)
    allowed_paths: list[str] = Field(default_factory=list)
    allowed_bots: list[str] = Field(default_factory=list)
    bot_login: str = "github-actions[bot]"
    max_log_bytes: int = Field(default=50_000_000, ge=10_000)
    max_block_tokens: int = Field(default=1500, ge=100)
    max_attempts: int = Field(default=2, ge=0, le=10)
    dry_run: bool = False
    notify_webhook: SecretStr | None = Field(default=None, repr=False)
    notify_format: NotifyFormat = "auto"
    dashboard: bool = False
    rerun_flaky: bool = False
    auto_apply: Literal["off", "low"] = "off"
    auto_apply_confidence: float = Field(default=0.8, ge=0.0, le=1.0)
    auto_apply_categories: list[str] = Field(default_factory=lambda: ["format", "lint", "type-check"])

    api_url: str = "https://api.github.com"
    server_url: str = "https://github.com"
    repository: str
    event_name: str
    event_path: str
    run_id: int | None = None
    workflow_ref: str | None = None
    actor: str | None = None

    @field_validator("approval_command")
    @classmethod
    def _command_shape(cls, value: str) -> str:
        if not value.startswith("/") or any(c.isspace() for c in value) or len(value) > 50:
            raise ValueError("must start with '/' and contain no spaces, e.g. /approve-fix")
        return value

    @field_validator("repository")
    @classmethod
    def _repo_shape(cls, value: str) -> str:
        owner, sep, name = value.partition("/")
        if not sep or not owner or not name or "/" in name:
            raise ValueError("must be owner/name")
        return value

    @property
    def owner(self) -> str:
        """Repository owner login."""
        return self.repository.split("/", 1)[0]

    def secret_values(self) -> list[str]:
        """Every literal secret (token, LLM key): masked on start and redacted everywhere."""
        values = [self.github_token.get_secret_value(), *self.backend.secret_values()]
        if self.notify_webhook is not None:
            values.append(self.notify_webhook.get_secret_value())
        return sorted({v for v in values if v})

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> ActionSettings:
        """Parse the environment of a docker action step.

        Raises :class:`SettingsError` naming the first missing or invalid input or variable.
        The token falls back to ``GITHUB_TOKEN`` when the ``github-token`` input is empty.
        """
        env = os.environ if environ is None else environ

        def inp(name: str) -> str:
            value = read_input(name, env)
            if value is None:
                value = INPUT_DEFAULTS.get(name) or ""
            return value

        def seconds(name: str) -> float:
            raw = inp(name)
            try:
                value = float(raw)
            except ValueError:
                value = float("nan")
            if not 0 < value <= 3600:  # also false for nan
                raise SettingsError(
                    f"input {name} must be a number of seconds above 0 and at most 3600, not {raw!r}"
                )
            return value

        def integer(name: str) -> int:
            raw = inp(name)
            try:
                return int(raw)
            except ValueError:
                raise SettingsError(f"input {name} must be a whole number, not {raw!r}") from None

        token = read_input("github-token", env) or env.get("GITHUB_TOKEN")
        if not token:
            raise SettingsError(
                "input github-token is empty: pass `github-token: ${{ github.token }}` (the default)"
            )
        for var in ("GITHUB_REPOSITORY", "GITHUB_EVENT_NAME", "GITHUB_EVENT_PATH"):
            if not env.get(var):
                raise SettingsError(
                    f"{var} is not set: ci-healer runs as a step of a GitHub Actions workflow"
                )
        backend_input = inp("backend").lower()
        backend_name = _one_of(backend_input, BACKEND_NAMES)
        if backend_name is None:
            raise SettingsError(
                f"input backend must be auto, rules, openai, bedrock or github-models, not {backend_input!r}"
            )
        key = inp("openai-api-key")
        hook = inp("notify-webhook")
        format_input = inp("notify-format").lower()
        notify_format = _one_of(format_input, NOTIFY_FORMATS)
        if notify_format is None:
            raise SettingsError(f"input notify-format must be auto, slack or generic, not {format_input!r}")
        auto_apply = inp("auto-apply").lower()
        if auto_apply not in {"off", "low"}:
            raise SettingsError(f"input auto-apply must be off or low, not {auto_apply!r}")
        raw_confidence = inp("auto-apply-confidence")
        try:
            auto_confidence = float(raw_confidence)
        except ValueError:
            auto_confidence = float("nan")
        if not 0 <= auto_confidence <= 1:  # also false for nan
            raise SettingsError(
                f"input auto-apply-confidence must be a number from 0 to 1, not {raw_confidence!r}"
            )
        categories = [c.lower() for c in _split_list(inp("auto-apply-categories"))]
        known = {c.value for c in Category}
        unknown = [c for c in categories if c not in known]
        if unknown:
            raise SettingsError(
                f"input auto-apply-categories: {unknown[0]!r} is not a category; use "
                + ", ".join(sorted(known))
            )
        base_url = inp("openai-base-url") or None
        if base_url is not None:
            try:
                check_base_url(base_url)
            except ValueError as err:
                raise SettingsError(f"input openai-base-url: {err}") from None
        run_id = env.get("GITHUB_RUN_ID")
        try:
            return cls(
                github_token=SecretStr(token),
                backend=backend_from_environment(
                    BackendSettings(
                        backend=backend_name,
                        model=inp("model") or None,
                        openai_base_url=base_url,
                        openai_api_key=SecretStr(key) if key else None,
                        github_token=SecretStr(token),
                        aws_region=inp("aws-region") or None,
                        max_prompt_tokens=integer("max-prompt-tokens"),
                        timeout_s=seconds("llm-timeout"),
                    ),
                    env,
                ),
                approval_command=inp("approval-command"),
                approval_label=None
                if input_given_empty("approval-label", env)
                else inp("approval-label") or None,
                protected_paths=_split_list(inp("protected-paths")),
                allowed_paths=_split_list(inp("allowed-paths")),
                allowed_bots=_split_list(inp("allowed-bots")),
                bot_login=inp("bot-login"),
                max_log_bytes=integer("max-log-bytes"),
                max_block_tokens=integer("max-block-tokens"),
                max_attempts=integer("max-attempts"),
                dry_run=_bool("dry-run", inp("dry-run")),
                notify_webhook=SecretStr(hook) if hook else None,
                notify_format=notify_format,
                dashboard=_bool("dashboard", inp("dashboard")),
                rerun_flaky=_bool("rerun-flaky", inp("rerun-flaky")),
                auto_apply=auto_apply,  # type: ignore[arg-type]
                auto_apply_confidence=auto_confidence,
                auto_apply_categories=categories,
                api_url=(env.get("GITHUB_API_URL") or "https://api.github.com").rstrip("/"),
                server_url=(env.get("GITHUB_SERVER_URL") or "https://github.com").rstrip("/"),
                repository=env["GITHUB_REPOSITORY"],
                event_name=env["GITHUB_EVENT_NAME"],
                event_path=env["GITHUB_EVENT_PATH"],
                run_id=int(run_id) if run_id and run_id.isdigit() else None,
                workflow_ref=env.get("GITHUB_WORKFLOW_REF") or None,
                actor=env.get("GITHUB_ACTOR") or None,
            )
        except ValidationError as err:
            first = err.errors()[0]
            where = ".".join(str(p) for p in first["loc"]).replace("_", "-")
            raise SettingsError(f"input {where}: {first['msg']}") from None
