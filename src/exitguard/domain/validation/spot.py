"""Validation of Spot orders (``POST /api/v3/order``).

Sources: Spot ``rest-api.md#new-order-trade`` (mandatory parameters per type), ``filters.md``,
``errors.md``, ``faqs/trailing-stop-faq.md`` (``shared/reference/binance-api.md`` 3.1, 3.2, 3.5,
3.7; ``trigger-semantics.md`` 2b).
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from ..enums import Product, Side, SpotOrderType, TimeInForce
from ..filters import SymbolRules
from ..ids import check_client_id
from ..numbers import format_decimal
from ..requests import SpotOrderRequest
from ..requests.spot import SPOT_ORDER_FIELDS
from ..triggers import condition_holds, trigger_direction
from ..violations import Violation
from .common import non_finite_numbers, not_required, over_limit
from .context import PLAIN, MarketContext, Names
from .filters import check_lot, check_notional, check_percent_price, check_price

__all__ = ["STOP_TYPES", "validate_spot_order"]

_T = SpotOrderType
STOP_TYPES = frozenset({_T.STOP_LOSS, _T.STOP_LOSS_LIMIT, _T.TAKE_PROFIT, _T.TAKE_PROFIT_LIMIT})
_LIMIT_PRICED = frozenset({_T.LIMIT, _T.LIMIT_MAKER, _T.STOP_LOSS_LIMIT, _T.TAKE_PROFIT_LIMIT})
_WITH_TIF = frozenset({_T.LIMIT, _T.STOP_LOSS_LIMIT, _T.TAKE_PROFIT_LIMIT})
# STOP_LOSS and TAKE_PROFIT place a MARKET order on trigger. Binance does not say whether
# MARKET_LOT_SIZE is checked at placement or at trigger; exitguard checks at placement, because
# a stop refused at trigger time is the worst outcome for a protective exit.
_EXECUTES_AS_MARKET = frozenset({_T.MARKET, _T.STOP_LOSS, _T.TAKE_PROFIT})
_SPOT_TIF = frozenset({TimeInForce.GTC, TimeInForce.IOC, TimeInForce.FOK})


def trailing_bound_side(order_type: SpotOrderType, side: Side) -> str:
    """Which TRAILING_DELTA bounds apply: "Above" for STOP_LOSS* BUY and TAKE_PROFIT* SELL,
    "Below" for STOP_LOSS* SELL and TAKE_PROFIT* BUY (Spot ``filters.md#trailing_delta``)."""
    is_stop = order_type in (_T.STOP_LOSS, _T.STOP_LOSS_LIMIT)
    return "Above" if (side is Side.BUY) == is_stop else "Below"


def validate_spot_order(
    req: SpotOrderRequest,
    rules: SymbolRules,
    ctx: MarketContext | None = None,
    skip: Iterable[str] = (),
    names: Names = PLAIN,
    *,
    check_immediate_trigger: bool = True,
    new_orders: int = 1,
) -> list[Violation]:
    """Every rule ``req`` breaks for ``POST /api/v3/order``; never raises.

    ``names`` renames fields for order-list legs (``price`` → ``abovePrice``); a list turns off
    the per-order immediate-trigger check (it checks the price relationship instead) and counts
    itself against MAX_NUM_ORDERS with ``new_orders=0``.
    """
    unusable = non_finite_numbers(req, SPOT_ORDER_FIELDS, names)
    if unusable:
        return unusable
    ctx = ctx or MarketContext()
    n = names
    skip = frozenset(skip)
    t = req.type
    out: list[Violation] = []

    if rules.status != "TRADING":
        out.append(
            Violation(
                -2010,
                "symbol",
                "symbol.status",
                f"Market is closed: {rules.symbol} is {rules.status}, not TRADING.",
            )
        )
    if rules.order_types and t.value not in rules.order_types:
        what = {"STOP_LOSS": "Stop loss", "TAKE_PROFIT": "Take profit"}.get(
            t.value.removesuffix("_LIMIT"), t.value
        )
        out.append(
            Violation(
                -2010,
                n("type"),
                "type.symbol",
                f"{what} orders are not supported for this symbol ({rules.symbol}: "
                f"{t} is not in orderTypes).",
            )
        )

    # Mandatory and not-required parameters per type (rest-api.md table).
    def need(wire: str, value: object) -> None:
        if value is None and n(wire) not in skip:
            out.append(
                Violation(
                    -1102,
                    n(wire),
                    f"{n(wire)}.mandatory",
                    f"Mandatory parameter '{n(wire)}' was not sent, was empty/null, "
                    f"or malformed: {t} needs it.",
                )
            )

    if t is _T.MARKET:
        if (
            req.quantity is None
            and req.quote_order_qty is None
            and not {n("quantity"), "quoteOrderQty"} & skip
        ):
            out.append(
                Violation(
                    -1102,
                    n("quantity"),
                    "quantity.mandatory",
                    f"Param '{n('quantity')}' or 'quoteOrderQty' must be sent, but both "
                    "were empty/null!",
                )
            )
        if req.quantity is not None and req.quote_order_qty is not None:
            out.append(not_required("quoteOrderQty", "send quantity or quoteOrderQty, not both"))
    else:
        need("quantity", req.quantity)
        if req.quote_order_qty is not None:
            out.append(not_required("quoteOrderQty", "only MARKET orders take quoteOrderQty"))
    if t in _LIMIT_PRICED:
        need("price", req.price)
    elif req.price is not None:
        out.append(not_required(n("price"), f"{t} executes as a market order"))
    if t in _WITH_TIF:
        need("timeInForce", req.time_in_force)
    elif req.time_in_force is not None:
        out.append(not_required(n("timeInForce"), f"{t} takes no timeInForce"))
    if req.time_in_force is not None and req.time_in_force not in _SPOT_TIF:
        out.append(
            Violation(
                -1115,
                n("timeInForce"),
                "timeInForce.enum",
                f"Invalid timeInForce: spot accepts GTC, IOC, FOK; got {req.time_in_force}.",
            )
        )
    if t in STOP_TYPES:
        if (
            req.stop_price is None
            and req.trailing_delta is None
            and not {n("stopPrice"), n("trailingDelta")} & skip
        ):
            out.append(
                Violation(
                    -1102,
                    n("stopPrice"),
                    "stopPrice.mandatory",
                    f"Param '{n('stopPrice')}' or '{n('trailingDelta')}' must be sent, "
                    "but both were empty/null!",
                )
            )
    else:
        for wire, value in (("stopPrice", req.stop_price), ("trailingDelta", req.trailing_delta)):
            if value is not None:
                out.append(not_required(n(wire), f"{t} has no trigger"))
    if req.iceberg_qty is not None and req.time_in_force not in (None, TimeInForce.GTC):
        out.append(
            Violation(
                -2010,
                n("icebergQty"),
                "icebergQty.time_in_force",
                "Iceberg orders need timeInForce GTC.",
            )
        )

    # Trailing delta (BIPS): allowed for the symbol and inside TRAILING_DELTA bounds.
    if req.trailing_delta is not None and t in STOP_TYPES:
        out += _trailing(req, rules, n)

    # Filters.
    if req.price is not None:
        out += check_price(n("price"), req.price, rules)
        if ctx.last_price is not None:
            out += check_percent_price(n("price"), req.price, req.side, ctx.last_price, rules)
    if req.stop_price is not None:
        out += check_price(n("stopPrice"), req.stop_price, rules, is_stop=True)
    market_exec = t in _EXECUTES_AS_MARKET
    if req.quantity is not None:
        out += check_lot(n("quantity"), req.quantity, rules, market=market_exec)
        # Notional: the limit price; for market-executing orders the average (≈ last) price,
        # else the stop price as the best estimate of where it will execute.
        ref = req.price if not market_exec else (ctx.last_price or req.stop_price)
        if ref is not None:
            out += check_notional(n("quantity"), req.quantity * ref, rules, market=market_exec)
    elif req.quote_order_qty is not None:
        out += check_notional("quoteOrderQty", req.quote_order_qty, rules, market=True)
    if req.iceberg_qty is not None:
        out += check_lot(n("icebergQty"), req.iceberg_qty, rules, market=False)

    # "Order would trigger immediately." (-2010): equality included.
    if check_immediate_trigger and t in STOP_TYPES and ctx.last_price is not None:
        out += immediate_trigger(req, ctx.last_price, n)

    if req.new_client_order_id is not None:
        v = check_client_id(req.new_client_order_id, Product.SPOT, n("newClientOrderId"))
        if v is not None:
            out.append(v)
    if new_orders:
        out += spot_order_counts(rules, ctx, new_orders, new_orders if t in STOP_TYPES else 0)
    return out


def spot_order_counts(
    rules: SymbolRules, ctx: MarketContext, new_orders: int, new_algo: int
) -> list[Violation]:
    """MAX_NUM_ORDERS (an OCO adds 2, an OTOCO 3) and MAX_NUM_ALGO_ORDERS (stop types)."""
    out: list[Violation] = []
    mno, mna = rules.max_num_orders, rules.max_num_algo_orders
    out += over_limit(
        -1013,
        "MAX_NUM_ORDERS.maxNumOrders",
        "Filter failure: MAX_NUM_ORDERS",
        ctx.open_orders,
        new_orders,
        mno.limit if mno else None,
    )
    if new_algo:
        out += over_limit(
            -1013,
            "MAX_NUM_ALGO_ORDERS.maxNumAlgoOrders",
            "Filter failure: MAX_NUM_ALGO_ORDERS",
            ctx.open_algo_orders,
            new_algo,
            mna.limit if mna else None,
        )
    return out


def immediate_trigger(req: SpotOrderRequest, last: Decimal, n: Names) -> list[Violation]:
    """-2010 when the stop condition already holds against the last trade (equality fires).

    A trailing order without stopPrice starts tracking at once and never triggers on placement.
    """
    if req.stop_price is None:
        return []
    direction = trigger_direction(req.type.value, req.side)
    if not condition_holds(direction, last, req.stop_price):
        return []
    where = "below" if direction.value == "falling" else "above"
    return [
        Violation(
            -2010,
            n("stopPrice"),
            "stopPrice.immediate_trigger",
            f"Order would trigger immediately: {req.side} {req.type} stopPrice "
            f"{format_decimal(req.stop_price)} must be {where} the last price "
            f"{format_decimal(last)}.",
        )
    ]


def _trailing(req: SpotOrderRequest, rules: SymbolRules, n: Names) -> list[Violation]:
    delta = req.trailing_delta
    assert delta is not None
    if not rules.allow_trailing_stop:
        return [
            Violation(
                -2010,
                n("trailingDelta"),
                "trailingDelta.symbol",
                f"Trailing stop orders are not supported for this symbol ({rules.symbol}).",
            )
        ]
    td = rules.trailing_delta
    if delta <= 0:
        return [
            Violation(
                -1013,
                n("trailingDelta"),
                "TRAILING_DELTA.min",
                f"Filter failure: TRAILING_DELTA {n('trailingDelta')}: {delta} BIPS must "
                "be positive (TRAILING_DELTA).",
            )
        ]
    if td is None:
        return []
    which = trailing_bound_side(req.type, req.side)
    lo, hi = (
        (td.min_trailing_above_delta, td.max_trailing_above_delta)
        if which == "Above"
        else (td.min_trailing_below_delta, td.max_trailing_below_delta)
    )
    if lo <= delta <= hi:
        return []
    return [
        Violation(
            -1013,
            n("trailingDelta"),
            f"TRAILING_DELTA.{which.lower()}",
            f"Filter failure: TRAILING_DELTA {n('trailingDelta')}: {delta} BIPS is "
            f"outside [{lo}, {hi}] (min/maxTrailing{which}Delta for {req.side} {req.type}).",
        )
    ]
