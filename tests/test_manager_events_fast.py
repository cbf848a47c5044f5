"""The fast parsing path of private events gives exactly what the checked path gives.

``_algo_update``, ``_order_update`` and ``_account_update`` read the common, well-formed shape
without per-field helpers and fall back to the checked parsers on anything unusual; these tests
mutate real-shaped payloads (missing fields, wrong types, empty strings, unknown enums) and
require the same event, or the same ``EventParseError``, from both paths.
"""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exitguard.domain.enums import PositionSide, Side
from exitguard.manager import events as ev
from exitguard.manager.events import EventParseError, parse_private_event

ALGO: dict[str, Any] = {
    "e": "ALGO_UPDATE",
    "T": 1700000000100,
    "E": 1700000000101,
    "o": {
        "caid": "exg-sl-1",
        "aid": 2001,
        "at": "CONDITIONAL",
        "o": "STOP_MARKET",
        "s": "BTCUSDT",
        "S": "SELL",
        "ps": "BOTH",
        "X": "NEW",
        "ai": "",
        "tp": "49000",
        "rm": "",
    },
}
ORDER: dict[str, Any] = {
    "e": "ORDER_TRADE_UPDATE",
    "E": 1700000000201,
    "T": 1700000000200,
    "o": {
        "s": "BTCUSDT",
        "c": "exg-tp-1",
        "S": "SELL",
        "o": "LIMIT",
        "x": "TRADE",
        "X": "PARTIALLY_FILLED",
        "i": 3001,
        "l": "0.001",
        "z": "0.002",
        "L": "52000.5",
        "t": 77,
        "R": True,
        "ps": "LONG",
    },
}
ACCOUNT: dict[str, Any] = {
    "e": "ACCOUNT_UPDATE",
    "E": 1700000000301,
    "T": 1700000000300,
    "a": {
        "m": "ORDER",
        "B": [],
        "P": [
            {"s": "BTCUSDT", "pa": "0.5", "ep": "50000", "ps": "BOTH"},
            {"s": "ETHUSDT", "pa": "-2", "ep": "3000.25", "ps": "SHORT"},
        ],
    },
}
CHECKED = {
    "ALGO_UPDATE": ev._algo_update_checked,
    "ORDER_TRADE_UPDATE": ev._order_update_checked,
    "ACCOUNT_UPDATE": ev._account_update_checked,
}

ODD_VALUES = st.sampled_from(
    [None, "", "0", "12", "1.5", "abc", 0, 7, 1.25, True, [], {}, "BUY", "LONG", "NaN", "1e3"]
)


def _checked(payload: dict[str, Any]) -> object:
    try:
        return CHECKED[payload["e"]](payload)
    except EventParseError as exc:
        return ("error", str(exc))
    except ValueError as exc:  # an unknown enum value: parse_private_event wraps it
        return ("error", f"{payload['e']}: {exc}")


def _fast(payload: dict[str, Any]) -> object:
    try:
        return parse_private_event(payload)
    except EventParseError as exc:
        return ("error", str(exc))


def test_well_formed_payloads_take_the_fast_path_with_exact_fields() -> None:
    algo = parse_private_event(copy.deepcopy(ALGO))
    assert isinstance(algo, ev.AlgoUpdate)
    assert (algo.client_algo_id, algo.algo_id, algo.side, algo.actual_order_id) == (
        "exg-sl-1",
        2001,
        Side.SELL,
        None,
    )
    order = parse_private_event(copy.deepcopy(ORDER))
    assert isinstance(order, ev.OrderUpdate)
    assert order.position_side is PositionSide.LONG
    assert (order.last_qty, order.cum_qty, order.last_price) == (
        Decimal("0.001"),
        Decimal("0.002"),
        Decimal("52000.5"),
    )
    assert order.dedupe_key == "usdm:trade:3001:77"
    account = parse_private_event(copy.deepcopy(ACCOUNT))
    assert isinstance(account, ev.AccountUpdate)
    assert [(p.symbol, p.position_side, p.amount) for p in account.positions] == [
        ("BTCUSDT", PositionSide.BOTH, Decimal("0.5")),
        ("ETHUSDT", PositionSide.SHORT, Decimal("-2")),
    ]
    for payload in (ALGO, ORDER, ACCOUNT):
        assert _fast(copy.deepcopy(payload)) == _checked(copy.deepcopy(payload))


def test_triggered_algo_links_its_child_order() -> None:
    payload = copy.deepcopy(ALGO)
    payload["o"].update({"X": "TRIGGERED", "ai": 9001})
    algo = parse_private_event(payload)
    assert isinstance(algo, ev.AlgoUpdate) and algo.actual_order_id == 9001
    assert algo.dedupe_key == "usdm:algo:2001:TRIGGERED:9001"


@pytest.mark.parametrize(
    ("base", "path", "value", "message"),
    [
        (ORDER, ("o", "c"), 5, "field 'c' is missing or not a string"),
        (ORDER, ("o", "z"), "abc", "field 'z' is not a decimal"),
        (ORDER, ("o", "L"), "NaN", "field 'L' is not a decimal"),
        (ACCOUNT, ("a", "P", 1, "ep"), "-Infinity", "field 'ep' is not a decimal"),
        (ORDER, ("o", "S"), "SIDEWAYS", "'SIDEWAYS' is not a valid Side"),
        (ALGO, ("o", "aid"), "x1", "field 'aid' is not an integer"),
        (ALGO, ("o",), "not-an-object", "field 'o' is missing or not an object"),
        (ACCOUNT, ("a", "P", 0, "pa"), "?", "field 'pa' is not a decimal"),
    ],
)
def test_bad_fields_still_name_the_field(
    base: dict[str, Any], path: tuple[Any, ...], value: object, message: str
) -> None:
    payload = copy.deepcopy(base)
    target: Any = payload
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    with pytest.raises(EventParseError, match=message.replace("(", r"\(")):
        parse_private_event(payload)


@st.composite
def mutated(draw: st.DrawFn) -> dict[str, Any]:
    payload = copy.deepcopy(draw(st.sampled_from([ALGO, ORDER, ACCOUNT])))
    for _ in range(draw(st.integers(1, 3))):
        a = payload.get("a")
        if isinstance(a, dict) and isinstance(a.get("P"), list) and draw(st.booleans()):
            rows = a["P"]
            target = rows[draw(st.integers(0, len(rows) - 1))] if rows else a
        else:
            target = payload["o"] if "o" in payload and isinstance(payload["o"], dict) else payload
            if draw(st.booleans()):
                target = payload
        if not isinstance(target, dict) or not target:
            break
        key = draw(st.sampled_from(sorted(target)))
        if key == "e":
            continue
        if draw(st.booleans()):
            del target[key]
        else:
            target[key] = draw(ODD_VALUES)
    return payload


@settings(max_examples=600, deadline=None)
@given(mutated())
def test_fast_path_equals_checked_path_on_mutated_payloads(payload: dict[str, Any]) -> None:
    assert _fast(copy.deepcopy(payload)) == _checked(copy.deepcopy(payload))
