"""Contract tests: the official ``binance-sdk-spot`` against the paper venue's Spot side.

REST: every ``/api/v3`` endpoint of the venue through the SDK's own methods; each answer must
parse into the SDK's model (no "did not match" / "Failed to parse" warnings). User data: the
SDK's WebSocket API client, with ``session.logon`` (Ed25519) + ``userDataStream.subscribe`` and
with ``userDataStream.subscribe.signature`` (HMAC); events must parse into the SDK's event models.
Market streams through the SDK's streams client. The SDK signs with the wall clock, so the venue
runs on a real-time clock without a feed; prices move through ``Venue.set_spot_price``. Servers
bind 127.0.0.1 port 0; every wait is bounded.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any, TypeVar

import aiohttp
import pytest
from binance_common.configuration import (
    ConfigurationRestAPI,
    ConfigurationWebSocketAPI,
    ConfigurationWebSocketStreams,
)
from binance_common.errors import BadRequestError, ClientError
from binance_sdk_spot.rest_api.models import (
    DeleteOrderListResponse,
    GetAccountResponse,
    GetOrderResponse,
    NewOrderResponse,
    OrderCancelReplaceResponse,
    OrderListOcoResponse,
    OrderListOtocoResponse,
    OrderListOtoResponse,
    OrderOcoResponse,
    OrderTestResponse,
)
from binance_sdk_spot.spot import Spot
from binance_sdk_spot.websocket_api.models import (
    AccountStatusResponse,
    OrderListPlaceOcoResponse,
    OrderPlaceResponse,
)
from Crypto.PublicKey import ECC

from exitguard.venue.clock import RealtimeClock
from exitguard.venue.server import Venue

T = TypeVar("T")
SYMBOL = "BTCUSDT"
KEY = ECC.generate(curve="Ed25519")
PRIVATE_PEM = KEY.export_key(format="PEM")
PUBLIC_PEM = KEY.public_key().export_key(format="PEM")


@pytest.fixture
async def venue() -> AsyncIterator[Venue]:
    async with Venue(clock=RealtimeClock(), feed=None, ed25519_public_key_pem=PUBLIC_PEM) as v:
        yield v


def rest(v: Venue) -> Any:
    cfg = ConfigurationRestAPI(
        api_key=v.api_key, api_secret=v.api_secret, base_path=v.rest_url, timeout=10_000, retries=0
    )
    return Spot(config_rest_api=cfg).rest_api


async def sdk(fn: Callable[[], T]) -> T:
    return await asyncio.wait_for(asyncio.to_thread(fn), timeout=15)


async def wait_until(pred: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


@pytest.fixture
def sdk_warnings(caplog: pytest.LogCaptureFixture) -> Callable[[], list[str]]:
    """SDK log lines saying a venue answer or event did not fit the SDK's models."""
    caplog.set_level(logging.WARNING)

    def collect() -> list[str]:
        return [
            r.getMessage()
            for r in caplog.records
            if "did not match the declared types" in r.getMessage()
            or "Failed to parse" in r.getMessage()
            or "returning raw payload" in r.getMessage()
        ]

    return collect


def inner(obj: Any) -> Any:
    return getattr(obj, "actual_instance", None) or obj


async def test_public_endpoints(venue: Venue, sdk_warnings: Callable[[], list[str]]) -> None:
    r = rest(venue)
    assert (await sdk(r.ping)).data() == {}
    assert abs((await sdk(r.time)).data().server_time - time.time() * 1000) < 5_000
    info = (await sdk(lambda: r.exchange_info(symbol=SYMBOL))).data()
    assert [s.symbol for s in info.symbols] == [SYMBOL]
    every = (await sdk(r.exchange_info)).data()  # all five symbols parse into the SDK's model
    assert len(every.symbols) == 5
    assert {(rl.interval, rl.limit) for rl in info.rate_limits} >= {("MINUTE", 6000)}
    price = inner((await sdk(lambda: r.ticker_price(symbol=SYMBOL))).data())
    assert (price.symbol, price.price) == (SYMBOL, "65000.00000000")
    assert len(inner((await sdk(r.ticker_price)).data())) == 5
    book = inner((await sdk(lambda: r.ticker_book_ticker(symbol=SYMBOL))).data())
    assert Decimal(book.bid_price) < Decimal(book.ask_price)
    depth = (await sdk(lambda: r.depth(symbol=SYMBOL, limit=5))).data()
    assert len(depth.bids) == 5 and len(depth.asks) == 5
    assert sdk_warnings() == []


