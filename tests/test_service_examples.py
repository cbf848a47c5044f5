"""The runnable examples, as a user runs them: ``exitguard run`` (PAPER, a separate process) on
a paper venue, a python-binance bot (another process) that opens a position and hands it over,
and the freqtrade snippet's ``order_filled`` calling the same API."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import sys
import types
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from exitguard.client import GuardClient
from exitguard.venue.clock import RealtimeClock
from exitguard.venue.server import Venue
from service_support import live_usdm, position_amount, run_env, start_run, stop_run, until

pytestmark = pytest.mark.usefixtures("async_watchdog")
D = Decimal
ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


@pytest.fixture
async def venue() -> AsyncIterator[Venue]:
    async with Venue(clock=RealtimeClock(), feed=None) as v:
        v.set_price("BTCUSDT", last=D(50000), mark=D(50000))
        yield v


async def test_a_python_binance_bot_hands_its_position_to_a_running_guard(
    venue: Venue, tmp_path: Path
) -> None:
    proc, ready = await start_run(venue, tmp_path)
    try:
        api = ready["api"]
        token_file = Path(api["token_file"])
        assert token_file.stat().st_mode & 0o777 == 0o600
        bot = await asyncio.create_subprocess_exec(
            sys.executable,
            str(EXAMPLES / "python_binance_bot.py"),
            "--venue",
            venue.rest_url,
            "--api-key",
            venue.api_key,
            "--api-secret",
            venue.api_secret,
            "--guard",
            api["url"],
            "--token-file",
            str(token_file),
            "--quantity",
            "0.02",
            env=run_env(venue),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        async with asyncio.timeout(60):
            out, err = await bot.communicate()
        assert bot.returncode == 0, err.decode()
        text = out.decode()
        assert "opened: BUY 0.02 BTCUSDT" in text
        # Entry ~50000: the bot's own levels (2 % / 4 %), not the config's default.
        await until(lambda: [a["triggerPrice"] for a in live_usdm(venue)[0]] == ["49000.1"])
        assert [o["price"] for o in live_usdm(venue)[1]] == ["52000.1"]
        assert "exit: stop_loss STOP_MARKET at 49000.1" in text

        # freqtrade's order_filled for a second entry: the snippet calls the same API.
        module = _load_freqtrade_example()
        strategy = module.GuardedStrategy()
        os.environ["EXITGUARD_URL"] = api["url"]
        os.environ["EXITGUARD_API_TOKEN"] = token_file.read_text().strip()
        try:
            trade = types.SimpleNamespace(id=7, open_rate=50000.0, is_short=False, entry_side="buy")
            order = types.SimpleNamespace(ft_order_side="buy", order_id="o-1")
            await asyncio.to_thread(
                strategy.order_filled, "BTC/USDT:USDT", trade, order, current_time=None
            )
        finally:
            del os.environ["EXITGUARD_URL"], os.environ["EXITGUARD_API_TOKEN"]
        await until(lambda: [D(a["triggerPrice"]) for a in live_usdm(venue)[0]] == [D(49000)])
        guard = GuardClient(api["url"], token_file.read_text().strip())
        position = (await asyncio.to_thread(guard.positions))[0]
        assert position["override"] is True and position_amount(venue) == D("0.02")
    finally:
        logs = await stop_run(proc)
    assert proc.returncode == 0, logs
    assert venue.api_secret not in logs and token_file.read_text().strip() not in logs


def _load_freqtrade_example() -> Any:
    """The snippet imports freqtrade's IStrategy: a stand-in base class is enough to run it."""
    fake = types.ModuleType("freqtrade.strategy")
    fake.IStrategy = type("IStrategy", (), {})  # type: ignore[attr-defined]
    sys.modules.setdefault("freqtrade", types.ModuleType("freqtrade"))
    sys.modules["freqtrade.strategy"] = fake
    spec = importlib.util.spec_from_file_location("ft_example", EXAMPLES / "freqtrade_strategy.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def test_a_remote_api_without_a_token_is_refused_loudly(venue: Venue, tmp_path: Path) -> None:
    proc, ready = await start_run(
        venue, tmp_path, api='host = "0.0.0.0"\nallow_remote = true\nport = 0'
    )
    logs = await stop_run(proc)
    # Protection runs; the API does not, and says why in the ready line and at ERROR.
    assert ready["ready"] is True and ready["api"] is None
    assert "EXITGUARD_API_TOKEN must be set" in ready["api_error"]
    assert '"level": "error"' in logs and "api not started" in logs


async def test_a_taken_api_port_leaves_protection_running(venue: Venue, tmp_path: Path) -> None:
    """uvicorn exits the process when it cannot bind: the run must not die with it."""
    import socket

    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    try:
        port = taken.getsockname()[1]
        proc, ready = await start_run(venue, tmp_path, api=f"port = {port}")
        alive = proc.returncode is None
        logs = await stop_run(proc)
    finally:
        taken.close()
    assert alive and ready["ready"] is True and ready["api"] is None
    assert "could not listen" in ready["api_error"]
    assert '"level": "error"' in logs and "api not started" in logs
