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

Choices, measured on the 46 CiDiff cases that ship a passing log
(``python bench/greendiff.py --set --keep``):

* multiset rather than set semantics (a line the green log prints ``k`` times blanks at most ``k``
  occurrences): as many or more hits at every budget (42 against 41 of 46 at 1,500 tokens, 46
  against 45 at 8,000), at 1-3% more tokens;
* lines holding an error word are blanked like any other when the green log has them (an
  always-present deprecation warning is not the failure): keeping every line the extractor would
  classify as a signal costs 2 hits at 800 tokens and 1 at 1,500, and raises the median by 15%;
* step structure is kept: blanking it too gives the same hits at a 4-5% higher median (the
  extractor no longer sees which step failed and falls back to wider windows).

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
"""Cleaned lines are normalised and compared on at most this many characters (bounds the cost of
a minified bundle or a dumped payload printed on one line; their start tells them apart)."""

CACHE_ENTRIES = 16384
"""Memoised per-line results (normalised digest, skip flag) before a memo is emptied."""

MAX_NORMALISED = 100_000
"""Distinct lines normalised per diff, at most: :func:`ci_healer.classify.normalise_line` costs
about 0.1 ms a line, so a pair of 50 MB logs with nothing in common stays within about 10 s;
lines beyond it are matched on their exact bytes only."""

CHUNK_BYTES = 1 << 20
"""The logs are split into lines this many bytes at a time (memory beyond the inputs stays small)."""

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
    (``"error\\x00boom"``), so ``##[error]boom`` and ``boom`` differ.
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


def _iter_lines(data: bytes) -> Iterator[bytes]:
    """The raw lines of ``data`` (without their ``\\n``), split :data:`CHUNK_BYTES` at a time.

    A trailing ``\\n`` does not add an empty last line; empty ``data`` has no lines.
    """
    size = len(data)
    pos = 0
    while pos < size:
        end = data.find(b"\n", min(pos + CHUNK_BYTES, size - 1))
        if end < 0:
            end = size
        yield from data[pos:end].split(b"\n")
        pos = end + 1


def _strip_timestamp(raw: bytes) -> bytes:
    """``raw`` without a leading GitHub/Jenkins timestamp (:data:`ci_healer.logread.TIMESTAMP_BYTES`)."""
    if raw[:1] in TIMESTAMP_FIRST_BYTES:
        m = TIMESTAMP_BYTES.match(raw)
        if m is not None:
            return raw[m.end() :]
    return raw


def _exact_digest(raw: bytes) -> int | None:
    """Digest of a raw line after its timestamp prefix; ``None`` for a line with nothing in it.

    Two lines with the same digest clean and normalise to the same text (only their timestamp
    prefixes may differ), so they are matched without cleaning either.
    """
    body = _strip_timestamp(raw)
    if not body.strip():
        return None
    return int.from_bytes(blake2b(body, digest_size=DIGEST_BYTES).digest())


def _normalised_key(line: Cleaned) -> int | None:
    if not line.visible:
        return None
    key = normalised(line).encode("utf-8", "replace")
    return int.from_bytes(blake2b(key, digest_size=DIGEST_BYTES).digest())


class _Memo(Generic[T]):
    """A bounded memo of a function of a cleaned raw line, keyed by the line's exact digest."""

    def __init__(
        self, function: Callable[[Cleaned], T], *, limit: int | None = None, spent: T | None = None
    ) -> None:
        self.function = function
        self.cache: dict[int, T] = {}
        self.left = limit
        """Calls of ``function`` still allowed (``None``: no limit); then ``spent`` is returned."""
        self.spent = spent

    def __call__(self, digest: int, raw: bytes) -> T | None:
        if digest in self.cache:
            return self.cache[digest]
        if self.left is not None:
            if self.left <= 0:
                return self.spent
            self.left -= 1
        found = self.function(clean(_strip_timestamp(raw)))
        if len(self.cache) >= CACHE_ENTRIES:
            self.cache.clear()
        self.cache[digest] = found
        return found


