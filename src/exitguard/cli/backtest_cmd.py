"""``exitguard backtest`` and ``exitguard sweep``: exit policies over Binance history.

``backtest`` replays one policy event by event through the domain's trigger books;
``sweep`` evaluates a grid of policies with the numba kernel (same rules, same outcomes), locally,
on local processes or on Ray. Both print a table per policy and write a report folder
(:mod:`exitguard.backtest.report`). The work happens in :mod:`exitguard.backtest.run`; this module
parses options, loads files and prints.

Exit status: 0 done, 2 bad input (the message names the option or field and the rule).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar, cast

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from exitguard.cli.inputs import file_problem
from exitguard.cli.tables import Col, Rows, stdout_console

if TYPE_CHECKING:
    from exitguard.backtest.entries import Entries, SideMode
    from exitguard.backtest.market import Market
    from exitguard.backtest.run import RunResult
    from exitguard.domain.enums import WorkingType

__all__ = ["backtest_command", "sweep_command"]

T = TypeVar("T")

_SOURCES = {"contract": "CONTRACT_PRICE", "contract_price": "CONTRACT_PRICE", "mark": "MARK_PRICE"}
_SOURCES["mark_price"] = "MARK_PRICE"
# BacktestInputError names model fields; the user typed options.
_OPTION_OF = {
    "stop_bps": "--stop-bps",
    "take_profit_bps": "--tp-bps",
    "trail_bps": "--trail-bps",
    "activation_bps": "--activation-bps",
    "stop_limit_bps": "--stop-limit-bps",
    "source": "--source",
    "fill": "--fill",
    "slippage_bps": "--slippage-bps",
    "taker_fee_bps": "--taker-fee-bps",
    "maker_fee_bps": "--maker-fee-bps",
    "entries": "--entries/--every/--random",
    "be_offset_bps": "--be-offset-bps",
    "stop_moves": "--be-after-level",
    "time_stop_ms": "--time-stop-min",
}


def _usage(option: str, message: str) -> NoReturn:
    raise typer.BadParameter(message, param_hint=option)


# --- shared options ---------------------------------------------------------------------------

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
    str,
    typer.Option(
        "--side", metavar="long|short|both", help="generated entries: long, short or both."
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


def _decimal(option: str, text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        _usage(option, f"must be a decimal number, got {text!r}")
    if not value.is_finite():
        _usage(option, f"must be a finite number, got {text!r}")
    return value


def _source(text: str) -> WorkingType:
    from exitguard.domain.enums import WorkingType

    key = text.strip().lower()
    if key not in _SOURCES:
        _usage("--source", f"must be contract or mark (CONTRACT_PRICE / MARK_PRICE), got {text!r}")
    return WorkingType(_SOURCES[key])


def _load(
    trades: list[Path] | None,
    mark: list[Path] | None,
    book: list[Path] | None,
    sources: set[WorkingType],
    tick: str | None,
) -> dict[WorkingType, Market]:
    """Load the files (lazily importing exitguard.data) and build one market per source."""
    from exitguard.backtest.run import build_markets
    from exitguard.domain.enums import WorkingType

    if not trades:
        _usage("--trades", "at least one trades or aggTrades file is required")
    if WorkingType.MARK_PRICE in sources and not mark:
        _usage("--mark", "MARK_PRICE triggers need markPriceKlines files")
    try:
        from exitguard.data.load import load_bars, load_book_ticker, load_trades
    except ImportError as exc:  # the data package is a sibling: fail here, not at CLI import
        _usage("--trades", f"exitguard.data.load is not available ({exc})")
    loaded: dict[str, Any] = {}
    for option, paths, loader in (
        ("--trades", trades, lambda p: load_trades(p)),
        ("--mark", mark, lambda p: load_bars(p, source="markPriceKlines")),
        ("--book", book, lambda p: load_book_ticker(p)),
    ):
        if not paths:
            continue
        for path in paths:
            if (problem := file_problem(path)) is not None:
                _usage(option, problem)
        try:
            loaded[option] = loader(paths)
        except (ValueError, OSError) as exc:
            _usage(option, str(exc))
    tick_value = None if tick is None else _decimal("--tick", tick)
    return _build(
        lambda: build_markets(
            loaded["--trades"], sources, loaded.get("--mark"), tick_value, loaded.get("--book")
        )
    )


def _build(make: Callable[[], T]) -> T:
    """Run ``make``; a :class:`BacktestInputError` becomes a usage error naming its field."""
    from exitguard.backtest.model import BacktestInputError

    try:
        return make()
    except BacktestInputError as exc:
        _usage(_OPTION_OF.get(exc.field, exc.field), exc.rule)


def _entries(
    market: Market,
    csv_path: Path | None,
    every: str | None,
    count: int | None,
    seed: int,
    side: str,
    size: str,
) -> Entries:
    from exitguard.backtest import entries as ent

    given = [
        name
        for name, v in (("--entries", csv_path), ("--every", every), ("--random", count))
        if v is not None
    ]
    if len(given) > 1:
        _usage("/".join(given), "give one source of entries")
    start, end = int(market.fills.time_ms[0]), int(market.fills.time_ms[-1])
    size_value = _decimal("--size", size)
    if size_value <= 0:
        _usage("--size", f"must be a positive quantity of the base asset, got {size}")
    if side not in ("long", "short", "both"):
        _usage("--side", f"must be long, short or both, got {side!r}")
    mode = cast("SideMode", side)
    if csv_path is not None:
        return _build(lambda: ent.read_entries_csv(csv_path))
    if count is not None:
        return _build(lambda: ent.random_entries(start, end, count, seed, mode, size_value))
    interval = _build(lambda: ent.parse_duration_ms(every or "1h"))
    return _build(lambda: ent.every_entries(start, end, interval, mode, size_value))


def _execution(fill: str, slippage: int, taker: str, maker: str) -> Any:
    from exitguard.backtest.model import Execution, FillModel

    if fill not in ("next", "touch"):
        _usage("--fill", f"must be next or touch, got {fill!r}")
    return _build(
        lambda: Execution(
            FillModel(fill),
            slippage,
            _decimal("--taker-fee-bps", taker),
            _decimal("--maker-fee-bps", maker),
        ).validate()
    )


def _progress(console: Console, label: str) -> Progress:
    return Progress(
        TextColumn(label),
        BarColumn(),
        TextColumn("{task.completed:,.0f}/{task.total:,.0f}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    )


# --- output -----------------------------------------------------------------------------------


def _fmt(value: Any, digits: int = 2, pct: bool = False) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if pct:
        return f"{100 * float(value):.1f}%"
    return f"{float(value):,.{digits}f}"


def _table(result: RunResult, params: list[str], top: int, chosen: int) -> Rows:
    import numpy as np

    s = result.summary
    columns = [Col("#", number=True)]
    columns += [Col(p.replace("_bps", " bps").replace("_", " "), number=True) for p in params]
    columns += [
        Col(name, number=True)
        for name in (
            "net PnL",
            "max DD",
            "win",
            "SL",
            "TP",
            "trail",
            "end",
            "slip bps",
            "hold s",
            "ambig.",
        )
    ]
    table = Rows(
        f"{result.command}: {len(result.policies)} policies x {len(result.entries)} entries",
        columns,
    )
    order = [int(i) for i in np.argsort(-np.asarray(s["net_pnl"]), kind="stable")[:top]]
    if chosen not in order:
        order.append(chosen)
    for i in order:
        policy = result.policies[i].as_dict()
        table.add(
            f"{i}{'*' if i == chosen else ''}",
            *(str(policy[p]) for p in params),
            _fmt(s["net_pnl"][i]),
            _fmt(s["max_drawdown"][i]),
            _fmt(s["win_rate"][i], pct=True),
            _fmt(s["hit_sl"][i], pct=True),
            _fmt(s["hit_tp"][i], pct=True),
            _fmt(s["hit_trail"][i], pct=True),
            _fmt(s["hit_end"][i], pct=True),
            _fmt(s["mean_slippage_bps"][i]),
            _fmt(s["mean_time_in_trade_s"][i], 0),
            str(int(s["ambiguous_bars"][i])),
        )
    return table


def _finish(
    result: RunResult,
    console: Console,
    report: Path,
    chosen: int,
    params: list[str],
    top: int,
    heatmap: tuple[str, str] | None,
    as_json: bool = False,
) -> None:
    replaced = (report / "results.json").exists()
    files = result.write(report, chosen, heatmap)
    if as_json:
        typer.echo((report / "results.json").read_text(encoding="utf-8"))
        return
    _table(result, params, top, chosen).print(console)
    note = "; the previous report there was replaced" if replaced else ""
    console.print(f"report: {report} ({', '.join(p.name for p in files)}){note}")


# --- commands ---------------------------------------------------------------------------------


def backtest_command(
    trades: Trades = None,
    mark: Mark = None,
    book: Book = None,
    source: Annotated[
        str, typer.Option("--source", metavar="contract|mark", help="trigger source.")
    ] = "contract",
    stop_bps: Annotated[
        int, typer.Option("--stop-bps", metavar="BPS", help="stop-loss distance (0: none).")
    ] = 0,
    tp_bps: Annotated[
        int, typer.Option("--tp-bps", metavar="BPS", help="take-profit distance (0: none).")
    ] = 0,
    trail_bps: Annotated[
        int, typer.Option("--trail-bps", metavar="BPS", help="trailing callback (0: none).")
    ] = 0,
    activation_bps: Annotated[
        int,
        typer.Option(
            "--activation-bps", metavar="BPS", help="trailing activation distance (0: at once)."
        ),
    ] = 0,
    stop_limit_bps: StopLimit = None,
    tick: Tick = None,
    entries: EntriesCsv = None,
    every: Every = None,
    random_count: RandomN = None,
    seed: Seed = 0,
    side: SideOpt = "both",
    size: Size = "1",
    fill: Fill = "next",
    slippage_bps: Slippage = 0,
    taker_fee_bps: TakerFee = "0",
    maker_fee_bps: MakerFee = "0",
    report: Report = Path("exitguard-report/backtest"),
    as_json: AsJson = False,
) -> None:
    """Replay one exit policy event by event through the venue's trigger rules."""
    from exitguard.backtest.model import ExitPolicy
    from exitguard.backtest.run import run_backtest

    src = _source(source)
    if stop_bps == tp_bps == trail_bps == 0:
        _usage("--stop-bps", "no exit to test: give --stop-bps, --tp-bps or --trail-bps")
    policy = _build(
        lambda: ExitPolicy(
            stop_bps, tp_bps, trail_bps, activation_bps, src, stop_limit_bps
        ).validate()
    )
    execution = _execution(fill, slippage_bps, taker_fee_bps, maker_fee_bps)
    markets = _load(trades, mark, book, {src}, tick)
    entry_set = _entries(markets[src], entries, every, random_count, seed, side, size)
    console = stdout_console()
    with _progress(Console(stderr=True), "replay") as bar:
        task = bar.add_task("replay", total=len(markets[src].path))
        result = _build(
            lambda: run_backtest(
                markets,
                entry_set,
                policy,
                execution,
                lambda done, total: bar.update(task, completed=done),
            )
        )
    params = ["stop_bps", "take_profit_bps", "trail_bps", "activation_bps", "source"]
    _finish(result, console, report, 0, params, 1, None, as_json)


