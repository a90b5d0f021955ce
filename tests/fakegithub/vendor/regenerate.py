"""Regenerate the vendored slices of GitHub's REST description and webhook examples.

The fake GitHub API validates all traffic against GitHub's official REST description (npm
``@octokit/openapi``, MIT) and builds event payloads from GitHub's real webhook examples (npm
``@octokit/webhooks-examples``, MIT). The whole description is 13 MB; the tests need only the
operations the fake implements, so this folder keeps a slice of each, with the packages' licence
and versions, and the tests run from a clean checkout with pip alone.

Usage (needs Node.js and npm; run after adding a handler to ``tests/fakegithub/server.py``)::

    bash tests/setup-octokit.sh          # installs the pinned packages into .e2e/octokit
    python3 tests/fakegithub/vendor/regenerate.py

What the slice keeps:

- every path template of the description, so a request is still matched to the most specific
  template and an endpoint the fake does not implement is still reported as unknown;
- for templates with an operation the fake implements (``HANDLERS`` in ``server.py``), those
  operations, verbatim;
- every ``#/components/...`` object those operations reference, transitively, verbatim;
- ``info`` and ``openapi`` of the document;
- of the webhook examples: the events the tests build payloads for, the first example of each action.

``tests/test_fakegithub.py`` checks that every implemented operation is in the slice.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
sys.path.insert(0, str(ROOT))

from tests.fakegithub.server import HANDLERS  # noqa: E402
from tests.fakegithub.spec import (  # noqa: E402
    OPENAPI_SLICE,
    WEBHOOKS_SLICE,
    npm_openapi_path,
    npm_webhook_examples_path,
    octokit_dir,
)

# Webhook events whose examples the payload builders (tests/fakegithub/payloads.py) start from.
WEBHOOK_EVENTS = ("workflow_run", "issue_comment", "pull_request", "workflow_dispatch", "check_run", "push")
_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def _refs(node: Any, out: set[str]) -> None:
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            ref = item.get("$ref")
            if isinstance(ref, str):
                out.add(ref)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _resolve(document: dict[str, Any], pointer: str) -> Any:
    node: Any = document
    for token in pointer.removeprefix("#/").split("/"):
        node = node[token.replace("~1", "/").replace("~0", "~")]
    return node


def openapi_slice(document: dict[str, Any], operation_ids: set[str]) -> dict[str, Any]:
    """The slice of ``document`` described in the module docstring; raises ``KeyError`` when an
    implemented operation id is not in the description."""
    paths: dict[str, Any] = {}
    found: set[str] = set()
    wanted_refs: set[str] = set()
    for template, item in document["paths"].items():
        kept: dict[str, Any] = {}
        for method in _METHODS:
            op = item.get(method)
            if isinstance(op, dict) and op.get("operationId") in operation_ids:
                kept[method] = op
                found.add(op["operationId"])
        if kept and "parameters" in item:
            kept["parameters"] = item["parameters"]
        _refs(kept, wanted_refs)
        paths[template] = kept
    missing = operation_ids - found
    if missing:
        raise KeyError(f"operations not in the description: {sorted(missing)}")
    components: dict[str, dict[str, Any]] = {}
    done: set[str] = set()
    todo = sorted(wanted_refs)
    while todo:
        ref = todo.pop()
        if ref in done or not ref.startswith("#/components/"):
            continue
        done.add(ref)
        _, _, section, name = ref.split("/", 3)
        target = _resolve(document, ref)
        components.setdefault(section, {})[name.replace("~1", "/").replace("~0", "~")] = target
        more: set[str] = set()
        _refs(target, more)
        todo.extend(sorted(more - done))
    return {
        "openapi": document["openapi"],
        "info": document["info"],
        "paths": paths,
        "components": {k: dict(sorted(v.items())) for k, v in sorted(components.items())},
    }


def webhooks_slice(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The events of :data:`WEBHOOK_EVENTS`, each with the first example of each action."""
    out = []
    for event in events:
        if event["name"] not in WEBHOOK_EVENTS:
            continue
        seen: set[Any] = set()
        examples = []
        for item in event["examples"]:
            if item.get("action") in seen:
                continue
            seen.add(item.get("action"))
            examples.append(item)
        out.append({**event, "examples": examples})
    return out


def main() -> int:
    """Write both slices next to this file; exit 1 when an implemented operation is unknown."""
    document = json.loads(npm_openapi_path().read_text(encoding="utf-8"))
    try:
        sliced = openapi_slice(document, set(HANDLERS))
    except KeyError as err:
        print(err, file=sys.stderr)
        return 1
    OPENAPI_SLICE.write_text(json.dumps(sliced, separators=(",", ":"), sort_keys=False) + "\n", encoding="utf-8")
    events = json.loads(npm_webhook_examples_path().read_text(encoding="utf-8"))
    WEBHOOKS_SLICE.write_text(json.dumps(webhooks_slice(events), separators=(",", ":")) + "\n", encoding="utf-8")
    versions = {
        f"@octokit/{name}": json.loads((octokit_dir() / "node_modules" / "@octokit" / name / "package.json").read_text())["version"]
        for name in ("openapi", "webhooks-examples")
    }
    (HERE / "VERSIONS.json").write_text(json.dumps(versions, indent=2) + "\n", encoding="utf-8")
    print(f"{OPENAPI_SLICE.name}: {len(sliced['paths'])} path templates, {len(HANDLERS)} operations, "
          f"{sum(len(v) for v in sliced['components'].values())} components, {OPENAPI_SLICE.stat().st_size} bytes")
    print(f"{WEBHOOKS_SLICE.name}: {WEBHOOKS_SLICE.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
