"""Exit plans in the backtest: the replay (the reference) and the plan kernel agree trade by
trade on random plans and paths (hypothesis), and each plan element has a hand-computed case.

Hand-made paths: prices in units of 0.01 (``price_exp=2``), tick one unit, entry at the first
trade (a long at 100.00 unless a test says otherwise), fills at the touching price (TOUCH).
"""

from __future__ import annotations

import dataclasses
import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exitguard.backtest.entries import Entries, random_entries
from exitguard.backtest.market import Market, build_market, plan_entries
from exitguard.backtest.model import (
    BPS,
    BacktestInputError,
    Execution,
    ExitPolicy,
    ExitReason,
    FillModel,
    Level,
    Move,
    Roi,
    liquidation_price,
)
from exitguard.backtest.outcomes import Outcomes, summarize, trade_records
from exitguard.backtest.replay import replay, replay_legs
from exitguard.backtest.sweep import (
    PolicyGrid,
    evaluate,
    parse_ladders,
    parse_optional_values,
    prepare_kernel,
    run_sweep,
)
from exitguard.backtest.synthetic import mark_klines, random_trades
from exitguard.data.series import TradeSeries
from exitguard.domain.enums import WorkingType

CONTRACT = WorkingType.CONTRACT_PRICE
MARK = WorkingType.MARK_PRICE
TOUCH = Execution(fill=FillModel.TOUCH)
SL, TP, TRAIL, END, TIME, LIQ = (int(r) for r in ExitReason)


# --- replay and kernel agree ------------------------------------------------------------------


def assert_same(
    market: Market, entries: Entries, policies: list[ExitPolicy], ex: Execution
) -> Outcomes:
    plan = plan_entries(market, entries, ex.slippage_bps)
    grid = PolicyGrid(tuple(policies))
    swept = evaluate(prepare_kernel(market), plan, grid.arrays(range(len(grid))), ex)
    for i, policy in enumerate(policies):
        ref = replay(market, plan, policy, ex)
        diff = ref.first_difference(swept.take([i]))
        assert diff is None, f"policy {i} {policy}: replay vs kernel: {diff}"
    return swept


