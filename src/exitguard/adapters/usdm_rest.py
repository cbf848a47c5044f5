"""The USD-M REST core shared by the reader and the trader: one official SDK client, run off the
event loop, with time sync, exact wire parameters and the error boundary.

Why it is shaped like this:

- The SDK's REST client is synchronous (``requests``); every call runs in a small thread pool
  owned by this core (``close()`` shuts it down), never on the event loop.
- ``ConfigurationRestAPI(retries=0)``: the SDK retries GET/DELETE on 5xx and connection errors
  by default, so a cancel whose answer was lost would be sent again behind the manager's back;
  unknown outcomes are the manager's to resolve (query by client id). ``timeout`` defaults to
  5000 ms (the SDK's default is 1000 ms).
- Exact numbers: the SDK puts every parameter in the query string through
  ``binance_common.utils.encoded_string``, which passes ``str`` values through unchanged but turns
  ``float``/``Decimal`` into ``str(value)`` (``1e-05``, ``1E-7``). So requests are always sent as
  the ``str`` values of the domain's ``to_params()``, even where the SDK annotates ``float``.
- Clock offset: the SDK's typed methods stamp ``timestamp`` from the local clock
  (``binance_common.utils.get_timestamp``) and take no timestamp argument. After a ``-1021`` the
  core measures the offset once (``check_server_time``) and raises ``Transient``; while the offset
  is large enough to matter, signed calls go through the SDK's generic signed request with an
  explicit ``timestamp`` (``send_request`` keeps a ``timestamp`` it is given).
- Generic signed requests use ``binance_common.utils.send_request`` directly: the rest client's
  own ``send_signed_request`` / ``send_request`` wrappers fail in SDK 18.0.1 with ``TypeError:
  'function' object is not subscriptable`` (they call ``send_request[T](...)``). Same signing,
  same error classes, same query-string encoding as the typed methods.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import os
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import requests
from binance_common.configuration import ConfigurationRestAPI
from binance_common.errors import Error as SdkError
from binance_common.models import ApiResponse
from binance_common.signature import Signers
from binance_common.utils import send_request, snake_to_camel
from binance_sdk_derivatives_trading_usds_futures import DerivativesTradingUsdsFutures
from binance_sdk_derivatives_trading_usds_futures.rest_api import (
    DerivativesTradingUsdsFuturesRestAPI,
)
from pydantic import BaseModel

from .errors import ExchangeError, Transient, UnknownOutcome
from .usdm_errors import Redactor, install_log_redaction, translate

__all__ = [
    "OFFSET_APPLY_MS",
    "PrivateKey",
    "UsdmRestCore",
    "UsdmRestSettings",
    "load_private_key",
    "plain",
    "sdk_kwargs",
    "sdk_params",
]

log = logging.getLogger("exitguard.adapters.usdm")

T = TypeVar("T")
PrivateKey = bytes | str | os.PathLike[str]
TypedCall = Callable[[int | None], ApiResponse[Any]]

# Below this the measured offset is loopback/WAN jitter: Binance accepts a timestamp up to 1000 ms
# ahead and recvWindow (5000 ms) behind, so the SDK's own timestamps keep working.
OFFSET_APPLY_MS = 200
# -1021 INVALID_TIMESTAMP and -5028 (the matching engine's recvWindow check) both mean "clock".
_CLOCK_CODES = frozenset({-1021, -5028})
# What an SDK call may raise that is not an adapter bug (see usdm_errors for the mapping).
_BOUNDARY_ERRORS: tuple[type[BaseException], ...] = (
    SdkError,
    requests.RequestException,
    json.JSONDecodeError,
    TimeoutError,
)


@dataclass(frozen=True, slots=True)
class UsdmRestSettings:
    """Where and how to reach USD-M REST. Secrets are kept out of ``repr``."""

    rest_url: str
    api_key: str = field(repr=False)
    api_secret: str | None = field(default=None, repr=False)
    private_key_pem: str | None = field(default=None, repr=False)
    private_key_passphrase: str | None = field(default=None, repr=False)
    timeout_ms: int = 5000
    recv_window_ms: int | None = None
    max_workers: int = 4

    def __post_init__(self) -> None:
        if not self.rest_url.startswith(("http://", "https://")):
            raise ValueError("rest_url must be an http(s) URL")
        if not self.api_key:
            raise ValueError("an API key is required")
        if bool(self.api_secret) == bool(self.private_key_pem):
            raise ValueError("give exactly one of api_secret and private_key")
        if self.timeout_ms <= 0:
            raise ValueError("timeout_ms must be > 0")
        if self.recv_window_ms is not None and not 0 < self.recv_window_ms <= 60_000:
            raise ValueError("recv_window_ms must be in (0, 60000]")
        if self.max_workers < 1:
            raise ValueError("max_workers must be >= 1")


def load_private_key(key: PrivateKey | None) -> str | None:
    """PEM text from PEM bytes, PEM text, or a path to a PEM file (never logged)."""
    if key is None:
        return None
    if isinstance(key, bytes):
        return key.decode("ascii")
    if isinstance(key, str) and key.lstrip().startswith("-----BEGIN"):
        return key
    path = Path(key)
    if not path.is_file():
        raise ValueError("private_key is neither PEM text nor a readable file")
    return path.read_text(encoding="ascii")


def plain(obj: object) -> Any:
    """An SDK result as plain JSON values (dicts keyed by wire names, lists, scalars).

    Typed results are pydantic models; ``to_dict()`` gives the wire names and keeps unknown keys
    (``additional_properties``); one-of wrappers hold the model in ``actual_instance``; a payload
    the SDK could not parse is already a dict.
    """
    if obj is None or isinstance(obj, str | int | float | bool):
        return obj
    if isinstance(obj, Mapping):
        return {str(k): plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [plain(x) for x in obj]
    inner = getattr(obj, "actual_instance", None)
    if inner is not None:
        return plain(inner)
    to_dict = getattr(obj, "to_dict", None)
    if callable(to_dict):
        out = plain(to_dict())
        # Some list-row models dump their ``additional_properties`` as a field: unknown wire
        # keys belong at the top level, like ``to_dict`` puts them for the other models.
        extra = out.pop("additional_properties", None) if isinstance(out, dict) else None
        if isinstance(extra, dict):
            for key, value in extra.items():
                out.setdefault(key, value)
        return out
    if isinstance(obj, BaseModel):
        return plain(obj.model_dump(by_alias=True, exclude_none=True))
    raise TypeError(f"unexpected SDK value of type {type(obj).__name__}")


def sdk_params(method: Callable[..., Any]) -> frozenset[str]:
    """The keyword parameters of a typed SDK method, except the ones the core supplies."""
    names = inspect.signature(method).parameters
    return frozenset(n for n in names if n not in ("self", "recv_window"))


def sdk_kwargs(params: Mapping[str, str], accepted: frozenset[str]) -> dict[str, Any] | None:
    """Wire params as keyword arguments of a typed SDK method, or ``None`` when one of them has no
    parameter there (the caller then sends the generic signed request).

    A name is accepted only if the SDK's own ``snake_to_camel`` turns it back into exactly the
    wire name, so the typed call puts the same names on the wire.
    """
    out: dict[str, Any] = {}
    for wire, value in params.items():
        name = "".join("_" + c.lower() if c.isupper() else c for c in wire)
        if name not in accepted or snake_to_camel(name) != wire:
            return None
        out[name] = value
    return out


def _server_ms(answer: object) -> int:
    """``serverTime`` of a ``GET /fapi/v1/time`` answer."""
    value = answer.get("serverTime") if isinstance(answer, Mapping) else None
    if isinstance(value, int | str) and not isinstance(value, bool):
        with contextlib.suppress(ValueError):
            return int(value)
    raise UnknownOutcome("unreadable server time answer")


class UsdmRestCore:
    """One SDK REST client plus what every call needs: threads, clock offset, error boundary."""

    def __init__(self, settings: UsdmRestSettings) -> None:
        self.settings = settings
        install_log_redaction()
        self.redact = Redactor(
            [settings.api_key, settings.api_secret, settings.private_key_passphrase]
        )
        self._config = ConfigurationRestAPI(
            api_key=settings.api_key,
            api_secret=settings.api_secret,
            private_key=settings.private_key_pem,
            private_key_passphrase=settings.private_key_passphrase,
            base_path=settings.rest_url.rstrip("/"),
            timeout=settings.timeout_ms,
            retries=0,
        )
        self._signer: Any = None
        if settings.private_key_pem is not None:
            try:
                self._signer = Signers.get_signer(
                    settings.private_key_pem, settings.private_key_passphrase
                )
            except (ValueError, TypeError, IndexError):
                raise ValueError("private_key is not a usable RSA or Ed25519 key") from None
        self.rest: DerivativesTradingUsdsFuturesRestAPI = DerivativesTradingUsdsFutures(
            config_rest_api=self._config
        ).rest_api
        self._session = requests.Session()  # the generic signed path's own connection pool
        self._executor = ThreadPoolExecutor(
            max_workers=settings.max_workers, thread_name_prefix="exitguard-usdm"
        )
        # A stuck thread must not hang the manager: requests' timeout is per socket operation,
        # so the whole call gets an outer deadline too.
        self._deadline_s = 2 * settings.timeout_ms / 1000 + 1
        self._offset_ms = 0
        self._offset_applied = False
        self._sync_generation = 0  # bumped by every completed sync
        self._sync_lock = asyncio.Lock()
        self._closed = False

    # -- time ------------------------------------------------------------------------------

    @property
    def offset_ms(self) -> int:
        """Server time minus local time, as last measured (0 before any sync)."""
        return self._offset_ms

    @property
    def offset_applied(self) -> bool:
        return self._offset_applied

    def now_ms(self) -> int:
        """The venue's time as far as this client knows it."""
        return int(time.time() * 1000) + (self._offset_ms if self._offset_applied else 0)

    async def sync_time(self, *, unless_since: int | None = None) -> int:
        """Measure the clock offset against ``GET /fapi/v1/time``; returns it (ms).

        ``unless_since``: the sync generation seen before a request that failed with -1021; when
        another sync finished since, that one already answered it (one sync per clock error, not
        one per concurrent request).
        """
        async with self._sync_lock:
            if unless_since is not None and unless_since != self._sync_generation:
                return self._offset_ms
            before = time.time()
            answer = await self.call(lambda: self.rest.check_server_time())
            after = time.time()
            server_ms = _server_ms(answer)
            offset = server_ms - int((before + after) * 500)
            self._offset_ms = offset
            self._offset_applied = abs(offset) >= OFFSET_APPLY_MS
            self._sync_generation += 1
            log.info(
                "usdm clock offset %d ms (%s)",
                offset,
                "applied" if self._offset_applied else "ignored",
            )
            return offset

    # -- calls -----------------------------------------------------------------------------

    async def run(self, fn: Callable[[], T]) -> T:
        """Run a blocking SDK call in the pool; SDK failures come out as ExchangeErrors."""
        if self._closed:
            raise RuntimeError("the USD-M adapter is closed")
        loop = asyncio.get_running_loop()
        try:
            return await asyncio.wait_for(
                loop.run_in_executor(self._executor, fn), self._deadline_s
            )
        except _BOUNDARY_ERRORS as exc:
            err = translate(exc, self.redact)
        # Raised here, not in the except block: the SDK exception (unredacted text, URL with
        # signature) must not ride along as __context__.
        raise err

    async def call(self, fn: Callable[[], ApiResponse[Any]]) -> Any:
        """An unsigned (or already complete) SDK call; the result as plain JSON values."""
        return await self.run(lambda: plain(fn().data()))

    async def signed(
        self,
        method: str,
        path: str,
        params: Mapping[str, str],
        typed: TypedCall | None,
    ) -> Any:
        """A signed request: the typed SDK method when it can carry everything, else the SDK's
        generic signed request with the same wire params (and the corrected timestamp)."""
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
        payload["timestamp"] = str(self.now_ms())  # stamped in the worker, right before sending
        response: ApiResponse[Any] = send_request(
            self._session,
            self._config,
            method,
            path,
            payload=payload,
            is_signed=True,
            signer=self._signer,
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
