"""Public market-data endpoints of the USD-M venue: ping, time, exchangeInfo, prices, depth, and
the trade history the venue has seen (klines, trades, aggTrades, ticker/24hr; :mod:`..history`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from copy import deepcopy
from typing import Any

from exitguard.domain.enums import Side
from exitguard.domain.numbers import format_decimal

from ..errors import VenueError
from ..history import interval_ms, kline_row, stats_24h
from .accounts import Account
from .base import ExchangeBase
from .market import SymbolMarket
from .params import opt_int, opt_str, req_str

__all__ = ["MarketDataEndpoints"]


class MarketDataEndpoints(ExchangeBase):
    def ping(self, _: Account | None, params: Mapping[str, str]) -> dict[str, Any]:
        return {}

    def server_time(self, _: Account | None, params: Mapping[str, str]) -> dict[str, Any]:
        return {"serverTime": self.now_ms()}

    def exchange_info(self, _: Account | None, params: Mapping[str, str]) -> dict[str, Any]:
        doc = deepcopy(self._exchange_info)
        doc["serverTime"] = self.now_ms()
        return doc

    def _each(
        self, params: Mapping[str, str], one: Callable[[SymbolMarket], dict[str, Any]]
    ) -> Any:
        symbol = opt_str(params, "symbol")
        if symbol is not None:
            return one(self.market(symbol))
        return [one(m) for m in self.markets.values()]

    def premium_index(self, _: Account | None, params: Mapping[str, str]) -> Any:
        now = self.now_ms()
        return self._each(
            params,
            lambda m: {
                "symbol": m.rules.symbol,
                "markPrice": format_decimal(m.mark),
                "indexPrice": format_decimal(m.mark),
                "estimatedSettlePrice": format_decimal(m.mark),
                "lastFundingRate": "0.00010000",
                "interestRate": "0.00010000",
                "nextFundingTime": (now // 28_800_000 + 1) * 28_800_000,
                "time": now,
            },
        )

    def ticker_price(self, _: Account | None, params: Mapping[str, str]) -> Any:
        now = self.now_ms()
        return self._each(
            params,
            lambda m: {"symbol": m.rules.symbol, "price": format_decimal(m.last), "time": now},
        )

    def book_ticker(self, _: Account | None, params: Mapping[str, str]) -> Any:
        return self._each(params, self._book_ticker)

    def _book_ticker(self, m: SymbolMarket) -> dict[str, Any]:
        bid, ask = m.book.best(m.last)
        bids, asks = m.book.levels(m.last, Side.SELL), m.book.levels(m.last, Side.BUY)
        now = self.now_ms()
        return {
            "symbol": m.rules.symbol,
            "bidPrice": format_decimal(bid),
            "bidQty": format_decimal(bids[0][1]) if bids else "0",
            "askPrice": format_decimal(ask),
            "askQty": format_decimal(asks[0][1]) if asks else "0",
            "time": now,
        }

    def depth(self, _: Account | None, params: Mapping[str, str]) -> dict[str, Any]:
        m = self.market(req_str(params, "symbol"))
        limit = opt_int(params, "limit", 5, 1000) or 500
        now = self.now_ms()

        def levels(side: Side) -> list[list[str]]:
            return [
                [format_decimal(p), format_decimal(q)]
                for p, q in m.book.levels(m.last, side)[:limit]
            ]

        return {
            "lastUpdateId": now,
            "E": now,
            "T": now,
            "bids": levels(Side.SELL),
            "asks": levels(Side.BUY),
        }

    # -- what the venue has seen (history.py): deterministic, bounded ----------------------

    def ticker_24hr(self, _: Account | None, params: Mapping[str, str]) -> Any:
        """``GET /fapi/v1/ticker/24hr`` from the venue's own trades of the last 24 h."""
        now = self.now_ms()
        return self._each(
            params,
            lambda m: {
                "symbol": m.rules.symbol,
                **stats_24h(m.tape, m.last, now, format_decimal),
            },
        )

    def klines(self, _: Account | None, params: Mapping[str, str]) -> list[list[object]]:
        """``GET /fapi/v1/klines``: candles of the venue's own trades (none for an interval
        without trades)."""
        m = self.market(req_str(params, "symbol"))
        name = req_str(params, "interval")
        step = interval_ms(name)
        if step is None:
            raise VenueError(-1120, "Invalid interval.")
        limit = opt_int(params, "limit", 1, 1500) or 500
        start, end = opt_int(params, "startTime"), opt_int(params, "endTime")
        candles = m.tape.klines(step, start, end, limit)
        return [kline_row(c, step, format_decimal) for c in candles]

    def trades(self, _: Account | None, params: Mapping[str, str]) -> list[dict[str, Any]]:
        """``GET /fapi/v1/trades``: the venue's recent trades (each price step is one trade)."""
        m = self.market(req_str(params, "symbol"))
        limit = opt_int(params, "limit", 1, 1000) or 500
        return [
            {
                "id": t.trade_id,
                "price": format_decimal(t.price),
                "qty": format_decimal(t.qty),
                "quoteQty": format_decimal(t.price * t.qty),
                "time": t.time,
                "isBuyerMaker": False,
                "isRPITrade": False,
            }
            for t in m.tape.recent(limit)
        ]

    def agg_trades(self, _: Account | None, params: Mapping[str, str]) -> list[dict[str, Any]]:
        """``GET /fapi/v1/aggTrades``: one aggregate per venue trade (a step is one taker)."""
        rows = self.market(req_str(params, "symbol")).tape.agg_page(params)
        return [
            {
                "a": t.trade_id,
                "p": format_decimal(t.price),
                "q": format_decimal(t.qty),
                "nq": format_decimal(t.qty),
                "f": t.trade_id,
                "l": t.trade_id,
                "T": t.time,
                "m": False,
            }
            for t in rows
        ]

    def funding_rate(self, _: Account | None, params: Mapping[str, str]) -> list[dict[str, Any]]:
        """``GET /fapi/v1/fundingRate``: the 8-hour funding times of the last ``limit`` periods
        with the constant rate ``premiumIndex`` quotes and today's mark (the venue charges no
        funding; this is a deterministic stand-in, not a record)."""
        symbol = opt_str(params, "symbol")
        names = [self.market(symbol).rules.symbol] if symbol is not None else list(self.markets)
        limit = opt_int(params, "limit", 1, 1000) or 100
        start = opt_int(params, "startTime")
        now = self.now_ms()
        first = max(start or 0, now - limit * 28_800_000)
        times = range((first // 28_800_000 + 1) * 28_800_000, now + 1, 28_800_000)
        rows = [
            {
                "symbol": s,
                "fundingRate": "0.00010000",
                "fundingTime": t,
                "markPrice": format_decimal(self.markets[s].mark),
            }
            for t in times
            for s in names
        ]
        return rows[:limit]
