"""The USD-M REST surface of the paper venue (aiohttp), its WebSocket streams and a control API.

Binance REST (``/fapi/...``, the table in ``usdm/interface.md``): parameters are the query string
merged with an ``application/x-www-form-urlencoded`` body (the query wins; a name repeated within
one of them is ``-1101``). Each request is rate-limited (:mod:`.ratelimit`), authenticated
(:mod:`.auth`) and dispatched to one :class:`~exitguard.venue.usdm.exchange.UsdmExchange` method.
Every refusal is Binance-shaped, ``{"code": <int>, "msg": <str>}`` with Binance's HTTP status.
Nothing answers 500: an unexpected exception is logged (it is a venue bug) and answered HTTP 400
``-1000``; an unknown path is HTTP 404 and a known path with another method HTTP 405, both with
``{"code": -1000, "msg": "Path <path>, Method <METHOD> is invalid"}``.

Control API (not Binance; JSON in, JSON out; errors are HTTP 400/404 ``{"error": "<text>"}``):

``POST /_venue/price`` ``{"symbol": "BTCUSDT", "last": "65010.5", "mark": "65008"}``
    Apply a price step (``last`` and/or ``mark``; numbers or decimal strings) → matching, triggers,
    market streams. Answers ``{"symbol", "last", "mark"}``.
``POST /_venue/clock/advance`` ``{"ms": 1000}``
    Step a :class:`~exitguard.venue.clock.SteppedClock` (400 for other clocks), then pull the feed
    up to the new time and expire GTD orders / listen keys. Answers ``{"now_ms"}``.
``POST /_venue/position`` ``{"api_key", "symbol", "side": "BUY"|"SELL", "qty", "price"?,
"position_side"?}``
    Open (or add to) a position as if the account's own MARKET order filled at ``price``
    (default: last). Answers ``{"order": {...}}``.
``GET /_venue/snapshot``
    The exchange's state (prices, accounts, orders, algo orders) plus ``faults`` and ``streams``.
``POST /_venue/reset``
    Forget accounts, orders and price moves (the venue's own account is re-created with the same
    keys), rate-limit counters and faults; close user-data streams.
``POST /_venue/faults`` (``GET`` reads them)
    Fault injection, applied to ``/fapi`` requests by a middleware; keys may be combined:

    - ``{"latency_ms": n}``: every request waits ``n`` ms (wall time) before it is handled.
    - ``{"lose_response": {"path": "/fapi/v1/algoOrder", "method"?: "POST", "count": 1,
      "status": 503, "code": -1007}}``: the next ``count`` matching requests ARE processed, but
      the client gets ``{"code", "msg"}`` with ``status`` (503 or 408; default 503/-1007) — the
      classic unknown outcome. A list of such objects is accepted too.
    - ``{"status_429": n}``: the next ``n`` requests are answered 429 ``-1003`` (not processed,
      ``Retry-After: 1``).
    - ``{"clock_skew_ms": n}``: the venue's ``serverTime`` (``/fapi/v1/time`` and the
      ``timestamp`` check) is the clock plus ``n`` ms, as if the client's clock were off by ``-n``.
    - ``{"close_user_streams": true}``: close every user-data WebSocket now.
    - ``{"expire_listen_key": true}``: expire every listen key now (``listenKeyExpired`` is sent;
      ``PUT /fapi/v1/listenKey`` then answers ``-1125``).
    - ``{"clear": true}``: remove every fault.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from aiohttp import web

from exitguard.domain.enums import PositionSide, Product, Side
from exitguard.domain.error_codes import lookup as lookup_error
from exitguard.domain.error_codes import message_for

from .auth import Security, authenticate
from .errors import VenueError
from .ratelimit import RateLimitConfig, RateLimiter
from .streams import StreamHub, dumps

if TYPE_CHECKING:
    from .usdm.accounts import Account
    from .usdm.exchange import UsdmExchange

__all__ = [
    "CONTEXT",
    "ENDPOINTS",
    "Endpoint",
    "Faults",
    "LostResponse",
    "VenueContext",
    "create_app",
    "parse_params",
]

log = logging.getLogger(__name__)

MAX_LATENCY_MS = 120_000


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

    def weight_for(self, params: Mapping[str, str]) -> int:
        if self.weight_without_symbol is not None and not params.get("symbol"):
            return self.weight_without_symbol
        return self.weight


_N, _US, _T, _UD = Security.NONE, Security.USER_STREAM, Security.TRADE, Security.USER_DATA


def _ep(
    method: str, paths: str, handler: str, security: Security, weight: int, **kw: Any
) -> list[Endpoint]:
    return [Endpoint(method, p.strip(), handler, security, weight, **kw) for p in paths.split(",")]


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
        _ep("GET", "/fapi/v2/account, /fapi/v3/account", "account_info", _UD, 5),
        _ep("GET", "/fapi/v2/balance, /fapi/v3/balance", "balance", _UD, 5),
        _ep("GET", "/fapi/v2/positionRisk, /fapi/v3/positionRisk", "position_risk", _UD, 5),
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
        _ep("POST", "/fapi/v1/listenKey", "listen_key_create", _US, 1),
        _ep("PUT", "/fapi/v1/listenKey", "listen_key_keepalive", _US, 1),
        _ep("DELETE", "/fapi/v1/listenKey", "listen_key_close", _US, 1),
    )
    for e in group
)


# -- faults ------------------------------------------------------------------------------------


@dataclass(slots=True)
class LostResponse:
    path: str
    count: int = 1
    status: int = 503
    code: int = -1007
    method: str | None = None

    def matches(self, method: str, path: str) -> bool:
        return self.count > 0 and self.path == path and self.method in (None, method)

    def error(self) -> VenueError:
        if lookup_error(Product.USDM, self.code) is not None:
            try:
                msg = message_for(Product.USDM, self.code)
            except ValueError:  # a message with placeholders
                msg = "Unknown error, please check your request or try again later."
        else:
            msg = "Unknown error, please check your request or try again later."
        return VenueError(self.code, msg, http_status=self.status)

    def to_json(self) -> dict[str, object]:
        return {
            "path": self.path,
            "method": self.method,
            "count": self.count,
            "status": self.status,
            "code": self.code,
        }


@dataclass(slots=True)
class Faults:
    """Faults as data; :func:`_faults_middleware` applies them."""

    latency_ms: int = 0
    status_429: int = 0
    clock_skew_ms: int = 0
    lose_response: list[LostResponse] = field(default_factory=list)

    def clear(self) -> None:
        self.latency_ms = self.status_429 = self.clock_skew_ms = 0
        self.lose_response.clear()

    def to_json(self) -> dict[str, object]:
        return {
            "latency_ms": self.latency_ms,
            "status_429": self.status_429,
            "clock_skew_ms": self.clock_skew_ms,
            "lose_response": [lr.to_json() for lr in self.lose_response if lr.count > 0],
        }

    def take_lost_response(self, method: str, path: str) -> VenueError | None:
        for lr in self.lose_response:
            if lr.matches(method, path):
                lr.count -= 1
                err = lr.error()
                self.lose_response = [x for x in self.lose_response if x.count > 0]
                return err
        return None


def _int_field(body: Mapping[str, Any], name: str, low: int, high: int) -> int:
    value = body[name]
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name} must be an integer in [{low}, {high}]")
    return value


def _lost_response(obj: object) -> LostResponse:
    if not isinstance(obj, dict):
        raise ValueError("lose_response must be an object (or a list of objects)")
    unknown = set(obj) - {"path", "method", "count", "status", "code"}
    if unknown:
        raise ValueError(f"lose_response: unknown key(s) {sorted(unknown)}")
    path = obj.get("path")
    if not isinstance(path, str) or not path.startswith("/"):
        raise ValueError("lose_response.path must be a path such as /fapi/v1/algoOrder")
    method = obj.get("method")
    if method is not None and (not isinstance(method, str) or not method.isalpha()):
        raise ValueError("lose_response.method must be an HTTP method")
    lr = LostResponse(path=path, method=method.upper() if method else None)
    if "count" in obj:
        lr.count = _int_field(obj, "count", 1, 1_000_000)
    if "status" in obj:
        lr.status = _int_field(obj, "status", 400, 599)
    if "code" in obj:
        lr.code = _int_field(obj, "code", -99_999, -1)
    return lr


# -- context -----------------------------------------------------------------------------------


@dataclass(slots=True)
class VenueContext:
    exchange: UsdmExchange
    limiter: RateLimiter
    hub: StreamHub
    faults: Faults = field(default_factory=Faults)
    advance_clock: Callable[[int], int] | None = None  # SteppedClock.advance
    pump: Callable[[], None] | None = None  # feed → exchange, then tick_time
    on_reset: Callable[[], None] | None = None

    def server_now(self) -> int:
        return self.exchange.now_ms() + self.faults.clock_skew_ms


CONTEXT: web.AppKey[VenueContext] = web.AppKey("exitguard_venue", VenueContext)


# -- parameters --------------------------------------------------------------------------------


def _pairs(raw: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in parse_qsl(raw, keep_blank_values=True, errors="replace"):
        if not name:
            continue
        if name in out:
            raise VenueError(-1101, "Duplicate values for a parameter detected.")
        out[name] = value
    return out


def parse_params(raw_query: str, raw_body: str) -> dict[str, str]:
    """Query string merged with a form body; the query wins; duplicates within one are -1101."""
    params = _pairs(raw_body) if raw_body else {}
    params.update(_pairs(raw_query))
    return params


async def _read_body(request: web.Request) -> str:
    if not request.can_read_body:
        return ""
    data = await request.read()
    ctype = request.content_type
    if ctype not in ("application/x-www-form-urlencoded", "application/octet-stream", ""):
        return ""  # Binance reads form bodies only
    return data.decode("utf-8", errors="replace")


# -- responses ---------------------------------------------------------------------------------


def _json(obj: object, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.Response(
        text=dumps(obj), status=status, content_type="application/json", headers=headers
    )


def _venue_error(err: VenueError, extra: Mapping[str, str] | None = None) -> web.Response:
    headers = dict(extra or {})
    headers.update(err.headers)
    return _json(err.body(), status=err.http_status, headers=headers)


def _unknown_error() -> VenueError:
    return VenueError(-1000, message_for(Product.USDM, -1000))


def _rest_handler(ep: Endpoint) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handle(request: web.Request) -> web.StreamResponse:
        ctx = request.app[CONTEXT]
        ip = request.remote or "?"
        limiter = ctx.limiter
        account: Account | None = None
        try:
            raw_query = request.rel_url.raw_query_string
            raw_body = await _read_body(request)
            try:
                params = parse_params(raw_query, raw_body)
            except VenueError:
                limiter.charge_weight(ip, ep.weight)
                raise
            limiter.charge_weight(ip, ep.weight_for(params))
            account = authenticate(
                ep.security,
                api_key=request.headers.get("X-MBX-APIKEY"),
                params=params,
                raw_query=raw_query,
                raw_body=raw_body,
                server_time_ms=ctx.server_now(),
                lookup=ctx.exchange.account_by_api_key,
            )
            if ep.places_orders and account is not None:
                limiter.charge_orders(ip, account.api_key, _order_count(ep, params))
            result = getattr(ctx.exchange, ep.handler)(account, params)
            if (
                ep.handler == "server_time"
                and ctx.faults.clock_skew_ms
                and isinstance(result, dict)
            ):
                result = {**result, "serverTime": ctx.server_now()}
            headers = limiter.weight_headers(ip)
            if ep.places_orders and account is not None:
                headers.update(limiter.order_headers(account.api_key))
            lost = ctx.faults.take_lost_response(request.method, request.path)
            if lost is not None:
                return _venue_error(lost, headers)
            return _json(result, headers=headers)
        except VenueError as err:
            headers = limiter.weight_headers(ip)
            if ep.places_orders and account is not None:
                headers.update(limiter.order_headers(account.api_key))
            return _venue_error(err, headers)
        except web.HTTPException:
            raise  # e.g. 413 body too large: the errors middleware answers it Binance-shaped
        except Exception:
            log.exception("venue bug: %s %s raised", request.method, request.path)
            return _venue_error(_unknown_error(), limiter.weight_headers(ip))

    handle.__name__ = f"rest_{ep.handler}"
    return handle


def _order_count(ep: Endpoint, params: Mapping[str, str]) -> int:
    if ep.handler != "batch_orders":
        return 1
    try:
        orders = json.loads(params.get("batchOrders", ""))
    except ValueError:
        return 1
    return len(orders) if isinstance(orders, list) and orders else 1


# -- middlewares -------------------------------------------------------------------------------


@web.middleware
async def _errors_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Binance-shaped 404/405 and no 500s, ever."""
    control = request.path.startswith("/_venue/")
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        if control:
            return _json({"error": exc.reason}, status=exc.status)
        msg = (
            f"Path {request.path}, Method {request.method} is invalid"
            if exc.status in (404, 405)
            else exc.reason
        )
        headers = request.app[CONTEXT].limiter.weight_headers(request.remote or "?")
        if "Allow" in exc.headers:
            headers["Allow"] = exc.headers["Allow"]
        return _json({"code": -1000, "msg": msg}, status=exc.status, headers=headers)
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("venue bug: %s %s raised", request.method, request.path)
        if control:
            return _json({"error": "internal error (logged by the venue)"}, status=400)
        return _venue_error(_unknown_error())


