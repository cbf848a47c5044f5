"""Plan stages in the planner: stop moves, ROI steps, trailing after a level, time stop,
liquidation guard, the wake-up time, and coverage of a due one-shot close."""

from __future__ import annotations

from exitguard.domain.enums import Product, Side
from exitguard.planner.model import CancelExit, PlaceExit, ReplaceExit, Role, SkipSlot
from exitguard.planner.plan import coverage, next_wake_ms, plan_exits
from exitguard.planner.policy import (
    Distance,
    LadderLevel,
    LiquidationGuard,
    ProtectionPolicy,
    RoiStep,
    StopLossPolicy,
    StopMove,
    TakeProfitPolicy,
    TimeStop,
    TrailingPolicy,
)
from planner_support import (
    MIN,
    D,
    apply,
    assert_valid,
    inp,
    prog,
    settled,
    spot_pos,
    usdm_pos,
)

STOP = StopLossPolicy(Distance(percent=D(2)))
LADDER = (
    LadderLevel(Distance(percent=D(1)), D("0.5")),
    LadderLevel(Distance(percent=D(2)), D("0.3")),
    LadderLevel(Distance(percent=D(3)), D("0.2")),
)
MOVES = ProtectionPolicy(
    stop_loss=STOP,
    ladder=LADDER,
    stop_moves=(
        StopMove(after_level=1, break_even_offset_percent=D("0.1")),
        StopMove(after_level=2, to_level=1),
    ),
)
MARKS = {(Product.USDM, "BTCUSDT"): D(50000), (Product.SPOT, "BTCUSDT"): D(50000)}


def stop_of(actions):
    return next(a for a in actions if a.slot.role is Role.STOP_LOSS)


def test_stop_moves_to_break_even_after_level_one_replace_first_with_a_stage_tag():
    pos = usdm_pos("1.000")
    start = inp([pos], MOVES, progress=prog(pos))
    exits = apply((), plan_exits(start))
    assert stop_of(plan_exits(start)).policy_tag == ""
    after = usdm_pos("0.500")
    state = inp([after], MOVES, exits, progress=prog(after, ref="1", filled=[1]))
    actions = plan_exits(state)
    move = stop_of(actions)
    # Replace = place the new stop first, then cancel the old one: never bare.
    assert isinstance(move, ReplaceExit)
    assert move.policy_tag == "|m1"
    assert move.request.trigger_price == D("50050.0")  # entry * 1.001, a SELL stop rounds up
    assert move.reason.startswith("plan stage changed")
    assert "stop moved to break-even +0.1% (50050.0) after level 1 filled" in move.reason
    assert_valid(actions)
    settled(state)


def test_stop_moves_to_level_one_after_level_two_and_a_short_mirrors():
    pos = usdm_pos("0.200")
    actions = plan_exits(inp([pos], MOVES, progress=prog(pos, ref="1", filled=[1, 2])))
    stop = stop_of(actions)
    assert stop.policy_tag == "|m2" and stop.request.trigger_price == D("50500")
    short = usdm_pos("-0.500")
    actions = plan_exits(inp([short], MOVES, progress=prog(short, ref="1", filled=[1])))
    stop = stop_of(actions)
    assert stop.request.side is Side.BUY
    assert stop.request.trigger_price == D("49950.0")  # entry * 0.999, a BUY stop rounds down


def test_quantity_stop_shrinks_to_the_remainder_after_a_fill():
    policy = ProtectionPolicy(
        stop_loss=StopLossPolicy(Distance(percent=D(2)), quantity_based=True), ladder=LADDER
    )
    pos = usdm_pos("1.000")
    exits = apply((), plan_exits(inp([pos], policy, progress=prog(pos))))
    after = usdm_pos("0.500")
    actions = plan_exits(inp([after], policy, exits, progress=prog(after, ref="1", filled=[1])))
    stop = stop_of(actions)
    assert isinstance(stop, ReplaceExit) and stop.request.quantity == D("0.500")
    assert stop.reason == "quantity changed"


