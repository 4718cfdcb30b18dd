"""The kernel the grader starts (autograder.kernel, autograder.kernel_manager)."""

from __future__ import annotations

import json
import os
import sys

import pytest

from autograder.kernel_manager import GradingKernelClient, GradingKernelManager, KernelSlots


def write_specs(where, monkeypatch, names=("grading",)) -> None:
    """Plain grading kernel specs (no sandbox) under ``where``, found through JUPYTER_PATH."""
    for name in names:
        spec = where / "kernels" / name
        spec.mkdir(parents=True)
        argv = [sys.executable, "-m", "autograder.kernel", "-f", "{connection_file}"]
        (spec / "kernel.json").write_text(
            json.dumps({"argv": argv, "display_name": name, "language": "python"})
        )
    monkeypatch.setenv("JUPYTER_PATH", str(where))


@pytest.fixture
async def kernel(tmp_path, monkeypatch):
    write_specs(tmp_path, monkeypatch)
    km = GradingKernelManager(kernel_name="grading", transport="ipc", ip=str(tmp_path / "ipc"))
    await km.start_kernel(cwd=str(tmp_path))
    yield km
    if km.has_kernel:
        await km.shutdown_kernel(now=True)


async def run(kc, code: str) -> str:
    """Execute ``code`` and return what it printed."""
    printed = []
    reply = await kc.execute_interactive(
        code, timeout=30, output_hook=lambda m: printed.append(m["content"].get("text", ""))
    )
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


def slots_for(stage, uid):
    return {slot: {"manager": {"kernel_name": f"grading-{slot}"}, "uid": uid} for slot in ("a", "b")}


async def test_a_spare_is_ready_for_the_next_submission(tmp_path, monkeypatch):
    """With a user per slot, does each submission get the spare started during the one before, alternating slots?"""
    write_specs(tmp_path, monkeypatch, ("grading-a", "grading-b"))
    stage = tmp_path / "stage"
    slots = KernelSlots(stage, slots_for(stage, os.getuid()))  # our own uid: chown to it is allowed
    taken = []
    try:
        for student in ("ada", "bo", "cy"):
            (stage / student / "01").mkdir(parents=True)
            spare = slots._spare[0] if slots._spare else None
            km = await slots.take(stage / student / "01")
            assert spare is None or km is spare, "the spare was not used"
            taken.append(km.kernel_name)
            await km.shutdown_kernel(now=True)  # as nbclient does when the notebook is done
        assert taken == ["grading-a", "grading-b", "grading-a"]
        assert slots.started == 4, "three kernels and one spare left over"
    finally:
        await slots.close()
    assert slots._spare is None


async def test_without_a_user_per_slot_there_is_no_spare(tmp_path, monkeypatch):
    """Where slots cannot have users of their own, is every kernel started on demand, in one slot?"""
    write_specs(tmp_path, monkeypatch, ("grading-a", "grading-b"))
    stage = tmp_path / "stage"
    slots = KernelSlots(stage, slots_for(stage, None))
    for student in ("ada", "bo"):
        (stage / student / "01").mkdir(parents=True)
        km = await slots.take(stage / student / "01")
        assert km.kernel_name == "grading-a" and slots._spare is None
        await km.shutdown_kernel(now=True)
    assert slots.started == 2


async def test_an_old_spare_is_replaced(tmp_path, monkeypatch):
    """Is a spare older than max_age (its notebook time limit already running) shut down and a fresh kernel used?"""
    write_specs(tmp_path, monkeypatch, ("grading-a", "grading-b"))
    stage = tmp_path / "stage"
    slots = KernelSlots(stage, slots_for(stage, os.getuid()), max_age=0)
    try:
        (stage / "ada" / "01").mkdir(parents=True)
        first = await slots.take(stage / "ada" / "01")
        stale = slots._spare[0]
        await first.shutdown_kernel(now=True)
        (stage / "bo" / "01").mkdir(parents=True)
        second = await slots.take(stage / "bo" / "01")
        assert second is not stale and not await stale.is_alive()
        await second.shutdown_kernel(now=True)
    finally:
        await slots.close()


async def test_warming_starts_a_spare_then_renews_it_only_once_it_is_getting_old(tmp_path, monkeypatch):
    """Does warm() start a spare before any submission, keep a young one, and replace one past half its max_age
    (so that a grader waiting between submissions never hands out an old spare)?"""
    write_specs(tmp_path, monkeypatch, ("grading-a", "grading-b"))
    stage = tmp_path / "stage"
    stage.mkdir()  # the worker's stage exists before its first kernel starts (see autograder.grade)
    slots = KernelSlots(stage, slots_for(stage, os.getuid()), max_age=3600)
    try:
        await slots.warm()
        first = slots._spare[0]
        await slots.warm()
        assert slots._spare[0] is first and slots.started == 1, "a young spare was replaced"
        slots.max_age = 0  # as if half an hour had passed
        await slots.warm()
        assert slots._spare[0] is not first and not await first.is_alive() and slots.started == 2
        (stage / "ada" / "01").mkdir(parents=True)
        renewed = slots._spare[0]
        slots.max_age = 3600
        km = await slots.take(stage / "ada" / "01")
        assert km is renewed, "the warmed spare was not the one used"
        await km.shutdown_kernel(now=True)
    finally:
        await slots.close()


async def test_warming_without_a_user_per_slot_starts_nothing(tmp_path, monkeypatch):
    """Where slots have no users of their own (no spares), does warm() leave kernels to be started on demand?"""
    write_specs(tmp_path, monkeypatch, ("grading-a", "grading-b"))
    stage = tmp_path / "stage"
    slots = KernelSlots(stage, slots_for(stage, None))
    await slots.warm()
    assert slots._spare is None and slots.started == 0
