"""Send exits: intent first, then the request; unknown outcomes resolved by client id.

Order of a placement (issue 5 "State and workflow"):
1. assign a fresh opaque client id; validate locally (``exitguard.domain.check``): an invalid
   request is never sent;
2. DRY_RUN_PRIVATE: journal the sanitised candidate (client id, role, symbol, side, reason) and
   stop; the mutating client does not exist;
3. the mutation gate (mode, loopback, notional cap);
4. commit the INTENT row; send; on acceptance the row becomes PENDING until the private stream
   confirms it (OPEN);
5. Rejected -> REJECTED (a would-trigger refusal goes to the policy's fallback); UnknownOutcome ->
   UNKNOWN, then query the client id at once: found -> its state; not found -> it never reached
   the venue (REJECTED with that reason) and the next pass may place again; Transient -> the
   request definitely did not execute: REJECTED with the reason, retried by a later pass.

A replacement places the new exit before it cancels the old one (the position is never bare);
if the new one is refused, the old one stays.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import TYPE_CHECKING

from exitguard.adapters.errors import ExchangeError, Rejected, Transient, UnknownOutcome
from exitguard.domain.check import OrderKind, check_order
from exitguard.domain.ids import ClientIdGenerator
from exitguard.domain.validation import MarketContext
from exitguard.planner.model import ExitKind, ExitRequest, ExitStatus, ReplaceExit, SlotKey
from exitguard.store.exits import ExitRow

if TYPE_CHECKING:
    from .scope import ProductScope

__all__ = ["ORDER_KIND", "Submitter", "request_notional"]

ORDER_KIND = {
    ExitKind.ALGO: OrderKind.USDM_ALGO,
    ExitKind.ORDER: OrderKind.USDM,
    ExitKind.SPOT_ORDER: OrderKind.SPOT,
    ExitKind.SPOT_OCO: OrderKind.SPOT_OCO,
}


def request_notional(request: ExitRequest, fallback_price: Decimal, size: Decimal) -> Decimal:
    """Quantity × price for the notional cap; closePosition uses the position size."""
    qty = request.quantity if request.quantity is not None else size
    price = None
    for name in ("price", "trigger_price", "stop_price", "activate_price"):
        value = getattr(request, name, None)
        if value:
            price = value
            break
    return qty * (price or fallback_price)


class Submitter:
    def __init__(self, scope: ProductScope, ids: ClientIdGenerator) -> None:
        self.scope = scope
        self.ids = ids
        self._dry_run_seen: set[tuple[str, tuple[tuple[str, str], ...]]] = set()

    # -- placing -------------------------------------------------------------------------

    def _validate(self, kind: ExitKind, request: ExitRequest) -> list[str]:
        scope = self.scope
        assert scope.rules is not None
        result = check_order(
            ORDER_KIND[kind],
            request.to_params(),
            scope.rules,
            MarketContext(position_mode=scope.position_mode),
            quantize=False,
        )
        return [f"{v.code} {v.field}: {v.message}" for v in result.violations]

    async def place(
        self, slot: SlotKey, request: ExitRequest, reason: str, *, fallback: bool = True
    ) -> ExitRow | None:
        """Place one exit (steps above); returns its row when the venue accepted it."""
        scope = self.scope
        kind = ExitKind.of(request)
        if not scope.ops.can_mutate:
            # DRY_RUN_PRIVATE: journal each distinct candidate once, not once per pass.
            plain = request.to_params()
            key = (slot.text(), tuple(sorted(plain.items())))
            if key in self._dry_run_seen:
                return None
            self._dry_run_seen.add(key)
        request, client_id = scope.ops.with_client_id(request, self.ids)
        params = request.to_params()
        problems = self._validate(kind, request)
        summary = {
            "client_id": client_id,
            "role": slot.role.value,
            "symbol": slot.symbol,
            "side": request.side.value,
            "type": params.get("type", "OCO"),
            "reason": reason,
        }
        now = scope.now_ms()
        if problems:
            scope.store.record_decision(
                "invalid_locally", slot, client_id, "; ".join(problems), now
            )
            scope.hold(slot, "invalid locally: " + "; ".join(problems))
            return None
        if not scope.ops.can_mutate:
            scope.store.record_decision("dry_run_candidate", slot, client_id, reason, now, summary)
            scope.emit("dry_run_candidate", **summary)
            return None
        position = scope.position_for(slot)
        size = position.size if position is not None else Decimal(0)
        entry = position.entry_price if position is not None else Decimal(0)
        refusal = scope.config.gate(
            scope.product, slot.symbol, request_notional(request, entry, size)
        )
        if refusal is not None:
            scope.store.record_decision("gate_refused", slot, client_id, refusal, now, summary)
            scope.hold(slot, "gate: " + refusal)
            return None
        scope.store.record_intent(
            client_id, slot, kind, request.side, request.quantity, params, now, reason
        )
        scope.crash_point("before_send")
        try:
            venue = await scope.ops.place(kind, request)
        except UnknownOutcome as exc:
            scope.crash_point("after_send")
            scope.store.update(client_id, ExitStatus.UNKNOWN, scope.now_ms(), reason=str(exc))
            scope.emit("unknown_outcome", client_id=client_id, slot=slot.text(), error=str(exc))
            row = scope.store.get(client_id)
            assert row is not None
            return await self.resolve(row, "unknown outcome of placement")
        except Rejected as exc:
            scope.crash_point("after_send")
            scope.store.update(client_id, ExitStatus.REJECTED, scope.now_ms(), reason=str(exc))
            scope.store.record_decision(
                "rejected", slot, client_id, str(exc), scope.now_ms(), summary
            )
            scope.emit(
                "rejected", client_id=client_id, slot=slot.text(), code=exc.code, error=exc.msg
            )
            if fallback:
                await scope.on_rejected(slot, request, exc)
            return None
        except Transient as exc:
            scope.store.update(
                client_id, ExitStatus.REJECTED, scope.now_ms(), reason=f"transient: {exc}"
            )
            scope.emit("transient", client_id=client_id, slot=slot.text(), error=str(exc))
            await asyncio.sleep(getattr(exc, "retry_after_s", None) or 0.2)
            return None
        scope.crash_point("after_send")
        scope.store.update(
            client_id,
            ExitStatus.PENDING,
            scope.now_ms(),
            venue_id=venue.venue_id,
            child_order_id=venue.child_order_id,
        )
        if venue.status is not ExitStatus.OPEN:
            # The response already tells a later state (e.g. a LIMIT that filled at once).
            scope.store.update(client_id, venue.status, scope.now_ms())
        scope.stats.placed += 1
        scope.emit("placed", **summary)
        scope.crash_point("after_response")
        return scope.store.get(client_id)

    async def replace(self, action: ReplaceExit) -> None:
        """New first, old second: the position is never bare."""
        new = await self.place(action.slot, action.request, "replace: " + action.reason)
        if new is None or new.status.terminal:
            return  # the old exit stays: better a stale exit than none
        self.scope.crash_point("after_replace_place")
        await self.cancel(action.slot, action.old_client_id, "replaced by " + new.client_id)

    # -- cancelling ----------------------------------------------------------------------

    async def cancel(self, slot: SlotKey, client_id: str, reason: str) -> None:
        scope = self.scope
        row = scope.store.get(client_id)
        if row is None:
            return
        if not scope.ops.can_mutate:
            key = (client_id, (("cancel", reason),))
            if key not in self._dry_run_seen:
                self._dry_run_seen.add(key)
                scope.store.record_decision(
                    "dry_run_cancel", slot, client_id, reason, scope.now_ms()
                )
            return
        try:
            venue = await scope.ops.cancel(row)
        except Rejected:
            # Usually "unknown order" (-2011/-2013): it finished meanwhile. Ask, don't guess.
            await self.resolve(row, "cancel refused")
            return
        except ExchangeError:
            await self.resolve(row, "cancel outcome unknown")
            return
        scope.store.update(client_id, venue.status, scope.now_ms(), authoritative=True)
        scope.stats.cancelled += 1
        scope.emit("cancelled", client_id=client_id, slot=slot.text(), reason=reason)

    # -- resolving -----------------------------------------------------------------------

    async def resolve(self, row: ExitRow, why: str) -> ExitRow | None:
        """Query the client id and take the venue's answer as truth (never resend blindly)."""
        scope = self.scope
        try:
            venue = await scope.ops.query(row)
        except ExchangeError as exc:
            # Still unknown: keep the row blocking; recovery asks again.
            scope.store.update(row.client_id, ExitStatus.UNKNOWN, scope.now_ms(), reason=str(exc))
            scope.emit("unresolved", client_id=row.client_id, why=why, error=str(exc))
            return scope.store.get(row.client_id)
        if venue is None:
            scope.store.update(
                row.client_id,
                ExitStatus.REJECTED,
                scope.now_ms(),
                reason=f"{why}: not found at the venue",
                authoritative=True,
            )
            scope.emit("resolved", client_id=row.client_id, status="not_found", why=why)
            return None
        scope.store.update(
            row.client_id,
            venue.status,
            scope.now_ms(),
            venue_id=venue.venue_id,
            child_order_id=venue.child_order_id,
            authoritative=True,
        )
        scope.emit("resolved", client_id=row.client_id, status=venue.status.value, why=why)
        return scope.store.get(row.client_id)
