"""Repository context for a failure: which files the failure blocks name, and windows of them.

A failure block names files the way the tool that failed prints them: runner-absolute paths
(``/home/runner/work/<repo>/<repo>/src/x.py``, ``D:\\a\\<repo>\\<repo>\\src\\x.py``), paths relative
to the tool's working directory (``tests/test_x.py:12: in test_y``), bare file names with a package
(Java ``at com.acme.Foo.bar(Foo.java:42)``) or just a file name (``foo.c:10:2: error``). Every such
reference is resolved against the repository's own file list at the failing commit; anything that
is not a repository file (the standard library, third-party packages in ``site-packages`` or
``node_modules``, the JDK) is dropped, while an installed copy of the project's own package is
mapped back to its source. Test classes and Python modules named instead of paths (surefire,
JUnit, unittest, nose) are resolved against the tree too. Nothing here reads the file system or
the network directly: all reads go through a :class:`~ci_healer.repo.RepoSource`.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

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
            parent_init = "/".join([*parts[:-2], "__init__.py"])
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
        named = re.search(r"""\bname\s*=\s*['"]([\w.\-]+)['"]""", text) or re.search(
            r"^name\s*=\s*([\w.\-]+)\s*$", text, re.MULTILINE
        )
        if named:
            names.add(_normalise_import(named.group(1)))
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
_MAVEN = re.compile(
    rf"(?P<path>{_PATH}):\[(?P<line>\d+)(?:,\d+)?\]"
)  # Maven/Checkstyle path:[N,col], path:[N]
# Python warnings and mypy notes: "<path>, line N" / "(<path>, line N)".
_COMMA_LINE = re.compile(rf"(?P<path>{_PATH}), line (?P<line>\d+)\b")
# Paths without a line: license-maven-plugin "Missing header in: <path>", Maven's "(<module>/pom.xml)".
_NO_LINE_ID = re.compile(rf"Missing header in: (?P<path>\S+)|\((?P<ppath>{_PATH})\)(?!\w)")
# Any other path with a folder, no line: the weakest mention, ranked after every other reference.
_BARE = re.compile(
    r"(?<![\w.@$~+/\\-])(?P<path>(?:[A-Za-z]:)?[\w.@$~+-]*(?:[/\\][\w.@$~+-]+)+\.[A-Za-z][A-Za-z0-9]{0,9})(?![\w/\\(:-])"
)
_URLISH = re.compile(r"(?:://|\bjar:|@)\S*$")

# A qualified JVM class name anywhere in a message (javac "in class x.y.Foo", clirr, revapi):
# the weakest mention, like a bare path.
_JVM_MENTION = re.compile(
    r"(?<![\w$.\\/-])[a-z][a-z0-9_]*(?:\.[a-z_][a-z0-9_]*)+\.[A-Z][\w]*(?:\$[\w$]+)?(?![\w(])"
)

# javac / scalac: an import of a package no dependency provides ("package x.y does not exist",
# "object x is not a member of package y"): the module's build file (pom.xml, build.gradle,
# build.sbt) nearest above the file is where a missing dependency is declared.
_MISSING_PACKAGE = re.compile(r"\bpackage [\w.]+ does not exist|\bis not a member of package\b")
_BUILD_FILES = ("pom.xml", "build.gradle", "build.gradle.kts", "build.sbt")

