"""Per-product operations the scope workflow needs, over the adapter protocols.

Exchange differences live here as small named methods (which endpoint, which id field, how a
venue status maps to an :class:`ExitStatus`), so the workflow in :mod:`.scope` has no product
``if``s. Only :class:`UsdmOps` exists for USD-M; Spot has its own class with the same surface.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any, Protocol

from exitguard.adapters.port import (
    AlgoOrderSnapshot,
    OrderSnapshot,
    PriceSnapshot,
    StreamItem,
    UsdmReader,
    UsdmTrader,
)
from exitguard.domain.enums import PositionMode, PositionSide, Product, Side, WorkingType
from exitguard.domain.filters import ExchangeRules, parse_exchange_info
from exitguard.domain.ids import ClientAlgoId, ClientIdGenerator, ClientOrderId
from exitguard.domain.requests import AlgoOrderRequest, FuturesOrderRequest
from exitguard.planner.model import ExitKind, ExitRequest, ExitStatus, Position
from exitguard.store.exits import ExitRow

__all__ = [
    "ALGO_STATUS",
    "CHILD_TO_EXIT",
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
    """An exit as the venue reports it now (REST), keyed by client id.

    Hydration also fills what the order *is* (symbol, sides, type, quantity; ``quantity`` None
    for closePosition), so that an app-prefixed order the store does not know (a lost store) can
    be put back into its slot or cancelled (:mod:`.adopt`).
    """

    client_id: str
    kind: ExitKind
    status: ExitStatus
    venue_id: int
    child_order_id: int | None = None
    symbol: str = ""
    side: Side | None = None
    position_side: PositionSide = PositionSide.BOTH
    order_type: str = ""
    quantity: Decimal | None = None
    trailing: bool = False  # a trailing stop (USD-M TRAILING_STOP_MARKET, Spot trailingDelta)
    raw: dict[str, Any] = field(default_factory=dict, compare=False)


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
    async def quote(self, symbol: str) -> PriceSnapshot:
        """Mark and last price, for display (the API's positions view)."""

    async def liquidation_prices(self) -> dict[tuple[str, PositionSide], Decimal]:
        """Per position, the venue's liquidation price where it reports one (display)."""

    def stream(self) -> AsyncIterator[StreamItem]: ...
    def replace_first_possible(
        self, old: ExitRow, request: ExitRequest, position: Position | None
    ) -> bool:
        """Whether the venue can hold the new exit beside the old one (place-first)."""

    def can_cancel_replace(self, old: ExitRow, request: ExitRequest) -> bool: ...
    async def cancel_replace(self, old: ExitRow, request: ExitRequest) -> VenueExit: ...


def _algo(snap: AlgoOrderSnapshot) -> VenueExit:
    return VenueExit(
        snap.client_algo_id,
        ExitKind.ALGO,
        ALGO_STATUS.get(snap.status, ExitStatus.UNKNOWN),
        snap.algo_id,
        snap.actual_order_id,
        symbol=snap.symbol,
        side=snap.side,
        position_side=snap.position_side,
        order_type=snap.order_type,
        quantity=None if snap.close_position else snap.quantity,
        trailing=snap.order_type == "TRAILING_STOP_MARKET",
        raw=snap.raw,
    )


def _order(snap: OrderSnapshot) -> VenueExit:
    return VenueExit(
        snap.client_order_id,
        ExitKind.ORDER,
        ORDER_STATUS.get(snap.status, ExitStatus.UNKNOWN),
        snap.order_id,
        symbol=snap.symbol,
        side=snap.side,
        position_side=snap.position_side,
        order_type=snap.order_type,
        quantity=snap.quantity,
        raw=snap.raw,
    )


def snap_or_row(snap: AlgoOrderSnapshot | None, row: ExitRow) -> VenueExit:
    if snap is not None:
        return _algo(snap)
    return VenueExit(row.client_id, ExitKind.ALGO, row.status, row.venue_id or 0)


# A triggered algo exit's child ended this way -> the exit's own state (the Algo Service's own
# FINISHED may come later, or never reach us across a reconnect).
CHILD_TO_EXIT: dict[str, ExitStatus] = {
    "FILLED": ExitStatus.FINISHED,
    "CANCELED": ExitStatus.CANCELED,
    "EXPIRED": ExitStatus.EXPIRED,
    "EXPIRED_IN_MATCH": ExitStatus.EXPIRED,
    "REJECTED": ExitStatus.REJECTED,
}


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

    async def close(self) -> None:
        """Release the trader's connection (the WebSocket API transport keeps one open)."""
        close = getattr(self.trader, "close", None)
        if close is not None:
            await close()

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
            Position(
                account,
                Product.USDM,
                p.symbol,
                p.position_side,
                p.amount,
                p.entry_price,
                p.liquidation_price,  # the liquidation guard plans with it
            )
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
        if row.kind is ExitKind.ALGO and row.status is ExitStatus.TRIGGERED:
            return await self._cancel_child(trader, row)
        if row.kind is ExitKind.ALGO:
            return _algo(await trader.cancel_algo_order(row.client_id))
        return _order(await trader.cancel_order(row.slot.symbol, row.client_id))

    async def _cancel_child(self, trader: UsdmTrader, row: ExitRow) -> VenueExit:
        """A triggered algo order cannot be cancelled (binance-api.md §1.9); its child order
        (``actualOrderId``) can: ``DELETE /fapi/v1/order`` by orderId."""
        child = row.child_order_id
        if child is None:
            snap = await self.reader.query_algo_order(row.client_id)
            if snap is None or snap.actual_order_id is None:
                # No child yet (TRIGGERING) or no answer: nothing changed; a later pass retries.
                return snap_or_row(snap, row)
            child = snap.actual_order_id
        answer = await trader.cancel_order_by_id(row.slot.symbol, child)
        status = CHILD_TO_EXIT.get(answer.status, ExitStatus.TRIGGERED)
        return VenueExit(row.client_id, ExitKind.ALGO, status, row.venue_id or 0, child)

    def replace_first_possible(
        self, old: ExitRow, request: ExitRequest, position: Position | None
    ) -> bool:
        return True  # USD-M exits lock margin, not the position: both may rest at once

    def can_cancel_replace(self, old: ExitRow, request: ExitRequest) -> bool:
        return False

    async def cancel_replace(self, old: ExitRow, request: ExitRequest) -> VenueExit:
        raise NotImplementedError("USD-M replaces place-first")

    async def reference_price(self, symbol: str, working_type: WorkingType | None) -> Decimal:
        prices = await self.reader.prices(symbol)
        return prices.last if working_type is WorkingType.CONTRACT_PRICE else prices.mark

    async def quote(self, symbol: str) -> PriceSnapshot:
        return await self.reader.prices(symbol)

    async def liquidation_prices(self) -> dict[tuple[str, PositionSide], Decimal]:
        return {
            (p.symbol, p.position_side): p.liquidation_price
            for p in await self.reader.positions()
            if p.liquidation_price is not None
        }

    def stream(self) -> AsyncIterator[StreamItem]:
        return self.reader.user_stream()
