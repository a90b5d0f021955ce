"""Build response bodies from the description's schemas, completed with realistic values.

The fake supplies the values that matter (ids, shas, logins, URLs, states) as a partial object;
:func:`complete` walks the documented response schema and fills every *required* property that is
still missing with a plausible value derived from its name, type and format (``*_url`` from the
enclosing object's ``url``, ``date-time`` as a fixed timestamp, enums with their first value, nullable
as ``null``). The spec's own examples are not used: some of them do not match its schema.
"""

from __future__ import annotations

from typing import Any

from .spec import Spec

FILLER_TIME = "2025-01-01T10:00:00Z"


def _merge_all_of(spec: Spec, schema: dict[str, Any]) -> dict[str, Any]:
    merged: dict[str, Any] = {"type": "object", "properties": {}, "required": []}
    for part in schema.get("allOf", []):
        part = spec.resolve(part)
        if "allOf" in part:
            part = _merge_all_of(spec, part)
        merged["properties"].update(part.get("properties", {}))
        merged["required"] += part.get("required", [])
        if "type" in part:
            merged["type"] = part["type"]
    merged["properties"].update(schema.get("properties", {}))
    merged["required"] += schema.get("required", [])
    return merged


def _pick_branch(spec: Spec, branches: list[Any], value: Any) -> dict[str, Any]:
    resolved = [spec.resolve(b) for b in branches]
    if value is None:
        for b in resolved:
            if b.get("nullable") or b.get("type") == "null":
                return b
    wanted = {
        dict: "object",
        list: "array",
        str: "string",
        bool: "boolean",
        int: "integer",
        float: "number",
    }.get(type(value))
    if isinstance(value, dict):
        # the object branch sharing most keys with the given value
        objects = [
            b
            for b in resolved
            if (b.get("type", "object") == "object" and not b.get("nullable")) or b.get("properties")
        ]
        if objects:
            return max(
                objects,
                key=lambda b: len(
                    set(_merge_all_of(spec, b)["properties"] if "allOf" in b else b.get("properties", {}))
                    & set(value)
                ),
            )
    for b in resolved:
        if wanted and b.get("type") == wanted:
            return b
    return resolved[0] if resolved else {}


def _filler(spec: Spec, name: str, schema: dict[str, Any], parent_url: str | None) -> Any:
    schema = spec.resolve(schema)
    if "allOf" in schema:
        return complete(spec, _merge_all_of(spec, schema), {}, parent_url=parent_url)
    for key in ("oneOf", "anyOf"):
        if key in schema:
            return _filler(spec, name, _pick_branch(spec, schema[key], {}), parent_url)
    if schema.get("nullable") and schema.get("type") != "array":
        return None
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type", "object" if "properties" in schema else "string")
    if kind == "object":
        return complete(spec, schema, {}, parent_url=parent_url)
    if kind == "array":
        return []
    if kind == "boolean":
        return False
    if kind in ("integer", "number"):
        return schema.get("minimum", 0)
    fmt = schema.get("format")
    if fmt == "date-time":
        return FILLER_TIME
    if fmt == "date":
        return FILLER_TIME[:10]
    if fmt == "email":
        return "octocat@users.noreply.github.com"
    if fmt == "uri" or name.endswith("url") or name == "href":
        base = (parent_url or "http://127.0.0.1").rstrip("/")
        stem = name.removesuffix("_url").replace("_", "-")
        return f"{base}/{stem}" if stem not in ("url", "html", "href") else base
    if name == "node_id":
        return "MDQ6VXNlcjE="
    if name.endswith("sha"):
        return "0" * 40
    return ""


def complete(spec: Spec, schema: Any, value: Any, *, parent_url: str | None = None) -> Any:
    """``value`` completed to satisfy ``schema`` (a schema dict or ``{"$ref": ...}``).

    Given keys are kept (and completed recursively); required keys that are missing are filled.
    Lists are completed item by item. Primitives are returned unchanged: a wrong given value is
    left for the validator to report, never silently repaired.
    """
    schema = spec.resolve(schema)
    if "allOf" in schema:
        schema = _merge_all_of(spec, schema)
    for key in ("oneOf", "anyOf"):
        if key in schema and value is not None:
            schema = spec.resolve(_pick_branch(spec, schema[key], value))
            if "allOf" in schema:
                schema = _merge_all_of(spec, schema)
    if isinstance(value, list):
        items = schema.get("items", {})
        return [complete(spec, items, item, parent_url=parent_url) for item in value]
    if not isinstance(value, dict):
        return value
    properties = schema.get("properties", {})
    here_url = value.get("url") if isinstance(value.get("url"), str) else parent_url
    out: dict[str, Any] = {}
    for key, given in value.items():
        out[key] = complete(spec, properties[key], given, parent_url=here_url) if key in properties else given
    for key in schema.get("required", []):
        if key not in out and key in properties:
            out[key] = _filler(spec, key, properties[key], here_url)
    return out
