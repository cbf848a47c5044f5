"""``exitguard data``: fetch, synthesise and inspect data.binance.vision archives.

- ``fetch SYMBOL --market spot|um --type T [--interval 1m] --from DATE --to DATE`` downloads daily
  archives into the local mirror (default: the user cache directory) and prints their paths;
- ``synth SYMBOL --market spot|um --type T --from DATE --days N --seed S --out DIR`` writes
  synthetic archives in the published format and prints their paths;
- ``info PATH...`` prints rows, time span, price range and the detected time unit per file.

Paths go to stdout (one per line, for scripts); progress and notes go to stderr. Exit status: 0 ok,
1 a download or a file failed, 2 bad options. The logic lives in :mod:`exitguard.data`.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated, NoReturn, cast

import typer

from exitguard.cli.inputs import file_problem
from exitguard.cli.tables import Col, Rows, stdout_console
from exitguard.data.fetch import DataFetchError, fetch_archives
from exitguard.data.names import INTERVALS, KLINE_TYPES, MARKET_TYPES, DataType
from exitguard.data.read import DataFileError, Table, read_table
from exitguard.data.series import Market, units_to_decimal
from exitguard.data.synth import SYNTH_TYPES, synth_archives
from exitguard.domain.market_data import MarketDataError

__all__ = ["app"]

app = typer.Typer(
    name="data",
    help="Binance public history (data.binance.vision): fetch, synthesise, inspect.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,  # click's plain help and one-line errors (cli/main.py)
    pretty_exceptions_show_locals=False,
)

_MARKETS = ("spot", "um")


@app.callback()
def _data() -> None:
    """Binance public history (data.binance.vision): fetch, synthesise, inspect."""


def _usage(option: str, message: str) -> NoReturn:
    raise typer.BadParameter(message, param_hint=option)


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)  # unwrapped: URLs and paths stay whole
    raise typer.Exit(1)


def _market(value: str) -> Market:
    if value not in _MARKETS:
        _usage("--market", f"must be spot or um (USD-M futures), got {value!r}")
    return cast(Market, value)


def _date(option: str, value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        _usage(option, f"must be a date YYYY-MM-DD, got {value!r}")


def _type(value: str, market: Market, allowed: tuple[str, ...]) -> DataType:
    if value not in allowed:
        _usage("--type", f"must be one of {', '.join(allowed)}, got {value!r}")
    if value not in MARKET_TYPES[market]:
        have = ", ".join(t for t in allowed if t in MARKET_TYPES[market])
        _usage("--type", f"{market} publishes no {value} files; {market} has {have}")
    return cast(DataType, value)


def _interval(value: str | None, data_type: DataType) -> str | None:
    if data_type not in KLINE_TYPES:
        if value is not None:
            _usage("--interval", f"applies to kline types only, not to {data_type}")
        return None
    value = value or "1m"
    if value not in INTERVALS:
        _usage("--interval", f"must be one of {', '.join(INTERVALS)}, got {value!r}")
    return value


_FETCH_TYPES = ("aggTrades", "trades", "klines", "markPriceKlines", "bookTicker")


@app.command("fetch")
def fetch(
    symbol: Annotated[str, typer.Argument(help="Symbol as published, e.g. BTCUSDT.")],
    market: Annotated[
        str, typer.Option("--market", metavar="spot|um", help="spot or um (USD-M futures).")
    ],
    data_type: Annotated[
        str,
        typer.Option(
            "--type", metavar="TYPE", help="aggTrades, trades, klines, markPriceKlines, bookTicker."
        ),
    ],
    start: Annotated[str, typer.Option("--from", help="First day, YYYY-MM-DD (UTC).")],
    end: Annotated[str, typer.Option("--to", help="Last day, YYYY-MM-DD (inclusive).")],
    interval: Annotated[
        str | None, typer.Option("--interval", help="Kline interval (kline types; default 1m).")
    ] = None,
    cache_dir: Annotated[
        Path | None, typer.Option("--cache-dir", help="Mirror directory (default: user cache).")
    ] = None,
    base_url: Annotated[
        str | None,
        typer.Option(
            "--base-url",
            help="Archive server (default: $EXITGUARD_DATA_BASE_URL, else data.binance.vision).",
        ),
    ] = None,
    progress: Annotated[bool, typer.Option("--progress/--no-progress")] = True,
) -> None:
    """Download daily archives (resumable, checksum-verified) and print their local paths."""
    mkt = _market(market)
    kind = _type(data_type, mkt, _FETCH_TYPES)
    first, last = _date("--from", start), _date("--to", end)
    if last < first:
        _usage("--to", f"must not be before --from ({last} < {first})")
    if symbol.upper() != symbol or not symbol.isalnum():
        _usage("SYMBOL", f"must be upper-case letters and digits as published, got {symbol!r}")
    if base_url is not None and not base_url.startswith(("http://", "https://")):
        _usage("--base-url", f"must start with http:// or https://, got {base_url!r}")
    try:
        paths = fetch_archives(
            symbol,
            mkt,
            kind,
            first,
            last,
            interval=_interval(interval, kind),
            cache_dir=cache_dir,
            base_url=base_url,
            progress=progress,
        )
    except (DataFetchError, OSError, ValueError) as exc:
        _fail(str(exc))
    for p in paths:
        typer.echo(str(p))


@app.command("synth")
def synth(
    symbol: Annotated[str, typer.Argument(help="Symbol, e.g. BTCUSDT (grids from exchangeInfo).")],
    market: Annotated[
        str, typer.Option("--market", metavar="spot|um", help="spot or um (USD-M futures).")
    ],
    data_type: Annotated[
        str,
        typer.Option(
            "--type", metavar="TYPE", help="aggTrades, trades, klines, markPriceKlines, bookTicker."
        ),
    ],
    start: Annotated[str, typer.Option("--from", help="First day, YYYY-MM-DD (UTC).")],
    out: Annotated[Path, typer.Option("--out", help="Output directory (published layout).")],
    days: Annotated[int, typer.Option("--days", help="Number of daily archives.")] = 1,
    seed: Annotated[int, typer.Option("--seed", help="Random seed (same seed, same bytes).")] = 0,
    interval: Annotated[
        str | None, typer.Option("--interval", help="Kline interval (kline types; default 1m).")
    ] = None,
    trades_per_minute: Annotated[
        int, typer.Option("--trades-per-minute", help="Average aggTrades rows a minute.")
    ] = 60,
    start_price: Annotated[
        str | None, typer.Option("--start-price", help="First price (default per symbol).")
    ] = None,
) -> None:
    """Write synthetic archives in the exact data.binance.vision format; print their paths."""
    mkt = _market(market)
    kind = _type(data_type, mkt, SYNTH_TYPES)
    first = _date("--from", start)
    ivl = _interval(interval, kind)
    if ivl is not None and ivl in ("3d", "1w", "1mo"):
        _usage("--interval", f"daily archives need an interval of at most 1d, got {ivl!r}")
    if days < 1:
        _usage("--days", f"must be >= 1, got {days}")
    if trades_per_minute < 1:
        _usage("--trades-per-minute", f"must be >= 1, got {trades_per_minute}")
    if symbol.upper() != symbol or not symbol.isalnum():
        _usage("SYMBOL", f"must be upper-case letters and digits, got {symbol!r}")
    if start_price is not None:
        try:
            ok = Decimal(start_price).is_finite() and Decimal(start_price) > 0
        except ArithmeticError:
            ok = False
        if not ok:
            _usage("--start-price", f"must be a positive decimal, got {start_price!r}")
    try:
        paths = synth_archives(
            symbol,
            mkt,
            kind,
            first,
            days,
            seed=seed,
            out_dir=out,
            interval=ivl or "1m",
            trades_per_minute=trades_per_minute,
            start_price=start_price,
        )
    except (OSError, ValueError) as exc:
        _fail(str(exc))
    for p in paths:
        typer.echo(str(p))


def _when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


def _summary_json(table: Table) -> dict[str, object]:
    """What ``data info`` says of one file, as values (times in UTC ms, prices as decimal
    text): ``--json`` prints it, ``_summary`` makes the table row of it."""
    if "open_time_ms" in table.columns:
        t0, t1, lo, hi = (table.col(c) for c in ("open_time_ms", "close_time_ms", "low", "high"))
    elif table.data_type == "bookTicker":
        t0 = t1 = table.col("time_ms")
        lo, hi = table.col("bid"), table.col("ask")
    else:
        t0 = t1 = table.col("time_ms")
        lo = hi = table.col("price")
    empty = table.rows == 0
    return {
        "file": str(table.path),
        "type": table.data_type,
        "market": table.market,
        "rows": table.rows,
        "first_ms": None if empty else int(t0.min()),
        "last_ms": None if empty else int(t1.max()),
        "low": None if empty else str(units_to_decimal(int(lo.min()), table.price_exp)),
        "high": None if empty else str(units_to_decimal(int(hi.max()), table.price_exp)),
        "price_decimals": table.price_exp,
        "time_unit": table.time_unit,
        "header": bool(table.header),
        "checksum_verified": bool(table.checksum_verified),
    }


def _summary(doc: dict[str, object]) -> list[str]:
    """One table row of ``_summary_json``'s facts."""
    first, last = doc["first_ms"], doc["last_ms"]
    timed = isinstance(first, int) and isinstance(last, int)
    span = (
        f"{_when(first)} → {_when(last)}"
        if isinstance(first, int) and isinstance(last, int)
        else "-"
    )
    return [
        Path(str(doc["file"])).name,
        str(doc["type"]),
        str(doc["market"] or "?"),
        f"{doc['rows']:,}",
        span,
        f"{doc['low']} – {doc['high']}" if timed else "-",
        str(doc["price_decimals"]),
        str(doc["time_unit"]),
        "yes" if doc["header"] else "no",
        "ok" if doc["checksum_verified"] else "none",
    ]


