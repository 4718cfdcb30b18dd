"""Tests for proximal.helpers.service: the data API, every fault kind, determinism, counters, shutdown."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
import urllib.error
import urllib.request

import aiohttp
import pytest
from aiohttp import web

from proximal.helpers.service import (
    COUNTRIES,
    DATES,
    Faults,
    LocalService,
    parse_fault,
    reading,
    readings_for,
    service_fixture,
)

# The fixture the course offers (conftest.py could expose it the same way).
svc = pytest.fixture(service_fixture)


def get(url: str, timeout: float = 5.0) -> tuple[int, bytes, dict[str, str]]:
    """A blocking GET that returns (status, body, headers) for 2xx and HTTP errors alike."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, resp.read(), dict(resp.headers)
    except urllib.error.HTTPError as err:
        return err.code, err.read(), dict(err.headers)


def port_is_closed(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1.0)
        return sock.connect_ex(("127.0.0.1", port)) != 0


async def statuses(url: str, n: int) -> list[int | str]:
    """n sequential GETs; the status of each, or the exception class name."""
    out: list[int | str] = []
    async with aiohttp.ClientSession() as session:
        for _ in range(n):
            try:
                async with session.get(url) as resp:
                    await resp.read()
                    out.append(resp.status)
            except aiohttp.ClientError as exc:
                out.append(type(exc).__name__)
    return out


# -- starting and stopping ------------------------------------------------------------------------


def test_thread_mode_serves_and_closes_port_and_thread():
    before = {t.ident for t in threading.enumerate()}
    with LocalService(seed=1) as service:
        assert service.url.startswith("http://127.0.0.1:")
        port = service.port
        status, body, _ = get(service.url + "/health")
        assert (status, json.loads(body)) == (200, {"ok": True})
        assert not port_is_closed(port)
    assert port_is_closed(port)
    assert not service.running
    assert {t.ident for t in threading.enumerate()} <= before, "the server thread must be gone"
    with pytest.raises(RuntimeError):
        service.url  # noqa: B018 - the property raises when stopped
    service.stop()  # a second stop is harmless


async def test_async_mode_leaves_no_tasks_and_closes_port():
    tasks_before = asyncio.all_tasks()
    async with LocalService(seed=1) as service:
        port = service.port
        async with aiohttp.ClientSession() as session, session.get(service.url + "/countries") as resp:
            assert resp.status == 200
            assert len(await resp.json()) == len(COUNTRIES)
    await asyncio.sleep(0)
    assert asyncio.all_tasks() <= tasks_before | {asyncio.current_task()}, "stray tasks after shutdown"
    assert port_is_closed(port)


async def test_thread_mode_from_inside_a_running_loop():
    """A notebook cell runs inside a loop: `with LocalService()` must still work there."""
    with LocalService(seed=0) as service:
        async with aiohttp.ClientSession() as session, session.get(service.url + "/health") as resp:
            assert resp.status == 200


def test_stop_interrupts_slow_requests_in_flight():
    service = LocalService(seed=0).start()
    service.faults.script(["slow"])
    result: list[object] = []

    def client() -> None:
        try:
            result.append(get(service.url + "/health", timeout=20)[0])
        except Exception as exc:  # connection closed by the shutdown: fine
            result.append(type(exc).__name__)

    thread = threading.Thread(target=client)
    thread.start()
    for _ in range(200):
        if service.stats.in_flight:
            break
        time.sleep(0.01)
    assert service.stats.in_flight == 1
    t0 = time.perf_counter()
    service.stop()
    assert time.perf_counter() - t0 < 10, "stop() must not wait for the 30 s 'slow' fault"
    thread.join(timeout=10)
    assert result, "the client must get an answer or an error once the service stops"


def test_start_twice_is_an_error_and_loopback_only():
    with LocalService() as service, pytest.raises(RuntimeError):
        service.start()
    with pytest.raises(ValueError):
        LocalService(host="0.0.0.0")


def test_fixture_gives_a_running_service(svc):
    assert svc.running
    assert get(svc.url + "/health")[0] == 200
    assert svc.stats.requests == 1


# -- the data API -----------------------------------------------------------------------------


def test_countries_and_readings_match_the_python_functions(svc):
    status, body, _ = get(svc.url + "/countries")
    countries = json.loads(body)
    assert status == 200 and [c["code"] for c in countries] == sorted(c["code"] for c in COUNTRIES)
    status, body, _ = get(svc.url + "/readings/FR?date=2024-03-01")
    assert status == 200 and json.loads(body) == reading("FR", "2024-03-01")
    assert json.loads(get(svc.url + "/readings/fr")[1]) == reading("FR", DATES[-1])
    assert get(svc.url + "/readings/XX")[0] == 404
    assert get(svc.url + "/readings/FR?date=2023-01-01")[0] == 400
    assert get(svc.url + "/countries/ZZ")[0] == 404
    assert svc.stats.by_path["/readings/FR"] == 2


