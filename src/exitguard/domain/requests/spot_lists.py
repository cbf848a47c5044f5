"""Spot order lists: OCO (``POST /api/v3/orderList/oco``), OTO (``/orderList/oto``) and OTOCO
(``/orderList/otoco``), per Spot ``rest-api.md`` (``shared/reference/binance-api.md`` 3.3, 3.4).

The deprecated ``POST /api/v3/order/oco`` (price/stopPrice/stopLimitPrice) is not modelled: seed
002 uses it, the reference says it was deprecated on 2024-04-02.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from ..enums import NewOrderRespType, SelfTradePreventionMode, Side, SpotOrderType, TimeInForce
from ..ids import ClientOrderId
from ..numbers import format_decimal
from ..wire import Decoded, FieldSpec, Kind, encode_fields, encode_plan, prefixed, unknown_params
from ._base import ParseResult, decode, not_an_object
from .spot import SpotOrderRequest, spot_side_spec, spot_type_spec

__all__ = [
    "ListLeg",
    "OcoLeg",
    "SpotOcoRequest",
    "SpotOtoRequest",
    "SpotOtocoRequest",
]

_TIF = FieldSpec(
    "time_in_force", "timeInForce", Kind.ENUM, TimeInForce, -1115, "Invalid timeInForce."
)
_LEG_BASE: tuple[FieldSpec, ...] = (
    spot_type_spec,
    FieldSpec("client_order_id", "clientOrderId", Kind.STR, wrap=ClientOrderId),
    FieldSpec("iceberg_qty", "icebergQty", Kind.DECIMAL),
    FieldSpec("price", "price", Kind.DECIMAL),
    FieldSpec("stop_price", "stopPrice", Kind.DECIMAL),
    FieldSpec("trailing_delta", "trailingDelta", Kind.INT),
    _TIF,
)
_SYMBOL = FieldSpec("symbol", "symbol", Kind.STR)
_LIST_ID = FieldSpec("list_client_order_id", "listClientOrderId", Kind.STR, wrap=ClientOrderId)
_RESP = FieldSpec("new_order_resp_type", "newOrderRespType", Kind.ENUM, NewOrderRespType)
_STP = FieldSpec(
    "self_trade_prevention_mode", "selfTradePreventionMode", Kind.ENUM, SelfTradePreventionMode
)
_QTY = FieldSpec("quantity", "quantity", Kind.DECIMAL)


@dataclass(frozen=True, slots=True)
class OcoLeg:
    """One leg of an OCO pair (above or below the market)."""

    type: SpotOrderType
    client_order_id: ClientOrderId | None = None
    iceberg_qty: Decimal | None = None
    price: Decimal | None = None
    stop_price: Decimal | None = None
    trailing_delta: int | None = None
    time_in_force: TimeInForce | None = None

    def as_order(self, symbol: str, side: Side, quantity: Decimal | None) -> SpotOrderRequest:
        """The leg as the single order it becomes; lets validation reuse the order rules."""
        return SpotOrderRequest(
            symbol=symbol,
            side=side,
            type=self.type,
            time_in_force=self.time_in_force,
            quantity=quantity,
            price=self.price,
            new_client_order_id=self.client_order_id,
            stop_price=self.stop_price,
            trailing_delta=self.trailing_delta,
            iceberg_qty=self.iceberg_qty,
        )


@dataclass(frozen=True, slots=True)
class ListLeg:
    """The working or pending order of an OTO / OTOCO list."""

    type: SpotOrderType
    side: Side
    quantity: Decimal | None = None
    client_order_id: ClientOrderId | None = None
    iceberg_qty: Decimal | None = None
    price: Decimal | None = None
    stop_price: Decimal | None = None
    trailing_delta: int | None = None
    time_in_force: TimeInForce | None = None

    def as_order(self, symbol: str) -> SpotOrderRequest:
        return SpotOrderRequest(
            symbol=symbol,
            side=self.side,
            type=self.type,
            time_in_force=self.time_in_force,
            quantity=self.quantity,
            price=self.price,
            new_client_order_id=self.client_order_id,
            stop_price=self.stop_price,
            trailing_delta=self.trailing_delta,
            iceberg_qty=self.iceberg_qty,
        )


_ABOVE = prefixed("above", _LEG_BASE)
_BELOW = prefixed("below", _LEG_BASE)
_OCO_TOP = (_SYMBOL, _LIST_ID, spot_side_spec, _QTY, _RESP, _STP)
_LIST_LEG_BASE = (spot_side_spec, _QTY, *_LEG_BASE)
# The working order of OTO/OTOCO is LIMIT or LIMIT_MAKER: it has no stop fields on the wire.
_WORKING = prefixed(
    "working", [s for s in _LIST_LEG_BASE if s.attr not in ("stop_price", "trailing_delta")]
)
_PENDING = prefixed("pending", _LIST_LEG_BASE)
_PENDING_TOP = prefixed("pending", (spot_side_spec, _QTY))
_PENDING_ABOVE = prefixed("pendingAbove", _LEG_BASE)
_PENDING_BELOW = prefixed("pendingBelow", _LEG_BASE)
_LIST_TOP = (_SYMBOL, _LIST_ID, _RESP, _STP)
_OCO_TOP_PLAN = encode_plan(_OCO_TOP)
_ABOVE_PLAN = encode_plan(_ABOVE)
_BELOW_PLAN = encode_plan(_BELOW)
_LIST_TOP_PLAN = encode_plan(_LIST_TOP)
_WORKING_PLAN = encode_plan(_WORKING)
_PENDING_PLAN = encode_plan(_PENDING)
_PENDING_ABOVE_PLAN = encode_plan(_PENDING_ABOVE)
_PENDING_BELOW_PLAN = encode_plan(_PENDING_BELOW)


def _leg(
    params: Mapping[str, object], specs: tuple[FieldSpec, ...], d: Decoded
) -> dict[str, object] | None:
    """Decode one leg into ``d``'s violations; its values, or None when its type is unusable."""
    leg = Decoded({}, d.violations, d.bad)
    required = [s for s in specs if s.attr in ("type", "side")]
    decode(params, specs, required, leg)
    if all(s.attr in leg.values for s in required):
        return leg.values
    return None


