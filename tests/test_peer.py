"""Adaptive feedback (proximal.learner.advice): failures caused by an earlier lesson's skill point to that lesson."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import DEMO_CORRECT as CORRECT
from conftest import DEMO_NB as NB

from proximal.learner.advice import load_rules, match, section_for
from proximal.learner.check import CheckReport, ExerciseResult, render, run_check

ROOT = Path(__file__).resolve().parent.parent


RULES = load_rules(ROOT)


def names(messages):
    return [r.name for r in match(messages, RULES)]


def test_coroutine_answer_points_to_the_asyncio_lesson(demo_course, variant):
    """When an answer returns a coroutine instead of a value, does the check point to module 01's coroutine section?"""
    answers = {**CORRECT, "add_all": "async def add_all(xs):\n    return sum(xs)\n"}
    shutil.copytree(ROOT / "course", demo_course / "course")  # the course's advice and lessons
    nb = variant(
        demo_course / "exercises" / "00-demo" / NB,
        demo_course / "workspace" / "00-demo" / NB,
        answers=answers,
    )
    report = run_check(nb)
    table = render(report)
    assert "add_all" in table and "coroutine" in table
    advice = " ".join(table.split("skill from a lesson:")[1].split())  # lines wrap: read it as one text
    assert advice.startswith("add_all:") and "await" in advice
    assert "course/01-asyncio/asyncio-lesson.ipynb" in advice
    assert "double:" not in table.split("skill from a lesson")[-1], "only the failing exercise gets a pointer"


def test_passing_notebook_gets_no_pointer(demo_course, variant):
    """Does a notebook whose tests all pass get no lesson pointer?"""
    nb = variant(
        demo_course / "exercises" / "00-demo" / NB,
        demo_course / "workspace" / "00-demo" / NB,
        answers=CORRECT,
    )
    assert "skill from a lesson" not in render(run_check(nb))


@pytest.mark.parametrize(
    "message, rule",
    [
        ("add_all([1, 2]) returned <coroutine object add_all at 0x7f>, expected 3", "missing-await"),
        ("TypeError: 'coroutine' object is not iterable", "missing-await"),
        ("the test printed to stderr: RuntimeWarning: coroutine 'fetch' was never awaited", "missing-await"),
        ("RuntimeError: asyncio.run() cannot be called from a running event loop", "nested-event-loop"),
        (
            "RuntimeError: The size of tensor a (3) must match the size of tensor b (4) at non-singleton dimension 1",
            "tensor-shape",
        ),
        ("RuntimeError: mat1 and mat2 shapes cannot be multiplied (4x3 and 4x2)", "tensor-shape"),
        ("RuntimeError: expected scalar type Long but found Float", "tensor-dtype"),
        ("RuntimeError: element 0 of tensors does not require grad and does not have a grad_fn", "autograd"),
        ("RuntimeError: await wasn't used with future", "missing-await"),
        ("RuntimeError: Expected target size [4, 11], got [4, 7]", "classes-second"),
        ("a 404 must raise aiohttp.ClientResponseError (status 404), got 200", "error-status"),
    ],
)
def test_patterns(message, rule):
    """Does each typical error message select the rule for the skill behind it?"""
    assert rule in names([message])


def test_unrelated_failures_get_no_pointer():
    """Do ordinary wrong answers and not-attempted stubs get no lesson pointer?"""
    assert (
        names(
            ["add_all([1, 2, 3]) returned 0, expected 6 (see Hint 2)", "ZeroDivisionError: division by zero"]
        )
        == []
    )
    report = CheckReport(
        Path("/nowhere/00-x/x.ipynb"),
        [
            ExerciseResult(
                "a",
                "core",
                0,
                2,
                ["not attempted yet (the answer still raises NotImplementedError)"],
                attempted=False,
            )
        ],
    )
    assert "skill from a lesson" not in render(report)


@pytest.mark.parametrize(
    "message, rule",
    [
        # code that calls raise_for_status raises this too: no sign that it forgot to
        (
            "ClientResponseError(RequestInfo(url=...), status=503, message='Service Unavailable')",
            "error-status",
        ),
        (
            "ClientResponseError(RequestInfo(url=...), status=503, message='Service Unavailable')",
            "unbounded-fan-out",
        ),
    ],
)
def test_patterns_that_would_mislead_do_not_fire(message, rule):
    """Does an error that only mentions a skill's exception, not its mistake, stay without that advice?"""
    assert rule not in names([message])


def test_advice_never_points_to_a_later_module():
    """In module 05, does a failure that a module-07 rule matches get no pointer into the lesson not yet reached?"""
    from proximal.learner.advice import pointers

    message = "dropout at test time: two forward passes in evaluation mode gave different logits"
    assert "eval-mode" in names([message])  # module 07's rule
    failing = ExerciseResult("fit", "core", 0, 2, [message], attempted=True)
    in_05 = pointers(CheckReport(ROOT / "workspace" / "05-pytorch" / "x.ipynb", [failing]), ROOT)
    in_07 = pointers(CheckReport(ROOT / "workspace" / "07-gnn" / "x.ipynb", [failing]), ROOT)
    assert all(p.rule.module <= "05-pytorch" for p in in_05)
    assert any(p.rule.module == "07-gnn" for p in in_07)


def test_named_sections_exist_in_the_lessons():
    """Does every piece of advice point to a real heading of its module's lesson?"""
    assert RULES, "the course has no advice.toml"
    for rule in RULES:
        assert section_for(rule, ROOT) is not None, (
            f"{rule.name}: no heading containing {rule.section!r} in course/{rule.module}/{rule.lesson}"
        )
