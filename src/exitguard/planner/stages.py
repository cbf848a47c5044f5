"""Where a position is in its plan, and what that changes. Pure.

A plan's exits depend on progress (which ladder levels filled) and on time (how long the
position has been held): the stop moves after a level fills, the take-profit follows the ROI
table, the trailing stop starts after a level, the time stop comes due, the liquidation guard
pulls the stop inside the liquidation price. Each such exit carries a *stage tag* beside the
policy's tag (``|m<k>`` stop moved after level k, ``|lq<price>`` stop pulled inside the
liquidation price, ``|r<j>`` ROI step j), so an exit placed at another stage no longer matches
its slot and is replaced, placed first (docs/guide/exit-plans.md).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal

from exitguard.domain.enums import Product
from exitguard.domain.filters import SymbolRules
from exitguard.domain.quantize import exit_trigger_rounding, quantize_price

from .build import stop_trigger_price, take_profit_price
from .ladder import done_levels
from .model import Position, PositionProgress, exit_side_for
from .policy import Distance, ProtectionPolicy, StopLossPolicy, TakeProfitPolicy

__all__ = [
    "Stage",
    "StopStage",
    "held_ms",
    "level_prices",
    "liquidation_close_due",
    "progress_of",
    "pulled_price",
    "roi_step",
    "stage_policy",
    "stop_stage",
    "time_stop_due_ms",
]

_HUNDRED = Decimal(100)
PULLED = "|lq"  # the stage suffix of a stop pulled inside liquidation: |lq<price>


def pulled_price(tag: str) -> tuple[str, Decimal | None]:
    """``tag`` without its ``|lq<price>`` stage, and that price (None when not pulled)."""
    head, found, rest = tag.partition(PULLED)
    if not found:
        return tag, None
    price, bar, tail = rest.partition("|")
    return head + bar + tail, Decimal(price)


def progress_of(pos: Position, progress: PositionProgress | None, now_ms: int) -> PositionProgress:
    """The position's progress; without a store row it is at the plan's start, opened now."""
    if progress is not None:
        return progress
    return PositionProgress(opened_ms=now_ms, reference_size=pos.size)


def held_ms(progress: PositionProgress, now_ms: int) -> int:
    return max(0, now_ms - progress.opened_ms)


def level_prices(pos: Position, policy: ProtectionPolicy, rules: SymbolRules) -> list[Decimal]:
    """Every ladder level's limit price (a take-profit price: never worse than asked)."""
    return [take_profit_price(pos, TakeProfitPolicy(lv.distance), rules) for lv in policy.ladder]


@dataclass(frozen=True, slots=True)
class StopStage:
    """The stop's trigger now, its stage suffix for the tag, and the notes for the reason."""

    trigger: Decimal
    suffix: str = ""
    notes: tuple[str, ...] = ()
    # How far a stop pulled inside the liquidation price may sit from where it would be pulled
    # now and still be kept (half the guard's margin, as a price): a cross-margin liquidation
    # price moves with every mark, and a stop replaced on every tick would spend the order
    # rate limit. Kept, it stays at least half the margin from liquidation.
    slack: Decimal = Decimal(0)


def stop_stage(
    pos: Position,
    policy: ProtectionPolicy,
    progress: PositionProgress,
    rules: SymbolRules,
) -> StopStage | None:
    """The stop-loss trigger after the stop moves and the liquidation guard (None: no stop)."""
    stop = policy.stop_loss
    if stop is None:
        return None
    side = exit_side_for(pos)
    rounding = exit_trigger_rounding(side, is_stop=True)
    trigger = stop_trigger_price(pos, stop, rules)
    suffix = ""
    notes: list[str] = []
    done = done_levels(progress.filled_levels)
    moves = [m for m in policy.stop_moves if m.after_level in done]
    if moves:
        move = max(moves, key=lambda m: m.after_level)
        if move.to_level is not None:
            lv = policy.ladder[move.to_level - 1]
            raw = take_profit_price(pos, TakeProfitPolicy(lv.distance), rules)
            what = f"level {move.to_level}"
        else:
            offset = move.break_even_offset_percent or Decimal(0)
            sign = 1 if pos.is_long else -1
            raw = pos.entry_price * (_HUNDRED + sign * offset) / _HUNDRED
            what = f"break-even +{offset}%"
        trigger = quantize_price(raw, rules, rounding)
        suffix += f"|m{move.after_level}"
        notes.append(f"stop moved to {what} ({trigger}) after level {move.after_level} filled")
    guard = policy.liquidation_guard
    liq = pos.liquidation_price
    if guard is not None and pos.product is Product.USDM and liq is not None and liq > 0:
        sign = 1 if pos.is_long else -1
        bound = quantize_price(
            liq * (_HUNDRED + sign * guard.margin_percent) / _HUNDRED, rules, rounding
        )
        slack = liq * guard.margin_percent / (2 * _HUNDRED)
        beyond = trigger < bound if pos.is_long else trigger > bound
        if beyond:
            notes.append(
                f"stop {trigger} pulled inside liquidation {liq} by {guard.margin_percent} % "
                f"to {bound}"
            )
            trigger = bound
            suffix += f"{PULLED}{bound}"
        return StopStage(trigger, suffix, tuple(notes), slack)
    return StopStage(trigger, suffix, tuple(notes))


