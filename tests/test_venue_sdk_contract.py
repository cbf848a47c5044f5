"""Contract tests: the official Binance USD-M SDK against the paper venue.

The SDK's REST client is synchronous (``requests``) and signs with the wall clock, so the venue
runs on a real-time clock and every REST call goes through ``asyncio.to_thread``. Prices move
only through the control API / ``Venue.set_price`` (no feed). Servers bind 127.0.0.1 port 0;
every wait is bounded.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any, TypeVar

import aiohttp
import pytest
from binance_common.configuration import ConfigurationRestAPI, ConfigurationWebSocketStreams
from binance_common.errors import (
    BadRequestError,
    ServerError,
    TooManyRequestsError,
    UnauthorizedError,
)
from binance_sdk_derivatives_trading_usds_futures.derivatives_trading_usds_futures import (
    DerivativesTradingUsdsFutures,
)
from binance_sdk_derivatives_trading_usds_futures.rest_api.models import (
    NewAlgoOrderAlgoTypeEnum,
    NewAlgoOrderSideEnum,
    NewAlgoOrderTimeInForceEnum,
    NewAlgoOrderTypeEnum,
    NewOrderSideEnum,
    NewOrderTypeEnum,
)

from exitguard.venue.clock import RealtimeClock
from exitguard.venue.server import Venue

T = TypeVar("T")
SYMBOL = "BTCUSDT"


@pytest.fixture
async def venue() -> AsyncIterator[Venue]:
    async with Venue(clock=RealtimeClock(), feed=None) as v:
        yield v


def rest_client(v: Venue, *, api_key: str | None = None) -> Any:
    cfg = ConfigurationRestAPI(
        api_key=api_key or v.api_key,
        api_secret=v.api_secret,
        base_path=v.rest_url,
        timeout=10_000,
        retries=0,
    )
    return DerivativesTradingUsdsFutures(config_rest_api=cfg).rest_api


async def sdk(fn: Callable[[], T]) -> T:
    return await asyncio.wait_for(asyncio.to_thread(fn), timeout=15)


def get(obj: Any, name: str) -> Any:
    """A field of an SDK model (snake_case attribute) or of the raw dict fallback (camelCase)."""
    if isinstance(obj, dict):
        parts = name.split("_")
        return obj[parts[0] + "".join(p.title() for p in parts[1:])]
    inner = getattr(obj, "actual_instance", None)
    if inner is not None and not hasattr(obj, name):
        return get(inner, name)
    return getattr(obj, name)


@pytest.fixture
def sdk_warnings(caplog: pytest.LogCaptureFixture) -> Callable[[], list[str]]:
    """SDK log lines saying a venue response did not fit the SDK's models."""
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


async def test_public_endpoints(venue: Venue, sdk_warnings: Callable[[], list[str]]) -> None:
    r = rest_client(venue)
    assert (await sdk(r.test_connectivity)).data() == {}
    server_time = get((await sdk(r.check_server_time)).data(), "server_time")
    assert abs(server_time - time.time() * 1000) < 5_000
    info_resp = await sdk(r.exchange_information)
    info = info_resp.data()
    symbols = [get(s, "symbol") for s in get(info, "symbols")]
    assert SYMBOL in symbols
    assert any(rl.rateLimitType == "REQUEST_WEIGHT" for rl in info_resp.rate_limits)
    mark = (await sdk(lambda: r.mark_price(symbol=SYMBOL))).data()
    assert get(mark, "symbol") == SYMBOL
    assert Decimal(get(mark, "mark_price")) > 0
    # exchangeInfo: the bundled fixture carries multiplierDecimal as an int in one symbol (Binance
    # itself mixes int and string); the SDK relaxes its strict model and parses. Nothing else
    # may trip the SDK's models.
    assert [w for w in sdk_warnings() if "multiplierDecimal" not in w] == []


