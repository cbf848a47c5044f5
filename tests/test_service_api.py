"""The HTTP API against the embedded paper venue: the real manager, SDK adapters and uvicorn on
loopback, driven by an ordinary HTTP client (httpx) and a WebSocket client (websockets).

The bot flow of the service's design: open a position at the venue, hand exitguard its exit plan
with absolute levels, see those prices at the venue, restart the manager, see the plan still
applied (and nothing re-placed).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from exitguard.domain.enums import Product, Side
from exitguard.venue.clock import RealtimeClock
from exitguard.venue.server import Venue
from service_support import (
    SPOT_POLICY,
    TOKEN,
    Guard,
    account,
    live_usdm,
    position_amount,
    start_guard,
    until,
)

pytestmark = pytest.mark.usefixtures("async_watchdog")
D = Decimal
PROTECTION = "/api/v1/positions/usdm/BTCUSDT/protection"


@pytest.fixture
async def venue() -> AsyncIterator[Venue]:
    async with Venue(clock=RealtimeClock(), feed=None, spot_balances={"USDT": D(100_000)}) as v:
        v.set_price("BTCUSDT", last=D(50000), mark=D(50000))
        v.set_spot_price("ETHUSDT", D(2000))
        yield v


@pytest.fixture
async def guard(venue: Venue, tmp_path: Path) -> AsyncIterator[Guard]:
    g = await start_guard(venue, tmp_path / "s.db")
    try:
        yield g
    finally:
        await g.stop()


def client(g: Guard, **kw: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=g.url, headers=g.headers, timeout=10, **kw)


def stops(v: Venue) -> list[str]:
    return sorted(a["triggerPrice"] for a in live_usdm(v)[0] if a["orderType"] == "STOP_MARKET")


def limits(v: Venue) -> list[str]:
    return sorted(o["price"] for o in live_usdm(v)[1] if o["type"] == "LIMIT")


async def open_long(g: Guard, qty: str = "0.05") -> None:
    g.venue.exchange.open_position(account(g.venue), "BTCUSDT", Side.BUY, D(qty))
    await until(lambda: stops(g.venue) == ["49000"] and limits(g.venue) == ["52000"])
    await until(lambda: g.manager.protected())


async def test_every_api_request_needs_the_token(guard: Guard) -> None:
    calls = [
        ("GET", "/api/v1/health"),
        ("GET", "/api/v1/positions"),
        ("GET", "/api/v1/events"),
        ("GET", "/api/v1/openapi.json"),
        ("PUT", PROTECTION),
        ("POST", "/api/v1/scopes/usdm/pause"),
        ("POST", "/api/v1/positions/usdm/BTCUSDT/close"),
        ("GET", "/metrics"),
    ]
    async with httpx.AsyncClient(base_url=guard.url) as c:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
            for method, path in calls:
                r = await c.request(method, path, headers=headers, json={})
                assert r.status_code == 401, (method, path, headers)
                assert r.json() == {"error": "unauthorized"}  # no detail of why
        # The page carries no data: it is served without a token (it asks for one).
        assert (await c.get("/")).status_code == 200
    assert not guard.manager.scopes[Product.USDM].paused  # the refused pause changed nothing


async def test_a_bot_hands_over_absolute_levels_that_survive_a_restart(
    guard: Guard, tmp_path: Path
) -> None:
    v = guard.venue
    await open_long(guard)
    body = {
        "request_id": "bot-1",
        "stop_loss": {"price": "48000"},
        "take_profit": {"price": "53000"},
    }
    async with client(guard) as c:
        r = await c.put(PROTECTION, json=body)
    assert r.status_code == 200, r.text
    answer = r.json()
    # Answered once both new exits were accepted (the old ones are cancelled after them).
    assert answer["outcome"] in ("accepted", "done") and answer["sent"] is True
    assert [a["action"] for a in answer["actions"]] == ["ReplaceExit", "ReplaceExit"]
    assert {"48000", "53000"} <= {e["trigger_price"] or e["price"] for e in answer["exits"]}
    await until(lambda: stops(v) == ["48000"] and limits(v) == ["53000"])
    ids_before = sorted(a["clientAlgoId"] for a in live_usdm(v)[0])
    await guard.stop()

    again = await start_guard(v, tmp_path / "s.db")
    try:
        await until(lambda: again.manager.protected())
        await asyncio.sleep(0.6)  # three supervisor ticks: nothing may be re-placed
        assert stops(v) == ["48000"] and limits(v) == ["53000"]
        assert sorted(a["clientAlgoId"] for a in live_usdm(v)[0]) == ids_before
        async with client(again) as c:
            pos = (await c.get("/api/v1/positions")).json()["positions"][0]
            assert pos["override"] is True
            assert {e["plan"] for e in pos["exits"]} == {"bot"}
            # The same request again is a replay, not a second plan.
            r = await c.put(PROTECTION, json=body)
            assert r.json()["replayed"] is True
            assert stops(v) == ["48000"]
            changed = {**body, "stop_loss": {"price": "47000"}}
            r = await c.put(PROTECTION, json=changed)
            assert r.status_code == 409 and r.json()["errors"][0]["field"] == "request_id"
    finally:
        await again.stop()


async def test_a_plan_lasts_until_its_position_closes(guard: Guard) -> None:
    v = guard.venue
    await open_long(guard)
    async with client(guard) as c:
        r = await c.put(PROTECTION, json={"stop_loss": {"distance": {"percent": 1}}})
        assert r.status_code == 200, r.text
        await until(lambda: stops(v) == ["49500"] and limits(v) == [])
        v.exchange.open_position(account(v), "BTCUSDT", Side.SELL, D("0.05"))  # flat
        await until(lambda: position_amount(v) == 0 and not stops(v))
        await until(lambda: not guard.manager.store.overrides.of_kind("protection"))
        v.exchange.open_position(account(v), "BTCUSDT", Side.BUY, D("0.02"))
        # A new position gets the config's policy again, not the old position's plan.
        await until(lambda: stops(v) == ["49000"] and limits(v) == ["52000"])
        pos = (await c.get("/api/v1/positions")).json()["positions"][0]
        assert pos["override"] is False


async def test_bad_input_is_refused_naming_the_field_and_changes_nothing(guard: Guard) -> None:
    await open_long(guard)
    cases: list[tuple[Any, int, str]] = [
        ({"stop_loss": {"price": "-1"}}, 422, "stop_loss.price"),
        ({"stop_loss": {"price": "48000", "distance": {"percent": 1}}}, 422, "stop_loss"),
        ({"stop_loss": {"price": "48000"}, "colour": "red"}, 422, "colour"),
        ({"stop_loss": {"prize": "48000"}}, 422, "stop_loss.prize"),
        ({}, 422, "body"),
        ({"trailing": {"trailing_delta_bips": 100}}, 422, "trailing.trailing_delta_bips"),
        ({"trailing": {"callback_rate": 50}}, 422, "trailing.callback_rate"),
        ({"take_profit": {"distance": {"percent": 150}}}, 422, "take_profit.distance.percent"),
        ({"request_id": "has space", "stop_loss": {"price": 1}}, 422, "request_id"),
        ({"stop_loss": {"price": "50500"}}, 422, "stop_loss.price"),  # above a long's price
        ([1, 2], 422, "body"),
    ]
    async with client(guard) as c:
        for body, status, field in cases:
            r = await c.put(PROTECTION, json=body)
            assert r.status_code == status, (body, r.text)
            fields = [e["field"] for e in r.json()["errors"]]
            assert field in fields, (body, fields)
            assert "\n" not in r.json()["error"] and "Traceback" not in r.text
        r = await c.put(
            PROTECTION, content=b"{not json", headers={"Content-Type": "application/json"}
        )
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "body"
        r = await c.put(PROTECTION, content=b"x" * 20_000)
        assert r.status_code == 413
        r = await c.put(
            "/api/v1/positions/usdm/ETHUSDT/protection", json={"stop_loss": {"price": 1}}
        )
        assert r.status_code == 404 and r.json()["errors"][0]["field"] == "position"
        r = await c.put("/api/v1/positions/usdm/btc-usdt/protection", json={})
        assert r.status_code == 422
        r = await c.put("/api/v1/positions/coinm/BTCUSD/protection", json={})
        assert r.status_code == 422 and "product" in r.json()["error"]
        r = await c.get("/api/v1/events", params={"limit": 0})
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "limit"
    assert guard.manager.store.overrides.of_kind("protection") == []
    assert stops(guard.venue) == ["49000"] and limits(guard.venue) == ["52000"]


async def test_an_unmanaged_symbol_is_refused(venue: Venue, tmp_path: Path) -> None:
    g = await start_guard(venue, tmp_path / "s.db", manages=lambda p, s: s == "ETHUSDT")
    try:
        venue.exchange.open_position(account(venue), "BTCUSDT", Side.BUY, D("0.01"))
        async with client(g) as c:
            r = await c.put(PROTECTION, json={"stop_loss": {"price": "48000"}})
        assert r.status_code == 422
        assert r.json()["errors"][0] == {
            "field": "symbol",
            "rule": "BTCUSDT is not managed (manager.symbols.usdm)",
        }
    finally:
        await g.stop()


async def test_policy_override_pause_resume_and_close(guard: Guard) -> None:
    v = guard.venue
    await open_long(guard)
    async with client(guard) as c:
        r = await c.put(
            "/api/v1/policies/usdm/BTCUSDT",
            json={"stop_loss": {"distance": {"percent": 3}}, "take_profit": {"price": "55000"}},
        )
        assert r.status_code == 200, r.text
        await until(lambda: stops(v) == ["48500"] and limits(v) == ["55000"])
        r = await c.delete("/api/v1/policies/usdm/BTCUSDT")
        assert r.status_code == 200
        await until(lambda: stops(v) == ["49000"] and limits(v) == ["52000"])

        assert (await c.post("/api/v1/scopes/usdm/pause")).json()["paused"] is True
        v.exchange.open_position(account(v), "BTCUSDT", Side.BUY, D("0.05"))  # grows to 0.1
        await asyncio.sleep(1.0)
        assert limits(v) == ["52000"] and live_usdm(v)[1][0]["origQty"] == "0.05"
        health = (await c.get("/api/v1/health")).json()
        assert health["status"] == "bare" and health["scopes"]["usdm"]["paused"] is True
        assert any("paused" in reason for reason in health["reasons"])
        assert (await c.post("/api/v1/scopes/usdm/resume")).json()["paused"] is False
        await until(lambda: [o["origQty"] for o in live_usdm(v)[1]] == ["0.10"])
        await until(lambda: guard.manager.protected())

        r = await c.post("/api/v1/positions/usdm/BTCUSDT/close")
        assert r.status_code == 200 and r.json()["outcome"] == "sent", r.text
        await until(lambda: position_amount(v) == 0)
        await until(lambda: not stops(v) and not limits(v))
        r = await c.post("/api/v1/positions/usdm/BTCUSDT/close")
        assert r.status_code == 404


async def test_dry_run_plans_and_answers_but_never_sends(venue: Venue, tmp_path: Path) -> None:
    g = await start_guard(venue, tmp_path / "s.db", mode="DRY_RUN_PRIVATE")
    try:
        venue.exchange.open_position(account(venue), "BTCUSDT", Side.BUY, D("0.05"))
        await until(lambda: bool(g.manager.scopes[Product.USDM].positions))
        async with client(g) as c:
            r = await c.put(PROTECTION, json={"stop_loss": {"price": "48000"}})
            assert r.status_code == 200, r.text
            assert r.json()["sent"] is False and r.json()["mode"] == "DRY_RUN_PRIVATE"
            assert [a["action"] for a in r.json()["actions"]] == ["PlaceExit"]
            r = await c.post("/api/v1/positions/usdm/BTCUSDT/close")
            assert r.json()["outcome"] == "not sent"
            decisions = (
                await c.get("/api/v1/decisions", params={"kind": "dry_run_candidate"})
            ).json()
        assert any(
            d["details"].get("stopPrice") == "48000" or d["details"].get("triggerPrice") == "48000"
            for d in decisions["decisions"]
        )
        assert live_usdm(venue) == ([], [])
        assert position_amount(venue) == D("0.05")
    finally:
        await g.stop()


async def test_events_and_decisions_are_paged_and_filtered(guard: Guard) -> None:
    await open_long(guard)
    async with client(guard) as c:
        everything = (await c.get("/api/v1/events", params={"limit": 1000})).json()["events"]
        assert any(e["kind"] == "placed" for e in everything)
        first = (await c.get("/api/v1/events", params={"limit": 2})).json()
        assert len(first["events"]) == 2 and first["next"] == first["events"][-1]["seq"]
        rest = (
            await c.get("/api/v1/events", params={"after": first["next"], "limit": 1000})
        ).json()
        paged = [e["seq"] for e in first["events"] + rest["events"]]
        # (events keep coming: the pages hold everything seen before, in order, no gap)
        assert paged[: len(everything)] == [e["seq"] for e in everything]
        assert paged == list(range(paged[0], paged[0] + len(paged)))
        placed = (
            await c.get("/api/v1/events", params={"kind": "placed", "symbol": "BTCUSDT"})
        ).json()
        assert placed["events"] and all(e["kind"] == "placed" for e in placed["events"])
        none = (await c.get("/api/v1/events", params={"symbol": "DOGEUSDT"})).json()
        assert none["events"] == []
        later = (
            await c.get("/api/v1/events", params={"since_ms": everything[-1]["time_ms"] + 1})
        ).json()
        assert all(e["time_ms"] > everything[-1]["time_ms"] for e in later["events"])


async def test_the_stream_delivers_exit_and_health_events(guard: Guard) -> None:
    from websockets.asyncio.client import connect

    ws_url = guard.url.replace("http", "ws") + "/api/v1/stream"
    async with connect(ws_url, subprotocols=[f"exitguard.bearer.{TOKEN}"]) as ws:  # type: ignore[list-item]
        hello = json.loads(await ws.recv())
        assert hello["kind"] == "hello" and hello["data"]["health"]["status"] == "ok"
        guard.venue.exchange.open_position(account(guard.venue), "BTCUSDT", Side.BUY, D("0.05"))
        kinds: set[str] = set()
        async with asyncio.timeout(15):
            while not {"positions", "placed", "exit_status", "price"} <= kinds:
                kinds.add(json.loads(await ws.recv())["kind"])
    # A wrong token is refused before anything is sent.
    with pytest.raises(Exception):  # noqa: B017 - websockets raises its own handshake errors
        async with connect(ws_url, subprotocols=["exitguard.bearer.wrong"]) as ws:  # type: ignore[list-item]
            await ws.recv()


async def test_no_secret_reaches_a_response_or_the_stream(guard: Guard) -> None:
    from websockets.asyncio.client import connect

    v = guard.venue
    secrets = [v.api_key, v.api_secret, TOKEN]
    seen: list[str] = []
    ws_url = guard.url.replace("http", "ws") + "/api/v1/stream"
    async with connect(ws_url, additional_headers=guard.headers) as ws:
        await open_long(guard)
        async with client(guard) as c:
            await c.put(PROTECTION, json={"stop_loss": {"price": "1"}, "request_id": "x"})
            for path in (
                "health",
                "status",
                "positions",
                "exits?active=false",
                "events?limit=1000",
                "decisions",
                "openapi.json",
            ):
                seen.append((await c.get(f"/api/v1/{path}")).text)
            seen.append((await c.get("/metrics")).text)
            seen.append((await c.get("/")).text)
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.5):
                while True:
                    seen.append(str(await ws.recv()))
    text = "\n".join(seen)
    assert "placed" in text and "49000" in text
    for secret in secrets:
        assert secret not in text
    assert "signature" not in text.lower() and "listenkey" not in text.lower()


async def test_spot_holding_gets_a_bot_plan(venue: Venue, tmp_path: Path) -> None:
    g = await start_guard(venue, tmp_path / "s.db", usdm=None, spot=SPOT_POLICY)
    try:
        venue.spot.new_order(
            venue.spot_account,
            {"symbol": "ETHUSDT", "side": "BUY", "type": "MARKET", "quantity": "1"},
        )
        spot = g.manager.scopes[Product.SPOT]
        await until(lambda: bool(spot.positions), 10)
        async with client(g) as c:
            r = await c.put(
                "/api/v1/positions/spot/ETHUSDT/protection",
                json={"stop_loss": {"price": "1900"}, "take_profit": {"price": "2200"}},
            )
            assert r.status_code == 200, r.text
            exits = r.json()["exits"]
            assert exits and exits[0]["role"] == "oco"
            assert exits[0]["trigger_price"] == "1900" and exits[0]["price"] == "2200"
            bad = await c.put(
                "/api/v1/positions/spot/ETHUSDT/protection",
                json={"stop_loss": {"price": "1900", "working_type": "MARK_PRICE"}},
            )
            assert bad.status_code == 422
            assert bad.json()["errors"][0]["field"] == "stop_loss.working_type"
    finally:
        await g.stop()


async def test_a_released_plan_returns_to_the_config_policy_and_docs_are_served(
    guard: Guard,
) -> None:
    v = guard.venue
    await open_long(guard)
    async with client(guard) as c:
        r = await c.put(PROTECTION, json={"stop_loss": {"price": "47000"}})
        assert r.status_code == 200, r.text
        await until(lambda: stops(v) == ["47000"] and limits(v) == [])
        r = await c.delete(PROTECTION)
        assert r.status_code == 200, r.text
        await until(lambda: stops(v) == ["49000"] and limits(v) == ["52000"])
        assert (await c.delete(PROTECTION)).status_code == 404
        status = (await c.get("/api/v1/status")).json()
        assert status["scopes"]["usdm"]["state"] == "ready" and status["mode"] == "PAPER"
        exits = (await c.get("/api/v1/exits", params={"active": "false"})).json()["exits"]
        assert {e["state"] for e in exits} >= {"OPEN", "CANCELED"}
        spec = (await c.get("/api/v1/openapi.json")).json()
        assert "ProtectionBody" in spec["components"]["schemas"]
        put = spec["paths"]["/api/v1/positions/{product}/{symbol}/protection"]["put"]
        assert put["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
            "ProtectionBody"
        )
        docs = await c.get("/docs")
        assert docs.status_code == 200 and "openapi.json" in docs.text
        assert "cdn" not in docs.text.lower() and "http://" not in docs.text


async def test_an_answer_says_pending_when_the_venue_refuses_for_now(guard: Guard) -> None:
    """A transient refusal (429) leaves the old exit resting; the answer must not claim the new
    plan is in force, and the supervisor applies it once the venue accepts again."""
    v = guard.venue
    await open_long(guard)
    v.context.faults.status_429 = 1_000  # every request to the venue, for now
    async with client(guard) as c:
        r = await c.put(PROTECTION, json={"stop_loss": {"price": "47000"}})
    v.context.faults.status_429 = 0
    assert r.status_code == 200, r.text
    assert stops(v) == ["49000"]  # the old stop still rests: never bare
    outcome = r.json()["outcome"]
    assert outcome.startswith("pending: ") and "retrying" in outcome, outcome
    await until(lambda: stops(v) == ["47000"])
