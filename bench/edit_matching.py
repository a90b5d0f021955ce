"""How often a misquoted search/replace edit still lands on the right lines, and how fast.

    python bench/edit_matching.py [--files GLOB ...] [--samples 200] [--seed 7]

Takes windows of 3–8 lines (first and last not blank) that occur exactly once in real source files (by default this
repository's own ``src/ci_healer/*.py`` and the bundled example repository), quotes each the way
a model misquotes it, and asks :func:`ci_healer.patch.build_patch` for the edit. The misquotes are
the shapes seen from a small model run through the product:

- ``trailing-ws``: trailing spaces or a tab added to the quoted lines;
- ``indent``: the quote dedented to column 0 (or indented by four more spaces when it already is);
- ``one-line``: one quoted line changed (a word dropped or altered);
- ``missing-line``: one middle line of the quote left out.

For each it prints how many edits produced exactly the intended file (``right``: the last
quoted line, at its true place, is the only line changed), were refused
(``refused``: not found or ambiguous, the repair round's case) or landed elsewhere (``wrong``,
which must stay 0), and the median and worst time per edit. Times depend on the machine; they are
printed, never asserted.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from ci_healer.models import FileEdit  # noqa: E402
from ci_healer.patch import ProposalError, build_patch  # noqa: E402
from ci_healer.repo import LocalRepo  # noqa: E402

DEFAULT_GLOBS = (
    "src/ci_healer/*.py",
    "src/ci_healer/backends/*.py",
    "examples/missing-dependency/repo/**/*.py",
)


def _windows(text: str, rng: random.Random, n: int) -> list[tuple[int, int]]:
    lines = text.split("\n")
    found: list[tuple[int, int]] = []
    for _ in range(n * 20):
        if len(found) >= n:
            break
        size = rng.randint(3, 8)
        start = rng.randrange(0, max(1, len(lines) - size))
        chunk = lines[start : start + size]
        if sum(1 for line in chunk if line.strip()) < 3 or not chunk[0].strip() or not chunk[-1].strip():
            continue
        quote = "\n".join(chunk) + "\n"
        if text.count(quote) == 1:
            found.append((start, size))
    return found


def _misquote(kind: str, chunk: list[str], rng: random.Random) -> list[str] | None:
    out = list(chunk)
    if kind == "trailing-ws":
        return [line + rng.choice(["  ", "\t", " "]) if line.strip() else line for line in out]
    if kind == "indent":
        indents = [len(line) - len(line.lstrip()) for line in out if line.strip()]
        cut = min(indents)
        if cut == 0:
            return ["    " + line if line.strip() else line for line in out]
        return [line[cut:] if line.strip() else line for line in out]
    candidates = [i for i, line in enumerate(out) if len(line.strip()) > 8]
    if kind == "one-line":
        if not candidates:
            return None
        i = rng.choice(candidates)
        words = out[i].split(" ")
        j = rng.randrange(len(words))
        words[j] = words[j][:-1] if len(words[j]) > 2 else words[j] + "x"
        out[i] = " ".join(words)
        return out
    if kind == "missing-line":
        if len(out) < 5:
            return None
        del out[rng.randrange(1, len(out) - 1)]
        return out
    raise ValueError(kind)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--files", nargs="*", default=list(DEFAULT_GLOBS))
    parser.add_argument("--samples", type=int, default=200, help="edits per misquote kind")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    paths = sorted({p for g in args.files for p in ROOT.glob(g) if p.is_file()})
    texts = {p.relative_to(ROOT).as_posix(): p.read_text(encoding="utf-8") for p in paths}
    with tempfile.TemporaryDirectory() as tmp:
        for rel, text in texts.items():
            target = Path(tmp, rel)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        repo = LocalRepo(tmp)
        print(f"{len(texts)} files, {sum(t.count(chr(10)) for t in texts.values())} lines, seed {args.seed}")
        print(
            f"{'misquote':<14}{'edits':>6}{'right':>7}{'refused':>9}{'wrong':>7}  rules (right)                 median ms  max ms"
        )
        for kind in ("trailing-ws", "indent", "one-line", "missing-line"):
            counts = {"right": 0, "refused": 0, "wrong": 0}
            rules: dict[str, int] = {}
            times: list[float] = []
            names = list(texts)
            while sum(counts.values()) < args.samples:
                rel = rng.choice(names)
                text = texts[rel]
                spots = _windows(text, rng, 1)
                if not spots:
                    continue
                start, size = spots[0]
                chunk = text.split("\n")[start : start + size]
                quoted = _misquote(kind, chunk, rng)
                if quoted is None:
                    continue
                # The edit appends a marker to the last quoted line: the one line that must change.
                replacement = [*quoted[:-1], quoted[-1].rstrip() + "  # edited"]
                edit = FileEdit(
                    file_path=rel,
                    original="\n".join(quoted) + "\n",
                    replacement="\n".join(replacement) + "\n",
                )
                began = time.perf_counter()
                try:
                    patch = build_patch([edit], repo)
                except ProposalError:
                    counts["refused"] += 1
                    times.append(time.perf_counter() - began)
                    continue
                times.append(time.perf_counter() - began)
                match = patch.matches[0]
                lines = text.split("\n")
                lines[start + size - 1] = lines[start + size - 1].rstrip() + "  # edited"
                if patch.files[0].new_text == "\n".join(lines):
                    counts["right"] += 1
                    rules[match.rule] = rules.get(match.rule, 0) + 1
                else:
                    counts["wrong"] += 1
            shown = ", ".join(f"{k} {v}" for k, v in sorted(rules.items())) or "-"
            median = statistics.median(times) * 1000
            worst = max(times) * 1000
            print(
                f"{kind:<14}{sum(counts.values()):>6}{counts['right']:>7}{counts['refused']:>9}{counts['wrong']:>7}"
                f"  {shown:<30}{median:>9.1f}{worst:>8.1f}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
