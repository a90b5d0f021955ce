"""Secret redaction applied to every text before it reaches a model, a comment or a check run.

The runner masks registered secrets in the log it stores, but only those it knows about and only
in the log; the repository files we read, a token printed by a tool in another encoding, or a key
echoed by a test are not masked. :class:`Redactor` replaces two things with
``[REDACTED:<kind>]`` and counts them per kind:

* literal values handed to it (the LLM API key, the GitHub token), plus their JSON-escaped,
  URL-encoded, hex and base64 forms, the latter also inside a longer base64 string such as a
  Basic credential (kind ``literal_secret``, see :func:`_literal_forms`);
* well-known token shapes (kinds below).

Token shapes and their sources:

``github_token``
    ``ghp_``/``gho_``/``ghu_``/``ghs_``/``ghr_`` followed by 36+ base62 characters, and
    fine-grained ``github_pat_`` tokens ("About authentication to GitHub", GitHub Docs, section
    "GitHub's token formats"; GitHub engineering blog "Behind GitHub's new authentication token
    formats", 2021).
``openai_key``
    ``sk-`` keys, including ``sk-proj-``/``sk-svcacct-``/``sk-admin-``; the body must be 20+
    characters and contain a digit, so words like ``sk-learn-compatible`` are left alone.
``anthropic_key``
    ``sk-ant-`` keys (same rule as above, checked first).
``aws_access_key_id``
    ``AKIA``/``ASIA`` (plus the other documented unique-id prefixes ``ABIA``, ``ACCA``) and 16
    upper-case base32 characters (AWS IAM User Guide, "Unique identifiers").
``aws_secret_access_key``
    40 base64 characters, only when labelled (``aws_secret_access_key = ...``,
    ``AWS_SECRET_ACCESS_KEY: ...``); an unlabelled 40-character string cannot be told from a
    SHA-1 digest.
``jwt``
    three dot-separated base64url segments whose first two start with ``eyJ`` (``{"``), RFC 7519.
``private_key``
    a PEM block from ``-----BEGIN ... PRIVATE KEY-----`` to the matching ``-----END ...-----``
    line (RFC 7468); a truncated block is redacted through its last base64 line.
``authorization_header``
    the credential of an ``Authorization:`` header with a ``Bearer``/``token``/``Basic``/
    ``Digest``/``Bot`` scheme (RFC 9110 section 11.6.2); the header name and scheme stay.
``bearer_token``
    ``Bearer <credential>`` outside a header, when the credential is 20+ characters with a digit.
``slack_token``
    ``xoxb-``/``xoxa-``/``xoxp-``/``xoxr-``/``xoxs-`` tokens; ``slack_webhook`` for
    ``hooks.slack.com/services/...`` URLs.
``google_api_key``
    ``AIza`` and 35 characters.
``npm_token``
    ``npm_`` and 36 base62 characters.
``url_credentials``
    the password part of ``scheme://user:password@host``.

Every pattern is a plain alternation of character classes with no nested quantifiers, and the
PEM scan uses ``str.find`` with a bounded window, so redaction is linear in the input size.
"""

from __future__ import annotations

import base64
import bisect
import functools
import json
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import quote, quote_plus

from ci_healer.models import Block, Redactions

MIN_SECRET_LENGTH = 6
"""Literal secrets shorter than this are ignored: redacting ``"abc"`` would shred ordinary text."""

LITERAL_KIND = "literal_secret"
PRIVATE_KEY_KIND = "private_key"

_PEM_WINDOW = 64 * 1024
"""Longest PEM block searched for an END line (an RSA-16384 key is about 13 KB)."""


def marker(kind: str) -> str:
    """The replacement text for one redacted secret of ``kind``: ``[REDACTED:<kind>]``."""
    return f"[REDACTED:{kind}]"


def _has_digit(value: str) -> bool:
    return any(ch.isdigit() for ch in value)


@dataclass(frozen=True)
class _Rule:
    kind: str
    pattern: str
    # Name of the inner group holding the secret; None redacts the whole match.
    value_group: str | None = None
    # Extra check on the secret; a failed check leaves the match untouched.
    accept: Callable[[str], bool] | None = None
    # Substrings (lower case) of which one must occur in the lower-cased text for the rule to run.
    anchors: tuple[str, ...] = ()


