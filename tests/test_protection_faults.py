"""Protection that heals itself: every ordinary fault ends with the position protected.

Each test re-runs one row of the "what happens today" table of the supervisor's design (faults
through the paper venue's own fault API, the real SDK adapters, a real-time clock): the fault is
injected, a position opens or changes, the fault clears, and the position must be protected
within 10 s of the clearing, with the manager still running and nothing doubled. The scopes tick
every 0.2 s here (1 s in production) so the suite stays short; the bound asserted is the
production promise (10 s).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from exitguard.adapters.spot import SdkSpotReader, SdkSpotTrader
from exitguard.adapters.usdm_reader import SdkUsdmReader
from exitguard.adapters.usdm_trader import SdkUsdmTrader
from exitguard.domain.enums import Product, Side
from exitguard.manager.health import ProtectionState
from exitguard.manager.ops import UsdmOps
from exitguard.manager.scope import ScopeConfig, ScopeState
from exitguard.manager.service import ExitManager
from exitguard.manager.spot_ops import SpotOps, entry_key
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
from service_support import account, live_usdm, position_amount, until

pytestmark = pytest.mark.usefixtures("async_watchdog")
D = Decimal
HEALED_WITHIN_S = 10.0  # the promise: protected within 10 s of a fault clearing
USDM_POLICY = ProtectionPolicy(
    stop_loss=StopLossPolicy(Distance(percent=D(2))),
    take_profit=TakeProfitPolicy(Distance(percent=D(4))),
)
SPOT_POLICY = ProtectionPolicy(
    stop_loss=StopLossPolicy(Distance(percent=D(3))),
    take_profit=TakeProfitPolicy(Distance(percent=D(6))),
)
FAST = {"supervise_interval_s": 0.2, "retry_initial_s": 0.1, "retry_cap_s": 1.0}


@pytest.fixture
async def venue() -> AsyncIterator[Venue]:
    async with Venue(clock=RealtimeClock(), feed=None, spot_balances={"USDT": D(100_000)}) as v:
        v.set_price("BTCUSDT", last=D(50000), mark=D(50000))
        yield v


def usdm_manager(
    v: Venue, db: Path | str, policy: ProtectionPolicy = USDM_POLICY, **cfg: Any
) -> ExitManager:
    reader = SdkUsdmReader(
        rest_url=v.rest_url,
        ws_streams_url=v.ws_streams_url,
        api_key=v.api_key,
        api_secret=v.api_secret,
        reconnect_initial_s=0.05,
    )
    trader = SdkUsdmTrader(rest_url=v.rest_url, api_key=v.api_key, api_secret=v.api_secret)
    return ExitManager(
        [UsdmOps(reader, trader)],
        ExitStore(db),
        ScopeConfig("paper", lambda _p, _s: policy, **{**FAST, **cfg}),
    )


def spot_manager(v: Venue, db: Path, policy: ProtectionPolicy = SPOT_POLICY) -> ExitManager:
    store = ExitStore(db)
    reader = SdkSpotReader(
        rest_url=v.rest_url,
        ws_api_url=v.spot_ws_api_url,
        api_key=v.api_key,
        api_secret=v.api_secret,
        reconnect_initial_s=0.05,
    )
    trader = SdkSpotTrader(rest_url=v.rest_url, api_key=v.api_key, api_secret=v.api_secret)
    return ExitManager(
        [SpotOps(reader, trader, ["ETHUSDT"], store)],
        store,
        ScopeConfig("paper", lambda _p, s: policy if s == "ETHUSDT" else None, **FAST),
    )


def usdm_protected(v: Venue, size: Decimal, symbol: str = "BTCUSDT") -> bool:
    """Exactly one closePosition stop and one take-profit of the position's size are live."""
    algos, orders = live_usdm(v, symbol)
    stops = [a for a in algos if a["orderType"] == "STOP_MARKET" and a["algoStatus"] == "NEW"]
    tps = [o for o in orders if o["type"] == "LIMIT"]
    return len(stops) == 1 and len(tps) == 1 and D(tps[0]["origQty"]) == size


def health(m: ExitManager) -> dict[str, ProtectionState]:
    return {p: h.state for p, h in m.health.positions.items()}


def alive(m: ExitManager) -> bool:
    """The manager's tasks are running (not alive-but-dead)."""
    return all(not t.done() for s in m.scopes.values() for t in s._tasks)


