"""Benchmark: build + validate + serialise + HMAC-sign USD-M algo-order requests, next to ccxt.

Per request, exitguard side (all offline):
  ``AlgoOrderRequest(...)`` -> ``validate_algo_order(req, BTCUSDT rules, MarketContext(...))``
  (must return no violations) -> ``to_query()`` (the query string ``encode_query(to_params())``
  makes, built without the dict) -> append ``timestamp`` and ``recvWindow`` ->
  ``HmacSha256Signer.sign`` (hex HMAC-SHA256, keyed state built once per secret) -> body with
  ``&signature=``, the query string Binance (and its official SDK) signs. An untimed pass checks,
  for every order, that this query is exactly what ``to_params()`` + timestamp + recvWindow +
  ``encode_query`` (byte-identical to ``urlencode``) gives.

ccxt side, same run, same order values: see ``requests_ccxt.py`` (``create_order_request`` +
``sign``, what ``create_order()`` does before it sends).

Two request kinds alternate: a STOP_MARKET with closePosition and a TAKE_PROFIT with
quantity/price/triggerPrice/reduceOnly; sides alternate too, and every price differs. Both sides
carry the same pre-generated ``clientAlgoId`` and ``newOrderRespType=RESULT`` (ccxt always sends
both), so the wire bodies hold the same parameters; an untimed pass checks that for every request.

Each request is timed on its own with ``time.perf_counter_ns()``; the garbage collector is off
during timed repetitions (as ``timeit`` does) and repetitions of the two libraries interleave.
Reported: the median over repetitions of each repetition's per-request median (and p90), overall
and per kind. One JSON object goes to stdout; notes go to stderr. Speed is reported, not asserted.

Run: ``.venv/bin/python bench/bench_requests.py [--n 20000] [--repeat 7]``
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import metadata
from typing import Any
from urllib.parse import parse_qsl

from exitguard.domain import (
    AlgoOrderRequest,
    AlgoOrderType,
    MarketContext,
    SymbolRules,
    parse_exchange_info,
)
from exitguard.domain.enums import NewOrderRespType
from exitguard.domain.signing import HmacSha256Signer
from exitguard.domain.validation import validate_algo_order
from exitguard.domain.wire import encode_query
from requests_ccxt import ccxt_stages, make_ccxt, verify
from requests_common import (
    FAKE_SECRET,
    KINDS,
    RECV_WINDOW,
    SYMBOL,
    Order,
    load_fixture,
    make_orders,
    stage_report,
)

# --- exitguard ------------------------------------------------------------------------------


def build_request(o: Order) -> AlgoOrderRequest:
    """The exitguard request for one bench order: a STOP_MARKET closing the whole position, or
    a reduce-only TAKE_PROFIT (both with newOrderRespType=RESULT, as ccxt always sends)."""
    if o.kind == 0:
        return AlgoOrderRequest(
            symbol=SYMBOL,
            side=o.side,
            type=AlgoOrderType.STOP_MARKET,
            trigger_price=o.trigger,
            close_position=True,
            client_algo_id=o.client_algo_id,
            new_order_resp_type=NewOrderRespType.RESULT,
        )
    return AlgoOrderRequest(
        symbol=SYMBOL,
        side=o.side,
        type=AlgoOrderType.TAKE_PROFIT,
        quantity=o.quantity,
        price=o.price,
        trigger_price=o.trigger,
        reduce_only=True,
        client_algo_id=o.client_algo_id,
        new_order_resp_type=NewOrderRespType.RESULT,
    )


def make_exitguard(rules: SymbolRules) -> Callable[[Order], str]:
    signer = HmacSha256Signer(FAKE_SECRET)

    def one(o: Order) -> str:
        req = build_request(o)
        violations = validate_algo_order(req, rules, MarketContext(last_price=o.last))
        if violations:
            raise RuntimeError(f"exitguard refused a bench order: {violations}")
        # Both transport values are decimal digits, which urlencode leaves as they are: appending
        # them gives encode_query(to_params() + timestamp + recvWindow); verify() checks it.
        query = (
            req.to_query()
            + "&timestamp="
            + str(int(time.time() * 1000))
            + "&recvWindow="
            + str(RECV_WINDOW)
        )
        return query + "&signature=" + signer.sign(query)

    return one


def reference_query(o: Order, body: str) -> str:
    """The general path's query for ``o`` at the timestamp ``body`` carries: ``to_params()``,
    then timestamp and recvWindow, then ``encode_query``."""
    params = build_request(o).to_params()
    params["timestamp"] = dict(parse_qsl(body))["timestamp"]
    params["recvWindow"] = str(RECV_WINDOW)
    return encode_query(params)


def exitguard_params(o: Order) -> dict[str, str]:
    return build_request(o).to_params()


# --- timing ---------------------------------------------------------------------------------


def time_pass(orders: Sequence[Order], one: Callable[[Order], str]) -> tuple[list[int], int]:
    """Per-request nanoseconds for one pass over ``orders``, and the wall time of the pass."""
    clock = time.perf_counter_ns
    samples = [0] * len(orders)
    gc.collect()
    gc.disable()
    try:
        start = clock()
        for i, o in enumerate(orders):
            t0 = clock()
            one(o)
            samples[i] = clock() - t0
        wall = clock() - start
    finally:
        gc.enable()
    return samples, wall


def _p90(sorted_values: Sequence[int]) -> int:
    return sorted_values[min(len(sorted_values) - 1, int(0.9 * len(sorted_values)))]


@dataclass
class Series:
    """Per-repetition statistics for one library: overall and per kind, in nanoseconds."""

    medians: list[float]
    p90s: list[int]
    means: list[float]
    kind_medians: list[list[float]]
    kind_p90s: list[list[int]]

    @classmethod
    def empty(cls) -> Series:
        return cls([], [], [], [[] for _ in KINDS], [[] for _ in KINDS])

    def add(self, orders: Sequence[Order], samples: list[int], wall: int) -> None:
        s = sorted(samples)
        self.medians.append(statistics.median(s))
        self.p90s.append(_p90(s))
        self.means.append(wall / len(samples))
        for k in range(len(KINDS)):
            ks = sorted(x for x, o in zip(samples, orders, strict=True) if o.kind == k)
            if ks:
                self.kind_medians[k].append(statistics.median(ks))
                self.kind_p90s[k].append(_p90(ks))

    def report(self, version: str, n: int) -> dict[str, Any]:
        def us(values: Sequence[float]) -> float:
            return round(statistics.median(values) / 1000, 3)

        return {
            "version": version,
            "n": n,
            "median_us": us(self.medians),
            "p90_us": us(self.p90s),
            "mean_us": us(self.means),
            "median_us_per_repeat": [round(m / 1000, 3) for m in self.medians],
            "by_kind": {
                name: {"median_us": us(self.kind_medians[k]), "p90_us": us(self.kind_p90s[k])}
                for k, name in enumerate(KINDS)
                if self.kind_medians[k]
            },
        }


EG_STAGES = ("build", "context", "validate", "to_query", "timestamp", "hmac")


def exitguard_stages(orders: Sequence[Order], rules: SymbolRules) -> dict[str, dict[str, float]]:
    """Where exitguard's time goes: the same steps as :func:`make_exitguard`, timed one by one
    (each split adds one clock read, ~timer_overhead_ns)."""
    clock = time.perf_counter_ns
    signer = HmacSha256Signer(FAKE_SECRET)
    rows: list[list[int]] = []
    gc.collect()
    gc.disable()
    try:
        for o in orders:
            t0 = clock()
            req = build_request(o)
            t1 = clock()
            ctx = MarketContext(last_price=o.last)
            t2 = clock()
            if validate_algo_order(req, rules, ctx):
                raise RuntimeError("exitguard refused a bench order")
            t3 = clock()
            query = req.to_query()
            t4 = clock()
            query += (
                "&timestamp=" + str(int(time.time() * 1000)) + "&recvWindow=" + str(RECV_WINDOW)
            )
            t5 = clock()
            signer.sign(query)
            t6 = clock()
            rows.append([t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4, t6 - t5])
    finally:
        gc.enable()
    return stage_report(orders, rows, EG_STAGES)


def timer_overhead_ns() -> int:
    clock = time.perf_counter_ns
    vals = []
    for _ in range(10_000):
        t0 = clock()
        vals.append(clock() - t0)
    return int(statistics.median(vals))


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--n", type=int, default=20_000, help="requests per repetition (exitguard)")
    ap.add_argument("--ccxt-n", type=int, default=None, help="requests per repetition for ccxt")
    ap.add_argument("--repeat", type=int, default=7, help="timed repetitions per library")
    ap.add_argument("--warmup", type=int, default=2_000, help="untimed warm-up requests")
    ap.add_argument("--no-ccxt", action="store_true", help="measure exitguard only")
    ap.add_argument(
        "--no-stages", action="store_true", help="skip the per-stage breakdown pass (untimed)"
    )
    args = ap.parse_args(argv)
    if args.n < 2 or args.repeat < 1:
        ap.error("--n must be >= 2 and --repeat >= 1")
    ccxt_n = args.n if args.ccxt_n is None else max(2, args.ccxt_n)

    doc = load_fixture()
    rules = parse_exchange_info(doc).get(SYMBOL)
    if rules is None:
        raise SystemExit(f"{SYMBOL} missing from the exchangeInfo fixture")
    orders = make_orders(max(args.n, ccxt_n))
    eg_orders, cx_orders = orders[: args.n], orders[:ccxt_n]
    eg_one = make_exitguard(rules)

    cx_one: Callable[[Order], str] | None = None
    ex: Any = None
    ccxt_version: str | None = None
    ccxt_error: str | None = None
    if not args.no_ccxt:
        try:
            cx_one, ex, ccxt_version = make_ccxt(doc)
        except ImportError as e:
            ccxt_error = f"ccxt not importable: {e}"
            print(ccxt_error, file=sys.stderr)

    t_start = time.perf_counter()
    check = verify(
        orders, eg_one, reference_query, exitguard_params, cx_one, ex
    )  # untimed; doubles as the first warm-up
    if check["field_mismatches"]:
        print(f"field mismatches: {check['field_mismatches']}", file=sys.stderr)
    warm = orders[: max(0, min(args.warmup, len(orders)))]
    for o in warm:
        eg_one(o)
        if cx_one is not None:
            cx_one(o)

    eg, cx = Series.empty(), Series.empty()
    for r in range(args.repeat):
        runs: list[tuple[Series, Sequence[Order], Callable[[Order], str]]] = [
            (eg, eg_orders, eg_one)
        ]
        if cx_one is not None:
            runs.append((cx, cx_orders, cx_one))
        if r % 2:
            runs.reverse()  # alternate which library goes first
        for series, batch, one in runs:
            samples, wall = time_pass(batch, one)
            series.add(batch, samples, wall)
        print(
            f"repeat {r + 1}/{args.repeat}: exitguard {eg.medians[-1] / 1000:.2f} us"
            + (f", ccxt {cx.medians[-1] / 1000:.2f} us" if cx.medians else ""),
            file=sys.stderr,
        )

    eg_report = eg.report(metadata.version("exitguard"), args.n)
    if not args.no_stages:
        eg_report["stages_us"] = exitguard_stages(eg_orders, rules)
    result: dict[str, Any] = {
        "benchmark": "requests",
        "n": args.n,
        "repeat": args.repeat,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "timer_overhead_ns": timer_overhead_ns(),
        "exitguard": eg_report,
        "ccxt": None,
        "speedup_vs_ccxt": None,
        "speedup_by_kind": None,
        "equivalence": {
            "requests_checked": check["checked"] if cx_one is not None else 0,
            "same_wire_params": cx_one is not None and not check["mismatched_requests"],
            "mismatched_requests": check["mismatched_requests"],
            "mismatches": check["field_mismatches"],
            "numeric_text_differences": check["numeric_text_differences"],
        },
        "goals": {"under_20us": eg_report["median_us"] < 20.0, "at_least_5x_ccxt": None},
    }
    if cx_one is not None:
        cx_report = cx.report(ccxt_version or "?", ccxt_n)
        if not args.no_stages:
            cx_report["stages_us"] = ccxt_stages(cx_orders, ex)
        cx_report["driven_by"] = (
            "fetch_markets() with fapiPublicGetExchangeInfo returning the fixture + set_markets(); "
            "per request is_conditional_order + create_order_request(isAlgoOrder=True) + "
            "algoType=CONDITIONAL + sign('algoOrder', ['fapiPrivate'], 'POST')"
        )
        speedup = cx_report["median_us"] / eg_report["median_us"]
        result["ccxt"] = cx_report
        result["speedup_vs_ccxt"] = round(speedup, 2)
        result["speedup_by_kind"] = {
            name: round(
                cx_report["by_kind"][name]["median_us"] / eg_report["by_kind"][name]["median_us"],
                2,
            )
            for name in KINDS
            if name in cx_report["by_kind"] and name in eg_report["by_kind"]
        }
        result["goals"]["at_least_5x_ccxt"] = speedup >= 5.0
    elif ccxt_error:
        result["ccxt"] = {"error": ccxt_error}
    print(f"elapsed {time.perf_counter() - t_start:.1f} s", file=sys.stderr)
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
