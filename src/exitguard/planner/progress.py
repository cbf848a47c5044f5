"""How a position's progress moves (docs/guide/exit-plans.md "How a plan moves"). Pure.

The store keeps one :class:`PositionProgress` per open position and drops it when the position
closes; the manager updates it with these functions, so that the live plan, a restart mid-ladder
and the backtest read progress the same way.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from .model import PositionProgress, Role, SlotKey
from .wants import FIRED_LIQUIDATION, FIRED_TIME_STOP

__all__ = ["level_filled", "one_shot_name", "one_shot_sent", "resized", "started"]


def started(size: Decimal, now_ms: int) -> PositionProgress:
    """A position first seen open: the plan starts at its size, now."""
    return PositionProgress(opened_ms=now_ms, reference_size=abs(size))


def resized(progress: PositionProgress, old_size: Decimal, new_size: Decimal) -> PositionProgress:
    """A scale-in grows the reference size by the amount added (the ladder's levels grow in
    proportion); a partial close leaves it (the fractions stay those of the plan's start)."""
    added = abs(new_size) - abs(old_size)
    if added <= 0:
        return progress
    return replace(progress, reference_size=progress.reference_size + added)


def level_filled(progress: PositionProgress, slot: SlotKey) -> PositionProgress:
    """A ladder level's exit filled completely (USD-M: its LIMIT; Spot: its OCO's LIMIT_MAKER
    leg, not the stop leg). Any other slot leaves progress as it is."""
    if slot.level <= 0 or slot.role not in (Role.TAKE_PROFIT, Role.OCO):
        return progress
    return replace(progress, filled_levels=progress.filled_levels | {slot.level})


def one_shot_name(slot: SlotKey) -> str | None:
    """The ``fired`` name of a one-shot close's slot (None for a resting exit's slot)."""
    if slot.role is Role.TIME_STOP:
        return FIRED_TIME_STOP
    if slot.role is Role.LIQUIDATION:
        return FIRED_LIQUIDATION
    return None


def one_shot_sent(progress: PositionProgress, slot: SlotKey) -> PositionProgress:
    """A time-stop or liquidation close was sent: never again for this position."""
    name = one_shot_name(slot)
    if name is None:
        return progress
    return replace(progress, fired=progress.fired | {name})
