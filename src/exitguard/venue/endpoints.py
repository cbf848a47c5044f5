"""The venue's REST routes as data: path, method, security, weight, order count, handler.

USD-M: the table of ``usdm/interface.md``. Spot: ``rest-api.md`` weights (reference 3 and 4) —
exchangeInfo 20, account 20, GET order 4, openOrders 6 (80 without a symbol), allOrders and
myTrades 20, orderList queries 4/6/20, ticker/price and ticker/bookTicker 2 (4 for several
symbols), depth by ``limit`` (5/25/50/250), order/test 1 (20 with ``computeCommissionRates``),
listenKey requests 2; the ORDERS count of an OCO is 2 and of an OTOCO 3 (the unfilled-order
count of each endpoint). From 2026-04-02 Spot order placements, cancels and order lists cost 0
weight when they succeed (``free_on_success``; Spot CHANGELOG 2026-03-27: ``POST /api/v3/order``,
``DELETE /api/v3/order``, ``DELETE /api/v3/openOrders``, ``POST /api/v3/order/cancelReplace``,
``POST /api/v3/order/oco``, ``POST /api/v3/orderList/oco|oto|otoco|opo|opoco``,
``DELETE /api/v3/orderList``); a failed one is charged the weight listed here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from exitguard.domain.enums import Product

from .auth import Security
from .safe_json import loads_bounded

__all__ = ["ALL_ENDPOINTS", "ENDPOINTS", "SPOT_ENDPOINTS", "Endpoint"]


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One REST route: who may call it, what it costs, which exchange method answers."""

    method: str
    path: str
    handler: str
    security: Security
    weight: int
    weight_without_symbol: int | None = None  # e.g. openOrders: 40 for all symbols
    places_orders: bool = False  # counts toward ORDERS; order-count headers
    product: Product = Product.USDM
    order_count: int = 1  # ORDERS added by one request (OCO 2, OTOCO 3)
    weight_fn: Callable[[Mapping[str, str]], int] | None = None
    free_on_success: bool = False  # Spot order requests from 2026-04-02 (module docstring)

    def weight_for(self, params: Mapping[str, str]) -> int:
        if self.weight_fn is not None:
            return self.weight_fn(params)
        if self.weight_without_symbol is not None and not params.get("symbol"):
            return self.weight_without_symbol
        return self.weight

    def orders_for(self, params: Mapping[str, str]) -> int:
        if self.handler != "batch_orders":
            return self.order_count
        try:
            orders = loads_bounded(params.get("batchOrders", ""))
        except ValueError:
            return 1
        return len(orders) if isinstance(orders, list) and orders else 1


_N, _US, _T, _UD = Security.NONE, Security.USER_STREAM, Security.TRADE, Security.USER_DATA


def _ep(
    method: str, paths: str, handler: str, security: Security, weight: int, **kw: Any
) -> list[Endpoint]:
    return [Endpoint(method, p.strip(), handler, security, weight, **kw) for p in paths.split(",")]


def _spot(
    method: str, path: str, handler: str, security: Security, weight: int, **kw: Any
) -> list[Endpoint]:
    return _ep(method, "/api/v3/" + path, handler, security, weight, product=Product.SPOT, **kw)


def spot_depth_weight(params: Mapping[str, str]) -> int:
    raw = params.get("limit") or "100"
    limit = int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 10 else 100
    return 5 if limit <= 100 else 25 if limit <= 500 else 50 if limit <= 1000 else 250


def spot_many_weight(params: Mapping[str, str]) -> int:
    """ticker/price, ticker/bookTicker: 2 for one symbol, 4 for several or all."""
    return 2 if params.get("symbol") and not params.get("symbols") else 4


def klines_weight(params: Mapping[str, str]) -> int:
    """USD-M klines: 1 below limit 100, 2 below 500, 5 up to 1000, 10 above (Klines page)."""
    raw = params.get("limit") or "500"
    limit = int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 10 else 500
    return 1 if limit < 100 else 2 if limit < 500 else 5 if limit <= 1000 else 10


def spot_24hr_weight(params: Mapping[str, str]) -> int:
    """Spot ticker/24hr: 2 for one symbol, 80 for all (40 for 21-100 symbols)."""
    if params.get("symbol"):
        return 2
    many = params.get("symbols") or ""
    count = many.count(",") + 1 if many else 0
    return 2 if 0 < count <= 20 else 40 if 0 < count <= 100 else 80


