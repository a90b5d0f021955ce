"""Patch policy caps and globs, and cheating-fix detection on patches built from real edits."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from unidiff import PatchSet

from ci_healer.models import Block, FileChange, FileEdit, Patch
from ci_healer.patch import build_patch, split_lines
from ci_healer.policy import PolicyConfig, check_patch, detect_cheats, glob_match, protected_reason
from ci_healer.repo import LocalRepo
from tests.prereq import corpus_missing


def make_repo(tmp_path: Path, files: dict[str, str]) -> LocalRepo:
    root = tmp_path / "repo"
    root.mkdir(exist_ok=True)
    for rel, content in files.items():
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content.encode("utf-8"))
    return LocalRepo(root)


def patch_of(tmp_path: Path, path: str, old: str | None, original: str, replacement: str) -> Patch:
    repo = make_repo(tmp_path, {} if old is None else {path: old})
    return build_patch([FileEdit(file_path=path, original=original, replacement=replacement)], repo)


# ----------------------------------------------------------------------------------- globs

GLOB_CASES = [
    ("Dockerfile*", "Dockerfile", True),
    ("Dockerfile*", "docker/Dockerfile.ci", True),
    ("Dockerfile*", "src/dockerfile_utils.py", False),
    (".github/**", ".github/workflows/ci.yml", True),
    (".github/**", "docs/.github/notes.md", False),
    ("action.yml", "sub/dir/action.yml", True),
    ("src/*.py", "src/a.py", True),
    ("src/*.py", "src/pkg/a.py", False),
    ("src/**/*.py", "src/pkg/deep/a.py", True),
    ("src/**/*.py", "src/a.py", True),
    ("vendor/", "vendor/lib/x.c", True),
    ("config/[ab].yml", "config/a.yml", True),
    ("config/[!ab].yml", "config/a.yml", False),
    ("", "anything", False),
]


@pytest.mark.parametrize("pattern,path,expected", GLOB_CASES)
def test_glob_match(pattern, path, expected):
    assert glob_match(path, pattern) is expected


@pytest.mark.parametrize(
    "path,config,expected",
    [
        (".github/workflows/ci.yml", PolicyConfig(), ".github/**"),
        (".GitHub/Workflows/CI.yml", PolicyConfig(), ".github/**"),
        (".github/workflows/ci.yml", PolicyConfig(allowed_paths=[".github/workflows/ci.yml"]), None),
        (
            ".github/workflows/release.yml",
            PolicyConfig(allowed_paths=[".github/workflows/ci.yml"]),
            ".github/**",
        ),
        ("docker/Dockerfile", PolicyConfig(), "Dockerfile*"),
        ("src/app.py", PolicyConfig(), None),
        ("src/app.py", PolicyConfig(protected_paths=["src/**"]), "src/**"),
        ("src/app.py", PolicyConfig(protected_paths=["src/**"], allowed_paths=["src/app.py"]), "src/**"),
        ("requirements.txt", PolicyConfig(), None),
        ("nested/AGENTS.md", PolicyConfig(), "AGENTS.md"),
    ],
)
def test_protected_reason_lifts_only_defaults_and_only_what_allowed_names(path, config, expected):
    assert protected_reason(path, config) == expected


# ------------------------------------------------------------------------------------ caps


def test_too_many_files(tmp_path):
    files = {f"m{i}.py": f"x = {i}\n" for i in range(4)}
    repo = make_repo(tmp_path, files)
    patch = build_patch([FileEdit(file_path=p, original="x", replacement="y") for p in files], repo)
    assert [v.code for v in check_patch(patch, repo, PolicyConfig(max_files=3))] == ["too_many_files"]
    assert check_patch(patch, repo, PolicyConfig(max_files=4)) == []


def test_too_large(tmp_path):
    repo = make_repo(tmp_path, {"a.py": "x = 1\n"})
    patch = build_patch([FileEdit(file_path="a.py", original="", replacement="y = 2\n" * 200)], repo)
    size = len(patch.diff.encode())
    assert [v.code for v in check_patch(patch, repo, PolicyConfig(max_patch_bytes=size - 1))] == ["too_large"]
    assert check_patch(patch, repo, PolicyConfig(max_patch_bytes=size)) == []


def test_line_too_long(tmp_path):
    repo = make_repo(tmp_path, {"a.py": "x = 1\n"})
    patch = build_patch(
        [FileEdit(file_path="a.py", original="x = 1", replacement="x = '" + "a" * 120 + "'")], repo
    )
    violations = check_patch(patch, repo, PolicyConfig(max_line_length=100))
    assert [v.code for v in violations] == ["line_too_long"]
    assert "100" in violations[0].message
    assert check_patch(patch, repo, PolicyConfig(max_line_length=200)) == []


def test_tampered_digest_is_a_violation(tmp_path):
    repo = make_repo(tmp_path, {"a.py": "x = 1\n"})
    patch = build_patch([FileEdit(file_path="a.py", original="x = 1", replacement="x = 2")], repo)
    forged = patch.model_copy(update={"diff": patch.diff.replace("+x = 2", "+x = 3")})
    assert [v.code for v in check_patch(forged, repo, PolicyConfig())] == ["invalid_diff"]


# ---------------------------------------------------------------------------------- cheats

PY_TEST = "import pytest\n\n\ndef test_total():\n    assert total([1, 2]) == 3\n\n\ndef test_empty():\n    assert total([]) == 0\n"
JS_TEST = "describe('sum', () => {\n  it('adds', () => {\n    expect(sum(1, 2)).toBe(3);\n  });\n});\n"
GO_TEST = 'package calc\n\nfunc TestAdd(t *testing.T) {\n\tif Add(1, 2) != 3 {\n\t\tt.Fatal("bad")\n\t}\n}\n'
JAVA_TEST = (
    "class CalcTest {\n    @Test\n    void adds() {\n        assertEquals(3, Calc.add(1, 2));\n    }\n}\n"
)
RUST_TEST = (
    "#[cfg(test)]\nmod tests {\n    #[test]\n    fn adds() {\n        assert_eq!(add(1, 2), 3);\n    }\n}\n"
)
UNITTEST = "class T(unittest.TestCase):\n    def test_a(self):\n        self.assertEqual(f(), 3)\n"
WORKFLOW = (
    "jobs:\n  test:\n    runs-on: ubuntu-latest\n    timeout-minutes: 10\n    steps:\n      - run: pytest\n"
)
PYPROJECT = (
    '[tool.coverage.report]\nfail_under = 90\n\n[tool.pytest.ini_options]\naddopts = "--cov-fail-under=90"\n'
)

CHEAT_CASES = {
    "pytest skip marker": (
        "tests/test_calc.py",
        PY_TEST,
        "def test_total():",
        "@pytest.mark.skip(reason='flaky')\ndef test_total():",
        "skip_test",
    ),
    "pytest skipif marker": (
        "tests/test_calc.py",
        PY_TEST,
        "def test_total():",
        "@pytest.mark.skipif(True, reason='x')\ndef test_total():",
        "skip_test",
    ),
    "pytest xfail marker": (
        "tests/test_calc.py",
        PY_TEST,
        "def test_total():",
        "@pytest.mark.xfail\ndef test_total():",
        "skip_test",
    ),
    "pytest.skip call": (
        "tests/test_calc.py",
        PY_TEST,
        "def test_total():\n",
        "def test_total():\n    pytest.skip('later')\n",
        "skip_test",
    ),
    "unittest skip": (
        "tests/test_u.py",
        UNITTEST,
        "    def test_a",
        "    @unittest.skip('broken')\n    def test_a",
        "skip_test",
    ),
    "jest it.skip": ("src/sum.test.js", JS_TEST, "  it('adds'", "  it.skip('adds'", "skip_test"),
    "jasmine xit": ("src/sum.test.js", JS_TEST, "  it('adds'", "  xit('adds'", "skip_test"),
    "describe.skip": ("src/sum.test.js", JS_TEST, "describe('sum'", "describe.skip('sum'", "skip_test"),
    "test.only hides other tests": (
        "src/sum.test.js",
        JS_TEST,
        "  it('adds'",
        "  it.only('adds'",
        "skip_test",
    ),
    "go t.Skip": ("calc_test.go", GO_TEST, "\tif Add", '\tt.Skip("flaky")\n\tif Add', "skip_test"),
    "rust ignore": ("src/lib.rs", RUST_TEST, "    #[test]\n", "    #[test]\n    #[ignore]\n", "skip_test"),
    "junit Ignore": (
        "src/test/CalcTest.java",
        JAVA_TEST,
        "    @Test\n",
        "    @Test\n    @Ignore\n",
        "skip_test",
    ),
    "junit5 Disabled": (
        "src/test/CalcTest.java",
        JAVA_TEST,
        "    @Test\n",
        '    @Test\n    @Disabled("later")\n',
        "skip_test",
    ),
    "deleted python test": (
        "tests/test_calc.py",
        PY_TEST,
        "\n\ndef test_empty():\n    assert total([]) == 0\n",
        "",
        "delete_test",
    ),
    "deleted js test": (
        "src/sum.test.js",
        JS_TEST,
        "  it('adds', () => {\n    expect(sum(1, 2)).toBe(3);\n  });\n",
        "",
        "delete_test",
    ),
    "deleted go test": (
        "calc_test.go",
        GO_TEST,
        'func TestAdd(t *testing.T) {\n\tif Add(1, 2) != 3 {\n\t\tt.Fatal("bad")\n\t}\n}\n',
        "",
        "delete_test",
    ),
    "deleted junit test": (
        "src/test/CalcTest.java",
        JAVA_TEST,
        "    @Test\n    void adds() {\n        assertEquals(3, Calc.add(1, 2));\n    }\n",
        "",
        "delete_test",
    ),
    "emptied test file": ("tests/test_calc.py", PY_TEST, PY_TEST, "", "delete_test"),
    "removed assert": (
        "tests/test_calc.py",
        PY_TEST,
        "    assert total([]) == 0\n",
        "    total([])\n",
        "weaken_assertion",
    ),
    "assertEqual to assertTrue(True)": (
        "tests/test_u.py",
        UNITTEST,
        "self.assertEqual(f(), 3)",
        "self.assertTrue(True)",
        "weaken_assertion",
    ),
    "expect removed": (
        "src/sum.test.js",
        JS_TEST,
        "    expect(sum(1, 2)).toBe(3);\n",
        "    sum(1, 2);\n",
        "weaken_assertion",
    ),
    "rust assert removed": (
        "src/lib.rs",
        RUST_TEST,
        "        assert_eq!(add(1, 2), 3);\n",
        "        add(1, 2);\n",
        "weaken_assertion",
    ),
    "continue-on-error": (
        ".github/workflows/ci.yml",
        WORKFLOW,
        "      - run: pytest\n",
        "      - run: pytest\n        continue-on-error: true\n",
        "continue_on_error",
    ),
    "|| true in workflow": (
        ".github/workflows/ci.yml",
        WORKFLOW,
        "run: pytest",
        "run: pytest || true",
        "continue_on_error",
    ),
    "|| true in Makefile": (
        "Makefile",
        "test:\n\tpytest -q\n",
        "\tpytest -q",
        "\tpytest -q || true",
        "continue_on_error",
    ),
    "|| true in package.json": (
        "package.json",
        '{"scripts": {"test": "jest"}}\n',
        '"jest"',
        '"jest || true"',
        "continue_on_error",
    ),
    "noqa": ("src/app.py", "import os\n", "import os", "import os  # noqa: F401", "lint_disable"),
    "type ignore": (
        "src/app.py",
        "x: int = f()\n",
        "x: int = f()",
        "x: int = f()  # type: ignore",
        "lint_disable",
    ),
    "eslint-disable": (
        "src/a.js",
        "const x = 1;\n",
        "const x = 1;",
        "// eslint-disable-next-line no-unused-vars\nconst x = 1;",
        "lint_disable",
    ),
    "nolint": ("main.go", "x := f()\n", "x := f()", "x := f() // nolint", "lint_disable"),
    "pylint disable": (
        "src/app.py",
        "def f(a, b, c):\n",
        "def f(a, b, c):",
        "def f(a, b, c):  # pylint: disable=too-many-arguments",
        "lint_disable",
    ),
    "SuppressWarnings": (
        "src/main/A.java",
        "class A {}\n",
        "class A {}",
        '@SuppressWarnings("unchecked")\nclass A {}',
        "lint_disable",
    ),
    "rust allow": (
        "src/lib.rs",
        "fn f() {}\n",
        "fn f() {}",
        "#[allow(dead_code)]\nfn f() {}",
        "lint_disable",
    ),
    "ruff ignore list in pyproject": (
        "pyproject.toml",
        '[tool.ruff.lint]\nselect = ["E"]\n',
        'select = ["E"]\n',
        'select = ["E"]\nignore = ["E501"]\n',
        "lint_disable",
    ),
    "fail_under lowered": (
        "pyproject.toml",
        PYPROJECT,
        "fail_under = 90",
        "fail_under = 80",
        "loosen_threshold",
    ),
    "--cov-fail-under lowered": (
        "pyproject.toml",
        PYPROJECT,
        "--cov-fail-under=90",
        "--cov-fail-under=50",
        "loosen_threshold",
    ),
    "rel_tol raised": (
        "tests/test_calc.py",
        "assert math.isclose(a, b, rel_tol=1e-9)\n",
        "rel_tol=1e-9",
        "rel_tol=1e-3",
        "loosen_threshold",
    ),
    "abs_tol raised": (
        "tests/test_calc.py",
        "assert math.isclose(a, b, abs_tol=0.001)\n",
        "abs_tol=0.001",
        "abs_tol=0.5",
        "loosen_threshold",
    ),
    "delta raised": (
        "tests/test_u.py",
        "self.assertAlmostEqual(a, b, delta=0.01)\n",
        "delta=0.01",
        "delta=1",
        "loosen_threshold",
    ),
    "approx tolerance added": (
        "tests/test_calc.py",
        "assert area() == 3.14159\n",
        "3.14159",
        "pytest.approx(3.14159, rel=0.1)",
        "loosen_threshold",
    ),
    "maxWarnings raised": (
        "package.json",
        '{"scripts": {"lint": "eslint --max-warnings 0 ."}}\n',
        "--max-warnings 0",
        "--max-warnings 50",
        "loosen_threshold",
    ),
    "coverage minimum removed": (
        "pyproject.toml",
        PYPROJECT,
        'addopts = "--cov-fail-under=90"',
        'addopts = ""',
        "loosen_threshold",
    ),
    "timeout-minutes only": (
        ".github/workflows/ci.yml",
        WORKFLOW,
        "timeout-minutes: 10",
        "timeout-minutes: 60",
        "timeout_only",
    ),
    "pytest timeout marker only": (
        "tests/test_slow.py",
        "@pytest.mark.timeout(60)\ndef test_slow():\n    run()\n",
        "timeout(60)",
        "timeout(600)",
        "timeout_only",
    ),
}


@pytest.mark.parametrize("path,old,original,replacement,code", CHEAT_CASES.values(), ids=CHEAT_CASES.keys())
def test_cheat_is_detected_with_path_and_line(tmp_path, path, old, original, replacement, code):
    patch = patch_of(tmp_path, path, old, original, replacement)
    cheats = detect_cheats(patch)
    codes = {c.code for c in cheats}
    assert code in codes, cheats
    hit = next(c for c in cheats if c.code == code)
    assert hit.path == path
    assert hit.line and hit.message
    lines = {line.strip() for f in patch.files for line in (*f.added, *f.removed)}
    assert hit.line in lines or hit.line == "(whole file)"


HONEST_CASES = {
    "real source fix": ("src/calc.py", "def total(xs):\n    return sum(xs) + 1\n", "sum(xs) + 1", "sum(xs)"),
    "new test added": (
        "tests/test_calc.py",
        PY_TEST,
        "",
        "\n\ndef test_one():\n    assert total([1]) == 1\n",
    ),
    "expected value corrected": (
        "tests/test_calc.py",
        PY_TEST,
        "assert total([1, 2]) == 3",
        "assert total([1, 2]) == 4",
    ),
    "test renamed keeps its assertion": (
        "tests/test_calc.py",
        PY_TEST,
        "def test_empty():",
        "def test_empty_list():",
    ),
    "js default with || true in source": (
        "src/opts.js",
        "const on = opts.on;\n",
        "opts.on",
        "opts.on || true",
    ),
    "timeout lowered": (".github/workflows/ci.yml", WORKFLOW, "timeout-minutes: 10", "timeout-minutes: 5"),
    "coverage minimum raised": ("pyproject.toml", PYPROJECT, "fail_under = 90", "fail_under = 95"),
    "tolerance tightened": (
        "tests/test_calc.py",
        "assert math.isclose(a, b, rel_tol=1e-3)\n",
        "rel_tol=1e-3",
        "rel_tol=1e-9",
    ),
    "python variable named ignore": ("src/app.py", "x = 1\n", "x = 1", "x = 1\nignore = set()"),
    "dependency pin": ("requirements.txt", "requests==2.31.0\n", "", "pandas==2.2.1\n"),
    "timeout raised together with a code fix": (
        "src/net.py",
        "TIMEOUT = 5\nURL = 'http://old'\n",
        "TIMEOUT = 5\nURL = 'http://old'",
        "TIMEOUT = 10\nURL = 'https://new'",
    ),
    "test moved within file": (
        "tests/test_calc.py",
        PY_TEST,
        "\n\ndef test_empty():\n    assert total([]) == 0\n",
        None,
    ),
}


@pytest.mark.parametrize("path,old,original,replacement", HONEST_CASES.values(), ids=HONEST_CASES.keys())
def test_honest_fix_is_not_a_cheat(tmp_path, path, old, original, replacement):
    if replacement is None:  # move: delete the test and add it back at the top
        repo = make_repo(tmp_path, {path: old})
        edits = [
            FileEdit(file_path=path, original=original, replacement=""),
            FileEdit(
                file_path=path,
                original="import pytest\n",
                replacement="import pytest\n\n\ndef test_empty():\n    assert total([]) == 0\n",
            ),
        ]
        patch = build_patch(edits, repo)
    else:
        patch = patch_of(tmp_path, path, old, original, replacement)
    assert detect_cheats(patch) == []


def test_cheats_are_capped_per_file(tmp_path):
    old = "".join(f"def test_{i}():\n    assert f({i})\n" for i in range(30))
    patch = patch_of(tmp_path, "tests/test_many.py", old, old, "")
    cheats = detect_cheats(patch)
    per = {}
    for c in cheats:
        per[c.code] = per.get(c.code, 0) + 1
    assert per["delete_test"] == 10 and per["weaken_assertion"] == 10


def _corpus() -> Path:
    return Path(
        os.environ.get("CI_HEALER_CORPUS") or Path(__file__).resolve().parents[1].parent / "shared" / "corpus"
    )


_TEST_FILE = re.compile(r"(?:^|/)(?:tests?|it|spec)/|Tests?\.\w+$|_test\.\w+$|(?:^|/)test_")


def test_real_developer_fixes_are_rarely_flagged_and_only_in_test_files():
    """BugSwarm fail→pass fixes are written by developers; flagged ones must touch tests."""
    folder = _corpus() / "bugswarm_dissection"
    if not folder.is_dir():
        corpus_missing("bugswarm_dissection")
    total = flagged = 0
    for fix in sorted(folder.glob("*/fix.diff")):
        files = []
        for pf in PatchSet(split_lines(fix.read_bytes().decode("utf-8", "replace"))):
            added = [ln.value.rstrip("\r\n") for h in pf for ln in h if ln.is_added]
            removed = [ln.value.rstrip("\r\n") for h in pf for ln in h if ln.is_removed]
            files.append(FileChange(path=pf.path, old_text="", new_text="", added=added, removed=removed))
        cheats = detect_cheats(Patch(diff="", digest="", files=files))
        total += 1
        flagged += bool(cheats)
        for cheat in cheats:
            assert _TEST_FILE.search(cheat.path), (fix.parent.name, cheat)
    assert total >= 50
    assert flagged / total < 0.10, f"{flagged}/{total} real fixes flagged"


# ------------------------------------------------------------------------ changed assertions

SPAM_TEST = (
    "import pytest\n"
    "\n"
    "from spam import SpamFilter\n"
    "\n"
    "\n"
    "@pytest.mark.parametrize(('text', 'is_spam'), [('buy now', True), ('hello', False)])\n"
    "def test_is_spam(text, is_spam):\n"
    "    match = SpamFilter(['buy']).is_spam(text)\n"
    "    assert match == is_spam\n"
    "\n"
    "\n"
    "def test_score():\n"
    "    assert SpamFilter(['a']).score('a a') == 2\n"
    "    assert abs(SpamFilter(['a']).score('a') - 1.0) < 1e-9\n"
)
# What pytest printed for the failing test (shape of a real pytest short summary).
SPAM_FAILURE = [
    Block(
        start_line=40,
        end_line=44,
        reason="pytest-failure",
        text=(
            "    def test_is_spam(text, is_spam):\n"
            "        match = SpamFilter(['buy']).is_spam(text)\n"
            ">       assert match == is_spam\n"
            "E       assert False == True\n"
            "FAILED tests/test_spam.py::test_is_spam[buy now-True] - assert False == True"
        ),
    )
]

CHANGED_ASSERTIONS = {
    "operator flipped": (
        "    assert match == is_spam\n",
        "    assert match != is_spam\n",
        "changes the comparison (== → !=)",
    ),
    "comparison replaced by True": ("    assert match == is_spam\n", "    assert True\n", "always true"),
    "or True appended": (
        "    assert match == is_spam\n",
        "    assert match == is_spam or True\n",
        "always true",
    ),
    "expected value changed": (
        "    assert SpamFilter(['a']).score('a a') == 2\n",
        "    assert SpamFilter(['a']).score('a a') == 1\n",
        "changes the expected value (2 → 1)",
    ),
    "tolerance widened": ("- 1.0) < 1e-9\n", "- 1.0) < 0.5\n", "changes the expected value (1e-9 → 0.5)"),
    "assertEqual turned into assertNotEqual": (
        "    assert match == is_spam\n",
        "    self.assertNotEqual(match, is_spam)\n",
        "changes the assertion",
    ),
}


@pytest.mark.parametrize(
    "original,replacement,why", CHANGED_ASSERTIONS.values(), ids=CHANGED_ASSERTIONS.keys()
)
def test_a_changed_assertion_of_the_failing_test_is_a_cheat(tmp_path, original, replacement, why):
    patch = patch_of(tmp_path, "tests/test_spam.py", SPAM_TEST, original, replacement)
    cheats = [
        c
        for c in detect_cheats(patch, blocks=SPAM_FAILURE)
        if c.code in ("change_assertion", "weaken_assertion")
    ]
    assert cheats, "the rewritten assertion was not flagged"
    assert any(why in c.message for c in cheats), [c.message for c in cheats]
    changed = [c for c in cheats if c.code == "change_assertion"]
    if changed:
        assert "→" in changed[0].line and changed[0].path == "tests/test_spam.py"


def test_operator_flip_is_named_with_its_test(tmp_path):
    patch = patch_of(
        tmp_path, "tests/test_spam.py", SPAM_TEST, "assert match == is_spam", "assert match != is_spam"
    )
    (cheat,) = [c for c in detect_cheats(patch, blocks=SPAM_FAILURE) if c.code == "change_assertion"]
    assert (
        cheat.message
        == "tests/test_spam.py: changes the comparison (== → !=) in the failing test test_is_spam"
    )
    assert cheat.line == "assert match == is_spam → assert match != is_spam"


@pytest.mark.parametrize(
    "blocks",
    [
        None,  # callers that do not know the failure (the apply step) keep the old rules
        [
            Block(
                start_line=1,
                end_line=1,
                reason="x",
                text="FAILED tests/test_other.py::test_other - assert 1 == 2",
            )
        ],
    ],
    ids=["no failure given", "failure names another test"],
)
def test_a_changed_assertion_outside_the_failing_test_is_not_flagged(tmp_path, blocks):
    patch = patch_of(
        tmp_path, "tests/test_spam.py", SPAM_TEST, "assert match == is_spam", "assert match != is_spam"
    )
    assert [c.code for c in detect_cheats(patch, blocks=blocks)] == []


def test_a_reformatted_or_recommented_assertion_is_not_a_cheat(tmp_path):
    patch = patch_of(
        tmp_path,
        "tests/test_spam.py",
        SPAM_TEST,
        "    assert match == is_spam\n",
        "    assert match == is_spam  # spam words\n",
    )
    assert detect_cheats(patch, blocks=SPAM_FAILURE) == []


def test_fixing_the_code_under_test_is_not_a_changed_assertion(tmp_path):
    repo = make_repo(
        tmp_path,
        {"tests/test_spam.py": SPAM_TEST, "spam.py": "def is_spam(t):\n    return 'buy' in t.upper()\n"},
    )
    patch = build_patch([FileEdit(file_path="spam.py", original="t.upper()", replacement="t.lower()")], repo)
    assert detect_cheats(patch, blocks=SPAM_FAILURE) == []


def _hunk_texts(fix: Path) -> list[FileChange]:
    """Old and new text of each file of a fix diff as far as its hunks show them (context kept)."""
    files = []
    for pf in PatchSet(split_lines(fix.read_bytes().decode("utf-8", "replace"))):
        old: list[str] = []
        new: list[str] = []
        for hunk in pf:
            for ln in hunk:
                if ln.is_context or ln.is_removed:
                    old.append(ln.value)
                if ln.is_context or ln.is_added:
                    new.append(ln.value)
        files.append(FileChange(path=pf.path, old_text="".join(old), new_text="".join(new)))
    return files


@pytest.mark.slow
def test_real_fixes_change_assertions_of_the_failing_test_rarely_and_only_in_tests():
    """BugSwarm fail→pass fixes against their own failure blocks: developers do update expected
    values (5 of 90 fixes, measured), always in a test file; a human must judge those (high)."""
    from ci_healer.extract import extract

    folder = _corpus() / "bugswarm_dissection"
    if not folder.is_dir():
        corpus_missing("bugswarm_dissection")
    total = flagged = 0
    for fix in sorted(folder.glob("*/fix.diff")):
        blocks = extract((fix.parent / "log.txt").read_bytes(), max_tokens=1500).blocks
        cheats = [
            c
            for c in detect_cheats(Patch(diff="", digest="", files=_hunk_texts(fix)), blocks=blocks)
            if c.code == "change_assertion"
        ]
        total += 1
        flagged += bool(cheats)
        for cheat in cheats:
            assert _TEST_FILE.search(cheat.path), (fix.parent.name, cheat)
            assert "→" in cheat.line
    assert total >= 50
    assert flagged / total < 0.10, f"{flagged}/{total} real fixes flagged"
