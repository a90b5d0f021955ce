"""Benchmark ci-healer's failure-block extraction, classification, speed and overhead in one run.

Usage::

    python bench/run.py [--corpus DIR] [--quick] [--out BENCHMARKS.md] [--image TAG]

Prints one table and writes the report (default ``BENCHMARKS.md`` at the repository root; with
``--quick`` nothing is written unless ``--out`` is given). ``--quick`` measures a deterministic
sample (every 5th case of each source, the 10 MB synthetic log only, no container) and exits 1
when a floor is broken: hit rate >= 90% at a median <= 1,500 estimated tokens on every
tight-label source, and no crash. ``bench/README.md`` explains every figure.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import math
import os
import platform
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):  # run as ``python bench/run.py``
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import jinja2

from bench import cv as cv_mod
from bench import greendiff as greendiff_mod
from bench import localization as localization_mod
from bench import overhead as overhead_mod
from bench import scale, tokenizer
from bench.baselines import KWS_CONTEXT, KWS_KEYWORDS
from bench.corpus import (
    REPO_ROOT,
    TIGHT_SOURCES,
    CorpusError,
    default_corpus,
    load_cases,
)
from bench.quality import (
    BUGSWARM_MAPPING,
    CI_HEALER,
    GITHUB_TIGHT,
    GROUP_ORDER,
    MAX_TOKENS,
    METHODS,
    Quality,
    evaluate,
    label_ceiling,
)
from ci_healer.models import Category

MB = scale.MB
FULL_SIZES = (10 * MB, 100 * MB, 1000 * MB)
QUICK_SIZES = (10 * MB,)
QUICK_EVERY = 5

# Targets (PASS/MISS) of the full run, and the floors --quick enforces.
TARGET_HIT = 0.97
TARGET_STEP_RATIO = 5.0
TARGET_GREP_SLOWDOWN = 3.0
TARGET_RSS = 100 * 1024 * 1024
TARGET_IMAGE = 250 * MB
TARGET_OVERHEAD = 3.0
FLOOR_HIT = 0.90


@dataclass
class Check:
    """One target or floor: what, the goal, the measured figure, PASS/MISS/NOT MEASURED and by how much."""

    name: str
    goal: str
    measured: str
    status: str
    shortfall: str = ""


def keep_model_section(text: str, out: Path) -> str:
    """``text`` with the model-evaluation section that ``out`` already holds (written by
    ``bench/models.py --markdown``, which takes minutes to hours per model) carried over."""
    from bench import models as models_mod

    old = out.read_text(encoding="utf-8") if out.is_file() else ""
    begin, end = models_mod.SECTION_BEGIN, models_mod.SECTION_END
    if begin not in old or end not in old or begin in text:
        return text
    heading = models_mod.SECTION_HEADING
    first = (
        old.index(heading) if heading in old and old.index(heading) < old.index(begin) else old.index(begin)
    )
    section = old[first : old.index(end) + len(end)]
    if not section.startswith(heading):
        section = f"{heading}\n\n{section}"
    return text.rstrip("\n") + "\n\n" + section + "\n"


def model_bench_floor(log) -> Check:
    """Floor of the model-evaluation bench (bench/models.py, rules backend, offline): every case of
    bench/cases/cases.json builds its tree, the developer's fix applies to it, and every diff the
    rules backend proposes there applies (``git apply --check``)."""
    from bench import models as models_mod

    log("model-evaluation cases: rules backend")
    began = time.perf_counter()
    held, line = models_mod.quick_floor()
    return Check(
        "model bench (rules)",
        ">= 20 cases; every tree built, real fix and rules diffs apply",
        f"{line}; {time.perf_counter() - began:.0f} s",
        "PASS" if held else "MISS",
    )


# --------------------------------------------------------------------------------------------
# formatting


def pct(x: float) -> str:
    """``0.9731`` -> ``97.3%``; ``-`` for NaN."""
    return "-" if x is None or math.isnan(x) else f"{100 * x:.1f}%"


def num(x: float | None) -> str:
    """Thousands-separated integer, or ``-``."""
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:,.0f}"


def ratio(a: float, b: float) -> str:
    """``a / b`` as ``12.3x``; ``-`` when undefined."""
    if a is None or b is None or math.isnan(a) or math.isnan(b) or b == 0:
        return "-"
    return f"{a / b:.2f}x" if a / b < 10 else f"{a / b:.1f}x"


def text_table(headers: list[str], rows: list[list[str]]) -> str:
    """A plain-text table with right-aligned columns after the first two."""
    widths = [max(len(str(c)) for c in col) for col in zip(headers, *rows, strict=True)]

    def line(cells: list[str]) -> str:
        return "  ".join(
            str(c).ljust(w) if i < 2 else str(c).rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    return "\n".join([line(headers), line(["-" * w for w in widths]), *map(line, rows)])


# --------------------------------------------------------------------------------------------
# tables


QUALITY_HEADERS = [
    "group",
    "method",
    "cases",
    "hit rate",
    "recall / share in step",
    "median lines",
    "p95 lines",
    "median tokens",
    "p95 tokens",
    "median bytes",
    "p95 bytes",
    "tokens vs ci-healer",
    "hit rate vs ci-healer",
]


def quality_rows(quality: Quality, *, real_tokens: bool) -> list[list[str]]:
    """One row per (group, method) of the main table."""
    rows = []
    for group in GROUP_ORDER:
        methods = quality.summaries.get(group)
        if not methods:
            continue
        ours = methods[CI_HEALER]
        for name in METHODS:
            s = methods[name]
            if not s.cases:
                rows.append(
                    [group, name, f"0 (n/a on {s.not_applicable})", *["-"] * (len(QUALITY_HEADERS) - 3)]
                )
                continue
            cells = [
                group,
                name,
                f"{s.cases}" + (f" ({s.not_applicable} n/a)" if s.not_applicable else ""),
                pct(s.hit_rate),
                pct(s.mean_score),
                num(s.stat("lines", 50)),
                num(s.stat("lines", 95)),
                num(s.stat("tokens", 50)),
                num(s.stat("tokens", 95)),
                num(s.stat("bytes", 50)),
                num(s.stat("bytes", 95)),
                "1x" if name == CI_HEALER else ratio(s.stat("tokens", 50), ours.stat("tokens", 50)),
                "1x" if name == CI_HEALER else ratio(s.hit_rate, ours.hit_rate),
            ]
            if real_tokens:
                cells.insert(9, num(s.stat("real_tokens", 50)))
            rows.append(cells)
    return rows


def confusion(quality: Quality) -> tuple[list[str], list[list[str]]]:
    """Confusion table: one row per manual BugSwarm category, one column per predicted Category."""
    pairs = quality.classified.pairs
    predicted = [c for c in Category if any(p == c for _, p in pairs) or c in BUGSWARM_MAPPING.values()]
    headers = ["manual category", "mapped to", "cases", *[c.value for c in predicted], "correct"]
    rows = []
    for label, mapped in BUGSWARM_MAPPING.items():
        counts = {p: n for (lbl, p), n in pairs.items() if lbl == label}
        total = sum(counts.values())
        if not total:
            continue
        rows.append(
            [
                label,
                mapped.value,
                str(total),
                *[str(counts.get(c, "")) or "." for c in predicted],
                f"{counts.get(mapped, 0)}/{total}",
            ]
        )
    return headers, rows


SPEED_HEADERS = [
    "log",
    "MB",
    "extract s",
    "extract MB/s",
    "grep s",
    "grep MB/s",
    "extract / grep time",
    "peak RSS MB",
    "blocks",
]


def speed_row(m: scale.Measurement) -> list[str]:
    """One row of the speed table."""
    return [
        m.label,
        f"{m.size / MB:,.1f}",
        f"{m.extract_seconds:.2f}",
        f"{m.extract_mb_s:.1f}",
        f"{m.grep_seconds:.3f}",
        f"{m.grep_mb_s:,.0f}",
        f"{m.slowdown:.1f}x",
        f"{m.peak_rss / 2**20:.0f}",
        str(m.blocks),
    ]


# --------------------------------------------------------------------------------------------
# targets


def quality_checks(quality: Quality, *, hit_goal: float, label: str) -> list[Check]:
    """Hit rate >= ``hit_goal`` at a median <= MAX_TOKENS on each tight source; no crash."""
    checks = []
    for group in TIGHT_SOURCES:
        s = quality.summaries.get(group, {}).get(CI_HEALER)
        if s is None or not s.cases:
            checks.append(
                Check(
                    f"{label}: {group}",
                    f"hit rate >= {pct(hit_goal)} at median <= {MAX_TOKENS:,} tokens",
                    "no cases",
                    "NOT MEASURED",
                )
            )
            continue
        med = s.stat("tokens", 50)
        short = []
        if s.hit_rate < hit_goal:
            short.append(f"hit rate {100 * (hit_goal - s.hit_rate):.1f} points short")
        if med > MAX_TOKENS:
            short.append(f"median {med - MAX_TOKENS:,.0f} tokens over")
        checks.append(
            Check(
                f"{label}: {group}",
                f"hit rate >= {pct(hit_goal)} at median <= {MAX_TOKENS:,} tokens",
                f"{pct(s.hit_rate)} at median {num(med)} tokens ({s.cases} cases)",
                "MISS" if short else "PASS",
                "; ".join(short),
            )
        )
    checks.append(
        Check(
            "no crash",
            "extract never raises on a corpus log",
            f"{len(quality.crashes)} crashes of {quality.cases} logs",
            "MISS" if quality.crashes else "PASS",
            "; ".join(quality.crashes[:3]),
        )
    )
    return checks


def step_checks(quality: Quality) -> list[Check]:
    """>= 5x fewer tokens than the failed-step slice at equal or better hit rate, GitHub Actions logs."""
    checks = []
    for group in (GITHUB_TIGHT, "logsage"):
        methods = quality.summaries.get(group)
        goal = f">= {TARGET_STEP_RATIO:.0f}x fewer tokens than step-slice (median) at >= its hit rate"
        if not methods or not methods["step-slice"].cases:
            checks.append(Check(f"GitHub Actions: {group}", goal, "no cases", "NOT MEASURED"))
            continue
        ours, slice_ = methods[CI_HEALER], methods["step-slice"]
        factor = slice_.stat("tokens", 50) / max(ours.stat("tokens", 50), 1e-9)
        short = []
        if factor < TARGET_STEP_RATIO:
            short.append(f"factor {factor:.2f}x, {TARGET_STEP_RATIO / factor:.1f}x too small")
        if ours.hit_rate < slice_.hit_rate:
            short.append(f"hit rate {100 * (slice_.hit_rate - ours.hit_rate):.1f} points below step-slice")
        checks.append(
            Check(
                f"GitHub Actions: {group}",
                goal,
                f"step-slice median {num(slice_.stat('tokens', 50))} tokens = {factor:.2f}x ci-healer's "
                f"{num(ours.stat('tokens', 50))}; hit {pct(ours.hit_rate)} vs step-slice {pct(slice_.hit_rate)}",
                "MISS" if short else "PASS",
                "; ".join(short),
            )
        )
    return checks


def speed_checks(synthetic: list[scale.Measurement], notes: list[str]) -> list[Check]:
    """Throughput within 3x of grep at the largest size; peak RSS < 100 MB at 1 GB."""
    checks = []
    if synthetic:
        m = synthetic[-1]
        over = m.slowdown / TARGET_GREP_SLOWDOWN
        checks.append(
            Check(
                "throughput vs grep",
                f"extract within {TARGET_GREP_SLOWDOWN:.0f}x of grep's time",
                f"{m.slowdown:.1f}x grep's time on {m.label} ({m.extract_mb_s:.1f} vs {m.grep_mb_s:,.0f} MB/s)",
                "PASS" if m.slowdown <= TARGET_GREP_SLOWDOWN else "MISS",
                "" if m.slowdown <= TARGET_GREP_SLOWDOWN else f"{over:.1f}x over the allowance",
            )
        )
    else:
        checks.append(
            Check(
                "throughput vs grep",
                f"within {TARGET_GREP_SLOWDOWN:.0f}x of grep",
                "; ".join(notes) or "-",
                "NOT MEASURED",
            )
        )
    at_gb = [m for m in synthetic if m.size >= 999 * MB]
    goal = f"peak RSS < {TARGET_RSS // 2**20} MB at 1 GB"
    if at_gb:
        m = at_gb[0]
        ok = m.peak_rss < TARGET_RSS
        checks.append(
            Check(
                "memory at 1 GB",
                goal,
                f"{m.peak_rss / 2**20:.0f} MB",
                "PASS" if ok else "MISS",
                "" if ok else f"{(m.peak_rss - TARGET_RSS) / 2**20:.0f} MB over",
            )
        )
    else:
        largest = f"{synthetic[-1].peak_rss / 2**20:.0f} MB at {synthetic[-1].label}" if synthetic else "-"
        checks.append(
            Check("memory at 1 GB", goal, f"1 GB not measured (largest: {largest})", "NOT MEASURED")
        )
    return checks


def overhead_checks(image: overhead_mod.ImageSize | None, runs: list[overhead_mod.Overhead]) -> list[Check]:
    """Image < 250 MB; container wall time to the posted comment < 3 s."""
    checks = []
    goal = f"image < {TARGET_IMAGE // MB} MB"
    if image is None or image.size is None:
        checks.append(
            Check(
                "image size", goal, image.note if image else "not measured: skipped (--quick)", "NOT MEASURED"
            )
        )
    else:
        ok = image.size < TARGET_IMAGE
        checks.append(
            Check(
                "image size",
                goal,
                f"{image.size / MB:.0f} MB",
                "PASS" if ok else "MISS",
                "" if ok else f"{(image.size - TARGET_IMAGE) / MB:.0f} MB over",
            )
        )
    container = next((r for r in runs if r.where == "container"), None)
    host = next((r for r in runs if r.where == "host process" and r.seconds is not None), None)
    goal = f"container start to posted comment < {TARGET_OVERHEAD:.0f} s"
    if container is not None and container.seconds is not None:
        ok = container.seconds < TARGET_OVERHEAD
        checks.append(
            Check(
                "overhead",
                goal,
                f"{container.seconds:.2f} s, {container.api_calls} API calls",
                "PASS" if ok else "MISS",
                "" if ok else f"{container.seconds - TARGET_OVERHEAD:.2f} s over",
            )
        )
    else:
        why = container.note if container else "not measured: skipped (--quick)"
        if host is not None:
            why += f" (host process without container: {host.seconds:.2f} s, {host.api_calls} API calls)"
        checks.append(Check("overhead", goal, why, "NOT MEASURED"))
    return checks


# --------------------------------------------------------------------------------------------
# main


def machine_facts() -> dict[str, str]:
    """CPU count and model, memory, OS and Python version of this machine."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
        memory = f"{mem:.0f} GiB"
    except (ValueError, OSError, AttributeError):
        memory = "unknown"
    return {
        "CPUs": str(os.cpu_count()),
        "CPU model": cpu,
        "memory": memory,
        "OS": platform.platform(terse=True),
        "Python": platform.python_version(),
    }


