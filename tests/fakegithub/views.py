"""Render state objects as the partial JSON objects GitHub returns (completed later from the schema).

URLs are built from the API base the client used (``api``, e.g. ``http://127.0.0.1:8123``) so that
PyGithub's lazy completion and pagination stay on the fake; ``html_url`` values point at ``web``
(``https://github.com`` by default) like on GitHub.
"""

from __future__ import annotations

import base64
import difflib
import zlib
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from .gitobjects import MODE_SUBMODULE, MODE_SYMLINK, MODE_TREE
from .state import (
    BOT_LOGIN,
    ROLES,
    CheckRun,
    Comment,
    FakeState,
    Issue,
    Job,
    Reaction,
    Review,
    ReviewComment,
    Run,
    iso,
)

GITHUB_ACTIONS_APP_ID = 15368  # the GitHub Actions app's real id


def node_id(kind: str, ident: int | str) -> str:
    """An opaque GraphQL-style node id, stable per object."""
    return base64.b64encode(f"0{len(kind)}:{kind}{ident}".encode()).decode().rstrip("=")


@dataclass
class Views:
    """Renderer bound to one request's ``api`` base, the ``web`` base and the :class:`FakeState`."""

    state: FakeState
    api: str
    web: str = "https://github.com"

    # ---- people and repos ---------------------------------------------------------------------

    def user(self, login: str) -> dict[str, Any]:
        u = self.state.add_user(login)
        url = f"{self.api}/users/{quote(login)}"
        html = f"{self.web}/apps/{login.removesuffix('[bot]')}" if u.type == "Bot" else f"{self.web}/{login}"
        return {
            "login": login,
            "id": u.id,
            "node_id": node_id("User", u.id),
            "type": u.type,
            "site_admin": False,
            "avatar_url": f"https://avatars.githubusercontent.com/u/{u.id}?v=4",
            "gravatar_id": "",
            "url": url,
            "html_url": html,
            "followers_url": f"{url}/followers",
            "following_url": f"{url}/following{{/other_user}}",
            "gists_url": f"{url}/gists{{/gist_id}}",
            "starred_url": f"{url}/starred{{/owner}}{{/repo}}",
            "subscriptions_url": f"{url}/subscriptions",
            "organizations_url": f"{url}/orgs",
            "repos_url": f"{url}/repos",
            "events_url": f"{url}/events{{/privacy}}",
            "received_events_url": f"{url}/received_events",
        }

    def repo(self, full_name: str, *, full: bool = False) -> dict[str, Any]:
        r = self.state.repo(full_name)
        url = f"{self.api}/repos/{full_name}"
        out: dict[str, Any] = {
            "id": r.id,
            "node_id": node_id("Repository", r.id),
            "name": r.name,
            "full_name": full_name,
            "owner": self.user(r.owner),
            "private": r.private,
            "visibility": "private" if r.private else "public",
            "html_url": f"{self.web}/{full_name}",
            "description": f"{r.name} repository",
            "fork": r.fork_of is not None,
            "url": url,
            "default_branch": r.default_branch,
            "archived": False,
            "disabled": False,
            "git_url": f"git://github.com/{full_name}.git",
            "clone_url": f"{self.web}/{full_name}.git",
            "ssh_url": f"git@github.com:{full_name}.git",
            "svn_url": f"{self.web}/{full_name}",
            "archive_url": f"{url}/{{archive_format}}{{/ref}}",
            "assignees_url": f"{url}/assignees{{/user}}",
            "blobs_url": f"{url}/git/blobs{{/sha}}",
            "branches_url": f"{url}/branches{{/branch}}",
            "collaborators_url": f"{url}/collaborators{{/collaborator}}",
            "comments_url": f"{url}/comments{{/number}}",
            "commits_url": f"{url}/commits{{/sha}}",
            "compare_url": f"{url}/compare/{{base}}...{{head}}",
            "contents_url": f"{url}/contents/{{+path}}",
            "git_commits_url": f"{url}/git/commits{{/sha}}",
            "git_refs_url": f"{url}/git/refs{{/sha}}",
            "git_tags_url": f"{url}/git/tags{{/sha}}",
            "issue_comment_url": f"{url}/issues/comments{{/number}}",
            "issue_events_url": f"{url}/issues/events{{/number}}",
            "issues_url": f"{url}/issues{{/number}}",
            "keys_url": f"{url}/keys{{/key_id}}",
            "labels_url": f"{url}/labels{{/name}}",
            "milestones_url": f"{url}/milestones{{/number}}",
            "notifications_url": f"{url}/notifications{{?since,all,participating}}",
            "pulls_url": f"{url}/pulls{{/number}}",
            "releases_url": f"{url}/releases{{/id}}",
            "statuses_url": f"{url}/statuses/{{sha}}",
            "trees_url": f"{url}/git/trees{{/sha}}",
        }
        if full:
            identity = self.state.permission(full_name, self.state.identity)
            level = ["none", "read", "triage", "write", "maintain", "admin"].index(identity)
            out.update(
                {
                    "created_at": iso(1_600_000_000),
                    "updated_at": iso(1_735_000_000),
                    "pushed_at": iso(1_735_000_000),
                    "homepage": None,
                    "size": 120,
                    "stargazers_count": 3,
                    "watchers_count": 3,
                    "watchers": 3,
                    "language": "Python",
                    "forks_count": 1,
                    "forks": 1,
                    "open_issues_count": 1,
                    "open_issues": 1,
                    "has_issues": True,
                    "has_projects": False,
                    "has_wiki": False,
                    "has_pages": False,
                    "has_downloads": True,
                    "has_discussions": False,
                    "is_template": False,
                    "topics": [],
                    "mirror_url": None,
                    "license": None,
                    "allow_forking": True,
                    "web_commit_signoff_required": False,
                    "network_count": 1,
                    "subscribers_count": 1,
                    "temp_clone_token": None,
                    "permissions": {
                        "admin": level >= 5,
                        "maintain": level >= 4,
                        "push": level >= 3,
                        "triage": level >= 2,
                        "pull": level >= 1,
                    },
                }
            )
            if r.fork_of:
                out["parent"] = self.repo(r.fork_of)
                out["source"] = self.repo(r.fork_of)
        return out

    # ---- git ----------------------------------------------------------------------------------

    def git_commit(self, full_name: str, sha: str) -> dict[str, Any]:
        c = self.state.git.commit(sha)
        url = f"{self.api}/repos/{full_name}/git/commits/{sha}"

        def person(p: tuple[str, str, int]) -> dict[str, Any]:
            return {"name": p[0], "email": p[1], "date": iso(p[2])}

        return {
            "sha": sha,
            "node_id": node_id("Commit", sha),
            "url": url,
            "html_url": f"{self.web}/{full_name}/commit/{sha}",
            "author": person(c.author),
            "committer": person(c.committer),
            "message": c.message,
            "tree": {
                "sha": c.tree,
                "url": f"{self.api}/repos/{full_name}/git/trees/{c.tree}",
            },
            "parents": [
                {
                    "sha": p,
                    "url": f"{self.api}/repos/{full_name}/git/commits/{p}",
                    "html_url": f"{self.web}/{full_name}/commit/{p}",
                }
                for p in c.parents
            ],
            "verification": {
                "verified": False,
                "reason": "unsigned",
                "signature": None,
                "payload": None,
                "verified_at": None,
            },
        }

    def simple_commit(self, sha: str) -> dict[str, Any]:
        c = self.state.git.commit(sha)
        return {
            "id": sha,
            "tree_id": c.tree,
            "message": c.message,
            "timestamp": iso(c.committer[2]),
            "author": {"name": c.author[0], "email": c.author[1]},
            "committer": {"name": c.committer[0], "email": c.committer[1]},
        }

    def tree(self, full_name: str, sha: str, *, recursive: bool) -> dict[str, Any]:
        entries = self.state.git.walk(sha) if recursive else [(e.name, e) for e in self.state.git.tree(sha)]
        items = []
        for path, e in entries:
            item: dict[str, Any] = {
                "path": path,
                "mode": e.mode,
                "type": e.kind,
                "sha": e.sha,
            }
            if e.kind == "blob":
                item["size"] = len(self.state.git.blob(e.sha))
                item["url"] = f"{self.api}/repos/{full_name}/git/blobs/{e.sha}"
            elif e.kind == "tree":
                item["url"] = f"{self.api}/repos/{full_name}/git/trees/{e.sha}"
            items.append(item)
        return {
            "sha": sha,
            "url": f"{self.api}/repos/{full_name}/git/trees/{sha}",
            "tree": items,
            "truncated": False,
        }

    def ref(self, full_name: str, ref: str) -> dict[str, Any]:
        sha = self.state.repo(full_name).refs[ref]
        return {
            "ref": ref,
            "node_id": node_id("Ref", f"{full_name}:{ref}"),
            "url": f"{self.api}/repos/{full_name}/git/{ref}",
            "object": {
                "type": "commit",
                "sha": sha,
                "url": f"{self.api}/repos/{full_name}/git/commits/{sha}",
            },
        }

    @staticmethod
    def b64(data: bytes) -> str:
        """Base64 wrapped at 60 characters per line, the way the contents and blobs APIs send it."""
        raw = base64.b64encode(data).decode()
        return "".join(raw[i : i + 60] + "\n" for i in range(0, len(raw), 60))

    def content(self, full_name: str, path: str, ref: str, mode: str, sha: str) -> dict[str, Any]:
        url = f"{self.api}/repos/{full_name}/contents/{quote(path)}?ref={quote(ref, safe='')}"
        html = f"{self.web}/{full_name}/blob/{ref}/{quote(path)}"
        git_url = f"{self.api}/repos/{full_name}/git/{'trees' if mode == MODE_TREE else 'blobs'}/{sha}"
        out: dict[str, Any] = {
            "name": path.rsplit("/", 1)[-1],
            "path": path,
            "sha": sha,
            "url": url,
            "html_url": html,
            "git_url": git_url,
            "_links": {"self": url, "git": git_url, "html": html},
        }
        if mode == MODE_TREE:
            out.update(type="dir", size=0, download_url=None)
        elif mode == MODE_SUBMODULE:
            out.update(
                type="submodule",
                size=0,
                download_url=None,
                submodule_git_url=f"{self.web}/{full_name}-sub.git",
                git_url=None,
                html_url=None,
            )
            out["_links"].update(git=None, html=None)
        else:
            data = self.state.git.blob(sha)
            out.update(
                size=len(data),
                download_url=f"https://raw.githubusercontent.com/{full_name}/{ref}/{quote(path)}",
            )
            if mode == MODE_SYMLINK:
                out.update(type="symlink", target=data.decode("utf-8", "replace"))
            else:
                out.update(type="file", encoding="base64", content=self.b64(data))
        return out

    # ---- actions ------------------------------------------------------------------------------

    def run(self, run: Run) -> dict[str, Any]:
        wf = self.state.workflows[run.workflow_id]
        url = f"{self.api}/repos/{run.repo}/actions/runs/{run.id}"
        created = iso(
            min(
                (j.started for j in self.state.jobs.values() if j.run_id == run.id),
                default=1_735_725_600,
            )
            - 5
        )
        return {
            "id": run.id,
            "name": wf.name,
            "node_id": node_id("WorkflowRun", run.id),
            "head_branch": run.head_branch,
            "head_sha": run.head_sha,
            "path": wf.path,
            "display_title": run.display_title or wf.name,
            "run_number": run.run_number,
            "run_attempt": run.run_attempt,
            "event": run.event,
            "status": run.status,
            "conclusion": run.conclusion,
            "workflow_id": wf.id,
            "check_suite_id": run.id + 1,
            "check_suite_node_id": node_id("CheckSuite", run.id + 1),
            "url": url,
            "html_url": f"{self.web}/{run.repo}/actions/runs/{run.id}",
            "pull_requests": [
                self.pull_minimal(run.repo, n) for n in run.pull_requests if self.state.pull(run.repo, n)
            ],
            "created_at": created,
            "updated_at": created,
            "run_started_at": created,
            "actor": self.user(run.actor),
            "triggering_actor": self.user(run.actor),
            "jobs_url": f"{url}/jobs",
            "logs_url": f"{url}/logs",
            "check_suite_url": f"{self.api}/repos/{run.repo}/check-suites/{run.id + 1}",
            "artifacts_url": f"{url}/artifacts",
            "cancel_url": f"{url}/cancel",
            "rerun_url": f"{url}/rerun",
            "previous_attempt_url": f"{url}/attempts/{run.run_attempt - 1}" if run.run_attempt > 1 else None,
            "workflow_url": f"{self.api}/repos/{run.repo}/actions/workflows/{wf.id}",
            "head_commit": self.simple_commit(run.head_sha) if run.head_sha in self.state.git else None,
            "repository": self.repo(run.repo),
            "head_repository": self.repo(run.head_repo),
        }

    def job(self, job: Job) -> dict[str, Any]:
        run = self.state.runs[job.run_id]
        wf = self.state.workflows[run.workflow_id]
        t = job.started
        steps = []
        for s in job.steps:
            steps.append(
                {
                    "name": s.name,
                    "number": s.number,
                    "status": s.status,
                    "conclusion": s.conclusion,
                    "started_at": iso(t),
                    "completed_at": iso(t + 3),
                }
            )
            t += 3
        return {
            "id": job.id,
            "run_id": run.id,
            "run_url": f"{self.api}/repos/{job.repo}/actions/runs/{run.id}",
            "run_attempt": job.run_attempt,
            "node_id": node_id("CheckRun", job.id),
            "head_sha": run.head_sha,
            "head_branch": run.head_branch,
            "workflow_name": wf.name,
            "url": f"{self.api}/repos/{job.repo}/actions/jobs/{job.id}",
            "html_url": f"{self.web}/{job.repo}/actions/runs/{run.id}/job/{job.id}",
            "status": job.status,
            "conclusion": job.conclusion,
            "created_at": iso(job.started - 2),
            "started_at": iso(job.started),
            "completed_at": iso(t),
            "name": job.name,
            "steps": steps,
            "check_run_url": f"{self.api}/repos/{job.repo}/check-runs/{job.id}",
            "labels": ["ubuntu-latest"],
            "runner_id": 7,
            "runner_name": "GitHub Actions 7",
            "runner_group_id": 1,
            "runner_group_name": "GitHub Actions",
        }

    def workflow(self, wf_id: int) -> dict[str, Any]:
        wf = self.state.workflows[wf_id]
        return {
            "id": wf.id,
            "node_id": node_id("Workflow", wf.id),
            "name": wf.name,
            "path": wf.path,
            "state": "active",
            "created_at": iso(1_700_000_000),
            "updated_at": iso(1_700_000_000),
            "url": f"{self.api}/repos/{wf.repo}/actions/workflows/{wf.id}",
            "html_url": f"{self.web}/{wf.repo}/blob/main/{wf.path}",
            "badge_url": f"{self.web}/{wf.repo}/workflows/{quote(wf.name)}/badge.svg",
        }

    # ---- checks -------------------------------------------------------------------------------

    def app(self) -> dict[str, Any]:
        return {
            "id": GITHUB_ACTIONS_APP_ID,
            "slug": "github-actions",
            "node_id": "MDM6QXBwMTUzNjg=",
            "name": "GitHub Actions",
            "owner": self.user("github"),
            "description": "Automate your workflow from idea to production",
            "external_url": "https://help.github.com/en/actions",
            "html_url": f"{self.web}/apps/github-actions",
            "created_at": "2018-07-30T09:30:17Z",
            "updated_at": "2024-04-10T20:33:16Z",
            "permissions": {
                "checks": "write",
                "contents": "write",
                "issues": "write",
                "pull_requests": "write",
                "actions": "write",
                "metadata": "read",
            },
            "events": [
                "check_run",
                "issue_comment",
                "pull_request",
                "push",
                "workflow_dispatch",
            ],
            "client_id": "Iv1.05c79e9ad1f6bdfa",
        }

    def check_run(self, c: CheckRun) -> dict[str, Any]:
        url = f"{self.api}/repos/{c.repo}/check-runs/{c.id}"
        prs = [
            self.pull_minimal(c.repo, i.number)
            for i in self.state.issues.values()
            if i.repo == c.repo
            and i.pull
            and i.pull.head_sha == c.head_sha
            and i.state == "open"
            and i.pull.head_repo == c.repo
        ]
        return {
            "id": c.id,
            "node_id": node_id("CheckRun", c.id),
            "head_sha": c.head_sha,
            "name": c.name,
            "external_id": c.external_id or "",
            "url": url,
            "html_url": f"{self.web}/{c.repo}/runs/{c.id}",
            "details_url": c.details_url or f"{self.web}/{c.repo}/runs/{c.id}",
            "status": c.status,
            "conclusion": c.conclusion,
            "started_at": c.started_at,
            "completed_at": c.completed_at,
            "output": {
                "title": c.output.get("title"),
                "summary": c.output.get("summary"),
                "text": c.output.get("text"),
                "annotations_count": len(c.annotations),
                "annotations_url": f"{url}/annotations",
            },
            "check_suite": {"id": c.id + 1},
            "app": self.app(),
            "pull_requests": prs,
        }

    # ---- issues, comments, pulls --------------------------------------------------------------

    def association(self, full_name: str, login: str) -> str:
        repo = self.state.repo(full_name)
        if login == repo.owner:
            return "OWNER"
        if repo.collaborators.get(login) not in (None, "none"):
            return "COLLABORATOR"
        return (
            "CONTRIBUTOR"
            if any(i.user == login and i.pull for i in self.state.issues.values() if i.repo == full_name)
            else "NONE"
        )

    def comment(self, c: Comment) -> dict[str, Any]:
        url = f"{self.api}/repos/{c.repo}/issues/comments/{c.id}"
        kind = "pull" if self.state.pull(c.repo, c.issue_number) else "issues"
        return {
            "id": c.id,
            "node_id": node_id("IssueComment", c.id),
            "url": url,
            "html_url": f"{self.web}/{c.repo}/{kind}/{c.issue_number}#issuecomment-{c.id}",
            "body": c.body,
            "user": self.user(c.user),
            "created_at": iso(c.created),
            "updated_at": iso(c.updated),
            "issue_url": f"{self.api}/repos/{c.repo}/issues/{c.issue_number}",
            "author_association": self.association(c.repo, c.user),
            "reactions": self.reaction_rollup(
                url, [r for r in self.state.reactions.values() if r.comment_id == c.id]
            ),
        }

    @staticmethod
    def reaction_rollup(url: str, reactions: list[Reaction]) -> dict[str, Any]:
        keys = {
            "+1": "+1",
            "-1": "-1",
            "laugh": "laugh",
            "confused": "confused",
            "heart": "heart",
            "hooray": "hooray",
            "eyes": "eyes",
            "rocket": "rocket",
        }
        out: dict[str, Any] = {"url": f"{url}/reactions", "total_count": len(reactions)}
        for content, key in keys.items():
            out[key] = sum(1 for r in reactions if r.content == content)
        return out

    def reaction(self, r: Reaction) -> dict[str, Any]:
        return {
            "id": r.id,
            "node_id": node_id("Reaction", r.id),
            "user": self.user(r.user),
            "content": r.content,
            "created_at": iso(r.created),
        }

    def label(self, full_name: str, name: str) -> dict[str, Any]:
        ident = zlib.crc32(f"{full_name}:{name}".encode())
        return {
            "id": ident,
            "node_id": node_id("Label", ident),
            "url": f"{self.api}/repos/{full_name}/labels/{quote(name)}",
            "name": name,
            "description": "",  # GitHub gives "" or null; "" is valid in both the issue and the PR-list schema
            "color": "d73a4a",
            "default": name == "bug",
        }

    def issue(self, i: Issue) -> dict[str, Any]:
        url = f"{self.api}/repos/{i.repo}/issues/{i.number}"
        kind = "pull" if i.pull else "issues"
        out: dict[str, Any] = {
            "id": i.id,
            "node_id": node_id("Issue", i.id),
            "url": url,
            "repository_url": f"{self.api}/repos/{i.repo}",
            "labels_url": f"{url}/labels{{/name}}",
            "comments_url": f"{url}/comments",
            "events_url": f"{url}/events",
            "html_url": f"{self.web}/{i.repo}/{kind}/{i.number}",
            "number": i.number,
            "state": i.state,
            "title": i.title,
            "body": i.body,
            "user": self.user(i.user),
            "labels": [self.label(i.repo, n) for n in i.labels],
            "assignee": None,
            "assignees": [],
            "milestone": None,
            "locked": False,
            "active_lock_reason": None,
            "comments": sum(
                1 for c in self.state.comments.values() if c.repo == i.repo and c.issue_number == i.number
            ),
            "closed_at": None,
            "created_at": iso(i.created),
            "updated_at": iso(i.updated or i.created),
            "author_association": self.association(i.repo, i.user),
        }
        if i.pull:
            pulls = f"{self.api}/repos/{i.repo}/pulls/{i.number}"
            out["pull_request"] = {
                "url": pulls,
                "html_url": out["html_url"],
                "diff_url": f"{out['html_url']}.diff",
                "patch_url": f"{out['html_url']}.patch",
                "merged_at": None,
            }
        return out

    def pull_minimal(self, full_name: str, number: int) -> dict[str, Any]:
        i = self.state.pull(full_name, number)
        assert i is not None and i.pull is not None

        def side(repo: str, ref: str, sha: str) -> dict[str, Any]:
            r = self.state.repo(repo)
            return {
                "ref": ref,
                "sha": sha,
                "repo": {"id": r.id, "url": f"{self.api}/repos/{repo}", "name": r.name},
            }

        return {
            "id": i.id,
            "number": i.number,
            "url": f"{self.api}/repos/{full_name}/pulls/{i.number}",
            "head": side(i.pull.head_repo, i.pull.head_ref, i.pull.head_sha),
            "base": side(full_name, i.pull.base_ref, i.pull.base_sha),
        }

    def pull(self, i: Issue, *, full: bool = True) -> dict[str, Any]:
        assert i.pull is not None
        p = i.pull
        url = f"{self.api}/repos/{i.repo}/pulls/{i.number}"
        html = f"{self.web}/{i.repo}/pull/{i.number}"
        issue_url = f"{self.api}/repos/{i.repo}/issues/{i.number}"

        def side(repo: str, ref: str, sha: str) -> dict[str, Any]:
            r = self.state.repo(repo)
            return {
                "label": f"{r.owner}:{ref}",
                "ref": ref,
                "sha": sha,
                "user": self.user(r.owner),
                "repo": self.repo(repo),
            }

        out: dict[str, Any] = {
            "id": i.id,
            "node_id": node_id("PullRequest", i.id),
            "url": url,
            "html_url": html,
            "diff_url": f"{html}.diff",
            "patch_url": f"{html}.patch",
            "issue_url": issue_url,
            "commits_url": f"{url}/commits",
            "review_comments_url": f"{url}/comments",
            "review_comment_url": f"{self.api}/repos/{i.repo}/pulls/comments{{/number}}",
            "comments_url": f"{issue_url}/comments",
            "statuses_url": f"{self.api}/repos/{i.repo}/statuses/{p.head_sha}",
            "number": i.number,
            "state": i.state,
            "locked": False,
            "title": i.title,
            "user": self.user(i.user),
            "body": i.body,
            "labels": [self.label(i.repo, n) for n in i.labels],
            "milestone": None,
            "active_lock_reason": None,
            "created_at": iso(i.created),
            "updated_at": iso(i.updated or i.created),
            "closed_at": None,
            "merged_at": None,
            "merge_commit_sha": None,
            "assignee": None,
            "assignees": [],
            "requested_reviewers": [],
            "requested_teams": [],
            "head": side(p.head_repo, p.head_ref, p.head_sha),
            "base": side(i.repo, p.base_ref, p.base_sha),
            "author_association": self.association(i.repo, i.user),
            "auto_merge": None,
            "draft": p.draft,
            "_links": {
                k: {"href": v}
                for k, v in {
                    "self": url,
                    "html": html,
                    "issue": issue_url,
                    "comments": f"{issue_url}/comments",
                    "review_comments": f"{url}/comments",
                    "review_comment": f"{self.api}/repos/{i.repo}/pulls/comments{{/number}}",
                    "commits": f"{url}/commits",
                    "statuses": f"{self.api}/repos/{i.repo}/statuses/{p.head_sha}",
                }.items()
            },
        }
        if full:
            files = self.pull_files(i)
            out.update(
                {
                    "merged": p.merged,
                    "mergeable": True,
                    "rebaseable": True,
                    "mergeable_state": "clean",
                    "merged_by": None,
                    "comments": sum(
                        1
                        for c in self.state.comments.values()
                        if c.repo == i.repo and c.issue_number == i.number
                    ),
                    "review_comments": sum(
                        1
                        for c in self.state.review_comments.values()
                        if c.repo == i.repo and c.pull_number == i.number
                    ),
                    "maintainer_can_modify": p.maintainer_can_modify,
                    "commits": 1,
                    "additions": sum(f["additions"] for f in files),
                    "deletions": sum(f["deletions"] for f in files),
                    "changed_files": len(files),
                }
            )
        return out

    def pull_files(self, i: Issue) -> list[dict[str, Any]]:
        """Changed files between the PR's base and head commits with unified-diff ``patch`` hunks."""
        assert i.pull is not None
        return self.diff_files(i.pull.base_sha, i.pull.head_sha, i.pull.head_repo)

    def diff_files(self, base_sha: str, head_sha: str, head_repo: str) -> list[dict[str, Any]]:
        """GitHub's ``diff-entry`` list between the trees of two commits (sorted by path)."""
        git = self.state.git
        old = git.flatten(git.commit(base_sha).tree)
        new = git.flatten(git.commit(head_sha).tree)
        out = []
        for path in sorted(set(old) | set(new)):
            if old.get(path) == new.get(path):
                continue
            status = "added" if path not in old else "removed" if path not in new else "modified"

            def text(entry: tuple[str, str] | None) -> list[str]:
                if entry is None or entry[0] == MODE_SUBMODULE:
                    return []
                return git.blob(entry[1]).decode("utf-8", "replace").splitlines()

            a, b = text(old.get(path)), text(new.get(path))
            lines = list(difflib.unified_diff(a, b, lineterm="", n=3))[2:]
            adds = sum(1 for line in lines if line.startswith("+"))
            dels = sum(1 for line in lines if line.startswith("-"))
            sha = (new.get(path) or old.get(path) or ("", "0" * 40))[1]
            out.append(
                {
                    "sha": sha,
                    "filename": path,
                    "status": status,
                    "additions": adds,
                    "deletions": dels,
                    "changes": adds + dels,
                    "blob_url": f"{self.web}/{head_repo}/blob/{head_sha}/{quote(path)}",
                    "raw_url": f"{self.web}/{head_repo}/raw/{head_sha}/{quote(path)}",
                    "contents_url": f"{self.api}/repos/{head_repo}/contents/{quote(path)}?ref={head_sha}",
                    "patch": "\n".join(lines),
                }
            )
        return out

    def review(self, r: Review) -> dict[str, Any]:
        html = f"{self.web}/{r.repo}/pull/{r.pull_number}#pullrequestreview-{r.id}"
        pr_url = f"{self.api}/repos/{r.repo}/pulls/{r.pull_number}"
        state = {
            "APPROVE": "APPROVED",
            "REQUEST_CHANGES": "CHANGES_REQUESTED",
            "COMMENT": "COMMENTED",
        }.get(r.event, "PENDING")
        return {
            "id": r.id,
            "node_id": node_id("PullRequestReview", r.id),
            "user": self.user(r.user),
            "body": r.body,
            "state": state,
            "html_url": html,
            "pull_request_url": pr_url,
            "commit_id": r.commit_id,
            "submitted_at": iso(self.state.now()),
            "author_association": self.association(r.repo, r.user),
            "_links": {"html": {"href": html}, "pull_request": {"href": pr_url}},
        }

    def review_comment(self, c: ReviewComment, diff_hunk: str) -> dict[str, Any]:
        url = f"{self.api}/repos/{c.repo}/pulls/comments/{c.id}"
        html = f"{self.web}/{c.repo}/pull/{c.pull_number}#discussion_r{c.id}"
        pr_url = f"{self.api}/repos/{c.repo}/pulls/{c.pull_number}"
        now = iso(self.state.now())
        return {
            "url": url,
            "id": c.id,
            "node_id": node_id("PullRequestReviewComment", c.id),
            "pull_request_review_id": c.review_id,
            "diff_hunk": diff_hunk,
            "path": c.path,
            "commit_id": c.commit_id,
            "original_commit_id": c.commit_id,
            "user": self.user(c.user),
            "body": c.body,
            "created_at": now,
            "updated_at": now,
            "html_url": html,
            "pull_request_url": pr_url,
            "author_association": self.association(c.repo, c.user),
            "line": c.line,
            "original_line": c.line,
            "side": c.side,
            "start_line": c.start_line,
            "original_start_line": c.start_line,
            "start_side": c.side if c.start_line else None,
            "subject_type": "line",
            "_links": {
                "self": {"href": url},
                "html": {"href": html},
                "pull_request": {"href": pr_url},
            },
        }

    def permission(self, full_name: str, login: str) -> dict[str, Any]:
        role = self.state.permission(full_name, login)
        return {
            "permission": ROLES[role],
            "role_name": role,
            "user": self.user(login) | {"role_name": role},
        }


__all__ = ["BOT_LOGIN", "Views", "node_id"]
