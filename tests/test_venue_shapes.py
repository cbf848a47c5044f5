"""Strict contract: every served SDK method's answer has exactly the SDK model's documented shape.

The SDKs' pydantic models accept unknown keys (``additional_properties``) and every field is
optional, so parsing cleanly proves little. :func:`strict_errors` walks the model's fields
itself: no key the model does not know, no documented field missing (except the few listed in
:data:`MAY_BE_ABSENT`, each with its reason), values of the declared JSON type (strict: ``"5"`` is
not an int), and no ``""`` in a string field (the SDKs carry decimals as strings, so an empty
string is where a client's decimal parser breaks) except the text fields in :data:`EMPTY_OK`.

Every served method (:mod:`exitguard.venue.coverage`) is called once through the SDK's typed
REST client against the embedded venue; the raw JSON each call received is checked against the
method's ``response_model``. A test asserts the called set equals the served set, so a route
added without a contract call fails here. The SDKs sign with the wall clock, so the venue runs
on a real-time clock; servers bind 127.0.0.1 port 0; every call is bounded.
"""

from __future__ import annotations

import asyncio
import enum
import inspect
import json
import logging
import types
import typing
from collections.abc import AsyncIterator, Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest
import requests
from binance_common.configuration import ConfigurationRestAPI
from pydantic import BaseModel

from exitguard.venue.clock import RealtimeClock
from exitguard.venue.coverage import SDK_GROUPS, sdk_methods, served_routes
from exitguard.venue.server import Venue

SYMBOL = "BTCUSDT"
USDM_PKG, SPOT_PKG = SDK_GROUPS[0][1], SDK_GROUPS[1][1]

# Documented text fields whose documented value is "" in some states (not decimals).
EMPTY_OK = frozenset(
    {
        "actualOrderId",  # "" until the algo order triggers (Query-Algo-Order page)
        "actualType",  # "" until the algo order triggers
        "tpOrderType",  # "" for a conditional that is not a TP/SL pair
        "info",  # income rows: free text, "" for trades
    }
)
# The SDK models merge every variant of an answer (all filter types in one model, every order
# type's fields in one row) and mark every field optional, so "documented field missing" is
# checked for the methods whose answers have one fixed shape: the ones the venue serves since
# the documented-shapes work, the account/algo rows, and the price/depth answers.
COMPLETE = frozenset(
    {
        # USD-M
        "account_information_v2", "account_information_v3", "futures_account_balance_v2",
        "futures_account_balance_v3", "position_information_v2", "position_information_v3",
        "symbol_configuration", "user_commission_rate", "get_current_multi_assets_mode",
        "change_multi_assets_mode", "get_income_history", "modify_order", "query_algo_order",
        "ticker24hr_price_change_statistics", "kline_candlestick_data", "recent_trades_list",
        "compressed_aggregate_trades_list", "mark_price", "symbol_price_ticker",
        "symbol_price_ticker_v2", "symbol_order_book_ticker", "order_book",
        "change_initial_leverage", "get_current_position_mode", "notional_and_leverage_brackets", "change_position_mode",
        "start_user_data_stream", "keepalive_user_data_stream",
        # Spot
        "ticker24hr", "klines", "avg_price", "get_trades", "agg_trades", "ticker_price",
        "ticker_book_ticker", "depth", "get_account", "time",
    }
)  # fmt: skip
# (model, key) pairs the venue leaves out of a COMPLETE answer, each with its reason.
MAY_BE_ABSENT: frozenset[tuple[str, str]] = frozenset(
    {
        # Set only for a funding rate of a special type (Get-Funding-Rate-History page).
        ("GetFundingRateHistoryResponse", "rateType"),
        # The modify answer's modifyId is not on the Modify-Order page example.
        ("ModifyOrderResponse", "modifyId"),
    }
)
# (model prefix, key): keys Binance's own answers carry that the SDK's models lack, each with
# its reason; everything else unknown to a model is an error.
KNOWN_EXTRA: frozenset[tuple[str, str]] = frozenset(
    {
        # The bundled USD-M exchangeInfo is a recorded Binance answer; the SDK model lags it.
        *(("ExchangeInformationResponse", k) for k in (
            "futuresType", "permissionSets", "maxMoveOrderLimit", "positionControlSide")),
        # New-Order / Cancel-Order / Place-Multiple-Orders page examples carry these; the
        # SDK's response models do not (they are the fill summary clients read).
        *((m, k) for m in ("NewOrderResponse", "CancelOrderResponse", "PlaceMultipleOrdersResponse")
          for k in ("avgPrice", "cumQuote")),
        # The Query-Algo-Order model has them since SDK 11.0.0; the list models lag (same row).
        *((m, k) for m in ("CurrentAllAlgoOpenOrdersResponse", "QueryAllAlgoOrdersResponse")
          for k in ("actualType", "actualQty")),
        # In the Spot Cancel-Order-List page example's orderReports; the SDK model lacks it.
        ("DeleteOrderListResponseOrderReportsInner", "selfTradePreventionMode"),
    }
)  # fmt: skip


