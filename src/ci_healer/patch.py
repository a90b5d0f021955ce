"""Turn search/replace edits into a validated git-style unified diff, and apply it back.

The proposal contract (PRODUCT.md "The proposal") is a list of :class:`~ci_healer.models.FileEdit`
search/replace edits against the files at the failing commit. :func:`build_patch` applies them in
memory, renders a unified diff with three lines of context (``difflib.unified_diff``), parses the
diff back with ``unidiff`` and re-applies it to the old text: the :class:`~ci_healer.models.Patch`
is only returned when the parsed diff reproduces the computed text byte for byte. What reviewers
see and what :func:`apply_patch` later applies is that diff, identified by :func:`diff_digest`.

Lines are split on ``\\n`` only; a ``\\r`` before it stays part of the line, so CRLF files keep
their line endings. Path *policy* (protected files, caps) lives in :mod:`ci_healer.policy`; this
module only refuses paths a repository cannot address at all.
"""

from __future__ import annotations

import difflib
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from unidiff import PatchSet, UnidiffParseError
from unidiff.constants import LINE_TYPE_ADDED, LINE_TYPE_CONTEXT, LINE_TYPE_NO_NEWLINE, LINE_TYPE_REMOVED

from ci_healer.models import FileChange, FileEdit, Patch
from ci_healer.repo import MODE_EXECUTABLE, MODE_FILE, MODE_SUBMODULE, MODE_SYMLINK, MODE_TREE, RepoSource

CONTEXT_LINES = 3
NEW_FILE_MODE = "100644"
_NO_NEWLINE = "\\ No newline at end of file"
_DEV_NULL = "/dev/null"


