"""Scenario tests of Spot order lists on a stepped clock: OCO (take-profit fills, stop triggers,
a partially filled leg, BUY side, price relationships, leg pairs), OTO, OTOCO from entry to
exit, the deprecated order/oco, list queries, and MAX_NUM_ORDERS counting OCO as 2, OTOCO as 3."""

from __future__ import annotations

from typing import Any

import pytest

from spot_venue_helpers import (
    LIST_STATUS_KEYS,
    SYMBOL,
    D,
    Spot,
    expect_error,
    make_spot,
    spot_info,
)

PRICES_WRONG = "The relationship of the prices for the orders is not correct."


@pytest.fixture
def s() -> Spot:
    return make_spot()


def oco(s: Spot, **over: str) -> dict[str, Any]:
    params = {
        "symbol": SYMBOL,
        "side": "SELL",
        "quantity": "0.50000",
        "aboveType": "LIMIT_MAKER",
        "abovePrice": "66000",
        "belowType": "STOP_LOSS_LIMIT",
        "belowStopPrice": "64000",
        "belowPrice": "63900",
        "belowTimeInForce": "GTC",
        "listClientOrderId": "exit-1",
    }
    params.update(over)
    return s.x.order_list_oco(s.acct, {k: v for k, v in params.items() if v})


def legs(out: dict[str, Any]) -> dict[str, int]:
    return {r["type"]: r["orderId"] for r in out["orderReports"]}


def test_oco_take_profit_fills_and_the_stop_expires(s: Spot) -> None:
    out = oco(s)
    assert (out["contingencyType"], out["listStatusType"], out["listOrderStatus"]) == (
        "OCO",
        "EXEC_STARTED",
        "EXECUTING",
    )
    ids = legs(out)
    assert s.balance("BTC") == (D("1.5"), D("0.5"))  # one lock for both legs
    assert [e["g"] for e in s.reports()] == [out["orderListId"]] * 2
    s.trade("66000")
    assert s.flow(ids["STOP_LOSS_LIMIT"])[-1] == ("EXPIRED", "EXPIRED")
    assert s.reports(ids["STOP_LOSS_LIMIT"])[-1]["eR"] == "OCO_TRIGGER"
    assert s.flow(ids["LIMIT_MAKER"])[-1] == ("TRADE", "FILLED")
    assert s.lists() == [("EXEC_STARTED", "EXECUTING"), ("ALL_DONE", "ALL_DONE")]
    for event in (e for e in s.events if e["e"] == "listStatus"):
        assert set(event) >= LIST_STATUS_KEYS and event["c"] == "OCO" and event["C"] == "exit-1"
        assert [o["i"] for o in event["O"]] == [r["orderId"] for r in out["orderReports"]]
    assert s.balance("BTC") == (D("1.5"), D(0))
    q = s.x.query_order_list(s.acct, {"orderListId": str(out["orderListId"])})
    assert (q["listStatusType"], q["listOrderStatus"]) == ("ALL_DONE", "ALL_DONE")
    assert s.x.open_order_lists(s.acct, {}) == []


def test_oco_stop_triggers_and_the_limit_leg_expires(s: Spot) -> None:
    ids = legs(oco(s))
    s.trade("64000")
    assert s.flow(ids["LIMIT_MAKER"])[-1] == ("EXPIRED", "EXPIRED")
    assert s.reports(ids["LIMIT_MAKER"])[-1]["eR"] == "OCO_TRIGGER"
    # The stop leg works: its limit (63,900) is below the bid, so it takes at once.
    assert s.flow(ids["STOP_LOSS_LIMIT"])[1:] == [("NEW", "NEW"), ("TRADE", "FILLED")]
    assert s.reports(ids["STOP_LOSS_LIMIT"])[-1]["L"] == "63999.99000000"
    assert s.lists()[-1] == ("ALL_DONE", "ALL_DONE")
    assert s.balance("BTC") == (D("1.5"), D(0))


def test_oco_stop_limit_leg_rests_after_the_trigger(s: Spot) -> None:
    ids = legs(oco(s, belowPrice="64100"))  # a limit above the bid after the trigger: it rests
    s.trade("64000")
    assert s.flow(ids["STOP_LOSS_LIMIT"])[-1] == ("NEW", "NEW")
    assert s.balance("BTC") == (D("1.5"), D("0.5"))  # the lock moved to the working leg
    s.trade("64100")
    assert s.flow(ids["STOP_LOSS_LIMIT"])[-1] == ("TRADE", "FILLED")
    assert s.balance("BTC") == (D("1.5"), D(0))


