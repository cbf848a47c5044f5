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

Transport events (seed 001: health only, never account state), reconnects and back-pressure are
the shared loop's (:mod:`.stream_loop`). What is USD-M's own:

- RECONNECTING also follows ``listenKeyExpired``, a stream error frame, or a keep-alive answered
  ``-1125``; a new socket (and key, if needed) follows, at once after a connection that had been
  up for a while, else after the loop's bounded back-off.
- The listen key is kept alive every ``keepalive_interval_s`` while a socket is up.

The ``listenKey`` value inside a ``listenKeyExpired`` payload is replaced by ``<redacted>`` (the
key stays, so the payload's keys are still exactly the venue's).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp

from .errors import ExchangeError, Rejected
from .port import TransportKind, UserDataEvent
from .sdk_errors import REDACTED
from .stream_loop import Event, ReconnectingStream, Socket, StreamError, StreamSettings
from .usdm_rest import UsdmRestCore

__all__ = ["UsdmUserStream", "UserStreamSettings"]

log = logging.getLogger("exitguard.adapters.usdm")

_LISTEN_KEY_GONE = -1125  # "This listenKey does not exist."


@dataclass(frozen=True, slots=True)
class UserStreamSettings(StreamSettings):
    """The streams base URL, the listen-key keep-alive and the shared reconnect settings."""

    ws_streams_url: str
    keepalive_interval_s: float = 30 * 60  # Binance: a key lives 60 min after create/keep-alive

    def __post_init__(self) -> None:
        if not self.ws_streams_url.startswith(("ws://", "wss://")):
            raise ValueError("ws_streams_url must be a ws(s) URL")
        if self.keepalive_interval_s <= 0:
            raise ValueError("keepalive_interval_s must be > 0")
        self.check()


class UsdmUserStream(ReconnectingStream[str]):
    """One private stream: its socket, keep-alive and reconnects. Iterate :meth:`items` once."""

    def __init__(self, core: UsdmRestCore, settings: UserStreamSettings) -> None:
        super().__init__(settings, core.redact, name="usdm user stream", log=log)
        self._core = core
        self._settings = settings
        self._end_reason = ""  # set by the keep-alive when it ends the socket itself

    async def _listen_key(self) -> str:
        # POST /fapi/v1/listenKey returns the account's valid key (extended) or a new one.
        answer = await self._core.call(lambda: self._core.rest.start_user_data_stream())
        key = answer.get("listenKey") if isinstance(answer, Mapping) else None
        if not isinstance(key, str) or not key:
            raise StreamError("no listenKey in the venue's answer")
        self._redact.add(key)
        return key

    async def _establish(self, session: aiohttp.ClientSession) -> tuple[Socket, str, list[Event]]:
        """Key, socket and a confirmed subscription."""
        key = await self._listen_key()
        url = self._settings.ws_streams_url.rstrip("/") + "/private/stream"

        async def subscribe(ws: Socket) -> list[Event]:
            early: list[Event] = []
            request = {"method": "SUBSCRIBE", "params": [key], "id": self._next_id()}
            answer = await self._ask(
                ws, request, "the subscription", early, lambda f: _payloads(f, key)
            )
            if answer.get("error") is not None:
                raise StreamError(f"subscription refused: {answer['error']}")
            return early

        ws, early = await self._open(session, url, subscribe)
        return ws, key, early

    def _beside(self, ws: Socket) -> Coroutine[Any, Any, None]:
        self._end_reason = ""  # a new socket: no keep-alive has ended it yet
        return self._keepalive(ws)

    def _closed_reason(self, ws: Socket) -> str:
        return self._end_reason or f"socket closed by the venue (code {ws.close_code})"

    async def _on_frame(self, frame: object, token: str) -> str | None:
        if isinstance(frame, Mapping) and frame.get("error") is not None:
            await self._transport(TransportKind.EXCEPTION, f"stream error: {frame['error']}")
            return "the venue reported a stream error"
        for payload in _payloads(frame, token):
            expired = payload.get("e") == "listenKeyExpired"
            if expired and "listenKey" in payload:
                payload = {**payload, "listenKey": REDACTED}
            await self._emit(UserDataEvent(payload))
            if expired:
                return "listen key expired"
        return None

    async def _keepalive(self, ws: Socket) -> None:
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


def _payloads(frame: object, key: str) -> list[Event]:
    """The user-data events in one combined-stream frame for ``key`` (raw, keys as sent)."""
    if not isinstance(frame, Mapping) or frame.get("stream") != key:
        return []
    data = frame.get("data")
    items = data if isinstance(data, list) else [data]
    return [dict(x) for x in items if isinstance(x, Mapping)]
