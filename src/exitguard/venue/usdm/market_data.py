"""Public market-data endpoints of the USD-M venue (ping, time, exchangeInfo, prices, depth)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from copy import deepcopy
from typing import Any

from exitguard.domain.enums import Side
from exitguard.domain.numbers import format_decimal

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
