"""The fake GitHub REST API: every endpoint through PyGithub, state changes, and spec enforcement."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import github
import pytest
import requests

from tests.fakegithub import FakeGitHub, FakeState, Spec, fixtures, payloads
from tests.fakegithub.gitobjects import Entry, GitStore, object_id
from tests.fakegithub.scenario import Scenario, standard
from tests.fakegithub.state import BOT_LOGIN
from tests.prereq import corpus_missing

fake_github = fixtures.fake_github  # the fixtures, registered in this module
standard_fake = fixtures.standard_fake
require_spec = fixtures.require_spec
REPO_ROOT = Path(__file__).resolve().parents[1]
CORPUS = Path(os.environ.get("CI_HEALER_CORPUS") or REPO_ROOT.parent / "shared" / "corpus")


def gh(fake: FakeGitHub) -> github.Github:
    return github.Github(
        base_url=fake.url,
        auth=github.Auth.Token("ghs_fake"),
        retry=None,
        seconds_between_requests=0,
        seconds_between_writes=0,
    )


def real_github_actions_log() -> bytes:
    if not (CORPUS / "INDEX.jsonl").is_file():
        corpus_missing()
    for line in (CORPUS / "INDEX.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        if row["ci_system"] == "github-actions" and row["source"] == "cidiff":
            return (CORPUS / row["path"] / "log.txt").read_bytes()
    pytest.skip("no GitHub Actions log in the corpus")


# ---- git object ids ----------------------------------------------------------------------------


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_object_ids_equal_what_git_computes(tmp_path: Path) -> None:
    store = GitStore()
    files = {
        "a.txt": ("100644", b"hello\n"),
        "bin/run": ("100755", b"#!/bin/sh\n"),
        "link": ("120000", b"a.txt"),
        "a-b/c.py": ("100644", b"x = 1\n"),
    }
    tree = store.put_files(files)
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    for path, (mode, content) in files.items():
        if mode == "120000":
            (tmp_path / path).symlink_to(content.decode())
            continue
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_bytes(content)
        if mode == "100755":
            (tmp_path / path).chmod(0o755)
    subprocess.run(["git", "-C", str(tmp_path), "add", "-A"], check=True)
    git_tree = subprocess.run(
        ["git", "-C", str(tmp_path), "write-tree"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    assert tree == git_tree
    assert (
        store.put_blob(b"hello\n") == "ce013625030ba8dba906f756967f9e9ca394464a"
    )  # git hash-object of "hello\n"
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "a",
        "GIT_AUTHOR_EMAIL": "a@x",
        "GIT_AUTHOR_DATE": "1700000000 +0000",
        "GIT_COMMITTER_NAME": "a",
        "GIT_COMMITTER_EMAIL": "a@x",
        "GIT_COMMITTER_DATE": "1700000000 +0000",
    }
    git_commit = subprocess.run(
        ["git", "-C", str(tmp_path), "commit-tree", tree, "-m", "msg"],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    ).stdout.strip()
    assert store.put_commit(tree, [], "msg\n", author=("a", "a@x", 1_700_000_000)) == git_commit


def test_tree_edits_keep_untouched_entries_and_drop_emptied_directories() -> None:
    store = GitStore()
    base = store.put_files(
        {
            "src/a.py": ("100644", b"a"),
            "src/b.py": ("100644", b"b"),
            "README": ("100644", b"r"),
        }
    )
    edited = store.edit_tree(base, {"src/a.py": None, "src/b.py": None, "new/x.py": ("100644", b"x")})
    assert set(store.flatten(edited)) == {"README", "new/x.py"}
    assert store.flatten(edited)["README"] == store.flatten(base)["README"]
    assert object_id("blob", b"") == "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"
    with pytest.raises(ValueError):
        store.put_tree([Entry("100644", "a/b", "0" * 40)])


# ---- spec validator (unit) -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def spec() -> Spec:
    return require_spec()


@pytest.mark.parametrize(
    ("method", "path", "operation_id", "params"),
    [
        ("GET", "/repos/o/r", "repos/get", {"owner": "o", "repo": "r"}),
        (
            "GET",
            "/repos/o/r/commits/heads/feat/x/check-runs",
            "checks/list-for-ref",
            {"ref": "heads/feat/x"},
        ),
        ("GET", "/repos/o/r/commits/abc123", "repos/get-commit", {"ref": "abc123"}),
        (
            "GET",
            "/repos/o/r/contents/src/a%20b.py",
            "repos/get-content",
            {"path": "src/a b.py"},
        ),
        (
            "PATCH",
            "/repos/o/r/git/refs/heads/ai-fix/1",
            "git/update-ref",
            {"ref": "heads/ai-fix/1"},
        ),
        (
            "GET",
            "/repos/o/r/issues/comments/5",
            "issues/get-comment",
            {"comment_id": "5"},
        ),
        (
            "GET",
            "/repos/o/r/issues/5/comments",
            "issues/list-comments",
            {"issue_number": "5"},
        ),
        (
            "GET",
            "/repos/o/r/actions/jobs/9/logs",
            "actions/download-job-logs-for-workflow-run",
            {"job_id": "9"},
        ),
    ],
)
def test_paths_match_the_documented_operation(
    spec: Spec, method: str, path: str, operation_id: str, params: dict[str, str]
) -> None:
    op = spec.match(method, path)
    assert op is not None and op.operation_id == operation_id
    assert params.items() <= op.params.items()


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/repos/o/r/no-such-thing"),
        ("PATCH", "/repos/o/r/actions/runs/1"),
        ("GET", "/nope"),
    ],
)
def test_unknown_paths_and_methods_match_nothing(spec: Spec, method: str, path: str) -> None:
    assert spec.match(method, path) is None


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"name": "x", "head_sha": "a" * 40, "conclusion": "bogus"}, "conclusion"),
        ({"head_sha": "a" * 40}, "'name' is a required property"),
        ({"name": "x", "head_sha": "a" * 40, "status": "done"}, "status"),
        ({"name": "x", "head_sha": "a" * 40, "output": {"title": "t"}}, "summary"),
        (
            {
                "name": "x",
                "head_sha": "a" * 40,
                "output": {
                    "title": "t",
                    "summary": "s",
                    "annotations": [{"path": "a", "start_line": 1}],
                },
            },
            "annotation_level",
        ),
    ],
)
def test_bad_check_run_bodies_are_violations(spec: Spec, body: dict, fragment: str) -> None:
    op = spec.match("POST", "/repos/o/r/check-runs")
    found = spec.validate_request(op, {}, json.dumps(body).encode(), "application/json")
    assert found and all(v.kind == "request-body" for v in found)
    assert any(fragment in v.detail for v in found), [str(v) for v in found]


def test_good_check_run_body_passes(spec: Spec) -> None:
    op = spec.match("POST", "/repos/o/r/check-runs")
    body = {
        "name": "ci-healer",
        "head_sha": "a" * 40,
        "status": "completed",
        "conclusion": "neutral",
        "output": {"title": "t", "summary": "s"},
    }
    assert spec.validate_request(op, {}, json.dumps(body).encode(), "application/json") == []


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (200, {"id": 1, "name": "x"}, "response-body"),  # most required keys missing
        (
            200,
            {"permission": "admin", "role_name": "admin"},
            "response-body",
        ),  # user missing
        (201, {}, "response-status"),  # undocumented success status
        (404, {"message": 5}, "response-body"),  # error body of the wrong type
    ],
)
def test_wrong_response_shapes_are_violations(spec: Spec, status: int, body: dict, kind: str) -> None:
    path = "/repos/o/r/collaborators/u/permission" if "permission" in body else "/repos/o/r"
    found = spec.validate_response(spec.match("GET", path), status, body)
    assert [v.kind for v in found][:1] == [kind], [str(v) for v in found]


def test_query_parameters_are_checked(spec: Spec) -> None:
    op = spec.match("GET", "/repos/o/r/pulls")
    assert spec.validate_request(op, {"state": ["open"], "head": ["o:b"]}, None, None) == []
    bad = spec.validate_request(op, {"state": ["bogus"], "per_page": ["many"]}, None, None)
    assert {v.kind for v in bad} == {"request-query"} and len(bad) == 2


# ---- the server through PyGithub ----------------------------------------------------------------


def test_repository_run_jobs_and_log_download(
    standard_fake: tuple[FakeGitHub, Scenario],
) -> None:
    fake, world = standard_fake
    repo = gh(fake).get_repo(world.repo)
    assert (repo.full_name, repo.default_branch, repo.fork) == (
        world.repo,
        "main",
        False,
    )
    run = repo.get_workflow_run(world.run_id)
    assert (run.conclusion, run.head_sha, run.head_branch) == (
        "failure",
        world.head_sha,
        "fix-rounding",
    )
    assert [pr.number for pr in run.pull_requests] == [world.pr]
    jobs = {j.name: j for j in run.jobs()}
    assert jobs["test"].conclusion == "failure" and jobs["lint"].conclusion == "success"
    assert [s.name for s in jobs["test"].steps if s.conclusion == "failure"] == ["Run pytest -q"]
    location = jobs["test"].logs_url()
    assert location.startswith(fake.url + "/_blobs/")
    response = requests.get(location, timeout=5)
    assert response.status_code == 200 and "FAILED tests/test_calc.py::test_round_cents" in response.text
    attempt = requests.get(
        f"{fake.url}/repos/{world.repo}/actions/runs/{world.run_id}/attempts/1/jobs",
        headers={"Authorization": "token x"},
        timeout=5,
    )
    assert attempt.json()["total_count"] == 2
    fork_run = repo.get_workflow_run(world.fork_run_id)
    assert fork_run.pull_requests == [] and fork_run.head_repository.full_name == world.fork


def test_job_log_redirect_serves_real_log_bytes_unchanged(
    fake_github: FakeGitHub,
) -> None:
    log = real_github_actions_log()
    world_state = fake_github.state
    world_state.add_repo("octo-org/app", files={"a.py": "x = 1\n"})
    run = world_state.add_run(
        "octo-org/app",
        head_branch="main",
        event="push",
        jobs=[{"name": "build", "conclusion": "failure", "log": log}],
    )
    job_id = next(j.id for j in world_state.jobs.values() if j.run_id == run.id)
    first = requests.get(
        f"{fake_github.url}/repos/octo-org/app/actions/jobs/{job_id}/logs",
        headers={"Authorization": "token x"},
        allow_redirects=False,
        timeout=5,
    )
    assert first.status_code == 302 and first.content == b""
    assert requests.get(first.headers["Location"], timeout=5).content == log


def test_contents_tree_and_blob_agree(
    standard_fake: tuple[FakeGitHub, Scenario],
) -> None:
    fake, world = standard_fake
    repo = gh(fake).get_repo(world.repo)
    content = repo.get_contents("src/hello/calc.py", ref=world.head_sha)
    assert b"amount * 100)" in content.decoded_content
    tree = {e.path: e for e in repo.get_git_tree(world.head_sha, recursive=True).tree}
    assert (
        tree["scripts/release.sh"].mode == "100755"
        and tree["docs/README.md"].mode == "120000"
        and tree["src"].type == "tree"
    )
    assert tree["src/hello/calc.py"].sha == content.sha
    blob = repo.get_git_blob(content.sha)
    assert base64.b64decode(blob.content) == content.decoded_content
    link = repo.get_contents("docs/README.md")
    assert link.type == "symlink"
    assert [c.name for c in repo.get_contents("src/hello")] == [
        "__init__.py",
        "calc.py",
    ]
    with pytest.raises(github.UnknownObjectException):
        repo.get_contents("missing.txt")


def test_check_run_create_update_list(
    standard_fake: tuple[FakeGitHub, Scenario],
) -> None:
    fake, world = standard_fake
    repo = gh(fake).get_repo(world.repo)
    check = repo.create_check_run(name="ci-healer", head_sha=world.head_sha, status="in_progress")
    assert check.status == "in_progress" and check.app.slug == "github-actions"
    annotation = {
        "path": "src/hello/calc.py",
        "start_line": 6,
        "end_line": 6,
        "annotation_level": "failure",
        "message": "rounding",
    }
    check.edit(
        conclusion="failure",
        output={"title": "Root cause", "summary": "s", "annotations": [annotation]},
    )
    again = repo.get_check_run(check.id)
    assert (
        again.status,
        again.conclusion,
        again.output.title,
        again.output.annotations_count,
    ) == ("completed", "failure", "Root cause", 1)
    assert [c.name for c in repo.get_commit(world.head_sha).get_check_runs()] == ["ci-healer"]
    assert fake.state.check_runs[check.id].annotations == [annotation]


def test_check_run_limits_answer_422_and_are_violations(spec: Spec) -> None:
    world = standard()
    annotation = {
        "path": "a",
        "start_line": 1,
        "end_line": 1,
        "annotation_level": "notice",
        "message": "m",
    }
    with FakeGitHub(world.state, spec=spec) as fake:
        repo = gh(fake).get_repo(world.repo)
        with pytest.raises(github.GithubException) as too_many:
            repo.create_check_run(
                name="x",
                head_sha=world.head_sha,
                output={"title": "t", "summary": "s", "annotations": [annotation] * 51},
            )
        with pytest.raises(github.GithubException) as too_long:
            repo.create_check_run(
                name="x",
                head_sha=world.head_sha,
                output={"title": "t", "summary": "s" * 70_000},
            )
    assert too_many.value.status == too_long.value.status == 422
    assert fake.state.check_runs == {}
    details = [v.detail for v in fake.violations]
    assert (
        len(details) == 2
        and details[0].startswith("$.output.annotations")
        and details[1].startswith("$.output.summary")
    )


def test_comments_reactions_labels_and_permissions(
    standard_fake: tuple[FakeGitHub, Scenario],
) -> None:
    fake, world = standard_fake
    repo = gh(fake).get_repo(world.repo)
    pr = repo.get_pull(world.pr)
    comment = pr.create_issue_comment("<!-- ci-healer -->\nfirst")
    assert (comment.user.login, comment.user.type) == (BOT_LOGIN, "Bot")
    comment.edit("<!-- ci-healer -->\nsecond")
    comment.create_reaction("eyes")
    comment.create_reaction("eyes")  # same reaction twice: GitHub answers 200 with the existing one
    bodies = [c.body for c in repo.get_issue(world.pr).get_comments()]
    assert bodies == ["<!-- ci-healer -->\nsecond"]
    assert [r.content for r in fake.state.reactions.values()] == ["eyes"]
    assert repo.get_issue(world.pr).pull_request is not None
    repo.get_issue(world.pr).remove_from_labels("bug")
    assert fake.state.issues[(world.repo, world.pr)].labels == []
    roles = {
        login: repo.get_collaborator_role_name(login)
        for login in (
            "maintainer-mia",
            "lead-lou",
            "dev-wes",
            "triage-tom",
            "reader-rae",
            "outsider-oz",
        )
    }
    assert roles == {
        "maintainer-mia": "admin",
        "lead-lou": "maintain",
        "dev-wes": "write",
        "triage-tom": "triage",
        "reader-rae": "read",
        "outsider-oz": "read",
    }
    legacy = {login: repo.get_collaborator_permission(login) for login in ("lead-lou", "triage-tom")}
    assert legacy == {"lead-lou": "write", "triage-tom": "read"}


def test_many_comments_paginate_with_link_headers(
    standard_fake: tuple[FakeGitHub, Scenario],
) -> None:
    fake, world = standard_fake
    for i in range(35):
        fake.state.add_comment(world.repo, world.pr, body=f"c{i}", user="dev-wes")
    comments = list(gh(fake).get_repo(world.repo).get_issue(world.pr).get_comments())
    assert [c.body for c in comments] == [f"c{i}" for i in range(35)]
    assert len(list(fake.calls("GET", "issues/list-comments"))) == 2


def test_pulls_lookup_by_head_and_commit(
    standard_fake: tuple[FakeGitHub, Scenario],
) -> None:
    fake, world = standard_fake
    repo = gh(fake).get_repo(world.repo)
    by_head = repo.get_pulls(state="open", head="contributor:feature")
    assert [p.number for p in by_head] == [world.fork_pr]
    fork_pr = repo.get_pull(world.fork_pr)
    assert fork_pr.head.repo.full_name == world.fork and fork_pr.base.repo.full_name == world.repo
    assert [p.number for p in repo.get_commit(world.fork_head_sha).get_pulls()] == [world.fork_pr]
    assert [f.filename for f in fork_pr.get_files()] == [
        "src/hello/calc.py",
        "tests/test_calc.py",
    ]


def test_fix_branch_commit_ref_and_pull_request(
    standard_fake: tuple[FakeGitHub, Scenario],
) -> None:
    fake, world = standard_fake
    repo = gh(fake).get_repo(world.repo)
    head = repo.get_git_commit(world.head_sha)
    blob = repo.create_git_blob("def round_cents(a):\n    return round(a * 100)\n", "utf-8")
    element = github.InputGitTreeElement("src/hello/calc.py", "100644", "blob", sha=blob.sha)
    tree = repo.create_git_tree([element], base_tree=repo.get_git_tree(head.tree.sha))
    commit = repo.create_git_commit("Fix rounding", tree, [head])
    assert commit.parents[0].sha == world.head_sha
    ref = repo.create_git_ref("refs/heads/ai-fix/run-1", commit.sha)
    assert repo.get_git_ref("heads/ai-fix/run-1").object.sha == commit.sha
    with pytest.raises(github.GithubException) as exists:
        repo.create_git_ref("refs/heads/ai-fix/run-1", commit.sha)
    assert exists.value.status == 422
    with pytest.raises(github.GithubException) as not_ff:
        ref.edit(world.head_sha)  # going back is not a fast forward
    assert not_ff.value.status == 422
    flat = fake.state.git.flatten(tree.sha)
    assert (
        fake.state.git.blob(flat["src/hello/calc.py"][1]).startswith(b"def round_cents")
        and "tests/test_calc.py" in flat
    )
    pr = repo.create_pull(base="main", head="ai-fix/run-1", title="ci-healer: fix rounding", body="b")
    assert pr.head.sha == commit.sha and pr.user.login == BOT_LOGIN
    assert fake.state.ref_writes == [
        {
            "repo": world.repo,
            "action": "create",
            "ref": "refs/heads/ai-fix/run-1",
            "sha": commit.sha,
            "force": False,
        }
    ]


def test_review_suggestions_must_target_diff_lines(
    standard_fake: tuple[FakeGitHub, Scenario],
) -> None:
    fake, world = standard_fake
    pr = gh(fake).get_repo(world.repo).get_pull(world.fork_pr)
    commit = gh(fake).get_repo(world.repo).get_commit(world.fork_head_sha)
    suggestion = {
        "path": "src/hello/calc.py",
        "line": 10,
        "side": "RIGHT",
        "body": "```suggestion\ndef split(total_cents: int, ways: int = 2) -> list[int]:\n```",
    }
    review = pr.create_review(commit=commit, body="Proposed fix", event="COMMENT", comments=[suggestion])
    assert review.state == "COMMENTED"
    assert [c.line for c in fake.state.review_comments.values()] == [10]
    with pytest.raises(github.GithubException) as outside:
        pr.create_review(
            commit=commit,
            body="x",
            event="COMMENT",
            comments=[{**suggestion, "line": 1}],
        )
    assert outside.value.status == 422
    single = pr.create_review_comment(
        "```suggestion\nx\n```", commit, "tests/test_calc.py", line=12, side="RIGHT"
    )
    assert single.path == "tests/test_calc.py" and single.line == 12


def test_workflow_get_and_dispatch(standard_fake: tuple[FakeGitHub, Scenario]) -> None:
    fake, world = standard_fake
    repo = gh(fake).get_repo(world.repo)
    workflow = repo.get_workflow("ci.yml")
    assert workflow.id == world.workflow_id and workflow.path == ".github/workflows/ci.yml"
    assert workflow.create_dispatch("main", {"reason": "retry"}) is True
    assert fake.state.dispatches == [
        {
            "repo": world.repo,
            "workflow_id": world.workflow_id,
            "workflow_path": ".github/workflows/ci.yml",
            "ref": "main",
            "inputs": {"reason": "retry"},
            "actor": BOT_LOGIN,
        }
    ]
    assert workflow.create_dispatch("no-such-branch") is False


def test_forbidden_check_run_names_the_permission(
    standard_fake: tuple[FakeGitHub, Scenario],
) -> None:
    fake, world = standard_fake
    fake.forbid_check_runs()
    repo = gh(fake).get_repo(world.repo)
    with pytest.raises(github.GithubException) as denied:
        repo.create_check_run(name="ci-healer", head_sha=world.head_sha)
    assert (
        denied.value.status == 403
        and denied.value.data["message"] == "Resource not accessible by integration"
    )
    assert denied.value.headers["x-accepted-github-permissions"] == "checks=write"
    repo.get_pull(world.pr).create_issue_comment("still posted")
    assert [c.body for c in fake.state.comments.values()] == ["still posted"]


def test_injected_failure_happens_only_as_often_as_asked(
    standard_fake: tuple[FakeGitHub, Scenario],
) -> None:
    fake, world = standard_fake
    rule = fake.fail(502, "Server Error", operation_id="actions/get-workflow-run", times=1)
    url = f"{fake.url}/repos/{world.repo}/actions/runs/{world.run_id}"
    statuses = [
        requests.get(url, headers={"Authorization": "token x"}, timeout=5).status_code for _ in range(2)
    ]
    assert statuses == [502, 200] and rule.hits == 1


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/repos/octo-org/hello-app/actions/runs/999999", 404),
        ("GET", "/repos/nobody/nothing", 404),
        ("GET", "/repos/octo-org/hello-app/issues/77", 404),
        ("GET", "/repos/octo-org/hello-app/git/ref/heads/nope", 404),
        ("POST", "/repos/octo-org/hello-app/issues/1/comments", 401),  # no token
    ],
)
def test_missing_objects_and_anonymous_writes_are_refused(
    standard_fake: tuple[FakeGitHub, Scenario], method: str, path: str, status: int
) -> None:
    fake, _ = standard_fake
    headers = {} if status == 401 else {"Authorization": "token x"}
    response = requests.request(
        method,
        fake.url + path,
        headers=headers,
        json={"body": "x"} if method == "POST" else None,
        timeout=5,
    )
    assert response.status_code == status and "message" in response.json()


# ---- violations are caught ------------------------------------------------------------------------


def test_bogus_request_body_is_recorded_and_refused(spec: Spec) -> None:
    world = standard()
    with FakeGitHub(world.state, spec=spec) as fake:
        response = requests.post(
            f"{fake.url}/repos/{world.repo}/check-runs",
            headers={"Authorization": "token x"},
            json={
                "name": "ci-healer",
                "head_sha": world.head_sha,
                "conclusion": "bogus",
            },
            timeout=5,
        )
    assert response.status_code == 422
    assert [v.kind for v in fake.violations] == ["request-body"] and "bogus" in fake.violations[0].detail
    assert fake.state.check_runs == {}


def test_unknown_endpoint_is_recorded(spec: Spec) -> None:
    with FakeGitHub(FakeState(), spec=spec) as fake:
        response = requests.get(f"{fake.url}/repos/o/r/actions/secret-sauce", timeout=5)
    assert response.status_code == 404
    assert [v.kind for v in fake.violations] == ["unknown-endpoint"]


def test_fixture_teardown_reports_violations(tmp_path: Path) -> None:
    require_spec()
    inner = tmp_path / "test_inner.py"
    inner.write_text(
        "import requests\n"
        "from tests.fakegithub.fixtures import fake_github  # noqa: F401\n\n"
        "def test_calls_unknown(fake_github):\n"
        "    requests.get(fake_github.url + '/repos/o/r/bogus-endpoint', timeout=5)\n"
    )
    # the inner run needs no third-party plugin (xdist, or whatever else is installed): not loading
    # them keeps it a few seconds shorter
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            str(inner),
            "-q",
            "-p",
            "no:cacheprovider",
            "--rootdir",
            str(tmp_path),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1, result.stdout
    assert "1 passed, 1 error" in result.stdout
    assert "disagree with GitHub's REST description" in result.stdout
    assert "[unknown-endpoint] GET /repos/o/r/bogus-endpoint" in result.stdout


# ---- admin endpoints, CLI and payloads ------------------------------------------------------------


def test_seed_and_state_admin_endpoints(fake_github: FakeGitHub) -> None:
    seed = {
        "repos": [
            {
                "full_name": "acme/api",
                "files": {"main.go": "package main\n"},
                "collaborators": {"ann": "write"},
                "branches": {"fix": {"files": {"main.go": "package main\n// fix\n"}}},
            }
        ],
        "pulls": [{"repo": "acme/api", "head_branch": "fix", "title": "Fix"}],
        "runs": [
            {
                "repo": "acme/api",
                "head_branch": "fix",
                "pull_requests": [1],
                "jobs": [{"name": "go", "conclusion": "failure", "log": "boom\n"}],
            }
        ],
        "comments": [{"repo": "acme/api", "number": 1, "user": "ann", "body": "/approve-fix"}],
    }
    created = requests.post(f"{fake_github.url}/_fake/seed", json=seed, timeout=5).json()
    assert created["pulls"] == [1] and len(created["runs"]) == 1 and len(created["jobs"]) == 1
    run = gh(fake_github).get_repo("acme/api").get_workflow_run(created["runs"][0])
    assert run.head_sha == created["repos"]["acme/api"]["refs"]["refs/heads/fix"]
    bad = requests.post(
        f"{fake_github.url}/_fake/seed",
        json={"runs": [{"repo": "ghost/x", "head_branch": "m"}]},
        timeout=5,
    )
    assert bad.status_code == 400 and "ghost/x" in bad.json()["message"]
    state = requests.get(f"{fake_github.url}/_fake/state", timeout=5).json()
    assert state["comments"][0]["body"] == "/approve-fix" and state["violations"] == []
    assert any(
        r["operation_id"] == "actions/get-workflow-run" and r["status"] == 200 for r in state["requests"]
    )


def test_module_runs_as_a_separate_process(tmp_path: Path) -> None:
    require_spec()
    seed = tmp_path / "seed.json"
    seed.write_text(json.dumps({"repos": [{"full_name": "acme/app"}]}))
    dump = tmp_path / "dump.json"
    with subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.fakegithub",
            "--port",
            "0",
            "--state",
            str(seed),
            "--dump",
            str(dump),
        ],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        try:
            line = proc.stdout.readline()
            assert line.startswith("listening on http://127.0.0.1:")
            url = line.split()[-1]
            assert requests.get(f"{url}/repos/acme/app", timeout=5).json()["default_branch"] == "main"
        finally:
            proc.terminate()
            proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert json.loads(dump.read_text())["requests"][0]["path"] == "/repos/acme/app"


def test_payloads_match_the_fake_state(
    standard_fake: tuple[FakeGitHub, Scenario],
) -> None:
    fake, world = standard_fake
    run_event = payloads.workflow_run_completed(world.state, world.fork_run_id, api=fake.url)
    wr = run_event["workflow_run"]
    assert (run_event["action"], wr["conclusion"], wr["head_sha"], wr["id"]) == (
        "completed",
        "failure",
        world.fork_head_sha,
        world.fork_run_id,
    )
    assert (
        wr["pull_requests"] == []
        and wr["head_repository"]["full_name"] == world.fork
        and run_event["repository"]["full_name"] == world.repo
    )
    assert gh(fake).get_repo(world.repo).get_workflow_run(wr["id"]).head_sha == wr["head_sha"]
    approve = world.state.add_comment(world.repo, world.pr, body="/approve-fix", user="maintainer-mia")
    comment_event = payloads.issue_comment(world.state, approve.id, api=fake.url)
    assert comment_event["issue"]["pull_request"]["url"].endswith(f"/pulls/{world.pr}")
    assert (
        comment_event["comment"]["user"]["login"],
        comment_event["comment"]["body"],
        comment_event["sender"]["login"],
    ) == ("maintainer-mia", "/approve-fix", "maintainer-mia")
    issue = world.state.add_issue(world.repo, title="plain issue")
    on_issue = payloads.issue_comment(
        world.state,
        world.state.add_comment(world.repo, issue.number, body="hi", user="dev-wes").id,
        api=fake.url,
    )
    assert "pull_request" not in on_issue["issue"]
    edited = payloads.issue_comment(
        world.state, approve.id, api=fake.url, action="edited", previous_body="/approve"
    )
    assert edited["changes"] == {"body": {"from": "/approve"}}
    labeled = payloads.pull_request_labeled(
        world.state,
        world.repo,
        world.pr,
        "ai-fix",
        sender="maintainer-mia",
        api=fake.url,
    )
    assert labeled["label"]["name"] == "ai-fix" and labeled["pull_request"]["head"]["sha"] == world.head_sha
    dispatch = payloads.workflow_dispatch(
        world.state,
        world.repo,
        world.workflow_id,
        ref="main",
        inputs={"run-id": "1"},
        sender="dev-wes",
        api=fake.url,
    )
    assert (dispatch["ref"], dispatch["inputs"], dispatch["workflow"]) == (
        "refs/heads/main",
        {"run-id": "1"},
        ".github/workflows/ci.yml",
    )
