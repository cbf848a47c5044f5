"""The soak's checker and generator on synthetic snapshots, plus the checker against the real
venue: a duplicate exit and a reduce-only flip placed on purpose through signed REST requests
must be counted (the checker validates the manager, so it must itself be seen to catch faults)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import aiohttp
import pytest

from exitguard.soak.checker import Checker, Timeline, observe
from exitguard.soak.generator import FAULT_KINDS, generate, resolve_position, resolve_withdrawal
from exitguard.soak.harness import VenueApi
from exitguard.venue.clock import RealtimeClock
from exitguard.venue.server import Venue

D = Decimal


def snap(
    t: int,
    positions: list[tuple[str, str, str]] = (),  # type: ignore[assignment]
    algos: list[dict[str, Any]] = (),  # type: ignore[assignment]
    orders: list[dict[str, Any]] = (),  # type: ignore[assignment]
    spot: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "time": t,
        "accounts": [
            {
                "positions": [
                    {"symbol": s, "positionSide": ps, "amount": a} for s, ps, a in positions
                ]
            }
        ],
        "orders": list(orders),
        "algoOrders": list(algos),
        "spot": spot or {},
    }


def stop(cid: str, side: str = "SELL", ps: str = "BOTH", qty: str | None = None) -> dict[str, Any]:
    return {
        "clientAlgoId": cid,
        "symbol": "BTCUSDT",
        "side": side,
        "positionSide": ps,
        "orderType": "STOP_MARKET",
        "algoStatus": "NEW",
        "closePosition": qty is None,
        "quantity": qty or "",
    }


def tp(cid: str, qty: str, side: str = "SELL", ps: str = "BOTH") -> dict[str, Any]:
    return {
        "clientOrderId": cid,
        "symbol": "BTCUSDT",
        "side": side,
        "positionSide": ps,
        "type": "LIMIT",
        "status": "NEW",
        "reduceOnly": ps == "BOTH",
        "closePosition": False,
        "origQty": qty,
        "executedQty": "0",
        "updateTime": 0,
    }


LONG = [("BTCUSDT", "BOTH", "0.5")]


def test_observe_cover_bare_stale_and_duplicates():
    ok = observe(snap(1, LONG, [stop("exg-a")], [tp("exg-b", "0.5")]))
    assert ok.bare == set() and ok.stale == {} and ok.duplicates == {}
    # The take-profit alone does not protect; a user's stop (no exg- prefix) does not count.
    assert observe(snap(1, LONG, [stop("user-1")], [tp("exg-b", "0.5")])).bare == {
        ("usdm", "BTCUSDT", "BOTH")
    }
    # A quantity stop smaller than the position leaves it bare; one as large covers it.
    assert observe(snap(1, LONG, [stop("exg-a", qty="0.4")])).bare
    assert not observe(snap(1, LONG, [stop("exg-a", qty="0.5")])).bare
    # A stop on the wrong side (it would close a short) is stale and does not cover the long.
    wrong = observe(snap(1, LONG, [stop("exg-a", side="BUY")]))
    assert wrong.bare and set(wrong.stale) == {"exg-a"}
    dup = observe(snap(1, LONG, [stop("exg-a"), stop("exg-c")]))
    assert dup.duplicates == {("usdm", "BTCUSDT", "BOTH", "stop_loss"): ["exg-a", "exg-c"]}
    # Hedge mode: the positionSide decides the direction, not the side.
    hedge = observe(
        snap(1, [("BTCUSDT", "SHORT", "-0.2")], [stop("exg-s", side="BUY", ps="SHORT")])
    )
    assert not hedge.bare and not hedge.stale
    flat = observe(snap(1, [], [stop("exg-a")], [tp("exg-b", "0.5")]))
    assert set(flat.stale) == {"exg-a", "exg-b"}


def spot_state(held: str, oco_qty: str | None, status: str = "EXECUTING") -> dict[str, Any]:
    orders = []
    lists = []
    if oco_qty is not None:
        legs = [(1, "STOP_LOSS"), (2, "LIMIT_MAKER")]
        for oid, typ in legs:
            orders.append(
                {
                    "orderId": oid,
                    "orderListId": 9,
                    "clientOrderId": f"venue-{oid}",
                    "symbol": "ETHUSDT",
                    "type": typ,
                    "side": "SELL",
                    "status": "NEW",
                    "origQty": oco_qty,
                    "executedQty": "0",
                }
            )
        lists.append(
            {
                "listClientOrderId": "exg-oco",
                "listOrderStatus": status,
                "symbol": "ETHUSDT",
                "orders": [{"orderId": oid} for oid, _ in legs],
            }
        )
    return {
        "accounts": [{"balances": {"ETH": {"free": "0", "locked": held}}}],
        "orders": orders,
        "orderLists": lists,
    }


def test_observe_spot_oco_covers_the_whole_holding():
    assets = {"ETHUSDT": "ETH"}
    key = ("spot", "ETHUSDT", "SPOT")
    assert not observe(snap(1, spot=spot_state("2", "2")), assets).bare
    assert observe(snap(1, spot=spot_state("2.5", "2")), assets).bare == {key}
    assert observe(snap(1, spot=spot_state("2", "2", "ALL_DONE")), assets).bare == {key}
    # Dust below LOT_SIZE minQty is no position.
    dust = observe(snap(1, spot=spot_state("0.00001", None)), assets, {"ETHUSDT": D("0.0001")})
    assert dust.positions == {}


def test_timeline_states():
    tl = Timeline(max_startup_ms=5_000)
    assert tl.state(0) == "down"
    tl.started(100)
    assert tl.state(150) == "starting"
    tl.ready(1_000)
    assert tl.state(1_000) == "clean" and tl.clean_since(2_000) == 1_000
    tl.fault_on(2_000, "latency")
    assert tl.state(2_500) == "fault"
    tl.fault_off(3_000)
    assert tl.state(3_000) == "clean" and tl.clean_since(3_500) == 3_000
    tl.fault_on(4_000, "close_user_streams")
    tl.fault_off(4_000)  # an instant fault
    assert tl.state(4_000) == "clean" and tl.clean_since(4_001) == 4_000
    tl.stopped(5_000)
    assert tl.state(5_000) == "down"
    tl.started(6_000)  # never ready: running once the startup allowance is over
    assert tl.state(10_999) == "starting" and tl.state(11_000) == "clean"


def running_checker(**kw: Any) -> Checker:
    c = Checker("t", **kw)
    c.timeline.started(0)
    c.timeline.ready(0)
    return c


def test_bare_episode_clean_run_restarts_after_a_fault_clears():
    c = running_checker()
    c.sample(snap(1_000, LONG, [stop("exg-a")]))
    c.generator_order(1_100, "BTCUSDT", "BOTH", "SELL")  # flips to short: the stop is stale
    c.timeline.fault_on(1_200, "latency")
    short = [("BTCUSDT", "BOTH", "-0.5")]
    for t in range(1_250, 9_000, 250):
        c.sample(snap(t, short, [stop("exg-a")]))
    c.timeline.fault_off(9_000)
    for t in range(9_000, 13_000, 250):
        c.sample(snap(t, short, [stop("exg-a")]))
    c.sample(snap(13_000, short, [stop("exg-b", side="BUY")]))
    out = c.finish(13_000, None, None)
    (ep,) = out["bare"]["worst"]
    # Bare from the generator's order (1.1 s) to 13 s; accountable only after the clearing.
    assert ep["start_s"] == pytest.approx(0.1) and ep["duration_s"] == pytest.approx(11.9)
    assert ep["clean_run_s"] == pytest.approx(4.0)
    assert ep["s_by_state"]["fault"] == pytest.approx(7.75) and out["bare"]["beyond_limit"] == 0
    assert out["stale_exits"]["beyond_grace"] == 1  # exg-a outlived the 3 s grace once clean
    assert out["reduce_only_flips"]["count"] == 0  # the generator flipped it


def test_bare_beyond_the_limit_and_time_down_does_not_count():
    c = running_checker(bare_limit_ms=2_000)
    c.timeline.stopped(500)
    for t in range(1_000, 6_000, 250):  # bare while the manager is down
        c.sample(snap(t, LONG))
    out = c.finish(6_000, None, None)
    assert out["bare"]["beyond_limit"] == 0 and out["bare"]["per_position_s"]["usdm/BTCUSDT/BOTH"][
        "down"
    ] == pytest.approx(4.75)
    c = running_checker(bare_limit_ms=2_000)
    for t in range(1_000, 4_000, 250):
        c.sample(snap(t, LONG))
    out = c.finish(4_000, None, None)
    assert out["bare"]["beyond_limit"] == 1 and out["bare"]["worst"][0]["open_at_end"]


def test_duplicates_need_to_outlive_the_grace():
    c = running_checker()
    c.sample(snap(0, LONG, [stop("exg-a")]))
    c.sample(snap(250, LONG, [stop("exg-a"), stop("exg-b")]))  # a replacement: place first
    c.sample(snap(500, LONG, [stop("exg-b")]))
    for t in range(750, 5_000, 250):
        c.sample(snap(t, LONG, [stop("exg-b"), stop("exg-c")]))
    c.sample(snap(5_000, LONG, [stop("exg-c")]))
    out = c.finish(5_000, None, None)
    assert out["duplicates"]["episodes"] == 2 and out["duplicates"]["beyond_grace"] == 1
    assert out["duplicates"]["per_slot"]["usdm/BTCUSDT/BOTH/stop_loss"]["max_live"] == 2


def test_flip_without_a_generator_order_is_counted():
    c = running_checker()
    c.sample(snap(0, LONG, [stop("exg-a")], [tp("exg-t", "0.8")]))
    filled = tp("exg-t", "0.8") | {"status": "FILLED", "executedQty": "0.8", "updateTime": 200}
    c.sample(snap(250, [("BTCUSDT", "BOTH", "-0.3")], [], [filled]))
    # Opened from flat by the generator: not a flip.
    c.sample(snap(500, []))
    c.generator_order(600, "BTCUSDT", "BOTH", "BUY")
    c.sample(snap(750, LONG))
    out = c.finish(750, None, None)
    (flip,) = out["reduce_only_flips"]["events"]
    assert flip["before"] == "0.5" and flip["after"] == "-0.3"
    assert flip["fills_between"] and "exg-t LIMIT SELL" in flip["fills_between"][0]


def test_unowned_exits_at_the_end():
    c = running_checker()
    final = snap(0, LONG, [stop("exg-a"), stop("user-x")], [tp("exg-b", "0.5")])
    out = c.finish(0, final, {"exg-a"})
    assert [u.split()[0] for u in out["end"]["unowned_exits"]] == ["exg-b"]


def test_generator_is_deterministic_and_intents_resolve():
    a, b = generate(7, 30_000, kill_every_ms=5_000), generate(7, 30_000, kill_every_ms=5_000)
    assert a == b and a != generate(8, 30_000, kill_every_ms=5_000)
    assert a.count("kill") > 0 and all(
        e.data["down_ms"] >= 500 for e in a.events if e.kind == "kill"
    )
    faults = [e for e in a.events if e.kind == "fault"]
    assert len(faults) == a.count("clear")
    # Each fault is cleared after it was injected (an instant one 1 ms later), never before.
    order = [(e.kind, e.lane) for e in a.events if e.kind in ("fault", "clear")]
    for lane in ("oneway", "hedge"):
        kinds = [k for k, ln in order if ln == lane]
        assert kinds == ["fault", "clear"] * (len(kinds) // 2)
    assert {e.data["kind"] for e in faults} == set(FAULT_KINDS)
    op = {"position_side": "BOTH", "qty": "0.1", "side": "BUY", "fraction": 0.5}
    assert resolve_position(op | {"op": "close"}, D(0), False) is None
    assert resolve_position(op | {"op": "close"}, D("-0.3"), False) == ("BUY", D("0.3"), "BOTH")
    assert resolve_position(op | {"op": "partial"}, D("0.3"), False) == ("SELL", D("0.15"), "BOTH")
    assert resolve_position(op | {"op": "flip"}, D("0.3"), False) == ("SELL", D("0.4"), "BOTH")
    assert resolve_position(op | {"op": "open_or_add"}, D("-0.3"), False) == (
        "SELL",
        D("0.1"),
        "BOTH",
    )
    assert resolve_position(op | {"op": "partial"}, D(0), False) == ("BUY", D("0.1"), "BOTH")
    assert resolve_withdrawal({"fraction": 0.5}, D("0.00015")) is None
    assert resolve_withdrawal({"fraction": 0.5}, D("1")) == D("0.5")


# --- the checker against the real venue ----------------------------------------------------


@pytest.fixture
async def venue() -> AsyncIterator[Venue]:
    async with Venue(clock=RealtimeClock(), feed=None) as v:
        v.set_price("BTCUSDT", last=D(50000), mark=D(50000))
        yield v


async def test_checker_counts_a_planted_duplicate_and_a_flip_on_the_venue(venue):
    v = venue
    urls = {"rest_url": v.rest_url, "api_key": v.api_key, "api_secret": v.api_secret}
    c = running_checker(grace_ms=300)  # real time here: a short grace keeps the test quick
    async with aiohttp.ClientSession() as http:
        api = VenueApi(http, urls)
        opened = await api.control(
            "position", {"api_key": v.api_key, "symbol": "BTCUSDT", "side": "BUY", "qty": "0.5"}
        )
        c.generator_order(opened["order"]["time"], "BTCUSDT", "BOTH", "BUY")
        for cid in ("exg-planted1", "exg-planted2"):  # two stops in one slot
            await api.signed(
                "POST",
                "/fapi/v1/algoOrder",
                {
                    "algoType": "CONDITIONAL",
                    "symbol": "BTCUSDT",
                    "side": "SELL",
                    "type": "STOP_MARKET",
                    "triggerPrice": "49000",
                    "closePosition": "true",
                    "clientAlgoId": cid,
                },
            )
        for _ in range(6):  # the duplicate lives past the grace
            c.sample(await api.snapshot())
            await asyncio.sleep(0.1)
        # A take-profit that is NOT reduce-only and larger than the position: when it fills,
        # the long becomes a short with no generator order behind it.
        await api.signed(
            "POST",
            "/fapi/v1/order",
            {
                "symbol": "BTCUSDT",
                "side": "SELL",
                "type": "LIMIT",
                "timeInForce": "GTC",
                "quantity": "0.8",
                "price": "50100",
                "newClientOrderId": "exg-flipper",
            },
        )
        await api.control("price", {"symbol": "BTCUSDT", "last": "50200", "mark": "50200"})
        for _ in range(8):
            await asyncio.sleep(0.1)
            c.sample(await api.snapshot())
        final = await api.snapshot()
    out = c.finish(final["time"], final, {"exg-planted1"})
    assert out["duplicates"]["beyond_grace"] == 1
    assert out["duplicates"]["per_slot"]["usdm/BTCUSDT/BOTH/stop_loss"]["max_live"] == 2
    assert out["reduce_only_flips"]["count"] == 1
    assert any("exg-flipper" in f for f in out["reduce_only_flips"]["events"][0]["fills_between"])
    # The short is bare: the venue expired both planted closePosition stops when the position
    # flipped through zero (venue/usdm/closing.py), so none is left stale or unowned.
    assert out["end"]["bare"] == ["usdm/BTCUSDT/BOTH"]
    assert out["stale_exits"]["beyond_grace"] == 0
    assert out["end"]["unowned_exits"] == []
