"""Shared test fixtures: the bundled exchangeInfo rules for both products."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
from collections.abc import AsyncIterator
from importlib.resources import files

import pytest
import pytest_asyncio

from exitguard.domain import ExchangeRules, Product, parse_exchange_info

# A command run without a config file keeps its state in the user data directory: in tests that
# is a private temporary one (inherited by subprocesses), never the machine's home.
os.environ["XDG_DATA_HOME"] = tempfile.mkdtemp(prefix="exitguard-test-data-")
# Subprocesses (``exitguard run``, ``venue serve``) often start in a temporary directory: a
# relative PYTHONPATH (``PYTHONPATH=src`` in a worktree) would then miss this tree's code and
# silently import whatever exitguard is installed. Made absolute, they run the code under test.
if os.environ.get("PYTHONPATH"):
    os.environ["PYTHONPATH"] = os.pathsep.join(
        os.path.abspath(p) for p in os.environ["PYTHONPATH"].split(os.pathsep) if p
    )


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


# A hung asyncio test must fail with evidence, never hold CI until its deadline: after
# ASYNC_TEST_LIMIT_S the watchdog prints every task's stack and cancels the tasks.
ASYNC_TEST_LIMIT_S = 120.0


@pytest_asyncio.fixture
async def async_watchdog(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    loop = asyncio.get_running_loop()

    def fire() -> None:
        sys.stderr.write(
            f"\n*** {request.node.nodeid}: still running after {ASYNC_TEST_LIMIT_S:.0f} s;"
            " task stacks:\n"
        )
        for task in asyncio.all_tasks(loop):
            task.print_stack(file=sys.stderr)
        for task in asyncio.all_tasks(loop):
            task.cancel()

    handle = loop.call_later(ASYNC_TEST_LIMIT_S, fire)
    try:
        yield
    finally:
        handle.cancel()