class ProposalError(Exception):
    """A proposal could not be turned into (or applied as) a patch.

    ``code`` is stable for programs:

    - ``file_not_found``: an edit with a non-empty ``original`` names a file that does not exist
      (at apply time: the file was moved or deleted since the diff was computed);
    - ``original_not_found`` / ``original_ambiguous``: ``original`` occurs 0 or more than 1 times;
    - ``no_change``: an edit, or all edits of a file together, change nothing;
    - ``invalid_diff``: the rendered or given diff does not parse or does not round-trip;
    - ``context_mismatch``: at apply time a hunk's context or removed lines differ from the file;
    - ``not_text``: the file is not UTF-8 text, or an edit contains text that cannot be encoded;
    - ``path_rejected``: the path cannot be addressed in a repository (absolute, ``..``, NUL,
      backslash, control characters, a directory, or a path through a symlink or submodule).

    ``str(err)`` is a one-line message naming the file.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class ParsedFile:
    """One file section of a validated diff.

    ``path`` is repository-relative (the ``b/`` side), ``is_new_file`` is true for
    ``new file mode 100644`` / ``--- /dev/null`` sections, ``hunks`` are the unidiff hunks in order.
    """

    path: str
    is_new_file: bool
    hunks: list = field(default_factory=list)


def diff_digest(diff: str) -> str:
    """sha256 hex digest (64 lowercase hex digits) of the UTF-8 encoding of ``diff``.

    Raises :class:`ProposalError` ``not_text`` when ``diff`` holds lone surrogates.
    """
    try:
        data = diff.encode("utf-8")
    except UnicodeEncodeError as err:
        raise ProposalError("not_text", f"the diff is not encodable as UTF-8: {err.reason}") from None
    return hashlib.sha256(data).hexdigest()


def split_lines(text: str) -> list[str]:
    """Split ``text`` after every ``\\n`` only, keeping the terminators (``"a\\r\\nb"`` → ``["a\\r\\n", "b"]``)."""
    if not text:
        return []
    parts = text.split("\n")
    lines = [p + "\n" for p in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def _strip_eol(line: str) -> str:
    if line.endswith("\r\n"):
        return line[:-2]
    if line.endswith("\n"):
        return line[:-1]
    return line


def normalize_path(path: str) -> str:
    """Canonical repository path of ``path`` (``./a//b`` → ``a/b``).

    Raises :class:`ProposalError` ``path_rejected`` for paths no repository can address: empty,
    absolute, containing ``..``, a backslash, NUL or another control character.
    """
    if not path or not path.strip():
        raise ProposalError("path_rejected", "empty file path")
    if "\x00" in path:
        raise ProposalError("path_rejected", f"file path contains a NUL byte: {path!r}")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in path):
        raise ProposalError("path_rejected", f"file path contains a control character: {path!r}")
    if "\\" in path:
        raise ProposalError("path_rejected", f"file path contains a backslash: {path!r}")
    if path.startswith("/") or (len(path) > 1 and path[1] == ":"):
        raise ProposalError("path_rejected", f"file path is absolute: {path!r}")
    pure = PurePosixPath(path)
    if ".." in pure.parts:
        raise ProposalError("path_rejected", f"file path leaves the repository ('..'): {path!r}")
    if '"' in path:
        raise ProposalError("path_rejected", f"file path contains a double quote: {path!r}")
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        raise ProposalError("path_rejected", f"file path is not valid UTF-8: {path!r}") from None
    norm = pure.as_posix()
    if norm in ("", "."):
        raise ProposalError("path_rejected", f"file path names the repository root: {path!r}")
    return norm


def _read_base(path: str, repo: RepoSource) -> str | None:
    """Text of ``path`` at the base commit, ``None`` when absent; ProposalError when unaddressable."""
    found = repo.entry(path)
    if found is None:
        # A new file: every existing parent must be a plain directory (not a file, symlink or
        # submodule), whatever the RepoSource reports for paths below such entries.
        parts = path.split("/")
        for i in range(1, len(parts)):
            parent = repo.entry("/".join(parts[:i]))
            if parent is None:
                break
            if parent.mode != MODE_TREE:
                kind = {MODE_SYMLINK: "a symlink", MODE_SUBMODULE: "a submodule"}.get(parent.mode, "a file")
                raise ProposalError("path_rejected", f"{path}: the path goes through {kind} ({parent.path})")
        return None
    if found.path != path:
        kind = {MODE_SYMLINK: "a symlink", MODE_SUBMODULE: "a submodule"}.get(found.mode, "a non-directory")
        raise ProposalError("path_rejected", f"{path}: the path goes through {kind} ({found.path})")
    if found.mode == MODE_SYMLINK:
        raise ProposalError("path_rejected", f"{path} is a symlink")
    if found.mode == MODE_SUBMODULE:
        raise ProposalError("path_rejected", f"{path} is a submodule")
    if found.mode not in (MODE_FILE, MODE_EXECUTABLE):
        raise ProposalError("path_rejected", f"{path} is a directory, not a file")
    text = repo.read_text(path)
    if text is None:
        raise ProposalError("not_text", f"{path} is not a UTF-8 text file")
    return text


def _is_crlf(text: str) -> bool:
    """True when every line break of ``text`` is CRLF (and there is at least one)."""
    n = text.count("\n")
    return n > 0 and text.count("\r\n") == n


def _to_crlf(s: str) -> str:
    return s.replace("\r\n", "\n").replace("\n", "\r\n")


def _apply_edit(path: str, text: str | None, edit: FileEdit) -> str:
    """Apply one search/replace edit to ``text`` (``None`` = file absent) and return the new text."""
    original, replacement = edit.original, edit.replacement
    for label, value in (("original", original), ("replacement", replacement)):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ProposalError("not_text", f"{path}: the {label} text is not valid UTF-8") from None
    if original == replacement:
        raise ProposalError("no_change", f"{path}: the edit changes nothing (original equals replacement)")
    if text is None:
        if original:
            raise ProposalError("file_not_found", f"{path}: file not found at the failing commit")
        return replacement
    if text and _is_crlf(text):
        original, replacement = _to_crlf(original), _to_crlf(replacement)
    if not original:
        if text and not text.endswith("\n"):
            text += "\r\n" if _is_crlf(text) else "\n"
        return text + replacement
    count = text.count(original)
    if count == 0:
        raise ProposalError(
            "original_not_found", f"{path}: the original text was found 0 times (it must occur exactly once)"
        )
    if count > 1:
        raise ProposalError(
            "original_ambiguous", f"{path}: the original text was found {count} times (it must occur exactly once)"
        )
    return text.replace(original, replacement, 1)


def _render_file_diff(path: str, old: str, new: str, is_new_file: bool) -> str:
    """git-style diff section of one file (header, hunks, ``\\ No newline`` markers)."""
    old_lines, new_lines = split_lines(old), split_lines(new)
    out = [f"diff --git a/{path} b/{path}\n"]
    if is_new_file:
        out.append(f"new file mode {NEW_FILE_MODE}\n")
    body = difflib.unified_diff(
        old_lines,
        new_lines,
        fromfile=_DEV_NULL if is_new_file else f"a/{path}",
        tofile=f"b/{path}",
        n=CONTEXT_LINES,
        lineterm="\n",
    )
    for line in body:
        out.append(line)
        if not line.endswith("\n"):
            out.append("\n" + _NO_NEWLINE + "\n")
    return "".join(out)


def _changed_lines(old: str, new: str) -> tuple[list[str], list[str]]:
    """(added, removed) lines with terminators, from the same matcher ``unified_diff`` uses."""
    a, b = split_lines(old), split_lines(new)
    added: list[str] = []
    removed: list[str] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b).get_opcodes():
        if tag in ("replace", "delete"):
            removed.extend(a[i1:i2])
        if tag in ("replace", "insert"):
            added.extend(b[j1:j2])
    return added, removed


def _file_change(path: str, old: str, new: str, is_new: bool, added: list[str], removed: list[str]) -> FileChange:
    return FileChange(
        path=path,
        old_text=old,
        new_text=new,
        is_new_file=is_new,
        added=[_strip_eol(x) for x in added],
        removed=[_strip_eol(x) for x in removed],
    )


def build_patch(edits: Sequence[FileEdit], repo: RepoSource) -> Patch:
    """Apply ``edits`` to the files of ``repo`` and return the validated :class:`Patch`.

    Edits to the same file apply in order on the evolving text; files appear in the diff in the
    order of their first edit. ``original`` must occur exactly once; an empty ``original`` appends
    ``replacement`` (after giving a last line without a newline its newline) or, for a missing
    file, creates it (``new file mode 100644``). In a CRLF file, ``\\n`` in ``original`` and
    ``replacement`` are read as CRLF. Raises :class:`ProposalError` (see its codes); nothing is
    written anywhere.
    """
    if not edits:
        raise ProposalError("no_change", "the proposal has no file edits")
    order: list[str] = []
    base: dict[str, str | None] = {}
    current: dict[str, str | None] = {}
    for edit in edits:
        path = normalize_path(edit.file_path)
        if path not in base:
            order.append(path)
            base[path] = _read_base(path, repo)
            current[path] = base[path]
        current[path] = _apply_edit(path, current[path], edit)

    files: list[FileChange] = []
    sections: list[str] = []
    for path in order:
        old, new = base[path], current[path]
        is_new = old is None
        old_text = old or ""
        new_text = new or ""
        if new_text == old_text:
            raise ProposalError("no_change", f"{path}: the edits leave the file unchanged")
        added, removed = _changed_lines(old_text, new_text)
        sections.append(_render_file_diff(path, old_text, new_text, is_new))
        files.append(_file_change(path, old_text, new_text, is_new, added, removed))
        _check_roundtrip(path, sections[-1], old_text, new_text, is_new, added, removed)
    diff = "".join(sections)
    return Patch(diff=diff, digest=diff_digest(diff), files=files)


def _check_roundtrip(
    path: str, section: str, old: str, new: str, is_new: bool, added: list[str], removed: list[str]
) -> None:
    """Parse one rendered section back and prove it reproduces ``new`` from ``old``."""
    try:
        parsed = parse_patch(section)
    except ProposalError as err:
        raise ProposalError("invalid_diff", f"{path}: the rendered diff does not parse: {err}") from None
    if len(parsed) != 1 or parsed[0].path != path or parsed[0].is_new_file != is_new:
        raise ProposalError("invalid_diff", f"{path}: the rendered diff names the wrong file")
    got_added = [
        _line_text(ln, nxt) for h in parsed[0].hunks for ln, nxt in _pairs(h) if ln.line_type == LINE_TYPE_ADDED
    ]
    got_removed = [
        _line_text(ln, nxt) for h in parsed[0].hunks for ln, nxt in _pairs(h) if ln.line_type == LINE_TYPE_REMOVED
    ]
    if got_added != added or got_removed != removed:
        raise ProposalError("invalid_diff", f"{path}: the parsed diff's added/removed lines differ from the edit")
    if _apply_hunks(path, old, parsed[0].hunks) != new:
        raise ProposalError("invalid_diff", f"{path}: the rendered diff does not reproduce the edited file")


def _pairs(hunk: list) -> list[tuple]:
    return [(hunk[i], hunk[i + 1] if i + 1 < len(hunk) else None) for i in range(len(hunk))]


def _line_text(line, following) -> str:
    """File content of a diff line: unidiff keeps the diff's ``\\n``; a ``\\`` marker removes it."""
    value: str = line.value
    if following is not None and following.line_type == LINE_TYPE_NO_NEWLINE:
        return value[:-1] if value.endswith("\n") else value
    return value


def _header_problem(info_lines: Sequence[str]) -> str | None:
    for raw in info_lines:
        line = raw.rstrip("\n")
        if line.startswith(("old mode", "new mode", "deleted file mode", "rename ", "copy ", "similarity index")):
            return f"unsupported header line {line!r} (mode changes, deletions, renames and copies are not applied)"
        if line.startswith("new file mode") and line != f"new file mode {NEW_FILE_MODE}":
            return f"unsupported header line {line!r} (new files must have mode {NEW_FILE_MODE})"
        if line.startswith("GIT binary patch") or line.startswith("Binary files"):
            return "binary patches are not applied"
    return None


def parse_patch(diff: str) -> list[ParsedFile]:
    """Parse a unified diff with unidiff and check it only edits or creates regular text files.

    Returns one :class:`ParsedFile` per file section, in diff order. Raises
    :class:`ProposalError`: ``invalid_diff`` for unparsable text, binary, rename, copy, delete or
    mode-change sections, mismatched ``a/``/``b/`` names, a file named twice, or a section without
    hunks; ``path_rejected`` for paths no repository can address.
    """
    if not diff.strip():
        raise ProposalError("invalid_diff", "the diff is empty")
    try:
        patch_set = PatchSet(split_lines(diff))
    except (UnidiffParseError, ValueError) as err:
        raise ProposalError("invalid_diff", f"the diff does not parse: {err}") from None
    if not patch_set:
        raise ProposalError("invalid_diff", "the diff contains no file sections")
    parsed: list[ParsedFile] = []
    seen: set[str] = set()
    for pf in patch_set:
        problem = _header_problem(pf.patch_info or [])
        if problem is None and pf.is_binary_file:
            problem = "binary patches are not applied"
        if problem is not None:
            raise ProposalError("invalid_diff", f"{pf.path}: {problem}")
        source, target = pf.source_file, pf.target_file
        if not (target or "").startswith("b/"):
            raise ProposalError("invalid_diff", f"unexpected target file name {target!r}")
        path = normalize_path(target[2:])
        if path != target[2:]:
            raise ProposalError("invalid_diff", f"non-canonical file name {target!r}")
        is_new = source == _DEV_NULL
        if not is_new and source != f"a/{path}":
            raise ProposalError(
                "invalid_diff", f"{path}: source {source!r} and target differ (renames are not applied)"
            )
        if path in seen:
            raise ProposalError("invalid_diff", f"{path}: the file appears twice in the diff")
        seen.add(path)
        if not len(pf):
            raise ProposalError("invalid_diff", f"{path}: the file section has no hunks")
        parsed.append(ParsedFile(path=path, is_new_file=is_new, hunks=list(pf)))
        if is_new and (pf[0].source_start != 0 or pf[0].source_length != 0 or len(pf) != 1):
            raise ProposalError("invalid_diff", f"{path}: a new file must have one hunk starting at -0,0")
    return parsed


def _apply_hunks(path: str, old: str, hunks: Sequence) -> str:
    """Apply parsed hunks strictly (no offset, no fuzz) to ``old``; ``context_mismatch`` otherwise."""
    old_lines = split_lines(old)
    out: list[str] = []
    pos = 0
    for number, hunk in enumerate(hunks, 1):
        # "-N,0" inserts after source line N; otherwise the hunk starts at source line N.
        start = hunk.source_start - 1 if hunk.source_length else hunk.source_start
        target = hunk.target_start - 1 if hunk.target_length else hunk.target_start
        if start < pos or start > len(old_lines):
            raise ProposalError(
                "context_mismatch", f"{path}: hunk {number} is out of order or beyond the end of the file"
            )
        out.extend(old_lines[pos:start])
        pos = start
        if len(out) != target:
            raise ProposalError("invalid_diff", f"{path}: hunk {number} has inconsistent line numbers")
        for line, following in _pairs(hunk):
            if line.line_type not in (LINE_TYPE_ADDED, LINE_TYPE_REMOVED, LINE_TYPE_CONTEXT):
                continue
            text = _line_text(line, following)
            if line.line_type == LINE_TYPE_ADDED:
                out.append(text)
                continue
            if pos >= len(old_lines) or old_lines[pos] != text:
                raise ProposalError(
                    "context_mismatch", f"{path}: hunk {number} does not match the file at line {pos + 1}"
                )
            if line.line_type == LINE_TYPE_CONTEXT:
                out.append(text)
            pos += 1
    out.extend(old_lines[pos:])
    return "".join(out)


def apply_patch(diff: str, repo: RepoSource) -> dict[str, str]:
    """Apply ``diff`` to the files of ``repo`` in memory and return ``{path: new full text}``.

    Exactly the inverse of :func:`build_patch`: hunks must match at their stated line numbers
    (no offset, no fuzz). Raises :class:`ProposalError`: ``invalid_diff`` (see
    :func:`parse_patch`), ``file_not_found`` (the file was moved or deleted), ``context_mismatch``
    (the file changed), ``path_rejected``/``not_text`` (the path is now a symlink, a submodule, a
    directory or not text), ``invalid_diff`` when a new file already exists. Nothing is written.
    """
    result: dict[str, str] = {}
    for pf in parse_patch(diff):
        old = _read_base(pf.path, repo)
        if pf.is_new_file:
            if old is not None or repo.entry(pf.path) is not None:
                raise ProposalError("context_mismatch", f"{pf.path}: the diff creates a file that already exists")
            old = ""
        elif old is None:
            raise ProposalError(
                "file_not_found", f"{pf.path}: file not found (moved or deleted since the diff was computed)"
            )
        result[pf.path] = _apply_hunks(pf.path, old, pf.hunks)
    return result


def patch_from_diff(diff: str, repo: RepoSource) -> Patch:
    """The :class:`Patch` of an already shown ``diff`` re-applied to ``repo`` (the apply step runs
    the policy again on it). Files, texts and added/removed lines are computed exactly as
    :func:`build_patch` computes them. Raises :class:`ProposalError` like :func:`apply_patch`.
    """
    new_files = apply_patch(diff, repo)
    files: list[FileChange] = []
    for pf in parse_patch(diff):
        old = "" if pf.is_new_file else (_read_base(pf.path, repo) or "")
        new = new_files[pf.path]
        added, removed = _changed_lines(old, new)
        files.append(_file_change(pf.path, old, new, pf.is_new_file, added, removed))
    return Patch(diff=diff, digest=diff_digest(diff), files=files)
