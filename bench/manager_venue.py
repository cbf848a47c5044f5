"""The loopback parts of bench_manager.py (imported by it; not run on its own): fill -> exit latency and startup hydration.

Both run the real manager (PAPER mode, the official SDK adapters) against the paper venue in
this process, so the figures include HTTP, signing, the venue and the private stream.
``transport`` picks how exits are placed: ``"rest"`` (``POST /fapi/v1/algoOrder``) or
``"ws_api"`` (``algoOrder.place`` on ``/ws-fapi/v1``, :class:`WsUsdmTrader`).
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from exitguard.adapters.usdm_reader import SdkUsdmReader
from exitguard.adapters.usdm_trader import SdkUsdmTrader
from exitguard.adapters.usdm_ws import WsUsdmTrader
from exitguard.domain.enums import AlgoOrderType, Product, Side
from exitguard.domain.ids import ClientAlgoId
from exitguard.domain.requests import AlgoOrderRequest
from exitguard.manager.ops import UsdmOps
from exitguard.manager.scope import ScopeConfig
from exitguard.manager.service import ExitManager
from exitguard.planner.policy import Distance, ProtectionPolicy, StopLossPolicy
from exitguard.store.exits import ExitStore

STOP_ONLY = ProtectionPolicy(stop_loss=StopLossPolicy(Distance(percent=Decimal(2))))


def _trader(venue: Any, transport: str = "rest") -> SdkUsdmTrader:
    if transport == "ws_api":
        return WsUsdmTrader(
            rest_url=venue.rest_url,
            ws_api_url=venue.ws_api_url,
            api_key=venue.api_key,
            api_secret=venue.api_secret,
        )
    return SdkUsdmTrader(
        rest_url=venue.rest_url, api_key=venue.api_key, api_secret=venue.api_secret
    )


def _manager(venue: Any, db: Path, on_event: Any = None, transport: str = "rest") -> ExitManager:
    reader = SdkUsdmReader(
        rest_url=venue.rest_url,
        ws_streams_url=venue.ws_streams_url,
        api_key=venue.api_key,
        api_secret=venue.api_secret,
    )
    trader = _trader(venue, transport)
    return ExitManager(
        [UsdmOps(reader, trader)],
        ExitStore(db),
        ScopeConfig("bench", lambda _p, _s: STOP_ONLY),
        on_event=on_event,
    )


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def _close_traders(manager: ExitManager) -> None:
    """The manager leaves its clients open; the WebSocket API trader holds a socket."""
    for scope in manager.scopes.values():
        trader = getattr(scope.ops, "trader", None)
        if trader is not None:
            await trader.close()


def _stats(latencies: list[float], **extra: Any) -> dict[str, Any]:
    return {
        **extra,
        "n": len(latencies),
        "p50_ms": round(_pct(latencies, 0.5), 3),
        "p99_ms": round(_pct(latencies, 0.99), 3),
        "max_ms": round(max(latencies), 3),
    }


async def bench_place_roundtrip(n: int, transport: str = "rest") -> dict[str, Any]:
    """The trader alone: ``place_algo_order`` sent -> the venue's acceptance read, n times (a
    resting STOP_MARKET far from the price; cancelled over REST between samples, not timed)."""
    from exitguard.domain.enums import Side as S
    from exitguard.venue.clock import RealtimeClock
    from exitguard.venue.server import Venue

    latencies: list[float] = []
    async with Venue(clock=RealtimeClock(), feed=None) as venue:
        trader = _trader(venue, transport)
        rest = SdkUsdmTrader(
            rest_url=venue.rest_url, api_key=venue.api_key, api_secret=venue.api_secret
        )
        try:
            for i in range(n + 5):  # the first 5 warm up (connect, logon, caches)
                cid = f"bench-rt-{transport}-{i}"
                request = AlgoOrderRequest(
                    symbol="BTCUSDT",
                    side=S.SELL,
                    type=AlgoOrderType.STOP_MARKET,
                    quantity=Decimal("0.01"),
                    trigger_price=Decimal(10000),
                    client_algo_id=ClientAlgoId(cid),
                )
                start = time.perf_counter()
                await trader.place_algo_order(request)
                if i >= 5:
                    latencies.append((time.perf_counter() - start) * 1000)
                await rest.cancel_algo_order(cid)
        finally:
            await trader.close()
            await rest.close()
    return _stats(latencies, transport=transport)


async def bench_fill_to_exit(n: int, transport: str = "rest") -> dict[str, Any]:
    """Entry fill (the venue's ACCOUNT_UPDATE) -> the stop accepted by the venue, n times."""
    from exitguard.venue.clock import RealtimeClock
    from exitguard.venue.server import Venue

    placed = asyncio.Event()

    def on_event(kind: str, _data: dict[str, Any]) -> None:
        if kind == "placed":
            placed.set()

    latencies: list[float] = []
    async with Venue(clock=RealtimeClock(), feed=None) as venue:
        account = venue.exchange.account_by_api_key(venue.api_key)
        with tempfile.TemporaryDirectory() as tmp:
            manager = _manager(venue, Path(tmp) / "b.db", on_event, transport)
            await manager.start()
            scope = manager.scope(Product.USDM)
            for i in range(n):
                placed.clear()
                start = time.perf_counter()
                venue.exchange.open_position(account, "BTCUSDT", Side.BUY, Decimal("0.01"))
                async with asyncio.timeout(5):
                    await placed.wait()
                latencies.append((time.perf_counter() - start) * 1000)
                # Flat again: the venue expires the closePosition stop; wait until it is gone.
                venue.exchange.open_position(account, "BTCUSDT", Side.SELL, Decimal("0.01"))
                async with asyncio.timeout(5):
                    while scope.positions or manager.store.blocking("bench", Product.USDM):
                        await asyncio.sleep(0.001)
                _ = i
            await manager.stop()
            manager.store.close()
            await _close_traders(manager)
    return _stats(latencies, transport=transport)


async def bench_hydration(n_symbols: int = 50) -> dict[str, Any]:
    """Startup with 200 open algo orders across ``n_symbols`` symbols: per symbol the app owns a
    stop-loss, a conditional take-profit and a trailing stop (150), and the user has one more
    algo order of their own (50, never touched)."""
    import exitguard.venue.server as server
    from bench_manager import synthetic_usdm_info
    from exitguard.domain.enums import AlgoOrderType, WorkingType
    from exitguard.domain.requests import AlgoOrderRequest
    from exitguard.planner.policy import TakeProfitPolicy, TrailingPolicy
    from exitguard.venue.clock import RealtimeClock

    policy = ProtectionPolicy(
        stop_loss=StopLossPolicy(Distance(percent=Decimal(2))),
        take_profit=TakeProfitPolicy(Distance(percent=Decimal(4)), conditional=True),
        trailing=TrailingPolicy(callback_rate=Decimal(1), working_type=WorkingType.MARK_PRICE),
    )
    original = server.load_usdm_exchange_info
    server.load_usdm_exchange_info = lambda: synthetic_usdm_info(n_symbols)
    try:
        async with server.Venue(clock=RealtimeClock(), feed=None) as venue:
            account = venue.exchange.account_by_api_key(venue.api_key)
            symbols = [f"SYM{i:03d}USDT" for i in range(n_symbols)]
            for s in symbols:
                venue.set_price(s, last=Decimal(50000), mark=Decimal(50000))
                venue.exchange.open_position(account, s, Side.BUY, Decimal("0.01"))
            with tempfile.TemporaryDirectory() as tmp:
                db = Path(tmp) / "h.db"
                first = _manager(venue, db)
                for sc in first.scopes.values():
                    sc.config.policy_for = lambda _p, _s: policy
                await first.start()  # places the app's 150
                await first.stop()
                first.store.close()
                user = SdkUsdmTrader(
                    rest_url=venue.rest_url, api_key=venue.api_key, api_secret=venue.api_secret
                )
                for i, s in enumerate(symbols):
                    await user.place_algo_order(
                        AlgoOrderRequest(
                            symbol=s,
                            side=Side.SELL,
                            type=AlgoOrderType.STOP_MARKET,
                            quantity=Decimal("0.002"),
                            trigger_price=Decimal(40000),
                            client_algo_id=f"user-own-{i}",  # type: ignore[arg-type]
                        )
                    )
                await user.close()
                open_algos = sum(
                    1 for o in venue.exchange.snapshot()["algoOrders"] if o["algoStatus"] == "NEW"
                )
                second = _manager(venue, db)
                for sc in second.scopes.values():
                    sc.config.policy_for = lambda _p, _s: policy
                start = time.perf_counter()
                await second.start()
                elapsed = time.perf_counter() - start
                actions = second.scope(Product.USDM).stats.last_actions
                await second.stop()
                second.store.close()
    finally:
        server.load_usdm_exchange_info = original
    return {
        "symbols": n_symbols,
        "open_algo_orders": open_algos,
        "app_owned": 3 * n_symbols,
        "seconds": round(elapsed, 4),
        "actions_after_hydration": len(actions),
    }