def test_trailing_starts_only_once_its_level_filled():
    policy = ProtectionPolicy(
        stop_loss=STOP, ladder=LADDER, trailing=TrailingPolicy(callback_rate=D(1), after_level=2)
    )
    pos = usdm_pos("1.000")
    roles = {a.slot.role for a in plan_exits(inp([pos], policy, progress=prog(pos, filled=[1])))}
    assert Role.TRAILING not in roles
    pos = usdm_pos("0.200")
    actions = plan_exits(inp([pos], policy, progress=prog(pos, ref="1", filled=[1, 2])))
    (trail,) = [a for a in actions if a.slot.role is Role.TRAILING]
    assert trail.request.quantity == D("0.200")
    assert "trailing stop started after level 2 filled" in trail.reason


ROI = ProtectionPolicy(
    stop_loss=STOP,
    take_profit=TakeProfitPolicy(Distance(percent=D(4))),
    roi=(RoiStep(30 * MIN, Distance(percent=D(2))), RoiStep(120 * MIN, Distance(percent=D(1)))),
)


def test_roi_step_change_replaces_the_take_profit():
    pos = usdm_pos("1.000")
    p = prog(pos, opened=0)
    first = plan_exits(inp([pos], ROI, progress=p, now_ms=29 * MIN))
    tp = next(a for a in first if a.slot.role is Role.TAKE_PROFIT)
    assert tp.request.price == D("52000") and tp.policy_tag == ""
    exits = apply((), first)
    assert plan_exits(inp([pos], ROI, exits, progress=p, now_ms=29 * MIN)) == []
    (step,) = plan_exits(inp([pos], ROI, exits, progress=p, now_ms=30 * MIN))
    assert isinstance(step, ReplaceExit) and step.slot.role is Role.TAKE_PROFIT
    assert step.request.price == D("51000") and step.policy_tag == "|r1"
    assert "ROI step 1: take-profit at 2% after 30 min held" in step.reason
    settled(inp([pos], ROI, exits, progress=p, now_ms=200 * MIN))


def test_next_wake_is_the_next_roi_step_or_the_time_stop():
    pos = usdm_pos("1.000")
    p = prog(pos, opened=1_000)
    assert next_wake_ms(inp([pos], ROI, progress=p, now_ms=1_000)) == 1_000 + 30 * MIN
    assert next_wake_ms(inp([pos], ROI, progress=p, now_ms=1_000 + 30 * MIN)) == 1_000 + 120 * MIN
    assert next_wake_ms(inp([pos], ROI, progress=p, now_ms=1_000 + 121 * MIN)) is None
    timed = ProtectionPolicy(stop_loss=STOP, time_stop=TimeStop(after_ms=60 * MIN, at_ms=10 * MIN))
    assert next_wake_ms(inp([pos], timed, progress=p, now_ms=0)) == 10 * MIN
    assert next_wake_ms(inp([pos], timed, progress=p, now_ms=10 * MIN)) is None  # due now
    fired = prog(pos, opened=1_000, fired=["time_stop"])
    assert next_wake_ms(inp([pos], timed, progress=fired, now_ms=0)) is None


TIMED = ProtectionPolicy(stop_loss=STOP, time_stop=TimeStop(after_ms=240 * MIN))


def test_time_stop_not_due_due_and_fired_on_usdm():
    pos = usdm_pos("1.000")
    p = prog(pos)
    early = plan_exits(inp([pos], TIMED, progress=p, now_ms=240 * MIN - 1))
    assert [a.slot.role for a in early] == [Role.STOP_LOSS]
    exits = apply((), early)
    due = plan_exits(inp([pos], TIMED, exits, progress=p, now_ms=240 * MIN))
    (close,) = due
    assert isinstance(close, PlaceExit) and close.slot.role is Role.TIME_STOP
    assert close.request.type == "MARKET" and close.request.reduce_only is True
    assert close.request.quantity == D("1.000")
    assert close.reason.startswith("position has no exit for this slot; time stop due since")
    # Not sent yet: the position is not covered, and the problem says what is due.
    cov = coverage(inp([pos], TIMED, exits, progress=p, now_ms=240 * MIN))[pos.key]
    (ts,) = [c for c in cov if c.slot.role is Role.TIME_STOP]
    assert not ts.covered and ts.problem.startswith("time stop due since 1970-01-01T04:00:00Z")
    # Sent (the manager records it): never again, and its order is left alone.
    after = apply(exits, due)
    fired = prog(pos, fired=["time_stop"])
    assert plan_exits(inp([pos], TIMED, after, progress=fired, now_ms=300 * MIN)) == []
    assert plan_exits(inp([pos], TIMED, exits, progress=fired, now_ms=300 * MIN)) == []


