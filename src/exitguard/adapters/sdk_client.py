"""What every SDK reader and trader shares, for both products: the REST core built from the
credentials, clock sync, answers read into snapshots, and (readers) the private streams.

A product's reader or trader supplies its core (:meth:`SdkClient._make_core`) and, for a
reader, how a new private stream is made (:meth:`SdkReader._new_stream`); the endpoints and
snapshots stay in the product modules (:mod:`.spot_reader`, :mod:`.usdm_reader`,
:mod:`.spot_trader`, :mod:`.usdm_trader`).
"""

from __future__ import annotations

import functools
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, Generic, TypeVar

from binance_common.models import ApiResponse

from .answer_fields import ShapeError
from .errors import ExchangeError, UnknownOutcome
from .port import StreamItem
from .rest_core import PrivateKey, RestCore, RestSettings, load_private_key, sdk_call
from .sdk_errors import Redactor, is_not_found
from .stream_loop import ReconnectingStream

__all__ = ["SdkClient", "SdkReader", "SdkTrader", "convert"]

T = TypeVar("T")
CoreT = TypeVar("CoreT", bound=RestCore[Any])
StreamT = TypeVar("StreamT", bound=ReconnectingStream[Any])


def convert(fn: Callable[[Any], T], answer: object, what: str, redact: Redactor) -> T:
    """Read a venue answer into a snapshot; an unreadable answer is an unknown outcome (the
    request may have been applied; the caller queries before acting)."""
    try:
        return fn(answer)
    except (ShapeError, KeyError, TypeError, ValueError) as exc:
        err = UnknownOutcome(redact(f"unreadable {what} answer: {exc}"))
    raise err  # outside the except block: the unreadable answer does not ride along


class SdkClient(ABC, Generic[CoreT]):
    """One REST core (its own threads and clock offset) built from the credentials."""

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
        self._core: CoreT = self._make_core(
            RestSettings(
                rest_url=rest_url,
                api_key=api_key,
                api_secret=api_secret,
                private_key_pem=load_private_key(private_key),
                private_key_passphrase=private_key_passphrase,
                timeout_ms=timeout_ms,
                recv_window_ms=recv_window_ms,
            )
        )
        self._closed = False

    @abstractmethod
    def _make_core(self, settings: RestSettings) -> CoreT:
        """The product's REST core."""

    @property
    def redact(self) -> Redactor:
        """The redactor that knows this client's API key and secret (and listen keys)."""
        return self._core.redact

    @property
    def clock_offset_ms(self) -> int:
        return self._core.offset_ms

    async def sync_time(self) -> int:
        """Measure the clock offset now (it is also re-measured after every clock error)."""
        return await self._core.sync_time()

    async def _signed(
        self,
        method: str,
        path: str,
        params: Mapping[str, str],
        sdk_method: Callable[..., ApiResponse[Any]],
        read: Callable[[Any], T],
        what: str,
    ) -> T:
        """A signed request with exactly ``params`` (the typed ``sdk_method`` when it can carry
        them), its answer read by ``read``."""
        answer = await self._core.signed(method, path, params, sdk_call(sdk_method, params))
        return convert(read, answer, what, self.redact)

    async def _find(
        self,
        path: str,
        params: Mapping[str, str],
        sdk_method: Callable[..., ApiResponse[Any]],
        read: Callable[[Any], T],
        what: str,
    ) -> T | None:
        """A signed GET of one order (or list); ``None`` when the venue says it does not exist
        (``-2013``)."""
        try:
            answer = await self._core.signed("GET", path, params, sdk_call(sdk_method, params))
        except ExchangeError as err:
            if is_not_found(err):
                return None
            raise
        return convert(read, answer, what, self.redact)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self._core.close()


class SdkReader(SdkClient[CoreT], Generic[CoreT, StreamT]):
    """A read-only client with private streams; :meth:`close` ends every one of them."""

    # The credentials constructor is the base's; the set of live streams comes with first use.
    @functools.cached_property
    def _streams(self) -> set[StreamT]:
        return set()

    @abstractmethod
    def _new_stream(self) -> StreamT:
        """A new, not yet connected private stream."""

    def user_stream(self) -> AsyncIterator[StreamItem]:
        """A new private stream; it connects when first iterated and ends with CLOSED."""
        if self._closed:
            raise RuntimeError(f"the {self._core.label} reader is closed")
        stream = self._new_stream()
        self._streams.add(stream)
        return self._iterate(stream)

    async def _iterate(self, stream: StreamT) -> AsyncIterator[StreamItem]:
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


class SdkTrader(SdkClient[CoreT]):
    """The only kind of object that changes anything on the venue (never built in
    DRY_RUN_PRIVATE). Nothing here retries: failures are ``Rejected`` / ``UnknownOutcome`` /
    ``Transient`` and the manager decides."""
