"""Event-driven replay of one exit policy through the domain's trigger engine.

The price path (:mod:`exitguard.backtest.market`: trades for CONTRACT_PRICE, mark klines as four
points per bar for MARK_PRICE) is fed point by point into the very books the paper venue runs:
:class:`~exitguard.domain.trigger_book.TriggerBook` (stop-loss and take-profit) and
:class:`~exitguard.domain.trailing_book.TrailingBook` (trailing stops), one pair per exit side
(a long's exits are SELL orders, a short's BUY orders, and each side sees its own intrabar order).
Directions come from :func:`~exitguard.domain.triggers.trigger_direction` and levels are computed
from Decimal prices, so this module is the reference the vectorised sweep is checked against.

Rules, in order, for each point ``k``:

1. Entries whose exits start at ``k`` place them: a stop (STOP_MARKET, or STOP with a limit
   ``stop_limit_bps`` beyond the trigger), a take-profit, a trailing stop (callback ``trail_bps``;
   with ``activation_bps`` it waits for the activation price, else tracks from the last price).
   Levels are rounded to the tick away from the market (down for triggers that fire on a falling
   price), so on tick-grid prices the condition is exactly the unrounded one.
2. The point's price goes to both books of the side; what fires is grouped by position. If
   several exits of one position fire on one price they fire in path order: exits that fire on a
   falling price first, highest level first, then those that fire on a rising price, lowest
   first; ties in placement order (stop, take-profit, trailing). The first one closes the
   position and its siblings are cancelled (OCO: "one triggers, the others are cancelled").
3. The triggered order fills (:class:`~exitguard.backtest.model.FillModel`): a market exit at the
   next print (or the touching price) with adverse slippage; gaps fill at the gapped price,
   never at the trigger. A stop-limit fills at once if marketable (at the slipped price, bounded
   by the limit, taker), else rests and fills at its limit at the first later print that reaches
   it (maker), else never: the position then runs to the end of the data (reason END, flagged).
4. Positions still open at the end close at the last print (reason END).

On a bar path, a stop or trailing stop that fires inside a bar whose favourable extreme also
reached the take-profit is flagged ``ambiguous_bar``: the adverse-first order was applied.

Exit plans (:class:`~exitguard.backtest.model.ExitPolicy` plan fields) close a position in
*legs* (fractions in parts per 10,000; :class:`Leg`):

- Ladder levels are take-profit triggers placed with the position, nearest first; level ``i``
  closes ``min(fraction_i, left)``, the last one all that is left when the fractions sum to 1.
  A stop, trailing stop, take-profit or time stop closes all that is left (USD-M closePosition).
- Time events come before a point's price: at the first point at or after ``entry time +
  time_stop_ms`` the time stop (a market order sent at that time) fills at the first fill row at
  or after it (slipped; its ``trigger`` is that print); ROI steps replace the take-profit at the
  first point at or after ``entry time + after_ms``.
- In rule 2, a partial leg (a ladder level, the liquidation-distance close) does not cancel its
  siblings: the others that fired on the same price fill next, in the same path order (ties:
  stop, take-profit, trailing, liquidation close, ladder levels), until nothing is left.
- After a point's legs, a filled level moves the stop (the move of the highest filled level:
  break-even ``entry (1 + offset)`` rounded like a stop trigger, or the price of a ladder
  level) and starts a trailing stop waiting for it (tracking from this point's price); both
  watch the path from the next point.
- Liquidation guard (USD-M, isolated margin, :func:`~exitguard.backtest.model.liquidation_price`
  from the run's leverage and maintenance margin rate, static per entry): every stop (the first
  and every moved one) is pulled inside ``L (1 + margin)`` (long; short ``L (1 - margin)``),
  rounded toward safety; the liquidation-distance close is a trigger at ``L (1 + within)``
  (rounded like a stop trigger) that closes ``liq_close_parts`` of what is left, once. The
  backtest watches the policy's trigger path (mark klines for MARK_PRICE) where the live
  manager watches the mark price.
"""

from __future__ import annotations

import functools
import math
import operator
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from fractions import Fraction

import numpy as np

from exitguard.domain.enums import Side
from exitguard.domain.trailing_book import TrailingBook
from exitguard.domain.trigger_book import TriggerBook
from exitguard.domain.triggers import TriggerDirection, condition_holds, trigger_direction

