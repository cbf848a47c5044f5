"""Trigger rules shared by validation, the paper venue and backtests (one implementation).

USD-M (New-Algo-Order page, "Condition orders will be triggered when"):
- STOP/STOP_MARKET: BUY fires when latest >= triggerPrice, SELL when latest <= triggerPrice.
- TAKE_PROFIT/TAKE_PROFIT_MARKET: BUY fires when latest <= triggerPrice, SELL when latest >= it.
- "latest" is the mark price (truncated *down* to the tick, Binance futures FAQ) or the last trade,
  as ``workingType`` selects.
Spot (trailing-stop FAQ): STOP_LOSS* like STOP, TAKE_PROFIT* like TAKE_PROFIT, on the last trade.
Equality fires in every case, so a stop placed exactly at the market would trigger immediately.
"""

from __future__ import annotations

from decimal import ROUND_FLOOR, Decimal
from enum import StrEnum

from .enums import Side

__all__ = [
    "TriggerDirection",
    "condition_holds",
    "trigger_direction",
    "truncate_mark_price",
]

_STOP_FAMILY = frozenset({"STOP", "STOP_MARKET", "STOP_LOSS", "STOP_LOSS_LIMIT"})
_TAKE_PROFIT_FAMILY = frozenset({"TAKE_PROFIT", "TAKE_PROFIT_MARKET", "TAKE_PROFIT_LIMIT"})


class TriggerDirection(StrEnum):
    RISING = "rising"  # fires when price >= trigger
    FALLING = "falling"  # fires when price <= trigger


def trigger_direction(order_type: str, side: Side) -> TriggerDirection:
    """The move that fires a stop or take-profit of ``order_type`` on ``side``.

    Raises ``ValueError`` for types without a static trigger (MARKET, LIMIT, trailing).
    """
    if order_type in _STOP_FAMILY:
        return TriggerDirection.RISING if side is Side.BUY else TriggerDirection.FALLING
    if order_type in _TAKE_PROFIT_FAMILY:
        return TriggerDirection.FALLING if side is Side.BUY else TriggerDirection.RISING
    raise ValueError(f"type {order_type!r} has no static trigger")


def condition_holds(direction: TriggerDirection, price: Decimal, trigger: Decimal) -> bool:
    """Whether ``price`` satisfies the trigger condition; equality fires."""
    if direction is TriggerDirection.RISING:
        return price >= trigger
    return price <= trigger


def truncate_mark_price(mark: Decimal, tick_size: Decimal) -> Decimal:
    """Mark price truncated down to the tick, as Binance compares it with MARK_PRICE triggers.

    Binance FAQ: a SELL take-profit at 2000.05 does not fire at mark 2000.048914 (→ 2000.04).
    """
    if tick_size <= 0:
        return mark
    return (mark / tick_size).to_integral_value(rounding=ROUND_FLOOR) * tick_size
