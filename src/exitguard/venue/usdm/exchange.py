"""The USD-M Futures paper exchange: accounts, regular orders, matching, prices and user events.

Endpoint groups live in :mod:`.market_data`, :mod:`.account_endpoints` and :mod:`.orders`, the
Algo Service (conditional orders) in :mod:`.algo`; HTTP and WebSockets in the venue's outer
modules. Every refusal is a :class:`VenueError` with Binance's code. Orders are validated by
``exitguard.domain.check_order`` — the same rules the client applies before sending — without
quantisation: the venue refuses off-grid values, it never fixes them.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from copy import deepcopy
from decimal import Decimal
from typing import Any

from exitguard.domain.dialect import BINANCE, Dialect
from exitguard.domain.enums import PositionSide, Side
from exitguard.domain.filters import parse_exchange_info
from exitguard.domain.numbers import format_decimal

from ..errors import VenueError
from .account_endpoints import AccountEndpoints
from .accounts import Account
from .algo import AlgoService
from .base import ZERO, Fees, UserEvent, _Listeners, new_client_id, require_account
from .book import BookConfig
from .market import SymbolMarket
from .market_data import MarketDataEndpoints
from .modify import ModifyEndpoints
from .records import Order, order_trade_update

__all__ = ["DEFAULT_START_PRICES", "Account", "Fees", "UsdmExchange", "UserEvent"]

DEFAULT_START_PRICES = {
    "BTCUSDT": Decimal("65000.00"),
    "ETHUSDT": Decimal("3000.00"),
    "SOLUSDT": Decimal("150.0000"),
    "DOGEUSDT": Decimal("0.150005"),
    "1000PEPEUSDT": Decimal("0.0100000"),
}
DEFAULT_BOOK = BookConfig()
DEFAULT_FEES = Fees()


class UsdmExchange(MarketDataEndpoints, AccountEndpoints, ModifyEndpoints):
    """All USD-M state of the venue, one endpoint group per base class. Not thread-safe: drive
    it from one event loop."""

    def __init__(
        self,
        exchange_info: Mapping[str, Any],
        now_ms: Callable[[], int],
        dialect: Dialect = BINANCE,
        start_prices: Mapping[str, Decimal] | None = None,
        fees: Fees = DEFAULT_FEES,
        book: BookConfig = DEFAULT_BOOK,
    ) -> None:
        self._exchange_info = deepcopy(dict(exchange_info))
        self.rules = parse_exchange_info(self._exchange_info)
        self.now_ms = now_ms
        self.dialect = dialect
        self.fees = fees
        self._book_config = book
        self._start_prices = dict(start_prices or DEFAULT_START_PRICES)
        self._listeners = _Listeners()
        self.reset()

    # -- state ---------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget every account, order and price move; keep symbols and listeners."""
        self.markets = {
            s: SymbolMarket(r, self._start_prices.get(s, _mid(r)), self._book_config)
            for s, r in self.rules.symbols.items()
        }
        self.accounts: dict[str, Account] = {}
        self.orders: dict[int, Order] = {}
        self.open_by_account = {}
        self._order_ids = itertools.count(4_000_000_001)
        self._trade_ids = itertools.count(700_000_001)
        self.algo = AlgoService(self)

    def create_account(
        self,
        usdt: Decimal = Decimal(10_000),
        api_key: str | None = None,
        api_secret: str | None = None,
        ed25519_public_key_pem: str | None = None,
    ) -> Account:
        """A funded account; fresh random credentials unless given (a reset keeps the venue's)."""
        account = Account.fresh(usdt)
        if api_key is not None and api_secret is not None:
            account.api_key, account.api_secret = api_key, api_secret
        account.ed25519_public_key_pem = ed25519_public_key_pem
        self.accounts[account.api_key] = account
        return account

    def account_by_api_key(self, api_key: str) -> Account | None:
        return self.accounts.get(api_key)

    def account_by_listen_key(self, listen_key: str) -> Account | None:
        for account in self.accounts.values():
            if account.listen_key == listen_key and account.listen_key_expires_ms > self.now_ms():
                return account
        return None

    # -- algo orders (the Algo Service) --------------------------------------------------

    def new_algo_order(self, account: Account | None, params: Mapping[str, str]) -> dict[str, Any]:
        return self.algo.new_algo_order(require_account(account), params)

    def query_algo_order(
        self, account: Account | None, params: Mapping[str, str]
    ) -> dict[str, Any]:
        return self.algo.query_algo_order(require_account(account), params)

    def cancel_algo_order(
        self, account: Account | None, params: Mapping[str, str]
    ) -> dict[str, Any]:
        return self.algo.cancel_algo_order(require_account(account), params)

    def open_algo_orders(
        self, account: Account | None, params: Mapping[str, str]
    ) -> list[dict[str, Any]]:
        return self.algo.open_algo_orders(require_account(account), params)

    def all_algo_orders(
        self, account: Account | None, params: Mapping[str, str]
    ) -> list[dict[str, Any]]:
        return self.algo.all_algo_orders(require_account(account), params)

    def cancel_all_algo_open_orders(
        self, account: Account | None, params: Mapping[str, str]
    ) -> dict[str, Any]:
        return self.algo.cancel_all_algo_open_orders(require_account(account), params)

    # -- prices and time -----------------------------------------------------------------

    def on_price(self, step: Any, last: Decimal | None = None, mark: Decimal | None = None) -> None:
        """Apply a price step — ``on_price(symbol, last=, mark=)`` or ``on_price(PriceStep)`` —
        resting limits fill on the last trade, then triggers fire."""
        if isinstance(step, str):
            symbol = step
        else:
            symbol, last, mark = step.symbol, step.last, step.mark
        m = self.market(symbol)
        trade_id = 0
        if last is not None:
            m.last = last
            # One trade of 1 (history.py); the aggTrade stream carries the same id as REST.
            trade_id = m.tape.record(self.now_ms(), last, Decimal(1))
            for order_id in m.resting.fire(m.units(last)):
                order = self.orders[order_id]
                if not order.open:  # expired by an earlier fill of this step (position closed)
                    continue
                acct = self.accounts[order.api_key]
                if self._fill(acct, order, order.price, order.qty - order.executed, maker=True):
                    self._account_changed(acct, {symbol})
        if mark is not None:
            m.mark = mark
        self.algo.on_price(m, last is not None, mark is not None)
        now = self.now_ms()
        if mark is not None:
            self._emit_market(
                "markPrice",
                symbol,
                {
                    "e": "markPriceUpdate",
                    "E": now,
                    "s": symbol,
                    "p": format_decimal(m.mark),
                    "ap": format_decimal(m.mark),
                    "i": format_decimal(m.mark),
                    "P": format_decimal(m.mark),
                    "r": "0.00010000",
                    "T": (now // 28_800_000 + 1) * 28_800_000,
                },
            )
        if last is not None:
            self._emit_market(
                "aggTrade",
                symbol,
                {
                    "e": "aggTrade",
                    "E": now,
                    "s": symbol,
                    "a": trade_id,
                    "p": format_decimal(m.last),
                    "q": "1",
                    "f": trade_id,
                    "l": trade_id,
                    "T": now,
                    "m": False,
                },
            )
            bt = self._book_ticker(m)
            self._emit_market(
                "bookTicker",
                symbol,
                {
                    "e": "bookTicker",
                    "u": now,
                    "E": now,
                    "T": now,
                    "s": symbol,
                    "b": bt["bidPrice"],
                    "B": bt["bidQty"],
                    "a": bt["askPrice"],
                    "A": bt["askQty"],
                },
            )

    def tick_time(self) -> None:
        """Expire GTD orders and listen keys whose time has come (call after the clock moves)."""
        now = self.now_ms()
        for order in [o for per in self.open_by_account.values() for o in per.values()]:
            if order.time_in_force == "GTD" and 0 < order.good_till_date <= now:
                self._finish(self.accounts[order.api_key], order, "EXPIRED")
        self.algo.tick_time(now)
        for acct in self.accounts.values():
            if acct.listen_key is not None and acct.listen_key_expires_ms <= now:
                self.expire_listen_key(acct)

    # -- control (not Binance) -----------------------------------------------------------

    def open_position(
        self,
        acct: Account,
        symbol: str,
        side: Side,
        qty: Decimal,
        price: Decimal | None = None,
        position_side: PositionSide | None = None,
    ) -> Order:
        """Fill a MARKET order at ``price`` (default: last) as the user's own trade would."""
        m = self.market(symbol)
        now = self.now_ms()
        ps = position_side or (
            PositionSide.BOTH
            if not acct.dual_side
            else PositionSide.LONG
            if side is Side.BUY
            else PositionSide.SHORT
        )
        order = Order(
            next(self._order_ids),
            new_client_id(),
            acct.api_key,
            symbol,
            side,
            ps,
            "MARKET",
            "MARKET",
            "GTC",
            qty,
            ZERO,
            False,
            False,
            now,
            now,
        )
        self.orders[order.order_id] = order
        self.track_open(order)
        self.emit(acct.api_key, order_trade_update(order, now, "NEW"))
        self._fill(acct, order, price or m.last, qty, maker=False)
        self._account_changed(acct, {symbol})
        return order

    def set_liquidation_price(
        self,
        acct: Account,
        symbol: str,
        price: Decimal,
        position_side: PositionSide = PositionSide.BOTH,
    ) -> None:
        """Report ``price`` as the open position's ``liquidationPrice`` in positionRisk (the
        venue has no margin model of its own; nothing is liquidated). Cleared when the position
        closes."""
        self.market(symbol)
        pos = acct.positions.get((symbol, position_side))
        if pos is None or pos.amount == 0:
            raise VenueError(-2022, f"no open {symbol} {position_side.value} position")
        pos.liquidation_price = price

    def snapshot(self) -> dict[str, Any]:
        f = format_decimal
        return {
            "time": self.now_ms(),
            "dialect": self.dialect.name,
            "prices": {s: {"last": f(m.last), "mark": f(m.mark)} for s, m in self.markets.items()},
            "accounts": [
                {
                    "api_key": a.api_key,
                    "wallet": f(a.wallet),
                    "dual_side": a.dual_side,
                    "positions": [
                        {
                            "symbol": p.symbol,
                            "positionSide": p.position_side.value,
                            "amount": f(p.amount),
                            "entryPrice": f(p.entry_price),
                        }
                        for p in a.positions.values()
                        if p.amount
                    ],
                }
                for a in self.accounts.values()
            ],
            "orders": [o.to_json() for o in self.orders.values()],
            "algoOrders": [a.to_json() for a in self.algo.orders.values()],
        }


def _mid(rules: Any) -> Decimal:
    """A start price on the symbol's grid for symbols without a configured one."""
    pf = rules.price_filter
    return pf.min_price + pf.tick_size * 1000 if pf else Decimal(1)
