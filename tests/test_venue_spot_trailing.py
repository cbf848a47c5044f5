"""The Spot trailing-stop FAQ scenarios (A to E, ``faqs/trailing-stop-faq.md``) on the venue,
plus BUY without stopPrice, the TRAILING_DELTA filter bounds and a trailing OCO leg.

The FAQ's "series of linear trades" are fed as a few trades each; every scenario checks that
nothing fires before the FAQ's trigger trade, that the trigger trade fires, and what the
execution reports say (``d`` delta, ``D`` tracking start, ``W`` working time)."""

from __future__ import annotations

import pytest

from spot_venue_helpers import SYMBOL, D, Spot, expect_error, make_spot, spot_info


def trailing(start: str = "40000.00") -> Spot:
    return make_spot(start=start)


def run(s: Spot, prices: list[str]) -> None:
    for p in prices:
        s.trade(p)


def query(s: Spot, oid: int) -> dict:
    return s.x.query_order(s.acct, {"symbol": SYMBOL, "orderId": str(oid)})


def test_scenario_a_stop_loss_limit_buy_with_stop_price() -> None:
    s = trailing()
    oid = s.place(
        side="BUY",
        type="STOP_LOSS_LIMIT",
        quantity="0.01",
        price="45000",
        stopPrice="44000",
        trailingDelta="500",
        timeInForce="GTC",
    )["orderId"]
    run(s, ["39000", "38000", "37000"])  # -750 BIPS before tracking: ignored
    assert query(s, oid)["trailingTime"] == -1
    run(s, ["40000", "42000"])
    s.trade("44000")  # meets stopPrice: tracking starts, lowest = 44,000
    started = s.clock.t
    assert query(s, oid)["trailingTime"] == started
    run(s, ["45000", "46000"])  # +454 BIPS from 44,000: not enough
    run(s, ["44000", "42000", "43000", "44099.99"])  # lowest 42,000; 44,099.99 < 44,100
    assert s.flow(oid) == [("NEW", "NEW")]
    s.trade("44100")  # = 42,000 x 1.05
    assert s.flow(oid) == [("NEW", "NEW"), ("NEW", "NEW"), ("TRADE", "FILLED")]
    working, fill = s.reports(oid)[1:]
    assert (working["d"], working["D"], working["W"]) == (500, started, s.clock.t)
    assert fill["L"] == "44100.01000000"  # limit 45,000 is marketable: takes the ask


def test_scenario_b_stop_loss_limit_sell_with_stop_price() -> None:
    s = trailing()
    oid = s.place(
        side="SELL",
        type="STOP_LOSS_LIMIT",
        quantity="0.01",
        price="38000",
        stopPrice="39000",
        trailingDelta="1000",
        timeInForce="GTC",
    )["orderId"]
    run(s, ["41500", "40000", "39000"])  # 39,000 meets stopPrice: highest = 39,000
    run(s, ["37000"])  # -512 BIPS: not enough
    run(s, ["39000", "41000", "38000", "36900.01"])
    assert s.flow(oid) == [("NEW", "NEW")]
    s.trade("36900")  # = 41,000 x 0.90
    assert s.flow(oid)[-1] == ("NEW", "NEW") and s.reports(oid)[-1]["w"] is True
    s.trade("38000")  # the limit (above the market) rests until a trade reaches it
    assert s.flow(oid)[-1] == ("TRADE", "FILLED")


def test_scenario_c_take_profit_limit_buy_with_stop_price() -> None:
    s = trailing()
    oid = s.place(
        side="BUY",
        type="TAKE_PROFIT_LIMIT",
        quantity="0.01",
        price="38500",
        stopPrice="38000",
        trailingDelta="850",
        timeInForce="GTC",
    )["orderId"]
    run(s, ["42000", "40000", "38000", "37000"])  # tracking from 38,000; lowest 37,000
    run(s, ["39000", "38000", "40144.99"])  # +540 BIPS; back to 38,000; just short
    assert s.flow(oid) == [("NEW", "NEW")]
    s.trade("40145")  # = 37,000 x 1.085
    assert s.flow(oid)[-1] == ("NEW", "NEW")
    s.trade("38500")
    assert s.flow(oid)[-1] == ("TRADE", "FILLED")
    assert query(s, oid)["trailingDelta"] == 850


def test_scenario_d_take_profit_limit_sell_with_stop_price() -> None:
    s = trailing()
    oid = s.place(
        side="SELL",
        type="TAKE_PROFIT_LIMIT",
        quantity="0.01",
        price="41000",
        stopPrice="42000",
        trailingDelta="750",
        timeInForce="GTC",
    )["orderId"]
    run(s, ["41500", "39000"])  # not tracking yet
    run(s, ["42000", "45000", "44000", "46500", "43012.51"])  # highest 46,500
    assert s.flow(oid) == [("NEW", "NEW")]
    s.trade("43012.50")  # = 46,500 x 0.925
    assert s.flow(oid)[-2:] == [("NEW", "NEW"), ("TRADE", "FILLED")]


