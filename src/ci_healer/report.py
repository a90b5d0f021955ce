"""``ci-healer report``: the figures of a period, computed from the outcome ledger
(:mod:`ci_healer.ledger`).

A proposal belongs to the period when it was proposed in ``[since, until]``. Figures:

* ``proposals`` — every analysis ci-healer posted; ``approvable`` — those with a patch to approve;
* ``approval_rate`` — approved / approvable (``None`` when nothing was approvable);
* ``green_rate`` — applied fixes whose CI passed on the fix branch / applied fixes;
* ``merge_rate`` — merged fix PRs / applied fixes;
* ``median_seconds_to_green`` — median of (verified green − failure) over green fixes, seconds;
  the failure time is when the failed workflow run completed (the proposal time when unknown);
* ``tokens`` — per backend: summed prompt and completion tokens of the proposals whose metadata
  records them, ``estimated`` when any of them was an estimate, and how many had no usage.
"""

from __future__ import annotations

import csv
import io
import re
import statistics
import sys
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

from pydantic import BaseModel

from ci_healer.ledger import ProposalRecord
from ci_healer.render import inline_code
from ci_healer.templating import markdown_env

_SINCE = re.compile(r"^(\d{1,4})([hdw])$")
_UNITS = {"h": "hours", "d": "days", "w": "weeks"}


def parse_since(text: str, now: datetime) -> datetime:
    """``30d`` / ``12h`` / ``2w`` (before ``now``) or an ISO date/time (UTC when no zone is given).

    Raises ``ValueError`` naming the accepted shapes."""
    text = text.strip()
    match = _SINCE.match(text)
    if match:
        return now - timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"--since must look like 30d, 12h, 2w or 2025-01-31, not {text!r}") from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class BackendTokens(BaseModel):
    """Token use of one backend in the period."""

    backend: str
    proposals: int
    prompt_tokens: int
    completion_tokens: int
    estimated: bool
    without_usage: int


class Report(BaseModel):
    """The figures of one period (rates are fractions 0–1, ``None`` when their base is 0)."""

    repository: str
    since: datetime
    until: datetime
    proposals: int
    approvable: int
    approved: int
    rejected: int
    superseded: int
    approval_rate: float | None
    applied: int
    verified_green: int
    verified_red: int
    green_rate: float | None
    merged: int
    merge_rate: float | None
    median_seconds_to_green: float | None
    tokens: list[BackendTokens]


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def build_report(
    records: Iterable[ProposalRecord], *, repository: str, since: datetime, until: datetime
) -> Report:
    """The :class:`Report` of the ``records`` proposed between ``since`` and ``until`` (inclusive).
    A record without a proposal time is left out (it cannot be placed in a period)."""
    chosen = [r for r in records if r.proposed_at is not None and since <= r.proposed_at <= until]
    approvable = [r for r in chosen if r.approvable]
    approved = [r for r in approvable if r.approved]
    applied = [r for r in chosen if r.fix_pr_number is not None or r.applied_at is not None]
    green = [r for r in applied if r.verified_at is not None]
    red = [r for r in applied if r.verified_at is None and r.verify_failed_at is not None]
    merged = [r for r in applied if r.merged_at is not None]
    waits = [
        (verified - start).total_seconds()
        for r in green
        if (verified := r.verified_at) is not None and (start := r.failure_at or r.proposed_at) is not None
    ]
    tokens: dict[str, dict[str, Any]] = {}
    for r in chosen:
        t = tokens.setdefault(
            r.backend or "unknown",
            {
                "proposals": 0,
                "prompt_tokens": 0,
                "completion_tokens": 0,
                "estimated": False,
                "without_usage": 0,
            },
        )
        t["proposals"] += 1
        if r.prompt_tokens is None and r.completion_tokens is None:
            t["without_usage"] += 1
            continue
        t["prompt_tokens"] += r.prompt_tokens or 0
        t["completion_tokens"] += r.completion_tokens or 0
        t["estimated"] = t["estimated"] or r.tokens_estimated
    return Report(
        repository=repository,
        since=since,
        until=until,
        proposals=len(chosen),
        approvable=len(approvable),
        approved=len(approved),
        rejected=sum(1 for r in chosen if r.rejected_at is not None),
        superseded=sum(1 for r in chosen if r.outcome == "superseded"),
        approval_rate=_rate(len(approved), len(approvable)),
        applied=len(applied),
        verified_green=len(green),
        verified_red=len(red),
        green_rate=_rate(len(green), len(applied)),
        merged=len(merged),
        merge_rate=_rate(len(merged), len(applied)),
        median_seconds_to_green=statistics.median(waits) if waits else None,
        tokens=[BackendTokens(backend=name, **values) for name, values in sorted(tokens.items())],
    )