def test_time_stop_limit_sits_beyond_the_mark_and_waits_for_one():
    policy = ProtectionPolicy(time_stop=TimeStop(at_ms=5, limit_offset_percent=D("0.1")))
    pos = usdm_pos("1.000")
    (skip,) = plan_exits(inp([pos], policy, now_ms=5))
    assert isinstance(skip, SkipSlot) and "no mark price" in skip.reason
    (close,) = plan_exits(inp([pos], policy, now_ms=5, marks=MARKS))
    assert close.request.type == "LIMIT" and close.request.price == D("49950")
    short = usdm_pos("-1.000")
    (close,) = plan_exits(inp([short], policy, now_ms=5, marks=MARKS))
    assert close.request.side is Side.BUY and close.request.price == D("50050")


def test_spot_time_stop_cancels_the_resting_exits_first_then_sells():
    policy = ProtectionPolicy(
        stop_loss=STOP,
        ladder=(
            LadderLevel(Distance(percent=D(1)), D("0.5")),
            LadderLevel(Distance(percent=D(2)), D("0.5")),
        ),
        time_stop=TimeStop(after_ms=60 * MIN),
    )
    pos = spot_pos("0.5")
    p = prog(pos)
    exits = apply((), plan_exits(inp([pos], policy, progress=p, now_ms=0)))
    assert len(exits) == 2  # one OCO per level
    actions = plan_exits(inp([pos], policy, exits, progress=p, now_ms=60 * MIN))
    assert [type(a) for a in actions] == [CancelExit, CancelExit, PlaceExit]
    assert all("time stop due: cancelled first" in a.reason for a in actions[:2])
    sell = actions[-1]
    assert sell.slot.role is Role.TIME_STOP and sell.request.type == "MARKET"
    assert sell.request.quantity == D("0.5")
    assert "the resting exits that lock the balance are cancelled first" in sell.reason
    # Sent, its order live: nothing else comes back on the balance.
    after = apply(exits, actions)
    fired = prog(pos, fired=["time_stop"])
    assert plan_exits(inp([pos], policy, after, progress=fired, now_ms=61 * MIN)) == []


def liq_policy(**kw) -> ProtectionPolicy:
    return ProtectionPolicy(
        stop_loss=StopLossPolicy(Distance(percent=D(10))),
        liquidation_guard=LiquidationGuard(margin_percent=D("0.5"), **kw),
    )


def test_liquidation_guard_pulls_a_long_stop_inside_and_says_so():
    pos = usdm_pos("1.000", liq="46000")
    stop = stop_of(plan_exits(inp([pos], liq_policy())))
    # Configured 45000 is beyond liquidation 46000: pulled to 46000 * 1.005 = 46230.
    assert stop.request.trigger_price == D("46230.0")
    assert stop.policy_tag == "|lq46230.0"
    assert "stop 45000 pulled inside liquidation 46000 by 0.5 % to 46230.0" in stop.reason
    far = usdm_pos("1.000", liq="40000")
    stop = stop_of(plan_exits(inp([far], liq_policy())))
    assert stop.request.trigger_price == D("45000.0") and stop.policy_tag == ""


def test_liquidation_guard_pulls_a_short_stop_inside_rounding_toward_safety():
    pos = usdm_pos("-1.000", liq="54000.05")
    stop = stop_of(plan_exits(inp([pos], liq_policy())))
    # 54000.05 * 0.995 = 53730.04975 -> a BUY stop rounds down: inside, never beyond.
    assert stop.request.trigger_price == D("53730.0")
    assert stop.policy_tag == "|lq53730.0"


