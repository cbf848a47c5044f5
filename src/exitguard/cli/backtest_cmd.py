"""``exitguard backtest`` and ``exitguard sweep``: exit policies over Binance history.

``backtest`` replays one policy event by event through the domain's trigger books;
``sweep`` evaluates a grid of policies with the numba kernel (same rules, same outcomes), locally,
on local processes or on Ray. Both print a table per policy and write a report folder
(:mod:`exitguard.backtest.report`). The work happens in :mod:`exitguard.backtest.run`; this module
parses options, loads files and prints.

Exit status: 0 done, 2 bad input (the message names the option or field and the rule).
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar, cast

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from exitguard.cli.backtest_options import (
    AsJson,
    Book,
    ChartPolicy,
    EntriesCsv,
    Every,
    Fill,
    IncludeOpen,
    Leverage,
    MaintMargin,
    MakerFee,
    Mark,
    MinTrades,
    OpenTradesOpt,
    ProductOpt,
    RandomN,
    RankBy,
    Report,
    Seed,
    SideOpt,
    Size,
    Slippage,
    StopLimit,
    TakerFee,
    Tick,
    Trades,
)
from exitguard.cli.inputs import file_problem
from exitguard.cli.tables import stdout_console

if TYPE_CHECKING:
    from exitguard.backtest.entries import Entries, SideMode
    from exitguard.backtest.market import Market
    from exitguard.backtest.ranking import RankSpec
    from exitguard.domain.enums import Product, WorkingType

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
    "leverage": "--leverage",
    "maint_margin_bps": "--maint-margin-bps",
    "be_offset_bps": "--be-offset-bps",
    "stop_moves": "--be-after-level",
    "time_stop_ms": "--time-stop-min",
}


def _usage(option: str, message: str) -> NoReturn:
    raise typer.BadParameter(message, param_hint=option)


# --- shared options: exitguard.cli.backtest_options -------------------------------------------


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


def _rank_spec(
    rank_by: str, min_trades: int, open_trades: str | None, include_open: bool
) -> RankSpec:
    from exitguard.backtest.ranking import Objective, OpenTrades, RankSpec

    names = [o.value for o in Objective]
    if rank_by not in names:
        _usage("--rank-by", f"must be one of {', '.join(names)}, got {rank_by!r}")
    modes = [m.value for m in OpenTrades]
    if open_trades is not None and open_trades not in modes:
        _usage("--open-trades", f"must be one of {', '.join(modes)}, got {open_trades!r}")
    if include_open and open_trades not in (None, "include"):
        _usage("--include-open", f"contradicts --open-trades {open_trades}")
    mode = OpenTrades("include" if include_open else open_trades or "losses")
    return _build(lambda: RankSpec(Objective(rank_by), min_trades, mode).validate())


def _product(text: str) -> Product:
    from exitguard.domain.enums import Product

    if text not in ("usdm", "spot"):
        _usage("--product", f"must be usdm or spot, got {text!r}")
    return Product(text)


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
    side: str | None,
    size: str,
    product: Product,
) -> Entries:
    from exitguard.backtest import entries as ent

    spot = product.value == "spot"
    side = side or ("long" if spot else "both")
    if spot and side != "long":
        _usage("--side", "Spot holdings are long only (an exit sells what is held): use long")

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
        read = _build(lambda: ent.read_entries_csv(csv_path))
        if spot and bool((read.side < 0).any()):
            _usage("--entries", "Spot holdings are long only: the file has short entries")
        return read
    if count is not None:
        return _build(lambda: ent.random_entries(start, end, count, seed, mode, size_value))
    interval = _build(lambda: ent.parse_duration_ms(every or "1h"))
    return _build(lambda: ent.every_entries(start, end, interval, mode, size_value))


def _execution(
    fill: str, slippage: int, taker: str, maker: str, leverage: int = 0, maint: int = 40
) -> Any:
    from exitguard.backtest.model import Execution, FillModel

    if fill not in ("next", "touch"):
        _usage("--fill", f"must be next or touch, got {fill!r}")
    return _build(
        lambda: Execution(
            FillModel(fill),
            slippage,
            _decimal("--taker-fee-bps", taker),
            _decimal("--maker-fee-bps", maker),
            leverage,
            maint,
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


# --- output: exitguard.cli.backtest_tables ----------------------------------------------------


# --- commands ---------------------------------------------------------------------------------


def backtest_command(
    trades: Trades = None,
    mark: Mark = None,
    book: Book = None,
    source: Annotated[
        str | None,
        typer.Option(
            "--source",
            metavar="contract|mark",
            help="trigger source (default: contract, or the config's working type).",
            show_default=False,
        ),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            metavar="FILE",
            help="backtest the policy exitguard.toml sets for --symbol (instead of --stop-bps...).",
            show_default=False,
        ),
    ] = None,
    symbol: Annotated[
        str | None,
        typer.Option(
            "--symbol",
            metavar="SYMBOL",
            help="with --config: whose policy (default: the trades' symbol).",
            show_default=False,
        ),
    ] = None,
    product: ProductOpt = "usdm",
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
    side: SideOpt = None,
    size: Size = "1",
    fill: Fill = "next",
    slippage_bps: Slippage = 0,
    taker_fee_bps: TakerFee = "0",
    maker_fee_bps: MakerFee = "0",
    leverage: Leverage = 0,
    maint_margin_bps: MaintMargin = 40,
    open_trades: OpenTradesOpt = None,
    include_open: IncludeOpen = False,
    report: Report = Path("exitguard-report/backtest"),
    as_json: AsJson = False,
) -> None:
    """Replay one exit policy event by event through the venue's trigger rules."""
    from exitguard.backtest.model import ExitPolicy
    from exitguard.backtest.report import shown_params
    from exitguard.backtest.run import run_backtest
    from exitguard.cli.backtest_tables import finish

    notes: tuple[str, ...] = ()
    prod = _product(product)
    if config is not None:
        given = [
            name
            for name, value in (
                ("--stop-bps", stop_bps),
                ("--tp-bps", tp_bps),
                ("--trail-bps", trail_bps),
                ("--activation-bps", activation_bps),
                ("--stop-limit-bps", stop_limit_bps),
            )
            if value
        ]
        if given:
            _usage("--config", f"the policy comes from the config file; drop {', '.join(given)}")
    elif symbol is not None:
        _usage("--symbol", "names whose config policy to backtest: give --config too")
    spec = _rank_spec("net", 1, open_trades, include_open)
    execution = _execution(
        fill, slippage_bps, taker_fee_bps, maker_fee_bps, leverage, maint_margin_bps
    )
    if config is not None:
        # The symbol's policy decides the trigger source, so it is read before the data.
        from exitguard.cli.backtest_config import config_policy, trades_symbol

        override = None if source is None else _source(source)
        mapped = _build(
            lambda: config_policy(config, symbol or trades_symbol(trades), prod, override)
        )
        policy, notes = mapped.policy, mapped.notes
        src = policy.source
    else:
        src = _source(source or "contract")
        if stop_bps == tp_bps == trail_bps == 0:
            _usage(
                "--stop-bps",
                "no exit to test: give --stop-bps, --tp-bps or --trail-bps (or --config)",
            )
        policy = _build(
            lambda: ExitPolicy(
                stop_bps, tp_bps, trail_bps, activation_bps, src, stop_limit_bps
            ).validate()
        )
    markets = _load(trades, mark, book, {src}, tick)
    if config is not None and symbol is not None and symbol != markets[src].symbol:
        notes += (f"{symbol}'s policy on {markets[src].symbol} data",)
    entry_set = _entries(markets[src], entries, every, random_count, seed, side, size, prod)
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
    params = shown_params(policy)
    meta = {"config": {"file": str(config), "product": prod.value}} if config else None
    ranking = result.rank(spec)
    finish(result, console, report, 0, params, 1, None, ranking, as_json, notes, None, meta)


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
    side: SideOpt = None,
    size: Size = "1",
    fill: Fill = "next",
    slippage_bps: Slippage = 0,
    taker_fee_bps: TakerFee = "0",
    maker_fee_bps: MakerFee = "0",
    leverage: Leverage = 0,
    maint_margin_bps: MaintMargin = 40,
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
        int, typer.Option("--top", metavar="N", help="table rows (best ranked first).")
    ] = 20,
    rank_by: RankBy = "net",
    min_trades: MinTrades = 1,
    open_trades: OpenTradesOpt = None,
    include_open: IncludeOpen = False,
    walk_forward: Annotated[
        float | None,
        typer.Option(
            "--walk-forward",
            metavar="FRACTION",
            help="choose the winner on the first FRACTION of the data, test it on the rest.",
            show_default=False,
        ),
    ] = None,
    folds: Annotated[
        int | None,
        typer.Option(
            "--folds",
            metavar="K",
            help="anchored walk-forward, data in K+1 parts: fold i picks on 1..i, tests on i+1.",
            show_default=False,
        ),
    ] = None,
    emit_config: Annotated[
        Path | None,
        typer.Option(
            "--emit-config",
            metavar="FILE",
            help="write the winner as a [policy.<product>.<SYMBOL>] section (a new file).",
            show_default=False,
        ),
    ] = None,
    product: ProductOpt = "usdm",
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
    from exitguard.cli.backtest_tables import finish

    sources = {_source(s) for s in source.split(",") if s.strip()}
    if not sources:
        _usage("--source", "name at least one trigger source")
    if executor not in EXECUTORS:
        _usage("--executor", f"must be local, processes or ray, got {executor!r}")
    if top <= 0:
        _usage("--top", f"must be positive, got {top}")
    spec = _rank_spec(rank_by, min_trades, open_trades, include_open)
    prod = _product(product)
    if walk_forward is not None and folds is not None:
        _usage("--walk-forward/--folds", "give one: a split fraction or a number of folds")
    if walk_forward is not None and not 0.0 < walk_forward < 1.0:
        _usage(
            "--walk-forward", f"must be an in-sample fraction between 0 and 1, got {walk_forward}"
        )
    if folds is not None and folds < 1:
        _usage("--folds", f"must be at least 1, got {folds}")
    if emit_config is not None and emit_config.exists():
        _usage(
            "--emit-config",
            f"{emit_config} exists; name a new file (paste the section into exitguard.toml)",
        )
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
    execution = _execution(
        fill, slippage_bps, taker_fee_bps, maker_fee_bps, leverage, maint_margin_bps
    )
    markets = _load(trades, mark, book, sources, tick)
    entry_set = _entries(
        next(iter(markets.values())), entries, every, random_count, seed, side, size, prod
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
    ranking = result.rank(spec)
    chosen = _build(lambda: choose_policy(result, chart_policy, ranking))
    walk = None
    if walk_forward is not None or folds is not None:
        from exitguard.backtest.walk_forward import walk_forward as run_walk_forward

        walk = _build(
            lambda: run_walk_forward(
                markets,
                entry_set,
                spec,
                lambda part, part_entries: run_grid(
                    part, part_entries, grid, execution, executor, chunk_size, workers, ray_address
                ),
                walk_forward,
                folds,
            )
        )
    meta: dict[str, Any] = {}
    if emit_config is not None:
        from exitguard.cli.backtest_config import emit_winner

        meta["emitted_config"] = _build(lambda: emit_winner(emit_config, result, ranking, prod))
    finish(result, console, report, chosen, params, top, axes, ranking, as_json, (), walk, meta)
    if emit_config is not None and not as_json:
        console.print(f"config: {emit_config} ({meta['emitted_config']['section']})")
