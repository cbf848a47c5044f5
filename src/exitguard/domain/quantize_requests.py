"""Quantising whole exit requests onto a symbol's grid, each field with the rounding its role needs.

Quantities floor (an exit never sells more than held). Triggers round so the exit fires no later
than asked (:func:`exit_trigger_rounding`); limit prices round to be no worse than asked
(:func:`exit_limit_rounding`). Each change is reported so a user sees what moved and why.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar

from .enums import Side
from .filters import SymbolRules
from .numbers import Rounding, format_decimal
from .quantize import (
    exit_limit_rounding,
    exit_trigger_rounding,
    quantize_price,
    quantize_quantity,
)
from .requests.usdm import AlgoOrderRequest, FuturesOrderRequest

if TYPE_CHECKING:
    from .requests.spot_lists import ListLeg

__all__ = ["Adjustment", "quantize_request"]

R = TypeVar("R")

_STOPS = frozenset({"STOP", "STOP_MARKET", "STOP_LOSS", "STOP_LOSS_LIMIT"})
_MARKET_EXEC = frozenset(
    {
        "MARKET",
        "STOP_MARKET",
        "TAKE_PROFIT_MARKET",
        "TRAILING_STOP_MARKET",
        "STOP_LOSS",
        "TAKE_PROFIT",
    }
)


@dataclass(frozen=True, slots=True)
class Adjustment:
    """One field moved onto the grid: wire name, value before, value after, rounding used."""

    field: str
    before: Decimal
    after: Decimal
    rounding: Rounding

    def describe(self) -> str:
        return (
            f"{self.field}: {format_decimal(self.before)} → {format_decimal(self.after)} "
            f"(rounded {self.rounding.value})"
        )


class _Quantiser:
    def __init__(self, rules: SymbolRules) -> None:
        self.rules = rules
        self.changes: list[Adjustment] = []

    def _note(self, field: str, before: Decimal, after: Decimal, rounding: Rounding) -> Decimal:
        if after != before:
            self.changes.append(Adjustment(field, before, after, rounding))
        return after

    def price(self, field: str, value: Decimal | None, rounding: Rounding) -> Decimal | None:
        if value is None:
            return None
        return self._note(field, value, quantize_price(value, self.rules, rounding), rounding)

    def qty(self, field: str, value: Decimal | None, market: bool) -> Any:
        if value is None:
            return None
        after = quantize_quantity(value, self.rules, Rounding.DOWN, market=market)
        return self._note(field, value, after, Rounding.DOWN)

    def order_prices(self, obj: R, side: Side, type_: str, prefix: str = "") -> R:
        """Round ``price``, ``stopPrice``/``triggerPrice`` and ``activatePrice`` of one order."""
        changes: dict[str, Any] = {}

        def name(wire: str) -> str:
            return prefix + wire[0].upper() + wire[1:] if prefix else wire

        for attr, wire, rounding in (
            ("price", "price", exit_limit_rounding(side)),
            ("stop_price", "stopPrice", exit_trigger_rounding(side, is_stop=type_ in _STOPS)),
            ("trigger_price", "triggerPrice", exit_trigger_rounding(side, is_stop=type_ in _STOPS)),
            # A trailing activation fires like a take-profit (on the favourable move).
            ("activate_price", "activatePrice", exit_trigger_rounding(side, is_stop=False)),
        ):
            if hasattr(obj, attr):
                changes[attr] = self.price(name(wire), getattr(obj, attr), rounding)
        return replace(obj, **changes)  # type: ignore[type-var]


def quantize_request(req: R, rules: SymbolRules) -> tuple[R, list[Adjustment]]:
    """``req`` with every price and quantity on ``rules``' grids, and the list of changes made.

    Values already on the grid are untouched; a quantity that floors below ``minQty`` is left for
    validation to report rather than silently raised.
    """
    q = _Quantiser(rules)
    out: Any = req
    if isinstance(req, AlgoOrderRequest | FuturesOrderRequest):
        return _single_order(q, req), q.changes
    # A Spot request's models are loaded already (``req`` is one of them): importing them only
    # here keeps a USD-M order from building the Spot models (exitguard.domain docstring).
    from .requests.spot import SpotOrderRequest

    if isinstance(req, SpotOrderRequest):
        return _single_order(q, req), q.changes
    from .requests.spot_lists import SpotOcoRequest, SpotOtocoRequest, SpotOtoRequest

    if isinstance(req, SpotOcoRequest):
        out = replace(
            req,
            quantity=q.qty("quantity", req.quantity, False),
            above=q.order_prices(req.above, req.side, req.above.type.value, "above"),
            below=q.order_prices(req.below, req.side, req.below.type.value, "below"),
        )
    elif isinstance(req, SpotOtoRequest):
        out = replace(
            req,
            working=_list_leg(q, req.working, "working"),
            pending=_list_leg(q, req.pending, "pending"),
        )
    elif isinstance(req, SpotOtocoRequest):
        side = req.pending_side
        out = replace(
            req,
            working=_list_leg(q, req.working, "working"),
            pending_quantity=q.qty("pendingQuantity", req.pending_quantity, False),
            pending_above=q.order_prices(
                req.pending_above, side, req.pending_above.type.value, "pendingAbove"
            ),
            pending_below=q.order_prices(
                req.pending_below, side, req.pending_below.type.value, "pendingBelow"
            ),
        )
    return out, q.changes


def _single_order(q: _Quantiser, req: Any) -> Any:
    t = req.type.value
    out = q.order_prices(req, req.side, t)
    return replace(out, quantity=q.qty("quantity", req.quantity, t in _MARKET_EXEC))


def _list_leg(q: _Quantiser, leg: ListLeg, prefix: str) -> ListLeg:
    moved = q.order_prices(leg, leg.side, leg.type.value, prefix)
    return replace(
        moved, quantity=q.qty(prefix + "Quantity", leg.quantity, leg.type.value in _MARKET_EXEC)
    )
