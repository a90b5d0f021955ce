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
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from unidiff.constants import LINE_TYPE_ADDED, LINE_TYPE_CONTEXT, LINE_TYPE_NO_NEWLINE, LINE_TYPE_REMOVED
from unidiff.errors import UnidiffParseError
from unidiff.patch import Hunk, Line, PatchSet

from ci_healer.models import EditFailure, EditMatch, FileChange, FileEdit, MatchRule, Patch
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

    ``str(err)`` is a one-line message naming the file. ``failure`` is set by :func:`build_patch`
    for ``original_not_found``/``original_ambiguous``/``file_not_found``: which edit, the closest
    lines of the file, the existing paths near a missing one (what a patch-repair round shows).
    """

    def __init__(self, code: str, message: str, *, failure: EditFailure | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.failure = failure


@dataclass(frozen=True)
class ParsedFile:
    """One file section of a validated diff.

    ``path`` is repository-relative (the ``b/`` side), ``is_new_file`` is true for
    ``new file mode 100644`` / ``--- /dev/null`` sections, ``hunks`` are the unidiff hunks in order.
    """

    path: str
    is_new_file: bool
    hunks: list[Hunk] = field(default_factory=list)


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


def _apply_edit(
    path: str, text: str | None, edit: FileEdit, index: int = 1, *, lenient: bool = True
) -> tuple[str, EditMatch]:
    """Apply one search/replace edit to ``text`` (``None`` = file absent).

    Returns the new text and the :class:`EditMatch` that located it (see :func:`locate`).
    ``lenient=False`` stops after the exact rule (``original_not_found`` when it fails).
    """
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
        return replacement, EditMatch(edit_index=index, file_path=path, rule="new_file")
    crlf = bool(text) and _is_crlf(text)
    if crlf:
        original, replacement = _to_crlf(original), _to_crlf(replacement)
    if not original:
        if text and not text.endswith("\n"):
            text += "\r\n" if crlf else "\n"
        return text + replacement, EditMatch(edit_index=index, file_path=path, rule="append")
    count = text.count(original)
    if count == 1:
        at = text.index(original)
        first = text.count("\n", 0, at) + 1
        last = first + original.rstrip("\n").count("\n")
        match = EditMatch(edit_index=index, file_path=path, rule="exact", start_line=first, end_line=last)
        return text.replace(original, replacement, 1), match
    if count > 1:
        raise ProposalError(
            "original_ambiguous",
            f"{path}: the original text was found {count} times (it must occur exactly once)",
        )
    if not lenient:
        raise ProposalError(
            "original_not_found",
            f"{path}: the original text was found 0 times (it must occur exactly once; lenient matching is off)",
        )
    return _apply_lenient(path, text, edit, index)


# ---------------------------------------------------------------------------------- lenient rules
#
# Models quote ``original`` imperfectly: trailing spaces or CRLF lost, a block re-indented, one line
# misremembered. Search/replace editors accept such quotes with a ladder of ever looser comparisons,
# each of which must find *one* place: exact, then line by line ignoring trailing whitespace, then
# ignoring a consistent indentation offset, then the most similar window of lines by
# ``difflib.SequenceMatcher.ratio`` (Ratcliff/Obershelp "gestalt pattern matching", 1988). The rules
# work on whole lines of the one file the edit names (a match never crosses files) and never widen
# what a patch may touch: only the edit's own changes (``original`` → ``replacement``, compared line
# by line) are moved onto the matched lines, lines it keeps stay byte-identical, and the policy and
# the digest apply to the diff computed from the result.

SIMILARITY_THRESHOLD = 0.9
"""Minimum ``difflib.SequenceMatcher.ratio`` of a window to ``original`` (text, trailing spaces cut)."""
SIMILARITY_MARGIN = 0.02
"""A second, non-overlapping window scoring within this of the best one makes the match ambiguous."""
SIMILARITY_MIN_LINES = 3
"""``original`` needs this many non-blank lines for the similarity rule (short quotes are too alike)."""
CLOSEST_MAX_LINES = 20


@dataclass
class _Quote:
    """``original``/``replacement`` as whole lines (LF, blank lines at both ends trimmed alike)."""

    orig: list[str]
    repl: list[str]


def _as_lines(value: str) -> list[str]:
    value = value.replace("\r\n", "\n")
    if value.endswith("\n"):
        value = value[:-1]
    return value.split("\n") if value else []


def _quote(edit: FileEdit) -> _Quote:
    orig, repl = _as_lines(edit.original), _as_lines(edit.replacement)
    while orig and not orig[0].strip():
        orig.pop(0)
        if repl and not repl[0].strip():
            repl.pop(0)
    while orig and not orig[-1].strip():
        orig.pop()
        if repl and not repl[-1].strip():
            repl.pop()
    return _Quote(orig, repl)


def _indent(line: str) -> str:
    return line[: len(line) - len(line.lstrip())]


def _indent_shift(window: Sequence[str], orig: Sequence[str]) -> tuple[int, str] | None:
    """``(+1, prefix)`` when every non-blank file line is ``prefix`` + the quoted line's indentation,
    ``(-1, prefix)`` when every quoted line has ``prefix`` more; ``None`` when inconsistent."""
    shift: tuple[int, str] | None = None
    for f, o in zip(window, orig, strict=True):
        if not f.strip():
            continue
        fi, oi = _indent(f), _indent(o)
        if fi.endswith(oi):
            cand = (1, fi[: len(fi) - len(oi)])
        elif oi.endswith(fi):
            cand = (-1, oi[: len(oi) - len(fi)])
        else:
            return None
        if not cand[1]:
            cand = (1, "")
        if shift is None:
            shift = cand
        elif shift != cand:
            return None
    return shift


def _reindent(line: str, shift: tuple[int, str] | None) -> str:
    if shift is None or not shift[1] or not line.strip():
        return line
    direction, prefix = shift
    if direction > 0:
        return prefix + line
    if line.startswith(prefix):
        return line[len(prefix) :]
    cut = min(len(prefix), len(_indent(line)))
    return line[cut:]


def _equal_windows(norm: Sequence[str], orig: Sequence[str]) -> list[int]:
    n = len(orig)
    first = orig[0]
    return [i for i in range(len(norm) - n + 1) if norm[i] == first and list(norm[i : i + n]) == list(orig)]


def _anchors(norm: Sequence[str], orig: Sequence[str], limit: int = 50) -> list[int]:
    """File line indexes equal (whitespace aside) to a quoted line; lines frequent in the file
    (``}``, ``return``, more than ``limit`` times) anchor nothing when rarer ones exist."""
    keys = {line.strip() for line in orig if line.strip()}
    hits: dict[str, list[int]] = {}
    for i, line in enumerate(norm):
        key = line.strip()
        if key in keys:
            hits.setdefault(key, []).append(i)
    rare = [i for found in hits.values() if len(found) <= limit for i in found]
    return sorted(rare or [i for found in hits.values() for i in found][: limit * 4])


def _similar_windows(norm: Sequence[str], orig: Sequence[str]) -> list[tuple[int, float, int, int]]:
    """``(equal lines, ratio, start, end)`` of windows of ``n-1..n+1`` lines near a quoted line whose
    ratio reaches :data:`SIMILARITY_THRESHOLD`, best first: most quoted lines found verbatim
    (whitespace aside), then the highest character ratio, then the earliest and shortest.

    Only the windows with the most equal lines that have any window over the threshold are
    returned (the character ratio, quadratic in the worst case, is computed for those only).
    """
    n = len(orig)
    matcher = difflib.SequenceMatcher(None, autojunk=False)
    matcher.set_seq2("\n".join(orig))
    anchors = _anchors(norm, orig)
    starts = sorted({s for i in anchors for s in range(max(0, i - n), i + 1)})
    by_equal: dict[int, list[tuple[int, int]]] = {}
    for start in starts:
        for size in (n - 1, n, n + 1):
            end = start + size
            if size >= 1 and end <= len(norm):
                by_equal.setdefault(_equal_lines(norm[start:end], orig), []).append((start, end))
    for equal in sorted(by_equal, reverse=True):
        scored: list[tuple[int, float, int, int]] = []
        for start, end in by_equal[equal]:
            matcher.set_seq1("\n".join(norm[start:end]))
            if (
                matcher.real_quick_ratio() < SIMILARITY_THRESHOLD
                or matcher.quick_ratio() < SIMILARITY_THRESHOLD
            ):
                continue
            ratio = matcher.ratio()
            if ratio >= SIMILARITY_THRESHOLD:
                scored.append((equal, ratio, start, end))
        if scored:
            scored.sort(key=lambda t: (-t[1], t[2], t[3] - t[2]))
            return scored
    return []


PAIRED_LINE_SIMILARITY = 0.8
"""A misquoted line anchors an insertion next to the file line in its place when this similar to it."""


def _line_map(window: Sequence[str], orig: Sequence[str]) -> tuple[dict[int, int], dict[int, int]]:
    """``(equal, paired)``: quoted line index → window line index for lines equal whitespace aside,
    and for the lines of an equal-sized replaced run that are at least
    :data:`PAIRED_LINE_SIMILARITY` alike (misquoted lines, which only anchor insertions)."""
    equal: dict[int, int] = {}
    paired: dict[int, int] = {}
    a, b = [o.strip() for o in orig], [w.strip() for w in window]
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag == "equal":
            equal.update({i1 + k: j1 + k for k in range(i2 - i1)})
        elif tag == "replace" and i2 - i1 == j2 - j1:
            for k in range(i2 - i1):
                if (
                    difflib.SequenceMatcher(None, a[i1 + k], b[j1 + k], autojunk=False).ratio()
                    >= PAIRED_LINE_SIMILARITY
                ):
                    paired[i1 + k] = j1 + k
    return equal, paired


def _equal_lines(window: Sequence[str], orig: Sequence[str]) -> int:
    """How many quoted lines occur, in order, in the window (whitespace aside)."""
    matcher = difflib.SequenceMatcher(
        None, [o.strip() for o in orig], [w.strip() for w in window], autojunk=False
    )
    return sum(block.size for block in matcher.get_matching_blocks())


def _merge(
    path: str,
    window: Sequence[str],
    quote: _Quote,
    equal: dict[int, int],
    shift: tuple[int, str] | None,
    paired: dict[int, int] | None = None,
) -> list[tuple[int, int, list[str]]]:
    """The edit's own changes (``original`` → ``replacement``) moved onto the file's window.

    Returns ``(window_start, window_end, new_lines)`` hunks in window order. Lines the edit keeps
    stay byte-identical to the file; changed lines are re-indented by ``shift``. A line the edit
    removes or replaces must be in the file as quoted (``equal``, whitespace aside): a misquoted
    line (``paired``) only anchors an insertion, since its replacement would carry the misquote
    into the file. Raises ``original_not_found`` when a changed line has no such counterpart.
    """
    orig, repl = quote.orig, quote.repl
    anchors = {**(paired or {}), **equal}
    ops = difflib.SequenceMatcher(
        None, [o.rstrip() for o in orig], [r.rstrip() for r in repl], autojunk=False
    )
    hunks: list[tuple[int, int, list[str]]] = []
    for tag, i1, i2, j1, j2 in ops.get_opcodes():
        if tag == "equal":
            continue
        new_lines = [_reindent(line, shift) for line in repl[j1:j2]]
        if i1 < i2:
            found = [equal.get(k) for k in range(i1, i2)]
            targets = [t for t in found if t is not None]
            if len(targets) != len(found) or any(b != a + 1 for a, b in itertools.pairwise(targets)):
                raise ProposalError(
                    "original_not_found",
                    f"{path}: the original text was found 0 times; the most similar lines differ in a line the edit changes",
                )
            hunks.append((targets[0], targets[-1] + 1, new_lines))
        else:
            if i1 in anchors:
                at = anchors[i1]
            elif i1 - 1 in anchors:
                at = anchors[i1 - 1] + 1
            elif i1 == 0:
                at = 0
            elif i1 == len(orig):
                at = len(window)
            else:
                raise ProposalError(
                    "original_not_found",
                    f"{path}: the place of the inserted lines could not be located in the file",
                )
            hunks.append((at, at, new_lines))
    hunks.sort(key=lambda h: (h[0], h[1]))
    for (_a1, a2, _), (b1, _b2, _) in itertools.pairwise(hunks):
        if b1 < a2:
            raise ProposalError(
                "original_not_found", f"{path}: the edit's changes overlap once located in the file"
            )
    return hunks


def _splice(lines: list[str], start: int, end: int, hunks: list[tuple[int, int, list[str]]], eol: str) -> str:
    """Text of ``lines`` with window ``[start, end)`` rewritten by ``hunks`` (window-relative)."""
    out: list[str] = list(lines[:start])
    pos = 0
    window = lines[start:end]
    for h1, h2, new_lines in hunks:
        out.extend(window[pos:h1])
        out.extend(line + eol for line in new_lines)
        pos = h2
    out.extend(window[pos:])
    out.extend(lines[end:])
    # A line that lost its place at the end of the file gets a newline; the file's own last line
    # keeps its (missing) newline.
    fixed = [line if line.endswith("\n") or i == len(out) - 1 else line + eol for i, line in enumerate(out)]
    text = "".join(fixed)
    if lines and not lines[-1].endswith("\n") and text.endswith("\n"):
        text = text[: -len(eol)] if text.endswith(eol) else text[:-1]
    return text


def _apply_lenient(path: str, text: str, edit: FileEdit, index: int) -> tuple[str, EditMatch]:
    """The lenient rules of :func:`locate` after the exact one failed (``original`` found 0 times)."""
    lines = split_lines(text)
    norm = [_strip_eol(line).rstrip() for line in lines]
    eol = "\r\n" if _is_crlf(text) else "\n"
    quote = _quote(edit)
    orig = [line.rstrip() for line in quote.orig]
    n = len(orig)
    if n:
        found = _equal_windows(norm, orig)
        rule: MatchRule = "trailing_whitespace"
        shift: tuple[int, str] | None = None
        if not found:
            stripped = [line.strip() for line in norm]
            candidates = _equal_windows(stripped, [line.strip() for line in orig])
            found = [i for i in candidates if _indent_shift(norm[i : i + n], orig) is not None]
            rule = "indentation"
        if len(found) > 1:
            lines_at = ", ".join(str(i + 1) for i in found[:5])
            raise ProposalError(
                "original_ambiguous",
                f"{path}: the original text was found {len(found)} times when {_RULE_WORDS[rule]} "
                f"(at lines {lines_at}); it must occur exactly once",
            )
        if found:
            start = found[0]
            if rule == "indentation":
                shift = _indent_shift(norm[start : start + n], orig)
            hunks = _merge(path, norm[start : start + n], quote, {k: k for k in range(n)}, shift)
            new_text = _splice(lines, start, start + n, hunks, eol)
            return new_text, EditMatch(
                edit_index=index, file_path=path, rule=rule, start_line=start + 1, end_line=start + n
            )
        if sum(1 for line in orig if line.strip()) >= SIMILARITY_MIN_LINES:
            scored = _similar_windows(norm, orig)
            if scored:
                same, best, b1, b2 = scored[0]
                rivals = [
                    s
                    for s in scored[1:]
                    if (s[3] <= b1 or s[2] >= b2) and s[0] == same and s[1] >= best - SIMILARITY_MARGIN
                ]
                if rivals:
                    _, r, r1, r2 = rivals[0]
                    raise ProposalError(
                        "original_ambiguous",
                        f"{path}: the original text is not in the file and its two most similar places are "
                        f"equally good (lines {b1 + 1}-{b2} at {best:.2f}, lines {r1 + 1}-{r2} at {r:.2f}); "
                        "it must match one place",
                    )
                window = norm[b1:b2]
                equal, paired = _line_map(window, orig)
                hunks = _merge(path, window, quote, equal, None, paired)
                new_text = _splice(lines, b1, b2, hunks, eol)
                match = EditMatch(
                    edit_index=index,
                    file_path=path,
                    rule="similarity",
                    start_line=b1 + 1,
                    end_line=b2,
                    similarity=round(best, 3),
                )
                return new_text, match
    raise ProposalError(
        "original_not_found", f"{path}: the original text was found 0 times (it must occur exactly once)"
    )


_RULE_WORDS = {"trailing_whitespace": "ignoring trailing whitespace", "indentation": "ignoring indentation"}


def closest_lines(
    text: str, original: str, *, max_lines: int = CLOSEST_MAX_LINES
) -> tuple[int, list[str]] | None:
    """The window of ``text`` most similar to ``original``: ``(1-indexed start line, lines)``.

    For the repair round (the model is shown where its quote probably belongs). Lines are cut at
    200 characters; at most ``max_lines`` lines; ``None`` for an empty file or quote.
    """
    lines = [_strip_eol(line).rstrip() for line in split_lines(text)]
    orig = [line.rstrip() for line in _quote(FileEdit(file_path="-", original=original, replacement="")).orig]
    if not lines or not orig:
        return None
    n = min(len(orig), max_lines)
    anchors = _anchors(lines, orig)
    matcher = difflib.SequenceMatcher(None, autojunk=False)
    matcher.set_seq2("\n".join(orig))
    if not anchors:
        # No quoted line occurs at all: anchor on the 20 lines most like the quote's first line.
        first_quoted = next(line.strip() for line in orig if line.strip())
        line_matcher = difflib.SequenceMatcher(None, autojunk=False)
        line_matcher.set_seq2(first_quoted)
        ranked = []
        for i, line in enumerate(lines):
            line_matcher.set_seq1(line.strip())
            ranked.append((line_matcher.quick_ratio(), -i))
        anchors = sorted(-i for _, i in sorted(ranked, reverse=True)[:20])
    starts = sorted({s for i in anchors for s in range(max(0, i - n - 1), i + 1)})
    # Rank by quoted lines found in the window (whitespace aside), then by character similarity,
    # computed only for the windows with the most quoted lines found.
    found_in: dict[int, list[tuple[int, int]]] = {}
    for start in starts:
        for size in (n, n + 1, n + 2):
            if start + size > len(lines) and start > 0:
                continue
            present = {line.strip() for line in lines[start : start + size]}
            found = sum(1 for line in orig if line.strip() and line.strip() in present)
            found_in.setdefault(found, []).append((start, size))
    top = max(found_in)
    best: tuple[int, float, int, int] = (top, -1.0, 0, n)
    for start, size in found_in[top]:
        matcher.set_seq1("\n".join(lines[start : start + size]))
        if matcher.real_quick_ratio() <= best[1] or matcher.quick_ratio() <= best[1]:
            continue
        ratio = matcher.ratio()
        if ratio > best[1]:
            best = (top, ratio, start, size)
    _, _, start, size = best
    # One line of context on each side, within the cap.
    first = max(0, start - 1)
    last = min(len(lines), start + size + 1, first + max_lines)
    return first + 1, [line[:200] for line in lines[first:last]]


def nearby_paths(path: str, existing: Sequence[str], *, limit: int = 10) -> list[str]:
    """Existing repository paths a model probably meant instead of the missing ``path``.

    Same file name anywhere, then files of the same folder, then ``difflib.get_close_matches``
    over all paths; at most ``limit``, without repeats.
    """
    pure = PurePosixPath(path)
    name, parent = pure.name, pure.parent.as_posix()
    out: list[str] = [p for p in existing if PurePosixPath(p).name == name]
    out += difflib.get_close_matches(path, list(existing), n=limit, cutoff=0.6)
    out += [p for p in existing if PurePosixPath(p).parent.as_posix() == parent][:limit]
    return list(dict.fromkeys(out))[:limit]


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


def _file_change(
    path: str, old: str, new: str, is_new: bool, added: list[str], removed: list[str]
) -> FileChange:
    return FileChange(
        path=path,
        old_text=old,
        new_text=new,
        is_new_file=is_new,
        added=[_strip_eol(x) for x in added],
        removed=[_strip_eol(x) for x in removed],
    )


def build_patch(edits: Sequence[FileEdit], repo: RepoSource, *, lenient: bool = True) -> Patch:
    """Apply ``edits`` to the files of ``repo`` and return the validated :class:`Patch`.

    Edits to the same file apply in order on the evolving text; files appear in the diff in the
    order of their first edit. ``original`` must occur exactly once; an empty ``original`` appends
    ``replacement`` (after giving a last line without a newline its newline) or, for a missing
    file, creates it (``new file mode 100644``). In a CRLF file, ``\\n`` in ``original`` and
    ``replacement`` are read as CRLF. When ``original`` is not found verbatim, the lenient rules of
    :func:`_apply_lenient` are tried in order (trailing whitespace, indentation, similarity), each
    accepted only for a unique place; ``Patch.matches`` records the rule of every edit
    (``lenient=False`` keeps the exact rule only, to measure what the lenient ones add). Raises
    :class:`ProposalError` (see its codes; its ``failure`` says which edit); nothing is written
    anywhere.
    """
    if not edits:
        raise ProposalError("no_change", "the proposal has no file edits")
    order: list[str] = []
    base: dict[str, str | None] = {}
    current: dict[str, str | None] = {}
    matches: list[EditMatch] = []
    for index, edit in enumerate(edits, 1):
        path = normalize_path(edit.file_path)
        if path not in base:
            order.append(path)
            base[path] = _read_base(path, repo)
            current[path] = base[path]
        try:
            current[path], match = _apply_edit(path, current[path], edit, index, lenient=lenient)
        except ProposalError as err:
            raise _with_failure(err, index, path, edit, base[path], repo) from None
        matches.append(match)

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
    return Patch(diff=diff, digest=diff_digest(diff), files=files, matches=matches)


_REPAIRABLE = {"original_not_found", "original_ambiguous", "file_not_found"}


def _with_failure(
    err: ProposalError, index: int, path: str, edit: FileEdit, text: str | None, repo: RepoSource
) -> ProposalError:
    """``err`` with its :class:`EditFailure` (edit number, closest lines, nearby paths) attached."""
    if err.code not in _REPAIRABLE:
        return err
    failure = EditFailure(
        edit_index=index,
        file_path=path,
        code=err.code,
        message=f"edit {index}: {err}",
        original=edit.original[:4000],
    )
    if err.code == "file_not_found":
        try:
            existing = repo.list_paths()
        except Exception:  # a RepoSource is injected; a listing failure only loses the hint
            existing = []
        failure.nearby_paths = nearby_paths(path, existing)
    elif text:
        found = closest_lines(text, edit.original)
        if found is not None:
            failure.closest_start_line, failure.closest_lines = found
    return ProposalError(err.code, f"edit {index}: {err}", failure=failure)


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
        _line_text(ln, nxt)
        for h in parsed[0].hunks
        for ln, nxt in _pairs(h)
        if ln.line_type == LINE_TYPE_ADDED
    ]
    got_removed = [
        _line_text(ln, nxt)
        for h in parsed[0].hunks
        for ln, nxt in _pairs(h)
        if ln.line_type == LINE_TYPE_REMOVED
    ]
    if got_added != added or got_removed != removed:
        raise ProposalError(
            "invalid_diff", f"{path}: the parsed diff's added/removed lines differ from the edit"
        )
    if _apply_hunks(path, old, parsed[0].hunks) != new:
        raise ProposalError("invalid_diff", f"{path}: the rendered diff does not reproduce the edited file")


def _pairs(hunk: Hunk) -> list[tuple[Line, Line | None]]:
    return [(hunk[i], hunk[i + 1] if i + 1 < len(hunk) else None) for i in range(len(hunk))]


def _line_text(line: Line, following: Line | None) -> str:
    """File content of a diff line: unidiff keeps the diff's ``\\n``; a ``\\`` marker removes it."""
    value: str = line.value
    if following is not None and following.line_type == LINE_TYPE_NO_NEWLINE:
        return value[:-1] if value.endswith("\n") else value
    return value


def _header_problem(info_lines: Sequence[str]) -> str | None:
    for raw in info_lines:
        line = raw.rstrip("\n")
        if line.startswith(
            ("old mode", "new mode", "deleted file mode", "rename ", "copy ", "similarity index")
        ):
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


def _apply_hunks(path: str, old: str, hunks: Sequence[Hunk]) -> str:
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
                raise ProposalError(
                    "context_mismatch", f"{pf.path}: the diff creates a file that already exists"
                )
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
