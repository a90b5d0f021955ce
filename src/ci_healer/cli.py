"""Command line: ``ci-healer extract``, ``ci-healer analyze`` and (in the container) ``ci-healer action``.

``ci-healer analyze --run URL`` reads a failed workflow run through the REST API (the Action's own
gathering, :mod:`ci_healer.run_source`) instead of a log file, and can apply the diff (``--apply``).

Exit codes: 0 — done (for ``analyze``: an analysis was produced, whatever its risk);
2 — bad usage or unreadable input; 3 — ``analyze`` produced no usable proposal because the backend
or the proposal failed (the analysis is still printed, with the reason).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence

from pydantic import SecretStr

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_ANALYSIS_FAILED = 3


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive: {value}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 < value <= 3600:
        raise argparse.ArgumentTypeError(f"must be above 0 and at most 3600 seconds: {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser of all subcommands (also used by the README contract test)."""
    parser = argparse.ArgumentParser(
        prog="ci-healer",
        description="Turn a failed CI job log into a root cause, a risk badge and a reviewed minimal diff.",
    )
    from ci_healer import __version__

    parser.add_argument("--version", action="version", version=f"ci-healer {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    ex = sub.add_parser("extract", help="print the failure blocks of one or more job logs")
    ex.add_argument("logs", nargs="+", metavar="LOG", help="log file(s); '-' reads standard input")
    ex.add_argument("--format", choices=("text", "json"), default="text")
    ex.add_argument(
        "--max-tokens", type=_positive_int, default=1500, help="token budget of the blocks (default 1500)"
    )

    an = sub.add_parser("analyze", help="analyze a failed job log or workflow run: root cause, risk and diff")
    source = an.add_mutually_exclusive_group(required=True)
    source.add_argument("--log", help="the failed job log; '-' reads standard input")
    source.add_argument(
        "--run",
        metavar="RUN",
        help="a failed workflow run: https://github.com/OWNER/NAME/actions/runs/ID[/attempts/N|/job/JOBID] or OWNER/NAME/ID",
    )
    an.add_argument(
        "--repo",
        help="the repository at the failing commit (a local folder); without it no diff is made "
        "(with --run: default the current folder when it is a checkout at the head SHA, else the API)",
    )
    an.add_argument(
        "--backend",
        choices=("auto", "rules", "openai", "bedrock", "github-models"),
        default="auto",
        help="auto = openai or bedrock when their credentials are set, else the offline rules; "
        "github-models = GitHub Models with the GitHub token",
    )
    an.add_argument("--format", choices=("markdown", "json", "diff"), default="markdown")
    an.add_argument("--model", help="model id (openai or bedrock)")
    an.add_argument(
        "--openai-base-url",
        default=os.environ.get("OPENAI_BASE_URL"),
        help="OpenAI-compatible endpoint (Azure OpenAI, GitHub Models, Ollama, vLLM)",
    )
    an.add_argument("--aws-region", default=None)
    an.add_argument(
        "--max-tokens", type=_positive_int, default=1500, help="token budget of the failure blocks"
    )
    an.add_argument("--max-prompt-tokens", type=_positive_int, default=6000)
    an.add_argument(
        "--llm-timeout",
        type=_seconds,
        default=60.0,
        metavar="SECONDS",
        help="seconds one openai/bedrock request may take (default 60)",
    )
    an.add_argument(
        "--protected-path", action="append", default=[], metavar="GLOB", help="add to the deny list"
    )
    an.add_argument(
        "--allowed-path", action="append", default=[], metavar="GLOB", help="lift a default deny-list entry"
    )
    an.add_argument(
        "--api-url",
        default=os.environ.get("GITHUB_API_URL"),
        help="REST API base for --run (or GITHUB_API_URL); GitHub Enterprise Server: https://HOST/api/v3",
    )
    an.add_argument(
        "--apply",
        action="store_true",
        help="with --run: apply the diff to the local work tree after a y/N prompt",
    )
    an.add_argument(
        "--yes", action="store_true", help="with --apply: apply without asking (needed without a terminal)"
    )

    rp = sub.add_parser(
        "report", help="figures of ci-healer's proposals in a repository (reads GITHUB_TOKEN)"
    )
    rp.add_argument("--repo", required=True, metavar="OWNER/NAME", help="the repository to report on")
    rp.add_argument(
        "--since", default="30d", help="start of the period: 30d, 12h, 2w or a date (default 30d)"
    )
    rp.add_argument("--format", choices=("markdown", "json", "csv"), default="markdown")
    rp.add_argument(
        "--max-pulls", type=_positive_int, default=100, help="newest pull requests to read (default 100)"
    )
    rp.add_argument(
        "--bot-login",
        default="github-actions[bot]",
        help="login ci-healer posts as (the bot-login input of the Action)",
    )

    sub.add_parser(
        "action", help="run as the GitHub Action (reads GITHUB_EVENT_NAME, GITHUB_EVENT_PATH, INPUT_*)"
    )
    return parser


def _read_log_arg(path: str):
    if path == "-":
        return sys.stdin.buffer
    if not os.path.isfile(path):
        raise FileNotFoundError(f"log file not found: {path}")
    return path


def _cmd_extract(args: argparse.Namespace) -> int:
    from ci_healer.extract import extract

    several = len(args.logs) > 1
    status = EXIT_OK
    for path in args.logs:
        try:
            result = extract(_read_log_arg(path), max_tokens=args.max_tokens)
        except OSError as err:
            print(f"ci-healer: {err}", file=sys.stderr)
            status = EXIT_USAGE
            continue
        if args.format == "json":
            payload = result.model_dump(mode="json")
            if several:
                payload = {"path": path, **payload}
            print(json.dumps(payload, ensure_ascii=False))
        else:
            if several:
                print(f"==> {path} <==")
            print(
                f"{len(result.blocks)} block(s), {result.tokens} tokens (estimated), {result.lines_total} lines"
            )
            for block in result.blocks:
                print(f"--- lines {block.start_line}-{block.end_line} ({block.reason})")
                print(block.text.rstrip("\n"))
    return status


def _cmd_analyze(args: argparse.Namespace) -> int:
    if args.run is not None:
        return _cmd_analyze_run(args)
    if args.apply or args.yes:
        print(
            "ci-healer: --apply and --yes need --run (with --log, pipe --format diff to git apply)",
            file=sys.stderr,
        )
        return EXIT_USAGE
    from ci_healer.backends import BackendError, BackendSettings, make_backend
    from ci_healer.engine import AnalyzeOptions, analyze
    from ci_healer.policy import PolicyConfig
    from ci_healer.repo import LocalRepo, RepoError
    from ci_healer.settings import backend_from_environment

    try:
        log = _read_log_arg(args.log)
        repo = LocalRepo(args.repo) if args.repo else None
    except (OSError, RepoError) as err:
        print(f"ci-healer: {err}", file=sys.stderr)
        return EXIT_USAGE

    key = os.environ.get("OPENAI_API_KEY")
    token = os.environ.get("GITHUB_TOKEN") or _models_token(args)
    settings = backend_from_environment(
        BackendSettings(
            backend=args.backend,
            model=args.model,
            openai_base_url=args.openai_base_url,
            openai_api_key=SecretStr(key) if key else None,
            github_token=SecretStr(token) if token else None,
            aws_region=args.aws_region,
            max_prompt_tokens=args.max_prompt_tokens,
            timeout_s=args.llm_timeout,
        ),
        os.environ,
    )
    try:
        backend = make_backend(settings, repo=repo)
    except BackendError as err:
        print(f"ci-healer: {err}", file=sys.stderr)
        return EXIT_USAGE
    options = AnalyzeOptions(
        max_tokens=args.max_tokens,
        secrets=settings.secret_values(),
        policy=PolicyConfig(protected_paths=args.protected_path, allowed_paths=args.allowed_path),
    )
    try:
        analysis = analyze(log, repo=repo, backend=backend, options=options)
    except OSError as err:
        print(f"ci-healer: cannot read the log: {err}", file=sys.stderr)
        return EXIT_USAGE

    _print_analysis(analysis, args.format)
    return EXIT_ANALYSIS_FAILED if analysis.status == "failed" else EXIT_OK


def _print_analysis(analysis, fmt: str) -> None:
    """Write ``analysis`` to standard output in ``fmt`` (markdown, json or diff)."""
    from ci_healer.render import render_cli_markdown

    if fmt == "json":
        print(analysis.model_dump_json(indent=2))
    elif fmt == "diff":
        if analysis.diff:
            sys.stdout.write(analysis.diff)
        else:
            print(
                f"ci-healer: no diff ({analysis.status}): {analysis.message or analysis.root_cause}",
                file=sys.stderr,
            )
    else:
        sys.stdout.write(render_cli_markdown(analysis))


def _models_token(args: argparse.Namespace) -> str | None:
    """With ``--backend github-models`` and no ``GITHUB_TOKEN``: ``GH_TOKEN`` or ``gh auth token``."""
    if args.backend != "github-models":
        return None
    from ci_healer.run_source import RunRefError, resolve_token

    try:
        return resolve_token(os.environ).get_secret_value()
    except RunRefError:
        return None


def _confirm(question: str) -> bool:
    sys.stderr.write(question)
    sys.stderr.flush()
    return sys.stdin.readline().strip().lower() in ("y", "yes")


def _cmd_analyze_run(args: argparse.Namespace) -> int:
    """``analyze --run``: read the run through the API, analyze it as the Action would, print it in
    ``--format``, and with ``--apply`` apply its diff (see :mod:`ci_healer.run_source`)."""
    from ci_healer.backends import BackendError, BackendSettings
    from ci_healer.repo import RepoError
    from ci_healer.run_source import (
        ApplyRefused,
        RunRefError,
        analyze_run_ref,
        apply_diff,
        parse_run_ref,
        resolve_token,
        stderr_is_tty,
    )

    try:
        ref = parse_run_ref(args.run, api_url=args.api_url, server_url=os.environ.get("GITHUB_SERVER_URL"))
        token = resolve_token(os.environ, host=ref.host)
    except RunRefError as err:
        print(f"ci-healer: {err}", file=sys.stderr)
        return EXIT_USAGE
    if args.repo is not None and not os.path.isdir(args.repo):
        print(f"ci-healer: repository folder not found: {args.repo}", file=sys.stderr)
        return EXIT_USAGE
    key = os.environ.get("OPENAI_API_KEY")
    backend = BackendSettings(
        backend=args.backend,
        model=args.model,
        openai_base_url=args.openai_base_url,
        openai_api_key=SecretStr(key) if key else None,
        aws_region=args.aws_region,
        max_prompt_tokens=args.max_prompt_tokens,
        timeout_s=args.llm_timeout,
    )
    try:
        result = analyze_run_ref(
            ref,
            token=token,
            backend=backend,
            repo_folder=args.repo,
            cwd=os.getcwd(),
            stderr=sys.stderr,
            progress=stderr_is_tty(sys.stderr),
            protected_paths=args.protected_path,
            allowed_paths=args.allowed_path,
            max_block_tokens=args.max_tokens,
        )
    except (BackendError, RepoError) as err:
        print(f"ci-healer: {err}", file=sys.stderr)
        return EXIT_USAGE
    analysis = result.analysis
    if analysis is None:
        return EXIT_OK if result.exit_code == 0 else EXIT_USAGE
    _print_analysis(analysis, args.format)
    status = EXIT_ANALYSIS_FAILED if analysis.status == "failed" else EXIT_OK
    if not args.apply:
        return status
    if not analysis.diff:
        print(f"ci-healer: nothing to apply ({analysis.status})", file=sys.stderr)
        return status
    if result.local_folder is None:
        print(
            f"ci-healer: --apply needs a local checkout at {result.head_sha[:12]}: run it there or pass --repo DIR",
            file=sys.stderr,
        )
        return EXIT_USAGE
    try:
        applied = apply_diff(
            analysis.diff,
            result.local_folder,
            assume_yes=args.yes,
            interactive=sys.stdin.isatty(),
            confirm=_confirm,
            usage_code=EXIT_USAGE,
            failed_code=EXIT_ANALYSIS_FAILED,
        )
    except ApplyRefused as err:
        print(f"ci-healer: {err}", file=sys.stderr)
        return err.code
    print(
        f"ci-healer: {'applied to ' + str(result.local_folder) if applied else 'not applied'}",
        file=sys.stderr,
    )
    return status


def _cmd_report(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from ci_healer.github_api import GitHubClient, GitHubError, make_github
    from ci_healer.ledger import LedgerReader
    from ci_healer.report import RENDERERS, build_report, parse_since, progress_bar

    now = datetime.now(UTC)
    try:
        since = parse_since(args.since, now)
    except ValueError as err:
        print(f"ci-healer: {err}", file=sys.stderr)
        return EXIT_USAGE
    token = os.environ.get("GITHUB_TOKEN") or os.environ.get("GH_TOKEN")
    if not token:
        print(
            "ci-healer: set GITHUB_TOKEN to a token that can read the repository's pull requests and checks",
            file=sys.stderr,
        )
        return EXIT_USAGE
    api_url = (os.environ.get("GITHUB_API_URL") or "https://api.github.com").rstrip("/")
    client = GitHubClient(
        make_github(token=token, api_url=api_url, seconds_between_writes=None),
        args.repo,
        bot_login=args.bot_login,
    )
    update, close = progress_bar()
    try:
        records = LedgerReader(client, max_pulls=args.max_pulls, progress=update).records()
    except GitHubError as err:
        print(f"ci-healer: cannot read {args.repo}: {err}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        close()
    report = build_report(records, repository=args.repo, since=since, until=now)
    sys.stdout.write(RENDERERS[args.format](report))
    return EXIT_OK


def _cmd_action(args: argparse.Namespace) -> int:
    from ci_healer.action import main as action_main

    return action_main()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``ci-healer`` console script; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handlers = {
        "extract": _cmd_extract,
        "analyze": _cmd_analyze,
        "report": _cmd_report,
        "action": _cmd_action,
    }
    try:
        return handlers[args.command](args)
    except BrokenPipeError:
        return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
