"""Event-driven replay: hand-made paths with exact expected outcomes.

Prices are in units of 0.01 (``price_exp=2``) unless a test says otherwise; the tick is one unit.
"""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest

from exitguard.backtest.entries import Entries
from exitguard.backtest.market import build_market, plan_entries
from exitguard.backtest.model import (
    FLAG_AMBIGUOUS_BAR,
    FLAG_GAPPED,
    FLAG_LIMIT_UNFILLED,
    FLAG_MAKER,
    BacktestInputError,
    Execution,
    ExitPolicy,
    ExitReason,
    FillModel,
)
from exitguard.backtest.outcomes import Outcomes, summarize, trade_records
from exitguard.backtest.replay import _Replay, replay
from exitguard.backtest.sweep import PolicyGrid, evaluate, prepare_kernel
from exitguard.data.series import BarSeries, TradeSeries
from exitguard.domain.enums import WorkingType

CONTRACT = WorkingType.CONTRACT_PRICE
MARK = WorkingType.MARK_PRICE
TOUCH = Execution(fill=FillModel.TOUCH)
NEXT = Execution(fill=FillModel.NEXT)


def trades(prices: list[int], times: list[int] | None = None, exp: int = 2) -> TradeSeries:
    n = len(prices)
    t = times if times is not None else [1_000 * (i + 1) for i in range(n)]
    return TradeSeries(
        "TESTUSDT",
        "um",
        exp,
        3,
        np.array(t, dtype=np.int64),
        np.array(prices, dtype=np.int64),
        np.ones(n, dtype=np.int64),
        np.zeros(n, dtype=np.bool_),
    )


def mark_bars(ohlc: list[tuple[int, int, int, int]], exp: int = 2) -> BarSeries:
    """One-minute markPriceKlines from t=0: bar i spans [60000 i, 60000 i + 59999]."""
    n = len(ohlc)
    open_t = np.arange(n, dtype=np.int64) * 60_000
    cols = [np.array([bar[i] for bar in ohlc], dtype=np.int64) for i in range(4)]
    return BarSeries("TESTUSDT", "um", "markPriceKlines", "1m", exp, open_t, open_t + 59_999, *cols)


def entries(*rows: tuple[int, int, str]) -> Entries:
    return Entries.build([(t, side, Decimal(size)) for t, side, size in rows])


def run(
    series: TradeSeries,
    policy: ExitPolicy,
    execution: Execution = TOUCH,
    entry: Entries | None = None,
    mark: BarSeries | None = None,
) -> Outcomes:
    market = build_market(series, policy.source, mark)
    entry = entry if entry is not None else entries((int(series.time_ms[0]), 1, "1"))
    plan = plan_entries(market, entry, execution.slippage_bps)
    out = replay(market, plan, policy, execution)
    # Every scenario also holds for the sweep kernel, outcome for outcome.
    swept = evaluate(prepare_kernel(market), plan, PolicyGrid((policy,)).arrays([0]), execution)
    assert swept.first_difference(out) is None
    return out


def one(out: Outcomes, j: int = 0) -> tuple[str, int, int, int, int]:
    """(reason, trigger, exit price, exit time, flags) of entry ``j``."""
    return (
        ExitReason(int(out.reason[0, j])).name,
        int(out.trigger[0, j]),
        int(out.exit_price[0, j]),
        int(out.exit_time[0, j]),
        int(out.flags[0, j]),
    )


# --- gaps -------------------------------------------------------------------------------------


def test_stop_fills_at_the_gapped_price_never_at_the_stop() -> None:
    path = trades([10_000, 9_990, 9_950, 9_800, 9_790, 9_850])
    policy = ExitPolicy(stop_bps=100)  # long from 100.00: stop at 99.00
    assert one(run(path, policy, TOUCH)) == ("SL", 9_900, 9_800, 4_000, FLAG_GAPPED)
    # next: the market order placed after the trigger print fills at the following print
    assert one(run(path, policy, NEXT)) == ("SL", 9_900, 9_790, 5_000, FLAG_GAPPED)


def test_stop_at_exactly_the_trigger_is_not_a_gap() -> None:
    out = run(trades([10_000, 9_950, 9_900, 9_880]), ExitPolicy(stop_bps=100))
    assert one(out) == ("SL", 9_900, 9_900, 3_000, 0)  # equality fires


