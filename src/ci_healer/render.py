"""Markdown bodies for the check run, the PR comment, the job summary and the CLI.

Every body is rendered from a jinja2 template in ``ci_healer/templates`` (see
:func:`ci_healer.templating.markdown_env`). Templates only ever receive strings that were built
here: model prose and other untrusted text pass through :func:`escape_prose`, and log text and
diffs are put in fenced blocks by :func:`fence`, whose backtick run is longer than any run inside
the content so nothing can break out of it.

Hidden metadata sits at a fixed position — the first two lines of the body — so that
:func:`read_metadata` never has to search text that could contain model output or log lines. The
diff is preceded by a marker comment outside any fence; :func:`read_diff` gives back exactly the
string that was rendered, byte for byte, so the apply step can re-hash it and compare it with the
digest in the metadata (SECURITY.md item 8).

Size limits (all measured here in UTF-8 bytes, which is never less than the character count):

* check run ``output.summary`` and ``output.text``: "Maximum length: 65535 characters" (GitHub REST
  docs, "Create a check run"); the API enforces it as a *byte* size ("summary exceeds a maximum
  bytesize of 65535", github/docs#35252);
* issue/PR comment body: the API rejects bodies over 65,536 characters ("Body is too long (maximum
  is 65536 characters)"); we use the check-run limit, 65,535, for both;
* check run ``output.title``: no documented maximum; we keep it within 255 characters, the
  documented limit of an annotation title;
* job summary: "each step is restricted to a maximum size of 1MiB" (GitHub docs, "Adding a job
  summary").
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ci_healer.markers import (
    COMMENT_MARKER,
    COMMIT_SHA,
    DIFF_MARKER,
    DIFF_MARKER_NO_EOL,
    DIGEST,
    METADATA,
    PROPOSAL_ID,
    REPOSITORY,
    encode_metadata_line,
    is_marker_line,
    read_metadata_line,
)
from ci_healer.models import Analysis, Block
from ci_healer.templating import markdown_env

__all__ = [
    "CHECK_RUN_TITLE_LIMIT",
    "COMMENT_MARKER",
    "GITHUB_BODY_LIMIT",
    "JOB_SUMMARY_LIMIT",
    "METADATA_VERSION",
    "CheckRunOutput",
    "ProposalMetadata",
    "RenderError",
    "RenderMeta",
    "abbreviate",
    "body_size",
    "check_run_title",
    "embed_metadata",
    "escape_prose",
    "fence",
    "inline_code",
    "read_diff",
    "read_metadata",
    "render_check_run",
    "render_cli_markdown",
    "render_comment",
    "render_job_summary",
    "risk_label",
]

METADATA_VERSION = 1
GITHUB_BODY_LIMIT = 65_535
"""Check-run summary/text limit (65,535; enforced in bytes), also used for comment bodies."""
JOB_SUMMARY_LIMIT = 1_048_576
"""Per-step job summary limit, 1 MiB."""
CHECK_RUN_TITLE_LIMIT = 255

_ABBREVIATED_NOTICE = "_… abbreviated to fit GitHub's size limit._"


_BADGES = {"low": "🟢", "medium": "🟡", "high": "🔴"}
ROOT_CAUSE_METADATA_CHARS = 2000
"""Characters of the root cause kept in the metadata line (:attr:`ProposalMetadata.root_cause`)."""


def risk_label(level: str) -> str:
    """The risk badge and level as the proposal shows them, e.g. ``🟢 low``."""
    return f"{_BADGES[level]} {level}" if level in _BADGES else level


class RenderError(ValueError):
    """The analysis cannot be shown as it is (e.g. a proposed diff whose digest does not match)."""


class FailedJob(BaseModel):
    """One failed job of the run, as the failed-jobs list shows it.

    ``group`` numbers the distinct failures (1 is the one analyzed above; jobs with the same
    failure fingerprint share a number); ``None`` when the job's log was not analyzed, and then
    ``note`` says why (``the logs expired``, ``not read: at most 5 logs are read``). ``url`` is the
    job page, with a ``#step:<n>:<line>`` anchor when the failed step and line are known (never
    linked unless under ``{server_url}/{repository}/``). ``line`` is the first line of the job's
    first failure block, counted in the downloaded job log. ``category`` is the rules' category.
    """

    model_config = ConfigDict(frozen=True)

    name: str
    url: str | None = None
    category: str | None = None
    group: int | None = Field(default=None, ge=1)
    line: int | None = Field(default=None, ge=1)
    note: str = ""


class GreenRun(BaseModel):
    """The last successful run of the same workflow whose job logs were compared with the failed
    ones (CiDiff): its ``run_id``, web ``url``, the ``jobs`` compared and the log ``dropped`` lines."""

    model_config = ConfigDict(frozen=True)

    run_id: int = Field(ge=1)
    url: str | None = None
    jobs: int = Field(default=0, ge=0)
    dropped: int = Field(default=0, ge=0)


class RenderMeta(BaseModel):
    """Where a body is posted and how it can be approved; everything but the analysis itself.

    ``proposal_id`` is what a maintainer types after the approval command, so it is restricted to
    ``[A-Za-z0-9._-]`` (1–64 characters). ``head_sha`` is the 40 (SHA-1) or 64 (SHA-256) hex digit
    commit the analysis was computed for. ``repository`` is ``owner/name``.

    Links: block line numbers link to ``log_url#L<line>`` (line numbers count lines of the whole
    downloaded job log; GitHub's per-step anchors ``#step:<n>:<line>`` need the step, which the
    log download does not give: the failed-jobs list carries them when the analyze flow could
    recover the step, see :func:`ci_healer.analyze_run.step_anchor`). When ``log_url`` is missing but ``repository``, ``run_id`` and
    ``job_id`` are known, the job page ``{server_url}/{repository}/actions/runs/{run_id}/job/{job_id}``
    is used. Any URL (``log_url``, ``fix_pr_url``) that is not under ``{server_url}/{repository}/``
    is never linked. ``verification`` is shown escaped (e.g. ``"fix verified: CI passed"``).
    ``failed_jobs`` lists every failed job of the run, grouped by failure (shown when there is more
    than one, or one was not analyzed); ``green_run`` is the passing run the logs were compared
    with; ``notes`` are plain sentences about the context read (shown escaped).

    Raises ``pydantic.ValidationError`` for malformed ids, SHAs, repository names or commands.
    """

    model_config = ConfigDict(frozen=True)

    proposal_id: str = Field(pattern=PROPOSAL_ID)
    head_sha: str = Field(pattern=COMMIT_SHA)
    repository: str | None = Field(default=None, pattern=REPOSITORY)
    server_url: str = "https://github.com"
    run_id: int | None = Field(default=None, ge=1)
    run_attempt: int | None = Field(default=None, ge=1)
    job_id: int | None = Field(default=None, ge=1)
    job_name: str | None = None
    log_url: str | None = None
    approval_command: str = Field(default="/approve-fix", pattern=r"^/[a-z][a-z0-9-]{0,39}$")
    approval_label: str | None = Field(
        default="ci-healer:approve", pattern=r"^[A-Za-z0-9][A-Za-z0-9:._ -]{0,49}$"
    )
    fork: bool = False
    verification: str | None = None
    fix_pr_url: str | None = None
    failed_jobs: tuple[FailedJob, ...] = ()
    green_run: GreenRun | None = None
    notes: tuple[str, ...] = ()

    @field_validator("server_url")
    @classmethod
    def _check_server_url(cls, value: str) -> str:
        value = value.rstrip("/")
        parts = urlsplit(value)
        if (
            parts.scheme not in ("https", "http")
            or not parts.netloc
            or parts.path
            or parts.query
            or parts.fragment
        ):
            raise ValueError("server_url must look like https://github.com")
        if not re.fullmatch(r"[A-Za-z0-9.-]+(?::\d{1,5})?", parts.netloc):
            raise ValueError("server_url host contains unexpected characters")
        return value


class ProposalMetadata(BaseModel):
    """Machine-readable record embedded in every posted body (see :func:`embed_metadata`).

    ``patch_shown`` is true only when the body shows an approvable diff; it is false for
    ``no_patch``/``withheld``/``failed`` analyses and when the diff was too large to show.
    ``digest`` is the sha256 hex of that diff (empty when there is none).
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    version: int = METADATA_VERSION
    proposal_id: str = Field(pattern=PROPOSAL_ID)
    head_sha: str = Field(pattern=COMMIT_SHA)
    digest: str = Field(default="", pattern=rf"^(?:{DIGEST[1:-1]})?$")
    run_id: int | None = Field(default=None, ge=1)
    run_attempt: int | None = Field(default=None, ge=1)
    job_id: int | None = Field(default=None, ge=1)
    fingerprint: str = Field(default="", pattern=r"^[0-9A-Za-z]{0,64}$")
    status: Literal["proposed", "no_patch", "withheld", "failed"] = "no_patch"
    patch_shown: bool = False
    root_cause: str = Field(default="", max_length=ROOT_CAUSE_METADATA_CHARS)
    """The analysis's root cause (redacted plain text, cut at :data:`ROOT_CAUSE_METADATA_CHARS`),
    for the flows that show it again: the apply step's fix PR body and notification. Escape it
    before showing it (:func:`escape_prose`)."""


