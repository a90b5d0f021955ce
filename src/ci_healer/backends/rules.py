"""The offline ``rules`` backend: deterministic root causes, and patches only where certain.

No network, no model. For every request it returns a root cause built from the most causal
failure block (the error line, the file and line, the failing test) with the category of the
request's classification. It returns a patch only for failures it can fix for sure:

* Python ``ModuleNotFoundError: No module named 'x'`` / ``ImportError: No module named x`` (unless
  a block shows a test that failed on its own: it outranks import errors beside it) →
  add the distribution that provides ``x`` (see :mod:`ci_healer.pypi_names`) to the manifest the
  project installs from. It refuses — root cause only — when ``x`` is the project's own package,
  a standard-library module (``sys.stdlib_module_names``), a Python 2 module, a bare namespace
  package, or when the distribution is already declared (then it is declared but not installed
  in that environment).

* Python unused imports reported as ``F401`` by ruff (concise ``path:line:col: F401 [*] `x`
  imported but unused`` and full ``F401 ... --> path:line:col`` output) or flake8/pyflakes
  (``path:line:col: F401 'x' imported but unused``) → delete each reported line, but only when
  every reported line of the repository file is exactly ``import x`` or ``from a import x`` for
  the reported name (no alias, no other name, no continuation); otherwise root cause only.

Other recognised failures get a specific root cause without a patch (npm ``Cannot find module``,
pip ``No matching distribution``, pytest ``fixture 'x' not found``, Go ``no required module
provides package``, ``command not found``).
"""

from __future__ import annotations

import re
import sys
import tomllib
from collections.abc import Iterator

from ci_healer.classify import failing_test_shown
from ci_healer.context import (
    _WORKSPACE_PREFIXES,
    _block_refs,
    _causal_order,
    _clean,
    _split_path,
    find_manifests,
    project_packages,
    referenced_files,
)
from ci_healer.models import Block, Category, FileEdit, Proposal, ProposalRequest
from ci_healer.pypi_names import (
    NAMESPACE_ONLY,
    PYTHON2_ONLY_MODULES,
    REMOVED_FROM_STDLIB,
    distribution_candidates,
    is_known,
    normalise,
)
from ci_healer.repo import RepoSource

_MISSING_MODULE = re.compile(
    r"(?:ModuleNotFoundError|ImportError): No module named ['\"]?(?P<module>[A-Za-z_][\w.]*)['\"]?"
)
_REQ_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
_EGG = re.compile(r"#egg=([A-Za-z0-9][A-Za-z0-9._-]*)")
_REQ_FLAG = re.compile(r"(?:^|\s)(?:-r|--requirement)[ =]?\s*['\"]?(?P<file>[\w./\\-]+\.(?:txt|in))")
# ruff concise / flake8 / pyflakes: "src/x.py:2:8: F401 [*] `os` imported but unused"
_F401_CONCISE = re.compile(
    r"(?P<path>[\w./-]+\.pyi?):(?P<line>\d{1,7}):\d{1,5}: F401 (?:\[\*\] )?[`'\"](?P<name>[\w.]+)[`'\"] imported but unused"
)
# ruff full output: "F401 [*] `os` imported but unused" then " --> src/x.py:2:8"
_F401_FULL = re.compile(
    r"^F401 (?:\[\*\] )?`(?P<name>[\w.]+)` imported but unused\s*\n\s*--> (?P<path>[\w./-]+\.pyi?):(?P<line>\d{1,7}):\d{1,5}",
    re.MULTILINE,
)
_MAX_UNUSED_IMPORTS = 20
_TEST_FILE = re.compile(
    r"(?:^|/)(?:tests?|testing)/|(?:^|/)test_[^/]*\.py$|_tests?\.py$|(?:^|/)conftest\.py$"
)

_TEST_REQUIREMENTS = (
    "requirements-dev.txt",
    "requirements-test.txt",
    "requirements-tests.txt",
    "requirements_dev.txt",
    "requirements_test.txt",
    "test-requirements.txt",
    "test_requirements.txt",
    "dev-requirements.txt",
    "requirements/test.txt",
    "requirements/tests.txt",
    "requirements/dev.txt",
    "requirements/development.txt",
)
_RUNTIME_REQUIREMENTS = (
    "requirements.txt",
    "requirements/base.txt",
    "requirements/main.txt",
    "requirements/common.txt",
    "requirements/prod.txt",
    "requirements/production.txt",
)
_TEST_EXTRAS = ("test", "tests", "testing", "dev")