# Test and module names instead of paths.
_JVM_FQN = r"[a-z][\w]*(?:\.[\w]+)*\.[A-Z][\w$]*"
# JUnit 4 description "method(x.y.FooTest)" (surefire, Gradle, Ant).
_JUNIT_DESC = re.compile(rf"\b[\w$\[\]-]+\((?P<fqn>{_JVM_FQN})\)")
# Surefire "Tests run: ... <<< FAILURE! - in x.y.FooTest" and the "Running x.y.FooTest" it belongs to.
_SUREFIRE_IN = re.compile(rf"<<< (?:FAILURE|ERROR)!.*? - in (?P<fqn>{_JVM_FQN})")
_SUREFIRE_RUNNING = re.compile(rf"^(?:\[INFO\] )?Running (?P<fqn>{_JVM_FQN})\s*$")
_SUREFIRE_BAD_RUN = re.compile(
    r"Tests run: \d+, Failures: (?:[1-9]|\d+, Errors: [1-9])|<<< (?:FAILURE|ERROR)!"
)
# Surefire summary sections "Failed tests:" / "Tests in error:" / "[ERROR] Failures:": "  FooTest.method:42 msg".
_SUREFIRE_SECTION = re.compile(
    r"^(?:\[ERROR\] )?(?:Failed tests|Tests in error|Failures|Errors|Tests with failures):"
)
_SUREFIRE_ENTRY = re.compile(
    r"^(?:\[ERROR\])?\s+(?:Run \d+: )?(?P<cls>[A-Z][\w$]*)\.(?P<method>[\w$\[\]-]+?)(?::(?P<line>\d+))?(?:\s|$|»)"
)
# unittest / nose ids "FAIL: test_x (pkg.tests.test_mod.TestC)", "ERROR: Failure: ... (pkg.mod)",
# unittest's "Failed to import test module: pkg.tests.test_x", nose "FAIL: Doctest: pkg.mod.func".
_PY_TEST_ID = re.compile(
    r"^(?:FAIL|ERROR): \w+ \((?P<dotted>[A-Za-z_][\w.]*)\)|^(?:FAIL|ERROR): Doctest: (?P<doc>[A-Za-z_][\w.]*)"
)
_PY_IMPORT_NAME = re.compile(
    r"Failed to import test module: (?P<a>[A-Za-z_][\w.]*)|cannot import name '?\w+'? from '(?P<b>[A-Za-z_][\w.]*)'"
)
_TEST_VERDICT = re.compile(
    r"^(?:FAIL|ERROR): (?:test\w*|\w+ \(|Doctest: )|^FAILED \S+::|^FAILED \(|<<< (?:FAILURE|ERROR)!|Tests run: \d+, Failures: (?:[1-9]|\d+, Errors: [1-9])"
    r"|^Tests in error:|^Failed tests:|^=+ .*\b\d+ failed\b|^--- FAIL: |^\s*\d+ failing$|\bAssertionError\b|^E\s{3}\S",
    re.MULTILINE,
)
"""A block shows a failing test: its references outrank those of other blocks (import warnings,
compiler noise printed while the suite runs)."""
_PAREN = re.compile(rf"(?P<path>{_PATH})\((?P<line>\d+)(?:,\d+)?\)")
_COLON = re.compile(rf"(?P<path>{_PATH}):(?P<line>\d+)\b(?!\.\d)")
_PYTEST_ID = re.compile(rf"(?P<path>{_PATH})::\w")
_IMPORT_TEST_MODULE = re.compile(
    r"(?:ImportError while importing test module|ERROR collecting) '?(?P<path>[^'\s]+\.py)"
)
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


_SOURCE_ROOT = re.compile(
    r"(?:^|/)src/(?:main|test|[\w-]+)/(?:java|kotlin|scala|groovy)$|(?:^|/)(?:java|kotlin)$"
)
_NOT_MODULES = frozenset({"setup", "conftest", "noxfile", "fabfile", "tasks", "manage", "dodo"})


