"""When a plan changes by time alone: the manager re-plans then. Pure."""

from __future__ import annotations

from .inputs import PlanInput
from .stages import held_ms, progress_of, time_stop_due_ms
from .wants import FIRED_TIME_STOP

__all__ = ["next_wake_ms"]


def next_wake_ms(inp: PlanInput) -> int | None:
    """The earliest time after ``inp.now_ms`` at which some managed position's plan changes
    with no event: its next ROI step, or its time stop coming due (not yet sent). None when
    no plan waits on the clock."""
    wakes: list[int] = []
    for pos, policy in inp.managed():
        progress = progress_of(pos, inp.progress.get(pos.key), inp.now_ms)
        held = held_ms(progress, inp.now_ms)
        later = [s.after_ms for s in policy.roi if s.after_ms > held]
        if later:
            wakes.append(progress.opened_ms + min(later))
        due = time_stop_due_ms(policy, progress)
        if due is not None and due > inp.now_ms and FIRED_TIME_STOP not in progress.fired:
            wakes.append(due)
    return min(wakes) if wakes else None
