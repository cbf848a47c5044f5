"""The signer matches Binance's documented HMAC-SHA256 example and never shows the secret."""

import hashlib
import hmac

from hypothesis import given, settings
from hypothesis import strategies as st

from exitguard.domain.signing import HmacSha256Signer

# Binance Spot rest-api.md "SIGNED Endpoint Examples" (HMAC): key, payload and signature.
SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
PAYLOAD = (
    "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1"
    "&recvWindow=5000&timestamp=1499827319559"
)
SIGNATURE = "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"


def test_matches_binance_documented_example():
    signer = HmacSha256Signer(SECRET)
    assert signer.sign(PAYLOAD) == SIGNATURE
    assert signer.sign(PAYLOAD) == SIGNATURE  # the keyed state is reused, not consumed
    assert signer.verify(PAYLOAD, SIGNATURE.upper())
    assert not signer.verify(PAYLOAD + "&x=1", SIGNATURE)


def test_secret_never_in_repr():
    assert SECRET not in repr(HmacSha256Signer(SECRET))
    assert "redacted" in repr(HmacSha256Signer(SECRET))


@settings(max_examples=300, deadline=None)
@given(
    secret=st.one_of(st.text(max_size=150), st.binary(max_size=150)),
    payload=st.text(max_size=400),
)
def test_same_as_the_standard_library_hmac(secret: str | bytes, payload: str) -> None:
    """The precomputed RFC 2104 pads give hmac.new's digest for any key length (shorter than,
    equal to or longer than the 64-byte block) and any UTF-8 payload."""
    key = secret.encode() if isinstance(secret, str) else secret
    want = hmac.new(key, payload.encode(), hashlib.sha256).hexdigest()
    signer = HmacSha256Signer(secret)
    assert signer.sign(payload) == want
    assert signer.sign(payload) == want
    assert signer.verify(payload, want.upper())


def test_block_size_edges() -> None:
    for n in (0, 1, 63, 64, 65, 128, 200):
        key = bytes(range(256))[:n]
        want = hmac.new(key, b"a=1&b=2", hashlib.sha256).hexdigest()
        assert HmacSha256Signer(key).sign("a=1&b=2") == want
