"""A local HTTP service that stands in for the internet, with faults on demand.

The course never talks to the real internet. Instead every HTTP lesson and exercise starts this small
``aiohttp.web`` service on ``127.0.0.1`` (a free port) and asks it to misbehave in controlled ways:

>>> from proximal.helpers.service import LocalService
>>> with LocalService(seed=7) as svc:                   # a background thread with its own event loop
...     svc.faults.script(["503", "503", "ok"])          # the next three requests: 503, 503, then normal
...     # ... make requests to svc.url + "/countries" ...
...     svc.stats.requests                               # how many requests arrived
0

It also works inside a running event loop (``async with LocalService() as svc:``); in that mode the
server shares the caller's loop, so only use non-blocking (async) clients with it.

The data
    A small, realistic JSON API generated in code (nothing is downloaded), echoing a public
    statistics API: daily air-quality readings for 20 European countries over the year 2024.

    ======================================  ===============================================
    ``GET /``                               index: the endpoints below
    ``GET /health``                         ``{"ok": true}``
    ``GET /countries``                      list of ``{"code", "name", "capital", "population"}``
    ``GET /countries/{code}``               one country (404 if unknown)
    ``GET /readings/{code}?date=2024-03-01``  one day's reading (default: the last day, 2024-12-31)
    ``GET /readings?country=FR&page=2&per_page=50``  paginated list with ``next`` (a full URL or null)
    ``GET /stream?lines=N&country=FR``      N readings as NDJSON (one JSON object per line), streamed
                                            in chunks: a response too large to want in memory
    ``POST /orders`` (JSON body)            creates an order (**not idempotent**); honours an
                                            ``Idempotency-Key`` header
    ``GET /orders``                         the orders created so far
    ``GET /echo``                           echoes method, path, query and headers
    ======================================  ===============================================

The faults (see :class:`Faults`)
    Scripted (``svc.faults.script([...])``, globally or for one path) or seeded-random
    (``svc.faults.set(error_rate=0.3)``): HTTP errors such as ``"500"``/``"503"``/``"404"``,
    ``"429"`` with a ``Retry-After`` header, ``"drop"`` (connection closed, no response),
    ``"drop_after"`` (the request *is processed*, then the connection is closed before the reply),
    ``"slow"`` (an answer slower than any sensible client timeout), ``"delay:S"`` (a latency spike),
    ``"bad_json"`` (``application/json`` that does not parse), ``"html"`` (an HTML page where JSON
    was expected). Plus base latency for every request and an optional ``capacity``: requests
    beyond it at once are refused with 503 (an overloaded server).

The counters (see :class:`Stats`)
    Requests in total, per path, per status and per fault; requests in flight and the peak number
    at once; distinct client connections; and one record per request (start, end, path, status,
    fault) on the :func:`time.perf_counter` clock, so exercises are graded on behaviour (how many
    calls, how many at once), not on timing luck.

Extra apps can be mounted (``LocalService(subapps={"/replica": app})``); faults and counters apply
to them too, because they are implemented as a middleware of the parent app.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as _dt
import functools
import json
import math
import random
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

__all__ = [
    "COUNTRIES",
    "DATES",
    "FAULT_KINDS",
    "Faults",
    "LocalService",
    "Stats",
    "country_codes",
    "parse_fault",
    "reading",
    "readings_for",
    "service_fixture",
]

# --------------------------------------------------------------------------------------------------
# The data: a fixed "world", generated in code
# --------------------------------------------------------------------------------------------------

#: The countries the API knows: code, name, capital, population (rounded, 2024 order of magnitude),
#: latitude of the capital (used to shape the generated temperatures).
COUNTRIES: tuple[dict[str, Any], ...] = tuple(
    {"code": c, "name": n, "capital": k, "population": p, "lat": lat}
    for c, n, k, p, lat in [
        ("AT", "Austria", "Vienna", 9_100_000, 48.2),
        ("BE", "Belgium", "Brussels", 11_800_000, 50.8),
        ("CH", "Switzerland", "Bern", 8_900_000, 46.9),
        ("CZ", "Czechia", "Prague", 10_900_000, 50.1),
        ("DE", "Germany", "Berlin", 84_500_000, 52.5),
        ("DK", "Denmark", "Copenhagen", 6_000_000, 55.7),
        ("ES", "Spain", "Madrid", 48_600_000, 40.4),
        ("FI", "Finland", "Helsinki", 5_600_000, 60.2),
        ("FR", "France", "Paris", 68_400_000, 48.9),
        ("GB", "United Kingdom", "London", 68_300_000, 51.5),
        ("GR", "Greece", "Athens", 10_400_000, 38.0),
        ("HU", "Hungary", "Budapest", 9_600_000, 47.5),
        ("IE", "Ireland", "Dublin", 5_300_000, 53.3),
        ("IT", "Italy", "Rome", 59_000_000, 41.9),
        ("NL", "Netherlands", "Amsterdam", 17_900_000, 52.4),
        ("NO", "Norway", "Oslo", 5_500_000, 59.9),
        ("PL", "Poland", "Warsaw", 36_600_000, 52.2),
        ("PT", "Portugal", "Lisbon", 10_600_000, 38.7),
        ("RO", "Romania", "Bucharest", 19_000_000, 44.4),
        ("SE", "Sweden", "Stockholm", 10_600_000, 59.3),
    ]
)
_BY_CODE: dict[str, dict[str, Any]] = {c["code"]: c for c in COUNTRIES}

_FIRST_DAY = _dt.date(2024, 1, 1)
#: Every date the API has readings for, as ISO strings: the 366 days of 2024.
DATES: tuple[str, ...] = tuple((_FIRST_DAY + _dt.timedelta(days=i)).isoformat() for i in range(366))
_DATE_INDEX: dict[str, int] = {d: i for i, d in enumerate(DATES)}
_DATA_SEED = 2024


def country_codes() -> list[str]:
    """The country codes the API knows, sorted: ``['AT', 'BE', ..., 'SE']``."""
    return [c["code"] for c in COUNTRIES]


def _public_country(c: Mapping[str, Any]) -> dict[str, Any]:
    return {"code": c["code"], "name": c["name"], "capital": c["capital"], "population": c["population"]}


def reading(country: str, date: str = DATES[-1]) -> dict[str, Any]:
    """The reading the API returns for ``country`` on ``date`` (what ``GET /readings/{country}`` sends).

    Deterministic: the same arguments always give the same numbers, whatever the service's seed, so
    tests can compute the expected answer without HTTP.

    >>> r = reading("FR", "2024-03-01")
    >>> sorted(r)
    ['country', 'date', 'no2', 'pm25', 'stations', 'temperature_c']
    """
    if country not in _BY_CODE:
        raise KeyError(f"unknown country {country!r}; known: {', '.join(country_codes())}")
    if date not in _DATE_INDEX:
        raise KeyError(f"no readings for date {date!r}; dates run from {DATES[0]} to {DATES[-1]}")
    return dict(_reading(country, date))


@functools.cache
def _country_base(country: str) -> float:
    return random.Random(f"{_DATA_SEED}:{country}").uniform(6.0, 16.0)


@functools.cache
def _reading(country: str, date: str) -> dict[str, Any]:
    info = _BY_CODE[country]
    day = _DATE_INDEX[date]
    rng = random.Random(f"{_DATA_SEED}:{country}:{date}")
    base = _country_base(country)
    winter = math.cos(2 * math.pi * (day - 15) / 366)  # +1 mid-January, -1 mid-July
    pm25 = max(1.0, base * (1 + 0.35 * winter) + rng.gauss(0, 3.0))
    no2 = max(2.0, 1.6 * base + 6 * winter + rng.gauss(0, 4.0))
    temperature = 12.0 - 0.4 * (info["lat"] - 45) - 10 * winter + rng.gauss(0, 3.0)
    return {
        "country": country,
        "date": date,
        "pm25": round(pm25, 1),
        "no2": round(no2, 1),
        "temperature_c": round(temperature, 1),
        "stations": 3 + info["population"] // 4_000_000 + rng.randint(0, 2),
    }


@functools.cache
def _reading_line(country: str, date: str) -> str:
    return json.dumps(_reading(country, date)) + "\n"


def readings_for(country: str | None = None) -> list[dict[str, Any]]:
    """Every reading the paginated ``GET /readings`` lists, in order (one country's, or all of them)."""
    codes = [country] if country else country_codes()
    return [reading(c, d) for c in codes for d in DATES]


# --------------------------------------------------------------------------------------------------
# Faults
# --------------------------------------------------------------------------------------------------

#: The fault kinds a script item may name (``"NNN"`` is any HTTP status from 400 to 599).
FAULT_KINDS: tuple[str, ...] = (
    "ok",
    "NNN",
    "429",
    "drop",
    "drop_after",
    "slow",
    "delay",
    "bad_json",
    "html",
)


@dataclass(frozen=True)
class _Fault:
    kind: str  # "ok" | "status" | "drop" | "drop_after" | "slow" | "delay" | "bad_json" | "html"
    status: int | None = None
    seconds: float | None = None  # delay/slow duration, or Retry-After for statuses
    label: str = "ok"


def parse_fault(item: str | int) -> tuple[str, int | None, float | None]:
    """Parse one script item into ``(kind, status, seconds)``; raise ``ValueError`` if it is not one.

    Grammar: ``"ok"``; an HTTP status ``"500"``, ``"503"``, ``"404"``... (``400``-``599``), optionally
    with a ``Retry-After`` in seconds (``"429:3"``; a bare ``"429"`` gets the default ``retry_after``);
    ``"drop"``; ``"drop_after"``; ``"slow"`` or ``"slow:S"``; ``"delay:S"``; ``"bad_json"``; ``"html"``.

    >>> parse_fault("429:3")
    ('status', 429, 3.0)
    >>> parse_fault("delay:0.5")
    ('delay', None, 0.5)
    """
    text = str(item).strip().lower()
    name, _, arg = text.partition(":")
    seconds: float | None = None
    if arg:
        try:
            seconds = float(arg)
        except ValueError:
            raise ValueError(f"fault {item!r}: the part after ':' must be a number of seconds") from None
        if not math.isfinite(seconds) or seconds < 0:
            raise ValueError(f"fault {item!r}: seconds must be a finite number >= 0")
    if name.isdigit():
        status = int(name)
        if not 400 <= status <= 599:
            raise ValueError(f"fault {item!r}: only error statuses 400-599 can be injected")
        return "status", status, seconds
    if name in ("ok", "drop", "drop_after", "bad_json", "html"):
        if arg:
            raise ValueError(f"fault {item!r}: {name!r} takes no ':' argument")
        return name, None, None
    if name == "slow":
        return "slow", None, seconds
    if name == "delay":
        if seconds is None:
            raise ValueError(f"fault {item!r}: write 'delay:SECONDS', e.g. 'delay:0.5'")
        return "delay", None, seconds
    raise ValueError(
        f"unknown fault {item!r}; use 'ok', an HTTP status like '503' or '429:2', 'drop', "
        "'drop_after', 'slow', 'slow:S', 'delay:S', 'bad_json' or 'html'"
    )


class _Unset:
    """Type of the "argument not given" marker (so that ``capacity=None`` can mean "no limit")."""

    def __repr__(self) -> str:
        return "<unset>"


_UNSET = _Unset()


def _scope_matches(scope: str, path: str) -> bool:
    scope = scope.rstrip("/") or "/"
    return path == scope or scope == "/" or path.startswith(scope + "/")


class Faults:
    """What the service does wrong, and when. Thread-safe; reach it as ``svc.faults``.

    Each request takes its fault from, in this order: the script of the most specific matching path
    (``script([...], path="/readings")`` matches ``/readings`` and ``/readings/FR``), the global
    script, then the seeded random faults of :meth:`set`. Scripts are consumed one item per request.
    Random draws come from ``random.Random(seed)``: the same sequence of requests meets the same
    faults under the same seed (with concurrent requests, the *sequence* of faults is the same but
    which request meets which one depends on arrival order).
    """

    # set by clear(), which the constructor calls
    _global: list[_Fault]
    _scripts: dict[str, list[_Fault]]
    _random_kinds: list[_Fault]
    _capacity: int | None

    def __init__(self, seed: int = 0, latency: float | tuple[float, float] = 0.0) -> None:
        self._lock = threading.Lock()
        self._seed = seed
        self._base_latency = latency
        self.clear()

    # -- configuration -------------------------------------------------------------------------

    def script(self, kinds: Iterable[str | int], path: str | None = None) -> None:
        """Make the next requests (to ``path``, or to any path) meet these faults, in order.

        Replaces any earlier script for the same scope. Example: ``script(["503", "503", "ok"])``,
        ``script(["429:2", "ok"], path="/readings/FR")``, ``script(["drop"] * 3)``.
        """
        items = [self._make(k) for k in kinds]
        with self._lock:
            if path is None:
                self._global = items
            else:
                if not path.startswith("/"):
                    raise ValueError(f"path {path!r} must start with '/'")
                self._scripts[path] = items

    def set(
        self,
        *,
        error_rate: float | None = None,
        status: int | None = None,
        kinds: Iterable[str | int] | None = None,
        latency: float | tuple[float, float] | None = None,
        retry_after: float | None = None,
        slow_seconds: float | None = None,
        capacity: int | None | _Unset = _UNSET,
    ) -> None:
        """Change the random faults and the service's behaviour; arguments left out keep their value.

        - ``error_rate``: probability that a request (not covered by a script) meets a fault.
        - ``status``: the HTTP status of that fault (default 503); or ``kinds``: a list of script items
          to choose from at random, e.g. ``["503", "429", "drop"]``.
        - ``latency``: seconds added to every request (a number, or ``(low, high)`` drawn uniformly).
        - ``retry_after``: the ``Retry-After`` header (seconds) sent with a bare ``"429"`` (default 1).
        - ``slow_seconds``: how long a ``"slow"`` fault waits (default 30; shutdown interrupts it).
        - ``capacity``: at most this many requests at once; more are refused with 503 (``None``: no limit,
          the default).
        """
        if error_rate is not None and not 0.0 <= error_rate <= 1.0:
            raise ValueError("error_rate must be between 0 and 1")
        if not isinstance(capacity, _Unset) and capacity is not None and capacity < 1:
            raise ValueError("capacity must be at least 1 (or None for no limit)")
        random_kinds = None
        if kinds is not None:
            random_kinds = [self._make(k) for k in kinds]
            if not random_kinds:
                raise ValueError("kinds must name at least one fault")
        elif status is not None:
            random_kinds = [self._make(str(status))]
        with self._lock:
            if error_rate is not None:
                self._error_rate = float(error_rate)
            if random_kinds is not None:
                self._random_kinds = random_kinds
            if latency is not None:
                self._latency = _check_latency(latency)
            if retry_after is not None:
                self._retry_after = float(retry_after)
            if slow_seconds is not None:
                self._slow_seconds = float(slow_seconds)
            if not isinstance(capacity, _Unset):
                self._capacity = None if capacity is None else int(capacity)

    def clear(self) -> None:
        """Forget scripts and random faults; back to the constructor's latency; re-seed the random draws."""
        with getattr(self, "_lock", contextlib.nullcontext()):
            self._global = []
            self._scripts = {}
            self._error_rate = 0.0
            self._random_kinds = [self._make("503")]
            self._latency = _check_latency(self._base_latency)
            self._retry_after = 1.0
            self._slow_seconds = 30.0
            self._capacity = None
            self._rng = random.Random(self._seed)
            self._latency_rng = random.Random(f"latency:{self._seed}")

    # -- inspection ----------------------------------------------------------------------------

    def remaining(self, path: str | None = None) -> int:
        """How many scripted faults are still to come (globally, or for the script of ``path``)."""
        with self._lock:
            return len(self._global if path is None else self._scripts.get(path, []))

    @property
    def capacity(self) -> int | None:
        """The current capacity (``None``: unlimited)."""
        return self._capacity

    @property
    def latency(self) -> float | tuple[float, float]:
        """The current base latency in seconds."""
        return self._latency

    def __repr__(self) -> str:
        with self._lock:
            scripts = {k: [f.label for f in v] for k, v in self._scripts.items() if v}
            return (
                f"Faults(script={[f.label for f in self._global]}, by_path={scripts}, "
                f"error_rate={self._error_rate}, random_kinds={[f.label for f in self._random_kinds]}, "
                f"latency={self._latency}, capacity={self._capacity})"
            )

    # -- used by the service -------------------------------------------------------------------

    @staticmethod
    def _make(item: str | int) -> _Fault:
        kind, status, seconds = parse_fault(item)
        return _Fault(kind=kind, status=status, seconds=seconds, label=str(item).strip().lower())

    def _next(self, path: str) -> tuple[_Fault, float]:
        """The fault for the next request to ``path`` and the latency to add (consumes the script)."""
        with self._lock:
            fault = None
            scopes = sorted(
                (s for s in self._scripts if self._scripts[s] and _scope_matches(s, path)),
                key=len,
                reverse=True,
            )
            if scopes:
                fault = self._scripts[scopes[0]].pop(0)
            elif self._global:
                fault = self._global.pop(0)
            elif self._error_rate > 0.0:
                if self._rng.random() < self._error_rate:
                    fault = self._random_kinds[self._rng.randrange(len(self._random_kinds))]
            latency = self._latency
            if isinstance(latency, tuple):
                latency = self._latency_rng.uniform(*latency)
            return fault or _OK, float(latency)


_OK = _Fault("ok")


def _check_latency(latency: float | tuple[float, float]) -> float | tuple[float, float]:
    if isinstance(latency, tuple | list):
        low, high = (float(x) for x in latency)
        if not 0 <= low <= high:
            raise ValueError("latency (low, high) needs 0 <= low <= high")
        return (low, high)
    if float(latency) < 0:
        raise ValueError("latency must be >= 0")
    return float(latency)


# --------------------------------------------------------------------------------------------------
# Stats
# --------------------------------------------------------------------------------------------------


class Stats:
    """Counters of what reached the service. Thread-safe; reach it as ``svc.stats``.

    Every property returns a fresh copy, so reading it never races with the server.
    Times in :attr:`records` are :func:`time.perf_counter` values (the same clock the client can use).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self.reset()

    def reset(self) -> None:
        """Zero every counter (requests still in flight keep being counted when they end)."""
        with getattr(self, "_lock", contextlib.nullcontext()):
            self._requests = 0
            self._peak = getattr(self, "_in_flight", 0)
            self._in_flight = getattr(self, "_in_flight", 0)
            self._by_path: Counter[str] = Counter()
            self._by_status: Counter[int] = Counter()
            self._by_fault: Counter[str] = Counter()
            self._by_method: Counter[str] = Counter()
            self._peers: set[tuple[Any, ...]] = set()
            self._records: list[dict[str, Any]] = []

    # -- read side ----------------------------------------------------------------------------

    @property
    def requests(self) -> int:
        """Requests received (every method and path, faulty ones included)."""
        with self._lock:
            return self._requests

    @property
    def in_flight(self) -> int:
        """Requests being handled right now."""
        with self._lock:
            return self._in_flight

    @property
    def peak_concurrency(self) -> int:
        """The largest number of requests in flight at the same moment since the last reset."""
        with self._lock:
            return self._peak

    @property
    def by_path(self) -> dict[str, int]:
        """Requests per URL path, e.g. ``{"/countries": 1, "/readings/FR": 3}``."""
        with self._lock:
            return dict(self._by_path)

    @property
    def by_status(self) -> dict[int, int]:
        """Responses per HTTP status (dropped connections are not responses and are not counted here)."""
        with self._lock:
            return dict(self._by_status)

    @property
    def by_fault(self) -> dict[str, int]:
        """Requests per fault met (``"ok"`` for none), e.g. ``{"503": 2, "ok": 1}``."""
        with self._lock:
            return dict(self._by_fault)

    @property
    def by_method(self) -> dict[str, int]:
        """Requests per HTTP method."""
        with self._lock:
            return dict(self._by_method)

    @property
    def connections(self) -> int:
        """Distinct client connections (TCP peer address and port) seen: reused keep-alive connections count once."""
        with self._lock:
            return len(self._peers)

    @property
    def records(self) -> list[dict[str, Any]]:
        """One dict per finished request: ``path``, ``query`` (the query string), ``method``, ``start``,
        ``end`` (perf_counter seconds), ``status`` and ``fault``. ``status`` is ``None`` when no complete
        answer went out: the connection was dropped, or the client gave up (a timeout) or stopped reading
        a stream before its end."""
        with self._lock:
            return [dict(r) for r in self._records]

    def intervals(self, label: str = "request") -> list[tuple[str, float, float]]:
        """The finished requests as ``(label, start, end)`` triples, ready for
        :func:`proximal.helpers.timeline.plot_timeline` and :func:`proximal.helpers.timeline.max_overlap`.

        ``label`` picks the rows: ``"request"`` (one row per request, ``"#3 /readings/FR"``),
        ``"path"``, ``"fault"`` or ``"status"``.
        """
        if label not in ("request", "path", "fault", "status"):
            raise ValueError("label must be 'request', 'path', 'fault' or 'status'")
        records = sorted(self.records, key=lambda r: r["start"])
        if label == "request":
            return [(f"#{i} {r['path']}", r["start"], r["end"]) for i, r in enumerate(records)]
        return [(str(r[label]), r["start"], r["end"]) for r in records]

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Block until no request is in flight (or ``timeout`` seconds pass); True if idle.

        Useful after a streamed response or a client timeout, whose server side may end a moment
        after the client is done. Only for a service started in its own thread (``with`` /
        :meth:`LocalService.start`): in an ``async with`` service, blocking the loop would block the server.
        """
        with self._idle:
            return self._idle.wait_for(lambda: self._in_flight == 0, timeout)

    def snapshot(self) -> dict[str, Any]:
        """All counters at once, as plain data."""
        with self._lock:
            return {
                "requests": self._requests,
                "in_flight": self._in_flight,
                "peak_concurrency": self._peak,
                "connections": len(self._peers),
                "by_path": dict(self._by_path),
                "by_status": dict(self._by_status),
                "by_fault": dict(self._by_fault),
                "by_method": dict(self._by_method),
            }

    def __repr__(self) -> str:
        s = self.snapshot()
        return (
            f"Stats(requests={s['requests']}, peak_concurrency={s['peak_concurrency']}, "
            f"connections={s['connections']}, by_status={s['by_status']}, by_fault={s['by_fault']})"
        )

    # -- write side (the service) ---------------------------------------------------------------

    def _begin(self, path: str, method: str, peer: Any) -> int:
        with self._lock:
            self._requests += 1
            self._in_flight += 1
            self._peak = max(self._peak, self._in_flight)
            self._by_path[path] += 1
            self._by_method[method] += 1
            if peer is not None:
                self._peers.add(tuple(peer) if isinstance(peer, list | tuple) else (peer,))
            return self._in_flight

    def _end(self, record: dict[str, Any]) -> None:
        with self._lock:
            self._in_flight -= 1
            self._by_fault[record["fault"]] += 1
            if record["status"] is not None:
                self._by_status[record["status"]] += 1
            self._records.append(record)
            if self._in_flight == 0:
                self._idle.notify_all()


# --------------------------------------------------------------------------------------------------
# The web app
# --------------------------------------------------------------------------------------------------

_STATE = web.AppKey("proximal_service", object)
_CLIENT_LEFT = web.RequestKey(
    "proximal_client_left", bool
)  # request key: the client went away before the end of a stream
_REASONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    408: "Request Timeout",
    409: "Conflict",
    418: "I'm a teapot",
    422: "Unprocessable Content",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}
