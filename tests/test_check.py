"""The learner's self-check (`proximal check`) on the demo course."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import DEMO_CORRECT as CORRECT
from conftest import DEMO_NB as NB

from proximal.cli import main
from proximal.learner.check import render, run_check


def learner_copy(course: Path, variant, **changes) -> Path:
    """A learner's copy of the released notebook, in a module folder as the check expects."""
    return variant(course / "exercises" / "00-demo" / NB, course / "workspace" / "00-demo" / NB, **changes)


def by_name(report):
    return {e.name: e for e in report.exercises}


def test_correct_notebook_scores_full_marks(demo_course, variant):
    """Does a fully correct notebook pass every exercise, hidden tests included?"""
    report = run_check(learner_copy(demo_course, variant, answers=CORRECT))
    assert report.all_passed
    assert (report.points, report.max_points) == (6, 6)
    assert "Everything passes" in render(report)


def test_untouched_release_scores_zero_and_says_not_started(demo_course):
    """Does the unmodified student notebook score zero, each exercise 'not started' with no hint advice?"""
    report = run_check(demo_course / "exercises" / "00-demo" / NB)
    assert report.points == 0 and report.max_points == 6
    assert all(not e.attempted for e in report.exercises)
    table = render(report)
    assert "Next step: work on 'double' (warm-up)" in table
    assert "not started" in table and "FAILED" not in table and "open Hint" not in table


def test_wrong_answer_names_the_failing_assertion_and_the_next_unopened_hint(demo_course, variant):
    """Does a wrong answer show the assertion's message and suggest Hint 1 (not yet opened), never skipping it?"""
    answers = {**CORRECT, "add_all": "def add_all(xs):\n    return 0\n"}
    report = run_check(learner_copy(demo_course, variant, answers=answers))
    add_all = by_name(report)["add_all"]
    assert add_all.points == 0 and add_all.max_points == 2
    assert "add_all([1, 2, 3]) returned 0, expected 6" in add_all.messages[0]
    assert add_all.named_hint() == 2 and add_all.next_hint() == 1
    table = render(report)
    assert "add_all: open Hint 1 of 3" in table and "points to Hint 2" in table
    assert by_name(report)["double"].passed and by_name(report)["fib"].passed


def test_check_and_hint_command_agree_on_the_next_hint(demo_course, variant, monkeypatch, capsys):
    """After `proximal hint` reveals hint 1, does the check suggest hint 2, and does the hint command then show it?"""
    monkeypatch.chdir(demo_course)
    answers = {**CORRECT, "add_all": "def add_all(xs):\n    return 0\n"}
    nb = learner_copy(demo_course, variant, answers=answers)
    assert main(["hint", str(nb), "add_all"]) == 0
    assert capsys.readouterr().out.startswith("Hint 1 of 3")
    report = run_check(nb)
    assert by_name(report)["add_all"].next_hint() == 2
    assert "add_all: open Hint 2 of 3" in render(report)
    assert main(["hint", str(nb), "add_all"]) == 0
    assert capsys.readouterr().out.startswith("Hint 2 of 3")


def test_long_messages_wrap_instead_of_being_cut(demo_course, variant):
    """Is a failure message longer than a terminal line shown whole, wrapped over several lines?"""
    long = "x" * 40 + " the end of a long explanation " + "y" * 150 + " FINAL WORDS"
    answers = {**CORRECT, "double": f"def double(x):\n    raise ValueError({long!r})\n"}
    table = render(run_check(learner_copy(demo_course, variant, answers=answers)))
    assert "FINAL WORDS" in table and "…" not in table
    assert all(len(line) <= 110 for line in table.splitlines()), table


