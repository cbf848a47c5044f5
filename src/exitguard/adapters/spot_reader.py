"""``SdkSpotReader``: the read-only Spot adapter (state, hydration, the private stream).

It implements :class:`exitguard.adapters.port.SpotReader` over ``binance-sdk-spot``; it cannot
place or cancel anything (that is :class:`exitguard.adapters.spot_trader.SdkSpotTrader`, not
constructed in DRY_RUN_PRIVATE). SDK calls used are listed in :mod:`exitguard.adapters.spot`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from .errors import ExchangeError
from .port import (
    BalanceSnapshot,
    PriceSnapshot,
    SpotListSnapshot,
    SpotOrderSnapshot,
    StreamItem,
)
from .spot_convert import balance_snapshots, last_price, list_snapshot, spot_order_snapshot
from .spot_rest import SpotRestCore, SpotRestSettings
from .spot_stream import SpotStreamSettings, SpotUserStream
from .usdm_convert import as_list, as_mapping
from .usdm_errors import Redactor, is_not_found
from .usdm_reader import convert
from .usdm_rest import PrivateKey, load_private_key

__all__ = ["SdkSpotReader"]


class SdkSpotReader:
    """Spot reads over ``binance-sdk-spot`` (REST) and a WebSocket API user-data subscription
    (aiohttp; see :mod:`.spot_stream`)."""

    def __init__(
        self,
        *,
        rest_url: str,
        ws_api_url: str,
        api_key: str,
        api_secret: str | None = None,
        private_key: PrivateKey | None = None,
        private_key_passphrase: str | None = None,
        timeout_ms: int = 5000,
        recv_window_ms: int | None = None,
        reconnect_initial_s: float = 0.25,
        reconnect_max_s: float = 30.0,
        reconnect_attempts: int | None = None,
    ) -> None:
        self._core = SpotRestCore(
            SpotRestSettings(
                rest_url=rest_url,
                api_key=api_key,
                api_secret=api_secret,
                private_key_pem=load_private_key(private_key),
                private_key_passphrase=private_key_passphrase,
                timeout_ms=timeout_ms,
                recv_window_ms=recv_window_ms,
            )
        )
        self._stream_settings = SpotStreamSettings(
            ws_api_url=ws_api_url,
            reconnect_initial_s=reconnect_initial_s,
            reconnect_max_s=reconnect_max_s,
            reconnect_attempts=reconnect_attempts,
        )
        self._streams: set[SpotUserStream] = set()
        self._closed = False

    @property
    def redact(self) -> Redactor:
        return self._core.redact

    async def sync_time(self) -> int:
        return await self._core.sync_time()

    # -- market and account state ------------------------------------------------------------

    async def exchange_info(self) -> dict[str, Any]:
        answer = await self._core.call(lambda: self._core.rest.exchange_info())
        return dict(convert(as_mapping, answer, "exchangeInfo", self.redact))

    async def balances(self) -> list[BalanceSnapshot]:
        rest = self._core.rest
        answer = await self._core.signed(
            "GET", "/api/v3/account", {}, lambda rw: rest.get_account(recv_window=rw)
        )
        return convert(balance_snapshots, answer, "account", self.redact)

    async def prices(self, symbol: str) -> PriceSnapshot:
        answer = await self._core.call(lambda: self._core.rest.ticker_price(symbol=symbol))
        return convert(lambda a: last_price(symbol, a), answer, "ticker/price", self.redact)

    # -- orders and order lists --------------------------------------------------------------

    async def open_orders(self, symbol: str | None = None) -> list[SpotOrderSnapshot]:
        rest = self._core.rest
        params = {"symbol": symbol} if symbol else {}
        answer = await self._core.signed(
            "GET",
            "/api/v3/openOrders",
            params,
            lambda rw: rest.get_open_orders(symbol=symbol, recv_window=rw),
        )
        return convert(
            lambda a: [spot_order_snapshot(x) for x in as_list(a)],
            answer,
            "openOrders",
            self.redact,
        )

    async def open_order_lists(self) -> list[SpotListSnapshot]:
        rest = self._core.rest
        answer = await self._core.signed(
            "GET", "/api/v3/openOrderList", {}, lambda rw: rest.open_order_list(recv_window=rw)
        )
        return convert(
            lambda a: [list_snapshot(x) for x in as_list(a)], answer, "openOrderList", self.redact
        )

    async def query_order(self, symbol: str, client_order_id: str) -> SpotOrderSnapshot | None:
        rest = self._core.rest
        try:
            answer = await self._core.signed(
                "GET",
                "/api/v3/order",
                {"symbol": symbol, "origClientOrderId": client_order_id},
                lambda rw: rest.get_order(
                    symbol=symbol, orig_client_order_id=client_order_id, recv_window=rw
                ),
            )
        except ExchangeError as err:
            if is_not_found(err):  # -2013 "Order does not exist."
                return None
            raise
        return convert(spot_order_snapshot, answer, "order", self.redact)

    async def query_order_list(self, list_client_order_id: str) -> SpotListSnapshot | None:
        """``GET /api/v3/orderList`` by ``origClientOrderId`` (= the listClientOrderId)."""
        rest = self._core.rest
        try:
            answer = await self._core.signed(
                "GET",
                "/api/v3/orderList",
                {"origClientOrderId": list_client_order_id},
                lambda rw: rest.get_order_list(
                    orig_client_order_id=list_client_order_id, recv_window=rw
                ),
            )
        except ExchangeError as err:
            if is_not_found(err):  # -2013 "Order list does not exist."
                return None
            raise
        return convert(list_snapshot, answer, "orderList", self.redact)

    # -- private stream ----------------------------------------------------------------------

    def user_stream(self) -> AsyncIterator[StreamItem]:
        """A new user-data subscription; it connects when first iterated and ends with CLOSED."""
        if self._closed:
            raise RuntimeError("the Spot reader is closed")
        stream = SpotUserStream(self._core, self._stream_settings)
        self._streams.add(stream)
        return self._iterate(stream)

    async def _iterate(self, stream: SpotUserStream) -> AsyncIterator[StreamItem]:
        items = stream.items()
        try:
            async for item in items:
                yield item
        finally:
            self._streams.discard(stream)
            await items.aclose()

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for stream in list(self._streams):
            await stream.close()
        await self._core.close()
