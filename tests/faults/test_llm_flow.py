"""LLM failures seen from the whole Action: the analyze flow against the fake GitHub API with a real
OpenAI backend on ``tests/llm_server.py``.

A backend failure — an endpoint that answers 401 echoing the key, a proxy's HTML login page with
HTTP 200 — must end in the documented fallback: exit 0, one check run and one comment whose root
cause comes from the offline rules, with a line saying the LLM backend failed and why; and no
secret in the comment, the check run, the job summary, the step outputs or the log (SECURITY.md
item 22). Exception text that reaches the last-resort handler is redacted the same way.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from ci_healer.backends import make_backend
from tests import llm_server
from tests.fakegithub import BOT_LOGIN, payloads
from tests.fakegithub.fixtures import fake_github, require_spec, standard_fake  # noqa: F401
from tests.faults.matrix import record
from tests.integration.conftest import LLM_KEY, TOKEN, Harness, Outcome


@pytest.fixture
def harness(standard_fake, tmp_path: Path) -> Harness:  # noqa: F811
    fake, world = standard_fake
    return Harness(fake, world, tmp_path)


@pytest.fixture(scope="module")
def llm_url():
    with llm_server.serve() as url:
        yield url


def leaked_forms(secret: str) -> list[str]:
    return [
        secret,
        secret.replace("_", "\\_"),
        base64.b64encode(secret.encode()).decode().rstrip("="),
        secret.encode().hex(),
    ]


def everything_posted(h: Harness, out: Outcome) -> str:
    """Every text ci-healer wrote: comments, check runs (summary, text, annotations), job summary,
    outputs, and the log without the ``::add-mask::`` lines (which must carry the secret)."""
    state = h.world.state
    parts = [c.body for c in state.comments.values() if c.user == BOT_LOGIN]
    for check in state.check_runs.values():
        parts += [json.dumps(check.output), json.dumps(check.annotations)]
    parts += [out.summary, json.dumps(out.outputs)]
    parts += [line for line in out.stdout.splitlines() if not line.startswith("::add-mask::")]
    return "\n".join(parts)


def run_with_llm(h: Harness, base_url: str, scenario: str) -> Outcome:
    h.inputs.update({"backend": "openai", "openai-base-url": base_url, "model": scenario})
    settings = h.settings("workflow_run", h.tmp / "unused.json")

    def factory(repo):
        return make_backend(settings.backend, repo=repo)

    w = h.world
    return h.run(
        "workflow_run",
        payloads.workflow_run_completed(w.state, w.run_id, api=h.fake.url),
        backend_factory=factory,
    )


def the_comment(h: Harness) -> str:
    bodies = [
        c.body
        for c in h.world.state.comments.values()
        if c.user == BOT_LOGIN and c.issue_number == h.world.pr
    ]
    assert len(bodies) == 1, bodies
    return bodies[0]


def test_endpoint_401_echoing_the_key_falls_back_to_rules_and_posts_no_secret(
    harness: Harness, llm_url: str
) -> None:
    out = run_with_llm(harness, llm_url, "echo-key-401")

    assert out.code == 0, out.stdout + out.summary
    body = the_comment(harness)
    assert "openai backend failed (auth)" in body and "offline rules" in body
    assert "HTTP 401" in body and "REDACTED" in body
    posted = everything_posted(harness, out)
    for form in leaked_forms(LLM_KEY) + leaked_forms(TOKEN):
        assert form not in posted, form
    assert len(harness.world.state.check_runs) == 1
    record(
        "llm",
        "analyze flow: openai 401 echoing the key",
        "exit 0; rules fallback named in the comment; no secret posted or printed",
    )


def test_proxy_login_page_with_http_200_falls_back_to_rules_with_the_cause(
    harness: Harness, llm_url: str
) -> None:
    out = run_with_llm(harness, llm_url, "html-200")

    assert out.code == 0, out.stdout + out.summary
    assert "internal error" not in out.summary + out.stdout
    body = the_comment(harness)
    assert (
        "openai backend failed (config)" in body
        and "text/html, not JSON" in body
        and "openai-base-url" in body
    )
    assert "offline rules" in body
    assert len(harness.world.state.check_runs) == 1
    assert llm_server.call_count("html-200") == 1  # a login page is not retried
    record(
        "llm",
        "analyze flow: openai HTTP 200 login page",
        "exit 0; rules fallback with the cause (text/html, openai-base-url); 1 request",
    )


def test_exception_text_with_the_token_is_redacted_in_summary_and_error_line(harness: Harness) -> None:
    def broken_factory(repo):
        raise RuntimeError(f"unexpected: token {TOKEN} and key {LLM_KEY} in the way")

    w = harness.world
    out = harness.run(
        "workflow_run",
        payloads.workflow_run_completed(w.state, w.run_id, api=harness.fake.url),
        backend_factory=broken_factory,
    )

    assert out.code == 1
    assert "internal error (RuntimeError)" in out.summary
    assert "[REDACTED:literal_secret]" in out.summary
    posted = everything_posted(harness, out)
    for form in leaked_forms(LLM_KEY) + leaked_forms(TOKEN):
        assert form not in posted, form
    assert any(line.startswith("::error::ci-healer: internal error") for line in out.stdout.splitlines())
