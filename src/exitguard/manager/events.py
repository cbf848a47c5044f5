"""Typed private events and their dedupe keys: the one parsing path for user data (seed 001).

Every payload is parsed from its typed fields, never from a whole-object serialisation:
``ALGO_UPDATE`` fields are read from the order object ``o`` (``o.caid``, ``o.s``, ``o.ps``,
``o.o``, ``o.X``), not the root. The dedupe key is built from fields that identify one state
change of one order (binance-api.md §1.10, §2.5, §2.6, §3.6), so the same event delivered twice
(a replayed buffer, a reconnect overlap, two handlers) maps to the same key and is applied once.
Event *times* are part of the key only where the venue gives no sequence of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from exitguard.domain.enums import PositionSide, Product, Side

__all__ = [
    "AccountPosition",
    "AccountUpdate",
    "AlgoUpdate",
    "EventParseError",
    "ListStatus",
    "ListenKeyExpired",
    "OrderUpdate",
    "PrivateEvent",
    "SpotBalances",
    "SpotExecution",
    "parse_private_event",
]


class EventParseError(ValueError):
    """A private payload that cannot be read; names the event type and the field."""


def _d(obj: dict[str, Any], key: str, event: str) -> Decimal:
    try:
        value = Decimal(str(obj.get(key, "0") or "0"))
    except InvalidOperation:
        value = Decimal("NaN")
    if not value.is_finite():  # NaN or Infinity would poison every comparison downstream
        raise EventParseError(f"{event}: field {key!r} is not a decimal: {obj.get(key)!r}")
    return value


def _i(obj: dict[str, Any], key: str, event: str, default: int = 0) -> int:
    value = obj.get(key, default)
    if value in ("", None):
        return default
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise EventParseError(f"{event}: field {key!r} is not an integer: {value!r}") from exc


def _s(obj: dict[str, Any], key: str, event: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str):
        raise EventParseError(f"{event}: field {key!r} is missing or not a string")
    return value


def _obj(payload: dict[str, Any], key: str, event: str) -> dict[str, Any]:
    value = payload.get(key)
    if not isinstance(value, dict):
        raise EventParseError(f"{event}: field {key!r} is missing or not an object")
    return value


@dataclass(frozen=True, slots=True)
class AlgoUpdate:
    """``ALGO_UPDATE`` (USD-M algo service), every field from ``o``."""

    event_time_ms: int
    client_algo_id: str
    algo_id: int
    symbol: str
    side: Side
    position_side: PositionSide
    order_type: str
    status: str
    actual_order_id: int | None
    reason: str
    product: Product = Product.USDM
    # ``ia`` (trailing stops, 2026-08): a trailing stop sends a second NEW when its activation
    # price is reached, with ``ia`` true. The flag is part of the dedupe key, so that event is
    # applied once (not dropped as a redelivery of the first NEW) and changes no status.
    activated: bool = False

    @property
    def dedupe_key(self) -> str:
        base = f"usdm:algo:{self.algo_id}:{self.status}:{self.actual_order_id or 0}"
        return base + ":ia" if self.activated else base


@dataclass(frozen=True, slots=True)
class OrderUpdate:
    """``ORDER_TRADE_UPDATE`` (USD-M regular orders, incl. an algo order's triggered child)."""

    event_time_ms: int
    client_order_id: str
    order_id: int
    symbol: str
    side: Side
    position_side: PositionSide
    order_type: str
    execution_type: str
    status: str
    last_qty: Decimal
    cum_qty: Decimal
    last_price: Decimal
    trade_id: int
    reduce_only: bool
    product: Product = Product.USDM

    @property
    def dedupe_key(self) -> str:
        # A trade is identified by its trade id; other execution types by (order, status, cum).
        if self.execution_type == "TRADE":
            return f"usdm:trade:{self.order_id}:{self.trade_id}"
        return f"usdm:order:{self.order_id}:{self.execution_type}:{self.status}:{self.cum_qty}"


@dataclass(frozen=True, slots=True)
class AccountPosition:
    symbol: str
    position_side: PositionSide
    amount: Decimal
    entry_price: Decimal


@dataclass(frozen=True, slots=True)
class AccountUpdate:
    """``ACCOUNT_UPDATE``: only the positions that changed (binance-api.md §2.6)."""

    event_time_ms: int
    transaction_time_ms: int
    reason: str
    positions: tuple[AccountPosition, ...]
    product: Product = Product.USDM

    @property
    def dedupe_key(self) -> str:
        parts = ",".join(f"{p.symbol}/{p.position_side}/{p.amount}" for p in self.positions)
        return f"usdm:account:{self.transaction_time_ms}:{self.reason}:{parts}"


@dataclass(frozen=True, slots=True)
class ListenKeyExpired:
    event_time_ms: int
    product: Product = Product.USDM

    @property
    def dedupe_key(self) -> str:
        return f"usdm:listenKeyExpired:{self.event_time_ms}"


@dataclass(frozen=True, slots=True)
class SpotExecution:
    """``executionReport`` (Spot)."""

    event_time_ms: int
    client_order_id: str
    original_client_order_id: str
    order_id: int
    order_list_id: int
    symbol: str
    side: Side
    order_type: str
    execution_type: str
    status: str
    last_qty: Decimal
    cum_qty: Decimal
    last_price: Decimal
    trade_id: int
    reject_reason: str
    product: Product = Product.SPOT
    # ``eR``, on reports of orders the exchange expired (Spot CHANGELOG 2026-03; enums.md
    # "Expiry Reasons": OCO_TRIGGER, OTO_PHASE_ONE_EXPIRED, EXECUTION_RULE_PRICE_RANGE_EXCEEDED,
    # ...); "" when absent.
    expiry_reason: str = ""

    @property
    def dedupe_key(self) -> str:
        if self.execution_type == "TRADE":
            return f"spot:trade:{self.order_id}:{self.trade_id}"
        return f"spot:order:{self.order_id}:{self.execution_type}:{self.status}:{self.cum_qty}"


@dataclass(frozen=True, slots=True)
class ListStatus:
    """``listStatus`` (Spot order lists)."""

    event_time_ms: int
    order_list_id: int
    list_client_order_id: str
    symbol: str
    list_status_type: str
    list_order_status: str
    product: Product = Product.SPOT

    @property
    def dedupe_key(self) -> str:
        return f"spot:list:{self.order_list_id}:{self.list_status_type}:{self.list_order_status}"


@dataclass(frozen=True, slots=True)
class SpotBalances:
    """``outboundAccountPosition`` (free/locked after a change) or ``balanceUpdate``."""

    event_time_ms: int
    kind: str
    balances: tuple[tuple[str, Decimal, Decimal], ...]  # (asset, free, locked)
    product: Product = Product.SPOT

    @property
    def dedupe_key(self) -> str:
        parts = ",".join(f"{a}:{f}:{lk}" for a, f, lk in self.balances)
        return f"spot:{self.kind}:{self.event_time_ms}:{parts}"


PrivateEvent = (
    AlgoUpdate
    | OrderUpdate
    | AccountUpdate
    | ListenKeyExpired
    | SpotExecution
    | ListStatus
    | SpotBalances
)


# Enum lookups by wire text: a dict hit instead of ``EnumMeta.__call__`` on the hot path.
_SIDES: dict[object, Side] = {s.value: s for s in Side}
_POSITION_SIDES: dict[object, PositionSide] = {s.value: s for s in PositionSide}
_POSITION_SIDES[None] = _POSITION_SIDES[""] = PositionSide.BOTH  # absent = one-way mode
_FAST_ERRORS = (KeyError, TypeError, AttributeError, ValueError, InvalidOperation)


def _fast_int(value: object) -> int:
    """An int field as the venue sends it (JSON number); anything else takes the checked path."""
    if type(value) is not int:
        raise TypeError
    return value


def _fast_str(value: object) -> str:
    if type(value) is not str:
        raise TypeError
    return value


def _fast_decimal(value: object) -> Decimal:
    # Only non-empty strings: "", missing and numbers go through ``_d`` (its defaults apply).
    if type(value) is not str or not value:
        raise TypeError
    number = Decimal(value)
    if not number.is_finite():
        raise TypeError
    return number


def _algo_update(p: dict[str, Any]) -> AlgoUpdate:
    """The common, well-formed shape without per-field helper calls; anything unusual (a missing
    or mistyped field, an unknown enum) goes through :func:`_algo_update_checked`, which gives
    the same result or the error that names the field."""
    try:
        o = p["o"]
        actual = o.get("ai")
        return AlgoUpdate(
            event_time_ms=_fast_int(p["E"]),
            client_algo_id=_fast_str(o["caid"]),
            algo_id=_fast_int(o["aid"]),
            symbol=_fast_str(o["s"]),
            side=_SIDES[o["S"]],
            position_side=_POSITION_SIDES[o.get("ps")],
            order_type=_fast_str(o["o"]),
            status=_fast_str(o["X"]),
            # "" until the order triggers (binance-api.md §2.5), then the child's order id.
            actual_order_id=None if actual == "" or actual is None else _fast_int(actual) or None,
            reason=str(o.get("rm") or ""),
            activated=o.get("ia") is True,
        )
    except _FAST_ERRORS:
        return _algo_update_checked(p)


def _algo_update_checked(p: dict[str, Any]) -> AlgoUpdate:
    ev = "ALGO_UPDATE"
    o = _obj(p, "o", ev)
    actual = _i(o, "ai", ev)
    return AlgoUpdate(
        event_time_ms=_i(p, "E", ev),
        client_algo_id=_s(o, "caid", ev),
        algo_id=_i(o, "aid", ev),
        symbol=_s(o, "s", ev),
        side=Side(_s(o, "S", ev)),
        position_side=PositionSide(o.get("ps") or "BOTH"),
        order_type=_s(o, "o", ev),
        status=_s(o, "X", ev),
        actual_order_id=actual or None,
        reason=str(o.get("rm") or ""),
        activated=o.get("ia") is True,
    )


def _order_update(p: dict[str, Any]) -> OrderUpdate:
    """Fast path as in :func:`_algo_update`; :func:`_order_update_checked` for the rest."""
    try:
        o = p["o"]
        return OrderUpdate(
            event_time_ms=_fast_int(p["E"]),
            client_order_id=_fast_str(o["c"]),
            order_id=_fast_int(o["i"]),
            symbol=_fast_str(o["s"]),
            side=_SIDES[o["S"]],
            position_side=_POSITION_SIDES[o.get("ps")],
            order_type=_fast_str(o["o"]),
            execution_type=_fast_str(o["x"]),
            status=_fast_str(o["X"]),
            last_qty=_fast_decimal(o["l"]),
            cum_qty=_fast_decimal(o["z"]),
            last_price=_fast_decimal(o["L"]),
            trade_id=_fast_int(o["t"]),
            reduce_only=bool(o.get("R", False)),
        )
    except _FAST_ERRORS:
        return _order_update_checked(p)


def _order_update_checked(p: dict[str, Any]) -> OrderUpdate:
    ev = "ORDER_TRADE_UPDATE"
    o = _obj(p, "o", ev)
    return OrderUpdate(
        event_time_ms=_i(p, "E", ev),
        client_order_id=_s(o, "c", ev),
        order_id=_i(o, "i", ev),
        symbol=_s(o, "s", ev),
        side=Side(_s(o, "S", ev)),
        position_side=PositionSide(o.get("ps") or "BOTH"),
        order_type=_s(o, "o", ev),
        execution_type=_s(o, "x", ev),
        status=_s(o, "X", ev),
        last_qty=_d(o, "l", ev),
        cum_qty=_d(o, "z", ev),
        last_price=_d(o, "L", ev),
        trade_id=_i(o, "t", ev),
        reduce_only=bool(o.get("R", False)),
    )


def _account_update(p: dict[str, Any]) -> AccountUpdate:
    """Fast path as in :func:`_algo_update`; :func:`_account_update_checked` for the rest."""
    try:
        a = p["a"]
        positions = tuple(
            AccountPosition(
                symbol=_fast_str(r["s"]),
                position_side=_POSITION_SIDES[r.get("ps")],
                amount=_fast_decimal(r["pa"]),
                entry_price=_fast_decimal(r["ep"]),
            )
            for r in a["P"]
        )
        return AccountUpdate(
            event_time_ms=_fast_int(p["E"]),
            transaction_time_ms=_fast_int(p["T"]),
            reason=str(a.get("m") or ""),
            positions=positions,
        )
    except _FAST_ERRORS:
        return _account_update_checked(p)


def _account_update_checked(p: dict[str, Any]) -> AccountUpdate:
    ev = "ACCOUNT_UPDATE"
    a = _obj(p, "a", ev)
    rows = a.get("P") or []
    positions = tuple(
        AccountPosition(
            symbol=_s(r, "s", ev),
            position_side=PositionSide(r.get("ps") or "BOTH"),
            amount=_d(r, "pa", ev),
            entry_price=_d(r, "ep", ev),
        )
        for r in rows
        if isinstance(r, dict)
    )
    return AccountUpdate(
        event_time_ms=_i(p, "E", ev),
        transaction_time_ms=_i(p, "T", ev),
        reason=str(a.get("m") or ""),
        positions=positions,
    )


def _execution_report(p: dict[str, Any]) -> SpotExecution:
    ev = "executionReport"
    return SpotExecution(
        event_time_ms=_i(p, "E", ev),
        client_order_id=_s(p, "c", ev),
        original_client_order_id=str(p.get("C") or ""),
        order_id=_i(p, "i", ev),
        order_list_id=_i(p, "g", ev, -1),
        symbol=_s(p, "s", ev),
        side=Side(_s(p, "S", ev)),
        order_type=_s(p, "o", ev),
        execution_type=_s(p, "x", ev),
        status=_s(p, "X", ev),
        last_qty=_d(p, "l", ev),
        cum_qty=_d(p, "z", ev),
        last_price=_d(p, "L", ev),
        trade_id=_i(p, "t", ev, -1),
        reject_reason=str(p.get("r") or "NONE"),
        expiry_reason=str(p.get("eR") or ""),
    )


def _list_status(p: dict[str, Any]) -> ListStatus:
    ev = "listStatus"
    return ListStatus(
        event_time_ms=_i(p, "E", ev),
        order_list_id=_i(p, "g", ev),
        list_client_order_id=_s(p, "C", ev),
        symbol=_s(p, "s", ev),
        list_status_type=_s(p, "l", ev),
        list_order_status=_s(p, "L", ev),
    )


def _spot_balances(p: dict[str, Any], kind: str) -> SpotBalances:
    if kind == "balanceUpdate":
        rows: tuple[tuple[str, Decimal, Decimal], ...] = (
            (_s(p, "a", kind), _d(p, "d", kind), Decimal(0)),
        )
    else:
        rows = tuple(
            (_s(b, "a", kind), _d(b, "f", kind), _d(b, "l", kind))
            for b in p.get("B") or []
            if isinstance(b, dict)
        )
    return SpotBalances(event_time_ms=_i(p, "E", kind), kind=kind, balances=rows)


def parse_private_event(payload: dict[str, Any]) -> PrivateEvent | None:
    """The typed event for a private payload; ``None`` for event types exitguard does not use.

    Spot events delivered through the WebSocket API arrive wrapped as ``{"subscriptionId": n,
    "event": {...}}``; the wrapper is unwrapped here so both deliveries share one path.
    """
    inner = payload.get("event")
    if isinstance(inner, dict) and "e" in inner:
        payload = inner
    kind = payload.get("e")
    try:
        if kind == "ALGO_UPDATE":
            return _algo_update(payload)
        if kind == "ORDER_TRADE_UPDATE":
            return _order_update(payload)
        if kind == "ACCOUNT_UPDATE":
            return _account_update(payload)
        if kind == "listenKeyExpired":
            return ListenKeyExpired(event_time_ms=_i(payload, "E", "listenKeyExpired"))
        if kind == "executionReport":
            return _execution_report(payload)
        if kind == "listStatus":
            return _list_status(payload)
        if kind in ("outboundAccountPosition", "balanceUpdate"):
            return _spot_balances(payload, kind)
    except ValueError as exc:  # an unknown enum value (Side, PositionSide) in a typed field
        if isinstance(exc, EventParseError):
            raise
        raise EventParseError(f"{kind}: {exc}") from exc
    return None
