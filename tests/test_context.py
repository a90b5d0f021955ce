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
        (
            '  File "/Users/runner/work/app/app/src/app/models.py", line 7, in <module>',
            ("src/app/models.py", 7),
        ),
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
        (
            "\tat com.acme.billing.Invoice.total(Invoice.java:42)",
            ("src/main/java/com/acme/billing/Invoice.java", 42),
        ),
        (
            "\tat com.acme.billing.Invoice$Line.<init>(Invoice.java:8)",
            ("src/main/java/com/acme/billing/Invoice.java", 8),
        ),
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
        '  File "/home/runner/.local/lib/python3.12/site-packages/requests/models.py", line 1, in f',
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
    assert [(f.path, f.start_line, f.end_line, f.reason) for f in files] == [
        ("src/app/models.py", 90, 110, "named-in-log")
    ]
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
    files = gather(
        [block("src/app/models.py:100: a\nsrc/app/models.py:105: b")], TREE, category=Category.LINT, window=10
    )
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
    assert find_manifests(TREE) == [
        "pyproject.toml",
        "requirements.txt",
        "requirements/dev.txt",
        "web/package.json",
    ]


@pytest.mark.parametrize(
    "files, expected",
    [
        ({"src/acme/__init__.py": "", "src/acme/core.py": ""}, ["acme"]),
        ({"src/nspkg/mod.py": ""}, ["nspkg"]),
        ({"acme/__init__.py": "", "acme/sub/__init__.py": "", "tests/test_a.py": ""}, ["acme"]),
        ({"tool.py": "", "README.md": ""}, ["tool"]),
        ({"pyproject.toml": '[project]\nname = "Acme-Billing.Core"\n'}, ["acme_billing_core"]),
        (
            {"setup.py": "setup(name='foo-bar', packages=['foo', 'foo.sub'], py_modules=['util'])\n"},
            ["foo", "foo_bar", "util"],
        ),
        (
            {"setup.cfg": "[metadata]\nname = cfgpkg\n[options]\npackages =\n    cfgpkg\n    extra.sub\n"},
            ["cfgpkg", "extra"],
        ),
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
    assert [(f.path, f.reason) for f in files] == [
        ("src/app/models.py", "named-in-log"),
        ("src/main.rs", "named-in-log"),
    ]


def test_changed_file_ranks_before_manifests_of_a_dependency_failure() -> None:
    files = gather(
        [block("src/index.ts(12,5): error TS2307")],
        TREE,
        category=Category.DEPENDENCY,
        changed_files=["web/src/index.ts"],
    )
    assert files[0].path == "web/src/index.ts" and files[1].reason == "manifest"


def test_changed_files_not_named_come_after_the_named_ones_with_their_head() -> None:
    files = gather(
        [block("src/main.rs:4:5: error")],
        TREE,
        category=Category.COMPILE,
        window=10,
        changed_files=["./src/app/models.py", "gone.py"],
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
        [block("src/app/models.py:100: error")],
        TREE,
        category=Category.TEST,
        max_bytes=300,
        changed_files=["lib/parse.c", "src/main.rs"],
    )
    assert sum(len(f.text.encode()) for f in files) <= 300
    assert files[0].path == "src/app/models.py"


# ---------------------------------------------------------------------------------------------
# Classes of localization misses: paths without a line, class and module names, installed copies

JAVA_TREE = MemoryRepo(
    {
        "core/src/main/java/net/acme/formats/AudioProperties.java": "class AudioProperties {}\n" * 80,
        "core/src/test/java/net/acme/formats/AudioPropertiesTest.java": "class AudioPropertiesTest {}\n" * 80,
        "core/src/test/java/net/acme/formats/OtherTest.java": "class OtherTest {}\n" * 80,
        "core/pom.xml": "<project/>\n",
        "pom.xml": "<project/>\n",
    }
)


@pytest.mark.parametrize(
    "text, expected",
    [
        # license-maven-plugin (mycila): the offending files, no line.
        (
            "[WARNING] Missing header in: /home/travis/build/acme/app/core/src/main/java/net/acme/formats/AudioProperties.java",
            [("core/src/main/java/net/acme/formats/AudioProperties.java", None)],
        ),
        # Maven's model errors name the module's pom in parentheses.
        (
            "[ERROR]   The project net.acme:core:1.0 (/home/travis/build/acme/app/core/pom.xml) has 1 error",
            [("core/pom.xml", None)],
        ),
        # Checkstyle through Maven: path:[N] without a column.
        (
            "[ERROR] src/main/java/net/acme/formats/AudioProperties.java:[7] (regexp) RegexpSingleline: trailing spaces",
            [("core/src/main/java/net/acme/formats/AudioProperties.java", 7)],
        ),
    ],
)
def test_paths_without_a_line_number(text: str, expected: list) -> None:
    assert referenced_files([block(text)], JAVA_TREE) == expected


SUREFIRE_OLD = """\
Running net.acme.formats.OtherTest
Tests run: 5, Failures: 0, Errors: 0, Skipped: 0, Time elapsed: 0.001 sec - in net.acme.formats.OtherTest
Running net.acme.formats.AudioPropertiesTest
Tests run: 21, Failures: 1, Errors: 0, Skipped: 0, Time elapsed: 0.014 sec <<< FAILURE! - in net.acme.formats.AudioPropertiesTest
testSetBitRate(net.acme.formats.AudioPropertiesTest)  Time elapsed: 0.005 sec  <<< FAILURE!
java.lang.AssertionError: Expected exception: java.lang.IllegalArgumentException
"""

SUREFIRE_SUMMARY = """\
Results :

Failed tests:
  AudioPropertiesTest.testSetBitRate:42 expected:<1> but was:<2>

Tests run: 21, Failures: 1, Errors: 0, Skipped: 0
"""


SUREFIRE_3 = """\
[ERROR] Failures:
[ERROR]   AudioPropertiesTest.testSetBitRate:42 expected:<1> but was:<2>
[ERROR]
[ERROR] Tests run: 21, Failures: 1, Errors: 0, Skipped: 0
"""


@pytest.mark.parametrize(
    "text",
    [
        SUREFIRE_OLD,
        SUREFIRE_SUMMARY,
        SUREFIRE_3,
        "Tests in error:\n  testSetBitRate(net.acme.formats.AudioPropertiesTest): boom\n",
    ],
)
def test_surefire_class_names_resolve_to_the_test_source(text: str) -> None:
    refs = referenced_files([block(text)], JAVA_TREE)
    assert refs[0][0] == "core/src/test/java/net/acme/formats/AudioPropertiesTest.java"
    assert "core/src/test/java/net/acme/formats/OtherTest.java" not in [p for p, _ in refs]  # it passed


PY_TREE = MemoryRepo(
    {
        "vistra/__init__.py": "",
        "vistra/db/__init__.py": "",
        "vistra/db/action.py": "\n".join(f"line {i}" for i in range(1, 301)) + "\n",
        "vistra/tests/runsuite.py": "x\n" * 100,
        "vistra/packages/remote/base.py": "x\n" * 100,
        "src/other/mod.py": "x\n",
        "setup.py": "setup(name='vistra', packages=['vistra'])\n",
        "web/package.json": '{"name": "@acme/web"}\n',
        "web/lib/index.js": "module.exports = 1;\n",
    }
)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("FAIL: test_port_spec_copy (vistra.db.action.ActionTest)", ("vistra/db/action.py", None)),
        (
            "ERROR: test_port_spec_copy (vistra.db.action.ActionTest.test_port_spec_copy)",
            ("vistra/db/action.py", None),
        ),
        ("ImportError: Failed to import test module: vistra.db.action", ("vistra/db/action.py", None)),
        ("ImportError: cannot import name 'x' from 'vistra.db.action'", ("vistra/db/action.py", None)),
        ("FAIL: test_y (other.mod.T)", ("src/other/mod.py", None)),
    ],
)
def test_python_dotted_names_resolve_to_modules(text: str, expected: tuple) -> None:
    assert referenced_files([block(text)], PY_TREE) == [expected]


