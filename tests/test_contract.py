"""Contract between README.md, action.yml, the settings, the CLI, .ci/run and pyproject.toml.

The README is the user's only manual: every input of ``action.yml`` must be documented there with
its default (in the options YAML block), every output must be listed, the two set-up commands must
be the ones CI runs, and every CLI subcommand and option the README names must exist.
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from ci_healer import __version__, cli
from ci_healer.settings import INPUT_DEFAULTS, ActionSettings

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
ACTION = yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))

MAIN_JOB_COMMAND = (
    "pip install . && ci-healer analyze --log examples/missing-dependency/job.log "
    "--repo examples/missing-dependency/repo --backend rules"
)
TEST_COMMAND = "pip install '.[test]' && python3 -m pytest"
TOKEN_DEFAULT = "${{ github.token }}"


# ------------------------------------------------------------------------------------ helpers


def section(markdown: str, heading: str) -> str:
    """Text of the ``## heading`` section of ``markdown`` up to the next ``## `` heading."""
    match = re.search(rf"^## {re.escape(heading)}\s*$(.*?)(?=^## |\Z)", markdown, re.MULTILINE | re.DOTALL)
    if match is None:
        raise AssertionError(f"README has no '## {heading}' section")
    return match.group(1)


def fenced_blocks(markdown: str, lang: str | None = None) -> list[str]:
    """Bodies of the fenced code blocks of ``markdown`` (of language ``lang`` when given)."""
    blocks = []
    for match in re.finditer(r"^(```+)([\w-]*)[^\n]*\n(.*?)^\1\s*$", markdown, re.MULTILINE | re.DOTALL):
        if lang is None or match.group(2) == lang:
            blocks.append(match.group(3))
    return blocks


def table_first_column(markdown: str) -> list[str]:
    """First cell of every body row of the markdown tables in ``markdown``, backticks removed."""
    cells = []
    for line in markdown.splitlines():
        line = line.strip()
        if not line.startswith("|") or re.match(r"^\|[\s:|-]+\|$", line):
            continue
        cells.append(line.strip("|").split("|")[0].strip())
    return [c.strip("`") for c in cells[1:]] if cells else []


def options_block() -> dict:
    """The ``with:`` mapping of the README's options YAML block."""
    blocks = fenced_blocks(section(README, "Options"), "yaml")
    assert len(blocks) == 1, "the Options section must hold exactly one yaml block"
    parsed = yaml.safe_load(blocks[0])
    assert isinstance(parsed, list) and len(parsed) == 1, (
        "the options block is one step: '- uses: ... with: ...'"
    )
    step = parsed[0]
    assert step.get("uses", "").startswith("ci-healer/ci-healer@"), step
    return step["with"]


def subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """Subcommand name → its parser."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    raise AssertionError("the CLI has no subcommands")


def option_strings(parser: argparse.ArgumentParser) -> set[str]:
    return {s for action in parser._actions for s in action.option_strings}


def readme_cli_lines() -> list[str]:
    """Every line of a README code block that runs ``ci-healer`` (after an optional ``$ `` / ``&& ``)."""
    lines = []
    for block in fenced_blocks(README):
        for line in block.splitlines():
            line = line.strip().removeprefix("$ ")
            if "ci-healer " in line and not line.startswith(("#", "-", "uses:")):
                command = line.split("&& ")[-1]
                if command.startswith("ci-healer "):
                    lines.append(command)
    return lines


# ------------------------------------------------------------------------------------ inputs


def test_action_inputs_equal_settings_input_defaults():
    inputs = ACTION["inputs"]
    assert list(inputs) == list(INPUT_DEFAULTS), (
        "action.yml inputs and settings.INPUT_DEFAULTS differ (names or order)"
    )
    for name, spec in inputs.items():
        expected = INPUT_DEFAULTS[name]
        if name == "github-token":
            assert expected is None
            assert spec["default"] == TOKEN_DEFAULT
        else:
            assert spec.get("default") == expected, (
                f"{name}: action.yml {spec.get('default')!r} != settings {expected!r}"
            )
        assert spec.get("required") is False, f"{name} must be optional"
        assert spec.get("description", "").strip(), f"{name} has no description"


# The inputs that ActionSettings.from_environ puts into BackendSettings, and under which field; every
# other input is the ActionSettings field of its name with "_" for "-".
BACKEND_FIELD_OF_INPUT = {
    "backend": "backend",
    "model": "model",
    "openai-base-url": "openai_base_url",
    "openai-api-key": "openai_api_key",
    "aws-region": "aws_region",
    "max-prompt-tokens": "max_prompt_tokens",
    "llm-timeout": "timeout_s",
}


def test_every_settings_default_equals_the_action_yml_default():
    """action.yml's input defaults are the source: an input left unset, an input given its
    action.yml default, and the settings field's own default are one value."""
    env = {
        "GITHUB_REPOSITORY": "octo-org/hello",
        "GITHUB_EVENT_NAME": "workflow_run",
        "GITHUB_EVENT_PATH": "/github/workflow/event.json",
        "INPUT_GITHUB-TOKEN": "ghs_" + "a" * 36,
    }
    inputs = {name: spec for name, spec in ACTION["inputs"].items() if name != "github-token"}
    given = ActionSettings.from_environ(
        {**env, **{f"INPUT_{n.upper()}": s["default"] for n, s in inputs.items()}}
    )
    unset = ActionSettings.from_environ(env)
    assert given == unset
    for name, spec in inputs.items():
        field = BACKEND_FIELD_OF_INPUT.get(name, name.replace("-", "_"))
        target = given.backend if name in BACKEND_FIELD_OF_INPUT else given
        info = type(target).model_fields[field]
        assert not info.is_required(), f"{name}: settings field {field} has no default"
        default = info.get_default(call_default_factory=True)
        assert default == getattr(target, field), (
            f"{name}: settings default {default!r} != action.yml default {spec['default']!r}"
        )


