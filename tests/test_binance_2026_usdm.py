"""USD-M changes of 2026 (derivatives change log; ``shared/reference/binance-changes-2026.md``):
``GET /fapi/v1/allOrders`` without ``symbol`` (2026-08-25) and ``callbackRate`` up to 20 on
``/fapi/v1/algoOrder`` (2026-10-23). Servers bind 127.0.0.1 port 0."""

from __future__ import annotations

from test_venue_http import call, running

TRAIL = [
    ("algoType", "CONDITIONAL"),
    ("symbol", "BTCUSDT"),
    ("side", "SELL"),
    ("type", "TRAILING_STOP_MARKET"),
    ("quantity", "0.01"),
]


async def test_all_orders_without_symbol_lists_every_symbol() -> None:
    async with running(feed=None) as (v, s):
        _, info, _ = await call(v, s, "GET", "/fapi/v1/exchangeInfo", sign=False)
        symbols = [x["symbol"] for x in info["symbols"]][:2]
        assert len(symbols) == 2
        for sym in symbols:
            order = [("symbol", sym), ("side", "BUY"), ("type", "MARKET"), ("quantity", "1")]
            status, body, _ = await call(v, s, "POST", "/fapi/v1/order", order)
            assert status == 200, body
        status, rows, _ = await call(v, s, "GET", "/fapi/v1/allOrders")
        assert status == 200, rows
        assert {r["symbol"] for r in rows} == set(symbols)
        status, rows, _ = await call(v, s, "GET", "/fapi/v1/allOrders", [("symbol", symbols[0])])
        assert {r["symbol"] for r in rows} == {symbols[0]}


async def test_callback_rate_up_to_20_on_the_algo_endpoint() -> None:
    async with running(feed=None) as (v, s):
        status, body, _ = await call(
            v, s, "POST", "/fapi/v1/algoOrder", [*TRAIL, ("callbackRate", "20")]
        )
        assert status == 200 and body["callbackRate"] == "20", body
        status, body, _ = await call(
            v, s, "POST", "/fapi/v1/algoOrder", [*TRAIL, ("callbackRate", "20.1")]
        )
        assert status == 400 and body["code"] == -2007, body
