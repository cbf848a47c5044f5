"""The venue's HTTP layer: auth, rate limits, error bodies, faults, control API and streams.

Servers bind 127.0.0.1 port 0 and stop at the end of each test; every wait is bounded.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp
import pytest
from Crypto.PublicKey import ECC
from Crypto.Signature import eddsa
from yarl import URL

from exitguard.venue.auth import (
    Security,
    authenticate,
    check_timestamp,
    signed_payload,
    verify_signature,
)
from exitguard.venue.clock import RealtimeClock, SteppedClock
from exitguard.venue.errors import VenueError
from exitguard.venue.http import parse_params
from exitguard.venue.ratelimit import RateLimitConfig, RateLimiter
from exitguard.venue.server import Venue, is_loopback
from exitguard.venue.streams import StreamHub, _Conn

TIMEOUT = aiohttp.ClientTimeout(total=10)
SECRET = "s3cr3t"
KEY = "k" * 64


# -- helpers -----------------------------------------------------------------------------------


@dataclass
class FakeAccount:
    api_key: str = KEY
    api_secret: str = SECRET
    ed25519_public_key_pem: str | None = None


def hmac_hex(secret: str, payload: str) -> str:
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


def auth(
    query: str,
    *,
    body: str = "",
    now: int,
    api_key: str | None = KEY,
    security: Security = Security.TRADE,
    account: FakeAccount | None = None,
) -> FakeAccount | None:
    acct = account or FakeAccount()
    return authenticate(
        security,
        api_key=api_key,
        params=parse_params(query, body),
        raw_query=query,
        raw_body=body,
        server_time_ms=now,
        lookup=lambda k: acct if k == acct.api_key else None,
    )


def signed(secret: str, pairs: Sequence[tuple[str, str]]) -> str:
    q = urlencode(list(pairs))
    return f"{q}&signature={hmac_hex(secret, q)}"


@asynccontextmanager
async def running(**kw: Any) -> AsyncIterator[tuple[Venue, aiohttp.ClientSession]]:
    kw.setdefault("clock", SteppedClock(time.time_ns() // 1_000_000))
    async with Venue(**kw) as v, aiohttp.ClientSession(timeout=TIMEOUT) as s:
        yield v, s


async def call(
    v: Venue,
    s: aiohttp.ClientSession,
    method: str,
    path: str,
    pairs: Sequence[tuple[str, str]] = (),
    *,
    sign: bool = True,
    body: Sequence[tuple[str, str]] | None = None,
    api_key: str | None = None,
) -> tuple[int, Any, dict[str, str]]:
    """One REST call; signed calls get ``timestamp`` from the venue clock."""
    headers = {"X-MBX-APIKEY": api_key or v.api_key}
    data = None
    if sign:
        pairs = [*pairs, ("timestamp", str(v.clock.now_ms()))]
        if body is not None:
            data = urlencode(list(body))
            q = urlencode(list(pairs))
            query = f"{q}&signature={hmac_hex(v.api_secret, q + data)}"
        else:
            query = signed(v.api_secret, pairs)
    else:
        query = urlencode(list(pairs))
        data = urlencode(list(body)) if body is not None else None
    # encoded=True: send the query exactly as built (yarl would otherwise re-quote it).
    url = URL(f"{v.rest_url}{path}" + (f"?{query}" if query else ""), encoded=True)
    hdrs = dict(headers)
    if data is not None:
        hdrs["Content-Type"] = "application/x-www-form-urlencoded"
    async with s.request(method, url, headers=hdrs, data=data) as r:
        text = await r.text()
        return r.status, json.loads(text) if text else None, dict(r.headers)


async def control(s: aiohttp.ClientSession, v: Venue, path: str, body: Any = None) -> Any:
    if body is None:
        async with s.get(f"{v.rest_url}/_venue/{path}") as r:
            assert r.status == 200, await r.text()
            return await r.json()
    async with s.post(f"{v.rest_url}/_venue/{path}", json=body) as r:
        assert r.status == 200, await r.text()
        return await r.json()


async def wait_until(pred: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


def is_binance_error(body: Any) -> bool:
    return (
        isinstance(body, dict)
        and set(body) == {"code", "msg"}
        and isinstance(body["code"], int)
        and body["code"] < 0
        and isinstance(body["msg"], str)
        and bool(body["msg"])
    )


# -- auth (pure) -------------------------------------------------------------------------------


def test_signed_payload_is_the_raw_query_without_signature_then_the_body() -> None:
    assert signed_payload("b=2&a=1&signature=ff&c=%2B3", "") == "b=2&a=1&c=%2B3"
    assert signed_payload("timestamp=5&signature=ab", "symbol=X&side=BUY") == (
        "timestamp=5symbol=X&side=BUY"
    )
    assert signed_payload("a=1", "b=2&signature=cd") == "a=1b=2"


def test_good_hmac_signature_accepted_in_either_case() -> None:
    now = 1_700_000_000_000
    q = f"symbol=BTCUSDT&side=BUY&timestamp={now}"
    sig = hmac_hex(SECRET, q)
    assert auth(f"{q}&signature={sig}", now=now) is not None
    assert auth(f"{q}&signature={sig.upper()}", now=now) is not None


def test_reordered_query_is_a_bad_signature() -> None:
    now = 1_700_000_000_000
    sig = hmac_hex(SECRET, f"symbol=BTCUSDT&side=BUY&timestamp={now}")
    with pytest.raises(VenueError) as e:
        auth(f"side=BUY&symbol=BTCUSDT&timestamp={now}&signature={sig}", now=now)
    assert e.value.code == -1022
    assert e.value.msg == "Signature for this request is not valid."


def test_body_params_are_signed_after_the_query() -> None:
    now = 1_700_000_000_000
    q, body = f"timestamp={now}", "symbol=BTCUSDT&side=SELL"
    good = hmac_hex(SECRET, q + body)
    assert auth(f"{q}&signature={good}", body=body, now=now) is not None
    with pytest.raises(VenueError) as e:
        auth(f"{q}&signature={hmac_hex(SECRET, q + '&' + body)}", body=body, now=now)
    assert e.value.code == -1022


def test_bad_signature_and_missing_signature() -> None:
    now = 1_700_000_000_000
    q = f"a=1&timestamp={now}"
    with pytest.raises(VenueError) as e:
        auth(f"{q}&signature={hmac_hex('other', q)}", now=now)
    assert (e.value.code, e.value.http_status) == (-1022, 400)
    with pytest.raises(VenueError) as e:
        auth(q, now=now)
    assert e.value.code == -1102 and "'signature'" in e.value.msg
    with pytest.raises(VenueError) as e:
        auth(f"{q}&signature=", now=now)
    assert e.value.code == -1102


def test_timestamp_window_both_directions() -> None:
    now = 1_700_000_000_000
    check_timestamp({"timestamp": str(now + 999)}, now)
    check_timestamp({"timestamp": str(now - 5000)}, now)
    for ts, rw in ((now + 1000, None), (now + 10_000, None), (now - 5001, None), (now - 61, "60")):
        params = {"timestamp": str(ts)} | ({"recvWindow": rw} if rw else {})
        with pytest.raises(VenueError) as e:
            check_timestamp(params, now)
        assert e.value.code == -1021, (ts, rw)
    check_timestamp({"timestamp": str(now - 59_000), "recvWindow": "60000"}, now)
    with pytest.raises(VenueError) as e:
        check_timestamp({"timestamp": str(now), "recvWindow": "60001"}, now)
    assert e.value.code == -1131
    for bad in ({}, {"timestamp": "abc"}, {"timestamp": "1.5"}, {"timestamp": ""}):
        with pytest.raises(VenueError) as e:
            check_timestamp(bad, now)
        assert e.value.code == -1102 and "'timestamp'" in e.value.msg
    with pytest.raises(VenueError) as e:
        check_timestamp({"timestamp": str(now), "recvWindow": "-5"}, now)
    assert e.value.code == -1102


def test_api_key_missing_or_unknown() -> None:
    now = 1_700_000_000_000
    q = f"timestamp={now}"
    for missing in (None, "", "bad key!"):
        with pytest.raises(VenueError) as e:
            auth(q, now=now, api_key=missing)
        assert (e.value.code, e.value.http_status) == (-2014, 401)
        assert e.value.msg == "API-key format invalid."
    with pytest.raises(VenueError) as e:
        auth(q, now=now, api_key="x" * 64)
    assert (e.value.code, e.value.http_status) == (-2015, 401)
    assert e.value.msg == "Invalid API-key, IP, or permissions for action."


def test_security_types() -> None:
    now = 1_700_000_000_000
    assert auth("", now=now, api_key=None, security=Security.NONE) is None
    # USER_STREAM: key only, no timestamp or signature.
    assert auth("", now=now, security=Security.USER_STREAM) is not None
    with pytest.raises(VenueError) as e:
        auth("", now=now, api_key=None, security=Security.USER_STREAM)
    assert e.value.code == -2014


def test_ed25519_signature() -> None:
    now = 1_700_000_000_000
    key = ECC.generate(curve="ed25519")
    acct = FakeAccount(ed25519_public_key_pem=key.public_key().export_key(format="PEM"))
    q = f"symbol=BTCUSDT&side=BUY&timestamp={now}"
    sig = base64.b64encode(eddsa.new(key, "rfc8032").sign(q.encode())).decode()
    assert auth(f"{q}&signature={quote(sig, safe='')}", now=now, account=acct) is acct
    other = ECC.generate(curve="ed25519")
    bad = base64.b64encode(eddsa.new(other, "rfc8032").sign(q.encode())).decode()
    with pytest.raises(VenueError) as e:
        auth(f"{q}&signature={quote(bad, safe='')}", now=now, account=acct)
    assert e.value.code == -1022
    # No Ed25519 key registered: an Ed25519 signature cannot verify.
    assert not verify_signature(FakeAccount(), q, sig)
    assert not verify_signature(acct, q, "not base64 !!")


# -- rate limits (pure) ------------------------------------------------------------------------


def test_weight_429_then_418_with_retry_after() -> None:
    t = [1_700_000_000_000 - 1_700_000_000_000 % 60_000 + 30_000]  # 30 s into a minute
    rl = RateLimiter(lambda: t[0], RateLimitConfig(request_weight_per_minute=10, ban_after_429s=2))
    for _ in range(10):
        rl.charge_weight("ip", 1)
    assert rl.weight_headers("ip") == {"X-MBX-USED-WEIGHT-1M": "10"}
    for _ in range(2):
        with pytest.raises(VenueError) as e:
            rl.charge_weight("ip", 1)
        assert (e.value.code, e.value.http_status) == (-1003, 429)
        assert e.value.headers["Retry-After"] == "30"
    with pytest.raises(VenueError) as e:
        rl.charge_weight("ip", 1)
    assert (e.value.code, e.value.http_status) == (-1003, 418)
    assert e.value.headers["Retry-After"] == "120"
    assert "banned until" in e.value.msg
    # Banned: every request is 418, even in a new minute, until the ban ends.
    t[0] += 60_000
    with pytest.raises(VenueError) as e:
        rl.check_ban("ip")
    assert e.value.http_status == 418 and e.value.headers["Retry-After"] == "60"
    rl.charge_weight("other-ip", 1)  # per IP
    t[0] += 60_000
    rl.check_ban("ip")
    rl.charge_weight("ip", 1)
    assert rl.weight_headers("ip") == {"X-MBX-USED-WEIGHT-1M": "1"}
    # The second ban doubles.
    for _ in range(9):
        rl.charge_weight("ip", 1)
    for _ in range(2):
        with pytest.raises(VenueError):
            rl.charge_weight("ip", 1)
    with pytest.raises(VenueError) as e:
        rl.charge_weight("ip", 1)
    assert e.value.http_status == 418 and e.value.headers["Retry-After"] == "240"


def test_ban_is_capped() -> None:
    t = [0]
    cfg = RateLimitConfig(request_weight_per_minute=1, ban_after_429s=0, ban_max_s=300)
    rl = RateLimiter(lambda: t[0], cfg)
    seen = []
    for _ in range(4):
        rl.charge_weight("ip", 1)
        with pytest.raises(VenueError) as e:
            rl.charge_weight("ip", 1)
        seen.append(int(e.value.headers["Retry-After"]))
        t[0] += 10**9
    assert seen == [120, 240, 300, 300]


def test_order_counts_per_account() -> None:
    t = [0]
    rl = RateLimiter(lambda: t[0], RateLimitConfig(orders_per_10s=3, orders_per_minute=5))
    for _ in range(3):
        rl.charge_orders("ip", "acct", 1)
    assert rl.order_headers("acct") == {"X-MBX-ORDER-COUNT-10S": "3", "X-MBX-ORDER-COUNT-1M": "3"}
    with pytest.raises(VenueError) as e:
        rl.charge_orders("ip", "acct", 1)
    assert (e.value.code, e.value.http_status) == (-1015, 429)
    assert e.value.headers["Retry-After"] == "10"
    rl.charge_orders("ip", "other", 1)
    t[0] += 10_000
    rl.charge_orders("ip", "acct", 1)
    with pytest.raises(VenueError) as e:
        rl.charge_orders("ip", "acct", 1)
    assert e.value.code == -1015 and e.value.headers["Retry-After"] == "50"


def test_parse_params_query_wins_and_duplicates_refused() -> None:
    assert parse_params("a=1&b=2", "b=3&c=4") == {"a": "1", "b": "2", "c": "4"}
    with pytest.raises(VenueError) as e:
        parse_params("a=1&a=2", "")
    assert e.value.code == -1101


def test_loopback_only() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("example.com")
    with pytest.raises(ValueError, match="loopback"):
        Venue(host="0.0.0.0")


# -- over HTTP ---------------------------------------------------------------------------------


async def test_public_endpoints_and_weight_header() -> None:
    async with running() as (v, s):
        status, body, headers = await call(v, s, "GET", "/fapi/v1/ping", sign=False)
        assert (status, body) == (200, {})
        assert headers["X-MBX-USED-WEIGHT-1M"] == "1"
        status, body, headers = await call(v, s, "GET", "/fapi/v1/time", sign=False)
        assert body == {"serverTime": v.clock.now_ms()}
        assert headers["X-MBX-USED-WEIGHT-1M"] == "2"
        status, body, headers = await call(
            v, s, "GET", "/fapi/v1/depth", [("symbol", "BTCUSDT")], sign=False
        )
        assert status == 200 and headers["X-MBX-USED-WEIGHT-1M"] == "4"
        status, body, _ = await call(v, s, "GET", "/fapi/v1/exchangeInfo", sign=False)
        assert {
            "rateLimitType": "REQUEST_WEIGHT",
            "interval": "MINUTE",
            "intervalNum": 1,
            "limit": 2400,
        } in body["rateLimits"]


async def test_signed_order_over_http_with_order_count_headers() -> None:
    async with running() as (v, s):
        pairs = [("symbol", "BTCUSDT"), ("side", "BUY"), ("type", "MARKET"), ("quantity", "0.01")]
        status, body, headers = await call(v, s, "POST", "/fapi/v1/order", pairs)
        assert status == 200, body
        assert body["status"] == "FILLED"
        assert headers["X-MBX-ORDER-COUNT-10S"] == "1"
        assert headers["X-MBX-ORDER-COUNT-1M"] == "1"
        # Same order, params in the form body: signed as query + body.
        status, body, headers = await call(v, s, "POST", "/fapi/v1/order", [], body=pairs)
        assert status == 200, body
        assert headers["X-MBX-ORDER-COUNT-1M"] == "2"


async def test_percent_encoded_values_are_verified_raw() -> None:
    async with running() as (v, s):
        # A client id with characters that urlencode escapes: the raw query is what was signed.
        pairs = [
            ("algoType", "CONDITIONAL"),
            ("symbol", "BTCUSDT"),
            ("side", "SELL"),
            ("type", "STOP_MARKET"),
            ("quantity", "0.01"),
            ("triggerPrice", "60000"),
            ("clientAlgoId", "a:b/c.d_e-f"),
        ]
        status, body, _ = await call(v, s, "POST", "/fapi/v1/algoOrder", pairs)
        assert status == 200, body
        assert body["clientAlgoId"] == "a:b/c.d_e-f"


async def test_timestamp_checked_on_the_venue_clock() -> None:
    async with running() as (v, s):
        ts = v.clock.now_ms()
        query = signed(v.api_secret, [("timestamp", str(ts))])
        headers = {"X-MBX-APIKEY": v.api_key}
        url = f"{v.rest_url}/fapi/v2/balance?{query}"
        async with s.get(url, headers=headers) as r:
            assert r.status == 200
        await control(s, v, "clock/advance", {"ms": 5001})
        async with s.get(url, headers=headers) as r:
            assert r.status == 400
            assert (await r.json())["code"] == -1021
        ahead = signed(v.api_secret, [("timestamp", str(v.clock.now_ms() + 1000))])
        async with s.get(f"{v.rest_url}/fapi/v2/balance?{ahead}", headers=headers) as r:
            assert (await r.json())["code"] == -1021


async def test_auth_errors_over_http() -> None:
    async with running() as (v, s):
        status, body, _ = await call(v, s, "GET", "/fapi/v2/balance", api_key="nobody" * 8)
        assert (status, body["code"]) == (401, -2015)
        async with s.get(f"{v.rest_url}/fapi/v2/balance?timestamp=1") as r:
            assert r.status == 401
            assert (await r.json()) == {"code": -2014, "msg": "API-key format invalid."}
        async with s.get(
            f"{v.rest_url}/fapi/v2/balance?timestamp={v.clock.now_ms()}&signature=00",
            headers={"X-MBX-APIKEY": v.api_key},
        ) as r:
            assert (r.status, (await r.json())["code"]) == (400, -1022)
        # Ed25519 key registered on the venue's account.
        key = ECC.generate(curve="ed25519")
        v.account.ed25519_public_key_pem = key.public_key().export_key(format="PEM")
        q = f"timestamp={v.clock.now_ms()}"
        sig = base64.b64encode(eddsa.new(key, "rfc8032").sign(q.encode())).decode()
        async with s.get(
            f"{v.rest_url}/fapi/v2/balance?{q}&signature={quote(sig, safe='')}",
            headers={"X-MBX-APIKEY": v.api_key},
        ) as r:
            assert r.status == 200, await r.text()


async def test_unknown_path_and_wrong_method_are_binance_shaped() -> None:
    async with running() as (v, s):
        async with s.get(f"{v.rest_url}/fapi/v1/nope") as r:
            assert r.status == 404
            assert r.content_type == "application/json"
            assert is_binance_error(await r.json())
        async with s.patch(f"{v.rest_url}/fapi/v1/order") as r:
            assert r.status == 405
            assert is_binance_error(await r.json())
        async with s.get(f"{v.rest_url}/") as r:
            assert r.status == 404 and is_binance_error(await r.json())


MALFORMED: list[tuple[str, str, list[tuple[str, str]]]] = [
    (
        "POST",
        "/fapi/v1/order",
        [("symbol", "BTCUSDT"), ("side", "BUY"), ("type", "MARKET"), ("quantity", "abc")],
    ),
    ("POST", "/fapi/v1/order", [("symbol", "BTCUSDT"), ("side", "UP"), ("type", "FOO")]),
    ("POST", "/fapi/v1/order", []),
    (
        "POST",
        "/fapi/v1/order",
        [("symbol", "NOPE"), ("side", "BUY"), ("type", "MARKET"), ("quantity", "1")],
    ),
    (
        "POST",
        "/fapi/v1/order",
        [
            ("symbol", "BTCUSDT"),
            ("side", "BUY"),
            ("type", "LIMIT"),
            ("quantity", "0.01"),
            ("price", "1e-05"),
            ("timeInForce", "GTC"),
        ],
    ),
    (
        "POST",
        "/fapi/v1/order",
        [("symbol", "BTCUSDT"), ("side", "BUY"), ("type", "MARKET"), ("quantity", "9" * 400)],
    ),
    (
        "POST",
        "/fapi/v1/order",
        [("symbol", "BTCUSDT"), ("side", "BUY"), ("type", "MARKET"), ("quantity", "NaN")],
    ),
    (
        "POST",
        "/fapi/v1/order",
        [("symbol", "BTCUSDT"), ("side", "BUY"), ("type", "MARKET"), ("quantity", "-1")],
    ),
    ("POST", "/fapi/v1/algoOrder", [("algoType", "X"), ("symbol", "BTCUSDT")]),
    (
        "POST",
        "/fapi/v1/algoOrder",
        [
            ("algoType", "CONDITIONAL"),
            ("symbol", "BTCUSDT"),
            ("side", "SELL"),
            ("type", "STOP_MARKET"),
            ("quantity", "0.01"),
            ("triggerPrice", "Infinity"),
        ],
    ),
    (
        "POST",
        "/fapi/v1/algoOrder",
        [
            ("algoType", "CONDITIONAL"),
            ("symbol", "BTCUSDT"),
            ("side", "SELL"),
            ("type", "TRAILING_STOP_MARKET"),
            ("quantity", "0.01"),
            ("callbackRate", "abc"),
        ],
    ),
    ("POST", "/fapi/v1/batchOrders", [("batchOrders", "not json")]),
    ("POST", "/fapi/v1/batchOrders", [("batchOrders", "[{}]")]),
    ("POST", "/fapi/v1/batchOrders", [("batchOrders", "[1, 2]")]),
    ("POST", "/fapi/v1/batchOrders", [("batchOrders", '{"a": 1}')]),
    ("POST", "/fapi/v1/batchOrders", [("batchOrders", "[" + "{}," * 10 + "{}]")]),
    ("GET", "/fapi/v1/order", [("symbol", "BTCUSDT"), ("orderId", "abc")]),
    ("GET", "/fapi/v1/order", [("symbol", "BTCUSDT")]),
    ("DELETE", "/fapi/v1/order", [("symbol", "BTCUSDT"), ("orderId", "99999999999999999999")]),
    ("GET", "/fapi/v1/algoOrder", []),
    ("GET", "/fapi/v1/algoOrder", [("algoId", "-1")]),
    ("DELETE", "/fapi/v1/algoOrder", [("algoId", "123")]),
    ("DELETE", "/fapi/v1/algoOrder", [("clientAlgoId", "x" * 500)]),
    ("GET", "/fapi/v1/openAlgoOrders", [("symbol", "NOPE")]),
    ("GET", "/fapi/v1/allAlgoOrders", []),
    ("GET", "/fapi/v1/allOrders", [("symbol", "NOPE")]),  # no symbol is served (2026-08-25)
    ("GET", "/fapi/v1/userTrades", [("symbol", "BTCUSDT"), ("limit", "abc")]),
    ("DELETE", "/fapi/v1/allOpenOrders", []),
    ("DELETE", "/fapi/v1/algoOpenOrders", []),
    ("POST", "/fapi/v1/leverage", [("symbol", "BTCUSDT"), ("leverage", "0")]),
    ("POST", "/fapi/v1/leverage", [("symbol", "BTCUSDT"), ("leverage", "abc")]),
    ("POST", "/fapi/v1/positionSide/dual", [("dualSidePosition", "maybe")]),
    ("GET", "/fapi/v2/positionRisk", [("symbol", "NOPE")]),
    ("GET", "/fapi/v2/balance", [("recvWindow", "abc")]),
]

MALFORMED_PUBLIC = [
    "/fapi/v1/depth?symbol=BTCUSDT&limit=abc",
    "/fapi/v1/depth?symbol=BTCUSDT&limit=99999999999999999999999",
    "/fapi/v1/depth",
    "/fapi/v1/premiumIndex?symbol=NOPE",
    "/fapi/v1/ticker/price?symbol=%ZZ",
    "/fapi/v1/ticker/bookTicker?symbol=BTC%E2%82%ACUSDT",
    "/fapi/v1/ticker/price?symbol=" + "A" * 5000,
    "/fapi/v1/ping?a=1&a=2",
]


async def test_malformed_input_gets_a_binance_body_never_a_500() -> None:
    async with running() as (v, s):
        unknown: list[str] = []
        for method, path, pairs in MALFORMED:
            status, body, _ = await call(v, s, method, path, pairs)
            if status == 200 and path == "/fapi/v1/batchOrders":
                # Binance answers a batch 200 with one result or error per order.
                assert isinstance(body, list) and all(is_binance_error(b) for b in body), body
                unknown.extend(f"{path} {pairs}: {b}" for b in body if b["code"] == -1000)
                continue
            assert 400 <= status < 500, (method, path, pairs, status, body)
            assert is_binance_error(body), (method, path, pairs, body)
            if body["code"] == -1000:
                unknown.append(f"{method} {path} {pairs}: {body}")
        for url in MALFORMED_PUBLIC:
            async with s.get(v.rest_url + url) as r:
                body = json.loads(await r.text())
                if r.status != 200:
                    assert 400 <= r.status < 500 and is_binance_error(body), (url, body)
                    if body["code"] == -1000:
                        unknown.append(f"GET {url}: {body}")
        # -1000 means the venue hit an unexpected exception (a venue bug, logged).
        assert not unknown, "\n".join(unknown)


async def test_rate_limit_429_then_418_over_http() -> None:
    limits = RateLimitConfig(request_weight_per_minute=3, ban_after_429s=2, ban_initial_s=120)
    async with running(limits=limits) as (v, s):
        statuses = []
        for _ in range(6):
            async with s.get(f"{v.rest_url}/fapi/v1/ping") as r:
                statuses.append(r.status)
                body = await r.json()
                if r.status in (418, 429):
                    assert body["code"] == -1003 and is_binance_error(body)
                    assert int(r.headers["Retry-After"]) >= 1
                    assert "X-MBX-USED-WEIGHT-1M" in r.headers
                    last_retry = int(r.headers["Retry-After"])
        assert statuses == [200, 200, 200, 429, 429, 418]
        assert last_retry == 120
        await control(s, v, "clock/advance", {"ms": 121_000})
        async with s.get(f"{v.rest_url}/fapi/v1/ping") as r:
            assert r.status == 200


async def test_order_rate_limit_over_http() -> None:
    limits = RateLimitConfig(orders_per_10s=2)
    async with running(limits=limits) as (v, s):
        pairs = [("symbol", "BTCUSDT"), ("side", "BUY"), ("type", "MARKET"), ("quantity", "0.01")]
        codes = [(await call(v, s, "POST", "/fapi/v1/order", pairs))[:2] for _ in range(3)]
        assert [c[0] for c in codes] == [200, 200, 429]
        assert codes[2][1]["code"] == -1015


# -- faults ------------------------------------------------------------------------------------


ALGO_STOP = [
    ("algoType", "CONDITIONAL"),
    ("symbol", "BTCUSDT"),
    ("side", "SELL"),
    ("type", "STOP_MARKET"),
    ("quantity", "0.01"),
    ("triggerPrice", "60000"),
]


async def test_lost_response_processes_the_order_but_answers_an_error() -> None:
    async with running() as (v, s):
        await control(
            s,
            v,
            "faults",
            {
                "lose_response": {
                    "path": "/fapi/v1/algoOrder",
                    "count": 1,
                    "status": 503,
                    "code": -1007,
                }
            },
        )
        status, body, _ = await call(
            v, s, "POST", "/fapi/v1/algoOrder", [*ALGO_STOP, ("clientAlgoId", "lost-1")]
        )
        assert status == 503 and body["code"] == -1007 and is_binance_error(body)
        # It was processed: the order is open.
        status, body, _ = await call(
            v, s, "GET", "/fapi/v1/algoOrder", [("clientAlgoId", "lost-1")]
        )
        assert status == 200 and body["algoStatus"] == "NEW"
        # count exhausted: the next one answers normally.
        status, body, _ = await call(
            v, s, "POST", "/fapi/v1/algoOrder", [*ALGO_STOP, ("clientAlgoId", "lost-2")]
        )
        assert status == 200
        await control(
            s,
            v,
            "faults",
            {"lose_response": {"path": "/fapi/v1/algoOrder", "method": "DELETE", "status": 408}},
        )
        status, body, _ = await call(
            v, s, "DELETE", "/fapi/v1/algoOrder", [("clientAlgoId", "lost-2")]
        )
        assert status == 408 and body["code"] == -1007
        status, body, _ = await call(
            v, s, "GET", "/fapi/v1/algoOrder", [("clientAlgoId", "lost-2")]
        )
        assert body["algoStatus"] == "CANCELED"


async def test_latency_429_and_clock_skew_faults() -> None:
    async with running() as (v, s):
        await control(s, v, "faults", {"latency_ms": 150})
        t0 = time.monotonic()
        await call(v, s, "GET", "/fapi/v1/ping", sign=False)
        assert time.monotonic() - t0 >= 0.14
        await control(s, v, "faults", {"latency_ms": 0, "status_429": 2})
        got = [(await call(v, s, "GET", "/fapi/v1/ping", sign=False))[0] for _ in range(3)]
        assert got == [429, 429, 200]
        await control(s, v, "faults", {"clock_skew_ms": 10_000})
        _, body, _ = await call(v, s, "GET", "/fapi/v1/time", sign=False)
        assert body["serverTime"] == v.clock.now_ms() + 10_000
        status, body, _ = await call(v, s, "GET", "/fapi/v2/balance")
        assert (status, body["code"]) == (400, -1021)
        faults = await control(s, v, "faults", {"clear": True})
        assert faults["faults"]["clock_skew_ms"] == 0
        status, _, _ = await call(v, s, "GET", "/fapi/v2/balance")
        assert status == 200


async def test_bad_fault_and_control_input_is_a_400() -> None:
    async with running() as (v, s):
        bad_bodies: list[tuple[str, Any]] = [
            ("faults", {"latency_ms": -1}),
            ("faults", {"latency_ms": "10"}),
            ("faults", {"nope": 1}),
            ("faults", {"lose_response": {"count": 1}}),
            ("faults", {"lose_response": {"path": "/x", "status": 200}}),
            ("faults", [1, 2]),
            ("price", {"symbol": "BTCUSDT"}),
            ("price", {"symbol": "BTCUSDT", "last": "abc"}),
            ("price", {"symbol": "BTCUSDT", "last": -5}),
            ("price", {"symbol": "NOPE", "last": "1"}),
            ("position", {"api_key": "nobody"}),
            ("position", {"api_key": v.api_key, "symbol": "BTCUSDT", "side": "UP", "qty": "1"}),
            ("clock/advance", {"ms": -5}),
            ("clock/advance", {}),
        ]
        for path, body in bad_bodies:
            async with s.post(f"{v.rest_url}/_venue/{path}", json=body) as r:
                assert r.status == 400, (path, body, await r.text())
                assert "error" in await r.json()
        async with s.post(f"{v.rest_url}/_venue/price", data=b"{not json") as r:
            assert r.status == 400
    async with (
        running(clock=RealtimeClock()) as (v, s),
        s.post(f"{v.rest_url}/_venue/clock/advance", json={"ms": 5}) as r,
    ):
        assert r.status == 400 and "stepped" in (await r.json())["error"]


async def test_control_price_position_snapshot_reset() -> None:
    async with running() as (v, s):
        out = await control(s, v, "price", {"symbol": "BTCUSDT", "last": "65100.5", "mark": 65090})
        assert out == {"symbol": "BTCUSDT", "last": "65100.5", "mark": "65090"}
        out = await control(
            s,
            v,
            "position",
            {
                "api_key": v.api_key,
                "symbol": "BTCUSDT",
                "side": "BUY",
                "qty": "0.5",
                "price": "65000",
            },
        )
        assert out["order"]["symbol"] == "BTCUSDT"
        snap = await control(s, v, "snapshot")
        acct = next(a for a in snap["accounts"] if a["api_key"] == v.api_key)
        assert acct["positions"][0]["amount"] == "0.5"
        assert snap["prices"]["BTCUSDT"]["last"] == "65100.5"
        assert "faults" in snap
        await control(s, v, "reset", {})
        snap = await control(s, v, "snapshot")
        assert snap["prices"]["BTCUSDT"]["last"] == "65000.00"
        acct = next(a for a in snap["accounts"] if a["api_key"] == v.api_key)
        assert acct["positions"] == []
        # The venue's credentials still work after a reset.
        status, _, _ = await call(v, s, "GET", "/fapi/v2/balance")
        assert status == 200


# -- streams -----------------------------------------------------------------------------------


async def listen_key(v: Venue, s: aiohttp.ClientSession) -> str:
    status, body, _ = await call(v, s, "POST", "/fapi/v1/listenKey", sign=False)
    assert status == 200
    return str(body["listenKey"])


async def recv(ws: aiohttp.ClientWebSocketResponse, timeout: float = 5.0) -> Any:
    msg = await ws.receive(timeout=timeout)
    assert msg.type == aiohttp.WSMsgType.TEXT, msg
    return json.loads(msg.data)


async def test_user_data_raw_on_ws_listenkey_and_expiry_fault() -> None:
    async with running() as (v, s):
        key = await listen_key(v, s)
        async with s.ws_connect(f"{v.ws_streams_url}/ws/{key}") as ws:
            await wait_until(lambda: v.context.hub.user_subscribers(v.api_key) == 1)
            status, _, _ = await call(v, s, "POST", "/fapi/v1/algoOrder", ALGO_STOP)
            assert status == 200
            event = await recv(ws)
            assert event["e"] == "ALGO_UPDATE" and event["o"]["X"] == "NEW"
            out = await control(s, v, "faults", {"expire_listen_key": True})
            assert out["expired_listen_keys"] == 1
            event = await recv(ws)
            assert event["e"] == "listenKeyExpired" and event["listenKey"] == key
            status, body, _ = await call(v, s, "PUT", "/fapi/v1/listenKey", sign=False)
            assert (status, body["code"]) == (400, -1125)


async def test_user_data_wrapped_on_private_stream_with_subscribe_and_events_filter() -> None:
    async with running() as (v, s):
        key = await listen_key(v, s)
        async with (
            s.ws_connect(f"{v.ws_streams_url}/private/stream") as wrapped,
            s.ws_connect(
                f"{v.ws_streams_url}/private/ws?listenKey={key}&events=ORDER_TRADE_UPDATE"
            ) as filtered,
        ):
            await wrapped.send_json({"method": "SUBSCRIBE", "params": [key], "id": "abc-1"})
            assert await recv(wrapped) == {"result": None, "id": "abc-1"}
            await wrapped.send_json({"method": "LIST_SUBSCRIPTIONS", "id": 2})
            assert await recv(wrapped) == {"result": [key], "id": 2}
            await call(v, s, "POST", "/fapi/v1/algoOrder", ALGO_STOP)
            frame = await recv(wrapped)
            assert frame["stream"] == key and frame["data"]["e"] == "ALGO_UPDATE"
            pairs = [
                ("symbol", "BTCUSDT"),
                ("side", "BUY"),
                ("type", "MARKET"),
                ("quantity", "0.01"),
            ]
            await call(v, s, "POST", "/fapi/v1/order", pairs)
            first = await recv(filtered)  # the ALGO_UPDATE was filtered out
            assert first["e"] == "ORDER_TRADE_UPDATE"
            out = await control(s, v, "faults", {"close_user_streams": True})
            assert out["closed_streams"] == 2
            for ws in (wrapped, filtered):
                for _ in range(50):  # frames already queued may arrive before the close
                    msg = await ws.receive(timeout=5)
                    if msg.type is not aiohttp.WSMsgType.TEXT:
                        break
                assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)


async def test_market_streams_raw_combined_and_control_messages() -> None:
    async with (
        running() as (v, s),
        s.ws_connect(
            f"{v.ws_streams_url}/stream?streams=btcusdt@markPrice@1s/btcusdt@aggTrade"
        ) as combined,
        s.ws_connect(f"{v.ws_streams_url}/ws") as raw,
        s.ws_connect(f"{v.ws_streams_url}/public/stream") as public,
    ):
        await raw.send_json({"method": "SUBSCRIBE", "params": ["btcusdt@bookTicker"], "id": 1})
        assert await recv(raw) == {"result": None, "id": 1}
        await public.send_json({"method": "SUBSCRIBE", "params": ["btcusdt@bookTicker"], "id": 7})
        assert await recv(public) == {"result": None, "id": 7}
        await wait_until(lambda: v.context.hub.market_subscribers("btcusdt@markPrice@1s") == 1)
        await control(s, v, "price", {"symbol": "BTCUSDT", "last": "65010", "mark": "65005"})
        frames = [await recv(combined), await recv(combined)]
        by_stream = {f["stream"]: f["data"] for f in frames}
        assert by_stream["btcusdt@markPrice@1s"]["p"] == "65005"
        assert by_stream["btcusdt@aggTrade"]["p"] == "65010"
        book = await recv(raw)
        assert book["e"] == "bookTicker" and book["s"] == "BTCUSDT"
        wrapped = await recv(public)
        assert wrapped["stream"] == "btcusdt@bookTicker"
        await raw.send_json({"method": "UNSUBSCRIBE", "params": ["btcusdt@bookTicker"], "id": 2})
        assert await recv(raw) == {"result": None, "id": 2}
        await raw.send_json({"method": "LIST_SUBSCRIPTIONS", "id": 3})
        assert await recv(raw) == {"result": [], "id": 3}
        await raw.send_str("{nope")
        assert (await recv(raw))["error"]["code"] == 3
        await raw.send_json({"method": "FLY", "id": 4})
        assert (await recv(raw))["error"]["code"] == 2
        await raw.send_json({"method": "SET_PROPERTY", "params": ["combined", True], "id": 5})
        assert await recv(raw) == {"result": None, "id": 5}
        await raw.send_json({"method": "GET_PROPERTY", "params": ["combined"], "id": 6})
        assert await recv(raw) == {"result": True, "id": 6}
        await raw.ping()


async def test_slow_consumer_is_dropped() -> None:
    closed: list[int] = []

    class FakeWs:
        async def close(self, code: int = 1000, message: bytes = b"") -> bool:
            closed.append(code)
            return True

    conn = _Conn(FakeWs(), combined=False, user_only=False, queue_size=2)  # type: ignore[arg-type]
    conn.offer("a")
    conn.offer("b")
    assert not conn.closed
    conn.offer("c")
    assert conn.closed
    await asyncio.sleep(0)
    assert closed == [1008]
    conn.offer("d")  # ignored once closed
    assert conn.queue.qsize() == 2


async def test_stream_hub_stop_closes_connections() -> None:
    async with running() as (v, s):
        hub: StreamHub = v.context.hub
        ws = await s.ws_connect(f"{v.ws_streams_url}/ws/btcusdt@aggTrade")
        await wait_until(lambda: hub.connections == 1)
        await v.stop()
        msg = await ws.receive(timeout=5)
        assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        await ws.close()


# -- feed, clock and the command line ----------------------------------------------------------


async def test_stepped_clock_pulls_the_feed_when_advanced() -> None:
    from exitguard.venue.feeds import PriceStep, ScriptedFeed

    feed = ScriptedFeed(
        [
            PriceStep(0, "BTCUSDT", Decimal("65000"), None),
            PriceStep(1000, "BTCUSDT", Decimal("64500"), None),
            PriceStep(2000, "BTCUSDT", Decimal("63000"), None),
        ]
    )
    clock = SteppedClock(time.time_ns() // 1_000_000)
    async with running(clock=clock, feed=feed) as (v, s):
        status, body, _ = await call(
            v, s, "POST", "/fapi/v1/algoOrder", [*ALGO_STOP[:-1], ("triggerPrice", "64000")]
        )
        assert status == 200, body
        await control(s, v, "clock/advance", {"ms": 1000})
        assert v.exchange.market("BTCUSDT").last == Decimal("64500")
        _, body, _ = await call(
            v, s, "GET", "/fapi/v1/algoOrder", [("algoId", str(body["algoId"]))]
        )
        assert body["algoStatus"] == "NEW"
        clock.advance(1000)  # from Python: the venue's background task notices
        await wait_until(lambda: v.exchange.market("BTCUSDT").last == Decimal("63000"))
        _, body, _ = await call(
            v, s, "GET", "/fapi/v1/algoOrder", [("algoId", str(body["algoId"]))]
        )
        assert body["algoStatus"] in ("TRIGGERED", "FINISHED")


async def test_cli_serve_prints_one_json_line_and_exits_0_on_sigterm(tmp_path: Any) -> None:
    import signal
    import sys

    script = (
        "import typer\n"
        "from exitguard.venue.cli import app as venue\n"
        "root = typer.Typer()\n"
        "@root.callback()\n"
        "def _root() -> None: ...\n"
        "root.add_typer(venue, name='venue')\n"
        "root()\n"
    )
    prices = tmp_path / "prices.csv"
    prices.write_text("t,last,mark\n0,65000,65000\n1000,65100,\n")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        script,
        "venue",
        "serve",
        "--port",
        "0",
        "--feed",
        "scripted",
        str(prices),
        "--clock",
        "accelerated",
        "5",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), timeout=20)
        info = json.loads(line)
        assert set(info) == {
            "rest_url",
            "ws_streams_url",
            "ws_api_url",
            "spot_ws_api_url",
            "spot_ws_streams_url",
            "api_key",
            "api_secret",
        }
        async with (
            aiohttp.ClientSession(timeout=TIMEOUT) as s,
            s.get(f"{info['rest_url']}/fapi/v1/ping") as r,
        ):
            assert r.status == 200
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), timeout=10) == 0
        assert await proc.stdout.read() == b""  # exactly one line
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
