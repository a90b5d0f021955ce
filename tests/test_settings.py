"""Action settings from INPUT_* (both spellings) and GITHUB_*; secrets never in repr."""

from __future__ import annotations

import pytest

from ci_healer.settings import INPUT_DEFAULTS, ActionSettings, SettingsError

BASE = {
    "GITHUB_REPOSITORY": "octo-org/hello",
    "GITHUB_EVENT_NAME": "workflow_run",
    "GITHUB_EVENT_PATH": "/github/workflow/event.json",
    "GITHUB_RUN_ID": "42",
}


def test_hyphenated_and_underscored_inputs_are_both_read() -> None:
    env = {
        **BASE,
        "INPUT_GITHUB-TOKEN": "ghs_" + "a" * 36,
        "INPUT_MAX_ATTEMPTS": "4",
        "INPUT_DRY-RUN": "true",
    }
    settings = ActionSettings.from_environ(env)
    assert settings.github_token.get_secret_value() == "ghs_" + "a" * 36
    assert settings.max_attempts == 4 and settings.dry_run is True
    assert settings.run_id == 42 and settings.owner == "octo-org"


def test_defaults_match_the_documented_table() -> None:
    settings = ActionSettings.from_environ({**BASE, "GITHUB_TOKEN": "ghs_" + "b" * 36})
    assert settings.approval_command == INPUT_DEFAULTS["approval-command"]
    assert settings.approval_label == INPUT_DEFAULTS["approval-label"]
    assert settings.max_log_bytes == int(INPUT_DEFAULTS["max-log-bytes"])
    assert settings.backend.backend == "auto"
    assert settings.api_url == "https://api.github.com"


def test_repr_and_dump_show_no_secret() -> None:
    """SECURITY.md 3: repr(settings) shows no secret."""
    token, key = "ghs_" + "c" * 36, "sk-proj-" + "d" * 40
    settings = ActionSettings.from_environ({**BASE, "INPUT_GITHUB-TOKEN": token, "INPUT_OPENAI-API-KEY": key})
    for text in (repr(settings), str(settings), settings.model_dump_json()):
        assert token not in text and key not in text
    assert settings.secret_values() == sorted([token, key])


def test_list_inputs_accept_lines_and_commas() -> None:
    env = {**BASE, "GITHUB_TOKEN": "t" * 10, "INPUT_PROTECTED-PATHS": "infra/**\n secrets/*, deploy.sh"}
    assert ActionSettings.from_environ(env).protected_paths == ["infra/**", "secrets/*", "deploy.sh"]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({**BASE}, "github-token"),
        ({**BASE, "GITHUB_TOKEN": "t" * 10, "GITHUB_EVENT_PATH": ""}, "GITHUB_EVENT_PATH"),
        ({**BASE, "GITHUB_TOKEN": "t" * 10, "INPUT_MAX-LOG-BYTES": "lots"}, "max-log-bytes"),
        ({**BASE, "GITHUB_TOKEN": "t" * 10, "INPUT_DRY-RUN": "maybe"}, "dry-run"),
        ({**BASE, "GITHUB_TOKEN": "t" * 10, "INPUT_BACKEND": "gpt"}, "backend"),
        ({**BASE, "GITHUB_TOKEN": "t" * 10, "INPUT_APPROVAL-COMMAND": "approve fix"}, "approval-command"),
        ({**BASE, "GITHUB_TOKEN": "t" * 10, "GITHUB_REPOSITORY": "no-slash"}, "repository"),
        ({**BASE, "GITHUB_TOKEN": "t" * 10, "INPUT_MAX-ATTEMPTS": "99"}, "max-attempts"),
    ],
)
def test_bad_settings_name_the_input(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        ActionSettings.from_environ(env)


def test_llm_timeout_defaults_to_60_seconds_and_reaches_the_backend_settings() -> None:
    env = {**BASE, "GITHUB_TOKEN": "t" * 10}
    assert ActionSettings.from_environ(env).backend.timeout_s == 60.0 == float(INPUT_DEFAULTS["llm-timeout"])
    assert ActionSettings.from_environ({**env, "INPUT_LLM-TIMEOUT": "180"}).backend.timeout_s == 180.0
    assert ActionSettings.from_environ({**env, "INPUT_LLM_TIMEOUT": "2.5"}).backend.timeout_s == 2.5


@pytest.mark.parametrize("value", ["0", "-5", "soon", "nan", "86400"])
def test_bad_llm_timeout_names_the_input_and_the_range(value: str) -> None:
    with pytest.raises(
        SettingsError, match=r"input llm-timeout must be a number of seconds above 0 and at most 3600"
    ):
        ActionSettings.from_environ({**BASE, "GITHUB_TOKEN": "t" * 10, "INPUT_LLM-TIMEOUT": value})


@pytest.mark.parametrize(
    "url", ["localhost:11434/v1", "models.github.ai/inference", "ftp://llm.example.com/v1", "http://"]
)
def test_base_url_without_http_scheme_is_refused_naming_the_input(url: str) -> None:
    with pytest.raises(SettingsError) as info:
        ActionSettings.from_environ({**BASE, "GITHUB_TOKEN": "t" * 10, "INPUT_OPENAI-BASE-URL": url})
    assert str(info.value).startswith("input openai-base-url: ")
    assert "https://api.openai.com/v1" in str(info.value)  # the fix: an example of a full URL


def test_refused_base_url_shows_no_credentials_of_it() -> None:
    with pytest.raises(SettingsError) as info:
        ActionSettings.from_environ(
            {
                **BASE,
                "GITHUB_TOKEN": "t" * 10,
                "INPUT_OPENAI-BASE-URL": "user:s3cretPass@llm.internal/v1?key=QueryKey9",
            }
        )
    assert "s3cretPass" not in str(info.value) and "QueryKey9" not in str(info.value)


@pytest.mark.parametrize(
    "url", ["https://api.openai.com/v1", "http://localhost:11434/v1", "https://models.github.ai/inference"]
)
def test_full_base_urls_are_accepted(url: str) -> None:
    assert (
        ActionSettings.from_environ(
            {**BASE, "GITHUB_TOKEN": "t" * 10, "INPUT_OPENAI-BASE-URL": url}
        ).backend.openai_base_url
        == url
    )


def test_an_approval_label_given_empty_disables_labels() -> None:
    """action.yml: "Empty disables labels". GitHub passes a workflow's `approval-label: ""` as a
    present, blank INPUT_APPROVAL-LABEL; only an absent variable means the default."""
    env = {**BASE, "GITHUB_TOKEN": "ghs_" + "c" * 36}
    assert ActionSettings.from_environ({**env, "INPUT_APPROVAL-LABEL": ""}).approval_label is None
    assert ActionSettings.from_environ({**env, "INPUT_APPROVAL_LABEL": "  "}).approval_label is None
    assert ActionSettings.from_environ(env).approval_label == INPUT_DEFAULTS["approval-label"]
    assert ActionSettings.from_environ({**env, "INPUT_APPROVAL-LABEL": "ship-it"}).approval_label == "ship-it"
