"""Exit plans through the API body (PUT .../protection) and the policy codec: every element
read, 422 naming field and rule, round trip and tags."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from exitguard.domain.enums import Product, Side
from exitguard.planner.policy import (
    Distance,
    LadderLevel,
    LiquidationGuard,
    RoiStep,
    StopMove,
    TimeStop,
    TrailingPolicy,
)
from exitguard.planner.policy_codec import policy_from_dict, policy_tag, policy_to_dict
from exitguard.service.bodies import BodyError, parse_plan
from exitguard.venue.clock import RealtimeClock
from exitguard.venue.server import Venue
from service_support import Guard, account, live_usdm, start_guard, until

D = Decimal

BODY: dict[str, Any] = {
    "stop_loss": {"distance": {"percent": 2}},
    "ladder": [
        {"price": "50500", "fraction": 0.5},
        {"price": "51000", "fraction": 0.3},
        {"price": "51500", "fraction": 0.2},
    ],
    "stop_moves": [
        {"after_level": 1, "break_even_offset_percent": 0.1},
        {"after_level": 2, "to_level": 1},
    ],
    "trailing": {"callback_rate": 1, "after_level": 2},
    "time_stop": {"after_minutes": 240, "at": "2026-12-31T16:00:00Z"},
    "liquidation_guard": {"margin_percent": 1, "close_within_percent": 2},
}


def test_every_plan_element_is_read_with_absolute_level_prices() -> None:
    policy, _ = parse_plan(BODY, Product.USDM)
    assert policy.ladder[0] == LadderLevel(Distance(level=D("50500")), D("0.5"))
    assert policy.stop_moves == (
        StopMove(1, break_even_offset_percent=D("0.1")),
        StopMove(2, to_level=1),
    )
    assert policy.trailing == TrailingPolicy(callback_rate=D(1), after_level=2)
    assert policy.time_stop == TimeStop(after_ms=240 * 60_000, at_ms=1_798_732_800_000)
    assert policy.liquidation_guard == LiquidationGuard(D(1), D(2), D(1))
    assert policy.tag.startswith("p")
    roi, _ = parse_plan(
        {
            "take_profit": {"distance": {"percent": 4}},
            "roi": [{"after_minutes": 30, "distance": {"percent": 2}}],
        },
        Product.USDM,
    )
    assert roi.roi == (RoiStep(30 * 60_000, Distance(percent=D(2))),)


@pytest.mark.parametrize(
    ("patch", "product", "field", "words"),
    [
        (
            {"ladder": [{"price": "50500", "fraction": 2}]},
            Product.USDM,
            "ladder[0].fraction",
            "at most 1",
        ),
        (
            {"ladder": [{"price": "50500", "fraction": 0.5}, {"price": "50500", "fraction": 0.5}]},
            Product.USDM,
            "ladder[1].distance",
            "nearest-first",
        ),
        ({"ladder": [{"fraction": 0.5}]}, Product.USDM, "ladder[0]", "exactly one of price"),
        (
            {"stop_moves": [{"after_level": 4, "to_level": 1}]},
            Product.USDM,
            "stop_moves[0].after_level",
            "1 to 3",
        ),
        ({"time_stop": {"at": "tomorrow"}}, Product.USDM, "time_stop.at", "ISO 8601"),
        (
            {"time_stop": {"after_minutes": 5, "enabled": False}},
            Product.USDM,
            "time_stop.enabled",
            "config",
        ),
        (
            {"trailing": {"trailing_delta_bips": 100, "after_level": 1}},
            Product.SPOT,
            "trailing.after_level",
            "one resting exit",
        ),
        ({"trailing": None}, Product.SPOT, "liquidation_guard", "no liquidation price"),
    ],
)
def test_bad_plans_are_refused_naming_the_field_and_the_rule(
    patch: dict[str, Any], product: Product, field: str, words: str
) -> None:
    body = {**BODY, **patch}
    if product is Product.SPOT and "trailing" not in patch:
        body.pop("trailing")
    if patch.get("trailing") is None:
        body.pop("trailing", None)
    with pytest.raises(BodyError) as info:
        parse_plan(body, product)
    found = dict(info.value.issues)
    assert field in found, found
    assert words in found[field], found


def test_codec_round_trips_every_element_and_the_tag_follows_each_field() -> None:
    policy, _ = parse_plan(BODY, Product.USDM)
    back = policy_from_dict(policy_to_dict(policy))
    assert back == policy
    changes = [
        replace(policy, ladder=policy.ladder[:2]),
        replace(policy, stop_moves=policy.stop_moves[:1]),
        replace(policy, time_stop=TimeStop(after_ms=1)),
        replace(policy, liquidation_guard=None),
        replace(policy, trailing=replace(policy.trailing, after_level=1)),
        replace(policy, roi=(RoiStep(0, Distance(percent=D(1))),)),
    ]
    tags = {policy_tag(p) for p in changes} | {policy.tag}
    assert len(tags) == len(changes) + 1


def test_a_plan_without_the_new_fields_keeps_its_old_digest() -> None:
    # The form stored before exit plans existed: its tag must not move (no churn on upgrade).
    policy, _ = parse_plan({"stop_loss": {"price": "48000"}}, Product.USDM)
    assert set(policy_to_dict(policy)) == {"on_immediate_trigger", "stop_loss"}


@pytest.fixture
async def guard(tmp_path: Path) -> AsyncIterator[Guard]:
    async with Venue(clock=RealtimeClock(), feed=None) as v:
        v.set_price("BTCUSDT", last=D(50000), mark=D(50000))
        g = await start_guard(v, tmp_path / "s.db")
        try:
            yield g
        finally:
            await g.stop()


@pytest.mark.usefixtures("async_watchdog")
async def test_a_ladder_handed_over_through_the_api_rests_at_the_venue(guard: Guard) -> None:
    v = guard.venue
    v.exchange.open_position(account(v), "BTCUSDT", Side.BUY, D("0.010"))

    def limits() -> list[tuple[str, str]]:
        return sorted((o["price"], o["origQty"]) for o in live_usdm(v)[1] if o["type"] == "LIMIT")

    await until(lambda: limits() == [("52000", "0.010")])
    body = {
        "stop_loss": {"price": "49000"},
        "ladder": [{"price": "50500", "fraction": 0.5}, {"price": "51000", "fraction": 0.5}],
    }
    async with httpx.AsyncClient(base_url=guard.url, headers=guard.headers, timeout=10) as c:
        r = await c.put("/api/v1/positions/usdm/BTCUSDT/protection", json=body)
        assert r.status_code == 200, r.text
        await until(lambda: limits() == [("50500", "0.005"), ("51000", "0.005")])
        bad = await c.put(
            "/api/v1/positions/usdm/BTCUSDT/protection",
            json={**body, "take_profit": {"price": "52000"}},
        )
    assert bad.status_code == 422
    assert any(e["field"] == "ladder" and "not both" in e["rule"] for e in bad.json()["errors"])
