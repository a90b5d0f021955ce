"""The offline rules backend: certain patches for missing Python modules, root causes for the rest."""

from __future__ import annotations

import json
import os
import re
import tomllib
from pathlib import Path

import pytest

from ci_healer.backends.rules import RulesBackend, minimal_edit
from ci_healer.models import Block, Category, Classification, Proposal, ProposalRequest
from ci_healer.pypi_names import IMPORT_TO_DISTRIBUTIONS, distribution_candidates, is_known, normalise
from ci_healer.repo import LocalRepo

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "missing-dependency"
CORPUS = Path(os.environ.get("CI_HEALER_CORPUS") or ROOT.parent / "shared" / "corpus")


class MemoryRepo:
    """RepoSource over a dict of path → text."""

    def __init__(self, files: dict[str, str], name: str = "demo") -> None:
        self.files = files
        self.name = name

    def read_text(self, path: str) -> str | None:
        return self.files.get(path)

    def entry(self, path: str):  # pragma: no cover - not used by the backend
        return None

    def list_paths(self) -> list[str]:
        return sorted(self.files)


def request(text: str, category: Category = Category.TEST, **extra) -> ProposalRequest:
    blocks = [Block(start_line=1, end_line=text.count("\n") + 1, reason="test", text=text)]
    return ProposalRequest(
        repository="acme/demo",
        blocks=blocks,
        classification=Classification(category=category, fingerprint="0" * 16),
        **extra,
    )


def apply(files: dict[str, str], proposal: Proposal) -> dict[str, str]:
    """Apply search/replace edits the way the product contract says: ``original`` exactly once."""
    out = dict(files)
    for edit in proposal.files_to_modify:
        text = out[edit.file_path]
        if edit.original:
            assert text.count(edit.original) == 1, (edit.original, text)
            out[edit.file_path] = text.replace(edit.original, edit.replacement, 1)
        else:
            out[edit.file_path] = text + edit.replacement
    return out


def traceback_for(module: str, importer: str = "src/acme/loader.py") -> str:
    return "\n".join(
        [
            "Traceback (most recent call last):",
            f'  File "/home/runner/work/demo/demo/{importer}", line 3, in <module>',
            f"    import {module}",
            f"ModuleNotFoundError: No module named '{module}'",
        ]
    )


BASE = {
    "src/acme/__init__.py": "",
    "src/acme/loader.py": "import os\n\nimport yaml\n",
    "tests/test_loader.py": "import acme.loader\n",
}


# --- the bundled example ---------------------------------------------------------------------


def example_blocks() -> list[Block]:
    log = (EXAMPLE / "job.log").read_text(encoding="utf-8")
    try:
        from ci_healer.extract import extract
    except ImportError:  # extraction not available: a stand-in block of the last 50 lines
        lines = log.split("\n")
        return [
            Block(start_line=len(lines) - 50, end_line=len(lines), reason="tail", text="\n".join(lines[-50:]))
        ]
    return extract((EXAMPLE / "job.log").read_bytes()).blocks


def test_example_log_is_in_github_job_log_format() -> None:
    lines = (EXAMPLE / "job.log").read_text(encoding="utf-8").rstrip("\n").split("\n")
    stamp = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z ")
    assert all(stamp.match(line) for line in lines)
    bodies = [stamp.sub("", line) for line in lines]
    assert "##[group]Run actions/checkout@v4" in bodies
    assert "##[group]Run actions/setup-python@v5" in bodies
    assert any(b.startswith("\x1b[36;1mpip install -r requirements.txt") for b in bodies)
    assert "E   ModuleNotFoundError: No module named 'yaml'" in bodies
    assert "##[error]Process completed with exit code 2." in bodies
    stamps = [line[:28] for line in lines]
    assert stamps == sorted(stamps)


