"""The PNG charts of a backtest or sweep report (:mod:`exitguard.backtest.report` writes them).

- ``price.png``: the price path with every entry linked to its exit (a line from the entry marker
  to the exit marker, green for a winning trade, red for a losing one), the exit fills by reason
  and the trigger prices; UTC time axis with dates, prices in the quote currency;
- ``equity.png``: the chosen policy's realised net P&L over exit time;
- ``heatmap.png``: net P&L over two policy parameters, each cell annotated, on a diverging colour
  map centred on zero (red loses, green wins), a labelled colour bar, the symbol and the UTC date
  range in the title.

matplotlib loads inside the functions (only a report pays for it), through its object API
(``Figure`` renders with Agg), never ``pyplot``'s global state. Legends sit outside the data area.
"""

from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from .market import EntryPlan, Market
from .model import ExitReason
from .outcomes import Outcomes

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "PARAM_LABELS",
    "compact_number",
    "date_range",
    "equity_chart",
    "heatmap_chart",
    "price_chart",
    "quote_asset",
]

WIN_COLOUR = "tab:green"
LOSS_COLOUR = "tab:red"
_REASON_STYLE = {
    ExitReason.SL: ("tab:red", "v", "stop-loss fill"),
    ExitReason.TP: ("tab:green", "^", "take-profit fill"),
    ExitReason.TRAIL: ("tab:orange", "D", "trailing-stop fill"),
    ExitReason.END: ("tab:gray", "s", "closed at the end of the data"),
    ExitReason.TIME: ("tab:purple", "P", "time-stop fill"),
    ExitReason.LIQ: ("tab:brown", "X", "liquidation-distance close"),
}
MAX_PLOT_POINTS = 4000
PARAM_LABELS = {
    "stop_bps": "stop-loss distance (bps from entry)",
    "take_profit_bps": "take-profit distance (bps from entry)",
    "trail_bps": "trailing callback (bps)",
    "activation_bps": "trailing activation (bps from entry)",
    "stop_limit_bps": "stop-limit offset (bps from the stop)",
    "source": "trigger price source",
}
_QUOTES = ("USDT", "USDC", "FDUSD", "BUSD", "TUSD", "BTC", "ETH", "BNB", "EUR", "TRY")


@lru_cache(maxsize=64)
def quote_asset(symbol: str) -> str:
    """The symbol's quote asset: from the bundled exchangeInfo, else a known suffix, else
    ``"quote"`` (a chart must name a unit even for a symbol it does not know)."""
    from exitguard.domain.bundled import bundled_symbol

    rules = bundled_symbol(symbol)
    if rules is not None and rules.quote_asset:
        return rules.quote_asset
    for quote in _QUOTES:
        if symbol.endswith(quote) and len(symbol) > len(quote):
            return quote
    return "quote"


def compact_number(value: float) -> str:
    """A cell label that fits yet keeps the units digit up to 99,999: ``-1234.5`` → ``-1,234``,
    ``386.3`` → ``386``, ``28.64`` → ``28.6``, ``123456`` → ``123k``."""
    if math.isnan(value):
        return "n/a"
    size = abs(value)
    if size >= 1e6:
        return f"{value / 1e6:,.1f}M"
    if size >= 1e5:
        return f"{value / 1e3:,.0f}k"
    if size >= 100:
        return f"{value:,.0f}"
    if size >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def date_range(market: Market) -> str:
    """``2024-01-01 00:00 – 2024-01-02 23:59 UTC``: the market's fill series' first and last."""
    times = market.fills.time_ms
    if times.shape[0] == 0:
        return "no data"
    first, last = (str(np.datetime64(int(v), "ms"))[:16].replace("T", " ") for v in times[[0, -1]])
    return f"{first} – {last} UTC"


