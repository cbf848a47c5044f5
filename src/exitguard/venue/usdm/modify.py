"""``PUT /fapi/v1/order``: modify a resting LIMIT order's price and quantity (Modify-Order page).

Binance's rules, as the page states them:
- only LIMIT orders can be modified; ``side``, ``quantity`` and ``price`` are required (the venue
  does not model ``priceMatch``: sent with a value other than NONE it is refused);
- a new price or quantity that breaks the symbol's filters is refused and the order stays as it
  is (the same checks as a new order, :func:`exitguard.domain.check_order`);
- the order is CANCELED by the modification when it is partially filled and the new quantity is
  not above the executed quantity, or when it is GTX (post-only) and the new price would execute
  at once;
- the order keeps its id and client id; the user stream reports ``x=AMENDMENT``.
The answer is the order row of ``ModifyOrderResponse`` (the new-order answer without
``avgPrice`` and ``cumQuote``, plus ``pair``).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from exitguard.domain.check import OrderKind
from exitguard.domain.enums import Side
from exitguard.domain.triggers import TriggerDirection

from ..errors import VenueError
from .accounts import Account
from .base import require_account
from .orders import OrderEndpoints
from .params import opt_str, req_str
from .records import Order, order_trade_update

__all__ = ["ModifyEndpoints", "modify_row"]

_NOT_IN_MODIFY = ("avgPrice", "cumQuote")


def modify_row(order: Order) -> dict[str, Any]:
    out = {k: v for k, v in order.ack_json().items() if k not in _NOT_IN_MODIFY}
    out["pair"] = order.symbol
    return out


class ModifyEndpoints(OrderEndpoints):
    def modify_order(self, account: Account | None, params: Mapping[str, str]) -> dict[str, Any]:
        acct = require_account(account)
        order = self._find_order(acct, params)
        side = req_str(params, "side")
        if not order.open:
            raise VenueError(-2013, "Order does not exist.")
        if order.type != "LIMIT":
            raise VenueError(-1116, "Invalid orderType: only LIMIT orders can be modified.")
        if side != order.side.value:
            raise VenueError(
                -1100, f"Parameter 'side' must be the order's side ({order.side.value})."
            )
        if (opt_str(params, "priceMatch") or "NONE") != "NONE":
            raise VenueError(-1000, "priceMatch is not modelled by the paper venue.")
        m = self.market(order.symbol)
        check = {
            "symbol": order.symbol,
            "side": order.side.value,
            "type": "LIMIT",
            "timeInForce": order.time_in_force,
            "quantity": req_str(params, "quantity"),
            "price": req_str(params, "price"),
        }
        if acct.dual_side:
            check["positionSide"] = order.position_side.value
        elif order.reduce_only:
            check["reduceOnly"] = "true"
        self.checked(OrderKind.USDM, acct, m, check)
        qty, price = Decimal(check["quantity"]), Decimal(check["price"])
        if qty == order.qty and price == order.price:
            raise VenueError(-5027, "No need to modify the order.")
        bid, ask = m.book.best(m.last)
        marketable = price >= ask if order.side is Side.BUY else price <= bid
        if qty <= order.executed or (order.time_in_force == "GTX" and marketable):
            self._finish(acct, order, "CANCELED")
            return modify_row(order)
        m.resting.remove(order.order_id)
        order.qty, order.price = qty, price
        order.update_time = self.now_ms()
        self.emit(acct.api_key, order_trade_update(order, order.update_time, "AMENDMENT"))
        if marketable:
            self._take(acct, order, m, price)
        if order.open:
            direction = (
                TriggerDirection.FALLING if order.side is Side.BUY else TriggerDirection.RISING
            )
            m.resting.add(order.order_id, direction, m.units(price))
        return modify_row(order)
