"""What both WebSocket APIs of the venue share: framing, dispatch, authentication, sessions.

Binance serves one request/response protocol on the Spot WebSocket API (``/ws-api/v3``, Spot
``web-socket-api.md``) and on the USD-M one (``/ws-fapi/v1``, USD-M
``websocket-api-general-info.md``): a request is a JSON text frame ``{"id", "method",
"params"}`` (``id`` an integer, a string or null); the answer is ``{"id", "status", "result" |
"error", "rateLimits"}`` with an HTTP-like ``status``. ``rateLimits`` lists REQUEST_WEIGHT, plus
the ORDERS windows for order-placing methods, each with its ``count``; ``returnRateLimits=false``
(in ``params`` or the connection URL) leaves it out. Weights and order counts are charged on the
product's REST limiter (one per IP, shared with REST).

SIGNED methods (TRADE, USER_DATA) carry ``apiKey``, ``timestamp`` and ``signature`` over the
other parameters sorted by name (``k=v`` joined by ``&``; the official SDK URL-encodes the values
first, and both forms are accepted), HMAC-SHA256 hex or Ed25519 base64. After ``session.logon``
(Ed25519 only: an HMAC key is answered -4056) ``apiKey`` and ``signature`` may be left out;
``timestamp`` stays mandatory.

Every frame goes through :func:`parse_frame` (one place, so a bounded parser can replace it).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar
from urllib.parse import quote_plus

from aiohttp import WSCloseCode, WSMsgType, web

from exitguard.domain.enums import Product
from exitguard.domain.numbers import format_decimal

from .auth import AuthAccount, Security, check_api_key, check_timestamp, verify_signature
from .errors import VenueError
from .safe_json import loads_bounded
from .streams import Conn, dumps

if TYPE_CHECKING:
    from .context import VenueContext

__all__ = ["Method", "WsApiBase", "WsSession", "malformed", "parse_frame", "payloads", "wire"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Method:
    """One WebSocket API method: an exchange endpoint (or ``"_name"``, a session method of the
    API object), its security type, its REQUEST_WEIGHT and the ORDERS it counts."""

    handler: str
    security: Security
    weight: int | Callable[[Mapping[str, str]], int]
    orders: int = 0
    free: bool = False  # 0 weight when it succeeds (Spot order requests from 2026-04-02)

    def weight_for(self, params: Mapping[str, str]) -> int:
        return self.weight(params) if callable(self.weight) else self.weight


@dataclass(slots=True, eq=False)  # identity: sessions live in a set
class WsSession:
    conn: Conn
    ip: str
    connected_since: int
    return_rate_limits: bool = True
    logon: Any = None  # the logged-on account (session.logon)
    authorized_since: int | None = None


def parse_frame(text: str) -> object:
    """The JSON value of one incoming text frame (decimals as ``Decimal``); ``ValueError`` when
    it is not JSON or breaks a bound (nesting, number size: ``safe_json``) — checked before
    parsing, so a 51-byte frame cannot make the venue build a 400 MB number. The one place
    every WebSocket API frame is parsed."""
    return loads_bounded(text)


def wire(value: object) -> str:
    """A JSON parameter value as the wire string the REST handlers read (and signatures cover)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        return format_decimal(value) if value.is_finite() else str(value)
    try:
        return json.dumps(value, separators=(",", ":"))
    except (TypeError, ValueError):
        # A fraction inside a list/object (parsed as Decimal): no parameter takes one, and its
        # text cannot be written back exactly; refused like any other illegal value.
        raise NotWire("a decimal number inside a list or object") from None


class NotWire(ValueError):
    """A JSON parameter value that has no wire-string form."""


def payloads(params: Mapping[str, str]) -> tuple[str, str]:
    """The two payloads a signature may cover: raw ``k=v`` and URL-encoded (the SDK's form)."""
    pairs = sorted((k, v) for k, v in params.items() if k != "signature")
    raw = "&".join(f"{k}={v}" for k, v in pairs)
    encoded = "&".join(f"{quote_plus(k)}={quote_plus(v)}" for k, v in pairs)
    return raw, encoded


def malformed() -> dict[str, object]:
    return {
        "code": -1102,
        "msg": "Mandatory parameter 'method' was not sent, was empty/null, or malformed.",
    }


S = TypeVar("S", bound=WsSession)
_NOT_PARAMS = frozenset({"apiKey", "returnRateLimits"})


