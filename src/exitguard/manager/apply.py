"""Apply one typed private event to local state, exactly once.

The dedupe key goes into the store's journal in the same transaction as the state change, so an
event delivered twice (two handlers, a replayed buffer, a reconnect overlap) changes state once.
An event is *relevant* to planning when it changes whether a slot is blocked or changes a
position; a confirmation (PENDING -> OPEN) is applied but needs no replan.

Exit plans' progress moves with the same events, in the same transaction: a position change
opens, grows or forgets its progress row (``ExitStore.track_position``), and a ladder level's
fill is recorded by ``ExitStore.update`` as its FILLED status is written, before the re-plan
that follows the batch (a Spot OCO level only when its take-profit leg filled).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from exitguard.domain.enums import PositionSide, Product, Side
from exitguard.planner.model import ExitKind, ExitStatus, Position
from exitguard.store.exits import ExitRow

from .context import ScopeContext
from .events import (
    AccountUpdate,
    AlgoUpdate,
    ListStatus,
    OrderUpdate,
    PrivateEvent,
    SpotBalances,
    SpotExecution,
)
from .ops import ALGO_STATUS, CHILD_TO_EXIT, ORDER_STATUS
from .spot_ops import SpotOps, entry_key, is_dust

__all__ = ["ApplyOutcome", "EventApplier"]


@dataclass(frozen=True, slots=True)
class ApplyOutcome:
    applied: bool  # False: a duplicate, or not about an app-owned exit or a position
    relevant: bool  # True: planning may now decide differently
    symbol: str = ""  # whose slots to plan again


_SKIP = ApplyOutcome(False, False)


class EventApplier:
    def __init__(self, scope: ScopeContext) -> None:
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
            return self._account(event, now)
        if isinstance(event, SpotExecution):
            return self._spot_execution(event, now)
        if isinstance(event, ListStatus):
            return self._list_status(event, now)
        if isinstance(event, SpotBalances):
            return self._spot_balances(event, now)
        return _SKIP

    def _status_change(
        self,
        client_id: str,
        status_text: str,
        table: dict[str, ExitStatus],
        now: int,
        *,
        filled: bool = False,
        **kw: Any,
    ) -> ApplyOutcome:
        store = self.scope.store
        row = store.get(client_id)
        if row is None:
            return _SKIP
        status = table.get(status_text)
        if status is None:
            return _SKIP
        changed = store.update(client_id, status, now, **kw)
        if not changed:
            # Nothing moved (a repeat or older evidence): blocking cannot have changed either.
            return ApplyOutcome(True, False, row.slot.symbol)
        after_row = store.get(client_id)
        assert after_row is not None
        self.scope.emit(
            "exit_status",
            client_id=client_id,
            slot=row.slot.text(),
            status=after_row.status.value.upper(),
            venue_status=status_text,
            # The exit executed: FILLED, or a triggered algo exit whose child order filled
            # (the algo order itself ends FINISHED; binance-api.md §1.9).
            filled=filled or after_row.status is ExitStatus.FILLED,
        )
        relevant = row.status.terminal != after_row.status.terminal
        return ApplyOutcome(True, relevant, row.slot.symbol)

    def _algo(self, ev: AlgoUpdate, now: int) -> ApplyOutcome:
        row = self.scope.store.get(ev.client_algo_id)
        if row is None or row.kind is not ExitKind.ALGO:
            return _SKIP  # not app-owned (ownership = a store row), or an id of another kind
        if ev.status == "REJECTED":
            self.scope.emit(
                "exit_rejected", client_id=ev.client_algo_id, slot=row.slot.text(), reason=ev.reason
            )
        if ev.activated and ev.status == "NEW":
            # The trailing stop's second NEW (activation reached): same exit, still open; said
            # once (its own dedupe key), no status change and no replan.
            self.scope.emit("trailing_activated", client_id=ev.client_algo_id, slot=row.slot.text())
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
        if row is None or row.kind is ExitKind.ALGO:
            # A triggered child: linked by orderId (``actualOrderId``), or by the parent's id
            # when the venue gives the child the parent's client id.
            parent = store.by_child_order(ev.order_id) or row
            if parent is None:
                return _SKIP
            if ev.execution_type == "TRADE":
                self.scope.emit(
                    "exit_fill",
                    client_id=parent.client_id,
                    slot=parent.slot.text(),
                    qty=str(ev.last_qty),
                    price=str(ev.last_price),
                )
            end = CHILD_TO_EXIT.get(ev.status)
            if end is None:
                return ApplyOutcome(True, False, parent.slot.symbol)
            return self._status_change(
                parent.client_id,
                end.value,
                {end.value: end},
                now,
                filled=ev.status == "FILLED",
                venue_time_ms=ev.event_time_ms,
                child_order_id=ev.order_id,
            )
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

    def _key(self, symbol: str, side: PositionSide) -> tuple[str, Product, str, PositionSide]:
        return (self.scope.config.account, self.scope.product, symbol, side)

    def _account(self, ev: AccountUpdate, now: int) -> ApplyOutcome:
        scope = self.scope
        changed: list[tuple[str, PositionSide]] = []
        for p in ev.positions:
            key = (p.symbol, p.position_side)
            if ev.transaction_time_ms and ev.transaction_time_ms < scope.position_times.get(key, 0):
                continue  # older than what hydration or a later event gave us
            scope.position_times[key] = ev.transaction_time_ms
            before = scope.positions.get(key)
            if p.amount == 0:
                if before is not None:
                    del scope.positions[key]
                    changed.append(key)
                scope.store.track_position(self._key(p.symbol, p.position_side), p.amount, now)
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
                changed.append(key)
            scope.store.track_position(pos.key, pos.amount, now)
        if changed:
            scope.release_stale_holds()
            self._emit_positions(changed)
        symbols = ",".join(sorted({symbol for symbol, _side in changed}))
        return ApplyOutcome(True, bool(changed), symbols)

    def _emit_positions(self, changed: list[tuple[str, PositionSide]]) -> None:
        # Only the positions that changed: a notice per event must not grow with the account.
        positions = self.scope.positions
        self.scope.emit(
            "positions",
            positions={
                f"{s}/{ps}": str(positions[(s, ps)].amount if (s, ps) in positions else 0)
                for s, ps in changed
            },
        )

    # -- Spot ------------------------------------------------------------------------------

    def _spot_status(
        self,
        row: ExitRow,
        status: ExitStatus,
        now: int,
        when: int,
        venue_id: int | None = None,
        expiry_reason: str = "",
        level_fill: bool = True,
    ) -> ApplyOutcome:
        extra: dict[str, Any] = {"reason": f"expired: {expiry_reason}"} if expiry_reason else {}
        if not level_fill:
            extra["level_fill"] = False
        out = self._status_change(
            row.client_id,
            status.value,
            {status.value: status},
            now,
            venue_time_ms=when,
            venue_id=venue_id,
            **extra,
        )
        if status is ExitStatus.FILLED:
            # A filled Spot exit sold the holding: the outboundAccountPosition that follows
            # (the venue sends it after the executionReport) carries the position change and
            # the replan. Planning now would see the old balance and place the exit again.
            return ApplyOutcome(out.applied, False, out.symbol)
        return out

    def _spot_fill(self, row: ExitRow, ev: SpotExecution) -> None:
        if ev.execution_type == "TRADE":
            self.scope.emit(
                "exit_fill",
                client_id=row.client_id,
                slot=row.slot.text(),
                qty=str(ev.last_qty),
                price=str(ev.last_price),
            )

    def _remember_buy(self, ev: SpotExecution, now: int) -> bool:
        """A BUY fill of a managed symbol starting a new holding sets its entry price (Spot has
        no entry price of its own). Added buys keep the first entry (exits stay put)."""
        scope = self.scope
        if ev.side is not Side.BUY or ev.execution_type != "TRADE" or ev.last_qty <= 0:
            return False
        if scope.policy(ev.symbol) is None:
            return False
        key = entry_key(scope.config.account, ev.symbol)
        known = scope.store.entry(key)
        if (ev.symbol, PositionSide.BOTH) in scope.positions or (known and known[1] > 0):
            return False
        scope.store.set_entry(key, ev.last_price, ev.last_qty, now)
        return True

    def _spot_execution(self, ev: SpotExecution, now: int) -> ApplyOutcome:
        store = self.scope.store
        remembered = self._remember_buy(ev, now)
        if ev.order_list_id != -1:
            # An OCO leg: the exit is the list (its legs' ids are the venue's). The list's own
            # listStatus says EXECUTING / ALL_DONE; the legs say how it ended.
            row = store.by_venue_id(ExitKind.SPOT_OCO, ev.order_list_id)
            if row is None or row.slot.product is not Product.SPOT:
                return ApplyOutcome(remembered, False)
            self._spot_fill(row, ev)
            if ev.status == "FILLED":
                status = ExitStatus.FILLED
            elif ev.status == "CANCELED":
                status = ExitStatus.CANCELED
            elif row.status is ExitStatus.TRIGGERED and ev.status in ("EXPIRED", "REJECTED"):
                # After ALL_DONE the other leg has already expired (OCO_TRIGGER comes first):
                # this is the working leg ending unfilled.
                status = ExitStatus.EXPIRED
            else:
                return ApplyOutcome(True, False, row.slot.symbol)
            why = ev.expiry_reason if status is ExitStatus.EXPIRED else ""
            # A ladder level's OCO filled as a take-profit only through its LIMIT_MAKER leg; its
            # stop leg filling is the stop, not the level.
            return self._spot_status(
                row,
                status,
                now,
                ev.event_time_ms,
                expiry_reason=why,
                level_fill=ev.order_type == "LIMIT_MAKER",
            )
        # A cancel's report carries the cancel request's id in ``c``, the order's in ``C``.
        client_id = ev.client_order_id
        if ev.execution_type == "CANCELED" and ev.original_client_order_id:
            client_id = ev.original_client_order_id
        row = store.get(client_id)
        if row is None or row.kind is not ExitKind.SPOT_ORDER:
            return ApplyOutcome(remembered, False)
        self._spot_fill(row, ev)
        mapped = ORDER_STATUS.get(ev.status)
        if mapped is None:
            return ApplyOutcome(True, False, row.slot.symbol)
        if ev.status == "REJECTED":
            self.scope.emit(
                "exit_rejected", client_id=client_id, slot=row.slot.text(), reason=ev.reject_reason
            )
        why = ev.expiry_reason if ev.status == "EXPIRED" else ""
        return self._spot_status(row, mapped, now, ev.event_time_ms, ev.order_id, why)

    def _list_status(self, ev: ListStatus, now: int) -> ApplyOutcome:
        row = self.scope.store.get(ev.list_client_order_id)
        if row is None or row.kind is not ExitKind.SPOT_OCO:
            return _SKIP
        if ev.list_order_status == "EXECUTING":
            status = ExitStatus.OPEN
        elif ev.list_order_status == "REJECT":
            status = ExitStatus.REJECTED
        elif ev.list_order_status == "ALL_DONE":
            if row.status.terminal:
                return ApplyOutcome(True, False, row.slot.symbol)  # a leg already said how
            # A leg started working or trading: it still holds the balance until its own
            # report (FILLED / EXPIRED) ends the exit, so the slot stays blocked.
            status = ExitStatus.TRIGGERED
        else:
            return _SKIP
        return self._spot_status(row, status, now, ev.event_time_ms, ev.order_list_id)

    def _spot_balances(self, ev: SpotBalances, now: int) -> ApplyOutcome:
        """outboundAccountPosition: free + locked of a managed base asset is the holding."""
        scope = self.scope
        ops = scope.ops
        if not isinstance(ops, SpotOps) or ev.kind != "outboundAccountPosition":
            # balanceUpdate is a delta; the outboundAccountPosition after it has the totals.
            return ApplyOutcome(True, False)
        store = scope.store
        symbols: list[str] = []
        for asset, free, locked in ev.balances:
            for symbol in ops.symbols_of(asset):
                if scope.policy(symbol) is None:
                    continue
                pkey = (symbol, PositionSide.BOTH)
                if ev.event_time_ms < scope.position_times.get(pkey, 0):
                    continue  # older than what we applied
                scope.position_times[pkey] = ev.event_time_ms
                total = free + locked
                before = scope.positions.get(pkey)
                ekey = entry_key(scope.config.account, symbol)
                if is_dust(scope.rules, symbol, total):
                    if before is not None:
                        del scope.positions[pkey]
                        store.set_entry(ekey, before.entry_price, Decimal(0), now)  # forgotten
                        symbols.append(symbol)
                    store.track_position(self._key(symbol, PositionSide.BOTH), Decimal(0), now)
                    continue
                known = store.entry(ekey)
                entry = known[0] if known is not None and known[1] > 0 else None
                if entry is None and before is not None:
                    entry = before.entry_price
                if entry is None:
                    # Not bought through a fill we saw (a deposit): a holding to protect whose
                    # entry only a hydration can price (at the last price). Ask for one now
                    # rather than leave it bare until some other recovery comes.
                    scope.emit("spot_entry_unknown", symbol=symbol, amount=str(total))
                    scope.request_recovery(f"{symbol}: a holding with no known entry")
                    continue
                store.set_entry(ekey, entry, total, now)
                pos = Position(
                    scope.config.account, Product.SPOT, symbol, PositionSide.BOTH, total, entry
                )
                if before != pos:
                    scope.positions[pkey] = pos
                    symbols.append(symbol)
                store.track_position(pos.key, total, now)
        if symbols:
            scope.release_stale_holds()
            self._emit_positions([(s, PositionSide.BOTH) for s in dict.fromkeys(symbols)])
        return ApplyOutcome(True, bool(symbols), ",".join(sorted(set(symbols))))
