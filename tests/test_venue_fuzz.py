"""Fuzz the paper venue's REST surface with random and malformed parameters.

For every route of ``ENDPOINTS`` and ``SPOT_ENDPOINTS`` (path × method) hypothesis builds a raw
request: the endpoint's real parameter names (the domain field tables for the order endpoints, a
short list for the others) mixed with junk names, carrying valid, random and adversarial values (empty, huge,
negative, exponent forms, NaN, unicode, invalid UTF-8, ``%00``, JSON fragments, long strings),
each pair percent-encoded, ``+``-encoded or sent raw (so ``&``, ``=`` and ``%`` can inject
structure), sometimes repeated, in the query string or a form body. Most requests to SIGNED
endpoints are signed correctly with the venue account's secret (HMAC over the exact bytes sent,
``timestamp`` from the venue's stepped clock) so they reach the endpoint logic; the rest are
unsigned, badly signed, stale, from the future, or sent with a missing or unknown key.

Every answer must satisfy:

- HTTP status below 500 and a JSON body (never aiohttp's text page);
- an error (status >= 400) is ``{"code": <int < 0>, "msg": <str>}``;
- an error changes nothing: both exchanges' snapshots (without ``time``) plus the account state
  the snapshots leave out (leverage, listen keys, trades), and no user-data event was emitted —
  except Spot's cancelReplace answering 409 -2021, which Binance defines as half done;
- the venue logged no error. Its catch-all answers an unexpected exception with ``-1000`` and
  logs "venue bug"; that is a 500 in disguise and fails the test.

One venue for the module runs on its own event loop in a background thread (stepped clock that
never moves, 127.0.0.1 port 0, rate limits raised out of reach); the client is a blocking
``http.client`` connection, so the query goes out byte for byte. Before each example both
accounts get back their long position, resting LIMIT order, open stop and listen key, and on Spot
their balances, a resting LIMIT order, an open OCO and a listen key (ids the values may use);
past ``MAX_HISTORY`` orders the venue is reset. Every wait is bounded.

``@example`` cases pin the venue bugs this fuzzer found (see ``REGRESSIONS``).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import http.client
import json
import logging
import threading
import traceback
import tracemalloc
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any, TypeVar
from urllib.parse import quote, quote_from_bytes, quote_plus

import pytest
from hypothesis import event, example, given, settings
from hypothesis import strategies as st

from exitguard.domain.enums import PositionSide, Product, Side
from exitguard.domain.requests.spot import SPOT_ORDER_FIELDS
from exitguard.domain.requests.usdm import ALGO_FIELDS, FUTURES_ORDER_FIELDS
from exitguard.venue.clock import SteppedClock
from exitguard.venue.errors import VenueError
from exitguard.venue.http import ALL_ENDPOINTS, CONTEXT, ENDPOINTS, SPOT_ENDPOINTS
from exitguard.venue.ratelimit import RateLimitConfig
from exitguard.venue.server import Venue

T = TypeVar("T")

START_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z; the stepped clock never moves here
TIMEOUT_S = 10.0
SYMBOL = "BTCUSDT"
EXAMPLES_PER_ENDPOINT = 40
MAX_HISTORY = 1000  # orders + algo orders; beyond, the venue is reset (snapshots stay cheap)
# aiohttp refuses a request line over 8190 bytes before the app sees it (see test_nasty_raw_query);
# the fuzzer keeps its queries below that and sends long values in the body as well.
MAX_TARGET_BYTES = 8000
UNREACHABLE = RateLimitConfig(
    request_weight_per_minute=10**12,
    orders_per_10s=10**12,
    orders_per_minute=10**12,
    ban_after_429s=10**9,
)
UNREACHABLE_SPOT = RateLimitConfig(
    request_weight_per_minute=10**12,
    orders_per_10s=10**12,
    orders_per_minute=0,
    orders_per_day=10**12,
    ban_after_429s=10**9,
)
SPOT_FUNDS = {"USDT": Decimal(1_000_000), "BTC": Decimal(20)}

# -- the venue in a thread ---------------------------------------------------------------------


class _ErrorLog(logging.Handler):
    """Collects ERROR records from the venue and aiohttp (they run on the venue's thread)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self._lock = threading.Lock()
        self._records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        with self._lock:
            self._records.append(record)

    def take(self) -> list[str]:
        with self._lock:
            records, self._records = self._records, []
        out = []
        for r in records:
            text = f"{r.name}: {r.getMessage()}"
            if r.exc_info and r.exc_info[1] is not None:
                text += "\n" + "".join(traceback.format_exception(*r.exc_info))
            out.append(text)
        return out


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    content_type: str
    raw: bytes


class VenueThread:
    """A :class:`Venue` on a private event loop; blocking helpers to reach it from the test."""

    def __init__(self) -> None:
        self.errors = _ErrorLog()
        self._loggers = [logging.getLogger(n) for n in ("exitguard", "aiohttp")]
        for lg in self._loggers:
            lg.addHandler(self.errors)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="venue-fuzz", daemon=True)
        self.thread.start()
        self.venue: Venue = self.run(self._make())
        self.run(self.venue.start())
        self.x = self.venue.exchange
        self.spot = self.venue.spot
        self.main = self.venue.account
        self.other = self.on_loop(lambda: self.x.create_account(Decimal(10_000)))
        self.on_loop(self._spot_other)
        self.events: list[dict[str, Any]] = []
        self.on_loop(self._subscribe)
        self._conn: http.client.HTTPConnection | None = None

    def _spot_other(self) -> None:
        self.spot.create_account(
            SPOT_FUNDS, api_key=self.other.api_key, api_secret=self.other.api_secret
        )

    def _subscribe(self) -> None:
        for acct in (self.main, self.other):
            self.x.subscribe(acct, self.events.append)
            self.spot.subscribe(acct, self.events.append)

    @staticmethod
    async def _make() -> Venue:
        return Venue(
            clock=SteppedClock(START_MS),
            limits=UNREACHABLE,
            spot_limits=UNREACHABLE_SPOT,
            spot_balances=SPOT_FUNDS,
            feed=None,
        )

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(TIMEOUT_S)

    def on_loop(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the venue's thread (the exchange is not thread-safe)."""

        async def call() -> T:
            return fn()

        return self.run(call())

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
        try:
            self.run(self.venue.stop())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(TIMEOUT_S)
            self.loop.close()
            for lg in self._loggers:
                lg.removeHandler(self.errors)

    # -- HTTP --------------------------------------------------------------------------------

    def send(self, method: str, target: str, body: bytes | None, headers: dict[str, str]) -> Reply:
        for attempt in (1, 2):
            conn = self._conn
            if conn is None:
                conn = self._conn = http.client.HTTPConnection(
                    "127.0.0.1", self.venue.port, timeout=TIMEOUT_S
                )
            try:
                conn.request(method, target, body=body, headers=headers)
                resp = conn.getresponse()
                raw = resp.read()
                ctype = (resp.getheader("Content-Type") or "").split(";")[0].strip()
                if resp.will_close:
                    conn.close()
                    self._conn = None
                return Reply(resp.status, ctype, raw)
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                # the server closed the idle keep-alive connection: reconnect once
                conn.close()
                self._conn = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    # -- state -------------------------------------------------------------------------------

    def state(self) -> tuple[dict[str, Any], int]:
        """The exchange snapshot without ``time``, the account fields it omits, events so far."""

        def read() -> tuple[dict[str, Any], int]:
            snap = self.x.snapshot()
            snap.pop("time", None)
            snap["account_extras"] = {
                a.api_key: {
                    "leverage": dict(a.leverage),
                    "listen_key": a.listen_key,
                    "listen_key_expires_ms": a.listen_key_expires_ms,
                    "trades": len(a.trades),
                    "dual_side": a.dual_side,
                }
                for a in self.x.accounts.values()
            }
            spot = self.spot.snapshot()
            spot.pop("time", None)
            snap["spot"] = spot
            snap["spot_extras"] = {
                a.api_key: (a.listen_key, a.listen_key_expires_ms, len(a.trades))
                for a in self.spot.accounts.values()
            }
            return snap, len(self.events)

        return self.on_loop(read)

    def seed(self, product: Product = Product.USDM) -> dict[str, str]:
        """Make sure both accounts hold a long BTCUSDT position, a resting LIMIT order and an open
        closePosition stop (re-placed when an earlier example cancelled or filled them), and the
        main account a listen key — on Spot funds, a resting LIMIT, an open OCO and a listen key;
        answer the placeholder values requests may use."""
        history = self.on_loop(
            lambda: len(self.x.orders) + len(self.x.algo.orders) + len(self.spot.orders)
        )
        if history > MAX_HISTORY:
            self.reset()
        if product is Product.SPOT:
            return self.on_loop(self._seed_spot)
        return self.on_loop(self._seed)

    def reset(self) -> None:
        """``POST /_venue/reset``, then both accounts exist again with the same keys."""
        reply = self.send("POST", "/_venue/reset", b"{}", {"Content-Type": "application/json"})
        assert reply.status == 200, reply

        def recreate() -> None:
            self.main = self.venue.account
            self.other = self.x.create_account(
                Decimal(10_000), api_key=self.other.api_key, api_secret=self.other.api_secret
            )
            self._spot_other()

        self.on_loop(recreate)

    def _seed(self) -> dict[str, str]:
        x = self.x
        out = {"@now": str(x.now_ms()), "@nowPlus": str(x.now_ms() + 86_400_000)}
        for acct, tag in ((self.main, ""), (self.other, "other")):
            if not any(p.amount > 0 for p in acct.positions.values() if p.symbol == SYMBOL):
                side = PositionSide.LONG if acct.dual_side else None
                x.open_position(acct, SYMBOL, Side.BUY, Decimal("0.01"), Decimal(65_000), side)
            cid = f"seed{tag}-order"
            order = next(
                (
                    o
                    for o in x.orders.values()
                    if o.open and o.api_key == acct.api_key and o.client_order_id == cid
                ),
                None,
            )
            if order is None:
                params = {
                    "symbol": SYMBOL,
                    "side": "BUY",
                    "type": "LIMIT",
                    "quantity": "0.002",
                    "price": "62000",
                    "timeInForce": "GTC",
                    "newClientOrderId": cid,
                }
                if acct.dual_side:
                    params["positionSide"] = "LONG"
                with contextlib.suppress(VenueError):
                    x.new_order(acct, params)
                order = next((o for o in x.orders.values() if o.client_order_id == cid), None)
            aid = f"seed{tag}-algo"
            algo = next(
                (
                    a
                    for a in x.algo.orders.values()
                    if a.open and a.api_key == acct.api_key and a.client_algo_id == aid
                ),
                None,
            )
            if algo is None:
                params = {
                    "algoType": "CONDITIONAL",
                    "symbol": SYMBOL,
                    "side": "SELL",
                    "type": "STOP_MARKET",
                    "triggerPrice": "60000",
                    "closePosition": "true",
                    "clientAlgoId": aid,
                }
                if acct.dual_side:
                    params["positionSide"] = "LONG"
                with contextlib.suppress(VenueError):
                    x.new_algo_order(acct, params)
                algo = next((a for a in x.algo.orders.values() if a.client_algo_id == aid), None)
            prefix = "@other" if tag else "@"
            out[prefix + ("OrderId" if tag else "orderId")] = str(order.order_id if order else 1)
            out[prefix + ("ClientOrderId" if tag else "clientOrderId")] = cid
            out[prefix + ("AlgoId" if tag else "algoId")] = str(algo.algo_id if algo else 1)
            out[prefix + ("ClientAlgoId" if tag else "clientAlgoId")] = aid
        if self.main.listen_key is None or self.main.listen_key_expires_ms <= x.now_ms():
            x.listen_key_create(self.main, {})
        out["@listenKey"] = self.main.listen_key or ""
        return out

    def _seed_spot(self) -> dict[str, str]:
        x = self.spot
        out = {"@now": str(x.now_ms()), "@nowPlus": str(x.now_ms() + 86_400_000)}
        for key, tag in ((self.main.api_key, ""), (self.other.api_key, "other")):
            acct = x.accounts[key]
            mine = x.open_orders_of(key)
            if len(mine) > 40:  # keep MAX_NUM_ORDERS / MAX_NUM_ALGO_ORDERS out of the way
                x.cancel_open_orders(acct, {"symbol": SYMBOL})
            for asset, amount in SPOT_FUNDS.items():
                bal = acct.balance(asset)
                if bal.free < amount / 2:
                    bal.free = amount
            cid, lid = f"spot{tag}-order", f"spot{tag}-list"
            order = next((o for o in x.open_orders_of(key) if o.client_order_id == cid), None)
            if order is None:
                with contextlib.suppress(VenueError):
                    x.new_order(acct, {**SPOT_TEMPLATES["new_order"], "newClientOrderId": cid})
                order = next((o for o in x.orders.values() if o.client_order_id == cid), None)
            ol = next(
                (o for o in x.lists.values() if o.open and o.list_client_order_id == lid), None
            )
            if ol is None:
                with contextlib.suppress(VenueError):
                    x.order_list_oco(
                        acct, {**SPOT_TEMPLATES["order_list_oco"], "listClientOrderId": lid}
                    )
                ol = next((o for o in x.lists.values() if o.list_client_order_id == lid), None)
            prefix = "@other" if tag else "@"
            out[prefix + ("OrderId" if tag else "orderId")] = str(order.order_id if order else 1)
            out[prefix + ("ClientOrderId" if tag else "clientOrderId")] = cid
            out[prefix + ("OrderListId" if tag else "orderListId")] = str(
                ol.order_list_id if ol else 1
            )
            out[prefix + ("ListClientOrderId" if tag else "listClientOrderId")] = lid
        main = x.accounts[self.main.api_key]
        if main.listen_key is None or main.listen_key_expires_ms <= x.now_ms():
            x.listen_key_create(main, {})
        out["@listenKey"] = main.listen_key or ""
        return out


@pytest.fixture(scope="module")
def vt() -> Iterator[VenueThread]:
    v = VenueThread()
    try:
        yield v
    finally:
        v.close()


# -- what a request is made of -----------------------------------------------------------------

ALGO_NAMES = ("algoType", *(s.wire for s in ALGO_FIELDS))
ORDER_NAMES = tuple(s.wire for s in FUTURES_ORDER_FIELDS)
_ORDER_ID = ("symbol", "orderId", "origClientOrderId")
_ALGO_ID = ("algoId", "clientAlgoId")
_HISTORY = ("symbol", "orderId", "startTime", "endTime", "limit")
# The parameters each handler reads (Binance's endpoint pages), by ENDPOINTS handler name.
PARAMS_BY_HANDLER: dict[str, tuple[str, ...]] = {
    "ping": (),
    "server_time": (),
    "exchange_info": ("symbol",),
    "premium_index": ("symbol",),
    "ticker_price": ("symbol",),
    "book_ticker": ("symbol",),
    "depth": ("symbol", "limit"),
    "get_position_mode": (),
    "set_position_mode": ("dualSidePosition",),
    "set_leverage": ("symbol", "leverage"),
    "account_info": (),
    "account_info_v3": (),
    "balance": (),
    "position_risk": ("symbol",),
    "position_risk_v3": ("symbol",),
    "ticker_24hr": ("symbol",),
    "klines": ("symbol", "interval", "startTime", "endTime", "limit"),
    "trades": ("symbol", "limit"),
    "agg_trades": ("symbol", "fromId", "startTime", "endTime", "limit"),
    "funding_rate": ("symbol", "startTime", "endTime", "limit"),
    "symbol_config": ("symbol",),
    "commission_rate": ("symbol",),
    "leverage_bracket": ("symbol",),
    "set_margin_type": ("symbol", "marginType"),
    "get_multi_assets": (),
    "set_multi_assets": ("multiAssetsMargin",),
    "income": ("symbol", "incomeType", "startTime", "endTime", "limit"),
    "modify_order": (*_ORDER_ID, "side", "quantity", "price", "priceMatch"),
    "new_order": ORDER_NAMES,
    "query_order": _ORDER_ID,
    "cancel_order": _ORDER_ID,
    "batch_orders": ("batchOrders",),
    "open_orders": ("symbol",),
    "all_orders": _HISTORY,
    "cancel_all_open_orders": ("symbol",),
    "user_trades": (*_HISTORY, "fromId"),
    "new_algo_order": ALGO_NAMES,
    "query_algo_order": _ALGO_ID,
    "cancel_algo_order": _ALGO_ID,
    "open_algo_orders": ("symbol", "algoType", "algoId"),
    "all_algo_orders": ("symbol", "algoId", "startTime", "endTime", "page", "limit"),
    "cancel_all_algo_open_orders": ("symbol",),
    "listen_key_create": (),
    "listen_key_keepalive": ("listenKey",),
    "listen_key_close": ("listenKey",),
}
_LEG = ("Type", "ClientOrderId", "IcebergQty", "Price", "StopPrice", "TrailingDelta", "TimeInForce")
_LIST_TOP = ("symbol", "listClientOrderId", "newOrderRespType", "selfTradePreventionMode")
_SPOT_ORDER = tuple(s.wire for s in SPOT_ORDER_FIELDS)
_SPOT_ID = ("symbol", "orderId", "origClientOrderId")
_SPOT_HISTORY = ("symbol", "orderId", "startTime", "endTime", "limit")
_WORKING = tuple(
    f"working{x}" for x in ("Side", "Quantity", *_LEG) if x not in ("StopPrice", "TrailingDelta")
)
# The parameters each Spot handler reads (Spot rest-api.md), by SPOT_ENDPOINTS handler name.
SPOT_PARAMS_BY_HANDLER: dict[str, tuple[str, ...]] = {
    "ping": (),
    "server_time": (),
    "exchange_info": ("symbol", "symbols", "symbolStatus", "permissions"),
    "ticker_price": ("symbol", "symbols"),
    "book_ticker": ("symbol", "symbols"),
    "depth": ("symbol", "limit"),
    "ticker_24hr": ("symbol", "symbols", "type"),
    "klines": ("symbol", "interval", "startTime", "endTime", "limit"),
    "avg_price": ("symbol",),
    "trades": ("symbol", "limit"),
    "agg_trades": ("symbol", "fromId", "startTime", "endTime", "limit"),
    "trade_fee": ("symbol",),
    "reference_price": ("symbol",),
    "account": ("omitZeroBalances",),
    "new_order": _SPOT_ORDER,
    "order_test": (*_SPOT_ORDER, "computeCommissionRates"),
    "query_order": _SPOT_ID,
    "cancel_order": (*_SPOT_ID, "newClientOrderId", "cancelRestrictions"),
    "cancel_replace": (
        *_SPOT_ORDER,
        "cancelReplaceMode",
        "cancelOrderId",
        "cancelOrigClientOrderId",
        "cancelNewClientOrderId",
        "cancelRestrictions",
    ),
    "open_orders": ("symbol",),
    "cancel_open_orders": ("symbol",),
    "all_orders": _SPOT_HISTORY,
    "my_trades": (*_SPOT_HISTORY, "fromId"),
    "order_list_oco": (
        *_LIST_TOP,
        "side",
        "quantity",
        *(f"above{x}" for x in _LEG),
        *(f"below{x}" for x in _LEG),
    ),
    "order_list_oto": (
        *_LIST_TOP,
        *_WORKING,
        *(f"pending{x}" for x in ("Side", "Quantity", *_LEG)),
    ),
    "order_list_otoco": (
        *_LIST_TOP,
        *_WORKING,
        "pendingSide",
        "pendingQuantity",
        *(f"pendingAbove{x}" for x in _LEG),
        *(f"pendingBelow{x}" for x in _LEG),
    ),
    "order_list_opo": (*_LIST_TOP, *_WORKING, *(f"pending{x}" for x in ("Side", *_LEG))),
    "order_list_opoco": (
        *_LIST_TOP,
        *_WORKING,
        "pendingSide",
        *(f"pendingAbove{x}" for x in _LEG),
        *(f"pendingBelow{x}" for x in _LEG),
    ),
    "order_oco": (
        *_LIST_TOP,
        "side",
        "quantity",
        "price",
        "stopPrice",
        "stopLimitPrice",
        "stopLimitTimeInForce",
        "trailingDelta",
        "limitClientOrderId",
        "stopClientOrderId",
    ),
    "query_order_list": ("orderListId", "origClientOrderId"),
    "cancel_order_list": ("symbol", "orderListId", "listClientOrderId", "newClientOrderId"),
    "open_order_lists": (),
    "all_order_lists": ("fromId", "startTime", "endTime", "limit"),
    "listen_key_create": (),
    "listen_key_keepalive": ("listenKey",),
    "listen_key_close": ("listenKey",),
}
ALL_NAMES = tuple(
    sorted(
        {n for names in PARAMS_BY_HANDLER.values() for n in names}
        | {n for names in SPOT_PARAMS_BY_HANDLER.values() for n in names}
        | {"recvWindow", "timestamp", "signature", "stopPrice", "activationPrice"}
    )
)
JUNK_NAMES = ("", "x", "Symbol", "SYMBOL", "symbol ", "symbol[]", "%00", "é", "a=b", "__proto__")

# A valid request per handler (placeholders ``@…`` are filled from the seeded state), so that
# a mutation or two lands deep in the endpoint logic rather than at "symbol missing".
TEMPLATES: dict[str, dict[str, str]] = {
    "depth": {"symbol": SYMBOL, "limit": "5"},
    "set_position_mode": {"dualSidePosition": "false"},
    "set_leverage": {"symbol": SYMBOL, "leverage": "20"},
    "position_risk": {"symbol": SYMBOL},
    "new_order": {
        "symbol": SYMBOL,
        "side": "BUY",
        "type": "LIMIT",
        "quantity": "0.002",
        "price": "62000",
        "timeInForce": "GTC",
    },
    "query_order": {"symbol": SYMBOL, "orderId": "@orderId"},
    "cancel_order": {"symbol": SYMBOL, "origClientOrderId": "@clientOrderId"},
    "batch_orders": {"batchOrders": "@batch"},
    "open_orders": {"symbol": SYMBOL},
    "all_orders": {"symbol": SYMBOL, "limit": "10"},
    "cancel_all_open_orders": {"symbol": SYMBOL},
    "user_trades": {"symbol": SYMBOL, "limit": "10"},
    "new_algo_order": {
        "algoType": "CONDITIONAL",
        "symbol": SYMBOL,
        "side": "SELL",
        "type": "TAKE_PROFIT_MARKET",
        "triggerPrice": "70000",
        "quantity": "0.001",
        "reduceOnly": "true",
    },
    "query_algo_order": {"algoId": "@algoId"},
    "cancel_algo_order": {"clientAlgoId": "@clientAlgoId"},
    "open_algo_orders": {"symbol": SYMBOL},
    "all_algo_orders": {"symbol": SYMBOL, "limit": "10"},
    "cancel_all_algo_open_orders": {"symbol": SYMBOL},
    "listen_key_keepalive": {"listenKey": "@listenKey"},
    "listen_key_close": {"listenKey": "@listenKey"},
}
_SPOT_LIMIT = {
    "symbol": SYMBOL,
    "side": "SELL",
    "type": "LIMIT",
    "quantity": "0.002",
    "price": "70000",
    "timeInForce": "GTC",
}
_SPOT_OTO = {
    "symbol": SYMBOL,
    "workingType": "LIMIT",
    "workingSide": "BUY",
    "workingPrice": "64000",
    "workingQuantity": "0.002",
    "workingTimeInForce": "GTC",
    "pendingSide": "SELL",
    "pendingQuantity": "0.002",
}
SPOT_TEMPLATES: dict[str, dict[str, str]] = {
    "exchange_info": {"symbol": SYMBOL},
    "depth": {"symbol": SYMBOL, "limit": "5"},
    "reference_price": {"symbol": SYMBOL},
    "new_order": _SPOT_LIMIT,
    "order_test": _SPOT_LIMIT,
    "query_order": {"symbol": SYMBOL, "orderId": "@orderId"},
    "cancel_order": {"symbol": SYMBOL, "origClientOrderId": "@clientOrderId"},
    "cancel_replace": {
        **_SPOT_LIMIT,
        "cancelReplaceMode": "STOP_ON_FAILURE",
        "cancelOrigClientOrderId": "@clientOrderId",
        "price": "71000",
    },
    "open_orders": {"symbol": SYMBOL},
    "cancel_open_orders": {"symbol": SYMBOL},
    "all_orders": {"symbol": SYMBOL, "limit": "10"},
    "my_trades": {"symbol": SYMBOL, "limit": "10"},
    "order_list_oco": {
        "symbol": SYMBOL,
        "side": "SELL",
        "quantity": "0.002",
        "aboveType": "LIMIT_MAKER",
        "abovePrice": "66000",
        "belowType": "STOP_LOSS_LIMIT",
        "belowStopPrice": "64000",
        "belowPrice": "63900",
        "belowTimeInForce": "GTC",
    },
    "order_list_oto": {**_SPOT_OTO, "pendingType": "STOP_LOSS", "pendingStopPrice": "63000"},
    "order_list_otoco": {
        **_SPOT_OTO,
        "pendingAboveType": "LIMIT_MAKER",
        "pendingAbovePrice": "67000",
        "pendingBelowType": "STOP_LOSS",
        "pendingBelowStopPrice": "63000",
    },
    "order_list_opo": {
        **{k: v for k, v in _SPOT_OTO.items() if k != "pendingQuantity"},
        "pendingType": "STOP_LOSS",
        "pendingStopPrice": "63000",
    },
    "order_list_opoco": {
        **{k: v for k, v in _SPOT_OTO.items() if k != "pendingQuantity"},
        "pendingAboveType": "LIMIT_MAKER",
        "pendingAbovePrice": "67000",
        "pendingBelowType": "STOP_LOSS",
        "pendingBelowStopPrice": "63000",
    },
    "order_oco": {
        "symbol": SYMBOL,
        "side": "SELL",
        "quantity": "0.002",
        "price": "66000",
        "stopPrice": "64000",
    },
    "query_order_list": {"orderListId": "@orderListId"},
    "cancel_order_list": {"symbol": SYMBOL, "listClientOrderId": "@listClientOrderId"},
    "all_order_lists": {"limit": "10"},
    "listen_key_keepalive": {"listenKey": "@listenKey"},
    "listen_key_close": {"listenKey": "@listenKey"},
}
_BATCH_ITEM = {
    "symbol": SYMBOL,
    "side": "BUY",
    "type": "LIMIT",
    "quantity": "0.002",
    "price": "62000",
    "timeInForce": "GTC",
}

ADVERSARIAL = (
    "",
    " ",
    "0",
    "-0",
    "-1",
    "--1",
    "+1",
    "1e5",
    "1E-5",
    "-1e400",
    "0x10",
    "1_000",
    "NaN",
    "nan",
    "sNaN",
    "Infinity",
    "-inf",
    "9" * 25,
    "99999999999999999999.99999999999999999999",
    "0." + "0" * 30 + "1",
    "00000000000000000000000001",
    str(2**63),
    str(2**63 - 1),
    str(-(2**63)),
    str(2**64),
    "1.",
    ".5",
    "1..2",
    "1,5",
    " 1",
    "1 ",
    "١٢٣",  # Arabic-Indic digits (str.isdigit() is True)
    "１２",  # full-width digits
    "²",
    "true",
    "TRUE",
    "True",
    "yes",
    "null",
    "None",
    "undefined",
    "{}",
    "[]",
    "[{}]",
    '{"a":1}',
    "[1,2,3,4,5,6]",
    '[{"symbol":"BTCUSDT"}]',
    '[{"symbol":null}]',
    '"BTCUSDT"',
    "[" * 50,
    "\x00",
    "%00",
    "%",
    "%zz",
    "%FF",
    "&",
    "=",
    "a=b",
    "+",
    "#",
    "\r\n",
    "\t",
    "💥",
    "é",
    "<script>alert(1)</script>",
    "'; DROP TABLE orders; --",
    "../../etc/passwd",
    "x" * 1500,
    "BTCUSDT" * 100,
)
VALID_TOKENS = (
    "BTCUSDT",
    "btcusdt",
    "ETHUSDT",
    "BTCUSD_PERP",
    "BUY",
    "SELL",
    "buy",
    "LIMIT",
    "MARKET",
    "STOP",
    "STOP_MARKET",
    "TAKE_PROFIT",
    "TAKE_PROFIT_MARKET",
    "TRAILING_STOP_MARKET",
    "CONDITIONAL",
    "GTC",
    "GTD",
    "GTX",
    "IOC",
    "FOK",
    "BOTH",
    "LONG",
    "SHORT",
    "MARK_PRICE",
    "CONTRACT_PRICE",
    "ACK",
    "RESULT",
    "EXPIRE_MAKER",
    "OPPONENT",
    "60000",
    "62000",
    "64999.9",
    "65000",
    "65000.05",
    "70000",
    "0.001",
    "0.0015",
    "0.01",
    "1000",
    "5",
    "0.1",
    "true",
    "false",
    "500",
    "1000",
    "1001",
    "@orderId",
    "@clientOrderId",
    "@algoId",
    "@clientAlgoId",
    "@otherOrderId",
    "@otherClientOrderId",
    "@otherAlgoId",
    "@otherClientAlgoId",
    "@orderListId",
    "@listClientOrderId",
    "@otherOrderListId",
    "@otherListClientOrderId",
    "LIMIT_MAKER",
    "STOP_LOSS",
    "STOP_LOSS_LIMIT",
    "TAKE_PROFIT_LIMIT",
    "STOP_ON_FAILURE",
    "ALLOW_FAILURE",
    "FULL",
    "66000",
    "64000",
    "63900",
    "@listenKey",
    "@now",
    "@nowPlus",
    "@batch",
)
Value = str | bytes  # bytes: sent percent-encoded as is (may be invalid UTF-8)

VALUES: st.SearchStrategy[Value] = st.one_of(
    st.sampled_from(ADVERSARIAL),
    st.sampled_from(VALID_TOKENS),
    st.integers(-(2**80), 2**80).map(str),
    st.decimals(allow_nan=True, allow_infinity=True).map(str),
    st.floats().map(repr),
    st.text(alphabet="0123456789.-+eE", max_size=12),
    st.text(max_size=24),
    st.binary(min_size=1, max_size=8),
)
STYLES = ("quote", "quote", "plus", "raw")
RECV_WINDOWS = st.sampled_from((None, None, None, "1", "5000", "60000"))
AUTH_MODES = (*(["good"] * 7), "unsigned", "bad_signature", "stale", "future", "no_key", "bad_key")


Name = str | int  # int: the endpoint's own parameter of that index (modulo), resolved when sent


@dataclass(frozen=True, slots=True)
class FuzzRequest:
    """One request, independent of the endpoint and the venue's state (the endpoint's own names
    and the ``@…`` placeholders are filled in when it is sent)."""

    pairs: tuple[tuple[Name, Value, str], ...] = ()  # (name, value, style)
    template: bool = False  # start from the endpoint's valid request (pairs replace its values)
    placement: str = "query"  # query | body | split (GET: always query)
    auth: str = "good"  # AUTH_MODES; only SIGNED endpoints are signed, only keyed ones read keys
    recv_window: Value | None = None
    # Names are made unique (the last pair wins) unless repeated on purpose: (pair index, value).
    repeat: tuple[int, Value] | None = None


def plain(*pairs: tuple[str, str], template: bool = False) -> FuzzRequest:
    """A correctly signed request of percent-encoded pairs (for ``@example``)."""
    return FuzzRequest(tuple((n, v, "quote") for n, v in pairs), template=template)


NAMES: st.SearchStrategy[Name] = st.one_of(
    st.integers(0, 31),
    st.integers(0, 31),
    st.integers(0, 31),
    st.sampled_from(ALL_NAMES),
    st.sampled_from(JUNK_NAMES),
    st.text(max_size=8),
)


@st.composite
def fuzz_requests(draw: st.DrawFn) -> FuzzRequest:
    pairs = draw(
        st.lists(st.tuples(NAMES, VALUES, st.sampled_from(STYLES)), min_size=0, max_size=6)
    )
    repeat = None
    if pairs and draw(st.integers(0, 9)) == 0:  # a duplicate name (-1101), maybe a new value
        repeat = (draw(st.integers(0, len(pairs) - 1)), draw(VALUES))
    return FuzzRequest(
        pairs=tuple(pairs),
        template=draw(st.integers(0, 3)) > 0,
        placement=draw(st.sampled_from(("query", "query", "body", "split"))),
        auth=draw(st.sampled_from(AUTH_MODES)),
        recv_window=draw(RECV_WINDOWS) if draw(st.integers(0, 7)) else draw(VALUES),
        repeat=repeat,
    )


# -- building and checking ---------------------------------------------------------------------

_RAW_OK = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,;=:@/?%[]{}\"|^`<>\\"
)


