"""Entry point of the GitHub Action.

:func:`main` only builds the clients — settings from the environment, a PyGithub client on
``GITHUB_API_URL`` with :class:`~ci_healer.github_api.WriteSafeRetry`, the :class:`~ci_healer.workflow_commands.Runner`
and the backend factory — and calls :func:`run`, which is pure orchestration with every I/O
object injected: mask the secrets, read the event, let :func:`ci_healer.events.route` decide, and
hand over to the analyze, apply or verify flow.

Exit codes: 0 — done, skipped, or an approval refused (the reply says why); 1 — bad settings, a
malformed event or a GitHub API failure (the job summary explains the cause and the fix, and one
``::error::`` is printed).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from ci_healer.analyze_run import run_analyze
from ci_healer.apply_fix import run_apply, run_reject
from ci_healer.backends import make_backend
from ci_healer.events import (
    Analyze,
    Apply,
    EventError,
    Reject,
    RerunPassed,
    Skip,
    Verify,
    load_event,
    route,
)
from ci_healer.flow import EXIT_FAILURE, EXIT_OK, BackendFactory, Context, fail, render_md
from ci_healer.github_api import GitHubClient, make_github
from ci_healer.ledger import clear_cache
from ci_healer.render import escape_prose
from ci_healer.settings import ActionSettings, SettingsError
from ci_healer.workflow_commands import Runner


def _die(runner: Runner, what: str, detail: str, hint: str) -> int:
    def esc(text: str) -> str:
        return escape_prose(text, repository=None)

    runner.append_summary(render_md("action_error.md.j2", what=esc(what), detail=esc(detail), hint=esc(hint)))
    runner.error(f"ci-healer: {what}: {detail}")
    return EXIT_FAILURE


def run(
    *,
    settings: ActionSettings,
    github: GitHubClient,
    runner: Runner,
    backend_factory: BackendFactory,
    event: Mapping[str, Any] | None = None,
) -> int:
    """Handle one event. ``event`` is the parsed payload; ``None`` reads ``settings.event_path``.

    Never raises for bad input or API failures; returns the exit code.
    """
    clear_cache()  # the ledger is read once per event (a process may handle several, as tests do)
    for secret in settings.secret_values():
        runner.add_mask(secret)
    try:
        payload = dict(event) if event is not None else load_event(settings.event_path)
        activity = route(settings.event_name, payload, settings, bot_login=github.bot_login)
    except EventError as err:
        return _die(
            runner,
            "the event payload cannot be used",
            str(err),
            "ci-healer reads the event GitHub delivers (GITHUB_EVENT_PATH); run it from the example workflows.",
        )
    ctx = Context(settings=settings, gh=github, runner=runner, backend_factory=backend_factory)
    if isinstance(activity, Skip):
        runner.notice(f"ci-healer skipped: {activity.reason}")
        return EXIT_OK
    try:
        if isinstance(activity, Analyze):
            return run_analyze(ctx, activity.run).exit_code
        if isinstance(activity, Verify):
            from ci_healer.verify_fix import run_verify

            return run_verify(ctx, activity.run, analyze=run_analyze)
        if isinstance(activity, Apply):
            return run_apply(ctx, activity)
        if isinstance(activity, Reject):
            return run_reject(ctx, activity)
        if isinstance(activity, RerunPassed):
            from ci_healer.rerun import run_rerun_passed

            return run_rerun_passed(ctx, activity.run)
    except Exception as err:
        return fail(ctx, f"internal error ({type(err).__name__})", None, hint=str(err)[:500])
    return EXIT_OK  # pragma: no cover - route returns one of the handled types


def main(environ: Mapping[str, str] | None = None) -> int:
    """Build the clients from the environment and run; returns the exit code."""
    env = dict(os.environ if environ is None else environ)
    runner = Runner(environ=env)
    try:
        settings = ActionSettings.from_environ(env)
    except SettingsError as err:
        return _die(
            runner, "invalid settings", str(err), "Fix the input named above in the workflow's `with:` block."
        )
    gh = make_github(token=settings.github_token.get_secret_value(), api_url=settings.api_url)
    client = GitHubClient(gh, settings.repository, bot_login=settings.bot_login)

    def backend_factory(repo):
        return make_backend(settings.backend, repo=repo)

    return run(settings=settings, github=client, runner=runner, backend_factory=backend_factory)
