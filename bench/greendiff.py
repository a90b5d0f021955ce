"""Extraction with and without the green-log diff on the CiDiff cases that ship a passing log.

Usage::

    python bench/greendiff.py [--corpus DIR] [--budgets 400,600,800,1000,1500,4000,6000,8000] [--set] [--keep] [--scale MB]

For every CiDiff case with a ``pass.log`` (the passing log of the same job), runs
:func:`ci_healer.extract.extract` on the raw failed log and on the failed log after
:func:`ci_healer.greendiff.drop_green_lines` against ``pass.log``, at each token budget, and
scores both with the corpus' own scoring (:func:`bench.quality.score`: hit = every labeled line
of ``failure_blocks`` inside an extracted ``[start_line, end_line]``). Figures are given for all
cases and, so that no single repository decides them, for ``hashicorp/terraform`` (22 of the 46
cases) and for the other repositories apart, next to the label ceiling of each budget (the hit
rate of an extractor that shows exactly the labeled lines: labels larger than the budget cannot be
hit, :func:`bench.quality.label_ceiling`). ``--set`` adds the set-semantics variant of the diff
(a line of the green log blanks every occurrence, not as many as the green log has); ``--keep``
adds the diff that blanks the step structure too, and the diff that never blanks a line the
extractor takes for a signal.

``--scale MB`` also times the diff alone on a pair of about ``MB`` megabytes each (the CiDiff
failed logs concatenated, repeated as needed, against their passing logs concatenated), in a fresh
process, with its peak RSS (``VmHWM``, :func:`bench.scale.peak_rss`) before and after the call.

Prints one table per group and a last summary line for ``BENCHMARKS.md``; ``bench/README.md``
explains the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):  # run as ``python bench/greendiff.py``
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tempfile import TemporaryDirectory

from bench.corpus import REPO_ROOT, Case, CorpusError, default_corpus, load_cases
from bench.metrics import CaseResult, Summary
from bench.quality import label_ceiling, score
from ci_healer.extract import classify_line, extract
from ci_healer.greendiff import Cleaned, drop_green_lines, structural

BUDGETS = (
    400,
    600,
    800,
    1000,
    1500,
    4000,
    6000,
    8000,
)  # 6000: the analyze flow's budget with a green log (4 x 1500)
TARGET_HIT = 0.97
TARGET_MEDIAN = 800
PASS_LOG = "pass.log"
SPLIT_REPOSITORY = "hashicorp/terraform"
"""The repository that holds about half of the CiDiff cases: reported apart from the rest."""

PLAIN = "raw log"
MULTISET = "green diff"
SET = "green diff (set)"
KEEP_NOTHING = "green diff (structure blanked too)"
KEEP_SIGNALS = "green diff (signal lines kept)"


def keep_signals(line: Cleaned) -> bool:
    """Keep the step structure and every line :func:`ci_healer.extract.classify_line` takes for a signal."""
    return structural(line) or (bool(line.text) and classify_line(line.text, line.marker) is not None)


@dataclass
class Prepared:
    """One case with its failed log raw and after each diff variant, and the diff's cost."""

    case: Case
    logs: dict[str, bytes]
    dropped: int
    lines: int
    diff_seconds: float
    """CPU seconds of the multiset diff (``time.process_time``: the machine may be shared)."""
    diff_bytes: int


def repository(case: Case) -> str:
    """The case's repository as its label gives it (``""`` when the label has none)."""
    return str(case.label.get("repository") or "")


def groups_of(case: Case) -> list[str]:
    """Report groups of a case: all cases, then :data:`SPLIT_REPOSITORY` or the rest."""
    split = SPLIT_REPOSITORY.split("/")[-1]
    return ["all", split if repository(case) == SPLIT_REPOSITORY else f"not {split}"]


def prepare(cases: Sequence[Case], *, with_set: bool, with_keep: bool = False) -> list[Prepared]:
    """Read each case with a passing log and compute its diff variants (cases without are left out)."""
    out: list[Prepared] = []
    for case in cases:
        green_path = case.path / PASS_LOG
        if not case.spans or not green_path.is_file():
            continue
        failed = case.log.read_bytes()
        green = green_path.read_bytes()
        started = time.process_time()
        diff = drop_green_lines(failed, green)
        seconds = time.process_time() - started
        logs = {PLAIN: failed, MULTISET: diff.log}
        if with_set:
            logs[SET] = drop_green_lines(failed, green, multiset=False).log
        if with_keep:
            logs[KEEP_NOTHING] = drop_green_lines(failed, green, keep=lambda line: False).log
            logs[KEEP_SIGNALS] = drop_green_lines(failed, green, keep=keep_signals).log
        out.append(
            Prepared(case, logs, diff.dropped, diff.dropped + diff.kept, seconds, len(failed) + len(green))
        )
    return out


