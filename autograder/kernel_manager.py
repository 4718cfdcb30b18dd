"""How the grader starts and stops a sandboxed kernel: jupyter_client's, minus fixed waits.

Grading a class starts and stops one kernel per submission, and two of jupyter_client's waits
are fixed pauses rather than waits for something:

* after the kernel answers ``kernel_info``, :meth:`wait_for_ready` waits until IOPub has been
  silent for 0.2 s. :class:`GradingKernelClient` instead waits for the kernel's *idle* status
  for that very request on IOPub: the same proof that IOPub is connected and drained, without
  the pause;
* after a kill, the manager polls for the process's end every 0.1 s.
  :class:`GradingKernelManager` polls every 0.01 s (through :mod:`autograder.adapters`: the
  only private hook the grader uses).

:mod:`autograder.sandbox` selects them (``Execute.kernel_manager_class``); nothing else changes.
"""

from __future__ import annotations

import itertools
import os
import time
from pathlib import Path
from queue import Empty

from jupyter_client import protocol_version_info
from jupyter_client.asynchronous import AsyncKernelClient
from traitlets import DottedObjectName, Type

from autograder.adapters import QuickPollKernelManager


class GradingKernelClient(AsyncKernelClient):
    """An asynchronous kernel client whose readiness check waits for a message, not for silence."""

    async def wait_for_ready(self, timeout: float | None = None) -> None:
        deadline = time.monotonic() + (timeout if timeout is not None else float("inf"))
        while True:
            # Asked again each round: IOPub may connect only after the first request's messages
            # went by (ZeroMQ's "slow joiner"), and then that round never sees its idle status.
            request = self.kernel_info()
            if await self._reply_arrived(request, deadline) and await self._idle_seen(request):
                return
            if not await self.is_alive():
                raise RuntimeError("Kernel died before replying to kernel_info")
            if time.monotonic() > deadline:
                raise RuntimeError(f"Kernel didn't respond in {timeout:g} seconds")

    async def _reply_arrived(self, request: str, deadline: float) -> bool:
        while time.monotonic() < deadline:
            try:
                msg = await self.shell_channel.get_msg(timeout=1)
            except Empty:
                return False
            if msg["msg_type"] == "kernel_info_reply" and msg["parent_header"].get("msg_id") == request:
                # what jupyter_client does with the reply: adapt to an older protocol if the kernel speaks one
                major = int(msg["content"]["protocol_version"].split(".")[0])
                if major != protocol_version_info[0]:
                    self.session.adapt_version = major
                return True
        return False

    async def _idle_seen(self, request: str, timeout: float = 0.2) -> bool:
        """Drain IOPub up to the kernel's idle status for ``request``; False if it does not come."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                msg = await self.iopub_channel.get_msg(timeout=left)
            except Empty:
                return False
            if (
                msg["msg_type"] == "status"
                and msg["content"].get("execution_state") == "idle"
                and msg["parent_header"].get("msg_id") == request
            ):
                return True
        return False


class GradingKernelManager(QuickPollKernelManager):
    """An asynchronous kernel manager with :class:`GradingKernelClient` and a quicker check for a killed kernel's end."""

    client_class = DottedObjectName(
        "autograder.kernel_manager.GradingKernelClient",
        config=True,
        help="The kernel client the grader talks to its kernels with (see GradingKernelClient).",
    )
    # AsyncKernelManager gives client_factory a fixed default, so client_class alone is not enough
    client_factory = Type(
        GradingKernelClient,
        klass=AsyncKernelClient,
        config=True,
        help="The kernel client class itself (jupyter_client builds clients from this one).",
    )
    # set by KernelSlots.take: the folder the kernel is to work in (it starts in the stage)
    notebook_dir: Path | None = None