@dataclass(frozen=True)
class _Ref:
    kind: str  # "tb" (outer→inner traceback frame), "frame" (inner→outer), "error", "id", "bare"
    raw: str
    line: int | None
    java_package: tuple[str, ...] | None = None
    name: str | None = None  # "jvm": raw is a class name (qualified or simple); "py": a dotted module name
    needs_build_file: bool = False  # the error is a missing package: the module's build file may fix it


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
        want = [*list(package), filename]
        cands = self.by_name.get(filename, [])
        exact = [c for c in cands if c.split("/")[-len(want) :] == want]
        if exact:
            # Prefer the conventional source roots (src/main/java, src/test/kotlin, ...) over copies.
            def rank(c: str) -> tuple[bool, int, str]:
                root = "/".join(c.split("/")[: -len(want)])
                return (not _SOURCE_ROOT.search(root), len(c.split("/")), c)

            return min(exact, key=rank)
        return cands[0] if len(cands) == 1 else None

    def resolve_class(self, name: str) -> str | None:
        """A JVM class name (``x.y.FooTest``, ``x.y.Foo$Inner``, or a simple ``FooTest``) → its source file."""
        parts = name.split("$", 1)[0].split(".")
        for ext in _JVM_EXTENSIONS:
            found = self.resolve_java(tuple(parts[:-1]), parts[-1] + ext)
            if found:
                return found
        return None

    def nearest_build_file(self, path: str) -> str | None:
        """The JVM build file (``pom.xml``, ``build.gradle[.kts]``, ``build.sbt``) nearest above ``path``."""
        parts = path.split("/")[:-1]
        for depth in range(len(parts), -1, -1):
            for name in _BUILD_FILES:
                cand = "/".join([*parts[:depth], name])
                if cand in self.paths:
                    return cand
        return None

    def unit_under_test(self, path: str) -> str | None:
        """The source file a test file tests, by the naming convention, else ``None``.

        JVM: ``src/test/<lang>/<pkg>/FooTest.java`` (also ``FooTests``, ``FooIT``, ``FooTestCase``,
        ``TestFoo``) → ``Foo.<ext>`` of the same package, preferring ``src/main``; Python:
        ``test_foo.py`` / ``foo_test.py`` → ``foo.py`` beside the tests folder, else the only
        ``foo.py`` of the tree outside test folders. Naming-convention traceability between unit
        tests and units under test (Van Rompaey & Demeyer, "Establishing Traceability Links between
        Unit Test Cases and Units under Test", CSMR 2009).
        """
        folder, _, name = path.rpartition("/")
        stem, _dot, ext = name.rpartition(".")
        if "." + ext in _JVM_EXTENSIONS:
            m = _JVM_TEST_NAME.match(stem)
            if not m:
                return None
            unit = m.group("a") or m.group("b")
            root = _JVM_PACKAGE_ROOT.search(folder + "/")
            package = tuple(p for p in folder[root.end() :].split("/") if p) if root else ()
            found = self.resolve_java(package, f"{unit}.{ext}") if package else None
            return found if found and found != path else None
        if ext != "py":
            return None
        m = _PY_TEST_NAME.match(stem)
        if not m:
            return None
        unit = (m.group("a") or m.group("b")) + ".py"
        parts = folder.split("/") if folder else []
        while parts and _TEST_DIR.match(parts[-1]):
            parts.pop()
        near = "/".join([*parts, unit])
        if near in self.paths and near != path:
            return near
        cands = [
            c for c in self.by_name.get(unit, ()) if not any(_TEST_DIR.match(p) for p in c.split("/")[:-1])
        ]
        return cands[0] if len(cands) == 1 else None

    def resolve_module(self, dotted: str) -> str | None:
        """A Python dotted name (``pkg.tests.test_mod.TestC``) → the file of its longest module prefix.

        The module path must be a repository path as it stands, or below ``src/``, ``lib/`` or
        ``python/`` (the source roots of ``src`` layouts); a one-component module only at the root.
        """
        parts = [p for p in dotted.split(".") if p]
        for k in range(len(parts), 0, -1):
            base = "/".join(parts[:k])
            for rel in (base + ".py", base + "/__init__.py", base + ".pyx"):
                for root in _PY_ROOTS:
                    if root + rel in self.paths:
                        return root + rel
        return None


