"""Model evaluation: the whole engine, with any backend, on a fixed set of real CI failures.

    python -m bench.models [--backend rules] [--cases bench/cases/cases.json] [--limit N]
        [--out results.json] [--resume] [--markdown] [--no-fuzzy] [--no-repair]
    python -m bench.models --backend openai --openai-base-url http://127.0.0.1:8080/v1 \\
        --model qwen2.5-coder --llm-timeout 600 --out results.json --resume --markdown
    python -m bench.models --select [--n 24] [--seed 11]     # rebuild bench/cases/cases.json

**Cases.** ``bench/cases/cases.json`` lists BugSwarm cases of the corpus (``../shared/corpus``
or ``$CI_HEALER_CORPUS``): each a failed Travis CI job log and the developer's fail→pass diff
``fix.diff``. No repository code is stored here (bench/cases/README.md): each case's repository
tree is generated at run time by :func:`bench.localization.case_tree` — the stand-in tree of the
localization bench (the files the log names, the fix files, the manifests) in which every file
the fix changes holds the fix's own context and removed lines at their line numbers, so the real
fix applies (``git apply --check``) and a proposal that quotes those lines can apply too.
:func:`select_cases` chose them by a stated rule (``--select``), not by how any backend does.

**Per case.** The engine runs as ``ci-healer analyze`` does (:func:`ci_healer.engine.analyze`,
defaults of :class:`~ci_healer.engine.AnalyzeOptions`) on the log and the generated tree, and
records: ``parse`` (``first_try``, ``after_repair`` = the backend's one schema repair round was
needed, ``failed`` = no valid proposal even then, ``no_reply`` = the backend failed otherwise,
its code in ``backend_error``: timeout, unavailable, ...; ``n/a`` for the rules backend); the
analysis ``status``;
``applies`` (``git apply --check`` of the proposed diff on the tree); the policy violations,
cheats and findings; the proposed files, the real fix's files and their intersection;
``similarity`` (``difflib.SequenceMatcher.ratio`` of the proposed diff's added/removed lines,
``+``/``-`` prefixed and stripped, to the real fix's); the edit-match rules and repair rounds;
prompt/completion tokens as the endpoint reported them (``Analysis.usage``); wall-clock latency.

**Results** go to ``--out`` (JSON) after every case, so a crash keeps the cases done; ``--resume``
skips the cases already there for the same backend, model and switches. With a model backend the
rules backend runs on the same cases too and both are summarised side by side; ``--markdown``
writes the summary into the ``Model evaluation`` section of BENCHMARKS.md (model, endpoint kind,
date). Progress goes to stderr, one line per case.

Times depend on the machine; they are printed, never asserted (the ``--quick`` floor of
bench/run.py checks only that trees build, real fixes apply and the rules backend's diffs apply).
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "src") not in sys.path:
    sys.path.insert(0, str(ROOT / "src"))
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from unidiff import PatchSet  # noqa: E402
from unidiff.errors import UnidiffParseError  # noqa: E402

from bench.corpus import CLASSIFY_SOURCE, Case, CorpusError, default_corpus, load_cases  # noqa: E402
from bench.localization import _ANSI, case_tree  # noqa: E402
from ci_healer.backends import BackendSettings, make_backend  # noqa: E402
from ci_healer.backends.base import Backend, BackendError  # noqa: E402
from ci_healer.backends.llm import display_url  # noqa: E402
from ci_healer.backends.rules import RulesBackend  # noqa: E402
from ci_healer.engine import AnalyzeOptions, analyze  # noqa: E402
from ci_healer.repo import LocalRepo  # noqa: E402

CASES = ROOT / "bench" / "cases" / "cases.json"
BENCHMARKS = ROOT / "BENCHMARKS.md"
SECTION_BEGIN = "<!-- model-evaluation:begin -->"
SECTION_END = "<!-- model-evaluation:end -->"
SECTION_HEADING = "## Model evaluation (bench/models.py)"
SELECT_N = 24
SELECT_SEED = 11
MAX_PER_REPOSITORY = 2
MAX_FIX_FILES = 15
_LANGUAGE = re.compile(r"^Build language: ?(\w+)", re.MULTILINE)


# ------------------------------------------------------------------------------ case material


def log_text(case: Case) -> str:
    """The case's log as text (ANSI removed, CR as line breaks), as the localization bench reads it."""
    raw = case.log.read_bytes().decode("utf-8", errors="replace")
    return _ANSI.sub("", raw.replace("\r", "\n"))


