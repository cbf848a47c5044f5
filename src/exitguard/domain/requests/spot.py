"""Spot order request (``POST /api/v3/order``), per Spot ``rest-api.md#new-order-trade``."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from ..enums import NewOrderRespType, SelfTradePreventionMode, Side, SpotOrderType, TimeInForce
from ..ids import ClientOrderId
from ..wire import FieldSpec, Kind, encode_fields, encode_plan
from ._base import ParseResult, parse_flat

__all__ = ["SPOT_ORDER_FIELDS", "SpotOrderRequest", "spot_side_spec", "spot_type_spec"]

_SYMBOL = FieldSpec("symbol", "symbol", Kind.STR)
spot_side_spec = FieldSpec("side", "side", Kind.ENUM, Side, -1117, "Invalid side.")
spot_type_spec = FieldSpec("type", "type", Kind.ENUM, SpotOrderType, -1116, "Invalid orderType.")
SPOT_ORDER_FIELDS: tuple[FieldSpec, ...] = (
    _SYMBOL,
    spot_side_spec,
    spot_type_spec,
    FieldSpec(
        "time_in_force", "timeInForce", Kind.ENUM, TimeInForce, -1115, "Invalid timeInForce."
    ),
    FieldSpec("quantity", "quantity", Kind.DECIMAL),
    FieldSpec("quote_order_qty", "quoteOrderQty", Kind.DECIMAL),
    FieldSpec("price", "price", Kind.DECIMAL),
    FieldSpec("new_client_order_id", "newClientOrderId", Kind.STR, wrap=ClientOrderId),
    FieldSpec("strategy_id", "strategyId", Kind.INT),
    FieldSpec("strategy_type", "strategyType", Kind.INT),
    FieldSpec("stop_price", "stopPrice", Kind.DECIMAL),
    FieldSpec("trailing_delta", "trailingDelta", Kind.INT),
    FieldSpec("iceberg_qty", "icebergQty", Kind.DECIMAL),
    FieldSpec("new_order_resp_type", "newOrderRespType", Kind.ENUM, NewOrderRespType),
    FieldSpec(
        "self_trade_prevention_mode",
        "selfTradePreventionMode",
        Kind.ENUM,
        SelfTradePreventionMode,
    ),
)
_SPOT_ORDER_FIELDS_PLAN = encode_plan(SPOT_ORDER_FIELDS)
_REQUIRED = (_SYMBOL, spot_side_spec, spot_type_spec)


@dataclass(frozen=True, slots=True)
class SpotOrderRequest:
    """A Spot order; stops carry ``stop_price`` and/or ``trailing_delta`` (BIPS)."""

    symbol: str
    side: Side
    type: SpotOrderType
    time_in_force: TimeInForce | None = None
    quantity: Decimal | None = None
    quote_order_qty: Decimal | None = None
    price: Decimal | None = None
    new_client_order_id: ClientOrderId | None = None
    strategy_id: int | None = None
    strategy_type: int | None = None
    stop_price: Decimal | None = None
    trailing_delta: int | None = None
    iceberg_qty: Decimal | None = None
    new_order_resp_type: NewOrderRespType | None = None
    self_trade_prevention_mode: SelfTradePreventionMode | None = None

    def to_params(self) -> dict[str, str]:
        """The exact wire parameters."""
        out: dict[str, str] = {}
        encode_fields(self, _SPOT_ORDER_FIELDS_PLAN, out)
        return out

    @classmethod
    def from_params(cls, params: object) -> ParseResult[SpotOrderRequest]:
        """Read wire parameters; never raises."""
        return parse_flat(cls, params, SPOT_ORDER_FIELDS, _REQUIRED)