# -- the strict walker -------------------------------------------------------------------------


def _fields(model: type[BaseModel]) -> dict[str, Any]:
    """Wire key → annotation of a model's documented fields."""
    return {
        (f.alias or name): f.annotation
        for name, f in model.model_fields.items()
        if name not in ("additional_properties",)
    }


def _is_array(model: type[BaseModel]) -> bool:
    is_array = getattr(model, "is_array", None)
    return bool(is_array and is_array())


def _one_of(model: type[BaseModel]) -> list[type[BaseModel]] | None:
    if "actual_instance" not in model.model_fields:
        return None
    out = []
    for name, f in model.model_fields.items():
        if name.startswith("oneof_schema_"):
            out.extend(
                a
                for a in typing.get_args(f.annotation)
                if inspect.isclass(a) and issubclass(a, BaseModel)
            )
    return out


def strict_errors(
    model: type[BaseModel], value: Any, where: str = "$", complete: bool = True
) -> list[str]:
    """Every way ``value`` departs from ``model``'s documented shape (empty: it matches);
    ``complete``: a documented field missing is an error too."""
    alternatives = _one_of(model)
    if alternatives is not None:
        fits = [a for a in alternatives if _is_array(a) == isinstance(value, list)]
        if not fits:
            return [f"{where}: {type(value).__name__} fits no alternative of {model.__name__}"]
        tries = [strict_errors(a, value, where, complete) for a in fits]
        return min(tries, key=len)
    if _is_array(model):
        if not isinstance(value, list):
            return [f"{where}: {model.__name__} wants a list, got {type(value).__name__}"]
        if not _fields(model):  # klines: rows of scalars, checked by _kline_errors
            return [e for i, row in enumerate(value) for e in _kline_errors(row, f"{where}[{i}]")]
        return [
            e
            for i, v in enumerate(value)
            for e in _object_errors(model, v, f"{where}[{i}]", complete)
        ]
    return _object_errors(model, value, where, complete)


def _extra_ok(model: type[BaseModel], key: str) -> bool:
    return any(model.__name__.startswith(m) and key == k for m, k in KNOWN_EXTRA)


def _object_errors(model: type[BaseModel], value: Any, where: str, complete: bool) -> list[str]:
    if not isinstance(value, dict):
        return [f"{where}: {model.__name__} wants an object, got {type(value).__name__}"]
    fields = _fields(model)
    errors = [
        f"{where}.{k}: key unknown to {model.__name__}"
        for k in value
        if k not in fields and not _extra_ok(model, k)
    ]
    for key, ann in fields.items():
        if key not in value:
            if complete and (model.__name__, key) not in MAY_BE_ABSENT:
                errors.append(f"{where}.{key}: documented field of {model.__name__} missing")
            continue
        errors += _value_errors(ann, value[key], f"{where}.{key}", key, complete)
    return errors


def _kline_errors(row: Any, where: str) -> list[str]:
    ints = (0, 6, 8)
    if not isinstance(row, list) or len(row) != 12:
        return [f"{where}: a kline is a list of 12, got {row!r}"]
    return [
        f"{where}[{i}]: {v!r} is not {'an int' if i in ints else 'a decimal string'}"
        for i, v in enumerate(row)
        if (i in ints and not (isinstance(v, int) and not isinstance(v, bool)))
        or (i not in ints and not (isinstance(v, str) and _decimal(v)))
    ]


def _decimal(text: str) -> bool:
    try:
        return Decimal(text).is_finite()
    except ArithmeticError:
        return False


