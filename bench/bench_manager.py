"""Manager benchmarks; prints one JSON object.

1. ``intake``: private events per second through intake -> parse -> dedupe (SQLite journal) ->
   apply -> planner, on one USD-M scope with 200 app-owned exits over 50 symbols. The mix is
   what a busy account sees: algo/order status changes, fills, account updates that make the
   planner run, and 10 % re-deliveries that the dedupe must drop. Mutations are off
   (DRY_RUN_PRIVATE: the planner's placements are journaled as candidates), so the figure is the
   manager's own cost, not the venue's.
2. ``fill_to_exit``: entry fill -> protective exit accepted, on the paper venue over loopback
   with the official SDK (PAPER mode): the time from the venue's ACCOUNT_UPDATE for a new
   position to the venue's answer accepting the stop (p50, p99 over N positions), once per
   ``transport``: ``rest`` (``POST /fapi/v1/algoOrder``) and ``ws_api`` (``algoOrder.place`` on
   the USD-M WebSocket API), side by side. ``place_roundtrip`` isolates the trader's share:
   ``place_algo_order`` sent -> acceptance read, per transport.
3. ``hydration``: startup with 200 open algo orders across 50 symbols: REST hydration plus
   reconciliation plus a planning pass that finds nothing to do.

Goals (docs/numbers.md): >= 50,000 events/s; fill -> exit p99 < 50 ms (REST); fill -> exit
p99 < 1 ms over the WebSocket API on loopback; hydration < 1 s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from exitguard.adapters.port import UserDataEvent
from exitguard.domain.enums import PositionSide, Product, Side
from exitguard.domain.filters import parse_exchange_info
from exitguard.domain.ids import ClientIdGenerator
from exitguard.manager.ops import UsdmOps
from exitguard.manager.scope import ProductScope, ScopeConfig, ScopeState
from exitguard.planner.model import ExitKind, ExitStatus, Position, Role, SlotKey
from exitguard.planner.policy import Distance, ProtectionPolicy, StopLossPolicy, TakeProfitPolicy
from exitguard.store.exits import ExitStore

POLICY = ProtectionPolicy(
    stop_loss=StopLossPolicy(Distance(percent=Decimal(2))),
    take_profit=TakeProfitPolicy(Distance(percent=Decimal(4))),
)


def synthetic_usdm_info(n_symbols: int) -> dict[str, Any]:
    """A USD-M exchangeInfo with ``n_symbols`` BTC-like symbols (SYM000USDT, ...)."""
    from importlib.resources import files

    doc = json.loads(files("exitguard").joinpath("fixtures/exchange_info/usdm.json").read_text())
    btc = next(s for s in doc["symbols"] if s["symbol"] == "BTCUSDT")
    symbols = []
    for i in range(n_symbols):
        s = json.loads(json.dumps(btc))
        s["symbol"] = f"SYM{i:03d}USDT"
        s["baseAsset"] = f"SYM{i:03d}"
        symbols.append(s)
    return {**doc, "symbols": symbols}


def _algo(cid: str, aid: int, symbol: str, status: str, t: int) -> dict[str, Any]:
    return {
        "e": "ALGO_UPDATE",
        "T": t,
        "E": t,
        "o": {
            "caid": cid,
            "aid": aid,
            "at": "CONDITIONAL",
            "o": "STOP_MARKET",
            "s": symbol,
            "S": "SELL",
            "ps": "BOTH",
            "f": "GTC",
            "q": "0",
            "X": status,
            "ai": "",
            "tp": "49000",
            "p": "0",
            "wt": "MARK_PRICE",
            "cp": True,
            "pP": True,
            "R": False,
        },
    }


def _trade(cid: str, oid: int, symbol: str, tid: int, t: int) -> dict[str, Any]:
    return {
        "e": "ORDER_TRADE_UPDATE",
        "E": t,
        "T": t,
        "o": {
            "s": symbol,
            "c": cid,
            "S": "SELL",
            "o": "LIMIT",
            "x": "TRADE",
            "X": "PARTIALLY_FILLED",
            "i": oid,
            "l": "0.001",
            "z": f"{tid * 0.001:.3f}",
            "L": "52000",
            "t": tid,
            "R": True,
            "ps": "BOTH",
        },
    }


def _account(symbol: str, amount: str, t: int) -> dict[str, Any]:
    return {
        "e": "ACCOUNT_UPDATE",
        "E": t,
        "T": t,
        "a": {
            "m": "ORDER",
            "B": [],
            "P": [{"s": symbol, "pa": amount, "ep": "50000", "ps": "BOTH"}],
        },
    }


async def bench_intake(n_events: int, batch: int) -> dict[str, Any]:
    info = synthetic_usdm_info(50)
    rules = parse_exchange_info(info, Product.USDM)
    with tempfile.TemporaryDirectory() as tmp:
        store = ExitStore(Path(tmp) / "bench.db")
        clock = iter(range(1, 10**12))
        scope = ProductScope(
            UsdmOps(reader=None, trader=None),  # type: ignore[arg-type]
            store,
            ScopeConfig("acct", lambda _p, _s: POLICY),
            ClientIdGenerator(rng=random.Random(1)),
            lambda: next(clock),
        )
        scope.rules = rules
        symbols = [f"SYM{i:03d}USDT" for i in range(50)]
        owned: list[tuple[str, int, str, ExitKind]] = []
        for i in range(200):
            symbol = symbols[i % 50]
            role = Role.STOP_LOSS if i < 100 else Role.TAKE_PROFIT
            kind = ExitKind.ALGO if role is Role.STOP_LOSS else ExitKind.ORDER
            slot = SlotKey("acct", Product.USDM, symbol, PositionSide.BOTH, role)
            cid = f"exg-bench{i:04d}"
            qty = None if kind is ExitKind.ALGO else Decimal("0.5")  # as the planner wants them
            store.record_intent(cid, slot, kind, Side.SELL, qty, {}, 0)
            store.update(cid, ExitStatus.OPEN, 0, venue_id=10_000 + i)
            owned.append((cid, 10_000 + i, symbol, kind))
        for symbol in symbols:
            scope.positions[(symbol, PositionSide.BOTH)] = Position(
                "acct", Product.USDM, symbol, PositionSide.BOTH, Decimal("0.5"), Decimal(50000)
            )
        scope.set_state(ScopeState.READY)
        rng = random.Random(2)
        payloads: list[dict[str, Any]] = []
        tid = 0
        for n in range(n_events):
            r = rng.random()
            t = 1_000 + n
            if payloads and r < 0.10:
                payloads.append(payloads[rng.randrange(len(payloads))])  # a re-delivery
                continue
            cid, vid, symbol, kind = owned[rng.randrange(len(owned))]
            if r < 0.15:
                amount = f"0.{rng.randrange(3, 9)}"
                payloads.append(_account(symbol, amount, t))
            elif kind is ExitKind.ALGO:
                payloads.append(_algo(cid, vid, symbol, "NEW", t))
            else:
                tid += 1
                payloads.append(_trade(cid, vid, symbol, tid, t))
        items = [UserDataEvent(p) for p in payloads]
        start = time.perf_counter()
        for i in range(0, len(items), batch):
            await scope.handle_batch(items[i : i + batch])
        elapsed = time.perf_counter() - start
        store.close()
    return {
        "events": n_events,
        "batch": batch,
        "seconds": round(elapsed, 4),
        "events_per_s": round(n_events / elapsed),
        "applied": scope.stats.events_applied,
        "duplicates_dropped": scope.stats.duplicates,
        "plan_passes": scope.stats.plan_passes,
    }


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--quick", action="store_true", help="smaller runs (CI smoke)")
    parser.add_argument(
        "--transport",
        choices=["rest", "ws_api", "both"],
        default="both",
        help="how the fill -> exit benchmark places exits (default: both, side by side)",
    )
    args = parser.parse_args(argv)
    n = 5_000 if args.quick else args.events
    out: dict[str, Any] = {"intake": await bench_intake(n, args.batch)}
    transports = ["rest", "ws_api"] if args.transport == "both" else [args.transport]
    try:
        from manager_venue import bench_fill_to_exit, bench_hydration, bench_place_roundtrip

        samples = 10 if args.quick else 100
        out["fill_to_exit"] = {t: await bench_fill_to_exit(samples, t) for t in transports}
        out["place_roundtrip"] = {t: await bench_place_roundtrip(samples, t) for t in transports}
        out["hydration"] = await bench_hydration()
    except ImportError:
        pass
    out["goals"] = {
        "events_per_s_ge_50k": out["intake"]["events_per_s"] >= 50_000,
    }
    fill = out.get("fill_to_exit", {})
    if "rest" in fill:
        out["goals"]["fill_to_exit_p99_lt_50ms"] = fill["rest"]["p99_ms"] < 50
    if "ws_api" in fill:
        out["goals"]["fill_to_exit_ws_api_p99_lt_1ms"] = fill["ws_api"]["p99_ms"] < 1
    if "hydration" in out:
        out["goals"]["hydration_lt_1s"] = out["hydration"]["seconds"] < 1
    print(json.dumps(out, indent=2))
    _ = statistics
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
