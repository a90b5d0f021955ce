"""GitHub's official REST description (npm ``@octokit/openapi``) as a request/response checker.

The description is OpenAPI 3.0.3; schemas are validated with ``openapi-schema-validator``
(``OAS30WriteValidator`` for request bodies, ``OAS30ReadValidator`` for response bodies) because plain
JSON Schema does not understand ``nullable``. ``$ref`` pointers (``#/components/...``) are resolved
through a ``referencing`` registry that holds the whole document, so the un-dereferenced file
(``generated/api.github.com.json``, 13 MB) is enough.

The tests use a vendored slice of both npm packages (``tests/fakegithub/vendor/``, MIT, with their
licence and versions; ``vendor/regenerate.py`` rebuilds it), so they run from a clean checkout with
pip alone. ``CI_HEALER_GITHUB_SPEC=npm`` validates against the whole npm description instead,
found in ``$CI_HEALER_OCTOKIT_DIR`` (the folder holding ``node_modules``) or ``<repo root>/.e2e/octokit``
(installed by ``tests/setup-octokit.sh``).
"""

from __future__ import annotations

import json
import os
import pickle
import re
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from openapi_schema_validator import (
    OAS30ReadValidator,
    OAS30WriteValidator,
    oas30_format_checker,
)
from referencing import Registry, Resource

REPO_ROOT = Path(__file__).resolve().parents[2]
SPEC_URI = "urn:github-rest-api"
_HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
# Path parameters whose values contain slashes on GitHub (file paths and full ref names).
_MULTI_SEGMENT_PARAMS = {"path", "ref"}


_NORMALISE_VERSION = 1
# distinct (method, path) pairs whose match is kept (a test session sees a few thousand)
_MATCH_CACHE_SIZE = 20_000


def _normalise(node: Any) -> Any:
    """Make ``nullable: true`` plus ``enum`` accept ``null``, in place; returns ``node``.

    GitHub's description marks fields such as a check run's ``conclusion`` or an issue's
    ``state_reason`` as ``nullable`` with an ``enum`` that omits ``null``, and GitHub does send
    ``null`` for them. Under OpenAPI 3.0.3's clarified rules the enum wins, which would flag GitHub's
    real answers, so the description's evident intent (null allowed) is applied.
    """
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if (
                item.get("nullable") is True
                and isinstance(item.get("enum"), list)
                and None not in item["enum"]
            ):
                item["enum"] = [*item["enum"], None]
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return node


class SpecMissing(RuntimeError):
    """The npm packages with GitHub's descriptions are not installed (run ``tests/setup-octokit.sh``)."""


VENDOR_DIR = Path(__file__).resolve().parent / "vendor"
#: The slice of ``@octokit/openapi``'s description the fake uses (``vendor/regenerate.py``).
OPENAPI_SLICE = VENDOR_DIR / "api.github.com.slice.json"
#: The slice of ``@octokit/webhooks-examples`` the payload builders use.
WEBHOOKS_SLICE = VENDOR_DIR / "webhooks-examples.slice.json"


def octokit_dir() -> Path:
    """Folder holding ``node_modules/@octokit/...``: ``$CI_HEALER_OCTOKIT_DIR`` or ``<repo>/.e2e/octokit``."""
    return Path(os.environ.get("CI_HEALER_OCTOKIT_DIR") or REPO_ROOT / ".e2e" / "octokit")


def _use_npm() -> bool:
    """``CI_HEALER_GITHUB_SPEC=npm`` validates against the whole npm description instead of the slice."""
    return os.environ.get("CI_HEALER_GITHUB_SPEC", "").lower() == "npm"


def npm_openapi_path() -> Path:
    """Path of the npm ``@octokit/openapi/generated/api.github.com.json``; raises :class:`SpecMissing`."""
    path = octokit_dir() / "node_modules" / "@octokit" / "openapi" / "generated" / "api.github.com.json"
    if not path.is_file():
        raise SpecMissing(f"GitHub OpenAPI description not found at {path}; run tests/setup-octokit.sh")
    return path


def npm_webhook_examples_path() -> Path:
    """Path of the npm ``@octokit/webhooks-examples/api.github.com/index.json``; raises :class:`SpecMissing`."""
    path = octokit_dir() / "node_modules" / "@octokit" / "webhooks-examples" / "api.github.com" / "index.json"
    if not path.is_file():
        raise SpecMissing(f"GitHub webhook examples not found at {path}; run tests/setup-octokit.sh")
    return path


