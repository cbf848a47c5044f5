"""Regular and algo order records of the USD-M venue, and their Binance JSON shapes.

Shapes: New-Order / Query-Order responses, New-Algo-Order and Query-Algo-Order responses, and the
ORDER_TRADE_UPDATE / ALGO_UPDATE / ACCOUNT_UPDATE events with every key listed in
``shared/reference/binance-api.md`` 1.2, 1.4, 1.10, 2.5, 2.6. Numbers are strings, flags booleans.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from exitguard.domain.enums import PositionSide, Side
from exitguard.domain.numbers import format_decimal

from .accounts import Account, Fill

__all__ = ["AlgoOrder", "Order", "account_update", "algo_update", "order_trade_update"]

ZERO = Decimal(0)
TERMINAL_ORDER = frozenset({"FILLED", "CANCELED", "EXPIRED", "EXPIRED_IN_MATCH", "REJECTED"})
TERMINAL_ALGO = frozenset({"FINISHED", "CANCELED", "EXPIRED", "REJECTED"})


def _s(value: Decimal | None) -> str:
    return "0" if value is None else format_decimal(value)


@dataclass(slots=True)
class Order:
    """A matching-engine order (a regular order, or the child of a triggered algo order)."""

    order_id: int
    client_order_id: str
    api_key: str
    symbol: str
    side: Side
    position_side: PositionSide
    type: str  # LIMIT | MARKET
    orig_type: str
    time_in_force: str
    qty: Decimal
    price: Decimal
    reduce_only: bool
    close_position: bool
    time: int
    update_time: int
    stop_price: Decimal = ZERO
    working_type: str = "CONTRACT_PRICE"
    price_protect: bool = False
    good_till_date: int = 0
    price_match: str = "NONE"
    stp_mode: str = "EXPIRE_MAKER"
    status: str = "NEW"
    executed: Decimal = ZERO
    cum_quote: Decimal = ZERO
    algo_id: int | None = None
    expiry_reason: int = 0

    @property
    def open(self) -> bool:
        return self.status not in TERMINAL_ORDER

    @property
    def avg_price(self) -> Decimal:
        return self.cum_quote / self.executed if self.executed else ZERO

    def to_json(self) -> dict[str, object]:
        """The Query-Order row (also openOrders/allOrders items)."""
        return {
            "orderId": self.order_id,
            "symbol": self.symbol,
            "status": self.status,
            "clientOrderId": self.client_order_id,
            "price": _s(self.price),
            "avgPrice": _s(self.avg_price),
            "origQty": _s(self.qty),
            "executedQty": _s(self.executed),
            "cumQuote": _s(self.cum_quote),
            "timeInForce": self.time_in_force,
            "type": self.type,
            "reduceOnly": self.reduce_only,
            "closePosition": self.close_position,
            "side": self.side.value,
            "positionSide": self.position_side.value,
            "stopPrice": _s(self.stop_price),
            "workingType": self.working_type,
            "priceProtect": self.price_protect,
            "origType": self.orig_type,
            "priceMatch": self.price_match,
            "selfTradePreventionMode": self.stp_mode,
            "goodTillDate": self.good_till_date,
            "time": self.time,
            "updateTime": self.update_time,
        }

    def ack_json(self) -> dict[str, object]:
        """The New-Order / Cancel-Order answer: the query row with ``cumQty`` and without
        ``time`` (those pages' examples; ``avgPrice``/``cumQuote`` are in the examples though
        the SDK's models lack them)."""
        out = self.to_json()
        del out["time"]
        out["cumQty"] = _s(self.executed)
        return out


@dataclass(slots=True)
class AlgoOrder:
    """A conditional order resting in the Algo Service (``POST /fapi/v1/algoOrder``)."""

    algo_id: int
    client_algo_id: str
    api_key: str
    symbol: str
    side: Side
    position_side: PositionSide
    type: str
    time_in_force: str
    quantity: Decimal | None
    price: Decimal | None
    trigger_price: Decimal | None
    working_type: str
    price_match: str
    close_position: bool
    price_protect: bool
    reduce_only: bool
    activate_price: Decimal | None
    callback_rate: Decimal | None
    good_till_date: int
    stp_mode: str
    create_time: int
    update_time: int
    status: str = "NEW"
    activated: bool = False  # the ``ia`` flag (trailing only)
    trigger_time: int = 0
    actual_order_id: int | None = None
    actual_type: str = ""
    actual_price: Decimal = ZERO
    actual_qty: Decimal = ZERO
    reject_reason: str = ""

    @property
    def open(self) -> bool:
        return self.status not in TERMINAL_ALGO

    def _row(self) -> dict[str, object]:
        """The keys shared by the new-order answer and the query rows."""
        return {
            "algoId": self.algo_id,
            "clientAlgoId": self.client_algo_id,
            "algoType": "CONDITIONAL",
            "orderType": self.type,
            "symbol": self.symbol,
            "side": self.side.value,
            "positionSide": self.position_side.value,
            "timeInForce": self.time_in_force,
            "quantity": _s(self.quantity),
            "algoStatus": self.status,
            "triggerPrice": _s(self.trigger_price),
            "price": _s(self.price),
            "icebergQuantity": None,
            "selfTradePreventionMode": self.stp_mode,
            "workingType": self.working_type,
            "priceMatch": self.price_match,
            "closePosition": self.close_position,
            "priceProtect": self.price_protect,
            "reduceOnly": self.reduce_only,
            "createTime": self.create_time,
            "updateTime": self.update_time,
            "triggerTime": self.trigger_time,
            "goodTillDate": self.good_till_date,
        }

    def new_response(self) -> dict[str, object]:
        """``NewAlgoOrderResponse``: ``activatePrice``/``callbackRate`` only on a trailing stop
        (a client that parses every present key as a decimal must not meet ``""``)."""
        out = self._row()
        if self.type == "TRAILING_STOP_MARKET":
            out["activatePrice"] = _s(self.activate_price)
            out["callbackRate"] = _s(self.callback_rate)
        return out

    def to_json(self) -> dict[str, object]:
        """``QueryAlgoOrderResponse`` (also the items of openAlgoOrders / allAlgoOrders): the
        documented keys only. The query models carry no activatePrice/callbackRate (reference
        1.4), so neither does the venue, not even for a trailing stop."""
        out = self._row()
        out.update(
            {
                "actualOrderId": "" if self.actual_order_id is None else str(self.actual_order_id),
                "actualPrice": _s(self.actual_price),
                "actualType": self.actual_type,
                "actualQty": _s(self.actual_qty),
                "tpOrderType": "",
            }
        )
        return out


def order_trade_update(
    order: Order, now_ms: int, execution_type: str, fill: Fill | None = None
) -> dict[str, object]:
    """ORDER_TRADE_UPDATE with every key of the reference (2.5)."""
    return {
        "e": "ORDER_TRADE_UPDATE",
        "E": now_ms,
        "T": now_ms,
        "o": {
            "s": order.symbol,
            "c": order.client_order_id,
            "S": order.side.value,
            "o": order.type,
            "f": order.time_in_force,
            "q": _s(order.qty),
            "p": _s(order.price),
            "ap": _s(order.avg_price),
            "sp": _s(order.stop_price),
            "x": execution_type,
            "X": order.status,
            "i": order.order_id,
            "l": _s(fill.qty if fill else ZERO),
            "z": _s(order.executed),
            "L": _s(fill.price if fill else ZERO),
            "N": "USDT",
            "n": _s(fill.commission if fill else ZERO),
            "T": now_ms,
            "t": fill.trade_id if fill else 0,
            "b": "0",
            "a": "0",
            "m": fill.maker if fill else False,
            "R": order.reduce_only,
            "wt": order.working_type,
            "ot": order.orig_type,
            "ps": order.position_side.value,
            "cp": order.close_position,
            "AP": "0",
            "cr": "0",
            "pP": order.price_protect,
            "si": 0,
            "ss": 0,
            "rp": _s(fill.realized_pnl if fill else ZERO),
            "V": order.stp_mode,
            "pm": order.price_match,
            "gtd": order.good_till_date,
            "er": str(order.expiry_reason),
        },
    }


def algo_update(algo: AlgoOrder, now_ms: int) -> dict[str, object]:
    """ALGO_UPDATE with every key of the reference (1.10); ``ia`` only matters for trailing."""
    return {
        "e": "ALGO_UPDATE",
        "T": now_ms,
        "E": now_ms,
        "o": {
            "caid": algo.client_algo_id,
            "aid": algo.algo_id,
            "at": "CONDITIONAL",
            "o": algo.type,
            "s": algo.symbol,
            "S": algo.side.value,
            "ps": algo.position_side.value,
            "f": algo.time_in_force,
            "q": _s(algo.quantity),
            "X": algo.status,
            "ai": "" if algo.actual_order_id is None else str(algo.actual_order_id),
            "ap": _s(algo.actual_price),
            "aq": _s(algo.actual_qty),
            "act": algo.actual_type or "0",
            "tp": _s(algo.trigger_price),
            "p": _s(algo.price),
            "V": algo.stp_mode,
            "wt": algo.working_type,
            "pm": algo.price_match,
            "cp": algo.close_position,
            "pP": algo.price_protect,
            "R": algo.reduce_only,
            "tt": algo.trigger_time,
            "gtd": algo.good_till_date,
            "rm": algo.reject_reason,
            "ia": algo.activated,
            "cr": "" if algo.callback_rate is None else _s(algo.callback_rate),
        },
    }


def account_update(
    account: Account, now_ms: int, reason: str, symbols: set[str], marks: dict[str, Decimal]
) -> dict[str, object]:
    """ACCOUNT_UPDATE: the wallet and the changed positions only (reference 2.6)."""
    positions = [
        {
            "s": p.symbol,
            "pa": _s(p.amount),
            "ep": _s(p.entry_price),
            "bep": _s(p.entry_price),
            "cr": "0",
            "up": _s(p.unrealized_pnl(marks.get(p.symbol, p.entry_price))),
            "mt": "cross",
            "iw": "0",
            "ps": p.position_side.value,
        }
        for (symbol, _), p in account.positions.items()
        if symbol in symbols
    ]
    wallet = _s(account.wallet)
    return {
        "e": "ACCOUNT_UPDATE",
        "E": now_ms,
        "T": now_ms,
        "a": {
            "m": reason,
            "B": [{"a": "USDT", "wb": wallet, "cw": wallet, "bc": "0"}],
            "P": positions,
        },
    }
