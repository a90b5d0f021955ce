"""Localization on the BugSwarm dissection cases: does the context reach a file the fix changed?

    python -m bench.localization [--corpus DIR] [--misses] [--git-dir OWNER/NAME=DIR ...]

For every BugSwarm case (a failed Travis CI job log, its manual failure category and the
developer's fail→pass diff ``fix.diff``) the pipeline runs as the engine runs it:
``extract(log, max_tokens=1500)`` → ``classify(blocks)`` → ``context.referenced_files(blocks)``
and ``context.gather(blocks, category=..., max_bytes=24_000)`` (the engine's defaults). Four
figures per case, reported per BugSwarm category, overall, and as the macro average over
repositories (two repositories hold 11 of the 90 cases each; the macro average keeps them from
deciding the figure):

(a) ``blocks``  — :func:`~ci_healer.context.referenced_files` of the extracted blocks names a fix file;
(b) ``context`` — the windows of :func:`~ci_healer.context.gather` include a fix file;
(c) ``log``     — the whole log names a fix file (the ceiling of localization from what the log
    names; the naming-convention rules of the context step — a test's unit under test, a module's
    build file after a missing package — can reach fix files beyond it):
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
  for the context budget as they would in a real tree: a path token with a folder, mapped the
  way the context step maps it (CI workspace prefix stripped; ``site-packages``, the JDK, system
  roots, absolute paths outside the workspace and build output such as ``target/``, ``build/``,
  ``*.jar`` dropped; a path printed relative to a module folder that is the tail of a fix file's
  path is that fix file);
* the project's own JVM classes and Python modules the log names by name (a fully qualified name
  that shares its first two components with a fix file's package, or its top-level package with
  a fix file's Python package), placed under that fix file's source root (``src/test/java`` for a
  name ending in ``Test``/``Tests``/``IT``);
* the unit under test of every test file of the tree (``FooTest`` → ``src/main/.../Foo``,
  ``pkg/tests/test_foo.py`` → ``pkg/foo.py``): a real tree holds it, and the context step adds it
  after a failing test;
* an empty ``__init__.py`` in every folder of a Python file, and the usual manifests when the log
  suggests them (``pom.xml`` for Maven, ``build.gradle`` for Gradle, ``setup.py`` and
  ``requirements.txt`` for pip / Python, ``package.json`` for npm), with the ``pom.xml`` /
  ``build.gradle`` of every module folder (the folder above a ``src/``) of the tree.

File contents are stand-in text of 200 lines of about 60 characters, real lengths being unknown.
What the stand-in misses: other repository files whose names collide with the ones above (a real
tree may resolve a bare name to a different file), real file lengths (long files give narrower
shares of the budget), repository files the log names only by a bare file name without a folder,
and file contents (a Maven module matched by the ``<artifactId>`` of its ``pom.xml``).

``--git-dir`` checks the stand-in against real trees: the cases of a repository with a local
clone are also run on the tree of the commit the job checked out (``git checkout -qf <sha>`` in
the Travis log), read with ``git ls-tree`` / ``git cat-file``.
"""

from __future__ import annotations

import argparse
import re
import subprocess
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
_BUILD_OUTPUT = frozenset({"target", "build", "dist", "out", "bin", "classes", "test-classes", "__pycache__"})
_BINARY = (
    ".jar",
    ".war",
    ".ear",
    ".class",
    ".pom",
    ".so",
    ".o",
    ".a",
    ".pyc",
    ".whl",
    ".egg",
    ".tar.gz",
    ".zip",
)
_STANDIN_TEST = re.compile(r"^([A-Z]\w*?)(?:Tests?|IT|TestCase)$")
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
    return bool(module and re.search(rf"(?<![\w.]){re.escape(module)}(?![\w])", log_text))


# ---------------------------------------------------------------------------------------------
# The stand-in tree
# ---------------------------------------------------------------------------------------------


