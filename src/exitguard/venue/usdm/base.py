"""State shared by the USD-M venue's endpoint groups: prices, accounts, orders, events, margin."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from exitguard.domain.dialect import Dialect
from exitguard.domain.filters import ExchangeRules

from ..errors import VenueError
from ..listeners import EventSource, UserEvent
from ..listeners import Listeners as _Listeners
from .accounts import Account
from .market import SymbolMarket
from .records import Order

if TYPE_CHECKING:
    from .algo import AlgoService

__all__ = [
    "ExchangeBase",
    "Fees",
    "UserEvent",
    "_Listeners",
    "new_client_id",
    "require_account",
]

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class Fees:
    maker: Decimal = Decimal("0.0002")
    taker: Decimal = Decimal("0.0005")


class ExchangeBase(EventSource):
    """What every endpoint group reads and writes; :class:`UsdmExchange` fills it in."""

    rules: ExchangeRules
    now_ms: Callable[[], int]
    dialect: Dialect
    fees: Fees
    markets: dict[str, SymbolMarket]
    accounts: dict[str, Account]
    orders: dict[int, Order]
    open_by_account: dict[str, dict[int, Order]]  # per account, only orders not yet terminal
    algo: AlgoService
    _exchange_info: dict[str, Any]
    _order_ids: Iterator[int]
    _trade_ids: Iterator[int]

    def market(self, symbol: str | None) -> SymbolMarket:
        m = self.markets.get(symbol or "")
        if m is None:
            raise VenueError(-1121, "Invalid symbol.")
        return m

    # -- open-order index ----------------------------------------------------------------

    def track_open(self, order: Order) -> None:
        self.open_by_account.setdefault(order.api_key, {})[order.order_id] = order

    def untrack_open(self, order: Order) -> None:
        self.open_by_account.get(order.api_key, {}).pop(order.order_id, None)

    def open_orders_of(self, api_key: str) -> list[Order]:
        return list(self.open_by_account.get(api_key, {}).values())

    # -- margin (cross) ------------------------------------------------------------------

    def _unrealized(self, acct: Account) -> Decimal:
        return sum(
            (p.unrealized_pnl(self.markets[p.symbol].mark) for p in acct.positions.values()), ZERO
        )

    def _initial_margin(self, acct: Account) -> Decimal:
        return sum(
            (
                abs(p.amount) * self.markets[p.symbol].mark / acct.leverage_for(p.symbol)
                for p in acct.positions.values()
            ),
            ZERO,
        )

    def available(self, acct: Account) -> Decimal:
        """Cross margin: wallet + unrealised PnL − initial margin of open positions."""
        return acct.wallet + self._unrealized(acct) - self._initial_margin(acct)


def require_account(account: Account | None) -> Account:
    if account is None:  # the HTTP layer authenticates first; this is a programming error guard
        raise VenueError(-2014, "API-key format invalid.")
    return account


def new_client_id() -> str:
    return "venue-" + secrets.token_hex(8)