def _encode(text: Value, style: str) -> str:
    if isinstance(text, bytes):
        return quote_from_bytes(text, safe="")
    if style == "raw" and text and all(c in _RAW_OK for c in text):
        return text  # may carry '&', '=', '%' of its own: structure injection
    if style == "plus":
        return quote_plus(text, safe="")
    return quote(text, safe="")


def _fill(value: Value, seeds: dict[str, str]) -> Value:
    if isinstance(value, str) and value in seeds:
        return seeds[value]
    return value


def build(
    ep: Any, req: FuzzRequest, vt: VenueThread, seeds: dict[str, str]
) -> tuple[str, bytes | None, dict[str, str]]:
    """The raw request: target (path + query), form body, headers."""
    seeds = {**seeds, "@batch": json.dumps([_BATCH_ITEM], separators=(",", ":"))}
    spot = ep.product is Product.SPOT
    own = (SPOT_PARAMS_BY_HANDLER if spot else PARAMS_BY_HANDLER)[ep.handler] or ALL_NAMES
    unique = {(own[n % len(own)] if isinstance(n, int) else n): (v, s) for n, v, s in req.pairs}
    fuzzed = [(n, v, s) for n, (v, s) in unique.items()]
    if req.repeat is not None and fuzzed:
        name, _, style = fuzzed[req.repeat[0] % len(fuzzed)]
        fuzzed.append((name, req.repeat[1], style))
    pairs: list[tuple[str, Value, str]] = []
    if req.template:  # the valid request, minus the names the fuzzed pairs set
        replaced = {n for n, _, _ in fuzzed}
        template = (SPOT_TEMPLATES if spot else TEMPLATES).get(ep.handler, {})
        pairs = [(n, v, "quote") for n, v in template.items() if n not in replaced]
    pairs += fuzzed
    encoded = [f"{_encode(n, 'quote')}={_encode(_fill(v, seeds), s)}" for n, v, s in pairs]
    query_parts, body_parts = list(encoded), []
    if req.placement == "body" and ep.method != "GET":
        query_parts, body_parts = [], list(encoded)
    elif req.placement == "split" and ep.method != "GET":
        half = len(encoded) // 2
        query_parts, body_parts = encoded[:half], encoded[half:]
    auth_into = body_parts if body_parts else query_parts
    headers: dict[str, str] = {"X-MBX-APIKEY": vt.venue.api_key}
    if req.auth == "no_key":
        del headers["X-MBX-APIKEY"]
    elif req.auth == "bad_key":
        headers["X-MBX-APIKEY"] = "A" * 64
    if ep.security.signed and req.auth != "unsigned":
        now = vt.venue.clock.now_ms()
        ts = {"stale": now - 70_000, "future": now + 5_000}.get(req.auth, now)
        auth_into.append(f"timestamp={ts}")
        if req.recv_window is not None:
            auth_into.append(f"recvWindow={_encode(req.recv_window, 'quote')}")
        query, body = "&".join(query_parts), "&".join(body_parts)
        sig = hmac.new(vt.venue.api_secret.encode(), (query + body).encode(), hashlib.sha256)
        signature = sig.hexdigest() if req.auth != "bad_signature" else "0" * 64
        auth_into.append(f"signature={signature}")
    query, body = "&".join(query_parts), "&".join(body_parts)
    target = ep.path + (f"?{query}" if query else "")
    if body_parts:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    return target, (body.encode() if body_parts else None), headers