def test_stop_limit_stays_unfilled_on_a_gap() -> None:
    # stop 99.00, limit 10 bps below: floor(99.00 * 0.999) = 98.90. The price gaps to 98.00
    # and never comes back to 98.90: the position runs to the end of the data.
    path = trades([10_000, 9_950, 9_800, 9_850, 9_700, 9_600])
    out = run(path, ExitPolicy(stop_bps=100, stop_limit_bps=10), NEXT)
    assert one(out) == ("END", 9_900, 9_600, 6_000, FLAG_GAPPED | FLAG_LIMIT_UNFILLED)
    assert int(out.point[0, 0]) == 2  # the trigger is still reported


def test_stop_limit_rests_then_fills_at_its_limit_as_maker() -> None:
    path = trades([10_000, 9_950, 9_800, 9_850, 9_889, 9_895, 9_700])
    out = run(path, ExitPolicy(stop_bps=100, stop_limit_bps=10), NEXT)
    assert one(out) == ("SL", 9_900, 9_890, 6_000, FLAG_GAPPED | FLAG_MAKER)


def test_marketable_stop_limit_fills_at_once_bounded_by_its_limit() -> None:
    slipped = Execution(fill=FillModel.NEXT, slippage_bps=10)
    policy = ExitPolicy(stop_bps=100, stop_limit_bps=10)
    # The entry slipped too: ceil(100.00 * 1.001) = 100.10, so the stop is floor(100.10 * 0.99)
    # = 99.09 and the limit floor(99.09 * 0.999) = 98.99. The trigger print is 99.05.
    roomy = run(trades([10_000, 9_950, 9_905, 9_930, 9_700]), policy, slipped)
    assert one(roomy) == ("SL", 9_909, 9_920, 4_000, FLAG_GAPPED)  # 99.30 slipped: 99.20
    bounded = run(trades([10_000, 9_950, 9_905, 9_908, 9_700]), policy, slipped)
    assert one(bounded) == ("SL", 9_909, 9_899, 4_000, FLAG_GAPPED)  # 98.98 < limit: 98.99
    resting = run(trades([10_000, 9_950, 9_905, 9_895, 9_700]), policy, slipped)
    assert one(resting)[0] == "END"  # arrival 98.95 < 98.99 rests, nothing reaches it again


# --- trailing ---------------------------------------------------------------------------------


def test_trailing_activation_and_callback_exact_price() -> None:
    # long from 100.00, activation 2 % (102.00), callback 1 %.
    prices = [10_000, 10_100, 9_990, 10_150, 10_200, 10_501, 10_400, 10_396, 10_395, 10_000]
    out = run(trades(prices), ExitPolicy(trail_bps=100, activation_bps=200))
    # 99.90 < 101.00 * 0.99 would fire an active stop: not yet active. Activated at 102.00,
    # highest 105.01: level 103.9599; 103.96 does not fire, 103.95 does (reported 103.95).
    assert one(out) == ("TRAIL", 10_395, 10_395, 9_000, 0)
    assert int(out.point[0, 0]) == 8


def test_trailing_without_activation_tracks_from_the_entry_print() -> None:
    out = run(trades([10_000, 9_950, 9_900, 9_899]), ExitPolicy(trail_bps=100))
    assert one(out) == ("TRAIL", 9_900, 9_900, 3_000, 0)


def test_short_trailing_mirrors() -> None:
    # short from 100.00, callback 0.5 %: lowest 98.00, fires at >= 98.49
    path = trades([10_000, 9_900, 9_800, 9_840, 9_848, 9_850, 9_900])
    entry = entries((1_000, -1, "1"))
    out = run(path, ExitPolicy(trail_bps=50), TOUCH, entry)
    assert one(out) == ("TRAIL", 9_849, 9_850, 6_000, FLAG_GAPPED)


def test_stop_and_trailing_on_one_print_fire_in_path_order() -> None:
    # stop 99.00 and trailing level 99.99 (from 101.00, 1 %): one print at 98.00 crosses both;
    # a falling price meets the higher level first: the trailing stop wins.
    path = trades([10_000, 10_100, 9_800])
    out = run(path, ExitPolicy(stop_bps=100, trail_bps=100))
    assert one(out) == ("TRAIL", 9_999, 9_800, 3_000, FLAG_GAPPED)


