"""Single-order endpoints of the Spot venue: order (POST/GET/DELETE), order/test, openOrders
(GET/DELETE), allOrders, myTrades and order/cancelReplace (Spot ``rest-api.md``).

Orders are validated by ``exitguard.domain.check_order`` — the rules the client applies before
sending — without quantisation (the venue refuses off-grid values, it never fixes them), and
answered with Binance's texts (:func:`~exitguard.venue.spot.base.binance_error`). Checks that
Binance makes in the matching engine (-2010: would trigger immediately, would match and take,
duplicate id, balance) come after the API-level ones (-1xxx), which matters for cancelReplace:
an API-level failure refuses the whole request, a matching-engine failure happens after the
cancel and is a partial failure (-2021, HTTP 409).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from exitguard.domain.check import OrderKind, check_order
from exitguard.domain.enums import Side
from exitguard.domain.requests import SpotOrderRequest
from exitguard.domain.violations import Violation

from ..errors import VenueError
from ..usdm.base import new_client_id
from .accounts import SpotAccount
from .base import (
    binance_error,
    opt_enum,
    opt_int,
    opt_str,
    req_str,
    require_account,
)
from .engine import SpotEngine
from .market import SpotMarket
from .records import SpotOrder, f8

__all__ = ["OrderEndpoints"]

ZERO = Decimal(0)
_FULL_BY_DEFAULT = frozenset({"MARKET", "LIMIT"})
_CANCEL_PARAMS = (
    "cancelReplaceMode",
    "cancelNewClientOrderId",
    "cancelOrigClientOrderId",
    "cancelOrderId",
    "cancelRestrictions",
    "orderRateLimitExceededMode",
)


def _unknown() -> VenueError:
    return VenueError(-2011, "Unknown order sent.")


class OrderEndpoints(SpotEngine):
    # -- placement -------------------------------------------------------------------------

    def validate(
        self,
        acct: SpotAccount,
        m: SpotMarket,
        kind: OrderKind,
        params: Mapping[str, str],
        freed: int = 0,
    ) -> tuple[Any, list[Violation]]:
        result = check_order(
            kind, params, self.rules, self.market_context(acct, m, freed), quantize=False
        )
        return result.request, result.violations

    def place(self, acct: SpotAccount, m: SpotMarket, req: SpotOrderRequest) -> SpotOrder:
        """Matching-engine checks, then lock, report NEW and work the order."""
        order = self.make_order(acct, m, req)
        self.check_duplicate(acct, [order.client_order_id])
        self.check_maker(m, order)
        if order.trailing_delta is not None and order.trailing_delta >= 10_000:
            raise VenueError(-1013, "Filter failure: TRAILING_DELTA")  # a rate of 100 % or more
        lock = ZERO
        if order.type == "MARKET":
            if order.side is Side.SELL:
                need = order.qty or Decimal("1e-8")  # quoteOrderQty: some base must be free
                self.check_funds(acct, order.base_asset, need)
            elif order.quote_order_qty:
                need = order.quote_order_qty * (1 + self.fees.taker)
                self.check_funds(acct, order.quote_asset, need)
            else:
                self.check_funds(acct, order.quote_asset, self.market_cost(m, order))
        else:
            lock = self.lock_need(
                m, order.side, order.type, order.qty, order.price, order.stop_price
            )
            asset = order.quote_asset if order.side is Side.BUY else order.base_asset
            self.check_funds(acct, asset, lock)
        self.register(acct, order, lock)
        self.report(acct, order, "NEW")
        if lock:
            self.account_changed(acct, {order.lock_asset})
        self.work(acct, order)
        return order

    def respond(
        self, acct: SpotAccount, order: SpotOrder, resp_type: str | None, now: int
    ) -> dict[str, Any]:
        kind = resp_type or ("FULL" if order.type in _FULL_BY_DEFAULT else "ACK")
        if kind == "ACK":
            return order.ack_json(now)
        out = order.result_json(now)
        if kind == "FULL":
            out["fills"] = [
                {
                    "price": f8(t.price),
                    "qty": f8(t.qty),
                    "commission": f8(t.commission),
                    "commissionAsset": t.commission_asset,
                    "tradeId": t.trade_id,
                }
                for t in acct.trades
                if t.order_id == order.order_id
            ]
        return out

    def new_order(self, account: SpotAccount | None, params: Mapping[str, str]) -> dict[str, Any]:
        """``POST /api/v3/order``."""
        acct = require_account(account)
        m = self.market(req_str(params, "symbol"))
        req, violations = self.validate(acct, m, OrderKind.SPOT, params)
        if violations:
            raise binance_error(violations[0])
        order = self.place(acct, m, req)
        resp_type = req.new_order_resp_type.value if req.new_order_resp_type else None
        return self.respond(acct, order, resp_type, order.time)

    def order_test(self, account: SpotAccount | None, params: Mapping[str, str]) -> dict[str, Any]:
        """``POST /api/v3/order/test``: API-level validation only; nothing reaches the engine.
        With ``computeCommissionRates=true`` the order's commission rates are returned."""
        acct = require_account(account)
        compute = opt_enum(params, "computeCommissionRates", ("true", "false")) == "true"
        rest = {k: v for k, v in params.items() if k != "computeCommissionRates"}
        m = self.market(req_str(rest, "symbol"))
        _, violations = self.validate(acct, m, OrderKind.SPOT, rest)
        api_level = [v for v in violations if v.code != -2010]
        if api_level:
            raise binance_error(api_level[0])
        if not compute:
            return {}
        zero = f8(ZERO)
        return {
            "standardCommissionForOrder": {
                "maker": f8(self.fees.maker),
                "taker": f8(self.fees.taker),
            },
            "specialCommissionForOrder": {"maker": zero, "taker": zero},
            "taxCommissionForOrder": {"maker": zero, "taker": zero},
            "discount": {
                "enabledForAccount": False,
                "enabledForSymbol": False,
                "discountAsset": "BNB",
                "discount": zero,
            },
        }

    # -- finding ---------------------------------------------------------------------------

    def find_order(
        self,
        acct: SpotAccount,
        params: Mapping[str, str],
        id_name: str = "orderId",
        client_name: str = "origClientOrderId",
    ) -> SpotOrder:
        symbol = req_str(params, "symbol")
        self.market(symbol)
        order_id = opt_int(params, id_name)
        client_id = opt_str(params, client_name)
        if order_id is None and client_id is None:
            raise VenueError(
                -1102,
                f"Param '{id_name}' or '{client_name}' must be sent, but both were empty/null!",
            )
        if order_id is not None:
            order = self.orders.get(order_id)
            candidates = [order] if order is not None else []
        else:
            candidates = [o for o in self.orders.values() if o.client_order_id == client_id]
        found = [
            o
            for o in candidates
            if o.api_key == acct.api_key
            and o.symbol == symbol
            and (client_id is None or o.client_order_id == client_id)
        ]
        if not found:
            raise VenueError(-2013, "Order does not exist.")
        return max(found, key=lambda o: (o.open, o.order_id))

    def query_order(self, account: SpotAccount | None, params: Mapping[str, str]) -> dict[str, Any]:
        return self.find_order(require_account(account), params).to_json()

    # -- cancelling ------------------------------------------------------------------------

    def _cancel_one(
        self,
        acct: SpotAccount,
        order: SpotOrder,
        cancel_client_id: str,
        restrictions: str | None,
    ) -> dict[str, Any]:
        if not order.open:
            raise _unknown()
        if (restrictions == "ONLY_NEW" and order.status != "NEW") or (
            restrictions == "ONLY_PARTIALLY_FILLED" and order.status != "PARTIALLY_FILLED"
        ):
            raise VenueError(-2011, "Order was not canceled due to cancel restrictions.")
        ol = self.lists.get(order.order_list_id)
        if ol is not None and ol.open:
            # "Cancelling either leg individually cancels the whole list" (reference 3.3).
            self.cancel_list(acct, ol, cancel_client_id)
        else:
            self.finish(acct, order, "CANCELED", cancel_client_id=cancel_client_id)
        return order.cancel_json(self.now_ms(), cancel_client_id)

    def cancel_order(
        self, account: SpotAccount | None, params: Mapping[str, str]
    ) -> dict[str, Any]:
        """``DELETE /api/v3/order``; unknown or finished orders answer -2011."""
        acct = require_account(account)
        restrictions = opt_enum(params, "cancelRestrictions", ("ONLY_NEW", "ONLY_PARTIALLY_FILLED"))
        try:
            order = self.find_order(acct, params)
        except VenueError as err:
            if err.code == -2013:
                raise _unknown() from None
            raise
        cancel_id = opt_str(params, "newClientOrderId") or new_client_id()
        return self._cancel_one(acct, order, cancel_id, restrictions)

    def open_orders(
        self, account: SpotAccount | None, params: Mapping[str, str]
    ) -> list[dict[str, Any]]:
        acct = require_account(account)
        symbol = opt_str(params, "symbol")
        if symbol is not None:
            self.market(symbol)
        return [
            o.to_json()
            for o in sorted(self.open_orders_of(acct.api_key), key=lambda o: o.order_id)
            if symbol is None or o.symbol == symbol
        ]

    def cancel_open_orders(
        self, account: SpotAccount | None, params: Mapping[str, str]
    ) -> list[dict[str, Any]]:
        """``DELETE /api/v3/openOrders``: every open order and order list on the symbol; lists
        answer in the list shape. Nothing open: -2011 (as Binance answers)."""
        acct = require_account(account)
        symbol = req_str(params, "symbol")
        self.market(symbol)
        mine = [o for o in self.open_orders_of(acct.api_key) if o.symbol == symbol]
        if not mine:
            raise _unknown()
        out: list[dict[str, Any]] = []
        done_lists: set[int] = set()
        for order in sorted(mine, key=lambda o: o.order_id):
            if not order.open:
                continue
            ol = self.lists.get(order.order_list_id)
            if ol is not None and ol.open:
                if ol.order_list_id not in done_lists:
                    done_lists.add(ol.order_list_id)
                    out.append(self.cancel_list(acct, ol, new_client_id()))
                continue
            out.append(self._cancel_one(acct, order, new_client_id(), None))
        return out

    # -- history ---------------------------------------------------------------------------

    def _window(self, params: Mapping[str, str]) -> tuple[int, int, int]:
        start = opt_int(params, "startTime") or 0
        end = opt_int(params, "endTime") or 2**63
        limit = opt_int(params, "limit", 1, 1000) or 500
        return start, end, limit

    def all_orders(
        self, account: SpotAccount | None, params: Mapping[str, str]
    ) -> list[dict[str, Any]]:
        acct = require_account(account)
        symbol = req_str(params, "symbol")
        self.market(symbol)
        from_id = opt_int(params, "orderId") or 0
        start, end, limit = self._window(params)
        rows = [
            o.to_json()
            for o in self.orders.values()
            if o.api_key == acct.api_key
            and o.symbol == symbol
            and o.order_id >= from_id
            and start <= o.time <= end
        ]
        return rows[:limit]

    def my_trades(
        self, account: SpotAccount | None, params: Mapping[str, str]
    ) -> list[dict[str, Any]]:
        acct = require_account(account)
        symbol = req_str(params, "symbol")
        self.market(symbol)
        order_id = opt_int(params, "orderId")
        from_id = opt_int(params, "fromId") or 0
        start, end, limit = self._window(params)
        rows = [
            {
                "symbol": t.symbol,
                "id": t.trade_id,
                "orderId": t.order_id,
                "orderListId": t.order_list_id,
                "price": f8(t.price),
                "qty": f8(t.qty),
                "quoteQty": f8(t.quote_qty),
                "commission": f8(t.commission),
                "commissionAsset": t.commission_asset,
                "time": t.time,
                "isBuyer": t.side is Side.BUY,
                "isMaker": t.maker,
                "isBestMatch": True,
            }
            for t in acct.trades
            if t.symbol == symbol
            and (order_id is None or t.order_id == order_id)
            and t.trade_id >= from_id
            and start <= t.time <= end
        ]
        return rows[:limit]

    # -- cancel-replace --------------------------------------------------------------------

    def cancel_replace(
        self, account: SpotAccount | None, params: Mapping[str, str]
    ) -> dict[str, Any]:
        """``POST /api/v3/order/cancelReplace``: cancel, then place (rest-api.md).

        STOP_ON_FAILURE: a failed cancel stops there (-2022, HTTP 400, new order NOT_ATTEMPTED).
        ALLOW_FAILURE: the new order is tried anyway. One half failing is -2021 with HTTP 409,
        both failing -2022; ``data`` carries both halves' results either way.
        """
        acct = require_account(account)
        m = self.market(req_str(params, "symbol"))
        mode = req_str(params, "cancelReplaceMode")
        if mode not in ("STOP_ON_FAILURE", "ALLOW_FAILURE"):
            raise VenueError(
                -1100,
                "Illegal characters found in parameter 'cancelReplaceMode'; legal range is "
                "'STOP_ON_FAILURE|ALLOW_FAILURE'.",
            )
        restrictions = opt_enum(params, "cancelRestrictions", ("ONLY_NEW", "ONLY_PARTIALLY_FILLED"))
        opt_enum(params, "orderRateLimitExceededMode", ("DO_NOTHING", "CANCEL_ONLY"))
        cancel_id = opt_int(params, "cancelOrderId")
        cancel_orig = opt_str(params, "cancelOrigClientOrderId")
        if cancel_id is None and cancel_orig is None:
            raise VenueError(
                -1102,
                "Param 'cancelOrderId' or 'cancelOrigClientOrderId' must be sent, but both were "
                "empty/null!",
            )
        new_params = {k: v for k, v in params.items() if k not in _CANCEL_PARAMS}
        req, violations = self.validate(acct, m, OrderKind.SPOT, new_params, freed=1)
        api_level = [v for v in violations if v.code != -2010]
        if api_level:
            raise binance_error(api_level[0])
        cancel_resp: dict[str, Any]
        cancel_ok = True
        try:
            lookup = {"symbol": m.rules.symbol}
            if cancel_id is not None:
                lookup["orderId"] = str(cancel_id)
            if cancel_orig is not None:
                lookup["origClientOrderId"] = cancel_orig
            try:
                target = self.find_order(acct, lookup)
            except VenueError as err:
                raise (_unknown() if err.code == -2013 else err) from None
            cid = opt_str(params, "cancelNewClientOrderId") or new_client_id()
            cancel_resp = self._cancel_one(acct, target, cid, restrictions)
        except VenueError as err:
            cancel_ok, cancel_resp = False, err.body()
        if not cancel_ok and mode == "STOP_ON_FAILURE":
            raise _replace_error(-2022, cancel_resp, None, "NOT_ATTEMPTED", "FAILURE")
        new_resp: dict[str, Any]
        new_ok = True
        try:
            if violations:
                raise binance_error(violations[0])
            order = self.place(acct, m, req)
            resp_type = req.new_order_resp_type.value if req.new_order_resp_type else None
            new_resp = self.respond(acct, order, resp_type, order.time)
        except VenueError as err:
            new_ok, new_resp = False, err.body()
        if cancel_ok and new_ok:
            return {
                "cancelResult": "SUCCESS",
                "newOrderResult": "SUCCESS",
                "cancelResponse": cancel_resp,
                "newOrderResponse": new_resp,
            }
        code = -2022 if not cancel_ok and not new_ok else -2021
        raise _replace_error(
            code,
            cancel_resp,
            new_resp,
            "SUCCESS" if new_ok else "FAILURE",
            "SUCCESS" if cancel_ok else "FAILURE",
        )


def _replace_error(
    code: int,
    cancel_resp: dict[str, Any],
    new_resp: dict[str, Any] | None,
    new_result: str,
    cancel_result: str,
) -> VenueError:
    partial = code == -2021
    return VenueError(
        code,
        "Order cancel-replace partially failed." if partial else "Order cancel-replace failed.",
        http_status=409 if partial else 400,
        data={
            "cancelResult": cancel_result,
            "newOrderResult": new_result,
            "cancelResponse": cancel_resp,
            "newOrderResponse": new_resp,
        },
    )
