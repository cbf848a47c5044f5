"""Contract tests: the USD-M adapter (official SDK underneath) against the paper venue.

REST side: hydration, placing/cancelling/querying algo and regular orders with the exact wire
parameters (seen by a recording proxy in front of the venue), and the error boundary (venue
refusals, lost answers, 429, timeouts, clock skew, secrets). The venue runs on a real-time clock:
the SDK stamps ``timestamp`` from the wall clock, and the venue checks it against its own clock.
Prices move only through the control API. Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import aiohttp
import pytest
from Crypto.PublicKey import ECC

from exitguard.adapters.errors import Rejected, Transient, UnknownOutcome
from exitguard.adapters.port import UsdmReader, UsdmTrader
from exitguard.adapters.usdm import SdkUsdmReader, SdkUsdmTrader
from exitguard.adapters.usdm_rest import UsdmRestSettings
from exitguard.domain import (
    AlgoOrderRequest,
    AlgoOrderType,
    ClientAlgoId,
    ClientOrderId,
    FuturesOrderRequest,
    FuturesOrderType,
    PositionMode,
    PositionSide,
    Side,
    TimeInForce,
)
from exitguard.venue.clock import RealtimeClock
from exitguard.venue.server import Venue
from test_adapter_usdm_support import (
    RecordingProxy,
    assert_no_secrets,
    control,
    exception_texts,
    faults,
    open_position,
    set_price,
    wait_until,
)

D = Decimal
BTC = "BTCUSDT"


@pytest.fixture
async def venue() -> AsyncIterator[Venue]:
    async with Venue(clock=RealtimeClock(), feed=None) as v:
        yield v


@pytest.fixture
async def proxy(venue: Venue) -> AsyncIterator[RecordingProxy]:
    p = await RecordingProxy(venue.rest_url).start()
    yield p
    await p.stop()


@pytest.fixture
async def reader(venue: Venue, proxy: RecordingProxy) -> AsyncIterator[SdkUsdmReader]:
    r = SdkUsdmReader(
        rest_url=proxy.url,
        ws_streams_url=venue.ws_streams_url,
        api_key=venue.api_key,
        api_secret=venue.api_secret,
    )
    yield r
    await r.close()


@pytest.fixture
async def trader(venue: Venue, proxy: RecordingProxy) -> AsyncIterator[SdkUsdmTrader]:
    t = SdkUsdmTrader(rest_url=proxy.url, api_key=venue.api_key, api_secret=venue.api_secret)
    yield t
    await t.close()


def stop_market(cid: str, trigger: str = "64000.0", **kw: object) -> AlgoOrderRequest:
    return AlgoOrderRequest(
        symbol=str(kw.pop("symbol", BTC)),
        side=Side.SELL,
        type=AlgoOrderType.STOP_MARKET,
        trigger_price=D(trigger),
        close_position=True,
        client_algo_id=ClientAlgoId(cid),
        **kw,  # type: ignore[arg-type]
    )


def limit_tp(cid: str, price: str = "70000.0", qty: str = "0.500") -> FuturesOrderRequest:
    return FuturesOrderRequest(
        symbol=BTC,
        side=Side.SELL,
        type=FuturesOrderType.LIMIT,
        time_in_force=TimeInForce.GTC,
        quantity=D(qty),
        price=D(price),
        reduce_only=True,
        new_client_order_id=ClientOrderId(cid),
    )


def test_implements_the_port(reader: SdkUsdmReader, trader: SdkUsdmTrader) -> None:
    r: UsdmReader = reader
    t: UsdmTrader = trader
    assert r is reader and t is trader


def test_settings_validate_and_hide_secrets() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        UsdmRestSettings(rest_url="http://127.0.0.1:1", api_key="k" * 10)
    with pytest.raises(ValueError, match="exactly one"):
        UsdmRestSettings(
            rest_url="http://127.0.0.1:1",
            api_key="k" * 10,
            api_secret="s" * 10,
            private_key_pem="p",
        )
    s = UsdmRestSettings(rest_url="http://127.0.0.1:1", api_key="KEY123456", api_secret="SEC123456")
    assert "KEY123456" not in repr(s) and "SEC123456" not in repr(s)
    with pytest.raises(ValueError, match="PEM"):
        SdkUsdmTrader(rest_url="http://127.0.0.1:1", api_key="k" * 10, private_key="/no/such/key")


async def test_hydration_positions_and_open_orders(
    venue: Venue, reader: SdkUsdmReader, trader: SdkUsdmTrader
) -> None:
    await open_position(venue, BTC, "BUY", "0.500")
    await open_position(venue, "ETHUSDT", "SELL", "1.000")
    await open_position(venue, "SOLUSDT", "BUY", "2")
    await open_position(venue, "SOLUSDT", "SELL", "2")  # closed again: amount 0, not a position
    positions = {p.symbol: p for p in await reader.positions()}
    assert set(positions) == {BTC, "ETHUSDT"}
    assert positions[BTC].amount == D("0.500") and positions[BTC].entry_price == D("65000")
    assert positions["ETHUSDT"].amount == D("-1.000")
    assert positions[BTC].position_side is PositionSide.BOTH
    assert positions[BTC].update_time_ms > 0
    assert await reader.position_mode() is PositionMode.ONE_WAY

    await trader.place_algo_order(stop_market("exg-sl-btc"))
    await trader.place_order(limit_tp("exg-tp-btc"))
    algos = await reader.open_algo_orders()
    assert [(a.client_algo_id, a.status, a.order_type) for a in algos] == [
        ("exg-sl-btc", "NEW", "STOP_MARKET")
    ]
    a = algos[0]
    assert a.close_position and not a.reduce_only and a.trigger_price == D("64000.0")
    assert a.side is Side.SELL and a.actual_order_id is None and a.raw["algoType"] == "CONDITIONAL"
    assert "additional_properties" not in a.raw
    assert await reader.open_algo_orders("ETHUSDT") == []
    assert [x.client_algo_id for x in await reader.open_algo_orders(BTC)] == ["exg-sl-btc"]
    orders = await reader.open_orders()
    assert [(o.client_order_id, o.status, o.order_type) for o in orders] == [
        ("exg-tp-btc", "NEW", "LIMIT")
    ]
    o = orders[0]
    assert o.reduce_only and o.price == D("70000.0") and o.quantity == D("0.500")
    assert o.executed_quantity == 0
    assert await reader.open_orders("ETHUSDT") == []


async def test_hedge_mode_positions(venue: Venue, reader: SdkUsdmReader) -> None:
    venue.exchange.set_position_mode(venue.account, {"dualSidePosition": "true"})
    assert await reader.position_mode() is PositionMode.HEDGE
    await open_position(venue, BTC, "BUY", "0.200", position_side="LONG")
    await open_position(venue, BTC, "SELL", "0.100", position_side="SHORT")
    sides = {p.position_side: p.amount for p in await reader.positions()}
    assert sides == {PositionSide.LONG: D("0.200"), PositionSide.SHORT: D("-0.100")}


async def test_exchange_info_and_prices(venue: Venue, reader: SdkUsdmReader) -> None:
    info = await reader.exchange_info()
    async with (
        aiohttp.ClientSession() as s,
        s.get(f"{venue.rest_url}/fapi/v1/exchangeInfo") as resp,
    ):
        raw = await resp.json()
    info.pop("serverTime")
    raw.pop("serverTime")
    assert info == raw  # the venue's JSON, every field (the SDK model keeps unknown keys)
    await set_price(venue, BTC, last="64123.4", mark="64120.1")
    p = await reader.prices(BTC)
    assert (p.symbol, p.last, p.mark) == (BTC, D("64123.4"), D("64120.1"))


async def test_exact_wire_params(
    venue: Venue, proxy: RecordingProxy, reader: SdkUsdmReader, trader: SdkUsdmTrader
) -> None:
    """Decimals reach the venue exactly as ``to_params()`` gives them: no float, no exponent
    (``float`` would send ``1.3e-06``, ``str(Decimal)`` ``1E+7``)."""
    pepe = "1000PEPEUSDT"
    await set_price(venue, pepe, last="0.0000015", mark="0.0000015")
    await open_position(venue, pepe, "BUY", "10000000")
    req = AlgoOrderRequest(
        symbol=pepe,
        side=Side.SELL,
        type=AlgoOrderType.STOP_MARKET,
        quantity=D("1E+7"),
        trigger_price=D("1.3E-6"),
        reduce_only=True,
        working_type=None,
        client_algo_id=ClientAlgoId("exg-pepe-sl"),
    )
    assert req.to_params()["triggerPrice"] == "0.0000013"
    placed = await trader.place_algo_order(req)
    [sent] = proxy.calls("POST", "/fapi/v1/algoOrder")
    assert sent.order_params == req.to_params()
    signed_part, signature = sent.raw_query.rsplit("&", 1)
    assert signature.startswith("signature=")  # signature last
    # The hex signature may contain "e" after digits, so only the signed values are checked.
    assert re.search(r"=[0-9.]+[eE][+-]?[0-9]+(&|$)", signed_part) is None  # no exponent form
    assert placed.trigger_price == D("0.0000013") and placed.quantity == D("10000000")
    assert placed.raw["triggerPrice"] == "0.0000013" and placed.reduce_only

    tp = FuturesOrderRequest(
        symbol=BTC,
        side=Side.BUY,
        type=FuturesOrderType.LIMIT,
        time_in_force=TimeInForce.GTC,
        quantity=D("1.0E-2"),
        price=D("6.0E+4"),
        new_client_order_id=ClientOrderId("exg-buy-limit"),
    )
    placed_order = await trader.place_order(tp)
    [sent_order] = proxy.calls("POST", "/fapi/v1/order")
    assert (
        sent_order.order_params
        == tp.to_params()
        == {
            "symbol": BTC,
            "side": "BUY",
            "type": "LIMIT",
            "timeInForce": "GTC",
            "quantity": "0.010",
            "price": "60000",
            "newClientOrderId": "exg-buy-limit",
        }
    )
    assert placed_order.raw["price"] == "60000" and placed_order.raw["origQty"] == "0.010"


async def test_place_query_cancel(
    venue: Venue, proxy: RecordingProxy, reader: SdkUsdmReader, trader: SdkUsdmTrader
) -> None:
    await open_position(venue, BTC, "BUY", "0.500")
    placed = await trader.place_algo_order(stop_market("exg-sl-1"))
    assert placed.status == "NEW" and placed.algo_id > 0 and placed.client_algo_id == "exg-sl-1"
    queried = await reader.query_algo_order("exg-sl-1")
    assert queried is not None and queried.algo_id == placed.algo_id and queried.status == "NEW"
    assert await reader.query_algo_order("exg-never-sent") is None

    order = await trader.place_order(limit_tp("exg-tp-1"))
    assert order.status == "NEW" and order.order_id > 0
    q = await reader.query_order(BTC, "exg-tp-1")
    assert q is not None and q.order_id == order.order_id
    assert await reader.query_order(BTC, "exg-never-sent") is None

    cancelled = await trader.cancel_algo_order("exg-sl-1")
    assert cancelled.status == "CANCELED" and cancelled.algo_id == placed.algo_id
    [cancel_req] = proxy.calls("DELETE", "/fapi/v1/algoOrder")
    assert cancel_req.order_params == {"clientAlgoId": "exg-sl-1"}
    cancelled_order = await trader.cancel_order(BTC, "exg-tp-1")
    assert cancelled_order.status == "CANCELED" and cancelled_order.order_id == order.order_id
    assert await reader.open_algo_orders() == [] and await reader.open_orders() == []
    # A second cancel meets a terminal order: a definite refusal, not an unknown.
    with pytest.raises(Rejected) as again:
        await trader.cancel_algo_order("exg-sl-1")
    assert again.value.code == -2011
    with pytest.raises(Rejected) as again_order:
        await trader.cancel_order(BTC, "exg-tp-1")
    assert again_order.value.code == -2011


async def test_cancel_triggered_child_by_order_id(
    venue: Venue, proxy: RecordingProxy, reader: SdkUsdmReader, trader: SdkUsdmTrader
) -> None:
    """A TAKE_PROFIT's child rests in the matching engine once triggered; it is cancelled with
    ``DELETE /fapi/v1/order`` by ``orderId`` = the algo order's ``actualOrderId``."""
    await open_position(venue, BTC, "BUY", "0.500")
    tp = AlgoOrderRequest(
        symbol=BTC,
        side=Side.SELL,
        type=AlgoOrderType.TAKE_PROFIT,
        quantity=D("0.500"),
        trigger_price=D("66000.0"),
        price=D("66500.0"),
        time_in_force=TimeInForce.GTC,
        reduce_only=True,
        client_algo_id=ClientAlgoId("exg-tp-child"),
    )
    await trader.place_algo_order(tp)
    await set_price(venue, BTC, last="66000.0", mark="66000.0")  # fires; the child rests
    algo = await reader.query_algo_order("exg-tp-child")
    assert algo is not None and algo.status == "TRIGGERED" and algo.actual_order_id is not None
    child = algo.actual_order_id
    cancelled = await trader.cancel_order_by_id(BTC, child)
    assert (cancelled.order_id, cancelled.status, cancelled.order_type) == (
        child,
        "CANCELED",
        "LIMIT",
    )
    [sent] = proxy.calls("DELETE", "/fapi/v1/order")
    assert sent.order_params == {"symbol": BTC, "orderId": str(child)}
    done = await reader.query_algo_order("exg-tp-child")
    assert done is not None and done.status == "FINISHED"
    assert await reader.open_orders(BTC) == []
    with pytest.raises(Rejected) as again:  # same mapping as cancel_order
        await trader.cancel_order_by_id(BTC, child)
    assert again.value.code == -2011
    for bad in (0, True):
        with pytest.raises(ValueError, match="order_id"):
            await trader.cancel_order_by_id(BTC, bad)


