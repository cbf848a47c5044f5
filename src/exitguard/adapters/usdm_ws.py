"""Placing and cancelling USD-M exits over the WebSocket API (``ws-fapi``), through the official
SDK's ``websocket_api`` client: :class:`WsUsdmTrader` (the ``[usdm] transport = "ws_api"``
setting).

Only the four changing calls move to the WebSocket API (``order.place``, ``order.cancel``,
``algoOrder.place``, ``algoOrder.cancel``: reference 1.8); queries, snapshots and the clock stay
REST (:class:`.usdm_trader.SdkUsdmTrader`, whose subclass this is), so an unknown outcome is
resolved exactly as after a REST timeout: the manager queries the client id over REST.

SDK surface used: ``DerivativesTradingUsdsFutures(config_ws_api=ConfigurationWebSocketAPI(...))
.websocket_api`` (``create_connection``, ``send_signed_message`` with the documented method
names and wire parameters, ``on_connection("close", ...)``, ``close_connection``). The generic
``send_signed_message`` is used rather than the typed methods: it carries exactly
``request.to_params()`` (strings, never floats) and hands back the raw answer, which the REST
converters read (:mod:`.usdm_convert`), so both transports produce the same snapshots.

Session: one connection, opened on first use. With an Ed25519 key it logs on
(``session.logon``, the only key type Binance accepts there) and later requests carry only
``timestamp``; HMAC and RSA keys sign every request instead. After the connection ends (the venue
closed it, a network error), the next request opens a new one and logs on again; nothing is
re-sent.

Error boundary (the one table, :func:`.errors.error_for`): the venue's ``{"code", "msg"}`` →
``Rejected`` / ``Transient`` / ``UnknownOutcome`` by code (the SDK keeps the error body, not the
frame's ``status``); no connection, a refused connect or logon → ``Transient`` (nothing was
sent); the connection dropping while a request is in flight, or no answer within ``timeout_ms``
→ ``UnknownOutcome``. A clock error (``-1021``) re-measures the offset (REST) before the
``Transient`` is raised; later requests carry the corrected ``timestamp``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from typing import Any

from binance_common.configuration import ConfigurationWebSocketAPI
from binance_sdk_derivatives_trading_usds_futures import DerivativesTradingUsdsFutures

from exitguard.domain.enums import Product
from exitguard.domain.requests import AlgoOrderRequest, FuturesOrderRequest

from .errors import ExchangeError, Transient, UnknownOutcome, error_for
from .port import AlgoOrderSnapshot, OrderSnapshot
from .rest_core import PrivateKey
from .sdk_client import convert
from .usdm_convert import algo_snapshot, order_snapshot
from .usdm_trader import SdkUsdmTrader

__all__ = ["WsUsdmTrader"]

log = logging.getLogger("exitguard.adapters.usdm")

_CLOCK_CODES = frozenset({-1021, -5028})


class _Link:
    """One SDK websocket_api client and its connection; ``closed`` is set when it ends."""

    def __init__(self, api: Any) -> None:
        self.api = api
        self.closed = asyncio.Event()

    @property
    def alive(self) -> bool:
        conns = getattr(self.api, "connections", None) or []
        return not self.closed.is_set() and any(not c.websocket.closed for c in conns)


class WsUsdmTrader(SdkUsdmTrader):
    """:class:`SdkUsdmTrader` whose placements and cancels go over the WebSocket API."""

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
        if not ws_api_url.startswith(("ws://", "wss://")):
            raise ValueError("ws_api_url must be a ws:// or wss:// URL")
        settings = self._core.settings
        self._ws_config = ConfigurationWebSocketAPI(
            api_key=api_key,
            api_secret=settings.api_secret,
            private_key=settings.private_key_pem,
            private_key_passphrase=settings.private_key_passphrase,
            stream_url=ws_api_url,
            timeout=timeout_ms,
        )
        self._timeout_s = timeout_ms / 1000
        self._logon = self._core.key_kind == "ed25519"
        self._link: _Link | None = None
        self._connecting = asyncio.Lock()

    # -- the port's changing calls --------------------------------------------------------------

    async def place_algo_order(self, request: AlgoOrderRequest) -> AlgoOrderSnapshot:
        """``algoOrder.place``."""
        answer = await self._ws("algoOrder.place", request.to_params())
        return convert(algo_snapshot, answer, "new algo order", self.redact)

    async def cancel_algo_order(self, client_algo_id: str) -> AlgoOrderSnapshot:
        """``algoOrder.cancel``, then the order read over REST (the cancel answer carries only
        ids; see :meth:`SdkUsdmTrader.cancel_algo_order`)."""
        await self._ws("algoOrder.cancel", {"clientAlgoId": client_algo_id})
        return await self._state_after_cancel(client_algo_id)

    async def place_order(self, request: FuturesOrderRequest) -> OrderSnapshot:
        """``order.place`` (LIMIT, MARKET; the conditional types answer -4120 as on REST)."""
        answer = await self._ws("order.place", request.to_params())
        return convert(order_snapshot, answer, "new order", self.redact)

    async def cancel_order(self, symbol: str, client_order_id: str) -> OrderSnapshot:
        """``order.cancel`` by ``origClientOrderId``."""
        params = {"symbol": symbol, "origClientOrderId": client_order_id}
        answer = await self._ws("order.cancel", params)
        return convert(order_snapshot, answer, "cancelled order", self.redact)

    async def cancel_order_by_id(self, symbol: str, order_id: int) -> OrderSnapshot:
        """``order.cancel`` by ``orderId`` (a triggered algo order's child)."""
        if isinstance(order_id, bool) or not isinstance(order_id, int) or order_id <= 0:
            raise ValueError(f"order_id must be a positive integer, got {order_id!r}")
        params = {"symbol": symbol, "orderId": str(order_id)}
        answer = await self._ws("order.cancel", params)
        return convert(order_snapshot, answer, "cancelled order", self.redact)

    async def close(self) -> None:
        if self._closed:
            return
        link, self._link = self._link, None
        if link is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(link.api.close_connection(), self._timeout_s)
        await super().close()

    # -- transport ------------------------------------------------------------------------------

    async def _ws(self, method: str, params: Mapping[str, str]) -> dict[str, Any]:
        """The ``result`` of one signed request, or the error the shared table assigns."""
        if self._closed:
            raise RuntimeError("the USD-M trader is closed")
        link = await self._connected()
        wire: dict[str, Any] = dict(params)
        # Binance's timing rule with the measured offset (the SDK stamps the local clock).
        wire["timestamp"] = self._core.now_ms()
        if self._core.settings.recv_window_ms is not None:
            wire["recvWindow"] = self._core.settings.recv_window_ms
        answer = await self._send(link, method, wire)
        if not isinstance(answer, dict):
            raise UnknownOutcome(f"{method}: unreadable answer")
        result = answer.get("result")
        if not isinstance(result, dict):
            raise UnknownOutcome(f"{method}: answer without a result")
        return result

    async def _send(self, link: _Link, method: str, wire: dict[str, Any]) -> object:
        payload = {"method": method, "params": wire}
        api = link.api
        request = asyncio.ensure_future(
            api.send_signed_message(payload, signer=api.signer, response_model=None)
        )
        dropped = asyncio.ensure_future(link.closed.wait())
        try:
            done, _ = await asyncio.wait(
                {request, dropped}, timeout=self._timeout_s, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            dropped.cancel()
        if request not in done:
            request.cancel()
            self._forget(link)
            what = "the connection closed" if dropped in done else "no answer in time"
            raise UnknownOutcome(f"{method}: {what} while the request was in flight")
        exc = request.exception()
        if exc is not None:  # the SDK raises only before sending (no connection)
            self._forget(link)
            raise Transient(self.redact(f"{method}: not sent: {exc}"))
        return await self._answer(method, request.result().data())

    async def _answer(self, method: str, data: object) -> object:
        if isinstance(data, str):  # "Websocket Reconnect": the SDK did not send it
            raise Transient(f"{method}: not sent ({data})")
        if not isinstance(data, dict) or "error" not in data:
            return data
        error = data["error"]
        if isinstance(error, dict) and isinstance(error.get("code"), int):
            code, msg = int(error["code"]), self.redact(str(error.get("msg", "")))
            err = error_for(Product.USDM, msg, code=code)
            if code in _CLOCK_CODES:
                with contextlib.suppress(ExchangeError):
                    await self._core.sync_time()
            raise err
        # {"error": "timeout"} or a connection failure the SDK reported after sending.
        raise UnknownOutcome(self.redact(f"{method}: {error}"))

    def _forget(self, link: _Link) -> None:
        """Stop using ``link``; the next request connects again (and logs on again)."""
        if self._link is link:
            self._link = None
        link.closed.set()
        task = asyncio.ensure_future(link.api.close_connection())
        task.add_done_callback(lambda t: t.cancelled() or t.exception())

    async def _connected(self) -> _Link:
        link = self._link
        if link is not None and link.alive:
            return link
        async with self._connecting:
            link = self._link
            if link is not None and link.alive:
                return link
            if link is not None:
                self._forget(link)
            self._link = await self._connect()
            return self._link

    async def _connect(self) -> _Link:
        api: Any = DerivativesTradingUsdsFutures(config_ws_api=self._ws_config).websocket_api
        link = _Link(api)
        try:
            # The SDK logs a failed connect and returns without raising: check the pool.
            await asyncio.wait_for(api.create_connection(), self._timeout_s)
            conns = list(getattr(api, "connections", None) or [])
            if not conns:
                raise Transient("USD-M WebSocket API: connection failed, request not sent")
            api.on_connection("close", link.closed.set, conns[0])
            if self._logon:
                answer = await asyncio.wait_for(
                    api.send_signed_message(
                        {"method": "session.logon", "params": {}},
                        signer=api.signer,
                        session_logon=True,
                        response_model=None,
                    ),
                    self._timeout_s,
                )
                data = answer.data()
                if not isinstance(data, dict) or data.get("status") != 200:
                    detail = data.get("error") if isinstance(data, dict) else data
                    raise Transient(self.redact(f"USD-M session.logon refused: {detail}"))
        except BaseException as exc:
            link.closed.set()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(api.close_connection(), self._timeout_s)
            if isinstance(exc, ExchangeError | asyncio.CancelledError):
                raise
            err = Transient(self.redact(f"USD-M WebSocket API: connect failed: {exc}"))
        else:
            log.info("USD-M WebSocket API connected%s", " and logged on" if self._logon else "")
            return link
        raise err