def test_readings_are_deterministic_and_plausible():
    assert reading("DE", "2024-06-01") == reading("DE", "2024-06-01")
    values = [reading(c["code"], d)["pm25"] for c in COUNTRIES for d in DATES[::30]]
    assert all(isinstance(v, float) and 0 < v < 100 for v in values)
    assert len(set(values)) > len(values) // 2
    with pytest.raises(KeyError):
        reading("XX")


def test_pagination_follows_next_to_the_end(svc):
    url = svc.url + "/readings?country=IT&per_page=100"
    items = []
    pages = 0
    while url:
        page = json.loads(get(url)[1])
        items += page["items"]
        url = page["next"]
        pages += 1
    assert items == readings_for("IT")
    assert pages == 4 and page["total"] == 366 and page["pages"] == 4
    assert get(svc.url + "/readings?page=0")[0] == 400


def test_stream_sends_ndjson_lines(svc):
    status, body, headers = get(svc.url + "/stream?lines=1000&country=ES")
    lines = body.decode().splitlines()
    assert status == 200 and headers["X-Lines"] == "1000" and len(lines) == 1000
    assert json.loads(lines[0]) == reading("ES", DATES[0])
    assert json.loads(lines[366]) == reading("ES", DATES[0])  # one country: the year repeats


async def test_stream_can_be_abandoned_midway():
    with LocalService() as service:
        async with aiohttp.ClientSession() as session:
            async with session.get(service.url + "/stream?lines=5000000") as resp:
                first = [await resp.content.readline() for _ in range(10)]
            assert all(json.loads(line) for line in first)
        for _ in range(300):  # the server notices the client left and ends the handler
            if service.stats.in_flight == 0:
                break
            await asyncio.sleep(0.01)
        assert service.stats.in_flight == 0
        assert service.stats.records[0]["status"] is None, "an abandoned stream has no status"
        async with aiohttp.ClientSession() as session:
            async with session.get(service.url + "/stream?lines=30000") as resp:
                assert len(await resp.read()) > 30000
        assert service.stats.wait_idle(5)
        assert service.stats.records[1]["status"] == 200
        assert service.stats.records[1]["query"] == "lines=30000"


def test_orders_and_idempotency_key(svc):
    def post(body: dict, key: str | None = None) -> tuple[int, dict]:
        req = urllib.request.Request(
            svc.url + "/orders",
            data=json.dumps(body).encode(),
            method="POST",
            headers={"Content-Type": "application/json", **({"Idempotency-Key": key} if key else {})},
        )
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, json.loads(resp.read())

    assert post({"item": "tea"}) == (201, {"id": 1, "item": "tea"})
    assert post({"item": "tea"})[1]["id"] == 2
    assert post({"item": "jam"}, key="k1") == (201, {"id": 3, "item": "jam"})
    assert post({"item": "jam"}, key="k1") == (200, {"id": 3, "item": "jam"})
    assert len(svc.orders) == 3
    assert json.loads(get(svc.url + "/orders")[1]) == svc.orders
    svc.reset()
    assert svc.orders == [] and svc.stats.requests == 0


# -- faults -------------------------------------------------------------------------------------


async def test_script_statuses_in_order_then_normal(svc):
    svc.faults.script(["503", "500", "ok", "404"])
    assert await statuses(svc.url + "/countries", 5) == [503, 500, 200, 404, 200]
    assert svc.stats.by_status == {503: 1, 500: 1, 200: 2, 404: 1}
    assert svc.stats.by_fault == {"503": 1, "500": 1, "ok": 2, "404": 1}
    assert svc.faults.remaining() == 0


async def test_script_per_path_wins_over_global(svc):
    svc.faults.script(["500"])
    svc.faults.script(["503", "503"], path="/readings")
    assert await statuses(svc.url + "/readings/FR", 3) == [503, 503, 500]
    assert await statuses(svc.url + "/countries", 1) == [200]
    assert svc.faults.remaining("/readings") == 0


async def test_429_has_retry_after(svc):
    svc.faults.script(["429", "429:3", "503:2"])
    async with aiohttp.ClientSession() as session:
        seen = []
        for _ in range(3):
            async with session.get(svc.url + "/health") as resp:
                seen.append((resp.status, resp.headers.get("Retry-After")))
    assert seen == [(429, "1"), (429, "3"), (503, "2")]
    svc.faults.set(retry_after=5)
    svc.faults.script(["429"])
    assert get(svc.url + "/health")[2]["Retry-After"] == "5"


