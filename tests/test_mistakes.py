"""The mistake catalogue runner (`proximal mistakes`): does each catalogued mistake cost points and get named?"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import DEMO, DEMO_NB, make_course

from autograder.notebooks import is_answer_cell, modules, read_notebook, source_notebooks
from proximal.authoring.mistakes import catalogue, check_notebook, failed, render
from proximal.cli import main

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def demo_report(tmp_path_factory):
    course = make_course(tmp_path_factory.mktemp("mistakes"), DEMO / "solutions")
    return check_notebook(course / "solutions" / "00-demo" / DEMO_NB)


def by_name(report):
    return {(r.exercise, r.name): r for r in report.results}


def test_named_mistakes_cost_points_and_show_their_message(demo_report):
    """Does a mistake whose message the check shows count as named, with the points it loses?"""
    found = by_name(demo_report)
    zero = found[("add_all", "returns zero")]
    assert (zero.points, zero.max_points, zero.named) == (0, 2, True)
    assert "returned 0, expected 6" in zero.headline
    # a mistake that passes the visible tests is still caught by the hidden ones
    assert found[("double", "adds two")].named and "negative" in found[("double", "adds two")].headline
    assert demo_report.problems == []


def test_unnamed_and_free_mistakes_are_reported(demo_report):
    """Are a mistake whose message is missing and one that earns full marks both reported, failing the run?"""
    found = by_name(demo_report)
    unnamed, free = found[("add_all", "rounds to int")], found[("add_all", "uses sum")]
    assert unnamed.costs_points and not unnamed.named
    assert "floats" in unnamed.headline and "running total" not in unnamed.headline
    assert not free.costs_points and not free.named
    table = render([demo_report])
    assert "NOT NAMED (expected 'running total')" in table
    assert "uses sum: 2/2  FREE (full marks)" in table
    assert "3 of 5 mistakes named." in table
    assert failed([demo_report])


def test_cli_exit_code_and_release_strips_the_catalogue(demo_course, monkeypatch, capsys):
    """Does `proximal mistakes` exit non-zero on the demo's bad entries, and is no catalogue left in the release?"""
    monkeypatch.chdir(demo_course)
    assert main(["mistakes", "00-demo"]) == 1
    assert "3 of 5 mistakes named." in capsys.readouterr().out
    released = read_notebook(demo_course / "exercises" / "00-demo" / DEMO_NB)
    assert all("mistakes" not in c.metadata.get("proximal", {}) for c in released.cells)
    assert "rounds to int" not in (demo_course / "exercises" / "00-demo" / DEMO_NB).read_text()


def _catalogued() -> list[Path]:
    return [
        path
        for module in modules(ROOT)
        for path in source_notebooks(ROOT, module)
        if any(catalogue(c) for c in read_notebook(path).cells if is_answer_cell(c))
    ]


@pytest.mark.parametrize("notebook", _catalogued(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_course_catalogue_is_named_and_costs_points(notebook):
    """In each course notebook that has a catalogue, does every mistake cost points and get its own message?"""
    # cascades (what a mistake costs later exercises) are reported by `proximal mistakes`, and the
    # check's "fix it first" is tested in test_check.py; here only the verdicts count
    report = check_notebook(notebook, cascades=False)
    assert report.problems == [], report.problems
    bad = [r for r in report.results if not r.named]
    assert not bad, render([report])