_CATEGORY_PHRASE = {
    Category.DEPENDENCY: "A dependency problem",
    Category.TEST: "A test failed",
    Category.COMPILE: "The build failed to compile",
    Category.LINT: "A lint check failed",
    Category.FORMAT: "A formatting check failed",
    Category.TYPE_CHECK: "A type check failed",
    Category.TIMEOUT: "The job timed out",
    Category.INFRASTRUCTURE: "An infrastructure or network failure",
    Category.OUT_OF_MEMORY: "The job ran out of memory",
    Category.CONFIGURATION: "A configuration error",
    Category.UNKNOWN: "The job failed",
}

# Error-line patterns, strongest first; ``last`` picks the final match in the block (Python
# prints the exception after the traceback), otherwise the first match wins.
_ERROR_LINES: tuple[tuple[re.Pattern[str], bool], ...] = (
    (re.compile(r"^E\s{2,}\S"), False),  # pytest assertion detail
    (re.compile(r"^[A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt|Failure)(?::\s.*)?$"), True),
    (
        re.compile(r"\berror(?:\[\w+\])?:|\berror [A-Z]{2,}\d+:|^\[ERROR\]|^ERROR:|^error\b", re.IGNORECASE),
        False,
    ),
    (re.compile(r"^(?:FAILED|FAIL:|--- FAIL|FAIL\s)|\u2715|\u25cf "), False),
    (re.compile(r"##\[error\](?!Process completed with exit code)"), False),
    (re.compile(r"\b(?:fatal|panic|Error|Exception|Traceback)\b"), False),
    (re.compile(r"Process completed with exit code \d+"), False),
)
_TEST_NAMES = (
    re.compile(r"^(?:FAILED|ERROR)\s+(?P<name>\S+::\S+)"),
    re.compile(r"^_{3,} (?P<name>(?:\w+\.)?test\w*(?:\[[^\]]*\])?) _{3,}$"),
    re.compile(r"^--- FAIL: (?P<name>\w+)"),
    re.compile(r"^\s*(?P<name>test\w*)\((?P<cls>[\w.$]+)\)"),
    re.compile(r"^\s*\u25cf (?P<name>.+?)\s*$"),
)


def _clean_text(text: str) -> str:
    return "\n".join(_clean(line) for line in text.split("\n"))


def _block_lines(block: Block) -> list[str]:
    return [_clean(line).rstrip() for line in block.text.split("\n")]


def _squash(text: str, limit: int = 300) -> str:
    text = re.sub(r"\s+", " ", text.replace("`", "'")).strip()
    return text if len(text) <= limit else text[: limit - 3] + "..."


# ---------------------------------------------------------------------------------------------
# Manifests: declared distributions and minimal edits
# ---------------------------------------------------------------------------------------------


def _requirement_name(line: str) -> str | None:
    stripped = line.split(" #", 1)[0].strip()
    if not stripped or stripped.startswith("#"):
        return None
    if stripped.startswith("-"):
        egg = _EGG.search(stripped)
        return egg.group(1) if egg else None
    if "://" in stripped.split("@", 1)[0]:
        egg = _EGG.search(stripped)
        return egg.group(1) if egg else None
    m = _REQ_NAME.match(stripped)
    return m.group(1) if m else None


def _toml_names(values: object) -> Iterator[str]:
    if isinstance(values, list):
        for value in values:
            if isinstance(value, str):
                name = _requirement_name(value)
                if name:
                    yield name
    elif isinstance(values, dict):
        yield from (k for k in values if isinstance(k, str) and k.lower() != "python")


def _declared(repo: RepoSource) -> dict[str, list[str]]:
    """PEP 503 normalised distribution name → manifests (with section) that declare it."""
    found: dict[str, list[str]] = {}

    def add(name: str, where: str) -> None:
        found.setdefault(normalise(name), []).append(where)

    for path in find_manifests(repo):
        text = repo.read_text(path)
        if not text:
            continue
        name = path.rsplit("/", 1)[-1]
        if name.endswith((".txt", ".in")):
            for line in text.split("\n"):
                req = _requirement_name(line)
                if req:
                    add(req, path)
        elif name in ("pyproject.toml", "Pipfile"):
            try:
                data = tomllib.loads(text)
            except tomllib.TOMLDecodeError:
                continue
            project = data.get("project", {})
            if isinstance(project, dict):
                for req in _toml_names(project.get("dependencies")):
                    add(req, f"{path} [project].dependencies")
                extras = project.get("optional-dependencies", {})
                for extra, values in extras.items() if isinstance(extras, dict) else ():
                    for req in _toml_names(values):
                        add(req, f"{path} [project.optional-dependencies].{extra}")
            groups = data.get("dependency-groups", {})
            for group, values in groups.items() if isinstance(groups, dict) else ():
                for req in _toml_names(values):
                    add(req, f"{path} [dependency-groups].{group}")
            poetry = data.get("tool", {}).get("poetry", {}) if isinstance(data.get("tool"), dict) else {}
            if isinstance(poetry, dict):
                tables = [poetry.get("dependencies"), poetry.get("dev-dependencies")]
                for group in (poetry.get("group") or {}).values():
                    if isinstance(group, dict):
                        tables.append(group.get("dependencies"))
                for table in tables:
                    for req in _toml_names(table):
                        add(req, f"{path} [tool.poetry]")
            for section in ("packages", "dev-packages"):
                for req in _toml_names(data.get(section)):
                    add(req, f"{path} [{section}]")
        elif name in ("setup.py", "setup.cfg"):
            for m in re.finditer(
                r"(?:install_requires|tests_require|extras_require)\s*=\s*[\[{(]([^\])}]*)", text
            ):
                for q in re.findall(r"""['"]([^'"]+)['"]""", m.group(1)):
                    req = _requirement_name(q)
                    if req:
                        add(req, path)
            for m in re.finditer(
                r"^(?:install_requires|tests_require)\s*=[ \t]*((?:\n[ \t]+\S.*)+)", text, re.MULTILINE
            ):
                for line in m.group(1).split("\n"):
                    req = _requirement_name(line)
                    if req:
                        add(req, path)
        elif name == "environment.yml":
            for m in re.finditer(r"^\s*-\s*([A-Za-z0-9][\w.\-]*)", text, re.MULTILINE):
                add(m.group(1), path)
    return found


