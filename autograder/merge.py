"""Merging a learner's notebook with its source: the tests always come from the source.

Used by ``proximal check`` and by ``proximal grade`` (before nbgrader's own OverwriteCells), so
that both see the same notebook: answer cells keep the learner's code, every test cell is the
source's, deleted graded cells come back, tampered grading metadata is ignored.
"""

from __future__ import annotations

import copy
import re

from nbformat import NotebookNode

from autograder.notebooks import grade_id, is_answer_cell, is_test_cell

SOLUTION_REGION = re.compile(r"([ \t]*)### BEGIN SOLUTION.*?### END SOLUTION", re.S)


def clear_solution(source: str) -> str:
    """What nbgrader's ClearSolutions makes of an answer cell: each solution region becomes a stub."""
    return SOLUTION_REGION.sub(
        lambda m: f"{m.group(1)}# YOUR CODE HERE\n{m.group(1)}raise NotImplementedError()", source
    )


def merge(learner: NotebookNode, source: NotebookNode) -> tuple[NotebookNode, list[str]]:
    """The notebook to run: the learner's cells, with every graded cell taken from the source.

    Answer cells keep the learner's code under the source's metadata; test cells are replaced
    by the source's (visible and hidden tests); graded cells the learner deleted come back (test
    cells from the source, answer cells as released: solution replaced by a stub); cells with unknown
    or duplicated grade ids lose their grading metadata. Returns the notebook and what was repaired.
    """
    source_cells: dict[str | None, NotebookNode] = {grade_id(c): c for c in source.cells if grade_id(c)}
    merged = copy.deepcopy(source)
    merged.cells = []
    seen: set[str | None] = set()
    notes: list[str] = []
    for cell in learner.cells:
        cid = grade_id(cell)
        if cid is None and "nbgrader" not in cell.get("metadata", {}):
            merged.cells.append(copy.deepcopy(cell))
            continue
        if cid not in source_cells or cid in seen:
            notes.append(
                f"ignored grading metadata on a cell with {'a duplicate' if cid in seen else 'an unknown'} id {cid!r}"
            )
            plain = copy.deepcopy(cell)
            plain.metadata.pop("nbgrader", None)
            merged.cells.append(plain)
            continue
        seen.add(cid)
        original = copy.deepcopy(source_cells[cid])
        if is_answer_cell(original):
            # a changed cell type would leave the source's solution in place: use the stub then
            same_type = cell.get("cell_type") == original.cell_type
            original.source = cell.get("source", "") if same_type else clear_solution(original.source)
        elif (
            not is_answer_cell(original) and cell.get("source") != original.source and is_test_cell(original)
        ):
            # nbgrader's release keeps the blank lines a removed hidden block leaves at the end
            if _strip_hidden(original.source) != cell.get("source", "").rstrip():
                notes.append(f"restored the test cell {cid!r}, which had been edited")
        merged.cells.append(original)
    # graded cells the learner deleted: put them back right after their predecessor in the source
    order = [grade_id(c) for c in source.cells if grade_id(c)]
    for position, cid in enumerate(order):
        if cid in seen:
            continue
        replacement = copy.deepcopy(source_cells[cid])
        if is_answer_cell(replacement):
            replacement.source = clear_solution(replacement.source)
        notes.append(f"put back the deleted cell {cid!r}")
        anchor = next((order[p] for p in range(position - 1, -1, -1) if order[p] in seen), None)
        index = (
            0 if anchor is None else 1 + next(i for i, c in enumerate(merged.cells) if grade_id(c) == anchor)
        )
        merged.cells.insert(index, replacement)
        seen.add(cid)
    for cell in merged.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    return merged, notes


def _strip_hidden(text: str) -> str:
    out, hidden = [], False
    for line in text.splitlines(keepends=True):
        if "### BEGIN HIDDEN TESTS" in line:
            hidden = True
        elif "### END HIDDEN TESTS" in line:
            hidden = False
        elif not hidden:
            out.append(line)
    return "".join(out).rstrip()
