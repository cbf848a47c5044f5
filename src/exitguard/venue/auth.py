"""Request authentication as Binance USD-M does it (pure functions; no HTTP here).

Security types (USD-M ``general-info``, "Endpoint Security Type"):

- ``NONE``: public, no key needed (a key sent anyway is ignored).
- ``USER_STREAM``, ``MARKET_DATA``: the ``X-MBX-APIKEY`` header only.
- ``TRADE``, ``USER_DATA``: SIGNED — the key header plus ``timestamp`` and ``signature``.

Checks, in this order (the first failure answers):

1. key header missing or empty, or not ``[A-Za-z0-9]{1,128}`` → ``-2014`` "API-key format
   invalid." (HTTP 401); a well-formed key no account holds → ``-2015`` "Invalid API-key, IP, or
   permissions for action." (HTTP 401).
2. SIGNED only: ``signature`` missing/empty → ``-1102``; ``timestamp`` missing or not an integer →
   ``-1102``; ``recvWindow`` not an integer or ``<= 0`` → ``-1102``, ``> 60000`` → ``-1131``.
3. ``timestamp < serverTime + 1000`` and ``serverTime - timestamp <= recvWindow`` (recvWindow
   default 5000), else ``-1021``. ``serverTime`` is the *venue* clock, so a stepped clock works.
4. the signature over the **percent-encoded** payload: the query string exactly as sent with
   the ``signature=`` pair removed (order and percent-encoding preserved) concatenated, with no
   separator, with the raw form body (its own ``signature=`` pair removed too), in which every
   character that is not ASCII is percent-encoded (UTF-8, upper-case hex). From 2026-01-15
   Binance verifies the encoded form only ("percent-encode payloads before computing
   signatures. Requests that do not follow this order will be rejected with -1022": Spot
   CHANGELOG 2026-01-15 notice, ``rest-api.md`` "SIGNED Endpoint Examples", the non-ASCII
   example). A client that sends raw UTF-8 and signs it as sent is refused. HMAC-SHA256 hex
   (case-insensitive) with the account's secret, or Ed25519 (base64; the value is URL-decoded
   first) against the account's registered ``ed25519_public_key_pem``. Mismatch → ``-1022``.

Binance ties one key to one scheme; the venue accepts either scheme the account holds (an HMAC
secret is always present; an Ed25519 public key when one was registered). A 64-hex-digit value is
checked as HMAC, anything else as Ed25519.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from enum import StrEnum
from functools import lru_cache
from typing import Protocol, TypeVar

from Crypto.PublicKey import ECC
from Crypto.Signature import eddsa

from exitguard.domain.signing import HmacSha256Signer

from .errors import VenueError

__all__ = [
    "DEFAULT_RECV_WINDOW_MS",
    "MAX_RECV_WINDOW_MS",
    "AuthAccount",
    "Security",
    "authenticate",
    "check_api_key",
    "check_timestamp",
    "percent_encode_non_ascii",
    "signed_payload",
    "verify_signature",
]

DEFAULT_RECV_WINDOW_MS = 5000
MAX_RECV_WINDOW_MS = 60_000
AHEAD_TOLERANCE_MS = 1000

_KEY_RE = re.compile(r"[A-Za-z0-9]{1,128}")
_HEX64_RE = re.compile(r"[0-9A-Fa-f]{64}")
_INT_RE = re.compile(r"[0-9]{1,19}")
_SPOT_RECV_WINDOW_RE = re.compile(r"[0-9]{1,19}(?:\.[0-9]{1,3})?")
_MICROSECONDS = 10**15  # a spot timestamp this large is in microseconds (16 digits)


class Security(StrEnum):
    NONE = "NONE"
    MARKET_DATA = "MARKET_DATA"
    USER_STREAM = "USER_STREAM"
    TRADE = "TRADE"
    USER_DATA = "USER_DATA"

    @property
    def needs_key(self) -> bool:
        return self is not Security.NONE

    @property
    def signed(self) -> bool:
        return self in (Security.TRADE, Security.USER_DATA)


class AuthAccount(Protocol):
    """What authentication reads from an account."""

    @property
    def api_key(self) -> str: ...
    @property
    def api_secret(self) -> str: ...
    @property
    def ed25519_public_key_pem(self) -> str | None: ...


A = TypeVar("A", bound=AuthAccount)


def _mandatory(name: str) -> VenueError:
    return VenueError(
        -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed."
    )


def check_api_key(api_key: str | None, lookup: Callable[[str], A | None]) -> A:
    """The account holding ``api_key`` or the Binance refusal (-2014 / -2015, HTTP 401)."""
    if not api_key or _KEY_RE.fullmatch(api_key) is None:
        raise VenueError(-2014, "API-key format invalid.", http_status=401)
    account = lookup(api_key)
    if account is None:
        raise VenueError(-2015, "Invalid API-key, IP, or permissions for action.", http_status=401)
    return account


def check_timestamp(params: Mapping[str, str], server_time_ms: int, *, spot: bool = False) -> None:
    """Binance's timing-security rule; raises -1102 (malformed), -1131 or -1021.

    ``spot``: the timestamp may be in microseconds and recvWindow may carry up to three decimals
    (Spot ``rest-api.md`` "Timing security"; reference section 4).
    """
    raw_ts = params.get("timestamp")
    if not raw_ts or _INT_RE.fullmatch(raw_ts) is None:
        raise _mandatory("timestamp")
    timestamp: Decimal = Decimal(int(raw_ts))
    if spot and timestamp >= _MICROSECONDS:
        timestamp /= 1000
    raw_rw = params.get("recvWindow")
    recv_window: Decimal = Decimal(DEFAULT_RECV_WINDOW_MS)
    if raw_rw is not None:
        pattern = _SPOT_RECV_WINDOW_RE if spot else _INT_RE
        if pattern.fullmatch(raw_rw) is None or Decimal(raw_rw) <= 0:
            raise _mandatory("recvWindow")
        recv_window = Decimal(raw_rw)
        if recv_window > MAX_RECV_WINDOW_MS:
            raise VenueError(-1131, "recvWindow must be less than 60000")
    if timestamp >= server_time_ms + AHEAD_TOLERANCE_MS:
        raise VenueError(-1021, "Timestamp for this request was 1000ms ahead of the server's time.")
    if server_time_ms - timestamp > recv_window:
        raise VenueError(-1021, "Timestamp for this request is outside of the recvWindow.")


def _strip_signature(raw: str) -> str:
    if "signature" not in raw:
        return raw
    return "&".join(pair for pair in raw.split("&") if pair.partition("=")[0] != "signature")


def percent_encode_non_ascii(text: str) -> str:
    """``text`` with every non-ASCII character percent-encoded as its UTF-8 bytes (``%EF%BC%91``);
    ASCII, including ``%XX`` escapes already present, is kept as sent."""
    if text.isascii():
        return text
    return "".join(
        ch if ch.isascii() else "".join(f"%{b:02X}" for b in ch.encode("utf-8", "replace"))
        for ch in text
    )


def signed_payload(raw_query: str, raw_body: str) -> str:
    """What the client must have signed: raw query minus ``signature=…``, then the raw body
    (no ``&``), percent-encoded (see the module docstring, check 4)."""
    return percent_encode_non_ascii(_strip_signature(raw_query) + _strip_signature(raw_body))


@lru_cache(maxsize=256)
def _hmac_signer(secret: str) -> HmacSha256Signer:
    return HmacSha256Signer(secret)


@lru_cache(maxsize=256)
def _ed25519_verifier(pem: str) -> eddsa.EdDSASigScheme | None:
    try:
        key = ECC.import_key(pem)
        if key.curve not in ("Ed25519", "ed25519"):
            return None
        return eddsa.new(key, "rfc8032")
    except (ValueError, TypeError, IndexError):
        return None


def verify_signature(account: AuthAccount, payload: str, signature: str) -> bool:
    """True when ``signature`` (already URL-decoded) signs ``payload`` for ``account``."""
    if _HEX64_RE.fullmatch(signature):
        return bool(account.api_secret) and _hmac_signer(account.api_secret).verify(
            payload, signature
        )
    pem = account.ed25519_public_key_pem
    if not pem:
        return False
    verifier = _ed25519_verifier(pem)
    if verifier is None:
        return False
    try:
        # A '+' that was not percent-encoded arrives as a space after form decoding.
        raw = base64.b64decode(signature.replace(" ", "+"), validate=True)
    except (binascii.Error, ValueError):
        return False
    if len(raw) != 64:
        return False
    try:
        verifier.verify(payload.encode(), raw)
    except ValueError:
        return False
    return True


def authenticate(
    security: Security,
    *,
    api_key: str | None,
    params: Mapping[str, str],
    raw_query: str,
    raw_body: str,
    server_time_ms: int,
    lookup: Callable[[str], A | None],
    spot: bool = False,
) -> A | None:
    """The authenticated account (``None`` for ``NONE`` endpoints) or a :class:`VenueError`.

    ``params`` is the merged, decoded parameter map (query wins); ``raw_query``/``raw_body`` are
    the bytes as sent (decoded as latin-1/utf-8 text, not percent-decoded).
    """
    if not security.needs_key:
        return None
    account = check_api_key(api_key, lookup)
    if not security.signed:
        return account
    signature = params.get("signature")
    if not signature:
        raise _mandatory("signature")
    check_timestamp(params, server_time_ms, spot=spot)
    if not verify_signature(account, signed_payload(raw_query, raw_body), signature):
        raise VenueError(-1022, "Signature for this request is not valid.")
    return account