# Left boundary for token-like values: not preceded by a character that could be part of the token.
_B = r"(?<![A-Za-z0-9_-])"
# Right boundary.
_E = r"(?![A-Za-z0-9_-])"

_RULES: tuple[_Rule, ...] = (
    _Rule("github_token", _B + r"github_pat_[A-Za-z0-9_]{20,255}" + _E, anchors=("github_pat_",)),
    _Rule(
        "github_token",
        _B + r"gh[pousr]_[A-Za-z0-9]{36,251}" + _E,
        anchors=("ghp_", "gho_", "ghu_", "ghs_", "ghr_"),
    ),
    _Rule(
        "anthropic_key", _B + r"sk-ant-[A-Za-z0-9_-]{20,300}" + _E, accept=_has_digit, anchors=("sk-ant-",)
    ),
    _Rule("openai_key", _B + r"sk-[A-Za-z0-9_-]{20,300}" + _E, accept=_has_digit, anchors=("sk-",)),
    _Rule(
        "aws_access_key_id",
        r"(?<![A-Z0-9])(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}(?![A-Z0-9])",
        anchors=("akia", "asia", "abia", "acca"),
    ),
    _Rule(
        "aws_secret_access_key",
        r"(?i:aws_?secret_?access_?key|aws_?secret_?key|secretaccesskey)[\"']?\s{0,10}[:=]\s{0,10}[\"']?"
        r"(?P<v_aws_secret>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+])",
        value_group="v_aws_secret",
        anchors=("secret",),
    ),
    _Rule(
        "jwt", _B + r"eyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{10,}" + _E, anchors=("eyj",)
    ),
    _Rule(
        "authorization_header",
        r"(?i:\b(?:proxy-)?authorization)[\"']?\s{0,10}[:=]\s{0,10}[\"']?"
        r"(?i:bearer|token|basic|digest|bot)\s{1,10}(?P<v_auth>[A-Za-z0-9._~+/=-]{8,4096})",
        value_group="v_auth",
        anchors=("authorization",),
    ),
    _Rule(
        "bearer_token",
        r"(?i:\bbearer)\s{1,10}(?P<v_bearer>[A-Za-z0-9._~+/-]{20,4096}=*)",
        value_group="v_bearer",
        accept=_has_digit,
        anchors=("bearer",),
    ),
    _Rule("slack_token", _B + r"xox[abposr]-[A-Za-z0-9-]{10,250}", anchors=("xox",)),
    _Rule(
        "slack_webhook",
        r"https://hooks\.slack\.com/services/[A-Za-z0-9/_-]{20,200}",
        anchors=("hooks.slack.com",),
    ),
    _Rule("google_api_key", _B + r"AIza[A-Za-z0-9_-]{35}" + _E, anchors=("aiza",)),
    _Rule("npm_token", _B + r"npm_[A-Za-z0-9]{36}" + _E, anchors=("npm_",)),
    _Rule(
        "url_credentials",
        r"(?<=[A-Za-z0-9])://[^\s/:@'\"]{1,200}:(?P<v_url>[^\s/@'\"]{3,200})@",
        value_group="v_url",
        anchors=("://",),
    ),
)


@functools.lru_cache(maxsize=64)
def _token_re(indexes: tuple[int, ...]) -> re.Pattern[str]:
    """One alternation of the given rules; each alternative is the named group ``r<index>``."""
    return re.compile("|".join(f"(?P<r{i}>{_RULES[i].pattern})" for i in indexes))


def _rules_for(text: str) -> tuple[int, ...]:
    """Indexes of the rules whose anchor occurs in ``text`` (a cheap linear prefilter)."""
    lowered = text.lower()
    return tuple(i for i, rule in enumerate(_RULES) if any(anchor in lowered for anchor in rule.anchors))


_PEM_BEGIN_RE = re.compile(r"-----BEGIN [A-Z0-9 ]{0,40}PRIVATE KEY-----")
_PEM_END_RE = re.compile(r"-----END [A-Z0-9 ]{0,40}PRIVATE KEY-----")
_BASE64_RUN_RE = re.compile(r"[A-Za-z0-9+/=]{16,}")


_MIN_ENCODED_LENGTH = 8
"""Shortest encoded fragment matched (a shorter run of base64 or hex occurs in ordinary data)."""