def test_dotted_names_that_are_not_repository_modules_are_ignored() -> None:
    assert (
        referenced_files([block("FAIL: test_x (unittest.case.TestCase)\nFAIL: test_y (mod.T)")], PY_TREE)
        == []
    )


@pytest.mark.parametrize(
    "text, expected",
    [
        (
            '  File "/home/travis/build/acme/vistra/venv/lib/python2.7/site-packages/vistra/db/action.py", line 193, in test_x',
            ("vistra/db/action.py", 193),
        ),
        (
            "/home/travis/build/acme/vistra/venv/lib/python2.7/site-packages/vistra/db/action.py, line 590",
            ("vistra/db/action.py", 590),
        ),
        (
            '  File "/home/runner/work/v/v/.tox/py312/lib/python3.12/site-packages/vistra/db/action.py", line 5, in f',
            ("vistra/db/action.py", 5),
        ),
        (
            '  File "/usr/lib/python3/dist-packages/vistra-1.0-py3.8.egg/vistra/db/action.py", line 5, in f',
            ("vistra/db/action.py", 5),
        ),
        ('  File "build/lib.linux-x86_64-2.7/vistra/db/action.py", line 8, in f', ("vistra/db/action.py", 8)),
        ("/home/runner/work/w/w/node_modules/@acme/web/lib/index.js:1:1 TypeError", ("web/lib/index.js", 1)),
    ],
)
def test_installed_copies_of_the_projects_own_package_map_back_to_its_source(
    text: str, expected: tuple
) -> None:
    assert referenced_files([block(text)], PY_TREE) == [expected]


