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
"""

from __future__ import annotations

import math
from collections.abc import Callable
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
    Execution,
    ExitPolicy,
    ExitReason,
    FillModel,
)
from .outcomes import Outcomes

__all__ = ["replay"]

_STOP, _TP, _TRAIL = 0, 1, 2
_REASON = {_STOP: ExitReason.SL, _TP: ExitReason.TP, _TRAIL: ExitReason.TRAIL}
_PROGRESS_EVERY = 1 << 16


def _round_tick(value: Decimal | Fraction, tick: int, rounding: str) -> int:
    """``value`` rounded to a multiple of ``tick`` (exact rational arithmetic)."""
    steps = Fraction(value) / tick
    return (math.floor(steps) if rounding == ROUND_FLOOR else math.ceil(steps)) * tick


def _away(direction: TriggerDirection) -> str:
    """Round a level away from the market: down when it fires on a falling price."""
    return ROUND_FLOOR if direction is TriggerDirection.FALLING else ROUND_CEILING


class _Position:
    __slots__ = (
        "activated_at",
        "exit_side",
        "index",
        "limit",
        "long",
        "stop",
        "stop_dir",
        "tp",
        "tp_dir",
        "trail_dir",
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


class _Replay:
    def __init__(
        self, market: Market, plan: EntryPlan, policy: ExitPolicy, execution: Execution
    ) -> None:
        self.market = market
        self.plan = plan
        self.policy = policy
        self.execution = execution
        self.out = Outcomes.empty(1, len(plan))
        path = market.path
        self.prices = (path.long, path.short)  # as a long's / a short's exits see the path
        self.books = ((TriggerBook(), TrailingBook()), (TriggerBook(), TrailingBook()))
        self.open = [0, 0]
        self.positions: dict[int, _Position] = {}
        self.rate = Fraction(policy.trail_bps, BPS)

    # -- placement ---------------------------------------------------------------------------

    def place(self, j: int) -> None:
        policy, tick = self.policy, self.market.tick
        long = bool(self.plan.side[j] > 0)
        pos = _Position(j, long, policy.stop_limit_bps is not None)
        entry = Decimal(int(self.plan.price[j]))
        sign = -1 if long else 1  # a long's stop is below, a short's above
        trig_book, trail_book = self.books[0 if long else 1]
        if policy.stop_bps:
            level = entry * (BPS + sign * policy.stop_bps) / BPS
            pos.stop = _round_tick(level, tick, _away(pos.stop_dir))
            trig_book.add(4 * j + _STOP, pos.stop_dir, pos.stop)
            if policy.stop_limit_bps is not None:
                limit = Decimal(pos.stop) * (BPS + sign * policy.stop_limit_bps) / BPS
                pos.limit = _round_tick(limit, tick, _away(pos.stop_dir))
        if policy.take_profit_bps:
            level = entry * (BPS - sign * policy.take_profit_bps) / BPS
            pos.tp = _round_tick(level, tick, _away(pos.tp_dir))
            trig_book.add(4 * j + _TP, pos.tp_dir, pos.tp)
        if policy.trail_bps:
            activation = None
            if policy.activation_bps:
                act_dir = TriggerDirection.RISING if long else TriggerDirection.FALLING
                level = entry * (BPS - sign * policy.activation_bps) / BPS
                activation = (act_dir, _round_tick(level, tick, _away(act_dir)))
            trail_book.add(
                4 * j + _TRAIL,
                pos.exit_side,
                policy.trail_bps,
                BPS,
                int(self.plan.reference[j]),
                activation,
            )
        self.positions[j] = pos
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
            for si in (0, 1):
                if not self.open[si]:
                    continue
                price = int(self.prices[si][k])
                trig_book, trail_book = self.books[si]
                fired = trig_book.fire(price)
                update = trail_book.on_price(price)
                for key in update.activated:
                    self.positions[key // 4].activated_at = k
                if fired or update.fired:
                    self._handle(k, si, [*fired, *update.fired])
            if progress is not None and k % _PROGRESS_EVERY == 0:
                progress(k, n)
        for j, pos in list(self.positions.items()):  # still open: close at the last print
            self._close_at_end(j, pos.long, flags=0, point=-1, trigger=0)
        for j in order[ptr:]:  # entries after the last path point: never protected
            self._close_at_end(int(j), bool(plan.side[j] > 0), flags=0, point=-1, trigger=0)
        if progress is not None:
            progress(n, n)
        return self.out

    def _extreme(self, pos: _Position, k: int) -> int:
        """The trailing stop's tracked extreme at point ``k`` (highest for SELL, lowest for BUY)."""
        prices = self.prices[0 if pos.long else 1]
        pick = max if pos.long else min
        if pos.activated_at is not None:
            return int(pick(prices[pos.activated_at : k + 1]))
        seen = prices[int(self.plan.start[pos.index]) : k + 1]
        return int(pick(int(self.plan.reference[pos.index]), int(pick(seen))))

    def _handle(self, k: int, si: int, keys: list[int]) -> None:
        hits: dict[int, list[int]] = {}
        for key in keys:
            hits.setdefault(key // 4, []).append(key % 4)
        price = int(self.prices[si][k])
        for j, kinds in hits.items():
            pos = self.positions.pop(j)
            self.open[si] -= 1
            candidates: list[tuple[int, TriggerDirection, Fraction]] = []
            for kind in kinds:
                if kind == _STOP:
                    assert pos.stop is not None
                    candidates.append((kind, pos.stop_dir, Fraction(pos.stop)))
                elif kind == _TP:
                    assert pos.tp is not None
                    candidates.append((kind, pos.tp_dir, Fraction(pos.tp)))
                else:
                    extreme = self._extreme(pos, k)
                    level = extreme * (1 - self.rate if pos.long else 1 + self.rate)
                    if not _holds(pos.trail_dir, price, level):  # the book and we disagree
                        raise AssertionError(f"trailing fired at {price}, level {level}")
                    candidates.append((kind, pos.trail_dir, level))
            # Path order: falling-price exits first, highest level first; then rising-price
            # exits, lowest level first; ties in placement order (stop, take-profit, trailing).
            candidates.sort(
                key=lambda c: (
                    c[1] is TriggerDirection.RISING,
                    -c[2] if c[1] is TriggerDirection.FALLING else c[2],
                    c[0],
                )
            )
            kind, direction, level = candidates[0]
            trig_book, trail_book = self.books[si]
            for other in (_STOP, _TP):
                trig_book.remove(4 * j + other)  # siblings (a no-op for fired or absent keys)
            trail_book.remove(4 * j + _TRAIL)
            self._fill(k, pos, kind, direction, level)

    # -- fills -------------------------------------------------------------------------------

    def _slip(self, price: int, long: bool) -> int:
        s = self.execution.slippage_bps
        if long:  # a SELL exit, rounded down
            return _round_tick(Decimal(price) * (BPS - s) / BPS, self.market.tick, ROUND_FLOOR)
        return _round_tick(Decimal(price) * (BPS + s) / BPS, self.market.tick, ROUND_CEILING)

    def _close_at_end(self, j: int, long: bool, flags: int, point: int, trigger: int) -> None:
        fills = self.market.fills
        last = len(fills) - 1
        self._record(
            j,
            ExitReason.END,
            point,
            trigger,
            int(fills.time_ms[last]),
            self._slip(int((fills.sell if long else fills.buy)[last]), long),
            flags,
        )

    def _record(
        self, j: int, reason: ExitReason, point: int, trigger: int, t: int, px: int, flags: int
    ) -> None:
        out = self.out
        out.reason[0, j] = reason
        out.point[0, j] = point
        out.trigger[0, j] = trigger
        out.exit_time[0, j] = t
        out.exit_price[0, j] = px
        out.flags[0, j] = flags

    def _fill(
        self, k: int, pos: _Position, kind: int, direction: TriggerDirection, level: Fraction
    ) -> None:
        market, path = self.market, self.market.path
        prices = self.prices[0 if pos.long else 1]
        level_units = _round_tick(level, 1, _away(direction))  # a trailing level is fractional
        flags = 0
        prev_holds = k == 0 or _holds(direction, int(prices[k - 1]), level)
        touch = level_units if bool(path.continuous[k]) and not prev_holds else int(prices[k])
        if touch != level_units:
            flags |= FLAG_GAPPED
        if path.bars and kind != _TP and pos.tp is not None and k % 4:
            favourable = int(prices[k - k % 4 + 2])
            if condition_holds(pos.tp_dir, Decimal(favourable), Decimal(pos.tp)):
                flags |= FLAG_AMBIGUOUS_BAR
        fills = market.fills
        nf = len(fills)
        book = fills.sell if pos.long else fills.buy
        row = int(market.next_fill[k])
        if self.execution.fill is FillModel.TOUCH:
            arrival, arrival_t, rest_from = touch, int(path.time_ms[k]), row
        else:
            arow = min(row, nf - 1)
            arrival, arrival_t, rest_from = int(book[arow]), int(fills.time_ms[arow]), row + 1
        j = pos.index
        reason = _REASON[kind]
        if kind == _STOP and pos.limit is not None:
            limit = pos.limit
            # A SELL limit executes at prices >= limit, a BUY limit at prices <= limit.
            if (arrival >= limit) if pos.long else (arrival <= limit):
                px = self._slip(arrival, pos.long)
                px = max(limit, px) if pos.long else min(limit, px)
                self._record(j, reason, k, level_units, arrival_t, px, flags)
                return
            rest = book[rest_from:] if rest_from < nf else book[:0]
            hit = np.flatnonzero(rest >= limit if pos.long else rest <= limit)
            if hit.size:
                m = rest_from + int(hit[0])
                t = int(fills.time_ms[m])
                self._record(j, reason, k, level_units, t, limit, flags | FLAG_MAKER)
            else:
                flags |= FLAG_LIMIT_UNFILLED
                self._close_at_end(j, pos.long, flags, k, level_units)
            return
        self._record(j, reason, k, level_units, arrival_t, self._slip(arrival, pos.long), flags)


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
    if market.path.source != policy.source:
        raise ValueError(
            f"market path is {market.path.source}, the policy triggers on {policy.source}"
        )
    return _Replay(market, plan, policy, execution).run(progress)
