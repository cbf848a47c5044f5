"""Fast paths of the request hot path equal the general code they stand in for.

- ``format_decimal``: the ``str()`` shortcut gives ``format(value, "f")``'s text.
- ``AlgoOrderRequest.to_query()`` is ``encode_query(to_params())`` (and so ``urlencode``).
- The written-out ``__init__`` of ``AlgoOrderRequest`` and ``MarketContext`` behaves as the
  generated frozen-dataclass one: signature, values, frozenness, copy, pickle, replace.
"""

from __future__ import annotations

import copy
import inspect
import pickle
from dataclasses import FrozenInstanceError, fields, replace
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exitguard.domain import (
    AlgoOrderRequest,
    AlgoOrderType,
    ClientAlgoId,
    MarketContext,
    PositionMode,
    PositionSide,
    Side,
    TimeInForce,
    WorkingType,
    format_decimal,
)
from exitguard.domain.enums import NewOrderRespType, PriceMatch, SelfTradePreventionMode
from exitguard.domain.wire import encode_query, query_text


class _SubDecimal(Decimal):
    """A Decimal subclass: takes format_decimal's general branch."""


def _reference_format_decimal(value: Decimal) -> str:
    """format_decimal as it was before the str() shortcut."""
    text = format(value, "f")
    if text.startswith("-") and value.is_zero():
        return text[1:]
    return text


ANY_DECIMAL = st.one_of(
    st.decimals(allow_nan=True, allow_infinity=True),
    st.decimals(min_value=-(10**25), max_value=10**25, places=12),
    st.builds(
        lambda c, e: Decimal(c).scaleb(e), st.integers(-(10**30), 10**30), st.integers(-40, 40)
    ),
    st.sampled_from(["0", "-0", "-0.000", "0E-10", "0E+3", "1E+2", "1E-7", "1E-6", "-1E-7"]).map(
        Decimal
    ),
)


@settings(max_examples=2000, deadline=None)
@given(ANY_DECIMAL)
def test_format_decimal_equals_plain_format(value: Decimal) -> None:
    assert format_decimal(value) == _reference_format_decimal(value)
    sub = _SubDecimal(value)
    assert format_decimal(sub) == _reference_format_decimal(sub)


@settings(max_examples=500, deadline=None)
@given(st.text())
def test_query_text_is_quote_plus(text: str) -> None:
    assert query_text(text) == urlencode({"k": text})[2:]


def _opt(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), strategy)


def _wire_decimals(base: st.SearchStrategy[Decimal]) -> st.SearchStrategy[Decimal]:
    return st.one_of(base, base.map(_SubDecimal))


TEXT = st.one_of(
    st.text(),
    st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef0123456789.:/_-", min_size=1, max_size=36),
    st.sampled_from(["BTCUSDT", "1000PEPEUSDT", "a b", "x&y=z", "é", "%41", "+", ""]),
)


def algo_requests(decimals: st.SearchStrategy[Decimal]) -> st.SearchStrategy[AlgoOrderRequest]:
    """Every field, present or not, with any value of its type."""
    wire_decimal = _wire_decimals(decimals)
    return st.builds(
        AlgoOrderRequest,
        symbol=TEXT,
        side=st.sampled_from(Side),
        type=st.sampled_from(AlgoOrderType),
        position_side=_opt(st.sampled_from(PositionSide)),
        time_in_force=_opt(st.sampled_from(TimeInForce)),
        quantity=_opt(wire_decimal),
        quote_order_qty=_opt(wire_decimal),
        price=_opt(wire_decimal),
        trigger_price=_opt(wire_decimal),
        working_type=_opt(st.sampled_from(WorkingType)),
        price_match=_opt(st.sampled_from(PriceMatch)),
        close_position=_opt(st.booleans()),
        price_protect=_opt(st.booleans()),
        reduce_only=_opt(st.booleans()),
        activate_price=_opt(wire_decimal),
        callback_rate=_opt(wire_decimal),
        client_algo_id=_opt(TEXT.map(ClientAlgoId)),
        new_order_resp_type=_opt(st.sampled_from(NewOrderRespType)),
        self_trade_prevention_mode=_opt(st.sampled_from(SelfTradePreventionMode)),
        good_till_date=_opt(st.integers(-(2**70), 2**70)),
    )


