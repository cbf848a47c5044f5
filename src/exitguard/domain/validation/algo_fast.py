"""The clean-order pass of :func:`validate_algo_order`: every rule, no violation objects.

Most orders break nothing, yet the full validation builds a list per rule and names every field
before it knows that. This pass evaluates the same rules, with the symbol's filter bounds
prepared once per :class:`SymbolRules` object, and only answers "clean" or "not sure". On "not
sure" (a rule fails, a field it does not model is set, or a value cannot be compared) the full
validation runs and reports, so the violations are always the full validation's own.

Invariant, held by ``tests/test_domain_fast_validation.py``: ``algo_order_is_clean(...)`` implies the
full validation returns no violation for the same arguments.
"""

from __future__ import annotations

import re
import weakref
from dataclasses import dataclass
from decimal import Decimal

from ..dialect import Dialect
from ..enums import AlgoOrderType, PositionMode, PositionSide, Side, TimeInForce, WorkingType
from ..filters import FUTURES_ACCOUNT_ALGO_ORDER_LIMIT, LotSizeFilter, SymbolRules
from ..ids import _FUTURES_RE
from ..numbers import _WIDE
from ..requests import AlgoOrderRequest
from ..triggers import truncate_mark_price
from .common import check_good_till_date
from .context import MarketContext
from .filters import market_lot

__all__ = ["CLOSE_POSITION_TYPES", "LIMIT_ALGO", "algo_order_is_clean"]

LIMIT_ALGO = frozenset({AlgoOrderType.STOP, AlgoOrderType.TAKE_PROFIT})
CLOSE_POSITION_TYPES = frozenset({AlgoOrderType.STOP_MARKET, AlgoOrderType.TAKE_PROFIT_MARKET})
# triggers.trigger_direction: the stop family fires on a rise for BUY, take-profits on a fall.
_STOP_TYPES = frozenset({AlgoOrderType.STOP, AlgoOrderType.STOP_MARKET})
_TRAILING = AlgoOrderType.TRAILING_STOP_MARKET
_GTC, _GTD = TimeInForce.GTC, TimeInForce.GTD
_BOTH, _LONG, _SHORT = PositionSide.BOTH, PositionSide.LONG, PositionSide.SHORT
_BUY, _SELL = Side.BUY, Side.SELL
_HEDGE, _ONE_WAY = PositionMode.HEDGE, PositionMode.ONE_WAY
_MARK = WorkingType.MARK_PRICE
# The same exact arithmetic and pattern as numbers.is_multiple and ids.check_client_id.
_remainder = _WIDE.remainder
_subtract = _WIDE.subtract
_client_id_ok = _FUTURES_RE.fullmatch

# A value passes a grid when ``value > 0``, ``value >= low``, ``value <= high`` (None: no upper
# bound), and ``(value - origin) % step == 0`` (step None: no grid).
_Grid = tuple[Decimal, Decimal | None, Decimal | None, Decimal]


@dataclass(frozen=True, slots=True)
class _Plan:
    """One symbol's rules as the clean pass reads them."""

    rules: weakref.ref[SymbolRules]
    # Each accepted type mapped to itself, so a look-up also proves the type is the enum member
    # (a plain "STOP" str finds the entry but is not it). Empty unless the symbol is TRADING.
    ok_types: dict[AlgoOrderType, AlgoOrderType]
    time_in_force: frozenset[str]
    price: _Grid | None
    mark_tick: Decimal
    lots_limit: tuple[_Grid, ...]
    lots_market: tuple[_Grid, ...]
    notional_limit: tuple[Decimal | None, Decimal | None]
    notional_market: tuple[Decimal | None, Decimal | None]
    max_open_orders: int | None


_PLANS: dict[int, _Plan] = {}


def _lot_grid(lot: LotSizeFilter, rules: SymbolRules) -> _Grid:
    # check_lot: below minQty only counts when minQty > 0; value > 0 is required anyway.
    return (
        lot.min_qty,
        lot.max_qty if lot.max_qty > 0 else None,
        lot.step_size if lot.step_size > 0 else None,
        rules.qty_origin(lot),
    )


def _compile(rules: SymbolRules) -> _Plan:
    pf = rules.price_filter
    price = None
    if pf is not None:
        price = (
            pf.min_price,
            pf.max_price if pf.max_price > 0 else None,
            pf.tick_size if pf.tick_size > 0 else None,
            rules.price_origin,
        )
    lots = () if rules.lot_size is None else (_lot_grid(rules.lot_size, rules),)
    m = market_lot(rules)
    nf = rules.notional
    limit_bounds: tuple[Decimal | None, Decimal | None] = (None, None)
    market_bounds: tuple[Decimal | None, Decimal | None] = (None, None)
    if nf is not None:
        limit_bounds = (nf.min_notional, nf.max_notional)
        market_bounds = (
            nf.min_notional if nf.apply_min_to_market else None,
            nf.max_notional if nf.apply_max_to_market else None,
        )
    ok_types: dict[AlgoOrderType, AlgoOrderType] = {}
    if rules.status == "TRADING":
        ok_types = {t: t for t in AlgoOrderType if not rules.order_types or t in rules.order_types}
    key = id(rules)
    return _Plan(
        rules=weakref.ref(rules, lambda _: _PLANS.pop(key, None)),
        ok_types=ok_types,
        time_in_force=rules.time_in_force,
        price=price,
        mark_tick=pf.tick_size if pf is not None else Decimal(0),
        lots_limit=lots,
        lots_market=lots if m is None else (*lots, _lot_grid(m, rules)),
        notional_limit=limit_bounds,
        notional_market=market_bounds,
        max_open_orders=rules.max_num_orders.limit if rules.max_num_orders else None,
    )


