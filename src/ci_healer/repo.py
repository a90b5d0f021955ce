"""Read-only view of a repository at one commit.

The analysis never checks out code: it reads files through a :class:`RepoSource`. The CLI backs it
with a local directory (:class:`LocalRepo`); the Action backs it with the GitHub contents and git
trees APIs at the head SHA.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path, PurePosixPath
from typing import Protocol

from pydantic import BaseModel

MODE_FILE = "100644"
MODE_EXECUTABLE = "100755"
MODE_SYMLINK = "120000"
MODE_SUBMODULE = "160000"
MODE_TREE = "040000"

_SKIP_DIRS = {".git", "node_modules", ".venv", "venv", "__pycache__", ".tox", ".mypy_cache", ".pytest_cache"}


class RepoError(Exception):
    """A repository read failed (I/O or API error). ``str(err)`` is a message for the summary."""


class TreeEntry(BaseModel):
    """A git tree entry: repository-relative POSIX ``path``, git ``mode`` string, ``size`` in bytes."""

    path: str
    mode: str
    size: int | None = None


class RepoSource(Protocol):
    """What the engine needs from a repository at one commit. Paths are POSIX, repository-relative."""

    name: str

    def read_text(self, path: str) -> str | None:
        """UTF-8 text of a regular file; ``None`` when it does not exist, is not a file or not UTF-8."""

    def entry(self, path: str) -> TreeEntry | None:
        """The tree entry at ``path`` (file, symlink, submodule or tree), ``None`` when absent."""

    def list_paths(self) -> list[str]:
        """All file paths (blobs and symlinks) of the tree, sorted."""


class LocalRepo:
    """:class:`RepoSource` over a local directory. Symlinks are reported, never followed.

    ``max_files`` caps :meth:`list_paths` (a huge working tree is truncated, not walked whole).
    """

    def __init__(
        self, root: str | os.PathLike[str], *, name: str | None = None, max_files: int = 50_000
    ) -> None:
        self.root = Path(root).resolve()
        if not self.root.is_dir():
            raise RepoError(f"repository folder not found: {root}")
        self.name = name or self.root.name
        self._max_files = max_files
        self._paths: list[str] | None = None

    def _abs(self, path: str) -> Path | None:
        rel = PurePosixPath(path)
        if rel.is_absolute() or ".." in rel.parts or not rel.parts:
            return None
        return self.root.joinpath(*rel.parts)

    def entry(self, path: str) -> TreeEntry | None:
        """See :meth:`RepoSource.entry`; a ``.git`` file marks a submodule (mode 160000)."""
        target = self._abs(path)
        if target is None:
            return None
        # Walk component by component so a symlinked parent is reported as the symlink itself.
        current = self.root
        parts = PurePosixPath(path).parts
        for i, part in enumerate(parts):
            current = current / part
            try:
                st = os.lstat(current)
            except OSError:
                return None
            sub = "/".join(parts[: i + 1])
            if stat.S_ISLNK(st.st_mode):
                return TreeEntry(path=sub, mode=MODE_SYMLINK, size=st.st_size)
            if stat.S_ISDIR(st.st_mode):
                if (current / ".git").exists() and current != self.root:
                    return TreeEntry(path=sub, mode=MODE_SUBMODULE)
                if i == len(parts) - 1:
                    return TreeEntry(path=sub, mode=MODE_TREE)
                continue
            if i != len(parts) - 1:
                return None
            mode = MODE_EXECUTABLE if st.st_mode & stat.S_IXUSR else MODE_FILE
            return TreeEntry(path=sub, mode=mode, size=st.st_size)
        return None

    def read_text(self, path: str) -> str | None:
        """See :meth:`RepoSource.read_text`."""
        found = self.entry(path)
        if found is None or found.path != path or found.mode not in (MODE_FILE, MODE_EXECUTABLE):
            return None
        try:
            return self._abs(path).read_bytes().decode("utf-8")  # type: ignore[union-attr]
        except (OSError, UnicodeDecodeError):
            return None

    def list_paths(self) -> list[str]:
        """See :meth:`RepoSource.list_paths` (skips ``.git``, virtualenvs and caches)."""
        if self._paths is None:
            found: list[str] = []
            for dirpath, dirnames, filenames in os.walk(self.root, followlinks=False):
                dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS)
                rel_dir = Path(dirpath).relative_to(self.root)
                for fname in filenames:
                    found.append((rel_dir / fname).as_posix())
                    if len(found) >= self._max_files:
                        break
                if len(found) >= self._max_files:
                    break
            self._paths = sorted(found)
        return list(self._paths)
