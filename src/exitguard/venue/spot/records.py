"""Spot orders and order lists of the paper venue, and their Binance JSON shapes.

Shapes follow Spot ``rest-api.md`` (New order ACK/RESULT/FULL, Query order, Cancel order, order
list responses) and ``user-data-stream.md`` (``executionReport``, ``listStatus``,
``outboundAccountPosition``, ``balanceUpdate``; ``shared/reference/binance-api.md`` 3.6). Numbers
are strings with 8 decimals as Binance's spot API prints them; ids and times are integers.

Conditional keys: ``stopPrice`` and ``trailingDelta``/``trailingTime`` appear for stop types and
trailing orders, ``icebergQty`` for iceberg orders, ``strategyId``/``strategyType`` when sent,
``expiryReason`` once the exchange expired an order, as the Spot docs mark them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from exitguard.domain.enums import Side

from .accounts import SpotAccount, SpotFill

__all__ = [
    "STOP_TYPES",
    "OrderList",
    "SpotOrder",
    "balance_update",
    "execution_report",
    "f8",
    "list_status",
    "outbound_account_position",
]

ZERO = Decimal(0)
STOP_TYPES = frozenset({"STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT"})
MARKET_EXECUTING = frozenset({"MARKET", "STOP_LOSS", "TAKE_PROFIT"})
TERMINAL = frozenset({"FILLED", "CANCELED", "EXPIRED", "EXPIRED_IN_MATCH", "REJECTED"})
_E8 = Decimal("1e-8")


def f8(value: Decimal) -> str:
    """A spot amount as Binance prints it: fixed point, 8 decimals."""
    return format(value.quantize(_E8), "f")


@dataclass(slots=True)
class SpotOrder:
    """A matching-engine order; stop types wait for their trigger (``working_time == -1``)."""

    order_id: int
    client_order_id: str
    api_key: str
    symbol: str
    side: Side
    type: str
    time_in_force: str
    qty: Decimal
    price: Decimal
    time: int
    base_asset: str
    quote_asset: str
    stop_price: Decimal = ZERO
    trailing_delta: int | None = None
    trailing_time: int = -1  # when tracking started (D); -1 until activated
    iceberg_qty: Decimal = ZERO
    quote_order_qty: Decimal = ZERO
    strategy_id: int | None = None
    strategy_type: int | None = None
    stp_mode: str = "EXPIRE_MAKER"
    status: str = "NEW"
    executed: Decimal = ZERO
    cum_quote: Decimal = ZERO
    order_list_id: int = -1
    working_time: int = -1  # when the order went onto the book (W); -1 while not working
    update_time: int = 0
    expiry_reason: str | None = None
    lock_asset: str = ""
    locked: Decimal = ZERO  # what this order still holds locked of ``lock_asset``

    @property
    def open(self) -> bool:
        return self.status not in TERMINAL

    @property
    def is_stop(self) -> bool:
        return self.type in STOP_TYPES

    @property
    def triggered(self) -> bool:
        return self.working_time != -1

    @property
    def left(self) -> Decimal:
        return self.qty - self.executed

    @property
    def on_book(self) -> bool:
        """Resting as a limit order (``isWorking`` / ``w``)."""
        return self.open and self.status != "PENDING_NEW" and self.working_time != -1

    def _conditional(self, out: dict[str, Any], *, always_stop: bool) -> None:
        if self.is_stop or always_stop:
            out["stopPrice"] = f8(self.stop_price)
        if self.iceberg_qty or always_stop:
            out["icebergQty"] = f8(self.iceberg_qty)
        if self.trailing_delta is not None:
            out["trailingDelta"] = self.trailing_delta
            out["trailingTime"] = self.trailing_time
        if self.strategy_id is not None:
            out["strategyId"] = self.strategy_id
        if self.strategy_type is not None:
            out["strategyType"] = self.strategy_type
        if self.expiry_reason is not None:
            out["expiryReason"] = self.expiry_reason

    def _core(self) -> dict[str, Any]:
        return {
            "price": f8(self.price),
            "origQty": f8(self.qty),
            "executedQty": f8(self.executed),
            "origQuoteOrderQty": f8(self.quote_order_qty),
            "cummulativeQuoteQty": f8(self.cum_quote),
            "status": self.status,
            "timeInForce": self.time_in_force,
            "type": self.type,
            "side": self.side.value,
        }

    def ack_json(self, transact_time: int) -> dict[str, Any]:
        return {
            "symbol": self.symbol,
            "orderId": self.order_id,
            "orderListId": self.order_list_id,
            "clientOrderId": self.client_order_id,
            "transactTime": transact_time,
        }

    def result_json(self, transact_time: int) -> dict[str, Any]:
        out = self.ack_json(transact_time)
        out.update(self._core())
        out["workingTime"] = self.working_time
        out["selfTradePreventionMode"] = self.stp_mode
        self._conditional(out, always_stop=False)
        return out

    def to_json(self) -> dict[str, Any]:
        """Query order / openOrders / allOrders."""
        out: dict[str, Any] = {
            "symbol": self.symbol,
            "orderId": self.order_id,
            "orderListId": self.order_list_id,
            "clientOrderId": self.client_order_id,
        }
        out.update(self._core())
        out.update(
            {
                "time": self.time,
                "updateTime": self.update_time,
                "isWorking": self.on_book,
                "workingTime": self.working_time,
                "selfTradePreventionMode": self.stp_mode,
            }
        )
        self._conditional(out, always_stop=True)
        return out

    def cancel_json(self, transact_time: int, cancel_client_id: str) -> dict[str, Any]:
        """Cancel order: ``clientOrderId`` is the cancel request's id, the order's own id is
        ``origClientOrderId``."""
        out: dict[str, Any] = {
            "symbol": self.symbol,
            "origClientOrderId": self.client_order_id,
            "orderId": self.order_id,
            "orderListId": self.order_list_id,
            "clientOrderId": cancel_client_id,
            "transactTime": transact_time,
        }
        out.update(self._core())
        out["selfTradePreventionMode"] = self.stp_mode
        self._conditional(out, always_stop=False)
        return out


@dataclass(slots=True)
class OrderList:
    """An OCO, OTO or OTOCO list. ``kind`` is the endpoint's; ``contingencyType`` is OCO or OTO
    (an OTOCO reports as OTO, reference 3.4)."""

    order_list_id: int
    list_client_order_id: str
    api_key: str
    symbol: str
    kind: str  # OCO | OTO | OTOCO
    order_ids: list[int]
    transaction_time: int
    working_id: int | None = None  # OTO/OTOCO: the order whose fill releases the pending ones
    pending_ids: list[int] = field(default_factory=list)
    list_status_type: str = "EXEC_STARTED"
    list_order_status: str = "EXECUTING"
    # OPO / OPOCO: the pending order(s) get their quantity from the working order's fill
    # (Spot faqs/opo.md); until then they carry none (``qty`` 0, no ``origQty`` answered).
    opo: bool = False

    @property
    def contingency_type(self) -> str:
        return "OCO" if self.kind == "OCO" else "OTO"

    @property
    def open(self) -> bool:
        return self.list_order_status == "EXECUTING"

    def to_json(self, orders: dict[int, SpotOrder]) -> dict[str, Any]:
        return {
            "orderListId": self.order_list_id,
            "contingencyType": self.contingency_type,
            "listStatusType": self.list_status_type,
            "listOrderStatus": self.list_order_status,
            "listClientOrderId": self.list_client_order_id,
            "transactionTime": self.transaction_time,
            "symbol": self.symbol,
            "orders": [
                {
                    "symbol": self.symbol,
                    "orderId": oid,
                    "clientOrderId": orders[oid].client_order_id,
                }
                for oid in self.order_ids
            ],
        }


def execution_report(
    order: SpotOrder,
    now_ms: int,
    execution_type: str,
    *,
    fill: SpotFill | None = None,
    reject_reason: str = "NONE",
    cancel_client_id: str = "",
    execution_id: int = 0,
) -> dict[str, Any]:
    """``executionReport`` with every key of the reference table (3.6).

    Binance's page shows ``v`` (prevented match id) only after an STP expiry and ``W`` only once
    the order is on the book; the venue always sends both, -1 meaning "none" as ``g`` and ``t``
    do, so every report has one shape. ``d`` is sent for trailing orders and ``D`` (when
    tracking started, -1 before) with it; ``j``/``J`` when a strategy was given; ``eR`` when the
    exchange expired the order. For a cancel, ``c`` is the cancel request's id and ``C`` the
    order's own id (Binance's convention).
    """
    canceled = execution_type == "CANCELED"
    out: dict[str, Any] = {
        "e": "executionReport",
        "E": now_ms,
        "s": order.symbol,
        "c": cancel_client_id if canceled and cancel_client_id else order.client_order_id,
        "S": order.side.value,
        "o": order.type,
        "f": order.time_in_force,
        "q": f8(order.qty),
        "p": f8(order.price),
        "P": f8(order.stop_price),
        "F": f8(order.iceberg_qty),
        "g": order.order_list_id,
        "C": order.client_order_id if canceled and cancel_client_id else "",
        "x": execution_type,
        "X": order.status,
        "r": reject_reason,
        "i": order.order_id,
        "l": f8(fill.qty if fill else ZERO),
        "z": f8(order.executed),
        "L": f8(fill.price if fill else ZERO),
        "n": f8(fill.commission) if fill else "0",
        "N": fill.commission_asset if fill else None,
        "T": fill.time if fill else now_ms,
        "t": fill.trade_id if fill else -1,
        "v": -1,
        "I": execution_id,
        "w": order.on_book,
        "m": fill.maker if fill else False,
        "M": False,
        "O": order.time,
        "Z": f8(order.cum_quote),
        "Y": f8(fill.quote_qty if fill else ZERO),
        "Q": f8(order.quote_order_qty),
        "W": order.working_time,
        "V": order.stp_mode,
    }
    if order.trailing_delta is not None:
        out["d"] = order.trailing_delta
        out["D"] = order.trailing_time
    if order.strategy_id is not None:
        out["j"] = order.strategy_id
    if order.strategy_type is not None:
        out["J"] = order.strategy_type
    if order.expiry_reason is not None and execution_type == "EXPIRED":
        out["eR"] = order.expiry_reason
    return out


def list_status(
    order_list: OrderList, orders: dict[int, SpotOrder], now_ms: int, reject_reason: str = "NONE"
) -> dict[str, Any]:
    """``listStatus`` with every key of the reference table (3.6)."""
    return {
        "e": "listStatus",
        "E": now_ms,
        "s": order_list.symbol,
        "g": order_list.order_list_id,
        "c": order_list.contingency_type,
        "l": order_list.list_status_type,
        "L": order_list.list_order_status,
        "r": reject_reason,
        "C": order_list.list_client_order_id,
        "T": now_ms,
        "O": [
            {"s": order_list.symbol, "i": oid, "c": orders[oid].client_order_id}
            for oid in order_list.order_ids
        ],
    }


def outbound_account_position(
    account: SpotAccount, now_ms: int, assets: set[str] | list[str]
) -> dict[str, Any]:
    """``outboundAccountPosition``: the changed assets only, as Binance sends it."""
    rows = []
    for asset in sorted(assets):
        bal = account.balance(asset)
        rows.append({"a": asset, "f": f8(bal.free), "l": f8(bal.locked)})
    return {"e": "outboundAccountPosition", "E": now_ms, "u": now_ms, "B": rows}


def balance_update(asset: str, delta: Decimal, now_ms: int) -> dict[str, Any]:
    """``balanceUpdate``: a deposit, withdrawal or transfer (the control API's balance moves)."""
    return {"e": "balanceUpdate", "E": now_ms, "a": asset, "d": f8(delta), "T": now_ms}