@st.composite
def plans(draw: st.DrawFn, source: WorkingType, guard: bool) -> ExitPolicy:
    n = draw(st.integers(0, 4))
    bps = sorted(draw(st.sets(st.integers(5, 250), min_size=n, max_size=n)))
    parts: list[int] = []
    left = BPS
    for i in range(n):
        if i == n - 1 and draw(st.booleans()):
            part = left  # fractions summing to exactly 1: the last level takes the rest
        else:
            part = draw(st.integers(1, max(1, left - (n - i - 1))))
        part = min(part, left - (n - i - 1))
        if part <= 0:
            break
        parts.append(part)
        left -= part
    ladder = tuple(Level(b, p) for b, p in zip(bps, parts, strict=False))
    stop = draw(st.sampled_from([0, 0, 30, 80, 200, 600]))
    trail = draw(st.sampled_from([0, 0, 20, 60, 150]))
    tp = 0 if ladder else draw(st.sampled_from([0, 40, 120, 300]))
    moves: list[Move] = []
    if stop and ladder:
        for level in range(1, len(ladder) + 1):
            pick = draw(st.integers(0, 3))
            if pick == 1:
                moves.append(Move(level, be_offset_bps=draw(st.sampled_from([0, 3, 15]))))
            elif pick == 2:
                moves.append(Move(level, to_level=draw(st.integers(1, len(ladder)))))
    roi: tuple[Roi, ...] = ()
    if tp:
        steps = sorted(draw(st.sets(st.integers(0, 200_000), max_size=3)))
        roi = tuple(Roi(ms, draw(st.integers(1, 300))) for ms in steps)
    margin = draw(st.sampled_from([None, 0, 20, 100])) if guard else None
    return ExitPolicy(
        stop_bps=stop,
        take_profit_bps=tp,
        trail_bps=trail,
        activation_bps=draw(st.sampled_from([0, 0, 30])) if trail else 0,
        source=source,
        stop_limit_bps=draw(st.sampled_from([None, None, 0, 10])) if stop else None,
        ladder=ladder,
        stop_moves=tuple(moves),
        trail_after_level=draw(st.integers(0, len(ladder))) if trail else 0,
        roi=roi,
        time_stop_ms=draw(st.sampled_from([0, 0, 5_000, 40_000, 150_000])),
        liq_margin_bps=margin,
        liq_close_within_bps=draw(st.sampled_from([0, 30, 150, 400])) if margin is not None else 0,
        liq_close_parts=draw(st.sampled_from([BPS, 5_000, 1])),
    ).validate()


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), seed=st.integers(0, 10_000), n=st.integers(200, 1_500))
def test_kernel_equals_replay_on_random_plans(data: st.DataObject, seed: int, n: int) -> None:
    source = data.draw(st.sampled_from([CONTRACT, MARK]))
    trades = random_trades(n, seed=seed, step_bps=5.0, jump_prob=0.01, jump_bps=70.0)
    mark = mark_klines(trades, interval_ms=data.draw(st.sampled_from([5_000, 30_000])), seed=seed)
    market = build_market(trades, source, mark)
    t0, t1 = int(trades.time_ms[0]), int(trades.time_ms[-1])
    entries = random_entries(t0, t1, data.draw(st.integers(1, 12)), seed, "both", Decimal(1))
    leverage = data.draw(st.sampled_from([0, 50, 125]))
    policies = data.draw(st.lists(plans(source, leverage > 0), min_size=1, max_size=4))
    ex = Execution(
        fill=data.draw(st.sampled_from(list(FillModel))),
        slippage_bps=data.draw(st.sampled_from([0, 2])),
        leverage=leverage,
        maint_margin_bps=data.draw(st.sampled_from([40, 250])),
    )
    assert_same(market, entries, policies, ex)


def test_plan_kernel_equals_plain_kernel_on_plain_policies() -> None:
    # The plan kernel restates the plain one: on plain policies they must agree exactly.
    trades = random_trades(30_000, seed=4, step_bps=3.0, jump_prob=0.002, jump_bps=80.0)
    mark = mark_klines(trades, seed=4)
    t0, t1 = int(trades.time_ms[0]), int(trades.time_ms[-1])
    entries = random_entries(t0, t1, 50, 4, "both", Decimal(1))
    for source in (CONTRACT, MARK):
        market = build_market(trades, source, mark)
        plan = plan_entries(market, entries, 1)
        grid = PolicyGrid.product([0, 20, 60], [0, 40, 120], [0, 30], [0, 20], [source], 5)
        cols = grid.arrays(range(len(grid)))
        km = prepare_kernel(market)
        ex = Execution(fill=FillModel.NEXT, slippage_bps=1)
        plain = evaluate(km, plan, cols, ex)
        forced = evaluate(km, plan, cols, ex, plan_kernel_for_all=True)
        assert plain.first_difference(forced) is None


def test_long_path_with_plans_skips_blocks_and_agrees() -> None:
    # 200k trades: the 1024- and 32768-point block levels are skipped and entered, and time
    # events stop a skip at their point.
    trades = random_trades(200_000, seed=12, step_bps=1.0, jump_prob=0.0005, jump_bps=100.0)
    market = build_market(trades, CONTRACT)
    t0, t1 = int(trades.time_ms[0]), int(trades.time_ms[-1])
    entries = random_entries(t0, t1, 10, 6, "both", Decimal(1))
    policies = [
        ExitPolicy(stop_bps=600, ladder=(Level(200, 3000), Level(400, 3000), Level(700, 4000)),
                   stop_moves=(Move(1, be_offset_bps=10), Move(2, to_level=1))),
        ExitPolicy(stop_bps=500, trail_bps=150, ladder=(Level(250, 5000),), trail_after_level=1),
        ExitPolicy(stop_bps=900, take_profit_bps=900, roi=(Roi(3_000_000, 300), Roi(9_000_000, 50))),
        ExitPolicy(stop_bps=900, time_stop_ms=5_000_000),
        ExitPolicy(stop_bps=2_000, liq_margin_bps=50, liq_close_within_bps=200,
                   liq_close_parts=5_000),
    ]  # fmt: skip
    out = assert_same(market, entries, policies, Execution(slippage_bps=1, leverage=25))
    assert (out.point[:, :] > 1_000).any()
    assert {SL, TP, TIME} <= set(np.unique(out.reason).tolist())


