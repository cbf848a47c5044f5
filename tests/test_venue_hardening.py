"""Hardening of the paper venue: bounded JSON before parsing, an atomic and bounded control API,
Binance-shaped parser refusals with one WARNING line, and idle / slow-header timeouts.

Each test runs one venue on 127.0.0.1 port 0 (stepped clock, no feed) and stops it; every wait
is bounded.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import tracemalloc
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import aiohttp
import pytest

from exitguard.venue.clock import SteppedClock
from exitguard.venue.safe_json import JsonBoundError, check_bounds, loads_bounded
from exitguard.venue.server import Venue

START_MS = 1_767_225_600_000
TIMEOUT_S = 5.0
MEMORY_BOUND = 2_000_000  # bytes of peak allocation per refused request


@pytest.fixture
async def venue() -> AsyncIterator[Venue]:
    async with Venue(clock=SteppedClock(START_MS), feed=None, idle_timeout_s=0.5) as v:
        yield v


async def post(v: Venue, path: str, body: bytes | str | dict[str, Any]) -> tuple[int, Any]:
    data = json.dumps(body) if isinstance(body, dict) else body
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=TIMEOUT_S)) as s,
        s.post(f"{v.rest_url}{path}", data=data) as r,
    ):
        return r.status, json.loads(await r.text())


async def snapshot(v: Venue) -> dict[str, Any]:
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=TIMEOUT_S)) as s,
        s.get(f"{v.rest_url}/_venue/snapshot") as r,
    ):
        assert r.status == 200
        snap: dict[str, Any] = await r.json()
    snap.pop("time", None)
    snap["spot"].pop("time", None)
    snap.pop("streams", None)
    return snap


# --- safe_json ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "bound"),
    [
        ('{"params":{"x":1e400000000}}', "exponent"),
        ('{"x":1E-99999}', "exponent"),
        ("[" * 17 + "]" * 17, "nested 17"),
        ('{"a":' * 40 + "1" + "}" * 40, "nested 40"),
        ('{"x":' + "9" * 65 + "}", "longer than 64"),
        ('{"x":NaN}', "NaN"),
        ('{"x":-Infinity}', "NaN"),
        ('{"x":', "not JSON"),
        (b'{"x":"\xff"}', "UTF-8"),
    ],
)
def test_loads_bounded_refuses(text: str | bytes, bound: str) -> None:
    with pytest.raises(JsonBoundError, match=bound):
        loads_bounded(text)


def test_loads_bounded_reads_what_binance_sends() -> None:
    doc = loads_bounded('{"a":[{"p":65000.10,"q":1,"s":"[[[[1e999]]]] 99999999"}],"e":1.5e-8}')
    assert doc == {
        "a": [{"p": Decimal("65000.10"), "q": 1, "s": "[[[[1e999]]]] 99999999"}],
        "e": Decimal("1.5e-8"),
    }
    # brackets and digits inside strings count for nothing, escapes included
    check_bounds(json.dumps({"s": "[" * 100 + '\\"' + "9" * 200}))
    loads_bounded("[" * 16 + "]" * 16)


def test_the_51_byte_frame_builds_nothing_big() -> None:
    frame = '{"params":{"x":1e400000000}}'
    tracemalloc.start()
    try:
        with pytest.raises(JsonBoundError):
            loads_bounded(frame)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 100_000


# --- the control API: validated completely, bounded, atomic ---------------------------------


BAD_CONTROL = [
    ("/_venue/price", {"symbol": "BTCUSDT", "last": "1e30"}, "last"),
    ("/_venue/price", '{"symbol": "BTCUSDT", "last": 1e30}', "last"),
    ("/_venue/price", {"symbol": "BTCUSDT", "last": "99999999"}, "maxPrice"),
    ("/_venue/price", {"symbol": "BTCUSDT", "mark": "0.01"}, "tickSize"),
    ("/_venue/price", {"symbol": "BTCUSDT", "last": "65000", "mark": "1e1000000"}, "mark"),
    ("/_venue/price", {"symbol": "BTCUSDT", "last": "65000", "qty": "1e1000000"}, "qty"),
    ("/_venue/price", {"symbol": "BTCUSDT", "last": "65000", "qty": "0.000000001"}, "stepSize"),
    ("/_venue/price", {"symbol": "BTCUSDT", "last": "65000", "lats": "1"}, "lats"),
    ("/_venue/price", {"symbol": "BTCUSDT", "mark": "65000." + "0" * 25 + "1"}, "digits"),
    ("/_venue/price", '{"symbol": "BTCUSDT", "last": 65000' + "0" * 70 + "}", "64"),
    ("/_venue/position", {"side": "BUY", "symbol": "BTCUSDT", "qty": "1e1000000"}, "qty"),
    ("/_venue/position", {"side": "BUY", "symbol": "BTCUSDT", "qty": "5000"}, "maxQty"),
    ("/_venue/position", {"side": "BUY", "symbol": "BTCUSDT", "qty": "0.0001"}, "stepSize"),
    ("/_venue/position", {"side": "BUY", "symbol": "BTCUSDT", "qty": "1", "price": "1e9"}, "price"),
    (
        "/_venue/position",
        {"side": "BUY", "symbol": "BTCUSDT", "qty": "1", "position_side": "LONG"},
        "one-way",
    ),
    ("/_venue/balance", {"asset": "BTC", "delta": "1e13"}, "delta"),
    ("/_venue/balance", {"asset": "BTC", "delta": "0.000000001"}, "delta"),
    ("/_venue/balance", {"asset": "B" * 30, "delta": "1"}, "asset"),
    ("/_venue/faults", {"latency_ms": 10, "status_429": -1}, "status_429"),
    ("/_venue/faults", {"lose_response": [{"path": "/x"}] * 101}, "lose_response"),
    ("/_venue/clock/advance", '{"ms": 1e400000000}', "exponent"),
    ("/_venue/price", "[" * 40 + "]" * 40, "nested"),
]


@pytest.mark.parametrize(("path", "body", "names"), BAD_CONTROL)
async def test_control_refusal_changes_nothing(
    venue: Venue, path: str, body: Any, names: str
) -> None:
    if isinstance(body, dict) and path in ("/_venue/position", "/_venue/balance"):
        body = {**body, "api_key": venue.api_key}
    before = await snapshot(venue)
    status, doc = await post(venue, path, body)
    assert status == 400, doc
    assert names in doc["error"] and doc["msg"] == doc["error"] and doc["code"] < 0
    after = await snapshot(venue)
    assert after == before
    # The venue still answers prices after the refusal.
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=TIMEOUT_S)) as s,
        s.get(f"{venue.rest_url}/api/v3/ticker/price?symbol=BTCUSDT") as r,
    ):
        assert r.status == 200


async def test_control_still_accepts_good_requests(venue: Venue) -> None:
    status, doc = await post(venue, "/_venue/price", {"symbol": "BTCUSDT", "last": 65010.5})
    assert status == 200 and doc["last"] == "65010.5"
    body = {"api_key": venue.api_key, "symbol": "BTCUSDT", "side": "BUY", "qty": "0.010"}
    status, doc = await post(venue, "/_venue/position", body)
    assert status == 200 and doc["order"]["executedQty"] == "0.010"
    body = {"api_key": venue.api_key, "asset": "BTC", "delta": "-0.5"}
    assert (await post(venue, "/_venue/balance", body))[0] == 200


async def test_price_step_checks_both_products_before_either_moves(venue: Venue) -> None:
    # A last the USD-M PRICE_FILTER takes but Spot's does not: neither product moves.
    usdm_max = venue.exchange.markets["BTCUSDT"].rules.price_filter
    spot_max = venue.spot.markets["BTCUSDT"].rules.price_filter
    assert usdm_max is not None and spot_max is not None
    low, high = sorted((usdm_max.max_price, spot_max.max_price))
    assert low < high
    before = await snapshot(venue)
    status, doc = await post(venue, "/_venue/price", {"symbol": "BTCUSDT", "last": str(high)})
    assert status == 400 and "maxPrice" in doc["error"], doc
    assert await snapshot(venue) == before


# --- WebSocket inputs -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "frame",
    ['{"params":{"x":1e400000000}}', '{"id":1,"method":"ping","params":{"x":1e40000000}}'],
)
async def test_ws_api_frame_with_a_huge_exponent_is_refused_small(venue: Venue, frame: str) -> None:
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=TIMEOUT_S)) as s,
        s.ws_connect(venue.spot_ws_api_url) as ws,
    ):
        tracemalloc.start()
        try:
            await ws.send_str(frame)
            reply = json.loads((await ws.receive(timeout=TIMEOUT_S)).data)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert reply["status"] == 400 and reply["error"]["code"] < 0
        assert peak < MEMORY_BOUND
        # the connection stays usable
        await ws.send_str('{"id":1,"method":"ping","params":{}}')
        assert json.loads((await ws.receive(timeout=TIMEOUT_S)).data)["status"] == 200


async def test_stream_control_frame_is_bounded(venue: Venue) -> None:
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=TIMEOUT_S)) as s,
        s.ws_connect(venue.ws_streams_url + "/ws") as ws,
    ):
        await ws.send_str('{"method":"SUBSCRIBE","params":[1e400000000],"id":1}')
        reply = json.loads((await ws.receive(timeout=TIMEOUT_S)).data)
        assert reply["error"]["code"] == 3 and "exponent" in reply["error"]["msg"]


# --- parser-level refusals and timeouts -----------------------------------------------------


def _raw(v: Venue, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", v.port), timeout=TIMEOUT_S) as sock:
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
        return b"".join(chunks)


@pytest.mark.parametrize(
    "data",
    [
        b"GET /fapi/v1/time HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n",
        b"GET /fapi/v1/time HTTP/9.9\r\n\r\n",
        b"POST /fapi/v1/order HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\n\r\n",
    ],
    ids=["bad-header", "bad-version", "bad-chunk", "long-line"],
)
async def test_parser_refusals_are_binance_shaped_with_one_warning(
    venue: Venue, data: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    raw = await asyncio.wait_for(asyncio.to_thread(_raw, venue, data), TIMEOUT_S * 2)
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.split(b" ")[1].startswith(b"4"), raw[:200]
    assert b"application/json" in head
    doc = json.loads(body)
    assert doc["code"] == -1000 and doc["msg"].startswith("Malformed request")
    records = [r for r in caplog.records if r.name.startswith(("aiohttp", "exitguard"))]
    assert [r.levelno for r in records] == [logging.WARNING], [r.getMessage() for r in records]
    assert records[0].exc_info is None and "\n" not in records[0].getMessage()


def _wait_closed(v: Venue, send: bytes) -> float:
    """Seconds until the venue closes a connection that sent only ``send``."""
    import time

    with socket.create_connection(("127.0.0.1", v.port), timeout=TIMEOUT_S) as sock:
        started = time.monotonic()
        if send:
            sock.sendall(send)
        assert sock.recv(1024) == b""  # closed by the venue, nothing answered
        return time.monotonic() - started


@pytest.mark.parametrize(
    "send", [b"", b"GET /fapi/v1/time HTTP/1.1\r\nHost: 127.0"], ids=["idle", "slow-header"]
)
async def test_idle_and_slow_header_connections_are_closed(venue: Venue, send: bytes) -> None:
    # The socket timeout (TIMEOUT_S) bounds the wait: recv raises if the venue never closes.
    waited = await asyncio.wait_for(asyncio.to_thread(_wait_closed, venue, send), TIMEOUT_S * 2)
    assert waited < TIMEOUT_S


def test_idle_timeout_must_be_positive() -> None:
    with pytest.raises(ValueError, match="idle_timeout_s"):
        Venue(idle_timeout_s=0)


def test_decimal_objects_with_huge_exponents_are_refused_unexpanded() -> None:
    """The domain's decimal reader bounds a Decimal object before writing it in plain form
    (check-order and the WebSocket API hand it Decimals parsed from JSON)."""
    from exitguard.domain.requests import AlgoOrderRequest

    base = {"symbol": "BTCUSDT", "side": "SELL", "type": "STOP_MARKET", "algoType": "CONDITIONAL"}
    tracemalloc.start()
    try:
        for value in ("1e40000000", "1e-40000000"):
            parsed = AlgoOrderRequest.from_params({**base, "triggerPrice": Decimal(value)})
            assert [(v.code, v.field) for v in parsed.violations] == [(-1100, "triggerPrice")]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000
    ok = AlgoOrderRequest.from_params({**base, "triggerPrice": Decimal("6.5e4")})
    assert ok.violations == [] and ok.request is not None
