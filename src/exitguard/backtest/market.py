"""The market a backtest runs on: the trigger price path, the fill series, and entry fills.

All prices are int64 units of ``10**-price_exp`` (one exponent for every series of a run: the
finest of the inputs, so rescaling is exact).

Trigger path (``trigger-semantics.md`` §4 "Consequence for replay"):

- CONTRACT_PRICE: every trade (or aggTrade) is one point; consecutive trades are *jumps* (a stop
  fires at the first print at or beyond it, and that print is where it was touched).
- MARK_PRICE: every markPriceKline becomes four points, open, first extreme, second extreme,
  close, at ``open_time`` and 1/3, 2/3 of the bar and ``close_time`` (the venue's replay feed uses
  the same times). Intrabar order (§3 "Bar replay": the real order is unknown, vectorbt's
  pessimistic SL-before-TP rule applies): **the adverse extreme first**, per position side. Exits
  of long positions (SELL orders) see O→L→H→C, exits of shorts (BUY orders) see O→H→L→C, so when
  one bar touches both a stop and a take-profit the stop fires. The open is a jump from the
  previous close (backtrader's gap rule: a bar that gaps through a stop is touched at the open);
  the three moves inside a bar are continuous (touched at the level itself). Mark prices are
  truncated down to the tick before any comparison (Binance futures FAQ, via
  :func:`exitguard.domain.triggers.truncate_mark_price`).

Fills: trades (SELL and BUY both get the trade price) or, where published, bookTicker (a SELL
gets the best bid, a BUY the best ask). ``next_fill[k]`` is the first fill row strictly after
path point ``k``: for a trade path that is also the fill series, simply the next trade.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import numpy.typing as npt

from exitguard.data.series import BarSeries, BookTickerSeries, TradeSeries, units_to_decimal
from exitguard.domain.enums import WorkingType
from exitguard.domain.triggers import truncate_mark_price

from .entries import Entries
from .model import BPS, MAX_BPS, MAX_PRICE_UNITS, BacktestInputError

__all__ = [
    "EntryPlan",
    "Fills",
    "Market",
    "PricePath",
    "build_market",
    "plan_entries",
    "slip_buy",
    "slip_sell",
]

I64 = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class PricePath:
    """The prices triggers are evaluated on; ``long``/``short``: as exits of that side see them."""

    source: WorkingType
    time_ms: I64
    long: I64
    short: I64
    continuous: npt.NDArray[np.bool_]  # the move from the previous point is continuous
    bars: bool  # four points per bar (O, adverse, favourable, C)

    def __len__(self) -> int:
        return int(self.time_ms.shape[0])


@dataclass(frozen=True, slots=True)
class Fills:
    """Where orders fill: ``sell`` is what a SELL market order gets, ``buy`` a BUY."""

    time_ms: I64
    sell: I64
    buy: I64

    def __len__(self) -> int:
        return int(self.time_ms.shape[0])


@dataclass(frozen=True, slots=True)
class Market:
    """One symbol's trigger path and fill series on a common price exponent."""

    symbol: str
    price_exp: int
    tick: int  # price units per tick: trigger levels and fills are rounded to it
    path: PricePath
    fills: Fills
    next_fill: I64  # per path point: first fill row strictly after it (len(fills) if none)
    same_series: bool  # the path *is* the fill series (trades for CONTRACT_PRICE)

    def to_decimal(self, units: int) -> Decimal:
        """``units`` as an exact Decimal price."""
        return units_to_decimal(int(units), self.price_exp)


def _scaled(values: I64, from_exp: int, to_exp: int) -> I64:
    return values.astype(np.int64) * np.int64(10 ** (to_exp - from_exp))


def _tick_units(tick: Decimal | None, exp: int, default_exp: int) -> int:
    if tick is None:
        return int(10 ** (exp - default_exp))  # the trades' own resolution: they print on the tick
    if not tick.is_finite() or tick <= 0:
        raise BacktestInputError("--tick", f"must be a positive price step, got {tick}")
    units = tick.scaleb(exp)
    if units != units.to_integral_value():
        raise BacktestInputError(
            "--tick", f"{tick} is not a multiple of the data's price resolution 1e-{exp}"
        )
    return int(units)