def _value_errors(ann: Any, v: Any, where: str, key: str, complete: bool) -> list[str]:
    origin, args = typing.get_origin(ann), typing.get_args(ann)
    if origin is typing.Annotated:
        return _value_errors(args[0], v, where, key, complete)
    if origin in (typing.Union, types.UnionType):
        if v is None:
            return []
        inner = [a for a in args if a is not type(None)]
        tries = [_value_errors(a, v, where, key, complete) for a in inner]
        return min(tries, key=len)
    if origin in (list, typing.List):  # noqa: UP006 - the SDK's annotations use typing.List
        if not isinstance(v, list):
            return [f"{where}: wants a list, got {v!r}"]
        return [
            e
            for i, x in enumerate(v)
            for e in _value_errors(args[0], x, f"{where}[{i}]", key, complete)
        ]
    if origin in (dict, typing.Dict):  # noqa: UP006
        return [] if isinstance(v, dict) else [f"{where}: wants an object, got {v!r}"]
    if ann is Any:
        return []
    if ann is str:
        if not isinstance(v, str):
            return [f"{where}: wants a string, got {v!r}"]
        return [f"{where}: empty string"] if v == "" and key not in EMPTY_OK else []
    if ann is bool:
        return [] if isinstance(v, bool) else [f"{where}: wants a bool, got {v!r}"]
    if ann is int:
        ok = isinstance(v, int) and not isinstance(v, bool)
        return [] if ok else [f"{where}: wants an int, got {v!r}"]
    if ann is float:
        ok = isinstance(v, (int, float)) and not isinstance(v, bool)
        return [] if ok else [f"{where}: wants a number, got {v!r}"]
    if inspect.isclass(ann) and issubclass(ann, enum.Enum):
        ok = v in {m.value for m in ann}
        return [] if ok else [f"{where}: {v!r} is not one of {ann.__name__}"]
    if inspect.isclass(ann) and issubclass(ann, BaseModel):
        return strict_errors(ann, v, where, complete)
    return [f"{where}: the checker does not know annotation {ann!r}"]


# -- the walker itself: each rule fails when broken ---------------------------------------------


def test_strict_walker_catches_each_rule() -> None:
    from binance_sdk_derivatives_trading_usds_futures.rest_api.models import (
        AccountInformationV3Response,
        QueryAlgoOrderResponse,
        SymbolPriceTickerResponse,
    )

    good = {"symbol": SYMBOL, "price": "65000", "time": 1}
    assert strict_errors(SymbolPriceTickerResponse, good) == []
    assert strict_errors(SymbolPriceTickerResponse, [good, good]) == []
    assert strict_errors(SymbolPriceTickerResponse, {**good, "x": 1}) == [
        "$.x: key unknown to SymbolPriceTickerResponse1"
    ]
    assert strict_errors(SymbolPriceTickerResponse, {"symbol": SYMBOL, "time": 1}) == [
        "$.price: documented field of SymbolPriceTickerResponse1 missing"
    ]
    assert strict_errors(SymbolPriceTickerResponse, {**good, "price": ""}) == [
        "$.price: empty string"
    ]
    assert strict_errors(SymbolPriceTickerResponse, {**good, "time": "1"}) == [
        "$.time: wants an int, got '1'"
    ]
    # The algo row: activatePrice/callbackRate "" on a STOP_MARKET query row.
    errs = strict_errors(QueryAlgoOrderResponse, {"activatePrice": "", "callbackRate": ""})
    assert "$.activatePrice: key unknown to QueryAlgoOrderResponse" in errs
    # The account row: a /fapi/v2/balance row inside assets[].
    errs = strict_errors(
        AccountInformationV3Response, {"assets": [{"asset": "USDT", "balance": "1"}]}
    )
    assert "$.assets[0].balance: key unknown to AccountInformationV3ResponseAssetsInner" in errs
    assert (
        "$.assets[0].walletBalance: documented field of AccountInformationV3ResponseAssetsInner missing"
        in errs
    )


# -- calling every served method ---------------------------------------------------------------


