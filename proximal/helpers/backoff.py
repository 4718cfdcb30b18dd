"""Backoff schedules, and what they do to a server when many clients retry at once.

Module 03 (retries) uses this to *see* waiting strategies instead of reading formulas:

* :func:`wait_schedule` asks a tenacity wait strategy (``wait_fixed(1)``, ``wait_exponential(...)``,
  ``wait_random_exponential(...)``...) which waits it would request after attempt 1, 2, 3...
  without running or sleeping anything.
* :func:`plot_schedules` draws several schedules side by side (per attempt, or cumulative time).
* :func:`storm_arrivals` simulates a *retry storm*: many clients fail at the same moment and all
  retry with the same strategy; it returns when each of their requests reaches the server.
  :func:`plot_storm` draws those arrivals as requests per time bin: without jitter they come back
  in synchronised waves, with jitter they spread out.

Everything is computed, nothing sleeps, and randomness is seeded (the global ``random`` state that
tenacity's jittered waits use is saved and restored around each computation).

>>> from tenacity import wait_exponential
>>> wait_schedule(wait_exponential(multiplier=0.5, max=4), attempts=6)
[0.5, 1.0, 2.0, 4.0, 4.0, 4.0]

Importing this module has no side effects (matplotlib is imported only when you plot).
"""

from __future__ import annotations

import contextlib
import itertools
import random
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING

from tenacity import RetryCallState

if TYPE_CHECKING:  # pragma: no cover - for type checkers only
    from matplotlib.axes import Axes

__all__ = ["plot_schedules", "plot_storm", "storm_arrivals", "wait_schedule"]

WaitStrategy = Callable[[RetryCallState], float]


@contextlib.contextmanager
def _seeded_global_random(seed: int | None) -> Iterator[None]:
    """Seed the global ``random`` module (which tenacity's jitter uses), then restore its state."""
    if seed is None:
        yield
        return
    state = random.getstate()
    random.seed(seed)
    try:
        yield
    finally:
        random.setstate(state)


def _state_for(attempt: int) -> RetryCallState:
    state = RetryCallState(retry_object=None, fn=None, args=(), kwargs={})  # type: ignore[arg-type]
    state.attempt_number = attempt
    return state


def wait_schedule(wait: WaitStrategy, attempts: int, *, seed: int | None = 0) -> list[float]:
    """The waits (seconds) ``wait`` requests after failed attempt 1, 2, ..., ``attempts``.

    Args:
        wait: a tenacity wait strategy, e.g. ``wait_exponential(multiplier=0.1, max=2)``, or any
            callable taking a :class:`tenacity.RetryCallState` (only ``attempt_number`` is set; a
            strategy that needs the outcome of the attempt cannot be previewed this way).
        attempts: how many waits to compute.
        seed: seeds the randomness of jittered strategies; ``None`` leaves ``random`` alone.

    Returns:
        A list of ``attempts`` floats.

    >>> from tenacity import wait_fixed
    >>> wait_schedule(wait_fixed(2), 3)
    [2.0, 2.0, 2.0]
    """
    if attempts < 0:
        raise ValueError("attempts must be >= 0")
    with _seeded_global_random(seed):
        return [float(wait(_state_for(n))) for n in range(1, attempts + 1)]


