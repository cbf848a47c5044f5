"""The clean-order pass of validate_algo_order never changes a verdict.

``validate_algo_order`` first asks ``algo_order_is_clean`` and answers ``[]`` when it says yes;
otherwise it runs every rule. These tests hold the public function equal to the all-rules path
(``_all_algo_violations``) on valid and invalid orders, rules, contexts, dialects, names and
skips, and check that the pass does say yes for ordinary exits (it is not dead code).
"""

from __future__ import annotations

import gc
from dataclasses import fields as dataclass_fields
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import load_rules
from exitguard.domain import (
    BINANCE,
    PRIMIT,
    AlgoOrderRequest,
    AlgoOrderType,
    ClientAlgoId,
    ExchangeRules,
    MarketContext,
    PositionMode,
    PositionSide,
    Product,
    Side,
    SymbolRules,
    TimeInForce,
    WorkingType,
)
from exitguard.domain.enums import (
    FuturesOrderType,
    NewOrderRespType,
    PriceMatch,
    SelfTradePreventionMode,
    SpotOrderType,
)
from exitguard.domain.filters import LotSizeFilter, MaxNumFilter, NotionalFilter, PriceFilter
from exitguard.domain.requests import FuturesOrderRequest, SpotOrderRequest
from exitguard.domain.validation import Names, algo_fast, validate_algo_order
from exitguard.domain.validation.algo_fast import algo_order_is_clean
from exitguard.domain.validation.context import PLAIN
from exitguard.domain.validation.spot import validate_spot_order
from exitguard.domain.validation.usdm import (
    _NAMES_LEGACY,
    _all_algo_violations,
    validate_futures_order,
)

SETTINGS = settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
BTC: SymbolRules = load_rules(Product.USDM).symbols["BTCUSDT"]


def _variants(base: SymbolRules) -> list[SymbolRules]:
    pf, lot = base.price_filter, base.lot_size
    assert pf is not None and lot is not None
    return [
        base,
        replace(base, status="BREAK"),
        replace(base, order_types=frozenset({"LIMIT", "MARKET", "STOP_MARKET", "TAKE_PROFIT"})),
        replace(base, order_types=frozenset()),
        replace(base, time_in_force=frozenset({"GTC"})),
        replace(base, time_in_force=frozenset()),
        replace(base, price_filter=None, market_lot_size=None, max_num_orders=None),
        replace(base, price_filter=PriceFilter(Decimal(0), Decimal(0), Decimal(0))),
        replace(base, price_filter=PriceFilter(Decimal(0), Decimal("70000"), Decimal("0.5"))),
        replace(base, lot_size=None, notional=None),
        replace(base, lot_size=LotSizeFilter(Decimal(0), Decimal(0), Decimal(0))),
        replace(base, market_lot_size=LotSizeFilter(Decimal(0), Decimal(0), Decimal(0))),
        replace(base, max_num_orders=MaxNumFilter("MAX_NUM_ORDERS", 5)),
        replace(
            base,
            notional=NotionalFilter("NOTIONAL", Decimal(10), Decimal(5000), False, True, None),
        ),
        replace(
            base,
            notional=NotionalFilter("NOTIONAL", None, Decimal(1000), True, False, None),
        ),
        replace(base, product=Product.SPOT),
    ]


RULES = _variants(BTC)
NAMES = [PLAIN, _NAMES_LEGACY, Names(prefix="pending")]
SKIPS = [frozenset(), frozenset({"quantity", "price", "triggerPrice", "callbackRate"})]


def _ticks(low: int, high: int, places: int = 1) -> st.SearchStrategy[Decimal]:
    return st.integers(low, high).map(lambda k: Decimal(k).scaleb(-places))


# Prices around 60000 on the 0.1 grid (from minPrice 556.80), near it, and at the edges.
PRICE = st.one_of(
    _ticks(550_000, 700_000),
    _ticks(5_500_000, 7_000_000, 2),
    st.sampled_from(["0", "-1", "556.8", "556.7", "4529764", "4529764.1", "1E+3", "60000.10"]).map(
        Decimal
    ),
)
QTY = st.one_of(
    _ticks(1, 200_000, 3),
    _ticks(1, 20_000, 4),
    st.sampled_from(["0", "-0.001", "0.001", "120", "120.001", "1000", "1000.001"]).map(Decimal),
)
CALLBACK = st.one_of(_ticks(0, 250), st.sampled_from([Decimal("0.05"), Decimal("20.0")]))
CLIENT_ID = st.sampled_from(["exg-abc", "a:b/c.d_e-f", "bad id!", "x" * 37, ""]).map(ClientAlgoId)


