"""The demo's PNG: per product, the price path, the entry, every exit at its real level, the fills.

What a trader should read at a glance (``tests/test_charts.py`` checks each point):

- each exit is a line at its price from its placement to its end, labelled with its order type,
  its price at the symbol's tick and its FINAL state;
- the trailing stop (USD-M ``TRAILING_STOP_MARKET``) is a stepped line at its actual level: for a
  SELL the highest price since activation x (1 - callbackRate %), for a BUY the lowest x
  (1 + callbackRate %) (``trigger-semantics.md`` §2a); its ``activatePrice`` is
  only where tracking starts, so it is a marker, not a line;
- a Spot OCO's legs each have their own colour and the status the venue reports for that leg
  (``allOrders``), since one exit row covers both;
- the entry and the exit fill are linked by a line labelled with the P&L (gross: fees excluded).

Times are seconds since the demo started: the demo runs on the wall clock for a few seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from .demo_cmd import DemoResult

__all__ = ["draw_chart", "price_text", "trailing_stop_levels", "write_chart"]

PRICE_COLOUR = "#1f77b4"
STOP_COLOUR = "#d62728"
TAKE_PROFIT_COLOUR = "#2ca02c"
TRAILING_COLOUR = "#ff7f0e"
_ROLE_NAMES = {"stop_loss": "stop-loss", "take_profit": "take-profit", "trailing": "trailing stop"}
_ROLE_COLOURS = {
    "stop_loss": STOP_COLOUR,
    "take_profit": TAKE_PROFIT_COLOUR,
    "trailing": TRAILING_COLOUR,
}
_TIME_LABEL = "time (seconds since the demo started; paper venue on the wall clock)"


def price_text(value: Decimal, tick: Decimal | None, rounding: str = ROUND_HALF_EVEN) -> str:
    """``value`` at the symbol's tick with thousands separators: 60849.9 → ``60,849.9``."""
    if tick is None or tick <= 0:
        return f"{value.normalize():,f}"
    steps = (value / tick).to_integral_value(rounding=rounding)
    places = max(0, -int(tick.normalize().as_tuple().exponent))
    return f"{steps * tick:,.{places}f}"


def trailing_stop_levels(
    prices: list[tuple[float, Decimal]],
    *,
    side: str,
    callback_rate: Decimal,
    activate_price: Decimal | None,
) -> list[tuple[float, Decimal]]:
    """The trailing stop's level after each price, from activation until the price that fires it.

    SELL: the highest price since activation x (1 - rate/100), firing at a price <= that level;
    BUY: the lowest x (1 + rate/100), firing at a price >= it. Without ``activate_price`` the
    order tracks from the first price. Each price updates the extreme before the check, as the
    venue's ``TrailingBook`` does (``exitguard.domain.trailing_book``).
    """
    sell = side.upper() == "SELL"
    fraction = callback_rate / 100
    levels: list[tuple[float, Decimal]] = []
    extreme: Decimal | None = None
    for t, price in prices:
        if extreme is None:
            if activate_price is not None and (
                price < activate_price if sell else price > activate_price
            ):
                continue
            extreme = price
        extreme = max(extreme, price) if sell else min(extreme, price)
        level = extreme * (1 - fraction) if sell else extreme * (1 + fraction)
        levels.append((t, level))
        if (price <= level) if sell else (price >= level):
            break  # fired: the order left the book
    return levels


@dataclass(frozen=True, slots=True)
class _Level:
    label: str
    price: Decimal
    colour: str
    start: float
    end: float
    tag: str  # the short text written at the line's right end


def _spans(result: DemoResult) -> dict[str, tuple[float, float]]:
    """Per slot: when its exit was placed and when its last status change arrived."""
    first: dict[str, float] = {}
    last: dict[str, float] = {}
    for t, kind, data in result.events:
        slot = str(data.get("slot", ""))
        if kind == "placed" and slot:
            first.setdefault(slot, t)
        if kind in ("exit_status", "exit_fill") and slot:
            last[slot] = t
    end = max([t for t, _p in result.prices + result.spot_prices] + [result.seconds])
    return {slot: (start, last.get(slot, end)) for slot, start in first.items()}


