"""Reduce-only at FILL time on the USD-M venue (venue/usdm/closing.py): an order that may only
reduce — reduceOnly, closePosition, a hedge-mode close — is clamped to its position when it
fills and EXPIRES (``er=4``) when nothing is left; it never opens or flips a position."""

from __future__ import annotations

import contextlib
import json
from decimal import Decimal
from importlib.resources import files
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exitguard.domain import Side
from exitguard.domain.enums import PositionSide
from exitguard.venue.errors import VenueError
from exitguard.venue.usdm import UsdmExchange

D = Decimal
T0 = 1_800_000_000_000
SYMBOL = "BTCUSDT"
_DOC = json.loads(files("exitguard").joinpath("fixtures/exchange_info/usdm.json").read_text())


def make_venue(hedge: bool = False) -> tuple[UsdmExchange, Any, list[dict[str, Any]]]:
    x = UsdmExchange(_DOC, lambda: T0)
    acct = x.create_account(D(100_000))
    if hedge:
        x.set_position_mode(acct, {"dualSidePosition": "true"})
    events: list[dict[str, Any]] = []
    x.subscribe(acct, events.append)
    return x, acct, events


def amount(x: UsdmExchange, acct: Any, ps: PositionSide = PositionSide.BOTH) -> Decimal:
    return acct.position(SYMBOL, ps).amount


def order_events(events: list[dict[str, Any]], order_id: int) -> list[tuple[str, str, str]]:
    """(execution type, status, cumulative qty) of one order's ORDER_TRADE_UPDATEs."""
    return [
        (e["o"]["x"], e["o"]["X"], e["o"]["z"])
        for e in events
        if e["e"] == "ORDER_TRADE_UPDATE" and e["o"]["i"] == order_id
    ]


def limit(side: str, qty: str, price: str, **over: str) -> dict[str, str]:
    p = {
        "symbol": SYMBOL,
        "side": side,
        "type": "LIMIT",
        "timeInForce": "GTC",
        "quantity": qty,
        "price": price,
    }
    p.update(over)
    return p


def market(side: str, qty: str, **over: str) -> dict[str, str]:
    return {"symbol": SYMBOL, "side": side, "type": "MARKET", "quantity": qty, **over}


def last_position_update(events: list[dict[str, Any]], ps: str = "BOTH") -> str:
    for e in reversed(events):
        if e["e"] == "ACCOUNT_UPDATE":
            for p in e["a"]["P"]:
                if p["s"] == SYMBOL and p["ps"] == ps:
                    return str(p["pa"])
    raise AssertionError("no ACCOUNT_UPDATE for the position")


def test_resting_reduce_only_limit_is_clamped_at_fill_and_never_flips():
    """The reproduced bug: RO SELL 0.5 rests on a long 0.5, other fills cut the long to 0.3,
    the price reaches the LIMIT: 0.3 fills, the position is flat, the remainder EXPIRES."""
    x, acct, events = make_venue()
    x.open_position(acct, SYMBOL, Side.BUY, D("0.500"))
    ro = x.new_order(acct, limit("SELL", "0.500", "66000.0", reduceOnly="true"))
    assert ro["status"] == "NEW"
    x.new_order(acct, market("SELL", "0.200"))  # an ordinary fill reduces the long
    assert amount(x, acct) == D("0.300")
    x.on_price(SYMBOL, last=D("66000.0"), mark=D("66000.0"))
    assert amount(x, acct) == 0
    assert order_events(events, ro["orderId"]) == [
        ("NEW", "NEW", "0"),
        ("TRADE", "PARTIALLY_FILLED", "0.300"),
        ("EXPIRED", "EXPIRED", "0.300"),
    ]
    expired = [e["o"] for e in events if e["e"] == "ORDER_TRADE_UPDATE"][-1]
    assert expired["er"] == "4" and expired["q"] == "0.500" and expired["R"] is True
    assert last_position_update(events) == "0.000"
    queried = x.query_order(acct, {"symbol": SYMBOL, "orderId": str(ro["orderId"])})
    assert (queried["status"], queried["executedQty"]) == ("EXPIRED", "0.300")
    assert x.open_orders(acct, {"symbol": SYMBOL}) == []
    snap = x.snapshot()  # what GET /_venue/snapshot answers for the USD-M side
    assert not [p for a in snap["accounts"] for p in a["positions"] if p["symbol"] == SYMBOL]
    row = next(o for o in snap["orders"] if o["orderId"] == ro["orderId"])
    assert (row["status"], row["executedQty"]) == ("EXPIRED", "0.300")
    x.on_price(SYMBOL, last=D("66100.0"), mark=D("66100.0"))  # nothing left to fill, ever
    assert amount(x, acct) == 0


