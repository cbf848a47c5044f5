"""The USD-M Futures paper exchange: accounts, regular orders, matching, prices and user events.

The Algo Service (conditional orders) lives in :mod:`.algo`; HTTP and WebSockets in the venue's
outer modules. Every refusal is a :class:`VenueError` with Binance's code. Orders are validated by
``exitguard.domain.check_order`` — the same rules the client applies before sending — without
quantisation: the venue refuses off-grid values, it never fixes them.
"""

from __future__ import annotations

import itertools
import json
import secrets
from collections.abc import Callable, Mapping
from copy import deepcopy
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from exitguard.domain.check import OrderKind, check_order
from exitguard.domain.dialect import BINANCE, Dialect
from exitguard.domain.enums import ALGO_ORDER_TYPES, PositionMode, PositionSide, Side
from exitguard.domain.filters import ExchangeRules, parse_exchange_info
from exitguard.domain.numbers import format_decimal
from exitguard.domain.requests import FuturesOrderRequest
from exitguard.domain.triggers import TriggerDirection
from exitguard.domain.validation import MarketContext

from ..errors import VenueError
from .accounts import Account, Fill
from .algo import AlgoService
from .book import BookConfig
from .market import SymbolMarket
from .params import opt_int, opt_str, req_str
from .records import Order, account_update, order_trade_update

__all__ = ["DEFAULT_START_PRICES", "Account", "UsdmExchange", "UserEvent"]

UserEvent = dict[str, Any]
UserListener = Callable[[UserEvent], None]
MarketListener = Callable[[str, str, dict[str, Any]], None]

DEFAULT_START_PRICES = {
    "BTCUSDT": Decimal("65000.00"),
    "ETHUSDT": Decimal("3000.00"),
    "SOLUSDT": Decimal("150.0000"),
    "DOGEUSDT": Decimal("0.150005"),
    "1000PEPEUSDT": Decimal("0.0100000"),
}
LISTEN_KEY_VALIDITY_MS = 60 * 60 * 1000
DEFAULT_BOOK = BookConfig()
ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class Fees:
    maker: Decimal = Decimal("0.0002")
    taker: Decimal = Decimal("0.0005")


DEFAULT_FEES = Fees()


@dataclass(slots=True)
class _Listeners:
    user: dict[str, list[UserListener]] = field(default_factory=dict)
    market: list[MarketListener] = field(default_factory=list)


