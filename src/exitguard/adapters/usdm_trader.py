"""``SdkUsdmTrader``: the only USD-M object that changes anything on the venue.

It implements :class:`exitguard.adapters.port.UsdmTrader`. Requests arrive as the domain's
request models; what goes on the wire is exactly ``request.to_params()`` (strings, no floats,
no exponent form). The typed SDK method is used when every parameter has a place in it;
otherwise (``FuturesOrderRequest`` with the legacy conditional fields ``stopPrice``,
``closePosition``, ``activationPrice``, ``callbackRate``, ``workingType``, ``priceProtect``, which
``new_order`` lost in SDK 18; ``AlgoOrderRequest.quoteOrderQty`` of the primit dialect) the same
parameters go through the SDK's generic signed request (see :mod:`.usdm_rest`).

Nothing here retries: a failed send raises ``Rejected`` / ``UnknownOutcome`` / ``Transient`` and
the manager decides (unknown outcomes are resolved by querying the client id).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from binance_common.models import ApiResponse
from binance_sdk_derivatives_trading_usds_futures.rest_api import (
    DerivativesTradingUsdsFuturesRestAPI,
)

from exitguard.domain.requests import AlgoOrderRequest, FuturesOrderRequest

from .errors import ExchangeError, UnknownOutcome
from .port import AlgoOrderSnapshot, OrderSnapshot
from .usdm_convert import algo_snapshot, order_snapshot
from .usdm_reader import convert
from .usdm_rest import (
    PrivateKey,
    TypedCall,
    UsdmRestCore,
    UsdmRestSettings,
    load_private_key,
    sdk_kwargs,
    sdk_params,
)

__all__ = ["SdkUsdmTrader"]

_RestApi = DerivativesTradingUsdsFuturesRestAPI
_NEW_ALGO_ORDER_ARGS = sdk_params(_RestApi.new_algo_order)
_NEW_ORDER_ARGS = sdk_params(_RestApi.new_order)


def _typed(method: Callable[..., ApiResponse[Any]], kwargs: dict[str, Any]) -> TypedCall:
    """A typed SDK call with the request's exact string params and the core's recvWindow."""

    def call(recv_window: int | None) -> ApiResponse[Any]:
        return method(**kwargs, recv_window=recv_window)

    return call


class SdkUsdmTrader:
    """Place and cancel USD-M algo and regular orders through the official SDK."""

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
        self._core = UsdmRestCore(
            UsdmRestSettings(
                rest_url=rest_url,
                api_key=api_key,
                api_secret=api_secret,
                private_key_pem=load_private_key(private_key),
                private_key_passphrase=private_key_passphrase,
                timeout_ms=timeout_ms,
                recv_window_ms=recv_window_ms,
            )
        )

    @property
    def clock_offset_ms(self) -> int:
        return self._core.offset_ms

    async def sync_time(self) -> int:
        """Measure the clock offset now (it is also re-measured after every ``-1021``)."""
        return await self._core.sync_time()

    async def place_algo_order(self, request: AlgoOrderRequest) -> AlgoOrderSnapshot:
        """``POST /fapi/v1/algoOrder``."""
        params = request.to_params()
        kwargs = sdk_kwargs(params, _NEW_ALGO_ORDER_ARGS)
        typed = None if kwargs is None else _typed(self._core.rest.new_algo_order, kwargs)
        answer = await self._core.signed("POST", "/fapi/v1/algoOrder", params, typed)
        return convert(algo_snapshot, answer, "new algo order", self._core.redact)

    async def cancel_algo_order(self, client_algo_id: str) -> AlgoOrderSnapshot:
        """``DELETE /fapi/v1/algoOrder`` by ``clientAlgoId``, then ``GET`` it: the cancel answer
        carries only ids, the port promises the order's state."""
        rest = self._core.rest
        await self._core.signed(
            "DELETE",
            "/fapi/v1/algoOrder",
            {"clientAlgoId": client_algo_id},
            lambda rw: rest.cancel_algo_order(client_algo_id=client_algo_id, recv_window=rw),
        )
        try:
            answer = await self._core.signed(
                "GET",
                "/fapi/v1/algoOrder",
                {"clientAlgoId": client_algo_id},
                lambda rw: rest.query_algo_order(client_algo_id=client_algo_id, recv_window=rw),
            )
        except ExchangeError as exc:
            # The cancel was accepted; only its result is unknown to us. The manager resolves
            # unknown outcomes by querying the client id, which is exactly right here.
            err = UnknownOutcome(
                f"cancel of {client_algo_id} accepted, its state could not be read: {exc.msg}",
                code=exc.code,
                http_status=exc.http_status,
            )
        else:
            return convert(algo_snapshot, answer, "algo order", self._core.redact)
        raise err

    async def place_order(self, request: FuturesOrderRequest) -> OrderSnapshot:
        """``POST /fapi/v1/order`` (regular orders: reduce-only LIMIT take-profits, MARKET)."""
        params = request.to_params()
        kwargs = sdk_kwargs(params, _NEW_ORDER_ARGS)
        typed = None if kwargs is None else _typed(self._core.rest.new_order, kwargs)
        answer = await self._core.signed("POST", "/fapi/v1/order", params, typed)
        return convert(order_snapshot, answer, "new order", self._core.redact)

    async def cancel_order(self, symbol: str, client_order_id: str) -> OrderSnapshot:
        """``DELETE /fapi/v1/order`` by ``origClientOrderId``."""
        rest = self._core.rest
        answer = await self._core.signed(
            "DELETE",
            "/fapi/v1/order",
            {"symbol": symbol, "origClientOrderId": client_order_id},
            lambda rw: rest.cancel_order(
                symbol=symbol, orig_client_order_id=client_order_id, recv_window=rw
            ),
        )
        return convert(order_snapshot, answer, "cancelled order", self._core.redact)

    async def close(self) -> None:
        await self._core.close()
