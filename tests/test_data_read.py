"""exitguard.data readers and loaders on hand-written data.binance.vision files (section 4)."""

from __future__ import annotations

import hashlib
import zipfile
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from exitguard.data.cache import cache_file, read_cached
from exitguard.data.load import load_bars, load_book_ticker, load_trades
from exitguard.data.read import ChecksumError, DataFileError, read_table
from exitguard.data.series import units_to_decimal
from exitguard.domain.market_data import MarketDataError, parse_agg_trades, parse_klines

SPOT_AGG_US = (
    "3366214183,93576.00000000,0.00012000,4396718585,4396718585,1735689600013432,True,True\n"
    "3366214184,93576.01000000,0.02291000,4396718586,4396718589,1735689600064999,False,True\n"
)
SPOT_AGG_MS = (
    "1,42283.58000000,0.00510000,10,12,1704067200123,False,True\n"
    "2,42283.59000000,0.10000000,13,13,1704067200200,true,TRUE\n"
)
UM_AGG = (
    "agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker\n"
    "2493011345,93500.10,0.005,5788104003,5788104005,1735689600101,true\n"
    "2493011346,93500.0,0.120,5788104006,5788104006,1735689600102,false\n"
)
SPOT_TRADES = (
    "100,93576.00000000,0.00012000,11.22912000,1735689600013432,True,True\n"
    "101,93576.01000000,0.02000000,1871.52020000,1735689600014000,False,True\n"
)
UM_TRADES = (
    "id,price,qty,quote_qty,time,is_buyer_maker\n"
    "5,93500.1,0.005,467.5005,1704067200000,true\n"
    "6,93500.2,0.010,935.002,1704067200001,false\n"
)
KLINE_HEADER = (
    "open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,"
    "taker_buy_quote_volume,ignore\n"
)
UM_KLINES = (
    KLINE_HEADER + "1704067200000,42314.00,42335.80,42289.60,42331.90,289.641,1704067259999,"
    "12254124.77250,2906,157.426,6660399.67770,0\n"
    "1704067260000,42331.90,42353.10,42331.80,42350.40,209.577,1704067319999,8871674.42370,"
    "1863,150.765,6382150.11540,0\n"
)
SPOT_KLINES_US = (
    "1735689600000000,93576.00000000,93610.93000000,93537.50000000,93610.93000000,8.21827000,"
    "1735689659999999,768978.42240300,2431,3.22140000,301428.69436590,0\n"
)
MARK_KLINES = (
    KLINE_HEADER + "1735689600000,93520.1,93610.0,93480.2,93590.4,0,1735689659999,0,60,0,0,0\n"
    "1735689660000,93590.4,93600.0,93400.0,93450.0,0,1735689719999,0,60,0,0,0\n"
)
BOOK_HEADER = (
    "update_id,best_bid_price,best_bid_qty,best_ask_price,best_ask_qty,transaction_time,"
    "event_time\n"
)
# Rows out of order, as published files sometimes are (section 4).
BOOK = BOOK_HEADER + (
    "300,42000.10,1.500,42000.20,0.300,1704067200005,1704067200006\n"
    "100,42000.00,1.000,42000.10,2.000,1704067200001,1704067200002\n"
    "200,42000.00,0.500,42000.30,0.250,1704067200001,1704067200003\n"
)


def write(
    root: Path, rel: str, text: str, *, zipped: bool = True, checksum: bool | str = True
) -> Path:
    """A file as published: ``rel`` names the zip (or CSV); the zip holds the same-stem CSV."""
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if zipped:
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr(path.with_suffix(".csv").name, text)
    else:
        path.write_text(text, newline="")
    if checksum:
        digest = (
            checksum if isinstance(checksum, str) else hashlib.sha256(path.read_bytes()).hexdigest()
        )
        path.with_name(path.name + ".CHECKSUM").write_text(f"{digest}  {path.name}\n")
    return path


def dec(units: np.int64 | int, exp: int) -> Decimal:
    return units_to_decimal(int(units), exp)


# --- every file type ----------------------------------------------------------------------------


