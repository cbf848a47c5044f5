"""Scenario tests of the USD-M venue core on a stepped clock: trigger rules and lifecycle paths."""

from __future__ import annotations

import json
from decimal import Decimal
from importlib.resources import files

import pytest

from exitguard.domain import PRIMIT, Side
from exitguard.venue.errors import VenueError
from exitguard.venue.usdm import UsdmExchange

D = Decimal
T0 = 1_800_000_000_000


class Clock:
    def __init__(self) -> None:
        self.t = T0

    def __call__(self) -> int:
        return self.t


@pytest.fixture
def venue():
    doc = json.loads(files("exitguard").joinpath("fixtures/exchange_info/usdm.json").read_text())
    clock = Clock()
    x = UsdmExchange(doc, clock)
    acct = x.create_account(D(100_000))
    events: list[dict] = []
    x.subscribe(acct, events.append)
    return x, acct, events, clock


def algo_events(events, algo_id=None):
    return [
        (e["o"]["X"], e["o"]["ia"])
        for e in events
        if e["e"] == "ALGO_UPDATE" and (algo_id is None or e["o"]["aid"] == algo_id)
    ]


def stop(**over):
    p = {
        "algoType": "CONDITIONAL",
        "symbol": "BTCUSDT",
        "side": "SELL",
        "type": "STOP_MARKET",
        "triggerPrice": "64000.0",
        "closePosition": "true",
        "clientAlgoId": "exg-stop-1",
    }
    p.update(over)
    return {k: v for k, v in p.items() if v is not None}


def test_close_position_stop_full_lifecycle(venue):
    x, acct, events, _ = venue
    x.open_position(acct, "BTCUSDT", Side.BUY, D("0.500"))
    placed = x.new_algo_order(acct, stop())
    assert placed["algoStatus"] == "NEW" and placed["orderType"] == "STOP_MARKET"
    assert placed["closePosition"] is True and placed["quantity"] == "0"
    x.on_price("BTCUSDT", last=D("64000.1"))
    assert algo_events(events, placed["algoId"]) == [("NEW", False)]  # not yet: 64000.1 > 64000
    x.on_price("BTCUSDT", last=D("64000.0"))  # equality fires
    assert [s for s, _ in algo_events(events, placed["algoId"])] == [
        "NEW",
        "TRIGGERING",
        "TRIGGERED",
        "FINISHED",
    ]
    finished = next(e for e in events if e["e"] == "ALGO_UPDATE" and e["o"]["X"] == "FINISHED")["o"]
    assert finished["aq"] == "0.500" and finished["ai"] != "" and finished["act"] == "MARKET"
    child = [
        e["o"]
        for e in events
        if e["e"] == "ORDER_TRADE_UPDATE"
        and e["o"]["i"] == int(finished["ai"])
        and e["o"]["x"] == "TRADE"
    ]
    assert child and child[-1]["X"] == "FILLED" and child[-1]["ot"] == "STOP_MARKET"
    assert child[-1]["c"] == "exg-stop-1"
    assert x.position_risk(acct, {"symbol": "BTCUSDT"})[0]["positionAmt"] == "0.000"
    query = x.query_algo_order(acct, {"algoId": str(placed["algoId"])})
    assert query["algoStatus"] == "FINISHED" and query["actualOrderId"] == finished["ai"]
    assert x.open_algo_orders(acct, {}) == []


def test_conditional_type_on_order_endpoint_is_4120(venue):
    x, acct, _, _ = venue
    with pytest.raises(VenueError) as err:
        x.new_order(
            acct,
            {
                "symbol": "BTCUSDT",
                "side": "SELL",
                "type": "STOP_MARKET",
                "stopPrice": "60000.0",
                "quantity": "0.010",
            },
        )
    assert err.value.code == -4120


