"""Notifications against a local HTTP server: the Block Kit and generic bodies, escaping and
redaction (SECURITY.md item 4), and webhooks that fail or hang never failing the job nor showing
their URL."""

from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ci_healer.notify import Notifier, NotifyEvent, choose_format, slack_escape
from ci_healer.settings import ActionSettings
from ci_healer.workflow_commands import Runner

SECRET_PATH = "/services/T0AAAAAAA/B0BBBBBBB/xoxbWebhookSecret0123456789"
LLM_KEY = "sk-notifytest-0123456789abcdefghij"


class Hook:
    """A webhook receiver on 127.0.0.1, port 0: records the JSON bodies; ``mode`` is ``ok``,
    ``error`` (HTTP 500) or ``hang`` (sleeps ``hang_seconds`` before answering)."""

    def __init__(self) -> None:
        self.bodies: list[dict] = []
        self.mode = "ok"
        self.hang_seconds = 2.0
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                hook.bodies.append(json.loads(self.rfile.read(length)))
                if hook.mode == "hang":
                    time.sleep(hook.hang_seconds)
                code = 500 if hook.mode == "error" else 200
                try:
                    self.send_response(code)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                except OSError:  # the client gave up (the hang case)
                    pass

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        # shutdown() waits up to poll_interval (0.5 s by default) for the serving loop to notice
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{SECRET_PATH}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook() -> Iterator[Hook]:
    h = Hook()
    yield h
    h.close()


def event(**changes) -> NotifyEvent:
    values = {
        "kind": "proposed",
        "repository": "octo/hello",
        "proposal_id": "4242-1a2b3c4d",
        "risk": "low",
        "root_cause": "round_cents truncates instead of rounding half up.\nSecond line is not shown.",
        "comment_url": "https://github.com/octo/hello/pull/7#issuecomment-11",
        "run_url": "https://github.com/octo/hello/actions/runs/4242",
        "fix_pr_url": None,
    }
    values.update(changes)
    return NotifyEvent(**values)


def notifier(url: str, stream: io.StringIO, **kw) -> Notifier:
    return Notifier(url, runner=Runner(stream=stream, environ={}), secrets=[LLM_KEY], **kw)


def test_slack_body_is_the_expected_block_kit(hook: Hook) -> None:
    out = io.StringIO()
    assert notifier(hook.url, out, fmt="slack").send(event(fix_pr_url="https://github.com/octo/hello/pull/8"))
    assert hook.bodies == [
        {
            "text": "ci-healer: Fix proposed in octo/hello (4242-1a2b3c4d)",
            "blocks": [
                {
                    "type": "section",
                    "text": {"type": "mrkdwn", "text": "*Fix proposed* in `octo/hello` · 🟢 low risk"},
                },
                {
                    "type": "section",
                    "text": {
                        "type": "mrkdwn",
                        "text": "*Root cause:* round_cents truncates instead of rounding half up.",
                    },
                },
                {
                    "type": "context",
                    "elements": [
                        {
                            "type": "mrkdwn",
                            "text": "<https://github.com/octo/hello/pull/7#issuecomment-11|comment> · "
                            "<https://github.com/octo/hello/actions/runs/4242|run> · "
                            "<https://github.com/octo/hello/pull/8|fix PR>",
                        }
                    ],
                },
            ],
        }
    ]


def test_untrusted_text_cannot_mention_link_or_leak_a_secret(hook: Hook) -> None:
    cause = f"<!channel> see <https://evil.example|here> & @here, key {LLM_KEY} and {hook.url}"
    notifier(hook.url, io.StringIO(), fmt="slack").send(event(root_cause=cause, message="<@U012AB3CD> ping"))
    text = json.dumps(hook.bodies[0], ensure_ascii=False)
    assert "<!channel>" not in text and "<https://evil" not in text and "<@U012AB3CD>" not in text
    assert "&lt;!channel&gt;" in text and "&amp;" in text and "@\u2060here" in text
    assert LLM_KEY not in text and SECRET_PATH not in text


def test_generic_body_for_other_hosts_is_redacted_plain_json(hook: Hook) -> None:
    n = notifier(hook.url, io.StringIO())
    assert n.format == "generic"
    n.send(
        event(
            kind="verified",
            risk="medium",
            root_cause=f"token {LLM_KEY} leaked",
            comment_url="javascript:alert(1)",
        )
    )
    [body] = hook.bodies
    assert body["event"] == "verified" and body["title"] == "Fix verified: CI passed"
    assert body["risk"] == "medium" and body["proposal_id"] == "4242-1a2b3c4d"
    assert LLM_KEY not in body["root_cause"] and body["root_cause"].startswith("token ")
    assert body["links"] == {
        "comment": None,
        "run": "https://github.com/octo/hello/actions/runs/4242",
        "fix_pr": None,
    }


def test_format_is_chosen_by_host_unless_named() -> None:
    assert choose_format("https://hooks.slack.com/services/T/B/X") == "slack"
    assert choose_format("https://hooks.slack.com.evil.example/services/T/B/X") == "generic"
    assert choose_format("https://example.com/hook", "slack") == "slack"
    assert choose_format("https://hooks.slack.com/services/T/B/X", "generic") == "generic"


