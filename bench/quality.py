"""Extraction quality and classification on the labeled corpus, ci-healer and baselines side by side.

:func:`evaluate` runs :func:`ci_healer.extract.extract` (``max_tokens`` = 1500) and every baseline of
:mod:`bench.baselines` on the same raw log of each case, scores them with :mod:`bench.metrics` and
aggregates per report group; BugSwarm cases are classified with :func:`ci_healer.classify.classify`.
"""

from __future__ import annotations

import time
import traceback
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from bench.baselines import BASELINES, span_cost, span_text
from bench.corpus import (
    CLASSIFY_SOURCE,
    COARSE_SOURCES,
    TIGHT_SOURCES,
    Case,
    split_lines,
)
from bench.metrics import CaseResult, Summary, coverage, step_overlap
from ci_healer.classify import classify
from ci_healer.extract import extract
from ci_healer.models import Category, Extraction

MAX_TOKENS = 1500
CI_HEALER = "ci-healer"
METHODS = (CI_HEALER, *BASELINES)

GITHUB_TIGHT = "cidiff (GitHub Actions)"
"""Report group: the CiDiff cases from GitHub Actions, the tight-label GitHub Actions logs."""
GROUP_ORDER = ("logchunks", "cidiff", GITHUB_TIGHT, "logsage")

# Mapping of the BugSwarm dissection's manual categories onto ci-healer's Category, as stated in
# the docstring of ci_healer.classify (tests/test_bench.py checks that both still agree).
BUGSWARM_MAPPING: dict[str, Category] = {
    "Test": Category.TEST,
    "Compilation": Category.COMPILE,
    "Checkstyle": Category.LINT,
    "License": Category.LINT,
    "Documentation": Category.LINT,
    "Compare version": Category.LINT,
    "Missing library": Category.DEPENDENCY,
    "Unable to clone": Category.INFRASTRUCTURE,
    "Execution": Category.CONFIGURATION,
}

Encoder = Callable[[str], int]


def groups_of(case: Case) -> list[str]:
    """Report groups a case counts in: its source, plus :data:`GITHUB_TIGHT` for GitHub CiDiff cases."""
    groups = [case.source]
    if case.source == "cidiff" and case.ci_system == "github-actions":
        groups.append(GITHUB_TIGHT)
    return groups


def score(case: Case, spans: Sequence[tuple[int, int]]) -> tuple[bool, float]:
    """Hit and recall (tight sources) or hit and share inside the step (coarse sources)."""
    if case.source in COARSE_SOURCES:
        return step_overlap(spans, case.spans)
    return coverage(spans, case.spans)


@dataclass
class Classified:
    """Confusion counts of manual (mapped) category vs ``classify`` category."""

    pairs: Counter = field(default_factory=Counter)  # (manual label, predicted category) -> count
    unmapped: Counter = field(default_factory=Counter)

    @property
    def total(self) -> int:
        """Cases with a mapped label."""
        return sum(self.pairs.values())

    @property
    def correct(self) -> int:
        """Cases whose predicted category equals the mapped label."""
        return sum(n for (label, pred), n in self.pairs.items() if BUGSWARM_MAPPING[label] == pred)


@dataclass
class Quality:
    """Everything :func:`evaluate` measured."""

    summaries: dict[str, dict[str, Summary]]  # group -> method -> summary
    classified: Classified
    crashes: list[str]
    extract_seconds: float
    extract_bytes: int
    cases: int
    outcomes: list[tuple[Case, CaseResult]] = field(default_factory=list)
    """ci-healer's result on each scored case (tight and coarse sources), in case order: what
    :mod:`bench.cv` folds by repository without extracting again."""


def ci_healer_result(case: Case, result: Extraction | None, encoder: Encoder | None = None) -> CaseResult:
    """Score one :func:`ci_healer.extract.extract` result on a labeled case (``None``: it raised).

    Hit and recall (tight) or share in step (coarse) by :func:`score`; cost = lines covered by the
    blocks' spans, UTF-8 bytes of their texts, the extraction's estimated tokens and, with
    ``encoder``, the real token count of the texts joined by newlines. A crash is a miss at zero cost.
    """
    if result is None:
        return CaseResult(False, 0.0, 0, 0, 0, 0 if encoder else None)
    spans = [(b.start_line, b.end_line) for b in result.blocks]
    hit, value = score(case, spans)
    text = "\n".join(b.text for b in result.blocks)
    return CaseResult(
        hit,
        value,
        len({i for lo, hi in spans for i in range(lo, hi + 1)}),
        sum(len(b.text.encode("utf-8")) for b in result.blocks),
        result.tokens,
        encoder(text) if encoder else None,
    )


