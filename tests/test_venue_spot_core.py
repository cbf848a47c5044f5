"""Scenario tests of the Spot venue core on a stepped clock: stop types and directions,
immediate-trigger refusals, balances and fees, order types, cancelReplace, listen keys."""

from __future__ import annotations

import pytest

from exitguard.venue.errors import VenueError
from exitguard.venue.spot import SpotFees
from spot_venue_helpers import (
    EXECUTION_REPORT_KEYS,
    SYMBOL,
    D,
    Spot,
    expect_error,
    make_spot,
    spot_info,
)


@pytest.fixture
def s() -> Spot:
    return make_spot()


# -- stops: each type and direction -------------------------------------------------------------

# (type, side, stopPrice, a price that does not fire, the price that fires — equality)
STOPS = [
    ("STOP_LOSS", "SELL", "64000.00", "64000.01", "64000.00"),
    ("STOP_LOSS", "BUY", "66000.00", "65999.99", "66000.00"),
    ("TAKE_PROFIT", "SELL", "66000.00", "65999.99", "66000.00"),
    ("TAKE_PROFIT", "BUY", "64000.00", "64000.01", "64000.00"),
]


@pytest.mark.parametrize(("type_", "side", "stop", "quiet", "fire"), STOPS)
def test_market_stop_fires_on_the_last_trade_with_equality(
    s: Spot, type_: str, side: str, stop: str, quiet: str, fire: str
) -> None:
    placed = s.place(side=side, type=type_, quantity="0.10000", stopPrice=stop)
    oid = placed["orderId"]
    assert set(placed) == {"symbol", "orderId", "orderListId", "clientOrderId", "transactTime"}
    s.trade(quiet)
    assert s.flow(oid) == [("NEW", "NEW")]
    assert s.x.query_order(s.acct, {"symbol": SYMBOL, "orderId": str(oid)})["workingTime"] == -1
    s.trade(fire)
    assert s.flow(oid) == [("NEW", "NEW"), ("TRADE", "FILLED")]
    trade = s.reports(oid)[-1]
    assert trade["W"] == s.clock.t and trade["w"] is False and trade["N"] == "USDT"
    # A market stop executes against the book: one tick away from the trigger trade.
    tick = D("0.01")
    expected = D(fire) - tick if side == "SELL" else D(fire) + tick
    assert D(trade["L"]) == expected
    q = s.x.query_order(s.acct, {"symbol": SYMBOL, "orderId": str(oid)})
    assert (q["status"], q["type"], q["stopPrice"]) == ("FILLED", type_, f"{D(stop):.8f}")


@pytest.mark.parametrize(("type_", "side", "stop", "quiet", "fire"), STOPS)
def test_stop_on_the_wrong_side_or_at_the_market_would_trigger_immediately(
    s: Spot, type_: str, side: str, stop: str, quiet: str, fire: str
) -> None:
    # The mirror image of a valid stop around the last trade (65,000), and the last trade itself:
    # equality counts, so a stop exactly at the market is refused too.
    for stop_price in (str(D(130_000) - D(stop)), "65000.00"):
        expect_error(
            lambda sp=stop_price: s.place(side=side, type=type_, quantity="0.10000", stopPrice=sp),
            -2010,
            "Order would trigger immediately.",
        )
    assert s.x.orders == {} and s.events == []


@pytest.mark.parametrize("side", ["SELL", "BUY"])
def test_stop_loss_limit_triggers_then_rests_then_fills(s: Spot, side: str) -> None:
    sell = side == "SELL"
    stop, limit = ("64000.00", "64100.00") if sell else ("66000.00", "65900.00")
    placed = s.place(
        side=side,
        type="STOP_LOSS_LIMIT",
        quantity="0.10000",
        stopPrice=stop,
        price=limit,
        timeInForce="GTC",
    )
    oid = placed["orderId"]
    s.trade(stop)  # triggers; the limit is on the far side of the book: it rests
    assert s.flow(oid) == [("NEW", "NEW"), ("NEW", "NEW")]
    working = s.reports(oid)[-1]
    assert working["w"] is True and working["W"] == s.clock.t
    q = s.x.query_order(s.acct, {"symbol": SYMBOL, "orderId": str(oid)})
    assert q["isWorking"] is True and q["workingTime"] == s.clock.t
    s.trade(limit)  # a trade at the limit fills the resting order as maker, at its price
    assert s.flow(oid)[-1] == ("TRADE", "FILLED")
    assert s.reports(oid)[-1]["L"] == f"{D(limit):.8f}" and s.reports(oid)[-1]["m"] is True


