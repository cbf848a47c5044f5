"""The REST core shared by the Spot and USD-M adapters: one official SDK client, run off the
event loop, with time sync, exact wire parameters and the error boundary.

Each product subclasses :class:`RestCore` with its SDK client, its server-time call, its clock
error codes and its error classification (:mod:`.spot_rest`, :mod:`.usdm_rest`). Why it is shaped
like this:

- The SDK's REST client is synchronous (``requests``); every call runs in a small thread pool
  owned by the core (``close()`` shuts it down), never on the event loop.
- ``ConfigurationRestAPI(retries=0)``: the SDK retries GET/DELETE on 5xx and connection errors
  by default, so a cancel whose answer was lost would be sent again behind the manager's back;
  unknown outcomes are the manager's to resolve (query by client id). ``timeout`` defaults to
  5000 ms (the SDK's default is 1000 ms).
- Exact numbers: the SDK puts every parameter in the query string through
  ``binance_common.utils.encoded_string``, which passes ``str`` values through unchanged but turns
  ``float``/``Decimal`` into ``str(value)`` (``1e-05``, ``1E-7``). So requests are always sent as
  the ``str`` values of the domain's ``to_params()``, even where the SDK annotates ``float``.
- Clock offset: the SDK's typed methods stamp ``timestamp`` from the local clock
  (``binance_common.utils.get_timestamp``) and take no timestamp argument. After a clock error
  (``-1021``) the core measures the offset once and re-raises the ``Transient``; while the offset
  is large enough to matter, signed calls go through the SDK's generic signed request with an
  explicit ``timestamp`` (``send_request`` keeps a ``timestamp`` it is given).
- Generic signed requests use ``binance_common.utils.send_request`` directly: the rest clients'
  own ``send_signed_request`` / ``send_request`` wrappers fail (USD-M SDK 18.0.1, Spot SDK 13.2.0)
  with ``TypeError: 'function' object is not subscriptable`` (they call ``send_request[T](...)``).
  Same signing, same error classes, same query-string encoding as the typed methods.
- Error bodies: the SDK keeps only ``code`` and ``msg`` of an error answer, dropping e.g. the
  ``data`` of a Spot cancel-replace failure; for a 4xx outside its classes (409, 408: its
  ``ClientError``) it keeps neither code nor HTTP status. A response hook on both sessions keeps
  the status and JSON body of each error answer per worker thread; :meth:`RestCore.run` hands the
  body on as :attr:`.errors.ExchangeError.answer` and, when the SDK lost the status, classifies
  the answer again with the real status and code (the shared table's rules).
- Secrets: the API key, secret and passphrase go into the core's :class:`.sdk_errors.Redactor`
  at construction; every error leaving :meth:`RestCore.run` has been redacted and is raised
  outside the ``except`` block, so the SDK exception (unredacted text, URL with signature) does
  not ride along as ``__context__``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import json
import logging
import os
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Generic, Literal, TypeVar

import requests
from binance_common.configuration import ConfigurationRestAPI
from binance_common.errors import Error as SdkError
from binance_common.models import ApiResponse
from binance_common.signature import Signers
from binance_common.utils import get_signature, send_request, snake_to_camel
from Crypto.Signature.eddsa import EdDSASigScheme
from pydantic import BaseModel

from exitguard.domain.enums import Product

from .errors import ExchangeError, Transient, UnknownOutcome, error_for
from .sdk_errors import Redactor, install_log_redaction, translate

__all__ = [
    "OFFSET_APPLY_MS",
    "KeyKind",
    "PrivateKey",
    "RestCore",
    "RestSettings",
    "TypedCall",
    "load_private_key",
    "plain",
    "sdk_call",
    "sdk_kwargs",
    "sdk_params",
]

T = TypeVar("T")
RestT = TypeVar("RestT")  # the product's SDK REST client
PrivateKey = bytes | str | os.PathLike[str]
TypedCall = Callable[[int | None], ApiResponse[Any]]
KeyKind = Literal["hmac", "rsa", "ed25519"]

# Below this the measured offset is loopback/WAN jitter: Binance accepts a timestamp up to 1000 ms
# ahead and recvWindow (5000 ms) behind, so the SDK's own timestamps keep working.
OFFSET_APPLY_MS = 200
# Where run() hangs the error answer's body on the SDK exception, between worker and event loop.
_ANSWER_ATTR = "exitguard_answer"
# What an SDK call may raise that is not an adapter bug (see sdk_errors for the mapping).
_BOUNDARY_ERRORS: tuple[type[BaseException], ...] = (
    SdkError,
    requests.RequestException,
    json.JSONDecodeError,
    TimeoutError,
)


@dataclass(frozen=True, slots=True)
class RestSettings:
    """Where and how to reach a product's REST API. Secrets are kept out of ``repr``."""

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


