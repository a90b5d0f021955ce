"""The labeled corpus of failed CI job logs: cases, their labels and raw lines.

Layout and line convention are those of the corpus' own README: ``INDEX.jsonl`` lists one case per
row; ``<source>/<case_id>/log.txt`` is the raw log and ``label.json`` its labels. Line numbers are
1-indexed and inclusive over ``log.txt`` split on ``\\n`` only (a bare ``\\r`` does not start a
line; a trailing ``\\n`` does not add an empty last line), the same convention as
:mod:`ci_healer.logread`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
TIGHT_SOURCES = ("logchunks", "cidiff")
"""Sources whose labels are the failure lines themselves (LogChunks, CiDiff)."""
COARSE_SOURCES = ("logsage",)
"""Sources whose label is the whole failed step (LogSage): usable for recall only."""
CLASSIFY_SOURCE = "bugswarm_dissection"
"""Source with a manual failure category per case (BugSwarm dissection)."""

Span = tuple[int, int]


class CorpusError(ValueError):
    """The corpus folder is missing or malformed; the message names the file."""


def default_corpus() -> Path:
    """``$CI_HEALER_CORPUS`` when set, else ``<repository>/../shared/corpus``."""
    return Path(os.environ.get("CI_HEALER_CORPUS") or REPO_ROOT.parent / "shared" / "corpus")


@dataclass(frozen=True)
class Case:
    """One labeled log: ``spans`` are the labeled ``[start, end]`` line spans (may be empty)."""

    source: str
    case_id: str
    ci_system: str
    path: Path
    log_bytes: int
    spans: tuple[Span, ...] = ()
    category: str | None = None
    label: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def log(self) -> Path:
        """Path of the raw ``log.txt``."""
        return self.path / "log.txt"

    @property
    def repository(self) -> str | None:
        """``owner/name`` of the repository the log comes from (``label.json``), ``None`` when unknown."""
        return self.label.get("repository") or None


def label_spans(label: dict) -> tuple[Span, ...]:
    """Labeled spans of a ``label.json``: ``failure_blocks`` when present, else ``failure_lines``.

    Raises :class:`CorpusError` when a span is not two integers with ``1 <= start <= end``.
    """
    raw = label.get("failure_blocks") or ([label["failure_lines"]] if label.get("failure_lines") else [])
    spans: list[Span] = []
    for item in raw:
        try:
            start, end = (int(v) for v in item)
        except (TypeError, ValueError) as exc:
            raise CorpusError(f"bad span {item!r} in label of {label.get('case_id')}") from exc
        if not 1 <= start <= end:
            raise CorpusError(f"bad span {item!r} in label of {label.get('case_id')}")
        spans.append((start, end))
    return tuple(spans)


def load_cases(corpus: Path, *, sources: tuple[str, ...] | None = None, every: int = 1) -> list[Case]:
    """Cases of ``corpus/INDEX.jsonl``, sorted by (source, case_id).

    ``sources`` keeps only those sources; ``every`` > 1 keeps every n-th case of each source
    (a deterministic sample: the 1st, (n+1)th, ... in case_id order). Raises
    :class:`CorpusError` when the index or a label is missing or not JSON.
    """
    index = corpus / "INDEX.jsonl"
    if not index.is_file():
        raise CorpusError(f"no corpus index at {index}")
    rows: list[dict] = []
    try:
        for line in index.read_text(encoding="utf-8").splitlines():
            if line.strip():
                rows.append(json.loads(line))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CorpusError(f"unreadable corpus index {index}: {exc}") from exc
    rows = [r for r in rows if sources is None or r.get("source") in sources]
    rows.sort(key=lambda r: (r["source"], r["case_id"]))
    cases: list[Case] = []
    seen: dict[str, int] = {}
    for row in rows:
        n = seen.get(row["source"], 0)
        seen[row["source"]] = n + 1
        if n % max(1, every):
            continue
        folder = corpus / row["path"]
        try:
            label = json.loads((folder / "label.json").read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise CorpusError(f"unreadable label {folder / 'label.json'}: {exc}") from exc
        cases.append(
            Case(
                row["source"],
                row["case_id"],
                row.get("ci_system") or label.get("ci_system", ""),
                folder,
                int(row.get("log_bytes") or 0),
                label_spans(label),
                label.get("category"),
                label,
            )
        )
    return cases


def split_lines(data: bytes) -> list[bytes]:
    """Raw lines of a log, split on ``\\n`` only; a trailing ``\\n`` adds no empty last line."""
    if not data:
        return []
    lines = data.split(b"\n")
    if data.endswith(b"\n"):
        lines.pop()
    return lines