@pytest.mark.parametrize("zipped", [True, False])
def test_spot_agg_trades_no_header_microseconds(tmp_path: Path, zipped: bool) -> None:
    ext = "zip" if zipped else "csv"
    path = write(tmp_path, f"BTCUSDT-aggTrades-2025-01-01.{ext}", SPOT_AGG_US, zipped=zipped)
    table = read_table(path)
    assert (table.data_type, table.market, table.header, table.time_unit) == (
        "aggTrades",
        "spot",
        False,
        "us",
    )
    assert table.checksum_verified
    s = load_trades([path])
    assert (s.symbol, s.market, s.price_exp, s.qty_exp) == ("BTCUSDT", "spot", 8, 8)
    assert s.time_ms.tolist() == [1735689600013, 1735689600064]  # floored, not rounded
    assert [dec(p, s.price_exp) for p in s.price] == [Decimal("93576"), Decimal("93576.01")]
    assert [dec(q, s.qty_exp) for q in s.qty] == [Decimal("0.00012"), Decimal("0.02291")]
    assert s.is_buyer_maker.tolist() == [True, False]
    assert s.time_ms.dtype == np.int64 and s.price.dtype == np.int64


def test_spot_agg_trades_milliseconds_and_any_case_booleans(tmp_path: Path) -> None:
    path = write(tmp_path, "BTCUSDT-aggTrades-2024-01-01.zip", SPOT_AGG_MS)
    assert read_table(path).time_unit == "ms"
    s = load_trades(path)
    assert s.time_ms.tolist() == [1704067200123, 1704067200200]
    assert s.is_buyer_maker.tolist() == [False, True]


def test_um_agg_trades_header_and_mixed_decimals(tmp_path: Path) -> None:
    path = write(
        tmp_path, "data/futures/um/daily/aggTrades/BTCUSDT/BTCUSDT-aggTrades-2025-01-01.zip", UM_AGG
    )
    table = read_table(path)
    assert (table.market, table.header, table.time_unit) == ("um", True, "ms")
    s = load_trades([path])
    # "93500.10" and "93500.0": price_exp is the most decimals written, units are exact.
    assert s.price_exp == 2 and s.price.tolist() == [9350010, 9350000]
    assert s.qty_exp == 3 and s.qty.tolist() == [5, 120]


def test_trades_spot_and_um(tmp_path: Path) -> None:
    spot = write(tmp_path, "BTCUSDT-trades-2025-01-01.zip", SPOT_TRADES)
    um = write(tmp_path, "um/BTCUSDT-trades-2024-01-01.csv", UM_TRADES, zipped=False)
    s = load_trades(spot)
    assert (s.market, len(s), s.time_ms.tolist()) == ("spot", 2, [1735689600013, 1735689600014])
    u = load_trades(um)
    assert u.market == "um" and read_table(um).header
    assert [dec(p, u.price_exp) for p in u.price] == [Decimal("93500.1"), Decimal("93500.2")]


def test_klines_um_header_spot_microseconds_and_interval_from_name(tmp_path: Path) -> None:
    um = write(
        tmp_path, "data/futures/um/daily/klines/BTCUSDT/1m/BTCUSDT-1m-2024-01-01.zip", UM_KLINES
    )
    bars = load_bars(um)
    assert (bars.source, bars.interval, bars.market, bars.price_exp) == ("klines", "1m", "um", 2)
    assert bars.open_time_ms.tolist() == [1704067200000, 1704067260000]
    assert bars.close_time_ms.tolist() == [1704067259999, 1704067319999]
    assert [dec(v, 2) for v in (bars.open[0], bars.high[0], bars.low[0], bars.close[0])] == [
        Decimal("42314"),
        Decimal("42335.8"),
        Decimal("42289.6"),
        Decimal("42331.9"),
    ]
    spot = write(tmp_path, "BTCUSDT-1m-2025-01-01.zip", SPOT_KLINES_US)
    table = read_table(spot)
    assert (table.market, table.time_unit, table.header) == ("spot", "us", False)  # µs ⇒ spot
    b = load_bars(spot)
    assert b.open_time_ms.tolist() == [1735689600000] and b.close_time_ms.tolist() == [
        1735689659999
    ]


def test_mark_price_klines_from_the_published_layout(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "data/futures/um/daily/markPriceKlines/BTCUSDT/1m/BTCUSDT-1m-2025-01-01.zip",
        MARK_KLINES,
    )
    bars = load_bars([path])
    assert (bars.source, bars.interval, bars.price_exp, len(bars)) == (
        "markPriceKlines",
        "1m",
        1,
        2,
    )
    assert bars.low.tolist() == [934802, 934000]


def test_bars_interval_and_source_when_the_name_says_nothing(tmp_path: Path) -> None:
    path = write(tmp_path, "bars.csv", MARK_KLINES, zipped=False)
    with pytest.raises(ValueError, match="pass symbol"):
        load_bars(path)
    bars = load_bars(path, symbol="BTCUSDT", source="markPriceKlines")
    assert (bars.interval, bars.source, bars.market) == ("1m", "markPriceKlines", "um")
    # A headerless, millisecond kline file cannot say its market.
    bare = write(tmp_path, "bare.csv", MARK_KLINES.split("\n", 1)[1], zipped=False)
    with pytest.raises(ValueError, match="market"):
        load_bars(bare, symbol="BTCUSDT")
    assert load_bars(bare, symbol="BTCUSDT", market="um").market == "um"