async def test_429_on_placement_is_retried_with_backoff(venue: Venue, tmp_path: Path) -> None:
    v = venue
    m = usdm_manager(v, tmp_path / "s.db")
    await m.start()
    try:
        v.context.faults.status_429 = 2  # the next two requests: 429 -1003, Retry-After 1
        v.exchange.open_position(account(v), "BTCUSDT", Side.BUY, D("0.05"))
        await until(lambda: v.context.faults.status_429 == 0)
        # Both placements were refused transiently; nothing else comes from the venue.
        await until(lambda: usdm_protected(v, D("0.05")), HEALED_WITHIN_S)
        assert any(k == "transient" for k, _ in m.events)
        assert alive(m)
        await until(lambda: set(health(m).values()) == {ProtectionState.PROTECTED})
    finally:
        await m.stop()


async def test_clock_skew_refusal_is_retried(venue: Venue, tmp_path: Path) -> None:
    v = venue
    m = usdm_manager(v, tmp_path / "s.db")
    await m.start()
    try:
        v.context.faults.clock_skew_ms = -3000  # -1021 on every signed request
        v.exchange.open_position(account(v), "BTCUSDT", Side.BUY, D("0.05"))
        await asyncio.sleep(1.5)
        v.context.faults.clock_skew_ms = 0
        await until(lambda: usdm_protected(v, D("0.05")), HEALED_WITHIN_S)
        assert alive(m)
    finally:
        await m.stop()


async def test_slow_venue_unknown_outcomes_are_resolved_then_placed(
    venue: Venue, tmp_path: Path
) -> None:
    v = venue
    m = usdm_manager(v, tmp_path / "s.db")
    await m.start()
    try:
        v.context.faults.latency_ms = 6000  # > the 5 s REST timeout: unknown outcomes
        v.exchange.open_position(account(v), "BTCUSDT", Side.BUY, D("0.05"))
        await until(lambda: any(k == "unknown_outcome" for k, _ in m.events), 20)
        await asyncio.sleep(2)
        v.context.faults.latency_ms = 0
        await until(lambda: usdm_protected(v, D("0.05")), HEALED_WITHIN_S)
        # Nothing doubled once everything in flight has landed.
        await asyncio.sleep(1.5)
        assert usdm_protected(v, D("0.05"))
        assert alive(m)
    finally:
        await m.stop()


async def test_hydration_failing_for_long_never_kills_the_scope(
    venue: Venue, tmp_path: Path
) -> None:
    v = venue
    v.exchange.open_position(account(v), "BTCUSDT", Side.BUY, D("0.5"))
    # A tiny backoff so that far more than the old limit of 20 hydrations fail.
    m = usdm_manager(v, tmp_path / "s.db", retry_initial_s=0.02, retry_cap_s=0.05)
    await m.start()
    try:
        await until(lambda: usdm_protected(v, D("0.5")))
        v.context.faults.lose_response.append(
            lost_response({"path": "/fapi/v3/positionRisk", "count": 100_000})
        )
        v.context.hub.close_user_streams()
        scope = m.scope(Product.USDM)
        await until(lambda: scope.recovery_retry.get("recovery") is not None)
        await until(lambda: (scope.recovery_retry.get("recovery").attempts or 0) > 25)  # type: ignore[union-attr]
        assert alive(m)
        assert set(health(m).values()) == {ProtectionState.DEGRADED}
        v.context.faults.clear()
        v.exchange.open_position(account(v), "BTCUSDT", Side.SELL, D("0.2"))  # partial close
        await until(lambda: usdm_protected(v, D("0.3")), HEALED_WITHIN_S)
        assert scope.state is ScopeState.READY
    finally:
        await m.stop()


