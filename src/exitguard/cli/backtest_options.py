"""The options ``exitguard backtest`` and ``exitguard sweep`` share (typer ``Annotated``
aliases), kept apart from the commands so that :mod:`exitguard.cli.backtest_cmd` stays about
what the commands do."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

__all__ = [
    "AsJson",
    "Book",
    "ChartPolicy",
    "EntriesCsv",
    "Every",
    "Fill",
    "IncludeOpen",
    "Leverage",
    "MaintMargin",
    "MakerFee",
    "Mark",
    "MinTrades",
    "OpenTradesOpt",
    "ProductOpt",
    "RandomN",
    "RankBy",
    "Report",
    "Seed",
    "SideOpt",
    "Size",
    "Slippage",
    "StopLimit",
    "TakerFee",
    "Tick",
    "Trades",
]

Trades = Annotated[
    list[Path] | None,
    typer.Option(
        "--trades",
        metavar="FILE",
        help="trades/aggTrades files (zip or CSV, repeatable).",
        show_default=False,
    ),
]
Mark = Annotated[
    list[Path] | None,
    typer.Option(
        "--mark",
        metavar="FILE",
        help="markPriceKlines files (needed for --source mark).",
        show_default=False,
    ),
]
Book = Annotated[
    list[Path] | None,
    typer.Option(
        "--book",
        metavar="FILE",
        help="USD-M bookTicker files: fill at bid/ask instead of the next trade.",
        show_default=False,
    ),
]
Tick = Annotated[
    str | None,
    typer.Option("--tick", metavar="PRICE", help="price tick (default: the trades' resolution)."),
]
EntriesCsv = Annotated[
    Path | None, typer.Option("--entries", metavar="CSV", help="CSV of time,side,size.")
]
Every = Annotated[
    str | None,
    typer.Option(
        "--every",
        metavar="DURATION",
        help="one entry every DURATION (30s, 15m, 1h, 1d; 1h when no entry option is given).",
    ),
]
RandomN = Annotated[
    int | None, typer.Option("--random", metavar="N", help="N entries at seeded random times.")
]
Seed = Annotated[int, typer.Option("--seed", metavar="N", help="seed for --random.")]
SideOpt = Annotated[
    str | None,
    typer.Option(
        "--side",
        metavar="long|short|both",
        help="generated entries: long, short or both (default: both; Spot: long, its only side).",
    ),
]
Size = Annotated[
    str, typer.Option("--size", metavar="QTY", help="generated entries' size (base asset).")
]
Fill = Annotated[
    str,
    typer.Option(
        "--fill",
        metavar="next|touch",
        help="market exits fill at the next print (next) or the touching price (touch).",
    ),
]
Slippage = Annotated[
    int,
    typer.Option("--slippage-bps", metavar="BPS", help="adverse slippage on every market fill."),
]
TakerFee = Annotated[
    str,
    typer.Option(
        "--taker-fee-bps", metavar="BPS", help="taker fee in bps (entries, market exits)."
    ),
]
MakerFee = Annotated[
    str,
    typer.Option("--maker-fee-bps", metavar="BPS", help="maker fee in bps (rested stop-limits)."),
]
StopLimit = Annotated[
    int | None,
    typer.Option(
        "--stop-limit-bps",
        metavar="BPS",
        help="make the stop a STOP limit order this far beyond its trigger.",
    ),
]
Report = Annotated[
    Path, typer.Option("--report", metavar="DIR", help="report folder (JSON, CSV, PNG).")
]
AsJson = Annotated[
    bool, typer.Option("--json", help="Print the report's results.json instead of the table.")
]
ChartPolicy = Annotated[
    str,
    typer.Option(
        "--chart-policy",
        metavar="best|worst|INDEX",
        help="policy charted and listed trade by trade: best, worst or an index.",
    ),
]

RankBy = Annotated[
    str,
    typer.Option(
        "--rank-by",
        metavar="net|pnl_dd|sharpe|sortino|profit_factor",
        help="objective the policies are ranked by (pnl_dd: net PnL / max drawdown).",
    ),
]
MinTrades = Annotated[
    int,
    typer.Option("--min-trades", metavar="N", help="rank only policies with N counted trades."),
]
OpenTradesOpt = Annotated[
    str | None,
    typer.Option(
        "--open-trades",
        metavar="losses|exclude|include",
        help="trades open at the data's end in the ranking: their losses only (default), "
        "none, or all at their mark.",
        show_default=False,
    ),
]
IncludeOpen = Annotated[
    bool,
    typer.Option("--include-open", help="Same as --open-trades include."),
]
ProductOpt = Annotated[
    str, typer.Option("--product", metavar="usdm|spot", help="the config's product section.")
]
Leverage = Annotated[
    int,
    typer.Option(
        "--leverage",
        metavar="N",
        help="USD-M leverage for the liquidation guard's liquidation price (0: none).",
    ),
]
MaintMargin = Annotated[
    int,
    typer.Option(
        "--maint-margin-bps",
        metavar="BPS",
        help="maintenance margin rate for that price (isolated margin).",
    ),
]