class Recorder:
    """The raw JSON of every HTTP answer the SDKs received (``requests.Session.request``)."""

    def __init__(self) -> None:
        self.bodies: list[Any] = []

    @staticmethod
    def install(monkeypatch: pytest.MonkeyPatch) -> Recorder:
        rec = Recorder()
        original = requests.Session.request

        def request(self: requests.Session, *args: Any, **kwargs: Any) -> requests.Response:
            resp = original(self, *args, **kwargs)
            rec.bodies.append(json.loads(resp.text) if resp.text else None)
            return resp

        monkeypatch.setattr(requests.Session, "request", request)
        return rec


class Contract:
    """Calls SDK methods by name and checks each answer against the method's response model."""

    def __init__(self, api: Any, package: str, recorder: Recorder) -> None:
        self.api, self.recorder = api, recorder
        self.models = __import__(f"{package}.rest_api.models", fromlist=["models"])
        self.model_of = {
            m.name: m.response_model
            for _, pkg, _, modules in SDK_GROUPS
            if pkg == package
            for mod in modules
            for m in sdk_methods(pkg, mod)
        }
        self.called: set[str] = set()
        self.errors: list[str] = []

    async def __call__(self, name: str, **kwargs: Any) -> Any:
        before = len(self.recorder.bodies)
        method: Callable[..., Any] = getattr(self.api, name)
        resp = await asyncio.wait_for(asyncio.to_thread(lambda: method(**kwargs)), timeout=15)
        assert len(self.recorder.bodies) == before + 1, f"{name}: not exactly one HTTP answer"
        body = self.recorder.bodies[-1]
        model_name = self.model_of[name]
        if name == "delete_open_orders":  # orders and order lists in one list (Spot docs)
            lists = [r for r in body if "orderListId" in r and "contingencyType" in r]
            model = self.models.DeleteOrderListResponse
            self.errors += [
                f"{name}: {e}" for r in lists for e in strict_errors(model, r, "$[]", False)
            ]
            body = [r for r in body if r not in lists]
        if model_name is not None:
            model = getattr(self.models, model_name)
            errors = strict_errors(model, body, complete=name in COMPLETE)
            self.errors += [f"{name}: {e}" for e in errors]
        self.called.add(name)
        return resp.data()


def served_names(package: str) -> set[str]:
    served = served_routes()
    return {
        m.name
        for _, pkg, _, modules in SDK_GROUPS
        if pkg == package
        for mod in modules
        for m in sdk_methods(pkg, mod)
        if (m.http_method, m.path) in served
    }


@pytest.fixture
async def venue() -> AsyncIterator[Venue]:
    async with Venue(clock=RealtimeClock(), feed=None) as v:
        yield v


@pytest.fixture
def sdk_log(caplog: pytest.LogCaptureFixture) -> Iterator[Callable[[], list[str]]]:
    caplog.set_level(logging.WARNING)
    yield lambda: [
        r.getMessage()
        for r in caplog.records
        if "did not match" in r.getMessage() or "Failed to parse" in r.getMessage()
    ]


def _config(v: Venue) -> ConfigurationRestAPI:
    return ConfigurationRestAPI(
        api_key=v.api_key, api_secret=v.api_secret, base_path=v.rest_url, timeout=10_000, retries=0
    )


