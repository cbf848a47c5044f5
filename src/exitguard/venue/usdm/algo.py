"""The USD-M Algo Service of the paper venue (``/fapi/v1/algoOrder`` and friends).

Lifecycle (ALGO_UPDATE page): NEW → TRIGGERING → TRIGGERED (child placed, ``actualOrderId``) →
FINISHED (child filled or cancelled); or CANCELED (user), EXPIRED (system), REJECTED (``rm``).
Choices where Binance does not document the behaviour (trigger-semantics.md 2a), each tested:
- a reduce-only order that fires with nothing to reduce is REJECTED with ``rm="Reduce Only reject"``;
- a closePosition order EXPIRES when its position goes flat (or flips), and at trigger time if
  it is flat (mirroring the documented GTE_GTC behaviour); with an open position it closes all
  of it;
- the triggered child of a reduce-only / closePosition / hedge-close order is held to the
  position at FILL time like any such order (:mod:`.closing`): a resting child whose position
  shrank fills only what is left and its remainder EXPIRES, then the algo order is FINISHED with
  ``actualQty`` = what filled;
- priceProtect: when the relative gap between mark and last exceeds the symbol's
  ``triggerProtect`` at trigger time, the order does not fire on that tick and stays armed
  (primit: accepted as a no-op, seed 003);
- the triggered child's ``clientOrderId`` is the ``clientAlgoId`` and its ``orderId`` is
  ``actualOrderId`` (correlate on ``ai``, as the reference advises).
"""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Mapping
from decimal import ROUND_FLOOR, Decimal
from typing import TYPE_CHECKING, Any

from exitguard.domain.check import OrderKind
from exitguard.domain.enums import AlgoOrderType, PositionSide, Side
from exitguard.domain.filters import FUTURES_ACCOUNT_ALGO_ORDER_LIMIT
from exitguard.domain.requests import AlgoOrderRequest
from exitguard.domain.triggers import TriggerDirection, trigger_direction

from ..errors import VenueError
from .accounts import Account
from .closing import is_hedge_close
from .params import opt_int, opt_str, req_str
from .records import AlgoOrder, Order, algo_update

if TYPE_CHECKING:
    from .exchange import UsdmExchange
    from .market import SymbolMarket

__all__ = ["AlgoService"]

ZERO = Decimal(0)
_LIMIT_TYPES = frozenset({"STOP", "TAKE_PROFIT"})


