"""USD-M Futures request models: regular orders (``POST /fapi/v1/order``) and algo orders
(``POST /fapi/v1/algoOrder``, ``algoType=CONDITIONAL``).

Wire names follow the USD-M New-Order and New-Algo-Order pages and the official SDK's
``new_order`` / ``new_algo_order`` parameters (``shared/reference/binance-api.md`` 1.2, 5.1):
the algo path uses ``triggerPrice`` (not ``stopPrice``), ``activatePrice`` (not
``activationPrice``) and ``clientAlgoId`` (not ``newClientOrderId``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from ..dialect import BINANCE, Dialect
from ..enums import (
    AlgoOrderType,
    FuturesOrderType,
    NewOrderRespType,
    PositionSide,
    PriceMatch,
    SelfTradePreventionMode,
    Side,
    TimeInForce,
    WorkingType,
)
from ..ids import ClientAlgoId, ClientOrderId
from ..violations import Violation
from ..wire import Decoded, FieldSpec, Kind, encode_fields, encode_plan, unknown_params
from ._base import ParseResult, decode, mandatory_missing, not_an_object, parse_flat

__all__ = ["ALGO_FIELDS", "FUTURES_ORDER_FIELDS", "AlgoOrderRequest", "FuturesOrderRequest"]

ALGO_TYPE_CONDITIONAL = "CONDITIONAL"

_SYMBOL = FieldSpec("symbol", "symbol", Kind.STR)
_SIDE = FieldSpec("side", "side", Kind.ENUM, Side, -1117, "Invalid side.")
_POSITION_SIDE = FieldSpec(
    "position_side", "positionSide", Kind.ENUM, PositionSide, -4060, "Invalid position side."
)
_TIF = FieldSpec(
    "time_in_force", "timeInForce", Kind.ENUM, TimeInForce, -1115, "Invalid timeInForce."
)
_QTY = FieldSpec("quantity", "quantity", Kind.DECIMAL)
_PRICE = FieldSpec("price", "price", Kind.DECIMAL)
_WORKING = FieldSpec("working_type", "workingType", Kind.ENUM, WorkingType)
_PRICE_MATCH = FieldSpec("price_match", "priceMatch", Kind.ENUM, PriceMatch)
_CLOSE = FieldSpec("close_position", "closePosition", Kind.BOOL)
_PROTECT = FieldSpec("price_protect", "priceProtect", Kind.BOOL)
_REDUCE = FieldSpec("reduce_only", "reduceOnly", Kind.BOOL)
_CALLBACK = FieldSpec("callback_rate", "callbackRate", Kind.DECIMAL)
_RESP = FieldSpec("new_order_resp_type", "newOrderRespType", Kind.ENUM, NewOrderRespType)
_STP = FieldSpec(
    "self_trade_prevention_mode", "selfTradePreventionMode", Kind.ENUM, SelfTradePreventionMode
)
_GTD = FieldSpec("good_till_date", "goodTillDate", Kind.INT)

_ALGO_TYPE_SPEC = FieldSpec("type", "type", Kind.ENUM, AlgoOrderType, -1116, "Invalid orderType.")
ALGO_FIELDS: tuple[FieldSpec, ...] = (
    _SYMBOL,
    _SIDE,
    _POSITION_SIDE,
    _ALGO_TYPE_SPEC,
    _TIF,
    _QTY,
    FieldSpec("quote_order_qty", "quoteOrderQty", Kind.DECIMAL),
    _PRICE,
    FieldSpec("trigger_price", "triggerPrice", Kind.DECIMAL),
    _WORKING,
    _PRICE_MATCH,
    _CLOSE,
    _PROTECT,
    _REDUCE,
    FieldSpec("activate_price", "activatePrice", Kind.DECIMAL),
    _CALLBACK,
    FieldSpec("client_algo_id", "clientAlgoId", Kind.STR, wrap=ClientAlgoId),
    _RESP,
    _STP,
    _GTD,
)
_ALGO_FIELDS_PLAN = encode_plan(ALGO_FIELDS)
_ALGO_REQUIRED = (_SYMBOL, _SIDE, _ALGO_TYPE_SPEC)


@dataclass(frozen=True, slots=True)
class AlgoOrderRequest:
    """A USD-M conditional order for ``POST /fapi/v1/algoOrder``; ``algoType`` is always
    ``CONDITIONAL`` (the only value the Algo Service accepts)."""

    symbol: str
    side: Side
    type: AlgoOrderType
    position_side: PositionSide | None = None
    time_in_force: TimeInForce | None = None
    quantity: Decimal | None = None
    quote_order_qty: Decimal | None = None  # primit dialect only
    price: Decimal | None = None
    trigger_price: Decimal | None = None
    working_type: WorkingType | None = None
    price_match: PriceMatch | None = None
    close_position: bool | None = None
    price_protect: bool | None = None
    reduce_only: bool | None = None
    activate_price: Decimal | None = None
    callback_rate: Decimal | None = None
    client_algo_id: ClientAlgoId | None = None
    new_order_resp_type: NewOrderRespType | None = None
    self_trade_prevention_mode: SelfTradePreventionMode | None = None
    good_till_date: int | None = None

    def to_params(self) -> dict[str, str]:
        """The exact wire parameters, ``algoType`` first."""
        out = {"algoType": ALGO_TYPE_CONDITIONAL}
        encode_fields(self, _ALGO_FIELDS_PLAN, out)
        return out

    @classmethod
    def from_params(
        cls, params: object, dialect: Dialect = BINANCE
    ) -> ParseResult[AlgoOrderRequest]:
        """Read wire parameters; never raises. ``stopPrice`` is read as ``triggerPrice`` where the
        dialect allows the alias (primit)."""
        if not isinstance(params, Mapping):
            return ParseResult(None, [not_an_object()])
        d = decode(params, ALGO_FIELDS, _ALGO_REQUIRED)
        known = [s.wire for s in ALGO_FIELDS] + ["algoType"]
        _read_algo_type(params, dialect, d)
        if dialect.stop_price_alias and "stopPrice" in params:
            known.append("stopPrice")
            _read_stop_price_alias(params, d)
        unknown_params(params, known, d)
        request = None
        if all(s.attr in d.values for s in _ALGO_REQUIRED):
            request = cls(**d.values)
        return ParseResult(request, d.violations, frozenset(d.bad))


def _read_algo_type(params: Mapping[str, object], dialect: Dialect, d: Decoded) -> None:
    raw = params.get("algoType")
    if raw is None or raw == "":
        if dialect.algo_type_required:
            d.violations.append(mandatory_missing("algoType"))
        return
    if raw != ALGO_TYPE_CONDITIONAL:
        d.bad.add("algoType")
        d.violations.append(
            Violation(
                -1100,
                "algoType",
                "algoType.enum",
                f"Invalid algoType {raw!r}: the only value accepted is {ALGO_TYPE_CONDITIONAL}.",
            )
        )


def _read_stop_price_alias(params: Mapping[str, object], d: Decoded) -> None:
    alias = FieldSpec("trigger_price", "stopPrice", Kind.DECIMAL)
    before = d.values.get("trigger_price")
    probe = Decoded({}, d.violations, d.bad)
    decode(params, (alias,), (), probe)
    value = probe.values.get("trigger_price")
    if value is None:
        return
    if before is not None and before != value:
        d.violations.append(
            Violation(
                -1106,
                "stopPrice",
                "stopPrice.alias",
                f"stopPrice {value} is an alias of triggerPrice {before}: "
                "send one, or equal values.",
            )
        )
        return
    d.values["trigger_price"] = value


_FUTURES_TYPE_SPEC = FieldSpec(
    "type", "type", Kind.ENUM, FuturesOrderType, -1116, "Invalid orderType."
)
FUTURES_ORDER_FIELDS: tuple[FieldSpec, ...] = (
    _SYMBOL,
    _SIDE,
    _POSITION_SIDE,
    _FUTURES_TYPE_SPEC,
    _TIF,
    _QTY,
    _REDUCE,
    _PRICE,
    FieldSpec("new_client_order_id", "newClientOrderId", Kind.STR, wrap=ClientOrderId),
    # Legacy conditional fields: Binance answers -4120 for conditional types on this endpoint
    # since 2025-12-09; the primit dialect still accepts them here.
    FieldSpec("stop_price", "stopPrice", Kind.DECIMAL),
    _CLOSE,
    FieldSpec("activation_price", "activationPrice", Kind.DECIMAL),
    _CALLBACK,
    _WORKING,
    _PROTECT,
    _RESP,
    _PRICE_MATCH,
    _STP,
    _GTD,
)
_FUTURES_ORDER_FIELDS_PLAN = encode_plan(FUTURES_ORDER_FIELDS)
_FUTURES_REQUIRED = (_SYMBOL, _SIDE, _FUTURES_TYPE_SPEC)


@dataclass(frozen=True, slots=True)
class FuturesOrderRequest:
    """A regular USD-M order for ``POST /fapi/v1/order`` (exits use LIMIT/MARKET + reduceOnly)."""

    symbol: str
    side: Side
    type: FuturesOrderType
    position_side: PositionSide | None = None
    time_in_force: TimeInForce | None = None
    quantity: Decimal | None = None
    reduce_only: bool | None = None
    price: Decimal | None = None
    new_client_order_id: ClientOrderId | None = None
    stop_price: Decimal | None = None
    close_position: bool | None = None
    activation_price: Decimal | None = None
    callback_rate: Decimal | None = None
    working_type: WorkingType | None = None
    price_protect: bool | None = None
    new_order_resp_type: NewOrderRespType | None = None
    price_match: PriceMatch | None = None
    self_trade_prevention_mode: SelfTradePreventionMode | None = None
    good_till_date: int | None = None

    def to_params(self) -> dict[str, str]:
        """The exact wire parameters."""
        out: dict[str, str] = {}
        encode_fields(self, _FUTURES_ORDER_FIELDS_PLAN, out)
        return out

    @classmethod
    def from_params(cls, params: object) -> ParseResult[FuturesOrderRequest]:
        """Read wire parameters; never raises."""
        return parse_flat(cls, params, FUTURES_ORDER_FIELDS, _FUTURES_REQUIRED)
