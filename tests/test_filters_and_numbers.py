"""exchangeInfo parsing, decimal formatting and quantisation on both products' grids."""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from importlib.resources import files

import pytest

from exitguard.domain import (
    ExchangeInfoError,
    Product,
    Rounding,
    Side,
    format_decimal,
    parse_decimal,
    parse_exchange_info,
)
from exitguard.domain.filters import FUTURES_ACCOUNT_ALGO_ORDER_LIMIT, detect_product
from exitguard.domain.quantize import (
    exit_limit_rounding,
    exit_trigger_rounding,
    price_to_ticks,
    quantize_exit_quantity,
    quantize_price,
    ticks_to_price,
)

D = Decimal


def raw(name: str) -> dict:
    return json.loads(
        files("exitguard").joinpath(f"fixtures/exchange_info/{name}.json").read_text()
    )


def test_products_detected_and_symbols_present(spot, usdm):
    assert (
        detect_product(raw("spot")) is Product.SPOT and detect_product(raw("usdm")) is Product.USDM
    )
    assert {"BTCUSDT", "ETHUSDT", "SOLUSDT", "DOGEUSDT", "PEPEUSDT"} <= set(spot.symbols)
    assert {"BTCUSDT", "ETHUSDT", "SOLUSDT", "DOGEUSDT", "1000PEPEUSDT"} <= set(usdm.symbols)
    assert usdm.account_algo_order_limit == FUTURES_ACCOUNT_ALGO_ORDER_LIMIT == 200
    assert spot.account_algo_order_limit is None


def test_both_notional_spellings(spot, usdm):
    assert spot.get("BTCUSDT").notional.filter_type == "NOTIONAL"
    assert spot.get("BTCUSDT").notional.max_notional == D("9000000")
    legacy = spot.get("SOLUSDT").notional
    assert (legacy.filter_type, legacy.min_notional, legacy.max_notional) == (
        "MIN_NOTIONAL",
        D("5"),
        None,
    )
    fut = usdm.get("BTCUSDT").notional  # futures spells it ``notional``
    assert (fut.filter_type, fut.min_notional) == ("MIN_NOTIONAL", D("50"))


def test_unknown_filters_kept_not_enforced(spot, usdm):
    assert "MAX_NUM_FUTURE_THING" in [f.filter_type for f in spot.get("ETHUSDT").unknown_filters]
    assert "POSITION_RISK_CONTROL" in [f.filter_type for f in usdm.get("BTCUSDT").unknown_filters]
    doc = raw("spot")
    doc["symbols"][0]["filters"].append({"filterType": "BRAND_NEW", "whatever": [1, 2]})
    assert parse_exchange_info(doc).get(doc["symbols"][0]["symbol"]).unknown_filters[-1].raw[
        "whatever"
    ] == [1, 2]


def test_rules_with_unknown_filters_survive_pickling(spot, usdm):
    """Rules go to sweep worker processes: read-only views must not make them unpicklable."""
    import pickle
    from types import MappingProxyType

    for rules in (spot, usdm):
        assert any(s.unknown_filters for s in rules.symbols.values())
        again = pickle.loads(pickle.dumps(rules))
        assert again == rules
        assert isinstance(again.symbols, MappingProxyType)
        unknown = next(f for s in again.symbols.values() for f in s.unknown_filters)
        assert isinstance(unknown.raw, MappingProxyType)


def test_optional_and_legacy_filters(spot, usdm):
    assert usdm.get("ETHUSDT").max_num_algo_orders.limit == 10  # legacy, removed 2025-12-29
    assert usdm.get("BTCUSDT").max_num_algo_orders is None
    assert spot.get("BTCUSDT").max_num_algo_orders.limit == 5
    assert spot.get("BTCUSDT").trailing_delta.max_trailing_below_delta == 2000
    assert (
        spot.get("SOLUSDT").percent_price is not None
        and spot.get("SOLUSDT").percent_price_by_side is None
    )
    assert usdm.get("BTCUSDT").trigger_protect == D("0.0500")
    assert {usdm.get(s).percent_price.multiplier_decimal for s in ("BTCUSDT", "ETHUSDT")} == {4}


def test_multiplier_decimal_as_int_or_string():
    """The reference shows both spellings; captures show "4". Both parse to 4."""
    doc = raw("usdm")
    for f in doc["symbols"][0]["filters"]:
        if f["filterType"] == "PERCENT_PRICE":
            f["multiplierDecimal"] = 4
    assert (
        parse_exchange_info(doc).get(doc["symbols"][0]["symbol"]).percent_price.multiplier_decimal
        == 4
    )


