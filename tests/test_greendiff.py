"""Green-log diff: common lines blanked, numbering kept, run-specific parts ignored, structure kept."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from ci_healer.extract import extract
from ci_healer.greendiff import GreenDiff, drop_green_lines
from tests.prereq import corpus_missing

DATA = Path(__file__).parent / "data" / "cidiff"
CORPUS = Path(
    os.environ.get("CI_HEALER_CORPUS") or Path(__file__).resolve().parents[1].parent / "shared" / "corpus"
)


def lines(data: bytes) -> list[bytes]:
    """Raw lines split on ``\\n`` only, a trailing ``\\n`` adding no line (the corpus convention)."""
    out = data.split(b"\n")
    if data.endswith(b"\n"):
        out.pop()
    return out if data else []


def assert_only_blanked(failed: bytes, diff: GreenDiff) -> None:
    """Same line count; every line either kept byte for byte or emptied; counts add up."""
    before, after = lines(failed), lines(diff.log)
    assert len(after) == len(before)
    assert diff.dropped + diff.kept == len(before)
    changed = [(a, b) for a, b in zip(before, after, strict=True) if a != b]
    assert all(b == b"" for _, b in changed)
    assert len(changed) == diff.dropped
    assert diff.log.endswith(b"\n") == failed.endswith(b"\n")


def gha(*texts: str, second: int = 0) -> bytes:
    """A GitHub Actions job log: each line with its timestamp prefix (seconds from ``second``)."""
    return b"".join(
        f"2024-05-06T07:08:{(second + i) % 60:02d}.{i:07d}Z {t}\n".encode() for i, t in enumerate(texts)
    )


# --- a real pair shipped with the tests (CiDiff, Apache-2.0: see tests/data/cidiff/NOTICE) ------


def test_real_pair_keeps_the_failure_and_blanks_the_common_output() -> None:
    failed = (DATA / "fail.log").read_bytes()
    green = (DATA / "pass.log").read_bytes()
    ((label_lo, label_hi),) = json.loads((DATA / "label.json").read_text())["failure_blocks"]
    diff = drop_green_lines(failed, green)
    assert_only_blanked(failed, diff)
    before, after = lines(failed), lines(diff.log)
    assert after[label_lo - 1 : label_hi] == before[label_lo - 1 : label_hi]  # the test failure survives
    # output both runs printed (go's module downloads, the post-job git clean-up) is blanked, ...
    common = [
        n
        for n, raw in enumerate(before)
        if b"go: downloading github.com/go-test/deep" in raw or b"[command]/usr/bin/git version" in raw
    ]
    assert common and all(after[n] == b"" for n in common)
    assert diff.dropped > diff.kept / 2
    # ... but the step structure stays: the step header, its end and the post-job phase
    structure = (
        b"##[group]Run go test ./...",
        b"##[endgroup]",
        b"Post job cleanup.",
        b"Cleaning up orphan processes",
    )
    for marker in structure:
        assert any(marker in raw for raw in after), marker
    # passing packages print a different duration in each run: still common
    ok_lines = [
        n for n, raw in enumerate(before) if b"\tgithub.com/hashicorp/terraform/internal/addrs\t" in raw
    ]
    assert ok_lines and all(after[n] == b"" for n in ok_lines)


def test_real_pair_extraction_covers_the_label_for_fewer_tokens() -> None:
    failed = (DATA / "fail.log").read_bytes()
    green = (DATA / "pass.log").read_bytes()
    ((label_lo, label_hi),) = json.loads((DATA / "label.json").read_text())["failure_blocks"]
    raw = extract(failed, max_tokens=1500)
    diffed = extract(drop_green_lines(failed, green).log, max_tokens=1500)
    assert any(b.start_line <= label_lo and label_hi <= b.end_line for b in diffed.blocks)
    assert diffed.tokens < raw.tokens
    assert diffed.lines_total == raw.lines_total


@pytest.mark.parametrize(
    "case_id", ["terraform__Quick_Checks__run104", "cidiff_11", "jimfs_1890", "npefix_1847"]
)
def test_corpus_pairs_keep_their_labeled_lines(case_id: str) -> None:
    folder = CORPUS / "cidiff" / case_id
    if not (folder / "pass.log").is_file():
        corpus_missing("cidiff pass logs")
    failed = (folder / "log.txt").read_bytes()
    diff = drop_green_lines(failed, (folder / "pass.log").read_bytes())
    assert_only_blanked(failed, diff)
    assert diff.dropped > 0
    before, after = lines(failed), lines(diff.log)
    for lo, hi in json.loads((folder / "label.json").read_text())["failure_blocks"]:
        assert after[lo - 1 : hi] == before[lo - 1 : hi]


# --- hand-written cases, each modelled on a class of real logs -----------------------------------


def test_lines_differing_only_in_timestamp_duration_ids_and_paths_are_common() -> None:
    common = [
        "ok  \tgithub.com/acme/app/internal/addrs\t0.12s",  # go test package line
        "Tests run: 12, Failures: 0, Errors: 0, Skipped: 0, Time elapsed: 1.2 sec",  # Maven surefire
        "PASS tests/parse.test.ts (3 ms)",  # jest
        "HEAD is now at 3f2c9a1d8e Merge pull request",  # a SHA
        "created /tmp/pytest-of-runner/pytest-0/test_x0/out.txt",  # a temporary path
        "request 123e4567-e89b-12d3-a456-426614174000 served",  # a UUID
        "listening on localhost:41234",  # a port
        "\x1b[32mcollected 3 items\x1b[0m",  # ANSI colours
        "Receiving objects:  45% (450/1000), 1.20 MiB | 3.10 MiB/s",  # progress
    ]
    green = [
        "ok  \tgithub.com/acme/app/internal/addrs\t0.31s",
        "Tests run: 12, Failures: 0, Errors: 0, Skipped: 0, Time elapsed: 3.4 sec",
        "PASS tests/parse.test.ts (12 ms)",
        "HEAD is now at 9a8b7c6d5e Merge pull request",
        "created /tmp/pytest-of-runner/pytest-7/test_x0/out.txt",
        "request 00000000-1111-2222-3333-444444444444 served",
        "listening on localhost:39001",
        "collected 3 items",
        "Receiving objects:  46% (460/1000), 1.25 MiB | 2.90 MiB/s",
    ]
    failed = gha(*common, "Tests run: 12, Failures: 1, Errors: 0, Skipped: 0, Time elapsed: 1.3 sec")
    diff = drop_green_lines(failed, gha(*green, second=30))
    assert_only_blanked(failed, diff)
    assert lines(diff.log)[: len(common)] == [b""] * len(common)
    assert diff.dropped == len(common)
    assert b"Failures: 1" in lines(diff.log)[-1]  # a count that differs is not run noise


def test_multiset_blanks_as_many_occurrences_as_green_has_and_set_blanks_all() -> None:
    failed = gha("Retrying request", "Retrying request", "Retrying request", "done")
    green = gha("Retrying request", "done")
    multi = drop_green_lines(failed, green)
    assert lines(multi.log) == [b"", *lines(failed)[1:3], b""]
    assert (multi.dropped, multi.kept) == (2, 2)
    single = drop_green_lines(failed, green, multiset=False)
    assert lines(single.log) == [b"", b"", b"", b""]
    assert (single.dropped, single.kept) == (4, 0)


def test_multiset_uses_exact_copies_before_normalised_matches() -> None:
    # the green log's one line matches the failed log's second line byte for byte (after the
    # timestamp), the first only after normalisation: the exact copy is the one blanked
    failed = gha("build took 1.5s", "build took 2.0s")
    diff = drop_green_lines(failed, gha("build took 2.0s", second=40))
    assert lines(diff.log) == [lines(failed)[0], b""]


def test_invalid_utf8_and_nul_bytes() -> None:
    failed = b"caf\xc3\xa9 \xff\xfe ok\nb\x00in\x00ary\nnew \xff line\n"
    green = b"caf\xc3\xa9 \xff\xfe ok\nbinary\n"
    diff = drop_green_lines(failed, green)
    assert_only_blanked(failed, diff)
    assert diff.log == b"\n\nnew \xff line\n"


def test_crlf_endings_match_lf_endings_and_blank_lines_lose_their_cr() -> None:
    failed = b"step one\r\nboom: disk full\r\nstep two\r\n"
    diff = drop_green_lines(failed, b"step one\nstep two\n")
    assert diff.log == b"\nboom: disk full\r\n\n"
    assert (diff.dropped, diff.kept) == (2, 1)


def test_bare_cr_does_not_start_a_line() -> None:
    failed = b"  10%\r  50%\r 100% done\nerror: boom\n"
    diff = drop_green_lines(failed, b" 100% done\n")
    assert diff.log == b"\nerror: boom\n"


@pytest.mark.parametrize("green", [b"", bytearray(), memoryview(b"")])
def test_empty_green_log_changes_nothing(green: bytes) -> None:
    failed = gha(
        "##[group]Run make", "make: *** [all] Error 1", "##[error]Process completed with exit code 2."
    )
    assert drop_green_lines(failed, green) == GreenDiff(failed, 0, 3)


def test_empty_failed_log() -> None:
    assert drop_green_lines(b"", b"a\nb\n") == GreenDiff(b"", 0, 0)


def test_blank_lines_are_neither_dropped_nor_counted_as_dropped() -> None:
    failed = b"\n   \n2024-05-06T07:08:09.0000000Z \nx\n"
    diff = drop_green_lines(failed, b"\n   \n2024-05-06T07:08:10.0000000Z \nx\n")
    assert diff.log == b"\n   \n2024-05-06T07:08:09.0000000Z \n\n"
    assert diff.dropped == 1


STEP_LOG = [
    "##[group]Run actions/checkout@v4",
    "Syncing repository: acme/app",
    "##[endgroup]",
    "##[group]Run make test",
    "make test",
    "##[endgroup]",
    "warning: the `foo` crate is deprecated",
    "##[error]Tests failed",
    "##[error]Process completed with exit code 2.",
    "Post job cleanup.",
    "Cleaning up orphan processes",
]


def test_green_log_identical_to_failed_keeps_only_the_step_structure() -> None:
    failed = gha(*STEP_LOG)
    diff = drop_green_lines(failed, gha(*STEP_LOG, second=20))
    assert_only_blanked(failed, diff)
    kept = [raw.split(b" ", 1)[1].decode() for raw in lines(diff.log) if raw]
    post_job = ("Post job cleanup.", "Cleaning up orphan processes")
    assert kept == [t for t in STEP_LOG if t.startswith("##[") or t in post_job]
    # a warning printed by both runs is blanked even though it holds a trigger word
    assert b"deprecated" not in diff.log
    # the extractor still finds the failed step from its structure alone, within the log's lines
    result = extract(diff.log, max_tokens=400)
    assert result.lines_total == len(STEP_LOG)
    assert result.blocks
    shown = "\n".join(b.text for b in result.blocks)
    assert "Process completed with exit code 2." in shown
    assert "Syncing repository" not in shown
    assert all(1 <= b.start_line <= b.end_line <= len(STEP_LOG) for b in result.blocks)


def test_travis_command_echo_and_exit_line_are_never_blanked() -> None:
    failed = b'$ npm test\n> jest\n\nThe command "npm test" exited with 1.\n'
    green = b'$ npm test\n> jest\n\nThe command "npm test" exited with 1.\n'
    diff = drop_green_lines(failed, green)
    assert lines(diff.log) == [b"$ npm test", b"", b"", b'The command "npm test" exited with 1.']


def test_lines_are_split_the_same_whatever_the_chunk_size(monkeypatch: pytest.MonkeyPatch) -> None:
    import ci_healer.greendiff as greendiff

    failed = (DATA / "fail.log").read_bytes()
    green = (DATA / "pass.log").read_bytes()
    expected = drop_green_lines(failed, green)
    for size in (1, 7, 4096):
        monkeypatch.setattr(greendiff, "CHUNK_BYTES", size)
        assert drop_green_lines(failed, green) == expected
        assert drop_green_lines(failed.rstrip(b"\n"), green) == expected._replace(
            log=expected.log.rstrip(b"\n")
        )


def test_bench_scores_a_one_case_corpus_with_and_without_the_diff(tmp_path: Path) -> None:
    import sys

    root = Path(__file__).resolve().parents[1]
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    from bench import greendiff as bench

    case = tmp_path / "cidiff" / "run104"
    case.mkdir(parents=True)
    (case / "log.txt").write_bytes((DATA / "fail.log").read_bytes())
    (case / "pass.log").write_bytes((DATA / "pass.log").read_bytes())
    (case / "label.json").write_text((DATA / "label.json").read_text())
    row = {"source": "cidiff", "case_id": "run104", "ci_system": "github-actions", "path": "cidiff/run104"}
    (tmp_path / "INDEX.jsonl").write_text(json.dumps(row) + "\n")
    prepared = bench.prepare(bench.load_cases(tmp_path, sources=("cidiff",)), with_set=True)
    assert len(prepared) == 1 and prepared[0].dropped > 0
    table = bench.measure(prepared, [1500])
    assert set(table) == {"all", "terraform"}
    plain, diffed = table["all"][(bench.PLAIN, 1500)], table["all"][(bench.MULTISET, 1500)]
    assert plain.hits == diffed.hits == 1
    assert diffed.tokens[0] < plain.tokens[0]
    text = bench.report(prepared, table, bench.ceilings(prepared, [1500]))
    assert "target hit >= 97% at median <= 800 tokens with the green diff: PASS" in text
    assert text.splitlines()[-1].startswith(
        "Green-log diff (CiDiff cases with a passing log): all (1): 100.0%"
    )


def test_normalisation_budget_bounds_the_work_and_falls_back_to_exact_matching() -> None:
    green = gha(*[f"ok  \tpkg/p{i}\t0.{i:02d}s" for i in range(40)], "same line")
    failed = gha(*[f"ok  \tpkg/p{i}\t1.{i:02d}s" for i in range(40)], "same line", "boom")
    full = drop_green_lines(failed, green)
    assert full.dropped == 41
    none = drop_green_lines(failed, green, max_normalised=0)
    assert_only_blanked(failed, none)
    assert none.dropped == 1  # only the exact copy
    some = drop_green_lines(failed, green, max_normalised=40)
    assert_only_blanked(failed, some)
    assert 1 < some.dropped < 41


def test_keep_decides_which_common_lines_survive() -> None:
    failed = gha(*STEP_LOG)
    green = gha(*STEP_LOG, second=20)
    everything = drop_green_lines(failed, green, keep=lambda line: False)
    assert everything.log == b"\n" * len(STEP_LOG)
    warnings = drop_green_lines(failed, green, keep=lambda line: "deprecated" in line.text)
    assert [raw for raw in lines(warnings.log) if raw] == [lines(failed)[6]]