async def test_every_served_usdm_method_answers_the_documented_shape(
    venue: Venue, monkeypatch: pytest.MonkeyPatch, sdk_log: Callable[[], list[str]]
) -> None:
    from binance_sdk_derivatives_trading_usds_futures.derivatives_trading_usds_futures import (
        DerivativesTradingUsdsFutures,
    )
    from binance_sdk_derivatives_trading_usds_futures.rest_api.models import (
        PlaceMultipleOrdersBatchOrdersParameterInner,
    )

    api = DerivativesTradingUsdsFutures(config_rest_api=_config(venue)).rest_api
    c = Contract(api, USDM_PKG, Recorder.install(monkeypatch))
    for step in ("65010", "65020", "65000"):  # trades for klines/trades/aggTrades/24hr
        venue.set_price(SYMBOL, last=Decimal(step), mark=Decimal(step))
    # Market data.
    await c("test_connectivity")
    await c("check_server_time")
    await c("exchange_information")
    await c("mark_price", symbol=SYMBOL)
    await c("symbol_price_ticker", symbol=SYMBOL)
    await c("symbol_price_ticker_v2")
    await c("symbol_order_book_ticker", symbol=SYMBOL)
    await c("order_book", symbol=SYMBOL, limit=5)
    await c("ticker24hr_price_change_statistics", symbol=SYMBOL)
    await c("ticker24hr_price_change_statistics")
    klines = await c("kline_candlestick_data", symbol=SYMBOL, interval="1m")
    assert klines and klines[-1][4] == "65000"
    trades = await c("recent_trades_list", symbol=SYMBOL)
    assert [t.price for t in trades][-3:] == ["65010", "65020", "65000"]
    await c("compressed_aggregate_trades_list", symbol=SYMBOL)
    await c("get_funding_rate_history", symbol=SYMBOL, limit=3)
    # Account settings.
    await c("get_current_position_mode")
    await c("change_position_mode", dual_side_position="true")
    await c("change_position_mode", dual_side_position="false")
    await c("change_initial_leverage", symbol=SYMBOL, leverage=10)
    await c("get_current_multi_assets_mode")
    await c("change_multi_assets_mode", multi_assets_margin="false")
    with pytest.raises(Exception) as refused:  # cross is the only type: -4046 unchanged
        await c("change_margin_type", symbol=SYMBOL, margin_type="CROSSED")
    assert getattr(refused.value, "status_code", None) == -4046
    c.called.add("change_margin_type")  # its success shape {code,msg} is the position-mode one
    await c("symbol_configuration", symbol=SYMBOL)
    await c("user_commission_rate", symbol=SYMBOL)
    await c("notional_and_leverage_brackets", symbol=SYMBOL)
    await c("notional_and_leverage_brackets")
    # A position, a resting LIMIT (modified), conditional exits, trades and income.
    await c("new_order", symbol=SYMBOL, side="BUY", type="MARKET", quantity="0.010")
    limit = await c(
        "new_order", symbol=SYMBOL, side="BUY", type="LIMIT", time_in_force="GTC",
        quantity="0.010", price="60000.0",
    )  # fmt: skip
    modified = await c(
        "modify_order", symbol=SYMBOL, order_id=limit.order_id, side="BUY",
        quantity="0.020", price="60100.0",
    )  # fmt: skip
    assert (Decimal(modified.orig_qty), Decimal(modified.price)) == (Decimal("0.02"), 60100)
    assert modified.status == "NEW" and modified.order_id == limit.order_id
    await c("query_order", symbol=SYMBOL, order_id=limit.order_id)
    await c("current_all_open_orders", symbol=SYMBOL)
    batch = [
        PlaceMultipleOrdersBatchOrdersParameterInner(
            symbol=SYMBOL, side="BUY", type="LIMIT", time_in_force="GTC", quantity=0.01,
            price=59000.0,
        )
    ]  # fmt: skip
    await c("place_multiple_orders", batch_orders=batch)
    await c("cancel_order", symbol=SYMBOL, order_id=limit.order_id)
    await c("cancel_all_open_orders", symbol=SYMBOL)
    await c("all_orders", symbol=SYMBOL)
    stop = await c(
        "new_algo_order", algo_type="CONDITIONAL", symbol=SYMBOL, side="SELL",
        type="STOP_MARKET", trigger_price="60000", quantity="0.010", reduce_only="true",
    )  # fmt: skip
    await c(
        "new_algo_order", algo_type="CONDITIONAL", symbol=SYMBOL, side="SELL",
        type="TRAILING_STOP_MARKET", callback_rate="1", quantity="0.010", reduce_only="true",
    )  # fmt: skip
    await c("query_algo_order", algo_id=stop.algo_id)
    await c("current_all_algo_open_orders", symbol=SYMBOL)
    await c("query_all_algo_orders", symbol=SYMBOL)
    await c("cancel_algo_order", algo_id=stop.algo_id)
    await c("cancel_all_algo_open_orders", symbol=SYMBOL)
    await c("new_order", symbol=SYMBOL, side="SELL", type="MARKET", quantity="0.005")
    await c("account_trade_list", symbol=SYMBOL)
    income = await c("get_income_history", symbol=SYMBOL)
    assert {r.income_type for r in income} == {"COMMISSION", "REALIZED_PNL"}
    # Balances, account, positions (a position is open).
    await c("futures_account_balance_v2")
    await c("futures_account_balance_v3")
    v2 = await c("account_information_v2")
    assert v2.can_trade is True and v2.assets[0].wallet_balance is not None
    v3 = await c("account_information_v3")
    assert [p.position_amt for p in v3.positions] == ["0.005"]
    await c("position_information_v2", symbol=SYMBOL)
    await c("position_information_v3", symbol=SYMBOL)
    # Listen keys.
    await c("start_user_data_stream")
    await c("keepalive_user_data_stream")
    await c("close_user_data_stream")
    assert c.errors == [], "\n".join(c.errors)
    assert c.called == served_names(USDM_PKG)
    assert sdk_log() == []


