"""What every LLM backend shares: the prompt, the data fences, the output schema, parsing, the
repair round and the retry policy.

Prompt. :func:`build_messages` renders ``prompts/system.j2`` and ``prompts/user.j2`` (jinja2,
``StrictUndefined``) from a :class:`~ci_healer.models.ProposalRequest`. Every value that comes from
the repository or its logs — failure block text, file paths and contents, the repository name,
manifest paths, package names — is placed inside a data fence::

    <<<DATA 9f0c…(32 hex digits)>>>
    …untrusted text…
    <<<END 9f0c…>>>

The delimiter is ``secrets.token_hex(16)``, drawn per request and drawn again while it occurs in any
of the untrusted strings, so data can neither close its fence nor forge one. The system prompt says
text inside fences is data, never instructions (the "spotlighting"/delimiting defence of Hines et al.,
"Defending Against Indirect Prompt Injection Attacks With Spotlighting", 2024). Labels outside the
fences (block ``reason``, classification ``signals``) are reduced to ``[A-Za-z0-9_.:-]``. Order: the
system message is identical for every request up to its last section, which alone carries the
delimiter, and the user message follows it, so a server's prompt-prefix cache (OpenAI prompt
caching, vLLM automatic prefix caching) can reuse the whole fixed part; the fence is as strong as
before because the delimiter is still unpredictable and still stated by the system message. The model
has no tools it can run, and nothing it says is executed: its JSON only becomes a diff that passes the
deterministic policy and a human approval. Secrets are redacted before the request reaches this module;
the prompt holds only the request's fields and the templates' own text.

Budget. The rendered system plus user message must fit ``max_prompt_tokens`` as counted by
:func:`ci_healer.tokens.estimate_tokens`. The failing change (``request.change``) is cut first (the
longest patch loses its last lines, a patch left under three lines is dropped, then files are
dropped from the last; the prompt says how many), then file windows are trimmed (symmetrically around the
window's centre, their line numbers updated, then dropped from the last), then failure blocks (middle
lines replaced by an ``[… N lines omitted …]`` marker, largest block first, then blocks dropped from
the last, finally one long line cut).

Output. :func:`parse_proposal` validates with ``Proposal.model_validate_json`` and tolerates one
```` ```json ```` fence around the JSON, or prose around exactly one JSON object. A backend that
gets an invalid reply does one repair round (:func:`render_repair`, the validation errors sent
back); a second invalid reply is ``BackendError("invalid_output")``. A reply cut off by the output
cap is no repair case: it is asked once more with a larger cap (:func:`larger_output_budget`), then
reported as ``BackendError("truncated")``.

Errors. Each backend wraps ``propose`` in :func:`error_boundary`, which redacts the literal secrets
(and token shapes) from every :class:`BackendError` message; URLs in messages go through
:func:`display_url`.

Retries. :func:`call_with_retries` retries ``throttled`` and ``unavailable`` errors with capped
exponential backoff and full jitter (delay drawn uniformly from ``[0, min(cap, base * 2**attempt)]``,
the "Full Jitter" of Brooker, "Exponential Backoff And Jitter", AWS Architecture Blog, 2015), or the
server's ``Retry-After`` when it gives one (capped). Timeouts are not retried.
"""

from __future__ import annotations

import copy
import json
import random
import re
import secrets
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any, Literal, NamedTuple, TypeVar
from urllib.parse import urlsplit

from pydantic import ValidationError

from ci_healer.backends.base import BackendError
from ci_healer.models import Block, Category, EditFailure, Proposal, ProposalRequest
from ci_healer.redact import Redactor
from ci_healer.templating import prompt_env
from ci_healer.tokens import estimate_tokens

T = TypeVar("T")

DEFAULT_MAX_PROMPT_TOKENS = 6000
MAX_OUTPUT_TOKENS = 4096
"""Output cap asked of every model: a proposal with a few edits fits in well under 2,000 tokens."""
MAX_OUTPUT_TOKENS_CEILING = 8192
"""Largest output cap a cut-off reply is retried with (once, at twice the first cap). Within the
output limit of the default models (gpt-4o-mini: 16,384; Amazon Nova Pro: 10,000)."""
SCHEMA_NAME = "submit_proposal"
SCHEMA_DESCRIPTION = "Root cause of one failed CI job and a minimal search/replace patch (possibly empty)."
DELIMITER_BYTES = 16
RETRYABLE_CODES = frozenset({"throttled", "unavailable"})
OutputMode = Literal["json", "tool"]

