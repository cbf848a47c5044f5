"""HMAC-SHA256 request signatures as Binance computes them (pure; no I/O).

Binance (USD-M ``general-info``, Spot ``rest-api.md`` "SIGNED Endpoint Examples"): the signature is
the hex HMAC-SHA256 of ``totalParams`` (query string concatenated with the body) keyed with the
secret; hex is case-insensitive. HMAC is RFC 2104: ``H(K ^ opad || H(K ^ ipad || message))``.
"""

from __future__ import annotations

import hashlib
import hmac

__all__ = ["HmacSha256Signer"]

_BLOCK = 64  # SHA-256 block size in bytes


class HmacSha256Signer:
    """Signs and verifies payloads with one API secret; ``repr`` never shows the secret."""

    __slots__ = ("_inner", "_outer")

    def __init__(self, secret: str | bytes) -> None:
        key = secret.encode() if isinstance(secret, str) else secret
        if len(key) > _BLOCK:
            key = hashlib.sha256(key).digest()
        key = key.ljust(_BLOCK, b"\0")
        # Both padded-key blocks are hashed once here and the two states copied per request:
        # two hashlib copies cost less than hmac.HMAC.copy(), whose wrapper runs in Python.
        self._inner = hashlib.sha256(bytes(k ^ 0x36 for k in key))
        self._outer = hashlib.sha256(bytes(k ^ 0x5C for k in key))

    def sign(self, payload: str) -> str:
        """Lower-case hex HMAC-SHA256 of ``payload`` (UTF-8), per RFC 2104."""
        inner = self._inner.copy()
        inner.update(payload.encode())
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.hexdigest()

    def verify(self, payload: str, signature: str) -> bool:
        """Constant-time check of a hex signature (either case)."""
        return hmac.compare_digest(self.sign(payload), signature.lower())

    def __repr__(self) -> str:
        return "HmacSha256Signer(<redacted>)"