def test_a_moved_liquidation_price_moves_the_stop_by_replacement():
    pos = usdm_pos("1.000", liq="46000")
    exits = apply((), plan_exits(inp([pos], liq_policy())))
    moved = usdm_pos("1.000", liq="46500")
    (replace,) = plan_exits(inp([moved], liq_policy(), exits))
    assert isinstance(replace, ReplaceExit) and replace.policy_tag == "|lq46732.5"


def test_liquidation_close_once_when_the_mark_comes_near():
    policy = liq_policy(close_within_percent=D(2), close_fraction=D("0.5"))
    pos = usdm_pos("1.000", liq="46000")
    far = {(Product.USDM, "BTCUSDT"): D(47000)}  # 2.17 % away
    assert Role.LIQUIDATION not in {a.slot.role for a in plan_exits(inp([pos], policy, marks=far))}
    near = {(Product.USDM, "BTCUSDT"): D(46900)}  # 1.96 % away
    actions = plan_exits(inp([pos], policy, marks=near))
    (close,) = [a for a in actions if a.slot.role is Role.LIQUIDATION]
    assert close.request.type == "MARKET" and close.request.quantity == D("0.500")
    assert "mark 46900 is within 2 % of liquidation 46000" in close.reason
    assert_valid(actions)
    fired = prog(pos, fired=["liquidation"])
    roles = {a.slot.role for a in plan_exits(inp([pos], policy, marks=near, progress=fired))}
    assert Role.LIQUIDATION not in roles
    short = usdm_pos("-1.000", liq="54000")
    near = {(Product.USDM, "BTCUSDT"): D(53000)}
    actions = plan_exits(inp([short], policy, marks=near))
    (close,) = [a for a in actions if a.slot.role is Role.LIQUIDATION]
    assert close.request.side is Side.BUY


def test_spot_ignores_the_liquidation_guard():
    pos = spot_pos("0.5")
    actions = plan_exits(inp([pos], liq_policy(close_within_percent=D(2)), marks=MARKS))
    assert [a.slot.role for a in actions] == [Role.STOP_LOSS]


def test_progress_helpers_follow_the_semantics():
    from exitguard.planner.model import SlotKey
    from exitguard.planner.progress import level_filled, one_shot_sent, resized, started

    pos = usdm_pos("1.000")
    p = started(D("-1.000"), 5)
    assert (p.opened_ms, p.reference_size) == (5, D("1.000"))
    assert resized(p, D(1), D("1.5")).reference_size == D("1.500")  # scale-in grows it
    assert resized(p, D(1), D("0.5")) == p  # a partial close does not
    level = SlotKey(*pos.key, Role.TAKE_PROFIT, 2)
    assert level_filled(p, level).filled_levels == {2}
    assert level_filled(p, SlotKey(*pos.key, Role.STOP_LOSS)) == p
    assert one_shot_sent(p, SlotKey(*pos.key, Role.TIME_STOP)).fired == {"time_stop"}
    assert one_shot_sent(p, SlotKey(*pos.key, Role.LIQUIDATION)).fired == {"liquidation"}


def test_spot_limit_time_stop_without_a_mark_keeps_the_resting_exits():
    policy = ProtectionPolicy(
        stop_loss=STOP, time_stop=TimeStop(after_ms=MIN, limit_offset_percent=D("0.1"))
    )
    pos = spot_pos("0.5")
    exits = apply((), plan_exits(inp([pos], policy, progress=prog(pos))))
    (skip,) = plan_exits(inp([pos], policy, exits, progress=prog(pos), now_ms=MIN))
    assert isinstance(skip, SkipSlot) and skip.slot.role is Role.TIME_STOP
    actions = plan_exits(inp([pos], policy, exits, progress=prog(pos), now_ms=MIN, marks=MARKS))
    assert [type(a) for a in actions] == [CancelExit, PlaceExit]
    assert actions[1].request.type == "LIMIT" and actions[1].request.price == D("49950.00")
