"""Client ids (opaque, valid on both products, distinct types) and the shared trigger rules."""

from __future__ import annotations

import random
import re
from decimal import Decimal

import pytest

from exitguard.domain import (
    AlgoId,
    ClientAlgoId,
    ClientIdGenerator,
    ClientOrderId,
    OrderId,
    Product,
    Side,
)
from exitguard.domain.ids import APP_ID_PREFIX, check_client_id, has_app_prefix
from exitguard.domain.triggers import (
    TriggerDirection,
    condition_holds,
    trigger_direction,
    truncate_mark_price,
)

SPOT_RULE = re.compile(r"^[a-zA-Z0-9-_]{1,36}$")
FUTURES_RULE = re.compile(r"^[\.A-Z\:/a-z0-9_-]{1,36}$")


def test_generated_ids_satisfy_both_products_rules():
    gen = ClientIdGenerator()
    seen = set()
    for _ in range(2000):
        cid = gen.algo_id()
        assert SPOT_RULE.match(cid) and FUTURES_RULE.match(cid) and len(cid) <= 36
        assert cid.startswith(APP_ID_PREFIX) and has_app_prefix(cid)
        assert check_client_id(cid, Product.SPOT, "newClientOrderId") is None
        assert check_client_id(cid, Product.USDM, "clientAlgoId") is None
        seen.add(cid)
    assert len(seen) == 2000


def test_ids_are_opaque():
    """Seed 001: no product, symbol, role, side, step or generation in the id text. The generator
    is never told any of them, so it cannot encode them: the id is the prefix plus random text."""
    import inspect

    for method in (ClientIdGenerator.order_id, ClientIdGenerator.algo_id):
        assert list(inspect.signature(method).parameters) == ["self"]
    gen = ClientIdGenerator(rng=random.Random(7))
    tails = [gen.order_id()[len(APP_ID_PREFIX) :] for _ in range(500)]
    assert all(re.fullmatch(r"[0-9A-Za-z]{22}", t) for t in tails)
    # Random text: every position takes many different characters across ids.
    assert all(len({t[i] for t in tails}) > 40 for i in range(22))


def test_seeded_generator_is_reproducible():
    a = ClientIdGenerator(rng=random.Random(1))
    b = ClientIdGenerator(rng=random.Random(1))
    assert [a.algo_id() for _ in range(3)] == [b.algo_id() for _ in range(3)]


def test_id_types_are_distinct():
    assert not isinstance(ClientAlgoId("x"), ClientOrderId)
    assert not isinstance(ClientOrderId("x"), ClientAlgoId)
    assert not isinstance(AlgoId(5), OrderId) and not isinstance(OrderId(5), AlgoId)
    assert type(ClientIdGenerator().order_id()) is ClientOrderId
    assert type(ClientIdGenerator().algo_id()) is ClientAlgoId


def test_bad_prefix_refused():
    with pytest.raises(ValueError, match="prefix"):
        ClientIdGenerator(prefix="has space")
    with pytest.raises(ValueError, match="prefix"):
        ClientIdGenerator(prefix="x" * 15)


def test_check_client_id_codes():
    assert check_client_id("a:b", Product.USDM, "clientAlgoId") is None
    assert check_client_id("a:b", Product.SPOT, "newClientOrderId").code == -1100
    assert check_client_id("", Product.USDM, "clientAlgoId").code == -4015
    assert check_client_id("x" * 37, Product.USDM, "clientAlgoId").code == -4015


@pytest.mark.parametrize(
    ("order_type", "side", "direction"),
    [
        ("STOP_MARKET", Side.BUY, TriggerDirection.RISING),
        ("STOP_MARKET", Side.SELL, TriggerDirection.FALLING),
        ("TAKE_PROFIT_MARKET", Side.BUY, TriggerDirection.FALLING),
        ("TAKE_PROFIT", Side.SELL, TriggerDirection.RISING),
        ("STOP_LOSS_LIMIT", Side.SELL, TriggerDirection.FALLING),
        ("TAKE_PROFIT_LIMIT", Side.BUY, TriggerDirection.FALLING),
    ],
)
def test_trigger_direction_table(order_type, side, direction):
    assert trigger_direction(order_type, side) is direction


def test_equality_fires_and_marks_truncate():
    assert condition_holds(TriggerDirection.RISING, Decimal("100"), Decimal("100"))
    assert condition_holds(TriggerDirection.FALLING, Decimal("100"), Decimal("100"))
    assert not condition_holds(TriggerDirection.RISING, Decimal("99.99"), Decimal("100"))
    # Binance FAQ: a SELL TP at 2000.05 does not fire at mark 2000.048914 (→ 2000.04)
    assert truncate_mark_price(Decimal("2000.048914"), Decimal("0.01")) == Decimal("2000.04")
    assert not condition_holds(
        TriggerDirection.RISING,
        truncate_mark_price(Decimal("2000.048914"), Decimal("0.01")),
        Decimal("2000.05"),
    )
    assert condition_holds(
        TriggerDirection.RISING,
        truncate_mark_price(Decimal("2000.05000001"), Decimal("0.01")),
        Decimal("2000.05"),
    )
    with pytest.raises(ValueError):
        trigger_direction("TRAILING_STOP_MARKET", Side.SELL)
