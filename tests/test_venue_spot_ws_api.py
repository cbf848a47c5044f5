"""The Spot WebSocket API (``/ws-api/v3``) over a raw aiohttp client: framing, rate limits,
signatures (HMAC and Ed25519), ``session.*``, user-data subscriptions and their termination.

Servers bind 127.0.0.1 port 0 on a stepped clock; every receive is bounded."""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import quote_plus

import aiohttp
from Crypto.PublicKey import ECC
from Crypto.Signature import eddsa

from exitguard.venue.clock import SteppedClock
from exitguard.venue.server import Venue
from exitguard.venue.ws_api import METHODS, _payloads

TIMEOUT = aiohttp.ClientTimeout(total=10)
SYMBOL = "BTCUSDT"
KEY = ECC.generate(curve="Ed25519")
PUBLIC_PEM = KEY.public_key().export_key(format="PEM")
_ids = itertools.count(1)


class Client:
    def __init__(self, v: Venue, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.v = v
        self.ws = ws
        self.events: list[dict[str, Any]] = []

    async def recv(self) -> dict[str, Any]:
        msg = await self.ws.receive(timeout=5)
        assert msg.type == aiohttp.WSMsgType.TEXT, msg
        out: dict[str, Any] = json.loads(msg.data)
        return out

    async def request(
        self, method: str, params: dict[str, Any] | None = None, req_id: Any = None
    ) -> dict[str, Any]:
        rid = next(_ids) if req_id is None else req_id
        await self.ws.send_json({"id": rid, "method": method, "params": params or {}})
        while True:
            frame = await self.recv()
            if "subscriptionId" in frame and "event" in frame:
                self.events.append(frame)
                continue
            assert frame["id"] == rid, frame
            return frame

    async def event(self) -> dict[str, Any]:
        if self.events:
            return self.events.pop(0)
        frame = await self.recv()
        assert "event" in frame, frame
        return frame

    def hmac_params(self, **params: Any) -> dict[str, Any]:
        params = {"apiKey": self.v.api_key, "timestamp": self.v.clock.now_ms(), **params}
        payload = "&".join(f"{k}={quote_plus(str(params[k]))}" for k in sorted(params))
        sig = hmac.new(self.v.api_secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
        return {**params, "signature": sig}

    def ed25519_params(self, **params: Any) -> dict[str, Any]:
        params = {"apiKey": self.v.api_key, "timestamp": self.v.clock.now_ms(), **params}
        payload = "&".join(f"{k}={params[k]}" for k in sorted(params))
        sig = eddsa.new(KEY, "rfc8032").sign(payload.encode())
        return {**params, "signature": base64.b64encode(sig).decode()}


@asynccontextmanager
async def connected(query: str = "") -> AsyncIterator[Client]:
    clock = SteppedClock(time.time_ns() // 1_000_000)
    async with (
        Venue(clock=clock, feed=None, ed25519_public_key_pem=PUBLIC_PEM) as v,
        aiohttp.ClientSession(timeout=TIMEOUT) as s,
        s.ws_connect(v.spot_ws_api_url + query) as ws,
    ):
        yield Client(v, ws)


STOP = {
    "symbol": SYMBOL,
    "side": "SELL",
    "type": "STOP_LOSS",
    "quantity": "0.1",
    "stopPrice": "60000",
}


async def test_framing_ids_status_and_rate_limits() -> None:
    async with connected() as c:
        out = await c.request("ping", req_id="uuid-1")
        assert out["id"] == "uuid-1" and out["status"] == 200 and out["result"] == {}
        assert out["rateLimits"] == [
            {
                "rateLimitType": "REQUEST_WEIGHT",
                "interval": "MINUTE",
                "intervalNum": 1,
                "limit": 6000,
                "count": 1,
            }
        ]
        out = await c.request("time", req_id=7)
        assert out["id"] == 7 and out["result"] == {"serverTime": c.v.clock.now_ms()}
        out = await c.request("time", {"returnRateLimits": False})
        assert "rateLimits" not in out
        out = await c.request("exchangeInfo", {"symbol": SYMBOL})
        assert out["rateLimits"][0]["count"] == 23  # ping 1, time 1, time 1, exchangeInfo 20
        out = await c.request("nope")
        assert out["status"] == 400 and out["error"]["code"] == -1000
        await c.ws.send_str("{not json")
        out = await c.recv()
        assert out["id"] is None and out["status"] == 400 and out["error"]["code"] == -1102


async def test_rate_limits_can_be_hidden_for_the_connection() -> None:
    async with connected("?returnRateLimits=false") as c:
        assert "rateLimits" not in await c.request("ping")
        assert "rateLimits" in await c.request("ping", {"returnRateLimits": True})


async def test_signed_order_methods_with_hmac() -> None:
    async with connected() as c:
        out = await c.request("order.place", c.hmac_params(**STOP))
        assert out["status"] == 200 and out["result"]["symbol"] == SYMBOL
        kinds = {(r["rateLimitType"], r["interval"]) for r in out["rateLimits"]}
        assert kinds == {("ORDERS", "SECOND"), ("ORDERS", "DAY"), ("REQUEST_WEIGHT", "MINUTE")}
        oid = out["result"]["orderId"]
        status = await c.request("order.status", c.hmac_params(symbol=SYMBOL, orderId=oid))
        assert status["result"]["status"] == "NEW" and status["result"]["type"] == "STOP_LOSS"
        bad = c.hmac_params(**STOP)
        bad["signature"] = "0" * 64
        assert (await c.request("order.place", bad))["error"]["code"] == -1022
        unsigned = {k: v for k, v in c.hmac_params(**STOP).items() if k != "signature"}
        assert (await c.request("order.place", unsigned))["error"]["code"] == -1102
        stale = c.hmac_params(**STOP, timestamp=c.v.clock.now_ms() - 60_000)
        assert (await c.request("order.place", stale))["error"]["code"] == -1021
        refused = await c.request("order.place", c.hmac_params(**{**STOP, "stopPrice": "66000"}))
        assert refused["status"] == 400
        assert refused["error"] == {"code": -2010, "msg": "Order would trigger immediately."}
        cancel = await c.request("order.cancel", c.hmac_params(symbol=SYMBOL, orderId=oid))
        assert cancel["result"]["status"] == "CANCELED"
        account = await c.request("account.status", c.hmac_params(omitZeroBalances="true"))
        assert {b["asset"] for b in account["result"]["balances"]} >= {"BTC", "USDT"}


async def test_session_logon_ed25519_then_unsigned_requests_and_user_data() -> None:
    async with connected() as c:
        assert (await c.request("userDataStream.subscribe"))["error"]["code"] == -1002
        hmac_logon = await c.request("session.logon", c.hmac_params())
        assert hmac_logon["error"] == {
            "code": -4056,
            "msg": "HMAC_SHA256 API key is not supported.",
        }
        logon = await c.request("session.logon", c.ed25519_params())
        assert (
            logon["result"]["apiKey"] == c.v.api_key and logon["result"]["userDataStream"] is False
        )
        sub = await c.request("userDataStream.subscribe")
        assert sub["result"] == {"subscriptionId": 0}
        again = await c.request("userDataStream.subscribe")
        assert again["error"]["code"] == -2035
        status = await c.request("session.status")
        assert status["result"]["userDataStream"] is True
        assert (await c.request("session.subscriptions"))["result"] == [{"subscriptionId": 0}]
        # Logged on: apiKey and signature may be left out, timestamp may not.
        placed = await c.request("order.place", {**STOP, "timestamp": c.v.clock.now_ms()})
        assert placed["status"] == 200
        assert (await c.request("order.place", STOP))["error"]["code"] == -1102
        report = await c.event()
        assert report["subscriptionId"] == 0 and report["event"]["e"] == "executionReport"
        assert report["event"]["i"] == placed["result"]["orderId"]
        position = await c.event()
        assert position["event"]["e"] == "outboundAccountPosition"
        out = await c.request("userDataStream.unsubscribe", {"subscriptionId": 0})
        assert out["result"] == {}
        ended = await c.event()
        assert ended["subscriptionId"] == 0 and ended["event"]["e"] == "eventStreamTerminated"
        gone = await c.request("userDataStream.unsubscribe", {"subscriptionId": 0})
        assert gone["error"]["code"] == -2036
        # A new subscription gets the next id; logout ends it.
        assert (await c.request("userDataStream.subscribe"))["result"] == {"subscriptionId": 1}
        out = await c.request("session.logout")
        assert out["result"]["apiKey"] is None
        ended = await c.event()
        assert ended == {
            "subscriptionId": 1,
            "event": {"e": "eventStreamTerminated", "E": c.v.clock.now_ms()},
        }


async def test_subscribe_signature_and_order_lists_over_the_ws_api() -> None:
    async with connected() as c:
        sub = await c.request("userDataStream.subscribe.signature", c.hmac_params())
        assert sub["result"] == {"subscriptionId": 0}
        oco = c.hmac_params(
            symbol=SYMBOL,
            side="SELL",
            quantity="0.1",
            aboveType="LIMIT_MAKER",
            abovePrice="66000",
            belowType="STOP_LOSS",
            belowStopPrice="64000",
        )
        out = await c.request("orderList.place.oco", oco)
        assert out["result"]["contingencyType"] == "OCO"
        assert [r["interval"] for r in out["rateLimits"] if r["rateLimitType"] == "ORDERS"] == [
            "SECOND",
            "DAY",
        ]
        assert out["rateLimits"][0]["count"] == 2  # an OCO counts 2 orders
        kinds = [(await c.event())["event"]["e"] for _ in range(4)]
        assert kinds == [
            "executionReport",
            "executionReport",
            "outboundAccountPosition",
            "listStatus",
        ]
        lists = await c.request("openOrderLists.status", c.hmac_params())
        assert len(lists["result"]) == 1
        cancel = await c.request(
            "orderList.cancel",
            c.hmac_params(symbol=SYMBOL, orderListId=out["result"]["orderListId"]),
        )
        assert cancel["result"]["listOrderStatus"] == "ALL_DONE"


async def test_venue_closing_subscriptions_sends_event_stream_terminated() -> None:
    async with connected() as c, aiohttp.ClientSession(timeout=TIMEOUT) as s:
        await c.request("userDataStream.subscribe.signature", c.hmac_params())
        async with s.post(f"{c.v.rest_url}/_venue/faults", json={"close_user_streams": True}) as r:
            assert (await r.json())["terminated_subscriptions"] == 1
        ended = await c.event()
        assert ended["event"]["e"] == "eventStreamTerminated"
        assert (await c.request("ping"))["status"] == 200  # the connection stays open
        await c.request("userDataStream.subscribe.signature", c.hmac_params())
        async with s.post(f"{c.v.rest_url}/_venue/faults", json={"status_429": 1}) as r:
            assert r.status == 200
        limited = await c.request("ping")
        assert limited["status"] == 429 and limited["error"]["code"] == -1003
        async with s.post(f"{c.v.rest_url}/_venue/reset", json={}) as r:
            assert r.status == 200
        assert (await c.event())["event"]["e"] == "eventStreamTerminated"


async def test_deprecated_listen_key_methods() -> None:
    async with connected() as c:
        out = await c.request("userDataStream.start", {"apiKey": c.v.api_key})
        key = out["result"]["listenKey"]
        ping = await c.request("userDataStream.ping", {"apiKey": c.v.api_key, "listenKey": key})
        assert ping["result"] == {}
        stop = await c.request("userDataStream.stop", {"apiKey": c.v.api_key, "listenKey": key})
        assert stop["result"] == {}


def test_signature_payload_forms() -> None:
    raw, encoded = _payloads({"b": "[1, 2]", "a": "x", "signature": "s"})
    assert raw == "a=x&b=[1, 2]"
    assert encoded == "a=x&b=%5B1%2C+2%5D"
    assert {"order.place", "orderList.place.otoco", "session.logon"} <= set(METHODS)
