"""``proximal check``: the learner's self-check.

The learner's saved notebook is merged with the *source* notebook (tests, hidden ones included,
always come from ``solutions/``, never from the learner's copy), run in a fresh kernel with a
per-cell time limit, and scored cell by cell with nbgrader's own rule
(:func:`nbgrader.utils.determine_grade`). The result is a table per exercise that says what
went wrong in the learner's terms and which hint to open next.
"""

from __future__ import annotations

import html
import os
import re
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

from nbformat import NotebookNode

from autograder import pipeline
from autograder.merge import clear_solution
from autograder.nbgrader_env import course_config
from autograder.notebooks import (
    HINT_REF,
    CourseError,
    Exercise,
    exercises,
    find_course_root,
    grade_id,
    is_answer_cell,
    is_test_cell,
    proximal_meta,
    read_notebook,
    source_of,
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
    frames: list[str] = field(default_factory=list)  # notebook functions the error's traceback passed through


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
    revealed: int = 0  # the highest hint level the learner has opened (measured: button or `proximal hint`)
    blocked_by: str | None = None  # another exercise whose failure is the cause: "fix it first"
    frames: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.max_points > 0 and self.points >= self.max_points

    def next_hint(self) -> int | None:
        """The next hint the learner has not opened yet (never skipping one); None when there is none.

        None too when the exercise passed, is not started, or fails because of another exercise.
        """
        if self.passed or not self.hints or not self.attempted or self.blocked_by:
            return None
        return self.revealed + 1 if self.revealed < self.hints else None

    def named_hint(self) -> int | None:
        """The hint the failing assertion names ("see Hint 2"), if any."""
        for message in self.messages:
            match = HINT_REF.search(message)
            if match:
                return int(match.group(1))
        return None


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
    source = source_of(notebook, root)
    if source is None:
        raise CourseError(
            f"{notebook.name} is not a course exercise notebook: there is no "
            f"solutions/{notebook.parent.name}/{notebook.name}. "
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
        frames = _frames(node) if node is not None else []
        results.append(
            CellResult(cell.grade_id, exercise, cell.points, cell.max_points, message, evidence, frames)
        )
    return results


_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_CELL_FRAME = re.compile(r"Cell In\[\d+\], line \d+, in (\w+)\(")


def _frames(cell: NotebookNode) -> list[str]:
    """Names of the notebook-defined functions an error's traceback passed through, outermost first."""
    found: list[str] = []
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            text = _ANSI.sub("", "\n".join(output.get("traceback", [])))
            found += _CELL_FRAME.findall(text)
    return found


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


def summarise(
    cells: list[CellResult],
    source: NotebookNode,
    learner: NotebookNode | None = None,
    detect_cascades: bool = True,
) -> list[ExerciseResult]:
    """Cell results grouped by exercise, in notebook order.

    ``learner`` (the learner's notebook, when known) tells which answers are still the released
    stub ("not started"); with ``detect_cascades``, an exercise that fails because another
    exercise's function is wrong gets ``blocked_by`` (see :func:`find_cascades`).
    """
    from proximal.learner.hints import released_hints

    by_name = exercises(source)
    results: dict[str, ExerciseResult] = {}
    for name, spec in by_name.items():
        if spec.test_ids:
            count = len(spec.hints) or len(
                released_hints(source, name)
            )  # a released notebook: its hints cell
            results[name] = ExerciseResult(name, spec.level, 0.0, 0.0, hints=count)
    for cell in cells:
        spec = by_name.get(cell.exercise, Exercise(cell.exercise))
        result = results.setdefault(cell.exercise, ExerciseResult(cell.exercise, spec.level, 0.0, 0.0))
        result.points += cell.points
        result.max_points += cell.max_points
        if cell.points < cell.max_points and cell.evidence:
            result.evidence.append(cell.evidence)
        if cell.points < cell.max_points:
            result.frames += cell.frames
        if cell.message:
            result.messages.append(cell.message)
            if cell.message.startswith("not attempted"):
                result.attempted = False
    answers = answer_sources(learner if learner is not None else source, source)
    stubs = {name: clear_solution(text) for name, text in answer_sources(source, source).items()}
    for name, result in results.items():
        if learner is not None and name in answers:
            # not started = the answer is still the released stub; an answer that calls another
            # exercise's stub raises NotImplementedError too, but it was started
            result.attempted = answers[name].strip() != stubs.get(name, "").strip()
    if detect_cascades:
        find_cascades(list(results.values()), source, answers)
    return list(results.values())


def answer_sources(nb: NotebookNode, source: NotebookNode) -> dict[str, str]:
    """Exercise name -> the code of its answer cell in ``nb`` (matched to ``source`` by grade id)."""
    names: dict[str | None, str] = {
        grade_id(c): str(proximal_meta(c).get("exercise")) for c in source.cells if is_answer_cell(c)
    }
    return {names[grade_id(c)]: c.source for c in nb.cells if grade_id(c) in names and names[grade_id(c)]}


_DEFINES = re.compile(r"^(?:async\s+def|def|class)\s+(\w+)", re.M)


def find_cascades(results: list[ExerciseResult], source: NotebookNode, answers: dict[str, str]) -> None:
    """Set ``blocked_by`` on each failing exercise whose cause is another exercise that fails too.

    Exercise E is blocked by F when F loses points (or is not started) and either the traceback
    of E's failure passes through a function F's answer defines, or E's answer or tests call one.
    Of several such F, the first in the notebook is named.
    """
    defined = {name: set(_DEFINES.findall(answer_sources(source, source).get(name, ""))) for name in answers}
    tests: dict[str, str] = {}
    for cell in source.cells:
        if is_test_cell(cell):
            name = str(proximal_meta(cell).get("exercise"))
            tests[name] = tests.get(name, "") + "\n" + cell.source
    failing = [r.name for r in results if not r.passed and r.max_points > 0]
    for result in results:
        if result.passed or not result.attempted:
            continue
        code = answers.get(result.name, "") + tests.get(result.name, "")
        for other in failing:
            if other == result.name or not defined.get(other):
                continue
            names = defined[other] - defined.get(result.name, set())
            traced = any(frame in names for frame in result.frames)
            called = any(re.search(rf"\b{re.escape(n)}\s*\(", code) for n in names)
            if traced or called:
                result.blocked_by = other
                break


def headline(ex: ExerciseResult) -> str:
    """What the check says about one exercise, in one sentence (the table's Result column)."""
    if ex.passed:
        return "passed"
    if not ex.attempted:
        return "not started"
    if ex.blocked_by:
        # the message is this exercise's own: say so, or it reads as the other exercise's fault
        return (
            f"fix `{ex.blocked_by}` first: this exercise uses it, and `{ex.blocked_by}` fails its own tests"
            + (f". This exercise's test said: {ex.messages[0]}" if ex.messages else "")
        )
    return "FAILED: " + (ex.messages[0] if ex.messages else "a test failed")


# ---------------------------------------------------------------- the command


def run_check(notebook: str | os.PathLike[str], timeout: int | None = None) -> CheckReport:
    """Check a learner's saved notebook against the full tests. Raises :class:`CourseError` for bad input.

    The notebook goes through the grading engine's pipeline (:mod:`autograder.pipeline`) with the
    course's nbgrader configuration: the same preprocessors and scoring as ``proximal grade``,
    without the sandbox and without a gradebook. ``timeout`` overrides the per-cell limit.
    """
    path = Path(notebook).resolve()
    root = find_course_root(path.parent)
    return check_against(path, read_notebook(source_for(path, root)), root, timeout)


def check_against(path: Path, source: NotebookNode, root: Path, timeout: int | None = None) -> CheckReport:
    """Check the saved notebook at ``path`` against the tests of ``source`` (the nbgrader source, or a
    release when only the visible tests are at hand, as on a workshop hub)."""
    learner = read_notebook(path)
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
    results = summarise(cells, source, learner)
    set_revealed(results, root, path)
    return CheckReport(path, results, problems, cells)


def set_revealed(results: list[ExerciseResult], root: Path, notebook: Path) -> None:
    """Fill in each exercise's highest opened hint from the learner's progress record."""
    try:
        from proximal.learner.progress import notebook_key, revealed

        opened = revealed(root, notebook_key(notebook))
    except Exception:  # progress is a convenience: without it, the check suggests Hint 1
        return
    for result in results:
        result.revealed = opened.get(result.name, 0)


LEVEL_NAMES = {"warmup": "warm-up", "core": "core", "stretch": "stretch"}
WIDTH = 100


def wrap(text: str, indent: str = "", width: int = WIDTH) -> list[str]:
    """``text`` wrapped to ``width`` columns (never cut), every line after the first indented."""
    return textwrap.wrap(" ".join(text.split()), width, subsequent_indent=indent) or [""]


def advice_for(ex: ExerciseResult) -> str | None:
    """The hint advice for one exercise: the next unopened hint, never skipping one."""
    hint = ex.next_hint()
    if hint is None:
        if ex.attempted and not ex.passed and not ex.blocked_by and ex.hints and ex.revealed >= ex.hints:
            return f"{ex.name}: you have opened every hint; reread them with the lesson beside you."
        return None
    named = ex.named_hint()
    extra = (
        f" (the failing test points to Hint {named}: open them in order)" if named and named > hint else ""
    )
    return f"{ex.name}: open Hint {hint} of {ex.hints} below the exercise{extra}."


def next_step(report: CheckReport) -> str:
    todo = next((e for e in report.exercises if not e.passed), None)
    if todo is None:
        return "Everything passes. Well done: on to the next module!"
    if todo.blocked_by:
        return f"Next step: fix '{todo.blocked_by}', then '{todo.name}'."
    return f"Next step: work on '{todo.name}' ({LEVEL_NAMES.get(todo.level, todo.level)})."


def render(report: CheckReport) -> str:
    """The table the learner sees in a terminal: messages wrap, they are never cut."""
    rows = [("Exercise", "Level", "Points")]
    results = []
    for ex in report.exercises:
        rows.append(
            (ex.name, LEVEL_NAMES.get(ex.level, ex.level), f"{_fmt(ex.points)}/{_fmt(ex.max_points)}")
        )
        results.append(headline(ex))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    lead = sum(widths) + 6
    lines = [f"Checked {report.notebook.name}"]
    lines.append("  ".join(col.ljust(widths[j]) for j, col in enumerate(rows[0])) + "  Result")
    lines.append("-" * (lead + 40))
    for row, result in zip(rows[1:], results, strict=True):
        text = "  ".join(col.ljust(widths[j]) for j, col in enumerate(row))
        mark = "✓ " if result == "passed" else ("· " if result == "not started" else "✗ ")
        wrapped = wrap(mark + result, width=max(40, WIDTH - lead - 2))
        lines.append(f"{text}  {wrapped[0]}")
        lines.extend(" " * (lead + 2) + line for line in wrapped[1:])
    lines.append(f"Total: {_fmt(report.points)}/{_fmt(report.max_points)} points")
    for problem in report.problems:
        lines.extend(wrap(f"Note: {problem}", indent="  "))
    advice = [a for a in (advice_for(ex) for ex in report.exercises) if a]
    if advice:
        lines.append("Next hints to open:")
        for item in advice:
            lines.extend(wrap("  " + item, indent="    "))
    from proximal.learner.advice import advice_lines  # pointers to the lesson section behind a failure

    for item in advice_lines(report):
        lines.extend(wrap(item, indent="    "))
    lines.append(next_step(report))
    return "\n".join(lines)


def render_html(report: CheckReport) -> str:
    """The same table for JupyterLab: coloured rows, the hint to open and the lesson section."""
    from proximal.learner.advice import pointers

    try:
        found = pointers(report, find_course_root(report.notebook.parent))
    except Exception:  # advice is extra
        found = []
    colours = {"passed": "#e8f5e9", "not started": "#f5f5f5"}
    rows = []
    for ex in report.exercises:
        result = headline(ex)
        colour = colours.get(result, "#ffebee")
        tips = [advice_for(ex) or ""] + [
            f'{p.rule.advice} See <code>{html.escape(p.lesson_path)}</code>, section "{html.escape(p.section)}".'
            for p in found
            if p.exercise == ex.name
        ]
        tips_html = "<br>".join(
            html.escape(t.split(": ", 1)[-1]) if i == 0 else t for i, t in enumerate(tips) if t
        )
        rows.append(
            f'<tr style="background:{colour}"><td><code>{html.escape(ex.name)}</code></td>'
            f"<td>{LEVEL_NAMES.get(ex.level, ex.level)}</td><td>{_fmt(ex.points)}/{_fmt(ex.max_points)}</td>"
            f"<td>{html.escape(result)}</td><td>{tips_html}</td></tr>"
        )
    notes = "".join(f"<p>Note: {html.escape(p)}</p>" for p in report.problems)
    return (
        f"<div class='proximal-check'><p><b>Checked {html.escape(report.notebook.name)}</b></p>"
        "<table><tr><th>Exercise</th><th>Level</th><th>Points</th><th>Result</th><th>What next</th></tr>"
        + "".join(rows)
        + f"</table><p>Total: {_fmt(report.points)}/{_fmt(report.max_points)} points</p>{notes}"
        f"<p>{html.escape(next_step(report))}</p></div>"
    )


def _fmt(value: float) -> str:
    return f"{value:g}"


def check_in_notebook(path: str) -> None:
    """Run ``proximal check`` on the saved notebook in a separate process; show its table.

    In JupyterLab the table is HTML (with the text as the plain fallback); elsewhere it is printed.
    """
    import json

    completed = subprocess.run(
        [sys.executable, "-m", "proximal", "check", str(path), "--format", "json"],
        capture_output=True,
        text=True,
        check=False,
    )
    try:
        shown = json.loads(completed.stdout)
    except ValueError:
        print(completed.stdout, end="")
        print(completed.stderr, end="")
        return
    show(shown["text"], shown["html"])
    if completed.returncode not in (0, 1):
        print(completed.stderr, end="")


def show(text: str, html_text: str) -> None:
    """Display the table: rich in a notebook front end, plain text anywhere else."""
    try:
        from IPython import get_ipython
        from IPython.display import display

        if get_ipython() is not None and hasattr(get_ipython(), "kernel"):
            display({"text/plain": text, "text/html": html_text}, raw=True)
            return
    except ImportError:
        pass
    print(text)
