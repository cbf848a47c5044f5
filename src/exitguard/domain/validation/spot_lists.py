"""Validation of Spot order lists: OCO, OTO and OTOCO.

Sources: Spot ``rest-api.md`` (orderList/oco, /oto, /otoco), ``errors.md`` and the 2024-12-09
change that allows LIMIT_MAKER, TAKE_PROFIT or TAKE_PROFIT_LIMIT opposite STOP_LOSS or
STOP_LOSS_LIMIT (``shared/reference/binance-api.md`` 3.3, 3.4). SELL OCO: the above leg takes
profit, the below leg stops loss; BUY OCO the reverse. Prices: SELL ``tp > last > sl``, BUY
``tp < last < sl``; otherwise -2010 "The relationship of the prices for the orders is not correct."
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from itertools import pairwise

from ..enums import Product, Side, SpotOrderType
from ..filters import SymbolRules
from ..ids import check_client_id
from ..numbers import format_decimal
from ..requests import OcoLeg, SpotOcoRequest, SpotOtocoRequest, SpotOtoRequest
from ..violations import Violation
from .context import MarketContext, Names
from .spot import spot_order_counts, validate_spot_order

__all__ = ["validate_spot_oco", "validate_spot_oto", "validate_spot_otoco"]

_T = SpotOrderType
_STOP_LOSS = frozenset({_T.STOP_LOSS, _T.STOP_LOSS_LIMIT})
_TAKE_PROFIT = frozenset({_T.LIMIT_MAKER, _T.TAKE_PROFIT, _T.TAKE_PROFIT_LIMIT})

# Code and text when a leg type sits on the wrong side (errors.md -1165/-1166/-1196..-1199).
_MISPLACED = {
    (Side.BUY, "limit"): (-1165, "A limit order in a buy OCO must be below."),
    (Side.SELL, "limit"): (-1166, "A limit order in a sell OCO must be above."),
    (Side.BUY, "stop"): (-1196, "A stop loss order in a buy OCO must be above."),
    (Side.SELL, "stop"): (-1197, "A stop loss order in a sell OCO must be below."),
    (Side.BUY, "tp"): (-1198, "A take profit order in a buy OCO must be below."),
    (Side.SELL, "tp"): (-1199, "A take profit order in a sell OCO must be above."),
}


def _kind(t: SpotOrderType) -> str:
    if t in _STOP_LOSS:
        return "stop"
    return "limit" if t is _T.LIMIT_MAKER else "tp"


def _oco_pair(
    side: Side,
    quantity: Decimal,
    above: OcoLeg,
    below: OcoLeg,
    rules: SymbolRules,
    ctx: MarketContext,
    skip: Iterable[str],
    above_names: Names,
    below_names: Names,
) -> list[Violation]:
    """The OCO rules shared by ``orderList/oco`` and the pending pair of ``orderList/otoco``."""
    out: list[Violation] = []
    legs = ((above, above_names, "above"), (below, below_names, "below"))
    for leg, names, _ in legs:
        if leg.type not in _STOP_LOSS | _TAKE_PROFIT:
            out.append(
                Violation(
                    -1158,
                    names("type"),
                    "OCO.leg_type",
                    f"Order type not supported in OCO: {names('type')} {leg.type}; "
                    "legs are LIMIT_MAKER, TAKE_PROFIT(_LIMIT) or STOP_LOSS(_LIMIT).",
                )
            )
    if out:
        return out
    kinds = {_kind(above.type) == "stop", _kind(below.type) == "stop"}
    if kinds != {True, False}:
        both = "stop-loss" if True in kinds else "take-profit/limit"
        code = -1168 if both != "stop-loss" else -1158
        out.append(
            Violation(
                code,
                above_names("type"),
                "OCO.leg_pair",
                f"An OCO pairs one take-profit/limit leg with one stop-loss leg; both "
                f"legs are {both} ({above_names('type')} {above.type}, "
                f"{below_names('type')} {below.type}).",
            )
        )
    else:
        # SELL: take-profit above, stop-loss below. BUY: stop-loss above, take-profit below.
        for leg, names, where in legs:
            k = _kind(leg.type)
            wants_above = (k == "stop") == (side is Side.BUY)
            if wants_above != (where == "above"):
                code, text = _MISPLACED[(side, k)]
                out.append(
                    Violation(
                        code,
                        names("type"),
                        "OCO.leg_side",
                        f"{text} ({names('type')} is {leg.type} on a {side} OCO).",
                    )
                )
    for leg, names, _ in legs:
        for v in validate_spot_order(
            leg.as_order(rules.symbol, side, quantity),
            rules,
            ctx,
            skip,
            names,
            check_immediate_trigger=False,
            new_orders=0,
        ):
            # Both legs carry the shared quantity and side: a fault in them is reported once.
            if v not in out:
                out.append(v)
    if not out:
        out += _price_relationship(side, above, below, ctx.last_price)
    return out


def _level(leg: OcoLeg) -> Decimal | None:
    """The price a leg works at: the limit price for LIMIT_MAKER/TAKE_PROFIT_LIMIT, else stop."""
    if leg.type in (_T.LIMIT_MAKER, _T.TAKE_PROFIT_LIMIT):
        return leg.price
    return leg.stop_price


def _price_relationship(
    side: Side, above: OcoLeg, below: OcoLeg, last: Decimal | None
) -> list[Violation]:
    hi, lo = _level(above), _level(below)
    points = [p for p in (hi, last, lo) if p is not None]
    ok = all(a > b for a, b in pairwise(points))
    if ok:
        return []
    shown = " > ".join(
        f"{name} {format_decimal(p)}"
        for name, p in (("above", hi), ("last", last), ("below", lo))
        if p is not None
    )
    return [
        Violation(
            -2010,
            None,
            "OCO.price_relationship",
            "The relationship of the prices for the orders is not correct: a "
            f"{side} OCO needs {shown}.",
        )
    ]


def validate_spot_oco(
    req: SpotOcoRequest,
    rules: SymbolRules,
    ctx: MarketContext | None = None,
    skip: Iterable[str] = (),
) -> list[Violation]:
    """Every rule ``req`` breaks for ``POST /api/v3/orderList/oco``; never raises."""
    ctx = ctx or MarketContext()
    out: list[Violation] = []
    if not rules.oco_allowed:
        out.append(
            Violation(
                -2010,
                "symbol",
                "symbol.ocoAllowed",
                f"OCO orders are not supported for this symbol ({rules.symbol}).",
            )
        )
    shared = {"quantity": "quantity", "side": "side"}
    out += _oco_pair(
        req.side,
        req.quantity,
        req.above,
        req.below,
        rules,
        ctx,
        skip,
        Names("above", shared),
        Names("below", shared),
    )
    if req.list_client_order_id is not None:
        out += _list_id(req.list_client_order_id)
    out += spot_order_counts(rules, ctx, 2, _stop_legs(req.above, req.below))
    return out


def validate_spot_oto(
    req: SpotOtoRequest,
    rules: SymbolRules,
    ctx: MarketContext | None = None,
    skip: Iterable[str] = (),
) -> list[Violation]:
    """Every rule ``req`` breaks for ``POST /api/v3/orderList/oto``; never raises.

    The working order is LIMIT or LIMIT_MAKER; the pending order is placed only when it fills,
    so the pending order's immediate-trigger check is left to placement time.
    """
    ctx = ctx or MarketContext()
    out = _oto_common(req.working.type, rules)
    out += validate_spot_order(
        req.working.as_order(req.symbol), rules, ctx, skip, Names("working"), new_orders=0
    )
    out += validate_spot_order(
        req.pending.as_order(req.symbol),
        rules,
        ctx,
        skip,
        Names("pending"),
        check_immediate_trigger=False,
        new_orders=0,
    )
    if req.list_client_order_id is not None:
        out += _list_id(req.list_client_order_id)
    pending_algo = 1 if req.pending.type not in (_T.LIMIT, _T.LIMIT_MAKER, _T.MARKET) else 0
    out += spot_order_counts(rules, ctx, 2, pending_algo)
    return out


def validate_spot_otoco(
    req: SpotOtocoRequest,
    rules: SymbolRules,
    ctx: MarketContext | None = None,
    skip: Iterable[str] = (),
) -> list[Violation]:
    """Every rule ``req`` breaks for ``POST /api/v3/orderList/otoco``; never raises.

    The pending pair follows the OCO rules against the current price; it counts 3 orders.
    """
    ctx = ctx or MarketContext()
    out = _oto_common(req.working.type, rules)
    out += validate_spot_order(
        req.working.as_order(req.symbol), rules, ctx, skip, Names("working"), new_orders=0
    )
    shared = {"quantity": "pendingQuantity", "side": "pendingSide"}
    out += _oco_pair(
        req.pending_side,
        req.pending_quantity,
        req.pending_above,
        req.pending_below,
        rules,
        ctx,
        skip,
        Names("pendingAbove", shared),
        Names("pendingBelow", shared),
    )
    if req.list_client_order_id is not None:
        out += _list_id(req.list_client_order_id)
    out += spot_order_counts(rules, ctx, 3, _stop_legs(req.pending_above, req.pending_below))
    return out


def _stop_legs(*legs: OcoLeg) -> int:
    """Legs that count against MAX_NUM_ALGO_ORDERS (every type but LIMIT_MAKER)."""
    return sum(1 for leg in legs if leg.type is not _T.LIMIT_MAKER)


def _oto_common(working_type: SpotOrderType, rules: SymbolRules) -> list[Violation]:
    out: list[Violation] = []
    if not rules.oto_allowed:
        out.append(
            Violation(
                -2010,
                "symbol",
                "symbol.otoAllowed",
                f"OTO orders are not supported for this symbol ({rules.symbol}).",
            )
        )
    if working_type not in (_T.LIMIT, _T.LIMIT_MAKER):
        out.append(
            Violation(
                -1116,
                "workingType",
                "workingType.enum",
                f"Invalid orderType: workingType must be LIMIT or LIMIT_MAKER, got {working_type}.",
            )
        )
    return out


def _list_id(list_id: str) -> list[Violation]:
    v = check_client_id(list_id, Product.SPOT, "listClientOrderId")
    return [] if v is None else [v]
