"""The risk badge: a deterministic level (low / medium / high) and every reason behind it.

Rules are the table of PRODUCT.md "Risk badge":

- **low**: fewer than 10 changed lines, only ordinary source files;
- **medium**: a dependency manifest or lock file changes; 10–50 changed lines; confidence below
  the threshold; a ``medium`` :class:`~ci_healer.models.Finding` (a file or lines the model was not
  shown, a created file); an edit that matched only by similarity;
- **high**: CI or workflow configuration changes; tests deleted, skipped or weakened, or an
  assertion of the failing test changed (any :class:`~ci_healer.models.Cheat`); more than 50
  changed lines; protected paths or any policy :class:`~ci_healer.models.Violation`; a ``high``
  finding (an unverified dependency name, a new file in a missing folder or of a kind the
  repository has none of).

The highest applicable level wins; ``reasons`` lists every condition that applied, highest first.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import PurePosixPath

from ci_healer.models import Cheat, EditMatch, Finding, Patch, Risk, RiskLevel, Violation
from ci_healer.policy import DEFAULT_PROTECTED, glob_match

LOW_MAX_LINES = 9
MEDIUM_MAX_LINES = 50

_MANIFEST_NAMES = {
    # Python
    "pyproject.toml",
    "setup.py",
    "setup.cfg",
    "pipfile",
    "pipfile.lock",
    "poetry.lock",
    "uv.lock",
    "pdm.lock",
    "environment.yml",
    "environment.yaml",
    "conda-lock.yml",
    "runtime.txt",
    ".python-version",
    # JavaScript / TypeScript
    "package.json",
    "package-lock.json",
    "npm-shrinkwrap.json",
    "yarn.lock",
    "pnpm-lock.yaml",
    "pnpm-workspace.yaml",
    "bun.lock",
    "bun.lockb",
    "deno.json",
    "deno.lock",
    ".nvmrc",
    ".node-version",
    # Go, Rust
    "go.mod",
    "go.sum",
    "go.work",
    "go.work.sum",
    "cargo.toml",
    "cargo.lock",
    "rust-toolchain",
    "rust-toolchain.toml",
    # JVM
    "pom.xml",
    "build.gradle",
    "build.gradle.kts",
    "settings.gradle",
    "settings.gradle.kts",
    "gradle.lockfile",
    "libs.versions.toml",
    "gradle-wrapper.properties",
    "build.sbt",
    # Ruby, PHP, Elixir, Swift, Dart, .NET, C/C++, Haskell
    "gemfile",
    "gemfile.lock",
    "composer.json",
    "composer.lock",
    "mix.exs",
    "mix.lock",
    "package.swift",
    "package.resolved",
    "podfile",
    "podfile.lock",
    "pubspec.yaml",
    "pubspec.lock",
    "packages.config",
    "directory.packages.props",
    "paket.dependencies",
    "paket.lock",
    "vcpkg.json",
    "conanfile.txt",
    "conanfile.py",
    "stack.yaml",
    "cabal.project",
    ".tool-versions",
}
_MANIFEST_RE = re.compile(
    r"^(?:requirements[^/]*\.(?:txt|in)|constraints[^/]*\.(?:txt|in)|[^/]*\.gemspec|[^/]*\.csproj|[^/]*\.fsproj"
    r"|[^/]*\.vbproj|[^/]*\.cabal)$",
    re.IGNORECASE,
)

#: CI and workflow configuration (matched like policy globs, case-insensitively).
CI_CONFIG_PATTERNS: tuple[str, ...] = (
    ".github/workflows/**",
    ".github/actions/**",
    "action.yml",
    "action.yaml",
    "Dockerfile*",
    "*.dockerfile",
    ".gitlab-ci.yml",
    ".gitlab-ci/**",
    "Jenkinsfile",
    ".travis.yml",
    ".circleci/**",
    "azure-pipelines.yml",
    "bitbucket-pipelines.yml",
    ".buildkite/**",
    "appveyor.yml",
    ".appveyor.yml",
    ".drone.yml",
    ".woodpecker.yml",
    ".woodpecker/**",
)


def is_dependency_manifest(path: str) -> bool:
    """True when ``path`` is a dependency manifest, lock file or toolchain pin.

    Matched on the file name (any directory), case-insensitively: ``requirements*.txt``/``.in``
    (also files under a ``requirements/`` folder), ``constraints*.txt``, ``pyproject.toml``,
    ``setup.py``, ``setup.cfg``, ``Pipfile(.lock)``, ``poetry.lock``, ``uv.lock``, ``package.json``
    and npm/yarn/pnpm/bun locks, ``go.mod``/``go.sum``, ``Cargo.toml``/``Cargo.lock``, ``pom.xml``,
    ``build.gradle(.kts)``, ``Gemfile(.lock)``, ``*.gemspec``, ``composer.json``/``.lock``,
    ``*.csproj`` and the other ecosystem files listed in this module.
    """
    pure = PurePosixPath(path.replace("\\", "/"))
    name = pure.name.lower()
    if name in _MANIFEST_NAMES or _MANIFEST_RE.match(name):
        return True
    parent = pure.parent.name.lower()
    return parent == "requirements" and name.endswith((".txt", ".in"))


def is_ci_config(path: str) -> bool:
    """True when ``path`` is CI or workflow configuration (:data:`CI_CONFIG_PATTERNS`)."""
    return any(glob_match(path, p, ignore_case=True) for p in CI_CONFIG_PATTERNS)


def _protected(path: str, extra: Iterable[str]) -> str | None:
    for pattern in (*DEFAULT_PROTECTED, *extra):
        if glob_match(path, pattern, ignore_case=True):
            return pattern
    return None


_CHEAT_WORDS = {
    "skip_test": "skips or disables a test",
    "delete_test": "deletes a test",
    "weaken_assertion": "weakens an assertion",
    "change_assertion": "changes an assertion of the failing test",
    "continue_on_error": "lets a failing CI command pass",
    "lint_disable": "disables a lint or type check",
    "loosen_threshold": "loosens a threshold",
    "timeout_only": "only raises a timeout",
}


def assess(
    patch: Patch | None,
    *,
    confidence: float,
    violations: Sequence[Violation],
    cheats: Sequence[Cheat],
    confidence_threshold: float = 0.6,
    protected_patterns: Iterable[str] = (),
    findings: Sequence[Finding] = (),
    matches: Sequence[EditMatch] = (),
    repair_rounds: int = 0,
) -> Risk:
    """Risk badge of a proposal.

    ``patch`` is the computed patch (``None`` when there is none: the level then comes from
    ``confidence`` and the reasons say "no patch"); ``confidence`` is the model's 0–1 value;
    ``violations``/``cheats`` come from :mod:`ci_healer.policy`; ``protected_patterns`` are the
    user's extra protected globs; ``findings`` (:func:`ci_healer.policy.review_patch`) add their
    own level and message; ``matches`` (``Patch.matches``) name every edit that was not found
    verbatim — a ``similarity`` match is medium (the quoted text differs from the file), the
    whitespace and indentation rules are noted at low; ``repair_rounds`` notes a patch that came
    from the patch-repair round. Returns a :class:`Risk` whose ``reasons`` hold one short
    sentence per condition that applied, high-level reasons first.
    """
    high: list[str] = []
    medium: list[str] = []
    low: list[str] = []
    extra = tuple(protected_patterns)

    for v in violations:
        high.append(f"policy violation ({v.code}): {v.message}")
    seen_cheats: set[tuple[str, str]] = set()
    for c in cheats:
        if (c.code, c.path) in seen_cheats:
            continue
        seen_cheats.add((c.code, c.path))
        high.append(f"{_CHEAT_WORDS.get(c.code, 'hides the failure')}: {c.path}: {c.line}")

    for f in findings:
        (high if f.level == "high" else medium).append(f"{f.message} ({f.code})")
    for m in matches:
        if m.rule == "similarity":
            medium.append(
                f"{m.describe()}: the quoted original differs from the file, check the changed lines"
            )
        elif m.lenient:
            low.append(m.describe())
    if repair_rounds:
        low.append("the edits come from one patch-repair round (the first edits did not apply)")

    if patch is None:
        low.append("no patch")
    else:
        ordinary = True
        for change in patch.files:
            path = change.path
            if is_ci_config(path):
                high.append(f"changes CI or workflow configuration: {path}")
                ordinary = False
            pattern = _protected(path, extra)
            if pattern is not None:
                high.append(f"changes a protected path: {path}")
                ordinary = False
            if is_dependency_manifest(path):
                medium.append(f"changes a dependency manifest: {path}")
                ordinary = False
        n = patch.changed_lines
        noun = "changed line" if n == 1 else "changed lines"
        if n > MEDIUM_MAX_LINES:
            high.append(f"{n} {noun} (more than {MEDIUM_MAX_LINES})")
        elif n > LOW_MAX_LINES:
            medium.append(f"{n} {noun} (10–{MEDIUM_MAX_LINES})")
        else:
            low.append(f"{n} {noun}")
        if ordinary and patch.files:
            low.append("only ordinary source files")

    if confidence < confidence_threshold:
        medium.append(f"confidence {confidence:.2f} is below the threshold {confidence_threshold:.2f}")
    else:
        low.append(f"confidence {confidence:.2f}")

    level: RiskLevel = "high" if high else "medium" if medium else "low"
    return Risk(level=level, reasons=_unique([*high, *medium, *low]))


def _unique(items: list[str]) -> list[str]:
    seen: set[str] = set()
    out = []
    for item in items:
        if item not in seen:
            seen.add(item)
            out.append(item)
    return out
