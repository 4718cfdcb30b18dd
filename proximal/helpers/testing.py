"""Code that several exercise test cells share: probes that see *how* a learner's code ran.

Each module has its own section below, under a comment header naming it. Hidden-test logic stays in
the notebooks; what is here is only the measuring equipment. Importing this module has no side effects.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from proximal.helpers.timeline import count_primes

if TYPE_CHECKING:
    import torch

# --- module 01/02 ---
# A probe for CPU-bound work sent to a process pool. `loop_ticker()` runs a tick task on the test's
# event loop that writes the time of its latest tick to a file; `cpu_probe(n)` is ordinary CPU work
# (count_primes) that, before it returns, waits until it has seen the loop tick after it started. It
# lives in an importable module, so a `ProcessPoolExecutor` worker can import it. Run in the loop's own
# thread, it sees no tick (the loop is frozen while it runs) and says so in its report.

TICK_FILE_ENV = "PROXIMAL_TICK_FILE"


class CpuReport(NamedTuple):
    """What `cpu_probe` saw: its answer and where and how it ran."""

    value: int  # count_primes(n)
    pid: int  # the process that did the work
    thread: int  # the thread (threading.get_ident()) in that process
    loop_ticked: bool  # did the event loop tick while the work was running?
    start: float  # time.monotonic() when the work started (one clock for all processes here)
    end: float  # time.monotonic() when it ended


def _last_tick(path: str | None) -> float:
    if not path:
        return float("-inf")
    try:
        return float(Path(path).read_text() or "-inf")
    except (OSError, ValueError):
        return float("-inf")


def cpu_probe(n: int, patience: float = 1.5) -> CpuReport:
    """Count the primes below `n` (CPU-bound work), then wait up to `patience` s for two loop ticks.

    The ticks must come from `loop_ticker()` after the work started; they show that the event loop
    stayed free while this function ran. Returns a :class:`CpuReport`.
    """
    path = os.environ.get(TICK_FILE_ENV)
    start = time.monotonic()
    value = count_primes(int(n))
    deadline = start + patience
    seen: set[float] = set()
    while time.monotonic() < deadline:
        tick = _last_tick(path)
        if tick > start:
            seen.add(tick)
            if len(seen) >= 2:
                break
        time.sleep(0.002)
    return CpuReport(value, os.getpid(), threading.get_ident(), len(seen) >= 2, start, time.monotonic())


class TickLog:
    """The ticks `loop_ticker()` made: their count, and the loop's thread and process."""

    def __init__(self) -> None:
        self.count = 0
        self.pid = os.getpid()
        self.thread = threading.get_ident()


@contextlib.asynccontextmanager
async def loop_ticker(interval: float = 0.005) -> AsyncIterator[TickLog]:
    """While the block runs, tick on the running event loop every `interval` s (see `cpu_probe`).

    The tick file is named in ``os.environ[TICK_FILE_ENV]``, which worker processes and threads
    started inside the block inherit.
    """
    log = TickLog()
    with tempfile.TemporaryDirectory(prefix="proximal-ticks-") as folder:
        path = Path(folder) / "tick"
        scratch = Path(folder) / "tick.tmp"
        stop = asyncio.Event()

        async def tick() -> None:
            while not stop.is_set():
                scratch.write_text(repr(time.monotonic()))
                os.replace(scratch, path)
                log.count += 1
                await asyncio.sleep(interval)

        old = os.environ.get(TICK_FILE_ENV)
        os.environ[TICK_FILE_ENV] = str(path)
        task = asyncio.create_task(tick())
        try:
            yield log
        finally:
            stop.set()
            await task
            if old is None:
                os.environ.pop(TICK_FILE_ENV, None)
            else:
                os.environ[TICK_FILE_ENV] = old


# --- module 03/04 ---


def run_counting_hashes(
    script: str | Path, args: Sequence[str | Path], cwd: str | Path | None = None, timeout: float = 60
) -> tuple[subprocess.CompletedProcess, dict[str, int]]:
    """Run ``python SCRIPT ARGS...``; return the finished process and its SHA-256 digests by kind.

    The counts (``{"leaf": ..., "node": ..., "other": ...}``) come from
    :mod:`proximal.helpers.hashcount`: a digest of bytes that start with ``0x00`` is a ``leaf``, with
    ``0x01`` a ``node`` (RFC 6962's prefixes). Raises ``subprocess.TimeoutExpired`` after ``timeout``.
    """
    from proximal.helpers import hashcount
    from proximal.helpers.commands import python_executable

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "counts.json"
        done = subprocess.run(
            [python_executable(), hashcount.__file__, str(out), str(script), *map(str, args)],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=cwd,
        )
        counts = json.loads(out.read_text()) if out.exists() else {"leaf": 0, "node": 0, "other": 0}
    return done, counts


# --- module 06 ---


def tensors_close(actual: object, expected: torch.Tensor, atol: float = 1e-5) -> bool:
    """True when `actual` is a tensor of `expected`'s shape whose entries are all within `atol` of it."""
    import torch  # here, not at the top: module 01's process-pool workers import this module too

    if not isinstance(actual, torch.Tensor) or actual.shape != expected.shape:
        return False
    actual, expected = actual.detach().double(), expected.detach().double()
    same_inf = torch.equal(torch.isinf(actual), torch.isinf(expected))
    finite = torch.isfinite(expected)
    return same_inf and bool(((actual - expected)[finite].abs() <= atol).all())


def which_mistake(
    actual: object, wrong_answers: Mapping[str, torch.Tensor], atol: float = 1e-5
) -> str | None:
    """The name of the first known wrong answer that `actual` matches, or None when it matches none of them.

    A test computes what a typical mistake would return (the gates in the wrong order, the wrong
    triangle of a mask, ...) and uses this to name the mistake in its assertion message.
    """
    for name, wrong in wrong_answers.items():
        if tensors_close(actual, wrong, atol):
            return name
    return None
