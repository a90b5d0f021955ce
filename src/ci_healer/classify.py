"""Failure classification and re-run-stable fingerprints over extracted failure blocks.

:func:`classify` runs an ordered list of regular-expression rules over the text of the failure
blocks. Every rule that matches is reported in ``Classification.signals`` (in rule order); the
first matching rule decides the category. The order encodes which evidence wins when several
kinds appear together:

1. runner-level events (job timeout, runner lost, out of memory) — they end the job whatever it
   was doing;
2. workflow/configuration errors — nothing else ran;
3. the build tool's own verdict on which goal/task failed (Maven ``Failed to execute goal
   <plugin>``, Gradle ``Execution failed for task ':<task>'``) — the most precise summary line;
4. dependency resolution (a package/artifact that cannot be found) before generic network
   errors, because a dead registry host is reported with network words but is not transient;
5. transient infrastructure (connection reset, registry 5xx, DNS failures) — ``flaky_suspect``;
6. compile, type-check, format, lint, test — compile first because a build that does not compile
   never runs its tests; a missing module (4.) gives way to a test that failed on its own (an
   assertion, a ``FAIL:`` header, a ``FAILED`` node id whose error is not the import; see
   :func:`failing_test_shown`): runners print the import errors of optional modules and carry
   on; a test run summary alone (``FAILED (errors=1)``) gives way to the missing module;
7. generic ``timed out`` and the block ``reason`` names as a last resort, else ``unknown``.

Measured against the manual BugSwarm categories of the failure corpus ("A Critical Review of
BugSwarm", Durieux & Abreu), with this mapping of their labels onto :class:`Category`:
Test → test, Compilation → compile, Checkstyle → lint, License (license-header check) → lint,
Documentation (doc build warnings as errors) → lint, Compare version (API compatibility check)
→ lint, Missing library → dependency, Unable to clone → infrastructure, Execution (build tool
cannot start) → configuration.

:func:`fingerprint` hashes the first causal lines of the blocks after removing what changes
between re-runs of the same failure (timestamps, durations, hex ids, UUIDs, temporary and
workspace paths, ports, addresses, PIDs, line numbers).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

from ci_healer.models import Block, Category, Classification

_M = re.MULTILINE
_I = re.IGNORECASE | re.MULTILINE


@dataclass(frozen=True)
class Rule:
    """One classification rule: ``name`` is reported in ``signals`` when ``pattern`` matches."""

    name: str
    category: Category
    pattern: re.Pattern[str]
    flaky: bool = False


def _r(name: str, category: Category, pattern: str, flags: int = _M, flaky: bool = False) -> Rule:
    return Rule(name, category, re.compile(pattern, flags), flaky)


C = Category

RULES: tuple[Rule, ...] = (
    # 1. Runner-level events (GitHub Actions messages: "Usage limits" and runner docs).
    _r(
        "job-timeout",
        C.TIMEOUT,
        r"has exceeded the maximum execution time|The job running on runner .{0,200} has exceeded"
        r"|exceeded the maximum execution time|The job has exceeded the maximum execution time"
        r"|No output has been received in the last \d+ ?m|Build timed out \(after \d+ minutes\)",
    ),
    _r(
        "runner-lost",
        C.INFRASTRUCTURE,
        r"The runner has received a shutdown signal|lost communication with the server"
        r"|The hosted runner encountered an error|runner .{0,100} did not connect|The self-hosted runner .{0,80} lost",
        flaky=True,
    ),
    _r(
        "out-of-memory",
        C.OUT_OF_MEMORY,
        r"JavaScript heap out of memory|java\.lang\.OutOfMemoryError|\bOutOfMemoryError\b|^\s*MemoryError\b"
        r"|Cannot allocate memory|exit(?:ed with)? code 137\b|\bsignal: killed\b|Killed signal terminated program"
        r"|^\s*(?:\S+: line \d+: +\d+ )?Killed\b|fatal error: runtime: out of memory|std::bad_alloc|oom-kill|OOMKilled"
        r"|GC overhead limit exceeded|Java heap space",
    ),
    # 2. Workflow / configuration.
    _r(
        "workflow-config",
        C.CONFIGURATION,
        r"Invalid workflow file|The workflow is not valid|Unable to resolve action|Can't find 'action\.ya?ml'"
        r"|Unrecognized named-value|Input required and not supplied|Unexpected value '"
        r"|\byaml(?:\.\w+)?\.(?:scanner|parser)\.\w+Error|YAMLException|yaml: line \d+"
        r"|mapping values are not allowed here|could not find expected ':'"
        r"|Unknown lifecycle phase|Could not find or load main class org\.gradle\.wrapper"
        r"|Could not find (?:a )?(?:valid )?gradle wrapper|The (?:parameters?|goal) .{0,120} (?:are|is) missing or invalid"
        r"|Invalid configuration|Configuration error|\bconfig(?:uration)? file .{0,80} (?:not found|invalid)"
        r"|: command not found$|ERROR: Invalid requirement|Unsupported class file major version"
        r"|error: the lock file .{0,80} needs to be updated|npm ERR! code EUSAGE",
    ),
    # 3. The build tool names the failed goal or task.
    _r(
        "maven-dependency-resolution",
        C.DEPENDENCY,
        r"Could not resolve dependencies for project|Non-resolvable (?:parent|import) POM|Could not find artifact"
        r"|Failure to find \S+ in |Failed to execute goal on project \S+: Could not resolve"
        r"|Plugin \S+ or one of its dependencies could not be resolved: (?!.*Could not transfer)",
    ),
    _r(
        "maven-compiler-plugin",
        C.COMPILE,
        r"Failed to execute goal \S*(?:maven-compiler-plugin|kotlin-maven-plugin|scala-maven-plugin)",
    ),
    _r(
        "maven-test-plugin",
        C.TEST,
        r"Failed to execute goal \S*(?:maven-surefire-plugin|maven-failsafe-plugin|scalatest-maven-plugin)|There are test failures",
    ),
    _r(
        "maven-lint-plugin",
        C.LINT,
        r"Failed to execute goal \S*(?:checkstyle|license-maven-plugin|apache-rat|maven-pmd-plugin|findbugs|spotbugs"
        r"|clirr|japicmp|animal-sniffer|maven-javadoc-plugin|revapi|forbiddenapis|errorprone)",
    ),
    _r(
        "maven-format-plugin",
        C.FORMAT,
        r"Failed to execute goal \S*(?:spotless|fmt-maven-plugin|formatter-maven-plugin|prettier-maven)",
    ),
    _r("maven-enforcer", C.DEPENDENCY, r"Failed to execute goal \S*maven-enforcer-plugin"),
    _r("gradle-compile-task", C.COMPILE, r"Execution failed for task '[^']*:compile\w*'"),
    _r(
        "gradle-test-task",
        C.TEST,
        r"Execution failed for task '[^']*:(?:test|\w*Test|check\w*Test|connected\w*Test)'|There were failing tests",
    ),
    _r(
        "gradle-lint-task",
        C.LINT,
        r"Execution failed for task '[^']*:(?:checkstyle|pmd|spotbugs|findbugs|detekt|lint|ktlintCheck|javadoc|license)\w*'",
    ),
    _r("gradle-format-task", C.FORMAT, r"Execution failed for task '[^']*:spotless\w*'"),
    _r(
        "gradle-dependency",
        C.DEPENDENCY,
        r"Could not resolve all (?:files|dependencies|artifacts) for configuration|Could not find \S+:\S+:\S+\.\s*$",
    ),
    # 4. Dependency resolution in other ecosystems.
    _r(
        "dependency-missing",
        C.DEPENDENCY,
        r"ModuleNotFoundError|ImportError: No module named|No matching distribution found|Could not find a version that satisfies"
        r"|ResolutionImpossible|version solving failed|npm ERR! 404|npm ERR! code E404|npm ERR! code ERESOLVE|\bERESOLVE\b"
        r"|Cannot find module '[^']+'(?! or its corresponding type)|Error: Cannot find module|cannot find package \"|no required module provides package"
        r"|missing go\.sum entry|no matching package named|failed to select a version for|Unable to locate package"
        r"|Could not find gem|Bundler could not find|Gem::MissingSpecError|couldn't find a package|No matching version found"
        r"|error: failed to download|Package .{1,80} was not found in the pkg-config search path|Could not resolve dependency"
        r"|npm ERR! notarget|Cannot find module .{1,80} or its corresponding type declarations|Unable to find a match",
    ),
    # 5. Transient infrastructure.
    _r(
        "network",
        C.INFRASTRUCTURE,
        r"Connection reset by peer|\bECONNRESET\b|\bETIMEDOUT\b|\bEAI_AGAIN\b|Could not resolve host|Temporary failure in name resolution"
        r"|Name or service not known|TLS handshake timeout|i/o timeout|Connection timed out|Read timed out"
        r"|The remote end hung up unexpectedly|\bRPC failed\b|fatal: unable to access|Could not read from remote repository"
        r"|\b50[234] (?:Bad Gateway|Service Unavailable|Gateway Time-?out)\b|status(?: code)?:? 50[0234]\b|HTTP(?:/\d(?:\.\d)?)? 50[0234]\b"
        r"|Received status code 50[0234]|429 Too Many Requests|toomanyrequests|API rate limit exceeded|socket hang up"
        r"|Failed to connect to \S+ port \d+|SSL_ERROR_SYSCALL|Network is unreachable",
        flaky=True,
    ),
    # 6. Code problems.
    _r(
        "compile-error",
        C.COMPILE,
        r"\berror TS\d{3,5}\b|\berror\[E\d{4}\]|COMPILATION ERROR|Compilation failure|\bcannot find symbol\b"
        r"|\.(?:c|cc|cpp|cxx|h|hpp|m|mm|kt|scala|swift|go|cs|rs):\d+(?::\d+)?:\s*(?:fatal )?error\b|\.java:\d+: error: "
        r"|\berror CS\d{4}\b|^e: \S+\.kts?:|^(?:E\s+)?\s*SyntaxError: |IndentationError: |\bundefined reference to\b"
        r"|^# \S+\n\S+\.go:\d+:\d+: |error: could not compile|\bBUILD FAILED\b.{0,40}compil|\[ERROR\] .*\.java:\[\d+,\d+\] (?!\(\w+\) \w+: )"
        r"|^(?:\S+/)?\S+\.go:\d+:\d+: (?:undefined|cannot use|syntax error|imported and not used|declared and not used|missing return)",
    ),
    _r(
        "type-check",
        C.TYPE_CHECK,
        r"^\S+\.pyi?:\d+(?::\d+)?: error: .*\[[a-z-]+\]$|^Found \d+ errors? in \d+ files? \(checked|\(report[A-Z]\w+\)$"
        r"|^\s*\d+ errors?, \d+ warnings?, \d+ (?:informations|notes)|\bmypy\b.{0,80}\berror\b|\bpyright\b.{0,80}\berror"
        r"|^\S+\.py:\d+:\d+ - error: ",
    ),
    _r(
        "format-check",
        C.FORMAT,
        r"would reformat|would be reformatted|Oh no! 💥 💔 💥|Code style issues found in .{0,40}Forgot to run Prettier"
        r"|\[warn\] Code style issues|Run Prettier|prettier --write|gofmt -[ld]|^Diff in \S+ at line \d+|rustfmt"
        r"|The following files had format violations|Imports are incorrectly sorted|clang-format|ktlint.*Format"
        r"|files? would be (?:re)?formatted|\bblack --check\b.{0,80}\bfailed|needs formatting|is not formatted",
    ),
    _r(
        "lint",
        C.LINT,
        r"^\S+\.py:\d+:\d+: [EFWCNB]\d{3}\b|^\S+:\d+:\d+: [A-Z]{1,3}\d{3,4} |^Found \d+ errors?\.(?: \[\*\] \d+ fixable)?$"
        r"|✖ \d+ problems? \(\d+ errors?|\d+ errors? and \d+ warnings? potentially fixable"
        r"|\bcheckstyle\b.{0,120}\b(?:violation|error)|\.java:\[\d+(?:,\d+)?\] \(\w+\) \w+: |\.java:\d+:\d+: (?:error|warning): |You have \d+ Checkstyle violations?|Your code has been rated at"
        r"|^\S+\.py:\d+:\d+: [CRWEF]\d{4}: |^In \S+ line \d+:$|\bSC\d{4}\b|^\S+\.go:\d+:\d+: .* \(\w+\)$"
        r"|clippy::|\boffenses? detected\b|Some files do not have the expected license header|Missing header in"
        r"|PMD Failure|\bBugInstance\b|\bspotbugs\b.{0,60}\bbugs?\b"
        r"| MD\d{3}/[a-z-]+ |\.rst:\d*: (?:WARNING|ERROR|SEVERE):|Warning, treated as error|\bjavadoc: error\b|\bdoclint\b"
        r"|API (?:compatibility|incompatibility)|\bclirr\b|\brevapi\b|\bvet: ",
    ),
    _r(
        "test-failure",
        C.TEST,
        r"^(?:FAILED|ERROR) \S+::\S+|^=+ .*\b\d+ (?:failed|errors?)\b.* =+$|^FAIL: test\w*|^ERROR: test\w*"
        r"|^FAILED \(.*(?:failures|errors)=\d+|Tests run: \d+, Failures: [1-9]|Tests run: \d+, Failures: \d+, Errors: [1-9]"
        r"|^Tests:\s+\d+ failed|^\s*● |^--- FAIL: |^FAIL\s+\S+\s+[\d.]+s$|test result: FAILED|\d+ examples?, [1-9]\d* failures?"
        r"|^\s*\d+ failing$|Failed tests?:|Tests in error:|\bAssertionError\b|\bAssertionFailedError\b|\bComparisonFailure\b"
        r"|\bassert(?:Equals|True|False|That)\b.{0,80}(?:failed|expected)|^E\s{3}\S|\d+ tests? failed|tests? failed\b"
        r"|FAILURE\s+\S*test|Coverage failure: total of \d+ is less than fail-under|Required test coverage of \S+ not reached|\bTEST FAILED\b|Test Suites: \d+ failed|\bexpected:<.*> but was:<",
    ),
    # 7. Last resorts.
    _r(
        "timed-out",
        C.TIMEOUT,
        r"\btimed out\b|\btimeout exceeded\b|\bdeadline exceeded\b|Timeout of \d+ ?ms exceeded",
        _I,
    ),
)

_GLOBAL_RULES = frozenset(
    rule.name
    for rule in RULES
    if rule.name.startswith(
        ("job-timeout", "runner-lost", "out-of-memory", "workflow-config", "maven-", "gradle-")
    )
)
"""Rules that decide wherever they occur: runner events, configuration, the build tool's verdict."""

