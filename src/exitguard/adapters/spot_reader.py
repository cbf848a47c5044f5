"""``SdkSpotReader``: the read-only Spot adapter (state, hydration, the private stream).

It implements :class:`exitguard.adapters.port.SpotReader` over ``binance-sdk-spot``; it cannot
place or cancel anything (that is :class:`exitguard.adapters.spot_trader.SdkSpotTrader`, not
constructed in DRY_RUN_PRIVATE). SDK calls used are listed in :mod:`exitguard.adapters.spot`.
"""

from __future__ import annotations

from typing import Any

from .answer_fields import as_list, as_mapping
from .port import (
    BalanceSnapshot,
    PriceSnapshot,
    SpotListSnapshot,
    SpotOrderSnapshot,
)
from .rest_core import PrivateKey, RestSettings
from .sdk_client import SdkReader, convert
from .spot_convert import balance_snapshots, last_price, list_snapshot, spot_order_snapshot
from .spot_rest import SpotRestCore
from .spot_stream import SpotStreamAuth, SpotStreamSettings, SpotUserStream, resolve_auth

__all__ = ["SdkSpotReader"]


class SdkSpotReader(SdkReader[SpotRestCore, SpotUserStream]):
    """Spot reads over ``binance-sdk-spot`` (REST) and a WebSocket API user-data subscription
    (aiohttp; see :mod:`.spot_stream`). Streams, clock sync and ``close()``:
    :class:`.sdk_client.SdkReader`."""

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
        stream_auth: SpotStreamAuth = "auto",
    ) -> None:
        """``stream_auth``: how the user-data stream authenticates (see :mod:`.spot_stream`):
        ``"auto"`` (``session.logon`` for an Ed25519 key, ``subscribe.signature`` otherwise),
        ``"signature"`` or ``"logon"`` (Ed25519 keys only: any other key is a ``ValueError``
        here, before anything connects)."""
        super().__init__(
            rest_url=rest_url,
            api_key=api_key,
            api_secret=api_secret,
            private_key=private_key,
            private_key_passphrase=private_key_passphrase,
            timeout_ms=timeout_ms,
            recv_window_ms=recv_window_ms,
        )
        self._stream_settings = SpotStreamSettings(
            ws_api_url=ws_api_url,
            reconnect_initial_s=reconnect_initial_s,
            reconnect_max_s=reconnect_max_s,
            reconnect_attempts=reconnect_attempts,
            auth=resolve_auth(stream_auth, self._core.key_kind, field="stream_auth"),
        )

    def _make_core(self, settings: RestSettings) -> SpotRestCore:
        return SpotRestCore(settings)

    def _new_stream(self) -> SpotUserStream:
        return SpotUserStream(self._core, self._stream_settings)

    # -- market and account state ------------------------------------------------------------

    async def exchange_info(self) -> dict[str, Any]:
        answer = await self._core.call(lambda: self._core.rest.exchange_info())
        return dict(convert(as_mapping, answer, "exchangeInfo", self.redact))

    async def balances(self) -> list[BalanceSnapshot]:
        rest = self._core.rest
        return await self._signed(
            "GET", "/api/v3/account", {}, rest.get_account, balance_snapshots, "account"
        )

    async def prices(self, symbol: str) -> PriceSnapshot:
        answer = await self._core.call(lambda: self._core.rest.ticker_price(symbol=symbol))
        return convert(lambda a: last_price(symbol, a), answer, "ticker/price", self.redact)

    # -- orders and order lists --------------------------------------------------------------

    async def open_orders(self, symbol: str | None = None) -> list[SpotOrderSnapshot]:
        params = {"symbol": symbol} if symbol else {}
        return await self._signed(
            "GET",
            "/api/v3/openOrders",
            params,
            self._core.rest.get_open_orders,
            lambda a: [spot_order_snapshot(x) for x in as_list(a)],
            "openOrders",
        )

    async def open_order_lists(self) -> list[SpotListSnapshot]:
        return await self._signed(
            "GET",
            "/api/v3/openOrderList",
            {},
            self._core.rest.open_order_list,
            lambda a: [list_snapshot(x) for x in as_list(a)],
            "openOrderList",
        )

    async def query_order(self, symbol: str, client_order_id: str) -> SpotOrderSnapshot | None:
        """``GET /api/v3/order`` by ``origClientOrderId``; ``None`` for -2013."""
        params = {"symbol": symbol, "origClientOrderId": client_order_id}
        rest = self._core.rest
        return await self._find(
            "/api/v3/order", params, rest.get_order, spot_order_snapshot, "order"
        )

    async def query_order_list(self, list_client_order_id: str) -> SpotListSnapshot | None:
        """``GET /api/v3/orderList`` by ``origClientOrderId`` (= the listClientOrderId)."""
        params = {"origClientOrderId": list_client_order_id}
        rest = self._core.rest
        return await self._find(
            "/api/v3/orderList", params, rest.get_order_list, list_snapshot, "orderList"
        )
