"""The paper venue's control API (not Binance).

Control API (not Binance; JSON in, JSON out; errors are HTTP 400/404 ``{"error": "<text>"}``,
with a Binance-shaped ``"code"`` and ``"msg"`` alongside). Every request is validated completely
before anything changes, so a 400 changes nothing. Bodies are read with :mod:`.safe_json` (depth
and number size bounded before parsing); numbers (JSON numbers or decimal strings) are plain
decimals of at most 20 integer and 20 fractional digits, prices within the symbol's PRICE_FILTER
(one tick up to ``maxPrice``), quantities within its LOT_SIZE (``maxQty``, no finer than
``stepSize``), balance deltas within ±10^12 with at most 8 decimals.

``POST /_venue/price`` ``{"symbol": "BTCUSDT", "last": "65010.5", "mark": "65008"}``
    Apply a price step (``last`` and/or ``mark``; numbers or decimal strings) → matching, triggers,
    market streams, on every product that lists the symbol (``"product": "usdm"`` or ``"spot"``
    picks one). On Spot ``last`` is a trade (taken to the spot tick) and the optional ``qty`` its
    quantity: resting limit orders fill up to it (partial fills), all of them without it; Spot
    has no mark. Answers ``{"symbol", "last", "mark"}`` (USD-M's prices) when USD-M took the
    step, else ``{"symbol", "last"}`` (Spot's).
``POST /_venue/balance`` ``{"api_key", "asset": "BTC", "delta": "0.5"}``
    A Spot deposit (or withdrawal, negative ``delta``): ``balanceUpdate`` and
    ``outboundAccountPosition`` are sent. Answers ``{"asset", "free"}``.
``POST /_venue/clock/advance`` ``{"ms": 1000}``
    Step a :class:`~exitguard.venue.clock.SteppedClock` (400 for other clocks), then pull the feed
    up to the new time and expire GTD orders / listen keys. Answers ``{"now_ms"}``.
``POST /_venue/position`` ``{"api_key", "symbol", "side": "BUY"|"SELL", "qty", "price"?,
"position_side"?}``
    Open (or add to) a position as if the account's own MARKET order filled at ``price``
    (default: last). Answers ``{"order": {...}}``.
``GET /_venue/snapshot``
    The USD-M exchange's state (prices, accounts, orders, algo orders) plus ``spot`` (Spot's:
    prices, balances, orders, order lists), ``faults`` and ``streams``.
``POST /_venue/reset``
    Forget accounts, orders and price moves of both products (the venue's own accounts are
    re-created with the same keys), rate-limit counters and faults; close user-data streams and
    end WebSocket API subscriptions (``eventStreamTerminated``) and logons.
``POST /_venue/symbol/status`` ``{"symbol": "BTCUSDT", "status": "CANCEL_ONLY"}``
    Put a Spot symbol in a trading phase (``TRADING``, ``END_OF_DAY``, ``HALT``, ``BREAK``,
    ``CANCEL_ONLY``): ``exchangeInfo`` shows it; unless TRADING, placements are refused ``-2010``
    "Market is closed." while cancels work. ``/_venue/reset`` restores TRADING. Answers
    ``{"symbol", "status"}``.
``POST /_venue/ws-api/server-shutdown`` ``{}``
    Send the Spot WebSocket API's ``serverShutdown`` event on every connection (connections stay
    open). Answers ``{"connections": n}``.
``POST /_venue/faults`` (``GET`` reads them)
    Fault injection, applied to ``/fapi`` and ``/api`` requests by a middleware (latency and
    429s also to WebSocket API requests); keys may be combined:

    - ``{"latency_ms": n}``: every request waits ``n`` ms (wall time) before it is handled.
    - ``{"lose_response": {"path": "/fapi/v1/algoOrder", "method"?: "POST", "count": 1,
      "status": 503, "code": -1007}}``: the next ``count`` matching requests ARE processed, but
      the client gets ``{"code", "msg"}`` with ``status`` (503 or 408; default 503/-1007) — the
      classic unknown outcome. A list of such objects is accepted too.
    - ``{"status_429": n}``: the next ``n`` requests are answered 429 ``-1003`` (not processed,
      ``Retry-After: 1``).
    - ``{"clock_skew_ms": n}``: the venue's ``serverTime`` (``/fapi/v1/time`` and the
      ``timestamp`` check) is the clock plus ``n`` ms, as if the client's clock were off by ``-n``.
    - ``{"close_user_streams": true}``: close every user-data WebSocket now, and end every
      WebSocket API user-data subscription (``eventStreamTerminated``; the connection stays).
    - ``{"expire_listen_key": true}``: expire every listen key (USD-M and Spot) now
      (``listenKeyExpired`` is sent; a keepalive then answers ``-1125``).
    - ``{"clear": true}``: remove every fault.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from aiohttp import web

from exitguard.domain.enums import PositionSide, Side
from exitguard.domain.filters import SymbolRules

from .context import CONTEXT, VenueContext, json_response
from .errors import VenueError
from .faults import MAX_LATENCY_MS, LostResponse, int_field, lost_response
from .safe_json import JsonBoundError, loads_bounded

__all__ = ["add_control_routes"]

log = logging.getLogger(__name__)


class _ControlError(Exception):
    def __init__(self, text: str, code: int = -1102) -> None:
        super().__init__(text)
        self.code = code


# Binance's decimal parameter pattern (at most 20 digits either side of the point), with an
# optional exponent for JSON numbers; the value is then held to the same digit counts.
_DECIMAL_TEXT = re.compile(r"-?[0-9]{1,20}(\.[0-9]{1,20})?([eE][-+]?[0-9]{1,3})?")
_MAX_DIGITS = 20
_MAX_LOST_RESPONSES = 100


async def _json_body(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        body = loads_bounded(raw)
    except JsonBoundError as exc:
        log.warning("control API %s: refused body: %s", request.path, exc)
        raise _ControlError(f"body is not acceptable JSON: {exc}", -1100) from None
    if not isinstance(body, dict):
        raise _ControlError("body must be a JSON object")
    return body


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _decimal(
    body: Mapping[str, Any],
    name: str,
    *,
    required: bool,
    low: Decimal | None = None,
    high: Decimal | None = None,
    step: Decimal | None = None,
    bound: str = "",
) -> Decimal | None:
    """``body[name]`` as a bounded Decimal: plain digits (no exponent tricks), within
    ``[low, high]`` (``low`` None: > 0), no finer than ``step``; the 400 names field and bound."""
    if name not in body or body[name] is None:
        if required:
            raise _ControlError(f"{name} is required")
        return None
    value = body[name]
    if isinstance(value, bool) or not isinstance(value, int | str | Decimal):
        raise _ControlError(f"{name} must be a decimal number or string", -1100)
    text = value if isinstance(value, str) else str(value)
    if len(text) > 48 or not _DECIMAL_TEXT.fullmatch(text):
        raise _ControlError(
            f"{name} must be a decimal number of at most {_MAX_DIGITS} digits before and after "
            f"the point, got {_show(value)}",
            -1100,
        )
    dec = Decimal(text)
    places = max(0, -int(dec.as_tuple().exponent))
    if dec.adjusted() >= _MAX_DIGITS or places > _MAX_DIGITS:
        raise _ControlError(
            f"{name} must have at most {_MAX_DIGITS} digits before and after the point, "
            f"got {_show(value)}",
            -1100,
        )
    where = f" ({bound})" if bound else ""
    if low is None and dec <= 0:
        raise _ControlError(f"{name} must be > 0, got {_show(value)}", -1100)
    if low is not None and dec < low:
        raise _ControlError(f"{name} must be >= {low}{where}, got {_show(value)}", -1100)
    if high is not None and dec > high:
        raise _ControlError(f"{name} must be <= {high}{where}, got {_show(value)}", -1100)
    if step is not None and step > 0 and not _multiple(dec, step):
        raise _ControlError(
            f"{name} must be a multiple of {step}{where}, got {_show(value)}", -1100
        )
    return dec


def _multiple(value: Decimal, step: Decimal) -> bool:
    try:
        return value % step == 0
    except InvalidOperation:  # quotient beyond the context's 28 digits: not on any usable grid
        return False


def _price(body: Mapping[str, Any], name: str, rules: list[SymbolRules]) -> Decimal | None:
    """A price every product in ``rules`` can hold: one tick up to PRICE_FILTER maxPrice."""
    value = _decimal(body, name, required=False)
    for r in rules:
        pf = r.price_filter
        if pf is None or value is None:
            continue
        high = pf.max_price if pf.max_price > 0 else None
        _decimal(
            body,
            name,
            required=False,
            low=pf.tick_size if pf.tick_size > 0 else None,
            high=high,
            bound=f"{r.symbol} PRICE_FILTER tickSize..maxPrice",
        )
    return value


def _qty(
    body: Mapping[str, Any], name: str, rules: SymbolRules, *, required: bool
) -> Decimal | None:
    """A quantity within LOT_SIZE: > 0, <= maxQty, no finer than stepSize."""
    lot = rules.lot_size
    if lot is None:
        return _decimal(body, name, required=required)
    step = lot.step_size if lot.step_size > 0 else None
    return _decimal(
        body,
        name,
        required=required,
        high=lot.max_qty if lot.max_qty > 0 else None,
        step=step.normalize() if step is not None else None,
        bound=f"{rules.symbol} LOT_SIZE stepSize/maxQty",
    )


def _str(body: Mapping[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value or len(value) > 128:
        raise _ControlError(f"{name} must be a non-empty string of at most 128 characters")
    return value


def _only(body: Mapping[str, Any], known: set[str]) -> None:
    unknown = set(body) - known
    if unknown:
        names = ", ".join(sorted(_show(k) for k in unknown)[:5])
        raise _ControlError(f"unknown key(s) {names}; known: {', '.join(sorted(known))}", -1104)


def _control(
    fn: Callable[[VenueContext, dict[str, Any]], object],
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handle(request: web.Request) -> web.StreamResponse:
        ctx = request.app[CONTEXT]
        try:
            body = await _json_body(request) if request.method == "POST" else {}
            return json_response(fn(ctx, body))
        except _ControlError as exc:
            text = str(exc)
            return json_response({"error": text, "code": exc.code, "msg": text}, status=400)
        except VenueError as err:
            body = {"error": err.msg, "code": err.code, "msg": err.msg}
            return json_response(body, status=400)

    return handle


def _ctl_price(ctx: VenueContext, body: dict[str, Any]) -> object:
    _only(body, {"symbol", "last", "mark", "qty", "product"})
    symbol = _str(body, "symbol")
    if body.get("last") is None and body.get("mark") is None:
        raise _ControlError("give last and/or mark")
    product = body.get("product")
    if product not in (None, "usdm", "spot"):
        raise _ControlError("product must be usdm or spot")
    has_last = body.get("last") is not None
    usdm = product != "spot" and symbol in ctx.exchange.markets
    spot = product != "usdm" and symbol in ctx.spot.markets and has_last
    if not usdm and not spot:
        if product == "spot" and symbol in ctx.spot.markets:
            raise _ControlError("spot has no mark price: give last")
        raise VenueError(-1121, "Invalid symbol.")
    # Everything is checked against every product the step goes to before either moves.
    rules = [ctx.exchange.markets[symbol].rules] if usdm else []
    last = _price(body, "last", [*rules, *([ctx.spot.markets[symbol].rules] if spot else [])])
    mark = _price(body, "mark", rules)
    qty = _qty(body, "qty", ctx.spot.markets[symbol].rules, required=False) if spot else None
    if qty is None and body.get("qty") is not None:
        _decimal(body, "qty", required=False)
    if usdm:
        ctx.exchange.on_price(symbol, last, mark)
    if spot:
        ctx.spot.on_price(symbol, last, qty)
    if usdm:
        m = ctx.exchange.market(symbol)
        return {"symbol": symbol, "last": dumps_decimal(m.last), "mark": dumps_decimal(m.mark)}
    return {"symbol": symbol, "last": dumps_decimal(ctx.spot.market(symbol).last)}


_MAX_DELTA = Decimal(10) ** 12
_ASSET = re.compile(r"[A-Z0-9]{1,20}")


def _ctl_balance(ctx: VenueContext, body: dict[str, Any]) -> object:
    _only(body, {"api_key", "asset", "delta"})
    account = ctx.spot_account(_str(body, "api_key"))
    if account is None:
        raise _ControlError("no account has that api_key")
    asset = _str(body, "asset").upper()
    if not _ASSET.fullmatch(asset):
        raise _ControlError(f"asset must be 1-20 letters or digits, got {_show(asset)}")
    delta = _decimal(
        body,
        "delta",
        required=True,
        low=-_MAX_DELTA,
        high=_MAX_DELTA,
        step=Decimal("0.00000001"),
        bound="balances hold 8 decimals, at most 10^12",
    )
    if delta is None or delta == 0:
        raise _ControlError("delta must be a non-zero number")
    free = ctx.spot.move_balance(account, asset, delta)
    return {"asset": asset, "free": dumps_decimal(free)}


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
        ms = int_field(body, "ms", 0, 10 * 365 * 86_400_000)
    except ValueError as exc:
        raise _ControlError(str(exc)) from None
    now = ctx.advance_clock(ms)
    if ctx.pump is not None:
        ctx.pump()
    else:
        ctx.exchange.tick_time()
        ctx.spot.tick_time()
    return {"now_ms": now}


def _ctl_position(ctx: VenueContext, body: dict[str, Any]) -> object:
    _only(body, {"api_key", "symbol", "side", "qty", "price", "position_side"})
    account = ctx.exchange.account_by_api_key(_str(body, "api_key"))
    if account is None:
        raise _ControlError("no account has that api_key")
    symbol = _str(body, "symbol")
    if symbol not in ctx.exchange.markets:
        raise VenueError(-1121, "Invalid symbol.")
    rules = ctx.exchange.markets[symbol].rules
    try:
        side = Side(_str(body, "side").upper())
    except ValueError:
        raise _ControlError("side must be BUY or SELL") from None
    qty = _qty(body, "qty", rules, required=True)
    assert qty is not None
    price = _price(body, "price", [rules])
    position_side: PositionSide | None = None
    if body.get("position_side") is not None:
        try:
            position_side = PositionSide(_str(body, "position_side").upper())
        except ValueError:
            raise _ControlError("position_side must be BOTH, LONG or SHORT") from None
        hedge_side = position_side is not PositionSide.BOTH
        if hedge_side != account.dual_side:
            mode = "hedge mode: LONG or SHORT" if account.dual_side else "one-way mode: BOTH"
            raise _ControlError(f"position_side {position_side} does not fit the account's {mode}")
    order = ctx.exchange.open_position(account, symbol, side, qty, price, position_side)
    return {"order": order.to_json()}


def _ctl_snapshot(ctx: VenueContext, body: dict[str, Any]) -> object:
    snap = dict(ctx.exchange.snapshot())
    snap["spot"] = ctx.spot.snapshot()
    snap["faults"] = ctx.faults.to_json()
    snap["streams"] = {
        "connections": ctx.hub.connections,
        "spot_connections": ctx.spot_hub.connections,
        "ws_api_connections": ctx.ws_api.connections if ctx.ws_api is not None else 0,
    }
    return snap


def _ctl_reset(ctx: VenueContext, body: dict[str, Any]) -> object:
    ctx.hub.close_user_streams()
    ctx.spot_hub.close_user_streams()
    if ctx.ws_api is not None:
        ctx.ws_api.terminate_subscriptions(logout=True)
    ctx.exchange.reset()
    ctx.spot.reset()
    ctx.limiter.reset()
    ctx.spot_limiter.reset()
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
        latency = int_field(body, "latency_ms", 0, MAX_LATENCY_MS) if "latency_ms" in body else None
        n429 = int_field(body, "status_429", 0, 1_000_000) if "status_429" in body else None
        skew = (
            int_field(body, "clock_skew_ms", -86_400_000, 86_400_000)
            if "clock_skew_ms" in body
            else None
        )
        lost: list[LostResponse] = []
        if "lose_response" in body:
            raw = body["lose_response"]
            items = raw if isinstance(raw, list) else [raw]
            if len(items) + len(faults.lose_response) > _MAX_LOST_RESPONSES:
                raise ValueError(f"lose_response: at most {_MAX_LOST_RESPONSES} pending in all")
            lost = [lost_response(x) for x in items]
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
        out["closed_streams"] = ctx.hub.close_user_streams() + ctx.spot_hub.close_user_streams()
        if ctx.ws_api is not None:
            out["terminated_subscriptions"] = ctx.ws_api.terminate_subscriptions()
    if body.get("expire_listen_key"):
        expired = 0
        for account in list(ctx.exchange.accounts.values()):
            if account.listen_key is not None:
                ctx.exchange.expire_listen_key(account)
                expired += 1
        for spot_account in list(ctx.spot.accounts.values()):
            if spot_account.listen_key is not None:
                ctx.spot.expire_listen_key(spot_account)
                expired += 1
        out["expired_listen_keys"] = expired
    out["faults"] = faults.to_json()
    return out


def _ctl_get_faults(ctx: VenueContext, body: dict[str, Any]) -> object:
    return ctx.faults.to_json()


def _ctl_symbol_status(ctx: VenueContext, body: dict[str, Any]) -> object:
    """Spot symbol status (CANCEL_ONLY since 2026-07-07); checked whole before any change."""
    symbol = _str(body, "symbol")
    status = _str(body, "status")
    if set(body) - {"symbol", "status"}:
        raise _ControlError(f"unknown keys: {sorted(set(body) - {'symbol', 'status'})}")
    ctx.spot.set_symbol_status(symbol, status)
    return {"symbol": symbol, "status": status}


def _ctl_server_shutdown(ctx: VenueContext, body: dict[str, Any]) -> object:
    """The Spot WS API's ``serverShutdown`` (2026-05-08) on every connection."""
    if body:
        raise _ControlError(f"unknown keys: {sorted(body)}")
    return {"connections": ctx.ws_api.server_shutdown() if ctx.ws_api is not None else 0}


def add_control_routes(router: web.UrlDispatcher) -> None:
    router.add_post("/_venue/price", _control(_ctl_price))
    router.add_post("/_venue/clock/advance", _control(_ctl_advance))
    router.add_post("/_venue/position", _control(_ctl_position))
    router.add_post("/_venue/balance", _control(_ctl_balance))
    router.add_get("/_venue/snapshot", _control(_ctl_snapshot))
    router.add_post("/_venue/reset", _control(_ctl_reset))
    router.add_post("/_venue/faults", _control(_ctl_faults))
    router.add_get("/_venue/faults", _control(_ctl_get_faults))
    router.add_post("/_venue/symbol/status", _control(_ctl_symbol_status))
    router.add_post("/_venue/ws-api/server-shutdown", _control(_ctl_server_shutdown))
