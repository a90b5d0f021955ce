"""Edits → unified diff → apply: exact round trips, error codes, and git's own verdict."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from ci_healer.models import FileEdit
from ci_healer.patch import (
    ProposalError,
    apply_patch,
    build_patch,
    diff_digest,
    parse_patch,
    patch_from_diff,
    split_lines,
)
from ci_healer.repo import LocalRepo
from tests.prereq import corpus_missing

GIT = shutil.which("git")


def make_repo(tmp_path: Path, files: dict[str, bytes | str]) -> LocalRepo:
    root = tmp_path / "repo"
    root.mkdir(exist_ok=True)
    for rel, content in files.items():
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return LocalRepo(root)


def edit(path: str, original: str, replacement: str) -> FileEdit:
    return FileEdit(file_path=path, original=original, replacement=replacement)


def git_apply_check(repo: LocalRepo, diff: str) -> subprocess.CompletedProcess[str]:
    """Run ``git apply --check`` (and then a real apply) in a fresh git repo holding the files."""
    env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "HOME": str(repo.root.parent)}
    subprocess.run([GIT, "init", "-q", str(repo.root)], check=True, env=env)
    patch_file = repo.root.parent / "fix.diff"
    patch_file.write_bytes(diff.encode("utf-8"))
    check = subprocess.run(
        [GIT, "-C", str(repo.root), "apply", "--check", "--whitespace=nowarn", str(patch_file)],
        capture_output=True,
        text=True,
        env=env,
    )
    if check.returncode == 0:
        subprocess.run(
            [GIT, "-C", str(repo.root), "apply", "--whitespace=nowarn", str(patch_file)], check=True, env=env
        )
    return check


ROUND_TRIP_CASES = {
    "replace one line": (
        {"app.py": "import os\nimport sys\n\nprint(sys.argv)\n"},
        [edit("app.py", "import sys\n", "import sys\nimport json\n")],
    ),
    "append to requirements": (
        {"requirements.txt": "requests==2.31.0\nflask==3.0.0\n"},
        [edit("requirements.txt", "", "pandas==2.2.1\n")],
    ),
    "append when last line lacks newline": (
        {"requirements.txt": "requests==2.31.0"},
        [edit("requirements.txt", "", "pandas==2.2.1\n")],
    ),
    "edit a file without trailing newline": ({"one.txt": "alpha\nbeta"}, [edit("one.txt", "beta", "gamma")]),
    "remove trailing newline": ({"v.txt": "1.0\n"}, [edit("v.txt", "1.0\n", "1.1")]),
    "add trailing newline": ({"v.txt": "1.0"}, [edit("v.txt", "1.0", "1.1\n")]),
    "crlf file, lf edit text": (
        {"win.bat": "@echo off\r\nset A=1\r\necho %A%\r\n"},
        [edit("win.bat", "set A=1\n", "set A=2\nset B=3\n")],
    ),
    "crlf file without final newline, append": ({"win.txt": "a\r\nb"}, [edit("win.txt", "", "c\n")]),
    "new file": ({}, [edit("src/pkg/new_module.py", "", "def f():\n    return 1\n")]),
    "new file without newline": ({}, [edit("notes.txt", "", "single line")]),
    "several edits one file in order": (
        {"m.py": "".join(f"line {i}\n" for i in range(1, 40))},
        [
            edit("m.py", "line 2\n", "line two\n"),
            edit("m.py", "line 30\n", "line thirty\n"),
            edit("m.py", "line two\n", "line 2b\n"),
        ],
    ),
    "edits on two files": (
        {"a.py": "x = 1\n", "b/c.py": "y = 2\n"},
        [edit("b/c.py", "y = 2", "y = 3"), edit("a.py", "x = 1", "x = 0")],
    ),
    "unicode and form feed stay in one line": (
        {"u.py": "s = 'é\x0c\u2028'\nt = 1\n"},
        [edit("u.py", "t = 1", "t = 2")],
    ),
    "bare CR inside a line": (
        {"progress.txt": "10%\r20%\r30%\ndone\n"},
        [edit("progress.txt", "done", "finished")],
    ),
    "empty existing file": ({"empty.py": ""}, [edit("empty.py", "", "x = 1\n")]),
    "delete all content": ({"gone.txt": "a\nb\n"}, [edit("gone.txt", "a\nb\n", "")]),
}


@pytest.mark.parametrize("files,edits", ROUND_TRIP_CASES.values(), ids=ROUND_TRIP_CASES.keys())
def test_build_then_apply_reproduces_new_text_byte_for_byte(tmp_path, files, edits):
    repo = make_repo(tmp_path, files)
    patch = build_patch(edits, repo)
    applied = apply_patch(patch.diff, repo)
    assert applied == {f.path: f.new_text for f in patch.files}
    assert patch.digest == diff_digest(patch.diff)
    for change in patch.files:
        assert change.old_text == files.get(change.path, "")
        assert change.is_new_file == (change.path not in files)


@pytest.mark.skipif(GIT is None, reason="git is not installed")
@pytest.mark.parametrize("files,edits", ROUND_TRIP_CASES.values(), ids=ROUND_TRIP_CASES.keys())
def test_git_apply_accepts_the_diff_and_produces_the_same_bytes(tmp_path, files, edits):
    repo = make_repo(tmp_path, files)
    patch = build_patch(edits, repo)
    check = git_apply_check(repo, patch.diff)
    assert check.returncode == 0, check.stderr
    for change in patch.files:
        assert (repo.root / change.path).read_bytes() == change.new_text.encode("utf-8")


def test_crlf_line_endings_are_preserved_and_edit_lines_use_crlf(tmp_path):
    repo = make_repo(tmp_path, {"win.bat": "@echo off\r\nset A=1\r\necho %A%\r\n"})
    patch = build_patch([edit("win.bat", "set A=1\n", "set A=2\nset B=3\n")], repo)
    assert patch.files[0].new_text == "@echo off\r\nset A=2\r\nset B=3\r\necho %A%\r\n"
    assert patch.files[0].added == ["set A=2", "set B=3"]
    assert patch.files[0].removed == ["set A=1"]


def test_diff_shape_is_git_style(tmp_path):
    repo = make_repo(tmp_path, {"requirements.txt": "requests==2.31.0"})
    patch = build_patch(
        [edit("requirements.txt", "", "pandas==2.2.1\n"), edit("docs/new.md", "", "# New")], repo
    )
    assert patch.diff == (
        "diff --git a/requirements.txt b/requirements.txt\n"
        "--- a/requirements.txt\n"
        "+++ b/requirements.txt\n"
        "@@ -1 +1,2 @@\n"
        "-requests==2.31.0\n"
        "\\ No newline at end of file\n"
        "+requests==2.31.0\n"
        "+pandas==2.2.1\n"
        "diff --git a/docs/new.md b/docs/new.md\n"
        "new file mode 100644\n"
        "--- /dev/null\n"
        "+++ b/docs/new.md\n"
        "@@ -0,0 +1 @@\n"
        "+# New\n"
        "\\ No newline at end of file\n"
    )
    assert patch.changed_lines == 4


def test_hunks_keep_three_lines_of_context(tmp_path):
    text = "".join(f"{i}\n" for i in range(1, 21))
    repo = make_repo(tmp_path, {"n.txt": text})
    patch = build_patch([edit("n.txt", "10\n", "ten\n")], repo)
    body = patch.diff.split("@@ -7,7 +7,7 @@\n", 1)[1]
    assert body == " 7\n 8\n 9\n-10\n+ten\n 11\n 12\n 13\n"


def test_digest_is_sha256_of_utf8_diff():
    assert diff_digest("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert diff_digest("é\r\n") == hashlib.sha256(b"\xc3\xa9\r\n").hexdigest()
    assert diff_digest("a") != diff_digest("a\n")


@pytest.mark.parametrize(
    "files,edits,code,fragment",
    [
        ({"a.py": "x = 1\n"}, [edit("a.py", "y = 2", "y = 3")], "original_not_found", "found 0 times"),
        ({"a.py": "x = 1\nx = 1\n"}, [edit("a.py", "x = 1", "x = 2")], "original_ambiguous", "found 2 times"),
        ({"a.py": "pass\n" * 5}, [edit("a.py", "pass", "...")], "original_ambiguous", "found 5 times"),
        ({}, [edit("missing.py", "import os", "import sys")], "file_not_found", "missing.py"),
        ({"a.py": "x = 1\n"}, [edit("a.py", "x = 1", "x = 1")], "no_change", "a.py"),
        ({"a.py": "x = 1\n"}, [edit("a.py", "", "")], "no_change", "a.py"),
        ({}, [edit("new.py", "", "")], "no_change", "new.py"),
        (
            {"a.py": "x = 1\n"},
            [edit("a.py", "x = 1", "x = 2"), edit("a.py", "x = 2", "x = 1")],
            "no_change",
            "unchanged",
        ),
        ({"blob.bin": b"\xff\xfe\x00binary"}, [edit("blob.bin", "", "more")], "not_text", "blob.bin"),
        ({"a.py": "x\n"}, [edit("/etc/passwd", "", "x")], "path_rejected", "absolute"),
        ({"a.py": "x\n"}, [edit("../outside.py", "", "x")], "path_rejected", ".."),
        ({"a.py": "x\n"}, [edit("a\\b.py", "", "x")], "path_rejected", "backslash"),
        ({"a.py": "x\n"}, [edit("a\x00.py", "", "x")], "path_rejected", "NUL"),
        ({"a.py": "x\n"}, [edit("a\n.py", "", "x")], "path_rejected", "control"),
        ({"pkg/a.py": "x\n"}, [edit("pkg", "", "x")], "path_rejected", "directory"),
        ({"a.py": "x\n"}, [edit("a.py/b.py", "", "x")], "path_rejected", "through a file"),
        (
            {"a.py": "x\n"},
            [FileEdit.model_construct(file_path="a.py", original="x", replacement="\ud800")],
            "not_text",
            "UTF-8",
        ),
        ({"a.py": "x\n"}, [], "no_change", "no file edits"),
    ],
)
def test_bad_proposals_raise_a_coded_error_and_write_nothing(tmp_path, files, edits, code, fragment):
    repo = make_repo(tmp_path, files)
    before = {p: (repo.root / p).read_bytes() for p in repo.list_paths()}
    with pytest.raises(ProposalError) as info:
        build_patch(edits, repo)
    assert info.value.code == code
    assert fragment in str(info.value)
    assert {p: (repo.root / p).read_bytes() for p in repo.list_paths()} == before


def test_path_through_symlink_is_not_addressable(tmp_path):
    repo = make_repo(tmp_path, {"real/a.py": "x = 1\n"})
    os.symlink("real", repo.root / "link")
    with pytest.raises(ProposalError) as info:
        build_patch([edit("link/a.py", "x = 1", "x = 2")], repo)
    assert info.value.code == "path_rejected"
    assert "symlink" in str(info.value)


def test_dot_segments_are_normalised(tmp_path):
    repo = make_repo(tmp_path, {"src/a.py": "x = 1\n"})
    patch = build_patch([edit("./src//a.py", "x = 1", "x = 2")], repo)
    assert patch.files[0].path == "src/a.py"
    assert patch.diff.startswith("diff --git a/src/a.py b/src/a.py\n")


# ---------------------------------------------------------------------------------- apply


@pytest.fixture
def built(tmp_path):
    files = {"app.py": "".join(f"line {i}\n" for i in range(1, 12))}
    repo = make_repo(tmp_path, files)
    patch = build_patch([edit("app.py", "line 6\n", "line six\n")], repo)
    return repo, patch


def test_apply_refuses_when_context_changed(built):
    repo, patch = built
    (repo.root / "app.py").write_text(
        "".join(f"line {i}\n" for i in range(1, 12)).replace("line 5\n", "line 5!\n")
    )
    with pytest.raises(ProposalError) as info:
        apply_patch(patch.diff, repo)
    assert info.value.code == "context_mismatch"


def test_apply_refuses_when_lines_shifted(built):
    repo, patch = built
    (repo.root / "app.py").write_text("inserted\n" + "".join(f"line {i}\n" for i in range(1, 12)))
    with pytest.raises(ProposalError) as info:
        apply_patch(patch.diff, repo)
    assert info.value.code == "context_mismatch"


def test_apply_refuses_when_file_moved(built):
    repo, patch = built
    (repo.root / "app.py").rename(repo.root / "main.py")
    with pytest.raises(ProposalError) as info:
        apply_patch(patch.diff, repo)
    assert info.value.code == "file_not_found"


def test_apply_refuses_when_file_became_symlink(built):
    repo, patch = built
    (repo.root / "app.py").rename(repo.root / "real.py")
    os.symlink("real.py", repo.root / "app.py")
    with pytest.raises(ProposalError) as info:
        apply_patch(patch.diff, repo)
    assert info.value.code == "path_rejected"


def test_apply_refuses_new_file_that_now_exists(tmp_path):
    repo = make_repo(tmp_path, {})
    patch = build_patch([edit("n.py", "", "x = 1\n")], repo)
    (repo.root / "n.py").write_text("x = 0\n")
    with pytest.raises(ProposalError) as info:
        apply_patch(patch.diff, repo)
    assert info.value.code == "context_mismatch"


def test_apply_detects_a_tampered_added_line_count(built):
    repo, patch = built
    tampered = patch.diff.replace("+line six\n", "+line six\n+import os\n")
    with pytest.raises(ProposalError) as info:
        apply_patch(tampered, repo)
    assert info.value.code == "invalid_diff"


DIFF_HEADER = "diff --git a/app.py b/app.py\n"
BAD_DIFFS = {
    "empty": "",
    "not a diff": "hello world\n",
    "mode change": DIFF_HEADER + "old mode 100644\nnew mode 100755\n",
    "delete": DIFF_HEADER + "deleted file mode 100644\n--- a/app.py\n+++ /dev/null\n@@ -1 +0,0 @@\n-line 1\n",
    "rename": "diff --git a/app.py b/other.py\nsimilarity index 100%\nrename from app.py\nrename to other.py\n",
    "binary": DIFF_HEADER + "index 1111111..2222222 100644\nGIT binary patch\nliteral 3\nKcmZ?wbaDUy0RRI4\n",
    "executable new file": "diff --git a/run.sh b/run.sh\nnew file mode 100755\n"
    "--- /dev/null\n+++ b/run.sh\n@@ -0,0 +1 @@\n+echo hi\n",
    "symlink new file": "diff --git a/l b/l\nnew file mode 120000\n--- /dev/null\n+++ b/l\n@@ -0,0 +1 @@\n+/etc/pw\n",
    "traversal": "diff --git a/../x b/../x\n--- a/../x\n+++ b/../x\n@@ -1 +1 @@\n-a\n+b\n",
    "absolute": "--- /etc/passwd\n+++ /etc/passwd\n@@ -1 +1 @@\n-a\n+b\n",
    "hunk too short": DIFF_HEADER + "--- a/app.py\n+++ b/app.py\n@@ -1,3 +1,3 @@\n-line 1\n+x\n",
    "same file twice": (DIFF_HEADER + "--- a/app.py\n+++ b/app.py\n@@ -1 +1 @@\n-line 1\n+x\n") * 2,
}


@pytest.mark.parametrize("diff", BAD_DIFFS.values(), ids=BAD_DIFFS.keys())
def test_parse_patch_rejects_unsafe_or_broken_diffs(diff):
    with pytest.raises(ProposalError) as info:
        parse_patch(diff)
    assert info.value.code in {"invalid_diff", "path_rejected"}


def test_split_lines_splits_on_newline_only():
    assert split_lines("a\r\nb\x0cc\u2028d\re\nf") == ["a\r\n", "b\x0cc\u2028d\re\n", "f"]
    assert split_lines("") == []
    assert split_lines("\n\n") == ["\n", "\n"]


def _corpus() -> Path:
    return Path(
        os.environ.get("CI_HEALER_CORPUS") or Path(__file__).resolve().parents[1].parent / "shared" / "corpus"
    )


def test_parse_patch_reads_real_fix_diffs():
    """Real git diffs (BugSwarm fail→pass fixes) parse; sections git would not apply are refused."""
    folder = _corpus() / "bugswarm_dissection"
    if not folder.is_dir():
        corpus_missing("bugswarm_dissection")
    unsupported = re.compile(
        r"^(?:deleted file mode|rename from|copy from|old mode|GIT binary patch|Binary files|new file mode (?!100644))",
        re.M,
    )
    parsed = refused = 0
    for fix in sorted(folder.glob("*/fix.diff")):
        text = fix.read_bytes().decode("utf-8", "replace")
        try:
            files = parse_patch(text)
        except ProposalError as err:
            refused += 1
            assert err.code == "invalid_diff"
            assert unsupported.search(text) or "does not parse" in str(err), f"{fix.parent.name}: {err}"
            continue
        parsed += 1
        assert not unsupported.search(text), fix.parent.name
        assert [f.path for f in files] == re.findall(r"^\+\+\+ (?:b/(.+)|/dev/null)$", text, re.M)
    assert parsed > 0


def test_patch_from_a_shown_diff_equals_the_patch_that_produced_it(tmp_path) -> None:
    """The apply step re-runs the policy on the re-applied diff: it must see what analysis saw."""
    (tmp_path / "crlf.txt").write_bytes(b"one\r\ntwo\r\nthree\r\n")
    (tmp_path / "plain.txt").write_text("alpha\nbeta")
    repo = LocalRepo(tmp_path)
    edits = [
        FileEdit(file_path="crlf.txt", original="two\n", replacement="TWO\nand a half\n"),
        FileEdit(file_path="plain.txt", original="", replacement="gamma\n"),
        FileEdit(file_path="docs/new.md", original="", replacement="# new\n"),
    ]
    built = build_patch(edits, repo)
    again = patch_from_diff(built.diff, repo)
    # Everything the policy sees is equal; only how each edit matched is not in a diff.
    assert again == built.model_copy(update={"matches": []})
    assert [m.rule for m in built.matches] == ["exact", "append", "new_file"]


# ------------------------------------------------------------------ edits from an imperfect quote
#
# Shapes seen from a small model run through the product: ``original`` that differs from the file
# by trailing whitespace or CRLF, by indentation, or by one misremembered line; a path that does
# not exist. Each must match one place (recording the rule) or be refused with its reason.

SPAM_FILTER = (
    "import re\n"
    "\n"
    "\n"
    "class SpamFilter:\n"
    "    def __init__(self, words):\n"
    "        self.words = [w.lower() for w in words]\n"
    "\n"
    "    def is_spam(self, text):\n"
    "        # any listed word makes the message spam\n"
    "        lowered = text.lower()\n"
    "        return any(w in lowered for w in self.words)\n"
    "\n"
    "    def score(self, text):\n"
    "        lowered = text.lower()\n"
    "        return sum(lowered.count(w) for w in self.words)\n"
)

LENIENT_CASES = {
    "trailing spaces lost in the quote": (
        {
            "spam.py": SPAM_FILTER.replace(
                "        lowered = text.lower()\n        return any",
                "        lowered = text.lower()  \n        return any",
            )
        },
        edit(
            "spam.py",
            "        lowered = text.lower()\n        return any(w in lowered for w in self.words)\n",
            "        lowered = text.casefold()\n        return any(w in lowered for w in self.words)\n",
        ),
        "trailing_whitespace",
        (10, 11),
    ),
    "crlf file quoted with trailing tab lost": (
        {"run.bat": "@echo off\r\nset A=1\t\r\necho %A%\r\n"},
        edit("run.bat", "set A=1\necho %A%\n", "set A=2\necho %A%\n"),
        "trailing_whitespace",
        (2, 3),
    ),
    "crlf quote on an lf file": (
        {"setup.cfg": "[metadata]\nname = spam\nversion = 1.0\n"},
        edit("setup.cfg", "name = spam\r\nversion = 1.0\r\n", "name = spam\r\nversion = 1.1\r\n"),
        "trailing_whitespace",
        (2, 3),
    ),
    "method quoted without its class indentation": (
        {"spam.py": SPAM_FILTER},
        edit(
            "spam.py",
            "def is_spam(self, text):\n    # any listed word makes the message spam\n    lowered = text.lower()\n",
            "def is_spam(self, text):\n    # any listed word makes the message spam\n    lowered = text.casefold()\n",
        ),
        "indentation",
        (8, 10),
    ),
    "one misremembered comment line": (
        {"spam.py": SPAM_FILTER},
        edit(
            "spam.py",
            "    def is_spam(self, text):\n        # a listed word makes it spam\n        lowered = text.lower()\n        return any(w in lowered for w in self.words)\n",
            "    def is_spam(self, text):\n        # a listed word makes it spam\n        lowered = text.lower()\n        return any(w.lower() in lowered for w in self.words)\n",
        ),
        "similarity",
        (8, 11),
    ),
}


@pytest.mark.parametrize("files,the_edit,rule,lines", LENIENT_CASES.values(), ids=LENIENT_CASES.keys())
def test_a_slightly_wrong_quote_matches_one_place_and_records_the_rule(
    tmp_path, files, the_edit, rule, lines
):
    repo = make_repo(tmp_path, files)
    patch = build_patch([the_edit], repo)
    assert [(m.rule, m.start_line, m.end_line) for m in patch.matches] == [(rule, *lines)]
    assert apply_patch(patch.diff, repo) == {f.path: f.new_text for f in patch.files}
    for change in patch.files:  # the file keeps its own line endings, whatever the quote used
        assert change.new_text.count("\r\n") == (
            change.new_text.count("\n") if "\r\n" in change.old_text else 0
        )
    if GIT is not None:
        assert git_apply_check(repo, patch.diff).returncode == 0


def test_whitespace_rule_keeps_the_lines_the_edit_does_not_change_byte_for_byte(tmp_path):
    text = "a = 1   \nb = 2\t\nc = 3\n"
    repo = make_repo(tmp_path, {"m.py": text})
    patch = build_patch([edit("m.py", "a = 1\nb = 2\nc = 3\n", "a = 1\nb = 20\nc = 3\n")], repo)
    assert patch.files[0].new_text == "a = 1   \nb = 20\nc = 3\n"
    assert patch.files[0].removed == ["b = 2\t"] and patch.files[0].added == ["b = 20"]


def test_indentation_rule_reindents_added_lines_by_the_same_offset(tmp_path):
    text = "def f(x):\n    if x:\n        return 1\n    return 2\n"
    repo = make_repo(tmp_path, {"f.py": text})
    patch = build_patch(
        [
            edit(
                "f.py",
                "if x:\n    return 1\n",
                "if x is None:\n    raise ValueError(x)\nif x:\n    return 1\n",
            )
        ],
        repo,
    )
    assert patch.files[0].new_text == (
        "def f(x):\n    if x is None:\n        raise ValueError(x)\n    if x:\n        return 1\n    return 2\n"
    )
    assert patch.matches[0].describe() == "edit 1 (f.py, lines 2-3) matched ignoring indentation"


def test_lenient_off_refuses_a_quote_that_is_only_indented_differently(tmp_path):
    """``lenient=False`` (the bench's ``--no-fuzzy``) keeps the exact rule only."""
    text = "def f(x):\n    if x:\n        return 1\n    return 2\n"
    repo = make_repo(tmp_path, {"f.py": text})
    quote = edit("f.py", "if x:\n    return 1\n", "if x:\n    return 3\n")
    with pytest.raises(ProposalError) as info:
        build_patch([quote], repo, lenient=False)
    assert info.value.code == "original_not_found"
    assert "lenient matching is off" in str(info.value)
    assert info.value.failure is not None and info.value.failure.closest_lines
    assert build_patch([quote], repo).matches[0].rule == "indentation"


def test_similarity_rule_applies_only_the_changed_line_and_keeps_the_misquoted_one(tmp_path):
    """The model misremembered the comment and changed the return line: the file's comment stays."""
    repo = make_repo(tmp_path, {"spam.py": SPAM_FILTER})
    _, the_edit, _, _ = LENIENT_CASES["one misremembered comment line"]
    patch = build_patch([the_edit], repo)
    assert patch.files[0].removed == ["        return any(w in lowered for w in self.words)"]
    assert patch.files[0].added == ["        return any(w.lower() in lowered for w in self.words)"]
    assert "# any listed word makes the message spam" in patch.files[0].new_text
    match = patch.matches[0]
    assert match.similarity is not None and match.similarity >= 0.9
    assert "matched the most similar lines (similarity" in match.describe()


def test_two_places_equal_ignoring_indentation_are_refused_as_ambiguous(tmp_path):
    body = "    def area(self):\n        return self.w * self.h\n"
    repo = make_repo(tmp_path, {"shapes.py": "class A:\n" + body + "\n\nclass B:\n" + body})
    with pytest.raises(ProposalError) as info:
        build_patch(
            [
                edit(
                    "shapes.py",
                    "def area(self):\n    return self.w * self.h\n",
                    "def area(self):\n    return self.w * self.h * 1.0\n",
                )
            ],
            repo,
        )
    assert info.value.code == "original_ambiguous"
    assert "found 2 times when ignoring indentation" in str(info.value)
    assert "lines 2, 7" in str(info.value)


def test_two_equally_similar_places_are_refused_as_ambiguous(tmp_path):
    method = (
        "    def load(self, path):\n"
        "        with open(path) as fh:\n"
        "            data = fh.read()\n"
        "        return self.parse(data)\n"
    )
    repo = make_repo(tmp_path, {"io.py": "class Json:\n" + method + "\n\nclass Yaml:\n" + method})
    misquote = method.replace("data = fh.read()", "data = fh.read().strip()")
    with pytest.raises(ProposalError) as info:
        build_patch(
            [edit("io.py", misquote, misquote.replace("self.parse(data)", "self.parse(data or '')"))], repo
        )
    assert info.value.code == "original_ambiguous"
    assert "equally good" in str(info.value)
    assert info.value.failure is not None and info.value.failure.edit_index == 1


def test_a_short_misquote_is_not_matched_by_similarity(tmp_path):
    """One or two lines are too alike to guess from (``x = 1`` vs ``x = 2``): not found."""
    repo = make_repo(tmp_path, {"c.py": "limit = 10\nretries = 3\n"})
    with pytest.raises(ProposalError) as info:
        build_patch([edit("c.py", "limit = 11\nretries = 3\n", "limit = 12\nretries = 3\n")], repo)
    assert info.value.code == "original_not_found"


def test_not_found_reports_the_closest_lines_with_their_line_numbers(tmp_path):
    repo = make_repo(tmp_path, {"spam.py": SPAM_FILTER})
    quote = "    def is_spam(self, text):\n        lowered = text.lower()\n        return any(w in lowered for w in self.words)\n"
    with pytest.raises(ProposalError) as info:
        build_patch(
            [
                edit("spam.py", "import re\n", "import re\nimport sys\n"),
                edit("spam.py", quote, quote.replace("lower()", "casefold()")),
            ],
            repo,
        )
    failure = info.value.failure
    assert info.value.code == "original_not_found"
    assert str(info.value).startswith("edit 2: spam.py:")
    assert failure is not None and failure.edit_index == 2 and failure.original == quote
    lines = SPAM_FILTER.splitlines()
    start = failure.closest_start_line
    assert failure.closest_lines == lines[start - 1 : start - 1 + len(failure.closest_lines)]
    assert "    def is_spam(self, text):" in failure.closest_lines


def test_a_path_that_does_not_exist_reports_the_existing_paths_near_it(tmp_path):
    repo = make_repo(
        tmp_path, {"src/spam/filter.py": SPAM_FILTER, "src/spam/__init__.py": "", "README.md": "x\n"}
    )
    with pytest.raises(ProposalError) as info:
        build_patch([edit("spam/filter.py", "lowered = text.lower()", "lowered = text.casefold()")], repo)
    assert info.value.code == "file_not_found"
    assert info.value.failure is not None
    assert info.value.failure.nearby_paths[0] == "src/spam/filter.py"


def test_a_lenient_match_never_reaches_another_file(tmp_path):
    """The quote is verbatim in b.py; a.py only has it re-indented once — a.py is what changes."""
    repo = make_repo(tmp_path, {"a.py": "class K:\n    x = 1\n    y = 2\n", "b.py": "x = 1\ny = 2\n"})
    patch = build_patch([edit("a.py", "x = 1\ny = 2\n", "x = 1\ny = 3\n")], repo)
    assert [f.path for f in patch.files] == ["a.py"]
    assert patch.matches[0].rule == "indentation"
    assert patch.files[0].new_text == "class K:\n    x = 1\n    y = 3\n"


def test_a_misquoted_line_that_the_edit_changes_is_refused_not_copied_into_the_file(tmp_path):
    """The model misquoted the very line it edits (``words`` for ``self.words``): writing its
    replacement there would also change what it never meant to, so the edit is refused."""
    repo = make_repo(tmp_path, {"spam.py": SPAM_FILTER})
    quote = (
        "    def is_spam(self, text):\n"
        "        # any listed word makes the message spam\n"
        "        lowered = text.lower()\n"
        "        return any(w in lowered for w in words)\n"
    )
    the_edit = edit("spam.py", quote, quote.replace("any(w in", "any(w.lower() in"))
    with pytest.raises(ProposalError) as info:
        build_patch([the_edit], repo)
    assert info.value.code == "original_not_found"
    assert "differ in a line the edit changes" in str(info.value)
    assert "        return any(w in lowered for w in self.words)" in info.value.failure.closest_lines
