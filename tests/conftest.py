"""Shared test fixtures: the bundled exchangeInfo rules for both products."""

from __future__ import annotations

import json
from importlib.resources import files

import pytest

from exitguard.domain import ExchangeRules, Product, parse_exchange_info


def load_rules(product: Product) -> ExchangeRules:
    name = "usdm" if product is Product.USDM else "spot"
    text = files("exitguard").joinpath(f"fixtures/exchange_info/{name}.json").read_text()
    return parse_exchange_info(json.loads(text))


@pytest.fixture(scope="session")
def usdm() -> ExchangeRules:
    return load_rules(Product.USDM)


@pytest.fixture(scope="session")
def spot() -> ExchangeRules:
    return load_rules(Product.SPOT)
