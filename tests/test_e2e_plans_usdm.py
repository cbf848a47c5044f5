"""End to end on USD-M: exit plans (docs/guide/exit-plans.md) through the manager, the official
SDK adapters and the paper venue on loopback, in one-way and hedge mode.

Prices move through the venue's control (``Venue.set_price``), time through the venue's clock
(plan_e2e_support.advance; the manager reads the same clock). After every step an invariant
checker reads the venue's own state; it also watches every user-data event the venue emits, so
"a position that had a stop is never without one" holds at every state a client could see.
Every wait is bounded.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest

from exitguard.domain.enums import PositionSide, Product, Side
from exitguard.planner.model import ExitStatus, PositionProgress, Role
from exitguard.planner.policy import (
    Distance,
    LadderLevel,
    LiquidationGuard,
    ProtectionPolicy,
    RoiStep,
    StopLossPolicy,
    StopMove,
    TakeProfitPolicy,
    TimeStop,
    TrailingPolicy,
)
from exitguard.venue.server import Venue
from plan_e2e_support import (
    ShiftedClock,
    UsdmInvariants,
    advance,
    algo,
    live_rows,
    order,
    settle,
    slot_of,
    until,
    usdm_manager,
)

pytestmark = pytest.mark.usefixtures("async_watchdog")
D = Decimal
SYMBOL = "BTCUSDT"
MINUTE = 60_000

LADDER = ProtectionPolicy(
    stop_loss=StopLossPolicy(Distance(percent=D(2)), quantity_based=True),
    ladder=(
        LadderLevel(Distance(percent=D(1)), D("0.3")),
        LadderLevel(Distance(percent=D(2)), D("0.3")),
        LadderLevel(Distance(percent=D(3)), D("0.4")),
    ),
    stop_moves=(StopMove(after_level=1, break_even_offset_percent=D("0.1")),),
    trailing=TrailingPolicy(callback_rate=D(1), after_level=2),
)


@pytest.fixture
async def venue() -> AsyncIterator[Venue]:
    async with Venue(clock=ShiftedClock(), feed=None) as v:
        v.set_price(SYMBOL, last=D(50000), mark=D(50000))
        yield v


def open_position(v: Venue, side: Side, qty: str) -> None:
    v.exchange.open_position(v.account, SYMBOL, side, D(qty))


def move(v: Venue, price: int | str) -> None:
    v.set_price(SYMBOL, last=D(price), mark=D(price))


def position_amount(v: Venue, side: PositionSide) -> Decimal:
    pos = v.account.positions.get((SYMBOL, side))
    return D(0) if pos is None else pos.amount


@pytest.mark.parametrize("hedge", [False, True], ids=["one_way", "hedge"])
async def test_ladder_fills_level_by_level_and_survives_a_restart(
    venue: Venue, tmp_path: Path, hedge: bool
) -> None:
    """Long in one-way mode, short in hedge mode (positionSide SHORT, no reduceOnly): three
    levels fill one by one; the stop moves to break-even after level 1 (placed first), its
    quantity follows the remainder, the trailing stop starts after level 2; a new manager on
    the same store mid-ladder remembers the filled level and places nothing twice."""
    v = venue
    v.account.dual_side = hedge
    side = PositionSide.SHORT if hedge else PositionSide.BOTH
    sign = -1 if hedge else 1
    open_position(v, Side.SELL if hedge else Side.BUY, "1.000")
    inv = UsdmInvariants(v)
    db = tmp_path / "s.db"
    m = usdm_manager(v, db, LADDER)
    await m.start()
    try:
        await settle(m)
        inv.check(m)
        rows = live_rows(m)
        levels = {lv: slot_of(m, Role.TAKE_PROFIT, lv, side.value) for lv in (1, 2, 3)}
        assert all(r is not None for r in levels.values()), rows
        got = {
            lv: (order(v, r.client_id).qty, order(v, r.client_id).price)
            for lv, r in levels.items()
            if r
        }
        assert got == {
            1: (D("0.300"), D(50000 + sign * 500)),
            2: (D("0.300"), D(50000 + sign * 1000)),
            3: (D("0.400"), D(50000 + sign * 1500)),
        }
        for r in levels.values():
            assert r is not None
            o = order(v, r.client_id)
            assert o.type == "LIMIT" and o.position_side is side
            assert o.reduce_only is (not hedge)  # hedge mode: positionSide, no reduceOnly
        stop = slot_of(m, Role.STOP_LOSS, 0, side.value)
        assert stop is not None
        assert algo(v, stop.client_id).trigger_price == D(50000 - sign * 1000)
        assert algo(v, stop.client_id).quantity == D("1.000")
        assert slot_of(m, Role.TRAILING, 0, side.value) is None  # waits for level 2

        # Level 1 fills: the stop moves to break-even + 0.1 % for the remaining 0.7.
        move(v, 50000 + sign * 510)
        await until(lambda: position_amount(v, side) == sign * D("0.7"), what="level 1 fill")
        await until(
            lambda: (
                (s := slot_of(m, Role.STOP_LOSS, 0, side.value)) is not None
                and s.client_id != stop.client_id
                and s.status is ExitStatus.OPEN
            ),
            what="the moved stop",
        )
        await settle(m)
        inv.check(m)
        moved = slot_of(m, Role.STOP_LOSS, 0, side.value)
        assert moved is not None
        assert algo(v, moved.client_id).trigger_price == D(50000 + sign * 50)
        assert algo(v, moved.client_id).quantity == D("0.700")
        assert m.store.get(stop.client_id).status is ExitStatus.CANCELED
        key = ("paper", Product.USDM, SYMBOL, side)
        progress = m.store.progress_of(key)
        assert progress is not None and progress.filled_levels == {1}
        assert progress.reference_size == D("1.000")
        # Levels 2 and 3 are untouched (same orders).
        assert slot_of(m, Role.TAKE_PROFIT, 2, side.value) == levels[2]
        assert slot_of(m, Role.TAKE_PROFIT, 3, side.value) == levels[3]
    finally:
        await m.stop()

    # A restart mid-ladder: the store remembers level 1; nothing is placed or cancelled.
    before = {c for c, _ in _live_ids(v)}
    again = usdm_manager(v, db, LADDER)
    await again.start()
    try:
        await settle(again)
        scope = again.scope(Product.USDM)
        assert scope.stats.last_actions == [] and scope.stats.placed == 0
        assert {c for c, _ in _live_ids(v)} == before
        inv.check(again)

        # Level 2 fills: the trailing stop starts; the stop follows the remainder (0.4).
        move(v, 50000 + sign * 1010)
        await until(lambda: position_amount(v, side) == sign * D("0.4"), what="level 2 fill")
        await until(
            lambda: (
                slot_of(again, Role.TRAILING, 0, side.value) is not None
                and (s := slot_of(again, Role.STOP_LOSS, 0, side.value)) is not None
                and s.quantity == D("0.400")
            ),
            what="trailing stop and resized stop",
        )
        await settle(again)
        inv.check(again)
        trailing = slot_of(again, Role.TRAILING, 0, side.value)
        assert trailing is not None
        assert algo(v, trailing.client_id).type == "TRAILING_STOP_MARKET"
        assert algo(v, trailing.client_id).quantity == D("0.400")
        progress = again.store.progress_of(("paper", Product.USDM, SYMBOL, side))
        assert progress is not None and progress.filled_levels == {1, 2}

        # Level 3 fills: flat; every exit goes, the progress is forgotten.
        move(v, 50000 + sign * 1510)
        await until(lambda: position_amount(v, side) == 0, what="level 3 fill")
        await until(lambda: not again.store.blocking("paper", Product.USDM), what="all gone")
        await settle(again)
        inv.check(again, stop_expected=False)
        assert again.store.progress_of(("paper", Product.USDM, SYMBOL, side)) is None
        assert _live_ids(v) == []
        # Each level was placed once, over both managers' lifetimes.
        placed_levels = [
            r.slot.level for r in again.store.rows() if r.slot.role is Role.TAKE_PROFIT
        ]
        assert sorted(placed_levels) == [1, 2, 3]
    finally:
        await again.stop()
        inv.close()


def _live_ids(v: Venue) -> list[tuple[str, str]]:
    algos = [(a.client_algo_id, a.type) for a in v.exchange.algo.orders.values() if a.open]
    orders = [
        (o.client_order_id, o.type)
        for o in v.exchange.orders.values()
        if o.status in ("NEW", "PARTIALLY_FILLED")
    ]
    return sorted(algos + orders)


@pytest.mark.parametrize("hedge", [False, True], ids=["one_way", "hedge"])
async def test_time_stop_closes_after_the_holding_time_once(
    venue: Venue, tmp_path: Path, hedge: bool
) -> None:
    v = venue
    v.account.dual_side = hedge
    side = PositionSide.LONG if hedge else PositionSide.BOTH
    policy = ProtectionPolicy(
        stop_loss=StopLossPolicy(Distance(percent=D(2))),
        time_stop=TimeStop(after_ms=10 * MINUTE),
    )
    open_position(v, Side.BUY, "0.500")
    inv = UsdmInvariants(v)
    m = usdm_manager(v, tmp_path / "s.db", policy)
    await m.start()
    try:
        await settle(m)
        inv.check(m)
        key = ("paper", Product.USDM, SYMBOL, side)
        opened = m.store.progress_of(key)
        assert opened is not None
        advance(v, 9 * MINUTE)
        await settle(m, 0.5)
        assert position_amount(v, side) == D("0.5")  # not yet due
        advance(v, MINUTE + 1_000)
        await until(lambda: position_amount(v, side) == 0, what="time stop close")
        await until(lambda: not m.store.blocking("paper", Product.USDM), what="exits gone")
        await settle(m)
        inv.check(m, stop_expected=False)
        closes = [r for r in m.store.rows() if r.slot.role is Role.TIME_STOP]
        assert len(closes) == 1 and closes[0].status is ExitStatus.FILLED
        sent = order(v, closes[0].client_id)
        assert sent.type == "MARKET" and sent.qty == D("0.500")
        assert sent.reduce_only is (not hedge) and sent.position_side is side
        (said,) = m.events_of("one_shot")
        assert said["fired"] == "time_stop"
        (journaled,) = m.store.decisions("one_shot")
        assert journaled["details"] == {"fired": "time_stop"}
        assert m.scope(Product.USDM).timer.wakes >= 1
    finally:
        await m.stop()
        inv.close()


async def test_roi_step_replaces_the_take_profit_place_first(venue: Venue, tmp_path: Path) -> None:
    v = venue
    policy = ProtectionPolicy(
        stop_loss=StopLossPolicy(Distance(percent=D(2))),
        take_profit=TakeProfitPolicy(Distance(percent=D(4))),
        roi=(RoiStep(after_ms=30 * MINUTE, distance=Distance(percent=D(1))),),
    )
    open_position(v, Side.BUY, "0.500")
    inv = UsdmInvariants(v)
    m = usdm_manager(v, tmp_path / "s.db", policy)
    await m.start()
    try:
        await settle(m)
        first = slot_of(m, Role.TAKE_PROFIT)
        assert first is not None and order(v, first.client_id).price == D(52000)
        advance(v, 30 * MINUTE + 1_000)
        await until(
            lambda: (
                (tp := slot_of(m, Role.TAKE_PROFIT)) is not None
                and tp.client_id != first.client_id
                and tp.status is ExitStatus.OPEN
            ),
            what="the ROI step's take-profit",
        )
        await settle(m)
        inv.check(m)
        second = slot_of(m, Role.TAKE_PROFIT)
        assert second is not None and order(v, second.client_id).price == D(50500)
        assert m.store.get(first.client_id).status is ExitStatus.CANCELED
        # Place first: the new take-profit was live before the old one was cancelled.
        assert order(v, second.client_id).time <= order(v, first.client_id).update_time
    finally:
        await m.stop()
        inv.close()


# (hedge, liquidation, its pulled stop, a mark within 2 %, a nearer one, moved L, its stop):
# a long in one-way mode, a short in hedge mode (stop above, pulled down inside L).
LIQUIDATION_CASES = [
    (False, 47000, 47235, 47900, 47800, 46000, 46230),  # L * 1.005 ; mark <= L * 1.02
    (True, 53000, 52735, 52100, 52200, 54000, 53730),  # L * 0.995 ; mark >= L * 0.98
]


@pytest.mark.parametrize(
    ("hedge", "liq", "pulled", "near", "nearer", "liq2", "pulled2"),
    LIQUIDATION_CASES,
    ids=["long_one_way", "short_hedge"],
)
async def test_liquidation_guard_pulls_the_stop_inside_and_closes_once(
    venue: Venue,
    tmp_path: Path,
    hedge: bool,
    liq: int,
    pulled: int,
    near: int,
    nearer: int,
    liq2: int,
    pulled2: int,
) -> None:
    v = venue
    v.account.dual_side = hedge
    side = PositionSide.SHORT if hedge else PositionSide.BOTH
    sign = -1 if hedge else 1
    policy = ProtectionPolicy(
        stop_loss=StopLossPolicy(Distance(percent=D(10))),  # 45000 / 55000: beyond liquidation
        liquidation_guard=LiquidationGuard(
            margin_percent=D("0.5"), close_within_percent=D(2), close_fraction=D("0.5")
        ),
    )
    open_position(v, Side.SELL if hedge else Side.BUY, "1.000")
    v.exchange.set_liquidation_price(v.account, SYMBOL, D(liq), side)
    inv = UsdmInvariants(v)
    m = usdm_manager(v, tmp_path / "s.db", policy)
    await m.start()
    try:
        await settle(m)
        inv.check(m)
        stop = slot_of(m, Role.STOP_LOSS, 0, side.value)
        assert stop is not None
        # Pulled inside liquidation by 0.5 % (rounded toward safety).
        assert algo(v, stop.client_id).trigger_price == D(pulled)
        assert "liquidation" in stop.reason
        # The mark comes within 2 % of liquidation: half the position closes, once.
        move(v, near)
        await until(lambda: position_amount(v, side) == sign * D("0.5"), what="liquidation close")
        await settle(m, 0.6)
        move(v, nearer)  # still near: nothing more is sent
        await settle(m, 0.6)
        assert position_amount(v, side) == sign * D("0.5")
        closes = [r for r in m.store.rows() if r.slot.role is Role.LIQUIDATION]
        assert len(closes) == 1 and order(v, closes[0].client_id).type == "MARKET"
        progress = m.store.progress_of(("paper", Product.USDM, SYMBOL, side))
        assert progress is not None and progress.fired == {"liquidation"}
        # A liquidation price that moves (the venue reports another) moves the stop, placed
        # first (the invariant checker sees no bare moment).
        v.exchange.set_liquidation_price(v.account, SYMBOL, D(liq2), side)
        await until(
            lambda: (
                (s := slot_of(m, Role.STOP_LOSS, 0, side.value)) is not None
                and algo(v, s.client_id).trigger_price == D(pulled2)
            ),
            what="the stop following liquidation",
        )
        await settle(m)
        inv.check(m)
        # No service polls prices here: the scope read them itself (guarded position).
        assert m.scope(Product.USDM).market_reader.reads >= 1
    finally:
        await m.stop()
        inv.close()


async def test_scale_in_resizes_quantity_exits_and_leaves_the_stop(
    venue: Venue, tmp_path: Path
) -> None:
    v = venue
    policy = ProtectionPolicy(
        stop_loss=StopLossPolicy(Distance(percent=D(2))),  # closePosition: no quantity
        ladder=(
            LadderLevel(Distance(percent=D(1)), D("0.5")),
            LadderLevel(Distance(percent=D(2)), D("0.5")),
        ),
    )
    open_position(v, Side.BUY, "1.000")
    inv = UsdmInvariants(v)
    m = usdm_manager(v, tmp_path / "s.db", policy)
    await m.start()
    try:
        await settle(m)
        stop = slot_of(m, Role.STOP_LOSS)
        assert stop is not None
        first = {lv: slot_of(m, Role.TAKE_PROFIT, lv) for lv in (1, 2)}
        open_position(v, Side.BUY, "0.600")
        await until(
            lambda: all(
                (r := slot_of(m, Role.TAKE_PROFIT, lv)) is not None
                and r.quantity == D("0.800")
                and r.status is ExitStatus.OPEN
                for lv in (1, 2)
            ),
            what="levels resized",
        )
        await settle(m)
        inv.check(m)
        assert slot_of(m, Role.STOP_LOSS) == stop  # never cancelled, never replaced
        assert not [e for e in m.events_of("cancelled") if e["client_id"] == stop.client_id]
        for r in first.values():
            assert r is not None and m.store.get(r.client_id).status is ExitStatus.CANCELED
        progress = m.store.progress_of(("paper", Product.USDM, SYMBOL, PositionSide.BOTH))
        assert progress is not None  # the reference grew by the added 0.6
        assert progress == PositionProgress(progress.opened_ms, D("1.600"))
    finally:
        await m.stop()
        inv.close()


async def test_the_timer_task_is_supervised_and_stops(venue: Venue, tmp_path: Path) -> None:
    v = venue
    m = usdm_manager(v, tmp_path / "s.db", ProtectionPolicy(time_stop=TimeStop(after_ms=MINUTE)))
    await m.start()
    scope = m.scope(Product.USDM)
    try:
        (wake,) = [t for t in scope.tasks.tasks if t.get_name().endswith("-wake")]
        wake.cancel()
        await until(
            lambda: (
                any(t.get_name().endswith("-wake") and not t.done() for t in scope.tasks.tasks)
                and wake.done()
            ),
            what="the timer restarted",
        )
        await asyncio.sleep(0)
    finally:
        await m.stop()
    assert all(t.done() for t in scope.tasks.tasks) or scope.tasks.tasks == []


class _Crash(Exception):
    """The process dies here (as ``kill -9`` would: nothing after it runs)."""


async def test_a_crash_right_after_the_liquidation_close_was_sent_never_sends_it_twice(
    venue: Venue, tmp_path: Path
) -> None:
    """The one-shot is written to the store before its request leaves: a manager that dies
    between the send and its answer, restarted on the same store, does not close again."""
    v = venue
    policy = ProtectionPolicy(
        stop_loss=StopLossPolicy(Distance(percent=D(18))),  # 41000
        liquidation_guard=LiquidationGuard(close_within_percent=D(5), close_fraction=D("0.5")),
    )
    open_position(v, Side.BUY, "1.000")
    v.exchange.set_liquidation_price(v.account, SYMBOL, D(40000))
    db = tmp_path / "s.db"
    m = usdm_manager(v, db, policy)
    await m.start()
    scope = m.scope(Product.USDM)
    crashed = asyncio.Event()

    def crash_point(point: str) -> None:
        if point == "after_send" and any(
            r.slot.role is Role.LIQUIDATION for r in m.store.blocking("paper", Product.USDM)
        ):
            me = asyncio.current_task()
            for task in scope.tasks.tasks:  # nothing else of this process runs any more
                if task is not me:
                    task.cancel()
            crashed.set()
            raise _Crash(point)

    try:
        await settle(m)
        scope.crash_point = crash_point  # type: ignore[method-assign]
        move(v, 41500)  # within 5 % of 40000 (<= 42000), above the stop
        async with asyncio.timeout(15):
            await crashed.wait()
        await until(lambda: position_amount(v, PositionSide.BOTH) == D("0.5"), what="the close")
    finally:
        await m.stop()
    again = usdm_manager(v, db, policy)
    await again.start()
    try:
        await settle(again, 1.0)  # market reads and timer rounds come and go
        assert position_amount(v, PositionSide.BOTH) == D("0.5")
        closes = [r for r in again.store.rows() if r.slot.role is Role.LIQUIDATION]
        assert len(closes) == 1 and closes[0].status is ExitStatus.FILLED  # resolved by id
        progress = again.store.progress_of(("paper", Product.USDM, SYMBOL, PositionSide.BOTH))
        assert progress is not None and progress.fired == {"liquidation"}
    finally:
        await again.stop()


async def test_a_level_that_fills_while_the_manager_is_down_is_known_after_the_restart(
    venue: Venue, tmp_path: Path
) -> None:
    """No fill event reaches a stopped manager: the startup hydration finds the level's order
    gone, asks the venue by client id (FILLED), and that records the level; the stop then
    moves to break-even and the other levels stay as they are."""
    v = venue
    open_position(v, Side.BUY, "1.000")
    inv = UsdmInvariants(v)
    db = tmp_path / "s.db"
    m = usdm_manager(v, db, LADDER)
    await m.start()
    try:
        await settle(m)
        inv.check(m)
        level1 = slot_of(m, Role.TAKE_PROFIT, 1)
        level2 = slot_of(m, Role.TAKE_PROFIT, 2)
        stop = slot_of(m, Role.STOP_LOSS)
    finally:
        await m.stop()
    assert level1 is not None and level2 is not None and stop is not None
    move(v, 50510)  # level 1 fills while nobody listens
    assert position_amount(v, PositionSide.BOTH) == D("0.7")
    again = usdm_manager(v, db, LADDER)
    await again.start()
    try:
        await settle(again)
        inv.check(again)
        assert again.store.get(level1.client_id).status is ExitStatus.FILLED
        progress = again.store.progress_of(("paper", Product.USDM, SYMBOL, PositionSide.BOTH))
        assert progress is not None and progress.filled_levels == {1}
        moved = slot_of(again, Role.STOP_LOSS)
        assert moved is not None and moved.client_id != stop.client_id
        assert algo(v, moved.client_id).trigger_price == D(50050)
        assert slot_of(again, Role.TAKE_PROFIT, 1) is None  # never placed again
        assert slot_of(again, Role.TAKE_PROFIT, 2) == level2
    finally:
        await again.stop()
        inv.close()


async def test_the_service_price_poller_feeds_the_plans_marks_and_liquidations(
    venue: Venue, tmp_path: Path
) -> None:
    """The quotes and liquidation prices the service polls for display are the ones planning
    reads (manager.market): the scope need not read them again."""
    from exitguard.manager.control import GuardControl

    v = venue
    open_position(v, Side.BUY, "1.000")
    v.exchange.set_liquidation_price(v.account, SYMBOL, D(40000))
    m = usdm_manager(v, tmp_path / "s.db", ProtectionPolicy(stop_loss=LADDER.stop_loss))
    await m.start()
    try:
        control = GuardControl(m, mode="paper", venue="embedded", manages=lambda _p, _s: True)
        move(v, 50100)
        await control.poll_prices(lambda _kind, _data: None)
        inp = m.scope(Product.USDM).plan_input()
        assert inp.marks == {(Product.USDM, SYMBOL): D(50100)}
        assert inp.positions[0].liquidation_price == D(40000)
        assert m.scope(Product.USDM).market_reader.reads == 0  # no guard: never read itself
    finally:
        await m.stop()
