"""Protection policies: what exits a position should carry. Pure data; config builds them.

One :class:`ProtectionPolicy` per (product, symbol), with defaults per product. Distances are
measured from the position's entry price, in percent (``Decimal("1.5")`` = 1.5 %) or as an
absolute price distance; exactly one of the two is set.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from exitguard.domain.enums import WorkingType

__all__ = [
    "Distance",
    "ImmediateTriggerAction",
    "ProtectionPolicy",
    "StopLossPolicy",
    "TakeProfitPolicy",
    "TrailingPolicy",
]


class ImmediateTriggerAction(StrEnum):
    """What to do when a stop is refused because the market is already past it (-2021 / -2010)."""

    CLOSE_NOW = "close_now"  # reduce-only market exit
    WIDEN = "widen"  # retry at the nearest valid price
    ALERT = "alert"  # journal and log, place nothing


@dataclass(frozen=True, slots=True)
class Distance:
    """A distance from the entry price: ``percent`` or ``price``, never both."""

    percent: Decimal | None = None
    price: Decimal | None = None

    def __post_init__(self) -> None:
        if (self.percent is None) == (self.price is None):
            raise ValueError("Distance: set exactly one of percent or price")
        value = self.percent if self.percent is not None else self.price
        assert value is not None
        if value <= 0:
            raise ValueError("Distance: must be greater than 0")

    def offset(self, entry: Decimal) -> Decimal:
        """The absolute price offset from ``entry``."""
        if self.percent is not None:
            return entry * self.percent / Decimal(100)
        assert self.price is not None
        return self.price


@dataclass(frozen=True, slots=True)
class StopLossPolicy:
    """USD-M: STOP_MARKET closePosition (or reduce-only quantity stop); Spot: STOP_LOSS(_LIMIT)."""

    distance: Distance
    working_type: WorkingType = WorkingType.MARK_PRICE
    price_protect: bool = True
    quantity_based: bool = False  # USD-M: reduce-only quantity stop instead of closePosition
    limit_offset_percent: Decimal | None = None  # Spot: STOP_LOSS_LIMIT with this limit offset


@dataclass(frozen=True, slots=True)
class TakeProfitPolicy:
    """USD-M: reduce-only LIMIT (seed 001); algo TAKE_PROFIT only when ``conditional``."""

    distance: Distance
    conditional: bool = False
    working_type: WorkingType = WorkingType.MARK_PRICE
    price_protect: bool = True


@dataclass(frozen=True, slots=True)
class TrailingPolicy:
    """USD-M TRAILING_STOP_MARKET (``callback_rate`` percent); Spot trailingDelta (BIPS)."""

    callback_rate: Decimal | None = None  # USD-M, percent (0.1–20 on Binance)
    trailing_delta_bips: int | None = None  # Spot, BIPS
    activation: Distance | None = None  # profit distance from entry before trailing starts
    working_type: WorkingType = WorkingType.CONTRACT_PRICE


@dataclass(frozen=True, slots=True)
class ProtectionPolicy:
    """Everything one (product, symbol) should carry. ``None`` role = not wanted."""

    stop_loss: StopLossPolicy | None = None
    take_profit: TakeProfitPolicy | None = None
    trailing: TrailingPolicy | None = None
    on_immediate_trigger: ImmediateTriggerAction = ImmediateTriggerAction.ALERT
