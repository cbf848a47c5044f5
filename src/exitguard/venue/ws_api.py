"""The Spot WebSocket API at ``/ws-api/v3`` (Spot ``web-socket-api.md``; reference 3.6, 4).

Framing: a request is a JSON text frame ``{"id", "method", "params"}`` (``id`` an integer, a
string or null); the answer is ``{"id", "status", "result" | "error", "rateLimits"}`` with an
HTTP-like ``status`` (200; 400 refused; 401 bad key; 409 cancelReplace half done; 429/418 rate
limits). ``rateLimits`` lists REQUEST_WEIGHT, plus the ORDERS windows for order-placing methods,
each with its ``count``; ``returnRateLimits=false`` (in ``params`` or the connection URL) leaves
it out. Weights and order counts are those of the REST endpoints, on the Spot limiter (one per
IP, shared with ``/api/v3``): order placements, cancels and order lists cost 0 weight when they
succeed (``Method.free``; Spot CHANGELOG 2026-03-27).

Authentication: SIGNED methods (TRADE, USER_DATA) carry ``apiKey``, ``timestamp`` and
``signature`` over the other parameters sorted by name (``k=v`` joined by ``&``; the official
SDK URL-encodes the values first, and both forms are accepted: Binance's 2026-01-15
percent-encoding rule is announced for the REST API, and ``web-socket-api.md`` "SIGNED request
security" still signs the values as UTF-8 with "no percent encoding here!"), HMAC-SHA256 hex or
Ed25519 base64. After ``session.logon`` (Ed25519 only: an HMAC signature is answered -4056) ``apiKey``
and ``signature`` may be left out; ``timestamp`` stays mandatory. USER_STREAM methods need the
key only.

User data: ``userDataStream.subscribe`` (on a logged-on session) or
``userDataStream.subscribe.signature`` (any key type, no logon) answer ``{"subscriptionId": N}``
(N counts from 0 per connection); events then arrive as ``{"subscriptionId": N, "event": {...}}``.
``userDataStream.unsubscribe`` (one id, or all) and ``session.logout`` (the logon subscription)
end subscriptions with an ``eventStreamTerminated`` event, and so does the venue when it closes a
subscription itself (``close_user_streams`` fault, ``/_venue/reset``). One subscription per
account per connection (-2035 otherwise); an unknown id is -2036.

Also served: the order methods the adapters use (``order.place``, ``order.test``,
``order.status``, ``order.cancel``, ``order.cancelReplace``, ``openOrders.status``,
``openOrders.cancelAll``, ``allOrders``, ``myTrades``,
``orderList.place.oco|oto|otoco|opo|opoco``, the
deprecated ``orderList.place``, ``orderList.status``, ``orderList.cancel``,
``openOrderLists.status``, ``allOrderLists``), ``account.status``, ``account.rateLimits.orders``,
``ping``, ``time``, ``exchangeInfo``, ``depth``, ``ticker.price``, ``ticker.book``,
``session.status`` / ``session.subscriptions``, and the deprecated listen-key methods
``userDataStream.start|ping|stop``. The ``latency_ms`` and ``status_429`` faults apply here too.
An unknown method is answered 400 ``-1000`` "Unknown method" (Binance's text is not documented).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from exitguard.domain.enums import Product

from .auth import Security
from .endpoints import spot_depth_weight, spot_many_weight, spot_test_weight
from .errors import VenueError
from .streams import Conn, dumps
from .ws_frame import Method, WsApiBase, WsSession
from .ws_frame import payloads as _payloads

if TYPE_CHECKING:
    from .spot.accounts import SpotAccount

__all__ = ["METHODS", "WsApi", "_payloads"]

MAX_ACTIVE_SUBSCRIPTIONS = 1000
MAX_SUBSCRIPTION_IDS = 65_535
_N, _US, _T, _UD = Security.NONE, Security.USER_STREAM, Security.TRADE, Security.USER_DATA


def _open_orders_weight(params: Mapping[str, str]) -> int:
    return 6 if params.get("symbol") else 80


METHODS: dict[str, Method] = {
    "ping": Method("ping", _N, 1),
    "time": Method("server_time", _N, 1),
    "exchangeInfo": Method("exchange_info", _N, 20),
    "depth": Method("depth", _N, spot_depth_weight),
    "ticker.price": Method("ticker_price", _N, spot_many_weight),
    "ticker.book": Method("book_ticker", _N, spot_many_weight),
    "referencePrice": Method("reference_price", _N, 2),
    "session.logon": Method("_logon", _N, 2),
    "session.status": Method("_status", _N, 2),
    "session.logout": Method("_logout", _N, 2),
    "session.subscriptions": Method("_subscriptions", _N, 2),
    "userDataStream.subscribe": Method("_subscribe", _N, 2),
    "userDataStream.subscribe.signature": Method("_subscribe_signature", _T, 2),
    "userDataStream.unsubscribe": Method("_unsubscribe", _N, 2),
    "userDataStream.start": Method("listen_key_create", _US, 2),
    "userDataStream.ping": Method("listen_key_keepalive", _US, 2),
    "userDataStream.stop": Method("listen_key_close", _US, 2),
    "order.place": Method("new_order", _T, 1, orders=1, free=True),
    "order.test": Method("order_test", _T, spot_test_weight),
    "order.status": Method("query_order", _UD, 4),
    "order.cancel": Method("cancel_order", _T, 1, free=True),
    "order.cancelReplace": Method("cancel_replace", _T, 1, orders=1, free=True),
    "openOrders.status": Method("open_orders", _UD, _open_orders_weight),
    "openOrders.cancelAll": Method("cancel_open_orders", _T, 1, free=True),
    "allOrders": Method("all_orders", _UD, 20),
    "myTrades": Method("my_trades", _UD, 20),
    "orderList.place": Method("order_oco", _T, 1, orders=2, free=True),
    "orderList.place.oco": Method("order_list_oco", _T, 1, orders=2, free=True),
    "orderList.place.oto": Method("order_list_oto", _T, 1, orders=2, free=True),
    "orderList.place.otoco": Method("order_list_otoco", _T, 1, orders=3, free=True),
    "orderList.place.opo": Method("order_list_opo", _T, 1, orders=2, free=True),
    "orderList.place.opoco": Method("order_list_opoco", _T, 1, orders=3, free=True),
    "orderList.status": Method("query_order_list", _UD, 4),
    "orderList.cancel": Method("cancel_order_list", _T, 1, free=True),
    "openOrderLists.status": Method("open_order_lists", _UD, 6),
    "allOrderLists": Method("all_order_lists", _UD, 20),
    "account.status": Method("account", _UD, 20),
    "account.rateLimits.orders": Method("_order_limits", _UD, 40),
}


@dataclass(slots=True)
class _Sub:
    sub_id: int
    account: SpotAccount
    listener: Callable[[dict[str, Any]], None]
    via_logon: bool


@dataclass(slots=True, eq=False)  # identity: sessions live in a set
class _Session(WsSession):
    subs: dict[int, _Sub] = field(default_factory=dict)
    next_sub_id: int = 0


class WsApi(WsApiBase[_Session]):
    """Every Spot WebSocket API connection of the venue and their user-data subscriptions."""

    path: ClassVar[str] = "/ws-api/v3"
    product: ClassVar[Product] = Product.SPOT
    methods: ClassVar[Mapping[str, Method]] = METHODS

    def server_shutdown(self) -> int:
        """Send ``{"event": {"e": "serverShutdown", "E": now}}`` on every connection (Spot
        2026-05-08; web-socket-api.md "Server Shutdown": the server is about to shut down,
        clients should open a new connection). Connections and subscriptions stay open: the
        fault only warns, as Binance does before it disconnects. Returns how many were told."""
        frame = dumps({"event": {"e": "serverShutdown", "E": self.ctx.spot.now_ms()}})
        sessions = list(self._sessions)
        for sess in sessions:
            sess.conn.offer(frame)
        return len(sessions)

    def subscriptions(self, api_key: str | None = None) -> int:
        return sum(
            1
            for s in self._sessions
            for sub in s.subs.values()
            if api_key is None or sub.account.api_key == api_key
        )

    def terminate_subscriptions(self, *, logout: bool = False) -> int:
        """The venue closes every subscription (``eventStreamTerminated``); connections stay.
        ``logout`` also forgets logged-on keys (a venue reset replaces the accounts)."""
        count = 0
        for sess in list(self._sessions):
            count += len(sess.subs)
            self._drop_all(sess, notify=True)
            if logout:
                sess.logon = None
                sess.authorized_since = None
        return count

    # -- hooks of the shared base ----------------------------------------------------------

    def _new_session(self, conn: Conn, ip: str, now: int) -> _Session:
        return _Session(conn, ip, now)

    def _closing(self, sess: _Session) -> None:
        self._drop_all(sess, notify=False)

    def _logon_changed(self, sess: _Session) -> None:
        self._drop_logon_sub(sess)

    def _method_name(self, method: str) -> str:
        return method.removeprefix("v3/")

    def _session_json(self, sess: _Session) -> dict[str, object]:
        out = WsApiBase._session_json(self, sess)
        out["userDataStream"] = any(sub.via_logon for sub in sess.subs.values())
        return out

    # -- session methods -------------------------------------------------------------------

    def _subscriptions(self, sess: _Session, _: object, params: Mapping[str, str]) -> object:
        return [{"subscriptionId": sid} for sid in sorted(sess.subs)]

    def _subscribe(self, sess: _Session, _: object, params: Mapping[str, str]) -> object:
        if sess.logon is None:
            raise VenueError(-1002, "You are not authorized to execute this request.", 401)
        return {"subscriptionId": self._add_sub(sess, sess.logon, via_logon=True)}

    def _subscribe_signature(
        self, sess: _Session, account: SpotAccount | None, params: Mapping[str, str]
    ) -> object:
        assert account is not None
        return {"subscriptionId": self._add_sub(sess, account, via_logon=False)}

    def _unsubscribe(self, sess: _Session, _: object, params: Mapping[str, str]) -> object:
        raw = params.get("subscriptionId")
        if raw is None:
            if not sess.subs:
                raise VenueError(-2036, "User Data Stream subscription not active.")
            self._drop_all(sess, notify=True)
            return {}
        sub = sess.subs.get(int(raw)) if raw.isascii() and raw.isdigit() else None
        if sub is None:
            raise VenueError(-2036, "User Data Stream subscription not active.")
        self._drop(sess, sub, notify=True)
        return {}

    def _order_limits(
        self, sess: _Session, account: SpotAccount | None, params: Mapping[str, str]
    ) -> object:
        assert account is not None
        rows = self.ctx.spot_limiter.status(sess.ip, account.api_key)
        return [row for row in rows if row["rateLimitType"] == "ORDERS"]

    # -- subscriptions ---------------------------------------------------------------------

    def _add_sub(self, sess: _Session, account: SpotAccount, *, via_logon: bool) -> int:
        if any(sub.account.api_key == account.api_key for sub in sess.subs.values()):
            raise VenueError(-2035, "User Data Stream subscription already active.")
        if len(sess.subs) >= MAX_ACTIVE_SUBSCRIPTIONS or sess.next_sub_id >= MAX_SUBSCRIPTION_IDS:
            raise VenueError(-2042, "Maximum subscription ID reached for this connection.")
        sub_id = sess.next_sub_id
        sess.next_sub_id += 1
        conn = sess.conn

        def listener(event: dict[str, Any]) -> None:
            conn.offer(dumps({"subscriptionId": sub_id, "event": event}))

        sess.subs[sub_id] = _Sub(sub_id, account, listener, via_logon)
        self.ctx.spot.subscribe(account, listener)
        return sub_id

    def _drop(self, sess: _Session, sub: _Sub, *, notify: bool) -> None:
        sess.subs.pop(sub.sub_id, None)
        self.ctx.spot.unsubscribe(sub.account, sub.listener)
        if notify:
            event = {"e": "eventStreamTerminated", "E": self.ctx.spot.now_ms()}
            sess.conn.offer(dumps({"subscriptionId": sub.sub_id, "event": event}))

    def _drop_logon_sub(self, sess: _Session) -> None:
        for sub in [s for s in sess.subs.values() if s.via_logon]:
            self._drop(sess, sub, notify=True)

    def _drop_all(self, sess: _Session, *, notify: bool) -> None:
        for sub in list(sess.subs.values()):
            self._drop(sess, sub, notify=notify)
