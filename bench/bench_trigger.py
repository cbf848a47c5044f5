"""Benchmark: price ticks per second through the resting-trigger engine, next to a naive scan.

Scenarios (one run, fixed seed, prices in integer units of 0.01 around 50,000.00):

- ``results``: a :class:`TriggerBook` holding 1k / 10k / 100k static triggers placed away from
  the price (half RISING above, half FALLING below), fed a bounded random walk that crosses none
  of them. The naive baseline scans every order on every tick (``price >= trigger`` or
  ``price <= trigger``) over the same orders and the same prices.
- ``crossing``: 100k static triggers laid out so that a random walk crosses ~1 % of them; the
  book is rebuilt (untimed) before every repetition, and the engine's fired set is checked against
  the set the path's min/max implies.
- ``trailing``: a :class:`TrailingBook` with 1k / 10k / 100k trailing orders over 20 (side, rate)
  groups (callback 0.5 %..5 %): half active (SELL highs above the band, BUY lows below it, fire
  levels outside it) and half waiting for an activation price far away; a quiet random walk
  inside the band, next to a naive per-order loop (update the order's own extreme, test the
  formula). ``trailing.moving``: the same 100k book under a trending random walk that keeps making
  new highs and lows (groups merge runs, some orders activate and fire).

Each repetition times the whole price path with ``time.perf_counter_ns()`` (garbage collector off,
as ``timeit`` does); reported figures are the median over repetitions. The naive baseline runs
fewer ticks (about 2M order checks per repetition) so the whole script stays well under a minute.
Goals (docs/numbers.md): per-tick cost flat in the resting count (here: 100k within 1.5x of 1k), and
>= 1,000,000 non-crossing ticks/s at 100k resting. Speed is reported, not asserted. One JSON object
goes to stdout.

Run: ``.venv/bin/python bench/bench_trigger.py [--ticks 200000] [--repeat 7]``
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from exitguard.domain import Side
from exitguard.domain.trailing_book import TrailingBook
from exitguard.domain.trigger_book import TriggerBook
from exitguard.domain.triggers import TriggerDirection

SEED = 20260101
P0 = 5_000_000  # 50,000.00 in units of 0.01
BAND = 5_000  # quiet walks stay within P0 +- BAND (0.1 %)
SIZES = (1_000, 10_000, 100_000)
NAIVE_CHECKS = 2_000_000  # order checks per naive repetition
RATES = [(n, 1000) for n in range(5, 55, 5)]  # USD-M callbackRate 0.5 .. 5.0 (%)


def bounded_walk(rng: random.Random, n: int, lo: int, hi: int, step: int) -> list[int]:
    price = (lo + hi) // 2
    path = []
    for _ in range(n):
        price += rng.randint(-step, step)
        price = lo + (price - lo) % (hi - lo + 1)  # wrap inside [lo, hi]
        path.append(price)
    return path


def timed(run: Callable[[], object], repeat: int) -> list[int]:
    """Wall-clock ns of ``run()`` for each repetition (gc off while timing)."""
    out = []
    for _ in range(repeat):
        gc.collect()
        gc.disable()
        try:
            t0 = time.perf_counter_ns()
            run()
            out.append(time.perf_counter_ns() - t0)
        finally:
            gc.enable()
    return out


def per_tick(samples: Sequence[int], ticks: int) -> float:
    return statistics.median(samples) / ticks


# -- static triggers ---------------------------------------------------------------------------


def static_orders(rng: random.Random, n: int) -> list[tuple[int, bool, int]]:
    """(key, rising, trigger) away from the quiet band: rising above it, falling below it."""
    orders = []
    for key in range(n):
        gap = 2 * BAND + rng.randint(0, 1_000_000)
        rising = key % 2 == 0
        orders.append((key, rising, P0 + gap if rising else P0 - gap))
    return orders


def build_book(orders: Sequence[tuple[int, bool, int]]) -> TriggerBook:
    book = TriggerBook()
    for key, rising, trig in orders:
        book.add(key, TriggerDirection.RISING if rising else TriggerDirection.FALLING, trig)
    return book


def naive_fire(orders: Sequence[tuple[int, bool, int]], price: int) -> list[int]:
    fired = []
    for key, rising, trig in orders:
        if (price >= trig) if rising else (price <= trig):
            fired.append(key)
    return fired


def bench_static(rng: random.Random, ticks: int, repeat: int) -> list[dict[str, Any]]:
    path = bounded_walk(rng, ticks, P0 - BAND, P0 + BAND, 50)
    results = []
    for n in SIZES:
        orders = static_orders(rng, n)
        book = build_book(orders)
        fire = book.fire
        assert not any(fire(p) for p in path) and len(book) == n  # untimed: nothing crosses

        def engine(path: list[int] = path, fire: Callable[[int], list[int]] = fire) -> None:
            for p in path:
                fire(p)

        naive_path = path[: max(5, NAIVE_CHECKS // n)]

        def naive(naive_path: list[int] = naive_path, orders: Any = orders) -> None:
            for p in naive_path:
                naive_fire(orders, p)

        engine_ns = per_tick(timed(engine, repeat), len(path))
        naive_ns = per_tick(timed(naive, repeat), len(naive_path))
        results.append(
            {
                "resting": n,
                "engine_ticks_per_s": round(1e9 / engine_ns),
                "naive_ticks_per_s": round(1e9 / naive_ns, 1),
                "engine_ns_per_tick": round(engine_ns, 1),
                "naive_ns_per_tick": round(naive_ns, 1),
                "speedup": round(naive_ns / engine_ns, 1),
                "engine_ticks": len(path),
                "naive_ticks": len(naive_path),
            }
        )
    return results


def bench_quiet_ns(book: TriggerBook, path: Sequence[int], repeat: int) -> float:
    """ns/tick of the same book at the starting price, which no trigger equals (nothing fires)."""
    quiet = [P0] * len(path)
    fire = book.fire
    assert not any(fire(p) for p in quiet)

    def run() -> None:
        for p in quiet:
            fire(p)

    return per_tick(timed(run, repeat), len(quiet))


def bench_crossing(rng: random.Random, repeat: int) -> dict[str, Any]:
    n = 100_000
    path = bounded_walk(rng, 100_000, P0 - 20 * BAND, P0 + 20 * BAND, 200)
    hi = max(path) - P0
    lo = P0 - min(path)
    orders = []
    for key in range(n):  # triggers spread over 100x the path's reach: ~1 % get crossed
        rising = key % 2 == 0
        reach = hi if rising else lo
        trig = P0 + rng.randint(1, 100 * reach) if rising else P0 - rng.randint(1, 100 * reach)
        orders.append((key, rising, trig))
    expected = {
        key
        for key, rising, trig in orders
        if (rising and trig <= P0 + hi) or (not rising and trig >= P0 - lo)
    }
    samples = []
    fired_count = 0
    for _ in range(repeat):
        book = build_book(orders)
        fire = book.fire
        fired: list[int] = []
        gc.collect()
        gc.disable()
        try:
            t0 = time.perf_counter_ns()
            for p in path:
                if (keys := fire(p)) != []:
                    fired += keys
            samples.append(time.perf_counter_ns() - t0)
        finally:
            gc.enable()
        assert set(fired) == expected and len(fired) == len(expected)
        fired_count = len(fired)
    total = statistics.median(samples)
    quiet = bench_quiet_ns(build_book(orders), path, repeat)
    return {
        "resting": n,
        "ticks": len(path),
        "fired": fired_count,
        "fired_fraction": round(fired_count / n, 4),
        "engine_ticks_per_s": round(1e9 * len(path) / total),
        "engine_ns_per_tick": round(total / len(path), 1),
        "engine_quiet_ns_per_tick": round(quiet, 1),
        "engine_marginal_ns_per_fired_order": round(
            (total - quiet * len(path)) / max(1, fired_count), 1
        ),
    }


# -- trailing ----------------------------------------------------------------------------------


def trailing_orders(
    rng: random.Random, n: int, act_lo: int = 20 * BAND, act_hi: int = 1_000_000
) -> list[tuple[Any, ...]]:
    """(key, side, num, den, reference, activation): half active outside the band, half waiting.

    Waiting orders activate at P0 + x (SELL, RISING) or P0 - x (BUY, FALLING), x in
    [act_lo, act_hi].

    Active SELL highs lie in [P0 + BAND, P0 + 3 BAND] and BUY lows in [P0 - 3 BAND, P0 - BAND],
    so a walk inside P0 +- BAND makes no new extreme, and with callback >= 0.5 % no fire level
    falls inside the band. Active orders are listed most extreme first (as they would be placed
    while a price moves), so each joins the back of its group.
    """
    active: list[tuple[Any, ...]] = []
    waiting: list[tuple[Any, ...]] = []
    for key in range(n):
        side = Side.SELL if key % 2 == 0 else Side.BUY
        num, den = RATES[rng.randrange(len(RATES))]
        if key % 4 < 2:
            off = rng.randint(BAND, 3 * BAND)
            ref = P0 + off if side is Side.SELL else P0 - off
            active.append((key, side, num, den, ref, None))
        else:
            far = rng.randint(act_lo, act_hi)
            act = (
                (TriggerDirection.RISING, P0 + far)
                if side is Side.SELL
                else (TriggerDirection.FALLING, P0 - far)
            )
            waiting.append((key, side, num, den, P0, act))
    active.sort(key=lambda o: -o[4] if o[1] is Side.SELL else o[4])
    return active + waiting


def build_trailing(orders: Sequence[tuple[Any, ...]]) -> TrailingBook:
    book = TrailingBook()
    for key, side, num, den, ref, act in orders:
        book.add(key, side, num, den, ref, act)
    return book


def naive_trailing_state(orders: Sequence[tuple[Any, ...]]) -> list[list[Any]]:
    # [sell, num, den, extreme or None, activation direction is rising, activation units]
    state = []
    for _, side, num, den, ref, act in orders:
        rising = act is not None and act[0] is TriggerDirection.RISING
        state.append([side is Side.SELL, num, den, ref if act is None else None, rising, act])
    return state


def naive_trailing_tick(state: list[list[Any]], p: int) -> list[int]:
    fired = []
    for i, o in enumerate(state):
        sell, num, den, ext, rising, act = o
        if ext is None:
            if not ((p >= act[1]) if rising else (p <= act[1])):
                continue
            ext = p
        if sell:
            if p > ext:
                ext = p
            if p * den <= ext * (den - num):
                fired.append(i)
        else:
            if p < ext:
                ext = p
            if p * den >= ext * (den + num):
                fired.append(i)
        o[3] = ext
    return fired


def bench_trailing(rng: random.Random, ticks: int, repeat: int) -> dict[str, Any]:
    path = bounded_walk(rng, ticks, P0 - BAND + 1, P0 + BAND - 1, 50)
    results = []
    for n in SIZES:
        orders = trailing_orders(rng, n)
        book = build_trailing(orders)
        on_price = book.on_price
        assert not any(on_price(p) for p in path) and len(book) == n  # untimed: quiet

        def engine(path: list[int] = path, on_price: Any = on_price) -> None:
            for p in path:
                on_price(p)

        state = naive_trailing_state(orders)
        naive_path = path[: max(5, NAIVE_CHECKS // (2 * n))]
        assert not any(naive_trailing_tick(state, p) for p in naive_path)

        def naive(naive_path: list[int] = naive_path, state: Any = state) -> None:
            for p in naive_path:
                naive_trailing_tick(state, p)

        engine_ns = per_tick(timed(engine, repeat), len(path))
        naive_ns = per_tick(timed(naive, repeat), len(naive_path))
        results.append(
            {
                "resting": n,
                "active": sum(1 for o in orders if o[5] is None),
                "engine_ticks_per_s": round(1e9 / engine_ns),
                "naive_ticks_per_s": round(1e9 / naive_ns, 1),
                "engine_ns_per_tick": round(engine_ns, 1),
                "naive_ns_per_tick": round(naive_ns, 1),
                "speedup": round(naive_ns / engine_ns, 1),
                "engine_ticks": len(path),
                "naive_ticks": len(naive_path),
            }
        )
    # Moving market: a walk whose drift reverses every 10k ticks (legs of about +-30k units), so
    # extremes keep moving, waiting orders activate (offsets 5k..30k) and some orders fire.
    moving_path = []
    price = P0
    for i in range(50_000):
        drift = 3 if ((i + 5_000) // 10_000) % 2 == 0 else -3
        price += rng.randint(-60, 60) + drift
        moving_path.append(price)
    orders = trailing_orders(rng, 100_000, BAND, 6 * BAND)
    samples = []
    fired = activated = 0
    for _ in range(repeat):
        book = build_trailing(orders)
        on_price = book.on_price
        fired = activated = 0
        gc.collect()
        gc.disable()
        try:
            t0 = time.perf_counter_ns()
            for p in moving_path:
                if update := on_price(p):
                    fired += len(update.fired)
                    activated += len(update.activated)
            samples.append(time.perf_counter_ns() - t0)
        finally:
            gc.enable()
    total = statistics.median(samples)
    return {
        "groups": 2 * len(RATES),
        "results": results,
        "moving": {
            "resting": 100_000,
            "ticks": len(moving_path),
            "price_range": [min(moving_path), max(moving_path)],
            "fired": fired,
            "activated": activated,
            "engine_ticks_per_s": round(1e9 * len(moving_path) / total),
            "engine_ns_per_tick": round(total / len(moving_path), 1),
        },
    }


def loop_overhead_ns(ticks: int, repeat: int) -> float:
    path = list(range(ticks))

    def noop(p: int) -> None:
        return None

    def run() -> None:
        for p in path:
            noop(p)

    return round(per_tick(timed(run, repeat), ticks), 1)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ticks", type=int, default=200_000, help="engine ticks per repetition")
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args(argv)
    rng = random.Random(SEED)
    t_start = time.perf_counter()
    static = bench_static(rng, args.ticks, args.repeat)
    crossing = bench_crossing(rng, max(3, args.repeat // 2))
    trailing = bench_trailing(rng, args.ticks, args.repeat)
    overhead = loop_overhead_ns(args.ticks, args.repeat)
    by_n = {r["resting"]: r for r in static}
    tr_by_n = {r["resting"]: r for r in trailing["results"]}
    flat = by_n[100_000]["engine_ns_per_tick"] <= 1.5 * by_n[1_000]["engine_ns_per_tick"]
    tr_flat = tr_by_n[100_000]["engine_ns_per_tick"] <= 1.5 * tr_by_n[1_000]["engine_ns_per_tick"]
    report = {
        "benchmark": "trigger",
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "seed": SEED,
        "repeat": args.repeat,
        "statistic": "median over repetitions of (path time / ticks)",
        "call_loop_overhead_ns_per_tick": overhead,
        "results": static,
        "crossing": crossing,
        "trailing": trailing,
        "goals": {
            "flat_in_resting": flat,
            "flat_criterion": "engine ns/tick at 100k resting <= 1.5 x at 1k",
            "at_least_1m_ticks_per_s_at_100k": by_n[100_000]["engine_ticks_per_s"] >= 1_000_000,
            "trailing_flat_in_resting": tr_flat,
            "trailing_at_least_1m_ticks_per_s_at_100k": (
                tr_by_n[100_000]["engine_ticks_per_s"] >= 1_000_000
            ),
        },
        "wall_s": round(time.perf_counter() - t_start, 1),
    }
    json.dump(report, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
