"""Typed private-event parsing with dedupe keys, and the SQLite exit store."""

from __future__ import annotations

import copy
from decimal import Decimal

import pytest

from exitguard.domain.enums import PositionSide, Product, Side
from exitguard.manager.events import (
    AccountUpdate,
    AlgoUpdate,
    EventParseError,
    OrderUpdate,
    SpotExecution,
    parse_private_event,
)
from exitguard.planner.model import ExitKind, ExitStatus, Role, SlotKey
from exitguard.store.exits import ExitStore, StoreError

# binance-api.md §1.10: a real TRIGGERED payload (nautilus issue #3287).
ALGO = {
    "e": "ALGO_UPDATE",
    "T": 1765431097030,
    "E": 1765431097037,
    "o": {
        "caid": "exg-abc",
        "aid": 1000000033225453,
        "at": "CONDITIONAL",
        "o": "STOP_MARKET",
        "s": "DOGEUSDT",
        "S": "BUY",
        "ps": "BOTH",
        "f": "GTC",
        "q": "38",
        "X": "TRIGGERED",
        "ai": "88937381063",
        "ap": "0",
        "aq": "0",
        "act": "MARKET",
        "tp": "0.13855",
        "p": "0",
        "V": "EXPIRE_MAKER",
        "wt": "CONTRACT_PRICE",
        "pm": "NONE",
        "cp": False,
        "pP": False,
        "R": False,
        "tt": 1765431097019,
        "gtd": 0,
    },
}


def test_algo_update_fields_come_from_the_order_object_not_the_root():
    payload = copy.deepcopy(ALGO)
    # Misleading root fields must be ignored (seed 001: read algoOrder.*).
    payload.update({"s": "BTCUSDT", "X": "CANCELED", "caid": "someone-else"})
    ev = parse_private_event(payload)
    assert isinstance(ev, AlgoUpdate)
    assert (ev.client_algo_id, ev.symbol, ev.position_side, ev.order_type, ev.status) == (
        "exg-abc",
        "DOGEUSDT",
        PositionSide.BOTH,
        "STOP_MARKET",
        "TRIGGERED",
    )
    assert ev.actual_order_id == 88937381063  # "ai" is a string on the wire
    assert ev.side is Side.BUY


def test_dedupe_key_is_stable_across_redelivery_and_differs_per_state_change():
    a = parse_private_event(copy.deepcopy(ALGO))
    b = parse_private_event(copy.deepcopy(ALGO) | {"E": 1765431099999})  # re-sent later
    assert a.dedupe_key == b.dedupe_key
    finished = copy.deepcopy(ALGO)
    finished["o"]["X"] = "FINISHED"
    assert parse_private_event(finished).dedupe_key != a.dedupe_key


def test_order_trade_update_trade_key_uses_trade_id():
    payload = {
        "e": "ORDER_TRADE_UPDATE",
        "E": 1,
        "T": 1,
        "o": {
            "s": "BTCUSDT",
            "c": "x",
            "S": "SELL",
            "o": "MARKET",
            "x": "TRADE",
            "X": "FILLED",
            "i": 7,
            "l": "0.5",
            "z": "0.5",
            "L": "49000",
            "t": 99,
            "R": True,
            "ps": "BOTH",
        },
    }
    ev = parse_private_event(payload)
    assert isinstance(ev, OrderUpdate)
    assert ev.dedupe_key == "usdm:trade:7:99"
    assert ev.last_qty == Decimal("0.5") and ev.reduce_only is True


def test_account_update_positions():
    payload = {
        "e": "ACCOUNT_UPDATE",
        "E": 5,
        "T": 4,
        "a": {
            "m": "ORDER",
            "B": [],
            "P": [{"s": "BTCUSDT", "pa": "-0.25", "ep": "50000.1", "ps": "BOTH"}],
        },
    }
    ev = parse_private_event(payload)
    assert isinstance(ev, AccountUpdate)
    assert ev.positions[0].amount == Decimal("-0.25")
    assert ev.reason == "ORDER"


