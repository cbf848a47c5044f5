"""Play a scenario against live lanes (venue + manager subprocesses) and build the report.

Phases: start the venues (one per lane), put the hedge lane's account in hedge mode, write the
configs, start the managers; then the **chaos** phase plays the scenario's events on time while a
sampler reads every lane's ``/_venue/snapshot`` every ``sample_ms`` into its
:class:`~exitguard.soak.checker.Checker`; then the **settle** phase (the last ``settle_s`` of the
run) clears every fault, restarts any manager that is down and keeps sampling with no new
events — until every manager is ready again plus the grace, if that is later — so the end state
is judged on a quiet system; then the managers are stopped (SIGTERM),
the final snapshots taken, each manager's store read (``exits``, SQLite read-only) and the
report written. Every subprocess is SIGKILLed in a ``finally``, also on Ctrl-C.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import sqlite3
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from importlib.resources import files
from pathlib import Path
from typing import Any

import aiohttp

from .checker import Checker, percentile
from .generator import (
    LANES,
    SPOT_ASSET,
    SPOT_SYMBOL,
    USDM_SYMBOLS,
    Event,
    LaneSpec,
    generate,
    resolve_position,
    resolve_withdrawal,
)
from .harness import Manager, Processes, VenueApi, VenueError, manager_config, now_ms, start_venue

__all__ = ["Lane", "SoakOptions", "run_soak", "spot_min_qty", "summarize"]

RESTART_AFTER_CRASH_S = 1.0
MAX_STARTUP_S = 30.0  # a kill that waits for ready waits no longer than this
# Venue startups before the scenario and the shutdown after it: the whole run is bounded by
# seconds + this (TimeoutError past it; the finally still kills every subprocess).
OVERRUN_S = 300.0


@dataclass(frozen=True, slots=True)
class SoakOptions:
    seconds: float = 600.0
    seed: int = 1
    lanes: tuple[str, ...] = tuple(lane.name for lane in LANES)
    kill_every_s: float = 20.0
    settle_s: float = 10.0
    sample_ms: int = 250
    grace_s: float = 3.0
    bare_limit_s: float = 10.0
    workdir: Path | None = None  # kept after the run; default: a temporary directory, removed

    def __post_init__(self) -> None:
        if self.seconds <= self.settle_s:
            raise ValueError(f"seconds must be > settle_s ({self.settle_s}), got {self.seconds}")
        unknown = set(self.lanes) - {lane.name for lane in LANES}
        if unknown or not self.lanes:
            raise ValueError(
                f"lanes must be a non-empty subset of {[lane.name for lane in LANES]}, "
                f"got {list(self.lanes)}"
            )


def spot_min_qty(symbol: str) -> Decimal:
    """LOT_SIZE minQty of a Spot symbol from the bundled exchangeInfo (the venue's)."""
    doc = json.loads(files("exitguard").joinpath("fixtures/exchange_info/spot.json").read_text())
    sym = next(s for s in doc["symbols"] if s["symbol"] == symbol)
    lot = next(f for f in sym["filters"] if f["filterType"] == "LOT_SIZE")
    return Decimal(lot["minQty"])


@dataclass
class Lane:
    spec: LaneSpec
    dir: Path
    api: VenueApi
    checker: Checker
    manager: Manager | None = None
    venue: Any = None
    errors: Counter[str] = field(default_factory=Counter)
    generator_orders: int = 0
    balance_moves: int = 0
    faults: Counter[str] = field(default_factory=Counter)
    fault_active: bool = False


async def _open_lane(
    spec: LaneSpec, root: Path, procs: Processes, http: aiohttp.ClientSession, opts: SoakOptions
) -> Lane:
    d = root / spec.name
    d.mkdir(parents=True, exist_ok=True)
    venue, urls = await start_venue(procs, d)
    spot = {SPOT_SYMBOL: SPOT_ASSET} if spec.spot else {}
    checker = Checker(
        spec.name,
        spot_assets=spot,
        spot_min_qty={s: spot_min_qty(s) for s in spot},
        grace_ms=int(opts.grace_s * 1000),
        bare_limit_ms=int(opts.bare_limit_s * 1000),
    )
    lane = Lane(spec, d, VenueApi(http, urls), checker, venue=venue)
    if spec.hedge:
        # Hedge mode is account-wide (POST /fapi/v1/positionSide/dual), set before any order.
        await lane.api.signed("POST", "/fapi/v1/positionSide/dual", {"dualSidePosition": "true"})
    config = manager_config(
        d, urls, spot=spec.spot, usdm_symbols=USDM_SYMBOLS, spot_symbols=(SPOT_SYMBOL,)
    )
    lane.manager = Manager(
        procs,
        config,
        urls,
        on_start=checker.timeline.started,
        on_ready=checker.timeline.ready,
        on_stop=checker.timeline.stopped,
    )
    return lane


async def _apply(lane: Lane, ev: Event) -> None:
    api, d = lane.api, ev.data
    assert lane.manager is not None
    if ev.kind == "price":
        for symbol, price in d["prices"].items():
            await api.control("price", {"symbol": symbol, "last": price, "mark": price})
    elif ev.kind == "position":
        snap = await api.snapshot()
        ps = d["position_side"]
        amount = Decimal(0)
        for p in snap["accounts"][0]["positions"]:
            if p["symbol"] == d["symbol"] and p["positionSide"] == ps:
                amount = Decimal(p["amount"])
        order = resolve_position(d, amount, lane.spec.hedge)
        if order is None:
            return
        side, qty, position_side = order
        body = {"api_key": api.api_key, "symbol": d["symbol"], "side": side, "qty": str(qty)}
        if lane.spec.hedge:
            body["position_side"] = position_side
        answer = await api.control("position", body)
        o = answer["order"]
        lane.checker.generator_order(int(o["time"]), d["symbol"], o["positionSide"], o["side"])
        lane.generator_orders += 1
    elif ev.kind == "balance":
        if d["op"] == "deposit":
            delta = Decimal(d["qty"])
        else:
            snap = await api.snapshot()
            bal = snap["spot"]["accounts"][0]["balances"].get(d["asset"], {})
            part = resolve_withdrawal(d, Decimal(bal.get("free", "0")))
            if part is None:
                lane.errors["withdrawal skipped (nothing free)"] += 1
                return
            delta = -part
        await api.control(
            "balance", {"api_key": api.api_key, "asset": d["asset"], "delta": str(delta)}
        )
        lane.balance_moves += 1
    elif ev.kind == "fault":
        lane.checker.timeline.fault_on(now_ms(), d["kind"], d["body"])
        lane.fault_active = True
        lane.faults[d["kind"]] += 1
        await api.control("faults", d["body"])
    elif ev.kind == "clear":
        await _clear(lane)


async def _clear(lane: Lane) -> None:
    await lane.api.control("faults", {"clear": True})
    if lane.fault_active:
        lane.checker.timeline.fault_off(now_ms())
        lane.fault_active = False


async def _guarded(lane: Lane, ev: Event) -> None:
    try:
        await asyncio.wait_for(_apply(lane, ev), 10.0)
    except (VenueError, aiohttp.ClientError, TimeoutError, KeyError) as exc:
        lane.errors[f"{ev.kind}: {type(exc).__name__}: {str(exc)[:120]}"] += 1


async def _killer(lane: Lane, kills: list[Event], t0: float, chaos_end: float, say: Any) -> None:
    """Play one lane's kills in order: wait for the time, then until the manager has run
    ``run_ms`` since it became ready (``wait_ready``) or since its spawn; kill -9, stay down
    ``down_ms``, restart. Nothing is killed after the chaos phase."""
    m = lane.manager
    assert m is not None
    for ev in kills:
        await asyncio.sleep(max(0.0, t0 + ev.at_ms / 1000 - time.monotonic()))
        if ev.data["wait_ready"]:
            deadline = min(chaos_end, time.monotonic() + MAX_STARTUP_S)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(m.ready.wait(), max(0.0, deadline - time.monotonic()))
        since = m.ready_at if ev.data["wait_ready"] and m.ready_at is not None else m.started_at
        if since is not None:
            run_until = since + ev.data["run_ms"] / 1000
            await asyncio.sleep(max(0.0, min(run_until, chaos_end) - time.monotonic()))
        if time.monotonic() >= chaos_end:
            return
        await m.kill9()
        say(f"kill -9 {lane.spec.name} (down {ev.data['down_ms']} ms)")
        await asyncio.sleep(min(ev.data["down_ms"] / 1000, max(0.0, chaos_end - time.monotonic())))
        await m.start()


async def _sampler(lanes: list[Lane], every_ms: int, stop: asyncio.Event) -> None:
    while not stop.is_set():
        t_next = time.monotonic() + every_ms / 1000
        for lane in lanes:
            try:
                snap = await asyncio.wait_for(lane.api.snapshot(), 10.0)
            except (VenueError, aiohttp.ClientError, TimeoutError) as exc:
                lane.errors[f"snapshot: {type(exc).__name__}"] += 1
                continue
            lane.checker.sample(snap)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), max(0.0, t_next - time.monotonic()))


