"""Failure-block extraction: the cause and not its echo, budgets, folding, order, bad input."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from ci_healer.extract import extract
from ci_healer.logread import LogReadError
from ci_healer.tokens import estimate_tokens
from tests.prereq import corpus_missing

DATA = Path(__file__).parent / "data" / "logs"

NOISE = "".join(f"step output line {i}: compiling module_{i}.o\n" for i in range(200))


def lines_covered(result, needle: str) -> bool:
    return any(needle in b.text for b in result.blocks)


def line_of(log: str, needle: str) -> int:
    return next(i for i, line in enumerate(log.split("\n"), 1) if needle in line)


# (ecosystem, log text, a line of the cause that must be in a block, expected reason)
CAUSE_CASES = [
    (
        "python-traceback",
        NOISE + 'Traceback (most recent call last):\n  File "app/main.py", line 3, in <module>\n'
        "    import yaml\nModuleNotFoundError: No module named 'yaml'\n"
        + NOISE
        + "##[error]Process completed with exit code 1.\n",
        "ModuleNotFoundError: No module named 'yaml'",
        "python-traceback",
    ),
    (
        "pytest",
        NOISE + "=================================== FAILURES ===================================\n"
        "___________________________________ test_add ___________________________________\n"
        ">       assert add(1, 2) == 4\nE       assert 3 == 4\n\ntests/test_math.py:4: AssertionError\n"
        + NOISE
        + "FAILED tests/test_math.py::test_add - assert 3 == 4\n",
        "E       assert 3 == 4",
        "pytest-failure",
    ),
    (
        "go",
        NOISE
        + "=== RUN   TestParse\n    parse_test.go:12: got 3, want 4\n--- FAIL: TestParse (0.00s)\nFAIL\n"
        "FAIL\texample.com/parse\t0.004s\n" + NOISE,
        "parse_test.go:12: got 3, want 4",
        "go-test-fail",
    ),
    (
        "go-panic",
        NOISE + "panic: runtime error: index out of range [3] with length 3\n\ngoroutine 1 [running]:\n"
        "main.main()\n\t/src/main.go:9 +0x1d\nexit status 2\n" + NOISE,
        "panic: runtime error: index out of range",
        "go-panic",
    ),
    (
        "cargo",
        NOISE
        + 'error[E0308]: mismatched types\n --> src/lib.rs:4:5\n  |\n4 |     "x"\n  |     ^^^ expected `i32`, found `&str`\n'
        + NOISE
        + "error: could not compile `demo` due to previous error\n",
        "error[E0308]: mismatched types",
        "cargo-error",
    ),
    (
        "tsc",
        NOISE
        + "src/index.ts(3,7): error TS2322: Type 'string' is not assignable to type 'number'.\n"
        + NOISE
        + "npm ERR! code ELIFECYCLE\nnpm ERR! A complete log of this run can be found in:\nnpm ERR!     /home/runner/.npm/_logs/x.log\n",
        "error TS2322",
        "tsc-error",
    ),
    (
        "maven",
        NOISE + "[INFO] Compiling 12 source files\n[ERROR] COMPILATION ERROR : \n"
        "[ERROR] /w/src/main/java/App.java:[10,5] cannot find symbol\n  symbol: class Lsit\n"
        "[INFO] BUILD FAILURE\n"
        + NOISE
        + "[ERROR] Failed to execute goal org.apache.maven.plugins:maven-compiler-plugin:3.8.1:compile -> [Help 1]\n"
        "[ERROR] -> [Help 1]\n",
        "App.java:[10,5] cannot find symbol",
        "compiler-error",
    ),
    (
        "gradle",
        NOISE + "FAILURE: Build failed with an exception.\n\n* What went wrong:\n"
        "Execution failed for task ':app:test'.\n> There were failing tests.\n\n* Try:\n> Run with --stacktrace\n",
        "Execution failed for task ':app:test'.",
        "gradle-failure",
    ),
    (
        "c-compiler",
        NOISE
        + "src/util.c:42:13: error: 'len' undeclared (first use in this function)\n"
        + NOISE
        + "make: *** [Makefile:12: util.o] Error 1\n",
        "src/util.c:42:13: error: 'len' undeclared",
        "compiler-error",
    ),
    (
        "shell",
        NOISE + "./scripts/deploy.sh: line 4: jq: command not found\n"
        'The command "./scripts/deploy.sh" exited with 127.\n',
        "jq: command not found",
        "shell-error",
    ),
    (
        "jest",
        NOISE
        + "  \u25cf Calculator \u203a adds numbers\n\n    expect(received).toBe(expected)\n\n    Expected: 4\n    Received: 3\n"
        + NOISE
        + "Tests:       1 failed, 4 passed, 5 total\n",
        "Expected: 4",
        "jest-failure",
    ),
]


@pytest.mark.parametrize(("name", "log", "cause", "reason"), CAUSE_CASES, ids=[c[0] for c in CAUSE_CASES])
def test_finds_the_cause_not_the_echo(name: str, log: str, cause: str, reason: str) -> None:
    result = extract(log.encode())
    first = result.blocks[0]
    assert cause in first.text, [b.text for b in result.blocks]
    assert first.reason == reason
    number = line_of(log, cause)
    assert first.start_line <= number <= first.end_line


def test_github_pytest_log_points_at_the_assertion() -> None:
    result = extract(DATA / "gha_pytest.log")
    assert result.lines_total == 29
    block = result.blocks[0]
    assert block.reason == "pytest-failure"
    assert block.start_line <= 21 <= block.end_line
    assert "E       AssertionError" in block.text
    assert "2024-05-14T" not in block.text  # timestamps stripped


def test_travis_mocha_log_points_at_the_failing_test() -> None:
    result = extract(DATA / "travis_mocha.log")
    text = "\n".join(b.text for b in result.blocks)
    assert "AssertionError: expected '2024-02-01' to equal '2024-01-02'" in text
    assert "\x1b" not in text and "\r" not in text
    # The cause comes before the npm and Travis echoes in log order.
    assert result.blocks[0].start_line <= 24


def test_sources_are_equivalent(tmp_path: Path) -> None:
    data = CAUSE_CASES[0][1].encode()
    path = tmp_path / "job.log"
    path.write_bytes(data)
    results = [extract(data), extract(str(path)), extract(path), extract(io.BytesIO(data))]
    assert all(r == results[0] for r in results)
    assert results[0].lines_total == data.count(b"\n")


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("only-nuls", b"\x00" * 4096),
        ("invalid-utf8", b"\xff\xfe\xfd error: \xc3\x28 broken\n" * 10),
        ("binary", bytes(range(256)) * 64),
        ("cr-only", b"\r".join(b"progress %d%%" % i for i in range(1000))),
        ("ansi-soup", b"\x1b[31m\x1b[1m\x1b[0K\x1b]0;title\x07\x1b[2J" * 500 + b"\n"),
        ("single-5mb-line", b"a" * (5 * 1024 * 1024)),
        ("blank-lines", b"\n" * 100),
        ("one-char", b"x"),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_bad_inputs_never_crash_and_always_give_a_block(name: str, data: bytes) -> None:
    result = extract(data)
    assert result.tokens <= 1500
    assert result.lines_total == data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
    if data.strip(b"\n\x00"):
        assert result.blocks, name
    for block in result.blocks:
        assert 1 <= block.start_line <= block.end_line <= result.lines_total


def test_empty_log_gives_no_blocks() -> None:
    assert extract(b"").model_dump() == {"blocks": [], "lines_total": 0, "tokens": 0}


def test_no_signal_returns_the_tail() -> None:
    log = "".join(f"build step {i} ok\n" for i in range(1, 501))
    result = extract(log.encode())
    assert [b.reason for b in result.blocks] == ["tail"]
    assert result.blocks[0].end_line == 500
    assert "build step 500 ok" in result.blocks[0].text


@pytest.mark.parametrize("budget", [100, 300, 1500, 4000])
def test_budget_is_respected(budget: int) -> None:
    log = "".join(
        f"src/mod{i}.c:{i}:1: error: unknown type name 'foo_{i}' in a rather long diagnostic line\n"
        + NOISE[:2000]
        for i in range(60)
    )
    result = extract(log.encode(), max_tokens=budget)
    assert result.blocks
    assert result.tokens == sum(estimate_tokens(b.text) for b in result.blocks)
    assert result.tokens <= budget
    # The first error is always kept.
    assert "error: unknown type name 'foo_0'" in result.blocks[0].text


def test_long_block_is_truncated_with_a_note() -> None:
    log = (
        "Traceback (most recent call last):\n"
        + "".join(
            f'  File "/site-packages/pkg/mod{i}.py", line {i}, in f{i}\n    call_{i}()\n' for i in range(200)
        )
        + "RecursionError: maximum recursion depth exceeded\n"
    )
    result = extract(log.encode(), max_tokens=200)
    assert result.tokens <= 200
    assert "[block truncated:" in result.blocks[0].text
    assert result.blocks[0].start_line == 1


def test_repeated_lines_are_folded() -> None:
    log = (
        NOISE
        + "fatal: unable to access 'https://example.com/repo.git/': Could not resolve host\n" * 38
        + NOISE
    )
    result = extract(log.encode())
    text = "\n".join(b.text for b in result.blocks)
    assert "[previous line repeated 37 times]" in text
    assert text.count("Could not resolve host") == 1


def test_blocks_are_in_log_order_and_disjoint() -> None:
    log = (
        NOISE
        + "error: first problem in config.yml\n"
        + NOISE
        + NOISE
        + 'Traceback (most recent call last):\n  File "x.py", line 1, in <module>\nValueError: bad\n'
        + NOISE
    )
    result = extract(log.encode())
    assert len(result.blocks) >= 2
    starts = [b.start_line for b in result.blocks]
    assert starts == sorted(starts)
    for a, b in zip(result.blocks, result.blocks[1:], strict=False):
        assert a.end_line < b.start_line


def test_gha_exit_line_anchors_the_step_tail() -> None:
    log = (
        "##[group]Run ./check_links.sh\n"
        + NOISE
        + "dead link: https://example.com/old-page (404)\n##[error]Process completed with exit code 1.\n"
    )
    result = extract(log.encode())
    assert any("dead link: https://example.com/old-page" in b.text for b in result.blocks)


@pytest.mark.parametrize("budget", [0, 15, -1])
def test_tiny_budget_is_refused(budget: int) -> None:
    with pytest.raises(ValueError, match="max_tokens"):
        extract(b"error\n", max_tokens=budget)


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(LogReadError):
        extract(os.fspath(tmp_path / "missing.log"))


def test_streamed_large_log_keeps_line_numbers() -> None:
    filler = b"".join(b"ok line %d\n" % i for i in range(300_000))
    data = filler + b"Traceback (most recent call last):\nKeyError: 'x'\n" + filler
    result = extract(io.BytesIO(data))
    assert result.lines_total == 600_002
    block = next(b for b in result.blocks if b.reason == "python-traceback")
    assert block.start_line <= 300_001 <= block.end_line
    assert "KeyError: 'x'" in block.text


@pytest.mark.parametrize(
    ("lines", "marker", "kept"),
    [
        # a run identical to lines shown earlier in the block becomes one reference
        (
            [
                "java.lang.IllegalStateException: boom at the start",
                "    at com.example.Service.run(Service.java:10)",
                "between",
                "java.lang.IllegalStateException: boom at the start",
                "    at com.example.Service.run(Service.java:10)",
            ],
            "[lines 4-5: same as lines 1-2]",
            ["between"],
        ),
        # lines equal up to their digits keep the first and the last
        (
            [
                f"pkg/register.go:{n}:2: k8s.io/api@v0.23.4: read tcp 10.1.0.82:52{n}: connection reset"
                for n in range(20, 30)
            ],
            "[8 similar lines differing only in numbers]",
            ["register.go:20:2", "register.go:29:2"],
        ),
        # long stack-frame runs keep their first and last frames and name the packages folded
        (
            [f"    at org.apache.maven.{name}.run({name}.java:7)" for name in "ABCDEFGHIJKLMNOPQRST"],
            "[16 stack frames: org.apache]",
            ["maven.A.run", "maven.C.run", "maven.T.run"],
        ),
        # project frames inside a library run stay visible; the library frames around them fold
        (
            ["java.lang.IllegalStateException: boom"]
            + [f"\tat org.junit.runners.R{k}.run(R{k}.java:1)" for k in range(4)]
            + ["\tat com.example.billing.Invoice.total(Invoice.java:42)"]
            + [f"\tat java.lang.reflect.M{k}.invoke(M{k}.java:9)" for k in range(6)],
            "[5 stack frames: java.lang]",
            ["Invoice.total(Invoice.java:42)", "R0.run", "M5.invoke"],
        ),
        # Maven prints each diagnostic twice: with and without the [ERROR] prefix
        (
            [
                "[ERROR] /src/main/java/a/B.java:[3,8] cannot find symbol: class Foo",
                "between",
                "/src/main/java/a/B.java:[3,8] cannot find symbol: class Foo",
            ],
            "[same as line 1]",
            ["between"],
        ),
        # Maven's fixed advice at the end of a failed build becomes one marker
        (
            [
                "[ERROR] Failed to execute goal x:y:1.0:compile (default) on project p: Compilation failure",
                "[ERROR] ",
                "[ERROR] To see the full stack trace of the errors, re-run Maven with the -e switch.",
                "[ERROR] Re-run Maven using the -X switch to enable full debug logging.",
                "[ERROR] ",
            ],
            "[lines 2-5: Maven's standard advice",
            ["Compilation failure"],
        ),
        # many lines with the same long ending: one network error reported for many files
        (
            [
                f"pkg/{name}.go:1:2: k8s.io/api@v0.23.4: read tcp: connection reset by peer while downloading"
                for name in ("alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta")
            ],
            "[4 more lines ending",
            ["pkg/alpha.go", "pkg/beta.go", "pkg/eta.go"],
        ),
        # many lines with the same long start: a classpath listing
        (
            [
                f"[ERROR] urls[{k}] = file:/builds/.m2/repository/{name}.jar"
                for k, name in enumerate("abcdefgh")
            ],
            "[5 more lines starting '[ERROR] urls[",
            ["repository/a.jar", "repository/b.jar", "repository/h.jar"],
        ),
    ],
    ids=[
        "same-as",
        "similar",
        "frames",
        "project-frames",
        "level-prefix",
        "maven-advice",
        "same-ending",
        "same-start",
    ],
)
def test_render_folds_with_markers(lines: list[str], marker: str, kept: list[str]) -> None:
    from ci_healer.extract import render_lines

    text = render_lines(1, lines)
    assert marker in text
    for needle in kept:
        assert needle in text
    assert estimate_tokens(text) < estimate_tokens("\n".join(lines))


def test_short_lines_are_not_replaced_by_longer_markers() -> None:
    from ci_healer.extract import render_lines

    lines = ["  },", "  x", "  },", "  y"]
    assert render_lines(1, lines) == "\n".join(lines)


GO_FAILS = [
    line
    for name in ("Alpha", "Beta", "Gamma", "Delta", "Epsilon", "Zeta")
    for line in (
        f"--- FAIL: TestRemote_{name} (0.00s)",
        "    testing.go:132: Incompatible Terraform version v1.3.0: backend needs <= 1.2.0",
    )
]
MAVEN_PASSES = [
    line
    for name in ("cli.CliTest", "RepairTest", "sonar.ChecksTest", "GatherStatsTest", "MinerTest")
    for line in (
        f"[INFO] Running sorald.{name}",
        f"[INFO] Tests run: 3, Failures: 0, Errors: 0, Skipped: 0, Time elapsed: 0.5 s - in sorald.{name}",
    )
]
USAGE = [
    "Error: --rule-key and --violation-specs are mutually exclusive",
    "Usage: sorald repair [-hV] [--max-files-per-segment=<maxFilesPerSegment>]",
    "                     [--max-fixes-per-rule=<maxFixesPerRule>]",
    "                     --source=<source> [--target=<target>]",
    "Repair Sonar rule violations in a targeted project.",
    "  -h, --help                 Show this help message and exit.",
    "      --max-files-per-segment=<maxFilesPerSegment>",
    "                             Max number of files per loaded segment.",
    "      --source=<source>      The path to the file or folder to be analyzed.",
    "  -V, --version              Print version information and exit.",
    "[INFO] Tests run: 7, Failures: 0, Errors: 0, Skipped: 0",
]
GO_PANIC = (
    ["panic: runtime error: invalid memory address or nil pointer dereference", "goroutine 21 [running]:"]
    + [
        line
        for k in range(10)
        for line in (
            f"github.com/hashicorp/terraform/internal/cloud.(*Cloud).step{k}(0xc0004c0000, {{0x1598a58, 0xc0001a6000}})",
            f"\t/home/runner/work/terraform/internal/cloud/backend.go:{100 + k} +0x2b1",
        )
    ]
    + [
        "created by testing.(*T).Run",
        "\t/opt/hostedtoolcache/go/1.18.1/x64/src/testing/testing.go:1486 +0x35f",
    ]
)


@pytest.mark.parametrize(
    ("lines", "marker", "kept", "folded"),
    [
        # Go lists every failing test with the same message: first and last pair stay
        (
            GO_FAILS,
            "[4 more pairs of lines like the 2 above: TestRemote_Beta, TestRemote_Gamma, TestRemote_Delta, ...]",
            ["TestRemote_Alpha", "TestRemote_Zeta", "Incompatible Terraform version"],
            ["TestRemote_Epsilon (0.00s)"],
        ),
        # Maven surefire's Running / Tests run pairs of passing test classes
        (
            MAVEN_PASSES,
            "[3 more pairs of lines like the 2 above: sorald.RepairTest, sorald.sonar.ChecksTest, sorald.GatherStatsTest]",
            ["Running sorald.cli.CliTest", "in sorald.MinerTest"],
            ["Running sorald.RepairTest"],
        ),
        # a command-line usage text after a bad argument keeps its Usage line and names its options
        (
            USAGE,
            "[8 more lines of usage text: options --max-fixes-per-rule, --source, --target, -h, --help, --max-files-per-segment, ...]",
            ["Error: --rule-key", "Usage: sorald repair", "[INFO] Tests run: 7"],
            ["Show this help message"],
        ),
        # Go goroutine traces: function lines and file lines are both frames
        (
            GO_PANIC,
            "stack frames: cloud]",
            ["panic: runtime error", "step0(", "backend.go:100", "testing.go:1486"],
            ["step5(", "backend.go:107"],
        ),
    ],
    ids=["go-fail-pairs", "maven-pairs", "usage", "go-frames"],
)
def test_render_folds_records_usage_and_go_frames(
    lines: list[str], marker: str, kept: list[str], folded: list[str]
) -> None:
    from ci_healer.extract import render_lines

    text = render_lines(1, lines)
    assert marker in text, text
    for needle in kept:
        assert needle in text
    for needle in folded:
        assert needle not in text
    assert estimate_tokens(text) < estimate_tokens("\n".join(lines))


@pytest.mark.parametrize(
    "lines",
    [
        GO_FAILS[:6],  # three records: too few to fold
        ["--- FAIL: TestA (0.00s)", "--- FAIL: TestB (0.00s)"] * 4,  # one line shape: not a record
        [*USAGE[:5], "[INFO] next"],  # a usage text too short to fold
    ],
    ids=["few-records", "one-shape", "short-usage"],
)
def test_render_leaves_short_runs_alone(lines: list[str]) -> None:
    from ci_healer.extract import render_lines

    assert "more pairs" not in render_lines(1, lines)
    assert "usage text" not in render_lines(1, lines)


RULE_PROBES = [
    "Tests run: 3, Failures: 0, Errors: 0",  # ignore (lookahead branch)
    "0 errors, 2 failures found",  # the lookahead rejects the ignore rule
    "[INFO] BUILD FAILURE",
    "[INFO] Compiling 3 files",
    "[ERROR] Tests run: 4, Failures: 1",
    "[ERROR] cannot find symbol",
    "  \u25cf Suite \u203a adds numbers",
    "\u274c build failed",
    "Traceback (most recent call last):",
    "error[E0308]: mismatched types",
    "thread 'main' panicked at 'boom', src/main.rs:2:5",
    "ERROR: Could not find a version that satisfies the requirement foo",
    "plain output without anything",
    "",
]


@pytest.mark.parametrize("text", RULE_PROBES)
def test_rule_set_agrees_with_rules_tried_in_order(text: str) -> None:
    from ci_healer.extract import _RULE_SET, RULES

    expected = next((r for r in RULES if r.matches(text)), None)
    assert _RULE_SET.first(text) is expected


def test_rule_set_agrees_on_bundled_logs() -> None:
    from ci_healer.extract import _RULE_SET, RULES
    from ci_healer.logread import iter_clean_lines

    checked = 0
    for path in sorted(DATA.glob("*.log")):
        for _, line in iter_clean_lines(path):
            expected = next((r for r in RULES if r.matches(line.text)), None)
            assert _RULE_SET.first(line.text) is expected, line.text
            checked += 1
    assert checked > 50


REPO_ROOT = Path(__file__).resolve().parents[1]


def test_block_stops_at_the_failed_step_exit_on_the_bundled_example() -> None:
    path = REPO_ROOT / "examples" / "missing-dependency" / "job.log"
    log = path.read_text(encoding="utf-8")
    exit_line = line_of(log, "##[error]Process completed with exit code 2.")
    result = extract(path)
    cause = next(b for b in result.blocks if "E   ModuleNotFoundError: No module named 'yaml'" in b.text)
    assert cause.end_line <= exit_line
    assert all(b.end_line <= exit_line for b in result.blocks), [
        (b.start_line, b.end_line) for b in result.blocks
    ]
    text = "\n".join(b.text for b in result.blocks)
    assert "Post job cleanup." not in text and "safe.directory" not in text


STEP_AFTER = "".join(f"    cleanup detail {i} for the next step of the job\n" for i in range(30))

# (name, failed step output ending in its exit or boundary line, the boundary line, what follows)
BOUNDARY_CASES = [
    (
        "gha-exit",
        "##[group]Run make test\n" + NOISE[:800] + "error: test_parse failed\n",
        "##[error]Process completed with exit code 2.\n",
        "Post job cleanup.\n" + STEP_AFTER,
    ),
    (
        "gha-post-job",
        "##[group]Run make test\n" + NOISE[:800] + "error: test_parse failed\n",
        "Post job cleanup.\n",
        STEP_AFTER,
    ),
    (
        "gha-next-step",
        "##[group]Run make test\n" + NOISE[:800] + "error: test_parse failed\n",
        "##[group]Run actions/upload-artifact@v4\n",
        STEP_AFTER,
    ),
    (
        "travis-exit",
        "$ make test\n" + NOISE[:800] + "error: test_parse failed\n",
        'The command "make test" exited with 2.\n',
        STEP_AFTER,
    ),
    (
        "jenkins-close",
        "+ make test\n" + NOISE[:800] + "error: test_parse failed\n",
        "[Pipeline] }\n",
        STEP_AFTER,
    ),
    (
        "jenkins-stage",
        "+ make test\n" + NOISE[:800] + "error: test_parse failed\n",
        "[Pipeline] // stage\n",
        STEP_AFTER,
    ),
]


@pytest.mark.parametrize(
    ("name", "step", "boundary", "after"), BOUNDARY_CASES, ids=[c[0] for c in BOUNDARY_CASES]
)
def test_blocks_never_run_across_a_step_boundary(name: str, step: str, boundary: str, after: str) -> None:
    log = step + boundary + after
    result = extract(log.encode())
    cause = line_of(log, "error: test_parse failed")
    edge = line_of(log, boundary.rstrip("\n"))
    exit_stays = "exit" in name  # an exit line names the exit code: it may close the block
    block = next(b for b in result.blocks if b.start_line <= cause <= b.end_line)
    assert block.end_line <= (edge if exit_stays else edge - 1), block
    for b in result.blocks:
        assert not (b.start_line < edge + exit_stays <= b.end_line), (b.start_line, b.end_line)
    assert "cleanup detail" not in block.text


def test_a_second_failed_step_right_after_an_exit_keeps_its_own_block() -> None:
    log = (
        "##[group]Run make lint\n" + NOISE[:400] + "src/a.c:3:1: error: unknown type name 'foo'\n"
        "##[error]Process completed with exit code 1.\n"
        'Traceback (most recent call last):\n  File "deploy.py", line 2, in <module>\n'
        "KeyError: 'TOKEN'\n##[error]Process completed with exit code 1.\n"
    )
    result = extract(log.encode())
    first_exit = line_of(log, "##[error]Process completed")
    spans = [(b.start_line, b.end_line) for b in result.blocks]
    assert any(lo <= first_exit - 1 and hi == first_exit for lo, hi in spans), spans
    assert any(lo == first_exit + 1 for lo, _ in spans), spans
    assert any("KeyError: 'TOKEN'" in b.text for b in result.blocks)


def test_usage_text_ends_where_a_stack_trace_starts() -> None:
    from ci_healer.extract import render_lines

    trace = [
        "org.eclipse.jgit.api.errors.TransportException: https://example.com/r.git: 503 Service Unavailable",
        *(f"\tat org.eclipse.jgit.api.FetchCommand.call{k}(FetchCommand.java:{200 + k})" for k in range(8)),
    ]
    text = render_lines(1, USAGE[:-1] + trace)
    usage_marker = next(line for line in text.split("\n") if "usage text" in line)
    assert usage_marker.startswith("  [8 more lines of usage text"), text
    assert trace[0] in text  # the exception line is shown, not counted as help text
    assert "FetchCommand.call0(" in text and "FetchCommand.call7(" in text
    assert text.count("usage text") == 1


def _reference_trigger_lines(data: bytes) -> list[tuple[int, int]]:
    """The trigger lines as the plain ``finditer`` loop finds them: each match not on a line already taken."""
    from ci_healer.extract import _PREFILTER

    out: list[tuple[int, int]] = []
    next_free = 0
    for m in _PREFILTER.finditer(data):
        if m.start() < next_free:
            continue
        start = data.rfind(b"\n", 0, m.start()) + 1
        end = data.find(b"\n", m.start())
        end = len(data) if end < 0 else end
        next_free = end + 1
        out.append((start, end))
    return out


def _corpus_logs(limit: int) -> list[Path]:
    import json

    root = Path(
        os.environ.get("CI_HEALER_CORPUS") or Path(__file__).resolve().parents[1].parent / "shared" / "corpus"
    )
    index = root / "INDEX.jsonl"
    if not index.is_file():
        corpus_missing()
    rows = [json.loads(line) for line in index.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [root / r["path"] / "log.txt" for r in rows[:: max(1, len(rows) // limit)]][:limit]


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"error",
        b"ok\nan error here and a failure\n",
        b"ok\n\n  12. [l1] 404 https://example.com/x\nfine\n",  # a ``^\s*`` trigger crossing a line end
        b"\n\n\n3. 404 http://a\nFAIL\nerror fail error\n$ make\n",
        b"no trigger at all\nnothing\n",
        "\u2715 jest failure\n\u00d7 x\n".encode(),
        b"error\r\nfail\r\n\x00error\x00\n",
    ],
)
def test_trigger_lines_match_the_reference_scan(data: bytes) -> None:
    from ci_healer.extract import trigger_lines

    assert list(trigger_lines(data)) == _reference_trigger_lines(data)


def test_trigger_lines_match_the_reference_scan_on_real_logs() -> None:
    from ci_healer.extract import trigger_lines

    for path in _corpus_logs(40):
        data = path.read_bytes()
        assert list(trigger_lines(data)) == _reference_trigger_lines(data), path


@pytest.mark.slow
@pytest.mark.parametrize(("line_bytes", "entries"), [(-1000, 8192), (512, 2)])
def test_line_cache_does_not_change_the_result(
    monkeypatch: pytest.MonkeyPatch, line_bytes: int, entries: int
) -> None:
    import ci_healer.extract as module

    paths = _corpus_logs(25)
    cached = [extract(p).model_dump_json() for p in paths]
    monkeypatch.setattr(module, "CACHE_LINE_BYTES", line_bytes)  # -1000: nothing cached
    monkeypatch.setattr(module, "CACHE_ENTRIES", entries)  # 2: emptied all the time
    assert [extract(p).model_dump_json() for p in paths] == cached


# ---------------------------------------------------------------------------------------------
# classes of logs the rules were written for (hand-written excerpts modelled on real logs)

PASSING_TAP = "".join(f"ok {i} case {i} does not throw\n" for i in range(1, 40))


def test_tap_failure_named_like_a_non_error_is_a_signal() -> None:
    """TAP (tape, node-tap): ``not ok 6 no errors`` fails the test named "no errors"."""
    log = (
        NOISE + "TAP version 13\n" + PASSING_TAP + "not ok 40 no errors\n  ---\n    operator: notOk\n"
        "    expected: false\n    actual:   1\n    at: Test.<anonymous> (test/test-react-order.js:57:7)\n  ...\n"
        "\n1..40\n# tests 40\n# pass  39\n# fail  1\n" + NOISE
    )
    result = extract(log.encode())
    first = result.blocks[0]
    assert first.reason == "test-failure"
    assert first.start_line <= line_of(log, "operator: notOk") <= first.end_line
    assert first.start_line <= line_of(log, "test-react-order.js:57:7") <= first.end_line
    # passing lines are no signal: ``ok 3 case 3 does not throw`` opens no block of its own
    assert all("does not throw" not in b.text or b is first for b in result.blocks)


@pytest.mark.parametrize(
    "line",
    [
        "ok 3 index does not throw",
        "--- PASS: TestDuplicateKeys (0.00s)",
        "ok  \tgithub.com/x/errors\t0.012s",
        "tests/test_errors.py::test_error_message PASSED",
        "    \u2713 testMultipartFormDataRequestWithDuplicateHeaders (0.013 seconds)",
    ],
)
def test_passing_test_lines_are_not_signals(line: str) -> None:
    from ci_healer.extract import classify_line

    assert classify_line(line) is None


def test_travis_retry_final_failure_is_the_step_exit() -> None:
    """``travis_retry`` ends a failed command with ``The command "..." failed 3 times.``."""
    attempt = (
        "[info] Deploying _site/* to example.com\n"
        "[wait] Failed to upload index.html (Access key cannot be null.). Trying again in 1 second.\n"
        "[fail] Failed to upload index.html (Access key cannot be null.)\n"
        "[info] Summary: 1 operations failed.\n\n"
    )
    log = (
        NOISE
        + "$ travis_retry bundle exec s3_website push\n"
        + attempt
        + 'The command "bundle exec s3_website push" failed. Retrying, 2 of 3.\n\n'
        + attempt
        + 'The command "bundle exec s3_website push" failed 3 times.\n\n'
        + NOISE[:2000]
        + "\nDone. Your build exited with 1.\n"
    )
    from ci_healer.extract import classify_line

    assert classify_line('The command "bundle exec s3_website push" failed 3 times.').exit
    result = extract(log.encode())
    last = line_of(log, "failed 3 times.")
    assert any(b.start_line <= last - 3 and last <= b.end_line for b in result.blocks)


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (
            "[info] - Single client and rejecting server results in both sides TLS connections at 0 *** FAILED ***",
            "junit-failure",
        ),  # ScalaTest via sbt
        (
            "FAIL FPM: bug77934 - php-fpm kill -USR2 not working [sapi/fpm/tests/bug77934-reload-process-control.phpt]",
            "junit-failure",
        ),  # PHP's run-tests.php
        ("npm ERR! code ELIFECYCLE", "echo"),
        ("npm ERR! errno 1", "echo"),
        ("npm ERR! my-app@1.0.0 test: `jest --ci`", "echo"),
        ("npm ERR! Failed at the my-app@1.0.0 test script.", "echo"),
        ("lerna ERR! npm run test exited 1 in 'my-pkg'", "echo"),
        ("npm ERR! code ERESOLVE", "npm-err"),  # a real npm error stays one
        ("npm ERR! Tell the author that this fails on your system:", "echo"),  # npm 2-6 support boilerplate
        ('npm ERR! argv "/usr/bin/node" "/usr/bin/npm" "run" "test-style"', "echo"),
        (
            "  /home/travis/build/o/r/lib/build-pages.js:3:4: Unexpected token ILLEGAL",
            "lint-violation",
        ),  # standard
        ("src/app/models.rb:12:3: C: Style/StringLiterals: Prefer single-quoted strings", "lint-error"),
        (
            "[WARN] /src/main/java/org/x/Foo.java:12:3: Line is longer than 100 characters. [LineLength]",
            "lint-violation",
        ),
        ("/src/x.c:3:1: warning: unused variable 'y'", "diag-warning"),
        ("/usr/include/uidna.h:673:1: note: declared here", "diag-warning"),
    ],
)
def test_rules_of_test_runners_linters_and_tool_echoes(line: str, reason: str) -> None:
    from ci_healer.extract import classify_line

    rule = classify_line(line)
    assert rule is not None and rule.reason == reason


def test_a_run_of_linter_lines_without_trigger_words_is_the_failure() -> None:
    """Checkstyle/flake8-style ``path:line:col: message`` lines with no error word, then the echo."""
    lint = "".join(
        f"src/main/java/org/x/Foo{i}.java:{10 + i}:5: Line is longer than 100 characters.\n" for i in range(5)
    )
    tail = "".join(f"[INFO] step output {i}\n" for i in range(60))
    log = (
        NOISE
        + "$ ./gradlew checkstyleMain\n"
        + lint
        + tail
        + 'The command "./gradlew checkstyleMain" exited with 1.\n'
    )
    result = extract(log.encode(), max_tokens=200)
    first = line_of(log, "Foo0.java")
    assert any(b.start_line <= first and first + 4 <= b.end_line for b in result.blocks), [
        (b.start_line, b.end_line, b.reason) for b in result.blocks
    ]


def test_a_linter_run_outranks_the_npm_trailer_that_echoes_it() -> None:
    """``standard`` (indented ``path:line:col: message``) then npm 2-6's failed-script boilerplate."""
    lint = "".join(
        f"  /home/travis/build/o/r/lib/mod{i}.js:{i + 1}:3: Expected indentation of 2 spaces\n"
        for i in range(6)
    )
    npm = (
        'npm ERR! Linux 4.8.12-040812-generic\nnpm ERR! argv "/usr/bin/node" "/usr/bin/npm" "run" "test-style"\n'
        "npm ERR! node v0.12.18\nnpm ERR! npm  v2.15.11\nnpm ERR! code ELIFECYCLE\n"
        "npm ERR! app@4.2.2 test-style: `standard lib/*.js`\nnpm ERR! Exit status 1\nnpm ERR!\n"
        "npm ERR! Failed at the app@4.2.2 test-style script 'standard lib/*.js'.\n"
        "npm ERR! This is most likely a problem with the app package,\nnpm ERR! not with npm itself.\n"
        "npm ERR! Tell the author that this fails on your system:\nnpm ERR!     standard lib/*.js\n"
    )
    log = NOISE + "> standard lib/*.js\n\nstandard: Use JavaScript Standard Style\n" + lint + "\n" + npm
    result = extract(log.encode(), max_tokens=160)
    first = result.blocks[0]
    assert first.reason == "lint-error", [(b.start_line, b.end_line, b.reason) for b in result.blocks]
    assert first.start_line <= line_of(log, "mod0.js") and line_of(log, "mod5.js") <= first.end_line


