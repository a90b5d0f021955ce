"""Repository context: log references → repository paths, manifests, own packages, windows."""

from __future__ import annotations

from pathlib import Path

import pytest

from ci_healer.context import find_manifests, gather, project_packages, referenced_files
from ci_healer.models import Block, Category
from ci_healer.repo import LocalRepo

EXAMPLE_REPO = Path(__file__).resolve().parents[1] / "examples" / "missing-dependency" / "repo"


class MemoryRepo:
    """RepoSource over a dict of path → text (what the GitHub trees API gives the Action)."""

    def __init__(self, files: dict[str, str], name: str = "demo") -> None:
        self.files = files
        self.name = name

    def read_text(self, path: str) -> str | None:
        return self.files.get(path)

    def entry(self, path: str):  # pragma: no cover - not used by context
        return None

    def list_paths(self) -> list[str]:
        return sorted(self.files)


def block(text: str) -> Block:
    return Block(start_line=1, end_line=max(1, text.count("\n") + 1), reason="test", text=text)


TREE = MemoryRepo(
    {
        "src/app/models.py": "\n".join(f"line {i}" for i in range(1, 201)) + "\n",
        "src/app/__init__.py": "",
        "app/models.py": "other\n",
        "tests/test_models.py": "import app\n\ndef test_x():\n    assert 1 == 2\n",
        "tests/__init__.py": "",
        "pkg/tests/test_api.py": "def test_api():\n    pass\n",
        "src/main/java/com/acme/billing/Invoice.java": "package com.acme.billing;\n" * 50,
        "legacy/com/acme/billing/Invoice.java": "old\n",
        "src/main/kotlin/Helpers.kt": "fun x() = 1\n",
        "cmd/server/main.go": "package main\n" * 20,
        "src/main.rs": "fn main() {}\n" * 10,
        "lib/parse.c": "int x;\n" * 30,
        "web/src/index.ts": "export const a = 1;\n" * 15,
        "json/__init__.py": "# a project folder that shadows a stdlib name\n",
        "requirements.txt": "click\n",
        "requirements/dev.txt": "pytest\n",
        "web/package.json": '{"name": "web"}\n',
        "web/package-lock.json": "{}\n",
        "node_modules/left-pad/package.json": "{}\n",
        "pyproject.toml": '[project]\nname = "acme-billing"\n',
    }
)


@pytest.mark.parametrize(
    "line, expected",
    [
        ('  File "/home/runner/work/app/app/src/app/models.py", line 12, in load', ("src/app/models.py", 12)),
        ("D:\\a\\app\\app\\src\\app\\models.py:40: error: Incompatible types", ("src/app/models.py", 40)),
        ('  File "/Users/runner/work/app/app/src/app/models.py", line 7, in <module>', ("src/app/models.py", 7)),
        ('  File "/home/travis/build/acme/app/src/app/models.py", line 3, in f', ("src/app/models.py", 3)),
        ("/builds/workspace/app-ci/src/app/models.py:9:1: F401 unused import", ("src/app/models.py", 9)),
        ("/var/lib/jenkins/workspace/app-ci/src/app/models.py:9: error", ("src/app/models.py", 9)),
        ("/__w/app/app/src/app/models.py:5:3: E501 line too long", ("src/app/models.py", 5)),
        ('  File "/root/src/app/models.py", line 2, in <module>', ("src/app/models.py", 2)),
        ("tests/test_models.py:4: in test_x", ("tests/test_models.py", 4)),
        ("tests/test_api.py:1: AssertionError", ("pkg/tests/test_api.py", 1)),
        ("app/models.py:1: error: Name 'x' is not defined", ("app/models.py", 1)),
        ("\x1b[1m\x1b[31mtests/test_models.py\x1b[0m:4: in test_x", ("tests/test_models.py", 4)),
        ("2025-04-14T20:20:18.8680425Z tests/test_models.py:4: ", ("tests/test_models.py", 4)),
        ("file:///home/runner/work/app/app/src/app/models.py:33:5", ("src/app/models.py", 33)),
    ],
)
def test_runner_path_shapes_map_to_repository_paths(line: str, expected: tuple[str, int]) -> None:
    assert referenced_files([block(line)], TREE)[0] == expected


@pytest.mark.parametrize(
    "line, expected",
    [
        ("cmd/server/main.go:12:3: undefined: handler", ("cmd/server/main.go", 12)),
        ("  --> src/main.rs:4:5", ("src/main.rs", 4)),
        ("parse.c:10:2: error: expected ';' before '}' token", ("lib/parse.c", 10)),
        ("src/index.ts(12,5): error TS2304: Cannot find name 'foo'.", ("web/src/index.ts", 12)),
        (
            "[ERROR] /home/runner/work/b/b/src/main/java/com/acme/billing/Invoice.java:[42,17] cannot find symbol",
            ("src/main/java/com/acme/billing/Invoice.java", 42),
        ),
        ("\tat com.acme.billing.Invoice.total(Invoice.java:42)", ("src/main/java/com/acme/billing/Invoice.java", 42)),
        ("\tat com.acme.billing.Invoice$Line.<init>(Invoice.java:8)", ("src/main/java/com/acme/billing/Invoice.java", 8)),
        ("\tat HelpersKt.x(Helpers.kt:1)", ("src/main/kotlin/Helpers.kt", 1)),
    ],
)
def test_compiler_and_stack_frame_shapes(line: str, expected: tuple[str, int]) -> None:
    assert referenced_files([block(line)], TREE) == [expected]