from .market import EntryPlan, Market
from .model import (
    BPS,
    FLAG_AMBIGUOUS_BAR,
    FLAG_GAPPED,
    FLAG_LIMIT_UNFILLED,
    FLAG_MAKER,
    BacktestInputError,
    Execution,
    ExitPolicy,
    ExitReason,
    FillModel,
    liquidation_price,
)
from .outcomes import Outcomes

__all__ = ["Leg", "replay", "replay_legs"]

_STOP, _TP, _TRAIL, _LIQ, _LEVEL = 0, 1, 2, 3, 4  # ladder level i (0-based): _LEVEL + i
_KEYS = 16  # keys per position: 16 * entry + kind
_REASON = {_STOP: ExitReason.SL, _TP: ExitReason.TP, _TRAIL: ExitReason.TRAIL, _LIQ: ExitReason.LIQ}
_PROGRESS_EVERY = 1 << 16


def _round_tick(value: Decimal | Fraction, tick: int, rounding: str) -> int:
    """``value`` rounded to a multiple of ``tick`` (exact rational arithmetic)."""
    steps = Fraction(value) / tick
    return (math.floor(steps) if rounding == ROUND_FLOOR else math.ceil(steps)) * tick


def _away(direction: TriggerDirection) -> str:
    """Round a level away from the market: down when it fires on a falling price."""
    return ROUND_FLOOR if direction is TriggerDirection.FALLING else ROUND_CEILING


@dataclass(slots=True)
class Leg:
    """One partial or final exit of a position: ``parts`` of 10,000 at ``price``."""

    parts: int
    reason: ExitReason
    point: int
    trigger: int
    time_ms: int
    price: int
    flags: int


class _Position:
    __slots__ = (
        "activated_at",
        "exit_side",
        "filled",
        "index",
        "legs",
        "levels",
        "limit",
        "liq",
        "long",
        "rem",
        "stop",
        "stop_dir",
        "tp",
        "tp_dir",
        "trail_dir",
        "trail_on",
        "trail_ref",
        "trail_start",
    )

    def __init__(self, index: int, long: bool, stop_limit: bool) -> None:
        self.index = index
        self.long = long
        self.exit_side = Side.SELL if long else Side.BUY
        self.stop: int | None = None
        self.tp: int | None = None
        self.limit: int | None = None
        stop_type = "STOP" if stop_limit else "STOP_MARKET"  # USD-M names; Spot: STOP_LOSS*
        self.stop_dir = trigger_direction(stop_type, self.exit_side)
        self.tp_dir = trigger_direction("TAKE_PROFIT_MARKET", self.exit_side)
        # A SELL trailing stop fires on a falling price (and activates on a rising one).
        self.trail_dir = TriggerDirection.FALLING if long else TriggerDirection.RISING
        self.activated_at: int | None = None
        self.trail_on = False
        self.trail_start = 0  # first point the trailing stop sees
        self.trail_ref = 0  # the last price at its placement
        self.levels: list[int] = []  # ladder level prices, nearest first
        self.filled = 0  # ladder levels filled (always the nearest ones)
        self.liq: int | None = None  # the liquidation-distance close level, until it fires
        self.rem = BPS  # parts of 10,000 still open
        self.legs: list[Leg] = []


