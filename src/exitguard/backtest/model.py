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

Exit plans (the policy language of :mod:`exitguard.planner.policy` in the kernel's integer
terms, with the planner's semantics; the backtest rules are in :mod:`exitguard.backtest.replay`):

- ``ladder``: take-profit levels (:class:`Level`: distance bps, fraction in parts per 10,000),
  nearest first; each closes its fraction of the position (the last one all that remains when
  the fractions sum to 10,000; otherwise the rest is a runner left to the stop / trailing stop);
- ``stop_moves`` (:class:`Move`): after ladder level k fills, the stop moves to break-even +
  offset bps, or to the price of ladder level j;
- ``trail_after_level``: the trailing stop starts only once that ladder level has filled;
- ``roi`` (:class:`Roi`): freqtrade's ROI table, the take-profit distance from a holding time on;
- ``time_stop_ms``: a market close of what is left after that holding time;
- ``liq_margin_bps`` (USD-M liquidation guard, with :attr:`Execution.leverage`): the stop is
  pulled inside the static liquidation price by that margin; ``liq_close_within_bps`` closes
  ``liq_close_parts`` of what is left, once, when the price comes that close to it.

Distances are integers because the sweep kernel works in exact int64 arithmetic; Binance's own
steps (callbackRate 0.1 % = 10 bps, trailingDelta 1 BIP) are integers in bps too. Fractions are
integer parts per 10,000 for the same reason. Fees are Decimal bps: they only enter money,
computed outside the kernel.
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
    "MAX_LEVELS",
    "MAX_PRICE_UNITS",
    "BacktestInputError",
    "Execution",
    "ExitPolicy",
    "ExitReason",
    "FillModel",
    "Level",
    "Move",
    "Roi",
    "flag_names",
    "liquidation_price",
]

BPS = 10_000
# Every distance stays below 100 %: a stop or take-profit of a short at -100 % would sit at zero.
MAX_BPS = 9_999
# Largest price in integer units the int64 kernel accepts: level and slippage arithmetic
# multiplies a price by at most 2 * BPS, which must stay below 2**63 (9.22e18).
MAX_PRICE_UNITS = 400_000_000_000_000
# Ladder levels and ROI steps per policy: the kernel keeps them in fixed-size rows.
MAX_LEVELS = 8
MAX_LEVERAGE = 125  # Binance USD-M's highest leverage
MAX_LIQ_BPS = 1_000


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
    TP = 1  # the take-profit, or a ladder level
    TRAIL = 2
    END = 3  # end of data, or a triggered stop-limit that never filled
    TIME = 4  # the time stop
    LIQ = 5  # the liquidation guard's close when the price came near the liquidation price


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
class Level:
    """One ladder level: a take-profit ``bps`` from the entry closing ``parts`` / 10,000 of the
    position (at most what is left)."""

    bps: int
    parts: int

    def text(self) -> str:
        return f"{self.bps}:{Decimal(self.parts) / 100:f}"


@dataclass(frozen=True, slots=True)
class Move:
    """After ladder level ``after_level`` (1-based) fills the stop moves: to the entry moved
    ``be_offset_bps`` into profit (break-even + an offset that covers fees), or to the price of
    ladder level ``to_level``. Exactly one target is set."""

    after_level: int
    be_offset_bps: int | None = None
    to_level: int | None = None

    def text(self) -> str:
        target = f"be+{self.be_offset_bps}" if self.to_level is None else f"L{self.to_level}"
        return f"{self.after_level}>{target}"


@dataclass(frozen=True, slots=True)
class Roi:
    """From ``after_ms`` of holding time on, the take-profit sits ``tp_bps`` from the entry."""

    after_ms: int
    tp_bps: int

    def text(self) -> str:
        return f"{self.after_ms}ms:{self.tp_bps}"