def _plan(rules: SymbolRules) -> _Plan:
    """The prepared rules, built once per rules object (they are frozen) and dropped with it."""
    plan = _PLANS.get(id(rules))
    if plan is None or plan.rules() is not rules:
        plan = _PLANS[id(rules)] = _compile(rules)
    return plan


def _on_grid(value: Decimal, grid: _Grid) -> bool:
    low, high, step, origin = grid
    return (
        value > 0
        and value >= low
        and (high is None or value <= high)
        and (step is None or not _remainder(_subtract(value, origin), step))
    )


def algo_order_is_clean(
    req: AlgoOrderRequest, rules: SymbolRules, ctx: MarketContext, dialect: Dialect
) -> bool:
    """True only when :func:`validate_algo_order` would find nothing wrong with ``req``.

    Rule: the same rules as the full validation, in the same arithmetic; False whenever a rule
    fails or the order uses what this pass leaves to the full validation (quoteOrderQty,
    priceMatch). Never raises: anything it cannot evaluate is "not sure".
    """
    try:
        return _clean(req, _plan(rules), ctx, dialect)
    except Exception:  # e.g. a NaN compared: the full validation decides, and raises if it must
        return False


def _clean(req: AlgoOrderRequest, p: _Plan, ctx: MarketContext, dialect: Dialect) -> bool:
    t = req.type
    if p.ok_types.get(t) is not t:
        return False
    side = req.side
    ps = req.position_side
    mode = ctx.position_mode
    # check_position_side
    if mode is _HEDGE:
        if (ps is not _LONG and ps is not _SHORT) or dialect.one_way_only:
            return False
        if req.reduce_only is not None:
            return False
        if req.close_position and (
            (side is _BUY and ps is _LONG) or (side is _SELL and ps is _SHORT)
        ):
            return False
    elif ps is not None and ps is not _BOTH:
        return False

    closing = bool(req.close_position)
    if closing and (
        t not in CLOSE_POSITION_TYPES
        or req.quantity is not None
        or (req.reduce_only is not None and mode is _ONE_WAY)
    ):
        return False
    if req.quote_order_qty is not None or req.price_match is not None:
        return False
    if not closing and req.quantity is None:
        return False

    limit = t in LIMIT_ALGO
    if limit:
        if req.price is None:
            return False
    elif req.price is not None:
        return False
    trailing = t is _TRAILING
    if trailing:
        if req.trigger_price is not None or req.callback_rate is None:
            return False
    elif (
        req.trigger_price is None or req.activate_price is not None or req.callback_rate is not None
    ):
        return False
    cr = req.callback_rate
    if cr is not None and not (dialect.callback_rate_min <= cr <= dialect.callback_rate_max):
        return False

    tif = req.time_in_force
    if dialect.coerce_time_in_force_to_gtc and tif not in (None, _GTC, _GTD):
        tif = _GTC
    elif tif is not None and p.time_in_force and tif.value not in p.time_in_force:
        return False
    if (tif is _GTD or req.good_till_date is not None) and check_good_till_date(
        tif, req.good_till_date, ctx.now_ms, dialect
    ):
        return False

    if p.price is not None:
        low, high, step, origin = p.price
        for value in (req.price, req.trigger_price, req.activate_price):
            # _on_grid, inlined: up to three prices per order.
            if value is not None and not (
                value > 0
                and value >= low
                and (high is None or value <= high)
                and (step is None or not _remainder(_subtract(value, origin), step))
            ):
                return False

    if req.working_type is _MARK:
        mark = ctx.mark_price
        latest = None if mark is None else truncate_mark_price(mark, p.mark_tick)
    else:
        latest = ctx.last_price
    if limit:
        ref = req.price
    elif trailing:
        ref = req.activate_price or ctx.mark_price or latest
    else:
        ref = req.trigger_price

    qty = req.quantity
    if qty is not None:
        for lot in p.lots_limit if limit else p.lots_market:
            if not _on_grid(qty, lot):
                return False
        # quantity with closePosition was refused above; reduce-only orders are exempt.
        if not req.reduce_only and ref is not None:
            notional = qty * ref
            least, most = p.notional_limit if limit else p.notional_market
            if (least is not None and notional < least) or (most is not None and notional > most):
                return False

    # "Order would immediately trigger" (-2021), equality included.
    if latest is not None:
        buy = side is _BUY
        if trailing:
            a = req.activate_price
            if a is not None and (a >= latest if buy else a <= latest):
                return False
        else:
            trigger = req.trigger_price
            assert trigger is not None  # required above for every non-trailing type
            rising = (t in _STOP_TYPES) is buy
            if latest >= trigger if rising else latest <= trigger:
                return False

    cid = req.client_algo_id
    if cid is not None:
        pattern = dialect.client_algo_id_pattern
        if not (_client_id_ok(cid) if pattern is None else re.fullmatch(pattern, cid)):
            return False
    resp = req.new_order_resp_type
    allowed = dialect.algo_resp_types
    if resp is not None and allowed is not None and resp.value not in allowed:
        return False
    algo = ctx.open_algo_orders
    if algo is not None and algo + 1 > FUTURES_ACCOUNT_ALGO_ORDER_LIMIT:
        return False
    orders, limit_n = ctx.open_orders, p.max_open_orders
    return orders is None or limit_n is None or orders + 1 <= limit_n
