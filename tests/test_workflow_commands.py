"""Workflow commands: escaping, the allow-list, stop-commands around untrusted text, outputs."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from ci_healer.workflow_commands import ALLOWED_COMMANDS, Runner, escape_data, escape_property

HOSTILE_LOG = """\
::add-mask::ghp_not_really
::stop-commands::abc
::error file=.github/workflows/ci.yml,line=1::injected
::set-output name=risk::low
%0A::warning::smuggled
"""


def _commands(text: str) -> list[str]:
    """Names of the workflow commands the runner would execute in ``text`` (honouring stop-commands)."""
    names, stopped = [], None
    for line in text.splitlines():
        if stopped is not None:
            if line == f"::{stopped}::":
                stopped = None
            continue
        match = re.match(r"^::([a-zA-Z-]+)[ :]", line)
        if match:
            names.append(match.group(1))
            if match.group(1) == "stop-commands":
                stopped = line.split("::")[2]
    return names


@pytest.mark.parametrize(
    ("raw", "data", "prop"),
    [
        ("50% done", "50%25 done", "50%25 done"),
        ("a\nb\r", "a%0Ab%0D", "a%0Ab%0D"),
        ("x:y,z", "x:y,z", "x%3Ay%2Cz"),
    ],
)
def test_escaping_follows_the_toolkit(raw: str, data: str, prop: str) -> None:
    assert escape_data(raw) == data
    assert escape_property(raw) == prop


def test_a_message_with_newlines_cannot_start_a_second_command() -> None:
    out = io.StringIO()
    Runner(stream=out, environ={}).error("bad\n::add-mask::x", file="a,b.py", line=3)
    assert out.getvalue() == "::error file=a%2Cb.py,line=3::bad%0A::add-mask::x\n"
    assert _commands(out.getvalue()) == ["error"]


def test_untrusted_text_runs_no_command() -> None:
    out = io.StringIO()
    runner = Runner(stream=out, environ={})
    runner.print_untrusted(HOSTILE_LOG)
    runner.info(HOSTILE_LOG)
    assert set(_commands(out.getvalue())) <= ALLOWED_COMMANDS
    assert _commands(out.getvalue()) == ["stop-commands"]
    assert HOSTILE_LOG in out.getvalue()  # shown, not lost


def test_commands_outside_the_allow_list_are_refused() -> None:
    with pytest.raises(ValueError, match="not allowed"):
        Runner(stream=io.StringIO(), environ={}).command("set-output", "x")


def test_outputs_use_a_heredoc_delimiter_that_the_value_cannot_close(tmp_path: Path) -> None:
    output = tmp_path / "out"
    summary = tmp_path / "summary"
    runner = Runner(
        stream=io.StringIO(), environ={"GITHUB_OUTPUT": str(output), "GITHUB_STEP_SUMMARY": str(summary)}
    )
    value = "line one\nEOF\nrisk<<x\nghadelimiter_fake"
    runner.set_output("root-cause", value)
    runner.append_summary("## ci-healer")
    text = output.read_text()
    name, delimiter = text.splitlines()[0].split("<<")
    assert name == "root-cause"
    assert delimiter not in value
    assert text == f"root-cause<<{delimiter}\n{value}\n{delimiter}\n"
    assert summary.read_text() == "## ci-healer\n"


def test_add_mask_masks_each_line_of_a_multiline_secret() -> None:
    out = io.StringIO()
    Runner(stream=out, environ={}).add_mask("-----BEGIN KEY-----\nabc\n")
    assert out.getvalue().splitlines() == ["::add-mask::-----BEGIN KEY-----", "::add-mask::abc"]


# --- redaction of everything written (SECURITY.md item 22) ------------------------------------------
TOKEN = "ghs_" + "RunnerToken0123456789abcdefghijklmnop"
KEY = "sk-proj-RunnerKey0123456789abcdefghijklmn"


def test_every_outward_text_is_redacted_of_masked_secrets(tmp_path: Path) -> None:
    import base64

    out = io.StringIO()
    output, summary = tmp_path / "out", tmp_path / "summary"
    runner = Runner(stream=out, environ={"GITHUB_OUTPUT": str(output), "GITHUB_STEP_SUMMARY": str(summary)})
    runner.add_mask(TOKEN)
    runner.add_mask(KEY)
    basic = base64.b64encode(f"x-access-token:{TOKEN}".encode()).decode()
    runner.error(f"openai backend failed (auth): Incorrect API key provided: {KEY}", title=f"t {TOKEN}")
    runner.warning(f"could not post: Authorization: Basic {basic}")
    runner.info(f"debug: token={TOKEN}")
    runner.print_untrusted(f"log line with {KEY}")
    runner.set_output("root-cause", f"the key {KEY} was rejected")
    runner.append_summary(f"**How to fix it:** token ghs\\_{TOKEN[4:]} and key {KEY}")

    stdout = out.getvalue()
    masks = [line for line in stdout.splitlines() if line.startswith("::add-mask::")]
    assert masks == [f"::add-mask::{TOKEN}", f"::add-mask::{KEY}"]  # the runner must still learn them
    rest = "\n".join(line for line in stdout.splitlines() if not line.startswith("::add-mask::"))
    written = (
        rest
        + output.read_text()
        + summary.read_text()
        + "".join(runner.summary)
        + "".join(runner.outputs.values())
    )
    for secret in (TOKEN, KEY, TOKEN[4:], base64.b64encode(TOKEN.encode()).decode()[4:30]):
        assert secret not in written
    assert written.count("[REDACTED:literal_secret]") >= 7
    assert "::error title=t [REDACTED%3Aliteral_secret]::openai backend failed (auth)" in rest


def test_secrets_given_at_construction_are_redacted_without_masking() -> None:
    out = io.StringIO()
    runner = Runner(stream=out, environ={}, secrets=[KEY])
    runner.notice(f"key {KEY}")
    assert out.getvalue() == "::notice::key [REDACTED:literal_secret]\n"
