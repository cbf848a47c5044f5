"""USD-M Futures request models: regular orders (``POST /fapi/v1/order``) and algo orders
(``POST /fapi/v1/algoOrder``, ``algoType=CONDITIONAL``).

Wire names follow the USD-M New-Order and New-Algo-Order pages and the official SDK's
``new_order`` / ``new_algo_order`` parameters (``shared/reference/binance-api.md`` 1.2, 5.1):
the algo path uses ``triggerPrice`` (not ``stopPrice``), ``activatePrice`` (not
``activationPrice``) and ``clientAlgoId`` (not ``newClientOrderId``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from decimal import Decimal
from enum import StrEnum

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
from ..numbers import format_decimal
from ..violations import Violation
from ..wire import (
    Decoded,
    FieldSpec,
    Kind,
    encode_fields,
    encode_plan,
    query_text,
    unknown_params,
)
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


# init=False: __init__ below is the generated one, written out with cheaper stores.
@dataclass(frozen=True, slots=True, init=False)
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

    def __init__(
        self,
        symbol: str,
        side: Side,
        type: AlgoOrderType,
        position_side: PositionSide | None = None,
        time_in_force: TimeInForce | None = None,
        quantity: Decimal | None = None,
        quote_order_qty: Decimal | None = None,
        price: Decimal | None = None,
        trigger_price: Decimal | None = None,
        working_type: WorkingType | None = None,
        price_match: PriceMatch | None = None,
        close_position: bool | None = None,
        price_protect: bool | None = None,
        reduce_only: bool | None = None,
        activate_price: Decimal | None = None,
        callback_rate: Decimal | None = None,
        client_algo_id: ClientAlgoId | None = None,
        new_order_resp_type: NewOrderRespType | None = None,
        self_trade_prevention_mode: SelfTradePreventionMode | None = None,
        good_till_date: int | None = None,
    ) -> None:
        """Rule: the same signature, order and defaults as the generated ``__init__``."""
        # A frozen dataclass's own __init__ stores each field through object.__setattr__,
        # which looks the slot up by name every time; calling the slot descriptors' __set__
        # (the step that lookup ends in) takes about 40% less per order.
        (
            s_symbol,
            s_side,
            s_type,
            s_position_side,
            s_time_in_force,
            s_quantity,
            s_quote_order_qty,
            s_price,
            s_trigger_price,
            s_working_type,
            s_price_match,
            s_close_position,
            s_price_protect,
            s_reduce_only,
            s_activate_price,
            s_callback_rate,
            s_client_algo_id,
            s_new_order_resp_type,
            s_self_trade_prevention_mode,
            s_good_till_date,
        ) = _ALGO_SLOT_SETTERS
        s_symbol(self, symbol)
        s_side(self, side)
        s_type(self, type)
        s_position_side(self, position_side)
        s_time_in_force(self, time_in_force)
        s_quantity(self, quantity)
        s_quote_order_qty(self, quote_order_qty)
        s_price(self, price)
        s_trigger_price(self, trigger_price)
        s_working_type(self, working_type)
        s_price_match(self, price_match)
        s_close_position(self, close_position)
        s_price_protect(self, price_protect)
        s_reduce_only(self, reduce_only)
        s_activate_price(self, activate_price)
        s_callback_rate(self, callback_rate)
        s_client_algo_id(self, client_algo_id)
        s_new_order_resp_type(self, new_order_resp_type)
        s_self_trade_prevention_mode(self, self_trade_prevention_mode)
        s_good_till_date(self, good_till_date)

    def to_params(self) -> dict[str, str]:
        """The exact wire parameters, ``algoType`` first."""
        out = {"algoType": ALGO_TYPE_CONDITIONAL}
        encode_fields(self, _ALGO_FIELDS_PLAN, out)
        return out

    def to_query(self) -> str:
        """``encode_query(self.to_params())``, byte for byte, without the intermediate dict.

        Rule: the fields of ``ALGO_FIELDS`` in table order, absent ones omitted, each value
        written as ``to_params`` writes it and escaped as ``urlencode`` escapes it.
        """
        # Straight-line code instead of a loop over the table: this runs once per order sent,
        # and an absent field then costs one slot read. tests/test_domain_fast_wire.py holds
        # it equal to encode_query(to_params()) for every field.
        q = ["algoType=" + ALGO_TYPE_CONDITIONAL]
        add = q.append
        if self.symbol is not None:
            add("symbol=" + query_text(str(self.symbol)))
        if self.side is not None:
            add("side=" + _enum_q(self.side))
        if self.position_side is not None:
            add("positionSide=" + _enum_q(self.position_side))
        if self.type is not None:
            add("type=" + _enum_q(self.type))
        if self.time_in_force is not None:
            add("timeInForce=" + _enum_q(self.time_in_force))
        if self.quantity is not None:
            add("quantity=" + _decimal_q(self.quantity))
        if self.quote_order_qty is not None:
            add("quoteOrderQty=" + _decimal_q(self.quote_order_qty))
        if self.price is not None:
            add("price=" + _decimal_q(self.price))
        if self.trigger_price is not None:
            add("triggerPrice=" + _decimal_q(self.trigger_price))
        if self.working_type is not None:
            add("workingType=" + _enum_q(self.working_type))
        if self.price_match is not None:
            add("priceMatch=" + _enum_q(self.price_match))
        if self.close_position is not None:
            add("closePosition=true" if self.close_position else "closePosition=false")
        if self.price_protect is not None:
            add("priceProtect=true" if self.price_protect else "priceProtect=false")
        if self.reduce_only is not None:
            add("reduceOnly=true" if self.reduce_only else "reduceOnly=false")
        if self.activate_price is not None:
            add("activatePrice=" + _decimal_q(self.activate_price))
        if self.callback_rate is not None:
            add("callbackRate=" + _decimal_q(self.callback_rate))
        if self.client_algo_id is not None:
            add("clientAlgoId=" + query_text(str(self.client_algo_id)))
        if self.new_order_resp_type is not None:
            add("newOrderRespType=" + _enum_q(self.new_order_resp_type))
        if self.self_trade_prevention_mode is not None:
            add("selfTradePreventionMode=" + _enum_q(self.self_trade_prevention_mode))
        if self.good_till_date is not None:
            add("goodTillDate=" + str(int(self.good_till_date)))
        return "&".join(q)

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
        if dialect.unsupported_code is not None:
            _unsupported_values(d, dialect.unsupported_code)
        request = None
        if all(s.attr in d.values for s in _ALGO_REQUIRED):
            request = cls(**d.values)
        return ParseResult(request, d.violations, frozenset(d.bad))


# Binance's codes for a value outside the type / side / positionSide enums, which a dialect with
# ``unsupported_code`` (primit: -1130, seed 003) answers with its own code instead.
_ENUM_CODES = {"type": -1116, "side": -1117, "positionSide": -4060}


def _unsupported_values(d: Decoded, code: int) -> None:
    for i, v in enumerate(d.violations):
        if v.field is not None and _ENUM_CODES.get(v.field) == v.code:
            d.violations[i] = replace(v, code=code, message=f"Unsupported {v.field}: {v.message}")


# The slot descriptors' setters in field order; they bypass the frozen __setattr__ exactly as
# object.__setattr__ does in a generated frozen __init__.
_ALGO_SLOT_SETTERS: tuple[Callable[[AlgoOrderRequest, object], None], ...] = tuple(
    AlgoOrderRequest.__dict__[f.name].__set__ for f in fields(AlgoOrderRequest)
)


# Every wire enum value is letters, digits and "_", which urlencode leaves as they are.
_PLAIN_ENUM_TEXT = frozenset(
    m.value
    for e in (
        AlgoOrderType,
        NewOrderRespType,
        PositionSide,
        PriceMatch,
        SelfTradePreventionMode,
        Side,
        TimeInForce,
        WorkingType,
    )
    for m in e
    if query_text(m.value) == m.value
)


def _enum_q(value: StrEnum) -> str:
    text = value._value_  # what to_params writes (wire._enum_text)
    return text if text in _PLAIN_ENUM_TEXT else query_text(text)


def _decimal_q(value: Decimal) -> str:
    if value.__class__ is Decimal:
        # numbers.format_decimal's common case, inlined. Its text for an exact Decimal is
        # digits, "-", "." or NaN/Infinity: nothing urlencode would escape.
        text = str(value)
        if "E" not in text and text[0] != "-":
            return text
        return format_decimal(value)
    return query_text(format_decimal(value))


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
