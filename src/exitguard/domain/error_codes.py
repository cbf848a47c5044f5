"""Binance error codes for Spot and USD-M Futures, and what exitguard does when it gets one.

Design rule: *errors decide behaviour*. Every venue error is reduced to one ``ErrorClass``:

* ``REJECTED``: the venue refused the request; nothing changed; never resend it unchanged.
* ``UNKNOWN_OUTCOME``: the request may or may not have taken effect; query by client id
  (``origClientOrderId`` / ``clientAlgoId``) before any resend.
* ``TRANSIENT``: definitely not executed; retry after back-off (honour ``Retry-After``) or, for
  ``-1021``/``-5028``, after resyncing the clock.
* ``INVALID_LOCALLY``: exitguard's own validation caught it; it was never sent. The venue never
  produces this class.

Sources (stored copies, see ``shared/reference/binance-api.md`` section 0):

* USD-M: ``developers.binance.com/docs/derivatives/usds-margined-futures/error-code`` (copy that
  already lists ``-1008`` "Request Throttled" and ``-4120 STOP_ORDER_SWITCH_ALGO``) and
  ``.../usds-margined-futures/general-info`` (HTTP return codes, the three-plus-one 503 variants);
  ``agutikov/binapi`` ``docs/api/md/developers.binance.com/docs/derivatives/usds-margined-futures/
  general-info.md``.
* Spot: ``binance/binance-spot-api-docs`` ``errors.md`` (2025-01-09 version) and the current
  rendered ``developers.binance.com/docs/binance-spot-api-docs/errors`` (adds ``-2035``, ``-2036``,
  ``-2039``); ``rest-api.md`` cancelReplace examples (``-2021`` with HTTP 409, ``-2022`` with 400).

Message texts are verbatim, except that Markdown backticks are dropped (the docs format parameter
names as code; what the API puts in ``msg`` is not shown). ``message`` is the first documented
text that has ``%s`` placeholders, else the first documented text; the rest are in
``other_messages``. Entries with ``documented=False`` are not on Binance's current error page;
the comment next to each says where the code comes from.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from exitguard.domain.enums import Product

from .error_table import (
    ENTRIES,
    SPOT_FILTER_FAILURE_NAMES,
    SPOT_MATCHING_ENGINE_MESSAGES,
    USDM_503_FAILURE_MESSAGES,
    USDM_503_UNKNOWN_MESSAGE,
)
from .error_types import ErrorClass, ErrorCode
from .error_types import code_class as _code_class

__all__ = [
    "ERROR_CODES",
    "SPOT_FILTER_FAILURE_NAMES",
    "SPOT_MATCHING_ENGINE_MESSAGES",
    "USDM_503_FAILURE_MESSAGES",
    "USDM_503_UNKNOWN_MESSAGE",
    "ErrorClass",
    "ErrorCode",
    "Product",
    "classify_venue_error",
    "filter_failure_message",
    "lookup",
    "message_for",
]


def _build_table(entries: tuple[ErrorCode, ...]) -> Mapping[tuple[Product, int], ErrorCode]:
    table: dict[tuple[Product, int], ErrorCode] = {}
    for entry in entries:
        for product in entry.products:
            key = (product, entry.code)
            if key in table:
                raise ValueError(f"duplicate error code entry {key}")
            table[key] = entry
    return MappingProxyType(table)


ERROR_CODES: Mapping[tuple[Product, int], ErrorCode] = _build_table(ENTRIES)


def lookup(product: Product, code: int) -> ErrorCode | None:
    """The table entry for ``code`` on ``product``, or ``None`` if exitguard does not list it."""
    return ERROR_CODES.get((product, code))


def classify_venue_error(
    product: Product, code: int | None, http_status: int | None, message: str = ""
) -> ErrorClass:
    """Decide what a venue error means for exitguard; checked in this order.

    1. HTTP 429 (rate limit) and 418 (IP auto-ban after 429s) -> TRANSIENT: back off, honouring
       ``Retry-After`` (spot rest-api.md "LIMITS"; USD-M general-info "HTTP Return Codes").
    2. HTTP 403 (WAF limit violated) -> REJECTED.
    3. HTTP 408 (USD-M: timeout waiting for the backend) -> UNKNOWN_OUTCOME.
    4. HTTP 5xx -> UNKNOWN_OUTCOME (spot: "the execution status is UNKNOWN and could have been a
       success"), except a USD-M 503 with code -1008 or with the message "Service Unavailable."
       or the -1008 throttling text, which general-info calls a failure -> TRANSIENT. Only the
       503 "Unknown error, please check your request or try again later." variant is unknown,
       but any other 5xx text is treated as unknown too.
    5. A code -> by code: -1000, -1001, -1006, -1007 (and spot -2021, a half-done
       cancel-replace) -> UNKNOWN_OUTCOME; -1003, -1008, -1015, -1021 (resync the clock first),
       futures -4117 STOP_ORDER_TRIGGERING and -5028 ME_RECVWINDOW_REJECT -> TRANSIENT; every
       other code, listed in ``ERROR_CODES`` or not -> REJECTED.
    6. No code and no status (connection reset or timeout after the request went out) ->
       UNKNOWN_OUTCOME; no code with spot HTTP 409 (cancelReplace partly succeeded) ->
       UNKNOWN_OUTCOME; no code with another 4xx -> REJECTED; anything else -> UNKNOWN_OUTCOME.

    Never returns INVALID_LOCALLY: that class is for errors exitguard finds before sending.
    """
    if http_status is not None:
        if http_status in (429, 418):
            return ErrorClass.TRANSIENT
        if http_status == 403:
            return ErrorClass.REJECTED
        if http_status == 408:
            return ErrorClass.UNKNOWN_OUTCOME
        if 500 <= http_status <= 599:
            if (
                product is Product.USDM
                and http_status == 503
                and (code == -1008 or message.strip() in USDM_503_FAILURE_MESSAGES)
            ):
                return ErrorClass.TRANSIENT
            return ErrorClass.UNKNOWN_OUTCOME
    if code is not None:
        return _code_class(product, code)
    if http_status is None:
        return ErrorClass.UNKNOWN_OUTCOME
    if product is Product.SPOT and http_status == 409:
        return ErrorClass.UNKNOWN_OUTCOME
    if 400 <= http_status <= 499:
        return ErrorClass.REJECTED
    return ErrorClass.UNKNOWN_OUTCOME


def message_for(product: Product, code: int, *args: str) -> str:
    """Binance's message for ``code`` on ``product`` with its ``%s`` placeholders filled in order.

    Raises ``KeyError`` for a code the table does not list and ``ValueError`` when the number of
    ``args`` differs from the number of placeholders (a message without any takes no args).
    """
    entry = ERROR_CODES.get((product, code))
    if entry is None:
        raise KeyError(f"no {product.value} error code {code} in ERROR_CODES")
    parts = entry.message.split("%s")
    if len(args) != len(parts) - 1:
        raise ValueError(
            f"{product.value} {code} {entry.name} takes {len(parts) - 1} argument(s), "
            f"got {len(args)}"
        )
    out = [parts[0]]
    for arg, part in zip(args, parts[1:], strict=True):
        out.append(arg)
        out.append(part)
    return "".join(out)


def filter_failure_message(filter_name: str) -> str:
    """The spot ``-1013`` message for a failed filter, e.g. ``"Filter failure: LOT_SIZE"``."""
    if filter_name not in SPOT_FILTER_FAILURE_NAMES:
        raise ValueError(f"{filter_name!r} is not a filter spot errors.md lists")
    return f"Filter failure: {filter_name}"