async def test_account_and_single_orders(
    venue: Venue, sdk_warnings: Callable[[], list[str]]
) -> None:
    r = rest(venue)
    account = (await sdk(r.get_account)).data()
    assert isinstance(account, GetAccountResponse) and account.account_type == "SPOT"
    assert {b.asset for b in account.balances} >= {"BTC", "USDT"}
    test = (await sdk(
        lambda: r.order_test(compute_commission_rates=True, symbol=SYMBOL, side="SELL", type="LIMIT",
                             quantity="0.01", price="66000", time_in_force="GTC")
    )).data()  # fmt: skip
    assert isinstance(test, OrderTestResponse)
    assert test.standard_commission_for_order.taker == "0.00100000"
    stop_resp = await sdk(
        lambda: r.new_order(
            symbol=SYMBOL, side="SELL", type="STOP_LOSS_LIMIT", quantity="0.01", price="63900",
            stop_price="64000", time_in_force="GTC", new_client_order_id="exg-stop",
        )
    )  # fmt: skip
    assert {rl.interval for rl in stop_resp.rate_limits} == {"MINUTE", "SECOND", "DAY"}
    stop = stop_resp.data()
    assert isinstance(stop, NewOrderResponse) and stop.client_order_id == "exg-stop"
    market = (
        await sdk(lambda: r.new_order(symbol=SYMBOL, side="BUY", type="MARKET", quantity="0.01"))
    ).data()
    assert market.status == "FILLED" and market.fills[0].commission_asset == "USDT"
    got = (await sdk(lambda: r.get_order(symbol=SYMBOL, orig_client_order_id="exg-stop"))).data()
    assert isinstance(got, GetOrderResponse) and got.stop_price == "64000.00000000"
    assert got.is_working is False and got.working_time == -1
    opened = (await sdk(lambda: r.get_open_orders(symbol=SYMBOL))).data()
    assert [o.order_id for o in opened] == [stop.order_id]
    assert len((await sdk(lambda: r.all_orders(symbol=SYMBOL))).data()) == 2
    trades = (await sdk(lambda: r.my_trades(symbol=SYMBOL))).data()
    assert trades[0].order_id == market.order_id and trades[0].is_buyer is True
    cancelled = (await sdk(lambda: r.delete_order(symbol=SYMBOL, order_id=stop.order_id))).data()
    assert cancelled.status == "CANCELED" and cancelled.orig_client_order_id == "exg-stop"
    await sdk(lambda: r.new_order(symbol=SYMBOL, side="SELL", type="LIMIT", quantity="0.01",
                                  price="70000", time_in_force="GTC"))  # fmt: skip
    assert [x.status for x in (await sdk(lambda: r.delete_open_orders(symbol=SYMBOL))).data()] == [
        "CANCELED"
    ]
    with pytest.raises(BadRequestError) as e:
        await sdk(
            lambda: r.new_order(
                symbol=SYMBOL, side="SELL", type="STOP_LOSS", quantity="0.01", stop_price="66000"
            )
        )
    assert (
        e.value.status_code == -2010 and e.value.error_message == "Order would trigger immediately."
    )
    with pytest.raises(BadRequestError) as e:
        await sdk(lambda: r.new_order(symbol=SYMBOL, side="SELL", type="MARKET", quantity="50"))
    assert e.value.error_message == "Account has insufficient balance for requested action."
    assert sdk_warnings() == []


