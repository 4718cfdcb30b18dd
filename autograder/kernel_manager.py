"""How the grader starts and stops a sandboxed kernel: jupyter_client's, minus fixed waits.

Grading a class starts and stops one kernel per submission, and two of jupyter_client's waits
are fixed pauses rather than waits for something:

* after the kernel answers ``kernel_info``, :meth:`wait_for_ready` waits until IOPub has been
  silent for 0.2 s. :class:`GradingKernelClient` instead waits for the kernel's *idle* status
  for that very request on IOPub: the same proof that IOPub is connected and drained, without
  the pause;
* after a kill, the manager polls for the process's end every 0.1 s.
  :class:`GradingKernelManager` polls every 0.01 s.

:mod:`autograder.sandbox` selects them (``Execute.kernel_manager_class``); nothing else changes.
"""

from __future__ import annotations

import asyncio
import time
from queue import Empty

from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.manager import AsyncKernelManager
from traitlets import DottedObjectName, Type


class GradingKernelClient(AsyncKernelClient):
    """An asynchronous kernel client whose readiness check waits for a message, not for silence."""

    async def wait_for_ready(self, timeout: float | None = None) -> None:  # type: ignore[override]
        deadline = time.monotonic() + (timeout if timeout is not None else float("inf"))
        while True:
            # Asked again each round: IOPub may connect only after the first request's messages
            # went by (ZeroMQ's "slow joiner"), and then that round never sees its idle status.
            request = self.kernel_info()
            if await self._reply_arrived(request, deadline) and await self._idle_seen(request):
                return
            if not await self._async_is_alive():
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
                self._handle_kernel_info_reply(msg)
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
            if (msg["msg_type"] == "status" and msg["content"].get("execution_state") == "idle"
                    and msg["parent_header"].get("msg_id") == request):
                return True
        return False


class GradingKernelManager(AsyncKernelManager):
    """An asynchronous kernel manager with :class:`GradingKernelClient` and a quicker check for a killed kernel's end."""

    client_class = DottedObjectName("autograder.kernel_manager.GradingKernelClient", config=True)
    # AsyncKernelManager gives client_factory a fixed default, so client_class alone is not enough
    client_factory = Type(GradingKernelClient, klass=AsyncKernelClient, config=True)

    async def _async_wait(self, pollinterval: float = 0.1) -> None:
        # jupyter_client polls every 0.1 s; a killed kernel is gone within milliseconds
        while await self._async_is_alive():
            await asyncio.sleep(min(pollinterval, 0.01))