def test_example_produces_a_pyyaml_patch_that_applies() -> None:
    repo = LocalRepo(EXAMPLE / "repo")
    blocks = example_blocks()
    proposal = RulesBackend(repo).propose(
        ProposalRequest(
            repository="acme-tools/tidyconf",
            blocks=blocks,
            classification=Classification(category=Category.TEST, fingerprint="0" * 16),
        )
    )
    assert proposal.category == Category.DEPENDENCY
    assert proposal.confidence >= 0.8
    assert "`yaml`" in proposal.root_cause and "PyYAML" in proposal.root_cause
    [edit] = proposal.files_to_modify
    assert edit.file_path == "requirements.txt"
    old = repo.read_text("requirements.txt")
    assert old is not None and old.count(edit.original) == 1
    new = old.replace(edit.original, edit.replacement, 1)
    assert [line for line in new.splitlines() if line and not line.startswith("#")] == [
        "click>=8.1,<9",
        "platformdirs>=4.0",
        "PyYAML",
        "rich>=13.7",
    ]
    try:
        from ci_healer.patch import build_patch
    except ImportError:
        return
    patch = build_patch(proposal.files_to_modify, repo)
    assert "+PyYAML" in patch.diff.splitlines()
    assert patch.changed_lines == 1


# --- import name → distribution --------------------------------------------------------------


@pytest.mark.parametrize(
    "module, dist",
    [
        ("yaml", "PyYAML"),
        ("cv2", "opencv-python"),
        ("sklearn.linear_model", "scikit-learn"),
        ("PIL.Image", "Pillow"),
        ("bs4", "beautifulsoup4"),
        ("dateutil.parser", "python-dateutil"),
        ("dotenv", "python-dotenv"),
        ("jwt", "PyJWT"),
        ("Crypto.Cipher", "pycryptodome"),
        ("google.protobuf.json_format", "protobuf"),
        ("attr", "attrs"),
        ("magic", "python-magic"),
        ("serial.tools", "pyserial"),
        ("usb.core", "pyusb"),
        ("OpenSSL", "pyOpenSSL"),
        ("skimage", "scikit-image"),
        ("git", "GitPython"),
        ("docx", "python-docx"),
        ("requests.adapters", "requests"),
        ("somethingunmapped", "somethingunmapped"),
    ],
)
def test_import_name_map(module: str, dist: str) -> None:
    assert distribution_candidates(module)[0] == dist


def test_map_is_large_and_well_formed() -> None:
    assert len(IMPORT_TO_DISTRIBUTIONS) >= 40
    differing = [k for k, v in IMPORT_TO_DISTRIBUTIONS.items() if normalise(v[0]) != normalise(k)]
    assert len(differing) >= 40
    assert all(v and all(isinstance(d, str) and d for d in v) for v in IMPORT_TO_DISTRIBUTIONS.values())
    assert is_known("yaml") and is_known("requests") and not is_known("somethingunmapped")


@pytest.mark.parametrize("module", ["yaml", "cv2.typing", "sklearn"])
def test_patch_adds_the_mapped_distribution(module: str) -> None:
    files = {**BASE, "requirements.txt": "click\n"}
    proposal = RulesBackend(MemoryRepo(files)).propose(request(traceback_for(module)))
    after = apply(files, proposal)
    assert distribution_candidates(module)[0] in after["requirements.txt"].splitlines()
    assert module.split(".")[0] not in after["requirements.txt"].splitlines()


# --- refusals --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "module, words",
    [
        ("acme.plugins", "project's own package"),
        ("json", "standard-library"),
        ("_ctypes", "standard-library"),
        ("distutils.core", "removed from the standard library in Python 3.12"),
        ("telnetlib", "Python 3.13"),
        ("urllib2", "Python 2"),
        ("google", "namespace"),
        ("_speedups", "private extension"),
    ],
)
def test_refuses_modules_that_are_not_dependencies(module: str, words: str) -> None:
    files = {**BASE, "requirements.txt": "click\n"}
    proposal = RulesBackend(MemoryRepo(files)).propose(request(traceback_for(module)))
    assert proposal.files_to_modify == []
    assert words in proposal.root_cause
    assert f"`{module}`" in proposal.root_cause


def test_own_package_from_request_is_refused_without_repo() -> None:
    proposal = RulesBackend(None).propose(request(traceback_for("acme.loader"), project_packages=["acme"]))
    assert proposal.files_to_modify == [] and "own package" in proposal.root_cause


