"""A tiny OpenAI-shaped Chat Completions server on 127.0.0.1, used to record cassettes and to test
timeouts live.

``POST /v1/chat/completions`` answers in the documented response shape (``id``, ``object``,
``created``, ``model``, ``choices[{index, message{role, content}, finish_reason}]``, ``usage``) or
in the documented error shape (``{"error": {"message", "type", "code"}}``). The request's ``model``
names a scenario, so one server plays every fake model:

``valid``            a valid proposal
``repair``           prose first; after a repair message (4 messages) a valid proposal in a json fence
``invalid-twice``    a schema-violating object every time
``throttle-once``    429 with ``Retry-After: 0`` on the first call of the scenario, then valid
``always-500``       HTTP 500 every time
``always-429``       HTTP 429 with ``Retry-After: 7`` every time
``no-json-schema``   400 when ``response_format.type`` is ``json_schema``; valid under ``json_object``
``no-json-schema-500`` as llama-cpp-python's server: HTTP 500 carrying the request-validation error
                     of ``response_format.type`` for ``json_schema``; valid under ``json_object``
``unauthorized``     HTTP 401
``slow``             sleeps ``SLOW_SECONDS`` before answering valid
``hang``             answers nothing until the server shuts down (client timeouts)
``echo-key-401``     HTTP 401 whose message echoes the bearer credential, as some proxies do
``echo-key-400``     HTTP 400 whose message echoes the request's Authorization header
``html-200``         HTTP 200 with a proxy's HTML login page
``invalid-json``     HTTP 200, ``application/json``, a body cut in the middle
``not-completion``   HTTP 200 with JSON that has no ``choices`` list
``empty-choices``    HTTP 200 with ``choices: []``
``refusal``          a ``message.refusal`` and no content
``length``           ``finish_reason: length`` and half a JSON object, every time
``length-once``      as ``length`` unless ``max_completion_tokens`` is above 4096; then valid
``prose-json``       prose before and after the valid JSON object
``misquote``         an edit of the first file window shown (three lines, the last one changed)
                     quoted with trailing spaces the file does not have, as small models quote;
                     in a patch-repair round (4 messages) the same edit quoted exactly
``no-usage``         a valid proposal in a body without ``usage`` (some OpenAI-compatible servers)
``enforce-max-length`` a 2,100-character root cause unless the schema sent caps ``root_cause``
                     with ``maxLength``; then a valid proposal (a server enforcing the schema)

Every request must carry ``response_format``; otherwise the answer is a 400.

``POST /model/<modelId>/converse`` plays Amazon Bedrock's Converse API (restJson: errors carry
``x-amzn-ErrorType``; a reply is ``output.message.content`` plus ``stopReason``) with the model id
naming a scenario: ``valid``, ``throttle-once``, ``always-throttle``, ``always-500``, ``hang``,
``html-200``, ``invalid-json``, ``invalid-twice``, ``empty``, ``refusal`` (``stopReason:
content_filtered``), ``length`` / ``length-once`` (``stopReason: max_tokens``; the latter valid when
``inferenceConfig.maxTokens`` is above 4096), ``echo-token-403`` (AccessDeniedException echoing the
``X-Amz-Security-Token`` header).

Run standalone with ``python tests/llm_server.py [port]``.
"""

from __future__ import annotations

import contextlib
import json
import re
import sys
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SLOW_SECONDS = 2.0

VALID_PROPOSAL = {
    "root_cause": "tests/test_report.py imports pandas, which is not listed in requirements.txt, so collection fails with ModuleNotFoundError.",
    "category": "dependency",
    "files_to_modify": [{"file_path": "requirements.txt", "original": "", "replacement": "pandas==2.2.1\n"}],
    "confidence": 0.86,
}
INVALID_PROPOSAL = {
    "root_cause": "",
    "category": "cosmic-rays",
    "files_to_modify": "requirements.txt",
    "confidence": 3,
}
LOGIN_PAGE = "<!DOCTYPE html>\n<html><head><title>Sign in - Corporate Proxy</title></head><body><form method=post>...</form></body></html>\n"


