"""End to end: the exit manager + the official SDK adapters + the paper venue on loopback.

The venue runs on a real-time clock (the SDK signs with the wall clock); prices move through
``Venue.set_price``. Every wait is bounded.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from decimal import Decimal

import pytest

from exitguard.adapters.usdm_reader import SdkUsdmReader
from exitguard.adapters.usdm_trader import SdkUsdmTrader
from exitguard.domain.enums import Product, Side
from exitguard.manager.ops import UsdmOps
from exitguard.manager.scope import ScopeConfig, ScopeState
from exitguard.manager.service import ExitManager
from exitguard.planner.model import ExitKind, ExitStatus, Role
from exitguard.planner.policy import (
    Distance,
    ImmediateTriggerAction,
    ProtectionPolicy,
    StopLossPolicy,
    TakeProfitPolicy,
    TrailingPolicy,
)
from exitguard.store.exits import ExitStore
from exitguard.venue.clock import RealtimeClock
from exitguard.venue.faults import lost_response
from exitguard.venue.server import Venue

pytestmark = pytest.mark.usefixtures("async_watchdog")
D = Decimal
POLICY = ProtectionPolicy(
    stop_loss=StopLossPolicy(Distance(percent=D(2))),
    take_profit=TakeProfitPolicy(Distance(percent=D(4))),
)


@pytest.fixture
async def venue() -> AsyncIterator[Venue]:
    async with Venue(clock=RealtimeClock(), feed=None) as v:
        v.set_price("BTCUSDT", last=D(50000), mark=D(50000))
        yield v


def make_manager(
    v: Venue, db, policy: ProtectionPolicy = POLICY, *, mutate: bool = True, **cfg
) -> ExitManager:
    reader = SdkUsdmReader(
        rest_url=v.rest_url,
        ws_streams_url=v.ws_streams_url,
        api_key=v.api_key,
        api_secret=v.api_secret,
        reconnect_initial_s=0.05,
    )
    trader = (
        SdkUsdmTrader(rest_url=v.rest_url, api_key=v.api_key, api_secret=v.api_secret)
        if mutate
        else None
    )
    return ExitManager(
        [UsdmOps(reader, trader)],
        ExitStore(db),
        ScopeConfig("paper", lambda _p, _s: policy, **cfg),
    )


def account(v: Venue):
    return v.exchange.account_by_api_key(v.api_key)


async def until(cond: Callable[[], bool], timeout_s: float = 15.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not cond():
            await asyncio.sleep(0.01)


def snapshot(v: Venue) -> dict:
    return v.exchange.snapshot()


def open_algo_ids(v: Venue) -> list[str]:
    snap = snapshot(v)
    return sorted(o["clientAlgoId"] for o in snap["algoOrders"] if o["algoStatus"] in ("NEW",))


def open_order_ids(v: Venue) -> list[str]:
    snap = snapshot(v)
    return sorted(
        o["clientOrderId"] for o in snap["orders"] if o["status"] in ("NEW", "PARTIALLY_FILLED")
    )


async def test_new_position_is_protected_and_confirmed_by_the_stream(venue, tmp_path):
    v = venue
    v.exchange.open_position(account(v), "BTCUSDT", Side.BUY, D("0.5"))
    m = make_manager(v, tmp_path / "s.db")
    await m.start()
    try:
        rows = m.store.blocking("paper", Product.USDM)
        assert {r.slot.role for r in rows} == {Role.STOP_LOSS, Role.TAKE_PROFIT}
        await until(
            lambda: {r.status for r in m.store.blocking("paper", Product.USDM)} == {ExitStatus.OPEN}
        )
        sl = next(r for r in rows if r.slot.role is Role.STOP_LOSS)
        tp = next(r for r in rows if r.slot.role is Role.TAKE_PROFIT)
        assert open_algo_ids(v) == [sl.client_id]
        assert open_order_ids(v) == [tp.client_id]
        algo = next(o for o in snapshot(v)["algoOrders"] if o["clientAlgoId"] == sl.client_id)
        assert algo["orderType"] == "STOP_MARKET" and algo["closePosition"] is True
        assert D(algo["triggerPrice"]) == D(49000)
    finally:
        await m.stop()


async def test_stop_fires_position_closes_and_the_sibling_take_profit_is_cancelled(venue, tmp_path):
    v = venue
    v.exchange.open_position(account(v), "BTCUSDT", Side.BUY, D("0.5"))
    m = make_manager(v, tmp_path / "s.db")
    await m.start()
    try:
        tp = next(
            r for r in m.store.blocking("paper", Product.USDM) if r.slot.role is Role.TAKE_PROFIT
        )
        v.set_price("BTCUSDT", last=D(48900), mark=D(48900))
        # The reduce-only take-profit ends when the position closes: the venue expires it at that
        # moment (venue/usdm/closing.py), or the manager cancels it if it gets there first.
        await until(
            lambda: m.store.get(tp.client_id).status in (ExitStatus.CANCELED, ExitStatus.EXPIRED)
        )
        assert open_order_ids(v) == [] and open_algo_ids(v) == []
        assert m.scope(Product.USDM).positions == {}
        assert m.store.blocking("paper", Product.USDM) == []
    finally:
        await m.stop()


async def test_restart_hydrates_and_places_nothing_twice(venue, tmp_path):
    v = venue
    v.exchange.open_position(account(v), "BTCUSDT", Side.BUY, D("0.5"))
    m = make_manager(v, tmp_path / "s.db")
    await m.start()
    before = (open_algo_ids(v), open_order_ids(v))
    await m.stop()
    again = make_manager(v, tmp_path / "s.db")
    await again.start()
    try:
        assert (open_algo_ids(v), open_order_ids(v)) == before
        assert again.scope(Product.USDM).stats.last_actions == []
        assert again.scope(Product.USDM).stats.hydrations == 1
    finally:
        await again.stop()


async def test_dry_run_reads_and_journals_but_sends_nothing(venue, tmp_path):
    v = venue
    v.exchange.open_position(account(v), "BTCUSDT", Side.BUY, D("0.5"))
    m = make_manager(v, tmp_path / "s.db", mutate=False)
    await m.start()
    try:
        assert open_algo_ids(v) == [] and open_order_ids(v) == []
        kinds = [d["kind"] for d in m.store.decisions()]
        assert kinds.count("dry_run_candidate") == 2
    finally:
        await m.stop()


async def test_lost_response_is_resolved_by_client_id_without_duplicate(venue, tmp_path):
    v = venue
    v.exchange.open_position(account(v), "BTCUSDT", Side.BUY, D("0.5"))
    v.context.faults.lose_response.append(
        lost_response({"path": "/fapi/v1/algoOrder", "method": "POST", "count": 1})
    )
    m = make_manager(v, tmp_path / "s.db", ProtectionPolicy(stop_loss=POLICY.stop_loss))
    await m.start()
    try:
        assert len(open_algo_ids(v)) == 1
        assert len(m.events_of("unknown_outcome")) == 1
        (row,) = m.store.blocking("paper", Product.USDM)
        assert open_algo_ids(v) == [row.client_id]
    finally:
        await m.stop()


@pytest.mark.parametrize("action", list(ImmediateTriggerAction))
async def test_would_trigger_fallbacks_over_the_wire(venue, tmp_path, action):
    v = venue
    v.exchange.open_position(account(v), "BTCUSDT", Side.BUY, D("0.5"), price=D(50000))
    v.set_price("BTCUSDT", last=D(48000), mark=D(48000))  # already past the 49000 stop
    policy = ProtectionPolicy(stop_loss=POLICY.stop_loss, on_immediate_trigger=action)
    m = make_manager(v, tmp_path / "s.db", policy)
    await m.start()
    try:
        rejected = m.store.decisions("rejected")[0]
        assert rejected["reason"].startswith("-2021")
        assert f"fallback_{action.value}" in [d["kind"] for d in m.store.decisions()]
        if action is ImmediateTriggerAction.CLOSE_NOW:
            await until(lambda: not m.scope(Product.USDM).positions)
        elif action is ImmediateTriggerAction.WIDEN:
            (algo,) = [o for o in snapshot(v)["algoOrders"] if o["algoStatus"] == "NEW"]
            assert D(algo["triggerPrice"]) == D("47999.9")  # one tick under the mark
        else:
            assert open_algo_ids(v) == [] and len(m.store.holds()) == 1
            await m.scope(Product.USDM).plan_and_submit("again")
            assert len(m.store.decisions("rejected")) == 1  # held: not sent again
    finally:
        await m.stop()


async def test_replacement_leaves_no_bare_time(venue, tmp_path):
    """An added fill resizes the take-profit: the new order is live before the old one goes."""
    v = venue
    acct = account(v)
    v.exchange.open_position(acct, "BTCUSDT", Side.BUY, D("0.5"))
    events: list[tuple[int, str, str]] = []
    v.exchange.subscribe(
        acct,
        lambda e: (
            events.append((e["E"], e["o"]["c"], e["o"]["X"]))
            if e.get("e") == "ORDER_TRADE_UPDATE"
            else None
        ),
    )
    m = make_manager(v, tmp_path / "s.db", ProtectionPolicy(take_profit=POLICY.take_profit))
    await m.start()
    try:
        (old,) = m.store.blocking("paper", Product.USDM)
        v.exchange.open_position(acct, "BTCUSDT", Side.BUY, D("0.3"))
        await until(lambda: m.store.get(old.client_id).status is ExitStatus.CANCELED)
        (new,) = m.store.blocking("paper", Product.USDM)
        new_live = min(t for t, c, x in events if c == new.client_id and x == "NEW")
        old_gone = min(t for t, c, x in events if c == old.client_id and x == "CANCELED")
        bare_ms = max(0, new_live - old_gone)
        assert bare_ms == 0 and new_live <= old_gone
        assert open_order_ids(v) == [new.client_id]
    finally:
        await m.stop()


async def test_reconnect_recovers_and_trailing_is_protected(venue, tmp_path):
    v = venue
    v.exchange.open_position(account(v), "BTCUSDT", Side.BUY, D("0.5"))
    policy = ProtectionPolicy(
        trailing=TrailingPolicy(callback_rate=D(1), activation=Distance(percent=D(1)))
    )
    m = make_manager(v, tmp_path / "s.db", policy)
    await m.start()
    scope = m.scope(Product.USDM)
    try:
        (row,) = m.store.blocking("paper", Product.USDM)
        assert row.kind is ExitKind.ALGO
        await until(lambda: m.store.get(row.client_id).status is ExitStatus.OPEN)
        v.context.hub.close_user_streams()
        await until(lambda: scope.stats.recoveries >= 1 and scope.state is ScopeState.READY)
        assert open_algo_ids(v) == [row.client_id]  # nothing duplicated by the recovery
    finally:
        await m.stop()


async def test_listen_key_expiry_recovers_without_duplicates(venue, tmp_path):
    v = venue
    v.exchange.open_position(account(v), "BTCUSDT", Side.BUY, D("0.5"))
    m = make_manager(v, tmp_path / "s.db")
    await m.start()
    scope = m.scope(Product.USDM)
    try:
        before = (open_algo_ids(v), open_order_ids(v))
        v.exchange.expire_listen_key(account(v))  # listenKeyExpired, then a new key
        await until(lambda: scope.stats.recoveries >= 1 and scope.state is ScopeState.READY)
        assert (open_algo_ids(v), open_order_ids(v)) == before
        # The stream works on the new key: a fill reaches the manager.
        v.exchange.open_position(account(v), "BTCUSDT", Side.SELL, D("0.5"))
        await until(lambda: not scope.positions and not m.store.blocking("paper", Product.USDM))
    finally:
        await m.stop()


async def test_external_close_cancels_every_sibling(venue, tmp_path):
    v = venue
    v.exchange.open_position(account(v), "BTCUSDT", Side.BUY, D("0.5"))
    policy = ProtectionPolicy(
        stop_loss=POLICY.stop_loss,
        take_profit=POLICY.take_profit,
        trailing=TrailingPolicy(callback_rate=D(1)),
    )
    m = make_manager(v, tmp_path / "s.db", policy)
    await m.start()
    try:
        assert len(m.store.blocking("paper", Product.USDM)) == 3
        v.exchange.open_position(account(v), "BTCUSDT", Side.SELL, D("0.5"))  # the user closes
        await until(lambda: not m.store.blocking("paper", Product.USDM))
        assert open_algo_ids(v) == [] and open_order_ids(v) == []
    finally:
        await m.stop()