# Keyed by the SDK's function (not the bound method, which would keep its client alive).
_accepted = functools.cache(sdk_params)


def sdk_call(
    method: Callable[..., ApiResponse[Any]], params: Mapping[str, str]
) -> TypedCall | None:
    """The typed SDK call carrying exactly ``params`` (plus the core's recvWindow), or ``None``
    when one of them has no place in ``method`` (then the generic signed request is sent)."""
    kwargs = sdk_kwargs(params, _accepted(getattr(method, "__func__", method)))
    if kwargs is None:
        return None

    def call(recv_window: int | None) -> ApiResponse[Any]:
        return method(**kwargs, recv_window=recv_window)

    return call


def _redacted(value: Any, redact: Redactor) -> Any:
    """``value`` (plain JSON) with every string passed through ``redact``."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {str(k): _redacted(v, redact) for k, v in value.items()}
    if isinstance(value, list):
        return [_redacted(v, redact) for v in value]
    return value


class _ErrorAnswers(threading.local):
    """HTTP status and JSON body of the last error answer a worker thread received (``run``)."""

    status: int | None = None
    body: dict[str, Any] | None = None


def _server_ms(answer: object) -> int:
    """``serverTime`` of a server-time answer."""
    value = answer.get("serverTime") if isinstance(answer, Mapping) else None
    if isinstance(value, int | str) and not isinstance(value, bool):
        with contextlib.suppress(ValueError):
            return int(value)
    raise UnknownOutcome("unreadable server time answer")


class RestCore(ABC, Generic[RestT]):
    """One SDK REST client plus what every call needs: threads, clock offset, error boundary."""

    # Set by each product's core.
    product: ClassVar[str]  # "spot" / "usdm": log lines and thread names
    label: ClassVar[str]  # "Spot" / "USD-M": error texts
    clock_codes: ClassVar[frozenset[int]]  # answers that mean "your clock is off"
    log: ClassVar[logging.Logger]

    def __init__(self, settings: RestSettings) -> None:
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
        self.rest: RestT = self._client(self.config)
        self._session = requests.Session()  # the generic signed path's own connection pool
        self._answers = _ErrorAnswers()
        for session in (self._session, getattr(self.rest, "_session", None)):
            if isinstance(session, requests.Session):
                session.hooks["response"].append(self._keep_error_answer)
        self._executor = ThreadPoolExecutor(
            max_workers=settings.max_workers, thread_name_prefix=f"exitguard-{self.product}"
        )
        # A stuck thread must not hang the manager: requests' timeout is per socket operation,
        # so the whole call gets an outer deadline too.
        self._deadline_s = 2 * settings.timeout_ms / 1000 + 1
        self._offset_ms = 0
        self._offset_applied = False
        self._sync_generation = 0  # bumped by every completed sync
        self._sync_lock = asyncio.Lock()
        self._closed = False

    # -- what each product supplies ----------------------------------------------------------

    @abstractmethod
    def _client(self, config: ConfigurationRestAPI) -> RestT:
        """The product's SDK REST client."""

    @abstractmethod
    def _server_time(self) -> ApiResponse[Any]:
        """The product's server-time call (blocking; run in the pool)."""

    def _translate(self, exc: BaseException) -> ExchangeError:
        """The exitguard error for an SDK exception (the shared table's USD-M rows by default)."""
        return translate(exc, self.redact)

    # -- time and signing --------------------------------------------------------------------

    @property
    def offset_ms(self) -> int:
        """Server time minus local time, as last measured (0 before any sync)."""
        return self._offset_ms

    @property
    def offset_applied(self) -> bool:
        return self._offset_applied

    @property
    def key_kind(self) -> KeyKind:
        """Which scheme signs (the Spot WS API's ``session.logon`` accepts Ed25519 keys only)."""
        if self.signer is None:
            return "hmac"
        # get_signer tries RSA first and returns an RFC 8032 EdDSA scheme for Ed25519 keys.
        return "ed25519" if isinstance(self.signer, EdDSASigScheme) else "rsa"

    def now_ms(self) -> int:
        """The venue's time as far as this client knows it."""
        return int(time.time() * 1000) + (self._offset_ms if self._offset_applied else 0)

    def sign(self, payload: str) -> str:
        """The signature of a query string (HMAC hex, or RSA/Ed25519 base64) for the WS API."""
        signature: str = get_signature(self.config, payload, self.signer)  # type: ignore[arg-type]
        return signature

    async def sync_time(self, *, unless_since: int | None = None) -> int:
        """Measure the clock offset against the server-time endpoint; returns it (ms).

        ``unless_since``: the sync generation seen before a request that failed with a clock
        error; when another sync finished since, that one already answered it (one sync per
        clock error, not one per concurrent request).
        """
        async with self._sync_lock:
            if unless_since is not None and unless_since != self._sync_generation:
                return self._offset_ms
            before = time.time()
            answer = await self.call(self._server_time)
            after = time.time()
            offset = _server_ms(answer) - int((before + after) * 500)
            self._offset_ms = offset
            self._offset_applied = abs(offset) >= OFFSET_APPLY_MS
            self._sync_generation += 1
            self.log.info(
                "%s clock offset %d ms (%s)",
                self.product,
                offset,
                "applied" if self._offset_applied else "ignored",
            )
            return offset

    # -- calls -------------------------------------------------------------------------------

    def _keep_error_answer(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        """Response hook (worker thread): remember the JSON body of an error answer."""
        if response.status_code < 400:
            return
        self._answers.status = response.status_code
        try:
            body = response.json()  # read once; requests caches the content for the SDK
        except ValueError:
            return
        if isinstance(body, dict):
            self._answers.body = body

    async def run(self, fn: Callable[[], T]) -> T:
        """Run a blocking SDK call in the pool; SDK failures come out as ExchangeErrors, with
        the venue's error body (if any) as ``answer``."""
        if self._closed:
            raise RuntimeError(f"the {self.label} adapter is closed")

        def guarded() -> T:
            self._answers.status = self._answers.body = None
            try:
                return fn()
            except SdkError as exc:
                # The hook ran in this thread: carry what it kept to the event loop.
                setattr(exc, _ANSWER_ATTR, (self._answers.status, self._answers.body))
                raise

        loop = asyncio.get_running_loop()
        try:
            return await asyncio.wait_for(
                loop.run_in_executor(self._executor, guarded), self._deadline_s
            )
        except _BOUNDARY_ERRORS as exc:
            err = self._translate(exc)
            status, body = getattr(exc, _ANSWER_ATTR, (None, None))
        if err.http_status is None and status is not None:
            code = body.get("code") if body is not None else None
            err = error_for(
                Product(self.product),
                err.msg,
                code=code if isinstance(code, int) and not isinstance(code, bool) else None,
                http_status=status,
            )
        if body is not None:
            err.answer = _redacted(body, self.redact)
        # Raised here, not in the except block: see the module doc (no unredacted __context__).
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
            if err.code in self.clock_codes:
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
