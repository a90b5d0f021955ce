"""``python -m tests.fakegithub --port N [--host H] [--state SEED.json] [--dump OUT.json]``.

Serves the fake until SIGTERM/SIGINT; prints ``listening on <url>`` once ready. ``--state`` seeds it
(the :meth:`FakeState.seed` document); ``--standard`` seeds :func:`scenario.standard_state` instead.
``--dump`` writes ``GET /_fake/state`` to a file on exit.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from dataclasses import asdict
from pathlib import Path

from .scenario import standard_state
from .server import FakeGitHub
from .spec import SpecMissing
from .state import FakeState, StateError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fakegithub", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 = a free port")
    parser.add_argument("--state", type=Path, help="seed document (JSON)")
    parser.add_argument("--standard", action="store_true", help="seed the standard scenario")
    parser.add_argument(
        "--dump",
        type=Path,
        help="write the final state, requests and violations here on exit",
    )
    args = parser.parse_args(argv)
    try:
        state = standard_state() if args.standard else FakeState()
        if args.state:
            state.seed(json.loads(args.state.read_text(encoding="utf-8")))
        fake = FakeGitHub(state, host=args.host, port=args.port).start()
    except (SpecMissing, StateError, OSError, ValueError) as exc:
        print(f"fake github: {exc}", file=sys.stderr)
        return 2
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    print(f"listening on {fake.url}", flush=True)
    done.wait()
    fake.stop()
    if args.dump:
        snap = fake.state.snapshot()
        snap["requests"] = [asdict(r) for r in fake.requests]
        snap["violations"] = [asdict(v) for v in fake.violations]
        args.dump.write_text(json.dumps(snap, indent=2), encoding="utf-8")
    print(
        f"fake github stopped; {len(fake.violations)} spec violation(s)",
        file=sys.stderr,
    )
    for v in fake.violations:
        print(f"  {v}", file=sys.stderr)
    return 1 if fake.violations else 0


if __name__ == "__main__":
    sys.exit(main())