def test_compiler_warnings_alone_do_not_outrank_the_error() -> None:
    warnings = "".join(f"src/x{i}.c:{i + 1}:3: warning: unused variable 'v{i}'\n" for i in range(8))
    log = (
        NOISE + warnings + NOISE + "src/main.c:12:5: error: 'y' undeclared (first use in this function)\n"
        "make: *** [main.o] Error 1\n"
    )
    result = extract(log.encode(), max_tokens=120)
    assert "'y' undeclared" in result.blocks[0].text or any("'y' undeclared" in b.text for b in result.blocks)
    assert not any("unused variable" in b.text for b in result.blocks)


def _phpunit_errors(count: int) -> list[str]:
    """PHPUnit's ``There were N errors:`` list, every test failing for one cause (modelled on a
    real CodeIgniter log): ``k) Class::test`` / exception / blank / frames / blank."""
    lines = [f"There were {count} errors:", ""]
    for k in range(1, count + 1):
        lines += [
            f"{k}) Query_test::test_case_{k}",
            "RuntimeException: Undefined property: CI_DB_driver::$_is_unbuffered",
            "",
            "/home/travis/build/o/r/tests/mocks/database/db.php:136",
            f"/home/travis/build/o/r/tests/codeigniter/database/query_{k}_test.php:{10 + k}",
            "",
        ]
    return [*lines, "FAILURES!", f"Tests: 600, Assertions: 900, Errors: {count}."]