def test_every_input_is_in_the_readme_options_block_with_its_default():
    documented = options_block()
    assert set(documented) == set(ACTION["inputs"]), (
        f"missing in README: {sorted(set(ACTION['inputs']) - set(documented))}; "
        f"not in action.yml: {sorted(set(documented) - set(ACTION['inputs']))}"
    )
    for name, spec in ACTION["inputs"].items():
        assert documented[name] == spec["default"], (
            f"README default of {name}: {documented[name]!r} != {spec['default']!r}"
        )


def test_every_readme_option_has_a_comment_that_explains_it():
    block = fenced_blocks(section(README, "Options"), "yaml")[0]
    lines = block.splitlines()
    for name in ACTION["inputs"]:
        index = next(i for i, line in enumerate(lines) if line.strip().startswith(f"{name}:"))
        comment = []
        while index > 0 and lines[index - 1].strip().startswith("#"):
            index -= 1
            comment.insert(0, lines[index].strip().lstrip("#").strip())
        assert len(" ".join(comment)) >= 20, f"{name} is not preceded by a comment that explains it"


# ------------------------------------------------------------------------------------ outputs


def test_every_output_is_documented_and_nothing_else():
    documented = table_first_column(section(README, "Outputs"))
    assert sorted(documented) == sorted(ACTION["outputs"])
    for name, spec in ACTION["outputs"].items():
        assert spec.get("description", "").strip(), f"output {name} has no description in action.yml"


# ------------------------------------------------------------------------------------ commands


@pytest.mark.parametrize("command", [MAIN_JOB_COMMAND, TEST_COMMAND])
def test_readme_holds_the_setup_commands_verbatim_near_the_top(command):
    commands = [line.strip() for block in fenced_blocks(README, "console") for line in block.splitlines()]
    assert command in commands
    top = README[: README.index("## What it does")]
    assert command in top, "the set-up commands must come before 'What it does'"


def test_ci_script_runs_the_readme_commands():
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()]
    executable = [line for line in ci_lines if line and not line.startswith("#")]
    main_job = MAIN_JOB_COMMAND.split("&& ", 1)[1]
    tests = TEST_COMMAND.split("&& ", 1)[1]
    assert main_job in executable, ".ci/run does not run the README's main-job command"
    assert tests in executable, ".ci/run does not run the README's test command"


def test_readme_cli_command_lines_parse():
    parser = cli.build_parser()
    lines = readme_cli_lines()
    assert len(lines) >= 3, lines
    for line in lines:
        argv = shlex.split(line)[1:]
        if "|" in line or "[" in line:  # a usage synopsis, checked below
            continue
        try:
            parser.parse_args(argv)
        except SystemExit as exc:  # argparse exits on an unknown option or a bad choice
            raise AssertionError(f"README command does not parse: {line}") from exc