def test_cascade_names_the_exercise_to_fix_first(demo_course, variant):
    """When fib fails only because it calls a broken add_all, does the check say to fix add_all first?"""
    fib = (
        "def fib(n):\n"
        "    a, b = 0, 1\n"
        "    for _ in range(n):\n"
        "        a, b = b, add_all([a, b])\n"
        "    return a\n"
    )
    answers = {**CORRECT, "add_all": "def add_all(xs):\n    return 0\n", "fib": fib}
    report = run_check(learner_copy(demo_course, variant, answers=answers))
    found = by_name(report)
    assert found["fib"].blocked_by == "add_all" and found["add_all"].blocked_by is None
    assert found["fib"].next_hint() is None, "no hint about fib while add_all is the cause"
    table = render(report)
    fib_line = next(line for line in table.splitlines() if line.startswith("fib"))
    assert "fix `add_all` first" in fib_line
    assert "fib: open Hint" not in table


def test_an_answer_calling_an_unstarted_exercise_is_started(demo_course, variant):
    """Is an exercise whose own answer is written, but calls an unstarted one, reported as blocked, not 'not started'?"""
    fib = "def fib(n):\n    return add_all([n]) if n < 2 else fib(n - 1) + fib(n - 2)\n"
    answers = {"double": CORRECT["double"], "fib": fib}
    found = by_name(run_check(learner_copy(demo_course, variant, answers=answers)))
    assert not found["add_all"].attempted
    assert found["fib"].attempted and found["fib"].blocked_by == "add_all"


def test_hidden_tests_come_from_the_source(demo_course, variant):
    """Does an answer that passes only the visible tests lose the points of the hidden ones?"""
    answers = {**CORRECT, "fib": "def fib(n):\n    return [0, 1, 1, 2, 3, 5][n]\n"}
    report = run_check(learner_copy(demo_course, variant, answers=answers))
    assert by_name(report)["fib"].points == 0


def test_system_exit_fails_only_its_exercise(demo_course, variant):
    """Does `raise SystemExit` in one answer cost that exercise and nothing else?"""
    answers = {**CORRECT, "double": "raise SystemExit\n"}
    report = run_check(learner_copy(demo_course, variant, answers=answers))
    scores = {name: e.points for name, e in by_name(report).items()}
    assert scores == {"double": 0, "add_all": 2, "fib": 3}


def test_kernel_death_scores_later_tests_zero(demo_course, variant):
    """When the kernel dies (os._exit), do the tests that never ran score zero instead of full marks?"""
    answers = {**CORRECT, "add_all": "import os\nos._exit(3)\n"}
    report = run_check(learner_copy(demo_course, variant, answers=answers))
    scores = {name: e.points for name, e in by_name(report).items()}
    assert scores == {"double": 1, "add_all": 0, "fib": 0}
    assert any("kernel died" in p for p in report.problems)


def test_edited_and_deleted_tests_are_restored(demo_course, variant):
    """Do emptied or deleted test cells come back from the source instead of passing for free?"""
    nb = learner_copy(
        demo_course,
        variant,
        answers={"double": "def double(x):\n    return 0\n"},
        edit={"double_tests": "pass"},
        drop=("add_all_tests", "fib_tests"),
    )
    report = run_check(nb)
    scores = {name: e.points for name, e in by_name(report).items()}
    assert scores == {"double": 0, "add_all": 0, "fib": 0}
    assert any("double_tests" in p for p in report.problems)


def test_cli_exit_codes(demo_course, variant, capsys):
    """Does `proximal check` exit 0 when all pass, 1 when some fail, 2 for a path that is no exercise?"""
    assert main(["check", str(learner_copy(demo_course, variant, answers=CORRECT))]) == 0
    assert main(["check", str(demo_course / "exercises" / "00-demo" / NB)]) == 1
    stray = demo_course / "elsewhere" / "mine.ipynb"
    stray.parent.mkdir()
    stray.write_text("{}")
    assert main(["check", str(stray)]) == 2
    assert "is not a course exercise notebook" in capsys.readouterr().err


@pytest.mark.parametrize("content", [b"{not json", b"\xff\xfe\x00garbage"])
def test_unreadable_notebook_gets_a_clear_error(demo_course, content, capsys):
    """Is a damaged notebook reported in one sentence rather than a traceback?"""
    path = demo_course / "workspace" / "00-demo" / NB
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    assert main(["check", str(path)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and NB in err