@settings(max_examples=1500, deadline=None)
@given(algo_requests(ANY_DECIMAL))
def test_to_query_equals_encode_query_of_to_params(req: AlgoOrderRequest) -> None:
    params = req.to_params()
    assert req.to_query() == encode_query(params) == urlencode(params)


def test_to_query_of_a_typical_exit() -> None:
    req = AlgoOrderRequest(
        symbol="BTCUSDT",
        side=Side.SELL,
        type=AlgoOrderType.TAKE_PROFIT,
        quantity=Decimal("0.010"),
        price=Decimal("60000.0"),
        trigger_price=Decimal("60000.5"),
        reduce_only=True,
        client_algo_id=ClientAlgoId("exg-abc:def/1"),
        new_order_resp_type=NewOrderRespType.RESULT,
    )
    assert req.to_query() == (
        "algoType=CONDITIONAL&symbol=BTCUSDT&side=SELL&type=TAKE_PROFIT&quantity=0.010"
        "&price=60000.0&triggerPrice=60000.5&reduceOnly=true&clientAlgoId=exg-abc%3Adef%2F1"
        "&newOrderRespType=RESULT"
    )


@pytest.mark.parametrize("cls", [AlgoOrderRequest, MarketContext])
def test_init_signature_is_the_generated_one(cls: type) -> None:
    """Same parameters, order, defaults and annotations as the dataclass fields say."""
    params = list(inspect.signature(cls).parameters.values())
    assert [p.name for p in params] == [f.name for f in fields(cls)]
    assert [p.default for p in params] == [
        inspect.Parameter.empty if f.default is f.default_factory else f.default
        for f in fields(cls)
    ]
    assert [p.annotation for p in params] == [f.type for f in fields(cls)]
    assert {p.kind for p in params} == {inspect.Parameter.POSITIONAL_OR_KEYWORD}


def _check_dataclass_behaviour(obj: Any, values: dict[str, Any]) -> None:
    cls = type(obj)
    for name, value in values.items():
        assert getattr(obj, name) is value
    again = cls(**values)
    positional = cls(*values.values())
    assert obj == again == positional
    assert hash(obj) == hash(again)
    assert repr(obj) == repr(positional)
    assert replace(obj) == obj
    assert copy.copy(obj) == obj
    assert copy.deepcopy(obj) == obj
    assert pickle.loads(pickle.dumps(obj)) == obj
    for name in values:
        with pytest.raises(FrozenInstanceError):
            setattr(obj, name, None)
        with pytest.raises(FrozenInstanceError):
            delattr(obj, name)


@settings(max_examples=300, deadline=None)
@given(algo_requests(st.decimals(allow_nan=False)))
def test_algo_request_init_behaves_as_generated(req: AlgoOrderRequest) -> None:
    values = {f.name: getattr(req, f.name) for f in fields(req)}
    _check_dataclass_behaviour(req, values)


def test_algo_request_init_requires_symbol_side_type() -> None:
    with pytest.raises(TypeError):
        AlgoOrderRequest(symbol="BTCUSDT", side=Side.BUY)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        AlgoOrderRequest("BTCUSDT", Side.BUY, AlgoOrderType.STOP, *([None] * 18))  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        AlgoOrderRequest("BTCUSDT", Side.BUY, AlgoOrderType.STOP, pirce=1)  # type: ignore[call-arg]


@settings(max_examples=200, deadline=None)
@given(
    last=_opt(st.decimals(allow_nan=False)),
    mark=_opt(st.decimals(allow_nan=False)),
    now=_opt(st.integers()),
    mode=st.sampled_from(PositionMode),
    orders=_opt(st.integers(0, 500)),
    algo=_opt(st.integers(0, 500)),
)
def test_market_context_init_behaves_as_generated(
    last: Decimal | None,
    mark: Decimal | None,
    now: int | None,
    mode: PositionMode,
    orders: int | None,
    algo: int | None,
) -> None:
    values = {
        "last_price": last,
        "mark_price": mark,
        "now_ms": now,
        "position_mode": mode,
        "open_orders": orders,
        "open_algo_orders": algo,
    }
    _check_dataclass_behaviour(MarketContext(**values), values)


def test_market_context_defaults() -> None:
    ctx = MarketContext()
    assert (ctx.last_price, ctx.mark_price, ctx.now_ms, ctx.open_orders) == (None,) * 4
    assert ctx.position_mode is PositionMode.ONE_WAY and ctx.open_algo_orders is None