def test_tie_between_stop_and_trailing_keeps_the_stop() -> None:
    # stop 99.00 and trailing level 100.00 * 0.99 = 99.00: equal levels, placement order wins.
    out = run(trades([10_000, 9_950, 9_850]), ExitPolicy(stop_bps=100, trail_bps=100))
    assert one(out) == ("SL", 9_900, 9_850, 3_000, FLAG_GAPPED)


# --- bars: mark price -------------------------------------------------------------------------


def test_pessimistic_order_when_one_bar_touches_stop_and_take_profit() -> None:
    bars = mark_bars([(10_000, 10_000, 10_000, 10_000), (10_000, 10_300, 9_700, 10_200)])
    last = trades([10_000, 9_950, 10_100], [10_000, 70_000, 130_000])
    policy = ExitPolicy(stop_bps=200, take_profit_bps=200, source=MARK)
    both = entries((10_000, 1, "1"), (10_000, -1, "1"))
    out = run(last, policy, TOUCH, both, bars)
    # long: O-L-H-C, the stop at 98.00 fires at the low, inside the bar (continuous: at 98.00);
    # short: O-H-L-C, its stop at 102.00 fires at the high. Both flagged ambiguous.
    assert one(out, 0) == ("SL", 9_800, 9_800, 79_999, FLAG_AMBIGUOUS_BAR)
    assert one(out, 1) == ("SL", 10_200, 10_200, 79_999, FLAG_AMBIGUOUS_BAR)
    nxt = run(last, policy, NEXT, both, bars)
    # next: the market order fills at the first trade after the trigger time (t=130000)
    assert one(nxt, 0) == ("SL", 9_800, 10_100, 130_000, FLAG_AMBIGUOUS_BAR)


def test_bar_that_gaps_through_the_stop_is_touched_at_its_open() -> None:
    bars = mark_bars([(10_000, 10_050, 9_950, 10_000), (9_700, 9_800, 9_600, 9_750)])
    last = trades([10_000, 9_700], [10_000, 70_000])
    out = run(last, ExitPolicy(stop_bps=200, take_profit_bps=300, source=MARK), TOUCH, None, bars)
    assert one(out) == ("SL", 9_800, 9_700, 60_000, FLAG_GAPPED)  # open, not the stop


def test_mark_versus_contract_source() -> None:
    # last trades dip through the stop (98.50 < 99.00); the mark never does (low 99.50).
    bars = mark_bars([(10_000, 10_050, 9_950, 10_000), (10_000, 10_050, 9_950, 10_020)])
    last = trades([10_000, 9_850, 10_010, 10_020], [10_000, 50_000, 70_000, 110_000])
    contract = run(last, ExitPolicy(stop_bps=100), TOUCH)
    mark = run(last, ExitPolicy(stop_bps=100, source=MARK), TOUCH, None, bars)
    assert one(contract) == ("SL", 9_900, 9_850, 50_000, FLAG_GAPPED)
    assert one(mark) == ("END", 0, 10_020, 110_000, 0)


def test_mark_price_is_truncated_down_to_the_tick() -> None:
    # Binance FAQ: a SELL take-profit does not fire at a mark that truncates below it.
    # Take-profit 101.00; mark highs 100.9999 (→ 100.99, no) then 101.0001 (→ 101.00, fires).
    bars = mark_bars(
        [
            (1_000_000, 1_000_000, 1_000_000, 1_000_000),
            (1_000_000, 1_009_999, 1_000_000, 1_005_000),
            (1_005_000, 1_010_001, 1_004_000, 1_006_000),
        ],
        exp=4,
    )
    last = trades([10_000, 10_050, 10_060], [10_000, 70_000, 130_000])
    out = run(last, ExitPolicy(take_profit_bps=100, source=MARK), TOUCH, None, bars)
    reason, trigger, price, t, flags = one(out)
    assert (reason, trigger, t) == ("TP", 1_010_000, 159_999)  # bar 2, its high (2/3)
    assert price == 1_010_000 and flags == 0  # units of 1e-4: 101.0000, continuous: at the level


