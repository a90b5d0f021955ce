from pathlib import Path

import pytest

from tidyconf.loader import load_settings
from tidyconf.schema import SettingsError


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_later_layers_win(tmp_path):
    user = write(tmp_path, "user.yaml", "editor: nano\ntimeout: 5\n")
    project = write(tmp_path, "project.yaml", "timeout: 2.5\n")
    settings = load_settings([user, project])
    assert settings["editor"] == "nano"
    assert settings["timeout"] == 2.5


def test_missing_files_are_skipped(tmp_path):
    assert load_settings([tmp_path / "absent.yaml"])["retries"] == 3


def test_top_level_must_be_mapping(tmp_path):
    with pytest.raises(SettingsError, match="mapping"):
        load_settings([write(tmp_path, "bad.yaml", "- a\n- b\n")])
