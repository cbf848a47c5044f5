"""The Spot private (user-data) stream through the WebSocket API: raw events plus transport health.

Binance retired user data over ``/ws/<listenKey>`` for Spot (binance-api.md §3.6): the current
way is a WebSocket API connection (``/ws-api/v3``) and ``userDataStream.subscribe.signature``,
which works with any key type (HMAC, RSA, Ed25519) without ``session.logon``; so one path serves
every key. The request carries ``apiKey``, ``timestamp`` (+ ``recvWindow``) and ``signature``
over those parameters sorted by name, signed like REST (``binance_common.utils.get_signature``).
Events then arrive as ``{"subscriptionId": N, "event": {...}}``; the stream yields the inner
``event`` unchanged (``e`` included).

The socket is aiohttp's, not the SDK's ``websocket_api`` client, for the reasons given in
:mod:`.usdm_stream` (typed models drop fields, no reconnect after a server close, secrets in its
INFO logs), and because the SDK signs ``userDataStream.subscribe.signature`` only through its
own session machinery.

Transport events are those of :mod:`.usdm_stream`: OPEN after the first confirmed
subscription, RECONNECTING when the socket ends or the venue sends ``eventStreamTerminated``,
RECONNECTED after a new confirmed subscription, EXCEPTION for a failed attempt (bounded
exponential back-off with jitter), CLOSED at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import random
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp

from .errors import ExchangeError
from .port import StreamItem, TransportEvent, TransportKind, UserDataEvent
from .spot_rest import SpotRestCore
from .usdm_stream import _describe

__all__ = ["SpotStreamSettings", "SpotUserStream"]

log = logging.getLogger("exitguard.adapters.spot")

_STABLE_S = 10.0  # a connection that lived this long was healthy: reconnect at once
_TERMINATED = "eventStreamTerminated"


@dataclass(frozen=True, slots=True)
class SpotStreamSettings:
    ws_api_url: str
    reconnect_initial_s: float = 0.25
    reconnect_max_s: float = 30.0
    reconnect_attempts: int | None = None  # consecutive failures before CLOSED; None = no limit
    open_timeout_s: float = 10.0
    heartbeat_s: float | None = 60.0
    queue_size: int = 10_000

    def __post_init__(self) -> None:
        if not self.ws_api_url.startswith(("ws://", "wss://")):
            raise ValueError("ws_api_url must be a ws(s) URL")
        if not 0 < self.reconnect_initial_s <= self.reconnect_max_s:
            raise ValueError("need 0 < reconnect_initial_s <= reconnect_max_s")
        if self.reconnect_attempts is not None and self.reconnect_attempts < 1:
            raise ValueError("reconnect_attempts must be >= 1 (or None)")
        if self.open_timeout_s <= 0 or self.queue_size < 1:
            raise ValueError("open_timeout_s and queue_size must be > 0")


class _StreamError(Exception):
    """The WebSocket API refused the subscription or closed before confirming it."""


_ATTEMPT_ERRORS = (
    ExchangeError,
    aiohttp.ClientError,
    OSError,
    TimeoutError,
    ValueError,
    _StreamError,
)


class SpotUserStream:
    """One Spot user-data subscription and its reconnects. Iterate :meth:`items` once."""

    def __init__(self, core: SpotRestCore, settings: SpotStreamSettings) -> None:
        self._core = core
        self._settings = settings
        self._redact = core.redact
        self._queue: asyncio.Queue[StreamItem] = asyncio.Queue(maxsize=settings.queue_size)
        self._task: asyncio.Task[None] | None = None
        self._ids = itertools.count(1)
        self._opened = False
        self._finished = False
        self._closing = False

    async def items(self) -> AsyncGenerator[StreamItem, None]:
        if self._task is None and not self._finished:
            self._task = asyncio.get_running_loop().create_task(self._supervise())
        try:
            while True:
                item = await self._queue.get()
                yield item
                if isinstance(item, TransportEvent) and item.kind is TransportKind.CLOSED:
                    return
        finally:
            await self.close()

    async def close(self, detail: str = "closed by the application") -> None:
        self._closing = True
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._finish(detail)

    async def _emit(self, item: StreamItem) -> None:
        await self._queue.put(item)  # back-pressure, as in the USD-M stream

    async def _transport(self, kind: TransportKind, detail: object = "") -> None:
        text = self._redact(detail) if detail else ""
        if kind is TransportKind.EXCEPTION:
            log.warning("spot user stream: %s", text)
        else:
            log.info("spot user stream %s %s", kind.value, text)
        await self._emit(TransportEvent(kind, text))

    def _finish(self, detail: str) -> None:
        if self._finished:
            return
        self._finished = True
        while self._queue.full():
            self._queue.get_nowait()
        self._queue.put_nowait(TransportEvent(TransportKind.CLOSED, self._redact(detail)))

    async def _supervise(self) -> None:
        loop = asyncio.get_running_loop()
        failures = 0
        unstable = 0
        retry_after = 0.0
        try:
            async with aiohttp.ClientSession() as session:
                while not self._closing:
                    if unstable:
                        await asyncio.sleep(max(self._backoff(unstable), retry_after))
                    try:
                        ws, sub_id, early = await self._establish(session)
                    except _ATTEMPT_ERRORS as exc:
                        failures += 1
                        unstable += 1
                        retry_after = getattr(exc, "retry_after_s", None) or 0.0
                        await self._transport(TransportKind.EXCEPTION, _describe(exc))
                        limit = self._settings.reconnect_attempts
                        if limit is not None and failures >= limit:
                            self._finish(f"gave up after {failures} failed attempts")
                            return
                        continue
                    failures = 0
                    retry_after = 0.0
                    kind = TransportKind.RECONNECTED if self._opened else TransportKind.OPEN
                    self._opened = True
                    await self._transport(kind)
                    for payload in early:
                        await self._emit(UserDataEvent(payload))
                    started = loop.time()
                    reason = await self._pump(ws, sub_id)
                    if self._closing:
                        break
                    unstable = 0 if loop.time() - started >= _STABLE_S else unstable + 1
                    await self._transport(TransportKind.RECONNECTING, reason)
        except Exception as exc:  # an adapter bug: end the stream, keep the app alive
            log.error("spot user stream failed: %s", self._redact(_describe(exc)))
            self._finish(f"stream failed: {_describe(exc)}")
        finally:
            self._finish("closed by the application" if self._closing else "stream stopped")

    def _backoff(self, failures: int) -> float:
        s = self._settings
        delay: float = min(s.reconnect_max_s, s.reconnect_initial_s * 2.0 ** (failures - 1))
        return delay * random.uniform(0.5, 1.0)

    def _subscribe_request(self, req_id: int) -> str:
        params: dict[str, str] = {
            "apiKey": self._core.settings.api_key,
            "timestamp": str(self._core.now_ms()),
        }
        if self._core.settings.recv_window_ms is not None:
            params["recvWindow"] = str(self._core.settings.recv_window_ms)
        payload = "&".join(f"{k}={params[k]}" for k in sorted(params))
        params["signature"] = self._core.sign(payload)
        method = "userDataStream.subscribe.signature"
        return json.dumps({"id": req_id, "method": method, "params": params})

    async def _establish(
        self, session: aiohttp.ClientSession
    ) -> tuple[aiohttp.ClientWebSocketResponse, int, list[dict[str, Any]]]:
        """Socket and a confirmed subscription; events seen before the confirmation are
        returned to be delivered after OPEN/RECONNECTED."""
        s = self._settings
        ws = await asyncio.wait_for(
            session.ws_connect(
                s.ws_api_url, heartbeat=s.heartbeat_s, max_msg_size=20 * 1024 * 1024
            ),
            s.open_timeout_s,
        )
        try:
            req_id = next(self._ids)
            await ws.send_str(self._subscribe_request(req_id))
            early: list[dict[str, Any]] = []
            async with asyncio.timeout(s.open_timeout_s):
                while True:
                    msg = await ws.receive()
                    if msg.type is not aiohttp.WSMsgType.TEXT:
                        raise _StreamError(
                            "the socket closed before the subscription was confirmed"
                        )
                    frame = json.loads(msg.data)
                    if isinstance(frame, Mapping) and frame.get("id") == req_id:
                        error = frame.get("error")
                        if error is not None or frame.get("status") != 200:
                            if isinstance(error, Mapping) and error.get("code") == -1021:
                                with contextlib.suppress(ExchangeError):
                                    await self._core.sync_time()
                            raise _StreamError(f"subscription refused: {error}")
                        result = frame.get("result")
                        sub_id = (
                            result.get("subscriptionId") if isinstance(result, Mapping) else None
                        )
                        if not isinstance(sub_id, int):
                            raise _StreamError("no subscriptionId in the answer")
                        return ws, sub_id, early
                    early.extend(_events(frame, None))
        except BaseException:
            await ws.close()
            raise

    async def _pump(self, ws: aiohttp.ClientWebSocketResponse, sub_id: int) -> str:
        """Deliver events until the socket or the subscription ends; returns why."""
        try:
            async for msg in ws:
                if msg.type is aiohttp.WSMsgType.TEXT:
                    try:
                        frame = json.loads(msg.data)
                    except ValueError:
                        await self._transport(TransportKind.EXCEPTION, "a frame that is not JSON")
                        continue
                    for event in _events(frame, sub_id):
                        await self._emit(UserDataEvent(event))
                        if event.get("e") == _TERMINATED:
                            return "the venue terminated the subscription"
                elif msg.type is aiohttp.WSMsgType.ERROR:
                    await self._transport(TransportKind.EXCEPTION, _describe(ws.exception()))
                    return "socket error"
            return f"socket closed by the venue (code {ws.close_code})"
        except _ATTEMPT_ERRORS as exc:
            await self._transport(TransportKind.EXCEPTION, _describe(exc))
            return "socket error"
        finally:
            await ws.close()


def _events(frame: object, sub_id: int | None) -> list[dict[str, Any]]:
    """The user-data events of one WS API frame (answers to requests carry an ``id``)."""
    if not isinstance(frame, Mapping) or "event" not in frame:
        return []
    if sub_id is not None and frame.get("subscriptionId") not in (sub_id, None):
        return []
    event = frame.get("event")
    return [dict(event)] if isinstance(event, Mapping) and "e" in event else []