async def test_every_served_spot_method_answers_the_documented_shape(
    venue: Venue, monkeypatch: pytest.MonkeyPatch, sdk_log: Callable[[], list[str]]
) -> None:
    from binance_sdk_spot.spot import Spot

    api = Spot(config_rest_api=_config(venue)).rest_api
    c = Contract(api, SPOT_PKG, Recorder.install(monkeypatch))
    for step in ("65010", "65020", "65000"):
        venue.set_spot_price(SYMBOL, Decimal(step))
    await c("ping")
    await c("time")
    await c("exchange_info", symbol=SYMBOL)
    await c("ticker_price", symbol=SYMBOL)
    await c("ticker_book_ticker", symbol=SYMBOL)
    await c("depth", symbol=SYMBOL, limit=5)
    await c("ticker24hr", symbol=SYMBOL)
    await c("ticker24hr")
    klines = await c("klines", symbol=SYMBOL, interval="1m")
    assert klines and klines[-1][4] == "65000.00000000"
    await c("avg_price", symbol=SYMBOL)
    await c("get_trades", symbol=SYMBOL)
    await c("agg_trades", symbol=SYMBOL)
    await c("get_account")
    await c(
        "order_test", symbol=SYMBOL, side="SELL", type="LIMIT", quantity="0.01",
        price="66000", time_in_force="GTC",
    )  # fmt: skip
    stop = await c(
        "new_order", symbol=SYMBOL, side="SELL", type="STOP_LOSS_LIMIT", quantity="0.01",
        price="63900", stop_price="64000", time_in_force="GTC", new_client_order_id="exg-stop",
    )  # fmt: skip
    await c("new_order", symbol=SYMBOL, side="BUY", type="MARKET", quantity="0.01")
    await c("get_order", symbol=SYMBOL, order_id=stop.order_id)
    await c("get_open_orders", symbol=SYMBOL)
    await c("all_orders", symbol=SYMBOL)
    await c("my_trades", symbol=SYMBOL)
    await c(
        "order_cancel_replace", symbol=SYMBOL, side="SELL", type="STOP_LOSS_LIMIT",
        cancel_replace_mode="STOP_ON_FAILURE", time_in_force="GTC", quantity="0.01",
        price="63800", stop_price="63900", cancel_orig_client_order_id="exg-stop",
        new_client_order_id="exg-stop-2",
    )  # fmt: skip
    await c("delete_order", symbol=SYMBOL, orig_client_order_id="exg-stop-2")
    oco = await c(
        "order_list_oco", symbol=SYMBOL, side="SELL", quantity="0.01", above_type="LIMIT_MAKER",
        above_price="66000", below_type="STOP_LOSS_LIMIT", below_stop_price="64000",
        below_price="63900", below_time_in_force="GTC",
    )  # fmt: skip
    await c("get_order_list", order_list_id=oco.order_list_id)
    await c("open_order_list")
    await c("delete_order_list", symbol=SYMBOL, order_list_id=oco.order_list_id)
    await c(
        "order_list_oto", symbol=SYMBOL, working_type="LIMIT", working_side="BUY",
        working_price="64000", working_quantity="0.01", working_time_in_force="GTC",
        pending_type="STOP_LOSS", pending_side="SELL", pending_quantity="0.01",
        pending_stop_price="63000",
    )  # fmt: skip
    await c(
        "order_list_otoco", symbol=SYMBOL, working_type="LIMIT", working_side="BUY",
        working_price="64000", working_quantity="0.01", working_time_in_force="GTC",
        pending_side="SELL", pending_quantity="0.01", pending_above_type="LIMIT_MAKER",
        pending_above_price="67000", pending_below_type="STOP_LOSS",
        pending_below_stop_price="63000",
    )  # fmt: skip
    await c(
        "order_list_opo", symbol=SYMBOL, working_type="LIMIT", working_side="BUY",
        working_price="64000", working_quantity="0.01", working_time_in_force="GTC",
        pending_type="STOP_LOSS", pending_side="SELL", pending_stop_price="63000",
    )  # fmt: skip
    await c(
        "order_list_opoco", symbol=SYMBOL, working_type="LIMIT", working_side="BUY",
        working_price="64000", working_quantity="0.01", working_time_in_force="GTC",
        pending_side="SELL", pending_above_type="LIMIT_MAKER", pending_above_price="67000",
        pending_below_type="STOP_LOSS", pending_below_stop_price="63000",
    )  # fmt: skip
    await c(
        "order_oco", symbol=SYMBOL, side="SELL", quantity="0.01", price="66000",
        stop_price="64000", stop_limit_price="63900", stop_limit_time_in_force="GTC",
    )  # fmt: skip
    await c("all_order_list")
    await c("delete_open_orders", symbol=SYMBOL)
    assert c.errors == [], "\n".join(c.errors)
    # referencePrice always answers -2043 (the venue keeps no reference prices): no success
    # shape to check; tests/test_binance_2026_errors.py covers its error.
    assert c.called | {"reference_price"} == served_names(SPOT_PKG)
    assert sdk_log() == []


