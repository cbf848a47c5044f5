"""Synthetic archives: exact published format, determinism, and a market worth testing on."""

from __future__ import annotations

import hashlib
import zipfile
from datetime import date
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from exitguard.data.load import load_bars, load_book_ticker, load_trades
from exitguard.data.read import read_table
from exitguard.data.series import units_to_decimal
from exitguard.data.synth import synth_archives, synth_pair
from exitguard.data.synth_model import instrument, simulate_path
from exitguard.domain.market_data import parse_agg_trades, parse_klines, parse_trades

DAY = date(2024, 12, 31)  # two days from here cross the spot switch to µs (2025-01-01)


def csv_text(path: Path) -> str:
    with zipfile.ZipFile(path) as zf:
        (name,) = zf.namelist()
        assert name == path.with_suffix(".csv").name  # same stem as the zip
        return zf.read(name).decode("ascii")


def digest(paths: list[Path]) -> list[str]:
    return [hashlib.sha256(p.read_bytes()).hexdigest() for p in paths]


@pytest.fixture(scope="module")
def spot_agg(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    out = tmp_path_factory.mktemp("spot")
    return synth_archives(
        "BTCUSDT", "spot", "aggTrades", DAY, 2, seed=5, out_dir=out, trades_per_minute=20
    )


def test_layout_checksum_and_spot_format(spot_agg: list[Path]) -> None:
    assert [p.name for p in spot_agg] == [
        "BTCUSDT-aggTrades-2024-12-31.zip",
        "BTCUSDT-aggTrades-2025-01-01.zip",
    ]
    assert spot_agg[0].parent.as_posix().endswith("data/spot/daily/aggTrades/BTCUSDT")
    for p in spot_agg:
        sha = hashlib.sha256(p.read_bytes()).hexdigest()
        assert p.with_name(p.name + ".CHECKSUM").read_text() == f"{sha}  {p.name}\n"
    first = csv_text(spot_agg[0]).splitlines()[0].split(",")
    assert len(first) == 8 and first[0].isdigit()  # no header
    assert first[1].split(".")[1].__len__() == 8 and first[6] in ("True", "False")
    assert len(first[5]) == 13  # ms before 2025
    second = csv_text(spot_agg[1]).splitlines()[0].split(",")
    assert len(second[5]) == 16  # µs from 2025-01-01
    assert [read_table(p).time_unit for p in spot_agg] == ["ms", "us"]


def test_round_trip_matches_the_domain_parser(spot_agg: list[Path]) -> None:
    s = load_trades(spot_agg)
    ref = [r for p in spot_agg for r in parse_agg_trades(csv_text(p), "spot")]
    assert len(s) == len(ref) > 0
    assert [units_to_decimal(int(v), s.price_exp) for v in s.price] == [r.price for r in ref]
    assert [units_to_decimal(int(v), s.qty_exp) for v in s.qty] == [r.qty for r in ref]
    assert s.time_ms.tolist() == [r.time_ms for r in ref]
    # Prices on the BTCUSDT spot tick grid (0.01), quantities on its step grid (0.00001).
    assert s.price_exp == 8 and bool(np.all(s.price % 10**6 == 0))
    assert bool(np.all(s.qty % 10**3 == 0)) and int(s.qty.min()) > 0


def test_deterministic_per_seed(tmp_path: Path, spot_agg: list[Path]) -> None:
    again = synth_archives(
        "BTCUSDT", "spot", "aggTrades", DAY, 2, seed=5, out_dir=tmp_path / "a", trades_per_minute=20
    )
    assert digest(again) == digest(spot_agg)
    other = synth_archives(
        "BTCUSDT", "spot", "aggTrades", DAY, 2, seed=6, out_dir=tmp_path / "b", trades_per_minute=20
    )
    assert digest(other) != digest(spot_agg)


def test_um_files_have_headers_and_the_futures_grid(tmp_path: Path) -> None:
    agg = synth_archives(
        "BTCUSDT", "um", "aggTrades", DAY, 1, seed=1, out_dir=tmp_path, trades_per_minute=10
    )
    lines = csv_text(agg[0]).splitlines()
    assert (
        lines[0]
        == "agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker"
    )
    row = lines[1].split(",")
    assert len(row) == 7 and row[6] in ("true", "false") and len(row[1].split(".")[1]) == 2
    s = load_trades(agg)
    assert (s.market, s.price_exp, s.qty_exp) == ("um", 2, 3)
    assert bool(np.all(s.price % 10 == 0))  # tick 0.10


def test_trades_aggtrades_and_klines_describe_the_same_prints(tmp_path: Path) -> None:
    kw = {"seed": 9, "out_dir": tmp_path, "trades_per_minute": 15}
    agg = synth_archives("ETHUSDT", "um", "aggTrades", DAY, 1, **kw)  # type: ignore[arg-type]
    trades = synth_archives("ETHUSDT", "um", "trades", DAY, 1, **kw)  # type: ignore[arg-type]
    klines = synth_archives("ETHUSDT", "um", "klines", DAY, 1, **kw)  # type: ignore[arg-type]
    a, t = load_trades(agg), load_trades(trades)
    assert len(t) >= len(a) and int(t.qty.sum()) == int(a.qty.sum())
    assert set(t.time_ms.tolist()) == set(a.time_ms.tolist())
    ref_trades = parse_trades(csv_text(trades[0]), "um")
    assert all(r.quote_qty == r.price * r.qty for r in ref_trades[:500])  # exact quote_qty
    rows = parse_agg_trades(csv_text(agg[0]), "um")
    assert rows[1].first_trade_id == rows[0].last_trade_id + 1  # type: ignore[operator]
    bars = load_bars(klines)
    assert (bars.source, bars.interval, len(bars)) == ("klines", "1m", 1440)
    minute = (a.time_ms - bars.open_time_ms[0]) // 60_000
    for m in np.unique(minute)[:200]:
        p = a.price[minute == m]
        assert (bars.open[m], bars.high[m], bars.low[m], bars.close[m]) == (
            p[0],
            p.max(),
            p.min(),
            p[-1],
        )
    # Gaps: minutes with no trades exist, and their bars repeat the previous close, volume 0.
    empty = np.setdiff1d(np.arange(1440), np.unique(minute))
    assert empty.shape[0] > 0
    k = parse_klines(csv_text(klines[0]))
    for m in empty[empty > 0][:20]:
        assert k[m].volume == 0 and k[m].count == 0
        assert k[m].open == k[m].high == k[m].low == k[m].close == k[m - 1].close


def test_mark_differs_from_last_but_agrees_in_trend(tmp_path: Path) -> None:
    trades, marks = synth_pair("BTCUSDT", DAY, 2, seed=4, out_dir=tmp_path, trades_per_minute=10)
    last = load_trades(trades)
    mark = load_bars(marks)
    assert (mark.source, mark.market, mark.price_exp, len(mark)) == (
        "markPriceKlines",
        "um",
        8,
        2880,
    )
    # Minute closes of last price, carried over empty minutes.
    minute = (last.time_ms - mark.open_time_ms[0]) // 60_000
    close = np.full(2880, np.nan)
    close[minute] = last.price / 10**last.price_exp
    seen = ~np.isnan(close)
    idx = np.maximum.accumulate(np.where(seen, np.arange(2880), 0))
    close = close[idx]
    m = mark.close / 10**mark.price_exp
    rel = np.abs(m / close - 1)
    assert 0 < float(np.median(rel)) < 0.003  # different series, same level
    assert float(np.corrcoef(np.diff(m[::30]), np.diff(close[::30]))[0, 1]) > 0.8
    # Same underlying path as two separate calls with the seed.
    sep = synth_archives("BTCUSDT", "um", "markPriceKlines", DAY, 2, seed=4, out_dir=tmp_path / "s")
    assert digest(sep) == digest(marks)


def test_model_has_regimes_jumps_and_gaps() -> None:
    inst = instrument("BTCUSDT", "um")
    path = simulate_path(inst, 3, seed=11)
    assert set(np.unique(path.regime).tolist()) == {0, 1, 2}
    assert path.gap.any() and not path.gap.all()
    steps = np.abs(np.diff(path.log_price))
    assert float(steps.max()) > 0.002  # at least one jump of 0.2 %+ within a second
    assert float(np.median(steps)) < 0.0003


def test_book_ticker_is_out_of_order_in_the_file_and_sorted_when_loaded(tmp_path: Path) -> None:
    (path,) = synth_archives(
        "BTCUSDT", "um", "bookTicker", DAY, 1, seed=2, out_dir=tmp_path, trades_per_minute=5
    )
    rows = [line.split(",") for line in csv_text(path).splitlines()[1:]]
    times = np.array([int(r[5]) for r in rows])
    assert bool(np.any(np.diff(times) < 0))
    b = load_book_ticker(path)
    assert bool(np.all(np.diff(b.time_ms) >= 0)) and bool(np.all(b.ask > b.bid))


@pytest.mark.parametrize(("interval", "bars"), [("1s", 86_400), ("1h", 24), ("1d", 1)])
def test_other_intervals(tmp_path: Path, interval: str, bars: int) -> None:
    (path,) = synth_archives(
        "SOLUSDT",
        "spot",
        "klines",
        date(2025, 2, 1),
        1,
        seed=3,
        out_dir=tmp_path,
        interval=interval,
        trades_per_minute=2,
    )
    b = load_bars(path)
    assert (b.interval, len(b), b.market) == (interval, bars, "spot")
    assert (
        int(b.close_time_ms[0] - b.open_time_ms[0]) + 1
        == {"1s": 1000, "1h": 3_600_000, "1d": 86_400_000}[interval]
    )


def test_unknown_symbol_and_start_price(tmp_path: Path) -> None:
    (path,) = synth_archives(
        "FOOUSDT",
        "um",
        "aggTrades",
        DAY,
        1,
        seed=1,
        out_dir=tmp_path,
        trades_per_minute=3,
        start_price="2.5",
    )
    s = load_trades(path)
    assert Decimal(1) < units_to_decimal(int(s.price[0]), s.price_exp) < Decimal(5)


@pytest.mark.parametrize(
    ("market", "data_type", "kwargs", "message"),
    [
        ("spot", "markPriceKlines", {}, "spot has no markPriceKlines"),
        ("spot", "bookTicker", {}, "spot has no bookTicker"),
        ("um", "indexPriceKlines", {}, "cannot synthesise"),
        ("um", "klines", {"interval": "1w"}, "does not divide a day"),
        ("um", "aggTrades", {"days": 0}, "days must be >= 1"),
        ("xx", "aggTrades", {}, "market must be"),
    ],
)
def test_synth_refuses(
    tmp_path: Path, market: str, data_type: str, kwargs: dict[str, object], message: str
) -> None:
    args: dict[str, object] = {"days": 1, "seed": 0, "out_dir": tmp_path}
    args.update(kwargs)
    days = args.pop("days")
    with pytest.raises(ValueError, match=message):
        synth_archives("BTCUSDT", market, data_type, DAY, days, **args)  # type: ignore[arg-type]
