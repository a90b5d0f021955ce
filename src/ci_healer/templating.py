"""One place that builds jinja2 environments for LLM prompts and markdown bodies.

LLM prompts live in the repository's ``prompts/`` folder (shipped inside the wheel as
``ci_healer/_prompts``); markdown bodies live in ``ci_healer/templates``. Both environments use
``StrictUndefined`` so a missing variable is an error, never an empty string.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import jinja2

_PACKAGE_DIR = Path(__file__).resolve().parent


def prompts_dir() -> Path:
    """Folder of the LLM prompt templates: the wheel copy, else the source checkout's ``prompts/``.

    Raises ``FileNotFoundError`` when neither exists (a broken install).
    """
    for candidate in (_PACKAGE_DIR / "_prompts", _PACKAGE_DIR.parents[1] / "prompts"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError("ci-healer prompt templates not found (expected ci_healer/_prompts or ./prompts)")


@cache
def prompt_env() -> jinja2.Environment:
    """Environment for LLM prompts (plain text, no autoescape, strict undefined)."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(prompts_dir())),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )


@cache
def markdown_env() -> jinja2.Environment:
    """Environment for GitHub markdown bodies (strict undefined; escaping is explicit, see render)."""
    return jinja2.Environment(
        loader=jinja2.PackageLoader("ci_healer", "templates"),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