def _lines_keepends(text: str) -> list[str]:
    return re.findall(r"[^\n]*\n|[^\n]+$", text)


def minimal_edit(old: str, new: str) -> tuple[str, str] | None:
    """Smallest whole-line search/replace ``(original, replacement)`` turning ``old`` into ``new``.

    ``original`` occurs exactly once in ``old`` (context lines are added until it does) and
    ``old.replace(original, replacement, 1) == new``; an empty ``old`` gives ``("", new)`` (the
    append form of :class:`~ci_healer.models.FileEdit`). ``None`` when the texts are equal.
    """
    if old == new:
        return None
    if not old:
        return "", new
    o, n = _lines_keepends(old), _lines_keepends(new)
    p = 0
    while p < min(len(o), len(n)) and o[p] == n[p]:
        p += 1
    s = 0
    while s < min(len(o), len(n)) - p and o[-1 - s] == n[-1 - s]:
        s += 1
    a, b = p, len(o) - s
    if a == b:  # pure insertion: anchor on the line before, else the line after
        if a > 0:
            a -= 1
        else:
            b += 1
    while True:
        original = "".join(o[a:b])
        if original and old.count(original) == 1:
            break
        if a == 0 and b == len(o):
            break
        a, b = max(0, a - 1), min(len(o), b + 1)
    replacement = "".join(n[a : b + len(n) - len(o)])
    if old.replace(original, replacement, 1) != new or old.count(original) != 1:
        return None
    return original, replacement


def _insert_requirement(text: str, dist: str) -> str:
    """``text`` of a requirements file with ``dist`` added: in order when the file is sorted."""
    eol = "\r\n" if "\r\n" in text else "\n"
    parts = _lines_keepends(text)
    named = [(i, _requirement_name(line)) for i, line in enumerate(parts)]
    reqs = [(i, name) for i, name in named if name]
    keys = [normalise(name) for _, name in reqs]
    position = len(parts)
    if reqs:
        position = reqs[-1][0] + 1
        if keys == sorted(keys):
            later = [i for (i, _), key in zip(reqs, keys, strict=True) if key > normalise(dist)]
            if later:
                position = later[0]
    if position == len(parts) and parts and not parts[-1].endswith("\n"):
        parts[-1] += eol
    parts.insert(position, dist + eol)
    return "".join(parts)


_HEADER = re.compile(
    r"\[\[?[ \t]*((?:[A-Za-z0-9_-]+|\"[^\"\n]*\"|'[^'\n]*')(?:[ \t]*\.[ \t]*(?:[A-Za-z0-9_-]+|\"[^\"\n]*\"|'[^'\n]*'))*)[ \t]*\]\]?[ \t]*(?:#[^\n]*)?(?=\n|$)"
)


def _headers(text: str) -> list[tuple[int, int, str]]:
    """Table headers ``(start, end, dotted name)`` of a TOML text, ignoring brackets in values."""
    out: list[tuple[int, int, str]] = []
    i, depth, line_start = 0, 0, True
    while i < len(text):
        ch = text[i]
        if line_start and depth == 0:
            j = i
            while j < len(text) and text[j] in " \t":
                j += 1
            m = _HEADER.match(text, j)
            if m:
                name = ".".join(
                    part.strip().strip("\"'")
                    for part in re.split(r"\s*\.\s*(?=(?:[^\"']*[\"'][^\"']*[\"'])*[^\"']*$)", m.group(1))
                )
                out.append((i, m.end(), name))
                i = m.end()
                continue
        line_start = False
        if ch == "\n":
            line_start = True
        elif ch == "#":
            nl = text.find("\n", i)
            i = len(text) if nl < 0 else nl
            continue
        elif ch in "\"'":
            quote = ch * 3 if text[i : i + 3] == ch * 3 else ch
            j = i + len(quote)
            while j < len(text) and not text.startswith(quote, j):
                j += 2 if (ch == '"' and text[j] == "\\") else 1
            i = j + len(quote)
            continue
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth = max(0, depth - 1)
        i += 1
    return out