def _standin_text(path: str) -> str:
    return "".join(
        f"{i:4d} stand-in line of {path[-30:]:<30} {'.' * 12}\n" for i in range(1, STANDIN_LINES + 1)
    )


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
            if not parts or (len(parts) < 2 and not workspace):
                continue
            if any(p.startswith(".") and p not in (".github",) for p in parts[:-1]) or parts[0] == "~":
                continue
            if any(p in _BUILD_OUTPUT for p in parts[:-1]) or parts[-1].endswith(_BINARY):
                continue  # build output, not tracked by git
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
            if name.split(".")[:2] == fqn.split(".")[:2] and name[name.rfind(".") + 1 :][:1].isupper():
                cls = name.split("$")[0]
                base = root
                if _TEST_CLASS.search(cls) and kind == "main":
                    base = root.replace("src/main/", "src/test/")
                ext = "." + root.rsplit("/", 1)[-1].replace("kotlin", "kt")
                paths["/".join([base, *cls.split(".")]) + ext] = None
                break
    for path in list(paths):  # a real tree holds the unit each named test class tests
        jvm = _jvm_name(path)
        m = _STANDIN_TEST.match(jvm[2].rsplit(".", 1)[-1]) if jvm else None
        if jvm and m and "/src/test/" in "/" + jvm[0] + "/":
            unit = [*jvm[2].rsplit(".", 1)[0].split("."), m.group(1)]
            main_root = ("/" + jvm[0]).replace("/src/test/", "/src/main/").lstrip("/")
            paths.setdefault("/".join([main_root, *unit]) + path[path.rfind(".") :], None)
        folder, _, name = path.rpartition("/")
        if (
            name.startswith("test_")
            and name.endswith(".py")
            and folder.rsplit("/", 1)[-1] in ("tests", "test")
        ):
            parent = folder.rpartition("/")[0]
            paths.setdefault("/".join(p for p in (parent, name[len("test_") :]) if p), None)
    py_roots = {
        p.split("/")[0] if not p.startswith("src/") else "src/" + p.split("/")[1]
        for p in fixes
        if p.endswith(".py") and "/" in p
    }
    for m in re.finditer(r"(?<![\w./])([a-z_][a-z0-9_]*(?:\.[a-z_][a-z0-9_]*)+)(?![\w/])", log_text):
        parts = m.group(1).split(".")
        for root in py_roots:
            if parts[0] == root.rsplit("/", 1)[-1] and parts[-1] not in (
                "py",
                "txt",
                "cfg",
                "toml",
                "rst",
                "md",
            ):
                paths["/".join([*root.split("/")[:-1], *parts]) + ".py"] = None
    for manifest in _manifests(log_text):
        paths.setdefault(manifest, None)
        if manifest in ("pom.xml", "build.gradle"):  # and each module's own build file
            for p in list(paths):
                module = p.split("/src/", 1)[0] if "/src/" in p else None
                if module:
                    paths.setdefault(f"{module}/{manifest}", None)
    real = set(paths)
    for p in list(paths):
        if p.endswith(".py"):
            parts = p.split("/")
            for depth in range(1, len(parts)):
                folder = parts[:depth]
                if folder[0] in ("tests", "test", "docs", "scripts", "bin", "src") and depth == 1:
                    continue
                paths.setdefault("/".join([*folder, "__init__.py"]), None)
    return {p: (_standin_text(p) if p in real else "") for p in paths}


def _preimage(pf, standin: str) -> str | None:
    """The text of one modified or deleted file of a fix diff that its hunks apply to: the hunks'
    context and removed lines at their old line numbers, stand-in lines between them; ``None``
    for a binary section. A last hunk with fewer than three trailing context lines ends the file
    there (``git apply`` anchors such a hunk at the end of the file)."""
    if pf.is_binary_file:
        return None
    lines = standin.split("\n")[:-1] if standin else []
    hunks = list(pf)
    if pf.is_removed_file:
        lines = []
    end_at: int | None = None
    no_newline = False
    for hunk in hunks:
        last_source = 0
        for ln in hunk:
            if ln.source_line_no is None:
                if ln.line_type == "\\" and last_source:
                    no_newline = True
                continue
            while len(lines) < ln.source_line_no:
                lines.append(f"{len(lines) + 1:4d} stand-in line {'.' * 40}")
            lines[ln.source_line_no - 1] = ln.value.rstrip("\n")
            last_source = ln.source_line_no
        trailing = 0
        for ln in reversed(list(hunk)):
            if ln.is_context:
                trailing += 1
            elif ln.source_line_no is not None or ln.is_added:
                break
        if hunk is hunks[-1] and (trailing < 3 or pf.is_removed_file):
            end_at = hunk.source_start + hunk.source_length - 1
    if end_at is not None:
        lines = lines[:end_at]
    text = "\n".join(lines)
    return text if no_newline and end_at is not None else (text + "\n" if lines else "")


def case_tree(log_text: str, diff_text: str) -> dict[str, str]:
    """The stand-in tree of :func:`standin_tree` in which the developer's fix applies: each file
    the fix modifies or deletes holds the fix's context and removed lines at their line numbers
    (:func:`_preimage`), so ``git apply --check`` of ``fix.diff`` and of a proposal that quotes
    those lines can be tested. Files of binary sections stay stand-in text. Path → text."""
    fixes = fix_files(diff_text)
    tree = standin_tree(log_text, fixes)
    try:
        patch = PatchSet(diff_text)
    except UnidiffParseError:
        return tree
    for pf in patch:
        if pf.is_added_file:
            continue
        path = pf.source_file[2:] if pf.source_file.startswith("a/") else pf.source_file
        text = _preimage(pf, tree.get(path, ""))
        if text is not None:
            tree[path] = text
    return tree


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


