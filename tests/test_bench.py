"""The benchmark's pieces: metrics, baselines on a hand-made GitHub Actions log, corpus loading,
synthetic logs, report rendering, and the quick run on the real corpus when it is present."""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bench import (
    baselines,
    corpus,
    cv,
    metrics,
    quality,
    run,
    scale,
)  # the repository root: pytest's pythonpath
from ci_healer import classify as classify_mod
from ci_healer.tokens import estimate_tokens
from tests.prereq import corpus_reason

REPO_ROOT = Path(__file__).resolve().parents[1]

CORPUS = Path(os.environ.get("CI_HEALER_CORPUS") or REPO_ROOT.parent / "shared" / "corpus")

# A GitHub Actions job log with known line numbers (1-indexed):
#  1-3 set-up step, 4 group of the checkout step, 7 group of the failing step,
#  9 the assertion, 12 the step's ##[error] line, 13-15 post-job cleanup.
TS = "2025-01-01T10:00:00.0000000Z "
GHA_LOG_LINES = [
    "##[group]Operating System",  # 1
    "Ubuntu 22.04",  # 2
    "##[endgroup]",  # 3
    "##[group]Run actions/checkout@v4",  # 4
    "Syncing repository: acme/app",  # 5
    "##[endgroup]",  # 6
    "##[group]Run pytest -q",  # 7
    "\x1b[32mcollected 3 items\x1b[0m",  # 8
    "E       assert 0.07 == 0.1",  # 9
    "FAILED tests/test_calc.py::test_round - assert 0.07",  # 10
    "1 failed, 2 passed in 0.12s",  # 11
    "##[error]Process completed with exit code 1.",  # 12
    "Post job cleanup.",  # 13
    "[command]/usr/bin/git version",  # 14
    "Cleaning up orphan processes",  # 15
]
GHA_LOG = "".join(TS + line + "\n" for line in GHA_LOG_LINES).encode()


def lines_of(data: bytes) -> list[bytes]:
    return corpus.split_lines(data)


# ---------------------------------------------------------------------------------------------
# line convention


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", []),
        (b"a", [b"a"]),
        (b"a\n", [b"a"]),
        (b"a\nb", [b"a", b"b"]),
        (b"a\r\nb\n", [b"a\r", b"b"]),
        (
            b"progress 1\rprogress 2\ndone\n",
            [b"progress 1\rprogress 2", b"done"],
        ),  # bare CR is not a line break
        (b"\n\n", [b"", b""]),
    ],
)
def test_split_lines_follows_the_corpus_convention(data: bytes, expected: list[bytes]) -> None:
    assert corpus.split_lines(data) == expected


# ---------------------------------------------------------------------------------------------
# metrics


@pytest.mark.parametrize(
    ("extracted", "labeled", "hit", "recall"),
    [
        ([(5, 10)], [(6, 8)], True, 1.0),
        ([(5, 7)], [(6, 9)], False, 0.5),
        ([(1, 2), (9, 9)], [(6, 9)], False, 0.25),
        ([], [(3, 4)], False, 0.0),
        ([(1, 3), (4, 6)], [(2, 5)], True, 1.0),  # two adjacent spans cover a label together
        ([(10, 20)], [(1, 2), (15, 15)], False, 1 / 3),  # several labeled blocks
    ],
)
def test_coverage_is_the_covered_share_of_labeled_lines(extracted, labeled, hit, recall) -> None:
    got_hit, got_recall = metrics.coverage(extracted, labeled)
    assert got_hit is hit
    assert got_recall == pytest.approx(recall)


@pytest.mark.parametrize(
    ("extracted", "step", "hit", "share"),
    [
        ([(10, 19)], [(10, 100)], True, 1.0),
        ([(1, 10)], [(6, 100)], True, 0.5),
        ([(1, 5)], [(6, 100)], False, 0.0),
        ([], [(6, 100)], False, 0.0),
        ([(1, 5), (50, 54)], [(6, 100)], True, 0.5),
    ],
)
def test_step_overlap_counts_blocks_touching_the_failed_step(extracted, step, hit, share) -> None:
    got_hit, got_share = metrics.step_overlap(extracted, step)
    assert (got_hit, got_share) == (hit, pytest.approx(share))


