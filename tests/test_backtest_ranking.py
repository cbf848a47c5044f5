"""Honest ranking: trades open at the data's end, named objectives, minimum trade counts and
walk-forward, on hand-made paths whose answers are known (and the CLI at 80 columns)."""

from __future__ import annotations

import json
import math
import re
from datetime import date
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner, Result

from exitguard.backtest.entries import Entries
from exitguard.backtest.market import Market, build_market
from exitguard.backtest.model import BacktestInputError, Execution, ExitPolicy
from exitguard.backtest.outcomes import TradeMoney
from exitguard.backtest.ranking import Objective, OpenTrades, RankSpec, rank
from exitguard.backtest.run import RunResult, run_grid
from exitguard.backtest.sweep import PolicyGrid
from exitguard.backtest.walk_forward import cut_times, slice_market, walk_forward
from exitguard.cli.backtest_cmd import backtest_command, sweep_command
from exitguard.data.series import TradeSeries
from exitguard.domain.enums import WorkingType

CONTRACT = WorkingType.CONTRACT_PRICE
T0 = 1_700_000_000_000


def sawtooth_market(final: int, n: int = 2000) -> Market:
    """One print a second: a sawtooth (period 100 s, +-1.5 %) drifting 6 % down from 100.00,
    whose last 20 prints run to ``final`` (in cents): a rally or a crash at the data's end."""
    t = np.arange(n)
    base = 100_00 * (1 - 0.06 * t / n)
    saw = 0.015 * np.where((t % 100) < 50, (t % 50) / 25 - 1, 1 - (t % 50) / 25)
    price = base * (1 + saw)
    price[-20:] = np.linspace(price[-21], final, 20)
    series = TradeSeries(
        "BTCUSDT", "um", 2, 3, T0 + 1000 * t, np.rint(price).astype(np.int64),
        np.ones(n, np.int64), np.zeros(n, np.bool_),
    )  # fmt: skip
    return build_market(series, CONTRACT)


def longs(every_s: int = 37, until_s: int = 1900) -> Entries:
    return Entries.build([(T0 + 1000 * k, 1, Decimal(1)) for k in range(0, until_s, every_s)])


def sweep(market: Market, entries: Entries, *policies: ExitPolicy) -> RunResult:
    return run_grid({CONTRACT: market}, entries, PolicyGrid(policies), Execution())


# -- the data's end ------------------------------------------------------------------------------


def test_a_winner_made_of_force_closed_trades_no_longer_ranks_first() -> None:
    """The issue's sweep: the top row lost on its stops and won on trades the data's end closed
    (SL -, END +, its equity jumping at the last timestamp). Here policy 0 (a 3 % stop, no
    take-profit) is that row: first by net P&L with open trades counted, last without them."""
    result = sweep(
        sawtooth_market(final=120_00), longs(),
        ExitPolicy(300, 0), ExitPolicy(100, 100), ExitPolicy(0, 150), ExitPolicy(200, 200),
    )  # fmt: skip
    s = result.summary
    assert s["open_trades"][0] > 0 and s["open_pnl"][0] > 0 > s["closed_pnl"][0]
    assert s["closed_pnl"][0] + s["open_pnl"][0] == pytest.approx(s["net_pnl"][0])
    assert int(np.argmax(s["net_pnl"])) == 0  # the artefact, as net P&L alone ranks
    assert result.rank(RankSpec(open_trades=OpenTrades.INCLUDE)).best() == 0
    default = result.rank(RankSpec())
    assert default.best() != 0 and default.order[-1] == 0
    assert default.pnl[0] == pytest.approx(s["closed_pnl"][0])  # open gains are not counted


def test_open_losers_still_count_so_a_policy_without_a_stop_cannot_hide_them() -> None:
    """Leaving open trades out entirely has the opposite artefact: a take-profit without a stop
    never closes its losers, so they vanish. By default their mark-to-market losses count."""
    result = sweep(
        sawtooth_market(final=80_00), longs(),
        ExitPolicy(0, 100), ExitPolicy(100, 100), ExitPolicy(150, 150),
    )  # fmt: skip
    s = result.summary
    assert s["open_pnl"][0] < 0 < s["closed_pnl"][0]
    assert result.rank(RankSpec(open_trades=OpenTrades.EXCLUDE)).best() == 0
    default = result.rank(RankSpec())
    assert default.best() != 0
    assert default.pnl[0] == pytest.approx(s["net_pnl"][0])  # every open trade here is a loser
    assert default.trades[0] == s["trades"][0]


