"""Deterministic patch policy and "cheating fix" detection.

Policy (SECURITY.md items 9–12) decides whether a computed patch may be shown as applicable at
all; a single :class:`~ci_healer.models.Violation` withholds it. Cheat detection (PRODUCT.md
"Risk badge") flags patches that hide a failure instead of fixing it; cheats do not withhold a
patch but force the risk badge to high and are named in the comment. :func:`review_patch` adds
the checks that hold against a wrong model — dependencies that are not verifiably the missing
one (:mod:`ci_healer.dependencies`), text the model was not shown, new files of a kind the
repository lacks — as :class:`~ci_healer.models.Finding` objects that raise the badge. Every
check runs on the final diff, whichever rule matched the edits (:mod:`ci_healer.patch`).

Path rules follow what git itself refuses to check out (``verify_path`` in git's ``read-cache.c``
with ``core.protectNTFS``/``core.protectHFS``: any ``.git`` component, case-insensitively, also
with trailing dots or spaces, the NTFS short name ``GIT~1`` and HFS-ignored code points), and the
protected-file list follows the files GitHub and coding agents treat as configuration
(``.github/**``, action metadata, ``CODEOWNERS``, ``AGENTS.md`` and similar instruction files).
"""

from __future__ import annotations

import difflib
import hashlib
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import PurePosixPath

from pydantic import BaseModel, Field

from ci_healer.dependencies import check_dependencies, ecosystem
from ci_healer.models import Block, Cheat, ContextFile, FileChange, FileEdit, Finding, Patch, Violation
from ci_healer.repo import MODE_FILE, MODE_SUBMODULE, MODE_SYMLINK, MODE_TREE, RepoSource

#: Default deny list. Patterns without ``/`` match a file name at any depth; patterns with ``/``
#: are anchored at the repository root; ``**`` spans directories. Matched case-insensitively.
DEFAULT_PROTECTED: tuple[str, ...] = (
    ".github/**",
    "action.yml",
    "action.yaml",
    "Dockerfile*",
    "*.dockerfile",
    ".gitattributes",
    ".gitmodules",
    "CODEOWNERS",
    # Instructions read by coding agents and assistants.
    "AGENTS.md",
    "AGENT.md",
    "CLAUDE.md",
    "GEMINI.md",
    ".cursorrules",
    ".cursor/**",
    ".windsurfrules",
    ".clinerules",
    ".claude/**",
    ".aider.conf.yml",
)

_HFS_IGNORED = dict.fromkeys(
    map(
        ord,
        "\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u206a\u206b\u206c\u206d\u206e\u206f\ufeff",
    )
)
_ALLOWED_CONTROL = {"\t", "\r", "\n"}


class PolicyConfig(BaseModel):
    """Patch policy settings (action inputs).

    ``protected_paths``: glob patterns added to :data:`DEFAULT_PROTECTED` (never lifted).
    ``allowed_paths``: glob patterns that lift :data:`DEFAULT_PROTECTED` for the paths they match,
    e.g. ``.github/workflows/ci.yml``. Caps: ``max_files`` files, ``max_patch_bytes`` UTF-8 bytes
    of diff, ``max_line_length`` characters per added line.
    """

    protected_paths: list[str] = Field(default_factory=list)
    allowed_paths: list[str] = Field(default_factory=list)
    max_files: int = Field(default=10, ge=1)
    max_patch_bytes: int = Field(default=64_000, ge=1)
    max_line_length: int = Field(default=500, ge=1)


# --------------------------------------------------------------------------------------- globs