def test_metrics_refuse_cases_without_labels() -> None:
    with pytest.raises(ValueError):
        metrics.coverage([(1, 2)], [])
    with pytest.raises(ValueError):
        metrics.step_overlap([(1, 2)], [])


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [
        ([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 95, 10),
        (list(range(1, 101)), 95, 95),
        (list(range(1, 101)), 50, 50),
        ([7], 95, 7),
        ([3, 1, 2], 0, 1),
    ],
)
def test_percentile_is_nearest_rank(values, q, expected) -> None:
    assert metrics.percentile(values, q) == expected


def test_percentile_and_median_of_nothing_is_nan_and_bad_q_is_refused() -> None:
    assert math.isnan(metrics.percentile([], 95)) and math.isnan(metrics.median([]))
    assert metrics.median([4, 1, 3, 2]) == 2.5
    with pytest.raises(ValueError):
        metrics.percentile([1], 101)


def test_summary_counts_not_applicable_apart() -> None:
    s = metrics.Summary()
    s.add(metrics.CaseResult(True, 1.0, 10, 100, 25))
    s.add(metrics.CaseResult(False, 0.5, 30, 300, 75))
    s.add(None)
    assert (s.cases, s.hits, s.not_applicable) == (2, 1, 1)
    assert s.hit_rate == 0.5 and s.mean_score == 0.75
    assert s.stat("tokens", 50) == 50 and s.stat("lines", 95) == 30


# ---------------------------------------------------------------------------------------------
# baselines on the hand-made GitHub Actions log


def test_tail_takes_the_last_lines() -> None:
    lines = lines_of(GHA_LOG)
    assert baselines.tail(lines, 5) == [(11, 15)]
    assert baselines.tail(lines, 100) == [(1, 15)]
    assert baselines.tail([], 100) == []
    with pytest.raises(ValueError):
        baselines.tail(lines, 0)


def test_failed_step_slice_runs_from_the_failing_group_to_the_error() -> None:
    assert baselines.failed_step_slice(lines_of(GHA_LOG)) == [(7, 12)]


@pytest.mark.parametrize(
    ("log", "expected"),
    [
        (b'plain travis output\nThe command "make" exited with 2.\n', None),  # no ##[error]: n/a
        (f"{TS}##[error]boom\n".encode(), [(1, 1)]),  # no group before the error: from line 1
        (
            f"{TS}##[group]Run a\n{TS}ok\n{TS}##[group]Run b\n{TS}x\n{TS}##[error]one\n{TS}##[error]two\n".encode(),
            [(3, 5)],
        ),
        (b"\xef\xbb\xbf" + f"{TS}##[group]Run x\n##[error]no timestamp\n".encode(), [(1, 2)]),
        (
            f"{TS}echo '##[group]Run fake'\n{TS}##[error]real\n".encode(),
            [(1, 2)],
        ),  # marker must start the line
    ],
)
def test_failed_step_slice_edge_cases(log: bytes, expected) -> None:
    assert baselines.failed_step_slice(lines_of(log)) == expected


def test_keyword_search_merges_context_windows() -> None:
    lines = lines_of(GHA_LOG)
    # keyword lines: 10 (FAILED), 11 (failed), 12 (##[error]Process completed); +-3 context, merged.
    assert baselines.keyword_search(lines) == [(7, 15)]
    assert baselines.keyword_search(lines, context=0) == [(10, 12)]
    spaced = [b"x"] * 20
    spaced[2] = b"Error: one"
    spaced[15] = b"FATAL two"
    assert baselines.keyword_search(spaced, context=3) == [(1, 6), (13, 19)]
    with pytest.raises(ValueError):
        baselines.keyword_search(spaced, context=-1)


