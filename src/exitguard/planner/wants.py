"""Which exit every slot of a managed position wants now, with its tag and the plan's notes.

The plan (docs/guide/exit-plans.md) at the position's stage (:mod:`.stages`): the stop-loss
(moved, pulled inside liquidation), the take-profit (ROI step) or the ladder's levels
(:mod:`.ladder`; USD-M one reduce-only LIMIT per level, Spot one OCO per level when there is a
stop so that every unit stays under a stop), the trailing stop (once its level filled), and the
one-shot closes (:mod:`.closes`) when due and not yet sent. Pure.

Spot: a balance backs one resting SELL per unit, so a due time stop wants nothing else: the
resting exits are cancelled first (their cancels come before the SELL in the plan) and the SELL
follows. Once the close was sent, the slots are left alone while its order is live.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal

from exitguard.domain.enums import PositionMode, Product
from exitguard.domain.filters import SymbolRules
from exitguard.domain.quantize import quantize_exit_quantity

from .build import (
    spot_oco,
    spot_roles,
    spot_stop_loss,
    spot_take_profit,
    stop_trigger_price,
    usdm_roles,
    usdm_take_profit,
    wanted_request,
)
from .closes import liquidation_close_request, time_stop_request
from .ladder import LadderSplit, level_minimum, split_ladder
from .model import (
    Action,
    ExitRequest,
    Position,
    PositionKey,
    PositionProgress,
    Role,
    SkipSlot,
    SlotKey,
)
from .policy import Distance, ProtectionPolicy, TakeProfitPolicy
from .stages import (
    Stage,
    level_prices,
    liquidation_close_due,
    progress_of,
    stage_policy,
    time_stop_due_ms,
)

__all__ = ["FIRED_LIQUIDATION", "FIRED_TIME_STOP", "Want", "WantSet", "position_wants"]

# The names the manager adds to ``PositionProgress.fired`` once it sent the close.
FIRED_TIME_STOP = "time_stop"
FIRED_LIQUIDATION = "liquidation"


@dataclass(frozen=True, slots=True)
class Want:
    """One wanted slot's request, the tag its exit must carry (policy tag + stage suffix), the
    plan's notes for the action's reason, and for a one-shot close what is due."""

    position: Position
    request: ExitRequest
    tag: str = ""
    note: str = ""
    due: str = ""


@dataclass(slots=True)
class WantSet:
    """Every wanted slot, the slots that need one that cannot be built (skips), the slots to
    leave alone (a sent one-shot close), why an unwanted exit of an open position is cancelled,
    and the positions whose cancels must go before their close (Spot time stop)."""

    wants: dict[SlotKey, Want] = field(default_factory=dict)
    skips: list[Action] = field(default_factory=list)
    keep: set[SlotKey] = field(default_factory=set)
    cancel_reasons: dict[PositionKey, str] = field(default_factory=dict)
    cancels_first: set[PositionKey] = field(default_factory=set)


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _join(*parts: str | tuple[str, ...]) -> str:
    flat: list[str] = []
    for part in parts:
        flat.extend([part] if isinstance(part, str) else part)
    return "; ".join(p for p in flat if p)


class _Position:
    """Builds one position's wants into a :class:`WantSet`."""

    def __init__(
        self,
        out: WantSet,
        pos: Position,
        policy: ProtectionPolicy,
        rules: SymbolRules,
        mode: PositionMode,
        progress: PositionProgress,
        now_ms: int,
        mark: Decimal | None,
    ) -> None:
        self.out, self.pos, self.policy, self.rules, self.mode = out, pos, policy, rules, mode
        self.progress, self.now_ms, self.mark = progress, now_ms, mark
        self.stage: Stage = stage_policy(pos, policy, progress, rules, now_ms)

    def slot(self, role: Role, level: int = 0) -> SlotKey:
        p = self.pos
        return SlotKey(p.account, p.product, p.symbol, p.position_side, role, level)

    def want(self, slot: SlotKey, request: ExitRequest | None, tag: str, note: str = "") -> None:
        if request is not None:
            self.out.wants[slot] = Want(self.pos, request, self.policy.tag + tag, note)

    # -- the one-shot closes ---------------------------------------------------------------

    def time_stop(self, blocking: Collection[SlotKey]) -> bool:
        """The time stop's slot; True when it takes the position over (due, or sent and its
        order still live on Spot): the other exits are then not wanted on Spot."""
        ts = self.policy.time_stop
        due = time_stop_due_ms(self.policy, self.progress)
        if ts is None or due is None or self.now_ms < due:
            return False
        slot = self.slot(Role.TIME_STOP)
        spot = self.pos.product is Product.SPOT
        if FIRED_TIME_STOP in self.progress.fired:
            self.out.keep.add(slot)  # sent once: never again, and its order is left alone
            return spot and slot in blocking
        request = time_stop_request(self.pos, ts, self.rules, self.mode, self.mark)
        what = f"time stop due since {_iso(due)}"
        if request is None:
            self.out.skips.append(SkipSlot(slot, f"{what}: no mark price for its LIMIT yet"))
            return False  # Spot: the resting exits keep protecting until the SELL can go
        kind = "MARKET" if ts.limit_offset_percent is None else "LIMIT"
        note = f"{what}: {kind} close of {self.pos.size}"
        if spot:
            note += "; the resting exits that lock the balance are cancelled first"
        self.out.wants[slot] = Want(self.pos, request, self.policy.tag, note, what)
        return spot

    def liquidation(self) -> None:
        guard = self.policy.liquidation_guard
        if guard is None or self.pos.product is not Product.USDM:
            return
        slot = self.slot(Role.LIQUIDATION)
        if FIRED_LIQUIDATION in self.progress.fired:
            self.out.keep.add(slot)
            return
        why = liquidation_close_due(self.pos, self.policy, self.mark)
        if why is None:
            return
        request, how = liquidation_close_request(self.pos, guard, self.rules, self.mode)
        what = f"liquidation guard: {why}"
        self.out.wants[slot] = Want(self.pos, request, self.policy.tag, f"{what}; {how}", what)

    # -- the resting exits -----------------------------------------------------------------

    def ladder(self) -> LadderSplit:
        prices = level_prices(self.pos, self.policy, self.rules)
        return split_ladder(
            self.policy.ladder,
            prices,
            self.pos.size,
            self.progress.reference_size,
            self.progress.filled_levels,
            self.rules,
        )

    def usdm(self) -> None:
        st, pos, rules, mode = self.stage, self.pos, self.rules, self.mode
        eff = st.policy
        dropped: tuple[str, ...] = ()
        if self.policy.ladder:
            split = self.ladder()
            dropped = split.dropped
            for lv in split.levels:
                tp = TakeProfitPolicy(Distance(level=lv.price))
                level_req = usdm_take_profit(pos, tp, rules, mode, quantity=lv.quantity)
                self.want(self.slot(Role.TAKE_PROFIT, lv.level), level_req, "", _join(lv.notes))
            eff = replace(eff, take_profit=None)
        for role in usdm_roles(eff):
            req = wanted_request(role, pos, eff, rules, mode)
            if role is Role.STOP_LOSS:
                self.want(self.slot(role), req, st.stop_suffix, _join(st.stop_notes, dropped))
            elif role is Role.TAKE_PROFIT:
                self.want(self.slot(role), req, st.tp_suffix, _join(st.tp_notes))
            else:
                self.want(self.slot(role), req, "", self._trailing_note())

    def _trailing_note(self) -> str:
        tr = self.policy.trailing
        if tr is None or tr.after_level is None:
            return ""
        return f"trailing stop started after level {tr.after_level} filled"

    def spot(self) -> None:
        st, pos, rules = self.stage, self.pos, self.rules
        eff = st.policy
        if not self.policy.ladder:
            suffix = {Role.OCO: st.stop_suffix + st.tp_suffix, Role.STOP_LOSS: st.stop_suffix}
            notes = {
                Role.OCO: _join(st.stop_notes, st.tp_notes),
                Role.STOP_LOSS: _join(st.stop_notes),
                Role.TAKE_PROFIT: _join(st.tp_notes),
            }
            for role in spot_roles(eff):
                req = wanted_request(role, pos, eff, rules)
                tag = suffix.get(role, st.tp_suffix if role is Role.TAKE_PROFIT else "")
                self.want(self.slot(role), req, tag, notes.get(role, ""))
            return
        split = self.ladder()
        levels = list(split.levels)
        stop = eff.stop_loss
        if stop is None:
            for lv in levels:
                tp = TakeProfitPolicy(Distance(level=lv.price))
                req = spot_take_profit(pos, tp, rules, quantity=lv.quantity)
                self.want(self.slot(Role.TAKE_PROFIT, lv.level), req, "", _join(lv.notes))
            return
        runner = quantize_exit_quantity(split.runner, rules)
        runner_note: tuple[str, ...] = split.dropped
        if runner > 0 and levels:
            why = level_minimum(runner, stop_trigger_price(pos, stop, rules), rules)
            if why is not None:
                last = levels[-1]
                note = f"runner ({runner}) is {why}: added to level {last.level}"
                levels[-1] = replace(
                    last, quantity=last.quantity + runner, notes=(*last.notes, note)
                )
                runner = Decimal(0)
        for lv in levels:
            leg = replace(eff, take_profit=TakeProfitPolicy(Distance(level=lv.price)))
            req = spot_oco(pos, leg, rules, quantity=lv.quantity)
            note = _join(lv.notes, st.stop_notes)
            self.want(self.slot(Role.OCO, lv.level), req, st.stop_suffix, note)
        if runner > 0:
            req = spot_stop_loss(pos, stop, rules, quantity=runner)
            what = "runner" if levels else "no ladder level left"
            note = _join(f"{what}: the stop covers {runner}", runner_note, st.stop_notes)
            self.want(self.slot(Role.STOP_LOSS), req, st.stop_suffix, note)


def position_wants(
    out: WantSet,
    pos: Position,
    policy: ProtectionPolicy,
    rules: SymbolRules,
    mode: PositionMode,
    progress: PositionProgress | None,
    now_ms: int,
    mark: Decimal | None,
    blocking: Collection[SlotKey],
) -> None:
    """Add ``pos``'s wanted slots to ``out`` (``blocking``: the slots that have a live exit)."""
    builder = _Position(
        out, pos, policy, rules, mode, progress_of(pos, progress, now_ms), now_ms, mark
    )
    builder.liquidation()
    if builder.time_stop(blocking):
        out.cancel_reasons[pos.key] = (
            "time stop due: cancelled first, the close needs the balance this exit locks"
        )
        out.cancels_first.add(pos.key)
        return
    if pos.product is Product.USDM:
        builder.usdm()
    else:
        builder.spot()
