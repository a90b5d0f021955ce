"""Green-log diff: blank the lines of a failed job log that the last green run printed too.

The technique is CiDiff's (Hubner, Falleri et al., "CiDiff: Diffing CI logs", ISSTA 2025,
arXiv 2504.18182): a failed job's log is compared with the log of a passing run of the same job;
lines common to both are set-up, progress and passing output, mostly not the failure. Unlike
CiDiff's LCS diff this comparison is order-free (a line counts as common wherever it appears in
the green log), so it streams in linear time and bounded memory whatever the log size.

Lines are compared after normalisation, so that what changes from run to run does not make a
common line look new:

1. :func:`ci_healer.logread.clean_line`: the GitHub Actions / Jenkins timestamp prefix, ANSI and
   other ECMA-48 escapes, earlier ``\\r`` progress frames, Travis fold/time markers and the
   ``##[name]`` workflow-command marker (kept apart, so ``##[error]x`` and ``x`` differ);
2. :func:`ci_healer.classify.normalise_line`: timestamps, dates and clock times, durations
   (``0.12s``, ``(3 ms)``, ``Time elapsed: 1.2 sec``), UUIDs, SHAs and hex ids, temporary and
   workspace paths (``/tmp/...``, ``/var/folders/...``, ``/home/runner/work/<repo>/<repo>/``),
   IP addresses and ports, PIDs and job/worker ids, line:column numbers, numbers of 5+ digits
   (run ids, epoch times, byte counts), runs of whitespace;
3. :data:`PROGRESS`: progress percentages and transfer sizes (``[ 45%]``, ``12.3 MB``,
   ``1.2 kB/s``), which step 2 leaves alone.

Lines the extractor needs to find step boundaries are never blanked, even when the green log has
them: GitHub Actions ``##[group]`` / ``##[endgroup]`` / ``##[error]`` lines and every line that
:func:`ci_healer.extract.classify_line` takes for a step start (``##[group]Run ...``, Travis
``$ cmd``), a step end (``Post job cleanup.``, Jenkins ``[Pipeline] }``) or a step exit
(``Process completed with exit code 1``, ``The command "..." exited with 1.``).

Line numbers are 1-indexed over the raw log split on ``\\n`` (a bare ``\\r`` does not start a
line), the convention of :mod:`ci_healer.logread`; a blanked line becomes empty (its ``\\r`` of a
CRLF ending too) and every other byte is kept, so the line count and the numbering of every line
are unchanged and block spans found on the result are spans of the failed log.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from hashlib import blake2b
from typing import NamedTuple

from ci_healer.classify import normalise_line
from ci_healer.extract import STEP_END, STEP_START, classify_line
from ci_healer.logread import MAX_LINE_BYTES, TIMESTAMP_BYTES, TIMESTAMP_FIRST_BYTES, clean_line

DIGEST_BYTES = 8
"""Size of the blake2b digest kept per distinct green line (collisions: ~n^2 / 2^65)."""

LONG_LINE_BYTES = 1 << 16
"""A line longer than this is compared on its bytes after the timestamp prefix, not normalised."""

CACHE_LINE_BYTES = 512
"""Lines up to this long (after the timestamp prefix) have their digest cached."""
CACHE_ENTRIES = 16384
"""Cached digests before the cache is emptied (memory stays bounded: a few MB)."""

KEEP_MARKERS = frozenset({"group", "endgroup", "error"})
"""GitHub workflow-command markers whose lines are never blanked (the extractor's step structure
and GitHub's own error annotations)."""

PROGRESS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\b\d{1,3}(?:\.\d+)?\s?%"), "<pct>"),
    (re.compile(r"\b\d+(?:\.\d+)?\s?(?:[kKMGT]i?B|bytes|B)(?:/s)?\b"), "<size>"),
)
"""Progress counters left by :func:`ci_healer.classify.normalise_line`: percentages, sizes."""


class GreenDiff(NamedTuple):
    """Result of :func:`drop_green_lines`.

    ``log``: the failed log with common lines replaced by empty lines (same line count and
    numbering). ``dropped``: lines blanked. ``kept``: the other lines of the failed log (the
    lines already empty included), so ``dropped + kept`` is the failed log's line count.
    """

    log: bytes
    dropped: int
    kept: int


def _iter_lines(data: bytes) -> Iterator[tuple[int, int]]:
    """``(start, end)`` offsets of each line of ``data`` (``end`` at its ``\\n`` or the end).

    A trailing ``\\n`` does not add an empty last line; empty ``data`` has no lines.
    """
    size = len(data)
    pos = 0
    find = data.find
    while pos < size:
        end = find(b"\n", pos)
        if end < 0:
            end = size
        yield pos, end
        pos = end + 1