async def test_venue_refusals_are_rejected_with_their_code(
    venue: Venue, proxy: RecordingProxy, trader: SdkUsdmTrader
) -> None:
    await open_position(venue, BTC, "BUY", "0.500")
    with pytest.raises(Rejected) as would_trigger:
        await trader.place_algo_order(stop_market("exg-late", trigger="65000.0"))  # last 65000
    assert would_trigger.value.code == -2021 and would_trigger.value.http_status == 400
    assert "immediately trigger" in would_trigger.value.msg
    # A conditional type on the regular endpoint (legacy stopPrice: not a new_order parameter in
    # SDK 18, so it goes through the generic signed request, exactly as given).
    legacy = FuturesOrderRequest(
        symbol=BTC,
        side=Side.SELL,
        type=FuturesOrderType.STOP_MARKET,
        stop_price=D("60000.0"),
        quantity=D("0.500"),
        reduce_only=True,
        new_client_order_id=ClientOrderId("exg-legacy"),
    )
    with pytest.raises(Rejected) as switch:
        await trader.place_order(legacy)
    assert switch.value.code == -4120
    [sent] = proxy.calls("POST", "/fapi/v1/order")
    assert sent.order_params == legacy.to_params() and sent.order_params["stopPrice"] == "60000.0"


async def test_lost_answers_are_unknown_and_resolved_by_query(
    venue: Venue, proxy: RecordingProxy, reader: SdkUsdmReader, trader: SdkUsdmTrader
) -> None:
    await open_position(venue, BTC, "BUY", "0.500")
    await faults(venue, lose_response={"path": "/fapi/v1/algoOrder", "method": "POST"})
    with pytest.raises(UnknownOutcome) as lost:
        await trader.place_algo_order(stop_market("exg-lost"))
    assert lost.value.http_status == 503
    found = await reader.query_algo_order("exg-lost")  # the venue did apply it
    assert found is not None and found.status == "NEW"

    # A lost cancel answer (408 this time): unknown, and sent exactly once (retries=0).
    await faults(
        venue, lose_response={"path": "/fapi/v1/algoOrder", "method": "DELETE", "status": 408}
    )
    with pytest.raises(UnknownOutcome):
        await trader.cancel_algo_order("exg-lost")
    assert len(proxy.calls("DELETE", "/fapi/v1/algoOrder")) == 1
    gone = await reader.query_algo_order("exg-lost")
    assert gone is not None and gone.status == "CANCELED"

    await faults(venue, lose_response={"path": "/fapi/v1/order", "method": "POST", "code": -1006})
    with pytest.raises(UnknownOutcome):
        await trader.place_order(limit_tp("exg-tp-lost"))
    assert (await reader.query_order(BTC, "exg-tp-lost")) is not None


