"""Adaptive feedback: when a failure shows that a skill from a lesson is the cause, say which section teaches it.

A more-knowledgeable peer reading a failed test would often say "you forgot an ``await``: see how
coroutines work" rather than repeat the assertion. :data:`RULES` is a small table of
(pattern, module, lesson, section, advice). The section is looked up by keywords among the
lesson's headings, so renumbering a lesson does not break the pointer; while a lesson does not
exist yet, the rule's fallback title is shown.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path


@dataclass(frozen=True)
class Rule:
    name: str
    pattern: re.Pattern[str]
    module: str  # e.g. "01-asyncio"
    lesson: str  # file name inside course/<module>/
    section_keywords: tuple[str, ...]  # every keyword must be in the heading (case-insensitive)
    fallback_section: str
    advice: str


def _rx(text: str) -> re.Pattern[str]:
    return re.compile(text, re.I | re.S)


RULES: tuple[Rule, ...] = (
    Rule(
        "missing-await",
        _rx(r"coroutine object|was never awaited|'coroutine' object|TypeError:.*coroutine|a coroutine was expected"),
        "01-asyncio", "asyncio-lesson.ipynb", ("coroutine",), "Coroutine functions vs functions",
        "a coroutine object turned up where a value was expected: calling an `async def` function only "
        "creates a coroutine; `await` it (or pass it to `asyncio.gather`) to get its result.",
    ),
    Rule(
        "nested-event-loop",
        _rx(r"asyncio\.run\(\) cannot be called from a running event loop|This event loop is already running"),
        "01-asyncio", "asyncio-lesson.ipynb", ("event loop",), "The event loop, `asyncio.run`, and Jupyter",
        "there is already an event loop running here: inside `async def` code (and in Jupyter) use `await`, "
        "not `asyncio.run`.",
    ),
    Rule(
        "unclosed-session",
        _rx(r"Unclosed client session|Unclosed connector"),
        "02-aiohttp", "aiohttp-lesson.ipynb", ("session",), "One session, reused",
        "an aiohttp session was left open: create it with `async with aiohttp.ClientSession() as session:`.",
    ),
    Rule(
        "tensor-shape",
        _rx(r"size of tensor a|mat1 and mat2|shapes? .*cannot be multiplied|must match the size of tensor|"
            r"Expected input batch_size|RuntimeError:.*\bshape\b|shape '\[\d|"
            r"Given groups=.*expected input"),
        "05-pytorch", "pytorch-lesson.ipynb", ("tensor",), "Tensors: shapes, dtypes and devices",
        "two tensors' shapes do not fit together: print `.shape` of each input and of each intermediate "
        "result, and check which dimension is the batch.",
    ),
    Rule(
        "tensor-dtype",
        _rx(r"expected scalar type|Found dtype|expected .*dtype|result type Float can't be cast"),
        "05-pytorch", "pytorch-lesson.ipynb", ("tensor",), "Tensors: shapes, dtypes and devices",
        "a tensor has the wrong dtype: class targets are `torch.long`, inputs and weights `torch.float32`.",
    ),
    Rule(
        "autograd",
        _rx(r"does not require grad and does not have a grad_fn|backward through the graph a second time|"
            r"a leaf Variable that requires grad"),
        "05-pytorch", "pytorch-lesson.ipynb", ("autograd",), "Autograd",
        "the computation graph was cut or reused: build the loss from tensors that require grad, "
        "call `backward()` once per step, and change parameters only under `torch.no_grad()`.",
    ),
)


@dataclass(frozen=True)
class Pointer:
    exercise: str
    rule: Rule
    lesson_path: str  # relative to the course folder
    section: str

    def text(self, current_module: str | None = None) -> str:
        where = "this module's lesson" if self.rule.module == current_module else f"module {self.rule.module[:2]}'s lesson"
        return (f"  {self.exercise}: {self.rule.advice} See {where}, {self.lesson_path}, "
                f"section \"{self.section}\".")


def match(messages: list[str]) -> list[Rule]:
    """The rules whose pattern appears in any of the failure messages, in table order."""
    return [rule for rule in RULES if any(rule.pattern.search(m) for m in messages)]


@lru_cache(maxsize=32)
def _headings(lesson: Path, mtime: float) -> tuple[str, ...]:
    from autograder.notebooks import read_notebook

    found: list[str] = []
    for cell in read_notebook(lesson).cells:
        if cell.cell_type == "markdown":
            found += [line.lstrip("#").strip() for line in cell.source.splitlines() if line.startswith("#")]
    return tuple(found)


def section_for(rule: Rule, root: Path | None) -> str:
    """The lesson heading the rule points to (by keywords), or its fallback title."""
    if root is not None:
        lesson = root / "course" / rule.module / rule.lesson
        try:
            headings = _headings(lesson, lesson.stat().st_mtime)
        except Exception:  # missing or unreadable lesson: use the fallback
            headings = ()
        for heading in headings:
            if all(k.lower() in heading.lower() for k in rule.section_keywords):
                return heading
    return rule.fallback_section


def pointers(report, root: Path | None = None) -> list[Pointer]:
    """One pointer per (failed exercise, matching rule) in a :class:`autograder.check.CheckReport`."""
    found: list[Pointer] = []
    for ex in report.exercises:
        if ex.passed or not ex.attempted:
            continue
        for rule in match(ex.messages + getattr(ex, "evidence", [])):
            found.append(Pointer(ex.name, rule, f"course/{rule.module}/{rule.lesson}", section_for(rule, root)))
    return found


def advice_lines(report) -> list[str]:
    """The lines ``render()`` adds under the table; empty when no rule matches. Never raises."""
    try:
        from autograder.notebooks import find_course_root

        try:
            root = find_course_root(Path(report.notebook).parent)
        except Exception:
            root = None
        found = pointers(report, root)
        if not found:
            return []
        module = Path(report.notebook).parent.name
        return ["What went wrong may be a skill from a lesson:"] + [p.text(module) for p in found]
    except Exception:  # advice is extra: it must never break the check's table
        return []