def test_installed_copies_of_third_party_packages_stay_ignored() -> None:
    text = (
        '  File "/home/travis/virtualenv/python3.6/lib/python3.6/site-packages/nose/core.py", line 3, in run'
    )
    assert referenced_files([block(text)], PY_TREE) == []


def test_failing_test_block_outranks_optional_import_errors() -> None:
    imports = block(
        "ERROR: Could not import module: vistra.packages.remote.base\n"
        "Traceback (most recent call last):\n"
        '  File "/home/travis/build/a/v/venv/lib/python2.7/site-packages/vistra/tests/runsuite.py", line 376, in <module>\n'
        '  File "/home/travis/build/a/v/venv/lib/python2.7/site-packages/vistra/packages/remote/base.py", line 40, in <module>\n'
        "ImportError: No module named remoteq.pipelines.shell\n"
    )
    failure = block(
        "FAIL: test_port_spec_copy (vistra.db.action.ActionTest)\n"
        '  File "/home/travis/build/a/v/venv/lib/python2.7/site-packages/vistra/db/action.py", line 193, in test_port_spec_copy\n'
        "AssertionError: 0L == 0L\n"
    )
    refs = referenced_files([imports, failure], PY_TREE)
    assert refs[0] == ("vistra/db/action.py", 193)
    assert ("vistra/packages/remote/base.py", 40) in refs


def test_bare_paths_rank_after_every_located_reference() -> None:
    text = "copying vistra/tests/runsuite.py -> build/lib\nvistra/db/action.py:12: error: bad"
    assert referenced_files([block(text)], PY_TREE) == [
        ("vistra/db/action.py", 12),
        ("vistra/tests/runsuite.py", None),
    ]


