"""``SdkSpotTrader``: the only Spot object that changes anything on the venue.

It implements :class:`exitguard.adapters.port.SpotTrader`. What goes on the wire is exactly
``request.to_params()`` (strings, no floats, no exponent form), through the typed SDK method
when every parameter has a place in it, else the SDK's generic signed request (see
:mod:`.rest_core`). Nothing here retries: failures are ``Rejected`` / ``UnknownOutcome`` /
``Transient`` and the manager decides.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from exitguard.domain.requests import SpotOcoRequest, SpotOrderRequest

from .answer_fields import as_mapping
from .errors import ExchangeError, Rejected, ReplaceHalfDone
from .port import SpotListSnapshot, SpotOrderSnapshot
from .rest_core import RestSettings, sdk_call
from .sdk_client import SdkTrader, convert
from .spot_convert import list_snapshot, spot_order_snapshot
from .spot_rest import SpotRestCore

__all__ = ["SdkSpotTrader", "replace_failure"]


def _with_ack(answer: Any, params: dict[str, str]) -> Any:
    """An ACK answer (Binance's default for stop types) carries ids only; the rest of the
    snapshot is what was sent, and an accepted order is NEW."""
    if isinstance(answer, dict) and "status" not in answer:
        sent = {"origQty": params.get("quantity", "0"), "status": "NEW", **params}
        return {**sent, **answer}
    return answer


def _half(data: Mapping[str, Any], name: str) -> tuple[int | None, str]:
    """``code`` and ``msg`` of one half (``cancelResponse`` / ``newOrderResponse``) of a failed
    cancel-replace answer."""
    half = data.get(name)
    if not isinstance(half, Mapping):
        return None, ""
    code = half.get("code")
    return (code if isinstance(code, int) and not isinstance(code, bool) else None), str(
        half.get("msg", "")
    )


def replace_failure(err: ExchangeError) -> ExchangeError:
    """What a failed STOP_ON_FAILURE cancel-replace means, from the answer's ``data``
    (Spot rest-api.md "Cancel an Existing Order and Send a New Order"): ``cancelResult``
    FAILURE → :class:`Rejected` with the cancel's own code (nothing changed, the new order was
    NOT_ATTEMPTED); SUCCESS with ``newOrderResult`` FAILURE → :class:`ReplaceHalfDone` with the
    new order's code. Without a readable ``data`` (filters checked before the cancel, transport
    failures, an unreadable 409) ``err`` stands as classified — a 409 stays UnknownOutcome."""
    data = err.answer.get("data") if err.answer is not None else None
    if not isinstance(data, Mapping):
        return err
    cancel_result, new_result = data.get("cancelResult"), data.get("newOrderResult")
    out: ExchangeError
    if cancel_result == "SUCCESS" and new_result == "FAILURE":
        code, msg = _half(data, "newOrderResponse")
        out = ReplaceHalfDone(
            msg or "new order refused after the cancel", code=code, http_status=err.http_status
        )
    elif cancel_result == "FAILURE" and new_result != "SUCCESS":
        code, msg = _half(data, "cancelResponse")
        out = Rejected(msg or err.msg, code=code or err.code, http_status=err.http_status)
    else:
        return err
    out.answer = err.answer
    return out


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

    async def cancel_replace(
        self, symbol: str, cancel_client_order_id: str, request: SpotOrderRequest
    ) -> SpotOrderSnapshot:
        """``POST /api/v3/order/cancelReplace`` with ``cancelReplaceMode=STOP_ON_FAILURE`` and
        ``cancelOrigClientOrderId``, the new order being ``request.to_params()``; answers the new
        order's snapshot. Failures: see :func:`replace_failure`."""
        if request.symbol != symbol:
            raise ValueError(f"request.symbol must be {symbol!r}, got {request.symbol!r}")
        if not cancel_client_order_id:
            raise ValueError("cancel_client_order_id must not be empty")
        new = request.to_params()
        params = {
            **new,
            "cancelReplaceMode": "STOP_ON_FAILURE",
            "cancelOrigClientOrderId": cancel_client_order_id,
        }
        rest = self._core.rest
        try:
            answer = await self._core.signed(
                "POST",
                "/api/v3/order/cancelReplace",
                params,
                sdk_call(rest.order_cancel_replace, params),
            )
        except ExchangeError as err:
            failure = replace_failure(err)
        else:
            return convert(
                lambda a: spot_order_snapshot(_with_ack(as_mapping(a)["newOrderResponse"], new)),
                answer,
                "cancel-replace",
                self.redact,
            )
        raise failure
