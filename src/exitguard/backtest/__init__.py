"""Backtests of exit policies on Binance history, with the paper venue's own trigger rules.

- :mod:`~exitguard.backtest.replay`: one policy, event by event, through the domain's
  ``TriggerBook`` / ``TrailingBook`` (the reference implementation);
- :mod:`~exitguard.backtest.sweep`: a grid of policies with the numba kernels
  (:mod:`~exitguard.backtest.kernel` for plain policies, :mod:`~exitguard.backtest.plan_kernel`
  for exit plans: ladders, stop moves, ROI steps, time stops, the liquidation guard, partial
  exits), identical outcomes, chunked over local, process or Ray executors;
- :mod:`~exitguard.backtest.market`: trigger paths (trades; mark klines with the adverse-first
  intrabar order) and fills; :mod:`~exitguard.backtest.entries`: what positions to open;
- :mod:`~exitguard.backtest.outcomes`, :mod:`~exitguard.backtest.report`,
  :mod:`~exitguard.backtest.run`: money, statistics, the report folder.

Dependency rule: this package imports :mod:`exitguard.domain` and :mod:`exitguard.data` only.
"""

from __future__ import annotations

from .entries import Entries, every_entries, random_entries, read_entries_csv
from .market import EntryPlan, Market, build_market, plan_entries
from .model import (
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
from .outcomes import Outcomes, summarize, trade_records
from .replay import replay
from .run import RunResult, build_markets, run_backtest, run_grid
from .sweep import PolicyGrid, evaluate, prepare_kernel, run_sweep

__all__ = [
    "BacktestInputError",
    "Entries",
    "EntryPlan",
    "Execution",
    "ExitPolicy",
    "ExitReason",
    "FillModel",
    "Level",
    "Market",
    "Move",
    "Outcomes",
    "PolicyGrid",
    "Roi",
    "RunResult",
    "build_market",
    "build_markets",
    "evaluate",
    "every_entries",
    "liquidation_price",
    "plan_entries",
    "prepare_kernel",
    "random_entries",
    "read_entries_csv",
    "replay",
    "run_backtest",
    "run_grid",
    "run_sweep",
    "summarize",
    "trade_records",
]