@pytest.mark.parametrize(
    "case, fix_file",
    [
        # A failing unittest in an installed copy, among import errors of optional packages.
        ("VisTrails-VisTrails-154528989", "vistrails/db/services/action.py"),
        # A nose failure whose traceback points into site-packages/numpy.
        ("numpy-numpy-308527203", "numpy/testing/tests/test_utils.py"),
    ],
)
def test_real_logs_with_installed_copies_reach_the_fix_file(corpus: Path, case: str, fix_file: str) -> None:
    from ci_healer.extract import extract

    folder = corpus / "bugswarm_dissection" / case

    blocks = extract(folder / "log.txt", max_tokens=1500).blocks
    pkg = fix_file.split("/")[0]
    repo = MemoryRepo({f"{pkg}/__init__.py": "", fix_file: "x\n" * 400, f"{pkg}/tests/__init__.py": ""})
    sent = [f.path for f in gather(blocks, repo, category=Category.TEST)]
    assert fix_file in sent


def test_dependency_failure_sends_the_pom_of_the_module_maven_names() -> None:
    repo = MemoryRepo(
        {
            "pom.xml": "<project><artifactId>stdlib</artifactId></project>\n",
            "user-manager/pom.xml": "<project><parent><artifactId>stdlib</artifactId></parent><artifactId>user-manager-parent</artifactId></project>\n",
            "user-manager/service/pom.xml": (
                "<project><parent><artifactId>user-manager-parent</artifactId></parent>"
                "<artifactId>user-manager</artifactId><packaging>war</packaging></project>\n"
            ),
            "guice/pom.xml": "<project><artifactId>guice</artifactId></project>\n",
        }
    )
    text = (
        "[ERROR] Failed to execute goal on project user-manager: Could not resolve dependencies for project "
        "com.acme.user-manager:user-manager:war:9.0.2-SNAPSHOT: Could not find artifact AzureLogAppender:AzureLogAppender:jar:1.0"
    )
    files = gather([block(text)], repo, category=Category.DEPENDENCY)
    assert [f.path for f in files][:2] == ["user-manager/service/pom.xml", "pom.xml"]
    assert "guice/pom.xml" not in [f.path for f in files]


def test_changed_files_rank_before_paths_mentioned_in_passing() -> None:
    text = "copying vistra/tests/runsuite.py -> build/lib\nvistra/db/action.py:12: error: bad"
    files = gather(
        [block(text)], PY_TREE, category=Category.TEST, changed_files=["vistra/packages/remote/base.py"]
    )
    assert [(f.path, f.reason) for f in files] == [
        ("vistra/db/action.py", "named-in-log"),
        ("vistra/packages/remote/base.py", "changed"),
        ("vistra/tests/runsuite.py", "named-in-log"),
    ]


@pytest.mark.parametrize(
    "text, unit",
    [
        (
            "testSetBitRate(net.acme.formats.AudioPropertiesTest)  Time elapsed: 0.005 sec  <<< FAILURE!",
            "core/src/main/java/net/acme/formats/AudioProperties.java",
        ),
        ("FAIL: test_copy (vistra.db.tests.test_action.T)", "vistra/db/action.py"),
    ],
)
def test_the_unit_under_test_follows_a_failing_test(text: str, unit: str) -> None:
    files = (
        dict(JAVA_TREE.files)
        | dict(PY_TREE.files)
        | {"vistra/db/tests/__init__.py": "", "vistra/db/tests/test_action.py": "x\n"}
    )
    refs = referenced_files([block(text)], MemoryRepo(files))
    assert len(refs) == 2 and refs[1] == (unit, None)


def test_a_missing_package_adds_the_modules_build_file_after_the_source() -> None:
    text = (
        "[ERROR] /home/travis/build/acme/app/core/src/main/java/net/acme/formats/AudioProperties.java:[3,26] "
        "package com.fasterxml.uuid does not exist"
    )
    assert referenced_files([block(text)], JAVA_TREE) == [
        ("core/src/main/java/net/acme/formats/AudioProperties.java", 3),
        ("core/pom.xml", None),
    ]
    other = text.replace("package com.fasterxml.uuid does not exist", "cannot find symbol")
    assert [p for p, _ in referenced_files([block(other)], JAVA_TREE)] == [
        "core/src/main/java/net/acme/formats/AudioProperties.java"
    ]