def test_take_profit_limit_triggers_and_takes_at_once(s: Spot) -> None:
    placed = s.place(
        side="SELL",
        type="TAKE_PROFIT_LIMIT",
        quantity="0.10000",
        stopPrice="66000.00",
        price="65900.00",
        timeInForce="GTC",
    )
    s.trade("66000.00")  # triggered; 65,900 <= bid 65,999.99: marketable, fills as taker
    assert s.flow(placed["orderId"]) == [("NEW", "NEW"), ("NEW", "NEW"), ("TRADE", "FILLED")]
    assert s.reports(placed["orderId"])[-1]["L"] == "65999.99000000"


def test_execution_report_carries_every_key_of_the_reference(s: Spot) -> None:
    s.place(side="SELL", type="STOP_LOSS", quantity="0.10000", stopPrice="64000")
    s.trade("63000")
    for report in s.reports():
        assert set(report) >= EXECUTION_REPORT_KEYS, EXECUTION_REPORT_KEYS - set(report)
        assert report["g"] == -1 and report["v"] == -1
    new, trade = s.reports()
    assert (new["t"], new["N"], new["n"], new["W"]) == (-1, None, "0", -1)
    assert trade["t"] > 0 and trade["n"] != "0" and trade["Y"] == trade["Z"]


# -- balances and fees -------------------------------------------------------------------------


def test_placing_locks_and_cancelling_releases(s: Spot) -> None:
    s.place(side="SELL", type="LIMIT", quantity="0.50000", price="70000", timeInForce="GTC")
    assert s.balance("BTC") == (D("1.5"), D("0.5"))
    buy = s.place(side="BUY", type="LIMIT", quantity="0.10000", price="60000", timeInForce="GTC")
    # BUY locks price x qty plus the highest fee rate (0.1 %): 6,000 + 6.
    assert s.balance("USDT") == (D("93994"), D("6006"))
    positions = [e for e in s.events if e["e"] == "outboundAccountPosition"]
    assert positions[-1]["B"] == [{"a": "USDT", "f": "93994.00000000", "l": "6006.00000000"}]
    s.x.cancel_order(s.acct, {"symbol": SYMBOL, "orderId": str(buy["orderId"])})
    assert s.balance("USDT") == (D("100000"), D("0"))
    cancel = s.reports(buy["orderId"])[-1]
    assert (cancel["x"], cancel["X"], cancel["C"]) == ("CANCELED", "CANCELED", buy["clientOrderId"])


def test_insufficient_balance_is_binances_2010(s: Spot) -> None:
    msg = "Account has insufficient balance for requested action."
    expect_error(
        lambda: s.place(side="SELL", type="LIMIT", quantity="3", price="70000", timeInForce="GTC"),
        -2010,
        msg,
    )
    expect_error(
        lambda: s.place(side="BUY", type="MARKET", quantity="2"), -2010, msg
    )  # 2 BTC at 65,000 > 100,000 USDT
    expect_error(
        lambda: s.place(side="SELL", type="STOP_LOSS", quantity="2.5", stopPrice="60000"),
        -2010,
        msg,
    )
    assert s.events == [] and s.balance("BTC") == (D(2), D(0))


