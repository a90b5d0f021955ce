"""Read settings layers from YAML files and merge them, later layers winning."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from platformdirs import user_config_dir

from tidyconf.schema import SettingsError, validate

LAYERS = ("system", "user", "project")


def layer_path(layer: str, project_dir: Path | None = None) -> Path:
    if layer == "system":
        return Path("/etc/tidyconf/settings.yaml")
    if layer == "user":
        return Path(user_config_dir("tidyconf")) / "settings.yaml"
    return (project_dir or Path.cwd()) / ".tidyconf.yaml"


def read_layer(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise SettingsError(f"{path}: top level must be a mapping")
    return data


def load_settings(paths: list[Path]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for path in paths:
        merged.update(read_layer(path))
    return validate(merged)
