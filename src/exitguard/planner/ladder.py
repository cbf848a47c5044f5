"""The scale-out ladder's split: which quantity each unfilled level closes. Pure.

The one definition (docs/guide/exit-plans.md, "Ladder quantities"), shared with the backtest:

- ``ref`` is the position's size when the plan started (``PositionProgress.reference_size``,
  grown by a scale-in), else the current size ``S``. For the unfilled levels in order,
  ``q_i = min(floor_step(ref * f_i), remaining)``, ``remaining`` starting at ``S``.
- When the fractions sum to exactly 1 the last level takes all that remains (step dust too);
  below 1 the rest is a runner left to the stop or the trailing stop.
- A level below the symbol's minimum quantity, or below its minimum notional at its own price,
  merges into the next unfilled level (the last one into the previous) and the plan says so.

A level numbered below a filled one counts as filled: the market went through its price (a
take-profit there would fill at once), or it had been merged into the level that filled.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from exitguard.domain.filters import SymbolRules
from exitguard.domain.quantize import quantize_exit_quantity

from .policy import LadderLevel

__all__ = ["LadderSplit", "LevelQty", "done_levels", "level_minimum", "split_ladder"]

_ONE = Decimal(1)
_ZERO = Decimal(0)


def _on_step(qty: Decimal, rules: SymbolRules) -> Decimal:
    """``qty`` written with the step's decimals (``0.00100`` -> ``0.001`` on step 0.001), so
    that quantities read the same in every note and request."""
    lot = rules.lot_size
    if lot is None or lot.step_size <= 0:
        return qty
    exponent = lot.step_size.normalize().as_tuple().exponent
    assert isinstance(exponent, int)
    try:
        return qty.quantize(Decimal(1).scaleb(min(exponent, 0)))
    except ArithmeticError:
        return qty


@dataclass(frozen=True, slots=True)
class LevelQty:
    """One level to place: its 1-based number, price and quantity, and what was merged into it."""

    level: int
    price: Decimal
    quantity: Decimal
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class LadderSplit:
    """The levels to place (in order), the runner left to the stop/trailing stop, and the notes
    about levels that could not stand alone (kept even when nothing is left to carry them)."""

    levels: tuple[LevelQty, ...]
    runner: Decimal
    dropped: tuple[str, ...] = ()


def done_levels(filled: frozenset[int]) -> frozenset[int]:
    """The levels that need no exit: the filled ones and every level numbered below one."""
    if not filled:
        return frozenset()
    return frozenset(range(1, max(filled) + 1)) | filled


def level_minimum(qty: Decimal, price: Decimal, rules: SymbolRules) -> str | None:
    """Why ``qty`` at ``price`` cannot be an order of its own (LOT_SIZE minQty, then the
    minimum notional), or None when it can."""
    lot = rules.lot_size
    if lot is not None and qty < lot.min_qty:
        return f"below minQty {lot.min_qty.normalize():f}"
    if qty <= 0:
        return "zero after rounding to the step"
    nf = rules.notional
    if nf is not None and nf.min_notional is not None and qty * price < nf.min_notional:
        return f"below minNotional {nf.min_notional.normalize():f} at {price}"
    return None


def split_ladder(
    ladder: Sequence[LadderLevel],
    prices: Sequence[Decimal],
    size: Decimal,
    reference: Decimal | None,
    filled: frozenset[int],
    rules: SymbolRules,
) -> LadderSplit:
    """The quantities of the unfilled levels (module docstring). ``prices[i]`` is level i+1's
    limit price (a level's minimum notional is checked at it)."""
    ref = reference if reference is not None and reference > 0 else size
    done = done_levels(filled)
    whole = sum((lv.fraction for lv in ladder), Decimal(0)) == _ONE
    remaining = size
    raw: list[LevelQty] = []
    for i, lv in enumerate(ladder, start=1):
        if i in done:
            continue
        q = _on_step(
            max(min(quantize_exit_quantity(ref * lv.fraction, rules), remaining), _ZERO), rules
        )
        raw.append(LevelQty(i, prices[i - 1], q))
        remaining -= q
    if whole and raw and remaining > 0:
        last = raw[-1]
        raw[-1] = LevelQty(last.level, last.price, _on_step(last.quantity + remaining, rules))
        remaining = Decimal(0)
    merged, dropped = _merge_small(raw, rules)
    # The runner is what no placed level closes: a dropped level's quantity stays with it.
    runner = size - sum((lv.quantity for lv in merged), _ZERO)
    return LadderSplit(tuple(merged), max(runner, _ZERO), dropped)


def _merge_small(
    levels: list[LevelQty], rules: SymbolRules
) -> tuple[list[LevelQty], tuple[str, ...]]:
    """Fold every level too small to stand alone into the next one (the last into the
    previous); a lone level that is still too small is dropped with a note."""
    out = list(levels)
    i = 0
    while i < len(out):
        cur = out[i]
        why = level_minimum(cur.quantity, cur.price, rules)
        if why is None:
            i += 1
            continue
        if len(out) == 1:
            note = f"level {cur.level} ({cur.quantity}) is {why}: not placed"
            return [], (*cur.notes, note)
        j = i + 1 if i + 1 < len(out) else i - 1
        into = out[j]
        note = f"level {cur.level} ({cur.quantity}) is {why}: merged into level {into.level}"
        out[j] = LevelQty(
            into.level, into.price, into.quantity + cur.quantity, (*into.notes, *cur.notes, note)
        )
        del out[i]
        if j < i:
            i = j  # the previous level grew: check it again
    return out, ()