@pytest.mark.parametrize(
    "manifest, text, module",
    [
        ("requirements.txt", "pyyaml>=6\n", "yaml"),
        ("requirements-dev.txt", "-r requirements.txt\nPyYAML==6.0.2  # config\n", "yaml"),
        (
            "pyproject.toml",
            '[project]\nname = "acme"\n[project.optional-dependencies]\ntest = ["PyYAML"]\n',
            "yaml",
        ),
        ("pyproject.toml", '[project]\nname = "acme"\n[dependency-groups]\ndev = ["pyyaml"]\n', "yaml"),
        ("pyproject.toml", '[tool.poetry.dependencies]\npython = "^3.11"\nPyYAML = "^6"\n', "yaml"),
        ("setup.py", "setup(install_requires=['PyYAML>=5', 'click'])\n", "yaml"),
        ("requirements.txt", "opencv-python-headless==4.10.0.84\n", "cv2"),
    ],
)
def test_declared_but_not_installed(manifest: str, text: str, module: str) -> None:
    files = {**BASE, manifest: text}
    proposal = RulesBackend(MemoryRepo(files)).propose(request(traceback_for(module)))
    assert proposal.files_to_modify == []
    assert "declared but not installed" in proposal.root_cause
    assert manifest in proposal.root_cause


def test_no_repository_means_no_patch() -> None:
    proposal = RulesBackend(None).propose(request(traceback_for("yaml")))
    assert proposal.files_to_modify == [] and "PyYAML" in proposal.root_cause


def test_no_editable_manifest_means_no_patch() -> None:
    files = {**BASE, "setup.py": "from setuptools import setup\nsetup(name='acme')\n"}
    proposal = RulesBackend(MemoryRepo(files)).propose(request(traceback_for("yaml")))
    assert proposal.files_to_modify == [] and "PyYAML" in proposal.root_cause


# --- which manifest ---------------------------------------------------------------------------

PYPROJECT_MULTILINE = """[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[project]
name = "acme"
classifiers = [
    "Programming Language :: Python :: 3",
]
dependencies = [
    "click>=8",  # command line
    "requests[socks]>=2.31"
]

[tool.ruff]
line-length = 100
"""


@pytest.mark.parametrize(
    "files, importer, target, section",
    [
        ({"requirements.txt": "click\n"}, "src/acme/loader.py", "requirements.txt", None),
        (
            {
                "requirements.txt": "click\n",
                "pyproject.toml": '[project]\nname = "acme"\ndependencies = ["click"]\n',
            },
            "src/acme/loader.py",
            "requirements.txt",
            None,
        ),
        (
            {"pyproject.toml": PYPROJECT_MULTILINE},
            "src/acme/loader.py",
            "pyproject.toml",
            ("project", "dependencies"),
        ),
        (
            {"pyproject.toml": '[project]\nname = "acme"\ndependencies = []\n'},
            "src/acme/loader.py",
            "pyproject.toml",
            ("project", "dependencies"),
        ),
        (
            {"pyproject.toml": "[project]\nname = 'acme'\ndependencies = ['click', 'rich']\n"},
            "src/acme/loader.py",
            "pyproject.toml",
            ("project", "dependencies"),
        ),
        (
            {"pyproject.toml": '[project]\nname = "acme"\nversion = "1"\n\n[tool.x]\na = 1\n'},
            "src/acme/loader.py",
            "pyproject.toml",
            ("project", "dependencies"),
        ),
        (
            {"requirements.txt": "click\n", "requirements-dev.txt": "pytest\n"},
            "tests/test_loader.py",
            "requirements-dev.txt",
            None,
        ),
        (
            {"requirements.txt": "click\n", "requirements-dev.txt": "pytest\n"},
            "src/acme/loader.py",
            "requirements.txt",
            None,
        ),
        (
            {
                "pyproject.toml": '[project]\nname = "acme"\ndependencies = ["click"]\n\n[project.optional-dependencies]\ntest = [\n  "pytest",\n]\n'
            },
            "tests/test_loader.py",
            "pyproject.toml",
            ("project", "optional-dependencies", "test"),
        ),
        (
            {
                "pyproject.toml": '[project]\nname = "acme"\ndynamic = ["dependencies"]\n\n[tool.setuptools.dynamic]\ndependencies = {file = ["deps/runtime.txt"]}\n',
                "deps/runtime.txt": "click\n",
            },
            "src/acme/loader.py",
            "deps/runtime.txt",
            None,
        ),
        ({"requirements/base.txt": "click\n"}, "src/acme/loader.py", "requirements/base.txt", None),
    ],
)
def test_manifest_choice_and_edit(
    files: dict[str, str], importer: str, target: str, section: tuple[str, ...] | None
) -> None:
    files = {**BASE, **files}
    proposal = RulesBackend(MemoryRepo(files)).propose(request(traceback_for("yaml", importer)))
    assert [e.file_path for e in proposal.files_to_modify] == [target]
    after = apply(files, proposal)
    if section is None:
        assert "PyYAML" in after[target].splitlines()
    else:
        before_data, after_data = tomllib.loads(files[target]), tomllib.loads(after[target])
        value = after_data
        for key in section:
            value = value[key]
        assert "PyYAML" in value
        value.remove("PyYAML")
        if (
            value == []
            and section == ("project", "dependencies")
            and "dependencies" not in before_data["project"]
        ):
            del after_data["project"]["dependencies"]
        assert after_data == before_data  # nothing else changed
    unchanged = {k: v for k, v in files.items() if k != target}
    assert {k: after[k] for k in unchanged} == unchanged