async def test_new_order_market_and_4120_for_stop_market(
    venue: Venue, sdk_warnings: Callable[[], list[str]]
) -> None:
    r = rest_client(venue)
    resp = await sdk(
        lambda: r.new_order(
            symbol=SYMBOL, side=NewOrderSideEnum.BUY, type=NewOrderTypeEnum.MARKET, quantity="0.01"
        )
    )
    order = resp.data()
    assert get(order, "status") == "FILLED"
    assert get(order, "executed_qty") == "0.01"
    assert {rl.rateLimitType for rl in resp.rate_limits} == {"REQUEST_WEIGHT", "ORDERS"}
    with pytest.raises(BadRequestError) as e:
        await sdk(
            lambda: r.new_order(
                symbol=SYMBOL,
                side=NewOrderSideEnum.SELL,
                type=NewOrderTypeEnum.STOP_MARKET,
                quantity="0.01",  # SDK 18 new_order has no stop_price parameter any more
            )
        )
    # The SDK puts Binance's code in ``status_code`` and the text in ``error_message``.
    assert e.value.status_code == -4120
    assert e.value.error_message
    assert sdk_warnings() == []


ALGO_TYPES: list[dict[str, Any]] = [
    {"type": NewAlgoOrderTypeEnum.STOP_MARKET, "trigger_price": "64000"},
    {"type": NewAlgoOrderTypeEnum.TAKE_PROFIT_MARKET, "trigger_price": "66000"},
    {
        "type": NewAlgoOrderTypeEnum.STOP,
        "trigger_price": "64000",
        "price": "63900",
        "time_in_force": NewAlgoOrderTimeInForceEnum.GTC,
    },
    {
        "type": NewAlgoOrderTypeEnum.TAKE_PROFIT,
        "trigger_price": "66000",
        "price": "66100",
        "time_in_force": NewAlgoOrderTimeInForceEnum.GTC,
    },
    {"type": NewAlgoOrderTypeEnum.TRAILING_STOP_MARKET, "callback_rate": "1"},
]


async def test_algo_orders_all_five_types_query_list_cancel(
    venue: Venue, sdk_warnings: Callable[[], list[str]]
) -> None:
    r = rest_client(venue)
    await sdk(
        lambda: r.new_order(
            symbol=SYMBOL, side=NewOrderSideEnum.BUY, type=NewOrderTypeEnum.MARKET, quantity="0.05"
        )
    )
    placed = []
    for n, kw in enumerate(ALGO_TYPES):
        resp = await sdk(
            lambda kw=kw, n=n: r.new_algo_order(
                algo_type=NewAlgoOrderAlgoTypeEnum.CONDITIONAL,
                symbol=SYMBOL,
                side=NewAlgoOrderSideEnum.SELL,
                quantity="0.01",
                client_algo_id=f"sdk-exit-{n}",
                **kw,
            )
        )
        algo = resp.data()
        assert get(algo, "algo_status") == "NEW", algo
        assert get(algo, "order_type") == kw["type"].value
        assert get(algo, "client_algo_id") == f"sdk-exit-{n}"
        placed.append(algo)
    first_id = get(placed[0], "algo_id")
    queried = (await sdk(lambda: r.query_algo_order(algo_id=first_id))).data()
    assert get(queried, "algo_id") == first_id
    assert get(queried, "algo_status") == "NEW"
    by_client = (await sdk(lambda: r.query_algo_order(client_algo_id="sdk-exit-1"))).data()
    assert get(by_client, "algo_id") == get(placed[1], "algo_id")
    open_orders = (await sdk(lambda: r.current_all_algo_open_orders(symbol=SYMBOL))).data()
    assert len(open_orders) == 5
    cancelled = (await sdk(lambda: r.cancel_algo_order(algo_id=first_id))).data()
    assert get(cancelled, "algo_id") == first_id
    cancelled = (await sdk(lambda: r.cancel_algo_order(client_algo_id="sdk-exit-4"))).data()
    assert get(cancelled, "client_algo_id") == "sdk-exit-4"
    open_orders = (await sdk(lambda: r.current_all_algo_open_orders(symbol=SYMBOL))).data()
    assert len(open_orders) == 3
    gone = (await sdk(lambda: r.query_algo_order(algo_id=first_id))).data()
    assert get(gone, "algo_status") == "CANCELED"
    assert sdk_warnings() == []


