"""Spot user data since 2026: the WebSocket API's ``serverShutdown`` event (Spot CHANGELOG
2026-05-08; web-socket-api.md "Server Shutdown": ``{"event": {"e": "serverShutdown", "E": ...}}``,
no subscriptionId; "establish a new connection as soon as possible") and ``eR``, the expiry
reason on ``executionReport`` (CHANGELOG 2026-03; enums.md "Expiry Reasons").

Venue: a control command sends serverShutdown on every WS API connection. Adapter: it reconnects
(RECONNECTING, RECONNECTED: the manager reconciles after a reconnect) and does not pass the event
on as user data. Manager: ``eR`` is parsed and kept as the exit's reason. Servers bind
127.0.0.1 port 0; every wait is bounded."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from exitguard.adapters.port import StreamItem, TransportEvent, TransportKind, UserDataEvent
from exitguard.adapters.spot import SdkSpotReader
from exitguard.manager.events import SpotExecution, parse_private_event
from exitguard.venue.clock import RealtimeClock
from exitguard.venue.server import Venue
from test_adapter_spot import next_item
from test_adapter_usdm_support import control
from test_venue_spot_ws_api import connected


async def test_venue_sends_server_shutdown_on_every_ws_api_connection() -> None:
    async with connected() as c:
        assert (await c.request("ping"))["status"] == 200
        ws_api = c.v.context.ws_api
        assert ws_api is not None
        assert ws_api.server_shutdown() == 1
        event = await c.event()
        assert set(event) == {"event"} and event["event"]["e"] == "serverShutdown"
        assert isinstance(event["event"]["E"], int)
        assert (await c.request("ping"))["status"] == 200  # the connection stays usable


@pytest.fixture
async def venue() -> AsyncIterator[Venue]:
    async with Venue(clock=RealtimeClock(), feed=None) as v:
        yield v


async def test_adapter_reconnects_on_server_shutdown_and_keeps_it_out_of_user_data(
    venue: Venue,
) -> None:
    reader = SdkSpotReader(
        rest_url=venue.rest_url,
        ws_api_url=venue.spot_ws_api_url,
        api_key=venue.api_key,
        api_secret=venue.api_secret,
        reconnect_initial_s=0.05,
    )
    items = reader.user_stream()
    seen: list[StreamItem] = []
    try:
        first = await next_item(items)
        assert isinstance(first, TransportEvent) and first.kind is TransportKind.OPEN
        out = await control(venue, "/_venue/ws-api/server-shutdown", {})
        assert out == {"connections": 1}

        async def record() -> None:
            async for item in items:
                seen.append(item)
                if isinstance(item, TransportEvent) and item.kind is TransportKind.RECONNECTED:
                    return

        await asyncio.wait_for(record(), 8.0)
        kinds = [i.kind for i in seen if isinstance(i, TransportEvent)]
        assert kinds[0] is TransportKind.RECONNECTING and kinds[-1] is TransportKind.RECONNECTED
        assert not any(
            isinstance(i, UserDataEvent) and i.payload.get("e") == "serverShutdown" for i in seen
        )
    finally:
        await reader.close()


def _report(**extra: Any) -> dict[str, Any]:
    return {
        "e": "executionReport",
        "E": 1,
        "s": "ETHUSDT",
        "c": "exg-1",
        "S": "SELL",
        "o": "LIMIT_MAKER",
        "x": "EXPIRED",
        "X": "EXPIRED",
        "i": 7,
        "l": "0",
        "z": "0",
        "L": "0",
        "g": 3,
        **extra,
    }


def test_expiry_reason_is_parsed_when_sent() -> None:
    ev = parse_private_event(_report(eR="OCO_TRIGGER"))
    assert isinstance(ev, SpotExecution) and ev.expiry_reason == "OCO_TRIGGER"
    ev = parse_private_event(_report())
    assert isinstance(ev, SpotExecution) and ev.expiry_reason == ""
