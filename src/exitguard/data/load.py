"""Load data.binance.vision files as series: trades, bars, book tickers (public API).

Each path is a ``.zip`` (as published) or a ``.csv``. The symbol, market, data type and kline
interval come from the arguments, else from the file name and its directories
(:func:`~exitguard.data.names.parse_archive_name`), else from the content (a published header, the
column count, microsecond timestamps). Every file's ``.CHECKSUM`` is verified when present, and its
parsed columns are cached in ``<file>.npz`` (:mod:`exitguard.data.cache`) unless ``cache=False``.

Several files make one series: they are ordered by their first timestamp, brought to the largest
``price_exp`` / ``qty_exp`` among them (exact integer multiplication, refused on overflow) and
concatenated; if files overlap in time, the rows are re-sorted by time (stable).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt

from .cache import read_cached
from .names import INTERVALS, ArchiveName, DataType, interval_ms, parse_archive_name
from .read import DataFileError, Table
from .series import BarSeries, BookTickerSeries, Market, TradeSeries

__all__ = [
    "ArchiveName",
    "DataFileError",
    "load_bars",
    "load_book_ticker",
    "load_tables",
    "load_trades",
    "parse_archive_name",
]

PathLike = Path | str
I64 = npt.NDArray[np.int64]
BarSource = Literal["klines", "markPriceKlines"]
_MARKETS = ("spot", "um")


def load_trades(
    paths: Sequence[PathLike] | PathLike,
    *,
    symbol: str | None = None,
    market: Market | None = None,
    data_type: Literal["aggTrades", "trades"] | None = None,
    cache: bool = True,
) -> TradeSeries:
    """``aggTrades`` or ``trades`` files as one :class:`TradeSeries` (all files of one type)."""
    tables, sym, mkt = load_tables(paths, ("aggTrades", "trades"), data_type, symbol, market, cache)
    price_exp = max(t.price_exp for t in tables)
    qty_exp = max(t.qty_exp for t in tables)
    time_ms = _cat(tables, "time_ms")
    cols = {
        "price": _cat(tables, "price", price_exp, "price_exp"),
        "qty": _cat(tables, "qty", qty_exp, "qty_exp"),
        "is_buyer_maker": np.concatenate([t.columns["is_buyer_maker"] for t in tables]),
    }
    time_ms, cols = _sorted(time_ms, cols)
    return TradeSeries(
        sym,
        mkt,
        price_exp,
        qty_exp,
        time_ms,
        cols["price"],
        cols["qty"],
        cols["is_buyer_maker"].astype(np.bool_, copy=False),
    )


def load_bars(
    paths: Sequence[PathLike] | PathLike,
    *,
    symbol: str | None = None,
    market: Market | None = None,
    source: BarSource | None = None,
    interval: str | None = None,
    cache: bool = True,
) -> BarSeries:
    """``klines`` or ``markPriceKlines`` files as one :class:`BarSeries`.

    ``source`` defaults to what the directories say (``.../markPriceKlines/SYMBOL/1m/...``), else
    ``klines``; ``interval`` to the file name's (``SYMBOL-1m-DATE``), else the bar length.
    """
    if source is not None and source not in ("klines", "markPriceKlines"):
        raise ValueError(f"source must be klines or markPriceKlines, got {source!r}")
    path_list = _path_list(paths)
    names = [_name(p) for p in path_list]
    kinds = {n.data_type for n in names if n is not None and n.data_type is not None}
    if source is None:
        source = "markPriceKlines" if kinds == {"markPriceKlines"} else "klines"
    tables, sym, mkt = load_tables(path_list, (source,), source, symbol, market, cache)
    found = {n.interval for n in names if n is not None and n.interval is not None}
    if len(found) > 1:
        raise ValueError(f"files have different intervals ({', '.join(sorted(found))})")
    if interval is None:
        interval = found.pop() if found else _infer_interval(tables)
    elif found and interval not in found:
        raise ValueError(f"interval {interval!r} was asked, the file names say {found.pop()!r}")
    if interval not in INTERVALS:
        raise ValueError(f"unknown kline interval {interval!r}; use one of {', '.join(INTERVALS)}")
    price_exp = max(t.price_exp for t in tables)
    open_ms = _cat(tables, "open_time_ms")
    cols = {"close_time_ms": _cat(tables, "close_time_ms")}
    for k in ("open", "high", "low", "close"):
        cols[k] = _cat(tables, k, price_exp, "price_exp")
    open_ms, cols = _sorted(open_ms, cols)
    return BarSeries(
        sym,
        mkt,
        source,
        interval,
        price_exp,
        open_ms,
        cols["close_time_ms"],
        cols["open"],
        cols["high"],
        cols["low"],
        cols["close"],
    )


def load_book_ticker(
    paths: Sequence[PathLike] | PathLike,
    *,
    symbol: str | None = None,
    market: Market | None = None,
    cache: bool = True,
) -> BookTickerSeries:
    """USD-M ``bookTicker`` files as one :class:`BookTickerSeries`, sorted (rows may be out of order)."""
    tables, sym, mkt = load_tables(paths, ("bookTicker",), "bookTicker", symbol, market, cache)
    price_exp = max(t.price_exp for t in tables)
    qty_exp = max(t.qty_exp for t in tables)
    time_ms = _cat(tables, "time_ms")
    update_id = _cat(tables, "update_id")
    cols = {"update_id": update_id}
    cols.update({k: _cat(tables, k, price_exp, "price_exp") for k in ("bid", "ask")})
    cols.update({k: _cat(tables, k, qty_exp, "qty_exp") for k in ("bid_qty", "ask_qty")})
    if len(tables) > 1 and not bool(np.all(time_ms[1:] >= time_ms[:-1])):
        order = np.lexsort((update_id, time_ms))
        time_ms = time_ms[order]
        cols = {k: v[order] for k, v in cols.items()}
    return BookTickerSeries(
        sym,
        mkt,
        price_exp,
        qty_exp,
        time_ms,
        cols["bid"],
        cols["ask"],
        cols["bid_qty"],
        cols["ask_qty"],
    )


def load_tables(
    paths: Sequence[PathLike] | PathLike,
    allowed: tuple[str, ...],
    data_type: DataType | None,
    symbol: str | None,
    market: Market | None,
    cache: bool = True,
) -> tuple[list[Table], str, Market]:
    """Read (or reuse the cache of) every file; check they agree; order them by first time."""
    if market is not None and market not in _MARKETS:
        raise ValueError(f"market must be 'spot' or 'um', got {market!r}")
    path_list = _path_list(paths)
    tables: list[Table] = []
    symbols: set[str] = set()
    for path in path_list:
        name = _name(path)
        if name is not None:
            if symbol is not None and name.symbol != symbol:
                raise DataFileError(path, f"file is for {name.symbol}, not for {symbol}")
            if data_type is not None and name.data_type not in (None, data_type):
                raise DataFileError(path, f"the path says {name.data_type}, not {data_type}")
            symbols.add(name.symbol)
        table, _hit = read_cached(path, data_type, market, cache=cache)
        if table.data_type not in allowed:
            raise DataFileError(
                path, f"is a {table.data_type} file; expected {' or '.join(allowed)}"
            )
        tables.append(table)
    kinds = {t.data_type for t in tables}
    if len(kinds) > 1:
        raise ValueError(
            f"files mix data types ({', '.join(sorted(kinds))}); load one type at a time"
        )
    if symbol is None:
        if len(symbols) != 1:
            what = (
                "different symbols (" + ", ".join(sorted(symbols)) + ")" if symbols else "no symbol"
            )
            raise ValueError(f"files name {what}; pass symbol=")
        symbol = symbols.pop()
    elif len(symbols) > 1:  # pragma: no cover - each name was checked against symbol above
        raise ValueError(f"files name different symbols ({', '.join(sorted(symbols))})")
    markets = {t.market for t in tables if t.market is not None}
    if len(markets) > 1:
        raise ValueError("files mix spot and USD-M (um) data; load one market at a time")
    resolved = market or (markets.pop() if markets else None)
    if resolved is None:
        raise ValueError(
            "cannot tell the market from the paths or the content; pass market='spot' or 'um'"
        )
    tables.sort(key=_first_time)
    return tables, symbol, resolved


# --- helpers ------------------------------------------------------------------------------------


def _path_list(paths: Sequence[PathLike] | PathLike) -> list[Path]:
    if isinstance(paths, str | Path):
        return [Path(paths)]
    out = [Path(p) for p in paths]
    if not out:
        raise ValueError("no files given")
    return out


def _name(path: Path) -> ArchiveName | None:
    try:
        return parse_archive_name(path)
    except ValueError:
        return None


def _first_time(table: Table) -> int:
    key = "open_time_ms" if "open_time_ms" in table.columns else "time_ms"
    col = table.col(key)
    return int(col[0]) if col.shape[0] else np.iinfo(np.int64).max


def _cat(tables: list[Table], key: str, exp: int | None = None, exp_field: str = "") -> I64:
    """Concatenate one column; with ``exp``, rescale each file's units to it exactly first."""
    parts: list[I64] = []
    for t in tables:
        col = t.col(key)
        if exp is not None:
            have = int(getattr(t, exp_field))
            if have != exp:
                factor = 10 ** (exp - have)
                if col.shape[0] and int(np.abs(col).max()) > np.iinfo(np.int64).max // factor:
                    raise DataFileError(t.path, f"{key} does not fit int64 units at {exp} decimals")
                col = col * np.int64(factor)
        parts.append(col)
    return np.concatenate(parts) if len(parts) > 1 else parts[0]


def _sorted(t: I64, cols: dict[str, I64]) -> tuple[I64, dict[str, I64]]:
    """Stable sort by ``t`` when files overlapped; untouched (no copy) when already in order."""
    if t.shape[0] < 2 or bool(np.all(t[1:] >= t[:-1])):
        return t, cols
    order = np.argsort(t, kind="stable")
    return t[order], {k: v[order] for k, v in cols.items()}


def _infer_interval(tables: list[Table]) -> str:
    """The interval whose length equals a bar's ``close_time - open_time + 1``."""
    for t in tables:
        if t.rows:
            span = int(t.col("close_time_ms")[0] - t.col("open_time_ms")[0]) + 1
            for name in INTERVALS:
                if name != "1mo" and interval_ms(name) == span:
                    return name
    raise ValueError(
        "cannot tell the kline interval from the file names or the bars; pass interval="
    )
