"""Content-addressed git objects (blob, tree, commit) with the SHA-1 ids git itself computes.

Object id = ``sha1(b"<type> <len>\\0" + body)`` (git's loose-object format, ``git hash-object``).
Tree bodies are ``<mode> <name>\\0<20-byte sha>`` entries sorted the way git sorts them (a tree
entry's name compares as if it ended with ``/``); modes are written without a leading zero
(``40000``) inside the object and shown with one (``040000``) by the REST API.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass

MODE_FILE = "100644"
MODE_EXECUTABLE = "100755"
MODE_SYMLINK = "120000"
MODE_SUBMODULE = "160000"
MODE_TREE = "040000"
FILE_MODES = {MODE_FILE, MODE_EXECUTABLE, MODE_SYMLINK}


class GitObjectError(ValueError):
    """A git object is missing, of the wrong type, or a tree edit is invalid."""


def object_id(kind: str, body: bytes) -> str:
    """Git object id (40 hex chars) of ``body`` stored as ``kind`` (``blob``/``tree``/``commit``)."""
    return hashlib.sha1(f"{kind} {len(body)}".encode() + b"\0" + body).hexdigest()


@dataclass(frozen=True)
class Entry:
    """One tree entry: ``mode`` as the REST API shows it (``100644``, ``040000``...), ``name`` and ``sha``."""

    mode: str
    name: str
    sha: str

    @property
    def kind(self) -> str:
        """``tree``, ``commit`` (a submodule) or ``blob``."""
        return "tree" if self.mode == MODE_TREE else "commit" if self.mode == MODE_SUBMODULE else "blob"


@dataclass(frozen=True)
class Commit:
    """A parsed commit: ``tree`` and ``parents`` ids, author/committer as ``(name, email, epoch)``."""

    tree: str
    parents: tuple[str, ...]
    author: tuple[str, str, int]
    committer: tuple[str, str, int]
    message: str


class GitStore:
    """A thread-safe object database keyed by git object id."""

    def __init__(self) -> None:
        self._objects: dict[str, tuple[str, bytes]] = {}
        self._trees: dict[str, tuple[Entry, ...]] = {}
        self._commits: dict[str, Commit] = {}
        self._lock = threading.RLock()

    def __contains__(self, sha: object) -> bool:
        return sha in self._objects

    def kind(self, sha: str) -> str | None:
        """``blob``/``tree``/``commit`` for a stored id, else ``None``."""
        item = self._objects.get(sha)
        return item[0] if item else None

    # ---- writing ------------------------------------------------------------------------------

    def put_blob(self, content: bytes) -> str:
        """Store ``content`` as a blob; returns its id."""
        sha = object_id("blob", content)
        with self._lock:
            self._objects[sha] = ("blob", content)
        return sha

    def put_tree(self, entries: list[Entry]) -> str:
        """Store a tree of direct ``entries`` (names without ``/``); returns its id."""
        names = [e.name for e in entries]
        if len(set(names)) != len(names) or any(not n or "/" in n or n in (".", "..") for n in names):
            raise GitObjectError(f"invalid tree entry names: {names}")
        ordered = sorted(
            entries,
            key=lambda e: e.name.encode() + (b"/" if e.mode == MODE_TREE else b""),
        )
        body = b"".join(
            f"{e.mode.lstrip('0')} {e.name}".encode() + b"\0" + bytes.fromhex(e.sha) for e in ordered
        )
        sha = object_id("tree", body)
        with self._lock:
            self._objects[sha] = ("tree", body)
            self._trees[sha] = tuple(ordered)
        return sha

    def put_commit(
        self,
        tree: str,
        parents: list[str],
        message: str,
        *,
        author: tuple[str, str, int],
        committer: tuple[str, str, int] | None = None,
    ) -> str:
        """Store a commit; ``author``/``committer`` are ``(name, email, unix seconds)``, UTC."""
        if self.kind(tree) != "tree":
            raise GitObjectError(f"tree {tree} does not exist")
        for parent in parents:
            if self.kind(parent) != "commit":
                raise GitObjectError(f"parent {parent} does not exist")
        committer = committer or author
        lines = [f"tree {tree}"] + [f"parent {p}" for p in parents]
        lines.append(f"author {author[0]} <{author[1]}> {author[2]} +0000")
        lines.append(f"committer {committer[0]} <{committer[1]}> {committer[2]} +0000")
        body = ("\n".join(lines) + "\n\n" + message).encode()
        sha = object_id("commit", body)
        with self._lock:
            self._objects[sha] = ("commit", body)
            self._commits[sha] = Commit(tree, tuple(parents), author, committer, message)
        return sha

    def put_files(self, files: dict[str, tuple[str, bytes]]) -> str:
        """Store a whole tree from ``{path: (mode, content)}``; a submodule's content is its commit id."""
        return self.edit_tree(None, dict(files.items()))

    def edit_tree(self, base_tree: str | None, changes: dict[str, tuple[str, bytes | str] | None]) -> str:
        """New tree id: ``base_tree`` (or empty) with ``changes`` applied.

        ``changes`` maps a slash path to ``(mode, content bytes)``, ``(mode, existing sha as str)``
        or ``None`` (delete). Emptied directories disappear, like git.
        """
        flat = dict(self.flatten(base_tree)) if base_tree else {}
        # every directory that holds a path of ``flat`` (a superset after deletions): a path that is
        # none of them has no entries below it to drop, so a commit of n files costs O(n), not O(n²)
        dirs = {path.rsplit("/", i)[0] for path in flat for i in range(1, path.count("/") + 1)}
        for path, change in changes.items():
            parts = path.split("/")
            if any(p in ("", ".", "..") for p in parts):
                raise GitObjectError(f"invalid path {path!r}")
            if change is None:
                flat.pop(path, None)
                prefix = path + "/"
                for key in [k for k in flat if k.startswith(prefix)]:
                    del flat[key]
                continue
            mode, data = change
            if mode == MODE_TREE:
                raise GitObjectError("tree entries are built from paths; give files, not trees")
            if isinstance(data, str):
                sha = data
                wanted = "commit" if mode == MODE_SUBMODULE else "blob"
                if mode != MODE_SUBMODULE and self.kind(sha) != wanted:
                    raise GitObjectError(f"blob {sha} does not exist")
            else:
                sha = data.decode() if mode == MODE_SUBMODULE else self.put_blob(data)
            # a file replaces a directory of the same name and vice versa
            if path in dirs:
                for key in [k for k in flat if k.startswith(path + "/")]:
                    del flat[key]
            for i in range(1, len(parts)):
                flat.pop("/".join(parts[:i]), None)
                dirs.add("/".join(parts[:i]))
            flat[path] = (mode, sha)
        return self._build(flat)

    def _build(self, flat: dict[str, tuple[str, str]]) -> str:
        children: dict[str, dict[str, tuple[str, str]]] = {}
        entries: list[Entry] = []
        for path, (mode, sha) in flat.items():
            head, _, rest = path.partition("/")
            if rest:
                children.setdefault(head, {})[rest] = (mode, sha)
            else:
                entries.append(Entry(mode, head, sha))
        for name, sub in children.items():
            entries.append(Entry(MODE_TREE, name, self._build(sub)))
        return self.put_tree(entries)

    # ---- reading ------------------------------------------------------------------------------

    def blob(self, sha: str) -> bytes:
        """Content of blob ``sha``; raises :class:`GitObjectError` when absent."""
        item = self._objects.get(sha)
        if not item or item[0] != "blob":
            raise GitObjectError(f"blob {sha} not found")
        return item[1]

    def tree(self, sha: str) -> tuple[Entry, ...]:
        """Direct entries of tree ``sha``; raises :class:`GitObjectError` when absent."""
        if sha not in self._trees:
            raise GitObjectError(f"tree {sha} not found")
        return self._trees[sha]

    def commit(self, sha: str) -> Commit:
        """Parsed commit ``sha``; raises :class:`GitObjectError` when absent."""
        if sha not in self._commits:
            raise GitObjectError(f"commit {sha} not found")
        return self._commits[sha]

    def walk(self, tree_sha: str, prefix: str = "") -> list[tuple[str, Entry]]:
        """All entries below ``tree_sha`` (trees included, pre-order) as ``(full path, entry)``."""
        out: list[tuple[str, Entry]] = []
        for entry in self.tree(tree_sha):
            path = prefix + entry.name
            out.append((path, entry))
            if entry.mode == MODE_TREE:
                out.extend(self.walk(entry.sha, path + "/"))
        return out

    def flatten(self, tree_sha: str) -> dict[str, tuple[str, str]]:
        """``{path: (mode, sha)}`` for every non-tree entry below ``tree_sha``."""
        return {path: (e.mode, e.sha) for path, e in self.walk(tree_sha) if e.mode != MODE_TREE}

    def lookup(self, tree_sha: str, path: str) -> Entry | None:
        """The entry at slash ``path`` inside ``tree_sha`` (``""`` = the root tree itself)."""
        if path in ("", "/"):
            return Entry(MODE_TREE, "", tree_sha)
        current = tree_sha
        parts = path.strip("/").split("/")
        for i, part in enumerate(parts):
            match = next((e for e in self.tree(current) if e.name == part), None)
            if match is None:
                return None
            if i == len(parts) - 1:
                return match
            if match.mode != MODE_TREE:
                return None
            current = match.sha
        return None

    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        """Whether commit ``ancestor`` is reachable from ``descendant`` (used for fast-forward checks)."""
        stack, seen = [descendant], set()
        while stack:
            sha = stack.pop()
            if sha == ancestor:
                return True
            if sha in seen or sha not in self._commits:
                continue
            seen.add(sha)
            stack.extend(self._commits[sha].parents)
        return False