_JVM_EXTENSIONS = (".java", ".kt", ".scala", ".groovy")
_JVM_TEST_NAME = re.compile(r"^(?:(?P<a>[A-Z]\w*?)(?:Tests?|IT|TestCase)|Test(?P<b>[A-Z]\w*))$")
_JVM_PACKAGE_ROOT = re.compile(r"(?:^|/)(?:java|kotlin|scala|groovy)/")
_PY_TEST_NAME = re.compile(r"^(?:test_(?P<a>\w+)|(?P<b>\w+?)_tests?)$")
_TEST_DIR = re.compile(r"^(?:tests?|testing|unit|unittests?)$")
_PY_ROOTS = ("", "src/", "lib/", "python/")
_EGG = re.compile(r"\.egg$|\.egg-link$")
_BUILD_LIB = re.compile(r"^lib(?:\.[\w.-]+)?$")


def _installed_parts(raw: str) -> tuple[str, list[str]] | None:
    """``(kind, parts)`` of a path into an installed copy of a package, else ``None``.

    ``.../site-packages/<pkg>/...`` and ``dist-packages`` (any virtualenv, ``.tox/*/lib/python*/``,
    the system Python; an ``*.egg`` folder is skipped) and ``build/lib[.<platform>]/<pkg>/...``
    (``setup.py build``) give ``("python", [<pkg>, ...])``; ``node_modules/<pkg>/...`` (or
    ``node_modules/@scope/<pkg>/...``) gives ``("node:<pkg>", [...rest])``.
    """
    s = raw.strip().strip("'\"`").replace("\\", "/")
    parts = [p for p in s.split("/") if p not in ("", ".")]
    for i in range(len(parts) - 1, -1, -1):
        if parts[i] in ("site-packages", "dist-packages"):
            rest = parts[i + 1 :]
            if rest and _EGG.search(rest[0]):
                rest = rest[1:]
            return ("python", rest) if len(rest) >= 2 else None
    for i, part in enumerate(parts[:-2]):
        if part == "build" and _BUILD_LIB.match(parts[i + 1]):
            return "python", parts[i + 2 :]
    if "node_modules" in parts:
        i = len(parts) - 1 - parts[::-1].index("node_modules")
        rest = parts[i + 1 :]
        if rest and rest[0].startswith("@") and len(rest) > 1:
            rest = [rest[0] + "/" + rest[1], *rest[2:]]
        return (f"node:{rest[0]}", rest[1:]) if len(rest) >= 2 else None
    return None


def _npm_packages(repo: RepoSource, paths: Sequence[str]) -> dict[str, str]:
    """npm package name → its folder in the repository ("" for the root), from ``package.json`` files."""
    import json

    found: dict[str, str] = {}
    for path in paths:
        if path.rsplit("/", 1)[-1] != "package.json" or any(p in _VENDORED for p in path.split("/")):
            continue
        try:
            data = json.loads(repo.read_text(path) or "")
        except ValueError:
            continue
        if isinstance(data, dict) and isinstance(data.get("name"), str):
            found.setdefault(data["name"], path.rsplit("/", 1)[0] if "/" in path else "")
    return found