def test_would_immediately_trigger_at_placement(venue):
    x, acct, _, _ = venue
    with pytest.raises(VenueError) as err:
        x.new_algo_order(acct, stop(triggerPrice="65000.0"))  # last is 65000: equality holds
    assert err.value.code == -2021
    with pytest.raises(VenueError) as err:
        x.new_algo_order(
            acct,
            stop(
                type="TRAILING_STOP_MARKET",
                triggerPrice=None,
                closePosition=None,
                quantity="0.010",
                reduceOnly="true",
                activatePrice="64000.0",
                callbackRate="1",
            ),
        )
    assert err.value.code == -2021  # SELL activatePrice must be above the latest price


def test_reduce_only_with_nothing_to_reduce_is_rejected_at_trigger(venue):
    x, acct, events, _ = venue
    placed = x.new_algo_order(acct, stop(closePosition=None, quantity="0.010", reduceOnly="true"))
    x.on_price("BTCUSDT", last=D("63000.0"))
    assert [s for s, _ in algo_events(events, placed["algoId"])] == [
        "NEW",
        "TRIGGERING",
        "REJECTED",
    ]
    rejected = [e for e in events if e["e"] == "ALGO_UPDATE"][-1]["o"]
    assert rejected["rm"] == "Reduce Only reject"


def test_close_position_expires_when_position_goes_flat(venue):
    x, acct, events, _ = venue
    x.open_position(acct, "BTCUSDT", Side.BUY, D("0.100"))
    placed = x.new_algo_order(acct, stop())
    x.new_order(
        acct,
        {
            "symbol": "BTCUSDT",
            "side": "SELL",
            "type": "MARKET",
            "quantity": "0.100",
            "reduceOnly": "true",
        },
    )
    assert algo_events(events, placed["algoId"])[-1][0] == "EXPIRED"
    assert x.open_algo_orders(acct, {"symbol": "BTCUSDT"}) == []


def test_price_protect_holds_the_trigger_and_stays_armed(venue):
    x, acct, events, _ = venue
    x.open_position(acct, "BTCUSDT", Side.BUY, D("0.100"))
    placed = x.new_algo_order(acct, stop(priceProtect="true", workingType="CONTRACT_PRICE"))
    # last falls through the trigger while mark stays 8% away: triggerProtect is 0.05
    x.on_price("BTCUSDT", last=D("63000.0"), mark=D("68500.0"))
    assert algo_events(events, placed["algoId"]) == [("NEW", False)]
    x.on_price("BTCUSDT", last=D("63000.0"), mark=D("63100.0"))  # gap closes: fires
    assert algo_events(events, placed["algoId"])[-1][0] == "FINISHED"


def test_mark_price_trigger_uses_truncated_mark(venue):
    x, acct, events, _ = venue
    x.open_position(acct, "BTCUSDT", Side.BUY, D("0.100"))
    tp = x.new_algo_order(
        acct,
        stop(
            type="TAKE_PROFIT_MARKET",
            triggerPrice="66000.0",
            workingType="MARK_PRICE",
            clientAlgoId="exg-tp",
        ),
    )
    x.on_price("BTCUSDT", mark=D("65999.99"))  # truncates to 65999.9 (tick 0.1): no fire
    assert algo_events(events, tp["algoId"]) == [("NEW", False)]
    x.on_price("BTCUSDT", mark=D("66000.04"))  # truncates to 66000.0: equality fires
    assert algo_events(events, tp["algoId"])[-1][0] == "FINISHED"