class KernelSlots:
    """A worker's grading kernels: the one in use, and a spare already starting up for the next submission.

    Starting a kernel costs about half a second, most of it importing; a spare does that while
    the current submission runs, so a worker grades back to back. A spare is used only where
    each slot has its own user id (see :mod:`autograder.sandbox`), so that the kernel grading one
    submission can never reach the spare that will run the next; elsewhere every kernel is
    started when needed. A spare older than ``max_age`` seconds is replaced, so the whole-notebook
    time limit, which runs from the kernel's start, stays a submission's own.
    """

    def __init__(self, stage: Path, slots: dict[str, dict], max_age: float = 60.0) -> None:
        self.stage = stage
        self.slots = slots
        self.max_age = max_age
        self.use_spares = all(slot["uid"] is not None for slot in slots.values())
        self._order = itertools.cycle(slots if self.use_spares else list(slots)[:1])
        self._spare: tuple[GradingKernelManager, str, float] | None = None
        self._latest: dict[str, GradingKernelManager] = {}  # per slot, the kernel started last
        self.started = 0  # kernels started, spares included: for tests and benchmarks

    async def take(self, notebook_dir: Path) -> GradingKernelManager:
        """A running kernel for the notebook in ``notebook_dir`` (which must lie in the stage)."""
        spare, self._spare = self._spare, None
        if spare is not None and (
            time.monotonic() - spare[2] >= self.max_age or not await spare[0].is_alive()
        ):
            await spare[0].shutdown_kernel(now=True)
            spare = None
        km, slot = spare[:2] if spare is not None else await self._start(next(self._order))
        self._hand_over(notebook_dir, slot)
        if self.use_spares:
            await self._start_spare()
        km.notebook_dir = notebook_dir
        return km

    async def warm(self) -> None:
        """Have a fresh spare ready (where spares are used): started now if there is none, or if it is
        past half its ``max_age`` (a worker kept waiting between submissions calls this now and then)."""
        if not self.use_spares:
            return
        if self._spare is not None and time.monotonic() - self._spare[2] >= self.max_age / 2:
            spare, self._spare = self._spare, None
            await spare[0].shutdown_kernel(now=True)
        if self._spare is None:
            await self._start_spare()

    async def close(self) -> None:
        """Stop the spare, if any (a worker's last act)."""
        spare, self._spare = self._spare, None
        if spare is not None:
            await spare[0].shutdown_kernel(now=True)

    async def _start_spare(self) -> None:
        km, slot = await self._start(next(self._order))
        self._spare = (km, slot, time.monotonic())

    async def _start(self, slot: str) -> tuple[GradingKernelManager, str]:
        # a slot holds one kernel at a time: its folder and user are that kernel's alone
        earlier = self._latest.pop(slot, None)
        if earlier is not None and await earlier.is_alive():
            await earlier.shutdown_kernel(now=True)
        km = GradingKernelManager(**self.slots[slot]["manager"])
        self._latest[slot] = km
        # start_kernel returns once the process is launched; the kernel imports in the background
        # history in memory, as nbgrader asks of the kernels it starts
        await km.start_kernel(cwd=str(self.stage), extra_arguments=["--HistoryManager.hist_file=:memory:"])
        self.started += 1
        return km, slot

    def _hand_over(self, notebook_dir: Path, slot: str) -> None:
        """Give the slot's user the submission's folder in the stage (it runs there, and may write)."""
        uid = self.slots[slot]["uid"]
        if uid is None:
            return
        top = self.stage / notebook_dir.relative_to(self.stage).parts[0]
        for folder, dirs, files in os.walk(top):
            os.chown(folder, uid, uid)
            for name in dirs + files:
                os.chown(os.path.join(folder, name), uid, uid, follow_symlinks=False)


_slots: KernelSlots | None = None


def use_slots(slots: KernelSlots | None) -> None:
    """Make this process's autograde runs take their kernels from ``slots`` (None: start each as usual)."""
    global _slots
    _slots = slots


def current_slots() -> KernelSlots | None:
    return _slots