async def test_error_responses_raise_for_status(svc):
    svc.faults.script(["503"])
    async with aiohttp.ClientSession(raise_for_status=True) as session:
        with pytest.raises(aiohttp.ClientResponseError) as info:
            async with session.get(svc.url + "/health"):
                pass
    assert info.value.status == 503


async def test_drop_closes_the_connection_without_an_answer(svc):
    # aiohttp itself re-sends an idempotent request (GET) once when the server disconnects,
    # so it takes two drops in a row for a GET to fail.
    svc.faults.script(["drop", "drop"])
    assert await statuses(svc.url + "/health", 2) == ["ServerDisconnectedError", 200]
    assert svc.stats.by_status == {200: 1}
    assert svc.stats.by_fault == {"drop": 2, "ok": 1}
    assert svc.stats.requests == 3


async def test_one_drop_is_hidden_by_aiohttps_own_retry_but_counted(svc):
    svc.faults.script(["drop"])
    assert await statuses(svc.url + "/health", 1) == [200]
    assert svc.stats.requests == 2, "the service sees both the dropped request and aiohttp's re-send"


def test_drop_with_a_blocking_client(svc):
    svc.faults.script(["drop"])
    with pytest.raises((ConnectionError, urllib.error.URLError)):
        get(svc.url + "/health")


async def test_drop_after_processes_the_request_first(svc):
    svc.faults.script(["drop_after"], path="/orders")
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ServerDisconnectedError):
            async with session.post(svc.url + "/orders", json={"item": "tea"}) as resp:
                await resp.read()
    assert svc.orders == [{"id": 1, "item": "tea"}], "the order exists although the reply was lost"


async def test_slow_is_slower_than_a_client_timeout_and_is_cancelled(svc):
    svc.faults.script(["slow"])
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=0.3)) as session:
        with pytest.raises(TimeoutError):
            async with session.get(svc.url + "/health") as resp:
                await resp.read()
        async with session.get(svc.url + "/health") as resp:
            assert resp.status == 200
    assert svc.stats.wait_idle(5), "a request the client gave up on must end on the server too"
    # records are kept as requests end, and the abandoned one may end after the second: match by status
    assert sorted(str(r["status"]) for r in svc.stats.records) == ["200", "None"]


async def test_delay_adds_latency(svc):
    svc.faults.script(["delay:0.3"])
    async with aiohttp.ClientSession() as session:
        t0 = time.perf_counter()
        async with session.get(svc.url + "/health") as resp:
            assert await resp.json() == {"ok": True}
        assert time.perf_counter() - t0 >= 0.3


async def test_bad_json_and_html(svc):
    svc.faults.script(["bad_json", "html"])
    async with aiohttp.ClientSession() as session:
        async with session.get(svc.url + "/readings/FR") as resp:
            assert resp.status == 200 and resp.content_type == "application/json"
            with pytest.raises(json.JSONDecodeError):
                await resp.json()
        async with session.get(svc.url + "/readings/FR") as resp:
            assert resp.status == 200
            with pytest.raises(aiohttp.ContentTypeError):
                await resp.json()


@pytest.mark.parametrize("bad", ["nope", "200", "600", "delay", "drop:1", "slow:x", "429:-1"])
def test_invalid_fault_names_are_rejected(bad):
    with pytest.raises(ValueError):
        parse_fault(bad)
    with pytest.raises(ValueError):
        Faults().script(["ok", bad])


def test_parse_fault_grammar():
    assert parse_fault("503") == ("status", 503, None)
    assert parse_fault(429) == ("status", 429, None)
    assert parse_fault("429:2.5") == ("status", 429, 2.5)
    assert parse_fault("slow") == ("slow", None, None)
    assert parse_fault(" DROP ") == ("drop", None, None)


# -- seeded random faults ------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 7, 42])
async def test_random_faults_are_deterministic_under_a_seed(seed):
    runs = []
    for _ in range(2):
        with LocalService(seed=seed) as service:
            service.faults.set(error_rate=0.3, status=503)
            runs.append(await statuses(service.url + "/health", 40))
    assert runs[0] == runs[1]
    assert 3 <= runs[0].count(503) <= 25, runs[0]


async def test_reset_reseeds_and_kinds_mix(svc):
    svc.faults.set(error_rate=0.5, kinds=["503", "429", "drop"])
    first = await statuses(svc.url + "/health", 30)
    svc.reset()
    svc.faults.set(error_rate=0.5, kinds=["503", "429", "drop"])
    assert await statuses(svc.url + "/health", 30) == first
    assert {503, 429, "ServerDisconnectedError", 200} == set(first)
    other = LocalService(seed=1)
    with other:
        other.faults.set(error_rate=0.5, kinds=["503", "429", "drop"])
        assert await statuses(other.url + "/health", 30) != first


