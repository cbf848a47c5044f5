"""The resting-trigger engine: TriggerBook (static stops / take-profits) and TrailingBook.

Both are checked against naive per-order reference implementations on random operation
sequences (same keys fired, same documented order, same tracked extremes), and against the
concrete scenarios of Binance's Spot trailing-stop FAQ (scenarios A-E) and a USD-M
TRAILING_STOP_MARKET example.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exitguard.domain import Side
from exitguard.domain import trailing_book as trb
from exitguard.domain import trigger_book as tb
from exitguard.domain.trailing_book import TrailingBook, TrailingUpdate
from exitguard.domain.trigger_book import TriggerBook
from exitguard.domain.triggers import TriggerDirection, condition_holds, trigger_direction

RISING = TriggerDirection.RISING
FALLING = TriggerDirection.FALLING


def holds(direction: TriggerDirection, price: int, trigger: int) -> bool:
    return condition_holds(direction, Decimal(price), Decimal(trigger))


def linear(start: int, end: int, step: int) -> Iterator[int]:
    """Prices from ``start`` to ``end`` inclusive (a "series of linear trades")."""
    step = step if end >= start else -step
    yield from range(start, end, step)
    yield end


# --------------------------------------------------------------------------------------------
# TriggerBook: concrete behaviour
# --------------------------------------------------------------------------------------------


def test_equality_fires_both_directions() -> None:
    book = TriggerBook()
    book.add(1, RISING, 100)
    book.add(2, FALLING, 90)
    assert book.fire(99) == []
    assert book.fire(91) == []
    assert book.fire(100) == [1]
    assert book.fire(90) == [2]
    assert len(book) == 0


def test_directions_follow_the_binance_tables() -> None:
    # USD-M: STOP BUY fires at >=, STOP SELL at <=, TAKE_PROFIT BUY at <=, TAKE_PROFIT SELL at >=.
    book = TriggerBook()
    book.add(1, trigger_direction("STOP_MARKET", Side.BUY), 105)
    book.add(2, trigger_direction("STOP_MARKET", Side.SELL), 95)
    book.add(3, trigger_direction("TAKE_PROFIT", Side.BUY), 95)
    book.add(4, trigger_direction("TAKE_PROFIT", Side.SELL), 105)
    # Spot: STOP_LOSS* like STOP, TAKE_PROFIT* like TAKE_PROFIT.
    book.add(5, trigger_direction("STOP_LOSS_LIMIT", Side.BUY), 105)
    book.add(6, trigger_direction("TAKE_PROFIT_LIMIT", Side.BUY), 95)
    assert book.fire(100) == []
    assert book.fire(104) == []
    assert book.fire(106) == [1, 4, 5]
    assert book.fire(96) == []
    assert book.fire(94) == [2, 3, 6]


def test_a_price_that_crosses_nothing_leaves_the_book_untouched() -> None:
    book = TriggerBook()
    for key in range(100):
        book.add(key, RISING if key % 2 else FALLING, 1000 + key if key % 2 else 900 - key)
    for price in range(901, 1000):
        assert book.fire(price) == []
    assert len(book) == 100


def test_removal_before_fire() -> None:
    book = TriggerBook()
    book.add(1, FALLING, 100)
    book.add(2, FALLING, 100)
    assert book.remove(1) is True
    assert book.remove(1) is False
    assert 1 not in book and 2 in book
    assert book.fire(50) == [2]
    assert book.remove(2) is False  # already fired
    assert book.remove(99) is False  # never rested


def test_duplicate_keys_and_reuse() -> None:
    book = TriggerBook()
    book.add(7, RISING, 100)
    with pytest.raises(ValueError):
        book.add(7, FALLING, 50)
    assert book.trigger(7) == (RISING, 100)
    # Re-adding after removal: the stale heap entry must not fire the new order.
    assert book.remove(7)
    book.add(7, RISING, 200)
    assert book.fire(150) == []
    assert book.fire(200) == [7]
    # Re-adding after firing.
    book.add(7, FALLING, 10)
    assert book.keys() == [7]
    assert book.fire(10) == [7]


def test_prices_must_be_integers() -> None:
    book = TriggerBook()
    with pytest.raises(TypeError):
        book.add(1, RISING, Decimal("100"))  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        book.add(1, RISING, True)  # type: ignore[arg-type]
    assert len(book) == 0


def test_fire_order_is_path_order_then_placement() -> None:
    book = TriggerBook()
    # Falling: 100 (seq 0), 105 (seq 1), 105 (seq 2), 95 (seq 3); rising: 80 (seq 4), 70 (seq 5).
    book.add(10, FALLING, 100)
    book.add(11, FALLING, 105)
    book.add(12, FALLING, 105)
    book.add(13, FALLING, 95)
    book.add(14, RISING, 80)  # placed already crossed: fires on the first price
    book.add(15, RISING, 70)
    # Falling first, highest trigger first, ties by placement; then rising, lowest first.
    assert book.fire(90) == [11, 12, 10, 13, 15, 14]
    # Same operations again give the same answer (no dependence on hashing or timing).
    again = TriggerBook()
    for key, direction, trig in [
        (10, FALLING, 100),
        (11, FALLING, 105),
        (12, FALLING, 105),
        (13, FALLING, 95),
        (14, RISING, 80),
        (15, RISING, 70),
    ]:
        again.add(key, direction, trig)
    assert again.fire(90) == [11, 12, 10, 13, 15, 14]


def test_tombstones_are_swept() -> None:
    book = TriggerBook()
    for key in range(1000):
        book.add(key, RISING if key % 2 else FALLING, 10_000 + key if key % 2 else 1_000 - key)
    for key in range(100, 1000):
        assert book.remove(key)
    assert len(book) == 100
    heap_entries = len(book._rising) + len(book._falling)
    assert heap_entries <= 2 * len(book) + tb.COMPACT_FLOOR + 1
    fired = book.fire(0) + book.fire(10**9)
    assert sorted(fired) == list(range(100))


# --------------------------------------------------------------------------------------------
# TriggerBook: property test against a naive scan
# --------------------------------------------------------------------------------------------


class NaiveTriggers:
    """Every resting order checked on every price; fired in the documented order."""

    def __init__(self) -> None:
        self.orders: dict[int, tuple[int, TriggerDirection, int]] = {}
        self.seq = 0

    def add(self, key: int, direction: TriggerDirection, trigger: int) -> None:
        if key in self.orders:
            raise ValueError(key)
        self.orders[key] = (self.seq, direction, trigger)
        self.seq += 1

    def remove(self, key: int) -> bool:
        return self.orders.pop(key, None) is not None

    def fire(self, price: int) -> list[int]:
        due = [(k, s, d, t) for k, (s, d, t) in self.orders.items() if holds(d, price, t)]
        falling = sorted((x for x in due if x[2] is FALLING), key=lambda x: (-x[3], x[1]))
        rising = sorted((x for x in due if x[2] is RISING), key=lambda x: (x[3], x[1]))
        fired = [x[0] for x in falling + rising]
        for key in fired:
            del self.orders[key]
        return fired


trigger_ops = st.lists(
    st.one_of(
        st.tuples(
            st.just("add"),
            st.integers(0, 12),
            st.sampled_from([RISING, FALLING]),
            st.integers(80, 120),
        ),
        st.tuples(st.just("remove"), st.integers(0, 12)),
        st.tuples(st.just("fire"), st.integers(75, 125)),
    ),
    max_size=300,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=trigger_ops, floor=st.sampled_from([0, 2, 64]))
def test_trigger_book_matches_naive_scan(ops: list[tuple[object, ...]], floor: int) -> None:
    with (
        mock.patch.object(tb, "COMPACT_FLOOR", floor),
        mock.patch.object(trb, "COMPACT_FLOOR", floor),
    ):
        book = TriggerBook()
        naive = NaiveTriggers()
        for op in ops:
            if op[0] == "add":
                _, key, direction, trig = op
                assert isinstance(key, int) and isinstance(trig, int)
                assert isinstance(direction, TriggerDirection)
                if key in naive.orders:
                    with pytest.raises(ValueError):
                        book.add(key, direction, trig)
                else:
                    naive.add(key, direction, trig)
                    book.add(key, direction, trig)
            elif op[0] == "remove":
                key = op[1]
                assert isinstance(key, int)
                assert book.remove(key) == naive.remove(key)
            else:
                price = op[1]
                assert isinstance(price, int)
                assert book.fire(price) == naive.fire(price)
            assert len(book) == len(naive.orders)
            assert book.keys() == list(naive.orders)
        assert book.fire(10**6) + book.fire(-(10**6)) == naive.fire(10**6) + naive.fire(-(10**6))


# --------------------------------------------------------------------------------------------
# TrailingBook: Spot trailing-stop FAQ scenarios (prices in units of 0.1) and USD-M
# --------------------------------------------------------------------------------------------

SCALE = 10  # 43,012.5 in scenario D needs one decimal


def u(price: float | int) -> int:
    return round(price * SCALE)


def run(book: TrailingBook, path: Iterator[int]) -> list[tuple[int, TrailingUpdate]]:
    """Feed prices; return (price, update) for every price where something happened."""
    return [(p, upd) for p in path if (upd := book.on_price(p))]


def test_spot_scenario_a_stop_loss_buy_with_stop_price() -> None:
    # Last 40,000; STOP_LOSS_LIMIT BUY stopPrice 44,000, trailingDelta 500 (5%).
    book = TrailingBook()
    book.add(
        1, Side.BUY, 500, 10_000, u(40_000), (trigger_direction("STOP_LOSS", Side.BUY), u(44_000))
    )
    # Falls 7.5 % to 37,000: ignored, tracking has not started.
    assert run(book, linear(u(40_000), u(37_000), u(100))) == []
    assert book.extreme(1) is None and not book.is_active(1)
    # Rises: the first trade >= 44,000 starts tracking with lowest = 44,000; continues to 45,000.
    events = run(book, linear(u(37_000), u(45_000), u(100)))
    assert events == [(u(44_000), TrailingUpdate(activated=(1,)))]
    assert book.extreme(1) == u(44_000)
    # To 46,000: ~454 BIPS above 44,000, not enough.
    assert run(book, linear(u(45_000), u(46_000), u(100))) == []
    # Down to 42,000: new lowest.
    assert run(book, linear(u(46_000), u(42_000), u(100))) == []
    assert book.extreme(1) == u(42_000)
    # Up to 44,100 = 42,000 * 1.05: fires exactly there, not one unit before.
    assert run(book, linear(u(42_000), u(44_100) - 1, u(100))) == []
    assert book.on_price(u(44_100)) == TrailingUpdate(fired=(1,))
    assert len(book) == 0


def test_spot_scenario_b_stop_loss_sell_with_stop_price() -> None:
    # Last 40,000; STOP_LOSS_LIMIT SELL stopPrice 39,000, trailingDelta 1000 (10%).
    book = TrailingBook()
    direction = trigger_direction("STOP_LOSS", Side.SELL)
    assert direction is FALLING
    book.add(1, Side.SELL, 1000, 10_000, u(40_000), (direction, u(39_000)))
    assert run(book, linear(u(40_000), u(41_500), u(100))) == []  # the rise is ignored
    events = run(book, linear(u(41_500), u(39_000), u(100)))
    assert events == [(u(39_000), TrailingUpdate(activated=(1,)))]
    assert book.extreme(1) == u(39_000)  # highest = the activating trade, not 41,500
    assert run(book, linear(u(39_000), u(37_000), u(100))) == []  # ~512 BIPS, not enough
    assert run(book, linear(u(37_000), u(41_000), u(100))) == []
    assert book.extreme(1) == u(41_000)
    assert run(book, linear(u(41_000), u(36_900) + 1, u(100))) == []
    assert book.on_price(u(36_900)) == TrailingUpdate(fired=(1,))  # 41,000 * 0.90


def test_spot_scenario_c_take_profit_buy_with_stop_price() -> None:
    # Last 40,000; TAKE_PROFIT_LIMIT BUY stopPrice 38,000, trailingDelta 850 (8.5%).
    book = TrailingBook()
    book.add(
        1, Side.BUY, 850, 10_000, u(40_000), (trigger_direction("TAKE_PROFIT", Side.BUY), u(38_000))
    )
    assert run(book, linear(u(40_000), u(42_000), u(100))) == []
    events = run(book, linear(u(42_000), u(37_000), u(100)))
    assert events == [(u(38_000), TrailingUpdate(activated=(1,)))]
    assert book.extreme(1) == u(37_000)
    assert run(book, linear(u(37_000), u(39_000), u(100))) == []  # ~540 BIPS
    assert run(book, linear(u(39_000), u(38_000), u(100))) == []  # no new lowest
    assert book.extreme(1) == u(37_000)
    assert run(book, linear(u(38_000), u(40_145) - 1, u(100))) == []
    assert book.on_price(u(40_145)) == TrailingUpdate(fired=(1,))  # 37,000 * 1.085


def test_spot_scenario_d_take_profit_sell_with_stop_price() -> None:
    # Last 40,000; TAKE_PROFIT_LIMIT SELL stopPrice 42,000, trailingDelta 750 (7.5%).
    book = TrailingBook()
    book.add(
        1,
        Side.SELL,
        750,
        10_000,
        u(40_000),
        (trigger_direction("TAKE_PROFIT", Side.SELL), u(42_000)),
    )
    assert run(book, linear(u(40_000), u(41_500), u(100))) == []
    assert run(book, linear(u(41_500), u(39_000), u(100))) == []
    events = run(book, linear(u(39_000), u(45_000), u(100)))
    assert events == [(u(42_000), TrailingUpdate(activated=(1,)))]
    assert book.extreme(1) == u(45_000)
    assert run(book, linear(u(45_000), u(44_000), u(100))) == []  # ~222 BIPS
    assert run(book, linear(u(44_000), u(46_500), u(100))) == []
    assert book.extreme(1) == u(46_500)
    assert run(book, linear(u(46_500), u(43_012.5) + 1, u(100))) == []
    assert book.on_price(u(43_012.5)) == TrailingUpdate(fired=(1,))  # 46,500 * 0.925


def test_spot_scenario_e_sell_without_stop_price_tracks_from_placement() -> None:
    # Last 40,000; STOP_LOSS_LIMIT SELL, trailingDelta 700 (7%), no stopPrice.
    book = TrailingBook()
    book.add(1, Side.SELL, 700, 10_000, u(40_000), None)
    assert book.extreme(1) == u(40_000) and book.is_active(1)
    # Without a later high, 40,000 * 0.93 = 37,200 would fire it.
    probe = TrailingBook()
    probe.add(1, Side.SELL, 700, 10_000, u(40_000))
    assert probe.on_price(u(37_200) + 1) == TrailingUpdate()
    assert probe.on_price(u(37_200)) == TrailingUpdate(fired=(1,))
    assert run(book, linear(u(40_000), u(42_000), u(100))) == []
    assert run(book, linear(u(42_000), u(39_500), u(100))) == []  # ~595 BIPS
    assert run(book, linear(u(39_500), u(45_500), u(100))) == []
    assert book.extreme(1) == u(45_500)
    assert run(book, linear(u(45_500), u(42_315) + 1, u(100))) == []
    assert book.on_price(u(42_315)) == TrailingUpdate(fired=(1,))  # 45,500 * 0.93


def test_spot_buy_without_stop_price_mirror() -> None:
    book = TrailingBook()
    book.add(1, Side.BUY, 700, 10_000, u(40_000))
    assert run(book, linear(u(40_000), u(38_000), u(100))) == []
    assert book.extreme(1) == u(38_000)
    assert book.on_price(u(40_660) - 1) == TrailingUpdate()
    assert book.on_price(u(40_660)) == TrailingUpdate(fired=(1,))  # 38,000 * 1.07


def test_usdm_trailing_stop_market_with_activate_price() -> None:
    # Prices in cents. SELL callbackRate 1.5 (%), activatePrice 101.00 above last 100.00.
    book = TrailingBook()
    book.add(1, Side.SELL, 15, 1000, 100_00, (RISING, 101_00))
    # Same rate written differently joins the same group and behaves identically.
    book.add(2, Side.SELL, 3, 200, 100_00, (RISING, 101_00))
    assert book.on_price(100_50) == TrailingUpdate()
    assert book.on_price(98_00) == TrailingUpdate()  # falls before activation: ignored
    assert book.on_price(101_00) == TrailingUpdate(activated=(1, 2))
    assert book.on_price(102_00) == TrailingUpdate()
    assert book.extreme(1) == book.extreme(2) == 102_00
    assert book.on_price(100_48) == TrailingUpdate()
    assert book.on_price(100_47) == TrailingUpdate(fired=(1, 2))  # 102.00 * 0.985


def test_usdm_buy_without_activate_price_starts_at_latest() -> None:
    book = TrailingBook()
    book.add(1, Side.BUY, 10, 1000, 200_00)  # callbackRate 1.0, activatePrice omitted
    assert book.on_price(202_00) == TrailingUpdate(fired=(1,))  # 200.00 * 1.01


def test_trailing_fire_order_is_path_order() -> None:
    book = TrailingBook()
    book.add(1, Side.SELL, 1, 100, 1000)  # fires at <= 990
    book.add(2, Side.SELL, 5, 100, 1000)  # fires at <= 950
    book.add(3, Side.SELL, 2, 100, 1000)  # fires at <= 980
    book.add(4, Side.SELL, 2, 100, 1000)  # same level as 3, placed later
    book.add(5, Side.BUY, 1, 100, 900)  # placed already crossed: fires at >= 909
    book.add(6, Side.BUY, 1, 100, 800)  # fires at >= 808
    assert book.on_price(940) == TrailingUpdate(fired=(1, 3, 4, 2, 6, 5))


def test_zero_rate_fires_on_the_next_price() -> None:
    # Not a Binance rate: the venue re-arms an order held back by priceProtect this way.
    for price in (900, 1000, 1100):
        book = TrailingBook()
        book.add(1, Side.SELL, 0, 1, 1000)
        book.add(2, Side.BUY, 0, 1, 1000)
        assert book.on_price(price) == TrailingUpdate(fired=(1, 2))
    book = TrailingBook()
    book.add(1, Side.SELL, 0, 1, 1000, (RISING, 1100))
    assert book.on_price(1050) == TrailingUpdate()
    assert book.on_price(1100) == TrailingUpdate(activated=(1,), fired=(1,))


def test_out_of_order_reference_is_placed_by_extreme() -> None:
    book = TrailingBook()
    book.add(1, Side.SELL, 1, 10, 100)
    book.on_price(95)
    book.add(2, Side.SELL, 1, 10, 95)
    book.add(3, Side.SELL, 1, 10, 120)  # reference never seen as a price: most extreme
    assert [book.extreme(k) for k in (1, 2, 3)] == [100, 95, 120]
    assert book.on_price(108) == TrailingUpdate(fired=(3,))  # 120 * 0.9
    assert [book.extreme(k) for k in (1, 2)] == [108, 108]


def test_trailing_add_remove_and_validation() -> None:
    book = TrailingBook()
    book.add(1, Side.SELL, 1, 100, 1000)
    book.add(2, Side.SELL, 1, 100, 1000, (RISING, 1100))
    with pytest.raises(ValueError):
        book.add(1, Side.BUY, 1, 100, 1000)
    with pytest.raises(ValueError):
        book.add(3, Side.BUY, 100, 100, 1000)
    with pytest.raises(ValueError):
        book.add(3, Side.BUY, -1, 100, 1000)
    with pytest.raises(TypeError):
        book.add(3, Side.BUY, 1, 100, Decimal(1000))  # type: ignore[arg-type]
    assert len(book) == 2 and 3 not in book
    assert book.extreme(2) is None
    assert book.remove(1) and book.remove(2)
    assert not book.remove(1) and not book.remove(3)
    assert book.on_price(2000) == TrailingUpdate()
    assert book.on_price(1) == TrailingUpdate()
    assert len(book) == 0


def test_trailing_tombstones_are_swept() -> None:
    book = TrailingBook()
    for key in range(1000):
        book.add(key, Side.SELL if key % 2 else Side.BUY, 1 + key % 7, 100, 1000)
    for key in range(100, 1000):
        assert book.remove(key)
    members = sum(len(group.members) for group in book._groups)
    assert len(book) == 100 and members <= 2 * len(book) + tb.COMPACT_FLOOR + 1
    assert len(book._up) <= 2 * len(book._groups) + tb.COMPACT_FLOOR + 1
    assert [book.extreme(k) for k in range(100)] == [1000] * 100
    fired = book.on_price(2000).fired + book.on_price(1).fired
    assert sorted(fired) == list(range(100))


# --------------------------------------------------------------------------------------------
# TrailingBook: property test against naive per-order tracking
# --------------------------------------------------------------------------------------------


@dataclass
class NaiveTrail:
    seq: int
    side: Side
    num: int
    den: int
    activation: tuple[TriggerDirection, int] | None
    ext: int | None


class NaiveTrailing:
    """Each order tracks its own extreme in a plain loop."""

    def __init__(self) -> None:
        self.orders: dict[int, NaiveTrail] = {}
        self.seq = 0

    def add(
        self,
        key: int,
        side: Side,
        num: int,
        den: int,
        ref: int,
        activation: tuple[TriggerDirection, int] | None,
    ) -> None:
        if key in self.orders:
            raise ValueError(key)
        ext = ref if activation is None else None
        self.orders[key] = NaiveTrail(self.seq, side, num, den, activation, ext)
        self.seq += 1

    def remove(self, key: int) -> bool:
        return self.orders.pop(key, None) is not None

    def on_price(self, p: int) -> TrailingUpdate:
        activated: list[tuple[int, NaiveTrail]] = []
        fired: list[tuple[int, NaiveTrail]] = []
        for key, o in self.orders.items():
            if o.ext is None:
                assert o.activation is not None
                if not holds(o.activation[0], p, o.activation[1]):
                    continue
                o.ext = p
                activated.append((key, o))
            if o.side is Side.SELL:
                o.ext = max(o.ext, p)
                if p * o.den <= o.ext * (o.den - o.num):
                    fired.append((key, o))
            else:
                o.ext = min(o.ext, p)
                if p * o.den >= o.ext * (o.den + o.num):
                    fired.append((key, o))

        def act_key(item: tuple[int, NaiveTrail]) -> tuple[bool, int, int]:
            direction, level = item[1].activation  # type: ignore[misc]
            return (direction is RISING, level if direction is RISING else -level, item[1].seq)

        def fire_key(item: tuple[int, NaiveTrail]) -> tuple[bool, Fraction, int]:
            o = item[1]
            assert o.ext is not None
            if o.side is Side.SELL:
                return (False, -Fraction(o.ext * (o.den - o.num), o.den), o.seq)
            return (True, Fraction(o.ext * (o.den + o.num), o.den), o.seq)

        for key, _ in fired:
            del self.orders[key]
        return TrailingUpdate(
            tuple(k for k, _ in sorted(activated, key=act_key)),
            tuple(k for k, _ in sorted(fired, key=fire_key)),
        )


RATES = [(1, 100), (15, 1000), (3, 200), (1, 10), (5, 100), (100, 10_000), (7, 50), (1, 3), (0, 1)]

trailing_ops = st.lists(
    st.one_of(
        st.tuples(
            st.just("add"),
            st.integers(0, 12),
            st.sampled_from([Side.BUY, Side.SELL]),
            st.sampled_from(RATES),
            st.integers(60, 140),
            st.one_of(
                st.none(),
                st.tuples(st.sampled_from([RISING, FALLING]), st.integers(70, 130)),
            ),
        ),
        st.tuples(st.just("remove"), st.integers(0, 12)),
        st.tuples(st.just("tick"), st.integers(60, 140)),
        st.tuples(st.just("walk"), st.lists(st.integers(-4, 4), min_size=1, max_size=30)),
    ),
    max_size=200,
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=trailing_ops, floor=st.sampled_from([0, 3, 64]))
def test_trailing_book_matches_naive_tracking(ops: list[tuple[object, ...]], floor: int) -> None:
    with (
        mock.patch.object(tb, "COMPACT_FLOOR", floor),
        mock.patch.object(trb, "COMPACT_FLOOR", floor),
    ):
        book = TrailingBook()
        naive = NaiveTrailing()
        last = 100

        def tick(price: int) -> None:
            assert book.on_price(price) == naive.on_price(price)

        for op in ops:
            if op[0] == "add":
                _, key, side, rate, ref, activation = op
                assert isinstance(key, int) and isinstance(ref, int) and isinstance(side, Side)
                num, den = rate  # type: ignore[misc]
                if key in naive.orders:
                    with pytest.raises(ValueError):
                        book.add(key, side, num, den, ref, activation)  # type: ignore[arg-type]
                else:
                    naive.add(key, side, num, den, ref, activation)  # type: ignore[arg-type]
                    book.add(key, side, num, den, ref, activation)  # type: ignore[arg-type]
            elif op[0] == "remove":
                key = op[1]
                assert isinstance(key, int)
                assert book.remove(key) == naive.remove(key)
            elif op[0] == "tick":
                last = op[1]  # type: ignore[assignment]
                tick(last)
            else:
                for step in op[1]:  # type: ignore[attr-defined]
                    last = max(1, last + step)
                    tick(last)
            assert len(book) == len(naive.orders)
            assert book.keys() == list(naive.orders)
            for key, o in naive.orders.items():
                assert book.extreme(key) == o.ext
                assert book.is_active(key) == (o.ext is not None)


def test_trailing_many_orders_long_walk_matches_naive() -> None:
    """A longer deterministic run with many orders per group (merges of large runs, sweeps)."""
    import random

    rng = random.Random(20240601)
    book = TrailingBook()
    naive = NaiveTrailing()
    price = 10_000
    next_key = 0
    for _ in range(4000):
        roll = rng.random()
        if roll < 0.3:
            side = rng.choice([Side.BUY, Side.SELL])
            num, den = rng.choice(RATES[:6])
            activation = None
            if rng.random() < 0.5:
                activation = (rng.choice([RISING, FALLING]), price + rng.randint(-300, 300))
            book.add(next_key, side, num, den, price, activation)
            naive.add(next_key, side, num, den, price, activation)
            next_key += 1
        elif roll < 0.4 and naive.orders:
            key = rng.choice(list(naive.orders))
            assert book.remove(key) == naive.remove(key)
        else:
            price = max(1, price + rng.randint(-60, 60))
            assert book.on_price(price) == naive.on_price(price)
    assert len(book) == len(naive.orders)
    for key, o in naive.orders.items():
        assert book.extreme(key) == o.ext
