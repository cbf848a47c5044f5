"""What the manager needs from an exchange, as data and protocols; the SDK adapters implement it.

Two objects per product, on purpose: a :class:`UsdmReader` (state, hydration, the private
stream) and a :class:`UsdmTrader` (the only thing that can change anything). In DRY_RUN_PRIVATE
the trader is never constructed (design: Execution modes), so no code path can mutate.

Every adapter method raises :class:`exitguard.adapters.errors.ExchangeError` subclasses only:
``Rejected`` (definite refusal: never retried blindly), ``UnknownOutcome`` (timeout, 5xx, -1006,
-1007: query by client id before anything else), ``Transient`` (definitely not executed: back
off). Other exceptions are adapter bugs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any, Protocol

from exitguard.domain.enums import PositionMode, PositionSide, Side
from exitguard.domain.requests import (
    AlgoOrderRequest,
    FuturesOrderRequest,
    SpotOcoRequest,
    SpotOrderRequest,
)

__all__ = [
    "AlgoOrderSnapshot",
    "BalanceSnapshot",
    "OrderSnapshot",
    "PositionSnapshot",
    "PriceSnapshot",
    "SpotListSnapshot",
    "SpotOrderSnapshot",
    "SpotReader",
    "SpotTrader",
    "StreamItem",
    "TransportEvent",
    "TransportKind",
    "UsdmReader",
    "UsdmTrader",
    "UserDataEvent",
]


@dataclass(frozen=True, slots=True)
class PositionSnapshot:
    """One USD-M position row (``/fapi/v3/positionRisk``); ``amount`` is signed (short < 0)."""

    symbol: str
    position_side: PositionSide
    amount: Decimal
    entry_price: Decimal
    update_time_ms: int
    liquidation_price: Decimal | None = None  # None when the venue reports none (0)


@dataclass(frozen=True, slots=True)
class AlgoOrderSnapshot:
    """One algo order as the venue reports it (REST open/query; every wire field kept in ``raw``)."""

    algo_id: int
    client_algo_id: str
    symbol: str
    side: Side
    position_side: PositionSide
    order_type: str  # STOP_MARKET, TAKE_PROFIT, ...
    status: str  # NEW, TRIGGERING, TRIGGERED, FINISHED, CANCELED, EXPIRED, REJECTED
    quantity: Decimal
    trigger_price: Decimal
    close_position: bool
    reduce_only: bool
    update_time_ms: int
    actual_order_id: int | None = None
    raw: dict[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True, slots=True)
class OrderSnapshot:
    """One regular USD-M order (REST open/query; every wire field kept in ``raw``)."""

    order_id: int
    client_order_id: str
    symbol: str
    side: Side
    position_side: PositionSide
    order_type: str
    status: str  # NEW, PARTIALLY_FILLED, FILLED, CANCELED, EXPIRED, REJECTED
    quantity: Decimal
    executed_quantity: Decimal
    price: Decimal
    reduce_only: bool
    update_time_ms: int
    raw: dict[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True, slots=True)
class PriceSnapshot:
    symbol: str
    last: Decimal
    mark: Decimal


class TransportKind(StrEnum):
    """SDK transport events (seed 001): health only, never account state."""

    OPEN = "open"
    RECONNECTING = "reconnecting"
    RECONNECTED = "reconnected"
    EXCEPTION = "exception"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class TransportEvent:
    kind: TransportKind
    detail: str = ""  # sanitised: never a listen key or an API key


@dataclass(frozen=True, slots=True)
class UserDataEvent:
    """One private payload exactly as the venue sent it (``e`` included), parsed by the manager."""

    payload: dict[str, Any]


StreamItem = UserDataEvent | TransportEvent


class UsdmReader(Protocol):
    """Read-only USD-M access. Never changes anything on the venue."""

    async def exchange_info(self) -> dict[str, Any]: ...
    async def position_mode(self) -> PositionMode: ...
    async def positions(self) -> list[PositionSnapshot]: ...
    async def prices(self, symbol: str) -> PriceSnapshot: ...
    async def open_algo_orders(self, symbol: str | None = None) -> list[AlgoOrderSnapshot]: ...
    async def open_orders(self, symbol: str | None = None) -> list[OrderSnapshot]: ...
    async def query_algo_order(self, client_algo_id: str) -> AlgoOrderSnapshot | None: ...
    async def query_order(self, symbol: str, client_order_id: str) -> OrderSnapshot | None: ...
    def user_stream(self) -> AsyncIterator[StreamItem]: ...
    async def close(self) -> None: ...


class UsdmTrader(Protocol):
    """The mutating USD-M client; constructed only when the execution mode allows sending."""

    async def place_algo_order(self, request: AlgoOrderRequest) -> AlgoOrderSnapshot: ...
    async def cancel_algo_order(self, client_algo_id: str) -> AlgoOrderSnapshot: ...
    async def place_order(self, request: FuturesOrderRequest) -> OrderSnapshot: ...
    async def cancel_order(self, symbol: str, client_order_id: str) -> OrderSnapshot: ...
    async def cancel_order_by_id(self, symbol: str, order_id: int) -> OrderSnapshot:
        """Cancel by ``orderId``, e.g. an algo order's triggered child (``actualOrderId``)."""
        ...

    async def close(self) -> None: ...


