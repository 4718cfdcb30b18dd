"""``proximal mistakes``: does every catalogued mistake cost points and get its own message?

The mistake catalogue is data on each exercise's answer cell in the source notebook
(``metadata.proximal.mistakes``, see docs/authoring.md): a list of ``{"name", "code", "message"}``.
For each source notebook this runs the solution once, cell by cell, in one kernel (as the grader
does: a guard cell first and the guard's restore before every test cell), then for every mistake

1. runs the mistake's ``code`` in place of the answer cell,
2. runs that exercise's test cells (hidden tests included), each after the guard's restore,
3. scores them with nbgrader's rule and phrases the failure exactly as the learner's check does
   (:func:`proximal.learner.check.cell_results` and :func:`proximal.learner.check.headline`),
4. runs every *later* exercise's test cells too: those that fail now are the mistake's cascades,
   and the report says whether the check tells the learner to fix this exercise first,
5. re-runs the solution's answer cell, so the next mistake starts from a correct notebook.

A mistake is *named* when it costs points and the headline of the learner's check for that
exercise contains its ``message`` (case-insensitive). The command fails when any mistake earns
full marks or is not named.
"""

from __future__ import annotations

import contextlib
import copy
import os
from dataclasses import dataclass, field
from pathlib import Path

from nbformat import NotebookNode

from autograder import CHECKING_ENV
from autograder.guard import insert_guards
from autograder.notebooks import (
    CourseError,
    exercises,
    grade_id,
    is_answer_cell,
    is_test_cell,
    proximal_meta,
    read_notebook,
    source_notebooks,
)
from autograder.pipeline import score

MISTAKE_FIELDS = ("name", "code", "message")


@dataclass
class Cascade:
    exercise: str
    points_lost: float
    says_fix_first: bool  # does the learner's check blame the mistaken exercise instead of this one?


@dataclass
class MistakeResult:
    notebook: str
    exercise: str
    name: str
    expected: str  # the catalogue's ``message``
    points: float
    max_points: float
    headline: str  # the learner's failure message for the exercise
    cascades: list[Cascade] = field(default_factory=list)
    error: str = ""  # the mistake's code itself could not run, or the kernel died

    @property
    def costs_points(self) -> bool:
        return self.points < self.max_points

    @property
    def named(self) -> bool:
        return self.costs_points and bool(self.expected) and self.expected.lower() in self.headline.lower()


@dataclass
class NotebookMistakes:
    notebook: Path
    results: list[MistakeResult] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # the solution itself fails, malformed entries


def catalogue(cell: NotebookNode) -> list:
    """The mistake catalogue of an answer cell (``[]`` when it has none)."""
    found = proximal_meta(cell).get("mistakes", [])
    return found if isinstance(found, list) else []


def entry_problems(entry: object) -> list[str]:
    """What is wrong with one catalogue entry (empty when it is well formed)."""
    if not isinstance(entry, dict):
        return ["an entry must be an object with name, code and message"]
    problems = [f"missing or empty {key!r}" for key in MISTAKE_FIELDS if not entry.get(key)]
    problems += [
        f"{key!r} must be a string"
        for key in MISTAKE_FIELDS
        if entry.get(key) and not isinstance(entry.get(key), str)
    ]
    return problems


class _Kernel:
    """One kernel running a notebook's cells one at a time (nbclient's public cell-by-cell API)."""

    def __init__(self, nb: NotebookNode, cwd: Path, timeout: int) -> None:
        from nbclient import NotebookClient

        self.nb = nb
        self.client = NotebookClient(
            nb,
            timeout=timeout,
            allow_errors=True,
            interrupt_on_timeout=True,
            kernel_name="python3",
            resources={"metadata": {"path": str(cwd)}},
            extra_arguments=["--IPKernelApp.log_level=CRITICAL"],
        )
        self._context: contextlib.AbstractContextManager | None = None

    def __enter__(self) -> _Kernel:
        self._env = os.environ.get(CHECKING_ENV)
        os.environ[CHECKING_ENV] = "1"  # the notebook's own check() returns at once
        context = self.client.setup_kernel()
        context.__enter__()
        self._context = context
        return self

    def __exit__(self, *exc) -> None:
        try:
            if self._context is not None:
                self._context.__exit__(*exc)
        finally:
            if self._env is None:
                os.environ.pop(CHECKING_ENV, None)
            else:
                os.environ[CHECKING_ENV] = self._env

    def run(self, cell: NotebookNode) -> NotebookNode:
        """Execute a copy of ``cell`` (appended to the client's notebook) and return it with outputs."""
        cell = copy.deepcopy(cell)
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        self.nb.cells.append(cell)
        return self.client.execute_cell(cell, len(self.nb.cells) - 1)


def _error_text(cell: NotebookNode) -> str:
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            return f"{output.get('ename', '')}: {output.get('evalue', '')}".strip()
    return ""


