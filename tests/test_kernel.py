"""The kernel the grader starts (autograder.kernel, autograder.kernel_manager)."""

from __future__ import annotations

import asyncio
import json
import sys

import pytest

from autograder.kernel_manager import GradingKernelClient, GradingKernelManager


@pytest.fixture
async def kernel(tmp_path, monkeypatch):
    spec = tmp_path / "kernels" / "grading"
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "autograder.kernel", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(json.dumps({"argv": argv, "display_name": "grading", "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path))
    km = GradingKernelManager(kernel_name="grading", transport="ipc", ip=str(tmp_path / "ipc"))
    await km.start_kernel(cwd=str(tmp_path))
    yield km
    if km.has_kernel:
        await km.shutdown_kernel(now=True)


async def run(kc, code: str) -> str:
    """Execute ``code`` and return what it printed."""
    printed = []
    reply = await kc.execute_interactive(
        code, timeout=30, output_hook=lambda m: printed.append(m["content"].get("text", "")))
    assert reply["content"]["status"] == "ok", reply["content"]
    return "".join(printed)


async def test_ready_kernel_answers_at_once_and_has_no_debugger(kernel):
    """Once wait_for_ready returns, does the kernel run code straight away, with debugpy never loaded?"""
    kc = kernel.client()
    assert isinstance(kc, GradingKernelClient)
    kc.start_channels()
    try:
        await kc.wait_for_ready(timeout=60)
        assert (await run(kc, "print(6 * 7)")).strip() == "42"
        loaded = await run(kc, "import sys; print(sys.modules.get('debugpy', 'absent'))")
        assert loaded.strip() in ("None", "absent"), "the grading kernel imported the debugger"
    finally:
        kc.stop_channels()


async def test_end_of_a_killed_kernel_is_polled_every_hundredth_of_a_second(monkeypatch):
    """Does the manager look for a killed kernel's end every 0.01 s, not on jupyter_client's 0.1 s?"""
    km = GradingKernelManager()
    answers = iter([True, True, True, False])
    pauses = []

    async def is_alive():
        return next(answers)

    async def sleep(seconds):
        pauses.append(seconds)

    monkeypatch.setattr(km, "_async_is_alive", is_alive)
    monkeypatch.setattr(asyncio, "sleep", sleep)
    await km._async_wait()
    assert pauses == [0.01, 0.01, 0.01]
