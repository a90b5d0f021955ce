"""Failure-block extraction measured on the labeled corpus of real failed CI logs.

Run as a script for the per-source table::

    python tests/test_corpus.py [--source logchunks] [--misses]

Hit: every labeled line lies inside some returned block's [start_line, end_line]. LogChunks
labels one span (``failure_lines``); CiDiff labels several ``failure_blocks``. LogSage labels the
whole failed step, so there a case counts as a hit when some block lies inside that step.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ci_healer.extract import extract
from ci_healer.logread import clean_line
from ci_healer.models import Extraction

# Corpus-wide properties: the `slow` tier (tests/README.md), run by .ci/run after the README's test command.
pytestmark = pytest.mark.slow

REPO_ROOT = Path(__file__).resolve().parents[1]
CORPUS = Path(os.environ.get("CI_HEALER_CORPUS") or REPO_ROOT.parent / "shared" / "corpus")
TIGHT = ("logchunks", "cidiff")


@dataclass
class Case:
    source: str
    case_id: str
    path: Path
    label: dict

    @property
    def spans(self) -> list[tuple[int, int]]:
        blocks = self.label.get("failure_blocks") or (
            [self.label["failure_lines"]] if self.label.get("failure_lines") else []
        )
        return [(int(a), int(b)) for a, b in blocks]


def load_cases(source: str | None = None) -> Iterator[Case]:
    """Every case of INDEX.jsonl (optionally one source), with its label."""
    with (CORPUS / "INDEX.jsonl").open(encoding="utf-8") as index:
        for row in map(json.loads, index):
            if source and row["source"] != source:
                continue
            folder = CORPUS / row["path"]
            label = json.loads((folder / "label.json").read_text(encoding="utf-8"))
            yield Case(row["source"], row["case_id"], folder, label)


def covered(result: Extraction, spans: list[tuple[int, int]]) -> tuple[bool, float]:
    """(all labeled lines covered, fraction of labeled lines covered)."""
    wanted = {n for a, b in spans for n in range(a, b + 1)}
    if not wanted:
        return False, 0.0
    got = {n for n in wanted if any(b.start_line <= n <= b.end_line for b in result.blocks)}
    return got == wanted, len(got) / len(wanted)


def inside_step(result: Extraction, spans: list[tuple[int, int]]) -> bool:
    """Some block overlaps the labeled (coarse) failed-step span."""
    return any(b.start_line <= hi and b.end_line >= lo for b in result.blocks for lo, hi in spans)


@dataclass
class SourceStats:
    cases: int = 0
    hits: int = 0
    recall: float = 0.0
    tokens: list[int] | None = None


def measure(source: str) -> tuple[SourceStats, list[str]]:
    """Run extract over every labeled case of ``source``; return the stats and the missed case ids."""
    stats = SourceStats(tokens=[])
    misses: list[str] = []
    for case in load_cases(source):
        spans = case.spans
        if not spans:
            continue
        result = extract(case.path / "log.txt")
        stats.cases += 1
        stats.tokens.append(result.tokens)
        if source in TIGHT:
            hit, rec = covered(result, spans)
        else:
            hit = inside_step(result, spans)
            rec = covered(result, spans)[1]
        stats.hits += hit
        stats.recall += rec
        if not hit:
            misses.append(case.case_id)
    return stats, misses


needs_corpus = pytest.mark.skipif(
    not (CORPUS / "INDEX.jsonl").is_file(),
    reason=f"labeled corpus not found at {CORPUS} (set CI_HEALER_CORPUS to its folder)",
)


@needs_corpus
def test_every_corpus_log_extracts_within_budget() -> None:
    for case in load_cases():
        result = extract(case.path / "log.txt")
        assert result.blocks, case.case_id
        assert result.tokens <= 1500, case.case_id
        assert result.lines_total >= max(b.end_line for b in result.blocks), case.case_id
        starts = [b.start_line for b in result.blocks]
        assert starts == sorted(starts), case.case_id


@needs_corpus
@pytest.mark.parametrize("source", TIGHT)
def test_tight_labels_are_covered(source: str) -> None:
    stats, misses = measure(source)
    assert stats.cases > 0
    assert stats.hits / stats.cases >= 0.91, misses
    assert statistics.median(stats.tokens) <= 1500


_EXIT = re.compile(
    r'^(?:The command ".*" (?:exited|failed) with [1-9]\d*\.?$|Process completed with exit code \d+)'
)
_AFTER_STEP = re.compile(r"^(?:Post job cleanup\.|Cleaning up orphan processes|\[Pipeline\] (?:\}|// stage))")


def step_boundaries(path: Path) -> set[int]:
    """Lines ``b`` such that ``b - 1`` and ``b`` lie in different steps: the line after a step's exit
    line, a GitHub Actions ``##[group]Run`` header or post-job line, a Jenkins block close."""
    found: set[int] = set()
    for number, raw in enumerate(path.read_bytes().split(b"\n"), 1):
        text, marker = clean_line(raw)
        if (marker == "group" and text.startswith("Run ")) or (marker is None and _AFTER_STEP.match(text)):
            found.add(number)
        elif _EXIT.match(text):
            found.add(number + 1)
    return found


@needs_corpus
def test_no_block_runs_across_a_step_boundary() -> None:
    crossings = []
    for case in load_cases():
        result = extract(case.path / "log.txt")
        edges = step_boundaries(case.path / "log.txt")
        crossings += [
            (case.case_id, b.start_line, b.end_line)
            for b in result.blocks
            if any(b.start_line < e <= b.end_line for e in edges)
        ]
    assert not crossings, crossings[:10]


@needs_corpus
def test_logsage_blocks_lie_in_the_failed_step() -> None:
    stats, misses = measure("logsage")
    assert stats.cases > 0
    assert stats.hits / stats.cases >= 0.90, misses


def _percentile(values: list[int], q: float) -> int:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main(argv: list[str]) -> int:
    sources = [argv[argv.index("--source") + 1]] if "--source" in argv else [*TIGHT, "logsage"]
    print(f"{'source':<12} {'cases':>5} {'hit':>7} {'recall':>7} {'tok med':>7} {'tok p95':>7}")
    for source in sources:
        stats, misses = measure(source)
        if not stats.cases:
            continue
        print(
            f"{source:<12} {stats.cases:>5} {stats.hits / stats.cases:>7.1%} {stats.recall / stats.cases:>7.1%} "
            f"{statistics.median(stats.tokens):>7.0f} {_percentile(stats.tokens, 0.95):>7}"
        )
        if "--misses" in argv:
            print("  missed:", " ".join(misses))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