def test_oco_partially_filled_leg(s: Spot) -> None:
    ids = legs(oco(s))
    s.trade("66000", qty="0.2")  # a trade of 0.2 BTC at the take-profit price
    tp = ids["LIMIT_MAKER"]
    assert s.flow(tp)[-1] == ("TRADE", "PARTIALLY_FILLED")
    assert s.reports(tp)[-1]["l"] == "0.20000000" and s.reports(tp)[-1]["z"] == "0.20000000"
    assert s.flow(ids["STOP_LOSS_LIMIT"])[-1] == ("EXPIRED", "EXPIRED")  # even a partial fill
    assert s.lists()[-1] == ("ALL_DONE", "ALL_DONE")
    assert s.balance("BTC") == (D("1.5"), D("0.3"))
    s.trade("66000", qty="0.1")
    assert s.reports(tp)[-1]["z"] == "0.30000000"
    s.trade("66000")  # no quantity given: fills what is left
    assert s.flow(tp)[-1] == ("TRADE", "FILLED") and s.balance("BTC") == (D("1.5"), D(0))
    usdt = D(100_000) + D(33_000) * (1 - D("0.001"))
    assert s.balance("USDT") == (usdt, D(0))


def test_buy_oco_closing_a_short(s: Spot) -> None:
    out = oco(
        s,
        side="BUY",
        aboveType="STOP_LOSS",
        aboveStopPrice="66000",
        abovePrice="",
        belowType="LIMIT_MAKER",
        belowPrice="64000",
        belowStopPrice="",
        belowTimeInForce="",
    )
    ids = legs(out)
    # The larger of the two legs' needs is locked once: 0.5 x 66,000 x 1.001.
    assert s.balance("USDT")[1] == D("33033")
    s.trade("64000")
    assert s.flow(ids["LIMIT_MAKER"])[-1] == ("TRADE", "FILLED")
    assert s.flow(ids["STOP_LOSS"])[-1] == ("EXPIRED", "EXPIRED")
    assert s.balance("USDT") == (D(100_000) - D(32_000) * D("1.001"), D(0))
    assert s.balance("BTC") == (D("2.5"), D(0))


def test_oco_with_a_take_profit_market_leg(s: Spot) -> None:
    ids = legs(
        oco(
            s,
            aboveType="TAKE_PROFIT",
            abovePrice="",
            aboveStopPrice="66000",
            belowType="STOP_LOSS",
            belowPrice="",
            belowTimeInForce="",
        )
    )
    s.trade("66000")
    assert s.flow(ids["STOP_LOSS"])[-1] == ("EXPIRED", "EXPIRED")
    assert s.flow(ids["TAKE_PROFIT"])[-1] == ("TRADE", "FILLED")


@pytest.mark.parametrize(
    ("over", "code", "msg"),
    [
        ({"abovePrice": "64500"}, -2010, PRICES_WRONG),  # limit below the last trade
        ({"belowStopPrice": "65500", "belowPrice": "65400"}, -2010, PRICES_WRONG),
        ({"belowStopPrice": "65000", "belowPrice": "64900"}, -2010, PRICES_WRONG),  # equality
        (
            {
                "belowType": "LIMIT_MAKER",
                "belowPrice": "64000",
                "belowStopPrice": "",
                "belowTimeInForce": "",
            },
            -1168,
            "At least one OCO order must be contingent.",
        ),
        (
            {
                "aboveType": "STOP_LOSS",
                "aboveStopPrice": "66000",
                "abovePrice": "",
                "belowType": "LIMIT_MAKER",
                "belowPrice": "64000",
                "belowStopPrice": "",
                "belowTimeInForce": "",
            },
            -1197,
            "A stop loss order in a sell OCO must be below.",
        ),
        ({"aboveType": "LIMIT"}, -1158, "Order type not supported in OCO."),
    ],
)
def test_oco_refusals_change_nothing(s: Spot, over: dict[str, str], code: int, msg: str) -> None:
    expect_error(lambda: oco(s, **over), code, msg)
    assert s.x.orders == {} and s.x.lists == {} and s.events == []
    assert s.balance("BTC") == (D(2), D(0))


def test_cancelling_one_leg_cancels_the_list(s: Spot) -> None:
    out = oco(s)
    ids = legs(out)
    resp = s.x.cancel_order(s.acct, {"symbol": SYMBOL, "orderId": str(ids["LIMIT_MAKER"])})
    assert resp["status"] == "CANCELED" and resp["orderListId"] == out["orderListId"]
    assert s.status(ids["STOP_LOSS_LIMIT"]) == "CANCELED"
    assert s.lists()[-1] == ("ALL_DONE", "ALL_DONE") and s.balance("BTC") == (D(2), D(0))