def _envelope(
    t: npt.NDArray[np.int64], p: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """At most ~MAX_PLOT_POINTS points keeping each bucket's min and max (no hidden spikes)."""
    n = t.shape[0]
    if n <= MAX_PLOT_POINTS:
        return t, p
    size = -(-n // (MAX_PLOT_POINTS // 2))
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


def _utc_axis(ax: Any, label: str) -> None:
    """Dates on the axis (year included where it changes; ConciseDateFormatter), named UTC."""
    import matplotlib.dates as mdates

    # matplotlib.dates has no annotations on these (mypy strict: no-untyped-call).
    locator = mdates.AutoDateLocator()  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_locator(locator)
    formatter = mdates.ConciseDateFormatter(locator, show_offset=True)  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_formatter(formatter)
    ax.set_xlabel(label)


def outside_legend(ax: Any, *handles_labels: Any) -> None:
    """The legend right of the plot area, never over the data (optional handles, labels)."""
    ax.legend(
        *handles_labels, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0, fontsize=8
    )


def price_chart(
    path: Path,
    market: Market,
    plan: EntryPlan,
    out: Outcomes,
    row: int,
    net: npt.NDArray[np.float64],
    title: str,
) -> Figure:
    """``price.png``: see the module docstring. ``net``: the chosen policy's per-entry net P&L."""
    import matplotlib.dates as mdates
    from matplotlib.collections import LineCollection
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.ticker import StrMethodFormatter

    quote = quote_asset(market.symbol)
    scale = 10.0**-market.price_exp
    fig = Figure(figsize=(14, 6), dpi=100, layout="constrained")
    ax = fig.add_subplot()
    fills = market.fills
    t, p = _envelope(fills.time_ms, fills.sell)
    ax.plot(_dates(t), p * scale, lw=0.5, color="tab:blue", alpha=0.75, label="last price (trades)")
    if market.path.bars:
        close_t = market.path.time_ms[3::4]
        mt, mp = _envelope(close_t, market.path.long[3::4])
        ax.plot(
            _dates(mt), mp * scale, lw=0.6, color="tab:purple", alpha=0.7,
            label="mark price (1m close)",
        )  # fmt: skip
    # Entry → exit: one segment per trade, coloured by its net P&L (fees included).
    exit_t, exit_p = out.exit_time[row], out.exit_price[row]
    done = exit_t > 0
    if done.any():
        # A LineCollection takes plain numbers: matplotlib's day numbers for the dates.
        x0 = mdates.date2num(_dates(plan.time_ms[done]))  # type: ignore[no-untyped-call]
        x1 = mdates.date2num(_dates(exit_t[done]))  # type: ignore[no-untyped-call]
        y0, y1 = plan.price[done] * scale, exit_p[done] * scale
        win = net[done] > 0
        segments = np.stack([np.column_stack([x0, y0]), np.column_stack([x1, y1])], axis=1)
        colours = np.where(win, WIN_COLOUR, LOSS_COLOUR)
        ax.add_collection(LineCollection(list(segments), colors=list(colours), lw=2.0, zorder=3))
    long = plan.side > 0
    ax.scatter(
        _dates(plan.time_ms[long]), plan.price[long] * scale, marker="^", s=30,
        color="black", label="long entry", zorder=4,
    )  # fmt: skip
    ax.scatter(
        _dates(plan.time_ms[~long]), plan.price[~long] * scale, marker="v", s=30,
        facecolors="white", edgecolors="black", label="short entry", zorder=4,
    )  # fmt: skip
    for reason, (colour, marker, label) in _REASON_STYLE.items():
        sel = (out.reason[row] == reason) & done
        if sel.any():
            ax.scatter(
                _dates(exit_t[sel]), exit_p[sel] * scale, marker=marker, s=34, color=colour,
                edgecolors="black", linewidths=0.4, label=label, zorder=5,
            )  # fmt: skip
    trig = out.point[row] >= 0
    if trig.any():
        trig_t = market.path.time_ms[out.point[row][trig]]
        ax.scatter(
            _dates(trig_t), out.trigger[row][trig] * scale, marker="x", s=20,
            color="black", alpha=0.6, label="trigger price", zorder=5,
        )  # fmt: skip
    handles, labels = ax.get_legend_handles_labels()
    wins, trades = int((net > 0).sum()), int(net.shape[0])
    handles += [
        Line2D([], [], color=WIN_COLOUR, lw=2.0),
        Line2D([], [], color=LOSS_COLOUR, lw=2.0),
    ]
    labels += [
        f"entry → exit, net P&L > 0 ({wins})",
        f"entry → exit, net P&L ≤ 0 ({trades - wins})",
    ]
    ax.set_title(
        f"{_wrapped(title, 150)}\n{date_range(market)}: {trades} trades, "
        f"net P&L {float(net.sum()):+,.2f} {quote}",
        fontsize=10,
        loc="left",
    )
    ax.set_ylabel(f"price ({quote})")
    ax.yaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
    ax.grid(alpha=0.25)
    _utc_axis(ax, "time (UTC)")
    outside_legend(ax, handles, labels)
    fig.savefig(path)
    return fig


def _wrapped(title: str, width: int = 110) -> str:
    """A long policy label on several lines at its commas (it would run off the figure)."""
    import textwrap

    return "\n".join(textwrap.wrap(title, width, break_long_words=False)) or title


def equity_chart(
    path: Path,
    market: Market,
    out: Outcomes,
    row: int,
    net: npt.NDArray[np.float64],
    title: str,
    open_pnl: npt.NDArray[np.float64] | None = None,
) -> Figure:
    """``equity.png``: cumulative net P&L (fees included) in exit-time order.

    The parts of trades still open at the data's end (their END legs, ``open_pnl`` per trade)
    are left out of the realised curve and drawn apart: a dashed jump at the last timestamp to
    the total with their mark to market, so the end-of-data artefact is visible instead of
    looking like a final winning trade."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import StrMethodFormatter

    quote = quote_asset(market.symbol)
    marked = np.zeros(net.shape) if open_pnl is None else open_pnl
    is_open = out.end_parts[row] > 0
    order = np.argsort(out.exit_time[row], kind="stable")
    equity = np.cumsum((net - marked)[order])
    # Exits at the same millisecond move the curve once (as max_drawdown counts them).
    exit_ms = out.exit_time[row][order]
    settled = np.append(exit_ms[1:] != exit_ms[:-1], True)
    equity, exit_ms = equity[settled], exit_ms[settled]
    fig = Figure(figsize=(12, 4.5), dpi=100, layout="constrained")
    ax = fig.add_subplot()
    times = _dates(exit_ms)
    ax.step(times, equity, where="post", color="tab:blue", label="realised net P&L (closed)")
    ax.fill_between(times, equity, step="post", alpha=0.2)
    if is_open.any():
        last = times[-1]
        total = float(equity[-1] + marked.sum())
        ax.plot(
            [last, last], [float(equity[-1]), total], ls="--", marker="s", color="tab:gray",
            label=f"{int(is_open.sum())} open at the data's end (marked to market)",
        )  # fmt: skip
    ax.axhline(0.0, color="black", lw=0.5)
    ax.set_title(f"{_wrapped(title)}\n{date_range(market)}", fontsize=10, loc="left")
    ax.set_ylabel(f"cumulative net P&L ({quote})")
    ax.yaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
    ax.grid(alpha=0.25)
    _utc_axis(ax, "exit time (UTC)")
    outside_legend(ax)
    fig.savefig(path)
    return fig


def _axis_label(key: str, values: list[Any]) -> list[str]:
    return ["off" if v in (0, None) and key != "source" else str(v) for v in values]


def heatmap_chart(
    path: Path,
    grid: npt.NDArray[np.float64],
    xs: list[Any],
    ys: list[Any],
    x_key: str,
    y_key: str,
    market: Market,
    best_of_others: bool = False,
    what: str = "net P&L",
) -> Figure:
    """``heatmap.png``: ``grid[i, j]`` is the net P&L at ``ys[i]``, ``xs[j]`` (NaN: no policy);
    ``best_of_others``: a cell holds the best of several policies (other parameters vary)."""
    from matplotlib.colors import TwoSlopeNorm
    from matplotlib.figure import Figure

    quote = quote_asset(market.symbol)
    finite = grid[np.isfinite(grid)]
    # Symmetric around zero so that white/yellow means "broke even" whatever the range.
    bound = float(np.abs(finite).max()) if finite.size else 1.0
    bound = bound or 1.0
    norm = TwoSlopeNorm(vmin=-bound, vcenter=0.0, vmax=bound)
    cmap = "RdYlGn"
    width = max(6.5, 2.8 + 0.75 * len(xs))
    height = max(4.5, 2.2 + 0.5 * len(ys))
    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    ax = fig.add_subplot()
    image = ax.imshow(grid, origin="lower", aspect="auto", cmap=cmap, norm=norm)
    colours = image.to_rgba(np.nan_to_num(grid))
    fontsize = 8 if max(len(xs), len(ys)) <= 12 else 6  # the figure grows with the grid
    for i in range(grid.shape[0]):
        for j in range(grid.shape[1]):
            red, green, blue, _alpha = colours[i, j]
            # Relative luminance (ITU-R BT.709): dark text on light cells, white on dark ones.
            light = 0.2126 * red + 0.7152 * green + 0.0722 * blue > 0.5
            ax.text(
                j, i, compact_number(float(grid[i, j])), ha="center", va="center",
                fontsize=fontsize, color="black" if light else "white",
            )  # fmt: skip
    ax.set_xticks(range(len(xs)), _axis_label(x_key, xs), fontsize=8)
    ax.set_yticks(range(len(ys)), _axis_label(y_key, ys), fontsize=8)
    ax.set_xlabel(PARAM_LABELS.get(x_key, x_key))
    ax.set_ylabel(PARAM_LABELS.get(y_key, y_key))
    ax.set_title(
        f"{market.symbol} {date_range(market)}\n{what} per policy (fees included"
        + ("; best over the other parameters)" if best_of_others else ")"),
        fontsize=10,
    )
    bar = fig.colorbar(image, ax=ax)
    bar.set_label(f"{what} ({quote})")
    fig.savefig(path)
    return fig
