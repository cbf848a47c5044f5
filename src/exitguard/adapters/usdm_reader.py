"""``SdkUsdmReader``: the read-only USD-M adapter (state, hydration, the private stream).

It implements :class:`exitguard.adapters.port.UsdmReader` over the official SDK; it cannot place
or cancel anything (that is :class:`exitguard.adapters.usdm_trader.SdkUsdmTrader`, which is not
constructed in DRY_RUN_PRIVATE). SDK calls used are listed in :mod:`exitguard.adapters.usdm`.
"""

from __future__ import annotations

import asyncio
from typing import Any

from exitguard.domain.enums import PositionMode

from .answer_fields import as_list, as_mapping
from .port import AlgoOrderSnapshot, OrderSnapshot, PositionSnapshot, PriceSnapshot
from .rest_core import PrivateKey, RestSettings
from .sdk_client import SdkReader, convert
from .usdm_convert import (
    algo_snapshot,
    order_snapshot,
    position_mode,
    position_snapshots,
    price_snapshot,
)
from .usdm_rest import UsdmRestCore
from .usdm_stream import UsdmUserStream, UserStreamSettings

# ``convert`` lives in :mod:`.sdk_client` now; it stays importable from here.
__all__ = ["SdkUsdmReader", "convert"]


class SdkUsdmReader(SdkReader[UsdmRestCore, UsdmUserStream]):
    """USD-M reads over ``binance-sdk-derivatives-trading-usds-futures`` (REST) and a private
    stream (listen key through the SDK, socket through aiohttp; see :mod:`.usdm_stream`).
    Streams, clock sync and ``close()``: :class:`.sdk_client.SdkReader`."""

    def __init__(
        self,
        *,
        rest_url: str,
        ws_streams_url: str,
        api_key: str,
        api_secret: str | None = None,
        private_key: PrivateKey | None = None,
        private_key_passphrase: str | None = None,
        timeout_ms: int = 5000,
        recv_window_ms: int | None = None,
        keepalive_interval_s: float = 30 * 60,
        reconnect_initial_s: float = 0.25,
        reconnect_max_s: float = 30.0,
        reconnect_attempts: int | None = None,
    ) -> None:
        super().__init__(
            rest_url=rest_url,
            api_key=api_key,
            api_secret=api_secret,
            private_key=private_key,
            private_key_passphrase=private_key_passphrase,
            timeout_ms=timeout_ms,
            recv_window_ms=recv_window_ms,
        )
        self._stream_settings = UserStreamSettings(
            ws_streams_url=ws_streams_url,
            keepalive_interval_s=keepalive_interval_s,
            reconnect_initial_s=reconnect_initial_s,
            reconnect_max_s=reconnect_max_s,
            reconnect_attempts=reconnect_attempts,
        )

    def _make_core(self, settings: RestSettings) -> UsdmRestCore:
        return UsdmRestCore(settings)

    def _new_stream(self) -> UsdmUserStream:
        return UsdmUserStream(self._core, self._stream_settings)

    # -- market and account state ------------------------------------------------------------

    async def exchange_info(self) -> dict[str, Any]:
        answer = await self._core.call(lambda: self._core.rest.exchange_information())
        return dict(convert(as_mapping, answer, "exchangeInfo", self.redact))

    async def position_mode(self) -> PositionMode:
        return await self._signed(
            "GET",
            "/fapi/v1/positionSide/dual",
            {},
            self._core.rest.get_current_position_mode,
            position_mode,
            "positionSide/dual",
        )

    async def positions(self) -> list[PositionSnapshot]:
        return await self._signed(
            "GET",
            "/fapi/v3/positionRisk",
            {},
            self._core.rest.position_information_v3,
            position_snapshots,
            "positionRisk",
        )

    async def prices(self, symbol: str) -> PriceSnapshot:
        rest = self._core.rest
        ticker, premium = await asyncio.gather(
            self._core.call(lambda: rest.symbol_price_ticker(symbol=symbol)),
            self._core.call(lambda: rest.mark_price(symbol=symbol)),
        )
        return convert(
            lambda _: price_snapshot(symbol, ticker, premium), None, "price", self.redact
        )

    # -- orders ------------------------------------------------------------------------------

    async def open_algo_orders(self, symbol: str | None = None) -> list[AlgoOrderSnapshot]:
        params = {"symbol": symbol} if symbol else {}
        return await self._signed(
            "GET",
            "/fapi/v1/openAlgoOrders",
            params,
            self._core.rest.current_all_algo_open_orders,
            lambda a: [algo_snapshot(x) for x in as_list(a)],
            "openAlgoOrders",
        )

    async def open_orders(self, symbol: str | None = None) -> list[OrderSnapshot]:
        params = {"symbol": symbol} if symbol else {}
        return await self._signed(
            "GET",
            "/fapi/v1/openOrders",
            params,
            self._core.rest.current_all_open_orders,
            lambda a: [order_snapshot(x) for x in as_list(a)],
            "openOrders",
        )

    async def query_algo_order(self, client_algo_id: str) -> AlgoOrderSnapshot | None:
        """``GET /fapi/v1/algoOrder`` by ``clientAlgoId``; ``None`` when it does not exist."""
        params = {"clientAlgoId": client_algo_id}
        rest = self._core.rest
        return await self._find(
            "/fapi/v1/algoOrder", params, rest.query_algo_order, algo_snapshot, "algoOrder"
        )

    async def query_order(self, symbol: str, client_order_id: str) -> OrderSnapshot | None:
        """``GET /fapi/v1/order`` by ``origClientOrderId``; ``None`` when it does not exist."""
        params = {"symbol": symbol, "origClientOrderId": client_order_id}
        rest = self._core.rest
        return await self._find("/fapi/v1/order", params, rest.query_order, order_snapshot, "order")