# -- objectives on hand-made trades ---------------------------------------------------------------


def money(net: list[list[float]], open_: list[list[bool]] | None = None) -> TradeMoney:
    """Trades of notional 100 exiting one second apart, in order."""
    values = np.array(net, dtype=np.float64)
    is_open = np.zeros(values.shape, np.bool_) if open_ is None else np.array(open_, np.bool_)
    exit_time = np.tile(np.arange(values.shape[1], dtype=np.int64) * 1000, (values.shape[0], 1))
    return TradeMoney(
        gross=values, fees=np.zeros_like(values), net=values,
        open_net=np.where(is_open, values, 0.0), notional=np.full(values.shape[1], 100.0),
        open=is_open, exit_time=exit_time, open_fraction=is_open.astype(np.float64),
    )  # fmt: skip


def test_each_objective_is_the_documented_formula() -> None:
    trades = [[10.0, -4.0, 6.0, -2.0], [1.0, 1.0, 1.0, 1.0], [-3.0, 5.0, 0.0, 0.0]]
    m = money(trades)
    r = np.array(trades) / 100.0

    def value(objective: Objective) -> list[float]:
        return [float(v) for v in rank(m, RankSpec(objective)).value]

    assert value(Objective.NET) == [10.0, 4.0, 2.0]
    # Equity 10, 6, 12, 10: the fall from 10 to 6 is the drawdown; row 2: 0 -> -3.
    assert value(Objective.PNL_DD) == [10.0 / 4.0, math.inf, 2.0 / 3.0]
    assert value(Objective.PROFIT_FACTOR) == [16.0 / 6.0, math.inf, 5.0 / 3.0]
    sharpe = value(Objective.SHARPE)
    assert sharpe[0] == pytest.approx(r[0].mean() / r[0].std(ddof=1))
    assert math.isnan(sharpe[1])  # equal returns: no deviation, undefined
    sortino = value(Objective.SORTINO)
    assert sortino[0] == pytest.approx(r[0].mean() / math.sqrt((np.minimum(r[0], 0) ** 2).mean()))
    assert sortino[1] == math.inf  # no losing trade, positive mean


def test_order_min_trades_and_undefined_objectives() -> None:
    m = money([[5.0, 5.0, 5.0], [1.0, 2.0, 3.0], [4.0, -1.0, 0.0]], [[False, True, True]] * 3)
    # Only the first trade of each policy closed; the open ones: gains wait, losses count.
    ranking = rank(m, RankSpec(Objective.NET, min_trades=2))
    assert list(ranking.trades) == [1, 1, 2]  # policy 2's open loss counts as a trade
    assert ranking.order == (2,) and ranking.best() == 2 and list(ranking.rank) == [0, 0, 1]
    assert ranking.unranked[0] == "1 counted trades < --min-trades 2"
    assert rank(m, RankSpec(Objective.NET)).order == (0, 2, 1)  # 5, 3, 1
    assert rank(m, RankSpec(Objective.NET, open_trades=OpenTrades.INCLUDE)).order == (0, 1, 2)
    row = rank(m, RankSpec(Objective.SHARPE)).as_row(0)
    assert row["rank"] is None and row["objective_value"] is None
    assert row["not_ranked"] == "sharpe undefined over 1 counted trades"
    assert rank(money([[1.0, 1.0]]), RankSpec(Objective.PNL_DD)).as_row(0)["objective_value"] == (
        "inf"
    )
    with pytest.raises(BacktestInputError, match="--min-trades"):
        RankSpec(min_trades=0).validate()


# -- walk-forward -----------------------------------------------------------------------------


