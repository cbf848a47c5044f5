"""What happens when an exit is refused because the market is already past it.

The venues say so in several ways (binance-api.md §1.12, §3.3, §3.7), all matched here:
USD-M ``-2021`` "Order would immediately trigger."; Spot ``-2010`` with "Order would trigger
immediately." (a single stop), "The relationship of the prices for the orders is not correct."
(an OCO whose stop or take-profit leg is crossed), or "Order would immediately match and take."
(a LIMIT_MAKER take-profit already through the market).

What is done depends on the slot's role:

- **trailing**: its *activation* price has passed, which only means it should trail from now:
  it is placed again without ``activatePrice`` (USD-M) / ``stopPrice`` (Spot: trailingDelta
  starts at once). Never a market close of the whole position. A second refusal alerts.
- **stop-loss and OCO**: the policy's ``on_immediate_trigger`` decides:
  - ``close_now``: a reduce-only MARKET exit of the whole position (Spot: MARKET SELL);
  - ``widen``: the crossed trigger moves one tick beyond the current reference price (mark or
    last, per ``workingType``; an OCO's crossed leg only) and is placed again; a second refusal
    falls back to ``alert``;
  - ``alert``: hold the slot (no retries) until the position changes.
- **take-profit**: the market is already past the target; it is held (alert): the stop still
  guards the position.

Every fallback, its action and its reason are journaled and logged at WARNING. Any other refusal
holds the slot with the venue's reason: retrying a definite refusal blindly would only repeat it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from decimal import Decimal
from typing import Any

from exitguard.adapters.errors import ExchangeError, Rejected
from exitguard.domain.enums import Product, Side
from exitguard.domain.filters import SymbolRules
from exitguard.domain.numbers import Rounding
from exitguard.domain.quantize import quantize_price
from exitguard.domain.requests import AlgoOrderRequest, SpotOcoRequest, SpotOrderRequest
from exitguard.planner.build import close_now_request
from exitguard.planner.model import ExitRequest, Role, SlotKey
from exitguard.planner.policy import ImmediateTriggerAction

from .context import ScopeContext

__all__ = ["FallbackHandler", "market_closed", "would_trigger"]

# Spot -2010 texts that mean "the market is already past a trigger or limit of this exit".
_SPOT_PAST_MARKET = (
    "would trigger immediately",
    "relationship of the prices",
    "would immediately match and take",
)
_STOP_ROLES = frozenset({Role.STOP_LOSS, Role.OCO})

Place = Callable[[SlotKey, ExitRequest, str], Awaitable[Any]]


def would_trigger(product: Product, exc: Rejected) -> bool:
    """Whether a refusal means "the market is already past this exit's trigger"."""
    if product is Product.USDM:
        return exc.code == -2021
    text = exc.msg.lower()
    return exc.code == -2010 and any(t in text for t in _SPOT_PAST_MARKET)


def market_closed(exc: Rejected) -> bool:
    """A Spot refusal because the symbol is not TRADING (``CANCEL_ONLY`` since 2026-07-07,
    HALT, BREAK): errors.md "Market is closed." -- "The symbol is not trading"."""
    return exc.code == -2010 and exc.msg.lower().startswith("market is closed")


def _beyond(ref: Decimal, side: Side, rules: SymbolRules) -> Decimal:
    """One tick past ``ref`` on the safe side: below the market for a SELL stop, above for BUY."""
    assert rules.price_filter is not None
    tick = rules.price_filter.tick_size
    if side is Side.SELL:
        return quantize_price(ref - tick, rules, Rounding.DOWN)
    return quantize_price(ref + tick, rules, Rounding.UP)


class FallbackHandler:
    def __init__(self, scope: ScopeContext, place: Place) -> None:
        self.scope = scope
        self.place = place  # places without a further fallback (no loops)

    async def on_rejected(self, slot: SlotKey, request: ExitRequest, exc: Rejected) -> None:
        scope = self.scope
        if market_closed(exc):
            # Not held: the symbol's status decides (planner rule 8). Re-read exchangeInfo so
            # the planner sees the status, stops placing and says why, and sees it reopen.
            scope.emit("market_closed", slot=slot.text(), code=exc.code, error=exc.msg)
            scope.request_recovery(f"{slot.symbol}: {exc.msg} (re-read the symbol status)")
            return
        if not would_trigger(scope.product, exc) or slot.role is Role.TAKE_PROFIT:
            scope.hold(slot, f"rejected {exc.code}: {exc.msg}")
            return
        now = scope.now_ms()
        if slot.role is Role.TRAILING:
            scope.store.record_decision(
                "fallback_trail_now", slot, "", f"{exc.code}: {exc.msg}", now
            )
            scope.emit("fallback", slot=slot.text(), action="trail_now", code=exc.code)
            await self._trail_now(slot, request)
            return
        policy = scope.policy_for_slot(slot)
        action = policy.on_immediate_trigger if policy else ImmediateTriggerAction.ALERT
        scope.store.record_decision(
            f"fallback_{action.value}", slot, "", f"{exc.code}: {exc.msg}", now
        )
        scope.emit("fallback", slot=slot.text(), action=action.value, code=exc.code)
        if action is ImmediateTriggerAction.CLOSE_NOW and slot.role in _STOP_ROLES:
            await self._close_now(slot)
        elif action is ImmediateTriggerAction.WIDEN:
            await self._widen(slot, request)
        else:
            scope.hold(slot, f"alert: market already past the trigger ({exc.code})")

    async def _trail_now(self, slot: SlotKey, request: ExitRequest) -> None:
        """A trailing stop whose activation has passed trails from the current price."""
        if isinstance(request, AlgoOrderRequest) and request.activate_price is not None:
            now_request: ExitRequest = replace(request, activate_price=None, client_algo_id=None)
        elif isinstance(request, SpotOrderRequest) and request.stop_price is not None:
            now_request = replace(request, stop_price=None, new_client_order_id=None)
        else:
            self.scope.hold(slot, "alert: trailing stop refused without an activation price")
            return
        row = await self.place(slot, now_request, "trailing stop activation passed: trail now")
        if row is None:
            self.scope.hold(slot, "alert: trailing stop refused without an activation price")

    async def _close_now(self, slot: SlotKey) -> None:
        scope = self.scope
        position = scope.position_for(slot)
        rules = scope.rules.get(slot.symbol) if scope.rules else None
        if position is None or rules is None:
            return
        request = close_now_request(position, rules, scope.position_mode)
        row = await self.place(slot, request, "close_now fallback")
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
        widened: ExitRequest | None
        trigger = _beyond(ref, request.side, rules)
        if isinstance(request, AlgoOrderRequest):
            widened = replace(request, trigger_price=trigger, client_algo_id=None)
        elif isinstance(request, SpotOrderRequest):
            widened = replace(request, stop_price=trigger, new_client_order_id=None)
        elif isinstance(request, SpotOcoRequest):
            widened = _widen_oco(request, ref, rules)
        else:
            widened = None
        if widened is None:
            scope.hold(slot, "widen: nothing crossed to move")
            return
        row = await self.place(slot, widened, f"widen fallback (reference {ref})")
        if row is None:
            scope.hold(slot, "alert: widened exit refused too")


def _widen_oco(request: SpotOcoRequest, ref: Decimal, rules: SymbolRules) -> SpotOcoRequest | None:
    """Move whichever leg the market has crossed one tick past ``ref``; keep the other.

    SELL OCO (a long): stop below, take-profit above the market; BUY OCO the other way round
    (binance-api.md §3.3). A STOP_LOSS_LIMIT keeps its offset between stop and limit.
    """
    legs = {"above": request.above, "below": request.below}
    changed = False
    for name, leg in legs.items():
        # A SELL stop sits below (crossed when ref <= stop); a BUY stop above (ref >= stop).
        # A take-profit is crossed when the market has reached its price.
        level = leg.stop_price if leg.stop_price is not None else leg.price
        if level is None:
            continue
        below = name == "below"
        crossed = ref <= level if below else ref >= level
        if not crossed:
            continue
        side = Side.SELL if below else Side.BUY  # which way is "past" for this leg
        new_level = _beyond(ref, side, rules)
        shift = new_level - level
        leg = replace(
            leg,
            stop_price=None if leg.stop_price is None else leg.stop_price + shift,
            price=None
            if leg.price is None
            else quantize_price(leg.price + shift, rules, Rounding.DOWN if below else Rounding.UP),
            client_order_id=None,
        )
        legs[name] = leg
        changed = True
    if not changed:
        return None
    return replace(request, above=legs["above"], below=legs["below"], list_client_order_id=None)
