"""Spot operations for the scope workflow (the :class:`~.ops.ProductOps` of Product.SPOT).

A Spot "position" is a holding: one long :class:`Position` per managed symbol whose base asset
balance (free + locked: an exit's SELL locks what it protects) is not dust. Spot has no entry
price, so the entry is the one remembered in the store (``ExitStore.entry``, key
``account/spot/SYMBOL``): set from the buy fill when the manager saw it, else from the last
price at first sight, and forgotten when the holding is gone.

Exits are single orders (``/api/v3/order``, ``newClientOrderId``; ExitKind.SPOT_ORDER) or OCO
order lists (``/api/v3/orderList/oco``, ``listClientOrderId``; ExitKind.SPOT_OCO). An OCO's
state is its list's: EXECUTING is open; once ALL_DONE its legs decide (binance-api.md §3.6):
a filled leg → FILLED, a leg still working (a triggered STOP_LOSS_LIMIT resting on the book)
→ TRIGGERED (still blocking: the balance is locked), all cancelled → CANCELED, else EXPIRED.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import replace
from decimal import Decimal

from exitguard.adapters.port import (
    PriceSnapshot,
    SpotListSnapshot,
    SpotOrderSnapshot,
    SpotReader,
    SpotTrader,
    StreamItem,
)
from exitguard.domain.enums import PositionMode, PositionSide, Product, WorkingType
from exitguard.domain.filters import ExchangeRules, parse_exchange_info
from exitguard.domain.ids import ClientIdGenerator, ClientOrderId
from exitguard.domain.requests import SpotOcoRequest, SpotOrderRequest
from exitguard.planner.model import ExitKind, ExitRequest, ExitStatus, Position
from exitguard.store.exits import ExitRow, ExitStore

from .ops import ORDER_STATUS, Hydration, VenueExit

__all__ = ["SpotOps", "entry_key", "is_dust", "list_status"]

_OPEN_ORDER = frozenset({"NEW", "PARTIALLY_FILLED", "PENDING_NEW"})


def entry_key(account: str, symbol: str) -> str:
    return f"{account}/spot/{symbol}"


def is_dust(rules: ExchangeRules | None, symbol: str, amount: Decimal) -> bool:
    """Too little to sell (below LOT_SIZE minQty): not a position to protect."""
    if amount <= 0:
        return True
    sym = rules.symbols.get(symbol) if rules is not None else None
    lot = sym.lot_size if sym is not None else None
    return lot is not None and amount < lot.min_qty


def list_status(lst: SpotListSnapshot, legs: Iterable[SpotOrderSnapshot]) -> ExitStatus:
    """An OCO's exit status from its list status and (once ALL_DONE) its legs' states."""
    if lst.list_order_status == "EXECUTING":
        return ExitStatus.OPEN
    if lst.list_order_status == "REJECT":
        return ExitStatus.REJECTED
    states = list(legs)
    if any(o.status in _OPEN_ORDER for o in states):
        return ExitStatus.TRIGGERED
    if any(o.status == "FILLED" or o.executed_quantity > 0 for o in states):
        return ExitStatus.FILLED
    if states and all(o.status == "CANCELED" for o in states):
        return ExitStatus.CANCELED
    return ExitStatus.EXPIRED


def _order(snap: SpotOrderSnapshot) -> VenueExit:
    return VenueExit(
        snap.client_order_id,
        ExitKind.SPOT_ORDER,
        ORDER_STATUS.get(snap.status, ExitStatus.UNKNOWN),
        snap.order_id,
        symbol=snap.symbol,
        side=snap.side,
        order_type=snap.order_type,
        quantity=snap.quantity,
        trailing=bool(snap.raw.get("trailingDelta")),
        raw=snap.raw,
    )


def _list(
    lst: SpotListSnapshot, status: ExitStatus, legs: Iterable[SpotOrderSnapshot] = ()
) -> VenueExit:
    first = next(iter(legs), None)
    return VenueExit(
        lst.list_client_order_id,
        ExitKind.SPOT_OCO,
        status,
        lst.order_list_id,
        symbol=lst.symbol,
        side=None if first is None else first.side,
        order_type="OCO",
        quantity=None if first is None else first.quantity,
        raw=lst.raw,
    )


def _quantity_locked(row: ExitRow) -> Decimal:
    """What an open Spot exit locks of the base asset (an OCO locks its quantity once)."""
    return row.quantity if row.quantity is not None else Decimal(0)


class SpotOps:
    """Spot: holdings of the managed symbols' base assets, single-order and OCO exits."""

    product = Product.SPOT

    def __init__(
        self,
        reader: SpotReader,
        trader: SpotTrader | None,
        symbols: Iterable[str] | None,
        store: ExitStore,
        quote_asset: str = "USDT",
    ) -> None:
        self.reader = reader
        self.trader = trader
        # None: every symbol quoted in ``quote_asset`` (config ``manager.symbols.spot`` unset).
        self.symbols = None if symbols is None else tuple(sorted(set(symbols)))
        self.quote_asset = quote_asset
        self.store = store
        self.rules: ExchangeRules | None = None
        # symbol -> base asset, for the managed symbols the venue lists (from exchangeInfo).
        self.base_assets: dict[str, str] = {}

    @property
    def can_mutate(self) -> bool:
        return self.trader is not None

    def _need_trader(self) -> SpotTrader:
        if self.trader is None:  # DRY_RUN_PRIVATE: the mutating client was never built
            raise RuntimeError("no mutating client in this execution mode")
        return self.trader

    def symbols_of(self, asset: str) -> list[str]:
        return [s for s, base in self.base_assets.items() if base == asset]

    async def hydrate(self, account: str) -> Hydration:
        # Read on every hydration, not once: a symbol's status changes (CANCEL_ONLY since
        # 2026-07-07) and the planner must see it (planner rule 8).
        first = self.rules is None
        self.rules = parse_exchange_info(await self.reader.exchange_info(), Product.SPOT)
        if first:
            wanted = self.symbols
            if wanted is None:
                wanted = tuple(
                    s for s, r in self.rules.symbols.items() if r.quote_asset == self.quote_asset
                )
            # One symbol per base asset: a balance is one holding (the first symbol wins).
            for s in sorted(wanted):
                rules = self.rules.symbols.get(s)
                if rules is not None and rules.base_asset not in self.base_assets.values():
                    self.base_assets[s] = rules.base_asset
        totals = {b.asset: b.total for b in await self.reader.balances()}
        positions = []
        for symbol, asset in sorted(self.base_assets.items()):
            amount = totals.get(asset, Decimal(0))
            if is_dust(self.rules, symbol, amount):
                continue
            entry = await self._entry(account, symbol, amount)
            positions.append(
                Position(account, Product.SPOT, symbol, PositionSide.BOTH, amount, entry)
            )
        orders = await self.reader.open_orders()
        lists = await self.reader.open_order_lists()
        legs: dict[int, list[SpotOrderSnapshot]] = {}
        for o in orders:
            legs.setdefault(o.order_list_id, []).append(o)
        open_exits = {
            lst.list_client_order_id: _list(lst, ExitStatus.OPEN, legs.get(lst.order_list_id, ()))
            for lst in lists
        }
        for o in orders:
            if o.order_list_id == -1:  # a list's legs are represented by their list
                open_exits.setdefault(o.client_order_id, _order(o))
        return Hydration(
            self.rules, PositionMode.ONE_WAY, positions, open_exits, len(lists), len(orders)
        )

    async def _entry(self, account: str, symbol: str, amount: Decimal) -> Decimal:
        """The remembered entry, or the last price at first sight (then remembered)."""
        key = entry_key(account, symbol)
        known = self.store.entry(key)
        if known is not None and known[1] > 0:
            entry = known[0]
        else:
            entry = (await self.reader.prices(symbol)).last
        self.store.set_entry(key, entry, amount, int(time.time() * 1000))
        return entry

    async def query(self, row: ExitRow) -> VenueExit | None:
        if row.kind is ExitKind.SPOT_OCO:
            lst = await self.reader.query_order_list(row.client_id)
            if lst is None:
                return None
            return _list(lst, await self._list_status(lst))
        order = await self.reader.query_order(row.slot.symbol, row.client_id)
        return None if order is None else _order(order)

    async def _list_status(self, lst: SpotListSnapshot) -> ExitStatus:
        if lst.list_order_status != "ALL_DONE":
            return list_status(lst, ())
        legs = list(lst.reports)
        if not legs:  # a query answer has ids only: ask for each leg
            for _order_id, client_id in lst.orders:
                leg = await self.reader.query_order(lst.symbol, client_id)
                if leg is not None:
                    legs.append(leg)
        return list_status(lst, legs)

    def with_client_id(
        self, request: ExitRequest, ids: ClientIdGenerator
    ) -> tuple[ExitRequest, str]:
        order_id = ids.order_id()
        if isinstance(request, SpotOcoRequest):
            return replace(request, list_client_order_id=ClientOrderId(order_id)), str(order_id)
        assert isinstance(request, SpotOrderRequest)
        return replace(request, new_client_order_id=ClientOrderId(order_id)), str(order_id)

    async def place(self, kind: ExitKind, request: ExitRequest) -> VenueExit:
        trader = self._need_trader()
        if isinstance(request, SpotOcoRequest):
            lst = await trader.place_oco(request)
            return _list(lst, list_status(lst, lst.reports))
        assert isinstance(request, SpotOrderRequest)
        return _order(await trader.place_order(request))

    async def cancel(self, row: ExitRow) -> VenueExit:
        trader = self._need_trader()
        if row.kind is ExitKind.SPOT_OCO:
            lst = await trader.cancel_order_list(row.slot.symbol, row.client_id)
            return _list(lst, await self._list_status(lst))
        return _order(await trader.cancel_order(row.slot.symbol, row.client_id))

    async def reference_price(self, symbol: str, working_type: WorkingType | None) -> Decimal:
        return (await self.reader.prices(symbol)).last  # Spot triggers on the last trade

    async def quote(self, symbol: str) -> PriceSnapshot:
        return await self.reader.prices(symbol)

    async def liquidation_prices(self) -> dict[tuple[str, PositionSide], Decimal]:
        return {}  # a Spot holding cannot be liquidated

    def replace_first_possible(
        self, old: ExitRow, request: ExitRequest, position: Position | None
    ) -> bool:
        """A resting SELL locks its quantity of the base asset: the new exit fits beside the
        old one only if the holding covers both (it does when a holding shrinks, not when it
        grows; binance-api.md §3.7 "insufficient balance")."""
        if old.status.terminal or position is None or request.quantity is None:
            return True
        return request.quantity + _quantity_locked(old) <= position.size

    def can_cancel_replace(self, old: ExitRow, request: ExitRequest) -> bool:
        # ``order/cancelReplace`` swaps one single order for another in one request; an order
        # list has no such endpoint (binance-api.md §3.3), so an OCO is cancelled then placed.
        return old.kind is ExitKind.SPOT_ORDER and isinstance(request, SpotOrderRequest)

    async def cancel_replace(self, old: ExitRow, request: ExitRequest) -> VenueExit:
        trader = self._need_trader()
        assert isinstance(request, SpotOrderRequest)
        return _order(await trader.cancel_replace(old.slot.symbol, old.client_id, request))

    def stream(self) -> AsyncIterator[StreamItem]:
        return self.reader.user_stream()
