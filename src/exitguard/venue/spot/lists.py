"""Order lists of the Spot venue: OCO, OTO, OTOCO and the deprecated ``order/oco``.

Endpoints (Spot ``rest-api.md``; ``shared/reference/binance-api.md`` 3.3, 3.4):
``POST /api/v3/orderList/oco`` (aboveType/belowType), ``/orderList/oto``, ``/orderList/otoco``,
the deprecated ``POST /api/v3/order/oco`` (still answered, as Binance does: its limit leg is a
LIMIT_MAKER at ``price``, its stop leg a STOP_LOSS, or STOP_LOSS_LIMIT with ``stopLimitPrice``),
``GET``/``DELETE /api/v3/orderList``, ``GET /api/v3/openOrderList``, ``GET /api/v3/allOrderList``.

Lifecycle:
- OCO: both legs work; when one triggers or trades (even partially) the other is EXPIRED with
  ``eR=OCO_TRIGGER`` and the list is ALL_DONE (``listStatus``), while the remaining leg keeps
  working. One lock covers both legs (the SELL quantity; for a BUY the larger of the two legs'
  needs) and moves to the leg that keeps working.
- OTO: the working order (LIMIT/LIMIT_MAKER) works, the pending one waits as PENDING_NEW; when the
  working order is fully filled the pending one is placed (``x=NEW``) and the list is ALL_DONE.
- OTOCO: as OTO, but the pending pair is an OCO: after the working fill the list reports
  ``UPDATED``/``EXECUTING`` and ends ALL_DONE when a pending leg triggers or trades.
- Cancelling any open order of a list, or the list, cancels every open order of it. A working
  order that expires unfilled (IOC/FOK) expires the pending ones with ``OTO_PHASE_ONE_EXPIRED``.
- UNKNOWN in the reference, chosen here: a pending leg that cannot lock its funds when released
  expires with ``eR=REJECTED``; a released stop whose condition already holds triggers at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from exitguard.domain.check import OrderKind
from exitguard.domain.enums import Side
from exitguard.domain.requests import OcoLeg

from ..errors import VenueError
from ..usdm.base import new_client_id
from .accounts import SpotAccount
from .base import binance_error, opt_int, opt_str, req_str, require_account
from .market import SpotMarket
from .orders import OrderEndpoints
from .records import OrderList, SpotOrder, list_status

__all__ = ["ListEndpoints"]

ZERO = Decimal(0)
# order/oco (deprecated) → orderList/oco leg fields: (limit leg, stop leg) name per new name.
_LIMIT_LEG = {
    "limitClientOrderId": "ClientOrderId",
    "price": "Price",
    "limitIcebergQty": "IcebergQty",
}
_STOP_LEG = {
    "stopClientOrderId": "ClientOrderId",
    "stopPrice": "StopPrice",
    "stopLimitPrice": "Price",
    "trailingDelta": "TrailingDelta",
    "stopLimitTimeInForce": "TimeInForce",
    "stopIcebergQty": "IcebergQty",
}


class ListEndpoints(OrderEndpoints):
    # -- checks and bookkeeping ------------------------------------------------------------

    def _check_list(self, acct: SpotAccount, m: SpotMarket, list_client_id: str) -> None:
        mine = [ol for ol in self.lists.values() if ol.api_key == acct.api_key and ol.open]
        if any(ol.list_client_order_id == list_client_id for ol in mine):
            raise VenueError(-2010, "Duplicate order sent.")
        limit = next(
            (
                f.raw.get("maxNumOrderLists")
                for f in m.rules.unknown_filters
                if f.filter_type == "MAX_NUM_ORDER_LISTS"
            ),
            None,
        )
        on_symbol = sum(1 for ol in mine if ol.symbol == m.rules.symbol)
        if isinstance(limit, int) and on_symbol + 1 > limit:
            raise VenueError(-1013, "Filter failure: MAX_NUM_ORDER_LISTS")

    def _check_orders(self, acct: SpotAccount, m: SpotMarket, orders: list[SpotOrder]) -> None:
        self.check_duplicate(acct, [o.client_order_id for o in orders])
        for o in orders:
            if o.status != "PENDING_NEW":
                self.check_maker(m, o)
            if o.trailing_delta is not None and o.trailing_delta >= 10_000:
                raise VenueError(-1013, "Filter failure: TRAILING_DELTA")

    def _pair_lock(self, m: SpotMarket, legs: list[SpotOrder]) -> Decimal:
        return max(self.lock_need(m, o.side, o.type, o.qty, o.price, o.stop_price) for o in legs)

    def _open_list(
        self, acct: SpotAccount, ol: OrderList, orders: list[SpotOrder], lock: Decimal
    ) -> None:
        self.lists[ol.order_list_id] = ol
        for i, o in enumerate(orders):
            self.register(acct, o, lock if i == 0 else ZERO)
        for o in orders:
            self.report(acct, o, "NEW")
        if lock:
            self.account_changed(acct, {orders[0].lock_asset})
        self.emit(acct.api_key, list_status(ol, self.orders, self.now_ms()))

    def _list_done(self, acct: SpotAccount, ol: OrderList) -> None:
        ol.list_status_type = ol.list_order_status = "ALL_DONE"
        self.emit(acct.api_key, list_status(ol, self.orders, self.now_ms()))

    def _report_json(self, order: SpotOrder, resp_type: str | None, now: int) -> dict[str, Any]:
        return order.ack_json(now) if resp_type == "ACK" else order.result_json(now)

    def _response(
        self,
        ol: OrderList,
        resp_type: str | None,
        now: int,
        early: Mapping[int, dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        out = ol.to_json(self.orders)
        out["orderReports"] = [
            (early or {}).get(oid) or self._report_json(self.orders[oid], resp_type, now)
            for oid in ol.order_ids
        ]
        return out

    def _work_all(self, acct: SpotAccount, orders: list[SpotOrder]) -> None:
        for o in orders:  # a leg may have ended while an earlier one worked (OCO)
            if o.open and o.status != "PENDING_NEW":
                self.work(acct, o)

    def _list_request(
        self, account: SpotAccount | None, params: Mapping[str, str], kind: OrderKind
    ) -> tuple[SpotAccount, SpotMarket, Any]:
        """Authenticated account, market and the validated request of a list endpoint."""
        acct = require_account(account)
        m = self.market(req_str(params, "symbol"))
        req, violations = self.validate(acct, m, kind, params)
        if violations:
            raise binance_error(violations[0])
        return acct, m, req

    def _new_list_ids(
        self, acct: SpotAccount, m: SpotMarket, list_client_id: str | None
    ) -> tuple[str, int]:
        list_client_id = list_client_id or new_client_id()
        self._check_list(acct, m, list_client_id)
        return list_client_id, next(self._list_ids)

    # -- OCO -------------------------------------------------------------------------------

    def order_list_oco(
        self, account: SpotAccount | None, params: Mapping[str, str]
    ) -> dict[str, Any]:
        acct, m, req = self._list_request(account, params, OrderKind.SPOT_OCO)
        resp = req.new_order_resp_type.value if req.new_order_resp_type else None
        return self._place_oco(
            acct, m, req.side, req.quantity, req.above, req.below, req.list_client_order_id, resp
        )

    def _place_oco(
        self,
        acct: SpotAccount,
        m: SpotMarket,
        side: Side,
        qty: Decimal,
        above: OcoLeg,
        below: OcoLeg,
        list_client_id: str | None,
        resp_type: str | None,
    ) -> dict[str, Any]:
        list_client_id, list_id = self._new_list_ids(acct, m, list_client_id)
        legs = [
            self.make_order(acct, m, leg.as_order(m.rules.symbol, side, qty), list_id=list_id)
            for leg in (below, above)
        ]
        self._check_orders(acct, m, legs)
        lock = self._pair_lock(m, legs)
        self.check_funds(
            acct, legs[0].quote_asset if side is Side.BUY else legs[0].base_asset, lock
        )
        now = self.now_ms()
        ol = OrderList(
            list_id,
            list_client_id,
            acct.api_key,
            m.rules.symbol,
            "OCO",
            [o.order_id for o in legs],
            now,
        )
        self._open_list(acct, ol, legs, lock)
        self._work_all(acct, legs)
        return self._response(ol, resp_type, now)

    def order_oco(self, account: SpotAccount | None, params: Mapping[str, str]) -> dict[str, Any]:
        """``POST /api/v3/order/oco`` (deprecated 2024-04-02, still served): translated into an
        ``orderList/oco`` request. SELL: the limit leg is above, the stop below; BUY reversed."""
        side = params.get("side")
        limit_at, stop_at = ("below", "above") if side == "BUY" else ("above", "below")
        out: dict[str, str] = {}
        for name, value in params.items():
            if name in _LIMIT_LEG:
                out[limit_at + _LIMIT_LEG[name]] = value
            elif name in _STOP_LEG:
                out[stop_at + _STOP_LEG[name]] = value
            else:
                out[name] = value
        out[limit_at + "Type"] = "LIMIT_MAKER"
        out[stop_at + "Type"] = "STOP_LOSS_LIMIT" if params.get("stopLimitPrice") else "STOP_LOSS"
        return self.order_list_oco(account, out)

    # -- OTO / OTOCO -----------------------------------------------------------------------

    def order_list_oto(
        self, account: SpotAccount | None, params: Mapping[str, str]
    ) -> dict[str, Any]:
        acct, m, req = self._list_request(account, params, OrderKind.SPOT_OTO)
        symbol = m.rules.symbol
        list_client_id, list_id = self._new_list_ids(acct, m, req.list_client_order_id)
        working = self.make_order(acct, m, req.working.as_order(symbol), list_id=list_id)
        pending = self.make_order(
            acct, m, req.pending.as_order(symbol), list_id=list_id, status="PENDING_NEW"
        )
        return self._place_chain(
            acct, m, "OTO", list_id, list_client_id, working, [pending], req.new_order_resp_type
        )

    def order_list_otoco(
        self, account: SpotAccount | None, params: Mapping[str, str]
    ) -> dict[str, Any]:
        acct, m, req = self._list_request(account, params, OrderKind.SPOT_OTOCO)
        symbol = m.rules.symbol
        list_client_id, list_id = self._new_list_ids(acct, m, req.list_client_order_id)
        working = self.make_order(acct, m, req.working.as_order(symbol), list_id=list_id)
        pending = [
            self.make_order(
                acct,
                m,
                leg.as_order(symbol, req.pending_side, req.pending_quantity),
                list_id=list_id,
                status="PENDING_NEW",
            )
            for leg in (req.pending_below, req.pending_above)
        ]
        return self._place_chain(
            acct, m, "OTOCO", list_id, list_client_id, working, pending, req.new_order_resp_type
        )

    def _place_chain(
        self,
        acct: SpotAccount,
        m: SpotMarket,
        kind: str,
        list_id: int,
        list_client_id: str,
        working: SpotOrder,
        pending: list[SpotOrder],
        resp: Any,
    ) -> dict[str, Any]:
        self._check_orders(acct, m, [working, *pending])
        lock = self.lock_need(
            m, working.side, working.type, working.qty, working.price, working.stop_price
        )
        self.check_funds(
            acct, working.quote_asset if working.side is Side.BUY else working.base_asset, lock
        )
        now = self.now_ms()
        ol = OrderList(
            list_id,
            list_client_id,
            acct.api_key,
            m.rules.symbol,
            kind,
            [working.order_id, *(p.order_id for p in pending)],
            now,
            working_id=working.order_id,
            pending_ids=[p.order_id for p in pending],
        )
        self._open_list(acct, ol, [working, *pending], lock)
        resp_type = resp.value if resp else None
        # "If the working order fills immediately, the response shows the pending order as
        # PENDING_NEW" (reference 3.4): the pending reports are taken before it works.
        early = {p.order_id: self._report_json(p, resp_type, now) for p in pending}
        self.work(acct, working)
        return self._response(ol, resp_type, now, early)

    def _release_pending(self, acct: SpotAccount, ol: OrderList) -> None:
        """The working order filled: place the pending order(s)."""
        m = self.markets[ol.symbol]
        pending = [self.orders[p] for p in ol.pending_ids]
        lock = self._pair_lock(m, pending)
        first = pending[0]
        asset = first.quote_asset if first.side is Side.BUY else first.base_asset
        now = self.now_ms()
        if lock > acct.free(asset):
            for p in pending:
                self.finish(acct, p, "EXPIRED", reason="REJECTED", notify=False)
            self._list_done(acct, ol)
            return
        first.lock_asset = asset
        acct.lock(asset, lock)
        first.locked = lock
        for p in pending:
            p.status = "NEW"
            p.update_time = now
            self.report(acct, p, "NEW")
        self.account_changed(acct, {asset})
        if ol.kind == "OTO":
            self._list_done(acct, ol)
        else:
            ol.list_status_type = "UPDATED"
            self.emit(acct.api_key, list_status(ol, self.orders, now))
        self._work_all(acct, pending)

    # -- contingency hooks (called by the engine) -----------------------------------------

    def _leg_started(self, acct: SpotAccount, order: SpotOrder) -> None:
        ol = self.lists.get(order.order_list_id)
        if ol is None or not ol.open or order.order_id == ol.working_id:
            return
        if ol.kind == "OTO":
            return
        self._pair_over(acct, ol, order)

    def _pair_over(self, acct: SpotAccount, ol: OrderList, keep: SpotOrder) -> None:
        """One leg of an OCO pair works or trades: the others expire, the list is done."""
        for oid in ol.order_ids:
            other = self.orders[oid]
            if oid in (keep.order_id, ol.working_id) or not other.open:
                continue
            if keep.open and other.locked and other.lock_asset == keep.lock_asset:
                keep.locked += other.locked  # the shared lock now covers the remaining leg
                other.locked = ZERO
            self.finish(acct, other, "EXPIRED", reason="OCO_TRIGGER", notify=False)
        self._list_done(acct, ol)

    def _order_done(self, acct: SpotAccount, order: SpotOrder) -> None:
        ol = self.lists.get(order.order_list_id)
        if ol is None or not ol.open:
            return
        if order.order_id != ol.working_id:
            self._pair_over(acct, ol, order)
            return
        if order.status == "FILLED":
            self._release_pending(acct, ol)
            return
        for pid in ol.pending_ids:
            self.finish(
                acct, self.orders[pid], "EXPIRED", reason="OTO_PHASE_ONE_EXPIRED", notify=False
            )
        self._list_done(acct, ol)

    # -- cancel and queries ----------------------------------------------------------------

    def cancel_list(
        self, acct: SpotAccount, ol: OrderList, cancel_client_id: str
    ) -> dict[str, Any]:
        """Cancel every open order of ``ol``; the first gets ``cancel_client_id``."""
        cancel_ids: dict[int, str] = {}
        for oid in ol.order_ids:
            order = self.orders[oid]
            if order.open:
                cid = cancel_client_id if not cancel_ids else new_client_id()
                cancel_ids[oid] = cid
                self.finish(acct, order, "CANCELED", cancel_client_id=cid, notify=False)
        self._list_done(acct, ol)
        now = self.now_ms()
        out = ol.to_json(self.orders)
        out["orderReports"] = [
            self.orders[oid].cancel_json(now, cancel_ids.get(oid, self.orders[oid].client_order_id))
            for oid in ol.order_ids
        ]
        return out

    def _find_list(
        self, acct: SpotAccount, params: Mapping[str, str], client_name: str
    ) -> OrderList | None:
        list_id = opt_int(params, "orderListId")
        client_id = opt_str(params, client_name)
        if list_id is None and client_id is None:
            raise VenueError(
                -1102,
                f"Param 'orderListId' or '{client_name}' must be sent, but both were empty/null!",
            )
        found = [
            ol
            for ol in self.lists.values()
            if ol.api_key == acct.api_key
            and (list_id is None or ol.order_list_id == list_id)
            and (client_id is None or ol.list_client_order_id == client_id)
        ]
        return max(found, key=lambda ol: (ol.open, ol.order_list_id)) if found else None

    def query_order_list(
        self, account: SpotAccount | None, params: Mapping[str, str]
    ) -> dict[str, Any]:
        """``GET /api/v3/orderList`` (``orderListId`` or ``origClientOrderId``)."""
        ol = self._find_list(require_account(account), params, "origClientOrderId")
        if ol is None:
            raise VenueError(-2013, "Order list does not exist.")
        return ol.to_json(self.orders)

    def cancel_order_list(
        self, account: SpotAccount | None, params: Mapping[str, str]
    ) -> dict[str, Any]:
        """``DELETE /api/v3/orderList`` (``symbol`` and ``orderListId`` or ``listClientOrderId``)."""
        acct = require_account(account)
        m = self.market(req_str(params, "symbol"))
        ol = self._find_list(acct, params, "listClientOrderId")
        if ol is None or not ol.open or ol.symbol != m.rules.symbol:
            raise VenueError(-2011, "Unknown order sent.")
        return self.cancel_list(acct, ol, opt_str(params, "newClientOrderId") or new_client_id())

    def open_order_lists(
        self, account: SpotAccount | None, params: Mapping[str, str]
    ) -> list[dict[str, Any]]:
        acct = require_account(account)
        return [
            ol.to_json(self.orders)
            for ol in self.lists.values()
            if ol.api_key == acct.api_key and ol.open
        ]

    def all_order_lists(
        self, account: SpotAccount | None, params: Mapping[str, str]
    ) -> list[dict[str, Any]]:
        acct = require_account(account)
        from_id = opt_int(params, "fromId") or 0
        start = opt_int(params, "startTime") or 0
        end = opt_int(params, "endTime") or 2**63
        limit = opt_int(params, "limit", 1, 1000) or 500
        rows = [
            ol.to_json(self.orders)
            for ol in self.lists.values()
            if ol.api_key == acct.api_key
            and ol.order_list_id >= from_id
            and start <= ol.transaction_time <= end
        ]
        return rows[:limit]