def test_fees_are_charged_in_the_quote_asset_at_the_configured_rate() -> None:
    s = make_spot(fees=SpotFees(maker=D("0.002"), taker=D("0.004")))
    s.place(side="SELL", type="MARKET", quantity="0.5")  # taker at the bid, 64,999.99
    assert s.balance("USDT")[0] == D(100_000) + D("32499.995") - D("129.99998")
    placed = s.place(side="SELL", type="LIMIT", quantity="0.5", price="66000", timeInForce="GTC")
    s.trade("66000")  # maker
    fill = s.reports(placed["orderId"])[-1]
    assert (fill["n"], fill["N"], fill["m"]) == ("66.00000000", "USDT", True)
    trades = s.x.my_trades(s.acct, {"symbol": SYMBOL})
    assert [t["commission"] for t in trades] == ["129.99998000", "66.00000000"]
    assert s.balance("BTC") == (D(1), D(0))


def test_market_quote_order_qty_buy_and_sell(s: Spot) -> None:
    buy = s.place(side="BUY", type="MARKET", quoteOrderQty="650.01")
    assert buy["status"] == "FILLED" and buy["executedQty"] == "0.01000000"
    assert buy["origQuoteOrderQty"] == "650.01000000"
    sell = s.place(side="SELL", type="MARKET", quoteOrderQty="1300")
    assert sell["status"] == "FILLED" and sell["executedQty"] == "0.02000000"


def test_limit_maker_that_would_take_is_refused(s: Spot) -> None:
    expect_error(
        lambda: s.place(side="BUY", type="LIMIT_MAKER", quantity="0.1", price="65000.01"),
        -2010,
        "Order would immediately match and take.",
    )
    ok = s.place(side="BUY", type="LIMIT_MAKER", quantity="0.1", price="65000.00")
    assert s.status(ok["orderId"]) == "NEW"


def test_limit_ioc_and_fok(s: Spot) -> None:
    ioc = s.place(side="BUY", type="LIMIT", quantity="0.1", price="64000", timeInForce="IOC")
    assert ioc["status"] == "EXPIRED" and ioc["expiryReason"] == "UNFILLED_IOC_QUANTITY_EXPIRED"
    # Level 0 of the synthetic book (65,000.01) holds 0.76923 BTC, less than the FOK's 1.
    fok = s.place(side="BUY", type="LIMIT", quantity="1", price="65000.01", timeInForce="FOK")
    assert fok["status"] == "EXPIRED" and fok["expiryReason"] == "UNFILLED_FOK_ORDER_EXPIRED"
    assert s.balance("USDT") == (D(100_000), D(0))


def test_duplicate_client_order_id_until_the_first_is_done(s: Spot) -> None:
    params = {"side": "SELL", "type": "LIMIT", "quantity": "0.1", "price": "70000"}
    s.place(timeInForce="GTC", newClientOrderId="dup", **params)
    expect_error(
        lambda: s.place(timeInForce="GTC", newClientOrderId="dup", **params),
        -2010,
        "Duplicate order sent.",
    )
    s.x.cancel_order(s.acct, {"symbol": SYMBOL, "origClientOrderId": "dup"})
    assert s.place(timeInForce="GTC", newClientOrderId="dup", **params)["status"] == "NEW"


def test_filter_failures_use_binances_texts(s: Spot) -> None:
    cases = [
        ({"quantity": "0.000001", "price": "70000"}, -1013, "Filter failure: LOT_SIZE"),
        ({"quantity": "0.1", "price": "70000.001"}, -1013, "Filter failure: PRICE_FILTER"),
        ({"quantity": "0.00001", "price": "70000"}, -1013, "Filter failure: NOTIONAL"),
        ({"quantity": "0.1", "price": "400000"}, -1013, "Filter failure: PERCENT_PRICE_BY_SIDE"),
        (
            {"quantity": "0.1"},
            -1102,
            "Mandatory parameter 'price' was not sent, was empty/null, or malformed.",
        ),
    ]
    for extra, code, msg in cases:
        expect_error(
            lambda e=extra: s.place(side="SELL", type="LIMIT", timeInForce="GTC", **e), code, msg
        )
    expect_error(
        lambda: s.place(
            side="SELL", type="STOP_LOSS", quantity="0.1", price="1", stopPrice="60000"
        ),
        -1106,
        "Parameter 'price' sent when not required.",
    )