# --- hand-computed cases, one per element -----------------------------------------------------


def trades(prices: list[int], times: list[int] | None = None) -> TradeSeries:
    n = len(prices)
    t = times if times is not None else [1_000 * (i + 1) for i in range(n)]
    return TradeSeries(
        "TESTUSDT", "um", 2, 3, np.array(t, dtype=np.int64), np.array(prices, dtype=np.int64),
        np.ones(n, dtype=np.int64), np.zeros(n, dtype=np.bool_),
    )  # fmt: skip


def run(
    series: TradeSeries, policy: ExitPolicy, ex: Execution = TOUCH, side: int = 1
) -> tuple[Outcomes, list[list[tuple[int, int, int, int]]]]:
    """Outcomes (replay = kernel, checked) and each trade's legs (parts, reason, point, price)."""
    market = build_market(series, policy.source)
    entry = Entries.build([(int(series.time_ms[0]), side, Decimal(1))])
    out = assert_same(market, entry, [policy], ex)
    ref, detail = replay_legs(market, plan_entries(market, entry, ex.slippage_bps), policy, ex)
    assert ref.first_difference(out) is None
    legs = [[(g.parts, int(g.reason), g.point, g.price) for g in t] for t in detail]
    return out, legs


def test_ladder_closes_each_fraction_and_the_rest_runs_to_the_stop() -> None:
    # Long at 100.00: levels at +1 % (30 %) and +2 % (30 %); the runner (40 %) stays with the
    # stop at -1 %. The path fills both levels, then falls to the stop.
    policy = ExitPolicy(stop_bps=100, ladder=(Level(100, 3_000), Level(200, 3_000)))
    out, legs = run(trades([10_000, 10_050, 10_100, 10_150, 10_210, 10_000, 9_900]), policy)
    # point k is the path index after the entry trade: 10_100 is point 2, 10_210 point 4
    assert legs[0] == [(3_000, TP, 2, 10_100), (3_000, TP, 4, 10_210), (4_000, SL, 6, 9_900)]
    assert int(out.exit_value[0, 0]) == 3_000 * 10_100 + 3_000 * 10_210 + 4_000 * 9_900
    assert int(out.filled_levels[0, 0]) == 2 and int(out.legs[0, 0]) == 3


def test_fractions_summing_to_one_the_last_level_takes_the_rest_and_gaps_fill_in_order() -> None:
    policy = ExitPolicy(ladder=(Level(50, 3_333), Level(100, 3_333), Level(150, 3_334)))
    out, legs = run(trades([10_000, 10_020, 10_200]), policy)  # one jump through all three
    assert [leg[:2] for leg in legs[0]] == [(3_333, TP), (3_333, TP), (3_334, TP)]
    assert int(out.reason[0, 0]) == TP and int(out.last_parts[0, 0]) == 3_334


def test_break_even_move_after_level_one() -> None:
    # After +1 % fills the stop moves from -2 % to the entry + 0.1 % (100.10): the fall to
    # 100.05 closes the rest there, not at the old stop 98.00.
    policy = ExitPolicy(
        stop_bps=200, ladder=(Level(100, 5_000), Level(300, 5_000)),
        stop_moves=(Move(1, be_offset_bps=10),),
    )  # fmt: skip
    out, legs = run(trades([10_000, 10_100, 10_080, 10_005, 9_700]), policy)
    assert legs[0] == [(5_000, TP, 1, 10_100), (5_000, SL, 3, 10_005)]
    assert int(out.trigger[0, 0]) == 10_010