def exchange(
    vt: VenueThread, method: str, target: str, body: bytes | None, headers: dict[str, str]
) -> Reply:
    """Send one request and check the answer and the state around it."""
    vt.errors.take()
    before, events_before = vt.state()
    reply = vt.send(method, target, body, headers)
    after, events_after = vt.state()
    logged = vt.errors.take()
    what = (
        f"{method} {target[:600]!s} body={(body or b'')[:600]!r} -> HTTP {reply.status} "
        f"{reply.content_type} {reply.raw[:400]!r}"
    )
    assert not logged, f"venue logged an error for {what}:\n" + "\n".join(logged)
    assert reply.status < 500, what
    assert reply.content_type == "application/json", what
    doc = json.loads(reply.raw)
    if reply.status >= 400:
        assert isinstance(doc, dict), what
        code, msg = doc.get("code"), doc.get("msg")
        assert type(code) is int and code < 0, what
        assert isinstance(msg, str) and msg, what
        if (reply.status, code) == (409, -2021):
            return reply  # Spot cancelReplace half done: one half DID change the state
        assert after == before, f"state changed on an error: {what}"
        assert events_after == events_before, f"user event emitted on an error: {what}"
    elif isinstance(doc, list) and target.startswith("/fapi/v1/batchOrders"):
        for item in doc:
            assert isinstance(item, dict), what
            if "code" in item and "orderId" not in item:
                assert type(item["code"]) is int and item["code"] < 0, what
                assert isinstance(item.get("msg"), str), what
    return reply


