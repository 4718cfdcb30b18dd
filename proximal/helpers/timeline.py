"""Record when pieces of work start and end, and draw them as a timeline.

The course uses this to *see* concurrency: jobs run one after another make a staircase,
jobs run concurrently make bars stacked on top of each other. Everything is measured with
:func:`time.perf_counter`, so the pictures show what really happened.

Typical use::

    from proximal.helpers.timeline import Timeline, plot_timeline, max_overlap

    tl = Timeline()

    async def job(i):
        async with tl.span(f"job {i}"):      # records (label, start, end)
            await asyncio.sleep(0.1)

    await asyncio.gather(*(job(i) for i in range(3)))
    plot_timeline(tl, title="three jobs, concurrently")
    max_overlap(tl)                           # -> 3

The same recorder works for plain functions (``with tl.span(...)``, e.g. inside a thread) and as a
decorator (``@tl.track()``). :func:`max_overlap` lets tests count how many jobs were in flight at
once instead of measuring seconds, which is robust on a busy machine.

Importing this module has no side effects (matplotlib is imported only when you plot).
"""

from __future__ import annotations

import functools
import inspect
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

if TYPE_CHECKING:  # pragma: no cover - for type checkers only
    from matplotlib.axes import Axes

__all__ = ["Record", "Timeline", "plot_timeline", "max_overlap", "count_primes"]

F = TypeVar("F", bound=Callable[..., Any])


class Record(NamedTuple):
    """One interval of work: a label and its start and end times (seconds, ``perf_counter`` clock)."""

    label: str
    start: float
    end: float

    @property
    def duration(self) -> float:
        """``end - start`` in seconds."""
        return self.end - self.start


class _Span:
    """Context manager returned by :meth:`Timeline.span`; works with ``with`` and ``async with``.

    The record is added when the block is left, however it is left: normally, by an exception,
    or by cancellation (``asyncio.CancelledError``). Exceptions are never swallowed.
    """

    def __init__(self, timeline: Timeline, label: str) -> None:
        self._timeline = timeline
        self._label = label
        self._start: float | None = None

    def __enter__(self) -> _Span:
        self._start = self._timeline.clock()
        return self

    def __exit__(self, *exc_info: object) -> None:
        assert self._start is not None, "span exited before it was entered"
        self._timeline.add(self._label, self._start, self._timeline.clock())

    async def __aenter__(self) -> _Span:
        return self.__enter__()

    async def __aexit__(self, *exc_info: object) -> None:
        self.__exit__(*exc_info)