@app.command("info")
def info(
    paths: Annotated[list[Path], typer.Argument(help="Archives (.zip) or CSV files.")],
    market: Annotated[
        str | None, typer.Option("--market", metavar="spot|um", help="When the path does not say.")
    ] = None,
    data_type: Annotated[
        str | None,
        typer.Option("--type", metavar="TYPE", help="The data type, when the path does not say."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Rows, time span (UTC), price range and detected timestamp unit of each file."""
    mkt = _market(market) if market is not None else None
    kind: DataType | None = None
    if data_type is not None:
        kind = _type(data_type, mkt or "um", _FETCH_TYPES)
    names = (
        "file",
        "type",
        "market",
        "rows",
        "time span (UTC)",
        "price range",
        "decimals",
        "time unit",
        "header",
        "checksum",
    )
    numeric = {"rows", "time span (UTC)", "price range", "decimals"}
    out = Rows("data.binance.vision files", [Col(n, number=n in numeric) for n in names])
    docs = []
    for path in paths:
        if (problem := file_problem(path)) is not None:
            _usage("PATHS", problem)
        try:
            table = read_table(path, kind, mkt)
        except (DataFileError, MarketDataError) as exc:
            _fail(str(exc))
        docs.append(_summary_json(table))
        out.add(*_summary(docs[-1]))
    if as_json:
        typer.echo(json.dumps(docs, indent=2))
        return
    out.print(stdout_console())