class _FullDisk:
    """A connection whose writes fail like a full disk while ``full`` is set."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db
        self.full = False

    def execute(self, sql: str, *args: Any) -> Any:
        if self.full and sql.lstrip().split()[0].upper() in ("INSERT", "UPDATE", "DELETE"):
            raise sqlite3.OperationalError("database or disk is full")
        return self._db.execute(sql, *args)

    def executemany(self, sql: str, *args: Any) -> Any:
        if self.full:
            raise sqlite3.OperationalError("database or disk is full")
        return self._db.executemany(sql, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._db, name)


async def test_full_disk_degrades_loudly_and_heals(venue: Venue, tmp_path: Path) -> None:
    v = venue
    m = usdm_manager(v, tmp_path / "s.db")
    disk = _FullDisk(m.store._db)
    m.store._db = disk  # type: ignore[assignment]
    await m.start()
    try:
        disk.full = True
        v.exchange.open_position(account(v), "BTCUSDT", Side.BUY, D("0.05"))
        await until(lambda: any(k == "store_write_failed" for k, _ in m.events))
        await asyncio.sleep(0.5)
        # Nothing was sent without its intent row; the scope says it is degraded.
        assert live_usdm(v) == ([], [])
        assert m.health.scope_reason("paper/usdm") is not None
        assert alive(m)
        disk.full = False
        await until(lambda: usdm_protected(v, D("0.05")), HEALED_WITHIN_S)
        await until(lambda: m.health.scope_reason("paper/usdm") is None)
    finally:
        await m.stop()


async def test_lost_store_adopts_the_open_exits_and_places_nothing_twice(
    venue: Venue, tmp_path: Path
) -> None:
    v = venue
    v.exchange.open_position(account(v), "BTCUSDT", Side.BUY, D("0.5"))
    first = usdm_manager(v, tmp_path / "a.db")
    await first.start()
    await until(lambda: usdm_protected(v, D("0.5")))
    await first.stop()  # its exits stay at the venue; its store is then "lost"
    v.exchange.open_position(account(v), "BTCUSDT", Side.SELL, D("0.2"))  # meanwhile: 0.3
    second = usdm_manager(v, tmp_path / "fresh.db")
    await second.start()
    try:
        await until(lambda: usdm_protected(v, D("0.3")), HEALED_WITHIN_S)
        await asyncio.sleep(0.5)
        algos, orders = live_usdm(v)
        assert len(algos) == 1 and len(orders) == 1  # adopted, not doubled
        assert any(k == "adopted_unowned" for k, _ in second.events)
    finally:
        await second.stop()


async def test_trailing_with_passed_activation_trails_instead_of_closing(
    venue: Venue, tmp_path: Path
) -> None:
    v = venue
    v.exchange.open_position(account(v), "BTCUSDT", Side.BUY, D("0.5"), price=D(50000))
    v.set_price("BTCUSDT", last=D(52000), mark=D(52000))  # past the 1 % activation
    policy = ProtectionPolicy(
        trailing=TrailingPolicy(callback_rate=D(1), activation=Distance(percent=D(1))),
        on_immediate_trigger=ImmediateTriggerAction.CLOSE_NOW,
    )
    m = usdm_manager(v, tmp_path / "s.db", policy)
    await m.start()
    try:
        await until(lambda: any(a["orderType"] == "TRAILING_STOP_MARKET" for a in live_usdm(v)[0]))
        assert position_amount(v) == D("0.5")  # not market-closed
        assert "fallback_trail_now" in [d["kind"] for d in m.store.decisions()]
    finally:
        await m.stop()


async def test_triggered_take_profit_child_never_outlives_its_position(
    venue: Venue, tmp_path: Path
) -> None:
    v = venue
    policy = ProtectionPolicy(
        stop_loss=StopLossPolicy(Distance(percent=D(2))),
        take_profit=TakeProfitPolicy(Distance(percent=D(4)), conditional=True),
    )
    v.exchange.open_position(account(v), "BTCUSDT", Side.BUY, D("0.5"), price=D(50000))
    m = usdm_manager(v, tmp_path / "s.db", policy)
    await m.start()
    try:
        await until(lambda: len(live_usdm(v)[0]) == 2)
        # The take-profit triggers; its reduce-only LIMIT child (at 52000) rests: the mark
        # reaches the trigger while the last price stays under the limit.
        v.set_price("BTCUSDT", last=D(51990), mark=D(52000))
        await until(lambda: any(o["type"] == "LIMIT" for o in live_usdm(v)[1]))
        # Then the stop closes the position.
        v.set_price("BTCUSDT", last=D(48900), mark=D(48900))
        await until(lambda: position_amount(v) == 0)
        await until(lambda: live_usdm(v) == ([], []), HEALED_WITHIN_S)  # child cancelled
        # A new long gets a full set, and the old child can never flip it.
        v.set_price("BTCUSDT", last=D(50000), mark=D(50000))
        v.exchange.open_position(account(v), "BTCUSDT", Side.BUY, D("0.3"))
        await until(
            lambda: (
                sorted(a["orderType"] for a in live_usdm(v)[0]) == ["STOP_MARKET", "TAKE_PROFIT"]
            ),
            HEALED_WITHIN_S,
        )
        v.set_price("BTCUSDT", last=D(52100), mark=D(52100))
        await until(lambda: position_amount(v) == 0)
        await asyncio.sleep(0.3)
        assert position_amount(v) == 0  # never short
        rows = [r for r in m.store.rows() if r.slot.role is Role.TAKE_PROFIT]
        assert all(r.status.terminal for r in rows)
    finally:
        await m.stop()


# -- Spot ----------------------------------------------------------------------------------


def spot_lists(v: Venue) -> list[Any]:
    return [ol for ol in v.spot.lists.values() if ol.open]


def buy_eth(v: Venue, qty: str) -> None:
    v.spot.new_order(
        v.spot_account, {"symbol": "ETHUSDT", "side": "BUY", "type": "MARKET", "quantity": qty}
    )


def oco_quantity(m: ExitManager) -> Decimal | None:
    rows = [r for r in m.store.blocking("paper", Product.SPOT) if r.kind is ExitKind.SPOT_OCO]
    return rows[0].quantity if len(rows) == 1 else None


async def test_spot_holding_that_grows_is_fully_covered(venue: Venue, tmp_path: Path) -> None:
    v = venue
    m = spot_manager(v, tmp_path / "s.db")
    await m.start()
    try:
        buy_eth(v, "2.0000")
        await until(lambda: oco_quantity(m) == D("2.0000") and len(spot_lists(v)) == 1)
        v.spot.move_balance(v.spot_account, "ETH", D("0.5"))  # a deposit
        await until(lambda: oco_quantity(m) == D("2.5000"), HEALED_WITHIN_S)
        await until(lambda: any(k == "bare_interval" for k, _ in m.events))
        await until(lambda: len(spot_lists(v)) == 1)
        (bare,) = [d for k, d in m.events if k == "bare_interval"]
        assert bare["method"] == "cancel then place" and bare["placed"] is not None
        assert not m.store.holds()
    finally:
        await m.stop()


async def test_spot_oco_with_a_crossed_stop_takes_the_fallback(
    venue: Venue, tmp_path: Path
) -> None:
    v = venue
    policy = ProtectionPolicy(
        stop_loss=SPOT_POLICY.stop_loss,
        take_profit=SPOT_POLICY.take_profit,
        on_immediate_trigger=ImmediateTriggerAction.WIDEN,
    )
    buy_eth(v, "1.0000")  # at 3000
    v.set_spot_price("ETHUSDT", D("2850"))  # past the 3 % stop (2910)
    m = spot_manager(v, tmp_path / "s.db", policy)
    # The entry was remembered before (e.g. the manager saw the buy, then restarted).
    m.store.set_entry(entry_key("paper", "ETHUSDT"), D(3000), D(1), 0)
    await m.start()
    try:
        rejected = m.store.decisions("rejected")
        assert rejected and rejected[0]["reason"].startswith("-2010")
        assert "fallback_widen" in [d["kind"] for d in m.store.decisions()]
        await until(lambda: len(spot_lists(v)) == 1)
        row = next(r for r in m.store.blocking("paper", Product.SPOT))
        assert D(row.request["belowStopPrice"]) < D("2850")
        assert row.status in (ExitStatus.PENDING, ExitStatus.OPEN)
    finally:
        await m.stop()


async def test_spot_single_stop_that_grows_is_swapped_by_cancel_replace(
    venue: Venue, tmp_path: Path
) -> None:
    v = venue
    m = spot_manager(v, tmp_path / "s.db", ProtectionPolicy(stop_loss=SPOT_POLICY.stop_loss))
    await m.start()
    try:
        buy_eth(v, "2.0000")

        def stop_qty() -> Decimal | None:
            rows = m.store.blocking("paper", Product.SPOT)
            return rows[0].quantity if len(rows) == 1 else None

        await until(lambda: stop_qty() == D("2.0000"))
        v.spot.move_balance(v.spot_account, "ETH", D("0.5"))
        await until(lambda: stop_qty() == D("2.5000"), HEALED_WITHIN_S)
        await until(lambda: any(k == "bare_interval" for k, _ in m.events))
        live = list(v.spot.open_orders_of(v.api_key))
        assert len(live) == 1  # the swapped stop only
        (bare,) = [d for k, d in m.events if k == "bare_interval"]
        assert bare["method"] == "cancelReplace"
    finally:
        await m.stop()


async def test_spot_deposit_of_a_new_holding_is_protected_without_waiting(
    venue: Venue, tmp_path: Path
) -> None:
    """A holding that arrives by deposit has no buy fill to price its entry: the manager asks
    REST at once (a scoped recovery) instead of leaving it bare until some other recovery."""
    v = venue
    m = spot_manager(v, tmp_path / "s.db")
    await m.start()
    try:
        assert spot_lists(v) == []
        v.spot.move_balance(v.spot_account, "ETH", D("1.5"))
        await until(lambda: oco_quantity(m) == D("1.5000") and len(spot_lists(v)) == 1, 5)
        assert any(k == "spot_entry_unknown" for k, _ in m.events)
    finally:
        await m.stop()
