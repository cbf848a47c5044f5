"""Per-product operations the scope workflow needs, over the adapter protocols.

Exchange differences live here as small named methods (which endpoint, which id field, how a
venue status maps to an :class:`ExitStatus`), so the workflow in :mod:`.scope` has no product
``if``s. Only :class:`UsdmOps` exists for USD-M; Spot has its own class with the same surface.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Protocol

from exitguard.adapters.port import (
    AlgoOrderSnapshot,
    OrderSnapshot,
    StreamItem,
    UsdmReader,
    UsdmTrader,
)
from exitguard.domain.enums import PositionMode, PositionSide, Product, WorkingType
from exitguard.domain.filters import ExchangeRules, parse_exchange_info
from exitguard.domain.ids import ClientAlgoId, ClientIdGenerator, ClientOrderId
from exitguard.domain.requests import AlgoOrderRequest, FuturesOrderRequest
from exitguard.planner.model import ExitKind, ExitRequest, ExitStatus, Position
from exitguard.store.exits import ExitRow

__all__ = [
    "ALGO_STATUS",
    "ORDER_STATUS",
    "Hydration",
    "ProductOps",
    "UsdmOps",
    "VenueExit",
]

# binance-api.md §1.9: algoStatus -> exit status. TRIGGERING/TRIGGERED still block the slot.
ALGO_STATUS: dict[str, ExitStatus] = {
    "NEW": ExitStatus.OPEN,
    "TRIGGERING": ExitStatus.TRIGGERED,
    "TRIGGERED": ExitStatus.TRIGGERED,
    "FINISHED": ExitStatus.FINISHED,
    "CANCELED": ExitStatus.CANCELED,
    "EXPIRED": ExitStatus.EXPIRED,
    "REJECTED": ExitStatus.REJECTED,
}
# binance-api.md §2.5 / §3: order status -> exit status.
ORDER_STATUS: dict[str, ExitStatus] = {
    "NEW": ExitStatus.OPEN,
    "PARTIALLY_FILLED": ExitStatus.OPEN,
    "PENDING_NEW": ExitStatus.OPEN,
    "FILLED": ExitStatus.FILLED,
    "CANCELED": ExitStatus.CANCELED,
    "PENDING_CANCEL": ExitStatus.OPEN,
    "EXPIRED": ExitStatus.EXPIRED,
    "EXPIRED_IN_MATCH": ExitStatus.EXPIRED,
    "REJECTED": ExitStatus.REJECTED,
}


@dataclass(frozen=True, slots=True)
class VenueExit:
    """An exit as the venue reports it now (REST), keyed by client id."""

    client_id: str
    kind: ExitKind
    status: ExitStatus
    venue_id: int
    child_order_id: int | None = None


@dataclass(slots=True)
class Hydration:
    """Trusted state from REST: what startup, reconnect and scoped recovery rebuild from."""

    rules: ExchangeRules
    position_mode: PositionMode
    positions: list[Position]
    open_exits: dict[str, VenueExit] = field(default_factory=dict)
    open_algo_orders: int = 0
    open_orders: int = 0
    # Venue update time per (symbol, positionSide): older ACCOUNT_UPDATEs are not applied.
    position_times: dict[tuple[str, PositionSide], int] = field(default_factory=dict)


class ProductOps(Protocol):
    product: Product

    @property
    def can_mutate(self) -> bool: ...

    async def hydrate(self, account: str) -> Hydration: ...
    async def query(self, row: ExitRow) -> VenueExit | None: ...
    def with_client_id(
        self, request: ExitRequest, ids: ClientIdGenerator
    ) -> tuple[ExitRequest, str]: ...
    async def place(self, kind: ExitKind, request: ExitRequest) -> VenueExit: ...
    async def cancel(self, row: ExitRow) -> VenueExit: ...
    async def reference_price(self, symbol: str, working_type: WorkingType | None) -> Decimal: ...
    def stream(self) -> AsyncIterator[StreamItem]: ...


def _algo(snap: AlgoOrderSnapshot) -> VenueExit:
    return VenueExit(
        snap.client_algo_id,
        ExitKind.ALGO,
        ALGO_STATUS.get(snap.status, ExitStatus.UNKNOWN),
        snap.algo_id,
        snap.actual_order_id,
    )


def _order(snap: OrderSnapshot) -> VenueExit:
    return VenueExit(
        snap.client_order_id,
        ExitKind.ORDER,
        ORDER_STATUS.get(snap.status, ExitStatus.UNKNOWN),
        snap.order_id,
    )


class UsdmOps:
    """USD-M: algo conditionals on ``/fapi/v1/algoOrder``, take-profits on ``/fapi/v1/order``."""

    product = Product.USDM

    def __init__(self, reader: UsdmReader, trader: UsdmTrader | None) -> None:
        self.reader = reader
        self.trader = trader
        self._rules: ExchangeRules | None = None

    @property
    def can_mutate(self) -> bool:
        return self.trader is not None

    def _need_trader(self) -> UsdmTrader:
        if self.trader is None:  # DRY_RUN_PRIVATE: the mutating client was never built
            raise RuntimeError("no mutating client in this execution mode")
        return self.trader

    async def hydrate(self, account: str) -> Hydration:
        # Algo orders are hydrated separately from regular open orders (seed 001 invariant).
        if self._rules is None:
            self._rules = parse_exchange_info(await self.reader.exchange_info(), Product.USDM)
        mode = await self.reader.position_mode()
        snapshots = [p for p in await self.reader.positions() if p.amount != 0]
        positions = [
            Position(account, Product.USDM, p.symbol, p.position_side, p.amount, p.entry_price)
            for p in snapshots
        ]
        times = {(p.symbol, p.position_side): p.update_time_ms for p in snapshots}
        algos = await self.reader.open_algo_orders()
        orders = await self.reader.open_orders()
        open_exits = {a.client_algo_id: _algo(a) for a in algos}
        for o in orders:
            open_exits.setdefault(o.client_order_id, _order(o))
        return Hydration(self._rules, mode, positions, open_exits, len(algos), len(orders), times)

    async def query(self, row: ExitRow) -> VenueExit | None:
        if row.kind is ExitKind.ALGO:
            snap = await self.reader.query_algo_order(row.client_id)
            return None if snap is None else _algo(snap)
        order = await self.reader.query_order(row.slot.symbol, row.client_id)
        return None if order is None else _order(order)

    def with_client_id(
        self, request: ExitRequest, ids: ClientIdGenerator
    ) -> tuple[ExitRequest, str]:
        if isinstance(request, AlgoOrderRequest):
            algo_id = ids.algo_id()
            return replace(request, client_algo_id=ClientAlgoId(algo_id)), str(algo_id)
        assert isinstance(request, FuturesOrderRequest)
        order_id = ids.order_id()
        return replace(request, new_client_order_id=ClientOrderId(order_id)), str(order_id)

    async def place(self, kind: ExitKind, request: ExitRequest) -> VenueExit:
        trader = self._need_trader()
        if isinstance(request, AlgoOrderRequest):
            return _algo(await trader.place_algo_order(request))
        assert isinstance(request, FuturesOrderRequest)
        return _order(await trader.place_order(request))

    async def cancel(self, row: ExitRow) -> VenueExit:
        trader = self._need_trader()
        if row.kind is ExitKind.ALGO:
            return _algo(await trader.cancel_algo_order(row.client_id))
        return _order(await trader.cancel_order(row.slot.symbol, row.client_id))

    async def reference_price(self, symbol: str, working_type: WorkingType | None) -> Decimal:
        prices = await self.reader.prices(symbol)
        return prices.last if working_type is WorkingType.CONTRACT_PRICE else prices.mark

    def stream(self) -> AsyncIterator[StreamItem]:
        return self.reader.user_stream()