_RULES_BY_NAME = {rule.name: rule for rule in RULES}
_FAILING_TEST = re.compile(
    r"^FAIL: \w+|^FAILED \S+::\S+|^FAILED \(failures=\d+\)|\bAssertionError\b|\bAssertionFailedError\b|\bComparisonFailure\b"
    r"|Tests run: \d+, Failures: [1-9]|<<< FAILURE!|^--- FAIL: |^\s*\d+ failing$|\bexpected:<.*> but was:<",
    _M,
)
"""A test that failed by itself (not a summary that may count import errors as errors)."""


def failing_test_shown(text: str) -> bool:
    """Whether ``text`` (a block) shows a test that failed on its own, not on a missing module.

    Evidence: an assertion error, a unittest ``FAIL:`` header, a pytest ``FAILED path::test``
    line, surefire failures, Go ``--- FAIL``, Mocha ``N failing`` — after removing the lines that
    report a missing module (``ModuleNotFoundError``, ``No module named``, ...), so a pytest
    ``FAILED path::test - ModuleNotFoundError: ...`` does not count. A summary that only counts
    failures or errors (``FAILED (errors=1)``, ``1 failed in 0.1s``) does not count either: the
    missing module may be that failure.
    """
    dependency = _RULES_BY_NAME["dependency-missing"].pattern
    kept = "\n".join(line for line in _ANSI_RE.sub("", text).split("\n") if not dependency.search(line))
    return bool(_FAILING_TEST.search(kept))