def _split_path(raw: str) -> list[str] | None:
    """Normalise a path as printed in a log to repository-relative components, or ``None``."""
    s = raw.strip().strip("'\"`")
    if s.startswith("file://"):
        s = s[len("file://") :]
    s = s.replace("\\", "/")
    s = re.sub(r"^[A-Za-z]:(?=/)", "", s)  # Windows drive
    if s.startswith(("<", "node:", "internal/")):  # <frozen ...>, Node core modules
        return None
    for prefix in _WORKSPACE_PREFIXES:
        m = prefix.match(s)
        if m:
            s = s[m.end() :]
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
    running: str | None = None  # surefire: the test class whose "Running" line came last
    in_section = False  # inside a surefire "Failed tests:" / "Tests in error:" summary
    for raw_line in text.split("\n"):
        line = _clean(raw_line)
        taken: list[tuple[int, int]] = []
        found: list[tuple[int, _Ref]] = []

        # Both helpers belong to this line: its lists are bound when they are defined.
        def free(span: tuple[int, int], taken: list[tuple[int, int]] = taken) -> bool:
            return all(span[1] <= a or span[0] >= b for a, b in taken)

        def add(
            span: tuple[int, int],
            ref: _Ref,
            taken: list[tuple[int, int]] = taken,
            found: list[tuple[int, _Ref]] = found,
        ) -> None:
            taken.append(span)
            found.append((span[0], ref))

        for m in _PY_FRAME.finditer(line):
            add(m.span(), _Ref("tb", m.group("path"), int(m.group("line"))))
        for m in _JAVA_FRAME.finditer(line):
            if free(m.span()):
                package = tuple(m.group("qual").split(".")[:-1])
                add(m.span(), _Ref("frame", m.group("file"), int(m.group("line")), package))
        for pattern in (_MAVEN, _PAREN, _COMMA_LINE):
            for m in pattern.finditer(line):
                if free(m.span()):
                    add(m.span(), _Ref("error", m.group("path"), int(m.group("line"))))
        for m in _COLON.finditer(line):
            if free(m.span()):
                kind = "tb" if _PYTEST_TB_TAIL.match(line[m.end() :]) else "error"
                add(m.span(), _Ref(kind, m.group("path"), int(m.group("line"))))
        for pattern in (_PYTEST_ID, _IMPORT_TEST_MODULE):
            for m in pattern.finditer(line):
                if free(m.span()):
                    add(m.span(), _Ref("id", m.group("path"), None))
        for m in _NO_LINE_ID.finditer(line):
            if free(m.span()):
                add(m.span(), _Ref("id", m.group("path") or m.group("ppath"), None))

        # Class and module names instead of paths.
        stripped = re.sub(r"^\[(?:ERROR|INFO|WARNING)\] ?", "", line).rstrip()
        if _SUREFIRE_SECTION.match(line):
            in_section = True
        elif in_section and (not stripped.strip() or stripped.startswith("Tests run:")):
            in_section = False
        elif in_section:
            entry = _SUREFIRE_ENTRY.match(line)
            if entry and free(entry.span()):
                add(
                    entry.span(),
                    _Ref(
                        "id",
                        entry.group("cls"),
                        int(entry.group("line")) if entry.group("line") else None,
                        name="jvm",
                    ),
                )
        started = _SUREFIRE_RUNNING.match(line)
        if started:
            running = started.group("fqn")
        elif running and _SUREFIRE_BAD_RUN.search(line):
            found.append((-1, _Ref("id", running, None, name="jvm")))
            running = None
        elif line.startswith("Tests run:"):
            running = None
        for pattern in (_SUREFIRE_IN, _JUNIT_DESC):
            for m in pattern.finditer(line):
                if free(m.span("fqn")):
                    add(m.span("fqn"), _Ref("id", m.group("fqn"), None, name="jvm"))
        for pattern in (_PY_TEST_ID, _PY_IMPORT_NAME):
            for m in pattern.finditer(stripped):
                dotted = next(g for g in m.groups() if g)
                found.append((len(line), _Ref("id", dotted, None, name="py")))

        for m in _BARE.finditer(line):
            if free(m.span()) and not _URLISH.search(line[: m.start()]):
                add(m.span(), _Ref("bare", m.group("path"), None))
        progress = _SUREFIRE_RUNNING.match(line) or "Tests run:" in line  # passing classes too
        for m in (
            () if progress else _JVM_MENTION.finditer(line)
        ):  # "is not public in org.acme.core.Parser", clirr
            if free(m.span()) and not _URLISH.search(line[: m.start()]):
                add(m.span(), _Ref("bare", m.group(0), None, name="jvm"))
        if _MISSING_PACKAGE.search(line):
            found = [
                (at, replace(ref, needs_build_file=True) if ref.kind == "error" else ref) for at, ref in found
            ]
        refs.extend(ref for _, ref in sorted(found, key=lambda item: item[0]))
    if running:  # the suite stopped inside this class (crash, timeout, fork exit)
        refs.append(_Ref("bare", running, None, name="jvm"))
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