def openapi_path() -> Path:
    """The description the fake validates against: the vendored slice (the default), or the npm
    package's whole file when ``CI_HEALER_GITHUB_SPEC=npm``. Raises :class:`SpecMissing` if absent."""
    if not _use_npm():
        if not OPENAPI_SLICE.is_file():
            raise SpecMissing(
                f"the vendored description {OPENAPI_SLICE.name} is missing; run tests/fakegithub/vendor/regenerate.py"
            )
        return OPENAPI_SLICE
    return npm_openapi_path()


def webhook_examples_path() -> Path:
    """GitHub's webhook examples: the vendored slice, or the npm package's file with
    ``CI_HEALER_GITHUB_SPEC=npm``. Raises :class:`SpecMissing` if absent."""
    if not _use_npm():
        if not WEBHOOKS_SLICE.is_file():
            raise SpecMissing(
                f"the vendored webhook examples {WEBHOOKS_SLICE.name} are missing; run tests/fakegithub/vendor/regenerate.py"
            )
        return WEBHOOKS_SLICE
    return npm_webhook_examples_path()


@dataclass(frozen=True)
class Violation:
    """One disagreement between traffic and the description.

    ``kind`` is ``unknown-endpoint``, ``request-body``, ``request-query``, ``response-status`` or
    ``response-body``; ``where`` is ``"METHOD /path"``; ``detail`` the validator's message with the
    JSON path of the offending value.
    """

    kind: str
    where: str
    detail: str

    def __str__(self) -> str:
        return f"[{self.kind}] {self.where}: {self.detail}"


@dataclass
class Operation:
    """One operation of the description: ``method`` (lower case), path ``template``, ``operation_id``,
    the raw operation object ``op`` and the JSON pointer ``pointer`` to it inside the document."""

    method: str
    template: str
    operation_id: str
    op: dict[str, Any]
    pointer: str
    params: dict[str, str] = field(default_factory=dict)


@dataclass
class _Template:
    template: str
    regex: re.Pattern[str]
    literal_len: int
    names: list[str]


