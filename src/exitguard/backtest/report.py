"""The report folder of a backtest or sweep: JSON and CSV results, PNG charts (matplotlib Agg).

Files:

- ``results.json``: run metadata, one object per policy (its fields and statistics), the chosen
  policy and its trades (Decimal money as strings, NaN as null);
- ``results.csv``: one row per policy; ``trades.csv``: the chosen policy's trades;
- ``price.png``: the last-price path (and the mark path when triggers used it) with entries,
  trigger prices and fills of the chosen policy;
- ``equity.png``: the chosen policy's realised equity curve (trades in exit-time order);
- ``heatmap.png`` (sweeps with two varying parameters): net PnL over those two parameters, the
  best value over the other parameters in each cell.

Charts use matplotlib's object API (``Figure`` renders with Agg), never ``pyplot``'s global state.
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
from matplotlib.figure import Figure

from .market import EntryPlan, Market
from .model import ExitPolicy, ExitReason
from .outcomes import Outcomes

__all__ = ["POLICY_PARAMS", "policy_rows", "write_report"]

POLICY_PARAMS = ("stop_bps", "take_profit_bps", "trail_bps", "activation_bps", "source")
_REASON_STYLE = {
    ExitReason.SL: ("tab:red", "v", "SL"),
    ExitReason.TP: ("tab:green", "^", "TP"),
    ExitReason.TRAIL: ("tab:orange", "D", "TRAIL"),
    ExitReason.END: ("tab:gray", "s", "END"),
}
_MAX_PLOT_POINTS = 4000


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


def _envelope(
    t: npt.NDArray[np.int64], p: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """At most ~_MAX_PLOT_POINTS points keeping each bucket's min and max (no hidden spikes)."""
    n = t.shape[0]
    if n <= _MAX_PLOT_POINTS:
        return t, p
    size = -(-n // (_MAX_PLOT_POINTS // 2))
    pad = (-n) % size
    tt = np.concatenate([t, np.full(pad, t[-1])]).reshape(-1, size)
    pp = np.concatenate([p, np.full(pad, p[-1])]).reshape(-1, size)
    lo, hi = pp.argmin(axis=1), pp.argmax(axis=1)
    rows = np.arange(pp.shape[0])
    first = np.minimum(lo, hi)
    second = np.maximum(lo, hi)
    t_out = np.stack([tt[rows, first], tt[rows, second]], axis=1).reshape(-1)
    p_out = np.stack([pp[rows, first], pp[rows, second]], axis=1).reshape(-1)
    return t_out, p_out


def _dates(ms: npt.NDArray[np.int64]) -> npt.NDArray[np.datetime64]:
    return ms.astype("datetime64[ms]")


def _price_chart(
    path: Path, market: Market, plan: EntryPlan, out: Outcomes, row: int, title: str
) -> None:
    scale = 10.0**-market.price_exp
    fig = Figure(figsize=(12, 5), dpi=100)
    ax = fig.add_subplot()
    fills = market.fills
    t, p = _envelope(fills.time_ms, fills.sell)
    ax.plot(_dates(t), p * scale, lw=0.6, color="tab:blue", label="last / bid")
    if market.path.bars:
        close_t = market.path.time_ms[3::4]
        mt, mp = _envelope(close_t, market.path.long[3::4])
        ax.plot(_dates(mt), mp * scale, lw=0.6, color="tab:purple", alpha=0.7, label="mark close")
    long = plan.side > 0
    ax.scatter(
        _dates(plan.time_ms[long]), plan.price[long] * scale, marker="^", s=18,
        color="black", label="long entry", zorder=3,
    )  # fmt: skip
    ax.scatter(
        _dates(plan.time_ms[~long]), plan.price[~long] * scale, marker="v", s=18,
        color="dimgray", label="short entry", zorder=3,
    )  # fmt: skip
    for reason, (color, marker, label) in _REASON_STYLE.items():
        sel = out.reason[row] == reason
        if sel.any():
            ax.scatter(
                _dates(out.exit_time[row][sel]), out.exit_price[row][sel] * scale,
                marker=marker, s=22, color=color, label=f"{label} fill", zorder=4,
            )  # fmt: skip
    trig = out.point[row] >= 0
    if trig.any():
        trig_t = market.path.time_ms[out.point[row][trig]]
        ax.scatter(
            _dates(trig_t), out.trigger[row][trig] * scale, marker="x", s=16,
            color="black", alpha=0.6, label="trigger price", zorder=4,
        )  # fmt: skip
    ax.set_title(title)
    ax.set_ylabel("price")
    ax.legend(loc="best", fontsize=7, ncol=3)
    fig.autofmt_xdate()
    fig.savefig(path)


def _equity_chart(
    path: Path, out: Outcomes, row: int, net: npt.NDArray[np.float64], title: str
) -> None:
    order = np.argsort(out.exit_time[row], kind="stable")
    equity = np.cumsum(net[order])
    fig = Figure(figsize=(10, 4), dpi=100)
    ax = fig.add_subplot()
    times = _dates(out.exit_time[row][order])
    ax.step(times, equity, where="post", color="tab:blue")
    ax.fill_between(times, equity, step="post", alpha=0.2)
    ax.axhline(0.0, color="black", lw=0.5)
    ax.set_title(title)
    ax.set_ylabel("net PnL (quote)")
    fig.autofmt_xdate()
    fig.savefig(path)


def _heatmap(path: Path, rows: list[dict[str, Any]], x_key: str, y_key: str) -> dict[str, Any]:
    xs = sorted({r[x_key] for r in rows}, key=str)
    ys = sorted({r[y_key] for r in rows}, key=str)
    if all(isinstance(v, int) for v in xs):
        xs = sorted(xs)
    if all(isinstance(v, int) for v in ys):
        ys = sorted(ys)
    grid = np.full((len(ys), len(xs)), np.nan)
    for r in rows:
        i, j = ys.index(r[y_key]), xs.index(r[x_key])
        value = r["net_pnl"]
        if value is not None and (math.isnan(grid[i, j]) or value > grid[i, j]):
            grid[i, j] = value  # best over the other parameters
    fig = Figure(figsize=(1.0 + 0.6 * len(xs), 1.5 + 0.45 * len(ys)), dpi=100)
    ax = fig.add_subplot()
    image = ax.imshow(grid, origin="lower", aspect="auto", cmap="RdYlGn")
    ax.set_xticks(range(len(xs)), [str(x) for x in xs], rotation=90, fontsize=7)
    ax.set_yticks(range(len(ys)), [str(y) for y in ys], fontsize=7)
    ax.set_xlabel(x_key)
    ax.set_ylabel(y_key)
    ax.set_title("net PnL (best over the other parameters)")
    fig.colorbar(image, ax=ax)
    fig.tight_layout()
    fig.savefig(path)
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
        heat = _heatmap(folder / "heatmap.png", rows, *heatmap)
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
    _price_chart(folder / "price.png", market, plan, outcomes, chosen, f"{market.symbol}: {label}")
    _equity_chart(folder / "equity.png", outcomes, chosen, net, f"equity: {label}")
    written += [folder / n for n in ("results.json", "results.csv", "trades.csv", "price.png")]
    written.append(folder / "equity.png")
    return written
