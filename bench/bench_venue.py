"""Benchmark: the paper venue over HTTP on loopback — signed algo orders per second, and the
latency from a price tick to the ``ALGO_UPDATE`` (TRIGGERED) on the user-data stream; on Spot,
signed orders per second and the latency from a trade tick to the ``executionReport``.

Setup. This process serves a :class:`~exitguard.venue.server.Venue` (stepped clock, no feed,
127.0.0.1 port 0) on its event loop. The load comes from a second process (this script with
``--role client``), as a trading bot would run next to ``exitguard venue serve``: the venue's loop
does not share its interpreter (GIL) with the client. The venue's rate limits are raised out of
reach for the run (``RateLimitConfig``: REQUEST_WEIGHT and ORDERS 10^9 per window); with
Binance's defaults (300 orders / 10 s) the venue would answer 429 after 300 orders.

Orders per second. Valid signed ``POST /fapi/v1/algoOrder`` requests, alternating
STOP_MARKET SELL ``closePosition=true`` (trigger 45,000-49,999.9) and TAKE_PROFIT_MARKET SELL
``reduceOnly=true quantity=0.001`` (trigger 80,000-84,999.9), far from the 65,000 price, each with
its own ``clientAlgoId``. ``c`` requests are in flight at once (1, 8, 32) over one aiohttp
keep-alive ``ClientSession``; after every 150 orders the client waits for the in-flight ones and
cancels them with one ``DELETE /fapi/v1/algoOpenOrders`` (the account cap is 200 open algo
orders). Reported: placed orders / wall time, cancels included. The venue is reset before each
level (``POST /_venue/reset``), so every level starts from an empty order history. A second line,
``sdk_sync_c1``, places orders with the official SDK's synchronous REST client
(``DerivativesTradingUsdsFutures(...).rest_api.new_algo_order``) through ``asyncio.to_thread``,
one at a time; the SDK signs with the wall clock, so during that pass the client steps the
venue's clock to the wall time every 100 ms (``POST /_venue/clock/advance``).

Tick → ALGO_UPDATE. The account holds a 5 BTC long (``POST /_venue/position``); the client opens
``/ws/<listenKey>``. Per sample (untimed): place a STOP_MARKET SELL ``reduceOnly`` 0.001 with
trigger 64,990 and wait for its ``NEW`` update. Timed: ``t0 = perf_counter_ns()``, send
``POST /_venue/price {"last": "64980"}`` (the control API over HTTP, so the path includes an HTTP
request) and stop the clock when the socket delivers the order's ``ALGO_UPDATE`` with status
``TRIGGERED``. Then (untimed) the price goes back to 65,000 and the child order's events drain.

Spot orders per second. Valid signed ``POST /api/v3/order`` requests, alternating LIMIT BUY at
50,000-59,999.99 and LIMIT SELL at 70,000-79,999.99 (GTC, 0.001 BTC: they rest), each with its own
``newClientOrderId``, at 1, 8 and 32 in flight; every 150 orders one ``DELETE /api/v3/openOrders``
(MAX_NUM_ORDERS is 200 per symbol). Spot limits are raised out of reach like USD-M's.

Spot trade tick → executionReport. The client subscribes to its user data through the WebSocket
API (``userDataStream.subscribe.signature``, HMAC), the way Spot user data is delivered today.
Per sample (untimed): place a STOP_LOSS SELL 0.001 with stopPrice 64,990 and wait for its
``executionReport`` NEW. Timed: ``POST /_venue/price {"last": "64980", "product": "spot"}``
until the socket delivers the order's ``executionReport`` TRADE (the stop triggered and filled).
Then (untimed) the price goes back to 65,000.

One JSON object goes to stdout, notes to stderr. Speed is reported, never asserted. Fixed seed.
``--profile`` runs the venue under cProfile and prints its top functions to stderr.

Run: ``.venv/bin/python bench/bench_venue.py [--orders 3000] [--samples 400] [--profile]``
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import hashlib
import hmac
import io
import json
import os
import platform
import pstats
import random
import statistics
import subprocess
import sys
import time
from decimal import Decimal
from typing import Any

import aiohttp

SEED = 20260101
SYMBOL = "BTCUSDT"
ROUND = 150  # orders between two cancel-alls (the account cap is 200 open algo orders)
LEVELS = (1, 8, 32)
GOAL_ORDERS_PER_S = 2000
GOAL_P99_MS = 5.0
TIMEOUT_S = 10.0


def note(*parts: object) -> None:
    print(*parts, file=sys.stderr, flush=True)


# -- client side (runs in its own process) -----------------------------------------------------


class Signer:
    """Signed query strings with the venue account's secret and the venue's (stepped) time."""

    def __init__(self, secret: str) -> None:
        self._keyed = hmac.new(secret.encode(), digestmod=hashlib.sha256)
        self.now_ms = 0

    def query(self, params: str) -> str:
        q = f"{params}&timestamp={self.now_ms}" if params else f"timestamp={self.now_ms}"
        mac = self._keyed.copy()
        mac.update(q.encode())
        return f"{q}&signature={mac.hexdigest()}"


def spot_order_params(rng: random.Random, n: int, tag: str) -> str:
    if n % 2 == 0:
        price = Decimal(rng.randrange(5_000_000, 6_000_000)) / 100
        side = "BUY"
    else:
        price = Decimal(rng.randrange(7_000_000, 8_000_000)) / 100
        side = "SELL"
    return (
        f"symbol={SYMBOL}&side={side}&type=LIMIT&timeInForce=GTC&quantity=0.001"
        f"&price={price}&newClientOrderId={tag}-{n}"
    )


def order_params(rng: random.Random, n: int, tag: str) -> str:
    if n % 2 == 0:
        trigger = Decimal(rng.randrange(450_000, 500_000)) / 10
        kind = f"type=STOP_MARKET&triggerPrice={trigger}&closePosition=true"
    else:
        trigger = Decimal(rng.randrange(800_000, 850_000)) / 10
        kind = f"type=TAKE_PROFIT_MARKET&triggerPrice={trigger}&quantity=0.001&reduceOnly=true"
    return f"algoType=CONDITIONAL&symbol={SYMBOL}&side=SELL&{kind}&clientAlgoId={tag}-{n}"


class Client:
    def __init__(self, url: str, key: str, secret: str) -> None:
        self.url = url
        self.key = key
        self.secret = secret
        self.signer = Signer(secret)
        self.headers = {"X-MBX-APIKEY": key}
        self.session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=TIMEOUT_S),
            connector=aiohttp.TCPConnector(limit=0, force_close=False),
        )

    async def close(self) -> None:
        await self.session.close()

    async def control(self, path: str, body: dict[str, Any] | None = None) -> Any:
        url = f"{self.url}/_venue/{path}"
        if body is None:
            async with self.session.get(url) as r:
                return await r.json()
        async with self.session.post(url, json=body) as r:
            doc = await r.json()
            if r.status != 200:
                raise RuntimeError(f"control {path}: HTTP {r.status} {doc}")
            return doc

    async def signed(self, method: str, path: str, params: str) -> tuple[int, Any]:
        url = f"{self.url}{path}?{self.signer.query(params)}"
        async with self.session.request(method, url, headers=self.headers) as r:
            return r.status, await r.json()

    async def sync_time(self) -> None:
        async with self.session.get(f"{self.url}/fapi/v1/time") as r:
            self.signer.now_ms = (await r.json())["serverTime"]

    async def reset(self) -> None:
        await self.control("reset", {})
        await self.sync_time()

    # -- orders per second -------------------------------------------------------------------

    async def place_orders(
        self, n: int, concurrency: int, tag: str, spot: bool = False
    ) -> tuple[float, int]:
        """Place ``n`` algo orders (Spot: LIMIT orders) with ``concurrency`` in flight;
        (seconds, failures)."""
        rng = random.Random(SEED)
        path, cancel_path = (
            ("/api/v3/order", "/api/v3/openOrders")
            if spot
            else ("/fapi/v1/algoOrder", "/fapi/v1/algoOpenOrders")
        )
        make = spot_order_params if spot else order_params
        failures = 0
        seq = 0

        async def worker(todo: list[int]) -> None:
            nonlocal failures
            while todo:
                i = todo.pop()
                status, doc = await self.signed("POST", path, make(rng, i, tag))
                if status != 200:
                    failures += 1
                    if failures <= 3:
                        note(f"  order {i} refused: HTTP {status} {doc}")

        rounds: list[float] = []
        t0 = time.perf_counter()
        while seq < n:
            batch = list(range(seq, min(seq + ROUND, n)))[::-1]
            seq += len(batch)
            r0 = time.perf_counter()
            await asyncio.gather(*(worker(batch) for _ in range(min(concurrency, len(batch)))))
            status, doc = await self.signed("DELETE", cancel_path, f"symbol={SYMBOL}")
            if status != 200:
                raise RuntimeError(f"cancel-all refused: HTTP {status} {doc}")
            rounds.append(time.perf_counter() - r0)
        elapsed = time.perf_counter() - t0
        if len(rounds) > 2:
            note(
                f"  c={concurrency}: {ROUND / rounds[0]:.0f} orders/s in the first round of "
                f"{ROUND}, {ROUND / rounds[-2]:.0f} in the last full one "
                f"(history {ROUND * (len(rounds) - 2)} orders)"
            )
        return elapsed, failures

    async def sdk_orders(self, n: int, tag: str) -> tuple[float, int]:
        """The official SDK's REST client, one order at a time through ``asyncio.to_thread``."""
        from binance_common.configuration import ConfigurationRestAPI
        from binance_sdk_derivatives_trading_usds_futures.derivatives_trading_usds_futures import (
            DerivativesTradingUsdsFutures,
        )
        from binance_sdk_derivatives_trading_usds_futures.rest_api.models import (
            NewAlgoOrderAlgoTypeEnum,
            NewAlgoOrderSideEnum,
            NewAlgoOrderTypeEnum,
        )

        cfg = ConfigurationRestAPI(
            api_key=self.key,
            api_secret=self.secret,
            base_path=self.url,
            timeout=int(TIMEOUT_S * 1000),
            retries=0,
        )
        rest = DerivativesTradingUsdsFutures(config_rest_api=cfg).rest_api
        rng = random.Random(SEED)
        stop = asyncio.Event()

        async def follow_wall_clock() -> None:  # the SDK signs with the wall clock
            while not stop.is_set():
                ahead = time.time_ns() // 1_000_000 - self.signer.now_ms
                if ahead > 0:
                    self.signer.now_ms = (await self.control("clock/advance", {"ms": ahead}))[
                        "now_ms"
                    ]
                await asyncio.sleep(0.1)

        follower = asyncio.create_task(follow_wall_clock())
        await asyncio.sleep(0.05)
        failures = 0

        def place(i: int) -> None:
            if i % 2 == 0:
                trigger = str(Decimal(rng.randrange(450_000, 500_000)) / 10)
                extra: dict[str, Any] = {
                    "type": NewAlgoOrderTypeEnum.STOP_MARKET,
                    "close_position": "true",
                }
            else:
                trigger = str(Decimal(rng.randrange(800_000, 850_000)) / 10)
                extra = {
                    "type": NewAlgoOrderTypeEnum.TAKE_PROFIT_MARKET,
                    "quantity": 0.001,
                    "reduce_only": "true",
                }
            rest.new_algo_order(
                algo_type=NewAlgoOrderAlgoTypeEnum.CONDITIONAL,
                symbol=SYMBOL,
                side=NewAlgoOrderSideEnum.SELL,
                trigger_price=float(trigger),
                client_algo_id=f"{tag}-{i}",
                **extra,
            )

        try:
            t0 = time.perf_counter()
            for i in range(n):
                try:
                    await asyncio.to_thread(place, i)
                except Exception as exc:  # a refusal: count it, show the first few
                    failures += 1
                    if failures <= 3:
                        note(f"  sdk order {i} refused: {exc!r}")
                if i % ROUND == ROUND - 1:
                    await asyncio.to_thread(rest.cancel_all_algo_open_orders, symbol=SYMBOL)
            elapsed = time.perf_counter() - t0
        finally:
            stop.set()
            await follower
        return elapsed, failures

    # -- tick → ALGO_UPDATE ------------------------------------------------------------------

    async def tick_latency(self, samples: int) -> list[float]:
        await self.reset()
        await self.control(
            "position",
            {"api_key": self.key, "symbol": SYMBOL, "side": "BUY", "qty": "5", "price": "65000"},
        )
        async with self.session.post(f"{self.url}/fapi/v1/listenKey", headers=self.headers) as r:
            listen_key = (await r.json())["listenKey"]
        ws_url = self.url.replace("http://", "ws://") + f"/ws/{listen_key}"
        out: list[float] = []
        async with self.session.ws_connect(ws_url, heartbeat=None) as ws:

            async def until(pred: Any) -> None:
                while True:
                    msg = await ws.receive(timeout=TIMEOUT_S)
                    if msg.type is not aiohttp.WSMsgType.TEXT:
                        raise RuntimeError(f"user stream closed: {msg!r}")
                    if pred(json.loads(msg.data)):
                        return

            def algo_status(cid: str, status: str) -> Any:
                def pred(ev: dict[str, Any]) -> bool:
                    o = ev.get("o", {})
                    return bool(
                        ev.get("e") == "ALGO_UPDATE"
                        and o.get("caid") == cid
                        and o.get("X") == status
                    )

                return pred

            for i in range(samples + 20):  # the first 20 warm up
                cid = f"lat-{i}"
                params = (
                    f"algoType=CONDITIONAL&symbol={SYMBOL}&side=SELL&type=STOP_MARKET"
                    f"&triggerPrice=64990&quantity=0.001&reduceOnly=true&clientAlgoId={cid}"
                )
                status, doc = await self.signed("POST", "/fapi/v1/algoOrder", params)
                if status != 200:
                    raise RuntimeError(f"latency order refused: {doc}")
                await until(algo_status(cid, "NEW"))
                t0 = time.perf_counter_ns()
                post = asyncio.ensure_future(
                    self.control("price", {"symbol": SYMBOL, "last": "64980"})
                )
                await until(algo_status(cid, "TRIGGERED"))
                t1 = time.perf_counter_ns()
                await post
                if i >= 20:
                    out.append((t1 - t0) / 1e6)
                await until(algo_status(cid, "FINISHED"))
                await self.control("price", {"symbol": SYMBOL, "last": "65000"})
                # drain what the fill and the price step left on the socket
                while True:
                    try:
                        await ws.receive(timeout=0.002)
                    except TimeoutError:
                        break
        return out

    # -- Spot: trade tick → executionReport (user data over the WebSocket API) --------------

    async def spot_tick_latency(self, samples: int) -> list[float]:
        await self.reset()
        ws_url = self.url.replace("http://", "ws://") + "/ws-api/v3"
        out: list[float] = []
        async with self.session.ws_connect(ws_url, heartbeat=None) as ws:
            params: dict[str, Any] = {"apiKey": self.key, "timestamp": self.signer.now_ms}
            payload = "&".join(f"{k}={params[k]}" for k in sorted(params))
            mac = hmac.new(self.secret.encode(), payload.encode(), hashlib.sha256)
            params["signature"] = mac.hexdigest()
            await ws.send_json(
                {"id": "sub", "method": "userDataStream.subscribe.signature", "params": params}
            )

            async def until(pred: Any) -> None:
                while True:
                    msg = await ws.receive(timeout=TIMEOUT_S)
                    if msg.type is not aiohttp.WSMsgType.TEXT:
                        raise RuntimeError(f"ws-api closed: {msg!r}")
                    if pred(json.loads(msg.data)):
                        return

            await until(lambda f: f.get("id") == "sub" and f.get("status") == 200)

            def report(cid: str, execution: str) -> Any:
                def pred(frame: dict[str, Any]) -> bool:
                    ev = frame.get("event", {})
                    return bool(
                        ev.get("e") == "executionReport"
                        and ev.get("c") == cid
                        and ev.get("x") == execution
                    )

                return pred

            for i in range(samples + 20):  # the first 20 warm up
                cid = f"slat-{i}"
                params_q = (
                    f"symbol={SYMBOL}&side=SELL&type=STOP_LOSS&quantity=0.001"
                    f"&stopPrice=64990&newClientOrderId={cid}"
                )
                status, doc = await self.signed("POST", "/api/v3/order", params_q)
                if status != 200:
                    raise RuntimeError(f"spot latency order refused: {doc}")
                await until(report(cid, "NEW"))
                t0 = time.perf_counter_ns()
                post = asyncio.ensure_future(
                    self.control("price", {"symbol": SYMBOL, "last": "64980", "product": "spot"})
                )
                await until(report(cid, "TRADE"))
                t1 = time.perf_counter_ns()
                await post
                if i >= 20:
                    out.append((t1 - t0) / 1e6)
                await self.control("price", {"symbol": SYMBOL, "last": "65000", "product": "spot"})
                while True:  # drain what the fill and the price step left on the socket
                    try:
                        await ws.receive(timeout=0.002)
                    except TimeoutError:
                        break
        return out