def _opt(strategy: st.SearchStrategy[Any], none_weight: int = 1) -> st.SearchStrategy[Any]:
    return st.one_of(*([st.none()] * none_weight), strategy)


ANY_ORDER = st.builds(
    AlgoOrderRequest,
    symbol=st.just("BTCUSDT"),
    side=st.sampled_from(Side),
    type=st.sampled_from(AlgoOrderType),
    position_side=_opt(st.sampled_from(PositionSide), 3),
    time_in_force=_opt(st.sampled_from(TimeInForce), 3),
    quantity=_opt(QTY),
    quote_order_qty=_opt(QTY, 4),
    price=_opt(PRICE),
    trigger_price=_opt(PRICE),
    working_type=_opt(st.sampled_from(WorkingType)),
    price_match=_opt(st.sampled_from(PriceMatch), 4),
    close_position=_opt(st.booleans()),
    price_protect=_opt(st.booleans()),
    reduce_only=_opt(st.booleans()),
    activate_price=_opt(PRICE, 2),
    callback_rate=_opt(CALLBACK, 2),
    client_algo_id=_opt(CLIENT_ID),
    good_till_date=_opt(st.integers(1_700_000_000_000, 1_700_002_000_000), 3),
)


@st.composite
def plausible_cases(draw: st.DrawFn) -> tuple[AlgoOrderRequest, MarketContext]:
    """An exit built the way the planner builds one, against a market it does not trigger in:
    most pass every rule, so the clean pass is exercised; then one field may be disturbed."""
    t = draw(st.sampled_from(AlgoOrderType))
    side = draw(st.sampled_from(Side))
    mode = draw(st.sampled_from(PositionMode))
    last = draw(_ticks(550_000, 700_000))
    mark = draw(_opt(_ticks(55_000_000, 70_000_000, 3)))
    offset = draw(_ticks(1, 5_000))
    rising = (t in (AlgoOrderType.STOP, AlgoOrderType.STOP_MARKET)) is (side is Side.BUY)
    trigger = last + offset if rising else last - offset
    fields: dict[str, Any] = {"symbol": "BTCUSDT", "side": side, "type": t}
    if t is AlgoOrderType.TRAILING_STOP_MARKET:
        fields["callback_rate"] = draw(_ticks(1, 100))
        activate = last - offset if side is Side.BUY else last + offset
        fields["activate_price"] = draw(_opt(st.just(activate)))
    else:
        fields["trigger_price"] = trigger
    if t in (AlgoOrderType.STOP, AlgoOrderType.TAKE_PROFIT):
        fields["price"] = draw(st.one_of(st.just(trigger), _ticks(550_000, 700_000)))
    if t in (AlgoOrderType.STOP_MARKET, AlgoOrderType.TAKE_PROFIT_MARKET) and draw(st.booleans()):
        fields["close_position"] = True
    else:
        fields["quantity"] = draw(_ticks(1, 100_000, 3))
        if mode is PositionMode.ONE_WAY:
            fields["reduce_only"] = draw(_opt(st.booleans()))
    if mode is PositionMode.HEDGE:
        fields["position_side"] = draw(st.sampled_from([PositionSide.LONG, PositionSide.SHORT]))
    else:
        fields["position_side"] = draw(_opt(st.just(PositionSide.BOTH), 3))
    fields["working_type"] = draw(_opt(st.just(WorkingType.CONTRACT_PRICE)))
    fields["client_algo_id"] = draw(_opt(st.just(ClientAlgoId("exg-a1:b/2"))))
    fields["time_in_force"] = draw(_opt(st.sampled_from([TimeInForce.GTC, TimeInForce.GTD]), 3))
    if fields["time_in_force"] is TimeInForce.GTD:
        fields["good_till_date"] = 1_700_000_000_000 + draw(st.integers(0, 2_000_000))
    # One disturbance in four: any field to any value the broad strategy would give it.
    if draw(st.integers(0, 3)) == 0:
        other = draw(ANY_ORDER)
        name = draw(st.sampled_from(sorted(set(_field_names(other)) - {"symbol"})))
        fields[name] = getattr(other, name)
    ctx = MarketContext(
        last_price=last,
        mark_price=mark,
        now_ms=1_700_000_000_000,
        position_mode=mode,
        open_orders=draw(_opt(st.sampled_from([0, 4, 5, 199, 200]), 3)),
        open_algo_orders=draw(_opt(st.sampled_from([0, 199, 200]), 3)),
    )
    return AlgoOrderRequest(**fields), ctx