@dataclass(frozen=True, slots=True)
class SpotOcoRequest:
    """``POST /api/v3/orderList/oco``: one quantity and side, an above and a below leg."""

    symbol: str
    side: Side
    quantity: Decimal
    above: OcoLeg
    below: OcoLeg
    list_client_order_id: ClientOrderId | None = None
    new_order_resp_type: NewOrderRespType | None = None
    self_trade_prevention_mode: SelfTradePreventionMode | None = None

    def to_params(self) -> dict[str, str]:
        out: dict[str, str] = {}
        encode_fields(self, _OCO_TOP_PLAN, out)
        encode_fields(self.above, _ABOVE_PLAN, out)
        encode_fields(self.below, _BELOW_PLAN, out)
        return out

    @classmethod
    def from_params(cls, params: object) -> ParseResult[SpotOcoRequest]:
        if not isinstance(params, Mapping):
            return ParseResult(None, [not_an_object()])
        d = decode(params, _OCO_TOP, (_SYMBOL, spot_side_spec, _QTY))
        above = _leg(params, _ABOVE, d)
        below = _leg(params, _BELOW, d)
        unknown_params(params, [s.wire for s in (*_OCO_TOP, *_ABOVE, *_BELOW)], d)
        request = None
        if (
            above is not None
            and below is not None
            and {"symbol", "side", "quantity"} <= d.values.keys()
        ):
            request = cls(above=OcoLeg(**above), below=OcoLeg(**below), **d.values)  # type: ignore[arg-type]
        return ParseResult(request, d.violations, frozenset(d.bad))