def measure(
    prepared: Sequence[Prepared], budgets: Sequence[int]
) -> dict[str, dict[tuple[str, int], Summary]]:
    """group -> (variant, budget) -> :class:`bench.metrics.Summary` of extract on that variant."""
    table: dict[str, dict[tuple[str, int], Summary]] = {}
    for item in prepared:
        for variant, log in item.logs.items():
            for budget in budgets:
                result = extract(log, max_tokens=budget)
                spans = [(b.start_line, b.end_line) for b in result.blocks]
                hit, recall = score(item.case, spans)
                lines = len({n for lo, hi in spans for n in range(lo, hi + 1)})
                size = sum(len(b.text.encode("utf-8")) for b in result.blocks)
                res = CaseResult(hit, recall, lines, size, result.tokens)
                for group in groups_of(item.case):
                    table.setdefault(group, {}).setdefault((variant, budget), Summary()).add(res)
    return table


def _row(variant: str, budget: int, s: Summary, ceiling: float) -> str:
    return (
        f"| {variant} | {budget} | {ceiling:.1%} | {s.hits}/{s.cases} = {s.hit_rate:.1%} | {s.mean_score:.1%} "
        f"| {s.stat('tokens', 50):.0f} | {s.stat('tokens', 95):.0f} | {max(s.tokens)} |"
    )


def ceilings(prepared: Sequence[Prepared], budgets: Sequence[int]) -> dict[str, dict[int, float]]:
    """group -> budget -> label ceiling (share of cases whose labeled lines fit the budget)."""
    out: dict[str, dict[int, float]] = {}
    for group in dict.fromkeys(g for p in prepared for g in groups_of(p.case)):
        cases = [p.case for p in prepared if group in groups_of(p.case)]
        out[group] = {b: label_ceiling(cases, source="cidiff", max_tokens=b).ceiling for b in budgets}
    return out


def report(
    prepared: Sequence[Prepared],
    table: dict[str, dict[tuple[str, int], Summary]],
    ceiling: dict[str, dict[int, float]] | None = None,
) -> str:
    """The printed report: diff cost, one table per group, the target line and the summary line."""
    lines: list[str] = []
    dropped = sum(p.dropped for p in prepared)
    total = sum(p.lines for p in prepared)
    seconds = sum(p.diff_seconds for p in prepared)
    size = sum(p.diff_bytes for p in prepared)
    lines.append(
        f"CiDiff cases with {PASS_LOG}: {len(prepared)}; the diff blanked {dropped}/{total} lines "
        f"({dropped / total:.1%}) in {seconds:.2f} CPU s "
        f"({size / 1e6 / max(seconds, 1e-9):.1f} MB/s of failed + green log)"
    )
    for group, cells in table.items():
        n = next(iter(cells.values())).cases
        lines += [
            "",
            f"### {group} ({n} cases)",
            "",
            "| log | max_tokens | label ceiling | hit | recall | median tokens | p95 tokens | max tokens |",
            "|---|---|---|---|---|---|---|---|",
        ]
        lines += [
            _row(variant, budget, s, (ceiling or {}).get(group, {}).get(budget, float("nan")))
            for (variant, budget), s in cells.items()
        ]
    best = _best(table.get("all", {}))
    if best is not None:
        (variant, budget), s = best
        verdict = "PASS" if s.hit_rate >= TARGET_HIT and s.stat("tokens", 50) <= TARGET_MEDIAN else "MISS"
        lines += [
            "",
            f"target hit >= {TARGET_HIT:.0%} at median <= {TARGET_MEDIAN} tokens with the green diff: "
            f"{verdict} ({variant}, max_tokens={budget}: {s.hit_rate:.1%} "
            f"at median {s.stat('tokens', 50):.0f}, "
            f"p95 {s.stat('tokens', 95):.0f})",
        ]
    lines += ["", summary_line(table)]
    return "\n".join(lines)


def _best(cells: dict[tuple[str, int], Summary]) -> tuple[tuple[str, int], Summary] | None:
    """The multiset-diff cell with the best hit rate at a median within the target, else the best hit rate."""
    diffed = [(k, s) for k, s in cells.items() if k[0] == MULTISET]
    within = [(k, s) for k, s in diffed if s.stat("tokens", 50) <= TARGET_MEDIAN]
    pool = within or diffed
    return max(pool, key=lambda ks: (ks[1].hit_rate, -ks[1].stat("tokens", 50), -ks[0][1]), default=None)