class Timeline:
    """A recorder of :class:`Record` intervals.

    Iterating over a ``Timeline`` yields its records in the order they *ended*, so a
    ``Timeline`` can be passed wherever records are expected (:func:`plot_timeline`,
    :func:`max_overlap`). Appending is safe from several threads (``list.append`` is atomic).

    Args:
        clock: the function giving the current time in seconds; :func:`time.perf_counter` by
            default. Tests may pass a fake clock.
    """

    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        self.clock = clock
        self.records: list[Record] = []

    # -- recording -------------------------------------------------------------------------
    def span(self, label: str) -> _Span:
        """Record the time spent in a ``with`` or ``async with`` block under ``label``."""
        return _Span(self, str(label))

    def add(self, label: str, start: float, end: float) -> Record:
        """Add an interval measured elsewhere; returns the new :class:`Record`."""
        if end < start:
            raise ValueError(f"interval {label!r} ends ({end}) before it starts ({start})")
        record = Record(str(label), float(start), float(end))
        self.records.append(record)
        return record

    def track(self, label: str | Callable[..., str] | None = None) -> Callable[[F], F]:
        """Decorator: record every call of a function (``def`` or ``async def``).

        Args:
            label: the row label. A string is used as is; a callable is called with the same
                arguments as the decorated function and must return the label; ``None`` (default)
                uses the function's name followed by its first positional argument, if any
                (``fetch(3)`` is recorded as ``"fetch 3"``).

        Example::

            @tl.track(lambda url: f"GET {url}")
            async def fetch(url): ...
        """

        def decorate(func: F) -> F:
            def label_for(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
                if callable(label):
                    return str(label(*args, **kwargs))
                if label is not None:
                    return label
                return f"{func.__name__} {args[0]}" if args else func.__name__

            if inspect.iscoroutinefunction(func):

                @functools.wraps(func)
                async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                    async with self.span(label_for(args, kwargs)):
                        return await func(*args, **kwargs)

                return async_wrapper  # type: ignore[return-value]

            @functools.wraps(func)
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                with self.span(label_for(args, kwargs)):
                    return func(*args, **kwargs)

            return wrapper  # type: ignore[return-value]

        return decorate

    # -- reading -----------------------------------------------------------------------------
    def __iter__(self) -> Iterator[Record]:
        return iter(list(self.records))

    def __len__(self) -> int:
        return len(self.records)

    def __repr__(self) -> str:
        return f"Timeline({len(self.records)} records)"

    def clear(self) -> None:
        """Forget all records."""
        self.records.clear()

    @property
    def total(self) -> float:
        """Seconds from the first start to the last end (0.0 when empty)."""
        if not self.records:
            return 0.0
        return max(r.end for r in self.records) - min(r.start for r in self.records)

    def max_overlap(self) -> int:
        """Shortcut for :func:`max_overlap` of this timeline's records."""
        return max_overlap(self.records)

    def plot(self, ax: Axes | None = None, title: str | None = None, **kwargs: Any) -> Axes:
        """Shortcut for :func:`plot_timeline` of this timeline's records."""
        return plot_timeline(self.records, ax=ax, title=title, **kwargs)


def _as_records(records: Iterable[Any]) -> list[Record]:
    """Normalise an iterable of ``(label, start, end)`` triples to a list of :class:`Record`."""
    out: list[Record] = []
    for item in records:
        label, start, end = item
        if end < start:
            raise ValueError(f"interval {label!r} ends ({end}) before it starts ({start})")
        out.append(Record(str(label), float(start), float(end)))
    return out


def max_overlap(records: Iterable[Any]) -> int:
    """The largest number of intervals open at the same moment.

    Intervals are half-open ``[start, end)``: one that ends exactly when another starts does not
    overlap it, so jobs run strictly one after another give 1. An empty input gives 0.

    Args:
        records: ``(label, start, end)`` triples, e.g. a :class:`Timeline` or a list of
            :class:`Record`.

    Example:
        >>> max_overlap([("a", 0, 2), ("b", 1, 3), ("c", 2, 4)])
        2
    """
    events: list[tuple[float, int]] = []
    for _, start, end in _as_records(records):
        if end > start:  # an empty interval is never "open"
            events.append((start, +1))
            events.append((end, -1))
    # At equal times, ends (-1) sort before starts (+1): touching intervals do not overlap.
    events.sort()
    best = current = 0
    for _, delta in events:
        current += delta
        best = max(best, current)
    return best


def plot_timeline(
    records: Iterable[Any],
    ax: Axes | None = None,
    title: str | None = None,
    *,
    origin: float | None = None,
    color: str | None = None,
    annotate: bool = True,
) -> Axes:
    """Draw intervals as horizontal bars, one row per distinct label.

    Rows go top to bottom in the order their label first started. Records with the same label
    share a row (e.g. all the work one worker did). The x axis is left to autoscale, so several
    plots made with ``sharex=True`` line up on one clock.

    Args:
        records: ``(label, start, end)`` triples, e.g. a :class:`Timeline`.
        ax: the matplotlib axes to draw on; a new figure is made when ``None``.
        title: the axes title. When ``annotate`` is true, the total span is appended.
        origin: the time drawn as 0 s; the earliest start when ``None``. Pass the same origin to
            several plots to compare them on one clock.
        color: one colour for every bar; by default each row gets its own colour.
        annotate: write each bar's duration on it and the total span in the title.

    Returns:
        The axes drawn on.
    """
    import matplotlib.pyplot as plt  # imported here: no matplotlib cost when only recording

    recs = _as_records(records)
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 0.45 * max(len({r.label for r in recs}), 1) + 1.2))
    first_start: dict[str, float] = {}
    for r in recs:
        first_start[r.label] = min(first_start.get(r.label, r.start), r.start)
    # Rows top to bottom by earliest start (ties keep first-seen order: sorted() is stable).
    rows = {label: i for i, label in enumerate(sorted(first_start, key=first_start.__getitem__))}
    t0 = origin if origin is not None else (min(r.start for r in recs) if recs else 0.0)
    cycle = plt.rcParams["axes.prop_cycle"].by_key().get("color", ["C0"])
    for r in recs:
        row = rows[r.label]
        bar_color = color if color is not None else cycle[row % len(cycle)]
        ax.barh(
            row,
            r.end - r.start,
            left=r.start - t0,
            height=0.6,
            color=bar_color,
            edgecolor="black",
            linewidth=0.5,
        )
        if annotate and r.duration > 0:
            ax.text(
                r.start - t0 + r.duration / 2, row, f"{r.duration:.2f}s", ha="center", va="center", fontsize=8
            )
    ax.set_yticks(range(len(rows)), list(rows))
    ax.set_ylim(max(len(rows), 1) - 0.5, -0.5)  # first label on top
    ax.set_xlabel("time since start (s)")
    ax.grid(axis="x", alpha=0.3)
    full_title = title or ""
    if annotate and recs:
        span = max(r.end for r in recs) - min(r.start for r in recs)
        full_title = f"{full_title} (total {span:.2f}s)" if full_title else f"total {span:.2f}s"
    if full_title:
        ax.set_title(full_title)
    return ax


# -- a workload for demos ------------------------------------------------------------------------
def count_primes(limit: int) -> int:
    """Count the primes below ``limit`` by trial division: deliberately slow, pure-Python CPU work.

    It lives in an importable module (not in a notebook) so that it can be sent to a
    ``concurrent.futures.ProcessPoolExecutor`` or a ``multiprocessing.Pool``: worker processes find
    functions by importing their module, which a notebook's functions do not have.

    Example:
        >>> count_primes(20)
        8
    """
    count = 0
    for n in range(2, limit):
        d = 2
        while d * d <= n:
            if n % d == 0:
                break
            d += 1
        else:
            count += 1
    return count
