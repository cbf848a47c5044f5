"""The sweep kernel: every (policy, entry) pair evaluated in int64 arithmetic with numba.

This is the kernel of *plain* policies (one stop, take-profit and trailing stop, each closing
the whole position); exit plans (ladders, stop moves, time stops, the liquidation guard) run in
:mod:`exitguard.backtest.plan_kernel`, which extends these rules, so a plain grid never pays
for them.

The rules are the replay's (:mod:`exitguard.backtest.replay`, which runs the domain's
``TriggerBook`` / ``TrailingBook``), restated as a scan; ``tests/test_backtest_sweep.py`` checks
on random grids that both give identical outcomes, trade by trade.

q-space (as in :mod:`exitguard.domain.trailing_book`): q = price for a long's exits (SELL
orders), q = -price for a short's (BUY orders). Then, for both sides,

- stop-loss fires when ``q <= qS`` (SELL STOP: price <= stop; BUY STOP: price >= stop),
- take-profit fires when ``q >= qT`` (SELL TP: price >= tp; BUY TP: price <= tp),
- a trailing stop activates when ``q >= qA``, tracks ``Q = max q`` (highest price for SELL,
  lowest for BUY) and fires when ``q * den <= Q * rhs`` with ``rhs = den - num`` (SELL) or
  ``den + num`` (BUY): Binance's ``p <= H(1 - r)`` / ``p >= L(1 + r)``. Equality fires.

Several exits firing on one price fire in path order (``TriggerBook``): exits that fire on a
falling price first, highest level first; then those that fire on a rising price, lowest first;
ties in placement order (stop, take-profit, trailing). The first one closes the position and
cancels its siblings (OCO).

Speed: the path's q-values are summarised in three levels of block maxima/minima (32, 1024 and
32768 points). A block in which no exit can fire is skipped whole (a trailing stop leaves it
tracking the block's maximum: :func:`_skip`), so a position costs O(events * log) instead of
O(holding time).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numba import njit, prange

__all__ = ["LEVEL_SHIFTS", "block_tables", "sweep_kernel"]

I64 = npt.NDArray[np.int64]

BPS = 10_000
NEG = -(1 << 62)  # a disabled stop: no q is ever <= it
POS = 1 << 62  # a disabled take-profit or activation
LEVEL_SHIFTS = (5, 10, 15)  # block sizes 32, 1024, 32768

R_SL, R_TP, R_TRAIL, R_END = 0, 1, 2, 3
F_AMBIGUOUS, F_UNFILLED, F_MAKER, F_GAPPED = 1, 2, 4, 8


def block_tables(q: I64) -> tuple[I64, I64, tuple[int, int, int]]:
    """Block maxima and minima of ``q`` at the three levels, concatenated, and their offsets."""
    maxs: list[I64] = []
    mins: list[I64] = []
    offsets: list[int] = []
    total = 0
    for shift in LEVEL_SHIFTS:
        size = 1 << shift
        blocks = -(-q.shape[0] // size)
        pad = blocks * size - q.shape[0]
        hi = np.concatenate([q, np.full(pad, NEG, dtype=np.int64)]).reshape(blocks, size)
        lo = np.concatenate([q, np.full(pad, POS, dtype=np.int64)]).reshape(blocks, size)
        maxs.append(hi.max(axis=1) if blocks else np.zeros(0, dtype=np.int64))
        mins.append(lo.min(axis=1) if blocks else np.zeros(0, dtype=np.int64))
        offsets.append(total)
        total += blocks
    return (
        np.concatenate(maxs).astype(np.int64),
        np.concatenate(mins).astype(np.int64),
        (offsets[0], offsets[1], offsets[2]),
    )


@njit(cache=True, inline="always")
def _floor_tick(x: int, tick: int) -> int:
    # x is a price times BPS; floor division on int64 follows Python (rounds toward -inf).
    return (x // (BPS * tick)) * tick


@njit(cache=True, inline="always")
def _ceil_tick(x: int, tick: int) -> int:
    return -((-x) // (BPS * tick)) * tick


@njit(cache=True, inline="always")
def _skip(
    bmax: int,
    bmin: int,
    q_stop: int,
    q_tp: int,
    has_trail: bool,
    active: bool,
    q_act: int,
    extreme: int,
    rhs: int,
) -> int:
    """NEG when a block with these q extremes must be walked point by point; otherwise the
    trailing extreme after it.

    A block is skipped whole when no exit can fire inside it. The stop and take-profit cannot
    when the block stays strictly between them. A trailing stop cannot when even the highest
    extreme it can reach inside the block, ``top = max(extreme, bmax)``, puts its level below
    the block's lowest point; it then leaves the block tracking ``top``. That holds for a
    trailing stop that activates inside the block too: the first point at or past the
    activation level comes no later than the block's maximum, so the maximum is tracked.
    """
    if bmin <= q_stop or bmax >= q_tp:
        return NEG
    if not has_trail or (not active and bmax < q_act):
        return extreme
    top = bmax if (not active or bmax > extreme) else extreme
    if bmin * BPS <= top * rhs:
        return NEG
    return top


@njit(cache=True, inline="always")
def _slip(price: int, long: bool, slip: int, tick: int) -> int:
    # A long's exit is a SELL (rounded down), a short's a BUY (rounded up): against the trader.
    if long:
        return _floor_tick(price * (BPS - slip), tick)
    return _ceil_tick(price * (BPS + slip), tick)


@njit(cache=True, parallel=True)
def sweep_kernel(
    qs: I64,  # (2, n): q-path for long (row 0) and short (row 1) exits
    tmax: I64,  # (2, m): block maxima, LEVEL_SHIFTS levels concatenated
    tmin: I64,
    off2: int,
    off3: int,
    cont: npt.NDArray[np.bool_],
    bars: bool,
    path_t: I64,
    next_fill: I64,
    fill_t: I64,
    fill_px: I64,  # (2, nf): what a SELL (row 0) and a BUY (row 1) market order gets
    e_side: npt.NDArray[np.int8],
    e_start: I64,
    e_ref: I64,
    e_price: I64,
    p_stop: I64,
    p_tp: I64,
    p_trail: I64,
    p_act: I64,
    p_limit: I64,  # -1: stop is a market order
    tick: int,
    slip: int,
    touch: bool,
    out_reason: npt.NDArray[np.int8],
    out_point: I64,
    out_trigger: I64,
    out_time: I64,
    out_price: I64,
    out_flags: npt.NDArray[np.int8],
) -> None:
    """Fill the ``out_*`` arrays (policies x entries); rules in the module docstring."""
    n = qs.shape[1]
    nf = fill_t.shape[0]
    for i in prange(p_stop.shape[0]):
        stop_bps = p_stop[i]
        tp_bps = p_tp[i]
        trail = p_trail[i]
        act_bps = p_act[i]
        limit_bps = p_limit[i]
        for j in range(e_side.shape[0]):
            long = e_side[j] > 0
            si = 0 if long else 1
            s = 1 if long else -1
            e = e_price[j]
            # Levels in price, rounded to the tick away from the market (the condition on a
            # tick-grid price is then exactly the unrounded one).
            q_stop = NEG
            stop_px = 0
            if stop_bps > 0:
                if long:
                    stop_px = _floor_tick(e * (BPS - stop_bps), tick)
                else:
                    stop_px = _ceil_tick(e * (BPS + stop_bps), tick)
                q_stop = s * stop_px
            q_tp = POS
            if tp_bps > 0:
                if long:
                    q_tp = _ceil_tick(e * (BPS + tp_bps), tick)
                else:
                    q_tp = -_floor_tick(e * (BPS - tp_bps), tick)
            has_trail = trail > 0
            rhs = BPS - trail if long else BPS + trail
            active = has_trail and act_bps == 0
            q_act = POS
            if has_trail and act_bps > 0:
                if long:
                    q_act = _ceil_tick(e * (BPS + act_bps), tick)
                else:
                    q_act = -_floor_tick(e * (BPS - act_bps), tick)
            extreme = s * e_ref[j]
            reason = R_END
            k = e_start[j]
            while k < n:
                if (k & 31) == 0:
                    # The largest aligned block that starts here and can be skipped whole.
                    step = 0
                    if (k & 32767) == 0:
                        b = off3 + (k >> 15)
                        top = _skip(
                            tmax[si, b], tmin[si, b], q_stop, q_tp,
                            has_trail, active, q_act, extreme, rhs,
                        )  # fmt: skip
                        if top != NEG:
                            step = 32768
                    if step == 0 and (k & 1023) == 0:
                        b = off2 + (k >> 10)
                        top = _skip(
                            tmax[si, b], tmin[si, b], q_stop, q_tp,
                            has_trail, active, q_act, extreme, rhs,
                        )  # fmt: skip
                        if top != NEG:
                            step = 1024
                    if step == 0:
                        b = k >> 5
                        top = _skip(
                            tmax[si, b], tmin[si, b], q_stop, q_tp,
                            has_trail, active, q_act, extreme, rhs,
                        )  # fmt: skip
                        if top != NEG:
                            step = 32
                    if step > 0:
                        if has_trail and not active and tmax[si, b] >= q_act:
                            active = True
                        extreme = top
                        k += step
                        continue
                q = qs[si, k]
                hit_stop = q <= q_stop
                hit_tp = q >= q_tp
                hit_trail = False
                if has_trail:
                    if active:
                        if q > extreme:
                            extreme = q  # a new extreme never fires with a positive rate
                        elif q * BPS <= extreme * rhs:
                            hit_trail = True
                    elif q >= q_act:
                        active = True
                        extreme = q
                if hit_stop or hit_tp or hit_trail:
                    # Path order: exits that fire on a falling *price* go first: a long's
                    # stop and trailing stop, a short's take-profit. Between a stop and a
                    # trailing stop the higher q-level is met first; a tie keeps the stop.
                    stop_side = (hit_stop or hit_trail) if long else not hit_tp
                    if stop_side:
                        if hit_stop and (not hit_trail or q_stop * BPS >= extreme * rhs):
                            reason = R_SL
                        else:
                            reason = R_TRAIL
                    else:
                        reason = R_TP
                    break
                k += 1
            flags = 0
            if reason == R_END:
                out_point[i, j] = -1
                out_trigger[i, j] = 0
                out_time[i, j] = fill_t[nf - 1]
                out_price[i, j] = _slip(fill_px[si, nf - 1], long, slip, tick)
                out_reason[i, j] = R_END
                out_flags[i, j] = 0
                continue
            if reason == R_SL:
                level = q_stop
                prev_holds = k == 0 or qs[si, k - 1] <= q_stop
            elif reason == R_TP:
                level = q_tp
                prev_holds = k == 0 or qs[si, k - 1] >= q_tp
            else:
                level = (extreme * rhs) // BPS
                prev_holds = k == 0 or qs[si, k - 1] * BPS <= extreme * rhs
            touch_q = level if cont[k] and not prev_holds else qs[si, k]
            if touch_q != level:
                flags |= F_GAPPED
            # Inside a bar (not at its open) whose favourable extreme (point 2) reached the TP.
            if (
                bars
                and reason != R_TP
                and tp_bps > 0
                and (k & 3) != 0
                and qs[si, k - (k & 3) + 2] >= q_tp
            ):
                flags |= F_AMBIGUOUS
            row = next_fill[k]
            if touch:
                arrival = s * touch_q
                arrival_t = path_t[k]
                rest_from = row
            else:
                arow = row if row < nf else nf - 1
                arrival = fill_px[si, arow]
                arrival_t = fill_t[arow]
                rest_from = row + 1
            out_point[i, j] = k
            out_trigger[i, j] = s * level
            if reason == R_SL and limit_bps >= 0:
                if long:
                    lim = _floor_tick(stop_px * (BPS - limit_bps), tick)
                else:
                    lim = _ceil_tick(stop_px * (BPS + limit_bps), tick)
                if (long and arrival >= lim) or (not long and arrival <= lim):
                    px = _slip(arrival, long, slip, tick)  # taker, but never beyond the limit
                    out_price[i, j] = max(lim, px) if long else min(lim, px)
                    out_time[i, j] = arrival_t
                else:
                    m = rest_from
                    while m < nf:
                        if (long and fill_px[0, m] >= lim) or (not long and fill_px[1, m] <= lim):
                            break
                        m += 1
                    if m < nf:
                        flags |= F_MAKER
                        out_price[i, j] = lim
                        out_time[i, j] = fill_t[m]
                    else:  # never filled: the position runs to the end of the data
                        flags |= F_UNFILLED
                        reason = R_END
                        out_price[i, j] = _slip(fill_px[si, nf - 1], long, slip, tick)
                        out_time[i, j] = fill_t[nf - 1]
            else:
                out_price[i, j] = _slip(arrival, long, slip, tick)
                out_time[i, j] = arrival_t
            out_reason[i, j] = reason
            out_flags[i, j] = flags
