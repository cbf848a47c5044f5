"""The pure planner: which exits a position wants, and the actions to get there."""

from __future__ import annotations

import json
from decimal import Decimal
from importlib.resources import files

import pytest

from exitguard.domain.check import OrderKind, check_order
from exitguard.domain.enums import PositionMode, PositionSide, Product, Side
from exitguard.domain.filters import parse_exchange_info
from exitguard.domain.requests import AlgoOrderRequest, FuturesOrderRequest, SpotOcoRequest
from exitguard.planner.model import (
    CancelExit,
    ExitKind,
    ExitStatus,
    KnownExit,
    PlaceExit,
    Position,
    ReplaceExit,
    Role,
    SlotKey,
)
from exitguard.planner.plan import PlanInput, plan_exits
from exitguard.planner.policy import (
    Distance,
    ProtectionPolicy,
    StopLossPolicy,
    TakeProfitPolicy,
    TrailingPolicy,
)

D = Decimal


def _rules(product: Product):
    name = "usdm" if product is Product.USDM else "spot"
    doc = json.loads(files("exitguard").joinpath(f"fixtures/exchange_info/{name}.json").read_text())
    return parse_exchange_info(doc, product)


USDM = _rules(Product.USDM)
SPOT = _rules(Product.SPOT)
POLICY = ProtectionPolicy(
    stop_loss=StopLossPolicy(Distance(percent=D(2))),
    take_profit=TakeProfitPolicy(Distance(percent=D(4))),
    trailing=TrailingPolicy(callback_rate=D("1.5"), activation=Distance(percent=D(1))),
)


def _long(amount: str = "0.5", entry: str = "50000", side=PositionSide.BOTH) -> Position:
    return Position("acct", Product.USDM, "BTCUSDT", side, D(amount), D(entry))


def _inp(positions, exits=(), policy=POLICY, mode=PositionMode.ONE_WAY, holds=frozenset()):
    return PlanInput(
        positions=tuple(positions),
        exits=tuple(exits),
        policies={(p.product, p.symbol): policy for p in positions},
        rules={Product.USDM: USDM, Product.SPOT: SPOT},
        position_modes={Product.USDM: mode},
        holds=holds,
    )


def _slot(role: Role, side=PositionSide.BOTH, symbol="BTCUSDT", product=Product.USDM) -> SlotKey:
    return SlotKey("acct", product, symbol, side, role)


def _exists(action: PlaceExit, status=ExitStatus.OPEN, cid=None, created=1) -> KnownExit:
    req = action.request
    return KnownExit(
        cid or f"id-{action.slot.role.value}",
        action.slot,
        ExitKind.of(req),
        status,
        req.side,
        req.quantity,
        created,
    )


def test_new_long_gets_three_usdm_exits_with_seed001_shapes():
    actions = plan_exits(_inp([_long()]))
    assert [type(a) for a in actions] == [PlaceExit] * 3
    by_role = {a.slot.role: a.request for a in actions}
    sl = by_role[Role.STOP_LOSS]
    assert isinstance(sl, AlgoOrderRequest)
    assert sl.to_params() == {
        "algoType": "CONDITIONAL",
        "symbol": "BTCUSDT",
        "side": "SELL",
        "type": "STOP_MARKET",
        "triggerPrice": "49000",
        "workingType": "MARK_PRICE",
        "closePosition": "true",
        "priceProtect": "true",
    }
    tp = by_role[Role.TAKE_PROFIT]
    # Seed 001: the fixed take-profit is a regular reduce-only LIMIT order, not an algo order.
    assert isinstance(tp, FuturesOrderRequest)
    assert tp.to_params()["type"] == "LIMIT"
    assert tp.to_params()["reduceOnly"] == "true"
    assert D(tp.to_params()["price"]) == D("52000")
    trail = by_role[Role.TRAILING]
    assert trail.to_params()["type"] == "TRAILING_STOP_MARKET"
    assert trail.to_params()["callbackRate"] == "1.5"
    assert D(trail.to_params()["activatePrice"]) == D("50500")
    for a in actions:
        kind = OrderKind.USDM_ALGO if isinstance(a.request, AlgoOrderRequest) else OrderKind.USDM
        result = check_order(kind, a.request.to_params(), USDM)
        assert result.violations == [], (a.slot.role, result.violations)


def test_short_stop_is_above_entry_and_rounds_down():
    pos = _long(amount="-0.3", entry="50000.05")
    actions = plan_exits(_inp([pos], policy=ProtectionPolicy(stop_loss=POLICY.stop_loss)))
    (place,) = actions
    assert place.request.side is Side.BUY
    # 50000.05 * 1.02 = 51000.051 -> a BUY stop rounds DOWN to the tick (fires no later).
    assert place.request.trigger_price == D("51000.0")


def test_existing_exits_give_no_action_and_planning_is_idempotent():
    first = plan_exits(_inp([_long()]))
    exits = [_exists(a) for a in first]
    assert plan_exits(_inp([_long()], exits)) == []
    assert plan_exits(_inp([_long()])) == first  # same state, same actions


def test_pending_and_unknown_block_but_terminal_history_does_not():
    first = plan_exits(_inp([_long()]))
    sl = next(a for a in first if a.slot.role is Role.STOP_LOSS)
    for status in (ExitStatus.PENDING, ExitStatus.INTENT, ExitStatus.UNKNOWN, ExitStatus.TRIGGERED):
        acts = plan_exits(_inp([_long()], [_exists(sl, status)]))
        assert all(a.slot.role is not Role.STOP_LOSS for a in acts), status
    for status in (ExitStatus.CANCELED, ExitStatus.EXPIRED, ExitStatus.REJECTED, ExitStatus.FILLED):
        acts = plan_exits(_inp([_long()], [_exists(sl, status)]))
        assert any(isinstance(a, PlaceExit) and a.slot.role is Role.STOP_LOSS for a in acts)