def test_trade_fee_is_served_for_spot_instrument_loading() -> None:
    """``/sapi/v1/asset/tradeFee`` is outside the Spot SDK: checked in test_venue_ccxt and
    here as a plain exchange call (nautilus loads no Spot instrument without it)."""
    from exitguard.venue.http import load_spot_exchange_info
    from exitguard.venue.spot.exchange import SpotExchange

    spot = SpotExchange(load_spot_exchange_info(), lambda: 1)
    acct = spot.create_account()
    rows = spot.trade_fee(acct, {"symbol": SYMBOL})
    assert rows == [
        {"symbol": SYMBOL, "makerCommission": "0.00100000", "takerCommission": "0.00100000"}
    ]


# -- the rules behind the new routes (exchange level, no HTTP) ---------------------------------


class _Clock:
    def __init__(self) -> None:
        self.t = 1_800_000_000_000

    def __call__(self) -> int:
        return self.t


@pytest.fixture
def usdm() -> tuple[Any, Any, list[dict[str, Any]], _Clock]:
    from importlib.resources import files

    from exitguard.venue.usdm import UsdmExchange

    doc = json.loads(files("exitguard").joinpath("fixtures/exchange_info/usdm.json").read_text())
    clock = _Clock()
    x = UsdmExchange(doc, clock)
    acct = x.create_account(Decimal(100_000))
    events: list[dict[str, Any]] = []
    x.subscribe(acct, events.append)
    return x, acct, events, clock


def _limit(x: Any, acct: Any, **over: str) -> dict[str, Any]:
    p = {"symbol": SYMBOL, "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
         "quantity": "0.010", "price": "60000.0", **over}  # fmt: skip
    return x.new_order(acct, p)  # type: ignore[no-any-return]


def _modify(x: Any, acct: Any, order_id: int, **over: str) -> dict[str, Any]:
    p = {"symbol": SYMBOL, "orderId": str(order_id), "side": "BUY", "quantity": "0.020",
         "price": "60100.0", **over}  # fmt: skip
    return x.modify_order(acct, p)  # type: ignore[no-any-return]