@pytest.mark.parametrize("kind", ["STOP_LOSS_LIMIT", "STOP_LOSS"])
def test_scenario_e_sell_without_stop_price_tracks_from_placement(kind: str) -> None:
    s = trailing()
    extra = {"price": "39000", "timeInForce": "GTC"} if kind == "STOP_LOSS_LIMIT" else {}
    placed = s.place(side="SELL", type=kind, quantity="0.01", trailingDelta="700", **extra)
    oid, placed_at = placed["orderId"], s.clock.t
    assert s.reports(oid)[0]["D"] == placed_at and s.reports(oid)[0]["d"] == 700
    run(s, ["42000", "39500", "45500", "42315.01"])  # -595 BIPS from 42,000: not enough
    assert s.flow(oid) == [("NEW", "NEW")]
    s.trade("42315")  # = 45,500 x 0.93
    assert s.flow(oid)[-1] == ("TRADE", "FILLED")
    last = s.reports(oid)[-1]
    assert (last["d"], last["D"], last["W"]) == (700, placed_at, s.clock.t)


def test_buy_without_stop_price_tracks_the_lowest_trade_from_placement() -> None:
    s = trailing()
    oid = s.place(side="BUY", type="STOP_LOSS", quantity="0.01", trailingDelta="500")["orderId"]
    run(s, ["38000", "39899.99"])  # lowest 38,000; 39,900 is the +5 % line
    assert s.flow(oid) == [("NEW", "NEW")]
    s.trade("39900")
    assert s.flow(oid)[-1] == ("TRADE", "FILLED")


def test_buy_take_profit_without_stop_price() -> None:
    s = trailing()
    oid = s.place(side="BUY", type="TAKE_PROFIT", quantity="0.01", trailingDelta="100")["orderId"]
    run(s, ["40399.99"])  # +1 % from 40,000 is 40,400
    s.trade("40400")
    assert s.flow(oid)[-1] == ("TRADE", "FILLED")


def test_trailing_delta_filter_bounds() -> None:
    s = make_spot()
    for delta in ("9", "2001", "0"):
        expect_error(
            lambda d=delta: s.place(
                side="SELL", type="STOP_LOSS", quantity="0.01", trailingDelta=d
            ),
            -1013,
            "Filter failure: TRAILING_DELTA",
        )
    for delta in ("10", "2000"):
        s.place(side="SELL", type="STOP_LOSS", quantity="0.01", trailingDelta=delta)


def test_above_bounds_for_stop_loss_buy_and_take_profit_sell() -> None:
    s = make_spot(info=spot_info(minTrailingAboveDelta=100))
    for side, type_ in (("BUY", "STOP_LOSS"), ("SELL", "TAKE_PROFIT")):
        expect_error(
            lambda a=side, b=type_: s.place(side=a, type=b, quantity="0.01", trailingDelta="50"),
            -1013,
            "Filter failure: TRAILING_DELTA",
        )
    # "Below" bounds (still 10) for STOP_LOSS SELL and TAKE_PROFIT BUY.
    for side, type_ in (("SELL", "STOP_LOSS"), ("BUY", "TAKE_PROFIT")):
        s.place(side=side, type=type_, quantity="0.01", trailingDelta="50")


def test_symbol_without_trailing_stops() -> None:
    info = spot_info()
    next(x for x in info["symbols"] if x["symbol"] == SYMBOL)["allowTrailingStop"] = False
    s = make_spot(info=info)
    expect_error(
        lambda: s.place(side="SELL", type="STOP_LOSS", quantity="0.01", trailingDelta="100"),
        -2010,
        "Trailing stop orders are not supported for this symbol.",
    )


def test_trailing_oco_leg_expires_the_limit_leg() -> None:
    s = trailing()
    out = s.x.order_list_oco(
        s.acct,
        {
            "symbol": SYMBOL,
            "side": "SELL",
            "quantity": "0.01",
            "aboveType": "LIMIT_MAKER",
            "abovePrice": "45000",
            "belowType": "STOP_LOSS",
            "belowTrailingDelta": "500",
        },
    )
    stop_id, limit_id = (r["orderId"] for r in out["orderReports"])
    run(s, ["42000", "39900.01"])  # highest 42,000: fires at 39,900
    assert s.status(stop_id) == "NEW"
    s.trade("39900")
    assert s.flow(limit_id)[-1] == ("EXPIRED", "EXPIRED")
    assert s.reports(limit_id)[-1]["eR"] == "OCO_TRIGGER"
    assert s.flow(stop_id)[-1] == ("TRADE", "FILLED")
    assert s.lists()[-1] == ("ALL_DONE", "ALL_DONE")
    assert D(s.acct.balance("BTC").locked) == 0
