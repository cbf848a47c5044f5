"""Typed rows from Binance public historical data (data.binance.vision) CSV text.

Source: ``shared/reference/trigger-semantics.md`` section 4 (the ``binance/binance-public-data``
README, scripts and issues). Pure: these functions take CSV *text* (a ``str`` or an iterable of
lines) and never open a file; unzipping and checksums belong to the caller (``exitguard.venue``).

Layouts handled (section 4, "Columns"):

- aggTrades, spot: ``agg_id, price, qty, first_trade_id, last_trade_id, timestamp,
  is_buyer_maker, is_best_match`` (8 columns, no header).
- aggTrades, USD-M (``um``): header ``agg_trade_id,price,quantity,first_trade_id,last_trade_id,
  transact_time,is_buyer_maker`` (7 columns, no best-match column).
- klines (spot and USD-M, and ``markPriceKlines``, which use the same 12-column shape): open_time,
  open, high, low, close, volume, close_time, quote_volume, count, taker_buy_base,
  taker_buy_quote, ignore.
- trades, spot: ``id, price, qty, quote_qty, time, is_buyer_maker, is_best_match``; USD-M: header
  ``id,price,qty,quote_qty,time,is_buyer_maker``.

Gotchas handled (section 4, "Gotchas"):

- **Header detection** by failing to parse an int: if the first non-blank line's first field is
  not an integer (and every field looks like a column name) the line is a header and is skipped.
  Both markets are accepted with and without a header.
- **Microseconds.** Spot files switched to microsecond timestamps on 2025-01-01; older spot files
  and all futures files use milliseconds. The unit is detected per value by magnitude: a value
  ``>= MICROSECONDS_THRESHOLD`` (``10**14``) is microseconds. ``10**14`` ms is the year 5138 and
  ``10**14`` µs is 1973-03-03, so the threshold is unambiguous for any real file. Values
  ``>= 10**17`` (nanoseconds, or garbage) are refused. Every row carries ``time_ms`` (floored to
  whole milliseconds), ``time_unit`` (the unit found in the file) and ``raw_time`` (the value as
  written).

Prices and quantities are ``Decimal``. A bad row raises :class:`MarketDataError` naming the line
number (1-based, counting blank lines and the header), the column and the rule broken.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import KW_ONLY, dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Literal, NoReturn, TypeVar

from .numbers import parse_decimal

__all__ = [
    "AGG_TRADES_COLUMNS",
    "KLINE_COLUMNS",
    "MAX_TIMESTAMP",
    "MICROSECONDS_THRESHOLD",
    "TRADES_COLUMNS",
    "AggTrade",
    "Kline",
    "Market",
    "MarketDataError",
    "TimeUnit",
    "Trade",
    "normalise_timestamp",
    "parse_agg_trades",
    "parse_klines",
    "parse_trades",
]

Market = Literal["spot", "um"]
"""``spot`` for ``data/spot/...`` files, ``um`` for ``data/futures/um/...`` (USD-M) files."""

MICROSECONDS_THRESHOLD = 10**14
"""Timestamps at or above this are microseconds (1973-03-03 in µs; the year 5138 in ms)."""

MAX_TIMESTAMP = 10**17
"""Timestamps at or above this are refused (nanoseconds are not a published unit)."""

# Column names as published (section 4); used in error messages and to size the rows.
AGG_TRADES_COLUMNS: dict[Market, tuple[str, ...]] = {
    "spot": (
        "agg_id",
        "price",
        "qty",
        "first_trade_id",
        "last_trade_id",
        "timestamp",
        "is_buyer_maker",
        "is_best_match",
    ),
    "um": (
        "agg_trade_id",
        "price",
        "quantity",
        "first_trade_id",
        "last_trade_id",
        "transact_time",
        "is_buyer_maker",
    ),
}
KLINE_COLUMNS: tuple[str, ...] = (
    "open_time",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "close_time",
    "quote_volume",
    "count",
    "taker_buy_volume",
    "taker_buy_quote_volume",
    "ignore",
)
TRADES_COLUMNS: dict[Market, tuple[str, ...]] = {
    "spot": ("id", "price", "qty", "quote_qty", "time", "is_buyer_maker", "is_best_match"),
    "um": ("id", "price", "qty", "quote_qty", "time", "is_buyer_maker"),
}


class TimeUnit(StrEnum):
    """The unit a timestamp was written in (section 4: spot is µs from 2025-01-01)."""

    MILLISECONDS = "ms"
    MICROSECONDS = "us"


class MarketDataError(ValueError):
    """A CSV row that breaks the published layout; names the line, the column and the rule."""

    def __init__(
        self,
        rule: str,
        *,
        line: int,
        column: str | None = None,
        value: str | None = None,
        source: str | None = None,
    ) -> None:
        where = f"{source}: " if source else ""
        col = f", column {column!r}" if column else ""
        got = f" (got {_short(value)!r})" if value is not None else ""
        super().__init__(f"{where}line {line}{col}: {rule}{got}")
        self.rule = rule
        self.line = line
        self.column = column
        self.value = value
        self.source = source


@dataclass(frozen=True, slots=True)
class AggTrade:
    """One aggregated trade (``aggTrades`` file row)."""

    agg_id: int
    price: Decimal
    qty: Decimal
    time_ms: int
    is_buyer_maker: bool
    _: KW_ONLY
    first_trade_id: int | None = None
    last_trade_id: int | None = None
    is_best_match: bool | None = None  # spot only; USD-M files have no such column
    time_unit: TimeUnit = TimeUnit.MILLISECONDS
    raw_time: int | None = None


@dataclass(frozen=True, slots=True)
class Kline:
    """One bar (``klines``, ``markPriceKlines``, ``indexPriceKlines`` file row).

    For ``markPriceKlines`` only the times and O/H/L/C are meaningful (section 4).
    """

    open_time_ms: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    close_time_ms: int
    _: KW_ONLY
    volume: Decimal = Decimal(0)
    quote_volume: Decimal = Decimal(0)
    count: int = 0
    taker_buy_volume: Decimal = Decimal(0)
    taker_buy_quote_volume: Decimal = Decimal(0)
    time_unit: TimeUnit = TimeUnit.MILLISECONDS


@dataclass(frozen=True, slots=True)
class Trade:
    """One trade (``trades`` file row)."""

    trade_id: int
    price: Decimal
    qty: Decimal
    time_ms: int
    is_buyer_maker: bool
    _: KW_ONLY
    quote_qty: Decimal | None = None
    is_best_match: bool | None = None  # spot only
    time_unit: TimeUnit = TimeUnit.MILLISECONDS
    raw_time: int | None = None


def normalise_timestamp(raw: int) -> tuple[int, TimeUnit]:
    """``(milliseconds, unit)`` for a raw file timestamp; µs detected by magnitude, floored to ms.

    Raises ``ValueError`` for negative values and values ``>= MAX_TIMESTAMP``.
    """
    if raw < 0:
        raise ValueError("timestamp must not be negative")
    if raw >= MAX_TIMESTAMP:
        raise ValueError(
            f"timestamp must be milliseconds (< {MICROSECONDS_THRESHOLD}) or microseconds "
            f"(< {MAX_TIMESTAMP})"
        )
    if raw >= MICROSECONDS_THRESHOLD:
        return raw // 1000, TimeUnit.MICROSECONDS
    return raw, TimeUnit.MILLISECONDS


def parse_agg_trades(
    lines: str | Iterable[str], market: Market, *, source: str | None = None
) -> list[AggTrade]:
    """Parse an ``aggTrades`` CSV (section 4): 8 columns on spot, 7 on USD-M; header optional.

    ``source`` (a file name) is only used to prefix error messages.
    """
    columns = _columns_for(AGG_TRADES_COLUMNS, market)
    spot = market == "spot"
    out: list[AggTrade] = []
    for row in _rows(lines, columns, source):
        price = row.decimal(1, positive=True)
        qty = row.decimal(2, positive=True)
        first_id = row.integer(3)
        last_id = row.integer(4)
        if last_id < first_id:
            row.fail(4, "last_trade_id must be >= first_trade_id")
        time_ms, unit, raw = row.timestamp(5)
        out.append(
            AggTrade(
                row.integer(0),
                price,
                qty,
                time_ms,
                row.boolean(6),
                first_trade_id=first_id,
                last_trade_id=last_id,
                is_best_match=row.boolean(7) if spot else None,
                time_unit=unit,
                raw_time=raw,
            )
        )
    return out


def parse_trades(
    lines: str | Iterable[str], market: Market, *, source: str | None = None
) -> list[Trade]:
    """Parse a ``trades`` CSV (section 4): 7 columns on spot, 6 on USD-M; header optional."""
    columns = _columns_for(TRADES_COLUMNS, market)
    spot = market == "spot"
    out: list[Trade] = []
    for row in _rows(lines, columns, source):
        time_ms, unit, raw = row.timestamp(4)
        out.append(
            Trade(
                row.integer(0),
                row.decimal(1, positive=True),
                row.decimal(2, positive=True),
                time_ms,
                row.boolean(5),
                quote_qty=row.decimal(3, positive=False),
                is_best_match=row.boolean(6) if spot else None,
                time_unit=unit,
                raw_time=raw,
            )
        )
    return out


def parse_klines(lines: str | Iterable[str], *, source: str | None = None) -> list[Kline]:
    """Parse a 12-column klines CSV (section 4); header optional. Also for ``markPriceKlines``.

    Rules beyond the column types: ``close_time >= open_time``; ``low <= open, close <= high``;
    both times in the same unit.
    """
    out: list[Kline] = []
    for row in _rows(lines, KLINE_COLUMNS, source):
        open_ms, unit, _raw_open = row.timestamp(0)
        close_ms, close_unit, _raw_close = row.timestamp(6)
        if close_unit is not unit:
            row.fail(6, f"close_time must be in the same unit as open_time ({unit.value})")
        if close_ms < open_ms:
            row.fail(6, "close_time must be >= open_time")
        o = row.decimal(1, positive=True)
        h = row.decimal(2, positive=True)
        lo = row.decimal(3, positive=True)
        c = row.decimal(4, positive=True)
        if h < max(o, c, lo):
            row.fail(2, "high must be >= open, low and close")
        if lo > min(o, c):
            row.fail(3, "low must be <= open and close")
        out.append(
            Kline(
                open_ms,
                o,
                h,
                lo,
                c,
                close_ms,
                volume=row.decimal(5, positive=False),
                quote_volume=row.decimal(7, positive=False),
                count=row.integer(8),
                taker_buy_volume=row.decimal(9, positive=False),
                taker_buy_quote_volume=row.decimal(10, positive=False),
                time_unit=unit,
            )
        )
    return out


# --- internals -------------------------------------------------------------------------------

_T = TypeVar("_T")


def _columns_for(table: dict[Market, _T], market: Market) -> _T:
    if market not in table:
        raise ValueError(f"market must be 'spot' or 'um', got {market!r}")
    return table[market]


def _short(value: str, limit: int = 60) -> str:
    return value if len(value) <= limit else value[: limit - 3] + "..."


def _is_int(text: str) -> bool:
    return text.isascii() and text.isdigit()


def _is_header(fields: list[str]) -> bool:
    """A header: first field not an int, and every field a plain column name."""
    if _is_int(fields[0]):
        return False
    return all(f and f.isascii() and f.replace("_", "").replace(" ", "").isalnum() for f in fields)


class _Row:
    """One split CSV line with typed accessors that raise :class:`MarketDataError`."""

    __slots__ = ("columns", "fields", "line", "source")

    def __init__(
        self, fields: list[str], line: int, columns: tuple[str, ...], source: str | None
    ) -> None:
        self.fields = fields
        self.line = line
        self.columns = columns
        self.source = source

    def fail(self, index: int, rule: str) -> NoReturn:
        raise MarketDataError(
            rule,
            line=self.line,
            column=f"{index + 1}:{self.columns[index]}",
            value=self.fields[index],
            source=self.source,
        )

    def integer(self, index: int) -> int:
        text = self.fields[index]
        if not _is_int(text):
            self.fail(index, "must be a non-negative integer")
        return int(text)

    def decimal(self, index: int, *, positive: bool) -> Decimal:
        value = parse_decimal(self.fields[index])
        if value is None:
            self.fail(index, "must be a decimal number")
        if positive and value <= 0:
            self.fail(index, "must be > 0")
        if not positive and value < 0:
            self.fail(index, "must be >= 0")
        return value

    def boolean(self, index: int) -> bool:
        text = self.fields[index].lower()
        if text == "true":
            return True
        if text == "false":
            return False
        self.fail(index, "must be true or false")

    def timestamp(self, index: int) -> tuple[int, TimeUnit, int]:
        raw = self.integer(index)
        try:
            ms, unit = normalise_timestamp(raw)
        except ValueError as exc:
            self.fail(index, str(exc))
        return ms, unit, raw


def _lines(lines: str | Iterable[str]) -> Iterable[str]:
    return lines.splitlines() if isinstance(lines, str) else lines


def _rows(
    lines: str | Iterable[str], columns: tuple[str, ...], source: str | None
) -> Iterator[_Row]:
    expected = len(columns)
    first = True
    for number, raw in enumerate(_lines(lines), start=1):
        text = raw.rstrip("\r\n")
        if first and text.startswith("\ufeff"):
            text = text[1:]
        if not text.strip():
            continue
        fields = text.split(",")
        if first:
            first = False
            if _is_header(fields):
                if len(fields) != expected:
                    raise MarketDataError(
                        f"header has {len(fields)} columns, expected {expected} "
                        f"({','.join(columns)})",
                        line=number,
                        value=text,
                        source=source,
                    )
                continue
        if len(fields) != expected:
            raise MarketDataError(
                f"row has {len(fields)} columns, expected {expected} ({','.join(columns)})",
                line=number,
                value=text,
                source=source,
            )
        yield _Row(fields, number, columns, source)
