"""Read one data.binance.vision file (zip or CSV) into exact integer columns, fast.

Formats (``trigger-semantics.md`` section 4): spot files have no header and, from 2025-01-01,
microsecond timestamps; USD-M files carry a header row. Both are detected from the content, never
assumed: a first line whose first field is not an integer (and whose fields are plain names) is a
header; a timestamp ``>= 10**14`` is microseconds (the rule and the threshold are
:mod:`exitguard.domain.market_data`'s, so the venue's replay and this loader agree). A sibling
``<file>.CHECKSUM`` (``"<sha256>  <name>"``) is verified when present.

Rows are scanned by the compiled :func:`exitguard.data._kernel.scan` (one pass over the bytes), and
decimals become integer units at the largest number of decimals written in the file, without ever
passing through ``float``. Every column is checked as the domain parser checks it; a bad row raises
:class:`~exitguard.domain.market_data.MarketDataError` naming the file, the line (1-based, counting
the header and blank lines) and the column.

A parsed file is kept as a :class:`Table` (plain NumPy columns plus what was detected); the
loaders in :mod:`exitguard.data.load` turn tables into series and cache them (:mod:`.cache`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from exitguard.domain.market_data import (
    AGG_TRADES_COLUMNS,
    KLINE_COLUMNS,
    MAX_TIMESTAMP,
    MICROSECONDS_THRESHOLD,
    TRADES_COLUMNS,
    MarketDataError,
    normalise_timestamp,
)

from . import _kernel as K
from .files import (
    ChecksumError,
    DataFileError,
    read_checksum_file,
    read_file_bytes,
    sha256_file,
    verify_checksum,
)
from .names import KLINE_TYPES, ArchiveName, DataType, parse_archive_name
from .series import Market

__all__ = [
    "BOOK_TICKER_COLUMNS",
    "ChecksumError",
    "DataFileError",
    "Table",
    "read_checksum_file",
    "read_file_bytes",
    "read_table",
    "sha256_file",
    "verify_checksum",
]

BOOK_TICKER_COLUMNS: tuple[str, ...] = (
    "update_id",
    "best_bid_price",
    "best_bid_qty",
    "best_ask_price",
    "best_ask_qty",
    "transaction_time",
    "event_time",
)
I64 = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class Table:
    """One file's rows as exact integer columns, sorted by time, plus what was detected.

    Columns by ``data_type``:

    - ``aggTrades`` / ``trades``: ``time_ms``, ``price``, ``qty``, ``is_buyer_maker`` (bool);
    - kline types: ``open_time_ms``, ``close_time_ms``, ``open``, ``high``, ``low``, ``close``;
    - ``bookTicker``: ``time_ms`` (transaction time), ``update_id``, ``bid``, ``ask``,
      ``bid_qty``, ``ask_qty``.

    Prices are units of ``10**-price_exp``, quantities of ``10**-qty_exp`` (0 when the type has
    no kept quantity). ``time_unit`` is ``ms``, ``us``, ``mixed`` or ``none`` (no rows).
    """

    path: str
    data_type: DataType
    market: Market | None
    header: bool
    time_unit: str
    price_exp: int
    qty_exp: int
    sha256: str
    checksum_verified: bool
    columns: dict[str, npt.NDArray[np.generic]] = field(repr=False)

    @property
    def rows(self) -> int:
        first = next(iter(self.columns.values()))
        return int(first.shape[0])

    def col(self, name: str) -> I64:
        return self.columns[name]  # type: ignore[return-value]  # int64 except is_buyer_maker


# --- layouts ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Layout:
    names: tuple[str, ...]  # published column names (error messages, header check)
    kinds: tuple[int, ...]  # one _kernel kind per column
    keep: tuple[str | None, ...]  # our name for stored columns, None for checked-only

    @property
    def stored(self) -> list[str]:
        return [k for k in self.keep if k is not None]


_AGG_KINDS = (K.CHECK_INT, K.DEC, K.DEC, K.INT, K.INT, K.INT, K.BOOL)
_AGG_KEEP = (None, "price", "qty", "first_id", "last_id", "time", "is_buyer_maker")
_TRADES_KINDS = (K.CHECK_INT, K.DEC, K.DEC, K.CHECK_DEC, K.INT, K.BOOL)
_TRADES_KEEP = (None, "price", "qty", None, "time", "is_buyer_maker")

_LAYOUTS: dict[tuple[str, Market], _Layout] = {
    ("aggTrades", "spot"): _Layout(
        AGG_TRADES_COLUMNS["spot"], (*_AGG_KINDS, K.CHECK_BOOL), (*_AGG_KEEP, None)
    ),
    ("aggTrades", "um"): _Layout(AGG_TRADES_COLUMNS["um"], _AGG_KINDS, _AGG_KEEP),
    ("trades", "spot"): _Layout(
        TRADES_COLUMNS["spot"], (*_TRADES_KINDS, K.CHECK_BOOL), (*_TRADES_KEEP, None)
    ),
    ("trades", "um"): _Layout(TRADES_COLUMNS["um"], _TRADES_KINDS, _TRADES_KEEP),
    ("bookTicker", "um"): _Layout(
        BOOK_TICKER_COLUMNS,
        (K.INT, K.DEC, K.DEC, K.DEC, K.DEC, K.INT, K.CHECK_INT),
        ("update_id", "bid", "bid_qty", "ask", "ask_qty", "time", None),
    ),
}
_KLINE_LAYOUT = _Layout(
    KLINE_COLUMNS,
    # open_time, O, H, L, C, volume, close_time, quote_volume, count, taker buy x2, ignore
    (
        K.INT,
        K.DEC,
        K.DEC,
        K.DEC,
        K.DEC,
        K.CHECK_DEC,
        K.INT,
        K.CHECK_DEC,
        K.CHECK_INT,
        K.CHECK_DEC,
        K.CHECK_DEC,
        K.ANY,
    ),
    ("open_time", "open", "high", "low", "close", None, "close_time", None, None, None, None, None),
)
# Headers as published (USD-M); matching one tells the type and market without a file name.
_KNOWN_HEADERS: dict[tuple[str, ...], tuple[DataType, Market | None]] = {
    AGG_TRADES_COLUMNS["um"]: ("aggTrades", "um"),
    TRADES_COLUMNS["um"]: ("trades", "um"),
    KLINE_COLUMNS: ("klines", None),
    BOOK_TICKER_COLUMNS: ("bookTicker", "um"),
}


def _layout(data_type: DataType, market: Market | None, path: str) -> _Layout:
    if data_type in KLINE_TYPES:
        return _KLINE_LAYOUT
    if market is None:
        raise DataFileError(path, f"cannot tell the market of this {data_type} file; pass market")
    layout = _LAYOUTS.get((data_type, market))
    if layout is None:
        raise DataFileError(path, f"{market} has no {data_type} files (reference section 4)")
    return layout


# --- the reader ---------------------------------------------------------------------------------


def read_table(
    path: str | Path,
    data_type: DataType | None = None,
    market: Market | None = None,
    *,
    verify: bool = True,
) -> Table:
    """Parse one file (no cache; see :func:`exitguard.data.cache.read_cached`).

    ``data_type`` and ``market`` default to what the path says (:func:`parse_archive_name`),
    then to what the content says (a published header, the column count, µs timestamps).
    Raises :class:`DataFileError` (:class:`ChecksumError`) or ``MarketDataError``.
    """
    path = Path(path)
    sha, verified = verify_checksum(path) if verify else ("", False)
    raw, source = read_file_bytes(path)
    return parse_bytes(raw, source, path, data_type, market, sha=sha, verified=verified)


def parse_bytes(
    raw: bytes,
    source: str,
    path: Path,
    data_type: DataType | None,
    market: Market | None,
    *,
    sha: str = "",
    verified: bool = False,
) -> Table:
    """Parse CSV bytes; ``source`` names the file (and zip member) in error messages."""
    name: ArchiveName | None
    try:
        name = parse_archive_name(path)
    except ValueError:
        name = None
    buf = np.frombuffer(raw, dtype=np.uint8)
    start = 3 if raw.startswith(b"\xef\xbb\xbf") else 0
    first_offset, first_fields = _first_line(raw, start)
    header = first_fields is not None and _is_header(first_fields)
    data_fields = first_fields
    if header:
        data_start = raw.find(b"\n", first_offset)
        data_start = len(raw) if data_start < 0 else data_start + 1
        _, data_fields = _first_line(raw, data_start)
    else:
        data_start = first_offset if first_fields is not None else len(raw)

    if data_type is None and name is not None:
        data_type = name.data_type
    if market is None and name is not None:
        market = name.market
    elif market is not None and name is not None and name.market not in (None, market):
        raise DataFileError(path, f"the path says market {name.market}, but {market} was asked")
    sniff_type, sniff_market = _sniff(first_fields if header else None, data_fields)
    if data_type is None:
        if sniff_type is None:
            raise DataFileError(
                path,
                "cannot tell the data type; name the file SYMBOL-TYPE-DATE.zip, keep klines "
                "under a {type}/SYMBOL/{interval}/ directory, or pass the type",
            )
        data_type = sniff_type
    if market is None and data_type not in KLINE_TYPES:
        market = "um" if data_type == "bookTicker" else _market_from_columns(data_type, data_fields)
    layout = _layout(data_type, market, source)
    if header and first_fields is not None and len(first_fields) != len(layout.names):
        raise MarketDataError(
            f"header has {len(first_fields)} columns, expected {len(layout.names)} "
            f"({','.join(layout.names)})",
            line=_line_number(buf, first_offset),
            value=",".join(first_fields),
            source=source,
        )
    del sniff_market  # the column count (above) decides the market for trade files

    cols, offsets = _scan(buf, data_start, layout, source)
    if data_type in KLINE_TYPES:
        table_cols, price_exp, qty_exp, unit = _klines(cols, offsets, buf, layout, source)
        if market is None:
            # Spot klines went to µs in 2025; USD-M files carry a header (section 4, gotchas).
            market = "spot" if unit == "us" else ("um" if header else None)
    elif data_type == "bookTicker":
        table_cols, price_exp, qty_exp, unit = _book_ticker(cols, offsets, buf, layout, source)
    else:
        table_cols, price_exp, qty_exp, unit = _trades(cols, offsets, buf, layout, source)
    return Table(
        str(path), data_type, market, header, unit, price_exp, qty_exp, sha, verified, table_cols
    )


# --- scanning and checks ------------------------------------------------------------------------


def _first_line(raw: bytes, start: int) -> tuple[int, list[str] | None]:
    """Offset and fields of the first non-blank line at or after ``start``."""
    pos = start
    n = len(raw)
    while pos < n:
        end = raw.find(b"\n", pos)
        end = n if end < 0 else end
        text = raw[pos:end].decode("utf-8", errors="replace").rstrip("\r")
        if text.strip():
            return pos, text.split(",")
        pos = end + 1
    return n, None


def _is_header(fields: list[str]) -> bool:
    # The domain rule (market_data._is_header): first field not an int, every field a plain name.
    first = fields[0].strip()
    if first.isascii() and first.isdigit():
        return False
    return all(f and f.isascii() and f.replace("_", "").replace(" ", "").isalnum() for f in fields)


def _sniff(
    header: list[str] | None, fields: list[str] | None
) -> tuple[DataType | None, Market | None]:
    if header is not None:
        known = _KNOWN_HEADERS.get(tuple(h.strip() for h in header))
        if known is not None:
            return known
    if fields is None:
        return None, None
    count = len(fields)
    if count == 12:
        return "klines", None
    if count == 8:
        return "aggTrades", "spot"
    if count == 6:
        return "trades", "um"
    if count == 7:
        # Spot trades (id, price, qty, quote_qty, ...) or a headerless USD-M aggTrades/bookTicker:
        # only trades have a decimal in the fourth column.
        return ("trades", "spot") if "." in fields[3] else ("aggTrades", "um")
    return None, None


def _market_from_columns(data_type: DataType, fields: list[str] | None) -> Market | None:
    if fields is None:
        return "um"  # an empty file: nothing to parse, any layout will do
    spot_count = len(_LAYOUTS[(data_type, "spot")].names)
    return "spot" if len(fields) == spot_count else "um"


def _line_number(buf: npt.NDArray[np.uint8], offset: int) -> int:
    return int(np.count_nonzero(buf[:offset] == 10)) + 1


def _line_text(buf: npt.NDArray[np.uint8], offset: int) -> str:
    raw = buf[offset:].tobytes()
    end = raw.find(b"\n")
    line = raw if end < 0 else raw[:end]
    return line.decode("utf-8", errors="replace").rstrip("\r")


def _fail(
    buf: npt.NDArray[np.uint8], offset: int, column: int, layout: _Layout, rule: str, source: str
) -> MarketDataError:
    text = _line_text(buf, offset)
    fields = text.split(",")
    return MarketDataError(
        rule,
        line=_line_number(buf, offset),
        column=f"{column + 1}:{layout.names[column]}",
        value=fields[column] if column < len(fields) else text,
        source=source,
    )


_SCAN_RULES = {
    K.ERR_INT: "must be a non-negative integer",
    K.ERR_DEC: "must be a decimal number",
    K.ERR_BOOL: "must be true or false",
    K.ERR_DIGITS: f"has more than {K.MAX_DIGITS} digits (too large for exact int64 units)",
}


def _scan(
    buf: npt.NDArray[np.uint8], start: int, layout: _Layout, source: str
) -> tuple[dict[str, tuple[I64, npt.NDArray[np.int8]]], I64]:
    """Run the kernel; ``{name: (values, fracs)}`` for stored columns, and row line offsets."""
    capacity = int(np.count_nonzero(buf[start:] == 10)) + 1
    kinds = np.array(layout.kinds, dtype=np.int8)
    slots = np.zeros(len(kinds), dtype=np.int64)
    stored = layout.stored
    for i, k in enumerate(layout.keep):
        if k is not None:
            slots[i] = stored.index(k)
    values = np.empty((len(stored), capacity), dtype=np.int64)
    fracs = np.zeros((len(stored), capacity), dtype=np.int8)
    offsets = np.empty(capacity, dtype=np.int64)
    rows, err, err_offset, err_col = K.scan(buf, start, kinds, slots, values, fracs, offsets)
    if err == K.ERR_NCOLS:
        text = _line_text(buf, err_offset)
        expected = len(layout.names)
        raise MarketDataError(
            f"row has {len(text.split(','))} columns, expected {expected} "
            f"({','.join(layout.names)})",
            line=_line_number(buf, err_offset),
            value=text,
            source=source,
        )
    if err != K.OK:
        raise _fail(buf, err_offset, err_col, layout, _SCAN_RULES[err], source)
    out = {name: (values[i, :rows], fracs[i, :rows]) for i, name in enumerate(stored)}
    return out, offsets[:rows]


def _col_index(layout: _Layout, name: str) -> int:
    return layout.keep.index(name)


def _units(
    cols: dict[str, tuple[I64, npt.NDArray[np.int8]]],
    names: tuple[str, ...],
    offsets: I64,
    buf: npt.NDArray[np.uint8],
    layout: _Layout,
    source: str,
) -> tuple[list[I64], int]:
    """Bring decimal columns that share a scale (all prices, or all quantities) to one exponent."""
    exp = max((int(cols[n][1].max()) for n in names if cols[n][1].shape[0]), default=0)
    out = []
    for n in names:
        units, bad = K.rescale(cols[n][0], cols[n][1], exp)
        if bad >= 0:
            rule = f"is too large for exact int64 units at {exp} decimals"
            raise _fail(buf, int(offsets[bad]), _col_index(layout, n), layout, rule, source)
        out.append(units)
    return out, exp


def _first_failure(
    checks: list[tuple[npt.NDArray[np.bool_], str, str]],
    offsets: I64,
    buf: npt.NDArray[np.uint8],
    layout: _Layout,
    source: str,
) -> None:
    """Raise for the earliest bad row; on a tie, the check listed first (the domain's order)."""
    best: tuple[int, int] | None = None
    for order, (bad, _col, _rule) in enumerate(checks):
        hits = np.flatnonzero(bad)
        if hits.shape[0] and (best is None or int(hits[0]) < best[0]):
            best = (int(hits[0]), order)
    if best is None:
        return
    row, order = best
    _bad, col, rule = checks[order]
    raise _fail(buf, int(offsets[row]), _col_index(layout, col), layout, rule, source)


def _times(raw: I64) -> tuple[I64, npt.NDArray[np.bool_]]:
    """Milliseconds (µs floored) and the µs mask; the threshold is the domain's."""
    micro = raw >= MICROSECONDS_THRESHOLD
    return np.where(micro, raw // 1000, raw), micro


def _unit_name(micro: npt.NDArray[np.bool_]) -> str:
    if micro.shape[0] == 0:
        return "none"
    n = int(np.count_nonzero(micro))
    return "us" if n == micro.shape[0] else ("ms" if n == 0 else "mixed")


def _too_big_rule() -> str:
    try:
        normalise_timestamp(MAX_TIMESTAMP)
    except ValueError as exc:
        return str(exc)
    return "timestamp too large"  # pragma: no cover - the domain refuses MAX_TIMESTAMP


def _trades(
    cols: dict[str, tuple[I64, npt.NDArray[np.int8]]],
    offsets: I64,
    buf: npt.NDArray[np.uint8],
    layout: _Layout,
    source: str,
) -> tuple[dict[str, npt.NDArray[np.generic]], int, int, str]:
    (price,), price_exp = _units(cols, ("price",), offsets, buf, layout, source)
    (qty,), qty_exp = _units(cols, ("qty",), offsets, buf, layout, source)
    raw_time = cols["time"][0]
    checks = [(price <= 0, "price", "must be > 0"), (qty <= 0, "qty", "must be > 0")]
    if "first_id" in cols:
        first, last = cols["first_id"][0], cols["last_id"][0]
        checks.append((last < first, "last_id", "last_trade_id must be >= first_trade_id"))
    checks.append((raw_time >= MAX_TIMESTAMP, "time", _too_big_rule()))
    _first_failure(checks, offsets, buf, layout, source)
    time_ms, micro = _times(raw_time)
    ibm = cols["is_buyer_maker"][0].astype(np.bool_)
    order = _stable_order(time_ms)
    columns: dict[str, npt.NDArray[np.generic]] = {
        "time_ms": time_ms,
        "price": price,
        "qty": qty,
        "is_buyer_maker": ibm,
    }
    if order is not None:
        columns = {k: v[order] for k, v in columns.items()}
    return columns, price_exp, qty_exp, _unit_name(micro)


def _klines(
    cols: dict[str, tuple[I64, npt.NDArray[np.int8]]],
    offsets: I64,
    buf: npt.NDArray[np.uint8],
    layout: _Layout,
    source: str,
) -> tuple[dict[str, npt.NDArray[np.generic]], int, int, str]:
    names = ("open", "high", "low", "close")
    (o, h, lo, c), price_exp = _units(cols, names, offsets, buf, layout, source)
    raw_open, raw_close = cols["open_time"][0], cols["close_time"][0]
    too_big = _too_big_rule()
    open_ms, open_us = _times(raw_open)
    close_ms, close_us = _times(raw_close)
    _first_failure(
        [
            (raw_open >= MAX_TIMESTAMP, "open_time", too_big),
            (raw_close >= MAX_TIMESTAMP, "close_time", too_big),
            (open_us != close_us, "close_time", "close_time must be in the same unit as open_time"),
            (close_ms < open_ms, "close_time", "close_time must be >= open_time"),
            (o <= 0, "open", "must be > 0"),
            (h <= 0, "high", "must be > 0"),
            (lo <= 0, "low", "must be > 0"),
            (c <= 0, "close", "must be > 0"),
            (h < np.maximum(np.maximum(o, c), lo), "high", "high must be >= open, low and close"),
            (lo > np.minimum(o, c), "low", "low must be <= open and close"),
        ],
        offsets,
        buf,
        layout,
        source,
    )
    columns: dict[str, npt.NDArray[np.generic]] = {
        "open_time_ms": open_ms,
        "close_time_ms": close_ms,
        "open": o,
        "high": h,
        "low": lo,
        "close": c,
    }
    order = _stable_order(open_ms)
    if order is not None:
        columns = {k: v[order] for k, v in columns.items()}
    return columns, price_exp, 0, _unit_name(open_us)


def _book_ticker(
    cols: dict[str, tuple[I64, npt.NDArray[np.int8]]],
    offsets: I64,
    buf: npt.NDArray[np.uint8],
    layout: _Layout,
    source: str,
) -> tuple[dict[str, npt.NDArray[np.generic]], int, int, str]:
    (bid, ask), price_exp = _units(cols, ("bid", "ask"), offsets, buf, layout, source)
    (bid_qty, ask_qty), qty_exp = _units(cols, ("bid_qty", "ask_qty"), offsets, buf, layout, source)
    raw_time = cols["time"][0]
    _first_failure(
        [
            (bid <= 0, "bid", "must be > 0"),
            (ask <= 0, "ask", "must be > 0"),
            (raw_time >= MAX_TIMESTAMP, "time", _too_big_rule()),
        ],
        offsets,
        buf,
        layout,
        source,
    )
    time_ms, micro = _times(raw_time)
    update_id = cols["update_id"][0]
    columns: dict[str, npt.NDArray[np.generic]] = {
        "time_ms": time_ms,
        "update_id": update_id,
        "bid": bid,
        "ask": ask,
        "bid_qty": bid_qty,
        "ask_qty": ask_qty,
    }
    # Published bookTicker rows can be slightly out of order (section 4): sort by transaction
    # time, then by update id, which is the book's own sequence.
    if time_ms.shape[0] > 1 and not (
        np.all(np.diff(time_ms) >= 0) and np.all(np.diff(update_id) >= 0)
    ):
        order = np.lexsort((update_id, time_ms))
        columns = {k: v[order] for k, v in columns.items()}
    return columns, price_exp, qty_exp, _unit_name(micro)


def _stable_order(t: I64) -> npt.NDArray[np.intp] | None:
    """A stable sorting permutation, or ``None`` when ``t`` is already non-decreasing."""
    if t.shape[0] < 2 or bool(np.all(t[1:] >= t[:-1])):
        return None
    return np.argsort(t, kind="stable")
