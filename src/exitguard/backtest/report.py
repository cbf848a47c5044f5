"""The report folder of a backtest or sweep: JSON and CSV results, PNG charts (matplotlib Agg).

Files:

- ``results.json``: run metadata, one object per policy (its fields and statistics), the chosen
  policy and its trades (Decimal money as strings, NaN as null);
- ``results.csv``: one row per policy; ``trades.csv``: the chosen policy's trades;
- ``price.png``: the last-price path (and the mark path when triggers used it) with the chosen
  policy's entries linked to their exits, trigger prices and fills;
- ``equity.png``: the chosen policy's realised equity curve (trades in exit-time order);
- ``heatmap.png`` (sweeps with two varying parameters): net PnL over those two parameters, the
  best value over the other parameters in each cell.

The charts are drawn by :mod:`exitguard.backtest.charts` (matplotlib loads there, lazily).
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from .charts import equity_chart, heatmap_chart, price_chart
from .market import EntryPlan, Market
from .model import ExitPolicy
from .outcomes import Outcomes

__all__ = ["POLICY_PARAMS", "policy_rows", "write_report"]

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


def policy_rows(policies: Sequence[ExitPolicy], summary: dict[str, Any]) -> list[dict[str, Any]]:
    """One dict per policy: ``index``, its fields, then every summary statistic."""
    rows = []
    for i, policy in enumerate(policies):
        row: dict[str, Any] = {"index": i, **policy.as_dict()}
        for key, values in summary.items():
            row[key] = _plain(values[i])
        rows.append(row)
    return rows


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
    path: Path, rows: list[dict[str, Any]], x_key: str, y_key: str, market: Market
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
        value = r["net_pnl"]
        if value is not None and (math.isnan(grid[i, j]) or value > grid[i, j]):
            grid[i, j] = value  # best over the other parameters
    heatmap_chart(path, grid, xs, ys, x_key, y_key, market, best_of_others=per_cell > 1)
    return {
        "x": x_key,
        "y": y_key,
        "x_values": xs,
        "y_values": ys,
        "net_pnl": _plain(grid.tolist()),
    }


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
) -> list[Path]:
    """Write the report files (see the module docstring) and return their paths.

    ``outcomes`` holds every policy (rows aligned with ``policies``); ``net`` is the chosen
    policy's per-trade net PnL; ``heatmap`` names two policy fields to chart (or None).
    """
    folder.mkdir(parents=True, exist_ok=True)
    rows = policy_rows(policies, summary)
    written: list[Path] = []
    label = ", ".join(f"{k}={v}" for k, v in policies[chosen].as_dict().items() if v is not None)
    heat: dict[str, Any] | None = None
    if heatmap is not None:
        heat = _heatmap(folder / "heatmap.png", rows, *heatmap, market)
        written.append(folder / "heatmap.png")
    document = {
        **_plain(meta),
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
    equity_chart(folder / "equity.png", market, outcomes, chosen, net, f"equity: {label}")
    written += [folder / n for n in ("results.json", "results.csv", "trades.csv", "price.png")]
    written.append(folder / "equity.png")
    return written
