"""Spot ``CANCEL_ONLY`` symbol status (Spot CHANGELOG 2026-07-01, effective 2026-07-07).

Venue: the control API puts a symbol in CANCEL_ONLY; exchangeInfo shows it; placements are refused
``-2010`` "Market is closed." (errors.md: "The symbol is not trading") while cancels work.
Planner (rule 8): no placement is planned on a symbol that is not TRADING; the slot gets a
SkipSlot naming the status, the verdict says why, cancels still go. Manager: a "Market is closed."
refusal is not held; the symbol status is re-read, the position is reported bare at ERROR, and
the exits go in once the symbol trades again. Servers bind 127.0.0.1 port 0; waits are bounded.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from pathlib import Path
from types import MappingProxyType

import pytest

from exitguard.adapters.spot import SdkSpotReader, SdkSpotTrader
from exitguard.domain.enums import PositionSide, Product
from exitguard.domain.filters import ExchangeRules
from exitguard.manager.context import ScopeConfig
from exitguard.manager.health import ProtectionState
from exitguard.manager.service import ExitManager
from exitguard.manager.spot_ops import SpotOps
from exitguard.planner.model import CancelExit, ExitKind, ExitStatus, PlaceExit, Position, SkipSlot
from exitguard.planner.plan import PlanInput, coverage, plan_exits
from exitguard.planner.policy import Distance, ProtectionPolicy, StopLossPolicy, TakeProfitPolicy
from exitguard.store.exits import ExitStore
from exitguard.venue.clock import RealtimeClock
from exitguard.venue.server import Venue
from spot_venue_helpers import make_spot
from test_planner import SPOT, _exists
from test_venue_spot_http import STOP, call, control, running

D = Decimal
ETH = "ETHUSDT"
POLICY = ProtectionPolicy(
    stop_loss=StopLossPolicy(Distance(percent=D(2))),
    take_profit=TakeProfitPolicy(Distance(percent=D(4))),
)


def _with_status(rules: ExchangeRules, symbol: str, status: str) -> ExchangeRules:
    one = dataclasses.replace(rules.symbols[symbol], status=status)
    return dataclasses.replace(rules, symbols=MappingProxyType({**rules.symbols, symbol: one}))


# -- venue -------------------------------------------------------------------------------------


async def test_venue_cancel_only_refuses_placements_and_allows_cancels() -> None:
    async with running() as (v, s):
        status, placed, _ = await call(v, s, "POST", "/api/v3/order", STOP)
        assert status == 200, placed
        answer = await control(
            s, v, "symbol/status", {"symbol": "BTCUSDT", "status": "CANCEL_ONLY"}
        )
        assert answer == {"symbol": "BTCUSDT", "status": "CANCEL_ONLY"}
        _, info, _ = await call(
            v, s, "GET", "/api/v3/exchangeInfo", [("symbol", "BTCUSDT")], sign=False
        )
        assert info["symbols"][0]["status"] == "CANCEL_ONLY"
        _, only, _ = await call(
            v, s, "GET", "/api/v3/exchangeInfo", [("symbolStatus", "CANCEL_ONLY")], sign=False
        )
        assert [x["symbol"] for x in only["symbols"]] == ["BTCUSDT"]
        status, body, _ = await call(v, s, "POST", "/api/v3/order", STOP)
        assert (status, body) == (400, {"code": -2010, "msg": "Market is closed."})
        status, body, _ = await call(
            v,
            s,
            "DELETE",
            "/api/v3/order",
            [("symbol", "BTCUSDT"), ("orderId", str(placed["orderId"]))],
        )
        assert status == 200 and body["status"] == "CANCELED", body
        # A bad status changes nothing; reset restores TRADING.
        async with s.post(
            f"{v.rest_url}/_venue/symbol/status", json={"symbol": "BTCUSDT", "status": "OPEN"}
        ) as r:
            assert r.status == 400 and (await r.json())["code"] == -1100
        await control(s, v, "reset", {})
        _, info, _ = await call(
            v, s, "GET", "/api/v3/exchangeInfo", [("symbol", "BTCUSDT")], sign=False
        )
        assert info["symbols"][0]["status"] == "TRADING"


def test_venue_cancel_only_in_process() -> None:
    sp = make_spot()
    sp.x.set_symbol_status("BTCUSDT", "CANCEL_ONLY")
    with pytest.raises(Exception, match="Market is closed"):
        sp.place(symbol="BTCUSDT", side="SELL", type="STOP_LOSS", quantity="0.1", stopPrice="60000")


# -- planner -----------------------------------------------------------------------------------


def _spot_input(status: str, exits=()) -> PlanInput:
    pos = Position("acct", Product.SPOT, ETH, PositionSide.BOTH, D("1.5"), D("3000"))
    rules = SPOT if status == "TRADING" else _with_status(SPOT, ETH, status)
    return PlanInput((pos,), tuple(exits), {(Product.SPOT, ETH): POLICY}, {Product.SPOT: rules})


def test_planner_plans_no_placement_on_a_cancel_only_symbol_and_says_why() -> None:
    (place,) = plan_exits(_spot_input("TRADING"))
    assert isinstance(place, PlaceExit)
    (skip,) = plan_exits(_spot_input("CANCEL_ONLY"))
    assert isinstance(skip, SkipSlot) and skip.slot == place.slot
    assert "ETHUSDT is CANCEL_ONLY" in skip.reason and "unprotected" in skip.reason
    (cov,) = next(iter(coverage(_spot_input("CANCEL_ONLY")).values()))
    assert not cov.covered and "CANCEL_ONLY" in cov.problem
    # An exit that still rests keeps protecting: no action, covered.
    live = _exists(place)
    assert plan_exits(_spot_input("CANCEL_ONLY", [live])) == []
    # A replacement is not started (the old exit stays); a duplicate is still cancelled.
    wrong = dataclasses.replace(live, quantity=D("1"), client_id="old", created_ms=1)
    actions = plan_exits(_spot_input("CANCEL_ONLY", [wrong]))
    assert [type(a) for a in actions] == [SkipSlot]
    newer = dataclasses.replace(live, client_id="new", created_ms=2)
    actions = plan_exits(_spot_input("CANCEL_ONLY", [wrong, newer]))
    assert [(type(a), getattr(a, "client_id", None)) for a in actions] == [(CancelExit, "old")]


# -- manager end to end ------------------------------------------------------------------------


async def _until(cond: Callable[[], bool], timeout_s: float = 8.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not cond():
            await asyncio.sleep(0.01)


@pytest.fixture
async def venue() -> AsyncIterator[Venue]:
    async with Venue(clock=RealtimeClock(), feed=None, spot_balances={"USDT": D(10_000)}) as v:
        yield v


def _manager(v: Venue, db: Path) -> ExitManager:
    store = ExitStore(db)
    reader = SdkSpotReader(
        rest_url=v.rest_url,
        ws_api_url=v.spot_ws_api_url,
        api_key=v.api_key,
        api_secret=v.api_secret,
        reconnect_initial_s=0.05,
    )
    trader = SdkSpotTrader(rest_url=v.rest_url, api_key=v.api_key, api_secret=v.api_secret)
    config = ScopeConfig("paper", lambda _p, s: POLICY if s == ETH else None, status_recheck_s=0.5)
    return ExitManager([SpotOps(reader, trader, [ETH], store)], store, config)


def _open_oco(m: ExitManager) -> str | None:
    rows = [
        r for r in m.store.rows() if r.kind is ExitKind.SPOT_OCO and r.status is ExitStatus.OPEN
    ]
    return rows[-1].client_id if rows else None


@pytest.mark.usefixtures("async_watchdog")
async def test_manager_does_not_place_on_cancel_only_and_places_when_it_trades_again(
    venue: Venue, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    v = venue
    m = _manager(v, tmp_path / "s.db")
    await m.start()
    try:
        scope = m.scope(Product.SPOT)
        v.spot.move_balance(v.spot_account, "ETH", D("1.5"))
        await _until(lambda: _open_oco(m) is not None)
        first = _open_oco(m)
        # The symbol goes CANCEL_ONLY (the manager still holds TRADING rules), and the OCO is
        # cancelled at the venue (cancels are allowed): the replacement is refused "Market is
        # closed." once; the status is re-read, and the planner stops placing and says why
        # instead of holding the slot.
        v.spot.set_symbol_status(ETH, "CANCEL_ONLY")
        caplog.set_level(logging.ERROR)
        ol = next(x for x in v.spot.lists.values() if x.list_client_order_id == first)
        v.spot.cancel_order_list(
            v.spot_account, {"symbol": ETH, "orderListId": str(ol.order_list_id)}
        )
        await _until(
            lambda: scope.rules is not None and scope.rules.symbols[ETH].status == "CANCEL_ONLY"
        )
        await _until(lambda: any("CANCEL_ONLY" in why for _s, why in scope.verdicts().values()))
        ((state, why),) = scope.verdicts().values()
        assert state is ProtectionState.BARE and "ETHUSDT is CANCEL_ONLY" in why
        assert m.store.holds() == {}
        refused = [r for r in m.store.rows() if r.status is ExitStatus.REJECTED]
        assert len(refused) == 1 and "Market is closed" in refused[0].reason
        loud = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
        assert "market_closed" in loud, loud
        await asyncio.sleep(0.3)  # several supervisor passes: no further attempt
        assert len([r for r in m.store.rows() if r.status is ExitStatus.REJECTED]) == 1
        # Trading again: the recheck reads it and a new OCO goes in.
        v.spot.set_symbol_status(ETH, "TRADING")
        await _until(lambda: _open_oco(m) not in (None, first))
        await _until(
            lambda: [s for s, _w in scope.verdicts().values()] == [ProtectionState.PROTECTED]
        )
    finally:
        await m.stop()
