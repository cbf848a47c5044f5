"""Apply one typed private event to local state, exactly once.

The dedupe key goes into the store's journal in the same transaction as the state change, so an
event delivered twice (two handlers, a replayed buffer, a reconnect overlap) changes state once.
An event is *relevant* to planning when it changes whether a slot is blocked or changes a
position; a confirmation (PENDING -> OPEN) is applied but needs no replan.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from exitguard.planner.model import ExitKind, ExitStatus, Position

from .events import AccountUpdate, AlgoUpdate, OrderUpdate, PrivateEvent
from .ops import ALGO_STATUS, ORDER_STATUS

if TYPE_CHECKING:
    from .scope import ProductScope

__all__ = ["ApplyOutcome", "EventApplier"]


@dataclass(frozen=True, slots=True)
class ApplyOutcome:
    applied: bool  # False: a duplicate, or not about an app-owned exit or a position
    relevant: bool  # True: planning may now decide differently
    symbol: str = ""  # whose slots to plan again


_SKIP = ApplyOutcome(False, False)


class EventApplier:
    def __init__(self, scope: ProductScope) -> None:
        self.scope = scope

    def apply(self, event: PrivateEvent) -> ApplyOutcome:
        store = self.scope.store
        now = self.scope.now_ms()
        if store.in_transaction:  # the batch's transaction (the hot path)
            outcome = self._apply_once(event, now)
        else:
            with store.transaction():
                outcome = self._apply_once(event, now)
        if outcome.applied:
            self.scope.stats.events_applied += 1
        return outcome

    def _apply_once(self, event: PrivateEvent, now: int) -> ApplyOutcome:
        # The dedupe key and the state change commit together: applied exactly once.
        if not self.scope.store.mark_applied(event.dedupe_key, now):
            self.scope.stats.duplicates += 1
            return _SKIP
        return self._apply(event, now)

    def _apply(self, event: PrivateEvent, now: int) -> ApplyOutcome:
        if isinstance(event, AlgoUpdate):
            return self._algo(event, now)
        if isinstance(event, OrderUpdate):
            return self._order(event, now)
        if isinstance(event, AccountUpdate):
            return self._account(event)
        return _SKIP

    def _status_change(
        self, client_id: str, status_text: str, table: dict[str, ExitStatus], now: int, **kw: Any
    ) -> ApplyOutcome:
        store = self.scope.store
        row = store.get(client_id)
        if row is None:
            return _SKIP
        status = table.get(status_text)
        if status is None:
            return _SKIP
        before = not row.status.terminal
        changed = store.update(client_id, status, now, **kw)
        after_row = store.get(client_id)
        assert after_row is not None
        after = not after_row.status.terminal
        if changed:
            self.scope.emit(
                "exit_status",
                client_id=client_id,
                slot=row.slot.text(),
                status=after_row.status.value,
                venue_status=status_text,
            )
        return ApplyOutcome(True, before != after, row.slot.symbol)

    def _algo(self, ev: AlgoUpdate, now: int) -> ApplyOutcome:
        row = self.scope.store.get(ev.client_algo_id)
        if row is None or row.kind is not ExitKind.ALGO:
            return _SKIP  # not app-owned (ownership = a store row), or an id of another kind
        if ev.status == "REJECTED":
            self.scope.emit(
                "exit_rejected", client_id=ev.client_algo_id, slot=row.slot.text(), reason=ev.reason
            )
        return self._status_change(
            ev.client_algo_id,
            ev.status,
            ALGO_STATUS,
            now,
            venue_time_ms=ev.event_time_ms,
            venue_id=ev.algo_id,
            child_order_id=ev.actual_order_id,
            reason=ev.reason or None,
        )

    def _order(self, ev: OrderUpdate, now: int) -> ApplyOutcome:
        store = self.scope.store
        row = store.get(ev.client_order_id)
        if row is not None and row.kind is ExitKind.ALGO:
            row = None  # the venue may give a triggered child the parent's id: link by orderId
        if row is None:
            parent = store.by_child_order(ev.order_id)
            if parent is not None and ev.execution_type == "TRADE":
                self.scope.emit(
                    "exit_fill",
                    client_id=parent.client_id,
                    slot=parent.slot.text(),
                    qty=str(ev.last_qty),
                    price=str(ev.last_price),
                )
            return ApplyOutcome(parent is not None, False)
        if ev.execution_type == "TRADE":
            self.scope.emit(
                "exit_fill",
                client_id=row.client_id,
                slot=row.slot.text(),
                qty=str(ev.last_qty),
                price=str(ev.last_price),
            )
        return self._status_change(
            ev.client_order_id,
            ev.status,
            ORDER_STATUS,
            now,
            venue_time_ms=ev.event_time_ms,
            venue_id=ev.order_id,
        )

    def _account(self, ev: AccountUpdate) -> ApplyOutcome:
        scope = self.scope
        relevant = False
        symbols = []
        for p in ev.positions:
            key = (p.symbol, p.position_side)
            if ev.transaction_time_ms and ev.transaction_time_ms < scope.position_times.get(key, 0):
                continue  # older than what hydration or a later event gave us
            scope.position_times[key] = ev.transaction_time_ms
            before = scope.positions.get(key)
            if p.amount == 0:
                if before is not None:
                    del scope.positions[key]
                    relevant = True
                    symbols.append(p.symbol)
                continue
            pos = Position(
                scope.config.account,
                scope.product,
                p.symbol,
                p.position_side,
                p.amount,
                p.entry_price,
            )
            if before != pos:
                scope.positions[key] = pos
                relevant = True
                symbols.append(p.symbol)
        if relevant:
            scope.release_stale_holds()
            scope.emit(
                "positions",
                positions={f"{s}/{ps}": str(p.amount) for (s, ps), p in scope.positions.items()},
            )
        return ApplyOutcome(True, relevant, ",".join(sorted(set(symbols))))