@lru_cache(maxsize=512)
def _glob_regex(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    """Compile a gitignore-like glob: ``**`` any depth, ``*``/``?`` within one component."""
    pat = pattern.strip()
    anchored = "/" in pat.rstrip("/")
    pat = pat.lstrip("/")
    if pat.endswith("/"):
        pat += "**"
    out = []
    i = 0
    while i < len(pat):
        c = pat[i]
        if pat.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pat.startswith("**", i):
            out.append(".*")
            i += 2
        elif c == "*":
            out.append("[^/]*")
            i += 1
        elif c == "?":
            out.append("[^/]")
            i += 1
        elif c == "[":
            end = pat.find("]", i + 1)
            if end == -1:
                out.append(re.escape(c))
                i += 1
            else:
                body = pat[i + 1 : end].replace("\\", "\\\\")
                if body.startswith("!"):
                    body = "^" + body[1:]
                out.append(f"[{body}]")
                i = end + 1
        else:
            out.append(re.escape(c))
            i += 1
    prefix = "" if anchored else "(?:.*/)?"
    return re.compile(prefix + "".join(out) + r"\Z", re.IGNORECASE if ignore_case else 0)


def glob_match(path: str, pattern: str, *, ignore_case: bool = False) -> bool:
    """True when repository path ``path`` matches ``pattern``.

    Patterns without a ``/`` match the file name at any depth (``Dockerfile*`` matches
    ``docker/Dockerfile.ci``); patterns with a ``/`` are anchored at the root; ``**`` matches any
    number of directories; a trailing ``/`` means everything below.
    """
    if not pattern.strip():
        return False
    return _glob_regex(pattern, ignore_case).match(path) is not None


def _matches_any(path: str, patterns: Iterable[str], *, ignore_case: bool) -> str | None:
    for pattern in patterns:
        if glob_match(path, pattern, ignore_case=ignore_case):
            return pattern
    return None


def protected_reason(path: str, config: PolicyConfig | None = None) -> str | None:
    """The deny pattern that protects ``path`` (``None`` when the path may be edited).

    A :data:`DEFAULT_PROTECTED` match is lifted when an ``allowed_paths`` pattern matches the path
    (case-sensitively); ``protected_paths`` matches are never lifted.
    """
    config = config or PolicyConfig()
    extra = _matches_any(path, config.protected_paths, ignore_case=True)
    if extra is not None:
        return extra
    default = _matches_any(path, DEFAULT_PROTECTED, ignore_case=True)
    if default is not None and _matches_any(path, config.allowed_paths, ignore_case=False) is None:
        return default
    return None


# --------------------------------------------------------------------------------------- paths


def _is_git_component(part: str) -> bool:
    cleaned = part.translate(_HFS_IGNORED).rstrip(". ").casefold()
    return cleaned in (".git", "git~1")


def _bad_chars(text: str) -> list[str]:
    """Non-printing characters other than tab/CR/LF: C0/C1 controls, format (bidi, zero-width), separators."""
    found = []
    for ch in text:
        if ch in _ALLOWED_CONTROL:
            continue
        if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp"):
            found.append(f"U+{ord(ch):04X}")
    return found


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _path_violations(path: str, config: PolicyConfig) -> list[Violation]:
    """Shape checks of one path (no repository access)."""
    out: list[Violation] = []

    def add(code: str, message: str) -> None:
        out.append(Violation(code=code, path=path, message=message))

    if not _encodable(path):
        add("not_utf8", f"{path!r}: the path is not valid UTF-8")
        return out
    if "\x00" in path:
        add("nul_byte", f"{path!r}: the path contains a NUL byte")
    if path.startswith(("/", "~")) or re.match(r"^[A-Za-z]:", path):
        add(
            "absolute_path", f"{path}: absolute paths are refused; use a path relative to the repository root"
        )
    if "\\" in path:
        add("backslash", f"{path}: backslashes are refused in paths (use '/')")
    parts = re.split(r"[/\\]", path)
    if ".." in parts:
        add("path_traversal", f"{path}: '..' would leave the repository")
    if any(_is_git_component(p) for p in parts):
        add("git_dir", f"{path}: files inside a .git directory can never be edited")
    bad = [c for c in _bad_chars(path) if c != "U+0000"]
    if bad:
        add("control_chars", f"{path!r}: the path contains non-printing characters ({', '.join(bad)})")
    clean = PurePosixPath(path.replace("\\", "/")).as_posix().lstrip("/")
    if PurePosixPath(clean).name.casefold() == ".gitmodules":
        add("submodule", f"{path}: editing .gitmodules changes submodules, which patches may not do")
    pattern = protected_reason(clean, config)
    if pattern is not None:
        add(
            "protected_path",
            f"{path}: protected file (matches '{pattern}'); list it in allowed-paths to let fixes change it",
        )
    return out


def _entry_violations(path: str, repo: RepoSource) -> list[Violation]:
    """Symlink/submodule checks: the path itself and every parent in the base tree."""
    parts = PurePosixPath(path).parts
    for i in range(1, len(parts) + 1):
        sub = "/".join(parts[:i])
        try:
            found = repo.entry(sub)
        except Exception as err:  # a RepoSource is injected; never let a read failure pass a path
            return [Violation(code="symlink", path=path, message=f"{path}: could not inspect {sub}: {err}")]
        if found is None:
            return []
        if found.mode == MODE_SYMLINK:
            where = "is a symlink" if sub == path else f"goes through the symlink {sub}"
            return [
                Violation(
                    code="symlink",
                    path=path,
                    message=f"{path} {where}; symlinks are never edited or followed",
                )
            ]
        if found.mode == MODE_SUBMODULE:
            where = "is a submodule" if sub == path else f"is inside the submodule {sub}"
            return [
                Violation(code="submodule", path=path, message=f"{path} {where}; submodules are never edited")
            ]
        if found.path != sub:
            return []
        if i < len(parts) and found.mode != MODE_TREE:
            return []
    return []


def _dedupe(items: list[Violation]) -> list[Violation]:
    seen: set[tuple[str, str | None]] = set()
    out = []
    for v in items:
        key = (v.code, v.path)
        if key not in seen:
            seen.add(key)
            out.append(v)
    return out


def check_edits_paths(
    edits: Sequence[FileEdit], config: PolicyConfig, *, repo: RepoSource | None = None
) -> list[Violation]:
    """Path-shape violations of the proposal's edits, checked before any diff is built.

    Codes: ``not_utf8``, ``nul_byte``, ``absolute_path``, ``backslash``, ``path_traversal``,
    ``git_dir``, ``control_chars``, ``submodule`` (``.gitmodules``), ``protected_path``; with
    ``repo`` also ``symlink``/``submodule`` for paths that are or cross a symlink or submodule in
    the base tree, and ``not_utf8`` for edit text that cannot be encoded. Empty list = allowed.
    """
    found: list[Violation] = []
    for edit in edits:
        found.extend(_path_violations(edit.file_path, config))
        if not _encodable(edit.replacement) or not _encodable(edit.original):
            found.append(
                Violation(
                    code="not_utf8",
                    path=edit.file_path,
                    message=f"{edit.file_path}: the edit text is not valid UTF-8",
                )
            )
        if repo is not None and not any(v.code in _SHAPE_CODES for v in found if v.path == edit.file_path):
            found.extend(_entry_violations(PurePosixPath(edit.file_path).as_posix(), repo))
    return _dedupe(found)


_SHAPE_CODES = {"not_utf8", "nul_byte", "absolute_path", "backslash", "path_traversal"}
_DIFF_HEADER_RE = re.compile(
    r"^(old mode|new mode|deleted file mode|new file mode|rename from|rename to|copy from|copy to"
    r"|GIT binary patch|Binary files)\b(.*)$",
    re.MULTILINE,
)


def check_patch(patch: Patch, repo: RepoSource, config: PolicyConfig) -> list[Violation]:
    """Every policy violation of a computed ``patch`` against the base tree ``repo``.

    Adds to the path checks of :func:`check_edits_paths`: ``symlink``, ``submodule`` (mode
    120000/160000 of the file or a parent), ``mode_change`` (mode, rename, copy or delete headers,
    new files other than 100644), ``binary`` (NUL in old or new text, binary diff sections),
    ``not_utf8``, ``too_many_files`` (> ``max_files``), ``too_large`` (diff > ``max_patch_bytes``
    UTF-8 bytes), ``line_too_long`` (added line > ``max_line_length`` characters),
    ``control_chars`` (non-printing characters other than tab/CR/LF in added lines, e.g. the bidi
    override U+202E) and ``invalid_diff`` (the digest does not match the diff). Never raises.
    """
    found: list[Violation] = []
    diff_bytes = patch.diff.encode("utf-8", "surrogatepass")
    if not _encodable(patch.diff):
        found.append(Violation(code="not_utf8", message="the diff is not valid UTF-8"))
    elif hashlib.sha256(diff_bytes).hexdigest() != patch.digest:
        found.append(Violation(code="invalid_diff", message="the patch digest does not match its diff"))
    if len(patch.files) > config.max_files:
        found.append(
            Violation(
                code="too_many_files",
                message=f"the patch changes {len(patch.files)} files (limit {config.max_files})",
            )
        )
    if len(diff_bytes) > config.max_patch_bytes:
        found.append(
            Violation(
                code="too_large",
                message=f"the diff is {len(diff_bytes)} bytes (limit {config.max_patch_bytes})",
            )
        )
    for match in _DIFF_HEADER_RE.finditer(patch.diff):
        head, rest = match.group(1), match.group(2).strip()
        if head in ("GIT binary patch", "Binary files"):
            found.append(Violation(code="binary", message="the diff contains a binary file section"))
        elif head == "new file mode" and rest == "100644":
            continue
        else:
            found.append(
                Violation(
                    code="mode_change",
                    message=f"the diff changes file modes or names ({head} {rest}".strip() + ")",
                )
            )
    for change in patch.files:
        path = change.path
        found.extend(_path_violations(path, config))
        if not any(v.code in _SHAPE_CODES for v in found if v.path == path):
            found.extend(_entry_violations(path, repo))
            try:
                base = repo.entry(path)
            except Exception:
                base = None
            if base is not None and base.path == path and change.is_new_file:
                found.append(
                    Violation(
                        code="mode_change", path=path, message=f"{path}: marked as a new file but it exists"
                    )
                )
            if (
                base is not None
                and base.path == path
                and base.mode not in (MODE_FILE, "100755", MODE_SYMLINK, MODE_SUBMODULE)
            ):
                found.append(
                    Violation(
                        code="mode_change",
                        path=path,
                        message=f"{path}: not a regular file (mode {base.mode})",
                    )
                )
        for label, text in (("old", change.old_text), ("new", change.new_text)):
            if not _encodable(text):
                found.append(
                    Violation(
                        code="not_utf8", path=path, message=f"{path}: the {label} text is not valid UTF-8"
                    )
                )
            elif "\x00" in text:
                found.append(
                    Violation(
                        code="binary",
                        path=path,
                        message=f"{path}: the {label} text contains NUL bytes (binary)",
                    )
                )
        long_lines = [n for n, line in enumerate(change.added, 1) if len(line) > config.max_line_length]
        if long_lines:
            found.append(
                Violation(
                    code="line_too_long",
                    path=path,
                    message=f"{path}: {len(long_lines)} added line(s) longer than {config.max_line_length} characters",
                )
            )
        bad = sorted({c for line in change.added for c in _bad_chars(line) if c != "U+0000"})
        if bad:
            found.append(
                Violation(
                    code="control_chars",
                    path=path,
                    message=f"{path}: added lines contain non-printing characters ({', '.join(bad)})",
                )
            )
    return _dedupe(found)


# -------------------------------------------------------------------------------------- cheats

_SKIP_PATTERNS: tuple[tuple[str, str], ...] = (
    (r"pytest\.mark\.(?:skip|skipif|xfail)\b", "marks a test as skipped or expected to fail"),
    (r"\bpytest\.(?:skip|xfail|importorskip)\s*\(", "skips a test at run time"),
    (r"@unittest\.(?:skip|skipIf|skipUnless|expectedFailure)\b", "marks a test as skipped"),
    (r"\.skipTest\s*\(|\braise\s+(?:unittest\.)?SkipTest\b", "skips a test at run time"),
    (r"\b(?:it|test|describe|context|suite)\.skip(?:If)?\s*\(", "skips a JavaScript test"),
    (r"\b(?:xit|xdescribe|xtest|xcontext|xspecify)\s*\(", "skips a JavaScript/RSpec test"),
    (r"\b(?:it|test|describe|context)\.only\s*\(|\b(?:fit|fdescribe)\s*\(", "runs only some tests (.only)"),
    (r"\b[tb]\.Skip(?:f|Now)?\s*\(", "skips a Go test"),
    (r"#\[ignore\b", "ignores a Rust test"),
    (r"@(?:Ignore|Disabled(?:If\w*|On\w*)?)\b", "disables a JUnit test"),
    (r"\[(?:Ignore|Fact\s*\(\s*Skip\s*=|Theory\s*\(\s*Skip\s*=)", "skips a .NET test"),
    (r"\bmarkTest(?:Skipped|Incomplete)\s*\(", "skips a PHPUnit test"),
    (r"--deselect\b|\bcollect_ignore(?:_glob)?\b", "deselects tests"),
    (r"--ignore(?:-glob)?[= ]\S*test", "excludes test files from the run"),
    (r"(?:^|\s)-k\s+['\"]?not\s", "deselects tests by name"),
)

_TEST_DEF_PATTERNS: tuple[str, ...] = (
    r"^\s*(?:async\s+)?def\s+(test\w*)\s*\(",
    r"^\s*class\s+(Test\w*)\b",
    r"^\s*(?:it|test|specify)\s*\(\s*(['\"`].*?['\"`])",
    r"^\s*func\s+(Test\w*)\s*\(",
    r"(@Test)\b",
    r"(#\[(?:tokio::)?test\])",
    r"^\s*(\[(?:Fact|Theory|Test|TestMethod)\])",
)

_ASSERT_RE = re.compile(
    r"^\s*(?:assert\b|self\.assert\w*\s*\(|self\.fail\w*\s*\(|assert_\w*!?\s*\(|assert!\s*\(|debug_assert\w*!\s*\("
    r"|(?:await\s+)?expect\s*\(|assert\.\w+\s*\(|(?:require|assert)\.\w+\s*\(\s*t\b|Assert\.\w+\s*\("
    r"|assert(?:Equals|That|True|False|Null|NotNull|Same|Throws|ArrayEquals)\s*\(|with\s+pytest\.raises\s*\("
    r"|with\s+self\.assertRaises\w*\s*\()"
)
_TRIVIAL_ASSERT_RE = re.compile(
    r"assert\s+(?:True|1|1\s*==\s*1|not\s+False)\s*(?:#.*)?$|assertTrue\s*\(\s*True\s*\)|assert\.ok\s*\(\s*true\s*\)"
    r"|expect\s*\(\s*true\s*\)\.toBe(?:Truthy)?\s*\(\s*(?:true)?\s*\)|assert!\s*\(\s*true\s*\)|assertTrue\s*\(\s*true\s*\)"
)

_CONTINUE_PATTERNS: tuple[tuple[str, str], ...] = (
    (
        r"continue-on-error\s*:\s*(?:true\b|\$\{\{\s*true\s*\}\})",
        "lets the CI step fail silently (continue-on-error)",
    ),
    (r"\ballow_failure\s*:\s*true\b", "lets the CI job fail silently (allow_failure)"),
)
_SHELL_CONTINUE_PATTERNS: tuple[tuple[str, str], ...] = (
    (r"\|\|\s*(?:true\b|:\s*(?:$|[;#\"'])|exit\s+0\b)", "ignores a command's failure (|| true)"),
    (r"^\s*-?\s*set\s+\+e\b", "turns off failing on errors (set +e)"),
)

_LINT_PATTERNS: tuple[tuple[str, str], ...] = (
    (r"#\s*noqa\b|#\s*ruff\s*:\s*noqa\b", "# noqa"),
    (r"#\s*type\s*:\s*ignore\b|#\s*pyright\s*:\s*ignore\b|#\s*mypy\s*:\s*ignore-errors\b", "# type: ignore"),
    (r"#\s*pylint\s*:\s*disable\b", "# pylint: disable"),
    (r"#\s*pragma\s*:\s*no\s*cover\b", "# pragma: no cover"),
    (r"#\s*fmt\s*:\s*(?:off|skip)\b", "# fmt: off"),
    (r"eslint-disable", "eslint-disable"),
    (r"@ts-(?:ignore|nocheck|expect-error)\b", "@ts-ignore"),
    (r"//\s*nolint\b|\bNOLINT(?:NEXTLINE)?\b", "nolint"),
    (r"@SuppressWarnings\b|@Suppress\s*\(", "@SuppressWarnings"),
    (r"#!?\[allow\s*\(", "#[allow(...)]"),
    (r"rubocop\s*:\s*disable\b", "rubocop:disable"),
    (r"prettier-ignore|biome-ignore|stylelint-disable", "formatter/linter ignore comment"),
)
_CONFIG_LINT_PATTERNS: tuple[tuple[str, str], ...] = (
    (
        r"^\s*(?:extend-)?ignore\s*=|^\s*per-file-ignores\s*=|^\s*ignore_errors\s*=\s*[Tt]rue\b"
        r"|^\s*disable_error_code\s*=|^\s*disable\s*=",
        "linter ignore setting",
    ),
)
_CONFIG_SUFFIXES = {".cfg", ".ini", ".toml", ".flake8", ".pylintrc"}
_SHELL_SUFFIXES = {".yml", ".yaml", ".sh", ".bash", ".zsh", ".mk", ".json", ".toml", ".cfg", ".ini", ".ps1"}
_SHELL_NAMES = {"makefile", "gnumakefile", "justfile", "jenkinsfile", "taskfile", "procfile"}


def _is_shell_like(path: str) -> bool:
    """Files whose lines are CI commands or shell: workflow YAML, scripts, Makefiles, package.json."""
    name = PurePosixPath(path).name.lower()
    return (
        PurePosixPath(name).suffix in _SHELL_SUFFIXES or name in _SHELL_NAMES or name.startswith("dockerfile")
    )


def _is_lint_config(path: str) -> bool:
    name = PurePosixPath(path).name.lower()
    return PurePosixPath(name).suffix in _CONFIG_SUFFIXES or name in {
        ".flake8",
        ".pylintrc",
        "pylintrc",
        ".ruff.toml",
    }


_THRESHOLDS: tuple[tuple[str, str, int], ...] = (
    # (key regex capturing the number, label, direction: +1 = raising loosens, -1 = lowering loosens)
    (r"\bfail[_-]under\s*[=:]\s*(\d+(?:\.\d+)?)", "coverage fail_under", -1),
    (r"--cov-fail-under[= ](\d+(?:\.\d+)?)", "--cov-fail-under", -1),
    (r"\b(?:branches|lines|functions|statements)\s*:\s*(\d+(?:\.\d+)?)", "coverage threshold", -1),
    (r"\brel_tol\s*=\s*([\d.eE+-]+)", "rel_tol", 1),
    (r"\babs_tol\s*=\s*([\d.eE+-]+)", "abs_tol", 1),
    (r"\b(?:rtol|rel)\s*=\s*([\d.eE+-]+)", "rtol", 1),
    (r"\b(?:atol|abs)\s*=\s*([\d.eE+-]+)", "atol", 1),
    (r"\bdelta\s*=\s*([\d.eE+-]+)", "delta", 1),
    (r"\b(?:epsilon|tolerance)\s*[=:]\s*([\d.eE+-]+)", "tolerance", 1),
    (r"\bplaces\s*=\s*(\d+)", "places", -1),
    (r"\btoBeCloseTo\s*\([^,]+,\s*(\d+)\s*\)", "toBeCloseTo digits", -1),
    (r"(?:max[-_]?warnings|maxWarnings)[\"']?\s*[=: ]\s*(\d+)", "maxWarnings", 1),
    (r"\bmax[-_]line[-_]length\s*[=:]\s*(\d+)", "max-line-length", 1),
    (r"\bmax[-_]complexity\s*[=:]\s*(\d+)", "max-complexity", 1),
    (r"--reruns[= ](\d+)|\breruns\s*=\s*(\d+)", "reruns", 1),
)
_ADDED_TOLERANCE = {"rel_tol", "abs_tol", "rtol", "atol", "delta", "tolerance"}

MAX_CHEATS_PER_KIND = 10

_TIMEOUT_RE = re.compile(r"time[-_]?out|deadline|setTimeout", re.IGNORECASE)
_NUMBER_RE = re.compile(r"\d+(?:\.\d+)?")

_TEST_PATH_RE = re.compile(
    r"(?:^|/)(?:tests?|spec|__tests__)/|(?:^|/)test_[^/]*$|_test\.\w+$|\.(?:test|spec)\.\w+$|Tests?\.\w+$"
)


def _num(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _net(lines: Sequence[str], other: Sequence[str]) -> list[str]:
    """Lines of ``lines`` not cancelled by an equal (whitespace-stripped) line of ``other``."""
    budget = Counter(x.strip() for x in other)
    out = []
    for line in lines:
        key = line.strip()
        if budget[key] > 0:
            budget[key] -= 1
        else:
            out.append(line)
    return out


def _test_defs(lines: Iterable[str]) -> list[tuple[str, str]]:
    found = []
    for line in lines:
        for pattern in _TEST_DEF_PATTERNS:
            m = re.search(pattern, line)
            if m:
                found.append((m.group(1), line))
                break
    return found


def _thresholds(lines: Iterable[str]) -> dict[str, tuple[float, str]]:
    found: dict[str, tuple[float, str]] = {}
    for line in lines:
        for pattern, label, _ in _THRESHOLDS:
            m = re.search(pattern, line)
            if m:
                value = _num(next(g for g in m.groups() if g is not None))
                if value is not None and label not in found:
                    found[label] = (value, line)
    return found


def _timeout_only(patch: Patch) -> list[Cheat]:
    """Cheats when every changed line is a timeout line and at least one timeout number grows."""
    changed = [(f.path, line) for f in patch.files for line in (*f.added, *f.removed)]
    if not changed or not all(_TIMEOUT_RE.search(line) for _, line in changed):
        return []
    grows = False
    for change in patch.files:
        old = [float(n) for line in change.removed for n in _NUMBER_RE.findall(line)]
        new = [float(n) for line in change.added for n in _NUMBER_RE.findall(line)]
        if new and (not old or max(new) > max(old)):
            grows = True
    if not grows:
        return []
    return [
        Cheat(
            code="timeout_only",
            path=f.path,
            line=line.strip()[:300],
            message=f"{f.path}: the only change raises a timeout",
        )
        for f in patch.files
        for line in f.added
    ]


def detect_cheats(patch: Patch, *, blocks: Sequence[Block] | None = None) -> list[Cheat]:
    """Changes that hide a failure instead of fixing it, one :class:`Cheat` per offending line.

    Codes: ``skip_test`` (skip/xfail/ignore/disable markers, ``.only``, deselection),
    ``delete_test`` (test functions or a whole test file removed), ``weaken_assertion``
    (assertions removed without replacement, trivial assertions such as ``assertTrue(True)``),
    ``continue_on_error`` (``continue-on-error: true``, ``|| true``, ``allow_failure``),
    ``lint_disable`` (``# noqa``, ``# type: ignore``, ``eslint-disable``, ``// nolint``,
    ``@SuppressWarnings``, ``#[allow(``, ...), ``loosen_threshold`` (coverage minimum lowered,
    tolerances or warning caps raised), ``timeout_only`` (the only change raises a timeout) and,
    when the failure ``blocks`` are given, ``change_assertion`` (an assertion of a test the failure
    names is rewritten: operator, expected value, or made always true; see
    :func:`changed_assertions`). Lines that are only moved (removed and re-added unchanged) are not counted; at most
    :data:`MAX_CHEATS_PER_KIND` cheats are kept per code and file.
    """
    cheats: list[Cheat] = []

    def add(code: str, path: str, line: str, message: str) -> None:
        cheats.append(Cheat(code=code, path=path, line=line.strip()[:300], message=message))

    for change in patch.files:
        path = change.path
        added = _net(change.added, change.removed)
        removed = _net(change.removed, change.added)
        for line in added:
            for pattern, why in _SKIP_PATTERNS:
                if re.search(pattern, line):
                    add("skip_test", path, line, f"{path}: {why}")
                    break
            continue_patterns = _CONTINUE_PATTERNS + (
                _SHELL_CONTINUE_PATTERNS if _is_shell_like(path) else ()
            )
            for pattern, why in continue_patterns:
                if re.search(pattern, line):
                    add("continue_on_error", path, line, f"{path}: {why}")
                    break
            lint_patterns = _LINT_PATTERNS + (_CONFIG_LINT_PATTERNS if _is_lint_config(path) else ())
            for pattern, why in lint_patterns:
                if re.search(pattern, line):
                    add("lint_disable", path, line, f"{path}: adds a lint/type-check suppression ({why})")
                    break
            if _TRIVIAL_ASSERT_RE.search(line):
                add("weaken_assertion", path, line, f"{path}: adds an assertion that always passes")
        # Deleted tests: test definitions removed and not re-added under the same name.
        if change.old_text.strip() and not change.new_text.strip() and _TEST_PATH_RE.search(path):
            add("delete_test", path, "(whole file)", f"{path}: empties a test file")
        gone = _test_defs(removed)
        kept = Counter(name for name, _ in _test_defs(added))
        if len(gone) > sum(kept.values()):
            for name, line in gone:
                if kept[name] > 0:
                    kept[name] -= 1
                    continue
                add("delete_test", path, line, f"{path}: removes the test {name}")
        # Weakened assertions: more assertion lines removed than added.
        removed_asserts = [line for line in removed if _ASSERT_RE.search(line)]
        added_asserts = [
            line for line in added if _ASSERT_RE.search(line) and not _TRIVIAL_ASSERT_RE.search(line)
        ]
        if len(removed_asserts) > len(added_asserts):
            for line in removed_asserts[len(added_asserts) :]:
                add("weaken_assertion", path, line, f"{path}: removes an assertion")
        # Loosened thresholds.
        before, after = _thresholds(removed), _thresholds(added)
        for label, (new_value, line) in after.items():
            direction = next(d for _, lab, d in _THRESHOLDS if lab == label)
            if label in before:
                old_value = before[label][0]
                if (new_value - old_value) * direction > 0:
                    add(
                        "loosen_threshold",
                        path,
                        line,
                        f"{path}: {label} changed from {old_value:g} to {new_value:g}",
                    )
            elif label in _ADDED_TOLERANCE:
                add("loosen_threshold", path, line, f"{path}: adds a {label} tolerance of {new_value:g}")
        for label, (old_value, line) in before.items():
            if label not in after and label in (
                "coverage fail_under",
                "--cov-fail-under",
                "coverage threshold",
            ):
                add("loosen_threshold", path, line, f"{path}: removes the {label} minimum of {old_value:g}")
    cheats.extend(_timeout_only(patch))
    if blocks is not None:
        cheats.extend(changed_assertions(patch, failure_text="\n".join(b.text for b in blocks)))
    seen: set[tuple[str, str, str]] = set()
    per_kind: Counter[tuple[str, str]] = Counter()
    unique = []
    for cheat in cheats:
        key = (cheat.code, cheat.path, cheat.line)
        if key in seen or per_kind[(cheat.code, cheat.path)] >= MAX_CHEATS_PER_KIND:
            continue
        seen.add(key)
        per_kind[(cheat.code, cheat.path)] += 1
        unique.append(cheat)
    return unique


# ------------------------------------------------------------------------- changed assertions
#
# A weak model "fixes" a failing test by rewriting its assertion: ``assert match == is_spam`` →
# ``assert match != is_spam``, ``assertEqual(total, 3)`` → ``assertEqual(total, 4)``, or a
# comparison replaced by ``True``. The number of assertion lines does not change, so the
# removed-assertion rule above cannot see it; here removed and added assertion lines of one
# changed region are paired in order, in tests the failure names.

_OPERATORS_RE = re.compile(
    r"\bis\s+not\b|\bnot\s+in\b|\bis\b|\bin\b|==|!=|<=|>=|(?<![-=<>])<(?![<=])|(?<![-=<>])>(?![>=])"
)
_NEGATED_CALL_RE = re.compile(
    r"\b(assert(?:Not\w*|False|IsNone|IsNot\w*|Equal|True|Is\w*|In|Greater\w*|Less\w*|Almost\w*|Raises\w*|\w*))\s*\(|"
    r"\.(not\.)?(to\w+)\s*\(|\b(require|assert)\.(\w+)\s*\("
)
_LITERAL_RE = re.compile(
    r"""(?<![\w.])-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?\b|"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|\b(?:True|False|None|true|false|null|nil)\b"""
)
_ALWAYS_TRUE_RE = re.compile(r"\bor\s+(?:True|1)\b|\|\|\s*true\b")


def _code_part(line: str) -> str:
    return re.split(r"\s#\s|\s//\s", line, maxsplit=1)[0].strip()


def _assertion_shape(line: str) -> tuple[list[str], list[str], list[str]]:
    code = _code_part(line)
    calls = ["".join(m) for m in _NEGATED_CALL_RE.findall(code)]
    operators = [" ".join(op.split()) for op in _OPERATORS_RE.findall(_LITERAL_RE.sub("_", code))]
    literals = _LITERAL_RE.findall(code)
    return calls, operators, literals


def describe_assertion_change(old: str, new: str) -> str | None:
    """How assertion ``old`` became ``new`` (``None`` when only whitespace or comments changed)."""
    if _code_part(old) == _code_part(new):
        return None
    if _TRIVIAL_ASSERT_RE.search(new) or _ALWAYS_TRUE_RE.search(_code_part(new)):
        return "replaces the comparison by one that is always true"
    old_calls, old_ops, old_lits = _assertion_shape(old)
    new_calls, new_ops, new_lits = _assertion_shape(new)
    if old_calls != new_calls:
        return (
            f"changes the assertion ({', '.join(old_calls) or 'assert'} → {', '.join(new_calls) or 'assert'})"
        )
    if old_ops != new_ops:
        return f"changes the comparison ({' '.join(old_ops) or 'none'} → {' '.join(new_ops) or 'none'})"
    if old_lits != new_lits:
        gone = [x for x in old_lits if x not in new_lits] or old_lits
        came = [x for x in new_lits if x not in old_lits] or new_lits
        return f"changes the expected value ({', '.join(gone)} → {', '.join(came)})"
    return "rewrites the assertion"


def _enclosing_test(lines: Sequence[str], index: int) -> str | None:
    for i in range(min(index, len(lines) - 1), -1, -1):
        for pattern in _TEST_DEF_PATTERNS:
            m = re.search(pattern, lines[i])
            if m:
                return m.group(1).strip("'\"`")
    return None


def _named_by_failure(path: str, test: str | None, failure_text: str) -> bool:
    name = PurePosixPath(path).name
    if name and name in failure_text:
        return True
    if not test:
        return False
    return re.search(rf"(?<![\w]){re.escape(test)}(?![\w])", failure_text) is not None


def changed_assertions(patch: Patch, *, failure_text: str) -> list[Cheat]:
    """``change_assertion`` cheats: an assertion line of a test that ``failure_text`` names (the
    test file's name or the enclosing test function appears in it) replaced by a different one.

    Pairs removed and added assertion lines of each replaced region in order; an assertion only
    reformatted or re-commented is not counted.
    """
    cheats: list[Cheat] = []
    for change in patch.files:
        if not _TEST_PATH_RE.search(change.path) or change.is_new_file:
            continue
        old_lines = change.old_text.splitlines()
        new_lines = change.new_text.splitlines()
        ops = difflib.SequenceMatcher(None, old_lines, new_lines, autojunk=False).get_opcodes()
        for tag, i1, i2, j1, j2 in ops:
            if tag != "replace":
                continue
            removed = [(i, old_lines[i]) for i in range(i1, i2) if _ASSERT_RE.search(old_lines[i])]
            added = [new_lines[j] for j in range(j1, j2) if _ASSERT_RE.search(new_lines[j])]
            # pairs in order; an assertion only removed or only added is not a changed one
            for (index, old), new in zip(removed, added, strict=False):
                how = describe_assertion_change(old, new)
                if how is None:
                    continue
                test = _enclosing_test(old_lines, index)
                if not _named_by_failure(change.path, test, failure_text):
                    continue
                where = f"the failing test {test}" if test else "a test the failure names"
                cheats.append(
                    Cheat(
                        code="change_assertion",
                        path=change.path,
                        line=f"{old.strip()[:140]} → {new.strip()[:140]}",
                        message=f"{change.path}: {how} in {where}",
                    )
                )
    return cheats


# ------------------------------------------------------------------- files the model was not shown


def _changed_old_lines(change: FileChange) -> list[int]:
    """1-indexed old-text lines a change replaces or deletes, and the line an insertion follows."""
    old, new = change.old_text.splitlines(), change.new_text.splitlines()
    touched: list[int] = []
    for tag, i1, i2, _j1, _j2 in difflib.SequenceMatcher(None, old, new, autojunk=False).get_opcodes():
        if tag in ("replace", "delete"):
            touched.extend(range(i1 + 1, i2 + 1))
        elif tag == "insert":
            touched.append(max(1, i1))
    return touched


def _ranges(numbers: Sequence[int]) -> str:
    out: list[str] = []
    for n in sorted(set(numbers)):
        if out and out[-1].split("-")[-1] == str(n - 1):
            out[-1] = out[-1].split("-")[0] + f"-{n}"
        else:
            out.append(str(n))
    return ", ".join(out[:6]) + (" …" if len(out) > 6 else "")


def _file_kind(path: str) -> tuple[str, str]:
    """``(key, words)`` of a file's kind: a manifest's ecosystem, else its suffix, else its name."""
    eco = ecosystem(path)
    if eco is not None:
        return f"manifest:{eco}", f"a {eco} dependency manifest"
    pure = PurePosixPath(path)
    suffix = pure.suffix.lower()
    if suffix:
        return f"suffix:{suffix}", f"a `{suffix}` file"
    return f"name:{pure.name.lower()}", f"a file named `{pure.name}`"


def check_unseen_files(
    patch: Patch,
    *,
    context_files: Sequence[ContextFile],
    repo_paths: Sequence[str] | None,
    manifests: Sequence[str] = (),
) -> list[Finding]:
    """Findings for changes to text the model was not shown (the request's ``context_files``).

    - ``unseen_file`` (medium): an existing file that is not among the context files — except
      lines only added to a dependency manifest the request listed (the prompt allows that, and
      :func:`ci_healer.dependencies.check_dependencies` checks what is added);
    - ``unseen_lines`` (medium): a shown file changed outside every shown window;
    - ``new_file`` (medium): a created file (no model was shown it);
    - ``new_folder`` (high): created in a folder that does not exist at the commit;
    - ``new_file_kind`` (high): a created file whose kind has no sibling in ``repo_paths`` — no
      manifest of that ecosystem (a ``requirements.txt`` where the project has no Python
      manifest), else no file with that suffix (a ``.h`` header in a project without C), else no
      file with that name. These two need ``repo_paths``; ``None`` (the tree could not be
      listed) skips them.
    """
    windows: dict[str, list[tuple[int, int]]] = {}
    for f in context_files:
        windows.setdefault(f.path, []).append((f.start_line, f.end_line))
    listed = set(manifests)
    existing = list(repo_paths or ())
    folders = {PurePosixPath(p).parent.as_posix() for p in existing}
    folders |= {PurePosixPath(d).as_posix() for p in existing for d in PurePosixPath(p).parents}
    kinds = {_file_kind(p)[0] for p in existing}
    findings: list[Finding] = []
    for change in patch.files:
        path = change.path
        if change.is_new_file:
            findings.append(
                Finding(
                    code="new_file",
                    path=path,
                    level="medium",
                    message=f"creates the new file {path}, which the model could not have been shown",
                )
            )
            parent = PurePosixPath(path).parent.as_posix()
            if repo_paths is None:
                continue
            if parent not in (".", "") and parent not in folders:
                findings.append(
                    Finding(
                        code="new_folder",
                        path=path,
                        level="high",
                        message=f"creates {path} in the folder {parent}/, which does not exist in the repository",
                    )
                )
            key, words = _file_kind(path)
            if key not in kinds:
                findings.append(
                    Finding(
                        code="new_file_kind",
                        path=path,
                        level="high",
                        message=f"creates {path}, {words}, but the repository has no file of that kind",
                    )
                )
            continue
        if path not in windows:
            if path in listed and not change.removed:
                continue
            findings.append(
                Finding(
                    code="unseen_file",
                    path=path,
                    level="medium",
                    message=f"edits {path}, a file the model was not shown",
                )
            )
            continue
        outside = [
            n for n in _changed_old_lines(change) if not any(a - 1 <= n <= b + 1 for a, b in windows[path])
        ]
        if outside:
            shown = ", ".join(f"{a}-{b}" for a, b in windows[path])
            findings.append(
                Finding(
                    code="unseen_lines",
                    path=path,
                    level="medium",
                    message=f"changes line(s) {_ranges(outside)} of {path}, outside the lines the model was shown ({shown})",
                )
            )
    return findings


def review_patch(
    patch: Patch,
    *,
    blocks: Sequence[Block],
    context_files: Sequence[ContextFile],
    repo_paths: Sequence[str] | None,
    manifests: Sequence[str] = (),
    project_packages: Sequence[str] = (),
) -> list[Finding]:
    """Every :class:`Finding` of the final diff: unverified dependencies
    (:func:`ci_healer.dependencies.check_dependencies`) and text the model was not shown
    (:func:`check_unseen_files`). Findings do not withhold a patch; they raise the risk badge.
    Inputs are passed in (no I/O): the failure ``blocks``, the request's ``context_files`` and
    ``manifests``, the repository's file list ``repo_paths``.
    """
    failure_text = "\n".join(b.text for b in blocks)
    found = check_dependencies(patch.files, failure_text=failure_text, project_packages=project_packages)
    found += check_unseen_files(
        patch, context_files=context_files, repo_paths=repo_paths, manifests=manifests
    )
    return found
