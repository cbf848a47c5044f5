"""The ``/api/v1`` routes: reads, writes (every one through the manager's one mutation path),
and the WebSocket event stream. Shapes: docs/service.md."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, WebSocket, WebSocketDisconnect

from exitguard.domain.enums import PositionSide, Product

from .app import ProblemError, read_json
from .auth import SUBPROTOCOL_PREFIX
from .bodies import BodyError, parse_plan

__all__ = ["api_router"]

ProductName = Literal["usdm", "spot"]
SideName = Literal["LONG", "SHORT", "BOTH"]
_SYMBOL = re.compile(r"[A-Z0-9]{2,20}")

SymbolPath = Annotated[str, Path(pattern=_SYMBOL.pattern, description="e.g. BTCUSDT")]
Limit = Annotated[int, Query(ge=1, le=1000)]
Cursor = Annotated[int, Query(ge=0, description="the `next` of the previous page")]
TimeMs = Annotated[int | None, Query(ge=0, description="UTC milliseconds")]


def _page_query(
    symbol: str | None = None,
    kind: str | None = None,
    since_ms: TimeMs = None,
    until_ms: TimeMs = None,
    after: Cursor = 0,
    limit: Limit = 100,
) -> dict[str, Any]:
    """The filters and cursor that every paged list takes (events, decisions)."""
    return {
        "symbol": symbol,
        "kind": kind,
        "since_ms": since_ms,
        "until_ms": until_ms,
        "after": after,
        "limit": limit,
    }


PageQuery = Annotated[dict[str, Any], Depends(_page_query)]


def _side(name: SideName | None) -> PositionSide | None:
    """The hedge path's side; None on the one-way path."""
    return None if name is None else PositionSide(name)


def _control(request: Request) -> Any:
    return request.app.state.control


def _plan(raw: Any, product: Product) -> tuple[Any, str]:
    try:
        return parse_plan(raw, product)
    except BodyError as exc:
        issues = [(f, m.replace("must be a table", "must be a JSON object")) for f, m in exc.issues]
        raise ProblemError(422, issues) from None


PLAN_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/ProtectionBody"}}
        },
    }
}


