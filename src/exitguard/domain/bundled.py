"""The exchangeInfo bundled with exitguard (``fixtures/exchange_info/{usdm,spot}.json``), parsed
once per process: the offline rules that charts, tables and ``check-order`` read ticks, steps and
quote assets from when no venue is asked."""

from __future__ import annotations

import json
from decimal import Decimal
from functools import lru_cache
from importlib.resources import files

from .enums import Product
from .filters import ExchangeRules, SymbolRules, parse_exchange_info

__all__ = ["bundled_rules", "bundled_symbol"]


@lru_cache(maxsize=2)
def bundled_rules(product: Product) -> ExchangeRules:
    raw = (files("exitguard") / "fixtures" / "exchange_info" / f"{product.value}.json").read_bytes()
    return parse_exchange_info(json.loads(raw, parse_float=Decimal))


def bundled_symbol(symbol: str, product: Product | None = None) -> SymbolRules | None:
    """``symbol``'s bundled rules (of ``product``, else of the first product listing it)."""
    for p in (product,) if product is not None else (Product.USDM, Product.SPOT):
        rules = bundled_rules(p).get(symbol)
        if rules is not None:
            return rules
    return None