def _references(blocks: Sequence[Block], repo: RepoSource) -> list[tuple[str, int | None, bool]]:
    """:func:`referenced_files` with a third item: ``True`` for the weakest mentions."""
    paths = repo.list_paths()
    index = _PathIndex(paths)
    own: dict[str, set[str] | dict[str, str]] = {}

    def installed(raw: str) -> str | None:
        found = _installed_parts(raw)
        if found is None:
            return None
        kind, parts = found
        if kind == "python":
            if "python" not in own:
                own["python"] = set(project_packages(repo))
            if parts[0] not in own["python"]:
                return None
            rel = "/".join(parts)
            # The source root that holds the package itself (src/ layouts) first.
            roots = sorted(_PY_ROOTS, key=lambda r: f"{r}{parts[0]}/__init__.py" not in index.paths)
            return next((root + rel for root in roots if root + rel in index.paths), None)
        if "node" not in own:
            own["node"] = _npm_packages(repo, paths)
        folder = own["node"].get(kind[len("node:") :])  # type: ignore[union-attr]
        if folder is None:
            return None
        rel = "/".join(([folder] if folder else []) + parts)
        return rel if rel in index.paths else None

    def resolve(ref: _Ref) -> str | None:
        if ref.name == "jvm":
            return index.resolve_class(ref.raw)
        if ref.name == "py":
            return index.resolve_module(ref.raw)
        if ref.java_package is not None:
            return index.resolve_java(ref.java_package, ref.raw)
        if _split_path(ref.raw) is None:
            return installed(ref.raw)
        return index.resolve(ref.raw) or installed(ref.raw)

    per_block = [_causal_order(_block_refs(block.text)) for block in blocks]
    verdict = [bool(_TEST_VERDICT.search(_ANSI.sub("", block.text))) for block in blocks]
    order = [i for i in range(len(blocks)) if verdict[i]] + [i for i in range(len(blocks)) if not verdict[i]]
    ranked = [ref for i in order for ref in per_block[i] if ref.kind != "bare"]
    ranked += [ref for i in order for ref in per_block[i] if ref.kind == "bare"]
    ordered: list[tuple[str, int | None, bool]] = []
    seen: set[tuple[str, int | None]] = set()
    counterparts: list[str] = []
    for ref in ranked:
        path = resolve(ref)
        if path is None or (path, ref.line) in seen:
            continue
        if ref.kind == "bare" and counterparts:  # the units under test lead the weakest mentions
            ordered.extend((c, None, True) for c in counterparts if (c, None) not in seen)
            seen.update((c, None) for c in counterparts)
            counterparts = []
        seen.add((path, ref.line))
        ordered.append((path, ref.line, ref.kind == "bare"))
        if ref.kind != "bare":
            unit = index.unit_under_test(path)
            build = index.nearest_build_file(path) if ref.needs_build_file else None
            counterparts.extend(c for c in (unit, build) if c and c not in counterparts)
    ordered.extend((c, None, True) for c in counterparts if (c, None) not in seen)
    with_line = {p for p, line, _ in ordered if line is not None}
    return [(p, line, weak) for p, line, weak in ordered if line is not None or p not in with_line]