# -- the fuzz test -----------------------------------------------------------------------------

# Venue bugs found by this fuzzer (each logged "venue bug" and answered -1000: an unhandled
# ValueError). Integers written "--5" passed `raw.lstrip("-").isdigit()`, then `int(raw)` raised:
# - `exitguard.venue.usdm.params.opt_int`: limit / orderId / algoId / leverage / startTime /
#   endTime on the plain endpoints (fixed in b4af71d; the cases stay as regressions);
# - `exitguard.domain.wire._decode_value` (Kind.INT): goodTillDate on POST /fapi/v1/order and
#   /fapi/v1/algoOrder, and inside batchOrders, where the orders before the bad one stay placed
#   while the whole batch answers -1000 (a state change on an error).
REGRESSIONS = (
    plain(("symbol", SYMBOL), ("limit", "--5")),
    plain(("symbol", SYMBOL), ("orderId", "--1")),
    plain(("algoId", "--5")),
    plain(("symbol", SYMBOL), ("leverage", "--5")),
    plain(("symbol", SYMBOL), ("startTime", "--1"), ("endTime", "--2")),
    plain(("timeInForce", "GTD"), ("goodTillDate", "--5"), template=True),
    plain(
        (
            "batchOrders",
            json.dumps([_BATCH_ITEM, {**_BATCH_ITEM, "timeInForce": "GTD", "goodTillDate": "--5"}]),
        )
    ),
)


