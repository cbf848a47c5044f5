"""Matching, balances and the trigger engine of the Spot venue.

Prices (reference 3.1, trigger-semantics 2b): stops trigger on the last trade; a STOP_LOSS* SELL /
TAKE_PROFIT* BUY fires when last <= stopPrice, a STOP_LOSS* BUY / TAKE_PROFIT* SELL when
last >= stopPrice (equality fires). Trailing orders (``trailingDelta`` in BIPS) live in the
domain's :class:`~exitguard.domain.trailing_book.TrailingBook`: with stopPrice they start
tracking on the first trade that meets the stop condition, without it at placement from the last
price (FAQ scenario E), and fire on ``p <= H*(1-d/10000)`` (SELL) / ``p >= L*(1+d/10000)`` (BUY).

Matching: taking orders walk a synthetic book around the last trade (best bid/ask one tick away,
:class:`~exitguard.venue.usdm.book.SyntheticBook`); resting limit orders fill at their own price
when a trade prints at or through it, up to the trade's quantity when the feed gives one (so a
leg can fill partially), otherwise in full.

Balances: placing an order locks what it may spend. SELL locks the base quantity; BUY locks
``price x qty x (1 + highest fee rate)`` of the quote asset (for STOP_LOSS/TAKE_PROFIT BUY, which
execute as MARKET, the stopPrice, or the last price for a trailing order without one, stands in
for the price). Fees are charged in the quote asset on every fill (the brief's rule; Binance
charges a buyer in the base asset). Binance does not say how much quote a BUY market stop locks,
or what happens when its fill costs more than that: the venue fills what the lock plus the free
balance pays for and expires the rest.

Choices where Binance does not document the event flow (UNKNOWN in the reference), each tested:
- when a STOP_LOSS_LIMIT / TAKE_PROFIT_LIMIT triggers, an ``executionReport`` with ``x=NEW``,
  ``w=true`` and ``W`` = trigger time is sent before any trade; a STOP_LOSS / TAKE_PROFIT goes
  straight to its TRADE reports (``W`` set);
- no event is sent when a trailing order starts tracking; ``D`` (``trailingTime``) carries that
  time from then on.
"""

from __future__ import annotations

from decimal import ROUND_FLOOR, Decimal

from exitguard.domain.enums import Side
from exitguard.domain.requests import SpotOrderRequest
from exitguard.domain.triggers import TriggerDirection, condition_holds, trigger_direction

from ..usdm.base import new_client_id
from .accounts import SpotAccount, SpotFill, q8, q8_up
from .base import SpotBase, rejected
from .market import SpotMarket
from .records import MARKET_EXECUTING, STOP_TYPES, SpotOrder, execution_report, f8

__all__ = ["LIMIT_PRICED", "SpotEngine"]