async def _crash_restarter(lanes: list[Lane], stop: asyncio.Event) -> None:
    """A manager that exits by itself is restarted (and counted in its ``crashes``), as a
    process supervisor would; scheduled kills are the scenario's business."""
    seen = {lane.spec.name: 0 for lane in lanes}
    while not stop.is_set():
        for lane in lanes:
            m = lane.manager
            assert m is not None
            if len(m.crashes) > seen[lane.spec.name]:
                seen[lane.spec.name] = len(m.crashes)
                await asyncio.sleep(RESTART_AFTER_CRASH_S)
                await m.start()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.5)


def _store_ids(db: Path) -> set[str] | None:
    """Client ids in the manager's ``exits`` table (read-only); an empty set when the manager
    never created its store (it never got that far: it owns nothing), None if unreadable."""
    if not db.exists():
        return set()
    for uri in (f"file:{db}?mode=ro", f"file:{db}?immutable=1"):
        try:
            with contextlib.closing(sqlite3.connect(uri, uri=True)) as conn:
                return {row[0] for row in conn.execute("SELECT client_id FROM exits")}
        except sqlite3.Error:
            continue
    return None


async def run_soak(opts: SoakOptions, log: Any = None) -> dict[str, Any]:
    """Run the soak; return the report (see :func:`summarize`)."""
    specs = tuple(lane for lane in LANES if lane.name in opts.lanes)
    chaos_ms = int((opts.seconds - opts.settle_s) * 1000)
    scenario = generate(opts.seed, chaos_ms, specs, int(opts.kill_every_s * 1000))
    root = opts.workdir or Path(tempfile.mkdtemp(prefix="exitguard-soak-"))
    root.mkdir(parents=True, exist_ok=True)
    procs = Processes()
    lanes: list[Lane] = []
    tasks: list[asyncio.Task[None]] = []
    started = time.monotonic()

    def say(msg: str) -> None:
        if log is not None:
            log(f"[soak {time.monotonic() - started:6.1f}s] {msg}")

    try:
        async with (
            asyncio.timeout(opts.seconds + OVERRUN_S),
            aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=10), connector=aiohttp.TCPConnector(limit=16)
            ) as http,
        ):
            lanes = list(
                await asyncio.gather(*(_open_lane(s, root, procs, http, opts) for s in specs))
            )
            by_name = {lane.spec.name: lane for lane in lanes}
            say(f"venues up: {', '.join(by_name)}; workdir {root}")
            for lane in lanes:
                assert lane.manager is not None
                await lane.manager.start()
            stop = asyncio.Event()
            sampler = asyncio.create_task(_sampler(lanes, opts.sample_ms, stop))
            restarter = asyncio.create_task(_crash_restarter(lanes, stop))
            tasks += [sampler, restarter]
            t0 = time.monotonic()
            chaos_end = t0 + chaos_ms / 1000
            killers = [
                asyncio.create_task(
                    _killer(
                        lane,
                        [e for e in scenario.events if e.kind == "kill" and e.lane == name],
                        t0,
                        chaos_end,
                        say,
                    )
                )
                for name, lane in by_name.items()
            ]
            tasks += killers
            for ev in scenario.events:
                if ev.kind == "kill":
                    continue
                delay = t0 + ev.at_ms / 1000 - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                targets = lanes if ev.kind == "price" else [by_name[ev.lane]]
                await asyncio.gather(*(_guarded(lane, ev) for lane in targets))
            await asyncio.sleep(max(0.0, chaos_end - time.monotonic()))
            await asyncio.gather(*killers)
            say("chaos over: clearing faults, restarting managers, settling")
            for lane in lanes:
                await _clear(lane)
                assert lane.manager is not None
                await lane.manager.start()
            # The end state is judged on running managers: the settle phase lasts until
            # --seconds, and at least until every manager is ready (at most MAX_STARTUP_S) plus
            # the grace.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(MAX_STARTUP_S):
                    for lane in lanes:
                        assert lane.manager is not None
                        await lane.manager.ready.wait()
            settle_end = max(t0 + opts.seconds, time.monotonic() + opts.grace_s)
            await asyncio.sleep(max(0.0, settle_end - time.monotonic()))
            stop.set()
            await asyncio.gather(sampler, restarter)
            for lane in lanes:  # one last sample with the managers up
                lane.checker.sample(await lane.api.snapshot())
            t_end = now_ms()
            results = {}
            for lane in lanes:
                assert lane.manager is not None
                await lane.manager.stop()
                final = await lane.api.snapshot()
                store = _store_ids(lane.dir / "state.db")
                results[lane.spec.name] = lane.checker.finish(t_end, final, store)
            for lane in lanes:
                await procs.stop(lane.venue)
            report = summarize(opts, scenario.count("kill"), lanes, results, time.monotonic() - t0)
            report["workdir"] = str(root) if opts.workdir else None
            return report
    finally:
        for task in tasks:
            task.cancel()
        procs.kill_all()  # synchronous: also right after Ctrl-C / a cancel
        if opts.workdir is None:
            shutil.rmtree(root, ignore_errors=True)