def test_span_cost_counts_cleaned_lines() -> None:
    lines = lines_of(GHA_LOG)
    text = baselines.span_text(lines, [(8, 9)])
    assert text == "collected 3 items\nE       assert 0.07 == 0.1"  # timestamp and ANSI codes removed
    n_lines, n_bytes, n_tokens = baselines.span_cost(lines, [(8, 9)])
    assert (n_lines, n_bytes, n_tokens) == (2, len(text.encode()), estimate_tokens(text))


def test_scoring_a_coarse_case_uses_the_step_and_a_tight_case_the_lines(tmp_path: Path) -> None:
    tight = corpus.Case("cidiff", "x", "github-actions", tmp_path, 0, ((9, 10),))
    coarse = corpus.Case("logsage", "y", "github-actions", tmp_path, 0, ((7, 12),))
    slice_ = baselines.failed_step_slice(lines_of(GHA_LOG))
    assert quality.score(tight, slice_) == (True, 1.0)
    assert quality.score(coarse, baselines.tail(lines_of(GHA_LOG), 4)) == (True, 0.25)
    assert quality.groups_of(tight) == ["cidiff", quality.GITHUB_TIGHT]


# ---------------------------------------------------------------------------------------------
# corpus loading and evaluation on a tiny hand-made corpus


def make_corpus(root: Path) -> Path:
    rows = []
    cases = {
        ("cidiff", "gha-1", "github-actions"): (GHA_LOG, {"failure_blocks": [[9, 10]]}),
        ("logsage", "step-1", "github-actions"): (
            GHA_LOG,
            {"failure_lines": [7, 12], "failure_blocks": [[7, 12]]},
        ),
        ("bugswarm_dissection", "bs-1", "travis-ci"): (
            b"$ mvn test\n[ERROR] /src/Foo.java:[3,1] cannot find symbol\n[ERROR] COMPILATION ERROR\n",
            {"category": "Compilation", "failure_lines": None},
        ),
    }
    for (source, case_id, ci), (log, label) in cases.items():
        folder = root / source / case_id
        folder.mkdir(parents=True)
        (folder / "log.txt").write_bytes(log)
        (folder / "label.json").write_text(json.dumps({"case_id": case_id, **label}))
        rows.append(
            {
                "source": source,
                "case_id": case_id,
                "ci_system": ci,
                "log_bytes": len(log),
                "path": f"{source}/{case_id}",
                "category": label.get("category"),
            }
        )
    (root / "INDEX.jsonl").write_text("\n".join(map(json.dumps, rows)) + "\n")
    return root


def test_evaluate_scores_ci_healer_and_every_baseline_on_a_tiny_corpus(tmp_path: Path) -> None:
    cases = corpus.load_cases(make_corpus(tmp_path))
    assert [c.case_id for c in cases] == ["bs-1", "gha-1", "step-1"]
    result = quality.evaluate(cases)
    assert not result.crashes
    gha = result.summaries[quality.GITHUB_TIGHT]
    assert gha["step-slice"].hits == 1 and gha["step-slice"].lines == [6]
    assert gha["tail-100"].lines == [15]
    assert gha[quality.CI_HEALER].hits == 1  # the assertion lines 9-10 are found
    assert result.summaries["logsage"]["tail-100"].hits == 1
    assert result.classified.total == 1
    assert set(quality.METHODS) == set(gha)


def test_load_cases_samples_every_nth_case_per_source(tmp_path: Path) -> None:
    root = make_corpus(tmp_path)
    assert [c.case_id for c in corpus.load_cases(root, every=2)] == [
        "bs-1",
        "gha-1",
        "step-1",
    ]  # one per source
    assert [c.case_id for c in corpus.load_cases(root, sources=("logsage",))] == ["step-1"]


