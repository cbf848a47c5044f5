"""The adapters' small error hierarchy: every SDK or transport failure becomes one of these.

The class is decided by :func:`exitguard.domain.error_codes.classify_venue_error` (one table for
the whole app), so callers branch on the type, never on codes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from exitguard.domain.enums import Product
from exitguard.domain.error_codes import ErrorClass, classify_venue_error

__all__ = [
    "ExchangeError",
    "Rejected",
    "ReplaceHalfDone",
    "Transient",
    "UnknownOutcome",
    "error_for",
]


class ExchangeError(Exception):
    """A venue answer or a transport failure, already sanitised (no keys, no signatures)."""

    error_class: ErrorClass = ErrorClass.UNKNOWN_OUTCOME
    # The JSON body of the venue's error answer when it had one (``code``, ``msg`` and, for a
    # Spot cancel-replace, ``data`` with both halves' results); None for transport failures.
    answer: Mapping[str, Any] | None = None

    def __init__(
        self, msg: str, *, code: int | None = None, http_status: int | None = None
    ) -> None:
        super().__init__(msg if code is None else f"{code}: {msg}")
        self.code = code
        self.msg = msg
        self.http_status = http_status


class Rejected(ExchangeError):
    """The venue definitely refused the request; never retried blindly."""

    error_class = ErrorClass.REJECTED


class ReplaceHalfDone(Rejected):
    """A Spot cancel-replace cancelled the old order but the venue refused the new one: the old
    order is GONE (the position it protected may be bare). ``code``/``msg`` are the new order's
    refusal (e.g. ``-2010``), not the envelope's ``-2021``; ``answer`` holds the whole body."""


class UnknownOutcome(ExchangeError):
    """It may or may not have happened: resolve by querying the client id before anything else."""

    error_class = ErrorClass.UNKNOWN_OUTCOME


class Transient(ExchangeError):
    """Definitely not executed (rate limit, clock skew, overload): back off and retry."""

    error_class = ErrorClass.TRANSIENT
    retry_after_s: float | None = None


def error_for(
    product: Product, msg: str, *, code: int | None = None, http_status: int | None = None
) -> ExchangeError:
    """The exception class the shared table assigns to this code/status."""
    cls = classify_venue_error(product, code, http_status, msg)
    kind: type[ExchangeError] = {
        ErrorClass.REJECTED: Rejected,
        ErrorClass.TRANSIENT: Transient,
    }.get(cls, UnknownOutcome)
    return kind(msg, code=code, http_status=http_status)
