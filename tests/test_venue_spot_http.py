"""The Spot REST surface over HTTP (``/api/v3``): auth, weights and order counts, Binance-shaped
errors, faults, the control API, the retired v1 listen key, and the Spot streams (market and
listen-key user data on ``/spot/...``). Servers bind 127.0.0.1 port 0; every wait is bounded."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import aiohttp
from yarl import URL

from exitguard.venue.clock import SteppedClock
from exitguard.venue.endpoints import SPOT_ENDPOINTS
from exitguard.venue.ratelimit import RateLimitConfig
from exitguard.venue.server import Venue

TIMEOUT = aiohttp.ClientTimeout(total=10)
SYMBOL = "BTCUSDT"


@asynccontextmanager
async def running(**kw: Any) -> AsyncIterator[tuple[Venue, aiohttp.ClientSession]]:
    kw.setdefault("clock", SteppedClock(time.time_ns() // 1_000_000))
    kw.setdefault("feed", None)
    async with Venue(**kw) as v, aiohttp.ClientSession(timeout=TIMEOUT) as s:
        yield v, s


async def call(
    v: Venue,
    s: aiohttp.ClientSession,
    method: str,
    path: str,
    pairs: Sequence[tuple[str, str]] = (),
    *,
    sign: bool = True,
    timestamp: str | None = None,
    api_key: str | None = None,
) -> tuple[int, Any, dict[str, str]]:
    pairs = list(pairs)
    if sign:
        pairs.append(("timestamp", timestamp or str(v.clock.now_ms())))
    query = urlencode(pairs)
    if sign:
        sig = hmac.new(v.api_secret.encode(), query.encode(), hashlib.sha256).hexdigest()
        query += f"&signature={sig}"
    url = URL(f"{v.rest_url}{path}" + (f"?{query}" if query else ""), encoded=True)
    headers = {"X-MBX-APIKEY": api_key or v.api_key}
    async with s.request(method, url, headers=headers) as r:
        text = await r.text()
        return r.status, json.loads(text) if text else None, dict(r.headers)


async def control(s: aiohttp.ClientSession, v: Venue, path: str, body: Any = None) -> Any:
    if body is None:
        async with s.get(f"{v.rest_url}/_venue/{path}") as r:
            assert r.status == 200, await r.text()
            return await r.json()
    async with s.post(f"{v.rest_url}/_venue/{path}", json=body) as r:
        assert r.status == 200, await r.text()
        return await r.json()


async def recv(ws: aiohttp.ClientWebSocketResponse) -> Any:
    msg = await ws.receive(timeout=5)
    assert msg.type == aiohttp.WSMsgType.TEXT, msg
    return json.loads(msg.data)


async def wait_until(pred: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


STOP = [
    ("symbol", SYMBOL),
    ("side", "SELL"),
    ("type", "STOP_LOSS"),
    ("quantity", "0.1"),
    ("stopPrice", "60000"),
]


async def test_public_endpoints_weights_and_spot_limits() -> None:
    async with running() as (v, s):
        status, body, headers = await call(v, s, "GET", "/api/v3/ping", sign=False)
        assert (status, body, headers["X-MBX-USED-WEIGHT-1M"]) == (200, {}, "1")
        _, info, headers = await call(
            v, s, "GET", "/api/v3/exchangeInfo", [("symbol", SYMBOL)], sign=False
        )
        assert [x["symbol"] for x in info["symbols"]] == [SYMBOL]
        assert headers["X-MBX-USED-WEIGHT-1M"] == "21"  # exchangeInfo weighs 20
        assert {(r["interval"], r["limit"]) for r in info["rateLimits"]} == {
            ("MINUTE", 6000),
            ("SECOND", 100),
            ("DAY", 200_000),
            ("MINUTE", 300_000),  # RAW_REQUESTS per 5 minutes (2026-04-02)
        }
        _, depth, headers = await call(
            v, s, "GET", "/api/v3/depth", [("symbol", SYMBOL), ("limit", "1000")], sign=False
        )
        assert len(depth["bids"]) == 50 and headers["X-MBX-USED-WEIGHT-1M"] == "71"
        _, prices, headers = await call(v, s, "GET", "/api/v3/ticker/price", sign=False)
        assert {p["symbol"] for p in prices} >= {SYMBOL, "PEPEUSDT"}
        assert headers["X-MBX-USED-WEIGHT-1M"] == "75"
        # USD-M keeps its own weight counter: Binance serves the products from different hosts.
        _, _, headers = await call(v, s, "GET", "/fapi/v1/ping", sign=False)
        assert headers["X-MBX-USED-WEIGHT-1M"] == "1"


async def test_one_key_on_both_products_and_order_count_headers() -> None:
    async with running() as (v, s):
        status, body, headers = await call(v, s, "POST", "/api/v3/order", STOP)
        assert status == 200 and body["orderListId"] == -1
        assert headers["X-MBX-ORDER-COUNT-10S"] == "1" and headers["X-MBX-ORDER-COUNT-1D"] == "1"
        oco = [
            ("symbol", SYMBOL),
            ("side", "SELL"),
            ("quantity", "0.1"),
            ("aboveType", "LIMIT_MAKER"),
            ("abovePrice", "66000"),
            ("belowType", "STOP_LOSS"),
            ("belowStopPrice", "64000"),
        ]
        status, _, headers = await call(v, s, "POST", "/api/v3/orderList/oco", oco)
        assert status == 200 and headers["X-MBX-ORDER-COUNT-10S"] == "3"  # an OCO counts 2
        status, account, _ = await call(v, s, "GET", "/api/v3/account")
        btc = next(b for b in account["balances"] if b["asset"] == "BTC")
        assert (btc["free"], btc["locked"]) == ("0.80000000", "0.20000000")
        status, _, _ = await call(v, s, "GET", "/fapi/v2/balance")
        assert status == 200


async def test_errors_are_binance_shaped() -> None:
    async with running() as (v, s):
        status, body, _ = await call(
            v, s, "POST", "/api/v3/order", [*STOP[:-1], ("stopPrice", "66000")]
        )
        assert (status, body) == (400, {"code": -2010, "msg": "Order would trigger immediately."})
        status, body, _ = await call(v, s, "POST", "/api/v3/order", STOP, api_key="A" * 64)
        assert (status, body["code"]) == (401, -2015)
        stale = str(v.clock.now_ms() - 10_000)
        status, body, _ = await call(v, s, "GET", "/api/v3/account", timestamp=stale)
        assert (status, body["code"]) == (400, -1021)
        status, body, _ = await call(v, s, "GET", "/api/v3/nope", sign=False)
        assert (status, body["code"]) == (404, -1000)
        assert body["msg"].startswith(
            "Path /api/v3/nope, Method GET is not served by the paper venue"
        )
        assert "GET /api/v3/ticker/24hr" in body["msg"]  # the served routes are listed
        status, body, _ = await call(v, s, "DELETE", "/api/v3/ping", sign=False)
        assert status == 405 and body["code"] == -1000


async def test_microsecond_timestamp_and_decimal_recv_window() -> None:
    async with running() as (v, s):
        micros = str(v.clock.now_ms() * 1000 + 123)
        status, _, _ = await call(v, s, "GET", "/api/v3/account", timestamp=micros)
        assert status == 200
        status, _, _ = await call(v, s, "GET", "/api/v3/account", [("recvWindow", "5000.5")])
        assert status == 200
        status, body, _ = await call(v, s, "GET", "/api/v3/account", [("recvWindow", "5000.5555")])
        assert (status, body["code"]) == (400, -1102)


async def test_cancel_replace_partial_failure_is_409_with_data() -> None:
    async with running() as (v, s):
        status, placed, _ = await call(v, s, "POST", "/api/v3/order", STOP)
        assert status == 200
        replace = [
            ("symbol", SYMBOL),
            ("side", "SELL"),
            ("type", "STOP_LOSS"),
            ("cancelReplaceMode", "STOP_ON_FAILURE"),
            ("cancelOrderId", str(placed["orderId"])),
            ("quantity", "0.1"),
            ("stopPrice", "66000"),  # would trigger immediately: refused after the cancel
        ]
        status, body, headers = await call(v, s, "POST", "/api/v3/order/cancelReplace", replace)
        assert (status, body["code"], body["msg"]) == (
            409,
            -2021,
            "Order cancel-replace partially failed.",
        )
        assert body["data"]["cancelResult"] == "SUCCESS"
        assert body["data"]["newOrderResult"] == "FAILURE"
        assert "X-MBX-ORDER-COUNT-10S" in headers


async def test_deprecated_listen_key_streams_and_retired_v1() -> None:
    async with running() as (v, s):
        status, body, _ = await call(v, s, "POST", "/api/v3/userDataStream", sign=False)
        assert status == 200
        key = body["listenKey"]
        async with s.ws_connect(f"{v.spot_ws_streams_url}/ws/{key}") as ws:
            await wait_until(lambda: v.context.spot_hub.user_subscribers(v.api_key) == 1)
            status, placed, _ = await call(v, s, "POST", "/api/v3/order", STOP)
            report = await recv(ws)
            assert report["e"] == "executionReport" and report["i"] == placed["orderId"]
            assert (await recv(ws))["e"] == "outboundAccountPosition"
        status, body, _ = await call(
            v, s, "PUT", "/api/v3/userDataStream", [("listenKey", key)], sign=False
        )
        assert (status, body) == (200, {})
        status, body, _ = await call(
            v, s, "PUT", "/api/v3/userDataStream", [("listenKey", "x" * 60)], sign=False
        )
        assert (status, body["code"]) == (400, -1125)
        status, body, _ = await call(v, s, "POST", "/api/v1/userDataStream", sign=False)
        assert status == 410 and body["code"] == -1000


async def test_spot_market_streams_and_control_price_with_quantity() -> None:
    async with running() as (v, s):
        async with s.ws_connect(f"{v.spot_ws_streams_url}/stream") as ws:
            await ws.send_json(
                {"method": "SUBSCRIBE", "params": ["btcusdt@trade", "btcusdt@bookTicker"], "id": 1}
            )
            assert await recv(ws) == {"result": None, "id": 1}
            out = await control(
                s,
                v,
                "price",
                {"symbol": SYMBOL, "last": "64000.001", "qty": "0.2", "product": "spot"},
            )
            assert out == {"symbol": SYMBOL, "last": "64000.00000000"}  # taken to the spot tick
            trade = await recv(ws)
            assert trade["stream"] == "btcusdt@trade"
            assert (trade["data"]["p"], trade["data"]["q"]) == ("64000.00000000", "0.20000000")
            book = await recv(ws)
            assert book["stream"] == "btcusdt@bookTicker" and book["data"]["b"] == "63999.99000000"
        # Without a product, the step goes to every product listing the symbol.
        out = await control(s, v, "price", {"symbol": SYMBOL, "last": "63000"})
        assert out == {"symbol": SYMBOL, "last": "63000", "mark": "65000.00"}
        assert v.spot.market(SYMBOL).last == Decimal(63000)
        out = await control(s, v, "price", {"symbol": "PEPEUSDT", "last": "0.00001100"})
        assert out == {"symbol": "PEPEUSDT", "last": "0.00001100"}
        assert "PEPEUSDT" not in v.exchange.markets  # USD-M lists 1000PEPEUSDT only


async def test_control_balance_snapshot_reset_and_faults() -> None:
    async with running() as (v, s):
        out = await control(s, v, "balance", {"api_key": v.api_key, "asset": "eth", "delta": "2"})
        assert out == {"asset": "ETH", "free": "12.00000000"}
        await call(v, s, "POST", "/api/v3/order", STOP)
        snap = await control(s, v, "snapshot")
        acct = snap["spot"]["accounts"][0]
        assert acct["balances"]["BTC"] == {"free": "0.90000000", "locked": "0.10000000"}
        assert len(snap["spot"]["orders"]) == 1
        await control(s, v, "faults", {"status_429": 1})
        status, body, headers = await call(v, s, "GET", "/api/v3/ping", sign=False)
        assert (status, body["code"], headers["Retry-After"]) == (429, -1003, "1")
        await control(
            s, v, "faults", {"lose_response": {"path": "/api/v3/order", "method": "POST"}}
        )
        status, body, _ = await call(
            v, s, "POST", "/api/v3/order", [*STOP[:-1], ("stopPrice", "61000")]
        )
        assert (status, body["code"]) == (503, -1007)
        assert len(v.spot.orders) == 2  # processed, the answer was "lost"
        await control(s, v, "reset", {})
        snap = await control(s, v, "snapshot")
        assert snap["spot"]["orders"] == [] and snap["spot"]["accounts"][0]["api_key"] == v.api_key
        status, _, _ = await call(v, s, "GET", "/api/v3/account")
        assert status == 200


async def test_order_rate_limit_429_without_retry_after() -> None:
    limits = RateLimitConfig(
        request_weight_per_minute=6000, orders_per_10s=1, orders_per_minute=0, orders_per_day=100
    )
    async with running(spot_limits=limits) as (v, s):
        assert (await call(v, s, "POST", "/api/v3/order", STOP))[0] == 200
        status, body, headers = await call(v, s, "POST", "/api/v3/order", STOP)
        assert (status, body["code"]) == (429, -1015)
        assert "Retry-After" not in headers


def test_spot_endpoint_table_weights_and_counts() -> None:
    by_route = {(e.method, e.path): e for e in SPOT_ENDPOINTS}
    assert by_route[("POST", "/api/v3/orderList/otoco")].order_count == 3
    assert by_route[("POST", "/api/v3/orderList/oco")].order_count == 2
    assert by_route[("GET", "/api/v3/openOrders")].weight_for({}) == 80
    assert by_route[("GET", "/api/v3/openOrders")].weight_for({"symbol": SYMBOL}) == 6
    assert (
        by_route[("POST", "/api/v3/order/test")].weight_for({"computeCommissionRates": "true"})
        == 20
    )
    assert by_route[("GET", "/api/v3/depth")].weight_for({"limit": "5000"}) == 250