def spot_test_weight(params: Mapping[str, str]) -> int:
    return 20 if params.get("computeCommissionRates") == "true" else 1


# The table of usdm/interface.md, as data.
ENDPOINTS: tuple[Endpoint, ...] = tuple(
    e
    for group in (
        _ep("GET", "/fapi/v1/ping", "ping", _N, 1),
        _ep("GET", "/fapi/v1/time", "server_time", _N, 1),
        _ep("GET", "/fapi/v1/exchangeInfo", "exchange_info", _N, 1),
        _ep("GET", "/fapi/v1/premiumIndex", "premium_index", _N, 1),
        _ep("GET", "/fapi/v1/ticker/price, /fapi/v2/ticker/price", "ticker_price", _N, 1),
        _ep("GET", "/fapi/v1/ticker/bookTicker", "book_ticker", _N, 1),
        _ep("GET", "/fapi/v1/depth", "depth", _N, 2),
        _ep("GET", "/fapi/v1/positionSide/dual", "get_position_mode", _UD, 30),
        _ep("POST", "/fapi/v1/positionSide/dual", "set_position_mode", _T, 1),
        _ep("POST", "/fapi/v1/leverage", "set_leverage", _T, 1),
        _ep("GET", "/fapi/v2/account", "account_info", _UD, 5),
        _ep("GET", "/fapi/v3/account", "account_info_v3", _UD, 5),
        _ep("GET", "/fapi/v2/balance, /fapi/v3/balance", "balance", _UD, 5),
        _ep("GET", "/fapi/v2/positionRisk", "position_risk", _UD, 5),
        _ep("GET", "/fapi/v3/positionRisk", "position_risk_v3", _UD, 5),
        _ep("POST", "/fapi/v1/order", "new_order", _T, 1, places_orders=True),
        _ep("GET", "/fapi/v1/order", "query_order", _UD, 1),
        _ep("DELETE", "/fapi/v1/order", "cancel_order", _T, 1),
        _ep("POST", "/fapi/v1/batchOrders", "batch_orders", _T, 5, places_orders=True),
        _ep("GET", "/fapi/v1/openOrders", "open_orders", _UD, 1, weight_without_symbol=40),
        _ep("GET", "/fapi/v1/allOrders", "all_orders", _UD, 5),
        _ep("DELETE", "/fapi/v1/allOpenOrders", "cancel_all_open_orders", _T, 1),
        _ep("GET", "/fapi/v1/userTrades", "user_trades", _UD, 5),
        _ep("POST", "/fapi/v1/algoOrder", "new_algo_order", _T, 0, places_orders=True),
        _ep("GET", "/fapi/v1/algoOrder", "query_algo_order", _UD, 1),
        _ep("DELETE", "/fapi/v1/algoOrder", "cancel_algo_order", _T, 1),
        _ep("GET", "/fapi/v1/openAlgoOrders", "open_algo_orders", _UD, 1, weight_without_symbol=40),
        _ep("GET", "/fapi/v1/allAlgoOrders", "all_algo_orders", _UD, 5),
        _ep("DELETE", "/fapi/v1/algoOpenOrders", "cancel_all_algo_open_orders", _T, 1),
        # Served since the documented-shapes work: nautilus and ccxt call them on connect.
        _ep("GET", "/fapi/v1/ticker/24hr", "ticker_24hr", _N, 1, weight_without_symbol=40),
        _ep("GET", "/fapi/v1/klines", "klines", _N, 5, weight_fn=klines_weight),
        _ep("GET", "/fapi/v1/trades", "trades", _N, 5),
        _ep("GET", "/fapi/v1/aggTrades", "agg_trades", _N, 20),
        _ep("GET", "/fapi/v1/fundingRate", "funding_rate", _N, 1),
        _ep("GET", "/fapi/v1/symbolConfig", "symbol_config", _UD, 5),
        _ep("GET", "/fapi/v1/commissionRate", "commission_rate", _UD, 20),
        _ep("GET", "/fapi/v1/leverageBracket", "leverage_bracket", _UD, 1),
        _ep("POST", "/fapi/v1/marginType", "set_margin_type", _T, 1),
        _ep("GET", "/fapi/v1/multiAssetsMargin", "get_multi_assets", _UD, 30),
        _ep("POST", "/fapi/v1/multiAssetsMargin", "set_multi_assets", _T, 1),
        _ep("GET", "/fapi/v1/income", "income", _UD, 30),
        _ep("PUT", "/fapi/v1/order", "modify_order", _T, 1, places_orders=True),
        _ep("POST", "/fapi/v1/listenKey", "listen_key_create", _US, 1),
        _ep("PUT", "/fapi/v1/listenKey", "listen_key_keepalive", _US, 1),
        _ep("DELETE", "/fapi/v1/listenKey", "listen_key_close", _US, 1),
    )
    for e in group
)

