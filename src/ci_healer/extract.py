"""Failure-block extraction: cut the lines that explain a failed CI job out of its log.

The log is streamed once in line batches (:mod:`ci_healer.logread`). A cheap prefilter finds
lines holding a trigger word (``error``, ``fail``, ``exception``, ``exit code``, ...) with one
compiled regular expression over each whole batch; only those lines are cleaned and classified
by the ecosystem rules below. Each classified line (a *signal*) opens a context window; windows
that overlap are merged into candidate blocks. A bounded set of the best candidates is kept
(memory does not grow with the log). Finally the best blocks that fit the token budget are
returned in log order.

Ranking follows how CI logs are written: the first specific error (a traceback, an assertion,
a compiler diagnostic) is the cause; summaries printed at the end of a step (``Process completed
with exit code 1``, Travis' ``The command "..." exited with 1.``, ``make: *** Error 1``, Maven's
``-> [Help 1]`` trailer, npm's ``A complete log of this run``) only echo it. Echo lines still
matter as anchors: the output just before a step's exit line is where the cause usually is when
no specific rule matched, so each exit line opens a low-ranked *step tail* window.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from typing import NamedTuple

from ci_healer.logread import LineBatch, LogSource, clean_line, iter_batches, open_binary
from ci_healer.models import Block, Extraction
from ci_healer.tokens import estimate_tokens

try:  # RE2 scans a whole batch for many alternatives in linear time, several times faster than re.
    import re2 as _fastre  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - exercised only without google-re2
    _fastre = re

DEFAULT_MAX_TOKENS = 1500
MAX_BLOCK_LINES = 120
"""A merged block never grows beyond this many lines; a longer run of signals starts a new block."""
MAX_CANDIDATES = 64
"""Candidate blocks kept while streaming (the best by score, then earliest)."""
MIN_TRUNCATED_TOKENS = 60
"""A block is only truncated into the remaining budget if at least this many tokens remain."""

# Trigger words for the prefilter, matched case-insensitively on raw bytes. Every rule below
# needs one of these on the line it classifies.
_TRIGGERS = (
    rb"error|fail|exception|traceback|panic|fatal|denied|not found|no such file|undefined|"
    rb"exit code|exited with|exit status|err!|cannot|can't|could not|couldn't|unable to|killed|"
    rb"timed out|segmentation fault|abort|missing|invalid|not installed|unknown|violation|"
    rb"E   |" + "\u2715|\u2717|\u274c|\u25cf|\u00d7 ".encode() + rb"|failing|assert|expected|"
    rb"too wide|is unused|is required|must |should |not in order|duplicate|out of memory|"
    rb"warning:|\[warn|^\s*\d+\. \[?l?\d*\]? ?\d{3} https?://|^> links|"
    rb"would reformat|would be reformatted|please |does not|did not|doesn't|didn't|"
    rb"not defined|unsupported|not supported|conflict|\*\* \(|diff --git|\[-\] |"
    rb"^\$ |\[0K\$ |##\[group\]Run "
)
_PREFILTER = _fastre.compile(b"(?im)" + _TRIGGERS)


class Rule(NamedTuple):
    """A line classifier: ``reason`` if ``pattern`` matches the cleaned line.

    ``score`` ranks causality (10 = a specific error, 1 = an echo); ``before``/``after`` are
    context lines added around the line. ``exit`` marks step-exit lines (step-tail anchors).
    """

    reason: str
    pattern: re.Pattern[str]
    score: int
    before: int
    after: int
    exit: bool = False


def _r(reason: str, pattern: str, score: int, before: int = 2, after: int = 6, *, exit: bool = False, flags: int = 0) -> Rule:
    return Rule(reason, re.compile(pattern, flags), score, before, after, exit)


_I = re.IGNORECASE
STEP_TAIL_LINES = 40

# Order matters: the first matching rule classifies a line. Echo rules come first so that a
# ``##[error]Process completed with exit code 1`` is an echo, not a ``gha-error``.
RULES: tuple[Rule, ...] = (
    # --- Non-errors that contain trigger words -------------------------------------------------
    _r("ignore", r"\b(?:0|no) (?:errors?|failures?|failed)\b(?!.*\b[1-9]\d* (?:errors?|failures?|failed)\b)"
       r"|Failures: 0, Errors: 0|\b0 failing\b|-Werror|--fail|error_?reporting|errorprone|"
       r"^\s*(?:Downloading|Downloaded|Installing|Collecting|Requirement already|Unpacking|Setting up|"
       r"Get:\d+|Selecting previously|Preparing to unpack|remote:|Receiving objects|Resolving deltas|"
       r"Fetched|Hit:\d+|Ign:\d+)\b|^\s*\[INFO\] (?!.*(?:FAIL|ERROR|BUILD FAILURE))|"
       r"^\s*(?:npm )?WARN |allow_failures|fast_finish|^\s*[+$] |^\s*\+\+ |^Using worker:", 0, 0, 0, flags=_I),
    # --- Echoes: step exits and tool trailers ----------------------------------------------------
    _r("exit-code", r"^The command \".*\" (?:exited|failed) with \d+|^Process completed with exit code [1-9]|"
       r"^Error: Process completed with exit code|^(?:ERROR: )?script returned exit code [1-9]|"
       r"^Build step '.*' marked build as failure|^Finished: FAILURE|^ERROR: Build step failed|"
       r"^Done\. Your build exited with [1-9]|^Error: The operation was canceled|"
       r"^##\[error\]Process completed", 2, STEP_TAIL_LINES, 0, exit=True),
    _r("make-error", r"^(?:g?make(?:\[\d+\])?|ninja): \*\*\* .*Error \d+|^ninja: build stopped", 2, 12, 0, exit=True),
    _r("echo", r"npm ERR! A complete log of this run|npm ERR! +/\S+/_logs/|^\[ERROR\] -> \[Help \d\]|"
       r"^\[ERROR\] (?:Re-run Maven|To see the full stack trace|For more information about the errors|"
       r"\[Help \d\]|Failed to execute goal .*-> \[Help)|^\[ERROR\]\s*$|"
       r"^(?:Command|Error: Command) failed with exit code|^error Command failed with exit code|"
       r"^info Visit https://yarnpkg|^Exited with code|^ERROR: Job failed|^Run with --(?:stacktrace|info|debug|scan)|"
       r"^\* Try:|^> Run with --|^Get more help at|^BUILD FAILED in|^The job exceeded", 1, 2, 2, flags=_I),
    _r("maven-error", r"^\[ERROR\] Failed to execute goal", 3, 2, 4),
    # --- Python ----------------------------------------------------------------------------------
    _r("python-traceback", r"^\s*Traceback \(most recent call last\):", 10, 2, 30),
    _r("pytest-failure", r"^E {2,}\S|^_{3,} .+ _{3,}$|^(?:FAILED|ERROR) \S+::\S+|^={3,} FAILURES ={3,}|"
       r"^={3,} ERRORS ={3,}|ERROR collecting|^(?:FAIL|ERROR): \w+ \(", 9, 3, 12),
    _r("python-exception", r"^\s*(?:\w+\.)*\w*(?:Error|Exception|Exit|Interrupt|Failure)(?:: .*)?$", 8, 12, 3),
    _r("lint-error", r"^\S+?:\d+:(?:\d+:)? (?:[EFWCRBDNSUI]\d{2,4}|error|[A-Z]{1,4}\d{3,4}) ", 8, 2, 6),
    _r("mypy-error", r"^\S+\.pyi?:\d+: error: ", 8, 2, 6),
    # --- JavaScript / TypeScript -----------------------------------------------------------------
    _r("tsc-error", r"error TS\d+:", 9, 2, 6),
    _r("jest-failure", r"^\s*(?:\u25cf|\u2715|\u2717|\u00d7) |^\s*\d+ failing\b|^\s*FAIL \S+\.(?:[jt]sx?|mjs|cjs)\b", 9, 2, 20),
    _r("npm-err", r"^npm ERR! (?:code|errno|syscall|path|404|ERESOLVE|peer|notarget|missing|Cannot|Could not|Failed|"
       r"Test failed|\w+@\S+ \w+: )|^npm ERR!|^error (?:An unexpected|Couldn't|\S+@\S+:)|^ERR_PNPM", 6, 2, 10),
    _r("eslint", r"^\s+\d+:\d+\s+(?:error|warning)\s", 8, 3, 6),
    # --- Go --------------------------------------------------------------------------------------
    _r("go-test-fail", r"^\s*--- FAIL:", 10, 2, 15),
    _r("go-panic", r"^panic: |^fatal error: ", 10, 1, 30),
    _r("go-fail-pkg", r"^FAIL\s+\S+\s+[\d.]+s$|^FAIL$", 3, 4, 0),
    # --- Rust ------------------------------------------------------------------------------------
    _r("cargo-error", r"^error(?:\[E\d{4}\])?: |^warning: .*denied|^error: could not compile", 9, 1, 14),
    _r("rust-panic", r"panicked at ", 10, 2, 10),
    _r("cargo-test-failed", r"^test result: FAILED|^test \S+ \.\.\. FAILED", 5, 2, 4),
    # --- JVM -------------------------------------------------------------------------------------
    _r("compiler-error", r"^\[ERROR\] .*\.(?:java|kt|scala|groovy):(?:\[\d+|\d+)|^\[ERROR\] COMPILATION ERROR|"
       r"^\S+\.(?:java|kt|scala|groovy):\d+: error:|^e: \S+\.kt", 10, 2, 8),
    _r("junit-failure", r"<<< (?:FAILURE|ERROR)!|^Tests in error:|^Failed tests:|^\s*Tests run: \d+, Failures: \d+, Errors: \d+.*FAIL|"
       r"^\S+ > \S+ FAILED$|^There (?:was|were) \d+ (?:failures?|errors?):|^FAILURES!$|^Tests run: \d+,\s+Failures: [1-9]", 9, 2, 20),
    _r("gradle-failure", r"^\* What went wrong:|^FAILURE: Build failed|^BUILD FAILED$|^> Task \S+ FAILED", 7, 1, 10),
    _r("maven-error", r"^\[ERROR\] (?!Tests run:)", 7, 1, 4),
    _r("java-exception", r"^(?:Exception in thread|Caused by: )|^\s*(?:[a-z]\w*\.)+[A-Z]\w*(?:Exception|Error)\b", 8, 2, 10),
    # --- C / C++ / native ------------------------------------------------------------------------
    _r("compiler-error", r"^\S+?:\d+(?::\d+)?: (?:fatal )?error:|^\S+\(\d+\): (?:fatal )?error|: error: |"
       r"^clang: error:|^collect2: error", 10, 2, 8),
    _r("linker-error", r"undefined reference to|undefined symbols? for architecture|ld: .*not found|"
       r"cannot find -l", 10, 2, 6, flags=_I),
    # --- Ruby / PHP / Elixir / misc -------------------------------------------------------------
    _r("rspec-failure", r"^\s*Failure/Error:|^Failures:$|^rspec \./\S+:\d+|^\s*\d+\) \S.*|^\d+ examples?, [1-9]\d* failures?", 8, 2, 12),
    _r("php-error", r"PHP (?:Fatal|Parse) error|^(?:Fatal|Parse) error: |^\s*\d+\)\s+\S+::\S+", 9, 2, 10),
    _r("elixir-error", r"^\*\* \(\w+", 9, 1, 10),
    _r("shell-error", r"command not found|No such file or directory|Permission denied|: not found$|"
       r"is not installed|not recognized as an internal or external command|Segmentation fault|Killed\b|"
       r"Out of memory|OOMKilled|timed out|ETIMEDOUT|ECONNRESET|ENOSPC|No space left on device", 7, 3, 4, flags=_I),
    _r("swift-error", r"\u274c|\u2717|: error: |XCTAssert\w* failed|Testing failed:|\*\* (?:TEST|BUILD) FAILED \*\*", 9, 2, 10),
    _r("gha-error", r"^##\[error\]|^::error", 6, 4, 2),
    _r("compiler-error", r"^\[error\] \S+\.\w+:\d+", 10, 2, 6),
    _r("test-failure", r"^\s*\[-\] |^\s*not ok \d+|^\s*\d+\) \S", 8, 2, 12),
    # --- Generic -----------------------------------------------------------------------------------
    _r("error", r"^\s*(?:\[error\]|error|fatal|failure|failed|fail|ERR!)\b|\b(?:errors?|fatal|failures?|failed)\b|"
       r"\bexception\b|\babort(?:ed|ing)?\b", 5, 3, 6, flags=_I),
    _r("lint-violation", r"^\S+?:\d+(?::\d+)?:? |\bline \d+, column \d+|\(severity: \d\)|too wide|is unused|"
       r"^\s*\d+\. \[?L?\d*\]? ?\d{3} https?://|^> links|would reformat|would be reformatted|\bnot in order\b|duplicate",
       4, 2, 6, flags=_I),
    _r("weak", r"\b(?:cannot|can't|could not|couldn't|unable to|missing|invalid|not found|undefined|denied|"
       r"not defined|unsupported|not supported|conflict|does not|did not|doesn't|didn't|must|should|please|unknown|"
       r"expected|assert\w*)\b", 2, 2, 4, flags=_I),
)

_GHA_ERROR_RULE = next(r for r in RULES if r.reason == "gha-error")
STEP_START = Rule("step-start", re.compile(r"^\$ \S|^Run \S"), 0, 0, 0)
"""A Travis command echo (``$ make test``) or a GitHub Actions step header (``##[group]Run ...``)."""
STEP_BOOST = 6
"""Score added to signals inside a step that ended with an exit line: the failing step."""
STEP_FALLBACK_LINES = 300
"""Without a visible step start, the failing step is taken as this many lines before its exit line."""
_CONTINUATION = re.compile(r"^(?!\s*(?:--- PASS|ok |PASS|=== RUN|\[INFO\]|\u2713|\u2714))(?:\s+\S|Caused by|\[error\] |E |\s*\.\.\.)")
MAX_CONTINUATION = 40


def classify_line(text: str, marker: str | None = None) -> Rule | None:
    """Return the first :data:`RULES` entry matching a cleaned line, or ``None``.

    ``marker`` is the GitHub workflow-command marker stripped by :func:`ci_healer.logread.clean_line`;
    ``error`` lines the other rules do not recognise become ``gha-error``. ``ignore`` rules
    return ``None``.
    """
    probe = f"##[error]{text}" if marker == "error" else text
    if (marker == "group" and text.startswith("Run ")) or (marker is None and text.startswith("$ ")):
        return STEP_START
    for rule in RULES:
        if rule.pattern.search(text if rule.reason != "exit-code" else probe):
            if rule.reason == "ignore":
                return None
            return rule
    if marker == "error":
        return _GHA_ERROR_RULE
    return None


@dataclass(slots=True)
class _Candidate:
    start: int
    end: int
    score: int
    reason: str
    signal_line: int
    lines: list[str] = field(default_factory=list)

    @property
    def priority(self) -> tuple[int, int]:
        return (self.score, -self.signal_line)


class _Signal(NamedTuple):
    line: int
    offset: int  # byte offset of the line start inside the joined buffer
    rule: Rule


def _walk_back(buf: bytes, offset: int, count: int) -> tuple[int, int]:
    """Move ``count`` lines up from the line starting at ``offset``; return (offset, lines moved)."""
    moved = 0
    while moved < count and offset > 0:
        offset = buf.rfind(b"\n", 0, offset - 1) + 1
        moved += 1
    return offset, moved


def _lines_from(buf: bytes, offset: int, count: int) -> list[bytes]:
    """Up to ``count`` raw lines of ``buf`` starting at the line beginning at ``offset``."""
    out: list[bytes] = []
    size = len(buf)
    while len(out) < count and offset <= size:
        nl = buf.find(b"\n", offset)
        if nl < 0:
            out.append(buf[offset:])
            break
        out.append(buf[offset:nl])
        offset = nl + 1
    return out


def _fold_repeats(lines: list[str]) -> list[str]:
    """Replace runs of identical consecutive lines by one line and a repeat note."""
    out: list[str] = []
    prev: str | None = None
    repeats = 0
    for line in lines:
        if line == prev:
            repeats += 1
            continue
        if repeats:
            out.append(f"  [previous line repeated {repeats} time{'s' if repeats > 1 else ''}]")
        out.append(line)
        prev, repeats = line, 0
    if repeats:
        out.append(f"  [previous line repeated {repeats} time{'s' if repeats > 1 else ''}]")
    return out


class _Extractor:
    """Streaming state: the previous batch, the open block, and the bounded candidate list."""

    def __init__(self) -> None:
        self.candidates: list[_Candidate] = []
        self.lines_total = 0
        self.tail: list[tuple[int, bytes]] = []
        self.step_start: int | None = None
        self.failed_steps: list[tuple[int, int]] = []

    # -- candidates ----------------------------------------------------------------------------
    def _worst(self) -> _Candidate | None:
        if len(self.candidates) < MAX_CANDIDATES:
            return None
        return min(self.candidates, key=lambda c: c.priority)

    def _admit(self, cand: _Candidate) -> None:
        # Merge with the previous candidate when they touch (blocks arrive in log order).
        if self.candidates:
            last = max(self.candidates, key=lambda c: c.end)
            if cand.start <= last.end + 1 and cand.end > last.end and (cand.end - last.start) < MAX_BLOCK_LINES * 2:
                skip = last.end - cand.start + 1
                last.lines.extend(cand.lines[skip:])
                last.end = cand.end
                if cand.score > last.score:
                    last.score, last.reason, last.signal_line = cand.score, cand.reason, cand.signal_line
                return
            if cand.end <= last.end:
                return  # fully inside an existing block
            if cand.start <= last.end:  # too long to merge: keep only the new lines
                cand.lines = cand.lines[last.end - cand.start + 1 :]
                cand.start = last.end + 1
                cand.signal_line = max(cand.signal_line, cand.start)
        worst = self._worst()
        if worst is not None:
            if cand.priority <= worst.priority:
                return
            self.candidates.remove(worst)
        self.candidates.append(cand)

    # -- batches -------------------------------------------------------------------------------
    def process(self, prev: LineBatch | None, cur: LineBatch, nxt: LineBatch | None) -> None:
        """Classify the trigger lines of ``cur``; ``prev``/``nxt`` only supply context lines."""
        head = prev.data + b"\n" if prev is not None else b""
        base = len(head)
        data = cur.data
        signals: list[_Signal] = []
        line = cur.first_line
        counted_to = 0
        next_free = 0
        for m in _PREFILTER.finditer(data):
            pos = m.start()
            if pos < next_free:
                continue
            start = data.rfind(b"\n", 0, pos) + 1
            end = data.find(b"\n", pos)
            if end < 0:
                end = len(data)
            next_free = end + 1
            line += data.count(b"\n", counted_to, start)
            counted_to = start
            text, marker = clean_line(data[start:end])
            rule = classify_line(text, marker)
            if rule is STEP_START:
                self.step_start = line
            elif rule is not None:
                if rule.exit:
                    first = self.step_start if self.step_start is not None else line - STEP_FALLBACK_LINES
                    self.failed_steps.append((first, line))
                    del self.failed_steps[:-64]
                signals.append(_Signal(line, base + start, rule))
        if not signals:
            return
        buf = head + data + (b"\n" + nxt.data if nxt is not None else b"")
        first_available = prev.first_line if prev is not None else cur.first_line
        last_available = nxt.last_line if nxt is not None else cur.last_line
        # Merge the windows of this batch's signals into blocks, then capture each block once.
        groups: list[tuple[int, int, list[_Signal]]] = []
        for sig in signals:
            lo = max(first_available, sig.line - sig.rule.before)
            hi = min(last_available, sig.line + sig.rule.after)
            if groups and lo <= groups[-1][1] + 1 and hi - groups[-1][0] < MAX_BLOCK_LINES:
                g_lo, g_hi, members = groups[-1]
                members.append(sig)
                groups[-1] = (g_lo, max(g_hi, hi), members)
            else:
                groups.append((lo, hi, [sig]))
        for lo, hi, members in groups:
            best = max(members, key=lambda s: (s.rule.score, -s.line))
            cand = _Candidate(lo, hi, best.rule.score, best.rule.reason, best.line)
            worst = self._worst()
            if worst is not None and cand.priority <= worst.priority and not self._touches_last(cand):
                continue
            anchor = members[0]
            offset, moved = _walk_back(buf, anchor.offset, anchor.line - lo)
            cand.start = anchor.line - moved
            raw = _lines_from(buf, offset, hi - cand.start + 1 + MAX_CONTINUATION)
            keep = hi - cand.start + 1
            if best.rule.after:  # stack traces and indented details run on past the fixed window
                while keep < len(raw) and keep < MAX_BLOCK_LINES and _CONTINUATION.match(clean_line(raw[keep]).text):
                    keep += 1
            raw = raw[:keep]
            cand.end = cand.start + len(raw) - 1
            cand.lines = [clean_line(r).text for r in raw]
            self._admit(cand)

    def _touches_last(self, cand: _Candidate) -> bool:
        return bool(self.candidates) and cand.start <= max(c.end for c in self.candidates) + 1

    def remember_tail(self, batch: LineBatch, keep: int) -> None:
        """Keep the last ``keep`` raw lines of the log for the no-signal fallback."""
        lines = batch.data.rsplit(b"\n", keep)[-keep:] if keep else []
        first = batch.last_line - len(lines) + 1
        merged = self.tail + list(zip(range(first, batch.last_line + 1), lines, strict=True))
        self.tail = merged[-keep:]


def _render(lines: list[str]) -> str:
    return "\n".join(_fold_repeats(lines))


def _fit(cand: _Candidate, budget: int) -> Block | None:
    """The candidate as a Block whose text fits ``budget`` tokens, cut from the end if needed."""
    text = _render(cand.lines)
    if estimate_tokens(text) <= budget:
        return Block(start_line=cand.start, end_line=cand.end, reason=cand.reason, text=text)
    # Keep the lines from the block start through the signal and as many after as fit.
    note_budget = 12
    skip = max(0, min(cand.signal_line - cand.start - SIGNAL_LEAD, len(cand.lines) - 1))
    lines = cand.lines[skip:]
    kept: list[str] = []
    size = 0
    for line in lines:
        size += estimate_tokens(line) + 1
        if size > budget - note_budget:
            break
        kept.append(line)
    while kept and estimate_tokens(_render(kept)) > budget - note_budget:
        kept.pop()
    if not kept:
        return None
    start = cand.start + skip
    end = start + len(kept) - 1
    text = _render(kept) + f"\n[block truncated: {cand.end - end} more lines]"
    return Block(start_line=start, end_line=end, reason=cand.reason, text=text)


SIGNAL_LEAD = 3
"""Lines kept before the deciding signal line when a block must be truncated."""
BLOCK_SHARE = 1.0
"""No single block may take more than this share of the budget, so several causes fit."""


def _select(cands: list[_Candidate], max_tokens: int) -> list[Block]:
    chosen: list[Block] = []
    used = 0
    share = max(MIN_TRUNCATED_TOKENS, int(max_tokens * BLOCK_SHARE))
    for cand in sorted(cands, key=lambda c: (-c.score, c.signal_line)):
        remaining = min(max_tokens - used, share)
        if max_tokens - used < MIN_TRUNCATED_TOKENS and chosen:
            break
        block = _fit(cand, remaining)
        if block is None:
            continue
        if block.end_line < cand.signal_line and chosen:
            continue  # truncation would drop the very line that made it a candidate
        chosen.append(block)
        used += estimate_tokens(block.text)
    return sorted(chosen, key=lambda b: b.start_line)


def extract(source: LogSource, *, max_tokens: int = DEFAULT_MAX_TOKENS) -> Extraction:
    """Extract the failure blocks of a CI job log.

    ``source``: log content as ``bytes``, a file path (``str``/``os.PathLike``) or a binary
    stream. Returns an :class:`~ci_healer.models.Extraction` with blocks in log order, 1-indexed
    inclusive line spans over the raw input split on ``\\n``, ``lines_total`` and the summed
    :func:`~ci_healer.tokens.estimate_tokens` of block texts (always <= ``max_tokens``). A
    non-empty log always yields at least one block: when no rule matches, its last lines as a
    ``tail`` block. Raises :class:`ci_healer.logread.LogReadError` for an unreadable source and
    ``ValueError`` for ``max_tokens`` < 16.
    """
    if max_tokens < 16:
        raise ValueError("max_tokens must be at least 16")
    state = _Extractor()
    tail_keep = 60
    with open_binary(source) as stream:
        prev: LineBatch | None = None
        cur: LineBatch | None = None
        for batch in iter_batches(stream):
            if cur is not None:
                state.process(prev, cur, batch)
                state.remember_tail(cur, tail_keep)
            prev, cur = cur, batch
        if cur is not None:
            state.process(prev, cur, None)
            state.remember_tail(cur, tail_keep)
            state.lines_total = cur.last_line
    for cand in state.candidates:
        if any(lo <= cand.signal_line <= hi for lo, hi in state.failed_steps):
            cand.score += STEP_BOOST
    blocks = _select(state.candidates, max_tokens)
    if not blocks and state.tail:
        while len(state.tail) > 1 and not clean_line(state.tail[-1][1]).text:
            state.tail.pop()  # trailing blank lines say nothing
        if state.tail:
            cand = _Candidate(state.tail[0][0], state.tail[-1][0], 0, "tail", state.tail[-1][0],
                              [clean_line(r).text for _, r in state.tail])
            # A tail is read from its end: keep the last lines that fit.
            while len(cand.lines) > 1 and estimate_tokens(_render(cand.lines)) > max_tokens:
                cand.lines.pop(0)
                cand.start += 1
            block = _fit(cand, max_tokens)
            if block is not None:
                blocks = [block]
    return Extraction(blocks=blocks, lines_total=state.lines_total,
                      tokens=sum(estimate_tokens(b.text) for b in blocks))