_REASON_HINTS: tuple[tuple[str, Category], ...] = (
    ("pytest", C.TEST),
    ("jest", C.TEST),
    ("junit", C.TEST),
    ("go-test", C.TEST),
    ("test", C.TEST),
    ("tsc", C.COMPILE),
    ("cargo", C.COMPILE),
    ("compiler", C.COMPILE),
    ("compile", C.COMPILE),
    ("npm-err", C.DEPENDENCY),
    ("mypy", C.TYPE_CHECK),
    ("lint", C.LINT),
    ("format", C.FORMAT),
)


def classify(blocks: Sequence[Block]) -> Classification:
    """Classify a failure from its extracted blocks.

    ``blocks``: the failure blocks of one job, in log order (may be empty). Returns a
    :class:`~ci_healer.models.Classification` whose ``category`` comes from the first rule of
    :data:`RULES` that matches any block text, ``signals`` lists every matching rule name in rule
    order (and ``reason:<name>`` when only a block reason decided), ``flaky_suspect`` is true when
    the deciding rule is a transient-infrastructure rule, and ``fingerprint`` is
    :func:`fingerprint` of the blocks. Never raises on well-formed blocks; no blocks or no
    matching rule gives ``unknown``.
    """
    texts = [block.text for block in blocks]
    whole = "\n".join(texts)
    fired = [rule for rule in RULES if rule.pattern.search(whole)]
    signals = [rule.name for rule in fired]
    decider = next((rule for rule in fired if rule.name in _GLOBAL_RULES), None)
    if decider is None:
        # The job fails at its end: the latest block with any evidence decides; inside one
        # block the rule order decides.
        for text in reversed(texts):
            decider = next((rule for rule in fired if rule.pattern.search(text)), None)
            if decider is not None:
                break
    if decider is not None and decider.name == "dependency-missing":
        # A failing test outranks import errors of optional modules: when another block shows a
        # test that failed on its own (an assertion, a FAIL: header) and does not carry the
        # import error itself, the test failure decides (test runners and plugins print the
        # import errors of optional extras and carry on).
        if any(failing_test_shown(text) for text in texts):
            decider = _RULES_BY_NAME["test-failure"]
    elif (
        decider is not None
        and decider.name == "test-failure"
        and "dependency-missing" in signals
        # ... and only a test that failed on its own does: a run summary that counts the import
        # error among its errors ("FAILED (errors=1)", "1 error in 0.12s") leaves it to the import.
        and not any(failing_test_shown(text) for text in texts)
    ):
        decider = _RULES_BY_NAME["dependency-missing"]
    if decider is not None:
        category, flaky = decider.category, decider.flaky
    else:
        category, flaky = C.UNKNOWN, False
        for block in reversed(blocks):
            hint = _reason_hint(block.reason)
            if hint is not None:
                category = hint
                signals.append(f"reason:{block.reason}")
                break
    return Classification(
        category=category, flaky_suspect=flaky, fingerprint=fingerprint(blocks), signals=signals
    )