async def test_order_lists(venue: Venue, sdk_warnings: Callable[[], list[str]]) -> None:
    r = rest(venue)
    oco = (await sdk(
        lambda: r.order_list_oco(symbol=SYMBOL, side="SELL", quantity="0.1", above_type="LIMIT_MAKER",
                                 above_price="66000", below_type="STOP_LOSS_LIMIT", below_stop_price="64000",
                                 below_price="63900", below_time_in_force="GTC", list_client_order_id="exg-oco")
    )).data()  # fmt: skip
    assert isinstance(oco, OrderListOcoResponse) and oco.contingency_type == "OCO"
    assert {x.type for x in oco.order_reports} == {"LIMIT_MAKER", "STOP_LOSS_LIMIT"}
    got = (await sdk(lambda: r.get_order_list(orig_client_order_id="exg-oco"))).data()
    assert got.order_list_id == oco.order_list_id and got.list_order_status == "EXECUTING"
    assert [x.order_list_id for x in (await sdk(r.open_order_list)).data()] == [oco.order_list_id]
    deleted = (
        await sdk(lambda: r.delete_order_list(symbol=SYMBOL, order_list_id=oco.order_list_id))
    ).data()
    assert isinstance(deleted, DeleteOrderListResponse) and deleted.list_order_status == "ALL_DONE"
    assert {x.status for x in deleted.order_reports} == {"CANCELED"}
    oto = (await sdk(
        lambda: r.order_list_oto(symbol=SYMBOL, working_type="LIMIT", working_side="BUY", working_price="64000",
                                 working_quantity="0.01", working_time_in_force="GTC", pending_type="STOP_LOSS",
                                 pending_side="SELL", pending_quantity="0.01", pending_stop_price="63000")
    )).data()  # fmt: skip
    assert isinstance(oto, OrderListOtoResponse)
    assert [x.status for x in oto.order_reports] == ["NEW", "PENDING_NEW"]
    otoco = (await sdk(
        lambda: r.order_list_otoco(symbol=SYMBOL, working_type="LIMIT", working_side="BUY",
                                   working_price="64000", working_quantity="0.01", working_time_in_force="GTC",
                                   pending_side="SELL", pending_quantity="0.01", pending_above_type="LIMIT_MAKER",
                                   pending_above_price="67000", pending_below_type="STOP_LOSS",
                                   pending_below_stop_price="63000")
    )).data()  # fmt: skip
    assert isinstance(otoco, OrderListOtocoResponse) and otoco.contingency_type == "OTO"
    assert len(otoco.orders) == 3
    old = (await sdk(
        lambda: r.order_oco(symbol=SYMBOL, side="SELL", quantity="0.01", price="66000", stop_price="64000",
                            stop_limit_price="63900", stop_limit_time_in_force="GTC")
    )).data()  # fmt: skip
    assert isinstance(old, OrderOcoResponse) and old.list_status_type == "EXEC_STARTED"
    assert len((await sdk(r.all_order_list)).data()) == 4
    assert sdk_warnings() == []


async def test_cancel_replace(venue: Venue, sdk_warnings: Callable[[], list[str]]) -> None:
    r = rest(venue)
    await sdk(lambda: r.new_order(symbol=SYMBOL, side="SELL", type="LIMIT", quantity="0.01", price="70000",
                                  time_in_force="GTC", new_client_order_id="a"))  # fmt: skip
    out = (await sdk(
        lambda: r.order_cancel_replace(symbol=SYMBOL, side="SELL", type="LIMIT", cancel_replace_mode="STOP_ON_FAILURE",
                                       time_in_force="GTC", quantity="0.01", price="71000",
                                       cancel_orig_client_order_id="a", new_client_order_id="b")
    )).data()  # fmt: skip
    assert isinstance(out, OrderCancelReplaceResponse)
    assert (out.cancel_result, out.new_order_result) == ("SUCCESS", "SUCCESS")
    assert out.cancel_response.orig_client_order_id == "a"
    with pytest.raises(ClientError) as e:  # HTTP 409: neither 400 nor another typed status
        await sdk(
            lambda: r.order_cancel_replace(symbol=SYMBOL, side="SELL", type="STOP_LOSS",
                                           cancel_replace_mode="STOP_ON_FAILURE", quantity="0.01",
                                           stop_price="66000", cancel_orig_client_order_id="b")
        )  # fmt: skip
    assert e.value.error_message == "Order cancel-replace partially failed."
    with pytest.raises(BadRequestError) as bad:
        await sdk(
            lambda: r.order_cancel_replace(symbol=SYMBOL, side="SELL", type="LIMIT", time_in_force="GTC",
                                           cancel_replace_mode="STOP_ON_FAILURE", quantity="0.01",
                                           price="71000", cancel_orig_client_order_id="nope")
        )  # fmt: skip
    assert bad.value.status_code == -2022
    assert sdk_warnings() == []


