"""Release checks: the tag, the package version, the action's image tag and the changelog agree.

Used by ``.github/workflows/release.yml`` and by ``tests/test_release_contract.py``::

    python3 scripts/release.py check v1.2.3     # exit 1 with the disagreement when they differ
    python3 scripts/release.py notes 1.2.3      # the CHANGELOG.md section of 1.2.3 (release notes)
    python3 scripts/release.py image            # the image action.yml runs, without the tag

A release tag is ``v`` + a ``MAJOR.MINOR.PATCH`` version (Semantic Versioning 2.0.0, no
pre-release or build part: the major tag ``v1`` only ever moves to such a tag). The version must
equal ``[project] version`` of ``pyproject.toml``, the tag of ``runs.image``
(``docker://<image>:<version>``) in ``action.yml`` and the newest released section
``## [<version>] - <YYYY-MM-DD>`` of ``CHANGELOG.md`` (Keep a Changelog 1.1.0; ``[Unreleased]`` is
skipped). Standard library only, so the release job needs no install step.
"""

from __future__ import annotations

import argparse
import re
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VERSION = re.compile(r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)")
TAG = re.compile(rf"v({VERSION.pattern})")
#: A Keep a Changelog section heading: ``## [1.2.3] - 2026-12-01`` or ``## [Unreleased]``.
HEADING = re.compile(r"^## \[(?P<name>[^\]]+)\](?P<rest>[^\n]*)$", re.MULTILINE)
DATE = re.compile(r"\s+-\s+(\d{4}-\d{2}-\d{2})\s*")
IMAGE = re.compile(r"^\s+image:\s*[\"']?docker://(?P<ref>[^\s\"']+)[\"']?\s*$", re.MULTILINE)


class ReleaseError(ValueError):
    """The release inputs disagree or are malformed; the message says which file and what."""


@dataclass(frozen=True)
class Section:
    """One released ``CHANGELOG.md`` section: version, date (``YYYY-MM-DD``) and body text."""

    version: str
    date: str
    body: str


def changelog_sections(text: str) -> list[Section]:
    """The released sections of a Keep a Changelog file, newest first (as written).

    ``[Unreleased]`` is skipped; the body runs to the next ``## `` heading or the link reference
    definitions at the end. Raises :class:`ReleaseError` for a released heading without a date or
    whose name is not a ``MAJOR.MINOR.PATCH`` version.
    """
    matches = list(HEADING.finditer(text))
    sections = []
    for index, match in enumerate(matches):
        name = match.group("name")
        if name.lower() == "unreleased":
            continue
        date = DATE.fullmatch(match.group("rest"))
        if not VERSION.fullmatch(name) or date is None:
            raise ReleaseError(
                f"CHANGELOG.md: heading {match.group(0).strip()!r} is not '## [X.Y.Z] - YYYY-MM-DD'"
            )
        end = matches[index + 1].start() if index + 1 < len(matches) else len(text)
        body = re.split(r"^\[[^\]]+\]:\s", text[match.end() : end], maxsplit=1, flags=re.MULTILINE)[0]
        sections.append(Section(name, date.group(1), body.strip()))
    return sections


def pyproject_version(text: str) -> str:
    """``[project] version`` of a ``pyproject.toml`` text."""
    return str(tomllib.loads(text)["project"]["version"])


def action_image(text: str) -> tuple[str, str]:
    """``(image, tag)`` of ``runs.image: docker://<image>:<tag>`` in an ``action.yml`` text.

    Raises :class:`ReleaseError` when the action builds a Dockerfile instead, or the reference
    has no tag.
    """
    match = IMAGE.search(text)
    if match is None:
        raise ReleaseError("action.yml: runs.image is not a prebuilt image (docker://<image>:<version>)")
    ref = match.group("ref").split("@", 1)[0]
    image, sep, tag = ref.rpartition(":")
    if not sep or "/" in tag:
        raise ReleaseError(f"action.yml: image {ref!r} has no tag")
    return image, tag


def check(tag: str | None, root: Path = ROOT) -> str:
    """Check that ``tag`` (``vX.Y.Z``, or None to skip it), pyproject.toml, action.yml and
    CHANGELOG.md name one version; return that version. Raises :class:`ReleaseError`."""
    problems = []
    version = pyproject_version((root / "pyproject.toml").read_text(encoding="utf-8"))
    if not VERSION.fullmatch(version):
        problems.append(f"pyproject.toml: version {version!r} is not MAJOR.MINOR.PATCH")
    if tag is not None:
        match = TAG.fullmatch(tag)
        if match is None:
            problems.append(f"tag {tag!r} is not vMAJOR.MINOR.PATCH")
        elif match.group(1) != version:
            problems.append(f"tag {tag} != pyproject.toml version {version}")
    _, image_tag = action_image((root / "action.yml").read_text(encoding="utf-8"))
    if image_tag != version:
        problems.append(f"action.yml image tag {image_tag} != pyproject.toml version {version}")
    sections = changelog_sections((root / "CHANGELOG.md").read_text(encoding="utf-8"))
    if not sections:
        problems.append("CHANGELOG.md has no released section")
    elif sections[0].version != version:
        problems.append(
            f"CHANGELOG.md newest section [{sections[0].version}] != pyproject.toml version {version}"
        )
    elif not sections[0].body:
        problems.append(f"CHANGELOG.md section [{version}] is empty")
    if problems:
        raise ReleaseError("; ".join(problems))
    return version


def notes(version: str, root: Path = ROOT) -> str:
    """The body of ``CHANGELOG.md``'s section for ``version``. Raises :class:`ReleaseError`."""
    for section in changelog_sections((root / "CHANGELOG.md").read_text(encoding="utf-8")):
        if section.version == version:
            return section.body + "\n"
    raise ReleaseError(f"CHANGELOG.md has no section [{version}]")


def main(argv: list[str] | None = None) -> int:
    """Command line (see the module docstring); 0 on success, 1 with the message on stderr."""
    parser = argparse.ArgumentParser(prog="python3 scripts/release.py", description=__doc__.split("\n", 1)[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("check", help="tag, pyproject.toml, action.yml and CHANGELOG.md agree").add_argument(
        "tag", nargs="?"
    )
    sub.add_parser("notes", help="print the CHANGELOG.md section of a version").add_argument("version")
    sub.add_parser("image", help="print the image action.yml runs, without its tag")
    args = parser.parse_args(argv)
    try:
        if args.command == "check":
            print(check(args.tag))
        elif args.command == "notes":
            sys.stdout.write(notes(args.version))
        else:
            print(action_image((ROOT / "action.yml").read_text(encoding="utf-8"))[0])
    except ReleaseError as exc:
        print(f"release check failed: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
