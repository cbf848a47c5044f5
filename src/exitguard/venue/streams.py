"""Binance WebSocket streams served by the venue's HTTP server (same host and port).

Two hubs run side by side: USD-M on the paths below, and Spot (``stream.binance.com`` layout)
under the prefix ``/spot``: ``/spot/ws``, ``/spot/ws/<name>``, ``/spot/stream``. The official
``binance-sdk-spot`` appends ``/stream`` to its ``stream_url`` and opens one combined
connection, so ``ws://HOST:PORT/spot`` is the Spot ``stream_url``. Spot market streams are
``<symbol>@trade``, ``<symbol>@aggTrade`` and ``<symbol>@bookTicker``; a (deprecated, still
served) spot listen key carries that account's user data (``/spot/ws/<listenKey>``). Spot user
data proper goes through the WebSocket API (:mod:`exitguard.venue.ws_api`).

USD-M:

Paths (``fstream.binance.com`` layout, legacy and split):

=====================================  ==============================================================
``/ws``                                raw market streams, chosen with ``SUBSCRIBE``
``/ws/<name>``                         one raw stream: a listen key → user data, else a market stream
``/stream?streams=a/b``                combined (``{"stream", "data"}``); a listen key in ``streams``
                                       carries user data
``/market/ws``, ``/public/ws``          raw market streams (``/<path>/ws/<name>`` for one stream)
``/market/stream``, ``/public/stream``  combined market streams (``?streams=`` optional)
``/private/ws``                         raw user data: ``?listenKey=<k>&events=A/B``
``/private/stream``                     combined user data: ``?listenKey=<k1>&events=…&listenKey=…``
=====================================  ==============================================================

The official SDK (``binance-sdk-derivatives-trading-usds-futures``) appends ``/stream`` to its
``stream_url`` and opens ``/market/stream``, ``/public/stream`` and ``/private/stream``;
``user_data(listenKey)`` then sends ``{"method": "SUBSCRIBE", "params": ["<listenKey>"], "id":
"<uuid>"}`` on the private connection and dispatches frames whose ``stream`` equals the listen key.
So a listen key is also accepted as a stream name in ``SUBSCRIBE`` on the user paths and on the
legacy ``/ws`` and ``/stream``.

Control messages: ``SUBSCRIBE`` / ``UNSUBSCRIBE`` → ``{"result": null, "id": n}``;
``LIST_SUBSCRIPTIONS`` → ``{"result": [names], "id": n}``; ``SET_PROPERTY ["combined", bool]`` and
``GET_PROPERTY ["combined"]`` as on Binance. Bad requests → ``{"error": {"code", "msg"}, "id"}``
(codes 0 unknown property, 1 invalid value type, 2 invalid request, 3 invalid JSON). ``id`` may be
an integer or a string (the SDK sends UUID strings). Well-formed but unknown stream names are
accepted and carry nothing (as on Binance); at most 1024 streams per connection.

Market streams: ``<symbol>@markPrice`` / ``@markPrice@1s`` / ``@markPrice@3s``, ``<symbol>@aggTrade``,
``<symbol>@bookTicker`` (symbol lower-case, as Binance names streams), ``!markPrice@arr[@1s]`` and
``!bookTicker``. Every price step of the venue is pushed at once (no 1 s / 3 s batching).

User data: every event of the account whose listen key is subscribed, while that key is still the
account's valid key (a closed or expired key stops delivery; ``listenKeyExpired`` for the key is
still delivered). ``events=`` filters by event type.

Each connection has a bounded send queue; a client that falls ``queue_size`` frames behind is
disconnected (close code 1008) instead of growing memory. Pings are answered by aiohttp, and the
server pings every ``heartbeat_s`` seconds (Binance: every 3 minutes).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Mapping
from decimal import Decimal
from enum import Enum
from typing import Any, Protocol
from urllib.parse import parse_qsl

from aiohttp import WSCloseCode, WSMsgType, web

from .listeners import MarketListener, UserListener
from .safe_json import loads_bounded

__all__ = ["MAX_STREAMS_PER_CONNECTION", "Conn", "StreamHub", "StreamSource", "dumps"]

log = logging.getLogger(__name__)

MAX_STREAMS_PER_CONNECTION = 1024
_MARKET_PATHS = ("market", "public")


class Account(Protocol):
    @property
    def api_key(self) -> str: ...


class StreamSource(Protocol):
    """What a hub needs from an exchange (USD-M or Spot)."""

    def subscribe(self, account: Any, listener: UserListener) -> None: ...
    def unsubscribe(self, account: Any, listener: UserListener) -> None: ...
    def subscribe_market(self, listener: MarketListener) -> None: ...
    def unsubscribe_market(self, listener: MarketListener) -> None: ...
    def account_by_listen_key(self, listen_key: str) -> Any: ...


def _json_default(value: object) -> object:
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, Enum):
        return value.value
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def dumps(obj: object) -> str:
    """Compact JSON as Binance sends it (Decimals as plain strings)."""
    return json.dumps(obj, separators=(",", ":"), default=_json_default)


class Conn:
    """One client WebSocket: its subscriptions and its bounded outgoing queue."""

    def __init__(
        self,
        ws: web.WebSocketResponse,
        *,
        combined: bool,
        user_only: bool,
        queue_size: int,
    ) -> None:
        self.ws = ws
        self.combined = combined
        self.user_only = user_only
        self.market: set[str] = set()
        # listen key -> (account, event-type filter or None)
        self.user: dict[str, tuple[Account, frozenset[str] | None]] = {}
        self.queue: asyncio.Queue[str] = asyncio.Queue(maxsize=queue_size)
        self.closed = False
        self.writer: asyncio.Task[None] | None = None

    @property
    def stream_count(self) -> int:
        return len(self.market) + len(self.user)

    def offer(self, text: str) -> None:
        if self.closed:
            return
        try:
            self.queue.put_nowait(text)
        except asyncio.QueueFull:
            log.warning(
                "venue stream: dropping a slow client (%d frames queued)", self.queue.qsize()
            )
            self.close(WSCloseCode.POLICY_VIOLATION, b"slow consumer")

    def close(self, code: int = WSCloseCode.GOING_AWAY, message: bytes = b"") -> None:
        if self.closed:
            return
        self.closed = True
        if self.writer is not None:
            self.writer.cancel()
        task = asyncio.get_running_loop().create_task(self.ws.close(code=code, message=message))
        _BACKGROUND.add(task)
        task.add_done_callback(_BACKGROUND.discard)

    async def finish(self) -> None:
        """After the read loop: stop the writer, close the socket (idempotent)."""
        self.closed = True
        if self.writer is not None:
            self.writer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.writer
        if not self.ws.closed:
            await self.ws.close()

    async def write_loop(self) -> None:
        try:
            while True:
                text = await self.queue.get()
                await self.ws.send_str(text)
        except asyncio.CancelledError:
            raise
        except Exception:  # connection reset while sending: the reader will see the close
            self.closed = True


_Conn = Conn  # the private name the part-1 tests import
_BACKGROUND: set[asyncio.Task[Any]] = set()


class _BadRequest(Exception):
    def __init__(self, code: int, msg: str) -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg


def _market_names(kind: str, symbol: str) -> tuple[tuple[str, bool], ...]:
    """Stream names fed by one market event, each with "payload is wrapped in a list"."""
    s = symbol.lower()
    if kind == "markPrice":
        return (
            (f"{s}@markPrice", False),
            (f"{s}@markPrice@1s", False),
            (f"{s}@markPrice@3s", False),
            ("!markPrice@arr", True),
            ("!markPrice@arr@1s", True),
        )
    if kind == "bookTicker":
        return ((f"{s}@bookTicker", False), ("!bookTicker", False))
    return ((f"{s}@{kind}", False),)


class StreamHub:
    """Fans venue events out to WebSocket clients; owns every stream connection."""

    def __init__(
        self,
        exchange: StreamSource,
        *,
        queue_size: int = 1000,
        heartbeat_s: float | None = 180.0,
        prefix: str = "",
        split_paths: bool = True,
    ) -> None:
        self.exchange = exchange
        self.queue_size = queue_size
        self.heartbeat_s = heartbeat_s
        self.prefix = prefix  # "/spot" for the Spot hub
        self.split_paths = split_paths  # USD-M's /market, /public and /private paths
        self._conns: set[Conn] = set()
        self._market: dict[str, set[Conn]] = {}
        self._user: dict[str, set[Conn]] = {}  # api key -> connections holding its listen key
        self._user_listeners: dict[str, tuple[Account, UserListener]] = {}
        self._started = False

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        if not self._started:
            self.exchange.subscribe_market(self._on_market)
            self._started = True

    async def stop(self) -> None:
        if self._started:
            self.exchange.unsubscribe_market(self._on_market)
            self._started = False
        for conn in list(self._conns):
            conn.close(WSCloseCode.GOING_AWAY, b"venue stopping")
        for account, listener in self._user_listeners.values():
            self.exchange.unsubscribe(account, listener)
        self._user_listeners.clear()
        await asyncio.sleep(0)

    @property
    def connections(self) -> int:
        return len(self._conns)

    def user_subscribers(self, api_key: str) -> int:
        """Connections currently carrying the user data of the account with ``api_key``."""
        return len(self._user.get(api_key, ()))

    def market_subscribers(self, stream: str) -> int:
        """Connections currently subscribed to the market stream ``stream``."""
        return len(self._market.get(stream, ()))

    def close_user_streams(self) -> int:
        """Close every connection carrying user data (fault injection, reset); returns how many."""
        victims = [c for c in self._conns if c.user or c.user_only]
        for conn in victims:
            conn.close(WSCloseCode.GOING_AWAY, b"user data stream closed")
        return len(victims)

    def add_routes(self, router: web.UrlDispatcher) -> None:
        p = self.prefix
        router.add_get(f"{p}/ws", self._handle_ws)
        router.add_get(f"{p}/ws/{{name}}", self._handle_ws)
        router.add_get(f"{p}/stream", self._handle_stream)
        if not self.split_paths:
            return
        for path in _MARKET_PATHS:
            router.add_get(f"/{path}/ws", self._handle_ws)
            router.add_get(f"/{path}/ws/{{name}}", self._handle_ws)
            router.add_get(f"/{path}/stream", self._handle_stream)
        router.add_get("/private/ws", self._handle_private_ws)
        router.add_get("/private/ws/{name}", self._handle_private_ws)
        router.add_get("/private/stream", self._handle_private_stream)

    # -- handlers ----------------------------------------------------------------------------

    async def _handle_ws(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info.get("name")
        return await self._serve(
            request, combined=False, user_only=False, names=[name] if name else []
        )

    async def _handle_stream(self, request: web.Request) -> web.StreamResponse:
        names = [n for n in request.query.get("streams", "").split("/") if n]
        return await self._serve(request, combined=True, user_only=False, names=names)

    async def _handle_private_ws(self, request: web.Request) -> web.StreamResponse:
        keys = _listen_keys(request.rel_url.raw_query_string)
        name = request.match_info.get("name")
        if name:
            keys.insert(0, (name, None))
        return await self._serve(request, combined=False, user_only=True, keys=keys)

    async def _handle_private_stream(self, request: web.Request) -> web.StreamResponse:
        keys = _listen_keys(request.rel_url.raw_query_string)
        return await self._serve(request, combined=True, user_only=True, keys=keys)

    async def _serve(
        self,
        request: web.Request,
        *,
        combined: bool,
        user_only: bool,
        names: list[str] | None = None,
        keys: list[tuple[str, frozenset[str] | None]] | None = None,
    ) -> web.StreamResponse:
        ws = web.WebSocketResponse(heartbeat=self.heartbeat_s, autoping=True)
        await ws.prepare(request)
        conn = Conn(ws, combined=combined, user_only=user_only, queue_size=self.queue_size)
        self._conns.add(conn)
        conn.writer = asyncio.get_running_loop().create_task(conn.write_loop())
        try:
            for name in names or ():
                self._subscribe(conn, name, None)
            for key, events in keys or ():
                self._subscribe(conn, key, events)
            async for msg in ws:
                if msg.type is WSMsgType.TEXT:
                    self._on_text(conn, msg.data)
                elif msg.type is WSMsgType.BINARY:
                    self._reply(conn, {"error": {"code": 3, "msg": "Invalid JSON"}, "id": None})
                elif msg.type is WSMsgType.ERROR:
                    break
        except Exception:  # a venue bug: log it, drop the connection, never crash the server
            log.exception("venue stream: unexpected error")
        finally:
            self._forget(conn)
            await conn.finish()
        return ws

    # -- control messages --------------------------------------------------------------------

    def _reply(self, conn: Conn, obj: Mapping[str, Any]) -> None:
        conn.offer(dumps(obj))

    def _on_text(self, conn: Conn, text: str) -> None:
        try:
            msg = loads_bounded(text, decimal=False)
        except ValueError as exc:
            log.warning("venue streams: refused a control frame: %s", exc)
            self._reply(conn, {"error": {"code": 3, "msg": f"Invalid JSON: {exc}"}, "id": None})
            return
        req_id = msg.get("id") if isinstance(msg, dict) else None
        if isinstance(req_id, bool) or not isinstance(req_id, int | str | type(None)):
            req_id = None
        try:
            result = self._control(conn, msg)
        except _BadRequest as exc:
            self._reply(conn, {"error": {"code": exc.code, "msg": exc.msg}, "id": req_id})
            return
        self._reply(conn, {"result": result, "id": req_id})

    def _control(self, conn: Conn, msg: object) -> object:
        if not isinstance(msg, dict):
            raise _BadRequest(2, "Invalid request: request must be a JSON object")
        req_id = msg.get("id")
        if req_id is not None and (
            isinstance(req_id, bool)
            or not isinstance(req_id, int | str)
            or (isinstance(req_id, int) and req_id < 0)
        ):
            raise _BadRequest(
                2, "Invalid request: request ID must be an unsigned integer or a string"
            )
        method = msg.get("method")
        params = msg.get("params", [])
        if not isinstance(method, str):
            raise _BadRequest(2, "Invalid request: missing field `method`")
        if not isinstance(params, list):
            raise _BadRequest(1, "Invalid value type: expected an array of params")
        if method in ("SUBSCRIBE", "UNSUBSCRIBE"):
            if not all(isinstance(p, str) and p for p in params):
                raise _BadRequest(1, "Invalid value type: expected stream names (strings)")
            if method == "SUBSCRIBE":
                new = [p for p in params if p not in conn.market and p not in conn.user]
                if conn.stream_count + len(new) > MAX_STREAMS_PER_CONNECTION:
                    raise _BadRequest(
                        2,
                        f"Invalid request: at most {MAX_STREAMS_PER_CONNECTION} streams per "
                        "connection",
                    )
                for name in params:
                    self._subscribe(conn, name, None)
            else:
                for name in params:
                    self._unsubscribe(conn, name)
            return None
        if method == "LIST_SUBSCRIPTIONS":
            return sorted(conn.market) + list(conn.user)
        if method in ("SET_PROPERTY", "GET_PROPERTY"):
            if not params or params[0] != "combined":
                raise _BadRequest(0, "Unknown property")
            if method == "GET_PROPERTY":
                return conn.combined
            if len(params) != 2 or not isinstance(params[1], bool):
                raise _BadRequest(1, "Invalid value type: expected Boolean")
            conn.combined = params[1]
            return None
        raise _BadRequest(2, f"Invalid request: unknown method `{method}`")

    # -- subscriptions -----------------------------------------------------------------------

    def _subscribe(self, conn: Conn, name: str, events: frozenset[str] | None) -> None:
        if name in conn.market or name in conn.user:
            return
        account = self.exchange.account_by_listen_key(name)
        if account is not None:
            conn.user[name] = (account, events)
            self._user.setdefault(account.api_key, set()).add(conn)
            self._listen(account)
            return
        if conn.user_only:
            # An unknown or expired listen key: accepted, carries nothing (as on Binance).
            log.info("venue stream: listen key %s… is not valid; nothing will be sent", name[:8])
            return
        conn.market.add(name)
        self._market.setdefault(name, set()).add(conn)

    def _unsubscribe(self, conn: Conn, name: str) -> None:
        if name in conn.market:
            conn.market.discard(name)
            subs = self._market.get(name)
            if subs is not None:
                subs.discard(conn)
                if not subs:
                    del self._market[name]
        entry = conn.user.pop(name, None)
        if entry is not None:
            self._drop_user(conn, entry[0])

    def _drop_user(self, conn: Conn, account: Account) -> None:
        if any(acct.api_key == account.api_key for acct, _ in conn.user.values()):
            return
        conns = self._user.get(account.api_key)
        if conns is not None:
            conns.discard(conn)
            if not conns:
                del self._user[account.api_key]
                held = self._user_listeners.pop(account.api_key, None)
                if held is not None:
                    self.exchange.unsubscribe(held[0], held[1])

    def _forget(self, conn: Conn) -> None:
        conn.closed = True
        self._conns.discard(conn)
        for name in list(conn.market):
            self._unsubscribe(conn, name)
        for key in list(conn.user):
            self._unsubscribe(conn, key)

    def _listen(self, account: Account) -> None:
        held = self._user_listeners.get(account.api_key)
        if held is not None and held[0] is account:
            return
        if held is not None:  # the account was replaced (venue reset): move the listener
            self.exchange.unsubscribe(held[0], held[1])
        api_key = account.api_key

        def listener(event: dict[str, Any]) -> None:
            self._on_user_event(api_key, event)

        self.exchange.subscribe(account, listener)
        self._user_listeners[api_key] = (account, listener)

    # -- fan-out -----------------------------------------------------------------------------

    def _on_market(self, kind: str, symbol: str, payload: dict[str, Any]) -> None:
        if not self._market:
            return
        for name, as_list in _market_names(kind, symbol):
            conns = self._market.get(name)
            if not conns:
                continue
            data: object = [payload] if as_list else payload
            raw: str | None = None
            wrapped: str | None = None
            for conn in list(conns):
                if conn.combined:
                    if wrapped is None:
                        wrapped = dumps({"stream": name, "data": data})
                    conn.offer(wrapped)
                else:
                    if raw is None:
                        raw = dumps(data)
                    conn.offer(raw)

    def _on_user_event(self, api_key: str, event: dict[str, Any]) -> None:
        conns = self._user.get(api_key)
        if not conns:
            return
        etype = event.get("e")
        raw: str | None = None
        for conn in list(conns):
            for key, (account, events) in list(conn.user.items()):
                if account.api_key != api_key:
                    continue
                if etype == "listenKeyExpired":
                    if event.get("listenKey") != key:
                        continue
                elif self.exchange.account_by_listen_key(key) is not account:
                    continue  # closed, expired or replaced key: Binance stops the stream
                elif events is not None and etype not in events:
                    continue
                if conn.combined:
                    conn.offer(dumps({"stream": key, "data": event}))
                else:
                    if raw is None:
                        raw = dumps(event)
                    conn.offer(raw)


def _listen_keys(raw_query: str) -> list[tuple[str, frozenset[str] | None]]:
    """``listenKey=k1&events=A/B&listenKey=k2`` → ``[(k1, {A, B}), (k2, None)]``."""
    out: list[tuple[str, frozenset[str] | None]] = []
    for name, value in parse_qsl(raw_query, keep_blank_values=True):
        if name == "listenKey" and value:
            out.append((value, None))
        elif name == "events" and out and out[-1][1] is None:
            types = frozenset(t for t in value.split("/") if t)
            out[-1] = (out[-1][0], types or None)
    return out