def fix_diff(case: Case) -> str:
    """The developer's ``fix.diff`` of the case ('' when absent)."""
    path = case.path / "fix.diff"
    return path.read_text(encoding="utf-8", errors="replace") if path.is_file() else ""


def language(case: Case) -> str:
    """The Travis CI build language the log states (``Build language: java``), else ``unknown``."""
    m = _LANGUAGE.search(log_text(case)[:20_000])
    return m.group(1).lower() if m else "unknown"


def diff_paths(diff: str) -> list[str]:
    """Every path a unified diff touches (new side, or old side for a deletion), in order."""
    try:
        patch = PatchSet(diff)
    except UnidiffParseError:
        return []
    out: list[str] = []
    for pf in patch:
        name = pf.source_file if pf.is_removed_file else pf.target_file
        name = name[2:] if name[:2] in ("a/", "b/") else name
        if name and name != "/dev/null" and name not in out:
            out.append(name)
    return out


def changed_lines(diff: str) -> list[str]:
    """The added and removed lines of a unified diff, ``+``/``-`` prefixed, whitespace stripped."""
    out = []
    for line in diff.split("\n"):
        if line.startswith(("+++", "---")):
            continue
        if line[:1] in "+-" and line[:1]:
            out.append(line[0] + line[1:].strip())
    return out


def similarity(proposed: str, real: str) -> float:
    """``difflib.SequenceMatcher.ratio`` (0–1) of :func:`changed_lines` of the two diffs."""
    a, b = changed_lines(proposed), changed_lines(real)
    if not a or not b:
        return 0.0
    return difflib.SequenceMatcher(None, a, b, autojunk=False).ratio()


def write_tree(files: dict[str, str], root: Path) -> None:
    """Write ``files`` (path → text) under ``root`` (no git repository: :func:`git_apply_check`
    runs ``git apply`` outside any)."""
    for path, text in files.items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8", newline="")


def git_apply_check(diff: str, root: Path) -> tuple[bool, str]:
    """``git apply --check`` of ``diff`` in ``root``: (applies, git's first error line).

    ``GIT_CEILING_DIRECTORIES`` keeps git from finding a repository above ``root`` (a temporary
    folder inside a checkout), so the paths of the diff are read relative to ``root``.
    """
    env = {**os.environ, "GIT_CEILING_DIRECTORIES": str(root.resolve().parent)}
    env.pop("GIT_DIR", None)
    res = subprocess.run(
        ["git", "apply", "--check", "-"], input=diff.encode("utf-8"), cwd=root, capture_output=True, env=env
    )
    errors = [line for line in res.stderr.decode("utf-8", "replace").splitlines() if line.startswith("error")]
    return res.returncode == 0, (errors[0] if errors else "")


# ------------------------------------------------------------------------------ the case set


