"""Adaptive feedback: when a failure shows that a skill from a lesson is the cause, say which section teaches it.

A more-knowledgeable peer reading a failed test would often say "you forgot an ``await``: see how
coroutines work" rather than repeat the assertion. The course keeps that knowledge as data, in
``course/<module>/advice.toml`` beside the lesson each piece points to (see docs/authoring.md):
a pattern, the lesson section, the advice. The section is found among the lesson's headings by
its text, so renumbering a lesson does not break the pointer.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path


@dataclass(frozen=True)
class Rule:
    name: str
    pattern: re.Pattern[str]
    module: str  # e.g. "01-asyncio": the module whose lesson teaches the skill
    lesson: str  # file name inside course/<module>/
    section: str  # part of a heading of that lesson (case-insensitive)
    advice: str


def load_rules(root: Path) -> tuple[Rule, ...]:
    """Every module's advice, from ``course/<module>/advice.toml``, in ladder order.

    The course keeps this knowledge beside the lessons it points to; the engine knows none of it.
    """
    rules: list[Rule] = []
    for path in sorted((root / "course").glob("*/advice.toml")):
        lessons = sorted(path.parent.glob("*-lesson.ipynb"))
        lesson = lessons[0].name if lessons else ""
        with open(path, "rb") as handle:
            entries = tomllib.load(handle).get("advice", [])
        for entry in entries:
            rules.append(
                Rule(
                    entry["name"],
                    re.compile(entry["pattern"], re.I | re.S),
                    path.parent.name,
                    lesson,
                    entry["section"],
                    " ".join(entry["text"].split()),
                )
            )
    return tuple(rules)


@dataclass(frozen=True)
class Pointer:
    exercise: str
    rule: Rule
    lesson_path: str  # relative to the course folder
    section: str

    def text(self, current_module: str | None = None) -> str:
        where = (
            "this module's lesson"
            if self.rule.module == current_module
            else f"module {self.rule.module[:2]}'s lesson"
        )
        return (
            f"  {self.exercise}: {self.rule.advice} See {where}, {self.lesson_path}, "
            f'section "{self.section}".'
        )


def match(messages: list[str], rules: tuple[Rule, ...]) -> list[Rule]:
    """The rules whose pattern appears in any of the failure messages, in ladder order."""
    return [rule for rule in rules if any(rule.pattern.search(m) for m in messages)]


@lru_cache(maxsize=32)
def _headings(lesson: Path, mtime: float) -> tuple[str, ...]:
    from autograder.notebooks import read_notebook

    found: list[str] = []
    for cell in read_notebook(lesson).cells:
        if cell.cell_type == "markdown":
            found += [line.lstrip("#").strip() for line in cell.source.splitlines() if line.startswith("#")]
    return tuple(found)


def section_for(rule: Rule, root: Path) -> str | None:
    """The lesson heading the rule points to, or None when the lesson has no such heading."""
    lesson = root / "course" / rule.module / rule.lesson
    if not lesson.is_file():
        return None
    for heading in _headings(lesson, lesson.stat().st_mtime):
        if rule.section.lower() in heading.lower():
            return heading
    return None


def pointers(report, root: Path) -> list[Pointer]:
    """One pointer per (failed exercise, matching rule) in a :class:`proximal.learner.check.CheckReport`."""
    # a peer points back to what was taught, never ahead: in a module of the ladder, rules of
    # later modules are left out (a notebook outside the ladder gets every rule)
    here = Path(report.notebook).parent.name
    rules = load_rules(root)
    if (root / "course" / here).is_dir():
        rules = tuple(rule for rule in rules if rule.module <= here)
    found: list[Pointer] = []
    for ex in report.exercises:
        if ex.passed or not ex.attempted:
            continue
        for rule in match(ex.messages + getattr(ex, "evidence", []), rules):
            section = section_for(rule, root) or rule.section
            found.append(Pointer(ex.name, rule, f"course/{rule.module}/{rule.lesson}", section))
    return found


def advice_lines(report) -> list[str]:
    """The lines ``render()`` adds under the table; empty when no rule matches. Never raises."""
    try:
        from autograder.notebooks import find_course_root

        found = pointers(report, find_course_root(Path(report.notebook).parent))
        if not found:
            return []
        module = Path(report.notebook).parent.name
        return ["What went wrong may be a skill from a lesson:"] + [p.text(module) for p in found]
    except Exception:  # advice is extra: it must never break the check's table
        return []