def test_cut_times_split_and_anchored_folds() -> None:
    assert cut_times(0, 999, fraction=0.7) == [(0, 700, 1000)]
    assert cut_times(0, 899, folds=2) == [(0, 300, 600), (0, 600, 900)]
    for bad in ({"fraction": 1.0}, {"folds": 0}, {}, {"fraction": 0.5, "folds": 2}):
        with pytest.raises(BacktestInputError):
            cut_times(0, 999, **bad)  # type: ignore[arg-type]


def test_walk_forward_never_lets_the_in_sample_run_see_past_the_cut() -> None:
    """The rally at the end is after the cut: in sample, the trades still open at the cut are
    marked there, so policy 0 (the end-of-data artefact) cannot win on it in any mode."""
    market = sawtooth_market(final=120_00)
    grid = PolicyGrid((ExitPolicy(300, 0), ExitPolicy(100, 100), ExitPolicy(0, 150)))
    seen: list[RunResult] = []

    def evaluate(part: dict[WorkingType, Market], entries: Entries) -> RunResult:
        seen.append(run_grid(part, entries, grid, Execution()))
        return seen[-1]

    spec = RankSpec(open_trades=OpenTrades.INCLUDE)
    wf = walk_forward({CONTRACT: market}, longs(every_s=20, until_s=2000), spec, evaluate, 0.5)
    (fold,) = wf.folds
    start, cut, stop = fold.bounds
    assert (start, stop) == (T0, T0 + 1_999_000 + 1) and cut == T0 + 999_500
    ins, oos = seen
    assert int(ins.outcomes.exit_time.max()) < cut <= int(oos.entries.time_ms.min())
    assert int(ins.markets[CONTRACT].path.time_ms.max()) < cut
    assert len(ins.entries) + len(oos.entries) == 100
    winner = fold.winner
    assert winner is not None and winner == ins.rank(spec).best()
    doc = fold.as_dict()
    assert doc["out_of_sample_figures"]["rank"] == int(oos.rank(spec).rank[winner])
    assert doc["in_sample_figures"]["rank"] == 1
    assert doc["out_of_sample_figures"]["of"] == len(oos.rank(spec).order)


def test_slice_market_keeps_mark_bars_whole() -> None:
    from exitguard.backtest.synthetic import mark_klines, random_trades

    trades = random_trades(3000, seed=3)
    marks = mark_klines(trades)
    market = build_market(trades, WorkingType.MARK_PRICE, marks)
    cut = int(marks.open_time_ms[5]) + 30_000  # the middle of bar 5
    part = slice_market(market, int(market.fills.time_ms[0]), cut)
    assert len(part.path) == 5 * 4 and bool(part.path.bars)
    assert int(part.path.time_ms.max()) < cut and int(part.fills.time_ms.max()) < cut
    assert list(part.next_fill) == list(
        np.searchsorted(part.fills.time_ms, part.path.time_ms, "right")
    )
    with pytest.raises(BacktestInputError, match="no MARK_PRICE price"):
        slice_market(market, cut, cut + 1)


# -- the commands ----------------------------------------------------------------------------

app = typer.Typer()
app.command("backtest")(backtest_command)
app.command("sweep")(sweep_command)
narrow = CliRunner(env={"COLUMNS": "80", "TERMINAL_WIDTH": "80"})


@pytest.fixture(scope="module")
def trades_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from exitguard.data.synth import synth_pair

    out = tmp_path_factory.mktemp("synth")
    trades, _marks = synth_pair("BTCUSDT", date(2024, 3, 1), 1, seed=5, out_dir=out,
                                trades_per_minute=20)  # fmt: skip
    return trades[0]


def run(*args: str) -> Result:
    return narrow.invoke(app, list(args))


def one_line_error(result: Result) -> str:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", result.stderr).split())


GRID = ("--stop-bps", "0,30,60", "--tp-bps", "0,40,80", "--every", "30m")


