"""Typed settings with defaults and validation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class SettingsError(ValueError):
    """A settings file has an unknown key or a value of the wrong type."""


@dataclass(frozen=True)
class Setting:
    name: str
    type: type
    default: Any = None

    def coerce(self, value: Any) -> Any:
        if value is None:
            return self.default
        if self.type is bool and isinstance(value, str):
            return value.strip().lower() in {"1", "true", "yes", "on"}
        try:
            return self.type(value)
        except (TypeError, ValueError) as exc:
            raise SettingsError(f"{self.name}: expected {self.type.__name__}, got {value!r}") from exc


SCHEMA = {
    "color": Setting("color", bool, True),
    "editor": Setting("editor", str, "vi"),
    "timeout": Setting("timeout", float, 10.0),
    "retries": Setting("retries", int, 3),
}


def validate(raw: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(raw) - set(SCHEMA))
    if unknown:
        raise SettingsError(f"unknown settings: {', '.join(unknown)}")
    return {name: setting.coerce(raw.get(name)) for name, setting in SCHEMA.items()}
