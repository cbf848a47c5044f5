"""Contract tests: the USD-M adapter's private stream against the paper venue.

Raw payloads (``e`` intact) after a trigger, listen-key expiry and rotation, dropped sockets,
keep-alive (and its ``-1125``), bounded reconnects, ``close()``, and no secret in any transport
detail or log line. Real-time venue clock (the SDK signs with the wall clock); bounded waits.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from exitguard.adapters.port import TransportEvent, TransportKind, UserDataEvent
from exitguard.adapters.usdm import SdkUsdmReader, SdkUsdmTrader
from exitguard.domain import AlgoOrderRequest, AlgoOrderType, ClientAlgoId, Side
from exitguard.venue.clock import RealtimeClock
from exitguard.venue.server import Venue
from test_adapter_usdm_support import (
    RecordingProxy,
    StreamReader,
    assert_no_secrets,
    faults,
    is_algo,
    open_position,
    set_price,
    wait_until,
)

BTC = "BTCUSDT"
K = TransportKind


@pytest.fixture
async def venue() -> AsyncIterator[Venue]:
    async with Venue(clock=RealtimeClock(), feed=None) as v:
        yield v


@pytest.fixture
async def proxy(venue: Venue) -> AsyncIterator[RecordingProxy]:
    p = await RecordingProxy(venue.rest_url).start()
    yield p
    await p.stop()


def make_reader(venue: Venue, proxy: RecordingProxy, **kw: object) -> SdkUsdmReader:
    return SdkUsdmReader(
        rest_url=proxy.url,
        ws_streams_url=venue.ws_streams_url,
        api_key=venue.api_key,
        api_secret=venue.api_secret,
        reconnect_initial_s=0.02,
        reconnect_max_s=0.2,
        **kw,  # type: ignore[arg-type]
    )


@pytest.fixture
async def reader(venue: Venue, proxy: RecordingProxy) -> AsyncIterator[SdkUsdmReader]:
    r = make_reader(venue, proxy)
    yield r
    await r.close()


@pytest.fixture
async def trader(venue: Venue, proxy: RecordingProxy) -> AsyncIterator[SdkUsdmTrader]:
    t = SdkUsdmTrader(rest_url=proxy.url, api_key=venue.api_key, api_secret=venue.api_secret)
    yield t
    await t.close()


def stop(cid: str, trigger: str = "64000.0") -> AlgoOrderRequest:
    return AlgoOrderRequest(
        symbol=BTC,
        side=Side.SELL,
        type=AlgoOrderType.STOP_MARKET,
        trigger_price=Decimal(trigger),
        close_position=True,
        client_algo_id=ClientAlgoId(cid),
    )


def secrets_of(venue: Venue, keys: list[str]) -> list[str]:
    return [venue.api_key, venue.api_secret, *keys]


def details(stream: StreamReader) -> list[str]:
    return [i.detail for i in stream.items if isinstance(i, TransportEvent)]


async def test_algo_update_arrives_raw_after_a_trigger(
    venue: Venue, reader: SdkUsdmReader, trader: SdkUsdmTrader
) -> None:
    await open_position(venue, BTC, "BUY", "0.500")
    stream = StreamReader(reader.user_stream())
    assert (await stream.next()).kind is K.OPEN  # type: ignore[union-attr]
    placed = await trader.place_algo_order(stop("exg-sl-1"))
    await stream.until(is_algo("exg-sl-1", "NEW"))
    await set_price(venue, BTC, last="63990.0", mark="63995.0")
    finished = await stream.until(is_algo("exg-sl-1", "FINISHED"))
    assert isinstance(finished, UserDataEvent)
    payload = finished.payload
    assert payload["e"] == "ALGO_UPDATE" and {"E", "T", "o"} <= set(payload)
    o = payload["o"]
    assert o["aid"] == placed.algo_id and o["s"] == BTC and o["o"] == "STOP_MARKET"
    assert o["ai"] != "" and o["aq"] == "0.500"
    assert stream.algo_statuses("exg-sl-1") == ["NEW", "TRIGGERING", "TRIGGERED", "FINISHED"]
    if not stream.events("ACCOUNT_UPDATE"):  # the position change may come after FINISHED
        await stream.until(
            lambda i: isinstance(i, UserDataEvent) and i.payload["e"] == "ACCOUNT_UPDATE"
        )
    child = [e for e in stream.events("ORDER_TRADE_UPDATE") if e["o"]["i"] == int(o["ai"])]
    assert child and child[-1]["o"]["X"] == "FILLED"
    assert stream.kinds() == [K.OPEN]


async def test_listen_key_expiry_rotates_the_key(
    venue: Venue, proxy: RecordingProxy, reader: SdkUsdmReader, trader: SdkUsdmTrader
) -> None:
    await open_position(venue, BTC, "BUY", "0.500")
    stream = StreamReader(reader.user_stream())
    await stream.transport(K.OPEN)
    old_key = venue.account.listen_key
    assert old_key
    await faults(venue, expire_listen_key=True)
    expired = await stream.until(
        lambda i: isinstance(i, UserDataEvent) and i.payload.get("e") == "listenKeyExpired"
    )
    assert isinstance(expired, UserDataEvent)
    assert expired.payload["listenKey"] == "<redacted>" and "E" in expired.payload
    await stream.transport(K.RECONNECTED)
    new_key = venue.account.listen_key
    assert new_key and new_key != old_key
    assert stream.kinds() == [K.OPEN, K.RECONNECTING, K.RECONNECTED]
    assert len(proxy.calls("POST", "/fapi/v1/listenKey")) == 2
    # Events flow on the new key.
    await trader.place_algo_order(stop("exg-after-expiry"))
    await stream.until(is_algo("exg-after-expiry", "NEW"))
    assert_no_secrets(details(stream), secrets_of(venue, [old_key, new_key]))


async def test_dropped_socket_reconnects(
    venue: Venue, reader: SdkUsdmReader, trader: SdkUsdmTrader
) -> None:
    await open_position(venue, BTC, "BUY", "0.500")
    stream = StreamReader(reader.user_stream())
    await stream.transport(K.OPEN)
    key = venue.account.listen_key
    assert (await faults(venue, close_user_streams=True))["closed_streams"] == 1
    reconnecting = await stream.transport(K.RECONNECTING)
    assert "closed" in reconnecting.detail
    await stream.transport(K.RECONNECTED)
    assert venue.account.listen_key == key  # still valid: the same key, extended
    await trader.place_algo_order(stop("exg-after-drop"))
    await stream.until(is_algo("exg-after-drop", "NEW"))
    venue.context.hub.close_user_streams()  # and once more, straight through the hub
    await stream.transport(K.RECONNECTED)
    assert stream.kinds() == [K.OPEN, K.RECONNECTING, K.RECONNECTED, K.RECONNECTING, K.RECONNECTED]


async def test_keepalive_and_a_vanished_key(
    venue: Venue, proxy: RecordingProxy, trader: SdkUsdmTrader
) -> None:
    reader = make_reader(venue, proxy, keepalive_interval_s=0.05)
    try:
        stream = StreamReader(reader.user_stream())
        await stream.transport(K.OPEN)
        await wait_until(lambda: len(proxy.calls("PUT", "/fapi/v1/listenKey")) >= 2)
        old_key = venue.account.listen_key
        assert old_key
        # The key is closed behind the stream's back (another client, an operator): the next
        # keep-alive answers -1125 and the stream replaces the key.
        venue.exchange.listen_key_close(venue.account, {})
        reconnecting = await stream.transport(K.RECONNECTING)
        assert "-1125" in reconnecting.detail
        await stream.transport(K.RECONNECTED)
        new_key = venue.account.listen_key
        assert new_key and new_key != old_key
        await open_position(venue, BTC, "BUY", "0.500")
        await trader.place_algo_order(stop("exg-after-1125"))
        await stream.until(is_algo("exg-after-1125", "NEW"))
        assert_no_secrets(details(stream), secrets_of(venue, [old_key, new_key]))
    finally:
        await reader.close()


async def test_reconnects_are_bounded(venue: Venue, proxy: RecordingProxy) -> None:
    reader = SdkUsdmReader(
        rest_url=proxy.url,
        ws_streams_url="ws://127.0.0.1:9",  # nothing listens there
        api_key=venue.api_key,
        api_secret=venue.api_secret,
        reconnect_initial_s=0.01,
        reconnect_max_s=0.02,
        reconnect_attempts=3,
    )
    try:
        stream = StreamReader(reader.user_stream())
        closed = await stream.transport(K.CLOSED)
        assert "3 failed attempts" in closed.detail
        assert stream.kinds() == [K.EXCEPTION, K.EXCEPTION, K.EXCEPTION, K.CLOSED]
        with pytest.raises(StopAsyncIteration):
            await stream.next()
        assert_no_secrets(details(stream), secrets_of(venue, [venue.account.listen_key or ""]))
    finally:
        await reader.close()


async def test_close_ends_the_stream(venue: Venue, proxy: RecordingProxy) -> None:
    reader = make_reader(venue, proxy)
    stream = StreamReader(reader.user_stream())
    await stream.transport(K.OPEN)
    await wait_until(lambda: venue.context.hub.user_subscribers(venue.api_key) == 1)
    pending = asyncio.ensure_future(stream.next())
    await asyncio.sleep(0)
    await reader.close()
    closed = await asyncio.wait_for(pending, 5)
    assert isinstance(closed, TransportEvent) and closed.kind is K.CLOSED
    with pytest.raises(StopAsyncIteration):
        await stream.next()
    await wait_until(lambda: venue.context.hub.user_subscribers(venue.api_key) == 0)
    with pytest.raises(RuntimeError):
        reader.user_stream()


async def test_consumer_stopping_closes_the_socket(venue: Venue, reader: SdkUsdmReader) -> None:
    it = reader.user_stream()
    first = await asyncio.wait_for(it.__anext__(), 8)
    assert isinstance(first, TransportEvent) and first.kind is K.OPEN
    await wait_until(lambda: venue.context.hub.user_subscribers(venue.api_key) == 1)
    await it.aclose()  # type: ignore[attr-defined]
    await wait_until(lambda: venue.context.hub.user_subscribers(venue.api_key) == 0)


async def test_no_listen_key_in_logs(
    venue: Venue, reader: SdkUsdmReader, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    stream = StreamReader(reader.user_stream())
    await stream.transport(K.OPEN)
    key = venue.account.listen_key
    assert key
    await faults(venue, expire_listen_key=True)
    await stream.transport(K.RECONNECTED)
    keys = [key, venue.account.listen_key or ""]
    assert_no_secrets([r.getMessage() for r in caplog.records], secrets_of(venue, keys))
