"""Marks and liquidation prices for planning: the narrow interface between whoever reads them
from the venue and the planner's input.

The liquidation guard (docs: exit plans, "Liquidation guard") needs the venue's liquidation
price of each USD-M position (``positionRisk``; not in ``ACCOUNT_UPDATE``) and the mark of its
symbol. The service's price poller (:meth:`~.control.GuardControl.poll_prices`) already reads
both for display and writes them here; hydration writes the liquidation prices it read; and a
scope whose positions need them while no service runs reads them itself at a low rate
(:class:`MarketReader`, from the scope's timer task: read-only REST, never on the event path).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from exitguard.adapters.errors import ExchangeError
from exitguard.domain.enums import PositionSide, Product
from exitguard.planner.model import Position

from .ops import ProductOps

__all__ = ["MarketBook", "MarketReader"]


@dataclass(slots=True)
class MarketBook:
    """The latest mark per (product, symbol) and liquidation price per USD-M position, with the
    time each was read (the scope's clock)."""

    marks: dict[tuple[Product, str], tuple[Decimal, int]] = field(default_factory=dict)
    liquidations: dict[tuple[Product, str, PositionSide], Decimal] = field(default_factory=dict)
    liquidations_ms: dict[Product, int] = field(default_factory=dict)

    def set_mark(self, product: Product, symbol: str, mark: Decimal, now_ms: int) -> None:
        if mark > 0:
            self.marks[(product, symbol)] = (mark, now_ms)

    def set_liquidations(
        self,
        product: Product,
        prices: Mapping[tuple[str, PositionSide], Decimal],
        now_ms: int,
    ) -> None:
        """Every liquidation price of ``product`` as just read: a position the venue no longer
        reports one for (0: no risk) loses its old one."""
        self.liquidations = {k: v for k, v in self.liquidations.items() if k[0] is not product}
        self.liquidations.update({(product, s, ps): v for (s, ps), v in prices.items() if v > 0})
        self.liquidations_ms[product] = now_ms

    def liquidation(self, product: Product, symbol: str, side: PositionSide) -> Decimal | None:
        return self.liquidations.get((product, symbol, side))

    def marks_of(
        self, product: Product, now_ms: int, max_age_ms: int
    ) -> dict[tuple[Product, str], Decimal]:
        """The marks of ``product`` read within ``max_age_ms``: an old mark decides nothing."""
        return {
            key: mark
            for key, (mark, at) in self.marks.items()
            if key[0] is product and now_ms - at <= max_age_ms
        }

    def age_ms(self, product: Product, symbols: list[str], now_ms: int) -> int | None:
        """How old the oldest of these symbols' marks and the liquidation prices are (None when
        one was never read)."""
        times = [self.marks.get((product, s), (Decimal(0), None))[1] for s in symbols]
        times.append(self.liquidations_ms.get(product))
        if any(t is None for t in times):
            return None
        return now_ms - min(t for t in times if t is not None)


class MarketReader:
    """Keeps a scope's guarded positions' marks and liquidation prices no older than
    ``poll_s``, reading them only when no one else (the service's poller) did."""

    def __init__(
        self,
        book: MarketBook,
        ops: ProductOps,
        now_ms: Callable[[], int],
        guarded: Callable[[], list[Position]],
        poll_s: float,
        emit: Callable[..., Any],
    ) -> None:
        self.book = book
        self.ops = ops
        self.now_ms = now_ms
        self.guarded = guarded  # the positions that need them now (none: nothing is read)
        self.poll_ms = int(poll_s * 1000)
        self.emit = emit
        self.reads = 0

    async def refresh(self) -> bool:
        """Read them if due; True when a value a plan reads changed (a re-plan is due)."""
        positions = self.guarded()
        if not positions:
            return False
        symbols = sorted({p.symbol for p in positions})
        product = self.ops.product
        age = self.book.age_ms(product, symbols, self.now_ms())
        if age is not None and age < self.poll_ms:
            return False
        before = ({k: v[0] for k, v in self.book.marks.items()}, dict(self.book.liquidations))
        try:
            for symbol in symbols:
                quote = await self.ops.quote(symbol)
                self.book.set_mark(product, symbol, quote.mark, self.now_ms())
            liquidations = await self.ops.liquidation_prices()
        except ExchangeError as exc:  # the next round tries again; the plan keeps what it had
            self.emit("market_read_failed", error=str(exc))
            return False
        self.reads += 1
        self.book.set_liquidations(product, liquidations, self.now_ms())
        after = ({k: v[0] for k, v in self.book.marks.items()}, dict(self.book.liquidations))
        return after != before
