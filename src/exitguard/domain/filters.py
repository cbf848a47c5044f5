"""Exchange filters and symbol rules parsed from real ``exchangeInfo`` JSON (Spot and USD-M).

Sources: Spot ``filters.md`` and USD-M ``Exchange-Information`` / ``common-definition`` pages
(``shared/reference/binance-api.md`` sections 2.2 and 3.5). The two products spell some fields
differently (futures ``notional``/``limit``, spot ``minNotional``/``maxNumOrders``) and use
different grid formulas: futures ``(price - minPrice) % tickSize``, spot ``price % tickSize``
(since 2022-02-24; quantities since 2023-03-13). Unknown filters are kept and ignored.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType

from .enums import Product
from .numbers import parse_decimal

__all__ = [
    "FUTURES_ACCOUNT_ALGO_ORDER_LIMIT",
    "ExchangeInfoError",
    "ExchangeRules",
    "LotSizeFilter",
    "MaxNumFilter",
    "NotionalFilter",
    "PercentPriceBySideFilter",
    "PercentPriceFilter",
    "PriceFilter",
    "SymbolRules",
    "TrailingDeltaFilter",
    "UnknownFilter",
    "detect_product",
    "parse_exchange_info",
]

# [FUT-CL] 2025-12-29: MAX_NUM_ALGO_ORDERS left exchangeInfo; "The conditional order limit is 200
# across all symbols."
FUTURES_ACCOUNT_ALGO_ORDER_LIMIT = 200


class ExchangeInfoError(ValueError):
    """exchangeInfo JSON that cannot be trusted; the message names the path and the rule."""

    def __init__(self, path: str, rule: str) -> None:
        super().__init__(f"exchangeInfo {path}: {rule}")
        self.path = path
        self.rule = rule


@dataclass(frozen=True, slots=True)
class PriceFilter:
    min_price: Decimal
    max_price: Decimal
    tick_size: Decimal


@dataclass(frozen=True, slots=True)
class LotSizeFilter:
    min_qty: Decimal
    max_qty: Decimal
    step_size: Decimal


@dataclass(frozen=True, slots=True)
class NotionalFilter:
    """Spot ``NOTIONAL`` and ``MIN_NOTIONAL``, futures ``MIN_NOTIONAL`` (field ``notional``)."""

    filter_type: str
    min_notional: Decimal | None
    max_notional: Decimal | None
    apply_min_to_market: bool
    apply_max_to_market: bool
    avg_price_mins: int | None


@dataclass(frozen=True, slots=True)
class PercentPriceFilter:
    multiplier_up: Decimal
    multiplier_down: Decimal
    multiplier_decimal: int | None
    avg_price_mins: int | None


@dataclass(frozen=True, slots=True)
class PercentPriceBySideFilter:
    bid_multiplier_up: Decimal
    bid_multiplier_down: Decimal
    ask_multiplier_up: Decimal
    ask_multiplier_down: Decimal
    avg_price_mins: int | None


@dataclass(frozen=True, slots=True)
class TrailingDeltaFilter:
    min_trailing_above_delta: int
    max_trailing_above_delta: int
    min_trailing_below_delta: int
    max_trailing_below_delta: int


@dataclass(frozen=True, slots=True)
class MaxNumFilter:
    """``MAX_NUM_ORDERS`` / ``MAX_NUM_ALGO_ORDERS`` (spot ``maxNum*``, futures ``limit``)."""

    filter_type: str
    limit: int


@dataclass(frozen=True, slots=True)
class UnknownFilter:
    """A filter exitguard does not know; kept so it can be shown, never enforced."""

    filter_type: str
    raw: Mapping[str, object]

    def __reduce__(self) -> tuple[object, ...]:
        # A read-only view cannot be pickled; rules cross process boundaries (sweep workers).
        return (_unknown_filter, (self.filter_type, dict(self.raw)))


def _unknown_filter(filter_type: str, raw: dict[str, object]) -> UnknownFilter:
    return UnknownFilter(filter_type, MappingProxyType(raw))


# weakref_slot: validation keeps prepared bounds per rules object and drops them with it.
@dataclass(frozen=True, slots=True, weakref_slot=True)
class SymbolRules:
    """Everything validation and quantisation need to know about one symbol."""

    product: Product
    symbol: str
    status: str
    base_asset: str
    quote_asset: str
    price_filter: PriceFilter | None = None
    lot_size: LotSizeFilter | None = None
    market_lot_size: LotSizeFilter | None = None
    notional: NotionalFilter | None = None
    percent_price: PercentPriceFilter | None = None
    percent_price_by_side: PercentPriceBySideFilter | None = None
    trailing_delta: TrailingDeltaFilter | None = None
    max_num_orders: MaxNumFilter | None = None
    max_num_algo_orders: MaxNumFilter | None = None
    order_types: frozenset[str] = frozenset()
    time_in_force: frozenset[str] = frozenset()
    trigger_protect: Decimal | None = None
    allow_trailing_stop: bool = True
    oco_allowed: bool = True
    oto_allowed: bool = True
    quote_order_qty_market_allowed: bool = True
    unknown_filters: tuple[UnknownFilter, ...] = ()

    @property
    def price_origin(self) -> Decimal:
        """Where the price grid starts: futures ``minPrice``, spot zero."""
        if self.product is Product.USDM and self.price_filter is not None:
            return self.price_filter.min_price
        return Decimal(0)

    def qty_origin(self, lot: LotSizeFilter) -> Decimal:
        """Where a quantity grid starts: futures ``minQty``, spot zero."""
        return lot.min_qty if self.product is Product.USDM else Decimal(0)


@dataclass(frozen=True, slots=True)
class ExchangeRules:
    product: Product
    symbols: Mapping[str, SymbolRules]
    account_algo_order_limit: int | None = None
    exchange_filters: tuple[UnknownFilter, ...] = field(default=())

    def get(self, symbol: str) -> SymbolRules | None:
        return self.symbols.get(symbol)

    def __reduce__(self) -> tuple[object, ...]:
        # As for UnknownFilter: the symbol table is a read-only view, rebuilt on load.
        return (
            _exchange_rules,
            (
                self.product,
                dict(self.symbols),
                self.account_algo_order_limit,
                self.exchange_filters,
            ),
        )


def _exchange_rules(
    product: Product,
    symbols: dict[str, SymbolRules],
    limit: int | None,
    exchange_filters: tuple[UnknownFilter, ...],
) -> ExchangeRules:
    return ExchangeRules(product, MappingProxyType(symbols), limit, exchange_filters)


def detect_product(doc: Mapping[str, object]) -> Product:
    """USD-M exchangeInfo carries ``futuresType``/``assets`` or ``contractType`` per symbol."""
    if "futuresType" in doc or "assets" in doc:
        return Product.USDM
    symbols = doc.get("symbols")
    first = symbols[0] if isinstance(symbols, list) and symbols else None
    if isinstance(first, Mapping) and "contractType" in first:
        return Product.USDM
    return Product.SPOT


def parse_exchange_info(doc: object, product: Product | None = None) -> ExchangeRules:
    """Parse ``GET /api/v3/exchangeInfo`` or ``GET /fapi/v1/exchangeInfo`` into rules.

    Raises :class:`ExchangeInfoError` naming the path when a *known* filter is malformed;
    unknown filters and unknown symbol fields are kept or ignored, never an error.
    """
    if not isinstance(doc, Mapping):
        raise ExchangeInfoError("$", "must be a JSON object")
    prod = product or detect_product(doc)
    raw_symbols = doc.get("symbols")
    if not isinstance(raw_symbols, list):
        raise ExchangeInfoError("$.symbols", "must be a list")
    symbols: dict[str, SymbolRules] = {}
    for i, raw in enumerate(raw_symbols):
        rules = _parse_symbol(raw, prod, f"$.symbols[{i}]")
        symbols[rules.symbol] = rules
    exchange_filters = tuple(
        UnknownFilter(str(f.get("filterType")), MappingProxyType(dict(f)))
        for f in _seq(doc.get("exchangeFilters"), "$.exchangeFilters")
        if isinstance(f, Mapping)
    )
    algo_limit = FUTURES_ACCOUNT_ALGO_ORDER_LIMIT if prod is Product.USDM else None
    return ExchangeRules(prod, MappingProxyType(symbols), algo_limit, exchange_filters)


def _parse_symbol(raw: object, product: Product, path: str) -> SymbolRules:
    if not isinstance(raw, Mapping):
        raise ExchangeInfoError(path, "must be an object")
    symbol = raw.get("symbol")
    if not isinstance(symbol, str) or not symbol:
        raise ExchangeInfoError(f"{path}.symbol", "must be a non-empty string")
    values: dict[str, object] = {}
    unknown: list[UnknownFilter] = []
    for j, f in enumerate(_seq(raw.get("filters"), f"{path}.filters")):
        fpath = f"{path}.filters[{j}]"
        if not isinstance(f, Mapping):
            raise ExchangeInfoError(fpath, "must be an object")
        ftype = f.get("filterType")
        parser = _FILTER_PARSERS.get(ftype) if isinstance(ftype, str) else None
        if parser is None:
            unknown.append(UnknownFilter(str(ftype), MappingProxyType(dict(f))))
            continue
        attr, value = parser(_Reader(f, f"{fpath}({ftype})"), product)
        values[attr] = value
    trigger_protect = None
    if raw.get("triggerProtect") is not None:
        trigger_protect = _Reader(raw, path).dec("triggerProtect")
    return SymbolRules(
        product=product,
        symbol=symbol,
        status=str(raw.get("status", "TRADING")),
        base_asset=str(raw.get("baseAsset", "")),
        quote_asset=str(raw.get("quoteAsset", "")),
        order_types=frozenset(str(t) for t in _seq(raw.get("orderTypes"), f"{path}.orderTypes")),
        time_in_force=frozenset(
            str(t) for t in _seq(raw.get("timeInForce"), f"{path}.timeInForce")
        ),
        trigger_protect=trigger_protect,
        allow_trailing_stop=bool(raw.get("allowTrailingStop", True)),
        oco_allowed=bool(raw.get("ocoAllowed", True)),
        oto_allowed=bool(raw.get("otoAllowed", True)),
        quote_order_qty_market_allowed=bool(raw.get("quoteOrderQtyMarketAllowed", True)),
        unknown_filters=tuple(unknown),
        **values,  # type: ignore[arg-type]
    )


def _seq(value: object, path: str) -> Sequence[object]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise ExchangeInfoError(path, "must be a list")
    return value


class _Reader:
    def __init__(self, raw: Mapping[str, object], path: str) -> None:
        self.raw = raw
        self.path = path

    def dec(self, key: str) -> Decimal:
        d = parse_decimal(self.raw.get(key))
        if d is None or d < 0:
            raise ExchangeInfoError(f"{self.path}.{key}", "must be a non-negative decimal string")
        return d

    def opt_dec(self, key: str) -> Decimal | None:
        return None if self.raw.get(key) is None else self.dec(key)

    def int_(self, key: str) -> int:
        value = self.raw.get(key)
        if isinstance(value, bool):
            value = None
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            value = int(value)
        if not isinstance(value, int):
            raise ExchangeInfoError(f"{self.path}.{key}", "must be an integer (number or string)")
        return value

    def opt_int(self, key: str) -> int | None:
        return None if self.raw.get(key) is None else self.int_(key)

    def flag(self, key: str, default: bool) -> bool:
        value = self.raw.get(key, default)
        if not isinstance(value, bool):
            raise ExchangeInfoError(f"{self.path}.{key}", "must be true or false")
        return value


def _price(r: _Reader, _: Product) -> tuple[str, object]:
    return "price_filter", PriceFilter(r.dec("minPrice"), r.dec("maxPrice"), r.dec("tickSize"))


def _lot(r: _Reader, _: Product) -> tuple[str, object]:
    return "lot_size", LotSizeFilter(r.dec("minQty"), r.dec("maxQty"), r.dec("stepSize"))


def _market_lot(r: _Reader, _: Product) -> tuple[str, object]:
    return "market_lot_size", LotSizeFilter(r.dec("minQty"), r.dec("maxQty"), r.dec("stepSize"))


def _min_notional(r: _Reader, product: Product) -> tuple[str, object]:
    if product is Product.USDM:  # futures spells the field ``notional``; MARKET uses the mark
        minimum = r.dec("notional")
        return "notional", NotionalFilter("MIN_NOTIONAL", minimum, None, True, False, None)
    return "notional", NotionalFilter(
        "MIN_NOTIONAL",
        r.dec("minNotional"),
        None,
        r.flag("applyToMarket", True),
        False,
        r.opt_int("avgPriceMins"),
    )


def _notional(r: _Reader, _: Product) -> tuple[str, object]:
    max_notional = r.opt_dec("maxNotional")
    return "notional", NotionalFilter(
        "NOTIONAL",
        r.opt_dec("minNotional"),
        max_notional if max_notional else None,
        r.flag("applyMinToMarket", True),
        r.flag("applyMaxToMarket", False),
        r.opt_int("avgPriceMins"),
    )


def _percent(r: _Reader, _: Product) -> tuple[str, object]:
    return "percent_price", PercentPriceFilter(
        r.dec("multiplierUp"),
        r.dec("multiplierDown"),
        r.opt_int("multiplierDecimal"),
        r.opt_int("avgPriceMins"),
    )


def _percent_by_side(r: _Reader, _: Product) -> tuple[str, object]:
    return "percent_price_by_side", PercentPriceBySideFilter(
        r.dec("bidMultiplierUp"),
        r.dec("bidMultiplierDown"),
        r.dec("askMultiplierUp"),
        r.dec("askMultiplierDown"),
        r.opt_int("avgPriceMins"),
    )


def _trailing(r: _Reader, _: Product) -> tuple[str, object]:
    return "trailing_delta", TrailingDeltaFilter(
        r.int_("minTrailingAboveDelta"),
        r.int_("maxTrailingAboveDelta"),
        r.int_("minTrailingBelowDelta"),
        r.int_("maxTrailingBelowDelta"),
    )


def _max_orders(r: _Reader, product: Product) -> tuple[str, object]:
    key = "limit" if product is Product.USDM else "maxNumOrders"
    return "max_num_orders", MaxNumFilter("MAX_NUM_ORDERS", r.int_(key))


def _max_algo(r: _Reader, product: Product) -> tuple[str, object]:
    key = "limit" if product is Product.USDM else "maxNumAlgoOrders"
    return "max_num_algo_orders", MaxNumFilter("MAX_NUM_ALGO_ORDERS", r.int_(key))


_FILTER_PARSERS = {
    "PRICE_FILTER": _price,
    "LOT_SIZE": _lot,
    "MARKET_LOT_SIZE": _market_lot,
    "MIN_NOTIONAL": _min_notional,
    "NOTIONAL": _notional,
    "PERCENT_PRICE": _percent,
    "PERCENT_PRICE_BY_SIDE": _percent_by_side,
    "TRAILING_DELTA": _trailing,
    "MAX_NUM_ORDERS": _max_orders,
    "MAX_NUM_ALGO_ORDERS": _max_algo,
}