def test_multiline_pyproject_keeps_formatting() -> None:
    files = {**BASE, "pyproject.toml": PYPROJECT_MULTILINE}
    proposal = RulesBackend(MemoryRepo(files)).propose(request(traceback_for("yaml")))
    after = apply(files, proposal)["pyproject.toml"]
    assert '    "click>=8",  # command line\n    "PyYAML",\n    "requests[socks]>=2.31"\n]' in after
    assert after.count("\n") == PYPROJECT_MULTILINE.count("\n") + 1


def test_requirements_file_named_in_the_block_wins() -> None:
    files = {**BASE, "requirements.txt": "click\n", "ci/requirements-ci.txt": "pytest\n"}
    text = "+ pip install -r ci/requirements-ci.txt\n" + traceback_for("yaml")
    proposal = RulesBackend(MemoryRepo(files)).propose(request(text))
    assert [e.file_path for e in proposal.files_to_modify] == ["ci/requirements-ci.txt"]


@pytest.mark.parametrize(
    "line",
    [
        "ImportError: No module named yaml",
        "ImportError: No module named 'yaml'",
        "E   ModuleNotFoundError: No module named 'yaml'",
        "2025-03-18T14:02:17.8321978Z E   ModuleNotFoundError: No module named 'yaml.constructor'",
    ],
)
def test_missing_module_message_variants(line: str) -> None:
    files = {**BASE, "requirements.txt": "click\n"}
    proposal = RulesBackend(MemoryRepo(files)).propose(request(line))
    assert "PyYAML" in apply(files, proposal)["requirements.txt"].splitlines()


def test_unmapped_module_gets_no_guessed_dependency() -> None:
    """A module name ci-healer cannot map to a distribution is never guessed (dependency confusion)."""
    files = {**BASE, "requirements.txt": "click\n"}
    proposal = RulesBackend(MemoryRepo(files)).propose(request(traceback_for("frobnicate")))
    assert proposal.files_to_modify == []
    assert "frobnicate" in proposal.root_cause and "no patch" in proposal.root_cause


@pytest.mark.parametrize(
    "old, new",
    [
        ("a\nb\nc\n", "a\nb\nX\nc\n"),
        ("a\n", "X\na\n"),
        ("a\nb", "a\nb\nX\n"),
        ("dup\ndup\n", "dup\ndup\nX\n"),
        ("x\r\ny\r\n", "x\r\nX\r\ny\r\n"),
        ("", "X\n"),
    ],
)
def test_minimal_edit_is_unique_and_exact(old: str, new: str) -> None:
    original, replacement = minimal_edit(old, new)
    assert original == "" or old.count(original) == 1
    assert (old.replace(original, replacement, 1) if original else old + replacement) == new


def test_minimal_edit_of_equal_texts_is_none() -> None:
    assert minimal_edit("a\n", "a\n") is None


# --- other recognised failures -----------------------------------------------------------------


