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
3. :data:`PROGRESS`: progress percentages, transfer sizes and bracketed counters (``[ 45%]``,
   ``12.3 MB``, ``1.2 kB/s``, ``(450/1000)``), which step 2 leaves alone.

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
from collections.abc import Callable, Iterator
from hashlib import blake2b
from typing import Generic, NamedTuple, TypeVar

from ci_healer.classify import normalise_line
from ci_healer.extract import STEP_END, STEP_START, classify_line
from ci_healer.logread import TIMESTAMP_BYTES, TIMESTAMP_FIRST_BYTES, clean_line

T = TypeVar("T")

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
    (re.compile(r"([(\[])\s*\d+\s*/\s*\d+\s*([)\]])"), r"\1<n>/<n>\2"),
)
"""Progress counters left by :func:`ci_healer.classify.normalise_line`: percentages, sizes and
bracketed ``done/total`` counters (git's ``(450/1000)``, ninja's ``[12/345]``). A bare count is
not touched: ``Failures: 1`` and ``Failures: 0`` must stay different lines."""


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


def _strip_timestamp(raw: bytes) -> bytes:
    """``raw`` without a leading GitHub/Jenkins timestamp (:data:`ci_healer.logread.TIMESTAMP_BYTES`)."""
    if raw[:1] in TIMESTAMP_FIRST_BYTES:
        m = TIMESTAMP_BYTES.match(raw)
        if m is not None:
            return raw[m.end():]
    return raw


def _digest(text: str) -> int:
    return int.from_bytes(blake2b(text.encode("utf-8", "replace"), digest_size=DIGEST_BYTES).digest())


class Cleaned(NamedTuple):
    """One raw line as the diff sees it: ``text`` and ``marker`` of :func:`ci_healer.logread.clean_line`."""

    text: str
    marker: str | None

    @property
    def visible(self) -> bool:
        """Whether anything is left to compare (blank, empty and timestamp-only lines are never blanked)."""
        return bool(self.marker) or bool(self.text.strip())


def clean(raw: bytes) -> Cleaned:
    """:func:`ci_healer.logread.clean_line` of a raw line, uncapped up to :data:`LONG_LINE_BYTES`.

    A longer line keeps its first :data:`LONG_LINE_BYTES` characters (lines that long are
    minified bundles or dumped payloads; their start tells them apart). Never raises.
    """
    text, marker = clean_line(raw[: LONG_LINE_BYTES * 4], max_chars=LONG_LINE_BYTES)
    return Cleaned(text, marker)


def normalised(line: Cleaned) -> str:
    """The text two lines are compared on: marker, then the normalised text.

    :func:`ci_healer.classify.normalise_line`, then :data:`PROGRESS`; the marker is kept apart
    (``"error\x00boom"``), so ``##[error]boom`` and ``boom`` differ.
    """
    norm = normalise_line(line.text)
    for pattern, replacement in PROGRESS:
        norm = pattern.sub(replacement, norm)
    return f"{line.marker or ''}\x00{norm}"


def structural(line: Cleaned) -> bool:
    """Whether a line is never blanked: a :data:`KEEP_MARKERS` line, or a step start, end or exit.

    Step starts/ends/exits are what :func:`ci_healer.extract.classify_line` reports as
    :data:`ci_healer.extract.STEP_START`, :data:`ci_healer.extract.STEP_END` or an ``exit`` rule.
    """
    if line.marker in KEEP_MARKERS:
        return True
    if not line.text:
        return False
    rule = classify_line(line.text, line.marker)
    return rule is not None and (rule is STEP_START or rule is STEP_END or rule.exit)


def _normalised_digest(line: Cleaned) -> int:
    return _digest(normalised(line))


class _Lines:
    """Cleaned lines of one log, cached by the line after its timestamp prefix (bounded)."""

    def __init__(self) -> None:
        self.cache: dict[bytes, tuple[int, Cleaned] | None] = {}

    def exact(self, raw: bytes) -> tuple[int, Cleaned] | None:
        """``(digest of marker + cleaned text, cleaned line)``, ``None`` for a line with nothing visible."""
        body = _strip_timestamp(raw)
        short = len(body) <= CACHE_LINE_BYTES
        if short and body in self.cache:
            return self.cache[body]
        line = clean(body)
        found = (_digest(f"{line.marker or ''}\x00{line.text}"), line) if line.visible else None
        if short:
            if len(self.cache) >= CACHE_ENTRIES:
                self.cache.clear()
            self.cache[body] = found
        return found


