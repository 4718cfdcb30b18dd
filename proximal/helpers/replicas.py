"""Replicas of a small CSV dataset, and an aiohttp sub-application that serves them.

Module 04 (Merkle trees) uses this file in two ways:

* **Data.** :func:`make_dataset` generates a seeded table of CSV rows (one ``bytes`` per row, no
  newline), :func:`change_rows` makes a copy with a few rows edited and tells you which, and
  :func:`to_csv` / :func:`write_csv` turn rows into a CSV file with a header.
* **A client-side meter.** :class:`TransferMeter` counts, from the client's side, the responses per
  route and the response bytes an ``aiohttp.ClientSession`` received (pass ``meter.trace_config`` to
  the session).
* **A replica server.** :func:`make_replica_app` returns an :class:`aiohttp.web.Application` that
  serves several named replicas. Mount it in the course's local service::

      from proximal.helpers.replicas import make_dataset, change_rows, make_replica_app, replica_stats
      from proximal.helpers.service import LocalService

      a = make_dataset(1000, seed=1)
      b, changed = change_rows(a, 3, seed=2)
      app = make_replica_app({"a": a, "b": b}, latency=0.002)
      with LocalService(seed=7, subapps={"/replica": app}) as svc:
          base = svc.url + "/replica"     # GET {base}/a/size, {base}/a/node/0/1000, ...

Routes (relative to where the app is mounted; ``{name}`` is a replica name):

================================  ============================================================
``GET /{name}/size``              ``{"size": n, "bytes": b}``: number of rows, and the bytes of the
                                  whole replica as CSV (what downloading everything would cost)
``GET /{name}/node/{lo}/{hi}``    ``{"lo": lo, "hi": hi, "hash": "<64 hex>"}``: the RFC 6962 Merkle
                                  Tree Hash of rows ``[lo, hi)`` (``0 <= lo <= hi <= n``)
``GET /{name}/rows?lo=&hi=``      ``{"lo": lo, "hi": hi, "rows": ["...", ...]}``: rows ``[lo, hi)``
``GET /{name}/csv``               the whole replica as ``text/csv`` with a header line
================================  ============================================================

Errors are JSON too: 404 for an unknown replica, 400 for a bad range.

The server has to compute Merkle hashes to answer ``/node``; that code is private plumbing
(``_Tree``), not an API for the exercises: in the notebooks you write your own.
:func:`replica_stats` counts what the app served (requests per kind, rows, bytes, and the peak
number of requests in flight), which is how the capstone's tests check *behaviour*.

Importing this module has no side effects.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import aiohttp
from aiohttp import web
from aiohttp.typedefs import Handler

__all__ = [
    "HEADER",
    "make_dataset",
    "change_rows",
    "to_csv",
    "write_csv",
    "ReplicaStats",
    "make_replica_app",
    "replica_stats",
    "set_replica",
    "TransferMeter",
    "sample_files",
]

#: The header line of the CSV files built from :func:`make_dataset` rows.
HEADER = "id,station,day,temp_c,rain_mm"

_STATIONS = ["Aberdeen", "Bergen", "Cork", "Dijon", "Essen", "Faro", "Genoa", "Hull", "Ibiza", "Jena"]


def make_dataset(n_rows: int, seed: int = 0) -> list[bytes]:
    """A seeded table of weather readings: ``n_rows`` CSV rows as ``bytes`` (no header, no newline).

    Row ``i`` looks like ``b"17,Cork,2024-01-18,11.3,0.4"``; its first field is ``i``, so every row
    is distinct. The same ``(n_rows, seed)`` always gives the same rows.
    """
    if n_rows < 0:
        raise ValueError(f"n_rows must be >= 0, got {n_rows}")
    rng = random.Random(seed)
    rows = []
    for i in range(n_rows):
        station = rng.choice(_STATIONS)
        day = f"2024-{1 + (i // 28) % 12:02d}-{1 + i % 28:02d}"
        temp = round(rng.gauss(11.0, 6.0), 1)
        rain = round(max(0.0, rng.expovariate(0.6) - 0.8), 1)
        rows.append(f"{i},{station},{day},{temp},{rain}".encode())
    return rows


def change_rows(rows: Sequence[bytes], k: int, seed: int = 0) -> tuple[list[bytes], list[int]]:
    """A copy of ``rows`` with ``k`` distinct rows edited; returns ``(copy, sorted changed indices)``.

    An edit changes the temperature field (as a sensor correction would), so the row keeps its id
    and length class but its bytes differ. ``rows`` itself is not modified.
    """
    if not 0 <= k <= len(rows):
        raise ValueError(f"k must be between 0 and {len(rows)}, got {k}")
    rng = random.Random(seed)
    changed = sorted(rng.sample(range(len(rows)), k))
    out = list(rows)
    for i in changed:
        fields = out[i].decode().split(",")
        old = float(fields[3])
        new = old
        while f"{new:.1f}" == f"{old:.1f}":
            new = round(old + rng.choice([-1, 1]) * rng.uniform(0.1, 3.0), 1)
        fields[3] = f"{new:.1f}"
        out[i] = ",".join(fields).encode()
    return out, changed


def to_csv(rows: Sequence[bytes], header: str = HEADER) -> str:
    """The rows as CSV text: the header line, then one line per row, each ending in ``\\n``."""
    return header + "\n" + "".join(r.decode() + "\n" for r in rows)


def write_csv(path: str | Path, rows: Sequence[bytes], header: str = HEADER) -> Path:
    """Write :func:`to_csv` of ``rows`` to ``path`` (UTF-8, ``\\n`` line ends); return the path."""
    path = Path(path)
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write(to_csv(rows, header))
    return path


def sample_files(folder: str | Path = ".") -> tuple[Path, Path, list[int]]:
    """Write the course's two sample exports, ``monday.csv`` and ``tuesday.csv``, into ``folder``.

    1024 rows each (``make_dataset(1024, seed=4)``); tuesday's copy has 3 rows corrected
    (``change_rows(..., 3, seed=5)``). Returns the two paths and the sorted indices of the changed rows.
    The same files ship in ``course/04-merkle/data/``.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    monday = make_dataset(1024, seed=4)
    tuesday, changed = change_rows(monday, 3, seed=5)
    return write_csv(folder / "monday.csv", monday), write_csv(folder / "tuesday.csv", tuesday), changed