def _with_regressions(fn: Callable[..., None]) -> Callable[..., None]:
    for case in reversed(REGRESSIONS):
        fn = example(req=case)(fn)
    return fn


@pytest.mark.parametrize("ep", ALL_ENDPOINTS, ids=lambda e: f"{e.method} {e.path}")
@settings(max_examples=EXAMPLES_PER_ENDPOINT, deadline=None)
@_with_regressions
@given(req=fuzz_requests())
def test_fuzz_endpoint(vt: VenueThread, ep: Any, req: FuzzRequest) -> None:
    seeds = vt.seed(ep.product)
    target, body, headers = build(ep, req, vt, seeds)
    if len(target) > MAX_TARGET_BYTES:  # see MAX_TARGET_BYTES: keep it in the body
        target, body, headers = build(ep, replace(req, placement="body"), vt, seeds)
    reply = exchange(vt, ep.method, target, body, headers)
    event(f"HTTP {reply.status} {_code(reply)}")  # --hypothesis-show-statistics


def _code(reply: Reply) -> object:
    doc = json.loads(reply.raw)
    return doc.get("code") if isinstance(doc, dict) else type(doc).__name__


def test_every_endpoint_has_a_parameter_list() -> None:
    assert {ep.handler for ep in ENDPOINTS} == set(PARAMS_BY_HANDLER)
    assert {ep.handler for ep in SPOT_ENDPOINTS} == set(SPOT_PARAMS_BY_HANDLER)


