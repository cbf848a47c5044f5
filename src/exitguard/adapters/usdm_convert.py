"""USD-M REST answers (plain JSON, wire names) → the port's snapshot dataclasses.

Field reading (lenient and strict where each matters) is :mod:`.answer_fields`, shared with
Spot; here only the USD-M shapes: ``actualOrderId`` as a string, ``""`` until triggered, and
``positionSide`` defaulting to ``BOTH``. A shape the adapter cannot read becomes
``UnknownOutcome`` at the caller.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from exitguard.domain.enums import PositionMode, PositionSide

from .answer_fields import (
    ShapeError,
    as_list,
    as_mapping,
    side_field,
    text_field,
    to_bool,
    to_decimal,
    to_int,
    to_opt_int,
)
from .port import AlgoOrderSnapshot, OrderSnapshot, PositionSnapshot, PriceSnapshot

__all__ = [
    "algo_snapshot",
    "order_snapshot",
    "position_mode",
    "position_snapshots",
    "price_snapshot",
]


def _position_side(obj: Mapping[str, Any]) -> PositionSide:
    raw = obj.get("positionSide") or "BOTH"
    try:
        return PositionSide(raw)
    except ValueError:
        raise ShapeError(f"unknown positionSide {raw!r}") from None


def algo_snapshot(obj: object) -> AlgoOrderSnapshot:
    """``POST``/``GET /fapi/v1/algoOrder`` and ``openAlgoOrders`` rows."""
    d = as_mapping(obj)
    return AlgoOrderSnapshot(
        algo_id=to_int(d.get("algoId")),
        client_algo_id=text_field(d, "clientAlgoId"),
        symbol=text_field(d, "symbol"),
        side=side_field(d),
        position_side=_position_side(d),
        order_type=text_field(d, "orderType"),
        status=text_field(d, "algoStatus"),
        quantity=to_decimal(d.get("quantity")),
        trigger_price=to_decimal(d.get("triggerPrice")),
        close_position=to_bool(d.get("closePosition")),
        reduce_only=to_bool(d.get("reduceOnly")),
        update_time_ms=to_int(d.get("updateTime"), to_int(d.get("createTime"), 0)),
        actual_order_id=to_opt_int(d.get("actualOrderId")),
        raw=dict(d),
    )


def order_snapshot(obj: object) -> OrderSnapshot:
    """``POST``/``GET``/``DELETE /fapi/v1/order`` and ``openOrders`` rows."""
    d = as_mapping(obj)
    return OrderSnapshot(
        order_id=to_int(d.get("orderId")),
        client_order_id=text_field(d, "clientOrderId"),
        symbol=text_field(d, "symbol"),
        side=side_field(d),
        position_side=_position_side(d),
        order_type=text_field(d, "type"),
        status=text_field(d, "status"),
        quantity=to_decimal(d.get("origQty")),
        executed_quantity=to_decimal(d.get("executedQty")),
        price=to_decimal(d.get("price")),
        reduce_only=to_bool(d.get("reduceOnly")),
        update_time_ms=to_int(d.get("updateTime"), to_int(d.get("time"), 0)),
        raw=dict(d),
    )


def position_snapshots(rows: object) -> list[PositionSnapshot]:
    """``GET /fapi/v3/positionRisk``; rows with a zero amount are not positions."""
    out: list[PositionSnapshot] = []
    for row in as_list(rows):
        d = as_mapping(row)
        amount = to_decimal(d.get("positionAmt"))
        if amount.is_zero():
            continue
        out.append(
            PositionSnapshot(
                symbol=text_field(d, "symbol"),
                position_side=_position_side(d),
                amount=amount,
                entry_price=to_decimal(d.get("entryPrice")),
                update_time_ms=to_int(d.get("updateTime"), 0),
                liquidation_price=to_decimal(d.get("liquidationPrice") or "0") or None,
            )
        )
    return out


def _for_symbol(obj: object, symbol: str) -> Mapping[str, Any]:
    """One row for ``symbol`` from an answer that is an object or (all symbols) a list."""
    if isinstance(obj, list):
        for row in obj:
            if isinstance(row, Mapping) and row.get("symbol") == symbol:
                return row
        raise ShapeError(f"no row for {symbol}")
    return as_mapping(obj)


def price_snapshot(symbol: str, ticker: object, premium: object) -> PriceSnapshot:
    """``GET /fapi/v1/ticker/price`` (last) + ``GET /fapi/v1/premiumIndex`` (mark)."""
    last = to_decimal(_for_symbol(ticker, symbol).get("price"))
    mark = to_decimal(_for_symbol(premium, symbol).get("markPrice"))
    if last <= 0 or mark <= 0:
        raise ShapeError(f"no price for {symbol}")
    return PriceSnapshot(symbol=symbol, last=last, mark=mark)


def position_mode(obj: object) -> PositionMode:
    """``GET /fapi/v1/positionSide/dual``: ``dualSidePosition`` true = hedge mode."""
    dual = as_mapping(obj).get("dualSidePosition")
    return PositionMode.HEDGE if to_bool(dual) else PositionMode.ONE_WAY
