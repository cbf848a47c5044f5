"""The planning pass: positions + policies + known exits -> actions per exit slot. Pure.

Rules (design: planner; seed 001 "Use trusted state before replacing exits"):

1. Only app-owned exits are seen here (the store decides ownership by client id); orders the app
   does not own never reach the planner, so they are never touched.
2. Only blocking exits (INTENT, PENDING, UNKNOWN, OPEN, TRIGGERED) count for a slot; terminal
   rows are history. An open exit and an older terminal row with the same client id: the store
   keeps the open state, so nothing is replaced.
3. A slot with an INTENT or UNKNOWN exit gets no action: the manager resolves it first by
   querying the client id, never by resending.
4. A wanted slot with no blocking exit gets :class:`PlaceExit`. A wanted slot whose exit has the
   wrong side or quantity (a partial close, an added fill, a flip) gets :class:`ReplaceExit`
   (place first, cancel second). Trigger prices of live exits are not moved: a stop is never
   shifted silently because the entry price changed. An exit placed for another plan (its
   policy tag differs: a bot handed over new levels, or a runtime policy override came or went)
   is replaced the same way.
5. Extra blocking exits on one slot (e.g. a crash between the place and the cancel of a
   replacement) are cancelled, keeping the newest one that matches what is wanted.
6. Exits on a slot that is no longer wanted (the position closed, or the policy dropped the role)
   are cancelled: futures OCO emulation and orphan cleanup.
7. Held slots (an ``alert`` fallback, a refused request) get no action until the manager lifts
   the hold (it does when the position changes).
8. A symbol whose exchangeInfo ``status`` is not TRADING (Spot ``CANCEL_ONLY`` since 2026-07-07,
   ``HALT``, ``BREAK``, ...) gets no placement: the venue would refuse it ("Market is closed.").
   Its slots that need one get :class:`SkipSlot` naming the status instead (the position may be
   unprotected, and the verdict says why); a replacement is not started (the old exit keeps
   protecting), while cancels still go (CANCEL_ONLY allows them).

9. Exit plans (docs/guide/exit-plans.md; :mod:`.wants`, :mod:`.ladder`, :mod:`.stages`): a
   ladder level is a slot of its own (``take_profit#2``, Spot ``oco#2``); an exit whose request
   depends on progress or time carries a stage tag after the policy's (``|m1``, ``|lq<price>``,
   ``|r2``), so a new stage replaces it (place first). A one-shot close (time stop,
   liquidation guard) is wanted only when due and not yet sent; once sent, its slot is left
   alone. A Spot time stop wants nothing else: the position's cancels come before its SELL.

Deterministic and idempotent: the same input gives the same actions in slot order (a Spot time
stop's close last); on a state where every wanted exit exists the result is empty.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from decimal import Decimal

from exitguard.domain.enums import PositionMode, PositionSide, Product, Side
from exitguard.domain.filters import ExchangeRules

from .build import spot_roles, usdm_roles
from .inputs import PlanInput
from .model import (
    Action,
    CancelExit,
    ExitKind,
    ExitRequest,
    ExitStatus,
    KnownExit,
    PlaceExit,
    Position,
    ReplaceExit,
    Role,
    SkipSlot,
    SlotKey,
)
from .stages import pulled_price
from .timing import next_wake_ms
from .wants import FIRED_LIQUIDATION, FIRED_TIME_STOP, Want, WantSet, position_wants

__all__ = [
    "FIRED_LIQUIDATION",
    "FIRED_TIME_STOP",
    "PlanInput",
    "SlotCoverage",
    "Want",
    "WantSet",
    "coverage",
    "market_closed",
    "next_wake_ms",
    "plan_exits",
    "request_quantity",
    "request_side",
    "wanted_exits",
    "wanted_plan",
]

_WAIT = frozenset({ExitStatus.INTENT, ExitStatus.UNKNOWN})
# A TRIGGERED algo exit is cancellable too: its child order may rest on the book (a conditional
# take-profit's reduce-only LIMIT) and would otherwise outlive its slot; the manager cancels it
# through the child (``actualOrderId``), since the Algo Service refuses to cancel it once
# triggered (binance-api.md §1.9).
_CANCELLABLE = frozenset({ExitStatus.OPEN, ExitStatus.PENDING, ExitStatus.TRIGGERED})
# Statuses under which an exit is live at the venue (accepted there): it protects.
_LIVE = frozenset({ExitStatus.PENDING, ExitStatus.OPEN, ExitStatus.TRIGGERED})


def request_side(request: ExitRequest) -> Side:
    """The side an exit request trades."""
    return request.side


def request_quantity(request: ExitRequest) -> Decimal | None:
    """The quantity a request carries; ``None`` for a closePosition exit."""
    return request.quantity


def wanted_exits(
    inp: PlanInput,
) -> tuple[dict[SlotKey, tuple[Position, ExitRequest]], list[Action]]:
    """Every slot the managed positions need, with the request each wants; and the slots that
    need an exit none can be built for (as :class:`SkipSlot`). :func:`wanted_plan` adds the
    tags and the plan's notes."""
    ws = wanted_plan(inp)
    return {slot: (w.position, w.request) for slot, w in ws.wants.items()}, ws.skips