def test_numbered_failures_with_one_message_fold_into_one_marker_naming_each() -> None:
    from ci_healer.extract import render_lines

    lines = _phpunit_errors(30)
    text = render_lines(100, lines)
    assert "1) Query_test::test_case_1" in text and "30) Query_test::test_case_30" in text
    marker = next(t for t in text.split("\n") if "more failures" in t)
    # records 1) and 29) (the last whose end is known: the head of 30)) are shown, 2) to 28) folded
    assert marker.startswith("[lines 108-269: 27 more failures 2) to 28) with the message of 1)")
    assert all(f"Query_test::test_case_{k}," in marker for k in range(2, 28)) and "test_case_28]" in marker
    assert "29) Query_test::test_case_29" in text
    # different messages do not fold
    mixed = [
        t.replace("Undefined property", f"Error number {chr(65 + i // 6)}") if t.startswith("Runtime") else t
        for i, t in enumerate(lines)
    ]
    assert "more failures" not in render_lines(100, mixed)


def test_a_long_list_of_one_failure_fits_the_budget_whole() -> None:
    lines = _phpunit_errors(56)
    log = (
        NOISE
        + "$ phpunit -c tests/travis/mysql.phpunit.xml\n"
        + "\n".join(lines)
        + "\n"
        + 'The command "phpunit -c tests/travis/mysql.phpunit.xml" exited with 2.\n'
    )
    result = extract(log.encode())
    first, last = line_of(log, "1) Query_test"), line_of(log, "56) Query_test")
    assert any(b.start_line <= first and last + 5 <= b.end_line for b in result.blocks), [
        (b.start_line, b.end_line) for b in result.blocks
    ]
    assert result.tokens <= 1500


