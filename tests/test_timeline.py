"""Tests for proximal.helpers.timeline: recording, overlap counting, plotting, the demo workload."""

import asyncio
import concurrent.futures
import subprocess
import sys
import threading

import pytest

from proximal.helpers.timeline import Record, Timeline, count_primes, max_overlap, plot_timeline


class FakeClock:
    """A clock the test advances by hand: no dependence on real time."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


# -- max_overlap ---------------------------------------------------------------------------------
def test_max_overlap_empty_is_zero():
    assert max_overlap([]) == 0


def test_max_overlap_sequential_touching_intervals_count_as_one():
    assert max_overlap([("a", 0, 1), ("b", 1, 2), ("c", 2, 3)]) == 1


def test_max_overlap_nested_and_partial():
    records = [("a", 0, 10), ("b", 1, 2), ("c", 1.5, 3), ("d", 2.5, 2.7), ("e", 9, 11)]
    # at t=1.6: a, b, c open -> 3; at t=2.6: a, c, d -> 3
    assert max_overlap(records) == 3


def test_max_overlap_all_identical():
    assert max_overlap([("x", 0.0, 1.0)] * 5) == 5


def test_max_overlap_ignores_empty_intervals():
    assert max_overlap([("a", 1, 1), ("b", 1, 1)]) == 0
    assert max_overlap([("a", 0, 2), ("b", 1, 1)]) == 1


def test_max_overlap_rejects_reversed_interval():
    with pytest.raises(ValueError):
        max_overlap([("bad", 2, 1)])


def test_max_overlap_accepts_a_generator_and_records():
    gen = (Record(str(i), i * 0.5, i * 0.5 + 1) for i in range(4))
    assert max_overlap(gen) == 2


# -- Timeline recording --------------------------------------------------------------------------
def test_sync_span_records_label_start_end():
    clock = FakeClock()
    tl = Timeline(clock=clock)
    clock.now = 1.0
    with tl.span("work"):
        clock.now = 3.5
    assert list(tl) == [Record("work", 1.0, 3.5)]
    (rec,) = tl
    assert rec.duration == 2.5
    label, start, end = rec  # unpacks as a plain triple
    assert (label, start, end) == ("work", 1.0, 3.5)
    assert len(tl) == 1 and tl.total == 2.5


def test_span_records_even_when_block_raises_and_does_not_swallow():
    clock = FakeClock()
    tl = Timeline(clock=clock)
    with pytest.raises(KeyError):
        with tl.span("boom"):
            clock.now = 2.0
            raise KeyError("x")
    assert list(tl) == [Record("boom", 0.0, 2.0)]


async def test_async_span_and_concurrency_count():
    tl = Timeline()

    async def job(i: int) -> int:
        async with tl.span(f"job {i}"):
            await asyncio.sleep(0.02)
        return i

    assert await asyncio.gather(*(job(i) for i in range(4))) == [0, 1, 2, 3]
    assert sorted(r.label for r in tl) == [f"job {i}" for i in range(4)]
    assert max_overlap(tl) == 4 == tl.max_overlap()

    tl.clear()
    for i in range(3):
        await job(i)
    assert max_overlap(tl) == 1


async def test_async_span_records_cancelled_task():
    tl = Timeline()
    started = asyncio.Event()

    async def forever() -> None:
        async with tl.span("forever"):
            started.set()
            await asyncio.sleep(60)

    task = asyncio.create_task(forever())
    await asyncio.wait_for(started.wait(), timeout=5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert [r.label for r in tl] == ["forever"]


async def test_track_decorator_async_default_label_and_callable_label():
    tl = Timeline()

    @tl.track()
    async def fetch(n: int) -> int:
        await asyncio.sleep(0)
        return n * 2

    @tl.track(lambda url: f"GET {url}")
    async def get(url: str) -> str:
        return url.upper()

    @tl.track("fixed")
    async def nothing() -> None:
        return None

    assert await fetch(3) == 6
    assert await get("/a") == "/A"
    assert await nothing() is None
    assert [r.label for r in tl] == ["fetch 3", "GET /a", "fixed"]
    assert fetch.__name__ == "fetch"


def test_track_decorator_sync_from_threads():
    tl = Timeline()
    barrier = threading.Barrier(3, timeout=10)

    @tl.track()
    def blocking(i: int) -> int:
        barrier.wait()  # all three are inside their span at once
        return i

    with concurrent.futures.ThreadPoolExecutor(max_workers=3) as pool:
        assert list(pool.map(blocking, range(3))) == [0, 1, 2]
    assert sorted(r.label for r in tl) == ["blocking 0", "blocking 1", "blocking 2"]
    assert max_overlap(tl) == 3


def test_track_without_args_uses_function_name():
    tl = Timeline(clock=FakeClock())

    @tl.track()
    def tick() -> str:
        return "ok"

    assert tick() == "ok"
    assert [r.label for r in tl] == ["tick"]


def test_add_validates():
    tl = Timeline()
    assert tl.add("x", 1, 2) == Record("x", 1.0, 2.0)
    with pytest.raises(ValueError):
        tl.add("y", 2, 1)


def test_import_has_no_side_effects():
    # In a fresh interpreter: importing must not pull in matplotlib.pyplot nor print anything.
    code = "import sys, proximal.helpers.timeline; assert 'matplotlib.pyplot' not in sys.modules"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""


# -- plotting ------------------------------------------------------------------------------------
def test_plot_timeline_one_row_per_label(tmp_path, monkeypatch):
    monkeypatch.setenv("MPLCONFIGDIR", str(tmp_path))
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # listed in the order they ended; rows must follow the order they started
    records = [("b", 10.5, 11.0), ("a", 10.0, 11.5), ("b", 12.0, 12.5)]
    ax = plot_timeline(records, title="demo")
    try:
        assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "b"]
        assert len(ax.patches) == 3
        lefts = sorted(round(p.get_x(), 6) for p in ax.patches)
        assert lefts == [0.0, 0.5, 2.0]  # drawn relative to the earliest start
        assert ax.get_title().startswith("demo") and "2.50s" in ax.get_title()
    finally:
        plt.close(ax.figure)

    fig, axes = plt.subplots(2, 1, sharex=True)
    try:
        # shared x axis: the longer timeline must fit even when drawn second
        plot_timeline([("x", 0.0, 1.0)], ax=axes[0])
        plot_timeline([("y", 0.0, 3.0)], ax=axes[1])
        assert axes[0].get_xlim()[1] >= 3.0
        assert axes[0].get_xlim()[0] == 0.0  # bars stick to the origin
    finally:
        plt.close(fig)

    fig, axes = plt.subplots(1, 2)
    try:
        assert plot_timeline(records, ax=axes[1], origin=0.0, color="red", annotate=False) is axes[1]
        assert min(p.get_x() for p in axes[1].patches) == 10.0
        assert axes[1].get_title() == ""
        # an empty timeline still plots
        assert plot_timeline(Timeline(), ax=axes[0], title="empty") is axes[0]
    finally:
        plt.close(fig)


# -- workload ------------------------------------------------------------------------------------
def test_count_primes_small_values():
    assert [count_primes(n) for n in (0, 2, 3, 10, 20, 100)] == [0, 0, 1, 4, 8, 25]


def test_count_primes_runs_in_a_process_pool():
    with concurrent.futures.ProcessPoolExecutor(max_workers=2) as pool:
        assert list(pool.map(count_primes, [10, 100])) == [4, 25]