async def test_rate_limit_is_transient_with_retry_after(
    venue: Venue, reader: SdkUsdmReader
) -> None:
    await faults(venue, status_429=1)
    with pytest.raises(Transient) as limited:
        await reader.positions()
    assert limited.value.code == -1003 and limited.value.http_status == 429
    assert limited.value.retry_after_s == 1.0
    assert await reader.positions() == []  # one 429 only


async def test_timeout_is_unknown_and_the_order_exists_afterwards(
    venue: Venue, proxy: RecordingProxy, reader: SdkUsdmReader
) -> None:
    await open_position(venue, BTC, "BUY", "0.500")
    slow = SdkUsdmTrader(
        rest_url=proxy.url, api_key=venue.api_key, api_secret=venue.api_secret, timeout_ms=200
    )
    try:
        await faults(venue, latency_ms=1000)
        with pytest.raises(UnknownOutcome) as timed_out:
            await slow.place_algo_order(stop_market("exg-slow"))
        assert timed_out.value.code is None and timed_out.value.http_status is None
        assert len(proxy.calls("POST", "/fapi/v1/algoOrder")) == 1  # never re-sent
        await faults(venue, clear=True)
        found: list[object] = []

        async def poll() -> None:
            found.append(await reader.query_algo_order("exg-slow"))

        await poll()
        await wait_until(lambda: bool(venue.exchange.algo.orders))
        await poll()
        assert found[-1] is not None
    finally:
        await slow.close()