def test_stop_moves_to_a_ladder_level() -> None:
    policy = ExitPolicy(
        stop_bps=200, ladder=(Level(100, 3_000), Level(200, 3_000), Level(400, 2_000)),
        stop_moves=(Move(2, to_level=1),),
    )  # fmt: skip
    out, legs = run(trades([10_000, 10_100, 10_200, 10_150, 10_090]), policy)
    assert legs[0][-1] == (4_000, SL, 4, 10_090)
    assert int(out.trigger[0, 0]) == 10_100  # the stop sits at level 1's price


def test_trailing_starts_after_its_level() -> None:
    # 1 % trailing only after +1 % fills (at 101.00): it tracks from 101.00, the high 102.00
    # sets the level 100.98, and 100.90 fires it. Before the level the dip to 99.50 is ignored.
    policy = ExitPolicy(trail_bps=100, ladder=(Level(100, 5_000),), trail_after_level=1)
    out, legs = run(trades([10_000, 9_950, 10_100, 10_200, 10_150, 10_090]), policy)
    assert legs[0] == [(5_000, TP, 2, 10_100), (5_000, TRAIL, 5, 10_090)]
    assert int(out.trigger[0, 0]) == 10_098


def test_roi_step_lowers_the_take_profit_with_time() -> None:
    # TP +3 %, from 3 s held +0.5 %: the price sits at +1 % and the step at 3 s closes it.
    policy = ExitPolicy(take_profit_bps=300, roi=(Roi(3_000, 50),))
    times = [0, 1_000, 2_000, 4_000, 5_000]
    out, legs = run(trades([10_000, 10_100, 10_100, 10_100, 10_100], times), policy)
    assert legs[0] == [(BPS, TP, 3, 10_100)]
    assert int(out.trigger[0, 0]) == 10_050


def test_time_stop_closes_at_the_first_print_at_or_after_due() -> None:
    policy = ExitPolicy(stop_bps=500, time_stop_ms=2_500)
    times = [0, 1_000, 2_000, 3_000, 4_000]
    out, legs = run(trades([10_000, 10_010, 10_020, 10_030, 10_040], times), policy)
    assert legs[0] == [(BPS, TIME, 3, 10_030)]
    assert int(out.exit_time[0, 0]) == 3_000
    # With slippage, the trigger is the print met and the fill is slipped against the seller.
    out, legs = run(trades([10_000, 10_010, 10_020, 10_030], times[:4]), policy,
                    Execution(fill=FillModel.NEXT, slippage_bps=10))  # fmt: skip
    assert int(out.trigger[0, 0]) == 10_030 and int(out.exit_price[0, 0]) == 10_019


def test_liquidation_guard_pulls_the_stop_inside_and_closes_near_it() -> None:
    # Long at 100.00, 50x, maintenance 0.40 %: L = 100 * 0.98 / 0.996 = 98.3935 -> 98.40
    # (rounded toward the entry). Margin 0.5 %: the stop (configured -5 %) is pulled to
    # 98.40 * 1.005 = 98.892 -> 98.90. Close-within 1.5 %: 98.40 * 1.015 = 99.876 -> 99.87
    # (rounded like a stop trigger) closes half first.
    assert liquidation_price(10_000, True, 50, 40, 1) == 9_840
    ex = Execution(fill=FillModel.TOUCH, leverage=50, maint_margin_bps=40)
    policy = ExitPolicy(
        stop_bps=500, liq_margin_bps=50, liq_close_within_bps=150, liq_close_parts=5_000
    )
    out, legs = run(trades([10_000, 9_990, 9_950, 9_960, 9_890, 9_800]), policy, ex)
    assert legs[0] == [(5_000, LIQ, 2, 9_950), (5_000, SL, 4, 9_890)]
    assert int(out.trigger[0, 0]) == 9_890
    # A short at 100.00: L = 100 * 1.02 / 1.004 = 101.5936 -> 101.59; the stop (+5 %) is pulled
    # to 101.59 * 0.995 = 101.082 -> 101.08.
    assert liquidation_price(10_000, False, 50, 40, 1) == 10_159
    out, legs = run(trades([10_000, 10_050, 10_108]), ExitPolicy(500, liq_margin_bps=50), ex, -1)
    assert legs[0] == [(BPS, SL, 2, 10_108)] and int(out.trigger[0, 0]) == 10_108


