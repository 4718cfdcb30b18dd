"""nbgrader's Execute preprocessor, made to survive a kernel that dies mid-notebook.

Plain nbgrader fails the whole submission when the kernel dies (``os._exit``, a segfault, the
memory or time limit of the sandbox), losing the points of every cell that passed before. Here
the cells already run keep their outputs; the cell that killed the kernel and every cell after it
get an error output instead, so their tests score zero and the rest is graded as usual.
"""

from __future__ import annotations

from nbclient.exceptions import DeadKernelError
from nbformat import NotebookNode
from nbgrader.preprocessors import Execute


class SurvivingExecute(Execute):
    """Execute cells until the kernel dies; mark the rest as not run."""

    _dead: bool = False

    def preprocess(self, nb, resources=None, km=None):
        self._dead = False
        return super().preprocess(nb, resources, km)

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code":
            return cell, resources
        if not self._dead:
            try:
                return super().preprocess_cell(cell, resources, index)
            except DeadKernelError:
                self._dead = True
                cell.outputs.append(_error("the kernel died while running this cell (exit, crash, or out of time or memory)"))
                return cell, resources
        cell.outputs = [_error("not run: the kernel had died in an earlier cell")]
        return cell, resources


def _error(message: str) -> NotebookNode:
    return NotebookNode(output_type="error", ename="KernelDied", evalue=message, traceback=[f"KernelDied: {message}"])
