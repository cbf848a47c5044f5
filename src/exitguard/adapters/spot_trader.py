"""``SdkSpotTrader``: the only Spot object that changes anything on the venue.

It implements :class:`exitguard.adapters.port.SpotTrader`. What goes on the wire is exactly
``request.to_params()`` (strings, no floats, no exponent form), through the typed SDK method
when every parameter has a place in it, else the SDK's generic signed request (see
:mod:`.spot_rest`). Nothing here retries: failures are ``Rejected`` / ``UnknownOutcome`` /
``Transient`` and the manager decides.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from binance_common.models import ApiResponse
from binance_sdk_spot.rest_api import SpotRestAPI

from exitguard.domain.requests import SpotOcoRequest, SpotOrderRequest

from .port import SpotListSnapshot, SpotOrderSnapshot
from .spot_convert import list_snapshot, spot_order_snapshot
from .spot_rest import SpotRestCore, SpotRestSettings, TypedCall
from .usdm_reader import convert
from .usdm_rest import PrivateKey, load_private_key, sdk_kwargs, sdk_params

__all__ = ["SdkSpotTrader"]

_NEW_ORDER_ARGS = sdk_params(SpotRestAPI.new_order)
_OCO_ARGS = sdk_params(SpotRestAPI.order_list_oco)


def _typed(method: Callable[..., ApiResponse[Any]], kwargs: dict[str, Any]) -> TypedCall:
    def call(recv_window: int | None) -> ApiResponse[Any]:
        return method(**kwargs, recv_window=recv_window)

    return call


class SdkSpotTrader:
    """Place and cancel Spot orders and OCO order lists through ``binance-sdk-spot``."""

    def __init__(
        self,
        *,
        rest_url: str,
        api_key: str,
        api_secret: str | None = None,
        private_key: PrivateKey | None = None,
        private_key_passphrase: str | None = None,
        timeout_ms: int = 5000,
        recv_window_ms: int | None = None,
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

    async def sync_time(self) -> int:
        return await self._core.sync_time()

    async def place_order(self, request: SpotOrderRequest) -> SpotOrderSnapshot:
        """``POST /api/v3/order`` (STOP_LOSS(_LIMIT), TAKE_PROFIT trailing, LIMIT, MARKET)."""
        params = request.to_params()
        kwargs = sdk_kwargs(params, _NEW_ORDER_ARGS)
        typed = None if kwargs is None else _typed(self._core.rest.new_order, kwargs)
        answer = await self._core.signed("POST", "/api/v3/order", params, typed)
        if isinstance(answer, dict) and "status" not in answer:
            # An ACK answer (Binance's default for stop types) carries ids only; the rest of
            # the snapshot is what was sent, and an accepted order is NEW.
            sent = {"origQty": params.get("quantity", "0"), "status": "NEW", **params}
            answer = {**sent, **answer}
        return convert(spot_order_snapshot, answer, "new order", self._core.redact)

    async def place_oco(self, request: SpotOcoRequest) -> SpotListSnapshot:
        """``POST /api/v3/orderList/oco`` (aboveType/belowType; not the deprecated order/oco)."""
        params = request.to_params()
        kwargs = sdk_kwargs(params, _OCO_ARGS)
        typed = None if kwargs is None else _typed(self._core.rest.order_list_oco, kwargs)
        answer = await self._core.signed("POST", "/api/v3/orderList/oco", params, typed)
        return convert(list_snapshot, answer, "new OCO", self._core.redact)

    async def cancel_order(self, symbol: str, client_order_id: str) -> SpotOrderSnapshot:
        """``DELETE /api/v3/order`` by ``origClientOrderId``."""
        rest = self._core.rest
        answer = await self._core.signed(
            "DELETE",
            "/api/v3/order",
            {"symbol": symbol, "origClientOrderId": client_order_id},
            lambda rw: rest.delete_order(
                symbol=symbol, orig_client_order_id=client_order_id, recv_window=rw
            ),
        )
        return convert(spot_order_snapshot, answer, "cancelled order", self._core.redact)

    async def cancel_order_list(self, symbol: str, list_client_order_id: str) -> SpotListSnapshot:
        """``DELETE /api/v3/orderList`` by ``listClientOrderId``."""
        rest = self._core.rest
        answer = await self._core.signed(
            "DELETE",
            "/api/v3/orderList",
            {"symbol": symbol, "listClientOrderId": list_client_order_id},
            lambda rw: rest.delete_order_list(
                symbol=symbol, list_client_order_id=list_client_order_id, recv_window=rw
            ),
        )
        return convert(list_snapshot, answer, "cancelled order list", self._core.redact)

    async def close(self) -> None:
        await self._core.close()