@pytest.mark.parametrize(
    ("index", "label", "message"),
    [
        (None, None, "no corpus index"),
        ("{not json\n", None, "unreadable corpus index"),
        ('{"source": "cidiff", "case_id": "a", "path": "cidiff/a"}\n', None, "unreadable label"),
        (
            '{"source": "cidiff", "case_id": "a", "path": "cidiff/a"}\n',
            '{"failure_blocks": [[5, 2]]}',
            "bad span",
        ),
        (
            '{"source": "cidiff", "case_id": "a", "path": "cidiff/a"}\n',
            '{"failure_blocks": [["x"]]}',
            "bad span",
        ),
    ],
)
def test_bad_corpus_gives_a_clear_error(tmp_path: Path, index, label, message) -> None:
    if index is not None:
        (tmp_path / "INDEX.jsonl").write_text(index)
    if label is not None:
        (tmp_path / "cidiff" / "a").mkdir(parents=True)
        (tmp_path / "cidiff" / "a" / "label.json").write_text(label)
    with pytest.raises(corpus.CorpusError, match=message):
        corpus.load_cases(tmp_path)


def test_run_exits_2_on_a_missing_corpus_and_writes_nothing(tmp_path: Path, capsys) -> None:
    out = tmp_path / "B.md"
    assert run.main(["--corpus", str(tmp_path / "nope"), "--out", str(out)]) == 2
    assert not out.exists()
    assert "no corpus index" in capsys.readouterr().err


def documented_mapping(doc: str) -> dict[str, str]:
    """``Label (note) → category`` clauses of the paragraph that states the BugSwarm mapping."""
    text = " ".join(doc.split())
    section = text.split("mapping of their labels onto", 1)[1].split(":", 1)[1].split(".", 1)[0]
    return {m.group(1): m.group(2) for m in re.finditer(r"([A-Z][\w ]*?)(?: \([^)]*\))? → ([\w-]+)", section)}


def test_documented_mapping_parser_reads_clauses() -> None:
    doc = "with this mapping of their labels onto :class:`Category`: Test → test, License (header check)\n → lint. Rest"
    assert documented_mapping(doc) == {"Test": "test", "License": "lint"}


def test_bugswarm_mapping_is_the_one_classify_documents() -> None:
    documented = documented_mapping(classify_mod.__doc__ or "")
    assert documented == {k: v.value for k, v in quality.BUGSWARM_MAPPING.items()}


# ---------------------------------------------------------------------------------------------
# scale pieces


def test_write_synthetic_cuts_at_a_line_end_and_repeats_sources(tmp_path: Path) -> None:
    a, b = tmp_path / "a.log", tmp_path / "b.log"
    a.write_bytes(b"alpha 1\nalpha 2\n")
    b.write_bytes(b"beta no newline")
    dest = tmp_path / "out.log"
    written = scale.write_synthetic(dest, 50, [a, b])
    data = dest.read_bytes()
    assert written == len(data) <= 50
    assert data.endswith(b"\n") and data.startswith(b"alpha 1\nalpha 2\nbeta no newline\nalpha 1\n")
    empty = tmp_path / "empty.log"
    empty.write_bytes(b"")
    for sources in ([], [empty]):
        with pytest.raises(ValueError):
            scale.write_synthetic(dest, 50, sources)


def test_worker_measures_extract_in_a_fresh_process(tmp_path: Path) -> None:
    log = tmp_path / "job.log"
    log.write_bytes(GHA_LOG * 200)
    m = scale.measure_file(log, "hand-made", timeout=120)
    assert m.size == len(GHA_LOG) * 200 and m.lines_total == 15 * 200 and m.blocks >= 1
    assert 10 * 2**20 < m.peak_rss < 2**30
    assert m.extract_seconds > 0 and m.grep_seconds > 0 and m.slowdown > 0


def test_synthetic_log_is_deleted_afterwards(tmp_path: Path) -> None:
    src = tmp_path / "a.log"
    src.write_bytes(GHA_LOG)
    with scale.synthetic_log(10_000, [src]) as path:
        assert path.stat().st_size > 9_000
    assert not path.exists() and not path.parent.exists()


# ---------------------------------------------------------------------------------------------
# targets and rendering