def test_trailing_stop_activation_flag_and_callback(venue):
    x, acct, events, _ = venue
    x.open_position(acct, "BTCUSDT", Side.BUY, D("0.100"))
    tr = x.new_algo_order(
        acct,
        stop(
            type="TRAILING_STOP_MARKET",
            triggerPrice=None,
            closePosition=None,
            quantity="0.100",
            reduceOnly="true",
            activatePrice="66000.0",
            callbackRate="1",
            clientAlgoId="exg-trail",
        ),
    )
    assert tr["activatePrice"] == "66000.0" and tr["callbackRate"] == "1"
    x.on_price("BTCUSDT", last=D("65900.0"))
    assert algo_events(events, tr["algoId"]) == [("NEW", False)]
    x.on_price("BTCUSDT", last=D("66000.0"))  # activates: a second NEW with ia=true
    assert algo_events(events, tr["algoId"]) == [("NEW", False), ("NEW", True)]
    x.on_price("BTCUSDT", last=D("67000.0"))  # new high
    x.on_price("BTCUSDT", last=D("66330.1"))  # above 67000 * 0.99 = 66330: holds
    assert algo_events(events, tr["algoId"])[-1] == ("NEW", True)
    x.on_price("BTCUSDT", last=D("66330.0"))  # equality fires
    assert algo_events(events, tr["algoId"])[-1][0] == "FINISHED"


def test_cancel_and_query_by_either_id(venue):
    x, acct, _, _ = venue
    a = x.new_algo_order(acct, stop(clientAlgoId="exg-a"))
    b = x.new_algo_order(acct, stop(clientAlgoId="exg-b", triggerPrice="63000.0"))
    assert x.cancel_algo_order(acct, {"algoId": str(a["algoId"])})["code"] == "200"
    assert x.cancel_algo_order(acct, {"clientAlgoId": "exg-b"})["algoId"] == b["algoId"]
    with pytest.raises(VenueError) as err:
        x.cancel_algo_order(acct, {"clientAlgoId": "exg-b"})
    assert err.value.code == -2011
    with pytest.raises(VenueError) as err:
        x.query_algo_order(acct, {"algoId": "42"})
    assert err.value.code == -2013
    with pytest.raises(VenueError) as err:
        x.cancel_algo_order(acct, {})
    assert err.value.code == -1102
    assert x.query_algo_order(acct, {"clientAlgoId": "exg-a"})["algoStatus"] == "CANCELED"


def test_duplicate_open_client_algo_id_refused(venue):
    x, acct, _, _ = venue
    x.new_algo_order(acct, stop())
    with pytest.raises(VenueError) as err:
        x.new_algo_order(acct, stop())
    assert err.value.code == -4116


def test_account_wide_cap_of_200_conditional_orders(venue):
    x, acct, _, _ = venue
    for i in range(200):
        x.new_algo_order(acct, stop(clientAlgoId=f"exg-{i}", triggerPrice=f"{50000 + i}.0"))
    with pytest.raises(VenueError) as err:
        x.new_algo_order(
            acct, stop(clientAlgoId="exg-over", symbol="ETHUSDT", triggerPrice="2000.00")
        )
    assert err.value.code == -4045


def test_gtd_algo_order_expires(venue):
    x, acct, events, clock = venue
    placed = x.new_algo_order(acct, stop(timeInForce="GTD", goodTillDate=str(T0 + 3_600_000)))
    clock.t += 3_600_000
    x.tick_time()
    assert algo_events(events, placed["algoId"])[-1][0] == "EXPIRED"


def test_limit_rests_then_fills_as_maker(venue):
    x, acct, events, _ = venue
    order = x.new_order(
        acct,
        {
            "symbol": "BTCUSDT",
            "side": "BUY",
            "type": "LIMIT",
            "timeInForce": "GTC",
            "quantity": "0.010",
            "price": "64000.0",
        },
    )
    assert order["status"] == "NEW"
    x.on_price("BTCUSDT", last=D("64000.0"))
    fills = [e["o"] for e in events if e["e"] == "ORDER_TRADE_UPDATE" and e["o"]["x"] == "TRADE"]
    assert fills[-1]["X"] == "FILLED" and fills[-1]["m"] is True and fills[-1]["L"] == "64000.0"


