"""Contract tests: the Spot user-data stream authenticated by ``session.logon`` (Ed25519).

End to end against the paper venue on 127.0.0.1 port 0 (real-time clock: the SDK signs with the
wall clock), with a WebSocket proxy in between that records every frame the adapter sends, per
connection, and can drop the connections. Checked: the logon payload is the one the official SDK
builds (``binance_common.utils.websocket_api_signature``), every connection logs on before it
subscribes (reconnects included), events flow, a refused logon is an EXCEPTION (bounded retries,
then CLOSED) with no key or signature in any detail or log record, and the ``stream_auth`` choice
is explicit (``logon`` with an HMAC or RSA key is refused at construction). Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import aiohttp
import pytest
from aiohttp import WSMsgType, web
from binance_common.configuration import ConfigurationWebSocketAPI
from binance_common.signature import Signers
from binance_common.utils import websocket_api_signature
from Crypto.PublicKey import ECC, RSA

from exitguard.adapters.port import TransportEvent, TransportKind
from exitguard.adapters.spot import SdkSpotReader, SdkSpotTrader, SpotStreamSettings
from exitguard.adapters.spot_stream import resolve_auth
from exitguard.domain import ClientOrderId, Side, TimeInForce
from exitguard.domain.enums import SpotOrderType
from exitguard.domain.requests import SpotOrderRequest
from exitguard.venue.clock import RealtimeClock
from exitguard.venue.server import Venue
from test_adapter_usdm_support import StreamReader, assert_no_secrets, faults, wait_until

D = Decimal
ETH = "ETHUSDT"  # venue start price 3000.00, default balance 10 ETH
K = TransportKind
KEY = ECC.generate(curve="Ed25519")
PRIVATE_PEM = KEY.export_key(format="PEM")
PUBLIC_PEM = KEY.public_key().export_key(format="PEM")
OTHER_PUBLIC_PEM = ECC.generate(curve="Ed25519").public_key().export_key(format="PEM")
RECV_WINDOW_MS = 5000


@dataclass
class WsProxy:
    """A WebSocket proxy for ``/ws-api/v3``: records the adapter's frames per connection and can
    drop every client connection (as a venue or a network would)."""

    target: str
    sent: list[list[dict[str, Any]]] = field(default_factory=list)  # per connection, in order
    url: str = ""
    _runner: web.AppRunner | None = None
    _clients: set[web.WebSocketResponse] = field(default_factory=set)

    async def start(self) -> WsProxy:
        app = web.Application()
        app.router.add_get("/ws-api/v3", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"ws://127.0.0.1:{port}/ws-api/v3"
        return self

    async def stop(self) -> None:
        await self.drop()
        if self._runner is not None:
            await self._runner.cleanup()

    async def drop(self) -> None:
        for client in list(self._clients):
            await client.close(code=aiohttp.WSCloseCode.GOING_AWAY)

    def methods(self) -> list[list[str]]:
        return [[frame["method"] for frame in conn] for conn in self.sent]

    def frames(self, method: str) -> list[dict[str, Any]]:
        return [frame for conn in self.sent for frame in conn if frame["method"] == method]

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        client = web.WebSocketResponse()
        await client.prepare(request)
        frames: list[dict[str, Any]] = []
        self.sent.append(frames)
        self._clients.add(client)
        try:
            async with (
                aiohttp.ClientSession() as session,
                session.ws_connect(self.target) as upstream,
            ):

                async def down() -> None:
                    async for msg in upstream:
                        if msg.type is WSMsgType.TEXT:
                            await client.send_str(msg.data)
                    await client.close()

                relay = asyncio.get_running_loop().create_task(down())
                try:
                    async for msg in client:
                        if msg.type is WSMsgType.TEXT:
                            frames.append(json.loads(msg.data))
                            await upstream.send_str(msg.data)
                finally:
                    relay.cancel()
                    await asyncio.gather(relay, return_exceptions=True)
        finally:
            self._clients.discard(client)
        return client


@pytest.fixture
async def venue() -> AsyncIterator[Venue]:
    async with Venue(clock=RealtimeClock(), feed=None, ed25519_public_key_pem=PUBLIC_PEM) as v:
        yield v


@pytest.fixture
async def proxy(venue: Venue) -> AsyncIterator[WsProxy]:
    p = await WsProxy(venue.spot_ws_api_url).start()
    yield p
    await p.stop()


@pytest.fixture
async def trader(venue: Venue) -> AsyncIterator[SdkSpotTrader]:
    t = SdkSpotTrader(rest_url=venue.rest_url, api_key=venue.api_key, private_key=PRIVATE_PEM)
    yield t
    await t.close()


def make_reader(venue: Venue, proxy: WsProxy, **kw: Any) -> SdkSpotReader:
    params: dict[str, Any] = {
        "rest_url": venue.rest_url,
        "ws_api_url": proxy.url,
        "api_key": venue.api_key,
        "private_key": PRIVATE_PEM,
        "recv_window_ms": RECV_WINDOW_MS,
        "reconnect_initial_s": 0.02,
        "reconnect_max_s": 0.2,
        **kw,
    }
    return SdkSpotReader(**params)


def stop_loss(cid: str) -> SpotOrderRequest:
    return SpotOrderRequest(
        symbol=ETH,
        side=Side.SELL,
        type=SpotOrderType.STOP_LOSS_LIMIT,
        time_in_force=TimeInForce.GTC,
        quantity=D("1.0000"),
        price=D("2890.00"),
        stop_price=D("2900.00"),
        new_client_order_id=ClientOrderId(cid),
    )


def report_of(cid: str, status: str) -> Any:
    def pred(item: object) -> bool:
        payload = getattr(item, "payload", None)
        return (
            isinstance(payload, dict)
            and payload.get("e") == "executionReport"
            and status in (payload.get("X"), payload.get("x"))
            and cid in (payload.get("c"), payload.get("C"))
        )

    return pred


# -- the choice of authentication ------------------------------------------------------------


def test_auto_picks_logon_for_ed25519_only() -> None:
    assert resolve_auth("auto", "ed25519") == "logon"
    assert resolve_auth("auto", "hmac") == "signature"
    assert resolve_auth("auto", "rsa") == "signature"
    assert resolve_auth("signature", "ed25519") == "signature"
    assert resolve_auth("logon", "ed25519") == "logon"
    with pytest.raises(ValueError, match="auth must be one of auto, signature, logon"):
        SpotStreamSettings(ws_api_url="ws://127.0.0.1:1", auth="listenKey")  # type: ignore[arg-type]


def test_logon_with_an_hmac_secret_is_refused_at_construction() -> None:
    with pytest.raises(ValueError) as info:
        SdkSpotReader(
            rest_url="http://127.0.0.1:1",
            ws_api_url="ws://127.0.0.1:1/ws-api/v3",
            api_key="k" * 64,
            api_secret="s" * 64,
            stream_auth="logon",
        )
    text = str(info.value)
    assert "stream_auth='logon'" in text and "Ed25519 keys only" in text and "HMAC" in text
    assert "s" * 64 not in text and "k" * 64 not in text


def test_logon_with_an_rsa_key_is_refused_at_construction() -> None:
    rsa_pem = RSA.generate(1024).export_key().decode()
    with pytest.raises(ValueError, match=r"stream_auth='logon'.*an RSA key"):
        SdkSpotReader(
            rest_url="http://127.0.0.1:1",
            ws_api_url="ws://127.0.0.1:1/ws-api/v3",
            api_key="k" * 64,
            private_key=rsa_pem,
            stream_auth="logon",
        )
    with pytest.raises(ValueError, match="stream_auth must be one of"):
        SdkSpotReader(
            rest_url="http://127.0.0.1:1",
            ws_api_url="ws://127.0.0.1:1/ws-api/v3",
            api_key="k" * 64,
            api_secret="s" * 64,
            stream_auth="session",  # type: ignore[arg-type]
        )


# -- end to end ------------------------------------------------------------------------------


async def test_logon_subscribes_and_logs_on_again_after_every_reconnect(
    venue: Venue, proxy: WsProxy, trader: SdkSpotTrader
) -> None:
    reader = make_reader(venue, proxy)  # stream_auth="auto" with an Ed25519 key: logon
    stream = StreamReader(reader.user_stream())
    try:
        opened = await stream.next()
        assert isinstance(opened, TransportEvent) and opened.kind is K.OPEN
        assert "session.logon" in opened.detail
        await trader.place_order(stop_loss("eg-logon-1"))
        new = await stream.until(report_of("eg-logon-1", "NEW"))
        payload = getattr(new, "payload", {})
        assert (payload["s"], payload["S"], payload["o"], payload["g"]) == (
            ETH,
            "SELL",
            "STOP_LOSS_LIMIT",
            -1,
        )

        # The venue drops the connection (the proxy passes the close on): a new connection
        # logs on again, then subscribes.
        ws_api = venue.context.ws_api
        assert ws_api is not None
        await ws_api.stop()
        await stream.transport(K.RECONNECTING)
        again = await stream.transport(K.RECONNECTED)
        assert "session.logon" in again.detail
        await trader.cancel_order(ETH, "eg-logon-1")
        await stream.until(report_of("eg-logon-1", "CANCELED"))

        # The venue ends the subscription (the connection and its logon stay up on the venue's
        # side): the stream starts over on a new connection, logon included.
        out = await faults(venue, close_user_streams=True)
        assert out["terminated_subscriptions"] == 1
        await stream.transport(K.RECONNECTING)
        await stream.transport(K.RECONNECTED)
        await trader.place_order(stop_loss("eg-logon-2"))
        await stream.until(report_of("eg-logon-2", "NEW"))
    finally:
        await reader.close()

    # Every connection: session.logon, then the parameterless subscribe; nothing else.
    assert proxy.methods() == [["session.logon", "userDataStream.subscribe"]] * 3
    assert all(f["params"] == {} for f in proxy.frames("userDataStream.subscribe"))
    assert stream.kinds().count(K.EXCEPTION) == 0
    await wait_until(lambda: ws_api.subscriptions() == 0)


async def test_logon_payload_is_the_sdks(venue: Venue, proxy: WsProxy) -> None:
    reader = make_reader(venue, proxy)
    stream = StreamReader(reader.user_stream())
    try:
        await stream.transport(K.OPEN)
    finally:
        await reader.close()
    (logon,) = proxy.frames("session.logon")
    params = logon["params"]
    assert list(params) == ["apiKey", "recvWindow", "timestamp", "signature"]
    assert params["apiKey"] == venue.api_key
    assert params["recvWindow"] == str(RECV_WINDOW_MS)  # the SDK sends it as a string
    assert isinstance(params["timestamp"], int)  # and the timestamp as a JSON integer
    # The SDK's own builder, given the same timestamp, produces the same parameters and (Ed25519
    # signatures are deterministic) the same signature.
    config = ConfigurationWebSocketAPI(
        api_key=venue.api_key, private_key=PRIVATE_PEM, stream_url=proxy.url
    )
    unsigned = {k: v for k, v in params.items() if k != "signature"}
    sdk = websocket_api_signature(config, unsigned, Signers.get_signer(PRIVATE_PEM))
    assert dict(sdk) == params and list(sdk) == list(params)


async def test_signature_setting_keeps_subscribe_signature_with_an_ed25519_key(
    venue: Venue, proxy: WsProxy, trader: SdkSpotTrader
) -> None:
    reader = make_reader(venue, proxy, stream_auth="signature")
    stream = StreamReader(reader.user_stream())
    try:
        opened = await stream.transport(K.OPEN)
        assert "subscribe.signature" in opened.detail
        await trader.place_order(stop_loss("eg-sig-1"))
        await stream.until(report_of("eg-sig-1", "NEW"))
    finally:
        await reader.close()
    assert proxy.methods() == [["userDataStream.subscribe.signature"]]


async def test_refused_logon_is_an_exception_event_and_leaks_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    # The venue holds another Ed25519 public key for this API key: every logon is refused.
    async with Venue(
        clock=RealtimeClock(), feed=None, ed25519_public_key_pem=OTHER_PUBLIC_PEM
    ) as v:
        p = await WsProxy(v.spot_ws_api_url).start()
        try:
            reader = make_reader(v, p, reconnect_attempts=2)
            stream = StreamReader(reader.user_stream())
            try:
                async with asyncio.timeout(10):
                    while not stream.items or stream.kinds()[-1:] != [K.CLOSED]:
                        await stream.next()
            finally:
                await reader.close()
        finally:
            await p.stop()
        assert v.context.ws_api is not None and v.context.ws_api.subscriptions() == 0

    assert stream.kinds() == [K.EXCEPTION, K.EXCEPTION, K.CLOSED]
    details = [i.detail for i in stream.items if isinstance(i, TransportEvent)]
    assert all("session.logon refused" in d and "-1022" in d for d in details[:2])
    assert "2 failed attempts" in details[2]
    # Each attempt logged on (and nothing was subscribed after a refusal).
    assert p.methods() == [["session.logon"], ["session.logon"]]
    signatures = [f["params"]["signature"] for f in p.frames("session.logon")]
    pem_body = "".join(PRIVATE_PEM.splitlines()[1:-1])
    secrets = [v.api_key, pem_body, *signatures]
    records = [r.getMessage() for r in caplog.records]
    records += [str(r.exc_info[1]) for r in caplog.records if r.exc_info and r.exc_info[1]]
    assert any("session.logon refused" in text for text in records)
    assert_no_secrets(details + records, secrets)
