"""Contract tests: the Spot adapter (``binance-sdk-spot`` underneath) against the paper venue.

REST: placing/querying/cancelling single orders and OCO order lists with the exact wire
parameters (seen by the recording proxy of the USD-M tests in front of the venue), not-found
answers, venue refusals. User data: the WebSocket API subscription delivers raw events (``e``
intact) and survives the venue ending the subscription or dropping the connection. The venue runs
on a real-time clock (the SDK signs with the wall clock). Every wait is bounded.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from exitguard.adapters.errors import Rejected, ReplaceHalfDone, Transient
from exitguard.adapters.port import (
    SpotReader,
    SpotTrader,
    StreamItem,
    TransportEvent,
    TransportKind,
    UserDataEvent,
)
from exitguard.adapters.spot import SdkSpotReader, SdkSpotTrader
from exitguard.adapters.spot_rest import SpotRestSettings
from exitguard.domain import ClientOrderId, Side, TimeInForce
from exitguard.domain.enums import SpotOrderType
from exitguard.domain.requests import OcoLeg, SpotOcoRequest, SpotOrderRequest
from exitguard.venue.clock import RealtimeClock
from exitguard.venue.server import Venue
from test_adapter_usdm_support import RecordingProxy, faults

D = Decimal
ETH = "ETHUSDT"  # venue start price 3000.00, default balance 10 ETH
WAIT_S = 8.0


@pytest.fixture
async def venue() -> AsyncIterator[Venue]:
    async with Venue(clock=RealtimeClock(), feed=None) as v:
        yield v


@pytest.fixture
async def proxy(venue: Venue) -> AsyncIterator[RecordingProxy]:
    p = await RecordingProxy(venue.rest_url).start()
    yield p
    await p.stop()


@pytest.fixture
async def reader(venue: Venue, proxy: RecordingProxy) -> AsyncIterator[SdkSpotReader]:
    r = SdkSpotReader(
        rest_url=proxy.url,
        ws_api_url=venue.spot_ws_api_url,
        api_key=venue.api_key,
        api_secret=venue.api_secret,
        reconnect_initial_s=0.05,
    )
    yield r
    await r.close()


@pytest.fixture
async def trader(venue: Venue, proxy: RecordingProxy) -> AsyncIterator[SdkSpotTrader]:
    t = SdkSpotTrader(rest_url=proxy.url, api_key=venue.api_key, api_secret=venue.api_secret)
    yield t
    await t.close()


def stop_loss(cid: str, stop: str = "2900.00", qty: str = "1.0000") -> SpotOrderRequest:
    return SpotOrderRequest(
        symbol=ETH,
        side=Side.SELL,
        type=SpotOrderType.STOP_LOSS_LIMIT,
        time_in_force=TimeInForce.GTC,
        quantity=D(qty),
        price=D("2890.00"),
        stop_price=D(stop),
        new_client_order_id=ClientOrderId(cid),
    )


def oco(cid: str, qty: str = "1.0000") -> SpotOcoRequest:
    return SpotOcoRequest(
        symbol=ETH,
        side=Side.SELL,
        quantity=D(qty),
        above=OcoLeg(type=SpotOrderType.LIMIT_MAKER, price=D("3120.00")),
        below=OcoLeg(type=SpotOrderType.STOP_LOSS, stop_price=D("2940.00")),
        list_client_order_id=ClientOrderId(cid),
    )


async def next_item(items: AsyncIterator[StreamItem]) -> StreamItem:
    return await asyncio.wait_for(anext(items), WAIT_S)


async def next_event(items: AsyncIterator[StreamItem], kind: str) -> dict[str, object]:
    """The next user-data payload of type ``kind`` (others skipped; bounded)."""
    async with asyncio.timeout(WAIT_S):
        async for item in items:
            if isinstance(item, UserDataEvent) and item.payload.get("e") == kind:
                return item.payload
    raise AssertionError("stream ended")


async def next_transport(items: AsyncIterator[StreamItem], kind: TransportKind) -> None:
    async with asyncio.timeout(WAIT_S):
        async for item in items:
            if isinstance(item, TransportEvent) and item.kind is kind:
                return
    raise AssertionError("stream ended")


def test_implements_the_port(reader: SdkSpotReader, trader: SdkSpotTrader) -> None:
    r: SpotReader = reader
    t: SpotTrader = trader
    assert r is reader and t is trader


def test_settings_hide_secrets() -> None:
    s = SpotRestSettings(rest_url="http://127.0.0.1:1", api_key="k" * 20, api_secret="s" * 20)
    assert "k" * 20 not in repr(s) and "s" * 20 not in repr(s)


async def test_state_reads(reader: SdkSpotReader) -> None:
    info = await reader.exchange_info()
    assert ETH in {s["symbol"] for s in info["symbols"]}
    balances = {b.asset: b for b in await reader.balances()}
    assert balances["ETH"].total == D(10)
    assert (await reader.prices(ETH)).last == D(3000)
    assert await reader.open_orders() == [] and await reader.open_order_lists() == []


async def test_order_place_query_cancel_exact_params(
    reader: SdkSpotReader, trader: SdkSpotTrader, proxy: RecordingProxy
) -> None:
    req = stop_loss("eg-sl-1")
    placed = await trader.place_order(req)
    assert (placed.client_order_id, placed.status, placed.order_type) == (
        "eg-sl-1",
        "NEW",
        "STOP_LOSS_LIMIT",
    )
    (sent,) = proxy.calls("POST", "/api/v3/order")
    assert sent.order_params == req.to_params()
    assert sent.order_params["quantity"] == "1.0000"  # the Decimal's own text, no float

    found = await reader.query_order(ETH, "eg-sl-1")
    assert found is not None and found.order_id == placed.order_id and found.stop_price == D(2900)
    assert [o.client_order_id for o in await reader.open_orders(ETH)] == ["eg-sl-1"]

    cancelled = await trader.cancel_order(ETH, "eg-sl-1")
    assert (cancelled.client_order_id, cancelled.status) == ("eg-sl-1", "CANCELED")
    (cancel_req,) = proxy.calls("DELETE", "/api/v3/order")
    assert cancel_req.order_params == {"symbol": ETH, "origClientOrderId": "eg-sl-1"}
    assert await reader.query_order(ETH, "never-sent") is None


async def test_oco_place_query_cancel_exact_params(
    reader: SdkSpotReader, trader: SdkSpotTrader, proxy: RecordingProxy
) -> None:
    req = oco("eg-oco-1")
    lst = await trader.place_oco(req)
    assert (lst.list_client_order_id, lst.list_order_status) == ("eg-oco-1", "EXECUTING")
    assert {r.order_type for r in lst.reports} == {"LIMIT_MAKER", "STOP_LOSS"}
    (sent,) = proxy.calls("POST", "/api/v3/orderList/oco")
    assert sent.order_params == req.to_params()
    assert not proxy.calls("POST", "/api/v3/order/oco")  # never the deprecated endpoint

    (open_list,) = await reader.open_order_lists()
    assert open_list.order_list_id == lst.order_list_id and len(open_list.orders) == 2
    queried = await reader.query_order_list("eg-oco-1")
    assert queried is not None and queried.list_order_status == "EXECUTING"

    done = await trader.cancel_order_list(ETH, "eg-oco-1")
    assert done.list_order_status == "ALL_DONE"
    assert {r.status for r in done.reports} == {"CANCELED"}
    (cancel_req,) = proxy.calls("DELETE", "/api/v3/orderList")
    assert cancel_req.order_params == {"symbol": ETH, "listClientOrderId": "eg-oco-1"}
    assert await reader.open_order_lists() == []
    assert await reader.query_order_list("no-such-list") is None


async def test_would_trigger_is_rejected_with_its_code(trader: SdkSpotTrader) -> None:
    # A SELL stop above the last price (3000) would trigger at once: -2010.
    with pytest.raises(Rejected) as info:
        await trader.place_order(stop_loss("eg-sl-bad", stop="3100.00"))
    assert info.value.code == -2010


async def test_cancel_replace_exact_params_and_outcomes(
    reader: SdkSpotReader, trader: SdkSpotTrader, proxy: RecordingProxy
) -> None:
    """STOP_ON_FAILURE cancel-replace: success answers the new order; a failed cancel is a plain
    Rejected with the cancel's own code (nothing changed); a done cancel with a refused new order
    is ReplaceHalfDone with the new order's code (the old order is gone)."""
    await trader.place_order(stop_loss("eg-cr-1"))
    req = stop_loss("eg-cr-2", stop="2950.00")
    new = await trader.cancel_replace(ETH, "eg-cr-1", req)
    assert (new.client_order_id, new.status, new.stop_price) == ("eg-cr-2", "NEW", D(2950))
    (sent,) = proxy.calls("POST", "/api/v3/order/cancelReplace")
    assert sent.order_params == {
        **req.to_params(),
        "cancelReplaceMode": "STOP_ON_FAILURE",
        "cancelOrigClientOrderId": "eg-cr-1",
    }
    old = await reader.query_order(ETH, "eg-cr-1")
    assert old is not None and old.status == "CANCELED"

    with pytest.raises(Rejected) as cancel_failed:  # no such order: nothing changes
        await trader.cancel_replace(ETH, "eg-never-sent", stop_loss("eg-cr-3"))
    assert not isinstance(cancel_failed.value, ReplaceHalfDone)
    assert cancel_failed.value.code == -2011 and cancel_failed.value.http_status == 400
    assert await reader.query_order(ETH, "eg-cr-3") is None
    assert [o.client_order_id for o in await reader.open_orders(ETH)] == ["eg-cr-2"]

    # A SELL stop above the last price (3000) is refused by the matching engine, after the cancel.
    with pytest.raises(ReplaceHalfDone) as half:
        await trader.cancel_replace(ETH, "eg-cr-2", stop_loss("eg-cr-4", stop="3100.00"))
    assert half.value.code == -2010 and half.value.http_status == 409
    assert "trigger immediately" in half.value.msg
    assert half.value.answer is not None and half.value.answer["code"] == -2021
    gone = await reader.query_order(ETH, "eg-cr-2")
    assert gone is not None and gone.status == "CANCELED"
    assert await reader.open_orders(ETH) == []

    with pytest.raises(ValueError, match=r"request\.symbol"):
        await trader.cancel_replace("BTCUSDT", "eg-cr-2", stop_loss("eg-cr-5"))