def test_flat_position_expires_resting_reduce_only_orders_at_once():
    x, acct, events = make_venue()
    x.open_position(acct, SYMBOL, Side.BUY, D("0.500"))
    ro = x.new_order(acct, limit("SELL", "0.500", "66000.0", reduceOnly="true"))
    plain = x.new_order(acct, limit("SELL", "0.100", "67000.0"))  # may open: it stays
    x.new_order(acct, market("SELL", "0.500"))
    assert amount(x, acct) == 0
    assert order_events(events, ro["orderId"])[-1] == ("EXPIRED", "EXPIRED", "0")
    assert [o["orderId"] for o in x.open_orders(acct, {"symbol": SYMBOL})] == [plain["orderId"]]
    x.on_price(SYMBOL, last=D("66000.0"), mark=D("66000.0"))
    assert amount(x, acct) == 0


def test_flip_by_an_ordinary_order_expires_reduce_only_orders_of_the_old_side():
    x, acct, events = make_venue()
    x.open_position(acct, SYMBOL, Side.BUY, D("0.500"))
    ro = x.new_order(acct, limit("SELL", "0.200", "66000.0", reduceOnly="true"))
    x.new_order(acct, market("SELL", "0.800"))  # long 0.5 → short 0.3
    assert amount(x, acct) == D("-0.300")
    assert order_events(events, ro["orderId"])[-1][:2] == ("EXPIRED", "EXPIRED")
    x.on_price(SYMBOL, last=D("66000.0"), mark=D("66000.0"))
    assert amount(x, acct) == D("-0.300")


def test_two_reduce_only_orders_larger_than_the_position_fill_only_the_position():
    x, acct, events = make_venue()
    x.open_position(acct, SYMBOL, Side.BUY, D("0.500"))
    a = x.new_order(acct, limit("SELL", "0.300", "66000.0", reduceOnly="true"))
    b = x.new_order(acct, limit("SELL", "0.300", "66000.0", reduceOnly="true"))
    x.on_price(SYMBOL, last=D("66000.0"), mark=D("66000.0"))
    assert amount(x, acct) == 0
    assert order_events(events, a["orderId"])[-1] == ("TRADE", "FILLED", "0.300")
    assert order_events(events, b["orderId"])[-2:] == [
        ("TRADE", "PARTIALLY_FILLED", "0.200"),
        ("EXPIRED", "EXPIRED", "0.200"),
    ]


def test_take_profit_reduce_only_child_rests_then_clamps_when_the_position_shrinks():
    x, acct, events = make_venue()
    x.open_position(acct, SYMBOL, Side.BUY, D("0.500"))
    tp = x.new_algo_order(
        acct,
        {
            "algoType": "CONDITIONAL",
            "symbol": SYMBOL,
            "side": "SELL",
            "type": "TAKE_PROFIT",
            "quantity": "0.500",
            "triggerPrice": "66000.0",
            "price": "66100.0",
            "timeInForce": "GTC",
            "reduceOnly": "true",
            "clientAlgoId": "exg-tp",
        },
    )
    x.on_price(SYMBOL, last=D("66000.0"), mark=D("66000.0"))  # fires; the child rests at 66100
    child_id = int(x.query_algo_order(acct, {"algoId": str(tp["algoId"])})["actualOrderId"])
    assert x.query_order(acct, {"symbol": SYMBOL, "orderId": str(child_id)})["status"] == "NEW"
    x.new_order(acct, market("SELL", "0.200"))
    x.on_price(SYMBOL, last=D("66100.0"), mark=D("66100.0"))
    assert amount(x, acct) == 0
    assert order_events(events, child_id)[-2:] == [
        ("TRADE", "PARTIALLY_FILLED", "0.300"),
        ("EXPIRED", "EXPIRED", "0.300"),
    ]
    algo = x.query_algo_order(acct, {"algoId": str(tp["algoId"])})
    assert (algo["algoStatus"], algo["actualQty"]) == ("FINISHED", "0.300")


def test_close_position_child_closes_exactly_the_position_left():
    x, acct, _ = make_venue()
    x.open_position(acct, SYMBOL, Side.BUY, D("0.500"))
    x.new_algo_order(
        acct,
        {
            "algoType": "CONDITIONAL",
            "symbol": SYMBOL,
            "side": "SELL",
            "type": "STOP_MARKET",
            "triggerPrice": "64000.0",
            "closePosition": "true",
        },
    )
    x.new_order(acct, market("SELL", "0.200"))
    x.on_price(SYMBOL, last=D("64000.0"), mark=D("64000.0"))
    assert amount(x, acct) == 0


