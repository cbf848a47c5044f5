"""End to end on Spot: the exit manager + SpotOps + the Spot SDK adapter + the paper venue.

A holding of a managed symbol's base asset gets one OCO (LIMIT_MAKER take-profit above, STOP_LOSS
below); a filled leg ends the list and nothing is placed again; a restart hydrates and places
nothing twice; an OCO cancelled behind the manager's back is replaced; DRY_RUN_PRIVATE journals
the candidate and sends nothing. The venue runs on a real-time clock (the SDK signs with the wall
clock); Spot prices move through ``Venue.set_spot_price``. Every wait is bounded.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from pathlib import Path

import pytest

from exitguard.adapters.spot import SdkSpotReader, SdkSpotTrader
from exitguard.domain.enums import Product
from exitguard.manager.scope import ScopeConfig
from exitguard.manager.service import ExitManager
from exitguard.manager.spot_ops import SpotOps, entry_key
from exitguard.planner.model import ExitKind, ExitStatus, Role
from exitguard.planner.policy import Distance, ProtectionPolicy, StopLossPolicy, TakeProfitPolicy
from exitguard.store.exits import ExitRow, ExitStore
from exitguard.venue.clock import RealtimeClock
from exitguard.venue.server import Venue

pytestmark = pytest.mark.usefixtures("async_watchdog")
D = Decimal
ETH = "ETHUSDT"  # venue start price 3000.00
POLICY = ProtectionPolicy(
    stop_loss=StopLossPolicy(Distance(percent=D(2))),
    take_profit=TakeProfitPolicy(Distance(percent=D(4))),
)


@pytest.fixture
async def venue() -> AsyncIterator[Venue]:
    async with Venue(clock=RealtimeClock(), feed=None, spot_balances={"USDT": D(10_000)}) as v:
        yield v


def make_manager(v: Venue, db: Path, *, mutate: bool = True) -> ExitManager:
    store = ExitStore(db)
    reader = SdkSpotReader(
        rest_url=v.rest_url,
        ws_api_url=v.spot_ws_api_url,
        api_key=v.api_key,
        api_secret=v.api_secret,
        reconnect_initial_s=0.05,
    )
    trader = (
        SdkSpotTrader(rest_url=v.rest_url, api_key=v.api_key, api_secret=v.api_secret)
        if mutate
        else None
    )
    return ExitManager(
        [SpotOps(reader, trader, [ETH], store)],
        store,
        ScopeConfig("paper", lambda _p, s: POLICY if s == ETH else None),
    )


async def until(cond: Callable[[], bool], timeout_s: float = 8.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not cond():
            await asyncio.sleep(0.01)


def open_lists(v: Venue) -> list[str]:
    return sorted(ol.list_client_order_id for ol in v.spot.lists.values() if ol.open)


def open_orders(v: Venue) -> list[str]:
    return sorted(o.client_order_id for o in v.spot.open_orders_of(v.api_key))


def status(m: ExitManager, client_id: str) -> ExitStatus | None:
    row = m.store.get(client_id)
    return None if row is None else row.status


def buy(v: Venue, qty: str) -> None:
    """A market BUY on the venue's Spot account, as a user would do outside exitguard."""
    v.spot.new_order(
        v.spot_account, {"symbol": ETH, "side": "BUY", "type": "MARKET", "quantity": qty}
    )


def oco_rows(m: ExitManager) -> list[ExitRow]:
    return [r for r in m.store.rows() if r.kind is ExitKind.SPOT_OCO]


async def test_bought_holding_gets_an_oco_and_a_filled_leg_ends_it(
    venue: Venue, tmp_path: Path
) -> None:
    v = venue
    m = make_manager(v, tmp_path / "s.db")
    await m.start()
    try:
        scope = m.scope(Product.SPOT)
        assert scope.positions == {} and open_lists(v) == []
        buy(v, "1.0000")
        await until(lambda: any(r.status is ExitStatus.OPEN for r in oco_rows(m)))
        (row,) = oco_rows(m)
        assert row.slot.role is Role.OCO and open_lists(v) == [row.client_id]
        (pos,) = scope.positions.values()
        entry = pos.entry_price  # the buy's fill price, remembered
        assert m.store.entry(entry_key("paper", ETH)) == (entry, pos.amount)
        ol = next(ol for ol in v.spot.lists.values() if ol.list_client_order_id == row.client_id)
        legs = {v.spot.orders[i].type: v.spot.orders[i] for i in ol.order_ids}
        assert legs["LIMIT_MAKER"].price >= entry * D("1.04") > legs["STOP_LOSS"].stop_price
        # On the 0.01 tick, rounded to fire no later (up, for a SELL stop).
        assert 0 <= legs["STOP_LOSS"].stop_price - entry * D("0.98") < D("0.01")

        # The take-profit leg fills: the stop leg expires, the list is ALL_DONE, ETH is sold.
        v.set_spot_price(ETH, legs["LIMIT_MAKER"].price + D(10))
        await until(lambda: status(m, row.client_id) is ExitStatus.FILLED)
        await until(lambda: scope.positions == {})
        await scope.wait_idle()
        await asyncio.sleep(0.3)  # room for a wrong re-placement to show
        assert open_lists(v) == [] and open_orders(v) == []
        assert len(oco_rows(m)) == 1 and scope.stats.placed == 1
        assert m.store.blocking("paper", Product.SPOT) == []
        assert m.events_of("exit_fill")[-1]["client_id"] == row.client_id
    finally:
        await m.stop()


async def test_restart_hydrates_and_places_no_second_oco(venue: Venue, tmp_path: Path) -> None:
    v = venue
    buy(v, "2.0000")  # held before the manager starts: entry = last price at first sight
    m = make_manager(v, tmp_path / "s.db")
    await m.start()
    try:
        before = open_lists(v)
        assert len(before) == 1
        await until(lambda: oco_rows(m)[0].status is ExitStatus.OPEN)
        entry = m.store.entry(entry_key("paper", ETH))
    finally:
        await m.stop()
    again = make_manager(v, tmp_path / "s.db")
    await again.start()
    try:
        assert open_lists(v) == before
        scope = again.scope(Product.SPOT)
        assert scope.stats.last_actions == [] and scope.stats.placed == 0
        assert again.store.entry(entry_key("paper", ETH)) == entry
    finally:
        await again.stop()


async def test_oco_cancelled_outside_is_replaced(venue: Venue, tmp_path: Path) -> None:
    v = venue
    buy(v, "1.0000")
    m = make_manager(v, tmp_path / "s.db")
    await m.start()
    try:
        (first,) = open_lists(v)
        v.spot.cancel_order_list(v.spot_account, {"symbol": ETH, "listClientOrderId": first})
        await until(lambda: len(open_lists(v)) == 1 and open_lists(v) != [first])
        assert status(m, first) is ExitStatus.CANCELED
        (second,) = open_lists(v)
        await until(lambda: status(m, second) is ExitStatus.OPEN)
    finally:
        await m.stop()


async def test_dry_run_journals_the_oco_and_sends_nothing(venue: Venue, tmp_path: Path) -> None:
    v = venue
    buy(v, "1.0000")
    m = make_manager(v, tmp_path / "s.db", mutate=False)
    await m.start()
    try:
        assert open_lists(v) == [] and open_orders(v) == []
        (candidate,) = m.store.decisions("dry_run_candidate")
        assert candidate["details"]["type"] == "OCO" and candidate["details"]["symbol"] == ETH
        assert m.store.blocking("paper", Product.SPOT) == []
    finally:
        await m.stop()
