"""``SdkUsdmReader``: the read-only USD-M adapter (state, hydration, the private stream).

It implements :class:`exitguard.adapters.port.UsdmReader` over the official SDK; it cannot place
or cancel anything (that is :class:`exitguard.adapters.usdm_trader.SdkUsdmTrader`, which is not
constructed in DRY_RUN_PRIVATE). SDK calls used are listed in :mod:`exitguard.adapters.usdm`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

from exitguard.domain.enums import PositionMode

from .errors import ExchangeError, UnknownOutcome
from .port import AlgoOrderSnapshot, OrderSnapshot, PositionSnapshot, PriceSnapshot, StreamItem
from .usdm_convert import (
    ShapeError,
    algo_snapshot,
    as_list,
    as_mapping,
    order_snapshot,
    position_mode,
    position_snapshots,
    price_snapshot,
)
from .usdm_errors import Redactor, is_not_found
from .usdm_rest import PrivateKey, UsdmRestCore, UsdmRestSettings, load_private_key
from .usdm_stream import UsdmUserStream, UserStreamSettings

__all__ = ["SdkUsdmReader", "convert"]

T = TypeVar("T")


def convert(fn: Callable[[Any], T], answer: object, what: str, redact: Redactor) -> T:
    """Read a venue answer into a snapshot; an unreadable answer is an unknown outcome (the
    request may have been applied; the caller queries before acting)."""
    try:
        return fn(answer)
    except (ShapeError, KeyError, TypeError, ValueError) as exc:
        err = UnknownOutcome(redact(f"unreadable {what} answer: {exc}"))
    raise err


class SdkUsdmReader:
    """USD-M reads over ``binance-sdk-derivatives-trading-usds-futures`` (REST) and a private
    stream (listen key through the SDK, socket through aiohttp; see :mod:`.usdm_stream`)."""

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
        self._stream_settings = UserStreamSettings(
            ws_streams_url=ws_streams_url,
            keepalive_interval_s=keepalive_interval_s,
            reconnect_initial_s=reconnect_initial_s,
            reconnect_max_s=reconnect_max_s,
            reconnect_attempts=reconnect_attempts,
        )
        self._streams: set[UsdmUserStream] = set()
        self._closed = False

    @property
    def redact(self) -> Redactor:
        """The redactor that knows this reader's API key, secret and listen keys."""
        return self._core.redact

    @property
    def clock_offset_ms(self) -> int:
        return self._core.offset_ms

    async def sync_time(self) -> int:
        """Measure the clock offset now (it is also re-measured after every ``-1021``)."""
        return await self._core.sync_time()

    # -- market and account state ------------------------------------------------------------

    async def exchange_info(self) -> dict[str, Any]:
        answer = await self._core.call(lambda: self._core.rest.exchange_information())
        return dict(convert(as_mapping, answer, "exchangeInfo", self.redact))

    async def position_mode(self) -> PositionMode:
        rest = self._core.rest
        answer = await self._core.signed(
            "GET",
            "/fapi/v1/positionSide/dual",
            {},
            lambda rw: rest.get_current_position_mode(recv_window=rw),
        )
        return convert(position_mode, answer, "positionSide/dual", self.redact)

    async def positions(self) -> list[PositionSnapshot]:
        rest = self._core.rest
        answer = await self._core.signed(
            "GET",
            "/fapi/v3/positionRisk",
            {},
            lambda rw: rest.position_information_v3(recv_window=rw),
        )
        return convert(position_snapshots, answer, "positionRisk", self.redact)

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
        rest = self._core.rest
        params = {"symbol": symbol} if symbol else {}
        answer = await self._core.signed(
            "GET",
            "/fapi/v1/openAlgoOrders",
            params,
            lambda rw: rest.current_all_algo_open_orders(symbol=symbol, recv_window=rw),
        )
        return convert(
            lambda a: [algo_snapshot(x) for x in as_list(a)], answer, "openAlgoOrders", self.redact
        )

    async def open_orders(self, symbol: str | None = None) -> list[OrderSnapshot]:
        rest = self._core.rest
        params = {"symbol": symbol} if symbol else {}
        answer = await self._core.signed(
            "GET",
            "/fapi/v1/openOrders",
            params,
            lambda rw: rest.current_all_open_orders(symbol=symbol, recv_window=rw),
        )
        return convert(
            lambda a: [order_snapshot(x) for x in as_list(a)], answer, "openOrders", self.redact
        )

    async def query_algo_order(self, client_algo_id: str) -> AlgoOrderSnapshot | None:
        rest = self._core.rest
        try:
            answer = await self._core.signed(
                "GET",
                "/fapi/v1/algoOrder",
                {"clientAlgoId": client_algo_id},
                lambda rw: rest.query_algo_order(client_algo_id=client_algo_id, recv_window=rw),
            )
        except ExchangeError as err:
            if is_not_found(err):
                return None
            raise
        return convert(algo_snapshot, answer, "algoOrder", self.redact)

    async def query_order(self, symbol: str, client_order_id: str) -> OrderSnapshot | None:
        rest = self._core.rest
        try:
            answer = await self._core.signed(
                "GET",
                "/fapi/v1/order",
                {"symbol": symbol, "origClientOrderId": client_order_id},
                lambda rw: rest.query_order(
                    symbol=symbol, orig_client_order_id=client_order_id, recv_window=rw
                ),
            )
        except ExchangeError as err:
            if is_not_found(err):
                return None
            raise
        return convert(order_snapshot, answer, "order", self.redact)

    # -- private stream ----------------------------------------------------------------------

    def user_stream(self) -> AsyncIterator[StreamItem]:
        """A new private stream; it connects when first iterated and ends with CLOSED."""
        if self._closed:
            raise RuntimeError("the USD-M reader is closed")
        stream = UsdmUserStream(self._core, self._stream_settings)
        self._streams.add(stream)
        return self._iterate(stream)

    async def _iterate(self, stream: UsdmUserStream) -> AsyncIterator[StreamItem]:
        items = stream.items()
        try:
            async for item in items:
                yield item
        finally:
            self._streams.discard(stream)
            # Explicitly, not at garbage collection: stopping the iteration closes the socket.
            await items.aclose()

    async def close(self) -> None:
        """Stop every stream (each yields CLOSED), then the REST client."""
        if self._closed:
            return
        self._closed = True
        for stream in list(self._streams):
            await stream.close()
        await self._core.close()
