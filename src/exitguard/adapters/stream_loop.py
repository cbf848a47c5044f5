"""The reconnecting user-data socket shared by the Spot and USD-M private streams.

One supervisor serves both products; each product supplies only how a connection is opened and
subscribed (:meth:`ReconnectingStream._establish`) and what a frame means
(:meth:`ReconnectingStream._on_frame`). What it guarantees to the manager:

- Transport events (health only, never account state): OPEN after the first confirmed
  subscription; RECONNECTING when a live socket ends (venue close, network, the venue ending the
  subscription or the key); RECONNECTED after a new confirmed subscription; EXCEPTION for a failed
  attempt or a socket error (detail redacted); CLOSED once, at the end (``close()``, the consumer
  stopping its iteration, ``reconnect_attempts`` consecutive failures, or an adapter bug). The
  iterator ends after CLOSED.
- A subscription is confirmed before OPEN/RECONNECTED is reported, so nothing sent after that
  report is missed; events that arrive before the confirmation are delivered right after it.
- Reconnects: at once after a connection that had been up for a while (:data:`STABLE_S`), else
  after a bounded exponential back-off with jitter, never sooner than a 429's ``Retry-After``.
- Back-pressure: the queue is bounded; a slow consumer stops the reader, the venue then drops
  the socket and the manager re-hydrates after RECONNECTED, instead of memory growing unbounded.

The socket is aiohttp's, not the SDKs' WebSocket clients (why: :mod:`.usdm_stream` and
:mod:`.spot_stream`).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import random
from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator, Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import aiohttp

from .errors import ExchangeError
from .port import StreamItem, TransportEvent, TransportKind, UserDataEvent
from .sdk_errors import Redactor

__all__ = [
    "ATTEMPT_ERRORS",
    "STABLE_S",
    "ReconnectingStream",
    "StreamError",
    "StreamSettings",
    "describe",
]

TokenT = TypeVar("TokenT")  # what identifies a live subscription (Spot: its id; USD-M: the key)
T = TypeVar("T")
Event = dict[str, Any]
Socket = aiohttp.ClientWebSocketResponse

# A connection that lived this long was healthy: the next drop reconnects at once.
STABLE_S = 10.0
_MAX_MSG_SIZE = 20 * 1024 * 1024


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamSettings:
    """The reconnect and socket settings every private stream has. Keyword-only, so each
    product's settings keep their own URL (and extras) as the leading positional fields."""

    reconnect_initial_s: float = 0.25
    reconnect_max_s: float = 30.0
    reconnect_attempts: int | None = None  # consecutive failures before CLOSED; None = no limit
    open_timeout_s: float = 10.0
    heartbeat_s: float | None = 60.0  # client pings; a silent half-open socket is noticed
    queue_size: int = 10_000

    def check(self) -> None:
        """Validate the shared fields (subclasses call it from ``__post_init__``; with
        ``slots=True`` a zero-argument ``super()`` does not work there)."""
        if not 0 < self.reconnect_initial_s <= self.reconnect_max_s:
            raise ValueError("need 0 < reconnect_initial_s <= reconnect_max_s")
        if self.reconnect_attempts is not None and self.reconnect_attempts < 1:
            raise ValueError("reconnect_attempts must be >= 1 (or None)")
        if self.open_timeout_s <= 0:
            raise ValueError("open_timeout_s must be > 0")
        if self.queue_size < 1:
            raise ValueError("queue_size must be >= 1")


class StreamError(Exception):
    """The socket misbehaved: a refused logon or subscription, a close before the answer."""


# What a connection attempt or a live socket may fail with; anything else is a bug.
ATTEMPT_ERRORS: tuple[type[BaseException], ...] = (
    ExchangeError,
    aiohttp.ClientError,
    OSError,
    TimeoutError,
    ValueError,
    StreamError,
)