def _table_span(text: str, table: str) -> tuple[int, int] | None:
    """Character span of the body of ``[table]`` (after its header line, up to the next header)."""
    headers = _headers(text)
    for k, (_, end, name) in enumerate(headers):
        if name == table:
            body_start = end + 1 if end < len(text) else end
            return body_start, headers[k + 1][0] if k + 1 < len(headers) else len(text)
    return None


def _array_end(text: str, open_index: int) -> int | None:
    """Index of the ``]`` closing the TOML array opened at ``open_index`` (strings and comments aware)."""
    depth = 0
    i = open_index
    while i < len(text):
        ch = text[i]
        if ch == "#":
            nl = text.find("\n", i)
            i = len(text) if nl < 0 else nl
            continue
        if ch in "\"'":
            triple = text[i : i + 3] == ch * 3
            quote = ch * 3 if triple else ch
            j = i + len(quote)
            while j < len(text):
                if ch == '"' and text[j] == "\\":
                    j += 2
                    continue
                if text.startswith(quote, j):
                    break
                j += 1
            i = j + len(quote)
            continue
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return None


def _insert_toml_item(text: str, table: str, key: str, item: str) -> str | None:
    """``text`` with ``item`` appended to the string array ``key`` of ``[table]``, formatting kept.

    Multi-line arrays get a new line with the indentation and quote style of the existing items
    (in sorted position when the items are sorted); single-line arrays get ``, "item"``. Returns
    ``None`` when the array is not found or the result does not parse back to exactly the old
    data plus the new item (checked with :mod:`tomllib`).
    """
    span = _table_span(text, table)
    if span is None:
        return None
    body = text[span[0] : span[1]]
    m = re.search(rf"^[ \t]*[\"']?{re.escape(key)}[\"']?[ \t]*=[ \t]*\[", body, re.MULTILINE)
    if not m:
        return None
    open_index = span[0] + m.end() - 1
    close_index = _array_end(text, open_index)
    if close_index is None:
        return None
    inner = text[open_index + 1 : close_index]
    quote = "'" if re.search(r"^\s*'", inner) else '"'
    new_item = f"{quote}{item}{quote}"
    if "\n" not in inner:
        stripped = inner.rstrip()
        if not stripped.strip():
            new_inner = new_item
        elif stripped.endswith(","):
            new_inner = f"{stripped} {new_item}"
        else:
            new_inner = f"{stripped}, {new_item}"
        new_text = text[: open_index + 1] + new_inner + text[close_index:]
    else:
        lines = inner.split("\n")
        item_rows = [i for i, line in enumerate(lines) if re.match(r"^\s*[\"']", line)]
        first_item = lines[item_rows[0]] if item_rows else ""
        indent = first_item[: len(first_item) - len(first_item.lstrip())] if item_rows else "    "
        row = f"{indent}{new_item},"
        one_per_line = all(re.fullmatch(r"\s*([\"'])[^\"']*\1\s*,?\s*(?:#.*)?", lines[i]) for i in item_rows)
        if item_rows and one_per_line:
            names = [
                normalise(_requirement_name(lines[i].strip().strip(",").strip("\"'")) or "")
                for i in item_rows
            ]
            at = item_rows[-1] + 1
            if names == sorted(names):
                later = [i for i, name in zip(item_rows, names, strict=True) if name > normalise(item)]
                if later:
                    at = later[0]
            if at == item_rows[-1] + 1:
                last_item = lines[item_rows[-1]]
                code, sep, comment = last_item.partition(" #")
                if not code.rstrip().endswith(","):
                    lines[item_rows[-1]] = code.rstrip() + "," + (f" {sep.strip()}{comment}" if sep else "")
            lines.insert(at, row)
        else:
            content = [i for i, line in enumerate(lines) if line.strip() and not line.strip().startswith("#")]
            if content:
                last_row = content[-1]
                if not lines[last_row].rstrip().endswith(","):
                    lines[last_row] = lines[last_row].rstrip() + ","
                lines.insert(last_row + 1, row)
            else:
                lines.insert(len(lines) - 1 if len(lines) > 1 else 1, row)
        new_text = text[: open_index + 1] + "\n".join(lines) + text[close_index:]
    try:
        before, after = tomllib.loads(text), tomllib.loads(new_text)
    except tomllib.TOMLDecodeError:
        return None
    target = after
    for part in table.split("."):
        target = target.get(part, {}) if isinstance(target, dict) else {}
    values = target.get(key) if isinstance(target, dict) else None
    if not isinstance(values, list) or item not in values:
        return None
    values.remove(item)
    return new_text if after == before else None


