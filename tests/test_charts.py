"""The charts say what happened: the demo's trailing stop at its real level, OCO legs with their own
states, entries linked to exits, units, UTC dates, legends off the data, a heatmap centred on 0.

Each chart runs headless (Agg) on small synthetic data, writes a PNG, and its figure is inspected.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from exitguard.backtest.charts import compact_number, heatmap_chart, price_chart, quote_asset
from exitguard.backtest.entries import Entries
from exitguard.backtest.market import Market, build_market, plan_entries
from exitguard.backtest.model import Execution, ExitPolicy, FillModel
from exitguard.backtest.replay import replay
from exitguard.cli.demo_chart import draw_chart, price_text, trailing_stop_levels, write_chart
from exitguard.cli.demo_cmd import DemoResult
from exitguard.data.series import TradeSeries
from exitguard.domain.enums import WorkingType

D = Decimal
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
USDM = "demo/usdm/BTCUSDT/BOTH/"
OCO_SLOT = "demo/spot/ETHUSDT/BOTH/oco"


def outside(fig: Any, ax: Any) -> bool:
    """The axes' legend lies entirely right of its data area (rendered sizes, in pixels)."""
    fig.draw_without_rendering()  # lays the figure out (constrained layout) as savefig would
    legend = ax.get_legend().get_window_extent()
    return bool(legend.x0 >= ax.get_window_extent().x1)


# --- the demo -------------------------------------------------------------------------------


def demo_result() -> DemoResult:
    """The demo's scenario in miniature: up through the activation to 61,500, down until the
    trailing stop (1 %) fires; the ETH OCO's take-profit leg fills, its stop leg expires."""
    path = [D(60000 + 100 * i) for i in range(16)] + [D(61500 - 50 * i) for i in range(1, 21)]
    prices = [(0.1 + 0.05 * i, p) for i, p in enumerate(path)]
    fire = next(t for t, p in prices[16:] if p <= D("60885"))
    spot = [(0.1 + 0.05 * i, D(3000) + 6 * i) for i in range(16)]
    events: list[tuple[float, str, dict[str, Any]]] = [
        (0.05, "placed", {"slot": USDM + role}) for role in ("stop_loss", "take_profit", "trailing")
    ]
    events += [
        (0.06, "placed", {"slot": OCO_SLOT}),
        (0.85, "exit_fill", {"slot": OCO_SLOT, "qty": "1.00000000", "price": "3090.00000000"}),
        (0.85, "exit_status", {"slot": OCO_SLOT, "status": "FILLED"}),
        (fire, "exit_fill", {"slot": USDM + "trailing", "qty": "0.2", "price": "60849.90"}),
    ]
    events += [
        (fire + 0.01, "exit_status", {"slot": USDM + role, "status": "EXPIRED"})
        for role in ("stop_loss", "take_profit")
    ]

    def usdm(role: str, type_: str, status: str, request: dict[str, str]) -> dict[str, Any]:
        return {
            "product": "usdm", "symbol": "BTCUSDT", "slot": USDM + role, "role": role,
            "type": type_, "kind": "algo", "venue_id": 1, "status": status, "trigger": "",
            "request": {"side": "SELL", "symbol": "BTCUSDT", "type": type_, **request},
        }  # fmt: skip

    exits = [
        usdm("stop_loss", "STOP_MARKET", "expired", {"triggerPrice": "58800"}),
        usdm("take_profit", "LIMIT", "expired", {"price": "63000"}),
        usdm("trailing", "TRAILING_STOP_MARKET", "finished",
             {"activatePrice": "60600", "callbackRate": "1"}),
        {
            "product": "spot", "symbol": "ETHUSDT", "slot": OCO_SLOT, "role": "oco", "type": "",
            "kind": "spot_oco", "venue_id": 5001, "status": "filled", "trigger": "3090/2940",
            "request": {"abovePrice": "3090.00000000", "belowStopPrice": "2940.00000000"},
        },
    ]  # fmt: skip
    legs = [
        {"orderListId": 5001, "type": "STOP_LOSS", "status": "EXPIRED",
         "price": "0.00000000", "stopPrice": "2940.00000000"},
        {"orderListId": 5001, "type": "LIMIT_MAKER", "status": "FILLED",
         "price": "3090.00000000", "stopPrice": "0.00000000"},
    ]  # fmt: skip
    return DemoResult(
        prices=prices,
        spot_prices=spot,
        spot_entry=D(3000),
        events=events,
        exits=exits,
        fills=[(fire, D("60849.90"), USDM + "trailing"), (0.85, D(3090), OCO_SLOT)],
        seconds=fire + 0.1,
        entry_t=0.02,
        spot_entry_t=0.03,
        ticks={"BTCUSDT": D("0.1"), "ETHUSDT": D("0.01")},
        quotes={"BTCUSDT": "USDT", "ETHUSDT": "USDT"},
        legs=legs,
    )