def evaluate(
    cases: Sequence[Case], *, encoder: Encoder | None = None, progress: Callable[[str], None] | None = None
) -> Quality:
    """Run ci-healer and the baselines on ``cases``.

    ``encoder`` (optional) returns a real tokenizer's count for a text; ``progress`` receives a
    line every 100 cases. An exception inside ``extract`` is recorded in ``crashes``
    (``"source/case_id: Error: message"``) and the case counts as a miss with zero cost.
    """
    summaries: dict[str, dict[str, Summary]] = {g: {m: Summary() for m in METHODS} for g in GROUP_ORDER}
    outcomes: list[tuple[Case, CaseResult]] = []
    classified = Classified()
    crashes: list[str] = []
    seconds = 0.0
    size = 0
    for n, case in enumerate(cases, 1):
        if progress and n % 100 == 0:
            progress(f"  {n}/{len(cases)} cases")
        data = case.log.read_bytes()
        started = time.perf_counter()
        try:
            result = extract(case.log, max_tokens=MAX_TOKENS)
        except Exception as exc:
            crashes.append(f"{case.source}/{case.case_id}: {type(exc).__name__}: {exc}")
            traceback.print_exc()
            result = None
        seconds += time.perf_counter() - started
        size += len(data)
        if case.source == CLASSIFY_SOURCE:
            label = case.category or ""
            if label in BUGSWARM_MAPPING:
                predicted = classify(result.blocks).category if result is not None else Category.UNKNOWN
                classified.pairs[(label, predicted)] += 1
            else:
                classified.unmapped[label] += 1
            continue
        if not case.spans or not any(g in summaries for g in groups_of(case)):
            continue
        lines = split_lines(data)
        per_method: dict[str, CaseResult | None] = {CI_HEALER: ci_healer_result(case, result, encoder)}
        outcomes.append((case, per_method[CI_HEALER]))
        for name, select in BASELINES.items():
            spans = select(lines)
            if spans is None:
                per_method[name] = None
                continue
            hit, value = score(case, spans)
            n_lines, n_bytes, n_tokens = span_cost(lines, spans)
            per_method[name] = CaseResult(
                hit, value, n_lines, n_bytes, n_tokens, encoder(span_text(lines, spans)) if encoder else None
            )
        for group in groups_of(case):
            if group in summaries:
                for name, res in per_method.items():
                    summaries[group][name].add(res)
    summaries = {g: s for g, s in summaries.items() if s[CI_HEALER].cases}
    return Quality(summaries, classified, crashes, seconds, size, len(cases), outcomes)


def tight_groups() -> tuple[str, ...]:
    """The tight-label report groups that the targets and floors are checked on."""
    return TIGHT_SOURCES


@dataclass
class LabelCeiling:
    """How many tight labels cannot fit the token budget even when ci-healer shows exactly them.

    ``over`` lists ``(case_id, tokens)`` of the labels whose own lines, cleaned and folded the way
    :func:`ci_healer.extract.render_lines` folds a block, cost more than ``max_tokens``: no extractor
    that keeps the budget and shows what its spans claim can cover them. ``ceiling`` is the hit
    rate such a perfect extractor would reach.
    """

    source: str
    cases: int
    over: list[tuple[str, int]]

    @property
    def ceiling(self) -> float:
        """Best reachable hit rate (0..1) inside the budget."""
        return (self.cases - len(self.over)) / self.cases if self.cases else 0.0


def label_ceiling(cases: Sequence[Case], *, source: str, max_tokens: int) -> LabelCeiling:
    """:class:`LabelCeiling` of the cases of ``source`` (each labeled span rendered as one block)."""
    from ci_healer.extract import render_lines
    from ci_healer.logread import clean_line
    from ci_healer.tokens import estimate_tokens

    chosen = [c for c in cases if c.source == source and c.spans]
    over: list[tuple[str, int]] = []
    for case in chosen:
        raw = split_lines(case.log.read_bytes())
        seen: dict[str, int] = {}
        tokens = 0
        for start, end in case.spans:
            lines = [clean_line(line).text for line in raw[start - 1 : end]]
            tokens += estimate_tokens(render_lines(start, lines, seen))
        if tokens > max_tokens:
            over.append((case.case_id, tokens))
    return LabelCeiling(source=source, cases=len(chosen), over=sorted(over, key=lambda item: item[1]))
