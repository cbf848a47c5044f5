"""Regular orders of the USD-M venue: placement, matching against the synthetic book, queries."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from exitguard.domain.check import OrderKind, check_order
from exitguard.domain.enums import ALGO_ORDER_TYPES, PositionMode, PositionSide, Side
from exitguard.domain.numbers import format_decimal
from exitguard.domain.requests import FuturesOrderRequest
from exitguard.domain.triggers import TriggerDirection
from exitguard.domain.validation import MarketContext

from ..errors import VenueError
from ..safe_json import loads_bounded
from .accounts import Account, Fill
from .base import ZERO, ExchangeBase, new_client_id, require_account
from .closing import EXPIRY_WOULD_REVERSE, closed_through_zero, is_hedge_close, reduces_only
from .market import SymbolMarket
from .params import opt_int, opt_str, req_str
from .records import Order, account_update, order_trade_update

__all__ = ["OrderEndpoints"]


class OrderEndpoints(ExchangeBase):
    def market_context(self, acct: Account, m: SymbolMarket) -> MarketContext:
        open_on_symbol = sum(
            1 for o in self.open_orders_of(acct.api_key) if o.symbol == m.rules.symbol
        ) + self.algo.open_count(acct, m.rules.symbol)
        return MarketContext(
            last_price=m.last,
            mark_price=m.mark,
            now_ms=self.now_ms(),
            position_mode=PositionMode.HEDGE if acct.dual_side else PositionMode.ONE_WAY,
            open_orders=open_on_symbol,
            open_algo_orders=self.algo.open_count(acct),
        )

    def checked(
        self, kind: OrderKind, acct: Account, m: SymbolMarket, params: Mapping[str, str]
    ) -> Any:
        """The request ``params`` describe, validated by the same domain rules the client uses
        (``check_order`` without quantising: the venue takes what it is sent); the first
        violation is the venue's answer."""
        result = check_order(
            kind, params, self.rules, self.market_context(acct, m), self.dialect, quantize=False
        )
        if result.violations:
            raise VenueError.from_violation(result.violations[0])
        return result.request

    def new_order(self, account: Account | None, params: Mapping[str, str]) -> dict[str, Any]:
        """``POST /fapi/v1/order``: LIMIT and MARKET; the conditional five answer -4120 (binance)."""
        acct = require_account(account)
        m = self.market(req_str(params, "symbol"))
        if (
            params.get("type") in ALGO_ORDER_TYPES
            and self.dialect.conditional_types_on_order_endpoint
        ):
            return self.algo.from_order_endpoint(acct, params)
        req: FuturesOrderRequest = self.checked(OrderKind.USDM, acct, m, params)
        client_id = req.new_client_order_id or new_client_id()
        if any(o.client_order_id == client_id for o in self.open_orders_of(acct.api_key)):
            raise VenueError(-4116, "ClientOrderId is duplicated.")
        assert req.quantity is not None
        position_side = req.position_side or PositionSide.BOTH
        qty = self._reduce_only_qty(
            acct,
            req.symbol,
            req.side,
            position_side,
            req.quantity,
            bool(req.reduce_only) or is_hedge_close(req.side, position_side),
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
        return order.ack_json()

    def _reduce_only_qty(
        self,
        acct: Account,
        symbol: str,
        side: Side,
        position_side: PositionSide,
        qty: Decimal,
        reduce_only: bool,
    ) -> Decimal:
        """Reduce-only orders (and hedge-mode closes) are clamped to the position at placement;
        with nothing to reduce they are refused with -2022 (Binance REDUCE_ONLY_REJECT). The
        clamp is applied again at every fill (:meth:`_fill`)."""
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
        self.track_open(order)
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
            self.untrack_open(order)
            raise VenueError(
                -5022,
                "Due to the order could not be executed as maker, the Post Only order will be rejected.",
            )
        if tif == "FOK":
            fills = m.book.walk(m.last, order.side, order.qty, order.price)
            if sum((q for _, q in fills), ZERO) < order.qty:
                del self.orders[order.order_id]
                self.untrack_open(order)
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
        filled = ZERO
        for price, qty in m.book.walk(m.last, order.side, left, limit):
            if not order.open:  # a reduce-only order expired by its clamp (see _fill)
                break
            filled += self._fill(acct, order, price, qty, maker=False)
        if filled:
            self._account_changed(acct, {order.symbol})

    def _fill(
        self, acct: Account, order: Order, price: Decimal, qty: Decimal, maker: bool
    ) -> Decimal:
        """Execute up to ``qty`` of ``order`` at ``price``; answer the quantity executed.

        Every fill passes here, so this is where an order that may only reduce is held to the
        position it reduces at FILL time (:mod:`.closing`): clamped to it, expired (``er=4``)
        when nothing is left — never a flip, whatever happened since placement."""
        now = self.now_ms()
        pos = acct.position(order.symbol, order.position_side)
        if reduces_only(order):
            qty = min(qty, pos.reducible(order.side))
            if qty <= 0:
                if order.open:
                    self._finish(acct, order, "EXPIRED", reason=EXPIRY_WOULD_REVERSE)
                return ZERO
        before = pos.amount
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
            self.untrack_open(order)
            self._order_done(acct, order)
        if closed_through_zero(before, pos.amount):
            self._position_closed(acct, order.symbol, order.position_side)
        return qty

    def _position_closed(self, acct: Account, symbol: str, position_side: PositionSide) -> None:
        """The position went flat (or flipped): resting orders that may only reduce and have
        nothing left to reduce EXPIRE now (``er=4``; the venue's choice, see :mod:`.closing`),
        including the remainder of a clamped order; closePosition algo orders expire too."""
        pos = acct.position(symbol, position_side)
        for o in self.open_orders_of(acct.api_key):
            if (
                o.symbol == symbol
                and o.position_side is position_side
                and reduces_only(o)
                and pos.reducible(o.side) <= 0
            ):
                self._finish(acct, o, "EXPIRED", reason=EXPIRY_WOULD_REVERSE)
        self.algo.position_closed(acct, symbol, position_side)

    def _finish(self, acct: Account, order: Order, status: str, reason: int = 0) -> None:
        order.status = status
        order.expiry_reason = reason
        self.untrack_open(order)
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
        return self._find_order(require_account(account), params).to_json()

    def cancel_order(self, account: Account | None, params: Mapping[str, str]) -> dict[str, Any]:
        acct = require_account(account)
        try:
            order = self._find_order(acct, params)
        except VenueError as e:
            if e.code == -2013:
                raise VenueError(-2011, "Unknown order sent.") from None
            raise
        if not order.open:
            raise VenueError(-2011, "Unknown order sent.")
        self._finish(acct, order, "CANCELED")
        return order.ack_json()

    def open_orders(
        self, account: Account | None, params: Mapping[str, str]
    ) -> list[dict[str, Any]]:
        acct = require_account(account)
        symbol = opt_str(params, "symbol")
        if symbol is not None:
            self.market(symbol)
        return [
            o.to_json()
            for o in self.open_orders_of(acct.api_key)
            if symbol is None or o.symbol == symbol
        ]

    def all_orders(
        self, account: Account | None, params: Mapping[str, str]
    ) -> list[dict[str, Any]]:
        acct = require_account(account)
        # ``symbol`` is optional from 2026-08-25 (derivatives change log; SDK 18's all_orders
        # takes symbol=None): without it, the account's orders on every symbol.
        symbol = params.get("symbol") or None
        if symbol is not None:
            self.market(symbol)
        limit = opt_int(params, "limit", 1, 1000) or 500
        start = opt_int(params, "orderId") or 0
        rows = [
            o.to_json()
            for o in self.orders.values()
            if o.api_key == acct.api_key
            and (symbol is None or o.symbol == symbol)
            and o.order_id >= start
        ]
        return rows[:limit]

    def cancel_all_open_orders(
        self, account: Account | None, params: Mapping[str, str]
    ) -> dict[str, Any]:
        acct = require_account(account)
        symbol = req_str(params, "symbol")
        self.market(symbol)
        for o in self.open_orders_of(acct.api_key):
            if o.symbol == symbol and o.algo_id is None:
                self._finish(acct, o, "CANCELED")
        return {"code": 200, "msg": "The operation of cancel all open order is done."}

    def batch_orders(
        self, account: Account | None, params: Mapping[str, str]
    ) -> list[dict[str, Any]]:
        raw = req_str(params, "batchOrders")
        try:
            # Numbers parse exactly (the official SDK sends price/quantity as JSON numbers).
            items = loads_bounded(raw)
        except ValueError:
            raise VenueError(-1130, "Data sent for parameter 'batchOrders' is not valid.") from None
        if not isinstance(items, list) or not 1 <= len(items) <= 5:
            raise VenueError(
                -1130, "Data sent for parameter 'batchOrders' is not valid: 1 to 5 orders."
            )
        out: list[dict[str, Any]] = []
        for item in items:
            order_params = _batch_item_params(item)
            if order_params is None:
                out.append(
                    {"code": -1130, "msg": "Data sent for parameter 'batchOrders' is not valid."}
                )
                continue
            try:
                out.append(self.new_order(account, order_params))
            except VenueError as e:
                out.append(e.body())
        return out

    def user_trades(
        self, account: Account | None, params: Mapping[str, str]
    ) -> list[dict[str, Any]]:
        acct = require_account(account)
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


def _batch_item_params(item: object) -> dict[str, str] | None:
    """One batchOrders entry as wire strings: strings as sent, numbers in plain decimal form,
    booleans as ``true``/``false``; anything else (objects, lists, null) is not valid."""
    if not isinstance(item, dict):
        return None
    out: dict[str, str] = {}
    for key, value in item.items():
        if isinstance(value, bool):
            out[key] = "true" if value else "false"
        elif isinstance(value, str):
            out[key] = value
        elif isinstance(value, int | Decimal):
            out[key] = format_decimal(Decimal(value))
        else:
            return None
    return out