@web.middleware
async def _faults_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Latency and forced 429s for ``/fapi`` requests (lost responses: see the REST handler)."""
    if not request.path.startswith("/fapi/"):
        return await handler(request)
    faults = request.app[CONTEXT].faults
    if faults.latency_ms > 0:
        await asyncio.sleep(faults.latency_ms / 1000)
    if faults.status_429 > 0:
        faults.status_429 -= 1
        err = VenueError(
            -1003,
            message_for(Product.USDM, -1003, "2400"),
            http_status=429,
            headers={"Retry-After": "1"},
        )
        return _venue_error(err)
    return await handler(request)


# -- control API -------------------------------------------------------------------------------


class _ControlError(Exception):
    pass


async def _json_body(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw, parse_float=Decimal)
    except ValueError as exc:
        raise _ControlError(f"body is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise _ControlError("body must be a JSON object")
    return body


def _decimal(body: Mapping[str, Any], name: str, *, required: bool) -> Decimal | None:
    if name not in body or body[name] is None:
        if required:
            raise _ControlError(f"{name} is required")
        return None
    value = body[name]
    if isinstance(value, bool) or not isinstance(value, int | str | Decimal):
        raise _ControlError(f"{name} must be a decimal number or string")
    try:
        dec = Decimal(str(value))
    except InvalidOperation:
        raise _ControlError(f"{name} must be a decimal number, got {value!r}") from None
    if not dec.is_finite() or dec <= 0:
        raise _ControlError(f"{name} must be > 0, got {value!r}")
    return dec


def _str(body: Mapping[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise _ControlError(f"{name} must be a non-empty string")
    return value


def _control(
    fn: Callable[[VenueContext, dict[str, Any]], object],
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handle(request: web.Request) -> web.StreamResponse:
        ctx = request.app[CONTEXT]
        try:
            body = await _json_body(request) if request.method == "POST" else {}
            return _json(fn(ctx, body))
        except _ControlError as exc:
            return _json({"error": str(exc)}, status=400)
        except VenueError as err:
            return _json({"error": err.msg, "code": err.code}, status=400)

    return handle


def _ctl_price(ctx: VenueContext, body: dict[str, Any]) -> object:
    symbol = _str(body, "symbol")
    last = _decimal(body, "last", required=False)
    mark = _decimal(body, "mark", required=False)
    if last is None and mark is None:
        raise _ControlError("give last and/or mark")
    ctx.exchange.on_price(symbol, last, mark)
    m = ctx.exchange.market(symbol)
    return {"symbol": symbol, "last": dumps_decimal(m.last), "mark": dumps_decimal(m.mark)}


def dumps_decimal(value: Decimal) -> str:
    return format(value, "f")


def _ctl_advance(ctx: VenueContext, body: dict[str, Any]) -> object:
    if ctx.advance_clock is None:
        raise _ControlError(
            "the venue clock is not stepped; /_venue/clock/advance needs --clock stepped"
        )
    if "ms" not in body:
        raise _ControlError("ms is required")
    try:
        ms = _int_field(body, "ms", 0, 10 * 365 * 86_400_000)
    except ValueError as exc:
        raise _ControlError(str(exc)) from None
    now = ctx.advance_clock(ms)
    if ctx.pump is not None:
        ctx.pump()
    else:
        ctx.exchange.tick_time()
    return {"now_ms": now}


def _ctl_position(ctx: VenueContext, body: dict[str, Any]) -> object:
    account = ctx.exchange.account_by_api_key(_str(body, "api_key"))
    if account is None:
        raise _ControlError("no account has that api_key")
    symbol = _str(body, "symbol")
    try:
        side = Side(_str(body, "side").upper())
    except ValueError:
        raise _ControlError("side must be BUY or SELL") from None
    qty = _decimal(body, "qty", required=True)
    assert qty is not None
    price = _decimal(body, "price", required=False)
    position_side: PositionSide | None = None
    if body.get("position_side") is not None:
        try:
            position_side = PositionSide(_str(body, "position_side").upper())
        except ValueError:
            raise _ControlError("position_side must be BOTH, LONG or SHORT") from None
    order = ctx.exchange.open_position(account, symbol, side, qty, price, position_side)
    return {"order": order.to_json()}


def _ctl_snapshot(ctx: VenueContext, body: dict[str, Any]) -> object:
    snap = dict(ctx.exchange.snapshot())
    snap["faults"] = ctx.faults.to_json()
    snap["streams"] = {"connections": ctx.hub.connections}
    return snap


def _ctl_reset(ctx: VenueContext, body: dict[str, Any]) -> object:
    ctx.hub.close_user_streams()
    ctx.exchange.reset()
    ctx.limiter.reset()
    ctx.faults.clear()
    if ctx.on_reset is not None:
        ctx.on_reset()
    return {"ok": True}


_FAULT_KEYS = {
    "latency_ms",
    "lose_response",
    "status_429",
    "clock_skew_ms",
    "close_user_streams",
    "expire_listen_key",
    "clear",
}


def _ctl_faults(ctx: VenueContext, body: dict[str, Any]) -> object:
    unknown = set(body) - _FAULT_KEYS
    if unknown:
        raise _ControlError(f"unknown fault(s) {sorted(unknown)}; known: {sorted(_FAULT_KEYS)}")
    faults = ctx.faults
    try:
        # Validate everything before changing anything.
        latency = (
            _int_field(body, "latency_ms", 0, MAX_LATENCY_MS) if "latency_ms" in body else None
        )
        n429 = _int_field(body, "status_429", 0, 1_000_000) if "status_429" in body else None
        skew = (
            _int_field(body, "clock_skew_ms", -86_400_000, 86_400_000)
            if "clock_skew_ms" in body
            else None
        )
        lost: list[LostResponse] = []
        if "lose_response" in body:
            raw = body["lose_response"]
            lost = [_lost_response(x) for x in (raw if isinstance(raw, list) else [raw])]
        for flag in ("close_user_streams", "expire_listen_key", "clear"):
            if flag in body and not isinstance(body[flag], bool):
                raise ValueError(f"{flag} must be true or false")
    except ValueError as exc:
        raise _ControlError(str(exc)) from None
    out: dict[str, object] = {}
    if body.get("clear"):
        faults.clear()
    if latency is not None:
        faults.latency_ms = latency
    if n429 is not None:
        faults.status_429 = n429
    if skew is not None:
        faults.clock_skew_ms = skew
    faults.lose_response.extend(lost)
    if body.get("close_user_streams"):
        out["closed_streams"] = ctx.hub.close_user_streams()
    if body.get("expire_listen_key"):
        expired = 0
        for account in list(ctx.exchange.accounts.values()):
            if account.listen_key is not None:
                ctx.exchange.expire_listen_key(account)
                expired += 1
        out["expired_listen_keys"] = expired
    out["faults"] = faults.to_json()
    return out


def _ctl_get_faults(ctx: VenueContext, body: dict[str, Any]) -> object:
    return ctx.faults.to_json()


# -- the application ---------------------------------------------------------------------------


def create_app(
    exchange: UsdmExchange,
    *,
    limits: RateLimitConfig | None = None,
    advance_clock: Callable[[int], int] | None = None,
    pump: Callable[[], None] | None = None,
    on_reset: Callable[[], None] | None = None,
    stream_queue_size: int = 1000,
    ws_heartbeat_s: float | None = 180.0,
) -> web.Application:
    """The USD-M venue as an aiohttp application: REST, streams and the control API.

    ``advance_clock`` (a :class:`SteppedClock`'s ``advance``) enables ``/_venue/clock/advance``;
    ``pump`` pulls the feed and calls ``tick_time`` after the clock moved; ``on_reset`` runs after
    ``/_venue/reset`` (the :class:`~exitguard.venue.server.Venue` re-creates its account there).
    """
    app = web.Application(middlewares=[_errors_middleware, _faults_middleware])
    hub = StreamHub(exchange, queue_size=stream_queue_size, heartbeat_s=ws_heartbeat_s)
    ctx = VenueContext(
        exchange=exchange,
        limiter=RateLimiter(exchange.now_ms, limits),
        hub=hub,
        advance_clock=advance_clock,
        pump=pump,
        on_reset=on_reset,
    )
    app[CONTEXT] = ctx
    for ep in ENDPOINTS:
        app.router.add_route(ep.method, ep.path, _rest_handler(ep))
    hub.add_routes(app.router)
    app.router.add_post("/_venue/price", _control(_ctl_price))
    app.router.add_post("/_venue/clock/advance", _control(_ctl_advance))
    app.router.add_post("/_venue/position", _control(_ctl_position))
    app.router.add_get("/_venue/snapshot", _control(_ctl_snapshot))
    app.router.add_post("/_venue/reset", _control(_ctl_reset))
    app.router.add_post("/_venue/faults", _control(_ctl_faults))
    app.router.add_get("/_venue/faults", _control(_ctl_get_faults))

    async def _start(_: web.Application) -> None:
        hub.start()

    async def _stop(_: web.Application) -> None:
        await hub.stop()

    app.on_startup.append(_start)
    app.on_shutdown.append(_stop)
    return app