def _field_names(req: AlgoOrderRequest) -> list[str]:
    return [f.name for f in dataclass_fields(req)]


CONTEXTS = st.builds(
    MarketContext,
    last_price=_opt(_ticks(550_000, 700_000), 1),
    mark_price=_opt(_ticks(55_000_000, 70_000_000, 3), 2),
    now_ms=_opt(st.just(1_700_000_000_000)),
    position_mode=st.sampled_from(PositionMode),
    open_orders=_opt(st.sampled_from([0, 4, 5, 199, 200])),
    open_algo_orders=_opt(st.sampled_from([0, 199, 200])),
)


def _same_verdict(
    req: AlgoOrderRequest,
    rules: SymbolRules,
    ctx: MarketContext,
    dialect: Any,
    skip: Any,
    names: Names,
) -> bool:
    full = _all_algo_violations(req, rules, ctx, dialect, skip, names)
    assert validate_algo_order(req, rules, ctx, dialect, skip, names) == full
    clean = algo_order_is_clean(req, rules, ctx, dialect)
    if clean:
        assert full == []
    return clean


@SETTINGS
@given(
    req=ANY_ORDER,
    rules=st.sampled_from(RULES),
    ctx=CONTEXTS,
    dialect=st.sampled_from([BINANCE, PRIMIT]),
    skip=st.sampled_from(SKIPS),
    names=st.sampled_from(NAMES),
)
def test_any_order_same_violations(req, rules, ctx, dialect, skip, names) -> None:
    _same_verdict(req, rules, ctx, dialect, skip, names)


@SETTINGS
@given(
    case=plausible_cases(),
    rules=st.sampled_from([BTC, BTC, BTC, *RULES]),
    dialect=st.sampled_from([BINANCE, PRIMIT]),
    names=st.sampled_from(NAMES),
)
def test_plausible_order_same_violations(case, rules, dialect, names) -> None:
    req, ctx = case
    _same_verdict(req, rules, ctx, dialect, frozenset(), names)


def test_clean_pass_takes_ordinary_exits(usdm: ExchangeRules) -> None:
    """Valid exits of every type, both sides and both position modes go through the pass."""
    last = Decimal("60000.0")
    hits = 0
    for side in Side:
        for t in AlgoOrderType:
            rising = (t in (AlgoOrderType.STOP, AlgoOrderType.STOP_MARKET)) is (side is Side.BUY)
            trigger = last + (Decimal("150.0") if rising else Decimal("-150.0"))
            for mode, ps in ((PositionMode.ONE_WAY, None), (PositionMode.HEDGE, PositionSide.LONG)):
                fields: dict[str, Any] = {"symbol": "BTCUSDT", "side": side, "type": t}
                fields["position_side"] = ps
                if t is AlgoOrderType.TRAILING_STOP_MARKET:
                    fields["callback_rate"] = Decimal("1.5")
                    fields["activate_price"] = last + (
                        Decimal("-10") if side is Side.BUY else Decimal("10")
                    )
                else:
                    fields["trigger_price"] = trigger
                if t in (AlgoOrderType.STOP, AlgoOrderType.TAKE_PROFIT):
                    fields["price"] = trigger
                fields["quantity"] = Decimal("0.010")
                if mode is PositionMode.ONE_WAY:
                    fields["reduce_only"] = True
                fields["client_algo_id"] = ClientAlgoId("exg-0123456789abcdefghijkl")
                req = AlgoOrderRequest(**fields)
                ctx = MarketContext(last_price=last, position_mode=mode, open_algo_orders=3)
                assert _same_verdict(req, usdm.symbols["BTCUSDT"], ctx, BINANCE, (), PLAIN)
                hits += 1
    assert hits == 20


