"""The error boundary of every adapter: SDK and transport exceptions → :mod:`.errors`, redacted.

Everything the official SDK (``binance_common.utils.send_request``) can raise, and what the
exception carries (checked in ``binance-common`` 4.6.0):

=========================  =========  ======================  ================================
SDK exception              HTTP       ``status_code`` holds   exitguard
=========================  =========  ======================  ================================
``BadRequestError``        400        Binance ``code``        by code (table)
``UnauthorizedError``      401        Binance ``code``        by code (-2014/-2015 → Rejected)
``ForbiddenError``         403        Binance ``code``        Rejected (WAF)
``NotFoundError``          404        Binance ``code``        by code / Rejected
``TooManyRequestsError``   429        Binance ``code``        Transient, ``retry_after_s``
``RateLimitBanError``      418        Binance ``code``        Transient, ``retry_after_s``
``ServerError``            5xx        the HTTP status         UnknownOutcome (see below)
``ClientError``            other 4xx  nothing (msg only)      UnknownOutcome (408 is one)
``NetworkError``           none       nothing                 connect failed → Transient,
                                                              else UnknownOutcome
``RequiredError``          none       nothing (never sent)    Rejected
=========================  =========  ======================  ================================

``ServerError`` keeps only ``"Server error: <status>"``: the body (``-1007``, ``"Service
Unavailable."``) is dropped by the SDK, so a 503 that Binance would call a plain failure cannot be
told apart from the "execution status unknown" 503 and is treated as unknown (querying first is
never wrong; a blind resend could double an exit). ``ClientError`` carries neither status nor code.

Every message is redacted before it becomes an exception text: the SDK's ``NetworkError`` quotes
``requests``' text, which includes the request URL with its query string and ``signature``.
Errors are raised outside the ``except`` block (see :func:`translate`), so the unredacted SDK
exception is not kept as ``__context__`` either.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable

import requests
from binance_common.errors import (
    BadRequestError,
    ClientError,
    ForbiddenError,
    NetworkError,
    NotFoundError,
    RateLimitBanError,
    RequiredError,
    ServerError,
    TooManyRequestsError,
    UnauthorizedError,
)

from exitguard.domain.enums import Product

from .errors import ExchangeError, Rejected, Transient, UnknownOutcome, error_for

__all__ = ["REDACTED", "Redactor", "install_log_redaction", "is_not_found", "translate"]

REDACTED = "<redacted>"
_MAX_TEXT = 600  # an exception text is a summary, not a dump of a response page
# Credentials can look like anything; only values this long are replaced verbatim, so that a
# short secret (a test's "x") cannot blank out ordinary words of a message.
_MIN_SECRET_LEN = 6

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(signature=)[^&\s'\"]+", re.IGNORECASE), rf"\1{REDACTED}"),
    (re.compile(r"(listenKey=)[^&\s'\"]+", re.IGNORECASE), rf"\1{REDACTED}"),
    (
        re.compile(
            r"((?:X-MBX-APIKEY|apiKey|api_key|listenKey)['\"]?\s*[:=]\s*['\"]?)[^'\"&,\s}]+"
        ),
        rf"\1{REDACTED}",
    ),
    (re.compile(r"-----BEGIN [^-]+-----.*?-----END [^-]+-----", re.DOTALL), REDACTED),
)


class Redactor:
    """Removes credentials and listen keys from any text that may leave the adapter."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        self._secrets: set[str] = set()
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str | None) -> None:
        """Remember one more value to hide (an API key, a secret, a listen key)."""
        if secret and len(secret) >= _MIN_SECRET_LEN:
            self._secrets.add(secret)

    def __call__(self, text: object) -> str:
        out = str(text)
        # Longest first: a secret containing another must be replaced whole.
        for secret in sorted(self._secrets, key=len, reverse=True):
            if secret in out:
                out = out.replace(secret, REDACTED)
        for pattern, repl in _PATTERNS:
            out = pattern.sub(repl, out)
        if len(out) > _MAX_TEXT:
            out = out[:_MAX_TEXT] + "…"
        return out


