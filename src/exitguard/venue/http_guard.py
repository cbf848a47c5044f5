"""The venue's HTTP server below the application: parser-level refusals and connection timeouts.

aiohttp answers a request it cannot parse (bad request line, bad header, over-long line, bad
chunking) itself, before any middleware runs: by default with a ``text/plain`` page and an ERROR
log line with a traceback. The venue is a Binance stand-in, so those answers are Binance-shaped
JSON (``{"code": -1000, "msg": "Malformed request: ..."}``, the same status) and the log gets one
WARNING line: a client sending garbage is not a venue bug.

Idle connections and connections that never finish their request head (slow headers) are
closed after ``idle_timeout_s``: aiohttp arms its keep-alive timer when a connection is made and
closes the connection if no complete request has arrived by then (and between requests of a
keep-alive connection). A connection busy with a request (a WebSocket included) is never cut.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest

__all__ = ["DEFAULT_IDLE_TIMEOUT_S", "make_runner"]

log = logging.getLogger(__name__)

DEFAULT_IDLE_TIMEOUT_S = 75.0


class _VenueRequestHandler(RequestHandler):
    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if status >= 500:  # an exception escaped the application: that is a venue bug
            return super().handle_error(request, status, exc, message)
        reason = " ".join(str(message or exc or "malformed request").split())[:200]
        log.warning("venue: refused a malformed HTTP request from %s: %s", request.remote, reason)
        if request.writer.output_size > 0:
            raise ConnectionError("a response was already sent; cannot send the refusal")
        body = {"code": -1000, "msg": f"Malformed request: {reason}"}
        resp = web.Response(status=status, text=json.dumps(body), content_type="application/json")
        resp.force_close()
        return resp


class _VenueServer(web.Server):
    def __call__(self) -> RequestHandler:
        kwargs: dict[str, Any] = self._kwargs
        return _VenueRequestHandler(self, loop=self._loop, **kwargs)


class _VenueRunner(web.AppRunner):
    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        # The application's server with the venue's protocol handler; nothing else differs.
        server.__class__ = _VenueServer
        return server


def make_runner(
    app: web.Application, *, idle_timeout_s: float = DEFAULT_IDLE_TIMEOUT_S, **kwargs: Any
) -> web.AppRunner:
    """An ``AppRunner`` for ``app`` whose connections time out after ``idle_timeout_s`` without
    a complete request and whose parser refusals are Binance-shaped (see the module doc)."""
    if not idle_timeout_s > 0:
        raise ValueError(f"idle_timeout_s must be > 0, got {idle_timeout_s}")
    return _VenueRunner(app, keepalive_timeout=idle_timeout_s, **kwargs)