@pytest.mark.parametrize(
    "line",
    [
        '  File "/opt/hostedtoolcache/Python/3.12.9/x64/lib/python3.12/json/__init__.py", line 346, in loads',
        '  File "/usr/lib/python3.11/json/__init__.py", line 346, in loads',
        '  File "/home/runner/.local/lib/python3.12/site-packages/app/models.py", line 1, in f',
        "../../../micromamba/envs/test/lib/python3.12/site-packages/numba/typed/dictobject.py:778: KeyError",
        "/home/runner/work/web/web/node_modules/left-pad/index.ts:3:1 error",
        '  File "<frozen importlib._bootstrap>", line 1387, in _gcd_import',
        "\tat java.base/java.lang.Thread.run(Thread.java:833)",
        "\tat org.junit.Assert.fail(Assert.java:88)",
        "C:\\hostedtoolcache\\windows\\Python\\3.12.0\\x64\\Lib\\json\\decoder.py:353: in raw_decode",
        "Connecting to example.com:443 failed",
        "    at Module._compile (node:internal/modules/cjs/loader:1256:14)",
        "    at Function.Module._resolveFilename (internal/modules/cjs/loader.js:1145:15)",
        "src/missing/file.py:3: error",
    ],
)
def test_paths_outside_the_repository_are_ignored(line: str) -> None:
    assert referenced_files([block(line)], TREE) == []


def test_traceback_innermost_frame_first_and_deduplicated() -> None:
    text = "\n".join(
        [
            "Traceback (most recent call last):",
            '  File "/home/runner/work/app/app/tests/test_models.py", line 4, in test_x',
            "    load()",
            '  File "/home/runner/work/app/app/src/app/models.py", line 120, in load',
            "    raise ValueError",
            "ValueError",
            "FAILED tests/test_models.py::test_x - ValueError",
            "tests/test_models.py:4: in test_x",
        ]
    )
    assert referenced_files([block(text)], TREE) == [("src/app/models.py", 120), ("tests/test_models.py", 4)]


def test_bare_node_id_kept_when_no_line_is_known() -> None:
    assert referenced_files([block("FAILED tests/test_models.py::test_x - assert 1 == 2")], TREE) == [
        ("tests/test_models.py", None)
    ]


def test_blocks_keep_their_order() -> None:
    first, second = block("src/main.rs:4:5: error"), block("cmd/server/main.go:1:1: error")
    assert [p for p, _ in referenced_files([first, second], TREE)] == ["src/main.rs", "cmd/server/main.go"]
    assert [p for p, _ in referenced_files([second, first], TREE)] == ["cmd/server/main.go", "src/main.rs"]


def test_windows_center_on_the_named_line() -> None:
    files = gather([block("src/app/models.py:100: error")], TREE, category=Category.TYPE_CHECK, window=10)
    assert [(f.path, f.start_line, f.end_line, f.reason) for f in files] == [("src/app/models.py", 90, 110, "named-in-log")]
    assert files[0].text.splitlines()[0] == "line 90" and files[0].text.splitlines()[-1] == "line 110"


def test_small_files_are_included_whole_and_windows_merge() -> None:
    files = gather(
        [block("tests/test_models.py:4: in test_x\ntests/test_models.py:1: in <module>")],
        TREE,
        category=Category.TEST,
    )
    assert [(f.path, f.start_line, f.end_line) for f in files] == [("tests/test_models.py", 1, 4)]
    assert files[0].text == TREE.files["tests/test_models.py"]


def test_overlapping_windows_of_one_file_merge() -> None:
    files = gather([block("src/app/models.py:100: a\nsrc/app/models.py:105: b")], TREE, category=Category.LINT, window=10)
    assert [(f.start_line, f.end_line) for f in files] == [(90, 115)]


@pytest.mark.parametrize("max_bytes", [0, 1, 40, 200, 500, 24_000])
def test_total_size_never_exceeds_the_cap(max_bytes: int) -> None:
    text = "src/app/models.py:100: e\ncmd/server/main.go:3:1: e\nsrc/main.rs:2:1: e\nlib/parse.c:10:2: error"
    files = gather([block(text)], TREE, category=Category.DEPENDENCY, max_bytes=max_bytes)
    assert sum(len(f.text.encode()) for f in files) <= max_bytes
    for f in files:
        assert 1 <= f.start_line <= f.end_line


