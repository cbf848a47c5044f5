"""Shared by the exit-plan end-to-end tests: the paper venue on a clock the test can move, the
manager built from the official SDK adapters as ``exitguard run`` builds it, and an invariant
checker that reads the venue's own state.

Clock: the venue runs on wall time plus a shift the test advances (``ShiftedClock``), and the
manager reads the same clock (its ``now_ms``), so "the position has been held for 10 minutes"
is true for both without waiting. The SDK signs requests with the wall clock: the venue's
``clock_skew_ms`` fault takes the shift back off ``serverTime`` for the signature check only
(venue/control.py), so requests stay inside ``recvWindow`` while orders, fills and events carry
the shifted time.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from exitguard.adapters.usdm_reader import SdkUsdmReader
from exitguard.adapters.usdm_trader import SdkUsdmTrader
from exitguard.domain.enums import Product
from exitguard.manager.ops import UsdmOps
from exitguard.manager.scope import ScopeConfig
from exitguard.manager.service import ExitManager
from exitguard.planner.model import Role
from exitguard.planner.policy import ProtectionPolicy
from exitguard.store.exits import ExitRow, ExitStore
from exitguard.venue.clock import RealtimeClock
from exitguard.venue.server import Venue

D = Decimal
LIVE_ALGO = ("NEW", "TRIGGERING", "TRIGGERED")
LIVE_ORDER = ("NEW", "PARTIALLY_FILLED")
STOP_TYPES = ("STOP_MARKET", "STOP")


class ShiftedClock(RealtimeClock):
    """Wall time plus ``shift_ms``, which a test advances (never backwards)."""

    __slots__ = ("shift_ms",)

    def __init__(self) -> None:
        self.shift_ms = 0
        super().__init__(time_ns=lambda: time.time_ns() + self.shift_ms * 1_000_000)


def advance(v: Venue, ms: int) -> None:
    """Move the venue's (and the manager's) clock forward by ``ms``; signatures still pass."""
    clock = v.clock
    assert isinstance(clock, ShiftedClock)
    clock.shift_ms += ms
    v.context.faults.clock_skew_ms = -clock.shift_ms


def usdm_manager(v: Venue, db: Path, policy: ProtectionPolicy, **cfg: Any) -> ExitManager:
    reader = SdkUsdmReader(
        rest_url=v.rest_url,
        ws_streams_url=v.ws_streams_url,
        api_key=v.api_key,
        api_secret=v.api_secret,
        reconnect_initial_s=0.05,
    )
    trader = SdkUsdmTrader(rest_url=v.rest_url, api_key=v.api_key, api_secret=v.api_secret)
    cfg.setdefault("wake_cap_s", 0.2)
    cfg.setdefault("market_poll_s", 0.2)
    return ExitManager(
        [UsdmOps(reader, trader)],
        ExitStore(db),
        ScopeConfig("paper", lambda _p, _s: policy, **cfg),
        now_ms=v.clock.now_ms,
    )


async def until(cond: Callable[[], bool], timeout_s: float = 15.0, what: str = "") -> None:
    try:
        async with asyncio.timeout(timeout_s):
            while not cond():
                await asyncio.sleep(0.01)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what or cond}") from None


async def settle(m: ExitManager, pause_s: float = 0.3) -> None:
    """Let events reach the manager and its passes finish (bounded)."""
    await asyncio.sleep(pause_s)
    for scope in m.scopes.values():
        await scope.wait_idle(timeout_s=10)


def live_rows(m: ExitManager, product: Product = Product.USDM) -> dict[str, ExitRow]:
    """slot text -> the one blocking row of each slot (asserts there is one per slot)."""
    rows = m.store.blocking("paper", product)
    per = Counter(r.slot.text() for r in rows)
    assert all(n == 1 for n in per.values()), f"duplicate exits per slot: {per}"
    return {r.slot.text(): r for r in rows}


def slot_of(m: ExitManager, role: Role, level: int = 0, side: str = "BOTH") -> ExitRow | None:
    for r in m.store.blocking("paper", Product.USDM):
        if r.slot.role is role and r.slot.level == level and r.slot.position_side.value == side:
            return r
    return None


@dataclass
class UsdmInvariants:
    """Checks the venue at every user-data event it emits (the venue calls us synchronously,
    in the middle of its own work, so this is every state a client could ever observe):

    - a position that has had a stop is never without one (a live STOP_MARKET algo order on
      its side) until it is flat: a moved stop is placed before the old one goes;
    - no client id is live twice, and (``check``, after the manager settled) each app slot has
      at most one live exit at the venue.
    """

    v: Venue
    protected: set[tuple[str, str]] = field(default_factory=set)
    violations: list[str] = field(default_factory=list)
    events: int = 0

    def __post_init__(self) -> None:
        self.v.exchange.subscribe(self.v.account, self._on_event)

    def close(self) -> None:
        self.v.exchange.unsubscribe(self.v.account, self._on_event)

    def stops(self) -> Counter[tuple[str, str]]:
        algos = self.v.exchange.algo.orders.values()
        return Counter(
            (a.symbol, a.position_side.value)
            for a in algos
            if a.status in LIVE_ALGO and a.type in STOP_TYPES
        )

    def positions(self) -> dict[tuple[str, str], Decimal]:
        return {
            (p.symbol, p.position_side.value): p.amount
            for p in self.v.account.positions.values()
            if p.amount != 0
        }

    def _on_event(self, event: dict[str, Any]) -> None:
        self.events += 1
        stops = self.stops()
        positions = self.positions()
        for key in list(self.protected):
            if key not in positions:
                self.protected.discard(key)
        for key in positions:
            if stops[key]:
                self.protected.add(key)
            elif key in self.protected:
                self.violations.append(f"{key} bare at event {event.get('e')} {event.get('o')}")

    def check(self, m: ExitManager, *, stop_expected: bool = True) -> None:
        """After the manager settled: every open position has a stop (when the plan has one),
        each app slot one live exit at the venue, and the store agrees with the venue."""
        assert not self.violations, self.violations
        stops = self.stops()
        if stop_expected:
            for key in self.positions():
                assert stops[key] >= 1, f"{key} has no stop at the venue"
        rows = {r.client_id: r for r in m.store.rows()}
        live = [a.client_algo_id for a in self.v.exchange.algo.orders.values() if a.open] + [
            o.client_order_id
            for o in self.v.exchange.orders.values()
            if o.status in LIVE_ORDER and o.client_order_id in rows
        ]
        assert len(live) == len(set(live)), f"a client id is live twice: {live}"
        per_slot = Counter(rows[c].slot.text() for c in live if c in rows)
        assert all(n == 1 for n in per_slot.values()), f"duplicate exits per slot: {per_slot}"
        blocking = {r.client_id for r in m.store.blocking("paper", Product.USDM)}
        assert set(c for c in live if c in rows) == blocking, (live, blocking)


def algo(v: Venue, client_id: str) -> Any:
    return next(a for a in v.exchange.algo.orders.values() if a.client_algo_id == client_id)


def order(v: Venue, client_id: str) -> Any:
    return next(o for o in v.exchange.orders.values() if o.client_order_id == client_id)
