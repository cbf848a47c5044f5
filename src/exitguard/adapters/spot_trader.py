"""``SdkSpotTrader``: the only Spot object that changes anything on the venue.

It implements :class:`exitguard.adapters.port.SpotTrader`. What goes on the wire is exactly
``request.to_params()`` (strings, no floats, no exponent form), through the typed SDK method
when every parameter has a place in it, else the SDK's generic signed request (see
:mod:`.rest_core`). Nothing here retries: failures are ``Rejected`` / ``UnknownOutcome`` /
``Transient`` and the manager decides.
"""

from __future__ import annotations

from typing import Any

from exitguard.domain.requests import SpotOcoRequest, SpotOrderRequest

from .port import SpotListSnapshot, SpotOrderSnapshot
from .rest_core import RestSettings
from .sdk_client import SdkTrader
from .spot_convert import list_snapshot, spot_order_snapshot
from .spot_rest import SpotRestCore

__all__ = ["SdkSpotTrader"]


def _with_ack(answer: Any, params: dict[str, str]) -> Any:
    """An ACK answer (Binance's default for stop types) carries ids only; the rest of the
    snapshot is what was sent, and an accepted order is NEW."""
    if isinstance(answer, dict) and "status" not in answer:
        sent = {"origQty": params.get("quantity", "0"), "status": "NEW", **params}
        return {**sent, **answer}
    return answer


class SdkSpotTrader(SdkTrader[SpotRestCore]):
    """Place and cancel Spot orders and OCO order lists through ``binance-sdk-spot``.
    Constructor (credentials), clock sync and ``close()``: :class:`.sdk_client.SdkClient`."""

    def _make_core(self, settings: RestSettings) -> SpotRestCore:
        return SpotRestCore(settings)

    async def place_order(self, request: SpotOrderRequest) -> SpotOrderSnapshot:
        """``POST /api/v3/order`` (STOP_LOSS(_LIMIT), TAKE_PROFIT trailing, LIMIT, MARKET)."""
        params = request.to_params()
        return await self._signed(
            "POST",
            "/api/v3/order",
            params,
            self._core.rest.new_order,
            lambda a: spot_order_snapshot(_with_ack(a, params)),
            "new order",
        )

    async def place_oco(self, request: SpotOcoRequest) -> SpotListSnapshot:
        """``POST /api/v3/orderList/oco`` (aboveType/belowType; not the deprecated order/oco)."""
        params = request.to_params()
        rest = self._core.rest
        return await self._signed(
            "POST", "/api/v3/orderList/oco", params, rest.order_list_oco, list_snapshot, "new OCO"
        )

    async def cancel_order(self, symbol: str, client_order_id: str) -> SpotOrderSnapshot:
        """``DELETE /api/v3/order`` by ``origClientOrderId``."""
        params = {"symbol": symbol, "origClientOrderId": client_order_id}
        return await self._signed(
            "DELETE",
            "/api/v3/order",
            params,
            self._core.rest.delete_order,
            spot_order_snapshot,
            "cancelled order",
        )

    async def cancel_order_list(self, symbol: str, list_client_order_id: str) -> SpotListSnapshot:
        """``DELETE /api/v3/orderList`` by ``listClientOrderId``."""
        params = {"symbol": symbol, "listClientOrderId": list_client_order_id}
        return await self._signed(
            "DELETE",
            "/api/v3/orderList",
            params,
            self._core.rest.delete_order_list,
            list_snapshot,
            "cancelled order list",
        )