def test_end_leg_is_the_part_still_open_and_money_comes_from_the_legs() -> None:
    policy = ExitPolicy(ladder=(Level(100, 2_500),))
    series = trades([10_000, 10_100, 10_050])
    out, legs = run(series, policy)
    assert legs[0] == [(2_500, TP, 1, 10_100), (7_500, END, -1, 10_050)]
    assert int(out.end_parts[0, 0]) == 7_500
    market = build_market(series, CONTRACT)
    entry = Entries.build([(1_000, 1, Decimal(2))])
    plan = plan_entries(market, entry, 0)
    ex = Execution(fill=FillModel.TOUCH, taker_fee_bps=Decimal(10))
    record = trade_records(out, 0, plan, entry, market, ex)[0]
    # gross = 2 * (0.25 * 101.00 + 0.75 * 100.50 - 100.00) = 1.25; fees 10 bps on 200.00 and
    # on the exits' 2 * 100.625.
    assert record["gross_pnl"] == Decimal("1.25")
    assert record["fees"] == Decimal("0.40125")
    assert record["legs"] == 2 and record["end_fraction"] == Decimal("0.75")
    summary = summarize(out, plan, entry, market.price_exp, ex)
    assert float(summary["net_pnl"][0]) == pytest.approx(1.25 - 0.40125)


# --- validation -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("policy", "field"),
    [
        (ExitPolicy(ladder=(Level(100, 5_000), Level(100, 5_000))), "ladder"),
        (ExitPolicy(ladder=(Level(100, 6_000), Level(200, 5_000))), "ladder"),
        (ExitPolicy(ladder=(Level(100, 0),)), "ladder[1].parts"),
        (ExitPolicy(take_profit_bps=50, ladder=(Level(100, 5_000),)), "ladder"),
        (ExitPolicy(ladder=(Level(100, 5_000),), stop_moves=(Move(1, 0),)), "stop_moves"),
        (ExitPolicy(10, ladder=(Level(100, 5_000),), stop_moves=(Move(2, 0),)), "stop_moves"),
        (ExitPolicy(10, ladder=(Level(100, 5_000),), stop_moves=(Move(1),)), "stop_moves"),
        (ExitPolicy(trail_bps=10, trail_after_level=1), "trail_after_level"),
        (ExitPolicy(roi=(Roi(1_000, 50),)), "roi"),
        (ExitPolicy(take_profit_bps=90, roi=(Roi(2_000, 50), Roi(1_000, 40))), "roi"),
        (ExitPolicy(time_stop_ms=-1), "time_stop_ms"),
        (ExitPolicy(liq_margin_bps=1_001), "liq_margin_bps"),
        (ExitPolicy(liq_close_within_bps=100), "liq_close_within_bps"),
    ],
)
def test_bad_plans_name_the_field(policy: ExitPolicy, field: str) -> None:
    with pytest.raises(BacktestInputError) as info:
        policy.validate()
    assert info.value.field == field


def test_liquidation_guard_needs_a_leverage() -> None:
    series = trades([10_000, 10_010])
    market = build_market(series, CONTRACT)
    entry = Entries.build([(1_000, 1, Decimal(1))])
    plan = plan_entries(market, entry, 0)
    policy = ExitPolicy(stop_bps=100, liq_margin_bps=50)
    with pytest.raises(BacktestInputError) as info:
        replay(market, plan, policy, TOUCH)
    assert info.value.field == "leverage"
    with pytest.raises(BacktestInputError):
        run_sweep({CONTRACT: market}, entry, PolicyGrid((policy,)), TOUCH)