def api_router() -> APIRouter:
    r = APIRouter(prefix="/api/v1")

    # -- reads -------------------------------------------------------------------------------

    @r.get("/health", summary="ok / degraded / bare, with reasons (the protection signal)")
    async def health(request: Request) -> dict[str, Any]:
        result: dict[str, Any] = _control(request).health()
        return result

    @r.get("/status", summary="Mode, venue, scopes and their states")
    async def status(request: Request) -> dict[str, Any]:
        result: dict[str, Any] = _control(request).status()
        return result

    @r.get("/positions", summary="Positions with their exits, prices and protection")
    async def positions(request: Request, symbol: str | None = None) -> dict[str, Any]:
        control = _control(request)
        return {"time_ms": control.now_ms(), "positions": control.positions(symbol)}

    @r.get("/exits", summary="App-owned exits (resting; active=false adds finished ones)")
    async def exits(
        request: Request, symbol: str | None = None, active: bool = True, limit: Limit = 500
    ) -> dict[str, Any]:
        return {"exits": _control(request).exits(symbol, active, limit)}

    @r.get("/events", summary="Recent events, oldest first; page with `after`")
    async def events(request: Request, page: PageQuery) -> dict[str, Any]:
        found, cursor = request.app.state.hub.recent(**page)
        return {"events": found, "next": cursor}

    @r.get("/decisions", summary="Audit trail: dry-run candidates, refusals, fallbacks")
    async def decisions(request: Request, page: PageQuery) -> dict[str, Any]:
        found, cursor = _control(request).decisions(**page)
        return {"decisions": found, "next": cursor}

    # -- writes ------------------------------------------------------------------------------

    # Each position route exists twice: one-way mode names no side; hedge mode adds it as a
    # path segment. One handler serves both (the side is None on the one-way path).
    one_way, hedge = (
        "/positions/{product}/{symbol}",
        "/positions/{product}/{symbol}/{position_side}",
    )

    @r.put(
        one_way + "/protection",
        summary="Hand a live position's exit plan over (one-way)",
        openapi_extra=PLAN_BODY,
        operation_id="put_protection",
    )
    @r.put(
        hedge + "/protection",
        summary="Hand a live position's exit plan over (hedge side)",
        openapi_extra=PLAN_BODY,
        operation_id="put_protection_side",
    )
    async def protection(
        request: Request,
        product: ProductName,
        symbol: SymbolPath,
        position_side: SideName | None = None,
    ) -> Any:
        p = Product(product)
        policy, request_id = _plan(await read_json(request), p)
        side = _side(position_side)
        return await _control(request).set_protection(p, symbol, side, policy, request_id)

    @r.delete(
        one_way + "/protection",
        summary="Back to the config policy",
        operation_id="delete_protection",
    )
    @r.delete(
        hedge + "/protection",
        summary="Back to the config policy (hedge side)",
        operation_id="delete_protection_side",
    )
    async def clear_protection(
        request: Request,
        product: ProductName,
        symbol: SymbolPath,
        position_side: SideName | None = None,
    ) -> Any:
        side = _side(position_side)
        return await _control(request).clear_protection(Product(product), symbol, side)

    @r.post(one_way + "/close", summary="Reduce-only market close", operation_id="close")
    @r.post(
        hedge + "/close", summary="Reduce-only market close (hedge side)", operation_id="close_side"
    )
    async def close(
        request: Request,
        product: ProductName,
        symbol: SymbolPath,
        position_side: SideName | None = None,
    ) -> Any:
        side = _side(position_side)
        return await _control(request).close(Product(product), symbol, side)

    @r.put(
        "/policies/{product}/{symbol}",
        summary="Runtime policy for a symbol (persisted)",
        openapi_extra=PLAN_BODY,
    )
    async def policy(request: Request, product: ProductName, symbol: SymbolPath) -> Any:
        p = Product(product)
        plan, request_id = _plan(await read_json(request), p)
        return await _control(request).set_policy(p, symbol, plan, request_id)

    @r.delete("/policies/{product}/{symbol}", summary="Back to the config policy")
    async def clear_policy(request: Request, product: ProductName, symbol: SymbolPath) -> Any:
        return await _control(request).clear_policy(Product(product), symbol)

    @r.post("/scopes/{product}/pause", summary="No new placements; resting exits stay")
    async def pause(request: Request, product: ProductName) -> Any:
        return await _control(request).pause(Product(product))

    @r.post("/scopes/{product}/resume", summary="Protect again (plans at once)")
    async def resume(request: Request, product: ProductName) -> Any:
        return await _control(request).resume(Product(product))

    # -- the stream --------------------------------------------------------------------------

    @r.websocket("/stream")
    async def stream(ws: WebSocket) -> None:
        """Every event as JSON text, after a ``hello`` with the health snapshot."""
        offered = [p.strip() for p in ws.headers.get("sec-websocket-protocol", "").split(",")]
        chosen = next((p for p in offered if p.startswith(SUBPROTOCOL_PREFIX)), None)
        await ws.accept(subprotocol=chosen)
        hub = ws.app.state.hub
        control = ws.app.state.control
        sub = hub.subscribe()
        try:
            hello = {
                "seq": 0,
                "time_ms": control.now_ms(),
                "kind": "hello",
                "data": {"health": control.health(), "last_seq": hub.seq},
            }
            await ws.send_text(json.dumps(hello))
            receiver = asyncio.create_task(_drain_client(ws))
            try:
                while not receiver.done():
                    getter = asyncio.ensure_future(sub.queue.get())
                    await asyncio.wait({getter, receiver}, return_when=asyncio.FIRST_COMPLETED)
                    if not getter.done():  # the client left: stop, do not wait for an event
                        getter.cancel()
                        break
                    await _send(ws, sub, getter.result())
            finally:
                receiver.cancel()
                with contextlib.suppress(BaseException):
                    await receiver
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            hub.unsubscribe(sub)

    return r


async def _send(ws: WebSocket, sub: Any, event: dict[str, Any]) -> None:
    """One event, and what is already queued behind it, without waiting in between."""
    batch = [event]
    while not sub.queue.empty() and len(batch) < 256:
        batch.append(sub.queue.get_nowait())
    if sub.lagging:
        sub.lagging = False
        lagged = {"seq": 0, "kind": "lagged", "data": {"dropped": sub.dropped}}
        await ws.send_text(json.dumps(lagged))
    for item in batch:
        await ws.send_text(json.dumps(item))


async def _drain_client(ws: WebSocket) -> None:
    """Read (and ignore) what the client sends, so a close is noticed."""
    with contextlib.suppress(WebSocketDisconnect, RuntimeError):
        while True:
            await ws.receive_text()
