"""The Spot REST core shared by the Spot reader and trader: one ``binance-sdk-spot`` client, run
off the event loop, with time sync, exact wire parameters and the error boundary.

It mirrors :mod:`.usdm_rest` (same reasons, same helpers): the SDK's REST client is synchronous
(``requests``) and runs in a small thread pool; ``ConfigurationRestAPI(retries=0)`` so a lost
cancel answer is never resent behind the manager's back; wire values are always the ``str``
values of the domain's ``to_params()`` (the SDK would turn a ``Decimal`` into ``1E-7``); after a
``-1021`` the offset is measured once (``rest.time()``) and, when it matters, signed calls go
through the SDK's generic ``binance_common.utils.send_request`` with an explicit ``timestamp``.
The rest client's own ``send_signed_request`` is not used: in 13.2.0 it calls
``send_request[T](...)`` like the USD-M SDK and fails with ``TypeError``.

Errors: :func:`.usdm_errors.translate` knows every SDK exception; it classifies with the USD-M
table, so answers with a code or an HTTP status are classified again with the Spot rows
(:func:`spot_translate`): Spot has no "503 Service Unavailable = failure" rule, and ``-2021``
means a half-done cancel-replace there.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import requests
from binance_common.configuration import ConfigurationRestAPI
from binance_common.errors import Error as SdkError
from binance_common.models import ApiResponse
from binance_common.signature import Signers
from binance_common.utils import get_signature, send_request
from binance_sdk_spot.rest_api import SpotRestAPI
from binance_sdk_spot.spot import Spot

from exitguard.domain.enums import Product

from .errors import ExchangeError, Transient, UnknownOutcome, error_for
from .usdm_errors import Redactor, install_log_redaction, translate
from .usdm_rest import OFFSET_APPLY_MS, UsdmRestSettings, plain

__all__ = ["SpotRestCore", "SpotRestSettings", "spot_translate"]

log = logging.getLogger("exitguard.adapters.spot")

T = TypeVar("T")
TypedCall = Callable[[int | None], ApiResponse[Any]]
# The settings are product-neutral (URL, keys, timeouts); the USD-M class is reused as is.
SpotRestSettings = UsdmRestSettings

_CLOCK_CODES = frozenset({-1021})
_BOUNDARY_ERRORS: tuple[type[BaseException], ...] = (
    SdkError,
    requests.RequestException,
    json.JSONDecodeError,
    TimeoutError,
)


def spot_translate(exc: BaseException, redact: Redactor) -> ExchangeError:
    """:func:`translate`, with venue answers classified by the Spot rows of the shared table."""
    err = translate(exc, redact)
    if err.code is None and err.http_status is None:
        return err  # transport failures: product-neutral
    spot = error_for(Product.SPOT, err.msg, code=err.code, http_status=err.http_status)
    retry_after = getattr(err, "retry_after_s", None)
    if isinstance(spot, Transient) and retry_after is not None:
        spot.retry_after_s = retry_after
    return spot


def _server_ms(answer: object) -> int:
    value = answer.get("serverTime") if isinstance(answer, Mapping) else None
    if isinstance(value, int | str) and not isinstance(value, bool):
        with contextlib.suppress(ValueError):
            return int(value)
    raise UnknownOutcome("unreadable server time answer")


class SpotRestCore:
    """One Spot SDK REST client plus threads, clock offset and the error boundary."""

    def __init__(self, settings: SpotRestSettings) -> None:
        self.settings = settings
        install_log_redaction()
        self.redact = Redactor(
            [settings.api_key, settings.api_secret, settings.private_key_passphrase]
        )
        self.config = ConfigurationRestAPI(
            api_key=settings.api_key,
            api_secret=settings.api_secret,
            private_key=settings.private_key_pem,
            private_key_passphrase=settings.private_key_passphrase,
            base_path=settings.rest_url.rstrip("/"),
            timeout=settings.timeout_ms,
            retries=0,
        )
        self.signer: Any = None
        if settings.private_key_pem is not None:
            try:
                self.signer = Signers.get_signer(
                    settings.private_key_pem, settings.private_key_passphrase
                )
            except (ValueError, TypeError, IndexError):
                raise ValueError("private_key is not a usable RSA or Ed25519 key") from None
        self.rest: SpotRestAPI = Spot(config_rest_api=self.config).rest_api
        self._session = requests.Session()
        self._executor = ThreadPoolExecutor(
            max_workers=settings.max_workers, thread_name_prefix="exitguard-spot"
        )
        self._deadline_s = 2 * settings.timeout_ms / 1000 + 1
        self._offset_ms = 0
        self._offset_applied = False
        self._sync_generation = 0
        self._sync_lock = asyncio.Lock()
        self._closed = False

    # -- time and signing ------------------------------------------------------------------

    @property
    def offset_ms(self) -> int:
        return self._offset_ms

    def now_ms(self) -> int:
        return int(time.time() * 1000) + (self._offset_ms if self._offset_applied else 0)

    def sign(self, payload: str) -> str:
        """The signature of a query string (HMAC hex, or RSA/Ed25519 base64) for the WS API."""
        signature: str = get_signature(self.config, payload, self.signer)  # type: ignore[arg-type]
        return signature

    async def sync_time(self, *, unless_since: int | None = None) -> int:
        """Measure the offset against ``GET /api/v3/time`` (once per clock error)."""
        async with self._sync_lock:
            if unless_since is not None and unless_since != self._sync_generation:
                return self._offset_ms
            before = time.time()
            answer = await self.call(lambda: self.rest.time())
            after = time.time()
            offset = _server_ms(answer) - int((before + after) * 500)
            self._offset_ms = offset
            self._offset_applied = abs(offset) >= OFFSET_APPLY_MS
            self._sync_generation += 1
            log.info("spot clock offset %d ms", offset)
            return offset

    # -- calls -----------------------------------------------------------------------------

    async def run(self, fn: Callable[[], T]) -> T:
        if self._closed:
            raise RuntimeError("the Spot adapter is closed")
        loop = asyncio.get_running_loop()
        try:
            return await asyncio.wait_for(
                loop.run_in_executor(self._executor, fn), self._deadline_s
            )
        except _BOUNDARY_ERRORS as exc:
            err = spot_translate(exc, self.redact)
        raise err  # outside the except block: no unredacted __context__

    async def call(self, fn: Callable[[], ApiResponse[Any]]) -> Any:
        return await self.run(lambda: plain(fn().data()))

    async def signed(
        self, method: str, path: str, params: Mapping[str, str], typed: TypedCall | None
    ) -> Any:
        """The typed SDK method when it can carry everything, else the generic signed request
        with the same wire params (and the corrected timestamp)."""
        recv_window = self.settings.recv_window_ms
        fn: Callable[[], ApiResponse[Any]]
        if typed is not None and not self._offset_applied:

            def fn() -> ApiResponse[Any]:
                return typed(recv_window)

        else:

            def fn() -> ApiResponse[Any]:
                return self._generic(method, path, params)

        generation = self._sync_generation
        try:
            return await self.call(fn)
        except Transient as err:
            if err.code in _CLOCK_CODES:
                with contextlib.suppress(ExchangeError):
                    await self.sync_time(unless_since=generation)
            raise

    def _generic(self, method: str, path: str, params: Mapping[str, str]) -> ApiResponse[Any]:
        payload: dict[str, str] = dict(params)
        if self.settings.recv_window_ms is not None:
            payload["recvWindow"] = str(self.settings.recv_window_ms)
        payload["timestamp"] = str(self.now_ms())
        response: ApiResponse[Any] = send_request(
            self._session,
            self.config,
            method,
            path,
            payload=payload,
            is_signed=True,
            signer=self.signer,
        )
        return response

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._session.close()
        sdk_session = getattr(self.rest, "_session", None)
        if isinstance(sdk_session, requests.Session):
            sdk_session.close()