_LABEL_RE = re.compile(r"[^A-Za-z0-9_.:\-]")
_FENCED_JSON_RE = re.compile(r"^\s*```[A-Za-z0-9_-]*[ \t]*\r?\n(?P<body>.*?)\r?\n?```\s*$", re.DOTALL)
_OMITTED = "[... {n} lines omitted by ci-healer to fit the prompt budget ...]"
_TRUNCATED = "[... cut by ci-healer to fit the prompt budget ...]"
_MAX_REPAIR_ERRORS = 20
_MAX_ECHO_CHARS = 8_000


class Prompt(NamedTuple):
    """A rendered prompt: ``(system, user, delimiter)``; ``delimiter`` is the fence's hex token."""

    system: str
    user: str
    delimiter: str


# --------------------------------------------------------------------------------------- schema


def proposal_json_schema() -> dict[str, Any]:
    """JSON schema of :class:`Proposal` in the portable subset of OpenAI strict Structured Outputs.

    Derived from ``Proposal.model_json_schema()``: ``$ref`` inlined, every object gets
    ``additionalProperties: false`` and lists all its properties as ``required`` (OpenAI's strict
    mode rules), and ``default`` and ``title`` are dropped. String ``minLength``/``maxLength`` and
    array ``maxItems`` are kept, so a server that enforces them cannot hand back a root cause that
    :class:`Proposal` then rejects; a server whose strict mode refuses them answers 400 naming the
    schema, and the OpenAI backend falls back to JSON mode. The same schema is the Bedrock tool's
    ``inputSchema``. Pydantic still enforces the full model on the reply.
    """
    raw = Proposal.model_json_schema()
    defs = raw.pop("$defs", {})

    def convert(node: Any) -> Any:
        if isinstance(node, list):
            return [convert(item) for item in node]
        if not isinstance(node, dict):
            return node
        if "$ref" in node:
            target = defs[node["$ref"].rsplit("/", 1)[-1]]
            merged = {**copy.deepcopy(target), **{k: v for k, v in node.items() if k != "$ref"}}
            return convert(merged)
        out = {k: convert(v) for k, v in node.items() if k not in {"default", "title"}}
        if out.get("type") == "object" and "properties" in out:
            out["additionalProperties"] = False
            out["required"] = list(out["properties"])
        return out

    return convert(raw)


# -------------------------------------------------------------------------------------- parsing


def parse_proposal(text: str) -> Proposal:
    """Validate a model reply as a :class:`Proposal`.

    ``text`` is the JSON object, optionally wrapped in one Markdown code fence (```` ```json ````),
    or prose around exactly one JSON object (what models in JSON-mode fallback, without a schema,
    often write: "Here is the fix: {...}"); then that object is validated. A reply that is JSON as
    a whole (an array, a bare string) is judged as it is. Raises
    :class:`pydantic.ValidationError` when it is not valid JSON of the contract.
    """
    match = _FENCED_JSON_RE.match(text)
    body = (match.group("body") if match else text).strip()
    try:
        return Proposal.model_validate_json(body or '""')
    except ValidationError:
        found = None if _is_json(body) else json_object_in(body)
        if found is None:
            raise
    return Proposal.model_validate_json(found)


def _is_json(text: str) -> bool:
    """True when ``text`` as a whole is JSON (then it is judged as it is, never searched)."""
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


_MAX_OBJECT_STARTS = 64


def json_object_in(text: str) -> str | None:
    """The text of the one top-level JSON object in ``text``, or None when there is none or more
    than one (two objects are ambiguous: neither is picked).

    Scans ``{`` positions left to right with :meth:`json.JSONDecoder.raw_decode`, skipping past each
    object found; at most 64 start positions are tried, so the cost stays linear in ``len(text)``
    times a constant.
    """
    decoder = json.JSONDecoder()
    found: list[str] = []
    pos = text.find("{")
    tries = 0
    while pos != -1 and tries < _MAX_OBJECT_STARTS:
        tries += 1
        try:
            value, end = decoder.raw_decode(text, pos)
        except ValueError:
            pos = text.find("{", pos + 1)
            continue
        if isinstance(value, dict):
            found.append(text[pos:end])
        pos = text.find("{", end)
    return found[0] if len(found) == 1 else None


