"""A stub of the service contract for the status page's browser tests.

It serves the page the way the service does (``/`` and ``/static/`` from ``PAGE_DIR``, no token),
answers ``/api/v1/health``, ``/positions`` and ``/events`` with the contract's JSON behind a bearer
token, and lets a test push events through ``/api/v1/stream`` (subprotocol
``exitguard.bearer.<token>``). It runs on 127.0.0.1, port 0, in a thread, and stops itself.
"""

from __future__ import annotations

import asyncio
import copy
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn
from fastapi import FastAPI, Header, HTTPException, WebSocket, WebSocketDisconnect
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from exitguard.service.page import PAGE_DIR

TOKEN = "stub-token-7f3a"
BTC = "usdm/BTCUSDT/BOTH"
BTC_REF = f"default/{BTC}"
WAIT_S = 10.0


def ms() -> int:
    return int(time.time() * 1000)


def btc_position(mark: str = "100400.0", trail: str | None = "99396.0") -> dict[str, Any]:
    return {
        "id": BTC,
        "product": "usdm",
        "symbol": "BTCUSDT",
        "position_side": "BOTH",
        "side": "LONG",
        "size": "0.010",
        "entry_price": "100000.0",
        "mark_price": mark,
        "last_price": mark,
        "unrealized_pnl": "4.00",
        "liquidation_price": "90512.4",
        "stop_to_liquidation_pct": "8.27",
        "protection": {"state": "protected", "since_ms": ms() - 60_000, "reason": ""},
        "override": False,
        "exits": [
            {
                "role": "stop_loss",
                "client_id": "exg-sl-1",
                "type": "STOP_MARKET",
                "side": "SELL",
                "trigger_price": "98000.0",
                "price": None,
                "quantity": None,
                "close_position": True,
                "state": "OPEN",
                "distance_pct": "-2.39",
                "trailing": None,
            },
            {
                "role": "take_profit",
                "client_id": "exg-tp-1",
                "type": "TAKE_PROFIT_MARKET",
                "side": "SELL",
                "trigger_price": "103000.0",
                "price": None,
                "quantity": "0.005",
                "close_position": False,
                "state": "OPEN",
                "distance_pct": "2.59",
                "trailing": None,
            },
            {
                "role": "trailing",
                "client_id": "exg-tr-1",
                "type": "TRAILING_STOP_MARKET",
                "side": "SELL",
                "trigger_price": None,
                "price": None,
                "quantity": "0.005",
                "close_position": False,
                "state": "OPEN",
                "distance_pct": None,
                "trailing": {
                    "callback_rate": "1.0",
                    "activation_price": None,
                    "current_stop": trail,
                },
            },
        ],
    }


def eth_position() -> dict[str, Any]:
    """A SHORT under a bot's plan with nulls where the API may have nothing yet."""
    return {
        "id": "usdm/ETHUSDT/BOTH",
        "product": "usdm",
        "symbol": "ETHUSDT",
        "position_side": "BOTH",
        "side": "SHORT",
        "size": "-0.500",
        "entry_price": "3500.00",
        "mark_price": "3521.40",
        "last_price": None,
        "unrealized_pnl": "-10.70",
        "liquidation_price": None,
        "stop_to_liquidation_pct": None,
        "protection": {"state": "protected", "since_ms": ms() - 90_000, "reason": ""},
        "override": True,
        "exits": [
            {
                "role": "stop_loss",
                "client_id": "exg-sl-2",
                "type": "STOP_MARKET",
                "side": "BUY",
                "trigger_price": "3600.00",
                "price": None,
                "quantity": None,
                "close_position": True,
                "state": "OPEN",
                "distance_pct": "2.23",
                "trailing": None,
            }
        ],
    }


def health(status: str = "ok", states: dict[str, tuple[str, str]] | None = None) -> dict[str, Any]:
    states = states or {}
    rows = []
    for ref in (BTC_REF, "default/usdm/ETHUSDT/BOTH"):
        state, reason = states.get(ref, ("protected", ""))
        rows.append({"position": ref, "state": state, "since_ms": ms() - 3200, "reason": reason})
    return {
        "status": status,
        "ready": True,
        "mode": "PAPER",
        "venue": "paper (embedded)",
        "reasons": [],
        "positions": rows,
        "scopes": {"usdm": {"state": "ready", "degraded": False, "reason": "", "paused": False}},
        "pending_confirmations": 0,
        "time_ms": ms(),
    }


