"""Reading CI logs: opening any source as bytes, streaming it in line batches, cleaning lines.

Logs come from GitHub Actions (every line prefixed by an ISO-8601 timestamp such as
``2024-01-02T03:04:05.1234567Z ``, workflow-command markers ``##[group]``/``##[error]``, ANSI
colours), Travis CI and Jenkins (plain text with ANSI colours, ``\\r`` progress frames, Travis
``travis_fold``/``travis_time`` markers). Nothing here assumes valid UTF-8: bytes are decoded
with replacement and NUL bytes are dropped.

Line numbers are 1-indexed and counted on the raw input split on ``\\n`` only; a bare ``\\r``
does not start a line. This matches GitHub's log line anchors (``#step:4:17``) and the corpus
labels. A trailing ``\\n`` does not add an empty last line.

Memory is bounded: input is read in chunks of ``read_size`` bytes from a binary file object,
and a line longer than ``max_line_bytes`` keeps only its first ``max_line_bytes`` bytes (the
rest is skipped while streaming, never buffered).
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, NamedTuple

READ_SIZE = 1 << 20
"""Bytes read from the stream at a time."""

MAX_LINE_BYTES = 1 << 20
"""A raw line longer than this is cut while streaming (a 10 MB minified bundle line)."""

MAX_CLEAN_CHARS = 400
"""A cleaned line longer than this many characters is shortened, with a marker saying how much."""

TRUNCATED_MARK = b" [...line truncated]"

LogSource = bytes | bytearray | memoryview | str | os.PathLike[str] | BinaryIO


class LogReadError(ValueError):
    """The log source cannot be read (missing file, a directory, a text-mode stream, an OS error)."""


# GitHub Actions prefixes every line with an RFC 3339 UTC timestamp with 7 fractional digits
# and one space; Jenkins timestamper plugin uses ``[2024-01-02T03:04:05.123Z] ``.
_TIMESTAMP = re.compile(
    r"^(?:\ufeff)?(?:\[?\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})\]? ?)"
)
_TIMESTAMP_FIRST = frozenset("0123456789[\ufeff")
"""The characters a :data:`_TIMESTAMP` match can start with."""
TIMESTAMP_BYTES = re.compile(
    rb"(?:\xef\xbb\xbf)?(?:\[?\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})\]? ?)"
)
""":data:`_TIMESTAMP` on raw bytes (ASCII digits only), used with ``match``. When it matches the
first ``k`` bytes of a line, :func:`clean_line` of that line (up to :data:`MAX_LINE_BYTES` chars)
depends only on the bytes after ``k``: the prefix is ASCII, so it decodes to itself, and the
``str`` pattern then strips exactly those ``k`` characters."""
TIMESTAMP_FIRST_BYTES = b"0123456789[\xef"
"""The bytes a :data:`TIMESTAMP_BYTES` match can start with."""
# ECMA-48 escape sequences: CSI (colours, cursor moves, erase line), OSC (titles, hyperlinks,
# terminated by BEL or ST) and two-byte escapes; plus stray C0 controls other than tab.
_ESCAPES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"
    r"|\x1b[@-Z\\-_]"
    r"|\x9b[0-?]*[ -/]*[@-~]"
    r"|[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]"
)
# GitHub workflow-command markers as they appear in downloaded job logs, at line start.
_GHA_MARKER = re.compile(r"^##\[(group|endgroup|error|warning|notice|debug|command|section)\]", re.IGNORECASE)
# Travis CI fold and timing markers (``travis_fold:start:install``), which share a line with output.
_TRAVIS_MARKER = re.compile(r"travis_(?:fold|time):(?:start|end):[\w.\-,=:]*")


class CleanLine(NamedTuple):
    """One cleaned log line.

    ``text``: the line without timestamp prefix, escape sequences, earlier ``\\r`` frames or
    workflow-command marker, capped at :data:`MAX_CLEAN_CHARS` characters. ``marker``: the
    lower-cased GitHub marker name that was stripped (``"error"``, ``"group"``, ...) or ``None``.
    """

    text: str
    marker: str | None


def decode(raw: bytes) -> str:
    """UTF-8 decode with replacement characters, dropping NUL bytes. Never raises."""
    if b"\x00" in raw:
        raw = raw.replace(b"\x00", b"")
    return raw.decode("utf-8", "replace")


def clean_line(raw: bytes | str, *, max_chars: int = MAX_CLEAN_CHARS) -> CleanLine:
    """Clean one raw log line (without its ``\\n``) for display and matching.

    Steps: decode (bytes: UTF-8 with replacement, NULs dropped); strip a leading GitHub/Jenkins
    timestamp; keep only the last non-empty ``\\r``-separated frame (what a terminal shows after
    progress bars redraw); remove ANSI/ECMA-48 escapes and control characters; strip Travis
    fold/time markers; strip a leading ``##[name]`` marker and report ``name``; cap the length at
    ``max_chars`` with a ``[+N chars]`` note. Trailing whitespace is removed. Never raises.
    """
    text = decode(raw) if isinstance(raw, (bytes, bytearray, memoryview)) else raw.replace("\x00", "")
    if len(text) > MAX_LINE_BYTES:
        text = text[:MAX_LINE_BYTES]
    if text[:1] in _TIMESTAMP_FIRST:  # most lines cannot start with a timestamp: skip the regex
        text = _TIMESTAMP.sub("", text, count=1)
    if "\r" in text:
        # the last frame with visible text: search from the end, stop at the first found
        text = next((f for f in reversed(text.split("\r")) if f.strip() and _ESCAPES.sub("", f).strip()), "")
        text = _TIMESTAMP.sub("", text, count=1)
    if "\x1b" in text or "\x9b" in text or _has_controls(text):
        text = _ESCAPES.sub("", text)
    if "travis_" in text:
        text = _TRAVIS_MARKER.sub("", text)
    marker = None
    if text.startswith("##["):
        m = _GHA_MARKER.match(text)
        if m:
            marker = m.group(1).lower()
            text = text[m.end() :]
    text = text.rstrip()
    if len(text) > max_chars:
        text = f"{text[:max_chars]} [+{len(text) - max_chars} chars]"
    return CleanLine(text, marker)


_CONTROL_CHARS = frozenset(chr(c) for c in [*range(9), 11, 12, *range(14, 32), 127])


def _has_controls(text: str) -> bool:
    return not _CONTROL_CHARS.isdisjoint(text)


@dataclass(frozen=True, slots=True)
class LineBatch:
    """A run of complete lines read from a log.

    ``data``: the raw bytes of lines ``first_line`` .. ``first_line + n_lines - 1`` joined by
    ``\\n`` (no trailing ``\\n``); over-long lines are already cut and end with
    :data:`TRUNCATED_MARK`. ``n_lines`` >= 1.
    """

    first_line: int
    n_lines: int
    data: bytes

    @property
    def last_line(self) -> int:
        """Number of the last line in the batch."""
        return self.first_line + self.n_lines - 1

    def lines(self) -> list[bytes]:
        """The raw lines of the batch (splits ``data``)."""
        return self.data.split(b"\n")


@contextmanager
def open_binary(source: LogSource) -> Iterator[BinaryIO]:
    """Open ``source`` as a binary stream.

    ``bytes``/``bytearray``/``memoryview`` is log content; ``str`` or ``os.PathLike`` is a file
    path; anything with ``read`` is used as is (it must return bytes). Raises
    :class:`LogReadError` for a missing/unreadable path or an unsupported object.
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        yield io.BytesIO(bytes(source))
        return
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        try:
            handle = path.open("rb")
        except OSError as err:
            raise LogReadError(f"cannot open log file {path}: {err.strerror or err}") from err
        with handle:
            yield handle
        return
    if hasattr(source, "read"):
        yield source
        return
    raise LogReadError(f"unsupported log source type {type(source).__name__}")


