"""Failure-block extraction: cut the lines that explain a failed CI job out of its log.

The log is streamed once in line batches (:mod:`ci_healer.logread`). A cheap prefilter finds
lines holding a trigger word (``error``, ``fail``, ``exception``, ``exit code``, ...) with one
compiled regular expression over each whole batch; only those lines are cleaned and classified
by the ecosystem rules below. Each classified line (a *signal*) opens a context window; windows
that overlap are merged into candidate blocks. A bounded set of the best candidates is kept
(memory does not grow with the log), with the step-exit lines seen (``The command "..." exited
with 1.``, ``##[error]Process completed with exit code 1.``, Jenkins ``Build step ... marked build
as failure``) and the last :data:`TAIL_POOL_LINES` raw lines.

Ranking follows how CI logs are written: the first specific error (a traceback, an assertion,
a compiler diagnostic) is the cause; summaries printed at the end of a step (``Process completed
with exit code 1``, Travis' ``The command "..." exited with 1.``, ``make: *** Error 1``, Maven's
``-> [Help 1]`` trailer, npm's ``A complete log of this run``) only echo it. Echo lines still
matter as anchors: the output of the *failed step* (from its ``$ cmd`` / ``##[group]Run`` line to
its exit line) is where the cause is, so signals inside it are boosted, and the lines just before
the first failed step's exit line are chosen first.

Lines are chosen greedily under the token budget (:func:`ci_healer.tokens.estimate_tokens`, UTF-8
bytes / 4): the failed step's last lines (a share of the budget), then specific signals, then more
of the failed step, then weaker signals; short gaps between chosen lines are bridged and blocks
run on past their window while budget remains, but never across a step boundary (the line after
a step's exit line, a ``##[group]Run`` step header, GitHub's ``Post job cleanup.`` /
``Cleaning up orphan processes``, Jenkins' ``[Pipeline] }`` / ``[Pipeline] // stage``): a block
may end on an exit line, which names the exit code, but what follows it belongs to another step.
Chosen lines form maximal runs within one step, one
:class:`~ci_healer.models.Block` each, rendered by :func:`render_lines`, whose folds replace
repeated content by markers and never drop a line silently.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any, NamedTuple

from ci_healer.logread import (
    TIMESTAMP_BYTES,
    TIMESTAMP_FIRST_BYTES,
    LineBatch,
    LogSource,
    clean_line,
    iter_batches,
    open_binary,
)
from ci_healer.models import Block, Extraction
from ci_healer.tokens import estimate_tokens

try:  # RE2 scans a whole batch for many alternatives in linear time, several times faster than re.
    import re2 as _fastre
except ImportError:  # pragma: no cover - exercised only without google-re2
    _fastre = re

DEFAULT_MAX_TOKENS = 1500
MAX_BLOCK_LINES = 120
"""A merged block never grows beyond this many lines; a longer run of signals starts a new block."""
MAX_CANDIDATES = 64
"""Candidate blocks kept while streaming (the best by score, then earliest)."""

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
    # ``file.ext:line[:col]: message`` (linters), also indented under a heading (standard, ESLint's
    # unix format); the name must hold a ``.`` or ``/`` (apt's ``Get:1 http://...`` is no file)
    rb"^(?:\d{4}-\d\d-\d\dT[\d:.]+Z )?[^\s:]*[./][^\s:]*:\d+(?::\d+)?:? [^\d\s]|^\s+[^\s:]*[./][^\s:]*:\d+:\d+: \S|"
    rb"^\$ |\[0K\$ |##\[group\]Run |Post job cleanup\.|Cleaning up orphan processes|\[Pipeline\] (?:\}|// stage)"
)
_PREFILTER = _fastre.compile(b"(?im)" + _TRIGGERS)


def _raw_search(pattern: Any) -> Callable[[bytes, int, int], tuple[int, int]]:
    """``pattern``'s search as a function ``(data, pos, endpos) -> (start, end)``, ``(-1, -1)`` if none.

    With google-re2 this calls the compiled RE2 object's ``Match`` directly: the package's
    ``finditer`` builds a generator and a match object per hit, which costs more than the scan
    itself when a 1 MB batch holds thousands of trigger lines.
    """
    regexp = getattr(pattern, "_regexp", None)
    anchor = getattr(getattr(_fastre, "_Anchor", None), "UNANCHORED", None)
    if regexp is not None and anchor is not None and hasattr(regexp, "Match"):
        match = regexp.Match

        def search(data: bytes, pos: int, endpos: int) -> tuple[int, int]:
            span: tuple[int, int] = match(anchor, data, pos, endpos)[0]
            return span

        return search

    def fallback(data: bytes, pos: int, endpos: int) -> tuple[int, int]:
        m = pattern.search(data, pos, endpos)
        span: tuple[int, int] = m.span() if m is not None else (-1, -1)
        return span

    return fallback


_prefilter_search = _raw_search(_PREFILTER)


def trigger_lines(data: bytes) -> Iterator[tuple[int, int]]:
    """``(start, end)`` byte offsets of each line of ``data`` holding a prefilter trigger, in order.

    ``end`` is the offset of the line's ``\\n`` (or ``len(data)``). The same lines as taking, for
    each non-overlapping :data:`_PREFILTER` match that starts on a line not yet reported, the line
    holding the match start: after a hit the scan resumes at the next line (no trigger alternative
    but a ``^``-anchored one can cross a ``\\n``, and that one starts at a line start).
    """
    size = len(data)
    search = _prefilter_search
    rfind, find = data.rfind, data.find
    pos = 0
    while pos <= size:
        m_start, m_end = search(data, pos, size)
        if m_start < 0:
            return
        start = rfind(b"\n", 0, m_start) + 1
        end = find(b"\n", m_start)
        if end < 0:
            end = size
        yield start, end
        pos = max(m_end, end + 1)


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
    anchored: re.Pattern[str] | None = None
    """The alternatives of ``pattern`` that start with ``^``, without it, tried with ``match``."""
    floating: re.Pattern[str] | None = None
    """The other alternatives of ``pattern``, tried with ``search``."""

    def matches(self, text: str) -> bool:
        """``pattern.search(text)``, done as one anchored ``match`` and one ``search`` of the rest.

        ``re`` retries an alternation holding ``^`` branches at every position of the line; splitting
        the anchored branches off makes classifying a line several times faster, same result.
        """
        return bool(
            (self.anchored is not None and self.anchored.match(text))
            or (self.floating is not None and self.floating.search(text))
        )


def _top_level_alternatives(pattern: str) -> list[str]:
    """Split a regular expression at its top-level ``|`` (not inside groups, classes or escapes)."""
    parts: list[str] = []
    depth = 0
    in_class = False
    start = 0
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            i += 2
            continue
        if in_class:
            in_class = c != "]"
        elif c == "[":
            in_class = True
            if pattern[i + 1 : i + 2] == "]":
                i += 1
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif c == "|" and depth == 0:
            parts.append(pattern[start:i])
            start = i + 1
        i += 1
    parts.append(pattern[start:])
    return parts


def _r(
    reason: str,
    pattern: str,
    score: int,
    before: int = 2,
    after: int = 6,
    *,
    exit: bool = False,
    flags: int = 0,
) -> Rule:
    parts = _top_level_alternatives(pattern)
    anchored = [p[1:] for p in parts if p.startswith("^")]
    floating = [p for p in parts if not p.startswith("^")]
    return Rule(
        reason,
        re.compile(pattern, flags),
        score,
        before,
        after,
        exit,
        re.compile("|".join(f"(?:{p})" for p in anchored), flags) if anchored else None,
        re.compile("|".join(f"(?:{p})" for p in floating), flags) if floating else None,
    )


_I = re.IGNORECASE
STEP_TAIL_LINES = 150
_PASSING_TEST = (
    r"^\s*ok \d+\b|^\s*--- PASS:|^ok\s+\S+\s+(?:[\d.]+s|\(cached\))|"
    r"^\S+::\S+ PASSED\b|^\s*(?:\u2713|\u2714|\u221a)\s"
)
"""A passing test's line: TAP ``ok 3 name``, Go ``--- PASS: T`` and ``ok  pkg 0.1s``, pytest's
``path::test PASSED``, mocha/jest/XCTest ``✓ name``."""

# Order matters: the first matching rule classifies a line. Echo rules come first so that a
# ``##[error]Process completed with exit code 1`` is an echo, not a ``gha-error``.
RULES: tuple[Rule, ...] = (
    # TAP (node-tap, tape, prove): ``not ok 6 no errors`` fails a test whose *name* would read as
    # a non-error below; a TAP failure line is classified before the non-error rules.
    _r("test-failure", r"^\s*not ok \d+\b", 8, 2, 12),
    # --- Non-errors that contain trigger words -------------------------------------------------
    # Passing-test lines (TAP ``ok 3 does not throw``, Go ``--- PASS:`` / ``ok  pkg 0.1s``, pytest
    # ``PASSED``, mocha/jest/XCTest ``✓ name``): a test name holding
    # ``error``/``duplicate``/``does not`` is not a failure signal.
    _r("ignore", _PASSING_TEST, 0, 0, 0),
    _r(
        "ignore",
        r"\b(?:0|no) (?:errors?|failures?|failed)\b(?!.*\b[1-9]\d* (?:errors?|failures?|failed)\b)"
        r"|Failures: 0, Errors: 0|\b0 failing\b|-Werror|--fail|error_?reporting|errorprone|"
        r"^\s*(?:Downloading|Downloaded|Installing|Collecting|Requirement already|Unpacking|Setting up|"
        r"Get:\d+|Selecting previously|Preparing to unpack|remote:|Receiving objects|Resolving deltas|"
        r"Fetched|Hit:\d+|Ign:\d+)\b|^\s*\[INFO\] (?!.*(?:FAIL|ERROR|BUILD FAILURE))|"
        r"^\s*(?:npm )?WARN |allow_failures|fast_finish|^\s*[+$] |^\s*\+\+ |^Using worker:",
        0,
        0,
        0,
        flags=_I,
    ),
    # --- Echoes: step exits and tool trailers ----------------------------------------------------
    _r(
        "exit-code",
        r"^The command \".*\" (?:exited|failed) with [1-9]|^The command \".*\" failed \d+ times\.|^\" (?:exited|failed) with [1-9]|"
        r"^Process completed with exit code [1-9]|"
        r"^Error: Process completed with exit code|^(?:ERROR: )?script returned exit code [1-9]|"
        r"^Build step '.*' marked build as failure|^ERROR: Build step failed|^Error: The operation was canceled|"
        r"^##\[error\]Process completed",
        2,
        STEP_TAIL_LINES,
        0,
        exit=True,
    ),
    _r("echo", r"^Done\. Your build exited with [1-9]|^Finished: FAILURE", 1, 0, 0),
    _r(
        "make-error",
        r"^(?:g?make(?:\[\d+\])?|ninja): \*\*\* .*Error \d+|^ninja: build stopped",
        2,
        12,
        0,
        exit=True,
    ),
    # A failure echoed by the tools around the failing one: npm's lifecycle trailer (``code
    # ELIFECYCLE``, ``errno 1``, ``pkg@1.0.0 test: `jest` ``, ``Exit status 1``, ``Failed at the
    # ... script``), lerna's ``exited 1 in 'pkg'``: they rank below the error they repeat.
    _r(
        "echo",
        r"^npm ERR! (?:code ELIFECYCLE|errno \d+$|Exit status \d+|Failed at the \S+ \S+ script|"
        r"This is probably not a problem with npm|\S+@\S+ \S+: `|Test failed\.  See above)|^lerna ERR! .* exited \d+ in |"
        # npm 2-6's support boilerplate after a failed script (platform, argv, "Tell the author", npm-debug.log)
        r"^npm ERR! (?:(?:Linux|Darwin|Windows_NT) \d|argv |node v\d|npm  v\d|cwd |This is most likely a problem with|"
        r"not with npm itself|Tell the author|You can get (?:information|their info)|Or if that isn't available|"
        r"There is likely additional logging|Please include the following file|\s+npm (?:bugs|owner ls) |\s+/\S+npm-debug\.log$|\s*$)|"
        r"npm ERR! A complete log of this run|npm ERR! +/\S+/_logs/|^\[ERROR\] -> \[Help \d\]|"
        r"^\[ERROR\] (?:Re-run Maven|To see the full stack trace|For more information about the errors|"
        r"\[Help \d\]|Failed to execute goal .*-> \[Help)|^\[ERROR\]\s*$|"
        r"^(?:Command|Error: Command) failed with exit code|^error Command failed with exit code|"
        r"^info Visit https://yarnpkg|^Exited with code|^ERROR: Job failed|^Run with --(?:stacktrace|info|debug|scan)|"
        r"^\* Try:|^> Run with --|^Get more help at|^BUILD FAILED in|^The job exceeded",
        1,
        2,
        2,
        flags=_I,
    ),
    _r("maven-error", r"^\[ERROR\] Failed to execute goal", 3, 2, 4),
    # --- Python ----------------------------------------------------------------------------------
    _r("python-traceback", r"^\s*Traceback \(most recent call last\):", 10, 2, 30),
    _r(
        "pytest-failure",
        r"^E {2,}\S|^_{3,} .+ _{3,}$|^(?:FAILED|ERROR) \S+::\S+|^={3,} FAILURES ={3,}|"
        r"^={3,} ERRORS ={3,}|ERROR collecting|^(?:FAIL|ERROR): \w+ \(",
        9,
        3,
        12,
    ),
    _r(
        "python-exception", r"^\s*(?:\w+\.)*\w*(?:Error|Exception|Exit|Interrupt|Failure)(?:: .*)?$", 8, 12, 3
    ),
    _r(
        "lint-error",
        r"^\S+?:\d+:(?:\d+:)? (?:[EFWCRBDNSUI]\d{2,4}|[CWEFR]:|error|[A-Z]{1,4}\d{3,4}) ",
        8,
        2,
        6,
    ),
    _r("mypy-error", r"^\S+\.pyi?:\d+: error: ", 8, 2, 6),
    # --- JavaScript / TypeScript -----------------------------------------------------------------
    _r("tsc-error", r"error TS\d+:", 9, 2, 6),
    _r(
        "jest-failure",
        r"^\s*(?:\u25cf|\u2715|\u2717|\u00d7) |^\s*\d+ failing\b|^\s*FAIL \S+\.(?:[jt]sx?|mjs|cjs)\b",
        9,
        2,
        20,
    ),
    _r(
        "npm-err",
        r"^npm ERR! (?:code|errno|syscall|path|404|ERESOLVE|peer|notarget|missing|Cannot|Could not|Failed|"
        r"Test failed|\w+@\S+ \w+: )|^npm ERR!|^error (?:An unexpected|Couldn't|\S+@\S+:)|^ERR_PNPM",
        6,
        2,
        10,
    ),
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
    _r(
        "compiler-error",
        r"^\[ERROR\] .*\.(?:java|kt|scala|groovy):(?:\[\d+|\d+)|^\[ERROR\] COMPILATION ERROR|"
        r"^\S+\.(?:java|kt|scala|groovy):\d+: error:|^e: \S+\.kt",
        10,
        2,
        8,
    ),
    _r(
        "junit-failure",
        r"<<< (?:FAILURE|ERROR)!|^Tests in error:|^Failed tests:|^\s*Tests run: \d+, Failures: \d+, Errors: \d+.*FAIL|"
        r"^\S+ > \S+ FAILED$|^There (?:was|were) \d+ (?:failures?|errors?):|^FAILURES!$|^Tests run: \d+,\s+Failures: [1-9]|"
        # ScalaTest / sbt: ``[info] - name *** FAILED ***``; PHP's run-tests: ``FAIL name [dir/test.phpt]``
        r"\*\*\* FAILED \*\*\*|^FAIL .+ \[\S+\.phpt\]$",
        9,
        2,
        20,
    ),
    _r(
        "gradle-failure",
        r"^\* What went wrong:|^FAILURE: Build failed|^BUILD FAILED$|^> Task \S+ FAILED",
        7,
        1,
        10,
    ),
    _r("maven-error", r"^\[ERROR\] (?!Tests run:)", 7, 1, 4),
    _r(
        "java-exception",
        r"^(?:Exception in thread|Caused by: )|^\s*(?:[a-z]\w*\.)+[A-Z]\w*(?:Exception|Error)\b",
        8,
        2,
        10,
    ),
    # --- C / C++ / native ------------------------------------------------------------------------
    _r(
        "compiler-error",
        r"^\S+?:\d+(?::\d+)?: (?:fatal )?error:|^\S+\(\d+\): (?:fatal )?error|: error: |"
        r"^clang: error:|^collect2: error",
        10,
        2,
        8,
    ),
    _r(
        "linker-error",
        r"undefined reference to|undefined symbols? for architecture|ld: .*not found|"
        r"cannot find -l",
        10,
        2,
        6,
        flags=_I,
    ),
    # --- Ruby / PHP / Elixir / misc -------------------------------------------------------------
    _r(
        "rspec-failure",
        r"^\s*Failure/Error:|^Failures:$|^rspec \./\S+:\d+|^\s*\d+\) \S.*|^\d+ examples?, [1-9]\d* failures?",
        8,
        2,
        12,
    ),
    _r("php-error", r"PHP (?:Fatal|Parse) error|^(?:Fatal|Parse) error: |^\s*\d+\)\s+\S+::\S+", 9, 2, 10),
    _r("elixir-error", r"^\*\* \(\w+", 9, 1, 10),
    _r(
        "shell-error",
        r"command not found|No such file or directory|Permission denied|: not found$|"
        r"is not installed|not recognized as an internal or external command|Segmentation fault|Killed\b|"
        r"Out of memory|OOMKilled|timed out|ETIMEDOUT|ECONNRESET|ENOSPC|No space left on device",
        7,
        3,
        4,
        flags=_I,
    ),
    _r(
        "swift-error",
        r"\u274c|\u2717|: error: |XCTAssert\w* failed|Testing failed:|\*\* (?:TEST|BUILD) FAILED \*\*",
        9,
        2,
        10,
    ),
    _r("gha-error", r"^##\[error\]|^::error", 6, 4, 2),
    _r("compiler-error", r"^\[error\] \S+\.\w+:\d+", 10, 2, 6),
    _r("test-failure", r"^\s*\[-\] |^\s*not ok \d+|^\s*\d+\) \S", 8, 2, 12),
    # --- Generic -----------------------------------------------------------------------------------
    _r(
        "error",
        r"^\s*(?:\[error\]|error|fatal|failure|failed|fail|ERR!)\b|\b(?:errors?|fatal|failures?|failed)\b|"
        r"\bexception\b|\babort(?:ed|ing)?\b",
        5,
        3,
        6,
        flags=_I,
    ),
    _r("diag-warning", r"^\S+?:\d+(?::\d+)?:? (?:.*\s)?(?:\w*warning|note):", 4, 2, 6, flags=_I),
    _r(
        "lint-violation",
        r"^\S+?:\d+(?::\d+)?:? |^\s+\S+?:\d+:\d+: \S|^\[(?:WARN|WARNING)\] \S+?:\[?\d+|\bline \d+, column \d+|\(severity: \d\)|too wide|is unused|"
        r"^\s*\d+\. \[?L?\d*\]? ?\d{3} https?://|^> links|would reformat|would be reformatted|\bnot in order\b|duplicate",
        4,
        2,
        6,
        flags=_I,
    ),
    _r(
        "weak",
        r"\b(?:cannot|can't|could not|couldn't|unable to|missing|invalid|not found|undefined|denied|"
        r"not defined|unsupported|not supported|conflict|does not|did not|doesn't|didn't|must|should|please|unknown|"
        r"expected|assert\w*)\b",
        2,
        2,
        4,
        flags=_I,
    ),
)

_GHA_ERROR_RULE = next(r for r in RULES if r.reason == "gha-error")
STEP_START = Rule("step-start", re.compile(r"^\$ \S|^Run \S"), 0, 0, 0)
"""A Travis command echo (``$ make test``) or a GitHub Actions step header (``##[group]Run ...``)."""
STEP_END = Rule(
    "step-end",
    re.compile(r"^(?:Post job cleanup\.|Cleaning up orphan processes|\[Pipeline\] (?:\}|// stage))"),
    0,
    0,
    0,
)
"""A line that starts what follows a step: GitHub Actions' post-job phase (``Post job cleanup.``,
``Cleaning up orphan processes``) or the close of a Jenkins pipeline block (``[Pipeline] }``,
``[Pipeline] // stage``). No block holds both this line and the one before it."""
MAX_BOUNDARIES = 4096
"""Step boundaries remembered at each end of the log (the first and the last ``MAX_BOUNDARIES``)."""
STEP_BOOST = 6
"""Score added to signals inside a step that ended with an exit line: the failing step. Only a
step whose start is in the log counts (without one the step's extent is a guess: no boost)."""
STEP_FALLBACK_LINES = 300
"""Without a visible step start, the failing step is taken as this many lines before its exit line."""
_CONTINUATION = re.compile(
    r"^(?!\s*(?:--- PASS|ok |PASS|=== RUN|\[INFO\]|\u2713|\u2714))(?:\s+\S|Caused by|\[error\] |E |\s*\.\.\.)"
)
MAX_CONTINUATION = 40


_UNICODE_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")


class _RuleSet:
    """All :data:`RULES` in one RE2 ``Set``: one scan of a line finds every rule that matches.

    Alternatives RE2 cannot run (lookaheads) stay with ``re`` and are tried only for rules
    ranked before the first RE2 hit. Without google-re2 installed, rules are tried one by one.
    """

    def __init__(self, rules: tuple[Rule, ...]) -> None:
        self.rules = rules
        self.owner: list[int] = []  # Set pattern index -> rule index
        self.slow: list[tuple[int, re.Pattern[str]]] = []  # (rule index, pattern) checked with re
        self.set = None
        if _fastre is re or not hasattr(_fastre, "Set"):
            return
        rset = _fastre.Set.SearchSet()
        for index, rule in enumerate(rules):
            prefix = "(?i)" if rule.pattern.flags & re.IGNORECASE else ""
            for part in _top_level_alternatives(rule.pattern.pattern):
                part = _UNICODE_ESCAPE.sub(lambda m: re.escape(chr(int(m.group(1), 16))), part)
                try:
                    if "(?!" in part or "(?=" in part or "(?<" in part:
                        raise ValueError(part)
                    rset.Add(prefix + part)
                except Exception:
                    self.slow.append((index, re.compile(part, rule.pattern.flags)))
                else:
                    self.owner.append(index)
        rset.Compile()
        self.set = rset

    def first(self, text: str) -> Rule | None:
        """The first rule (in :data:`RULES` order) whose pattern matches ``text``, or ``None``."""
        if self.set is None:
            return next((r for r in self.rules if r.matches(text)), None)
        hits = self.set.Match(text) or ()
        best = min((self.owner[h] for h in hits), default=len(self.rules))
        for index, pattern in self.slow:
            if index >= best:
                break
            if pattern.search(text):
                best = index
                break
        return self.rules[best] if best < len(self.rules) else None


_RULE_SET = _RuleSet(RULES)


def classify_line(text: str, marker: str | None = None) -> Rule | None:
    """Return the first :data:`RULES` entry matching a cleaned line, or ``None``.

    ``marker`` is the GitHub workflow-command marker stripped by :func:`ci_healer.logread.clean_line`;
    ``error`` lines the other rules do not recognise become ``gha-error``. ``ignore`` rules
    return ``None``.
    """
    probe = f"##[error]{text}" if marker == "error" else text
    if (marker == "group" and text.startswith("Run ")) or (marker is None and text.startswith("$ ")):
        return STEP_START
    if marker is None and STEP_END.pattern.match(text):
        return STEP_END
    if marker == "error":
        found = next((r for r in RULES if r.matches(text if r.reason != "exit-code" else probe)), None)
    else:
        found = _RULE_SET.first(text)
    if found is not None:
        return None if found.reason == "ignore" else found
    if marker == "error":
        return _GHA_ERROR_RULE
    return None


@dataclass(slots=True)
class _Candidate:
    """A window of cleaned lines ``start``..``end`` around one or more signals."""

    start: int
    end: int
    score: int
    reason: str
    signal_line: int
    lines: list[str | bytes] = field(default_factory=list)
    """Cleaned lines ``start``..``end`` (while streaming, short ones still raw bytes: see :func:`_defer_clean`)."""

    @property
    def priority(self) -> tuple[int, int]:
        return (self.score, -self.signal_line)


@dataclass(slots=True)
class _StepExit:
    """A step-exit line (``exit_line``) and the cleaned lines of its step just before it."""

    step_start: int | None
    exit_line: int
    start: int
    lines: list[str | bytes]


LINT_RUN = 3
"""Diagnostic lines (``path:line[:col]: message``) in one window that make a failure signal."""
LINT_RUN_SCORE = 8
_LINT_REASONS = frozenset({"lint-violation", "lint-error"})


def _lint_run(members: list[_Signal]) -> bool:
    """Whether a window holds a run of linter diagnostics without trigger words.

    Checkstyle (``[WARN] path:12:3: message [Rule]``), flake8, pylint, rubocop, ESLint's compact
    and unix formats, ``path:line: message`` of many checkers: one such line is weak, a run of
    :data:`LINT_RUN` in one window is what failed the job. Lines in a *warning* format
    (``x.c:3:1: warning:``, Python's ``DeprecationWarning:``) do not count: warnings alone do
    not fail a job, and successful builds print runs of them.
    """
    count = 0
    for sig in members:
        if sig.rule.reason in _LINT_REASONS and not sig.rule.exit:
            count += 1
            if count >= LINT_RUN:
                return True
    return False


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


MAX_EXITS = 4
"""Step exits remembered at each end of the log (the first and the last ``MAX_EXITS``)."""
DEFER_CLEAN_BYTES = 2048
"""Window lines up to this long are kept raw and cleaned only if their window survives to the
end of the log (most are evicted first); longer ones are cleaned at once, so memory stays small."""


def _defer_clean(raw: bytes) -> bytes | str:
    """``raw`` itself when at most :data:`DEFER_CLEAN_BYTES` long, else its cleaned text."""
    return raw if len(raw) <= DEFER_CLEAN_BYTES else clean_line(raw).text


CACHE_LINE_BYTES = 512
"""Trigger lines up to this long (after a timestamp prefix) have their cleaning and rule cached."""
CACHE_ENTRIES = 4096
"""Cached lines per cache before it is emptied (memory stays bounded: at most a few MB; 8192
held 4 MB more at peak on a 100 MB log for no measurable speed-up)."""


class _Extractor:
    """Streaming state: the candidate list (bounded), step exits (bounded) and the log tail."""

    def __init__(self) -> None:
        self.candidates: list[_Candidate] = []
        self._worst_cache: _Candidate | None = None
        """The result of ``min(candidates, key=priority)`` while valid; ``None`` when stale."""
        self._last: _Candidate | None = None
        """The candidate with the largest ``end`` (the one admitted or merged into last)."""
        self._cache_stamped: dict[bytes, tuple[str, str | None, Rule | None]] = {}
        """Line after its timestamp prefix -> cleaned text, marker, rule (see :func:`_classify_raw`)."""
        self._cache_plain: dict[bytes, tuple[str, str | None, Rule | None]] = {}
        """Whole raw line without a timestamp prefix -> cleaned text, marker, rule."""
        self.lines_total = 0
        self.tail: list[tuple[int, bytes]] = []
        self.step_start: int | None = None
        self.failed_steps: list[tuple[int, int]] = []
        self.first_exits: list[_StepExit] = []
        self.last_exits: list[_StepExit] = []
        self.first_boundaries: list[int] = []
        self.last_boundaries: list[int] = []

    # -- candidates ----------------------------------------------------------------------------
    def _classify_raw(self, raw: bytes) -> tuple[str, str | None, Rule | None]:
        """``clean_line(raw)`` and :func:`classify_line` of it, cached for short lines.

        CI logs print the same lines again and again (warnings, progress, per-test lines); a
        GitHub Actions line is cached by what follows its timestamp (see
        :data:`ci_healer.logread.TIMESTAMP_BYTES`), so two stamps of one line share an entry.
        """
        if len(raw) > CACHE_LINE_BYTES + 40:
            text, marker = clean_line(raw)
            return text, marker, classify_line(text, marker)
        cache, key = self._cache_plain, raw
        if raw[:1] in TIMESTAMP_FIRST_BYTES:
            m = TIMESTAMP_BYTES.match(raw)
            if m is not None:
                cache, key = self._cache_stamped, raw[m.end() :]
        found = cache.get(key)
        if found is None:
            text, marker = clean_line(raw)
            found = (text, marker, classify_line(text, marker))
            if len(key) <= CACHE_LINE_BYTES:
                if len(cache) >= CACHE_ENTRIES:
                    cache.clear()
                cache[key] = found
        return found

    def _worst(self) -> _Candidate | None:
        if len(self.candidates) < MAX_CANDIDATES:
            return None
        if self._worst_cache is None:
            self._worst_cache = min(self.candidates, key=lambda c: c.priority)
        return self._worst_cache

    def _admit(self, cand: _Candidate) -> None:
        # Merge with the previous candidate when they touch (blocks arrive in log order). Ends
        # strictly increase in list order, so the candidate with the largest end is the last
        # one admitted (or merged into).
        if self.candidates:
            last = self._last
            assert last is not None
            if (
                cand.start <= last.end + 1
                and cand.end > last.end
                and (cand.end - last.start) < MAX_BLOCK_LINES * 2
            ):
                skip = last.end - cand.start + 1
                last.lines.extend(cand.lines[skip:])
                last.end = cand.end
                if cand.score > last.score:
                    last.score, last.reason, last.signal_line = cand.score, cand.reason, cand.signal_line
                    self._worst_cache = None
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
        self._last = cand
        self._worst_cache = None

    def _boundary(self, line: int) -> None:
        """Remember that no block may hold both ``line - 1`` and ``line`` (a step boundary)."""
        if len(self.first_boundaries) < MAX_BOUNDARIES:
            self.first_boundaries.append(line)
        else:
            self.last_boundaries.append(line)
            if len(self.last_boundaries) > 2 * MAX_BOUNDARIES:
                del self.last_boundaries[:-MAX_BOUNDARIES]

    def _remember_exit(self, step: _StepExit) -> None:
        if len(self.first_exits) < MAX_EXITS:
            self.first_exits.append(step)
        else:
            self.last_exits.append(step)
            del self.last_exits[:-MAX_EXITS]

    # -- batches -------------------------------------------------------------------------------
    def process(self, prev: LineBatch | None, cur: LineBatch, nxt: LineBatch | None) -> None:
        """Classify the trigger lines of ``cur``; ``prev``/``nxt`` only supply context lines."""
        head = prev.data + b"\n" if prev is not None else b""
        base = len(head)
        data = cur.data
        signals: list[_Signal] = []
        exits: list[tuple[_Signal, int | None]] = []
        line = cur.first_line
        counted_to = 0
        count = data.count
        classify = self._classify_raw
        for start, end in trigger_lines(data):
            line += count(b"\n", counted_to, start)
            counted_to = start
            _, marker, rule = classify(data[start:end])
            if rule is None:
                continue
            if rule is STEP_START:
                self.step_start = line
                if marker == "group":
                    self._boundary(line)
            elif rule is STEP_END:
                self._boundary(line)
                self.step_start = None
            else:
                if rule.exit:
                    if rule.reason == "exit-code":
                        self._boundary(line + 1)
                    if self.step_start is not None:
                        self.failed_steps.append((self.step_start, line))
                        del self.failed_steps[:-64]
                    exits.append((_Signal(line, base + start, rule), self.step_start))
                else:
                    signals.append(_Signal(line, base + start, rule))
        if not signals and not exits:
            return
        buf = head + data + (b"\n" + nxt.data if nxt is not None else b"")
        first_available = prev.first_line if prev is not None else cur.first_line
        last_available = nxt.last_line if nxt is not None else cur.last_line
        for sig, step_start in exits:
            lo = max(first_available, sig.line - STEP_TAIL_LINES, step_start or 1)
            offset, moved = _walk_back(buf, sig.offset, sig.line - lo)
            raw = _lines_from(buf, offset, moved + 1)
            self._remember_exit(
                _StepExit(step_start, sig.line, sig.line - moved, [_defer_clean(r) for r in raw])
            )
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
            if cand.score < LINT_RUN_SCORE and _lint_run(members):
                first_lint = next(s for s in members if s.rule.reason in _LINT_REASONS)
                cand.score, cand.reason, cand.signal_line = LINT_RUN_SCORE, "lint-error", first_lint.line
            worst = self._worst()
            if worst is not None and cand.priority <= worst.priority and not self._touches_last(cand):
                continue
            anchor = members[0]
            offset, moved = _walk_back(buf, anchor.offset, anchor.line - lo)
            cand.start = anchor.line - moved
            raw = _lines_from(buf, offset, hi - cand.start + 1 + MAX_CONTINUATION)
            keep = hi - cand.start + 1
            if best.rule.after:  # stack traces and indented details run on past the fixed window
                while (
                    keep < len(raw)
                    and keep < MAX_BLOCK_LINES
                    and _CONTINUATION.match(clean_line(raw[keep]).text)
                ):
                    keep += 1
            raw = raw[:keep]
            cand.end = cand.start + len(raw) - 1
            cand.lines = [_defer_clean(r) for r in raw]
            self._admit(cand)

    def _touches_last(self, cand: _Candidate) -> bool:
        return self._last is not None and bool(self.candidates) and cand.start <= self._last.end + 1

    def remember_tail(self, batch: LineBatch, keep: int) -> None:
        """Keep the last ``keep`` raw lines of the log (at most :data:`TAIL_POOL_BYTES` bytes)."""
        lines = batch.data.rsplit(b"\n", keep)[-keep:] if keep else []
        first = batch.last_line - len(lines) + 1
        merged = self.tail + [
            (n, r if len(r) <= 2 * _TAIL_LINE_BYTES else r[:_TAIL_LINE_BYTES] + r[-_TAIL_LINE_BYTES:])
            for n, r in zip(range(first, batch.last_line + 1), lines, strict=True)
        ]
        merged = merged[-keep:]
        size = sum(len(r) for _, r in merged)
        drop = 0
        while size > TAIL_POOL_BYTES and drop < len(merged) - 1:
            size -= len(merged[drop][1])
            drop += 1
        self.tail = merged[drop:]


TAIL_POOL_LINES = 2000
"""The last lines of the log kept raw, so blocks near the end can grow past their signal window."""
TAIL_POOL_BYTES = 2 << 20
_TAIL_LINE_BYTES = 4096


# --- Rendering -------------------------------------------------------------------------------------

_FRAME = re.compile(
    r"^\s*(?:at [\w$.<>/]+[\s(]|at \S+ \(|at async |File \".*\", line \d+|"
    r"\S+\.go:\d+ \+0x[0-9a-f]+$|#\d+ 0x[0-9a-f]+ in |"
    r"(?:created by )?[\w.*/()\-]+\.[\w*()\-]+\((?:[0-9a-fx{}, .]|\.\.\.)*\)(?: in goroutine \d+)?$)|"
    r"^  (?:[\w\-/.*+<>=!?]+\(|\((?:let\*?|if|or|and|progn|prog1|condition-case|unwind-protect|"
    r"save-\w+|with-\S+|cond|when|unless|while|dolist|funcall|apply|closure|lambda) |#\[|#<subr )"
)
"""A stack frame line: JVM/.NET/JavaScript ``at ...``, Python ``File "...", line N``, a Go
goroutine frame's function line (``main.(*T).Run(0xc000, {0x1, 0x2})``, ``created by ...``) or file
line (``/src/x.go:12 +0x1d``), a sanitizer frame (``#3 0x4f2a in f``), or a frame of an Emacs Lisp
backtrace (``Debugger entered--Lisp error:``: two spaces, then a call ``require-package(fullframe)``,
a special form ``(let* ((...`` or byte code ``#[0 "..." ...]()``)."""
FRAME_RUN = 6
"""A run of at least this many consecutive stack frames is folded."""
FRAME_KEEP_HEAD = 3
"""Frames kept at the top of a folded run (where the exception was thrown)."""
FRAME_KEEP_TAIL = 1
FRAME_KEEP_PROJECT = 3
"""Further frames kept from a folded run when they are not in a well-known library package."""
_LIBRARY_FRAME = re.compile(
    r"^\s*at (?:async )?(?:java|javax|jdk|sun|com\.sun|kotlin|kotlinx|scala|org\.junit|junit|org\.testng|"
    r"org\.apache\.maven|org\.codehaus\.plexus|org\.eclipse\.sisu|com\.google\.inject|org\.gradle|"
    r"worker\.org\.gradle|org\.springframework|org\.mockito|net\.bytebuddy|groovy|org\.codehaus\.groovy|"
    r"System|Microsoft|NUnit|Xunit|node:|internal/|process\.|Module\.|Object\.<anonymous>)[.\s:(/]|"
    r"site-packages/|dist-packages/|/lib/python\d|/usr/lib/|/runtime/|/pkg/mod/"
)
"""Frames of runtimes, build tools and test frameworks: never where a project's bug is."""
SIMILAR_RUN = 4
"""A run of at least this many consecutive lines equal up to their digits keeps its first and last."""
PREFIX_RUN = 6
"""A run of at least this many consecutive lines sharing a :data:`PREFIX_CHARS` prefix is folded."""
PREFIX_CHARS = 24
SUFFIX_CHARS = 40
"""A run of at least :data:`PREFIX_RUN` lines ending with the same this many characters is folded."""
PREFIX_KEEP_HEAD = 2
_DIGITS = re.compile(r"\d+")
_MIN_DEDUPE_CHARS = 24
"""Only lines at least this long are replaced by a ``[same as line N]`` reference."""
_LEVEL = re.compile(
    r"^(?:\[(?:ERROR|INFO|WARNING|WARN|DEBUG|error|info|warn|warning)\] ?|(?:ERROR|WARNING|FATAL|error|warning): ?)"
)
"""A log-level prefix (Maven ``[ERROR] ``, ``ERROR: ``) that does not change what a line says."""
_MAVEN_TRAILER = re.compile(
    r"^\[(?:ERROR|INFO)\]\s*$|^\[ERROR\] (?:-> \[Help \d+\]$|To see the full stack trace of the errors|"
    r"Re-run Maven using the -X switch|For more information about the errors and possible solutions|"
    r"After correcting the problems, you can resume the build|\s+mvn <(?:goals|args)> -rf )"
)
"""Maven's fixed closing advice (``-e``/``-X`` switches, the ``[Help 1]`` preamble, ``-rf`` resume)."""
TRAILER_RUN = 3
_USAGE = re.compile(r"^\s*(?:[Uu]sage|USAGE): \S")
"""The first line of a command-line usage text (``Usage: tool [-hV] [--flag=<x>]``)."""
_OPTION = re.compile(r"(?<![\w-])(--?[A-Za-z][\w-]*)")
USAGE_RUN = 6
"""A usage text of at least this many lines after its ``Usage:`` line is folded."""


def _usage_end(lines: list[str], i: int) -> int:
    """End (exclusive) of the usage text whose ``Usage:`` line is ``lines[i]``.

    The text goes on over indented lines (the wrapped synopsis, option lists, option
    descriptions) and over an unindented line followed by an indented one (a one-line command
    description, an ``Options:`` heading); two unindented lines in a row end it, and so does a
    stack trace (a frame line, or the unindented exception line a frame follows): a trace printed
    after a help text is not part of it.
    """
    n = len(lines)
    j = i + 1
    while j < n:
        text = lines[j]
        nxt = lines[j + 1] if j + 1 < n else ""
        if _FRAME.match(text) or (text[:1] not in (" ", "\t") and _FRAME.match(nxt)):
            break
        if text[:1] in (" ", "\t") and text.strip():
            j += 1
            continue
        if text.strip() and not text.startswith("[") and nxt[:1] in (" ", "\t") and nxt.strip():
            j += 1
            continue
        break
    return j


class _Unit(NamedTuple):
    """Part of a rendered block: lines ``lo``..``hi`` (indexes) shown as ``text`` (one output line)."""

    lo: int
    hi: int
    text: str
    same_as: int = 0
    """For a ``same as`` reference: the raw line number of the first line it refers to."""
    whole: bool = False
    """A fold chosen as one piece even past a block's window (a list of like failure records, a
    list of compiler errors): the marker stands for the lines, so taking it costs what the marker costs."""


def _frame_origin(text: str) -> str:
    """The top two name components of a stack frame (``org.apache``), for fold markers."""
    m = re.search(r"at (?:async )?([\w$]+)(?:\.([\w$]+))?", text)
    if m:
        return ".".join(p for p in m.groups() if p)
    m = re.search(r'File "([^"]+)"', text)
    if m:
        return m.group(1).rsplit("/", 2)[-2] if "/" in m.group(1) else "frames"
    m = re.match(r"\s*\S*/([\w.\-]+)/[\w.\-]+\.go:\d+", text)  # Go file line: its folder
    if m:
        return m.group(1)
    m = re.match(r"\s*(?:created by )?(?:[\w.\-]+/)*([\w\-]+)\.[\w*(]", text)  # Go: the package name
    return m.group(1) if m else "frames"


def _norm(text: str) -> str:
    """``text`` without a log-level prefix and surrounding blanks: the key for ``same as`` folds."""
    return _LEVEL.sub("", text.strip(), count=1).strip()


_TEST_CLASS = re.compile(
    r"(?:^\s*(?:Running|Tests run:.*? in) |[(\s]|^\s*at )((?:[a-z_]\w*\.)+)[A-Z]\w*(?:Tests?|IT|Spec|TestCase)\b"
)
"""A JVM test class named in the log: surefire ``Running org.x.FooTest`` / ``Tests run: ... in
org.x.FooTest``, a failure header ``testBar(org.x.FooTest)``, a frame ``at org.x.FooTest.testBar(``."""
_WORKSPACE = re.compile(
    r"/home/travis/build/[^/\s]+/[^/\s]+/|/home/runner/work/[^/\s]+/[^/\s]+/|"
    r"/builds/workspace/[^/\s]+/|/github/workspace/|[A-Z]:\\a\\[^\\\s]+\\"
)
"""A CI job's checkout folder (Travis, GitHub Actions on Linux and Windows, Jenkins, containers)."""
_DEPENDENCY_DIR = re.compile(r"node_modules|site-packages|dist-packages|/vendor/|/\.gradle/|/\.m2/|/pkg/mod/")
PACKAGE_DEPTH = 3
"""Leading name components of a test class's package taken as the project's own package."""


def project_packages(lines: list[str]) -> tuple[str, ...]:
    """The project's own JVM packages, read from the test classes the lines name (see
    :data:`_TEST_CLASS`): each package cut to its first :data:`PACKAGE_DEPTH` components, with a
    trailing dot (``org.springframework.boot.``). Spring's, JUnit's or Gradle's own repositories
    live under names that are library names everywhere else: what the log says the tests are
    decides, not a list of vendors."""
    found: dict[str, None] = {}
    for text in lines:
        if "Test" in text or "IT" in text or "Spec" in text:
            for m in _TEST_CLASS.finditer(text):
                parts = m.group(1).rstrip(".").split(".")
                found[".".join(parts[:PACKAGE_DEPTH]) + "."] = None
    return tuple(found)


def _is_project_frame(text: str, packages: tuple[str, ...]) -> bool:
    """A frame of the project's code: in one of its test packages (JVM ``at pkg.Class.m(``), or a
    file under the job's checkout folder that is not a dependency (``node_modules``, ``site-packages``)."""
    if packages:
        m = re.match(r"\s*at (?:async )?([\w$.]+)", text)
        if m and m.group(1).startswith(packages):
            return True
    return bool(_WORKSPACE.search(text)) and not _DEPENDENCY_DIR.search(text)


def _fold_frames(
    first_line: int, lines: list[str], i: int, j: int, seen: dict[str, int], packages: tuple[str, ...] = ()
) -> list[_Unit]:
    """Fold the stack frames ``lines[i:j]``: head, project frames, tail; the rest become markers.

    Project frames are first those :func:`_is_project_frame` finds (the log says they are the
    project's), then frames outside well-known library packages (:data:`_LIBRARY_FRAME`).
    """
    keep = set(range(i, min(j, i + FRAME_KEEP_HEAD))) | set(range(max(i, j - FRAME_KEEP_TAIL), j))
    rest = [k for k in range(i, j) if k not in keep]
    own = [k for k in rest if _is_project_frame(lines[k], packages)]
    project = own + [k for k in rest if k not in own and not _LIBRARY_FRAME.search(lines[k])]
    keep.update(project[:FRAME_KEEP_PROJECT])
    units: list[_Unit] = []
    k = i
    while k < j:
        if k in keep:
            units.append(_Unit(k, k, lines[k]))
            seen.setdefault(_norm(lines[k]), first_line + k)
            k += 1
            continue
        m = k
        while m < j and m not in keep:
            m += 1
        if m - k == 1:
            units.append(_Unit(k, k, lines[k]))
        else:
            origins = list(dict.fromkeys(_frame_origin(t) for t in lines[k:m]))
            names = ", ".join(origins[:4]) + (", ..." if len(origins) > 4 else "")
            units.append(_Unit(k, m - 1, f"  [{m - k} stack frames: {names}]"))
        k = m
    return units


PAIR_RUN = 4
"""A run of at least this many records (see :func:`_pair_run_end`) whose lines start alike is folded."""
RECORD_LINES = (2, 3)
"""Record lengths tried: a test name and its message, a test, a subtest and its message."""
_PAIR_KEY_WORDS = 2


def _pair_key(text: str) -> str:
    """The first :data:`_PAIR_KEY_WORDS` words of a line, digits as ``0`` (empty for short lines)."""
    words = text.split(None, _PAIR_KEY_WORDS)
    if len(words) <= _PAIR_KEY_WORDS or len(text) < _MIN_DEDUPE_CHARS // 2:
        return ""
    return _DIGITS.sub("0", " ".join(words[:_PAIR_KEY_WORDS]))


def _pair_run_end(lines: list[str], i: int) -> tuple[int, int]:
    """A run of repeated records starting at ``lines[i]``: ``(end exclusive, record length)``.

    A record is :data:`RECORD_LINES` consecutive lines (the shortest that repeats wins) whose
    first words (digits aside) match those of the first record's lines, which must not all
    start alike (a run of one line shape is another fold's job). ``(i, 0)`` when none.
    """
    n = len(lines)
    for size in RECORD_LINES:
        if i + size * PAIR_RUN > n:
            break
        keys = [_pair_key(t) for t in lines[i : i + size]]
        if not all(keys) or len(set(keys)) == 1:
            continue
        j = i + size
        while j + size <= n and all(_pair_key(lines[j + d]) == keys[d] for d in range(size)):
            j += size
        if (j - i) // size >= PAIR_RUN:
            return j, size
    return i, 0


def _record_name(lines: list[str]) -> str:
    """What tells a record apart: the longest word after the key words of its first line that has
    one (``TestParse`` in ``--- FAIL: TestParse (0.01s)``, ``sorald.cli.CliTest``), at most 60 chars."""
    for text in lines:
        words = [w.strip(":,()") for w in text.split()[_PAIR_KEY_WORDS:] if any(c.isalpha() for c in w)]
        if words:
            return max(words, key=len)[:60]
    return ""


_PASSING_LINE = re.compile(
    _PASSING_TEST + r"|^\s*(?:\[INFO\] )?Tests run: \d+, Failures: 0, Errors: 0\b|"
    r"^\s*PASS\s+\S|^\s*\S+ \.\.\. ok$|^test \S+ \.\.\. ok$"
)
"""A passing test's line (:data:`_PASSING_TEST`), surefire's ``Tests run: 5, Failures: 0, Errors: 0``,
jest's ``PASS src/a.test.js``, unittest's ``test_x (m.T) ... ok``, cargo's ``test x ... ok``."""
PASSING_RUN = 4
"""A run of at least this many passing-test lines becomes one marker saying how many."""
_NUMBERED = re.compile(r"^(\s*)(\d{1,4})\) (\S.*)$")
"""The head of a numbered failure record: PHPUnit ``1) DB_test::test_db_valid``, mocha
``1) editor tests insert snippet:``, RSpec ``  1) Parser parses a date``."""
NUMBERED_RUN = 4
"""Records with the same message that are folded into one marker (at least this many)."""
NUMBERED_RECORD_LINES = 40
"""A numbered record ends at the next number's head; one longer than this ends the run."""
NUMBERED_NAMES_CHARS = 900
"""Characters of record names listed in a fold marker before ``... and N more``."""


_PATHLIKE = re.compile(r"[^\s,;'\"()]*[/\\][^\s,;'\"()]*")


def _record_message(lines: list[str], lo: int, hi: int) -> str:
    """The first non-blank line after a record's head (``RuntimeException: ...``), with paths and
    URIs as ``_`` and digits as ``0`` (temporary files and line numbers differ between records)."""
    for k in range(lo + 1, hi):
        if lines[k].strip():
            return _DIGITS.sub("0", _PATHLIKE.sub("_", lines[k].strip()))
    return ""


def _fold_numbered(
    first_line: int, lines: list[str], i: int, seen: dict[str, int]
) -> tuple[int, list[_Unit]]:
    """Fold a list of numbered failure records that all say the same thing.

    Test runners list failures as ``1) name`` / message / details, ``2) name`` / ...; when a
    whole list fails for one cause (56 tests, one ``Undefined property`` exception) only the
    first record says something new. Records ``k)`` run to the head of ``k+1)`` (same indent).
    A run of at least :data:`NUMBERED_RUN` consecutive records whose first message line is
    equal (paths, URIs and digits aside) keeps its first and last record; the ones between become one marker
    naming every folded record (up to :data:`NUMBERED_NAMES_CHARS` characters, then how many
    more): ``[lines A-B: 54 more failures 2) to 55) with the message of 1) (paths and numbers aside): name, ...]``.
    Returns ``(end, units)``; ``units`` is empty when nothing folds (``end``: where the records end).
    """
    n = len(lines)
    m = _NUMBERED.match(lines[i])
    assert m is not None
    indent, number = m.group(1), int(m.group(2))
    heads = [i]
    k = i + 1
    while k < n and k - heads[-1] <= NUMBERED_RECORD_LINES:
        h = _NUMBERED.match(lines[k])
        if h is not None and h.group(1) == indent and int(h.group(2)) == number + len(heads):
            heads.append(k)
        k += 1
    # the record of the last head ends where the next would start; only whole records fold
    if len(heads) < NUMBERED_RUN + 1:
        return heads[-1] + 1, []
    records = list(pairwise(heads))
    message = _record_message(lines, *records[0])
    same = 1
    while same < len(records) and _record_message(lines, *records[same]) == message:
        same += 1
    if not message or same < NUMBERED_RUN:
        return records[same - 1][1] if same > 1 else heads[1], []
    first_lo, first_hi = records[0]
    last_lo, last_hi = records[same - 1]

    def shown(lo: int, hi: int) -> list[_Unit]:  # a kept record, folded like any other lines
        return [
            u._replace(lo=u.lo + lo, hi=u.hi + lo) for u in fold_units(first_line + lo, lines[lo:hi], seen)
        ]

    units = shown(first_lo, first_hi)
    folded = records[1 : same - 1]
    names: list[str] = []
    size = 0
    for lo, _ in folded:
        name = _NUMBERED.match(lines[lo]).group(3).rstrip(":")  # type: ignore[union-attr]
        if size + len(name) > NUMBERED_NAMES_CHARS:
            break
        names.append(name)
        size += len(name) + 2
    rest = len(folded) - len(names)
    a, b = folded[0][0], folded[-1][1] - 1
    first_no = int(_NUMBERED.match(lines[a]).group(2))  # type: ignore[union-attr]
    listed = ", ".join(names) + (f", ... and {rest} more" if rest else "")
    units.append(
        _Unit(
            a,
            b,
            f"{indent}[lines {first_line + a}-{first_line + b}: {len(folded)} more failures "
            f"{first_no}) to {first_no + len(folded) - 1}) with the message of {number}) (paths and numbers aside): {listed}]",
            whole=True,
        )
    )
    units.extend(shown(last_lo, last_hi))
    return last_hi, units


_DIAGNOSTIC = re.compile(
    r"^(?:\[ERROR\] ?)?\s*(?P<file>[\w./\\~+@-]*[\w+-]\.[A-Za-z]{1,6})(?P<pos>:\[\d+,\d+\]|\(\d+,\d+\)|:\d+(?::\d+)?)"
    r"(?::| -)?\s+(?P<err>(?:fatal )?error(?: TS\d+|\[E\d+\])?: ?)?(?P<msg>\S.*)$|"
    r"^(?:\[ERROR\] ?)?error\[E\d+\]: (?P<rmsg>\S.*)$"
)
"""The head of one compiler diagnostic: Maven's ``[ERROR] /src/a/B.java:[12,5] cannot find symbol``
(or ``... error: ...``), javac's ``a/B.java:12: error: ...``, gcc/clang's ``a.c:3:9: error: 'x' was
not declared ...``, tsc's ``a.ts(3,9): error TS2304: Cannot find name 'x'.`` and
``a.ts:3:9 - error TS2304: ...``, Go's ``./a.go:3:9: undefined: x``, rustc's ``error[E0425]: cannot
find value `x` in this scope`` (its ``--> src/a.rs:3:9`` line follows). A head says ``error``
after its place, or is Maven's ``[ERROR]`` line with a ``:[line,column]`` place, or Go's
``file.go:line:column:`` (the compiler and vet always print the column; ``go test``'s ``t.Errorf``
lines ``x_test.go:12: ...`` do not, and are test output, not diagnostics). A warning or note is no head."""
_DIAGNOSTIC_NOT = re.compile(r"^(?:warning|note|info)\b", re.IGNORECASE)
_DIAGNOSTIC_MORE = re.compile(
    r"^(?:\[ERROR\] ?)?(?:\s|$)|^(?:\[ERROR\] ?)?(?:symbol|location|required|found|reason|where|note)\b|"
    r"^\d+ +\||^(?:\[ERROR\] ?)?.{0,20}$"
)
"""A line that goes on a diagnostic: indented (source line, caret, ``symbol:`` / ``location:``,
rustc's ``--> file`` and ``|`` gutter, its numbered source line ``70 | ...``), javac's unindented detail words, or a short fragment of
a wrapped message (``[ERROR] int)``)."""
DIAGNOSTIC_RUN = 5
"""Consecutive diagnostics (each a head and its :data:`_DIAGNOSTIC_MORE` lines) that are folded:
the first :data:`DIAGNOSTIC_KEEP_HEAD` and the last are kept, the ones between become one marker."""
DIAGNOSTIC_KEEP_HEAD = 2
DIAGNOSTIC_RECORD_LINES = 12
"""A diagnostic longer than this (head included) ends the run."""
DIAGNOSTIC_NAMES_CHARS = 900
"""Characters of subjects and places listed in a diagnostic fold marker before ``... and N more``."""
DIAGNOSTIC_LINES_LISTED = 8
"""Line numbers listed for one subject in one file before ``and N more lines``."""
_QUOTED = re.compile(r"'[^']*'|`[^`]*`|\"[^\"]*\"|\u2018[^\u2019]*\u2019")
_KIND_PREFIX = re.compile(r"^([A-Za-z][a-z]*(?: [a-z]+){0,3}): \S")
_PLAIN_WORD = re.compile(r"^(?:[A-Za-z][a-z]*|'_')[,;.:]?$")
_CARET = re.compile(r"^\s*(?:\[ERROR\] ?)?\s*\^[\^~]*\s*$")
"""javac's and gcc's caret line under the source line of a diagnostic."""


def _diagnostic_head(text: str) -> re.Match[str] | None:
    """:data:`_DIAGNOSTIC` on ``text`` when it is an error's head (cheap substring tests first)."""
    if "rror" not in text and "RROR" not in text and ".go:" not in text:
        return None
    m = _DIAGNOSTIC.match(text)
    if m is None or _DIAGNOSTIC_NOT.match(m.group("msg") or m.group("rmsg")):
        return None
    if m.group("rmsg") or m.group("err"):
        return m
    pos = m.group("pos")
    if (pos.startswith(":[") and text.startswith("[ERROR]")) or (
        m.group("file").endswith(".go") and pos.count(":") == 2
    ):
        return m
    return None


def diagnostic_kind(message: str) -> str:
    """A compiler message with its subject removed: what errors of one kind share.

    A leading ``words:`` label is the kind (``incompatible types: A cannot be converted to B`` ->
    ``incompatible types``, Go's ``undefined: x`` -> ``undefined``); otherwise quoted names become
    ``'_'`` and every word that is not a plain word (a dotted, generic or camel-case name, a call)
    becomes ``_`` (``package org.x does not exist`` -> ``package _ does not exist``, tsc's
    ``Cannot find name 'Foo'.`` -> ``Cannot find name '_'.``).
    """
    m = _KIND_PREFIX.match(message)
    if m:
        return m.group(1)
    words = [w if _PLAIN_WORD.match(w) else "_" for w in _QUOTED.sub("'_'", message.strip()).split()]
    kind = " ".join(w for k, w in enumerate(words) if not (w == "_" and k and words[k - 1] == "_"))
    return kind if len(kind) <= 60 else kind[:60].rsplit(" ", 1)[0] + " ..."


def _diagnostic_place(lines: list[str], lo: int, hi: int, m: re.Match[str]) -> tuple[str, str, str]:
    """``(subject, dir/File.java, line)`` of the diagnostic ``lines[lo:hi]`` whose head matched
    ``m``: the subject from a ``symbol:`` line, else the first quoted name, else what follows a
    short ``kind:`` label (Go's ``undefined: x``); the file's last two path parts."""
    file, pos = m.group("file"), m.group("pos")
    if file is None:  # rustc: the place is on the ``--> file:line:col`` line
        arrow = next((re.search(r"--> (\S+?):(\d+)", t) for t in lines[lo + 1 : hi] if "-->" in t), None)
        file, pos = (arrow.group(1), ":" + arrow.group(2)) if arrow else ("", "")
    line = _DIGITS.search(pos or "")
    subject = ""
    for t in lines[lo + 1 : hi]:
        s = re.match(r"^(?:\[ERROR\] ?)?\s*symbol:\s+(\S.*)$", t)
        if s:
            subject = " ".join(s.group(1).split())
            break
    if not subject:
        msg = m.group("msg") or m.group("rmsg")
        q = _QUOTED.search(msg)
        k = _KIND_PREFIX.match(msg)
        subject = (
            q.group()[1:-1] if q else msg[k.end() - 1 :].strip() if k and len(msg) - k.end() < 40 else ""
        )
    return subject[:60], "/".join(file.replace("\\", "/").split("/")[-2:]), line.group() if line else ""


def _places_text(places: list[tuple[str, str, str]], share: int) -> str:
    """``subject in a/B.java:12,40, a/C.java:7, ...``: places of one kind, those with the same
    subject and file merged, listed up to about ``share`` characters, then how many more."""
    merged: dict[tuple[str, str], list[str]] = {}
    for subject, file, line in places:
        lines_of = merged.setdefault((subject, file), [])
        if line and line not in lines_of:
            lines_of.append(line)
    items = [
        (f"{subject} in " if subject else "")
        + file
        + (":" + ",".join(nums[:DIAGNOSTIC_LINES_LISTED]) if nums else "")
        + (
            f" and {len(nums) - DIAGNOSTIC_LINES_LISTED} more lines"
            if len(nums) > DIAGNOSTIC_LINES_LISTED
            else ""
        )
        for (subject, file), nums in merged.items()
    ]
    listed: list[str] = []
    size = 0
    for item in items:
        if listed and size + len(item) > share:
            break
        listed.append(item[:share])
        size += len(item) + 2
    rest = len(items) - len(listed)
    return ", ".join(listed) + (f", ... and {rest} more" if rest else "")


def _fold_diagnostics(
    first_line: int, lines: list[str], i: int, seen: dict[str, int]
) -> tuple[int, list[_Unit]]:
    """Fold a list of compiler diagnostics (``lines[i]`` is a :func:`_diagnostic_head`).

    A compiler that meets one broken name or type prints an error for every use of it: 31
    ``cannot find symbol`` errors, each with its source line, caret and ``symbol:`` /
    ``location:`` lines, cost more than a block's budget, and cutting them loses the label. A
    diagnostic runs from its head to the next head, over :data:`_DIAGNOSTIC_MORE` lines only
    (at most :data:`DIAGNOSTIC_RECORD_LINES` lines). A run of at least :data:`DIAGNOSTIC_RUN`
    keeps its first :data:`DIAGNOSTIC_KEEP_HEAD` diagnostics and its last; the ones between
    become one marker grouping them by kind (:func:`diagnostic_kind`: the message with its
    subject removed), each kind listing its subjects and places:
    ``[lines A-B: 29 more "cannot find symbol" errors: symbol FooBar in a/B.java:12, ...]`` or
    ``[lines A-B: 28 more compiler errors: 14 "incompatible types": a/B.java:29, ...; 4 "cannot
    find symbol": ...]`` (up to :data:`DIAGNOSTIC_NAMES_CHARS` characters, then how many more).
    The marker is one piece (``whole``): a block that reaches the list takes all of it at the
    marker's cost, so the span claims every folded line and the list is not cut by the budget.
    Returns ``(end, units)``; ``units`` is empty when nothing folds (``end``: where the run ends).
    """
    n = len(lines)
    heads: list[tuple[int, re.Match[str]]] = []
    k = i
    while k < n:
        m = _diagnostic_head(lines[k])
        if m is None:
            break
        j = k + 1
        while (
            j < n
            and j - k < DIAGNOSTIC_RECORD_LINES
            and _diagnostic_head(lines[j]) is None
            and (_DIAGNOSTIC_MORE.match(lines[j]) or (j + 1 < n and _CARET.match(lines[j + 1])))
        ):
            j += 1  # (an unindented source line is javac's when a caret line follows it)
        heads.append((k, m))
        if j >= n or j - k >= DIAGNOSTIC_RECORD_LINES:
            break
        k = j
    if len(heads) < DIAGNOSTIC_RUN:
        return heads[-1][0] + 1, []
    ends = [h for h, _ in heads[1:]]
    # heads has DIAGNOSTIC_RUN > DIAGNOSTIC_KEEP_HEAD entries: every pair below has equal lengths
    folded = list(zip(heads[DIAGNOSTIC_KEEP_HEAD:-1], ends[DIAGNOSTIC_KEEP_HEAD:], strict=True))
    places = [
        _diagnostic_place(lines, lo, hi, m)
        for (lo, m), hi in zip(heads, [*ends, heads[-1][0] + 1], strict=True)
    ]
    if (
        len({_DIGITS.sub("0", m.group("msg") or m.group("rmsg")) for _, m in heads}) == 1
        and len({subject for subject, _, _ in places}) == 1
    ) or len({lines[h].rstrip()[-SUFFIX_CHARS:] for h, _ in heads}) == 1:
        # one message about one subject repeated (numbers aside), or one long ending (a network
        # error for every import): the cheaper similar-lines and same-ending folds say it
        return heads[-1][0] + 1, []
    groups: dict[str, list[tuple[str, str, str]]] = {}
    for ((_, m), _), place in zip(folded, places[DIAGNOSTIC_KEEP_HEAD:-1], strict=True):
        groups.setdefault(diagnostic_kind(m.group("msg") or m.group("rmsg")), []).append(place)
    share = max(DIAGNOSTIC_NAMES_CHARS // len(groups), 120)  # every kind names some of its places
    parts = [_places_text(places, share) for places in groups.values()]
    a, b = folded[0][0][0], folded[-1][1] - 1
    if len(groups) == 1:
        what = f'{len(folded)} more "{next(iter(groups))}" errors: {parts[0]}'
    else:
        what = f"{len(folded)} more compiler errors: " + "; ".join(
            f'{len(places)} "{kind}": {part}'
            for (kind, places), part in zip(groups.items(), parts, strict=True)
        )
    marker = f"[lines {first_line + a}-{first_line + b}: {what}]"
    if len(marker) >= sum(len(t) + 1 for t in lines[a : b + 1]):
        return heads[-1][0] + 1, []
    units = [u._replace(lo=u.lo + i, hi=u.hi + i) for u in fold_units(first_line + i, lines[i:a], seen)]
    units.append(_Unit(a, b, marker, whole=True))
    return b + 1, units


def fold_units(first_line: int, lines: list[str], seen: dict[str, int] | None = None) -> list[_Unit]:
    """Fold cleaned lines ``first_line``.. into output units; see :func:`render_lines`.

    Returns units in order covering every index of ``lines`` exactly once. ``seen`` maps the
    normalised text of lines already shown (in earlier blocks) to their line number; it is updated.
    """
    out: list[_Unit] = []
    seen = {} if seen is None else seen
    norms = [_norm(t) for t in lines]
    n = len(lines)
    i = 0
    no_fold_until = 0  # records already found not to fold are not scanned again
    no_diag_until = 0  # likewise for lists of compiler errors
    packages: tuple[str, ...] | None = None  # the project's packages, read when a trace first folds
    while i < n:
        text = lines[i]
        key = norms[i]
        number = first_line + i
        # consecutive repeats (equal up to the log-level prefix)
        j = i + 1
        while j < n and norms[j] == key:
            j += 1
        if j - i > 1 and key:
            reps = j - i - 1
            out.append(_Unit(i, i, text))
            out.append(
                _Unit(i + 1, j - 1, f"  [previous line repeated {reps} time{'s' if reps > 1 else ''}]")
            )
            seen.setdefault(key, number)
            i = j
            continue
        # Maven's closing advice
        if _MAVEN_TRAILER.match(text):
            j = i + 1
            while j < n and _MAVEN_TRAILER.match(lines[j]):
                j += 1
            if j - i >= TRAILER_RUN:
                out.append(
                    _Unit(
                        i,
                        j - 1,
                        f"[lines {number}-{first_line + j - 1}: Maven's standard advice "
                        "(-e/-X switches, [Help] articles, -rf resume)]",
                    )
                )
                i = j
                continue
        # a command-line usage text (a CLI printing its help after a bad argument)
        if _USAGE.match(text):
            j = _usage_end(lines, i)
            if j - i - 1 >= USAGE_RUN:
                options = list(dict.fromkeys(_OPTION.findall("\n".join(lines[i + 1 : j]))))
                option_list = ", ".join(options[:6]) + (", ..." if len(options) > 6 else "")
                out.append(_Unit(i, i, text))
                out.append(
                    _Unit(
                        i + 1,
                        j - 1,
                        f"  [{j - i - 1} more lines of usage text"
                        + (f": options {option_list}]" if option_list else "]"),
                    )
                )
                seen.setdefault(key, number)
                i = j
                continue
        # runs of passing-test lines (they crowd the failing test and its trace out of the budget)
        if _PASSING_LINE.match(text):
            j = i + 1
            while j < n and _PASSING_LINE.match(lines[j]):
                j += 1
            if j - i >= PASSING_RUN:
                out.append(
                    _Unit(i, j - 1, f"[lines {number}-{first_line + j - 1}: {j - i} passing-test lines]")
                )
                i = j
                continue
        # numbered failure records of one kind (PHPUnit, mocha, RSpec: ``3) Test::name`` / message)
        if i >= no_fold_until and _NUMBERED.match(text):
            j, units = _fold_numbered(first_line, lines, i, seen)
            if units:
                out.extend(units)
                seen.setdefault(key, number)
                i = j
                continue
            no_fold_until = j
        # lists of compiler errors (javac, Maven, gcc/clang, tsc, Go, rustc): grouped by kind
        if i >= no_diag_until and _diagnostic_head(text) is not None:
            j, units = _fold_diagnostics(first_line, lines, i, seen)
            if units:
                out.extend(units)
                i = j
                continue
            no_diag_until = j
        # runs of records (``Running X`` / ``Tests run: ... - in X``, ``--- FAIL: T`` / message)
        j, size = _pair_run_end(lines, i)
        if size:
            names = list(
                dict.fromkeys(_record_name(lines[k : k + size]) for k in range(i + size, j - size, size))
            )
            listed = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
            out.extend(_Unit(i + d, i + d, lines[i + d]) for d in range(size))
            what = "pairs" if size == 2 else f"groups of {size}"
            out.append(
                _Unit(
                    i + size,
                    j - size - 1,
                    f"  [{(j - i) // size - 2} more {what} of lines like the {size} above"
                    + (f": {listed}]" if listed else "]"),
                )
            )
            out.extend(_Unit(k, k, lines[k]) for k in range(j - size, j))
            seen.setdefault(key, number)
            i = j
            continue
        # runs identical to earlier lines
        src = seen.get(key)
        if src is not None and len(key) >= _MIN_DEDUPE_CHARS:
            k = 1
            if src >= first_line:
                while i + k < n and src - first_line + k < i and norms[i + k] == norms[src - first_line + k]:
                    k += 1
            marker = (
                f"[same as line {src}]"
                if k == 1
                else f"[lines {number}-{number + k - 1}: same as lines {src}-{src + k - 1}]"
            )
            if len(marker) < sum(len(t) + 1 for t in lines[i : i + k]):
                out.append(_Unit(i, i + k - 1, marker, src))
                i += k
                continue
        # long runs of stack frames
        if _FRAME.match(text):
            j = i + 1
            while j < n and _FRAME.match(lines[j]):
                j += 1
            if j - i >= FRAME_RUN:
                if packages is None:
                    packages = project_packages(lines)
                out.extend(_fold_frames(first_line, lines, i, j, seen, packages))
                i = j
                continue
        if len(text) >= _MIN_DEDUPE_CHARS:
            # runs of lines that differ only in numbers (line:column, sizes, ports, counters)
            if _DIGITS.search(text):
                shape = _DIGITS.sub("0", text)
                j = i + 1
                while j < n and _DIGITS.sub("0", lines[j]) == shape:
                    j += 1
                if j - i >= SIMILAR_RUN:
                    out.append(_Unit(i, i, text))
                    out.append(
                        _Unit(i + 1, j - 2, f"  [{j - i - 2} similar lines differing only in numbers]")
                    )
                    out.append(_Unit(j - 1, j - 1, lines[j - 1]))
                    seen.setdefault(key, number)
                    i = j
                    continue
            # runs of lines with a long common start (a list of files, URLs, classpath entries)
            prefix = _DIGITS.sub("0", text[:PREFIX_CHARS])  # counters (``urls[3]``) do not break a run
            j = i + 1
            while j < n and _DIGITS.sub("0", lines[j][:PREFIX_CHARS]) == prefix:
                j += 1
            if j - i >= PREFIX_RUN:
                head = lines[i : i + PREFIX_KEEP_HEAD]
                out.extend(_Unit(i + d, i + d, t) for d, t in enumerate(head))
                out.append(
                    _Unit(
                        i + PREFIX_KEEP_HEAD,
                        j - 2,
                        f"  [{j - i - PREFIX_KEEP_HEAD - 1} more lines starting {prefix.strip()!r}]",
                    )
                )
                out.append(_Unit(j - 1, j - 1, lines[j - 1]))
                seen.setdefault(key, number)
                i = j
                continue
        if len(text) >= SUFFIX_CHARS + _MIN_DEDUPE_CHARS:
            # runs of lines with a long common ending (one network or disk error, many files)
            suffix = text[-SUFFIX_CHARS:]
            j = i + 1
            while j < n and lines[j].endswith(suffix):
                j += 1
            if j - i >= PREFIX_RUN:
                out.extend(_Unit(i + d, i + d, t) for d, t in enumerate(lines[i : i + PREFIX_KEEP_HEAD]))
                out.append(
                    _Unit(
                        i + PREFIX_KEEP_HEAD,
                        j - 2,
                        f"  [{j - i - PREFIX_KEEP_HEAD - 1} more lines ending {suffix.strip()!r}]",
                    )
                )
                out.append(_Unit(j - 1, j - 1, lines[j - 1]))
                seen.setdefault(key, number)
                i = j
                continue
        out.append(_Unit(i, i, text))
        seen.setdefault(key, number)
        i += 1
    return out


def render_lines(first_line: int, lines: list[str], seen: dict[str, int] | None = None) -> str:
    """Render cleaned lines ``first_line``.. as block text, folding repeats without losing track.

    Every line is shown or stood for by a marker saying what it held. Folds, each used only when
    the marker is shorter than what it replaces:

    * consecutive lines equal up to a log-level prefix (``[ERROR] x`` / ``x``) ->
      ``[previous line repeated N times]``;
    * three or more lines of Maven's fixed closing advice -> one marker naming it;
    * a run of at least :data:`PASSING_RUN` passing-test lines (:data:`_PASSING_LINE`) ->
      ``[lines A-B: N passing-test lines]``;
    * a list of at least :data:`NUMBERED_RUN` numbered failure records (``k) name`` / message)
      with one message (paths and digits aside) keeps its first and last record:
      ``[lines A-B: N more failures 2) to 55) with the message of 1) (...): name, name, ...]``,
      naming every folded record (see :func:`_fold_numbered`);
    * a list of at least :data:`DIAGNOSTIC_RUN` compiler errors (javac, Maven, gcc/clang, tsc,
      Go, rustc) keeps its first two and its last error; the ones between become one marker
      grouped by kind (the message with its subject removed), listing subjects and places:
      ``[lines A-B: 29 more "cannot find symbol" errors: class Foo in a/B.java:12,40, ...]``
      (see :func:`_fold_diagnostics`);
    * a command-line usage text of at least :data:`USAGE_RUN` lines after its ``Usage:`` line
      keeps that line: ``[N more lines of usage text: options -h, --source, ...]``;
    * a run of at least :data:`PAIR_RUN` records of 2 or 3 lines (each record's lines start with
      the same two words as the first record's, digits aside: Maven's ``Running X`` /
      ``Tests run: ...``, Go's ``--- FAIL: T`` / message) keeps its first and last record:
      ``[N more pairs of lines like the 2 above: name, name, ...]``;
    * a line, or a run of lines, equal (up to the log-level prefix) to lines shown earlier ->
      ``[same as line N]`` / ``[lines A-B: same as lines C-D]`` (line numbers of the raw log;
      ``seen`` maps texts shown in earlier blocks of the same extraction to their line);
    * a run of at least :data:`FRAME_RUN` stack frames keeps its first :data:`FRAME_KEEP_HEAD`
      frames, up to :data:`FRAME_KEEP_PROJECT` frames outside runtime/build-tool/test-framework
      packages (first those the log shows to be the project's: :func:`project_packages`, files
      under the job's checkout folder), and its last frame; each folded stretch becomes
      ``[N stack frames: org.apache, ...]``;
    * a run of at least :data:`SIMILAR_RUN` lines that differ only in their digits keeps its first
      and last line: ``[N similar lines differing only in numbers]``;
    * a run of at least :data:`PREFIX_RUN` lines starting with the same :data:`PREFIX_CHARS`
      characters (digits aside), or ending with the same :data:`SUFFIX_CHARS` characters, keeps its first two
      and last line: ``[N more lines starting '...']`` / ``[N more lines ending '...']``.
    """
    return "\n".join(u.text for u in fold_units(first_line, lines, seen))


# --- Selection -------------------------------------------------------------------------------------

SIGNAL_LEAD = 3
"""Lines kept before the deciding signal line when a block must be truncated."""
STEP_TAIL_SHARE = 0.35
"""Share of the budget first given to the output just before the failed step's exit line."""
UNBOUNDED_TAIL_SHARE = 0.15
"""The same share when the failed step's start is not in the log (a Jenkins shell step, a log cut
at its head): the lines before the exit line are then less surely the step's own output."""
TRUNCATION_NOTE_TOKENS = 12
REFILL_ROUNDS = 3
TRACE_RUN_ON = 40
"""Lines other than stack frames a strong signal's block may first run on by (then the failed
step's tail is extended, then blocks run on by up to :data:`MAX_BLOCK_LINES`)."""
RUN_ON_LINES = 4000
"""How far (in lines) a chosen block may run on past its window; of these at most
:data:`MAX_BLOCK_LINES` may be lines other than stack frames (which fold)."""
GAP_FILL = 12
"""Gaps of at most this many lines between two chosen blocks are filled when budget remains."""
STRONG_SCORE = 8
"""Signals scoring at least this (specific errors, or any signal inside a failed step) are chosen
before the failed step's tail is extended; weaker ones only get what budget is left."""


class _Plan:
    """Lines chosen so far (line number -> cleaned text), in the order they were added.

    Lines are added by fold unit (see :func:`fold_units`, computed once over each contiguous run
    of the line pool), so a folded stack trace or repeated listing costs what its marker costs.
    """

    def __init__(self, budget: int, pool: dict[int, str], barriers: frozenset[int] = frozenset()) -> None:
        self.budget = budget
        self.pool = pool
        self.barriers = barriers
        """Step boundaries: no block holds both ``b - 1`` and ``b`` for ``b`` in ``barriers``."""
        self.text: dict[int, str] = {}
        self.order: list[int] = []
        self.used = 0  # estimated tokens
        self.reason: dict[int, tuple[int, str]] = {}
        self.truncated: dict[int, int] = {}  # last shown line -> lines left out after it
        self.texts: set[str] = set()
        self.unit: dict[
            int, tuple[int, int, int, int, bool]
        ] = {}  # line -> (first, last, cost, same_as, frames)
        numbers = sorted(pool)
        start = 0
        for k in range(1, len(numbers) + 1):
            if k == len(numbers) or numbers[k] != numbers[k - 1] + 1 or numbers[k] in barriers:
                first = numbers[start]
                texts = [pool[n] for n in numbers[start:k]]
                for u in fold_units(first, texts):
                    frames = u.whole or (u.hi > u.lo and all(_FRAME.match(t) for t in texts[u.lo : u.hi + 1]))
                    entry = (first + u.lo, first + u.hi, estimate_tokens(u.text) + 1, u.same_as, frames)
                    for n in range(first + u.lo, first + u.hi + 1):
                        self.unit[n] = entry
                start = k

    def add(self, order: list[int], cap: int, max_lines: int | None = None, joins: int | None = None) -> int:
        """Add ``order``'s lines (a path growing one contiguous range) while under ``cap`` tokens.

        Each line brings its whole fold unit when the unit lies between the smallest and the
        largest line of ``order`` or is a run of folded stack frames (the rest of the same trace);
        otherwise it comes alone, at its unfolded cost (no other fold drags a block past its window). Stops at the first line the pool does not hold, that does not
        fit, or after ``max_lines`` lines other than stack frames, or that would join a line across
        a step boundary (each line joins the one before it in ``order``, or the one after it when
        ``order`` turns back; the first line joins ``joins`` when given: the line a path continues).
        """
        if not order:
            return 0
        low, high = min(order), max(order)
        spent = 0
        added = 0
        plain = 0
        prev = joins
        for number in order:
            if prev is not None and (number if number > prev else number + 1) in self.barriers:
                break
            prev = number
            if number in self.text:
                if max_lines is not None and not _FRAME.match(self.text[number]):
                    plain += 1  # a path already walked counts: refill rounds do not stretch it
                continue
            if number not in self.pool or (max_lines is not None and plain >= max_lines):
                break
            lo, hi, c, src, frames = self.unit[number]
            if ((lo < low or hi > high) and not frames) or (
                src and any(m not in self.text for m in range(src, src + hi - lo + 1))
            ):
                # outside the window, or a reference to lines not chosen: the line comes alone
                lo = hi = number
                c = estimate_tokens(self.pool[number]) + 1
            if (
                lo == hi
                and len(self.pool[number]) >= _MIN_DEDUPE_CHARS
                and _norm(self.pool[number]) in self.texts
            ):
                c = 7  # folded into a ``[same as line N]`` reference
            if spent + c > cap or self.used + c > self.budget:
                break
            span = range(lo, hi + 1) if number == lo else range(hi, lo - 1, -1)
            if max_lines is not None:
                plain += (
                    1
                    if frames and hi > lo and not _FRAME.match(self.pool[lo])
                    else sum(1 for m in span if m not in self.text and not _FRAME.match(self.pool[m]))
                )
                if plain > max_lines:
                    break
            for m in span:
                if m not in self.text:
                    self.text[m] = self.pool[m]
                    self.order.append(m)
            self.texts.add(_norm(self.pool[number]))
            self.used += c
            spent += c
            added += 1
        return added

    def drop_last(self) -> None:
        """Remove the most recently added line."""
        self.text.pop(self.order.pop())

    def blocks(self) -> list[tuple[int, int, list[str]]]:
        runs: list[tuple[int, int, list[str]]] = []
        for number in sorted(self.text):
            if runs and runs[-1][1] == number - 1 and number not in self.barriers:
                lo, _, texts = runs[-1]
                texts.append(self.text[number])
                runs[-1] = (lo, number, texts)
            else:
                runs.append((number, number, [self.text[number]]))
        return runs


def _head_order(lo: int, hi: int, focus: int) -> list[int]:
    top = max(lo, focus - SIGNAL_LEAD)
    return [*range(top, hi + 1), *range(top - 1, lo - 1, -1)]


def _as_text(line: str | bytes) -> str:
    """A window line as text: raw bytes are cleaned (:func:`clean_line`) when the window is closed;
    lines already cleaned are returned as they are."""
    return line if isinstance(line, str) else clean_line(line).text


def _demote_repeats(candidates: list[_Candidate]) -> None:
    """A signal line printed again later (same text up to the log-level prefix) echoes the first:
    the first occurrence takes the best score of its repeats, the repeats score as echoes (1)."""
    first: dict[str, _Candidate] = {}
    for cand in sorted(candidates, key=lambda c: c.signal_line):
        index = cand.signal_line - cand.start
        if not 0 <= index < len(cand.lines):
            continue
        key = _norm(_as_text(cand.lines[index]))
        if len(key) < _MIN_DEDUPE_CHARS:
            continue
        earlier = first.setdefault(key, cand)
        if earlier is not cand:
            earlier.score = max(earlier.score, cand.score)
            cand.score = 1


def _clip_to_steps(state: _Extractor, barriers: list[int]) -> None:
    """Cut each candidate window and step-exit window at the step boundaries around its line.

    ``barriers`` is sorted; a window keeps the lines from the last boundary at or before its
    signal (or exit) line up to the line before the first boundary after it.
    """
    if not barriers:
        return
    for cand in state.candidates:
        k = bisect.bisect_right(barriers, cand.signal_line)
        start = max(cand.start, barriers[k - 1]) if k else cand.start
        end = min(cand.end, barriers[k] - 1) if k < len(barriers) else cand.end
        if (start, end) != (cand.start, cand.end):
            cand.lines = cand.lines[start - cand.start : end - cand.start + 1]
            cand.start, cand.end = start, end
    for ex in [*state.first_exits, *state.last_exits]:
        k = bisect.bisect_right(barriers, ex.exit_line)
        if k and barriers[k - 1] > ex.start:
            ex.lines = ex.lines[barriers[k - 1] - ex.start :]
            ex.start = barriers[k - 1]


def _select(state: _Extractor, max_tokens: int) -> list[Block]:
    """Choose lines for the budget: failed-step tail, then signals by score, then more tail."""
    exits = state.first_exits + [e for e in state.last_exits if e not in state.first_exits]
    failed = exits[0] if exits else None
    barriers = frozenset(state.first_boundaries) | frozenset(state.last_boundaries[-MAX_BOUNDARIES:])
    _clip_to_steps(state, sorted(barriers))
    pool: dict[int, str] = {}
    for cand in state.candidates:
        pool.update(zip(range(cand.start, cand.end + 1), map(_as_text, cand.lines), strict=False))
    for ex in exits:
        pool.update(zip(range(ex.start, ex.exit_line + 1), map(_as_text, ex.lines), strict=False))
    for number, raw in state.tail:
        if number not in pool:
            pool[number] = clean_line(raw).text
    plan = _Plan(max_tokens - TRUNCATION_NOTE_TOKENS, pool, barriers)
    for cand in state.candidates:
        plan.reason.setdefault(cand.signal_line, (cand.score, cand.reason))

    def tail(ex: _StepExit, cap: int) -> None:
        first = ex.step_start if ex.step_start is not None else ex.exit_line - STEP_FALLBACK_LINES
        plan.add(list(range(ex.exit_line, max(1, first) - 1, -1)), cap)

    def signal(cand: _Candidate) -> None:
        order = _head_order(cand.start, cand.end, cand.signal_line)
        before = len(plan.order)
        used = plan.used
        plan.add(order, plan.budget)
        if cand.signal_line not in plan.text and len(plan.order) > before:
            # truncation would drop the very line that made it a candidate: undo
            for number in plan.order[before:]:
                plan.text.pop(number)
            del plan.order[before:]
            plan.used = used
        shown = [n for n in range(cand.start, cand.end + 1) if n in plan.text]
        if shown and shown[-1] < cand.end and cand.end + 1 not in plan.text:
            plan.truncated[shown[-1]] = cand.end - shown[-1]

    _demote_repeats(state.candidates)
    ranked = sorted(state.candidates, key=lambda c: (-c.score, c.signal_line))
    strong = [c for c in ranked if c.score >= STRONG_SCORE]

    def phases() -> None:
        if failed is not None:
            share = STEP_TAIL_SHARE if failed.step_start is not None else UNBOUNDED_TAIL_SHARE
            tail(failed, int(max_tokens * share))
        for cand in strong:
            signal(cand)
        for cand in strong:  # a stack trace printed again and again folds to a few markers
            if cand.signal_line in plan.text:
                plan.add(
                    list(range(cand.end + 1, cand.end + RUN_ON_LINES)), plan.budget, TRACE_RUN_ON, cand.end
                )
        for ex in exits:
            tail(ex, plan.budget)
        for cand in ranked:
            if cand.score < STRONG_SCORE:
                signal(cand)
        runs = plan.blocks()  # bridge short gaps between chosen blocks: one failure, cut in two
        for (_, a_hi, _), (b_lo, _, _) in pairwise(runs):
            if b_lo - a_hi - 1 <= GAP_FILL:
                plan.add(list(range(a_hi + 1, b_lo)), plan.budget, joins=a_hi)
        for cand in ranked:  # let blocks run on past their window, strongest first
            if cand.signal_line in plan.text:
                plan.add(
                    list(range(cand.end + 1, cand.end + RUN_ON_LINES)), plan.budget, MAX_BLOCK_LINES, cand.end
                )

    phases()
    for _ in range(REFILL_ROUNDS):  # folding made the text smaller than estimated: use the room
        actual = sum(estimate_tokens(b.text) for b in _render_plan(plan, exits))
        if plan.budget - actual < 2 * TRUNCATION_NOTE_TOKENS:
            break
        plan.used = actual
        phases()
    if not plan.text and state.tail:
        tail_lines = [n for n, _ in state.tail]
        while len(tail_lines) > 1 and not pool[tail_lines[-1]]:
            tail_lines.pop()  # trailing blank lines say nothing
        plan.add(tail_lines[::-1], plan.budget)

    blocks = _render_plan(plan, exits)
    # The per-line estimate is an upper bound of the rendered size, notes aside: enforce exactly.
    total = sum(estimate_tokens(b.text) for b in blocks)
    while total > max_tokens and len(plan.order) > 1:
        for _ in range(max(1, min(len(plan.order) - 1, (total - max_tokens) // 30))):
            plan.drop_last()
        blocks = _render_plan(plan, exits)
        total = sum(estimate_tokens(b.text) for b in blocks)
    return blocks


def _render_plan(plan: _Plan, exits: list[_StepExit]) -> list[Block]:
    blocks: list[Block] = []
    seen: dict[str, int] = {}
    for lo, hi, texts in plan.blocks():
        text = render_lines(lo, texts, seen)
        if hi in plan.truncated:
            text += f"\n[block truncated: {plan.truncated[hi]} more lines]"
        scored = [plan.reason[n] for n in range(lo, hi + 1) if n in plan.reason]
        if scored:
            reason = max(scored, key=lambda sr: sr[0])[1]
        elif any(ex.start <= hi and lo <= ex.exit_line for ex in exits):
            reason = "step-tail"
        else:
            reason = "tail"
        blocks.append(Block(start_line=lo, end_line=hi, reason=reason, text=text))
    return blocks


def extract(source: LogSource, *, max_tokens: int = DEFAULT_MAX_TOKENS) -> Extraction:
    """Extract the failure blocks of a CI job log.

    ``source``: log content as ``bytes``, a file path (``str``/``os.PathLike``) or a binary
    stream. Returns an :class:`~ci_healer.models.Extraction` with blocks in log order, 1-indexed
    inclusive line spans over the raw input split on ``\\n``, ``lines_total`` and the summed
    :func:`~ci_healer.tokens.estimate_tokens` of block texts (UTF-8 bytes / 4, always <=
    ``max_tokens``). A non-empty log always yields at least one block: when no rule matches, its
    last lines as a ``tail`` block. Raises :class:`ci_healer.logread.LogReadError` for an
    unreadable source and ``ValueError`` for ``max_tokens`` < 16.
    """
    if max_tokens < 16:
        raise ValueError("max_tokens must be at least 16")
    state = _Extractor()
    tail_keep = TAIL_POOL_LINES
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
    windows: list[_Candidate | _StepExit] = [*state.candidates, *state.first_exits, *state.last_exits]
    for window in windows:
        window.lines = [_as_text(r) for r in window.lines]
    for cand in state.candidates:
        if any(lo <= cand.signal_line <= hi for lo, hi in state.failed_steps):
            cand.score += STEP_BOOST
    blocks = _select(state, max_tokens)
    return Extraction(
        blocks=blocks, lines_total=state.lines_total, tokens=sum(estimate_tokens(b.text) for b in blocks)
    )