def test_narrowed_window_keeps_the_named_line() -> None:
    files = gather([block("src/app/models.py:100: error")], TREE, category=Category.TEST, max_bytes=60)
    assert files and "line 100\n" in files[0].text
    assert files[0].start_line <= 100 <= files[0].end_line


def test_dependency_category_adds_manifests_first() -> None:
    files = gather([block("src/index.ts(12,5): error TS2307")], TREE, category=Category.DEPENDENCY)
    reasons = [(f.path, f.reason) for f in files]
    assert reasons[0][1] == "manifest"
    manifest_paths = [p for p, r in reasons if r == "manifest"]
    assert "web/package.json" in manifest_paths and "requirements.txt" in manifest_paths
    assert "web/package-lock.json" not in manifest_paths
    assert reasons[-1] == ("web/src/index.ts", "named-in-log")


def test_other_categories_add_no_manifests() -> None:
    files = gather([block("src/index.ts(12,5): error TS2304")], TREE, category=Category.COMPILE)
    assert [f.reason for f in files] == ["named-in-log"]


def test_unreadable_files_are_skipped() -> None:
    repo = MemoryRepo({"a.py": "x\n"})
    repo.read_text = lambda path: None  # type: ignore[method-assign]
    assert gather([block("a.py:1: error")], repo, category=Category.TEST) == []


def test_find_manifests_skips_locks_and_vendored_copies() -> None:
    assert find_manifests(TREE) == ["pyproject.toml", "requirements.txt", "requirements/dev.txt", "web/package.json"]


@pytest.mark.parametrize(
    "files, expected",
    [
        ({"src/acme/__init__.py": "", "src/acme/core.py": ""}, ["acme"]),
        ({"src/nspkg/mod.py": ""}, ["nspkg"]),
        ({"acme/__init__.py": "", "acme/sub/__init__.py": "", "tests/test_a.py": ""}, ["acme"]),
        ({"tool.py": "", "README.md": ""}, ["tool"]),
        ({"pyproject.toml": '[project]\nname = "Acme-Billing.Core"\n'}, ["acme_billing_core"]),
        ({"setup.py": "setup(name='foo-bar', packages=['foo', 'foo.sub'], py_modules=['util'])\n"}, ["foo", "foo_bar", "util"]),
        ({"setup.cfg": "[metadata]\nname = cfgpkg\n[options]\npackages =\n    cfgpkg\n    extra.sub\n"}, ["cfgpkg", "extra"]),
        ({"pyproject.toml": "not [ valid toml"}, []),
    ],
)
def test_project_packages(files: dict[str, str], expected: list[str]) -> None:
    assert project_packages(MemoryRepo(files)) == expected


def test_example_repository_on_disk() -> None:
    repo = LocalRepo(EXAMPLE_REPO)
    assert project_packages(repo) == ["tidyconf"]
    assert find_manifests(repo) == ["pyproject.toml", "requirements.txt"]


# ---------------------------------------------------------------------------------------------
# Files changed by the failing change (pull request files / pushed commits)


def test_changed_file_named_by_the_log_ranks_first() -> None:
    text = "src/main.rs:4:5: error\nsrc/app/models.py:100: error"
    files = gather([block(text)], TREE, category=Category.COMPILE, changed_files=["src/app/models.py"])
    assert [(f.path, f.reason) for f in files] == [("src/app/models.py", "named-in-log"), ("src/main.rs", "named-in-log")]


def test_changed_file_ranks_before_manifests_of_a_dependency_failure() -> None:
    files = gather([block("src/index.ts(12,5): error TS2307")], TREE, category=Category.DEPENDENCY, changed_files=["web/src/index.ts"])
    assert files[0].path == "web/src/index.ts" and files[1].reason == "manifest"


def test_changed_files_not_named_come_after_the_named_ones_with_their_head() -> None:
    files = gather(
        [block("src/main.rs:4:5: error")], TREE, category=Category.COMPILE, window=10, changed_files=["./src/app/models.py", "gone.py"]
    )
    assert [(f.path, f.start_line, f.end_line, f.reason) for f in files] == [
        ("src/main.rs", 1, 10, "named-in-log"),
        ("src/app/models.py", 1, 21, "changed"),
    ]


def test_changed_lines_give_windows_around_each_hunk() -> None:
    files = gather(
        [block("src/main.rs:4:5: error")],
        TREE,
        category=Category.COMPILE,
        window=5,
        changed_files=["src/app/models.py"],
        changed_lines={"src/app/models.py": {50, 51, 52, 150}},
    )
    assert [(f.path, f.start_line, f.end_line) for f in files if f.reason == "changed"] == [
        ("src/app/models.py", 45, 55),
        ("src/app/models.py", 145, 155),
    ]


def test_changed_files_share_the_byte_budget() -> None:
    files = gather(
        [block("src/app/models.py:100: error")], TREE, category=Category.TEST, max_bytes=300, changed_files=["lib/parse.c", "src/main.rs"]
    )
    assert sum(len(f.text.encode()) for f in files) <= 300
    assert files[0].path == "src/app/models.py"