def _blocking(inp: PlanInput) -> dict[SlotKey, list[KnownExit]]:
    blocking: dict[SlotKey, list[KnownExit]] = defaultdict(list)
    for exit_ in inp.exits:
        if exit_.blocking:
            blocking[exit_.slot].append(exit_)
    return blocking


def wanted_plan(inp: PlanInput, blocking: Collection[SlotKey] | None = None) -> WantSet:
    """Every wanted slot with its request, tag and notes (:class:`WantSet`), at each
    position's stage (progress, ``now_ms``, marks)."""
    if blocking is None:
        blocking = _blocking(inp).keys()
    out = WantSet()
    for pos, policy in inp.managed():
        out.cancel_reasons[pos.key] = "slot no longer wanted by the plan"
        exchange = inp.rules.get(pos.product)
        rules = exchange.get(pos.symbol) if exchange is not None else None
        if rules is None:
            roles = usdm_roles(policy) if pos.product is Product.USDM else spot_roles(policy)
            for role in roles:
                slot = SlotKey(pos.account, pos.product, pos.symbol, pos.position_side, role)
                out.skips.append(SkipSlot(slot, f"no exchangeInfo rules for {pos.symbol}"))
            continue
        mode = inp.position_modes.get(pos.product, PositionMode.ONE_WAY)
        before = set(out.wants)
        position_wants(
            out,
            pos,
            policy,
            rules,
            mode,
            inp.progress.get(pos.key),
            inp.now_ms,
            inp.marks.get((pos.product, pos.symbol)),
            blocking,
        )
        for slot in sorted(set(out.wants) - before):
            qty = request_quantity(out.wants[slot].request)
            if qty is not None and qty <= 0:
                del out.wants[slot]
                out.skips.append(
                    SkipSlot(slot, f"position {pos.size} is below one lot step of {pos.symbol}")
                )
    return out


def _same_stage(have: str, want: str, request: ExitRequest, slack: Decimal) -> bool:
    """Whether an exit placed under tag ``have`` serves the stage ``want``. Equal tags do; with
    a liquidation guard's ``slack``, so does a stop pulled inside liquidation whose price is
    within ``slack`` of where the stop would go now (pulled or not), all else equal."""
    if have == want:
        return True
    if slack <= 0:
        return False
    have_rest, have_price = pulled_price(have)
    want_rest, want_price = pulled_price(want)
    if have_price is None or have_rest != want_rest:
        return False
    now = want_price if want_price is not None else getattr(request, "trigger_price", None)
    return now is not None and abs(have_price - now) <= slack


def _matches(
    exit_: KnownExit, request: ExitRequest, tag: str = "", slack: Decimal = Decimal(0)
) -> bool:
    if not _same_stage(exit_.policy_tag, tag, request, slack):
        return False
    if exit_.kind is not ExitKind.of(request):
        return False
    if exit_.side is not request_side(request):
        return False
    return exit_.quantity == request_quantity(request)


def _newest_first(exits: list[KnownExit]) -> list[KnownExit]:
    return sorted(exits, key=lambda e: (-e.created_ms, e.client_id))


def _with(reason: str, note: str) -> str:
    return f"{reason}; {note}" if note else reason


def _plan_slot(
    slot: SlotKey,
    blocking: list[KnownExit],
    want: Want | None,
    unwanted: str = "slot no longer wanted (position closed)",
) -> list[Action]:
    if any(e.status in _WAIT for e in blocking):
        return []  # rule 3: resolve the unknown first
    if want is None:
        return [
            CancelExit(slot, e.client_id, e.kind, unwanted)
            for e in sorted(blocking, key=lambda e: e.client_id)
            if e.status in _CANCELLABLE
        ]
    request, tag, note = want.request, want.tag, want.note
    if not blocking:
        return [PlaceExit(slot, request, _with("position has no exit for this slot", note), tag)]
    ordered = _newest_first(blocking)
    keep = next((e for e in ordered if _matches(e, request, tag, want.slack)), None)
    actions: list[Action] = []
    if keep is None:
        # Replace the newest live exit, place first. A TRIGGERED one is replaced too: its child
        # rests for a position that has changed (e.g. a take-profit child sized for a position
        # that was closed and reopened) and must not block the slot.
        target = ordered[0]
        if target.side is not request_side(request):
            why = "side changed"
        elif target.policy_tag.partition("|")[0] != tag.partition("|")[0]:
            why = "protection plan changed"
        elif target.policy_tag != tag:
            why = "plan stage changed"
        else:
            why = "quantity changed"
        actions.append(
            ReplaceExit(slot, request, target.client_id, target.kind, _with(why, note), tag)
        )
        keep = target
    for extra in ordered:
        if extra is not keep and extra.status in _CANCELLABLE:
            actions.append(
                CancelExit(slot, extra.client_id, extra.kind, "duplicate exit on the slot")
            )
    return actions