def referenced_files(blocks: Sequence[Block], repo: RepoSource) -> list[tuple[str, int | None]]:
    """Repository files (and 1-indexed line, or ``None``) named by the failure blocks.

    Returns ``(path, line)`` pairs, most causal first: first the blocks that show a failing test
    (``FAIL: test_x (...)``, ``FAILED path::test``, surefire ``<<< FAILURE!``, an
    ``AssertionError``), then the other blocks, each group in the given order — a failing test
    outranks the import errors and compiler noise a suite prints while it runs; within a block,
    the innermost frame of a Python or pytest traceback first (they print outermost first), Java
    and other stack frames and compiler diagnostics in printed order. The weakest mentions (a path
    with a folder but no line, a qualified JVM class name inside a message) come after every other
    reference of every block. Deduplicated on ``(path, line)``; a mention without a line
    (``FAILED tests/test_x.py::test_y``) is dropped when the same file is also named with a line.

    Recognised shapes: ``File "x.py", line N`` and ``x.py, line N`` (Python warnings, mypy's
    ``(x.py, line N)``); ``path:N[:col]`` (Go, Rust ``--> src/main.rs:4:5``, C/C++
    ``foo.c:10:2: error``, pytest ``tests/test_x.py:12: in test_y``, ESLint, javac);
    ``path(N,col)`` (TypeScript, MSBuild); Maven / Checkstyle ``path:[N,col]`` and ``path:[N]``;
    paths without a line: license-maven-plugin ``Missing header in: <path>``, Maven's
    ``(<module>/pom.xml)``, pytest node ids ``path::name``; Java/Kotlin frames
    ``at pkg.Class.method(File.java:N)`` (resolved by package path + file name, else a unique file
    name). Names instead of paths, resolved against the tree: JUnit descriptions
    ``method(x.y.FooTest)``, surefire ``Running x.y.FooTest`` followed by its failure and
    ``<<< FAILURE! - in x.y.FooTest``, the ``Failed tests:`` / ``Tests in error:`` summary entries
    ``FooTest.method:N`` (a simple name only when one file has it), unittest / nose ids
    ``FAIL: test_x (pkg.tests.test_mod.TestC)`` and ``Failed to import test module: pkg.mod``,
    ``cannot import name 'x' from 'pkg.mod'`` (the longest module prefix that is a file at the
    root or below ``src/``, ``lib/``, ``python/``).

    Paths are mapped to repository paths by stripping CI workspace prefixes (GitHub Actions
    Linux/macOS/Windows/container, Travis CI, Jenkins, CircleCI) and then choosing the repository
    path that is the longest suffix match. Paths into an installed copy of the project's own
    package — ``site-packages/<pkg>/...`` / ``dist-packages`` of any virtualenv or ``.tox``
    environment (an ``*.egg`` folder skipped), ``build/lib*/<pkg>/...``, and
    ``node_modules/<name>/...`` where ``<name>`` is a ``package.json`` name of the repository — are
    mapped back to the source folder (``<pkg>`` among :func:`project_packages`; ``src/`` layouts
    included). Other paths under the standard library, ``site-packages``, ``node_modules``,
    toolchain caches or system roots, and paths that are not repository files, are ignored.
    """
    return [(path, line) for path, line, _ in _references(blocks, repo)]


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


# Maven names the failing module by its artifactId: "Failed to execute goal ... on project <a>:",
# "Could not resolve dependencies for project <g>:<a>:<packaging>:<v>", "The project <g>:<a>:<v> (...)".
_MAVEN_PROJECT = re.compile(
    r"\bon project (?P<a>[\w.-]+?):|\bdependencies for project [\w.-]+:(?P<b>[\w.-]+):|\bThe project [\w.-]+:(?P<c>[\w.-]+):"
)
_POM_PARENT = re.compile(r"<parent>.*?</parent>", re.DOTALL)
_POM_ARTIFACT = re.compile(r"<artifactId>\s*([\w.-]+)\s*</artifactId>")


def _maven_modules(repo: RepoSource, manifests: Sequence[str], blocks: Sequence[Block]) -> list[str]:
    """The ``pom.xml`` of every Maven module the blocks name by artifactId, in order of mention.

    A module is matched by the ``<artifactId>`` of its own ``pom.xml`` (outside ``<parent>``), else
    by its folder name (the usual convention).
    """
    names = list(
        dict.fromkeys(
            next(g for g in m.groups() if g)
            for block in blocks
            for m in _MAVEN_PROJECT.finditer(_clean(block.text))
        )
    )
    if not names:
        return []
    by_artifact: dict[str, str] = {}
    by_folder: dict[str, str] = {}
    for pom in manifests:
        if pom.rsplit("/", 1)[-1] != "pom.xml":
            continue
        m = _POM_ARTIFACT.search(_POM_PARENT.sub("", repo.read_text(pom) or ""))
        if m:
            by_artifact.setdefault(m.group(1), pom)
        if "/" in pom:
            by_folder.setdefault(pom.split("/")[-2], pom)
    found = [by_artifact.get(n) or by_folder.get(n) for n in names]
    return list(dict.fromkeys(p for p in found if p))