async def test_unreachable_venue_is_transient_and_redacted(venue: Venue) -> None:
    dead = SdkUsdmTrader(
        rest_url="http://127.0.0.1:9", api_key=venue.api_key, api_secret=venue.api_secret
    )
    try:
        with pytest.raises(Transient) as refused:
            await dead.place_algo_order(stop_market("exg-nowhere"))
        assert "not sent" in refused.value.msg
        assert_no_secrets([exception_texts(refused.value)], [venue.api_key, venue.api_secret])
    finally:
        await dead.close()


async def test_clock_skew_resyncs_once_and_recovers(
    venue: Venue, proxy: RecordingProxy, reader: SdkUsdmReader
) -> None:
    await faults(venue, clock_skew_ms=30_000)  # the venue's clock runs 30 s ahead of ours
    outcomes = await asyncio.gather(*(reader.positions() for _ in range(3)), return_exceptions=True)
    assert all(isinstance(o, Transient) and o.code == -1021 for o in outcomes), outcomes
    assert len(proxy.calls("GET", "/fapi/v1/time")) == 1  # one sync answers all three
    assert 25_000 < reader.clock_offset_ms < 35_000
    assert await reader.positions() == []  # stamped with the offset now
    assert await reader.query_algo_order("exg-none") is None
    await faults(venue, clock_skew_ms=0)  # and back: now we are 30 s ahead
    with pytest.raises(Transient) as ahead:
        await reader.positions()
    assert ahead.value.code == -1021
    assert abs(reader.clock_offset_ms) < 5_000
    assert await reader.positions() == []


