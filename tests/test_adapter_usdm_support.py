"""Helpers for the USD-M adapter contract tests (no tests here).

``RecordingProxy`` sits between the adapter and the paper venue and records every REST request
exactly as it arrived (method, path, raw query string, raw body), so the tests can check what the
official SDK really put on the wire. Everything binds 127.0.0.1 port 0; every wait is bounded.
"""

from __future__ import annotations

import asyncio
import re
import time
import traceback
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import aiohttp
from aiohttp import web
from yarl import URL

from exitguard.adapters.port import StreamItem, TransportEvent, TransportKind, UserDataEvent
from exitguard.venue.server import Venue

WAIT_S = 8.0


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    raw_query: str
    raw_body: str

    @property
    def params(self) -> dict[str, str]:
        """Query string + form body as the venue reads them (decoded)."""
        out = dict(parse_qsl(self.raw_body, keep_blank_values=True))
        out.update(parse_qsl(self.raw_query, keep_blank_values=True))
        return out

    @property
    def order_params(self) -> dict[str, str]:
        """The request's own parameters (without the signing ones)."""
        return {
            k: v
            for k, v in self.params.items()
            if k not in ("timestamp", "signature", "recvWindow")
        }


@dataclass
class RecordingProxy:
    target: str
    requests: list[Recorded] = field(default_factory=list)
    _runner: web.AppRunner | None = None
    _session: aiohttp.ClientSession | None = None
    url: str = ""

    async def start(self) -> RecordingProxy:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        self._session = aiohttp.ClientSession(auto_decompress=True)
        return self

    async def stop(self) -> None:
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw_query = request.rel_url.raw_query_string
        body = await request.read()
        self.requests.append(
            Recorded(request.method, request.rel_url.raw_path, raw_query, body.decode())
        )
        target = self.target + request.rel_url.raw_path + (f"?{raw_query}" if raw_query else "")
        headers = {
            k: v
            for k, v in request.headers.items()
            if k.lower() in ("x-mbx-apikey", "content-type")
        }
        assert self._session is not None
        async with self._session.request(
            request.method, URL(target, encoded=True), data=body or None, headers=headers
        ) as resp:
            payload = await resp.read()
            keep = {
                k: v
                for k, v in resp.headers.items()
                if k.lower() in ("content-type", "retry-after") or k.lower().startswith("x-mbx")
            }
            return web.Response(status=resp.status, body=payload, headers=keep)

    def calls(self, method: str, path: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == method and r.path == path]


async def control(v: Venue, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """POST to the venue's control API (``/_venue/...``)."""
    async with (
        aiohttp.ClientSession() as s,
        s.post(f"{v.rest_url}{path}", json=body) as resp,
    ):
        out: dict[str, Any] = await resp.json()
        assert resp.status == 200, out
        return out


async def open_position(v: Venue, symbol: str, side: str, qty: str, **extra: str) -> None:
    await control(
        v,
        "/_venue/position",
        {"api_key": v.api_key, "symbol": symbol, "side": side, "qty": qty, **extra},
    )


async def set_price(
    v: Venue, symbol: str, last: str | None = None, mark: str | None = None
) -> None:
    body: dict[str, Any] = {"symbol": symbol}
    if last is not None:
        body["last"] = last
    if mark is not None:
        body["mark"] = mark
    await control(v, "/_venue/price", body)


async def faults(v: Venue, **body: Any) -> dict[str, Any]:
    return await control(v, "/_venue/faults", body)


async def wait_until(pred: Callable[[], bool], timeout: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


class StreamReader:
    """Pulls items from a ``user_stream()`` with bounded waits and keeps all of them."""

    def __init__(self, it: AsyncIterator[StreamItem]) -> None:
        self.it = it
        self.items: list[StreamItem] = []

    async def next(self, timeout: float = WAIT_S) -> StreamItem:
        item = await asyncio.wait_for(self.it.__anext__(), timeout)
        self.items.append(item)
        return item

    async def until(
        self, pred: Callable[[StreamItem], bool], timeout: float = WAIT_S
    ) -> StreamItem:
        """Read until an item matches; returns it (the ones before are kept in ``items``)."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no matching item; got {self.items!r}"[:2000])
            item = await self.next(left)
            if pred(item):
                return item

    async def transport(self, kind: TransportKind, timeout: float = WAIT_S) -> TransportEvent:
        item = await self.until(lambda i: isinstance(i, TransportEvent) and i.kind is kind, timeout)
        assert isinstance(item, TransportEvent)
        return item

    def kinds(self) -> list[TransportKind]:
        return [i.kind for i in self.items if isinstance(i, TransportEvent)]

    def events(self, etype: str | None = None) -> list[dict[str, Any]]:
        return [
            i.payload
            for i in self.items
            if isinstance(i, UserDataEvent) and (etype is None or i.payload.get("e") == etype)
        ]

    def algo_statuses(self, client_algo_id: str) -> list[str]:
        return [e["o"]["X"] for e in self.events("ALGO_UPDATE") if e["o"]["caid"] == client_algo_id]


def is_algo(client_algo_id: str, status: str) -> Callable[[StreamItem], bool]:
    def pred(item: StreamItem) -> bool:
        return (
            isinstance(item, UserDataEvent)
            and item.payload.get("e") == "ALGO_UPDATE"
            and item.payload["o"]["caid"] == client_algo_id
            and item.payload["o"]["X"] == status
        )

    return pred


def exception_texts(err: BaseException) -> str:
    """Everything an exception can show: str, repr, args, and the formatted traceback."""
    return "\n".join([str(err), repr(err), *map(str, err.args), *traceback.format_exception(err)])


def assert_no_secrets(texts: Iterable[str], secrets: Iterable[str]) -> None:
    for text in texts:
        for secret in secrets:
            assert secret not in text, f"secret leaked in: {text[:300]!r}"
        assert re.search(r"signature=(?!<redacted>)", text) is None, text[:300]
