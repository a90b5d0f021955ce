"""The only way ci-healer talks to the runner: workflow commands, step outputs and the job summary.

Untrusted text (log lines, model prose, titles) must never reach stdout raw, or a line such as
``::add-mask::`` or ``::stop-commands::`` inside a log would be executed by the runner (SECURITY.md
item 5). Every ``::`` line printed here comes from :data:`ALLOWED_COMMANDS`, with its message and
properties escaped as GitHub's toolkit does (``@actions/core`` ``command.ts``: data escapes ``%``,
``\\r``, ``\\n``; properties also ``:`` and ``,``).

Every text that leaves through a :class:`Runner` — command messages and properties, plain log lines,
step outputs, the job summary — first goes through a :class:`~ci_healer.redact.Redactor` holding
the literal secrets of the run (the values given to :meth:`Runner.add_mask` or ``secrets=``), so an
error message that echoes the API key or the GitHub token (an endpoint's 401 text, an exception)
is written as ``[REDACTED:literal_secret]`` in whichever encoding it comes (SECURITY.md item 22).
The runner's own masking covers only its log; outputs and the summary are not masked by it.
"""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import TextIO

from ci_healer.redact import Redactor

ALLOWED_COMMANDS = frozenset(
    {"debug", "notice", "warning", "error", "add-mask", "group", "endgroup", "stop-commands"}
)


def escape_data(value: str) -> str:
    """Escape a command message (``%``, CR, LF) — GitHub toolkit ``escapeData``."""
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(value: str) -> str:
    """Escape a command property value (also ``:`` and ``,``) — GitHub toolkit ``escapeProperty``."""
    return escape_data(value).replace(":", "%3A").replace(",", "%2C")


class Runner:
    """Writes workflow commands to ``stream`` and outputs/summary to the files GitHub names.

    ``environ`` supplies ``GITHUB_OUTPUT`` and ``GITHUB_STEP_SUMMARY``; when absent (local runs),
    outputs and the summary are kept in memory (``outputs``, ``summary``) only. ``secrets``: literal
    values redacted from everything written (more are added by :meth:`add_mask`); token shapes
    such as ``ghp_…`` are redacted too (see :mod:`ci_healer.redact`).
    """

    def __init__(
        self,
        *,
        stream: TextIO | None = None,
        environ: Mapping[str, str] | None = None,
        secrets: Iterable[str] = (),
    ) -> None:
        self.stream = stream or sys.stdout
        env = os.environ if environ is None else environ
        self.output_path = env.get("GITHUB_OUTPUT") or None
        self.summary_path = env.get("GITHUB_STEP_SUMMARY") or None
        self.outputs: dict[str, str] = {}
        self.summary: list[str] = []
        self._secrets: list[str] = [s for s in secrets if s]
        self._redactor = Redactor(self._secrets)

    def redact(self, text: str) -> str:
        """``text`` with every known secret replaced by ``[REDACTED:<kind>]``."""
        return self._redactor.redact(text)[0]

    def command(self, name: str, message: str = "", **properties: str | int | None) -> None:
        """Print ``::name prop=value,...::message`` with everything escaped.

        Raises ``ValueError`` for a command outside :data:`ALLOWED_COMMANDS`.
        """
        if name not in ALLOWED_COMMANDS:
            raise ValueError(f"workflow command not allowed: {name}")
        if name != "add-mask":  # the one command whose message must be the secret itself
            message = self.redact(message)
        props = ",".join(
            f"{k}={escape_property(self.redact(str(v)))}" for k, v in properties.items() if v is not None
        )
        head = f"::{name} {props}" if props else f"::{name}"
        self.stream.write(f"{head}::{escape_data(message)}\n")
        self.stream.flush()

    def add_mask(self, value: str) -> None:
        """Ask the runner to mask ``value`` in all later log output (each line of it), and redact it
        from everything this Runner writes from now on (outputs and the job summary included)."""
        if value.strip() and value not in self._secrets:
            self._secrets.append(value)
            self._redactor = Redactor(self._secrets)
        for line in value.splitlines() or [value]:
            if line.strip():
                self.command("add-mask", line)

    def notice(self, message: str, **props: str | int | None) -> None:
        """A notice annotation (``file``, ``line``, ``title`` properties optional)."""
        self.command("notice", message, **props)

    def warning(self, message: str, **props: str | int | None) -> None:
        """A warning annotation."""
        self.command("warning", message, **props)

    def error(self, message: str, **props: str | int | None) -> None:
        """An error annotation."""
        self.command("error", message, **props)

    def info(self, message: str) -> None:
        """A plain log line from ci-healer itself; any ``::`` at its start is neutralised."""
        for line in self.redact(message).splitlines() or [""]:
            self.stream.write(("  " + line if line.lstrip().startswith("::") else line) + "\n")
        self.stream.flush()

    @contextmanager
    def untrusted(self) -> Iterator[None]:
        """Print untrusted text inside ``::stop-commands::<random token>`` so no command in it runs."""
        token = secrets.token_hex(16)
        self.command("stop-commands", token)
        try:
            yield
        finally:
            self.stream.write(f"::{token}::\n")
            self.stream.flush()

    def print_untrusted(self, text: str) -> None:
        """Print ``text`` (a log excerpt, model prose) with workflow commands disabled around it."""
        text = self.redact(text)
        with self.untrusted():
            self.stream.write(text if text.endswith("\n") else text + "\n")

    def set_output(self, name: str, value: str) -> None:
        """Append a step output to ``GITHUB_OUTPUT`` using a random heredoc delimiter."""
        value = self.redact(value)
        self.outputs[name] = value
        if not self.output_path:
            return
        delimiter = f"ghadelimiter_{secrets.token_hex(16)}"
        while delimiter in value:
            delimiter = f"ghadelimiter_{secrets.token_hex(16)}"
        with open(self.output_path, "a", encoding="utf-8") as fh:
            fh.write(f"{name}<<{delimiter}\n{value}\n{delimiter}\n")

    def append_summary(self, markdown: str) -> None:
        """Append markdown to the job summary (``GITHUB_STEP_SUMMARY``)."""
        markdown = self.redact(markdown)
        self.summary.append(markdown)
        if not self.summary_path:
            return
        with open(self.summary_path, "a", encoding="utf-8") as fh:
            fh.write(markdown if markdown.endswith("\n") else markdown + "\n")
