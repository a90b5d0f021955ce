"""Repository-grouped k-fold cross-validation of the tight-label hit rate.

The extractor is rule-based: nothing is trained, so a fold is not a train/test split but a
measurement of how much the hit rate depends on *which repositories* are in the sample. Rules
that fit a few logs of one project show up as a low fold (the one holding that project's other
logs scores lower) and as a gap between the whole-corpus figure and the mean over folds.

* **Groups**: all cases of one repository (``label.json`` ``repository``) fall in the same fold,
  whatever their source; a case without a repository is its own group (``case:<source>/<case_id>``).
* **Folds**: groups are shuffled with a fixed seed (:data:`SEED`), then placed largest first
  into the fold holding the fewest cases of the group's main source so far (ties: fewest cases,
  then the lowest fold number): stratified by source, so every fold has about as many LogChunks
  and as many CiDiff cases as the others, and the assignment is the same on every run.
* **Figures**: per fold the hit rate (:func:`bench.quality.score`: every labeled line covered)
  and median estimated tokens; the mean over folds (the figure rules are judged by), the lowest
  fold, the gap whole-corpus minus fold mean (points), and the repository-macro-averaged hit
  rate (each repository weighs the same, so one big repository cannot carry the figure).
* **Held-out fold**: fold :data:`HELD_OUT` is kept aside while rules are developed: its logs
  are not read (``--misses`` never lists them), only its figure is measured.

Usage: ``python bench/cv.py [--corpus DIR] [--k 5] [--seed 7] [--every N] [--misses]``.
"""

from __future__ import annotations

import argparse
import math
import random
import sys
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

if __package__ in (None, ""):  # ``python bench/cv.py``: make ``bench`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.corpus import TIGHT_SOURCES, Case, CorpusError, default_corpus, load_cases
from bench.metrics import CaseResult, Summary

K = 5
SEED = 7
HELD_OUT = 0
"""Fold set aside while developing rules: measured, never read."""


def group_of(case: Case) -> str:
    """The fold group of a case: its repository, else ``case:<source>/<case_id>``."""
    return case.repository or f"case:{case.source}/{case.case_id}"


def assign_folds(cases: Iterable[Case], *, k: int = K, seed: int = SEED) -> dict[str, int]:
    """Group (see :func:`group_of`) -> fold number ``0..k-1``; deterministic for a given seed.

    Raises ``ValueError`` for ``k`` < 2.
    """
    if k < 2:
        raise ValueError("k must be at least 2")
    sizes: dict[str, int] = defaultdict(int)
    by_source: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for case in cases:
        sizes[group_of(case)] += 1
        by_source[group_of(case)][case.source] += 1
    order = sorted(sizes)
    random.Random(seed).shuffle(order)
    order.sort(key=lambda g: -sizes[g])  # stable: the shuffle breaks ties between equal sizes
    load = [0] * k
    source_load: dict[str, list[int]] = defaultdict(lambda: [0] * k)
    folds: dict[str, int] = {}
    for group in order:
        main = max(sorted(by_source[group]), key=lambda s: by_source[group][s])
        fold = min(range(k), key=lambda f: (source_load[main][f], load[f], f))
        folds[group] = fold
        load[fold] += sizes[group]
        for source, n in by_source[group].items():
            source_load[source][fold] += n
    return folds


@dataclass
class FoldFigures:
    """Hit rate and median tokens of one fold, pooled over tight sources and per source."""

    fold: int
    pooled: Summary = field(default_factory=Summary)
    by_source: dict[str, Summary] = field(default_factory=dict)
    groups: int = 0


@dataclass
class CrossValidation:
    """Everything :func:`cross_validate` measured (rates are 0..1, NaN without cases)."""

    k: int
    seed: int
    folds: list[FoldFigures]
    whole: dict[str, Summary]
    """``"all"`` and each source -> summary over the whole corpus."""
    macro: dict[str, float]
    """``"all"`` and each source -> repository-macro-averaged hit rate."""

    def fold_mean(self, source: str = "all") -> float:
        """Mean over folds of the fold hit rate (folds without cases of ``source`` left out)."""
        rates = [
            f.pooled.hit_rate if source == "all" else f.by_source[source].hit_rate
            for f in self.folds
            if (f.pooled if source == "all" else f.by_source[source]).cases
        ]
        return sum(rates) / len(rates) if rates else math.nan

    def fold_min(self, source: str = "all") -> float:
        """The lowest fold hit rate."""
        rates = [
            f.pooled.hit_rate if source == "all" else f.by_source[source].hit_rate
            for f in self.folds
            if (f.pooled if source == "all" else f.by_source[source]).cases
        ]
        return min(rates) if rates else math.nan

    def gap(self, source: str = "all") -> float:
        """Whole-corpus hit rate minus the fold mean, in points (positive: the whole looks better)."""
        return 100 * (self.whole[source].hit_rate - self.fold_mean(source))

    def median_tokens(self) -> float:
        """Median estimated tokens over all tight cases."""
        return self.whole["all"].stat("tokens", 50)


