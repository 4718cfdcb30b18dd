"""The class report (`proximal report`): pass rates, most-failed assertions, a chart and peer pairs."""

from __future__ import annotations

import os

import pytest
from conftest import DEMO_CORRECT as CORRECT
from conftest import submit_demo as submit

from autograder.grade import grade
from proximal.cli import main
from proximal.instructor.report import build, render, suggest_pairs


@pytest.fixture(scope="module")
def graded(tmp_path_factory, demo_release):
    """The demo course with five students graded once for all tests here."""
    import shutil

    from conftest import write_variant

    course = tmp_path_factory.mktemp("report") / "course"
    shutil.copytree(demo_release, course)
    submit(course, "ada", write_variant, answers=CORRECT)
    submit(course, "bo", write_variant, answers={**CORRECT, "add_all": "def add_all(xs):\n    return 0\n"})
    submit(course, "cy", write_variant, answers={**CORRECT, "add_all": "def add_all(xs):\n    return 1\n"})
    submit(course, "di", write_variant, answers={"double": CORRECT["double"]})
    submit(course, "ed", write_variant, answers={**CORRECT, "fib": "def fib(n):\n    return n\n"})
    # The report reads grading's results; the sandbox itself is tested with `proximal grade`.
    # Off here, so these tests do not depend on what isolation this machine allows.
    saved = os.environ.get("PROXIMAL_SANDBOX")
    os.environ["PROXIMAL_SANDBOX"] = "off"
    try:
        report = grade(course, "00-demo", jobs=2, progress=False, feedback=False)
    finally:
        if saved is None:
            os.environ.pop("PROXIMAL_SANDBOX", None)
        else:
            os.environ["PROXIMAL_SANDBOX"] = saved
    assert all(r.graded for r in report.results), [r.notes for r in report.results]
    return course


def test_pass_rates_and_most_failed_assertions(graded):
    """Are pass rates right, and are failures that differ only in values counted as one message?"""
    report = build(graded, "00-demo")
    rows = {r.name: r for r in report.exercises}
    assert [(r.name, r.passed, r.students) for r in report.exercises] == [
        ("double", 5, 5),
        ("add_all", 2, 5),
        ("fib", 3, 5),
    ]
    count, message = rows["add_all"].failures[0]
    assert count == 2 and "add_all([1, 2, 3]) returned" in message and "(see Hint 2)" in message
    assert rows["add_all"].not_attempted == 1  # di left the stub
    assert rows["fib"].failures[0][0] == 1
    assert report.chart == graded / "report-00-demo.png" and report.chart.stat().st_size > 1000


def test_pairs_join_stuck_learners_with_solvers(graded):
    """Is every stuck learner paired with a solver of their exercise, nobody twice, each with a reason?"""
    report = build(graded, "00-demo", chart=False)
    people = [p for pair in report.pairs for p in (pair.helper, pair.learner)]
    assert len(people) == len(set(people)), "a learner is in two pairs"
    stuck_on = {"bo": "add_all", "cy": "add_all", "di": "add_all", "ed": "fib"}
    passed = {"add_all": {"ada", "ed"}, "fib": {"ada", "bo", "cy"}}
    for pair in report.pairs:
        assert stuck_on[pair.learner] == pair.exercise
        assert pair.helper in passed[pair.exercise]
        assert pair.learner in pair.reason and pair.helper in pair.reason and pair.exercise in pair.reason
    # add_all has two solvers (ada, ed) for three stuck learners: one is left for the instructor
    assert len(report.pairs) == 2 and len(report.unpaired) == 1
    text = render(report)
    assert "Suggested pairs" in text and "no free classmate" in text


def test_solvers_with_fewer_hints_are_preferred():
    """Where hint use is known, is the solver who needed fewer hints chosen over a higher scorer?"""
    passed = {"a": {"x", "y"}, "b": {"x", "y"}}  # exercise -> who solved it; z is stuck on a
    totals = {"x": 10, "y": 6, "z": 0}
    pairs, _ = suggest_pairs(["x", "y", "z"], ["a", "b"], passed, totals, {"y": {"a": 0}, "x": {"a": 3}})
    assert [(p.helper, p.learner) for p in pairs] == [("y", "z")]
    assert "solved it alone" in pairs[0].reason


def test_hint_use_from_a_handed_in_progress_file(graded, tmp_path):
    """Does a progress.json handed in with a submission count as known hint use when pairing?"""
    import json
    import shutil

    course = tmp_path / "c"
    shutil.copytree(graded, course)
    record = {
        "notebooks": {
            "00-demo/demo-exercises.ipynb": {"exercises": {"add_all": {"passed": True, "hint_measured": 3}}}
        }
    }
    (course / "submitted" / "ed" / "00-demo" / "progress.json").write_text(json.dumps(record))
    record["notebooks"]["00-demo/demo-exercises.ipynb"]["exercises"]["add_all"] = {"passed": True}
    (course / "submitted" / "ada" / "00-demo" / "progress.json").write_text(json.dumps(record))
    report = build(course, "00-demo", chart=False)
    first = next(p for p in report.pairs if p.exercise == "add_all")
    assert first.helper == "ada" and "solved it alone" in first.reason


def test_cli_report_and_missing_gradebook(graded, demo_course, capsys):
    """Does `proximal report` print the table, and say to grade first when there is no gradebook?"""
    assert main(["report", "00-demo", "--course-dir", str(graded), "--no-pairs"]) == 0
    out = capsys.readouterr().out
    assert "add_all" in out and "passed 2/5 (40%)" in out and "Suggested pairs" not in out
    assert main(["report", "00-demo", "--course-dir", str(demo_course)]) == 2
    assert "proximal grade 00-demo" in capsys.readouterr().err
