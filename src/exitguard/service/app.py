"""The FastAPI application: the API under ``/api/v1``, the status page at ``/``, ``/metrics``.

It talks to the manager only through :class:`~exitguard.manager.control.GuardControl` (design:
service) and reads events from the :class:`~.hub.EventHub`.

Security at the edge, in one ASGI layer (:class:`Guard`) that runs before any route:
- every ``/api/v1/*`` and ``/metrics`` request needs ``Authorization: Bearer <token>`` (constant
  time); a wrong or missing token gets 401 and nothing else. The page and its static files carry
  no data and are served without a token (the page asks for it). The WebSocket stream takes the
  token as a header or, for browsers, as the subprotocol ``exitguard.bearer.<token>``;
- a body larger than ``max_body_bytes`` gets 413 before it is read;
- each request's latency goes to the metrics, labelled by route template (never the raw path).
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response

from .auth import check_subprotocols, check_token
from .hub import EventHub

if TYPE_CHECKING:
    from exitguard.manager.control import GuardControl

__all__ = ["ProblemError", "ServiceSettings", "create_app", "read_json"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

PAGE_DIR = Path(__file__).parent / "page"


@dataclass(frozen=True, slots=True)
class ServiceSettings:
    token: str
    max_body_bytes: int = 16_384


def _problem(status: int, issues: list[tuple[str, str]]) -> JSONResponse:
    """One shape for every refusal: ``error`` is the one-line summary."""
    return JSONResponse(
        {
            "error": "; ".join(f"{f}: {m}" for f, m in issues),
            "errors": [{"field": f, "rule": m} for f, m in issues],
        },
        status_code=status,
    )


class Guard:
    """Authentication, body size and request timing for every request (module docstring)."""

    def __init__(self, app: ASGIApp, settings: ServiceSettings, metrics: Any | None) -> None:
        self.app = app
        self.settings = settings
        self.metrics = metrics

    @staticmethod
    def _header(scope: Scope, name: bytes) -> str | None:
        for key, value in scope.get("headers", ()):
            if key == name:
                return str(value.decode("latin-1"))
        return None

    def _authorised(self, scope: Scope) -> bool:
        if check_token(self.settings.token, self._header(scope, b"authorization")):
            return True
        if scope["type"] == "websocket":
            offered = [
                p.strip() for p in (self._header(scope, b"sec-websocket-protocol") or "").split(",")
            ]
            return check_subprotocols(self.settings.token, offered) is not None
        return False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        protected = path.startswith("/api/") or path == "/metrics"
        if protected and not self._authorised(scope):
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 4401})
                return
            response = JSONResponse(
                {"error": "unauthorized"},
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
            await response(scope, receive, send)
            return
        if scope["type"] == "http":
            length = self._header(scope, b"content-length")
            limit = self.settings.max_body_bytes
            if length is not None and (not length.isdigit() or int(length) > limit):
                too_big = _problem(413, [("body", f"must be at most {limit} bytes")])
                await too_big(scope, receive, send)
                return
            receive = _limited(receive, limit)
        started = time.perf_counter()
        status = {"code": 0}

        async def send_timed(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_timed)
        finally:
            if self.metrics is not None and scope["type"] == "http":
                route = scope.get("route")
                template = getattr(route, "path", None) or "unmatched"
                self.metrics.observe_request(
                    template, scope["method"], status["code"], time.perf_counter() - started
                )


class BodyTooLarge(Exception):
    pass


def _limited(receive: Receive, limit: int) -> Receive:
    """A chunked body (no Content-Length) is cut off past ``limit`` as well."""
    seen = 0

    async def wrapped() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise BodyTooLarge
        return message

    return wrapped


async def read_json(request: Request) -> Any:
    """The request's JSON body; a problem response (raised) when it is not JSON."""
    try:
        raw = await request.body()
    except BodyTooLarge:
        raise ProblemError(413, [("body", "too large")]) from None
    if not raw:
        raise ProblemError(422, [("body", "required: a JSON object")])
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProblemError(422, [("body", f"must be valid JSON ({exc})")]) from None


class ProblemError(Exception):
    def __init__(self, status: int, issues: list[tuple[str, str]]) -> None:
        super().__init__(issues)
        self.status = status
        self.issues = issues


def _validation_issues(exc: RequestValidationError) -> list[tuple[str, str]]:
    out = []
    for error in exc.errors():
        loc = [str(p) for p in error.get("loc", ()) if p not in ("body", "query", "path")]
        out.append((".".join(loc) or "request", str(error.get("msg", "invalid"))))
    return out


def _describe_bodies(app: FastAPI) -> None:
    """The write bodies are validated by hand (the config's rules and messages), so FastAPI
    does not see their models: add their JSON schemas to the OpenAPI document."""
    from .bodies import ProtectionBody

    default = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = default()
            body = ProtectionBody.model_json_schema(ref_template="#/components/schemas/{model}")
            schemas = schema.setdefault("components", {}).setdefault("schemas", {})
            schemas.update(body.pop("$defs", {}))
            schemas["ProtectionBody"] = body
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def create_app(
    control: GuardControl,
    hub: EventHub,
    settings: ServiceSettings,
    *,
    metrics: Any | None = None,
) -> ASGIApp:
    from exitguard.manager.control import CommandError

    from .routes import api_router

    app = FastAPI(
        title="exitguard",
        version="1",
        summary="Keeps Binance positions protected: the guard any bot can call.",
        openapi_url="/api/v1/openapi.json",
        docs_url=None,  # the default page loads its JS from a CDN: ours works offline
        redoc_url=None,
    )
    app.state.control = control
    app.state.hub = hub
    app.state.metrics = metrics

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return _problem(422, _validation_issues(exc))

    @app.exception_handler(CommandError)
    async def _refused(_request: Request, exc: CommandError) -> JSONResponse:
        return _problem(exc.status, [(exc.field, exc.message)])

    @app.exception_handler(ProblemError)
    async def _problem_error(_request: Request, exc: ProblemError) -> JSONResponse:
        return _problem(exc.status, exc.issues)

    app.include_router(api_router())
    _describe_bodies(app)

    @app.get("/metrics", include_in_schema=False)
    async def _metrics() -> Response:
        if metrics is None:
            return Response("metrics disabled\n", media_type="text/plain", status_code=404)
        metrics.set_health(control.health())
        body, content_type = metrics.render()
        return Response(body, media_type=content_type)

    @app.get("/", include_in_schema=False)
    async def _page() -> Response:
        index = PAGE_DIR / "index.html"
        if index.exists():
            return FileResponse(index, headers={"Cache-Control": "no-store"})
        return HTMLResponse("<h1>exitguard</h1><p>status page not installed</p>")

    @app.get("/docs", include_in_schema=False)
    async def _docs() -> Response:
        return FileResponse(Path(__file__).parent / "docs.html")

    if PAGE_DIR.is_dir():
        from fastapi.staticfiles import StaticFiles

        app.mount("/static", StaticFiles(directory=PAGE_DIR), name="static")
    return Guard(app, settings, metrics)