# --- money, OCO, end --------------------------------------------------------------------------


def test_fees_and_pnl_are_exact() -> None:
    series = trades([10_000, 10_050, 10_100, 9_000])
    market = build_market(series, CONTRACT)
    entry = entries((1_000, 1, "2"))
    execution = Execution(fill=FillModel.TOUCH, taker_fee_bps=Decimal(5), maker_fee_bps=Decimal(2))
    plan = plan_entries(market, entry, 0)
    out = replay(market, plan, ExitPolicy(stop_bps=100, take_profit_bps=100), execution)
    (record,) = trade_records(out, 0, plan, entry, market, execution)
    assert record["reason"] == "TP"
    assert record["entry_price"] == Decimal("100.00") and record["exit_price"] == Decimal("101.00")
    assert record["gross_pnl"] == Decimal("2.00")
    assert record["fees"] == Decimal("0.2010")  # 200 * 5 bps + 202 * 5 bps
    assert record["pnl"] == Decimal("1.7990")
    assert record["slippage_vs_trigger_bps"] == Decimal("0.00")
    assert record["time_in_trade_s"] == Decimal(2)
    summary = summarize(out, plan, entry, market.price_exp, execution)
    assert summary["net_pnl"][0] == pytest.approx(1.799)
    assert summary["hit_tp"][0] == 1.0 and summary["max_drawdown"][0] == 0.0


def test_maker_fee_applies_to_a_rested_stop_limit() -> None:
    series = trades([10_000, 9_800, 9_850, 9_890, 9_000])
    market = build_market(series, CONTRACT)
    entry = entries((1_000, 1, "1"))
    execution = Execution(fill=FillModel.NEXT, taker_fee_bps=Decimal(5), maker_fee_bps=Decimal(-1))
    plan = plan_entries(market, entry, 0)
    out = replay(market, plan, ExitPolicy(stop_bps=100, stop_limit_bps=10), execution)
    (record,) = trade_records(out, 0, plan, entry, market, execution)
    assert record["flags"] == ["maker", "gapped"]
    assert record["fees"] == Decimal("0.05") + Decimal("-0.00989")  # taker in, maker rebate out


def test_oco_one_exit_cancels_its_siblings() -> None:
    series = trades([10_000, 10_100, 9_800, 10_300])
    market = build_market(series, CONTRACT)
    entry = entries((1_000, 1, "1"), (2_000, -1, "1"))
    plan = plan_entries(market, entry, 0)
    policy = ExitPolicy(stop_bps=100, take_profit_bps=100, trail_bps=300)
    engine = _Replay(market, plan, policy, TOUCH)
    out = engine.run(None)
    # long: its TP at 101.00 fires at 101.00; short (from 101.00): its TP at 99.99 at 98.00
    assert one(out, 0) == ("TP", 10_100, 10_100, 2_000, 0)
    assert one(out, 1) == ("TP", 9_999, 9_800, 3_000, FLAG_GAPPED)
    for trig_book, trail_book in engine.books:
        assert len(trig_book) == 0 and len(trail_book) == 0  # siblings were cancelled


def test_position_without_trigger_closes_at_the_end() -> None:
    out = run(trades([10_000, 10_010, 9_990]), ExitPolicy(stop_bps=500, take_profit_bps=500))
    assert one(out) == ("END", 0, 9_990, 3_000, 0)
    assert int(out.point[0, 0]) == -1


def test_entry_outside_the_data_is_rejected_naming_the_field() -> None:
    series = trades([10_000, 10_010])
    market = build_market(series, CONTRACT)
    with pytest.raises(BacktestInputError) as info:
        plan_entries(market, entries((5_000, 1, "1")), 0)
    assert info.value.field == "entries" and "outside the data" in info.value.rule


def test_policy_validation_names_the_field_and_rule() -> None:
    with pytest.raises(BacktestInputError) as info:
        ExitPolicy(stop_bps=10_000).validate()
    assert info.value.field == "stop_bps" and "between 0 and 9999" in info.value.rule
    with pytest.raises(BacktestInputError, match="activation needs trail_bps"):
        ExitPolicy(activation_bps=10).validate()
    with pytest.raises(BacktestInputError, match="needs stop_bps"):
        ExitPolicy(stop_limit_bps=5).validate()