def test_delete_order_list_and_queries(s: Spot) -> None:
    out = oco(s)
    assert [x["orderListId"] for x in s.x.open_order_lists(s.acct, {})] == [out["orderListId"]]
    got = s.x.query_order_list(s.acct, {"origClientOrderId": "exit-1"})
    assert got["orders"] == out["orders"] and "orderReports" not in got
    resp = s.x.cancel_order_list(s.acct, {"symbol": SYMBOL, "listClientOrderId": "exit-1"})
    assert (resp["listStatusType"], resp["listOrderStatus"]) == ("ALL_DONE", "ALL_DONE")
    assert {r["status"] for r in resp["orderReports"]} == {"CANCELED"}
    assert len(s.x.all_order_lists(s.acct, {})) == 1
    expect_error(
        lambda: s.x.cancel_order_list(s.acct, {"symbol": SYMBOL, "listClientOrderId": "exit-1"}),
        -2011,
    )
    expect_error(lambda: s.x.query_order_list(s.acct, {"orderListId": "1"}), -2013)


def test_cancel_open_orders_answers_lists_in_the_list_shape(s: Spot) -> None:
    out = oco(s)
    s.place(side="SELL", type="LIMIT", quantity="0.1", price="70000", timeInForce="GTC")
    answers = s.x.cancel_open_orders(s.acct, {"symbol": SYMBOL})
    assert answers[0]["orderListId"] == out["orderListId"] and "orderReports" in answers[0]
    assert answers[1]["status"] == "CANCELED" and answers[1]["orderListId"] == -1


# -- OTO / OTOCO -------------------------------------------------------------------------------


def oto(s: Spot, **over: str) -> dict[str, Any]:
    params = {
        "symbol": SYMBOL,
        "workingType": "LIMIT",
        "workingSide": "BUY",
        "workingPrice": "64000",
        "workingQuantity": "0.5",
        "workingTimeInForce": "GTC",
        "pendingType": "STOP_LOSS",
        "pendingSide": "SELL",
        "pendingQuantity": "0.5",
        "pendingStopPrice": "63000",
    }
    params.update(over)
    return s.x.order_list_oto(s.acct, {k: v for k, v in params.items() if v})


def test_oto_pending_order_is_placed_when_the_working_order_fills(s: Spot) -> None:
    out = oto(s)
    working, pending = (r["orderId"] for r in out["orderReports"])
    assert out["contingencyType"] == "OTO"
    assert [r["status"] for r in out["orderReports"]] == ["NEW", "PENDING_NEW"]
    assert s.flow(pending) == [("NEW", "PENDING_NEW")]
    s.trade("64000")
    assert s.flow(working)[-1] == ("TRADE", "FILLED")
    assert s.flow(pending) == [("NEW", "PENDING_NEW"), ("NEW", "NEW")]
    assert s.lists()[-1] == ("ALL_DONE", "ALL_DONE")
    assert s.balance("BTC") == (D(2), D("0.5"))  # the bought 0.5 BTC is locked by the stop
    s.trade("63000")
    assert s.flow(pending)[-1] == ("TRADE", "FILLED")


def test_oto_working_order_that_fills_at_once_still_answers_pending_new(s: Spot) -> None:
    out = oto(s, workingPrice="65000.01")  # marketable: takes the ask at placement
    pending = out["orderReports"][1]["orderId"]
    assert out["orderReports"][0]["status"] == "FILLED"
    assert out["orderReports"][1]["status"] == "PENDING_NEW"
    assert s.status(pending) == "NEW"  # "query again to see its real status"


def test_oto_working_ioc_expiry_expires_the_pending_order(s: Spot) -> None:
    out = oto(s, workingTimeInForce="IOC")
    _, pending = (r["orderId"] for r in out["orderReports"])
    assert s.flow(pending)[-1] == ("EXPIRED", "EXPIRED")
    assert s.reports(pending)[-1]["eR"] == "OTO_PHASE_ONE_EXPIRED"
    assert s.lists()[-1] == ("ALL_DONE", "ALL_DONE")


