"""Ranking policies by a named objective, without the artefacts of the data's end.

A trade still open when the data ends is closed "at the last print" only on paper: its P&L is
where the price happened to stop, not what the policy's exits did. Counting it either way
misleads a grid search:

- counted in full, a policy whose open trades happen to sit on a final rally ranks first on gains
  it never took (its equity curve jumps at the last timestamp);
- left out entirely, a policy *without a stop* ranks first: its losers never close, so they
  vanish from its P&L and its drawdown reads 0.

So by default (``open_trades="losses"``) the ranking is conservative, as accounts are: an open
trade's mark-to-market **loss** counts (at the data's end), its **gain** does not.
``"exclude"`` counts closed trades only; ``"include"`` counts every trade at its mark. The report
shows the open share (count and P&L) beside every policy either way.

With partial exits (a ladder), the unit is the *leg*: a trade's legs closed by exits always
count, its END leg (the part still open) as above.

Objectives (per policy, over the counted trades; ``r`` = a trade's counted net P&L / its entry
notional):

- ``net``: the sum of net P&L;
- ``pnl_dd``: net P&L / the maximum drawdown of the realised equity curve (exit-time order, from
  0); no drawdown and a profit: +inf (ranks first);
- ``sharpe``: mean(r) / std(r) (sample standard deviation; per trade, not annualised: the trades
  of one run share no common period);
- ``sortino``: mean(r) / sqrt(mean(min(r, 0)^2)) (downside deviation against 0, over every
  trade); no losing trade and a positive mean: +inf;
- ``profit_factor``: the sum of winning P&L / the sum of losing P&L (absolute); no loss and a
  win: +inf.

A policy is *not ranked* when it has fewer counted trades than ``min_trades`` or its objective is
undefined (Sharpe with fewer than 2 trades or equal returns, a ratio of 0 / 0); the reason is
kept. Ranked policies sort by the objective, then net P&L, then grid order (higher is better).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np
import numpy.typing as npt

from .model import BacktestInputError
from .outcomes import TradeMoney, max_drawdown

__all__ = [
    "OBJECTIVE_LABELS",
    "Objective",
    "OpenTrades",
    "RankSpec",
    "Ranking",
    "objective_values",
    "rank",
]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


class Objective(StrEnum):
    """What ``--rank-by`` names (module docstring)."""

    NET = "net"
    PNL_DD = "pnl_dd"
    SHARPE = "sharpe"
    SORTINO = "sortino"
    PROFIT_FACTOR = "profit_factor"


class OpenTrades(StrEnum):
    """What the ranking does with trades still open at the data's end (module docstring)."""

    LOSSES = "losses"  # their mark-to-market losses count, their gains do not
    EXCLUDE = "exclude"
    INCLUDE = "include"


_COUNTED = {
    OpenTrades.LOSSES: "closed trades and open losses",
    OpenTrades.EXCLUDE: "closed trades only",
    OpenTrades.INCLUDE: "all trades at their mark",
}

OBJECTIVE_LABELS = {
    Objective.NET: "net PnL",
    Objective.PNL_DD: "PnL/DD",
    Objective.SHARPE: "Sharpe",
    Objective.SORTINO: "Sortino",
    Objective.PROFIT_FACTOR: "PF",
}


@dataclass(frozen=True, slots=True)
class RankSpec:
    """How to rank: the objective, the minimum number of counted trades, and whether trades
    still open at the data's end count."""

    objective: Objective = Objective.NET
    min_trades: int = 1
    open_trades: OpenTrades = OpenTrades.LOSSES

    @property
    def include_open(self) -> bool:
        return OpenTrades(self.open_trades) is OpenTrades.INCLUDE

    def validate(self) -> RankSpec:
        """Raise :class:`BacktestInputError` for an unknown objective or a bad minimum."""
        try:
            Objective(self.objective)
        except ValueError:
            names = ", ".join(o.value for o in Objective)
            raise BacktestInputError(
                "--rank-by", f"must be one of {names}, got {self.objective!r}"
            ) from None
        try:
            OpenTrades(self.open_trades)
        except ValueError:
            raise BacktestInputError(
                "--open-trades", f"must be losses, exclude or include, got {self.open_trades!r}"
            ) from None
        if type(self.min_trades) is not int or self.min_trades < 1:
            raise BacktestInputError(
                "--min-trades", f"must be a whole number of at least 1, got {self.min_trades!r}"
            )
        return self

    def describe(self) -> str:
        """One line for the table title and the JSON: what the order means."""
        trades = _COUNTED[OpenTrades(self.open_trades)]
        return (
            f"ranked by {Objective(self.objective).value} over {trades}, "
            f"min {self.min_trades} trade{'s' if self.min_trades != 1 else ''}"
        )


def _ratio(num: F64, den: F64) -> F64:
    """num / den with the conventions of the module docstring: x / 0 is +inf for x > 0 and
    undefined (NaN) otherwise."""
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)
    return np.where((den <= 0) & (num > 0), np.inf, out).astype(np.float64)


