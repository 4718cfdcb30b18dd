"""nbgrader's Execute preprocessor, made to survive a kernel that dies mid-notebook.

Plain nbgrader fails the whole submission when the kernel dies (``os._exit``, a segfault, the
memory or time limit of the sandbox), losing the points of every cell that passed before. Here
the cells already run keep their outputs; the cell that killed the kernel and every cell after it
get an error output instead, so their tests score zero and the rest is graded as usual.

A kernel that stops answering counts as dead too. nbclient interrupts a cell that runs past its
timeout and then waits again, for ever while the process lives: a cell that ignores SIGINT, a
stopped kernel or one hung in its own machinery would hold the worker until the sandbox's
whole-notebook limit. Here each cell gets its timeout plus a short grace (``interrupt_grace``);
past that the kernel is killed and the cell and every later one score zero, with the reason.
No cell may run past the notebook's own budget (``notebook_timeout``) either.

A test cell counts only if its own code ran to its end, unchanged: right after the kernel starts
(before any notebook code) the guard audit hook is installed with a key made here, in the grader
(:func:`autograder.guard.install`); each test cell is sent with one more line, which makes the
hook print a proof (an HMAC of a fresh nonce and the source it compiled). A test cell without the
right proof gets an error output, so nbgrader scores it 0; the line and the proof are removed
again, so the autograded notebook holds the test cell as written.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from pathlib import Path

from jupyter_core.utils import run_sync
from nbclient.exceptions import DeadKernelError
from nbformat import NotebookNode
from nbgrader.preprocessors import Execute
from traitlets import Float

from autograder.guard import PASSED_PREFIX, passed_line, proof
from autograder.kernel_manager import current_slots
from autograder.notebooks import is_test_cell


class SurvivingExecute(Execute):
    """Execute cells until the kernel dies; mark the rest as not run.

    Inside ``proximal grade`` the kernel comes from the worker's slots (a spare that is already
    up, see :mod:`autograder.kernel_manager`) and is moved into the notebook's folder before the
    first cell; anywhere else (plain ``nbgrader autograde``) it is started as usual.
    """

    interrupt_grace = Float(
        5.0, help="Seconds a cell past its timeout gets to answer the interrupt before its kernel is killed"
    ).tag(config=True)
    notebook_timeout = Float(
        600.0, help="Seconds the whole notebook may run; a cell still running then is killed with its kernel"
    ).tag(config=True)

    _dead: bool = False
    _key: str = ""
    _why: str = ""
    _deadline: float = float("inf")

    def preprocess(self, nb, resources=None, km=None):
        self._dead = False
        self._deadline = time.monotonic() + self.notebook_timeout
        return super().preprocess(nb, resources, km)

    async def async_execute_cell(self, cell, cell_index, execution_count=None, store_history=True):
        """nbclient's cell execution, bounded: timeout + grace, and never past the notebook's deadline."""
        # nbclient's own rule for a cell's limit (timeout_func, else timeout; 0 or less: none)
        limit = self.timeout_func(cell) if self.timeout_func is not None else self.timeout
        limit = limit if limit and limit > 0 else None
        left = self._deadline - time.monotonic()
        bound = min(left, limit + self.interrupt_grace if limit is not None else float("inf"))
        if bound == float("inf"):
            return await super().async_execute_cell(cell, cell_index, execution_count, store_history)
        run = asyncio.ensure_future(
            super().async_execute_cell(cell, cell_index, execution_count, store_history)
        )
        done, _ = await asyncio.wait({run}, timeout=max(bound, 0))
        if run in done:
            return run.result()
        # the kernel did not answer (ignored the interrupt, stopped, hung): kill it and its tasks
        for task in (run, getattr(self, "task_poll_for_reply", None)):
            if task is not None and not task.done():
                task.cancel()
        await asyncio.gather(run, return_exceptions=True)
        await self._kill_kernel()
        if bound < (limit or 0) + self.interrupt_grace:
            self._why = f"the notebook ran out of its {self.notebook_timeout:g} s"
        else:
            self._why = (
                f"the cell ran past its {limit:g} s limit and did not stop within "
                f"{self.interrupt_grace:g} s of being interrupted; its kernel was killed"
            )
        raise DeadKernelError(self._why)

    # nbclient binds its synchronous wrapper to its own coroutine: rebind it to the bounded one
    execute_cell = run_sync(async_execute_cell)

    async def _kill_kernel(self) -> None:
        km = self.km
        if km is None:
            return
        try:
            await asyncio.wait_for(km.shutdown_kernel(now=True), timeout=10)
        except Exception:  # noqa: BLE001  (killing a hung kernel is best effort; the process group comes next)
            provisioner = getattr(km, "provisioner", None)
            process = getattr(provisioner, "process", None)
            if process is not None:
                process.kill()

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
        # the guard goes in before any notebook code; its key never appears in the notebook
        self._key = secrets.token_hex(16)
        request = kc.execute(
            f"__import__('autograder.guard').guard.install({self._key!r})", silent=True, store_history=False
        )
        reply = await self.async_wait_for_reply(request)
        if reply is None or reply["content"]["status"] != "ok":
            raise RuntimeError("the grading kernel could not install the guard")
        return kc

    start_new_kernel_client = run_sync(async_start_new_kernel_client)

    def preprocess_cell(self, cell, resources, index):
        if not self._dead:
            self._why = ""
        if cell.cell_type != "code":
            return cell, resources
        if not self._dead:
            try:
                if is_test_cell(cell) and cell.source.strip():
                    return self._run_test_cell(cell, resources, index)
                return super().preprocess_cell(cell, resources, index)
            except DeadKernelError:
                self._dead = True
                why = (
                    self._why
                    or "the kernel died while running this cell (exit, crash, or out of time or memory)"
                )
                cell.outputs.append(_error(why))
                return cell, resources
        why = f" ({self._why})" if self._why else ""
        cell.outputs = [_error(f"not run: the kernel had died in an earlier cell{why}")]
        return cell, resources

    def _run_test_cell(self, cell, resources, index):
        """Run a test cell with the completion line; keep its result only with the hook's proof."""
        original, nonce = cell.source, secrets.token_hex(8)
        cell.source = original.rstrip("\n") + "\n" + passed_line(nonce)
        sent = cell.source
        try:
            cell, resources = super().preprocess_cell(cell, resources, index)
        finally:
            cell.source = original
        expected = f"{PASSED_PREFIX} {nonce} {proof(self._key, nonce, _as_compiled(sent))}"
        found = False
        for output in cell.outputs:
            if output.get("output_type") == "stream" and output.get("name") == "stdout":
                text = output.get("text", "")
                found = found or expected in text
                # the proof, and any line that only looks like one, is the grader's business
                lines = text.splitlines(keepends=True)
                output["text"] = "".join(line for line in lines if not line.startswith(PASSED_PREFIX + " "))
                if output["text"].endswith("\n\n") and expected in text:
                    output["text"] = output["text"][:-1]
        cell.outputs = [o for o in cell.outputs if o.get("output_type") != "stream" or o.get("text")]
        if not found and not any(o.get("output_type") == "error" for o in cell.outputs):
            cell.outputs.append(
                _error(
                    "this test did not run to its end as written (code in the notebook changed how "
                    "cells run, or stopped it); it scores 0",
                    "TestNotCompleted",
                )
            )
        return cell, resources


def _as_compiled(source: str) -> str:
    """The text IPython compiles for a cell: its pristine input transformations applied."""
    from IPython.core.inputtransformer2 import TransformerManager

    return TransformerManager().transform_cell(source)


def _error(message: str, name: str = "KernelDied") -> NotebookNode:
    return NotebookNode(output_type="error", ename=name, evalue=message, traceback=[f"{name}: {message}"])