def describe_validation_error(err: ValidationError | str) -> list[str]:
    """One line per problem (``location: message``) without echoing input values; at most 20."""
    if isinstance(err, str):
        return [err]
    lines = []
    for item in err.errors(include_url=False, include_input=False, include_context=False):
        loc = ".".join(str(part) for part in item["loc"]) or "(whole reply)"
        lines.append(f"{loc}: {item['msg']}")
    if len(lines) > _MAX_REPAIR_ERRORS:
        lines = [*lines[:_MAX_REPAIR_ERRORS], f"... and {len(lines) - _MAX_REPAIR_ERRORS} more"]
    return lines


def render_repair(errors: Iterable[str], *, output_mode: OutputMode) -> str:
    """The repair-round user message (``prompts/repair.j2``) listing ``errors``."""
    return (
        prompt_env()
        .get_template("repair.j2")
        .render(errors=[_one_line(e) for e in errors], output_mode=output_mode)
    )


def echo_for_repair(reply: str) -> str:
    """The model's own invalid reply as it is sent back in the repair round (capped at 8,000 chars)."""
    return reply if len(reply) <= _MAX_ECHO_CHARS else reply[:_MAX_ECHO_CHARS] + "\n" + _TRUNCATED


def invalid_output(errors: list[str]) -> BackendError:
    """The error raised after a failed repair round (message: first problems, one line)."""
    summary = "; ".join(_one_line(e) for e in errors[:3])
    return BackendError(
        "invalid_output", f"the model's reply is not a valid proposal after one repair round: {summary}"
    )


def _one_line(text: str, limit: int = 300) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


# --------------------------------------------------------------------------------- patch repair
#
# A valid proposal whose edits do not apply (``original`` not found or ambiguous, a path that does
# not exist) gets one patch-repair round: the same system and user messages, the model's previous
# proposal as its own turn, then ``prompts/repair_edits.j2`` with the failure, the closest lines of
# the file (numbered) and the existing paths near a missing one. Every text from the repository or
# the model sits in the same data fences as the first request, and the whole conversation fits the
# same ``max_prompt_tokens`` budget: the failure report is capped first, the request's windows and
# blocks are trimmed to the rest.

_REPAIR_SHARE = 3
"""The failure report and the echoed proposal get at most 1/3 of the prompt budget."""


class RepairPrompt(NamedTuple):
    """A rendered patch-repair conversation: the first request, the echoed proposal, the report."""

    system: str
    user: str
    previous: str
    repair: str
    delimiter: str


def _failure_view(failure: EditFailure, max_chars: int) -> dict[str, Any]:
    width = len(str((failure.closest_start_line or 1) + len(failure.closest_lines)))
    numbered = [
        f"{n:>{width}}| {line}"
        for n, line in enumerate(failure.closest_lines, failure.closest_start_line or 1)
    ]
    while numbered and sum(len(x) + 1 for x in numbered) > max_chars:
        numbered.pop()
    original = (
        failure.original
        if len(failure.original) <= max_chars
        else failure.original[:max_chars] + "\n" + _TRUNCATED
    )
    return {
        "edit_index": failure.edit_index,
        "code": _label(failure.code),
        "file_path": failure.file_path,
        "original": original,
        "numbered": "\n".join(numbered),
        "closest_lines": bool(numbered),
        "closest_start_line": failure.closest_start_line or 1,
        "nearby_paths": failure.nearby_paths[:10],
    }


def render_edit_repair(
    failures: list[EditFailure], *, delimiter: str, output_mode: OutputMode, max_chars: int = 4_000
) -> str:
    """The patch-repair user message (``prompts/repair_edits.j2``); file text capped at ``max_chars`` per failure."""
    views = [_failure_view(f, max_chars) for f in failures]
    return (
        prompt_env()
        .get_template("repair_edits.j2")
        .render(failures=views, delimiter=delimiter, output_mode=output_mode)
    )