# --------------------------------------------------------------------------------------------
# Server plumbing


def _mth_range(leaf_hashes: list[bytes], lo: int, hi: int, memo: dict[tuple[int, int], bytes]) -> bytes:
    """RFC 6962 MTH of the leaves [lo, hi), given their leaf hashes; fills ``memo``."""
    key = (lo, hi)
    if key in memo:
        return memo[key]
    n = hi - lo
    if n == 0:
        h = hashlib.sha256(b"").digest()
    elif n == 1:
        h = leaf_hashes[lo]
    else:
        k = 1 << ((n - 1).bit_length() - 1)  # largest power of two < n
        h = hashlib.sha256(
            b"\x01" + _mth_range(leaf_hashes, lo, lo + k, memo) + _mth_range(leaf_hashes, lo + k, hi, memo)
        ).digest()
    memo[key] = h
    return h


class _Tree:
    """One replica: its rows and the hashes of every node of its tree (computed once)."""

    def __init__(self, rows: Sequence[bytes]) -> None:
        self.rows = [bytes(r) for r in rows]
        self.leaf_hashes = [hashlib.sha256(b"\x00" + r).digest() for r in self.rows]
        self.memo: dict[tuple[int, int], bytes] = {}
        _mth_range(self.leaf_hashes, 0, len(self.rows), self.memo)
        self.csv_bytes = len(to_csv(self.rows).encode())

    def node(self, lo: int, hi: int) -> bytes:
        return _mth_range(self.leaf_hashes, lo, hi, self.memo)


@dataclass
class ReplicaStats:
    """What a replica app served. Reset with :meth:`reset`.

    ``node_requests``/``rows_requests``/``size_requests``/``csv_requests`` count successful requests
    per route; ``rows_served`` counts rows sent; ``bytes_sent`` counts response body bytes;
    ``peak_concurrency`` is the largest number of requests being handled at once.
    """

    node_requests: int = 0
    rows_requests: int = 0
    size_requests: int = 0
    csv_requests: int = 0
    rows_served: int = 0
    bytes_sent: int = 0
    in_flight: int = 0
    peak_concurrency: int = 0
    nodes: list[tuple[str, int, int]] = field(default_factory=list)

    @property
    def requests(self) -> int:
        """All successful requests."""
        return self.node_requests + self.rows_requests + self.size_requests + self.csv_requests

    def reset(self) -> None:
        """Set every counter back to zero (and forget the list of nodes asked for)."""
        in_flight = self.in_flight
        for name, value in ReplicaStats().__dict__.items():
            setattr(self, name, value)
        self.in_flight = in_flight


