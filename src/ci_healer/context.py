"""Repository context for a failure: which files the failure blocks name, and windows of them.

A failure block names files the way the tool that failed prints them: runner-absolute paths
(``/home/runner/work/<repo>/<repo>/src/x.py``, ``D:\\a\\<repo>\\<repo>\\src\\x.py``), paths relative
to the tool's working directory (``tests/test_x.py:12: in test_y``), bare file names with a package
(Java ``at com.acme.Foo.bar(Foo.java:42)``) or just a file name (``foo.c:10:2: error``). Every such
reference is resolved against the repository's own file list at the failing commit; anything that
is not a repository file (the standard library, ``site-packages``, ``node_modules``, the JDK) is
dropped. Nothing here reads the file system or the network directly: all reads go through a
:class:`~ci_healer.repo.RepoSource`.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from ci_healer.models import Block, Category, ContextFile
from ci_healer.repo import RepoSource

# ---------------------------------------------------------------------------------------------
# Dependency manifests
# ---------------------------------------------------------------------------------------------

_MANIFEST_NAMES = frozenset(
    {
        "requirements.txt",
        "pyproject.toml",
        "setup.cfg",
        "setup.py",
        "Pipfile",
        "environment.yml",
        "package.json",
        "go.mod",
        "Cargo.toml",
        "pom.xml",
        "build.gradle",
        "build.gradle.kts",
        "Gemfile",
        "composer.json",
    }
)
_REQUIREMENTS_NAME = re.compile(r"^(?:.*requirements.*|constraints.*)\.(?:txt|in)$", re.IGNORECASE)
_LOCK_NAMES = re.compile(r"(?:\.lock|-lock\.json|-lock\.yaml|^go\.sum|^yarn\.lock)$", re.IGNORECASE)
_VENDORED = frozenset({"node_modules", "vendor", "third_party", "site-packages", ".venv", "venv", ".tox"})


def _own_is_manifest(path: str) -> bool:
    parts = path.split("/")
    name = parts[-1]
    if name in _MANIFEST_NAMES or _REQUIREMENTS_NAME.match(name):
        return True
    # requirements/base.txt, requirements/dev.txt ...
    return len(parts) >= 2 and parts[-2].lower() == "requirements" and name.endswith((".txt", ".in"))


def _is_manifest(path: str) -> bool:
    """Dependency manifest predicate: ``ci_healer.risk.is_dependency_manifest`` when available.

    Lock files count as manifests for the risk badge but are useless as model context (large,
    generated), so they are excluded here either way.
    """
    name = path.rsplit("/", 1)[-1]
    if _LOCK_NAMES.search(name):
        return False
    try:
        from ci_healer.risk import is_dependency_manifest  # written alongside; optional here
    except ImportError:
        return _own_is_manifest(path)
    try:
        return bool(is_dependency_manifest(path)) or _own_is_manifest(path)
    except Exception:  # a broken predicate must not break context gathering
        return _own_is_manifest(path)


def find_manifests(repo: RepoSource) -> list[str]:
    """Repository paths of dependency manifests, shallowest first, then alphabetical.

    Manifests: ``requirements*.txt`` (and ``requirements/*.txt``), ``pyproject.toml``,
    ``setup.cfg``, ``setup.py``, ``Pipfile``, ``package.json``, ``go.mod``, ``Cargo.toml``,
    ``pom.xml``, ``build.gradle(.kts)``, ``Gemfile``, ``composer.json``, ``environment.yml``.
    Lock files and vendored copies (``node_modules/``, ``vendor/``, ``third_party/``) are left out.
    """
    found = [
        p
        for p in repo.list_paths()
        if _is_manifest(p) and not any(part in _VENDORED for part in p.split("/")[:-1])
    ]
    return sorted(found, key=lambda p: (p.count("/"), p))


# ---------------------------------------------------------------------------------------------
# The project's own Python packages
# ---------------------------------------------------------------------------------------------

_IDENT = re.compile(r"^[A-Za-z_]\w*$")
_QUOTED = re.compile(r"""['"]([\w.\-]+)['"]""")


def _normalise_import(name: str) -> str:
    return re.sub(r"[-.]+", "_", name.strip()).lower()


def project_packages(repo: RepoSource) -> list[str]:
    """Import names of the project's own Python packages and modules, sorted.

    Sources, all read from the repository (never executed): top-level package directories (a
    folder with ``__init__.py`` whose parent has none, at most three folders deep), the ``src/``
    layout (``src/<name>/...`` with or without ``__init__.py``, ``src/<name>.py``), single-module
    files at the root (``<name>.py``, except tooling scripts such as ``setup.py``, ``conftest.py``,
    ``noxfile.py``), ``[project].name`` and ``[tool.poetry].name`` of
    ``pyproject.toml`` normalised to an import name (``my-proj`` → ``my_proj``), poetry
    ``packages = [{include = ...}]``, and ``packages=`` / ``py_modules=`` / ``name=`` literals of
    ``setup.py`` / ``setup.cfg``.
    """
    paths = repo.list_paths()
    pathset = set(paths)
    names: set[str] = set()
    for path in paths:
        parts = path.split("/")
        if parts[-1] == "__init__.py" and 2 <= len(parts) <= 4:
            parent_init = "/".join(parts[:-2] + ["__init__.py"])
            if len(parts) == 2 or parent_init not in pathset:
                names.add(parts[-2])
        if parts[0] == "src" and len(parts) >= 3 and parts[-1].endswith(".py"):
            names.add(parts[1])
        if len(parts) == 2 and parts[0] == "src" and parts[1].endswith(".py"):
            names.add(parts[1][:-3])
        if len(parts) == 1 and parts[0].endswith(".py") and parts[0][:-3] not in _NOT_MODULES:
            names.add(parts[0][:-3])

    pyproject = repo.read_text("pyproject.toml")
    if pyproject:
        try:
            data = tomllib.loads(pyproject)
        except tomllib.TOMLDecodeError:
            data = {}
        project = data.get("project") if isinstance(data.get("project"), dict) else {}
        poetry = data.get("tool", {}).get("poetry", {}) if isinstance(data.get("tool"), dict) else {}
        for table in (project, poetry):
            if isinstance(table, dict) and isinstance(table.get("name"), str):
                names.add(_normalise_import(table["name"]))
        if isinstance(poetry, dict):
            for item in poetry.get("packages", []) or []:
                if isinstance(item, dict) and isinstance(item.get("include"), str):
                    names.add(item["include"].split("/")[0].split(".")[0])

    for setup_file in ("setup.py", "setup.cfg"):
        text = repo.read_text(setup_file)
        if not text:
            continue
        for key in ("packages", "py_modules"):
            for m in re.finditer(rf"\b{key}\s*=\s*\[([^\]]*)\]", text):
                names.update(v.split(".")[0] for v in _QUOTED.findall(m.group(1)))
            # setup.cfg: "packages =" followed by indented lines
            for m in re.finditer(rf"^{key}\s*=[ \t]*((?:\n[ \t]+\S.*)+)", text, re.MULTILINE):
                names.update(v.strip().split(".")[0] for v in m.group(1).split("\n") if v.strip())
        m = re.search(r"""\bname\s*=\s*['"]([\w.\-]+)['"]""", text) or re.search(
            r"^name\s*=\s*([\w.\-]+)\s*$", text, re.MULTILINE
        )
        if m:
            names.add(_normalise_import(m.group(1)))
    return sorted(n for n in names if _IDENT.match(n))


# ---------------------------------------------------------------------------------------------
# File references in failure blocks
# ---------------------------------------------------------------------------------------------

_TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z ?")
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\[(?:\d{1,3}(?:;\d{1,3})*)?m")

# A path: optional drive, then path characters, ending in a file name with a letter-first extension.
_PATH = r"(?:file://)?(?:[A-Za-z]:)?[\w.+@~/\\$-]*?[\w+@$-]+\.[A-Za-z][A-Za-z0-9]{0,9}"
_PY_FRAME = re.compile(r'File "(?P<path>[^"]+)", line (?P<line>\d+)')
_JAVA_FRAME = re.compile(
    r"\bat\s+(?P<qual>[\w$.]+)\.(?P<method>[\w$<>-]+)\((?P<file>[\w$-]+\.(?:java|kt|kts|scala|groovy|clj)):(?P<line>\d+)\)"
)
_MAVEN = re.compile(rf"(?P<path>{_PATH}):\[(?P<line>\d+),\d+\]")
_PAREN = re.compile(rf"(?P<path>{_PATH})\((?P<line>\d+)(?:,\d+)?\)")
_COLON = re.compile(rf"(?P<path>{_PATH}):(?P<line>\d+)\b(?!\.\d)")
_PYTEST_ID = re.compile(rf"(?P<path>{_PATH})::\w")
_IMPORT_TEST_MODULE = re.compile(r"(?:ImportError while importing test module|ERROR collecting) '?(?P<path>[^'\s]+\.py)")
_PYTEST_TB_TAIL = re.compile(r"^:\s*(?:$|in\s+\S|[\w.]*(?:Error|Exception|Exit|Failed|Warning|Interrupt)\b)")

_IGNORED_PARTS = frozenset(
    {
        "site-packages",
        "dist-packages",
        "node_modules",
        ".venv",
        "venv",
        ".tox",
        ".nox",
        "hostedtoolcache",
        ".cargo",
        ".rustup",
        ".m2",
        ".gradle",
        ".pyenv",
        ".nvm",
        "micromamba",
        "miniconda3",
        "conda",
        "__pypackages__",
    }
)
_SYSTEM_ROOTS = re.compile(r"^/(?:usr|opt|Library|System|Applications|snap|nix|etc|proc)/")
_STDLIB_DIR = re.compile(r"^(?:python|pypy)\d(?:\.\d+)?t?$")
_WORKSPACE_PREFIXES = (
    re.compile(r"^/(?:home|Users)/runner/work/[^/]+/[^/]+/"),  # GitHub-hosted Linux / macOS
    re.compile(r"^/a/[^/]+/[^/]+/"),  # GitHub-hosted Windows D:\a\<repo>\<repo>\ (drive stripped)
    re.compile(r"^/__w/[^/]+/[^/]+/"),  # GitHub container jobs
    re.compile(r"^/github/workspace/"),  # Docker container actions
    re.compile(r"^/home/travis/build/[^/]+/[^/]+/"),  # Travis CI
    re.compile(r"^/(?:builds|var/lib/jenkins|var/jenkins_home|home/jenkins)/workspace/[^/]+/"),  # Jenkins
    re.compile(r"^/home/circleci/(?:project|repo)/"),  # CircleCI
)


_SOURCE_ROOT = re.compile(r"(?:^|/)src/(?:main|test|[\w-]+)/(?:java|kotlin|scala|groovy)$|(?:^|/)(?:java|kotlin)$")
_NOT_MODULES = frozenset({"setup", "conftest", "noxfile", "fabfile", "tasks", "manage", "dodo"})


@dataclass(frozen=True)
class _Ref:
    kind: str  # "tb" (outer→inner traceback frame), "frame" (inner→outer), "error", "id"
    raw: str
    line: int | None
    java_package: tuple[str, ...] | None = None


class _PathIndex:
    """Suffix lookup over the repository's file list."""

    def __init__(self, paths: Sequence[str]) -> None:
        self.paths = set(paths)
        self.by_name: dict[str, list[str]] = {}
        for p in paths:
            self.by_name.setdefault(p.rsplit("/", 1)[-1], []).append(p)

    def resolve(self, raw: str) -> str | None:
        parts = _split_path(raw)
        if parts is None:
            return None
        rel = "/".join(parts)
        if rel in self.paths:
            return rel
        best: tuple[int, int, str] | None = None
        for cand in self.by_name.get(parts[-1], ()):
            cparts = cand.split("/")
            k = 0
            while k < min(len(cparts), len(parts)) and cparts[-1 - k] == parts[-1 - k]:
                k += 1
            if k != len(cparts) and k != len(parts):
                continue
            key = (-k, len(cparts), cand)
            if best is None or key < best:
                best = key
        return best[2] if best else None

    def resolve_java(self, package: tuple[str, ...], filename: str) -> str | None:
        want = list(package) + [filename]
        cands = self.by_name.get(filename, [])
        exact = [c for c in cands if c.split("/")[-len(want):] == want]
        if exact:
            # Prefer the conventional source roots (src/main/java, src/test/kotlin, ...) over copies.
            def rank(c: str) -> tuple[bool, int, str]:
                root = "/".join(c.split("/")[: -len(want)])
                return (not _SOURCE_ROOT.search(root), len(c.split("/")), c)

            return min(exact, key=rank)
        return cands[0] if len(cands) == 1 else None


def _split_path(raw: str) -> list[str] | None:
    """Normalise a path as printed in a log to repository-relative components, or ``None``."""
    s = raw.strip().strip("'\"`")
    if s.startswith("file://"):
        s = s[len("file://"):]
    s = s.replace("\\", "/")
    s = re.sub(r"^[A-Za-z]:(?=/)", "", s)  # Windows drive
    if s.startswith(("<", "node:", "internal/")):  # <frozen ...>, Node core modules
        return None
    for prefix in _WORKSPACE_PREFIXES:
        m = prefix.match(s)
        if m:
            s = s[m.end():]
            break
    else:
        if _SYSTEM_ROOTS.match(s):
            return None
    parts = [p for p in s.split("/") if p not in ("", ".")]
    if ".." in parts:
        parts = parts[len(parts) - parts[::-1].index("..") :]
    if not parts or any(p in _IGNORED_PARTS for p in parts):
        return None
    for i, p in enumerate(parts[:-1]):
        if p in ("lib", "lib64", "Lib") and _STDLIB_DIR.match(parts[i + 1]):
            return None
    return parts


def _clean(line: str) -> str:
    return _ANSI.sub("", _TIMESTAMP.sub("", line))


def _block_refs(text: str) -> list[_Ref]:
    """References of one block in order of appearance, each with its kind."""
    refs: list[_Ref] = []
    for raw_line in text.split("\n"):
        line = _clean(raw_line)
        taken: list[tuple[int, int]] = []

        def free(span: tuple[int, int]) -> bool:
            return all(span[1] <= a or span[0] >= b for a, b in taken)

        found: list[tuple[int, _Ref]] = []
        for m in _PY_FRAME.finditer(line):
            taken.append(m.span())
            found.append((m.start(), _Ref("tb", m.group("path"), int(m.group("line")))))
        for m in _JAVA_FRAME.finditer(line):
            if free(m.span()):
                taken.append(m.span())
                package = tuple(m.group("qual").split(".")[:-1])
                found.append((m.start(), _Ref("frame", m.group("file"), int(m.group("line")), package)))
        for pattern in (_MAVEN, _PAREN):
            for m in pattern.finditer(line):
                if free(m.span()):
                    taken.append(m.span())
                    found.append((m.start(), _Ref("error", m.group("path"), int(m.group("line")))))
        for m in _COLON.finditer(line):
            if free(m.span()):
                taken.append(m.span())
                kind = "tb" if _PYTEST_TB_TAIL.match(line[m.end():]) else "error"
                found.append((m.start(), _Ref(kind, m.group("path"), int(m.group("line")))))
        for pattern in (_PYTEST_ID, _IMPORT_TEST_MODULE):
            for m in pattern.finditer(line):
                if free(m.span()):
                    taken.append(m.span())
                    found.append((m.start(), _Ref("id", m.group("path"), None)))
        refs.extend(ref for _, ref in sorted(found, key=lambda item: item[0]))
    return refs


def _causal_order(refs: list[_Ref]) -> list[_Ref]:
    """Reverse each run of traceback frames (printed outermost first) so the innermost leads."""
    out: list[_Ref] = []
    run: list[_Ref] = []
    for ref in refs:
        if ref.kind == "tb":
            run.append(ref)
            continue
        out.extend(reversed(run))
        run = []
        out.append(ref)
    out.extend(reversed(run))
    return out


def referenced_files(blocks: Sequence[Block], repo: RepoSource) -> list[tuple[str, int | None]]:
    """Repository files (and 1-indexed line, or ``None``) named by the failure blocks.

    Returns ``(path, line)`` pairs, most causal first: blocks in the given order; within a block,
    the innermost frame of a Python or pytest traceback first (they print outermost first), Java
    and other stack frames and compiler diagnostics in printed order. Deduplicated on
    ``(path, line)``; a bare mention without a line (``FAILED tests/test_x.py::test_y``) is dropped
    when the same file is also named with a line.

    Recognised shapes: ``File "x.py", line N``; ``path:N[:col]`` (Go, Rust ``--> src/main.rs:4:5``,
    C/C++ ``foo.c:10:2: error``, pytest ``tests/test_x.py:12: in test_y``, ESLint, javac);
    ``path(N,col)`` (TypeScript, MSBuild); Maven ``path:[N,col]``; Java/Kotlin frames
    ``at pkg.Class.method(File.java:N)`` (resolved by package path + file name, else a unique
    file name); pytest node ids ``path::name``. Paths are mapped to repository paths by stripping
    CI workspace prefixes (GitHub Actions Linux/macOS/Windows/container, Travis CI, Jenkins,
    CircleCI) and then choosing the repository path that is the longest suffix match. Paths under
    the standard library, ``site-packages``, ``node_modules``, toolchain caches or system roots,
    and paths that are not repository files, are ignored.
    """
    index = _PathIndex(repo.list_paths())
    ordered: list[tuple[str, int | None]] = []
    seen: set[tuple[str, int | None]] = set()
    for block in blocks:
        for ref in _causal_order(_block_refs(block.text)):
            if ref.java_package is not None:
                path = index.resolve_java(ref.java_package, ref.raw)
            else:
                path = index.resolve(ref.raw)
            if path is None or (path, ref.line) in seen:
                continue
            seen.add((path, ref.line))
            ordered.append((path, ref.line))
    with_line = {p for p, line in ordered if line is not None}
    return [(p, line) for p, line in ordered if line is not None or p not in with_line]


# ---------------------------------------------------------------------------------------------
# Windows of files within a byte budget
# ---------------------------------------------------------------------------------------------


@dataclass
class _Window:
    path: str
    start: int
    end: int
    anchor: int
    reason: str


def _relevant_manifests(repo: RepoSource, named: Sequence[str], limit: int = 4) -> list[str]:
    """Root manifests plus the nearest manifests above each named file, at most ``limit``."""
    manifests = find_manifests(repo)
    by_dir: dict[str, list[str]] = {}
    for m in manifests:
        by_dir.setdefault(m.rsplit("/", 1)[0] if "/" in m else "", []).append(m)
    chosen: list[str] = []
    for path in named:
        parts = path.split("/")[:-1]
        for depth in range(len(parts), 0, -1):
            here = by_dir.get("/".join(parts[:depth]))
            if here:
                chosen.extend(m for m in here if m not in chosen)
                break
    chosen = [m for m in by_dir.get("", []) if m not in chosen] + chosen
    for m in manifests:  # requirements/ folders sit one level down
        if m.startswith("requirements/") and m not in chosen:
            chosen.append(m)
    return chosen[:limit]


def _hunk_anchors(lines: Iterable[int], window: int) -> list[int | None]:
    """Anchor lines covering the changed lines with windows of ``window`` lines either side (one
    anchor per ``window`` lines of a run); ``[None]`` (the head of the file) when none is known."""
    anchors: list[int] = []
    for n in sorted({int(v) for v in lines if int(v) >= 1}):
        if not anchors or n - anchors[-1] > window:
            anchors.append(n)
    return list(anchors) or [None]


def _render(lines: list[str], start: int, end: int) -> str:
    return "\n".join(lines[start - 1 : end]) + "\n"


def gather(
    blocks: Sequence[Block],
    repo: RepoSource,
    *,
    category: Category,
    max_bytes: int = 24_000,
    window: int = 30,
    changed_files: Sequence[str] = (),
    changed_lines: Mapping[str, Iterable[int]] | None = None,
) -> list[ContextFile]:
    """Windows of the repository files a failure names, within ``max_bytes`` of UTF-8 in total.

    For each ``(path, line)`` of :func:`referenced_files` (most causal first), the lines
    ``line - window .. line + window`` (the whole file when it has at most ``2 * window + 1``
    lines; the head of the file when no line is known); overlapping windows of one file are
    merged. When ``category`` is :attr:`Category.DEPENDENCY`, the dependency manifests at the
    root and nearest to the named files come first (``reason="manifest"``), each at most a third
    of the budget. A window that does not fit the remaining budget is narrowed around its line;
    files that cannot be read as UTF-8 text (missing, binary, symlinks, submodules) are skipped.
    ``text`` is the file content as read: redact it before it reaches a model. Never raises on
    unreadable files; ``max_bytes <= 0`` gives an empty list.

    ``changed_files``: repository paths the failing change touched (the files of the pull
    request, or of the pushed commits), in any order. A file that is both changed and named by
    the blocks is the likeliest place of the fix, so its windows rank first, before manifests
    and other named files (``reason="named-in-log"``). Changed files the blocks do not name come
    after every named file, within the same ``max_bytes`` (``reason="changed"``): when
    ``changed_lines`` maps the path to the changed line numbers of the head version (1-indexed,
    the ``+`` side of its hunks), one window of ``window`` lines around each run of changed lines,
    else the head of the file (``2 * window + 1`` lines). Paths that are not readable text at the
    head SHA (deleted files, binaries) are skipped.
    """
    if max_bytes <= 0:
        return []
    window = max(window, 0)
    refs = referenced_files(blocks, repo)
    texts: dict[str, list[str] | None] = {}

    def lines_of(path: str) -> list[str] | None:
        if path not in texts:
            text = repo.read_text(path)
            if text is None:
                texts[path] = None
            else:
                lines = text.split("\n")
                if lines and lines[-1] == "":
                    lines.pop()
                texts[path] = lines
        return texts[path]

    windows: list[_Window] = []

    def add_window(path: str, line: int | None, reason: str) -> None:
        lines = lines_of(path)
        if not lines:
            return
        n = len(lines)
        anchor = line if line is not None and 1 <= line <= n else 1
        if n <= 2 * window + 1:
            start, end = 1, n
        elif line is None or not 1 <= line <= n:
            start, end = 1, 2 * window + 1
        else:
            start, end = max(1, line - window), min(n, line + window)
        for w in windows:
            if w.path == path and start <= w.end + 1 and end >= w.start - 1:
                w.start, w.end = min(w.start, start), max(w.end, end)
                return
        windows.append(_Window(path, start, end, anchor, reason))

    changed = list(dict.fromkeys(p.strip().lstrip("/").removeprefix("./") for p in changed_files if p.strip()))
    changed_set = set(changed)
    for path, line in refs:  # named by the log and changed by the failing change: first
        if path in changed_set:
            add_window(path, line, "named-in-log")
    if category == Category.DEPENDENCY:
        for manifest in _relevant_manifests(repo, [p for p, _ in refs]):
            lines = lines_of(manifest)
            if lines and not any(w.path == manifest for w in windows):
                windows.append(_Window(manifest, 1, len(lines), 1, "manifest"))
    for path, line in refs:
        if path not in changed_set:
            add_window(path, line, "named-in-log")
    named = {p for p, _ in refs}
    for path in changed:
        if path in named or any(w.path == path for w in windows):
            continue
        for line in _hunk_anchors((changed_lines or {}).get(path, ()), window):
            add_window(path, line, "changed")

    out: list[ContextFile] = []
    remaining = max_bytes
    for w in windows:
        lines = lines_of(w.path) or []
        cap = min(remaining, max_bytes // 3) if w.reason == "manifest" else remaining
        start, end = w.start, w.end
        text = _render(lines, start, end)
        size = len(text.encode("utf-8"))
        if size > cap:
            if w.reason == "manifest":  # keep the head: the dependency list is near the top
                while end > start and size > cap:
                    end = start + (end - start) // 2
                    text = _render(lines, start, end)
                    size = len(text.encode("utf-8"))
            else:
                radius = max(w.anchor - start, end - w.anchor)
                while size > cap and radius > 0:
                    radius //= 2
                    start, end = max(w.start, w.anchor - radius), min(w.end, w.anchor + radius)
                    text = _render(lines, start, end)
                    size = len(text.encode("utf-8"))
            if size > cap:
                continue
        out.append(ContextFile(path=w.path, start_line=start, end_line=end, text=text, reason=w.reason))
        remaining -= size
        if remaining <= 0:
            break
    return out
