"""Localization on the BugSwarm dissection cases: does the context reach a file the fix changed?

    python -m bench.localization [--corpus DIR] [--misses]

For every BugSwarm case (a failed Travis CI job log, its manual failure category and the
developer's fail→pass diff ``fix.diff``) the pipeline runs as the engine runs it:
``extract(log, max_tokens=1500)`` → ``classify(blocks)`` → ``context.referenced_files(blocks)``
and ``context.gather(blocks, category=..., max_bytes=24_000)`` (the engine's defaults). Four
figures per case, reported per BugSwarm category, overall, and as the macro average over
repositories (two repositories hold 11 of the 90 cases each; the macro average keeps them from
deciding the figure):

(a) ``blocks``  — :func:`~ci_healer.context.referenced_files` of the extracted blocks names a fix file;
(b) ``context`` — the windows of :func:`~ci_healer.context.gather` include a fix file;
(c) ``log``     — the whole log names a fix file (the ceiling of any localization from the log):
    a path token of the log ends with the file's repository path, or is a tail of it of at least
    two components (a path relative to a module folder), or, for JVM and Python sources,
    the log names its fully qualified class / dotted module name (``com.acme.FooTest``,
    ``pkg.tests.test_mod``), or a stack frame names its file (``(FooTest.java:12)``);
(d) ``context | log`` — (b) among the cases where (c) holds.

A *fix file* is a file the diff modifies or deletes: only those exist at the failing commit
(a file the fix adds cannot be sent as context); a case whose fix only adds files misses all four.

**Limit: a stand-in repository tree.** The corpus holds no repository checkout, so each case gets
a stand-in tree built from what is known, and only *which* files reach the context is measured:

* the fix files (from ``fix.diff``, parsed with unidiff);
* every path the whole log names that looks like a repository path, so that such files compete
  for the context budget as they would in a real tree: a path token with a folder, mapped the way
  the context step maps it (CI workspace prefix stripped; ``site-packages``, the JDK, system
  roots, absolute paths outside the workspace dropped; a path that is the tail of a fix file's
  path, printed relative to a module folder, is that fix file);
* the project's own JVM classes and Python modules the log names by name (a fully qualified name
  that shares its first two components with a fix file's package, or its top-level package with
  a fix file's Python package), placed under that fix file's source root (``src/test/java`` for a
  name ending in ``Test``/``Tests``/``IT``);
* ``__init__.py`` in every folder of a Python file, and the usual manifests when the log suggests
  them (``pom.xml`` for Maven, ``build.gradle`` for Gradle, ``setup.py`` and ``requirements.txt``
  for pip / Python, ``package.json`` for npm).

File contents are stand-in text of 200 lines of about 60 characters, real lengths being unknown.
What this misses: other repository files whose names collide with the ones above (a real tree may
resolve a bare name to a different file), real file lengths (long files give narrower shares of
the budget), and repository files the log names only by a bare file name without a folder.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from unidiff import PatchSet
from unidiff.errors import UnidiffParseError

from bench.corpus import CLASSIFY_SOURCE, Case, CorpusError, default_corpus, load_cases
from ci_healer import context as repo_context
from ci_healer.classify import classify
from ci_healer.extract import extract

MAX_TOKENS = 1500
"""``AnalyzeOptions.max_tokens`` default: the block budget the engine extracts with."""
CONTEXT_BYTES = 24_000
"""``AnalyzeOptions.context_bytes`` default: the byte budget of the context step."""
STANDIN_LINES = 200
FIGURES = ("blocks", "context", "log")

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_PATH_TOKEN = re.compile(r"(?:[A-Za-z]:)?[\w.@$~+-]*(?:[/\\][\w.@$~+-]+)+\.[A-Za-z][A-Za-z0-9]{0,9}\b")
_URL_BEFORE = re.compile(r"(?:://|\bjar:|@)\S*$")
_PATH_PREFIX = r"(?<![\w.@$~+-])(?:[\w.@$~+-]*/)*"
_FQN = re.compile(r"\b[a-z][a-z0-9_]*(?:\.[A-Za-z_$][\w$]*){2,}\b")
_JVM_EXT = (".java", ".kt", ".scala", ".groovy")
_JVM_ROOT = re.compile(r"^(?P<root>(?:.*/)?src/(?P<kind>[\w-]+)/(?:java|kotlin|scala|groovy))/(?P<rest>.+)$")
_TEST_CLASS = re.compile(r"(?:Test|Tests|IT|TestCase)$")


# ---------------------------------------------------------------------------------------------
# The fix files and the names a log gives them
# ---------------------------------------------------------------------------------------------


def fix_files(diff_text: str) -> list[str]:
    """Repository paths the fix modifies or deletes (files that exist at the failing commit).

    ``diff_text``: a unified git diff. Returns paths in diff order; an unparsable diff gives
    ``[]``.
    """
    try:
        patch = PatchSet(diff_text)
    except UnidiffParseError:
        return []
    out: list[str] = []
    for pf in patch:
        if pf.is_added_file:
            continue
        path = pf.source_file[2:] if pf.source_file.startswith("a/") else pf.source_file
        if path and path != "/dev/null" and path not in out:
            out.append(path)
    return out


def _jvm_name(path: str) -> tuple[str, str, str] | None:
    """``(source root, kind, fully qualified name)`` of a JVM source path, else ``None``."""
    if not path.endswith(_JVM_EXT):
        return None
    m = _JVM_ROOT.match(path)
    if not m:
        return None
    return m.group("root"), m.group("kind"), m.group("rest").rsplit(".", 1)[0].replace("/", ".")


def _py_module(path: str) -> str | None:
    if not path.endswith(".py"):
        return None
    parts = path[:-3].split("/")
    if parts[0] in ("src", "lib") and len(parts) > 1:
        parts = parts[1:]
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts) if len(parts) >= 2 else None


def log_names_file(log_text: str, path: str) -> bool:
    """Whether the log names the repository file ``path``: the ceiling (c)."""
    if re.search(_PATH_PREFIX + re.escape(path) + r"(?![\w/-])", log_text):
        return True
    parts = path.split("/")
    for k in range(2, len(parts)):  # a path relative to a module folder: a suffix of the path
        if re.search(r"(?<![\w.@$~+/-])" + re.escape("/".join(parts[-k:])) + r"(?![\w/-])", log_text):
            return True
    jvm = _jvm_name(path)
    if jvm:
        fqn = jvm[2]
        simple = fqn.rsplit(".", 1)[-1]
        if re.search(rf"(?<![\w$.]){re.escape(fqn)}(?![\w$])", log_text):
            return True
        if re.search(rf"\({re.escape(simple)}\.\w+:\d+\)", log_text):
            return True
    module = _py_module(path)
    if module and re.search(rf"(?<![\w.]){re.escape(module)}(?![\w])", log_text):
        return True
    return False


# ---------------------------------------------------------------------------------------------
# The stand-in tree
# ---------------------------------------------------------------------------------------------


def _standin_text(path: str) -> str:
    return "".join(f"{i:4d} stand-in line of {path[-30:]:<30} {'.' * 12}\n" for i in range(1, STANDIN_LINES + 1))


def log_paths(log_text: str) -> list[str]:
    """Repository-looking paths of a whole log, mapped as the context step maps them."""
    found: dict[str, None] = {}
    for line in log_text.split("\n"):
        line = _ANSI.sub("", line)
        for m in _PATH_TOKEN.finditer(line):
            if _URL_BEFORE.search(line[: m.start()]) or "://" in m.group(0):
                continue  # a URL or a jar entry, not a file of the repository
            raw = m.group(0).replace("\\", "/")
            workspace = any(p.match(re.sub(r"^[A-Za-z]:", "", raw)) for p in repo_context._WORKSPACE_PREFIXES)
            if raw.startswith("/") and not workspace:
                continue  # absolute, outside the CI workspace: not a repository file
            parts = repo_context._split_path(raw)
            if not parts or len(parts) < 2 and not workspace:
                continue
            if any(p.startswith(".") and p not in (".github",) for p in parts[:-1]):
                continue
            found["/".join(parts)] = None
    return list(found)


def _manifests(log_text: str) -> list[str]:
    out = []
    if re.search(r"\bmvn\b|\[INFO\] BUILD|maven", log_text, re.IGNORECASE):
        out.append("pom.xml")
    if re.search(r"\bgradle", log_text, re.IGNORECASE):
        out.append("build.gradle")
    if re.search(r"\bpip install|\bpython setup\.py|\bpytest\b|\bnosetests\b", log_text):
        out += ["setup.py", "requirements.txt"]
    if re.search(r"\bnpm (?:install|ci|test|run)\b", log_text):
        out.append("package.json")
    return out


def standin_tree(log_text: str, fixes: Sequence[str]) -> dict[str, str]:
    """Path → stand-in text of the stand-in tree of one case (see the module docstring)."""
    paths: dict[str, None] = dict.fromkeys(fixes)
    for path in log_paths(log_text):
        # A path relative to a module folder that is the tail of a fix file is that file.
        if not any(f == path or f.endswith("/" + path) for f in fixes):
            paths[path] = None
    roots = [j for j in (_jvm_name(p) for p in fixes) if j]
    for m in _FQN.finditer(log_text):
        name = m.group(0)
        for root, kind, fqn in roots:
            if name.split(".")[:2] == fqn.split(".")[:2] and name[name.rfind(".") + 1:][:1].isupper():
                cls = name.split("$")[0]
                base = root
                if _TEST_CLASS.search(cls) and kind == "main":
                    base = root.replace("src/main/", "src/test/")
                ext = "." + root.rsplit("/", 1)[-1].replace("kotlin", "kt")
                paths["/".join([base, *cls.split(".")]) + ext] = None
                break
    py_roots = {p.split("/")[0] if not p.startswith("src/") else "src/" + p.split("/")[1] for p in fixes if p.endswith(".py") and "/" in p}
    for m in re.finditer(r"(?<![\w./])([a-z_][a-z0-9_]*(?:\.[a-z_][a-z0-9_]*)+)(?![\w/])", log_text):
        parts = m.group(1).split(".")
        for root in py_roots:
            if parts[0] == root.rsplit("/", 1)[-1] and parts[-1] not in ("py", "txt", "cfg", "toml", "rst", "md"):
                paths["/".join([*root.split("/")[:-1], *parts]) + ".py"] = None
    for manifest in _manifests(log_text):
        paths.setdefault(manifest, None)
    for p in list(paths):
        if p.endswith(".py"):
            parts = p.split("/")
            for depth in range(1, len(parts)):
                folder = parts[:depth]
                if folder[0] in ("tests", "test", "docs", "scripts", "bin", "src") and depth == 1:
                    continue
                paths.setdefault("/".join([*folder, "__init__.py"]), None)
    return {p: ("" if p.endswith("__init__.py") else _standin_text(p)) for p in paths}


class StandinRepo:
    """:class:`~ci_healer.repo.RepoSource` over a stand-in tree (path → text)."""

    def __init__(self, files: dict[str, str], name: str) -> None:
        self.files = files
        self.name = name
        self._paths = sorted(files)

    def read_text(self, path: str) -> str | None:
        return self.files.get(path)

    def entry(self, path: str):  # not used by the context step
        return None

    def list_paths(self) -> list[str]:
        return list(self._paths)


# ---------------------------------------------------------------------------------------------
# The pass over the corpus
# ---------------------------------------------------------------------------------------------


@dataclass
class CaseFigures:
    """The figures of one case; ``sent`` and ``named`` are the paths the context and blocks give."""

    case_id: str
    repository: str
    category: str
    predicted: str
    fixes: list[str]
    blocks: bool
    context: bool
    log: bool
    named: list[str] = field(default_factory=list)
    sent: list[str] = field(default_factory=list)


def evaluate_case(case: Case) -> CaseFigures:
    """Run extract → classify → referenced_files / gather on one case over its stand-in tree."""
    raw = case.log.read_bytes()
    log_text = _ANSI.sub("", raw.decode("utf-8", errors="replace").replace("\r", "\n"))
    diff_path = case.path / "fix.diff"
    diff = diff_path.read_text(encoding="utf-8", errors="replace") if diff_path.is_file() else ""
    fixes = fix_files(diff)
    repo = StandinRepo(standin_tree(log_text, fixes), case.label.get("repository") or case.case_id)
    blocks = extract(case.log, max_tokens=MAX_TOKENS).blocks
    classification = classify(blocks)
    named = [p for p, _ in repo_context.referenced_files(blocks, repo)]
    sent = [f.path for f in repo_context.gather(blocks, repo, category=classification.category, max_bytes=CONTEXT_BYTES)]
    fixset = set(fixes)
    return CaseFigures(
        case_id=case.case_id,
        repository=case.label.get("repository") or "(unknown)",
        category=case.category or "(none)",
        predicted=str(classification.category),
        fixes=fixes,
        blocks=bool(fixset & set(named)),
        context=bool(fixset & set(sent)),
        log=any(log_names_file(log_text, f) for f in fixes),
        named=list(dict.fromkeys(named)),
        sent=list(dict.fromkeys(sent)),
    )


def evaluate(cases: Iterable[Case]) -> list[CaseFigures]:
    """:func:`evaluate_case` of every BugSwarm case of ``cases`` that has a ``fix.diff``."""
    return [evaluate_case(c) for c in cases if c.source == CLASSIFY_SOURCE and (c.path / "fix.diff").is_file()]


def _rates(rows: Sequence[CaseFigures]) -> dict[str, float | int | None]:
    n = len(rows)
    out: dict[str, float | int | None] = {"n": n}
    for fig in FIGURES:
        out[fig] = sum(getattr(r, fig) for r in rows) / n if n else None
    with_log = [r for r in rows if r.log]
    out["n_log"] = len(with_log)
    out["context_given_log"] = sum(r.context for r in with_log) / len(with_log) if with_log else None
    return out


def summarise(rows: Sequence[CaseFigures]) -> dict[str, dict[str, float | int | None]]:
    """Rates per BugSwarm category, ``overall`` and ``macro over repositories``.

    Each value maps ``n``, ``blocks``, ``context``, ``log`` (shares of cases, 0..1),
    ``n_log`` and ``context_given_log`` (share among the ``n_log`` cases where the log names a
    fix file). The macro row averages each repository's rates (``n`` = number of repositories).
    """
    by_cat: dict[str, list[CaseFigures]] = defaultdict(list)
    by_repo: dict[str, list[CaseFigures]] = defaultdict(list)
    for r in rows:
        by_cat[r.category].append(r)
        by_repo[r.repository].append(r)
    table = {cat: _rates(by_cat[cat]) for cat in sorted(by_cat, key=lambda c: (-len(by_cat[c]), c))}
    table["overall"] = _rates(rows)
    per_repo = [_rates(v) for v in by_repo.values()]
    macro: dict[str, float | int | None] = {"n": len(per_repo)}
    for key in (*FIGURES, "context_given_log"):
        vals = [p[key] for p in per_repo if p[key] is not None]
        macro[key] = sum(vals) / len(vals) if vals else None  # type: ignore[arg-type]
    macro["n_log"] = sum(1 for p in per_repo if p["n_log"])
    table["macro over repositories"] = macro
    return table


def _pct(v: float | int | None) -> str:
    return "n/a" if v is None else f"{100 * v:.0f}%"


def render(table: dict[str, dict[str, float | int | None]]) -> str:
    """A markdown table of :func:`summarise`."""
    lines = [
        "| category | n | (a) blocks name a fix file | (b) context has a fix file | (c) log names a fix file | (d) (b) where (c) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, r in table.items():
        lines.append(
            f"| {name} | {r['n']} | {_pct(r['blocks'])} | {_pct(r['context'])} | {_pct(r['log'])} "
            f"| {_pct(r['context_given_log'])} of {r['n_log']} |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: print the table; ``--misses`` also lists the cases where (c) holds but (b) not."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--corpus", type=Path, default=None)
    parser.add_argument("--misses", action="store_true")
    args = parser.parse_args(argv)
    try:
        cases = load_cases(args.corpus or default_corpus(), sources=(CLASSIFY_SOURCE,))
    except CorpusError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    rows = evaluate(cases)
    print(render(summarise(rows)))
    if args.misses:
        for r in rows:
            if r.log and not r.context:
                print(f"\n{r.case_id} [{r.category} -> {r.predicted}] fixes={r.fixes[:6]}\n  named={r.named[:8]}\n  sent={r.sent[:8]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