SPRING_TRACE = [  # a test failing inside Spring Boot's own repository (the project is org.springframework.boot)
    "Running org.springframework.boot.context.config.ConfigFileApplicationListenerTests",
    "Tests run: 93, Failures: 0, Errors: 1, Skipped: 0, Time elapsed: 3.1 s <<< FAILURE! - in "
    "org.springframework.boot.context.config.ConfigFileApplicationListenerTests",
    "loadTwoPropertiesFiles(org.springframework.boot.context.config.ConfigFileApplicationListenerTests)  "
    "Time elapsed: 0.02 s  <<< ERROR!",
    "java.lang.IllegalStateException: Failed to load property source",
    *[
        f"\tat org.springframework.core.env.PropertySourcesStep{k}.run(PropertySourcesStep{k}.java:{40 + k})"
        for k in range(6)
    ],
    "\tat org.springframework.boot.context.config.ConfigFileApplicationListener$Loader.load(ConfigFileApplicationListener.java:412)",
    *[f"\tat org.junit.runners.ParentRunner{k}.run(ParentRunner{k}.java:{k + 1})" for k in range(8)],
]


def test_project_frames_are_read_from_the_log_not_from_vendor_names() -> None:
    from ci_healer.extract import project_packages, render_lines

    assert project_packages(SPRING_TRACE) == ("org.springframework.boot.",)
    text = render_lines(1, SPRING_TRACE)
    assert "ConfigFileApplicationListener$Loader.load(ConfigFileApplicationListener.java:412)" in text
    assert "[3 stack frames: org.springframework]" in text  # Spring Core's frames fold
    # without the test class in view the same frame is a library frame and folds
    assert "ConfigFileApplicationListener.java:412" not in render_lines(1, SPRING_TRACE[3:])


