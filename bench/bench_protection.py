"""Benchmark: time to protected after each fault kind; prints one JSON object.

Setup. ``exitguard venue serve --clock realtime --feed none`` and ``EXECUTION_MODE=PAPER exitguard
run`` run as subprocesses (the soak's harness, :mod:`exitguard.soak.harness`), one-way USD-M
BTCUSDT + Spot ETHUSDT, stop 2 % / take-profit 4 % (Spot: one OCO, 3 % / 6 %). The manager stays
up the whole run. A lost response (``lose_response``) means the venue HAS the order, so the
position is covered at once by the checker's rule; those kinds measure the manager's cleanup
indirectly (the next sample waits for a quiet state: no duplicate, no stale exit). Protection is judged by the soak's checker (:func:`exitguard.soak.checker.observe`):
a position is protected when an ``exg-`` stop-type exit covers all of it.

One sample, for a fault kind:

1. wait until every position is protected, with no stale or duplicate exit (untimed);
2. inject the fault (``POST /_venue/faults``);
3. change the position so that it needs a new exit: flip the USD-M BTCUSDT position (one-way,
   MARKET through ``/_venue/position``: the SELL closePosition stop of the long no longer covers
   the short) — or, for the Spot cases, deposit ETH onto the held ETH (the OCO's quantity is now
   short of the holding);
4. after ``--hold-ms`` clear the fault (``{"clear": true}``);
5. read ``/_venue/snapshot`` every 25 ms until the position is protected again.

Reported per kind: ``from_clear_ms`` (protected - cleared; 0 when protection came back while
the fault was still active, which the count ``under_fault`` says; the snapshot is polled during
the hold too) and ``from_change_ms`` (protected - position changed), p50 / p99 / max over ``--repeats`` samples, and ``timeouts``
(not protected within ``--timeout-s`` of the clearing). ``none`` is the baseline: the same
change with no fault. ``close_user_streams`` and ``expire_listen_key`` act at once; their
clearing is a no-op at ``--hold-ms``.

Goal (docs/numbers.md; design: protection supervisor): protected within 10 s of the fault
clearing, every kind, p99.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp

from exitguard.soak.checker import observe, percentile
from exitguard.soak.harness import Manager, Processes, VenueApi, manager_config, start_venue

SPOT = {"ETHUSDT": "ETH"}
# (name, fault body, product of the change)
KINDS: list[tuple[str, dict[str, Any], str]] = [
    ("none", {}, "usdm"),
    ("latency", {"latency_ms": 1500}, "usdm"),
    (
        "lose_response_algo_post",
        {"lose_response": {"path": "/fapi/v1/algoOrder", "method": "POST"}},
        "usdm",
    ),
    (
        "lose_response_algo_delete",
        {"lose_response": {"path": "/fapi/v1/algoOrder", "method": "DELETE"}},
        "usdm",
    ),
    (
        "lose_response_position_risk",
        {"lose_response": {"path": "/fapi/v3/positionRisk", "count": 3}},
        "usdm",
    ),
    ("status_429", {"status_429": 10}, "usdm"),
    ("clock_skew", {"clock_skew_ms": -10_000}, "usdm"),
    ("close_user_streams", {"close_user_streams": True}, "usdm"),
    ("expire_listen_key", {"expire_listen_key": True}, "usdm"),
    ("spot_none", {}, "spot"),
    (
        "spot_lose_response_oco",
        {"lose_response": {"path": "/api/v3/orderList/oco", "method": "POST"}},
        "spot",
    ),
    ("spot_close_user_streams", {"close_user_streams": True}, "spot"),
]


def _ms() -> float:
    return time.monotonic() * 1000


async def _protected(api: VenueApi, key: tuple[str, str, str] | None = None) -> bool:
    """``key`` covered; without a key: the quiet state a sample starts from — every position
    covered, no stale exit, no duplicate (a stale stop left from the previous flip would cover
    the next one at once and hide the time to protect)."""
    obs = observe(await api.snapshot(), SPOT)
    if key is None:
        return not obs.bare and not obs.stale and not obs.duplicates
    return key in obs.positions and key not in obs.bare


async def _until_protected(api: VenueApi, timeout_s: float, key: Any = None) -> float | None:
    deadline = _ms() + timeout_s * 1000
    while _ms() < deadline:
        if await _protected(api, key):
            return _ms()
        await asyncio.sleep(0.025)
    return None


async def _change(api: VenueApi, product: str) -> tuple[str, str, str]:
    if product == "spot":
        await api.control("balance", {"api_key": api.api_key, "asset": "ETH", "delta": "0.25"})
        return ("spot", "ETHUSDT", "SPOT")
    snap = await api.snapshot()
    amount = Decimal(0)
    for p in snap["accounts"][0]["positions"]:
        if p["symbol"] == "BTCUSDT":
            amount = Decimal(p["amount"])
    side = "SELL" if amount > 0 else "BUY"
    qty = abs(amount) + Decimal("0.02")
    await api.control(
        "position", {"api_key": api.api_key, "symbol": "BTCUSDT", "side": side, "qty": str(qty)}
    )
    return ("usdm", "BTCUSDT", "BOTH")


async def _sample(
    api: VenueApi, body: dict[str, Any], product: str, hold_ms: int, timeout_s: float
) -> dict[str, float | None]:
    if await _until_protected(api, timeout_s) is None:
        return {"from_clear": None, "from_change": None, "setup_timeout": 1}
    if body:
        await api.control("faults", body)
    t_change = _ms()
    key = await _change(api, product)
    # Protected again while the fault is still active?
    t_done = await _until_protected(api, hold_ms / 1000, key)
    await asyncio.sleep(max(0.0, (t_change + hold_ms - _ms()) / 1000))
    if body:
        await api.control("faults", {"clear": True})
    t_clear = _ms()
    if t_done is None:
        t_done = await _until_protected(api, timeout_s, key)
    if t_done is None:
        return {"from_clear": None, "from_change": None}
    return {
        "from_clear": max(0.0, t_done - t_clear),
        "from_change": t_done - t_change,
        "under_fault": 1 if t_done <= t_clear else 0,
    }


def _stats(values: list[float]) -> dict[str, float | None]:
    def r(v: float | None) -> float | None:
        return None if v is None else round(v, 1)

    return {
        "p50": r(percentile(values, 0.5)),
        "p99": r(percentile(values, 0.99)),
        "max": r(max(values, default=None)),
    }


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="exitguard-bench-protection-"))
    procs = Processes()
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as http:
            venue, urls = await start_venue(procs, root)
            api = VenueApi(http, urls)
            await api.control(
                "position",
                {"api_key": api.api_key, "symbol": "BTCUSDT", "side": "BUY", "qty": "0.05"},
            )
            config = manager_config(
                root, urls, spot=True, usdm_symbols=("BTCUSDT",), spot_symbols=("ETHUSDT",)
            )
            manager = Manager(
                procs,
                config,
                urls,
                on_start=lambda t: None,
                on_ready=lambda t: None,
                on_stop=lambda t: None,
            )
            await manager.start()
            await asyncio.wait_for(manager.ready.wait(), 120)
            out: dict[str, Any] = {}
            for name, body, product in KINDS:
                if args.only and name not in args.only:
                    continue
                rows = [
                    await _sample(api, body, product, args.hold_ms, args.timeout_s)
                    for _ in range(args.repeats)
                ]
                clear = [r["from_clear"] for r in rows if r["from_clear"] is not None]
                change = [r["from_change"] for r in rows if r["from_change"] is not None]
                out[name] = {
                    "n": len(rows),
                    "from_clear_ms": _stats(clear),
                    "from_change_ms": _stats(change),
                    "under_fault": sum(int(r.get("under_fault") or 0) for r in rows),
                    "timeouts": sum(1 for r in rows if r["from_clear"] is None),
                }
                print(f"{name}: {out[name]}", file=sys.stderr, flush=True)
            await manager.stop()
            await procs.stop(venue)
            worst = max((v["from_clear_ms"]["p99"] or 0 for v in out.values()), default=0)
            return {
                "bench": "protection",
                "repeats": args.repeats,
                "hold_ms": args.hold_ms,
                "kinds": out,
                "goal": "p99 from_clear_ms <= 10000 for every kind, no timeouts",
                "goal_met": worst <= 10_000 and not any(v["timeouts"] for v in out.values()),
            }
    finally:
        procs.kill_all()
        shutil.rmtree(root, ignore_errors=True)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--hold-ms", type=int, default=2000, help="fault active after the change")
    parser.add_argument("--timeout-s", type=float, default=30.0)
    parser.add_argument("--only", nargs="*", help="kinds to run (default: all)")
    parser.add_argument("--quick", action="store_true", help="2 repeats (CI smoke)")
    args = parser.parse_args(argv)
    if args.quick:
        args.repeats = 2
    print(json.dumps(asyncio.run(main_async(args)), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
