"""A stateful fake of the GitHub REST API that checks all traffic against GitHub's own description.

Every request to a GitHub path is matched to an operation of ``@octokit/openapi``'s
``api.github.com.json``; unknown endpoints answer 404 and are recorded as violations; request
bodies and query parameters are validated (an invalid body answers 422, like GitHub, and is
recorded); every response body is built from the documented schema and validated before it is sent.

Outside GitHub's paths:

- ``GET /_fake/state``: :meth:`FakeState.snapshot` plus ``requests`` and ``violations``
- ``POST /_fake/seed``: apply a scenario document (:meth:`FakeState.seed`), returns created ids
- ``POST /_fake/failures``: add a failure rule (JSON of :class:`Failure`); ``DELETE`` clears them
- ``GET /_blobs/job-logs/{job_id}``: the signed-blob-like URL job log downloads redirect to
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, quote, urlsplit

from .gitobjects import FILE_MODES, MODE_SUBMODULE, MODE_TREE, GitObjectError
from .spec import Operation, Spec, Violation
from .state import (
    BOT_LOGIN,
    CheckRun,
    Comment,
    FakeState,
    Reaction,
    Review,
    ReviewComment,
    StateError,
    iso,
)
from .synth import complete
from .views import Views

DOCS = "https://docs.github.com/rest"
MAX_BODY = 65536  # GitHub's limit for comment and check-run output text, in characters
MAX_ANNOTATIONS = 50  # per check-run create/update request


class ApiError(Exception):
    """Raised by a handler to answer ``status`` with GitHub's error body."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        errors: list[Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.errors, self.headers = (
            status,
            message,
            errors,
            headers or {},
        )

    def body(self, doc: str = DOCS) -> dict[str, Any]:
        out: dict[str, Any] = {
            "message": self.message,
            "documentation_url": doc,
            "status": str(self.status),
        }
        if self.errors is not None:
            out["errors"] = self.errors
        return out


@dataclass
class Failure:
    """An injected failure: requests matching ``method`` (``None`` = any) and ``operation_id`` or
    ``path`` (a regex searched in the URL path) answer ``status`` with ``message``; ``times`` limits
    how often (``None`` = always); ``headers`` are added (e.g. ``X-Accepted-GitHub-Permissions``).

    ``after`` makes it a "done, then failed" answer: the request is carried out (the comment, check
    run or ref is created) and only then answered with ``status`` — what a client sees when GitHub
    honoured a write but the proxy in front of it answered 502."""

    status: int
    message: str = "Server Error"
    operation_id: str | None = None
    path: str | None = None
    method: str | None = None
    times: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    hits: int = 0
    after: bool = False

    def matches(self, method: str, path: str, op: Operation | None) -> bool:
        if self.times is not None and self.hits >= self.times:
            return False
        if self.method and self.method.upper() != method.upper():
            return False
        if self.operation_id and (op is None or op.operation_id != self.operation_id):
            return False
        return not (self.path and not re.search(self.path, path))


@dataclass
class Recorded:
    """One request as received: ``body`` is parsed JSON when possible, else text."""

    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    status: int = 0
    operation_id: str | None = None
    authorization: bool = False


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    json: Any
    params: dict[str, str]
    views: Views

    def q(self, name: str, default: str | None = None) -> str | None:
        return self.query.get(name, [default])[-1]


Handler = Callable[["FakeGitHub", Request], tuple[int, Any] | tuple[int, Any, dict[str, str]]]
HANDLERS: dict[str, Handler] = {}


