"""Walk-forward: pick a grid's winner on one stretch of data, then see how it does on the next.

A grid winner chosen on the whole history has seen every price it is judged on. Here the data
is cut in time: the winner is chosen **in sample** (the ranking of :mod:`.ranking`) and its
figures are reported **out of sample**, beside its in-sample ones, with its out-of-sample rank
among every policy of the grid. A winner that drops far down the out-of-sample ranking was fit to
noise.

- ``fraction=0.7``: one split, the first 70 % of the data's time range in sample, the rest out;
- ``folds=k`` (anchored): the range cut into ``k + 1`` equal parts; fold ``i`` (1..k) chooses on
  parts ``1..i`` (always from the start) and tests on part ``i + 1``.

Each part is its own backtest: the markets are cut at the part's bounds (a mark kline belongs to
a part only when the whole bar does), entries are those inside the part, and a trade still open
at the part's end is open at the end *of that part* (marked to market there). So the in-sample
run never sees a price after the cut, and an out-of-sample trade never starts before it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .entries import Entries
from .market import Fills, Market, PricePath
from .model import BacktestInputError
from .outcomes import iso_ms
from .ranking import Ranking, RankSpec
from .run import RunResult

__all__ = ["Fold", "WalkForward", "cut_times", "slice_entries", "slice_market", "walk_forward"]

# What a part is evaluated with: markets and entries in, a run result out (run_grid's shape).
Evaluate = Callable[[dict[Any, Market], Entries], RunResult]


def cut_times(
    start_ms: int, end_ms: int, fraction: float | None = None, folds: int | None = None
) -> list[tuple[int, int, int]]:
    """``(in-sample start, cut, out-of-sample end)`` per fold, ends exclusive, over the data's
    range ``[start_ms, end_ms]``. Exactly one of ``fraction`` (0 < f < 1) or ``folds`` (>= 1)."""
    if (fraction is None) == (folds is None):
        raise BacktestInputError(
            "--walk-forward", "give either --walk-forward FRACTION or --folds K"
        )
    stop = end_ms + 1
    span = stop - start_ms
    if fraction is not None:
        if not 0.0 < fraction < 1.0:
            raise BacktestInputError(
                "--walk-forward", f"must be an in-sample fraction between 0 and 1, got {fraction}"
            )
        return [(start_ms, start_ms + round(span * fraction), stop)]
    assert folds is not None
    if folds < 1:
        raise BacktestInputError("--folds", f"must be at least 1, got {folds}")
    bounds = [start_ms + span * i // (folds + 1) for i in range(folds + 2)]
    return [(start_ms, bounds[i], bounds[i + 1]) for i in range(1, folds + 1)]


def slice_market(market: Market, t0: int, t1: int, option: str = "--walk-forward") -> Market:
    """``market`` restricted to ``[t0, t1)``; raises when the part holds no price or fill."""
    path = market.path
    keep = (path.time_ms >= t0) & (path.time_ms < t1)
    if path.bars:  # a bar's four points stay together: a cut bar would invent its extremes
        keep = np.repeat(keep.reshape(-1, 4).all(axis=1), 4)
    fills_keep = (market.fills.time_ms >= t0) & (market.fills.time_ms < t1)
    if not keep.any() or not fills_keep.any():
        raise BacktestInputError(
            option,
            f"no {path.source} price or no fill between {iso_ms(t0)} and {iso_ms(t1 - 1)}: "
            "the part is too short for this data",
        )
    cut_path = PricePath(
        path.source,
        path.time_ms[keep],
        path.long[keep],
        path.short[keep],
        path.continuous[keep],
        path.bars,
    )
    fills = Fills(
        market.fills.time_ms[fills_keep],
        market.fills.sell[fills_keep],
        market.fills.buy[fills_keep],
    )
    if market.same_series:
        next_fill = np.arange(1, len(cut_path) + 1, dtype=np.int64)
    else:
        next_fill = np.searchsorted(fills.time_ms, cut_path.time_ms, side="right").astype(np.int64)
    return Market(
        market.symbol,
        market.price_exp,
        market.tick,
        cut_path,
        fills,
        next_fill,
        market.same_series,
    )


def slice_entries(entries: Entries, first_ms: int, last_ms: int) -> Entries:
    """The entries at times in ``[first_ms, last_ms]`` (a part's first and last fill)."""
    keep = (entries.time_ms >= first_ms) & (entries.time_ms <= last_ms)
    idx = np.flatnonzero(keep)
    return Entries(entries.time_ms[idx], entries.side[idx], tuple(entries.size[i] for i in idx))


@dataclass(frozen=True, slots=True)
class Fold:
    """One in-sample / out-of-sample pair and both rankings of the same grid."""

    number: int
    bounds: tuple[int, int, int]
    in_sample: RunResult
    out_of_sample: RunResult
    in_ranking: Ranking
    out_ranking: Ranking

    @property
    def winner(self) -> int | None:
        return self.in_ranking.best()

    def _figures(self, result: RunResult, ranking: Ranking, i: int) -> dict[str, Any]:
        s = result.summary
        row = ranking.as_row(i)
        return {
            "rank": row["rank"],
            "of": len(ranking.order),
            "objective_value": row["objective_value"],
            "ranked_pnl": row["ranked_pnl"],
            "ranked_trades": row["ranked_trades"],
            "ranked_max_drawdown": row["ranked_max_drawdown"],
            "open_trades": int(s["open_trades"][i]),
            "open_pnl": float(s["open_pnl"][i]),
            "not_ranked": row["not_ranked"],
        }

    def as_dict(self) -> dict[str, Any]:
        """The fold for the JSON report."""
        start, cut, stop = self.bounds

        def part(t0: int, t1: int, result: RunResult) -> dict[str, Any]:
            return {"from": iso_ms(t0), "to": iso_ms(t1 - 1), "entries": len(result.entries)}

        winner = self.winner
        out: dict[str, Any] = {
            "fold": self.number,
            "in_sample": part(start, cut, self.in_sample),
            "out_of_sample": part(cut, stop, self.out_of_sample),
            "winner": winner,
        }
        if winner is None:
            reasons = sorted(set(self.in_ranking.unranked.values()))
            out["note"] = "no policy was ranked in sample: " + "; ".join(reasons[:3])
            return out
        out["policy"] = self.in_sample.policies[winner].as_dict()
        out["in_sample_figures"] = self._figures(self.in_sample, self.in_ranking, winner)
        out["out_of_sample_figures"] = self._figures(self.out_of_sample, self.out_ranking, winner)
        out["out_of_sample_best"] = self.out_ranking.best()
        return out


@dataclass(frozen=True, slots=True)
class WalkForward:
    """Every fold, and the out-of-sample totals of the in-sample winners."""

    spec: RankSpec
    fraction: float | None
    folds: tuple[Fold, ...]

    def as_dict(self) -> dict[str, Any]:
        rows = [f.as_dict() for f in self.folds]
        chosen = [r for r in rows if r["winner"] is not None]
        return {
            "mode": "split" if self.fraction is not None else "anchored folds",
            "in_sample_fraction": self.fraction,
            "ranking": self.spec.describe(),
            "folds": rows,
            "out_of_sample_pnl_of_winners": sum(
                r["out_of_sample_figures"]["ranked_pnl"] for r in chosen
            ),
        }


def walk_forward(
    markets: dict[Any, Market],
    entries: Entries,
    spec: RankSpec,
    evaluate: Evaluate,
    fraction: float | None = None,
    folds: int | None = None,
) -> WalkForward:
    """Run ``evaluate`` (the grid) on every part and rank each (module docstring)."""
    spec.validate()
    any_market = next(iter(markets.values()))
    start, end = int(any_market.fills.time_ms[0]), int(any_market.fills.time_ms[-1])
    option = "--walk-forward" if fraction is not None else "--folds"
    out: list[Fold] = []
    for number, (t0, cut, t1) in enumerate(cut_times(start, end, fraction, folds), start=1):
        runs = []
        for a, b, name in ((t0, cut, "in-sample"), (cut, t1, "out-of-sample")):
            part = {s: slice_market(m, a, b, option) for s, m in markets.items()}
            fills = next(iter(part.values())).fills
            chosen = slice_entries(entries, int(fills.time_ms[0]), int(fills.time_ms[-1]))
            if len(chosen) == 0:
                raise BacktestInputError(
                    option,
                    f"fold {number}: the {name} part ({iso_ms(a)} to {iso_ms(b - 1)}) holds no "
                    "entry; use more entries or fewer folds",
                )
            runs.append(evaluate(part, chosen))
        ins, oos = runs
        out.append(Fold(number, (t0, cut, t1), ins, oos, ins.rank(spec), oos.rank(spec)))
    return WalkForward(spec, fraction, tuple(out))