# -- Spot --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BalanceSnapshot:
    """One Spot asset balance (``GET /api/v3/account``)."""

    asset: str
    free: Decimal
    locked: Decimal

    @property
    def total(self) -> Decimal:
        return self.free + self.locked


@dataclass(frozen=True, slots=True)
class SpotOrderSnapshot:
    """One Spot order (REST place/cancel/query/open; every wire field kept in ``raw``).

    ``client_order_id`` is the order's own id, also for a cancel answer (whose wire
    ``clientOrderId`` is the cancel request's id and ``origClientOrderId`` the order's).
    """

    order_id: int
    client_order_id: str
    symbol: str
    side: Side
    order_type: str
    status: str  # NEW, PARTIALLY_FILLED, FILLED, CANCELED, EXPIRED, EXPIRED_IN_MATCH, ...
    quantity: Decimal
    executed_quantity: Decimal
    price: Decimal
    stop_price: Decimal
    order_list_id: int  # -1 when not in an order list
    update_time_ms: int
    raw: dict[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True, slots=True)
class SpotListSnapshot:
    """One Spot order list (OCO): its status and its orders as ``(orderId, clientOrderId)``."""

    order_list_id: int
    list_client_order_id: str
    symbol: str
    contingency_type: str
    list_status_type: str  # RESPONSE, EXEC_STARTED, UPDATED, ALL_DONE
    list_order_status: str  # EXECUTING, ALL_DONE, REJECT
    orders: tuple[tuple[int, str], ...]
    transaction_time_ms: int
    # The orders' states when the answer carried them (placement: ``orderReports``).
    reports: tuple[SpotOrderSnapshot, ...] = ()
    raw: dict[str, Any] = field(default_factory=dict, compare=False)


class SpotReader(Protocol):
    """Read-only Spot access. Never changes anything on the venue."""

    async def exchange_info(self) -> dict[str, Any]: ...
    async def balances(self) -> list[BalanceSnapshot]: ...
    async def prices(self, symbol: str) -> PriceSnapshot: ...
    async def open_orders(self, symbol: str | None = None) -> list[SpotOrderSnapshot]: ...
    async def open_order_lists(self) -> list[SpotListSnapshot]: ...
    async def query_order(self, symbol: str, client_order_id: str) -> SpotOrderSnapshot | None: ...
    async def query_order_list(self, list_client_order_id: str) -> SpotListSnapshot | None: ...
    def user_stream(self) -> AsyncIterator[StreamItem]: ...
    async def close(self) -> None: ...


class SpotTrader(Protocol):
    """The mutating Spot client; constructed only when the execution mode allows sending."""

    async def place_order(self, request: SpotOrderRequest) -> SpotOrderSnapshot: ...
    async def place_oco(self, request: SpotOcoRequest) -> SpotListSnapshot: ...
    async def cancel_order(self, symbol: str, client_order_id: str) -> SpotOrderSnapshot: ...
    async def cancel_order_list(
        self, symbol: str, list_client_order_id: str
    ) -> SpotListSnapshot: ...
    async def cancel_replace(
        self, symbol: str, cancel_client_order_id: str, request: SpotOrderRequest
    ) -> SpotOrderSnapshot:
        """Cancel one order and place ``request`` in one call (STOP_ON_FAILURE); the new order's
        snapshot. Cancel failed: ``Rejected`` (nothing changed). Cancel done, new order refused:
        ``ReplaceHalfDone`` (the old order is gone)."""
        ...

    async def close(self) -> None: ...
