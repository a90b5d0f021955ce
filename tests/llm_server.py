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
``no-json-schema``   400 when ``response_format.type`` is ``json_schema``; valid under ``json_object``
``unauthorized``     HTTP 401
``slow``             sleeps ``SLOW_SECONDS`` before answering valid

Every request must carry ``response_format``; otherwise the answer is a 400. Run standalone with
``python tests/llm_server.py [port]``.
"""

from __future__ import annotations

import contextlib
import json
import sys
import threading
import time
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
INVALID_PROPOSAL = {"root_cause": "", "category": "cosmic-rays", "files_to_modify": "requirements.txt", "confidence": 3}


class _Handler(BaseHTTPRequestHandler):
    server_version = "fake-llm/1.0"
    calls: Counter[str] = Counter()
    lock = threading.Lock()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - silence the default stderr log
        return

    def _send(self, status: int, payload: dict, headers: dict[str, str] | None = None) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (the timeout test)

    def _error(self, status: int, message: str, kind: str, headers: dict[str, str] | None = None) -> None:
        self._send(status, {"error": {"message": message, "type": kind, "param": None, "code": None}}, headers)

    def _completion(self, model: str, content: str) -> None:
        with self.lock:
            n = sum(self.calls.values())
        self._send(
            200,
            {
                "id": f"chatcmpl-fake{n:04d}",
                "object": "chat.completion",
                "created": 1735689600,
                "model": model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 900, "completion_tokens": 80, "total_tokens": 980},
            },
        )

    def do_POST(self) -> None:  # noqa: N802 - http.server naming
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
        elif model == "no-json-schema":
            if fmt == "json_schema":
                self._error(400, "response_format of type json_schema is not supported by this model", "invalid_request_error")
            else:
                self._completion(model, valid)
        elif model == "unauthorized":
            self._error(401, "Incorrect API key provided.", "invalid_request_error")
        elif model == "slow":
            time.sleep(SLOW_SECONDS)
            self._completion(model, valid)
        else:
            self._error(404, f"The model `{model}` does not exist", "invalid_request_error")


@contextlib.contextmanager
def serve(port: int = 0) -> Iterator[str]:
    """Run the server in a daemon thread; yields its base URL (``http://127.0.0.1:<port>/v1``)."""
    _Handler.calls = Counter()
    httpd = ThreadingHTTPServer(("127.0.0.1", port), _Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    finally:
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