def _relevant_manifests(
    repo: RepoSource, named: Sequence[str], limit: int = 4, blocks: Sequence[Block] = ()
) -> list[str]:
    """Manifests of the Maven modules the blocks name, the root manifests, then the nearest
    manifests above each named file, at most ``limit``."""
    manifests = find_manifests(repo)
    by_dir: dict[str, list[str]] = {}
    for m in manifests:
        by_dir.setdefault(m.rsplit("/", 1)[0] if "/" in m else "", []).append(m)
    modules = _maven_modules(repo, manifests, blocks)
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
    return list(dict.fromkeys(modules + chosen))[:limit]


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
    merged. When ``category`` is :attr:`Category.DEPENDENCY`, the dependency manifests of the
    Maven modules the blocks name (``on project <artifactId>``), at the root and nearest to the
    named files come first (``reason="manifest"``), each at most a third
    of the budget. A window that does not fit the remaining budget is narrowed around its line;
    files that cannot be read as UTF-8 text (missing, binary, symlinks, submodules) are skipped.
    ``text`` is the file content as read: redact it before it reaches a model. Never raises on
    unreadable files; ``max_bytes <= 0`` gives an empty list.

    ``changed_files``: repository paths the failing change touched (the files of the pull
    request, or of the pushed commits), in any order. A file that is both changed and named by
    the blocks is the likeliest place of the fix, so its windows rank first, before manifests
    and other named files (``reason="named-in-log"``). Changed files the blocks do not name come
    after the files the blocks locate (with a line, a test id, a stack frame) and before the
    weakest mentions (a path with no line printed in passing, a class name inside a message),
    within the same ``max_bytes`` (``reason="changed"``): when
    ``changed_lines`` maps the path to the changed line numbers of the head version (1-indexed,
    the ``+`` side of its hunks), one window of ``window`` lines around each run of changed lines,
    else the head of the file (``2 * window + 1`` lines). Paths that are not readable text at the
    head SHA (deleted files, binaries) are skipped.
    """
    if max_bytes <= 0:
        return []
    window = max(window, 0)
    weak_refs = _references(blocks, repo)
    refs = [(path, line) for path, line, _ in weak_refs]
    weak = {(path, line) for path, line, is_weak in weak_refs if is_weak}
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

    changed = list(
        dict.fromkeys(p.strip().lstrip("/").removeprefix("./") for p in changed_files if p.strip())
    )
    changed_set = set(changed)
    for path, line in refs:  # named by the log and changed by the failing change: first
        if path in changed_set:
            add_window(path, line, "named-in-log")
    if category == Category.DEPENDENCY:
        for manifest in _relevant_manifests(repo, [p for p, _ in refs], blocks=blocks):
            lines = lines_of(manifest)
            if lines and not any(w.path == manifest for w in windows):
                windows.append(_Window(manifest, 1, len(lines), 1, "manifest"))
    for path, line in refs:
        if path not in changed_set and (path, line) not in weak:
            add_window(path, line, "named-in-log")
    named = {p for p, _ in refs}
    for path in changed:
        if path in named or any(w.path == path for w in windows):
            continue
        for line in _hunk_anchors((changed_lines or {}).get(path, ()), window):
            add_window(path, line, "changed")
    for path, line in refs:  # the weakest mentions last, after the changed files
        if path not in changed_set and (path, line) in weak:
            add_window(path, line, "named-in-log")

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
