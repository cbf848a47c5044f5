"""What happens when a stop is refused because the market is already past it.

USD-M answers -2021 ("Order would immediately trigger."), Spot -2010 with "Order would trigger
immediately." (binance-api.md §1.12, §3.7). The policy's ``on_immediate_trigger`` decides, and
the action and its reason are always journaled and logged (never a silent surprise):

- ``close_now``: a reduce-only MARKET exit of the whole position (Spot: MARKET SELL);
- ``widen``: retry once with the trigger one tick beyond the current reference price (mark or
  last, per ``workingType``) on the safe side; a second refusal falls back to ``alert``;
- ``alert``: hold the slot (no retries) until the position changes.
Any other refusal holds the slot with the venue's reason: retrying a definite refusal blindly
would only repeat it.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from exitguard.adapters.errors import ExchangeError, Rejected
from exitguard.domain.enums import Product, Side
from exitguard.domain.numbers import Rounding
from exitguard.domain.quantize import quantize_price
from exitguard.domain.requests import AlgoOrderRequest, SpotOrderRequest
from exitguard.planner.build import close_now_request
from exitguard.planner.model import ExitRequest, Role, SlotKey
from exitguard.planner.policy import ImmediateTriggerAction

if TYPE_CHECKING:
    from .scope import ProductScope

__all__ = ["FallbackHandler", "would_trigger"]


def would_trigger(product: Product, exc: Rejected) -> bool:
    """Whether a refusal means "the market is already past this trigger"."""
    if product is Product.USDM:
        return exc.code == -2021
    return exc.code == -2010 and "trigger immediately" in exc.msg


class FallbackHandler:
    def __init__(self, scope: ProductScope) -> None:
        self.scope = scope

    async def on_rejected(self, slot: SlotKey, request: ExitRequest, exc: Rejected) -> None:
        scope = self.scope
        if not would_trigger(scope.product, exc) or slot.role is Role.TAKE_PROFIT:
            scope.hold(slot, f"rejected {exc.code}: {exc.msg}")
            return
        policy = scope.policy(slot.symbol)
        action = policy.on_immediate_trigger if policy else ImmediateTriggerAction.ALERT
        now = scope.now_ms()
        scope.store.record_decision(
            f"fallback_{action.value}", slot, "", f"{exc.code}: {exc.msg}", now
        )
        scope.emit("fallback", slot=slot.text(), action=action.value, code=exc.code)
        if action is ImmediateTriggerAction.CLOSE_NOW:
            await self._close_now(slot)
        elif action is ImmediateTriggerAction.WIDEN:
            await self._widen(slot, request)
        else:
            scope.hold(slot, f"alert: market already past the trigger ({exc.code})")

    async def _close_now(self, slot: SlotKey) -> None:
        scope = self.scope
        position = scope.position_for(slot)
        rules = scope.rules.get(slot.symbol) if scope.rules else None
        if position is None or rules is None:
            return
        request = close_now_request(position, rules, scope.position_mode)
        row = await scope.submitter.place(slot, request, "close_now fallback", fallback=False)
        if row is None:
            scope.hold(slot, "close_now fallback failed")
        else:
            # The slot now holds the closing order; once it fills the position is gone.
            scope.hold(slot, f"closing at market ({row.client_id})")

    async def _widen(self, slot: SlotKey, request: ExitRequest) -> None:
        scope = self.scope
        rules = scope.rules.get(slot.symbol) if scope.rules else None
        if rules is None or rules.price_filter is None:
            scope.hold(slot, "widen: no price filter")
            return
        working = getattr(request, "working_type", None)
        try:
            ref = await scope.ops.reference_price(slot.symbol, working)
        except ExchangeError as exc:
            scope.hold(slot, f"widen: no reference price ({exc})")
            return
        tick = rules.price_filter.tick_size
        # A SELL stop must sit below the market, a BUY stop above it: one tick beyond.
        if request.side is Side.SELL:
            trigger = quantize_price(ref - tick, rules, Rounding.DOWN)
        else:
            trigger = quantize_price(ref + tick, rules, Rounding.UP)
        widened: ExitRequest
        if isinstance(request, AlgoOrderRequest):
            widened = replace(request, trigger_price=trigger, client_algo_id=None)
        elif isinstance(request, SpotOrderRequest):
            widened = replace(request, stop_price=trigger, new_client_order_id=None)
        else:
            scope.hold(slot, "widen: not a single stop order")
            return
        row = await scope.submitter.place(
            slot, widened, f"widen fallback to {trigger} (reference {ref})", fallback=False
        )
        if row is None:
            scope.hold(slot, "alert: widened stop refused too")