async def test_user_data_via_session_logon(
    venue: Venue, sdk_warnings: Callable[[], list[str]]
) -> None:
    client = Spot(
        config_ws_api=ConfigurationWebSocketAPI(
            api_key=venue.api_key, private_key=PRIVATE_PEM, stream_url=venue.spot_ws_api_url
        )
    )
    conn = await client.websocket_api.create_connection()
    try:
        logon = (await conn.session_logon()).data()
        assert logon.result.api_key == venue.api_key
        sub = await conn.user_data_stream_subscribe()
        assert sub.response.data().result.subscription_id == 0
        events: list[Any] = []
        sub.stream.on("message", lambda m: events.append(inner(m)))
        r = rest(venue)
        await sdk(
            lambda: r.new_order(symbol=SYMBOL, side="SELL", type="STOP_LOSS", quantity="0.01", trailing_delta=100)
        )  # fmt: skip
        await sdk(
            lambda: r.order_list_oco(symbol=SYMBOL, side="SELL", quantity="0.1", above_type="LIMIT_MAKER",
                                     above_price="66000", below_type="STOP_LOSS", below_stop_price="63000")
        )  # fmt: skip
        venue.set_spot_price(SYMBOL, Decimal("66000"))
        venue.set_spot_price(SYMBOL, Decimal("65340"))  # 66,000 x 0.99: the trailing stop fires
        names = lambda: [type(e).__name__ for e in events]  # noqa: E731
        await wait_until(lambda: names().count("ListStatus") == 2 and "ExecutionReport" in names())
        await wait_until(
            lambda: any(getattr(e, "x", "") == "TRADE" and e.o == "STOP_LOSS" for e in events)
        )
        fired = next(e for e in events if getattr(e, "x", "") == "TRADE" and e.o == "STOP_LOSS")
        assert fired.d == 100 and fired.D > 0 and fired.W > 0
        expired = next(e for e in events if getattr(e, "x", "") == "EXPIRED")
        assert expired.eR == "OCO_TRIGGER"
        assert {"ExecutionReport", "OutboundAccountPosition", "ListStatus"} <= set(names())
        unsub = (await conn.user_data_stream_unsubscribe(subscription_id=0)).data()
        assert unsub.status == 200
        # The SDK forgets the subscription's callbacks on its side; the venue's closing event
        # still arrives on the connection (the SDK logs it as an unrouted message).
        assert venue.context.ws_api.subscriptions(venue.api_key) == 0
    finally:
        await client.websocket_api.close_connection()
    assert sdk_warnings() == []


