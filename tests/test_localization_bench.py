"""The localization benchmark: fix files of a diff, the ceiling, the stand-in tree, one real case."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.corpus import load_cases
from bench.localization import evaluate_case, fix_files, log_names_file, render, standin_tree, summarise

DIFF = """\
diff --git a/src/main/java/com/acme/Foo.java b/src/main/java/com/acme/Foo.java
index 1111111..2222222 100644
--- a/src/main/java/com/acme/Foo.java
+++ b/src/main/java/com/acme/Foo.java
@@ -1,2 +1,2 @@
-class Foo {}
+class Foo { }
 // end
diff --git a/docs/new.md b/docs/new.md
new file mode 100644
index 0000000..3333333
--- /dev/null
+++ b/docs/new.md
@@ -0,0 +1 @@
+new
diff --git a/old.py b/old.py
deleted file mode 100644
index 4444444..0000000
--- a/old.py
+++ /dev/null
@@ -1 +0,0 @@
-x = 1
"""


def test_fix_files_are_the_modified_and_deleted_files() -> None:
    assert fix_files(DIFF) == ["src/main/java/com/acme/Foo.java", "old.py"]
    assert fix_files("not a diff") == []


@pytest.mark.parametrize(
    "log, named",
    [
        ("[ERROR] /home/travis/build/acme/app/src/main/java/com/acme/Foo.java:[3,5] error", True),
        ("Running com.acme.Foo\nTests run: 1, Failures: 1", True),
        ("\tat com.acme.Bar.x(Foo.java:12)", True),
        ("Running com.acme.FooBar", False),
        ("see src/main/java/com/acme/Foo.javadoc", False),
    ],
)
def test_log_names_a_jvm_file(log: str, named: bool) -> None:
    assert log_names_file(log, "src/main/java/com/acme/Foo.java") is named


def test_standin_tree_holds_fix_files_log_paths_and_own_classes() -> None:
    log = (
        "[ERROR] /home/travis/build/acme/app/core/src/main/java/com/acme/Baz.java:[3,5] error\n"
        "Running com.acme.util.HelperTest\n"
        '  File "/usr/lib/python3.6/json/decoder.py", line 3\n'
        "Downloading https://repo.maven.org/com/acme/x/1.0/x.pom\n"
        "[INFO] BUILD FAILURE\n"
    )
    tree = standin_tree(log, ["src/main/java/com/acme/Foo.java"])
    assert set(tree) == {
        "src/main/java/com/acme/Foo.java",
        "core/src/main/java/com/acme/Baz.java",
        "src/test/java/com/acme/util/HelperTest.java",
        "src/main/java/com/acme/util/Helper.java",  # the unit under test of a named test class
        "pom.xml",
        "core/pom.xml",  # the build file of a module folder
    }
    assert all(text.count("\n") == 200 for text in tree.values())


def test_a_real_case_gives_all_figures(corpus: Path) -> None:
    case = next(c for c in load_cases(corpus, sources=("bugswarm_dissection",)) if c.category == "Checkstyle")
    row = evaluate_case(case)
    assert row.fixes and row.log
    assert set(row.sent) <= set(row.named) | {"pom.xml", "build.gradle"}
    table = summarise([row])
    assert table["overall"]["n"] == 1 and table["Checkstyle"]["log"] == 1.0
    assert "| Checkstyle | 1 |" in render(table)