async def test_cancel_replace_half_done_also_on_the_generic_signed_path(
    venue: Venue, trader: SdkSpotTrader, proxy: RecordingProxy
) -> None:
    """After a clock resync requests go through the generic signed path (its own session): the
    failed answer's ``data`` is read there too."""
    await faults(venue, clock_skew_ms=30_000)
    with pytest.raises(Transient):
        await trader.place_order(stop_loss("eg-skew"))
    assert len(proxy.calls("GET", "/api/v3/time")) == 1  # resynced: the offset is applied now
    await trader.place_order(stop_loss("eg-gen-1"))
    with pytest.raises(ReplaceHalfDone) as half:
        await trader.cancel_replace(ETH, "eg-gen-1", stop_loss("eg-gen-2", stop="3100.00"))
    assert half.value.code == -2010


async def test_user_stream_delivers_raw_events_and_resubscribes(
    venue: Venue, reader: SdkSpotReader, trader: SdkSpotTrader
) -> None:
    items = reader.user_stream()
    try:
        first = await next_item(items)
        assert isinstance(first, TransportEvent) and first.kind is TransportKind.OPEN
        await trader.place_order(stop_loss("eg-sl-2"))
        report = await next_event(items, "executionReport")
        assert (report["c"], report["x"], report["X"], report["g"]) == ("eg-sl-2", "NEW", "NEW", -1)
        balance = await next_event(items, "outboundAccountPosition")
        assert balance["B"] == [{"a": "ETH", "f": "9.00000000", "l": "1.00000000"}]

        # The venue ends the subscription (connection kept): reconnect and subscribe again.
        out = await faults(venue, close_user_streams=True)
        assert out["terminated_subscriptions"] == 1
        await next_event(items, "eventStreamTerminated")
        await next_transport(items, TransportKind.RECONNECTING)
        await next_transport(items, TransportKind.RECONNECTED)
        await trader.cancel_order(ETH, "eg-sl-2")
        cancelled = await next_event(items, "executionReport")
        assert (cancelled["C"], cancelled["X"]) == ("eg-sl-2", "CANCELED")

        # The venue drops the WebSocket API connection itself.
        ws_api = venue.context.ws_api
        assert ws_api is not None
        await ws_api.stop()
        await next_transport(items, TransportKind.RECONNECTING)
        await next_transport(items, TransportKind.RECONNECTED)
        lst = await trader.place_oco(oco("eg-oco-2"))
        status = await next_event(items, "listStatus")
        assert (status["C"], status["L"], status["g"]) == (
            "eg-oco-2",
            "EXECUTING",
            lst.order_list_id,
        )
    finally:
        await reader.close()
    # close() ends the iteration with CLOSED.
    async with asyncio.timeout(WAIT_S):
        rest = [item async for item in items]
    assert isinstance(rest[-1], TransportEvent) and rest[-1].kind is TransportKind.CLOSED


async def test_refused_subscription_is_an_exception_event(venue: Venue) -> None:
    r = SdkSpotReader(
        rest_url=venue.rest_url,
        ws_api_url=venue.spot_ws_api_url,
        api_key=venue.api_key,
        api_secret="wrong-secret-value",
        reconnect_initial_s=0.05,
        reconnect_attempts=2,
    )
    items = r.user_stream()
    try:
        seen = [await next_item(items) for _ in range(3)]
    finally:
        await r.close()
    kinds = [i.kind for i in seen if isinstance(i, TransportEvent)]
    assert kinds == [TransportKind.EXCEPTION, TransportKind.EXCEPTION, TransportKind.CLOSED]
    assert all("wrong-secret-value" not in i.detail for i in seen if isinstance(i, TransportEvent))