def market_closed(rules: Mapping[Product, ExchangeRules], slot: SlotKey) -> str | None:
    """Why no order can be placed on ``slot``'s symbol now (rule 8), or None when it trades."""
    exchange = rules.get(slot.product)
    symbol = exchange.get(slot.symbol) if exchange is not None else None
    if symbol is None or symbol.status == "TRADING":
        return None
    return (
        f"{slot.symbol} is {symbol.status} at the venue: no exit can be placed until it is "
        "TRADING again (the position may be unprotected)"
    )


def _no_placements(slot: SlotKey, actions: list[Action], why: str) -> list[Action]:
    out: list[Action] = [a for a in actions if isinstance(a, CancelExit)]
    if any(isinstance(a, PlaceExit | ReplaceExit) for a in actions):
        out.insert(0, SkipSlot(slot, why))
    return out


def plan_exits(inp: PlanInput) -> list[Action]:
    """The actions that bring every managed position to its policy's exits (rules above)."""
    blocking = _blocking(inp)
    ws = wanted_plan(inp, blocking.keys())
    actions = list(ws.skips)
    last: list[Action] = []
    for slot in sorted(set(ws.wants) | set(blocking)):
        if slot in inp.holds or slot in ws.keep:
            continue
        unwanted = ws.cancel_reasons.get(slot.position, "slot no longer wanted (position closed)")
        planned = _plan_slot(slot, blocking.get(slot, []), ws.wants.get(slot), unwanted)
        closed = market_closed(inp.rules, slot)
        planned = planned if closed is None else _no_placements(slot, planned, closed)
        if slot.position in ws.cancels_first and slot.role is Role.TIME_STOP:
            last.extend(planned)  # Spot: the close goes after the cancels that free the balance
        else:
            actions.extend(planned)
    return actions + last


@dataclass(frozen=True, slots=True)
class SlotCoverage:
    """Whether one wanted slot has a live exit that matches what the position needs now."""

    slot: SlotKey
    covered: bool
    problem: str = ""  # why not, when not covered


def _slot_problem(blocking: list[KnownExit], want: Want) -> str:
    request, tag = want.request, want.tag
    if not blocking:
        return f"{want.due}: the close is not sent yet" if want.due else "no exit"
    live = [e for e in blocking if e.status in _LIVE]
    if any(_matches(e, request, tag, want.slack) for e in live):
        return ""
    waiting = [e for e in blocking if e.status in _WAIT]
    if waiting:
        return f"outcome of {waiting[0].client_id} not known yet ({waiting[0].status.value})"
    target = _newest_first(live)[0]
    if target.side is not request_side(request):
        return f"{target.client_id} is on the wrong side"
    if target.policy_tag != tag:
        # The old plan's exit still rests until the new one replaces it (placed first): the
        # position is covered, but not by what was asked.
        return f"{target.client_id} is the previous plan's exit; its replacement is pending"
    return (
        f"{target.client_id} covers {target.quantity}, the position needs "
        f"{request_quantity(request)}"
    )


def coverage(inp: PlanInput) -> dict[tuple[str, Product, str, PositionSide], list[SlotCoverage]]:
    """Per managed position (account, product, symbol, positionSide): each wanted slot and
    whether a live matching exit covers it. Pure; the supervisor's verdict is built on it."""
    blocking = _blocking(inp)
    ws = wanted_plan(inp, blocking.keys())
    out: dict[tuple[str, Product, str, PositionSide], list[SlotCoverage]] = {}
    for pos, _policy in inp.managed():
        out[pos.key] = []
    for slot, want in sorted(ws.wants.items()):
        problem = _slot_problem(blocking.get(slot, []), want)
        closed = market_closed(inp.rules, slot) if problem else None
        if closed is not None:
            problem = f"{problem}; {closed}"
        key = (slot.account, slot.product, slot.symbol, slot.position_side)
        out.setdefault(key, []).append(SlotCoverage(slot, not problem, problem))
    for skip in ws.skips:
        if isinstance(skip, SkipSlot):
            s = skip.slot
            key = (s.account, s.product, s.symbol, s.position_side)
            out.setdefault(key, []).append(SlotCoverage(s, False, skip.reason))
    return out
