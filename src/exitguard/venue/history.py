"""What the venue has seen of one symbol's trades: a bounded tape and 1-minute candles.

The paper venue has no exchange-wide market: its "trades" are the price steps it applied (each
step of the last price is one trade of the quantity the step carried, 1 when it carried none, as
the venue's ``trade``/``aggTrade`` streams already say). ``klines``, ``trades``, ``aggTrades`` and
``ticker/24hr`` answer from this record only: deterministic (a function of the steps and the
venue clock) and bounded in memory (:data:`MAX_TRADES` trades, :data:`MAX_MINUTES` one-minute
candles per symbol; older ones are forgotten, as a real venue's recent-trades list forgets).
Longer kline intervals are built from the 1-minute candles.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from .usdm.params import opt_int

__all__ = [
    "INTERVAL_MS",
    "MAX_MINUTES",
    "MAX_TRADES",
    "MINUTE",
    "Candle",
    "Tape",
    "TapeTrade",
    "interval_ms",
    "kline_row",
    "stats_24h",
]

MAX_TRADES = 1000  # Binance's recent-trades limit (trades/aggTrades ``limit`` max 1000)
MAX_MINUTES = 1500  # one 1500-candle klines answer of 1m (the klines ``limit`` max)
MINUTE = 60_000
# Kline intervals of the USD-M and Spot klines pages ("1s" is Spot-only and not kept: candles
# are built per minute). Months are 30 days here (the venue rarely runs that long).
INTERVAL_MS: dict[str, int] = {
    "1m": MINUTE,
    "3m": 3 * MINUTE,
    "5m": 5 * MINUTE,
    "15m": 15 * MINUTE,
    "30m": 30 * MINUTE,
    "1h": 60 * MINUTE,
    "2h": 120 * MINUTE,
    "4h": 240 * MINUTE,
    "6h": 360 * MINUTE,
    "8h": 480 * MINUTE,
    "12h": 720 * MINUTE,
    "1d": 1440 * MINUTE,
    "3d": 3 * 1440 * MINUTE,
    "1w": 7 * 1440 * MINUTE,
    "1M": 30 * 1440 * MINUTE,
}
ZERO = Decimal(0)


def interval_ms(name: str) -> int | None:
    return INTERVAL_MS.get(name)


@dataclass(frozen=True, slots=True)
class TapeTrade:
    trade_id: int
    time: int
    price: Decimal
    qty: Decimal


@dataclass(slots=True)
class Candle:
    open_time: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    quote_volume: Decimal
    trades: int

    def add(self, price: Decimal, qty: Decimal) -> None:
        self.high = max(self.high, price)
        self.low = min(self.low, price)
        self.close = price
        self.volume += qty
        self.quote_volume += price * qty
        self.trades += 1


class Tape:
    """The recent trades and 1-minute candles of one symbol."""

    def __init__(self) -> None:
        self.trades: deque[TapeTrade] = deque(maxlen=MAX_TRADES)
        self.minutes: deque[Candle] = deque(maxlen=MAX_MINUTES)
        self._next_id = 1

    def record(self, now_ms: int, price: Decimal, qty: Decimal, trade_id: int | None = None) -> int:
        tid = trade_id if trade_id is not None else self._next_id
        self._next_id = tid + 1
        self.trades.append(TapeTrade(tid, now_ms, price, qty))
        start = now_ms - now_ms % MINUTE
        if self.minutes and self.minutes[-1].open_time == start:
            self.minutes[-1].add(price, qty)
        elif not self.minutes or self.minutes[-1].open_time < start:
            self.minutes.append(Candle(start, price, price, price, price, qty, price * qty, 1))
        else:  # the clock went back (a reset clock): start over rather than misorder candles
            self.minutes.clear()
            self.minutes.append(Candle(start, price, price, price, price, qty, price * qty, 1))
        return tid

    def recent(self, limit: int) -> list[TapeTrade]:
        items = list(self.trades)
        return items[-limit:] if limit else []

    def since(self, from_id: int | None, start: int | None, end: int | None) -> list[TapeTrade]:
        return [
            t
            for t in self.trades
            if (from_id is None or t.trade_id >= from_id)
            and (start is None or t.time >= start)
            and (end is None or t.time <= end)
        ]

    def agg_page(self, params: Mapping[str, str]) -> list[TapeTrade]:
        """The trades an ``aggTrades`` request asks for (``fromId``, ``startTime``, ``endTime``,
        ``limit`` ≤ 1000, default 500): the first ``limit`` from a starting point, else the
        latest ``limit`` (Binance's rule for both products)."""
        limit = opt_int(params, "limit", 1, 1000) or 500
        from_id = opt_int(params, "fromId")
        start, end = opt_int(params, "startTime"), opt_int(params, "endTime")
        rows = self.since(from_id, start, end)
        return rows[:limit] if from_id is not None or start is not None else rows[-limit:]

    def klines(self, step_ms: int, start: int | None, end: int | None, limit: int) -> list[Candle]:
        """Candles of ``step_ms`` built from the minute candles (no trades: no candle, as the
        venue has nothing to say about an empty interval)."""
        out: list[Candle] = []
        for c in self.minutes:
            begin = c.open_time - c.open_time % step_ms
            if (start is not None and begin + step_ms <= start) or (
                end is not None and begin > end
            ):
                continue
            if out and out[-1].open_time == begin:
                last = out[-1]
                last.high, last.low = max(last.high, c.high), min(last.low, c.low)
                last.close = c.close
                last.volume += c.volume
                last.quote_volume += c.quote_volume
                last.trades += c.trades
            else:
                out.append(
                    Candle(
                        begin, c.open, c.high, c.low, c.close, c.volume, c.quote_volume, c.trades
                    )
                )
        return out[:limit] if start is not None else out[-limit:]

    def window(self, now_ms: int, span_ms: int = 1440 * MINUTE) -> list[Candle]:
        """The minute candles of the last ``span_ms`` (``ticker/24hr``)."""
        return [c for c in self.minutes if c.open_time + MINUTE > now_ms - span_ms]


def kline_row(c: Candle, step_ms: int, fmt: Callable[[Decimal], str]) -> list[object]:
    """One kline as both products' klines pages list it (taker-buy volumes: 0, the venue's
    trades have no aggressor side; the last element is the documented unused "0")."""
    return [
        c.open_time,
        fmt(c.open),
        fmt(c.high),
        fmt(c.low),
        fmt(c.close),
        fmt(c.volume),
        c.open_time + step_ms - 1,
        fmt(c.quote_volume),
        c.trades,
        fmt(ZERO),
        fmt(ZERO),
        "0",
    ]


def stats_24h(
    tape: Tape, last: Decimal, now_ms: int, fmt: Callable[[Decimal], str]
) -> dict[str, Any]:
    """The fields both products' ``ticker/24hr`` share, from the last 24 h of minute candles
    (no trade in the window: open = high = low = last, volumes 0, ids -1 as Binance sends for
    a symbol without trades)."""
    window = tape.window(now_ms)
    trades = [t for t in tape.trades if t.time > now_ms - 1440 * MINUTE]
    opened = window[0].open if window else last
    volume = sum((c.volume for c in window), ZERO)
    quote = sum((c.quote_volume for c in window), ZERO)
    change = last - opened
    percent = (change * 100 / opened).quantize(Decimal("0.001")) if opened else ZERO
    return {
        "priceChange": fmt(change),
        "priceChangePercent": format(percent, "f"),
        "weightedAvgPrice": fmt(quote / volume if volume else last),
        "lastPrice": fmt(last),
        "lastQty": fmt(trades[-1].qty if trades else ZERO),
        "openPrice": fmt(opened),
        "highPrice": fmt(max((c.high for c in window), default=last)),
        "lowPrice": fmt(min((c.low for c in window), default=last)),
        "volume": fmt(volume),
        "quoteVolume": fmt(quote),
        "openTime": now_ms - 1440 * MINUTE,
        "closeTime": now_ms,
        "firstId": trades[0].trade_id if trades else -1,
        "lastId": trades[-1].trade_id if trades else -1,
        "count": len(trades),
    }