_KEEP, _BLANK, _PENDING = 0, 1, 2


def drop_green_lines(
    failed: bytes,
    green: bytes,
    *,
    multiset: bool = True,
    max_normalised: int = MAX_NORMALISED,
    keep: Callable[[Cleaned], bool] = structural,
) -> GreenDiff:
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
    in a counter per distinct green line. Lines are first matched on their bytes after the
    timestamp prefix (cheap); only the lines left over on both sides are cleaned, normalised and
    matched again (the same counts as matching everything normalised, since equal bytes imply
    equal normalised text). Besides the two inputs and the result, the diff holds the digests,
    bounded memos and one byte per failed line. Never raises on invalid UTF-8, NUL bytes, CRLF
    line endings or empty inputs. At most ``max_normalised`` distinct lines are normalised (see
    :data:`MAX_NORMALISED`); the lines past that budget are matched on their exact bytes only.
    ``keep`` decides which lines are never blanked (default :func:`structural`; the benchmark
    passes other rules to measure them).
    """
    failed = bytes(failed)
    green = bytes(green)
    total = failed.count(b"\n") + (1 if failed and not failed.endswith(b"\n") else 0)
    if not green or not total:
        return GreenDiff(failed, 0, total)
    exact: Counter[int] = Counter()
    for raw in _iter_lines(green):
        digest = _exact_digest(raw)
        if digest is not None:
            exact[digest] += 1
    skipped = _Memo(lambda line: not line.visible or keep(line))
    state = bytearray(total)  # _KEEP, _BLANK or _PENDING per failed line
    pending = 0
    for index, raw in enumerate(_iter_lines(failed)):
        digest = _exact_digest(raw)
        if digest is None:
            continue
        left = exact.get(digest, 0)
        if left <= 0:
            state[index] = _PENDING
            pending += 1
        elif not skipped(digest, raw):
            state[index] = _BLANK
            if multiset:
                exact[digest] = left - 1
    if pending:
        _match_normalised(failed, green, state, exact, skipped, multiset=multiset, limit=max_normalised)
    dropped = state.count(_BLANK)
    if not dropped:
        return GreenDiff(failed, 0, total)
    out = bytearray()
    for index, raw in enumerate(_iter_lines(failed)):
        if index:
            out += b"\n"
        if state[index] != _BLANK:
            out += raw
    if failed.endswith(b"\n"):
        out += b"\n"
    return GreenDiff(bytes(out), dropped, total - dropped)


def _match_normalised(
    failed: bytes,
    green: bytes,
    state: bytearray,
    exact: Counter[int],
    skipped: _Memo[bool],
    *,
    multiset: bool,
    limit: int,
) -> None:
    """Second level of :func:`drop_green_lines`: match the pending failed lines on normalised text.

    The green lines taken part are those an exact copy did not use up (multiset), or every
    distinct green line (set). Marks matched lines ``_BLANK``. The green log may use up half of
    ``limit`` normalisations, the failed log the rest.
    """
    norm_key = _Memo(_normalised_key, limit=limit // 2)
    norm: Counter[int] = Counter()
    seen: set[int] = set()
    for raw in _iter_lines(green):
        digest = _exact_digest(raw)
        if digest is None:
            continue
        if multiset:
            left = exact.get(digest, 0)
            if left <= 0:
                continue  # used up by an exact copy in the failed log
            exact[digest] = left - 1
        elif digest in seen:
            continue
        else:
            seen.add(digest)
        key = norm_key(digest, raw)
        if key is not None:
            norm[key] += 1
    if not norm:
        return
    assert norm_key.left is not None
    norm_key.left += limit - limit // 2
    for index, raw in enumerate(_iter_lines(failed)):
        if state[index] != _PENDING:
            continue
        digest = _exact_digest(raw)
        if digest is None:
            continue
        key = norm_key(digest, raw)
        left = norm.get(key, 0) if key is not None else 0
        if key is not None and left > 0 and not skipped(digest, raw):
            state[index] = _BLANK
            if multiset:
                norm[key] = left - 1
