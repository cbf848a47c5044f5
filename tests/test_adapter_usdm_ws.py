"""The USD-M trader over the WebSocket API (``[usdm] transport = "ws_api"``) on the paper venue.

Placements and cancels go over ``/ws-fapi/v1`` through the SDK's websocket_api client, with the
REST error boundary; a connection that drops with a request in flight is an unknown outcome, and
the manager resolves it by client id (no duplicate stop). The venue runs on a real-time clock
(the SDK signs with the wall clock); servers bind 127.0.0.1 port 0; every wait is bounded.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from Crypto.PublicKey import ECC

from exitguard.adapters.errors import Rejected, Transient, UnknownOutcome
from exitguard.adapters.usdm_reader import SdkUsdmReader
from exitguard.adapters.usdm_ws import WsUsdmTrader
from exitguard.config.errors import ConfigError
from exitguard.config.loader import load_config
from exitguard.domain import (
    AlgoOrderRequest,
    AlgoOrderType,
    ClientAlgoId,
    ClientOrderId,
    FuturesOrderRequest,
    FuturesOrderType,
    Product,
    Side,
    TimeInForce,
)
from exitguard.manager.ops import UsdmOps
from exitguard.manager.scope import ScopeConfig
from exitguard.manager.service import ExitManager
from exitguard.planner.policy import Distance, ProtectionPolicy, StopLossPolicy
from exitguard.store.exits import ExitStore
from exitguard.venue.clock import RealtimeClock
from exitguard.venue.server import Venue

pytestmark = pytest.mark.usefixtures("async_watchdog")
D = Decimal
BTC = "BTCUSDT"
KEY = ECC.generate(curve="Ed25519")
PRIVATE_PEM = KEY.export_key(format="PEM")
PUBLIC_PEM = KEY.public_key().export_key(format="PEM")
STOP_ONLY = ProtectionPolicy(stop_loss=StopLossPolicy(Distance(percent=D(2))))


@pytest.fixture
async def venue() -> AsyncIterator[Venue]:
    async with Venue(clock=RealtimeClock(), feed=None, ed25519_public_key_pem=PUBLIC_PEM) as v:
        v.set_price(BTC, last=D(50000), mark=D(50000))
        yield v


def trader(v: Venue, *, ed25519: bool = True, timeout_ms: int = 3000) -> WsUsdmTrader:
    keys: dict[str, Any] = {"private_key": PRIVATE_PEM} if ed25519 else {"api_secret": v.api_secret}
    return WsUsdmTrader(
        rest_url=v.rest_url,
        ws_api_url=v.ws_api_url,
        api_key=v.api_key,
        timeout_ms=timeout_ms,
        **keys,
    )


def stop(cid: str, trigger: str = "40000") -> AlgoOrderRequest:
    return AlgoOrderRequest(
        symbol=BTC,
        side=Side.SELL,
        type=AlgoOrderType.STOP_MARKET,
        trigger_price=D(trigger),
        close_position=True,
        client_algo_id=ClientAlgoId(cid),
    )


def open_algo_ids(v: Venue) -> list[str]:
    rows = v.exchange.snapshot()["algoOrders"]
    return sorted(o["clientAlgoId"] for o in rows if o["algoStatus"] == "NEW")


def drop_after(v: Venue, name: str) -> list[int]:
    """The venue applies the next ``name`` call, then drops every WS API connection before the
    answer leaves (the request's outcome is unknown to the client)."""
    exchange: Any = v.exchange
    original = getattr(exchange, name)
    calls: list[int] = []

    def applied_then_dropped(account: Any, params: Any) -> Any:
        result = original(account, params)
        if not calls:
            calls.append(v.ws_fapi.drop_connections())
        return result

    setattr(exchange, name, applied_then_dropped)
    return calls


@pytest.mark.parametrize("ed25519", [True, False], ids=["logon", "signed"])
async def test_place_and_cancel_over_the_ws_api(venue: Venue, ed25519: bool) -> None:
    t = trader(venue, ed25519=ed25519)
    try:
        placed = await t.place_algo_order(stop("exg-ws-sl"))
        assert placed.client_algo_id == "exg-ws-sl" and placed.trigger_price == D(40000)
        assert open_algo_ids(venue) == ["exg-ws-sl"] and venue.ws_fapi.connections == 1
        gone = await t.cancel_algo_order("exg-ws-sl")
        assert gone.status == "CANCELED"
        limit = FuturesOrderRequest(
            symbol=BTC,
            side=Side.BUY,
            type=FuturesOrderType.LIMIT,
            time_in_force=TimeInForce.GTC,
            quantity=D("0.01"),
            price=D("30000"),
            new_client_order_id=ClientOrderId("exg-ws-lim"),
        )
        order = await t.place_order(limit)
        assert order.price == D(30000) and order.status == "NEW"
        cancelled = await t.cancel_order(BTC, "exg-ws-lim")
        assert cancelled.status == "CANCELED"
        with pytest.raises(Rejected) as unknown:
            await t.cancel_order(BTC, "exg-nothing")
        assert unknown.value.code == -2011
        venue.context.faults.status_429 = 1
        with pytest.raises(Transient) as limited:
            await t.place_algo_order(stop("exg-ws-429"))
        assert limited.value.code == -1003 and open_algo_ids(venue) == []
        assert venue.ws_fapi.connections == 1  # one connection served all of it
    finally:
        await t.close()


async def test_drop_mid_place_is_unknown_then_reconnects_and_logs_on(venue: Venue) -> None:
    t = trader(venue)
    try:
        calls = drop_after(venue, "new_algo_order")
        with pytest.raises(UnknownOutcome):
            await t.place_algo_order(stop("exg-ws-drop"))
        assert calls == [1] and open_algo_ids(venue) == ["exg-ws-drop"]  # it was applied
        # The next request opens a new connection and logs on again (Ed25519: no signature).
        await t.place_algo_order(stop("exg-ws-next", "39000"))
        assert open_algo_ids(venue) == ["exg-ws-drop", "exg-ws-next"]
        assert venue.ws_fapi.connections == 1 and venue.ws_fapi.logged_on == 1
        # A connection the venue closes while idle is replaced before the next request is sent.
        assert venue.ws_fapi.drop_connections() == 1
        await until(lambda: venue.ws_fapi.connections == 0)
        await asyncio.sleep(0.05)  # the client sees the close
        await t.cancel_algo_order("exg-ws-next")
        assert open_algo_ids(venue) == ["exg-ws-drop"] and venue.ws_fapi.logged_on == 1
    finally:
        await t.close()


async def until(cond: Callable[[], bool], timeout_s: float = 15.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not cond():
            await asyncio.sleep(0.01)


def manager(v: Venue, db: Path) -> ExitManager:
    reader = SdkUsdmReader(
        rest_url=v.rest_url,
        ws_streams_url=v.ws_streams_url,
        api_key=v.api_key,
        api_secret=v.api_secret,
        reconnect_initial_s=0.05,
    )
    return ExitManager(
        [UsdmOps(reader, trader(v, ed25519=False))],
        ExitStore(db),
        ScopeConfig("paper", lambda _p, _s: STOP_ONLY),
    )


async def test_manager_protects_over_ws_api_and_a_drop_mid_place_leaves_one_stop(
    venue: Venue, tmp_path: Path
) -> None:
    account = venue.exchange.account_by_api_key(venue.api_key)
    venue.exchange.open_position(account, BTC, Side.BUY, D("0.5"))
    calls = drop_after(venue, "new_algo_order")
    m = manager(venue, tmp_path / "s.db")
    await m.start()
    try:
        await until(lambda: bool(m.store.blocking("paper", Product.USDM)))
        assert calls == [1] and len(m.events_of("unknown_outcome")) == 1
        (row,) = m.store.blocking("paper", Product.USDM)
        assert open_algo_ids(venue) == [row.client_id]  # resolved by client id: no duplicate
        await asyncio.sleep(0.3)  # a later tick must not place a second stop
        assert open_algo_ids(venue) == [row.client_id]
    finally:
        await m.stop()
        m.store.close()
        for scope in m.scopes.values():
            await scope.ops.trader.close()  # type: ignore[union-attr]


def test_config_transport_setting(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[usdm]\ntransport = "ws_api"\n')
    assert load_config(path, {}).usdm_transport == "ws_api"
    assert load_config(None, {}).usdm_transport == "rest"
    path.write_text('[usdm]\ntransport = "fix"\n')
    with pytest.raises(ConfigError, match=r"usdm\.transport"):
        load_config(path, {})
    # An external venue needs the WebSocket API's URL when the transport uses it.
    path.write_text(
        '[usdm]\ntransport = "ws_api"\n[manager]\nproducts = ["usdm"]\n'
        '[urls]\nusdm_rest = "http://127.0.0.1:1"\nusdm_ws = "ws://127.0.0.1:1"\n'
    )
    with pytest.raises(ConfigError, match=r"urls\.usdm_ws_api"):
        load_config(path, {})