def build_repair_messages(
    request: ProposalRequest,
    previous: Proposal,
    failures: list[EditFailure],
    *,
    max_prompt_tokens: int = DEFAULT_MAX_PROMPT_TOKENS,
    output_mode: OutputMode = "json",
    token_factory: Callable[[int], str] = secrets.token_hex,
) -> RepairPrompt:
    """The patch-repair conversation for ``previous``, whose edits failed as ``failures`` say.

    The four texts together fit ``max_prompt_tokens`` (:func:`ci_healer.tokens.estimate_tokens`):
    the report and the echoed proposal first (capped to a third of the budget, file lines cut
    from the end; a sixth, then a twelfth when the instructions need the room), then
    :func:`build_messages` with what is left. One fresh delimiter fences the
    request's data, the proposal's edits and the report. Raises ``BackendError("config")`` when
    the budget cannot hold the instructions.
    """
    data = [*untrusted_strings(request), previous.model_dump_json()]
    data += [t for f in failures for t in (f.file_path, f.original, *f.closest_lines, *f.nearby_paths)]
    delimiter = new_delimiter(data, token_factory=token_factory)
    full_echo = echo_for_repair(previous.model_dump_json())
    last_error: BackendError | None = None
    for share in (max_prompt_tokens // _REPAIR_SHARE, max_prompt_tokens // 6, max_prompt_tokens // 12):
        echo = full_echo
        max_chars = 4_000
        while True:
            repair = render_edit_repair(
                failures, delimiter=delimiter, output_mode=output_mode, max_chars=max_chars
            )
            used = estimate_tokens(repair) + estimate_tokens(echo)
            if used <= share or max_chars <= 100:
                break
            max_chars //= 2
        if used > share:
            echo = echo[: max(100, (share - estimate_tokens(repair)) * 4)] + "\n" + _TRUNCATED
            used = estimate_tokens(repair) + estimate_tokens(echo)
        try:
            prompt = build_messages(
                request,
                max_prompt_tokens=max_prompt_tokens - used,
                output_mode=output_mode,
                token_factory=lambda _n: delimiter,
            )
        except BackendError as err:  # the instructions need more room: give the report less
            last_error = err
            continue
        return RepairPrompt(prompt.system, prompt.user, echo, repair, delimiter)
    assert last_error is not None
    raise last_error


# --------------------------------------------------------------------------------------- prompt


@dataclass(frozen=True)
class _FileView:
    path: str
    start_line: int
    lines: tuple[str, ...]
    reason: str
    trimmed: bool = False

    @property
    def end_line(self) -> int:
        return self.start_line + len(self.lines) - 1

    @property
    def size(self) -> int:
        return sum(len(line) + 1 for line in self.lines)


@dataclass(frozen=True)
class _BlockView:
    start_line: int
    end_line: int
    reason: str
    head: tuple[str, ...]
    tail: tuple[str, ...] = ()
    omitted: int = 0

    @property
    def size(self) -> int:
        return sum(len(line) + 1 for line in self.head + self.tail)

    @property
    def text(self) -> str:
        if not self.omitted:
            return "\n".join(self.head + self.tail)
        return "\n".join((*self.head, _OMITTED.format(n=self.omitted), *self.tail))


@dataclass(frozen=True)
class _ChangeView:
    path: str
    status: str
    lines: tuple[str, ...]
    cut: bool = False

    @property
    def size(self) -> int:
        return sum(len(line) + 1 for line in self.lines)


def _change_views(request: ProposalRequest, cap: int) -> list[_ChangeView]:
    if request.change is None:
        return []
    out = []
    for f in request.change.files:
        lines = _split(f.patch[:cap]) if f.patch else ()
        out.append(_ChangeView(f.path, f.status, lines, cut=len(f.patch) > cap))
    return out


def _trim_change(views: list[_ChangeView], excess_chars: int) -> tuple[list[_ChangeView], bool]:
    """Cut the longest patch from its end (dropped when under three lines are left), else drop
    the last file. Returns the views and whether a whole file was dropped."""
    with_patch = [i for i, v in enumerate(views) if v.lines]
    if with_patch:
        idx = max(with_patch, key=lambda i: views[i].size)
        lines = list(views[idx].lines)
        removed = 0
        while lines and removed < excess_chars:
            removed += len(lines.pop()) + 1
        views[idx] = replace(views[idx], lines=tuple(lines) if len(lines) >= 3 else (), cut=True)
        return views, False
    views.pop()
    return views, True


def untrusted_strings(request: ProposalRequest) -> list[str]:
    """Every string of ``request`` that comes from the repository or its logs (what gets fenced)."""
    out = [request.repository, *request.manifests, *request.project_packages]
    if request.change is not None:
        out += [f.path for f in request.change.files] + [f.patch for f in request.change.files]
        out += [f.previous_path or "" for f in request.change.files] + list(request.change.notes)
    out += [b.text for b in request.blocks] + [b.reason for b in request.blocks]
    out += (
        [f.path for f in request.files] + [f.text for f in request.files] + [f.reason for f in request.files]
    )
    out += list(request.classification.signals)
    if request.past_fix is not None:
        out.append(request.past_fix.diff)
    return out


def new_delimiter(data: Iterable[str], *, token_factory: Callable[[int], str] = secrets.token_hex) -> str:
    """A fresh hex delimiter that occurs in none of ``data`` (case-insensitively).

    ``token_factory(nbytes)`` defaults to :func:`secrets.token_hex`. Raises ``RuntimeError`` if 100
    draws all collide (only a broken factory can do that).
    """
    haystack = "\x00".join(data).lower()
    for _ in range(100):
        token = token_factory(DELIMITER_BYTES)
        if token and token.lower() not in haystack:
            return token
    raise RuntimeError("could not draw a fence delimiter absent from the data")


def _label(value: str) -> str:
    cleaned = _LABEL_RE.sub("", value)[:60]
    return cleaned or "unspecified"


def _split(text: str) -> tuple[str, ...]:
    body = text[:-1] if text.endswith("\n") else text
    return tuple(body.split("\n"))


def _render(
    request: ProposalRequest,
    files: list[_FileView],
    blocks: list[_BlockView],
    delimiter: str,
    output_mode: OutputMode,
    dropped_files: int,
    dropped_blocks: int,
    change: list[_ChangeView] | None = None,
    dropped_change: int = 0,
    past_fix: bool = True,
) -> tuple[str, str]:
    env = prompt_env()
    system = env.get_template("system.j2").render(
        delimiter=delimiter,
        categories=[c.value for c in Category],
        max_edits=20,
        output_mode=output_mode,
    )
    user = env.get_template("user.j2").render(
        delimiter=delimiter,
        repository=request.repository,
        category=request.classification.category.value,
        flaky_suspect=request.classification.flaky_suspect,
        signals=[_label(s) for s in request.classification.signals],
        manifests=request.manifests,
        project_packages=request.project_packages,
        blocks=[
            {
                "start_line": b.start_line,
                "end_line": b.end_line,
                "reason": _label(b.reason),
                "text": b.text,
                "omitted": b.omitted,
            }
            for b in blocks
        ],
        files=[
            {
                "path": f.path,
                "start_line": f.start_line,
                "end_line": f.end_line,
                "reason": _label(f.reason),
                "text": "\n".join(f.lines),
                "trimmed": f.trimmed,
            }
            for f in files
        ],
        dropped_files=dropped_files,
        dropped_blocks=dropped_blocks,
        output_mode=output_mode,
        past_fix=None
        if request.past_fix is None or not past_fix
        else {
            "number": request.past_fix.pr_number,
            "merged_on": request.past_fix.merged_on,
            "diff": request.past_fix.diff,
            "cut": request.past_fix.cut,
        },
        change=None
        if request.change is None
        else {
            "kind": request.change.kind,
            "total_files": request.change.total_files,
            "notes": list(request.change.notes),
            "files": [
                {"path": c.path, "status": _label(c.status), "patch": "\n".join(c.lines), "cut": c.cut}
                for c in change or []
            ],
            "dropped": dropped_change,
            "cut": sum(1 for c in change or [] if c.cut),
        },
    )
    return system, user


def _trim_file(view: _FileView, excess_chars: int) -> _FileView | None:
    """Drop lines from both ends (centre kept) until ``excess_chars`` are gone; None when empty."""
    lines = list(view.lines)
    start = view.start_line
    removed = 0
    from_front = True
    while lines and removed < excess_chars:
        line = lines.pop(0) if from_front else lines.pop()
        if from_front:
            start += 1
        removed += len(line) + 1
        from_front = not from_front
    if not lines:
        return None
    return replace(view, start_line=start, lines=tuple(lines), trimmed=True)


def _drop_middle(view: _BlockView, excess_chars: int) -> _BlockView:
    """Replace middle lines by the omission marker (first and last line kept) until ``excess_chars``
    are gone. Requires more than two lines."""
    head, tail = list(view.head), list(view.tail)
    removed = 0
    omitted = view.omitted
    target = excess_chars + (0 if omitted else len(_OMITTED) + 8)
    while len(head) + len(tail) > 2 and removed < target:
        line = head.pop() if len(head) > len(tail) else tail.pop(0)
        removed += len(line) + 1
        omitted += 1
    return replace(view, head=tuple(head), tail=tuple(tail), omitted=omitted)


def _cut_line(view: _BlockView, excess_chars: int) -> _BlockView | None:
    """Cut the longest remaining line from its end (error text leads a line); None if none is long."""
    lines = list(view.head + view.tail)
    if not lines:
        return None
    idx = max(range(len(lines)), key=lambda i: len(lines[i]))
    if len(lines[idx]) <= len(_TRUNCATED) + 16:
        return None
    keep = max(16, len(lines[idx]) - excess_chars - len(_TRUNCATED) - 1)
    lines[idx] = lines[idx][:keep] + _TRUNCATED
    n_head = len(view.head)
    return replace(view, head=tuple(lines[:n_head]), tail=tuple(lines[n_head:]))


def build_messages(
    request: ProposalRequest,
    *,
    max_prompt_tokens: int = DEFAULT_MAX_PROMPT_TOKENS,
    output_mode: OutputMode = "json",
    token_factory: Callable[[int], str] = secrets.token_hex,
) -> Prompt:
    """Render the system and user messages for ``request`` within ``max_prompt_tokens``.

    ``output_mode`` is ``json`` (reply with a JSON object) or ``tool`` (call the
    ``submit_proposal`` tool, for Bedrock). Returns :class:`Prompt` ``(system, user, delimiter)``;
    ``estimate_tokens(system) + estimate_tokens(user) <= max_prompt_tokens`` always holds.
    Trimming order: the past fix's example (dropped whole), the failing change (longest patch first, then files from the last), then
    file windows (largest first, a window under three lines is dropped), then the
    middle lines of failure blocks (largest first), then whole blocks from the last, then the
    longest remaining line. Raises ``BackendError("config")`` when even the instructions plus a
    stub of the first block do not fit.
    """
    delimiter = new_delimiter(untrusted_strings(request), token_factory=token_factory)
    # Bound the work on huge inputs: nothing beyond the whole budget's bytes can survive trimming.
    cap = max(64, max_prompt_tokens * 4)
    files = [
        _FileView(path=f.path, start_line=f.start_line, lines=_split(f.text), reason=f.reason)
        for f in request.files
    ]
    blocks = [_block_view(b, cap) for b in request.blocks]
    change = _change_views(request, cap)
    dropped_files = dropped_blocks = dropped_change = 0
    example = request.past_fix is not None

    while True:
        system, user = _render(
            request,
            files,
            blocks,
            delimiter,
            output_mode,
            dropped_files,
            dropped_blocks,
            change,
            dropped_change,
            past_fix=example,
        )
        total = estimate_tokens(system) + estimate_tokens(user)
        if total <= max_prompt_tokens:
            return Prompt(system, user, delimiter)
        excess = (total - max_prompt_tokens) * 4
        if example:  # the past fix is a hint: it goes before any of this failure's own context
            example = False
            continue
        if change:
            change, dropped = _trim_change(change, excess)
            dropped_change += dropped
            continue
        if files:
            idx = max(range(len(files)), key=lambda i: files[i].size)
            trimmed = _trim_file(files[idx], excess)
            if trimmed is None or len(trimmed.lines) < 3:
                files.pop(idx)
                dropped_files += 1
            else:
                files[idx] = trimmed
            continue
        long_blocks = [i for i, b in enumerate(blocks) if len(b.head) + len(b.tail) > 2]
        if long_blocks:
            idx = max(long_blocks, key=lambda i: blocks[i].size)
            blocks[idx] = _drop_middle(blocks[idx], excess)
            continue
        if len(blocks) > 1:
            blocks.pop()
            dropped_blocks += 1
            continue
        cut = _cut_line(blocks[0], excess) if blocks else None
        if cut is None:
            break
        blocks[0] = cut
    raise BackendError(
        "config",
        f"max_prompt_tokens={max_prompt_tokens} is too small for the prompt instructions and one failure line",
    )


def _block_view(block: Block, cap: int) -> _BlockView:
    """A view of ``block``; a text over ``cap`` characters keeps only its first and last lines
    worth ``cap / 2`` characters each (the rest cannot fit the budget anyway)."""
    lines = _split(block.text)
    if len(block.text) <= cap:
        return _BlockView(block.start_line, block.end_line, block.reason, lines)
    half = cap // 2
    head: list[str] = []
    size = 0
    for line in lines:
        if size >= half:
            break
        head.append(line[:half])
        size += min(len(line), half) + 1
    tail: list[str] = []
    size = 0
    for line in reversed(lines[len(head) :]):
        if size >= half:
            break
        tail.append(line[:half])
        size += min(len(line), half) + 1
    tail.reverse()
    omitted = len(lines) - len(head) - len(tail)
    return _BlockView(block.start_line, block.end_line, block.reason, tuple(head), tuple(tail), omitted)


# -------------------------------------------------------------------------------------- retries


@dataclass(frozen=True)
class RetryPolicy:
    """How :func:`call_with_retries` waits. Seconds; ``max_retries`` retries after the first try."""

    max_retries: int = 3
    base_s: float = 1.0
    cap_s: float = 20.0
    sleep: Callable[[float], None] = time.sleep
    rng: Callable[[], float] = random.random

    def delay(self, attempt: int, retry_after_s: float | None = None) -> float:
        """Seconds to wait before retry number ``attempt`` (0-based)."""
        if retry_after_s is not None and retry_after_s >= 0:
            return min(self.cap_s, retry_after_s)
        return self.rng() * min(self.cap_s, self.base_s * (2**attempt))


class RetryableError(BackendError):
    """A :class:`BackendError` that may carry the server's ``Retry-After`` in seconds."""

    def __init__(self, code: str, message: str, *, retry_after_s: float | None = None) -> None:
        super().__init__(code, message)
        self.retry_after_s = retry_after_s


def call_with_retries(fn: Callable[[], T], policy: RetryPolicy) -> T:
    """Call ``fn`` and retry it while it raises a ``throttled``/``unavailable`` :class:`BackendError`.

    At most ``policy.max_retries`` retries; then the last error is raised unchanged (its message
    says how many attempts were made). Other errors propagate at once.
    """
    attempt = 0
    while True:
        try:
            return fn()
        except BackendError as err:
            if err.code not in RETRYABLE_CODES:
                raise
            if attempt >= policy.max_retries:
                raise BackendError(err.code, f"{err} (gave up after {attempt + 1} attempts)") from err
            policy.sleep(policy.delay(attempt, getattr(err, "retry_after_s", None)))
            attempt += 1


def larger_output_budget(current: int, ceiling: int = MAX_OUTPUT_TOKENS_CEILING) -> int | None:
    """The output cap for the one retry of a reply cut off at ``current`` tokens: twice it, at most
    ``ceiling``; None when no larger cap is allowed (then the cut-off is reported, not retried)."""
    bigger = min(ceiling, current * 2)
    return bigger if bigger > current else None


def truncated_error(limit: int, stop: str, parameter: str) -> BackendError:
    """``BackendError("truncated")`` for a reply cut off at ``limit`` output tokens.

    ``stop`` is how the endpoint said so (``finish_reason: length``, ``stopReason: max_tokens``);
    ``parameter`` the request field that set the cap (``max_completion_tokens``, ``maxTokens``).
    """
    return BackendError(
        "truncated",
        f"the model's reply was cut off at {parameter}={limit} output tokens ({stop}) before the proposal was complete; "
        "a proposal fits in far fewer, so the model is likely repeating itself: retry, or choose another model",
    )


def display_url(url: str) -> str:
    """``url`` as it may appear in a message: scheme, host, port and path only (no user name,
    password, query or fragment, which can carry credentials)."""
    parts = urlsplit(url)
    if not parts.scheme or not parts.hostname:
        return url.split("?", 1)[0].split("#", 1)[0].rsplit("@", 1)[-1]
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    try:
        port = f":{parts.port}" if parts.port is not None else ""
    except ValueError:
        port = ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def check_base_url(url: str) -> str:
    """``url`` unchanged when it is an absolute ``http``/``https`` URL with a host.

    Raises ``ValueError`` naming the problem (without the URL's credentials or query); the SDK would
    otherwise fail every attempt with a bare "Connection error." (a URL without its scheme).
    """
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValueError(
            f"{display_url(url)!r} is not an http:// or https:// URL with a host; "
            "write it in full, e.g. https://api.openai.com/v1 or http://localhost:11434/v1"
        )
    return url


def redacted_error(err: BackendError, redactor: Redactor) -> BackendError:
    """``err`` with its message passed through ``redactor`` (same code and class; ``retry_after_s``
    kept). Every :class:`BackendError` a backend raises goes through this once, at its boundary,
    so an endpoint's error text that echoes a key or token never reaches the comment, the check run
    or the job summary (SECURITY.md item 22)."""
    text, counts = redactor.redact(str(err))
    if not counts.total:
        return err
    if isinstance(err, RetryableError):
        return RetryableError(err.code, text, retry_after_s=err.retry_after_s)
    return BackendError(err.code, text)


@contextmanager
def error_boundary(redactor: Redactor, backend: str) -> Iterator[None]:
    """Re-raise every :class:`BackendError` leaving the block as :func:`redacted_error` of it,
    without its exception chain (an SDK exception's text may hold the secret).

    Any other exception (an SDK or decoding failure no mapping foresaw) becomes
    ``BackendError("internal")`` naming its type, so the analysis still falls back to the rules
    backend instead of ending in "internal error" with no comment and no check run.
    """
    try:
        yield
    except BackendError as err:
        raise redacted_error(err, redactor) from None
    except Exception as err:
        detail = _one_line(str(err), 200)
        raise redacted_error(
            BackendError(
                "internal", f"the {backend} backend failed unexpectedly ({type(err).__name__}: {detail})"
            ),
            redactor,
        ) from None


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header given in seconds (HTTP-date forms are ignored)."""
    if not value:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


def usage_count(usage: object, key: str) -> int | None:
    """The token count ``usage[key]`` of a response's usage object, ``None`` when absent or not a
    non-negative integer (``usage.prompt_tokens`` of Chat Completions, ``usage.inputTokens`` of
    Bedrock Converse)."""
    value = usage.get(key) if isinstance(usage, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


__all__ = [
    "DEFAULT_MAX_PROMPT_TOKENS",
    "MAX_OUTPUT_TOKENS",
    "MAX_OUTPUT_TOKENS_CEILING",
    "SCHEMA_DESCRIPTION",
    "SCHEMA_NAME",
    "Prompt",
    "RepairPrompt",
    "RetryPolicy",
    "RetryableError",
    "build_messages",
    "build_repair_messages",
    "call_with_retries",
    "check_base_url",
    "describe_validation_error",
    "display_url",
    "echo_for_repair",
    "error_boundary",
    "invalid_output",
    "json_object_in",
    "larger_output_budget",
    "new_delimiter",
    "parse_proposal",
    "parse_retry_after",
    "proposal_json_schema",
    "redacted_error",
    "render_edit_repair",
    "render_repair",
    "truncated_error",
    "untrusted_strings",
    "usage_count",
]