def labelled(ax: Any) -> dict[str, Any]:
    """Every artist of ``ax`` that has a legend label, by label."""
    artists = [*ax.lines, *ax.collections]
    return {a.get_label(): a for a in artists if not a.get_label().startswith("_")}


def test_trailing_stop_levels_follow_the_high_from_activation_and_stop_at_the_fire() -> None:
    prices = [(float(i), D(p)) for i, p in enumerate([100, 104, 106, 110, 108, 107, 104, 120])]
    levels = trailing_stop_levels(prices, side="SELL", callback_rate=D(5), activate_price=D(105))
    # Inactive at 100 and 104; from 106 the high x 0.95; 104.5 (= 110 x 0.95) fires at 104.
    assert levels == [
        (2.0, D("100.70")), (3.0, D("104.50")), (4.0, D("104.50")), (5.0, D("104.50")),
        (6.0, D("104.50")),
    ]  # fmt: skip
    short = trailing_stop_levels(
        [(0.0, D(100)), (1.0, D(90)), (2.0, D(95))], side="BUY", callback_rate=D(5),
        activate_price=None,
    )  # fmt: skip
    assert short == [(0.0, D("105.00")), (1.0, D("94.50")), (2.0, D("94.50"))]


def test_price_text_uses_the_symbol_tick() -> None:
    assert price_text(D("60849.90"), D("0.1")) == "60,849.9"
    assert price_text(D("3090.00000000"), D("0.01")) == "3,090.00"
    assert price_text(D("60885.04"), D("0.1"), "ROUND_FLOOR") == "60,885.0"


def test_demo_chart_draws_the_trailing_stop_at_its_level_and_each_oco_leg_with_its_state(
    tmp_path: Path,
) -> None:
    result = demo_result()
    fig = draw_chart(result)
    top, bottom = fig.axes[:2]
    usdm = labelled(top)
    (trail_label,) = [k for k in usdm if k.startswith("trailing stop TRAILING_STOP_MARKET level")]
    trail = usdm[trail_label]
    expected = trailing_stop_levels(
        result.prices, side="SELL", callback_rate=D(1), activate_price=D(60600)
    )
    ys = list(trail.get_ydata())
    # The stepped line sits at the computed levels (the last one held until the fill) and never
    # at the activation price; the activation price is a marker of its own.
    assert trail.get_drawstyle() == "steps-post"
    assert ys == pytest.approx([float(level) for _t, level in expected] + [60885.0])
    assert ys[0] == pytest.approx(60600 * 0.99) and max(ys) == pytest.approx(61500 * 0.99)
    assert 60600.0 not in ys
    assert "last 60,885.0 (finished)" in trail_label
    assert "trailing activation (activatePrice) 60,600.0" in usdm
    assert "stop-loss STOP_MARKET 58,800.0 (expired)" in usdm
    assert "take-profit LIMIT 63,000.0 (expired)" in usdm
    assert "entry → exit: P&L +169.98 USDT (before fees)" in usdm  # (60,849.9 - 60,000) x 0.2
    spot = labelled(bottom)
    take = spot["OCO take-profit leg LIMIT_MAKER 3,090.00 (filled)"]
    stop = spot["OCO stop leg STOP_LOSS 2,940.00 (expired)"]
    assert tuple(take.get_colors()[0]) != tuple(stop.get_colors()[0])
    assert "entry → exit: P&L +90.00 USDT (before fees)" in spot
    everything = " ".join([*usdm, *spot])
    assert "oco OCO" not in everything and "0000000" not in everything
    assert "USDT" in top.get_ylabel() and "seconds" in bottom.get_xlabel()
    assert outside(fig, top) and outside(fig, bottom)
    png = write_chart(result, tmp_path / "demo.png")
    assert png.read_bytes().startswith(PNG_MAGIC)


async def test_the_demo_collects_each_oco_legs_own_final_state_from_the_venue(
    tmp_path: Path,
) -> None:
    from exitguard.cli.demo_cmd import run_demo

    result = await run_demo(tmp_path, step_s=0.02)
    assert {leg["type"]: leg["status"] for leg in result.legs} == {
        "LIMIT_MAKER": "FILLED",
        "STOP_LOSS": "EXPIRED",
    }
    assert result.ticks == {"BTCUSDT": D("0.1"), "ETHUSDT": D("0.01")}
    # The venue fired the trailing stop at the first price at or under the computed level.
    (trailing,) = [e for e in result.exits if e["role"] == "trailing"]
    levels = trailing_stop_levels(
        result.prices,
        side="SELL",
        callback_rate=D(trailing["request"]["callbackRate"]),
        activate_price=D(trailing["request"]["activatePrice"]),
    )
    fired_at = {t: p for t, p in result.prices}[levels[-1][0]]
    assert fired_at <= levels[-1][1] < max(p for _t, p in result.prices)
    assert result.chart is not None and result.chart.read_bytes().startswith(PNG_MAGIC)


