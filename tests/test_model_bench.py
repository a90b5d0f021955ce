"""The model-evaluation bench: a case's generated tree takes the developer's real fix, the
scores of a proposed diff against it, and the case manifest's shape."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import models
from bench.corpus import CLASSIFY_SOURCE, load_cases
from bench.localization import case_tree
from tests.prereq import require_corpus, tool

ROOT = Path(__file__).resolve().parents[1]


def test_the_manifest_has_twenty_cases_with_their_reason_and_no_code():
    doc = json.loads((ROOT / "bench" / "cases" / "cases.json").read_text(encoding="utf-8"))
    cases = doc["cases"]
    assert len(cases) >= 20
    assert len({c["case_id"] for c in cases}) == len(cases)
    for c in cases:
        assert set(c) == {"case_id", "source", "repository", "language", "category", "why"}
        assert c["source"] == CLASSIFY_SOURCE and c["why"]
    assert "stratified" in doc["rule"] and doc["seed"] == models.SELECT_SEED
    # Nothing but the manifest and its README: no copied log, diff or repository file.
    assert sorted(p.name for p in (ROOT / "bench" / "cases").iterdir()) == ["README.md", "cases.json"]


def test_the_real_fix_of_a_manifest_case_applies_to_its_generated_tree(tmp_path):
    tool("git", "git", what="git apply --check cannot run")
    corpus = require_corpus()
    first = models.load_manifest()[0]
    (case,) = [c for c in load_cases(corpus, sources=(CLASSIFY_SOURCE,)) if c.case_id == first["case_id"]]
    diff = models.fix_diff(case)
    files = case_tree(models.log_text(case), diff)
    models.write_tree(files, tmp_path)
    assert models.git_apply_check(diff, tmp_path) == (True, "")
    # The tree is what makes it apply: a tree of stand-in text only refuses the same diff.
    changed = models.diff_paths(diff)[0]
    (tmp_path / changed).write_text("".join(f"line {i}\n" for i in range(400)), encoding="utf-8")
    applies, error = models.git_apply_check(diff, tmp_path)
    assert not applies and changed in error


REAL = """\
diff --git a/requirements.txt b/requirements.txt
--- a/requirements.txt
+++ b/requirements.txt
@@ -1,2 +1,3 @@
 flask==3.0.3
+PyYAML>=6.0
 pytest==8.2.0
