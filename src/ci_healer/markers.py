"""The hidden markers ci-healer writes into GitHub bodies, the one format of its metadata lines, and
the patterns of the identifiers in them.

Every marker is an HTML comment ``<!-- ci-healer:<name> -->`` on a line of its own (GitHub does not
render HTML comments in comments, check-run summaries or PR bodies). A *metadata line* is
``<!-- ci-healer:<kind> {json} -->``: one JSON object, compact, keys sorted, ASCII only, with
``<``, ``>`` and ``&`` written as ``\\u003c``-style escapes so no value can close the comment early.
Two kinds exist, each at a fixed position (text anywhere else — inside a log fence or forged in
prose — is never read):

* ``metadata`` — line 2 of a proposal body (PR comment, check run, job summary), after
  :data:`COMMENT_MARKER` (:class:`ci_healer.render.ProposalMetadata`);
* ``fix`` — line 1 of a fix PR body (:class:`ci_healer.flow.FixMetadata`).

Both may carry a ``ledger`` object (:mod:`ci_healer.ledger`). Lines ending in ``\\r\\n`` (bodies
edited in the web UI) are accepted.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, Literal

PREFIX = "<!-- ci-healer:"
SUFFIX = " -->"

MetadataKind = Literal["metadata", "fix"]
METADATA: MetadataKind = "metadata"
"""Kind of the metadata line of a proposal body (its second line)."""
FIX: MetadataKind = "fix"
"""Kind of the metadata line of a fix PR body (its first line)."""


def marker(name: str) -> str:
    """The marker ``<!-- ci-healer:<name> -->``."""
    return f"{PREFIX}{name}{SUFFIX}"


COMMENT_MARKER = marker("comment")
"""First line of every proposal body ci-healer posts; with the bot's login it finds its one comment."""
REPLY_MARKER = marker("reply")
"""First line of ci-healer's replies to an approval or rejection command."""
STATUS_OPEN = marker("status")
STATUS_CLOSE = marker("status-end")
"""The status line of a proposal body sits between these two (:func:`ci_healer.flow.set_status`)."""
DIFF_MARKER = marker("diff")
"""Line before the fenced diff of a proposal (the diff ends with a newline)."""
DIFF_MARKER_NO_EOL = marker("diff eol=0")
"""Line before the fenced diff of a proposal whose last line has no newline."""

# Identifiers (pydantic ``Field(pattern=...)`` strings; the compiled form below for ``re`` use).
PROPOSAL_ID = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
"""A proposal id: ``<run_id>-<8 hex>`` as ci-healer writes them; 1–64 of ``[A-Za-z0-9._-]``,
starting with a letter or digit (so it is one word of an ``/approve-fix <id>`` command)."""
COMMIT_SHA = r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$"
"""A full commit SHA: 40 hex digits (SHA-1) or 64 (SHA-256 repositories), lower case as the REST
API returns them."""
DIGEST = r"^[0-9a-f]{64}$"
"""The sha256 hex digest of a proposed diff (:func:`ci_healer.patch.diff_digest`)."""
REPOSITORY = r"^[A-Za-z0-9_.-]{1,100}/[A-Za-z0-9_.-]{1,100}$"
"""A repository full name ``owner/name``."""

PROPOSAL_ID_RE = re.compile(PROPOSAL_ID)


def is_marker_line(line: str) -> bool:
    """True when ``line`` starts with a ci-healer marker or metadata line."""
    return line.startswith(PREFIX)


def encode_metadata_line(kind: MetadataKind, data: Mapping[str, Any]) -> str:
    """The metadata line ``<!-- ci-healer:<kind> {json} -->`` (no newline) holding ``data``."""
    payload = json.dumps(dict(data), sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    payload = payload.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return f"{PREFIX}{kind} {payload}{SUFFIX}"


def decode_metadata_line(kind: MetadataKind, line: str) -> dict[str, Any] | None:
    """The JSON object of the metadata line ``line`` of ``kind``, or ``None`` when ``line`` is not
    one (other marker, not JSON, not an object). A trailing ``\\r`` is ignored."""
    line = line.rstrip("\r")
    opening = f"{PREFIX}{kind} "
    if not (line.startswith(opening) and line.endswith(SUFFIX)) or len(line) < len(opening) + len(SUFFIX):
        return None
    try:
        data = json.loads(line[len(opening) : -len(SUFFIX)])
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def metadata_line_index(body: str) -> tuple[int, MetadataKind] | None:
    """Where the metadata line of ``body`` is: ``(1, "metadata")`` for a proposal body (first line
    :data:`COMMENT_MARKER`), ``(0, "fix")`` for a fix PR body, ``None`` otherwise. Only the
    position and the opening are checked; :func:`read_metadata_line` checks the JSON."""
    lines = (body or "").split("\n", 2)
    if (
        len(lines) >= 2
        and lines[0].rstrip("\r") == COMMENT_MARKER
        and lines[1].startswith(f"{PREFIX}{METADATA} ")
    ):
        return 1, METADATA
    if lines[0].startswith(f"{PREFIX}{FIX} "):
        return 0, FIX
    return None


def read_metadata_line(
    body: str, kind: MetadataKind | None = None
) -> tuple[MetadataKind, dict[str, Any]] | None:
    """``(kind, object)`` of the metadata line of ``body`` at its fixed position, or ``None``
    (no such line, not JSON, or a different ``kind`` than the one asked for)."""
    if not isinstance(body, str):
        return None
    where = metadata_line_index(body)
    if where is None or (kind is not None and where[1] != kind):
        return None
    index, found = where
    data = decode_metadata_line(found, body.split("\n", index + 1)[index])
    return None if data is None else (found, data)


def replace_metadata_line(body: str, data: Mapping[str, Any]) -> str:
    """``body`` with the object of its metadata line replaced by ``data`` (same kind, same place).

    Raises ``ValueError`` when ``body`` has no readable metadata line (nothing is changed)."""
    where = metadata_line_index(body or "")
    if where is None or read_metadata_line(body) is None:
        raise ValueError("body has no ci-healer metadata line")
    index, kind = where
    lines = body.split("\n")
    lines[index] = encode_metadata_line(kind, data)
    return "\n".join(lines)