class _Replay:
    def __init__(
        self, market: Market, plan: EntryPlan, policy: ExitPolicy, execution: Execution
    ) -> None:
        self.market = market
        self.plan = plan
        self.policy = policy
        self.execution = execution
        self.out = Outcomes.empty(1, len(plan))
        self.legs: list[list[Leg]] = [[] for _ in range(len(plan))]
        path = market.path
        self.prices = (path.long, path.short)  # as a long's / a short's exits see the path
        self.books = ((TriggerBook(), TrailingBook()), (TriggerBook(), TrailingBook()))
        self.open = [0, 0]
        self.positions: dict[int, _Position] = {}
        self.rate = Fraction(policy.trail_bps, BPS)
        self.events: dict[int, list[tuple[int, int]]] = {}  # point -> (entry, -1 | ROI step)
        self.last_takes_all = sum(level.parts for level in policy.ladder) == BPS
        self.liquidation = [
            liquidation_price(
                int(plan.price[j]),
                bool(plan.side[j] > 0),
                execution.leverage,
                execution.maint_margin_bps,
                market.tick,
            )
            if execution.leverage
            else 0
            for j in range(len(plan))
        ]

    # -- placement ---------------------------------------------------------------------------

    def _level(self, entry: Decimal, bps: int, direction: TriggerDirection, up: bool) -> int:
        level = entry * (BPS + (bps if up else -bps)) / BPS
        return _round_tick(level, self.market.tick, _away(direction))

    def _stop_level(self, pos: _Position, level: int) -> int:
        """The liquidation guard: a long's stop never below ``L (1 + m)``, a short's never above
        ``L (1 - m)`` (rounded inside, toward safety)."""
        liq = self.liquidation[pos.index]
        margin = self.policy.liq_margin_bps
        if margin is None or liq <= 0:
            return level
        if pos.long:
            bound = _round_tick(
                Fraction(liq * (BPS + margin), BPS), self.market.tick, ROUND_CEILING
            )
            return max(level, bound)
        bound = _round_tick(Fraction(liq * (BPS - margin), BPS), self.market.tick, ROUND_FLOOR)
        return min(level, bound)

    def _place_stop(self, pos: _Position, level: int) -> None:
        policy = self.policy
        trig_book = self.books[0 if pos.long else 1][0]
        pos.stop = self._stop_level(pos, level)
        trig_book.add(_KEYS * pos.index + _STOP, pos.stop_dir, pos.stop)
        if policy.stop_limit_bps is not None:
            sign = -1 if pos.long else 1
            limit = Decimal(pos.stop) * (BPS + sign * policy.stop_limit_bps) / BPS
            pos.limit = _round_tick(limit, self.market.tick, _away(pos.stop_dir))

    def _place_tp(self, pos: _Position, bps: int) -> None:
        entry = Decimal(int(self.plan.price[pos.index]))
        pos.tp = self._level(entry, bps, pos.tp_dir, pos.long)
        self.books[0 if pos.long else 1][0].add(_KEYS * pos.index + _TP, pos.tp_dir, pos.tp)

    def _place_trailing(self, pos: _Position, start: int, reference: int) -> None:
        policy = self.policy
        activation = None
        if policy.activation_bps:
            act_dir = TriggerDirection.RISING if pos.long else TriggerDirection.FALLING
            entry = Decimal(int(self.plan.price[pos.index]))
            activation = (act_dir, self._level(entry, policy.activation_bps, act_dir, pos.long))
        pos.trail_on, pos.trail_start, pos.trail_ref = True, start, reference
        self.books[0 if pos.long else 1][1].add(
            _KEYS * pos.index + _TRAIL, pos.exit_side, policy.trail_bps, BPS, reference, activation
        )

    def place(self, j: int) -> None:
        policy, tick = self.policy, self.market.tick
        long = bool(self.plan.side[j] > 0)
        pos = _Position(j, long, policy.stop_limit_bps is not None)
        entry = Decimal(int(self.plan.price[j]))
        self.positions[j] = pos
        trig_book = self.books[0 if long else 1][0]
        if policy.stop_bps:
            self._place_stop(pos, self._level(entry, policy.stop_bps, pos.stop_dir, not long))
        if policy.take_profit_bps:
            self._place_tp(pos, policy.take_profit_bps)
        for i, level in enumerate(policy.ladder):
            price = self._level(entry, level.bps, pos.tp_dir, long)
            pos.levels.append(price)
            trig_book.add(_KEYS * j + _LEVEL + i, pos.tp_dir, price)
        liq = self.liquidation[j]
        if policy.liq_margin_bps is not None and liq > 0 and policy.liq_close_within_bps:
            x = policy.liq_close_within_bps
            liq_dir = pos.stop_dir  # it fires as a stop does: on the move toward liquidation
            exact = Fraction(liq * (BPS + (x if long else -x)), BPS)
            pos.liq = _round_tick(exact, tick, _away(liq_dir))
            trig_book.add(_KEYS * j + _LIQ, liq_dir, pos.liq)
        if policy.trail_bps and not policy.trail_after_level:
            self._place_trailing(pos, int(self.plan.start[j]), int(self.plan.reference[j]))
        # Time events: the first path point at or after the due time (never before the start).
        t_e, start = int(self.plan.time_ms[j]), int(self.plan.start[j])
        due_points = []
        if policy.time_stop_ms:
            due_points.append((t_e + policy.time_stop_ms, -1))
        due_points += [(t_e + step.after_ms, n) for n, step in enumerate(policy.roi)]
        for due, what in due_points:
            k = max(int(np.searchsorted(self.market.path.time_ms, due, side="left")), start)
            self.events.setdefault(k, []).append((j, what))
        self.open[0 if long else 1] += 1

    # -- the event loop ----------------------------------------------------------------------

    def run(self, progress: Callable[[int, int], None] | None) -> Outcomes:
        plan = self.plan
        n = len(self.market.path)
        order = np.argsort(plan.start, kind="stable")
        starts = plan.start[order]
        ptr, total = 0, len(order)
        for k in range(n):
            while ptr < total and starts[ptr] == k:
                self.place(int(order[ptr]))
                ptr += 1
            if k in self.events:
                self._time_events(k, self.events.pop(k))
            for si in (0, 1):
                if not self.open[si]:
                    continue
                price = int(self.prices[si][k])
                trig_book, trail_book = self.books[si]
                fired = trig_book.fire(price)
                update = trail_book.on_price(price)
                for key in update.activated:
                    self.positions[key // _KEYS].activated_at = k
                if fired or update.fired:
                    self._handle(k, si, [*fired, *update.fired])
            if progress is not None and k % _PROGRESS_EVERY == 0:
                progress(k, n)
        for pos in list(self.positions.values()):  # still open: close at the last print
            self._close_at_end(pos, flags=0, point=-1, trigger=0)
        for j in order[ptr:]:  # entries after the last path point: never protected
            pos = _Position(int(j), bool(plan.side[j] > 0), False)
            self._close_at_end(pos, flags=0, point=-1, trigger=0)
        if progress is not None:
            progress(n, n)
        return self.out

    def _time_events(self, k: int, events: list[tuple[int, int]]) -> None:
        """A time stop due here closes what is left (sent at ``due``, before this point's
        print); ROI steps due here replace the take-profit."""
        fills = self.market.fills
        for j, what in sorted(events, key=lambda e: (e[0], e[1])):  # the time stop (-1) first
            pos = self.positions.get(j)
            if pos is None:
                continue
            if what < 0:
                due = int(self.plan.time_ms[j]) + self.policy.time_stop_ms
                row = min(int(np.searchsorted(fills.time_ms, due, side="left")), len(fills) - 1)
                met = int((fills.sell if pos.long else fills.buy)[row])
                px = self._slip(met, pos.long)
                self._leg(pos, pos.rem, ExitReason.TIME, k, met, int(fills.time_ms[row]), px, 0)
            else:
                self.books[0 if pos.long else 1][0].remove(_KEYS * j + _TP)
                self._place_tp(pos, self.policy.roi[what].tp_bps)

    def _extreme(self, pos: _Position, k: int) -> int:
        """The trailing stop's tracked extreme at point ``k`` (highest for SELL, lowest for BUY)."""
        prices = self.prices[0 if pos.long else 1]
        pick = max if pos.long else min
        if pos.activated_at is not None:
            return int(pick(prices[pos.activated_at : k + 1]))
        seen = prices[pos.trail_start : k + 1]
        return int(pick(pos.trail_ref, int(pick(seen))))

    def _handle(self, k: int, si: int, keys: list[int]) -> None:
        hits: dict[int, list[int]] = {}
        for key in keys:
            hits.setdefault(key // _KEYS, []).append(key % _KEYS)
        price = int(self.prices[si][k])
        for j, kinds in hits.items():
            pos = self.positions[j]
            candidates: list[tuple[int, TriggerDirection, Fraction]] = []
            for kind in kinds:
                if kind == _STOP:
                    assert pos.stop is not None
                    candidates.append((kind, pos.stop_dir, Fraction(pos.stop)))
                elif kind == _TP:
                    assert pos.tp is not None
                    candidates.append((kind, pos.tp_dir, Fraction(pos.tp)))
                elif kind == _LIQ:
                    assert pos.liq is not None
                    candidates.append((kind, pos.stop_dir, Fraction(pos.liq)))
                elif kind >= _LEVEL:
                    candidates.append((kind, pos.tp_dir, Fraction(pos.levels[kind - _LEVEL])))
                else:
                    extreme = self._extreme(pos, k)
                    level = extreme * (1 - self.rate if pos.long else 1 + self.rate)
                    if not _holds(pos.trail_dir, price, level):  # the book and we disagree
                        raise AssertionError(f"trailing fired at {price}, level {level}")
                    candidates.append((kind, pos.trail_dir, level))
            # Path order: falling-price exits first, highest level first; then rising-price
            # exits, lowest level first; ties in placement order (stop, take-profit, trailing,
            # liquidation close, ladder levels nearest first).
            candidates.sort(
                key=lambda c: (
                    c[1] is TriggerDirection.RISING,
                    -c[2] if c[1] is TriggerDirection.FALLING else c[2],
                    c[0],
                )
            )
            # A stop or trailing stop inside a bar whose favourable extreme reached the
            # nearest take-profit still resting is flagged (the adverse-first order decided).
            rising = pos.tp if pos.tp is not None else None
            if pos.filled < len(pos.levels):
                rising = pos.levels[pos.filled]
            filled_before = pos.filled
            for kind, direction, level in candidates:
                self._fill(k, pos, kind, direction, level, rising)
                if pos.rem == 0:
                    break
            if pos.rem and pos.filled > filled_before:
                self._after_levels(pos, k, price)

    def _after_levels(self, pos: _Position, k: int, price: int) -> None:
        """What a filled level changes, from the next point on: the stop moves (the move of
        the highest filled level), the trailing stop starts (tracking from this price)."""
        policy = self.policy
        if pos.stop is not None:
            moves = {m.after_level: m for m in policy.stop_moves}
            for level_no in range(pos.filled, 0, -1):
                move = moves.get(level_no)
                if move is None:
                    continue
                if move.to_level is not None:
                    target = pos.levels[move.to_level - 1]
                else:
                    entry = Decimal(int(self.plan.price[pos.index]))
                    offset = move.be_offset_bps or 0
                    target = self._level(entry, offset, pos.stop_dir, pos.long)
                self.books[0 if pos.long else 1][0].remove(_KEYS * pos.index + _STOP)
                self._place_stop(pos, target)
                break
        after = policy.trail_after_level
        if policy.trail_bps and after and not pos.trail_on and pos.filled >= after:
            self._place_trailing(pos, k + 1, price)

    # -- fills -------------------------------------------------------------------------------

    def _slip(self, price: int, long: bool) -> int:
        s = self.execution.slippage_bps
        if long:  # a SELL exit, rounded down
            return _round_tick(Decimal(price) * (BPS - s) / BPS, self.market.tick, ROUND_FLOOR)
        return _round_tick(Decimal(price) * (BPS + s) / BPS, self.market.tick, ROUND_CEILING)

    def _close_at_end(self, pos: _Position, flags: int, point: int, trigger: int) -> None:
        fills = self.market.fills
        last = len(fills) - 1
        px = self._slip(int((fills.sell if pos.long else fills.buy)[last]), pos.long)
        self._leg(pos, pos.rem, ExitReason.END, point, trigger, int(fills.time_ms[last]), px, flags)

    def _leg(
        self,
        pos: _Position,
        parts: int,
        reason: ExitReason,
        point: int,
        trigger: int,
        t: int,
        px: int,
        flags: int,
    ) -> None:
        """Record a leg; the last one (nothing left) closes the position and its exits."""
        pos.legs.append(Leg(parts, reason, point, trigger, t, px, flags))
        pos.rem -= parts
        if pos.rem:
            return
        j = pos.index
        if self.positions.pop(j, None) is not None:
            si = 0 if pos.long else 1
            self.open[si] -= 1
            trig_book, trail_book = self.books[si]
            for kind in range(_TRAIL):
                trig_book.remove(_KEYS * j + kind)
            for kind in range(_LIQ, _LEVEL + len(pos.levels)):
                trig_book.remove(_KEYS * j + kind)
            trail_book.remove(_KEYS * j + _TRAIL)
        self.legs[j] = pos.legs
        out = self.out
        out.reason[0, j] = reason
        out.point[0, j] = point
        out.trigger[0, j] = trigger
        out.exit_time[0, j] = t
        out.exit_price[0, j] = px
        out.flags[0, j] = functools.reduce(operator.or_, (leg.flags for leg in pos.legs), 0)
        out.legs[0, j] = len(pos.legs)
        out.exit_value[0, j] = sum(leg.parts * leg.price for leg in pos.legs)
        out.last_parts[0, j] = parts
        out.filled_levels[0, j] = pos.filled

    def _fill(
        self,
        k: int,
        pos: _Position,
        kind: int,
        direction: TriggerDirection,
        level: Fraction,
        rising: int | None,
    ) -> None:
        market, path = self.market, self.market.path
        prices = self.prices[0 if pos.long else 1]
        level_units = _round_tick(level, 1, _away(direction))  # a trailing level is fractional
        flags = 0
        prev_holds = k == 0 or _holds(direction, int(prices[k - 1]), level)
        touch = level_units if bool(path.continuous[k]) and not prev_holds else int(prices[k])
        if touch != level_units:
            flags |= FLAG_GAPPED
        falling_exit = kind in (_STOP, _TRAIL, _LIQ)
        if path.bars and falling_exit and rising is not None and k % 4:
            favourable = int(prices[k - k % 4 + 2])
            if condition_holds(pos.tp_dir, Decimal(favourable), Decimal(rising)):
                flags |= FLAG_AMBIGUOUS_BAR
        if kind == _LIQ:
            pos.liq = None  # once per position
            frac = self.policy.liq_close_parts
            parts = pos.rem if frac == BPS else pos.rem * frac // BPS
            if not parts:
                return
            reason = ExitReason.LIQ
        elif kind >= _LEVEL:
            last = kind - _LEVEL == len(pos.levels) - 1
            parts = (
                pos.rem
                if last and self.last_takes_all
                else min(self.policy.ladder[kind - _LEVEL].parts, pos.rem)
            )
            pos.filled += 1
            reason = ExitReason.TP
        else:
            parts = pos.rem
            reason = _REASON[kind]
        fills = market.fills
        nf = len(fills)
        book = fills.sell if pos.long else fills.buy
        row = int(market.next_fill[k])
        if self.execution.fill is FillModel.TOUCH:
            arrival, arrival_t, rest_from = touch, int(path.time_ms[k]), row
        else:
            arow = min(row, nf - 1)
            arrival, arrival_t, rest_from = int(book[arow]), int(fills.time_ms[arow]), row + 1
        if kind == _STOP and pos.limit is not None:
            limit = pos.limit
            # A SELL limit executes at prices >= limit, a BUY limit at prices <= limit.
            if (arrival >= limit) if pos.long else (arrival <= limit):
                px = self._slip(arrival, pos.long)
                px = max(limit, px) if pos.long else min(limit, px)
                self._leg(pos, parts, reason, k, level_units, arrival_t, px, flags)
                return
            rest = book[rest_from:] if rest_from < nf else book[:0]
            hit = np.flatnonzero(rest >= limit if pos.long else rest <= limit)
            if hit.size:
                m = rest_from + int(hit[0])
                t = int(fills.time_ms[m])
                self._leg(pos, parts, reason, k, level_units, t, limit, flags | FLAG_MAKER)
            else:
                self._close_at_end(pos, flags | FLAG_LIMIT_UNFILLED, k, level_units)
            return
        px = self._slip(arrival, pos.long)
        self._leg(pos, parts, reason, k, level_units, arrival_t, px, flags)


def _holds(direction: TriggerDirection, price: int, level: Fraction) -> bool:
    # condition_holds' rule (equality fires), on an exact fractional level.
    return price >= level if direction is TriggerDirection.RISING else price <= level


def replay(
    market: Market,
    plan: EntryPlan,
    policy: ExitPolicy,
    execution: Execution,
    progress: Callable[[int, int], None] | None = None,
) -> Outcomes:
    """Replay ``policy`` over ``plan``'s entries on ``market``: outcomes of shape (1, entries).

    ``market.path.source`` must be the policy's trigger source. Rules: the module docstring.
    ``progress(done, total)`` is called every 65536 points and at the end.
    """
    policy.validate()
    execution.validate()
    if policy.liq_margin_bps is not None and not execution.leverage:
        raise BacktestInputError("leverage", "a liquidation guard needs the run's leverage > 0")
    if market.path.source != policy.source:
        raise ValueError(
            f"market path is {market.path.source}, the policy triggers on {policy.source}"
        )
    return _Replay(market, plan, policy, execution).run(progress)


def replay_legs(
    market: Market, plan: EntryPlan, policy: ExitPolicy, execution: Execution
) -> tuple[Outcomes, list[list[Leg]]]:
    """:func:`replay`, and each entry's legs in order (fraction, reason, point, trigger, fill):
    the per-leg detail behind the aggregate :class:`Outcomes` fields, for trade reports."""
    policy.validate()
    execution.validate()
    if policy.liq_margin_bps is not None and not execution.leverage:
        raise BacktestInputError("leverage", "a liquidation guard needs the run's leverage > 0")
    if market.path.source != policy.source:
        raise ValueError(
            f"market path is {market.path.source}, the policy triggers on {policy.source}"
        )
    engine = _Replay(market, plan, policy, execution)
    out = engine.run(None)
    return out, engine.legs
