"""The instructor's batch path (`proximal grade`) on the demo course."""

from __future__ import annotations

import csv
import html
import re
from pathlib import Path

from conftest import DEMO_CORRECT as CORRECT
from conftest import DEMO_NB as NB
from conftest import submit_demo as submit

from autograder.grade import grade


def read_grades(path: Path) -> dict[str, tuple[float, float]]:
    with open(path, newline="") as handle:
        return {
            row["student_id"]: (float(row["score"]), float(row["max_score"]))
            for row in csv.DictReader(handle)
        }


def test_three_submissions_become_a_csv(demo_course, variant):
    """Do a correct, a wrong and an infinitely looping submission get the right grades in the CSV?"""
    submit(demo_course, "ada", variant, answers=CORRECT)
    submit(demo_course, "bo", variant, answers={**CORRECT, "add_all": "def add_all(xs):\n    return 0\n"})
    submit(
        demo_course,
        "cy",
        variant,
        answers={**CORRECT, "double": "def double(x):\n    while True:\n        pass\n"},
    )
    report = grade(demo_course, "00-demo", jobs=2, progress=False)
    assert read_grades(report.csv_path) == {"ada": (6, 6), "bo": (4, 6), "cy": (5, 6)}
    assert [r.graded for r in report.results] == [True, True, True]
    assert (demo_course / "feedback" / "cy" / "00-demo" / "demo-exercises.html").is_file()
    page = (demo_course / "feedback" / "bo" / "00-demo" / "demo-exercises.html").read_text()
    text = html.unescape(re.sub(r"<[^>]+>", "", page))
    assert "add_all([1, 2, 3]) returned 0" in text, "the visible test's message should be in the feedback"
    assert "add_all([]) == 0" not in text and "HIDDEN TESTS" not in text, (
        "hidden-test code leaked into feedback"
    )


def test_bad_input_gets_a_reason_and_the_rest_is_graded(demo_course, variant):
    """Do malformed, non-UTF-8, renamed and empty submissions each get a reason, without stopping the batch?"""
    submit(demo_course, "good", variant, answers=CORRECT)
    folder = demo_course / "submitted"
    (folder / "json" / "00-demo").mkdir(parents=True)
    (folder / "json" / "00-demo" / NB).write_text("{not json")
    (folder / "bytes" / "00-demo").mkdir(parents=True)
    (folder / "bytes" / "00-demo" / NB).write_bytes(b"\xff\xfe\x00\x00")
    submit(demo_course, "renamed", variant, answers=CORRECT).rename(
        folder / "renamed" / "00-demo" / "my-work.ipynb"
    )
    (folder / "empty" / "00-demo").mkdir(parents=True)
    report = grade(demo_course, "00-demo", jobs=2, progress=False)
    notes = {r.student: "; ".join(r.notes) for r in report.results}
    assert "not a readable notebook" in notes["json"]
    assert "not UTF-8" in notes["bytes"]
    assert "renamed?" in notes["renamed"] and "my-work.ipynb" in notes["renamed"]
    assert "empty submission" in notes["empty"]
    assert read_grades(report.csv_path) == {
        "good": (6, 6),
        "json": (0, 6),
        "bytes": (0, 6),
        "renamed": (0, 6),
        "empty": (0, 6),
    }


def test_regrading_is_idempotent_and_keeps_manual_grades(demo_course, variant):
    """Does grading twice give the same gradebook, with an instructor's manual score left alone?"""
    from nbgrader.api import Gradebook

    submit(demo_course, "ada", variant, answers={**CORRECT, "fib": "def fib(n):\n    return 0\n"})
    first = read_grades(grade(demo_course, "00-demo", jobs=1, progress=False).csv_path)
    db = f"sqlite:///{demo_course / 'gradebook.db'}"
    with Gradebook(db) as gb:
        gb.find_grade("fib_tests", "demo-exercises", "00-demo", "ada").manual_score = 2
        gb.db.commit()
    second = read_grades(grade(demo_course, "00-demo", jobs=1, progress=False).csv_path)
    assert first["ada"] == (3, 6)
    assert second["ada"] == (5, 6), "the manual 2 points on fib_tests should count after a re-grade"
    with Gradebook(db) as gb:
        assert len(gb.find_assignment("00-demo").submissions) == 1
        assert gb.find_grade("fib_tests", "demo-exercises", "00-demo", "ada").manual_score == 2