def revision() -> str:
    """``git describe``-like revision of the measured tree (``unknown`` outside git)."""
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        # The report itself does not count: a re-run rewrites it.
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)BENCHMARKS.md"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return sha + (" with uncommitted changes" if dirty else "")


def shown_command(argv: list[str]) -> str:
    """The command line as typed, with paths shown relative to the repository root."""
    shown = []
    for arg in argv:
        if os.path.isabs(arg):
            arg = os.path.relpath(arg, REPO_ROOT)
        shown.append(arg)
    return "python bench/run.py" + ("" if not shown else " " + shlex.join(shown))


def render(context: dict) -> str:
    """BENCHMARKS.md from ``bench/templates/BENCHMARKS.md.j2``."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=False,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env.get_template("BENCHMARKS.md.j2").render(**context)


def threading_main() -> bool:
    """True in the main thread of the main interpreter (where signal handlers may be set)."""
    import threading

    return threading.current_thread() is threading.main_thread()


@contextlib.contextmanager
def _docker_for(args: argparse.Namespace, log) -> Iterator[None]:
    """With ``--private-docker``: a private daemon with both images built, as ``DOCKER_HOST``."""
    if not args.private_docker:
        yield
        return
    sys.path.insert(0, str(REPO_ROOT))
    from tests.e2e import harness

    with harness.private_daemon() as daemon:
        harness.build_base_image(daemon)
        built = harness.build_action_image(daemon, tag=args.image)
        log(f"overhead: action image {built.tag} built in {built.seconds:.1f} s")
        previous = os.environ.get("DOCKER_HOST")
        os.environ["DOCKER_HOST"] = daemon.host
        try:
            yield
        finally:
            if previous is None:
                os.environ.pop("DOCKER_HOST", None)
            else:
                os.environ["DOCKER_HOST"] = previous


def build_parser() -> argparse.ArgumentParser:
    """Command-line options."""
    parser = argparse.ArgumentParser(
        prog="python bench/run.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--corpus",
        type=Path,
        default=None,
        help="labeled corpus folder (default: $CI_HEALER_CORPUS or ../shared/corpus)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="sample every 5th case, 10 MB only, enforce floors"
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="report path (default BENCHMARKS.md; none with --quick)"
    )
    parser.add_argument(
        "--image", default=overhead_mod.DEFAULT_IMAGE, help="action image tag for size and overhead"
    )
    parser.add_argument(
        "--private-docker",
        action="store_true",
        help="start the end-to-end tests' private Docker daemon (tests/e2e/harness.py), build the base "
        "and action images in it and measure the container there",
    )
    parser.add_argument(
        "--scale-budget",
        type=float,
        default=420.0,
        help="seconds the largest synthetic log may take (predicted from the previous size); larger sizes are skipped",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; 0 on success, 1 when a --quick floor is broken, 2 on unusable input."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    if not threading_main():
        return _main(args, argv)
    # SIGTERM unwinds like Ctrl-C, so temporary synthetic logs are deleted.
    previous = signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        return _main(args, argv)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _main(args: argparse.Namespace, argv: list[str]) -> int:
    started = time.perf_counter()
    corpus = args.corpus or default_corpus()
    out = args.out if args.out is not None else (None if args.quick else REPO_ROOT / "BENCHMARKS.md")

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    try:
        cases = load_cases(corpus, every=QUICK_EVERY if args.quick else 1)
    except CorpusError as exc:
        print(f"error: {exc} (set --corpus or CI_HEALER_CORPUS)", file=sys.stderr)
        return 2
    if not cases:
        print(f"error: no cases in {corpus}", file=sys.stderr)
        return 2

    encoder, tokenizer_note = (None, "skipped (--quick)") if args.quick else tokenizer.load()
    log(f"quality: {len(cases)} cases{'' if encoder else ' (estimated tokens only: ' + tokenizer_note + ')'}")
    quality = evaluate(cases, encoder=encoder, progress=log)
    folds = cv_mod.cross_validate(quality.outcomes)
    cv_headers, cv_rows = cv_mod.rows(folds)

    log("speed: largest real logs")
    real: list[scale.Measurement] = []
    largest = sorted(cases, key=lambda c: -c.log_bytes)[: 1 if args.quick else 3]
    for case in largest:
        real.append(scale.measure_file(case.log, f"{case.source}/{case.case_id}", timeout=300))
    synthetic: list[scale.Measurement] = []
    speed_notes: list[str] = []
    sources = [c.log for c in cases]
    for size in QUICK_SIZES if args.quick else FULL_SIZES:
        if synthetic:
            predicted = size / MB / synthetic[-1].extract_mb_s
            if predicted > args.scale_budget:
                speed_notes.append(
                    f"{size // MB:,} MB not measured: predicted {predicted:.0f} s at "
                    f"{synthetic[-1].extract_mb_s:.1f} MB/s exceeds the {args.scale_budget:.0f} s budget"
                )
                log(speed_notes[-1])
                continue
        log(f"speed: synthetic {size // MB} MB")
        try:
            with scale.synthetic_log(size, sources) as path:
                synthetic.append(
                    scale.measure_file(
                        path, f"synthetic {size // MB:,} MB", timeout=max(120.0, 3 * args.scale_budget)
                    )
                )
        except (scale.ScaleError, OSError) as exc:
            speed_notes.append(f"{size // MB:,} MB not measured: {exc}")
            log(speed_notes[-1])
    idle = scale.idle_rss()

    green_report: str | None = None
    localization_table: str | None = None
    if not args.quick:
        log("green-log diff: CiDiff cases with a passing log")
        prepared = greendiff_mod.prepare([c for c in cases if c.source == "cidiff"], with_set=False)
        if prepared:
            budgets = greendiff_mod.BUDGETS
            green_report = greendiff_mod.report(
                prepared, greendiff_mod.measure(prepared, budgets), greendiff_mod.ceilings(prepared, budgets)
            )
        log("localization: BugSwarm cases with the developer's fix")
        bugswarm = [c for c in cases if c.source == localization_mod.CLASSIFY_SOURCE]
        if bugswarm:
            localization_table = localization_mod.render(
                localization_mod.summarise(localization_mod.evaluate(bugswarm))
            )

    image: overhead_mod.ImageSize | None = None
    runs: list[overhead_mod.Overhead] = []
    if not args.quick:
        log("overhead: fake GitHub API, rules backend")
        with _docker_for(args, log):
            image = overhead_mod.image_size(args.image)
            runs = [overhead_mod.measure_host(), overhead_mod.measure_container(args.image)]

    floors = quality_checks(quality, hit_goal=FLOOR_HIT, label="floor")
    if args.quick:
        floors.append(model_bench_floor(log))
    targets = (
        quality_checks(quality, hit_goal=TARGET_HIT, label="tight labels")
        + step_checks(quality)
        + speed_checks(synthetic, speed_notes)
        + overhead_checks(image, runs)
    )
    if args.quick:
        targets = [t for t in targets if not t.name.startswith(("memory", "image", "overhead"))]

    real_tokens = encoder is not None
    headers = list(QUALITY_HEADERS)
    if real_tokens:
        headers.insert(9, f"median {tokenizer.ENCODING} tokens")
    rows = quality_rows(quality, real_tokens=real_tokens)
    conf_headers, conf_rows = confusion(quality)
    seconds = time.perf_counter() - started

    print(text_table(headers, rows))
    print()
    print(f"repository-grouped {folds.k}-fold cross-validation (python bench/cv.py):")
    print(text_table(cv_headers, cv_rows))
    print()
    for check in floors if args.quick else targets:
        print(
            f"{check.status:<12} {check.name}: {check.measured}"
            + (f"  [{check.shortfall}]" if check.shortfall else "")
        )
    print(
        f"\n{len(cases)} logs, {quality.extract_bytes / MB:.0f} MB, extract {quality.extract_bytes / MB / max(quality.extract_seconds, 1e-9):.1f} MB/s; "
        f"classification {quality.classified.correct}/{quality.classified.total}; total {seconds:.0f} s"
    )

    if out is not None:
        context = {
            "command": shown_command(argv),
            "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": machine_facts(),
            "revision": revision(),
            "quick": args.quick,
            "seconds": seconds,
            "cases": len(cases),
            "corpus_mb": quality.extract_bytes / MB,
            "corpus_mb_s": quality.extract_bytes / MB / max(quality.extract_seconds, 1e-9),
            "tokenizer_note": tokenizer_note,
            "real_tokens": real_tokens,
            "max_tokens": MAX_TOKENS,
            "quality_headers": headers,
            "quality_rows": rows,
            "crashes": quality.crashes,
            "conf_headers": conf_headers,
            "conf_rows": conf_rows,
            "classified": quality.classified,
            "mapping": {k: v.value for k, v in BUGSWARM_MAPPING.items()},
            "speed_headers": SPEED_HEADERS,
            "speed_rows": [speed_row(m) for m in real + synthetic],
            "speed_notes": speed_notes,
            "idle_rss_mb": idle / 2**20,
            "image": image,
            "runs": runs,
            "targets": targets,
            "floors": floors,
            "kws_keywords": KWS_KEYWORDS,
            "kws_context": KWS_CONTEXT,
            "ceilings": [label_ceiling(cases, source=src, max_tokens=MAX_TOKENS) for src in TIGHT_SOURCES],
            "cv_headers": cv_headers,
            "cv_rows": cv_rows,
            "cv_k": folds.k,
            "cv_seed": folds.seed,
            "cv_held_out": cv_mod.HELD_OUT,
            "cv_every": QUICK_EVERY if args.quick else 1,
            "green_report": green_report,
            "localization_table": localization_table,
            "hit_rates": {
                src: quality.summaries[src][CI_HEALER].hit_rate
                for src in TIGHT_SOURCES
                if src in quality.summaries
            },
        }
        text = keep_model_section(render(context), out)
        tmp = out.with_name(out.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(out)  # never leave a half-written report
        log(f"wrote {out}")
    if args.quick and any(f.status != "PASS" for f in floors):
        print("floor broken", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
