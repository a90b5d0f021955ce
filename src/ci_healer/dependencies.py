"""Is a dependency a patch adds the one the failure is missing? (dependency-confusion check)

A model that sees ``ModuleNotFoundError: No module named 'yaml'`` tends to add ``yaml`` to
``requirements.txt``. That name is not the distribution that provides ``import yaml`` (``PyYAML``
is); whatever is published under the import name installs instead, which is how dependency-confusion
and typosquatting attacks reach a build (Birsan, "Dependency Confusion", 2021; Vu et al., "Typosquatting
and Combosquatting Attacks on the Python Ecosystem", EuroS&PW 2020). So every dependency a patch
*adds* to a manifest is checked against the modules the failure blocks say are missing:

- Python: the import → distribution table of :mod:`ci_healer.pypi_names`; a name verifies only
  when the table (or the list of same-name packages) says it provides a failing import;
- npm: the package part of ``Cannot find module 'x'`` / ``Can't resolve 'x'`` /
  ``Cannot find package 'x'`` (``@scope/name`` or the first path segment; Node resolves
  ``node_modules/<name>``), or ``@types/<name>`` for a missing declaration file;
- Go: a ``require``\\d module path must be the failing package or one of its parents
  (``cannot find package "x"``, ``no required module provides package x``);
- Maven/Gradle: nothing in a log ties ``package x.y does not exist`` to an artifact, so every added
  ``groupId:artifactId`` is unverified.

Only names that are new in the file count (a version bump of a declared dependency is not checked).
Everything is computed from the texts passed in; nothing is read or fetched.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from ci_healer.models import FileChange, Finding
from ci_healer.pypi_names import (
    IMPORT_TO_DISTRIBUTIONS,
    KNOWN_SAME_NAME,
    distribution_candidates,
    is_known,
    normalise,
)

CONFUSION = "unverified package name: dependency-confusion risk"

_REQ_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
_QUOTED_REQ = re.compile(r"""["']\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*(?:[<>=!~;@ (]|["'])""")

_PY_MISSING = re.compile(r"No module named ['\"]?([A-Za-z_][\w.]*)")
_NPM_MISSING = re.compile(
    r"Cannot find module ['\"]([^'\"]+)['\"]|Can't resolve ['\"]([^'\"]+)['\"]|Cannot find package ['\"]([^'\"]+)['\"]"
    r"|Could not find a declaration file for module ['\"]([^'\"]+)['\"]"
)
_GO_MISSING = re.compile(
    r"cannot find package \"([^\"]+)\"|no required module provides package ([^\s;:]+)"
    r"|missing go\.sum entry for module providing package ([^\s;:(]+)|cannot find module providing package ([^\s;:]+)"
)
_JAVA_MISSING = re.compile(r"package ([a-z_][\w]*(?:\.[\w]+)+) does not exist")
_GO_REQUIRE_LINE = re.compile(
    r"^\s*(?:require\s+)?([A-Za-z0-9][\w.\-~]*(?:/[\w.\-~]+)+)\s+v[\w.\-+]+", re.MULTILINE
)
_GRADLE_DEP = re.compile(
    r"\b(?:implementation|api|compileOnly|runtimeOnly|testImplementation|testRuntimeOnly|annotationProcessor|kapt|compile|testCompile)"
    r"\s*\(?\s*[\"']([\w.\-]+):([\w.\-]+)(?::[^\"']*)?[\"']"
)
_POM_DEP = re.compile(r"<dependency>(.*?)</dependency>", re.DOTALL)


@dataclass(frozen=True)
class Missing:
    """What the failure blocks say is missing, per ecosystem (import / package / module names)."""

    python: tuple[str, ...] = ()
    npm: tuple[str, ...] = ()
    go: tuple[str, ...] = ()
    java: tuple[str, ...] = ()


def _npm_package(spec: str) -> str | None:
    spec = spec.strip()
    if not spec or spec.startswith((".", "/", "node:")) or re.match(r"^[A-Za-z]:", spec):
        return None
    parts = spec.split("/")
    if spec.startswith("@"):
        return "/".join(parts[:2]) if len(parts) >= 2 else None
    return parts[0]


def missing_names(failure_text: str) -> Missing:
    """The missing imports, npm packages, Go packages and Java packages a failure log names."""
    py = tuple(dict.fromkeys(m.rstrip(".") for m in _PY_MISSING.findall(failure_text)))
    npm: list[str] = []
    for groups in _NPM_MISSING.findall(failure_text):
        spec = next(g for g in groups if g)
        name = _npm_package(spec)
        if name:
            npm.append(name)
    go = [next(g for g in groups if g).rstrip(".") for groups in _GO_MISSING.findall(failure_text)]
    java = _JAVA_MISSING.findall(failure_text)
    return Missing(
        python=py, npm=tuple(dict.fromkeys(npm)), go=tuple(dict.fromkeys(go)), java=tuple(dict.fromkeys(java))
    )


# ------------------------------------------------------------------------------- declared names


def ecosystem(path: str) -> str | None:
    """``python``, ``npm``, ``go`` or ``maven`` for a manifest this module reads, else ``None``."""
    name = PurePosixPath(path).name.lower()
    parent = PurePosixPath(path).parent.name.lower()
    if re.match(r"^(?:requirements|constraints)[^/]*\.(?:txt|in)$", name) or (
        parent == "requirements" and name.endswith((".txt", ".in"))
    ):
        return "python"
    if name in ("pyproject.toml", "setup.py", "setup.cfg", "pipfile"):
        return "python"
    if name == "package.json":
        return "npm"
    if name == "go.mod":
        return "go"
    if name in ("pom.xml", "build.gradle", "build.gradle.kts"):
        return "maven"
    return None


def _table(data: Mapping[str, Any], key: str) -> dict[str, Any]:
    """The TOML table ``data[key]``, or an empty one when it is missing or not a table."""
    value = data.get(key)
    return value if isinstance(value, dict) else {}


def _toml_requirements(values: object) -> Iterable[str]:
    if isinstance(values, list):
        for value in values:
            if isinstance(value, str):
                m = _REQ_NAME.match(value)
                if m:
                    yield m.group(1)
    elif isinstance(values, dict):
        yield from (k for k in values if isinstance(k, str) and k.lower() != "python")


def _python_names(path: str, text: str) -> set[str]:
    name = PurePosixPath(path).name.lower()
    found: list[str] = []
    if name.endswith((".txt", ".in")):
        for line in text.splitlines():
            stripped = line.split(" #", 1)[0].strip()
            if not stripped or stripped.startswith(("#", "-")) or "://" in stripped:
                continue
            m = _REQ_NAME.match(stripped)
            if m:
                found.append(m.group(1))
    elif name in ("pyproject.toml", "pipfile"):
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError:
            data = {}
        project = _table(data, "project")
        found += _toml_requirements(project.get("dependencies"))
        for values in _table(project, "optional-dependencies").values():
            found += _toml_requirements(values)
        for values in _table(data, "dependency-groups").values():
            found += _toml_requirements(values)
        poetry = _table(_table(data, "tool"), "poetry")
        found += _toml_requirements(poetry.get("dependencies"))
        found += _toml_requirements(poetry.get("dev-dependencies"))
        for group in _table(poetry, "group").values():
            if isinstance(group, dict):
                found += _toml_requirements(group.get("dependencies"))
        for section in ("packages", "dev-packages"):
            found += _toml_requirements(data.get(section))
    else:  # setup.py / setup.cfg: quoted or listed requirement strings
        found += _QUOTED_REQ.findall(text)
        for m in re.finditer(
            r"^(?:install_requires|tests_require)\s*=[ \t]*((?:\n[ \t]+\S.*)+)", text, re.MULTILINE
        ):
            for line in m.group(1).split("\n"):
                req = _REQ_NAME.match(line)
                if req:
                    found.append(req.group(1))
    return {normalise(n) for n in found}


def declared(path: str, text: str) -> dict[str, str]:
    """Normalised name → name as written, of the dependencies ``text`` (the manifest at ``path``)
    declares. Python names are PEP 503 normalised; npm, Go and Maven (``group:artifact``) are exact."""
    kind = ecosystem(path)
    if kind == "python":
        return {n: n for n in _python_names(path, text)}
    if kind == "npm":
        try:
            data = json.loads(text)
        except ValueError:
            return {}
        out: dict[str, str] = {}
        if isinstance(data, dict):
            for section in ("dependencies", "devDependencies", "peerDependencies", "optionalDependencies"):
                table = data.get(section)
                if isinstance(table, dict):
                    out.update({k: k for k in table if isinstance(k, str)})
        return out
    if kind == "go":
        out = {}
        for line in text.splitlines():
            line = line.split("//", 1)[0]
            m = _GO_REQUIRE_LINE.match(line)
            if m and not line.strip().startswith(("module ", "replace ", "exclude ", "retract ")):
                out[m.group(1)] = m.group(1)
        return out
    if kind == "maven":
        out = {}
        for block in _POM_DEP.findall(text):
            g = re.search(r"<groupId>\s*([^<\s]+)\s*</groupId>", block)
            a = re.search(r"<artifactId>\s*([^<\s]+)\s*</artifactId>", block)
            if g and a:
                out[f"{g.group(1)}:{a.group(1)}"] = f"{g.group(1)}:{a.group(1)}"
        for g, a in _GRADLE_DEP.findall(text):
            out[f"{g}:{a}"] = f"{g}:{a}"
        return out
    return {}


def added_dependencies(change: FileChange) -> list[str]:
    """Dependencies ``change`` declares that its old text did not (normalised for Python)."""
    before = declared(change.path, change.old_text)
    after = declared(change.path, change.new_text)
    return [after[k] for k in after if k not in before]


# ------------------------------------------------------------------------------------- verdicts

_KNOWN_DISTRIBUTIONS = frozenset(
    normalise(d) for ds in IMPORT_TO_DISTRIBUTIONS.values() for d in ds
) | frozenset(normalise(n) for n in KNOWN_SAME_NAME)


def _python_verdict(dist: str, missing: Sequence[str], own: set[str]) -> str | None:
    """``None`` when ``dist`` verifiably provides a missing import, else the reason (high risk)."""
    if dist in own:
        return f"adds the project's own package `{dist}` as a dependency"
    for module in missing:
        if is_known(module) and dist in {normalise(c) for c in distribution_candidates(module)}:
            return None
    for module in missing:
        top = module.split(".")[0]
        if normalise(top) == dist:
            wanted = distribution_candidates(module)[0]
            if is_known(module):
                return (
                    f"{CONFUSION}: `{dist}` is the import name (`import {module}`), not the PyPI distribution "
                    f"that provides it, which is `{wanted}`"
                )
            return (
                f"{CONFUSION}: ci-healer cannot verify that the PyPI distribution `{dist}` provides "
                f"`import {module}` (import and distribution names often differ)"
            )
    if missing:
        names = ", ".join(f"`{m}`" for m in missing)
        return f"{CONFUSION}: `{dist}` does not provide the failing import {names}"
    if dist in _KNOWN_DISTRIBUTIONS:
        return ""
    return f"{CONFUSION}: the failure names no missing import that `{dist}` would provide, and ci-healer cannot verify the name"


def _npm_verdict(name: str, missing: Sequence[str]) -> str | None:
    for pkg in missing:
        types = "@types/" + (pkg[1:].replace("/", "__") if pkg.startswith("@") else pkg)
        if name in (pkg, types):
            return None
    if missing:
        names = ", ".join(f"`{m}`" for m in missing)
        return f"{CONFUSION}: the npm package `{name}` is not the failing module {names}"
    return f"{CONFUSION}: the failure names no missing module that the npm package `{name}` would provide"


def _go_verdict(module: str, missing: Sequence[str]) -> str | None:
    if any(p == module or p.startswith(module + "/") for p in missing):
        return None
    if missing:
        names = ", ".join(f"`{m}`" for m in missing)
        return f"{CONFUSION}: the Go module `{module}` does not provide the failing package {names}"
    return f"{CONFUSION}: the failure names no missing package that the Go module `{module}` would provide"


def _maven_verdict(coordinate: str, missing: Sequence[str]) -> str:
    group = coordinate.split(":", 1)[0]
    if missing:
        near = [p for p in missing if p.startswith(group) or group.startswith(".".join(p.split(".")[:2]))]
        names = ", ".join(f"`{m}`" for m in (near or missing))
        how = (
            "its group id shares a prefix with the package"
            if near
            else "nothing ties its group id to the package"
        )
        return f"{CONFUSION}: ci-healer cannot verify that `{coordinate}` provides the missing package {names} ({how})"
    return f"{CONFUSION}: ci-healer cannot verify the artifact `{coordinate}` (the failure names no missing package)"


def check_dependencies(
    changes: Sequence[FileChange], *, failure_text: str, project_packages: Iterable[str] = ()
) -> list[Finding]:
    """One :class:`Finding` per dependency the patch adds that is not verifiably the missing one.

    ``failure_text`` is the failure blocks' text; ``project_packages`` the import names of the
    project's own packages. A verified name gives no finding (the manifest change alone makes the
    risk medium); an unverified one is ``high`` with a reason that starts with
    :data:`CONFUSION`; a well-known distribution the failure does not name is ``medium``.
    """
    missing = missing_names(failure_text)
    own = {normalise(p) for p in project_packages}
    findings: list[Finding] = []
    for change in changes:
        kind = ecosystem(change.path)
        if kind is None:
            continue
        for name in added_dependencies(change):
            if kind == "python":
                verdict = _python_verdict(name, missing.python, own)
            elif kind == "npm":
                verdict = _npm_verdict(name, missing.npm)
            elif kind == "go":
                verdict = _go_verdict(name, missing.go)
            else:
                verdict = _maven_verdict(name, missing.java)
            if verdict is None:
                continue
            if verdict == "":
                findings.append(
                    Finding(
                        code="unlisted_dependency",
                        path=change.path,
                        level="medium",
                        message=f"{change.path}: adds the dependency `{name}`, which the failure does not name",
                    )
                )
                continue
            findings.append(
                Finding(
                    code="unverified_dependency",
                    path=change.path,
                    level="high",
                    message=f"{change.path}: {verdict}",
                )
            )
    return findings
