"""The Spot paper exchange: balances, orders and order lists, matching, triggers, user events.

Endpoint groups live in :mod:`.info` (market data, account, listen keys), :mod:`.orders` (single
orders, cancelReplace) and :mod:`.lists` (OCO/OTO/OTOCO); matching, balances and triggers in
:mod:`.engine`. Every endpoint method has the shape ``handler(account, params) -> JSON-able`` with
``params`` the request's wire strings; every refusal is a :class:`~exitguard.venue.errors.VenueError`
with Binance's code and text. Not thread-safe: drive it from one event loop.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Mapping
from copy import deepcopy
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from exitguard.domain.enums import Product
from exitguard.domain.filters import parse_exchange_info

from ..errors import VenueError
from ..listeners import Listeners
from ..usdm.book import BookConfig
from ..usdm.exchange import _mid
from .accounts import SpotAccount, q8
from .base import SpotFees
from .info import InfoEndpoints
from .market import SpotMarket
from .opo import OpoEndpoints
from .records import balance_update, f8

__all__ = [
    "DEFAULT_SPOT_BALANCES",
    "DEFAULT_SPOT_START_PRICES",
    "SYMBOL_STATUSES",
    "SpotAccount",
    "SpotExchange",
    "SpotFees",
]

# On the spot grids of the bundled fixture (DOGE ticks 0.00001, PEPE 0.00000001).
DEFAULT_SPOT_START_PRICES = {
    "BTCUSDT": Decimal("65000.00"),
    "ETHUSDT": Decimal("3000.00"),
    "SOLUSDT": Decimal("150.00"),
    "DOGEUSDT": Decimal("0.15000"),
    "PEPEUSDT": Decimal("0.00001000"),
}
# Spot enums.md "Symbol status"; CANCEL_ONLY from 2026-07-07 (Spot CHANGELOG 2026-07-01).
SYMBOL_STATUSES = ("TRADING", "END_OF_DAY", "HALT", "BREAK", "CANCEL_ONLY")
# Enough of each base asset to protect a position with exits, and quote to buy some.
DEFAULT_SPOT_BALANCES = {
    "USDT": Decimal(10_000),
    "BTC": Decimal(1),
    "ETH": Decimal(10),
    "SOL": Decimal(100),
    "DOGE": Decimal(100_000),
    "PEPE": Decimal(1_000_000_000),
}


class SpotExchange(OpoEndpoints, InfoEndpoints):
    """All Spot state of the venue."""

    def __init__(
        self,
        exchange_info: Mapping[str, Any],
        now_ms: Callable[[], int],
        start_prices: Mapping[str, Decimal] | None = None,
        fees: SpotFees | None = None,
        book: BookConfig | None = None,
    ) -> None:
        self._exchange_info = deepcopy(dict(exchange_info))
        self.rules = parse_exchange_info(self._exchange_info, Product.SPOT)
        self._initial_rules = self.rules
        self.now_ms = now_ms
        self.fees = fees or SpotFees()
        self._book_config = book or BookConfig()
        self._start_prices = dict(start_prices or DEFAULT_SPOT_START_PRICES)
        self._listeners = Listeners()
        self.reset()

    def reset(self) -> None:
        """Forget every account, order, list, price move and symbol status change; keep symbols
        and listeners."""
        self.rules = self._initial_rules
        self.markets = {
            s: SpotMarket(r, self._start_prices.get(s, _mid(r)), self._book_config)
            for s, r in self.rules.symbols.items()
        }
        self.accounts: dict[str, SpotAccount] = {}
        self.orders = {}
        self.lists = {}
        self.open_by_account = {}
        self._order_ids = itertools.count(10_000_001)
        self._list_ids = itertools.count(5_001)
        self._trade_ids = itertools.count(900_000_001)
        self._execution_ids = itertools.count(1)

    def set_symbol_status(self, symbol: str, status: str) -> None:
        """Put ``symbol`` in a trading phase (control API). Not TRADING: placements are refused
        ``-2010`` "Market is closed." by the order checks; cancels and queries still work, which
        is what CANCEL_ONLY means (Spot CHANGELOG 2026-07-01). ``exchangeInfo`` shows it."""
        if status not in SYMBOL_STATUSES:
            raise VenueError(
                -1100,
                f"Illegal characters found in parameter 'status'; legal range is {'|'.join(SYMBOL_STATUSES)}.",
            )
        m = self.market(symbol)
        rules = dataclasses.replace(m.rules, status=status)
        m.rules = rules
        symbols = {**self.rules.symbols, symbol: rules}
        self.rules = dataclasses.replace(self.rules, symbols=MappingProxyType(symbols))

    # -- accounts --------------------------------------------------------------------------

    def create_account(
        self,
        balances: Mapping[str, Decimal] | None = None,
        api_key: str | None = None,
        api_secret: str | None = None,
        ed25519_public_key_pem: str | None = None,
    ) -> SpotAccount:
        """A funded account; fresh random credentials unless given (the venue passes its USD-M
        account's, so one key works on both products)."""
        account = SpotAccount.fresh(
            DEFAULT_SPOT_BALANCES if balances is None else balances,
            api_key,
            api_secret,
            ed25519_public_key_pem,
        )
        account.update_time = self.now_ms()
        self.accounts[account.api_key] = account
        return account

    def account_by_api_key(self, api_key: str) -> SpotAccount | None:
        return self.accounts.get(api_key)

    def account_by_listen_key(self, listen_key: str) -> SpotAccount | None:
        for account in self.accounts.values():
            if account.listen_key == listen_key and account.listen_key_expires_ms > self.now_ms():
                return account
        return None

    def move_balance(self, acct: SpotAccount, asset: str, delta: Decimal) -> Decimal:
        """A deposit (``delta > 0``) or withdrawal: ``balanceUpdate`` then
        ``outboundAccountPosition``. A withdrawal larger than the free balance is refused."""
        delta = q8(delta)
        bal = acct.balance(asset)
        if bal.free + delta < 0:
            raise VenueError(-2010, "Account has insufficient balance for requested action.")
        bal.free += delta
        self.emit(acct.api_key, balance_update(asset, delta, self.now_ms()))
        self.account_changed(acct, {asset})
        return bal.free

    # -- prices and time -------------------------------------------------------------------

    def on_price(self, step: Any, last: Decimal | None = None, qty: Decimal | None = None) -> None:
        """Apply a trade — ``on_price(symbol, last=, qty=)`` or ``on_price(PriceStep)``; a step
        without ``last`` (a mark-only USD-M step) does nothing on spot."""
        if isinstance(step, str):
            symbol = step
        else:
            symbol, last, qty = step.symbol, step.last, getattr(step, "qty", None)
        if last is None:
            self.market(symbol)
            return
        if not last.is_finite() or last <= 0 or (qty is not None and qty <= 0):
            raise VenueError(-1100, "A trade needs a positive price and quantity.")
        self.on_trade(symbol, last, qty)

    def tick_time(self) -> None:
        """Expire listen keys whose time has come (spot has no GTD orders)."""
        now = self.now_ms()
        for acct in self.accounts.values():
            if acct.listen_key is not None and acct.listen_key_expires_ms <= now:
                self.expire_listen_key(acct)

    # -- control (not Binance) -------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        return {
            "time": self.now_ms(),
            "prices": {s: {"last": f8(m.last)} for s, m in self.markets.items()},
            "accounts": [
                {
                    "api_key": a.api_key,
                    "balances": {
                        asset: {"free": f8(b.free), "locked": f8(b.locked)}
                        for asset, b in sorted(a.balances.items())
                    },
                }
                for a in self.accounts.values()
            ],
            "orders": [o.to_json() for o in self.orders.values()],
            "orderLists": [ol.to_json(self.orders) for ol in self.lists.values()],
        }
