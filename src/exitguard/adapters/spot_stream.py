"""The Spot private (user-data) stream through the WebSocket API: raw events plus transport health.

Binance retired user data over ``/ws/<listenKey>`` for Spot (binance-api.md §3.6): the current
way is a WebSocket API connection (``/ws-api/v3``) and one of two documented subscriptions,
chosen by :attr:`SpotStreamSettings.auth`:

- ``"signature"``: ``userDataStream.subscribe.signature``, which works with any key type (HMAC,
  RSA, Ed25519) on a connection that is not logged on;
- ``"logon"``: ``session.logon`` first (Ed25519 keys only; Binance answers an HMAC key with
  -4056), then ``userDataStream.subscribe`` without parameters on that authenticated connection;
- ``"auto"`` (the default): ``"logon"`` for an Ed25519 key, ``"signature"`` for HMAC and RSA.

``"logon"`` with a key that is not Ed25519 is refused when the stream (or the reader) is built,
not at the first connection, so a wrong setting fails at start-up. Both signed requests carry
``apiKey``, ``timestamp`` (+ ``recvWindow``) and ``signature`` over those parameters sorted by
name and URL-encoded, as the SDK's ``websocket_api_signature`` builds them (``timestamp`` a JSON
integer, ``recvWindow`` a string, ``signature`` last), signed like REST
(``binance_common.utils.get_signature``: HMAC hex, RSA or Ed25519 base64). A logon belongs to
one connection: every reconnect opens a new one, which logs on again before it subscribes.
Events then arrive as ``{"subscriptionId": N, "event": {...}}``; the stream yields the inner
``event`` unchanged (``e`` included).

The socket is aiohttp's, not the SDK's ``websocket_api`` client, for the reasons given in
:mod:`.usdm_stream` (typed models drop fields, no reconnect after a server close, secrets in its
INFO logs), and because the SDK signs ``userDataStream.subscribe.signature`` only through its
own session machinery (its re-logon after a reconnect also goes through that machinery).

Transport events, reconnects and back-pressure are the shared loop's (:mod:`.stream_loop`):
OPEN after the first confirmed subscription, RECONNECTING when the socket ends or the venue sends
``eventStreamTerminated`` or ``serverShutdown`` (not passed on as a user-data event), RECONNECTED after a new confirmed subscription, EXCEPTION for a failed
attempt (a refused ``session.logon`` or subscription included; bounded exponential back-off with
jitter), CLOSED at the end. OPEN and RECONNECTED say which way the connection was authenticated.

Secrets: the signed request is built, sent and forgotten; it is never logged, and the venue's
answer to a refused request (``{"code", "msg"}``) goes through the core's redactor before it
becomes an EXCEPTION detail or a log line.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_args
from urllib.parse import urlencode

import aiohttp

from .errors import ExchangeError
from .port import UserDataEvent
from .rest_core import KeyKind
from .spot_rest import SpotRestCore
from .stream_loop import Event, ReconnectingStream, Socket, StreamError, StreamSettings

__all__ = ["SpotStreamAuth", "SpotStreamSettings", "SpotUserStream", "resolve_auth"]

log = logging.getLogger("exitguard.adapters.spot")

_TERMINATED = "eventStreamTerminated"
# Connection-level event, no subscriptionId (Spot 2026-05-08; web-socket-api.md "Server Shutdown").
_SHUTDOWN = "serverShutdown"

SpotStreamAuth = Literal["auto", "signature", "logon"]
_AUTH_CHOICES: tuple[str, ...] = get_args(SpotStreamAuth)
_KEY_NAMES: dict[KeyKind, str] = {"hmac": "an HMAC", "rsa": "an RSA", "ed25519": "an Ed25519"}
_AUTH_DETAIL = {
    "logon": "authenticated by session.logon (Ed25519)",
    "signature": "authenticated by userDataStream.subscribe.signature",
}


def resolve_auth(
    auth: str, key_kind: KeyKind, *, field: str = "auth"
) -> Literal["signature", "logon"]:
    """The subscription a setting stands for with this key; ``field`` names the setting in the
    error (the reader's keyword is ``stream_auth``, the settings' field ``auth``)."""
    if auth not in _AUTH_CHOICES:
        raise ValueError(f"{field} must be one of {', '.join(_AUTH_CHOICES)}; got {auth!r}")
    if auth == "auto":
        return "logon" if key_kind == "ed25519" else "signature"
    if auth == "logon" and key_kind != "ed25519":
        raise ValueError(
            f"{field}='logon' needs an Ed25519 private key: Binance's session.logon accepts "
            f"Ed25519 keys only, and this is {_KEY_NAMES[key_kind]} key; use 'signature' "
            "(userDataStream.subscribe.signature, any key type) or 'auto'"
        )
    return "logon" if auth == "logon" else "signature"


@dataclass(frozen=True, slots=True)
class SpotStreamSettings(StreamSettings):
    """The WebSocket API URL, how to authenticate, and the shared reconnect settings."""

    ws_api_url: str
    auth: SpotStreamAuth = "auto"  # see the module doc; checked against the key by the stream

    def __post_init__(self) -> None:
        if not self.ws_api_url.startswith(("ws://", "wss://")):
            raise ValueError("ws_api_url must be a ws(s) URL")
        if self.auth not in _AUTH_CHOICES:
            raise ValueError(f"auth must be one of {', '.join(_AUTH_CHOICES)}; got {self.auth!r}")
        self.check()


class SpotUserStream(ReconnectingStream[int]):
    """One Spot user-data subscription and its reconnects. Iterate :meth:`items` once."""

    def __init__(self, core: SpotRestCore, settings: SpotStreamSettings) -> None:
        super().__init__(settings, core.redact, name="spot user stream", log=log)
        self._core = core
        self._settings = settings
        # Decided once, here: a "logon" setting with a non-Ed25519 key fails before connecting.
        self._auth = resolve_auth(settings.auth, core.key_kind)

    def _open_detail(self) -> str:
        return _AUTH_DETAIL[self._auth]

    def _signed_params(self) -> dict[str, object]:
        """``apiKey``, ``timestamp`` (+ ``recvWindow``) and their ``signature``, as the SDK's
        ``websocket_api_signature`` sends them (sorted, URL-encoded, signature last)."""
        settings = self._core.settings
        params: dict[str, object] = {"apiKey": settings.api_key, "timestamp": self._core.now_ms()}
        if settings.recv_window_ms is not None:
            params["recvWindow"] = str(settings.recv_window_ms)
        ordered = dict(sorted(params.items()))
        ordered["signature"] = self._core.sign(urlencode(ordered))
        return ordered

    async def _request(
        self, ws: Socket, method: str, params: Mapping[str, object], early: list[Event]
    ) -> Any:
        """Send one request and return its ``result``; events seen before the answer go to
        ``early``. A refusal raises :class:`StreamError` with the venue's code and message."""
        request = {"id": self._next_id(), "method": method, "params": dict(params)}
        frame = await self._ask(ws, request, method, early, lambda f: _events(f, None))
        error = frame.get("error")
        if error is None and frame.get("status") == 200:
            return frame.get("result")
        if isinstance(error, Mapping) and error.get("code") == -1021:
            with contextlib.suppress(ExchangeError):
                await self._core.sync_time()
        raise StreamError(f"{method} refused: {error}")

    async def _subscribe(self, ws: Socket) -> tuple[int, list[Event]]:
        early: list[Event] = []
        if self._auth == "logon":
            # The logon is per connection: this new socket is not authenticated yet.
            await self._request(ws, "session.logon", self._signed_params(), early)
            result = await self._request(ws, "userDataStream.subscribe", {}, early)
        else:
            method = "userDataStream.subscribe.signature"
            result = await self._request(ws, method, self._signed_params(), early)
        sub_id = result.get("subscriptionId") if isinstance(result, Mapping) else None
        if not isinstance(sub_id, int):
            raise StreamError("no subscriptionId in the answer")
        return sub_id, early

    async def _establish(self, session: aiohttp.ClientSession) -> tuple[Socket, int, list[Event]]:
        """Socket, logon (when configured) and a confirmed subscription."""
        ws, (sub_id, early) = await self._open(session, self._settings.ws_api_url, self._subscribe)
        return ws, sub_id, early

    async def _on_frame(self, frame: object, token: int) -> str | None:
        for event in _events(frame, token):
            if event.get("e") == _SHUTDOWN:
                # The server is about to shut down: "please disconnect and open a new
                # connection" (web-socket-api.md "Server Shutdown"). Reconnecting now reports
                # RECONNECTING/RECONNECTED, and the manager reconciles over REST after it.
                log.warning("spot user-data connection: serverShutdown received; reconnecting")
                return "the venue is shutting down this connection (serverShutdown)"
            await self._emit(UserDataEvent(event))
            if event.get("e") == _TERMINATED:
                return "the venue terminated the subscription"
        return None


def _events(frame: object, sub_id: int | None) -> list[Event]:
    """The user-data events of one WS API frame (answers to requests carry an ``id``)."""
    if not isinstance(frame, Mapping) or "event" not in frame:
        return []
    if sub_id is not None and frame.get("subscriptionId") not in (sub_id, None):
        return []
    event = frame.get("event")
    return [dict(event)] if isinstance(event, Mapping) and "e" in event else []
