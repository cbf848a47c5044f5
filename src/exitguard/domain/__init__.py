"""exitguard's pure core: numbers, filters, request models, validation, ids, trigger rules, errors.

No I/O and no asyncio here; nothing in this package imports another part of exitguard.
"""

from .check import CheckResult, OrderKind, check_order
from .dialect import BINANCE, PRIMIT, Dialect, get_dialect
from .enums import (
    AlgoOrderType,
    FuturesOrderType,
    PositionMode,
    PositionSide,
    Product,
    Side,
    SpotOrderType,
    TimeInForce,
    WorkingType,
)
from .filters import ExchangeInfoError, ExchangeRules, SymbolRules, parse_exchange_info
from .ids import AlgoId, ClientAlgoId, ClientIdGenerator, ClientOrderId, OrderId
from .numbers import Rounding, format_decimal, parse_decimal
from .requests import (
    AlgoOrderRequest,
    FuturesOrderRequest,
    ListLeg,
    OcoLeg,
    SpotOcoRequest,
    SpotOrderRequest,
    SpotOtocoRequest,
    SpotOtoRequest,
)
from .validation import MarketContext
from .violations import Violation

__all__ = [
    "BINANCE",
    "PRIMIT",
    "AlgoId",
    "AlgoOrderRequest",
    "AlgoOrderType",
    "CheckResult",
    "ClientAlgoId",
    "ClientIdGenerator",
    "ClientOrderId",
    "Dialect",
    "ExchangeInfoError",
    "ExchangeRules",
    "FuturesOrderRequest",
    "FuturesOrderType",
    "ListLeg",
    "MarketContext",
    "OcoLeg",
    "OrderId",
    "OrderKind",
    "PositionMode",
    "PositionSide",
    "Product",
    "Rounding",
    "Side",
    "SpotOcoRequest",
    "SpotOrderRequest",
    "SpotOrderType",
    "SpotOtoRequest",
    "SpotOtocoRequest",
    "SymbolRules",
    "TimeInForce",
    "Violation",
    "WorkingType",
    "check_order",
    "format_decimal",
    "get_dialect",
    "parse_decimal",
    "parse_exchange_info",
]
