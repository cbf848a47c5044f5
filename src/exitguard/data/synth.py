"""Synthetic data.binance.vision archives: realistic enough to backtest on, exact in format.

Format (``trigger-semantics.md`` section 4): one zip per day at the published path
(``out_dir/data/{spot|futures/um}/daily/{type}/{SYMBOL}/[{interval}/]SYMBOL-{type|interval}-DATE.zip``)
holding one same-stem CSV, with ``<zip>.CHECKSUM`` beside it (``"<sha256>  <name>"``). Spot CSVs
have no header, ``True``/``False`` booleans and microsecond timestamps from 2025-01-01 (milliseconds
before); USD-M CSVs have the published header row, ``true``/``false`` and milliseconds. Prices are
on the symbol's tick grid and quantities on its step grid, from the bundled exchangeInfo fixtures
(``src/exitguard/fixtures/exchange_info``) when the symbol is there; spot writes 8 decimals, USD-M
the symbol's ``pricePrecision``/``quantityPrecision``. The zips are byte-for-byte deterministic.

Model (numbers in :mod:`exitguard.data.synth_model`):

- **Fair price**: a one-second log-price path. A minute-level Markov chain picks the regime:
  *range* (45 % of switches, ~3 h; volatility ×0.6, pulled back to where the regime started with a
  15-minute half-life), *trend* (35 %, ~2 h; drift ±0.5 % an hour), *volatile* (20 %, ~45 min;
  volatility ×2.5). Base volatility is 3 % a day.
- **Jumps**: Poisson, 4 a day at ×1 (×0.5 in range, ×3 in volatile), log-normal size with a 0.4 %
  median, either sign; the price moves that much within one second.
- **Gaps**: runs of 1–10 minutes (~6 a day) with no trades at all; the fair price moves on, so the
  first print after a gap is away from the last one (what "fills at the gapped price" needs).
- **Orders**: per minute Poisson(``trades_per_minute`` × regime activity) taker orders (range ×0.8,
  trend ×1, volatile ×2, normalised so the average rate is ``trades_per_minute``), uniform times.
  A taker buy prints at the ask, a sell at the bid: ``ceil``/``floor`` of the fair price ± half a
  spread (0.2 bp, at least half a tick; doubled when volatile), so prints bounce between two ticks.
  In trends, takers lean 60/40 with the move. Sizes are log-normal (median 300 quote units).
  Each order is one ``aggTrades`` row and ``1 + Poisson(0.5)`` ``trades`` rows (same time, price,
  side; the size split exactly), with consistent ``first/last_trade_id``.
- **Klines** aggregate those trades (a minute without trades repeats the previous close with zero
  volume, as Binance does). **markPriceKlines** (USD-M) come from a different series: an index that
  is an EMA of the fair price over ~10 s, times ``1 + basis``, the basis an OU process (mean 1 bp,
  sd 4 bp, 20-minute half-life); sampled each second, written with 8 decimals (mark prices are not
  on the tick grid). Mark and last therefore agree in trend but differ in level and in the order
  their extremes are reached. **bookTicker** (USD-M) quotes the same bid/ask once a second and
  before every order; about 1 % of neighbouring rows are swapped, as published files are slightly
  out of order.

The path uses its own random stream, so files of different types made with the same ``seed``,
``start`` and ``days`` describe the same market (:func:`synth_pair` makes trades and mark bars in
one go).
"""

from __future__ import annotations

import hashlib
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import numpy.typing as npt

from .names import KLINE_TYPES, MARKET_TYPES, DataType, archive_relpath, interval_ms
from .read import BOOK_TICKER_COLUMNS
from .series import Market
from .synth_model import (
    US_PER_SECOND,
    Events,
    Instrument,
    MarketPath,
    fair_price,
    half_spread_ticks,
    instrument,
    simulate_events,
    simulate_path,
)

__all__ = ["SYNTH_TYPES", "synth_archives", "synth_pair", "write_archive"]

I64 = npt.NDArray[np.int64]
SYNTH_TYPES: tuple[DataType, ...] = (
    "aggTrades",
    "trades",
    "klines",
    "markPriceKlines",
    "bookTicker",
)
_DAY_US = 86_400 * US_PER_SECOND
_SPOT_US_FROM = date(2025, 1, 1)  # spot timestamps are µs from this day on (section 4)
_MARK_DECIMALS = 8
_AGG_HEADER = (
    "agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker"
)
_TRADES_HEADER = "id,price,qty,quote_qty,time,is_buyer_maker"
_KLINE_HEADER = (
    "open_time,open,high,low,close,volume,close_time,quote_volume,count,"
    "taker_buy_volume,taker_buy_quote_volume,ignore"
)


