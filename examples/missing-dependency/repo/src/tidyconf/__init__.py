"""Layered YAML settings for command-line tools."""

from tidyconf.schema import Setting, SettingsError

__all__ = ["Setting", "SettingsError"]
__version__ = "0.3.1"
