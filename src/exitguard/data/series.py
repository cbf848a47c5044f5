"""Price paths as columns of exact integers: what ``exitguard.data`` loads and the backtest reads.

Prices are ``int64`` *units* of ``10**-price_exp`` (``price_exp`` is the largest number of
decimals written in the source file, so the conversion from the published decimal strings is
exact); quantities likewise with ``qty_exp``. Times are integer milliseconds UTC (microsecond
files are floored, as :mod:`exitguard.domain.market_data` does). Rows are sorted by time (stable),
because some published files (USD-M bookTicker) are slightly out of order.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

import numpy as np
import numpy.typing as npt

__all__ = ["BarSeries", "BookTickerSeries", "Market", "TradeSeries", "units_to_decimal"]

Market = Literal["spot", "um"]
I64 = npt.NDArray[np.int64]


def units_to_decimal(units: int, exp: int) -> Decimal:
    """``units * 10**-exp`` as an exact ``Decimal``."""
    return Decimal(int(units)).scaleb(-exp)


@dataclass(frozen=True, slots=True)
class TradeSeries:
    """Trades or aggTrades (CONTRACT_PRICE / last price): one row per print."""

    symbol: str
    market: Market
    price_exp: int
    qty_exp: int
    time_ms: I64
    price: I64
    qty: I64
    is_buyer_maker: npt.NDArray[np.bool_]

    def __len__(self) -> int:
        return int(self.time_ms.shape[0])


@dataclass(frozen=True, slots=True)
class BarSeries:
    """Klines or markPriceKlines: one row per bar (``source`` says which)."""

    symbol: str
    market: Market
    source: Literal["klines", "markPriceKlines"]
    interval: str
    price_exp: int
    open_time_ms: I64
    close_time_ms: I64
    open: I64
    high: I64
    low: I64
    close: I64

    def __len__(self) -> int:
        return int(self.open_time_ms.shape[0])


@dataclass(frozen=True, slots=True)
class BookTickerSeries:
    """USD-M ``bookTicker`` (best bid/ask): one row per update, sorted by ``time_ms``.

    ``time_ms`` is the published ``transaction_time`` (when the book changed, not when the event
    was sent); rows with equal times keep the ``update_id`` order. Bid and ask prices share
    ``price_exp``, their sizes ``qty_exp``. Files exist only for USD-M up to 2024-03 (reference
    section 4), so fills after that date fall back to last trade and a slippage model.
    """

    symbol: str
    market: Market
    price_exp: int
    qty_exp: int
    time_ms: I64
    bid: I64
    ask: I64
    bid_qty: I64
    ask_qty: I64

    def __len__(self) -> int:
        return int(self.time_ms.shape[0])
