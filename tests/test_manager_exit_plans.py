"""The manager's exit-plan parts on their own: the wake timer's rounds, the market book, the
order of a Spot one-shot's cancels, the one-shot's write-ahead record, and a ladder level's fill
recorded with its status."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from exitguard.domain.enums import PositionSide, Product, Side
from exitguard.domain.requests import SpotOrderRequest
from exitguard.manager.exit_plans import WakeTimer, one_shots_last, send_one_shot
from exitguard.manager.market import MarketBook
from exitguard.planner.model import CancelExit, ExitKind, ExitStatus, PlaceExit, Role, SlotKey
from exitguard.store.exits import ExitStore

D = Decimal
POS = ("acct", Product.USDM, "BTCUSDT", PositionSide.BOTH)


def slot(role: Role, level: int = 0, product: Product = Product.USDM) -> SlotKey:
    return SlotKey("acct", product, "BTCUSDT", PositionSide.BOTH, role, level)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000

    def __call__(self) -> int:
        return self.now


def test_the_timer_wakes_once_at_the_time_it_waits_for_even_after_a_jump() -> None:
    clock = Clock()
    wakes: list[int | None] = [5_000]
    queued: list[str] = []
    timer = WakeTimer(clock, lambda: wakes[0], queued.append, cap_s=1.0)
    assert timer.round_delay_s(False) == 1.0  # 4 s away: capped
    clock.now = 4_900
    assert timer.round_delay_s(False) == 0.1
    assert queued == []
    # The clock jumps past it; next_wake_ms names only future times (the next ROI step here).
    clock.now, wakes[0] = 9_000, 20_000
    assert timer.round_delay_s(False) == 1.0
    assert queued == ["timer"] and timer.wakes == 1
    assert timer.round_delay_s(False) == 1.0 and queued == ["timer"]  # once
    wakes[0] = None  # the ROI table's last step: nothing more to wait for after it
    clock.now = 30_000
    timer.round_delay_s(False)
    assert queued == ["timer", "timer"] and timer.wakes == 2  # the 20 s step, once
    timer.round_delay_s(False)
    assert queued == ["timer", "timer"]
    timer.round_delay_s(True)
    assert queued == ["timer", "timer", "market"]  # new marks or liquidation prices


def test_the_market_book_keeps_fresh_marks_and_each_products_liquidations() -> None:
    book = MarketBook()
    book.set_mark(Product.USDM, "BTCUSDT", D(50000), 1_000)
    book.set_mark(Product.USDM, "ETHUSDT", D(3000), 9_000)
    assert book.marks_of(Product.USDM, 10_000, 5_000) == {(Product.USDM, "ETHUSDT"): D(3000)}
    book.set_liquidations(Product.USDM, {("BTCUSDT", PositionSide.BOTH): D(40000)}, 10_000)
    assert book.liquidation(Product.USDM, "BTCUSDT", PositionSide.BOTH) == D(40000)
    book.set_liquidations(Product.USDM, {("BTCUSDT", PositionSide.BOTH): D(0)}, 11_000)
    assert book.liquidation(Product.USDM, "BTCUSDT", PositionSide.BOTH) is None  # 0: no risk
    assert book.age_ms(Product.USDM, ["ETHUSDT"], 12_000) == 3_000
    assert book.age_ms(Product.USDM, ["SOLUSDT"], 12_000) is None


def test_spot_cancels_of_a_closing_position_go_first() -> None:
    req = SpotOrderRequest(symbol="BTCUSDT", side=Side.SELL, type="MARKET", quantity=D(1))
    close = PlaceExit(slot(Role.TIME_STOP, product=Product.SPOT), req, "time stop due")
    cancel = CancelExit(slot(Role.OCO, 2, Product.SPOT), "c2", ExitKind.SPOT_OCO, "time stop")
    other = PlaceExit(slot(Role.OCO, 1, Product.SPOT), req, "x")
    assert one_shots_last(Product.SPOT, [close, other, cancel]) == [cancel, close, other]
    assert one_shots_last(Product.USDM, [close, cancel]) == [close, cancel]


class FakeScope:
    def __init__(self, store: ExitStore) -> None:
        self.store = store
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.ops = type("Ops", (), {"can_mutate": True})()

    def now_ms(self) -> int:
        return 2_000

    def emit(self, kind: str, **data: Any) -> None:
        self.events.append((kind, data))


async def test_a_one_shot_is_recorded_before_it_is_sent_and_taken_back_when_refused() -> None:
    store = ExitStore(":memory:")
    store.track_position(POS, D(1), 1_000)
    scope = FakeScope(store)
    req = SpotOrderRequest(symbol="BTCUSDT", side=Side.SELL, type="MARKET", quantity=D(1))
    action = PlaceExit(slot(Role.TIME_STOP), req, "due")
    seen: list[frozenset[str]] = []

    async def place() -> None:
        progress = store.progress_of(POS)
        assert progress is not None
        seen.append(progress.fired)  # what a crash at this moment leaves behind
        return None

    await send_one_shot(scope, action, place, lambda: True)  # type: ignore[arg-type]
    assert seen == [frozenset({"time_stop"})]
    assert store.progress_of(POS).fired == frozenset()  # type: ignore[union-attr]
    # Outcome unknown (its row still blocks): the record stays, it is never sent twice.
    store.record_intent("c1", action.slot, ExitKind.ORDER, Side.SELL, D(1), {}, 2_000)
    store.update("c1", ExitStatus.UNKNOWN, 2_001)
    await send_one_shot(scope, action, place, lambda: False)  # type: ignore[arg-type]
    assert store.progress_of(POS).fired == frozenset({"time_stop"})  # type: ignore[union-attr]


def test_a_level_fill_is_recorded_with_its_status_but_not_a_stop_legs() -> None:
    store = ExitStore(":memory:")
    store.track_position(POS, D(1), 1_000)
    store.record_intent("tp2", slot(Role.TAKE_PROFIT, 2), ExitKind.ORDER, Side.SELL, D(1), {}, 1)
    store.record_intent("tp3", slot(Role.TAKE_PROFIT, 3), ExitKind.ORDER, Side.SELL, D(1), {}, 1)
    store.record_intent("sl", slot(Role.STOP_LOSS), ExitKind.ALGO, Side.SELL, None, {}, 1)
    with store.transaction():
        store.update("tp2", ExitStatus.FILLED, 5)
        store.update("tp3", ExitStatus.FILLED, 5, level_fill=False)  # e.g. a Spot stop leg
        store.update("sl", ExitStatus.FINISHED, 5)
    assert store.progress_of(POS).filled_levels == frozenset({2})  # type: ignore[union-attr]