class _RedactingFilter(logging.Filter):
    """Redacts ``signature=`` / ``listenKey=`` in records of a third-party logger."""

    def __init__(self) -> None:
        super().__init__("exitguard-redact")
        self._redact = Redactor()

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        clean = self._redact(text)
        if clean != text:
            record.msg, record.args = clean, None
        return True


# urllib3 logs every request line at DEBUG, signed query string included.
_URL_LOGGERS = ("urllib3.connectionpool",)


def install_log_redaction() -> None:
    """Make sure the HTTP libraries the SDK uses never log a signature (idempotent)."""
    for name in _URL_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, _RedactingFilter) for f in logger.filters):
            logger.addFilter(_RedactingFilter())


def _int_or_none(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            return None
    return None


# SDK exception class → the HTTP status it stands for (the SDK picks the class by status).
_HTTP_BY_CLASS: tuple[tuple[type[BaseException], int], ...] = (
    (BadRequestError, 400),
    (UnauthorizedError, 401),
    (ForbiddenError, 403),
    (NotFoundError, 404),
    (TooManyRequestsError, 429),
    (RateLimitBanError, 418),
)


def _connect_failed(exc: BaseException) -> bool:
    """True when ``requests`` failed before the request could have been sent: a connect timeout
    or a refused/unresolvable connection. Anything later (read timeout, reset) may have executed."""
    cause = exc.__cause__ if isinstance(exc, NetworkError) else exc
    if isinstance(cause, requests.exceptions.ConnectTimeout):
        return True
    if isinstance(cause, requests.exceptions.ConnectionError) and not isinstance(
        cause, requests.exceptions.ReadTimeout
    ):
        text = str(cause)
        return "NewConnectionError" in text or "NameResolutionError" in text
    return False


def translate(exc: BaseException, redact: Redactor) -> ExchangeError:
    """The exitguard error for an exception raised by an SDK call (or the call's transport).

    The caller must raise the result *outside* its ``except`` block (or ``from None`` at least):
    the SDK exception's own text is not redacted.
    """
    if isinstance(exc, ExchangeError):
        return exc
    for cls, http in _HTTP_BY_CLASS:
        if isinstance(exc, cls):
            code = _int_or_none(getattr(exc, "status_code", None))
            msg = redact(getattr(exc, "error_message", "") or type(exc).__name__)
            err = error_for(Product.USDM, msg, code=code, http_status=http)
            retry_after = getattr(exc, "retry_after", None)
            if isinstance(err, Transient) and isinstance(retry_after, int | float):
                err.retry_after_s = float(retry_after)
            return err
    if isinstance(exc, ServerError):
        status = _int_or_none(exc.status_code)
        return error_for(Product.USDM, redact(exc.error_message), http_status=status)
    if isinstance(exc, ClientError):
        return error_for(Product.USDM, redact(exc.error_message))
    if isinstance(exc, RequiredError):
        # Raised by the SDK before anything is sent: nothing happened, resending is pointless.
        return Rejected(redact(exc.error_message))
    if isinstance(exc, NetworkError | requests.RequestException):
        text = getattr(exc, "error_message", None) or str(exc)
        if _connect_failed(exc):
            return Transient(redact(f"connection failed, request not sent: {text}"))
        return UnknownOutcome(redact(text))
    if isinstance(exc, TimeoutError):
        return UnknownOutcome("no answer within the adapter's deadline")
    if isinstance(exc, json.JSONDecodeError):
        # A body that is not JSON: the request may well have been applied.
        return UnknownOutcome(redact(f"unreadable response: {exc}"))
    return UnknownOutcome(redact(f"{type(exc).__name__}: {exc}"))


def is_not_found(err: ExchangeError) -> bool:
    """The venue says the order does not exist (USD-M ``-2013`` "Order does not exist.")."""
    if not isinstance(err, Rejected):
        return False
    return err.code == -2013 or "order does not exist" in err.msg.lower()
