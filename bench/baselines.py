"""What other tools send to a model instead of ci-healer's failure blocks, as line spans.

Every baseline takes the raw lines of one log (:func:`bench.corpus.split_lines`) and returns
1-indexed inclusive ``(start, end)`` spans in log order, or ``None`` when the technique does not
apply to the log (the failed-step slice on a log without GitHub Actions markers).

* ``tail-100`` / ``tail-500``: the last *n* lines — what most log-to-LLM tools and GitHub's own
  log view hand over.
* ``kws``: keyword search with +-3 lines of context, the LogChunks "KWS" technique (Brandt,
  Panichella, Zaidman, Beller: "How to Analyze Build Logs?", MSR 2020 / LogChunks). The
  keywords are :data:`KWS_KEYWORDS`: the generic words among the 25 keywords most often given
  by the LogChunks labelers (``error`` 161x, ``failed`` 92x, ``failure`` 50x, ``err!`` 42x,
  ``fail`` 37x, ``exited with 1`` 33x, ``rake aborted`` 12x, ``failing`` 12x, ``exception`` 7x,
  ``no such file or directory`` 7x, ``panicked`` 6x) plus ``fatal``; matched case-insensitively
  as substrings (``fail`` covers ``failed``/``failure``/``failing``).
* ``step-slice``: the failed step of a GitHub Actions job log: from the last
  ``##[group]Run ...`` line before the first ``##[error]`` line through that ``##[error]`` line
  (GitHub writes each step's header as ``##[group]Run <command>`` and a failing step's end as
  ``##[error]Process completed with exit code N.``, see GitHub Docs, "Workflow commands").
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from ci_healer.logread import clean_line
from ci_healer.tokens import estimate_tokens

Span = tuple[int, int]

KWS_KEYWORDS: tuple[str, ...] = (
    "error",
    "fail",
    "err!",
    "exception",
    "fatal",
    "panic",
    "abort",
    "exited with",
    "no such file",
)
KWS_CONTEXT = 3
_KWS = re.compile(b"|".join(re.escape(k.encode()) for k in KWS_KEYWORDS), re.IGNORECASE)

# A GitHub Actions log line: optional BOM, the runner's RFC 3339 timestamp, optional colour codes,
# then the workflow-command marker.
_GHA_PREFIX = rb"^(?:\xef\xbb\xbf)?(?:\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z ?)?(?:\x1b\[[0-9;]*m)*"
_GHA_GROUP_RUN = re.compile(_GHA_PREFIX + rb"##\[group\]Run ")
_GHA_ERROR = re.compile(_GHA_PREFIX + rb"##\[error\]")


def tail(lines: Sequence[bytes], n: int) -> list[Span]:
    """The last ``n`` lines (all of them when the log is shorter); ``[]`` for an empty log."""
    if n < 1:
        raise ValueError("n must be at least 1")
    total = len(lines)
    return [(max(1, total - n + 1), total)] if total else []


def keyword_search(
    lines: Sequence[bytes], *, context: int = KWS_CONTEXT, pattern: re.Pattern[bytes] = _KWS
) -> list[Span]:
    """Every line matching ``pattern`` with ``context`` lines either side, overlapping windows merged."""
    if context < 0:
        raise ValueError("context must be >= 0")
    total = len(lines)
    spans: list[Span] = []
    for i, line in enumerate(lines, 1):
        if pattern.search(line):
            lo, hi = max(1, i - context), min(total, i + context)
            if spans and lo <= spans[-1][1] + 1:
                spans[-1] = (spans[-1][0], max(spans[-1][1], hi))
            else:
                spans.append((lo, hi))
    return spans


def failed_step_slice(lines: Sequence[bytes]) -> list[Span] | None:
    """``[(group_line, error_line)]`` for a GitHub Actions log, ``None`` without a ``##[error]`` line.

    ``group_line`` is the last ``##[group]Run`` line before the first ``##[error]`` line, or line
    1 when there is none.
    """
    group = 1
    for i, line in enumerate(lines, 1):
        if b"##[" not in line:
            continue
        if _GHA_GROUP_RUN.match(line):
            group = i
        elif _GHA_ERROR.match(line):
            return [(group, i)]
    return None


BASELINES: dict[str, Callable[[Sequence[bytes]], list[Span] | None]] = {
    "tail-100": lambda lines: tail(lines, 100),
    "tail-500": lambda lines: tail(lines, 500),
    "kws": keyword_search,
    "step-slice": failed_step_slice,
}
"""Baseline name -> span selector, in the order of the report."""


def span_text(lines: Sequence[bytes], spans: Sequence[Span]) -> str:
    """The selected lines joined by ``\\n``, each cleaned like ci-healer cleans block lines.

    Cleaning (timestamps, ANSI codes, ``\\r`` frames removed, over-long lines shortened) is the
    same :func:`ci_healer.logread.clean_line` the extractor uses, so token ratios measure line
    selection only, not cleaning.
    """
    return "\n".join(clean_line(lines[n - 1]).text for lo, hi in spans for n in range(lo, hi + 1))


def span_cost(lines: Sequence[bytes], spans: Sequence[Span]) -> tuple[int, int, int]:
    """``(lines, utf-8 bytes, estimated tokens)`` of :func:`span_text` (spans must not overlap)."""
    text = span_text(lines, spans)
    return sum(hi - lo + 1 for lo, hi in spans), len(text.encode("utf-8")), estimate_tokens(text)
