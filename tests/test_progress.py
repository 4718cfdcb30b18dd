"""Progress tracking (`proximal check` records, `proximal progress`, `proximal hint`) on the demo course."""

from __future__ import annotations

import json

import pytest
from conftest import DEMO_CORRECT as CORRECT
from conftest import DEMO_NB as NB

from proximal.cli import main
from proximal.learner.progress import (
    ATTEMPTED,
    NOT_STARTED,
    REGRESSED,
    SOLVED_ALONE,
    SOLVED_HINT,
    load,
    overview,
    plot_progress,
    progress_path,
    suggest_next,
)

WRONG_ADD = "def add_all(xs):\n    return 0\n"


@pytest.fixture
def course(demo_course, monkeypatch):
    monkeypatch.chdir(demo_course)
    return demo_course


def workspace_copy(course, variant, **changes):
    return variant(course / "exercises" / "00-demo" / NB, course / "workspace" / "00-demo" / NB, **changes)


def statuses(course):
    return {r.name: r for r in overview(course)}


def test_fresh_course_is_not_started_and_suggests_the_warmup(course, capsys):
    """With no checks yet, is everything 'not started' and the warm-up the suggested next exercise?"""
    rows = overview(course)
    assert [r.status for r in rows] == [NOT_STARTED] * 3
    assert suggest_next(rows).name == "double"
    assert main(["progress"]) == 0
    out = capsys.readouterr().out
    assert "Next: 'double'" in out and "measured" in out  # the output explains how hint use is known
    assert "(inferred)" not in out
    line = next(line for line in out.splitlines() if "double" in line and "warm-up" in line)
    assert line.strip().startswith("→") and "next step" in line


def test_check_records_results_and_never_infers_hints(course, variant, capsys):
    """Is an exercise that failed (the check suggesting a hint) and then passed, with no hint revealed, 'solved alone'?"""
    nb = workspace_copy(course, variant, answers={"double": CORRECT["double"], "add_all": WRONG_ADD})
    assert main(["check", str(nb)]) == 1
    record = load(course)["notebooks"]["00-demo/" + NB]["exercises"]
    assert record["add_all"]["passed"] is False and record["add_all"]["suggested_hint"] == 1
    assert record["double"]["points"] == 1 and record["double"]["timestamp"]
    rows = statuses(course)
    assert rows["double"].status == SOLVED_ALONE
    assert rows["add_all"].status == ATTEMPTED
    assert rows["fib"].status == NOT_STARTED
    assert suggest_next(list(rows.values())).name == "add_all"

    workspace_copy(course, variant, answers=CORRECT)
    assert main(["check", str(nb)]) == 0
    rows = statuses(course)
    assert (rows["add_all"].status, rows["add_all"].hint) == (SOLVED_ALONE, None)
    capsys.readouterr()
    main(["progress"])
    out = capsys.readouterr().out
    assert "Everything is solved" in out and "Module 00-demo is done." in out


def test_a_solved_exercise_that_fails_now_keeps_its_best_result_and_is_marked(course, variant, capsys):
    """Does an exercise solved after hint 1 and then broken stay 'solved after hint 1', marked 'was passing, now failing'?"""
    nb = course / "workspace" / "00-demo" / NB
    assert main(["hint", "demo-exercises", "add_all"]) == 0
    workspace_copy(course, variant, answers=CORRECT)
    assert main(["check", str(nb)]) == 0
    workspace_copy(course, variant, answers={**CORRECT, "add_all": WRONG_ADD})
    assert main(["check", str(nb)]) == 1
    assert load(course)["notebooks"]["00-demo/" + NB]["exercises"]["add_all"]["passed"] is False
    rows = statuses(course)
    broken = rows["add_all"]
    assert (broken.status, broken.hint, broken.solved, broken.regressed) == (SOLVED_HINT, 1, True, True)
    assert broken.note == REGRESSED and broken.label() == "solved after hint 1 (was passing, now failing)"
    assert not rows["double"].regressed and not rows["fib"].regressed
    assert suggest_next(list(rows.values())) is None, "the best result counts: nothing is left to start"

    capsys.readouterr()
    assert main(["progress"]) == 0
    out = capsys.readouterr().out
    line = next(line for line in out.splitlines() if "add_all" in line and "core" in line)
    assert line.strip().startswith("!") and "was passing, now failing" in line
    assert "3/3 exercises solved." in out and "Everything is solved" not in out
    assert (
        "Was passing, now failing in your latest check" in out
        and f"'add_all' in workspace/00-demo/{NB}" in out
    )

    import matplotlib

    matplotlib.use("Agg")
    ax = plot_progress(root=course)
    assert "add_all\nhint 1\nnow failing" in [t.get_text() for t in ax.texts]
    assert "1 fails now" in ax.get_title()
    assert REGRESSED in [t.get_text() for t in ax.get_legend().get_texts()]

    # fixed again: the mark goes, the hint level it was solved with stays
    workspace_copy(course, variant, answers=CORRECT)
    assert main(["check", str(nb)]) == 0
    fixed = statuses(course)["add_all"]
    assert (fixed.status, fixed.hint, fixed.regressed, fixed.note) == (SOLVED_HINT, 1, False, "")