def storm_arrivals(
    wait: WaitStrategy,
    clients: int,
    attempts: int,
    *,
    seed: int = 0,
    spread: float = 0.0,
    duration: float = 0.0,
    include_first: bool = True,
) -> list[float]:
    """When each request reaches the server if ``clients`` clients fail together and retry with ``wait``.

    Every client makes its first request at a time drawn uniformly from ``[0, spread]`` (``spread=0``:
    all at once, as after an outage), and every attempt fails, so each client makes ``attempts``
    requests: attempt ``k+1`` starts ``duration`` (how long a failing request takes) plus the wait
    after attempt ``k`` later. Each client draws its own jitter; the whole simulation is seeded.
    With ``include_first=False`` only the retries are returned (the first attempts are the original
    burst, the same whatever the wait strategy).

    Returns:
        The sorted arrival times (seconds): ``clients * attempts`` of them, or
        ``clients * (attempts - 1)`` without the first attempts.
    """
    if clients < 0 or attempts < 0 or spread < 0 or duration < 0:
        raise ValueError("clients, attempts, spread and duration must be >= 0")
    times: list[float] = []
    rng = random.Random(seed)
    with _seeded_global_random(seed):
        for _ in range(clients):
            t = rng.uniform(0.0, spread) if spread else 0.0
            for n in range(1, attempts + 1):
                if n > 1 or include_first:
                    times.append(t)
                t += duration + float(wait(_state_for(n)))
    return sorted(times)


def plot_schedules(
    schedules: Mapping[str, Sequence[float]],
    ax: Axes | None = None,
    *,
    cumulative: bool = False,
    title: str | None = None,
) -> Axes:
    """Draw named wait schedules (e.g. from :func:`wait_schedule`) against the attempt number.

    Args:
        schedules: ``{"fixed 1 s": [1, 1, 1], "exponential": [0.5, 1, 2], ...}``.
        ax: axes to draw on; a new figure when ``None``.
        cumulative: plot the total time waited so far instead of each wait.
        title: the axes title.

    Returns:
        The axes drawn on.
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 3.6))
    for name, waits in schedules.items():
        values = [float(w) for w in waits]
        if cumulative:
            values = list(itertools.accumulate(values))
        ax.plot(range(1, len(values) + 1), values, marker="o", label=name)
    ax.set_xlabel("after failed attempt number")
    ax.set_ylabel("total seconds waited" if cumulative else "wait before next attempt (s)")
    ax.grid(alpha=0.3)
    if schedules:
        ax.legend()
        longest = max(len(w) for w in schedules.values())
        ax.set_xticks(range(1, longest + 1))
    if title:
        ax.set_title(title)
    return ax


def plot_storm(
    arrivals: Mapping[str, Sequence[float]],
    *,
    bin_width: float = 0.25,
    axes: Sequence[Axes] | None = None,
    capacity: float | None = None,
) -> list[Axes]:
    """Draw requests per time bin for each named simulation (e.g. from :func:`storm_arrivals`).

    One panel per entry, sharing the time axis, so waves and spread-out traffic can be compared.

    Args:
        arrivals: ``{"no jitter": [...times...], "full jitter": [...]}``.
        bin_width: seconds per bar.
        axes: one axes per entry to draw on; new figure when ``None``.
        capacity: if given, a dashed line at this many requests per bin (what the server can take).

    Returns:
        The list of axes drawn on.
    """
    import matplotlib.pyplot as plt

    if bin_width <= 0:
        raise ValueError("bin_width must be > 0")
    names = list(arrivals)
    if axes is None:
        _, grid = plt.subplots(
            len(names), 1, figsize=(7, 1.9 * max(len(names), 1) + 0.6), sharex=True, squeeze=False
        )
        axes = [row[0] for row in grid]
    end = max((max(t) for t in arrivals.values() if len(t)), default=1.0)
    n_bins = int(end // bin_width) + 1
    edges = [i * bin_width for i in range(n_bins + 1)]
    peak = 0
    for ax, name in zip(axes, names, strict=False):
        counts, _, _ = ax.hist(list(arrivals[name]), bins=edges, color="C0", edgecolor="black", linewidth=0.3)
        peak = max(peak, int(max(counts, default=0)))
        ax.set_ylabel("requests")
        ax.set_title(f"{name}: peak {int(max(counts, default=0))} requests per {bin_width:g} s", fontsize=10)
        if capacity is not None:
            ax.axhline(capacity, color="C3", linestyle="--", linewidth=1)
    for ax in axes:
        ax.set_ylim(0, peak * 1.1 + 1)
    if axes:
        axes[-1].set_xlabel("time (s)")
    return list(axes)
