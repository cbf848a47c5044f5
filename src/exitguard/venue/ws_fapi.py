"""The USD-M WebSocket API at ``/ws-fapi/v1`` (USD-M ``websocket-api-general-info.md``;
reference 1.8 and ``binance-changes-2026.md``).

Framing, rate-limit fields, signatures and ``session.logon`` (Ed25519 only) are the Spot API's
(:mod:`.ws_frame`); the limiter is USD-M's REST limiter (one REQUEST_WEIGHT per IP, ORDERS per
account, shared with ``/fapi``), and every trading method calls the same
:class:`~exitguard.venue.usdm.exchange.UsdmExchange` endpoint as its REST twin
(:mod:`.endpoints`), so order rules, errors and events are identical: ``order.place`` with one of
the conditional types answers -4120 like ``POST /fapi/v1/order``, an unknown order -2011/-2013.

Weights are the WebSocket API's own (the SDK's ``websocket_api`` docstrings, which copy
Binance's pages): ``order.place`` and ``algoOrder.place`` 0 (they count one ORDERS each),
``order.cancel``, ``order.status``, ``algoOrder.cancel`` 1, ``account.*`` 5, ``ticker.price`` /
``ticker.book`` 1 (2 without a symbol), ``depth`` by ``limit`` as REST. ``session.*`` cost 2 (as
on Spot; USD-M does not document it).

Methods: ``session.logon``, ``session.status``, ``session.logout``, ``order.place``,
``order.cancel``, ``order.status``, ``algoOrder.place``, ``algoOrder.cancel``,
``account.status`` / ``v2/account.status`` (account information), ``account.position`` /
``v2/account.position`` (position rows), ``account.balance`` / ``v2/account.balance``,
``ticker.price``, ``ticker.book``, ``depth``. Not served (answered ``-1000`` "Unknown method"):
``order.modify`` (the venue has no order modification yet) and the listen-key methods
``userDataStream.*``. The ``latency_ms`` and ``status_429`` faults apply here as on REST.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from aiohttp import web

from exitguard.domain.enums import Product

from .auth import Security
from .streams import Conn
from .ws_frame import Method, WsApiBase, WsSession

__all__ = ["FAPI_METHODS", "WS_FAPI", "WsFapi"]

_N, _T, _UD = Security.NONE, Security.TRADE, Security.USER_DATA


def _many_weight(params: Mapping[str, str]) -> int:
    return 1 if params.get("symbol") else 2


def _depth_weight(params: Mapping[str, str]) -> int:
    """USD-M depth: 2 up to 50 levels, 5 for 100, 10 for 500, 20 for 1000 (``limit`` 500 by
    default)."""
    raw = params.get("limit") or "500"
    limit = int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 10 else 500
    return 2 if limit <= 50 else 5 if limit <= 100 else 10 if limit <= 500 else 20


FAPI_METHODS: dict[str, Method] = {
    "session.logon": Method("_logon", _N, 2),
    "session.status": Method("_status", _N, 2),
    "session.logout": Method("_logout", _N, 2),
    "order.place": Method("new_order", _T, 0, orders=1),
    "order.cancel": Method("cancel_order", _T, 1),
    "order.status": Method("query_order", _UD, 1),
    "algoOrder.place": Method("new_algo_order", _T, 0, orders=1),
    "algoOrder.cancel": Method("cancel_algo_order", _T, 1),
    "account.status": Method("account_info", _UD, 5),
    "v2/account.status": Method("account_info_v3", _UD, 5),  # the REST v3 account shape
    "account.position": Method("position_risk", _UD, 5),
    "v2/account.position": Method("position_risk", _UD, 5),
    "account.balance": Method("balance", _UD, 5),
    "v2/account.balance": Method("balance", _UD, 5),
    "ticker.price": Method("ticker_price", _N, _many_weight),
    "ticker.book": Method("book_ticker", _N, _many_weight),
    "depth": Method("depth", _N, _depth_weight),
}


def _keys(text: str) -> frozenset[str]:
    return frozenset(text.split())


# The documented result keys of each method (USD-M WebSocket API pages, as the SDK's
# websocket_api models list them): the REST answer carries a few more (``avgPrice``,
# ``cumQuote``, ``time`` on a placed order; ``leverage``, ``marginType`` on a v3 position row),
# which a strict client of the WebSocket API does not know.
_ORDER_PLACE = _keys(
    "orderId symbol status clientOrderId price origQty executedQty cumQty timeInForce type "
    "reduceOnly closePosition side positionSide stopPrice workingType priceProtect origType "
    "priceMatch selfTradePreventionMode goodTillDate updateTime"
)
_ORDER_STATUS = _keys(
    "avgPrice clientOrderId cumQuote executedQty orderId origQty origType price reduceOnly side "
    "positionSide status stopPrice closePosition symbol time timeInForce type activatePrice "
    "priceRate updateTime workingType priceProtect priceMatch selfTradePreventionMode goodTillDate"
)
_ORDER_CANCEL = _keys(
    "clientOrderId cumQty executedQty orderId origQty origType price reduceOnly side positionSide "
    "status stopPrice closePosition symbol timeInForce type activatePrice priceRate updateTime "
    "workingType priceProtect priceMatch selfTradePreventionMode goodTillDate"
)
_POSITION_V1 = _keys(
    "entryPrice breakEvenPrice marginType isAutoAddMargin isolatedMargin leverage "
    "liquidationPrice markPrice maxNotionalValue positionAmt notional isolatedWallet symbol "
    "unRealizedProfit positionSide updateTime"
)
_POSITION_V2 = _keys(
    "symbol positionSide positionAmt entryPrice breakEvenPrice markPrice unRealizedProfit "
    "liquidationPrice isolatedMargin notional marginAsset isolatedWallet initialMargin "
    "maintMargin positionInitialMargin openOrderInitialMargin adl bidNotional askNotional "
    "updateTime"
)
# account.status is the REST v2 account without ``feeBurn`` (not in the WS API's model).
_ACCOUNT_V1 = _keys(
    "feeTier canTrade canDeposit canWithdraw updateTime multiAssetsMargin tradeGroupId "
    "totalInitialMargin totalMaintMargin totalWalletBalance totalUnrealizedProfit "
    "totalMarginBalance totalPositionInitialMargin totalOpenOrderInitialMargin "
    "totalCrossWalletBalance totalCrossUnPnl availableBalance maxWithdrawAmount assets positions"
)
_RESULT_KEYS: dict[str, frozenset[str]] = {
    "account.status": _ACCOUNT_V1,
    "order.place": _ORDER_PLACE,
    "order.status": _ORDER_STATUS,
    "order.cancel": _ORDER_CANCEL,
    "account.position": _POSITION_V1,
    "v2/account.position": _POSITION_V2,
}


def _only(row: object, keys: frozenset[str]) -> object:
    if isinstance(row, dict):
        return {k: v for k, v in row.items() if k in keys}
    return row


class WsFapi(WsApiBase[WsSession]):
    """Every USD-M WebSocket API connection of the venue."""

    path: ClassVar[str] = "/ws-fapi/v1"
    product: ClassVar[Product] = Product.USDM
    methods: ClassVar[Mapping[str, Method]] = FAPI_METHODS

    def _new_session(self, conn: Conn, ip: str, now: int) -> WsSession:
        return WsSession(conn, ip, now)

    def _shape(self, method: str, result: object) -> object:
        if method == "algoOrder.place" and isinstance(result, dict):
            # Trigger fields a non-trailing order does not have are absent, not "".
            return {k: v for k, v in result.items() if v != ""}
        keys = _RESULT_KEYS.get(method)
        if keys is None:
            return result
        if isinstance(result, list):
            return [_only(row, keys) for row in result]
        return _only(result, keys)


WS_FAPI: web.AppKey[WsFapi] = web.AppKey("exitguard_ws_fapi", WsFapi)