async def test_listen_key_lifecycle(venue: Venue, sdk_warnings: Callable[[], list[str]]) -> None:
    r = rest_client(venue)
    key = get((await sdk(r.start_user_data_stream)).data(), "listen_key")
    assert key
    again = get((await sdk(r.start_user_data_stream)).data(), "listen_key")
    assert again == key  # an active key is returned again (and extended)
    kept = (await sdk(r.keepalive_user_data_stream)).data()
    assert get(kept, "listen_key") == key
    await sdk(r.close_user_data_stream)
    with pytest.raises(BadRequestError) as e:
        await sdk(r.keepalive_user_data_stream)
    assert e.value.status_code == -1125
    assert sdk_warnings() == []


async def test_sdk_error_types(venue: Venue) -> None:
    bad = rest_client(venue, api_key="nobody" * 8)
    with pytest.raises(UnauthorizedError) as e:
        await sdk(lambda: bad.position_information_v3(symbol=SYMBOL))
    assert e.value.status_code == -2015
    r = rest_client(venue)
    async with aiohttp.ClientSession() as s:
        async with s.post(f"{venue.rest_url}/_venue/faults", json={"status_429": 1}) as resp:
            assert resp.status == 200
        with pytest.raises(TooManyRequestsError) as e429:
            await sdk(r.test_connectivity)
        assert e429.value.status_code == -1003
        assert e429.value.retry_after == 1
        lost = {"path": "/fapi/v1/order", "status": 503, "code": -1007}
        async with s.post(f"{venue.rest_url}/_venue/faults", json={"lose_response": lost}) as resp:
            assert resp.status == 200
    with pytest.raises(ServerError):
        await sdk(
            lambda: r.new_order(
                symbol=SYMBOL,
                side=NewOrderSideEnum.BUY,
                type=NewOrderTypeEnum.MARKET,
                quantity="0.01",
            )
        )
    # The "lost" order was executed all the same.
    positions = (await sdk(lambda: r.position_information_v3(symbol=SYMBOL))).data()
    assert [get(p, "position_amt") for p in positions] == ["0.01"]