async def test_ed25519_keys_sign_typed_and_generic_requests(venue: Venue, tmp_path: Path) -> None:
    key = ECC.generate(curve="Ed25519")
    private_pem = key.export_key(format="PEM").encode()
    account = venue.exchange.create_account(
        Decimal(10_000), ed25519_public_key_pem=key.public_key().export_key(format="PEM")
    )
    path = tmp_path / "ed25519.pem"
    path.write_bytes(private_pem)
    reader = SdkUsdmReader(
        rest_url=venue.rest_url,
        ws_streams_url=venue.ws_streams_url,
        api_key=account.api_key,
        private_key=private_pem,
    )
    trader = SdkUsdmTrader(rest_url=venue.rest_url, api_key=account.api_key, private_key=path)
    try:
        assert await reader.positions() == []
        await control_position(venue, account.api_key)
        assert [p.amount for p in await reader.positions()] == [D("0.500")]
        placed = await trader.place_algo_order(stop_market("exg-ed-sl"))  # typed SDK method
        assert placed.status == "NEW"
        with pytest.raises(Rejected) as legacy:  # generic signed request, signature accepted
            await trader.place_order(
                FuturesOrderRequest(
                    symbol=BTC,
                    side=Side.SELL,
                    type=FuturesOrderType.STOP_MARKET,
                    stop_price=D("60000.0"),
                    quantity=D("0.500"),
                )
            )
        assert legacy.value.code == -4120
    finally:
        await reader.close()
        await trader.close()