def _fills(result: DemoResult, product: str) -> list[tuple[float, Decimal, Decimal, str]]:
    """(time, price, quantity, role) of each exit fill of ``product``."""
    out = []
    for t, kind, data in result.events:
        slot = str(data.get("slot", ""))
        if kind == "exit_fill" and f"/{product}/" in slot:
            out.append((t, Decimal(data["price"]), Decimal(data["qty"]), slot.rsplit("/", 1)[-1]))
    return out


def _status(text: str) -> str:
    return text.lower().replace("_", " ")


def _draw_levels(ax: Any, levels: list[_Level]) -> None:
    for lv in levels:
        y = float(lv.price)
        ax.hlines(y, lv.start, lv.end, colors=lv.colour, linestyles="--", lw=1.4, label=lv.label)
        ax.annotate(
            lv.tag, (lv.start, y), xytext=(2, 3), textcoords="offset points",
            va="bottom", fontsize=8, color=lv.colour,
        )  # fmt: skip


def _price_at(prices: list[tuple[float, Decimal]], when: float) -> Decimal | None:
    """The price in force at ``when`` on a stepped path (None before the first price)."""
    found = None
    for t, price in prices:
        if t > when:
            break
        found = price
    return found


def _draw_entry_exit(
    ax: Any,
    entry: tuple[float, Decimal],
    fills: list[tuple[float, Decimal, Decimal, str]],
    sign: int,
    names: dict[str, tuple[str, str]],
    prices: list[tuple[float, Decimal]],
    tick: Decimal | None,
    quote: str,
    entry_label: str,
) -> None:
    """``names``: per exit role, the (name, colour) its fill marker is drawn with."""
    t0, price0 = entry
    ax.scatter([t0], [float(price0)], marker="^", s=90, color="black", zorder=6, label=entry_label)
    ax.annotate(
        f"entry {price_text(price0, tick)}", (t0, float(price0)), xytext=(6, -14),
        textcoords="offset points", fontsize=8,
    )  # fmt: skip
    pnl = Decimal(0)
    for t, price, filled, role in fills:
        name, colour = names.get(role, (role, "black"))
        ax.scatter(
            [t], [float(price)], marker="X", s=110, color=colour, edgecolors="black",
            zorder=7, label=f"{name} fill {price_text(price, tick)}",
        )  # fmt: skip
        pnl += sign * (price - price0) * filled
    if fills:
        t1, price1 = fills[-1][0], fills[-1][1]
        link = TAKE_PROFIT_COLOUR if pnl >= 0 else STOP_COLOUR
        ax.plot(
            [t0, t1], [float(price0), float(price1)], color=link, lw=1.6, ls=":", zorder=5,
            label=f"entry → exit: P&L {pnl:+,.2f} {quote} (before fees)",
        )  # fmt: skip
        # The label sits at the link's middle, on the side away from the price path.
        mid_t, mid_p = (t0 + t1) / 2, (price0 + price1) / 2
        market = _price_at(prices, mid_t)
        below = market is not None and market > mid_p
        ax.annotate(
            f"P&L {pnl:+,.2f} {quote}", (mid_t, float(mid_p)),
            xytext=(10, -16) if below else (-10, 10), textcoords="offset points",
            ha="left" if below else "right", fontsize=9, fontweight="bold", color=link,
        )  # fmt: skip


def _finish(ax: Any, title: str, quote: str) -> None:
    from matplotlib.ticker import StrMethodFormatter

    from exitguard.backtest.charts import outside_legend

    ax.set_title(title, fontsize=10, loc="left")
    ax.set_ylabel(f"price ({quote})")
    ax.yaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
    ax.grid(alpha=0.25)
    ax.margins(x=0.02, y=0.08)
    outside_legend(ax)  # a legend must never hide a price or a fill


def _price_line(
    ax: Any, start: tuple[float, Decimal], prices: list[tuple[float, Decimal]], label: str
) -> None:
    points = [start, *prices]
    ax.plot(
        [t for t, _p in points], [float(p) for _t, p in points], color=PRICE_COLOUR,
        drawstyle="steps-post", lw=1.3, label=label,
    )  # fmt: skip