class CheckRunOutput(BaseModel):
    """The ``output`` object of a check run: ``title`` (≤ 255 characters), ``summary`` and ``text``
    (each ≤ 65,535 UTF-8 bytes). ``summary`` carries the metadata and the diff; ``text`` the
    failure blocks and details."""

    title: str = Field(max_length=CHECK_RUN_TITLE_LIMIT)
    summary: str
    text: str


# --------------------------------------------------------------------------------------------
# Escaping
# --------------------------------------------------------------------------------------------

_URL_RE = re.compile(r"(?:\b[A-Za-z][A-Za-z0-9+.-]{1,20}://|\bwww\.)[^\s<>\"'`]+")
_MENTION_RE = re.compile(r"@[A-Za-z0-9](?:[A-Za-z0-9_-]*)(?:/[A-Za-z0-9_.-]+)?")
# Issue and pull-request references ("#12", "owner/repo#12", "GH-12"): GitHub links them after
# rendering (so a backslash does not help) and a cross-repository one notifies that repository.
_REFERENCE_RE = re.compile(r"(?:\b[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+)?#\d+\b|\bGH-\d+\b")
# A balanced single-backtick code span in model prose is kept as a code span: nothing inside a code
# span is markdown, HTML, a link or a mention, so it stays inert (it is re-emitted by inline_code).
_CODE_SPAN_RE = re.compile(r"`(?P<code>[^`\n]{1,300})`")
_TOKEN_RE = re.compile(
    f"{_CODE_SPAN_RE.pattern}|(?P<url>{_URL_RE.pattern})|(?P<mention>{_MENTION_RE.pattern})|(?P<ref>{_REFERENCE_RE.pattern})"
)
_SAFE_URL_CHARS = re.compile(r"[A-Za-z0-9._~:/?#@!$&'()*+,;=%-]+")
# Punctuation that shapes inline markdown anywhere in a line (code, emphasis, links and images
# through "[", tables, strikethrough, math); escaped with a backslash (CommonMark allows a
# backslash before any ASCII punctuation). "(", ")" and "!" need no escape once "[" and "]" are.
_MD_PUNCT = set("\\`*_[]|~$")
# Characters that only matter at the start of a line: headings, list items, setext underlines.
_LINE_START = set("#-+=")
_ORDERED_ITEM = re.compile(r"^(\d{1,9})([.)])")
_HTML = {"<": "&lt;", ">": "&gt;", "&": "&amp;"}
# Bidirectional overrides and isolates ("Trojan Source"): removed from prose.
_BIDI = dict.fromkeys(map(ord, "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f"), None)
_TRAILING_URL_PUNCT = ".,;:!?)]}'\"*_~"


