"""A scripted in-memory USD-M venue behind the ``ProductOps`` surface, for deterministic scope tests.

It is not a second paper venue: it only records what the scope sent and answers with what the
test scripted (errors, lost answers, pauses), so each seed-001 case can be driven step by step.
The end-to-end tests run the real adapters against the real paper venue instead.

:class:`FakeUsdmOps` replaces the whole ``UsdmOps``; :class:`FakeUsdmReader` and
:class:`FakeUsdmTrader` implement the adapter ports over the same state instead, so a test can
run the real ``UsdmOps`` (its hydration, queries and placements) and see every port call.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from decimal import Decimal
from importlib.resources import files
from typing import Any

from exitguard.adapters.errors import ExchangeError
from exitguard.adapters.port import (
    AlgoOrderSnapshot,
    OrderSnapshot,
    PositionSnapshot,
    PriceSnapshot,
    StreamItem,
)
from exitguard.domain.enums import PositionMode, PositionSide, Product, Side, WorkingType
from exitguard.domain.filters import parse_exchange_info
from exitguard.domain.ids import ClientIdGenerator
from exitguard.domain.requests import AlgoOrderRequest, FuturesOrderRequest
from exitguard.manager.ops import Hydration, UsdmOps, VenueExit
from exitguard.planner.model import ExitKind, ExitRequest, ExitStatus, Position
from exitguard.store.exits import ExitRow

USDM_EXCHANGE_INFO: dict[str, Any] = json.loads(
    files("exitguard").joinpath("fixtures/exchange_info/usdm.json").read_text()
)
USDM_RULES = parse_exchange_info(USDM_EXCHANGE_INFO, Product.USDM)


@dataclass
class FakeOrder:
    client_id: str
    kind: ExitKind
    params: dict[str, str]
    venue_id: int
    status: ExitStatus = ExitStatus.OPEN


@dataclass
class FakeUsdm:
    """Venue state plus scripted behaviour; ``calls`` records every REST-like call in order."""

    positions: list[Position] = field(default_factory=list)
    orders: dict[str, FakeOrder] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    place_errors: list[ExchangeError] = field(default_factory=list)
    apply_then_fail: list[ExchangeError] = field(default_factory=list)  # processed, answer lost
    cancel_errors: list[ExchangeError] = field(default_factory=list)
    place_gate: asyncio.Event | None = None  # when set, place() waits for it (a slow venue)
    place_started: asyncio.Event = field(default_factory=asyncio.Event)
    mark: Decimal = Decimal("50000")
    stream_items: asyncio.Queue[StreamItem] = field(default_factory=asyncio.Queue)
    ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1000))

    def open_(self) -> list[FakeOrder]:
        return [
            o for o in self.orders.values() if o.status in (ExitStatus.OPEN, ExitStatus.TRIGGERED)
        ]


class FakeUsdmOps(UsdmOps):
    """``UsdmOps`` whose reader/trader are the in-memory :class:`FakeUsdm`."""

    def __init__(self, venue: FakeUsdm, *, can_mutate: bool = True) -> None:
        self.venue = venue
        self.trader = object() if can_mutate else None  # type: ignore[assignment]
        self.reader = None  # type: ignore[assignment]
        self._rules = USDM_RULES

    async def hydrate(self, account: str) -> Hydration:
        v = self.venue
        v.calls.append("hydrate")
        positions = [
            Position(account, p.product, p.symbol, p.position_side, p.amount, p.entry_price)
            for p in v.positions
        ]
        exits = {
            o.client_id: VenueExit(o.client_id, o.kind, o.status, o.venue_id) for o in v.open_()
        }
        algos = sum(1 for o in v.open_() if o.kind is ExitKind.ALGO)
        return Hydration(
            USDM_RULES, PositionMode.ONE_WAY, positions, exits, algos, len(exits) - algos
        )

    async def query(self, row: ExitRow) -> VenueExit | None:
        self.venue.calls.append(f"query {row.client_id}")
        o = self.venue.orders.get(row.client_id)
        return None if o is None else VenueExit(o.client_id, o.kind, o.status, o.venue_id)

    async def place(self, kind: ExitKind, request: ExitRequest) -> VenueExit:
        v = self.venue
        params = request.to_params()
        cid = params.get("clientAlgoId") or params.get("newClientOrderId") or ""
        v.calls.append(f"place {params['type']} {cid}")
        v.place_started.set()
        if v.place_gate is not None:
            await v.place_gate.wait()
        if v.place_errors:
            raise v.place_errors.pop(0)
        order = FakeOrder(cid, kind, params, next(v.ids))
        v.orders[cid] = order
        if v.apply_then_fail:
            raise v.apply_then_fail.pop(0)
        return VenueExit(cid, kind, ExitStatus.OPEN, order.venue_id)

    async def cancel(self, row: ExitRow) -> VenueExit:
        v = self.venue
        v.calls.append(f"cancel {row.client_id}")
        if v.cancel_errors:
            raise v.cancel_errors.pop(0)
        o = v.orders[row.client_id]
        o.status = ExitStatus.CANCELED
        return VenueExit(o.client_id, o.kind, o.status, o.venue_id)

    async def reference_price(self, symbol: str, working_type: WorkingType | None) -> Decimal:
        self.venue.calls.append(f"price {symbol}")
        return self.venue.mark

    async def _stream(self) -> AsyncIterator[StreamItem]:
        while True:
            yield await self.venue.stream_items.get()

    def stream(self) -> AsyncIterator[StreamItem]:
        return self._stream()


# -- the adapter ports over the same venue, so the real ``UsdmOps`` can be tested -------------

# ExitStatus -> the wire status the venue would report (binance-api.md §1.9, §2.5).
_ALGO_WIRE = {
    ExitStatus.OPEN: "NEW",
    ExitStatus.TRIGGERED: "TRIGGERED",
    ExitStatus.FINISHED: "FINISHED",
    ExitStatus.CANCELED: "CANCELED",
    ExitStatus.EXPIRED: "EXPIRED",
    ExitStatus.REJECTED: "REJECTED",
}
_ORDER_WIRE = {
    ExitStatus.OPEN: "NEW",
    ExitStatus.FILLED: "FILLED",
    ExitStatus.CANCELED: "CANCELED",
    ExitStatus.EXPIRED: "EXPIRED",
    ExitStatus.REJECTED: "REJECTED",
}


def _algo_snapshot(o: FakeOrder) -> AlgoOrderSnapshot:
    p = o.params
    return AlgoOrderSnapshot(
        algo_id=o.venue_id,
        client_algo_id=o.client_id,
        symbol=p["symbol"],
        side=Side(p["side"]),
        position_side=PositionSide(p.get("positionSide", "BOTH")),
        order_type=p["type"],
        status=_ALGO_WIRE[o.status],
        quantity=Decimal(p.get("quantity", "0")),
        trigger_price=Decimal(p.get("triggerPrice", "0")),
        close_position=p.get("closePosition") == "true",
        reduce_only=p.get("reduceOnly") == "true",
        update_time_ms=1,
    )


def _order_snapshot(o: FakeOrder) -> OrderSnapshot:
    p = o.params
    return OrderSnapshot(
        order_id=o.venue_id,
        client_order_id=o.client_id,
        symbol=p["symbol"],
        side=Side(p["side"]),
        position_side=PositionSide(p.get("positionSide", "BOTH")),
        order_type=p["type"],
        status=_ORDER_WIRE[o.status],
        quantity=Decimal(p.get("quantity", "0")),
        executed_quantity=Decimal(0),
        price=Decimal(p.get("price", "0")),
        reduce_only=p.get("reduceOnly") == "true",
        update_time_ms=1,
    )


class FakeUsdmReader:
    """The ``UsdmReader`` port over :class:`FakeUsdm`; each call is recorded by its name."""

    def __init__(self, venue: FakeUsdm) -> None:
        self.venue = venue

    async def exchange_info(self) -> dict[str, Any]:
        self.venue.calls.append("exchange_info")
        return USDM_EXCHANGE_INFO

    async def position_mode(self) -> PositionMode:
        self.venue.calls.append("position_mode")
        return PositionMode.ONE_WAY

    async def positions(self) -> list[PositionSnapshot]:
        self.venue.calls.append("positions")
        return [
            PositionSnapshot(p.symbol, p.position_side, p.amount, p.entry_price, 1)
            for p in self.venue.positions
        ]

    async def prices(self, symbol: str) -> PriceSnapshot:
        self.venue.calls.append(f"prices {symbol}")
        return PriceSnapshot(symbol, self.venue.mark, self.venue.mark)

    async def open_algo_orders(self, symbol: str | None = None) -> list[AlgoOrderSnapshot]:
        self.venue.calls.append("open_algo_orders")
        return [_algo_snapshot(o) for o in self.venue.open_() if o.kind is ExitKind.ALGO]

    async def open_orders(self, symbol: str | None = None) -> list[OrderSnapshot]:
        self.venue.calls.append("open_orders")
        return [_order_snapshot(o) for o in self.venue.open_() if o.kind is ExitKind.ORDER]

    async def query_algo_order(self, client_algo_id: str) -> AlgoOrderSnapshot | None:
        self.venue.calls.append(f"query_algo_order {client_algo_id}")
        o = self.venue.orders.get(client_algo_id)
        return None if o is None or o.kind is not ExitKind.ALGO else _algo_snapshot(o)

    async def query_order(self, symbol: str, client_order_id: str) -> OrderSnapshot | None:
        self.venue.calls.append(f"query_order {client_order_id}")
        o = self.venue.orders.get(client_order_id)
        return None if o is None or o.kind is not ExitKind.ORDER else _order_snapshot(o)

    async def _stream(self) -> AsyncIterator[StreamItem]:
        while True:
            yield await self.venue.stream_items.get()

    def user_stream(self) -> AsyncIterator[StreamItem]:
        return self._stream()

    async def close(self) -> None:
        pass


class FakeUsdmTrader:
    """The ``UsdmTrader`` port over :class:`FakeUsdm`; each call is recorded by its name."""

    def __init__(self, venue: FakeUsdm) -> None:
        self.venue = venue

    def _new(self, kind: ExitKind, params: dict[str, str], cid: str) -> FakeOrder:
        order = FakeOrder(cid, kind, params, next(self.venue.ids))
        self.venue.orders[cid] = order
        return order

    async def place_algo_order(self, request: AlgoOrderRequest) -> AlgoOrderSnapshot:
        params = request.to_params()
        self.venue.calls.append(f"place_algo_order {params['type']} {params['clientAlgoId']}")
        return _algo_snapshot(self._new(ExitKind.ALGO, params, params["clientAlgoId"]))

    async def place_order(self, request: FuturesOrderRequest) -> OrderSnapshot:
        params = request.to_params()
        cid = params["newClientOrderId"]
        self.venue.calls.append(f"place_order {params['type']} {cid}")
        return _order_snapshot(self._new(ExitKind.ORDER, params, cid))

    async def cancel_algo_order(self, client_algo_id: str) -> AlgoOrderSnapshot:
        self.venue.calls.append(f"cancel_algo_order {client_algo_id}")
        order = self.venue.orders[client_algo_id]
        order.status = ExitStatus.CANCELED
        return _algo_snapshot(order)

    async def cancel_order(self, symbol: str, client_order_id: str) -> OrderSnapshot:
        self.venue.calls.append(f"cancel_order {client_order_id}")
        order = self.venue.orders[client_order_id]
        order.status = ExitStatus.CANCELED
        return _order_snapshot(order)

    async def close(self) -> None:
        pass


def long_position(amount: str = "0.5", entry: str = "50000") -> Position:
    return Position(
        "acct", Product.USDM, "BTCUSDT", PositionSide.BOTH, Decimal(amount), Decimal(entry)
    )


def algo_update(
    cid: str, aid: int, status: str, *, symbol: str = "BTCUSDT", ai: str = ""
) -> dict[str, Any]:
    """An ALGO_UPDATE payload with the keys of binance-api.md §1.10."""
    return {
        "e": "ALGO_UPDATE",
        "T": 1,
        "E": 2,
        "o": {
            "caid": cid,
            "aid": aid,
            "at": "CONDITIONAL",
            "o": "STOP_MARKET",
            "s": symbol,
            "S": "SELL",
            "ps": "BOTH",
            "f": "GTC",
            "q": "0",
            "X": status,
            "ai": ai,
            "ap": "0",
            "aq": "0",
            "act": "0",
            "tp": "49000",
            "p": "0",
            "V": "NONE",
            "wt": "MARK_PRICE",
            "pm": "NONE",
            "cp": True,
            "pP": True,
            "R": False,
            "tt": 0,
            "gtd": 0,
        },
    }


def account_update(symbol: str, amount: str, entry: str, t: int) -> dict[str, Any]:
    return {
        "e": "ACCOUNT_UPDATE",
        "E": t,
        "T": t,
        "a": {"m": "ORDER", "B": [], "P": [{"s": symbol, "pa": amount, "ep": entry, "ps": "BOTH"}]},
    }


def seeded_ids(seed: int = 7) -> ClientIdGenerator:
    import random

    return ClientIdGenerator(rng=random.Random(seed))