ZERO = Decimal(0)
LIMIT_PRICED = frozenset({"LIMIT", "LIMIT_MAKER", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"})
_BIPS = 10_000


class SpotEngine(SpotBase):
    # -- locks -----------------------------------------------------------------------------

    def lock_need(
        self, m: SpotMarket, side: Side, type_: str, qty: Decimal, price: Decimal, stop: Decimal
    ) -> Decimal:
        """What an order of ``qty`` must lock (see the module docstring)."""
        if side is Side.SELL:
            return qty
        ref = price if type_ in LIMIT_PRICED else (stop or m.last)
        return q8_up(ref * qty * (1 + self.fees.highest))

    def _release(self, acct: SpotAccount, order: SpotOrder) -> bool:
        if order.locked <= 0:
            return False
        acct.unlock(order.lock_asset, order.locked)
        order.locked = ZERO
        return True

    # -- records and events ----------------------------------------------------------------

    def make_order(
        self,
        acct: SpotAccount,
        m: SpotMarket,
        req: SpotOrderRequest,
        *,
        client_id: str | None = None,
        list_id: int = -1,
        status: str = "NEW",
    ) -> SpotOrder:
        """A record for a validated request (not yet registered). Spot answers ``GTC`` as the
        ``timeInForce`` of orders that take none."""
        now = self.now_ms()
        rules = m.rules
        return SpotOrder(
            order_id=next(self._order_ids),
            client_order_id=client_id or req.new_client_order_id or new_client_id(),
            api_key=acct.api_key,
            symbol=rules.symbol,
            side=req.side,
            type=req.type.value,
            time_in_force=req.time_in_force.value if req.time_in_force else "GTC",
            qty=req.quantity or ZERO,
            price=req.price or ZERO,
            time=now,
            base_asset=rules.base_asset,
            quote_asset=rules.quote_asset,
            stop_price=req.stop_price or ZERO,
            trailing_delta=req.trailing_delta,
            # Without stopPrice a trailing order tracks from placement: D is set at once.
            trailing_time=now if req.trailing_delta is not None and req.stop_price is None else -1,
            iceberg_qty=req.iceberg_qty or ZERO,
            quote_order_qty=req.quote_order_qty or ZERO,
            strategy_id=req.strategy_id,
            strategy_type=req.strategy_type,
            stp_mode=(
                req.self_trade_prevention_mode.value
                if req.self_trade_prevention_mode
                else self.default_stp(rules.symbol)
            ),
            order_list_id=list_id,
            status=status,
            # A non-stop order works from placement (Binance: workingTime = transactTime).
            working_time=now if status == "NEW" and req.type.value not in STOP_TYPES else -1,
        )

    def default_stp(self, symbol: str) -> str:
        for s in self._exchange_info.get("symbols", ()):
            if s.get("symbol") == symbol:
                return str(s.get("defaultSelfTradePreventionMode", "NONE"))
        return "NONE"

    def check_duplicate(self, acct: SpotAccount, client_ids: list[str]) -> None:
        """A client id may be reused only once its order is no longer open (reference 3.1)."""
        open_ids = {o.client_order_id for o in self.open_orders_of(acct.api_key)}
        if len(set(client_ids)) != len(client_ids) or open_ids.intersection(client_ids):
            raise rejected("Duplicate order sent.")

    def check_funds(self, acct: SpotAccount, asset: str, amount: Decimal) -> None:
        if amount > acct.free(asset):
            raise rejected("Account has insufficient balance for requested action.")

    def check_maker(self, m: SpotMarket, order: SpotOrder) -> None:
        if order.type != "LIMIT_MAKER":
            return
        bid, ask = m.book.best(m.last)
        if order.price >= ask if order.side is Side.BUY else order.price <= bid:
            raise rejected("Order would immediately match and take.")

    def market_cost(self, m: SpotMarket, order: SpotOrder) -> Decimal:
        """What a MARKET BUY of ``qty`` costs against the book now, fee included."""
        cost = sum((q8(p * q) for p, q in m.book.walk(m.last, Side.BUY, order.qty)), ZERO)
        return cost + q8(cost * self.fees.taker)

    def register(self, acct: SpotAccount, order: SpotOrder, lock: Decimal) -> None:
        """Accept a validated order: lock its funds, index it (no event yet)."""
        order.lock_asset = order.quote_asset if order.side is Side.BUY else order.base_asset
        order.update_time = order.time
        if lock > 0:
            acct.lock(order.lock_asset, lock)
            order.locked = lock
        self.orders[order.order_id] = order
        self.track_open(order)

    def report(
        self, acct: SpotAccount, order: SpotOrder, execution_type: str, **kw: object
    ) -> None:
        event = execution_report(
            order,
            self.now_ms(),
            execution_type,
            execution_id=next(self._execution_ids),
            **kw,  # type: ignore[arg-type]
        )
        self.emit(acct.api_key, event)

    # -- working an order ------------------------------------------------------------------

    def work(self, acct: SpotAccount, order: SpotOrder) -> None:
        """Start an accepted order: stops wait in a trigger book, others execute at once."""
        m = self.markets[order.symbol]
        now = self.now_ms()
        if order.is_stop:
            if order.trailing_delta is not None:
                activation: tuple[TriggerDirection, int] | None = None
                if order.stop_price:
                    direction = trigger_direction(order.type, order.side)
                    activation = (direction, m.units(order.stop_price))
                else:
                    order.trailing_time = now  # tracking starts from the placement trade
                m.trailing.add(
                    order.order_id,
                    order.side,
                    order.trailing_delta,
                    _BIPS,
                    m.units(m.last),
                    activation,
                )
                return
            direction = trigger_direction(order.type, order.side)
            if condition_holds(direction, m.last, order.stop_price):
                # Only a pending OTO/OTOCO leg released after the price moved gets here
                # (placement refuses it with -2010): it triggers at once, an exit is never lost.
                self.trigger(acct, order)
                return
            m.stops.add(order.order_id, direction, m.units(order.stop_price))
            return
        order.working_time = now
        self.execute(acct, order)

    def trigger(self, acct: SpotAccount, order: SpotOrder) -> None:
        """A stop's condition held: it becomes a working MARKET or LIMIT order (same id)."""
        if not order.open or order.triggered:
            return
        m = self.markets[order.symbol]
        m.stops.remove(order.order_id)
        m.trailing.remove(order.order_id)
        order.working_time = self.now_ms()
        self._leg_started(acct, order)
        if not order.open:
            return
        if order.type not in MARKET_EXECUTING:
            self.report(acct, order, "NEW")
        self.execute(acct, order)

    def execute(self, acct: SpotAccount, order: SpotOrder) -> None:
        """Run a working order against the book; rest what a GTC limit order leaves."""
        m = self.markets[order.symbol]
        if order.type in MARKET_EXECUTING:
            self.take(acct, order, m, None)
            if order.open:
                self.finish(acct, order, "EXPIRED")
            return
        bid, ask = m.book.best(m.last)
        marketable = order.price >= ask if order.side is Side.BUY else order.price <= bid
        if order.type == "LIMIT_MAKER" and marketable:
            # Placement refuses this with -2010; a pending leg released later is expired
            # with Binance's reason for "a contingent or OTO leg rejected when placed".
            self.finish(acct, order, "EXPIRED", reason="REJECTED")
            return
        tif = order.time_in_force
        if tif == "FOK":
            depth = m.book.walk(m.last, order.side, order.left, order.price)
            if sum((q for _, q in depth), ZERO) < order.left:
                self.finish(acct, order, "EXPIRED", reason="UNFILLED_FOK_ORDER_EXPIRED")
                return
        if marketable:
            self.take(acct, order, m, order.price)
        if not order.open:
            return
        if tif in ("IOC", "FOK"):
            self.finish(acct, order, "EXPIRED", reason="UNFILLED_IOC_QUANTITY_EXPIRED")
            return
        self._rest(m, order)

    @staticmethod
    def _rest(m: SpotMarket, order: SpotOrder) -> None:
        direction = TriggerDirection.FALLING if order.side is Side.BUY else TriggerDirection.RISING
        m.resting.add(order.order_id, direction, m.units(order.price))

    # -- taking liquidity ------------------------------------------------------------------

    def take(
        self, acct: SpotAccount, order: SpotOrder, m: SpotMarket, limit: Decimal | None
    ) -> None:
        if order.type == "MARKET" and order.quote_order_qty and not order.qty:
            fills = self._quote_fills(acct, m, order)
            order.qty = sum((q for _, q in fills), ZERO)
        else:
            fills = m.book.walk(m.last, order.side, order.left, limit)
        if order.side is Side.BUY:
            fills = self._affordable(acct, order, m, fills)
        for price, qty in fills:
            if order.open:
                self.fill(acct, order, price, qty, maker=False)

    def _affordable(
        self,
        acct: SpotAccount,
        order: SpotOrder,
        m: SpotMarket,
        fills: list[tuple[Decimal, Decimal]],
    ) -> list[tuple[Decimal, Decimal]]:
        """The prefix of a BUY's fills that its lock plus the free quote balance pays for."""
        funds = acct.free(order.quote_asset)
        if order.lock_asset == order.quote_asset:
            funds += order.locked
        rate = 1 + self.fees.taker
        out: list[tuple[Decimal, Decimal]] = []
        for price, qty in fills:
            cost = q8(price * qty)
            total = cost + q8(cost * self.fees.taker)
            if total <= funds:
                out.append((price, qty))
                funds -= total
                continue
            fit = _floor_step(funds / (price * rate), m.step)
            while fit > 0 and (c := q8(price * fit)) + q8(c * self.fees.taker) > funds:
                fit -= m.step
            if fit > 0:
                out.append((price, fit))
            break
        return out

    def _quote_fills(
        self, acct: SpotAccount, m: SpotMarket, order: SpotOrder
    ) -> list[tuple[Decimal, Decimal]]:
        """Fills of a MARKET order given in ``quoteOrderQty``: spend (BUY) or receive (SELL) up
        to that much quote, in whole steps; a SELL never sells more base than is free."""
        left = order.quote_order_qty
        base_left = acct.free(order.base_asset) if order.side is Side.SELL else None
        out: list[tuple[Decimal, Decimal]] = []
        for price, avail in m.book.levels(m.last, order.side):
            qty = min(avail, _floor_step(left / price, m.step))
            if base_left is not None:
                qty = min(qty, base_left)
                base_left -= qty
            if qty <= 0:
                break
            out.append((price, qty))
            left -= price * qty
            if qty < avail:
                break
        return out

    # -- fills and endings -----------------------------------------------------------------

    def fill(
        self, acct: SpotAccount, order: SpotOrder, price: Decimal, qty: Decimal, maker: bool
    ) -> None:
        """One execution: settle balances (fee in quote), report, end the order when filled."""
        if order.executed == 0:
            self._leg_started(acct, order)
        now = self.now_ms()
        base, quote = order.base_asset, order.quote_asset
        cost = q8(price * qty)
        fee = q8(cost * (self.fees.maker if maker else self.fees.taker))
        left = order.left
        release = (
            order.locked if qty >= left else min(order.locked, q8_up(order.locked * qty / left))
        )
        acct.unlock(order.lock_asset, release)
        order.locked -= release
        b_base, b_quote = acct.balance(base), acct.balance(quote)
        if order.side is Side.BUY:
            b_quote.free -= cost + fee
            b_base.free += qty
        else:
            b_base.free -= qty
            b_quote.free += cost - fee
        order.executed += qty
        order.cum_quote += cost
        order.update_time = now
        done = order.executed >= order.qty
        order.status = "FILLED" if done else "PARTIALLY_FILLED"
        fill = SpotFill(
            next(self._trade_ids),
            order.order_id,
            order.order_list_id,
            order.symbol,
            order.side,
            price,
            qty,
            cost,
            fee,
            quote,
            maker,
            now,
        )
        acct.trades.append(fill)
        if done:
            self._close(acct, order)
        self.report(acct, order, "TRADE", fill=fill)
        self.account_changed(acct, {base, quote})
        if done:
            self._order_done(acct, order)

    def _close(self, acct: SpotAccount, order: SpotOrder) -> None:
        m = self.markets[order.symbol]
        m.resting.remove(order.order_id)
        m.stops.remove(order.order_id)
        m.trailing.remove(order.order_id)
        self._release(acct, order)  # rounding dust of a filled BUY's lock
        self.untrack_open(order)

    def finish(
        self,
        acct: SpotAccount,
        order: SpotOrder,
        status: str,
        *,
        reason: str | None = None,
        cancel_client_id: str = "",
        notify: bool = True,
    ) -> None:
        """End an open order (CANCELED by the user, EXPIRED by the exchange) and free its lock.

        ``notify=False`` when order-list logic ends it, so the list is not told twice.
        """
        if not order.open:
            return
        had_lock = order.locked > 0
        self._close(acct, order)
        order.status = status
        order.expiry_reason = reason if status == "EXPIRED" else None
        order.update_time = self.now_ms()
        execution = "CANCELED" if status == "CANCELED" else "EXPIRED"
        self.report(acct, order, execution, cancel_client_id=cancel_client_id)
        if had_lock:
            self.account_changed(acct, {order.lock_asset})
        if notify:
            self._order_done(acct, order)

    # -- prices ----------------------------------------------------------------------------

    def on_trade(self, symbol: str, last: Decimal, qty: Decimal | None = None) -> None:
        """A trade at ``last`` (of ``qty`` when known): resting limits fill, then stops fire,
        then trailing orders track and fire (each in the books' path order)."""
        m = self.market(symbol)
        m.last = m.snap(last)
        now = self.now_ms()
        units = m.units(m.last)
        self._emit_trade(m, qty, now)
        budget = qty
        for oid in m.resting.fire(units):
            order = self.orders[oid]
            if not order.open:
                continue
            take = order.left if budget is None else min(order.left, budget)
            if take > 0:
                self.fill(self.accounts[order.api_key], order, order.price, take, maker=True)
                if budget is not None:
                    budget -= take
            if order.open and oid not in m.resting:
                self._rest(m, order)  # the trade's quantity ran out: it keeps resting
        for oid in m.stops.fire(units):
            order = self.orders[oid]
            self.trigger(self.accounts[order.api_key], order)
        update = m.trailing.on_price(units)
        for oid in update.activated:
            self.orders[oid].trailing_time = now
        for oid in update.fired:
            order = self.orders[oid]
            self.trigger(self.accounts[order.api_key], order)

    def _emit_trade(self, m: SpotMarket, qty: Decimal | None, now: int) -> None:
        symbol = m.rules.symbol
        trade_id = next(self._trade_ids)
        m.tape.record(now, m.last, qty if qty else Decimal(1), trade_id)
        shown = f8(qty if qty else Decimal(1))
        price = f8(m.last)
        self._emit_market(
            "trade",
            symbol,
            {"e": "trade", "E": now, "s": symbol, "t": trade_id, "p": price, "q": shown,
             "T": now, "m": False, "M": True},
        )  # fmt: skip
        self._emit_market(
            "aggTrade",
            symbol,
            {"e": "aggTrade", "E": now, "s": symbol, "a": trade_id, "p": price, "q": shown,
             "f": trade_id, "l": trade_id, "T": now, "m": False, "M": True},
        )  # fmt: skip
        self._emit_market("bookTicker", symbol, self.book_ticker_event(m, trade_id))

    @staticmethod
    def book_ticker_event(m: SpotMarket, update_id: int) -> dict[str, object]:
        bid, ask = m.book.best(m.last)
        bids, asks = m.book.levels(m.last, Side.SELL), m.book.levels(m.last, Side.BUY)
        return {
            "u": update_id,
            "s": m.rules.symbol,
            "b": f8(bid),
            "B": f8(bids[0][1]) if bids else f8(ZERO),
            "a": f8(ask),
            "A": f8(asks[0][1]) if asks else f8(ZERO),
        }


def _floor_step(value: Decimal, step: Decimal) -> Decimal:
    if step <= 0:
        return value
    return (value / step).to_integral_value(rounding=ROUND_FLOOR) * step
