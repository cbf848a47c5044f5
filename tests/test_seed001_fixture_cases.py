"""Seed 001 "Fixture cases" for request shapes: the four that concern building requests."""

from __future__ import annotations

from decimal import Decimal

from exitguard.domain import (
    AlgoOrderRequest,
    AlgoOrderType,
    ClientIdGenerator,
    MarketContext,
    OrderKind,
    PositionMode,
    PositionSide,
    Side,
    TimeInForce,
    WorkingType,
    check_order,
)
from exitguard.domain.validation import validate_algo_order

GEN = ClientIdGenerator()


def test_valid_explicit_conditional_take_profit(usdm):
    client_id = GEN.algo_id()
    req = AlgoOrderRequest(
        symbol="BTCUSDT",
        side=Side.SELL,
        position_side=PositionSide.BOTH,
        type=AlgoOrderType.TAKE_PROFIT,
        time_in_force=TimeInForce.GTC,
        quantity=Decimal("0.010"),
        price=Decimal("70100.0"),
        trigger_price=Decimal("70000.0"),
        working_type=WorkingType.MARK_PRICE,
        price_protect=True,
        reduce_only=True,  # valid in one-way mode
        client_algo_id=client_id,
    )
    ctx = MarketContext(last_price=Decimal("65000"), mark_price=Decimal("65000"))
    assert validate_algo_order(req, usdm.get("BTCUSDT"), ctx) == []
    assert req.to_params() == {
        "algoType": "CONDITIONAL",
        "symbol": "BTCUSDT",
        "side": "SELL",
        "positionSide": "BOTH",
        "type": "TAKE_PROFIT",
        "timeInForce": "GTC",
        "quantity": "0.010",
        "price": "70100.0",
        "triggerPrice": "70000.0",
        "workingType": "MARK_PRICE",
        "priceProtect": "true",
        "reduceOnly": "true",
        "clientAlgoId": client_id,
    }


def test_take_profit_reduce_only_refused_in_hedge_mode(usdm):
    """ "Only account-mode-valid optional reduceOnly fields": hedge mode takes positionSide only."""
    base = dict(
        symbol="BTCUSDT",
        side=Side.SELL,
        type=AlgoOrderType.TAKE_PROFIT,
        quantity=Decimal("0.010"),
        price=Decimal("70100.0"),
        trigger_price=Decimal("70000.0"),
    )
    hedge = MarketContext(position_mode=PositionMode.HEDGE)
    with_reduce = AlgoOrderRequest(**base, position_side=PositionSide.LONG, reduce_only=True)
    without = AlgoOrderRequest(**base, position_side=PositionSide.LONG)
    rules = usdm.get("BTCUSDT")
    assert [(v.code, v.field) for v in validate_algo_order(with_reduce, rules, hedge)] == [
        (-1106, "reduceOnly")
    ]
    assert validate_algo_order(without, rules, hedge) == []


def test_valid_close_position_stop_market(usdm):
    params = {
        "algoType": "CONDITIONAL",
        "symbol": "BTCUSDT",
        "side": "SELL",
        "positionSide": "BOTH",
        "type": "STOP_MARKET",
        "triggerPrice": "60000.0",
        "workingType": "MARK_PRICE",
        "priceProtect": "true",
        "closePosition": "true",
        "clientAlgoId": str(GEN.algo_id()),
    }
    result = check_order(
        OrderKind.USDM_ALGO, params, usdm, MarketContext(mark_price=Decimal("65000"))
    )
    assert result.violations == []
    assert result.params == params
    assert "quantity" not in result.params and "reduceOnly" not in result.params


def test_invalid_strategy_language_take_profit_limit(usdm):
    params = {
        "algoType": "CONDITIONAL",
        "symbol": "BTCUSDT",
        "side": "SELL",
        "type": "TAKE_PROFIT_LIMIT",
        "quantity": "0.010",
        "price": "70100.0",
        "triggerPrice": "70000.0",
    }
    result = check_order(OrderKind.USDM_ALGO, params, usdm)
    assert not result.ok
    assert [(v.code, v.field) for v in result.violations] == [(-1116, "type")]
    assert "TAKE_PROFIT_LIMIT" in result.violations[0].message


def test_invalid_close_position_field_mix(usdm):
    base = {
        "algoType": "CONDITIONAL",
        "symbol": "BTCUSDT",
        "side": "SELL",
        "type": "STOP_MARKET",
        "triggerPrice": "60000.0",
        "closePosition": "true",
    }
    both = check_order(
        OrderKind.USDM_ALGO, {**base, "quantity": "0.010", "reduceOnly": "true"}, usdm
    )
    assert {(v.code, v.field) for v in both.violations} == {
        (-4137, "quantity"),
        (-1106, "reduceOnly"),
    }
    qty_only = check_order(OrderKind.USDM_ALGO, {**base, "quantity": "0.010"}, usdm)
    assert [(v.code, v.field) for v in qty_only.violations] == [(-4137, "quantity")]
    reduce_only = check_order(OrderKind.USDM_ALGO, {**base, "reduceOnly": "true"}, usdm)
    assert [(v.code, v.field) for v in reduce_only.violations] == [(-1106, "reduceOnly")]


def test_conditional_type_on_regular_endpoint_is_minus_4120(usdm):
    params = {
        "symbol": "BTCUSDT",
        "side": "SELL",
        "type": "STOP_MARKET",
        "stopPrice": "60000",
        "quantity": "0.010",
        "reduceOnly": "true",
    }
    result = check_order(OrderKind.USDM, params, usdm)
    assert [v.code for v in result.violations] == [-4120]
    assert result.violations[0].message.startswith(
        "Order type not supported for this endpoint. "
        "Please use the Algo Order API endpoints instead."
    )