def synth_archives(
    symbol: str,
    market: Market,
    data_type: DataType,
    start: date,
    days: int,
    *,
    seed: int,
    out_dir: Path,
    interval: str = "1m",
    trades_per_minute: int = 60,
    start_price: Decimal | str | None = None,
) -> list[Path]:
    """Write ``days`` daily archives from ``start``; return the zip paths in date order."""
    world = _World.make(symbol, market, start, days, seed, trades_per_minute, start_price)
    return world.write(data_type, Path(out_dir), interval)


def synth_pair(
    symbol: str,
    start: date,
    days: int,
    *,
    seed: int,
    out_dir: Path,
    trade_type: DataType = "aggTrades",
    interval: str = "1m",
    trades_per_minute: int = 60,
    start_price: Decimal | str | None = None,
) -> tuple[list[Path], list[Path]]:
    """USD-M ``(trade archives, markPriceKlines archives)`` from one underlying path.

    The same as two :func:`synth_archives` calls with the same seed (the path does not depend on
    the type), computed once.
    """
    if trade_type not in ("aggTrades", "trades"):
        raise ValueError(f"trade_type must be aggTrades or trades, got {trade_type!r}")
    world = _World.make(symbol, "um", start, days, seed, trades_per_minute, start_price)
    out = Path(out_dir)
    return world.write(trade_type, out, interval), world.write("markPriceKlines", out, interval)


def write_archive(out_dir: Path, relpath: str | Path, csv_text: str, day: date) -> Path:
    """Zip ``csv_text`` as ``<stem>.csv`` at ``out_dir/relpath`` and write its ``.CHECKSUM``."""
    path = Path(out_dir) / relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    member = zipfile.ZipInfo(path.with_suffix(".csv").name, (day.year, day.month, day.day, 0, 0, 0))
    member.compress_type = zipfile.ZIP_DEFLATED
    member.external_attr = 0o644 << 16
    tmp = path.with_name(path.name + ".tmp")
    with zipfile.ZipFile(tmp, "w") as zf:
        zf.writestr(member, csv_text.encode("ascii"))
    tmp.replace(path)
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    path.with_name(path.name + ".CHECKSUM").write_text(f"{sha}  {path.name}\n", encoding="ascii")
    return path


# --- the world: one path, its orders, and the writers -------------------------------------------


