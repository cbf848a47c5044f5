"""Binance's 2026-01-15 signing rule: payloads are percent-encoded before they are signed.

Spot CHANGELOG (2026-01-15 notice): "percent-encode payloads before computing signatures. Requests
that do not follow this order will be rejected with -1022 INVALID_SIGNATURE"; ``rest-api.md``
"SIGNED Endpoint Examples" gives the non-ASCII example used here (key, payload and signature).
The venue verifies the encoded form only; the official SDK (``binance_common``) signs the encoded
form and keeps working. Servers bind 127.0.0.1 port 0."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

import aiohttp
from binance_common.utils import encoded_string

from exitguard.venue.auth import percent_encode_non_ascii, signed_payload, verify_signature
from exitguard.venue.clock import SteppedClock
from exitguard.venue.server import Venue

SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
FULLWIDTH = "１２３４５６"
REST = "&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559"
ENCODED = "symbol=%EF%BC%91%EF%BC%92%EF%BC%93%EF%BC%94%EF%BC%95%EF%BC%96" + REST
UNENCODED = f"symbol={FULLWIDTH}" + REST
DOC_SIGNATURE = "e1353ec6b14d888f1164ae9af8228a3dbd508bc82eb867db8ab6046442f33ef3"


class _Account:
    api_key = "k"
    api_secret = SECRET
    ed25519_public_key_pem = None


def _hmac(payload: str, secret: str = SECRET) -> str:
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


def test_documented_non_ascii_example_and_the_unencoded_form() -> None:
    assert _hmac(ENCODED) == DOC_SIGNATURE  # the documented vector, as a sanity check
    assert percent_encode_non_ascii(UNENCODED) == ENCODED
    # Sent encoded (what every HTTP client does) and signed encoded: accepted.
    assert verify_signature(_Account(), signed_payload(ENCODED + "&signature=x", ""), DOC_SIGNATURE)
    # Sent raw (UTF-8 in the query or a form body) and signed as sent: refused.
    raw_sig = _hmac(UNENCODED)
    assert raw_sig != DOC_SIGNATURE
    assert not verify_signature(_Account(), signed_payload(UNENCODED, ""), raw_sig)
    assert not verify_signature(_Account(), signed_payload("", UNENCODED), raw_sig)
    # ... but signing the encoded form of that raw payload is accepted.
    assert verify_signature(_Account(), signed_payload("", UNENCODED), DOC_SIGNATURE)
    # ASCII payloads, escapes included, are verified exactly as sent.
    assert signed_payload("a=%2B1&b=x:y", "") == "a=%2B1&b=x:y"


async def _post_order_body(v: Venue, s: aiohttp.ClientSession, body: str) -> dict[str, Any]:
    headers = {"X-MBX-APIKEY": v.api_key, "Content-Type": "application/x-www-form-urlencoded"}
    async with s.post(f"{v.rest_url}/api/v3/order", data=body.encode(), headers=headers) as r:
        doc: dict[str, Any] = json.loads(await r.text())
        return doc


async def test_venue_refuses_a_signature_over_the_unencoded_payload() -> None:
    clock = SteppedClock(time.time_ns() // 1_000_000)
    timeout = aiohttp.ClientTimeout(total=10)
    async with Venue(clock=clock, feed=None) as v, aiohttp.ClientSession(timeout=timeout) as s:
        raw = f"symbol={FULLWIDTH}&side=BUY&type=MARKET&quantity=1&timestamp={clock.now_ms()}"
        # Signed over the raw UTF-8 form it was sent in: -1022 (before 2026-01-15 this passed).
        doc = await _post_order_body(v, s, f"{raw}&signature={_hmac(raw, v.api_secret)}")
        assert doc["code"] == -1022, doc
        # Signed over the percent-encoded form: authentication passes, the symbol is unknown.
        sig = _hmac(percent_encode_non_ascii(raw), v.api_secret)
        doc = await _post_order_body(v, s, f"{raw}&signature={sig}")
        assert doc["code"] == -1121, doc
        # The official SDK's way (binance_common.utils.encoded_string, then sign): accepted too.
        params = {
            "symbol": FULLWIDTH,
            "side": "BUY",
            "type": "MARKET",
            "quantity": "1",
            "timestamp": clock.now_ms(),
        }
        query = encoded_string(params)
        doc = await _post_order_body(v, s, f"{query}&signature={_hmac(query, v.api_secret)}")
        assert doc["code"] == -1121, doc
