"""The sweep kernel for exit *plans*: ladders, stop moves, trailing after a level, ROI steps,
time stops and the liquidation guard, with partial exits, in int64 arithmetic with numba.

Plain policies (no plan element) go to :func:`exitguard.backtest.kernel.sweep_kernel`, which
this kernel extends: same q-space, same rounding, same fills, same block skipping (so a plain
grid never pays for plans). The rules are the replay's (:mod:`exitguard.backtest.replay`, the
reference); ``tests/test_backtest_plans.py`` checks both agree trade by trade on random plans.

Per position, in q-space (q = price for a long's exits, -price for a short's):

- *falling* exits fire when ``q <= level``: the stop (closes all that is left), the trailing
  stop (all), the liquidation-distance close (a fraction, once);
- *rising* exits fire when ``q >= level``: the take-profit (all) or the ladder levels (each its
  fraction; nearest first, so the filled levels are always a prefix: ``nfill``).

At each point: (1) a time stop due at this point closes what is left (it was sent at ``due``,
before this print); (2) ROI steps due at this point replace the take-profit; (3) the point's
price: every exit whose condition holds fires, in path order (a long's falling exits first,
a short's rising exits first; falling exits highest level first with ties stop, trailing,
liquidation; rising exits lowest first), each leg filled per the fill model, until nothing is
left; (4) what the fills changed (the stop moved after a level, the trailing stop started after
a level, from this point's price) takes effect from the next point.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numba import njit, prange

from .kernel import BPS, NEG, POS, _ceil_tick, _floor_tick, _skip, _slip

__all__ = ["plan_kernel"]

I64 = npt.NDArray[np.int64]

R_SL, R_TP, R_TRAIL, R_END, R_TIME, R_LIQ = 0, 1, 2, 3, 4, 5
F_AMBIGUOUS, F_UNFILLED, F_MAKER, F_GAPPED = 1, 2, 4, 8


@njit(cache=True)
def _fill_leg(
    qs: I64,
    cont: npt.NDArray[np.bool_],
    path_t: I64,
    next_fill: I64,
    fill_t: I64,
    fill_px: I64,
    si: int,
    long: bool,
    k: int,
    fall: bool,
    level_q: int,
    level_num: int,  # the exact level times BPS (a trailing level is fractional)
    has_lim: bool,
    lim: int,
    tick: int,
    slip: int,
    touch: bool,
) -> tuple[int, int, int, bool]:
    """``(price, time, flags, unfilled)`` of an exit triggered at point ``k``."""
    s = 1 if long else -1
    nf = fill_t.shape[0]
    flags = 0
    if k == 0:
        prev_holds = True
    elif fall:
        prev_holds = qs[si, k - 1] * BPS <= level_num
    else:
        prev_holds = qs[si, k - 1] * BPS >= level_num
    touch_q = level_q if cont[k] and not prev_holds else qs[si, k]
    if touch_q != level_q:
        flags |= F_GAPPED
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
    if not has_lim:
        return _slip(arrival, long, slip, tick), arrival_t, flags, False
    if (long and arrival >= lim) or (not long and arrival <= lim):
        px = _slip(arrival, long, slip, tick)  # taker, but never beyond the limit
        return (max(lim, px) if long else min(lim, px)), arrival_t, flags, False
    m = rest_from
    while m < nf:
        if (long and fill_px[0, m] >= lim) or (not long and fill_px[1, m] <= lim):
            return lim, fill_t[m], flags | F_MAKER, False
        m += 1
    return _slip(fill_px[si, nf - 1], long, slip, tick), fill_t[nf - 1], flags | F_UNFILLED, True


@njit(cache=True, inline="always")
def _tp_q(e: int, bps: int, long: bool, tick: int) -> int:
    # A rising-q level (take-profit, ladder level): rounded away from the market.
    if long:
        return _ceil_tick(e * (BPS + bps), tick)
    return -_floor_tick(e * (BPS - bps), tick)


@njit(cache=True, inline="always")
def _clamp(px: int, long: bool, guard: bool, bound: int) -> int:
    # The liquidation guard: a long's stop never below the bound, a short's never above.
    if not guard:
        return px
    return max(px, bound) if long else min(px, bound)


@njit(cache=True, parallel=True)
def plan_kernel(
    qs: I64,
    tmax: I64,
    tmin: I64,
    off2: int,
    off3: int,
    cont: npt.NDArray[np.bool_],
    bars: bool,
    path_t: I64,
    next_fill: I64,
    fill_t: I64,
    fill_px: I64,
    e_side: npt.NDArray[np.int8],
    e_start: I64,
    e_ref: I64,
    e_price: I64,
    e_time: I64,  # entry fill time: holding time counts from it
    e_liq: I64,  # static liquidation price per entry (0: none)
    p_stop: I64,
    p_tp: I64,
    p_trail: I64,
    p_act: I64,
    p_limit: I64,
    p_trail_after: I64,
    p_nlev: I64,
    p_lev_bps: I64,  # (policies, MAX_LEVELS)
    p_lev_parts: I64,
    p_mv_be: I64,  # (policies, MAX_LEVELS): break-even offset after level l+1 (-1: none)
    p_mv_to: I64,  # (policies, MAX_LEVELS): to ladder level (1-based) after level l+1 (0: none)
    p_nroi: I64,
    p_roi_ms: I64,
    p_roi_bps: I64,
    p_time: I64,  # time stop after ms (0: none)
    p_liq_margin: I64,  # -1: no guard
    p_liq_within: I64,
    p_liq_parts: I64,
    tick: int,
    slip: int,
    touch: bool,
    out_reason: npt.NDArray[np.int8],
    out_point: I64,
    out_trigger: I64,
    out_time: I64,
    out_price: I64,
    out_flags: npt.NDArray[np.int8],
    out_legs: npt.NDArray[np.int8],
    out_value: I64,
    out_last_parts: npt.NDArray[np.int16],
    out_filled: npt.NDArray[np.int8],
) -> None:
    """Fill the ``out_*`` arrays (policies x entries); rules in the module docstring."""
    n = qs.shape[1]
    nf = fill_t.shape[0]
    for i in prange(p_stop.shape[0]):
        stop_bps = p_stop[i]
        trail = p_trail[i]
        act_bps = p_act[i]
        limit_bps = p_limit[i]
        nl = p_nlev[i]
        parts_sum = 0
        for lv in range(nl):
            parts_sum += p_lev_parts[i, lv]
        q_lvl = np.empty(max(nl, 1), dtype=np.int64)
        for j in range(e_side.shape[0]):
            long = e_side[j] > 0
            si = 0 if long else 1
            s = 1 if long else -1
            e = e_price[j]
            t_e = e_time[j]
            start = e_start[j]
            # The liquidation guard's static levels (rounded toward safety / away from market).
            liq = e_liq[j]
            guard = p_liq_margin[i] >= 0 and liq > 0
            bound = 0
            q_lc = NEG
            lc_parts = p_liq_parts[i]
            if guard:
                m_bps = p_liq_margin[i]
                x_bps = p_liq_within[i]
                if long:
                    bound = _ceil_tick(liq * (BPS + m_bps), tick)
                    if x_bps > 0:
                        q_lc = _floor_tick(liq * (BPS + x_bps), tick)
                else:
                    bound = _floor_tick(liq * (BPS - m_bps), tick)
                    if x_bps > 0:
                        q_lc = -_ceil_tick(liq * (BPS - x_bps), tick)
            has_stop = stop_bps > 0
            has_lim = has_stop and limit_bps >= 0
            stop_px = 0
            q_stop = NEG
            if has_stop:
                if long:
                    stop_px = _floor_tick(e * (BPS - stop_bps), tick)
                else:
                    stop_px = _ceil_tick(e * (BPS + stop_bps), tick)
                stop_px = _clamp(stop_px, long, guard, bound)
                q_stop = s * stop_px
            q_tp = POS
            if p_tp[i] > 0:
                q_tp = _tp_q(e, p_tp[i], long, tick)
            for lv in range(nl):
                q_lvl[lv] = _tp_q(e, p_lev_bps[i, lv], long, tick)
            nfill = 0
            # Time events as path points: the first print at or after the due time.
            k_ts = n
            ts_row = 0
            if p_time[i] > 0:
                due = t_e + p_time[i]
                k_ts = max(np.searchsorted(path_t, due), start)
                ts_row = min(np.searchsorted(fill_t, due), nf - 1)
            nroi = p_nroi[i]
            roi_idx = 0
            k_roi = n
            if nroi > 0:
                k_roi = max(np.searchsorted(path_t, t_e + p_roi_ms[i, 0]), start)
            has_trail = trail > 0
            trail_on = has_trail and p_trail_after[i] == 0
            rhs = BPS - trail if long else BPS + trail
            active = trail_on and act_bps == 0
            q_act = POS
            if has_trail and act_bps > 0:
                q_act = _tp_q(e, act_bps, long, tick)
            extreme = s * e_ref[j]
            rem = BPS
            legs = 0
            value = 0
            flags_all = 0
            l_reason = R_END
            l_point = -1
            l_trig = 0
            l_time = 0
            l_px = 0
            l_parts = 0
            k = start
            while k < n:
                if k == k_ts:  # the time stop: a market close of what is left
                    px = _slip(fill_px[si, ts_row], long, slip, tick)
                    legs += 1
                    value += rem * px
                    l_reason, l_point, l_trig = R_TIME, k, fill_px[si, ts_row]
                    l_time, l_px, l_parts = fill_t[ts_row], px, rem
                    rem = 0
                    break
                while k == k_roi:
                    q_tp = _tp_q(e, p_roi_bps[i, roi_idx], long, tick)
                    roi_idx += 1
                    if roi_idx < nroi:
                        k_roi = max(np.searchsorted(path_t, t_e + p_roi_ms[i, roi_idx]), start)
                    else:
                        k_roi = n
                k_time = min(k_ts, k_roi)
                q_fall = max(q_stop, q_lc)
                q_rise = q_tp
                if nfill < nl:
                    q_rise = q_lvl[nfill]
                if (k & 31) == 0:
                    # The largest aligned block that starts here, ends before the next time
                    # event, and can be skipped whole (kernel._skip: it may leave a trailing
                    # stop tracking the block's high).
                    step = 0
                    if (k & 32767) == 0 and k + 32768 <= k_time:
                        b = off3 + (k >> 15)
                        top = _skip(
                            tmax[si, b], tmin[si, b], q_fall, q_rise,
                            trail_on, active, q_act, extreme, rhs,
                        )  # fmt: skip
                        if top != NEG:
                            step = 32768
                    if step == 0 and (k & 1023) == 0 and k + 1024 <= k_time:
                        b = off2 + (k >> 10)
                        top = _skip(
                            tmax[si, b], tmin[si, b], q_fall, q_rise,
                            trail_on, active, q_act, extreme, rhs,
                        )  # fmt: skip
                        if top != NEG:
                            step = 1024
                    if step == 0 and k + 32 <= k_time:
                        b = k >> 5
                        top = _skip(
                            tmax[si, b], tmin[si, b], q_fall, q_rise,
                            trail_on, active, q_act, extreme, rhs,
                        )  # fmt: skip
                        if top != NEG:
                            step = 32
                    if step > 0:
                        if trail_on and not active and tmax[si, b] >= q_act:
                            active = True
                        extreme = top
                        k += step
                        continue
                q = qs[si, k]
                hit_stop = q <= q_stop
                hit_lc = q <= q_lc
                hit_rise = q >= q_rise
                hit_trail = False
                if trail_on:
                    if active:
                        if q > extreme:
                            extreme = q
                        elif q * BPS <= extreme * rhs:
                            hit_trail = True
                    elif q >= q_act:
                        active = True
                        extreme = q
                if not (hit_stop or hit_lc or hit_rise or hit_trail):
                    k += 1
                    continue
                ambiguous = bars and (k & 3) != 0 and q_rise < POS
                if ambiguous:
                    ambiguous = qs[si, k - (k & 3) + 2] >= q_rise
                filled_before = nfill
                for phase in range(2):
                    if rem == 0:
                        break
                    if (phase == 0) == long:  # falling exits
                        full = -1
                        full_num = 0
                        if hit_stop:
                            full = R_SL
                            full_num = q_stop * BPS
                        if hit_trail and (full < 0 or extreme * rhs > full_num):
                            full = R_TRAIL
                            full_num = extreme * rhs
                        if hit_lc and (full < 0 or q_lc * BPS > full_num):
                            parts = rem if lc_parts == BPS else rem * lc_parts // BPS
                            lc = q_lc
                            q_lc = NEG  # once per position
                            if parts > 0:
                                px, t, fl, _ = _fill_leg(
                                    qs, cont, path_t, next_fill, fill_t, fill_px, si, long, k,
                                    True, lc, lc * BPS, False, 0, tick, slip, touch,
                                )  # fmt: skip
                                legs += 1
                                value += parts * px
                                if ambiguous:
                                    fl |= F_AMBIGUOUS
                                flags_all |= fl
                                l_reason, l_point, l_trig = R_LIQ, k, s * lc
                                l_time, l_px, l_parts = t, px, parts
                                rem -= parts
                        if full >= 0 and rem > 0:
                            if full == R_SL:
                                level_q = q_stop
                                lim = 0
                                if has_lim:
                                    if long:
                                        lim = _floor_tick(stop_px * (BPS - limit_bps), tick)
                                    else:
                                        lim = _ceil_tick(stop_px * (BPS + limit_bps), tick)
                            else:
                                level_q = full_num // BPS
                                lim = 0
                            px, t, fl, unfilled = _fill_leg(
                                qs, cont, path_t, next_fill, fill_t, fill_px, si, long, k,
                                True, level_q, full_num, full == R_SL and has_lim, lim,
                                tick, slip, touch,
                            )  # fmt: skip
                            if ambiguous:
                                fl |= F_AMBIGUOUS
                            legs += 1
                            value += rem * px
                            flags_all |= fl
                            l_reason = R_END if unfilled else full
                            l_point, l_trig = k, s * level_q
                            l_time, l_px, l_parts = t, px, rem
                            rem = 0
                    else:  # rising exits
                        if nl == 0:
                            if hit_rise:
                                px, t, fl, _ = _fill_leg(
                                    qs, cont, path_t, next_fill, fill_t, fill_px, si, long, k,
                                    False, q_tp, q_tp * BPS, False, 0, tick, slip, touch,
                                )  # fmt: skip
                                legs += 1
                                value += rem * px
                                flags_all |= fl
                                l_reason, l_point, l_trig = R_TP, k, s * q_tp
                                l_time, l_px, l_parts = t, px, rem
                                rem = 0
                        else:
                            while nfill < nl and q >= q_lvl[nfill] and rem > 0:
                                lq = q_lvl[nfill]
                                if parts_sum == BPS and nfill == nl - 1:
                                    parts = rem  # the last level takes all that remains
                                else:
                                    parts = min(p_lev_parts[i, nfill], rem)
                                px, t, fl, _ = _fill_leg(
                                    qs, cont, path_t, next_fill, fill_t, fill_px, si, long, k,
                                    False, lq, lq * BPS, False, 0, tick, slip, touch,
                                )  # fmt: skip
                                legs += 1
                                value += parts * px
                                flags_all |= fl
                                l_reason, l_point, l_trig = R_TP, k, s * lq
                                l_time, l_px, l_parts = t, px, parts
                                rem -= parts
                                nfill += 1
                if rem == 0:
                    break
                if nfill > filled_before:
                    # The stop follows the ladder: the move of the highest filled level.
                    if has_stop:
                        for lv in range(nfill - 1, -1, -1):
                            if p_mv_be[i, lv] >= 0:
                                o = p_mv_be[i, lv]
                                if long:
                                    stop_px = _floor_tick(e * (BPS + o), tick)
                                else:
                                    stop_px = _ceil_tick(e * (BPS - o), tick)
                                break
                            if p_mv_to[i, lv] > 0:
                                stop_px = s * q_lvl[p_mv_to[i, lv] - 1]
                                break
                        stop_px = _clamp(stop_px, long, guard, bound)
                        q_stop = s * stop_px
                    if has_trail and not trail_on and nfill >= p_trail_after[i]:
                        trail_on = True  # tracking from this point's price
                        active = act_bps == 0
                        extreme = q
                k += 1
            if rem > 0:  # still open at the end of the data
                px = _slip(fill_px[si, nf - 1], long, slip, tick)
                legs += 1
                value += rem * px
                l_reason, l_point, l_trig = R_END, -1, 0
                l_time, l_px, l_parts = fill_t[nf - 1], px, rem
            out_reason[i, j] = l_reason
            out_point[i, j] = l_point
            out_trigger[i, j] = l_trig
            out_time[i, j] = l_time
            out_price[i, j] = l_px
            out_flags[i, j] = flags_all
            out_legs[i, j] = legs
            out_value[i, j] = value
            out_last_parts[i, j] = l_parts
            out_filled[i, j] = nfill
