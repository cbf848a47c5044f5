"""Runtime plans in the planner: absolute levels, a plan per position, and the policy tag that
makes a new plan replace the exits resting under the old one (and only then)."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from exitguard.domain.enums import PositionMode, PositionSide, Product
from exitguard.domain.requests import AlgoOrderRequest, FuturesOrderRequest
from exitguard.planner.model import ExitStatus, KnownExit, PlaceExit, ReplaceExit, Role
from exitguard.planner.plan import PlanInput, coverage, plan_exits
from exitguard.planner.policy import (
    Distance,
    ImmediateTriggerAction,
    ProtectionPolicy,
    StopLossPolicy,
    TakeProfitPolicy,
    TrailingPolicy,
)
from exitguard.planner.policy_codec import policy_from_dict, policy_tag, policy_to_dict, tagged
from test_planner import POLICY, USDM, _exists, _inp, _long

D = Decimal
BOT = tagged(
    ProtectionPolicy(
        stop_loss=StopLossPolicy(Distance(level=D("48000"))),
        take_profit=TakeProfitPolicy(Distance(level=D("53000"))),
    )
)


def _with_plan(pos, exits=(), plan=BOT) -> PlanInput:
    inp = _inp([pos], exits)
    return replace(inp, position_policies={(pos.product, pos.symbol, pos.position_side): plan})


def _tagged(exit_: KnownExit, tag: str) -> KnownExit:
    return replace(exit_, policy_tag=tag)


def test_absolute_levels_are_used_as_given_on_the_grid() -> None:
    actions = plan_exits(_with_plan(_long()))
    by_role = {a.slot.role: a for a in actions if isinstance(a, PlaceExit)}
    stop = by_role[Role.STOP_LOSS].request
    take = by_role[Role.TAKE_PROFIT].request
    assert isinstance(stop, AlgoOrderRequest) and stop.trigger_price == D("48000")
    assert isinstance(take, FuturesOrderRequest) and take.price == D("53000")
    assert Role.TRAILING not in by_role  # the position's own plan wins over the symbol's
    assert all(a.policy_tag == BOT.tag for a in by_role.values())
    # A short with absolute levels: the same prices, on the other side.
    short = replace(_long(), amount=D("-0.5"))
    plan = tagged(ProtectionPolicy(stop_loss=StopLossPolicy(Distance(level=D("51234.56")))))
    (place,) = plan_exits(_with_plan(short, plan=plan))
    assert isinstance(place, PlaceExit) and place.request.trigger_price == D("51234.5")  # type: ignore[union-attr]


def test_a_new_plan_replaces_the_resting_exits_and_only_once() -> None:
    pos = _long()
    config_exits = [_exists(a) for a in plan_exits(_inp([pos])) if isinstance(a, PlaceExit)]
    assert plan_exits(_inp([pos], config_exits)) == []  # config exits, config plan: nothing
    actions = plan_exits(_with_plan(pos, config_exits))
    replaces = [a for a in actions if isinstance(a, ReplaceExit)]
    assert {a.slot.role for a in replaces} == {Role.STOP_LOSS, Role.TAKE_PROFIT}
    assert all(a.reason == "protection plan changed" and a.policy_tag == BOT.tag for a in replaces)
    # Once the plan's exits rest (tagged), planning again does nothing: no churn.
    placed = [
        _tagged(
            _exists(PlaceExit(a.slot, a.request, ""), cid=f"n-{a.slot.role}", created=5), BOT.tag
        )
        for a in replaces
    ]
    old_gone = [replace(e, status=ExitStatus.CANCELED) for e in config_exits]
    rest = [
        a for a in plan_exits(_with_plan(pos, placed + old_gone)) if not isinstance(a, PlaceExit)
    ]
    assert rest == [a for a in rest if a.slot.role is Role.TRAILING]  # only the dropped role
    # The entry price moving does not move a tagged plan's exits either.
    moved = replace(pos, entry_price=D("50500"))
    assert not [a for a in plan_exits(_with_plan(moved, placed)) if isinstance(a, ReplaceExit)]


def test_coverage_does_not_count_the_previous_plans_exit() -> None:
    pos = _long()
    config_exits = [_exists(a) for a in plan_exits(_inp([pos])) if isinstance(a, PlaceExit)]
    cov = coverage(_with_plan(pos, config_exits))
    (slots,) = cov.values()
    problems = {c.slot.role: c.problem for c in slots if not c.covered}
    assert "previous plan" in problems[Role.STOP_LOSS]


@given(
    st.decimals(min_value=D("0.01"), max_value=D("99.9"), places=2),
    st.sampled_from(list(ImmediateTriggerAction)),
    st.booleans(),
)
def test_the_codec_round_trips_and_the_tag_follows_the_content(
    percent: Decimal, action: ImmediateTriggerAction, conditional: bool
) -> None:
    policy = ProtectionPolicy(
        stop_loss=StopLossPolicy(Distance(percent=percent)),
        take_profit=TakeProfitPolicy(Distance(level=D("123.45")), conditional=conditional),
        trailing=TrailingPolicy(callback_rate=D("1.5"), activation=Distance(price=D(3))),
        on_immediate_trigger=action,
    )
    back = policy_from_dict(policy_to_dict(policy))
    assert replace(back, tag="") == policy
    assert back.tag == policy_tag(policy) == tagged(policy).tag
    other = replace(
        policy,
        on_immediate_trigger=ImmediateTriggerAction.WIDEN
        if action != ImmediateTriggerAction.WIDEN
        else ImmediateTriggerAction.ALERT,
    )
    assert policy_tag(other) != back.tag


def test_hedge_positions_each_follow_their_own_plan() -> None:
    long_ = _long(side=PositionSide.LONG)
    inp = replace(
        _inp([long_], mode=PositionMode.HEDGE),
        position_policies={(Product.USDM, "BTCUSDT", PositionSide.SHORT): BOT},
    )
    # The LONG has no plan of its own: the symbol's (config) policy applies.
    assert {a.policy_tag for a in plan_exits(inp)} == {""}
    assert POLICY.tag == "" and USDM is not None