def roi_step(policy: ProtectionPolicy, held: int) -> tuple[int, Distance] | None:
    """(j, distance) of the ROI step in force after ``held`` ms (1-based j), or None before
    the first step (the plain take-profit distance applies)."""
    best: tuple[int, Distance] | None = None
    for j, step in enumerate(policy.roi, start=1):
        if step.after_ms <= held:
            best = (j, step.distance)
    return best


def time_stop_due_ms(policy: ProtectionPolicy, progress: PositionProgress) -> int | None:
    """When the time stop is due: the earlier of open time + after_ms and at_ms (None: none)."""
    ts = policy.time_stop
    if ts is None:
        return None
    dues = []
    if ts.after_ms is not None:
        dues.append(progress.opened_ms + ts.after_ms)
    if ts.at_ms is not None:
        dues.append(ts.at_ms)
    return min(dues) if dues else None


def liquidation_close_due(
    pos: Position, policy: ProtectionPolicy, mark: Decimal | None
) -> str | None:
    """Why the liquidation guard's close is due now (the mark is within X % of the
    liquidation price), or None. USD-M only; needs a known liquidation price and mark."""
    guard = policy.liquidation_guard
    liq = pos.liquidation_price
    if (
        guard is None
        or guard.close_within_percent is None
        or pos.product is not Product.USDM
        or liq is None
        or liq <= 0
        or mark is None
    ):
        return None
    x = guard.close_within_percent
    if pos.is_long:
        near = mark <= liq * (_HUNDRED + x) / _HUNDRED
    else:
        near = mark >= liq * (_HUNDRED - x) / _HUNDRED
    if not near:
        return None
    return f"mark {mark} is within {x} % of liquidation {liq}"


@dataclass(frozen=True, slots=True)
class Stage:
    """The policy as it applies now (stop trigger fixed, ROI distance chosen, trailing dropped
    until its level), with the stage suffixes and notes of the stop and the take-profit."""

    policy: ProtectionPolicy
    stop_suffix: str = ""
    stop_notes: tuple[str, ...] = ()
    stop_slack: Decimal = Decimal(0)  # StopStage.slack
    tp_suffix: str = ""
    tp_notes: tuple[str, ...] = ()


def stage_policy(
    pos: Position,
    policy: ProtectionPolicy,
    progress: PositionProgress,
    rules: SymbolRules,
    now_ms: int,
) -> Stage:
    """``policy`` at the position's current stage (module docstring)."""
    stop: StopLossPolicy | None = policy.stop_loss
    stop_suffix, stop_notes, stop_slack = "", tuple[str, ...](), Decimal(0)
    staged = stop_stage(pos, policy, progress, rules)
    if staged is not None and stop is not None:
        stop_slack = staged.slack
        if staged.suffix:
            stop = replace(stop, distance=Distance(level=staged.trigger))
            stop_suffix, stop_notes = staged.suffix, staged.notes
    take = policy.take_profit
    tp_suffix, tp_notes = "", tuple[str, ...]()
    if take is not None and policy.roi:
        step = roi_step(policy, held_ms(progress, now_ms))
        if step is not None:
            j, distance = step
            take = replace(take, distance=distance)
            tp_suffix = f"|r{j}"
            tp_notes = (
                f"ROI step {j}: take-profit at {_show(distance)} after "
                f"{policy.roi[j - 1].after_ms // 60_000} min held",
            )
    trailing = policy.trailing
    after = trailing.after_level if trailing is not None else None
    if after is not None and after not in done_levels(progress.filled_levels):
        trailing = None
    effective = replace(policy, stop_loss=stop, take_profit=take, trailing=trailing)
    return Stage(effective, stop_suffix, stop_notes, stop_slack, tp_suffix, tp_notes)


def _show(distance: Distance) -> str:
    if distance.percent is not None:
        return f"{distance.percent}%"
    if distance.price is not None:
        return f"{distance.price} from entry"
    return f"{distance.level}"