def test_plain_policies_keep_their_fields_and_one_leg() -> None:
    policy = ExitPolicy(stop_bps=50)
    assert policy.plain and not dataclasses.replace(policy, time_stop_ms=1).plain
    out, legs = run(trades([10_000, 9_990, 9_950]), policy)
    assert legs[0] == [(BPS, SL, 2, 9_950)]
    assert int(out.exit_value[0, 0]) == 9_950 * BPS and int(out.legs[0, 0]) == 1


# --- sweep axes -------------------------------------------------------------------------------


def test_ladder_and_optional_value_syntax() -> None:
    ladders = parse_ladders("50:50,100:50; 30:33.33,60:33.33,120:33.34 ;none")
    assert ladders == [
        (Level(50, 5_000), Level(100, 5_000)),
        (Level(30, 3_333), Level(60, 3_333), Level(120, 3_334)),
        (),
    ]
    assert parse_optional_values("none,0,5:15:5", "--be-offset-bps") == [None, 0, 5, 10, 15]
    assert parse_optional_values("3", "--be-offset-bps") == [3]
    for bad in ("50:50,40:50", "50:60,100:60", "50", "50:33.333"):
        with pytest.raises(BacktestInputError) as info:
            parse_ladders(bad)
        assert info.value.field == "--ladder"


def test_grid_with_plan_axes_leaves_out_what_a_plan_forbids() -> None:
    grid = PolicyGrid.product(
        [0, 50], [0, 100], ladders=[(Level(50, 5_000),), ()], be_offsets_bps=[None, 5],
        time_stops_ms=[0, 60_000],
    )  # fmt: skip
    policies = grid.policies
    assert not any(p.ladder and p.take_profit_bps for p in policies)
    assert all(p.stop_bps and p.ladder for p in policies if p.stop_moves)
    # (stop, tp, ladder, move): 0/0/L/-, 0/0/-/-, 0/100/-/-, 50/0/L/-, 50/0/L/be, 50/0/-/-,
    # 50/100/-/- = 7, times two time stops
    assert len(policies) == 14
    assert sum(1 for p in policies if p.plain) == 4


@pytest.fixture(scope="module")
def archives(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Path], list[Path]]:
    from exitguard.data.synth import synth_pair

    out = tmp_path_factory.mktemp("synth")
    return synth_pair("BTCUSDT", date(2024, 3, 1), 1, seed=5, out_dir=out, trades_per_minute=20)


def test_sweep_command_takes_the_plan_axes(
    archives: tuple[list[Path], list[Path]], tmp_path: Path
) -> None:
    import typer
    from typer.testing import CliRunner

    from exitguard.cli.backtest_cmd import sweep_command

    app = typer.Typer()
    app.command("sweep")(sweep_command)
    app.command("unused")(lambda: None)  # two commands: "sweep" stays a sub-command
    trades, _marks = archives
    report = tmp_path / "sw"
    result = CliRunner().invoke(app, [
        "sweep", "--trades", str(trades[0]), "--stop-bps", "30", "--tp-bps", "0,60",
        "--ladder", "20:50,40:50;none", "--be-offset-bps", "none,2", "--time-stop-min", "0,30",
        "--random", "20", "--seed", "3", "--report", str(report), "--json",
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    doc = json.loads((report / "results.json").read_text())
    policies = doc["policies"]
    # (tp, ladder, move): 0/L/-, 0/L/be, 0/-/-, 60/-/- = 4, times two time stops
    assert len(policies) == 8
    assert {p["ladder"] for p in policies} == {"20:50,40:50", ""}
    assert {p["stop_moves"] for p in policies} == {"", "1>be+2"}
    assert {p["time_stop_ms"] for p in policies} == {0, 1_800_000}
    bad = CliRunner(env={"COLUMNS": "200"}).invoke(app, [
        "sweep", "--trades", str(trades[0]), "--ladder", "20:70,40:70", "--report", str(report),
    ])  # fmt: skip
    assert bad.exit_code == 2 and "--ladder" in bad.stderr
