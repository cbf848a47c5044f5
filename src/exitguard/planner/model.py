"""What the planner reads and returns: positions, exit slots, known exits, actions. Pure data.

A logical exit slot is (account, product, symbol, positionSide, role) (design: planner).
Client ids are opaque (seed 001): what an id means lives in the store, as a :class:`KnownExit`
row, never in the id text. Actions carry requests *without* client ids: the manager assigns a fresh id when it
writes the intent, so planning twice on the same state gives equal actions.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from exitguard.domain.enums import PositionSide, Product, Side
from exitguard.domain.requests import (
    AlgoOrderRequest,
    FuturesOrderRequest,
    SpotOcoRequest,
    SpotOrderRequest,
)
from exitguard.domain.violations import Violation

__all__ = [
    "BLOCKING_STATUSES",
    "Action",
    "CancelExit",
    "ExitKind",
    "ExitRequest",
    "ExitStatus",
    "KnownExit",
    "PlaceExit",
    "Position",
    "PositionKey",
    "PositionProgress",
    "ReplaceExit",
    "Role",
    "SkipSlot",
    "SlotKey",
    "exit_side_for",
]

ExitRequest = AlgoOrderRequest | FuturesOrderRequest | SpotOrderRequest | SpotOcoRequest


class Role(StrEnum):
    STOP_LOSS = "stop_loss"
    TAKE_PROFIT = "take_profit"
    TRAILING = "trailing"
    OCO = "oco"  # Spot: take-profit and stop-loss in one order list
    TIME_STOP = "time_stop"  # the close a time stop places when it is due
    LIQUIDATION = "liquidation"  # the partial/whole close of the liquidation guard (USD-M)


class ExitKind(StrEnum):
    """Which venue object an exit is; decides the endpoint and the id field."""

    ALGO = "algo"  # USD-M /fapi/v1/algoOrder, clientAlgoId
    ORDER = "order"  # USD-M /fapi/v1/order, newClientOrderId
    SPOT_ORDER = "spot_order"  # /api/v3/order, newClientOrderId
    SPOT_OCO = "spot_oco"  # /api/v3/orderList/oco, listClientOrderId

    @staticmethod
    def of(request: ExitRequest) -> ExitKind:
        """The kind a request is sent as."""
        if isinstance(request, AlgoOrderRequest):
            return ExitKind.ALGO
        if isinstance(request, FuturesOrderRequest):
            return ExitKind.ORDER
        if isinstance(request, SpotOcoRequest):
            return ExitKind.SPOT_OCO
        return ExitKind.SPOT_ORDER


class ExitStatus(StrEnum):
    """An app-owned exit's state in the store.

    INTENT: written, not (known to be) sent. PENDING: the venue accepted it, the private stream
    has not confirmed it yet. UNKNOWN: the send's outcome is unknown (timeout, 5xx, -1006, -1007);
    resolved by querying the client id, never by resending. OPEN: confirmed working (an algo
    order in NEW, a regular order NEW or PARTIALLY_FILLED). TRIGGERED: an algo order whose child
    is in the matching engine. The rest are terminal: history, never blocking.
    """

    INTENT = "intent"
    PENDING = "pending"
    UNKNOWN = "unknown"
    OPEN = "open"
    TRIGGERED = "triggered"
    FILLED = "filled"
    CANCELED = "canceled"
    EXPIRED = "expired"
    REJECTED = "rejected"
    FINISHED = "finished"

    @property
    def terminal(self) -> bool:
        return self not in BLOCKING_STATUSES


# Only open app-owned orders and pending confirmations block a new submission (seed 001).
BLOCKING_STATUSES = frozenset(
    {
        ExitStatus.INTENT,
        ExitStatus.PENDING,
        ExitStatus.UNKNOWN,
        ExitStatus.OPEN,
        ExitStatus.TRIGGERED,
    }
)


@dataclass(frozen=True, slots=True, order=True)
class SlotKey:
    """One logical exit slot. ``level`` numbers the levels of a scale-out ladder (1-based; a
    Spot ladder's OCOs too); 0 for every other slot."""

    account: str
    product: Product
    symbol: str
    position_side: PositionSide
    role: Role
    level: int = 0

    @staticmethod
    def from_text(text: str) -> SlotKey:
        """The slot :meth:`text` wrote (the store keys holds by it)."""
        account, product, symbol, side, role = text.split("/")
        role, _, level = role.partition("#")
        return SlotKey(
            account, Product(product), symbol, PositionSide(side), Role(role), int(level or 0)
        )

    def text(self) -> str:
        """A stable one-line name for logs and the store (``…/take_profit#2`` for a level)."""
        # StrEnum members are their values as str: join reads them without the enum's
        # ``.value`` descriptor (this runs for every notice on the event hot path).
        role = self.role if not self.level else f"{self.role}#{self.level}"
        return "/".join((self.account, self.product, self.symbol, self.position_side, role))

    @property
    def position(self) -> PositionKey:
        return (self.account, self.product, self.symbol, self.position_side)


@dataclass(frozen=True, slots=True)
class Position:
    """An open position. USD-M: from positionRisk or ACCOUNT_UPDATE; Spot: the base asset held.

    ``amount`` is signed (a short is negative). Spot positions are always long.
    """

    account: str
    product: Product
    symbol: str
    position_side: PositionSide
    amount: Decimal
    entry_price: Decimal
    # USD-M: positionRisk's liquidationPrice (None when unknown, or 0 = no liquidation risk).
    liquidation_price: Decimal | None = None

    @property
    def key(self) -> PositionKey:
        return (self.account, self.product, self.symbol, self.position_side)

    @property
    def is_long(self) -> bool:
        if self.position_side is PositionSide.LONG:
            return True
        if self.position_side is PositionSide.SHORT:
            return False
        return self.amount > 0

    @property
    def size(self) -> Decimal:
        return abs(self.amount)


PositionKey = tuple[str, Product, str, PositionSide]
"""(account, product, symbol, positionSide): one position."""


@dataclass(frozen=True, slots=True)
class PositionProgress:
    """What the store remembers about one position since it opened (reset when it closes):
    when it opened, its size when the plan started (the ladder's fractions are of it), which
    ladder levels have filled, and which one-shot exits (``"time_stop"``, ``"liquidation"``)
    have already been sent."""

    opened_ms: int
    reference_size: Decimal
    filled_levels: frozenset[int] = frozenset()
    fired: frozenset[str] = frozenset()


def exit_side_for(position: Position) -> Side:
    """A long exits by selling, a short by buying."""
    return Side.SELL if position.is_long else Side.BUY


@dataclass(frozen=True, slots=True)
class KnownExit:
    """An app-owned exit as the store knows it. ``quantity`` is ``None`` for closePosition."""

    client_id: str
    slot: SlotKey
    kind: ExitKind
    status: ExitStatus
    side: Side
    quantity: Decimal | None
    created_ms: int
    policy_tag: str = ""  # the tag of the policy it was placed for (ProtectionPolicy.tag)

    @property
    def blocking(self) -> bool:
        return self.status in BLOCKING_STATUSES


@dataclass(frozen=True, slots=True)
class PlaceExit:
    slot: SlotKey
    request: ExitRequest
    reason: str
    policy_tag: str = ""


@dataclass(frozen=True, slots=True)
class CancelExit:
    slot: SlotKey
    client_id: str
    kind: ExitKind
    reason: str


@dataclass(frozen=True, slots=True)
class ReplaceExit:
    """Place ``request`` first, then cancel ``old_client_id``: the position is never bare."""

    slot: SlotKey
    request: ExitRequest
    old_client_id: str
    old_kind: ExitKind
    reason: str
    policy_tag: str = ""


@dataclass(frozen=True, slots=True)
class SkipSlot:
    """The slot needs an exit but none can be built or sent now; the reason is journaled."""

    slot: SlotKey
    reason: str
    violations: tuple[Violation, ...] = ()


Action = PlaceExit | CancelExit | ReplaceExit | SkipSlot