def select_cases(cases: Sequence[Case], *, n: int = SELECT_N, seed: int = SELECT_SEED) -> list[dict]:
    """The case set: a stratified sample of the BugSwarm cases, by language × failure category.

    Eligible: a BugSwarm case whose ``fix.diff`` parses, changes 1..:data:`MAX_FIX_FILES` files
    and applies (``git apply --check``) to its
    generated tree (binary sections do not). Each stratum (language × BugSwarm category) gets
    ``n`` × its share of the eligible cases (largest remainders), at least one; within a stratum
    the cases are shuffled with ``random.Random(seed)`` and taken in that order, at most
    :data:`MAX_PER_REPOSITORY` per repository over the whole set; quotas the cap leaves unfilled
    are filled round-robin over the strata (largest first) in the same order. No backend is run.
    """
    eligible: dict[tuple[str, str], list[Case]] = defaultdict(list)
    for case in sorted(cases, key=lambda c: c.case_id):
        diff = fix_diff(case)
        paths = diff_paths(diff)
        if case.source != CLASSIFY_SOURCE or not paths or len(paths) > MAX_FIX_FILES:
            continue
        if not _real_fix_applies(case, diff):
            continue
        eligible[(language(case), case.category or "(none)")].append(case)
    total = sum(len(v) for v in eligible.values())
    quota = {k: max(1, n * len(v) // total) for k, v in eligible.items()}
    rest = sorted(eligible, key=lambda k: -((n * len(eligible[k])) % total))
    i = 0
    while sum(quota.values()) < n and i < len(rest) * 2:
        k = rest[i % len(rest)]
        if quota[k] < len(eligible[k]):
            quota[k] += 1
        i += 1
    rng = random.Random(seed)
    per_repo: dict[str, int] = defaultdict(int)
    chosen: list[dict] = []
    pools = {key: rng.sample(eligible[key], len(eligible[key])) for key in sorted(eligible)}

    def take(key: tuple[str, str], case: Case, why: str) -> None:
        repo = case.repository or case.case_id
        per_repo[repo] += 1
        pools[key].remove(case)
        chosen.append(
            {
                "case_id": case.case_id,
                "source": case.source,
                "repository": repo,
                "language": key[0],
                "category": key[1],
                "why": f"stratum {key[0]} × {key[1]} ({len(eligible[key])} eligible, quota {quota[key]}): {why}",
            }
        )

    for key in sorted(pools):
        for case in list(pools[key]):
            if sum(1 for c in chosen if (c["language"], c["category"]) == key) >= quota[key]:
                break
            if per_repo[case.repository or case.case_id] < MAX_PER_REPOSITORY:
                take(key, case, f"within quota, seed {seed} order")
    # Quotas a repository cap left unfilled: round-robin over the strata, largest first.
    order = sorted(pools, key=lambda k: (-len(eligible[k]), k))
    while len(chosen) < n and any(pools.values()):
        progressed = False
        for key in order:
            if len(chosen) >= n:
                break
            case = next(
                (c for c in pools[key] if per_repo[c.repository or c.case_id] < MAX_PER_REPOSITORY), None
            )
            if case is not None:
                take(key, case, f"fill to n={n} after the repository cap, seed {seed} order")
                progressed = True
        if not progressed:
            break
    return chosen


def rule_text() -> str:
    """The selection rule of :func:`select_cases` as one paragraph, constants filled in."""
    doc = " ".join(line.strip() for line in (select_cases.__doc__ or "").split("\n") if line.strip())
    doc = doc.replace(":data:`MAX_FIX_FILES`", str(MAX_FIX_FILES))
    return doc.replace(":data:`MAX_PER_REPOSITORY`", str(MAX_PER_REPOSITORY)).replace("``", "")


def _real_fix_applies(case: Case, diff: str) -> bool:
    with tempfile.TemporaryDirectory(prefix="ci-healer-case-") as tmp:
        root = Path(tmp)
        write_tree(case_tree(log_text(case), diff), root)
        return git_apply_check(diff, root)[0]


def load_manifest(path: Path = CASES) -> list[dict]:
    """The case manifest (a JSON object with a ``cases`` list)."""
    return json.loads(path.read_text(encoding="utf-8"))["cases"]


# ------------------------------------------------------------------------------ one case


@dataclass
class CaseResult:
    """The figures of one case (see the module docstring)."""

    case_id: str
    language: str
    category: str
    tree_files: int = 0
    real_fix_applies: bool = False
    parse: str = "n/a"
    status: str = ""
    message: str = ""
    has_diff: bool = False
    applies: bool | None = None
    apply_error: str = ""
    violations: list[str] = field(default_factory=list)
    cheats: list[str] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)
    risk: str = ""
    proposed_files: list[str] = field(default_factory=list)
    fix_files: list[str] = field(default_factory=list)
    file_match: bool = False
    similarity: float | None = None
    match_rules: list[str] = field(default_factory=list)
    repair_rounds: int = 0
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    usage_reported: bool | None = None
    seconds: float = 0.0
    backend_error: str = ""
    error: str = ""


def run_case(entry: dict, corpus: dict[str, Case], backend: Backend, options: AnalyzeOptions) -> CaseResult:
    """Build the case's tree, run the engine on it with ``backend``, score the analysis."""
    result = CaseResult(entry["case_id"], entry.get("language", ""), entry.get("category", ""))
    case = corpus.get(entry["case_id"])
    if case is None:
        result.error = "case not in the corpus"
        return result
    diff = fix_diff(case)
    result.fix_files = diff_paths(diff)
    with tempfile.TemporaryDirectory(prefix="ci-healer-case-") as tmp:
        root = Path(tmp)
        files = case_tree(log_text(case), diff)
        write_tree(files, root)
        result.tree_files = len(files)
        result.real_fix_applies = git_apply_check(diff, root)[0]
        repo = LocalRepo(root, name=case.repository)
        if backend.name == "rules":  # the rules backend reads the repository it proposes for
            backend = RulesBackend(repo)
        repairs_before = getattr(backend, "schema_repairs", None)
        began = time.perf_counter()
        analysis = analyze(case.log.read_bytes(), repo=repo, backend=backend, options=options)
        result.seconds = round(time.perf_counter() - began, 3)
        repairs = getattr(backend, "schema_repairs", None)
        m = re.match(rf"{re.escape(backend.name)} backend failed \((\w+)\)", analysis.message)
        result.backend_error = m.group(1) if m and analysis.status == "failed" else ""
        if repairs is not None and repairs_before is not None:
            if result.backend_error == "invalid_output":
                result.parse = "failed"
            elif result.backend_error:
                result.parse = "no_reply"
            else:
                result.parse = "after_repair" if repairs > repairs_before else "first_try"
        result.status = analysis.status
        result.message = analysis.message[:500]
        result.risk = analysis.risk.level
        result.violations = [v.code for v in analysis.violations]
        result.cheats = [c.code for c in analysis.cheats]
        result.findings = [f.code for f in analysis.findings]
        result.match_rules = [m.rule for m in analysis.edit_matches]
        result.repair_rounds = analysis.repair_rounds
        if analysis.usage is not None:
            result.prompt_tokens = analysis.usage.prompt_tokens
            result.completion_tokens = analysis.usage.completion_tokens
            result.usage_reported = analysis.usage.complete
        result.proposed_files = (
            diff_paths(analysis.diff) if analysis.diff else [e.file_path for e in analysis.files_to_modify]
        )
        result.file_match = bool(set(result.proposed_files) & set(result.fix_files))
        if analysis.diff:
            result.has_diff = True
            result.applies, result.apply_error = git_apply_check(analysis.diff, root)
            result.similarity = round(similarity(analysis.diff, diff), 3)
    return result


# ------------------------------------------------------------------------------ the run


def config_key(args: argparse.Namespace, backend_name: str) -> str:
    """What identifies a run for ``--resume``: backend, model, endpoint and switches."""
    return json.dumps(
        {
            "backend": backend_name,
            "model": args.model if backend_name != "rules" else None,
            "base_url": args.openai_base_url if backend_name == "openai" else None,
            "fuzzy": not args.no_fuzzy,
            "repair": not args.no_repair,
        },
        sort_keys=True,
    )


def _progress(total: int, label: str) -> Callable[[CaseResult], None]:
    done = [0]

    def report(r: CaseResult) -> None:
        done[0] += 1
        applies = {True: "applies", False: "does not apply", None: "no diff"}[r.applies]
        print(
            f"[{label} {done[0]}/{total}] {r.case_id}: {r.parse}, {r.status or r.error}, {applies}, "
            f"{r.seconds:.1f} s",
            file=sys.stderr,
            flush=True,
        )

    return report


def _write_json(path: Path, doc: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def run_set(
    entries: Sequence[dict],
    corpus: dict[str, Case],
    backend: Backend,
    options: AnalyzeOptions,
    *,
    done: dict[str, dict] | None = None,
    save: Callable[[list[dict]], None] | None = None,
    label: str = "",
) -> list[dict]:
    """Run every entry not in ``done`` (case id → result), calling ``save`` after each case."""
    results: list[dict] = []
    done = done or {}
    report = _progress(len(entries), label or backend.name)
    skipped = sum(1 for e in entries if e["case_id"] in done)
    if skipped:
        print(
            f"[{label or backend.name}] resuming: {skipped} of {len(entries)} cases already done",
            file=sys.stderr,
        )
    for entry in entries:
        if entry["case_id"] in done:
            results.append(done[entry["case_id"]])
            continue
        try:
            result = run_case(entry, corpus, backend, options)
        except Exception as err:  # one broken case must not lose the others
            result = CaseResult(entry["case_id"], entry.get("language", ""), entry.get("category", ""))
            result.error = f"{type(err).__name__}: {err}"[:300]
        results.append(asdict(result))
        report(result)
        if save is not None:
            save(results)
    return results


LENIENT_RULES = frozenset({"trailing_whitespace", "indentation", "similarity"})
"""Edit-matching rules of :mod:`ci_healer.patch` beyond an exact quote."""


def summarise(results: Sequence[dict]) -> dict[str, Any]:
    """Overall figures of one run: counts and shares (0..1), medians, token sums."""
    n = len(results)
    with_diff = [r for r in results if r["has_diff"]]
    parses = [r["parse"] for r in results if r["parse"] != "n/a"]
    secs = [r["seconds"] for r in results if not r["error"]]
    prompt = [r["prompt_tokens"] for r in results if r["prompt_tokens"] is not None]
    completion = [r["completion_tokens"] for r in results if r["completion_tokens"] is not None]
    sims = [r["similarity"] for r in results if r["similarity"] is not None]
    status: dict[str, int] = defaultdict(int)
    for r in results:
        status[r["status"] or "error"] += 1
    return {
        "cases": n,
        "trees_built": sum(1 for r in results if r["tree_files"]),
        "real_fix_applies": sum(1 for r in results if r["real_fix_applies"]),
        "parse": {k: parses.count(k) for k in ("first_try", "after_repair", "failed", "no_reply")}
        if parses
        else None,
        "status": dict(sorted(status.items())),
        "diffs": len(with_diff),
        "diffs_apply": sum(1 for r in with_diff if r["applies"]),
        "lenient_matches": sum(1 for r in results if any(m in LENIENT_RULES for m in r["match_rules"])),
        "repair_rounds": sum(r["repair_rounds"] for r in results),
        # "before" from the same replies: a diff that needed neither a lenient rule nor the repair
        # round is what exact quoting alone would have produced; any other proposal would have
        # failed with original_not_found (or a missing path) before both existed
        "proposals_with_edits": sum(1 for r in results if r["proposed_files"]),
        "diffs_apply_exact": sum(
            1
            for r in with_diff
            if r["applies"]
            and r["repair_rounds"] == 0
            and not any(m in LENIENT_RULES for m in r["match_rules"])
        ),
        "with_cheats": sum(1 for r in results if r["cheats"]),
        "with_findings": sum(1 for r in results if r["findings"]),
        "with_violations": sum(1 for r in results if r["violations"]),
        "file_match": sum(1 for r in results if r["file_match"]),
        "proposals_with_files": sum(1 for r in results if r["proposed_files"]),
        "similarity_median": round(statistics.median(sims), 3) if sims else None,
        "seconds_median": round(statistics.median(secs), 3) if secs else None,
        "seconds_total": round(sum(secs), 1),
        "prompt_tokens": sum(prompt) if prompt else None,
        "completion_tokens": sum(completion) if completion else None,
        "usage_reported": sum(1 for r in results if r["usage_reported"]),
        "errors": sum(1 for r in results if r["error"]),
    }


def _share(a: int, b: int) -> str:
    return f"{a}/{b}" + (f" ({100 * a / b:.0f}%)" if b else "")


def render(runs: Sequence[dict]) -> str:
    """A markdown table, one column per run (``{"label", "summary"}``)."""
    rows = [
        (
            "cases (trees built / real fix applies)",
            lambda s: f"{s['cases']} ({s['trees_built']} / {s['real_fix_applies']})",
        ),
        (
            "parse: first try / after repair / failed / no reply (timeout, transport)",
            lambda s: (
                "n/a (no model)"
                if not s["parse"]
                else "{first_try} / {after_repair} / {failed} / {no_reply}".format(**s["parse"])
            ),
        ),
        ("status", lambda s: ", ".join(f"{k} {v}" for k, v in s["status"].items())),
        (
            "proposals with a diff that applies (git apply --check)",
            lambda s: _share(s["diffs_apply"], s["diffs"]),
        ),
        (
            "proposals with edits whose diff applies: with the lenient rules and the repair round / "
            "exact quotes only, first reply (the same replies)",
            lambda s: (
                "n/a"
                if not s.get("proposals_with_edits")
                else f"{_share(s['diffs_apply'], s['proposals_with_edits'])} / "
                f"{_share(s.get('diffs_apply_exact', 0), s['proposals_with_edits'])}"
            ),
        ),
        (
            "edits matched by a lenient rule / repair rounds",
            lambda s: f"{s['lenient_matches']} / {s['repair_rounds']}",
        ),
        (
            "proposals with cheats / findings / policy violations",
            lambda s: f"{s['with_cheats']} / {s['with_findings']} / {s['with_violations']}",
        ),
        ("proposed files ∩ real fix files (cases)", lambda s: _share(s["file_match"], s["cases"])),
        (
            "similarity to the real fix (median over diffs)",
            lambda s: "n/a" if s["similarity_median"] is None else f"{s['similarity_median']:.2f}",
        ),
        (
            "latency per case (median, total)",
            lambda s: f"{s['seconds_median'] or 0:.2f} s, {s['seconds_total']:.0f} s",
        ),
        (
            "prompt / completion tokens (reported)",
            lambda s: (
                "none (no model)"
                if s["prompt_tokens"] is None
                else f"{s['prompt_tokens']:,} / {s['completion_tokens']:,} ({s['usage_reported']} cases reported)"
            ),
        ),
    ]
    head = "| | " + " | ".join(r["label"] for r in runs) + " |"
    lines = [head, "|---|" + "---|" * len(runs)]
    for name, fn in rows:
        lines.append(f"| {name} | " + " | ".join(fn(r["summary"]) for r in runs) + " |")
    return "\n".join(lines)


def update_benchmarks(path: Path, label: str, text: str) -> None:
    """Write ``text`` as the run ``label``'s part of the model-evaluation section of ``path``
    (between the section markers; appended when absent): a later run with the same label
    replaces it, other runs' parts stay."""
    body = path.read_text(encoding="utf-8") if path.is_file() else ""
    if SECTION_BEGIN not in body or SECTION_END not in body:
        body = (
            body.rstrip("\n")
            + f"\n\n## Model evaluation (bench/models.py)\n\n{SECTION_BEGIN}\n{SECTION_END}\n"
        )
    start, end = body.index(SECTION_BEGIN) + len(SECTION_BEGIN), body.index(SECTION_END)
    inner = body[start:end]
    begin, stop = f"<!-- model-run: {label} -->", "<!-- /model-run -->"
    part = f"{begin}\n{text.rstrip()}\n{stop}"
    if begin in inner:
        a = inner.index(begin)
        b = inner.index(stop, a) + len(stop)
        inner = inner[:a] + part + inner[b:]
    else:
        inner = inner.rstrip("\n") + "\n" + part + "\n"
    path.write_text(body[:start] + inner + body[end:], encoding="utf-8")


def shown_command(argv: Sequence[str]) -> str:
    """The command line for the report, file arguments shown by their name only."""
    out: list[str] = []
    for i, arg in enumerate(argv):
        if i and argv[i - 1] in ("--out", "--cases", "--corpus", "--benchmarks"):
            arg = Path(arg).name
        elif i and argv[i - 1] == "--openai-base-url":
            arg = display_url(arg)  # scheme, host and path: no credentials or query
        out.append(arg)
    return "python -m bench.models " + " ".join(out)


def endpoint_kind(args: argparse.Namespace) -> str:
    """``rules (offline)``, ``Bedrock Converse``, ``GitHub Models`` or ``OpenAI-compatible <host>``."""
    from urllib.parse import urlparse

    if args.backend == "rules":
        return "rules (offline)"
    if args.backend == "bedrock":
        return "Bedrock Converse"
    if args.backend == "github-models":
        return "GitHub Models"
    host = urlparse(args.openai_base_url or "https://api.openai.com/v1").hostname or "?"
    local = host in ("127.0.0.1", "localhost", "::1")
    return f"OpenAI-compatible ({'local server' if local else host})"


# ------------------------------------------------------------------------------ command line


def spread(entries: list[Any], n: int | None) -> list[Any]:
    """``n`` entries at even steps over ``entries`` (all of them when ``n`` is None or not smaller),
    e.g. 8 of 24 → indices 0, 3, 6, …, 21."""
    if n is None or n >= len(entries):
        return list(entries)
    if n <= 0:
        raise SystemExit("--spread needs a positive number of cases")
    return [entries[(i * len(entries)) // n] for i in range(n)]


def build_parser() -> argparse.ArgumentParser:
    """The command line of the module docstring."""
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--backend", choices=("rules", "openai", "bedrock", "github-models"), default="rules")
    p.add_argument("--model", default=None, help="model id (each backend has a default)")
    p.add_argument(
        "--openai-base-url",
        default=None,
        help="an OpenAI-compatible endpoint, e.g. http://localhost:11434/v1",
    )
    p.add_argument(
        "--api-key-env",
        default=None,
        help="environment variable holding the API key (default OPENAI_API_KEY)",
    )
    p.add_argument("--aws-region", default=None)
    p.add_argument(
        "--llm-timeout", type=float, default=60.0, help="seconds per LLM request (a CPU model needs minutes)"
    )
    p.add_argument("--cases", type=Path, default=CASES)
    p.add_argument("--corpus", type=Path, default=None)
    p.add_argument("--limit", type=int, default=None, help="only the first N cases")
    p.add_argument(
        "--spread",
        type=int,
        default=None,
        metavar="N",
        help="N cases spread evenly over the manifest (every len/N-th; the manifest is ordered by "
        "language and category, so a slow model still sees each stratum)",
    )
    p.add_argument("--no-fuzzy", action="store_true", help="exact quotes only (no lenient edit matching)")
    p.add_argument("--no-repair", action="store_true", help="no patch-repair round")
    p.add_argument("--no-baseline", action="store_true", help="do not run the rules backend next to a model")
    p.add_argument("--out", type=Path, default=None, help="results JSON, written after every case")
    p.add_argument(
        "--resume", action="store_true", help="skip the cases --out already holds for this configuration"
    )
    p.add_argument("--markdown", action="store_true", help="write the summary into BENCHMARKS.md")
    p.add_argument("--benchmarks", type=Path, default=BENCHMARKS, help=argparse.SUPPRESS)
    p.add_argument("--select", action="store_true", help="rebuild the case manifest by the stratified rule")
    p.add_argument("--n", type=int, default=SELECT_N)
    p.add_argument("--seed", type=int, default=SELECT_SEED)
    return p


def make(args: argparse.Namespace, name: str) -> Backend:
    """The backend ``name`` from the command line's connection settings."""
    from pydantic import SecretStr

    key = os.environ.get(args.api_key_env) if args.api_key_env else None
    if args.api_key_env and not key:
        raise BackendError("config", f"--api-key-env {args.api_key_env}: the variable is not set")
    if name == "openai" and key is None and not args.openai_base_url:
        key = os.environ.get("OPENAI_API_KEY")
    token = os.environ.get("GITHUB_TOKEN") or os.environ.get("GH_TOKEN")
    settings = BackendSettings(
        backend=name,  # type: ignore[arg-type]
        model=args.model if name != "rules" else None,
        openai_base_url=args.openai_base_url if name == "openai" else None,
        openai_api_key=SecretStr(key) if key else None,
        github_token=SecretStr(token) if token and name == "github-models" else None,
        aws_region=args.aws_region,
        timeout_s=args.llm_timeout,
    )
    return make_backend(settings, repo=None)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the bench; 0 on success, 2 on unusable input (no corpus, bad settings)."""
    args = build_parser().parse_args(argv)
    try:
        cases = load_cases(args.corpus or default_corpus(), sources=(CLASSIFY_SOURCE,))
    except CorpusError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    corpus = {c.case_id: c for c in cases}
    if args.select:
        chosen = select_cases(cases, n=args.n, seed=args.seed)
        doc = {
            "rule": rule_text(),
            "n": args.n,
            "seed": args.seed,
            "cases": chosen,
        }
        args.cases.parent.mkdir(parents=True, exist_ok=True)
        args.cases.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"{len(chosen)} cases written to {args.cases}", file=sys.stderr)
        return 0
    entries = spread(load_manifest(args.cases), args.spread)[: args.limit]
    options = AnalyzeOptions(lenient_edits=not args.no_fuzzy, repair_round=not args.no_repair)
    names = [args.backend] + ([] if args.backend == "rules" or args.no_baseline else ["rules"])
    previous: dict = {}
    if args.resume and args.out and args.out.is_file():
        previous = json.loads(args.out.read_text(encoding="utf-8"))
    doc: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "cases": str(args.cases.name),
        "runs": dict(previous.get("runs", {})),  # other configurations' runs stay in the file
    }
    runs = []
    for name in names:
        try:
            backend = make(args, name)
        except BackendError as err:
            print(f"error: {name} backend: {err}", file=sys.stderr)
            return 2
        key = config_key(args, name)
        done = {
            r["case_id"]: r
            for r in previous.get("runs", {}).get(key, {}).get("results", [])
            if not r["error"]
        }
        meta = {
            "backend": name,
            "model": getattr(backend, "model", None) or getattr(backend, "model_id", None),
            "endpoint": endpoint_kind(args) if name == args.backend else "rules (offline)",
            "fuzzy": not args.no_fuzzy,
            "repair": not args.no_repair,
        }

        def save(results: list[dict], key: str = key, meta: dict = meta) -> None:
            doc["runs"][key] = {**meta, "results": results, "summary": summarise(results)}
            if args.out is not None:
                _write_json(args.out, doc)

        results = run_set(entries, corpus, backend, options, done=done, save=save, label=name)
        save(results)
        label = name if name == "rules" else f"{name}: {meta['model']}"
        if not meta["fuzzy"] or not meta["repair"]:
            label += (
                " ("
                + ", ".join(
                    w for w, on in (("no fuzzy", not meta["fuzzy"]), ("no repair", not meta["repair"])) if on
                )
                + ")"
            )
        runs.append({"label": label, "summary": summarise(results), **meta})
    table = render(runs)
    print(table)
    if args.markdown:
        lines = [
            f"Run {doc['date']} on {len(entries)} cases of `bench/cases/{args.cases.name}` "
            "(BugSwarm logs of the corpus, trees generated at run time; bench/cases/README.md).",
            "",
        ]
        for r in runs:
            lines.append(f"- {r['label']}: endpoint {r['endpoint']}, model `{r['model'] or '-'}`")
        command = shown_command(list(argv if argv is not None else sys.argv[1:]))
        lines += ["", f"Command: `{command.strip()}`", "", table]
        update_benchmarks(args.benchmarks, runs[0]["label"], f"### {runs[0]['label']}\n\n" + "\n".join(lines))
    return 0


def quick_floor(entries: Iterable[dict] | None = None) -> tuple[bool, str]:
    """The ``bench/run.py --quick`` floor: every case of the manifest builds its tree, its real fix
    applies there, and every diff the rules backend proposes applies. Returns (held, one line)."""
    cases = load_cases(default_corpus(), sources=(CLASSIFY_SOURCE,))
    corpus = {c.case_id: c for c in cases}
    entries = list(entries if entries is not None else load_manifest())
    backend = make_backend(BackendSettings(backend="rules"), repo=None)
    results = [run_case(e, corpus, backend, AnalyzeOptions()) for e in entries]
    s = summarise(results and [asdict(r) for r in results])
    held = (
        s["cases"] >= 20
        and s["trees_built"] == s["cases"]
        and s["real_fix_applies"] == s["cases"]
        and s["diffs_apply"] == s["diffs"]
        and not s["errors"]
    )
    line = (
        f"{s['cases']} cases, {s['trees_built']} trees built, real fix applies on {s['real_fix_applies']}, "
        f"rules diffs apply {s['diffs_apply']}/{s['diffs']}, file match {s['file_match']}, "
        f"{s['seconds_total']:.1f} s in the engine"
    )
    return held, line


if __name__ == "__main__":
    raise SystemExit(main())
