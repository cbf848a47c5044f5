"""Open orders that carry exitguard's client-id prefix but that the store does not know.

They exist when the store was lost or restored from an older copy (``kill -9`` then a deleted
``-wal``, a truncated or deleted file). Placing a second full set of exits beside them would
double every exit, and a reduce-only take-profit could outlive its position. So at hydration
each one is taken back into the store under the slot its type and side say it fills (ownership =
a store row), and the planner then does what it does with any exit: keeps it when it matches
what the position needs, replaces it (place first) when its quantity is wrong, and cancels it
when the slot is unwanted or already filled by another exit. Every adoption is logged at WARNING.

The prefix is a hint of origin only (seed 001: ids are opaque); it is used here because nothing
else can say an order was ours once the store is gone. One exitguard per account and prefix.
"""

from __future__ import annotations

from exitguard.domain.ids import has_app_prefix
from exitguard.planner.model import ExitKind, ExitStatus, Role, SlotKey

from .context import ScopeContext
from .ops import VenueExit

__all__ = ["adopt_unowned", "role_of"]

_TAKE_PROFIT_TYPES = frozenset(
    {"LIMIT", "LIMIT_MAKER", "TAKE_PROFIT", "TAKE_PROFIT_MARKET", "TAKE_PROFIT_LIMIT"}
)


def role_of(venue: VenueExit) -> Role:
    """The slot role an exit of this shape fills (planner.build's mapping, read backwards)."""
    if venue.kind is ExitKind.SPOT_OCO:
        return Role.OCO
    if venue.trailing:
        return Role.TRAILING
    if venue.order_type in _TAKE_PROFIT_TYPES:
        return Role.TAKE_PROFIT
    return Role.STOP_LOSS


def adopt_unowned(scope: ScopeContext, unowned: list[VenueExit]) -> int:
    """Take app-prefixed open orders the store does not know into their slots; returns how
    many. Non-prefixed orders are the user's own and are never touched."""
    adopted = 0
    now = scope.now_ms()
    for venue in sorted(unowned, key=lambda v: v.client_id):
        if not has_app_prefix(venue.client_id) or venue.side is None or not venue.symbol:
            continue
        if venue.status.terminal:
            continue
        role = role_of(venue)
        slot = SlotKey(scope.config.account, scope.product, venue.symbol, venue.position_side, role)
        params = {k: str(v) for k, v in venue.raw.items() if isinstance(v, str | int | float)}
        scope.store.record_intent(
            venue.client_id,
            slot,
            venue.kind,
            venue.side,
            venue.quantity,
            params,
            now,
            "adopted: app-prefixed open order unknown to the store",
        )
        status = venue.status if venue.status is not ExitStatus.UNKNOWN else ExitStatus.OPEN
        scope.store.update(
            venue.client_id,
            status,
            now,
            venue_id=venue.venue_id,
            child_order_id=venue.child_order_id,
            authoritative=True,
        )
        adopted += 1
        scope.stats.adopted += 1
        scope.emit(
            "adopted_unowned",
            client_id=venue.client_id,
            slot=slot.text(),
            type=venue.order_type,
            quantity="close" if venue.quantity is None else str(venue.quantity),
            note="the store did not know this exitguard order (lost or restored store); "
            "kept if it matches the slot, else cancelled",
        )
    return adopted
