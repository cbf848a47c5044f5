"""Filter checks for one value at a time, with each product's error codes as data.

Spot answers every filter failure with -1013 "Filter failure: <FILTER>" (Spot ``errors.md``).
USD-M has a code per rule (``error-code`` page): -4013/-4002/-4014 for price, -4007 for a stop
above max, -4004/-4005/-4023 for quantity, -4164 for notional, -4016/-4024 for PERCENT_PRICE.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from ..enums import Product, Side
from ..filters import LotSizeFilter, NotionalFilter, SymbolRules
from ..numbers import format_decimal, is_multiple
from ..violations import Violation

__all__ = [
    "check_lot",
    "check_notional",
    "check_percent_price",
    "check_price",
    "market_lot",
]


@dataclass(frozen=True, slots=True)
class _Rule:
    code: int
    text: str  # Binance's text


_SPOT = {
    "price.min": _Rule(-1013, "Filter failure: PRICE_FILTER"),
    "price.max": _Rule(-1013, "Filter failure: PRICE_FILTER"),
    "price.tick": _Rule(-1013, "Filter failure: PRICE_FILTER"),
    "stop.max": _Rule(-1013, "Filter failure: PRICE_FILTER"),
    "qty.min": _Rule(-1013, "Filter failure: {f}"),
    "qty.max": _Rule(-1013, "Filter failure: {f}"),
    "qty.step": _Rule(-1013, "Filter failure: {f}"),
    "notional.min": _Rule(-1013, "Filter failure: {f}"),
    "notional.max": _Rule(-1013, "Filter failure: {f}"),
    "percent.up": _Rule(-1013, "Filter failure: {f}"),
    "percent.down": _Rule(-1013, "Filter failure: {f}"),
}
_USDM = {
    "price.min": _Rule(-4013, "Price less than min price."),
    "price.max": _Rule(-4002, "Price greater than max price."),
    "price.tick": _Rule(-4014, "Price not increased by tick size."),
    "stop.max": _Rule(-4007, "Stop price greater than max price."),
    "qty.min": _Rule(-4004, "Quantity less than min quantity."),
    "qty.max": _Rule(-4005, "Quantity greater than max quantity."),
    "qty.step": _Rule(-4023, "Quantity not increased by step size."),
    "notional.min": _Rule(
        -4164, "Order's notional must be no smaller than {min} (unless you choose reduce only)."
    ),
    "notional.max": _Rule(-4164, "Order's notional is too large."),
    "percent.up": _Rule(-4016, "Price is higher than mark price multiplier cap."),
    "percent.down": _Rule(-4024, "Price is lower than mark price multiplier floor."),
}
_TABLES = {Product.SPOT: _SPOT, Product.USDM: _USDM}


def _v(
    rules: SymbolRules, key: str, field: str, rule: str, detail: str, filt: str, **fmt: str
) -> Violation:
    r = _TABLES[rules.product][key]
    head = r.text.format(f=filt, **fmt)
    return Violation(r.code, field, rule, f"{head} {field}: {detail} ({rule}).")


def check_price(
    field: str, value: Decimal, rules: SymbolRules, *, is_stop: bool = False
) -> list[Violation]:
    """PRICE_FILTER for ``price``, ``stopPrice``, ``triggerPrice`` or ``activatePrice``.

    A field of 0 in the filter disables that part (Spot ``filters.md``). Tick alignment uses the
    product's origin (futures ``minPrice``, spot zero).
    """
    pf = rules.price_filter
    if pf is None:
        return []
    out: list[Violation] = []
    if value <= 0:
        out.append(
            _v(
                rules,
                "price.min",
                field,
                "PRICE_FILTER.minPrice",
                f"{format_decimal(value)} must be > 0",
                "PRICE_FILTER",
            )
        )
    elif pf.min_price > 0 and value < pf.min_price:
        out.append(
            _v(
                rules,
                "price.min",
                field,
                "PRICE_FILTER.minPrice",
                f"{format_decimal(value)} is below minPrice {format_decimal(pf.min_price)}",
                "PRICE_FILTER",
            )
        )
    if pf.max_price > 0 and value > pf.max_price:
        out.append(
            _v(
                rules,
                "stop.max" if is_stop else "price.max",
                field,
                "PRICE_FILTER.maxPrice",
                f"{format_decimal(value)} is above maxPrice {format_decimal(pf.max_price)}",
                "PRICE_FILTER",
            )
        )
    if value > 0 and not is_multiple(value, pf.tick_size, rules.price_origin):
        grid = (
            f"minPrice {format_decimal(pf.min_price)} + k × tickSize {format_decimal(pf.tick_size)}"
            if rules.price_origin
            else f"a multiple of tickSize {format_decimal(pf.tick_size)}"
        )
        out.append(
            _v(
                rules,
                "price.tick",
                field,
                "PRICE_FILTER.tickSize",
                f"{format_decimal(value)} is not on the grid {grid}",
                "PRICE_FILTER",
            )
        )
    return out


def market_lot(rules: SymbolRules) -> LotSizeFilter | None:
    """MARKET_LOT_SIZE when it is set (all-zero means disabled on Spot), else None."""
    m = rules.market_lot_size
    if m is None or (m.step_size == 0 and m.max_qty == 0 and m.min_qty == 0):
        return None
    return m


def check_lot(field: str, value: Decimal, rules: SymbolRules, *, market: bool) -> list[Violation]:
    """LOT_SIZE, and MARKET_LOT_SIZE too when the order executes as a market order."""
    lots: list[tuple[str, LotSizeFilter]] = []
    if rules.lot_size is not None:
        lots.append(("LOT_SIZE", rules.lot_size))
    m = market_lot(rules)
    if market and m is not None:
        lots.append(("MARKET_LOT_SIZE", m))
    out: list[Violation] = []
    for name, lot in lots:
        if value <= 0 or (lot.min_qty > 0 and value < lot.min_qty):
            out.append(
                _v(
                    rules,
                    "qty.min",
                    field,
                    f"{name}.minQty",
                    f"{format_decimal(value)} is below minQty {format_decimal(lot.min_qty)}",
                    name,
                )
            )
        if lot.max_qty > 0 and value > lot.max_qty:
            out.append(
                _v(
                    rules,
                    "qty.max",
                    field,
                    f"{name}.maxQty",
                    f"{format_decimal(value)} is above maxQty {format_decimal(lot.max_qty)}",
                    name,
                )
            )
        if value > 0 and not is_multiple(value, lot.step_size, rules.qty_origin(lot)):
            out.append(
                _v(
                    rules,
                    "qty.step",
                    field,
                    f"{name}.stepSize",
                    f"{format_decimal(value)} is not a multiple of stepSize "
                    f"{format_decimal(lot.step_size)}",
                    name,
                )
            )
    return out


def check_notional(
    field: str, notional: Decimal, rules: SymbolRules, *, market: bool
) -> list[Violation]:
    """NOTIONAL / MIN_NOTIONAL: ``minNotional <= price × qty (<= maxNotional)``.

    Spot market orders are checked only where ``applyMinToMarket``/``applyToMarket`` (and
    ``applyMaxToMarket``) say so. Callers apply the USD-M reduce-only exemption.
    """
    nf: NotionalFilter | None = rules.notional
    if nf is None:
        return []
    out: list[Violation] = []
    min_applies = nf.min_notional is not None and (not market or nf.apply_min_to_market)
    if min_applies and nf.min_notional is not None and notional < nf.min_notional:
        minimum = format_decimal(nf.min_notional)
        out.append(
            _v(
                rules,
                "notional.min",
                field,
                f"{nf.filter_type}.minNotional",
                f"notional {format_decimal(notional)} is below {minimum}",
                nf.filter_type,
                min=minimum,
            )
        )
    max_applies = nf.max_notional is not None and (not market or nf.apply_max_to_market)
    if max_applies and nf.max_notional is not None and notional > nf.max_notional:
        out.append(
            _v(
                rules,
                "notional.max",
                field,
                f"{nf.filter_type}.maxNotional",
                f"notional {format_decimal(notional)} is above {format_decimal(nf.max_notional)}",
                nf.filter_type,
                min="",
            )
        )
    return out


def check_percent_price(
    field: str, price: Decimal, side: Side, reference: Decimal, rules: SymbolRules
) -> list[Violation]:
    """PERCENT_PRICE (both products) and PERCENT_PRICE_BY_SIDE (Spot) around ``reference``.

    Futures: BUY ``price <= mark × multiplierUp``, SELL ``price >= mark × multiplierDown``.
    Spot: ``ref × down <= price <= ref × up`` (by side for the BY_SIDE filter).
    """
    bounds: list[tuple[str, Decimal | None, Decimal | None]] = []
    pp = rules.percent_price
    if pp is not None:
        if rules.product is Product.USDM:
            up = pp.multiplier_up if side is Side.BUY else None
            down = pp.multiplier_down if side is Side.SELL else None
            bounds.append(("PERCENT_PRICE", up, down))
        else:
            bounds.append(("PERCENT_PRICE", pp.multiplier_up, pp.multiplier_down))
    ps = rules.percent_price_by_side
    if ps is not None:
        if side is Side.BUY:
            bounds.append(("PERCENT_PRICE_BY_SIDE", ps.bid_multiplier_up, ps.bid_multiplier_down))
        else:
            bounds.append(("PERCENT_PRICE_BY_SIDE", ps.ask_multiplier_up, ps.ask_multiplier_down))
    out: list[Violation] = []
    shown, ref = format_decimal(price), format_decimal(reference)
    for name, up, down in bounds:
        if up is not None and up > 0 and price > reference * up:
            out.append(
                _v(
                    rules,
                    "percent.up",
                    field,
                    f"{name}.multiplierUp",
                    f"{shown} is above {ref} × {format_decimal(up)}",
                    name,
                )
            )
        if down is not None and down > 0 and price < reference * down:
            out.append(
                _v(
                    rules,
                    "percent.down",
                    field,
                    f"{name}.multiplierDown",
                    f"{shown} is below {ref} × {format_decimal(down)}",
                    name,
                )
            )
    return out