def test_workspace_frames_are_project_frames() -> None:
    from ci_healer.extract import render_lines

    frames = [
        f"    at Test.bound (/home/travis/build/o/r/node_modules/tape/lib/test.js:{k}:32)" for k in range(10)
    ]
    frames.insert(8, "    at Test.<anonymous> (/home/travis/build/o/r/test/test-order.js:57:7)")
    frames += [
        f"    at Test.run (/home/travis/build/o/r/node_modules/tape/lib/run.js:{k}:1)" for k in range(4)
    ]
    text = render_lines(1, ["Error: no errors", *frames])
    assert "test/test-order.js:57:7" in text and "stack frames" in text


def test_runs_of_passing_test_lines_fold_to_a_count() -> None:
    """XCTest/mocha checkmarks, Go ``--- PASS``, surefire ``Failures: 0`` lines around a failure."""
    from ci_healer.extract import render_lines

    lines = [
        "RequestCURLDescriptionTestCase",
        *[f"    \u2713 testGETRequestCURLDescription{k} (0.0{k} seconds)" for k in range(7)],
        "    \u2717 testGETRequestCURLDescriptionSynchronous, Test crashed",
        *[f"--- PASS: TestDecode{k} (0.00s)" for k in range(5)],
        "--- FAIL: TestEncode (0.00s)",
    ]
    text = render_lines(10, lines)
    assert "[lines 11-17: 7 passing-test lines]" in text and "[lines 19-23: 5 passing-test lines]" in text
    assert "Test crashed" in text and "--- FAIL: TestEncode" in text
    assert "\u2713" not in text
    assert "passing-test" not in render_lines(1, lines[:4])  # three passing lines stay as they are