@pytest.mark.parametrize(
    "text, category, words",
    [
        (
            "Error: Cannot find module 'express'\nRequire stack:\n- /home/runner/work/w/w/src/app.js",
            Category.DEPENDENCY,
            "`express`",
        ),
        ("Error: Cannot find module '@babel/core/lib/x'", Category.DEPENDENCY, "`@babel/core`"),
        ("Error: Cannot find module './dist/index.js'", Category.TEST, "file module"),
        (
            "ERROR: Could not find a version that satisfies the requirement torch==9.9.9",
            Category.DEPENDENCY,
            "`torch==9.9.9`",
        ),
        ("E       fixture 'mocker' not found", Category.TEST, "`mocker`"),
        (
            "main.go:4:2: no required module provides package github.com/x/y; to add it:",
            Category.DEPENDENCY,
            "github.com/x/y",
        ),
        (
            "/home/runner/work/_temp/abc.sh: line 2: poetry: command not found",
            Category.CONFIGURATION,
            "`poetry`",
        ),
    ],
)
def test_known_failures_get_a_specific_root_cause_without_patch(
    text: str, category: Category, words: str
) -> None:
    files = {**BASE, "package.json": "{}\n"}
    proposal = RulesBackend(MemoryRepo(files)).propose(request(text))
    assert proposal.files_to_modify == []
    assert proposal.category == category
    assert words in proposal.root_cause


def test_generic_root_cause_names_error_test_and_location() -> None:
    text = "\n".join(
        [
            "___________________________ test_total ___________________________",
            "    def test_total():",
            ">       assert total([1, 2]) == 4",
            "E       assert 3 == 4",
            "tests/test_loader.py:3: AssertionError",
            "FAILED tests/test_loader.py::test_total - assert 3 == 4",
        ]
    )
    proposal = RulesBackend(MemoryRepo(BASE)).propose(request(text, Category.TEST))
    assert proposal.category == Category.TEST and proposal.files_to_modify == []
    assert "`tests/test_loader.py::test_total`" in proposal.root_cause
    assert "`tests/test_loader.py:3`" in proposal.root_cause
    assert "E assert 3 == 4" in proposal.root_cause
    assert proposal.confidence <= 0.35


@pytest.mark.parametrize("category", list(Category))
def test_every_category_gets_a_root_cause(category: Category) -> None:
    proposal = RulesBackend(None).propose(request("some output\nmake: *** [all] Error 2", category))
    assert proposal.category == category and proposal.root_cause and proposal.files_to_modify == []


def test_empty_block_text_still_gives_a_root_cause() -> None:
    proposal = RulesBackend(None).propose(request("", Category.UNKNOWN))
    assert proposal.root_cause and proposal.confidence <= 0.2


# --- real corpus logs ------------------------------------------------------------------------


def corpus_sample(step: int = 7) -> list[dict]:
    index = CORPUS / "INDEX.jsonl"
    if not index.is_file():
        return []
    rows = [json.loads(line) for line in index.read_text(encoding="utf-8").splitlines() if line.strip()]
    return rows[::step]


@pytest.mark.slow
@pytest.mark.skipif(not (CORPUS / "INDEX.jsonl").is_file(), reason="corpus not found: set CI_HEALER_CORPUS")
def test_corpus_logs_get_a_grounded_root_cause() -> None:
    try:
        from ci_healer.extract import extract
    except ImportError:
        extract = None
    rows = corpus_sample()
    assert len(rows) >= 50
    backend = RulesBackend(None)
    for row in rows:
        raw = (
            (CORPUS / row["path"]).read_bytes()
            if (CORPUS / row["path"]).is_file()
            else (CORPUS / row["source"] / row["case_id"] / "log.txt").read_bytes()
        )
        if extract is not None:
            blocks = extract(raw).blocks
        else:
            lines = raw.decode("utf-8", "replace").split("\n")
            blocks = [
                Block(
                    start_line=max(1, len(lines) - 49),
                    end_line=len(lines),
                    reason="tail",
                    text="\n".join(lines[-50:]),
                )
            ]
        req = ProposalRequest(
            repository=row.get("repository") or row["case_id"],
            blocks=blocks,
            classification=Classification(category=Category.TEST, fingerprint="0" * 16),
        )
        first, second = backend.propose(req), backend.propose(req)
        assert first == second, row["case_id"]  # deterministic
        assert first.root_cause.strip(), row["case_id"]
        assert first.files_to_modify == [], row["case_id"]  # no repository: never a patch
        quoted = re.findall(r"`([^`]+)`", first.root_cause)
        block_text = re.sub(r"\s+", " ", "\n".join(b.text for b in blocks).replace("`", "'"))
        grounded = [q for q in quoted if q.rstrip(".") in block_text or q.endswith("...")]
        assert grounded, (row["case_id"], first.root_cause)