def test_slack_escape_neutralises_control_sequences() -> None:
    assert slack_escape("a & <b> @channel @Everyone") == "a &amp; &lt;b&gt; @\u2060channel @\u2060Everyone"


@pytest.mark.parametrize("mode", ["error", "hang"])
def test_failing_or_hanging_webhook_is_one_warning_and_never_shows_its_url(hook: Hook, mode: str) -> None:
    hook.mode = mode
    out = io.StringIO()
    n = notifier(hook.url, out, timeout=0.3)
    assert n.send(event(kind="failed")) is False
    lines = out.getvalue().splitlines()
    masks = [ln for ln in lines if ln.startswith("::add-mask::")]
    assert masks == [f"::add-mask::{hook.url}"]  # consumed by the runner, never shown
    others = [ln for ln in lines if not ln.startswith("::add-mask::")]
    warnings = [ln for ln in others if ln.startswith("::warning")]
    assert len(warnings) == 1 and "failed notification was not delivered" in warnings[0]
    assert ("HTTP 500" if mode == "error" else "no answer within 0.3 s") in warnings[0]
    assert not any(SECRET_PATH in ln or "127.0.0.1" in ln for ln in others)
    assert hook.url not in repr(n)


def test_unreachable_webhook_is_a_warning() -> None:
    out = io.StringIO()
    # port 9 (discard) on localhost: nothing listens there in a test environment
    assert notifier("http://127.0.0.1:9" + SECRET_PATH, out, timeout=0.3).send(event()) is False
    assert "request failed" in out.getvalue() or "no answer" in out.getvalue()
    assert SECRET_PATH not in out.getvalue().split("\n", 1)[1]


def test_settings_read_the_webhook_as_a_secret(tmp_path) -> None:
    env = {
        "INPUT_GITHUB-TOKEN": "ghs_notifyTestToken0123456789abcdef",
        "INPUT_NOTIFY-WEBHOOK": "https://hooks.slack.com" + SECRET_PATH,
        "GITHUB_REPOSITORY": "octo/hello",
        "GITHUB_EVENT_NAME": "workflow_run",
        "GITHUB_EVENT_PATH": str(tmp_path / "event.json"),
    }
    s = ActionSettings.from_environ(env)
    assert s.notify_format == "auto" and "https://hooks.slack.com" + SECRET_PATH in s.secret_values()
    assert SECRET_PATH not in repr(s)


# ---------------------------------------------------------------------------- through the flows

from tests.fakegithub.fixtures import standard_fake  # noqa: E402,F401
from tests.integration.conftest import Harness, analyze, approve  # noqa: E402
from tests.test_ledger import fix_pr_of, verify  # noqa: E402


@pytest.fixture
def flows(standard_fake, tmp_path, hook: Hook) -> Harness:  # noqa: F811
    fake, world = standard_fake
    h = Harness(fake, world, tmp_path)
    h.inputs["notify-webhook"] = hook.url
    return h


def test_flows_notify_proposed_applied_and_verified(flows: Harness, hook: Hook) -> None:
    out = analyze(flows)
    assert approve(flows).code == 0
    fix = fix_pr_of(flows, flows.world.pr)
    verify(flows, fix, "success")
    assert [b["event"] for b in hook.bodies] == ["proposed", "applied", "verified"]
    proposed, applied, verified = hook.bodies
    assert (
        proposed["proposal_id"]
        == out.outputs["proposal-id"]
        == applied["proposal_id"]
        == verified["proposal_id"]
    )
    assert proposed["risk"] == out.outputs["risk"] and proposed["root_cause"].startswith(
        "round_cents truncates"
    )
    assert proposed["links"]["comment"].startswith(
        f"https://github.com/{flows.world.repo}/pull/{flows.world.pr}#issuecomment-"
    )
    assert applied["links"]["fix_pr"] == f"https://github.com/{flows.world.repo}/pull/{fix.number}"
    assert verified["links"]["fix_pr"] == applied["links"]["fix_pr"]


def test_red_fix_notifies_failed(flows: Harness, hook: Hook) -> None:
    flows.inputs["max-attempts"] = "1"
    analyze(flows)
    approve(flows)
    verify(flows, fix_pr_of(flows, flows.world.pr), "failure")
    assert [b["event"] for b in hook.bodies] == ["proposed", "applied", "failed"]


@pytest.mark.parametrize("mode", ["error", "hang"])
def test_a_broken_webhook_leaves_the_flow_green_with_a_warning(flows: Harness, hook: Hook, mode: str) -> None:
    hook.mode, hook.hang_seconds = mode, 7.0  # the hang outlasts the 5 s timeout
    out = analyze(flows)  # asserts exit code 0
    assert "ci-healer:comment" in next(
        c.body for c in flows.world.state.comments.values() if c.issue_number == flows.world.pr
    )
    warnings = [ln for ln in out.command_lines if ln.startswith("::warning") and "notification" in ln]
    assert len(warnings) == 1
    assert ("HTTP 500" if mode == "error" else "no answer within 5 s") in warnings[0]
    shown = [ln for ln in out.stdout.splitlines() if not ln.startswith("::add-mask::")] + [out.summary]
    assert not any(SECRET_PATH in ln for ln in shown) and SECRET_PATH not in json.dumps(out.outputs)