def format_percent(value: float | None) -> str:
    """A rate (0–1) as ``"60 %"``, ``"n/a"`` for ``None`` (report and dashboard)."""
    return "n/a" if value is None else f"{value * 100:.0f} %"


def format_duration(seconds: float | None) -> str:
    """Seconds as ``"2 d 3 h 5 min"`` (seconds only below a minute), ``"n/a"`` for ``None``."""
    if seconds is None:
        return "n/a"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    parts = [f"{days} d"] * bool(days) + [f"{hours} h"] * bool(hours) + [f"{minutes} min"] * bool(minutes)
    return " ".join(parts) if parts else f"{secs} s"


def _stamp(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M")


def render_markdown(report: Report) -> str:
    """The report as markdown (``templates/report.md.j2``)."""
    return (
        markdown_env()
        .get_template("report.md.j2")
        .render(
            r=report,
            repository=inline_code(report.repository),
            since=_stamp(report.since),
            until=_stamp(report.until),
            pct=format_percent,
            duration=format_duration,
            code=inline_code,
        )
        .strip("\n")
        + "\n"
    )


def render_json(report: Report) -> str:
    """The report as one JSON object (the :class:`Report` fields; times in ISO 8601)."""
    return report.model_dump_json(indent=2) + "\n"


def render_csv(report: Report) -> str:
    """The report as CSV with the header ``figure,backend,value``: one row per figure (empty
    backend; rates as fractions, empty when undefined), then ``proposals``, ``prompt_tokens``,
    ``completion_tokens``, ``tokens_estimated`` and ``without_usage`` rows per backend."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["figure", "backend", "value"])
    data = report.model_dump(mode="json", exclude={"tokens"})
    for name, value in data.items():
        writer.writerow([name, "", "" if value is None else value])
    for t in report.tokens:
        for name in ("proposals", "prompt_tokens", "completion_tokens", "estimated", "without_usage"):
            label = (
                "tokens_estimated"
                if name == "estimated"
                else f"backend_{name}"
                if name == "proposals"
                else name
            )
            value = getattr(t, name)
            writer.writerow([label, t.backend, str(value).lower() if isinstance(value, bool) else value])
    return out.getvalue()


RENDERERS: dict[str, Callable[[Report], str]] = {
    "markdown": render_markdown,
    "json": render_json,
    "csv": render_csv,
}


def progress_bar(stream: TextIO | None = None) -> tuple[Callable[[int, int], None], Callable[[], None]]:
    """``(update(done, total), close())`` of a :mod:`rich` progress bar on ``stream`` (default
    stderr); both do nothing when the stream is not a terminal or rich is not installed."""
    stream = stream or sys.stderr
    try:
        if not stream.isatty():
            raise ImportError
        from rich.console import Console
        from rich.progress import Progress
    except (ImportError, AttributeError, ValueError):
        return (lambda done, total: None), (lambda: None)
    progress = Progress(console=Console(file=stream), transient=True)
    progress.start()
    task = progress.add_task("reading pull requests", total=None)

    def update(done: int, total: int) -> None:
        progress.update(task, completed=done, total=total)

    return update, progress.stop