def test_max_num_algo_orders_counts_untriggered_stops() -> None:
    s = make_spot(info=spot_info(maxNumAlgoOrders=2))
    for stop in ("60000", "61000"):
        s.place(side="SELL", type="STOP_LOSS", quantity="0.1", stopPrice=stop)
    expect_error(
        lambda: s.place(side="SELL", type="STOP_LOSS", quantity="0.1", stopPrice="62000"),
        -1013,
        "Filter failure: MAX_NUM_ALGO_ORDERS",
    )


# -- cancelReplace -----------------------------------------------------------------------------


def _replace(s: Spot, **params: str) -> dict:
    base = {"symbol": SYMBOL, "side": "SELL", "type": "LIMIT", "timeInForce": "GTC"}
    return s.x.cancel_replace(s.acct, {**base, **params})


def test_cancel_replace_success_and_failures(s: Spot) -> None:
    s.place(
        side="SELL",
        type="LIMIT",
        quantity="1",
        price="70000",
        timeInForce="GTC",
        newClientOrderId="a",
    )
    out = _replace(
        s,
        cancelReplaceMode="STOP_ON_FAILURE",
        cancelOrigClientOrderId="a",
        quantity="1",
        price="71000",
    )
    assert (out["cancelResult"], out["newOrderResult"]) == ("SUCCESS", "SUCCESS")
    assert out["cancelResponse"]["status"] == "CANCELED"
    assert out["newOrderResponse"]["price"] == "71000.00000000"
    assert s.balance("BTC") == (D(1), D(1))  # the lock moved from the old order to the new one
    # Cancel fails, STOP_ON_FAILURE: nothing else is tried.
    with pytest.raises(VenueError) as e:
        _replace(
            s,
            cancelReplaceMode="STOP_ON_FAILURE",
            cancelOrigClientOrderId="a",
            quantity="1",
            price="72000",
        )
    assert (e.value.code, e.value.http_status) == (-2022, 400)
    assert e.value.data == {
        "cancelResult": "FAILURE",
        "newOrderResult": "NOT_ATTEMPTED",
        "cancelResponse": {"code": -2011, "msg": "Unknown order sent."},
        "newOrderResponse": None,
    }
    # Cancel fails, ALLOW_FAILURE: the new order goes in anyway → 409 -2021.
    with pytest.raises(VenueError) as e:
        _replace(
            s, cancelReplaceMode="ALLOW_FAILURE", cancelOrderId="1", quantity="0.5", price="72000"
        )
    assert (e.value.code, e.value.http_status) == (-2021, 409)
    assert e.value.data is not None and e.value.data["newOrderResult"] == "SUCCESS"
    # Cancel works, the new order is refused by the matching engine → 409 -2021.
    current = next(o for o in s.x.open_orders_of(s.acct.api_key) if o.price == D(71000))
    with pytest.raises(VenueError) as e:
        _replace(
            s,
            type="STOP_LOSS",
            timeInForce="",
            cancelReplaceMode="STOP_ON_FAILURE",
            cancelOrderId=str(current.order_id),
            quantity="1",
            stopPrice="66000",
        )
    assert e.value.code == -2021 and e.value.data is not None
    assert e.value.data["cancelResult"] == "SUCCESS"
    assert e.value.data["newOrderResponse"] == {
        "code": -2010,
        "msg": "Order would trigger immediately.",
    }
    assert not current.open


def test_cancel_replace_api_level_failure_changes_nothing(s: Spot) -> None:
    s.place(
        side="SELL",
        type="LIMIT",
        quantity="1",
        price="70000",
        timeInForce="GTC",
        newClientOrderId="a",
    )
    expect_error(
        lambda: _replace(
            s,
            cancelReplaceMode="STOP_ON_FAILURE",
            cancelOrigClientOrderId="a",
            quantity="1",
            price="0.001",
        ),
        -1013,
    )
    assert s.x.orders[next(iter(s.x.orders))].status == "NEW"


