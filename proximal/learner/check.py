"""``proximal check``: the learner's self-check.

The learner's saved notebook is merged with the *source* notebook (tests, hidden ones included,
always come from ``solutions/``, never from the learner's copy), run in a fresh kernel with a
per-cell time limit, and scored cell by cell with nbgrader's own rule
(:func:`nbgrader.utils.determine_grade`). The result is a table per exercise that says what
went wrong in the learner's terms and which hint to open next.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from nbformat import NotebookNode

from autograder import pipeline
from autograder.nbgrader_env import course_config
from autograder.notebooks import (
    HINT_REF,
    CourseError,
    Exercise,
    exercises,
    find_course_root,
    read_notebook,
)
from autograder.pipeline import CellScore


@dataclass
class CellResult:
    grade_id: str
    exercise: str
    points: float
    max_points: float
    message: str = ""
    evidence: str = ""  # every error and warning the cell printed: what the peer advice reads


@dataclass
class ExerciseResult:
    name: str
    level: str
    points: float
    max_points: float
    messages: list[str] = field(default_factory=list)
    evidence: list[str] = field(default_factory=list)
    attempted: bool = True
    hints: int = 0

    @property
    def passed(self) -> bool:
        return self.max_points > 0 and self.points >= self.max_points

    def next_hint(self) -> int | None:
        """The hint the failing assertion names, else the first one; None when there is none."""
        if self.passed or not self.hints:
            return None
        for message in self.messages:
            match = HINT_REF.search(message)
            if match:
                return int(match.group(1))
        return 1


@dataclass
class CheckReport:
    notebook: Path
    exercises: list[ExerciseResult]
    problems: list[str] = field(default_factory=list)
    cells: list[CellResult] = field(default_factory=list)  # per test cell, in notebook order

    @property
    def points(self) -> float:
        return sum(e.points for e in self.exercises)

    @property
    def max_points(self) -> float:
        return sum(e.max_points for e in self.exercises)

    @property
    def all_passed(self) -> bool:
        return all(e.passed for e in self.exercises)


# ---------------------------------------------------------------- merging


def source_for(notebook: Path, root: Path) -> Path:
    """The nbgrader source of a learner's notebook: ``solutions/<module folder>/<same file name>``."""
    source = root / "solutions" / notebook.parent.name / notebook.name
    if not source.is_file():
        raise CourseError(
            f"{notebook.name} is not a course exercise notebook: there is no {source.relative_to(root)}. "
            "Check a notebook inside a module folder, e.g. exercises/01-asyncio/asyncio-exercises.ipynb."
        )
    return source


# ---------------------------------------------------------------- scoring


def cell_results(cells: list[CellScore]) -> list[CellResult]:
    """The engine's cell scores, in the learner's terms."""
    results: list[CellResult] = []
    for cell in cells:
        node = cell.cell
        exercise = (node.metadata.get("proximal", {}).get("exercise") if node else None) or cell.grade_id
        if not cell.ran:
            why = "did not run: the kernel died earlier (exit(), os._exit, a crash or running out of memory)"
            results.append(CellResult(cell.grade_id, exercise, 0.0, cell.max_points, why))
            continue
        message, evidence = (_failure(node), _evidence(node)) if node is not None else ("", "")
        results.append(CellResult(cell.grade_id, exercise, cell.points, cell.max_points, message, evidence))
    return results


def _evidence(cell: NotebookNode) -> str:
    texts = []
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            texts.append(f"{output.get('ename', '')}: {output.get('evalue', '')}")
        elif output.get("output_type") == "stream" and output.get("name") == "stderr":
            texts.append("".join(output.get("text", ""))[:2000])
    return "\n".join(texts)


def _failure(cell: NotebookNode) -> str:
    # an error says more than a warning printed before it, so look at errors first
    outputs = sorted(cell.get("outputs", []), key=lambda o: o.get("output_type") != "error")
    for output in outputs:
        if output.get("output_type") == "error":
            name, value = output.get("ename", "Error"), str(output.get("evalue", "")).strip()
            if name == "NotImplementedError":
                return "not attempted yet (the answer still raises NotImplementedError)"
            if name == "AssertionError" and value:
                return value
            return f"{name}: {value}" if value else name
        if output.get("output_type") == "stream" and output.get("name") == "stderr":
            return "the test printed to stderr: " + "".join(output.get("text", ""))[:200].strip()
    return ""


