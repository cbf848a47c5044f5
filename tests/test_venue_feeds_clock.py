"""Venue clocks and price feeds (synthetic, scripted, replayed data.binance.vision files)."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import zipfile
from decimal import Decimal
from pathlib import Path

import pytest

from exitguard.domain.market_data import Kline
from exitguard.venue.clock import (
    AcceleratedClock,
    RealtimeClock,
    SteppedClock,
    VenueClock,
    sleep_venue,
)
from exitguard.venue.feeds import (
    Feed,
    FeedError,
    PriceStep,
    ReplayFeed,
    ScriptedFeed,
    SyntheticFeed,
    kline_path,
)

D = Decimal

# --- fixtures in the exact data.binance.vision layout (reference section 4) -------------------

# spot aggTrades 2025-01-01: no header, µs timestamps
SPOT_AGG = (
    "3366214183,93576.00000000,0.00012000,4396718585,4396718585,1735689600013432,True,True\n"
    "3366214184,93576.01000000,0.02291000,4396718586,4396718589,1735689600064999,False,True\n"
    "3366214185,93570.00000000,0.50000000,4396718590,4396718590,1735689660500000,True,True\n"
)
# USD-M aggTrades: header, ms timestamps
UM_AGG = (
    "agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker\n"
    "2493011345,93500.10,0.005,5788104003,5788104005,1735689600101,true\n"
    "2493011346,93500.00,0.120,5788104006,5788104006,1735689630000,false\n"
    "2493011347,93420.50,0.010,5788104007,5788104007,1735689660000,false\n"
)
# USD-M markPriceKlines 1m: header
MARK_1M = (
    "open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,"
    "taker_buy_quote_volume,ignore\n"
    "1735689600000,93520.1,93610.0,93480.2,93590.4,0,1735689659999,0,60,0,0,0\n"
    "1735689660000,93590.4,93600.0,93400.0,93450.0,0,1735689719999,0,60,0,0,0\n"
)


def write_zip(directory: Path, stem: str, csv_text: str, checksum: str | None = "correct") -> Path:
    """``stem.zip`` holding ``stem.csv``, plus ``stem.zip.CHECKSUM`` (right, wrong or none)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{stem}.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(f"{stem}.csv", csv_text)
    if checksum is not None:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if checksum == "wrong":
            digest = hashlib.sha256(b"something else").hexdigest()
        (directory / f"{stem}.zip.CHECKSUM").write_text(f"{digest}  {stem}.zip\n")
    return path


def drain(feed: Feed, until: int, step: int) -> list[PriceStep]:
    out: list[PriceStep] = []
    t = until - 10 * step
    while t <= until:
        out.extend(feed.steps_until(t))
        t += step
    return out


# --- clocks -----------------------------------------------------------------------------------


def test_stepped_clock_never_goes_backwards() -> None:
    c = SteppedClock(1_000)
    assert c.now_ms() == 1_000
    assert c.advance(250) == 1_250
    assert c.set(2_000) == 2_000
    assert c.set(2_000) == 2_000  # staying put is allowed
    with pytest.raises(ValueError, match="never goes backwards"):
        c.set(1_999)
    with pytest.raises(ValueError, match="never goes backwards"):
        c.advance(-1)
    with pytest.raises(TypeError, match="must be an int"):
        c.advance(1.5)  # type: ignore[arg-type]
    assert c.now_ms() == 2_000
    assert isinstance(c, VenueClock)


async def test_sleep_venue_on_stepped_clock_wakes_exactly_when_advanced() -> None:
    c = SteppedClock(10_000)
    task = asyncio.create_task(sleep_venue(c, 1_000))
    await asyncio.sleep(0)
    assert c.sleepers == 1
    c.advance(999)
    for _ in range(5):
        await asyncio.sleep(0)
    assert not task.done()
    c.advance(1)
    await asyncio.wait_for(task, timeout=2)
    assert c.now_ms() == 11_000
    assert c.sleepers == 0