def test_spot_event_wrapped_by_the_ws_api_is_unwrapped():
    inner = {
        "e": "executionReport",
        "E": 1,
        "s": "ETHUSDT",
        "c": "exg-1",
        "S": "SELL",
        "o": "STOP_LOSS",
        "x": "NEW",
        "X": "NEW",
        "i": 5,
        "l": "0",
        "z": "0",
        "L": "0",
        "t": -1,
        "g": -1,
        "r": "NONE",
        "C": "",
    }
    ev = parse_private_event({"subscriptionId": 0, "event": inner})
    assert isinstance(ev, SpotExecution) and ev.product is Product.SPOT
    assert ev.client_order_id == "exg-1"


def test_unreadable_payload_names_event_and_field():
    bad = copy.deepcopy(ALGO)
    bad["o"]["aid"] = "not-a-number"
    with pytest.raises(EventParseError, match="ALGO_UPDATE: field 'aid'"):
        parse_private_event(bad)
    missing = copy.deepcopy(ALGO)
    del missing["o"]["caid"]
    with pytest.raises(EventParseError, match="'caid'"):
        parse_private_event(missing)


def test_unused_event_types_are_ignored():
    assert parse_private_event({"e": "MARGIN_CALL"}) is None


SLOT = SlotKey("acct", Product.USDM, "BTCUSDT", PositionSide.BOTH, Role.STOP_LOSS)


def _store(tmp_path) -> ExitStore:
    return ExitStore(tmp_path / "state.db")


def test_intent_survives_reopen_and_cannot_be_written_twice(tmp_path):
    store = _store(tmp_path)
    store.record_intent("exg-1", SLOT, ExitKind.ALGO, Side.SELL, None, {"a": "b"}, 10)
    with pytest.raises(StoreError, match="exg-1"):
        store.record_intent("exg-1", SLOT, ExitKind.ALGO, Side.SELL, None, {}, 11)
    store.close()
    again = _store(tmp_path)
    row = again.get("exg-1")
    assert row is not None and row.status is ExitStatus.INTENT and row.request == {"a": "b"}
    assert [r.client_id for r in again.blocking("acct", Product.USDM)] == ["exg-1"]


def test_stream_evidence_is_monotonic_but_hydration_is_authoritative(tmp_path):
    store = _store(tmp_path)
    store.record_intent("exg-1", SLOT, ExitKind.ALGO, Side.SELL, None, {}, 1)
    assert store.update("exg-1", ExitStatus.OPEN, 2)
    assert not store.update("exg-1", ExitStatus.PENDING, 3)  # a late ack never goes back
    assert store.update("exg-1", ExitStatus.CANCELED, 4)
    assert not store.update("exg-1", ExitStatus.OPEN, 5)  # stale NEW after CANCELED
    assert store.get("exg-1").status is ExitStatus.CANCELED
    # REST says it is open right now: the open state wins over the older terminal row.
    assert store.update("exg-1", ExitStatus.OPEN, 6, authoritative=True)
    assert store.get("exg-1").status is ExitStatus.OPEN


def test_journal_applies_each_key_once(tmp_path):
    store = _store(tmp_path)
    assert store.mark_applied("k", 1)
    assert not store.mark_applied("k", 2)
    assert store.seen("k")


def test_holds_and_child_link(tmp_path):
    store = _store(tmp_path)
    store.hold(SLOT, "0.5@50000", "alert", 1)
    assert store.holds() == {SLOT.text(): ("0.5@50000", "alert")}
    store.release(SLOT)
    assert store.holds() == {}
    store.record_intent("exg-2", SLOT, ExitKind.ALGO, Side.SELL, None, {}, 1)
    store.update("exg-2", ExitStatus.TRIGGERED, 2, venue_id=11, child_order_id=77)
    assert store.by_child_order(77).client_id == "exg-2"
    assert store.by_venue_id(ExitKind.ALGO, 11).client_id == "exg-2"