def test_modify_order_follows_binances_rules(usdm: Any) -> None:
    from exitguard.venue.errors import VenueError

    x, acct, events, _ = usdm
    order = _limit(x, acct)
    moved = _modify(x, acct, order["orderId"])
    assert (moved["status"], moved["price"], moved["origQty"]) == ("NEW", "60100.0", "0.020")
    assert events[-1]["o"]["x"] == "AMENDMENT" and events[-1]["o"]["i"] == order["orderId"]
    for over, code in (
        ({"price": "60100.0", "quantity": "0.020"}, -5027),  # nothing changes
        ({"side": "SELL"}, -1100),  # the order's side is part of the request
        ({"price": "60100.05"}, -4014),  # off the tick: refused, the order stays as it is
    ):
        with pytest.raises(VenueError) as e:
            _modify(x, acct, order["orderId"], **over)
        assert e.value.code == code, over
    assert x.query_order(acct, {"symbol": SYMBOL, "orderId": str(order["orderId"])})["price"] == (
        "60100.0"
    )
    # A modified price that crosses the book executes at once (here: fills).
    filled = _modify(x, acct, order["orderId"], price="66000.0")
    assert filled["status"] == "FILLED"
    with pytest.raises(VenueError) as e:
        _modify(x, acct, order["orderId"], price="60000.0")
    assert e.value.code == -2013  # a finished order cannot be modified
    # GTX: a new price that would take is not a modification, the order is CANCELED.
    post = _limit(x, acct, timeInForce="GTX")
    assert _modify(x, acct, post["orderId"], price="66000.0")["status"] == "CANCELED"
    market = x.new_order(
        acct, {"symbol": SYMBOL, "side": "BUY", "type": "MARKET", "quantity": "0.01"}
    )
    with pytest.raises(VenueError) as e:
        _modify(x, acct, market["orderId"])
    assert e.value.code == -2013


def test_trade_tape_is_bounded_and_deterministic(usdm: Any) -> None:
    from exitguard.venue.history import MAX_MINUTES, MAX_TRADES

    x, _, _, clock = usdm
    for n in range(MAX_TRADES + 500):
        clock.t += 30_000  # two trades a minute
        x.on_price(SYMBOL, last=Decimal(65_000 + n % 7), mark=None)
    tape = x.markets[SYMBOL].tape
    assert len(tape.trades) == MAX_TRADES and len(tape.minutes) <= MAX_MINUTES
    trades = x.trades(None, {"symbol": SYMBOL, "limit": "3"})
    assert [t["id"] for t in trades] == [MAX_TRADES + 498, MAX_TRADES + 499, MAX_TRADES + 500]
    hourly = x.klines(None, {"symbol": SYMBOL, "interval": "1h", "limit": "2"})
    assert hourly[0][8] == 120  # a full hour: 60 minutes x 2 trades
    assert hourly[0][6] - hourly[0][0] == 3_600_000 - 1
    stats = x.ticker_24hr(None, {"symbol": SYMBOL})
    assert (stats["highPrice"], stats["lowPrice"]) == ("65006", "65000")
    again = x.ticker_24hr(None, {"symbol": SYMBOL})
    assert again == stats  # same steps, same clock: same answer


def test_income_margin_type_and_multi_assets(usdm: Any) -> None:
    from exitguard.venue.errors import VenueError

    x, acct, _, _ = usdm
    x.new_order(acct, {"symbol": SYMBOL, "side": "BUY", "type": "MARKET", "quantity": "0.01"})
    x.on_price(SYMBOL, last=Decimal(66_000), mark=Decimal(66_000))
    x.new_order(acct, {"symbol": SYMBOL, "side": "SELL", "type": "MARKET", "quantity": "0.01"})
    kinds = [(r["incomeType"], r["income"][0] != "-") for r in x.income(acct, {})]
    assert kinds == [("COMMISSION", False), ("REALIZED_PNL", True), ("COMMISSION", False)]
    assert [r["incomeType"] for r in x.income(acct, {"incomeType": "REALIZED_PNL"})] == [
        "REALIZED_PNL"
    ]
    for params, code in (
        ({"symbol": SYMBOL, "marginType": "CROSSED"}, -4046),
        ({"symbol": SYMBOL, "marginType": "ISOLATED"}, -1000),
        ({"symbol": SYMBOL, "marginType": "X"}, -1116),
    ):
        with pytest.raises(VenueError) as e:
            x.set_margin_type(acct, params)
        assert e.value.code == code
    assert x.set_multi_assets(acct, {"multiAssetsMargin": "false"}) == {
        "code": 200,
        "msg": "success",
    }
    with pytest.raises(VenueError):
        x.set_multi_assets(acct, {"multiAssetsMargin": "true"})
    v3 = x.account_info_v3(acct, {})
    assert v3["positions"] == [] and v3["assets"][0]["walletBalance"] == v3["totalWalletBalance"]
    v2 = x.account_info(acct, {})
    assert {p["symbol"] for p in v2["positions"]} == set(x.markets)  # every symbol, as Binance