def test_book_ticker_rows_sorted_by_time_then_update_id(tmp_path: Path) -> None:
    path = write(tmp_path, "BTCUSDT-bookTicker-2024-01-01.zip", BOOK)
    b = load_book_ticker(path)
    assert (b.market, b.price_exp, b.qty_exp) == ("um", 2, 3)
    assert b.time_ms.tolist() == [1704067200001, 1704067200001, 1704067200005]
    assert b.bid.tolist() == [4200000, 4200000, 4200010]
    assert b.ask.tolist() == [4200010, 4200030, 4200020]
    assert b.bid_qty.tolist() == [1000, 500, 1500] and b.ask_qty.tolist() == [2000, 250, 300]


def test_crlf_bom_blank_lines_and_no_final_newline(tmp_path: Path) -> None:
    text = "\ufeff" + UM_AGG.replace("\n", "\r\n").replace(
        "\r\n2493011346", "\r\n\r\n  \r\n2493011346"
    )
    path = write(tmp_path, "BTCUSDT-aggTrades-2025-01-01.csv", text.rstrip("\r\n"), zipped=False)
    s = load_trades(path)
    assert s.price.tolist() == [9350010, 9350000]


def test_empty_file_with_header_only(tmp_path: Path) -> None:
    path = write(tmp_path, "BTCUSDT-aggTrades-2025-01-01.zip", UM_AGG.split("\n")[0] + "\n")
    s = load_trades(path)
    assert len(s) == 0 and s.market == "um"


def test_exact_units_never_through_float(tmp_path: Path) -> None:
    prices = ["0.1", "0.30000000", "123456789.12345678", "7", "0.00000001"]
    rows = "".join(
        f"{i},{p},1.5,{i},{i},{1704067200000 + i},false,true\n" for i, p in enumerate(prices)
    )
    s = load_trades(write(tmp_path, "XUSDT-aggTrades-2024-01-01.zip", rows))
    assert s.price_exp == 8 and s.qty_exp == 1
    assert [dec(p, 8) for p in s.price] == [Decimal(p) for p in prices]
    assert s.price[0] == 10_000_000  # float(0.1) * 1e8 would also work; 0.3 would not:
    assert s.price[1] == 30_000_000


def test_matches_the_domain_parser_row_for_row(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    lines = []
    for i in range(500):
        price = f"{rng.integers(1, 10**7)}.{rng.integers(0, 10**4):04d}"[: rng.integers(3, 13)]
        price = price.rstrip(".") or "1"
        qty = f"0.{rng.integers(1, 10**6):06d}"
        lines.append(f"{i},{price},{qty},{i},{i + 1},{1704067200000 + i * 7},{i % 3 == 0},True")
    text = "\n".join(lines) + "\n"
    s = load_trades(write(tmp_path, "XUSDT-aggTrades-2024-01-01.csv", text, zipped=False))
    ref = parse_agg_trades(text, "spot")
    assert [dec(p, s.price_exp) for p in s.price] == [r.price for r in ref]
    assert [dec(q, s.qty_exp) for q in s.qty] == [r.qty for r in ref]
    assert s.time_ms.tolist() == [r.time_ms for r in ref]
    assert s.is_buyer_maker.tolist() == [r.is_buyer_maker for r in ref]
    bars = parse_klines(UM_KLINES)
    got = load_bars(write(tmp_path, "XUSDT-1m-2024-01-01.zip", UM_KLINES))
    assert [dec(v, got.price_exp) for v in got.high] == [b.high for b in bars]


# --- checksums ----------------------------------------------------------------------------------


def test_checksum_mismatch_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "BTCUSDT-aggTrades-2025-01-01.zip", SPOT_AGG_US, checksum="0" * 64)
    with pytest.raises(ChecksumError, match=r"BTCUSDT-aggTrades-2025-01-01\.zip.*does not match"):
        load_trades(path)


def test_malformed_checksum_file(tmp_path: Path) -> None:
    path = write(tmp_path, "BTCUSDT-aggTrades-2025-01-01.zip", SPOT_AGG_US, checksum="nothex")
    with pytest.raises(DataFileError, match=r"CHECKSUM: must start with a 64-hex-digit sha256"):
        read_table(path)


