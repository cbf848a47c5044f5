"""The synthetic market behind :mod:`exitguard.data.synth` (numbers only; no files, no format).

See :mod:`exitguard.data.synth` for the model in prose. This module turns ``(seed, days, symbol)``
into arrays: a one-second log-price path with regimes and jumps, minutes without trades (gaps), a
mark price that is a smoothed index plus a slowly moving basis, and taker orders ("events") with
their fills, prices on the symbol's tick grid and quantities on its step grid.

Randomness comes from separate streams (``[seed, 1]`` for the path, ``[seed, 2]`` for the orders,
``[seed, 3]`` for the book), so the path — and hence the mark series — does not depend on the
order rate or the file type asked for: a trades file and a markPriceKlines file made with the same
seed, start and days describe the same market.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from decimal import Decimal
from importlib.resources import files

import numpy as np
import numpy.typing as npt
from numba import njit

from .series import Market

__all__ = [
    "Events",
    "Instrument",
    "MarketPath",
    "instrument",
    "simulate_events",
    "simulate_path",
]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

SECONDS_PER_DAY = 86_400
US_PER_SECOND = 1_000_000

# Regimes: 0 range (mean-reverting), 1 trend, 2 volatile. Per regime: share of time it is chosen
# when the regime changes, mean duration in minutes, volatility multiplier, order-rate multiplier,
# jump-rate multiplier, spread multiplier.
REGIME_NAMES = ("range", "trend", "volatile")
_REGIME_WEIGHT = np.array([0.45, 0.35, 0.20])
_REGIME_MINUTES = np.array([180.0, 120.0, 45.0])
_REGIME_VOL = np.array([0.6, 1.0, 2.5])
_REGIME_ACTIVITY = np.array([0.8, 1.0, 2.0])
_REGIME_JUMPS = np.array([0.5, 1.0, 3.0])
_REGIME_SPREAD = np.array([1.0, 1.0, 2.0])

DAILY_VOL = 0.03  # a crypto-like 3 % daily volatility at multiplier 1
TREND_PER_HOUR = 0.005  # |drift| in a trend regime: 0.5 % an hour
RANGE_HALF_LIFE_S = 900.0  # range regimes pull back to their anchor with a 15-minute half-life
JUMPS_PER_DAY = 4.0  # at multiplier 1
JUMP_MEDIAN = 0.004  # median jump size 0.4 %, log-normal spread 0.5
GAP_START_PER_MINUTE = 0.004  # ~6 gaps a day
GAP_MEAN_MINUTES = 3.0
INDEX_SMOOTHING_S = 10.0  # the index is an EMA of the fair price over ~10 s
BASIS_MEAN = 0.0001  # mark = index * (1 + basis); basis: OU, mean 1 bp, sd 4 bp, half-life 20 min
BASIS_SD = 0.0004
BASIS_HALF_LIFE_S = 1200.0
HALF_SPREAD = 0.00002  # 0.2 bp, at least half a tick
NOTIONAL_MEDIAN = 300.0  # quote-asset size of a median taker order
FILLS_EXTRA_MEAN = 0.5  # an order fills 1 + Poisson(0.5) trades

# Plausible start prices for the bundled symbols; others start at 100 unless told.
_START_PRICES = {
    "BTCUSDT": "60000",
    "ETHUSDT": "3000",
    "SOLUSDT": "150",
    "DOGEUSDT": "0.15",
    "PEPEUSDT": "0.00001",
    "1000PEPEUSDT": "0.01",
}


@dataclass(frozen=True, slots=True)
class Instrument:
    """Grids and output precision: prices are ``ticks * tick``, quantities ``steps * step``."""

    symbol: str
    market: Market
    tick: Decimal
    step: Decimal
    min_price: Decimal
    price_decimals: int  # decimals written for prices (>= the tick's)
    qty_decimals: int  # decimals written for quantities (>= the step's)
    start_price: Decimal


def _decimals(d: Decimal) -> int:
    exp = d.normalize().as_tuple().exponent
    return max(0, -exp) if isinstance(exp, int) else 0


def instrument(symbol: str, market: Market, start_price: Decimal | str | None = None) -> Instrument:
    """The symbol's grids from the bundled exchangeInfo fixtures, or a sensible default grid.

    Spot files write 8 decimals (``quotePrecision``/``baseAssetPrecision``); USD-M files the
    symbol's ``pricePrecision``/``quantityPrecision``.
    """
    price = Decimal(str(start_price or _START_PRICES.get(symbol, "100")))
    if price <= 0:
        raise ValueError("start_price must be > 0")
    fixture = "spot" if market == "spot" else "usdm"
    doc = json.loads(
        files("exitguard").joinpath(f"fixtures/exchange_info/{fixture}.json").read_text()
    )
    for raw in doc.get("symbols", []):
        if raw.get("symbol") != symbol:
            continue
        filters = {f["filterType"]: f for f in raw.get("filters", [])}
        tick = Decimal(filters["PRICE_FILTER"]["tickSize"]).normalize()
        step = Decimal(filters["LOT_SIZE"]["stepSize"]).normalize()
        min_price = Decimal(filters["PRICE_FILTER"]["minPrice"])
        if market == "spot":
            pdec, qdec = int(raw["quotePrecision"]), int(raw["baseAssetPrecision"])
        else:
            pdec, qdec = int(raw["pricePrecision"]), int(raw["quantityPrecision"])
        pdec, qdec = max(pdec, _decimals(tick)), max(qdec, _decimals(step))
        return Instrument(symbol, market, tick, step, min_price, pdec, qdec, price)
    # Unknown symbol: five significant digits of price, and a step worth about a cent or less.
    tick = Decimal(1).scaleb(math.floor(math.log10(float(price))) - 4)
    step = Decimal("0.001") if price >= 10 else Decimal(1)
    pdec = 8 if market == "spot" else _decimals(tick)
    qdec = 8 if market == "spot" else _decimals(step)
    return Instrument(symbol, market, tick, step, tick, max(pdec, _decimals(tick)), qdec, price)


@dataclass(frozen=True, slots=True)
class MarketPath:
    """One second-resolution market: ``log_price[i]`` at second ``i`` (``n_seconds + 1`` points)."""

    log_price: F64
    regime: npt.NDArray[np.int8]  # per minute
    gap: npt.NDArray[np.bool_]  # per minute: True = no trades in that minute
    mark: F64  # per second (``n_seconds`` points): the mark price at the start of each second

    @property
    def minutes(self) -> int:
        return int(self.regime.shape[0])


@njit(cache=True)
def _walk(
    x0: float,
    regime_s: npt.NDArray[np.int8],
    trend_dir_s: F64,
    z: F64,
    jumps: F64,
    vol: F64,
    drift: float,
    kappa: float,
) -> F64:
    n = z.shape[0]
    x = np.empty(n + 1)
    x[0] = x0
    anchor = x0
    prev = -1
    for i in range(n):
        r = regime_s[i]
        if r != prev:
            anchor = x[i]  # a range regime oscillates around where it started
            prev = r
        step = vol[r] * z[i] + jumps[i]
        if r == 0:
            step -= kappa * (x[i] - anchor)
        elif r == 1:
            step += drift * trend_dir_s[i]
        x[i + 1] = x[i] + step
    return x


@njit(cache=True)
def _mark(
    price: F64, alpha: float, basis_z: F64, b_kappa: float, b_mean: float, b_sd: float
) -> F64:
    n = basis_z.shape[0]
    out = np.empty(n)
    index = price[0]
    basis = b_mean
    noise = b_sd * math.sqrt(2.0 * b_kappa)
    for i in range(n):
        index += alpha * (price[i] - index)
        basis += b_kappa * (b_mean - basis) + noise * basis_z[i]
        out[i] = index * (1.0 + basis)
    return out


def simulate_path(inst: Instrument, days: int, seed: int) -> MarketPath:
    """Regimes, gaps and the one-second log-price path (with jumps), and the mark series."""
    if days < 1:
        raise ValueError("days must be >= 1")
    rng = np.random.default_rng([seed, 1])
    minutes = days * 1440
    seconds = days * SECONDS_PER_DAY
    # Regimes: a minute-level Markov chain; leave the current regime with prob 1/mean duration.
    regime = np.empty(minutes, dtype=np.int8)
    trend_dir = np.empty(minutes)
    switch = rng.random(minutes)
    pick = rng.choice(3, size=minutes, p=_REGIME_WEIGHT)
    signs = np.where(rng.random(minutes) < 0.5, -1.0, 1.0)
    cur, sign = int(rng.choice(3, p=_REGIME_WEIGHT)), float(signs[0])
    for m in range(minutes):
        if m and switch[m] < 1.0 / _REGIME_MINUTES[cur]:
            cur, sign = int(pick[m]), float(signs[m])
        regime[m] = cur
        trend_dir[m] = sign
    # Gaps: runs of minutes with no trades (the path goes on, so the next print is gapped).
    gap = np.zeros(minutes, dtype=np.bool_)
    starts = np.flatnonzero(rng.random(minutes) < GAP_START_PER_MINUTE)
    lengths = rng.geometric(1.0 / GAP_MEAN_MINUTES, size=starts.shape[0])
    for s, n in zip(starts.tolist(), lengths.tolist(), strict=True):
        gap[s : s + min(n, 10)] = True
    regime_s = np.repeat(regime, 60)
    sigma = DAILY_VOL / math.sqrt(SECONDS_PER_DAY)
    z = rng.standard_normal(seconds)
    jump_rate = JUMPS_PER_DAY / SECONDS_PER_DAY * _REGIME_JUMPS[regime_s]
    jump_size = JUMP_MEDIAN * np.exp(0.5 * rng.standard_normal(seconds))
    jump_sign = np.where(rng.random(seconds) < 0.5, -1.0, 1.0)
    jumps = np.where(rng.random(seconds) < jump_rate, jump_sign * jump_size, 0.0)
    x = _walk(
        math.log(float(inst.start_price)),
        regime_s,
        np.repeat(trend_dir, 60),
        z,
        jumps,
        _REGIME_VOL * sigma,
        TREND_PER_HOUR / 3600.0,
        math.log(2.0) / RANGE_HALF_LIFE_S,
    )
    floor = math.log(float(inst.min_price) * 2)  # keep prints above the venue's minimum price
    np.maximum(x, floor, out=x)
    mark = _mark(
        np.exp(x[:-1]),
        1.0 - math.exp(-1.0 / INDEX_SMOOTHING_S),
        rng.standard_normal(seconds),
        math.log(2.0) / BASIS_HALF_LIFE_S,
        BASIS_MEAN,
        BASIS_SD,
    )
    return MarketPath(x, regime, gap, mark)


@dataclass(frozen=True, slots=True)
class Events:
    """Taker orders (one aggTrades row each) over the whole range, sorted by time.

    ``fills[i]`` trades (ids ``first_trade_id[i] ..``) make order ``i``; ``fill_qty`` holds every
    trade's quantity in steps, order by order (``np.repeat`` of the order fields lines them up).
    """

    time_us: I64  # since the start of the first day
    price_ticks: I64
    qty_steps: I64
    is_buyer_maker: npt.NDArray[np.bool_]
    fills: I64
    first_agg_id: int
    first_trade_id: I64
    fill_qty: I64

    def __len__(self) -> int:
        return int(self.time_us.shape[0])


def half_spread_ticks(inst: Instrument, price: F64, regime: npt.NDArray[np.int8]) -> F64:
    """Half the quoted spread in ticks (at least half a tick; wider in volatile regimes)."""
    tick = float(inst.tick)
    half: F64 = np.maximum(0.5, price * HALF_SPREAD / tick) * _REGIME_SPREAD[regime]
    return half


def fair_price(path: MarketPath, time_us: I64) -> F64:
    """The fair price at each time, interpolated in log space between the one-second points."""
    sec = time_us // US_PER_SECOND
    frac = (time_us % US_PER_SECOND) / US_PER_SECOND
    x = path.log_price
    return np.exp(x[sec] + (x[sec + 1] - x[sec]) * frac)


def simulate_events(
    inst: Instrument, path: MarketPath, trades_per_minute: int, seed: int
) -> Events:
    """Taker orders: Poisson counts per minute (none in gaps), uniform times, prices at bid/ask."""
    if trades_per_minute < 1:
        raise ValueError("trades_per_minute must be >= 1")
    rng = np.random.default_rng([seed, 2])
    activity = _REGIME_ACTIVITY[path.regime]
    activity = activity / activity.mean()  # so trades_per_minute is the average over the range
    counts = rng.poisson(trades_per_minute * activity)
    counts[path.gap] = 0
    minute = np.repeat(np.arange(path.minutes, dtype=np.int64), counts)
    offset = rng.integers(0, 60 * US_PER_SECOND, size=minute.shape[0], dtype=np.int64)
    time_us = np.sort(minute * 60 * US_PER_SECOND + offset, kind="stable")
    n = time_us.shape[0]
    regime = path.regime[time_us // (60 * US_PER_SECOND)]
    fair = fair_price(path, time_us)
    # Taker side: a coin flip, leaning with the trend in trend regimes (buyers in an up-trend).
    sec = np.minimum(time_us // US_PER_SECOND, path.log_price.shape[0] - 2)
    drift_sign = np.sign(path.log_price[sec + 1] - path.log_price[np.maximum(sec - 30, 0)])
    p_buy = 0.5 + np.where(regime == 1, 0.1 * drift_sign, 0.0)
    taker_buy = rng.random(n) < p_buy
    half = half_spread_ticks(inst, fair, regime)
    mid = fair / float(inst.tick)
    ask = np.ceil(mid + half - 1e-9)
    bid = np.floor(mid - half + 1e-9)
    min_ticks = max(1, int(inst.min_price / inst.tick))
    price_ticks = np.maximum(np.where(taker_buy, ask, bid), min_ticks).astype(np.int64)
    notional = NOTIONAL_MEDIAN * np.exp(1.2 * rng.standard_normal(n))
    qty_steps = np.maximum(1, np.round(notional / fair / float(inst.step))).astype(np.int64)
    fills = np.minimum(1 + rng.poisson(FILLS_EXTRA_MEAN, size=n), qty_steps).astype(np.int64)
    fill_qty = _split(qty_steps, fills, rng)
    first_agg_id = int(rng.integers(10**8, 10**9))
    first_trade = int(rng.integers(10**9, 2 * 10**9))
    first_trade_id = first_trade + np.concatenate(([0], np.cumsum(fills)[:-1])).astype(np.int64)
    return Events(
        time_us,
        price_ticks,
        qty_steps,
        ~taker_buy,
        fills,
        first_agg_id,
        first_trade_id,
        fill_qty,
    )


def _split(total: I64, parts: I64, rng: np.random.Generator) -> I64:
    """Split each ``total[i]`` into ``parts[i]`` positive integers (random shares), exactly."""
    owner = np.repeat(np.arange(total.shape[0]), parts)
    if owner.shape[0] == 0:
        return np.zeros(0, dtype=np.int64)
    weight = rng.random(owner.shape[0]) + 0.05
    starts = np.concatenate(([0], np.cumsum(parts)[:-1]))
    wsum = np.add.reduceat(weight, starts)
    spare = (total - parts)[owner]
    share = 1 + np.floor(spare * weight / wsum[owner]).astype(np.int64)
    given = np.add.reduceat(share, starts)
    last = starts + parts - 1
    share[last] += total - given  # the rounding remainder goes to each order's last fill
    return share