"""


def test_similarity_compares_changed_lines_only():
    same_change_other_context = REAL.replace(" flask==3.0.3", " django==5.0")
    assert models.similarity(same_change_other_context, REAL) == 1.0
    assert models.similarity(REAL.replace("+PyYAML>=6.0", "+yaml"), REAL) == 0.0
    assert models.similarity("", REAL) == 0.0
    assert models.changed_lines(REAL) == ["+PyYAML>=6.0"]
    assert models.diff_paths(REAL) == ["requirements.txt"]


def test_results_are_written_after_every_case_and_resume_skips_them(tmp_path, monkeypatch):
    """A run that breaks at the third case keeps the first two; ``--resume`` does not redo them."""
    entries = [{"case_id": f"c{i}", "language": "python", "category": "Test"} for i in range(4)]
    seen: list[str] = []

    def fake_run_case(entry, corpus, backend, options):
        seen.append(entry["case_id"])
        if entry["case_id"] == "c2" and len(seen) == 3:
            raise KeyboardInterrupt
        return models.CaseResult(entry["case_id"], "python", "Test", tree_files=3, status="no_patch")

    monkeypatch.setattr(models, "run_case", fake_run_case)
    out = tmp_path / "results.json"
    saved: list[list[dict]] = []

    def save(results: list[dict]) -> None:
        saved.append(list(results))
        models._write_json(out, {"runs": {"k": {"results": results}}})

    with pytest.raises(KeyboardInterrupt):
        models.run_set(entries, {}, backend=None, options=None, save=save, label="fake")  # type: ignore[arg-type]
    kept = json.loads(out.read_text())["runs"]["k"]["results"]
    assert [r["case_id"] for r in kept] == ["c0", "c1"]
    seen.clear()
    done = {r["case_id"]: r for r in kept}
    results = models.run_set(entries, {}, backend=None, options=None, done=done, save=save, label="fake")  # type: ignore[arg-type]
    assert seen == ["c2", "c3"]
    assert [r["case_id"] for r in results] == ["c0", "c1", "c2", "c3"]


def test_the_bench_runs_against_an_openai_compatible_server_with_reported_usage(tmp_path, capsys):
    """``--backend openai --openai-base-url`` against a local Chat Completions server: progress on
    stderr per case, the results file with the response's usage, the rules backend beside it, and
    the BENCHMARKS.md part written with the model and the endpoint kind."""
    require_corpus()
    tool("git", "git", what="git apply --check cannot run")
    from tests import llm_server

    out, report = tmp_path / "results.json", tmp_path / "BENCHMARKS.md"
    report.write_text("# Benchmarks\n", encoding="utf-8")
    with llm_server.serve() as url:
        argv = ["--backend", "openai", "--openai-base-url", url, "--model", "valid", "--llm-timeout", "600"]
        argv += ["--limit", "2", "--out", str(out), "--markdown", "--benchmarks", str(report)]
        assert models.main(argv) == 0
    err = capsys.readouterr().err
    assert "[openai 1/2]" in err and "[openai 2/2]" in err and "[rules 2/2]" in err
    runs = json.loads(out.read_text())["runs"]
    (model_run,) = [r for r in runs.values() if r["backend"] == "openai"]
    assert [r["parse"] for r in model_run["results"]] == ["first_try", "first_try"]
    assert model_run["summary"]["prompt_tokens"] == 1800 and model_run["summary"]["usage_reported"] == 2
    assert all(r["prompt_tokens"] is None for r in runs[next(k for k in runs if '"rules"' in k)]["results"])
    text = report.read_text()
    assert "| | openai: valid | rules |" in text and "OpenAI-compatible (local server)" in text
    assert str(tmp_path) not in text  # file arguments are shown by name only


END_ANCHORED = """\
diff --git a/setup.py b/setup.py
index 1111111..2222222 100644
--- a/setup.py
+++ b/setup.py
@@ -40,4 +40,5 @@ setup(
     name="pkg",
     install_requires=[
         "six",
+        "PyYAML",
     ])
\\ No newline at end of file
diff --git a/old.cfg b/old.cfg
deleted file mode 100644
index 4444444..0000000
--- a/old.cfg
+++ /dev/null
@@ -1,2 +0,0 @@
-[x]
-y = 1
"""


def test_a_hunk_at_the_end_of_a_file_and_a_deleted_file_apply_to_the_generated_tree(tmp_path):
    """The last hunk has fewer than three trailing context lines and no newline at the end: the
    generated file ends there; a deleted file holds exactly the removed lines."""
    tool("git", "git", what="git apply --check cannot run")
    files = case_tree("$ python setup.py install\n", END_ANCHORED)
    assert files["setup.py"].endswith('        "six",\n    ])')
    assert len(files["setup.py"].split("\n")) == 43
    assert files["old.cfg"] == "[x]\ny = 1\n"
    models.write_tree(files, tmp_path)
    assert models.git_apply_check(END_ANCHORED, tmp_path) == (True, "")


@pytest.mark.parametrize(
    ("switches", "status", "lenient", "repairs"),
    [
        ([], "proposed", 1, 0),
        (["--no-fuzzy"], "proposed", 0, 1),
        (["--no-fuzzy", "--no-repair"], "failed", 0, 0),
    ],
)
def test_the_switches_measure_what_lenient_matching_and_the_repair_round_add(
    tmp_path, switches: list[str], status: str, lenient: int, repairs: int
):
    """A model that quotes with trailing spaces: matched leniently by default, repaired when only
    exact quotes count, failed when neither is allowed."""
    require_corpus()
    tool("git", "git", what="git apply --check cannot run")
    from tests import llm_server

    out = tmp_path / "results.json"
    with llm_server.serve() as url:
        argv = ["--backend", "openai", "--openai-base-url", url, "--model", "misquote", "--limit", "1"]
        assert models.main([*argv, "--no-baseline", "--out", str(out), *switches]) == 0
    (run,) = json.loads(out.read_text())["runs"].values()
    (result,) = run["results"]
    assert result["status"] == status, result["message"]
    assert run["summary"]["lenient_matches"] == lenient and run["summary"]["repair_rounds"] == repairs
    assert result["applies"] is (True if status == "proposed" else None)