class _Memo(Generic[T]):
    """A bounded memo of a function of a cleaned line, keyed by the line's exact digest."""

    def __init__(self, function: Callable[[Cleaned], T]) -> None:
        self.function = function
        self.cache: dict[int, T] = {}

    def __call__(self, digest: int, line: Cleaned) -> T:
        if digest in self.cache:
            return self.cache[digest]
        found = self.function(line)
        if len(self.cache) >= CACHE_ENTRIES:
            self.cache.clear()
        self.cache[digest] = found
        return found


_KEEP, _BLANK, _PENDING = 0, 1, 2


def drop_green_lines(failed: bytes, green: bytes, *, multiset: bool = True) -> GreenDiff:
    """Blank every line of ``failed`` whose normalised text is also a line of ``green``.

    ``failed``: the raw log of the failed job; ``green``: the raw log of the same job in the
    most recent successful run of the same workflow (bytes; bytearray/memoryview accepted).
    With ``multiset`` (the default) a line printed ``k`` times in ``green`` blanks at most ``k``
    of its occurrences in ``failed`` (exact copies first, then the earliest), so a line the failed
    run prints more often than the green one (a retry, a repeated error) keeps its extra
    occurrences; without it, a line of ``green`` blanks every occurrence. Structural lines (see
    :func:`structural`) are never blanked and never use up a green line; blank lines are left as
    they are. An empty ``green`` returns ``failed`` unchanged.

    Time and memory are linear and bounded: lines are compared by 8-byte blake2b digests held
    in a counter per distinct green line. Lines are first matched on their cleaned text (cheap);
    only the lines left over on both sides are normalised and matched again (the same counts as
    matching everything normalised, since equal cleaned text implies equal normalised text).
    Besides the two inputs and the result, the diff holds the digests and one byte per failed
    line. Never raises on invalid UTF-8, NUL bytes, CRLF line endings or empty inputs.
    """
    failed = bytes(failed)
    green = bytes(green)
    total = sum(1 for _ in _iter_lines(failed))
    if not green or not total:
        return GreenDiff(failed, 0, total)
    lines = _Lines()
    exact: Counter[int] = Counter()
    for start, end in _iter_lines(green):
        found = lines.exact(green[start:end])
        if found is not None:
            exact[found[0]] += 1
    is_structural = _Memo(structural)
    state = bytearray(total)  # _KEEP, _BLANK or _PENDING per failed line
    pending = 0
    for index, (start, end) in enumerate(_iter_lines(failed)):
        found = lines.exact(failed[start:end])
        if found is None or is_structural(*found):
            continue
        left = exact.get(found[0], 0)
        if left > 0:
            state[index] = _BLANK
            if multiset:
                exact[found[0]] = left - 1
        else:
            state[index] = _PENDING
            pending += 1
    norm_digest = _Memo(_normalised_digest)
    if pending:
        norm: Counter[int] = Counter()
        seen: set[int] = set()
        for start, end in _iter_lines(green):
            found = lines.exact(green[start:end])
            if found is None:
                continue
            if multiset:
                left = exact.get(found[0], 0)
                if left <= 0:
                    continue  # used up by an exact copy in the failed log
                exact[found[0]] = left - 1
            elif found[0] in seen:
                continue
            else:
                seen.add(found[0])
            norm[norm_digest(*found)] += 1
        for index, (start, end) in enumerate(_iter_lines(failed)):
            if state[index] != _PENDING:
                continue
            found = lines.exact(failed[start:end])
            assert found is not None
            key = norm_digest(*found)
            left = norm.get(key, 0)
            if left > 0:
                state[index] = _BLANK
                if multiset:
                    norm[key] = left - 1
    out = bytearray()
    dropped = 0
    copied = 0  # failed[:copied] is already in ``out``
    for index, (start, end) in enumerate(_iter_lines(failed)):
        if state[index] == _BLANK:
            out += failed[copied:start]
            copied = end
            dropped += 1
    out += failed[copied:]
    return GreenDiff(bytes(out), dropped, total - dropped)
