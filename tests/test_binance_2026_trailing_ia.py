"""USD-M trailing stops since 2026-08 (derivatives change log 2026-08-07 / 08-21): a trailing
stop sends a second NEW ``ALGO_UPDATE`` with ``ia`` true when its activation price is reached.
The venue emits it (``test_venue_usdm_core``: ``[("NEW", False), ("NEW", True)]``); here the
manager parses it, applies it once (not as a redelivery of the first NEW, not as a new exit),
keeps the exit OPEN and places nothing. Servers bind 127.0.0.1 port 0; waits are bounded."""

from __future__ import annotations

import copy
from decimal import Decimal

import pytest

from exitguard.domain.enums import Product, Side
from exitguard.manager.events import AlgoUpdate, parse_private_event
from exitguard.planner.model import ExitStatus
from exitguard.planner.policy import Distance, ProtectionPolicy, TrailingPolicy
from exitguard.venue.clock import RealtimeClock
from exitguard.venue.server import Venue
from test_manager_e2e import account, make_manager, open_algo_ids, until
from test_manager_events_store import ALGO

D = Decimal


def _trailing_new(ia: bool | None) -> dict[str, object]:
    payload = copy.deepcopy(ALGO)
    o = payload["o"]
    assert isinstance(o, dict)
    o.update({"o": "TRAILING_STOP_MARKET", "X": "NEW", "ai": ""})
    o.pop("ia", None)
    if ia is not None:
        o["ia"] = ia
    return payload


def test_second_new_with_ia_has_its_own_dedupe_key() -> None:
    first = parse_private_event(_trailing_new(False))
    second = parse_private_event(_trailing_new(True))
    absent = parse_private_event(_trailing_new(None))
    assert isinstance(first, AlgoUpdate) and isinstance(second, AlgoUpdate)
    assert (first.activated, second.activated, absent.activated) == (False, True, False)  # type: ignore[union-attr]
    assert first.dedupe_key == absent.dedupe_key != second.dedupe_key  # type: ignore[union-attr]
    assert parse_private_event(_trailing_new(True)).dedupe_key == second.dedupe_key  # type: ignore[union-attr]


@pytest.mark.usefixtures("async_watchdog")
async def test_manager_applies_the_activation_new_once_and_keeps_one_open_exit(tmp_path) -> None:
    async with Venue(clock=RealtimeClock(), feed=None) as v:
        v.set_price("BTCUSDT", last=D(50000), mark=D(50000))
        v.exchange.open_position(account(v), "BTCUSDT", Side.BUY, D("0.5"))
        policy = ProtectionPolicy(
            trailing=TrailingPolicy(callback_rate=D(1), activation=Distance(percent=D(1)))
        )
        m = make_manager(v, tmp_path / "s.db", policy)
        await m.start()
        try:
            scope = m.scope(Product.USDM)
            (row,) = m.store.blocking("paper", Product.USDM)
            await until(lambda: m.store.get(row.client_id).status is ExitStatus.OPEN)
            applied = scope.stats.events_applied
            placed = scope.stats.placed
            v.set_price("BTCUSDT", last=D(50600), mark=D(50600))  # past the 1 % activation
            await until(lambda: any(k == "trailing_activated" for k, _ in m.events))
            said = [d for k, d in m.events if k == "trailing_activated"]
            assert [(d["client_id"], d["slot"]) for d in said] == [(row.client_id, row.slot.text())]
            assert scope.stats.events_applied == applied + 1
            assert m.store.get(row.client_id).status is ExitStatus.OPEN
            assert open_algo_ids(v) == [row.client_id] and scope.stats.placed == placed
            (state, _why) = next(iter(scope.verdicts().values()))
            assert state.value == "protected"
        finally:
            await m.stop()
