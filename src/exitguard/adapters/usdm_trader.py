"""``SdkUsdmTrader``: the only USD-M object that changes anything on the venue.

It implements :class:`exitguard.adapters.port.UsdmTrader`. Requests arrive as the domain's
request models; what goes on the wire is exactly ``request.to_params()`` (strings, no floats,
no exponent form). The typed SDK method is used when every parameter has a place in it;
otherwise (``FuturesOrderRequest`` with the legacy conditional fields ``stopPrice``,
``closePosition``, ``activationPrice``, ``callbackRate``, ``workingType``, ``priceProtect``, which
``new_order`` lost in SDK 18; ``AlgoOrderRequest.quoteOrderQty`` of the primit dialect) the same
parameters go through the SDK's generic signed request (see :mod:`.rest_core`).

Nothing here retries: a failed send raises ``Rejected`` / ``UnknownOutcome`` / ``Transient`` and
the manager decides (unknown outcomes are resolved by querying the client id).
"""

from __future__ import annotations

from exitguard.domain.requests import AlgoOrderRequest, FuturesOrderRequest

from .errors import ExchangeError, UnknownOutcome
from .port import AlgoOrderSnapshot, OrderSnapshot
from .rest_core import RestSettings, sdk_call
from .sdk_client import SdkTrader, convert
from .usdm_convert import algo_snapshot, order_snapshot
from .usdm_rest import UsdmRestCore

__all__ = ["SdkUsdmTrader"]


class SdkUsdmTrader(SdkTrader[UsdmRestCore]):
    """Place and cancel USD-M algo and regular orders through the official SDK.
    Constructor (credentials), clock sync and ``close()``: :class:`.sdk_client.SdkClient`."""

    def _make_core(self, settings: RestSettings) -> UsdmRestCore:
        return UsdmRestCore(settings)

    async def place_algo_order(self, request: AlgoOrderRequest) -> AlgoOrderSnapshot:
        """``POST /fapi/v1/algoOrder``."""
        params = request.to_params()
        rest = self._core.rest
        return await self._signed(
            "POST",
            "/fapi/v1/algoOrder",
            params,
            rest.new_algo_order,
            algo_snapshot,
            "new algo order",
        )

    async def cancel_algo_order(self, client_algo_id: str) -> AlgoOrderSnapshot:
        """``DELETE /fapi/v1/algoOrder`` by ``clientAlgoId``, then ``GET`` it: the cancel answer
        carries only ids, the port promises the order's state."""
        rest = self._core.rest
        params = {"clientAlgoId": client_algo_id}
        path = "/fapi/v1/algoOrder"
        await self._core.signed("DELETE", path, params, sdk_call(rest.cancel_algo_order, params))
        return await self._state_after_cancel(client_algo_id)

    async def _state_after_cancel(self, client_algo_id: str) -> AlgoOrderSnapshot:
        """``GET /fapi/v1/algoOrder`` of an algo order whose cancel was just accepted."""
        rest = self._core.rest
        params = {"clientAlgoId": client_algo_id}
        try:
            answer = await self._core.signed(
                "GET", "/fapi/v1/algoOrder", params, sdk_call(rest.query_algo_order, params)
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
            return convert(algo_snapshot, answer, "algo order", self.redact)
        raise err

    async def place_order(self, request: FuturesOrderRequest) -> OrderSnapshot:
        """``POST /fapi/v1/order`` (regular orders: reduce-only LIMIT take-profits, MARKET)."""
        params = request.to_params()
        rest = self._core.rest
        return await self._signed(
            "POST", "/fapi/v1/order", params, rest.new_order, order_snapshot, "new order"
        )

    async def cancel_order(self, symbol: str, client_order_id: str) -> OrderSnapshot:
        """``DELETE /fapi/v1/order`` by ``origClientOrderId``."""
        params = {"symbol": symbol, "origClientOrderId": client_order_id}
        rest = self._core.rest
        return await self._signed(
            "DELETE", "/fapi/v1/order", params, rest.cancel_order, order_snapshot, "cancelled order"
        )

    async def cancel_order_by_id(self, symbol: str, order_id: int) -> OrderSnapshot:
        """``DELETE /fapi/v1/order`` by ``orderId``: the triggered child of an algo order, whose
        id is the algo order's ``actualOrderId`` (its client id is not documented, reference
        1.10). Errors as :meth:`cancel_order` (``-2011`` for an unknown or finished order)."""
        if isinstance(order_id, bool) or not isinstance(order_id, int) or order_id <= 0:
            raise ValueError(f"order_id must be a positive integer, got {order_id!r}")
        params = {"symbol": symbol, "orderId": str(order_id)}
        rest = self._core.rest
        return await self._signed(
            "DELETE", "/fapi/v1/order", params, rest.cancel_order, order_snapshot, "cancelled order"
        )
