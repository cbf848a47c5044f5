"""Validation of USD-M regular orders and algo (conditional) orders.

Sources: USD-M New-Order and New-Algo-Order pages, Change-Position-Mode, error-code page and the
derivatives change log (``shared/reference/binance-api.md`` 1.1, 1.2, 1.12, 2.2, 2.3) and seed 001
(fixture cases: explicit TAKE_PROFIT valid, closePosition STOP_MARKET valid, TAKE_PROFIT_LIMIT
refused, closePosition mixed with quantity/reduceOnly refused).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from decimal import ROUND_FLOOR, Decimal

from ..dialect import BINANCE, Dialect
from ..enums import (
    ALGO_ORDER_TYPES,
    AlgoOrderType,
    FuturesOrderType,
    PositionMode,
    PositionSide,
    Product,
    Side,
    TimeInForce,
    WorkingType,
)
from ..filters import FUTURES_ACCOUNT_ALGO_ORDER_LIMIT, SymbolRules
from ..ids import check_client_id
from ..numbers import format_decimal
from ..requests import AlgoOrderRequest, FuturesOrderRequest
from ..requests.usdm import ALGO_FIELDS, FUTURES_ORDER_FIELDS
from ..triggers import condition_holds, trigger_direction, truncate_mark_price
from ..violations import Violation
from .algo_fast import CLOSE_POSITION_TYPES, LIMIT_ALGO, algo_order_is_clean
from .common import check_good_till_date, non_finite_numbers, not_required, over_limit
from .context import PLAIN, MarketContext, Names
from .filters import check_lot, check_notional, check_percent_price, check_price

__all__ = ["validate_algo_order", "validate_futures_order"]

_LIMIT_ALGO = LIMIT_ALGO
_CLOSE_POSITION_TYPES = CLOSE_POSITION_TYPES
_STOP_TYPES = frozenset({AlgoOrderType.STOP, AlgoOrderType.STOP_MARKET})
_NAMES_LEGACY = Names(overrides={"triggerPrice": "stopPrice", "activatePrice": "activationPrice"})


def _mandatory(field: str, why: str) -> Violation:
    return Violation(
        -1102,
        field,
        f"{field}.mandatory",
        f"Mandatory parameter '{field}' was not sent, was empty/null, or malformed: {why}.",
    )


def check_position_side(
    side: Side,
    position_side: PositionSide | None,
    reduce_only: bool | None,
    close_position: bool | None,
    mode: PositionMode,
    dialect: Dialect,
) -> list[Violation]:
    """Position-mode rules (Change-Position-Mode, New-Order pages).

    Hedge mode: ``positionSide`` LONG/SHORT must be sent, ``reduceOnly`` must not be sent, and a
    closePosition order may not be BUY+LONG or SELL+SHORT. One-way mode: only BOTH. The primit
    dialect is one-way only and answers anything but BOTH with -1130 (seed 003).
    """
    out: list[Violation] = []
    ps = position_side
    if dialect.one_way_only and ps not in (None, PositionSide.BOTH):
        return [
            Violation(
                -1130,
                "positionSide",
                "positionSide.one_way_only",
                f"Invalid data sent for a parameter: positionSide {ps} is not supported; "
                f"{dialect.name} is one-way mode only (BOTH).",
            )
        ]
    if mode is PositionMode.HEDGE:
        if ps in (None, PositionSide.BOTH):
            out.append(
                Violation(
                    -4061,
                    "positionSide",
                    "positionSide.hedge_mode",
                    "Order's position side does not match user's setting: hedge mode needs "
                    f"positionSide LONG or SHORT, got {ps or 'none'}.",
                )
            )
        if reduce_only is not None:
            out.append(not_required("reduceOnly", "reduceOnly cannot be sent in hedge mode"))
        if close_position and (
            (side is Side.BUY and ps is PositionSide.LONG)
            or (side is Side.SELL and ps is PositionSide.SHORT)
        ):
            # UNKNOWN which code Binance uses; -4061 (position side mismatch) chosen, tested.
            out.append(
                Violation(
                    -4061,
                    "closePosition",
                    "closePosition.hedge_side",
                    f"closePosition cannot be used for {side} with positionSide {ps} in hedge "
                    "mode: it would not close that position.",
                )
            )
    elif ps in (PositionSide.LONG, PositionSide.SHORT):
        out.append(
            Violation(
                -4061,
                "positionSide",
                "positionSide.one_way_mode",
                f"Order's position side does not match user's setting: positionSide {ps} "
                "needs hedge mode; one-way mode uses BOTH.",
            )
        )
    return out


def _latest_price(
    working_type: WorkingType | None, ctx: MarketContext, rules: SymbolRules
) -> Decimal | None:
    """The price a trigger compares with: the last trade by default (CONTRACT_PRICE), else the
    mark price truncated down to the tick."""
    if working_type is WorkingType.MARK_PRICE:
        if ctx.mark_price is None:
            return None
        tick = rules.price_filter.tick_size if rules.price_filter else Decimal(0)
        return truncate_mark_price(ctx.mark_price, tick)
    return ctx.last_price


def validate_algo_order(
    req: AlgoOrderRequest,
    rules: SymbolRules,
    ctx: MarketContext | None = None,
    dialect: Dialect = BINANCE,
    skip: Iterable[str] = (),
    names: Names = PLAIN,
) -> list[Violation]:
    """Every rule ``req`` breaks for ``POST /fapi/v1/algoOrder``; never raises.

    ``skip`` holds wire names already reported as malformed, so they are not reported twice.
    """
    ctx = ctx or MarketContext()
    # Orders that break nothing skip building the violation list (same rules, see algo_fast).
    if algo_order_is_clean(req, rules, ctx, dialect):
        return []
    unusable = non_finite_numbers(req, ALGO_FIELDS, str if names is PLAIN else names)
    if unusable:
        return unusable
    return _all_algo_violations(req, rules, ctx, dialect, skip, names)


def _all_algo_violations(
    req: AlgoOrderRequest,
    rules: SymbolRules,
    ctx: MarketContext,
    dialect: Dialect,
    skip: Iterable[str],
    names: Names,
) -> list[Violation]:
    """The rules of :func:`validate_algo_order`, each one reported."""
    n: Callable[[str], str] = str if names is PLAIN else names  # str(name) is name, in C
    out: list[Violation] = []
    t = req.type
    closing = bool(req.close_position)
    out += _symbol_state(req.type, rules, dialect.unsupported_code or -1116)
    out += check_position_side(
        req.side, req.position_side, req.reduce_only, req.close_position, ctx.position_mode, dialect
    )

    # closePosition: only STOP_MARKET / TAKE_PROFIT_MARKET; never with quantity or reduceOnly.
    if closing:
        if t not in _CLOSE_POSITION_TYPES:
            out.append(
                not_required(
                    n("closePosition"),
                    "closePosition is only valid for STOP_MARKET and TAKE_PROFIT_MARKET",
                )
            )
        if req.quantity is not None:
            code = -4137 if dialect.name == "binance" else -1106
            out.append(
                Violation(
                    code,
                    n("quantity"),
                    "closePosition.quantity",
                    "Quantity must be zero with closePosition equals true: omit "
                    "quantity when closePosition=true.",
                )
            )
        if req.reduce_only is not None and ctx.position_mode is PositionMode.ONE_WAY:
            out.append(
                not_required(
                    n("reduceOnly"), "closePosition=true cannot be combined with reduceOnly"
                )
            )
        if req.quote_order_qty is not None:
            out.append(
                not_required(
                    n("quoteOrderQty"), "quoteOrderQty cannot be combined with closePosition"
                )
            )

    # Size: quantity, or (primit) quoteOrderQty, unless closePosition.
    if req.quote_order_qty is not None:
        if not dialect.quote_order_qty:
            out.append(
                not_required(
                    n("quoteOrderQty"), f"the {dialect.name} algo endpoint sizes by quantity"
                )
            )
        elif req.quantity is not None:
            out.append(
                not_required(
                    n("quoteOrderQty"), "quoteOrderQty and quantity are mutually exclusive"
                )
            )
    if (
        not closing
        and req.quantity is None
        and req.quote_order_qty is None
        and n("quantity") not in skip
    ):
        why = "required unless closePosition=true"
        if dialect.quote_order_qty:
            why += " or quoteOrderQty is sent"
        out.append(_mandatory(n("quantity"), why))

    # Fields per type.
    if t in _LIMIT_ALGO:
        if req.price is None and req.price_match is None and n("price") not in skip:
            out.append(_mandatory(n("price"), f"{t} is a limit order after it triggers"))
    else:
        if req.price is not None:
            out.append(not_required(n("price"), f"{t} executes as a market order"))
        if req.price_match is not None:
            out.append(
                not_required(n("priceMatch"), "priceMatch applies to STOP and TAKE_PROFIT only")
            )
    if req.price is not None and req.price_match is not None:
        out.append(not_required(n("priceMatch"), "priceMatch cannot be combined with price"))
    if t is AlgoOrderType.TRAILING_STOP_MARKET:
        if req.trigger_price is not None:
            out.append(
                not_required(
                    n("triggerPrice"), "a trailing stop uses activatePrice and callbackRate"
                )
            )
        if req.callback_rate is None and n("callbackRate") not in skip:
            out.append(_mandatory(n("callbackRate"), "TRAILING_STOP_MARKET needs it"))
    else:
        if req.trigger_price is None and n("triggerPrice") not in skip:
            out.append(_mandatory(n("triggerPrice"), f"{t} needs a trigger price"))
        if req.activate_price is not None:
            out.append(
                not_required(n("activatePrice"), "activatePrice is for TRAILING_STOP_MARKET only")
            )
        if req.callback_rate is not None:
            out.append(
                not_required(n("callbackRate"), "callbackRate is for TRAILING_STOP_MARKET only")
            )
    if req.callback_rate is not None and not (
        dialect.callback_rate_min <= req.callback_rate <= dialect.callback_rate_max
    ):
        out.append(
            Violation(
                dialect.callback_rate_code,
                n("callbackRate"),
                "callbackRate.range",
                f"Invalid callBack rate: callbackRate {format_decimal(req.callback_rate)} "
                f"must be within [{dialect.callback_rate_min}, "
                f"{dialect.callback_rate_max}] percent ({dialect.name}).",
            )
        )

    # timeInForce and goodTillDate.
    tif = req.time_in_force
    if dialect.coerce_time_in_force_to_gtc and tif not in (None, TimeInForce.GTC, TimeInForce.GTD):
        tif = TimeInForce.GTC
    elif tif is not None and rules.time_in_force and tif.value not in rules.time_in_force:
        out.append(
            Violation(
                -1115,
                n("timeInForce"),
                "timeInForce.enum",
                f"Invalid timeInForce: {tif} is not offered for {rules.symbol} "
                f"(allowed: {', '.join(sorted(rules.time_in_force))}).",
            )
        )
    out += check_good_till_date(tif, req.good_till_date, ctx.now_ms, dialect, n("goodTillDate"))

    # Filters, with the reduce-only / closePosition exemption from MIN_NOTIONAL (-4164 text).
    for wire, value in (
        ("price", req.price),
        ("triggerPrice", req.trigger_price),
        ("activatePrice", req.activate_price),
    ):
        if value is not None:
            out += check_price(n(wire), value, rules, is_stop=wire != "price")
    market_exec = t not in _LIMIT_ALGO
    latest = _latest_price(req.working_type, ctx, rules)
    ref_price = _reference_price(req, latest, ctx)
    if req.quantity is not None:
        out += check_lot(n("quantity"), req.quantity, rules, market=market_exec)
        if not closing and not req.reduce_only and ref_price is not None:
            out += check_notional(
                n("quantity"), req.quantity * ref_price, rules, market=market_exec
            )
    elif req.quote_order_qty is not None and dialect.quote_order_qty and ref_price is not None:
        out += _quote_qty_lot(n("quoteOrderQty"), req.quote_order_qty, ref_price, rules)

    # "Order would immediately trigger." (-2021) against the latest price, equality included.
    if latest is not None:
        out += _immediate_trigger(req, latest, n)

    if req.client_algo_id is not None:
        v = _check_client_algo_id(req.client_algo_id, dialect, n("clientAlgoId"))
        if v is not None:
            out.append(v)
    resp = req.new_order_resp_type
    allowed = dialect.algo_resp_types
    if resp is not None and allowed is not None and resp.value not in allowed:
        out.append(
            Violation(
                dialect.unsupported_code or -1100,
                n("newOrderRespType"),
                "newOrderRespType.enum",
                f"Invalid data sent for a parameter: newOrderRespType {resp} is not "
                f"supported by {dialect.name} "
                f"(allowed: {', '.join(sorted(allowed))}).",
            )
        )
    out += over_limit(
        dialect.algo_limit_code,
        "ALGO_ORDERS.account_limit",
        "Reach max stop order limit:",
        ctx.open_algo_orders,
        1,
        FUTURES_ACCOUNT_ALGO_ORDER_LIMIT,
    )
    out += _max_open_orders(rules, ctx)
    return out


def _check_client_algo_id(value: str, dialect: Dialect, field: str) -> Violation | None:
    """Binance's id rule (ids.check_client_id), or the dialect's own pattern (primit: seed 003,
    ``[A-Za-z0-9_.-]``, no ``:`` or ``/``)."""
    pattern = dialect.client_algo_id_pattern
    if pattern is None:
        return check_client_id(value, Product.USDM, field)
    if re.fullmatch(pattern, value):
        return None
    return Violation(
        dialect.client_algo_id_code,
        field,
        "CLIENT_ID.format",
        f"Client order id is not valid: {field} must match {pattern} for {dialect.name} "
        f"(1-36 characters from letters, digits and . _ -); got {len(value)} characters.",
    )


def _max_open_orders(rules: SymbolRules, ctx: MarketContext) -> list[Violation]:
    """MAX_NUM_ORDERS per symbol; algo and regular orders both count (exchangeInfo docs)."""
    mno = rules.max_num_orders
    return over_limit(
        -2025,
        "MAX_NUM_ORDERS.limit",
        "Reach max open order limit:",
        ctx.open_orders,
        1,
        mno.limit if mno else None,
    )


def _symbol_state(order_type: str, rules: SymbolRules, type_code: int = -1116) -> list[Violation]:
    out: list[Violation] = []
    if rules.status != "TRADING":
        out.append(
            Violation(
                -1122,
                "symbol",
                "symbol.status",
                f"Invalid symbol status: {rules.symbol} is {rules.status}, not TRADING.",
            )
        )
    if rules.order_types and order_type not in rules.order_types:
        out.append(
            Violation(
                type_code,
                "type",
                "type.symbol",
                f"Invalid orderType: {order_type} is not offered for {rules.symbol}.",
            )
        )
    return out


def _reference_price(
    req: AlgoOrderRequest, latest: Decimal | None, ctx: MarketContext
) -> Decimal | None:
    """Price that sizes notional: the limit price, the trigger, or (trailing) the activation or
    the mark/latest price — the same reference primit converts quoteOrderQty at (seed 003)."""
    if req.type in _LIMIT_ALGO:
        return req.price
    if req.type is AlgoOrderType.TRAILING_STOP_MARKET:
        return req.activate_price or ctx.mark_price or latest
    return req.trigger_price


def _quote_qty_lot(
    field: str, quote_qty: Decimal, price: Decimal, rules: SymbolRules
) -> list[Violation]:
    """primit: quoteOrderQty converts at the reference price and floors to the lot; below one lot
    it is refused with -1013 "Filter failure: LOT_SIZE" (seed 003)."""
    lot = rules.lot_size
    if lot is None or price <= 0:
        return []
    base = quote_qty / price
    if lot.step_size > 0:
        base = (base / lot.step_size).to_integral_value(rounding=ROUND_FLOOR) * lot.step_size
    if base <= 0 or base < lot.min_qty:
        return [
            Violation(
                -1013,
                field,
                "LOT_SIZE.minQty",
                f"Filter failure: LOT_SIZE {field}: {format_decimal(quote_qty)} at "
                f"{format_decimal(price)} is {format_decimal(base)}, below minQty "
                f"{format_decimal(lot.min_qty)} (LOT_SIZE.minQty).",
            )
        ]
    return []


def _immediate_trigger(
    req: AlgoOrderRequest, latest: Decimal, n: Callable[[str], str]
) -> list[Violation]:
    source = "mark" if req.working_type is WorkingType.MARK_PRICE else "last"
    if req.type is AlgoOrderType.TRAILING_STOP_MARKET:
        a = req.activate_price
        if a is None:
            return []
        # BUY activatePrice must be below the latest price, SELL above (New-Algo-Order page).
        wrong = a >= latest if req.side is Side.BUY else a <= latest
        if not wrong:
            return []
        must = "below" if req.side is Side.BUY else "above"
        return [
            Violation(
                -2021,
                n("activatePrice"),
                "activatePrice.immediate_trigger",
                f"Order would immediately trigger: {req.side} activatePrice "
                f"{format_decimal(a)} must be {must} the {source} price "
                f"{format_decimal(latest)}.",
            )
        ]
    trig = req.trigger_price
    if trig is None:
        return []
    direction = trigger_direction(req.type.value, req.side)
    if not condition_holds(direction, latest, trig):
        return []
    op = ">=" if direction.value == "rising" else "<="
    return [
        Violation(
            -2021,
            n("triggerPrice"),
            "triggerPrice.immediate_trigger",
            f"Order would immediately trigger: {req.side} {req.type} fires when the "
            f"{source} price {op} triggerPrice {format_decimal(trig)}, and it is "
            f"{format_decimal(latest)} now.",
        )
    ]


def validate_futures_order(
    req: FuturesOrderRequest,
    rules: SymbolRules,
    ctx: MarketContext | None = None,
    dialect: Dialect = BINANCE,
    skip: Iterable[str] = (),
) -> list[Violation]:
    """Every rule ``req`` breaks for ``POST /fapi/v1/order``; never raises.

    Since 2025-12-09 Binance refuses the five conditional types here with -4120
    STOP_ORDER_SWITCH_ALGO (change log 2025-11-06). The primit dialect still accepts them; they are
    then checked with the algo rules under their legacy names (stopPrice, activationPrice).
    """
    ctx = ctx or MarketContext()
    unusable = non_finite_numbers(req, FUTURES_ORDER_FIELDS)
    if unusable:
        return unusable
    if req.type.value in ALGO_ORDER_TYPES:
        if not dialect.conditional_types_on_order_endpoint:
            return [
                Violation(
                    -4120,
                    "type",
                    "type.algo_only",
                    # Binance's exact text (change log 2025-11-06): the venue answers with it.
                    "Order type not supported for this endpoint. "
                    "Please use the Algo Order API endpoints instead.",
                )
            ]
        as_algo = AlgoOrderRequest(
            symbol=req.symbol,
            side=req.side,
            type=AlgoOrderType(req.type.value),
            position_side=req.position_side,
            time_in_force=req.time_in_force,
            quantity=req.quantity,
            price=req.price,
            trigger_price=req.stop_price,
            working_type=req.working_type,
            price_match=req.price_match,
            close_position=req.close_position,
            price_protect=req.price_protect,
            reduce_only=req.reduce_only,
            activate_price=req.activation_price,
            callback_rate=req.callback_rate,
            good_till_date=req.good_till_date,
        )
        out = validate_algo_order(as_algo, rules, ctx, dialect, skip, _NAMES_LEGACY)
        return out + _client_order_id(req)

    out = _symbol_state(req.type.value, rules)
    out += check_position_side(
        req.side, req.position_side, req.reduce_only, req.close_position, ctx.position_mode, dialect
    )
    for wire, value in (
        ("stopPrice", req.stop_price),
        ("closePosition", req.close_position),
        ("activationPrice", req.activation_price),
        ("callbackRate", req.callback_rate),
        ("workingType", req.working_type),
        ("priceProtect", req.price_protect),
    ):
        if value is not None:
            out.append(not_required(wire, f"{req.type} orders have no trigger"))
    is_limit = req.type is FuturesOrderType.LIMIT
    if req.quantity is None and "quantity" not in skip:
        out.append(_mandatory("quantity", f"{req.type} needs it"))
    if is_limit:
        if req.price is None and req.price_match is None and "price" not in skip:
            out.append(_mandatory("price", "LIMIT needs it"))
        if req.time_in_force is None and "timeInForce" not in skip:
            out.append(_mandatory("timeInForce", "LIMIT needs it"))
        if req.price is not None and req.price_match is not None:
            out.append(not_required("priceMatch", "priceMatch cannot be combined with price"))
    else:
        if req.price is not None:
            out.append(not_required("price", "MARKET orders take no price"))
        if req.price_match is not None:
            out.append(not_required("priceMatch", "MARKET orders take no priceMatch"))
    tif = req.time_in_force
    if tif is not None and rules.time_in_force and tif.value not in rules.time_in_force:
        out.append(
            Violation(
                -1115,
                "timeInForce",
                "timeInForce.enum",
                f"Invalid timeInForce: {tif} is not offered for {rules.symbol}.",
            )
        )
    out += check_good_till_date(tif, req.good_till_date, ctx.now_ms, dialect)

    if req.price is not None:
        out += check_price("price", req.price, rules)
        if ctx.mark_price is not None:
            out += check_percent_price("price", req.price, req.side, ctx.mark_price, rules)
    if req.quantity is not None:
        out += check_lot("quantity", req.quantity, rules, market=not is_limit)
        ref = req.price if is_limit else ctx.mark_price  # MARKET notional uses the mark price
        if not req.reduce_only and ref is not None:
            out += check_notional("quantity", req.quantity * ref, rules, market=not is_limit)
    out += _client_order_id(req)
    out += _max_open_orders(rules, ctx)
    return out


def _client_order_id(req: FuturesOrderRequest) -> list[Violation]:
    if req.new_client_order_id is None:
        return []
    v = check_client_id(req.new_client_order_id, Product.USDM, "newClientOrderId")
    return [] if v is None else [v]
