"""The learner's workspace (`proximal workspace`, `proximal reset`) on the demo course."""

from __future__ import annotations

from pathlib import Path

from proximal.cli import main
from proximal.learner.check import run_check
from proximal.learner.workspace import in_learner_area, populate, reset

NB = "demo-exercises.ipynb"


def test_first_launch_copies_every_exercise(demo_course):
    """Does the first `proximal workspace` copy each released exercise into workspace/NN-topic/?"""
    result = populate(demo_course)
    copy = demo_course / "workspace" / "00-demo" / NB
    assert result.copied == [copy]
    assert copy.read_bytes() == (demo_course / "exercises" / "00-demo" / NB).read_bytes()


def test_existing_work_is_never_overwritten(demo_course):
    """Does a second launch leave the learner's edited notebook exactly as it was?"""
    populate(demo_course)
    copy = demo_course / "workspace" / "00-demo" / NB
    copy.write_text("my work")
    again = populate(demo_course)
    assert again.copied == [] and again.kept == [copy]
    assert copy.read_text() == "my work"


def test_new_module_is_added_beside_existing_work(demo_course):
    """When a new module is released, is only its notebook copied, leaving the rest alone?"""
    populate(demo_course)
    (demo_course / "workspace" / "00-demo" / NB).write_text("my work")
    extra = demo_course / "exercises" / "01-more" / "more-exercises.ipynb"
    extra.parent.mkdir()
    extra.write_text("{}")
    result = populate(demo_course)
    assert result.copied == [demo_course / "workspace" / "01-more" / "more-exercises.ipynb"]
    assert (demo_course / "workspace" / "00-demo" / NB).read_text() == "my work"


def test_reset_restores_and_keeps_a_backup(demo_course, monkeypatch, capsys):
    """Does `proximal reset` restore the exercise afresh and keep the old file as a timestamped backup?"""
    monkeypatch.chdir(demo_course)
    populate(demo_course)
    copy = demo_course / "workspace" / "00-demo" / NB
    copy.write_text("broken work")
    assert main(["reset", "00-demo/demo-exercises.ipynb"]) == 0
    assert copy.read_bytes() == (demo_course / "exercises" / "00-demo" / NB).read_bytes()
    backups = list(copy.parent.glob("demo-exercises.backup-*.ipynb"))
    assert len(backups) == 1 and backups[0].read_text() == "broken work"
    assert "previous version is kept" in capsys.readouterr().out
    # twice in the same second: a second, distinct backup
    copy.write_text("second try")
    _, backup = reset(demo_course, copy, now=0)
    _, backup2 = reset(demo_course, copy, now=0)
    assert backup != backup2 and backup.read_text() == "second try"


def test_reset_of_unknown_notebook_is_a_clear_error(demo_course, monkeypatch, capsys):
    """Is resetting a notebook that is no exercise a one-line error naming the exercises?"""
    monkeypatch.chdir(demo_course)
    assert main(["reset", "nope.ipynb"]) == 2
    err = capsys.readouterr().err
    assert "no such exercise" in err and "00-demo/demo-exercises.ipynb" in err


def test_workspace_command_and_check_of_the_copy(demo_course, monkeypatch, capsys):
    """Does `proximal workspace` report the copy, and does the check accept the workspace copy?"""
    monkeypatch.chdir(demo_course)
    assert main(["workspace"]) == 0
    assert "workspace/00-demo/demo-exercises.ipynb" in capsys.readouterr().out
    copy = demo_course / "workspace" / "00-demo" / NB
    assert in_learner_area(demo_course, copy) and not in_learner_area(
        demo_course, demo_course / "solutions" / "00-demo" / NB
    )
    report = run_check(copy)
    assert report.max_points == 6 and report.points == 0


def test_lab_populates_before_starting(demo_course, monkeypatch):
    """Does `proximal lab` create the workspace before it hands over to JupyterLab?"""
    monkeypatch.chdir(demo_course)
    started: list[list[str]] = []
    monkeypatch.setattr("os.execv", lambda exe, argv: started.append(argv))
    main(["lab"])
    assert (demo_course / "workspace" / "00-demo" / NB).is_file()
    assert started and any(str(Path(demo_course)) in a for a in started[0])