async def wait_for(pred: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


def event_of(msg: Any) -> Any:
    """The concrete event inside the SDK's one-of wrapper (a model, or a raw dict)."""
    inner = getattr(msg, "actual_instance", msg)
    return inner


def event_type(ev: Any) -> str | None:
    """``e`` of a raw event; for a parsed model, its class name (``AlgoUpdate`` → ALGO_UPDATE):
    the SDK's models drop the ``e`` field."""
    if isinstance(ev, dict):
        return ev.get("e")
    return re.sub(r"(?<!^)([A-Z])", r"_\1", type(ev).__name__).upper()


async def test_algo_update_through_the_sdk_stream_client(
    venue: Venue, sdk_warnings: Callable[[], list[str]]
) -> None:
    r = rest_client(venue)
    await sdk(
        lambda: r.new_order(
            symbol=SYMBOL, side=NewOrderSideEnum.BUY, type=NewOrderTypeEnum.MARKET, quantity="0.01"
        )
    )
    key = get((await sdk(r.start_user_data_stream)).data(), "listen_key")
    client = DerivativesTradingUsdsFutures(
        config_ws_streams=ConfigurationWebSocketStreams(stream_url=venue.ws_streams_url)
    )
    conn = await asyncio.wait_for(client.websocket_streams.create_connection(), timeout=10)
    user_events: list[Any] = []
    marks: list[Any] = []
    try:
        stream = await asyncio.wait_for(conn.user_data(key), timeout=10)
        stream.on("message", user_events.append)
        # update_speed as the string "1s": the SDK formats its own enum into the stream name as
        # "@MarkPriceStreamUpdateSpeedEnum.UPDATE_SPEED_1s" (an SDK bug real Binance would
        # ignore too).
        mark_stream = await asyncio.wait_for(
            conn.mark_price_stream(symbol=SYMBOL, update_speed="1s"), timeout=10
        )
        mark_stream.on("message", marks.append)
        hub = venue.context.hub
        await wait_for(
            lambda: (
                hub.user_subscribers(venue.api_key) == 1
                and hub.market_subscribers("btcusdt@markPrice@1s") == 1
            )
        )
        algo = (
            await sdk(
                lambda: r.new_algo_order(
                    algo_type=NewAlgoOrderAlgoTypeEnum.CONDITIONAL,
                    symbol=SYMBOL,
                    side=NewAlgoOrderSideEnum.SELL,
                    type=NewAlgoOrderTypeEnum.STOP_MARKET,
                    trigger_price="64000",
                    quantity="0.01",
                    client_algo_id="sdk-stop",
                )
            )
        ).data()
        algo_id = get(algo, "algo_id")
        async with (
            aiohttp.ClientSession() as s,
            s.post(
                f"{venue.rest_url}/_venue/price",
                json={"symbol": SYMBOL, "last": "63900", "mark": "63905"},
            ) as resp,
        ):
            assert resp.status == 200

        def algo_statuses() -> list[str]:
            out = []
            for msg in user_events:
                ev = event_of(msg)
                if event_type(ev) == "ALGO_UPDATE":
                    o = ev["o"] if isinstance(ev, dict) else ev.o
                    o_id = o["aid"] if isinstance(o, dict) else o.aid
                    status = o["X"] if isinstance(o, dict) else o.X
                    if o_id == algo_id:
                        out.append(status)
            return out

        await wait_for(lambda: "TRIGGERED" in algo_statuses() and len(marks) >= 1)
        assert algo_statuses()[0] == "NEW"
        assert "TRIGGERING" in algo_statuses()
        await wait_for(lambda: "FINISHED" in algo_statuses())
        types = {event_type(event_of(m)) for m in user_events}
        assert {"ALGO_UPDATE", "ORDER_TRADE_UPDATE", "ACCOUNT_UPDATE"} <= types
        mark = marks[-1]
        assert (mark.p if not isinstance(mark, dict) else mark["p"]) == "63905"
    finally:
        await asyncio.wait_for(conn.close_connection(), timeout=10)
    assert sdk_warnings() == []


async def test_sdk_retries_a_lost_delete_response(venue: Venue) -> None:
    """The SDK retries GET/DELETE on 500/502/503/504 (``should_retry_request``): a cancel whose
    503 response was lost is sent again, and the retry meets the already-cancelled order."""
    cfg = ConfigurationRestAPI(
        api_key=venue.api_key,
        api_secret=venue.api_secret,
        base_path=venue.rest_url,
        timeout=10_000,
        retries=1,
        backoff=10,
    )
    r = DerivativesTradingUsdsFutures(config_rest_api=cfg).rest_api
    await sdk(
        lambda: r.new_algo_order(
            algo_type=NewAlgoOrderAlgoTypeEnum.CONDITIONAL,
            symbol=SYMBOL,
            side=NewAlgoOrderSideEnum.SELL,
            type=NewAlgoOrderTypeEnum.STOP_MARKET,
            trigger_price="60000",
            quantity="0.01",
            client_algo_id="retry-me",
        )
    )
    lost = {"path": "/fapi/v1/algoOrder", "method": "DELETE", "status": 503, "code": -1007}
    async with (
        aiohttp.ClientSession() as s,
        s.post(f"{venue.rest_url}/_venue/faults", json={"lose_response": lost}) as resp,
    ):
        assert resp.status == 200
    with pytest.raises(BadRequestError) as e:
        await sdk(lambda: r.cancel_algo_order(client_algo_id="retry-me"))
    assert e.value.status_code == -2011  # "Unknown order sent." on the retried cancel
    state = (await sdk(lambda: r.query_algo_order(client_algo_id="retry-me"))).data()
    assert get(state, "algo_status") == "CANCELED"


async def test_every_remaining_endpoint_through_the_sdk(
    venue: Venue, sdk_warnings: Callable[[], list[str]]
) -> None:
    """The USD-M REST list (src/exitguard/venue/usdm/interface.md), endpoint by endpoint, driven
    by the official SDK's own methods."""
    from binance_sdk_derivatives_trading_usds_futures.rest_api.models import (
        PlaceMultipleOrdersBatchOrdersParameterInner,
    )

    api = rest_client(venue)
    # Market data.
    assert (await sdk(lambda: api.test_connectivity())).status == 200
    assert get((await sdk(lambda: api.check_server_time())).data(), "server_time") > 0
    info = (await sdk(lambda: api.exchange_information())).data()
    assert SYMBOL in {get(s, "symbol") for s in get(info, "symbols")}
    price = (await sdk(lambda: api.symbol_price_ticker(symbol=SYMBOL))).data()
    assert Decimal(get(price, "price")) == Decimal("65000")
    book = (await sdk(lambda: api.symbol_order_book_ticker(symbol=SYMBOL))).data()
    assert Decimal(get(book, "bid_price")) < Decimal(get(book, "ask_price"))
    depth = (await sdk(lambda: api.order_book(symbol=SYMBOL, limit=5))).data()
    assert len(get(depth, "bids")) == 5 and len(get(depth, "asks")) == 5
    # Account: position mode, leverage, balances, positions.
    mode = (await sdk(lambda: api.get_current_position_mode())).data()
    assert get(mode, "dual_side_position") is False
    changed = (await sdk(lambda: api.change_position_mode(dual_side_position="true"))).data()
    assert get(changed, "code") == 200
    await sdk(lambda: api.change_position_mode(dual_side_position="false"))
    lev = (await sdk(lambda: api.change_initial_leverage(symbol=SYMBOL, leverage=10))).data()
    assert get(lev, "leverage") == 10
    balances = (await sdk(lambda: api.futures_account_balance_v3())).data()
    assert Decimal(get(balances[0], "balance")) == venue.usdt_balance
    account = (await sdk(lambda: api.account_information_v3())).data()
    assert Decimal(get(account, "total_wallet_balance")) == venue.usdt_balance
    # Regular orders: place (single and batch), query, list, cancel, cancel all, history, trades.
    limit = (
        await sdk(
            lambda: api.new_order(
                symbol=SYMBOL,
                side=NewOrderSideEnum.BUY,
                type=NewOrderTypeEnum.LIMIT,
                time_in_force="GTC",
                quantity="0.010",
                price="60000.0",
            )
        )
    ).data()
    order_id = get(limit, "order_id")
    queried = (await sdk(lambda: api.query_order(symbol=SYMBOL, order_id=order_id))).data()
    assert get(queried, "status") == "NEW"
    batch = [
        PlaceMultipleOrdersBatchOrdersParameterInner(
            symbol=SYMBOL,
            side="BUY",
            type="LIMIT",
            time_in_force="GTC",
            quantity=0.01,  # the SDK batch model takes only floats; it sends JSON numbers
            price=59000.0,
        )
    ]
    placed = (await sdk(lambda: api.place_multiple_orders(batch_orders=batch))).data()
    assert len(placed) == 1
    open_orders = (await sdk(lambda: api.current_all_open_orders(symbol=SYMBOL))).data()
    assert len(open_orders) == 2
    cancelled = (await sdk(lambda: api.cancel_order(symbol=SYMBOL, order_id=order_id))).data()
    assert get(cancelled, "status") == "CANCELED"
    done = (await sdk(lambda: api.cancel_all_open_orders(symbol=SYMBOL))).data()
    assert get(done, "code") == 200
    assert (await sdk(lambda: api.current_all_open_orders(symbol=SYMBOL))).data() == []
    history = (await sdk(lambda: api.all_orders(symbol=SYMBOL))).data()
    assert {get(o, "status") for o in history} == {"CANCELED"}
    await sdk(
        lambda: api.new_order(
            symbol=SYMBOL,
            side=NewOrderSideEnum.BUY,
            type=NewOrderTypeEnum.MARKET,
            quantity="0.010",
        )
    )
    trades = (await sdk(lambda: api.account_trade_list(symbol=SYMBOL))).data()
    assert len(trades) >= 1 and get(trades[-1], "buyer") is True
    positions = (await sdk(lambda: api.position_information_v3(symbol=SYMBOL))).data()
    assert Decimal(get(positions[0], "position_amt")) == Decimal("0.010")
    # Algo history and cancel-all.
    await sdk(
        lambda: api.new_algo_order(
            algo_type=NewAlgoOrderAlgoTypeEnum.CONDITIONAL,
            symbol=SYMBOL,
            side=NewAlgoOrderSideEnum.SELL,
            type=NewAlgoOrderTypeEnum.STOP_MARKET,
            trigger_price="60000.0",
            close_position="true",
        )
    )
    all_algo = (await sdk(lambda: api.query_all_algo_orders(symbol=SYMBOL))).data()
    assert [get(a, "algo_status") for a in all_algo] == ["NEW"]
    await sdk(lambda: api.cancel_all_algo_open_orders(symbol=SYMBOL))
    assert (await sdk(lambda: api.current_all_algo_open_orders(symbol=SYMBOL))).data() == []
    assert sdk_warnings() == []
