"""``kill -9`` of ``exitguard run`` at each step of a placement and of a replacement, then restart.

The manager runs as a real subprocess (PAPER mode, the official SDK) against the paper venue
served by this test on loopback. ``EXITGUARD_CRASH_AT`` makes it SIGKILL itself at one point:
``before_send`` (intent committed, nothing sent), ``after_send`` (the venue has the order, the
answer was never processed), ``after_response`` (accepted, not yet confirmed by the stream), and
``after_replace_place`` (a replacement's new exit placed, the old one not yet cancelled). After a
restart there must be no duplicate exit, no lost exit, and the position protected again within
the startup workflow.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest

from exitguard.domain.enums import Side
from exitguard.venue.clock import RealtimeClock
from exitguard.venue.server import Venue

D = Decimal
TIMEOUT_S = 60


@pytest.fixture
async def venue() -> AsyncIterator[Venue]:
    async with Venue(clock=RealtimeClock(), feed=None) as v:
        v.set_price("BTCUSDT", last=D(50000), mark=D(50000))
        yield v


def write_config(tmp: Path, v: Venue) -> Path:
    path = tmp / "exitguard.toml"
    path.write_text(
        f"""
[manager]
account = "paper"
products = ["usdm"]
state_db = "state.db"
venue = "external"

[urls]
usdm_rest = "{v.rest_url}"
usdm_ws = "{v.ws_streams_url}"

[policy.usdm.default]
stop_loss = {{ distance = {{ percent = 2 }} }}
take_profit = {{ distance = {{ percent = 4 }} }}
"""
    )
    return path


def env_for(v: Venue, crash_at: str | None) -> dict[str, str]:
    env = {k: val for k, val in os.environ.items() if not k.startswith(("EXITGUARD_", "BINANCE_"))}
    env.update(
        EXECUTION_MODE="PAPER",
        BINANCE_API_KEY=v.api_key,
        BINANCE_API_SECRET=v.api_secret,
    )
    if crash_at:
        env["EXITGUARD_CRASH_AT"] = crash_at
    return env


async def run_manager(config: Path, v: Venue, crash_at: str | None) -> int | None:
    """Run ``exitguard run``; with ``crash_at`` wait for the SIGKILL, else stop it once ready."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "exitguard",
        "run",
        "--config",
        str(config),
        env=env_for(v, crash_at),
        cwd=config.parent,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    assert proc.stdout is not None
    try:
        async with asyncio.timeout(TIMEOUT_S):
            if crash_at:
                return await proc.wait()
            line = await proc.stdout.readline()
            assert json.loads(line)["ready"] is True
            await asyncio.sleep(0.3)  # let the stream confirmations arrive
            proc.send_signal(signal.SIGTERM)
            return await proc.wait()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


def open_exits(v: Venue) -> tuple[list[dict], list[dict]]:
    snap = v.exchange.snapshot()
    algos = [o for o in snap["algoOrders"] if o["algoStatus"] == "NEW"]
    orders = [o for o in snap["orders"] if o["status"] in ("NEW", "PARTIALLY_FILLED")]
    return algos, orders


@pytest.mark.parametrize("crash_at", ["before_send", "after_send", "after_response"])
async def test_kill_during_placement_then_restart(venue, tmp_path, crash_at):
    v = venue
    v.exchange.open_position(
        v.exchange.account_by_api_key(v.api_key), "BTCUSDT", Side.BUY, D("0.5")
    )
    config = write_config(tmp_path, v)
    code = await run_manager(config, v, crash_at)
    assert code == -signal.SIGKILL
    algos, _ = open_exits(v)
    assert len(algos) == (0 if crash_at == "before_send" else 1)
    assert await run_manager(config, v, None) == 0
    algos, orders = open_exits(v)
    # Exactly one stop and one take-profit: none lost, none duplicated.
    assert [a["orderType"] for a in algos] == ["STOP_MARKET"]
    assert [(o["type"], o["origQty"]) for o in orders] == [("LIMIT", "0.5")]


async def test_kill_during_replacement_then_restart(venue, tmp_path):
    v = venue
    acct = v.exchange.account_by_api_key(v.api_key)
    v.exchange.open_position(acct, "BTCUSDT", Side.BUY, D("0.5"))
    config = write_config(tmp_path, v)
    assert await run_manager(config, v, None) == 0
    (_, [old_tp]) = open_exits(v)
    v.exchange.open_position(acct, "BTCUSDT", Side.BUY, D("0.3"))  # while the manager is down
    code = await run_manager(config, v, "after_replace_place")
    assert code == -signal.SIGKILL
    _, orders = open_exits(v)
    assert sorted(o["origQty"] for o in orders) == ["0.5", "0.8"]  # new placed, old not cancelled
    assert await run_manager(config, v, None) == 0
    algos, orders = open_exits(v)
    assert len(algos) == 1
    assert [(o["type"], o["origQty"]) for o in orders] == [("LIMIT", "0.8")]
    assert orders[0]["clientOrderId"] != old_tp["clientOrderId"]