def test_malformed_known_filter_names_its_path():
    doc = raw("usdm")
    bad = copy.deepcopy(doc)
    bad["symbols"][1]["filters"][0]["tickSize"] = "abc"
    with pytest.raises(ExchangeInfoError) as err:
        parse_exchange_info(bad)
    assert "$.symbols[1].filters[0](PRICE_FILTER).tickSize" in str(err.value)
    with pytest.raises(ExchangeInfoError, match=r"\$\.symbols: must be a list"):
        parse_exchange_info({"symbols": 3})
    with pytest.raises(ExchangeInfoError, match=r"\$\.exchangeFilters: must be a list"):
        parse_exchange_info({**doc, "exchangeFilters": 5})
    with pytest.raises(ExchangeInfoError, match="must be a JSON object"):
        parse_exchange_info([])


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (D("1E-8"), "0.00000001"),
        (D("1E+2"), "100"),
        (D("0.000010"), "0.000010"),
        (D("-0"), "0"),
        (D("123456789.123456789"), "123456789.123456789"),
    ],
)
def test_format_decimal_never_exponent(value, text):
    assert format_decimal(value) == text


def test_parse_decimal_refuses_floats_and_junk():
    assert parse_decimal(0.1) is None and parse_decimal(True) is None
    assert (
        parse_decimal("NaN") is None
        and parse_decimal(" 1") is None
        and parse_decimal("1_0") is None
    )
    assert parse_decimal("0.1") == D("0.1") and parse_decimal(3) == D(3)


def test_futures_grid_starts_at_min_price_spot_at_zero(spot, usdm):
    doge_fut = usdm.get("DOGEUSDT")  # minPrice 0.002445, tick 0.000010: not a multiple
    assert quantize_price(D("0.1"), doge_fut, Rounding.DOWN) == D("0.099995")
    assert quantize_price(D("0.1"), doge_fut, Rounding.UP) == D("0.100005")
    doge_spot = spot.get("DOGEUSDT")
    assert quantize_price(D("0.100003"), doge_spot, Rounding.DOWN) == D("0.10000")
    assert quantize_price(D("0.100003"), doge_spot, Rounding.NEAREST) == D("0.10000")


def test_exit_rounding_is_safe_side():
    assert exit_trigger_rounding(Side.SELL, is_stop=True) is Rounding.UP  # long's stop
    assert exit_trigger_rounding(Side.BUY, is_stop=True) is Rounding.DOWN  # short's stop
    assert exit_trigger_rounding(Side.SELL, is_stop=False) is Rounding.DOWN
    assert exit_trigger_rounding(Side.BUY, is_stop=False) is Rounding.UP
    assert (
        exit_limit_rounding(Side.SELL) is Rounding.UP
        and exit_limit_rounding(Side.BUY) is Rounding.DOWN
    )


def test_exit_quantity_floors(usdm, spot):
    assert quantize_exit_quantity(D("0.0109999"), usdm.get("BTCUSDT")) == D("0.010")
    assert quantize_exit_quantity(D("1.99"), spot.get("PEPEUSDT")) == D("1")
    # SOL futures: step 1
    assert quantize_exit_quantity(D("7.9"), usdm.get("SOLUSDT")) == D("7")


def test_ticks_round_trip(usdm, spot):
    for rules in (usdm.get("DOGEUSDT"), spot.get("PEPEUSDT"), usdm.get("BTCUSDT")):
        price = quantize_price(D("0.0123456789") * 1000, rules, Rounding.DOWN)
        ticks = price_to_ticks(price, rules, Rounding.DOWN)
        assert ticks_to_price(ticks, rules) == price
        assert price_to_ticks(ticks_to_price(ticks + 1, rules), rules, Rounding.DOWN) == ticks + 1


def test_round_to_step_holds_the_widest_wire_values():
    from exitguard.domain.numbers import round_to_step

    big = D("99999999999999999999.99999999999999999999")  # 20 digits either side
    assert round_to_step(big, D("0.00000001"), D(0), Rounding.DOWN) == D(
        "99999999999999999999.99999999"
    )
    assert round_to_step(big, D("0.0000001"), D("0.0000010"), Rounding.UP) == D(
        "100000000000000000000.0000000"
    )