@dataclass
class _ReplicaState:
    """Everything a replica app keeps: the trees by name, the counters, the added latency."""

    trees: dict[str, _Tree]
    stats: ReplicaStats
    latency: float


_STATE = web.AppKey("proximal_replica_state", _ReplicaState)


def _state(app: web.Application) -> _ReplicaState:
    """The state of an app made by :func:`make_replica_app`.

    The course's grader drops ``proximal`` modules from ``sys.modules`` before each test cell, so an
    app may have been made by an earlier import of this module, with a different (but same-named)
    key object: look the key up by name then.
    """
    try:
        return app[_STATE]
    except KeyError:
        pass
    name = getattr(_STATE, "_name", None)
    for key in app:
        if isinstance(key, web.AppKey) and name is not None and getattr(key, "_name", None) == name:
            return app[key]
    raise KeyError("this application was not made by proximal.helpers.replicas.make_replica_app")


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def _json(stats: ReplicaStats, payload: dict) -> web.Response:
    body = json.dumps(payload).encode()
    stats.bytes_sent += len(body)
    return web.Response(body=body, content_type="application/json")


def _lookup(request: web.Request) -> _Tree | web.Response:
    """The replica the URL names, or the 404 response to send back."""
    name = request.match_info["name"]
    trees = _state(request.app).trees
    tree = trees.get(name)
    if tree is None:
        return _error(404, f"no replica named {name!r}; known: {sorted(trees)}")
    return tree


def _int_params(values: dict[str, str]) -> dict[str, int] | None:
    try:
        return {k: int(v) for k, v in values.items()}
    except (TypeError, ValueError):
        return None


@web.middleware
async def _track(request: web.Request, handler: Handler) -> web.StreamResponse:
    state = _state(request.app)
    stats = state.stats
    stats.in_flight += 1
    stats.peak_concurrency = max(stats.peak_concurrency, stats.in_flight)
    try:
        latency = state.latency
        if latency > 0:
            await asyncio.sleep(latency)
        return await handler(request)
    finally:
        stats.in_flight -= 1


async def _size(request: web.Request) -> web.Response:
    tree = _lookup(request)
    if isinstance(tree, web.Response):
        return tree
    stats = _state(request.app).stats
    stats.size_requests += 1
    return _json(stats, {"size": len(tree.rows), "bytes": tree.csv_bytes})


async def _node(request: web.Request) -> web.Response:
    tree = _lookup(request)
    if isinstance(tree, web.Response):
        return tree
    p = _int_params({"lo": request.match_info["lo"], "hi": request.match_info["hi"]})
    if p is None or not 0 <= p["lo"] <= p["hi"] <= len(tree.rows):
        return _error(400, f"need integers 0 <= lo <= hi <= {len(tree.rows)}")
    stats = _state(request.app).stats
    stats.node_requests += 1
    stats.nodes.append((request.match_info["name"], p["lo"], p["hi"]))
    return _json(stats, {"lo": p["lo"], "hi": p["hi"], "hash": tree.node(p["lo"], p["hi"]).hex()})


async def _rows(request: web.Request) -> web.Response:
    tree = _lookup(request)
    if isinstance(tree, web.Response):
        return tree
    p = _int_params({"lo": request.query.get("lo", ""), "hi": request.query.get("hi", "")})
    if p is None or not 0 <= p["lo"] <= p["hi"] <= len(tree.rows):
        return _error(400, f"need query parameters lo and hi with 0 <= lo <= hi <= {len(tree.rows)}")
    stats = _state(request.app).stats
    stats.rows_requests += 1
    rows = [r.decode() for r in tree.rows[p["lo"] : p["hi"]]]
    stats.rows_served += len(rows)
    return _json(stats, {"lo": p["lo"], "hi": p["hi"], "rows": rows})