# --- backtest and sweep ---------------------------------------------------------------------

DAY_MS = 1_709_251_200_000  # 2024-03-01 00:00 UTC


@pytest.fixture(scope="module")
def market() -> Market:
    """BTCUSDT prints every minute for a day (tick 0.1): a slow wave."""
    n = 1440
    t = DAY_MS + 60_000 * np.arange(n, dtype=np.int64)
    p = (600_000 + 3_000 * np.sin(np.arange(n) / 60)).astype(np.int64)
    series = TradeSeries(
        "BTCUSDT", "um", 1, 3, t, p, np.ones(n, dtype=np.int64), np.zeros(n, dtype=np.bool_)
    )
    return build_market(series, WorkingType.CONTRACT_PRICE)


def test_backtest_price_chart_links_each_entry_to_its_exit(market: Market, tmp_path: Path) -> None:
    import matplotlib.dates as mdates
    from matplotlib.collections import LineCollection

    entries = Entries.build([(DAY_MS + 3_600_000 * h, 1 if h % 2 else -1, D(1)) for h in range(20)])
    plan = plan_entries(market, entries, 0)
    policy = ExitPolicy(stop_bps=30, take_profit_bps=40)
    out = replay(market, plan, policy, Execution(fill=FillModel.TOUCH))
    side = plan.side.astype(np.float64)
    net = side * (out.exit_price[0] - plan.price).astype(np.float64) / 10
    fig = price_chart(tmp_path / "price.png", market, plan, out, 0, net, "BTCUSDT: test")
    assert (tmp_path / "price.png").read_bytes().startswith(PNG_MAGIC)
    ax = fig.axes[0]
    (links,) = [c for c in ax.collections if isinstance(c, LineCollection)]
    segments = links.get_segments()
    assert len(segments) == len(entries)
    for j, seg in enumerate(segments):
        (x0, y0), (x1, y1) = seg
        assert x0 == pytest.approx(mdates.date2num(np.datetime64(int(plan.time_ms[j]), "ms")))
        assert x1 == pytest.approx(mdates.date2num(np.datetime64(int(out.exit_time[0, j]), "ms")))
        assert (y0, y1) == pytest.approx((plan.price[j] / 10, out.exit_price[0, j] / 10))
    colours = links.get_colors()
    green, red = (tuple(c) for c in colours[[int(np.argmax(net > 0)), int(np.argmax(net <= 0))]])
    assert green != red
    assert all(tuple(c) == (green if n > 0 else red) for c, n in zip(colours, net, strict=True))
    assert ax.get_ylabel() == "price (USDT)" and "UTC" in ax.get_xlabel()
    assert type(ax.xaxis.get_major_formatter()).__name__ == "ConciseDateFormatter"
    assert "2024-03-01" in ax.get_title(loc="left")
    assert outside(fig, ax)


def test_sweep_heatmap_is_centred_on_zero_annotated_and_labelled(
    market: Market, tmp_path: Path
) -> None:
    grid = np.array([[-1234.5, 20.0, 386.3], [7.25, np.nan, -40.0]])
    fig = heatmap_chart(
        tmp_path / "heatmap.png", grid, [20, 40, 60], [10, 30], "stop_bps", "take_profit_bps",
        market,
    )  # fmt: skip
    assert (tmp_path / "heatmap.png").read_bytes().startswith(PNG_MAGIC)
    ax, bar_ax = fig.axes
    (image,) = ax.images
    assert image.norm.vcenter == 0 and image.norm.vmin == -image.norm.vmax == -1234.5
    texts = {(round(t.get_position()[0]), round(t.get_position()[1])): t for t in ax.texts}
    assert {k: t.get_text() for k, t in texts.items()} == {
        (0, 0): "-1,234", (1, 0): "20.0", (2, 0): "386", (0, 1): "7.25", (1, 1): "n/a",
        (2, 1): "-40.0",
    }  # fmt: skip
    assert texts[(0, 0)].get_color() == "white"  # dark red cell
    assert texts[(0, 1)].get_color() == "black"  # near zero: a light cell
    assert bar_ax.get_ylabel() == "net P&L (USDT)"
    assert (
        "BTCUSDT" in ax.get_title() and "2024-03-01" in ax.get_title() and "UTC" in ax.get_title()
    )
    assert "bps" in ax.get_xlabel() and "stop-loss" in ax.get_xlabel()
    assert "bps" in ax.get_ylabel() and "take-profit" in ax.get_ylabel()


def test_compact_numbers_and_quote_assets() -> None:
    assert [compact_number(v) for v in (-98765.4, 123456.0, 2.5e6, 0.004)] == [
        "-98,765", "123k", "2.5M", "0.00",
    ]  # fmt: skip
    assert quote_asset("ETHUSDT") == "USDT" and quote_asset("XYZFDUSD") == "FDUSD"
    assert quote_asset("WEIRD") == "quote"
