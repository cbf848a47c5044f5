"""data.binance.vision names and paths: what a file is, and where a day's archive lives.

Layout (``trigger-semantics.md`` section 4)::

    data/{spot|futures/um}/{daily|monthly}/{type}/{SYMBOL}/[{interval}/]{SYMBOL}-{type|interval}-{date}.zip

A kline-like file (``klines``, ``markPriceKlines``, ``indexPriceKlines``, ``premiumIndexKlines``)
is named by its *interval* only, so its type (and, for every file, the market) can only be read
from the directories above it. :func:`parse_archive_name` reads what the name and the path say and
leaves the rest ``None`` for the loader to infer from the content. The fetch cache and the synthetic
archives use the published layout, so names parsed from their paths are complete.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path, PurePath, PurePosixPath
from typing import Literal, cast

from .series import Market

__all__ = [
    "DATA_TYPES",
    "INTERVALS",
    "KLINE_TYPES",
    "MARKET_TYPES",
    "ArchiveName",
    "DataType",
    "Period",
    "archive_relpath",
    "interval_ms",
    "market_dir",
    "parse_archive_name",
]

DataType = Literal[
    "aggTrades",
    "trades",
    "klines",
    "markPriceKlines",
    "indexPriceKlines",
    "premiumIndexKlines",
    "bookTicker",
]
Period = Literal["daily", "monthly"]

DATA_TYPES: tuple[DataType, ...] = (
    "aggTrades",
    "trades",
    "klines",
    "markPriceKlines",
    "indexPriceKlines",
    "premiumIndexKlines",
    "bookTicker",
)
KLINE_TYPES: frozenset[str] = frozenset(
    {"klines", "markPriceKlines", "indexPriceKlines", "premiumIndexKlines"}
)
# Which types each market publishes (section 4, "Types"); spot never had bookTicker or mark prices.
MARKET_TYPES: dict[Market, frozenset[str]] = {
    "spot": frozenset({"klines", "aggTrades", "trades"}),
    "um": frozenset(DATA_TYPES),
}

# Kline intervals as published ("1mo", not "1M"); values in milliseconds. "1mo" has no fixed
# length, so it maps to None and callers that need a duration must refuse it.
_MINUTE = 60_000
_INTERVALS: dict[str, int | None] = {
    "1s": 1_000,
    "1m": _MINUTE,
    "3m": 3 * _MINUTE,
    "5m": 5 * _MINUTE,
    "15m": 15 * _MINUTE,
    "30m": 30 * _MINUTE,
    "1h": 60 * _MINUTE,
    "2h": 120 * _MINUTE,
    "4h": 240 * _MINUTE,
    "6h": 360 * _MINUTE,
    "8h": 480 * _MINUTE,
    "12h": 720 * _MINUTE,
    "1d": 1440 * _MINUTE,
    "3d": 3 * 1440 * _MINUTE,
    "1w": 7 * 1440 * _MINUTE,
    "1mo": None,
}
INTERVALS: tuple[str, ...] = tuple(_INTERVALS)

_NAME = re.compile(
    r"^(?P<symbol>[A-Z0-9]+)-(?P<kind>[A-Za-z0-9]+)-"
    r"(?P<year>\d{4})-(?P<month>\d{2})(?:-(?P<day>\d{2}))?"
    r"(?P<ext>\.csv|\.zip)?(?:\.CHECKSUM)?$"
)


def interval_ms(interval: str) -> int:
    """The length of a kline interval in ms; ``ValueError`` for unknown intervals and ``1mo``."""
    if interval not in _INTERVALS:
        raise ValueError(f"unknown kline interval {interval!r}; use one of {', '.join(INTERVALS)}")
    ms = _INTERVALS[interval]
    if ms is None:
        raise ValueError("interval 1mo has no fixed length")
    return ms


def market_dir(market: Market) -> str:
    """The directory under ``data/`` for a market: ``spot`` or ``futures/um``."""
    if market == "spot":
        return "spot"
    if market == "um":
        return "futures/um"
    raise ValueError(f"market must be 'spot' or 'um', got {market!r}")


@dataclass(frozen=True, slots=True)
class ArchiveName:
    """What a data.binance.vision file name (and its directories) say about the file.

    ``data_type`` is ``None`` for a kline-like name whose directories do not say which kline
    series it is; ``market`` is ``None`` when no ``spot`` / ``futures/um`` directory is in the path.
    ``date`` is the file's day, or the first day of the month for monthly files.
    """

    symbol: str
    market: Market | None
    data_type: DataType | None
    interval: str | None
    period: Period
    date: date

    @property
    def is_kline(self) -> bool:
        return self.interval is not None


def parse_archive_name(name: str | PurePath) -> ArchiveName:
    """Parse ``SYMBOL-{type|interval}-YYYY-MM[-DD][.zip|.csv]`` and read the directories above it.

    Raises ``ValueError`` naming the file when the name is not in the published form.
    """
    path = PurePosixPath(Path(name).as_posix()) if not isinstance(name, PurePath) else name
    m = _NAME.match(path.name)
    if m is None:
        raise ValueError(
            f"{path.name}: not a data.binance.vision file name "
            "(expected SYMBOL-TYPE-YYYY-MM-DD.zip or SYMBOL-INTERVAL-YYYY-MM-DD.zip)"
        )
    symbol, kind = m.group("symbol"), m.group("kind")
    try:
        day = date(int(m.group("year")), int(m.group("month")), int(m.group("day") or 1))
    except ValueError as exc:
        raise ValueError(f"{path.name}: bad date in the file name ({exc})") from None
    period: Period = "daily" if m.group("day") else "monthly"
    parts = list(path.parent.parts)
    market = _market_from_parts(parts)
    data_type: DataType | None
    interval: str | None
    if kind in _INTERVALS:
        interval = kind
        # The kline type is the directory two levels up: .../{type}/{SYMBOL}/{interval}/file.
        data_type = _kline_type_from_parts(parts, symbol, interval)
    elif kind in DATA_TYPES and kind not in KLINE_TYPES:
        interval = None
        data_type = cast(DataType, kind)  # checked against DATA_TYPES just above
    else:
        raise ValueError(
            f"{path.name}: {kind!r} is neither a data type ({', '.join(DATA_TYPES)}) "
            f"nor a kline interval ({', '.join(INTERVALS)})"
        )
    return ArchiveName(symbol, market, data_type, interval, period, day)


def archive_relpath(
    symbol: str,
    market: Market,
    data_type: DataType,
    day: date,
    *,
    interval: str | None = None,
    period: Period = "daily",
) -> PurePosixPath:
    """``data/.../SYMBOL-...-DATE.zip``: the path under the base URL (and under a local mirror)."""
    if data_type not in DATA_TYPES:
        raise ValueError(f"unknown data type {data_type!r}; use one of {', '.join(DATA_TYPES)}")
    if data_type not in MARKET_TYPES[market]:
        raise ValueError(f"{market} has no {data_type} files")
    stamp = day.isoformat() if period == "daily" else day.strftime("%Y-%m")
    base = PurePosixPath("data", market_dir(market), period, data_type, symbol)
    if data_type in KLINE_TYPES:
        if interval is None:
            raise ValueError(f"{data_type} needs an interval (one of {', '.join(INTERVALS)})")
        if interval not in _INTERVALS:
            raise ValueError(
                f"unknown kline interval {interval!r}; use one of {', '.join(INTERVALS)}"
            )
        return base / interval / f"{symbol}-{interval}-{stamp}.zip"
    return base / f"{symbol}-{data_type}-{stamp}.zip"


def _market_from_parts(parts: list[str]) -> Market | None:
    for i in range(len(parts) - 1, -1, -1):
        if parts[i] == "spot":
            return "spot"
        if parts[i] == "um" and i > 0 and parts[i - 1] == "futures":
            return "um"
    return None


def _kline_type_from_parts(parts: list[str], symbol: str, interval: str) -> DataType | None:
    if len(parts) >= 3 and parts[-1] == interval and parts[-2] == symbol:
        candidate = parts[-3]
        if candidate in KLINE_TYPES:
            return candidate  # type: ignore[return-value]  # one of the kline DataTypes
    # A file kept beside others in a directory named like its type (no symbol/interval levels).
    for part in reversed(parts):
        if part in KLINE_TYPES:
            return part  # type: ignore[return-value]
    return None
