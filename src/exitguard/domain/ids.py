"""Client ids and exchange ids as distinct types, and the one client-id generator.

Rules followed:
- USD-M ``newClientOrderId`` / ``clientAlgoId``: ``^[\\.A-Z\\:/a-z0-9_-]{1,36}$`` (New-Order and
  New-Algo-Order pages), unique among open orders; error -4015.
- Spot ``newClientOrderId``: ``^[a-zA-Z0-9-_]{1,36}$`` (FIX docs; REST states no regex); a bad id is
  answered with -1100 ILLEGAL_CHARS.
Generated ids stay inside the intersection of both so one format works everywhere.

Seed 001: ids are opaque. They encode no product, symbol, role, side, step or generation; what an
id means is kept in the store, keyed by the id.
"""

from __future__ import annotations

import random
import re

from .enums import Product
from .violations import Violation

__all__ = [
    "APP_ID_PREFIX",
    "AlgoId",
    "ClientAlgoId",
    "ClientIdGenerator",
    "ClientOrderId",
    "OrderId",
    "check_client_id",
    "has_app_prefix",
]

APP_ID_PREFIX = "exg-"
_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_RANDOM_LEN = 22  # 62**22 ≈ 2**131: collisions are not a practical concern
_MAX_LEN = 36

FUTURES_CLIENT_ID_PATTERN = r"^[\.A-Z\:/a-z0-9_-]{1,36}$"
SPOT_CLIENT_ID_PATTERN = r"^[a-zA-Z0-9-_]{1,36}$"
_FUTURES_RE = re.compile(r"[.A-Z:/a-z0-9_-]{1,36}")
_SPOT_RE = re.compile(r"[a-zA-Z0-9_-]{1,36}")


class ClientOrderId(str):
    """``newClientOrderId`` of a regular (Spot or USD-M) order."""

    __slots__ = ()


class ClientAlgoId(str):
    """``clientAlgoId`` of a USD-M algo (conditional) order. Never a :class:`ClientOrderId`."""

    __slots__ = ()


class OrderId(int):
    """Exchange ``orderId`` (64-bit)."""

    __slots__ = ()


class AlgoId(int):
    """Exchange ``algoId`` (64-bit, e.g. 1000000033225453). Never an :class:`OrderId`."""

    __slots__ = ()


class ClientIdGenerator:
    """Makes opaque client ids: the app prefix plus 22 random base-62 characters (26 in all).

    Pass a seeded ``random.Random`` for reproducible ids in tests; by default ids come from
    :mod:`secrets`.
    """

    def __init__(self, prefix: str = APP_ID_PREFIX, rng: random.Random | None = None) -> None:
        if not _SPOT_RE.fullmatch(prefix) or len(prefix) + _RANDOM_LEN > _MAX_LEN:
            raise ValueError(
                f"prefix {prefix!r}: must match {SPOT_CLIENT_ID_PATTERN} and leave room for "
                f"{_RANDOM_LEN} random characters within {_MAX_LEN}"
            )
        self._prefix = prefix
        self._rng = rng

    def _text(self) -> str:
        if self._rng is None:
            import secrets  # here: hashlib and hmac stay out of a CLI start that makes no id

            tail = "".join(secrets.choice(_ALPHABET) for _ in range(_RANDOM_LEN))
        else:
            tail = "".join(self._rng.choices(_ALPHABET, k=_RANDOM_LEN))
        return self._prefix + tail

    def order_id(self) -> ClientOrderId:
        """A new ``newClientOrderId``."""
        return ClientOrderId(self._text())

    def algo_id(self) -> ClientAlgoId:
        """A new ``clientAlgoId``; the same rule as ``newClientOrderId`` (seed 001)."""
        return ClientAlgoId(self._text())


def has_app_prefix(client_id: str, prefix: str = APP_ID_PREFIX) -> bool:
    """Whether an id carries the app prefix. A hint only: ownership is decided by the store."""
    return client_id.startswith(prefix)


def check_client_id(value: str, product: Product, field: str) -> Violation | None:
    """The custom-id rule for ``product``; ``None`` when ``value`` satisfies it.

    USD-M answers a bad id with -4015 ("Client order id is not valid."), Spot with -1100
    ILLEGAL_CHARS naming the parameter and the legal range.
    """
    if product is Product.USDM:
        if _FUTURES_RE.fullmatch(value):
            return None
        return Violation(
            -4015,
            field,
            "CLIENT_ID.format",
            f"Client order id is not valid: {field} must match {FUTURES_CLIENT_ID_PATTERN} "
            f"(1-36 characters from letters, digits and . : / _ -); got {len(value)} characters.",
        )
    if _SPOT_RE.fullmatch(value):
        return None
    return Violation(
        -1100,
        field,
        "CLIENT_ID.format",
        f"Illegal characters found in parameter '{field}'; legal range is "
        f"'{SPOT_CLIENT_ID_PATTERN}' (got {len(value)} characters).",
    )
