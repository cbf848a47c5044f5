"""One row per validation rule: a valid base order, one change, the exact violations expected.

Rows run through ``check_order`` without quantisation, so filter rules see the raw values.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from exitguard.domain import (
    BINANCE,
    PRIMIT,
    MarketContext,
    OrderKind,
    PositionMode,
    check_order,
)

D = Decimal
HEDGE = MarketContext(position_mode=PositionMode.HEDGE)
NOW = 1_800_000_000_000

ALGO_STOP = {
    "algoType": "CONDITIONAL",
    "symbol": "BTCUSDT",
    "side": "SELL",
    "type": "STOP_MARKET",
    "triggerPrice": "60000.0",
    "quantity": "0.010",
    "reduceOnly": "true",
}
ALGO_TP = {
    "algoType": "CONDITIONAL",
    "symbol": "BTCUSDT",
    "side": "SELL",
    "type": "TAKE_PROFIT",
    "timeInForce": "GTC",
    "quantity": "0.010",
    "price": "70100.0",
    "triggerPrice": "70000.0",
    "reduceOnly": "true",
}
ALGO_TRAIL = {
    "algoType": "CONDITIONAL",
    "symbol": "BTCUSDT",
    "side": "SELL",
    "type": "TRAILING_STOP_MARKET",
    "quantity": "0.010",
    "activatePrice": "70000.0",
    "callbackRate": "1",
    "reduceOnly": "true",
}
FUT_LIMIT = {
    "symbol": "BTCUSDT",
    "side": "SELL",
    "type": "LIMIT",
    "timeInForce": "GTC",
    "quantity": "0.010",
    "price": "70000.0",
    "reduceOnly": "true",
}
SPOT_SLL = {
    "symbol": "BTCUSDT",
    "side": "SELL",
    "type": "STOP_LOSS_LIMIT",
    "timeInForce": "GTC",
    "quantity": "0.01000",
    "price": "59900.00",
    "stopPrice": "60000.00",
}
SPOT_OCO = {
    "symbol": "BTCUSDT",
    "side": "SELL",
    "quantity": "0.01000",
    "aboveType": "LIMIT_MAKER",
    "abovePrice": "70000.00",
    "belowType": "STOP_LOSS_LIMIT",
    "belowStopPrice": "60000.00",
    "belowPrice": "59900.00",
    "belowTimeInForce": "GTC",
}
SPOT_OTOCO = {
    "symbol": "BTCUSDT",
    "workingType": "LIMIT",
    "workingSide": "BUY",
    "workingPrice": "65000.00",
    "workingQuantity": "0.01000",
    "workingTimeInForce": "GTC",
    "pendingSide": "SELL",
    "pendingQuantity": "0.01000",
    "pendingAboveType": "LIMIT_MAKER",
    "pendingAbovePrice": "70000.00",
    "pendingBelowType": "STOP_LOSS",
    "pendingBelowStopPrice": "60000.00",
}


def edit(base: dict[str, str], **changes: str | None) -> dict[str, str]:
    out = dict(base)
    for key, value in changes.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = value
    return out


A, F, S = OrderKind.USDM_ALGO, OrderKind.USDM, OrderKind.SPOT
# (id, kind, params, context, dialect, expected {(code, field)})
ROWS = [
    # -- USD-M algo: mandatory fields and enums
    (
        "algo-missing-triggerPrice",
        A,
        edit(ALGO_STOP, triggerPrice=None),
        None,
        None,
        {(-1102, "triggerPrice")},
    ),
    ("algo-missing-quantity", A, edit(ALGO_STOP, quantity=None), None, None, {(-1102, "quantity")}),
    ("algo-missing-algoType", A, edit(ALGO_STOP, algoType=None), None, None, {(-1102, "algoType")}),
    ("algo-bad-algoType", A, edit(ALGO_STOP, algoType="VP"), None, None, {(-1100, "algoType")}),
    (
        "algo-take-profit-limit",
        A,
        edit(ALGO_TP, type="TAKE_PROFIT_LIMIT"),
        None,
        None,
        {(-1116, "type")},
    ),
    ("algo-bad-side", A, edit(ALGO_STOP, side="HOLD"), None, None, {(-1117, "side")}),
    ("algo-limit-type-needs-price", A, edit(ALGO_TP, price=None), None, None, {(-1102, "price")}),
    (
        "algo-market-type-takes-no-price",
        A,
        edit(ALGO_STOP, price="60000.0"),
        None,
        None,
        {(-1106, "price")},
    ),
    (
        "algo-priceMatch-with-price",
        A,
        edit(ALGO_TP, priceMatch="QUEUE"),
        None,
        None,
        {(-1106, "priceMatch")},
    ),
    (
        "algo-tif-not-offered",
        A,
        edit(ALGO_TP, timeInForce="RPI"),
        None,
        None,
        {(-1115, "timeInForce")},
    ),
    (
        "algo-unknown-param",
        A,
        edit(ALGO_STOP, stopPrice="60000.0"),
        None,
        None,
        {(-1104, "stopPrice")},
    ),
    (
        "algo-exponent-decimal",
        A,
        edit(ALGO_STOP, quantity="1e-2"),
        None,
        None,
        {(-1100, "quantity")},
    ),
    ("algo-negative-price", A, edit(ALGO_TP, price="-1"), None, None, {(-1100, "price")}),
    ("algo-bad-bool", A, edit(ALGO_STOP, reduceOnly="yes"), None, None, {(-1100, "reduceOnly")}),
    # -- closePosition
    (
        "close-with-quantity",
        A,
        edit(ALGO_STOP, reduceOnly=None, closePosition="true"),
        None,
        None,
        {(-4137, "quantity")},
    ),
    (
        "close-with-reduceOnly",
        A,
        edit(ALGO_STOP, quantity=None, closePosition="true"),
        None,
        None,
        {(-1106, "reduceOnly")},
    ),
    (
        "close-on-limit-type",
        A,
        edit(ALGO_TP, quantity=None, reduceOnly=None, closePosition="true"),
        None,
        None,
        {(-1106, "closePosition")},
    ),
    # -- position mode
    (
        "hedge-needs-positionSide",
        A,
        edit(ALGO_STOP, reduceOnly=None),
        HEDGE,
        None,
        {(-4061, "positionSide")},
    ),
    (
        "hedge-refuses-reduceOnly",
        A,
        edit(ALGO_STOP, positionSide="LONG"),
        HEDGE,
        None,
        {(-1106, "reduceOnly")},
    ),
    (
        "hedge-close-sell-short",
        A,
        edit(ALGO_STOP, quantity=None, reduceOnly=None, closePosition="true", positionSide="SHORT"),
        HEDGE,
        None,
        {(-4061, "closePosition")},
    ),
    (
        "one-way-refuses-LONG",
        A,
        edit(ALGO_STOP, positionSide="LONG"),
        None,
        None,
        {(-4061, "positionSide")},
    ),
    (
        "bad-positionSide",
        A,
        edit(ALGO_STOP, positionSide="MIDDLE"),
        None,
        None,
        {(-4060, "positionSide")},
    ),
    # -- trailing
    (
        "trail-missing-callbackRate",
        A,
        edit(ALGO_TRAIL, callbackRate=None),
        None,
        None,
        {(-1102, "callbackRate")},
    ),
    (
        "trail-callbackRate-over-20",
        A,
        edit(ALGO_TRAIL, callbackRate="20.1"),
        None,
        None,
        {(-2007, "callbackRate")},
    ),
    (
        "trail-callbackRate-under-0.1",
        A,
        edit(ALGO_TRAIL, callbackRate="0.09"),
        None,
        None,
        {(-2007, "callbackRate")},
    ),
    ("trail-callbackRate-20-ok", A, edit(ALGO_TRAIL, callbackRate="20"), None, None, set()),
    (
        "trail-takes-no-triggerPrice",
        A,
        edit(ALGO_TRAIL, triggerPrice="70000.0"),
        None,
        None,
        {(-1106, "triggerPrice")},
    ),
    (
        "stop-takes-no-activatePrice",
        A,
        edit(ALGO_STOP, activatePrice="70000.0"),
        None,
        None,
        {(-1106, "activatePrice")},
    ),
    (
        "stop-takes-no-callbackRate",
        A,
        edit(ALGO_STOP, callbackRate="1"),
        None,
        None,
        {(-1106, "callbackRate")},
    ),
    # -- goodTillDate
    (
        "gtd-needs-goodTillDate",
        A,
        edit(ALGO_TP, timeInForce="GTD"),
        None,
        None,
        {(-1102, "goodTillDate")},
    ),
    (
        "goodTillDate-needs-gtd",
        A,
        edit(ALGO_TP, goodTillDate=str(NOW + 3_600_000)),
        None,
        None,
        {(-1106, "goodTillDate")},
    ),
    (
        "gtd-too-soon",
        A,
        edit(ALGO_TP, timeInForce="GTD", goodTillDate=str(NOW + 600_000)),
        MarketContext(now_ms=NOW),
        None,
        {(-5040, "goodTillDate")},
    ),
    (
        "gtd-ok",
        A,
        edit(ALGO_TP, timeInForce="GTD", goodTillDate=str(NOW + 600_001)),
        MarketContext(now_ms=NOW),
        None,
        set(),
    ),
    (
        "gtd-after-year-9999",
        A,
        edit(ALGO_TP, timeInForce="GTD", goodTillDate="253402300799000"),
        None,
        None,
        {(-5040, "goodTillDate")},
    ),
    # -- filters (USD-M codes), reduce-only exemption
    (
        "trigger-off-tick",
        A,
        edit(ALGO_STOP, triggerPrice="60000.05"),
        None,
        None,
        {(-4014, "triggerPrice")},
    ),
    ("price-below-minPrice", A, edit(ALGO_TP, price="500.0"), None, None, {(-4013, "price")}),
    ("price-above-maxPrice", A, edit(ALGO_TP, price="4529764.1"), None, None, {(-4002, "price")}),
    (
        "trigger-above-maxPrice",
        A,
        edit(ALGO_STOP, triggerPrice="4529764.1"),
        None,
        None,
        {(-4007, "triggerPrice")},
    ),
    ("qty-off-step", A, edit(ALGO_STOP, quantity="0.0105"), None, None, {(-4023, "quantity")}),
    ("qty-zero", A, edit(ALGO_STOP, quantity="0"), None, None, {(-4004, "quantity")}),
    (
        "qty-above-market-lot",
        A,
        edit(ALGO_STOP, quantity="121.000"),
        None,
        None,
        {(-4005, "quantity")},
    ),
    (
        "notional-below-min",
        A,
        edit(ALGO_STOP, reduceOnly=None, quantity="0.001", triggerPrice="40000.0"),
        None,
        None,
        {(-4164, "quantity")},
    ),
    (
        "notional-reduce-only-exempt",
        A,
        edit(ALGO_STOP, quantity="0.001", triggerPrice="40000.0"),
        None,
        None,
        set(),
    ),
    # -- would immediately trigger (-2021), equality fires, mark truncated to the tick
    (
        "stop-at-last-price",
        A,
        ALGO_STOP,
        MarketContext(last_price=D("60000.0")),
        None,
        {(-2021, "triggerPrice")},
    ),
    ("stop-below-last-ok", A, ALGO_STOP, MarketContext(last_price=D("60000.1")), None, set()),
    (
        "tp-mark-truncated-no-fire",
        A,
        edit(ALGO_TP, workingType="MARK_PRICE"),
        MarketContext(mark_price=D("69999.99")),
        None,
        set(),
    ),
    (
        "tp-mark-at-trigger-fires",
        A,
        edit(ALGO_TP, workingType="MARK_PRICE"),
        MarketContext(mark_price=D("70000.00001")),
        None,
        {(-2021, "triggerPrice")},
    ),
    (
        "trail-activation-wrong-side",
        A,
        ALGO_TRAIL,
        MarketContext(last_price=D("70000.0")),
        None,
        {(-2021, "activatePrice")},
    ),
    # -- ids and counts
    (
        "algo-bad-client-id",
        A,
        edit(ALGO_STOP, clientAlgoId="bad id!"),
        None,
        None,
        {(-4015, "clientAlgoId")},
    ),
    (
        "algo-client-id-37-chars",
        A,
        edit(ALGO_STOP, clientAlgoId="x" * 37),
        None,
        None,
        {(-4015, "clientAlgoId")},
    ),
    (
        "algo-account-cap-200",
        A,
        ALGO_STOP,
        MarketContext(open_algo_orders=200),
        None,
        {(-4045, None)},
    ),
    ("max-num-orders", A, ALGO_STOP, MarketContext(open_orders=200), None, {(-2025, None)}),
    ("unknown-symbol", A, edit(ALGO_STOP, symbol="NOPEUSDT"), None, None, {(-1121, "symbol")}),
    # -- primit dialect (seed 003)
    (
        "primit-stopPrice-alias",
        A,
        edit(ALGO_STOP, triggerPrice=None, stopPrice="60000.0", algoType=None),
        None,
        PRIMIT,
        set(),
    ),
    (
        "primit-one-way-only",
        A,
        edit(ALGO_STOP, positionSide="LONG"),
        None,
        PRIMIT,
        {(-1130, "positionSide")},
    ),
    (
        "primit-quoteOrderQty-and-quantity",
        A,
        edit(ALGO_STOP, quoteOrderQty="600"),
        None,
        PRIMIT,
        {(-1106, "quoteOrderQty")},
    ),
    (
        "primit-quoteOrderQty-below-one-lot",
        A,
        edit(ALGO_STOP, quantity=None, quoteOrderQty="10"),
        None,
        PRIMIT,
        {(-1013, "quoteOrderQty")},
    ),
    (
        "primit-quoteOrderQty-ok",
        A,
        edit(ALGO_STOP, quantity=None, quoteOrderQty="600"),
        None,
        PRIMIT,
        set(),
    ),
    (
        "binance-refuses-quoteOrderQty",
        A,
        edit(ALGO_STOP, quantity=None, quoteOrderQty="600"),
        None,
        None,
        {(-1106, "quoteOrderQty")},
    ),
    (
        "primit-callbackRate-max-10",
        A,
        edit(ALGO_TRAIL, callbackRate="10.5"),
        None,
        PRIMIT,
        {(-1100, "callbackRate")},
    ),
    (
        "primit-close-with-quantity",
        A,
        edit(ALGO_STOP, reduceOnly=None, closePosition="true"),
        None,
        PRIMIT,
        {(-1106, "quantity")},
    ),
    ("primit-tif-coerced-to-gtc", A, edit(ALGO_TP, timeInForce="RPI"), None, PRIMIT, set()),
    (
        "primit-gtd-at-600s-ok",
        A,
        edit(ALGO_TP, timeInForce="GTD", goodTillDate=str(NOW + 600_000)),
        MarketContext(now_ms=NOW),
        PRIMIT,
        set(),
    ),
    # -- USD-M regular orders
    (
        "fut-conditional-is-4120",
        F,
        edit(
            FUT_LIMIT, type="TAKE_PROFIT_MARKET", stopPrice="70000.0", price=None, timeInForce=None
        ),
        None,
        None,
        {(-4120, "type")},
    ),
    ("fut-limit-needs-price", F, edit(FUT_LIMIT, price=None), None, None, {(-1102, "price")}),
    (
        "fut-limit-needs-tif",
        F,
        edit(FUT_LIMIT, timeInForce=None),
        None,
        None,
        {(-1102, "timeInForce")},
    ),
    (
        "fut-market-takes-no-price",
        F,
        edit(FUT_LIMIT, type="MARKET", timeInForce=None),
        None,
        None,
        {(-1106, "price")},
    ),
    (
        "fut-limit-takes-no-stopPrice",
        F,
        edit(FUT_LIMIT, stopPrice="60000.0"),
        None,
        None,
        {(-1106, "stopPrice")},
    ),
    (
        "fut-percent-price-sell-floor",
        F,
        edit(FUT_LIMIT, price="60000.0"),
        MarketContext(mark_price=D("65000")),
        None,
        {(-4024, "price")},
    ),
    (
        "fut-percent-price-buy-cap",
        F,
        edit(FUT_LIMIT, side="BUY", price="70000.0"),
        MarketContext(mark_price=D("65000")),
        None,
        {(-4016, "price")},
    ),
    (
        "fut-notional",
        F,
        edit(FUT_LIMIT, reduceOnly=None, quantity="0.001", price="40000.0"),
        None,
        None,
        {(-4164, "quantity")},
    ),
    (
        "fut-bad-client-id",
        F,
        edit(FUT_LIMIT, newClientOrderId="a b"),
        None,
        None,
        {(-4015, "newClientOrderId")},
    ),
    (
        "primit-conditional-on-order-endpoint",
        F,
        edit(FUT_LIMIT, type="STOP_MARKET", stopPrice="60000.0", price=None, timeInForce=None),
        None,
        PRIMIT,
        set(),
    ),
    (
        "primit-legacy-names-in-messages",
        F,
        edit(FUT_LIMIT, type="STOP_MARKET", price=None, timeInForce=None),
        None,
        PRIMIT,
        {(-1102, "stopPrice")},
    ),
    # -- Spot orders
    ("spot-sll-needs-price", S, edit(SPOT_SLL, price=None), None, None, {(-1102, "price")}),
    (
        "spot-sll-needs-tif",
        S,
        edit(SPOT_SLL, timeInForce=None),
        None,
        None,
        {(-1102, "timeInForce")},
    ),
    (
        "spot-stop-needs-stop-or-trailing",
        S,
        edit(SPOT_SLL, stopPrice=None),
        None,
        None,
        {(-1102, "stopPrice")},
    ),
    (
        "spot-trailing-instead-of-stop-ok",
        S,
        edit(SPOT_SLL, stopPrice=None, trailingDelta="100"),
        None,
        None,
        set(),
    ),
    (
        "spot-stop-loss-takes-no-price",
        S,
        edit(SPOT_SLL, type="STOP_LOSS", timeInForce=None),
        None,
        None,
        {(-1106, "price")},
    ),
    (
        "spot-market-takes-no-stop",
        S,
        edit(SPOT_SLL, type="MARKET", price=None, timeInForce=None),
        None,
        None,
        {(-1106, "stopPrice")},
    ),
    (
        "spot-market-needs-size",
        S,
        {"symbol": "BTCUSDT", "side": "SELL", "type": "MARKET"},
        None,
        None,
        {(-1102, "quantity")},
    ),
    ("spot-tif-gtx", S, edit(SPOT_SLL, timeInForce="GTX"), None, None, {(-1115, "timeInForce")}),
    ("spot-price-off-tick", S, edit(SPOT_SLL, price="59900.005"), None, None, {(-1013, "price")}),
    (
        "spot-qty-off-step",
        S,
        edit(SPOT_SLL, quantity="0.010005"),
        None,
        None,
        {(-1013, "quantity")},
    ),
    ("spot-notional", S, edit(SPOT_SLL, quantity="0.00001"), None, None, {(-1013, "quantity")}),
    (
        "spot-legacy-min-notional",
        S,
        edit(SPOT_SLL, symbol="SOLUSDT", quantity="0.010", price="150.00", stopPrice="151.00"),
        None,
        None,
        {(-1013, "quantity")},
    ),
    (
        "spot-trailing-below-bounds",
        S,
        edit(SPOT_SLL, trailingDelta="5"),
        None,
        None,
        {(-1013, "trailingDelta")},
    ),
    (
        "spot-trailing-above-bounds",
        S,
        edit(SPOT_SLL, side="BUY", price="60100.00", trailingDelta="2001"),
        None,
        None,
        {(-1013, "trailingDelta")},
    ),
    (
        "spot-stop-at-last",
        S,
        SPOT_SLL,
        MarketContext(last_price=D("60000.00")),
        None,
        {(-2010, "stopPrice")},
    ),
    (
        "spot-trailing-only-never-immediate",
        S,
        edit(SPOT_SLL, stopPrice=None, trailingDelta="100"),
        MarketContext(last_price=D("60000.00")),
        None,
        set(),
    ),
    (
        "spot-percent-price-by-side",
        S,
        SPOT_SLL,
        MarketContext(last_price=D("400000")),
        None,
        {(-1013, "price")},
    ),
    (
        "spot-client-id-no-colon",
        S,
        edit(SPOT_SLL, newClientOrderId="exg:1"),
        None,
        None,
        {(-1100, "newClientOrderId")},
    ),
    ("spot-max-num-orders", S, SPOT_SLL, MarketContext(open_orders=200), None, {(-1013, None)}),
    (
        "spot-max-num-algo-orders",
        S,
        SPOT_SLL,
        MarketContext(open_algo_orders=5),
        None,
        {(-1013, None)},
    ),
    # -- Spot OCO
    ("oco-valid", OrderKind.SPOT_OCO, SPOT_OCO, MarketContext(last_price=D("65000")), None, set()),
    (
        "oco-buy-valid",
        OrderKind.SPOT_OCO,
        edit(
            SPOT_OCO,
            side="BUY",
            aboveType="STOP_LOSS",
            abovePrice=None,
            aboveStopPrice="70000.00",
            belowType="LIMIT_MAKER",
            belowStopPrice=None,
            belowTimeInForce=None,
            belowPrice="60000.00",
        ),
        MarketContext(last_price=D("65000")),
        None,
        set(),
    ),
    (
        "oco-stop-above-on-sell",
        OrderKind.SPOT_OCO,
        edit(
            SPOT_OCO,
            aboveType="STOP_LOSS",
            abovePrice=None,
            aboveStopPrice="70000.00",
            belowType="LIMIT_MAKER",
            belowStopPrice=None,
            belowTimeInForce=None,
            belowPrice="60000.00",
        ),
        None,
        None,
        {(-1197, "aboveType"), (-1166, "belowType")},
    ),
    (
        "oco-both-limit",
        OrderKind.SPOT_OCO,
        edit(SPOT_OCO, belowType="LIMIT_MAKER", belowStopPrice=None, belowTimeInForce=None),
        None,
        None,
        {(-1168, "aboveType")},
    ),
    (
        "oco-leg-market",
        OrderKind.SPOT_OCO,
        edit(SPOT_OCO, aboveType="MARKET", abovePrice=None),
        None,
        None,
        {(-1158, "aboveType")},
    ),
    (
        "oco-prices-crossed",
        OrderKind.SPOT_OCO,
        edit(SPOT_OCO, abovePrice="59000.00"),
        None,
        None,
        {(-2010, None)},
    ),
    (
        "oco-last-outside",
        OrderKind.SPOT_OCO,
        SPOT_OCO,
        MarketContext(last_price=D("71000")),
        None,
        {(-2010, None)},
    ),
    (
        "oco-leg-off-tick",
        OrderKind.SPOT_OCO,
        edit(SPOT_OCO, abovePrice="70000.001"),
        None,
        None,
        {(-1013, "abovePrice")},
    ),
    (
        "oco-leg-needs-tif",
        OrderKind.SPOT_OCO,
        edit(SPOT_OCO, belowTimeInForce=None),
        None,
        None,
        {(-1102, "belowTimeInForce")},
    ),
    (
        "oco-counts-two",
        OrderKind.SPOT_OCO,
        SPOT_OCO,
        MarketContext(open_orders=199),
        None,
        {(-1013, None)},
    ),
    # -- OTO / OTOCO
    (
        "otoco-valid",
        OrderKind.SPOT_OTOCO,
        SPOT_OTOCO,
        MarketContext(last_price=D("65500")),
        None,
        set(),
    ),
    (
        "otoco-working-must-be-limit",
        OrderKind.SPOT_OTOCO,
        edit(SPOT_OTOCO, workingType="MARKET", workingPrice=None, workingTimeInForce=None),
        None,
        None,
        {(-1116, "workingType")},
    ),
    (
        "otoco-pending-needs-stop",
        OrderKind.SPOT_OTOCO,
        edit(SPOT_OTOCO, pendingBelowStopPrice=None),
        None,
        None,
        {(-1102, "pendingBelowStopPrice")},
    ),
    (
        "otoco-counts-three",
        OrderKind.SPOT_OTOCO,
        SPOT_OTOCO,
        MarketContext(open_orders=198),
        None,
        {(-1013, None)},
    ),
    (
        "oto-valid",
        OrderKind.SPOT_OTO,
        {
            "symbol": "BTCUSDT",
            "workingType": "LIMIT_MAKER",
            "workingSide": "BUY",
            "workingPrice": "65000.00",
            "workingQuantity": "0.01000",
            "pendingType": "STOP_LOSS",
            "pendingSide": "SELL",
            "pendingQuantity": "0.01000",
            "pendingStopPrice": "60000.00",
        },
        None,
        None,
        set(),
    ),
]


@pytest.mark.parametrize(
    ("kind", "params", "ctx", "dialect", "expected"),
    [pytest.param(*row[1:], id=row[0]) for row in ROWS],
)
def test_rule(kind, params, ctx, dialect, expected, usdm, spot):
    exchange = usdm if kind.product.value == "usdm" else spot
    result = check_order(kind, params, exchange, ctx, dialect or BINANCE, quantize=False)
    got = {(v.code, v.field) for v in result.violations}
    assert got == expected, [v.message for v in result.violations]
    for v in result.violations:
        # Every message names the field it is about and a rule.
        assert v.rule
        if v.field is not None:
            assert v.field in v.message or v.field.lower() in v.message.lower()


def test_symbol_flags(spot):
    rules = spot.get("BTCUSDT")
    from exitguard.domain import SpotOcoRequest, SpotOrderRequest
    from exitguard.domain.validation import validate_spot_oco, validate_spot_order

    trailing = SpotOrderRequest.from_params(edit(SPOT_SLL, trailingDelta="100")).request
    no_trailing = replace(rules, allow_trailing_stop=False)
    assert [(v.code, v.field) for v in validate_spot_order(trailing, no_trailing)] == [
        (-2010, "trailingDelta")
    ]
    oco = SpotOcoRequest.from_params(SPOT_OCO).request
    assert [
        (v.code, v.rule) for v in validate_spot_oco(oco, replace(rules, oco_allowed=False))
    ] == [(-2010, "symbol.ocoAllowed")]
    halted = replace(rules, status="HALT")
    assert [v.code for v in validate_spot_order(trailing, halted)] == [-2010]


@pytest.mark.parametrize("quantity", ["NaN", "0.0000001"])
def test_oco_shared_quantity_fault_is_reported_once(spot, quantity):
    """Both legs carry the list's quantity; its fault is one violation, not one per leg."""
    from exitguard.domain import SpotOcoRequest
    from exitguard.domain.validation import validate_spot_oco

    oco = replace(SpotOcoRequest.from_params(SPOT_OCO).request, quantity=D(quantity))
    got = validate_spot_oco(oco, spot.get("BTCUSDT"))
    quantity_rules = [v.rule for v in got if v.field == "quantity" and "LOT_SIZE" in v.rule]
    decimal_rules = [v.rule for v in got if v.rule == "quantity.decimal"]
    assert len(got) == len(set(got))
    if quantity == "NaN":
        assert decimal_rules == ["quantity.decimal"] and quantity_rules == []
    else:
        assert sorted(quantity_rules) == ["LOT_SIZE.minQty", "LOT_SIZE.stepSize"]
