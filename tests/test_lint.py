"""Lint rules for hints and the mistake catalogue (`proximal lint`), on small in-memory notebooks."""

from __future__ import annotations

import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from proximal.authoring.lint import (
    catalogue_problems,
    hint_content_problems,
    lint_notebook,
    substantive_lines,
)

SOLUTION = (
    "def add_all(xs):\n"
    "    ### BEGIN SOLUTION\n"
    "    # walk the list\n"
    "    total = 0\n"
    "    for x in xs:\n"
    "        total += x\n"
    "    return total\n"
    "    ### END SOLUTION\n"
)
GOOD = {
    1: "Which number would you keep while you walk the list? (lesson, section 2)",
    2: "Start from zero and add each element in a loop.",
    3: "The same idea for a product:\n\n```python\nproduct = 1\nfor y in ys:\n    product *= ...\n```",
}
LABELS = {1: "a question", 2: "the method", 3: "a sketch"}


def answer_cell(level: str = "core", mistakes: list | None = None):
    cell = new_code_cell(SOLUTION)
    cell.metadata["nbgrader"] = {
        "grade": False,
        "solution": True,
        "locked": False,
        "task": False,
        "grade_id": "add_all",
        "schema_version": 3,
    }
    cell.metadata["proximal"] = {"exercise": "add_all", "level": level}
    if mistakes is not None:
        cell.metadata["proximal"]["mistakes"] = mistakes
    return cell


def hint_cell(level: int, text: str, total: int = 3):
    cell = new_markdown_cell(
        f"<details><summary><b>Hint {level} of {total} — {LABELS[level]}</b></summary>\n\n{text}\n\n</details>"
    )
    cell.metadata["proximal"] = {"exercise": "add_all", "hint": level}
    return cell


def notebook(hints: dict[int, str] | None = None, **answer):
    return new_notebook(cells=[answer_cell(**answer)] + [hint_cell(k, t) for k, t in (hints or GOOD).items()])


def test_good_hints_pass():
    """Do a question with a section, a method in words and a sketch of another problem pass?"""
    assert hint_content_problems(notebook()) == []


def test_substantive_lines_skip_comments_and_trivial_lines():
    """Are comments, `return total` and blank lines left out of the solution's substantive lines?"""
    assert substantive_lines(SOLUTION) == ["total = 0", "for x in xs:", "total += x"]


@pytest.mark.parametrize(
    "level, text, expected",
    [
        (1, "Keep a running total (lesson, section 2).", "must ask a question"),
        (1, "What would you keep while you walk the list?", "must name the lesson section"),
        (2, "Like this:\n\n```python\ntotal = 0\nfor x in xs:\n    total = total + x\n```", "in words"),
        (3, "```python\ntotal = 0\nfor x in xs:\n    total += ...\n```", "repeats 2 of the solution's 3"),
    ],
)
def test_bad_hints_are_reported(level, text, expected):
    """Is each broken hint rule reported: no question, no section, code in hint 2, the solution repeated?"""
    problems = hint_content_problems(notebook({**GOOD, level: text}))
    assert any(expected in p for p in problems), problems


def test_hint_one_may_name_a_lesson_heading():
    """Does naming a heading of the module's lesson count as naming the section?"""
    text = "What do you keep while you walk the list? See Running totals."
    assert hint_content_problems(notebook({**GOOD, 1: text}), headings=["3. Running totals"]) == []
    assert hint_content_problems(notebook({**GOOD, 1: text}), headings=[]) != []


def test_a_hint_repeating_one_of_three_lines_is_allowed():
    """May a hint repeat up to a third of the solution's lines (one of three)?"""
    text = "Sketch:\n\n```python\ntotal = 0\n...\n```"
    assert hint_content_problems(notebook({**GOOD, 3: text})) == []


def test_mistake_entries_need_name_code_and_message():
    """Is a catalogue entry without a message, or with a non-string code, reported?"""
    bad = [
        {"name": "zero", "code": "def add_all(xs):\n    return 0\n"},
        {"name": "x", "code": 3, "message": "m"},
    ]
    problems = catalogue_problems(notebook(mistakes=bad))
    assert any("missing or empty 'message'" in p for p in problems)
    assert any("'code' must be a string" in p for p in problems)


def test_minimum_counts_only_under_the_option():
    """Are the minimum catalogue sizes (3 per core, 1 per warm-up) enforced only with require_catalogue?"""
    one = [{"name": "zero", "code": "def add_all(xs):\n    return 0\n", "message": "returned 0"}]
    assert catalogue_problems(notebook(mistakes=one)) == []
    assert any("needs 3" in p for p in catalogue_problems(notebook(mistakes=one), require_catalogue=True))
    assert catalogue_problems(notebook(mistakes=one, level="warmup"), require_catalogue=True) == []
    assert any("needs 1" in p for p in catalogue_problems(notebook(level="stretch"), require_catalogue=True))


def test_lint_notebook_includes_the_hint_rules():
    """Does the whole-notebook lint report a hint that repeats the solution?"""
    copied = "```python\ntotal = 0\nfor x in xs:\n    total += x\n```"
    assert any("repeats" in p for p in lint_notebook(notebook({**GOOD, 3: copied})))