def summary_line(table: dict[str, dict[tuple[str, int], Summary]]) -> str:
    """One line for ``BENCHMARKS.md``: raw log at 1500 vs the best green-diff budget, all and per group."""
    parts = []
    for group, cells in table.items():
        plain = cells.get((PLAIN, 1500))
        best = _best(cells)
        if plain is None or best is None:
            continue
        (_, budget), s = best
        same = cells.get((PLAIN, budget))
        parts.append(
            f"{group} ({s.cases}): {s.hit_rate:.1%} at median {s.stat('tokens', 50):.0f} / p95 "
            f"{s.stat('tokens', 95):.0f} tokens (max_tokens {budget})"
            + (
                f", raw log at the same budget {same.hit_rate:.1%} at {same.stat('tokens', 50):.0f}"
                if same
                else ""
            )
            + f", raw log at 1500 {plain.hit_rate:.1%} at {plain.stat('tokens', 50):.0f}"
        )
    return "Green-log diff (CiDiff cases with a passing log): " + "; ".join(parts)


def worker(failed_path: str, green_path: str) -> dict:
    """One diff in this process: ``seconds``, ``cpu_seconds``, ``rss_before``/``rss_after`` (bytes,
    :func:`bench.scale.peak_rss`), ``bytes`` of both logs, ``dropped`` and ``lines``."""
    from bench.scale import peak_rss

    failed = Path(failed_path).read_bytes()
    green = Path(green_path).read_bytes()
    before = peak_rss()
    started, cpu = time.perf_counter(), time.process_time()
    diff = drop_green_lines(failed, green)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    return {
        "seconds": seconds,
        "cpu_seconds": cpu,
        "rss_before": before,
        "rss_after": peak_rss(),
        "bytes": len(failed) + len(green),
        "dropped": diff.dropped,
        "lines": diff.dropped + diff.kept,
    }


def scale(prepared: Sequence[Prepared], megabytes: int) -> str:
    """Time :func:`worker` in a fresh interpreter on a synthetic pair of about ``megabytes`` MB each."""
    target = megabytes * 1_000_000
    with TemporaryDirectory() as tmp:
        paths = []
        sides = (
            ("failed.log", lambda p: p.logs[PLAIN]),
            ("green.log", lambda p: (p.case.path / PASS_LOG).read_bytes()),
        )
        for name, pick in sides:
            path = Path(tmp) / name
            with path.open("wb") as out:
                written = 0
                while written < target:
                    for item in prepared:
                        data = pick(item)
                        out.write(data if data.endswith(b"\n") else data + b"\n")
                        written += len(data) + 1
            paths.append(str(path))
        path_env = os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))
        env = {**os.environ, "PYTHONPATH": path_env}
        proc = subprocess.run(
            [sys.executable, "-m", "bench.greendiff", "--worker", *paths],
            capture_output=True,
            text=True,
            env=env,
            check=False,
            timeout=3600,
        )
    if proc.returncode:
        return f"scale run failed: {proc.stderr.strip()[-500:]}"
    got = json.loads(proc.stdout)
    mb = got["bytes"] / 1e6
    return (
        f"diff alone on {mb:.0f} MB (failed + green, {got['lines']} failed lines, {got['dropped']} blanked): "
        f"{got['cpu_seconds']:.1f} CPU s = {mb / got['cpu_seconds']:.1f} MB/s ({got['seconds']:.1f} s wall); "
        f"peak RSS {got['rss_before'] / 1e6:.0f} MB "
        f"with both logs read, {got['rss_after'] / 1e6:.0f} MB after the diff"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Command line; returns 0, or 2 when the corpus cannot be read."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=None)
    parser.add_argument("--budgets", default=",".join(map(str, BUDGETS)))
    parser.add_argument("--set", action="store_true", help="also measure the set-semantics diff")
    parser.add_argument(
        "--keep",
        action="store_true",
        help="also measure the diff with the step structure blanked too, and with signal lines kept",
    )
    parser.add_argument(
        "--scale", type=int, default=0, metavar="MB", help="also time the diff on a synthetic MB-sized pair"
    )
    parser.add_argument("--worker", nargs=2, metavar=("FAILED", "GREEN"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(*args.worker)))
        return 0
    budgets = [int(b) for b in args.budgets.split(",") if b]
    try:
        cases = load_cases(args.corpus or default_corpus(), sources=("cidiff",))
    except CorpusError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    prepared = prepare(cases, with_set=args.set, with_keep=args.keep)
    if not prepared:
        print("error: no CiDiff case with a passing log", file=sys.stderr)
        return 2
    print(report(prepared, measure(prepared, budgets), ceilings(prepared, budgets)))
    if args.scale:
        print(scale(prepared, args.scale))
    return 0


if __name__ == "__main__":
    sys.exit(main())