def summarize(
    opts: SoakOptions,
    planned_kills: int,
    lanes: list[Lane],
    results: dict[str, dict[str, Any]],
    elapsed_s: float,
) -> dict[str, Any]:
    """The report: the headline invariants first, then each lane's books."""
    faults: Counter[str] = Counter()
    for lane in lanes:
        faults.update(lane.faults)
    managers = {lane.spec.name: lane.manager for lane in lanes}
    startups = [ms / 1000 for lane in lanes for ms in lane.checker.timeline.readies]
    runs = [r["bare"]["clean_run_max_s"] for r in results.values()]
    max_bare = max((x for x in runs if x is not None), default=0.0)
    clean_runs = [
        e.clean_run_ms / 1000
        for lane in lanes
        for e in lane.checker.bare.done
        if e.ms["clean"] or e.clean_run_ms
    ]
    up_runs = [r["bare"]["up_run_max_s"] for r in results.values()]
    inv = {
        "duplicate_exits": sum(r["duplicates"]["beyond_grace"] for r in results.values()),
        "unowned_exits_at_end": sum(len(r["end"]["unowned_exits"]) for r in results.values()),
        "flat_exits_beyond_grace": sum(r["stale_exits"]["beyond_grace"] for r in results.values()),
        "reduce_only_flips": sum(r["reduce_only_flips"]["count"] for r in results.values()),
        "max_up_bare_episode_s": max_bare,
        "max_bare_since_spawn_s": max((x for x in up_runs if x is not None), default=0.0),
        "bare_episodes_beyond_limit": sum(r["bare"]["beyond_limit"] for r in results.values()),
        "manager_crashes": sum(len(m.crashes) for m in managers.values() if m is not None),
        "stores_read": all(r["end"]["store_read"] for r in results.values()),
    }
    inv["ok"] = (
        inv["duplicate_exits"] == 0
        and inv["unowned_exits_at_end"] == 0
        and inv["flat_exits_beyond_grace"] == 0
        and inv["reduce_only_flips"] == 0
        and max_bare <= opts.bare_limit_s
        and inv["stores_read"]
    )
    import exitguard

    return {
        "seed": opts.seed,
        "seconds": opts.seconds,
        "exitguard": str(Path(exitguard.__file__).resolve().parent),  # the code under test
        "elapsed_s": round(elapsed_s, 1),
        "lanes": [lane.spec.name for lane in lanes],
        "rules": {
            "grace_s": opts.grace_s,
            "bare_limit_s": opts.bare_limit_s,
            "sample_ms": opts.sample_ms,
            "settle_s": opts.settle_s,
        },
        "invariants": inv,
        "kills": sum(m.kills for m in managers.values() if m is not None),
        "kills_planned": planned_kills,  # deferred kills that ran past the chaos phase are dropped
        "starts": {n: m.starts for n, m in managers.items() if m is not None},
        "crashes": {n: m.crashes for n, m in managers.items() if m is not None and m.crashes},
        "startup_s": {
            "p50": percentile(startups, 0.5),
            "max": max(startups, default=None),
            "ready_after_starts": len(startups),
        },
        "faults_injected": dict(sorted(faults.items())),
        "generator": {
            lane.spec.name: {
                "orders": lane.generator_orders,
                "balance_moves": lane.balance_moves,
                "failed_or_skipped": dict(lane.errors.most_common(12)),
            }
            for lane in lanes
        },
        "bare_clean_run_s_all_lanes": {
            "max": max_bare,
            "p50": percentile(clean_runs, 0.5),
            "p99": percentile(clean_runs, 0.99),
        },
        "per_lane": results,
    }
