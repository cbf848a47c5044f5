"""Bringing prices and quantities onto a symbol's grid, with the rounding chosen at every call.

Grids (``shared/reference/binance-api.md`` 2.2 and 3.5): futures prices sit on
``minPrice + k*tickSize`` and quantities on ``minQty + k*stepSize``; spot on ``k*tickSize`` and
``k*stepSize``. When ``minPrice`` is itself a multiple of the tick the two agree.
"""

from __future__ import annotations

from decimal import Decimal

from .enums import Side
from .filters import LotSizeFilter, SymbolRules
from .numbers import Rounding, round_to_step, steps_of

__all__ = [
    "exit_limit_rounding",
    "exit_trigger_rounding",
    "price_to_ticks",
    "quantize_exit_quantity",
    "quantize_price",
    "quantize_quantity",
    "ticks_to_price",
]


def quantize_price(price: Decimal, rules: SymbolRules, rounding: Rounding) -> Decimal:
    """``price`` on the symbol's PRICE_FILTER grid (product formula), rounded as asked."""
    pf = rules.price_filter
    if pf is None:
        return price
    return round_to_step(price, pf.tick_size, rules.price_origin, rounding)


def quantize_quantity(
    qty: Decimal, rules: SymbolRules, rounding: Rounding, *, market: bool = False
) -> Decimal:
    """``qty`` on the LOT_SIZE grid (MARKET_LOT_SIZE when ``market`` and the symbol has one)."""
    lot = _lot(rules, market)
    if lot is None:
        return qty
    return round_to_step(qty, lot.step_size, rules.qty_origin(lot), rounding)


def quantize_exit_quantity(qty: Decimal, rules: SymbolRules, *, market: bool = False) -> Decimal:
    """An exit's quantity floors to the step: an exit never sells (or buys back) more than held."""
    return quantize_quantity(qty, rules, Rounding.DOWN, market=market)


def exit_trigger_rounding(exit_side: Side, *, is_stop: bool) -> Rounding:
    """Round a trigger so the exit fires no later than asked.

    A long's SELL stop fires on a fall, so it rounds UP; a short's BUY stop rounds DOWN. A
    take-profit fires on the opposite move, so a SELL take-profit rounds DOWN and a BUY one UP.
    """
    falling = (exit_side is Side.SELL) == is_stop
    return Rounding.UP if falling else Rounding.DOWN


def exit_limit_rounding(exit_side: Side) -> Rounding:
    """A limit price rounds to be no worse than asked: SELL rounds UP, BUY rounds DOWN."""
    return Rounding.UP if exit_side is Side.SELL else Rounding.DOWN


def price_to_ticks(price: Decimal, rules: SymbolRules, rounding: Rounding) -> int:
    """Whole ticks from the grid origin; the engines compare these integers, not Decimals."""
    pf = rules.price_filter
    if pf is None or pf.tick_size <= 0:
        raise ValueError(f"{rules.symbol}: PRICE_FILTER.tickSize is needed to count ticks")
    return steps_of(price, pf.tick_size, rules.price_origin, rounding)


def ticks_to_price(ticks: int, rules: SymbolRules) -> Decimal:
    """The price ``ticks`` ticks above the grid origin (inverse of :func:`price_to_ticks`)."""
    pf = rules.price_filter
    if pf is None or pf.tick_size <= 0:
        raise ValueError(f"{rules.symbol}: PRICE_FILTER.tickSize is needed to count ticks")
    return round_to_step(
        rules.price_origin + pf.tick_size * ticks, pf.tick_size, rules.price_origin, Rounding.DOWN
    )


def _lot(rules: SymbolRules, market: bool) -> LotSizeFilter | None:
    if market and rules.market_lot_size is not None and rules.market_lot_size.step_size > 0:
        return rules.market_lot_size
    return rules.lot_size
