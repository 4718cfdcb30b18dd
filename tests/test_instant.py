"""The instant check, `check("name")` in the live kernel, against the whole-notebook check (the final word)."""

from __future__ import annotations

import json

import nbformat
from conftest import DEMO_CORRECT as CORRECT
from conftest import DEMO_NB as NB
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell

from autograder import pipeline
from autograder.nbgrader_env import course_config
from autograder.notebooks import read_notebook

WRONG = {
    "double": "def double(x):\n    return x + 2\n",  # passes the visible test, fails the hidden one
    "add_all": "def add_all(xs):\n    return 0\n",
    "fib": CORRECT["fib"],
}
PROBE = (
    "import json\n"
    "from proximal.learner.instant import check_exercise\n"
    "found = dict()\n"
    "for name in ('double', 'add_all', 'fib'):\n"
    "    report = check_exercise(name, notebook={path!r}, record=False)\n"
    "    found[name] = [report.exercises[0].points, report.exercises[0].max_points, report.problems]\n"
    "print('RESULT' + json.dumps(found))\n"
)


def run_in_kernel(nb_path, extra_cells):
    """Run the learner's notebook (answers, tests) in one kernel, then ``extra_cells``; return their output."""
    nb = read_notebook(nb_path)
    nb.cells = [c for c in nb.cells if "check" not in c.metadata.get("tags", [])]
    nb.cells += [new_code_cell(code) for code in extra_cells]
    NotebookClient(
        nb,
        timeout=60,
        allow_errors=True,
        kernel_name="python3",
        resources={"metadata": {"path": str(nb_path.parent)}},
    ).execute()
    texts = []
    for cell in nb.cells[-len(extra_cells) :]:
        for output in cell.outputs:
            texts.append(output.get("text", "") + output.get("data", {}).get("text/plain", ""))
            texts.append(output.get("data", {}).get("text/html", ""))
    return "".join(texts)


def test_instant_check_gives_the_same_points_as_the_whole_notebook_check(demo_course, variant):
    """Does check("name") in the live kernel give every exercise the points the fresh-kernel check gives?"""
    path = variant(
        demo_course / "exercises" / "00-demo" / NB, demo_course / "workspace" / "00-demo" / NB, answers=WRONG
    )
    out = run_in_kernel(path, [PROBE.format(path=str(path))])
    instant = json.loads(out.split("RESULT", 1)[1])
    run, _ = pipeline.run(
        read_notebook(path),
        read_notebook(demo_course / "solutions" / "00-demo" / NB),
        path.parent,
        course_config(demo_course),
    )
    final = {c.grade_id.removesuffix("_tests"): [c.points, c.max_points] for c in run.cells}
    assert {name: values[:2] for name, values in instant.items()} == final
    assert final == {"double": [0, 1], "add_all": [0, 2], "fib": [3, 3]}
    assert all(values[2] == [] for values in instant.values()), "the saved file matches what ran"


def test_instant_check_says_when_the_saved_file_is_older(demo_course, variant):
    """When the kernel ran an answer the saved file lacks, does the instant check use it and say so?"""
    path = variant(
        demo_course / "exercises" / "00-demo" / NB,
        demo_course / "workspace" / "00-demo" / NB,
        answers={"double": WRONG["double"]},
    )
    probe = (
        "from proximal.learner.instant import check_exercise\n"
        f"report = check_exercise('double', notebook={str(path)!r}, record=False)\n"
        "print('RESULT', report.exercises[0].points, report.problems)\n"
    )
    out = run_in_kernel(path, [CORRECT["double"], probe])
    result = out.split("RESULT", 1)[1]
    assert result.strip().startswith("1.0") and "save (Ctrl+S)" in result


def test_check_with_a_name_shows_a_table_and_records_progress(demo_course, variant):
    """Does `check("add_all")` print the table with the failure and the next hint, and record the result?"""
    path = variant(
        demo_course / "exercises" / "00-demo" / NB, demo_course / "workspace" / "00-demo" / NB, answers=WRONG
    )
    out = run_in_kernel(path, [f"from proximal import check\ncheck('add_all', notebook={str(path)!r})"])
    assert "returned 0, expected 6" in out and "open Hint 1 of 3" in out
    assert "Total: 0/2 points" in out
    assert "<table>" in out and "background:#ffebee" in out, "JupyterLab gets the coloured table"
    record = json.loads((demo_course / "workspace" / ".progress.json").read_text())
    assert record["notebooks"]["00-demo/" + NB]["exercises"]["add_all"]["passed"] is False


def test_release_moves_hints_into_one_cell_with_the_source_texts(demo_course):
    """Is each exercise's hints one `hints` code cell whose texts are the source's, with no hint markdown left?"""
    from proximal.learner.hints import released_hints, source_hints

    released = nbformat.read(demo_course / "exercises" / "00-demo" / NB, as_version=4)
    source = read_notebook(demo_course / "solutions" / "00-demo" / NB)
    cells = [c for c in released.cells if "hints" in c.metadata.get("tags", [])]
    assert [c.metadata["proximal"]["exercise"] for c in cells] == ["add_all", "fib"]
    assert not any("<details>" in c.source for c in released.cells if c.cell_type == "markdown")
    assert released_hints(released, "add_all") == source_hints(source, "add_all")
    assert cells[0].source == 'from proximal.learner.hints import hints\n\nhints("add_all")'


def test_the_hints_cell_prefetches_the_checker_once():
    """Does the hints cell's prefetch import the instant check in the background, once per kernel?"""
    import subprocess
    import sys

    probe = (
        "import sys\n"
        "from proximal.learner.hints import prefetch_checker\n"
        "before = 'proximal.learner.instant' in sys.modules\n"
        "thread = prefetch_checker()\n"
        "same = prefetch_checker() is thread\n"
        "thread.join(60)\n"
        "after = all(m in sys.modules for m in ('proximal.learner.instant', 'proximal.learner.check', 'nbgrader.utils'))\n"
        "print(before, same, after)\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "True", "True"], out


def test_a_coroutine_left_in_a_reference_cycle_is_still_reported_after_the_test():
    """Does the instant check still say "was never awaited" (a stderr line, so no points, as nbgrader
    scores it) for a coroutine that only a garbage cycle held, now that its collection looks only at
    what the test made, and does it leave the collector unfrozen, also when the test fails?"""
    import subprocess
    import sys

    probe = (
        "import gc\n"
        "from nbformat.v4 import new_code_cell\n"
        "from proximal.learner.instant import run_test_cell\n"
        "code = (\n"
        "    'async def _never():\\n    pass\\n'\n"
        "    'class _Box:\\n    pass\\n'\n"
        "    '_b = _Box()\\n_b.me = _b\\n_b.coro = _never()\\ndel _b\\n'\n"
        ")\n"
        "scores = []\n"
        "for tail in ('', 'assert False, \"wrong\"\\n', 'pass\\n'):\n"
        "    cell = new_code_cell(tail if tail == 'pass\\n' else code + tail)\n"
        "    cell.metadata['nbgrader'] = {'grade': True, 'grade_id': 't', 'points': 1, 'solution': False,\n"
        "                                 'locked': True, 'schema_version': 3}\n"
        "    score = run_test_cell(cell, {'__name__': '__main__'})\n"
        "    scores.append(('was never awaited' in score.stderr, score.points, gc.get_freeze_count()))\n"
        "print(scores)\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[(True, 0.0, 0), (True, 0.0, 0), (False, 1.0, 0)]", out