def test_checks_say_by_how_much_a_target_is_missed() -> None:
    s = metrics.Summary()
    for hit in [True] * 9 + [False]:
        s.add(metrics.CaseResult(hit, 1.0 if hit else 0.0, 10, 4000, 1600))
    q = quality.Quality(
        {"logchunks": dict.fromkeys(quality.METHODS, s)}, quality.Classified(), [], 1.0, 1, 10
    )
    logchunks, cidiff, crash = run.quality_checks(q, hit_goal=0.97, label="t")
    assert logchunks.status == "MISS"
    assert "7.0 points short" in logchunks.shortfall and "100 tokens over" in logchunks.shortfall
    assert cidiff.status == "NOT MEASURED" and crash.status == "PASS"
    m = scale.Measurement("synthetic 10 MB", 10 * scale.MB, 2.0, 50 * 2**20, 0.1, 3, 1000)
    speed, memory = run.speed_checks([m], [])
    assert speed.status == "MISS" and "20.0x grep" in speed.measured and "6.7x over" in speed.shortfall
    assert memory.status == "NOT MEASURED"


def test_report_renders_every_section() -> None:
    check = run.Check("overhead", "< 3 s", "not measured: no Docker", "NOT MEASURED")
    text = run.render(
        {
            "command": "python bench/run.py",
            "date": "2025-01-01 00:00 UTC",
            "machine": run.machine_facts(),
            "revision": "abc",
            "quick": False,
            "seconds": 1.0,
            "cases": 1,
            "corpus_mb": 0.1,
            "corpus_mb_s": 1.0,
            "tokenizer_note": "tiktoken is not installed",
            "real_tokens": False,
            "max_tokens": 1500,
            "quality_headers": ["group", "method", "cases"],
            "quality_rows": [["logchunks", "ci-healer", "1"]],
            "crashes": ["logchunks/x: ValueError: a|b"],
            "conf_headers": ["a", "b"],
            "conf_rows": [["Test", "test"]],
            "ceilings": [quality.LabelCeiling("cidiff", 2, [("huge", 2_000)])],
            "hit_rates": {"cidiff": 0.5},
            "classified": quality.Classified(),
            "mapping": {"Test": "test"},
            "speed_headers": ["log", "MB"],
            "speed_rows": [["synthetic 10 MB", "10.0"]],
            "speed_notes": ["1,000 MB not measured: x"],
            "idle_rss_mb": 30.0,
            "image": None,
            "runs": [],
            "targets": [check],
            "floors": [],
            "kws_keywords": ("error",),
            "kws_context": 3,
            "cv_headers": ["fold", "hit rate"],
            "cv_rows": [["0 (held out)", "90.0%"], ["mean over folds", "91.0%"]],
            "cv_k": 5,
            "cv_seed": 7,
            "cv_held_out": 0,
            "cv_every": 1,
            "green_report": "| raw log | 1500 | green-diff-row |",
            "localization_table": "| overall | 90 | loc-row |",
        }
    )
    for needle in (
        "# Benchmarks",
        "## Targets",
        "**NOT MEASURED** | overhead",
        "| logchunks | ci-healer | 1 |",
        "ValueError: a|b",
        "1,000 MB not measured",
        "not measured: tiktoken is not installed",
        "Python " + run.machine_facts()["Python"],
        "| cidiff | 2 | 1 (huge 2,000) | 50.0% | 50.0% | 0.0 points |",
        "`python bench/cv.py`",
        "| mean over folds | 91.0% |",
        "`python bench/greendiff.py`",
        "green-diff-row",
        "`python -m bench.localization`",
        "loc-row",
    ):
        assert needle in text, needle
    assert "/work/" not in text


def test_shown_command_has_no_absolute_paths() -> None:
    shown = run.shown_command(["--corpus", str(REPO_ROOT.parent / "shared" / "corpus"), "--quick"])
    assert shown == "python bench/run.py --corpus ../shared/corpus --quick"


# ---------------------------------------------------------------------------------------------
# the real corpus


@pytest.mark.skipif(
    not (CORPUS / "INDEX.jsonl").is_file(),
    reason=corpus_reason(),
)
def test_baselines_agree_with_the_logsage_labels() -> None:
    """LogSage labels the failed step: the step slice must reproduce most labels exactly."""
    cases = corpus.load_cases(CORPUS, sources=("logsage",), every=4)
    exact = sum(
        baselines.failed_step_slice(corpus.split_lines(c.log.read_bytes())) == list(c.spans) for c in cases
    )
    assert exact >= 0.6 * len(cases), f"{exact}/{len(cases)}"