class WsApiBase(Generic[S]):
    """Connections of one product's WebSocket API: the receive loop, dispatch through
    :attr:`methods` to the product's exchange (the REST code paths), limits, faults, auth and
    the ``session.*`` methods. Subclasses say which product, path and methods."""

    path: ClassVar[str]
    product: ClassVar[Product]
    methods: ClassVar[Mapping[str, Method]]

    def __init__(
        self, ctx: VenueContext, *, queue_size: int = 1000, heartbeat_s: float | None = 180.0
    ) -> None:
        self.ctx = ctx
        self.queue_size = queue_size
        self.heartbeat_s = heartbeat_s
        self._sessions: set[S] = set()
        self._spot = self.product is Product.SPOT

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_get(self.path, self._handle)

    @property
    def connections(self) -> int:
        return len(self._sessions)

    @property
    def logged_on(self) -> int:
        """How many connections are logged on (``session.logon``)."""
        return sum(1 for s in self._sessions if s.logon is not None)

    async def stop(self) -> None:
        for sess in list(self._sessions):
            self._closing(sess)
            sess.conn.close(WSCloseCode.GOING_AWAY, b"venue stopping")
        await asyncio.sleep(0)

    def drop_connections(self) -> int:
        """Close every connection now, answers in flight included (a lost-connection fault for
        tests: whatever was applied stays applied)."""
        count = 0
        for sess in list(self._sessions):
            self._closing(sess)
            sess.conn.close(WSCloseCode.GOING_AWAY, b"venue dropped the connection")
            count += 1
        return count

    # -- hooks ---------------------------------------------------------------------------------

    def _new_session(self, conn: Conn, ip: str, now: int) -> S:
        raise NotImplementedError

    def _closing(self, sess: S) -> None:
        """The connection ends (no events are sent any more)."""

    def _logon_changed(self, sess: S) -> None:
        """The session's logged-on key is about to change or go away."""

    def _method_name(self, method: str) -> str:
        return method

    def _shape(self, method: str, result: object) -> object:
        """The method's documented result shape made from the REST endpoint's answer."""
        return result

    def _session_json(self, sess: S) -> dict[str, object]:
        return {
            "apiKey": sess.logon.api_key if sess.logon is not None else None,
            "authorizedSince": sess.authorized_since,
            "connectedSince": sess.connected_since,
            "returnRateLimits": sess.return_rate_limits,
            "serverTime": self.ctx.server_now(),
        }

    # -- connection ----------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(heartbeat=self.heartbeat_s, autoping=True)
        await ws.prepare(request)
        conn = Conn(ws, combined=False, user_only=False, queue_size=self.queue_size)
        exchange, _, _ = self.ctx.product_parts(self.product)
        sess = self._new_session(conn, request.remote or "?", exchange.now_ms())
        sess.return_rate_limits = request.query.get("returnRateLimits", "true") != "false"
        self._sessions.add(sess)
        conn.writer = asyncio.get_running_loop().create_task(conn.write_loop())
        try:
            async for msg in ws:
                if msg.type is WSMsgType.TEXT:
                    await self._on_text(sess, msg.data)
                elif msg.type is WSMsgType.BINARY:
                    self._send(sess, None, 400, error=malformed(), rate=None)
                elif msg.type is WSMsgType.ERROR:
                    break
        except Exception:  # a venue bug: log it, drop the connection, never crash the server
            log.exception("venue %s: unexpected error", self.path)
        finally:
            self._closing(sess)
            self._sessions.discard(sess)
            await conn.finish()
        return ws

    def _send(
        self,
        sess: S,
        req_id: object,
        status: int,
        *,
        result: object = None,
        error: Mapping[str, object] | None = None,
        rate: list[dict[str, object]] | None,
    ) -> None:
        out: dict[str, object] = {"id": req_id, "status": status}
        if error is not None:
            out["error"] = error
        else:
            out["result"] = result
        if rate is not None:
            out["rateLimits"] = rate
        sess.conn.offer(dumps(out))

    async def _on_text(self, sess: S, text: str) -> None:
        try:
            msg = parse_frame(text)
        except ValueError as exc:
            log.warning("venue %s: refused a frame from %s: %s", self.path, sess.ip, exc)
            self._send(sess, None, 400, error=malformed(), rate=None)
            return
        req_id = msg.get("id") if isinstance(msg, dict) else None
        if isinstance(req_id, bool) or not isinstance(req_id, int | str | type(None)):
            req_id = None
        method = msg.get("method") if isinstance(msg, dict) else None
        raw = msg.get("params", {}) if isinstance(msg, dict) else None
        if not isinstance(method, str) or not isinstance(raw, dict):
            self._send(sess, req_id, 400, error=malformed(), rate=None)
            return
        method = self._method_name(method)
        show = sess.return_rate_limits
        if "returnRateLimits" in raw:
            show = raw["returnRateLimits"] in (True, "true")
        try:
            params = {str(k): wire(v) for k, v in raw.items() if k != "returnRateLimits"}
        except NotWire as bad:
            err = VenueError(-1100, f"Illegal characters found in a parameter: {bad}.")
            self._send(sess, req_id, 400, error=err.body(), rate=None)
            return
        faults = self.ctx.faults
        if faults.latency_ms > 0:
            await asyncio.sleep(faults.latency_ms / 1000)
        exchange, limiter, _ = self.ctx.product_parts(self.product)
        key_for_rate: str | None = None
        charge_on_failure = 0
        try:
            if faults.status_429 > 0:
                faults.status_429 -= 1
                raise faults.forced_429(self.product)
            spec = self.methods.get(method)
            if spec is None:
                limiter.charge_weight(sess.ip, 1)
                raise VenueError(-1000, f"Unknown method: {method!r}.")
            charge_on_failure = limiter.charge_weight(
                sess.ip, spec.weight_for(params), free_on_success=spec.free
            )
            account = self._authenticate(sess, spec.security, params)
            if spec.orders and account is not None:
                key_for_rate = account.api_key
                limiter.charge_orders(sess.ip, account.api_key, spec.orders)
            if spec.handler.startswith("_"):
                result = getattr(self, spec.handler)(sess, account, params)
            else:
                wire_params = {k: v for k, v in params.items() if k not in _NOT_PARAMS}
                result = self._shape(method, getattr(exchange, spec.handler)(account, wire_params))
        except VenueError as err:
            if charge_on_failure:
                limiter.add_weight(sess.ip, charge_on_failure)  # only successes are free
            rate = limiter.status(sess.ip, key_for_rate) if show else None
            self._send(sess, req_id, err.http_status, error=err.body(), rate=rate)
            return
        except Exception:
            log.exception("venue bug: %s %s raised", self.path, method)
            bug = VenueError(-1000, "An unknown error occurred while processing the request.")
            self._send(sess, req_id, 400, error=bug.body(), rate=None)
            return
        rate = limiter.status(sess.ip, key_for_rate) if show else None
        self._send(sess, req_id, 200, result=result, rate=rate)

    # -- authentication ------------------------------------------------------------------------

    def _lookup(self) -> Callable[[str], Any]:
        return self.ctx.product_parts(self.product)[2]

    def _authenticate(self, sess: S, security: Security, params: Mapping[str, str]) -> Any:
        if not security.needs_key:
            return None
        now = self.ctx.server_now()
        api_key = params.get("apiKey")
        if api_key is None and sess.logon is not None:
            if security.signed:
                check_timestamp(params, now, spot=self._spot)
            # Looked up again: a venue reset re-creates the accounts under the same keys.
            return check_api_key(sess.logon.api_key, self._lookup())
        account = check_api_key(api_key, self._lookup())
        if security.signed:
            self._verify(account, params, now)
        return account

    def _verify(self, account: AuthAccount, params: Mapping[str, str], now: int) -> None:
        signature = params.get("signature")
        if not signature:
            raise VenueError(
                -1102, "Mandatory parameter 'signature' was not sent, was empty/null, or malformed."
            )
        check_timestamp(params, now, spot=self._spot)
        if not any(verify_signature(account, p, signature) for p in payloads(params)):
            raise VenueError(-1022, "Signature for this request is not valid.")

    # -- session methods -----------------------------------------------------------------------

    def _logon(self, sess: S, _: object, params: Mapping[str, str]) -> object:
        account = check_api_key(params.get("apiKey"), self._lookup())
        signature = params.get("signature") or ""
        if not account.ed25519_public_key_pem or (
            len(signature) == 64 and all(c in "0123456789abcdefABCDEF" for c in signature)
        ):
            raise VenueError(-4056, "HMAC_SHA256 API key is not supported.")
        self._verify(account, params, self.ctx.server_now())
        if sess.logon is not None and sess.logon.api_key != account.api_key:
            self._logon_changed(sess)
        sess.logon = account
        sess.authorized_since = self.ctx.exchange.now_ms()
        return self._session_json(sess)

    def _status(self, sess: S, _: object, params: Mapping[str, str]) -> object:
        return self._session_json(sess)

    def _logout(self, sess: S, _: object, params: Mapping[str, str]) -> object:
        self._logon_changed(sess)
        sess.logon = None
        sess.authorized_since = None
        return self._session_json(sess)