def test_hedge_mode_close_orders_never_open_the_other_side():
    x, acct, events = make_venue(hedge=True)
    long_, short = PositionSide.LONG, PositionSide.SHORT
    x.open_position(acct, SYMBOL, Side.BUY, D("0.500"), position_side=long_)
    with pytest.raises(VenueError) as err:  # nothing to close on SHORT
        x.new_order(acct, limit("BUY", "0.100", "64000.0", positionSide="SHORT"))
    assert err.value.code == -2022
    big = x.new_order(acct, limit("SELL", "0.800", "67000.0", positionSide="LONG"))
    assert big["origQty"] == "0.500"  # clamped at placement too
    close = x.new_order(acct, limit("SELL", "0.500", "66000.0", positionSide="LONG"))
    x.new_order(acct, market("SELL", "0.200", positionSide="LONG"))
    assert amount(x, acct, long_) == D("0.300")
    x.on_price(SYMBOL, last=D("66000.0"), mark=D("66000.0"))
    assert (amount(x, acct, long_), amount(x, acct, short)) == (0, 0)
    assert order_events(events, close["orderId"])[-2:] == [
        ("TRADE", "PARTIALLY_FILLED", "0.300"),
        ("EXPIRED", "EXPIRED", "0.300"),
    ]
    assert order_events(events, big["orderId"])[-1][:2] == ("EXPIRED", "EXPIRED")
    assert last_position_update(events, "LONG") == "0.000"
    x.on_price(SYMBOL, last=D("67000.0"), mark=D("67000.0"))
    assert (amount(x, acct, long_), amount(x, acct, short)) == (0, 0)
    # The control endpoint's "user trade" on the closing side is held to the position as well.
    x.open_position(acct, SYMBOL, Side.SELL, D("0.200"), position_side=short)
    x.open_position(acct, SYMBOL, Side.BUY, D("0.500"), position_side=short)
    assert (amount(x, acct, long_), amount(x, acct, short)) == (0, 0)


# -- property: no reduce-only fill ever flips a position ---------------------------------------

_QTY = st.integers(1, 600).map(lambda n: D(n) / 1000)
_OFFSET = st.integers(-8, 8).map(lambda n: D(n) * 100)  # ± 800 around the last price
_SIDE = st.sampled_from(["BUY", "SELL"])
_CLOSE_SIDE = st.sampled_from(["close", "close", "BUY", "SELL"])  # mostly the useful side
_ACTION = st.one_of(
    st.tuples(st.just("open"), _SIDE, _QTY),
    st.tuples(st.just("ro_limit"), _CLOSE_SIDE, _QTY, _OFFSET),
    st.tuples(st.just("ro_market"), _CLOSE_SIDE, _QTY),
    st.tuples(st.just("ro_algo"), _CLOSE_SIDE, _QTY, _OFFSET, _OFFSET),
    st.tuples(st.just("close_all"), _CLOSE_SIDE, _OFFSET),
    st.tuples(st.just("price"), _OFFSET),
    st.tuples(st.just("price"), _OFFSET),
    st.tuples(st.just("cut"), st.integers(1, 9)),  # an ordinary fill shrinks the position
)


def _closing(o: dict[str, Any]) -> bool:
    return bool(o["R"] or o["cp"]) or (o["ps"], o["S"]) in (("LONG", "SELL"), ("SHORT", "BUY"))


def _open_position(x: UsdmExchange, acct: Any, hedge: bool) -> tuple[Decimal, str]:
    """(signed amount, positionSide) of the open position (LONG first in hedge mode)."""
    longs = amount(x, acct, PositionSide.LONG if hedge else PositionSide.BOTH)
    shorts = amount(x, acct, PositionSide.SHORT) if hedge else longs
    return (longs, "LONG") if longs > 0 else (shorts, "SHORT")