def _check_range(name: str, values: I64) -> None:
    if values.size and (int(values.min()) <= 0 or int(values.max()) > MAX_PRICE_UNITS):
        raise BacktestInputError(
            name,
            f"prices must be positive and at most {MAX_PRICE_UNITS} units "
            "(int64 headroom for level arithmetic)",
        )


def _mark_path(mark: BarSeries, exp: int, tick: int) -> PricePath:
    n = len(mark)
    if n == 0:
        raise BacktestInputError("--mark", "the mark kline series is empty")
    ohlc = np.stack([mark.open, mark.low, mark.high, mark.close], axis=1)
    ohlc = _scaled(ohlc, mark.price_exp, exp)
    # Truncation through the domain rule itself (one call per distinct price, not per point).
    uniq, inverse = np.unique(ohlc, return_inverse=True)
    tick_dec = units_to_decimal(tick, exp)
    truncated = np.array(
        [
            int(truncate_mark_price(units_to_decimal(int(u), exp), tick_dec).scaleb(exp))
            for u in uniq
        ],
        dtype=np.int64,
    )
    o, low, high, c = (truncated[inverse.reshape(ohlc.shape)][:, i] for i in range(4))
    span = mark.close_time_ms - mark.open_time_ms
    times = np.stack(
        [
            mark.open_time_ms,
            mark.open_time_ms + span // 3,
            mark.open_time_ms + (2 * span) // 3,
            mark.close_time_ms,
        ],
        axis=1,
    ).reshape(-1)
    cont = np.tile(np.array([False, True, True, True]), n)
    long = np.stack([o, low, high, c], axis=1).reshape(-1)
    short = np.stack([o, high, low, c], axis=1).reshape(-1)
    return PricePath(WorkingType.MARK_PRICE, times.astype(np.int64), long, short, cont, True)


def build_market(
    trades: TradeSeries,
    source: WorkingType,
    mark: BarSeries | None = None,
    tick: Decimal | None = None,
    book: BookTickerSeries | None = None,
) -> Market:
    """The market for one trigger ``source``: see the module docstring for the rules.

    ``trades`` are required (CONTRACT_PRICE triggers, and fills unless ``book`` is given);
    ``mark`` klines are required for MARK_PRICE. ``tick`` (a Decimal price step) defaults to the
    trades' price resolution. Raises :class:`BacktestInputError` naming the input at fault.
    """
    source = WorkingType(source)
    if len(trades) == 0:
        raise BacktestInputError("--trades", "the trade series is empty")
    exps = [trades.price_exp]
    if mark is not None:
        if mark.source != "markPriceKlines":
            raise BacktestInputError("--mark", f"expected markPriceKlines, got {mark.source}")
        exps.append(mark.price_exp)
    if book is not None:
        exps.append(book.price_exp)
    exp = max(exps)
    tick_units = _tick_units(tick, exp, trades.price_exp)
    trade_prices = _scaled(trades.price, trades.price_exp, exp)
    _check_range("--trades", trade_prices)
    off_grid = np.flatnonzero(trade_prices % tick_units)
    if off_grid.size:  # trades print on the symbol's tick: a tick they contradict is wrong
        bad = units_to_decimal(int(trade_prices[off_grid[0]]), exp)
        raise BacktestInputError(
            "--tick",
            f"trade price {bad} is not a multiple of the tick {units_to_decimal(tick_units, exp)}",
        )
    if book is not None and len(book):
        bid = _scaled(book.bid, book.price_exp, exp)
        ask = _scaled(book.ask, book.price_exp, exp)
        _check_range("--book", np.concatenate([bid, ask]))
        fills = Fills(book.time_ms.astype(np.int64), bid, ask)
    else:
        fills = Fills(trades.time_ms.astype(np.int64), trade_prices, trade_prices)
    if source is WorkingType.CONTRACT_PRICE:
        path = PricePath(
            source,
            trades.time_ms.astype(np.int64),
            trade_prices,
            trade_prices,
            np.zeros(len(trades), dtype=np.bool_),
            False,
        )
    else:
        if mark is None:
            raise BacktestInputError("--mark", "MARK_PRICE triggers need markPriceKlines files")
        path = _mark_path(mark, exp, tick_units)
        _check_range("--mark", path.long)
    same = source is WorkingType.CONTRACT_PRICE and book is None
    if same:
        next_fill = np.arange(1, len(path) + 1, dtype=np.int64)
    else:
        next_fill = np.searchsorted(fills.time_ms, path.time_ms, side="right").astype(np.int64)
    return Market(trades.symbol, exp, tick_units, path, fills, next_fill, same)