def summarise(cells: list[CellResult], source: NotebookNode) -> list[ExerciseResult]:
    by_name = exercises(source)
    results: dict[str, ExerciseResult] = {}
    for name, spec in by_name.items():
        if spec.test_ids:
            results[name] = ExerciseResult(name, spec.level, 0.0, 0.0, hints=len(spec.hints))
    for cell in cells:
        spec = by_name.get(cell.exercise, Exercise(cell.exercise))
        result = results.setdefault(cell.exercise, ExerciseResult(cell.exercise, spec.level, 0.0, 0.0))
        result.points += cell.points
        result.max_points += cell.max_points
        if cell.points < cell.max_points and cell.evidence:
            result.evidence.append(cell.evidence)
        if cell.message:
            result.messages.append(cell.message)
            if cell.message.startswith("not attempted"):
                result.attempted = False
    return list(results.values())


# ---------------------------------------------------------------- the command


def run_check(notebook: str | os.PathLike[str], timeout: int | None = None) -> CheckReport:
    """Check a learner's saved notebook against the full tests. Raises :class:`CourseError` for bad input.

    The notebook goes through the grading engine's pipeline (:mod:`autograder.pipeline`) with the
    course's nbgrader configuration: the same preprocessors and scoring as ``proximal grade``,
    without the sandbox and without a gradebook. ``timeout`` overrides the per-cell limit.
    """
    path = Path(notebook).resolve()
    root = find_course_root(path.parent)
    source_path = source_for(path, root)
    learner = read_notebook(path)
    source = read_notebook(source_path)
    overrides: dict = {"Execute": {"extra_arguments": ["--IPKernelApp.log_level=CRITICAL"]}}
    if timeout is not None:
        overrides["Execute"]["timeout"] = timeout
    try:
        run, notes = pipeline.run(learner, source, path.parent, course_config(root, **overrides))
    except RuntimeError as exc:  # nbclient's own wrapper around a kernel that never started
        raise CourseError(f"Could not start a Python kernel: {exc}") from exc
    problems = list(notes)
    if run.kernel_died:
        problems.append("the kernel died while running the notebook; the tests after that point did not run")
    cells = cell_results(run.cells)
    return CheckReport(path, summarise(cells, source), problems, cells)


LEVEL_NAMES = {"warmup": "warm-up", "core": "core", "stretch": "stretch"}


def render(report: CheckReport) -> str:
    """The table the learner sees."""
    rows = [("Exercise", "Level", "Points", "Result")]
    advice: list[str] = []
    for ex in report.exercises:
        if ex.passed:
            result = "passed"
        elif not ex.attempted:
            result = "not attempted yet"
        else:
            result = "FAILED: " + (ex.messages[0] if ex.messages else "a test failed")
        rows.append(
            (ex.name, LEVEL_NAMES.get(ex.level, ex.level), f"{_fmt(ex.points)}/{_fmt(ex.max_points)}", result)
        )
        hint = ex.next_hint()
        if hint is not None and ex.attempted:
            advice.append(f"  {ex.name}: open Hint {hint} below the exercise.")
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = [f"Checked {report.notebook.name}"]
    for i, row in enumerate(rows):
        text = "  ".join(col.ljust(widths[j]) for j, col in enumerate(row[:3]))
        mark = "" if i == 0 else ("✓ " if row[3] == "passed" else "✗ ")
        lines.append(f"{text}  {mark}{_clip(row[3], 160)}")
        if i == 0:
            lines.append("-" * (sum(widths) + 6 + 40))
    lines.append(f"Total: {_fmt(report.points)}/{_fmt(report.max_points)} points")
    for problem in report.problems:
        lines.append(f"Note: {problem}")
    if advice:
        lines.append("Next hints to open:")
        lines.extend(advice)
    from proximal.learner.advice import advice_lines  # pointers to the lesson section behind a failure

    lines.extend(advice_lines(report))
    todo = next((e for e in report.exercises if not e.passed), None)
    if todo is None:
        lines.append("Everything passes. Well done: on to the next module!")
    else:
        lines.append(f"Next step: work on '{todo.name}' ({LEVEL_NAMES.get(todo.level, todo.level)}).")
    return "\n".join(lines)


def _fmt(value: float) -> str:
    return f"{value:g}"


def _clip(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def check_in_notebook(path: str) -> None:
    """Run ``proximal check`` on the saved notebook in a separate process and print the table."""
    completed = subprocess.run(
        [sys.executable, "-m", "proximal", "check", str(path)], capture_output=True, text=True, check=False
    )
    print(completed.stdout, end="")
    if completed.returncode not in (0, 1):
        print(completed.stderr, end="")