def test_readme_cli_synopsis_names_real_subcommands_options_and_choices():
    subs = subparsers(cli.build_parser())
    cli_section = section(README, "Command line")
    synopsis = fenced_blocks(cli_section, "console")[0]
    for line in synopsis.splitlines():
        words = line.split()
        assert words[0] == "ci-healer" and words[1] in subs, line
        sub = subs[words[1]]
        options = option_strings(sub)
        for flag, choices in re.findall(r"(--[\w-]+)(?: ([\w|-]+))?", line):
            assert flag in options, f"{flag} is not an option of ci-healer {words[1]}"
            if choices and "|" in choices:
                action = next(a for a in sub._actions if flag in a.option_strings)
                assert set(choices.split("|")) == set(action.choices), (
                    f"{flag}: {choices} != {action.choices}"
                )


def test_every_option_named_in_the_cli_section_exists():
    subs = subparsers(cli.build_parser())
    known = set().union(*(option_strings(p) for p in subs.values()))
    named = set(re.findall(r"`(--[a-z][\w-]*)", section(README, "Command line")))
    assert named, "the Command line section names no option"
    assert named <= known, f"options in README but not in the CLI: {sorted(named - known)}"
    documented_subs = set(re.findall(r"`ci-healer (\w+)`", README))
    assert documented_subs and documented_subs <= set(subs), documented_subs


def test_readme_exit_codes_equal_the_cli_constants():
    cli_section = section(README, "Command line")
    tables = cli_section[cli_section.index("Exit codes") :]
    codes = {int(c) for c in table_first_column(tables)}
    assert codes == {cli.EXIT_OK, cli.EXIT_USAGE, cli.EXIT_ANALYSIS_FAILED}


def test_extract_json_fields_are_the_documented_ones():
    """Run the real CLI on the bundled log and compare its JSON keys with the README's field table."""
    cli_section = section(README, "Command line")
    fields_table = cli_section[cli_section.index("| field |") :]
    fields_table = fields_table[: fields_table.index("\n\n")]
    documented = table_first_column(fields_table)
    log = ROOT / "examples" / "missing-dependency" / "job.log"

    one = subprocess.run(
        [sys.executable, "-m", "ci_healer", "extract", str(log), "--format", "json"],
        capture_output=True,
        text=True,
        check=True,
    )
    payload = json.loads(one.stdout)
    assert sorted(payload) == sorted(documented)
    block_fields = re.search(r"`\{([\w, ]+)\}`", fields_table).group(1).replace(" ", "").split(",")
    assert payload["blocks"], "the bundled example log must yield a failure block"
    for block in payload["blocks"]:
        assert list(block) == block_fields

    several = subprocess.run(
        [sys.executable, "-m", "ci_healer", "extract", str(log), str(log), "--format", "json"],
        capture_output=True,
        text=True,
        check=True,
    )
    rows = [json.loads(line) for line in several.stdout.splitlines()]
    assert len(rows) == 2, "several logs give one JSON Lines row per log"
    for row in rows:
        assert next(iter(row)) == "path" and row["path"] == str(log)
        assert sorted(k for k in row if k != "path") == sorted(documented)


# ------------------------------------------------------------------------------------ workflows


@pytest.mark.parametrize("name", ["ci-healer-analyze.yml", "ci-healer-apply.yml"])
def test_readme_shows_each_example_workflow_in_full(name):
    text = (ROOT / "examples" / "workflows" / name).read_text(encoding="utf-8")
    assert text in fenced_blocks(section(README, "The two workflow files"), "yaml"), (
        f"README's copy of examples/workflows/{name} is missing or out of date"
    )


def test_readme_permission_table_matches_the_example_workflows():
    rows = []
    for line in section(README, "Permissions").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[1].startswith("`"):
            rows.append((cells[0], cells[1].strip("`")))
    for job in ("analyze", "apply"):
        workflow = yaml.safe_load(
            (ROOT / "examples" / "workflows" / f"ci-healer-{job}.yml").read_text(encoding="utf-8")
        )
        granted = {f"{scope}: {level}" for scope, level in workflow["jobs"][job]["permissions"].items()}
        documented = {perm for who, perm in rows if who == job}
        assert documented == granted, f"{job}: README {sorted(documented)} != workflow {sorted(granted)}"


# ------------------------------------------------------------------------------------ version


def test_package_version_equals_pyproject():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert __version__ == pyproject["project"]["version"]
    out = subprocess.run(
        [sys.executable, "-m", "ci_healer", "--version"], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == f"ci-healer {__version__}"


def test_action_image_tag_equals_the_package_version():
    image = ACTION["runs"]["image"]
    assert ACTION["runs"]["using"] == "docker"
    if image.startswith("docker://"):
        assert image.rsplit(":", 1)[1].lstrip("v") == __version__, image
    else:
        assert (ROOT / image).is_file(), f"action.yml builds {image}, which does not exist"
