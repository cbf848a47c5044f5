"""Per-symbol state of the Spot venue: the last trade, the synthetic book, the trigger books."""

from __future__ import annotations

from decimal import ROUND_FLOOR, ROUND_HALF_EVEN, Decimal

from exitguard.domain.filters import SymbolRules
from exitguard.domain.trailing_book import TrailingBook
from exitguard.domain.trigger_book import TriggerBook

from ..history import Tape
from ..usdm.book import BookConfig, SyntheticBook
from ..usdm.market import _decimals

__all__ = ["SpotMarket"]


class SpotMarket:
    """Prices of one spot symbol and its resting orders, in integer price units.

    Spot triggers on the last trade only (no mark price, reference 3.1), so one static book
    (STOP_LOSS*/TAKE_PROFIT* with stopPrice), one trailing book (trailingDelta) and one book of
    resting limit orders (a BUY rests FALLING at its price: a trade at or below it fills it).
    """

    def __init__(self, rules: SymbolRules, last: Decimal, book: BookConfig) -> None:
        pf, lot = rules.price_filter, rules.lot_size
        assert pf is not None and lot is not None
        self.rules = rules
        self.tick = pf.tick_size
        self.step = lot.step_size
        self.scale = 10 ** max(_decimals(pf.tick_size), _decimals(pf.min_price))
        self.book = SyntheticBook(pf.tick_size, lot.step_size, book)
        self.stops = TriggerBook()
        self.trailing = TrailingBook()
        self.resting = TriggerBook()
        self.tape = Tape()  # what klines/trades/ticker 24hr answer from
        self.last = self.snap(last)

    def units(self, price: Decimal) -> int:
        return int((price * self.scale).to_integral_value(rounding=ROUND_FLOOR))

    def snap(self, price: Decimal) -> Decimal:
        """A trade price on the symbol's grid: spot trades only print on ticks, so a feed value
        off the grid (a USD-M tick, a replayed float) is taken to the nearest tick."""
        if self.tick <= 0:
            return price
        ticks = (price / self.tick).to_integral_value(rounding=ROUND_HALF_EVEN)
        return max(ticks, Decimal(1)) * self.tick
