"""The sweep kernel against the event-driven replay: identical outcomes, trade by trade.

Random grids (seeded) over random paths with jumps, both trigger sources, trade or bookTicker
fills, both fill models, slippage, coarse ticks, stop-limits and trailing activations; a long path
for the block-skipping levels; hypothesis on tiny paths for the edge cases (equal prices, levels
hit exactly, stops placed already crossed). Executors (local, processes, Ray) return the same.
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exitguard.backtest.entries import Entries, random_entries
from exitguard.backtest.market import Market, build_market
from exitguard.backtest.model import BacktestInputError, Execution, ExitPolicy, FillModel
from exitguard.backtest.outcomes import Outcomes
from exitguard.backtest.replay import replay
from exitguard.backtest.sweep import PolicyGrid, parse_values, run_sweep
from exitguard.backtest.synthetic import mark_klines, random_trades
from exitguard.data.series import BarSeries, BookTickerSeries, TradeSeries
from exitguard.domain.enums import WorkingType

CONTRACT = WorkingType.CONTRACT_PRICE
MARK = WorkingType.MARK_PRICE
BOTH = (CONTRACT, MARK)


def book_from(trades: TradeSeries, seed: int) -> BookTickerSeries:
    """Quotes around the trades, 1..3 units wide, 0..150 ms after each print."""
    rng = np.random.default_rng(seed)
    n = len(trades)
    half = rng.integers(1, 4, n)
    time_ms = np.sort(trades.time_ms + rng.integers(0, 150, n))
    size = np.ones(n, dtype=np.int64)
    return BookTickerSeries(
        trades.symbol, "um", trades.price_exp, 3, time_ms,
        trades.price - half, trades.price + half, size, size,
    )  # fmt: skip


def random_policy(rng: np.random.Generator) -> ExitPolicy:
    def bps(low: int, high: int, p_zero: float = 0.3) -> int:
        return 0 if rng.random() < p_zero else int(rng.integers(low, high))

    stop = bps(5, 150)
    trail = bps(5, 120, 0.4)
    limit = int(rng.integers(0, 20)) if stop and rng.random() < 0.3 else None
    return ExitPolicy(
        stop_bps=stop,
        take_profit_bps=bps(5, 200),
        trail_bps=trail,
        activation_bps=bps(1, 80, 0.5) if trail else 0,
        source=BOTH[int(rng.integers(0, 2))],
        stop_limit_bps=limit,
    )


def assert_same(
    markets: dict[WorkingType, Market], entries: Entries, grid: PolicyGrid, execution: Execution
) -> Outcomes:
    out, plans = run_sweep(markets, entries, grid, execution, chunk_size=16)
    for i, policy in enumerate(grid.policies):
        ref = replay(markets[policy.source], plans[policy.source], policy, execution)
        diff = ref.first_difference(out.take([i]))
        assert diff is None, f"policy {i} {policy}: replay vs sweep: {diff}"
    return out


@pytest.mark.parametrize("seed", range(8))
def test_sweep_equals_replay_on_random_grids(seed: int) -> None:
    rng = np.random.default_rng(seed)
    trades = random_trades(
        int(rng.integers(1_500, 4_000)), seed=seed, step_bps=4.0, jump_prob=0.01, jump_bps=60.0
    )
    tick = Decimal("0.05") if seed % 2 else None
    if tick is not None:  # trades print on the tick grid
        trades = dataclasses.replace(trades, price=trades.price // 5 * 5)
    mark = mark_klines(trades, interval_ms=int(rng.choice([15_000, 60_000])), seed=seed)
    book = book_from(trades, seed) if seed % 3 == 2 else None
    markets = {s: build_market(trades, s, mark, tick, book) for s in BOTH}
    t0, t1 = int(trades.time_ms[0]), int(trades.time_ms[-1])
    entries = random_entries(t0, t1, 40, seed, "both", Decimal("0.25"))
    execution = Execution(
        fill=FillModel.TOUCH if seed % 4 < 2 else FillModel.NEXT,
        slippage_bps=int(rng.integers(0, 6)),
        taker_fee_bps=Decimal("4.5"),
        maker_fee_bps=Decimal("1.8"),
    )
    grid = PolicyGrid(tuple(random_policy(rng) for _ in range(40)))
    out = assert_same(markets, entries, grid, execution)
    reasons = set(np.unique(out.reason).tolist())
    assert {0, 1, 3} <= reasons  # the grids do exercise stops, take-profits and the end


def test_sweep_equals_replay_on_a_long_path() -> None:
    # 200k trades: the 1024- and 32768-point block levels are skipped and entered.
    trades = random_trades(200_000, seed=11, step_bps=1.0, jump_prob=0.0005, jump_bps=100.0)
    markets = {CONTRACT: build_market(trades, CONTRACT)}
    t0, t1 = int(trades.time_ms[0]), int(trades.time_ms[-1])
    entries = random_entries(t0, t1, 12, 5, "both", Decimal(1))
    grid = PolicyGrid(
        (
            ExitPolicy(stop_bps=400, take_profit_bps=600),
            ExitPolicy(trail_bps=300),
            ExitPolicy(trail_bps=150, activation_bps=250),
            ExitPolicy(stop_bps=800, take_profit_bps=900, trail_bps=500),
            ExitPolicy(stop_bps=9_000),
        )
    )
    out = assert_same(markets, entries, grid, Execution(fill=FillModel.NEXT, slippage_bps=1))
    assert (out.point[:4] - 1_000 > 0).any()


@st.composite
def tiny_market(draw: st.DrawFn) -> tuple[TradeSeries, BarSeries]:
    n_bars = draw(st.integers(2, 8))
    bars: list[tuple[int, int, int, int]] = []
    price = 1_000
    for _ in range(n_bars):
        o = max(1, price + draw(st.integers(-40, 40)))
        c = max(1, o + draw(st.integers(-40, 40)))
        h = max(o, c) + draw(st.integers(0, 30))
        lo = max(1, min(o, c) - draw(st.integers(0, 30)))
        bars.append((o, h, lo, c))
        price = c
    times: list[int] = []
    prices: list[int] = []
    for b, (_o, h, lo, _c) in enumerate(bars):
        count = draw(st.integers(1, 6))
        offsets = sorted(draw(st.lists(st.integers(0, 59_999), min_size=count, max_size=count)))
        for off in offsets:
            times.append(60_000 * b + off)
            prices.append(5 * draw(st.integers(max(1, lo // 5), max(1, h // 5))))  # tick 5
    n = len(prices)
    trades = TradeSeries(
        "T", "um", 0, 0, np.array(times, dtype=np.int64), np.array(prices, dtype=np.int64),
        np.ones(n, dtype=np.int64), np.zeros(n, dtype=np.bool_),
    )  # fmt: skip
    open_t = np.arange(n_bars, dtype=np.int64) * 60_000
    cols = [np.array([bar[i] for bar in bars], dtype=np.int64) for i in range(4)]
    mark = BarSeries("T", "um", "markPriceKlines", "1m", 0, open_t, open_t + 59_999, *cols)
    return trades, mark


policy_st = st.builds(
    lambda stop, tp, trail, act, source, limit: ExitPolicy(
        stop, tp, trail, act if trail else 0, source, limit if stop else None
    ),
    st.sampled_from([0, 50, 100, 200, 500]),
    st.sampled_from([0, 50, 100, 300]),
    st.sampled_from([0, 30, 100, 400]),
    st.sampled_from([0, 50, 200]),
    st.sampled_from(BOTH),
    st.sampled_from([None, 0, 30]),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    market=tiny_market(),
    policies=st.lists(policy_st, min_size=1, max_size=4),
    sides=st.lists(st.sampled_from([1, -1]), min_size=1, max_size=5),
    fill=st.sampled_from(list(FillModel)),
    slippage=st.sampled_from([0, 1, 25]),
    tick=st.sampled_from([None, Decimal(5)]),
)
def test_sweep_equals_replay_on_tiny_paths(
    market: tuple[TradeSeries, BarSeries],
    policies: list[ExitPolicy],
    sides: list[int],
    fill: FillModel,
    slippage: int,
    tick: Decimal | None,
) -> None:
    trades, mark = market
    markets = {s: build_market(trades, s, mark, tick) for s in BOTH}
    times = trades.time_ms[:: max(1, len(trades) // len(sides))][: len(sides)]
    entries = Entries.build(
        [(int(t), side, Decimal(1)) for t, side in zip(times, sides, strict=False)]
    )
    assert_same(markets, entries, PolicyGrid(tuple(policies)), Execution(fill, slippage))


# --- executors --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def workload() -> tuple[dict[WorkingType, Market], Entries, PolicyGrid, Execution]:
    trades = random_trades(20_000, seed=3, step_bps=3.0, jump_prob=0.002)
    mark = mark_klines(trades, seed=3)
    markets = {s: build_market(trades, s, mark) for s in BOTH}
    t0, t1 = int(trades.time_ms[0]), int(trades.time_ms[-1])
    entries = random_entries(t0, t1, 60, 9, "both", Decimal(1))
    grid = PolicyGrid.product([0, 20, 60], [0, 40, 120], [0, 30], [0, 20], BOTH)
    return markets, entries, grid, Execution(slippage_bps=2)


def test_processes_executor_equals_local(
    workload: tuple[dict[WorkingType, Market], Entries, PolicyGrid, Execution],
) -> None:
    markets, entries, grid, execution = workload
    local, _ = run_sweep(markets, entries, grid, execution, "local", chunk_size=7)
    seen: list[int] = []
    procs, _ = run_sweep(
        markets, entries, grid, execution, "processes", chunk_size=7, workers=2,
        progress=lambda done, total: seen.append(done),
    )  # fmt: skip
    assert local.first_difference(procs) is None
    assert seen[-1] == len(grid)


def test_ray_executor_equals_local(
    workload: tuple[dict[WorkingType, Market], Entries, PolicyGrid, Execution],
) -> None:
    ray = pytest.importorskip("ray")
    markets, entries, grid, execution = workload
    local, _ = run_sweep(markets, entries, grid, execution, "local", chunk_size=64)
    ray.init(num_cpus=1, include_dashboard=False)
    try:
        remote, _ = run_sweep(markets, entries, grid, execution, "ray", chunk_size=10)
    finally:
        ray.shutdown()
    assert local.first_difference(remote) is None


def test_chunking_does_not_change_outcomes(
    workload: tuple[dict[WorkingType, Market], Entries, PolicyGrid, Execution],
) -> None:
    markets, entries, grid, execution = workload
    whole, _ = run_sweep(markets, entries, grid, execution, chunk_size=1_000)
    parts, _ = run_sweep(markets, entries, grid, execution, chunk_size=1)
    assert whole.equals(parts)


def test_bad_executor_and_missing_source_are_named() -> None:
    trades = random_trades(100, seed=1)
    markets = {CONTRACT: build_market(trades, CONTRACT)}
    entries = random_entries(
        int(trades.time_ms[0]), int(trades.time_ms[-1]), 3, 1, "long", Decimal(1)
    )
    grid = PolicyGrid((ExitPolicy(stop_bps=10),))
    with pytest.raises(BacktestInputError) as info:
        run_sweep(markets, entries, grid, Execution(), "cluster")  # type: ignore[arg-type]
    assert info.value.field == "--executor"
    with pytest.raises(BacktestInputError) as info:
        run_sweep(markets, entries, PolicyGrid((ExitPolicy(10, source=MARK),)), Execution())
    assert info.value.field == "--source"


def test_grid_values_and_product() -> None:
    assert parse_values("0,50:200:50, 25", "--stop-bps") == [0, 25, 50, 100, 150, 200]
    with pytest.raises(BacktestInputError, match="start:stop:step"):
        parse_values("10:5:1", "--tp-bps")
    grid = PolicyGrid.product([0, 10], [0], [0, 30], [0, 40], [CONTRACT], stop_limit_bps=5)
    # activation without a trailing stop is left out; the stop-limit only goes with a stop
    assert len(grid) == 6
    assert all(p.stop_limit_bps == (5 if p.stop_bps else None) for p in grid.policies)