def cross_validate(
    outcomes: Sequence[tuple[Case, CaseResult]],
    *,
    k: int = K,
    seed: int = SEED,
    sources: tuple[str, ...] = TIGHT_SOURCES,
) -> CrossValidation:
    """Fold the per-case results of :func:`bench.quality.evaluate` (``Quality.outcomes``) or
    :func:`run_cases` by repository; only cases of ``sources`` count."""
    chosen = [(c, r) for c, r in outcomes if c.source in sources]
    folds_of = assign_folds((c for c, _ in chosen), k=k, seed=seed)
    folds = [FoldFigures(f, by_source={s: Summary() for s in sources}) for f in range(k)]
    whole = {"all": Summary(), **{s: Summary() for s in sources}}
    per_repo: dict[str, dict[str, list[bool]]] = defaultdict(lambda: defaultdict(list))
    for case, result in chosen:
        fold = folds[folds_of[group_of(case)]]
        fold.pooled.add(result)
        fold.by_source[case.source].add(result)
        whole["all"].add(result)
        whole[case.source].add(result)
        per_repo[group_of(case)]["all"].append(result.hit)
        per_repo[group_of(case)][case.source].append(result.hit)
    for fold in folds_of.values():
        folds[fold].groups += 1
    macro: dict[str, float] = {}
    for source in ("all", *sources):
        rates = [sum(h[source]) / len(h[source]) for h in per_repo.values() if h.get(source)]
        macro[source] = sum(rates) / len(rates) if rates else math.nan
    return CrossValidation(k, seed, folds, whole, macro)


def run_cases(cases: Sequence[Case]) -> list[tuple[Case, CaseResult]]:
    """Extract and score each labeled tight-label case, the way :func:`bench.quality.evaluate` does."""
    from bench.quality import MAX_TOKENS, ci_healer_result
    from ci_healer.extract import extract

    out: list[tuple[Case, CaseResult]] = []
    for case in cases:
        if case.source not in TIGHT_SOURCES or not case.spans:
            continue
        try:
            result = extract(case.log, max_tokens=MAX_TOKENS)
        except Exception:
            result = None
        out.append((case, ci_healer_result(case, result)))
    return out


def _pct(x: float) -> str:
    return "n/a" if math.isnan(x) else f"{100 * x:.1f}%"


def rows(cv: CrossValidation, sources: tuple[str, ...] = TIGHT_SOURCES) -> tuple[list[str], list[list[str]]]:
    """Headers and rows of the fold table: one row per fold, then mean, min, whole, gap and macro."""
    headers = [
        "fold",
        "repositories",
        "cases",
        "hit rate",
        *[f"{s} hit rate" for s in sources],
        "median tokens",
    ]
    body: list[list[str]] = []
    for f in cv.folds:
        name = f"{f.fold}" + (" (held out)" if f.fold == HELD_OUT else "")
        body.append(
            [
                name,
                str(f.groups),
                str(f.pooled.cases),
                _pct(f.pooled.hit_rate),
                *[f"{_pct(f.by_source[s].hit_rate)} of {f.by_source[s].cases}" for s in sources],
                f"{f.pooled.stat('tokens', 50):.0f}",
            ]
        )
    body.append(
        ["mean over folds", "", "", _pct(cv.fold_mean()), *[_pct(cv.fold_mean(s)) for s in sources], ""]
    )
    body.append(["lowest fold", "", "", _pct(cv.fold_min()), *[_pct(cv.fold_min(s)) for s in sources], ""])
    body.append(
        [
            "whole corpus",
            str(sum(f.groups for f in cv.folds)),
            str(cv.whole["all"].cases),
            _pct(cv.whole["all"].hit_rate),
            *[_pct(cv.whole[s].hit_rate) for s in sources],
            f"{cv.median_tokens():.0f}",
        ]
    )
    body.append(
        [
            "gap whole - mean",
            "",
            "",
            f"{cv.gap():+.1f} points",
            *[f"{cv.gap(s):+.1f} points" for s in sources],
            "",
        ]
    )
    body.append(
        ["repository macro", "", "", _pct(cv.macro["all"]), *[_pct(cv.macro[s]) for s in sources], ""]
    )
    return headers, body


def text_table(headers: list[str], body: list[list[str]]) -> str:
    """A plain aligned text table."""
    widths = [max(len(r[i]) for r in [headers, *body]) for i in range(len(headers))]

    def line(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(r) for r in body)])


def main(argv: list[str] | None = None) -> int:
    """Print the fold table; 2 when the corpus cannot be read."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--corpus",
        type=Path,
        default=None,
        help="corpus folder (default: $CI_HEALER_CORPUS or ../shared/corpus)",
    )
    parser.add_argument("--k", type=int, default=K, help=f"folds (default {K})")
    parser.add_argument("--seed", type=int, default=SEED, help=f"shuffle seed (default {SEED})")
    parser.add_argument("--every", type=int, default=1, help="keep every n-th case of each source")
    parser.add_argument(
        "--misses", action="store_true", help=f"list missed cases outside the held-out fold {HELD_OUT}"
    )
    args = parser.parse_args(argv)
    try:
        cases = load_cases(args.corpus or default_corpus(), sources=TIGHT_SOURCES, every=args.every)
    except CorpusError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    outcomes = run_cases(cases)
    cv = cross_validate(outcomes, k=args.k, seed=args.seed)
    print(text_table(*rows(cv)))
    if args.misses:
        folds_of = assign_folds((c for c, _ in outcomes), k=args.k, seed=args.seed)
        print()
        for case, result in outcomes:
            fold = folds_of[group_of(case)]
            if not result.hit and fold != HELD_OUT:
                print(
                    f"miss fold {fold} {case.source}/{case.case_id} {case.repository or '-'} "
                    f"recall {result.score:.2f} tokens {result.tokens} labels {list(case.spans)}"
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