def test_missing_module_rule_does_not_override_a_failing_test() -> None:
    """Import errors of optional modules beside a failing unit test: the test is the root cause."""
    blocks = [
        Block(
            start_line=1,
            end_line=3,
            reason="python-traceback",
            text=(
                "ERROR: Could not import module: demo.plugins.remote\n"
                '  File "/home/travis/build/a/demo/venv/lib/python3.6/site-packages/demo/plugins/remote.py", line 4, in <module>\n'
                "ModuleNotFoundError: No module named 'remoteq'"
            ),
        ),
        Block(
            start_line=9,
            end_line=12,
            reason="python-traceback",
            text=(
                "FAIL: test_copy (demo.core.TestCopy)\n"
                '  File "/home/travis/build/a/demo/venv/lib/python3.6/site-packages/demo/core.py", line 12, in test_copy\n'
                "    self.assertEqual(a, b)\n"
                "AssertionError: 0 != 1"
            ),
        ),
    ]
    repo = MemoryRepo({"demo/__init__.py": "", "demo/core.py": "x = 1\n" * 20, "requirements.txt": "click\n"})
    req = ProposalRequest(
        repository="acme/demo",
        blocks=blocks,
        classification=Classification(category=Category.TEST, fingerprint="0" * 16),
    )
    proposal = RulesBackend(repo).propose(req)
    assert proposal.category == Category.TEST
    assert proposal.files_to_modify == []
    assert "remoteq" not in proposal.root_cause
    assert "`demo/core.py:12`" in proposal.root_cause  # the installed copy mapped back to the source


# A pytest job on a package installed into a virtualenv (src layout): the package prints the
# import error of an optional speed-up while the suite loads, then a unit test fails on an
# assertion inside the installed copy. Modelled on the class of real logs where every path of the
# failure points into site-packages.
VENV_LOG = """\
2025-05-02T10:00:01.0000000Z ##[group]Run python -m pytest -q
2025-05-02T10:00:02.0000000Z Traceback (most recent call last):
2025-05-02T10:00:02.0000000Z   File "/home/runner/work/demo/demo/.venv/lib/python3.12/site-packages/demo/speedups.py", line 3, in <module>
2025-05-02T10:00:02.0000000Z     import ujson
2025-05-02T10:00:02.0000000Z ModuleNotFoundError: No module named 'ujson'
2025-05-02T10:00:02.0000000Z demo: optional speed-ups disabled
2025-05-02T10:00:03.0000000Z .F..                                                                     [100%]
2025-05-02T10:00:03.0000000Z =================================== FAILURES ===================================
2025-05-02T10:00:03.0000000Z __________________________________ test_parse __________________________________
2025-05-02T10:00:03.0000000Z
2025-05-02T10:00:03.0000000Z     def test_parse():
2025-05-02T10:00:03.0000000Z >       assert parse("a=1") == {"a": 1}
2025-05-02T10:00:03.0000000Z
2025-05-02T10:00:03.0000000Z tests/test_core.py:5:
2025-05-02T10:00:03.0000000Z _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _
2025-05-02T10:00:03.0000000Z
2025-05-02T10:00:03.0000000Z     def parse(text):
2025-05-02T10:00:03.0000000Z >       key, value = text.split(":")
2025-05-02T10:00:03.0000000Z E       ValueError: not enough values to unpack (expected 2, got 1)
2025-05-02T10:00:03.0000000Z
2025-05-02T10:00:03.0000000Z .venv/lib/python3.12/site-packages/demo/core.py:12: ValueError
2025-05-02T10:00:03.0000000Z =========================== short test summary info ============================
2025-05-02T10:00:03.0000000Z FAILED tests/test_core.py::test_parse - ValueError: not enough values to unpack (expected 2, got 1)
2025-05-02T10:00:03.0000000Z ========================= 1 failed, 3 passed in 0.05s ==========================
2025-05-02T10:00:03.0000000Z ##[error]Process completed with exit code 1.
"""