_HTML_PAGE = (
    "<!doctype html><html><head><title>Please wait</title></head><body>"
    "<h1>Checking your browser before accessing the site...</h1></body></html>"
)


def _error(status: int, message: str, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.json_response(
        {"error": _REASONS.get(status, "Error"), "status": status, "message": message},
        status=status,
        headers=headers,
    )


class _Server:
    """The aiohttp application plus the state it needs (faults, stats, orders, shutdown signal)."""

    def __init__(self, faults: Faults, stats: Stats, subapps: Mapping[str, web.Application]) -> None:
        self.faults = faults
        self.stats = stats
        self.orders: list[dict[str, Any]] = []
        self.idempotency: dict[str, dict[str, Any]] = {}
        self.closing: asyncio.Event | None = None
        app = web.Application(middlewares=[self.middleware])
        app[_STATE] = self
        app.add_routes(
            [
                web.get("/", self.index),
                web.get("/health", self.health),
                web.get("/countries", self.countries),
                web.get("/countries/{code}", self.country),
                web.get("/readings", self.readings_page),
                web.get("/readings/{code}", self.reading),
                web.get("/stream", self.stream),
                web.post("/orders", self.create_order),
                web.get("/orders", self.list_orders),
                web.route("*", "/echo", self.echo),
            ]
        )
        for prefix, sub in subapps.items():
            app.add_subapp(prefix, sub)
        self.app = app

    async def pause(self, seconds: float) -> bool:
        """Sleep, but wake up early when the service shuts down. True if shutdown interrupted it."""
        if seconds <= 0:
            return False
        assert self.closing is not None
        try:
            await asyncio.wait_for(self.closing.wait(), seconds)
            return True
        except TimeoutError:
            return False

    @web.middleware
    async def middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        path = request.path
        peer = request.transport.get_extra_info("peername") if request.transport else None
        in_flight = self.stats._begin(path, request.method, peer)
        record: dict[str, Any] = {
            "path": path,
            "query": request.query_string,
            "method": request.method,
            "start": time.perf_counter(),
            "end": None,
            "status": None,
            "fault": "ok",
        }
        try:
            fault, latency = self.faults._next(path)
            capacity = self.faults.capacity
            if capacity is not None and in_flight > capacity:
                fault = _Fault("status", 503, 1.0, "overload")
            record["fault"] = fault.label
            if await self.pause(latency):
                raise web.HTTPServiceUnavailable(reason="shutting down")
            response = await self._apply(fault, request, handler)
            if fault.kind not in ("drop", "drop_after") and not request.get(_CLIENT_LEFT):
                record["status"] = response.status
            return response
        except web.HTTPException as exc:
            record["status"] = exc.status
            raise
        finally:
            record["end"] = time.perf_counter()
            self.stats._end(record)

    async def _apply(self, fault: _Fault, request: web.Request, handler: Any) -> web.StreamResponse:
        kind = fault.kind
        if kind == "status":
            assert fault.status is not None
            headers = {}
            if fault.status == 429 or fault.seconds is not None:
                retry_after = fault.seconds if fault.seconds is not None else self.faults._retry_after
                headers["Retry-After"] = f"{retry_after:g}"
            return _error(fault.status, f"injected fault {fault.label!r}", headers)
        if kind == "drop":
            return _drop(request)
        if kind in ("slow", "delay"):
            seconds = fault.seconds if fault.seconds is not None else self.faults._slow_seconds
            if await self.pause(seconds):
                raise web.HTTPServiceUnavailable(reason="shutting down")
        response = await handler(request)
        if kind == "drop_after":
            return _drop(request)
        if kind == "bad_json":
            text = json.dumps(await _json_of(response))
            return web.Response(text=text[: max(1, len(text) * 2 // 3)], content_type="application/json")
        if kind == "html":
            return web.Response(text=_HTML_PAGE, content_type="text/html")
        return response

    # -- handlers -----------------------------------------------------------------------------------

    async def index(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "name": "Proximal local statistics API",
                "endpoints": [
                    "GET /health",
                    "GET /countries",
                    "GET /countries/{code}",
                    "GET /readings/{code}?date=YYYY-MM-DD",
                    "GET /readings?country=XX&page=N&per_page=M",
                    "GET /stream?lines=N&country=XX",
                    "POST /orders",
                    "GET /orders",
                    "GET /echo",
                ],
            }
        )

    async def health(self, request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    async def countries(self, request: web.Request) -> web.Response:
        return web.json_response([_public_country(c) for c in COUNTRIES])

    async def country(self, request: web.Request) -> web.Response:
        code = request.match_info["code"].upper()
        if code not in _BY_CODE:
            return _error(404, f"unknown country {code!r}")
        return web.json_response(_public_country(_BY_CODE[code]))

    async def reading(self, request: web.Request) -> web.Response:
        code = request.match_info["code"].upper()
        date = request.query.get("date", DATES[-1])
        if code not in _BY_CODE:
            return _error(404, f"unknown country {code!r}")
        if date not in _DATE_INDEX:
            return _error(400, f"date must be YYYY-MM-DD between {DATES[0]} and {DATES[-1]}, got {date!r}")
        return web.json_response(reading(code, date))

    async def readings_page(self, request: web.Request) -> web.Response:
        country = request.query.get("country")
        if country is not None:
            country = country.upper()
            if country not in _BY_CODE:
                return _error(404, f"unknown country {country!r}")
        try:
            page = int(request.query.get("page", "1"))
            per_page = int(request.query.get("per_page", "50"))
        except ValueError:
            return _error(400, "page and per_page must be integers")
        if page < 1 or not 1 <= per_page <= 500:
            return _error(400, "page must be >= 1 and per_page between 1 and 500")
        n_countries = 1 if country else len(COUNTRIES)
        total = n_countries * len(DATES)
        pages = max(1, math.ceil(total / per_page))
        lo, hi = (page - 1) * per_page, min(page * per_page, total)
        codes = [country] if country else country_codes()
        items = [reading(codes[i // len(DATES)], DATES[i % len(DATES)]) for i in range(lo, hi)]
        next_url = None
        if page < pages:
            query = {"page": str(page + 1), "per_page": str(per_page)}
            if country:
                query = {"country": country, **query}
            next_url = str(request.url.with_query(query))
        return web.json_response(
            {
                "items": items,
                "page": page,
                "per_page": per_page,
                "total": total,
                "pages": pages,
                "next": next_url,
            }
        )

    async def stream(self, request: web.Request) -> web.StreamResponse:
        country = request.query.get("country")
        if country is not None and country.upper() not in _BY_CODE:
            return _error(404, f"unknown country {country!r}")
        try:
            lines = int(request.query.get("lines", "10000"))
        except ValueError:
            return _error(400, "lines must be an integer")
        if not 0 <= lines <= 10_000_000:
            return _error(400, "lines must be between 0 and 10000000")
        codes = [country.upper()] if country else country_codes()
        response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson", "X-Lines": str(lines)})
        response.enable_chunked_encoding()
        await response.prepare(request)
        chunk: list[str] = []
        per_cycle = len(codes) * len(DATES)
        assert self.closing is not None
        try:
            for i in range(lines):
                j = i % per_cycle
                chunk.append(_reading_line(codes[j // len(DATES)], DATES[j % len(DATES)]))
                if len(chunk) == 200 or i == lines - 1:
                    await response.write("".join(chunk).encode())
                    chunk.clear()
                    if self.closing.is_set():
                        break
            await response.write_eof()
        except ConnectionError:
            request[_CLIENT_LEFT] = True  # the client stopped reading and went away: fine for a stream
        return response

    async def create_order(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return _error(400, "the body must be JSON")
        if not isinstance(body, dict):
            return _error(400, "the body must be a JSON object")
        key = request.headers.get("Idempotency-Key")
        if key is not None and key in self.idempotency:
            return web.json_response(self.idempotency[key], status=200)
        order = {"id": len(self.orders) + 1, **{k: v for k, v in body.items() if k != "id"}}
        self.orders.append(order)
        if key is not None:
            self.idempotency[key] = order
        return web.json_response(order, status=201)

    async def list_orders(self, request: web.Request) -> web.Response:
        return web.json_response(list(self.orders))

    async def echo(self, request: web.Request) -> web.Response:
        body = await request.text()
        return web.json_response(
            {
                "method": request.method,
                "path": request.path,
                "query": dict(request.query),
                "headers": dict(request.headers),
                "body": body,
            }
        )


def _drop(request: web.Request) -> web.Response:
    """Close the connection without an answer (the client sees ``ServerDisconnectedError``).

    The returned response is never sent: its transport is gone. Returning it (rather than raising)
    keeps aiohttp quiet.
    """
    transport = request.transport
    if transport is not None:
        transport.abort()
    return web.Response(status=499, text="dropped")


async def _json_of(response: web.StreamResponse) -> Any:
    body = getattr(response, "body", None)
    if isinstance(body, bytes | bytearray):
        return json.loads(body)
    return {"error": "no body"}


# --------------------------------------------------------------------------------------------------
# The service: start/stop in a thread, or in the running loop
# --------------------------------------------------------------------------------------------------


class LocalService:
    """The local fault-injecting HTTP service. Start it with ``with``, ``async with`` or :meth:`start`.

    Parameters
    ----------
    seed:
        Seeds the random faults (and random latency): the same seed gives the same faults.
    latency:
        Seconds added to every request (or ``(low, high)`` for a seeded uniform draw). Some latency
        (e.g. 0.05) makes concurrency visible: overlapping requests really overlap.
    subapps:
        Extra ``aiohttp.web.Application`` objects to mount at URL prefixes (``{"/replica": app}``);
        the service's faults and stats apply to their routes too.
    host:
        Loopback only: ``"127.0.0.1"`` (the default) or ``"localhost"``.
    port:
        0 (the default) picks a free port.

    Attributes: :attr:`url` (``"http://127.0.0.1:PORT"``), :attr:`port`, :attr:`faults`,
    :attr:`stats`, :attr:`orders` (orders created by ``POST /orders``), :attr:`app` (the aiohttp app).
    """

    def __init__(
        self,
        seed: int = 0,
        *,
        latency: float | tuple[float, float] = 0.0,
        subapps: Mapping[str, web.Application] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError("LocalService listens on loopback only (127.0.0.1)")
        self.seed = seed
        self.host = host
        self.faults = Faults(seed=seed, latency=latency)
        self.stats = Stats()
        self._server = _Server(self.faults, self.stats, dict(subapps or {}))
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self._requested_port = port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._mode: str | None = None  # "thread" | "loop" while running

    # -- public ------------------------------------------------------------------------------------

    @property
    def app(self) -> web.Application:
        """The aiohttp application (routes, middleware, mounted subapps)."""
        return self._server.app

    @property
    def running(self) -> bool:
        """True while the service accepts connections."""
        return self._mode is not None

    @property
    def port(self) -> int:
        """The TCP port (only while running)."""
        if self._port is None:
            raise RuntimeError("the service is not running: use `with LocalService() as svc:` or svc.start()")
        return self._port

    @property
    def url(self) -> str:
        """Base URL, e.g. ``"http://127.0.0.1:40123"`` (no trailing slash)."""
        return f"http://{self.host}:{self.port}"

    @property
    def orders(self) -> list[dict[str, Any]]:
        """Orders created through ``POST /orders`` (a copy)."""
        return [dict(o) for o in self._server.orders]

    def reset(self) -> None:
        """Clear faults (scripts, random faults, capacity; random draws re-seeded), stats and orders."""
        self.faults.clear()
        self.stats.reset()
        self._server.orders.clear()
        self._server.idempotency.clear()

    def start(self) -> LocalService:
        """Start in a background thread with its own event loop; returns ``self``. Safe to call from
        a notebook cell, a script or a coroutine (the caller's loop is not used)."""
        if self._mode is not None:
            raise RuntimeError("the service is already running")
        loop = asyncio.new_event_loop()
        thread = threading.Thread(
            target=self._run_loop, args=(loop,), name="proximal-LocalService", daemon=True
        )
        thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self._astart(), loop).result(timeout=30)
        except BaseException:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=10)
            raise
        self._loop, self._thread, self._mode = loop, thread, "thread"
        return self

    def stop(self) -> None:
        """Stop a service started with :meth:`start` (or ``with``): close the port, end every
        request still in flight, stop the thread. Calling it twice is harmless."""
        if self._mode is None:
            return
        if self._mode != "thread":
            raise RuntimeError(
                "this service runs in an event loop: leave its `async with` block (or await astop())"
            )
        loop, thread = self._loop, self._thread
        assert loop is not None and thread is not None
        try:
            asyncio.run_coroutine_threadsafe(self._astop(), loop).result(timeout=30)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=30)
            self._loop = self._thread = None
            self._mode = None

    async def astart(self) -> LocalService:
        """Start inside the running event loop (what ``async with`` does); returns ``self``."""
        if self._mode is not None:
            raise RuntimeError("the service is already running")
        await self._astart()
        self._mode = "loop"
        return self

    async def astop(self) -> None:
        """Stop a service started with :meth:`astart` (what leaving ``async with`` does)."""
        if self._mode is None:
            return
        if self._mode != "loop":
            raise RuntimeError("this service runs in its own thread: call stop()")
        try:
            await self._astop()
        finally:
            self._mode = None

    def __enter__(self) -> LocalService:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> LocalService:
        return await self.astart()

    async def __aexit__(self, *exc: object) -> None:
        await self.astop()

    def __repr__(self) -> str:
        where = self.url if self._port is not None else "not running"
        return f"LocalService(seed={self.seed}, {where})"

    # -- internals ---------------------------------------------------------------------------------

    @staticmethod
    def _run_loop(loop: asyncio.AbstractEventLoop) -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_forever()
        finally:
            try:
                pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
                for task in pending:
                    task.cancel()
                if pending:
                    loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.run_until_complete(loop.shutdown_default_executor())
            finally:
                asyncio.set_event_loop(None)
                loop.close()

    async def _astart(self) -> None:
        self._server.closing = asyncio.Event()
        runner = web.AppRunner(
            self._server.app,
            access_log=None,
            handle_signals=False,
            shutdown_timeout=2.0,
            handler_cancellation=True,  # a client that gives up (timeout) ends its request here too
        )
        await runner.setup()
        try:
            site = web.TCPSite(runner, self.host, self._requested_port, reuse_address=True)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self._port = int(runner.addresses[0][1])

    async def _astop(self) -> None:
        if self._server.closing is not None:
            self._server.closing.set()  # wake sleeping "slow"/latency handlers so they finish now
        runner, self._runner = self._runner, None
        self._port = None
        if runner is not None:
            await runner.cleanup()


def service_fixture() -> Iterator[LocalService]:
    """A generator for a pytest fixture: a started ``LocalService(seed=0)``, stopped afterwards.

    In a ``conftest.py`` or a test file::

        import pytest
        from proximal.helpers.service import service_fixture
        svc = pytest.fixture(service_fixture)

        def test_something(svc):
            svc.faults.script(["503", "ok"])
            ...
    """
    with LocalService(seed=0) as svc:
        yield svc