class Stub:
    """The contract's state, changed by the test; events reach every open stream."""

    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self.sockets: set[WebSocket] = set()
        self.reset()

    def reset(self) -> None:
        self.health = health()
        self.positions = [btc_position(), eth_position()]
        self.seq = 0
        self.events: list[dict[str, Any]] = []
        self.push(
            "manager_started",
            {"mode": "PAPER", "products": ["usdm"], "venue": "paper (embedded)"},
            send=False,
        )
        for pos in self.positions:
            for x in pos["exits"]:
                price = x["trigger_price"] or (x["trailing"] or {}).get("current_stop")
                self.push(
                    "placed",
                    {
                        "product": "usdm",
                        "client_id": x["client_id"],
                        "slot": f"default/{pos['id']}/{x['role']}",
                        "type": x["type"],
                        "side": x["side"],
                        "trigger_price": price,
                        "quantity": x["quantity"],
                        "reason": "plan",
                    },
                    send=False,
                )

    def push(
        self, kind: str, data: dict[str, Any], *, send: bool = True, time_ms: int | None = None
    ) -> dict[str, Any]:
        self.seq += 1
        event = {"seq": self.seq, "time_ms": time_ms or ms(), "kind": kind, "data": data}
        self.events.append(event)
        if send:
            assert self.loop is not None and self.sockets, "no page is listening on the stream"
            future = asyncio.run_coroutine_threadsafe(self._send(event), self.loop)
            future.result(timeout=WAIT_S)
        return event

    async def _send(self, event: dict[str, Any]) -> None:
        for ws in list(self.sockets):
            try:
                await ws.send_json(event)
            except Exception:  # a page closed by an earlier test: its socket is going away
                self.sockets.discard(ws)


def build_app(stub: Stub) -> FastAPI:
    app = FastAPI()

    def check(authorization: str | None) -> None:
        if authorization != f"Bearer {TOKEN}":
            raise HTTPException(status_code=401, detail="token refused")

    @app.get("/")
    async def index() -> FileResponse:
        return FileResponse(PAGE_DIR / "index.html")

    app.mount("/static", StaticFiles(directory=PAGE_DIR), name="static")

    @app.get("/api/v1/health")
    async def get_health(authorization: str | None = Header(default=None)) -> dict[str, Any]:
        check(authorization)
        return {**stub.health, "time_ms": ms()}

    @app.get("/api/v1/positions")
    async def get_positions(authorization: str | None = Header(default=None)) -> dict[str, Any]:
        check(authorization)
        return {"time_ms": ms(), "positions": copy.deepcopy(stub.positions)}

    @app.get("/api/v1/events")
    async def get_events(
        limit: int = 50, authorization: str | None = Header(default=None)
    ) -> dict[str, Any]:
        check(authorization)
        return {"events": stub.events[-limit:], "next": None}

    @app.websocket("/api/v1/stream")
    async def stream(ws: WebSocket) -> None:
        wanted = f"exitguard.bearer.{TOKEN}"
        if wanted not in ws.scope.get("subprotocols", []):
            await ws.close(code=1008)
            return
        await ws.accept(subprotocol=wanted)
        stub.loop = asyncio.get_running_loop()
        await ws.send_json(
            {"seq": 0, "kind": "hello", "time_ms": ms(), "data": {"health": stub.health}}
        )
        stub.sockets.add(ws)
        try:
            while True:
                await ws.receive_text()
        except WebSocketDisconnect:
            pass
        finally:
            stub.sockets.discard(ws)

    return app


@contextmanager
def serve_stub() -> Iterator[tuple[Stub, str]]:
    """The stub on 127.0.0.1 (port 0) in a thread: (stub, base URL); stopped on the way out."""
    stub = Stub()
    config = uvicorn.Config(
        build_app(stub), host="127.0.0.1", port=0, log_level="warning", lifespan="off"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="page-stub", daemon=True)
    thread.start()
    deadline = time.monotonic() + WAIT_S
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the stub server did not start"
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield stub, f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=WAIT_S)
        if thread.is_alive():
            server.force_exit = True
            thread.join(timeout=WAIT_S)