@dataclass(frozen=True, slots=True)
class SpotOtoRequest:
    """``POST /api/v3/orderList/oto``: a working order, and a pending order placed when it fills."""

    symbol: str
    working: ListLeg
    pending: ListLeg
    list_client_order_id: ClientOrderId | None = None
    new_order_resp_type: NewOrderRespType | None = None
    self_trade_prevention_mode: SelfTradePreventionMode | None = None

    def to_params(self) -> dict[str, str]:
        out: dict[str, str] = {}
        encode_fields(self, _LIST_TOP_PLAN, out)
        encode_fields(self.working, _WORKING_PLAN, out)
        encode_fields(self.pending, _PENDING_PLAN, out)
        return out

    @classmethod
    def from_params(cls, params: object) -> ParseResult[SpotOtoRequest]:
        if not isinstance(params, Mapping):
            return ParseResult(None, [not_an_object()])
        d = decode(params, _LIST_TOP, (_SYMBOL,))
        working = _leg(params, _WORKING, d)
        pending = _leg(params, _PENDING, d)
        unknown_params(params, [s.wire for s in (*_LIST_TOP, *_WORKING, *_PENDING)], d)
        request = None
        if working is not None and pending is not None and "symbol" in d.values:
            request = cls(working=ListLeg(**working), pending=ListLeg(**pending), **d.values)  # type: ignore[arg-type]
        return ParseResult(request, d.violations, frozenset(d.bad))


@dataclass(frozen=True, slots=True)
class SpotOtocoRequest:
    """``POST /api/v3/orderList/otoco``: a working order whose fill places an OCO exit pair."""

    symbol: str
    working: ListLeg
    pending_side: Side
    pending_quantity: Decimal
    pending_above: OcoLeg
    pending_below: OcoLeg
    list_client_order_id: ClientOrderId | None = None
    new_order_resp_type: NewOrderRespType | None = None
    self_trade_prevention_mode: SelfTradePreventionMode | None = None

    def to_params(self) -> dict[str, str]:
        out: dict[str, str] = {}
        encode_fields(self, _LIST_TOP_PLAN, out)
        encode_fields(self.working, _WORKING_PLAN, out)
        out["pendingSide"] = self.pending_side.value
        out["pendingQuantity"] = format_decimal(self.pending_quantity)
        encode_fields(self.pending_above, _PENDING_ABOVE_PLAN, out)
        encode_fields(self.pending_below, _PENDING_BELOW_PLAN, out)
        return out

    @classmethod
    def from_params(cls, params: object) -> ParseResult[SpotOtocoRequest]:
        if not isinstance(params, Mapping):
            return ParseResult(None, [not_an_object()])
        d = decode(params, _LIST_TOP, (_SYMBOL,))
        working = _leg(params, _WORKING, d)
        pending = Decoded({}, d.violations, d.bad)
        decode(params, _PENDING_TOP, _PENDING_TOP, pending)
        above = _leg(params, _PENDING_ABOVE, d)
        below = _leg(params, _PENDING_BELOW, d)
        known = (*_LIST_TOP, *_WORKING, *_PENDING_TOP, *_PENDING_ABOVE, *_PENDING_BELOW)
        unknown_params(params, [s.wire for s in known], d)
        request = None
        if (
            working is not None
            and above is not None
            and below is not None
            and "symbol" in d.values
            and {"side", "quantity"} <= pending.values.keys()
        ):
            request = cls(
                working=ListLeg(**working),  # type: ignore[arg-type]
                pending_side=pending.values["side"],
                pending_quantity=pending.values["quantity"],
                pending_above=OcoLeg(**above),  # type: ignore[arg-type]
                pending_below=OcoLeg(**below),  # type: ignore[arg-type]
                **d.values,
            )
        return ParseResult(request, d.violations, frozenset(d.bad))