def inline_code(text: str) -> str:
    """Wrap one line of text in a code span that it cannot close.

    The backtick run is one longer than the longest run inside ``text``; a space is added on both
    sides when ``text`` starts or ends with a backtick or a space (CommonMark code spans).
    Newlines are replaced by spaces. Returns ``""`` for empty input.
    """
    text = text.replace("\r", " ").replace("\n", " ")
    if not text:
        return ""
    ticks = "`" * (_longest_backtick_run(text) + 1)
    pad = " " if text[0] in "` " or text[-1] in "` " else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"


def _longest_backtick_run(text: str) -> int:
    return max((len(m) for m in re.findall(r"`+", text)), default=0)


def _escape_plain(text: str) -> str:
    out = []
    for ch in text:
        if ch in _HTML:
            out.append(_HTML[ch])
        elif ch in _MD_PUNCT:
            out.append("\\" + ch)
        else:
            out.append(ch)
    return "".join(out)


def _is_repository_url(url: str, repository: str | None, server_url: str) -> bool:
    """True when ``url`` points inside ``server_url/repository`` and is safe to emit as a link."""
    if not repository or not _SAFE_URL_CHARS.fullmatch(url):
        return False
    base = f"{server_url.rstrip('/')}/{repository}"
    if not (url.lower() == base.lower() or url.lower().startswith(base.lower() + "/")):
        return False
    parts = urlsplit(url)
    base_parts = urlsplit(base)
    if parts.scheme != base_parts.scheme or parts.netloc.lower() != base_parts.netloc.lower():
        return False
    return not ("@" in parts.netloc or ".." in parts.path.split("/") or "\\" in url)


def _escape_line(line: str, repository: str | None, server_url: str) -> str:
    out: list[str] = []
    pos = 0
    for match in _TOKEN_RE.finditer(line):
        if match.start() < pos:
            continue
        token = match.group(0)
        if match.group("code") is not None:
            out.append(_escape_plain(line[pos : match.start()]))
            out.append(inline_code(match.group("code")))
            pos = match.end()
            continue
        if match.group("url"):
            stripped = token.rstrip(_TRAILING_URL_PUNCT)
            # keep a closing parenthesis that balances one inside the URL
            while token[len(stripped) :].startswith(")") and stripped.count("(") > stripped.count(")"):
                stripped += ")"
            token = stripped
            if not token:
                continue
        out.append(_escape_plain(line[pos : match.start()]))
        if match.group("url") and _is_repository_url(token, repository, server_url):
            out.append(f"<{token}>")
        else:
            out.append(inline_code(token))
        pos = match.start() + len(token)
    out.append(_escape_plain(line[pos:]))
    escaped = "".join(out)
    if escaped[:1] in _LINE_START or escaped.startswith("/"):
        # Not a heading, list item or setext underline; and never a slash command ("/approve-fix").
        escaped = "\\" + escaped
    else:
        escaped = _ORDERED_ITEM.sub(r"\1\\\2", escaped, count=1)
    return escaped