def test_market_slippage_grows_with_size(venue):
    x, acct, _, _ = venue
    small = x.new_order(
        acct, {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.001"}
    )
    big = x.new_order(
        acct, {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "5.000"}
    )
    assert D(big["avgPrice"]) > D(small["avgPrice"]) > D("65000")


def test_listen_key_lifecycle_and_expiry(venue):
    x, acct, events, clock = venue
    key = x.listen_key_create(acct, {})["listenKey"]
    assert x.listen_key_create(acct, {})["listenKey"] == key  # same key while active
    clock.t += 59 * 60_000
    x.listen_key_keepalive(acct, {})
    clock.t += 61 * 60_000
    x.tick_time()
    assert events[-1]["e"] == "listenKeyExpired" and events[-1]["listenKey"] == key
    with pytest.raises(VenueError) as err:
        x.listen_key_keepalive(acct, {})
    assert err.value.code == -1125


def test_position_mode_rules(venue):
    x, acct, _, _ = venue
    with pytest.raises(VenueError) as err:
        x.set_position_mode(acct, {"dualSidePosition": "false"})
    assert err.value.code == -4059
    x.open_position(acct, "BTCUSDT", Side.BUY, D("0.010"))
    with pytest.raises(VenueError) as err:
        x.set_position_mode(acct, {"dualSidePosition": "true"})
    assert err.value.code == -4068


def test_primit_dialect_quote_qty_and_order_endpoint():
    doc = json.loads(files("exitguard").joinpath("fixtures/exchange_info/usdm.json").read_text())
    x = UsdmExchange(doc, Clock(), dialect=PRIMIT)
    acct = x.create_account()
    placed = x.new_algo_order(
        acct,
        {
            "symbol": "BTCUSDT",
            "side": "SELL",
            "type": "STOP_MARKET",
            "stopPrice": "64000.0",
            "quoteOrderQty": "1000",
        },
    )
    assert placed["quantity"] == "0.015"  # 1000 / 64000 = 0.015625 floored to the 0.001 step
    with pytest.raises(VenueError) as err:
        x.new_algo_order(
            acct,
            {
                "symbol": "BTCUSDT",
                "side": "SELL",
                "type": "STOP_MARKET",
                "stopPrice": "64000.0",
                "quoteOrderQty": "10",
            },
        )
    assert err.value.code == -1013
    via_order = x.new_order(
        acct,
        {
            "symbol": "BTCUSDT",
            "side": "SELL",
            "type": "STOP_MARKET",
            "stopPrice": "63000.0",
            "quantity": "0.010",
        },
    )
    assert via_order["algoStatus"] == "NEW"


def test_price_protect_rearms_a_trailing_stop(venue):
    x, acct, events, _ = venue
    x.open_position(acct, "BTCUSDT", Side.BUY, D("0.100"))
    tr = x.new_algo_order(
        acct,
        stop(
            type="TRAILING_STOP_MARKET",
            triggerPrice=None,
            closePosition=None,
            quantity="0.100",
            reduceOnly="true",
            callbackRate="1",
            priceProtect="true",
            clientAlgoId="exg-trail-pp",
        ),
    )
    x.on_price("BTCUSDT", last=D("64000.0"), mark=D("69000.0"))  # fell >1% but mark 7.8% away
    assert algo_events(events, tr["algoId"])[-1] == ("NEW", True)
    x.on_price("BTCUSDT", last=D("64000.0"), mark=D("64100.0"))  # gap closed: fires now
    assert algo_events(events, tr["algoId"])[-1][0] == "FINISHED"
    assert x.position_risk(acct, {"symbol": "BTCUSDT"})[0]["positionAmt"] == "0.000"


def test_primit_trailing_without_activation_starts_at_the_mark():
    doc = json.loads(files("exitguard").joinpath("fixtures/exchange_info/usdm.json").read_text())
    x = UsdmExchange(doc, Clock(), dialect=PRIMIT)
    acct = x.create_account()
    events: list[dict] = []
    x.subscribe(acct, events.append)
    x.open_position(acct, "BTCUSDT", Side.BUY, D("0.100"))
    x.on_price("BTCUSDT", mark=D("65500.05"))  # mark above last: the default activation
    placed = x.new_algo_order(
        acct,
        {
            "symbol": "BTCUSDT",
            "side": "SELL",
            "type": "TRAILING_STOP_MARKET",
            "quantity": "0.100",
            "reduceOnly": "true",
            "callbackRate": "1",
        },
    )
    assert D(placed["activatePrice"]) == D("65500.0")  # the mark, truncated to the tick
    assert algo_events(events, placed["algoId"]) == [("NEW", False)]
    x.on_price("BTCUSDT", last=D("65500.0"))  # last reaches the mark: activates
    assert algo_events(events, placed["algoId"])[-1] == ("NEW", True)


def test_short_exits_buy_side_triggers(venue):
    """BUY STOP fires on a rise (>=), BUY TAKE_PROFIT on a fall (<=); equality fires."""
    x, acct, events, _ = venue
    x.open_position(acct, "BTCUSDT", Side.SELL, D("0.200"))
    sl = x.new_algo_order(acct, stop(side="BUY", triggerPrice="66000.0", clientAlgoId="exg-sl"))
    tp = x.new_algo_order(
        acct,
        stop(
            side="BUY",
            type="TAKE_PROFIT_MARKET",
            triggerPrice="64000.0",
            closePosition=None,
            quantity="0.100",
            reduceOnly="true",
            clientAlgoId="exg-tp",
        ),
    )
    x.on_price("BTCUSDT", last=D("64000.1"))
    assert algo_events(events, tp["algoId"]) == [("NEW", False)]
    x.on_price("BTCUSDT", last=D("64000.0"))  # TP: <= fires, buys back half
    assert algo_events(events, tp["algoId"])[-1][0] == "FINISHED"
    assert x.position_risk(acct, {"symbol": "BTCUSDT"})[0]["positionAmt"] == "-0.100"
    x.on_price("BTCUSDT", last=D("65999.9"))
    assert algo_events(events, sl["algoId"]) == [("NEW", False)]
    x.on_price("BTCUSDT", last=D("66000.0"))  # SL: >= fires, closes the rest
    assert algo_events(events, sl["algoId"])[-1][0] == "FINISHED"
    assert x.position_risk(acct, {"symbol": "BTCUSDT"})[0]["positionAmt"] == "0.000"


def test_stop_limit_child_rests_then_finishes_when_it_fills(venue):
    """STOP (limit variant): the trigger places a LIMIT child; the algo order stays TRIGGERED
    (not listed as open algo) until the child fills, then FINISHED with actualQty."""
    x, acct, events, _ = venue
    x.open_position(acct, "BTCUSDT", Side.BUY, D("0.100"))
    placed = x.new_algo_order(
        acct,
        stop(
            type="STOP",
            closePosition=None,
            quantity="0.100",
            reduceOnly="true",
            price="64100.0",
            timeInForce="GTC",
            clientAlgoId="exg-stop-limit",
        ),
    )
    x.on_price("BTCUSDT", last=D("64000.0"))  # fires; child SELL LIMIT 64100 is above the market
    assert [s for s, _ in algo_events(events, placed["algoId"])] == [
        "NEW",
        "TRIGGERING",
        "TRIGGERED",
    ]
    assert x.open_algo_orders(acct, {}) == []
    child = x.query_order(acct, {"symbol": "BTCUSDT", "origClientOrderId": "exg-stop-limit"})
    assert (child["type"], child["origType"], child["status"]) == ("LIMIT", "STOP", "NEW")
    x.on_price("BTCUSDT", last=D("64100.0"))  # the resting child fills as maker
    assert algo_events(events, placed["algoId"])[-1][0] == "FINISHED"
    assert x.query_algo_order(acct, {"algoId": str(placed["algoId"])})["actualQty"] == "0.100"
    with pytest.raises(VenueError) as err:  # a finished algo order cannot be cancelled
        x.cancel_algo_order(acct, {"algoId": str(placed["algoId"])})
    assert err.value.code == -2011