def _reason_hint(reason: str) -> Category | None:
    lowered = reason.lower()
    for needle, category in _REASON_HINTS:
        if needle in lowered:
            return category
    return None


# ---------------------------------------------------------------------------------------------
# Fingerprint

MAX_CAUSAL_LINES = 8
"""How many distinct normalised causal lines enter the fingerprint."""

_ANSI_RE = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]")
_SUBSTITUTIONS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern, flags), replacement)
    for pattern, replacement, flags in (
        # GitHub Actions / ISO timestamps, clock times and dates.
        (r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?", "<ts>", 0),
        (r"\b\d{4}[-/]\d{2}[-/]\d{2}\b", "<date>", 0),
        (r"\b\d{1,2}:\d{2}:\d{2}(?:[.,]\d+)?\b", "<time>", 0),
        (r"\bstart=\d+,finish=\d+,duration=\d+", "<travis-time>", 0),
        # Temporary and workspace paths (keep the repository-relative remainder).
        (
            r"(?:/home/runner/work|/Users/runner/work|/__w|/home/travis/build|/home/circleci|/builds)/[^/\s]+/[^/\s]+/",
            "",
            0,
        ),
        (r"[A-Za-z]:\\a\\[^\\\s]+\\[^\\\s]+\\", "", 0),
        (r"/github/workspace/", "", 0),
        (r"(?:/tmp|/var/folders|/private/var/folders|/var/tmp)/\S*", "<tmp>", 0),
        (r"[A-Za-z]:\\Users\\[^\\\s]+\\AppData\\Local\\Temp\\\S*", "<tmp>", 0),
        (r"\btmp[a-z0-9_]{6,}\b", "<tmp>", re.IGNORECASE),
        (r"\bpytest-of-\S+", "<tmp>", 0),
        # Identifiers.
        (r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b", "<uuid>", 0),
        (r"\b0x[0-9a-fA-F]+\b", "<addr>", 0),
        (r"\b(?=[0-9a-f]*[0-9])(?=[0-9a-f]*[a-f])[0-9a-f]{7,64}\b", "<hex>", 0),
        (r"\b(?=[0-9A-F]*[0-9])(?=[0-9A-F]*[A-F])[0-9A-F]{12,64}\b", "<hex>", 0),
        (r"\b(?:\d{1,3}\.){3}\d{1,3}\b", "<ip>", 0),
        (
            r"(\blocalhost|<ip>|\[::1?\]|\b[\w.-]+\.(?:com|org|net|io|local|internal)):\d{2,5}\b",
            r"\1:<port>",
            0,
        ),
        (r"\bport \d{2,5}\b", "port <port>", re.IGNORECASE),
        (r"\b(pid|process|thread|worker|job)[ =:#]*\d+\b", r"\1 <id>", re.IGNORECASE),
        (r"\[gw\d+\]", "", 0),
        # Durations.
        (
            r"\b\d+(?:\.\d+)?\s*(?:ms|msec|millis|milliseconds|s|sec|secs|seconds|m|min|mins|minutes|h|hr|hours|µs|us|ns)\b",
            "<dur>",
            re.IGNORECASE,
        ),
        (r"\bTime elapsed: \S+", "Time elapsed: <dur>", 0),
        # Line and column numbers.
        (r"(\.[A-Za-z]\w{0,9})(?::\d+)+\b", r"\1", 0),
        (r"(\.[A-Za-z]\w{0,9}):?\[\d+(?:,\d+)?\]", r"\1", 0),
        (r"(\.[A-Za-z]\w{0,9})\(\d+(?:,\d+)?\)", r"\1", 0),
        (r"\bline \d+(?:, column \d+)?", "line", re.IGNORECASE),
        # Remaining long numbers (counters, epoch times, run ids).
        (r"\b\d{5,}\b", "<n>", 0),
        (r"\s+", " ", 0),
    )
)

_CAUSAL_RE = re.compile(
    r"error|fail|exception|assert|traceback|fatal|panic|cannot|can't|could not|couldn't|unable|not found"
    r"|denied|undefined|expected|timed out|killed|refused|violation|missing|invalid|unexpected|no such|would reformat",
    re.IGNORECASE,
)
_BOILERPLATE_RE = re.compile(
    r"^\[?error\]?\s*$|Re-run Maven using|re-run Maven with|For more information about the errors|\[Help \d\]"
    r"|resume the build with|Process completed with exit code|exited with \d+ during|^Error: Process completed",
    re.IGNORECASE,
)


def normalise_line(line: str) -> str:
    """A log line with run-specific parts replaced (timestamps, durations, ids, paths, line numbers).

    Used by :func:`fingerprint`; exposed for tests and for callers that compare lines across runs.
    """
    line = _ANSI_RE.sub("", line)
    for pattern, replacement in _SUBSTITUTIONS:
        line = pattern.sub(replacement, line)
    return line.strip()


def causal_lines(blocks: Sequence[Block], limit: int = MAX_CAUSAL_LINES) -> list[str]:
    """The first ``limit`` distinct normalised lines that state a failure, in log order.

    A line states a failure when it matches an error word (error, fail, exception, assert, ...)
    and is not build-tool boilerplate (Maven's "Re-run Maven using the -X switch", "Process
    completed with exit code"). When no such line exists, the first non-empty normalised lines are
    used instead, so different blocks still give different fingerprints.
    """
    chosen: list[str] = []
    seen: set[str] = set()
    fallback: list[str] = []
    for block in blocks:
        for raw in block.text.split("\n"):
            if not raw.strip():
                continue
            line = normalise_line(raw)
            if not line:
                continue
            if len(fallback) < limit and line not in fallback:
                fallback.append(line)
            if line in seen or not _CAUSAL_RE.search(line) or _BOILERPLATE_RE.search(line):
                continue
            seen.add(line)
            chosen.append(line)
            if len(chosen) >= limit:
                return chosen
    return chosen or fallback


def fingerprint(blocks: Sequence[Block]) -> str:
    """16 hex digits: sha256 of the :func:`causal_lines` of ``blocks`` joined by newlines.

    Equal for re-runs of the same failure (timestamps, durations, SHAs, UUIDs, temp and workspace
    paths, ports, addresses, PIDs and line numbers do not count); different when the error
    message, failing test name or file differs. No blocks gives the hash of the empty string.
    """
    joined = "\n".join(causal_lines(blocks))
    return hashlib.sha256(joined.encode("utf-8")).hexdigest()[:16]
