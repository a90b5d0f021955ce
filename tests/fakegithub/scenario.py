"""A standard, realistic world for the fake: a Python repository with a failing PR run.

``octo-org/hello-app`` (public, default branch ``main``) with collaborators of every role, a
same-repository PR #1 (branch ``fix-rounding``) whose CI run failed in job ``test``, and a fork PR #2
from ``contributor/hello-app:feature`` whose run failed too (its ``pull_requests`` is empty, like
GitHub's ``workflow_run`` for fork PRs).
"""

from __future__ import annotations

from dataclasses import dataclass

from .state import BOT_LOGIN, FakeState

REPO = "octo-org/hello-app"
FORK = "contributor/hello-app"

CI_YML = """name: CI
on:
  pull_request:
  workflow_dispatch:
    inputs:
      reason:
        description: why
        required: false
permissions: {}
jobs:
  test:
    runs-on: ubuntu-latest
    permissions:
      contents: read
    steps:
      - uses: actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683 # v4.2.2
      - run: pip install -e . pytest
      - run: pytest -q
"""

CALC = '''"""Money helpers."""


def round_cents(amount: float) -> int:
    """Amount in dollars -> whole cents, rounding half up."""
    return int(amount * 100 + 0.5)


def split(total_cents: int, ways: int) -> list[int]:
    """Split ``total_cents`` into ``ways`` parts that sum to the total."""
    base, rest = divmod(total_cents, ways)
    return [base + (1 if i < rest else 0) for i in range(ways)]
'''

TEST_CALC = """from hello.calc import round_cents, split


def test_round_cents():
    assert round_cents(1.005) == 101


def test_split():
    assert sum(split(100, 3)) == 100
"""

BASE_FILES = {
    "README.md": "# hello-app\n\nSmall money helpers.\n",
    "pyproject.toml": '[project]\nname = "hello"\nversion = "0.1.0"\nrequires-python = ">=3.11"\n',
    "src/hello/__init__.py": "",
    "src/hello/calc.py": CALC,
    "tests/test_calc.py": TEST_CALC,
    ".github/workflows/ci.yml": CI_YML,
    "scripts/release.sh": {
        "mode": "100755",
        "content": "#!/bin/sh\nset -eu\npython -m build\n",
    },
    "docs/README.md": {"mode": "120000", "content": "../README.md"},
}

PYTEST_LOG = """2025-01-01T10:00:01.0000000Z ##[group]Run pytest -q
2025-01-01T10:00:01.0000000Z pytest -q
2025-01-01T10:00:01.0000000Z shell: /usr/bin/bash -e {0}
2025-01-01T10:00:01.0000000Z ##[endgroup]
2025-01-01T10:00:02.0000000Z F.                                                                       [100%]
2025-01-01T10:00:02.0000000Z =================================== FAILURES ===================================
2025-01-01T10:00:02.0000000Z _______________________________ test_round_cents _______________________________
2025-01-01T10:00:02.0000000Z
2025-01-01T10:00:02.0000000Z     def test_round_cents():
2025-01-01T10:00:02.0000000Z >       assert round_cents(1.005) == 101
2025-01-01T10:00:02.0000000Z E       assert 100 == 101
2025-01-01T10:00:02.0000000Z E        +  where 100 = round_cents(1.005)
2025-01-01T10:00:02.0000000Z
2025-01-01T10:00:02.0000000Z tests/test_calc.py:5: AssertionError
2025-01-01T10:00:02.0000000Z =========================== short test summary info ============================
2025-01-01T10:00:02.0000000Z FAILED tests/test_calc.py::test_round_cents - assert 100 == 101
2025-01-01T10:00:02.0000000Z 1 failed, 1 passed in 0.03s
2025-01-01T10:00:02.0000000Z ##[error]Process completed with exit code 1.
"""


@dataclass
class Scenario:
    """The standard world and the ids a test needs to reach into it."""

    state: FakeState
    repo: str
    fork: str
    pr: int
    fork_pr: int
    workflow_id: int
    run_id: int
    failed_job_id: int
    passed_job_id: int
    fork_run_id: int
    head_sha: str
    fork_head_sha: str


def standard(*, log: str | bytes = PYTEST_LOG) -> Scenario:
    """Build the standard scenario; ``log`` is the failed job's log (default: a pytest failure)."""
    state = FakeState()
    state.add_repo(
        REPO,
        files=BASE_FILES,
        collaborators={
            "maintainer-mia": "admin",
            "lead-lou": "maintain",
            "dev-wes": "write",
            "triage-tom": "triage",
            "reader-rae": "read",
        },
    )
    state.set_permission(REPO, BOT_LOGIN, "write")
    state.add_user("outsider-oz")
    head = state.commit_files(
        REPO,
        "fix-rounding",
        {"src/hello/calc.py": CALC.replace("amount * 100 + 0.5", "amount * 100")},
        message="Simplify rounding",
        author="dev-wes",
        create=True,
    )
    state.add_repo(FORK, fork_of=REPO)
    fork_head = state.commit_files(
        FORK,
        "feature",
        {
            "src/hello/calc.py": CALC.replace("ways: int", "ways: int = 2"),
            "tests/test_calc.py": TEST_CALC + "\n\ndef test_default():\n    assert split(3) == [2, 1]\n",
        },
        message="Default split",
        author="contributor",
        create=True,
    )
    pr = state.add_pull(
        REPO,
        head_branch="fix-rounding",
        title="Simplify rounding",
        user="dev-wes",
        labels=["bug"],
    )
    fork_pr = state.add_pull(
        REPO,
        head_branch="feature",
        head_repo=FORK,
        title="Default split",
        user="contributor",
    )
    wf = state.add_workflow(REPO, name="CI", path=".github/workflows/ci.yml")
    run = state.add_run(
        REPO,
        head_branch="fix-rounding",
        workflow=wf,
        pull_requests=[pr.number],
        actor="dev-wes",
        jobs=[
            {
                "name": "test",
                "conclusion": "failure",
                "log": log,
                "steps": [
                    "Set up job",
                    "Run actions/checkout@v4",
                    "Run pip install -e . pytest",
                    {"name": "Run pytest -q", "conclusion": "failure"},
                    "Complete job",
                ],
            },
            {
                "name": "lint",
                "conclusion": "success",
                "log": "2025-01-01T10:00:01.0000000Z All checks passed!\n",
            },
        ],
    )
    fork_run = state.add_run(
        REPO,
        head_branch="feature",
        head_repo=FORK,
        workflow=wf,
        pull_requests=[],
        actor="contributor",
        jobs=[
            {
                "name": "test",
                "conclusion": "failure",
                "log": log,
                "steps": [
                    "Set up job",
                    {"name": "Run pytest -q", "conclusion": "failure"},
                    "Complete job",
                ],
            },
        ],
    )
    jobs = [j for j in state.jobs.values() if j.run_id == run.id]
    return Scenario(
        state,
        REPO,
        FORK,
        pr.number,
        fork_pr.number,
        wf.id,
        run.id,
        jobs[0].id,
        jobs[1].id,
        fork_run.id,
        head,
        fork_head,
    )


def standard_state() -> FakeState:
    """Just the :class:`FakeState` of :func:`standard`."""
    return standard().state