def test_otoco_from_entry_to_exit(s: Spot) -> None:
    out = s.x.order_list_otoco(
        s.acct,
        {
            "symbol": SYMBOL,
            "workingType": "LIMIT",
            "workingSide": "BUY",
            "workingPrice": "64000",
            "workingQuantity": "0.5",
            "workingTimeInForce": "GTC",
            "pendingSide": "SELL",
            "pendingQuantity": "0.5",
            "pendingAboveType": "LIMIT_MAKER",
            "pendingAbovePrice": "67000",
            "pendingBelowType": "STOP_LOSS",
            "pendingBelowStopPrice": "63000",
        },
    )
    assert out["contingencyType"] == "OTO" and len(out["orders"]) == 3
    working, stop, take = (r["orderId"] for r in out["orderReports"])
    assert [r["status"] for r in out["orderReports"]] == ["NEW", "PENDING_NEW", "PENDING_NEW"]
    s.trade("64500")
    assert s.status(stop) == "PENDING_NEW"
    s.trade("64000")  # entry fills: the exit pair goes live
    assert s.flow(working)[-1] == ("TRADE", "FILLED")
    assert s.flow(stop)[-1] == ("NEW", "NEW") and s.flow(take)[-1] == ("NEW", "NEW")
    assert s.lists() == [("EXEC_STARTED", "EXECUTING"), ("UPDATED", "EXECUTING")]
    assert s.balance("BTC") == (D(2), D("0.5"))
    s.trade("67000")  # exit: take-profit fills, the stop expires
    assert s.flow(take)[-1] == ("TRADE", "FILLED")
    assert s.flow(stop)[-1] == ("EXPIRED", "EXPIRED")
    assert s.reports(stop)[-1]["eR"] == "OCO_TRIGGER"
    assert s.lists()[-1] == ("ALL_DONE", "ALL_DONE")
    assert s.balance("BTC") == (D(2), D(0))
    pnl = D(33_500) * (1 - D("0.001")) - D(32_000) * D("1.001")
    assert s.balance("USDT") == (D(100_000) + pnl, D(0))


def test_deprecated_order_oco_is_still_served(s: Spot) -> None:
    out = s.x.order_oco(
        s.acct,
        {
            "symbol": SYMBOL,
            "side": "SELL",
            "quantity": "0.1",
            "price": "66000",
            "stopPrice": "64000",
            "stopLimitPrice": "63900",
            "stopLimitTimeInForce": "GTC",
            "limitClientOrderId": "lim",
        },
    )
    assert {r["type"] for r in out["orderReports"]} == {"LIMIT_MAKER", "STOP_LOSS_LIMIT"}
    assert "lim" in {o["clientOrderId"] for o in out["orders"]}
    expect_error(
        lambda: s.x.order_oco(
            s.acct,
            {
                "symbol": SYMBOL,
                "side": "BUY",
                "quantity": "0.1",
                "price": "66000",
                "stopPrice": "64000",
            },
        ),
        -2010,  # BUY: the limit leg (below) at 66,000 is above the last trade
        PRICES_WRONG,
    )


# -- MAX_NUM_ORDERS ------------------------------------------------------------------------------


def test_max_num_orders_counts_oco_as_two_and_otoco_as_three() -> None:
    s = make_spot(info=spot_info(maxNumOrders=4))
    s.place(side="SELL", type="LIMIT", quantity="0.1", price="70000", timeInForce="GTC")
    oco(s)  # 1 + 2 = 3
    expect_error(lambda: oco(s, listClientOrderId="x2"), -1013, "Filter failure: MAX_NUM_ORDERS")
    s.x.cancel_order_list(s.acct, {"symbol": SYMBOL, "listClientOrderId": "exit-1"})
    otoco = {
        "symbol": SYMBOL,
        "workingType": "LIMIT",
        "workingSide": "BUY",
        "workingPrice": "64000",
        "workingQuantity": "0.1",
        "workingTimeInForce": "GTC",
        "pendingSide": "SELL",
        "pendingQuantity": "0.1",
        "pendingAboveType": "LIMIT_MAKER",
        "pendingAbovePrice": "67000",
        "pendingBelowType": "STOP_LOSS",
        "pendingBelowStopPrice": "63000",
    }
    s.x.order_list_otoco(s.acct, otoco)  # 1 + 3 = 4
    expect_error(
        lambda: s.place(
            side="SELL", type="LIMIT", quantity="0.1", price="71000", timeInForce="GTC"
        ),
        -1013,
        "Filter failure: MAX_NUM_ORDERS",
    )


def test_max_num_order_lists() -> None:
    s = make_spot(info=spot_info(maxNumOrderLists=1))
    oco(s)
    expect_error(
        lambda: oco(s, listClientOrderId="x2"), -1013, "Filter failure: MAX_NUM_ORDER_LISTS"
    )
    expect_error(lambda: oco(s), -2010, "Duplicate order sent.")