def escape_prose(text: str, *, repository: str | None, server_url: str = "https://github.com") -> str:
    """Make untrusted text (model prose, file paths, messages) render as plain text in GitHub markdown.

    Returns markdown whose rendering shows ``text``, with these guarantees (SECURITY.md item 4):

    * no raw HTML, HTML comment or entity: ``<``, ``>`` and ``&`` become ``&lt;``, ``&gt;``,
      ``&amp;`` — the result never contains ``<`` except in links built here;
    * no images, links, emphasis, headings, lists, tables, math or fences: ASCII markdown
      punctuation is backslash-escaped (CommonMark allows escaping any ASCII punctuation);
    * URLs become code spans (not autolinked) unless they point inside
      ``{server_url}/{repository}/``, which are emitted as ``<url>`` autolinks;
    * ``@user`` and ``@org/team`` become code spans, so nobody is notified;
    * a balanced single-backtick code span stays a code span (its content is inert there);
    * leading whitespace is removed (no indented code blocks) and a line never starts with ``/``
      (it is backslash-escaped, so ``/approve-fix`` in prose is not a command);
    * control characters (except newline and tab) and bidirectional overrides are removed; CRLF and
      CR become LF; tabs become spaces; runs of blank lines collapse to one.

    Never raises for any ``str``.
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\t", " ").translate(_BIDI)
    text = "".join(ch for ch in text if ch == "\n" or unicodedata.category(ch) not in ("Cc", "Cs"))
    lines: list[str] = []
    for raw in text.split("\n"):
        line = raw.strip()
        if not line:
            if lines and lines[-1] != "":
                lines.append("")
            continue
        lines.append(_escape_line(line, repository, server_url))
    while lines and lines[-1] == "":
        lines.pop()
    return "\n".join(lines)


def _inline(text: str, meta: RenderMeta | None, *, limit: int | None = None) -> str:
    """Escape untrusted text for one line (bullet item, table cell); optionally shortened."""
    text = " ".join(text.split())
    if limit is not None and len(text) > limit:
        text = text[: max(limit - 1, 0)] + "…"
    return escape_prose(
        text,
        repository=meta.repository if meta else None,
        server_url=meta.server_url if meta else "https://github.com",
    )


def fence(content: str, info: str = "") -> str:
    """Return a fenced code block showing ``content`` exactly, ending with a newline.

    The fence is a backtick run one longer than the longest run in ``content`` (at least three),
    so no line of ``content`` can close it (CommonMark: a closing fence must be at least as long as
    the opening one). A newline is added before the closing fence when ``content`` does not end
    with one. ``info`` must be a single word (e.g. ``diff``, ``text``); raises ``ValueError``
    otherwise.
    """
    if not re.fullmatch(r"[A-Za-z0-9_+-]*", info):
        raise ValueError(f"fence info string must be a single word, got {info!r}")
    ticks = "`" * max(3, _longest_backtick_run(content) + 1)
    body = content if content.endswith("\n") or not content else content + "\n"
    return f"{ticks}{info}\n{body}{ticks}\n"


# --------------------------------------------------------------------------------------------
# Metadata and diff round-trip
# --------------------------------------------------------------------------------------------


def embed_metadata(meta: ProposalMetadata | Mapping[str, Any]) -> str:
    """Return the two header lines every body starts with: :data:`COMMENT_MARKER` and
    ``<!-- ci-healer:metadata {json} -->``, joined and terminated by ``\\n``.

    ``meta`` is validated as :class:`ProposalMetadata` (raises ``pydantic.ValidationError``).
    ``<``, ``>`` and ``&`` inside the JSON are written as ``\\u003c``-style escapes so the comment
    can never be closed early.
    """
    model = meta if isinstance(meta, ProposalMetadata) else ProposalMetadata.model_validate(dict(meta))
    return f"{COMMENT_MARKER}\n{encode_metadata_line(METADATA, model.model_dump(mode='json'))}\n"


def read_metadata(body: str) -> ProposalMetadata | None:
    """Read the metadata of a body written by :func:`embed_metadata`, or ``None``.

    Only the first two lines are looked at (the fixed position where ci-healer writes them), so a
    metadata comment anywhere else — inside a log fence or forged in text — is ignored. Returns
    ``None`` when the marker is missing, the JSON is invalid or a field fails validation. Accepts
    ``\\r\\n`` line ends (bodies edited in the web UI).
    """
    found = read_metadata_line(body, METADATA)
    if found is None:
        return None
    try:
        return ProposalMetadata.model_validate(found[1])
    except ValidationError:
        return None


_FENCE_OPEN = re.compile(r"^ {0,3}(`{3,})([^`]*)$")


@dataclass(frozen=True)
class _Segment:
    kind: Literal["prose", "fence"]
    lines: tuple[str, ...]  # each with its "\n" (the last may lack it)
    info: str = ""


def _segments(body: str) -> list[_Segment]:
    """Split a body into prose runs and backtick fences (CommonMark fence rules, ``\\n`` lines)."""
    lines = body.split("\n")
    raw = [ln + "\n" for ln in lines[:-1]] + ([lines[-1]] if lines[-1] else [])
    out: list[_Segment] = []
    prose: list[str] = []
    i = 0
    while i < len(raw):
        m = _FENCE_OPEN.match(raw[i].rstrip("\r\n"))
        if not m:
            prose.append(raw[i])
            i += 1
            continue
        if prose:
            out.append(_Segment("prose", tuple(prose)))
            prose = []
        n = len(m.group(1))
        closing = re.compile(rf"^ {{0,3}}`{{{n},}}[ \t]*$")
        j = i + 1
        while j < len(raw) and not closing.match(raw[j].rstrip("\r\n")):
            j += 1
        out.append(_Segment("fence", tuple(raw[i : j + 1]), m.group(2).strip()))
        i = j + 1
    if prose:
        out.append(_Segment("prose", tuple(prose)))
    return out


def read_diff(body: str) -> str | None:
    """Return the diff shown in a body rendered here, exactly as it was passed in, or ``None``.

    The diff is the fenced ``diff`` block right after the single diff marker comment outside any
    fence. ``None`` when there is no marker, more than one, or the fence is malformed. Line ends
    inside the fence (``\\r\\n``, bare ``\\r``) are preserved byte for byte; the marker records
    whether the diff lacked a final newline, which :func:`fence` had to add.
    """
    if not isinstance(body, str):
        return None
    segments = _segments(body)
    found: list[tuple[bool, _Segment | None]] = []
    for index, seg in enumerate(segments):
        if seg.kind != "prose":
            continue
        for pos, line in enumerate(seg.lines):
            text = line.rstrip("\r\n")
            if text not in (DIFF_MARKER, DIFF_MARKER_NO_EOL):
                continue
            nxt = segments[index + 1] if pos == len(seg.lines) - 1 and index + 1 < len(segments) else None
            found.append((text == DIFF_MARKER_NO_EOL, nxt))
    if len(found) != 1:
        return None
    no_eol, fence_seg = found[0]
    if fence_seg is None or fence_seg.kind != "fence" or fence_seg.info != "diff" or len(fence_seg.lines) < 2:
        return None
    opening = _FENCE_OPEN.match(fence_seg.lines[0].rstrip("\r\n"))
    closing = fence_seg.lines[-1].rstrip("\r\n")
    if opening is None or not re.fullmatch(rf" {{0,3}}`{{{len(opening.group(1))},}}[ \t]*", closing):
        return None  # unterminated fence
    content = "".join(fence_seg.lines[1:-1])
    if no_eol:
        if not content.endswith("\n"):
            return None
        content = content[:-1]
    return content


# --------------------------------------------------------------------------------------------
# Abbreviation
# --------------------------------------------------------------------------------------------


def body_size(body: str) -> int:
    """Size of a body as GitHub counts it for check runs: UTF-8 bytes."""
    return len(body.encode("utf-8", "surrogatepass"))


def _shorten_lines(lines: list[str], keep: int, max_line: int) -> list[str]:
    """Keep the first and last lines (``keep`` in all) with an omission notice in between."""
    lines = [ln if len(ln) <= max_line else ln[:max_line] + " …[line cut]" for ln in lines]
    if len(lines) <= keep:
        return lines
    head = keep // 3
    tail = keep - head
    omitted = len(lines) - keep
    notice = f"… {omitted} line{'s' if omitted != 1 else ''} omitted …"
    return lines[:head] + [notice] + (lines[len(lines) - tail :] if tail else [])


def _fence_of(content_lines: list[str], info: str) -> str:
    return fence("\n".join(content_lines), info)


def abbreviate(body: str, limit: int = GITHUB_BODY_LIMIT) -> str:
    """Shorten a rendered body to at most ``limit`` UTF-8 bytes without breaking its markdown.

    GitHub limits a check run's ``output.summary``/``output.text`` to 65,535 (documented as
    characters, enforced as bytes: github/docs#35252) and a comment body to 65,536 characters, so
    the default is 65,535 bytes. Steps, each tried only while the body is still too large:

    1. fenced blocks other than the ``diff`` fence (failure blocks) are cut in the middle, keeping
       their first and last lines, down to a notice only; fences are re-emitted, never left open;
    2. prose lines after the header are dropped from the end, skipping the diff marker and the
       diff fence, and a notice is appended;
    3. if the header and the diff alone do not fit, the diff is replaced by a notice that the patch
       is too large to show and cannot be approved, and the metadata (if any) gets
       ``patch_shown: false``.

    The diff fence is never cut. Raises ``ValueError`` when ``limit`` is too small to hold even
    the header and a notice (under 1,024 bytes).
    """
    if limit < 1024:
        raise ValueError("abbreviate limit must be at least 1024 bytes")
    if body_size(body) <= limit:
        return body
    segments = _segments(body)
    diff_index = _diff_fence_index(segments)

    # 1. shrink failure-block fences
    keep = max((len(s.lines) for s in segments if s.kind == "fence"), default=0)
    max_line = 4000
    shrunk = segments
    while keep > 0:
        keep = keep // 2
        max_line = max(200, max_line // 2)
        shrunk = []
        for index, seg in enumerate(segments):
            if seg.kind == "fence" and index != diff_index:
                content = [ln.rstrip("\n") for ln in seg.lines[1:-1]]
                text = _fence_of(_shorten_lines(content, keep, max_line), seg.info)
                shrunk.append(_Segment("fence", tuple(text.splitlines(keepends=True)), seg.info))
            else:
                shrunk.append(seg)
        candidate = "".join("".join(s.lines) for s in shrunk)
        if body_size(candidate) <= limit:
            return candidate
    segments = shrunk

    # 2. drop prose lines from the end, keeping the header and the diff
    lines: list[tuple[str, bool]] = []  # (line, protected)
    for index, seg in enumerate(segments):
        protect_seg = index == diff_index
        for line in seg.lines:
            protected = protect_seg or line.rstrip("\r\n") in (
                DIFF_MARKER,
                DIFF_MARKER_NO_EOL,
            )
            lines.append((line, protected))
    for h in range(min(2, len(lines))):
        if is_marker_line(lines[h][0]):
            lines[h] = (lines[h][0], True)
    notice = "\n" + _ABBREVIATED_NOTICE + "\n"
    fits = _drop_prose(lines, limit - body_size(notice))
    if fits is not None:
        return fits + notice

    # 3. the diff itself does not fit: replace it with a notice and mark the metadata
    if diff_index is not None:
        too_large = "**The patch is too large to show here, so it cannot be approved.**\n"
        rebuilt = []
        for index, seg in enumerate(segments):
            if index == diff_index:
                rebuilt.append(too_large)
            else:
                rebuilt.append(
                    "".join(
                        ln for ln in seg.lines if ln.rstrip("\r\n") not in (DIFF_MARKER, DIFF_MARKER_NO_EOL)
                    )
                )
        new_body = "".join(rebuilt)
        meta = read_metadata(new_body)
        if meta is not None:
            header = embed_metadata(meta.model_copy(update={"patch_shown": False}))
            new_body = header + new_body.split("\n", 2)[2]
        return abbreviate(new_body, limit)
    raise ValueError("body cannot be abbreviated below the limit")  # pragma: no cover - header is small


def _diff_fence_index(segments: list[_Segment]) -> int | None:
    for index, seg in enumerate(segments[:-1]):
        if (
            seg.kind == "prose"
            and seg.lines
            and seg.lines[-1].rstrip("\r\n") in (DIFF_MARKER, DIFF_MARKER_NO_EOL)
        ):
            nxt = segments[index + 1]
            if nxt.kind == "fence" and nxt.info == "diff":
                return index + 1
    return None


def _drop_prose(lines: list[tuple[str, bool]], budget: int) -> str | None:
    kept = list(lines)
    size = sum(body_size(ln) for ln, _ in kept)
    i = len(kept) - 1
    while size > budget and i >= 0:
        line, protected = kept[i]
        if not protected:
            size -= body_size(line)
            del kept[i]
        i -= 1
    if size > budget:
        return None
    text = "".join(ln for ln, _ in kept)
    return text if text.endswith("\n") else text + "\n"


# --------------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Budget:
    """How much of the long parts to show. ``None`` means everything."""

    block_lines: int | None = None
    block_line_chars: int | None = None
    show_blocks: bool = True
    max_items: int | None = None
    item_chars: int | None = None
    prose_chars: int | None = None
    show_diff: bool = True


_PLANS: tuple[_Budget, ...] = (
    # the diff is shown in full in all of these; failure blocks shrink first, then list items
    _Budget(),
    _Budget(block_lines=200, block_line_chars=2_000),
    _Budget(block_lines=60, block_line_chars=500),
    _Budget(block_lines=20, block_line_chars=300),
    _Budget(show_blocks=False),
    _Budget(show_blocks=False, max_items=20, item_chars=500),
    _Budget(show_blocks=False, max_items=5, item_chars=200, prose_chars=4_000),
    # the diff alone does not fit: it is replaced by a notice, so there is room for the rest
    _Budget(
        block_lines=60,
        block_line_chars=500,
        max_items=20,
        item_chars=500,
        show_diff=False,
    ),
    _Budget(
        show_blocks=False,
        max_items=5,
        item_chars=200,
        prose_chars=4_000,
        show_diff=False,
    ),
)


def _digest(diff: str) -> str:
    return hashlib.sha256(diff.encode("utf-8", "surrogatepass")).hexdigest()


def _check_consistent(analysis: Analysis) -> None:
    if analysis.status == "proposed":
        if not analysis.diff:
            raise RenderError("analysis status is 'proposed' but it carries no diff")
        if analysis.digest != _digest(analysis.diff):
            raise RenderError(
                "analysis digest is not the sha256 of its diff; refusing to show an unverifiable patch"
            )


def _safe_url(url: str | None, meta: RenderMeta | None) -> str | None:
    if not url or meta is None:
        return None
    return url if _is_repository_url(url, meta.repository, meta.server_url) else None


def _job_url(meta: RenderMeta | None) -> str | None:
    if meta is None:
        return None
    if meta.log_url:
        return _safe_url(meta.log_url, meta)
    if meta.repository and meta.run_id and meta.job_id:
        return f"{meta.server_url}/{meta.repository}/actions/runs/{meta.run_id}/job/{meta.job_id}"
    return None


def _items(values: list[str], budget: _Budget) -> tuple[list[str], int]:
    if budget.max_items is None or len(values) <= budget.max_items:
        return values, 0
    return values[: budget.max_items], len(values) - budget.max_items


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _block_view(
    block: Block, job_url: str | None, budget: _Budget, meta: RenderMeta | None
) -> dict[str, Any]:
    lines = block.text.split("\n")
    if budget.block_lines is not None:
        lines = _shorten_lines(lines, budget.block_lines, budget.block_line_chars or 10**9)
    span = (
        f"{block.start_line}"
        if block.start_line == block.end_line
        else f"{block.start_line}–{block.end_line}"
    )
    label = f"line {span}" if block.start_line == block.end_line else f"lines {span}"
    link = f"[{label}](<{job_url}#L{block.start_line}>)" if job_url else label
    return {
        "where": link,
        "reason": _inline(block.reason, meta, limit=80),
        "fence": fence("\n".join(lines), "text"),
    }


def _failed_jobs_view(meta: RenderMeta | None, budget: _Budget) -> dict[str, Any]:
    """Groups of failed jobs (one per distinct failure, analyzed one first) and the jobs not analyzed."""
    jobs = list(meta.failed_jobs) if meta is not None else []
    if len(jobs) < 2 and not any(j.group is None for j in jobs):
        return {"groups": [], "unread": [], "total": len(jobs), "more": 0}

    def line(job: FailedJob) -> str:
        name = _inline(job.name, meta, limit=120)
        url = _safe_url(job.url, meta)
        where = f"[{name}](<{url}>)" if url else name
        if job.line is not None:
            where += f" — first failure line {job.line}"
        if job.note:
            where += f" — {_inline(job.note, meta, limit=200)}"
        return where

    shown = 0
    limit = budget.max_items if budget.max_items is not None else 10**9
    groups: dict[int, dict[str, Any]] = {}
    for job in jobs:
        if job.group is None:
            continue
        g = groups.setdefault(
            job.group,
            {
                "n": job.group,
                "category": _inline(job.category or "unknown", meta, limit=40),
                "jobs": [],
                "count": 0,
            },
        )
        g["count"] += 1
        if shown < limit:
            g["jobs"].append(line(job))
            shown += 1
    unread = []
    for job in jobs:
        if job.group is None and shown < limit:
            unread.append(line(job))
            shown += 1
    return {
        "groups": [groups[k] for k in sorted(groups)],
        "unread": unread,
        "total": len(jobs),
        "more": len(jobs) - shown,
    }


def _green_line(meta: RenderMeta | None) -> str:
    if meta is None or meta.green_run is None:
        return ""
    g = meta.green_run
    url = _safe_url(g.url, meta)
    run = f"[run {g.run_id}](<{url}>)" if url else f"run {g.run_id}"
    return (
        f"Compared with the last green {run} of this workflow: {_plural(g.dropped, 'log line')} it printed too "
        f"{'was' if g.dropped == 1 else 'were'} left out before extraction ({_plural(g.jobs, 'job')} compared)."
    )


def _redaction_line(analysis: Analysis) -> str:
    counts = {k: v for k, v in analysis.redactions.counts.items() if v > 0}
    total = sum(counts.values())
    if not total:
        return ""
    kinds = ", ".join(f"{_inline(kind, None, limit=40)} ×{n}" for kind, n in sorted(counts.items()))
    return f"{_plural(total, 'secret')} redacted: {kinds}"


def _metadata(analysis: Analysis, meta: RenderMeta, patch_shown: bool) -> ProposalMetadata:
    fingerprint = analysis.fingerprint if re.fullmatch(r"[0-9A-Za-z]{0,64}", analysis.fingerprint) else ""
    return ProposalMetadata(
        proposal_id=meta.proposal_id,
        head_sha=meta.head_sha,
        digest=analysis.digest if patch_shown else "",
        run_id=meta.run_id,
        run_attempt=meta.run_attempt,
        job_id=meta.job_id,
        fingerprint=fingerprint,
        status=analysis.status,
        patch_shown=patch_shown,
        root_cause=analysis.root_cause[:ROOT_CAUSE_METADATA_CHARS],
    )


def _view(analysis: Analysis, meta: RenderMeta | None, budget: _Budget, *, target: str) -> dict[str, Any]:
    """Build the template context: every string in it is already safe markdown."""
    repository = meta.repository if meta else None
    server_url = meta.server_url if meta else "https://github.com"

    def prose(text: str) -> str:
        if budget.prose_chars is not None and len(text) > budget.prose_chars:
            text = text[: budget.prose_chars] + " …"
        return escape_prose(text, repository=repository, server_url=server_url)

    def item(text: str) -> str:
        return _inline(text, meta, limit=budget.item_chars)

    level = analysis.risk.level
    reasons, more_reasons = _items([item(r) for r in analysis.risk.reasons], budget)
    violations, more_violations = _items(
        [
            f"{inline_code(v.code)}"
            + (f" {inline_code(_one_line(v.path, 200))}" if v.path else "")
            + f": {item(v.message)}"
            for v in analysis.violations
        ],
        budget,
    )
    cheats, more_cheats = _items(
        [
            f"**{_inline(c.code, meta, limit=40)}** in {inline_code(_one_line(c.path, 200))}: {item(c.message)}"
            + (f" — {inline_code(_one_line(c.line, budget.item_chars or 300))}" if c.line.strip() else "")
            for c in analysis.cheats
        ],
        budget,
    )
    has_diff = analysis.status == "proposed" and bool(analysis.diff)
    show_diff = has_diff and budget.show_diff
    diff_fence = fence(analysis.diff, "diff") if show_diff else ""
    diff_marker = (DIFF_MARKER if analysis.diff.endswith("\n") else DIFF_MARKER_NO_EOL) if show_diff else ""
    job_url = _job_url(meta)
    blocks = [_block_view(b, job_url, budget, meta) for b in analysis.blocks] if budget.show_blocks else []
    block_lines = sum(b.end_line - b.start_line + 1 for b in analysis.blocks)
    category = analysis.category.value + (" (possibly flaky)" if analysis.flaky_suspect else "")
    headline = {
        "proposed": "fix proposed",
        "no_patch": "root cause found, no patch",
        "withheld": "patch withheld by policy",
        "failed": "analysis failed",
    }[analysis.status]
    context: dict[str, Any] = {
        "target": target,
        "headline": headline,
        "status": analysis.status,
        "badge": _BADGES[level],
        "level": level,
        "category": category,
        "confidence": f"{round(analysis.confidence * 100)}%",
        "root_cause": prose(analysis.root_cause) if analysis.root_cause.strip() else "",
        "reasons": reasons,
        "more_reasons": more_reasons,
        "violations": violations,
        "more_violations": more_violations,
        "cheats": cheats,
        "more_cheats": more_cheats,
        "message": prose(analysis.message) if analysis.message.strip() else "",
        "has_diff": has_diff,
        "show_diff": show_diff,
        "diff_marker": diff_marker,
        "diff_fence": diff_fence,
        "digest": inline_code(analysis.digest) if show_diff else "",
        "blocks": blocks,
        "blocks_omitted": bool(analysis.blocks) and not budget.show_blocks,
        "n_blocks": len(analysis.blocks),
        "block_lines": block_lines,
        "redactions": _redaction_line(analysis),
        "backend": _inline(analysis.backend, meta, limit=60),
        "fingerprint": inline_code(analysis.fingerprint[:64]) if analysis.fingerprint else "",
        "header": "",
        "job": "",
        "job_url": job_url,
        "commit": "",
        "verification": "",
        "fix_pr": "",
        "approval": None,
        "failed_jobs": _failed_jobs_view(meta, budget),
        "green": _green_line(meta),
        "notes": [
            _inline(n[:1].upper() + n[1:], meta, limit=budget.item_chars or 500)
            for n in (meta.notes if meta else ())
        ],
    }
    if meta is not None:
        context["header"] = embed_metadata(_metadata(analysis, meta, show_diff))
        context["job"] = _inline(meta.job_name, meta, limit=120) if meta.job_name else ""
        context["commit"] = inline_code(meta.head_sha[:12])
        context["verification"] = _inline(meta.verification, meta, limit=300) if meta.verification else ""
        fix_pr = _safe_url(meta.fix_pr_url, meta)
        context["fix_pr"] = f"<{fix_pr}>" if fix_pr else ""
        if show_diff:
            context["approval"] = {
                "command": inline_code(f"{meta.approval_command} {meta.proposal_id}"),
                "label": inline_code(meta.approval_label) if meta.approval_label else "",
                "fork": meta.fork,
            }
    return context


def _one_line(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _squeeze_blank_lines(body: str) -> str:
    """Collapse runs of blank lines outside fences (template whitespace); fence content is kept."""
    out: list[str] = []
    for seg in _segments(body):
        if seg.kind == "fence":
            out.extend(seg.lines)
            continue
        for line in seg.lines:
            if line.strip() == "" and out and out[-1].strip() == "":
                continue
            out.append(line)
    return "".join(out)


def _render(template: str, context: Mapping[str, Any]) -> str:
    body = markdown_env().get_template(template).render(v=context)
    return _squeeze_blank_lines(body).strip("\n") + "\n"


def _fit(
    template: str,
    analysis: Analysis,
    meta: RenderMeta | None,
    *,
    target: str,
    limit: int,
    plans: tuple[_Budget, ...] = _PLANS,
) -> str:
    body = ""
    for budget in plans:
        body = _render(template, _view(analysis, meta, budget, target=target))
        if body_size(body) <= limit:
            return body
    return abbreviate(body, limit)


def render_comment(analysis: Analysis, meta: RenderMeta, *, limit: int = GITHUB_BODY_LIMIT) -> str:
    """Return the one PR comment body for ``analysis`` (≤ ``limit`` UTF-8 bytes).

    Starts with :data:`COMMENT_MARKER` and the metadata line; shows the root cause, category,
    confidence, risk badge with reasons, named cheats, the diff (``proposed``), the withheld reasons
    (``withheld``), what failed (``failed``), the failure blocks with line numbers, redaction
    counts and how to approve. Too-long bodies lose block lines first, then list items; the diff is
    never cut (it is replaced by a notice, and ``patch_shown`` is false, if it alone cannot fit).
    Raises :class:`RenderError` for a ``proposed`` analysis whose digest does not match its diff.
    """
    _check_consistent(analysis)
    return _fit("comment.md.j2", analysis, meta, target="comment", limit=limit)


def render_check_run(
    analysis: Analysis, meta: RenderMeta, *, limit: int = GITHUB_BODY_LIMIT
) -> CheckRunOutput:
    """Return the check run ``output``: a title, a ``summary`` (metadata, root cause, risk, diff,
    how to approve) and a ``text`` (failure blocks and details), each within GitHub's limits.

    Raises :class:`RenderError` like :func:`render_comment`.
    """
    _check_consistent(analysis)
    summary_plans = tuple(p for p in _PLANS if not p.show_blocks)
    summary = _fit(
        "check_run_summary.md.j2",
        analysis,
        meta,
        target="check_run",
        limit=limit,
        plans=summary_plans,
    )
    text = _fit(
        "check_run_text.md.j2",
        analysis,
        meta,
        target="check_run",
        limit=limit,
        plans=_PLANS[:5] + _PLANS[-1:],
    )
    return CheckRunOutput(title=check_run_title(analysis), summary=summary, text=text)


def check_run_title(analysis: Analysis) -> str:
    """One-line check run title: risk badge, category and the root cause, ≤ 255 characters.

    The title is shown as plain text (GitHub does not render markdown there); the root cause is
    still reduced to one line of printable characters (no control or bidi characters) and cut with
    an ellipsis at the limit.
    """
    flaky = ", possibly flaky" if analysis.flaky_suspect else ""
    head = f"{_BADGES[analysis.risk.level]} {analysis.risk.level} risk · {analysis.category.value}{flaky}: "
    cause = "".join(
        ch if ch.isprintable() and unicodedata.category(ch) != "Cf" else " " for ch in analysis.root_cause
    )
    cause = " ".join(cause.split()) or "no root cause"
    title = head + cause
    if len(title) > CHECK_RUN_TITLE_LIMIT:
        title = title[: CHECK_RUN_TITLE_LIMIT - 1].rstrip() + "…"
    return title


def render_job_summary(analysis: Analysis, meta: RenderMeta, *, limit: int = JOB_SUMMARY_LIMIT) -> str:
    """Return markdown for ``$GITHUB_STEP_SUMMARY`` (≤ 1 MiB): the comment's content without the
    hidden metadata. Raises :class:`RenderError` like :func:`render_comment`."""
    _check_consistent(analysis)
    return _fit("job_summary.md.j2", analysis, meta, target="job_summary", limit=limit)


def render_cli_markdown(analysis: Analysis) -> str:
    """Return markdown for ``ci-healer analyze --format markdown``: no metadata, links or approval
    instructions (there is no workflow run). Never raises for a valid :class:`Analysis`; a
    ``proposed`` analysis with a mismatching digest shows the diff with a warning instead.

    The caller must not print it raw inside a GitHub Actions step: log lines may hold workflow
    commands (``::``); wrap the output in ``::stop-commands::``.
    """
    mismatch = analysis.status == "proposed" and analysis.digest != _digest(analysis.diff)
    context = _view(analysis, None, _Budget(), target="cli")
    context["digest_mismatch"] = mismatch
    return _render("cli.md.j2", context)
