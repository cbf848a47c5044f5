"""The protection signal and the retry schedule: loud when bare, quiet when protected."""

from __future__ import annotations

import logging
import random
from decimal import Decimal

from exitguard.domain.enums import PositionSide, Product, Side
from exitguard.manager.health import HealthBoard, ProtectionState, event_level
from exitguard.manager.retry import RetryBook
from exitguard.manager.verdicts import position_verdicts
from exitguard.planner.model import ExitKind, ExitStatus, KnownExit, Position, Role, SlotKey
from exitguard.planner.plan import PlanInput
from exitguard.planner.policy import Distance, ProtectionPolicy, StopLossPolicy
from manager_fakes import USDM_RULES

D = Decimal
POS = "acct/usdm/BTCUSDT/BOTH"


def board() -> tuple[HealthBoard, list[tuple[str, dict]]]:
    b = HealthBoard(bare_error_after_s=10, bare_reminder_s=30)
    seen: list[tuple[str, dict]] = []
    b.subscribe(lambda kind, data: seen.append((kind, data)))
    return b, seen


def test_bare_is_warned_at_once_escalated_after_10s_and_reminded():
    b, seen = board()
    b.update("acct/usdm", {POS: (ProtectionState.BARE, "stop_loss: no exit")}, 0)
    assert [k for k, _ in seen] == ["position_bare"]
    assert event_level("position_bare") == logging.WARNING
    b.update("acct/usdm", {POS: (ProtectionState.BARE, "stop_loss: no exit")}, 9_999)
    assert len(seen) == 1
    b.update("acct/usdm", {POS: (ProtectionState.BARE, "stop_loss: no exit")}, 10_000)
    assert seen[-1][0] == "position_still_bare" and seen[-1][1]["bare_s"] == 10.0
    assert event_level("position_still_bare") == logging.ERROR
    b.update("acct/usdm", {POS: (ProtectionState.BARE, "x")}, 39_999)
    assert len(seen) == 2
    b.update("acct/usdm", {POS: (ProtectionState.BARE, "x")}, 40_000)
    assert len(seen) == 3  # reminded every 30 s while bare
    b.update("acct/usdm", {POS: (ProtectionState.PROTECTED, "")}, 41_000)
    assert seen[-1] == ("position_protected", {"position": POS, "bare_s": 41.0})
    assert b.ok()


def test_bare_since_survives_bare_to_degraded_and_is_persisted():
    b, _seen = board()
    rows: dict[str, tuple[str, int, str]] = {}

    def persist(position: str, state: str, since: int, reason: str) -> None:
        rows[position] = (state, since, reason)

    b.update("acct/usdm", {POS: (ProtectionState.BARE, "a")}, 100, persist)
    b.update("acct/usdm", {POS: (ProtectionState.DEGRADED, "b")}, 500, persist)
    assert rows[POS] == ("degraded", 100, "b")
    forgotten: list[str] = []
    b.update("acct/usdm", {}, 600, persist, forgotten.append)
    assert forgotten == [POS] and b.positions == {}


def test_protected_positions_are_not_logged():
    b, seen = board()
    for t in range(0, 100_000, 1000):
        b.update("acct/usdm", {POS: (ProtectionState.PROTECTED, "")}, t)
    assert seen == []


def test_backoff_grows_is_capped_and_respects_retry_after():
    book: RetryBook[str] = RetryBook(0.25, 4.0, random.Random(1))
    delays = [book.failed("k", 0, "x").not_before_ms for _ in range(8)]
    assert delays[0] <= 250 and max(delays) <= 4000
    assert delays[-1] >= 2000  # capped at 4 s, jitter keeps it in [2, 4] s
    after = book.failed("r", 0, "429", retry_after_s=7).not_before_ms
    assert after >= 7000  # never sooner than Retry-After
    assert not book.due("r", 6999) and book.due("r", 7000 + 4000)
    book.succeeded("r")
    assert book.due("r", 0)


def test_verdicts_name_the_missing_slot_and_why():
    policy = ProtectionPolicy(stop_loss=StopLossPolicy(Distance(percent=D(2))))
    pos = Position("acct", Product.USDM, "BTCUSDT", PositionSide.BOTH, D("0.5"), D(50000))
    slot = SlotKey("acct", Product.USDM, "BTCUSDT", PositionSide.BOTH, Role.STOP_LOSS)

    def inp(*exits: KnownExit) -> PlanInput:
        return PlanInput(
            (pos,), exits, {(Product.USDM, "BTCUSDT"): policy}, {Product.USDM: USDM_RULES}
        )

    book: RetryBook[SlotKey] = RetryBook(0.25, 4.0)
    assert position_verdicts(inp(), {}, book.get, None) == {
        POS: (ProtectionState.BARE, "stop_loss: no exit")
    }
    book.failed(slot, 0, "transient -1003")
    (state, why) = position_verdicts(inp(), {}, book.get, None)[POS]
    assert state is ProtectionState.BARE and "retrying (transient -1003), attempt 1" in why
    held = position_verdicts(inp(), {slot.text(): "alert: market past"}, book.get, None)
    assert held[POS][1] == "stop_loss: held: alert: market past"
    live = KnownExit("c1", slot, ExitKind.ALGO, ExitStatus.OPEN, Side.SELL, None, 1)
    assert position_verdicts(inp(live), {}, book.get, None)[POS] == (
        ProtectionState.PROTECTED,
        "",
    )
    unknown = KnownExit("c2", slot, ExitKind.ALGO, ExitStatus.UNKNOWN, Side.SELL, None, 1)
    assert (
        "outcome of c2 not known yet" in position_verdicts(inp(unknown), {}, book.get, None)[POS][1]
    )
    degraded = position_verdicts(inp(live), {}, book.get, "store write failed")
    assert degraded[POS][0] is ProtectionState.DEGRADED
