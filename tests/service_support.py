"""A running guard for service tests: paper venue + manager (real SDK adapters) + the API.

Also used by the browser test and ``bench/bench_api.py``: one way to stand the service up.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from exitguard.adapters.spot import SdkSpotReader, SdkSpotTrader
from exitguard.adapters.usdm_reader import SdkUsdmReader
from exitguard.adapters.usdm_trader import SdkUsdmTrader
from exitguard.domain.enums import Product
from exitguard.manager.control import GuardControl
from exitguard.manager.ops import ProductOps, UsdmOps
from exitguard.manager.scope import ScopeConfig
from exitguard.manager.service import ExitManager
from exitguard.manager.spot_ops import SpotOps
from exitguard.planner.policy import (
    Distance,
    ProtectionPolicy,
    StopLossPolicy,
    TakeProfitPolicy,
    TrailingPolicy,
)
from exitguard.service.hub import EventHub
from exitguard.service.server import ApiServer
from exitguard.store.exits import ExitStore
from exitguard.venue.server import Venue

D = Decimal
TOKEN = "test-token-0123456789abcdef"
USDM_POLICY = ProtectionPolicy(
    stop_loss=StopLossPolicy(Distance(percent=D(2))),
    take_profit=TakeProfitPolicy(Distance(percent=D(4))),
)
TRAILING_POLICY = ProtectionPolicy(
    stop_loss=StopLossPolicy(Distance(percent=D(2))),
    trailing=TrailingPolicy(callback_rate=D(1)),
)
SPOT_POLICY = ProtectionPolicy(
    stop_loss=StopLossPolicy(Distance(percent=D(3))),
    take_profit=TakeProfitPolicy(Distance(percent=D(6))),
)
FAST = {"supervise_interval_s": 0.2, "retry_initial_s": 0.1, "retry_cap_s": 1.0}


def build_manager(
    v: Venue,
    db: Path | str,
    *,
    usdm: ProtectionPolicy | dict[str, ProtectionPolicy] | None = USDM_POLICY,
    spot: ProtectionPolicy | None = None,
    sends: bool = True,
    spot_symbols: tuple[str, ...] = ("ETHUSDT",),
) -> ExitManager:
    store = ExitStore(db)
    keys = {"api_key": v.api_key, "api_secret": v.api_secret}
    ops: list[ProductOps] = []
    if usdm is not None:
        reader = SdkUsdmReader(
            rest_url=v.rest_url, ws_streams_url=v.ws_streams_url, reconnect_initial_s=0.05, **keys
        )
        trader = SdkUsdmTrader(rest_url=v.rest_url, **keys) if sends else None
        ops.append(UsdmOps(reader, trader))
    if spot is not None:
        spot_reader = SdkSpotReader(
            rest_url=v.rest_url, ws_api_url=v.spot_ws_api_url, reconnect_initial_s=0.05, **keys
        )
        spot_trader = SdkSpotTrader(rest_url=v.rest_url, **keys) if sends else None
        ops.append(SpotOps(spot_reader, spot_trader, list(spot_symbols), store))

    def policy_for(product: Product, symbol: str) -> ProtectionPolicy | None:
        if product is Product.USDM:
            return usdm.get(symbol) if isinstance(usdm, dict) else usdm
        return spot if symbol in spot_symbols else None

    return ExitManager(ops, store, ScopeConfig("paper", policy_for, **FAST))


@dataclass
class Guard:
    """The manager with its API running; ``url`` and ``headers`` for clients."""

    venue: Venue
    manager: ExitManager
    control: GuardControl
    hub: EventHub
    server: ApiServer
    url: str
    headers: dict[str, str] = field(default_factory=lambda: {"Authorization": f"Bearer {TOKEN}"})

    async def stop(self) -> None:
        await self.server.stop()
        await self.manager.stop()
        self.manager.store.close()


def _manages(product: Product, symbol: str) -> bool:
    return product is Product.USDM or symbol == "ETHUSDT"


async def start_guard(
    v: Venue,
    db: Path | str,
    *,
    mode: str = "PAPER",
    metrics: Any | None = None,
    price_interval_s: float = 0.2,
    manages: Callable[[Product, str], bool] = _manages,
    **manager_kw: Any,
) -> Guard:
    manager = build_manager(v, db, sends=mode != "DRY_RUN_PRIVATE", **manager_kw)
    hub = EventHub(now_ms=manager.scopes[next(iter(manager.scopes))].now_ms)
    manager.listen(hub.publish)
    if metrics is not None:
        hub.listen(metrics.on_event)
    control = GuardControl(manager, mode=mode, venue="embedded", manages=manages)
    server = ApiServer(control, hub, TOKEN, metrics=metrics, price_interval_s=price_interval_s)
    url = await server.start()
    await manager.start()
    return Guard(v, manager, control, hub, server, url)


async def until(cond: Callable[[], bool], timeout_s: float = 15.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not cond():
            await asyncio.sleep(0.02)


def account(v: Venue) -> Any:
    return v.exchange.account_by_api_key(v.api_key)


def live_usdm(
    v: Venue, symbol: str = "BTCUSDT"
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    snap = v.exchange.snapshot()
    algos = [
        a
        for a in snap["algoOrders"]
        if a["symbol"] == symbol and a["algoStatus"] in ("NEW", "TRIGGERING", "TRIGGERED")
    ]
    orders = [
        o
        for o in snap["orders"]
        if o["symbol"] == symbol and o["status"] in ("NEW", "PARTIALLY_FILLED")
    ]
    return algos, orders


def position_amount(v: Venue, symbol: str = "BTCUSDT") -> Decimal:
    for a in v.exchange.snapshot()["accounts"]:
        if a["api_key"] == v.api_key:
            return sum((D(p["amount"]) for p in a["positions"] if p["symbol"] == symbol), D(0))
    return D(0)


def run_env(v: Venue) -> dict[str, str]:
    """The environment of an ``exitguard run`` subprocess in PAPER mode on venue ``v``: this
    process's, without exitguard/Binance settings, and importing this checkout's code."""
    import exitguard

    drop = ("EXITGUARD_", "BINANCE_", "EXECUTION_MODE")
    env = {k: val for k, val in os.environ.items() if not k.startswith(drop)}
    source = str(Path(exitguard.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [source, env.get("PYTHONPATH")]))
    env |= {
        "EXECUTION_MODE": "PAPER",
        "BINANCE_API_KEY": v.api_key,
        "BINANCE_API_SECRET": v.api_secret,
    }
    return env


async def stop_run(proc: asyncio.subprocess.Process) -> str:
    """SIGTERM, wait (bounded), and the process's stderr (its logs)."""
    if proc.returncode is None:
        proc.terminate()
    async with asyncio.timeout(30):
        _, err = await proc.communicate()
    return err.decode() if err else ""


async def start_run(
    v: Venue, work: Path, *, api: str = "port = 0", extra: str = ""
) -> tuple[asyncio.subprocess.Process, dict[str, Any]]:
    """``exitguard run`` (PAPER, USD-M) on venue ``v`` in ``work``, as a user starts it: a
    config file with ``[api]`` holding ``api`` and ``extra`` appended; its ready line."""
    (work / "exitguard.toml").write_text(
        "[manager]\n"
        'account = "bot"\n'
        'products = ["usdm"]\n'
        'venue = "external"\n'
        "[urls]\n"
        f'usdm_rest = "{v.rest_url}"\n'
        f'usdm_ws = "{v.ws_streams_url}"\n'
        f"[api]\n{api}\n{extra}\n"
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "exitguard", "run", "--log-format", "json",
        cwd=work, env=run_env(v),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None
    async with asyncio.timeout(60):
        line = await proc.stdout.readline()
    if not line:
        err = await proc.stderr.read() if proc.stderr else b""
        raise AssertionError(f"exitguard run printed no ready line: {err.decode()[-2000:]}")
    return proc, json.loads(line)