async def client_main(args: argparse.Namespace) -> dict[str, Any]:
    c = Client(args.url, os.environ["BENCH_VENUE_KEY"], os.environ["BENCH_VENUE_SECRET"])
    result: dict[str, Any] = {"orders_per_s": {}, "failures": {}}
    try:
        await c.reset()
        await c.place_orders(300, 8, "warm")  # warm-up: connections, caches, code paths
        for level in LEVELS:
            await c.reset()
            elapsed, failures = await c.place_orders(args.orders, level, f"c{level}")
            ok = args.orders - failures
            result["orders_per_s"][f"aiohttp_c{level}"] = round(ok / elapsed, 1)
            result["failures"][f"aiohttp_c{level}"] = failures
            note(f"aiohttp c={level}: {ok} orders in {elapsed:.2f} s")
        await c.reset()
        elapsed, failures = await c.sdk_orders(args.sdk_orders, "sdk")
        ok = args.sdk_orders - failures
        result["orders_per_s"]["sdk_sync_c1"] = round(ok / elapsed, 1)
        result["failures"]["sdk_sync_c1"] = failures
        note(f"sdk sync c=1: {ok} orders in {elapsed:.2f} s")
        result["latency_ms"] = await c.tick_latency(args.samples)
        result["spot_orders_per_s"] = {}
        await c.reset()
        await c.place_orders(300, 8, "swarm", spot=True)
        for level in LEVELS:
            await c.reset()
            elapsed, failures = await c.place_orders(args.orders, level, f"s{level}", spot=True)
            ok = args.orders - failures
            result["spot_orders_per_s"][f"aiohttp_c{level}"] = round(ok / elapsed, 1)
            result["failures"][f"spot_aiohttp_c{level}"] = failures
            note(f"spot aiohttp c={level}: {ok} orders in {elapsed:.2f} s")
        result["spot_latency_ms"] = await c.spot_tick_latency(args.samples)
    finally:
        await c.close()
    return result