def _usdm_panel(ax: Any, result: DemoResult, spans: dict[str, tuple[float, float]]) -> None:
    exits = [e for e in result.exits if e["product"] == "usdm"]
    symbol = exits[0]["symbol"] if exits else "BTCUSDT"
    tick = result.ticks.get(symbol)
    quote = result.quotes.get(symbol, "USDT")
    _price_line(ax, (result.entry_t, result.entry), result.prices, f"{symbol} last/mark price")
    fills = _fills(result, "usdm")
    end = max([t for t, _p in result.prices] + [t for t, *_ in fills] + [result.entry_t])
    levels: list[_Level] = []
    for e in exits:
        request = e.get("request", {})
        role = e["role"]
        start, stop = spans.get(e.get("slot", ""), (result.entry_t, end))
        status = _status(e["status"])
        if e["type"] == "TRAILING_STOP_MARKET":
            _trailing(ax, result, e, request, (start, stop), tick)
            continue
        raw = request.get("triggerPrice") or request.get("price") or e["trigger"]
        if not raw:
            continue
        price = Decimal(raw)
        text = f"{_ROLE_NAMES.get(role, role)} {e['type']} {price_text(price, tick)}"
        levels.append(
            _Level(f"{text} ({status})", price, _ROLE_COLOURS.get(role, "black"), start, stop,
                   f"{_ROLE_NAMES.get(role, role)} ({status})")
        )  # fmt: skip
    _draw_levels(ax, levels)
    names = {role: (_ROLE_NAMES.get(role, role), c) for role, c in _ROLE_COLOURS.items()}
    _draw_entry_exit(
        ax, (result.entry_t, result.entry), fills, 1, names, result.prices,
        tick, quote, f"entry: long {result.entry_qty} @ {price_text(result.entry, tick)}",
    )  # fmt: skip
    _finish(ax, f"USD-M {symbol} long {result.entry_qty}: stop-loss, take-profit, trailing stop",
            quote)  # fmt: skip


def _trailing(
    ax: Any,
    result: DemoResult,
    exit_: dict[str, Any],
    request: dict[str, str],
    span: tuple[float, float],
    tick: Decimal | None,
) -> None:
    side = request.get("side", "SELL")
    rate = Decimal(request.get("callbackRate", "0") or "0")
    raw_activation = request.get("activatePrice")
    activation = Decimal(raw_activation) if raw_activation else None
    start, stop = span
    seen = [(t, p) for t, p in result.prices if start <= t <= stop]
    levels = trailing_stop_levels(seen, side=side, callback_rate=rate, activate_price=activation)
    status = _status(exit_["status"])
    rounding = ROUND_FLOOR if side.upper() == "SELL" else ROUND_CEILING  # against the trader
    if activation is not None:
        when = levels[0][0] if levels else start
        ax.scatter(
            [when], [float(activation)], marker="D", s=60, facecolors="white",
            edgecolors=TRAILING_COLOUR, linewidths=1.8, zorder=6,
            label=f"trailing activation (activatePrice) {price_text(activation, tick)}"
            + ("" if levels else ", never reached"),
        )  # fmt: skip
        ax.annotate(
            f"activates {price_text(activation, tick)}", (when, float(activation)),
            xytext=(8, -4), textcoords="offset points", fontsize=8, color=TRAILING_COLOUR,
        )  # fmt: skip
    if not levels:
        return
    times = [t for t, _l in levels] + [max(stop, levels[-1][0])]
    ys = [float(level) for _t, level in levels] + [float(levels[-1][1])]
    last = levels[-1][1]
    extreme = (max if side.upper() == "SELL" else min)(p for t, p in seen if t >= levels[0][0])
    extreme_t = next(t for t, p in seen if p == extreme and t >= levels[0][0])
    word = "high" if side.upper() == "SELL" else "low"
    ax.annotate(
        f"{word} {price_text(extreme, tick)}", (extreme_t, float(extreme)), xytext=(0, 6),
        textcoords="offset points", ha="center", fontsize=8, color=PRICE_COLOUR,
    )  # fmt: skip
    ax.plot(
        times, ys, drawstyle="steps-post", color=TRAILING_COLOUR, lw=2.2,
        label=f"trailing stop {exit_['type']} level, {rate.normalize()}% from the {word}: "
        f"last {price_text(last, tick, rounding)} ({status})",
    )  # fmt: skip
    ax.annotate(
        f"trailing stop {price_text(last, tick, rounding)} ({status})\n"
        f"= {word} {price_text(extreme, tick)} × "
        f"(1 {'−' if side.upper() == 'SELL' else '+'} {rate.normalize()}%)",
        (times[-1], ys[-1]), xytext=(-20, -30), textcoords="offset points", fontsize=8,
        ha="right", va="top", color=TRAILING_COLOUR,
    )  # fmt: skip