def test_scores_match_plain_sequential_nbgrader(demo_release, tmp_path, variant):
    """On honest submissions, does `proximal grade` give every cell the score plain sequential `nbgrader autograde` gives?"""
    import os
    import shutil
    import subprocess
    import sys

    from nbgrader.api import Gradebook

    wrong = {"add_all": "def add_all(xs):\n    return 0\n", "fib": "def fib(n):\n    return n\n"}
    handed_in = {
        "ada": CORRECT,
        "bo": {**CORRECT, "add_all": wrong["add_all"]},
        "cy": {"double": CORRECT["double"]},
        "di": {**CORRECT, "fib": wrong["fib"]},
        "ed": {},
    }
    courses = {}
    for way in ("plain", "proximal"):
        course = tmp_path / way
        shutil.copytree(demo_release, course)
        for student, answers in handed_in.items():
            submit(course, student, variant, answers=answers)
        courses[way] = course

    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    nbgrader = [sys.executable, "-m", "nbgrader"]
    for step in (
        ["generate_assignment", "00-demo", "--force", "--CourseDirectory.release_directory=release"],
        ["autograde", "00-demo", "--force"],
    ):
        subprocess.run(nbgrader + step, cwd=courses["plain"], env=env, check=True, capture_output=True)
    grade(courses["proximal"], "00-demo", jobs=2, feedback=False, progress=False)

    def scores(course: Path) -> dict:
        with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
            return {
                (s.student.id, nb.name, g.name): g.auto_score
                for s in gb.find_assignment("00-demo").submissions
                for nb in s.notebooks
                for g in nb.grades
            }

    plain = scores(courses["plain"])
    assert len(plain) == 5 * 3 and sorted({v for v in plain.values()}) == [0, 1, 2, 3], plain
    assert scores(courses["proximal"]) == plain


def _stages(work: Path) -> list[str]:
    """The workers' stages in a pool's work folder (``stage-<pid>``, one per grading process)."""
    return sorted(p.name for p in work.iterdir() if re.fullmatch(r"stage-\d+", p.name))


def test_a_pool_kept_open_grades_batch_after_batch_like_a_fresh_one(demo_course, variant, tmp_path):
    """Does a pool kept open across batches (as the workshop's warm grader keeps one) grade each batch
    as a fresh batch would, with one worker whose sandbox is set up once and reused?"""
    from autograder.executors import LocalPool
    from autograder.nbgrader_env import course_config
    from autograder.sandbox import SandboxLimits

    wrong = {**CORRECT, "add_all": "def add_all(xs):\n    return 0\n"}
    work = tmp_path / "warm"
    work.mkdir()
    limits = SandboxLimits(config=course_config(demo_course))
    with LocalPool(1, limits, work=work) as pool:
        pool.warm_up(demo_course)
        stages = _stages(work)
        assert len(stages) == 1, "the warm-up should set up the worker's sandbox"
        submit(demo_course, "ada", variant, answers=CORRECT)
        first = grade(demo_course, "00-demo", students=["ada"], progress=False, pool=pool)
        submit(demo_course, "bo", variant, answers=wrong)
        second = grade(demo_course, "00-demo", students=["bo"], progress=False, pool=pool)
        submit(demo_course, "ada", variant, answers=wrong)  # a resubmission replaces the grade
        third = grade(demo_course, "00-demo", students=["ada"], progress=False, pool=pool)
        assert _stages(work) == stages, "the worker was not reused"
    assert [(r.student, r.score) for r in (*first.results, *second.results, *third.results)] == [
        ("ada", 6),
        ("bo", 4),
        ("ada", 4),
    ]
    assert read_grades(third.csv_path) == {"ada": (4, 6), "bo": (4, 6)}
    fresh = grade(demo_course, "00-demo", progress=False)  # the same class, graded the usual way
    assert {r.student: r.score for r in fresh.results} == {"ada": 4, "bo": 4}


def test_a_kept_open_pool_needs_its_own_work_folder(demo_course):
    """Is a kept-open pool without a work folder refused with a clear error rather than graded into nowhere?"""
    import pytest

    from autograder.executors import LocalPool
    from autograder.nbgrader_env import course_config
    from autograder.sandbox import SandboxLimits

    with LocalPool(1, SandboxLimits(config=course_config(demo_course))) as pool:
        with pytest.raises(ValueError, match="work folder"):
            grade(demo_course, "00-demo", students=[], progress=False, pool=pool)
