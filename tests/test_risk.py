"""Risk badge table (PRODUCT.md "Risk badge"): every level, every reason, the boundaries."""

from __future__ import annotations

from pathlib import Path

import pytest

from ci_healer.models import Cheat, FileEdit, Patch, Violation
from ci_healer.patch import build_patch
from ci_healer.policy import detect_cheats
from ci_healer.repo import LocalRepo
from ci_healer.risk import assess, is_ci_config, is_dependency_manifest


def build(tmp_path: Path, files: dict[str, str], edits: list[tuple[str, str, str]]) -> Patch:
    root = tmp_path / "repo"
    for rel, content in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(content)
    root.mkdir(exist_ok=True)
    return build_patch(
        [FileEdit(file_path=p, original=o, replacement=r) for p, o, r in edits], LocalRepo(root)
    )


def appended(tmp_path: Path, path: str, n: int) -> Patch:
    """A patch that adds ``n`` lines to ``path`` (``n`` changed lines)."""
    return build(tmp_path, {path: "x = 0\n"}, [(path, "", "".join(f"y{i} = {i}\n" for i in range(n)))])


def test_small_source_fix_is_low(tmp_path):
    patch = build(tmp_path, {"src/app.py": "import sys\n"}, [("src/app.py", "import sys", "import os")])
    risk = assess(patch, confidence=0.9, violations=[], cheats=[])
    assert risk.level == "low"
    assert risk.reasons == ["2 changed lines", "only ordinary source files", "confidence 0.90"]


def test_dependency_manifest_is_medium(tmp_path):
    patch = build(
        tmp_path, {"requirements.txt": "requests==2.31.0\n"}, [("requirements.txt", "", "pandas==2.2.1\n")]
    )
    risk = assess(patch, confidence=0.91, violations=[], cheats=[])
    assert risk.level == "medium"
    assert risk.reasons == [
        "changes a dependency manifest: requirements.txt",
        "1 changed line",
        "confidence 0.91",
    ]


@pytest.mark.parametrize(
    "lines,level,reason",
    [
        (9, "low", "9 changed lines"),
        (10, "medium", "10 changed lines (10–50)"),
        (50, "medium", "50 changed lines (10–50)"),
        (51, "high", "51 changed lines (more than 50)"),
    ],
)
def test_changed_line_boundaries(tmp_path, lines, level, reason):
    patch = appended(tmp_path, "src/gen.py", lines)
    assert patch.changed_lines == lines
    risk = assess(patch, confidence=0.9, violations=[], cheats=[])
    assert risk.level == level
    assert reason in risk.reasons


@pytest.mark.parametrize(
    "confidence,threshold,level",
    [(0.59, 0.6, "medium"), (0.6, 0.6, "low"), (0.2, 0.1, "low"), (0.5, 0.8, "medium")],
)
def test_confidence_threshold(tmp_path, confidence, threshold, level):
    patch = appended(tmp_path, "src/a.py", 1)
    risk = assess(patch, confidence=confidence, violations=[], cheats=[], confidence_threshold=threshold)
    assert risk.level == level
    below = f"confidence {confidence:.2f} is below the threshold {threshold:.2f}"
    assert (below in risk.reasons) is (level == "medium")


@pytest.mark.parametrize(
    "path,reason",
    [
        (".github/workflows/ci.yml", "changes CI or workflow configuration: .github/workflows/ci.yml"),
        ("Dockerfile", "changes CI or workflow configuration: Dockerfile"),
        ("action.yml", "changes CI or workflow configuration: action.yml"),
        (".gitlab-ci.yml", "changes CI or workflow configuration: .gitlab-ci.yml"),
        ("Jenkinsfile", "changes CI or workflow configuration: Jenkinsfile"),
        (".travis.yml", "changes CI or workflow configuration: .travis.yml"),
        ("CODEOWNERS", "changes a protected path: CODEOWNERS"),
        ("AGENTS.md", "changes a protected path: AGENTS.md"),
    ],
)
def test_ci_and_protected_files_are_high(tmp_path, path, reason):
    patch = build(tmp_path, {path: "a: 1\n"}, [(path, "a: 1", "a: 2")])
    risk = assess(patch, confidence=0.95, violations=[], cheats=[])
    assert risk.level == "high"
    assert reason in risk.reasons
    assert "only ordinary source files" not in risk.reasons


def test_user_protected_pattern_is_high(tmp_path):
    patch = build(
        tmp_path, {"db/migrations/0001.py": "x = 1\n"}, [("db/migrations/0001.py", "x = 1", "x = 2")]
    )
    assert assess(patch, confidence=0.9, violations=[], cheats=[]).level == "low"
    risk = assess(patch, confidence=0.9, violations=[], cheats=[], protected_patterns=["db/migrations/**"])
    assert risk.level == "high"
    assert "changes a protected path: db/migrations/0001.py" in risk.reasons


def test_cheat_forces_high_and_is_named(tmp_path):
    patch = build(
        tmp_path,
        {"tests/test_calc.py": "def test_total():\n    assert total([1, 2]) == 3\n"},
        [("tests/test_calc.py", "def test_total():", "@pytest.mark.skip(reason='flaky')\ndef test_total():")],
    )
    cheats = detect_cheats(patch)
    risk = assess(patch, confidence=0.99, violations=[], cheats=cheats)
    assert risk.level == "high"
    assert (
        risk.reasons[0] == "skips or disables a test: tests/test_calc.py: @pytest.mark.skip(reason='flaky')"
    )