def test_emacs_lisp_backtrace_frames_fold() -> None:
    """``Debugger entered--Lisp error:`` backtraces (Emacs package CI): frames of very long lines."""
    from ci_healer.extract import render_lines

    form = "(let* ((known (cdr (assoc package package-archive-contents))) " + "(versions x) " * 20 + ")"
    lines = [
        'Debugger entered--Lisp error: (error "Could not create connection to elpa.gnu.org:443")',
        '  signal(error ("Could not create connection to elpa.gnu.org:443"))',
        '  error("Could not create connection to %s:%d" "elpa.gnu.org" 443)',
        *[f'  url-retrieve-step-{k}("https://elpa.gnu.org/packages/archive-contents")' for k in range(4)],
        f"  {form}",
        f'  (if no-refresh (error "No version of %s" package) {form})',
        '  #[0 "\\301\\300\\302\\"\\207" [("gnu" . "https://elpa.gnu.org/packages/")] 3]()',
        "  #<subr require>(init-elpa)",
        "  require-package(fullframe)",
        '  load-file("/home/travis/build/o/r/init.el")',
        "  command-line()",
        "  normal-top-level()",
        "",
    ]
    text = render_lines(1, lines)
    assert "stack frames" in text
    assert "normal-top-level()" in text and "signal(error" in text
    assert estimate_tokens(text) < estimate_tokens("\n".join(lines)) / 2