class AlgoService:
    def __init__(self, exchange: UsdmExchange) -> None:
        self.x = exchange
        self.orders: dict[int, AlgoOrder] = {}
        self._ids = itertools.count(1_000_000_000_000_001)
        # Open orders only, per account (in placement order) and by client id: counting and the
        # duplicate check stay O(open) — at most 200 per account — however long the history.
        self._open: dict[str, dict[int, AlgoOrder]] = {}
        self._open_client_ids: dict[tuple[str, str], int] = {}

    # -- counting ------------------------------------------------------------------------

    def open_orders_of(self, api_key: str) -> list[AlgoOrder]:
        return list(self._open.get(api_key, {}).values())

    def _all_open(self) -> list[AlgoOrder]:
        return [a for per_account in self._open.values() for a in per_account.values()]

    def open_count(self, acct: Account, symbol: str | None = None) -> int:
        open_orders = self._open.get(acct.api_key, {})
        if symbol is None:
            return len(open_orders)
        return sum(1 for a in open_orders.values() if a.symbol == symbol)

    # -- placement -----------------------------------------------------------------------

    def new_algo_order(self, acct: Account, params: Mapping[str, str]) -> dict[str, Any]:
        """``POST /fapi/v1/algoOrder`` — validated by the same domain rules the client uses."""
        m = self.x.market(req_str(params, "symbol"))
        algo = self._accept(acct, m, self.x.checked(OrderKind.USDM_ALGO, acct, m, params))
        return self._row(algo.new_response())

    def from_order_endpoint(self, acct: Account, params: Mapping[str, str]) -> dict[str, Any]:
        """primit: a conditional type sent to ``/fapi/v1/order`` becomes an algo order, with its
        legacy names (``stopPrice``, ``activationPrice``, ``newClientOrderId``)."""
        renamed = {
            "stopPrice": "triggerPrice",
            "activationPrice": "activatePrice",
            "newClientOrderId": "clientAlgoId",
        }
        algo_params = {renamed.get(k, k): v for k, v in params.items()}
        algo_params["algoType"] = "CONDITIONAL"
        return self.new_algo_order(acct, algo_params)

    def _accept(self, acct: Account, m: SymbolMarket, req: AlgoOrderRequest) -> AlgoOrder:
        client_id = req.client_algo_id or ("venue-" + secrets.token_hex(8))
        if (acct.api_key, client_id) in self._open_client_ids:
            raise VenueError(-4116, "ClientOrderId is duplicated.")
        if self.open_count(acct) >= FUTURES_ACCOUNT_ALGO_ORDER_LIMIT:
            raise VenueError(self.x.dialect.algo_limit_code, "Reach max stop order limit.")
        quantity = req.quantity
        activate_price = req.activate_price
        if (
            activate_price is None
            and req.type is AlgoOrderType.TRAILING_STOP_MARKET
            and self.x.dialect.trailing_default_activation == "mark"
        ):
            activate_price = m.source_price("MARK_PRICE")
        if req.quote_order_qty is not None:  # primit: convert at the type's reference price
            quantity = self._quote_to_base(m, req)
        tif = req.time_in_force.value if req.time_in_force else "GTC"
        if self.x.dialect.coerce_time_in_force_to_gtc and tif not in ("GTC", "GTD"):
            tif = "GTC"
        now = self.x.now_ms()
        algo = AlgoOrder(
            algo_id=next(self._ids),
            client_algo_id=client_id,
            api_key=acct.api_key,
            symbol=req.symbol,
            side=req.side,
            position_side=req.position_side or PositionSide.BOTH,
            type=req.type.value,
            time_in_force=tif,
            quantity=quantity,
            price=req.price,
            trigger_price=req.trigger_price,
            working_type=req.working_type.value if req.working_type else "CONTRACT_PRICE",
            price_match=req.price_match.value if req.price_match else "NONE",
            close_position=bool(req.close_position),
            price_protect=bool(req.price_protect),
            reduce_only=bool(req.reduce_only),
            activate_price=activate_price,
            callback_rate=req.callback_rate,
            good_till_date=req.good_till_date or 0,
            stp_mode=(
                req.self_trade_prevention_mode.value
                if req.self_trade_prevention_mode
                else "EXPIRE_MAKER"
            ),
            create_time=now,
            update_time=now,
        )
        self.orders[algo.algo_id] = algo
        self._open.setdefault(acct.api_key, {})[algo.algo_id] = algo
        self._open_client_ids[(acct.api_key, client_id)] = algo.algo_id
        self._arm(m, algo)
        self.x.emit(acct.api_key, algo_update(algo, now))
        return algo

    def _quote_to_base(self, m: SymbolMarket, req: AlgoOrderRequest) -> Decimal:
        """seed 003: price for STOP/TAKE_PROFIT, triggerPrice for *_MARKET, activatePrice or mark
        for trailing; floored to the lot; below one lot → -1013 Filter failure: LOT_SIZE."""
        assert req.quote_order_qty is not None
        if req.type.value in _LIMIT_TYPES:
            ref = req.price
        elif req.type is AlgoOrderType.TRAILING_STOP_MARKET:
            ref = req.activate_price or m.mark
        else:
            ref = req.trigger_price
        lot = m.rules.lot_size
        if ref is None or not ref > 0 or lot is None or not lot.step_size > 0:
            # seed 003: "-2010 ... reference price unavailable" (e.g. no mark price yet).
            raise VenueError(
                self.x.dialect.reference_price_code,
                f"quoteOrderQty cannot be converted: no reference price for {req.type}.",
            )
        steps = (req.quote_order_qty / ref / lot.step_size).to_integral_value(rounding=ROUND_FLOOR)
        qty = steps * lot.step_size
        if qty < lot.min_qty or qty <= 0:
            raise VenueError(-1013, "Filter failure: LOT_SIZE")
        return qty

    def _arm(self, m: SymbolMarket, algo: AlgoOrder) -> None:
        """Put the order into its trigger book (static heaps, or the trailing book)."""
        source = algo.working_type
        if algo.type == "TRAILING_STOP_MARKET":
            assert algo.callback_rate is not None
            num, den = algo.callback_rate.as_integer_ratio()  # percent → fraction num/(den*100)
            activation = None
            if algo.activate_price is not None:
                direction = (
                    TriggerDirection.RISING if algo.side is Side.SELL else TriggerDirection.FALLING
                )
                activation = (direction, m.units(algo.activate_price))
            reference = m.units(m.source_price(source))
            m.trailing[source].add(algo.algo_id, algo.side, num, den * 100, reference, activation)
            if activation is None:
                algo.activated = True
            return
        assert algo.trigger_price is not None
        direction = trigger_direction(algo.type, algo.side)
        m.static[source].add(algo.algo_id, direction, m.units(algo.trigger_price))

    def _disarm(self, algo: AlgoOrder) -> None:
        m = self.x.markets[algo.symbol]
        m.static[algo.working_type].remove(algo.algo_id)
        m.trailing[algo.working_type].remove(algo.algo_id)

    def _row(self, row: dict[str, Any]) -> dict[str, Any]:
        """An algo row in the dialect's shape: primit writes the trigger fields an order type
        does not use as JSON null (seed 003 response example: ``"activatePrice": null``)."""
        if self.x.dialect.null_absent_trigger_fields:
            trailing = row.get("orderType") == "TRAILING_STOP_MARKET"
            for key in ("activatePrice", "callbackRate") if not trailing else ("triggerPrice",):
                row[key] = None
            for key in ("activatePrice", "callbackRate", "triggerPrice"):
                if row.get(key) == "":
                    row[key] = None
        return row

    # -- queries and cancels -------------------------------------------------------------

    def _find(
        self, acct: Account, params: Mapping[str, str], missing: tuple[int, str]
    ) -> AlgoOrder:
        algo_id = opt_int(params, "algoId")
        client_id = opt_str(params, "clientAlgoId")
        if algo_id is None and client_id is None:
            raise VenueError(
                -1102, "Param 'algoId' or 'clientAlgoId' must be sent, but both were empty/null!"
            )
        found = [
            a
            for a in self.orders.values()
            if a.api_key == acct.api_key
            and (algo_id is None or a.algo_id == algo_id)
            and (client_id is None or a.client_algo_id == client_id)
        ]
        if not found:
            raise VenueError(*missing)
        # An open order wins over older terminal rows sharing the client id (seed 001).
        return max(found, key=lambda a: (a.open, a.algo_id))

    def query_algo_order(self, acct: Account, params: Mapping[str, str]) -> dict[str, Any]:
        return self._row(self._find(acct, params, (-2013, "Order does not exist.")).to_json())

    def cancel_algo_order(self, acct: Account, params: Mapping[str, str]) -> dict[str, Any]:
        """``DELETE /fapi/v1/algoOrder`` by algoId or clientAlgoId (no symbol). Once triggered,
        the child lives in the matching engine and is cancelled with ``DELETE /fapi/v1/order``."""
        algo = self._find(acct, params, (-2011, "Unknown order sent."))
        if algo.status == "TRIGGERING":
            raise VenueError(-4117, "stop order is triggering")
        if not algo.open or algo.status == "TRIGGERED":
            raise VenueError(-2011, "Unknown order sent.")
        self._end(acct, algo, "CANCELED")
        return {
            "algoId": algo.algo_id,
            "clientAlgoId": algo.client_algo_id,
            "code": "200",
            "msg": "success",
        }

    def open_algo_orders(self, acct: Account, params: Mapping[str, str]) -> list[dict[str, Any]]:
        symbol = opt_str(params, "symbol")
        if symbol is not None:
            self.x.market(symbol)
        algo_id = opt_int(params, "algoId")
        algo_type = opt_str(params, "algoType")
        return [
            self._row(a.to_json())
            for a in self.open_orders_of(acct.api_key)
            if a.status != "TRIGGERED"
            and (symbol is None or a.symbol == symbol)
            and (algo_id is None or a.algo_id == algo_id)
            and algo_type in (None, "CONDITIONAL")
        ]

    def all_algo_orders(self, acct: Account, params: Mapping[str, str]) -> list[dict[str, Any]]:
        symbol = req_str(params, "symbol")
        self.x.market(symbol)
        limit = opt_int(params, "limit", 1, 1000) or 500
        start_id = opt_int(params, "algoId") or 0
        start = opt_int(params, "startTime")
        end = opt_int(params, "endTime")
        now = self.x.now_ms()
        if start is None and end is None:
            start = now - 7 * 86_400_000
        rows = [
            a
            for a in self.orders.values()
            if a.api_key == acct.api_key
            and a.symbol == symbol
            and a.algo_id >= start_id
            and (start is None or a.create_time >= start)
            and (end is None or a.create_time <= end)
        ]
        return [self._row(a.to_json()) for a in rows[:limit]]

    def cancel_all_algo_open_orders(
        self, acct: Account, params: Mapping[str, str]
    ) -> dict[str, Any]:
        symbol = req_str(params, "symbol")
        self.x.market(symbol)
        for a in self.open_orders_of(acct.api_key):
            if a.status == "NEW" and a.symbol == symbol:
                self._end(acct, a, "CANCELED")
        return {"code": 200, "msg": "The operation of cancel all open order is done."}

    # -- triggering ----------------------------------------------------------------------

    def on_price(self, m: SymbolMarket, last_moved: bool, mark_moved: bool) -> None:
        """Fire what the new prices trigger; equality fires (trigger-semantics 2a)."""
        fired: list[int] = []
        for source, moved in (("CONTRACT_PRICE", last_moved), ("MARK_PRICE", mark_moved)):
            if not moved:
                continue
            units = m.units(m.source_price(source))
            fired += m.static[source].fire(units)
            update = m.trailing[source].on_price(units)
            for algo_id in update.activated:
                algo = self.orders[algo_id]
                algo.activated = True
                algo.update_time = self.x.now_ms()
                self.x.emit(algo.api_key, algo_update(algo, algo.update_time))
            fired += update.fired
        rearm: list[AlgoOrder] = []
        for algo_id in fired:
            algo = self.orders[algo_id]
            if not self._trigger(m, algo):
                rearm.append(algo)
        for algo in rearm:  # priceProtect held them: armed again, re-checked on the next tick
            self._rearm(m, algo)

    def _rearm(self, m: SymbolMarket, algo: AlgoOrder) -> None:
        if algo.type == "TRAILING_STOP_MARKET":
            # Keep it firing on the next tick: an immediately-active trailing with zero distance.
            m.trailing[algo.working_type].add(
                algo.algo_id, algo.side, 0, 1, m.units(m.source_price(algo.working_type)), None
            )
        else:
            self._arm(m, algo)

    def _protect_blocks(self, m: SymbolMarket, algo: AlgoOrder) -> bool:
        if not algo.price_protect or self.x.dialect.name == "primit":
            return False
        threshold = m.rules.trigger_protect
        if threshold is None or m.mark <= 0:
            return False
        return abs(m.mark - m.last) / m.mark > threshold

    def _trigger(self, m: SymbolMarket, algo: AlgoOrder) -> bool:
        """Run the trigger of one algo order; False when priceProtect holds it back."""
        if self._protect_blocks(m, algo):
            return False
        acct = self.x.accounts[algo.api_key]
        now = self.x.now_ms()
        algo.status, algo.trigger_time, algo.update_time = "TRIGGERING", now, now
        self.x.emit(acct.api_key, algo_update(algo, now))
        pos = acct.position(algo.symbol, algo.position_side)
        reducible = pos.reducible(algo.side)
        closing_side = is_hedge_close(algo.side, algo.position_side)
        if algo.close_position:
            if reducible <= 0:
                self._end(acct, algo, "EXPIRED", "Position is flat")
                return True
            qty = reducible
        elif algo.reduce_only or closing_side:
            if reducible <= 0:
                self._end(acct, algo, "REJECTED", "Reduce Only reject")
                return True
            qty = min(algo.quantity or ZERO, reducible)
        else:
            qty = algo.quantity or ZERO
        child_type = "LIMIT" if algo.type in _LIMIT_TYPES else "MARKET"
        child = Order(
            order_id=next(self.x._order_ids),
            client_order_id=algo.client_algo_id,
            api_key=acct.api_key,
            symbol=algo.symbol,
            side=algo.side,
            position_side=algo.position_side,
            type=child_type,
            orig_type=algo.type,
            time_in_force=algo.time_in_force if child_type == "LIMIT" else "GTC",
            qty=qty,
            price=algo.price or ZERO,
            reduce_only=algo.reduce_only,
            close_position=algo.close_position,
            time=now,
            update_time=now,
            stop_price=algo.trigger_price or ZERO,
            working_type=algo.working_type,
            price_protect=algo.price_protect,
            good_till_date=algo.good_till_date,
            algo_id=algo.algo_id,
        )
        algo.status = "TRIGGERED"
        algo.actual_order_id, algo.actual_type = child.order_id, child_type
        self.x.emit(acct.api_key, algo_update(algo, now))
        try:
            self.x.place(acct, child)
        except VenueError as e:  # e.g. GTX/FOK refusal of the child
            self._end(acct, algo, "REJECTED", e.msg)
        return True

    def child_done(self, acct: Account, child: Order) -> None:
        """The triggered child filled or ended: the algo order is FINISHED (actualQty tells)."""
        algo = self.orders.get(child.algo_id or -1)
        if algo is None or not algo.open:
            return
        algo.actual_qty = child.executed
        algo.actual_price = child.avg_price
        self._end(acct, algo, "FINISHED")

    def position_closed(self, acct: Account, symbol: str, position_side: PositionSide) -> None:
        """The position went flat or flipped: closePosition orders with nothing left to close
        expire (GTE_GTC behaviour). Reduce-only ones stay NEW and are REJECTED if they fire
        with nothing to reduce (trigger-semantics.md, "What happens when the position is closed")."""
        pos = acct.position(symbol, position_side)
        for algo in self.open_orders_of(acct.api_key):
            if (
                algo.status == "NEW"
                and algo.close_position
                and algo.symbol == symbol
                and algo.position_side is position_side
                and pos.reducible(algo.side) <= 0
            ):
                self._end(acct, algo, "EXPIRED", "Position is flat")

    def tick_time(self, now: int) -> None:
        for algo in self._all_open():
            if (
                algo.status == "NEW"
                and algo.time_in_force == "GTD"
                and 0 < algo.good_till_date <= now
            ):
                self._end(self.x.accounts[algo.api_key], algo, "EXPIRED", "GTD expired")

    def _end(self, acct: Account, algo: AlgoOrder, status: str, reason: str = "") -> None:
        """Move ``algo`` to a terminal status, out of its trigger book and the open indexes."""
        self._disarm(algo)
        self._open.get(algo.api_key, {}).pop(algo.algo_id, None)
        self._open_client_ids.pop((algo.api_key, algo.client_algo_id), None)
        algo.status, algo.reject_reason = status, reason
        algo.update_time = self.x.now_ms()
        self.x.emit(acct.api_key, algo_update(algo, algo.update_time))