@pytest.mark.slow
@pytest.mark.skipif(
    not (CORPUS / "INDEX.jsonl").is_file(),
    reason=corpus_reason(),
)
def test_quick_run_finishes_and_reports_its_floors(tmp_path: Path) -> None:
    out = tmp_path / "BENCHMARKS.md"
    proc = subprocess.run(
        [
            sys.executable,
            str(REPO_ROOT / "bench" / "run.py"),
            "--quick",
            "--corpus",
            str(CORPUS),
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode in (0, 1), proc.stderr[-2000:]
    floors_broken = "floor broken" in proc.stderr
    assert (proc.returncode == 1) == floors_broken
    text = out.read_text()
    assert "| logchunks | ci-healer |" in text and "synthetic 10 MB" in text
    assert proc.stdout.count("floor: ") == 2


# ---------------------------------------------------------------------------------------------
# overhead


def test_overhead_without_docker_is_reported_not_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    from bench import overhead

    monkeypatch.setattr(overhead.shutil, "which", lambda name: None)
    assert overhead.docker_problem() == "no docker CLI on PATH"
    size = overhead.image_size("some:tag")
    assert size.size is None and size.note == "not measured: no docker CLI on PATH"
    container = overhead.measure_container("some:tag")
    assert container.seconds is None and container.note.startswith("not measured: no docker CLI")
    host = overhead.Overhead("host process", 1.25, 15, 0)
    image_check, overhead_check = run.overhead_checks(size, [container, host])
    assert image_check.status == overhead_check.status == "NOT MEASURED"
    assert "host process without container: 1.25 s, 15 API calls" in overhead_check.measured


@pytest.mark.parametrize(
    ("seconds", "status", "shortfall"), [(2.5, "PASS", ""), (4.0, "MISS", "1.00 s over")]
)
def test_container_overhead_target(seconds: float, status: str, shortfall: str) -> None:
    from bench import overhead

    image = overhead.ImageSize("t", 300 * scale.MB)
    image_check, check = run.overhead_checks(image, [overhead.Overhead("container", seconds, 12, 0)])
    assert (check.status, check.shortfall) == (status, shortfall)
    assert image_check.status == "MISS" and image_check.shortfall == "50 MB over"


def test_step_slice_target_needs_five_times_fewer_tokens_and_no_lower_hit_rate() -> None:
    def summary(hits: int, tokens: int) -> metrics.Summary:
        s = metrics.Summary()
        for i in range(10):
            s.add(metrics.CaseResult(i < hits, 1.0, 10, tokens * 4, tokens))
        return s

    def check(ours: metrics.Summary, slice_: metrics.Summary) -> run.Check:
        methods = {m: summary(0, 1) for m in quality.METHODS} | {
            quality.CI_HEALER: ours,
            "step-slice": slice_,
        }
        q = quality.Quality({quality.GITHUB_TIGHT: methods}, quality.Classified(), [], 1.0, 1, 10)
        return run.step_checks(q)[0]

    assert check(summary(9, 200), summary(9, 1000)).status == "PASS"
    low = check(summary(9, 400), summary(9, 1000))
    assert low.status == "MISS" and low.shortfall == "factor 2.50x, 2.0x too small"
    worse = check(summary(8, 100), summary(9, 1000))
    assert worse.status == "MISS" and "10.0 points below" in worse.shortfall


def test_label_ceiling_counts_labels_longer_than_the_budget(tmp_path: Path) -> None:
    short_dir, long_dir = tmp_path / "short", tmp_path / "long"
    short_dir.mkdir()
    long_dir.mkdir()
    (short_dir / "log.txt").write_bytes(b"ok\nE   AssertionError: 1 != 2\nbye\n")
    # 40 distinct long lines: no fold applies, so the label alone costs far more than 100 tokens.
    (long_dir / "log.txt").write_bytes(
        b"".join(
            f"{hashlib.sha256(str(i).encode()).hexdigest()[:12]}.c: {hashlib.sha1(str(i).encode()).hexdigest()} is undeclared\n".encode()
            for i in range(40)
        )
    )
    cases = [
        corpus.Case("cidiff", "short", "github-actions", short_dir, 0, ((2, 2),)),
        corpus.Case("cidiff", "long", "jenkins", long_dir, 0, ((1, 40),)),
        corpus.Case("logchunks", "other", "travis-ci", short_dir, 0, ((2, 2),)),
    ]
    ceiling = quality.label_ceiling(cases, source="cidiff", max_tokens=100)
    assert ceiling.cases == 2
    assert [case_id for case_id, _ in ceiling.over] == ["long"]
    assert ceiling.over[0][1] > 100
    assert ceiling.ceiling == 0.5


def _cv_case(source: str, case_id: str, repository: str | None) -> corpus.Case:
    label = {"repository": repository} if repository else {}
    return corpus.Case(source, case_id, "travis-ci", Path("/nonexistent"), 1, ((1, 1),), None, label)


def _cv_cases() -> list[corpus.Case]:
    cases = []
    for r in range(23):  # repositories of 1..6 cases, in both sources, and cases without a repository
        for n in range(1 + r % 6):
            cases.append(_cv_case("logchunks" if r % 4 else "cidiff", f"r{r}-{n}", f"owner/repo{r}"))
    cases += [_cv_case("cidiff", f"lone-{n}", None) for n in range(4)]
    return cases


def test_cv_folds_keep_each_repository_in_one_fold_and_are_deterministic() -> None:
    cases = _cv_cases()
    folds = cv.assign_folds(cases, k=5, seed=7)
    assert set(folds.values()) == set(range(5))
    # every case of one repository maps to one fold: the mapping is by group, and groups are repositories
    by_repo: dict[str, set[int]] = {}
    for case in cases:
        by_repo.setdefault(cv.group_of(case), set()).add(folds[cv.group_of(case)])
    assert all(len(f) == 1 for f in by_repo.values())
    assert "owner/repo3" in folds and "case:cidiff/lone-2" in folds  # no repository: grouped by case id
    assert cv.assign_folds(list(reversed(cases)), k=5, seed=7) == folds  # input order does not matter
    assert cv.assign_folds(cases, k=5, seed=7) == folds
    sizes = [sum(1 for c in cases if folds[cv.group_of(c)] == f) for f in range(5)]
    assert max(sizes) - min(sizes) <= 6  # balanced up to the largest repository
    with pytest.raises(ValueError):
        cv.assign_folds(cases, k=1)


def test_cross_validate_reports_fold_mean_gap_and_repository_macro() -> None:
    cases = _cv_cases()
    # every case of one repository misses, every other case hits
    big = [c for c in cases if c.repository == "owner/repo5"]  # 6 cases, one repository
    outcomes = [(c, metrics.CaseResult(c not in big, 1.0, 1, 4, 100 + i)) for i, c in enumerate(cases)]
    result = cv.cross_validate(outcomes, k=5, seed=7)
    whole = 1 - len(big) / len(cases)
    assert result.whole["all"].hit_rate == pytest.approx(whole)
    fold_of_big = cv.assign_folds(cases, k=5, seed=7)["owner/repo5"]
    assert result.fold_min() == result.folds[fold_of_big].pooled.hit_rate < 1.0
    rates = [f.pooled.hit_rate for f in result.folds]
    assert result.fold_mean() == pytest.approx(sum(rates) / 5)
    assert result.gap() == pytest.approx(100 * (whole - sum(rates) / 5))
    groups = {cv.group_of(c) for c in cases}
    assert result.macro["all"] == pytest.approx(
        (len(groups) - 1) / len(groups)
    )  # one repository of all at 0%
    _headers, body = cv.rows(result)
    assert len(body) == 5 + 5 and body[0][0].endswith("(held out)")
