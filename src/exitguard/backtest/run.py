"""One backtest or sweep from inputs to report: what the ``exitguard backtest``/``sweep`` commands run.

The CLI parses options and loads files; everything after that (markets, entries, the replay or
the kernel, statistics, the report folder) happens here, so it is usable from Python as well.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np

from exitguard.data.series import BarSeries, BookTickerSeries, TradeSeries
from exitguard.domain.enums import WorkingType

from .entries import Entries
from .market import EntryPlan, Market, build_market, plan_entries
from .model import BacktestInputError, Execution, ExitPolicy
from .outcomes import Outcomes, TradeMoney, iso_ms, summarize, trade_money, trade_records
from .ranking import Ranking, RankSpec, rank
from .replay import replay
from .report import POLICY_PARAMS, write_report
from .sweep import Executor, PolicyGrid, run_sweep

__all__ = ["RunResult", "build_markets", "choose_policy", "run_backtest", "run_grid", "varying"]

Progress = Callable[[int, int], None]


@dataclass(frozen=True, slots=True)
class RunResult:
    """Outcomes of ``policies`` (rows) over ``entries`` and their statistics."""

    command: str
    policies: tuple[ExitPolicy, ...]
    outcomes: Outcomes
    plans: dict[WorkingType, EntryPlan]
    markets: dict[WorkingType, Market]
    entries: Entries
    execution: Execution
    summary: dict[str, Any]

    def trades(self, row: int) -> list[dict[str, Any]]:
        """Policy ``row``'s trades with exact money (see :func:`trade_records`)."""
        source = WorkingType(self.policies[row].source)
        return trade_records(
            self.outcomes,
            row,
            self.plans[source],
            self.entries,
            self.markets[source],
            self.execution,
        )

    def money(self) -> TradeMoney:
        """Every trade's float money (entry fills do not depend on the trigger source)."""
        plan = next(iter(self.plans.values()))
        exp = next(iter(self.markets.values())).price_exp
        return trade_money(self.outcomes, plan, self.entries, exp, self.execution)

    def rank(self, spec: RankSpec) -> Ranking:
        """The policies ranked under ``spec`` (:mod:`exitguard.backtest.ranking`)."""
        return rank(self.money(), spec)

    def write(
        self,
        folder: Path,
        chosen: int,
        heatmap: tuple[str, str] | None = None,
        extra_meta: dict[str, Any] | None = None,
        ranking: Ranking | None = None,
    ) -> list[Path]:
        """The report folder (:mod:`exitguard.backtest.report`) with ``chosen``'s trades."""
        source = WorkingType(self.policies[chosen].source)
        market = self.markets[source]
        trades = self.trades(chosen)
        net = np.array([float(t["pnl"]) for t in trades], dtype=np.float64)
        open_pnl = np.array([float(t["open_pnl"]) for t in trades], dtype=np.float64)
        meta = {
            "command": self.command,
            "symbol": market.symbol,
            "price_exp": market.price_exp,
            "tick": market.to_decimal(market.tick),
            "data": {
                str(s): {
                    "trigger_points": len(m.path),
                    "fill_rows": len(m.fills),
                    "from": iso_ms(int(m.fills.time_ms[0])),
                    "to": iso_ms(int(m.fills.time_ms[-1])),
                }
                for s, m in self.markets.items()
            },
            "entries": len(self.entries),
            "execution": {
                "fill": str(self.execution.fill),
                "slippage_bps": self.execution.slippage_bps,
                "taker_fee_bps": self.execution.taker_fee_bps,
                "maker_fee_bps": self.execution.maker_fee_bps,
            },
            "intrabar_rule": "mark klines: adverse extreme first (longs O-L-H-C, shorts O-H-L-C)",
            **(extra_meta or {}),
        }
        return write_report(
            folder,
            meta=meta,
            policies=self.policies,
            summary=self.summary,
            chosen=chosen,
            trades=trades,
            market=market,
            plan=self.plans[source],
            outcomes=self.outcomes,
            net=net,
            heatmap=heatmap,
            ranking=ranking,
            open_pnl=open_pnl,
        )


def build_markets(
    trades: TradeSeries,
    sources: set[WorkingType],
    mark: BarSeries | None = None,
    tick: Decimal | None = None,
    book: BookTickerSeries | None = None,
) -> dict[WorkingType, Market]:
    """One :class:`Market` per trigger source (see :func:`build_market`)."""
    return {s: build_market(trades, s, mark, tick, book) for s in sorted(sources)}


def run_backtest(
    markets: dict[WorkingType, Market],
    entries: Entries,
    policy: ExitPolicy,
    execution: Execution,
    progress: Progress | None = None,
) -> RunResult:
    """Event-driven replay of one policy (:func:`exitguard.backtest.replay.replay`)."""
    policy.validate()
    execution.validate()
    source = WorkingType(policy.source)
    if source not in markets:
        raise BacktestInputError("--source", f"no market data for {source}")
    market = markets[source]
    plan = plan_entries(market, entries, execution.slippage_bps)
    outcomes = replay(market, plan, policy, execution, progress)
    summary = summarize(outcomes, plan, entries, market.price_exp, execution)
    return RunResult(
        "backtest",
        (policy,),
        outcomes,
        {source: plan},
        {source: market},
        entries,
        execution,
        summary,
    )


def run_grid(
    markets: dict[WorkingType, Market],
    entries: Entries,
    grid: PolicyGrid,
    execution: Execution,
    executor: Executor = "local",
    chunk_size: int = 64,
    workers: int | None = None,
    ray_address: str | None = None,
    progress: Progress | None = None,
) -> RunResult:
    """The sweep kernel over ``grid`` (:func:`exitguard.backtest.sweep.run_sweep`)."""
    outcomes, plans = run_sweep(
        markets, entries, grid, execution, executor, chunk_size, workers, ray_address, progress
    )
    any_plan = next(iter(plans.values()))  # entry fills do not depend on the trigger source
    exp = next(iter(markets.values())).price_exp
    summary = summarize(outcomes, any_plan, entries, exp, execution)
    used = {s: markets[s] for s in plans}
    return RunResult("sweep", grid.policies, outcomes, plans, used, entries, execution, summary)


def varying(policies: tuple[ExitPolicy, ...]) -> list[str]:
    """The policy parameters that take more than one value in ``policies``, in table order
    (the plain ones, then the plan elements a grid varies, such as ``ladder``)."""
    rows = [p.as_dict() for p in policies]
    keys = list(POLICY_PARAMS) + [k for k in rows[0] if k not in POLICY_PARAMS]
    return [k for k in keys if len({str(r[k]) for r in rows}) > 1]


def choose_policy(result: RunResult, spec: str, ranking: Ranking | None = None) -> int:
    """``"best"`` (first in ``ranking``; without one, or when nothing is ranked, the highest
    net PnL), ``"worst"`` (last ranked, or the lowest net PnL), or a policy index."""
    net = np.asarray(result.summary["net_pnl"])
    ranked = ranking.order if ranking is not None else ()
    if spec == "best":
        return ranked[0] if ranked else int(np.argmax(net))
    if spec == "worst":
        return ranked[-1] if ranked else int(np.argmin(net))
    try:
        index = int(spec)
    except ValueError:
        raise BacktestInputError(
            "--chart-policy", f"must be best, worst or a policy index, got {spec!r}"
        ) from None
    if not 0 <= index < len(result.policies):
        raise BacktestInputError(
            "--chart-policy", f"index must be in [0, {len(result.policies) - 1}], got {index}"
        )
    return index
