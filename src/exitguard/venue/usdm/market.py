"""Per-symbol market state of the USD-M venue: prices, the synthetic book and the trigger books."""

from __future__ import annotations

from decimal import ROUND_FLOOR, Decimal

from exitguard.domain.filters import SymbolRules
from exitguard.domain.trailing_book import TrailingBook
from exitguard.domain.trigger_book import TriggerBook
from exitguard.domain.triggers import truncate_mark_price

from ..history import Tape
from .book import BookConfig, SyntheticBook

__all__ = ["SymbolMarket"]


def _decimals(value: Decimal) -> int:
    exponent = value.normalize().as_tuple().exponent
    assert isinstance(exponent, int)
    return max(0, -exponent)


class SymbolMarket:
    """Prices of one symbol plus its resting triggers, in integer price units.

    A unit is ``10**-d`` with ``d`` the decimals of ``tickSize`` and ``minPrice``, so every grid
    price — including futures grids that start at a ``minPrice`` off the tick — is a whole number
    of units, and trailing arithmetic (proportional to price) stays exact.
    """

    def __init__(self, rules: SymbolRules, last: Decimal, book: BookConfig) -> None:
        pf = rules.price_filter
        assert pf is not None and rules.lot_size is not None
        self.rules = rules
        self.tick = pf.tick_size
        self.scale = 10 ** max(_decimals(pf.tick_size), _decimals(pf.min_price))
        self.last = last
        self.mark = last
        self.book = SyntheticBook(pf.tick_size, rules.lot_size.step_size, book)
        # Static and trailing triggers per price source (workingType); resting LIMITs on last.
        self.static = {"CONTRACT_PRICE": TriggerBook(), "MARK_PRICE": TriggerBook()}
        self.trailing = {"CONTRACT_PRICE": TrailingBook(), "MARK_PRICE": TrailingBook()}
        self.resting = TriggerBook()
        self.tape = Tape()  # what klines/trades/ticker 24hr answer from

    def units(self, price: Decimal) -> int:
        """Whole units of an on-grid price (floored for off-grid values such as raw marks)."""
        return int((price * self.scale).to_integral_value(rounding=ROUND_FLOOR))

    def source_price(self, working_type: str) -> Decimal:
        """What a trigger compares with: last trade, or the mark truncated down to the tick."""
        if working_type == "MARK_PRICE":
            return truncate_mark_price(self.mark, self.tick)
        return self.last