def test_close_position_exit_is_clean(usdm: ExchangeRules) -> None:
    req = AlgoOrderRequest(
        symbol="BTCUSDT",
        side=Side.SELL,
        type=AlgoOrderType.STOP_MARKET,
        trigger_price=Decimal("59000.0"),
        close_position=True,
    )
    ctx = MarketContext(last_price=Decimal("60000"))
    assert _same_verdict(req, usdm.symbols["BTCUSDT"], ctx, BINANCE, (), PLAIN)


@pytest.mark.parametrize("bad", ["NaN", "sNaN", "Infinity", "-Infinity"])
def test_values_the_rules_cannot_compare_are_reported_not_raised(bad: str) -> None:
    """A NaN or infinite number built in code (``from_params`` refuses them) is a -1100 naming
    the field, for every validator; no rule that would compare it runs, nothing raises."""
    ctx = MarketContext(last_price=Decimal("60000"))
    req = AlgoOrderRequest(
        symbol="BTCUSDT",
        side=Side.SELL,
        type=AlgoOrderType.STOP_MARKET,
        trigger_price=Decimal(bad),
        close_position=True,
    )
    assert not algo_order_is_clean(req, BTC, ctx, BINANCE)
    [v] = validate_algo_order(req, BTC, ctx)
    assert (v.code, v.field, v.rule) == (-1100, "triggerPrice", "triggerPrice.decimal")
    [legacy] = validate_algo_order(req, BTC, ctx, names=_NAMES_LEGACY)
    assert legacy.field == "stopPrice"
    order = FuturesOrderRequest(
        symbol="BTCUSDT",
        side=Side.SELL,
        type=FuturesOrderType.LIMIT,
        time_in_force=TimeInForce.GTC,
        quantity=Decimal(bad),
        price=Decimal("60000"),
    )
    assert [(v.code, v.field) for v in validate_futures_order(order, BTC, ctx)] == [
        (-1100, "quantity")
    ]
    spot = SpotOrderRequest(
        symbol="BTCUSDT",
        side=Side.SELL,
        type=SpotOrderType.STOP_LOSS,
        quantity=Decimal("0.01"),
        stop_price=Decimal(bad),
    )
    spot_rules = load_rules(Product.SPOT).symbols["BTCUSDT"]
    assert [(v.code, v.field) for v in validate_spot_order(spot, spot_rules, ctx)] == [
        (-1100, "stopPrice")
    ]


def test_prepared_rules_follow_the_rules_object() -> None:
    """Each rules object gets its own prepared bounds; they go when the rules object goes."""
    rules = replace(BTC)
    req = AlgoOrderRequest(
        symbol="BTCUSDT",
        side=Side.SELL,
        type=AlgoOrderType.STOP_MARKET,
        trigger_price=Decimal("59000.0"),
        close_position=True,
    )
    ctx = MarketContext(last_price=Decimal("60000"))
    assert validate_algo_order(req, rules, ctx) == []
    halted = replace(rules, status="BREAK")
    assert [v.rule for v in validate_algo_order(req, halted, ctx)] == ["symbol.status"]
    assert validate_algo_order(req, rules, ctx) == []
    key = id(halted)
    assert key in algo_fast._PLANS
    del halted
    gc.collect()
    assert key not in algo_fast._PLANS


def _clean_exits() -> list[tuple[AlgoOrderRequest, MarketContext]]:
    """One valid exit per type, side and position mode, with a mark price sitting on the
    trigger, so switching to MARK_PRICE alone makes it fire."""
    last = Decimal("60000.0")
    out = []
    for side in Side:
        for t in AlgoOrderType:
            rising = (t in (AlgoOrderType.STOP, AlgoOrderType.STOP_MARKET)) is (side is Side.BUY)
            trigger = last + (Decimal("150.0") if rising else Decimal("-150.0"))
            for mode in PositionMode:
                fields: dict[str, Any] = {"symbol": "BTCUSDT", "side": side, "type": t}
                if mode is PositionMode.HEDGE:
                    fields["position_side"] = PositionSide.SHORT
                if t is AlgoOrderType.TRAILING_STOP_MARKET:
                    fields["callback_rate"] = Decimal("1.5")
                    fields["activate_price"] = last + (
                        Decimal("-10.0") if side is Side.BUY else Decimal("10.0")
                    )
                else:
                    fields["trigger_price"] = trigger
                if t in (AlgoOrderType.STOP, AlgoOrderType.TAKE_PROFIT):
                    fields["price"] = trigger
                fields["quantity"] = Decimal("0.010")
                fields["client_algo_id"] = ClientAlgoId("exg-0123456789abcdefghijkl")
                ctx = MarketContext(
                    last_price=last,
                    mark_price=fields.get("activate_price", trigger),
                    now_ms=1_700_000_000_000,
                    position_mode=mode,
                    open_orders=10,
                    open_algo_orders=10,
                )
                out.append((AlgoOrderRequest(**fields), ctx))
    return out