async def test_stepped_sleepers_wake_in_target_order_and_set_jumps_past_them() -> None:
    c = SteppedClock(0)
    woke: list[int] = []

    async def sleeper(ms: int) -> None:
        await sleep_venue(c, ms)
        woke.append(ms)

    tasks = [asyncio.create_task(sleeper(ms)) for ms in (300, 100, 200, 5_000)]
    await asyncio.sleep(0)
    c.set(250)
    await asyncio.wait_for(asyncio.gather(tasks[1], tasks[2]), timeout=2)
    assert woke == [100, 200]
    c.advance(50)
    await asyncio.wait_for(tasks[0], timeout=2)
    assert woke == [100, 200, 300]
    assert not tasks[3].done()
    tasks[3].cancel()
    with pytest.raises(asyncio.CancelledError):
        await tasks[3]
    c.advance(10_000)  # a cancelled sleeper is skipped, not resolved
    assert c.sleepers == 0


async def test_sleep_venue_zero_or_negative_returns_at_once() -> None:
    c = SteppedClock(0)
    await asyncio.wait_for(sleep_venue(c, 0), timeout=2)
    await asyncio.wait_for(sleep_venue(c, -5), timeout=2)
    await asyncio.wait_for(c.wait_until(0), timeout=2)
    assert c.now_ms() == 0


def test_accelerated_clock_runs_factor_times_faster_on_injected_time() -> None:
    mono = [5_000_000_000]
    c = AcceleratedClock(60.0, 1_000_000, monotonic_ns=lambda: mono[0])
    assert c.now_ms() == 1_000_000
    mono[0] += 1_000_000_000  # one wall second
    assert c.now_ms() == 1_060_000
    mono[0] += 500_000  # half a wall millisecond → 30 venue ms
    assert c.now_ms() == 1_060_030
    default_start = AcceleratedClock(2.0, time_ns=lambda: 7_000_000_123, monotonic_ns=lambda: 0)
    assert default_start.now_ms() == 7_000
    with pytest.raises(ValueError, match="factor must be a finite number > 0"):
        AcceleratedClock(0.0, 0)


def test_realtime_clock_reads_the_injected_wall_time() -> None:
    assert RealtimeClock(time_ns=lambda: 1_735_689_600_123_999_999).now_ms() == 1_735_689_600_123