def test_a_failing_test_in_an_installed_package_is_not_blamed_on_an_optional_import() -> None:
    from ci_healer.classify import classify
    from ci_healer.context import gather
    from ci_healer.engine import analyze
    from ci_healer.extract import extract

    repo = MemoryRepo(
        {
            "pyproject.toml": '[project]\nname = "demo"\ndependencies = []\n',
            "src/demo/__init__.py": "",
            "src/demo/core.py": "\n".join(f"# line {i}" for i in range(1, 40)) + "\n",
            "src/demo/speedups.py": "import ujson\n",
            "tests/test_core.py": "from demo.core import parse\n\n\ndef test_parse():\n    assert parse('a=1') == {'a': 1}\n",
        }
    )
    blocks = extract(VENV_LOG.encode()).blocks
    assert classify(blocks).category == Category.TEST
    sent = [f.path for f in gather(blocks, repo, category=Category.TEST)]
    assert sent[:2] == ["src/demo/core.py", "tests/test_core.py"]
    result = analyze(VENV_LOG.encode(), repo=repo, backend=RulesBackend(repo))
    assert result.category == Category.TEST
    assert result.files_to_modify == [] and result.diff in (None, "")
    assert "ujson" not in result.root_cause and "src/demo/core.py:12" in result.root_cause


# ---- unused imports (ruff / flake8 F401) -------------------------------------------------------

_LINTY = '"""Money helpers."""\nimport os\nfrom typing import Any, cast\n\n\ndef f(x: Any) -> int:\n    return cast(int, x)\n'


def _f401(tmp_path, log: str, text: str = _LINTY):
    from ci_healer.engine import analyze as run_engine
    from ci_healer.repo import LocalRepo

    (tmp_path / "src" / "hello").mkdir(parents=True)
    (tmp_path / "src" / "hello" / "calc.py").write_text(text, encoding="utf-8")
    repo = LocalRepo(tmp_path)
    return run_engine(log.encode(), repo=repo, backend=RulesBackend(repo))


def test_ruff_concise_unused_import_is_removed_with_low_risk(tmp_path) -> None:
    log = "src/hello/calc.py:2:8: F401 [*] `os` imported but unused\nFound 1 error.\n"
    a = _f401(tmp_path, log)
    assert a.status == "proposed" and a.category.value == "lint" and a.risk.level == "low"
    hunk = a.diff.split("@@", 2)[2]
    assert [ln for ln in hunk.splitlines() if ln.startswith(("+", "-"))] == ["-import os"]


def test_ruff_full_format_and_flake8_are_the_same_class(tmp_path) -> None:
    full = "F401 [*] `os` imported but unused\n --> src/hello/calc.py:2:8\n  |\nFound 1 error.\n"
    assert "\n-import os\n" in _f401(tmp_path / "a", full).diff
    flake8 = "./src/hello/calc.py:2:1: F401 'os' imported but unused\n"
    assert "\n-import os\n" in _f401(tmp_path / "b", flake8).diff


def test_unused_name_on_a_line_with_other_names_gets_no_patch(tmp_path) -> None:
    # `from typing import Any, cast` with only `cast` unused: deleting the line would break `Any`
    log = "src/hello/calc.py:3:25: F401 [*] `typing.cast` imported but unused\n"
    a = _f401(tmp_path, log)
    assert a.status == "no_patch" and a.diff == ""


def test_aliased_or_moved_import_line_gets_no_patch(tmp_path) -> None:
    log = "src/hello/calc.py:2:8: F401 [*] `os` imported but unused\n"
    assert _f401(tmp_path / "a", log, _LINTY.replace("import os\n", "import os as o\n")).diff == ""
    assert _f401(tmp_path / "b", log, _LINTY.replace("import os\n", "\n")).diff == ""
