"""What validation may compare an order against besides the symbol's rules."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from ..enums import PositionMode

__all__ = ["MarketContext", "Names"]


@dataclass(frozen=True, slots=True)
class MarketContext:
    """Optional market and account facts. A rule whose fact is missing is skipped, not guessed.

    ``last_price`` is the last trade (CONTRACT_PRICE; spot triggers and spot average price),
    ``mark_price`` the USD-M mark price, ``now_ms`` the venue clock for goodTillDate,
    ``open_orders`` the open orders on the symbol (both kinds, per the MAX_NUM_ORDERS text) and
    ``open_algo_orders`` the open conditional orders (USD-M: account-wide, against the 200 cap;
    Spot: on the symbol, against MAX_NUM_ALGO_ORDERS).
    """

    last_price: Decimal | None = None
    mark_price: Decimal | None = None
    now_ms: int | None = None
    position_mode: PositionMode = PositionMode.ONE_WAY
    open_orders: int | None = None
    open_algo_orders: int | None = None


@dataclass(frozen=True, slots=True)
class Names:
    """Maps a rule's base wire name to the name the user sent (``price`` → ``abovePrice``)."""

    prefix: str = ""
    overrides: Mapping[str, str] = field(default_factory=dict)

    def __call__(self, wire: str) -> str:
        if wire in self.overrides:
            return self.overrides[wire]
        if not self.prefix:
            return wire
        return self.prefix + wire[0].upper() + wire[1:]


PLAIN = Names()