def _escape_pointer(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


class Spec:
    """GitHub's REST description with operation lookup and schema validation.

    Build with :meth:`load` (cached once per process). All ``validate_*`` methods return a list of
    :class:`Violation` (empty when the traffic conforms); they never raise on bad traffic.
    """

    _cached: Spec | None = None
    _lock = threading.Lock()
    load_seconds: float = 0.0

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        resource = Resource.opaque(document)
        self.registry: Registry = Registry().with_resource(SPEC_URI, resource)
        self._templates: list[_Template] = []
        self._matched: dict[tuple[str, str], Operation | None] = {}
        for template in document["paths"]:
            names: list[str] = []
            pattern = ""
            literal = 0
            for piece in re.split(r"(\{[^}]+\})", template):
                if piece.startswith("{") and piece.endswith("}"):
                    name = piece[1:-1]
                    names.append(name)
                    pattern += (
                        f"(?P<{name.replace('-', '_')}>{'.+' if name in _MULTI_SEGMENT_PARAMS else '[^/]+'})"
                    )
                else:
                    literal += len(piece)
                    pattern += re.escape(piece)
            self._templates.append(_Template(template, re.compile(f"^{pattern}$"), literal, names))
        # Most specific template first: more literal characters wins (``commits/{ref}/check-runs``
        # before ``commits/{ref}``).
        self._templates.sort(key=lambda t: -t.literal_len)

    @classmethod
    def load(cls) -> Spec:
        """The process-wide :class:`Spec`; parses the JSON once (pickled under ``.e2e`` for reuse).

        Raises :class:`SpecMissing` when the npm package is not installed.
        """
        import time

        with cls._lock:
            if cls._cached is None:
                started = time.perf_counter()
                source = openapi_path()
                cache = (
                    octokit_dir() / f".{source.name}.{source.stat().st_mtime_ns}.v{_NORMALISE_VERSION}.pickle"
                )
                document = None
                if cache.is_file():
                    try:
                        document = pickle.loads(cache.read_bytes())
                    except (
                        pickle.UnpicklingError,
                        EOFError,
                        AttributeError,
                        ValueError,
                    ):  # a corrupt cache is rebuilt
                        document = None
                if document is None:
                    document = _normalise(json.loads(source.read_text(encoding="utf-8")))
                    try:
                        tmp = cache.with_suffix(".tmp")
                        tmp.write_bytes(pickle.dumps(document, protocol=pickle.HIGHEST_PROTOCOL))
                        tmp.replace(cache)
                    except OSError:
                        pass
                cls._cached = cls(document)
                cls._cached.load_seconds = time.perf_counter() - started
            return cls._cached

    @property
    def version(self) -> str:
        """The description's ``info.version`` (the npm package version)."""
        return str(self.document.get("info", {}).get("version", "?"))

    # ---- lookup -------------------------------------------------------------------------------

    def match(self, method: str, path: str) -> Operation | None:
        """The operation for ``method`` and a raw (percent-encoded) URL ``path`` without query.

        Path parameters come back percent-decoded in :attr:`Operation.params`. ``None`` when no path
        template matches or the most specific matching template has no such method (a path such as
        ``commits/{sha}/statuses`` is never taken for ``commits/{ref}`` with a ref holding a slash).
        """
        method = method.lower()
        # the answer depends only on (method, path) and the document, which never changes: the same
        # URLs come back in every test of a scenario, so the regex scan over ~800 templates is cached
        key = (method, path)
        if key in self._matched:
            found = self._matched[key]
            return None if found is None else replace(found, params=dict(found.params))
        found = self._match(method, path)
        if len(self._matched) < _MATCH_CACHE_SIZE:
            self._matched[key] = found
        return None if found is None else replace(found, params=dict(found.params))

    def _match(self, method: str, path: str) -> Operation | None:
        for tpl in self._templates:
            m = tpl.regex.match(path)
            if not m:
                continue
            item = self.document["paths"][tpl.template]
            op = item.get(method)
            if op is None:  # the most specific template decides the endpoint, as GitHub routes
                return None
            params = {name: unquote(m.group(name.replace("-", "_"))) for name in tpl.names}
            pointer = f"#/paths/{_escape_pointer(tpl.template)}/{method}"
            return Operation(method, tpl.template, op.get("operationId", ""), op, pointer, params)
        return None

    def operation(self, method: str, template: str) -> Operation:
        """The operation for an exact path ``template``; raises ``KeyError`` when undocumented."""
        op = self.document["paths"][template][method.lower()]
        pointer = f"#/paths/{_escape_pointer(template)}/{method.lower()}"
        return Operation(method.lower(), template, op.get("operationId", ""), op, pointer)

    def resolve(self, node: Any) -> Any:
        """Follow local ``$ref`` pointers until a non-reference object is reached."""
        seen = 0
        while isinstance(node, dict) and "$ref" in node and seen < 20:
            ref = node["$ref"]
            if not ref.startswith("#/"):
                raise ValueError(f"unsupported $ref {ref}")
            node = self.document
            for token in ref[2:].split("/"):
                node = node[token.replace("~1", "/").replace("~0", "~")]
            seen += 1
        return node

    # ---- validation ---------------------------------------------------------------------------

    def _errors(self, schema_pointer: str, instance: Any, *, write: bool) -> list[str]:
        cls = OAS30WriteValidator if write else OAS30ReadValidator
        validator = cls(
            {"$ref": f"{SPEC_URI}{schema_pointer}"},
            registry=self.registry,
            format_checker=oas30_format_checker,
        )
        messages = []
        for error in sorted(self._iter_errors(validator, instance), key=lambda e: list(e.absolute_path)):
            where = "$" + "".join(f"[{p!r}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
            best = error
            if error.context:  # oneOf/anyOf: report the branch that got furthest
                best = max(error.context, key=lambda e: len(e.absolute_path))
                where = "$" + "".join(
                    f"[{p!r}]" if isinstance(p, int) else f".{p}" for p in best.absolute_path
                )
            messages.append(f"{where}: {best.message[:300]}")
        return messages

    def _iter_errors(self, validator: Any, instance: Any) -> Any:
        """The validator's errors, minus one quirk of GitHub's description: a ``discriminator`` on a
        ``oneOf`` with an array branch (directory listings of "Get repository content", mapping
        ``array``). A discriminator needs an object, so non-objects get plain ``oneOf``/``anyOf``."""
        for error in validator.iter_errors(instance):
            schema = error.schema if isinstance(error.schema, dict) else {}
            keyword = error.validator
            if (
                keyword in ("oneOf", "anyOf")
                and "discriminator" in schema
                and not isinstance(error.instance, dict)
            ):
                branches = [
                    {"$ref": SPEC_URI + b["$ref"]}
                    if isinstance(b, dict) and str(b.get("$ref", "")).startswith("#")
                    else b
                    for b in schema[keyword]
                ]
                plain = type(validator)(
                    {keyword: branches},
                    registry=self.registry,
                    format_checker=oas30_format_checker,
                )
                yield from plain.iter_errors(error.instance)
                continue
            yield error

    def validate_request(
        self,
        operation: Operation,
        query: dict[str, list[str]],
        body: bytes | None,
        content_type: str | None,
    ) -> list[Violation]:
        """Check query parameters and the JSON request body against ``operation``.

        ``query`` is ``urllib.parse.parse_qs`` output; ``body`` raw bytes (``None``/empty = no body).
        Unknown query parameters are allowed (GitHub ignores them); documented ones are type-checked
        and enums enforced; missing required ones are reported.
        """
        where = f"{operation.method.upper()} {operation.template}"
        found: list[Violation] = []
        for raw in operation.op.get("parameters", []):
            param = self.resolve(raw)
            if param.get("in") != "query":
                continue
            name = param["name"]
            if name not in query:
                if param.get("required"):
                    found.append(
                        Violation(
                            "request-query",
                            where,
                            f"missing required query parameter {name!r}",
                        )
                    )
                continue
            value: Any = query[name][-1]
            schema = self.resolve(param.get("schema", {}))
            kind = schema.get("type")
            try:
                if kind == "integer":
                    value = int(value)
                elif kind == "boolean":
                    if value not in ("true", "false"):
                        raise ValueError(value)
                    value = value == "true"
            except ValueError:
                found.append(
                    Violation(
                        "request-query",
                        where,
                        f"query {name}={query[name][-1]!r} is not a {kind}",
                    )
                )
                continue
            validator = OAS30WriteValidator(
                schema, registry=self.registry, format_checker=oas30_format_checker
            )
            for error in validator.iter_errors(value):
                found.append(Violation("request-query", where, f"query {name}: {error.message[:300]}"))
        request_body = (
            self.resolve(operation.op.get("requestBody")) if operation.op.get("requestBody") else None
        )
        if not body:
            if request_body and request_body.get("required"):
                found.append(Violation("request-body", where, "a JSON request body is required"))
            return found
        if request_body is None:
            found.append(Violation("request-body", where, "this operation takes no request body"))
            return found
        if content_type and "json" not in content_type:
            found.append(Violation("request-body", where, f"unexpected content type {content_type!r}"))
        try:
            instance = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            found.append(Violation("request-body", where, f"body is not JSON: {exc}"))
            return found
        if "application/json" not in request_body.get("content", {}):
            found.append(
                Violation(
                    "request-body",
                    where,
                    "the description has no JSON body for this operation",
                )
            )
            return found
        pointer = f"{operation.pointer}/requestBody/content/application~1json/schema"
        if "$ref" in operation.op["requestBody"]:
            pointer = operation.op["requestBody"]["$ref"][1:] + "/content/application~1json/schema"
            pointer = "#" + pointer
        found += [
            Violation("request-body", where, msg) for msg in self._errors(pointer, instance, write=True)
        ]
        return found

    def validate_response(
        self,
        operation: Operation,
        status: int,
        body: Any,
        content_type: str | None = "application/json",
    ) -> list[Violation]:
        """Check a response ``status`` and decoded JSON ``body`` (``None`` = empty) against ``operation``.

        Rules: a 2xx/3xx status must be documented for the operation. An undocumented 4xx/5xx is
        accepted when its body is GitHub's ``basic-error`` (``message``, ``documentation_url``) or, for
        422, ``validation-error``: the description lists only some error statuses per operation,
        while GitHub can answer any operation with 401/403/404/5xx.
        """
        where = f"{operation.method.upper()} {operation.template} -> {status}"
        responses = operation.op.get("responses", {})
        raw = responses.get(str(status))
        if raw is None:
            if status < 400:
                return [
                    Violation(
                        "response-status",
                        where,
                        f"status {status} is not documented (documented: {sorted(responses)})",
                    )
                ]
            schema = (
                "#/components/schemas/validation-error"
                if status == 422
                else "#/components/schemas/basic-error"
            )
            return [Violation("response-body", where, m) for m in self._errors(schema, body, write=False)]
        response = self.resolve(raw)
        content = response.get("content") or {}
        if not content:
            if body not in (None, b"", ""):
                return [
                    Violation(
                        "response-body",
                        where,
                        "the description documents no body for this status",
                    )
                ]
            return []
        media = "application/json" if "application/json" in content else next(iter(content))
        if content_type and content_type.split(";")[0].strip() in content:
            media = content_type.split(";")[0].strip()
        if "json" not in media:
            return []
        if body is None:
            return [
                Violation(
                    "response-body",
                    where,
                    "a JSON body is documented but none was sent",
                )
            ]
        if "$ref" in raw:
            pointer = raw["$ref"] + f"/content/{_escape_pointer(media)}/schema"
        else:
            pointer = f"{operation.pointer}/responses/{status}/content/{_escape_pointer(media)}/schema"
        if "schema" not in content[media]:
            return []
        return [Violation("response-body", where, m) for m in self._errors(pointer, body, write=False)]