# -- deprecated listen keys, balance moves -----------------------------------------------------


def test_listen_key_lifecycle_and_expiry(s: Spot) -> None:
    key = s.x.listen_key_create(s.acct, {})["listenKey"]
    assert s.x.listen_key_create(s.acct, {})["listenKey"] == key  # same key, extended
    assert s.x.account_by_listen_key(key) is s.acct
    assert s.x.listen_key_keepalive(s.acct, {"listenKey": key}) == {}
    s.clock.step(60 * 60 * 1000)
    s.x.tick_time()
    assert s.events[-1] == {"e": "listenKeyExpired", "E": s.clock.t, "listenKey": key}
    expect_error(lambda: s.x.listen_key_keepalive(s.acct, {"listenKey": key}), -1125)


def test_balance_update_event_and_account_endpoint(s: Spot) -> None:
    s.x.move_balance(s.acct, "ETH", D("1.5"))
    update, position = s.events[-2:]
    assert update == {
        "e": "balanceUpdate",
        "E": s.clock.t,
        "a": "ETH",
        "d": "1.50000000",
        "T": s.clock.t,
    }
    assert position["e"] == "outboundAccountPosition" and position["B"][0]["a"] == "ETH"
    balances = s.x.account(s.acct, {"omitZeroBalances": "true"})["balances"]
    assert {b["asset"] for b in balances} == {"BTC", "ETH", "USDT"}
    expect_error(lambda: s.x.move_balance(s.acct, "ETH", D("-2")), -2010)


def test_unknown_symbol_and_order(s: Spot) -> None:
    expect_error(lambda: s.x.new_order(s.acct, {"symbol": "NOPE"}), -1121, "Invalid symbol.")
    expect_error(
        lambda: s.x.query_order(s.acct, {"symbol": SYMBOL, "orderId": "1"}),
        -2013,
        "Order does not exist.",
    )
    expect_error(
        lambda: s.x.cancel_order(s.acct, {"symbol": SYMBOL, "orderId": "1"}),
        -2011,
        "Unknown order sent.",
    )


def test_open_and_history_queries(s: Spot) -> None:
    a = s.place(side="SELL", type="LIMIT", quantity="0.1", price="70000", timeInForce="GTC")
    s.place(side="SELL", type="MARKET", quantity="0.1")
    opened = s.x.open_orders(s.acct, {"symbol": SYMBOL})
    assert [o["orderId"] for o in opened] == [a["orderId"]]
    assert opened[0]["isWorking"] is True and opened[0]["icebergQty"] == "0.00000000"
    assert len(s.x.all_orders(s.acct, {"symbol": SYMBOL})) == 2
    assert len(s.x.all_orders(s.acct, {"symbol": SYMBOL, "limit": "1"})) == 1
    cancelled = s.x.cancel_open_orders(s.acct, {"symbol": SYMBOL})
    assert [c["status"] for c in cancelled] == ["CANCELED"]
    assert s.x.open_orders(s.acct, {}) == []


def test_a_limit_order_works_from_placement(s: Spot) -> None:
    placed = s.place(side="SELL", type="LIMIT", quantity="0.1", price="70000", timeInForce="GTC")
    assert placed["workingTime"] == placed["transactTime"] == s.clock.t
    new = s.reports(placed["orderId"])[0]
    assert (new["x"], new["w"], new["W"]) == ("NEW", True, s.clock.t)
    stop = s.place(side="SELL", type="STOP_LOSS_LIMIT", quantity="0.1", price="60000",
                   stopPrice="60100", timeInForce="GTC", newOrderRespType="RESULT")  # fmt: skip
    assert stop["workingTime"] == -1 and s.reports(stop["orderId"])[0]["w"] is False