def objective_values(
    objective: Objective, net: F64, returns: F64, counted: npt.NDArray[np.bool_], exit_time: I64
) -> F64:
    """Per policy (rows): the objective over the ``counted`` trades (module docstring)."""
    objective = Objective(objective)
    kept = np.where(counted, net, 0.0)
    pnl = kept.sum(axis=1)
    if objective is Objective.NET:
        return np.asarray(pnl, dtype=np.float64)
    if objective is Objective.PNL_DD:
        return _ratio(pnl, max_drawdown(kept, exit_time))
    if objective is Objective.PROFIT_FACTOR:
        wins = np.where(kept > 0, kept, 0.0).sum(axis=1)
        losses = -np.where(kept < 0, kept, 0.0).sum(axis=1)
        return _ratio(wins, losses)
    n = counted.sum(axis=1).astype(np.float64)
    r = np.where(counted, returns, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = r.sum(axis=1) / n
        if objective is Objective.SHARPE:
            dev = np.where(counted, returns - mean[:, None], 0.0)
            std = np.sqrt((dev**2).sum(axis=1) / (n - 1))
            value = np.where((n >= 2) & (std > 0), mean / np.where(std > 0, std, 1.0), np.nan)
            return np.asarray(value, dtype=np.float64)
        down = np.sqrt((np.minimum(r, 0.0) ** 2).sum(axis=1) / n)
    return np.where(n > 0, _ratio(mean, down), np.nan).astype(np.float64)


@dataclass(frozen=True, slots=True)
class Ranking:
    """The order of a run's policies under a :class:`RankSpec`.

    Per policy (arrays of length ``policies``): ``value`` (the objective, NaN when undefined),
    ``trades``/``pnl``/``drawdown`` over the counted trades, ``rank`` (1 = best, 0 = not
    ranked). ``order``: the ranked policies, best first; ``unranked``: why the others are not.
    """

    spec: RankSpec
    value: F64
    trades: I64
    pnl: F64
    drawdown: F64
    rank: I64
    order: tuple[int, ...]
    unranked: dict[int, str]

    def best(self) -> int | None:
        """The first-ranked policy, or None when no policy could be ranked."""
        return self.order[0] if self.order else None

    def as_row(self, i: int) -> dict[str, Any]:
        """Policy ``i``'s ranking fields for the JSON and CSV reports (±inf as text)."""
        value = float(self.value[i])
        return {
            "rank": int(self.rank[i]) or None,
            "objective": Objective(self.spec.objective).value,
            "objective_value": (
                None if math.isnan(value) else value if math.isfinite(value) else str(value)
            ),
            "ranked_trades": int(self.trades[i]),
            "ranked_pnl": float(self.pnl[i]),
            "ranked_max_drawdown": float(self.drawdown[i]),
            "not_ranked": self.unranked.get(i),
        }

    def meta(self) -> dict[str, Any]:
        """The spec for the report's metadata."""
        return {
            "objective": Objective(self.spec.objective).value,
            "min_trades": self.spec.min_trades,
            "open_trades": OpenTrades(self.spec.open_trades).value,
            "description": self.spec.describe(),
            "ranked": len(self.order),
            "not_ranked": len(self.unranked),
        }


def rank(money: TradeMoney, spec: RankSpec) -> Ranking:
    """Rank the policies (rows of ``money``) under ``spec``; see the module docstring."""
    spec.validate()
    mode = OpenTrades(spec.open_trades)
    # A trade's counted P&L: its closed legs, plus its END leg (the part open at the data's
    # end) in full, never, or only when under water. A trade counts when any of it does.
    has_closed = money.open_fraction < 1.0
    if mode is OpenTrades.INCLUDE:
        net = money.net
        counted = np.ones_like(money.open)
    elif mode is OpenTrades.EXCLUDE:
        net = money.closed
        counted = has_closed
    else:
        net = money.closed + np.minimum(money.open_net, 0.0)
        counted = has_closed | (money.open_net < 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        returns = net / np.where(money.notional > 0, money.notional, np.nan)[None, :]
    value = objective_values(spec.objective, net, returns, counted, money.exit_time)
    kept = np.where(counted, net, 0.0)
    pnl = kept.sum(axis=1)
    trades = counted.sum(axis=1).astype(np.int64)
    drawdown = max_drawdown(kept, money.exit_time)
    unranked: dict[int, str] = {}
    which = "trades" if mode is OpenTrades.INCLUDE else "counted trades"
    for i in range(value.shape[0]):
        if trades[i] < spec.min_trades:
            unranked[i] = f"{trades[i]} {which} < --min-trades {spec.min_trades}"
        elif math.isnan(value[i]):
            unranked[i] = f"{Objective(spec.objective).value} undefined over {trades[i]} {which}"
    ranked = [i for i in range(value.shape[0]) if i not in unranked]
    order = tuple(sorted(ranked, key=lambda i: (-value[i], -pnl[i], i)))
    ranks = np.zeros(value.shape[0], dtype=np.int64)
    for position, i in enumerate(order, start=1):
        ranks[i] = position
    return Ranking(spec, value, trades, pnl, drawdown, ranks, order, unranked)
