"""Benchmark: policy x tick evaluations per second of the sweep kernel, next to vectorbt.

Scenario (one run, fixed seed): a synthetic path of 1,000,000 trades (geometric random walk,
2 bps per trade, rare 80 bps jumps; prices in units of 0.01 around 50,000.00), a long entry
every 1,000 ticks (1,000 entries), and a grid of 1,000 policies: 20 stop distances (25..500 bps)
x 25 take-profit distances (25..625 bps) x {fixed stop, trailing stop}. A "fixed" policy has a
stop-loss at the distance; a "trailing" one has no stop-loss and a trailing stop with that
callback, active from the entry. No fees, no slippage, fills at the touching price: the model
vectorbt implements, so both can be compared.

- ``exitguard``: :func:`exitguard.backtest.sweep.evaluate` on the whole grid (numba, ``prange``
  over policies, all cores). Figure: policies x ticks / wall time, the median of the repetitions
  (after one untimed run that compiles or loads the cached kernel). The kernel skips blocks in
  which nothing can happen, so it does far fewer than policies x ticks elementary steps;
  ``position_ticks_covered`` sums every position's ticks from entry to exit (what a naive
  per-position scan would step through).
- ``vectorbt``: ``Portfolio.from_signals(close, entries, sl_stop=..., sl_trail=..., tp_stop=...)``
  with one column per policy (vectorbt 1.x spells a trailing stop ``sl_stop`` + ``sl_trail=True``;
  there is no separate ``tsl_stop``). It keeps several (ticks x columns) arrays in memory, so it
  runs reduced grids (every k-th policy: ``--vbt-policies`` columns and a tenth of that); its
  figure is columns x ticks / wall time of ``from_signals`` (records are read afterwards,
  untimed), median of repetitions after a warm-up on a short path (numba compilation). The
  comparison uses vectorbt's best per-evaluation figure of those runs.
- ``agreement``: vectorbt holds one position per column and ignores entries while it is in one;
  exitguard opens a position per entry. Where the models coincide, every vectorbt trade (one
  entry tick) must have the same exit tick and exit price as exitguard's position opened at that
  tick (open vectorbt trades must be exitguard END exits). Counted over the reduced grid.

- ``plain_paths`` (the plain grid, same run): the plain kernel called directly as before exit
  plans existed (``before``), through :func:`evaluate` as now (``after``: the plan check and the
  one-leg outcome fields included), and through the plan kernel (what plain policies would cost
  there, had they not kept their own kernel).
- ``ladder``: a grid of 1,000 exit *plans* on the same path and entries: 5 stop distances x 5
  scale-out ladders (2 to 5 levels, some with a runner) x {no move, break-even + 0/5/10 bps
  after level 1} x 10 time stops (none, 5 min .. 40 h), through the plan kernel (partial exits).
  ``agreement_with_replay``: two of them replayed event by event, compared trade by trade.
  vectorbt is not run on it: ``from_signals`` has ``sl_stop``/``tp_stop``/``sl_trail`` and one
  position per column, no partial exits (a ladder), no stop moved after a partial fill and no
  holding-time exit; the JSON says so.

Goals (docs/numbers.md): faster than vectorbt, >= 100 million policy x tick evaluations per second
on 2 cores (issue 14: >= 1e9 nominal for the plain grid). Reported, not asserted. One JSON object
goes to stdout.

Run: ``.venv/bin/python bench/bench_sweep.py [--ticks 1000000] [--vbt-policies 50] [--repeat 3]``
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import time
from decimal import Decimal
from typing import Any

import numba
import numpy as np

from exitguard.backtest.entries import Entries
from exitguard.backtest.kernel import sweep_kernel
from exitguard.backtest.market import build_market, plan_entries
from exitguard.backtest.model import Execution, ExitPolicy, ExitReason, FillModel, Level
from exitguard.backtest.outcomes import Outcomes
from exitguard.backtest.replay import replay
from exitguard.backtest.sweep import PolicyGrid, evaluate, prepare_kernel
from exitguard.backtest.synthetic import random_trades
from exitguard.domain.enums import WorkingType

SEED = 20260101
DISTANCES = list(range(25, 501, 25))  # 20 stop / callback distances
TAKE_PROFITS = list(range(25, 626, 25))  # 25 take-profit distances
LADDER_STOPS = [50, 100, 150, 200, 300]
LADDERS = [
    (Level(50, 5_000), Level(100, 5_000)),
    (Level(25, 3_000), Level(50, 3_000), Level(100, 4_000)),
    (Level(100, 3_300), Level(200, 3_300), Level(400, 3_400)),
    (Level(50, 2_500), Level(150, 2_500)),  # half runs to the stop
    (Level(30, 2_000), Level(60, 2_000), Level(120, 2_000), Level(240, 2_000), Level(480, 2_000)),
]
BE_OFFSETS: list[int | None] = [None, 0, 5, 10]
TIME_STOPS_MIN = [0, 5, 15, 30, 60, 120, 240, 480, 960, 2_400]


def make_grid() -> PolicyGrid:
    policies = []
    for trailing in (False, True):
        for d in DISTANCES:
            for tp in TAKE_PROFITS:
                if trailing:
                    policies.append(ExitPolicy(0, tp, d, 0))
                else:
                    policies.append(ExitPolicy(d, tp, 0, 0))
    return PolicyGrid(tuple(policies))


def make_ladder_grid() -> PolicyGrid:
    return PolicyGrid.product(
        LADDER_STOPS,
        ladders=LADDERS,
        be_offsets_bps=BE_OFFSETS,
        time_stops_ms=[60_000 * m for m in TIME_STOPS_MIN],
    )


def plain_paths(
    km: Any, plan: Any, columns: dict[str, Any], execution: Execution, repeat: int, ticks: int
) -> dict[str, Any]:
    """The plain grid before (the plain kernel alone), after (evaluate) and in the plan kernel."""
    count = int(columns["stop"].shape[0])

    def before() -> Outcomes:
        out = Outcomes.empty(count, len(plan))
        sweep_kernel(
            km.qs, km.tmax, km.tmin, km.off2, km.off3, km.cont, km.bars, km.path_t,
            km.next_fill, km.fill_t, km.fill_px, plan.side.astype(np.int8), plan.start,
            plan.reference, plan.price, columns["stop"], columns["tp"], columns["trail"],
            columns["act"], columns["limit"], km.tick, 0, True, out.reason, out.point,
            out.trigger, out.exit_time, out.exit_price, out.flags,
        )  # fmt: skip
        return out

    runs = {
        "before_plain_kernel_alone": before,
        "after_evaluate": lambda: evaluate(km, plan, columns, execution),
        "plan_kernel_on_plain": lambda: evaluate(km, plan, columns, execution, True),
    }
    results = {name: fn() for name, fn in runs.items()}  # compile or load the kernels (untimed)
    # Interleaved repetitions: on a shared machine the load drifts between runs.
    samples: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeat):
        for name, fn in runs.items():
            seconds, results[name] = timed(fn, 1)
            samples[name].append(seconds)
    report: dict[str, Any] = {}
    for name, times in samples.items():
        seconds = statistics.median(times)
        report[name] = {
            "seconds": round(seconds, 4),
            "evaluations_per_second": round(count * ticks / seconds),
        }
    same = results["after_evaluate"].first_difference(results["plan_kernel_on_plain"])
    old = results["before_plain_kernel_alone"]
    new = results["after_evaluate"]
    report["identical_outcomes"] = same is None and all(
        np.array_equal(getattr(old, f), getattr(new, f))
        for f in ("reason", "point", "trigger", "exit_time", "exit_price", "flags")
    )
    return report


def ladder_bench(
    market: Any, km: Any, plan: Any, execution: Execution, repeat: int, ticks: int
) -> dict[str, Any]:
    grid = make_ladder_grid()
    columns = grid.arrays(range(len(grid)))
    evaluate(km, plan, columns, execution)  # compile or load the cached kernel (untimed)
    seconds, out = timed(lambda: evaluate(km, plan, columns, execution), repeat)
    end_point = np.where(out.point >= 0, out.point, ticks)
    visited = int((end_point - plan.start[None, :]).clip(min=0).sum())
    checked = {}
    for row in (13, len(grid) - 3):  # BE+0 and a 30 min time stop; BE+10, 5 levels, 8 h
        t0 = time.perf_counter()
        ref = replay(market, plan, grid.policies[row], execution)
        diff = ref.first_difference(out.take([row]))
        checked[str(row)] = {
            "policy": grid.policies[row].as_dict(),
            "identical": diff is None,
            "first_difference": diff,
            "replay_seconds": round(time.perf_counter() - t0, 2),
        }
    reasons = np.bincount(out.reason.ravel(), minlength=len(ExitReason))
    return {
        "policies": len(grid),
        "grid": "5 stops x 5 ladders (2-5 levels, one with a 50 % runner) x {no move, "
        "break-even +0/+5/+10 bps after level 1} x 10 time stops (none, 5 min .. 40 h)",
        "seconds": round(seconds, 4),
        "policy_tick_evaluations": len(grid) * ticks,
        "evaluations_per_second": round(len(grid) * ticks / seconds),
        "positions": len(grid) * len(plan),
        "position_ticks_covered": visited,
        "position_ticks_covered_per_second": round(visited / seconds),
        "legs": int(out.legs.astype(np.int64).sum()),
        "final_reasons": {r.name: int(reasons[r]) for r in ExitReason},
        "agreement_with_replay": checked,
        "vectorbt": "not run: Portfolio.from_signals has sl_stop / tp_stop / sl_trail and one "
        "position per column; it cannot express a scale-out ladder (partial exits), a stop "
        "moved to break-even after a partial fill, or a holding-time exit (open-source "
        "vectorbt has no time stop in from_signals)",
    }


def entry_ticks(time_ms: np.ndarray, every: int) -> np.ndarray:
    """Every ``every``-th tick, moved forward to a tick whose time is new (so it is its own row)."""
    out = []
    for i in range(every, time_ms.shape[0] - 1, every):
        while i < time_ms.shape[0] - 1 and time_ms[i] == time_ms[i - 1]:
            i += 1
        out.append(i)
    return np.array(out, dtype=np.int64)


def timed(fn: Any, repeat: int) -> tuple[float, Any]:
    times = []
    result = None
    for _ in range(repeat):
        gc.collect()
        gc.disable()
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
        gc.enable()
    return statistics.median(times), result


def run_vectorbt(
    close: np.ndarray, ticks: np.ndarray, policies: list[ExitPolicy], repeat: int
) -> tuple[float, Any, str]:
    import pandas as pd  # type: ignore[import-untyped]
    import vectorbt as vbt  # type: ignore[import-untyped]

    cols = len(policies)
    stop = np.array([(p.stop_bps or p.trail_bps) / 1e4 for p in policies])[None, :]
    take = np.array([p.take_profit_bps / 1e4 for p in policies])[None, :]
    trail = np.array([p.trail_bps > 0 for p in policies])[None, :]
    signal = np.zeros(close.shape[0], dtype=bool)
    signal[ticks] = True

    def simulate(c: np.ndarray, s: np.ndarray) -> Any:
        return vbt.Portfolio.from_signals(
            pd.Series(c),
            entries=pd.Series(s),
            sl_stop=stop,
            sl_trail=trail,
            tp_stop=take,
            size=1.0,
            init_cash=1e15,
            direction="longonly",
            max_orders=2 * (int(s.sum()) + 1) * cols,
        )

    simulate(close[:5000], signal[:5000])  # warm-up: numba compilation
    seconds, pf = timed(lambda: simulate(close, signal), repeat)
    return seconds, pf.trades.records, vbt.__version__


def agreement(
    records: Any, out: Any, rows: list[int], tick_of_entry: dict[int, int]
) -> dict[str, Any]:
    checked = agreed = 0
    first_mismatch = None
    for rec in records.itertuples():
        row = rows[int(rec.col)]
        j = tick_of_entry.get(int(rec.entry_idx))
        if j is None:
            continue
        checked += 1
        if int(rec.status) == 0:  # open at the end
            same = int(out.reason[row, j]) == 3 and int(out.point[row, j]) == -1
        else:
            same = int(out.point[row, j]) == int(rec.exit_idx) and int(
                out.exit_price[row, j]
            ) == float(rec.exit_price)
        agreed += same
        if not same and first_mismatch is None:
            first_mismatch = {
                "policy": row,
                "entry_tick": int(rec.entry_idx),
                "vectorbt": [int(rec.exit_idx), float(rec.exit_price), int(rec.status)],
                "exitguard": [
                    int(out.point[row, j]),
                    int(out.exit_price[row, j]),
                    int(out.reason[row, j]),
                ],
            }
    return {"trades_checked": checked, "agreed": agreed, "first_mismatch": first_mismatch}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--ticks", type=int, default=1_000_000)
    parser.add_argument("--entry-every", type=int, default=1_000)
    parser.add_argument("--vbt-policies", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-vectorbt", action="store_true", help="skip the vectorbt runs")
    args = parser.parse_args()

    trades = random_trades(args.ticks, seed=SEED)
    market = build_market(trades, WorkingType.CONTRACT_PRICE)
    ticks = entry_ticks(trades.time_ms, args.entry_every)
    entries = Entries(
        trades.time_ms[ticks],
        np.ones(ticks.shape[0], dtype=np.int8),
        (Decimal(1),) * ticks.shape[0],
    )
    execution = Execution(fill=FillModel.TOUCH)
    plan = plan_entries(market, entries, 0)
    assert np.array_equal(plan.fill_row, ticks), "entries must fill at their own tick"
    grid = make_grid()
    km = prepare_kernel(market)
    columns = grid.arrays(range(len(grid)))

    evaluate(km, plan, columns, execution)  # compile or load the cached kernel (untimed)
    seconds, out = timed(lambda: evaluate(km, plan, columns, execution), args.repeat)
    evaluations = len(grid) * args.ticks
    end_point = np.where(out.point >= 0, out.point, args.ticks)
    visited = int((end_point - plan.start[None, :]).clip(min=0).sum())

    close = trades.price.astype(np.float64)
    tick_of_entry = {int(t): j for j, t in enumerate(ticks)}
    vbt_runs = []
    agree: dict[str, Any] = {}
    vbt_version = ""
    paths = plain_paths(km, plan, columns, execution, args.repeat, args.ticks)
    ladder = ladder_bench(market, km, plan, execution, args.repeat, args.ticks)
    counts = [] if args.no_vectorbt else [max(1, args.vbt_policies // 10), args.vbt_policies]
    for count in sorted(set(counts)):
        step = max(1, len(grid) // count)
        rows = list(range(0, len(grid), step))[:count]
        vbt_seconds, records, vbt_version = run_vectorbt(
            close, ticks, [grid.policies[r] for r in rows], args.repeat
        )
        vbt_runs.append(
            {
                "policies": len(rows),
                "reduced_grid": f"every {step}th policy",
                "seconds": round(vbt_seconds, 4),
                "policy_tick_evaluations": len(rows) * args.ticks,
                "evaluations_per_second": round(len(rows) * args.ticks / vbt_seconds),
            }
        )
        agree = agreement(records, out, rows, tick_of_entry)  # the larger grid's, last
        del records
        gc.collect()

    ours_rate = evaluations / seconds
    # vectorbt's best figure
    vbt_rate = max((run["evaluations_per_second"] for run in vbt_runs), default=float("nan"))
    print(
        json.dumps(
            {
                "benchmark": "bench_sweep",
                "machine": {
                    "cpus": os.cpu_count(),
                    "numba_threads": numba.get_num_threads(),
                    "python": platform.python_version(),
                    "numba": numba.__version__,
                    "vectorbt": vbt_version,
                },
                "scenario": {
                    "ticks": args.ticks,
                    "entries": int(ticks.shape[0]),
                    "policies": len(grid),
                    "grid": "20 stop/callback x 25 take-profit x {fixed stop, trailing stop}",
                    "fill": "touch, no fees, no slippage",
                    "repeat": args.repeat,
                },
                "exitguard": {
                    "seconds": round(seconds, 4),
                    "policy_tick_evaluations": evaluations,
                    "evaluations_per_second": round(ours_rate),
                    "positions": len(grid) * int(ticks.shape[0]),
                    "position_ticks_covered": visited,
                    "position_ticks_covered_per_second": round(visited / seconds),
                },
                "vectorbt": {
                    "runs": vbt_runs,
                    "why_reduced": "from_signals keeps (ticks x columns) arrays: about 50 MB per "
                    "policy at 1M ticks, so the full 1,000-policy grid would need ~50 GB",
                    "note": "one position per column (entries while in a position are ignored); "
                    "the figure includes from_signals' broadcasting and wrapping",
                },
                "speedup_per_evaluation_vs_vectorbt_best": round(ours_rate / vbt_rate, 1),
                "goal_100M_per_second": ours_rate >= 100e6,
                "goal_1e9_per_second_plain": ours_rate >= 1e9,
                "goal_faster_than_vectorbt": ours_rate > vbt_rate,
                "agreement": agree,
                "plain_paths": paths,
                "ladder": ladder,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