class UsdmExchange:
    """All USD-M state of the venue. Not thread-safe: drive it from one event loop."""

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
        self.rules: ExchangeRules = parse_exchange_info(self._exchange_info)
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

    def market(self, symbol: str | None) -> SymbolMarket:
        m = self.markets.get(symbol or "")
        if m is None:
            raise VenueError(-1121, "Invalid symbol.")
        return m

    # -- events --------------------------------------------------------------------------

    def subscribe(self, account: Account, listener: UserListener) -> None:
        self._listeners.user.setdefault(account.api_key, []).append(listener)

    def unsubscribe(self, account: Account, listener: UserListener) -> None:
        listeners = self._listeners.user.get(account.api_key, [])
        if listener in listeners:
            listeners.remove(listener)

    def subscribe_market(self, listener: MarketListener) -> None:
        self._listeners.market.append(listener)

    def unsubscribe_market(self, listener: MarketListener) -> None:
        if listener in self._listeners.market:
            self._listeners.market.remove(listener)

    def emit(self, api_key: str, event: UserEvent) -> None:
        for listener in list(self._listeners.user.get(api_key, ())):
            listener(event)

    def _emit_market(self, kind: str, symbol: str, payload: dict[str, Any]) -> None:
        for listener in list(self._listeners.market):
            listener(kind, symbol, payload)

    # -- public market data --------------------------------------------------------------

    def ping(self, _: Account | None, params: Mapping[str, str]) -> dict[str, Any]:
        return {}

    def server_time(self, _: Account | None, params: Mapping[str, str]) -> dict[str, Any]:
        return {"serverTime": self.now_ms()}

    def exchange_info(self, _: Account | None, params: Mapping[str, str]) -> dict[str, Any]:
        doc = deepcopy(self._exchange_info)
        doc["serverTime"] = self.now_ms()
        return doc

    def _each(
        self, params: Mapping[str, str], one: Callable[[SymbolMarket], dict[str, Any]]
    ) -> Any:
        symbol = opt_str(params, "symbol")
        if symbol is not None:
            return one(self.market(symbol))
        return [one(m) for m in self.markets.values()]

    def premium_index(self, _: Account | None, params: Mapping[str, str]) -> Any:
        now = self.now_ms()
        return self._each(
            params,
            lambda m: {
                "symbol": m.rules.symbol,
                "markPrice": format_decimal(m.mark),
                "indexPrice": format_decimal(m.mark),
                "estimatedSettlePrice": format_decimal(m.mark),
                "lastFundingRate": "0.00010000",
                "interestRate": "0.00010000",
                "nextFundingTime": (now // 28_800_000 + 1) * 28_800_000,
                "time": now,
            },
        )

    def ticker_price(self, _: Account | None, params: Mapping[str, str]) -> Any:
        now = self.now_ms()
        return self._each(
            params,
            lambda m: {"symbol": m.rules.symbol, "price": format_decimal(m.last), "time": now},
        )

    def book_ticker(self, _: Account | None, params: Mapping[str, str]) -> Any:
        return self._each(params, self._book_ticker)

    def _book_ticker(self, m: SymbolMarket) -> dict[str, Any]:
        bid, ask = m.book.best(m.last)
        bids, asks = m.book.levels(m.last, Side.SELL), m.book.levels(m.last, Side.BUY)
        now = self.now_ms()
        return {
            "symbol": m.rules.symbol,
            "bidPrice": format_decimal(bid),
            "bidQty": format_decimal(bids[0][1]) if bids else "0",
            "askPrice": format_decimal(ask),
            "askQty": format_decimal(asks[0][1]) if asks else "0",
            "time": now,
        }

    def depth(self, _: Account | None, params: Mapping[str, str]) -> dict[str, Any]:
        m = self.market(req_str(params, "symbol"))
        limit = opt_int(params, "limit", 5, 1000) or 500
        now = self.now_ms()

        def levels(side: Side) -> list[list[str]]:
            return [
                [format_decimal(p), format_decimal(q)]
                for p, q in m.book.levels(m.last, side)[:limit]
            ]

        return {
            "lastUpdateId": now,
            "E": now,
            "T": now,
            "bids": levels(Side.SELL),
            "asks": levels(Side.BUY),
        }

    # -- account -------------------------------------------------------------------------

    def get_position_mode(
        self, account: Account | None, params: Mapping[str, str]
    ) -> dict[str, Any]:
        return {"dualSidePosition": _acct(account).dual_side}

    def set_position_mode(
        self, account: Account | None, params: Mapping[str, str]
    ) -> dict[str, Any]:
        acct = _acct(account)
        raw = req_str(params, "dualSidePosition").lower()
        if raw not in ("true", "false"):
            raise VenueError(
                -1100,
                "Illegal characters found in parameter 'dualSidePosition'; legal range is 'true|false'.",
            )
        dual = raw == "true"
        if dual == acct.dual_side:
            raise VenueError(-4059, "No need to change position side.")
        if any(
            o.open and o.api_key == acct.api_key for o in self.orders.values()
        ) or self.algo.open_count(acct):
            raise VenueError(-4067, "Position side cannot be changed if there exists open orders.")
        if any(p.amount for p in acct.positions.values()):
            raise VenueError(-4068, "Position side cannot be changed if there exists position.")
        acct.dual_side = dual
        return {"code": 200, "msg": "success"}

    def set_leverage(self, account: Account | None, params: Mapping[str, str]) -> dict[str, Any]:
        acct = _acct(account)
        m = self.market(req_str(params, "symbol"))
        lev = opt_int(params, "leverage", 1, 125)
        if lev is None:
            raise VenueError(
                -1102, "Mandatory parameter 'leverage' was not sent, was empty/null, or malformed."
            )
        acct.leverage[m.rules.symbol] = lev
        return {"leverage": lev, "maxNotionalValue": "1000000", "symbol": m.rules.symbol}

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

    def balance(self, account: Account | None, params: Mapping[str, str]) -> list[dict[str, Any]]:
        acct = _acct(account)
        up, avail, now = self._unrealized(acct), self.available(acct), self.now_ms()
        return [
            {
                "accountAlias": "exitguard",
                "asset": "USDT",
                "balance": format_decimal(acct.wallet),
                "crossWalletBalance": format_decimal(acct.wallet),
                "crossUnPnl": format_decimal(up),
                "availableBalance": format_decimal(avail),
                "maxWithdrawAmount": format_decimal(max(avail, ZERO)),
                "marginAvailable": True,
                "updateTime": now,
            }
        ]

    def account_info(self, account: Account | None, params: Mapping[str, str]) -> dict[str, Any]:
        acct = _acct(account)
        up, avail, im = self._unrealized(acct), self.available(acct), self._initial_margin(acct)
        f = format_decimal
        return {
            "totalInitialMargin": f(im),
            "totalMaintMargin": "0",
            "totalWalletBalance": f(acct.wallet),
            "totalUnrealizedProfit": f(up),
            "totalMarginBalance": f(acct.wallet + up),
            "totalPositionInitialMargin": f(im),
            "totalOpenOrderInitialMargin": "0",
            "totalCrossWalletBalance": f(acct.wallet),
            "totalCrossUnPnl": f(up),
            "availableBalance": f(avail),
            "maxWithdrawAmount": f(max(avail, ZERO)),
            "assets": self.balance(acct, params),
            "positions": self.position_risk(acct, params),
        }

    def position_risk(
        self, account: Account | None, params: Mapping[str, str]
    ) -> list[dict[str, Any]]:
        acct = _acct(account)
        symbol = opt_str(params, "symbol")
        if symbol is not None:
            self.market(symbol)
        out = []
        for p in acct.positions.values():
            if symbol is not None and p.symbol != symbol:
                continue
            mark = self.markets[p.symbol].mark
            out.append(
                {
                    "symbol": p.symbol,
                    "positionSide": p.position_side.value,
                    "positionAmt": format_decimal(p.amount),
                    "entryPrice": format_decimal(p.entry_price),
                    "breakEvenPrice": format_decimal(p.entry_price),
                    "markPrice": format_decimal(mark),
                    "unRealizedProfit": format_decimal(p.unrealized_pnl(mark)),
                    "liquidationPrice": "0",
                    "leverage": str(acct.leverage_for(p.symbol)),
                    "notional": format_decimal(p.amount * mark),
                    "marginType": "cross",
                    "isolatedMargin": "0",
                    "isolatedWallet": "0",
                    "marginAsset": "USDT",
                    "initialMargin": format_decimal(
                        abs(p.amount) * mark / acct.leverage_for(p.symbol)
                    ),
                    "maintMargin": "0",
                    "adl": 0,
                    "updateTime": p.update_time,
                }
            )
        return out

    # -- regular orders ------------------------------------------------------------------

    def market_context(self, acct: Account, m: SymbolMarket) -> MarketContext:
        open_on_symbol = sum(
            1
            for o in self.orders.values()
            if o.open and o.api_key == acct.api_key and o.symbol == m.rules.symbol
        ) + self.algo.open_count(acct, m.rules.symbol)
        return MarketContext(
            last_price=m.last,
            mark_price=m.mark,
            now_ms=self.now_ms(),
            position_mode=PositionMode.HEDGE if acct.dual_side else PositionMode.ONE_WAY,
            open_orders=open_on_symbol,
            open_algo_orders=self.algo.open_count(acct),
        )

    def new_order(self, account: Account | None, params: Mapping[str, str]) -> dict[str, Any]:
        """``POST /fapi/v1/order``: LIMIT and MARKET; the conditional five answer -4120 (binance)."""
        acct = _acct(account)
        m = self.market(req_str(params, "symbol"))
        if (
            params.get("type") in ALGO_ORDER_TYPES
            and self.dialect.conditional_types_on_order_endpoint
        ):
            return self.algo.from_order_endpoint(acct, params)
        result = check_order(
            OrderKind.USDM,
            params,
            self.rules,
            self.market_context(acct, m),
            self.dialect,
            quantize=False,
        )
        if result.violations:
            raise VenueError.from_violation(result.violations[0])
        req: FuturesOrderRequest = result.request
        client_id = req.new_client_order_id or _new_client_id()
        if any(
            o.open and o.api_key == acct.api_key and o.client_order_id == client_id
            for o in self.orders.values()
        ):
            raise VenueError(-4116, "ClientOrderId is duplicated.")
        assert req.quantity is not None
        position_side = req.position_side or PositionSide.BOTH
        qty = self._reduce_only_qty(
            acct, req.symbol, req.side, position_side, req.quantity, bool(req.reduce_only)
        )
        price = req.price or ZERO
        self._check_margin(acct, m, req.side, position_side, qty, price or m.last)
        now = self.now_ms()
        order = Order(
            order_id=next(self._order_ids),
            client_order_id=client_id,
            api_key=acct.api_key,
            symbol=req.symbol,
            side=req.side,
            position_side=position_side,
            type=req.type.value,
            orig_type=req.type.value,
            time_in_force=(req.time_in_force.value if req.time_in_force else "GTC"),
            qty=qty,
            price=price,
            reduce_only=bool(req.reduce_only),
            close_position=False,
            time=now,
            update_time=now,
            good_till_date=req.good_till_date or 0,
        )
        self.place(acct, order)
        return order.to_json()

    def _reduce_only_qty(
        self,
        acct: Account,
        symbol: str,
        side: Side,
        position_side: PositionSide,
        qty: Decimal,
        reduce_only: bool,
    ) -> Decimal:
        """Reduce-only orders are clamped to the position; with nothing to reduce they are
        refused with -2022 (Binance REDUCE_ONLY_REJECT)."""
        if not reduce_only:
            return qty
        reducible = acct.position(symbol, position_side).reducible(side)
        if reducible <= 0:
            raise VenueError(-2022, "ReduceOnly Order is rejected.")
        return min(qty, reducible)

    def _check_margin(
        self,
        acct: Account,
        m: SymbolMarket,
        side: Side,
        position_side: PositionSide,
        qty: Decimal,
        price: Decimal,
    ) -> None:
        opening = qty - min(qty, acct.position(m.rules.symbol, position_side).reducible(side))
        if opening <= 0:
            return
        needed = opening * price / acct.leverage_for(m.rules.symbol)
        if needed > self.available(acct):
            raise VenueError(-2019, "Margin is insufficient.")

    def place(self, acct: Account, order: Order) -> None:
        """Accept ``order`` (already validated) and run it against the book."""
        self.orders[order.order_id] = order
        m = self.markets[order.symbol]
        now = self.now_ms()
        if order.type == "MARKET":
            self.emit(acct.api_key, order_trade_update(order, now, "NEW"))
            self._take(acct, order, m, None)
            return
        bid, ask = m.book.best(m.last)
        marketable = order.price >= ask if order.side is Side.BUY else order.price <= bid
        tif = order.time_in_force
        if tif == "GTX" and marketable:
            del self.orders[order.order_id]
            raise VenueError(
                -5022,
                "Due to the order could not be executed as maker, the Post Only order will be rejected.",
            )
        if tif == "FOK":
            fills = m.book.walk(m.last, order.side, order.qty, order.price)
            if sum((q for _, q in fills), ZERO) < order.qty:
                del self.orders[order.order_id]
                raise VenueError(
                    -5021,
                    "Due to the order could not be filled immediately, the FOK order has been rejected.",
                )
        self.emit(acct.api_key, order_trade_update(order, now, "NEW"))
        if marketable:
            self._take(acct, order, m, order.price)
        if not order.open:
            return
        if tif == "IOC" or tif == "FOK":
            self._finish(acct, order, "EXPIRED", reason=2)
            return
        direction = TriggerDirection.FALLING if order.side is Side.BUY else TriggerDirection.RISING
        m.resting.add(order.order_id, direction, m.units(order.price))

    def _take(self, acct: Account, order: Order, m: SymbolMarket, limit: Decimal | None) -> None:
        left = order.qty - order.executed
        fills = m.book.walk(m.last, order.side, left, limit)
        for price, qty in fills:
            self._fill(acct, order, price, qty, maker=False)
        if fills:
            self._account_changed(acct, {order.symbol})

    def _fill(self, acct: Account, order: Order, price: Decimal, qty: Decimal, maker: bool) -> None:
        now = self.now_ms()
        pos = acct.position(order.symbol, order.position_side)
        realized = pos.apply(order.side, qty, price, now)
        quote = price * qty
        fee = quote * (self.fees.maker if maker else self.fees.taker)
        acct.wallet += realized - fee
        order.executed += qty
        order.cum_quote += quote
        order.update_time = now
        order.status = "FILLED" if order.executed >= order.qty else "PARTIALLY_FILLED"
        fill = Fill(
            next(self._trade_ids),
            order.order_id,
            order.symbol,
            order.side,
            order.position_side,
            price,
            qty,
            quote,
            fee,
            realized,
            maker,
            now,
        )
        acct.trades.append(fill)
        self.emit(acct.api_key, order_trade_update(order, now, "TRADE", fill))
        if order.status == "FILLED":
            self._order_done(acct, order)
        if pos.amount == 0:
            self.algo.position_flat(acct, order.symbol, order.position_side)

    def _finish(self, acct: Account, order: Order, status: str, reason: int = 0) -> None:
        order.status = status
        order.expiry_reason = reason
        order.update_time = self.now_ms()
        self.markets[order.symbol].resting.remove(order.order_id)
        execution = "CANCELED" if status == "CANCELED" else "EXPIRED"
        self.emit(acct.api_key, order_trade_update(order, order.update_time, execution))
        self._order_done(acct, order)

    def _order_done(self, acct: Account, order: Order) -> None:
        if order.algo_id is not None:
            self.algo.child_done(acct, order)

    def _account_changed(self, acct: Account, symbols: set[str]) -> None:
        marks = {s: self.markets[s].mark for s in symbols}
        self.emit(acct.api_key, account_update(acct, self.now_ms(), "ORDER", symbols, marks))

    def _find_order(self, acct: Account, params: Mapping[str, str]) -> Order:
        symbol = req_str(params, "symbol")
        self.market(symbol)
        order_id = opt_int(params, "orderId")
        client_id = opt_str(params, "origClientOrderId")
        if order_id is None and client_id is None:
            raise VenueError(
                -1102,
                "Param 'orderId' or 'origClientOrderId' must be sent, but both were empty/null!",
            )
        candidates = [
            o
            for o in self.orders.values()
            if o.api_key == acct.api_key
            and o.symbol == symbol
            and (order_id is None or o.order_id == order_id)
            and (client_id is None or o.client_order_id == client_id)
        ]
        if not candidates:
            raise VenueError(-2013, "Order does not exist.")
        return max(candidates, key=lambda o: (o.open, o.order_id))

    def query_order(self, account: Account | None, params: Mapping[str, str]) -> dict[str, Any]:
        return self._find_order(_acct(account), params).to_json()

    def cancel_order(self, account: Account | None, params: Mapping[str, str]) -> dict[str, Any]:
        acct = _acct(account)
        try:
            order = self._find_order(acct, params)
        except VenueError as e:
            if e.code == -2013:
                raise VenueError(-2011, "Unknown order sent.") from None
            raise
        if not order.open:
            raise VenueError(-2011, "Unknown order sent.")
        self._finish(acct, order, "CANCELED")
        return order.to_json()

    def open_orders(
        self, account: Account | None, params: Mapping[str, str]
    ) -> list[dict[str, Any]]:
        acct = _acct(account)
        symbol = opt_str(params, "symbol")
        if symbol is not None:
            self.market(symbol)
        return [
            o.to_json()
            for o in self.orders.values()
            if o.open and o.api_key == acct.api_key and (symbol is None or o.symbol == symbol)
        ]

    def all_orders(
        self, account: Account | None, params: Mapping[str, str]
    ) -> list[dict[str, Any]]:
        acct = _acct(account)
        symbol = req_str(params, "symbol")
        self.market(symbol)
        limit = opt_int(params, "limit", 1, 1000) or 500
        start = opt_int(params, "orderId") or 0
        rows = [
            o.to_json()
            for o in self.orders.values()
            if o.api_key == acct.api_key and o.symbol == symbol and o.order_id >= start
        ]
        return rows[:limit]

    def cancel_all_open_orders(
        self, account: Account | None, params: Mapping[str, str]
    ) -> dict[str, Any]:
        acct = _acct(account)
        symbol = req_str(params, "symbol")
        self.market(symbol)
        for o in list(self.orders.values()):
            if o.open and o.api_key == acct.api_key and o.symbol == symbol and o.algo_id is None:
                self._finish(acct, o, "CANCELED")
        return {"code": 200, "msg": "The operation of cancel all open order is done."}

    def batch_orders(
        self, account: Account | None, params: Mapping[str, str]
    ) -> list[dict[str, Any]]:
        raw = req_str(params, "batchOrders")
        try:
            items = json.loads(raw)
        except ValueError:
            raise VenueError(-1130, "Data sent for parameter 'batchOrders' is not valid.") from None
        if not isinstance(items, list) or not 1 <= len(items) <= 5:
            raise VenueError(
                -1130, "Data sent for parameter 'batchOrders' is not valid: 1 to 5 orders."
            )
        out: list[dict[str, Any]] = []
        for item in items:
            if not isinstance(item, dict) or not all(isinstance(v, str) for v in item.values()):
                out.append(
                    {"code": -1130, "msg": "Data sent for parameter 'batchOrders' is not valid."}
                )
                continue
            try:
                out.append(self.new_order(account, item))
            except VenueError as e:
                out.append(e.body())
        return out

    def user_trades(
        self, account: Account | None, params: Mapping[str, str]
    ) -> list[dict[str, Any]]:
        acct = _acct(account)
        symbol = req_str(params, "symbol")
        self.market(symbol)
        limit = opt_int(params, "limit", 1, 1000) or 500
        f = format_decimal
        return [
            {
                "buyer": t.side is Side.BUY,
                "commission": f(t.commission),
                "commissionAsset": "USDT",
                "id": t.trade_id,
                "maker": t.maker,
                "orderId": t.order_id,
                "price": f(t.price),
                "qty": f(t.qty),
                "quoteQty": f(t.quote_qty),
                "realizedPnl": f(t.realized_pnl),
                "side": t.side.value,
                "positionSide": t.position_side.value,
                "symbol": t.symbol,
                "time": t.time,
            }
            for t in acct.trades
            if t.symbol == symbol
        ][-limit:]

    # -- algo orders (the Algo Service) --------------------------------------------------

    def new_algo_order(self, account: Account | None, params: Mapping[str, str]) -> dict[str, Any]:
        return self.algo.new_algo_order(_acct(account), params)

    def query_algo_order(
        self, account: Account | None, params: Mapping[str, str]
    ) -> dict[str, Any]:
        return self.algo.query_algo_order(_acct(account), params)

    def cancel_algo_order(
        self, account: Account | None, params: Mapping[str, str]
    ) -> dict[str, Any]:
        return self.algo.cancel_algo_order(_acct(account), params)

    def open_algo_orders(
        self, account: Account | None, params: Mapping[str, str]
    ) -> list[dict[str, Any]]:
        return self.algo.open_algo_orders(_acct(account), params)

    def all_algo_orders(
        self, account: Account | None, params: Mapping[str, str]
    ) -> list[dict[str, Any]]:
        return self.algo.all_algo_orders(_acct(account), params)

    def cancel_all_algo_open_orders(
        self, account: Account | None, params: Mapping[str, str]
    ) -> dict[str, Any]:
        return self.algo.cancel_all_algo_open_orders(_acct(account), params)

    # -- listen keys ---------------------------------------------------------------------

    def listen_key_create(
        self, account: Account | None, params: Mapping[str, str]
    ) -> dict[str, Any]:
        """An active key is returned again and extended by 60 minutes (USD-M user-data docs)."""
        acct = _acct(account)
        now = self.now_ms()
        if acct.listen_key is None or acct.listen_key_expires_ms <= now:
            acct.listen_key = secrets.token_urlsafe(48)[:64]
        acct.listen_key_expires_ms = now + LISTEN_KEY_VALIDITY_MS
        return {"listenKey": acct.listen_key}

    def listen_key_keepalive(
        self, account: Account | None, params: Mapping[str, str]
    ) -> dict[str, Any]:
        acct = _acct(account)
        if acct.listen_key is None or acct.listen_key_expires_ms <= self.now_ms():
            raise VenueError(-1125, "This listenKey does not exist.")
        acct.listen_key_expires_ms = self.now_ms() + LISTEN_KEY_VALIDITY_MS
        return {"listenKey": acct.listen_key}

    def listen_key_close(
        self, account: Account | None, params: Mapping[str, str]
    ) -> dict[str, Any]:
        acct = _acct(account)
        acct.listen_key = None
        acct.listen_key_expires_ms = 0
        return {}

    def expire_listen_key(self, acct: Account) -> None:
        """Send ``listenKeyExpired`` and forget the key (also the fault-injection entry point)."""
        if acct.listen_key is None:
            return
        key, acct.listen_key, acct.listen_key_expires_ms = acct.listen_key, None, 0
        self.emit(
            acct.api_key, {"e": "listenKeyExpired", "E": str(self.now_ms()), "listenKey": key}
        )

    # -- prices and time -----------------------------------------------------------------

    def on_price(self, step: Any, last: Decimal | None = None, mark: Decimal | None = None) -> None:
        """Apply a price step — ``on_price(symbol, last=, mark=)`` or ``on_price(PriceStep)`` —
        resting limits fill on the last trade, then triggers fire."""
        if isinstance(step, str):
            symbol = step
        else:
            symbol, last, mark = step.symbol, step.last, step.mark
        m = self.market(symbol)
        if last is not None:
            m.last = last
            for order_id in m.resting.fire(m.units(last)):
                order = self.orders[order_id]
                acct = self.accounts[order.api_key]
                self._fill(acct, order, order.price, order.qty - order.executed, maker=True)
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
                    "a": now,
                    "p": format_decimal(m.last),
                    "q": "1",
                    "f": now,
                    "l": now,
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
        for order in list(self.orders.values()):
            if order.open and order.time_in_force == "GTD" and 0 < order.good_till_date <= now:
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
            _new_client_id(),
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
        self.emit(acct.api_key, order_trade_update(order, now, "NEW"))
        self._fill(acct, order, price or m.last, qty, maker=False)
        self._account_changed(acct, {symbol})
        return order

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


def _acct(account: Account | None) -> Account:
    if account is None:  # the HTTP layer authenticates first; this is a programming error guard
        raise VenueError(-2014, "API-key format invalid.")
    return account


def _new_client_id() -> str:
    return "venue-" + secrets.token_hex(8)


def _mid(rules: Any) -> Decimal:
    """A start price on the symbol's grid for symbols without a configured one."""
    pf = rules.price_filter
    return pf.min_price + pf.tick_size * 1000 if pf else Decimal(1)
