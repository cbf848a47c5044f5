"""The USD-M private (user-data) stream: raw venue payloads plus transport health events.

The listen key comes from the official SDK's REST client (``start_user_data_stream``, kept alive
with ``keepalive_user_data_stream``). The socket itself is aiohttp's WebSocket client, not the
SDK's ``websocket_streams`` client, because (checked with SDK 18.0.1 / binance-common 4.6.0
against the paper venue):

- ``user_data(listenKey)`` hands callbacks typed models that drop the event type ``e``; raw
  frames need the generic ``subscribe(..., response_model=None)`` path;
- after the server closes the private socket, the SDK emits ``close`` and drops the connection:
  it does not reconnect (only its 23-hour planned renewal and ``serverShutdown`` do);
- ``connect()`` logs a failed connection and returns instead of raising;
- it logs every outgoing message at INFO through the root logger with only ``apiKey`` and
  ``signature`` masked, so the listen key in ``SUBSCRIBE`` ends up in the logs;
- ``create_connection()`` opens the ``market`` and ``public`` sockets too.

What the SDK does on the wire is kept: connect to ``<ws base>/private/stream`` and send
``{"method": "SUBSCRIBE", "params": [<listenKey>], "id": n}``; frames arrive as
``{"stream": <listenKey>, "data": <event>}``. The subscription is confirmed (``{"result": null,
"id": n}``) before OPEN/RECONNECTED is reported, so nothing sent after that report is missed.

Transport events (seed 001: health only, never account state):

- OPEN: first subscription confirmed. RECONNECTED: confirmed again after a RECONNECTING.
- RECONNECTING: the socket ended (venue close, network, 24 h cut), ``listenKeyExpired`` arrived,
  or a keep-alive answered ``-1125``; a new socket (and key, if needed) follows at once after a
  connection that had been up for a while, else after a bounded exponential back-off (with
  jitter, and never sooner than a 429's ``Retry-After``).
- EXCEPTION: an attempt failed or the socket reported an error (detail redacted).
- CLOSED: ``close()`` was called, the consumer stopped iterating, or ``reconnect_attempts``
  consecutive attempts failed. The iterator ends after it.

The ``listenKey`` value inside a ``listenKeyExpired`` payload is replaced by ``<redacted>`` (the
key stays, so the payload's keys are still exactly the venue's).
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

from .errors import ExchangeError, Rejected
from .port import StreamItem, TransportEvent, TransportKind, UserDataEvent
from .usdm_errors import REDACTED
from .usdm_rest import UsdmRestCore

__all__ = ["UsdmUserStream", "UserStreamSettings"]

log = logging.getLogger("exitguard.adapters.usdm")

_LISTEN_KEY_GONE = -1125  # "This listenKey does not exist."
# A connection that lived this long was healthy: the next drop reconnects at once.
_STABLE_S = 10.0


@dataclass(frozen=True, slots=True)
class UserStreamSettings:
    ws_streams_url: str
    keepalive_interval_s: float = 30 * 60  # Binance: a key lives 60 min after create/keep-alive
    reconnect_initial_s: float = 0.25
    reconnect_max_s: float = 30.0
    reconnect_attempts: int | None = None  # consecutive failures before CLOSED; None = no limit
    open_timeout_s: float = 10.0
    heartbeat_s: float | None = 60.0  # client pings; a silent half-open socket is noticed
    queue_size: int = 10_000

    def __post_init__(self) -> None:
        if not self.ws_streams_url.startswith(("ws://", "wss://")):
            raise ValueError("ws_streams_url must be a ws(s) URL")
        if self.keepalive_interval_s <= 0 or self.open_timeout_s <= 0:
            raise ValueError("intervals must be > 0")
        if not 0 < self.reconnect_initial_s <= self.reconnect_max_s:
            raise ValueError("need 0 < reconnect_initial_s <= reconnect_max_s")
        if self.reconnect_attempts is not None and self.reconnect_attempts < 1:
            raise ValueError("reconnect_attempts must be >= 1 (or None)")
        if self.queue_size < 1:
            raise ValueError("queue_size must be >= 1")


class _StreamError(Exception):
    """The private socket misbehaved (refused subscription, closed before confirming)."""


# What a connection attempt or a live socket may fail with; anything else is a bug.
_ATTEMPT_ERRORS = (
    ExchangeError,
    aiohttp.ClientError,
    OSError,
    TimeoutError,
    ValueError,
    _StreamError,
)


class UsdmUserStream:
    """One private stream: its socket, keep-alive and reconnects. Iterate :meth:`items` once."""

    def __init__(self, core: UsdmRestCore, settings: UserStreamSettings) -> None:
        self._core = core
        self._settings = settings
        self._redact = core.redact
        self._queue: asyncio.Queue[StreamItem] = asyncio.Queue(maxsize=settings.queue_size)
        self._task: asyncio.Task[None] | None = None
        self._ids = itertools.count(1)
        self._opened = False  # OPEN was reported once: later successes are RECONNECTED
        self._finished = False
        self._closing = False
        self._end_reason = ""

    # -- consumer side -----------------------------------------------------------------------

    async def items(self) -> AsyncGenerator[StreamItem, None]:
        """Stream items until CLOSED; stopping the iteration closes the stream."""
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
        """Stop the socket and keep-alive; the iterator yields CLOSED and ends."""
        self._closing = True
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._finish(detail)

    # -- events ------------------------------------------------------------------------------

    async def _emit(self, item: StreamItem) -> None:
        # Back-pressure: a slow consumer stops the reader; the venue then drops the socket
        # and the manager re-hydrates after RECONNECTED, instead of memory growing unbounded.
        await self._queue.put(item)

    async def _transport(self, kind: TransportKind, detail: object = "") -> None:
        text = self._redact(detail) if detail else ""
        if kind is TransportKind.EXCEPTION:
            log.warning("usdm user stream: %s", text)
        else:
            log.info("usdm user stream %s %s", kind.value, text)
        await self._emit(TransportEvent(kind, text))

    def _finish(self, detail: str) -> None:
        """Queue CLOSED exactly once, making room if the consumer is behind (it is the end)."""
        if self._finished:
            return
        self._finished = True
        while self._queue.full():
            self._queue.get_nowait()
        self._queue.put_nowait(TransportEvent(TransportKind.CLOSED, self._redact(detail)))

    # -- supervisor --------------------------------------------------------------------------

    async def _supervise(self) -> None:
        loop = asyncio.get_running_loop()
        failures = 0  # consecutive failed attempts (the reconnect_attempts limit)
        unstable = 0  # drops and failures since the last connection that stayed up
        retry_after = 0.0
        try:
            async with aiohttp.ClientSession() as session:
                while not self._closing:
                    if unstable:
                        # A socket the venue keeps dropping must not become a busy loop.
                        await asyncio.sleep(max(self._backoff(unstable), retry_after))
                    try:
                        ws, key, early = await self._establish(session)
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
                    reason = await self._pump(ws, key)
                    if self._closing:
                        break
                    unstable = 0 if loop.time() - started >= _STABLE_S else unstable + 1
                    await self._transport(TransportKind.RECONNECTING, reason)
        except Exception as exc:  # an adapter bug: say so, end the stream, keep the app alive
            log.error("usdm user stream failed: %s", self._redact(_describe(exc)))
            self._finish(f"stream failed: {_describe(exc)}")
        finally:
            self._finish("closed by the application" if self._closing else "stream stopped")

    def _backoff(self, failures: int) -> float:
        s = self._settings
        delay: float = min(s.reconnect_max_s, s.reconnect_initial_s * 2.0 ** (failures - 1))
        return delay * random.uniform(0.5, 1.0)  # jitter: many clients do not retry in step

    async def _listen_key(self) -> str:
        # POST /fapi/v1/listenKey returns the account's valid key (extended) or a new one.
        answer = await self._core.call(lambda: self._core.rest.start_user_data_stream())
        key = answer.get("listenKey") if isinstance(answer, Mapping) else None
        if not isinstance(key, str) or not key:
            raise _StreamError("no listenKey in the venue's answer")
        self._redact.add(key)
        return key

    async def _establish(
        self, session: aiohttp.ClientSession
    ) -> tuple[aiohttp.ClientWebSocketResponse, str, list[dict[str, Any]]]:
        """Key, socket and a confirmed subscription; frames seen before the confirmation are
        returned to be delivered after OPEN/RECONNECTED."""
        key = await self._listen_key()
        s = self._settings
        url = s.ws_streams_url.rstrip("/") + "/private/stream"
        ws = await asyncio.wait_for(
            session.ws_connect(url, heartbeat=s.heartbeat_s, max_msg_size=20 * 1024 * 1024),
            s.open_timeout_s,
        )
        try:
            req_id = next(self._ids)
            await ws.send_str(json.dumps({"method": "SUBSCRIBE", "params": [key], "id": req_id}))
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
                        if frame.get("error") is not None:
                            raise _StreamError(f"subscription refused: {frame['error']}")
                        return ws, key, early
                    early.extend(_payloads(frame, key))
        except BaseException:
            await ws.close()
            raise

    async def _pump(self, ws: aiohttp.ClientWebSocketResponse, key: str) -> str:
        """Deliver frames until the socket ends or the key must be replaced; returns why."""
        self._end_reason = ""
        keepalive = asyncio.get_running_loop().create_task(self._keepalive(ws))
        try:
            async for msg in ws:
                if msg.type is aiohttp.WSMsgType.TEXT:
                    try:
                        frame = json.loads(msg.data)
                    except ValueError:
                        await self._transport(TransportKind.EXCEPTION, "a frame that is not JSON")
                        continue
                    if isinstance(frame, Mapping) and frame.get("error") is not None:
                        await self._transport(
                            TransportKind.EXCEPTION, f"stream error: {frame['error']}"
                        )
                        return "the venue reported a stream error"
                    for payload in _payloads(frame, key):
                        expired = payload.get("e") == "listenKeyExpired"
                        if expired and "listenKey" in payload:
                            payload = {**payload, "listenKey": REDACTED}
                        await self._emit(UserDataEvent(payload))
                        if expired:
                            return "listen key expired"
                elif msg.type is aiohttp.WSMsgType.ERROR:
                    await self._transport(TransportKind.EXCEPTION, _describe(ws.exception()))
                    return "socket error"
            return self._end_reason or f"socket closed by the venue (code {ws.close_code})"
        except _ATTEMPT_ERRORS as exc:
            await self._transport(TransportKind.EXCEPTION, _describe(exc))
            return "socket error"
        finally:
            keepalive.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keepalive
            await ws.close()

    async def _keepalive(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        """PUT /fapi/v1/listenKey every interval; ``-1125`` → replace the key (end the socket)."""
        interval = self._settings.keepalive_interval_s
        delay = interval
        while True:
            await asyncio.sleep(delay)
            try:
                await self._core.call(lambda: self._core.rest.keepalive_user_data_stream())
            except Rejected as err:
                if err.code == _LISTEN_KEY_GONE:
                    self._end_reason = "listen key no longer valid (-1125)"
                    await ws.close()
                    return
                log.warning("usdm listen key keep-alive refused: %s", err)
                delay = min(interval, 60.0)
                continue
            except ExchangeError as err:
                # The key lives 60 min; try again soon instead of declaring the stream sick.
                log.warning("usdm listen key keep-alive failed: %s", err)
                delay = min(interval, 60.0)
                continue
            delay = interval


def _payloads(frame: object, key: str) -> list[dict[str, Any]]:
    """The user-data events in one combined-stream frame for ``key`` (raw, keys as sent)."""
    if not isinstance(frame, Mapping) or frame.get("stream") != key:
        return []
    data = frame.get("data")
    items = data if isinstance(data, list) else [data]
    return [dict(x) for x in items if isinstance(x, Mapping)]


def _describe(exc: BaseException | None) -> str:
    if exc is None:
        return "unknown socket error"
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