def line_key(raw: bytes) -> tuple[int | None, bool]:
    """``(digest, structural)`` of one raw line (without its ``\\n``).

    ``digest`` is the blake2b digest (as an int) of the line's marker and normalised text, or
    ``None`` when nothing visible is left (an empty, blank or timestamp-only line: never blanked
    and never counted). ``structural`` is true for lines that must never be blanked (see the
    module docstring). Never raises: invalid UTF-8 is replaced, NUL bytes are dropped.
    """
    return _key(_strip_timestamp(raw))


def _strip_timestamp(raw: bytes) -> bytes:
    """``raw`` without a leading GitHub/Jenkins timestamp (:data:`ci_healer.logread.TIMESTAMP_BYTES`)."""
    if raw[:1] in TIMESTAMP_FIRST_BYTES:
        m = TIMESTAMP_BYTES.match(raw)
        if m is not None:
            return raw[m.end():]
    return raw


def _key(body: bytes) -> tuple[int | None, bool]:
    """:func:`line_key` of a line whose timestamp prefix is already stripped."""
    if len(body) > LONG_LINE_BYTES:
        # a minified bundle or a dumped payload: exact comparison, normalising it costs too much
        return int.from_bytes(blake2b(b"\x01" + body[:MAX_LINE_BYTES], digest_size=DIGEST_BYTES).digest()), False
    text, marker = clean_line(body, max_chars=LONG_LINE_BYTES)
    if marker in KEEP_MARKERS:
        structural = True
    else:
        rule = classify_line(text, marker) if text else None
        structural = rule is not None and (rule is STEP_START or rule is STEP_END or rule.exit)
    norm = normalise_line(text)
    for pattern, replacement in PROGRESS:
        norm = pattern.sub(replacement, norm)
    if not norm and marker is None:
        return None, structural
    key = f"{marker or ''}\x00{norm}".encode("utf-8", "replace")
    return int.from_bytes(blake2b(key, digest_size=DIGEST_BYTES).digest()), structural


class _Keys:
    """:func:`line_key` with a bounded cache keyed by the line after its timestamp prefix."""

    def __init__(self) -> None:
        self.cache: dict[bytes, tuple[int | None, bool]] = {}

    def __call__(self, raw: bytes) -> tuple[int | None, bool]:
        body = _strip_timestamp(raw)
        if len(body) > CACHE_LINE_BYTES:
            return _key(body)
        found = self.cache.get(body)
        if found is None:
            found = _key(body)
            if len(self.cache) >= CACHE_ENTRIES:
                self.cache.clear()
            self.cache[body] = found
        return found


def drop_green_lines(failed: bytes, green: bytes, *, multiset: bool = True) -> GreenDiff:
    """Blank every line of ``failed`` whose normalised text is also a line of ``green``.

    ``failed``: the raw log of the failed job; ``green``: the raw log of the same job in the
    most recent successful run of the same workflow (bytes; bytearray/memoryview accepted).
    With ``multiset`` (the default) a line printed ``k`` times in ``green`` blanks at most its
    first ``k`` occurrences in ``failed``, so a line the failed run prints more often than the
    green one (a retry, a repeated error) keeps its extra occurrences; without it, any number.
    Structural lines (step starts, ends and exits, ``##[group]``/``##[endgroup]``/``##[error]``)
    are never blanked. An empty ``green`` returns ``failed`` unchanged.

    Time and memory are linear: the green log is streamed once into a set (or counter) of
    8-byte blake2b digests of its distinct normalised lines, then the failed log is streamed
    once; nothing but the two inputs, the digests and the result is held. Never raises on
    invalid UTF-8, NUL bytes, CRLF line endings or empty inputs.
    """
    failed = bytes(failed)
    green = bytes(green)
    total = sum(1 for _ in _iter_lines(failed))
    if not green or not failed:
        return GreenDiff(failed, 0, total)
    keys = _Keys()
    counts: Counter[int] = Counter()
    for start, end in _iter_lines(green):
        digest, _ = keys(green[start:end])
        if digest is not None:
            counts[digest] += 1
    out = bytearray()
    dropped = 0
    copied = 0  # failed[:copied] is already in ``out``
    for start, end in _iter_lines(failed):
        digest, structural = keys(failed[start:end])
        if digest is None or structural:
            continue
        left = counts.get(digest, 0)
        if left <= 0:
            continue
        if multiset:
            counts[digest] = left - 1
        out += failed[copied:start]
        copied = end
        dropped += 1
    out += failed[copied:]
    return GreenDiff(bytes(out), dropped, total - dropped)
