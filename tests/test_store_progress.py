"""The store's per-position progress (ladder levels filled, one-shots fired, reference size) and
ladder levels in exit rows: persisted, reset when the position closes, read back after a restart,
and added to a store file written before they existed."""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest

from exitguard.domain.enums import PositionSide, Product, Side
from exitguard.planner.model import ExitKind, PositionProgress, Role, SlotKey
from exitguard.store.exits import ExitStore
from exitguard.store.safety import read_only_copy

D = Decimal
KEY = ("acct", Product.USDM, "BTCUSDT", PositionSide.BOTH)
LEVEL1 = SlotKey("acct", Product.USDM, "BTCUSDT", PositionSide.BOTH, Role.TAKE_PROFIT, 1)
LEVEL2 = SlotKey("acct", Product.USDM, "BTCUSDT", PositionSide.BOTH, Role.TAKE_PROFIT, 2)
STOP = SlotKey("acct", Product.USDM, "BTCUSDT", PositionSide.BOTH, Role.STOP_LOSS)
TIME_STOP = SlotKey("acct", Product.USDM, "BTCUSDT", PositionSide.BOTH, Role.TIME_STOP)


def test_progress_opens_grows_on_scale_in_and_resets_on_close(tmp_path: Path) -> None:
    store = ExitStore(tmp_path / "s.db")
    assert store.track_position(KEY, D("1.0"), 100) == PositionProgress(100, D("1.0"))
    assert store.record_filled_level(LEVEL1, 110)
    assert not store.record_filled_level(LEVEL1, 111)  # once
    assert not store.record_filled_level(STOP, 112)  # not a ladder level
    # A ladder fill shrinks the position: the reference stays (fractions are of the start).
    assert store.track_position(KEY, D("0.7"), 120) == PositionProgress(
        100, D("1.0"), frozenset({1})
    )
    # A scale-in grows the reference by the added amount only.
    assert store.track_position(KEY, D("1.2"), 130) == PositionProgress(
        100, D("1.5"), frozenset({1})
    )
    assert store.record_fired(TIME_STOP, 140)
    assert not store.record_fired(TIME_STOP, 141)
    store.close()
    again = ExitStore(tmp_path / "s.db")  # a restart reads it back
    assert again.progress_of(KEY) == PositionProgress(
        100, D("1.5"), frozenset({1}), frozenset({"time_stop"})
    )
    assert again.progress_for("acct", Product.USDM) == {KEY: again.progress_of(KEY)}
    assert again.progress_for("acct", Product.SPOT) == {}
    assert again.track_position(KEY, D(0), 150) is None  # closed: forgotten
    assert again.progress_of(KEY) is None
    assert again.track_position(KEY, D("0.3"), 160) == PositionProgress(160, D("0.3"))
    again.close()


def test_a_flip_starts_the_plan_afresh(tmp_path: Path) -> None:
    store = ExitStore(":memory:")
    store.track_position(KEY, D("1.0"), 100)
    store.record_filled_level(LEVEL1, 101)
    assert store.track_position(KEY, D("-0.4"), 200) == PositionProgress(200, D("0.4"))


def test_unrecord_fired_lets_a_refused_one_shot_fire_again() -> None:
    store = ExitStore(":memory:")
    store.track_position(KEY, D("1.0"), 100)
    liquidation = SlotKey("acct", Product.USDM, "BTCUSDT", PositionSide.BOTH, Role.LIQUIDATION)
    store.record_fired(liquidation, 101)
    assert store.progress_of(KEY).fired == {"liquidation"}  # type: ignore[union-attr]
    store.unrecord_fired(liquidation, 102)
    assert store.progress_of(KEY) == PositionProgress(100, D("1.0"))
    other = SlotKey("acct", Product.USDM, "ETHUSDT", PositionSide.BOTH, Role.TIME_STOP)
    assert not store.record_fired(other, 1)  # not open


def test_a_rolled_back_transaction_leaves_no_progress() -> None:
    store = ExitStore(":memory:")
    store.track_position(KEY, D("1.0"), 100)
    with pytest.raises(RuntimeError), store.transaction():
        store.record_filled_level(LEVEL2, 101)
        raise RuntimeError("boom")
    assert store.progress_of(KEY) == PositionProgress(100, D("1.0"))


def test_an_exit_row_keeps_its_ladder_level_and_its_hold_key(tmp_path: Path) -> None:
    store = ExitStore(tmp_path / "s.db")
    store.record_intent("c1", LEVEL2, ExitKind.ORDER, Side.SELL, D("0.3"), {}, 1)
    store.hold(LEVEL2, "fp", "refused", 2)
    store.close()
    again = ExitStore(tmp_path / "s.db")
    (row,) = again.blocking("acct", Product.USDM)
    assert row.slot == LEVEL2 and row.known().slot.level == 2
    assert again.holds() == {"acct/usdm/BTCUSDT/BOTH/take_profit#2": ("fp", "refused")}
    assert SlotKey.from_text(next(iter(again.holds()))) == LEVEL2
    again.close()


OLD = """
CREATE TABLE exits (
    client_id TEXT PRIMARY KEY,
    account TEXT NOT NULL, product TEXT NOT NULL, symbol TEXT NOT NULL,
    position_side TEXT NOT NULL, role TEXT NOT NULL,
    kind TEXT NOT NULL, side TEXT NOT NULL, quantity TEXT,
    status TEXT NOT NULL, venue_id INTEGER, child_order_id INTEGER,
    request TEXT NOT NULL, reason TEXT NOT NULL DEFAULT '',
    created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL,
    venue_time_ms INTEGER NOT NULL DEFAULT 0, policy_tag TEXT NOT NULL DEFAULT ''
);
INSERT INTO exits (client_id, account, product, symbol, position_side, role, kind, side,
    quantity, status, request, created_ms, updated_ms)
VALUES ('exg-old', 'acct', 'usdm', 'BTCUSDT', 'BOTH', 'take_profit', 'order', 'SELL', '1',
    'open', '{}', 1, 1);
"""


def test_a_store_without_levels_or_progress_opens_with_them(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    db.executescript(OLD)
    db.commit()
    db.close()
    copy = read_only_copy(path)
    assert copy is not None and [r.slot.level for r in copy.rows()] == [0]
    copy.close()
    for store in (ExitStore.copy_of(path), ExitStore(path)):
        assert [r.slot.level for r in store.rows()] == [0]
        assert store.track_position(KEY, D(1), 5) is not None
        store.close()
