"""End to end on Spot: exit plans through the manager, SpotOps, the Spot SDK adapter and the
paper venue on loopback (docs/guide/exit-plans.md).

What Spot allows and what it does not, and why (the balance model, binance-api.md §3.7):

- A Spot "position" is a balance, and a balance backs ONE resting SELL per unit: an exit locks
  the quantity it sells. So a ladder with a stop is one OCO per level (the level's LIMIT_MAKER
  and a stop leg for the same quantity): every unit stays under a stop, and each level sells
  only its own part.
- Moving the stop (break-even after a level) cannot be done place-first: the new OCO needs the
  balance the old one locks. Each level's OCO is cancelled and placed again at once (an OCO has
  no cancelReplace); during that interval that level's quantity has no stop (measured and
  reported as ``bare_interval``). The other levels keep theirs.
- A time stop sells the whole balance, which the resting exits lock: they are cancelled first,
  and the MARKET SELL follows once none remains (journaled loudly). Between the cancels and
  the sell the holding has no stop, by design of the plan.
- Not possible on Spot: the liquidation guard (no leverage, no liquidation price), a trailing
  stop beside a stop or ladder (the balance is already locked by them; the config refuses it),
  a closePosition stop, a scale-in without touching the stop (a bigger balance needs bigger
  OCOs: each is replaced cancel-first).

The venue's clock is moved with plan_e2e_support.advance; every wait is bounded.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest

from exitguard.adapters.spot import SdkSpotReader, SdkSpotTrader
from exitguard.domain.enums import PositionSide, Product
from exitguard.manager.scope import ScopeConfig
from exitguard.manager.service import ExitManager
from exitguard.manager.spot_ops import SpotOps
from exitguard.planner.model import ExitKind, ExitStatus, Role
from exitguard.planner.policy import (
    Distance,
    LadderLevel,
    ProtectionPolicy,
    StopLossPolicy,
    StopMove,
    TimeStop,
)
from exitguard.store.exits import ExitStore
from exitguard.venue.server import Venue
from plan_e2e_support import ShiftedClock, advance, settle, until

pytestmark = pytest.mark.usefixtures("async_watchdog")
D = Decimal
ETH = "ETHUSDT"  # venue start price 3000.00
MINUTE = 60_000
KEY = ("paper", Product.SPOT, ETH, PositionSide.BOTH)

LADDER = ProtectionPolicy(
    stop_loss=StopLossPolicy(Distance(percent=D(2))),
    ladder=(
        LadderLevel(Distance(percent=D(1)), D("0.3")),
        LadderLevel(Distance(percent=D(2)), D("0.3")),
        LadderLevel(Distance(percent=D(3)), D("0.4")),
    ),
    stop_moves=(StopMove(after_level=1, break_even_offset_percent=D("0.1")),),
)


@pytest.fixture
async def venue() -> AsyncIterator[Venue]:
    async with Venue(clock=ShiftedClock(), feed=None, spot_balances={"USDT": D(10_000)}) as v:
        yield v


def make_manager(v: Venue, db: Path, policy: ProtectionPolicy) -> ExitManager:
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
        [SpotOps(reader, trader, [ETH], store)],
        store,
        ScopeConfig("paper", lambda _p, s: policy if s == ETH else None, wake_cap_s=0.2),
        now_ms=v.clock.now_ms,
    )


def buy(v: Venue, qty: str) -> None:
    v.spot.new_order(
        v.spot_account, {"symbol": ETH, "side": "BUY", "type": "MARKET", "quantity": qty}
    )


def held(v: Venue) -> Decimal:
    b = v.spot_account.balance("ETH")
    return b.free + b.locked


def live_ocos(v: Venue) -> dict[str, dict[str, object]]:
    """listClientOrderId -> its legs by type."""
    out: dict[str, dict[str, object]] = {}
    for ol in v.spot.lists.values():
        if ol.open:
            out[ol.list_client_order_id] = {
                v.spot.orders[i].type: v.spot.orders[i] for i in ol.order_ids
            }
    return out


def check(v: Venue, m: ExitManager, *, stop_expected: bool = True) -> None:
    """After the manager settled: every unit held is under a stop leg, one exit per slot."""
    rows = m.store.blocking("paper", Product.SPOT)
    per_slot = Counter(r.slot.text() for r in rows)
    assert all(n == 1 for n in per_slot.values()), per_slot
    venue_lists = set(live_ocos(v))
    assert {r.client_id for r in rows if r.kind is ExitKind.SPOT_OCO} == venue_lists
    covered = sum(
        (leg.qty for legs in live_ocos(v).values() for t, leg in legs.items() if "STOP" in t),
        D(0),
    )
    covered += sum(
        (
            o.qty
            for o in v.spot.open_orders_of(v.api_key)
            if o.order_list_id == -1 and "STOP" in o.type
        ),
        D(0),
    )
    if stop_expected:
        assert covered == held(v), (covered, held(v))


def level_row(m: ExitManager, level: int):
    for r in m.store.blocking("paper", Product.SPOT):
        if r.slot.role is Role.OCO and r.slot.level == level:
            return r
    return None


async def test_spot_ladder_is_one_oco_per_level_and_the_stop_moves_to_break_even(
    venue: Venue, tmp_path: Path
) -> None:
    v = venue
    buy(v, "1.0000")  # at 3000.00
    m = make_manager(v, tmp_path / "s.db", LADDER)
    await m.start()
    try:
        await until(lambda: len(live_ocos(v)) == 3, what="three OCOs")
        await settle(m)
        check(v, m)
        legs = {lv: live_ocos(v)[level_row(m, lv).client_id] for lv in (1, 2, 3)}
        assert {lv: (o["LIMIT_MAKER"].qty, o["LIMIT_MAKER"].price) for lv, o in legs.items()} == {
            1: (D("0.3"), D("3030")),
            2: (D("0.3"), D("3060")),
            3: (D("0.4"), D("3090")),
        }
        assert {o["STOP_LOSS"].stop_price for o in legs.values()} == {D("2940")}

        # Level 1's take-profit fills: levels 2 and 3 get their stop at break-even + 0.1 %.
        v.set_spot_price(ETH, D("3031"))
        await until(lambda: held(v) == D("0.7"), what="level 1 sold")
        await until(
            lambda: (
                len(live_ocos(v)) == 2
                and all(o["STOP_LOSS"].stop_price == D("3003") for o in live_ocos(v).values())
            ),
            what="stops moved to break-even",
        )
        await settle(m)
        check(v, m)
        progress = m.store.progress_of(KEY)
        assert progress is not None and progress.filled_levels == {1}
        assert sorted(r.slot.level for r in m.store.blocking("paper", Product.SPOT)) == [2, 3]
        # Cancel-first on Spot, said with its measured bare interval per moved OCO.
        assert len(m.events_of("bare_interval")) == 2

        # Level 2 fills: level 3 stays as it is.
        before = level_row(m, 3)
        v.set_spot_price(ETH, D("3061"))
        await until(lambda: held(v) == D("0.4"), what="level 2 sold")
        await settle(m, 0.5)
        check(v, m)
        assert level_row(m, 3) == before
    finally:
        await m.stop()


async def test_spot_time_stop_cancels_the_ocos_then_sells(venue: Venue, tmp_path: Path) -> None:
    v = venue
    policy = ProtectionPolicy(
        stop_loss=LADDER.stop_loss, ladder=LADDER.ladder, time_stop=TimeStop(after_ms=10 * MINUTE)
    )
    buy(v, "1.0000")
    m = make_manager(v, tmp_path / "s.db", policy)
    await m.start()
    try:
        await until(lambda: len(live_ocos(v)) == 3, what="three OCOs")
        await settle(m)
        check(v, m)
        advance(v, 10 * MINUTE + 1_000)
        await until(lambda: held(v) == 0, what="the time stop's SELL")
        await until(lambda: not m.store.blocking("paper", Product.SPOT), what="nothing left")
        await settle(m)
        assert live_ocos(v) == {}
        (sell,) = [r for r in m.store.rows() if r.slot.role is Role.TIME_STOP]
        assert sell.status is ExitStatus.FILLED and sell.request["type"] == "MARKET"
        assert sell.quantity == D("1.0000")
        ocos = [r for r in m.store.rows() if r.kind is ExitKind.SPOT_OCO]
        assert {r.status for r in ocos} == {ExitStatus.CANCELED}
        # Every OCO was cancelled before the SELL was even written.
        assert max(r.updated_ms for r in ocos) <= sell.created_ms
        assert m.events_of("spot_close_without_stop")  # loud (WARNING) and in the audit trail
        (journaled,) = m.store.decisions("spot_close_without_stop")
        assert journaled["slot"].endswith("/time_stop")
        assert m.store.progress_of(KEY) is None  # sold: the plan starts afresh next time
    finally:
        await m.stop()
