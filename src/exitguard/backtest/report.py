"""The report folder of a backtest or sweep: JSON and CSV results, PNG charts (matplotlib Agg).

Files:

- ``results.json``: run metadata, one object per policy (its fields and statistics), the chosen
  policy and its trades (Decimal money as strings, NaN as null);
- ``results.csv``: one row per policy; ``trades.csv``: the chosen policy's trades;
- ``price.png``: the last-price path (and the mark path when triggers used it) with the chosen
  policy's entries linked to their exits, trigger prices and fills;
- ``equity.png``: the chosen policy's realised equity curve (trades in exit-time order);
- ``heatmap.png`` (sweeps with two varying parameters): the ranked P&L (closed trades only
  unless the ranking includes open ones) over those two parameters, the best value over the
  other parameters in each cell.

With a :class:`~exitguard.backtest.ranking.Ranking`, every policy row carries its rank, the
objective's value, the counted trades' P&L and drawdown, and why it is not ranked (if so); the
metadata's ``ranking`` says what the order means.

The charts are drawn by :mod:`exitguard.backtest.charts` (matplotlib loads there, lazily).
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Sequence
from dataclasses import fields
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from .charts import equity_chart, heatmap_chart, price_chart
from .market import EntryPlan, Market
from .model import ExitPolicy
from .outcomes import Outcomes
from .ranking import Ranking

__all__ = ["POLICY_PARAMS", "policy_label", "policy_rows", "shown_params", "write_report"]

POLICY_PARAMS = ("stop_bps", "take_profit_bps", "trail_bps", "activation_bps", "source")


def _plain(value: Any) -> Any:
    """JSON-ready: Decimals as strings, numpy scalars as Python, NaN as None."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating | float):
        number = float(value)
        return None if math.isnan(number) else number
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def policy_rows(
    policies: Sequence[ExitPolicy], summary: dict[str, Any], ranking: Ranking | None = None
) -> list[dict[str, Any]]:
    """One dict per policy: ``index``, its fields, every summary statistic, then its ranking."""
    rows = []
    for i, policy in enumerate(policies):
        row: dict[str, Any] = {"index": i, **policy.as_dict()}
        for key, values in summary.items():
            row[key] = _plain(values[i])
        if ranking is not None:
            row.update(_plain(ranking.as_row(i)))
        rows.append(row)
    return rows


def shown_params(policy: ExitPolicy) -> list[str]:
    """The fields worth showing for ``policy``: the plain ones always, the others (stop-limit,
    plan elements) only when they differ from their default."""
    defaults = {f.name: f.default for f in fields(ExitPolicy)}
    shown = []
    for key, value in policy.as_dict().items():
        if key in POLICY_PARAMS or (value not in (None, "") and value != defaults.get(key)):
            if key == "liq_close_parts" and policy.liq_margin_bps is None:
                continue
            shown.append(key)
    return shown


def policy_label(policy: ExitPolicy) -> str:
    """``stop_bps=100, take_profit_bps=150, ...`` for chart titles (:func:`shown_params`)."""
    values = policy.as_dict()
    parts = []
    for key in shown_params(policy):
        value = values[key]
        if key == "time_stop_ms" and isinstance(value, int) and value % 60_000 == 0:
            parts.append(f"time_stop={value // 60_000}m")  # 14400000 ms reads as 240m
        else:
            parts.append(f"{key}={value}")
    return ", ".join(parts)


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        if not rows:
            return
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        for row in rows:
            writer.writerow(
                {
                    k: (";".join(v) if isinstance(v, list) else "" if v is None else _plain(v))
                    for k, v in row.items()
                }
            )


def _heatmap(
    path: Path,
    rows: list[dict[str, Any]],
    x_key: str,
    y_key: str,
    market: Market,
    value_key: str = "net_pnl",
) -> dict[str, Any]:
    xs = sorted({r[x_key] for r in rows}, key=str)
    ys = sorted({r[y_key] for r in rows}, key=str)
    if all(isinstance(v, int) for v in xs):
        xs = sorted(xs)
    if all(isinstance(v, int) for v in ys):
        ys = sorted(ys)
    grid = np.full((len(ys), len(xs)), np.nan)
    per_cell = len(rows) / max(1, len(xs) * len(ys))
    for r in rows:
        i, j = ys.index(r[y_key]), xs.index(r[x_key])
        value = r[value_key]
        if value is not None and (math.isnan(grid[i, j]) or value > grid[i, j]):
            grid[i, j] = value  # best over the other parameters
    what = "net P&L" if value_key == "net_pnl" else _HEAT_LABELS.get(value_key, value_key)
    heatmap_chart(path, grid, xs, ys, x_key, y_key, market, best_of_others=per_cell > 1, what=what)
    return {
        "x": x_key,
        "y": y_key,
        "x_values": xs,
        "y_values": ys,
        "value": value_key,
        "grid": _plain(grid.tolist()),
    }


_HEAT_LABELS = {"ranked_pnl": "ranked net P&L"}


def write_report(
    folder: Path,
    *,
    meta: dict[str, Any],
    policies: Sequence[ExitPolicy],
    summary: dict[str, Any],
    chosen: int,
    trades: list[dict[str, Any]],
    market: Market,
    plan: EntryPlan,
    outcomes: Outcomes,
    net: npt.NDArray[np.float64],
    heatmap: tuple[str, str] | None = None,
    ranking: Ranking | None = None,
    open_pnl: npt.NDArray[np.float64] | None = None,
) -> list[Path]:
    """Write the report files (see the module docstring) and return their paths.

    ``outcomes`` holds every policy (rows aligned with ``policies``); ``net`` is the chosen
    policy's per-trade net PnL and ``open_pnl`` the part of it the data's end marked to market;
    ``heatmap`` names two policy fields to chart (or None).
    """
    folder.mkdir(parents=True, exist_ok=True)
    rows = policy_rows(policies, summary, ranking)
    written: list[Path] = []
    label = policy_label(policies[chosen])
    heat: dict[str, Any] | None = None
    if heatmap is not None:
        value_key = "net_pnl" if ranking is None else "ranked_pnl"
        heat = _heatmap(folder / "heatmap.png", rows, *heatmap, market, value_key)
        written.append(folder / "heatmap.png")
    document = {
        **_plain(meta),
        "ranking": None if ranking is None else ranking.meta(),
        "policies": rows,
        "chosen_policy": {"index": chosen, **policies[chosen].as_dict()},
        "trades": _plain(trades),
        "heatmap": heat,
    }
    (folder / "results.json").write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    _write_csv(folder / "results.csv", rows)
    _write_csv(folder / "trades.csv", trades)
    price_chart(
        folder / "price.png", market, plan, outcomes, chosen, net, f"{market.symbol}: {label}"
    )
    equity_chart(folder / "equity.png", market, outcomes, chosen, net, f"equity: {label}", open_pnl)
    written += [folder / n for n in ("results.json", "results.csv", "trades.csv", "price.png")]
    written.append(folder / "equity.png")
    return written
