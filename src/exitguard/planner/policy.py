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
    """Where a level is: ``percent`` or ``price`` away from the entry price, or at the absolute
    price ``level`` (a bot's own stop or target, as handed over through the API); exactly one."""

    percent: Decimal | None = None
    price: Decimal | None = None
    level: Decimal | None = None

    def __post_init__(self) -> None:
        values = [v for v in (self.percent, self.price, self.level) if v is not None]
        if len(values) != 1:
            raise ValueError("Distance: set exactly one of percent, price or level")
        if values[0] <= 0:
            raise ValueError("Distance: must be greater than 0")

    def offset(self, entry: Decimal) -> Decimal:
        """The price offset from ``entry`` (signed for an absolute ``level``: level - entry
        is returned as a distance only through :meth:`price_from`)."""
        if self.percent is not None:
            return entry * self.percent / Decimal(100)
        if self.price is not None:
            return self.price
        assert self.level is not None
        return abs(self.level - entry)

    def price_from(self, entry: Decimal, direction: int) -> Decimal:
        """The level's price: ``level`` itself, or ``entry`` moved by the distance in
        ``direction`` (+1 up, -1 down)."""
        if self.level is not None:
            return self.level
        return entry + self.offset(entry) * direction


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
    # Which plan the exits were built from: "" for the config's policy, a fingerprint of the
    # plan for one handed over at runtime (a bot's protection, a policy override). An exit
    # placed under another tag no longer matches its slot and is replaced (placed first), so a
    # new plan takes effect on exits that already rest; the config's own exits never churn
    # when the entry price moves.
    tag: str = ""