@dataclass
class _World:
    inst: Instrument
    start: date
    days: int
    seed: int
    path: MarketPath
    trades_per_minute: int
    _events: Events | None = None

    @classmethod
    def make(
        cls,
        symbol: str,
        market: Market,
        start: date,
        days: int,
        seed: int,
        trades_per_minute: int,
        start_price: Decimal | str | None,
    ) -> _World:
        if market not in MARKET_TYPES:
            raise ValueError(f"market must be 'spot' or 'um', got {market!r}")
        if not (symbol.isascii() and symbol.isalnum() and symbol.upper() == symbol):
            raise ValueError(f"symbol must be upper-case letters and digits, got {symbol!r}")
        if days < 1:
            raise ValueError("days must be >= 1")
        if trades_per_minute < 1:
            raise ValueError("trades_per_minute must be >= 1")
        inst = instrument(symbol, market, start_price)
        return cls(inst, start, days, seed, simulate_path(inst, days, seed), trades_per_minute)

    @property
    def events(self) -> Events:
        if self._events is None:
            self._events = simulate_events(self.inst, self.path, self.trades_per_minute, self.seed)
        return self._events

    def write(self, data_type: DataType, out_dir: Path, interval: str) -> list[Path]:
        market = self.inst.market
        if data_type not in SYNTH_TYPES:
            raise ValueError(
                f"cannot synthesise {data_type!r}; use one of {', '.join(SYNTH_TYPES)}"
            )
        if data_type not in MARKET_TYPES[market]:
            raise ValueError(f"{market} has no {data_type} files (reference section 4)")
        if data_type in KLINE_TYPES:
            span = interval_ms(interval)
            if 86_400_000 % span:
                raise ValueError(f"interval {interval} does not divide a day; use 1s .. 1d")
        texts = self._texts(data_type, interval)
        paths = []
        for k, text in enumerate(texts):
            day = self.start + timedelta(days=k)
            rel = archive_relpath(
                self.inst.symbol,
                market,
                data_type,
                day,
                interval=interval if data_type in KLINE_TYPES else None,
            )
            paths.append(write_archive(out_dir, Path(rel), text, day))
        return paths

    # -- per type: one CSV text per day --

    def _texts(self, data_type: DataType, interval: str) -> list[str]:
        if data_type == "aggTrades":
            return self._agg_trades()
        if data_type == "trades":
            return self._trades()
        if data_type == "klines":
            return self._klines(interval_ms(interval) * 1000)
        if data_type == "markPriceKlines":
            return self._mark_klines(interval_ms(interval) * 1000)
        return self._book_ticker()

    def _day_us(self, k: int) -> int:
        day = self.start + timedelta(days=k)
        return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()) * US_PER_SECOND

    def _micro(self, k: int) -> bool:
        return self.inst.market == "spot" and self.start + timedelta(days=k) >= _SPOT_US_FROM

    def _stamp(self, k: int, rel_us: I64) -> list[int]:
        """File timestamps for times relative to the first day: µs or ms as the day's files use."""
        absolute = rel_us + (self._day_us(0))
        return (absolute if self._micro(k) else absolute // 1000).tolist()  # type: ignore[no-any-return]

    def _bools(self, values: npt.NDArray[np.bool_]) -> list[str]:
        true, false = ("True", "False") if self.inst.market == "spot" else ("true", "false")
        return np.where(values, true, false).tolist()  # type: ignore[no-any-return]

    def _by_day(self, rel_us: I64) -> list[slice]:
        bounds = np.searchsorted(rel_us, np.arange(self.days + 1, dtype=np.int64) * _DAY_US)
        return [slice(int(bounds[k]), int(bounds[k + 1])) for k in range(self.days)]

    def _agg_trades(self) -> list[str]:
        ev = self.events
        spot = self.inst.market == "spot"
        price = _Dec(self.inst.tick, self.inst.price_decimals)
        qty = _Dec(self.inst.step, self.inst.qty_decimals)
        agg_ids = np.arange(len(ev), dtype=np.int64) + ev.first_agg_id
        last_ids = ev.first_trade_id + ev.fills - 1
        texts = []
        for k, sl in enumerate(self._by_day(ev.time_us)):
            cols = [
                agg_ids[sl].tolist(),
                price.text(ev.price_ticks[sl]),
                qty.text(ev.qty_steps[sl]),
                ev.first_trade_id[sl].tolist(),
                last_ids[sl].tolist(),
                self._stamp(k, ev.time_us[sl]),
                self._bools(ev.is_buyer_maker[sl]),
            ]
            fmt = "%d,%s,%s,%d,%d,%d,%s" + (",True" if spot else "")
            texts.append(_csv(fmt, cols, None if spot else _AGG_HEADER))
        return texts

    def _trades(self) -> list[str]:
        ev = self.events
        spot = self.inst.market == "spot"
        per = ev.fills
        time_us = np.repeat(ev.time_us, per)
        ticks = np.repeat(ev.price_ticks, per)
        ibm = np.repeat(ev.is_buyer_maker, per)
        ids = np.arange(time_us.shape[0], dtype=np.int64) + int(
            ev.first_trade_id[0] if len(ev) else 0
        )
        price = _Dec(self.inst.tick, self.inst.price_decimals)
        qty = _Dec(self.inst.step, self.inst.qty_decimals)
        quote = _quote(self.inst)
        texts = []
        for k, sl in enumerate(self._by_day(time_us)):
            cols = [
                ids[sl].tolist(),
                price.text(ticks[sl]),
                qty.text(ev.fill_qty[sl]),
                quote.text(ticks[sl] * ev.fill_qty[sl]),
                self._stamp(k, time_us[sl]),
                self._bools(ibm[sl]),
            ]
            fmt = "%d,%s,%s,%s,%d,%s" + (",True" if spot else "")
            texts.append(_csv(fmt, cols, None if spot else _TRADES_HEADER))
        return texts

    def _klines(self, span_us: int) -> list[str]:
        ev = self.events
        n_bars = self.days * _DAY_US // span_us
        bar = ev.time_us // span_us
        counts = np.bincount(bar, minlength=n_bars)
        starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
        has = counts > 0
        o = np.zeros(n_bars, dtype=np.int64)
        h, lo, c = o.copy(), o.copy(), o.copy()
        vol, quote_vol, buy_vol, buy_quote, n_trades = (
            np.zeros(n_bars, dtype=np.int64) for _ in range(5)
        )
        if len(ev):
            at = starts[has]
            o[has] = ev.price_ticks[at]
            c[has] = ev.price_ticks[at + counts[has] - 1]
            h[has] = np.maximum.reduceat(ev.price_ticks, at)
            lo[has] = np.minimum.reduceat(ev.price_ticks, at)
            notional = ev.price_ticks * ev.qty_steps
            if float(notional.sum()) > 9e18:
                raise ValueError("synthetic volumes overflow int64; lower trades_per_minute")
            taker = ~ev.is_buyer_maker
            vol[has] = np.add.reduceat(ev.qty_steps, at)
            quote_vol[has] = np.add.reduceat(notional, at)
            buy_vol[has] = np.add.reduceat(np.where(taker, ev.qty_steps, 0), at)
            buy_quote[has] = np.add.reduceat(np.where(taker, notional, 0), at)
            n_trades[has] = np.add.reduceat(ev.fills, at)
        # Bars without trades repeat the previous close (before the first trade: the fair price).
        first_fair = fair_price(self.path, np.array([0], dtype=np.int64))[0] / float(self.inst.tick)
        last = np.where(has, c, 0)
        idx = np.maximum.accumulate(np.where(has, np.arange(n_bars), -1))
        carried = np.where(idx >= 0, last[np.maximum(idx, 0)], round(first_fair))
        for arr in (o, h, lo, c):
            arr[~has] = carried[~has]
        price = _Dec(self.inst.tick, self.inst.price_decimals)
        qty = _Dec(self.inst.step, self.inst.qty_decimals)
        quote = _quote(self.inst)
        open_us = np.arange(n_bars, dtype=np.int64) * span_us
        return self._bar_texts(
            open_us,
            span_us,
            [price.text(a) for a in (o, h, lo, c)],
            [
                qty.text(vol),
                quote.text(quote_vol),
                n_trades.tolist(),
                qty.text(buy_vol),
                quote.text(buy_quote),
            ],
        )

    def _mark_klines(self, span_us: int) -> list[str]:
        per = span_us // US_PER_SECOND
        if per < 1:
            raise ValueError("mark price klines need an interval of at least 1s")
        samples = self.path.mark.reshape(-1, per)
        mark = _Dec(Decimal(1).scaleb(-_MARK_DECIMALS), _MARK_DECIMALS)
        units = [
            np.round(a * 10**_MARK_DECIMALS).astype(np.int64)
            for a in (samples[:, 0], samples.max(axis=1), samples.min(axis=1), samples[:, -1])
        ]
        n_bars = samples.shape[0]
        zeros = ["0"] * n_bars
        open_us = np.arange(n_bars, dtype=np.int64) * span_us
        return self._bar_texts(
            open_us,
            span_us,
            [mark.text(u) for u in units],
            [zeros, zeros, [per] * n_bars, zeros, zeros],
        )

    def _bar_texts(
        self, open_us: I64, span_us: int, ohlc: list[list[str]], rest: Sequence[Sequence[object]]
    ) -> list[str]:
        """Rows ``open_time,O,H,L,C,volume,close_time,quote_volume,count,buy_vol,buy_quote,0``."""
        texts = []
        spot = self.inst.market == "spot"
        for k, sl in enumerate(self._by_day(open_us)):
            # close_time is the bar's last instant in the file's unit: open + span - 1 µs or ms.
            close = self._stamp(k, open_us[sl] + span_us - (1 if self._micro(k) else 1000))
            cols = [self._stamp(k, open_us[sl]), *(c[sl] for c in ohlc), rest[0][sl], close]
            cols += [r[sl] for r in rest[1:]]
            cols.append(["0"] * len(close))
            texts.append(
                _csv("%d,%s,%s,%s,%s,%s,%d,%s,%s,%s,%s,%s", cols, None if spot else _KLINE_HEADER)
            )
        return texts

    def _book_ticker(self) -> list[str]:
        ev = self.events
        rng = np.random.default_rng([self.seed, 3])
        seconds = np.arange(self.days * 86_400, dtype=np.int64) * US_PER_SECOND
        # A quote just before each order (1 µs earlier at most) and one at each second.
        times = np.sort(np.concatenate((seconds, np.maximum(ev.time_us - 1, 0))), kind="stable")
        n = times.shape[0]
        regime = self.path.regime[times // (60 * US_PER_SECOND)]
        fair = fair_price(self.path, times)
        half = half_spread_ticks(self.inst, fair, regime)
        mid = fair / float(self.inst.tick)
        min_ticks = max(1, int(self.inst.min_price / self.inst.tick))
        bid = np.maximum(np.floor(mid - half + 1e-9), min_ticks).astype(np.int64)
        ask = np.maximum(np.ceil(mid + half - 1e-9), bid + 1).astype(np.int64)
        size = 3000.0 * np.exp(rng.standard_normal((2, n))) / fair / float(self.inst.step)
        sizes = np.maximum(1, np.round(size)).astype(np.int64)
        bid_qty, ask_qty = sizes[0], sizes[1]
        update_id = int(rng.integers(10**11, 10**12)) + np.cumsum(rng.integers(1, 20, size=n))
        latency = np.asarray(rng.integers(0, 4, size=n), dtype=np.int64)
        # Published rows can be slightly out of order: swap ~1 % of neighbours.
        order = np.arange(n)
        swap = np.flatnonzero(rng.random(n - 1) < 0.01) if n > 1 else np.zeros(0, dtype=np.int64)
        swap = swap[np.diff(np.concatenate(([-2], swap))) > 1]  # no overlapping swaps
        swap = swap[times[swap] // _DAY_US == times[swap + 1] // _DAY_US]  # not across files
        order[swap], order[swap + 1] = swap + 1, swap
        price = _Dec(self.inst.tick, self.inst.price_decimals)
        qty = _Dec(self.inst.step, self.inst.qty_decimals)
        texts = []
        header = ",".join(BOOK_TICKER_COLUMNS)
        for k, sl in enumerate(self._by_day(times)):
            o = order[sl]
            tx = np.array(self._stamp(k, times[o]), dtype=np.int64)
            cols = [
                update_id[o].tolist(),
                price.text(bid[o]),
                qty.text(bid_qty[o]),
                price.text(ask[o]),
                qty.text(ask_qty[o]),
                tx.tolist(),
                (tx + latency[o]).tolist(),
            ]
            texts.append(_csv("%d,%s,%s,%s,%s,%d,%d", cols, header))
        return texts


class _Dec:
    """Formats integer multiples of a grid (``n * grid``) as plain decimals with ``decimals`` digits."""

    def __init__(self, grid: Decimal, decimals: int) -> None:
        exp = grid.normalize().as_tuple().exponent
        grid_dec = max(0, -exp) if isinstance(exp, int) else 0
        if decimals < grid_dec:
            raise ValueError(f"cannot write a {grid} grid with {decimals} decimals")
        self.factor = int(grid.scaleb(decimals))  # units of 10**-decimals per grid step
        self.decimals = decimals

    def text(self, n: I64) -> list[str]:
        units = np.asarray(n, dtype=np.int64) * self.factor
        if self.decimals == 0:
            return units.astype(str).tolist()  # type: ignore[no-any-return]
        scale = 10**self.decimals
        ip = (units // scale).tolist()
        fp = (units % scale).tolist()
        fmt = f"%d.%0{self.decimals}d"
        return [fmt % pair for pair in zip(ip, fp, strict=True)]


def _quote(inst: Instrument) -> _Dec:
    """Quote amounts (price × qty) exactly: the grid is tick × step; spot writes 8 decimals."""
    grid = (inst.tick * inst.step).normalize()
    exp = grid.as_tuple().exponent
    grid_dec = max(0, -exp) if isinstance(exp, int) else 0
    return _Dec(grid, max(grid_dec, 8) if inst.market == "spot" else grid_dec)


def _csv(fmt: str, cols: list[list[object]] | list[object], header: str | None) -> str:
    rows = [fmt % row for row in zip(*cols, strict=True)]
    lines = ([header] if header is not None else []) + rows
    return "\n".join(lines) + "\n" if lines else ""
