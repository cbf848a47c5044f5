"""State shared by the Spot venue's endpoint groups, parameter readers, and Binance error texts."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from exitguard.domain.enums import Product
from exitguard.domain.error_codes import lookup as lookup_error
from exitguard.domain.filters import ExchangeRules
from exitguard.domain.validation import MarketContext
from exitguard.domain.violations import Violation

from ..errors import VenueError
from ..listeners import EventSource
from ..usdm.params import opt_int, opt_str, req_str
from .accounts import SpotAccount
from .market import SpotMarket
from .records import OrderList, SpotOrder, outbound_account_position

__all__ = [
    "SpotBase",
    "SpotFees",
    "binance_error",
    "opt_enum",
    "opt_int",
    "opt_str",
    "rejected",
    "req_str",
    "require_account",
]


@dataclass(frozen=True, slots=True)
class SpotFees:
    """Commission rates, charged in the quote asset on every fill (Binance's standard 0.1 %)."""

    maker: Decimal = Decimal("0.001")
    taker: Decimal = Decimal("0.001")

    @property
    def highest(self) -> Decimal:
        return max(self.maker, self.taker)


def rejected(msg: str) -> VenueError:
    """A matching-engine refusal: -2010 with one of Binance's texts."""
    return VenueError(-2010, msg)


def _pattern(text: str) -> re.Pattern[str]:
    body = re.escape(text.rstrip(".")).replace("%s", "(?:.+?)")
    return re.compile(body + r"(?=$|[.:;( ])\.?")


def binance_error(v: Violation) -> VenueError:
    """The venue's answer for a domain violation: Binance's code and Binance's own text.

    Domain messages start with Binance's text and add the details a human needs ("Filter
    failure: LOT_SIZE quantity: 0.0001 is below minQty ..."). Binance sends the bare text, so the
    longest documented Spot message (``exitguard.domain.error_codes``) that the violation's message
    starts with is answered; a -1013 names its filter ("Filter failure: PERCENT_PRICE_BY_SIDE");
    a code with a single documented text answers that text. Otherwise the domain's message is
    sent as written.
    """
    msg = v.message
    if v.code == -1013 and msg.startswith("Filter failure: "):
        name = msg.removeprefix("Filter failure: ").split(" ", 1)[0].rstrip(".:")
        return VenueError(-1013, f"Filter failure: {name}")
    entry = lookup_error(Product.SPOT, v.code)
    if entry is not None:
        best = ""
        for text in (entry.message, *entry.other_messages):
            found = _pattern(text).match(msg)
            if found is not None and len(found.group(0)) > len(best):
                best = found.group(0)
                if text.endswith(".") and not best.endswith("."):
                    best += "."
        if best:
            return VenueError(v.code, best)
        if not entry.other_messages and "%s" not in entry.message:
            return VenueError(v.code, entry.message)  # the code's one documented text
    return VenueError(v.code, msg)


def require_account(account: SpotAccount | None) -> SpotAccount:
    if account is None:  # the HTTP layer authenticates first; a programming-error guard
        raise VenueError(-2014, "API-key format invalid.")
    return account


def opt_enum(params: Mapping[str, str], name: str, allowed: tuple[str, ...]) -> str | None:
    value = opt_str(params, name)
    if value is not None and value not in allowed:
        raise VenueError(
            -1100,
            f"Illegal characters found in parameter '{name}'; legal range is '{'|'.join(allowed)}'.",
        )
    return value


class SpotBase(EventSource):
    """What every Spot endpoint group reads and writes; :class:`SpotExchange` fills it in."""

    rules: ExchangeRules
    now_ms: Callable[[], int]
    fees: SpotFees
    markets: dict[str, SpotMarket]
    accounts: dict[str, SpotAccount]
    orders: dict[int, SpotOrder]
    lists: dict[int, OrderList]
    open_by_account: dict[str, dict[int, SpotOrder]]  # only orders not yet terminal
    _exchange_info: dict[str, Any]
    _order_ids: Iterator[int]
    _list_ids: Iterator[int]
    _trade_ids: Iterator[int]
    _execution_ids: Iterator[int]

    def market(self, symbol: str | None) -> SpotMarket:
        m = self.markets.get(symbol or "")
        if m is None:
            raise VenueError(-1121, "Invalid symbol.")
        return m

    def open_orders_of(self, api_key: str) -> list[SpotOrder]:
        return list(self.open_by_account.get(api_key, {}).values())

    def track_open(self, order: SpotOrder) -> None:
        self.open_by_account.setdefault(order.api_key, {})[order.order_id] = order

    def untrack_open(self, order: SpotOrder) -> None:
        self.open_by_account.get(order.api_key, {}).pop(order.order_id, None)

    def market_context(self, acct: SpotAccount, m: SpotMarket, freed: int = 0) -> MarketContext:
        """Facts validation compares with: last trade, open orders and open (untriggered) stops
        on the symbol. ``freed`` orders are about to be cancelled (cancelReplace)."""
        symbol = m.rules.symbol
        mine = [o for o in self.open_orders_of(acct.api_key) if o.symbol == symbol]
        return MarketContext(
            last_price=m.last,
            now_ms=self.now_ms(),
            open_orders=max(0, len(mine) - freed),
            open_algo_orders=sum(1 for o in mine if o.is_stop and not o.triggered),
        )

    def account_changed(self, acct: SpotAccount, assets: set[str] | list[str]) -> None:
        if assets:
            now = self.now_ms()
            acct.update_time = now
            self.emit(acct.api_key, outbound_account_position(acct, now, assets))

    # -- hooks the order-list mixin fills in ----------------------------------------------

    def _leg_started(self, acct: SpotAccount, order: SpotOrder) -> None:
        """An order starts working (trigger) or trades for the first time."""

    def _order_done(self, acct: SpotAccount, order: SpotOrder) -> None:
        """An order reached a terminal status on its own (fill, expiry) or by a cancel."""

    def cancel_list(
        self, acct: SpotAccount, ol: OrderList, cancel_client_id: str
    ) -> dict[str, Any]:
        """Cancel every open order of ``ol``; answers the list-cancel JSON."""
        raise NotImplementedError
