"""Property tests: quantised orders pass their filters, wire round-trips, parsing never raises."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from exitguard.domain import (
    BINANCE,
    PRIMIT,
    AlgoOrderRequest,
    AlgoOrderType,
    ClientIdGenerator,
    FuturesOrderRequest,
    MarketContext,
    OcoLeg,
    OrderKind,
    PositionSide,
    Side,
    SpotOcoRequest,
    SpotOrderRequest,
    SpotOrderType,
    TimeInForce,
    WorkingType,
    check_order,
)
from exitguard.domain.enums import FuturesOrderType
from exitguard.domain.quantize_requests import quantize_request
from exitguard.domain.requests import ListLeg, SpotOtocoRequest, SpotOtoRequest
from exitguard.domain.validation import validate_algo_order, validate_spot_order

SETTINGS = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

USDM_SYMBOLS = ["BTCUSDT", "ETHUSDT", "SOLUSDT", "DOGEUSDT", "1000PEPEUSDT"]
SPOT_SYMBOLS = ["BTCUSDT", "ETHUSDT", "SOLUSDT", "DOGEUSDT", "PEPEUSDT"]
FILTER_CODES = {-1013, -4013, -4002, -4014, -4007, -4004, -4005, -4023, -4164, -4016, -4024}


def _within(draw, low: Decimal, high: Decimal) -> Decimal:
    """A decimal in [low, high] with more precision than any grid, so quantisation has work."""
    frac = draw(st.integers(min_value=0, max_value=10**12))
    return low + (high - low) * Decimal(frac) / Decimal(10**12)


@st.composite
def exit_orders(draw, exchange, symbols):
    symbol = draw(st.sampled_from(symbols))
    rules = exchange.get(symbol)
    pf, lot = rules.price_filter, rules.lot_size
    # Prices well inside the filter so rounding cannot leave it; sizes above min notional.
    price = _within(draw, pf.min_price * 20 + pf.tick_size * 10, pf.min_price * 200)
    min_qty = max(lot.min_qty, (rules.notional.min_notional or Decimal(0)) / price * 2)
    qty = _within(draw, min_qty + lot.step_size, min_qty * 10 + lot.step_size * 10)
    return symbol, draw(st.sampled_from(list(Side))), price, qty


@SETTINGS
@given(data=st.data())
def test_quantised_algo_order_passes_its_filters(data, usdm):
    symbol, side, price, qty = data.draw(exit_orders(usdm, USDM_SYMBOLS))
    rules = usdm.get(symbol)
    order_type = data.draw(st.sampled_from(list(AlgoOrderType)))
    fields: dict = {"symbol": symbol, "side": side, "type": order_type, "quantity": qty}
    if order_type in (AlgoOrderType.STOP, AlgoOrderType.TAKE_PROFIT):
        fields["price"] = price
        fields["time_in_force"] = TimeInForce.GTC
    if order_type is AlgoOrderType.TRAILING_STOP_MARKET:
        fields.update(activate_price=price, callback_rate=Decimal("1"))
    else:
        fields["trigger_price"] = price * Decimal("0.999")
    req, _ = quantize_request(AlgoOrderRequest(**fields), rules)
    found = validate_algo_order(req, rules, MarketContext())
    assert [v for v in found if v.code in FILTER_CODES] == []
    assert found == []


@SETTINGS
@given(data=st.data())
def test_quantised_spot_order_passes_its_filters(data, spot):
    symbol, side, price, qty = data.draw(exit_orders(spot, SPOT_SYMBOLS))
    rules = spot.get(symbol)
    order_type = data.draw(
        st.sampled_from(
            [SpotOrderType.LIMIT, SpotOrderType.STOP_LOSS_LIMIT, SpotOrderType.TAKE_PROFIT_LIMIT]
        )
    )
    fields: dict = {
        "symbol": symbol,
        "side": side,
        "type": order_type,
        "quantity": qty,
        "price": price,
        "time_in_force": TimeInForce.GTC,
    }
    if order_type is not SpotOrderType.LIMIT:
        fields["stop_price"] = price * Decimal("1.001")
    req, _ = quantize_request(SpotOrderRequest(**fields), rules)
    assert validate_spot_order(req, rules, MarketContext(open_orders=0)) == []


decimals = st.decimals(min_value=Decimal("0.00000001"), max_value=Decimal("99999999"), places=8)
ids = st.builds(lambda: ClientIdGenerator().algo_id())


@st.composite
def algo_requests(draw):
    return AlgoOrderRequest(
        symbol=draw(st.sampled_from(USDM_SYMBOLS)),
        side=draw(st.sampled_from(list(Side))),
        type=draw(st.sampled_from(list(AlgoOrderType))),
        position_side=draw(st.none() | st.sampled_from(list(PositionSide))),
        time_in_force=draw(st.none() | st.sampled_from(list(TimeInForce))),
        quantity=draw(st.none() | decimals),
        price=draw(st.none() | decimals),
        trigger_price=draw(st.none() | decimals),
        working_type=draw(st.none() | st.sampled_from(list(WorkingType))),
        close_position=draw(st.none() | st.booleans()),
        price_protect=draw(st.none() | st.booleans()),
        reduce_only=draw(st.none() | st.booleans()),
        activate_price=draw(st.none() | decimals),
        callback_rate=draw(st.none() | decimals),
        client_algo_id=draw(st.none() | ids),
        good_till_date=draw(st.none() | st.integers(0, 2**62)),
    )


@SETTINGS
@given(algo_requests())
def test_algo_request_round_trips(req):
    params = req.to_params()
    assert all(isinstance(v, str) and v for v in params.values())
    assert not any("E" in params.get(k, "") for k in ("quantity", "price", "triggerPrice"))
    parsed = AlgoOrderRequest.from_params(params)
    assert parsed.violations == []
    assert parsed.request == req
    assert parsed.request.to_params() == params
    assert type(parsed.request.client_algo_id) is type(req.client_algo_id)


legs = st.builds(
    OcoLeg,
    type=st.sampled_from(list(SpotOrderType)),
    price=st.none() | decimals,
    stop_price=st.none() | decimals,
    trailing_delta=st.none() | st.integers(1, 5000),
    time_in_force=st.none() | st.sampled_from([TimeInForce.GTC, TimeInForce.IOC]),
)
list_legs = st.builds(
    ListLeg,
    type=st.sampled_from(list(SpotOrderType)),
    side=st.sampled_from(list(Side)),
    quantity=st.none() | decimals,
    price=st.none() | decimals,
    time_in_force=st.none() | st.sampled_from([TimeInForce.GTC]),
)


@SETTINGS
@given(
    spot_order=st.builds(
        SpotOrderRequest,
        symbol=st.just("BTCUSDT"),
        side=st.sampled_from(list(Side)),
        type=st.sampled_from(list(SpotOrderType)),
        quantity=st.none() | decimals,
        price=st.none() | decimals,
        stop_price=st.none() | decimals,
        trailing_delta=st.none() | st.integers(1, 9999),
    ),
    futures=st.builds(
        FuturesOrderRequest,
        symbol=st.just("BTCUSDT"),
        side=st.sampled_from(list(Side)),
        type=st.sampled_from(list(FuturesOrderType)),
        quantity=st.none() | decimals,
        reduce_only=st.none() | st.booleans(),
    ),
    oco=st.builds(
        SpotOcoRequest,
        symbol=st.just("BTCUSDT"),
        side=st.sampled_from(list(Side)),
        quantity=decimals,
        above=legs,
        below=legs,
    ),
    oto_working=list_legs,
    oto_pending=list_legs,
    otoco_above=legs,
    otoco_below=legs,
)
def test_every_model_round_trips(
    spot_order, futures, oco, oto_working, oto_pending, otoco_above, otoco_below
):
    # The OTO working leg has no stop fields on the wire, so none are generated for it.
    oto = SpotOtoRequest(symbol="BTCUSDT", working=oto_working, pending=oto_pending)
    otoco = SpotOtocoRequest(
        symbol="BTCUSDT",
        working=oto_working,
        pending_side=Side.SELL,
        pending_quantity=Decimal("1"),
        pending_above=otoco_above,
        pending_below=otoco_below,
    )
    for req in (spot_order, futures, oco, oto, otoco):
        parsed = type(req).from_params(req.to_params())
        assert parsed.violations == []
        assert parsed.request == req


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=30)
    | st.decimals(allow_nan=True, allow_infinity=True),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)
known_keys = st.sampled_from(
    [
        "symbol",
        "side",
        "type",
        "quantity",
        "price",
        "triggerPrice",
        "stopPrice",
        "closePosition",
        "reduceOnly",
        "positionSide",
        "timeInForce",
        "goodTillDate",
        "callbackRate",
        "activatePrice",
        "clientAlgoId",
        "algoType",
        "quoteOrderQty",
        "trailingDelta",
        "aboveType",
        "belowType",
        "abovePrice",
        "belowStopPrice",
        "workingType",
        "pendingType",
        "pendingAboveType",
    ]
)
plausible = st.sampled_from(
    [
        "BTCUSDT",
        "SELL",
        "BUY",
        "STOP_MARKET",
        "TAKE_PROFIT",
        "LIMIT",
        "STOP_LOSS_LIMIT",
        "LIMIT_MAKER",
        "true",
        "GTD",
        "0.001",
        "60000",
        "1e5",
        "-3",
        "",
        "CONDITIONAL",
        "LONG",
    ]
)


@example(  # found by CI: a signalling NaN in an integer field
    kind=OrderKind.SPOT,
    params={
        "symbol": "BTCUSDT",
        "side": "SELL",
        "type": "STOP_LOSS",
        "trailingDelta": Decimal("sNaN"),
    },
    last=None,
    primit=False,
)
@settings(
    max_examples=500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    kind=st.sampled_from(list(OrderKind)),
    params=st.dictionaries(known_keys, plausible | json_values, max_size=12) | json_values,
    last=st.none() | st.decimals(min_value=0, max_value=10**7, places=2),
    primit=st.booleans(),
)
def test_check_never_raises(kind, params, last, primit, usdm, spot):
    exchange = usdm if kind.value.startswith("usdm") else spot
    ctx = MarketContext(last_price=last, mark_price=last, now_ms=1_800_000_000_000)
    result = check_order(kind, params, exchange, ctx, PRIMIT if primit else BINANCE)
    assert isinstance(result.violations, list)
    assert result.ok == (result.request is not None and not result.violations)
    for v in result.violations:
        assert isinstance(v.code, int) and v.code < 0 and v.message


@settings(max_examples=400, deadline=None)
@given(
    st.dictionaries(st.text(max_size=8), st.text(max_size=12), max_size=6)
    | st.dictionaries(
        st.from_regex(r"[a-zA-Z]{1,8}", fullmatch=True),
        st.from_regex(r"[A-Za-z0-9_.~-]{0,12}", fullmatch=True),
        max_size=6,
    )
)
def test_encode_query_is_urlencode(params):
    from urllib.parse import urlencode

    from exitguard.domain.wire import encode_query

    assert encode_query(params) == urlencode(params)
