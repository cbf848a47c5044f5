"""Helpers of the exit-plan planner tests: positions, inputs, and applying actions to a state."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal

from conftest import load_rules
from exitguard.domain.check import OrderKind, check_order
from exitguard.domain.enums import PositionMode, PositionSide, Product
from exitguard.domain.requests import (
    AlgoOrderRequest,
    FuturesOrderRequest,
    SpotOcoRequest,
)
from exitguard.domain.validation.context import MarketContext
from exitguard.planner.model import (
    Action,
    CancelExit,
    ExitKind,
    ExitStatus,
    KnownExit,
    PlaceExit,
    Position,
    PositionProgress,
    ReplaceExit,
    SlotKey,
)
from exitguard.planner.plan import PlanInput, plan_exits
from exitguard.planner.policy import ProtectionPolicy

D = Decimal
USDM = load_rules(Product.USDM)
SPOT = load_rules(Product.SPOT)
MIN = 60_000


def usdm_pos(
    amount: str = "1",
    entry: str = "50000",
    side: PositionSide = PositionSide.BOTH,
    liq: str | None = None,
    symbol: str = "BTCUSDT",
) -> Position:
    return Position(
        "acct",
        Product.USDM,
        symbol,
        side,
        D(amount),
        D(entry),
        None if liq is None else D(liq),
    )


def spot_pos(amount: str = "1", entry: str = "50000") -> Position:
    return Position("acct", Product.SPOT, "BTCUSDT", PositionSide.BOTH, D(amount), D(entry))


def inp(
    positions: Iterable[Position],
    policy: ProtectionPolicy,
    exits: Iterable[KnownExit] = (),
    *,
    progress: Mapping[tuple[object, ...], PositionProgress] | None = None,
    now_ms: int = 0,
    marks: Mapping[tuple[Product, str], Decimal] | None = None,
    mode: PositionMode = PositionMode.ONE_WAY,
) -> PlanInput:
    positions = tuple(positions)
    return PlanInput(
        positions=positions,
        exits=tuple(exits),
        policies={(p.product, p.symbol): policy for p in positions},
        rules={Product.USDM: USDM, Product.SPOT: SPOT},
        position_modes={Product.USDM: mode},
        progress=dict(progress or {}),  # type: ignore[arg-type]
        now_ms=now_ms,
        marks=dict(marks or {}),
    )


def prog(
    pos: Position,
    *,
    ref: str | None = None,
    filled: Iterable[int] = (),
    fired: Iterable[str] = (),
    opened: int = 0,
) -> dict[tuple[object, ...], PositionProgress]:
    size = pos.size if ref is None else D(ref)
    return {pos.key: PositionProgress(opened, size, frozenset(filled), frozenset(fired))}


def apply(exits: Iterable[KnownExit], actions: Iterable[Action]) -> list[KnownExit]:
    """The exits after the manager carried ``actions`` out (every send accepted, OPEN)."""
    state = {e.client_id: e for e in exits}
    n = max((e.created_ms for e in state.values()), default=100)
    for action in actions:
        if isinstance(action, PlaceExit | ReplaceExit):
            n += 1
            req = action.request
            state[f"c{n}"] = KnownExit(
                f"c{n}",
                action.slot,
                ExitKind.of(req),
                ExitStatus.OPEN,
                req.side,
                req.quantity,
                n,
                action.policy_tag,
            )
            if isinstance(action, ReplaceExit):
                del state[action.old_client_id]
        elif isinstance(action, CancelExit):
            del state[action.client_id]
    return list(state.values())


def by_slot(actions: Iterable[Action]) -> dict[SlotKey, Action]:
    return {a.slot: a for a in actions}


def assert_valid(actions: Iterable[Action], mode: PositionMode = PositionMode.ONE_WAY) -> None:
    """Every request passes the venue's own validation (the exchangeInfo filters)."""
    ctx = MarketContext(position_mode=mode)
    for a in actions:
        if not isinstance(a, PlaceExit | ReplaceExit):
            continue
        req = a.request
        if isinstance(req, AlgoOrderRequest):
            kind, rules = OrderKind.USDM_ALGO, USDM
        elif isinstance(req, FuturesOrderRequest):
            kind, rules = OrderKind.USDM, USDM
        elif isinstance(req, SpotOcoRequest):
            kind, rules = OrderKind.SPOT_OCO, SPOT
        else:
            kind, rules = OrderKind.SPOT, SPOT
        result = check_order(kind, req.to_params(), rules, ctx)
        assert result.violations == [], (a.slot.text(), result.violations)


def settled(state: PlanInput) -> None:
    """Planning on the state the actions leave behind is empty (idempotence)."""
    first = plan_exits(state)
    after = apply(state.exits, first)
    again = plan_exits(
        PlanInput(
            positions=state.positions,
            exits=tuple(after),
            policies=state.policies,
            rules=state.rules,
            position_modes=state.position_modes,
            progress=state.progress,
            now_ms=state.now_ms,
            marks=state.marks,
        )
    )
    assert again == [], again
