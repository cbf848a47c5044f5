"""data.binance.vision file names and paths (reference section 4, "Layout")."""

from __future__ import annotations

from datetime import date
from pathlib import Path, PurePosixPath

import pytest

from exitguard.data.names import (
    ArchiveName,
    archive_relpath,
    interval_ms,
    parse_archive_name,
)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "BTCUSDT-aggTrades-2025-01-01.zip",
            ArchiveName("BTCUSDT", None, "aggTrades", None, "daily", date(2025, 1, 1)),
        ),
        (
            "BTCUSDT-trades-2024-03.zip",
            ArchiveName("BTCUSDT", None, "trades", None, "monthly", date(2024, 3, 1)),
        ),
        (
            "1000PEPEUSDT-bookTicker-2024-03-30.csv",
            ArchiveName("1000PEPEUSDT", None, "bookTicker", None, "daily", date(2024, 3, 30)),
        ),
        (
            "BTCUSDT-1m-2024-01-02.zip",
            ArchiveName("BTCUSDT", None, None, "1m", "daily", date(2024, 1, 2)),
        ),
        (
            "data/spot/daily/aggTrades/BTCUSDT/BTCUSDT-aggTrades-2025-01-01.zip",
            ArchiveName("BTCUSDT", "spot", "aggTrades", None, "daily", date(2025, 1, 1)),
        ),
        (
            "/c/data/futures/um/daily/markPriceKlines/BTCUSDT/1m/BTCUSDT-1m-2024-01-02.zip",
            ArchiveName("BTCUSDT", "um", "markPriceKlines", "1m", "daily", date(2024, 1, 2)),
        ),
        (
            "data/futures/um/monthly/klines/ETHUSDT/1mo/ETHUSDT-1mo-2024-01.zip",
            ArchiveName("ETHUSDT", "um", "klines", "1mo", "monthly", date(2024, 1, 1)),
        ),
        (
            "x/indexPriceKlines/BTCUSDT-1h-2024-01-02.zip.CHECKSUM",
            ArchiveName("BTCUSDT", None, "indexPriceKlines", "1h", "daily", date(2024, 1, 2)),
        ),
    ],
)
def test_parse_archive_name(name: str, expected: ArchiveName) -> None:
    assert parse_archive_name(name) == expected
    assert parse_archive_name(Path(name)) == expected


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("prices.csv", "not a data.binance.vision file name"),
        ("BTCUSDT-depth-2024-01-01.zip", "neither a data type"),
        ("BTCUSDT-aggTrades-2024-02-30.zip", "bad date"),
        ("BTCUSDT-1M-2024-01-01.zip", "neither a data type"),  # published as 1mo
    ],
)
def test_parse_archive_name_errors(name: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_archive_name(name)


def test_archive_relpath_round_trips() -> None:
    rel = archive_relpath("BTCUSDT", "um", "markPriceKlines", date(2024, 1, 2), interval="1m")
    assert rel == PurePosixPath(
        "data/futures/um/daily/markPriceKlines/BTCUSDT/1m/BTCUSDT-1m-2024-01-02.zip"
    )
    assert parse_archive_name(rel).data_type == "markPriceKlines"
    rel = archive_relpath("BTCUSDT", "spot", "aggTrades", date(2025, 1, 1))
    assert str(rel) == "data/spot/daily/aggTrades/BTCUSDT/BTCUSDT-aggTrades-2025-01-01.zip"
    monthly = archive_relpath("BTCUSDT", "spot", "trades", date(2024, 3, 1), period="monthly")
    assert monthly.name == "BTCUSDT-trades-2024-03.zip"


def test_archive_relpath_errors() -> None:
    with pytest.raises(ValueError, match="spot has no bookTicker"):
        archive_relpath("BTCUSDT", "spot", "bookTicker", date(2024, 1, 1))
    with pytest.raises(ValueError, match="needs an interval"):
        archive_relpath("BTCUSDT", "um", "klines", date(2024, 1, 1))
    with pytest.raises(ValueError, match="unknown kline interval"):
        archive_relpath("BTCUSDT", "um", "klines", date(2024, 1, 1), interval="2m")


def test_interval_ms() -> None:
    assert interval_ms("1s") == 1000
    assert interval_ms("1m") == 60_000
    assert interval_ms("1w") == 7 * 86_400_000
    with pytest.raises(ValueError, match="no fixed length"):
        interval_ms("1mo")
    with pytest.raises(ValueError, match="unknown"):
        interval_ms("7m")
