"""HMAC-SHA256 request signatures as Binance computes them (pure; no I/O).

Binance (USD-M ``general-info``, Spot ``rest-api.md`` "SIGNED Endpoint Examples"): the signature is
the hex HMAC-SHA256 of ``totalParams`` (query string concatenated with the body) keyed with the
secret; hex is case-insensitive. The keyed state is built once per secret and copied per request.
"""

from __future__ import annotations

import hashlib
import hmac

__all__ = ["HmacSha256Signer"]


class HmacSha256Signer:
    """Signs and verifies payloads with one API secret; ``repr`` never shows the secret."""

    __slots__ = ("_keyed",)

    def __init__(self, secret: str | bytes) -> None:
        key = secret.encode() if isinstance(secret, str) else secret
        self._keyed = hmac.new(key, digestmod=hashlib.sha256)

    def sign(self, payload: str) -> str:
        """Lower-case hex HMAC-SHA256 of ``payload``."""
        mac = self._keyed.copy()
        mac.update(payload.encode())
        return mac.hexdigest()

    def verify(self, payload: str, signature: str) -> bool:
        """Constant-time check of a hex signature (either case)."""
        return hmac.compare_digest(self.sign(payload), signature.lower())

    def __repr__(self) -> str:
        return "HmacSha256Signer(<redacted>)"
