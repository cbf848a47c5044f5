"""The demo's PNG: per product, the price path, the exit levels the manager placed, the fills."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .demo_cmd import DemoResult

__all__ = ["write_chart"]

_COLOURS = {
    "stop_loss": "#d62728",
    "take_profit": "#2ca02c",
    "trailing": "#ff7f0e",
    "oco": "#9467bd",
}


def _levels(exit_: dict[str, Any]) -> list[tuple[float, str]]:
    """An exit's price levels: one, or an OCO's take-profit above and stop below."""
    text = str(exit_["trigger"] or "")
    if not text:
        return []
    if "/" in text:
        above, below = text.split("/")
        return [(float(above), "take-profit leg"), (float(below), "stop leg")]
    return [(float(text), "")]


def _panel(
    ax: Any, prices: list[Any], exits: list[dict[str, Any]], fills: list[Any], title: str
) -> None:
    if prices:
        ts, ps = zip(*prices, strict=True)
        ax.plot(ts, [float(p) for p in ps], color="#1f77b4", label="price")
    for e in exits:
        for level, leg in _levels(e):
            ax.axhline(
                level,
                color=_COLOURS.get(e["role"], "black"),
                linestyle="--",
                linewidth=1,
                label=f"{e['role']} {e['type'] or 'OCO'} {leg} {level:g} ({e['status']})",
            )
    for t, price, slot in fills:
        ax.scatter([t], [float(price)], marker="v", s=80, color="black", zorder=5)
        role = slot.rsplit("/", 1)[-1]
        ax.annotate(
            f"{role} fill {price}", (t, float(price)), textcoords="offset points", xytext=(6, -12)
        )
    ax.set_title(title)
    ax.set_ylabel("price (USDT)")
    ax.legend(loc="upper left", fontsize=7)


def write_chart(result: DemoResult, path: Path) -> Path:
    """Draw both products with matplotlib's Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 8), dpi=110, sharex=True)
    _panel(
        top,
        result.prices,
        [e for e in result.exits if e["product"] == "usdm"],
        [f for f in result.fills if "/usdm/" in f[2]],
        "USD-M BTCUSDT long: stop-loss, take-profit, trailing stop",
    )
    _panel(
        bottom,
        result.spot_prices,
        [e for e in result.exits if e["product"] == "spot"],
        [f for f in result.fills if "/spot/" in f[2]],
        "Spot ETHUSDT holding: one OCO (take-profit above, stop below)",
    )
    bottom.set_xlabel("seconds since start")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