class GitTreeRepo:
    """:class:`~ci_healer.repo.RepoSource` over one commit of a local git repository (read-only).

    Used to check the stand-in tree against the real tree at the failing commit; reads with
    ``git ls-tree`` and ``git cat-file``, never checks anything out.
    """

    def __init__(self, git_dir: Path, commit: str, name: str) -> None:
        self.git_dir, self.commit, self.name = git_dir, commit, name
        out = subprocess.run(
            ["git", f"--git-dir={git_dir}", "ls-tree", "-r", "--name-only", "-z", commit],
            capture_output=True,
            check=True,
        ).stdout.decode("utf-8", errors="replace")
        self._paths = sorted(p for p in out.split("\0") if p)
        self._set = set(self._paths)

    def read_text(self, path: str) -> str | None:
        if path not in self._set:
            return None
        res = subprocess.run(
            ["git", f"--git-dir={self.git_dir}", "cat-file", "blob", f"{self.commit}:{path}"],
            capture_output=True,
        )
        try:
            return res.stdout.decode("utf-8") if res.returncode == 0 else None
        except UnicodeDecodeError:
            return None

    def entry(self, path: str):  # not used by the context step
        return None

    def list_paths(self) -> list[str]:
        return list(self._paths)


_CHECKOUT = re.compile(r"git checkout -qf ([0-9a-f]{40})")


def failing_commit(log_text: str) -> str | None:
    """The commit a Travis CI job checked out (``git checkout -qf <sha>``), else ``None``."""
    m = _CHECKOUT.search(log_text)
    return m.group(1) if m else None


def evaluate_case(case: Case, repo_source=None) -> CaseFigures:
    """Run extract → classify → referenced_files / gather on one case over its stand-in tree.

    ``repo_source``: a :class:`~ci_healer.repo.RepoSource` to use instead of the stand-in tree
    (the real tree at the failing commit, to validate the stand-in).
    """
    raw = case.log.read_bytes()
    log_text = _ANSI.sub("", raw.decode("utf-8", errors="replace").replace("\r", "\n"))
    diff_path = case.path / "fix.diff"
    diff = diff_path.read_text(encoding="utf-8", errors="replace") if diff_path.is_file() else ""
    fixes = fix_files(diff)
    repo = repo_source or StandinRepo(
        standin_tree(log_text, fixes), case.label.get("repository") or case.case_id
    )
    blocks = extract(case.log, max_tokens=MAX_TOKENS).blocks
    classification = classify(blocks)
    named = [p for p, _ in repo_context.referenced_files(blocks, repo)]
    sent = [
        f.path
        for f in repo_context.gather(blocks, repo, category=classification.category, max_bytes=CONTEXT_BYTES)
    ]
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
    return [
        evaluate_case(c) for c in cases if c.source == CLASSIFY_SOURCE and (c.path / "fix.diff").is_file()
    ]


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


def compare_with_real_trees(cases: Sequence[Case], git_dirs: dict[str, str]) -> int:
    """Print, per case of the given repositories, the figures on the stand-in and on the real tree."""
    print("| case | fix files | (a) stand-in | (a) real | (b) stand-in | (b) real | sent (real tree) |")
    print("|---|---:|---|---|---|---|---|")
    for case in cases:
        git_dir = git_dirs.get(case.label.get("repository") or "")
        if not git_dir or case.source != CLASSIFY_SOURCE:
            continue
        commit = failing_commit(case.log.read_bytes().decode("utf-8", errors="replace"))
        try:
            real_repo = GitTreeRepo(Path(git_dir), commit, case.label["repository"]) if commit else None
        except subprocess.CalledProcessError:
            real_repo = None
        if real_repo is None:
            print(f"| {case.case_id} | failing commit not in the clone | | | | | |")
            continue
        stand, real = evaluate_case(case), evaluate_case(case, real_repo)
        yes = {True: "yes", False: "no"}
        print(
            f"| {case.case_id} | {len(real.fixes)} | {yes[stand.blocks]} | {yes[real.blocks]} | {yes[stand.context]} "
            f"| {yes[real.context]} | {', '.join(real.sent[:5])} |"
        )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: print the table; ``--misses`` also lists the cases where (c) holds but (b) not."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--corpus", type=Path, default=None)
    parser.add_argument("--misses", action="store_true")
    parser.add_argument(
        "--git-dir",
        action="append",
        default=[],
        metavar="OWNER/NAME=DIR",
        help="a local clone of a case's repository: its cases are also run on the real tree at the failing commit",
    )
    args = parser.parse_args(argv)
    try:
        cases = load_cases(args.corpus or default_corpus(), sources=(CLASSIFY_SOURCE,))
    except CorpusError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.git_dir:
        return compare_with_real_trees(cases, dict(item.split("=", 1) for item in args.git_dir))
    rows = evaluate(cases)
    print(render(summarise(rows)))
    if args.misses:
        for r in rows:
            if not r.context:
                print("(log does not name a fix file)" if not r.log else "", end="")
                print(
                    f"\n{r.case_id} [{r.category} -> {r.predicted}] fixes={r.fixes[:6]}\n  named={r.named[:8]}\n  sent={r.sent[:8]}"
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