def sweep_command(
    trades: Trades = None,
    mark: Mark = None,
    book: Book = None,
    source: Annotated[
        str,
        typer.Option("--source", metavar="contract|mark|contract,mark", help="trigger sources."),
    ] = "contract",
    stop_bps: Annotated[
        str,
        typer.Option(
            "--stop-bps", metavar="BPS,...|A:B:STEP", help="stop distances: 50,100 or 50:500:50."
        ),
    ] = "0",
    tp_bps: Annotated[
        str, typer.Option("--tp-bps", metavar="BPS,...|A:B:STEP", help="take-profit distances.")
    ] = "0",
    trail_bps: Annotated[
        str, typer.Option("--trail-bps", metavar="BPS,...|A:B:STEP", help="trailing callbacks.")
    ] = "0",
    activation_bps: Annotated[
        str,
        typer.Option(
            "--activation-bps", metavar="BPS,...|A:B:STEP", help="trailing activation distances."
        ),
    ] = "0",
    stop_limit_bps: StopLimit = None,
    # -- exit-plan axes (backtest.sweep.parse_ladders / parse_optional_values) --
    ladder: Annotated[
        str,
        typer.Option(
            "--ladder",
            metavar="BPS:PCT,...;...",
            help="scale-out ladders separated by ';', each 'none' or levels BPS:PERCENT nearest "
            "first: '50:50,100:50;30:30,60:30,120:40;none' (fractions sum to <= 100 %; the rest "
            "runs to the stop). A ladder replaces --tp-bps (combinations with a take-profit are "
            "left out).",
        ),
    ] = "none",
    be_offset_bps: Annotated[
        str,
        typer.Option(
            "--be-offset-bps",
            metavar="none,BPS,...|A:B:STEP",
            help="after ladder level --be-after-level fills, move the stop to the entry + BPS "
            "into profit ('none': no move): none,0,5,10.",
        ),
    ] = "none",
    be_after_level: Annotated[
        int, typer.Option("--be-after-level", metavar="N", help="the level of the move.")
    ] = 1,
    time_stop_min: Annotated[
        str,
        typer.Option(
            "--time-stop-min",
            metavar="MIN,...|A:B:STEP",
            help="close what is left after MIN minutes held (0: no time stop): 0,60,240.",
        ),
    ] = "0",
    tick: Tick = None,
    entries: EntriesCsv = None,
    every: Every = None,
    random_count: RandomN = None,
    seed: Seed = 0,
    side: SideOpt = "both",
    size: Size = "1",
    fill: Fill = "next",
    slippage_bps: Slippage = 0,
    taker_fee_bps: TakerFee = "0",
    maker_fee_bps: MakerFee = "0",
    executor: Annotated[
        str, typer.Option("--executor", metavar="local|processes|ray", help="where the grid runs.")
    ] = "local",
    chunk_size: Annotated[
        int, typer.Option("--chunk-size", metavar="N", help="policies per chunk.")
    ] = 64,
    workers: Annotated[
        int | None, typer.Option("--workers", metavar="N", help="processes (default: cores).")
    ] = None,
    ray_address: Annotated[
        str | None,
        typer.Option(
            "--ray-address", metavar="ADDRESS", help="Ray cluster (default: a local instance)."
        ),
    ] = None,
    heatmap: Annotated[
        str | None,
        typer.Option(
            "--heatmap",
            metavar="PARAM,PARAM",
            help="two parameters, e.g. stop_bps,take_profit_bps.",
        ),
    ] = None,
    chart_policy: ChartPolicy = "best",
    top: Annotated[
        int, typer.Option("--top", metavar="N", help="table rows (best net PnL first).")
    ] = 20,
    report: Report = Path("exitguard-report/sweep"),
    as_json: AsJson = False,
) -> None:
    """Evaluate a grid of exit policies with the vectorised kernel (same rules as backtest)."""
    from exitguard.backtest.report import POLICY_PARAMS
    from exitguard.backtest.run import choose_policy, run_grid, varying
    from exitguard.backtest.sweep import (
        EXECUTORS,
        PolicyGrid,
        parse_ladders,
        parse_optional_values,
        parse_values,
    )

    sources = {_source(s) for s in source.split(",") if s.strip()}
    if not sources:
        _usage("--source", "name at least one trigger source")
    if executor not in EXECUTORS:
        _usage("--executor", f"must be local, processes or ray, got {executor!r}")
    if top <= 0:
        _usage("--top", f"must be positive, got {top}")
    grid = _build(
        lambda: PolicyGrid.product(
            parse_values(stop_bps, "--stop-bps"),
            parse_values(tp_bps, "--tp-bps"),
            parse_values(trail_bps, "--trail-bps"),
            parse_values(activation_bps, "--activation-bps"),
            sorted(sources),
            stop_limit_bps,
            parse_ladders(ladder),
            parse_optional_values(be_offset_bps, "--be-offset-bps"),
            be_after_level,
            [60_000 * m for m in parse_values(time_stop_min, "--time-stop-min")],
        )
    )
    axes: tuple[str, str] | None = None
    if heatmap is not None:
        names = [h.strip() for h in heatmap.split(",")]
        if len(names) != 2 or names[0] == names[1] or any(n not in POLICY_PARAMS for n in names):
            _usage(
                "--heatmap", f"must name two different parameters among {', '.join(POLICY_PARAMS)}"
            )
        axes = (names[0], names[1])
    execution = _execution(fill, slippage_bps, taker_fee_bps, maker_fee_bps)
    markets = _load(trades, mark, book, sources, tick)
    entry_set = _entries(
        next(iter(markets.values())), entries, every, random_count, seed, side, size
    )
    console = stdout_console()
    with _progress(Console(stderr=True), "sweep") as bar:
        task = bar.add_task("sweep", total=len(grid))
        result = _build(
            lambda: run_grid(
                markets,
                entry_set,
                grid,
                execution,
                executor,
                chunk_size,
                workers,
                ray_address,
                lambda done, total: bar.update(task, completed=done),
            )
        )
    params = varying(result.policies) or ["stop_bps", "take_profit_bps", "trail_bps"]
    if axes is None and len(params) >= 2:
        axes = (params[0], params[1])
    chosen = _build(lambda: choose_policy(result, chart_policy))
    _finish(result, console, report, chosen, params, top, axes, as_json)
