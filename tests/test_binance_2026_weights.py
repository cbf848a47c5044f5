"""Spot request weight from 2026-04-02 (Spot CHANGELOG 2026-03-27 and 2026-04-02): successful
order placements, cancels and order lists cost 0 weight, failed ones their documented weight;
``RAW_REQUESTS`` is 300,000 per 5 minutes, listed in exchangeInfo and enforced (429 -1003).
REST and the WebSocket API share the one Spot limiter. Servers bind 127.0.0.1 port 0."""

from __future__ import annotations

from exitguard.venue.endpoints import SPOT_ENDPOINTS
from exitguard.venue.ratelimit import SPOT_RATE_LIMITS, RateLimitConfig
from exitguard.venue.ws_api import METHODS
from test_venue_spot_http import STOP, call, running
from test_venue_spot_ws_api import connected

W = "X-MBX-USED-WEIGHT-1M"
BAD_STOP = [(k, "0.00000001" if k == "quantity" else v) for k, v in STOP]  # LOT_SIZE failure


async def test_successful_order_requests_cost_no_weight_failed_ones_do() -> None:
    async with running() as (v, s):
        status, placed, headers = await call(v, s, "POST", "/api/v3/order", STOP)
        assert status == 200 and headers[W] == "0", (placed, headers)
        oid = str(placed["orderId"])
        status, _, headers = await call(
            v, s, "DELETE", "/api/v3/order", [("symbol", "BTCUSDT"), ("orderId", oid)]
        )
        assert status == 200 and headers[W] == "0"
        # Failed placement and failed cancel: the documented weight (1 each) is charged.
        status, body, headers = await call(v, s, "POST", "/api/v3/order", BAD_STOP)
        assert status == 400 and body["code"] == -1013 and headers[W] == "1"
        status, body, headers = await call(
            v, s, "DELETE", "/api/v3/order", [("symbol", "BTCUSDT"), ("orderId", oid)]
        )
        assert status == 400 and headers[W] == "2", body
        # Queries keep their weight.
        _, _, headers = await call(
            v, s, "GET", "/api/v3/order", [("symbol", "BTCUSDT"), ("orderId", oid)]
        )
        assert headers[W] == "6"


async def test_ws_api_order_methods_are_free_when_they_succeed() -> None:
    async with connected() as c:
        ok = await c.request("order.place", c.hmac_params(**dict(STOP)))
        assert ok["status"] == 200, ok
        assert ok["rateLimits"][-1]["count"] == 0
        bad = await c.request("order.place", c.hmac_params(**dict(BAD_STOP)))
        assert bad["status"] == 400 and bad["error"]["code"] == -1013
        assert bad["rateLimits"][-1]["count"] == 1


def test_free_routes_are_the_documented_ones() -> None:
    free = {
        (e.method, e.path.removeprefix("/api/v3/")) for e in SPOT_ENDPOINTS if e.free_on_success
    }
    assert free >= {
        ("POST", "order"),
        ("DELETE", "order"),
        ("DELETE", "openOrders"),
        ("POST", "order/cancelReplace"),
        ("POST", "order/oco"),
        ("POST", "orderList/oco"),
        ("POST", "orderList/oto"),
        ("POST", "orderList/otoco"),
        ("POST", "orderList/opo"),
        ("POST", "orderList/opoco"),
        ("DELETE", "orderList"),
    }
    assert ("GET", "order") not in free and ("POST", "order/test") not in free
    free_ws = {name for name, m in METHODS.items() if m.free}
    assert free_ws >= {
        "order.place",
        "order.cancel",
        "openOrders.cancelAll",
        "order.cancelReplace",
        "orderList.place",
        "orderList.place.oco",
        "orderList.place.oto",
        "orderList.place.otoco",
        "orderList.place.opo",
        "orderList.place.opoco",
        "orderList.cancel",
    }
    assert "order.status" not in free_ws


async def test_raw_requests_listed_and_enforced() -> None:
    assert SPOT_RATE_LIMITS.raw_requests_per_5m == 300_000
    raw = {
        (r["rateLimitType"], r["interval"], r["intervalNum"], r["limit"])
        for r in SPOT_RATE_LIMITS.rate_limits_json()
    }
    assert ("RAW_REQUESTS", "MINUTE", 5, 300_000) in raw
    limits = RateLimitConfig(
        request_weight_per_minute=6000,
        orders_per_10s=100,
        orders_per_minute=0,
        orders_per_day=200_000,
        raw_requests_per_5m=3,
    )
    async with running(spot_limits=limits) as (v, s):
        _, info, _ = await call(v, s, "GET", "/api/v3/exchangeInfo", sign=False)
        assert {
            "rateLimitType": "RAW_REQUESTS",
            "interval": "MINUTE",
            "intervalNum": 5,
            "limit": 3,
        } in info["rateLimits"]
        # Two more requests fit; the fourth is refused although it would be free on success.
        for _ in range(2):
            assert (await call(v, s, "GET", "/api/v3/ping", sign=False))[0] == 200
        status, body, _ = await call(v, s, "POST", "/api/v3/order", STOP)
        assert (status, body["code"]) == (429, -1003), body
        assert "5 MINUTE" in body["msg"]