# -- fixed nasty queries -----------------------------------------------------------------------

NASTY = (
    "symbol=BTCUSDT&symbol=ETHUSDT",
    "quantity=%FF",
    "symbol=BTCUSDT&quantity=%FF&side=SELL&type=TAKE_PROFIT_MARKET&triggerPrice=70000",
    "a=b=c",
    "&&&",
    "=",
    "==&=",
    "%",
    "%zz=1",
    "symbol=%00",
    "symbol=BTCUSDT%00",
    "symbol=%E2%82%BF",
    "symbol=btcusdt",
    "symbol=" + "A" * 4000,
    "x" * 10 * 1024,
    "signature=&signature=",
    "timestamp=1&timestamp=2",
    "recvWindow=0",
    "recvWindow=99999999999999999999",
    "orderId=99999999999999999999&symbol=BTCUSDT",
    "algoId=-1",
    "algoId=1e5&clientAlgoId=%00",
    "symbol=BTCUSDT&side=SELL&type=STOP_MARKET&triggerPrice=1e5&closePosition=true",
    "symbol=BTCUSDT&side=SELL&type=STOP_MARKET&triggerPrice=NaN&closePosition=true",
    "symbol=BTCUSDT&side=SELL&type=STOP_MARKET&triggerPrice=-60000&closePosition=true",
    "symbol=BTCUSDT&side=SELL&type=LIMIT&quantity=-0.001&price=70000&timeInForce=GTC",
    "symbol=BTCUSDT&side=SELL&type=LIMIT&quantity=0.001&quantity=0.001&price=70000",
    "symbol=BTCUSDT&side=BUY%26type%3DMARKET&quantity=0.001",
    "algoType=CONDITIONAL&algoType=CONDITIONAL",
    "batchOrders=%5B",
)
NASTY_ROUTES = (
    ("POST", "/fapi/v1/order"),
    ("GET", "/fapi/v1/order"),
    ("DELETE", "/fapi/v1/order"),
    ("POST", "/fapi/v1/algoOrder"),
    ("GET", "/fapi/v1/algoOrder"),
    ("DELETE", "/fapi/v1/algoOrder"),
    ("POST", "/api/v3/order"),
    ("GET", "/api/v3/order"),
    ("DELETE", "/api/v3/order"),
    ("POST", "/api/v3/orderList/oco"),
    ("POST", "/api/v3/order/cancelReplace"),
)


