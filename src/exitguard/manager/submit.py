"""Send exits: intent first, then the request; unknown outcomes resolved by client id.

Order of a placement:
1. assign a fresh opaque client id; validate locally (``exitguard.domain.check``): an invalid
   request is never sent;
2. DRY_RUN_PRIVATE: journal the sanitised candidate (client id, role, symbol, side, reason) and
   stop; the mutating client does not exist;
3. the mutation gate (mode, loopback, notional cap);
4. commit the INTENT row; send; on acceptance the row becomes PENDING until the private stream
   confirms it (OPEN);
5. Rejected -> REJECTED (a would-trigger refusal goes to the policy's fallback); UnknownOutcome ->
   UNKNOWN, then query the client id at once: found -> its state; not found -> it never reached
   the venue (REJECTED with that reason) and the slot is placed again after a short backoff;
   still unknown -> the supervisor asks again on a schedule. Transient -> the request
   definitely did not execute: REJECTED with the reason, and the slot is retried with capped
   exponential backoff (never sooner than ``Retry-After``).

A replacement places the new exit before it cancels the old one (the position is never bare);
if the new one is refused, the old one stays. Where the venue cannot hold both at once (a Spot
exit locks the balance the new one needs), the shortest safe sequence is used instead: Spot
``order/cancelReplace`` for single orders (one request), cancel-then-place at once for an OCO;
the bare interval is measured and reported.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from exitguard.adapters.errors import (
    ExchangeError,
    Rejected,
    ReplaceHalfDone,
    Transient,
    UnknownOutcome,
)
from exitguard.domain.check import OrderKind, check_order
from exitguard.domain.ids import ClientIdGenerator
from exitguard.domain.validation import MarketContext
from exitguard.planner.model import ExitKind, ExitRequest, ExitStatus, ReplaceExit, SlotKey
from exitguard.store.exits import ExitRow

from .context import ScopeContext
from .ops import VenueExit

__all__ = ["ORDER_KIND", "Submitter", "insufficient_balance", "request_notional"]

ORDER_KIND = {
    ExitKind.ALGO: OrderKind.USDM_ALGO,
    ExitKind.ORDER: OrderKind.USDM,
    ExitKind.SPOT_ORDER: OrderKind.SPOT,
    ExitKind.SPOT_OCO: OrderKind.SPOT_OCO,
}

OnRejected = Callable[[SlotKey, ExitRequest, Rejected], Awaitable[None]]


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


def insufficient_balance(exc: Rejected) -> bool:
    """Spot -2010 "Account has insufficient balance for requested action." (binance-api.md
    §3.7): the balance the new exit needs is locked (by the exit it replaces)."""
    return exc.code == -2010 and "insufficient balance" in exc.msg.lower()


@dataclass(slots=True)
class _Prepared:
    slot: SlotKey
    request: ExitRequest
    client_id: str
    kind: ExitKind
    reason: str
    summary: dict[str, Any]


class Submitter:
    def __init__(
        self, scope: ScopeContext, ids: ClientIdGenerator, on_rejected: OnRejected
    ) -> None:
        self.scope = scope
        self.ids = ids
        self.on_rejected = on_rejected
        self.last_refusal: Rejected | None = None
        self._dry_run_seen: set[tuple[str, tuple[tuple[str, str], ...]]] = set()
        # The tag the planner last wanted per slot (policy tag + stage suffix, e.g. "|m1" for a
        # stop moved after a ladder level): a fallback placement for the slot carries it too,
        # or the next pass would see another plan's exit and replace it.
        self._wanted_tags: dict[SlotKey, str] = {}

    # -- placing -------------------------------------------------------------------------

    def _validate(self, kind: ExitKind, request: ExitRequest) -> list[str]:
        scope = self.scope
        assert scope.rules is not None
        result = check_order(
            ORDER_KIND[kind],
            request.to_params(),
            scope.rules,
            MarketContext(position_mode=scope.position_mode),
            scope.config.dialect,
            quantize=False,
        )
        return [f"{v.code} {v.field}: {v.message}" for v in result.violations]

    def _prepare(self, slot: SlotKey, request: ExitRequest, reason: str) -> _Prepared | None:
        """Steps 1-4 up to the intent row; None when nothing may be sent (journaled why)."""
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
        summary: dict[str, Any] = {
            "client_id": client_id,
            "slot": slot.text(),
            "role": slot.role.value,
            "symbol": slot.symbol,
            "side": request.side.value,
            "type": params.get("type", "OCO"),
            "reason": reason,
        }
        if scope.pass_reason == "supervisor":
            summary["repair"] = True  # the supervisor found the slot uncovered and fixed it
        for name in (
            "stopPrice",
            "triggerPrice",
            "price",
            "quantity",
            "closePosition",
            "activatePrice",
            "callbackRate",
            "trailingDelta",
            "abovePrice",
            "aboveStopPrice",
            "belowPrice",
            "belowStopPrice",
        ):
            if name in params:
                summary[name] = params[name]
        # The same level under one name whatever the order type (the service's event shape).
        level = (
            params.get("triggerPrice") or params.get("stopPrice") or params.get("belowStopPrice")
        )
        if level is not None:
            summary["trigger_price"] = level
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
            scope.emit("gate_refused", slot=slot.text(), reason=refusal)
            scope.hold(slot, "gate: " + refusal)
            return None
        # Tagged with the plan and stage it was wanted for (the planner's tag: config, a bot's,
        # an override, plus the stage suffix), so the planner knows which plan this exit
        # belongs to (ProtectionPolicy.tag); without one, the plan in force for the position.
        tag = self._wanted_tags.get(slot)
        if tag is None:
            policy = scope.policy_for_slot(slot)
            tag = policy.tag if policy is not None else ""
        scope.store.record_intent(
            client_id,
            slot,
            kind,
            request.side,
            request.quantity,
            params,
            now,
            reason,
            policy_tag=tag,
        )
        return _Prepared(slot, request, client_id, kind, reason, summary)

    async def place(
        self,
        slot: SlotKey,
        request: ExitRequest,
        reason: str,
        *,
        fallback: bool = True,
        policy_tag: str | None = None,
    ) -> ExitRow | None:
        """Place one exit (steps above); returns its row when the venue accepted it.
        ``policy_tag``: the tag the planner wants on the slot (remembered for its fallbacks)."""
        if policy_tag is not None:
            self._wanted_tags[slot] = policy_tag
        prepared = self._prepare(slot, request, reason)
        if prepared is None:
            return None
        ops = self.scope.ops
        return await self._send(
            prepared, lambda: ops.place(prepared.kind, prepared.request), fallback=fallback
        )

    async def _send(
        self,
        p: _Prepared,
        send: Callable[[], Awaitable[VenueExit]],
        *,
        fallback: bool,
    ) -> ExitRow | None:
        scope = self.scope
        client_id, slot = p.client_id, p.slot
        self.last_refusal = None
        scope.crash_point("before_send")
        try:
            venue = await send()
        except UnknownOutcome as exc:
            scope.crash_point("after_send")
            scope.store.update(client_id, ExitStatus.UNKNOWN, scope.now_ms(), reason=str(exc))
            scope.emit("unknown_outcome", client_id=client_id, slot=slot.text(), error=str(exc))
            row = scope.store.get(client_id)
            assert row is not None
            return await self.resolve(row, "unknown outcome of placement", just_sent=True)
        except Rejected as exc:
            scope.crash_point("after_send")
            self.last_refusal = exc
            scope.store.update(client_id, ExitStatus.REJECTED, scope.now_ms(), reason=str(exc))
            scope.store.record_decision(
                "rejected", slot, client_id, str(exc), scope.now_ms(), p.summary
            )
            scope.emit(
                "rejected", client_id=client_id, slot=slot.text(), code=exc.code, error=exc.msg
            )
            if fallback:
                await self.on_rejected(slot, p.request, exc)
            return None
        except Transient as exc:
            scope.store.update(
                client_id, ExitStatus.REJECTED, scope.now_ms(), reason=f"transient: {exc}"
            )
            scope.emit("transient", client_id=client_id, slot=slot.text(), error=str(exc))
            scope.retry_later(slot, f"transient {exc}", getattr(exc, "retry_after_s", None))
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
        scope.placed(slot)
        scope.emit("placed", **p.summary)
        scope.crash_point("after_response")
        return scope.store.get(client_id)

    async def replace(self, action: ReplaceExit) -> None:
        """New first, old second: the position is never bare. Where the old exit locks what the
        new one needs (Spot), the shortest safe sequence instead (module docstring)."""
        scope = self.scope
        self._wanted_tags[action.slot] = action.policy_tag  # the swap's placement too
        old = scope.store.get(action.old_client_id)
        position = scope.position_for(action.slot)
        if old is not None and not scope.ops.replace_first_possible(old, action.request, position):
            await self._swap(action, old)
            return
        new = await self.place(
            action.slot,
            action.request,
            "replace: " + action.reason,
            fallback=False,
            policy_tag=action.policy_tag,
        )
        refusal = self.last_refusal
        if new is None and refusal is not None:
            if old is not None and insufficient_balance(refusal):
                await self._swap(action, old)  # the venue says the old exit locks the balance
            else:
                await self.on_rejected(action.slot, action.request, refusal)
            return
        if new is None or new.status.terminal:
            return  # the old exit stays: better a stale exit than none
        scope.crash_point("after_replace_place")
        await self.cancel(action.slot, action.old_client_id, "replaced by " + new.client_id)

    async def _swap(self, action: ReplaceExit, old: ExitRow) -> None:
        """Take the old exit off and put the new one on with the least time between."""
        scope = self.scope
        slot = action.slot
        reason = "replace (old exit locks the balance): " + action.reason
        if not scope.ops.can_mutate:
            await self.place(slot, action.request, reason)
            await self.cancel(slot, old.client_id, "replaced (dry run)")
            return
        started = time.perf_counter()
        if scope.ops.can_cancel_replace(old, action.request):
            prepared = self._prepare(slot, action.request, reason)
            if prepared is None:
                return
            new = await self._send(
                prepared,
                lambda: scope.ops.cancel_replace(old, prepared.request),
                fallback=True,
            )
            await self._after_cancel_replace(old, new, prepared)
            method = "cancelReplace"
        else:
            cancelled = await self.cancel(slot, old.client_id, "swap: cancel first")
            if not cancelled:
                return  # the old one is still there (or its fate unknown): not bare
            new = await self.place(slot, action.request, reason)
            method = "cancel then place"
        bare_ms = round((time.perf_counter() - started) * 1000, 1)
        scope.emit(
            "bare_interval",
            slot=slot.text(),
            method=method,
            bare_ms=bare_ms,
            replaced=old.client_id,
            placed=None if new is None else new.client_id,
        )
        if new is None:
            scope.retry_later(slot, "replacement not placed after the old exit was cancelled")

    async def _after_cancel_replace(
        self, old: ExitRow, new: ExitRow | None, prepared: _Prepared
    ) -> None:
        """cancelReplace: the old order is gone when the new one was placed, or when the venue
        says the cancel half succeeded (``ReplaceHalfDone``); else it stays."""
        scope = self.scope
        refusal = self.last_refusal
        cancel_done = new is not None or isinstance(refusal, ReplaceHalfDone)
        if cancel_done:
            scope.store.update(
                old.client_id,
                ExitStatus.CANCELED,
                scope.now_ms(),
                reason=f"cancelReplace by {prepared.client_id}",
                authoritative=True,
            )
            scope.stats.cancelled += 1
        elif refusal is None and new is None:
            await self.resolve(old, "cancelReplace outcome unknown")

    # -- cancelling ----------------------------------------------------------------------

    async def cancel(self, slot: SlotKey, client_id: str, reason: str) -> bool:
        """Cancel one exit; True when it is known to be gone (cancelled or already final)."""
        scope = self.scope
        row = scope.store.get(client_id)
        if row is None:
            return True
        if not scope.ops.can_mutate:
            key = (client_id, (("cancel", reason),))
            if key not in self._dry_run_seen:
                self._dry_run_seen.add(key)
                scope.store.record_decision(
                    "dry_run_cancel", slot, client_id, reason, scope.now_ms()
                )
            return False
        try:
            venue = await scope.ops.cancel(row)
        except Rejected:
            # Usually "unknown order" (-2011/-2013): it finished meanwhile. Ask, don't guess.
            after = await self.resolve(row, "cancel refused")
            return after is None or after.status.terminal
        except ExchangeError as exc:
            after = await self.resolve(row, "cancel outcome unknown")
            if after is not None and not after.status.terminal:
                scope.emit("cancel_failed", client_id=client_id, slot=slot.text(), error=str(exc))
            return after is None or after.status.terminal
        scope.store.update(
            client_id,
            venue.status,
            scope.now_ms(),
            child_order_id=venue.child_order_id,
            authoritative=True,
        )
        scope.stats.cancelled += 1
        scope.emit("cancelled", client_id=client_id, slot=slot.text(), reason=reason)
        return venue.status.terminal

    # -- resolving -----------------------------------------------------------------------

    async def resolve(self, row: ExitRow, why: str, *, just_sent: bool = False) -> ExitRow | None:
        """Query the client id and take the venue's answer as truth (never resend blindly).

        ``just_sent``: the request left this process a moment ago; if the venue has not seen
        it, the slot waits a short backoff before it is placed again, so a request still in
        flight is not doubled at once (one that arrives late is revived and de-duplicated).
        """
        scope = self.scope
        try:
            venue = await scope.ops.query(row)
        except ExchangeError as exc:
            # Still unknown: keep the row blocking; the supervisor asks again on a schedule.
            if row.status in (ExitStatus.INTENT, ExitStatus.UNKNOWN):
                scope.store.update(
                    row.client_id, ExitStatus.UNKNOWN, scope.now_ms(), reason=str(exc)
                )
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
            if just_sent:
                scope.retry_later(row.slot, "not found after an unknown outcome")
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
