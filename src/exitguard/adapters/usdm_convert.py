"""USD-M REST answers (plain JSON, wire names) → the port's snapshot dataclasses.

Lenient where Binance is inconsistent (numbers as strings or JSON numbers, ``""`` for "none",
``actualOrderId`` as a string), strict where a wrong value would mislead the manager (an unknown
``side`` raises). A shape the adapter cannot read becomes ``UnknownOutcome`` at the caller: the
request may have been applied even though its answer is unreadable.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from exitguard.domain.enums import PositionMode, PositionSide, Side

from .port import AlgoOrderSnapshot, OrderSnapshot, PositionSnapshot, PriceSnapshot

__all__ = [
    "ShapeError",
    "algo_snapshot",
    "as_list",
    "as_mapping",
    "order_snapshot",
    "position_mode",
    "position_snapshots",
    "price_snapshot",
]

ZERO = Decimal(0)


class ShapeError(ValueError):
    """A venue answer without a field the snapshot needs, or with an unreadable value."""


def _dec(value: object) -> Decimal:
    if value is None or value == "":
        return ZERO
    if isinstance(value, bool):
        raise ShapeError(f"expected a decimal, got {value!r}")
    try:
        out = Decimal(str(value))
    except InvalidOperation:
        raise ShapeError(f"expected a decimal, got {value!r}") from None
    if not out.is_finite():
        raise ShapeError(f"expected a finite decimal, got {value!r}")
    return out


def _int(value: object, default: int | None = None) -> int:
    if value is None or value == "":
        if default is None:
            raise ShapeError("missing integer")
        return default
    if isinstance(value, bool):
        raise ShapeError(f"expected an integer, got {value!r}")
    try:
        return int(str(value))
    except ValueError:
        raise ShapeError(f"expected an integer, got {value!r}") from None


def _opt_int(value: object) -> int | None:
    """``actualOrderId``: ``""`` (or 0) until the algo order triggered."""
    if value is None or value == "" or value == 0 or value == "0":
        return None
    return _int(value)


def _bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    if value is None:
        return False
    raise ShapeError(f"expected a boolean, got {value!r}")


def _str(obj: Mapping[str, Any], name: str) -> str:
    value = obj.get(name)
    if not isinstance(value, str) or not value:
        raise ShapeError(f"missing {name}")
    return value


def _position_side(obj: Mapping[str, Any]) -> PositionSide:
    raw = obj.get("positionSide") or "BOTH"
    try:
        return PositionSide(raw)
    except ValueError:
        raise ShapeError(f"unknown positionSide {raw!r}") from None


def _side(obj: Mapping[str, Any]) -> Side:
    raw = obj.get("side")
    try:
        return Side(str(raw))
    except ValueError:
        raise ShapeError(f"unknown side {raw!r}") from None


def as_mapping(obj: object) -> Mapping[str, Any]:
    if not isinstance(obj, Mapping):
        raise ShapeError(f"expected an object, got {type(obj).__name__}")
    return obj


def as_list(obj: object) -> list[Any]:
    if not isinstance(obj, list):
        raise ShapeError(f"expected a list, got {type(obj).__name__}")
    return obj


def algo_snapshot(obj: object) -> AlgoOrderSnapshot:
    """``POST``/``GET /fapi/v1/algoOrder`` and ``openAlgoOrders`` rows."""
    d = as_mapping(obj)
    return AlgoOrderSnapshot(
        algo_id=_int(d.get("algoId")),
        client_algo_id=_str(d, "clientAlgoId"),
        symbol=_str(d, "symbol"),
        side=_side(d),
        position_side=_position_side(d),
        order_type=_str(d, "orderType"),
        status=_str(d, "algoStatus"),
        quantity=_dec(d.get("quantity")),
        trigger_price=_dec(d.get("triggerPrice")),
        close_position=_bool(d.get("closePosition")),
        reduce_only=_bool(d.get("reduceOnly")),
        update_time_ms=_int(d.get("updateTime"), _int(d.get("createTime"), 0)),
        actual_order_id=_opt_int(d.get("actualOrderId")),
        raw=dict(d),
    )


def order_snapshot(obj: object) -> OrderSnapshot:
    """``POST``/``GET``/``DELETE /fapi/v1/order`` and ``openOrders`` rows."""
    d = as_mapping(obj)
    return OrderSnapshot(
        order_id=_int(d.get("orderId")),
        client_order_id=_str(d, "clientOrderId"),
        symbol=_str(d, "symbol"),
        side=_side(d),
        position_side=_position_side(d),
        order_type=_str(d, "type"),
        status=_str(d, "status"),
        quantity=_dec(d.get("origQty")),
        executed_quantity=_dec(d.get("executedQty")),
        price=_dec(d.get("price")),
        reduce_only=_bool(d.get("reduceOnly")),
        update_time_ms=_int(d.get("updateTime"), _int(d.get("time"), 0)),
        raw=dict(d),
    )


def position_snapshots(rows: object) -> list[PositionSnapshot]:
    """``GET /fapi/v3/positionRisk``; rows with a zero amount are not positions."""
    out: list[PositionSnapshot] = []
    for row in as_list(rows):
        d = as_mapping(row)
        amount = _dec(d.get("positionAmt"))
        if amount.is_zero():
            continue
        out.append(
            PositionSnapshot(
                symbol=_str(d, "symbol"),
                position_side=_position_side(d),
                amount=amount,
                entry_price=_dec(d.get("entryPrice")),
                update_time_ms=_int(d.get("updateTime"), 0),
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
    last = _dec(_for_symbol(ticker, symbol).get("price"))
    mark = _dec(_for_symbol(premium, symbol).get("markPrice"))
    if last <= 0 or mark <= 0:
        raise ShapeError(f"no price for {symbol}")
    return PriceSnapshot(symbol=symbol, last=last, mark=mark)


def position_mode(obj: object) -> PositionMode:
    """``GET /fapi/v1/positionSide/dual``: ``dualSidePosition`` true = hedge mode."""
    dual = as_mapping(obj).get("dualSidePosition")
    return PositionMode.HEDGE if _bool(dual) else PositionMode.ONE_WAY
