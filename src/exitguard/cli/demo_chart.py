"""The demo's PNG: the price path, the exit levels the manager placed, and the fills."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

from exitguard.planner.policy import ProtectionPolicy

if TYPE_CHECKING:
    from .demo_cmd import DemoResult

__all__ = ["write_chart"]


def write_chart(result: DemoResult, path: Path, entry: Decimal, policy: ProtectionPolicy) -> Path:
    """Draw the run with matplotlib's Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 4.5), dpi=110)
    if result.prices:
        ts, ps = zip(*result.prices, strict=True)
        ax.plot(ts, [float(p) for p in ps], color="#1f77b4", label="BTCUSDT last = mark")
    ax.axhline(float(entry), color="grey", linestyle=":", label=f"entry {entry}")
    for e in result.exits:
        if not e["trigger"]:
            continue
        level = float(e["trigger"])
        style = {"stop_loss": "#d62728", "take_profit": "#2ca02c", "trailing": "#ff7f0e"}
        ax.axhline(
            level,
            color=style.get(e["role"], "black"),
            linestyle="--",
            linewidth=1,
            label=f"{e['role']} {e['type']} {e['trigger']} ({e['status']})",
        )
    for t, price, role in result.fills:
        ax.scatter([t], [float(price)], marker="v", s=80, color="black", zorder=5)
        ax.annotate(
            f"{role} fill {price}", (t, float(price)), textcoords="offset points", xytext=(6, -12)
        )
    ax.set_xlabel("seconds since start")
    ax.set_ylabel("price (USDT)")
    ax.set_title("exitguard demo: USD-M long protected by SL, TP and a trailing stop")
    ax.legend(loc="upper left", fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