def _insert_project_dependencies(text: str, item: str) -> str | None:
    """Add a ``dependencies = [...]`` key holding ``item`` at the end of a static ``[project]``."""
    span = _table_span(text, "project")
    if span is None:
        return None
    body = text[span[0] : span[1]]
    stripped = body.rstrip("\n")
    insert_at = span[0] + len(stripped)
    prefix = "\n" if stripped else ""
    new_text = text[:insert_at] + f'{prefix}dependencies = [\n    "{item}",\n]' + text[insert_at:]
    if insert_at == len(text):
        new_text += "\n"
    try:
        before, after = tomllib.loads(text), tomllib.loads(new_text)
    except tomllib.TOMLDecodeError:
        return None
    if after.get("project", {}).pop("dependencies", None) != [item] or after != before:
        return None
    return new_text


# ---------------------------------------------------------------------------------------------
# The backend
# ---------------------------------------------------------------------------------------------


class RulesBackend:
    """Offline, deterministic :class:`~ci_healer.backends.base.Backend`.

    ``repo`` is the repository at the failing commit (``None`` when unavailable: root causes are
    still given, patches never). :meth:`propose` never raises for any request: unknown failures
    get a root cause built from the error line, its file and line, and the failing test, with
    the classification's category and a confidence of at most 0.35.
    """

    name = "rules"

    def __init__(self, repo: RepoSource | None) -> None:
        self._repo = repo

    # -- public ---------------------------------------------------------------------------------

    def propose(self, request: ProposalRequest) -> Proposal:
        """A :class:`Proposal` for ``request``: a patch only for the certain cases listed above.

        Confidence: 0.9 for a patch; a patch is made only when the distribution name is certain
        (mapped, or a well-known same-name package) — an unknown import name is never guessed;
        0.5–0.7 for recognised failures without a patch, 0.2–0.35 for the generic root cause.
        """
        for rule in (self._missing_python_module, self._unused_imports, self._other_known_failures):
            proposal = rule(request)
            if proposal is not None:
                return proposal
        return self._generic(request)

    # -- internals ------------------------------------------------------------------------------

    def _where(self, blocks: list[Block]) -> tuple[str, int | None] | None:
        if self._repo is not None:
            refs = referenced_files(blocks, self._repo)
            if refs:
                return refs[0]
        for block in blocks:
            # Only references printed as paths: class and module names need the repository.
            block_refs = [r for r in _causal_order(_block_refs(block.text)) if r.name is None]
            for ref in sorted(
                block_refs,
                key=lambda r: (r.kind == "bare", r.line is None, "/" not in r.raw.replace("\\", "/")),
            ):
                parts = _split_path(ref.raw)
                if parts:
                    # Without the repository, an absolute path outside a known CI workspace is
                    # shown as printed (it may be a container path such as /root/src/...).
                    raw = ref.raw.strip().replace("\\", "/")
                    shown = (
                        raw
                        if raw.startswith("/") and not any(p.match(raw) for p in _WORKSPACE_PREFIXES)
                        else "/".join(parts)
                    )
                    return shown, ref.line
        return None

    @staticmethod
    def _fmt_where(where: tuple[str, int | None] | None) -> str:
        if where is None:
            return ""
        path, line = where
        return f"{path}:{line}" if line else path

    @staticmethod
    def _test_name(blocks: list[Block]) -> str | None:
        """The failing test: a pytest node id first, then section headers, Go, JUnit, Jest names."""
        lines = [line.strip() for block in blocks for line in _block_lines(block)]
        for pattern in _TEST_NAMES:
            for line in lines:
                m = pattern.search(line)
                if m:
                    cls = m.groupdict().get("cls")
                    return m.group("name") + (f" ({cls})" if cls else "")
        return None

    def _generic(self, request: ProposalRequest) -> Proposal:
        category = request.classification.category
        blocks = request.blocks
        if category == Category.TEST:  # the failing test's own block speaks first
            blocks = sorted(blocks, key=lambda b: not failing_test_shown(_clean_text(b.text)))
        error_line, strength = "", len(_ERROR_LINES)
        chosen: Block | None = None
        for block in blocks:
            lines = [line for line in _block_lines(block) if line.strip()]
            for rank, (pattern, last) in enumerate(_ERROR_LINES):
                if rank >= strength:
                    break
                hits = [line for line in lines if pattern.search(line.strip())]
                if hits:
                    error_line, strength, chosen = (hits[-1] if last else hits[0]).strip(), rank, block
                    break
            if strength <= 1:
                break
        if not error_line:
            for block in blocks:
                lines = [line for line in _block_lines(block) if line.strip()]
                if lines:
                    error_line, chosen = lines[-1].strip(), block
                    break
        test = self._test_name(([chosen] if chosen else []) + [b for b in blocks if b is not chosen])
        where = self._where([chosen] + [b for b in blocks if b is not chosen] if chosen else list(blocks))
        sentence = _CATEGORY_PHRASE[category]
        if test:
            sentence += f" in test `{_squash(test, 200)}`"
        if where:
            sentence += f" at `{self._fmt_where(where)}`"
        if error_line:
            sentence += f": `{_squash(error_line)}`"
        else:
            sentence += ", but the failure blocks carry no error message"
        sentence += "."
        confidence = 0.35 if strength <= 3 else 0.25
        if category == Category.UNKNOWN:
            confidence = min(confidence, 0.2)
        return Proposal(root_cause=sentence, category=category, files_to_modify=[], confidence=confidence)

    # -- rule: ModuleNotFoundError --------------------------------------------------------------

    def _missing_python_module(self, request: ProposalRequest) -> Proposal | None:
        if any(failing_test_shown(_clean_text(b.text)) for b in request.blocks):
            # A test that failed on its own outranks import errors printed beside it (optional
            # modules a runner or plugin tries and skips), as in classify: this rule must not
            # turn a test failure into a dependency fix.
            return None
        found: tuple[str, Block] | None = None
        for block in request.blocks:
            for line in _block_lines(block):
                m = _MISSING_MODULE.search(line)
                if m:
                    found = (m.group("module").rstrip("."), block)
                    break
            if found:
                break
        if found is None:
            return None
        module, block = found
        top = module.split(".")[0]
        where = self._where([block])
        at = f" (imported at `{self._fmt_where(where)}`)" if where else ""

        def refuse(cause: str, category: Category = Category.DEPENDENCY, confidence: float = 0.6) -> Proposal:
            return Proposal(root_cause=cause, category=category, files_to_modify=[], confidence=confidence)

        own = set(request.project_packages)
        if self._repo is not None:
            own.update(project_packages(self._repo))
        if top in own:
            return refuse(
                f"Python cannot import `{module}`{at}, which is the project's own package: it is not installed "
                "in the job (for example a missing `pip install -e .`), is not on `sys.path` from the directory "
                "the step runs in, or the submodule does not exist. Adding a dependency would not fix this.",
                Category.CONFIGURATION,
            )
        if top in REMOVED_FROM_STDLIB:
            return refuse(
                f"Python cannot import `{module}`{at}: `{top}` was removed from the standard library in "
                f"Python {REMOVED_FROM_STDLIB[top]}, so the code must move off it (or the job must use an "
                "older Python); it is not a PyPI dependency to add.",
            )
        if top in sys.stdlib_module_names:
            return refuse(
                f"Python cannot import the standard-library module `{module}`{at}: the Python used by the job "
                "was built without it (a missing system library such as libffi, liblzma, libsqlite3 or tk), "
                "or a local file shadows it. It is not a PyPI dependency to add.",
                Category.CONFIGURATION,
            )
        if top in PYTHON2_ONLY_MODULES:
            return refuse(
                f"Python cannot import `{module}`{at}: it is a Python 2 standard-library module that was renamed "
                "or removed in Python 3, so the code needs porting; it is not a PyPI dependency to add.",
                Category.COMPILE,
            )
        candidates = distribution_candidates(module)
        dist = candidates[0]
        if top.startswith("_") or (normalise(dist) == normalise(top) and top in NAMESPACE_ONLY):
            return refuse(
                f"Python cannot import `{module}`{at}; the name does not identify one PyPI distribution "
                "(a private extension module or a namespace shared by many packages), so no dependency "
                "can be added with certainty.",
                confidence=0.5,
            )
        if self._repo is None:
            return refuse(
                f"Python cannot import `{module}`{at}: the distribution `{dist}` is not installed. Add `{dist}` "
                "to the project's dependency manifest (the repository was not available to patch).",
            )
        declared = _declared(self._repo)
        for cand in candidates:
            places = declared.get(normalise(cand))
            if places:
                listed = ", ".join(f"`{p}`" for p in dict.fromkeys(places))
                return refuse(
                    f"Python cannot import `{module}`{at}, but its distribution `{cand}` is already declared in "
                    f"{listed}: the dependency is declared but not installed in that environment (the step "
                    "installs a different requirements file or extra, installation failed earlier, or the job "
                    "runs a different interpreter).",
                    confidence=0.7,
                )
        if not is_known(module):
            return refuse(
                f"Python cannot import `{module}`{at}: no declared dependency provides it. ci-healer does not "
                f"know which PyPI distribution provides `{top}`, and adding a guessed name could install an "
                "unrelated or malicious package, so no patch is proposed; add the right distribution to the "
                "project's dependencies.",
                confidence=0.6,
            )
        edit = self._manifest_edit(request, dist, where)
        mapped = f" (import name `{top}`)" if normalise(dist) != normalise(top) else ""
        if edit is None:
            return refuse(
                f"Python cannot import `{module}`{at}: `{dist}`{mapped} is not declared in any dependency "
                "manifest, and none of the manifests found can be edited with certainty; add it to the "
                "project's dependencies.",
            )
        return Proposal(
            root_cause=(
                f"Python cannot import `{module}`{at}: the distribution `{dist}`{mapped} is not declared "
                f"in the project's dependencies, so the job never installs it. Add it to `{edit.file_path}`."
            ),
            category=Category.DEPENDENCY,
            files_to_modify=[edit],
            confidence=0.9,
        )

    def _manifest_edit(
        self, request: ProposalRequest, dist: str, where: tuple[str, int | None] | None
    ) -> FileEdit | None:
        repo = self._repo
        assert repo is not None
        paths = set(repo.list_paths())
        is_test = bool(where and _TEST_FILE.search(where[0]))

        def requirements_edit(path: str) -> FileEdit | None:
            text = repo.read_text(path)
            if text is None:
                return None
            change = minimal_edit(text, _insert_requirement(text, dist))
            if change is None:
                return None
            return FileEdit(file_path=path, original=change[0], replacement=change[1])

        def toml_edit(table: str, key: str) -> FileEdit | None:
            text = repo.read_text("pyproject.toml")
            if text is None:
                return None
            new = _insert_toml_item(text, table, key, dist)
            change = minimal_edit(text, new) if new else None
            if change is None:
                return None
            return FileEdit(file_path="pyproject.toml", original=change[0], replacement=change[1])

        # 1. the requirements file the failing step installed (named in the blocks)
        for block in request.blocks:
            for line in _block_lines(block):
                for m in _REQ_FLAG.finditer(line):
                    parts = _split_path(m.group("file"))
                    path = "/".join(parts) if parts else None
                    if path in paths:
                        return requirements_edit(path)

        pyproject: dict = {}
        if "pyproject.toml" in paths:
            try:
                pyproject = tomllib.loads(repo.read_text("pyproject.toml") or "")
            except tomllib.TOMLDecodeError:
                pyproject = {}
        project = pyproject.get("project") if isinstance(pyproject.get("project"), dict) else None

        # 2. a test-only requirements file or extra, when the import is in a test
        if is_test:
            for path in _TEST_REQUIREMENTS:
                if path in paths:
                    return requirements_edit(path)
            extras = (project or {}).get("optional-dependencies", {})
            groups = pyproject.get("dependency-groups", {})
            for name in _TEST_EXTRAS:
                if isinstance(extras, dict) and isinstance(extras.get(name), list):
                    return toml_edit("project.optional-dependencies", name)
                if isinstance(groups, dict) and isinstance(groups.get(name), list):
                    return toml_edit("dependency-groups", name)

        # 3. dynamic [project] dependencies read from a file
        if project is not None and "dependencies" in (project.get("dynamic") or []):
            dynamic = (
                pyproject.get("tool", {}).get("setuptools", {}).get("dynamic", {}).get("dependencies", {})
            )
            files = dynamic.get("file") if isinstance(dynamic, dict) else None
            files = [files] if isinstance(files, str) else files or []
            for path in files:
                if isinstance(path, str) and path.lstrip("./") in paths:
                    return requirements_edit(path.lstrip("./"))

        # 4. runtime requirements files
        for path in _RUNTIME_REQUIREMENTS:
            if path in paths:
                return requirements_edit(path)

        # 5. static [project].dependencies
        if project is not None and "dependencies" not in (project.get("dynamic") or []):
            if isinstance(project.get("dependencies"), list):
                return toml_edit("project", "dependencies")
            text = repo.read_text("pyproject.toml") or ""
            new = _insert_project_dependencies(text, dist)
            change = minimal_edit(text, new) if new else None
            if change:
                return FileEdit(file_path="pyproject.toml", original=change[0], replacement=change[1])
        return None

    # -- rules without a patch ------------------------------------------------------------------

    def _unused_imports(self, request: ProposalRequest) -> Proposal | None:
        """The ruff/flake8 ``F401`` class of lint logs (see the module docstring): a deletion of
        each reported single-name import line, or ``None`` when any report is not certain."""
        text = "\n".join(line for block in request.blocks for line in _block_lines(block))
        found: list[tuple[str, int, str]] = []
        for m in _F401_CONCISE.finditer(text):
            found.append((m.group("path"), int(m.group("line")), m.group("name")))
        for m in _F401_FULL.finditer(text):
            found.append((m.group("path"), int(m.group("line")), m.group("name")))
        if not found or self._repo is None or len(found) > _MAX_UNUSED_IMPORTS:
            return None
        edits: dict[str, list[str]] = {}
        for raw_path, line_no, name in dict.fromkeys(found):
            path = "/".join(_split_path(raw_path) or [])
            source = self._repo.read_text(path) if path else None
            if source is None:
                return None
            lines = _lines_keepends(source)
            if not 1 <= line_no <= len(lines):
                return None
            line = lines[line_no - 1]
            module, _, attr = name.rpartition(".")
            stripped = line.rstrip("\r\n")
            if stripped != f"import {name}" and not (module and stripped == f"from {module} import {attr}"):
                return None
            if lines.count(line) != 1:  # the edit must locate exactly this line
                return None
            edits.setdefault(path, []).append(line)
        names = ", ".join(f"`{n}`" for _, _, n in dict.fromkeys(found))
        return Proposal(
            root_cause=f"Unused import(s) {names} reported by the linter (F401); the import lines are removed.",
            category=Category.LINT,
            files_to_modify=[
                FileEdit(file_path=path, original=line, replacement="")
                for path, lines in edits.items()
                for line in lines
            ],
            confidence=0.9,
        )

    def _other_known_failures(self, request: ProposalRequest) -> Proposal | None:
        for block in request.blocks:
            where = None
            for line in _block_lines(block):
                text = line.strip()
                m = re.search(r"Cannot find module '(?P<m>[^']+)'|Can't resolve '(?P<r>[^']+)'", text)
                if m:
                    name = m.group("m") or m.group("r")
                    where = where or self._where([block])
                    at = f" (required at `{self._fmt_where(where)}`)" if where else ""
                    if name.startswith((".", "/")):
                        cause = (
                            f"Node cannot find the file module `{name}`{at}: the path is wrong or the file is "
                            "generated by a build step that did not run before this one."
                        )
                        return Proposal(
                            root_cause=cause, category=request.classification.category, confidence=0.5
                        )
                    package = "/".join(name.split("/")[:2]) if name.startswith("@") else name.split("/")[0]
                    cause = (
                        f"Node cannot find the package `{package}`{at}: it is not installed in the job — either it is "
                        "missing from package.json dependencies or the install step (npm ci) did not run or "
                        "failed. Adding it to package.json changes the lock file, so no automatic patch is made."
                    )
                    return Proposal(root_cause=cause, category=Category.DEPENDENCY, confidence=0.6)
                m = re.search(
                    r"(?:Could not find a version that satisfies the requirement|No matching distribution found for) (?P<req>\S+)",
                    text,
                )
                if m:
                    cause = (
                        f"pip cannot install `{_squash(m.group('req'), 120)}`: no release matches the requirement for "
                        "this Python version and platform (a pin to a version that does not exist, was yanked, or "
                        "has no wheel for this interpreter), or the package index was unreachable."
                    )
                    return Proposal(root_cause=cause, category=Category.DEPENDENCY, confidence=0.6)
                m = re.search(r"fixture '(?P<f>[\w-]+)' not found", text)
                if m:
                    where = where or self._where([block])
                    at = f" used at `{self._fmt_where(where)}`" if where else ""
                    cause = (
                        f"The pytest fixture `{m.group('f')}`{at} is not defined: the plugin that provides it is not "
                        "installed, or the conftest.py that defines it is not on the test's path, or the name is "
                        "misspelled."
                    )
                    return Proposal(root_cause=cause, category=Category.TEST, confidence=0.55)
                m = re.search(r"no required module provides package (?P<p>\S+?);?(?:\s|$)", text)
                if m:
                    cause = (
                        f"Go cannot find the package `{m.group('p')}`: its module is not required in go.mod (run "
                        "`go get` for it and commit go.mod and go.sum)."
                    )
                    return Proposal(root_cause=cause, category=Category.DEPENDENCY, confidence=0.6)
                m = re.search(
                    r"(?:^|\s)(?:\S+: )?(?:line \d+: )?(?P<c>[\w.+-]+): command not found$", text
                ) or re.search(r"^(?:/bin/)?(?:ba|da)?sh: \d+: (?P<c>[\w.+-]+): not found$", text)
                # Travis CI's own stage script prints harmless "not found" lines on macOS images.
                if m and ".travis/job_stages" not in text and m.group("c") != "shell_session_update":
                    cause = (
                        f"The command `{m.group('c')}` is not installed on the runner or not on PATH in this step: "
                        "a setup step that installs it is missing or failed."
                    )
                    return Proposal(root_cause=cause, category=Category.CONFIGURATION, confidence=0.55)
        return None