async def control_position(venue: Venue, api_key: str) -> None:
    await control(
        venue,
        "/_venue/position",
        {"api_key": api_key, "symbol": BTC, "side": "BUY", "qty": "0.500"},
    )


async def test_secrets_never_in_errors_or_logs(
    venue: Venue, proxy: RecordingProxy, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secrets = [venue.api_key, venue.api_secret]
    errors: list[BaseException] = []
    bad_key = SdkUsdmReader(
        rest_url=proxy.url,
        ws_streams_url=venue.ws_streams_url,
        api_key="X" * 64,
        api_secret=venue.api_secret,
    )
    dead = SdkUsdmTrader(
        rest_url="http://127.0.0.1:9", api_key=venue.api_key, api_secret=venue.api_secret
    )
    trader = SdkUsdmTrader(rest_url=proxy.url, api_key=venue.api_key, api_secret=venue.api_secret)
    try:
        with pytest.raises(Rejected) as unauthorized:
            await bad_key.positions()
        assert unauthorized.value.code == -2015 and unauthorized.value.http_status == 401
        errors.append(unauthorized.value)
        with pytest.raises(Transient) as refused:
            await dead.cancel_order(BTC, "exg-x")
        errors.append(refused.value)
        with pytest.raises(Rejected) as would_trigger:
            await trader.place_algo_order(stop_market("exg-y", trigger="66000.0"))
        errors.append(would_trigger.value)
        await open_position(venue, BTC, "BUY", "0.500")
        await trader.place_order(limit_tp("exg-z"))
        await faults(venue, lose_response={"path": "/fapi/v1/order", "method": "DELETE"})
        with pytest.raises(UnknownOutcome) as lost:
            await trader.cancel_order(BTC, "exg-z")
        errors.append(lost.value)
    finally:
        await bad_key.close()
        await dead.close()
        await trader.close()
    signatures = [r.params["signature"] for r in proxy.requests if "signature" in r.params]
    assert signatures
    texts = [exception_texts(e) for e in errors] + [r.getMessage() for r in caplog.records]
    assert_no_secrets(texts, secrets + signatures + ["X" * 64])
    for err in errors:  # raised outside the SDK's except block: no unredacted context
        assert err.__context__ is None and err.__cause__ is None