def test_violation_forces_high():
    violation = Violation(
        code="protected_path",
        path=".github/workflows/ci.yml",
        message=".github/workflows/ci.yml: protected file",
    )
    risk = assess(None, confidence=0.9, violations=[violation], cheats=[])
    assert risk.level == "high"
    assert risk.reasons[0] == "policy violation (protected_path): .github/workflows/ci.yml: protected file"
    assert "no patch" in risk.reasons


@pytest.mark.parametrize("confidence,level", [(0.9, "low"), (0.3, "medium")])
def test_no_patch_level_comes_from_confidence(confidence, level):
    risk = assess(None, confidence=confidence, violations=[], cheats=[])
    assert risk.level == level
    assert "no patch" in risk.reasons


def test_every_applicable_condition_is_listed_highest_first(tmp_path):
    files = {"requirements.txt": "a==1\n", "Dockerfile": "FROM python:3.12\n", "src/app.py": "x = 0\n"}
    edits = [
        ("requirements.txt", "", "b==2\n"),
        ("Dockerfile", "FROM python:3.12", "FROM python:3.13"),
        ("src/app.py", "", "".join(f"y{i} = {i}\n" for i in range(60))),
    ]
    patch = build(tmp_path, files, edits)
    cheat = Cheat(code="lint_disable", path="src/app.py", line="import os  # noqa", message="m")
    risk = assess(patch, confidence=0.3, violations=[], cheats=[cheat, cheat])
    assert risk.level == "high"
    assert risk.reasons == [
        "disables a lint or type check: src/app.py: import os  # noqa",
        "changes CI or workflow configuration: Dockerfile",
        "changes a protected path: Dockerfile",
        f"{patch.changed_lines} changed lines (more than 50)",
        "changes a dependency manifest: requirements.txt",
        "confidence 0.30 is below the threshold 0.60",
    ]


MANIFESTS = [
    "requirements.txt",
    "requirements-dev.txt",
    "requirements/test.txt",
    "requirements.in",
    "constraints.txt",
    "pyproject.toml",
    "setup.py",
    "setup.cfg",
    "Pipfile",
    "Pipfile.lock",
    "poetry.lock",
    "uv.lock",
    "package.json",
    "web/package-lock.json",
    "yarn.lock",
    "pnpm-lock.yaml",
    "go.mod",
    "go.sum",
    "Cargo.toml",
    "Cargo.lock",
    "pom.xml",
    "build.gradle",
    "app/build.gradle.kts",
    "Gemfile",
    "Gemfile.lock",
    "composer.json",
    "composer.lock",
    "mylib.gemspec",
    "src/App/App.csproj",
]
NOT_MANIFESTS = [
    "src/app.py",
    "README.md",
    "requirements.md",
    "docs/setup.md",
    "package.py",
    "tests/test_setup.py",
    "gomod.txt",
]


@pytest.mark.parametrize("path", MANIFESTS)
def test_is_dependency_manifest(path):
    assert is_dependency_manifest(path)


@pytest.mark.parametrize("path", NOT_MANIFESTS)
def test_is_not_dependency_manifest(path):
    assert not is_dependency_manifest(path)


@pytest.mark.parametrize(
    "path,expected",
    [
        (".github/workflows/x.yaml", True),
        ("ci/Dockerfile.test", True),
        (".circleci/config.yml", True),
        ("src/ci.py", False),
        ("docs/workflows.md", False),
    ],
)
def test_is_ci_config(path, expected):
    assert is_ci_config(path) is expected


# ------------------------------------------------------------- how edits matched, findings


def test_a_similarity_match_is_medium_and_whitespace_matches_are_noted(tmp_path):
    from ci_healer.models import EditMatch, Finding

    patch = appended(tmp_path, "src/a.py", 1)
    fuzzy = EditMatch(
        edit_index=1, file_path="src/a.py", rule="similarity", start_line=3, end_line=6, similarity=0.93
    )
    spaces = EditMatch(
        edit_index=2, file_path="src/a.py", rule="trailing_whitespace", start_line=9, end_line=9
    )
    risk = assess(patch, confidence=0.9, violations=[], cheats=[], matches=[fuzzy, spaces])
    assert risk.level == "medium"
    assert risk.reasons[0].startswith(
        "edit 1 (src/a.py, lines 3-6) matched the most similar lines (similarity 0.93)"
    )
    assert "edit 2 (src/a.py, line 9) matched ignoring trailing whitespace and line endings" in risk.reasons

    high = Finding(
        code="new_file_kind",
        path="x.h",
        level="high",
        message="creates x.h, a `.h` file, but the repository has no file of that kind",
    )
    risk = assess(patch, confidence=0.9, violations=[], cheats=[], findings=[high])
    assert risk.level == "high"
    assert (
        risk.reasons[0]
        == "creates x.h, a `.h` file, but the repository has no file of that kind (new_file_kind)"
    )


def test_a_changed_assertion_is_named_in_the_reasons(tmp_path):
    patch = appended(tmp_path, "tests/test_a.py", 1)
    cheat = Cheat(
        code="change_assertion", path="tests/test_a.py", line="assert a == b → assert a != b", message="m"
    )
    risk = assess(patch, confidence=0.9, violations=[], cheats=[cheat])
    assert risk.level == "high"
    assert (
        risk.reasons[0]
        == "changes an assertion of the failing test: tests/test_a.py: assert a == b → assert a != b"
    )