def check_notebook(path: Path, timeout: int = 60, cascades: bool = True) -> NotebookMistakes:
    """Run every catalogued mistake of one source notebook (see the module docstring).

    ``cascades=False`` skips step 4 (the later exercises' tests), which in the PyTorch modules is
    most of the time: the verdicts, named or not, do not depend on it.
    """
    from nbclient.exceptions import DeadKernelError

    from proximal.learner.check import cell_results, headline, summarise

    source = read_notebook(path)
    report = NotebookMistakes(path)
    specs = exercises(source)
    answers = {proximal_meta(c).get("exercise"): c for c in source.cells if is_answer_cell(c)}
    entries = {name: [e for e in catalogue(cell) if not entry_problems(e)] for name, cell in answers.items()}
    for name, cell in answers.items():
        for index, entry in enumerate(catalogue(cell)):
            for problem in entry_problems(entry):
                report.problems.append(f"{name}: mistake {index + 1}: {problem}")
    if not any(entries.values()):
        return report
    order = [name for name in specs if specs[name].test_ids]
    guarded = insert_guards(copy.deepcopy(source))
    tests = {
        name: [c for c in guarded.cells if is_test_cell(c) and proximal_meta(c).get("exercise") == name]
        for name in order
    }
    restore = next(c for c in guarded.cells if "restore" in c.source)

    def run_tests(kernel: _Kernel, names: list[str]) -> dict[str, list]:
        executed: dict[str, list] = {}
        for name in names:
            cells = []
            for test in tests[name]:
                kernel.run(restore)
                cells.append(kernel.run(test))
            executed[name] = cells
        return executed

    def results_of(executed: dict[str, list]):
        nb = NotebookNode(cells=[c for cells in executed.values() for c in cells])
        return {r.name: r for r in summarise(cell_results(score(nb)), source, detect_cascades=True)}

    pending = [(name, entry) for name in order for entry in entries.get(name, [])]
    while pending:
        with _Kernel(
            NotebookNode(cells=[], metadata=source.metadata, nbformat=4, nbformat_minor=5),
            path.parent,
            timeout,
        ) as kernel:
            try:
                baseline = []
                for cell in guarded.cells:
                    ran = kernel.run(cell)
                    if is_test_cell(cell):
                        baseline.append(ran)
                failing = [
                    grade_id(c)
                    for c, s in zip(baseline, score(NotebookNode(cells=baseline)), strict=True)
                    if s.points < s.max_points
                ]
                for cid in failing:
                    report.problems.append(f"the solution fails its own test cell {cid!r}")
                while pending:
                    name, entry = pending[0]
                    later = order[order.index(name) + 1 :] if cascades else []
                    wrong = copy.deepcopy(answers[name])
                    wrong.source = entry["code"]
                    ran = kernel.run(wrong)
                    executed = run_tests(kernel, [name, *later])
                    found = results_of(executed)
                    mine = found[name]
                    result = MistakeResult(
                        path.name,
                        name,
                        entry["name"],
                        entry["message"],
                        mine.points,
                        mine.max_points,
                        headline(mine),
                        error=_error_text(ran),
                    )
                    for other in later:
                        ex = found[other]
                        if ex.points < ex.max_points:
                            result.cascades.append(
                                Cascade(other, ex.max_points - ex.points, ex.blocked_by == name)
                            )
                    report.results.append(result)
                    pending.pop(0)
                    kernel.run(answers[name])  # the solution again, for the next mistake
            except DeadKernelError:
                name, entry = pending.pop(0)
                report.results.append(
                    MistakeResult(
                        path.name, name, entry["name"], entry["message"], 0, 0, "", error="the kernel died"
                    )
                )
    return report


def run(root: Path, module: str | None = None, timeout: int = 60) -> list[NotebookMistakes]:
    """Every source notebook of the course (or of one module), checked."""
    return [check_notebook(path, timeout) for path in source_notebooks(root, module)]


def render(reports: list[NotebookMistakes]) -> str:
    """The table ``proximal mistakes`` prints, ending with "N of M mistakes named"."""
    from proximal.learner.check import wrap

    lines: list[str] = []
    results = [r for report in reports for r in report.results]
    for report in reports:
        if not report.results and not report.problems:
            lines.append(f"{report.notebook.parent.name}/{report.notebook.name}: no mistake catalogue")
            continue
        lines.append(f"{report.notebook.parent.name}/{report.notebook.name}")
        for problem in report.problems:
            lines.append(f"  problem: {problem}")
        for r in report.results:
            if r.error == "the kernel died":
                verdict = "KERNEL DIED"
            elif not r.costs_points:
                verdict = "FREE (full marks)"
            elif not r.named:
                verdict = f"NOT NAMED (expected {r.expected!r})"
            else:
                verdict = "named"
            lines.append(f"  {r.exercise} / {r.name}: {_fmt(r.points)}/{_fmt(r.max_points)}  {verdict}")
            if r.headline:
                lines.extend(
                    "      " + line for line in wrap(f"check says: {r.headline}", indent="  ", width=94)
                )
            for c in r.cascades:
                how = "says fix it first" if c.says_fix_first else "blames the wrong exercise"
                lines.append(f"      cascade: {c.exercise} loses {_fmt(c.points_lost)} ({how})")
    named = sum(r.named for r in results)
    lines.append(f"{named} of {len(results)} mistakes named.")
    return "\n".join(lines)


def failed(reports: list[NotebookMistakes]) -> bool:
    """Should the command exit non-zero: a free or unnamed mistake, or a broken catalogue or solution?"""
    return any(not r.named for rep in reports for r in rep.results) or any(rep.problems for rep in reports)


def _fmt(value: float) -> str:
    return f"{value:g}"


__all__ = ["CourseError", "check_notebook", "failed", "render", "run"]