def test_no_checksum_file_is_fine(tmp_path: Path) -> None:
    path = write(tmp_path, "BTCUSDT-aggTrades-2025-01-01.zip", SPOT_AGG_US, checksum=False)
    assert not read_table(path).checksum_verified


def test_zip_with_two_members_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "BTCUSDT-aggTrades-2025-01-01.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("a.csv", SPOT_AGG_US)
        zf.writestr("b.csv", SPOT_AGG_US)
    with pytest.raises(DataFileError, match=r"exactly one \.csv"):
        read_table(path)


# --- bad rows: file, line, column -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "line", "column", "rule"),
    [
        (UM_AGG.replace("93500.0,", "93x00.0,"), 3, "2:price", "must be a decimal number"),
        (UM_AGG.replace(",true\n", ",yes\n"), 2, "7:is_buyer_maker", "must be true or false"),
        (UM_AGG.replace("5788104006,5788104006", "5788104006,-1"), 3, "5:last_trade_id", "integer"),
        (
            UM_AGG.replace("5788104003,5788104005", "5788104005,5788104003"),
            2,
            "5:last_trade_id",
            ">= first",
        ),
        (UM_AGG.replace("93500.0,", "0.00,"), 3, "2:price", "must be > 0"),
        (UM_AGG.replace("0.005,", "0,"), 2, "3:quantity", "must be > 0"),
        (
            UM_AGG.replace("1735689600102", "100000000000000000"),
            3,
            "6:transact_time",
            "microseconds",
        ),
        (UM_AGG.replace("93500.0,", "1234567890123456789.0,"), 3, "2:price", "more than 18 digits"),
        (UM_AGG.replace("93500.0,", "1.2.3,"), 3, "2:price", "decimal"),
        (UM_AGG.replace("93500.0,", ","), 3, "2:price", "decimal"),
    ],
)
def test_bad_rows_name_file_line_and_column(
    tmp_path: Path, text: str, line: int, column: str, rule: str
) -> None:
    path = write(tmp_path, "BTCUSDT-aggTrades-2025-01-01.zip", text)
    with pytest.raises(MarketDataError) as info:
        load_trades(path)
    err = info.value
    assert (err.line, err.column) == (line, column)
    assert rule in str(err)
    assert "BTCUSDT-aggTrades-2025-01-01.zip!BTCUSDT-aggTrades-2025-01-01.csv" in str(err)


def test_wrong_column_count_and_bad_header(tmp_path: Path) -> None:
    text = UM_AGG.replace(",false\n", ",false,extra\n")
    with pytest.raises(MarketDataError, match=r"line 3: row has 8 columns, expected 7"):
        load_trades(write(tmp_path, "BTCUSDT-aggTrades-2025-01-01.zip", text))
    bad_header = "agg_trade_id,price,quantity\n" + UM_AGG.split("\n", 1)[1]
    with pytest.raises(MarketDataError, match=r"line 1: header has 3 columns, expected 7"):
        load_trades(write(tmp_path, "BTCUSDT-aggTrades-2025-01-02.zip", bad_header), market="um")


@pytest.mark.parametrize(
    ("old", "new", "column", "rule"),
    [
        ("42335.80,42289.60", "42300.00,42289.60", "3:high", "high must be >= open"),
        ("42335.80,42289.60", "42335.80,42320.00", "4:low", "low must be <= open"),
        ("1704067259999", "1704067100000", "7:close_time", "close_time must be >= open_time"),
        ("1704067259999", "1704067259999000", "7:close_time", "same unit"),
    ],
)
def test_bad_klines(tmp_path: Path, old: str, new: str, column: str, rule: str) -> None:
    path = write(tmp_path, "BTCUSDT-1m-2024-01-01.zip", UM_KLINES.replace(old, new))
    with pytest.raises(MarketDataError) as info:
        load_bars(path)
    assert (info.value.line, info.value.column) == (2, column)
    assert rule in str(info.value)


# --- several files ------------------------------------------------------------------------------


def test_files_concatenate_in_time_order_with_a_common_exponent(tmp_path: Path) -> None:
    day2 = write(
        tmp_path,
        "um/BTCUSDT-aggTrades-2025-01-02.zip",
        UM_AGG.replace("17356896001", "17357760001"),
    )
    day1_text = UM_AGG.replace("93500.10", "93499.125").replace("0.120", "0.1205")
    day1 = write(tmp_path, "um/BTCUSDT-aggTrades-2025-01-01.zip", day1_text)
    s = load_trades([day2, day1])  # given out of order
    assert (s.price_exp, s.qty_exp) == (3, 4)
    assert [dec(p, 3) for p in s.price] == [
        Decimal("93499.125"),
        Decimal("93500"),
        Decimal("93500.1"),
        Decimal("93500"),
    ]
    assert s.qty.tolist() == [50, 1205, 50, 1200]
    assert bool(np.all(np.diff(s.time_ms) >= 0))