@pytest.mark.parametrize("raw", NASTY, ids=lambda s: s[:40])
def test_nasty_raw_query(vt: VenueThread, raw: str) -> None:
    """Each raw query as sent: signed over the whole string, and unsigned."""
    for method, path in NASTY_ROUTES:
        vt.seed(Product.SPOT if path.startswith("/api/") else Product.USDM)
        now = vt.venue.clock.now_ms()
        payload = f"{raw}&timestamp={now}"
        sig = hmac.new(vt.venue.api_secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
        headers = {"X-MBX-APIKEY": vt.venue.api_key}
        exchange(vt, method, f"{path}?{payload}&signature={sig}", None, headers)
        exchange(vt, method, f"{path}?{raw}", None, headers)
        form = {
            "X-MBX-APIKEY": vt.venue.api_key,
            "Content-Type": "application/x-www-form-urlencoded",
        }
        exchange(vt, method, f"{path}?timestamp={now}&signature={sig}", raw.encode(), form)


def test_unknown_paths_and_methods_are_binance_shaped(vt: VenueThread) -> None:
    headers = {"X-MBX-APIKEY": vt.venue.api_key}
    for method, target in (
        ("GET", "/fapi/v1/nope"),
        ("PATCH", "/fapi/v1/order"),
        ("PUT", "/fapi/v1/algoOrder"),
        ("GET", "/fapi/v9/order?symbol=BTCUSDT"),
        ("POST", "/fapi/v1/ping"),
        ("GET", "/api/v3/nope"),
        ("PATCH", "/api/v3/order"),
        ("POST", "/api/v1/userDataStream"),
        ("GET", "/api/v9/order?symbol=BTCUSDT"),
    ):
        exchange(vt, method, target, None, headers)


# -- the control API and the WebSocket inputs --------------------------------------------------
#
# Same promises as the REST fuzz, on the inputs that take JSON: a refused control request
# (HTTP 400) changes neither exchange nor the faults; a WebSocket frame (Spot WebSocket API,
# stream control) is answered with JSON and, unsigned as these are, changes nothing. Each
# request's peak allocation (tracemalloc, all threads) stays under MEMORY_BOUND: a number like
# 1e400000000 must not be expanded into its 400 MB plain form anywhere.

CONTROL_EXAMPLES = 100
WS_EXAMPLES = 60
MEMORY_BOUND = 8_000_000  # bytes

CONTROL_ROUTES = ("price", "position", "balance", "faults")
CONTROL_NAMES = (
    "symbol",
    "last",
    "mark",
    "qty",
    "product",
    "api_key",
    "side",
    "price",
    "position_side",
    "asset",
    "delta",
    "latency_ms",
    "status_429",
    "clock_skew_ms",
    "lose_response",
    "close_user_streams",
    "expire_listen_key",
    "clear",
)
# JSON values written as raw text, so exponent forms and huge numbers reach the parser as sent.
RAW_NUMBERS = (
    "0",
    "-1",
    "1",
    "65000",
    "65000.5",
    "0.001",
    "1e30",
    "1E+30",
    "1e400000000",
    "-1e-400000000",
    "1e-7",
    "9" * 60,
    "9" * 70,
    "0." + "0" * 40 + "1",
    "1.5e-8",
    "NaN",
    "-Infinity",
    "4529764",
    "4529764.1",
)
RAW_JUNK = (
    "",
    "{",
    "[",
    "[" * 60 + "]" * 60,
    '{"a":' * 30 + "1" + "}" * 30,
    "null",
    "[]",
    '"text"',
    "\xff",
    '{"symbol":"BTCUSDT","last":"1e30"',
)


@st.composite
def raw_json_value(draw: st.DrawFn, depth: int = 0) -> str:
    """One JSON value as text: raw numbers, adversarial strings, valid tokens, small nests."""
    kind = draw(st.sampled_from(("number", "string", "token", "literal", "nest")))
    if kind == "number":
        return draw(st.sampled_from(RAW_NUMBERS))
    if kind == "string":
        return json.dumps(draw(st.sampled_from(ADVERSARIAL + RAW_NUMBERS)))
    if kind == "token":
        return json.dumps(draw(st.sampled_from((*VALID_TOKENS, "BTC", "USDT", "usdm", "spot"))))
    if kind == "literal" or depth >= 2:
        return draw(st.sampled_from(("true", "false", "null")))
    items = draw(st.lists(raw_json_value(depth + 1), max_size=3))
    if draw(st.booleans()):
        return "[" + ",".join(items) + "]"
    return "{" + ",".join(f'"k{i}":{v}' for i, v in enumerate(items)) + "}"


# A valid body per route ("@key": the venue account's API key); half the examples start from
# one and change one or two members, so a refusal often comes late, after valid members.
CONTROL_TEMPLATES: dict[str, dict[str, str]] = {
    "price": {"symbol": '"BTCUSDT"', "last": '"65000.10"', "mark": "65001", "qty": '"0.01"'},
    "position": {
        "api_key": '"@key"',
        "symbol": '"BTCUSDT"',
        "side": '"BUY"',
        "qty": '"0.010"',
        "price": "65000",
    },
    "balance": {"api_key": '"@key"', "asset": '"BTC"', "delta": '"0.5"'},
    "faults": {"latency_ms": "0", "status_429": "0", "clock_skew_ms": "0"},
}


@st.composite
def control_requests(draw: st.DrawFn) -> tuple[str, bytes]:
    route = draw(st.sampled_from(CONTROL_ROUTES))
    roll = draw(st.integers(0, 9))
    if roll == 0:
        return route, draw(st.sampled_from(RAW_JUNK)).encode("utf-8", "surrogatepass")
    if roll <= 5:
        members = dict(CONTROL_TEMPLATES[route])
        for _ in range(draw(st.integers(1, 2))):
            pool = tuple(members) if draw(st.integers(0, 4)) else (*CONTROL_NAMES, *JUNK_NAMES)
            name = draw(st.sampled_from(pool))
            members[name] = draw(raw_json_value())
    else:
        names = draw(st.lists(st.sampled_from(CONTROL_NAMES + JUNK_NAMES), max_size=6, unique=True))
        members = {n: draw(raw_json_value()) for n in names}
    return route, (
        "{" + ",".join(f"{json.dumps(k)}:{v}" for k, v in members.items()) + "}"
    ).encode()


def _faults(vt: VenueThread) -> dict[str, Any]:
    return vt.on_loop(lambda: dict(vt.venue._app[CONTEXT].faults.to_json()))


def _measured(fn: Callable[[], T]) -> tuple[T, int]:
    tracemalloc.start()
    try:
        out = fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return out, peak


@settings(max_examples=CONTROL_EXAMPLES, deadline=None)
@example(req=("price", b'{"symbol":"BTCUSDT","last":"1e30"}'))
@example(req=("price", b'{"symbol":"BTCUSDT","last":1e30}'))
@example(req=("position", b'{"api_key":"@key","symbol":"BTCUSDT","side":"BUY","qty":"1e1000000"}'))
@example(req=("price", b'{"params":{"x":1e400000000}}'))
@given(req=control_requests())
def test_fuzz_control_api(vt: VenueThread, req: tuple[str, bytes]) -> None:
    route, body = req
    vt.seed()
    body = body.replace(b'"@key"', json.dumps(vt.venue.api_key).encode())
    vt.errors.take()
    before, events_before = vt.state()
    faults_before = _faults(vt)
    headers = {"Content-Type": "application/json"}
    reply, peak = _measured(lambda: vt.send("POST", f"/_venue/{route}", body, headers))
    what = f"POST /_venue/{route} {body[:300]!r} -> HTTP {reply.status} {reply.raw[:300]!r}"
    assert not vt.errors.take(), what
    assert reply.status < 500 and reply.content_type == "application/json", what
    assert peak < MEMORY_BOUND, f"{what}: peak {peak} bytes"
    doc = json.loads(reply.raw)
    if reply.status >= 400:
        assert type(doc.get("code")) is int and doc["code"] < 0, what
        assert isinstance(doc.get("msg"), str) and doc["msg"] and "\n" not in doc["msg"], what
        after, events_after = vt.state()
        assert after == before, f"state changed on a refusal: {what}"
        assert events_after == events_before, f"user event emitted on a refusal: {what}"
        assert _faults(vt) == faults_before, f"faults changed on a refusal: {what}"
    else:
        vt.reset()  # an accepted step moved prices or set faults: start the next one clean
    event(f"{route} HTTP {reply.status}")


WS_API_METHODS = (
    "ping",
    "time",
    "exchangeInfo",
    "depth",
    "ticker.price",
    "order.place",
    "order.cancel",
    "order.status",
    "openOrders.status",
    "session.logon",
    "session.status",
    "userDataStream.subscribe",
    "userDataStream.subscribe.signature",
    "nope",
)
WS_PARAM_NAMES = ("symbol", "side", "type", "quantity", "price", "apiKey", "signature", "x")


@st.composite
def ws_frames(draw: st.DrawFn) -> str:
    if draw(st.integers(0, 7)) == 0:
        return draw(st.sampled_from(RAW_JUNK))
    names = draw(st.lists(st.sampled_from(WS_PARAM_NAMES), max_size=4, unique=True))
    params = "{" + ",".join(f'"{n}":{draw(raw_json_value())}' for n in names) + "}"
    req_id = draw(st.sampled_from(('"a"', "1", "null", "1e400000000", "[1]")))
    method = json.dumps(draw(st.sampled_from(WS_API_METHODS)))
    return f'{{"id":{req_id},"method":{method},"params":{params}}}'


async def _ws_roundtrip(url: str, frame: str) -> list[str]:
    """Send one frame; the first text frame answered (each input gets exactly one answer)."""
    import aiohttp

    timeout = aiohttp.ClientTimeout(total=TIMEOUT_S)
    async with aiohttp.ClientSession(timeout=timeout) as s, s.ws_connect(url) as ws:
        await ws.send_str(frame)
        msg = await ws.receive(timeout=TIMEOUT_S / 2)
        return [msg.data] if msg.type is aiohttp.WSMsgType.TEXT else []


@pytest.mark.parametrize("where", ["ws_api", "streams"])
@settings(max_examples=WS_EXAMPLES, deadline=None)
@example(frame='{"params":{"x":1e400000000}}')
@example(frame='{"id":1,"method":"ping","params":{"x":1e40000000}}')  # 40 MB in plain form
@example(frame='{"id":1,"method":"SUBSCRIBE","params":[1e400000000]}')
@example(frame="[" * 60 + "]" * 60)
@given(frame=ws_frames())
def test_fuzz_websocket_inputs(vt: VenueThread, where: str, frame: str) -> None:
    vt.seed()
    url = vt.venue.spot_ws_api_url if where == "ws_api" else vt.venue.ws_streams_url + "/ws"
    if where == "streams" and '"method"' in frame and frame.startswith("{"):
        frame = frame.replace('"method":"ping"', '"method":"SUBSCRIBE"')
    vt.errors.take()
    before, events_before = vt.state()
    replies, peak = _measured(lambda: vt.run(_ws_roundtrip(url, frame)))
    what = f"{where} {frame[:300]!r} -> {[r[:200] for r in replies]}"
    assert not vt.errors.take(), what
    assert peak < MEMORY_BOUND, f"{what}: peak {peak} bytes"
    assert replies, f"no answer: {what}"
    doc = json.loads(replies[0])
    assert isinstance(doc, dict), what
    error = doc.get("error")
    if error is not None:
        assert type(error.get("code")) is int and isinstance(error.get("msg"), str), what
    after, events_after = vt.state()
    assert after == before, f"state changed by an unsigned frame: {what}"
    assert events_after == events_before, what
    event(f"{where} {'error ' + str(error.get('code')) if error else 'ok'}")
