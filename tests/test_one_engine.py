"""One engine: does the learner's check give every test cell the score the instructor's grade gives?"""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import pytest
from conftest import DEMO_CORRECT as CORRECT
from conftest import DEMO_NB as NB
from conftest import ROOT, make_course

from autograder.grade import grade
from autograder.merge import clear_solution
from autograder.notebooks import grade_id, is_answer_cell, modules, source_notebooks
from proximal.learner.check import run_check

# The demo course's variants: right, wrong, half done, and kernels that exit or die mid-notebook.
DEMO_VARIANTS = {
    "correct": CORRECT,
    "wrong": {**CORRECT, "add_all": "def add_all(xs):\n    return 0\n"},
    "half": {"double": CORRECT["double"]},
    "visible_only": {**CORRECT, "fib": "def fib(n):\n    return [0, 1, 1, 2, 3, 5][n]\n"},
    "system_exit": {**CORRECT, "add_all": "raise SystemExit(3)\n"},
    "kernel_exit": {**CORRECT, "add_all": "import os\nos._exit(1)\n"},
    "coroutine": {**CORRECT, "add_all": "async def add_all(xs):\n    return sum(xs)\n"},
}


def gradebook_cells(course: Path, assignment: str, student: str) -> dict[tuple[str, str], float]:
    """(notebook, grade id) -> automatic score, as recorded by `proximal grade`."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        return {
            (nb.name, g.name): float(g.auto_score or 0)
            for nb in gb.find_submission(assignment, student).notebooks
            for g in nb.grades
            if g.cell.cell_type == "code" and g.max_score
        }


def check_cells(notebook: Path) -> dict[tuple[str, str], float]:
    """(notebook, grade id) -> score, as the learner's `proximal check` gives it."""
    report = run_check(notebook)
    return {(notebook.stem, cell.grade_id): cell.points for cell in report.cells}


def test_check_and_grade_agree_on_the_demo_course(demo_course, variant):
    """On right, wrong, partial and crashing notebooks of the demo course, does every cell score the same both ways?"""
    released = demo_course / "exercises" / "00-demo" / NB
    for student, answers in DEMO_VARIANTS.items():
        variant(released, demo_course / "submitted" / student / "00-demo" / NB, answers=answers)
    shutil.copytree(released.parent, demo_course / "submitted" / "untouched" / "00-demo")
    grade(demo_course, "00-demo", jobs=2, feedback=False, progress=False)
    for student in [*DEMO_VARIANTS, "untouched"]:
        graded = gradebook_cells(demo_course, "00-demo", student)
        checked = check_cells(demo_course / "submitted" / student / "00-demo" / NB)
        assert len(graded) == 3, f"{student}: expected the demo's three test cells in the gradebook"
        assert checked == graded, f"{student}: the check and the grade disagree"


def every_other_answer(source: Path, dest: Path) -> Path:
    """The source notebook with every second answer cell back to its stub: a learner half way through."""
    nb = nbformat.read(source, as_version=4)
    answers = [cell for cell in nb.cells if is_answer_cell(cell)]
    for cell in answers[1::2]:
        cell.source = clear_solution(cell.source)
    dest.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, dest)
    return dest


@pytest.mark.notebooks
@pytest.mark.parametrize("module", modules(ROOT))
def test_check_and_grade_agree_on_every_module(module, tmp_path):
    """For every module's solution, untouched release and half-done notebook, does each cell score the same both ways?

    This also answers the course's first promise: the solution earns every point and the
    untouched exercise none (a test that passes on the stub cannot fail).
    """
    only = tmp_path / "only"
    shutil.copytree(ROOT / "solutions" / module, only / module)
    course = make_course(tmp_path / "course", only)
    shutil.copytree(ROOT / "solutions" / module, course / "submitted" / "solution" / module)
    shutil.copytree(ROOT / "exercises" / module, course / "submitted" / "release" / module)
    for source in source_notebooks(ROOT, module):
        every_other_answer(source, course / "submitted" / "half" / module / source.name)
    grade(course, module, jobs=2, feedback=False, progress=False)

    problems = []
    for student in ("solution", "release", "half"):
        graded = gradebook_cells(course, module, student)
        assert graded, f"{student}: no test cell of {module} reached the gradebook"
        checked: dict[tuple[str, str], float] = {}
        for source in source_notebooks(ROOT, module):
            checked.update(check_cells(course / "submitted" / student / module / source.name))
        if checked != graded:
            diff = {
                k: (checked.get(k), graded.get(k))
                for k in set(checked) | set(graded)
                if checked.get(k) != graded.get(k)
            }
            problems.append(f"{student}: (check, grade) differ on {diff}")
        for (nb_name, gid), points in graded.items():
            if student == "release" and points != 0:
                problems.append(
                    f"{nb_name}/{gid}: the untouched exercise scored {points}: its test cannot fail"
                )
    max_points = {
        (source.stem, grade_id(cell)): float(cell.metadata["nbgrader"]["points"])
        for source in source_notebooks(ROOT, module)
        for cell in nbformat.read(source, as_version=4).cells
        if cell.metadata.get("nbgrader", {}).get("grade") and cell.cell_type == "code"
    }
    for key, points in gradebook_cells(course, module, "solution").items():
        if points != max_points[key]:
            problems.append(f"{key[0]}/{key[1]}: the solution scored {points}/{max_points[key]}")
    assert problems == []