def _b64_fragments(raw: bytes) -> set[str]:
    """The base64 text that encodes ``raw`` wherever it sits in a longer byte string.

    Base64 works on 3-byte groups, so the same bytes encode differently at offsets 0, 1 and 2 of a
    group (``base64("user:" + token)``, the Basic credential of RFC 7617, puts the token at offset
    2). For each offset only the characters fixed by ``raw`` alone are kept: the leading characters
    that share bits with the bytes before it and the trailing ones that share bits with the bytes
    after it are cut (RFC 4648 section 4). Both the standard and the URL-safe alphabet.
    """
    out: set[str] = set()
    for shift, start in ((0, 0), (1, 2), (2, 3)):
        total = shift + len(raw)
        keep = 4 * (total // 3) + total % 3
        encoded = base64.b64encode(b"\0" * shift + raw).decode("ascii")[start:keep]
        out |= {encoded, encoded.replace("+", "-").replace("/", "_")}
    return out


def _literal_forms(secret: str) -> set[str]:
    """The secret and the encodings in which it has been seen leaking (SECURITY.md items 3 and 22).

    Plain; JSON string escapes (``json.dumps`` with and without ``ensure_ascii``); percent-encoding
    (RFC 3986, upper- and lower-case hex, ``/`` and ``:`` kept or not, ``+`` for spaces); base64 and
    base64url, whole (padded and unpadded) and at each offset inside a longer encoded string; hex of
    the UTF-8 bytes in both cases. A backslash before any punctuation is tolerated at match time
    (see :func:`_form_pattern`), which covers Markdown escaping and JSON's ``\\/``.
    """
    forms = {secret, json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1]}
    for encoded in (quote(secret, safe=""), quote(secret, safe="/:"), quote_plus(secret, safe="")):
        forms |= {encoded, _PERCENT_RE.sub(lambda m: m.group(0).lower(), encoded)}
    raw = secret.encode("utf-8")
    encoded_forms: set[str] = set()
    for encoded in (base64.b64encode(raw).decode("ascii"), base64.urlsafe_b64encode(raw).decode("ascii")):
        encoded_forms |= {encoded, encoded.rstrip("=")}
    encoded_forms |= _b64_fragments(raw)
    encoded_forms |= {raw.hex(), raw.hex().upper()}
    forms = {form for form in forms if len(form) >= MIN_SECRET_LENGTH}
    return forms | {form for form in encoded_forms if len(form) >= _MIN_ENCODED_LENGTH}


_PERCENT_RE = re.compile(r"%[0-9A-F]{2}")


def _form_pattern(form: str) -> str:
    """Regex for ``form`` that also matches it with a backslash before any punctuation character
    (Markdown escaping of ``_``/``*``/``-``, JSON's ``\\/``)."""
    return "".join(re.escape(ch) if ch.isalnum() else r"\\?" + re.escape(ch) for ch in form)