async def test_sleep_venue_divides_by_the_factor(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        seen.append(seconds)

    monkeypatch.setattr("exitguard.venue.clock.asyncio.sleep", fake_sleep)
    await sleep_venue(AcceleratedClock(100.0, 0, monotonic_ns=lambda: 0), 5_000)
    await sleep_venue(RealtimeClock(time_ns=lambda: 0), 1_500)
    assert seen == [0.05, 1.5]


async def test_sleep_venue_refuses_a_clock_that_cannot_sleep() -> None:
    class Bare:
        def now_ms(self) -> int:
            return 0

    with pytest.raises(TypeError, match="Bare has no sleep_ms"):
        await sleep_venue(Bare(), 10)


# --- synthetic feed ---------------------------------------------------------------------------

START = {"BTCUSDT": D("65000.10"), "ETHUSDT": D("3000.00")}
TICKS = {"BTCUSDT": D("0.10"), "ETHUSDT": D("0.01")}


def synthetic(seed: int) -> SyntheticFeed:
    return SyntheticFeed(START, seed=seed, step_ms=250, tick_sizes=TICKS, start_ms=0)


def test_synthetic_feed_is_deterministic_for_a_seed() -> None:
    a = synthetic(7).steps_until(600_000)
    b = synthetic(7).steps_until(600_000)
    c = synthetic(8).steps_until(600_000)
    assert len(a) == 2 * (600_000 // 250 + 1)
    assert a == b
    assert a != c


def test_synthetic_feed_does_not_depend_on_how_time_is_sliced() -> None:
    whole = synthetic(3).steps_until(200_000)
    feed = synthetic(3)
    sliced: list[PriceStep] = []
    for t in (0, 1, 249, 250, 13_337, 64_000, 64_001, 150_000, 200_000):
        sliced.extend(feed.steps_until(t))
    assert sliced == whole
    assert feed.steps_until(200_000) == []  # nothing is returned twice


def test_synthetic_prices_on_tick_mark_differs_times_non_decreasing() -> None:
    steps = synthetic(11).steps_until(3_600_000)
    times = [s.t_ms for s in steps]
    assert times == sorted(times)
    assert {s.symbol for s in steps} == set(START)
    for s in steps:
        tick = TICKS[s.symbol]
        assert s.last is not None and s.mark is not None
        assert s.last > 0 and s.mark > 0
        assert s.last % tick == 0 and s.mark % tick == 0
        assert s.last.as_tuple().exponent == tick.as_tuple().exponent
    differ = sum(s.last != s.mark for s in steps)
    assert differ > 0.9 * len(steps)
    assert steps[0] == PriceStep(0, "BTCUSDT", D("65000.10"), D("65000.10"), None)


def test_synthetic_feed_has_jumps() -> None:
    feed = SyntheticFeed({"BTCUSDT": D("65000.10")}, seed=1, step_ms=5_000, start_ms=0)
    lasts = [s.last for s in feed.steps_until(24 * 3_600_000) if s.last is not None]
    moves = [abs(b / a - 1) for a, b in itertools.pairwise(lasts)]
    assert max(moves) >= D("0.015")  # a gap of a few percent in one step
    assert sorted(moves)[len(moves) // 2] < D("0.001")  # typical steps are small


def test_synthetic_feed_anchors_at_first_call_and_defaults_the_tick() -> None:
    feed = SyntheticFeed({"SOLUSDT": D("187.345")}, seed=1, step_ms=1_000)
    first = feed.steps_until(1_735_689_600_000)
    assert [s.t_ms for s in first] == [1_735_689_600_000]
    assert feed.start_ms == 1_735_689_600_000
    later = feed.steps_until(1_735_689_603_500)
    assert [s.t_ms for s in later] == [1_735_689_601_000, 1_735_689_602_000, 1_735_689_603_000]
    assert all(s.last is not None and s.last % D("0.001") == 0 for s in later)
    assert isinstance(feed, Feed)


# --- scripted feed ----------------------------------------------------------------------------


def test_scripted_csv_relative_times_start_at_the_first_call(tmp_path: Path) -> None:
    path = tmp_path / "script.csv"
    path.write_text(
        "# a drop through a stop\n"
        "t,symbol,last,mark\n"
        "0,BTCUSDT,100.0,100.1\n"
        "500,BTCUSDT,99.0,\n"
        "\n"
        "500,ETHUSDT,10,10.01\n"
        "2000,BTCUSDT,,98.5\n"
    )
    feed = ScriptedFeed.from_file(path)
    assert feed.relative is True
    assert feed.steps_until(1_000_000) == [PriceStep(1_000_000, "BTCUSDT", D("100.0"), D("100.1"))]
    assert feed.origin_ms == 1_000_000
    assert feed.steps_until(1_000_499) == []
    assert feed.steps_until(1_001_999) == [
        PriceStep(1_000_500, "BTCUSDT", D("99.0"), None),
        PriceStep(1_000_500, "ETHUSDT", D("10"), D("10.01")),
    ]
    assert feed.steps_until(1_002_000) == [PriceStep(1_002_000, "BTCUSDT", None, D("98.5"))]
    assert feed.remaining == 0


def test_scripted_jsonl_absolute_times_default_symbol_and_push(tmp_path: Path) -> None:
    path = tmp_path / "script.jsonl"
    path.write_text(
        '{"t": 1735689600000, "last": "93500.1", "mark": 93501.25}\n'
        '{"t": 1735689601000, "mark": "93490", "qty": 0.5, "symbol": "BTCUSDT"}\n'
    )
    feed = ScriptedFeed.from_file(path, symbol="BTCUSDT")
    assert feed.relative is False
    steps = feed.steps_until(1_735_689_600_500)
    assert steps == [PriceStep(1_735_689_600_000, "BTCUSDT", D("93500.1"), D("93501.25"))]
    feed.push(PriceStep(1_735_689_602_000, "BTCUSDT", D("93000"), None))
    assert feed.steps_until(1_735_689_700_000) == [
        PriceStep(1_735_689_601_000, "BTCUSDT", None, D("93490"), D("0.5")),
        PriceStep(1_735_689_602_000, "BTCUSDT", D("93000"), None),
    ]


def test_scripted_feed_built_and_pushed_in_code() -> None:
    feed = ScriptedFeed(origin_ms=5_000)
    assert feed.steps_until(10_000) == []
    feed.push(PriceStep(0, "X", D("1"), None))
    feed.push(PriceStep(100, "X", D("2"), D("2.1")))
    assert feed.steps_until(10_000) == [
        PriceStep(5_000, "X", D("1"), None),
        PriceStep(5_100, "X", D("2"), D("2.1")),
    ]
    with pytest.raises(FeedError, match="t must be non-decreasing"):
        feed.push(PriceStep(50, "X", D("1"), None))
    with pytest.raises(FeedError, match="t must stay relative"):
        feed.push(PriceStep(1_735_689_600_000, "X", D("1"), None))
    with pytest.raises(FeedError, match="needs last or mark"):
        feed.push(PriceStep(200, "X", None, None))
    with pytest.raises(FeedError, match="last must be a Decimal > 0"):
        feed.push(PriceStep(200, "X", D("-1"), None))


@pytest.mark.parametrize(
    ("text", "line", "needle"),
    [
        ("t,symbol,last\n0,BTCUSDT,abc\n", 2, "column 'last': must be a decimal > 0 (got 'abc')"),
        ("t,last\n0,1\n", 2, "column 'symbol': symbol is missing"),
        ("t,symbol,last\n10,A,1\n5,A,1\n", 3, "column 't': t must be non-decreasing"),
        ("t,symbol,last\n10,A,1\n1735689600000,A,1\n", 3, "t must stay relative"),
        ("t,symbol,last,price\n0,A,1,2\n", 1, "column 'price': unknown column"),
        ("t,symbol\n0,A\n", 1, "needs t and at least one of last, mark"),
        ("t,symbol,last\n0,A\n", 2, "row has 2 cells, the header has 3"),
        ("t,symbol,last\n1.5,A,1\n", 2, "column 't': t must be an integer"),
        ('{"t": 0, "symbol": "A", "last": "1"}\n{"t": 1, "symbol": "A", "bid": 1}\n', 2, "'bid'"),
        ('{"t": 0, "symbol": "A", "last": "1"}\n{"t": 1,\n', 2, "not valid JSON"),
        ('{"t": true, "symbol": "A", "last": "1"}\n', 1, "t must be an integer"),
    ],
)
def test_scripted_file_errors_name_file_line_and_rule(
    tmp_path: Path, text: str, line: int, needle: str
) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(FeedError) as info:
        ScriptedFeed.from_file(path)
    assert info.value.line == line
    assert str(info.value).startswith(f"{path}: line {line}: ")
    assert needle in str(info.value)


# --- replay feed ------------------------------------------------------------------------------


def test_kline_path_intrabar_rules() -> None:
    up_bar = Kline(0, D("100"), D("104"), D("99"), D("103"), 59_999)  # low nearer the open
    assert kline_path(up_bar) == [
        (0, D("100")),
        (19_999, D("99")),
        (39_999, D("104")),
        (59_999, D("103")),
    ]
    down_bar = Kline(0, D("100"), D("101"), D("95"), D("96"), 59_999)  # high nearer the open
    assert [p for _, p in kline_path(down_bar)] == [D("100"), D("101"), D("95"), D("96")]
    tie_down = Kline(0, D("100"), D("102"), D("98"), D("99"), 59_999)
    assert [p for _, p in kline_path(tie_down)] == [D("100"), D("102"), D("98"), D("99")]
    assert [p for _, p in kline_path(down_bar, "low_first")] == [
        D("100"),
        D("95"),
        D("101"),
        D("96"),
    ]
    assert [p for _, p in kline_path(up_bar, "high_first")][1] == D("104")


def test_replay_spot_zip_with_correct_checksum_microseconds(tmp_path: Path) -> None:
    path = write_zip(tmp_path, "BTCUSDT-aggTrades-2025-01-01", SPOT_AGG)
    feed = ReplayFeed.from_paths([path], "BTCUSDT", "spot")
    assert len(feed) == 3
    assert feed.start_ms == 1735689600013
    first = feed.steps_until(1735689600064)
    assert first == [
        PriceStep(1735689600013, "BTCUSDT", D("93576.00000000"), None, D("0.00012000")),
        PriceStep(1735689600064, "BTCUSDT", D("93576.01000000"), None, D("0.02291000")),
    ]
    assert feed.steps_until(1735689600064) == []
    assert [s.t_ms for s in feed.steps_until(1735689700000)] == [1735689660500]


def test_replay_wrong_checksum_is_refused(tmp_path: Path) -> None:
    path = write_zip(tmp_path, "BTCUSDT-aggTrades-2025-01-01", SPOT_AGG, checksum="wrong")
    with pytest.raises(FeedError) as info:
        ReplayFeed.from_paths([path], "BTCUSDT", "spot")
    message = str(info.value)
    assert message.startswith(str(path))
    assert "does not match BTCUSDT-aggTrades-2025-01-01.zip.CHECKSUM" in message


def test_replay_merges_um_agg_trades_and_mark_klines_by_time(tmp_path: Path) -> None:
    trades = write_zip(tmp_path / "aggTrades", "BTCUSDT-aggTrades-2025-01-01", UM_AGG)
    marks = write_zip(
        tmp_path / "futures/um/daily/markPriceKlines/BTCUSDT/1m", "BTCUSDT-1m-2025-01-01", MARK_1M
    )
    feed = ReplayFeed.from_paths([marks, trades], "BTCUSDT", "um")
    steps = drain(feed, 1735689720000, 1_000)
    assert len(steps) == 3 + 8
    times = [s.t_ms for s in steps]
    assert times == sorted(times)
    assert [s.mark for s in steps if s.mark is not None] == [
        D("93520.1"),
        D("93480.2"),  # low is nearer the open: visited first
        D("93610.0"),
        D("93590.4"),
        D("93590.4"),
        D("93600.0"),  # high nearer the open
        D("93400.0"),
        D("93450.0"),
    ]
    assert all(s.last is None for s in steps if s.mark is not None)
    assert [s.last for s in steps if s.last is not None] == [
        D("93500.10"),
        D("93500.00"),
        D("93420.50"),
    ]
    # at an equal time, the mark step comes before the trade step
    at_minute = [s for s in steps if s.t_ms == 1735689660000]
    assert [s.mark is not None for s in at_minute] == [True, False]


def test_replay_plain_csv_explicit_kind_and_pessimistic_rule(tmp_path: Path) -> None:
    path = tmp_path / "marks.csv"
    path.write_text(MARK_1M)
    feed = ReplayFeed.from_paths([("markPriceKlines", path)], "BTCUSDT", "um", intrabar="low_first")
    marks = [s.mark for s in feed.steps_until(1735689659999)]
    assert marks == [D("93520.1"), D("93480.2"), D("93610.0"), D("93590.4")]


def test_replay_bad_row_in_zip_names_member_line_and_column(tmp_path: Path) -> None:
    bad = UM_AGG + "2493011348,93420.50,oops,5788104008,5788104008,1735689670000,false\n"
    path = write_zip(tmp_path, "BTCUSDT-aggTrades-2025-01-02", bad, checksum=None)
    with pytest.raises(FeedError) as info:
        ReplayFeed.from_paths([path], "BTCUSDT", "um")
    assert str(info.value).startswith(
        f"{path}!BTCUSDT-aggTrades-2025-01-02.csv: line 5: column '3:quantity': "
    )
    assert info.value.line == 5


def test_replay_refuses_ambiguous_or_foreign_files(tmp_path: Path) -> None:
    kline = write_zip(tmp_path, "BTCUSDT-1m-2025-01-01", MARK_1M)
    with pytest.raises(FeedError, match="cannot tell the data type"):
        ReplayFeed.from_paths([kline], "BTCUSDT", "um")
    other = write_zip(tmp_path, "ETHUSDT-aggTrades-2025-01-01", UM_AGG)
    with pytest.raises(FeedError, match="file is for ETHUSDT, not for BTCUSDT"):
        ReplayFeed.from_paths([other], "BTCUSDT", "um")
    two = tmp_path / "BTCUSDT-aggTrades-2025-01-03.zip"
    with zipfile.ZipFile(two, "w") as zf:
        zf.writestr("a.csv", UM_AGG)
        zf.writestr("b.csv", UM_AGG)
    with pytest.raises(FeedError, match=r"exactly one \.csv"):
        ReplayFeed.from_paths([two], "BTCUSDT", "um")
    bad_checksum = write_zip(tmp_path, "BTCUSDT-aggTrades-2025-01-04", UM_AGG, checksum=None)
    (tmp_path / "BTCUSDT-aggTrades-2025-01-04.zip.CHECKSUM").write_text("not-a-hash  x.zip\n")
    with pytest.raises(FeedError, match="line 1: checksum file must start with a 64-hex"):
        ReplayFeed.from_paths([bad_checksum], "BTCUSDT", "um")
