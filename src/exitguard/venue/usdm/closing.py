"""Which USD-M orders may only reduce a position, and when a position counts as closed.

Binance (reference binance-api.md 1.1 ``reduceOnly``, 2.3 hedge mode, 2.5 ``er``): a reduce-only
order "can only reduce"; so can a ``closePosition`` order and, in hedge mode, a close order
(``SELL`` on ``LONG``, ``BUY`` on ``SHORT``): Binance never lets one of them open or flip a
position. The venue applies this at FILL time, not only at placement — the position may shrink
between the two (other fills). A fill of such an order is clamped to what it can still reduce;
when nothing is left (flat, or the other side) it expires with ``er=4`` ("cancelled … because it
would reverse the position").

Expiry on close: the reference documents that Binance expires GTE_GTC orders when the position
closes and that ``er=4`` exists, but not exactly WHEN a resting reduce-only LIMIT expires. The
venue's choice: at the moment its position becomes flat (or flips through zero), every resting
order that may only reduce and now has nothing to reduce on that symbol/positionSide EXPIRES
(execution type and status ``EXPIRED``, ``er=4``). Untriggered reduce-only algo orders are left
alone (trigger-semantics.md: they stay NEW and are REJECTED at trigger); closePosition algo orders
expire as before.
"""

from __future__ import annotations

from decimal import Decimal

from exitguard.domain.enums import PositionSide, Side

from .records import Order

__all__ = ["EXPIRY_WOULD_REVERSE", "closed_through_zero", "is_hedge_close", "reduces_only"]

# ORDER_TRADE_UPDATE ``er`` 4: "cancelled by a higher-priority RO order, or because it would
# reverse the position" (reference 2.5).
EXPIRY_WOULD_REVERSE = 4


def is_hedge_close(side: Side, position_side: PositionSide) -> bool:
    """A hedge-mode close: SELL on the LONG position or BUY on the SHORT one."""
    return (position_side is PositionSide.LONG and side is Side.SELL) or (
        position_side is PositionSide.SHORT and side is Side.BUY
    )


def reduces_only(order: Order) -> bool:
    """Whether ``order`` may only reduce its position (never open or flip one)."""
    return (
        order.reduce_only or order.close_position or is_hedge_close(order.side, order.position_side)
    )


def closed_through_zero(before: Decimal, after: Decimal) -> bool:
    """A position that was open is now flat, or flipped through zero to the other side."""
    return before != 0 and (after == 0 or (before > 0) != (after > 0))
