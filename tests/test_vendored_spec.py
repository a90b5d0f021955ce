"""The vendored slices of GitHub's descriptions cover everything the fake GitHub API implements."""

from __future__ import annotations

import json

from tests.fakegithub.server import HANDLERS
from tests.fakegithub.spec import OPENAPI_SLICE, WEBHOOKS_SLICE, Spec
from tests.fakegithub.vendor.regenerate import WEBHOOK_EVENTS


def test_every_implemented_operation_is_in_the_vendored_description():
    document = json.loads(OPENAPI_SLICE.read_text(encoding="utf-8"))
    ids = {
        op.get("operationId")
        for item in document["paths"].values()
        for op in item.values()
        if isinstance(op, dict)
    }
    missing = sorted(set(HANDLERS) - ids)
    assert not missing, f"regenerate tests/fakegithub/vendor (see its README): {missing}"


def test_an_unimplemented_endpoint_is_still_matched_to_its_own_template():
    spec = Spec.load()
    # Commit statuses are not implemented by the fake; since ``{ref}`` may hold slashes, the path
    # must not fall through to the implemented, less specific /repos/{owner}/{repo}/commits/{ref}.
    assert spec.match("get", "/repos/o/r/commits/abc123/statuses") is None
    assert spec.match("get", "/repos/o/r/commits/abc123").operation_id == "repos/get-commit"


def test_the_webhook_examples_hold_every_event_the_payload_builders_use():
    events = {e["name"]: e for e in json.loads(WEBHOOKS_SLICE.read_text(encoding="utf-8"))}
    assert set(WEBHOOK_EVENTS) <= set(events)
    actions = {x.get("action") for x in events["workflow_run"]["examples"]}
    assert "completed" in actions