def describe(exc: BaseException | None) -> str:
    """An exception as ``Type: text`` (not yet redacted)."""
    if exc is None:
        return "unknown socket error"
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class ReconnectingStream(ABC, Generic[TokenT]):
    """One private subscription and its reconnects. Iterate :meth:`items` once."""

    def __init__(
        self, settings: StreamSettings, redact: Redactor, *, name: str, log: logging.Logger
    ) -> None:
        self._base_settings = settings
        self._redact = redact
        self._name = name  # "spot user stream": the subject of every log line
        self._log = log
        self._queue: asyncio.Queue[StreamItem] = asyncio.Queue(maxsize=settings.queue_size)
        self._task: asyncio.Task[None] | None = None
        self._ids = itertools.count(1)
        self._opened = False  # OPEN was reported once: later successes are RECONNECTED
        self._finished = False
        self._closing = False

    # -- what each product supplies ----------------------------------------------------------

    @abstractmethod
    async def _establish(
        self, session: aiohttp.ClientSession
    ) -> tuple[Socket, TokenT, list[Event]]:
        """A socket with a confirmed subscription, its token, and the events seen before the
        confirmation. Raises one of :data:`ATTEMPT_ERRORS` when the attempt fails."""

    @abstractmethod
    async def _on_frame(self, frame: object, token: TokenT) -> str | None:
        """Deliver what one parsed frame holds; a reason (str) ends this connection."""

    def _open_detail(self) -> str:
        """The detail of OPEN/RECONNECTED (empty unless the product has something to say)."""
        return ""

    def _closed_reason(self, ws: Socket) -> str:
        """Why the socket ended when the venue closed it."""
        return f"socket closed by the venue (code {ws.close_code})"

    def _beside(self, ws: Socket) -> Coroutine[Any, Any, None] | None:
        """Work to run while this socket is live (USD-M: the listen-key keep-alive); it is
        cancelled before the socket is closed."""
        return None

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
        """Stop the socket (and whatever the product runs beside it); the iterator yields
        CLOSED and ends."""
        self._closing = True
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._finish(detail)

    # -- events ------------------------------------------------------------------------------

    async def _emit(self, item: StreamItem) -> None:
        await self._queue.put(item)  # back-pressure: see the module doc

    async def _transport(self, kind: TransportKind, detail: object = "") -> None:
        text = self._redact(detail) if detail else ""
        if kind is TransportKind.EXCEPTION:
            self._log.warning("%s: %s", self._name, text)
        else:
            self._log.info("%s %s%s", self._name, kind.value, f" {text}" if text else "")
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
                        ws, token, early = await self._establish(session)
                    except ATTEMPT_ERRORS as exc:
                        failures += 1
                        unstable += 1
                        retry_after = getattr(exc, "retry_after_s", None) or 0.0
                        await self._transport(TransportKind.EXCEPTION, describe(exc))
                        limit = self._base_settings.reconnect_attempts
                        if limit is not None and failures >= limit:
                            self._finish(f"gave up after {failures} failed attempts")
                            return
                        continue
                    failures = 0
                    retry_after = 0.0
                    kind = TransportKind.RECONNECTED if self._opened else TransportKind.OPEN
                    self._opened = True
                    await self._transport(kind, self._open_detail())
                    for payload in early:
                        await self._emit(UserDataEvent(payload))
                    started = loop.time()
                    reason = await self._pump(ws, token)
                    if self._closing:
                        break
                    unstable = 0 if loop.time() - started >= STABLE_S else unstable + 1
                    await self._transport(TransportKind.RECONNECTING, reason)
        except Exception as exc:  # an adapter bug: say so, end the stream, keep the app alive
            self._log.error("%s failed: %s", self._name, self._redact(describe(exc)))
            self._finish(f"stream failed: {describe(exc)}")
        finally:
            self._finish("closed by the application" if self._closing else "stream stopped")

    def _backoff(self, failures: int) -> float:
        s = self._base_settings
        delay: float = min(s.reconnect_max_s, s.reconnect_initial_s * 2.0 ** (failures - 1))
        return delay * random.uniform(0.5, 1.0)  # jitter: many clients do not retry in step

    # -- connection helpers ------------------------------------------------------------------

    async def _open(
        self,
        session: aiohttp.ClientSession,
        url: str,
        handshake: Callable[[Socket], Awaitable[T]],
    ) -> tuple[Socket, T]:
        """Connect to ``url`` and run ``handshake`` on the new socket; the socket is closed when
        the handshake fails (or is cancelled)."""
        s = self._base_settings
        ws = await asyncio.wait_for(
            session.ws_connect(url, heartbeat=s.heartbeat_s, max_msg_size=_MAX_MSG_SIZE),
            s.open_timeout_s,
        )
        try:
            return ws, await handshake(ws)
        except BaseException:
            await ws.close()
            raise

    async def _ask(
        self,
        ws: Socket,
        request: Mapping[str, Any],
        what: str,
        early: list[Event],
        events_of: Callable[[object], list[Event]],
    ) -> Mapping[str, Any]:
        """Send ``request`` (its ``id`` included) and return the frame answering it; the events
        of frames that arrive first are added to ``early`` (``events_of`` picks them out)."""
        req_id = request["id"]
        await ws.send_str(json.dumps(request))
        async with asyncio.timeout(self._base_settings.open_timeout_s):
            while True:
                msg = await ws.receive()
                if msg.type is not aiohttp.WSMsgType.TEXT:
                    raise StreamError(f"the socket closed before {what} was confirmed")
                frame = json.loads(msg.data)
                if isinstance(frame, Mapping) and frame.get("id") == req_id:
                    return frame
                early.extend(events_of(frame))

    def _next_id(self) -> int:
        return next(self._ids)

    # -- live socket -------------------------------------------------------------------------

    async def _pump(self, ws: Socket, token: TokenT) -> str:
        """Deliver frames until the socket or the subscription ends; returns why. The work
        beside the socket is stopped and the socket closed on the way out."""
        work = self._beside(ws)
        task = None if work is None else asyncio.get_running_loop().create_task(work)
        try:
            return await self._read(ws, token)
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await ws.close()

    async def _read(self, ws: Socket, token: TokenT) -> str:
        try:
            async for msg in ws:
                if msg.type is aiohttp.WSMsgType.TEXT:
                    try:
                        frame = json.loads(msg.data)
                    except ValueError:
                        await self._transport(TransportKind.EXCEPTION, "a frame that is not JSON")
                        continue
                    reason = await self._on_frame(frame, token)
                    if reason is not None:
                        return reason
                elif msg.type is aiohttp.WSMsgType.ERROR:
                    await self._transport(TransportKind.EXCEPTION, describe(ws.exception()))
                    return "socket error"
            return self._closed_reason(ws)
        except ATTEMPT_ERRORS as exc:
            await self._transport(TransportKind.EXCEPTION, describe(exc))
            return "socket error"