_D = Decimal
_ALTERNATIVES: dict[str, list[Any]] = {
    "side": list(Side),
    "type": list(AlgoOrderType),
    "position_side": [None, *PositionSide],
    "time_in_force": [None, *TimeInForce],
    "quantity": [None, *map(_D, ["0.001", "0", "-0.001", "0.0015", "120", "120.001", "1000.001"])],
    "quote_order_qty": [None, _D("0.010"), _D("100")],
    "price": [None, *map(_D, ["59850.0", "60150.0", "60000.05", "0", "556.7", "4529764.1"])],
    "trigger_price": [None, *map(_D, ["59850.0", "60150.0", "60000.0", "60000.05", "0"])],
    "working_type": [None, *WorkingType],
    "price_match": [None, PriceMatch.OPPONENT],
    "close_position": [None, True, False],
    "price_protect": [None, True, False],
    "reduce_only": [None, True, False],
    "activate_price": [None, *map(_D, ["59990.0", "60010.0", "60000.0", "60000.05"])],
    "callback_rate": [None, *map(_D, ["0.05", "0.1", "10", "10.1", "20", "20.1"])],
    "client_algo_id": [None, *map(ClientAlgoId, ["exg-x", "bad id!", "x" * 37])],
    "new_order_resp_type": [None, *NewOrderRespType],
    "self_trade_prevention_mode": [None, SelfTradePreventionMode.EXPIRE_MAKER],
    "good_till_date": [None, 1_700_000_600_000, 1_700_000_600_001, 253_402_300_799_000],
}
_CTX_ALTERNATIVES: dict[str, list[Any]] = {
    "last_price": [None, _D("59850.0"), _D("60150.0"), _D("70000")],
    "mark_price": [None, _D("60000"), _D("59850.04"), _D("60150.09")],
    "now_ms": [None],
    "position_mode": list(PositionMode),
    "open_orders": [None, 199, 200],
    "open_algo_orders": [None, 199, 200],
}


@pytest.mark.parametrize("dialect", [BINANCE, PRIMIT], ids=["binance", "primit"])
def test_every_single_change_to_a_clean_exit(dialect: Any) -> None:
    """Each field of a clean exit (and of its market context) changed on its own, against each
    rules variant: the verdict is the full validation's. Each tif also comes with a date."""
    cases = 0
    for base, ctx in _clean_exits():
        variants: list[tuple[AlgoOrderRequest, MarketContext]] = [(base, ctx)]
        for name, values in _ALTERNATIVES.items():
            variants += [(replace(base, **{name: v}), ctx) for v in values]
        for tif in TimeInForce:
            variants.append(
                (replace(base, time_in_force=tif, good_till_date=1_700_001_000_000), ctx)
            )
        closing = replace(base, close_position=True, quantity=None)
        for name in ("reduce_only", "quote_order_qty", "price", "type", "side"):
            variants += [(replace(closing, **{name: v}), ctx) for v in _ALTERNATIVES[name]]
        for name, values in _CTX_ALTERNATIVES.items():
            variants += [(base, replace(ctx, **{name: v})) for v in values]
        for rules in RULES:
            for req, c in variants:
                _same_verdict(req, rules, c, dialect, (), PLAIN)
                cases += 1
    assert cases > 10_000


def test_rules_still_copy_and_pickle() -> None:
    """SymbolRules gained a weakref slot (for the prepared bounds); copies are unaffected.
    (Unknown filters hold read-only mappings, which never pickled; they are left out.)"""
    import copy
    import pickle

    plain = replace(BTC, unknown_filters=())
    assert pickle.loads(pickle.dumps(plain)) == plain
    assert copy.deepcopy(plain) == plain
    assert copy.copy(BTC) == BTC
    assert replace(BTC) == BTC
