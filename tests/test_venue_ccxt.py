"""ccxt (an independent Binance client) against the paper venue, as a new bot would use it.

``ccxt.async_support.binanceusdm`` and ``ccxt.async_support.binance`` are pointed at the embedded
venue by rewriting every URL ccxt knows (each host becomes the venue's), currency loading
(``/sapi/v1/capital/config/getall``) and margin-market loading are switched off, and every URL
ccxt requests is recorded and must be the venue's: no test reaches a real host. The venue runs on
the real-time clock (ccxt signs with the wall clock); servers bind 127.0.0.1 port 0.

USD-M: load markets, fetch balance and ticker, open a position, place a reduce-only STOP_MARKET
through ccxt's own params — ccxt 4.5 routes it to the Algo Service (``POST /fapi/v1/algoOrder``),
which the test asserts from the request path — query it, list open orders the way a bot's
startup reconciliation does (with and without a symbol, regular and conditional), cancel it.
Spot: a STOP_LOSS_LIMIT placed, queried, listed and cancelled.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import pytest

from exitguard.venue.clock import RealtimeClock
from exitguard.venue.server import Venue

ccxt = pytest.importorskip("ccxt.async_support")

PERP, SPOT = "BTC/USDT:USDT", "BTC/USDT"


@pytest.fixture
async def venue() -> AsyncIterator[Venue]:
    async with Venue(clock=RealtimeClock(), feed=None) as v:
        yield v


def point_at(exchange: Any, base: str) -> list[str]:
    """Rewrite every URL of ``exchange.urls`` to the venue; answer the list that will hold every
    URL ccxt requests (checked by the tests: all the venue's)."""

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, str) and node.startswith(("http://", "https://", "ws://", "wss://")):
            return base + urlsplit(node).path
        return node

    exchange.urls = walk(exchange.urls)
    exchange.options["fetchCurrencies"] = False  # /sapi capital config: not a paper-venue thing
    exchange.options["fetchMargins"] = False  # /sapi margin pairs
    exchange.options["warnOnFetchOpenOrdersWithoutSymbol"] = False
    requested: list[str] = []
    fetch = exchange.fetch

    async def recording_fetch(url: str, method: str = "GET", *args: Any, **kwargs: Any) -> Any:
        requested.append(f"{method} {url}")
        assert url.startswith(base + "/"), f"ccxt tried a host other than the venue: {url}"
        return await fetch(url, method, *args, **kwargs)

    exchange.fetch = recording_fetch
    return requested


def client(cls: Any, v: Venue, **options: Any) -> tuple[Any, list[str]]:
    exchange = cls({"apiKey": v.api_key, "secret": v.api_secret, "enableRateLimit": False})
    exchange.options.update(options)
    return exchange, point_at(exchange, v.rest_url.rstrip("/"))


def paths(requested: list[str]) -> list[str]:
    return [f"{r.split(' ', 1)[0]} {urlsplit(r.split(' ', 1)[1]).path}" for r in requested]


async def test_binanceusdm_places_queries_lists_and_cancels_a_conditional_exit(
    venue: Venue,
) -> None:
    ex, requested = client(ccxt.binanceusdm, venue)
    try:
        markets = await ex.load_markets()
        assert PERP in markets and markets[PERP]["linear"] is True
        balance = await ex.fetch_balance()
        assert balance["total"]["USDT"] == 10_000
        ticker = await ex.fetch_ticker(PERP)
        assert ticker["last"] == 65_000
        entry = await ex.create_order(PERP, "market", "buy", 0.01)
        assert entry["status"] == "closed"
        stop = await ex.create_order(
            PERP, "STOP_MARKET", "sell", 0.01, None, {"stopPrice": 60_000, "reduceOnly": True}
        )
        # ccxt 4.5 sends a conditional to the Algo Service; the answer is an algo row.
        assert paths(requested)[-1] == "POST /fapi/v1/algoOrder"
        assert stop["info"]["orderType"] == "STOP_MARKET" and stop["info"]["reduceOnly"] is True
        assert "activatePrice" not in stop["info"]  # documented keys only
        assert stop["triggerPrice"] == 60_000 and stop["status"] == "open"
        got = await ex.fetch_order(stop["id"], PERP, {"trigger": True})
        assert (got["id"], got["status"], got["reduceOnly"]) == (stop["id"], "open", True)
        assert paths(requested)[-1] == "GET /fapi/v1/algoOrder"
        # Startup reconciliation: regular and conditional orders, per symbol and for all.
        assert await ex.fetch_open_orders(PERP) == []
        listed = await ex.fetch_open_orders(PERP, None, None, {"trigger": True})
        assert [o["id"] for o in listed] == [stop["id"]]
        everywhere = await ex.fetch_open_orders(None, None, None, {"trigger": True})
        assert [o["id"] for o in everywhere] == [stop["id"]]
        assert paths(requested)[-1] == "GET /fapi/v1/openAlgoOrders"
        positions = await ex.fetch_positions([PERP])
        assert [Decimal(str(p["contracts"])) for p in positions] == [Decimal("0.01")]
        await ex.cancel_order(stop["id"], PERP, {"trigger": True})
        assert paths(requested)[-1] == "DELETE /fapi/v1/algoOrder"
        gone = await ex.fetch_order(stop["id"], PERP, {"trigger": True})
        assert gone["status"] == "canceled"
        assert await ex.fetch_open_orders(PERP, None, None, {"trigger": True}) == []
    finally:
        await ex.close()
    assert all(r.split(" ", 1)[1].startswith(venue.rest_url.rstrip("/")) for r in requested)


async def test_binance_spot_places_queries_and_cancels_a_stop_loss_limit(venue: Venue) -> None:
    ex, requested = client(ccxt.binance, venue)
    ex.options["fetchMarkets"] = {"types": ["spot"]}  # the venue serves Spot and USD-M only
    try:
        markets = await ex.load_markets()
        assert SPOT in markets and markets[SPOT]["spot"] is True
        balance = await ex.fetch_balance()
        assert balance["total"]["BTC"] == 1
        ticker = await ex.fetch_ticker(SPOT)
        assert ticker["last"] == 65_000 and ticker["bid"] < ticker["ask"]
        stop = await ex.create_order(
            SPOT, "STOP_LOSS_LIMIT", "sell", 0.01, 63_900, {"stopPrice": 64_000}
        )
        assert paths(requested)[-1] == "POST /api/v3/order"
        assert stop["status"] == "open" and stop["triggerPrice"] == 64_000
        got = await ex.fetch_order(stop["id"], SPOT)
        assert (got["status"], got["price"], got["triggerPrice"]) == ("open", 63_900, 64_000)
        assert [o["id"] for o in await ex.fetch_open_orders(SPOT)] == [stop["id"]]
        cancelled = await ex.cancel_order(stop["id"], SPOT)
        assert cancelled["status"] == "canceled"
        assert await ex.fetch_open_orders(SPOT) == []
    finally:
        await ex.close()
    assert not [r for r in requested if "/sapi/" in r or "/fapi/" in r or "/dapi/" in r]
