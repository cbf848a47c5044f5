"""Contract tests: the official USD-M SDK's ``websocket_api`` client against ``/ws-fapi/v1``.

Every answer is validated against the SDK's typed response model strictly: the raw frame (caught
where the SDK parses it) must build the model with no key the model does not know and no empty
string in place of a value. The SDK signs with the wall clock, so the venue runs on a real-time
clock without a feed. Servers bind 127.0.0.1 port 0; every wait is bounded.
"""

from __future__ import annotations

import asyncio
import json
import types
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import binance_common.websocket as sdk_ws
import pytest
from binance_common.configuration import ConfigurationWebSocketAPI
from binance_sdk_derivatives_trading_usds_futures import DerivativesTradingUsdsFutures
from binance_sdk_derivatives_trading_usds_futures.websocket_api.models import (
    AccountInformationResponse,
    AccountInformationV2Response,
    CancelAlgoOrderResponse,
    CancelOrderResponse,
    NewAlgoOrderResponse,
    NewOrderResponse,
    PositionInformationResponse,
    PositionInformationV2Response,
    QueryOrderResponse,
)
from Crypto.PublicKey import ECC
from pydantic import BaseModel

from exitguard.domain.enums import Side
from exitguard.venue.clock import RealtimeClock
from exitguard.venue.server import Venue

SYMBOL = "BTCUSDT"
KEY = ECC.generate(curve="Ed25519")
PRIVATE_PEM = KEY.export_key(format="PEM")
PUBLIC_PEM = KEY.public_key().export_key(format="PEM")
OTHER_PEM = ECC.generate(curve="Ed25519").export_key(format="PEM")


@pytest.fixture
async def venue() -> AsyncIterator[Venue]:
    async with Venue(clock=RealtimeClock(), feed=None, ed25519_public_key_pem=PUBLIC_PEM) as v:
        yield v


@pytest.fixture
def frames(monkeypatch: pytest.MonkeyPatch) -> dict[str, dict[str, Any]]:
    """Every raw answer the SDK receives, by request id (caught where the SDK parses frames)."""
    seen: dict[str, dict[str, Any]] = {}

    def loads(text: str | bytes, **kw: Any) -> Any:
        out = json.loads(text, **kw)
        if isinstance(out, dict) and isinstance(out.get("id"), str):
            seen[out["id"]] = out
        return out

    monkeypatch.setattr(sdk_ws, "json", types.SimpleNamespace(loads=loads, dumps=json.dumps))
    return seen


async def connect(v: Venue, pem: str = PRIVATE_PEM) -> Any:
    cfg = ConfigurationWebSocketAPI(api_key=v.api_key, private_key=pem, stream_url=v.ws_api_url)
    api = DerivativesTradingUsdsFutures(config_ws_api=cfg).websocket_api
    return await asyncio.wait_for(api.create_connection(), timeout=10)


async def call(coro: Any) -> Any:
    return (await asyncio.wait_for(coro, timeout=10)).data()


async def logon(api: Any) -> Any:
    payload = {"method": "session.logon", "params": {}}
    return await call(api.send_signed_message(payload, signer=api.signer, session_logon=True))


def _strict(model: BaseModel, where: str, deep: bool) -> None:
    extra = set(getattr(model, "additional_properties", None) or {})
    extra.discard("rateLimits")  # the envelope's, on every answer (some models omit it)
    assert not extra, f"{where}: keys the SDK model does not know: {sorted(extra)}"
    for name, value in model:
        items = value if isinstance(value, list) else [value]
        for item in items:
            assert item != "", f"{where}.{name}: empty string"
            if isinstance(item, BaseModel) and (deep or name == "result"):
                _strict(item, f"{where}.{name}", deep)


def strict(
    frames: dict[str, dict[str, Any]], answer: Any, model: type[BaseModel], *, deep: bool = True
) -> Any:
    """The raw frame behind ``answer`` built with ``model.from_dict``, checked strictly
    (``deep=False``: the result's own keys, not those of nested rows)."""
    assert isinstance(answer, model), answer
    assert answer.status == 200 and answer.id is not None
    built = model.from_dict(frames[answer.id])  # type: ignore[attr-defined]
    _strict(built, model.__name__, deep)
    assert frames[answer.id]["rateLimits"], "rateLimits missing"
    return built