def test_open_state_wins_over_older_terminal_row_same_slot():
    first = plan_exits(_inp([_long()]))
    exits = [_exists(a) for a in first]
    sl = next(a for a in first if a.slot.role is Role.STOP_LOSS)
    exits.append(_exists(sl, ExitStatus.CANCELED, cid="older", created=0))
    assert plan_exits(_inp([_long()], exits)) == []


def test_partial_close_replaces_quantity_exits_place_first():
    first = plan_exits(_inp([_long("0.5")]))
    exits = [_exists(a) for a in first]
    actions = plan_exits(_inp([_long("0.2")], exits))
    roles = {a.slot.role: a for a in actions}
    assert Role.STOP_LOSS not in roles  # closePosition stop covers any size
    for role in (Role.TAKE_PROFIT, Role.TRAILING):
        act = roles[role]
        assert isinstance(act, ReplaceExit)
        assert act.request.quantity == D("0.2")
        assert act.old_client_id == f"id-{role.value}"


def test_position_closed_cancels_siblings_and_leaves_foreign_alone():
    first = plan_exits(_inp([_long()]))
    exits = [_exists(a) for a in first]
    actions = plan_exits(_inp([], exits))
    assert sorted(a.client_id for a in actions) == sorted(e.client_id for e in exits)
    assert all(isinstance(a, CancelExit) for a in actions)


def test_duplicates_on_one_slot_keep_newest_matching():
    first = plan_exits(_inp([_long()], policy=ProtectionPolicy(stop_loss=POLICY.stop_loss)))
    a = _exists(first[0], cid="old", created=1)
    b = _exists(first[0], cid="new", created=2)
    actions = plan_exits(
        _inp([_long()], [a, b], policy=ProtectionPolicy(stop_loss=POLICY.stop_loss))
    )
    assert actions == [
        CancelExit(first[0].slot, "old", ExitKind.ALGO, "duplicate exit on the slot")
    ]


def test_hedge_mode_uses_position_side_and_never_reduce_only():
    pos = _long(side=PositionSide.LONG)
    actions = plan_exits(_inp([pos], mode=PositionMode.HEDGE))
    for act in actions:
        params = act.request.to_params()
        assert params["positionSide"] == "LONG"
        assert "reduceOnly" not in params


def test_held_slot_gets_no_action():
    actions = plan_exits(_inp([_long()], holds=frozenset({_slot(Role.STOP_LOSS)})))
    assert {a.slot.role for a in actions} == {Role.TAKE_PROFIT, Role.TRAILING}


def test_flip_long_to_short_replaces_with_other_side():
    policy = ProtectionPolicy(stop_loss=StopLossPolicy(Distance(percent=D(2)), quantity_based=True))
    first = plan_exits(_inp([_long("0.5")], policy=policy))
    exits = [_exists(a) for a in first]
    (act,) = plan_exits(_inp([_long("-0.5")], exits, policy=policy))
    assert isinstance(act, ReplaceExit)
    assert act.request.side is Side.BUY and act.reason == "side changed"


def test_conditional_take_profit_is_algo_take_profit():
    policy = ProtectionPolicy(
        take_profit=TakeProfitPolicy(Distance(price=D(1000)), conditional=True)
    )
    (act,) = plan_exits(_inp([_long()], policy=policy))
    params = act.request.to_params()
    assert params["type"] == "TAKE_PROFIT" and params["algoType"] == "CONDITIONAL"
    assert params["price"] == params["triggerPrice"] and D(params["price"]) == D(51000)
    assert check_order(OrderKind.USDM_ALGO, params, USDM).violations == []


def test_dust_position_is_skipped_with_a_reason():
    (skip, *_) = plan_exits(
        _inp([_long("0.0001")], policy=ProtectionPolicy(take_profit=POLICY.take_profit))
    )
    assert "below one lot step" in skip.reason


def test_spot_stop_and_take_profit_become_one_oco():
    pos = Position("acct", Product.SPOT, "ETHUSDT", PositionSide.BOTH, D("1.23456"), D("3000"))
    policy = ProtectionPolicy(
        stop_loss=StopLossPolicy(Distance(percent=D(5)), limit_offset_percent=D("0.5")),
        take_profit=TakeProfitPolicy(Distance(percent=D(10))),
    )
    inp = PlanInput((pos,), (), {(Product.SPOT, "ETHUSDT"): policy}, {Product.SPOT: SPOT})
    (act,) = plan_exits(inp)
    assert act.slot.role is Role.OCO
    assert isinstance(act.request, SpotOcoRequest)
    params = act.request.to_params()
    assert params["aboveType"] == "LIMIT_MAKER" and params["belowType"] == "STOP_LOSS_LIMIT"
    assert D(params["abovePrice"]) == D(3300) and D(params["belowStopPrice"]) == D(2850)
    assert D(params["belowPrice"]) < D(params["belowStopPrice"])
    assert check_order(OrderKind.SPOT_OCO, params, SPOT).violations == []


@pytest.mark.parametrize("amount", ["0.5", "-0.5"])
def test_every_built_request_passes_local_validation(amount):
    for act in plan_exits(_inp([_long(amount)])):
        kind = OrderKind.USDM_ALGO if isinstance(act.request, AlgoOrderRequest) else OrderKind.USDM
        assert check_order(kind, act.request.to_params(), USDM).violations == []