def _read(stream: BinaryIO, size: int) -> bytes:
    try:
        chunk = stream.read(size)
    except OSError as err:
        raise LogReadError(f"cannot read log: {err}") from err
    if chunk is None:
        return b""
    if isinstance(chunk, str):
        raise LogReadError("log stream is in text mode; open it in binary mode ('rb')")
    return bytes(chunk)


def iter_batches(
    stream: BinaryIO, *, read_size: int = READ_SIZE, max_line_bytes: int = MAX_LINE_BYTES
) -> Iterator[LineBatch]:
    """Stream ``stream`` as :class:`LineBatch` objects of complete lines, in order.

    Memory stays below about ``2 * read_size + max_line_bytes`` bytes whatever the input size.
    Raises :class:`LogReadError` on an OS error or a text-mode stream.
    """
    carry = b""
    skipping = False
    line_no = 1
    while True:
        chunk = _read(stream, read_size)
        if not chunk:
            break
        if skipping:
            nl = chunk.find(b"\n")
            if nl < 0:
                continue
            chunk = chunk[nl:]
            skipping = False
        buf = carry + chunk if carry else chunk
        last = buf.rfind(b"\n")
        if last < 0:
            carry = buf
        else:
            body, carry = buf[:last], buf[last + 1 :]
            n = body.count(b"\n") + 1
            yield LineBatch(line_no, n, body)
            line_no += n
        if len(carry) > max_line_bytes:
            carry = carry[:max_line_bytes] + TRUNCATED_MARK
            skipping = True
    if carry:
        yield LineBatch(line_no, 1, carry)


def iter_lines(stream: BinaryIO, *, read_size: int = READ_SIZE) -> Iterator[tuple[int, bytes]]:
    """Yield ``(line_number, raw_line_bytes)`` for every line of ``stream``, 1-indexed."""
    for batch in iter_batches(stream, read_size=read_size):
        for offset, raw in enumerate(batch.lines()):
            yield batch.first_line + offset, raw


def iter_clean_lines(source: LogSource) -> Iterator[tuple[int, CleanLine]]:
    """Yield ``(line_number, CleanLine)`` for every line of ``source`` (see :func:`open_binary`)."""
    with open_binary(source) as stream:
        for number, raw in iter_lines(stream):
            yield number, clean_line(raw)
