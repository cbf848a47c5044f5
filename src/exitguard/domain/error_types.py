"""Error classes and the per-code record of the Binance error table (see :mod:`.error_codes`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

from exitguard.domain.enums import Product

__all__ = ["ErrorClass", "ErrorCode", "code_class"]


class ErrorClass(StrEnum):
    INVALID_LOCALLY = "invalid_locally"  # found by exitguard's own validation; never sent
    REJECTED = "rejected"  # the venue definitely refused it; never retried blindly
    UNKNOWN_OUTCOME = "unknown_outcome"  # may or may not have executed: query by client id first
    TRANSIENT = "transient"  # definitely not executed, retry after back-off / time resync


@dataclass(frozen=True, slots=True)
class ErrorCode:
    """One Binance error code as one product documents it.

    ``products`` is exactly the set of products whose table key points at this entry: a code that
    both products document with the same name and texts is one shared entry; a code whose meaning
    or text differs per product (spot ``-2021`` is a cancelReplace result, futures ``-2021`` is
    ORDER_WOULD_IMMEDIATELY_TRIGGER) is two entries.
    """

    code: int
    name: str
    message: str
    error_class: ErrorClass
    products: frozenset[Product]
    other_messages: tuple[str, ...] = ()
    documented: bool = True

    def __post_init__(self) -> None:
        if self.code >= 0:
            raise ValueError(f"Binance error codes are negative, got {self.code}")
        if not self.name or not self.message:
            raise ValueError(f"error code {self.code} needs a name and a message")
        if not self.products:
            raise ValueError(f"error code {self.code} belongs to no product")

    @property
    def placeholders(self) -> int:
        """How many ``%s`` placeholders ``message`` has."""
        return self.message.count("%s")


# --- classification by code -------------------------------------------------------------------

# -1000 UNKNOWN, -1006 UNEXPECTED_RESP ("Execution status unknown.") and -1007 TIMEOUT ("Send status
# unknown; execution status unknown.") say so themselves. -1001 DISCONNECTED ("Internal error;
# unable to process your request. Please try again.") is an internal error between the API
# gateway and the backend: neither errors page says the request did not reach the matching
# engine, so an order request answered with it is treated as possibly executed. (The USD-M
# general-info page calls a *503* with this text a failure that may be resent; querying first
# costs one request and is never wrong, a blind resend could double an exit, so exitguard stays
# conservative on both products.)
# Spot -2021 "Order cancel-replace partially failed." (HTTP 409) means one half of the
# cancel-replace DID take effect; which one is only in the response's ``data``. Code and status
# alone cannot say whether the old exit was cancelled, so it must be reconciled, not dropped.
_UNKNOWN_OUTCOME_CODES: Mapping[Product, frozenset[int]] = MappingProxyType(
    {
        Product.SPOT: frozenset({-1000, -1001, -1006, -1007, -2021}),
        Product.USDM: frozenset({-1000, -1001, -1006, -1007}),
    }
)

# -1003 TOO_MANY_REQUESTS, -1015 TOO_MANY_ORDERS: back off (Retry-After on spot).
# -1008: spot SERVER_BUSY / futures "Request Throttled" (general-info: "100% failure").
# -1021 INVALID_TIMESTAMP: resync the clock with GET /time, then retry.
# -4117 STOP_ORDER_TRIGGERING: the order is mid-trigger; act again once it settles.
# -5028 ME_RECVWINDOW_REJECT: futures' matching-engine recvWindow check, i.e. -1021 one hop later;
# exitguard's choice (not in the lead's list): resync and retry like -1021.
_TRANSIENT_CODES: Mapping[Product, frozenset[int]] = MappingProxyType(
    {
        Product.SPOT: frozenset({-1003, -1008, -1015, -1021}),
        Product.USDM: frozenset({-1003, -1008, -1015, -1021, -4117, -5028}),
    }
)


def code_class(product: Product, code: int) -> ErrorClass:
    if code in _UNKNOWN_OUTCOME_CODES[product]:
        return ErrorClass.UNKNOWN_OUTCOME
    if code in _TRANSIENT_CODES[product]:
        return ErrorClass.TRANSIENT
    return ErrorClass.REJECTED


# --- message tables -----------------------------------------------------------------------------

# Spot errors.md "Filter failures": every message is "Filter failure: <FILTER>" (sent with -1013).
