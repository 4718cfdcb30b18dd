"""nbgrader's Execute preprocessor, made to survive a kernel that dies mid-notebook.

Plain nbgrader fails the whole submission when the kernel dies (``os._exit``, a segfault, the
memory or time limit of the sandbox), losing the points of every cell that passed before. Here
the cells already run keep their outputs; the cell that killed the kernel and every cell after it
get an error output instead, so their tests score zero and the rest is graded as usual.
"""

from __future__ import annotations

from pathlib import Path

from jupyter_core.utils import run_sync
from nbclient.exceptions import DeadKernelError
from nbformat import NotebookNode
from nbgrader.preprocessors import Execute

from autograder.kernel_manager import current_slots


class SurvivingExecute(Execute):
    """Execute cells until the kernel dies; mark the rest as not run.

    Inside ``proximal grade`` the kernel comes from the worker's slots (a spare that is already
    up, see :mod:`autograder.kernel_manager`) and is moved into the notebook's folder before the
    first cell; anywhere else (plain ``nbgrader autograde``) it is started as usual.
    """

    _dead: bool = False

    def preprocess(self, nb, resources=None, km=None):
        self._dead = False
        return super().preprocess(nb, resources, km)

    def create_kernel_manager(self):
        slots = current_slots()
        if slots is None:
            return super().create_kernel_manager()
        folder = (self.resources or {}).get("metadata", {}).get("path")
        self.km = run_sync(slots.take)(Path(folder).resolve())
        return self.km

    async def async_start_new_kernel_client(self):
        kc = await super().async_start_new_kernel_client()
        folder = getattr(self.km, "notebook_dir", None)
        if (
            folder is not None
        ):  # a spare starts in the stage: into the notebook's folder, leaving no names behind
            request = kc.execute(f"__import__('os').chdir({str(folder)!r})", silent=True, store_history=False)
            reply = await self.async_wait_for_reply(request)
            if reply is None or reply["content"]["status"] != "ok":
                raise RuntimeError(f"the grading kernel could not enter {folder}")
        return kc

    start_new_kernel_client = run_sync(async_start_new_kernel_client)

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code":
            return cell, resources
        if not self._dead:
            try:
                return super().preprocess_cell(cell, resources, index)
            except DeadKernelError:
                self._dead = True
                cell.outputs.append(
                    _error("the kernel died while running this cell (exit, crash, or out of time or memory)")
                )
                return cell, resources
        cell.outputs = [_error("not run: the kernel had died in an earlier cell")]
        return cell, resources


def _error(message: str) -> NotebookNode:
    return NotebookNode(
        output_type="error", ename="KernelDied", evalue=message, traceback=[f"KernelDied: {message}"]
    )