def test_overlapping_files_are_resorted(tmp_path: Path) -> None:
    a = write(tmp_path, "a/BTCUSDT-aggTrades-2024-01-01.zip", SPOT_AGG_MS)
    later = SPOT_AGG_MS.replace("1704067200123", "1704067200150").replace(
        "1704067200200", "1704067200300"
    )
    b = write(tmp_path, "b/BTCUSDT-aggTrades-2024-01-01.zip", later)
    s = load_trades([a, b])
    assert s.time_ms.tolist() == [1704067200123, 1704067200150, 1704067200200, 1704067200300]


def test_files_must_agree(tmp_path: Path) -> None:
    spot = write(tmp_path, "BTCUSDT-aggTrades-2025-01-01.zip", SPOT_AGG_US)
    um = write(tmp_path, "u/BTCUSDT-aggTrades-2025-01-02.zip", UM_AGG)
    eth = write(tmp_path, "ETHUSDT-aggTrades-2025-01-01.zip", SPOT_AGG_US)
    trades = write(tmp_path, "BTCUSDT-trades-2025-01-01.zip", SPOT_TRADES)
    with pytest.raises(ValueError, match="mix spot and USD-M"):
        load_trades([spot, um])
    with pytest.raises(ValueError, match="different symbols"):
        load_trades([spot, eth])
    with pytest.raises(DataFileError, match="file is for ETHUSDT, not for BTCUSDT"):
        load_trades([eth], symbol="BTCUSDT")
    with pytest.raises(ValueError, match="mix data types"):
        load_trades([spot, trades])
    with pytest.raises(DataFileError, match="the path says aggTrades, not klines"):
        load_bars(spot)
    with pytest.raises(ValueError, match="no files"):
        load_trades([])


def test_market_override_conflicting_with_the_layout(tmp_path: Path) -> None:
    path = write(
        tmp_path, "data/spot/daily/aggTrades/BTCUSDT/BTCUSDT-aggTrades-2025-01-01.zip", SPOT_AGG_US
    )
    with pytest.raises(DataFileError, match="path says market spot"):
        load_trades(path, market="um")


# --- the .npz cache -----------------------------------------------------------------------------


def test_cache_is_written_reused_and_invalidated(tmp_path: Path) -> None:
    path = write(tmp_path, "BTCUSDT-aggTrades-2025-01-01.zip", SPOT_AGG_US)
    table, hit = read_cached(path)
    assert not hit and cache_file(path).exists()
    again, hit = read_cached(path)
    assert hit and again.checksum_verified
    assert again.col("price").tolist() == table.col("price").tolist()
    # Same bytes, new mtime: hashed again, still fresh.
    path.touch()
    _, hit = read_cached(path)
    assert hit
    # New content (and a matching checksum): the cache is stale and rewritten.
    write(tmp_path, "BTCUSDT-aggTrades-2025-01-01.zip", SPOT_AGG_MS)
    fresh, hit = read_cached(path)
    assert not hit and fresh.time_unit == "ms"
    # Content changed under a stale checksum: the cache does not hide the mismatch.
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("BTCUSDT-aggTrades-2025-01-01.csv", SPOT_AGG_US)
    with pytest.raises(ChecksumError):
        read_cached(path)


def test_damaged_cache_is_ignored_and_cache_false_writes_nothing(tmp_path: Path) -> None:
    path = write(tmp_path, "BTCUSDT-aggTrades-2025-01-01.zip", SPOT_AGG_US)
    cache_file(path).write_bytes(b"not an npz")
    table, hit = read_cached(path)
    assert not hit and table.rows == 2
    assert read_cached(path)[1]  # rewritten
    other = write(tmp_path, "x/BTCUSDT-aggTrades-2025-01-01.zip", SPOT_AGG_US)
    load_trades(other, cache=False)
    assert not cache_file(other).exists()


def test_load_uses_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, "BTCUSDT-aggTrades-2025-01-01.zip", SPOT_AGG_US)
    first = load_trades(path)

    def boom(*_a: object, **_k: object) -> None:
        raise AssertionError("parsed again")

    monkeypatch.setattr("exitguard.data.cache.read_table", boom)
    second = load_trades(path)
    assert second.price.tolist() == first.price.tolist()
    assert second.time_ms.tolist() == first.time_ms.tolist()
