"""Speed and memory of extraction at scale, next to ``grep`` on the same file in the same run.

Throughput is file bytes / wall seconds. ``extract`` is timed inside a fresh Python process
(interpreter start-up and imports excluded, the file read included); ``grep -c -iE 'error|fail'``
is timed as a whole process with ``LC_ALL=C`` (byte semantics, like the extractor's byte-level
prefilter; a UTF-8 locale makes ``grep -i`` slower and the ratio kinder to us). Both read the file
from the page cache: it was just written, and grep runs first.

Peak RSS is the high-water mark ``VmHWM`` of ``/proc/self/status`` read by that fresh process at
its end, so one size's peak cannot leak into the next. (Not ``ru_maxrss``: Linux carries the
pre-``exec`` high-water mark into it, and Python starts children with ``vfork``, so a child's
``ru_maxrss`` starts at the benchmark process's own peak. ``ru_maxrss`` is the fallback where
``/proc`` is missing.) An idle process that only imports ``ci_healer.extract`` gives the floor
that the interpreter and imports cost.

Synthetic logs are real corpus logs concatenated (in index order, repeated as needed) up to the
target size, cut at a line end, written into a temporary folder that is deleted afterwards.

Run ``python -m bench.scale --worker FILE`` to get one process's measurement as JSON.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from tempfile import TemporaryDirectory

from bench.corpus import REPO_ROOT

GREP_PATTERN = "error|fail"
MB = 1_000_000


class ScaleError(RuntimeError):
    """A measurement process failed or timed out; the message carries its stderr tail."""


@dataclass
class Measurement:
    """One file: size, extract seconds and peak RSS (bytes), grep seconds (NaN when grep is missing)."""

    label: str
    size: int
    extract_seconds: float
    peak_rss: int
    grep_seconds: float
    blocks: int
    lines_total: int

    @property
    def extract_mb_s(self) -> float:
        """Extraction throughput in MB/s (10^6 bytes)."""
        return self.size / MB / self.extract_seconds if self.extract_seconds > 0 else float("inf")

    @property
    def grep_mb_s(self) -> float:
        """grep throughput in MB/s (NaN when not measured)."""
        return self.size / MB / self.grep_seconds if self.grep_seconds > 0 else float("nan")

    @property
    def slowdown(self) -> float:
        """extract seconds / grep seconds (how many times slower than grep)."""
        return self.extract_seconds / self.grep_seconds if self.grep_seconds > 0 else float("nan")


def peak_rss() -> int:
    """Peak resident set size of this process in bytes: ``VmHWM``, else ``ru_maxrss`` (KiB on Linux)."""
    try:
        for line in Path("/proc/self/status").read_text(encoding="ascii", errors="replace").splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def worker(path: str | None) -> dict:
    """Measure in this process: ``{"seconds", "maxrss", "blocks", "lines_total"}``; ``path`` None = idle.

    ``maxrss`` is :func:`peak_rss` in bytes.
    """
    from ci_healer.extract import extract

    seconds, blocks, lines_total = 0.0, 0, 0
    if path is not None:
        started = time.perf_counter()
        result = extract(path)
        seconds = time.perf_counter() - started
        blocks, lines_total = len(result.blocks), result.lines_total
    maxrss = peak_rss()
    return {"seconds": seconds, "maxrss": maxrss, "blocks": blocks, "lines_total": lines_total}


def run_worker(path: Path | None, *, timeout: float) -> dict:
    """Run :func:`worker` in a fresh interpreter; raises :class:`ScaleError` on failure or timeout."""
    argv = [sys.executable, "-m", "bench.scale", "--worker", str(path) if path else "-"]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
    }
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env, check=False)
    except subprocess.TimeoutExpired as exc:
        raise ScaleError(f"extract on {path} did not finish in {timeout:.0f} s") from exc
    if proc.returncode != 0:
        raise ScaleError(f"extract worker on {path} exited {proc.returncode}: {proc.stderr[-800:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def grep_seconds(path: Path, *, repeat: int = 1, timeout: float = 300) -> float:
    """Best wall time of ``grep -c -iE 'error|fail' FILE`` over ``repeat`` runs; NaN without grep."""
    grep = shutil.which("grep")
    if grep is None:
        return float("nan")
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        proc = subprocess.run(
            [grep, "-c", "-iE", GREP_PATTERN, str(path)],
            capture_output=True,
            env={**os.environ, "LC_ALL": "C"},
            timeout=timeout,
            check=False,
        )
        elapsed = time.perf_counter() - started
        if proc.returncode not in (0, 1):
            raise ScaleError(f"grep failed on {path}: {proc.stderr[-400:]!r}")
        best = min(best, elapsed)
    return best


def measure_file(path: Path, label: str, *, timeout: float) -> Measurement:
    """grep then extract (fresh process) on ``path``."""
    size = path.stat().st_size
    g = grep_seconds(path, repeat=3 if size < 200 * MB else 1)
    w = run_worker(path, timeout=timeout)
    return Measurement(label, size, w["seconds"], w["maxrss"], g, w["blocks"], w["lines_total"])


def idle_rss(*, timeout: float = 60) -> int:
    """Peak RSS in bytes of a process that only imports ``ci_healer.extract``."""
    return int(run_worker(None, timeout=timeout)["maxrss"])


def write_synthetic(dest: Path, size: int, sources: Sequence[Path]) -> int:
    """Concatenate ``sources`` (repeated) into ``dest`` up to ``size`` bytes, cut after a ``\\n``.

    Returns the bytes written. Raises ``ValueError`` for no sources or only empty ones.
    """
    chunks = [p.read_bytes() for p in sources]
    chunks = [c if c.endswith(b"\n") else c + b"\n" for c in chunks if c]
    if not chunks:
        raise ValueError("no non-empty source logs")
    written = 0
    with dest.open("wb") as out:
        while written < size:
            for chunk in chunks:
                room = size - written
                if room <= 0:
                    break
                if len(chunk) > room:
                    cut = chunk.rfind(b"\n", 0, room)
                    if cut < 0:
                        room = 0
                        break
                    chunk = chunk[: cut + 1]
                out.write(chunk)
                written += len(chunk)
            else:
                continue
            break
    return written


@contextmanager
def synthetic_log(size: int, sources: Sequence[Path]) -> Iterator[Path]:
    """Yield the path of a synthetic log of about ``size`` bytes in a temporary folder deleted on exit."""
    with TemporaryDirectory(prefix="ci-healer-bench-") as tmp:
        path = Path(tmp) / f"synthetic-{size // MB}MB.log"
        write_synthetic(path, size, sources)
        yield path


def _main(argv: Sequence[str]) -> int:
    if len(argv) == 2 and argv[0] == "--worker":
        print(json.dumps(worker(None if argv[1] == "-" else argv[1])))
        return 0
    print("usage: python -m bench.scale --worker FILE|-", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