def test_an_exercise_reset_to_its_stub_is_no_regression(course, variant):
    """After a solved exercise is started over (its stub back), is it still solved, noted, and not marked as failing?"""
    nb = workspace_copy(course, variant, answers=CORRECT)
    assert main(["check", str(nb)]) == 0
    workspace_copy(course, variant, answers={k: v for k, v in CORRECT.items() if k != "fib"})
    assert main(["check", str(nb)]) == 1
    row = statuses(course)["fib"]
    assert (row.status, row.regressed, row.note) == (SOLVED_ALONE, False, "was passing, now not started")


def test_capstone_follows_the_exercises_of_its_module(course):
    """Within a module, does the ladder put the exercises notebook before a capstone?"""
    import shutil

    folder = course / "solutions" / "00-demo"
    shutil.copy(folder / NB, folder / "demo-capstone.ipynb")
    notebooks = list(dict.fromkeys(r.notebook for r in overview(course)))
    assert notebooks == ["00-demo/demo-exercises.ipynb", "00-demo/demo-capstone.ipynb"]


def test_hint_command_prints_next_hint_and_is_measured(course, variant, capsys):
    """Does `proximal hint` print hints 1, 2, ... in turn and make 'solved after hint k' measured?"""
    nb = course / "workspace" / "00-demo" / NB
    assert main(["hint", "00-demo/demo-exercises.ipynb", "add_all"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Hint 1 of 3 — a question") and "running total" in out and "<details>" not in out
    assert statuses(course)["add_all"].status == ATTEMPTED, "a revealed hint counts as having started"
    assert main(["hint", "demo-exercises", "add_all"]) == 0
    assert "Hint 2 of 3" in capsys.readouterr().out
    workspace_copy(course, variant, answers=CORRECT)
    assert main(["check", str(nb)]) == 0
    row = statuses(course)["add_all"]
    assert (row.status, row.hint, row.hint_measured) == (SOLVED_HINT, 2, True)
    # a hint read after solving does not change how it was solved
    main(["hint", "demo-exercises", "add_all"])
    assert statuses(course)["add_all"].hint == 2


def test_hint_errors_are_clear(course, capsys):
    """Is asking for a hint of an exercise without hints, or a missing level, a clear error?"""
    assert main(["hint", "demo-exercises", "double"]) == 2
    assert "has no hints" in capsys.readouterr().err
    assert main(["hint", "demo-exercises", "add_all", "--level", "7"]) == 2
    assert "no hint 7" in capsys.readouterr().err


def test_solutions_are_not_recorded_and_recording_failure_never_fails_the_check(
    course, variant, monkeypatch, capsys
):
    """Is a check of solutions/ left unrecorded, and does a broken progress file only cause a warning?"""
    assert main(["check", str(course / "solutions" / "00-demo" / NB)]) == 0
    assert not progress_path(course).exists()

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("proximal.learner.progress.record_check", boom)
    nb = workspace_copy(course, variant, answers=CORRECT)
    assert main(["check", str(nb)]) == 0
    captured = capsys.readouterr()
    assert "Everything passes" in captured.out and "could not record progress" in captured.err


def test_damaged_progress_file_is_replaced(course, variant):
    """Does a damaged progress file count as empty rather than breaking the check or the overview?"""
    progress_path(course).parent.mkdir(parents=True, exist_ok=True)
    progress_path(course).write_text("{not json")
    assert [r.status for r in overview(course)] == [NOT_STARTED] * 3
    nb = workspace_copy(course, variant, answers=CORRECT)
    assert main(["check", str(nb)]) == 0
    assert json.loads(progress_path(course).read_text())["notebooks"]


def test_plot_progress_draws_one_square_per_exercise(course, tmp_path):
    """Does plot_progress draw a grid with one coloured square per exercise, and `--plot` save it?"""
    import matplotlib

    matplotlib.use("Agg")
    ax = plot_progress(root=course)
    assert len(ax.patches) == 3
    assert [t.get_text() for t in ax.get_yticklabels()] == ["00-demo/demo-exercises"]
    texts = [t.get_text() for t in ax.texts]
    assert "double\nnext" in texts, "the next step is marked"
    assert "Next: double" in ax.get_title()
    out = tmp_path / "p.png"
    assert main(["progress", "--plot", str(out)]) == 0
    assert out.stat().st_size > 1000