async def test_ws_api_orders_via_subscribe_signature(
    venue: Venue, sdk_warnings: Callable[[], list[str]]
) -> None:
    client = Spot(
        config_ws_api=ConfigurationWebSocketAPI(
            api_key=venue.api_key, api_secret=venue.api_secret, stream_url=venue.spot_ws_api_url
        )
    )
    conn = await client.websocket_api.create_connection()
    try:
        sub = await conn.user_data_stream_subscribe_signature()
        events: list[Any] = []
        sub.stream.on("message", lambda m: events.append(inner(m)))
        assert (await conn.ping()).data().status == 200
        assert (await conn.time()).data().result.server_time > 0
        # The SDK types the WS exchangeInfo answer with its REST model, so the envelope's
        # ``result`` lands in additional_properties (an SDK quirk; Binance's frame is the same).
        info = (await conn.exchange_info(symbol=SYMBOL)).data()
        assert info.additional_properties["result"]["symbols"][0]["symbol"] == SYMBOL
        placed = (await conn.order_place(symbol=SYMBOL, side="SELL", type="STOP_LOSS", quantity="0.01",
                                         stop_price="60000")).data()  # fmt: skip
        assert isinstance(placed, OrderPlaceResponse) and placed.status == 200
        oid = placed.result.order_id
        assert (await conn.order_status(symbol=SYMBOL, order_id=oid)).data().result.status == "NEW"
        assert len((await conn.open_orders_status(symbol=SYMBOL)).data().result) == 1
        cancelled = (await conn.order_cancel(symbol=SYMBOL, order_id=oid)).data()
        assert cancelled.result.status == "CANCELED"
        oco = (await conn.order_list_place_oco(symbol=SYMBOL, side="SELL", quantity="0.01",
                                               above_type="LIMIT_MAKER", above_price="66000",
                                               below_type="STOP_LOSS", below_stop_price="63000")).data()  # fmt: skip
        assert isinstance(oco, OrderListPlaceOcoResponse)
        list_id = oco.result.order_list_id
        assert (
            await conn.order_list_status(order_list_id=list_id)
        ).data().result.contingency_type == "OCO"
        assert len((await conn.open_order_lists_status()).data().result) == 1
        done = (await conn.order_list_cancel(symbol=SYMBOL, order_list_id=list_id)).data()
        assert done.result.list_order_status == "ALL_DONE"
        oto = (await conn.order_list_place_oto(symbol=SYMBOL, working_type="LIMIT", working_side="BUY",
                                               working_price="64000", working_quantity="0.01",
                                               working_time_in_force="GTC", pending_type="STOP_LOSS",
                                               pending_side="SELL", pending_quantity="0.01",
                                               pending_stop_price="63000")).data()  # fmt: skip
        assert oto.result.contingency_type == "OTO"
        otoco = (await conn.order_list_place_otoco(symbol=SYMBOL, working_type="LIMIT", working_side="BUY",
                                                   working_price="64000", working_quantity="0.01",
                                                   working_time_in_force="GTC", pending_side="SELL",
                                                   pending_quantity="0.01", pending_above_type="LIMIT_MAKER",
                                                   pending_above_price="67000", pending_below_type="STOP_LOSS",
                                                   pending_below_stop_price="63000")).data()  # fmt: skip
        assert len(otoco.result.orders) == 3
        account = (await conn.account_status(omit_zero_balances=True)).data()
        assert isinstance(account, AccountStatusResponse) and account.result.account_type == "SPOT"
        venue.set_spot_price(SYMBOL, Decimal("64000"))  # both entries fill; the exits go live
        await wait_until(lambda: sum(1 for e in events if type(e).__name__ == "ListStatus") >= 6)
        assert sdk_warnings() == []
    finally:
        await client.websocket_api.close_connection()


async def test_market_streams_and_deprecated_listen_key(
    venue: Venue, sdk_warnings: Callable[[], list[str]]
) -> None:
    # The Spot SDK has no listen-key methods (and its generic send_request fails on SDK 13.2:
    # "'function' object is not subscriptable"), so the deprecated key is made over plain HTTP.
    async with (
        aiohttp.ClientSession() as s,
        s.post(
            f"{venue.rest_url}/api/v3/userDataStream", headers={"X-MBX-APIKEY": venue.api_key}
        ) as resp,
    ):
        key = (await resp.json())["listenKey"]
    streams = Spot(
        config_ws_streams=ConfigurationWebSocketStreams(stream_url=venue.spot_ws_streams_url)
    )
    conn = await streams.websocket_streams.create_connection()
    try:
        got: list[Any] = []
        for handle in (
            await conn.trade(symbol="btcusdt"),
            await conn.agg_trade(symbol="btcusdt"),
            await conn.book_ticker(symbol="btcusdt"),
            await conn.user_data(key),
        ):
            handle.on("message", lambda m: got.append(inner(m)))
        await wait_until(lambda: venue.context.spot_hub.market_subscribers("btcusdt@trade") == 1)
        await wait_until(lambda: venue.context.spot_hub.user_subscribers(venue.api_key) == 1)
        venue.set_spot_price(SYMBOL, Decimal("64100"), Decimal("0.5"))
        await sdk(lambda: rest(venue).new_order(symbol=SYMBOL, side="SELL", type="LIMIT", quantity="0.01",
                                                price="70000", time_in_force="GTC"))  # fmt: skip
        want = {"TradeResponse", "AggTradeResponse", "BookTickerResponse", "ExecutionReport"}
        await wait_until(lambda: want <= {type(m).__name__ for m in got})
        trade = next(m for m in got if type(m).__name__ == "TradeResponse")
        assert (trade.p, trade.q) == ("64100.00000000", "0.50000000")
    finally:
        await streams.websocket_streams.close_connection()
    assert sdk_warnings() == []