def leg_name(order: dict[str, Any]) -> tuple[str, str, Decimal]:
    """(name, colour, price) of one OCO leg: the leg with a stop price is the stop leg."""
    kind = str(order.get("type", ""))
    if kind.startswith("STOP_LOSS") or kind.startswith("TAKE_PROFIT"):
        stop = Decimal(str(order.get("stopPrice") or "0"))
        if kind.startswith("STOP_LOSS"):
            return "stop leg", STOP_COLOUR, stop
        return "take-profit leg", TAKE_PROFIT_COLOUR, stop
    return "take-profit leg", TAKE_PROFIT_COLOUR, Decimal(str(order.get("price") or "0"))


def _spot_panel(ax: Any, result: DemoResult, spans: dict[str, tuple[float, float]]) -> None:
    exits = [e for e in result.exits if e["product"] == "spot"]
    symbol = exits[0]["symbol"] if exits else "ETHUSDT"
    tick = result.ticks.get(symbol)
    quote = result.quotes.get(symbol, "USDT")
    _price_line(
        ax, (result.spot_entry_t, result.spot_entry), result.spot_prices, f"{symbol} last price"
    )
    fills = _fills(result, "spot")
    end = max([t for t, _p in result.spot_prices] + [t for t, *_ in fills] + [result.entry_t])
    levels: list[_Level] = []
    names: dict[str, tuple[str, str]] = {}
    for e in exits:
        start, stop = spans.get(e.get("slot", ""), (result.spot_entry_t, end))
        legs = [o for o in result.legs if o.get("orderListId") == e.get("venue_id")]
        for order in legs:
            name, colour, price = leg_name(order)
            status = _status(str(order.get("status", "")))
            text = f"OCO {name} {order.get('type')} {price_text(price, tick)}"
            levels.append(_Level(f"{text} ({status})", price, colour, start, stop,
                                 f"{name} ({status})"))  # fmt: skip
            if status == "filled":
                names[e["role"]] = (f"OCO {name}", colour)  # the fill is the filled leg's
    _draw_levels(ax, levels)
    _draw_entry_exit(
        ax, (result.spot_entry_t, result.spot_entry), fills, 1, names,
        result.spot_prices, tick, quote, f"entry: bought {result.spot_qty} @ {price_text(result.spot_entry, tick)}",
    )  # fmt: skip
    _finish(ax, f"Spot {symbol} holding {result.spot_qty}: one OCO (take-profit above, stop below)",
            quote)  # fmt: skip


def write_chart(result: DemoResult, path: Path) -> Path:
    """Draw both products (:func:`draw_chart`) into the PNG ``path``."""
    draw_chart(result).savefig(path)
    return path


def draw_chart(result: DemoResult) -> Figure:
    """The figure, with matplotlib's object API and the Agg canvas (no display needed)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(14, 9), dpi=100, layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True)
    spans = _spans(result)
    _usdm_panel(top, result, spans)
    _spot_panel(bottom, result, spans)
    bottom.set_xlabel(_TIME_LABEL)
    fig.suptitle("exitguard demo: exits placed by the manager on the paper venue", fontsize=12)
    return fig
