"""What a backtest evaluates: exit policies, the execution model, and the outcome codes.

A policy is the set of protective exits placed when a position opens, each a distance in integer
basis points of the entry fill price (0 disables an exit):

- stop-loss: USD-M STOP_MARKET / Spot STOP_LOSS (or a STOP / STOP_LOSS_LIMIT limit order when
  ``stop_limit_bps`` is set: the limit sits that many bps beyond the trigger);
- take-profit: TAKE_PROFIT_MARKET / Spot TAKE_PROFIT;
- trailing stop: TRAILING_STOP_MARKET with callbackRate ``trail_bps / 100`` % (Spot
  trailingDelta ``trail_bps`` BIPS), activated at ``activation_bps`` beyond the entry (0: active at
  once, tracking from the last price at placement);
- the trigger source: ``workingType`` CONTRACT_PRICE (trades) or MARK_PRICE (mark klines).

Distances are integers because the sweep kernel works in exact int64 arithmetic; Binance's own
steps (callbackRate 0.1 % = 10 bps, trailingDelta 1 BIP) are integers in bps too. Fees are
Decimal bps: they only enter money, computed outside the kernel.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from decimal import Decimal
from enum import IntEnum, StrEnum

from exitguard.domain.enums import WorkingType

__all__ = [
    "BPS",
    "FLAG_AMBIGUOUS_BAR",
    "FLAG_GAPPED",
    "FLAG_LIMIT_UNFILLED",
    "FLAG_MAKER",
    "MAX_BPS",
    "MAX_PRICE_UNITS",
    "BacktestInputError",
    "Execution",
    "ExitPolicy",
    "ExitReason",
    "FillModel",
    "flag_names",
]

BPS = 10_000
# Every distance stays below 100 %: a stop or take-profit of a short at -100 % would sit at zero.
MAX_BPS = 9_999
# Largest price in integer units the int64 kernel accepts: level and slippage arithmetic
# multiplies a price by at most 2 * BPS, which must stay below 2**63 (9.22e18).
MAX_PRICE_UNITS = 400_000_000_000_000


class BacktestInputError(ValueError):
    """Bad backtest input, naming the option or field at fault and the rule it broke."""

    def __init__(self, field: str, rule: str) -> None:
        super().__init__(f"{field}: {rule}")
        self.field = field
        self.rule = rule


class FillModel(StrEnum):
    """Where a triggered market exit fills.

    - ``next`` (default, realistic): at the first print *after* the trigger (the next trade, or
      the next book update when fills come from bookTicker), plus adverse slippage.
    - ``touch`` (the idealised model of most backtesters): at the price that touched the trigger,
      gap-aware: the price itself when it jumped through the level (every trade, every bar open),
      the level when the path is continuous (inside a bar), plus adverse slippage.
    """

    NEXT = "next"
    TOUCH = "touch"


class ExitReason(IntEnum):
    """Why a position closed (the int8 code the kernel writes)."""

    SL = 0
    TP = 1
    TRAIL = 2
    END = 3  # end of data, or a triggered stop-limit that never filled


FLAG_AMBIGUOUS_BAR = 1  # stop/trailing fired inside a bar whose other extreme reached the TP
FLAG_LIMIT_UNFILLED = 2  # the stop-limit triggered but never filled: closed at the end of data
FLAG_MAKER = 4  # the stop-limit rested and filled at its limit price (maker fee)
FLAG_GAPPED = 8  # the trigger was jumped through: the touching price is beyond the level

_FLAG_NAMES = (
    (FLAG_AMBIGUOUS_BAR, "ambiguous_bar"),
    (FLAG_LIMIT_UNFILLED, "limit_unfilled"),
    (FLAG_MAKER, "maker"),
    (FLAG_GAPPED, "gapped"),
)


def flag_names(flags: int) -> list[str]:
    """The names of the bits set in an outcome's ``flags``."""
    return [name for bit, name in _FLAG_NAMES if flags & bit]


def _check_bps(field: str, value: object, low: int, high: int) -> None:
    if type(value) is not int:
        raise BacktestInputError(field, f"must be an integer number of bps, got {value!r}")
    if not low <= value <= high:
        raise BacktestInputError(field, f"must be between {low} and {high} bps, got {value}")


@dataclass(frozen=True, slots=True)
class ExitPolicy:
    """One exit policy; see the module docstring. ``validate()`` names the field and rule."""

    stop_bps: int = 0
    take_profit_bps: int = 0
    trail_bps: int = 0
    activation_bps: int = 0
    source: WorkingType = WorkingType.CONTRACT_PRICE
    stop_limit_bps: int | None = None  # None: the stop is a market order

    def validate(self) -> ExitPolicy:
        """Raise :class:`BacktestInputError` unless every distance is a valid integer bps.

        Rules: distances in [0, 9999] (a distance of 100 % would put a short's levels at zero);
        an activation needs a trailing stop; a stop-limit offset needs a stop.
        """
        for name in ("stop_bps", "take_profit_bps", "trail_bps", "activation_bps"):
            _check_bps(name, getattr(self, name), 0, MAX_BPS)
        if self.stop_limit_bps is not None:
            _check_bps("stop_limit_bps", self.stop_limit_bps, 0, MAX_BPS)
            if self.stop_bps == 0:
                raise BacktestInputError("stop_limit_bps", "a stop-limit offset needs stop_bps > 0")
        if self.activation_bps and not self.trail_bps:
            raise BacktestInputError("activation_bps", "an activation needs trail_bps > 0")
        try:
            WorkingType(self.source)
        except ValueError:
            raise BacktestInputError(
                "source", f"must be CONTRACT_PRICE or MARK_PRICE, got {self.source!r}"
            ) from None
        return self

    def as_dict(self) -> dict[str, object]:
        """Plain fields for JSON and CSV reports."""
        out: dict[str, object] = {f.name: getattr(self, f.name) for f in fields(self)}
        out["source"] = str(self.source)
        return out


@dataclass(frozen=True, slots=True)
class Execution:
    """How orders fill and what they cost; shared by every policy of a run.

    ``slippage_bps`` moves every market fill (entries and exits) against the trader, rounded
    against the trader to the tick; ``taker_fee_bps`` applies to entries, market exits and a
    stop-limit that is marketable on arrival, ``maker_fee_bps`` to a stop-limit that rested.
    """

    fill: FillModel = FillModel.NEXT
    slippage_bps: int = 0
    taker_fee_bps: Decimal = Decimal(0)
    maker_fee_bps: Decimal = Decimal(0)

    def validate(self) -> Execution:
        """Raise :class:`BacktestInputError` for a bad fill model, slippage or fee."""
        try:
            FillModel(self.fill)
        except ValueError:
            raise BacktestInputError("fill", f"must be next or touch, got {self.fill!r}") from None
        _check_bps("slippage_bps", self.slippage_bps, 0, MAX_BPS)
        for name in ("taker_fee_bps", "maker_fee_bps"):
            value = getattr(self, name)
            if not isinstance(value, Decimal) or not value.is_finite():
                raise BacktestInputError(name, f"must be a decimal number of bps, got {value!r}")
            if not Decimal(-100) <= value <= Decimal(1000):
                raise BacktestInputError(name, f"must be between -100 and 1000 bps, got {value}")
        return self