class _Server(ThreadingHTTPServer):
    """One server with its own ``release`` event, set when it shuts down; its ``hang`` scenarios
    wait on it (one event per server, so a second server stopping does not release the first's)."""

    release: threading.Event


class _Handler(BaseHTTPRequestHandler):
    server_version = "fake-llm/1.0"
    calls: Counter[str] = Counter()
    lock = threading.Lock()

    def log_message(self, format: str, *args: object) -> None:
        return

    def _send(self, status: int, payload: dict, headers: dict[str, str] | None = None) -> None:
        self._raw(status, json.dumps(payload).encode(), "application/json", headers)

    def _error(self, status: int, message: str, kind: str, headers: dict[str, str] | None = None) -> None:
        self._send(
            status, {"error": {"message": message, "type": kind, "param": None, "code": None}}, headers
        )

    def _raw(
        self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        with contextlib.suppress(
            BrokenPipeError, ConnectionResetError
        ):  # the client gave up (the timeout tests)
            self.wfile.write(body)

    def _completion(
        self,
        model: str,
        content: str | None,
        *,
        finish_reason: str = "stop",
        refusal: str | None = None,
        choices: list | None = None,
        usage: bool = True,
    ) -> None:
        with self.lock:
            n = sum(self.calls.values())
        message = {"role": "assistant", "content": content, "refusal": refusal}
        body = {
            "id": f"chatcmpl-fake{n:04d}",
            "object": "chat.completion",
            "created": 1735689600,
            "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}]
            if choices is None
            else choices,
            "usage": {"prompt_tokens": 900, "completion_tokens": 80, "total_tokens": 980},
        }
        if not usage:
            del body["usage"]
        self._send(200, body)

    def do_POST(self) -> None:
        if self.path.startswith("/model/") and self.path.endswith("/converse"):
            self._converse(urllib.parse.unquote(self.path[len("/model/") : -len("/converse")]))
            return
        if self.path.rstrip("/") != "/v1/chat/completions":
            self._error(404, f"no route {self.path}", "invalid_request_error")
            return
        length = int(self.headers.get("Content-Length") or 0)
        try:
            request = json.loads(self.rfile.read(length) or b"{}")
        except json.JSONDecodeError:
            self._error(400, "body is not JSON", "invalid_request_error")
            return
        model = str(request.get("model", ""))
        messages = request.get("messages") or []
        fmt = (request.get("response_format") or {}).get("type")
        with self.lock:
            self.calls[model] += 1
            call = self.calls[model]
        if fmt not in ("json_schema", "json_object"):
            self._error(400, "response_format is required by this test server", "invalid_request_error")
            return
        valid = json.dumps(VALID_PROPOSAL)
        if model == "valid":
            self._completion(model, valid)
        elif model == "misquote":
            edit = _window_edit(messages, exact=len(messages) >= 4)
            self._completion(model, json.dumps({**VALID_PROPOSAL, "files_to_modify": [edit] if edit else []}))
        elif model == "no-usage":
            self._completion(model, valid, usage=False)
        elif model == "repair":
            if len(messages) >= 4:
                self._completion(model, f"```json\n{valid}\n```")
            else:
                self._completion(model, "Sure! The fix is to add pandas to requirements.txt.")
        elif model == "invalid-twice":
            self._completion(model, json.dumps(INVALID_PROPOSAL))
        elif model == "throttle-once":
            if call == 1:
                self._error(429, "Rate limit reached for requests", "requests", {"Retry-After": "0"})
            else:
                self._completion(model, valid)
        elif model == "always-500":
            self._error(500, "The server had an error while processing your request.", "server_error")
        elif model == "always-429":
            self._error(429, "Rate limit reached for requests", "requests", {"Retry-After": "7"})
        elif model == "no-json-schema":
            if fmt == "json_schema":
                self._error(
                    400,
                    "response_format of type json_schema is not supported by this model",
                    "invalid_request_error",
                )
            else:
                self._completion(model, valid)
        elif model == "no-json-schema-500":
            if fmt == "json_schema":
                self._error(
                    500,
                    "1 validation error:\n  {'type': 'literal_error', 'loc': ('body', 'response_format', "
                    "'type'), 'msg': \"Input should be 'text' or 'json_object'\", 'input': 'json_schema'}",
                    "internal_server_error",
                )
            else:
                self._completion(model, valid)
        elif model == "unauthorized":
            self._error(401, "Incorrect API key provided.", "invalid_request_error")
        elif model == "slow":
            time.sleep(SLOW_SECONDS)
            self._completion(model, valid)
        elif model == "hang":
            self.server.release.wait(30)  # type: ignore[attr-defined]
        elif model == "echo-key-401":
            bearer = self.headers.get("Authorization", "").removeprefix("Bearer ")
            self._error(
                401,
                f"Incorrect API key provided: {bearer}. You can find your API key at the provider.",
                "invalid_request_error",
            )
        elif model == "echo-key-400":
            self._error(
                400,
                f"header rejected: Authorization: {self.headers.get('Authorization', '')}",
                "invalid_request_error",
            )
        elif model == "html-200":
            self._raw(200, LOGIN_PAGE.encode(), "text/html; charset=utf-8")
        elif model == "invalid-json":
            body = json.dumps(
                {
                    "id": "chatcmpl-cut",
                    "object": "chat.completion",
                    "choices": [{"index": 0, "message": {"content": valid}}],
                }
            )
            self._raw(200, body[: len(body) // 2].encode(), "application/json")
        elif model == "not-completion":
            self._send(200, {"object": "list", "data": [{"id": "gpt-4o-mini", "object": "model"}]})
        elif model == "empty-choices":
            self._completion(model, None, choices=[])
        elif model == "refusal":
            self._completion(model, None, refusal="I can't help with modifying this repository.")
        elif model in ("length", "length-once"):
            limit = int(request.get("max_completion_tokens") or 0)
            if model == "length-once" and limit > 4096:
                self._completion(model, valid)
            else:
                self._completion(model, valid[: len(valid) // 2], finish_reason="length")
        elif model == "prose-json":
            self._completion(model, f"Here is the proposal you asked for:\n{valid}\nI hope this {{helps}}.")
        elif model == "enforce-max-length":
            schema = (request.get("response_format") or {}).get("json_schema", {}).get("schema", {})
            cap = schema.get("properties", {}).get("root_cause", {}).get("maxLength")
            if isinstance(cap, int) and cap <= 2000:
                self._completion(model, valid)
            else:
                self._completion(
                    model, json.dumps({**VALID_PROPOSAL, "root_cause": "pandas is missing. " * 111})
                )
        else:
            self._error(404, f"The model `{model}` does not exist", "invalid_request_error")

    # ------------------------------------------------------------------------------- Bedrock

    def _aws_error(self, status: int, code: str, message: str) -> None:
        self._raw(
            status,
            json.dumps({"message": message}).encode(),
            "application/json",
            {"x-amzn-ErrorType": f"{code}:http://internal.amazon.com/coral/com.amazon.bedrock/"},
        )

    def _converse_reply(self, content: list, stop_reason: str = "tool_use") -> None:
        payload = {
            "output": {"message": {"role": "assistant", "content": content}},
            "stopReason": stop_reason,
            "usage": {"inputTokens": 1500, "outputTokens": 120, "totalTokens": 1620},
            "metrics": {"latencyMs": 2100},
        }
        self._raw(200, json.dumps(payload).encode(), "application/json")

    def _converse(self, model: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        try:
            request = json.loads(self.rfile.read(length) or b"{}")
        except json.JSONDecodeError:
            self._aws_error(400, "ValidationException", "body is not JSON")
            return
        with self.lock:
            self.calls[f"bedrock:{model}"] += 1
            call = self.calls[f"bedrock:{model}"]
        tool = {
            "toolUse": {
                "toolUseId": f"tooluse_fake{call:04d}",
                "name": "submit_proposal",
                "input": VALID_PROPOSAL,
            }
        }
        if model == "valid" or (model == "throttle-once" and call > 1):
            self._converse_reply([tool])
        elif model in ("throttle-once", "always-throttle"):
            self._aws_error(429, "ThrottlingException", "Too many requests, please wait before trying again.")
        elif model == "always-500":
            self._aws_error(
                500, "InternalServerException", "The server encountered an error processing your request."
            )
        elif model == "hang":
            self.server.release.wait(30)  # type: ignore[attr-defined]
        elif model == "html-200":
            self._raw(200, LOGIN_PAGE.encode(), "text/html; charset=utf-8")
        elif model == "invalid-json":
            self._raw(
                200,
                b'{"output": {"message": {"role": "assistant", "content": [{"toolUse": {"toolUseId"',
                "application/json",
            )
        elif model == "invalid-twice":
            self._converse_reply([{"toolUse": {**tool["toolUse"], "input": INVALID_PROPOSAL}}])
        elif model == "empty":
            self._converse_reply([], "end_turn")
        elif model == "refusal":
            self._converse_reply(
                [{"text": "The response was blocked by content filters."}], "content_filtered"
            )
        elif model in ("length", "length-once"):
            limit = int((request.get("inferenceConfig") or {}).get("maxTokens") or 0)
            if model == "length-once" and limit > 4096:
                self._converse_reply([tool])
            else:
                self._converse_reply([{"text": json.dumps(VALID_PROPOSAL)[:60]}], "max_tokens")
        elif model == "echo-token-403":
            token = self.headers.get("X-Amz-Security-Token", "")
            self._aws_error(
                403,
                "AccessDeniedException",
                f"User is not authorized: session token {token} lacks bedrock:InvokeModel",
            )
        else:
            self._aws_error(400, "ValidationException", f"The provided model identifier {model} is invalid.")


_WINDOW = re.compile(
    r"File \d+: lines \d+-\d+[^\n]*Path:\n<<<DATA (\w+)>>>\n(.*?)\n<<<END \1>>>\n.*?<<<DATA \1>>>\n(.*?)\n<<<END \1>>>",
    re.DOTALL,
)


def _window_edit(messages: list, *, exact: bool) -> dict | None:
    """An edit of three lines of the first file window of the first user message with three
    non-blank lines: the last one gets a comment; the quote has trailing spaces unless ``exact``."""
    user = next((m.get("content", "") for m in messages if m.get("role") == "user"), "")
    for m in _WINDOW.finditer(user):
        lines = m.group(3).split("\n")
        for i in range(len(lines) - 2):
            chunk = lines[i : i + 3]
            if all(line.strip() for line in chunk) and m.group(3).count("\n".join(chunk)) == 1:
                quote = [line + ("" if exact else "  ") for line in chunk]
                changed = [*chunk[:2], chunk[2] + "  # edited"]
                return {
                    "file_path": m.group(2),
                    "original": "\n".join(quote) + "\n",
                    "replacement": "\n".join(changed) + "\n",
                }
    return None


def call_count(scenario: str, *, bedrock: bool = False) -> int:
    """Requests the running server got for ``scenario`` (a Chat Completions model or a Bedrock model id)."""
    with _Handler.lock:
        return _Handler.calls[f"bedrock:{scenario}" if bedrock else scenario]


@contextlib.contextmanager
def serve(port: int = 0) -> Iterator[str]:
    """Run the server in a daemon thread; yields its base URL (``http://127.0.0.1:<port>/v1``)."""
    _Handler.calls = Counter()
    httpd = _Server(("127.0.0.1", port), _Handler)
    httpd.release = threading.Event()
    httpd.daemon_threads = True
    # shutdown() waits up to poll_interval (0.5 s by default) for the serving loop to notice
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    finally:
        httpd.release.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


if __name__ == "__main__":
    with serve(int(sys.argv[1]) if len(sys.argv) > 1 else 8765) as url:
        print(f"fake Chat Completions server at {url}", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