def slip_sell(price: I64, slippage_bps: int, tick: int) -> I64:
    """A SELL fill: ``price * (1 - s)`` rounded down to the tick (against the seller)."""
    return (price * (BPS - slippage_bps)) // (BPS * tick) * tick


def slip_buy(price: I64, slippage_bps: int, tick: int) -> I64:
    """A BUY fill: ``price * (1 + s)`` rounded up to the tick (against the buyer)."""
    return -((-price * (BPS + slippage_bps)) // (BPS * tick)) * tick


@dataclass(frozen=True, slots=True)
class EntryPlan:
    """How each entry filled, and where its exits start watching the path.

    ``reference``: the last path price at placement (as the entry's exits see the path): where a
    trailing stop without activation starts tracking (Binance: "defaults to the latest price").
    """

    side: npt.NDArray[np.int8]
    fill_row: I64
    time_ms: I64  # entry fill time
    price: I64  # entry fill price (slippage included): the base of every exit level
    start: I64  # first path point the exits see
    reference: I64

    def __len__(self) -> int:
        return int(self.side.shape[0])


def plan_entries(market: Market, entries: Entries, slippage_bps: int) -> EntryPlan:
    """Fill each entry with a market order at the first fill row at or after its time.

    A long buys at ``fills.buy`` (+slippage, rounded up to the tick), a short sells at
    ``fills.sell`` (-slippage, rounded down). Exits are placed right after the fill: on a trade
    path they see the trades after the entry trade; on a mark path, the points after its time.
    Raises :class:`BacktestInputError` for an entry outside the fill series' time range.
    """
    if not 0 <= slippage_bps <= MAX_BPS:
        raise BacktestInputError("slippage_bps", f"must be between 0 and {MAX_BPS}")
    fills = market.fills
    nf = len(fills)
    if len(entries) == 0:
        raise BacktestInputError("entries", "no entries to backtest")
    first, last = int(fills.time_ms[0]), int(fills.time_ms[nf - 1])
    bad = np.flatnonzero((entries.time_ms < first) | (entries.time_ms > last))
    if bad.size:
        i = int(bad[0])
        raise BacktestInputError(
            "entries",
            f"entry {i + 1} at {int(entries.time_ms[i])} ms is outside the data's time range "
            f"[{first}, {last}] ms",
        )
    row = np.searchsorted(fills.time_ms, entries.time_ms, side="left").astype(np.int64)
    side = entries.side.astype(np.int8)
    long = side > 0
    price = np.where(
        long,
        slip_buy(fills.buy[row], slippage_bps, market.tick),
        slip_sell(fills.sell[row], slippage_bps, market.tick),
    ).astype(np.int64)
    time_ms = fills.time_ms[row]
    path = market.path
    if market.same_series:
        start = row + 1
    else:
        start = np.searchsorted(path.time_ms, time_ms, side="right").astype(np.int64)
    ref_idx = np.maximum(start - 1, 0)
    reference = np.where(long, path.long[ref_idx], path.short[ref_idx]).astype(np.int64)
    return EntryPlan(side, row, time_ms.astype(np.int64), price, start.astype(np.int64), reference)
