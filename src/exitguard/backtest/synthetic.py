"""In-memory synthetic price series for tests, demos and the benchmark (seeded, no files).

:mod:`exitguard.data.synth` writes archives in the published format; this module makes the
arrays directly, fast enough for a million-tick path: a random walk in integer price units with
occasional jumps (gaps through stops), and mark klines derived from it with a slowly drifting
basis and more decimals than the trades (so mark truncation matters).
"""

from __future__ import annotations

import numpy as np

from exitguard.data.series import BarSeries, TradeSeries

__all__ = ["mark_klines", "random_trades"]


def random_trades(
    n: int,
    seed: int = 0,
    start_price: int = 5_000_000,
    price_exp: int = 2,
    step_bps: float = 2.0,
    jump_prob: float = 0.001,
    jump_bps: float = 80.0,
    start_ms: int = 1_704_067_200_000,
    symbol: str = "BTCUSDT",
) -> TradeSeries:
    """``n`` trades: a geometric random walk (``step_bps`` per trade) with rare jumps.

    Times advance by 0..400 ms per trade (some trades share a millisecond, as real prints do).
    Prices stay positive integers; quantities are 1..1000 units of ``10**-3``.
    """
    rng = np.random.default_rng(seed)
    steps = rng.normal(0.0, step_bps / 1e4, n)
    jumps = rng.random(n) < jump_prob
    steps[jumps] += rng.choice([-1.0, 1.0], int(jumps.sum())) * jump_bps / 1e4
    steps[0] = 0.0
    price = np.maximum(np.rint(start_price * np.exp(np.cumsum(steps))), 1).astype(np.int64)
    gaps = rng.integers(0, 400, n)
    gaps[0] = 0
    time_ms = start_ms + np.cumsum(gaps).astype(np.int64)
    qty = rng.integers(1, 1000, n).astype(np.int64)
    return TradeSeries(
        symbol=symbol,
        market="um",
        price_exp=price_exp,
        qty_exp=3,
        time_ms=time_ms,
        price=price,
        qty=qty,
        is_buyer_maker=rng.random(n) < 0.5,
    )


def mark_klines(
    trades: TradeSeries,
    interval_ms: int = 60_000,
    seed: int = 0,
    basis_bps: float = 3.0,
    extra_decimals: int = 2,
) -> BarSeries:
    """Mark klines over the trades' time span: each bar's OHLC of ``last * (1 + basis)``.

    The basis drifts as a slow random walk around 0 (scale ``basis_bps``); prices carry
    ``extra_decimals`` more decimals than the trades. Bars without trades repeat the last price.
    """
    rng = np.random.default_rng(seed + 1)
    t0 = int(trades.time_ms[0]) // interval_ms * interval_ms
    n_bars = (int(trades.time_ms[-1]) - t0) // interval_ms + 1
    bar = (trades.time_ms - t0) // interval_ms
    basis = np.cumsum(rng.normal(0.0, basis_bps / 1e4 / 4, n_bars))
    basis = np.clip(basis, -3 * basis_bps / 1e4, 3 * basis_bps / 1e4)
    scale = 10**extra_decimals
    mark = trades.price.astype(np.float64) * scale * (1.0 + basis[bar])
    mark += rng.uniform(0, scale, mark.shape[0])  # sub-tick noise the truncation must drop
    mark_i = np.rint(mark).astype(np.int64)
    opens = np.zeros(n_bars, dtype=np.int64)
    highs = np.zeros(n_bars, dtype=np.int64)
    lows = np.zeros(n_bars, dtype=np.int64)
    closes = np.zeros(n_bars, dtype=np.int64)
    first = np.searchsorted(bar, np.arange(n_bars), side="left")
    last = np.searchsorted(bar, np.arange(n_bars), side="right") - 1
    previous = int(mark_i[0])
    for b in range(n_bars):
        if last[b] < first[b]:
            opens[b] = highs[b] = lows[b] = closes[b] = previous
            continue
        chunk = mark_i[first[b] : last[b] + 1]
        opens[b], closes[b] = chunk[0], chunk[-1]
        highs[b], lows[b] = chunk.max(), chunk.min()
        previous = int(chunk[-1])
    open_time = t0 + np.arange(n_bars, dtype=np.int64) * interval_ms
    return BarSeries(
        symbol=trades.symbol,
        market="um",
        source="markPriceKlines",
        interval=f"{interval_ms // 60_000}m" if interval_ms % 60_000 == 0 else f"{interval_ms}ms",
        price_exp=trades.price_exp + extra_decimals,
        open_time_ms=open_time,
        close_time_ms=open_time + interval_ms - 1,
        open=opens,
        high=highs,
        low=lows,
        close=closes,
    )