async def _csv(request: web.Request) -> web.Response:
    tree = _lookup(request)
    if isinstance(tree, web.Response):
        return tree
    stats = _state(request.app).stats
    stats.csv_requests += 1
    stats.rows_served += len(tree.rows)
    body = to_csv(tree.rows).encode()
    stats.bytes_sent += len(body)
    return web.Response(body=body, content_type="text/csv")


def make_replica_app(replicas: Mapping[str, Sequence[bytes]], *, latency: float = 0.0) -> web.Application:
    """An aiohttp application serving the named replicas (see the module docstring for routes).

    ``latency`` (seconds) delays every request, like a real network hop; it makes concurrency
    visible in :attr:`ReplicaStats.peak_concurrency`. The rows are copied: changing the lists
    afterwards does not change what is served (use :func:`set_replica` for that).
    """
    if latency < 0:
        raise ValueError("latency must be >= 0")
    app = web.Application(middlewares=[_track])
    app[_STATE] = _ReplicaState(
        trees={str(name): _Tree(rows) for name, rows in replicas.items()},
        stats=ReplicaStats(),
        latency=float(latency),
    )
    app.router.add_get("/{name}/size", _size)
    app.router.add_get("/{name}/node/{lo}/{hi}", _node)
    app.router.add_get("/{name}/rows", _rows)
    app.router.add_get("/{name}/csv", _csv)
    return app


def replica_stats(app: web.Application) -> ReplicaStats:
    """The live :class:`ReplicaStats` of an app made by :func:`make_replica_app`."""
    return _state(app).stats


def set_replica(app: web.Application, name: str, rows: Sequence[bytes]) -> None:
    """Serve ``rows`` as replica ``name`` from now on (adds it, or replaces the old rows).

    Works while the app is running (call it from any thread between requests).
    """
    _state(app).trees[str(name)] = _Tree(rows)


# --------------------------------------------------------------------------------------------
# Client plumbing


def _route_kind(path: str) -> str:
    parts = [p for p in path.split("/") if p]
    for kind in ("node", "rows", "size", "csv"):
        if kind in parts[-4:]:
            return kind
    return "other"


class TransferMeter:
    """Counts what an ``aiohttp.ClientSession`` received: responses per route and body bytes.

    Use it as::

        meter = TransferMeter()
        async with aiohttp.ClientSession(trace_configs=[meter.trace_config]) as session:
            ...
        meter.ok["node"], meter.ok["rows"], meter.failed, meter.bytes

    ``ok`` counts successful (2xx) responses per route kind (``"node"``, ``"rows"``, ``"size"``,
    ``"csv"``, ``"other"``); ``failed`` counts error responses (4xx/5xx) and requests that got no
    response at all (a dropped connection); ``bytes`` counts response body bytes received, failed
    responses included (they cross the network too). HTTP headers are not counted.
    """

    def __init__(self) -> None:
        self.ok: Counter[str] = Counter()
        self.failed = 0
        self.bytes = 0
        self.trace_config = aiohttp.TraceConfig()
        self.trace_config.on_request_end.append(self._on_end)
        self.trace_config.on_request_exception.append(self._on_exception)
        self.trace_config.on_response_chunk_received.append(self._on_chunk)

    async def _on_end(
        self, session: aiohttp.ClientSession, ctx: SimpleNamespace, params: aiohttp.TraceRequestEndParams
    ) -> None:
        if 200 <= params.response.status < 300:
            self.ok[_route_kind(params.url.path)] += 1
        else:
            self.failed += 1

    async def _on_exception(
        self,
        session: aiohttp.ClientSession,
        ctx: SimpleNamespace,
        params: aiohttp.TraceRequestExceptionParams,
    ) -> None:
        self.failed += 1

    async def _on_chunk(
        self,
        session: aiohttp.ClientSession,
        ctx: SimpleNamespace,
        params: aiohttp.TraceResponseChunkReceivedParams,
    ) -> None:
        self.bytes += len(params.chunk)

    def reset(self) -> None:
        """Zero every counter."""
        self.ok.clear()
        self.failed = 0
        self.bytes = 0

    def __repr__(self) -> str:
        return f"TransferMeter(ok={dict(self.ok)}, failed={self.failed}, bytes={self.bytes})"
