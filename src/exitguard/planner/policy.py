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
    "LadderLevel",
    "LiquidationGuard",
    "ProtectionPolicy",
    "RoiStep",
    "StopLossPolicy",
    "StopMove",
    "TakeProfitPolicy",
    "TimeStop",
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
    # Start the trailing stop only once this ladder level (1-based) has filled; None: at once.
    after_level: int | None = None


@dataclass(frozen=True, slots=True)
class LadderLevel:
    """One take-profit level of a scale-out ladder: where (from the entry, or an absolute
    ``level``) and which ``fraction`` of the position it closes (0 < fraction <= 1)."""

    distance: Distance
    fraction: Decimal


@dataclass(frozen=True, slots=True)
class StopMove:
    """After ladder level ``after_level`` (1-based) fills, move the stop-loss: to break-even
    (the entry moved ``break_even_offset_percent`` into profit, an offset that covers fees;
    ``Decimal(0)`` for the bare entry) or to the price of ladder level ``to_level``. Exactly
    one of the two targets is set. The stop's quantity follows the remainder either way."""

    after_level: int
    break_even_offset_percent: Decimal | None = None
    to_level: int | None = None


@dataclass(frozen=True, slots=True)
class RoiStep:
    """freqtrade's ROI table as take-profit distances: from ``after_ms`` of holding time on,
    the take-profit sits ``distance`` from the entry (the step with the largest ``after_ms``
    not after the time held wins)."""

    after_ms: int
    distance: Distance


@dataclass(frozen=True, slots=True)
class TimeStop:
    """Close the position after ``after_ms`` of holding time and/or at the absolute UTC time
    ``at_ms`` (whichever comes first): a reduce-only MARKET exit, or a LIMIT
    ``limit_offset_percent`` beyond the last price (worse for the trader, so it fills)."""

    after_ms: int | None = None
    at_ms: int | None = None
    limit_offset_percent: Decimal | None = None


@dataclass(frozen=True, slots=True)
class LiquidationGuard:
    """USD-M only. A stop is never placed beyond the position's liquidation price: it is pulled
    inside it so that it stays at least ``margin_percent`` of the liquidation price away.
    With ``close_within_percent`` set, when the mark comes within that percent of the
    liquidation price, ``close_fraction`` of the position is closed (reduce-only MARKET), once
    per position."""

    margin_percent: Decimal = Decimal("0.5")
    close_within_percent: Decimal | None = None
    close_fraction: Decimal = Decimal(1)


@dataclass(frozen=True, slots=True)
class ProtectionPolicy:
    """Everything one (product, symbol) should carry. ``None`` role = not wanted."""

    stop_loss: StopLossPolicy | None = None
    take_profit: TakeProfitPolicy | None = None
    trailing: TrailingPolicy | None = None
    on_immediate_trigger: ImmediateTriggerAction = ImmediateTriggerAction.ALERT
    # A scale-out ladder of take-profit levels instead of the single ``take_profit`` (never
    # both). Each level is a fixed take-profit: a reduce-only LIMIT on USD-M (seed 001), the
    # LIMIT_MAKER leg of one OCO per level on Spot.
    ladder: tuple[LadderLevel, ...] = ()
    stop_moves: tuple[StopMove, ...] = ()  # the stop follows the ladder
    roi: tuple[RoiStep, ...] = ()  # time-based take-profit distances (needs ``take_profit``)
    time_stop: TimeStop | None = None
    liquidation_guard: LiquidationGuard | None = None  # USD-M
    # Which plan the exits were built from: "" for the config's policy, a fingerprint of the
    # plan for one handed over at runtime (a bot's protection, a policy override). An exit
    # placed under another tag no longer matches its slot and is replaced (placed first), so a
    # new plan takes effect on exits that already rest; the config's own exits never churn
    # when the entry price moves.
    tag: str = ""
