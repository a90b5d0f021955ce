"""Choosing and building a backend from settings; the GitHub token goes only to GitHub Models."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from ci_healer.backends import BackendError, BackendSettings, make_backend, resolve_backend_name
from ci_healer.settings import backend_from_environment

TOKEN = "ghs_" + "T" * 36


@pytest.mark.parametrize(
    ("settings", "environ", "expected"),
    [
        (BackendSettings(), {}, "rules"),
        (BackendSettings(github_token=SecretStr(TOKEN)), {}, "rules"),  # the run token alone picks no LLM
        (BackendSettings(openai_api_key=SecretStr("sk-x" * 6)), {}, "openai"),
        (BackendSettings(openai_base_url="http://localhost:11434/v1"), {}, "openai"),
        (BackendSettings(), {"AWS_WEB_IDENTITY_TOKEN_FILE": "/tmp/token"}, "bedrock"),
        (BackendSettings(backend="rules", openai_api_key=SecretStr("sk-x" * 6)), {}, "rules"),
    ],
)
def test_auto_picks_a_backend_only_from_its_credentials(settings, environ, expected) -> None:
    assert resolve_backend_name(backend_from_environment(settings, environ)) == expected


@pytest.mark.parametrize("base_url", ["http://localhost:11434/v1", "https://llm.example.com/v1"])
def test_the_github_token_never_reaches_another_endpoint(monkeypatch, base_url: str) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    settings = BackendSettings(
        backend="openai", openai_base_url=base_url, github_token=SecretStr(TOKEN), model="m"
    )
    backend = make_backend(settings, repo=None)
    assert backend._client.api_key != TOKEN


def test_github_models_gets_the_github_token(monkeypatch) -> None:
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    settings = BackendSettings(
        backend="openai", openai_base_url="https://models.github.ai/inference", github_token=SecretStr(TOKEN)
    )
    backend = make_backend(settings, repo=None)
    assert backend._client.api_key == TOKEN


def test_openai_without_key_or_endpoint_is_a_config_error(monkeypatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(BackendError) as err:
        make_backend(BackendSettings(backend="openai", github_token=SecretStr(TOKEN)), repo=None)
    assert err.value.code == "config" and "openai-api-key" in str(err.value)


def test_llm_timeout_and_secrets_reach_the_backend(monkeypatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    key = "sk-proj-" + "K" * 40
    settings = BackendSettings(
        backend="openai",
        openai_api_key=SecretStr(key),
        github_token=SecretStr(TOKEN),
        openai_base_url="http://127.0.0.1:9/v1",
        timeout_s=7.5,
        model="m",
    )
    backend = make_backend(settings, repo=None)
    assert backend.timeout_s == 7.5 and backend._client.timeout == 7.5
    # Both secrets are redacted from what the backend says, though only the key is ever sent.
    err = BackendError("auth", f"echo {key} and {TOKEN}")
    from ci_healer.backends.llm import redacted_error

    assert (
        str(redacted_error(err, backend._redactor))
        == "echo [REDACTED:literal_secret] and [REDACTED:literal_secret]"
    )


def test_base_url_without_scheme_from_the_cli_is_a_config_error(monkeypatch) -> None:
    with pytest.raises(BackendError) as err:
        make_backend(BackendSettings(backend="openai", openai_base_url="localhost:11434/v1"), repo=None)
    assert err.value.code == "config" and "openai-base-url" in str(err.value) and "http://" in str(err.value)


def test_cli_llm_timeout_flag() -> None:
    from ci_healer.cli import build_parser

    args = build_parser().parse_args(["analyze", "--log", "job.log", "--llm-timeout", "240"])
    assert args.llm_timeout == 240.0
    assert build_parser().parse_args(["analyze", "--log", "job.log"]).llm_timeout == 60.0
    with pytest.raises(SystemExit):
        build_parser().parse_args(["analyze", "--log", "job.log", "--llm-timeout", "0"])