def test_sweep_at_80_columns_ranks_by_an_objective_with_walk_forward(
    trades_file: Path, tmp_path: Path
) -> None:
    result = run(
        "sweep", "--trades", str(trades_file), *GRID, "--rank-by", "sharpe",
        "--min-trades", "10", "--folds", "2", "--report", str(tmp_path / "r"), "--top", "4",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert max(len(line) for line in out.splitlines()) <= 80
    assert "Sharpe" in out and "END PnL" in out and "walk-forward" in out
    assert "Ranked by sharpe over closed trades and open losses, min 10 trades." in out
    doc = json.loads((tmp_path / "r" / "results.json").read_text())
    assert doc["ranking"]["objective"] == "sharpe" and doc["ranking"]["min_trades"] == 10
    ranked = sorted((p for p in doc["policies"] if p["rank"]), key=lambda p: p["rank"])
    values = [p["objective_value"] for p in ranked]
    assert (
        values == sorted(values, reverse=True)
        and ranked[0]["index"] == doc["chosen_policy"]["index"]
    )
    for p in doc["policies"]:
        assert (p["rank"] is None) == (p["not_ranked"] is not None)
        assert p["open_pnl"] + p["closed_pnl"] == pytest.approx(p["net_pnl"])
    folds = doc["walk_forward"]["folds"]
    assert [f["fold"] for f in folds] == [1, 2]
    assert all(f["in_sample"]["to"] < f["out_of_sample"]["from"] for f in folds)


@pytest.mark.parametrize(
    ("args", "option", "words"),
    [
        (("--rank-by", "calmar"), "--rank-by", "must be one of net, pnl_dd, sharpe"),
        (("--min-trades", "0"), "--min-trades", "at least 1"),
        (("--open-trades", "some"), "--open-trades", "losses, exclude, include"),
        (("--include-open", "--open-trades", "exclude"), "--include-open", "contradicts"),
        (("--walk-forward", "1.5"), "--walk-forward", "between 0 and 1"),
        (("--walk-forward", "0.5", "--folds", "2"), "--walk-forward/--folds", "give one"),
        (("--folds", "300"), "--folds", "holds no entry"),
    ],
)
def test_bad_ranking_options_are_one_line_errors(
    trades_file: Path, tmp_path: Path, args: tuple[str, ...], option: str, words: str
) -> None:
    result = run("sweep", "--trades", str(trades_file), *GRID, *args,
                 "--report", str(tmp_path / "r"))  # fmt: skip
    message = one_line_error(result)
    assert option in message and words in message, message


def test_a_partly_closed_trade_counts_its_closed_legs_and_only_an_open_loss() -> None:
    """A ladder leaves part of a trade open at the end: its closed legs always count, its END
    leg (open_net) counts at its mark when under water, never when in profit (by default)."""
    net = np.array([[7.0, 1.0], [-9.0, 1.0]])  # trade 0: closed legs +4, END leg +3 / -13
    open_net = np.array([[3.0, 0.0], [-13.0, 0.0]])
    m = TradeMoney(
        gross=net, fees=np.zeros_like(net), net=net, open_net=open_net,
        notional=np.full(2, 100.0), open=np.array([[True, False]] * 2),
        exit_time=np.array([[1000, 2000]] * 2, dtype=np.int64),
        open_fraction=np.array([[0.5, 0.0]] * 2),
    )  # fmt: skip
    assert list(rank(m, RankSpec()).pnl) == [5.0, -8.0]
    assert list(rank(m, RankSpec(open_trades=OpenTrades.EXCLUDE)).pnl) == [5.0, 5.0]
    assert list(rank(m, RankSpec(open_trades=OpenTrades.INCLUDE)).pnl) == [8.0, -8.0]
    assert list(rank(m, RankSpec(open_trades=OpenTrades.EXCLUDE)).trades) == [2, 2]


def test_exits_at_the_same_millisecond_move_the_drawdown_curve_once() -> None:
    """A jump that fills one position's target and stops another at the same moment is one
    step of the equity curve (their sum), not a peak and a fall in no time."""
    import numpy as np

    from exitguard.backtest.outcomes import max_drawdown

    net = np.array([[1000.0, -1300.0, 500.0]])
    same = np.array([[60_000, 60_000, 120_000]], dtype=np.int64)
    apart = np.array([[60_000, 60_001, 120_000]], dtype=np.int64)
    assert max_drawdown(net, same)[0] == 300.0  # 0 -> -300 -> +200
    assert max_drawdown(net, apart)[0] == 1300.0  # +1000 -> -300: a real fall
