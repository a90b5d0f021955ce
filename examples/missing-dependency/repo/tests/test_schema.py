import pytest

from tidyconf.schema import SettingsError, validate


def test_defaults_fill_missing_keys():
    assert validate({}) == {"color": True, "editor": "vi", "timeout": 10.0, "retries": 3}


@pytest.mark.parametrize("raw, expected", [("yes", True), ("off", False), ("1", True)])
def test_bool_strings(raw, expected):
    assert validate({"color": raw})["color"] is expected


def test_unknown_key_is_rejected():
    with pytest.raises(SettingsError, match="unknown settings: colour"):
        validate({"colour": False})
