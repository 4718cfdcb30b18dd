"""The one grading pipeline: what the learner's check and the instructor's grade both run.

1. **prepare**: the submitted notebook is merged with its source (:func:`autograder.merge.merge`:
   tests always from the source) and gets guard cells (:mod:`autograder.guard`);
2. **execute**: nbgrader's autograde preprocessors, exactly as configured for ``nbgrader autograde``
   in ``nbgrader_config.py`` (the kernel-death-surviving Execute, output limits, output caps), less
   the steps that write to a gradebook;
3. **score**: nbgrader's own rule for every graded cell (:func:`nbgrader.utils.determine_grade`).

``proximal grade`` runs steps 2-3 through nbgrader's ``autograde`` app, in the sandbox, with a
gradebook; :func:`run` runs them in-process, without the sandbox and without a gradebook. Both take
the preprocessor list from the same configuration, so a test can prove they agree cell by cell.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from nbformat import NotebookNode
from traitlets.config import Config

from autograder import CHECKING_ENV
from autograder.guard import insert_guards
from autograder.merge import merge
from autograder.notebooks import grade_id, is_test_cell, nbgrader_meta

# Preprocessors of nbgrader's autograde list that talk to the gradebook: the check has none.
GRADEBOOK_STEPS = ("SaveAutoGrades", "AssignLatePenalties")


@dataclass
class CellScore:
    """The score of one graded (test) cell and what it printed when it failed."""

    grade_id: str
    points: float
    max_points: float
    ran: bool
    errors: list[tuple[str, str]] = field(default_factory=list)  # (ename, evalue) of each error output
    stderr: str = ""  # what the cell wrote to stderr (warnings: "coroutine ... was never awaited")
    cell: NotebookNode | None = None  # the executed cell, for readers that want more


@dataclass
class Run:
    """An executed notebook and the score of each graded cell, in notebook order."""

    notebook: NotebookNode
    cells: list[CellScore]
    kernel_died: bool = False


def prepare(submitted: NotebookNode, source: NotebookNode) -> tuple[NotebookNode, list[str]]:
    """The notebook to execute: ``submitted`` merged with ``source``, with guard cells; and what was repaired."""
    merged, notes = merge(submitted, source)
    return insert_guards(merged), notes


def autograde_steps(config: Config) -> list:
    """The configured autograde preprocessors (classes or dotted names), less the gradebook steps."""
    from nbgrader.converters import Autograde

    steps = Autograde(config=config).autograde_preprocessors
    return [step for step in steps if _name(step) not in GRADEBOOK_STEPS]


def _name(step: object) -> str:
    return (
        step.rsplit(".", 1)[-1] if isinstance(step, str) else getattr(step, "__name__", type(step).__name__)
    )


@contextlib.contextmanager
def _checking_environment() -> Iterator[None]:
    """Kernels started meanwhile see ``PROXIMAL_CHECKING`` (so a notebook's own ``check()`` returns at once)."""
    before = os.environ.get(CHECKING_ENV)
    os.environ[CHECKING_ENV] = "1"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(CHECKING_ENV, None)
        else:
            os.environ[CHECKING_ENV] = before


def execute(nb: NotebookNode, cwd: Path, config: Config) -> NotebookNode:
    """Run ``nb`` in ``cwd`` through the configured autograde preprocessors (no gradebook); in place."""
    from traitlets.utils.importstring import import_item

    resources = {"metadata": {"path": str(cwd)}, "nbgrader": {"notebook": "check"}}
    with _checking_environment():
        for step in autograde_steps(config):
            cls = import_item(step) if isinstance(step, str) else step
            # called, not .preprocess()d: as in nbconvert's exporter, a step that is not enabled is skipped
            nb, resources = cls(config=config)(nb, resources)
    return nb


def score(nb: NotebookNode) -> list[CellScore]:
    """nbgrader's score for every graded test cell of an executed notebook."""
    from nbgrader.utils import determine_grade

    scores: list[CellScore] = []
    for cell in nb.cells:
        if not is_test_cell(cell):
            continue
        points, max_points = determine_grade(cell)
        errors = [
            (o.get("ename", ""), str(o.get("evalue", "")))
            for o in cell.outputs
            if o.get("output_type") == "error"
        ]
        stderr = "".join(
            "".join(o.get("text", ""))
            for o in cell.outputs
            if o.get("output_type") == "stream" and o.get("name") == "stderr"
        )
        ran = not any(name == "KernelDied" for name, _ in errors) or bool(points)
        scores.append(
            CellScore(
                grade_id(cell) or "",
                float(points or 0),
                float(max_points or nbgrader_meta(cell).get("points", 0) or 0),
                ran,
                errors,
                stderr,
                cell,
            )
        )
    return scores


def run(submitted: NotebookNode, source: NotebookNode, cwd: Path, config: Config) -> tuple[Run, list[str]]:
    """Prepare, execute and score ``submitted`` against ``source``, in-process (the learner's check)."""
    nb, notes = prepare(submitted, source)
    executed = execute(nb, cwd, config)
    cells = score(executed)
    return Run(executed, cells, kernel_died=any(not c.ran for c in cells)), notes
