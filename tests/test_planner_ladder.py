"""The scale-out ladder in the planner: level quantities, merges, runner, orders per product."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from exitguard.domain.enums import PositionMode, PositionSide, Side
from exitguard.domain.requests import (
    AlgoOrderRequest,
    FuturesOrderRequest,
    SpotOcoRequest,
    SpotOrderRequest,
)
from exitguard.planner.ladder import split_ladder
from exitguard.planner.model import ReplaceExit, Role, SlotKey
from exitguard.planner.plan import plan_exits
from exitguard.planner.policy import (
    Distance,
    LadderLevel,
    ProtectionPolicy,
    StopLossPolicy,
    TrailingPolicy,
)
from planner_support import (
    SPOT,
    USDM,
    D,
    apply,
    assert_valid,
    by_slot,
    inp,
    prog,
    settled,
    spot_pos,
    usdm_pos,
)

BTC = USDM.get("BTCUSDT")
assert BTC is not None


def ladder(*levels: tuple[str, str]) -> tuple[LadderLevel, ...]:
    return tuple(LadderLevel(Distance(percent=D(p)), D(f)) for p, f in levels)


STOP = StopLossPolicy(Distance(percent=D(2)))
THIRDS = ProtectionPolicy(
    stop_loss=STOP, ladder=ladder(("1", "0.33"), ("2", "0.33"), ("3", "0.34"))
)


def levels_of(actions: list) -> dict[int, tuple[Decimal, Decimal]]:
    return {
        a.slot.level: (
            a.request.price if a.slot.role is not Role.OCO else a.request.above.price,
            a.request.quantity,
        )
        for a in actions
        if a.slot.level
    }


def test_usdm_ladder_one_reduce_only_limit_per_level_and_one_close_position_stop():
    pos = usdm_pos("1.000")
    actions = plan_exits(inp([pos], THIRDS))
    assert_valid(actions)
    slots = by_slot(actions)
    stop = slots[SlotKey("acct", pos.product, "BTCUSDT", pos.position_side, Role.STOP_LOSS)]
    assert isinstance(stop.request, AlgoOrderRequest) and stop.request.close_position
    assert levels_of(actions) == {
        1: (D("50500"), D("0.330")),
        2: (D("51000"), D("0.330")),
        3: (D("51500"), D("0.340")),
    }
    for a in actions:
        if a.slot.level:
            assert isinstance(a.request, FuturesOrderRequest)
            assert a.request.type == "LIMIT" and a.request.reduce_only is True
            assert a.slot.role is Role.TAKE_PROFIT and a.slot.text().endswith(
                f"take_profit#{a.slot.level}"
            )
    settled(inp([pos], THIRDS))


def test_last_level_takes_the_step_dust_when_fractions_sum_to_one():
    pos = usdm_pos("0.011")
    actions = plan_exits(inp([pos], THIRDS))
    # floor(0.011 * 0.33) = 0.003, 0.003, then the last takes all that remains: 0.005.
    assert [q for _, q in levels_of(actions).values()] == [D("0.003"), D("0.003"), D("0.005")]


def test_runner_is_left_to_the_stop_when_fractions_sum_below_one():
    policy = ProtectionPolicy(stop_loss=STOP, ladder=ladder(("1", "0.25"), ("2", "0.25")))
    split = split_ladder(policy.ladder, [D(50500), D(51000)], D(1), None, frozenset(), BTC)
    assert [lv.quantity for lv in split.levels] == [D("0.250"), D("0.250")]
    assert split.runner == D("0.500")


def test_level_below_min_qty_merges_into_the_next_and_the_reason_says_so():
    policy = ProtectionPolicy(
        stop_loss=STOP, ladder=ladder(("1", "0.1"), ("2", "0.4"), ("3", "0.5"))
    )
    pos = usdm_pos("0.005")
    actions = plan_exits(inp([pos], policy))
    # floor(0.0005) = 0.000 < minQty 0.001 (and 0 after the step): merged into level 2.
    levels = levels_of(actions)
    assert set(levels) == {2, 3}
    assert levels[2][1] == D("0.002") and levels[3][1] == D("0.003")
    two = next(a for a in actions if a.slot.level == 2)
    assert "level 1 (0.000) is below minQty 0.001: merged into level 2" in two.reason
    assert_valid(actions)


def test_last_level_below_minimum_merges_into_the_previous():
    policy = ProtectionPolicy(stop_loss=STOP, ladder=ladder(("1", "0.5"), ("2", "0.4")))
    split = split_ladder(policy.ladder, [D(50500), D(51000)], D("0.0025"), None, frozenset(), BTC)
    # 0.001 and 0.001: fine; with minNotional 50 at ~51000 both stand. Shrink the price.
    assert [lv.quantity for lv in split.levels] == [D("0.001"), D("0.001")]
    split = split_ladder(policy.ladder, [D(40000), D(45000)], D("0.0025"), None, frozenset(), BTC)
    # 0.001 * 40000 = 40 < minNotional 50: level 1 merges into level 2 (0.002 * 45000 = 90).
    assert [(lv.level, lv.quantity) for lv in split.levels] == [(2, D("0.002"))]
    assert "below minNotional 50" in split.levels[0].notes[0]
    split = split_ladder(policy.ladder, [D(60000), D(40000)], D("0.0025"), None, frozenset(), BTC)
    assert [(lv.level, lv.quantity) for lv in split.levels] == [(1, D("0.002"))]
    assert "level 2 (0.001) is below minNotional 50 at 40000: merged into level 1" in (
        split.levels[0].notes
    )


def test_filled_levels_are_skipped_and_the_rest_recomputed_from_the_reference_size():
    pos = usdm_pos("0.670")
    p = prog(pos, ref="1", filled=[1])
    actions = plan_exits(inp([pos], THIRDS, progress=p))
    assert levels_of(actions) == {2: (D("51000"), D("0.330")), 3: (D("51500"), D("0.340"))}
    # A level numbered below a filled one is done too (the market went through it).
    pos = usdm_pos("0.340")
    actions = plan_exits(inp([pos], THIRDS, progress=prog(pos, ref="1", filled=[2])))
    assert levels_of(actions) == {3: (D("51500"), D("0.340"))}


def test_scale_in_resizes_the_levels_by_replacement_and_leaves_the_stop():
    pos = usdm_pos("1.000")
    state = inp([pos], THIRDS, progress=prog(pos))
    exits = apply((), plan_exits(state))
    bigger = usdm_pos("2.000")
    # The manager grows the reference size by the added amount.
    actions = plan_exits(inp([bigger], THIRDS, exits, progress=prog(bigger, ref="2")))
    assert {type(a) for a in actions} == {ReplaceExit}
    assert sorted(a.slot.level for a in actions) == [1, 2, 3]
    assert [a.request.quantity for a in sorted(actions, key=lambda a: a.slot)] == [
        D("0.660"),
        D("0.660"),
        D("0.680"),
    ]
    assert all(a.reason == "quantity changed" for a in actions)


def test_hedge_mode_levels_carry_position_side_and_no_reduce_only():
    pos = usdm_pos("-1.000", side=PositionSide.SHORT)
    actions = plan_exits(inp([pos], THIRDS, mode=PositionMode.HEDGE))
    assert_valid(actions, PositionMode.HEDGE)
    for a in actions:
        assert a.request.side is Side.BUY
        assert a.request.position_side is PositionSide.SHORT
        assert a.request.reduce_only is None
    # A short's levels are below the entry, nearest first.
    assert [p for p, _ in levels_of(actions).values()] == [D("49500"), D("49000"), D("48500")]


def test_spot_ladder_with_a_stop_is_one_oco_per_level_and_a_runner_stop():
    policy = ProtectionPolicy(stop_loss=STOP, ladder=ladder(("1", "0.4"), ("2", "0.4")))
    pos = spot_pos("0.5")
    actions = plan_exits(inp([pos], policy))
    assert_valid(actions)
    ocos = [a for a in actions if a.slot.role is Role.OCO]
    assert [a.slot.level for a in ocos] == [1, 2]
    for a in ocos:
        assert isinstance(a.request, SpotOcoRequest)
        assert a.request.above.type == "LIMIT_MAKER" and a.request.below.stop_price == D("49000")
    assert [a.request.quantity for a in ocos] == [D("0.2"), D("0.2")]
    (runner,) = [a for a in actions if a.slot.role is Role.STOP_LOSS]
    assert isinstance(runner.request, SpotOrderRequest) and runner.request.quantity == D("0.1")
    assert "runner: the stop covers 0.1" in runner.reason
    # Every unit of the balance is under a stop: the OCO stop legs plus the runner's.
    assert sum(a.request.quantity for a in actions) == pos.size
    settled(inp([pos], policy))


def test_spot_ladder_without_a_stop_is_a_limit_sell_per_level():
    policy = ProtectionPolicy(ladder=ladder(("1", "0.5"), ("2", "0.5")))
    actions = plan_exits(inp([spot_pos("0.5")], policy))
    assert_valid(actions)
    assert [(a.slot.role, a.slot.level, a.request.type) for a in actions] == [
        (Role.TAKE_PROFIT, 1, "LIMIT"),
        (Role.TAKE_PROFIT, 2, "LIMIT"),
    ]


def test_trailing_with_a_ladder_on_usdm_is_its_own_slot():
    policy = ProtectionPolicy(
        stop_loss=STOP,
        ladder=ladder(("1", "0.5"), ("2", "0.5")),
        trailing=TrailingPolicy(callback_rate=D(1)),
    )
    actions = plan_exits(inp([usdm_pos()], policy))
    assert sorted((a.slot.role, a.slot.level) for a in actions) == [
        (Role.STOP_LOSS, 0),
        (Role.TAKE_PROFIT, 1),
        (Role.TAKE_PROFIT, 2),
        (Role.TRAILING, 0),
    ]


def test_absolute_level_prices_are_used_as_given():
    policy = ProtectionPolicy(
        stop_loss=STOP,
        ladder=(
            LadderLevel(Distance(level=D("50123.4")), D("0.5")),
            LadderLevel(Distance(level=D("52000")), D("0.5")),
        ),
    )
    actions = plan_exits(inp([usdm_pos()], policy))
    assert [p for p, _ in levels_of(actions).values()] == [D("50123.4"), D("52000")]


fractions = st.lists(
    st.integers(min_value=1, max_value=100).map(lambda n: Decimal(n) / 100),
    min_size=1,
    max_size=5,
)


@settings(max_examples=150, deadline=None)
@given(
    fracs=fractions,
    steps=st.integers(min_value=1, max_value=5_000),
    whole=st.booleans(),
    filled=st.sets(st.integers(min_value=1, max_value=5), max_size=2),
)
def test_property_level_quantities_are_on_the_step_within_the_position(fracs, steps, whole, filled):
    total = sum(fracs)
    if total > 1:
        fracs = [f / total for f in fracs]
        fracs = [Decimal(f).quantize(Decimal("0.0001")) for f in fracs]
        fracs = [f for f in fracs if f > 0]
    if whole:
        fracs = [*fracs[:-1], 1 - sum(fracs[:-1])]
        fracs = [f for f in fracs if f > 0] or [Decimal(1)]
    levels = tuple(LadderLevel(Distance(percent=D(i + 1)), f) for i, f in enumerate(fracs))
    size = BTC.lot_size.step_size * steps
    prices = [D(50000) + 500 * i for i in range(len(levels))]
    split = split_ladder(levels, prices, size, None, frozenset(filled), BTC)
    quantities = [lv.quantity for lv in split.levels]
    step = BTC.lot_size.step_size
    for q in quantities:
        assert q > 0 and q % step == 0
    assert sum(quantities) <= size
    assert split.runner == size - sum(quantities)
    if sum(fracs) == 1 and not filled and (split.levels or not split.dropped):
        assert sum(quantities) == size


@settings(max_examples=60, deadline=None)
@given(
    fracs=st.lists(st.integers(min_value=5, max_value=60), min_size=1, max_size=4),
    steps=st.integers(min_value=1, max_value=3_000),
    spot=st.booleans(),
    with_stop=st.booleans(),
    filled=st.integers(min_value=0, max_value=3),
)
def test_property_planning_twice_on_the_result_state_is_empty(
    fracs, steps, spot, with_stop, filled
):
    total = sum(fracs)
    fractions = [Decimal(f) / max(total, 100) for f in fracs]
    levels = tuple(
        LadderLevel(Distance(percent=D(i + 1)), f.quantize(Decimal("0.01")) or D("0.01"))
        for i, f in enumerate(fractions)
    )
    policy = ProtectionPolicy(stop_loss=STOP if with_stop else None, ladder=levels)
    if spot:
        # Above the minimum notional as a whole: a smaller balance is dust, never managed.
        pos = spot_pos(str(SPOT.get("BTCUSDT").lot_size.step_size * steps * 100))
    else:
        pos = usdm_pos(str(BTC.lot_size.step_size * steps))
    p = prog(pos, filled=range(1, min(filled, len(levels)) + 1))
    state = inp([pos], policy, progress=p)
    assert_valid(plan_exits(state))
    settled(state)
