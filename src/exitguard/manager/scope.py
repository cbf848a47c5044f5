"""One product scope's workflow: hydrate, apply private events once, plan, submit, recover.

States (design: manager): ``starting → hydrating → replaying → ready ⇄ recovery_required``.
One consumer task handles the scope's private stream in order, so only one workflow runs at a
time: events that arrive while a workflow (recovery, replay, planning, submission) awaits the
venue wait in the queue and are handed to the workflow after it, never to a competing planner
(seed 001 "Algo update during active workflow"). Transport events drive health only: RECONNECTING
pauses mutations and buffers; RECONNECTED or EXCEPTION → ``recovery_required`` → hydrate (open
algo orders, open orders, positions) → replay the buffer → ready. Startup is the same path
(crash-only design): a restart after ``kill -9`` is a startup.

REST is read only at startup, reconnect, scoped recovery, unknown outcomes and conflicting
evidence (an unreadable event), never because a healthy event arrived.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any

from exitguard.adapters.errors import ExchangeError, Rejected
from exitguard.adapters.port import StreamItem, TransportEvent, TransportKind, UserDataEvent
from exitguard.domain.enums import PositionMode, PositionSide, Product
from exitguard.domain.filters import ExchangeRules
from exitguard.domain.ids import ClientIdGenerator
from exitguard.planner.model import (
    Action,
    CancelExit,
    ExitRequest,
    PlaceExit,
    Position,
    ReplaceExit,
    SkipSlot,
    SlotKey,
)
from exitguard.planner.plan import PlanInput, plan_exits
from exitguard.planner.policy import ProtectionPolicy
from exitguard.store.exits import ExitStore

from .apply import EventApplier
from .events import EventParseError, ListenKeyExpired, PrivateEvent, parse_private_event
from .fallback import FallbackHandler
from .ops import Hydration, ProductOps
from .submit import Submitter

__all__ = ["CRASH_POINTS", "ProductScope", "ScopeConfig", "ScopeState", "ScopeStats"]

log = logging.getLogger("exitguard.manager")


class ScopeState(StrEnum):
    STARTING = "starting"
    HYDRATING = "hydrating"
    REPLAYING = "replaying"
    READY = "ready"
    RECOVERY_REQUIRED = "recovery_required"
    STOPPED = "stopped"


CRASH_POINTS = ("before_send", "after_send", "after_response", "after_replace_place")


@dataclass(slots=True)
class ScopeConfig:
    account: str
    policy_for: Callable[[Product, str], ProtectionPolicy | None]
    # The one mutation gate: (product, symbol, notional) -> refusal reason, or None to allow.
    gate: Callable[[Product, str, Decimal], str | None] = lambda *_: None
    crash_at: str | None = None  # tests: SIGKILL ourselves at this point (CRASH_POINTS)
    recovery_backoff_s: float = 0.5
    max_recovery_attempts: int = 20
    # Startup waits this long for the private stream to open before hydrating (see start()).
    stream_open_timeout_s: float = 10.0


@dataclass(slots=True)
class ScopeStats:
    plan_passes: int = 0
    events_applied: int = 0
    duplicates: int = 0
    deferred_events: int = 0  # arrived while a workflow was active; handled after it
    skipped_replans: int = 0
    recoveries: int = 0
    hydrations: int = 0
    placed: int = 0
    cancelled: int = 0
    checkpoints: int = 0  # idle WAL checkpoints run off the event loop
    last_actions: list[Action] = field(default_factory=list)


class ProductScope:
    """The workflow of one product for one account (see the module docstring)."""

    def __init__(
        self,
        ops: ProductOps,
        store: ExitStore,
        config: ScopeConfig,
        ids: ClientIdGenerator,
        now_ms: Callable[[], int],
        on_event: Callable[[str, dict[str, Any]], None] | None = None,
    ) -> None:
        self.ops = ops
        self.product = ops.product
        self.store = store
        self.config = config
        self.now_ms = now_ms
        self.state = ScopeState.STARTING
        self.rules: ExchangeRules | None = None
        self.position_mode = PositionMode.ONE_WAY
        self.positions: dict[tuple[str, PositionSide], Position] = {}
        self.position_times: dict[tuple[str, PositionSide], int] = {}
        self.buffer: list[PrivateEvent] = []
        self.queue: asyncio.Queue[StreamItem] = asyncio.Queue()
        self.stats = ScopeStats()
        self.busy = False  # a workflow is running: arriving events wait for it
        self._notify = on_event or (lambda _k, _d: None)
        self.applier = EventApplier(self)
        self.submitter = Submitter(self, ids)
        self.fallback = FallbackHandler(self)
        self._tasks: list[asyncio.Task[None]] = []
        self._checkpoint_task: asyncio.Task[None] | None = None
        self._handling = False
        self.ready = asyncio.Event()
        self.stream_open = asyncio.Event()  # the private stream is subscribed right now
        # The last hydration began while the stream was open: every later event reaches us.
        self._hydrated_while_open = False

    # -- plumbing ------------------------------------------------------------------------

    def emit(self, kind: str, **data: Any) -> None:
        """A sanitised, structured notice for logs and the live demo view."""
        data.setdefault("product", self.product.value)
        self._notify(kind, data)

    def set_state(self, state: ScopeState) -> None:
        if state is self.state:
            return
        self.state = state
        self.store.set_scope_state(
            f"{self.config.account}/{self.product.value}", state, self.now_ms()
        )
        self.emit("scope_state", state=state.value)
        if state is ScopeState.READY:
            self.ready.set()
        else:
            self.ready.clear()

    def crash_point(self, point: str) -> None:
        """Test hook: die like ``kill -9`` at ``point`` (no cleanup, no flush)."""
        if self.config.crash_at == point:
            os.kill(os.getpid(), signal.SIGKILL)

    def policy(self, symbol: str) -> ProtectionPolicy | None:
        return self.config.policy_for(self.product, symbol)

    def managed(self, position: Position) -> bool:
        return self.policy(position.symbol) is not None

    @staticmethod
    def fingerprint(position: Position | None) -> str:
        if position is None:
            return "flat"
        return f"{position.amount}@{position.entry_price}"

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        """Startup = recovery (crash-only). Then follow the private stream.

        The stream is subscribed *before* hydrating (bounded by ``stream_open_timeout_s``):
        a confirmation for an exit placed by the startup pass, sent before the subscription
        existed, would be lost, and the exit would wait for it forever. If the stream is not
        open in time, positions are protected anyway, and the late OPEN triggers a recovery.
        """
        self._tasks.append(asyncio.create_task(self._pump(), name=f"{self.product}-stream"))
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.config.stream_open_timeout_s):
                await self.stream_open.wait()
        if not self.stream_open.is_set():
            self.emit("stream_not_open", waited_s=self.config.stream_open_timeout_s)
        await self.recover("startup")
        self._tasks.append(asyncio.create_task(self._consume(), name=f"{self.product}-consume"))

    def follow(self) -> None:
        """Follow the private stream without a startup pass (the state is already hydrated)."""
        self._tasks.append(asyncio.create_task(self._pump(), name=f"{self.product}-stream"))
        self._tasks.append(asyncio.create_task(self._consume(), name=f"{self.product}-consume"))

    async def wait_idle(self, timeout_s: float = 5.0, poll_s: float = 0.005) -> None:
        """Until nothing is queued or being handled (bounded: raises TimeoutError)."""
        async with asyncio.timeout(timeout_s):
            while True:
                await asyncio.sleep(poll_s)
                if self.queue.empty() and not self._handling and not self.busy:
                    return

    async def stop(self) -> None:
        if self._checkpoint_task is not None:
            # A thread cannot be interrupted: let a running checkpoint finish before closing.
            with contextlib.suppress(Exception):
                await self._checkpoint_task
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        self.set_state(ScopeState.STOPPED)

    async def _pump(self) -> None:
        async for item in self.ops.stream():
            if isinstance(item, TransportEvent):
                if item.kind in (TransportKind.OPEN, TransportKind.RECONNECTED):
                    self.stream_open.set()
                else:
                    self.stream_open.clear()
            if self.busy:
                self.stats.deferred_events += 1
            self.queue.put_nowait(item)

    async def _consume(self) -> None:
        while True:
            first = await self.queue.get()
            batch = [first]
            while not self.queue.empty():
                batch.append(self.queue.get_nowait())
            self._handling = True
            try:
                await self.handle_batch(batch)
            finally:
                self._handling = False
            if self.queue.empty() and self.store.checkpoint_due():
                self._start_checkpoint()

    def _start_checkpoint(self) -> None:
        """An idle moment: checkpoint the WAL in a worker thread, so no commit of the next burst
        pays for it; the loop does not wait for it (events keep being handled meanwhile)."""
        if self._checkpoint_task is not None and not self._checkpoint_task.done():
            return
        self._checkpoint_task = asyncio.create_task(self._checkpoint(), name="checkpoint")

    async def _checkpoint(self) -> None:
        try:
            await asyncio.to_thread(self.store.checkpoint)
            self.stats.checkpoints += 1
        except sqlite3.Error as exc:  # the automatic checkpoint still bounds the log
            self.emit("checkpoint_failed", error=str(exc))

    async def drain(self) -> None:
        """Handle everything queued now (tests and the one-shot ``plan`` command)."""
        batch: list[StreamItem] = []
        while not self.queue.empty():
            batch.append(self.queue.get_nowait())
        if batch:
            await self.handle_batch(batch)

    # -- intake --------------------------------------------------------------------------

    async def handle_batch(self, items: list[StreamItem]) -> None:
        """Apply a batch in order; then at most one workflow (recovery or plan)."""
        need_recovery = False
        relevant = False
        applied_any = False
        user_events = 0
        dirty: set[str] = set()
        with self.store.transaction():  # one commit for the batch (no awaits inside)
            for item in items:
                if isinstance(item, TransportEvent):
                    if item.kind is TransportKind.RECONNECTING:
                        self.set_state(ScopeState.RECOVERY_REQUIRED)  # pause mutations, buffer
                    elif item.kind in (TransportKind.RECONNECTED, TransportKind.EXCEPTION) or (
                        item.kind is TransportKind.OPEN and not self._hydrated_while_open
                    ):
                        # A first OPEN after a hydration that ran without the stream: events
                        # in between were never delivered, so read the state again.
                        self.set_state(ScopeState.RECOVERY_REQUIRED)
                        need_recovery = True
                    self.emit("transport", transport=item.kind.value, detail=item.detail)
                    continue
                assert isinstance(item, UserDataEvent)
                user_events += 1
                try:
                    event = parse_private_event(item.payload)
                except EventParseError as exc:
                    # Conflicting evidence: local state can no longer be trusted.
                    self.emit("event_unreadable", error=str(exc))
                    self.set_state(ScopeState.RECOVERY_REQUIRED)
                    need_recovery = True
                    continue
                if event is None or isinstance(event, ListenKeyExpired):
                    continue  # the adapter renews the key and reports the reconnect
                if event.product is not self.product:
                    continue
                if self.state is not ScopeState.READY:
                    self.buffer.append(event)
                    continue
                outcome = self.applier.apply(event)
                applied_any |= outcome.applied
                if outcome.relevant:
                    relevant = True
                    dirty.update(s for s in outcome.symbol.split(",") if s)
        if need_recovery:
            await self.recover("reconnect")
        elif relevant and self.state is ScopeState.READY:
            await self.plan_and_submit("private event", frozenset(dirty))
        elif user_events and not applied_any:
            # Only already-applied (or irrelevant) events: no duplicate replan (seed 001).
            self.stats.skipped_replans += 1

    # -- workflows -----------------------------------------------------------------------

    async def recover(self, reason: str) -> None:
        """Hydrate from REST, reconcile the store, replay the buffer, then plan."""
        self.busy = True
        try:
            for attempt in range(self.config.max_recovery_attempts):
                self.set_state(ScopeState.HYDRATING)
                self._hydrated_while_open = self.stream_open.is_set()
                try:
                    hydration = await self.ops.hydrate(self.config.account)
                    await self._reconcile(hydration)
                    break
                except ExchangeError as exc:
                    self.emit("hydration_failed", reason=reason, error=str(exc), attempt=attempt)
                    self.set_state(ScopeState.RECOVERY_REQUIRED)
                    await asyncio.sleep(self.config.recovery_backoff_s)
            else:
                raise RuntimeError(f"{self.product}: hydration failed {attempt + 1} times")
            self.stats.hydrations += 1
            if reason != "startup":
                self.stats.recoveries += 1
            self.set_state(ScopeState.REPLAYING)
            buffered, self.buffer = self.buffer, []
            for event in buffered:
                self.applier.apply(event)
            self.set_state(ScopeState.READY)
            self.emit("recovered", reason=reason, replayed=len(buffered))
        finally:
            self.busy = False
        await self.plan_and_submit(reason)

    async def _reconcile(self, h: Hydration) -> None:
        self.rules = h.rules
        self.position_mode = h.position_mode
        now = self.now_ms()
        self.positions = {(p.symbol, p.position_side): p for p in h.positions}
        self.position_times = dict(h.position_times)
        for client_id, venue in h.open_exits.items():
            row = self.store.get(client_id)
            if row is None or row.slot.product is not self.product:
                continue  # not app-owned: never touched
            # The venue's open state wins over older terminal history (seed 001).
            self.store.update(
                client_id,
                venue.status,
                now,
                venue_id=venue.venue_id,
                child_order_id=venue.child_order_id,
                authoritative=True,
            )
        for row in self.store.blocking(self.config.account, self.product):
            if row.client_id not in h.open_exits:
                await self.submitter.resolve(row, "hydration: not among open orders")
        self.release_stale_holds()

    def _own_holds(self) -> list[tuple[SlotKey, str]]:
        """This scope's held slots with the position fingerprint each was decided for."""
        prefix = f"{self.config.account}/{self.product.value}/"
        return [
            (SlotKey.from_text(text), fingerprint)
            for text, (fingerprint, _reason) in self.store.holds().items()
            if text.startswith(prefix)
        ]

    def release_stale_holds(self) -> None:
        """A hold lasts while the position it was decided for is unchanged."""
        for slot, fingerprint in self._own_holds():
            if self.fingerprint(self.position_for(slot)) != fingerprint:
                self.store.release(slot)

    def held_slots(self) -> frozenset[SlotKey]:
        return frozenset(slot for slot, _fingerprint in self._own_holds())

    def plan_input(self, symbols: frozenset[str] | None = None) -> PlanInput:
        """The planner's input; with ``symbols``, only those symbols' slots (a scoped pass)."""
        assert self.rules is not None
        positions = [
            p
            for p in self.positions.values()
            if self.managed(p) and (symbols is None or p.symbol in symbols)
        ]
        policies = {}
        for pos in positions:
            policy = self.policy(pos.symbol)
            if policy is not None:
                policies[(pos.product, pos.symbol)] = policy
        exits = tuple(
            r.known() for r in self.store.blocking(self.config.account, self.product, symbols)
        )
        return PlanInput(
            positions=tuple(positions),
            exits=exits,
            policies=policies,
            rules={self.product: self.rules},
            position_modes={self.product: self.position_mode},
            holds=self.held_slots(),
        )

    async def plan_and_submit(
        self, reason: str, symbols: frozenset[str] | None = None
    ) -> list[Action]:
        """One planning pass and its submissions; events arriving meanwhile wait (deferred).

        ``symbols`` limits the pass to the symbols a private event changed; startup, recovery
        and retries plan everything.
        """
        if self.state is not ScopeState.READY or self.rules is None:
            return []
        self.busy = True
        try:
            self.stats.plan_passes += 1
            actions = plan_exits(self.plan_input(symbols))
            self.stats.last_actions = actions
            if actions:
                self.emit("plan", reason=reason, actions=[_describe(a) for a in actions])
            for action in actions:
                if self.state is not ScopeState.READY:
                    break
                await self._execute(action)
            return actions
        finally:
            self.busy = False

    async def _execute(self, action: Action) -> None:
        if isinstance(action, PlaceExit):
            await self.submitter.place(action.slot, action.request, action.reason)
        elif isinstance(action, ReplaceExit):
            await self.submitter.replace(action)
        elif isinstance(action, CancelExit):
            await self.submitter.cancel(action.slot, action.client_id, action.reason)
        elif isinstance(action, SkipSlot):
            self.emit("skip", slot=action.slot.text(), reason=action.reason)

    # -- helpers for the submitter and the fallback handler --------------------------------

    def position_for(self, slot: SlotKey) -> Position | None:
        return self.positions.get((slot.symbol, slot.position_side))

    async def on_rejected(self, slot: SlotKey, request: ExitRequest, exc: Rejected) -> None:
        await self.fallback.on_rejected(slot, request, exc)

    def hold(self, slot: SlotKey, reason: str) -> None:
        self.store.hold(slot, self.fingerprint(self.position_for(slot)), reason, self.now_ms())
        self.emit("hold", slot=slot.text(), reason=reason)


def _describe(action: Action) -> dict[str, Any]:
    out: dict[str, Any] = {"action": type(action).__name__, "slot": action.slot.text()}
    if isinstance(action, PlaceExit | ReplaceExit):
        out["type"] = str(getattr(action.request, "type", "OCO"))
        out["side"] = action.request.side.value
    if isinstance(action, CancelExit | ReplaceExit):
        out["cancels"] = (
            action.client_id if isinstance(action, CancelExit) else action.old_client_id
        )
    out["reason"] = action.reason
    return out
