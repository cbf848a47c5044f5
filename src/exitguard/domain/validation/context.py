"""What validation may compare an order against besides the symbol's rules."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from decimal import Decimal

from ..enums import PositionMode

__all__ = ["MarketContext", "Names"]


# init=False: __init__ below is the generated one, written out with cheaper stores (one
# context is built per order checked).
@dataclass(frozen=True, slots=True, init=False)
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

    def __init__(
        self,
        last_price: Decimal | None = None,
        mark_price: Decimal | None = None,
        now_ms: int | None = None,
        position_mode: PositionMode = PositionMode.ONE_WAY,
        open_orders: int | None = None,
        open_algo_orders: int | None = None,
    ) -> None:
        """Rule: the same signature, order and defaults as the generated ``__init__``."""
        # The slot descriptors' __set__ is where a frozen __init__'s object.__setattr__ ends
        # up after looking the slot up by name; calling it directly skips that look-up.
        s_last, s_mark, s_now, s_mode, s_orders, s_algo = _CONTEXT_SLOT_SETTERS
        s_last(self, last_price)
        s_mark(self, mark_price)
        s_now(self, now_ms)
        s_mode(self, position_mode)
        s_orders(self, open_orders)
        s_algo(self, open_algo_orders)


_CONTEXT_SLOT_SETTERS: tuple[Callable[[MarketContext, object], None], ...] = tuple(
    MarketContext.__dict__[f.name].__set__ for f in fields(MarketContext)
)


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
