"""A store written by an older exitguard (no ``policy_tag`` column, no ``overrides`` table)
opens and reads: its exits belong to the config's plan (tag "")."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from exitguard.store.exits import ExitStore
from exitguard.store.safety import read_only_copy

OLD_EXITS = """
CREATE TABLE exits (
    client_id TEXT PRIMARY KEY,
    account TEXT NOT NULL, product TEXT NOT NULL, symbol TEXT NOT NULL,
    position_side TEXT NOT NULL, role TEXT NOT NULL,
    kind TEXT NOT NULL, side TEXT NOT NULL, quantity TEXT,
    status TEXT NOT NULL, venue_id INTEGER, child_order_id INTEGER,
    request TEXT NOT NULL, reason TEXT NOT NULL DEFAULT '',
    created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL, venue_time_ms INTEGER NOT NULL DEFAULT 0
);
INSERT INTO exits (client_id, account, product, symbol, position_side, role, kind, side,
    quantity, status, request, created_ms, updated_ms)
VALUES ('exg-old', 'acct', 'usdm', 'BTCUSDT', 'BOTH', 'stop_loss', 'algo', 'SELL', NULL, 'open',
    '{}', 1, 1);
"""


def test_an_older_store_opens_and_its_exits_keep_the_config_plan(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    db.executescript(OLD_EXITS)
    db.commit()
    db.close()
    copy = read_only_copy(path)  # status / plan read a copy, never the file itself
    assert copy is not None
    assert [(r.client_id, r.policy_tag) for r in copy.rows()] == [("exg-old", "")]
    copy.close()
    store = ExitStore(path)
    try:
        assert [(r.client_id, r.policy_tag) for r in store.rows()] == [("exg-old", "")]
        store.overrides.put("pause", "acct/usdm", {}, "", 5)
        assert store.overrides.get("pause", "acct/usdm") is not None
    finally:
        store.close()
    again = ExitStore(path)  # the pause survives a restart
    try:
        assert again.overrides.get("pause", "acct/usdm") is not None
    finally:
        again.close()