class Redactor:
    """Replaces secrets in text with ``[REDACTED:<kind>]`` markers and counts them.

    ``secrets`` are literal values known to be secret (the LLM API key, the GitHub token). ``None``,
    empty and values shorter than :data:`MIN_SECRET_LENGTH` characters (after stripping
    whitespace) are ignored. Each literal is also matched in the encodings of :func:`_literal_forms`.

    A Redactor holds no per-call state; one instance can redact any number of texts.
    """

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        forms: set[str] = set()
        for secret in secrets:
            if not isinstance(secret, str):
                continue
            value = secret.strip()
            if len(value) < MIN_SECRET_LENGTH:
                continue
            forms |= _literal_forms(value)
        # Longest first so a value is never partly replaced by a shorter overlapping one.
        ordered = sorted(forms, key=lambda form: (-len(form), form))
        self._literal_re = re.compile("|".join(map(_form_pattern, ordered))) if ordered else None
        self._literal_count = len(ordered)

    def __repr__(self) -> str:
        return f"Redactor(<{self._literal_count} literal forms hidden>)"

    def redact(self, text: str) -> tuple[str, Redactions]:
        """Return ``(redacted_text, counts)``.

        Order: PEM private key blocks, then literal secrets, then token shapes, so a known literal
        is counted once as ``literal_secret`` even when it also has a token shape. Raises
        ``TypeError`` when ``text`` is not a ``str``. Linear in ``len(text)``.
        """
        if not isinstance(text, str):
            raise TypeError(f"Redactor.redact expects str, got {type(text).__name__}")
        counts: Counter[str] = Counter()
        if "PRIVATE KEY-----" in text:
            text = self._redact_pem(text, counts)
        if self._literal_re is not None:
            text = self._literal_re.sub(lambda _m: self._count(counts, LITERAL_KIND), text)
        indexes = _rules_for(text)
        if indexes:
            text = _token_re(indexes).sub(lambda m: self._replace_token(m, counts), text)
        return text, Redactions(counts=dict(sorted(counts.items())))

    def redact_all(self, texts: Iterable[str]) -> tuple[list[str], Redactions]:
        """Redact each text; return the texts in order and the summed counts."""
        out: list[str] = []
        total = Redactions()
        for text in texts:
            redacted, counts = self.redact(text)
            out.append(redacted)
            total = total.merge(counts)
        return out, total

    def redact_blocks(self, blocks: Iterable[Block]) -> tuple[list[Block], Redactions]:
        """Redact the ``text`` of each failure block (line spans and reasons kept)."""
        out: list[Block] = []
        total = Redactions()
        for block in blocks:
            redacted, counts = self.redact(block.text)
            out.append(block.model_copy(update={"text": redacted}) if counts.total else block)
            total = total.merge(counts)
        return out, total

    @staticmethod
    def _count(counts: Counter[str], kind: str) -> str:
        counts[kind] += 1
        return marker(kind)

    @staticmethod
    def _replace_token(match: re.Match[str], counts: Counter[str]) -> str:
        # lastgroup is the outermost alternative that matched (it closes last).
        name = match.lastgroup
        if name is None or not name.startswith("r"):  # pragma: no cover - every alternative is named rN
            return match.group(0)
        rule = _RULES[int(name[1:])]
        if rule.value_group is None:
            secret = match.group(0)
            if rule.accept is not None and not rule.accept(secret):
                return secret
            return Redactor._count(counts, rule.kind)
        secret = match.group(rule.value_group)
        if rule.accept is not None and not rule.accept(secret):
            return match.group(0)
        start, end = match.span(rule.value_group)
        whole_start = match.start()
        whole = match.group(0)
        return whole[: start - whole_start] + Redactor._count(counts, rule.kind) + whole[end - whole_start :]

    @staticmethod
    def _redact_pem(text: str, counts: Counter[str]) -> str:
        # All END offsets found in one pass; each BEGIN takes the first END after it (bisect),
        # so many BEGIN lines without an END cost O(n log n), not O(n * window).
        ends = [(m.start(), m.end()) for m in _PEM_END_RE.finditer(text)]
        end_starts = [start for start, _ in ends]
        parts: list[str] = []
        pos = 0
        for begin in _PEM_BEGIN_RE.finditer(text):
            if begin.start() < pos:
                continue  # inside a block already redacted
            i = bisect.bisect_left(end_starts, begin.end())
            if i < len(ends) and ends[i][0] - begin.end() <= _PEM_WINDOW:
                stop = ends[i][1]
            else:
                stop = _truncated_pem_end(text, begin.end())
            parts.append(text[pos : begin.start()])
            parts.append(Redactor._count(counts, PRIVATE_KEY_KIND))
            pos = stop
        parts.append(text[pos:])
        return "".join(parts)


_PEM_LINE_MAX = 200
"""Longest line accepted as part of a PEM body (base64 lines are 64 characters, RFC 7468)."""


def _truncated_pem_end(text: str, start: int) -> int:
    """End offset of a PEM body with no END line: through the last consecutive base64 line.

    Only lines of at most :data:`_PEM_LINE_MAX` characters are examined, so the cost is bounded by
    the length of the body consumed.
    """
    stop = start
    line_start = start
    limit = min(len(text), start + _PEM_WINDOW)
    while line_start < limit:
        newline = text.find("\n", line_start, min(limit, line_start + _PEM_LINE_MAX + 1))
        if newline == -1:
            line_end = min(limit, line_start + _PEM_LINE_MAX)
            if line_end < len(text):
                break  # an over-long line is not part of a PEM body
        else:
            line_end = newline
        line = text[line_start:line_end]
        if line.strip():
            if not _BASE64_RUN_RE.search(line) and ":" not in line:
                break
            stop = line_end
        if newline == -1:
            break
        line_start = newline + 1
    return stop


def redact_text(text: str, secrets: Iterable[str | None] = ()) -> tuple[str, Redactions]:
    """One-shot convenience: ``Redactor(secrets).redact(text)``."""
    return Redactor(secrets).redact(text)
