"""Market-data and account endpoints of the Spot venue: ping, time, exchangeInfo, ticker/price,
ticker/bookTicker, depth, the trade history the venue has seen (klines, trades, aggTrades,
ticker/24hr, avgPrice: :mod:`..history`), account, ``/sapi/v1/asset/tradeFee``, and the deprecated
listenKey requests (Spot ``rest-api.md``).

The spot listenKey requests (``POST``/``PUT``/``DELETE /api/v3/userDataStream``) lost their
documentation on 2025-10-24 but "remain available until a future retirement announcement"
(reference 3.6), so they work: a key lives 60 minutes, a keepalive extends it, and its user data
flows on the spot stream paths (``/spot/ws/<listenKey>``).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from copy import deepcopy
from decimal import Decimal
from typing import Any

from exitguard.domain.enums import Side

from ..errors import VenueError
from ..history import MINUTE, interval_ms, kline_row, stats_24h
from ..safe_json import loads_bounded
from .accounts import SpotAccount
from .base import SpotBase, opt_enum, opt_int, opt_str, req_str, require_account
from .market import SpotMarket
from .records import f8

__all__ = ["LISTEN_KEY_VALIDITY_MS", "InfoEndpoints"]

LISTEN_KEY_VALIDITY_MS = 60 * 60 * 1000
_BIPS = Decimal(10_000)
# Spot filters.md symbol filters. The bundled fixture also carries a made-up filter type (to test
# exitguard's parser on unknown filters); Binance sends none such, and the official SDK's model
# refuses an unknown type (it falls back to raw JSON), so exchangeInfo serves documented ones only.
DOCUMENTED_SYMBOL_FILTERS = frozenset(
    {
        "PRICE_FILTER",
        "PERCENT_PRICE",
        "PERCENT_PRICE_BY_SIDE",
        "LOT_SIZE",
        "MIN_NOTIONAL",
        "NOTIONAL",
        "ICEBERG_PARTS",
        "MARKET_LOT_SIZE",
        "MAX_NUM_ORDERS",
        "MAX_NUM_ALGO_ORDERS",
        "MAX_NUM_ICEBERG_ORDERS",
        "MAX_POSITION",
        "TRAILING_DELTA",
        "MAX_NUM_ORDER_AMENDS",
        "MAX_NUM_ORDER_LISTS",
        "T_PLUS_SELL",
    }
)


class InfoEndpoints(SpotBase):
    def ping(self, _: SpotAccount | None, params: Mapping[str, str]) -> dict[str, Any]:
        return {}

    def server_time(self, _: SpotAccount | None, params: Mapping[str, str]) -> dict[str, Any]:
        return {"serverTime": self.now_ms()}

    def _symbols_param(self, params: Mapping[str, str]) -> list[str] | None:
        """``symbol`` or ``symbols`` (a JSON array); None for every symbol."""
        one, many = opt_str(params, "symbol"), opt_str(params, "symbols")
        if one is not None and many is not None:
            raise VenueError(
                -1101, "Too many parameters; expected 'symbol' and received 'symbols'."
            )
        if one is not None:
            self.market(one)
            return [one]
        if many is None:
            return None
        try:
            names = loads_bounded(many, decimal=False)
        except ValueError:
            names = None
        if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
            raise VenueError(-1100, "Illegal characters found in parameter 'symbols'.")
        for name in names:
            self.market(name)
        return list(dict.fromkeys(names))

    def exchange_info(self, _: SpotAccount | None, params: Mapping[str, str]) -> dict[str, Any]:
        wanted = self._symbols_param(params)
        status = opt_str(params, "symbolStatus")
        doc = deepcopy(self._exchange_info)
        doc["serverTime"] = self.now_ms()
        for sym in doc.get("symbols", []):  # the live status (control API: symbol status)
            rules = self.rules.symbols.get(sym.get("symbol", ""))
            if rules is not None:
                sym["status"] = rules.status
        doc["symbols"] = [
            s
            for s in doc.get("symbols", [])
            if (wanted is None or s.get("symbol") in wanted)
            and (status is None or s.get("status") == status)
        ]
        for sym in doc["symbols"]:
            sym["filters"] = [
                f
                for f in sym.get("filters", [])
                if f.get("filterType") in DOCUMENTED_SYMBOL_FILTERS
            ]
        return doc

    def _each(self, params: Mapping[str, str], one: Callable[[SpotMarket], dict[str, Any]]) -> Any:
        wanted = self._symbols_param(params)
        if wanted is not None and opt_str(params, "symbol") is not None:
            return one(self.markets[wanted[0]])
        names = wanted if wanted is not None else list(self.markets)
        return [one(self.markets[n]) for n in names]

    def reference_price(self, _: SpotAccount | None, params: Mapping[str, str]) -> Any:
        """``GET /api/v3/referencePrice`` (WS API ``referencePrice``): the venue applies no Price
        Range Execution Rule, so no symbol ever had a reference price: ``-2043`` (Spot
        ``rest-api.md`` "Query Reference Price"; CHANGELOG 2026-04-16)."""
        self.market(req_str(params, "symbol"))  # -1121 for an unknown symbol, as elsewhere
        raise VenueError(-2043, "This symbol doesn't have a reference price.")

    def ticker_price(self, _: SpotAccount | None, params: Mapping[str, str]) -> Any:
        return self._each(params, lambda m: {"symbol": m.rules.symbol, "price": f8(m.last)})

    def book_ticker(self, _: SpotAccount | None, params: Mapping[str, str]) -> Any:
        def one(m: SpotMarket) -> dict[str, Any]:
            bid, ask = m.book.best(m.last)
            bids, asks = m.book.levels(m.last, Side.SELL), m.book.levels(m.last, Side.BUY)
            return {
                "symbol": m.rules.symbol,
                "bidPrice": f8(bid),
                "bidQty": f8(bids[0][1]) if bids else f8(Decimal(0)),
                "askPrice": f8(ask),
                "askQty": f8(asks[0][1]) if asks else f8(Decimal(0)),
            }

        return self._each(params, one)

    def depth(self, _: SpotAccount | None, params: Mapping[str, str]) -> dict[str, Any]:
        m = self.market(req_str(params, "symbol"))
        limit = opt_int(params, "limit", 1, 5000) or 100

        def levels(side: Side) -> list[list[str]]:
            return [[f8(p), f8(q)] for p, q in m.book.levels(m.last, side)[:limit]]

        return {"lastUpdateId": self.now_ms(), "bids": levels(Side.SELL), "asks": levels(Side.BUY)}

    # -- what the venue has seen (history.py): deterministic, bounded ------------------------

    def ticker_24hr(self, _: SpotAccount | None, params: Mapping[str, str]) -> Any:
        """``GET /api/v3/ticker/24hr`` (FULL) from the venue's own trades of the last 24 h."""
        if opt_str(params, "type") not in (None, "FULL"):
            raise VenueError(-1000, "ticker/24hr type=MINI is not served by the paper venue.")
        now = self.now_ms()

        def one(m: SpotMarket) -> dict[str, Any]:
            stats = stats_24h(m.tape, m.last, now, f8)
            bid, ask = m.book.best(m.last)
            bids, asks = m.book.levels(m.last, Side.SELL), m.book.levels(m.last, Side.BUY)
            return {
                "symbol": m.rules.symbol,
                **{k: stats[k] for k in ("priceChange", "priceChangePercent", "weightedAvgPrice")},
                "prevClosePrice": stats["openPrice"],
                "lastPrice": stats["lastPrice"],
                "lastQty": stats["lastQty"],
                "bidPrice": f8(bid),
                "bidQty": f8(bids[0][1]) if bids else f8(Decimal(0)),
                "askPrice": f8(ask),
                "askQty": f8(asks[0][1]) if asks else f8(Decimal(0)),
                **{
                    k: stats[k]
                    for k in (
                        "openPrice", "highPrice", "lowPrice", "volume", "quoteVolume",
                        "openTime", "closeTime", "firstId", "lastId", "count",
                    )
                },
            }  # fmt: skip

        return self._each(params, one)

    def klines(self, _: SpotAccount | None, params: Mapping[str, str]) -> list[list[object]]:
        """``GET /api/v3/klines``: candles of the venue's own trades ("1s" is not kept)."""
        m = self.market(req_str(params, "symbol"))
        step = interval_ms(req_str(params, "interval"))
        if step is None:
            raise VenueError(-1120, "Invalid interval.")
        limit = opt_int(params, "limit", 1, 1000) or 500
        start, end = opt_int(params, "startTime"), opt_int(params, "endTime")
        return [kline_row(c, step, f8) for c in m.tape.klines(step, start, end, limit)]

    def avg_price(self, _: SpotAccount | None, params: Mapping[str, str]) -> dict[str, Any]:
        """``GET /api/v3/avgPrice``: the 5-minute average of the venue's trades (the last price
        when none fell in the window)."""
        m = self.market(req_str(params, "symbol"))
        now = self.now_ms()
        recent = [t for t in m.tape.trades if t.time > now - 5 * MINUTE]
        qty = sum((t.qty for t in recent), Decimal(0))
        avg = sum((t.price * t.qty for t in recent), Decimal(0)) / qty if qty else m.last
        return {
            "mins": 5,
            "price": f8(avg),
            "closeTime": recent[-1].time if recent else now,
        }

    def trades(self, _: SpotAccount | None, params: Mapping[str, str]) -> list[dict[str, Any]]:
        m = self.market(req_str(params, "symbol"))
        limit = opt_int(params, "limit", 1, 1000) or 500
        return [
            {
                "id": t.trade_id,
                "price": f8(t.price),
                "qty": f8(t.qty),
                "quoteQty": f8(t.price * t.qty),
                "time": t.time,
                "isBuyerMaker": False,
                "isBestMatch": True,
            }
            for t in m.tape.recent(limit)
        ]

    def agg_trades(self, _: SpotAccount | None, params: Mapping[str, str]) -> list[dict[str, Any]]:
        rows = self.market(req_str(params, "symbol")).tape.agg_page(params)
        return [
            {"a": t.trade_id, "p": f8(t.price), "q": f8(t.qty), "f": t.trade_id,
             "l": t.trade_id, "T": t.time, "m": False, "M": True}
            for t in rows
        ]  # fmt: skip

    def trade_fee(
        self, account: SpotAccount | None, params: Mapping[str, str]
    ) -> list[dict[str, Any]]:
        """``GET /sapi/v1/asset/tradeFee`` (Wallet API, not in the Spot SDK): the venue's fees,
        the same for every symbol."""
        require_account(account)
        names = self._symbols_param(params) or list(self.markets)
        return [
            {
                "symbol": name,
                "makerCommission": f8(self.fees.maker),
                "takerCommission": f8(self.fees.taker),
            }
            for name in names
        ]

    # -- account ---------------------------------------------------------------------------

    def account(self, account: SpotAccount | None, params: Mapping[str, str]) -> dict[str, Any]:
        """``GET /api/v3/account``: free and locked per asset (``omitZeroBalances``)."""
        acct = require_account(account)
        omit = opt_enum(params, "omitZeroBalances", ("true", "false")) == "true"
        fees = self.fees
        return {
            "makerCommission": int(fees.maker * _BIPS),
            "takerCommission": int(fees.taker * _BIPS),
            "buyerCommission": 0,
            "sellerCommission": 0,
            "commissionRates": {
                "maker": f8(fees.maker),
                "taker": f8(fees.taker),
                "buyer": f8(Decimal(0)),
                "seller": f8(Decimal(0)),
            },
            "canTrade": True,
            "canWithdraw": True,
            "canDeposit": True,
            "brokered": False,
            "requireSelfTradePrevention": False,
            "preventSor": False,
            "updateTime": acct.update_time,
            "accountType": "SPOT",
            "balances": [
                {"asset": asset, "free": f8(b.free), "locked": f8(b.locked)}
                for asset, b in sorted(acct.balances.items())
                if not omit or b.free or b.locked
            ],
            "permissions": ["SPOT"],
            "uid": acct.uid,
        }

    # -- listen keys (deprecated, still served) --------------------------------------------

    def listen_key_create(
        self, account: SpotAccount | None, params: Mapping[str, str]
    ) -> dict[str, Any]:
        """An active key is returned again and extended (as on Binance)."""
        acct = require_account(account)
        now = self.now_ms()
        if acct.listen_key is None or acct.listen_key_expires_ms <= now:
            acct.listen_key = secrets.token_urlsafe(48)[:60]
        acct.listen_key_expires_ms = now + LISTEN_KEY_VALIDITY_MS
        return {"listenKey": acct.listen_key}

    def _own_key(self, acct: SpotAccount, params: Mapping[str, str]) -> None:
        key = req_str(params, "listenKey")
        if acct.listen_key != key or acct.listen_key_expires_ms <= self.now_ms():
            raise VenueError(-1125, "This listenKey does not exist.")

    def listen_key_keepalive(
        self, account: SpotAccount | None, params: Mapping[str, str]
    ) -> dict[str, Any]:
        acct = require_account(account)
        self._own_key(acct, params)
        acct.listen_key_expires_ms = self.now_ms() + LISTEN_KEY_VALIDITY_MS
        return {}

    def listen_key_close(
        self, account: SpotAccount | None, params: Mapping[str, str]
    ) -> dict[str, Any]:
        acct = require_account(account)
        self._own_key(acct, params)
        acct.listen_key, acct.listen_key_expires_ms = None, 0
        return {}

    def expire_listen_key(self, acct: SpotAccount) -> None:
        """Send ``listenKeyExpired`` and forget the key (also the fault-injection entry point)."""
        if acct.listen_key is None:
            return
        key, acct.listen_key, acct.listen_key_expires_ms = acct.listen_key, None, 0
        self.emit(acct.api_key, {"e": "listenKeyExpired", "E": self.now_ms(), "listenKey": key})