# --- lists of compiler errors of one kind (issue 7) -------------------------------------------------

_SYMBOLS = [
    "FooBar",
    "Baz",
    "QuxFactory",
    "Widget",
    "Gadget",
    "Sprocket",
    "Flange",
    "Grommet",
    "Doohickey",
    "Gizmo",
]


def _maven_cannot_find_symbol(count: int) -> list[str]:
    """Maven's compiler plugin reporting ``count`` javac ``cannot find symbol`` errors, each with its
    ``symbol:`` and ``location:`` lines (the shape of maven-compiler-plugin 3.x output)."""
    lines = []
    for k in range(count):
        name = _SYMBOLS[k % len(_SYMBOLS)] + (str(k // len(_SYMBOLS)) if k >= len(_SYMBOLS) else "")
        lines += [
            f"[ERROR] /home/runner/work/shop/shop/src/main/java/org/shop/cart/Cart{k % 3}.java:[{12 + 7 * k},5] "
            "cannot find symbol",
            f"  symbol:   class {name}",
            f"  location: class org.shop.cart.checkout.pricing.Cart{k % 3}PricingServiceImpl",
        ]
    return lines


@pytest.mark.parametrize(
    ("lines", "marker", "kept", "listed"),
    [
        # Maven: [ERROR] /path/File.java:[line,col] cannot find symbol / symbol: / location:
        (
            _maven_cannot_find_symbol(10),
            '[lines 7-27: 7 more "cannot find symbol" errors: class QuxFactory in cart/Cart2.java:26, '
            "class Widget in cart/Cart0.java:33",
            ["class FooBar", "class Baz", "class Gizmo", "Cart0.java:[75,5] cannot find symbol"],
            ["class Doohickey in cart/Cart2.java:68"],
        ),
        # javac without Maven: file:line: error: message, the source line and its caret
        (
            [
                line
                for k, sub in enumerate(
                    ["org.shop.api", "org.shop.db", "com.acme.util", "org.shop.web", "org.shop.io"]
                )
                for line in (
                    f"src/main/java/org/shop/App.java:{3 + k}: error: package {sub} does not exist",
                    f"import {sub}.Thing;",
                    "                  ^",
                )
            ],
            '[lines 7-12: 2 more "package _ does not exist" errors: shop/App.java:5,6]',
            [
                "package org.shop.api does not exist",
                "package org.shop.db does not exist",
                "org.shop.io does not exist",
            ],
            [],
        ),
        # gcc/clang: file:line:col: error: 'x' was not declared in this scope, source line, caret
        (
            [
                line
                for k, name in enumerate(["count", "total", "limit", "offset", "stride", "width"])
                for line in (
                    f"src/grid.cc:{40 + k}:9: error: '{name}' was not declared in this scope",
                    f"   {40 + k} |     use({name});",
                    "      |         ^~~~~",
                )
            ],
            """[lines 7-15: 3 more "'_' was not declared in this scope" errors: limit in src/grid.cc:42, """
            "offset in src/grid.cc:43, stride in src/grid.cc:44]",
            ["'count' was not declared", "'total' was not declared", "'width' was not declared"],
            [],
        ),
        # tsc: file(line,col): error TS2304: Cannot find name 'X'.
        (
            [
                f"src/app/view{k}.ts({10 + k},3): error TS2304: Cannot find name '{name}'."
                for k, name in enumerate(
                    ["Observable", "Subject", "pipe", "mergeMap", "tap", "ReplaySubject"]
                )
            ],
            """[lines 3-5: 3 more "Cannot find name '_'." errors: pipe in app/view2.ts:12, mergeMap in app/view3.ts:13, """
            "tap in app/view4.ts:14]",
            ["'Observable'", "'Subject'", "'ReplaySubject'"],
            [],
        ),
        # Go: ./file.go:line:col: undefined: x
        (
            [
                f"./internal/storage/backends/cache{k}.go:{20 + k}:2: undefined: {name}"
                for k, name in enumerate(["NewPool", "ErrClosed", "maxIdle", "dialer", "Options"])
            ],
            '[lines 3-4: 2 more "undefined" errors: maxIdle in backends/cache2.go:22, dialer in backends/cache3.go:23]',
            ["undefined: NewPool", "undefined: ErrClosed", "undefined: Options"],
            [],
        ),
        # rustc: error[E0425]: cannot find value `x` in this scope, then --> file:line:col and the gutter
        (
            [
                line
                for k, name in enumerate(["CURSOR", "HEIGHT", "WIDTH", "margin", "ORIGIN"])
                for line in (
                    f"error[E0425]: cannot find value `{name}` in this scope",
                    f"  --> src/render.rs:{70 + 9 * k}:26",
                    "   |",
                    f"{70 + 9 * k} |     Glyph {{ c: {name}, top: 0 }}",
                    "   |                 ^^^^^^ not found in this scope",
                    "",
                )
            ],
            """[lines 13-24: 2 more "cannot find value '_' in this scope" errors: WIDTH in src/render.rs:88, """
            "margin in src/render.rs:97]",
            ["`CURSOR`", "`HEIGHT`", "`ORIGIN`"],
            [],
        ),
    ],
    ids=["maven-javac", "javac", "gcc", "tsc", "go", "rustc"],
)
def test_compiler_errors_of_one_kind_fold_into_one_marker_naming_each(
    lines: list[str], marker: str, kept: list[str], listed: list[str]
) -> None:
    from ci_healer.extract import fold_units, render_lines

    text = render_lines(1, lines)
    assert marker in text, text
    for needle in kept + listed:
        assert needle in text
    assert estimate_tokens(text) < estimate_tokens("\n".join(lines))
    units = fold_units(1, lines)
    # every line is shown or stood for, once, in order: the marker claims exactly the lines it names
    assert [k for u in units for k in range(u.lo, u.hi + 1)] == list(range(len(lines)))


def test_compiler_errors_of_several_kinds_fold_grouped_by_kind() -> None:
    from ci_healer.extract import render_lines

    kinds = [
        ("incompatible types: java.lang.Class<?>[] cannot be converted to java.lang.Class<?>", []),
        (
            "cannot find symbol",
            ["  symbol:   variable length", "  location: variable arr of type java.lang.Object"],
        ),
        ("array required, but java.lang.Comparable<java.lang.Object> found", []),
    ]
    lines = []
    for k in range(9):
        message, more = kinds[k % 3]
        lines += [
            f"[ERROR] /builds/workspace/lib/src/main/java/org/lib/core/Arrays.java:[{100 + k},5] {message}",
            *more,
        ]
    text = render_lines(1, lines)
    marker = next(t for t in text.split("\n") if "more compiler errors" in t)
    # errors 3 to 8 (lines 5-14) folded, grouped in the order their kinds first appear there
    assert marker == (
        '[lines 5-14: 6 more compiler errors: 2 "array required, but _ found": core/Arrays.java:102,105; '
        '2 "incompatible types": core/Arrays.java:103,106; '
        '2 "cannot find symbol": variable length in core/Arrays.java:104,107]'
    )
    assert "Arrays.java:[108,5] array required" in text  # the last error is shown


@pytest.mark.parametrize(
    "lines",
    [
        # go test's t.Errorf lines (no column): test output, not compiler diagnostics
        [f"        repo_test.go:131: expected 'pkg{k}' but actual is 'pkg{k + 1}'" for k in range(8)],
        # fewer than DIAGNOSTIC_RUN errors are shown as they are
        _maven_cannot_find_symbol(4),
        # warnings are no errors
        [f"src/grid.cc:{40 + k}:9: warning: unused variable '{name}'" for k, name in enumerate("abcdefg")],
    ],
    ids=["go-test-output", "short-list", "warnings"],
)
def test_lines_that_are_not_a_list_of_compiler_errors_do_not_fold_as_one(lines: list[str]) -> None:
    from ci_healer.extract import render_lines

    text = render_lines(1, lines)
    assert "more compiler errors" not in text and '" errors:' not in text


def test_one_compiler_message_for_many_places_is_left_to_the_cheaper_folds() -> None:
    from ci_healer.extract import render_lines

    lines = [
        f"[ERROR] /builds/workspace/app/src/main/java/org/app/Entities.java:[{60 + k},29] "
        "unmappable character for encoding UTF-8"
        for k in range(30)
    ]
    text = render_lines(1, lines)
    assert "[28 similar lines differing only in numbers]" in text and '" errors:' not in text


@pytest.mark.parametrize(
    ("message", "kind"),
    [
        ("incompatible types: A[] cannot be converted to B<K,V>", "incompatible types"),
        ("undefined: NewPool", "undefined"),
        ("package org.shop.api does not exist", "package _ does not exist"),
        ("Cannot find name 'Observable'.", "Cannot find name '_'."),
        ("'count' was not declared in this scope", "'_' was not declared in this scope"),
        ("cannot find value `CURSOR` in this scope", "cannot find value '_' in this scope"),
        ("array required, but java.lang.Comparable<java.lang.Object> found", "array required, but _ found"),
        ("no suitable method found for sort(Entry<K,V>,int,int)", "no suitable method found for _"),
    ],
)
def test_diagnostic_kind_removes_the_subject(message: str, kind: str) -> None:
    from ci_healer.extract import diagnostic_kind

    assert diagnostic_kind(message) == kind


def test_a_list_of_compiler_errors_longer_than_the_budget_is_claimed_whole() -> None:
    """31 ``cannot find symbol`` errors cost about 2,400 tokens: folded, the block spans them all."""
    errors = _maven_cannot_find_symbol(31)
    assert estimate_tokens("\n".join(errors)) > 1500
    log = (
        NOISE
        + "[INFO] --- maven-compiler-plugin:3.8.1:compile (default-compile) @ shop ---\n"
        + "[ERROR] COMPILATION ERROR : \n"
        + "\n".join(errors)
        + "\n[INFO] 31 errors \n"
        + NOISE
    )
    result = extract(log.encode(), max_tokens=1500)
    first, last = line_of(log, "Cart0.java:[12,5]"), line_of(log, "Cart0.java:[222,5]") + 2
    block = next((b for b in result.blocks if b.start_line <= first and last <= b.end_line), None)
    assert block is not None, [(b.start_line, b.end_line) for b in result.blocks]
    assert '28 more "cannot find symbol" errors: class QuxFactory in cart/Cart2.java:26' in block.text
    assert result.tokens <= 1500