async def test_logon_orders_algo_orders_account_and_positions(
    venue: Venue, frames: dict[str, dict[str, Any]]
) -> None:
    account = venue.exchange.account_by_api_key(venue.api_key)
    venue.exchange.open_position(account, SYMBOL, Side.BUY, Decimal("0.01"))
    api = await connect(venue)
    try:
        session = await logon(api)
        assert session["status"] == 200 and session["result"]["apiKey"] == venue.api_key
        status = await call(api.send_message({"method": "session.status", "params": {}}))
        assert status["result"]["authorizedSince"] is not None

        placed = await call(
            api.new_order(symbol=SYMBOL, side="BUY", type="LIMIT", time_in_force="GTC",
                          quantity="0.01", price="30000", new_client_order_id="ws-limit-1")
        )  # fmt: skip
        built = strict(frames, placed, NewOrderResponse)
        assert built.result.status == "NEW" and built.result.price == "30000"
        orders = [r for r in built.rate_limits if r.rate_limit_type == "ORDERS"]
        assert orders and all(r.count == 1 for r in orders)
        queried = await call(api.query_order(symbol=SYMBOL, orig_client_order_id="ws-limit-1"))
        assert strict(frames, queried, QueryOrderResponse).result.order_id == built.result.order_id
        cancelled = await call(api.cancel_order(symbol=SYMBOL, order_id=built.result.order_id))
        assert strict(frames, cancelled, CancelOrderResponse).result.status == "CANCELED"

        algo = await call(
            api.new_algo_order(algo_type="CONDITIONAL", symbol=SYMBOL, side="SELL",
                               type="STOP_MARKET", trigger_price="40000", close_position="true",
                               client_algo_id="ws-stop-1")
        )  # fmt: skip
        algo_built = strict(frames, algo, NewAlgoOrderResponse)
        assert algo_built.result.algo_status == "NEW"
        assert venue.exchange.snapshot()["algoOrders"][0]["clientAlgoId"] == "ws-stop-1"
        gone = await call(api.cancel_algo_order(client_algo_id="ws-stop-1"))
        assert strict(frames, gone, CancelAlgoOrderResponse).result.client_algo_id == "ws-stop-1"

        # The account's asset and position rows are REST's /fapi/v2|v3/account rows (their
        # documented shape is the REST account endpoint's business): top-level keys only here.
        info = await call(api.account_information())
        assert strict(frames, info, AccountInformationResponse, deep=False).result.assets
        info2 = await call(api.account_information_v2())
        strict(frames, info2, AccountInformationV2Response, deep=False)
        rows = strict(frames, await call(api.position_information_v2()), PositionInformationV2Response)  # fmt: skip
        assert [(p.symbol, p.position_amt) for p in rows.result] == [(SYMBOL, "0.01")]
        strict(frames, await call(api.position_information()), PositionInformationResponse)
    finally:
        await api.close_connection()


async def test_errors_are_binance_shaped(venue: Venue) -> None:
    api = await connect(venue)
    try:
        await logon(api)
        stop = await call(
            api.new_order(symbol=SYMBOL, side="SELL", type="STOP_MARKET", quantity="0.01")  # type: ignore[call-arg]
        )
        assert stop["error"]["code"] == -4120  # conditional types live in the Algo Service
        unknown = await call(api.cancel_order(symbol=SYMBOL, orig_client_order_id="nope"))
        assert unknown["error"]["code"] == -2011
        method = await call(api.send_message({"method": "order.nothing", "params": {}}))
        assert method["error"]["code"] == -1000
    finally:
        await api.close_connection()
    # A signature by another key: -1022 (every request signed, no logon).
    api = await connect(venue, OTHER_PEM)
    try:
        bad = await call(api.account_information())
        assert bad["error"]["code"] == -1022
        refused = await logon(api)
        assert refused["error"]["code"] == -1022
    finally:
        await api.close_connection()


async def test_shares_the_rest_limiter_and_faults(
    venue: Venue, frames: dict[str, dict[str, Any]]
) -> None:
    api = await connect(venue)
    try:
        before = venue.context.limiter.status("127.0.0.1", None)[-1]["count"]
        answer = await call(api.account_information())
        built = strict(frames, answer, AccountInformationResponse, deep=False)
        weight = next(r for r in built.rate_limits if r.rate_limit_type == "REQUEST_WEIGHT")
        assert isinstance(before, int) and weight.count == before + 5
        venue.context.faults.status_429 = 1
        limited = await call(api.account_information())
        assert limited["error"]["code"] == -1003
        assert venue.context.faults.status_429 == 0
    finally:
        await api.close_connection()
