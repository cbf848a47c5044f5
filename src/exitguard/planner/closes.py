"""The one-shot closes of a plan: the time stop's and the liquidation guard's. Pure.

Each is sent once per position (the manager records it in ``PositionProgress.fired``); both
are reduce-only on USD-M (hedge mode: ``positionSide``, no ``reduceOnly``), a SELL of the
balance on Spot.
"""

from __future__ import annotations

from decimal import Decimal

from exitguard.domain.enums import (
    FuturesOrderType,
    PositionMode,
    Product,
    SpotOrderType,
    TimeInForce,
)
from exitguard.domain.filters import SymbolRules
from exitguard.domain.quantize import exit_limit_rounding, quantize_exit_quantity, quantize_price
from exitguard.domain.requests import FuturesOrderRequest, SpotOrderRequest

from .build import close_now_request
from .model import Position, exit_side_for
from .policy import LiquidationGuard, TimeStop

__all__ = ["liquidation_close_request", "time_stop_request"]

_HUNDRED = Decimal(100)


def time_stop_request(
    pos: Position,
    ts: TimeStop,
    rules: SymbolRules,
    mode: PositionMode,
    mark: Decimal | None,
) -> FuturesOrderRequest | SpotOrderRequest | None:
    """A MARKET close of the whole position, or a LIMIT ``limit_offset_percent`` beyond the
    mark, worse for the trader so that it fills (None: a LIMIT is asked and no mark is known)."""
    if ts.limit_offset_percent is None:
        return close_now_request(pos, rules, mode)
    if mark is None:
        return None
    side = exit_side_for(pos)
    sign = -1 if pos.is_long else 1  # a long sells below the mark, a short buys above it
    price = quantize_price(
        mark * (_HUNDRED + sign * ts.limit_offset_percent) / _HUNDRED,
        rules,
        exit_limit_rounding(side),
    )
    qty = quantize_exit_quantity(pos.size, rules)
    if pos.product is Product.USDM:
        hedge = mode is PositionMode.HEDGE
        return FuturesOrderRequest(
            symbol=pos.symbol,
            side=side,
            type=FuturesOrderType.LIMIT,
            position_side=pos.position_side if hedge else None,
            time_in_force=TimeInForce.GTC,
            quantity=qty,
            price=price,
            reduce_only=None if hedge else True,
        )
    return SpotOrderRequest(
        symbol=pos.symbol,
        side=side,
        type=SpotOrderType.LIMIT,
        time_in_force=TimeInForce.GTC,
        quantity=qty,
        price=price,
    )


def liquidation_close_request(
    pos: Position, guard: LiquidationGuard, rules: SymbolRules, mode: PositionMode
) -> tuple[FuturesOrderRequest | SpotOrderRequest, str]:
    """A reduce-only MARKET close of ``floor_step(S * close_fraction)`` (all of S when the
    fraction is 1, or when the part is too small to be an order: safety first), and a note."""
    whole = close_now_request(pos, rules, mode)
    if guard.close_fraction >= 1:
        return whole, "closing the whole position"
    part = quantize_exit_quantity(pos.size * guard.close_fraction, rules, market=True)
    lot = rules.market_lot_size or rules.lot_size
    minimum = lot.min_qty if lot is not None else Decimal(0)
    if part <= 0 or part < minimum:
        return whole, (
            f"{guard.close_fraction} of the position ({part}) is below minQty "
            f"{minimum.normalize():f}: closing it all"
        )
    assert isinstance(whole, FuturesOrderRequest)
    return (
        FuturesOrderRequest(
            symbol=whole.symbol,
            side=whole.side,
            type=whole.type,
            position_side=whole.position_side,
            quantity=part,
            reduce_only=whole.reduce_only,
        ),
        f"closing {part} of {pos.size} ({guard.close_fraction} of the position)",
    )
