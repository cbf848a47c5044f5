"""OPO and OPOCO order lists of the Spot venue (Spot ``rest-api.md`` "New Order List - OPO" /
"- OPOCO", ``faqs/opo.md``; added 2025-12-18): an OTO / OTOCO whose pending order(s) carry no
quantity; "the received amount from the working order is used for the quantity of the pending
order(s)", once the working order fully fills.

Endpoints: ``POST /api/v3/orderList/opo`` and ``/orderList/opoco`` (WS API
``orderList.place.opo`` / ``.opoco``), on the OTO/OTOCO engine of :mod:`.lists`.

Rules (errors.md):
- the working order must be a BUY (``-1222`` "Working order in an OPO list must be a bid."), the
  pending order(s) SELL (``-1223`` "Pending orders in an OPO list must be asks.");
- a pending quantity is refused (``-1225`` "Pending orders should not include the '%s' tag.");
- the symbol needs ``otoAllowed`` and ``opoAllowed`` (OPOCO: ``ocoAllowed`` too), else ``-2010``
  "OPO orders are not supported for this symbol.".
- The answer is an OTO list (``contingencyType`` "OTO"); pending reports have no ``origQty``.
- On the working fill the pending quantity is the received base quantity (commission is charged
  in the quote asset here, so nothing is deducted), rounded down to LOT_SIZE; the only balance
  needed at placement is the working order's.
- UNKNOWN in the docs, chosen here: a received quantity below LOT_SIZE ``minQty`` expires the
  pending order(s) with ``eR=REJECTED`` (as a pending leg that cannot lock its funds does).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import ROUND_DOWN, Decimal
from typing import Any

from ..errors import VenueError
from .accounts import SpotAccount
from .lists import ListEndpoints
from .records import OrderList

__all__ = ["OpoEndpoints"]

ZERO = Decimal(0)


class OpoEndpoints(ListEndpoints):
    def _opo_params(
        self, params: Mapping[str, str], pending_prefixes: tuple[str, ...]
    ) -> dict[str, str]:
        """Check the OPO rules, then the OTO/OTOCO request they stand for (the working quantity
        as the pending one, for the checks that need a quantity)."""
        if params.get("workingSide", "BUY") != "BUY":
            raise VenueError(-1222, "Working order in an OPO list must be a bid.")
        if params.get("pendingSide", "SELL") != "SELL":
            raise VenueError(-1223, "Pending orders in an OPO list must be asks.")
        for prefix in ("pending", *pending_prefixes):
            if f"{prefix}Quantity" in params:
                raise VenueError(
                    -1225, f"Pending orders should not include the '{prefix}Quantity' tag."
                )
        symbol = params.get("symbol", "")
        raw = next(
            (s for s in self._exchange_info.get("symbols", ()) if s.get("symbol") == symbol), None
        )
        need = ("otoAllowed", "opoAllowed", *(("ocoAllowed",) if pending_prefixes else ()))
        if raw is not None and not all(raw.get(flag, True) for flag in need):
            raise VenueError(-2010, "OPO orders are not supported for this symbol.")
        out = dict(params)
        out["pendingQuantity"] = params.get("workingQuantity", "")
        return out

    def _as_opo(self, answer: dict[str, Any]) -> dict[str, Any]:
        ol = self.lists[answer["orderListId"]]
        ol.opo = True
        for pid in ol.pending_ids:
            self.orders[pid].qty = ZERO
        for report in answer.get("orderReports", ()):
            if report.get("orderId") in ol.pending_ids and report.get("status") == "PENDING_NEW":
                report.pop("origQty", None)
        return answer

    def order_list_opo(
        self, account: SpotAccount | None, params: Mapping[str, str]
    ) -> dict[str, Any]:
        """``POST /api/v3/orderList/opo``."""
        return self._as_opo(self.order_list_oto(account, self._opo_params(params, ())))

    def order_list_opoco(
        self, account: SpotAccount | None, params: Mapping[str, str]
    ) -> dict[str, Any]:
        """``POST /api/v3/orderList/opoco``: ``pendingBelow*`` is optional on Binance; the venue,
        like its OTOCO, needs both legs."""
        checked = self._opo_params(params, ("pendingAbove", "pendingBelow"))
        return self._as_opo(self.order_list_otoco(account, checked))

    def _release_pending(self, acct: SpotAccount, ol: OrderList) -> None:
        if ol.opo and ol.working_id is not None:
            working = self.orders[ol.working_id]
            lot = self.markets[ol.symbol].rules.lot_size
            received = working.executed
            if lot is not None and lot.step_size > 0:
                received = (received / lot.step_size).to_integral_value(ROUND_DOWN) * lot.step_size
            for pid in ol.pending_ids:
                self.orders[pid].qty = received
            if lot is not None and received < lot.min_qty:
                for pid in ol.pending_ids:
                    self.finish(acct, self.orders[pid], "EXPIRED", reason="REJECTED", notify=False)
                self._list_done(acct, ol)
                return
        super()._release_pending(acct, ol)