_ORD = {"places_orders": True, "free_on_success": True}
_FREE = {"free_on_success": True}
SPOT_ENDPOINTS: tuple[Endpoint, ...] = tuple(
    e
    for group in (
        _spot("GET", "ping", "ping", _N, 1),
        _spot("GET", "time", "server_time", _N, 1),
        _spot("GET", "exchangeInfo", "exchange_info", _N, 20),
        _spot("GET", "ticker/price", "ticker_price", _N, 2, weight_fn=spot_many_weight),
        _spot("GET", "ticker/bookTicker", "book_ticker", _N, 2, weight_fn=spot_many_weight),
        _spot("GET", "depth", "depth", _N, 5, weight_fn=spot_depth_weight),
        _spot("GET", "referencePrice", "reference_price", _N, 2),
        _spot("GET", "account", "account", _UD, 20),
        _spot("POST", "order", "new_order", _T, 1, **_ORD),
        _spot("POST", "order/test", "order_test", _T, 1, weight_fn=spot_test_weight),
        _spot("GET", "order", "query_order", _UD, 4),
        _spot("DELETE", "order", "cancel_order", _T, 1, **_FREE),
        _spot("POST", "order/cancelReplace", "cancel_replace", _T, 1, **_ORD),
        _spot("GET", "openOrders", "open_orders", _UD, 6, weight_without_symbol=80),
        _spot("DELETE", "openOrders", "cancel_open_orders", _T, 1, **_FREE),
        _spot("GET", "allOrders", "all_orders", _UD, 20),
        _spot("GET", "myTrades", "my_trades", _UD, 20),
        _spot("POST", "orderList/oco", "order_list_oco", _T, 1, order_count=2, **_ORD),
        _spot("POST", "orderList/oto", "order_list_oto", _T, 1, order_count=2, **_ORD),
        _spot("POST", "orderList/otoco", "order_list_otoco", _T, 1, order_count=3, **_ORD),
        _spot("POST", "orderList/opo", "order_list_opo", _T, 1, order_count=2, **_ORD),
        _spot("POST", "orderList/opoco", "order_list_opoco", _T, 1, order_count=3, **_ORD),
        _spot("POST", "order/oco", "order_oco", _T, 1, order_count=2, **_ORD),
        _spot("GET", "orderList", "query_order_list", _UD, 4),
        _spot("DELETE", "orderList", "cancel_order_list", _T, 1, **_FREE),
        _spot("GET", "openOrderList", "open_order_lists", _UD, 6),
        _spot("GET", "allOrderList", "all_order_lists", _UD, 20),
        _spot("GET", "ticker/24hr", "ticker_24hr", _N, 2, weight_fn=spot_24hr_weight),
        _spot("GET", "klines", "klines", _N, 2),
        _spot("GET", "avgPrice", "avg_price", _N, 2),
        _spot("GET", "trades", "trades", _N, 25),
        _spot("GET", "aggTrades", "agg_trades", _N, 4),
        _ep("GET", "/sapi/v1/asset/tradeFee", "trade_fee", _UD, 1, product=Product.SPOT),
        _spot("POST", "userDataStream", "listen_key_create", _US, 2),
        _spot("PUT", "userDataStream", "listen_key_keepalive", _US, 2),
        _spot("DELETE", "userDataStream", "listen_key_close", _US, 2),
    )
    for e in group
)

ALL_ENDPOINTS: tuple[Endpoint, ...] = ENDPOINTS + SPOT_ENDPOINTS
