"""Wall times and API-call counts of the end-to-end scenarios, written for the benchmark.

Clock sources, all on the host: the Docker daemon's container events (``docker events``, ``timeNano``)
give when the action's container started and died; :class:`scenario_world.TimedFakeGitHub` stamps
every answered request with ``time.time()``; act's own timer gives the step's duration (the
``[2.95s]`` at the end of its ``stepResult`` message; act's record ``time`` fields have whole seconds
only). "Wall time inside the container from start to the posted comment" is the comment POST's
answer time minus the container's ``start`` event.

Output: ``<state root>/e2e-figures.json`` (``$CI_HEALER_E2E_DIR`` or ``<repo>/.e2e``, git-ignored)::

    {"version": 1, "generated_at": "<ISO 8601 UTC>", "act_version": "...",
     "scenarios": {"<name>": {"act_seconds": 3.4, "step_seconds": 3.0, "container_seconds": 1.9,
                              "start_to_first_call_seconds": 0.5, "start_to_comment_seconds": 1.7 | null,
                              "api_calls": 17, "api_writes": 2, "outcome": "passed" | "ran"}},
     "analysis": {"api_calls": 17, "api_writes": 2, "start_to_comment_seconds": 1.7}}
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

_GO_DURATION = re.compile(r"\[((?:\d+h)?(?:\d+m(?!s))?(?:[\d.]+(?:ms|µs|us|ns|s))?)\]\s*$")
_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}


def parse_go_duration(text: str) -> float:
    """Seconds of a Go ``time.Duration`` string as act prints it (``555.8ms``, ``2.95s``,
    ``1m2.5s``). Raises ``ValueError`` when ``text`` is not one."""
    parts = re.findall(r"([\d.]+)(h|ms|µs|us|ns|m|s)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"not a Go duration: {text!r}")
    return sum(float(n) * _UNITS[u] for n, u in parts)


def step_duration(records: list[dict[str, Any]], step_id: str, stage: str = "Main") -> float | None:
    """Seconds act measured for step ``step_id`` at ``stage``: the ``[<duration>]`` at the end of
    its ``stepResult`` record's message (act's own timer, sub-millisecond), or ``None``."""
    for record in records:
        ids = record.get("stepID") or record.get("stepid") or []
        sid = str(ids[0]) if isinstance(ids, list) and ids else ""
        if sid == step_id and record.get("stage") == stage and "stepResult" in record:
            match = _GO_DURATION.search(str(record.get("msg", "")).rstrip())
            if match:
                try:
                    return parse_go_duration(match.group(1))
                except ValueError:
                    return None
    return None


def container_windows(events: list[dict[str, Any]], image: str) -> list[tuple[float, float | None]]:
    """``(start, die)`` unix seconds of each container of ``image``, from ``docker events
    --format '{{json .}}'`` objects (``Type`` container, ``Action`` start/die, ``timeNano``), in
    start order; ``die`` is ``None`` while the container runs."""
    starts: dict[str, float] = {}
    dies: dict[str, float] = {}
    for event in events:
        if event.get("Type") != "container":
            continue
        actor = event.get("Actor") or {}
        if (actor.get("Attributes") or {}).get("image", event.get("from")) != image:
            continue
        at = int(event.get("timeNano") or 0) / 1e9 or float(event.get("time") or 0)
        cid = str(actor.get("ID") or event.get("id") or "")
        if event.get("Action") == "start":
            starts.setdefault(cid, at)
        elif event.get("Action") == "die":
            dies[cid] = at
    return sorted((start, dies.get(cid)) for cid, start in starts.items())


@dataclass
class ScenarioFigures:
    """Figures of one scenario's act run (seconds are host wall time).

    ``act_seconds``: the whole act process; ``step_seconds``: act's timer for the ci-healer step
    (container create, start, run, removal); ``container_seconds``: the action container's
    ``start`` to ``die`` events; ``start_to_first_call_seconds``: container ``start`` to the first API request
    answered (interpreter start-up and imports); ``start_to_comment_seconds``: container ``start`` to the first
    comment the action wrote (the proposal comment posted or edited, or a reply);
    ``api_calls``/``api_writes``: requests (all / non-GET) the fake answered during the run.
    """

    act_seconds: float
    step_seconds: float | None
    container_seconds: float | None
    start_to_first_call_seconds: float | None
    start_to_comment_seconds: float | None
    api_calls: int
    api_writes: int
    outcome: str = "passed"


class FigureBook:
    """Collects :class:`ScenarioFigures` by scenario name and writes them as JSON."""

    def __init__(self) -> None:
        self.scenarios: dict[str, ScenarioFigures] = {}
        self.act_version = ""

    def add(self, name: str, figures: ScenarioFigures) -> None:
        """Record (or replace) the figures of scenario ``name``."""
        self.scenarios[name] = figures

    def document(self) -> dict[str, Any]:
        """The JSON document described in the module docstring."""
        doc: dict[str, Any] = {
            "version": 1,
            "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "act_version": self.act_version,
            "scenarios": {name: asdict(f) for name, f in self.scenarios.items()},
        }
        first = self.scenarios.get("1-failure")
        if first is not None:
            doc["analysis"] = {
                "api_calls": first.api_calls,
                "api_writes": first.api_writes,
                "start_to_first_call_seconds": first.start_to_first_call_seconds,
                "start_to_comment_seconds": first.start_to_comment_seconds,
            }
        return doc

    def write(self, path: Path) -> Path:
        """Write :meth:`document` to ``path`` atomically (temp file + rename); returns ``path``."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(self.document(), indent=2) + "\n", encoding="utf-8")
        tmp.replace(path)
        return path

    def lines(self) -> list[str]:
        """One human-readable line per scenario."""
        out = []
        for name, f in self.scenarios.items():
            step = f"{f.step_seconds:.2f}s" if f.step_seconds is not None else "n/a"
            box = f", container {f.container_seconds:.2f}s" if f.container_seconds is not None else ""
            comment = (
                f", container start->first call {f.start_to_first_call_seconds:.2f}s"
                if f.start_to_first_call_seconds is not None
                else ""
            )
            if f.start_to_comment_seconds is not None:
                comment += f", container start->comment {f.start_to_comment_seconds:.2f}s"
            out.append(
                f"e2e {name}: act {f.act_seconds:.2f}s, action step {step}{box}{comment}, "
                f"{f.api_calls} API calls ({f.api_writes} writes) [{f.outcome}]"
            )
        return out