@dataclass(frozen=True, slots=True)
class ExitPolicy:
    """One exit policy; see the module docstring. ``validate()`` names the field and rule."""

    stop_bps: int = 0
    take_profit_bps: int = 0
    trail_bps: int = 0
    activation_bps: int = 0
    source: WorkingType = WorkingType.CONTRACT_PRICE
    stop_limit_bps: int | None = None  # None: the stop is a market order
    ladder: tuple[Level, ...] = ()
    stop_moves: tuple[Move, ...] = ()
    trail_after_level: int = 0  # 0: the trailing stop starts with the position
    roi: tuple[Roi, ...] = ()
    time_stop_ms: int = 0  # 0: no time stop
    liq_margin_bps: int | None = None  # None: no liquidation guard
    liq_close_within_bps: int = 0  # 0: no liquidation-distance close
    liq_close_parts: int = BPS

    @property
    def plain(self) -> bool:
        """No plan element: the one-exit-of-each-kind policy the plain kernel evaluates."""
        return not (
            self.ladder
            or self.stop_moves
            or self.trail_after_level
            or self.roi
            or self.time_stop_ms
            or self.liq_margin_bps is not None
            or self.liq_close_within_bps
        )

    def validate(self) -> ExitPolicy:
        """Raise :class:`BacktestInputError` unless every distance is a valid integer bps.

        Rules: distances in [0, 9999] (a distance of 100 % would put a short's levels at zero);
        an activation needs a trailing stop; a stop-limit offset needs a stop. Plan elements:
        see :meth:`_validate_plan`.
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
        if not self.plain:
            self._validate_plan()
        return self

    def _validate_plan(self) -> None:
        """Ladder: 1..8 levels, distances strictly increasing (nearest first), fractions each in
        (0, 10000] parts, summing to at most 10000, never with ``take_profit_bps``. Moves: need a
        stop and a ladder, one per level, targets inside the ladder. ``trail_after_level``: a
        ladder level and a trailing stop. ROI: needs ``take_profit_bps``, no ladder, at most 8
        steps with strictly increasing ``after_ms`` >= 0 (a step at 0 replaces the
        take-profit from the start, as freqtrade's ``"0"`` row). Liquidation guard: margin and
        close distance in bps, ``liq_close_parts`` in (0, 10000]."""
        n = len(self.ladder)
        if n > MAX_LEVELS:
            raise BacktestInputError("ladder", f"at most {MAX_LEVELS} levels, got {n}")
        if n and self.take_profit_bps:
            raise BacktestInputError("ladder", "a ladder replaces take_profit_bps: not both")
        previous = 0
        total = 0
        for i, level in enumerate(self.ladder, 1):
            _check_bps(f"ladder[{i}].bps", level.bps, 1, MAX_BPS)
            if level.bps <= previous:
                raise BacktestInputError(
                    "ladder", f"levels must be nearest first (increasing distance): level {i}"
                )
            previous = level.bps
            if type(level.parts) is not int or not 0 < level.parts <= BPS:
                raise BacktestInputError(
                    f"ladder[{i}].parts", f"must be in (0, {BPS}] parts, got {level.parts!r}"
                )
            total += level.parts
        if total > BPS:
            raise BacktestInputError("ladder", f"fractions sum to {total} parts, above {BPS}")
        seen: set[int] = set()
        for move in self.stop_moves:
            if not self.stop_bps:
                raise BacktestInputError("stop_moves", "a stop move needs stop_bps > 0")
            if type(move.after_level) is not int or not 1 <= move.after_level <= n:
                raise BacktestInputError(
                    "stop_moves",
                    f"after_level must be a ladder level 1..{n}, got {move.after_level}",
                )
            if move.after_level in seen:
                raise BacktestInputError("stop_moves", f"two moves after level {move.after_level}")
            seen.add(move.after_level)
            if (move.be_offset_bps is None) == (move.to_level is None):
                raise BacktestInputError("stop_moves", "set exactly one of be_offset_bps, to_level")
            if move.be_offset_bps is not None:
                _check_bps("be_offset_bps", move.be_offset_bps, 0, MAX_BPS)
            elif type(move.to_level) is not int or not 1 <= move.to_level <= n:
                raise BacktestInputError(
                    "stop_moves", f"to_level must be a ladder level 1..{n}, got {move.to_level}"
                )
        if self.trail_after_level:
            if not self.trail_bps:
                raise BacktestInputError("trail_after_level", "needs trail_bps > 0")
            if type(self.trail_after_level) is not int or not 1 <= self.trail_after_level <= n:
                raise BacktestInputError(
                    "trail_after_level",
                    f"must be a ladder level 1..{n}, got {self.trail_after_level}",
                )
        if self.roi:
            if not self.take_profit_bps:
                raise BacktestInputError("roi", "an ROI table needs take_profit_bps > 0")
            if len(self.roi) > MAX_LEVELS:
                raise BacktestInputError("roi", f"at most {MAX_LEVELS} steps, got {len(self.roi)}")
            after = -1
            for step in self.roi:
                if type(step.after_ms) is not int or step.after_ms <= after:
                    raise BacktestInputError("roi", "steps need after_ms >= 0, strictly increasing")
                after = step.after_ms
                _check_bps("roi.tp_bps", step.tp_bps, 1, MAX_BPS)
        if type(self.time_stop_ms) is not int or self.time_stop_ms < 0:
            raise BacktestInputError("time_stop_ms", f"must be ms >= 0, got {self.time_stop_ms!r}")
        if self.liq_margin_bps is not None:
            # At most 10 %: a short's liquidation price (up to twice the entry) times
            # (1 + 10 %) stays inside the kernel's int64 headroom.
            _check_bps("liq_margin_bps", self.liq_margin_bps, 0, MAX_LIQ_BPS)
            _check_bps("liq_close_within_bps", self.liq_close_within_bps, 0, MAX_LIQ_BPS)
            if type(self.liq_close_parts) is not int or not 0 < self.liq_close_parts <= BPS:
                raise BacktestInputError(
                    "liq_close_parts", f"must be in (0, {BPS}] parts, got {self.liq_close_parts!r}"
                )
        elif self.liq_close_within_bps:
            raise BacktestInputError("liq_close_within_bps", "needs liq_margin_bps (the guard)")

    def as_dict(self) -> dict[str, object]:
        """Plain fields for JSON and CSV reports (plan elements as short texts)."""
        out: dict[str, object] = {f.name: getattr(self, f.name) for f in fields(self)}
        out["source"] = str(self.source)
        for name in ("ladder", "stop_moves", "roi"):
            out[name] = ",".join(item.text() for item in getattr(self, name))
        return out


def liquidation_price(entry: int, long: bool, leverage: int, maint_bps: int, tick: int) -> int:
    """The isolated-margin liquidation price of a position opened at ``entry`` (price units),
    rounded to the tick toward the entry (the guard then errs on the safe side); 0: none.

    Binance's isolated formula with the margin ``entry / leverage`` per unit, one position and
    a maintenance amount of 0 (the first tier of the leverage brackets):
    long ``L = E (1 - 1/lev) / (1 - mmr)``, short ``L = E (1 + 1/lev) / (1 + mmr)``.
    """
    if leverage <= 1 and long:
        return 0  # a 1x long is never liquidated
    if long:
        num, den = entry * (leverage - 1) * BPS, leverage * (BPS - maint_bps)
        return -((-num) // (den * tick)) * tick
    num, den = entry * (leverage + 1) * BPS, leverage * (BPS + maint_bps)
    return (num // (den * tick)) * tick


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
    # The liquidation guard's static liquidation price (:func:`liquidation_price`); 0: none.
    leverage: int = 0
    maint_margin_bps: int = 40  # BTCUSDT's first bracket: 0.40 %

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
        if type(self.leverage) is not int or not 0 <= self.leverage <= MAX_LEVERAGE:
            raise BacktestInputError(
                "leverage", f"must be 0..{MAX_LEVERAGE}, got {self.leverage!r}"
            )
        _check_bps("maint_margin_bps", self.maint_margin_bps, 0, 5_000)
        return self
