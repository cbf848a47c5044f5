"""The signer matches Binance's documented HMAC-SHA256 example and never shows the secret."""

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