# -- server side -------------------------------------------------------------------------------


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of already sorted values."""
    if not sorted_values:
        return float("nan")
    k = max(0, min(len(sorted_values) - 1, round(q / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[k]


async def server_main(args: argparse.Namespace) -> dict[str, Any]:
    from exitguard.venue.clock import SteppedClock
    from exitguard.venue.ratelimit import RateLimitConfig
    from exitguard.venue.server import Venue

    limits = RateLimitConfig(
        request_weight_per_minute=10**9, orders_per_10s=10**9, orders_per_minute=10**9
    )
    spot_limits = RateLimitConfig(
        request_weight_per_minute=10**9,
        orders_per_10s=10**9,
        orders_per_minute=0,
        orders_per_day=10**9,
    )
    venue = Venue(
        clock=SteppedClock(time.time_ns() // 1_000_000),
        feed=None,
        limits=limits,
        spot_limits=spot_limits,
        spot_balances={"USDT": Decimal(100_000_000), "BTC": Decimal(1_000)},
        usdt_balance=Decimal(10_000_000),
        ws_heartbeat_s=None,
    )
    profiler = cProfile.Profile() if args.profile else None
    async with venue:
        note(f"venue on {venue.rest_url}; client in a separate process")
        cmd = [
            sys.executable,
            os.path.abspath(__file__),
            "--role=client",
            f"--url={venue.rest_url}",
            f"--orders={args.orders}",
            f"--sdk-orders={args.sdk_orders}",
            f"--samples={args.samples}",
        ]
        env = {
            **os.environ,
            "BENCH_VENUE_KEY": venue.api_key,
            "BENCH_VENUE_SECRET": venue.api_secret,
        }
        proc = await asyncio.create_subprocess_exec(
            *cmd, stdout=subprocess.PIPE, stderr=None, env=env
        )
        if profiler is not None:
            profiler.enable()
        try:
            out, _ = await asyncio.wait_for(proc.communicate(), timeout=600)
        finally:
            if profiler is not None:
                profiler.disable()
            if proc.returncode is None:
                proc.kill()
    if proc.returncode != 0:
        raise SystemExit(f"client process failed (exit {proc.returncode})")
    client = json.loads(out)
    if profiler is not None:
        buf = io.StringIO()
        stats = pstats.Stats(profiler, stream=buf)
        stats.sort_stats("tottime").print_stats(25)
        stats.sort_stats("cumulative").print_stats(40)
        note(buf.getvalue())
    lat = sorted(client["latency_ms"])
    p99 = percentile(lat, 99)
    ops = client["orders_per_s"]
    spot_lat = sorted(client["spot_latency_ms"])
    spot_ops = client["spot_orders_per_s"]
    return {
        "benchmark": "venue",
        "python": platform.python_version(),
        "orders_per_s": ops,
        "tick_to_algo_update_ms": {
            "p50": round(percentile(lat, 50), 3),
            "p90": round(percentile(lat, 90), 3),
            "p99": round(p99, 3),
            "max": round(lat[-1], 3),
            "mean": round(statistics.fmean(lat), 3),
            "samples": len(lat),
            "path": "HTTP POST /_venue/price (control API) -> ALGO_UPDATE TRIGGERED on /ws/<listenKey>",
        },
        "spot_orders_per_s": spot_ops,
        "spot_tick_to_execution_report_ms": {
            "p50": round(percentile(spot_lat, 50), 3),
            "p90": round(percentile(spot_lat, 90), 3),
            "p99": round(percentile(spot_lat, 99), 3),
            "max": round(spot_lat[-1], 3),
            "mean": round(statistics.fmean(spot_lat), 3),
            "samples": len(spot_lat),
            "path": "HTTP POST /_venue/price (spot trade) -> executionReport TRADE on /ws-api/v3 "
            "(userDataStream.subscribe.signature)",
        },
        "goals": {
            "at_least_2000_orders_per_s": max(v for k, v in ops.items() if k.startswith("aiohttp"))
            >= GOAL_ORDERS_PER_S,
            "p99_under_5ms": p99 < GOAL_P99_MS,
            "spot_at_least_2000_orders_per_s": max(spot_ops.values()) >= GOAL_ORDERS_PER_S,
            "spot_p99_under_5ms": percentile(spot_lat, 99) < GOAL_P99_MS,
        },
        "setup": {
            "orders_per_level": args.orders,
            "sdk_orders": args.sdk_orders,
            "client": "separate process, aiohttp keep-alive session",
            "rate_limits": "raised to 10^9 per window for the run",
            "profiled": bool(args.profile),
            "cpus": os.cpu_count(),
            "failures": client["failures"],
        },
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--orders", type=int, default=3000, help="orders per aiohttp level")
    ap.add_argument("--sdk-orders", type=int, default=600)
    ap.add_argument("--samples", type=int, default=400, help="tick latency samples")
    ap.add_argument("--profile", action="store_true", help="cProfile the venue (stderr)")
    ap.add_argument(
        "--role", choices=("server", "client"), default="server", help=argparse.SUPPRESS
    )
    ap.add_argument("--url", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.role == "client":
        print(json.dumps(asyncio.run(client_main(args))))
        return
    print(json.dumps(asyncio.run(server_main(args))))


if __name__ == "__main__":
    main()
