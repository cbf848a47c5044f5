"""Parsers for data.binance.vision CSV text (reference trigger-semantics.md section 4)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from exitguard.domain.market_data import (
    MICROSECONDS_THRESHOLD,
    AggTrade,
    Kline,
    MarketDataError,
    TimeUnit,
    normalise_timestamp,
    parse_agg_trades,
    parse_klines,
    parse_trades,
)

# Spot from 2025-01-01: no header, microsecond timestamps, Python-style booleans.
SPOT_AGG_US = (
    "3366214183,93576.00000000,0.00012000,4396718585,4396718585,1735689600013432,True,True\n"
    "3366214184,93576.01000000,0.02291000,4396718586,4396718589,1735689600064999,False,True\n"
)
# Spot before 2025: milliseconds.
SPOT_AGG_MS = "1,42283.58000000,0.00510000,10,12,1704067200123,False,True\n"
UM_AGG_HEADER = (
    "agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker\n"
    "2493011345,93500.10,0.005,5788104003,5788104005,1735689600101,true\n"
    "2493011346,93500.00,0.120,5788104006,5788104006,1735689600101,false\n"
)
KLINE_HEADER = (
    "open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,"
    "taker_buy_quote_volume,ignore\n"
)
MARK_KLINES = (
    KLINE_HEADER + "1735689600000,93520.1,93610.0,93480.2,93590.4,0,1735689659999,0,60,0,0,0\n"
    "1735689660000,93590.4,93600.0,93400.0,93450.0,0,1735689719999,0,60,0,0,0\n"
)


def test_spot_agg_trades_without_header_microseconds_are_floored_to_ms() -> None:
    rows = parse_agg_trades(SPOT_AGG_US, "spot")
    assert [r.agg_id for r in rows] == [3366214183, 3366214184]
    first = rows[0]
    assert first.price == Decimal("93576.00000000")
    assert first.qty == Decimal("0.00012000")
    assert first.time_ms == 1735689600013
    assert first.time_unit is TimeUnit.MICROSECONDS
    assert first.raw_time == 1735689600013432
    assert first.is_buyer_maker is True
    assert first.is_best_match is True
    assert (first.first_trade_id, first.last_trade_id) == (4396718585, 4396718585)
    assert rows[1].time_ms == 1735689600064  # floor, not round
    assert rows[1].is_buyer_maker is False


def test_spot_agg_trades_in_milliseconds_before_2025() -> None:
    (row,) = parse_agg_trades(SPOT_AGG_MS, "spot")
    assert row.time_ms == 1704067200123
    assert row.time_unit is TimeUnit.MILLISECONDS


def test_um_agg_trades_with_header_have_no_best_match() -> None:
    rows = parse_agg_trades(UM_AGG_HEADER, "um")
    assert len(rows) == 2
    assert rows[0] == AggTrade(
        2493011345,
        Decimal("93500.10"),
        Decimal("0.005"),
        1735689600101,
        True,
        first_trade_id=5788104003,
        last_trade_id=5788104005,
        is_best_match=None,
        time_unit=TimeUnit.MILLISECONDS,
        raw_time=1735689600101,
    )


def test_header_is_optional_for_both_markets() -> None:
    um_no_header = UM_AGG_HEADER.split("\n", 1)[1]
    assert parse_agg_trades(um_no_header, "um") == parse_agg_trades(UM_AGG_HEADER, "um")
    spot_header = (
        "agg_id,price,qty,first_trade_id,last_trade_id,timestamp,is_buyer_maker,is_best_match\n"
    )
    assert parse_agg_trades(spot_header + SPOT_AGG_US, "spot") == parse_agg_trades(
        SPOT_AGG_US, "spot"
    )


def test_accepts_iterables_of_lines_crlf_bom_and_blank_lines() -> None:
    lines = ["\ufeff" + UM_AGG_HEADER.splitlines()[0] + "\r\n", "\r\n"]
    lines += [line + "\r\n" for line in UM_AGG_HEADER.splitlines()[1:]] + ["\n"]
    assert parse_agg_trades(lines, "um") == parse_agg_trades(UM_AGG_HEADER, "um")
    assert parse_agg_trades("", "spot") == []
    assert parse_klines([]) == []


def test_mark_price_klines_with_header() -> None:
    bars = parse_klines(MARK_KLINES)
    assert bars[0] == Kline(
        1735689600000,
        Decimal("93520.1"),
        Decimal("93610.0"),
        Decimal("93480.2"),
        Decimal("93590.4"),
        1735689659999,
        volume=Decimal(0),
        quote_volume=Decimal(0),
        count=60,
        taker_buy_volume=Decimal(0),
        taker_buy_quote_volume=Decimal(0),
        time_unit=TimeUnit.MILLISECONDS,
    )
    assert bars[1].low == Decimal("93400.0")


def test_spot_klines_without_header_in_microseconds() -> None:
    text = (
        "1735689600000000,93576.00,93610.00,93500.00,93600.00,12.5,1735689659999999,"
        "1170000.0,1500,6.1,571000.0,0\n"
    )
    (bar,) = parse_klines(text)
    assert bar.open_time_ms == 1735689600000
    assert bar.close_time_ms == 1735689659999
    assert bar.time_unit is TimeUnit.MICROSECONDS
    assert bar.volume == Decimal("12.5")
    assert bar.count == 1500


def test_trades_spot_and_um() -> None:
    spot = parse_trades("100,93576.01,0.001,93.57601,1735689600013432,True,True\n", "spot")
    assert spot[0].trade_id == 100
    assert spot[0].quote_qty == Decimal("93.57601")
    assert spot[0].time_ms == 1735689600013
    assert spot[0].is_best_match is True
    um = parse_trades(
        "id,price,qty,quote_qty,time,is_buyer_maker\n7,93500.1,0.002,187.0002,1735689600101,false\n",
        "um",
    )
    assert um[0].time_ms == 1735689600101
    assert um[0].is_best_match is None
    assert um[0].is_buyer_maker is False


def test_timestamp_unit_threshold() -> None:
    assert normalise_timestamp(MICROSECONDS_THRESHOLD - 1) == (
        MICROSECONDS_THRESHOLD - 1,
        TimeUnit.MILLISECONDS,
    )
    assert normalise_timestamp(MICROSECONDS_THRESHOLD) == (
        MICROSECONDS_THRESHOLD // 1000,
        TimeUnit.MICROSECONDS,
    )
    with pytest.raises(ValueError, match="microseconds"):
        normalise_timestamp(10**17)


@pytest.mark.parametrize(
    ("text", "line", "column", "rule"),
    [
        # bad price on line 3 (after the header)
        (
            UM_AGG_HEADER + "5,abc,0.1,1,1,1735689600101,true\n",
            4,
            "2:price",
            "must be a decimal number",
        ),
        (UM_AGG_HEADER + "5,0,0.1,1,1,1735689600101,true\n", 4, "2:price", "must be > 0"),
        (UM_AGG_HEADER + "5,1.5,-2,1,1,1735689600101,true\n", 4, "3:quantity", "must be > 0"),
        (UM_AGG_HEADER + "5,1.5,2,1,1,1735689600101,yes\n", 4, "7:is_buyer_maker", "true or false"),
        (UM_AGG_HEADER + "5,1.5,2,9,8,1735689600101,true\n", 4, "5:last_trade_id", ">="),
        (UM_AGG_HEADER + "5,1.5,2,1,1,-1735689600101,true\n", 4, "6:transact_time", "integer"),
        (UM_AGG_HEADER + "5,1.5,2,1,1,1735689600101000000,true\n", 4, "6:transact_time", "µs"),
    ],
)
def test_bad_agg_trade_rows_name_line_column_and_rule(
    text: str, line: int, column: str, rule: str
) -> None:
    with pytest.raises(MarketDataError) as info:
        parse_agg_trades(text, "um", source="BTCUSDT-aggTrades-2025-01-01.csv")
    err = info.value
    assert err.line == line
    assert err.column == column
    message = str(err)
    assert message.startswith(f"BTCUSDT-aggTrades-2025-01-01.csv: line {line}, column '{column}'")
    if rule != "µs":
        assert rule in message
    else:
        assert "microseconds" in message


def test_wrong_column_count_and_bad_header() -> None:
    # a spot row given as um (8 columns where 7 are expected)
    with pytest.raises(MarketDataError, match=r"line 1: row has 8 columns, expected 7"):
        parse_agg_trades(SPOT_AGG_US, "um")
    with pytest.raises(MarketDataError, match=r"line 1: header has 7 columns, expected 8"):
        parse_agg_trades(UM_AGG_HEADER, "spot")
    with pytest.raises(MarketDataError, match=r"line 2: row has 11 columns, expected 12"):
        parse_klines(KLINE_HEADER + "1,2,3,1,2,0,5,0,1,0,0\n")


def test_kline_rules() -> None:
    with pytest.raises(MarketDataError, match=r"line 1, column '3:high': high must be >="):
        parse_klines("1000,10,9,8,9.5,0,1999,0,1,0,0,0\n")
    with pytest.raises(MarketDataError, match=r"line 1, column '4:low': low must be <="):
        parse_klines("1000,10,12,11,11.5,0,1999,0,1,0,0,0\n")
    with pytest.raises(MarketDataError, match=r"column '7:close_time': close_time must be >="):
        parse_klines("2000,10,12,9,11,0,1999,0,1,0,0,0\n")
    with pytest.raises(MarketDataError, match=r"column '7:close_time'.*same unit"):
        parse_klines("1735689600000,10,12,9,11,0,1735689659999999,0,1,0,0,0\n")


def test_a_garbage_first_row_is_not_mistaken_for_a_header() -> None:
    with pytest.raises(MarketDataError, match=r"line 1, column '1:agg_trade_id'"):
        parse_agg_trades("x1,1.5,2,1,1,1735689600101,true\n", "um")


def test_unknown_market_is_refused() -> None:
    with pytest.raises(ValueError, match="market must be 'spot' or 'um'"):
        parse_agg_trades(SPOT_AGG_US, "cm")  # type: ignore[arg-type]
