"""The USD-M REST surface of the paper venue (aiohttp), its WebSocket streams and a control API.

Binance REST (``/fapi/...``, the table in ``usdm/interface.md``): parameters are the query string
merged with an ``application/x-www-form-urlencoded`` body (the query wins; a name repeated within
one of them is ``-1101``). Each request is rate-limited (:mod:`.ratelimit`), authenticated
(:mod:`.auth`) and dispatched to one :class:`~exitguard.venue.usdm.exchange.UsdmExchange` method.
Every refusal is Binance-shaped, ``{"code": <int>, "msg": <str>}`` with Binance's HTTP status.
Nothing answers 500: an unexpected exception is logged (it is a venue bug) and answered HTTP 400
``-1000``; an unknown path is HTTP 404 and a known path with another method HTTP 405, both with
``{"code": -1000, "msg": "Path <path>, Method <METHOD> is invalid"}``.

The control API (``/_venue/...``) is documented in :mod:`.control`.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from aiohttp import web

from exitguard.domain.enums import Product
from exitguard.domain.error_codes import message_for

from .auth import Security, authenticate
from .context import CONTEXT, VenueContext, json_response
from .control import add_control_routes
from .errors import VenueError
from .faults import Faults, LostResponse
from .ratelimit import RateLimitConfig, RateLimiter
from .streams import StreamHub

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


def _venue_error(err: VenueError, extra: Mapping[str, str] | None = None) -> web.Response:
    headers = dict(extra or {})
    headers.update(err.headers)
    return json_response(err.body(), status=err.http_status, headers=headers)


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
            return json_response(result, headers=headers)
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
            return json_response({"error": exc.reason}, status=exc.status)
        msg = (
            f"Path {request.path}, Method {request.method} is invalid"
            if exc.status in (404, 405)
            else exc.reason
        )
        headers = request.app[CONTEXT].limiter.weight_headers(request.remote or "?")
        if "Allow" in exc.headers:
            headers["Allow"] = exc.headers["Allow"]
        return json_response({"code": -1000, "msg": msg}, status=exc.status, headers=headers)
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("venue bug: %s %s raised", request.method, request.path)
        if control:
            return json_response({"error": "internal error (logged by the venue)"}, status=400)
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
    add_control_routes(app.router)

    async def _start(_: web.Application) -> None:
        hub.start()

    async def _stop(_: web.Application) -> None:
        await hub.stop()

    app.on_startup.append(_start)
    app.on_shutdown.append(_stop)
    return app