def handles(operation_id: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        HANDLERS[operation_id] = fn
        return fn

    return register


class FakeGitHub:
    """The fake server: ``url`` (``http://127.0.0.1:<port>``), ``state``, ``requests``, ``violations``.

    ``start()`` binds 127.0.0.1 (port 0 = a free one) and serves in a daemon thread; ``stop()``
    shuts it down. Also a context manager. ``web_url`` is what ``html_url`` values point at.
    """

    def __init__(
        self,
        state: FakeState | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        spec: Spec | None = None,
        web_url: str = "https://github.com",
    ) -> None:
        self.spec = spec or Spec.load()
        self.state = state or FakeState()
        self.host, self.port, self.web_url = host, port, web_url
        self.requests: list[Recorded] = []
        self.violations: list[Violation] = []
        self.failures: list[Failure] = []
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    # ---- lifecycle ----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """Base URL of the API (use as PyGithub's ``base_url`` and ``GITHUB_API_URL``)."""
        return f"http://{self.host}:{self.port}"

    def start(self) -> FakeGitHub:
        """Bind and serve in a background thread; returns ``self``."""
        server = self

        class _Handler(_HTTPHandler):
            fake = server

        self._httpd = ThreadingHTTPServer((self.host, self.port), _Handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.01},  # stop() waits at most this long
            name="fake-github",
            daemon=True,
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in the calling thread (for ``python -m tests.fakegithub``)."""
        self.start()
        assert self._thread is not None
        self._thread.join()

    def stop(self) -> None:
        """Shut the server down and wait for its thread."""
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- test helpers -------------------------------------------------------------------------

    def fail(
        self,
        status: int,
        message: str = "Server Error",
        *,
        operation_id: str | None = None,
        path: str | None = None,
        method: str | None = None,
        times: int | None = None,
        headers: dict[str, str] | None = None,
        after: bool = False,
    ) -> Failure:
        """Inject a failure (see :class:`Failure`); returns the rule (``hits`` counts uses)."""
        rule = Failure(status, message, operation_id, path, method, times, dict(headers or {}), after=after)
        with self._lock:
            self.failures.append(rule)
        return rule

    def forbid_check_runs(self) -> Failure:
        """GitHub's answer when the token lacks ``checks: write``: 403 "Resource not accessible by integration"."""
        return self.fail(
            403,
            "Resource not accessible by integration",
            operation_id="checks/create",
            headers={"X-Accepted-GitHub-Permissions": "checks=write"},
        )

    def violation_report(self) -> str:
        """Readable multi-line list of violations ('' when none)."""
        return "\n".join(f"  {i}. {v}" for i, v in enumerate(self.violations, 1))

    def calls(self, method: str | None = None, operation_id: str | None = None) -> list[Recorded]:
        """Recorded requests filtered by ``method`` and/or ``operation_id``."""
        return [
            r
            for r in self.requests
            if (method is None or r.method == method)
            and (operation_id is None or r.operation_id == operation_id)
        ]

    # ---- dispatch -----------------------------------------------------------------------------

    def handle(
        self, method: str, raw_path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        """Answer one request: ``(status, headers, body bytes)``. Never raises."""
        parts = urlsplit(raw_path)
        path, query = parts.path, parse_qs(parts.query, keep_blank_values=True)
        try:
            parsed_body: Any = json.loads(body) if body else None
        except ValueError:
            parsed_body = body.decode("utf-8", "replace")
        record = Recorded(method, path, query, parsed_body, authorization="authorization" in headers)
        with self._lock:
            self.requests.append(record)
        api = f"http://{headers.get('host') or f'{self.host}:{self.port}'}"
        if path.startswith(("/_fake/", "/_blobs/")):
            status, out_headers, data = self._admin(method, path, parsed_body, api)
            record.status = status
            return status, out_headers, data
        op = self.spec.match(method, path)
        if op is None:
            self._violate(
                [
                    Violation(
                        "unknown-endpoint",
                        f"{method} {path}",
                        "no operation in GitHub's REST description matches",
                    )
                ]
            )
            record.status = 404
            return self._json(
                404,
                {"message": "Not Found", "documentation_url": DOCS, "status": "404"},
            )
        record.operation_id = op.operation_id
        problems = self.spec.validate_request(op, query, body, headers.get("content-type"))
        self._violate(problems)
        extra: dict[str, str] = {}
        try:
            if any(p.kind == "request-body" for p in problems):
                raise ApiError(
                    422,
                    "Invalid request.\n\n"
                    + "\n".join(p.detail for p in problems if p.kind == "request-body"),
                )
            with self._lock:
                rule = next((f for f in self.failures if f.matches(method, path, op)), None)
                if rule:
                    rule.hits += 1
            if rule and not rule.after:
                raise ApiError(rule.status, rule.message, headers=rule.headers)
            if "authorization" not in headers and method != "GET":
                raise ApiError(401, "Requires authentication")
            handler = HANDLERS.get(op.operation_id)
            if handler is None:
                self._violate(
                    [
                        Violation(
                            "unimplemented",
                            f"{method} {op.template}",
                            f"{op.operation_id} is documented but the fake does not implement it",
                        )
                    ]
                )
                raise ApiError(404, "Not Found")
            request = Request(
                method,
                path,
                query,
                parsed_body if isinstance(parsed_body, (dict, list)) else {},
                op.params,
                Views(self.state, api, self.web_url),
            )
            if "owner" in op.params and f"{op.params['owner']}/{op.params['repo']}" not in self.state.repos:
                raise ApiError(404, "Not Found")
            with self.state.lock:
                result = handler(self, request)
            status, payload = result[0], result[1]
            if len(result) == 3:
                extra = result[2]  # type: ignore[misc]
            payload = self._complete(op, status, payload)
            if rule and rule.after:
                raise ApiError(rule.status, rule.message, headers=rule.headers)
        except ApiError as err:
            status, payload, extra = err.status, err.body(), err.headers
        except (StateError, GitObjectError) as err:
            status, payload = 422, ApiError(422, str(err)).body()
        record.status = status
        self._violate(self.spec.validate_response(op, status, payload))
        if status in (204, 302, 304):
            return status, extra, b""
        code, hdrs, data = self._json(status, payload)
        hdrs.update(extra)
        return code, hdrs, data

    def _complete(self, op: Operation, status: int, payload: Any) -> Any:
        raw = op.op.get("responses", {}).get(str(status))
        if raw is None or payload is None:
            return payload
        media = (self.spec.resolve(raw).get("content") or {}).get("application/json")
        return complete(self.spec, media["schema"], payload) if media and "schema" in media else payload

    def _violate(self, found: list[Violation]) -> None:
        if found:
            with self._lock:
                self.violations.extend(found)

    @staticmethod
    def _json(
        status: int, payload: Any, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        data = json.dumps(payload, indent=None).encode()
        out = {
            "Content-Type": "application/json; charset=utf-8",
            "X-GitHub-Media-Type": "github.v3; format=json",
            "X-RateLimit-Limit": "5000",
            "X-RateLimit-Remaining": "4999",
            "X-RateLimit-Reset": "1893456000",
            "X-RateLimit-Used": "1",
            "X-RateLimit-Resource": "core",
        }
        out.update(headers or {})
        return status, out, data

    def _admin(self, method: str, path: str, body: Any, api: str) -> tuple[int, dict[str, str], bytes]:
        try:
            if path == "/_fake/state" and method == "GET":
                snap = self.state.snapshot()
                snap["requests"] = [asdict(r) for r in self.requests if not r.path.startswith("/_fake/")]
                snap["violations"] = [asdict(v) for v in self.violations]
                return self._json(200, snap)
            if path == "/_fake/seed" and method == "POST":
                if not isinstance(body, dict):
                    return self._json(400, {"message": "seed body must be a JSON object"})
                return self._json(201, self.state.seed(body))
            if path == "/_fake/failures" and method == "POST":
                if not isinstance(body, dict) or "status" not in body:
                    return self._json(400, {"message": "failure rule needs at least 'status'"})
                rule = self.fail(
                    int(body["status"]),
                    body.get("message", "Server Error"),
                    operation_id=body.get("operation_id"),
                    path=body.get("path"),
                    method=body.get("method"),
                    times=body.get("times"),
                    headers=body.get("headers"),
                    after=bool(body.get("after")),
                )
                return self._json(201, asdict(rule))
            if path == "/_fake/failures" and method == "DELETE":
                with self._lock:
                    self.failures.clear()
                return 204, {}, b""
            m = re.fullmatch(r"/_blobs/job-logs/(\d+)", path)
            if m and method == "GET":
                job = self.state.jobs.get(int(m.group(1)))
                if job is None:
                    return (
                        404,
                        {"Content-Type": "application/xml"},
                        b"<Error><Code>BlobNotFound</Code></Error>",
                    )
                return 200, {"Content-Type": "text/plain; charset=utf-8"}, job.log
        except StateError as err:
            return self._json(400, {"message": str(err)})
        return self._json(404, {"message": "unknown admin endpoint"})


class _HTTPHandler(BaseHTTPRequestHandler):
    fake: FakeGitHub
    protocol_version = "HTTP/1.1"
    # headers and body leave in one write (no delayed-ACK stall on keep-alive connections)
    wbufsize = 1 << 16
    disable_nagle_algorithm = True
    server_version = "GitHub.com"

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            status, out_headers, data = self.fake.handle(self.command, self.path, headers, body)
        except Exception as exc:
            self.fake._violate([Violation("fake-error", f"{self.command} {self.path}", repr(exc))])
            status, out_headers, data = (
                500,
                {"Content-Type": "application/json"},
                json.dumps({"message": f"fake error: {exc!r}"}).encode(),
            )
        self.send_response(status)
        for k, v in out_headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = do_HEAD = _serve

    def log_message(self, format: str, *args: Any) -> None:  # quiet; requests are recorded instead
        return


# ============================================================================================
# Handlers, keyed by GitHub operationId
# ============================================================================================


def _repo(req: Request) -> str:
    return f"{req.params['owner']}/{req.params['repo']}"


def _page(req: Request, items: list[Any]) -> tuple[list[Any], dict[str, str]]:
    """Slice ``items`` by ``page``/``per_page`` (default 30, max 100) with a ``Link`` header, like GitHub."""
    try:
        per_page = min(max(int(req.q("per_page", "30") or 30), 1), 100)
        page = max(int(req.q("page", "1") or 1), 1)
    except ValueError:
        raise ApiError(422, "Invalid pagination parameters") from None
    last = max((len(items) + per_page - 1) // per_page, 1)
    links = []
    base_query = {k: v[-1] for k, v in req.query.items() if k not in ("page",)}

    def link(n: int, rel: str) -> str:
        q = "&".join(
            f"{k}={quote(str(v), safe='')}"
            for k, v in (base_query | {"per_page": per_page, "page": n}).items()
        )
        return f'<{req.views.api}{req.path}?{q}>; rel="{rel}"'

    if page < last:
        links += [link(page + 1, "next"), link(last, "last")]
    if page > 1:
        links += [link(1, "first"), link(page - 1, "prev")]
    return items[(page - 1) * per_page : page * per_page], ({"Link": ", ".join(links)} if links else {})


def _int(value: str, what: str = "Not Found") -> int:
    try:
        return int(value)
    except ValueError:
        raise ApiError(404, what) from None


@handles("rate-limit/get")
def _rate_limit(fake: FakeGitHub, req: Request) -> tuple[int, Any]:
    core = {"limit": 5000, "used": 1, "remaining": 4999, "reset": 1893456000}
    return 200, {
        "resources": {"core": core, "search": core, "graphql": core},
        "rate": core,
    }


@handles("repos/get")
def _get_repo(fake: FakeGitHub, req: Request) -> tuple[int, Any]:
    return 200, req.views.repo(_repo(req), full=True)


@handles("repos/get-collaborator-permission-level")
def _permission(fake: FakeGitHub, req: Request) -> tuple[int, Any]:
    login = req.params["username"]
    if login not in fake.state.users:
        raise ApiError(404, "Not Found")
    return 200, req.views.permission(_repo(req), login)


# ---- actions ---------------------------------------------------------------------------------


def _owned(objects: dict[int, Any], req: Request, param: str) -> Any:
    """The object whose id is path parameter ``param``, if it belongs to the request's repository;
    else 404 (GitHub answers 404, not 403, for objects of other repositories)."""
    found = objects.get(_int(req.params[param]))
    if found is None or found.repo != _repo(req):
        raise ApiError(404, "Not Found")
    return found


def _run(fake: FakeGitHub, req: Request) -> Any:
    return _owned(fake.state.runs, req, "run_id")


@handles("actions/get-workflow-run")
def _get_run(fake: FakeGitHub, req: Request) -> tuple[int, Any]:
    return 200, req.views.run(_run(fake, req))


def _jobs(fake: FakeGitHub, req: Request, attempt: int | None) -> tuple[int, Any, dict[str, str]]:
    run = _run(fake, req)
    jobs = [j for j in fake.state.jobs.values() if j.run_id == run.id]
    if attempt is not None:
        jobs = [j for j in jobs if j.run_attempt == attempt]
    elif req.q("filter", "latest") == "latest":
        jobs = [j for j in jobs if j.run_attempt == run.run_attempt]
    page, links = _page(req, jobs)
    return (
        200,
        {"total_count": len(jobs), "jobs": [req.views.job(j) for j in page]},
        links,
    )


@handles("actions/list-jobs-for-workflow-run")
def _list_jobs(fake: FakeGitHub, req: Request) -> tuple[int, Any, dict[str, str]]:
    return _jobs(fake, req, None)


@handles("actions/list-jobs-for-workflow-run-attempt")
def _list_jobs_attempt(fake: FakeGitHub, req: Request) -> tuple[int, Any, dict[str, str]]:
    attempt = _int(req.params["attempt_number"])
    if attempt < 1 or attempt > _run(fake, req).run_attempt:
        raise ApiError(404, "Not Found")
    return _jobs(fake, req, attempt)


@handles("actions/get-job-for-workflow-run")
def _get_job(fake: FakeGitHub, req: Request) -> tuple[int, Any]:
    job = fake.state.jobs.get(_int(req.params["job_id"]))
    if job is None or job.repo != _repo(req):
        raise ApiError(404, "Not Found")
    return 200, req.views.job(job)


@handles("actions/download-job-logs-for-workflow-run")
def _job_logs(fake: FakeGitHub, req: Request) -> tuple[int, Any, dict[str, str]]:
    job = fake.state.jobs.get(_int(req.params["job_id"]))
    if job is None or job.repo != _repo(req):
        raise ApiError(404, "Not Found")
    if job.logs_expired:
        raise ApiError(410, "Gone")
    return (
        302,
        None,
        {
            "Location": f"{req.views.api}/_blobs/job-logs/{job.id}?sv=2021-08-06&se=2030-01-01T00%3A00%3A00Z&sp=r&sig=fake"
        },
    )


def _workflow(fake: FakeGitHub, req: Request) -> Any:
    key = req.params["workflow_id"]
    for wf in fake.state.workflows.values():
        if wf.repo == _repo(req) and (str(wf.id) == key or wf.path.rsplit("/", 1)[-1] == key):
            return wf
    raise ApiError(404, "Not Found")


def _filter_runs(req: Request, runs: list[Any]) -> list[Any]:
    """``runs`` filtered like GitHub's run listings (``branch`` = head branch, ``event``,
    ``head_sha``, ``actor``, and ``status`` as a status or a conclusion), newest first."""
    status = req.q("status")
    if status:
        runs = [r for r in runs if status in (r.status, r.conclusion)]
    for name, attr in (
        ("branch", "head_branch"),
        ("event", "event"),
        ("head_sha", "head_sha"),
        ("actor", "actor"),
    ):
        if req.q(name):
            runs = [r for r in runs if getattr(r, attr) == req.q(name)]
    return sorted(runs, key=lambda r: -r.id)


@handles("actions/list-workflow-runs")
def _list_workflow_runs(fake: FakeGitHub, req: Request) -> tuple[int, Any, dict[str, str]]:
    """Runs of one workflow, newest first, filtered like GitHub: ``branch`` (the run's head
    branch), ``event``, ``head_sha``, and ``status`` as a status or a conclusion."""
    wf = _workflow(fake, req)
    runs = [r for r in fake.state.runs.values() if r.workflow_id == wf.id and r.repo == _repo(req)]
    runs = _filter_runs(req, runs)
    page, links = _page(req, runs)
    views = []
    for r in page:
        view = req.views.run(r)
        if req.q("exclude_pull_requests") == "true":
            view["pull_requests"] = []
        views.append(view)
    return 200, {"total_count": len(runs), "workflow_runs": views}, links


@handles("actions/list-workflow-runs-for-repo")
def _list_repo_runs(fake: FakeGitHub, req: Request) -> tuple[int, Any, dict[str, str]]:
    """Runs of every workflow of the repository, newest first, with the filters of
    :func:`_list_workflow_runs`."""
    runs = [r for r in fake.state.runs.values() if r.repo == _repo(req)]
    runs = _filter_runs(req, runs)
    page, links = _page(req, runs)
    return 200, {"total_count": len(runs), "workflow_runs": [req.views.run(r) for r in page]}, links


@handles("actions/re-run-workflow-failed-jobs")
def _rerun_failed_jobs(fake: FakeGitHub, req: Request) -> tuple[int, Any]:
    # GitHub answers 403 "This workflow run is not completed" for a run still going
    run = _run(fake, req)
    if run.status != "completed":
        raise ApiError(403, "This workflow run is not completed")
    fake.state.reruns.append(
        {"repo": _repo(req), "run_id": run.id, "attempt": run.run_attempt, "actor": fake.state.identity}
    )
    run.run_attempt += 1
    run.status, run.conclusion = "queued", None
    return 201, {}


@handles("actions/get-workflow")
def _get_workflow(fake: FakeGitHub, req: Request) -> tuple[int, Any]:
    return 200, req.views.workflow(_workflow(fake, req).id)


@handles("actions/create-workflow-dispatch")
def _dispatch(fake: FakeGitHub, req: Request) -> tuple[int, Any]:
    wf = _workflow(fake, req)
    ref = req.json["ref"]
    if fake.state.resolve_commit(_repo(req), ref) is None:
        raise ApiError(422, f"No ref found for: {ref}")
    fake.state.dispatches.append(
        {
            "repo": _repo(req),
            "workflow_id": wf.id,
            "workflow_path": wf.path,
            "ref": ref,
            "inputs": req.json.get("inputs", {}),
            "actor": fake.state.identity,
        }
    )
    if req.json.get("return_run_details"):
        run_id = fake.state.next_id()
        return 200, {
            "workflow_run_id": run_id,
            "run_url": f"{req.views.api}/repos/{_repo(req)}/actions/runs/{run_id}",
            "html_url": f"{req.views.web}/{_repo(req)}/actions/runs/{run_id}",
        }
    return 204, None


# ---- contents and git data -----------------------------------------------------------------


def _commit_of(fake: FakeGitHub, req: Request, ref: str | None) -> str:
    repo = fake.state.repo(_repo(req))
    sha = fake.state.resolve_commit(_repo(req), ref or f"refs/heads/{repo.default_branch}")
    if sha is None:
        raise ApiError(404, f"No commit found for the ref {ref}")
    return sha


@handles("repos/get-content")
def _contents(fake: FakeGitHub, req: Request) -> tuple[int, Any]:
    ref = req.q("ref")
    sha = _commit_of(fake, req, ref)
    ref_name = ref or fake.state.repo(_repo(req)).default_branch
    path = req.params["path"].strip("/")
    entry = fake.state.git.lookup(fake.state.git.commit(sha).tree, path)
    if entry is None:
        raise ApiError(404, "Not Found")
    if entry.mode == MODE_TREE:
        items = [
            req.views.content(_repo(req), f"{path}/{e.name}".lstrip("/"), ref_name, e.mode, e.sha)
            for e in fake.state.git.tree(entry.sha)
        ]
        for item in items:  # directory listings omit file content
            item.pop("content", None)
            item.pop("encoding", None)
        return 200, items
    return 200, req.views.content(_repo(req), path, ref_name, entry.mode, entry.sha)


@handles("git/get-tree")
def _get_tree(fake: FakeGitHub, req: Request) -> tuple[int, Any]:
    key = req.params["tree_sha"]
    sha = key if fake.state.git.kind(key) == "tree" else None
    if sha is None:
        commit = fake.state.resolve_commit(_repo(req), key)
        if commit is None:
            raise ApiError(404, "Not Found")
        sha = fake.state.git.commit(commit).tree
    recursive = req.q("recursive") not in (None, "", "0", "false")
    return 200, req.views.tree(_repo(req), sha, recursive=recursive)


@handles("git/get-blob")
def _get_blob(fake: FakeGitHub, req: Request) -> tuple[int, Any]:
    sha = req.params["file_sha"]
    if fake.state.git.kind(sha) != "blob":
        raise ApiError(404, "Not Found")
    data = fake.state.git.blob(sha)
    return 200, {
        "sha": sha,
        "node_id": f"B_{sha[:16]}",
        "size": len(data),
        "url": f"{req.views.api}/repos/{_repo(req)}/git/blobs/{sha}",
        "content": req.views.b64(data),
        "encoding": "base64",
    }


@handles("git/create-blob")
def _create_blob(fake: FakeGitHub, req: Request) -> tuple[int, Any]:
    import base64
    import binascii

    content, encoding = req.json["content"], req.json.get("encoding", "utf-8")
    if encoding == "base64":
        try:
            data = base64.b64decode(content, validate=False)
        except (binascii.Error, ValueError):
            raise ApiError(422, "content is not valid Base64") from None
    elif encoding in ("utf-8", "utf8"):
        data = content.encode()
    else:
        raise ApiError(422, f"encoding {encoding!r} is not supported")
    sha = fake.state.git.put_blob(data)
    return 201, {
        "sha": sha,
        "url": f"{req.views.api}/repos/{_repo(req)}/git/blobs/{sha}",
    }


@handles("git/create-tree")
def _create_tree(fake: FakeGitHub, req: Request) -> tuple[int, Any]:
    git = fake.state.git
    base = req.json.get("base_tree")
    if base is not None and git.kind(base) != "tree":
        raise ApiError(
            422,
            "Invalid tree info",
            errors=[{"resource": "Tree", "field": "base_tree", "code": "invalid"}],
        )
    changes: dict[str, Any] = {}
    for item in req.json["tree"]:
        path, mode, kind = item.get("path", ""), item.get("mode"), item.get("type")
        if mode == MODE_TREE or kind == "tree":
            raise ApiError(
                422,
                "tree entries of type tree are not supported by the fake; send blobs with full paths",
            )
        if mode not in FILE_MODES and mode != MODE_SUBMODULE:
            raise ApiError(422, f"Invalid tree mode {mode!r}")
        if "content" in item and item["content"] is not None:
            changes[path] = (mode, item["content"].encode())
        elif "sha" in item:
            if item["sha"] is None:
                changes[path] = None
            elif mode != MODE_SUBMODULE and git.kind(item["sha"]) != "blob":
                raise ApiError(
                    422,
                    "GitRPC::BadObjectState",
                    errors=[{"resource": "Tree", "field": "sha", "code": "invalid"}],
                )
            else:
                changes[path] = (mode, item["sha"])
        else:
            raise ApiError(422, f"tree.path {path!r} needs sha or content")
    sha = git.edit_tree(base, changes)
    return 201, req.views.tree(_repo(req), sha, recursive=False)


@handles("git/create-commit")
def _create_commit(fake: FakeGitHub, req: Request) -> tuple[int, Any]:
    body, git = req.json, fake.state.git
    if git.kind(body["tree"]) != "tree":
        raise ApiError(422, "Tree SHA does not exist")
    for parent in body.get("parents", []):
        if git.kind(parent) != "commit":
            raise ApiError(422, "Parent SHA does not exist or is not a commit object")
    me = fake.state.users[fake.state.identity]
    now = fake.state.now()

    def sig(person: dict[str, Any] | None) -> tuple[str, str, int]:
        if not person:
            return (me.login, me.email, now)
        return (person["name"], person["email"], now)

    author = sig(body.get("author"))
    sha = git.put_commit(
        body["tree"],
        list(body.get("parents", [])),
        body["message"],
        author=author,
        committer=sig(body.get("committer")) if body.get("committer") else author,
    )
    return 201, req.views.git_commit(_repo(req), sha)


@handles("git/get-commit")
def _get_git_commit(fake: FakeGitHub, req: Request) -> tuple[int, Any]:
    sha = req.params["commit_sha"]
    if fake.state.git.kind(sha) != "commit":
        raise ApiError(404, "Not Found")
    return 200, req.views.git_commit(_repo(req), sha)


@handles("git/get-ref")
def _get_ref(fake: FakeGitHub, req: Request) -> tuple[int, Any]:
    ref = "refs/" + req.params["ref"].removeprefix("refs/")
    if ref not in fake.state.repo(_repo(req)).refs:
        raise ApiError(404, "Not Found")
    return 200, req.views.ref(_repo(req), ref)


_REF_OK = re.compile(
    r"^refs/(heads|tags)/(?!/)(?!.*(?:\.\.|//|@\{|\.lock(?:/|$)|/\.|[\x00-\x20~^:?*\[\\\x7f]))[^\s]+(?<![./])$"
)


@handles("git/create-ref")
def _create_ref(fake: FakeGitHub, req: Request) -> tuple[int, Any]:
    ref, sha = req.json["ref"], req.json["sha"]
    repo = fake.state.repo(_repo(req))
    if not _REF_OK.match(ref):
        raise ApiError(422, f"{ref} is not a valid ref name.")
    if fake.state.git.kind(sha) != "commit":
        raise ApiError(422, "Object does not exist")
    if ref in repo.refs:
        raise ApiError(422, "Reference already exists")
    repo.refs[ref] = sha
    fake.state.ref_writes.append(
        {"repo": _repo(req), "action": "create", "ref": ref, "sha": sha, "force": False}
    )
    return 201, req.views.ref(_repo(req), ref)


@handles("git/update-ref")
def _update_ref(fake: FakeGitHub, req: Request) -> tuple[int, Any]:
    ref = "refs/" + req.params["ref"].removeprefix("refs/")
    sha, force = req.json["sha"], bool(req.json.get("force", False))
    repo = fake.state.repo(_repo(req))
    if ref not in repo.refs:
        raise ApiError(422, "Reference does not exist")
    if fake.state.git.kind(sha) != "commit":
        raise ApiError(422, "Object does not exist")
    if not force and not fake.state.git.is_ancestor(repo.refs[ref], sha):
        raise ApiError(422, "Update is not a fast forward")
    repo.refs[ref] = sha
    fake.state.ref_writes.append(
        {"repo": _repo(req), "action": "update", "ref": ref, "sha": sha, "force": force}
    )
    return 200, req.views.ref(_repo(req), ref)


def _person_user(req: Request, name: str) -> dict[str, Any]:
    """The GitHub user a commit identity maps to, or ``{}`` (GitHub's empty object) when none does."""
    return req.views.user(name) if name in req.views.state.users else {}


@handles("repos/get-commit")
def _get_commit(fake: FakeGitHub, req: Request) -> tuple[int, Any]:
    sha = fake.state.resolve_commit(_repo(req), req.params["ref"])
    if sha is None:
        raise ApiError(422, f"No commit found for SHA: {req.params['ref']}")
    return 200, _commit_json(req, sha)


def _commit_json(req: Request, sha: str) -> dict[str, Any]:
    """GitHub's ``commit`` object for ``sha`` (no files: the fake lists them only in comparisons)."""
    git = req.views.git_commit(_repo(req), sha)
    url = f"{req.views.api}/repos/{_repo(req)}/commits/{sha}"
    return {
        "sha": sha,
        "node_id": git["node_id"],
        "url": url,
        "html_url": git["html_url"],
        "comments_url": f"{url}/comments",
        "commit": {
            "url": git["url"],
            "author": git["author"],
            "committer": git["committer"],
            "message": git["message"],
            "comment_count": 0,
            "tree": git["tree"],
            "verification": git["verification"],
        },
        "author": _person_user(req, git["author"]["name"]),
        "committer": _person_user(req, git["committer"]["name"]),
        "parents": git["parents"],
        "files": [],
        "stats": {"additions": 0, "deletions": 0, "total": 0},
    }


def _ancestors(fake: FakeGitHub, sha: str) -> list[str]:
    """``sha`` and every commit reachable from it, nearest first (breadth first)."""
    git, order, seen, queue = fake.state.git, [], set(), [sha]
    while queue:
        current = queue.pop(0)
        if current in seen or git.kind(current) != "commit":
            continue
        seen.add(current)
        order.append(current)
        queue.extend(git.commit(current).parents)
    return order


MAX_COMPARE_FILES = 300  # GitHub lists at most 300 files of a comparison
MAX_PULL_FILES = 3000  # and at most 3,000 files of a pull request


@handles("repos/compare-commits")
@handles("repos/compare-commits-with-basehead")
def _compare(fake: FakeGitHub, req: Request) -> tuple[int, Any]:
    """``base...head`` (or ``base..head``): status, counts and files from the merge base, like
    GitHub; a commit that is unknown, or two commits without common history, answer 404. The
    description has the path twice (``{basehead}`` and ``{base}...{head}``); both are served."""
    if "basehead" in req.params:
        basehead = req.params["basehead"]
        sep = "..." if "..." in basehead else ".."
        base_ref, _, head_ref = basehead.partition(sep)
    else:
        base_ref, head_ref = req.params["base"], req.params["head"]
        basehead = f"{base_ref}...{head_ref}"
    base = fake.state.resolve_commit(_repo(req), base_ref) if base_ref else None
    head = fake.state.resolve_commit(_repo(req), head_ref) if head_ref else None
    if base is None or head is None:
        raise ApiError(404, "Not Found")
    head_side = _ancestors(fake, head)
    base_side = _ancestors(fake, base)
    in_base, in_head = set(base_side), set(head_side)
    merge_base = next((c for c in head_side if c in in_base), None)
    if merge_base is None:
        raise ApiError(404, f"No common ancestor between {base_ref} and {head_ref}.")
    ahead = sum(1 for c in head_side if c not in in_base)
    behind = sum(1 for c in base_side if c not in in_head)
    status = (
        "identical" if base == head else "ahead" if behind == 0 else "behind" if ahead == 0 else "diverged"
    )
    page = max(int(req.q("page", "1") or 1), 1)
    per_page = min(max(int(req.q("per_page", "250") or 250), 1), 250)
    commits = list(reversed([c for c in head_side if c not in in_base]))
    url = f"{req.views.api}/repos/{_repo(req)}/compare/{basehead}"
    web = f"{req.views.web}/{_repo(req)}/compare/{basehead}"
    out: dict[str, Any] = {
        "url": url,
        "html_url": web,
        "permalink_url": f"{req.views.web}/{_repo(req)}/compare/{base}...{head}",
        "diff_url": f"{web}.diff",
        "patch_url": f"{web}.patch",
        "base_commit": _commit_json(req, base),
        "merge_base_commit": _commit_json(req, merge_base),
        "status": status,
        "ahead_by": ahead,
        "behind_by": behind,
        "total_commits": len(commits),
        "commits": [_commit_json(req, c) for c in commits[(page - 1) * per_page : page * per_page]],
    }
    if page == 1:  # GitHub shows the files only on the first page
        out["files"] = req.views.diff_files(merge_base, head, _repo(req))[:MAX_COMPARE_FILES]
    return 200, out


# ---- checks ----------------------------------------------------------------------------------


def _check_output(body: dict[str, Any], check: CheckRun) -> None:
    output = body.get("output")
    if output is None:
        return
    for key in ("summary", "text"):
        if output.get(key) is not None and len(output[key]) > MAX_BODY - 1:
            raise ApiError(
                422,
                "Invalid request.\n\nOnly 65535 characters are allowed; "
                + f"{len(output[key])} were supplied.",
                errors=[{"resource": "CheckRun", "field": f"output.{key}", "code": "custom"}],
            )
    annotations = output.get("annotations") or []
    if len(annotations) > MAX_ANNOTATIONS:
        raise ApiError(
            422,
            f"Invalid request.\n\nAt most {MAX_ANNOTATIONS} annotations are allowed per request.",
        )
    for key in ("title", "summary", "text"):
        if key in output:
            check.output[key] = output[key]
    check.annotations.extend(annotations)  # GitHub appends annotations across updates


def _apply_check(body: dict[str, Any], check: CheckRun, now: str) -> None:
    for key in ("name", "details_url", "external_id", "started_at", "completed_at"):
        if key in body:
            setattr(check, key, body[key])
    if body.get("conclusion") is not None:
        check.conclusion, check.status = body["conclusion"], "completed"
    elif "status" in body:
        check.status = body["status"]
    if check.status == "completed" and check.conclusion is None:
        raise ApiError(422, "Invalid request.\n\nNo conclusion given for a completed check run.")
    if check.status in ("in_progress", "completed") and not check.started_at:
        check.started_at = now
    if check.status == "completed" and not check.completed_at:
        check.completed_at = now


@handles("checks/create")
def _create_check(fake: FakeGitHub, req: Request) -> tuple[int, Any]:
    body = req.json
    if fake.state.git.kind(body["head_sha"]) != "commit":
        raise ApiError(422, "No commit found for SHA: " + body["head_sha"])
    check = CheckRun(fake.state.next_id(), _repo(req), body["name"], body["head_sha"])
    _apply_check(body, check, iso(fake.state.now()))
    _check_output(body, check)
    fake.state.check_runs[check.id] = check
    return 201, req.views.check_run(check)


def _check(fake: FakeGitHub, req: Request) -> CheckRun:
    return _owned(fake.state.check_runs, req, "check_run_id")


@handles("checks/update")
def _update_check(fake: FakeGitHub, req: Request) -> tuple[int, Any]:
    check = _check(fake, req)
    _apply_check(req.json, check, iso(fake.state.now()))
    _check_output(req.json, check)
    check.updates += 1
    return 200, req.views.check_run(check)


@handles("checks/get")
def _get_check(fake: FakeGitHub, req: Request) -> tuple[int, Any]:
    return 200, req.views.check_run(_check(fake, req))


@handles("checks/list-for-ref")
def _checks_for_ref(fake: FakeGitHub, req: Request) -> tuple[int, Any, dict[str, str]]:
    sha = fake.state.resolve_commit(_repo(req), req.params["ref"])
    if sha is None:
        raise ApiError(422, f"No commit found for SHA: {req.params['ref']}")
    checks = [c for c in fake.state.check_runs.values() if c.repo == _repo(req) and c.head_sha == sha]
    if req.q("check_name"):
        checks = [c for c in checks if c.name == req.q("check_name")]
    if req.q("status"):
        checks = [c for c in checks if c.status == req.q("status")]
    page, links = _page(req, checks)
    return (
        200,
        {
            "total_count": len(checks),
            "check_runs": [req.views.check_run(c) for c in page],
        },
        links,
    )


# ---- issues and comments ---------------------------------------------------------------------


def _issue(fake: FakeGitHub, req: Request) -> Any:
    issue = fake.state.issues.get((_repo(req), _int(req.params["issue_number"])))
    if issue is None:
        raise ApiError(404, "Not Found")
    return issue


@handles("issues/get")
def _get_issue(fake: FakeGitHub, req: Request) -> tuple[int, Any]:
    return 200, req.views.issue(_issue(fake, req))


@handles("issues/list-for-repo")
def _list_issues(fake: FakeGitHub, req: Request) -> tuple[int, Any, dict[str, str]]:
    """Issues and pull requests of the repository (GitHub lists both here), filtered by ``state``
    (default ``open``) and ``creator``, sorted by ``created`` (default) or ``updated``,
    ``direction`` ``desc`` by default."""
    state = req.q("state", "open")
    found = [i for i in fake.state.issues.values() if i.repo == _repo(req) and state in ("all", i.state)]
    if req.q("creator"):
        found = [i for i in found if i.user.lower() == req.q("creator", "").lower()]
    key = (
        (lambda i: (i.updated or i.created, i.number))
        if req.q("sort") == "updated"
        else (lambda i: (i.created, i.number))
    )
    found.sort(key=key, reverse=req.q("direction", "desc") != "asc")
    page, links = _page(req, found)
    return 200, [req.views.issue(i) for i in page], links


@handles("issues/create")
def _create_issue(fake: FakeGitHub, req: Request) -> tuple[int, Any]:
    body = req.json
    _body_limit("Issue", body.get("body"))
    title = str(body.get("title") or "")
    if not title.strip():
        raise ApiError(
            422,
            "Validation Failed",
            errors=[{"resource": "Issue", "code": "missing_field", "field": "title"}],
        )
    issue = fake.state.add_issue(
        _repo(req), title=title, user=fake.state.identity, body=body.get("body") or ""
    )
    return 201, req.views.issue(issue)


@handles("issues/update")
def _update_issue(fake: FakeGitHub, req: Request) -> tuple[int, Any]:
    issue = _issue(fake, req)
    if issue.user != fake.state.identity and fake.state.permission(issue.repo, fake.state.identity) not in (
        "admin",
        "maintain",
        "write",
    ):
        raise ApiError(403, "Resource not accessible by integration")
    body = req.json
    _body_limit("Issue", body.get("body"))
    if body.get("body") is not None:
        issue.body = body["body"]
    if body.get("title") is not None:
        issue.title = str(body["title"])
    if body.get("state") in ("open", "closed"):
        issue.state = body["state"]
    issue.updated = fake.state.now()
    fake.state.issue_edits.append({"repo": issue.repo, "number": issue.number, "fields": sorted(body)})
    return 200, req.views.issue(issue)


@handles("issues/list-comments")
def _list_comments(fake: FakeGitHub, req: Request) -> tuple[int, Any, dict[str, str]]:
    issue = _issue(fake, req)
    comments = [
        c for c in fake.state.comments.values() if c.repo == issue.repo and c.issue_number == issue.number
    ]
    page, links = _page(req, sorted(comments, key=lambda c: c.id))
    return 200, [req.views.comment(c) for c in page], links


@handles("issues/create-comment")
def _create_comment(fake: FakeGitHub, req: Request) -> tuple[int, Any]:
    issue = _issue(fake, req)
    body = req.json["body"]
    if len(body) > MAX_BODY:
        raise ApiError(
            422,
            "Validation Failed",
            errors=[
                {
                    "resource": "IssueComment",
                    "code": "unprocessable",
                    "field": "data",
                    "message": "Body is too long (maximum is 65536 characters)",
                }
            ],
        )
    now = fake.state.now()
    comment = Comment(
        fake.state.next_id(),
        issue.repo,
        issue.number,
        fake.state.identity,
        body,
        now,
        now,
    )
    fake.state.comments[comment.id] = comment
    return 201, req.views.comment(comment)


def _comment(fake: FakeGitHub, req: Request) -> Comment:
    return _owned(fake.state.comments, req, "comment_id")


@handles("issues/get-comment")
def _get_comment(fake: FakeGitHub, req: Request) -> tuple[int, Any]:
    return 200, req.views.comment(_comment(fake, req))


@handles("issues/update-comment")
def _update_comment(fake: FakeGitHub, req: Request) -> tuple[int, Any]:
    comment = _comment(fake, req)
    if comment.user != fake.state.identity and fake.state.permission(
        comment.repo, fake.state.identity
    ) not in ("admin", "maintain", "write"):
        raise ApiError(403, "Resource not accessible by integration")
    if len(req.json["body"]) > MAX_BODY:
        raise ApiError(
            422,
            "Validation Failed",
            errors=[
                {
                    "resource": "IssueComment",
                    "code": "unprocessable",
                    "field": "data",
                    "message": "Body is too long (maximum is 65536 characters)",
                }
            ],
        )
    comment.body, comment.updated = req.json["body"], fake.state.now()
    return 200, req.views.comment(comment)


@handles("reactions/create-for-issue-comment")
def _react(fake: FakeGitHub, req: Request) -> tuple[int, Any]:
    comment = _comment(fake, req)
    content = req.json["content"]
    for r in fake.state.reactions.values():
        if r.comment_id == comment.id and r.user == fake.state.identity and r.content == content:
            return 200, req.views.reaction(r)
    reaction = Reaction(fake.state.next_id(), comment.id, fake.state.identity, content, fake.state.now())
    fake.state.reactions[reaction.id] = reaction
    return 201, req.views.reaction(reaction)


@handles("reactions/list-for-issue-comment")
def _list_reactions(fake: FakeGitHub, req: Request) -> tuple[int, Any, dict[str, str]]:
    comment = _comment(fake, req)
    found = [
        r
        for r in fake.state.reactions.values()
        if r.comment_id == comment.id and req.q("content") in (None, r.content)
    ]
    page, links = _page(req, found)
    return 200, [req.views.reaction(r) for r in page], links


@handles("issues/remove-label")
def _remove_label(fake: FakeGitHub, req: Request) -> tuple[int, Any]:
    issue = _issue(fake, req)
    name = req.params["name"]
    if name not in issue.labels:
        raise ApiError(404, "Label does not exist")
    issue.labels.remove(name)
    fake.state.label_removals.append({"repo": issue.repo, "number": issue.number, "label": name})
    return 200, [req.views.label(issue.repo, n) for n in issue.labels]


# ---- pulls -----------------------------------------------------------------------------------


def _pull(fake: FakeGitHub, req: Request) -> Any:
    pr = fake.state.pull(_repo(req), _int(req.params["pull_number"]))
    if pr is None:
        raise ApiError(404, "Not Found")
    return pr


@handles("pulls/get")
def _get_pull(fake: FakeGitHub, req: Request) -> tuple[int, Any]:
    return 200, req.views.pull(_pull(fake, req))


@handles("pulls/list")
def _list_pulls(fake: FakeGitHub, req: Request) -> tuple[int, Any, dict[str, str]]:
    state = req.q("state", "open")
    found = [
        i for i in fake.state.issues.values() if i.repo == _repo(req) and i.pull and state in ("all", i.state)
    ]
    head = req.q("head")
    if head:
        owner, _, branch = head.partition(":")
        if not branch:
            raise ApiError(
                422,
                "Validation Failed",
                errors=[{"resource": "Search", "field": "q", "code": "invalid"}],
            )  # GitHub wants user:ref
        found = [i for i in found if i.pull.head_ref == branch and i.pull.head_repo.split("/")[0] == owner]
    if req.q("base"):
        found = [i for i in found if i.pull.base_ref == req.q("base")]
    found.sort(key=lambda i: -i.number)
    page, links = _page(req, found)
    return 200, [req.views.pull(i, full=False) for i in page], links


@handles("repos/list-pull-requests-associated-with-commit")
def _pulls_for_commit(fake: FakeGitHub, req: Request) -> tuple[int, Any, dict[str, str]]:
    sha = req.params["commit_sha"]
    found = [
        i for i in fake.state.issues.values() if i.repo == _repo(req) and i.pull and i.pull.head_sha == sha
    ]
    page, links = _page(req, sorted(found, key=lambda i: -i.number))
    return 200, [req.views.pull(i, full=False) for i in page], links


def _body_limit(resource: str, text: str | None) -> None:
    """GitHub's 422 for a comment, pull request or review body over 65,536 characters."""
    if text is not None and len(text) > MAX_BODY:
        raise ApiError(
            422,
            "Validation Failed",
            errors=[
                {
                    "resource": resource,
                    "code": "custom",
                    "field": "body",
                    "message": "body is too long (maximum is 65536 characters)",
                }
            ],
        )


@handles("pulls/create")
def _create_pull(fake: FakeGitHub, req: Request) -> tuple[int, Any]:
    body, full_name = req.json, _repo(req)
    _body_limit("PullRequest", body.get("body"))
    head = body["head"]
    owner, _, branch = head.rpartition(":")
    head_repo = (
        full_name
        if not owner or owner == fake.state.repo(full_name).owner
        else next(
            (r.full_name for r in fake.state.repos.values() if r.owner == owner and r.fork_of == full_name),
            None,
        )
    )
    if head_repo is None or fake.state.resolve_commit(head_repo, f"refs/heads/{branch}") is None:
        raise ApiError(
            422,
            "Validation Failed",
            errors=[{"resource": "PullRequest", "field": "head", "code": "invalid"}],
        )
    if fake.state.resolve_commit(full_name, f"refs/heads/{body['base']}") is None:
        raise ApiError(
            422,
            "Validation Failed",
            errors=[{"resource": "PullRequest", "field": "base", "code": "invalid"}],
        )
    for i in fake.state.issues.values():
        if (
            i.repo == full_name
            and i.pull
            and i.state == "open"
            and i.pull.head_repo == head_repo
            and i.pull.head_ref == branch
            and i.pull.base_ref == body["base"]
        ):
            raise ApiError(
                422,
                "Validation Failed",
                errors=[
                    {
                        "resource": "PullRequest",
                        "code": "custom",
                        "message": f"A pull request already exists for {head_repo.split('/')[0]}:{branch}.",
                    }
                ],
            )
    pr = fake.state.add_pull(
        full_name,
        head_branch=branch,
        head_repo=head_repo,
        base=body["base"],
        title=body.get("title") or branch,
        user=fake.state.identity,
        body=body.get("body") or "",
        maintainer_can_modify=bool(body.get("maintainer_can_modify")),
    )
    pr.pull.draft = bool(body.get("draft"))
    return 201, req.views.pull(pr)


@handles("pulls/list-files")
def _pull_files(fake: FakeGitHub, req: Request) -> tuple[int, Any, dict[str, str]]:
    page, links = _page(req, req.views.pull_files(_pull(fake, req))[:MAX_PULL_FILES])
    return 200, page, links


def _diff_lines(files: list[dict[str, Any]], path: str) -> tuple[set[int], set[int], str] | None:
    """(right-side lines, left-side lines, patch) that a review comment may target in ``path``."""
    import unidiff

    entry = next((f for f in files if f["filename"] == path), None)
    if entry is None:
        return None
    text = f"--- a/{path}\n+++ b/{path}\n{entry['patch']}\n"
    right, left = set(), set()
    for pf in unidiff.PatchSet(text):
        for hunk in pf:
            for line in hunk:
                if line.target_line_no is not None:
                    right.add(line.target_line_no)
                if line.source_line_no is not None:
                    left.add(line.source_line_no)
    return right, left, entry["patch"]


def _check_review_comment(files: list[dict[str, Any]], c: dict[str, Any]) -> str:
    """Validate a review comment's position against the PR diff (GitHub answers 422 otherwise)."""
    found = _diff_lines(files, c["path"])
    if found is None:
        raise ApiError(
            422,
            "Unprocessable Entity",
            errors=[f"Path could not be resolved: {c['path']}"],
        )
    right, left, patch = found
    lines = right if c.get("side", "RIGHT") == "RIGHT" else left
    for key in ("line", "start_line"):
        if c.get(key) is not None and c[key] not in lines:
            raise ApiError(
                422,
                "Unprocessable Entity",
                errors=[f"Line could not be resolved: {c['path']}:{c[key]} is not part of the diff"],
            )
    if c.get("line") is None and c.get("position") is None and c.get("subject_type") != "file":
        raise ApiError(422, "Unprocessable Entity", errors=["line or position is required"])
    return patch


@handles("pulls/create-review")
def _create_review(fake: FakeGitHub, req: Request) -> tuple[int, Any]:
    pr = _pull(fake, req)
    body = req.json
    _body_limit("PullRequestReview", body.get("body"))
    files = req.views.pull_files(pr)
    comments = body.get("comments") or []
    for c in comments:
        _check_review_comment(files, c)
    event = body.get("event") or "PENDING"
    if event in ("REQUEST_CHANGES", "COMMENT") and not body.get("body") and not comments:
        raise ApiError(422, "Unprocessable Entity", errors=[f"Review body is required for {event}"])
    if event == "APPROVE" and pr.user == fake.state.identity:
        raise ApiError(
            422,
            "Unprocessable Entity",
            errors=["Can not approve your own pull request"],
        )
    review = Review(
        fake.state.next_id(),
        pr.repo,
        pr.number,
        fake.state.identity,
        body.get("body") or "",
        event,
        body.get("commit_id") or pr.pull.head_sha,
        list(comments),
    )
    fake.state.reviews[review.id] = review
    for c in comments:
        rc = ReviewComment(
            fake.state.next_id(),
            pr.repo,
            pr.number,
            fake.state.identity,
            c["body"],
            c["path"],
            review.commit_id,
            c.get("line"),
            c.get("side", "RIGHT"),
            c.get("start_line"),
            review.id,
        )
        fake.state.review_comments[rc.id] = rc
    return 200, req.views.review(review)


@handles("pulls/create-review-comment")
def _create_review_comment(fake: FakeGitHub, req: Request) -> tuple[int, Any]:
    pr = _pull(fake, req)
    body = req.json
    if body.get("in_reply_to"):
        raise ApiError(422, "replies are not supported by the fake")
    if fake.state.git.kind(body["commit_id"]) != "commit":
        raise ApiError(
            422,
            "Unprocessable Entity",
            errors=["commit_id is not part of the pull request"],
        )
    patch = _check_review_comment(req.views.pull_files(pr), body)
    rc = ReviewComment(
        fake.state.next_id(),
        pr.repo,
        pr.number,
        fake.state.identity,
        body["body"],
        body["path"],
        body["commit_id"],
        body.get("line"),
        body.get("side", "RIGHT"),
        body.get("start_line"),
        fake.state.next_id(),
    )
    fake.state.review_comments[rc.id] = rc
    return 201, req.views.review_comment(rc, patch)


__all__ = ["BOT_LOGIN", "HANDLERS", "ApiError", "Failure", "FakeGitHub", "Recorded"]