def _run(x: UsdmExchange, acct: Any, hedge: bool, action: tuple[Any, ...]) -> None:
    kind, rest = action[0], action[1:]
    last = x.markets[SYMBOL].last
    extra: dict[str, str]
    if kind == "price":
        price = max(D("60000.0"), min(D("70000.0"), last + rest[0]))
        x.on_price(SYMBOL, last=price, mark=price)
        return
    pos, ps = _open_position(x, acct, hedge)
    if kind == "cut":
        qty = (abs(pos) * rest[0] / 10).quantize(D("0.001"))
        if qty > 0:
            side = "SELL" if pos > 0 else "BUY"
            x.new_order(acct, market(side, str(qty), **({"positionSide": ps} if hedge else {})))
        return
    if rest[0] == "close":
        rest = ("SELL" if pos > 0 else "BUY", *rest[1:])
    side = rest[0]
    if hedge:
        # ordinary trades open; closes name the position they close
        open_ps = "LONG" if side == "BUY" else "SHORT"
        close_ps = "SHORT" if side == "BUY" else "LONG"
        extra = {"positionSide": open_ps if kind == "open" else close_ps}
    else:
        extra = {} if kind in ("open", "close_all") else {"reduceOnly": "true"}
    if kind == "open":
        x.new_order(acct, market(side, str(rest[1]), **extra))
    elif kind == "ro_limit":  # rests away from the market: it fills on a later price step
        away = abs(rest[2]) + 100
        price = last + away if side == "SELL" else last - away
        x.new_order(acct, limit(side, str(rest[1]), str(price), **extra))
    elif kind == "ro_market":
        x.new_order(acct, market(side, str(rest[1]), **extra))
    elif kind == "ro_algo":
        qty, trigger, price = rest[1], last + rest[2], last + rest[3]
        rising = trigger > last
        tp = rising == (side == "SELL")
        x.new_algo_order(
            acct,
            {
                "algoType": "CONDITIONAL",
                "symbol": SYMBOL,
                "side": side,
                "type": "TAKE_PROFIT" if tp else "STOP",
                "quantity": str(qty),
                "triggerPrice": str(trigger),
                "price": str(price),
                "timeInForce": "GTC",
                **extra,
            },
        )
    elif kind == "close_all":
        trigger = last + rest[1]
        tp = (trigger > last) == (side == "SELL")
        x.new_algo_order(
            acct,
            {
                "algoType": "CONDITIONAL",
                "symbol": SYMBOL,
                "side": side,
                "type": "TAKE_PROFIT_MARKET" if tp else "STOP_MARKET",
                "triggerPrice": str(trigger),
                "closePosition": "true",
                **extra,
            },
        )


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,
)
@given(
    hedge=st.booleans(),
    first=st.tuples(st.just("open"), st.sampled_from(["BUY", "SELL"]), _QTY),
    actions=st.lists(_ACTION, min_size=6, max_size=24),
)
def test_reduce_only_fills_never_flip_a_position(
    hedge: bool, first: tuple[Any, ...], actions: list[tuple[Any, ...]]
):
    """Event-sourced: the positions rebuilt from the TRADE events never cross zero on a fill of
    an order that may only reduce; every order's cumulative qty only grows, equals the sum of its
    fills and never passes origQty; nothing follows a terminal event; the rebuilt positions and
    the last ACCOUNT_UPDATEs equal the venue's."""
    x, acct, events = make_venue(hedge)
    for action in [first, *actions]:
        # A refusal at placement (-2022 nothing to reduce, -2021, filters …) changes nothing.
        with contextlib.suppress(VenueError):
            _run(x, acct, hedge, action)
    positions: dict[str, Decimal] = {}
    cum: dict[int, Decimal] = {}
    done: set[int] = set()
    for e in events:
        if e["e"] != "ORDER_TRADE_UPDATE":
            continue
        o = e["o"]
        oid = o["i"]
        assert oid not in done, f"event after a terminal one: {o}"
        if o["x"] == "TRADE":
            qty = D(o["l"])
            before = positions.get(o["ps"], D(0))
            after = before + (qty if o["S"] == "BUY" else -qty)
            positions[o["ps"]] = after
            if _closing(o):
                assert before != 0 and (after == 0 or (after > 0) == (before > 0)), o
            cum[oid] = cum.get(oid, D(0)) + qty
        assert D(o["z"]) == cum.get(oid, D(0)) <= D(o["q"]), o
        if o["X"] in ("FILLED", "CANCELED", "EXPIRED"):
            done.add(oid)
    if hedge:
        assert positions.get("LONG", D(0)) >= 0 >= positions.get("SHORT", D(0))
    reported = {  # the last ACCOUNT_UPDATE of each position agrees with the venue too
        p["ps"]: D(p["pa"]) for e in events if e["e"] == "ACCOUNT_UPDATE" for p in e["a"]["P"]
    }
    for ps in ("BOTH", "LONG", "SHORT"):
        assert positions.get(ps, D(0)) == amount(x, acct, PositionSide(ps))
        assert reported.get(ps, D(0)) == amount(x, acct, PositionSide(ps))
    # No open order that may only reduce is left with nothing to reduce.
    for o in x.open_orders(acct, {"symbol": SYMBOL}):
        if o["reduceOnly"] or (o["positionSide"], o["side"]) in (
            ("LONG", "SELL"),
            ("SHORT", "BUY"),
        ):
            pos = amount(x, acct, PositionSide(o["positionSide"]))
            assert (pos > 0) if o["side"] == "SELL" else (pos < 0), o
