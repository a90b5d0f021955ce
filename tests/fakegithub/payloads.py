"""Webhook event payloads built from GitHub's real examples, made consistent with the fake's state.

Each builder deep-copies an example from ``@octokit/webhooks-examples`` (``api.github.com/index.json``)
and overlays the objects the fake renders for the same repository, run, issue or comment, so ids,
shas, logins and URLs agree with what the fake's API answers. Keys only the webhook has keep the
example's value; keys only the REST object has are not added (the webhook shape is kept).
Write the result to a file and point ``GITHUB_EVENT_PATH`` at it.
"""

from __future__ import annotations

import copy
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from .spec import webhook_examples_path
from .state import FakeState, StateError
from .views import Views


@lru_cache(maxsize=1)
def _examples() -> dict[str, list[dict[str, Any]]]:
    data = json.loads(webhook_examples_path().read_text(encoding="utf-8"))
    return {event["name"]: event["examples"] for event in data}


def example(event: str, action: str | None = None) -> dict[str, Any]:
    """A deep copy of GitHub's first example of ``event`` with ``action`` (``None`` = no action key).

    Raises :class:`StateError` when the package has no such example.
    """
    for item in _examples().get(event, []):
        if item.get("action") == action:
            return copy.deepcopy(item)
    raise StateError(f"no {event}/{action} example in @octokit/webhooks-examples")


def _overlay(base: Any, ours: dict[str, Any]) -> dict[str, Any]:
    """``base`` (the example object) with every key it shares with ``ours`` replaced by ours."""
    if not isinstance(base, dict):
        return dict(ours)
    out = dict(base)
    for key, value in ours.items():
        if key in out:
            out[key] = value
    return out


def _views(state: FakeState, api: str, web: str) -> Views:
    return Views(state, api.rstrip("/"), web.rstrip("/"))


def _common(payload: dict[str, Any], views: Views, full_name: str, sender: str) -> dict[str, Any]:
    payload["repository"] = _overlay(payload.get("repository"), views.repo(full_name, full=True))
    payload["sender"] = _overlay(payload.get("sender"), views.user(sender))
    owner = views.state.users[views.state.repo(full_name).owner]
    if owner.type == "Organization":
        payload["organization"] = _overlay(
            payload.get("organization"),
            {
                "login": owner.login,
                "id": owner.id,
                "url": f"{views.api}/orgs/{owner.login}",
            },
        )
    else:
        payload.pop("organization", None)
    payload.pop("installation", None)
    payload.pop("enterprise", None)
    return payload


def workflow_run_completed(
    state: FakeState,
    run_id: int,
    *,
    api: str,
    web: str = "https://github.com",
    conclusion: str | None = None,
    sender: str | None = None,
) -> dict[str, Any]:
    """``workflow_run`` ``completed`` for run ``run_id`` (its conclusion, head_sha, head_branch,
    pull_requests and head_repository come from the state; ``conclusion`` overrides the run's)."""
    with state.lock:
        run = state.runs.get(run_id)
        if run is None:
            raise StateError(f"unknown run {run_id}")
        if conclusion is not None:
            run.conclusion = conclusion
        views = _views(state, api, web)
        payload = example("workflow_run", "completed")
        rendered = views.run(run)
        wr = _overlay(payload["workflow_run"], rendered)
        wr["repository"] = _overlay(payload["workflow_run"].get("repository"), views.repo(run.repo))
        wr["head_repository"] = _overlay(
            payload["workflow_run"].get("head_repository"), views.repo(run.head_repo)
        )
        for key in ("actor", "triggering_actor", "display_title", "path"):
            wr[key] = rendered[key]
        payload["workflow_run"] = wr
        payload["workflow"] = _overlay(payload.get("workflow"), views.workflow(run.workflow_id))
        return _common(payload, views, run.repo, sender or run.actor)


def issue_comment(
    state: FakeState,
    comment_id: int,
    *,
    api: str,
    web: str = "https://github.com",
    action: str = "created",
    previous_body: str | None = None,
) -> dict[str, Any]:
    """``issue_comment`` ``created``/``edited``/``deleted`` for a comment already in the state.

    On a PR the ``issue`` object carries ``pull_request`` (GitHub's marker of a PR comment). For
    ``edited`` pass ``previous_body`` (``changes.body.from``).
    """
    with state.lock:
        comment = state.comments.get(comment_id)
        if comment is None:
            raise StateError(f"unknown comment {comment_id}")
        views = _views(state, api, web)
        payload = example("issue_comment", action)
        issue = state.issues[(comment.repo, comment.issue_number)]
        rendered_issue = views.issue(issue)
        payload["issue"] = _overlay(payload["issue"], rendered_issue)
        payload["issue"].pop("pull_request", None)
        if "pull_request" in rendered_issue:
            payload["issue"]["pull_request"] = rendered_issue["pull_request"]
        payload["comment"] = _overlay(payload["comment"], views.comment(comment))
        if action == "edited":
            payload["changes"] = {"body": {"from": previous_body if previous_body is not None else ""}}
        return _common(payload, views, comment.repo, comment.user)


def pull_request_labeled(
    state: FakeState,
    repo: str,
    number: int,
    label: str,
    *,
    sender: str,
    api: str,
    web: str = "https://github.com",
) -> dict[str, Any]:
    """``pull_request`` ``labeled``: adds ``label`` to PR ``number`` in the state and describes it."""
    with state.lock:
        pr = state.pull(repo, number)
        if pr is None:
            raise StateError(f"no PR #{number} in {repo}")
        if label not in pr.labels:
            pr.labels.append(label)
        pr.updated = state.now()  # adding a label updates the pull request, as on GitHub
        views = _views(state, api, web)
        payload = example("pull_request", "labeled")
        payload["number"] = number
        payload["pull_request"] = _overlay(payload["pull_request"], views.pull(pr))
        payload["label"] = _overlay(payload.get("label"), views.label(repo, label))
        return _common(payload, views, repo, sender)


def workflow_dispatch(
    state: FakeState,
    repo: str,
    workflow_id: int,
    *,
    ref: str,
    inputs: dict[str, Any] | None = None,
    sender: str,
    api: str,
    web: str = "https://github.com",
) -> dict[str, Any]:
    """``workflow_dispatch`` of ``workflow_id`` on ``ref`` (``refs/heads/x`` or a branch name)."""
    with state.lock:
        wf = state.workflows.get(workflow_id)
        if wf is None or wf.repo != repo:
            raise StateError(f"unknown workflow {workflow_id} in {repo}")
        views = _views(state, api, web)
        payload = example("workflow_dispatch")
        payload["ref"] = ref if ref.startswith("refs/") else f"refs/heads/{ref}"
        payload["inputs"] = dict(inputs or {})
        payload["workflow"] = wf.path
        return _common(payload, views, repo, sender)


def write_event(path: Path, payload: dict[str, Any]) -> Path:
    """Write ``payload`` as the JSON file ``GITHUB_EVENT_PATH`` points at; returns ``path``."""
    path.write_text(json.dumps(payload, indent=2), encoding="utf-8")
    return path