def test_set_validates():
    faults = Faults()
    with pytest.raises(ValueError):
        faults.set(error_rate=1.5)
    with pytest.raises(ValueError):
        faults.set(capacity=0)
    with pytest.raises(ValueError):
        faults.set(latency=(0.2, 0.1))
    with pytest.raises(ValueError):
        faults.set(kinds=[])


# -- counters --------------------------------------------------------------------------------------


async def test_peak_concurrency_counts_requests_at_once():
    with LocalService(latency=0.2) as service:
        async with aiohttp.ClientSession() as session:

            async def one(i: int) -> int:
                async with session.get(f"{service.url}/readings/{COUNTRIES[i]['code']}") as resp:
                    return resp.status

            assert await asyncio.gather(*(one(i) for i in range(8))) == [200] * 8
            assert service.stats.peak_concurrency == 8
            service.stats.reset()
            limit = asyncio.Semaphore(3)

            async def bounded(i: int) -> int:
                async with limit:
                    return await one(i)

            await asyncio.gather(*(bounded(i) for i in range(9)))
            assert service.stats.peak_concurrency == 3
            assert service.stats.requests == 9


async def test_connections_show_session_reuse():
    with LocalService() as service:
        async with aiohttp.ClientSession() as session:
            for _ in range(5):
                async with session.get(service.url + "/health") as resp:
                    await resp.read()
        assert service.stats.connections == 1
        service.stats.reset()
        for _ in range(5):
            async with aiohttp.ClientSession() as session, session.get(service.url + "/health") as resp:
                await resp.read()
        assert service.stats.connections == 5


async def test_capacity_refuses_the_overflow():
    with LocalService(latency=0.3) as service:
        service.faults.set(capacity=2)
        async with aiohttp.ClientSession() as session:

            async def one() -> int:
                async with session.get(service.url + "/health") as resp:
                    return resp.status

            got = await asyncio.gather(*(one() for _ in range(6)))
        assert sorted(got) == [200, 200, 503, 503, 503, 503]
        assert service.stats.by_fault.get("overload") == 4
        service.faults.set(latency=0.0)
        assert service.faults.capacity == 2, "set() keeps what it is not given"
        service.faults.set(capacity=None)
        assert service.faults.capacity is None


def test_records_and_intervals(svc):
    get(svc.url + "/health")
    get(svc.url + "/countries")
    records = svc.stats.records
    assert [r["path"] for r in records] == ["/health", "/countries"]
    assert all(r["end"] >= r["start"] and r["status"] == 200 for r in records)
    assert [label for label, *_ in svc.stats.intervals()] == ["#0 /health", "#1 /countries"]
    assert [label for label, *_ in svc.stats.intervals("status")] == ["200", "200"]
    assert svc.stats.snapshot()["by_method"] == {"GET": 2}


def test_wait_idle_times_out_while_busy(svc):
    svc.faults.script(["slow"])

    def client() -> None:
        with pytest.raises((TimeoutError, urllib.error.URLError)):
            get(svc.url + "/health", timeout=0.5)

    thread = threading.Thread(target=client)
    thread.start()
    time.sleep(0.2)
    assert svc.stats.wait_idle(0.1) is False
    thread.join()
    assert svc.stats.wait_idle(5) is True


def test_stats_are_safe_to_read_from_other_threads(svc):
    errors: list[BaseException] = []

    def reader() -> None:
        try:
            for _ in range(200):
                svc.stats.snapshot()
                svc.stats.records  # noqa: B018
        except BaseException as exc:  # pragma: no cover - only on failure
            errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    for _ in range(30):
        get(svc.url + "/health")
    for t in threads:
        t.join()
    assert not errors and svc.stats.requests == 30


# -- subapps (module 04 mounts its replica server this way) ------------------------------------


def test_subapps_get_faults_and_stats():
    sub = web.Application()

    async def hello(request: web.Request) -> web.Response:
        return web.json_response({"hello": "replica"})

    sub.router.add_get("/hello", hello)
    with LocalService(subapps={"/replica": sub}) as service:
        service.faults.script(["503"], path="/replica")
        assert get(service.url + "/replica/hello")[0] == 503
        status, body, _ = get(service.url + "/replica/hello")
        assert (status, json.loads(body)) == (200, {"hello": "replica"})
        assert service.stats.by_path == {"/replica/hello": 2}
