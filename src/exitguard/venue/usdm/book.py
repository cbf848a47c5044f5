"""A synthetic order book around the last price, so that market orders pay for their size.

Level ``i`` (0-based) on each side sits ``i`` ticks beyond the best price and holds
``base_qty * (1 + i * growth)``; a MARKET order walks the levels, so slippage grows with size.
The best bid is one tick below the last trade and the best ask one tick above (never crossed).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from exitguard.domain.enums import Side

__all__ = ["BookConfig", "SyntheticBook"]


@dataclass(frozen=True, slots=True)
class BookConfig:
    levels: int = 50
    level_notional: Decimal = Decimal(50_000)  # quote value of level 0 on each side
    growth: Decimal = Decimal("0.5")
    ticks_between_levels: int = 1


class SyntheticBook:
    def __init__(self, tick: Decimal, step: Decimal, config: BookConfig = BookConfig()) -> None:
        self.tick = tick
        self.step = step
        self.config = config

    def levels(self, last: Decimal, side: Side) -> list[tuple[Decimal, Decimal]]:
        """Price/qty levels a taker on ``side`` would hit, best first (asks for BUY)."""
        cfg = self.config
        base = max(self.step, (cfg.level_notional / last // self.step) * self.step)
        out = []
        for i in range(cfg.levels):
            offset = self.tick * (1 + i * cfg.ticks_between_levels)
            price = last + offset if side is Side.BUY else last - offset
            if price <= 0:
                break
            qty = (base * (1 + cfg.growth * i) // self.step) * self.step
            out.append((price, qty))
        return out

    def best(self, last: Decimal) -> tuple[Decimal, Decimal]:
        """(best bid, best ask)."""
        return last - self.tick, last + self.tick

    def walk(
        self, last: Decimal, side: Side, qty: Decimal, limit: Decimal | None = None
    ) -> list[tuple[Decimal, Decimal]]:
        """Fills (price, qty) for a taker of ``qty`` on ``side``, stopping at ``limit`` if given.

        When the synthetic depth runs out, the rest fills at the last level's price (a paper
        venue never leaves a protective market exit unfilled for lack of liquidity).
        """
        fills: list[tuple[Decimal, Decimal]] = []
        left = qty
        levels = self.levels(last, side)
        for price, available in levels:
            if limit is not None and (price > limit if side is Side.BUY else price < limit):
                break
            take = min(left, available)
            if take > 0:
                fills.append((price, take))
                left -= take
            if left <= 0:
                return fills
        if left > 0 and limit is None and levels:
            fills.append((levels[-1][0], left))
        return fills
