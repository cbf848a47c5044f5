"""exitguard's pure core: numbers, filters, request models, validation, ids, trigger rules, errors.

No I/O and no asyncio here; nothing in this package imports another part of exitguard.

The names below load on first use (module ``__getattr__``, PEP 562): ``from exitguard.domain
import X`` still works for each of them, but importing one module of the package (say
``exitguard.domain.enums``) no longer builds all ~90 of its dataclasses, which cost the CLI about
0.1 s of start time whether a command used them or not.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:
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

# Where each public name lives (the module it is imported from on first use).
_HOMES: dict[str, tuple[str, ...]] = {
    "check": ("CheckResult", "OrderKind", "check_order"),
    "dialect": ("BINANCE", "PRIMIT", "Dialect", "get_dialect"),
    "enums": (
        "AlgoOrderType",
        "FuturesOrderType",
        "PositionMode",
        "PositionSide",
        "Product",
        "Side",
        "SpotOrderType",
        "TimeInForce",
        "WorkingType",
    ),
    "filters": ("ExchangeInfoError", "ExchangeRules", "SymbolRules", "parse_exchange_info"),
    "ids": ("AlgoId", "ClientAlgoId", "ClientIdGenerator", "ClientOrderId", "OrderId"),
    "numbers": ("Rounding", "format_decimal", "parse_decimal"),
    "requests": (
        "AlgoOrderRequest",
        "FuturesOrderRequest",
        "ListLeg",
        "OcoLeg",
        "SpotOcoRequest",
        "SpotOrderRequest",
        "SpotOtoRequest",
        "SpotOtocoRequest",
    ),
    "validation": ("MarketContext",),
    "violations": ("Violation",),
}
_HOME_OF = {name: module for module, names in _HOMES.items() for name in names}

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


def __getattr__(name: str) -> object:
    home = _HOME_OF.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{home}"), name)
    globals()[name] = value  # the next lookup is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
