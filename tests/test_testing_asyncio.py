"""proximal.helpers.testing, module 01/02 section: the CPU-work probe and the loop ticker."""

from __future__ import annotations

import asyncio
import os
from concurrent.futures import ProcessPoolExecutor

from proximal.helpers.testing import CpuReport, cpu_probe, loop_ticker
from proximal.helpers.timeline import count_primes


async def test_probe_in_a_process_pool_sees_a_free_loop():
    """Does cpu_probe, run in a worker process, report that process and a loop that kept ticking?"""
    loop = asyncio.get_running_loop()
    async with loop_ticker() as log:
        with ProcessPoolExecutor(max_workers=2) as pool:
            reports = await asyncio.gather(*(loop.run_in_executor(pool, cpu_probe, n) for n in (500, 900)))
    assert [type(r) for r in reports] == [CpuReport, CpuReport]
    assert [r.value for r in reports] == [count_primes(500), count_primes(900)]
    assert all(r.pid != os.getpid() and r.loop_ticked for r in reports)
    assert log.count >= 2


async def test_probe_in_a_thread_reports_this_process():
    """Does cpu_probe in a worker thread report the notebook's own process (and a free loop)?"""
    async with loop_ticker():
        report = await asyncio.to_thread(cpu_probe, 300)
    assert report.pid == os.getpid() and report.loop_ticked


async def test_probe_on_the_loop_sees_it_frozen():
    """Does cpu_probe called in the loop's own thread report that the loop could not tick?"""
    async with loop_ticker():
        report = cpu_probe(300, patience=0.2)
    assert report.pid == os.getpid() and not report.loop_ticked


async def test_ticker_restores_the_environment():
    """Does loop_ticker remove its environment variable when the block ends?"""
    before = os.environ.get("PROXIMAL_TICK_FILE")
    async with loop_ticker():
        assert os.environ.get("PROXIMAL_TICK_FILE")
    assert os.environ.get("PROXIMAL_TICK_FILE") == before
