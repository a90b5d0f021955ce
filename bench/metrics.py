"""Per-case metrics of a set of extracted line spans, and their aggregation per source and method.

Spans are 1-indexed inclusive ``(start, end)`` line ranges (the corpus convention).

* Tight labels (LogChunks, CiDiff): a case is a **hit** when the union of extracted spans covers
  every labeled line; **recall** is the covered share of labeled lines.
* Coarse labels (LogSage, the whole failed step): a case is a **hit** when some extracted span
  overlaps the labeled step; **share inside** is the share of extracted lines that lie in it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

Span = tuple[int, int]


def _lines(spans: Iterable[Span]) -> set[int]:
    return {n for lo, hi in spans for n in range(lo, hi + 1)}


def coverage(extracted: Sequence[Span], labeled: Sequence[Span]) -> tuple[bool, float]:
    """``(hit, recall)`` of tight labels: all labeled lines covered, and the covered share.

    Raises ``ValueError`` when ``labeled`` is empty (a case without labels cannot be scored).
    """
    wanted = _lines(labeled)
    if not wanted:
        raise ValueError("no labeled lines")
    got = wanted & _lines(extracted)
    return got == wanted, len(got) / len(wanted)


def step_overlap(extracted: Sequence[Span], step: Sequence[Span]) -> tuple[bool, float]:
    """``(hit, share inside)`` of coarse labels: some span overlaps the step; share of extracted lines in it.

    The share is 0.0 when nothing was extracted. Raises ``ValueError`` when ``step`` is empty.
    """
    inside = _lines(step)
    if not inside:
        raise ValueError("no labeled step")
    got = _lines(extracted)
    hit = any(lo <= s_hi and hi >= s_lo for lo, hi in extracted for s_lo, s_hi in step)
    return hit, (len(got & inside) / len(got)) if got else 0.0


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100) of ``values``; NaN for no values.

    The nearest-rank definition returns an observed value: ``sorted[ceil(q/100 * n) - 1]``.
    """
    if not 0 <= q <= 100:
        raise ValueError("q must be within 0..100")
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def median(values: Sequence[float]) -> float:
    """The ordinary median (mean of the two middle values for an even count); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    mid = len(ordered) // 2
    return float(ordered[mid]) if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


@dataclass
class CaseResult:
    """One method on one case: hit, recall (tight) or share inside (coarse), and its cost."""

    hit: bool
    score: float
    lines: int
    bytes: int
    tokens: int
    real_tokens: int | None = None


@dataclass
class Summary:
    """Aggregate of :class:`CaseResult` over the cases of one (group, method)."""

    cases: int = 0
    hits: int = 0
    score_sum: float = 0.0
    lines: list[int] = field(default_factory=list)
    bytes: list[int] = field(default_factory=list)
    tokens: list[int] = field(default_factory=list)
    real_tokens: list[int] = field(default_factory=list)
    not_applicable: int = 0

    def add(self, result: CaseResult | None) -> None:
        """Count one case; ``None`` = the method does not apply to this log (counted apart)."""
        if result is None:
            self.not_applicable += 1
            return
        self.cases += 1
        self.hits += result.hit
        self.score_sum += result.score
        self.lines.append(result.lines)
        self.bytes.append(result.bytes)
        self.tokens.append(result.tokens)
        if result.real_tokens is not None:
            self.real_tokens.append(result.real_tokens)

    @property
    def hit_rate(self) -> float:
        """Hits / cases (NaN without cases)."""
        return self.hits / self.cases if self.cases else math.nan

    @property
    def mean_score(self) -> float:
        """Mean recall (tight) or mean share inside (coarse); NaN without cases."""
        return self.score_sum / self.cases if self.cases else math.nan

    def stat(self, name: str, q: float) -> float:
        """Median (``q`` = 50) or nearest-rank percentile of ``lines``/``bytes``/``tokens``/``real_tokens``."""
        values = getattr(self, name)
        return median(values) if q == 50 else percentile(values, q)
