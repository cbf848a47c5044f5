"""The manager's side of exit plans (docs: exit plans): position progress kept in the store,
one-shot exits sent once, and the timer that re-plans when time alone changes a plan.

- **Progress** (store ``progress``): opened when a position is first seen (an event or a
  hydration), its reference size grown on a scale-in, forgotten when it closes; a ladder level's
  fill is recorded by the store with the fill event itself (``ExitStore.update``), so the
  re-plan that follows already knows it.
- **One-shots** (``Role.TIME_STOP``, ``Role.LIQUIDATION``): the name goes into
  ``progress.fired`` and is committed BEFORE the request leaves (write-ahead): a crash after the
  send never sends it twice, because the planner no longer wants it. A request that definitely
  did not execute (refused: the slot is then held by the fallback; or never sent) takes the
  name back, so it fires again once the position changes.
- **Spot**: resting exits lock the balance a SELL needs (binance-api.md §3.7), so a one-shot
  close waits until every other exit of the position is cancelled; the cancels come first in the
  pass, and the close is sent only when none remains (journaled loudly: the position is being
  closed and rests without a stop meanwhile, which is what it asked for).
- **Timer**: :class:`WakeTimer` sleeps until the planner's ``next_wake_ms`` (bounded by
  ``wake_cap_s``, so a clock that jumps or a new position is seen soon) and queues a re-plan
  in the scope's queue (one workflow at a time); it runs as a supervised task of the scope.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable

from exitguard.domain.enums import Product
from exitguard.planner.model import Action, CancelExit, PlaceExit, Position, PositionKey, Role
from exitguard.planner.progress import one_shot_name
from exitguard.store.exits import ExitStore

from .context import ScopeContext

__all__ = ["ONE_SHOTS", "WakeTimer", "one_shots_last", "send_one_shot", "track_hydrated"]

# The one-shot exits' slots (their names in ``PositionProgress.fired``: planner.progress).
ONE_SHOTS = frozenset({Role.TIME_STOP, Role.LIQUIDATION})


def track_hydrated(
    store: ExitStore, account: str, product: Product, positions: Iterable[Position], now_ms: int
) -> None:
    """After a hydration: every open position has its progress (a new one opens now, a larger
    one grew while we were away), and a position that closed meanwhile has none."""
    open_keys: set[PositionKey] = set()
    for pos in positions:
        if pos.amount != 0:
            open_keys.add(pos.key)
            store.track_position(pos.key, pos.amount, now_ms)
    for key in store.progress_for(account, product):
        if key not in open_keys:
            store.forget_progress(key)


def one_shots_last(product: Product, actions: list[Action]) -> list[Action]:
    """Spot: the cancels of a position come before its one-shot close in the pass (the close
    needs the balance they lock). USD-M exits lock no position: the order stays."""
    if product is not Product.SPOT:
        return actions
    closing = {
        a.slot.position for a in actions if isinstance(a, PlaceExit) and a.slot.role in ONE_SHOTS
    }
    if not closing:
        return actions
    first = [a for a in actions if isinstance(a, CancelExit) and a.slot.position in closing]
    return first + [a for a in actions if not any(a is f for f in first)]


async def send_one_shot(
    scope: ScopeContext,
    action: PlaceExit,
    place: Callable[[], Awaitable[object | None]],
    refused: Callable[[], bool],
) -> None:
    """Send a one-shot exit once (module docstring). ``place`` sends it (None: not accepted);
    ``refused``: whether the venue definitely refused it."""
    slot = action.slot
    key = slot.position
    name = one_shot_name(slot)
    store = scope.store
    if slot.product is Product.SPOT:
        locking = [
            r
            for r in store.blocking(slot.account, slot.product, frozenset({slot.symbol}))
            if r.slot.position == key and r.slot != slot
        ]
        if locking:
            scope.emit(
                "one_shot_waits",
                slot=slot.text(),
                reason="Spot: the resting exits lock the balance; cancelled first",
                waiting_for=[r.client_id for r in locking],
            )
            return
        why = f"{name}: every exit was cancelled to free the balance; selling it now"
        scope.emit("spot_close_without_stop", slot=slot.text(), reason=why)
        store.record_decision("spot_close_without_stop", slot, "", why, scope.now_ms())
    if not scope.ops.can_mutate:  # DRY_RUN_PRIVATE: the submitter journals the candidate
        await place()
        return
    now = scope.now_ms()
    store.record_fired(slot, now)  # committed before the request leaves (write-ahead)
    scope.emit("one_shot", slot=slot.text(), fired=name, reason=action.reason)
    store.record_decision("one_shot", slot, "", action.reason, now, {"fired": name})
    placed = await place()
    if placed is None and (refused() or not _outstanding(store, action)):
        store.unrecord_fired(slot, scope.now_ms())


def _outstanding(store: ExitStore, action: PlaceExit) -> bool:
    """Whether a sent one-shot may still execute (its row blocks: its outcome is unknown)."""
    slot = action.slot
    return any(
        r.slot == slot for r in store.blocking(slot.account, slot.product, frozenset({slot.symbol}))
    )


class WakeTimer:
    """Queue a re-plan when the planner's next wake time comes (module docstring)."""

    def __init__(
        self,
        now_ms: Callable[[], int],
        next_wake: Callable[[], int | None],
        replan: Callable[[str], None],
        cap_s: float,
        before: Callable[[], Awaitable[bool]] | None = None,
    ) -> None:
        self.now_ms = now_ms
        self.next_wake = next_wake  # None: nothing changes by time alone (or not ready)
        self.replan = replan
        self.cap_s = cap_s
        # Runs each round before the wake time is read (the market refresh): True when what it
        # read may change a plan, so a re-plan is queued.
        self.before = before
        self._target: int | None = None  # the wake time being waited for
        self.wakes = 0

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.round_delay_s(await self._before()))

    async def _before(self) -> bool:
        return self.before is not None and await self.before()

    def round_delay_s(self, changed: bool) -> float:
        """One round: queue what is due; how long to sleep before the next round.

        ``next_wake_ms`` names times after now only, so the time waited for is remembered and
        the re-plan queued once the clock has reached it (it may have jumped past it)."""
        now = self.now_ms()
        if self._target is not None and now >= self._target:
            self._target = None
            self.wakes += 1
            self.replan("timer")
        elif changed:
            self.replan("market")
        wake = self.next_wake()
        if wake is None or wake <= now:
            return self.cap_s
        self._target = wake
        return max(0.001, min(self.cap_s, (wake - now) / 1000))
