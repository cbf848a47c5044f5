"""The REST surface of the paper venue (aiohttp), its WebSocket streams, WebSocket API, control API.

USD-M (``/fapi/...``, the table in ``usdm/interface.md``) and Spot (``/api/v3/...``, the table in
``spot/interface.md``) share one server; :mod:`.endpoints` lists both. Each product has its own rate
limiter (Binance serves them from different hosts) and its own exchange; one API key works on
both. The retired ``/api/v1/userDataStream`` (2026-03-25, reference 3.6) answers HTTP 410.

Binance REST: parameters are the query string
merged with an ``application/x-www-form-urlencoded`` body (the query wins; a name repeated within
one of them is ``-1101``). Each request is rate-limited (:mod:`.ratelimit`), authenticated
(:mod:`.auth`) and dispatched to one method of the product's exchange (``UsdmExchange`` or
``SpotExchange``).
Every refusal is Binance-shaped, ``{"code": <int>, "msg": <str>}`` with Binance's HTTP status
(a Spot cancelReplace failure adds ``data``).
Nothing answers 500: an unexpected exception is logged (it is a venue bug) and answered HTTP 400
``-1000``; an unknown path is HTTP 404 and a known path with another method HTTP 405, both with
``{"code": -1000, "msg": "Path <path>, Method <METHOD> is not served by the paper venue ...;
served: <METHOD path, ...>"}`` (:func:`not_served_message`).

The control API (``/_venue/...``) is documented in :mod:`.control`.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from importlib.resources import files
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from aiohttp import web

from exitguard.domain.enums import Product
from exitguard.domain.error_codes import message_for

from .auth import authenticate
from .context import CONTEXT, VenueContext, json_response
from .control import add_control_routes
from .endpoints import ALL_ENDPOINTS, ENDPOINTS, SPOT_ENDPOINTS, Endpoint
from .errors import VenueError
from .faults import Faults, LostResponse
from .ratelimit import SPOT_RATE_LIMITS, RateLimitConfig, RateLimiter
from .spot.exchange import SpotExchange
from .streams import StreamHub
from .ws_api import WsApi
from .ws_fapi import WS_FAPI, WsFapi

if TYPE_CHECKING:
    from .usdm.exchange import UsdmExchange

__all__ = [
    "ALL_ENDPOINTS",
    "CONTEXT",
    "ENDPOINTS",
    "SPOT_ENDPOINTS",
    "Endpoint",
    "Faults",
    "LostResponse",
    "VenueContext",
    "create_app",
    "load_spot_exchange_info",
    "not_served_message",
    "parse_params",
    "product_of",
]

log = logging.getLogger(__name__)


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


def product_of(path: str) -> Product:
    return Product.SPOT if path.startswith(("/api/", "/ws-api/", "/sapi/")) else Product.USDM


def not_served_message(method: str, path: str) -> str:
    """What a path the venue does not serve answers: it names the request, says the paper
    venue does not serve it (not that Binance would refuse it) and lists the product's served
    routes (``venue/coverage.md`` maps every SDK method)."""
    product = product_of(path)
    served = ", ".join(f"{ep.method} {ep.path}" for ep in ALL_ENDPOINTS if ep.product is product)
    return (
        f"Path {path}, Method {method} is not served by the paper venue "
        f"(see venue/coverage.md); served: {served}"
    )


def _unknown_error(product: Product = Product.USDM) -> VenueError:
    return VenueError(-1000, message_for(product, -1000))


def load_spot_exchange_info() -> dict[str, Any]:
    text = files("exitguard").joinpath("fixtures/exchange_info/spot.json").read_text()
    doc: dict[str, Any] = json.loads(text)
    return doc


def _rest_handler(ep: Endpoint) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    spot = ep.product is Product.SPOT

    async def handle(request: web.Request) -> web.StreamResponse:
        ctx = request.app[CONTEXT]
        ip = request.remote or "?"
        exchange, limiter, lookup = ctx.product_parts(ep.product)
        account: Any = None
        charge_on_failure = 0
        try:
            raw_query = request.rel_url.raw_query_string
            raw_body = await _read_body(request)
            try:
                params = parse_params(raw_query, raw_body)
            except VenueError:
                limiter.charge_weight(ip, ep.weight)
                raise
            weight = ep.weight_for(params)
            charge_on_failure = limiter.charge_weight(
                ip, weight, free_on_success=ep.free_on_success
            )
            account = authenticate(
                ep.security,
                api_key=request.headers.get("X-MBX-APIKEY"),
                params=params,
                raw_query=raw_query,
                raw_body=raw_body,
                server_time_ms=ctx.server_now(),
                lookup=lookup,
                spot=spot,
            )
            if ep.places_orders and account is not None:
                limiter.charge_orders(ip, account.api_key, ep.orders_for(params))
            result = getattr(exchange, ep.handler)(account, params)
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
            if charge_on_failure:
                limiter.add_weight(ip, charge_on_failure)  # only successes are free (endpoints)
            headers = limiter.weight_headers(ip)
            if ep.places_orders and account is not None:
                headers.update(limiter.order_headers(account.api_key))
            return _venue_error(err, headers)
        except web.HTTPException:
            raise  # e.g. 413 body too large: the errors middleware answers it Binance-shaped
        except Exception:
            log.exception("venue bug: %s %s raised", request.method, request.path)
            return _venue_error(_unknown_error(ep.product), limiter.weight_headers(ip))

    handle.__name__ = f"rest_{ep.product.value}_{ep.handler}"
    return handle


async def _retired(request: web.Request) -> web.StreamResponse:
    """``/api/v1/userDataStream`` was retired on 2026-03-25 (reference 3.6). What Binance answers
    there is not documented; the venue says 410 Gone with a Binance-shaped body."""
    limiter = request.app[CONTEXT].spot_limiter
    ip = request.remote or "?"
    err = VenueError(
        -1000,
        "This endpoint has been retired; use the WebSocket API userDataStream.subscribe.",
        http_status=410,
    )
    return _venue_error(err, limiter.weight_headers(ip))


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
            not_served_message(request.method, request.path)
            if exc.status in (404, 405)
            else exc.reason
        )
        ctx = request.app[CONTEXT]
        limiter = ctx.spot_limiter if product_of(request.path) is Product.SPOT else ctx.limiter
        headers = limiter.weight_headers(request.remote or "?")
        if "Allow" in exc.headers:
            headers["Allow"] = exc.headers["Allow"]
        return json_response({"code": -1000, "msg": msg}, status=exc.status, headers=headers)
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("venue bug: %s %s raised", request.method, request.path)
        if control:
            return json_response({"error": "internal error (logged by the venue)"}, status=400)
        return _venue_error(_unknown_error(product_of(request.path)))


@web.middleware
async def _faults_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Latency and forced 429s for ``/fapi``, ``/api`` and ``/sapi`` requests (lost responses: see the REST
    handler)."""
    if not request.path.startswith(("/fapi/", "/api/", "/sapi/")):
        return await handler(request)
    faults = request.app[CONTEXT].faults
    if faults.latency_ms > 0:
        await asyncio.sleep(faults.latency_ms / 1000)
    if faults.status_429 > 0:
        faults.status_429 -= 1
        return _venue_error(faults.forced_429(product_of(request.path)))
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
    spot: SpotExchange | None = None,
    spot_limits: RateLimitConfig | None = None,
) -> web.Application:
    """The venue as an aiohttp application: USD-M and Spot REST, streams, the Spot WebSocket
    API (``/ws-api/v3``), the USD-M WebSocket API (``/ws-fapi/v1``) and the control API.

    ``spot`` defaults to a :class:`SpotExchange` of the bundled Spot exchangeInfo on the same
    clock. ``advance_clock`` (a :class:`SteppedClock`'s ``advance``) enables
    ``/_venue/clock/advance``; ``pump`` pulls the feed and calls ``tick_time`` after the clock
    moved; ``on_reset`` runs after ``/_venue/reset`` (the :class:`~exitguard.venue.server.Venue`
    re-creates its accounts there).
    """
    app = web.Application(middlewares=[_errors_middleware, _faults_middleware])
    # Spot limits always speak Spot (texts, no Retry-After on order counts), whoever built them.
    spot_limits = replace(spot_limits or SPOT_RATE_LIMITS, product=Product.SPOT)
    if spot is None:
        info = load_spot_exchange_info()
        info["rateLimits"] = spot_limits.rate_limits_json()
        spot = SpotExchange(info, exchange.now_ms)
    hub = StreamHub(exchange, queue_size=stream_queue_size, heartbeat_s=ws_heartbeat_s)
    spot_hub = StreamHub(
        spot,
        queue_size=stream_queue_size,
        heartbeat_s=ws_heartbeat_s,
        prefix="/spot",
        split_paths=False,
    )
    ctx = VenueContext(
        exchange=exchange,
        limiter=RateLimiter(exchange.now_ms, limits),
        hub=hub,
        spot=spot,
        spot_limiter=RateLimiter(spot.now_ms, spot_limits),
        spot_hub=spot_hub,
        advance_clock=advance_clock,
        pump=pump,
        on_reset=on_reset,
    )
    ws_api = WsApi(ctx, queue_size=stream_queue_size, heartbeat_s=ws_heartbeat_s)
    ctx.ws_api = ws_api
    ws_fapi = WsFapi(ctx, queue_size=stream_queue_size, heartbeat_s=ws_heartbeat_s)
    app[CONTEXT] = ctx
    app[WS_FAPI] = ws_fapi
    for ep in ALL_ENDPOINTS:
        app.router.add_route(ep.method, ep.path, _rest_handler(ep))
    for method in ("POST", "PUT", "DELETE"):
        app.router.add_route(method, "/api/v1/userDataStream", _retired)
    hub.add_routes(app.router)
    spot_hub.add_routes(app.router)
    ws_api.add_routes(app.router)
    ws_fapi.add_routes(app.router)
    add_control_routes(app.router)

    async def _start(_: web.Application) -> None:
        hub.start()
        spot_hub.start()

    async def _stop(_: web.Application) -> None:
        await ws_api.stop()
        await ws_fapi.stop()
        await spot_hub.stop()
        await hub.stop()

    app.on_startup.append(_start)
    app.on_shutdown.append(_stop)
    return app
