"""The supervisor's verdict per managed position, from planner coverage and the scope's state.

Pure: coverage (which wanted slots have a live matching exit) comes from the planner; the hold
reasons and retry backoffs say *why* a slot is uncovered; a scope that is not ready or is
degraded makes every position ``degraded`` (its exits may well be live, but nothing is being
checked or repaired until the scope recovers).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from exitguard.planner.model import SlotKey
from exitguard.planner.plan import PlanInput, coverage

from .health import ProtectionState
from .retry import Backoff

__all__ = ["position_verdicts"]


def position_verdicts(
    inp: PlanInput,
    holds: Mapping[str, str],
    backoff_of: Callable[[SlotKey], Backoff | None],
    scope_problem: str | None,
) -> dict[str, tuple[ProtectionState, str]]:
    """position text (account/product/SYMBOL/positionSide) -> (state, reason)."""
    verdicts: dict[str, tuple[ProtectionState, str]] = {}
    for (account, product, symbol, side), slots in coverage(inp).items():
        position = f"{account}/{product.value}/{symbol}/{side.value}"
        missing = []
        for cov in slots:
            if cov.covered:
                continue
            why = cov.problem
            held = holds.get(cov.slot.text())
            backoff = backoff_of(cov.slot)
            if held is not None:
                why = f"held: {held}"
            elif backoff is not None and cov.problem == "no exit":
                why = f"retrying ({backoff.reason}), attempt {backoff.attempts}"
            elif backoff is not None:  # e.g. a replacement refused for now: say why too
                why = f"{why}; retrying ({backoff.reason}), attempt {backoff.attempts}"
            missing.append(f"{cov.slot.role.value}: {why}")
        if scope_problem is not None:
            verdicts[position] = (ProtectionState.DEGRADED, "; ".join([scope_problem, *missing]))
        elif missing:
            verdicts[position] = (ProtectionState.BARE, "; ".join(missing))
        else:
            verdicts[position] = (ProtectionState.PROTECTED, "")
    return verdicts
