"""Benchmark: build + validate + serialise + HMAC-sign USD-M algo-order requests, next to ccxt.

Per request, exitguard side (all offline):
  ``AlgoOrderRequest(...)`` -> ``validate_algo_order(req, BTCUSDT rules, MarketContext(...))``
  (must return no violations) -> ``to_params()`` -> add ``timestamp`` and ``recvWindow`` ->
  ``encode_query`` (byte-identical to ``urlencode``) -> ``HmacSha256Signer.sign`` (hex HMAC-SHA256,
  keyed state built once per secret) -> body with
  ``&signature=``, the query string Binance (and its official SDK) signs.

ccxt side, same run, same order values (sync ``ccxt.binanceusdm``, no network): markets come from
``fetch_markets()`` with ``fapiPublicGetExchangeInfo`` replaced on the instance by a function that
returns exitguard's exchangeInfo fixture, then ``set_markets()``. Per request it does what
``create_order()`` does before sending: ``is_conditional_order(params)``, then
``create_order_request(symbol, type, side, amount, price, params + {isAlgoOrder: True})``, sets
``algoType=CONDITIONAL`` (create_order adds it for linear conditional orders), then
``sign('algoOrder', ['fapiPrivate'], 'POST', request)`` (timestamp, recvWindow, urlencode, HMAC).

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
import hashlib
import hmac
import json
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from importlib import metadata, resources
from typing import Any
from urllib.parse import parse_qsl

from exitguard.domain import (
    AlgoOrderRequest,
    AlgoOrderType,
    ClientAlgoId,
    ClientIdGenerator,
    MarketContext,
    Side,
    SymbolRules,
    parse_exchange_info,
)
from exitguard.domain.enums import NewOrderRespType
from exitguard.domain.signing import HmacSha256Signer
from exitguard.domain.validation import validate_algo_order
from exitguard.domain.wire import encode_query

SYMBOL = "BTCUSDT"
CCXT_SYMBOL = "BTC/USDT:USDT"
FAKE_API_KEY = "k"
# A fake 64-character secret shaped like a Binance one; used by both sides.
FAKE_SECRET = "bench0fake0secret0not0a0real0key0bench0fake0secret0not0a0real00"
RECV_WINDOW = 10000  # ccxt binance's default options['recvWindow']
KINDS = ("stop_market_close_position", "take_profit_reduce_only")


@dataclass(frozen=True, slots=True)
class Order:
    """One order's values, as each library's user would hold them (Decimal vs float)."""

    kind: int  # index into KINDS
    side: Side
    client_algo_id: ClientAlgoId  # what ClientIdGenerator hands exitguard
    client_id: str  # the same text as a plain str: ccxt's safe_string ignores str subclasses
    last: Decimal
    trigger: Decimal
    price: Decimal | None
    quantity: Decimal | None
    last_f: float
    trigger_f: float
    price_f: float | None
    quantity_f: float | None


def _dec(ticks: int, places: int) -> Decimal:
    """``ticks`` units of ``10**-places`` as an exact Decimal (``600001, 1`` -> ``60000.1``)."""
    return Decimal(ticks).scaleb(-places)


def make_orders(n: int, seed: int = 7) -> list[Order]:
    """``n`` valid BTCUSDT exit orders with distinct prices (tick 0.10, step 0.001)."""
    ids = ClientIdGenerator(rng=random.Random(seed))
    out: list[Order] = []
    for i in range(n):
        kind = i % 2
        side = Side.SELL if (i // 2) % 2 == 0 else Side.BUY
        last_t = 600_000 + (i * 7) % 100_000  # 60000.0 .. 69999.9, in 0.1 ticks
        price = qty = None
        if kind == 0:
            # STOP_MARKET closePosition: SELL fires on a fall, so the trigger sits below the last
            # price; BUY above it.
            off = 3_000 + i % 97
            trig_t = last_t - off if side is Side.SELL else last_t + off
        else:
            # TAKE_PROFIT reduceOnly: SELL fires on a rise (trigger above), BUY on a fall.
            off = 5_000 + i % 89
            trig_t = last_t + off if side is Side.SELL else last_t - off
            price_t = trig_t - 5 if side is Side.SELL else trig_t + 5
            price = _dec(price_t, 1)
            qty = _dec(1 + i % 997, 3)
        last, trig = _dec(last_t, 1), _dec(trig_t, 1)
        cid = ids.algo_id()
        out.append(
            Order(
                kind,
                side,
                cid,
                str(cid),
                last,
                trig,
                price,
                qty,
                float(last),
                float(trig),
                None if price is None else float(price),
                None if qty is None else float(qty),
            )
        )
    return out


def load_fixture() -> dict[str, Any]:
    ref = resources.files("exitguard") / "fixtures" / "exchange_info" / "usdm.json"
    doc: dict[str, Any] = json.loads(ref.read_text(encoding="utf-8"))
    return doc


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
        params = req.to_params()
        params["timestamp"] = str(int(time.time() * 1000))
        params["recvWindow"] = str(RECV_WINDOW)
        query = encode_query(params)
        return query + "&signature=" + signer.sign(query)

    return one


# --- ccxt -----------------------------------------------------------------------------------


def make_ccxt(doc: dict[str, Any]) -> tuple[Callable[[Order], str], Any, str]:
    import ccxt  # type: ignore[import-untyped]

    ex = ccxt.binanceusdm({"apiKey": FAKE_API_KEY, "secret": FAKE_SECRET})
    # Offline markets: binance.fetch_markets() reads options['fetchMarkets']['types'] (['linear']
    # for binanceusdm) and calls fapiPublicGetExchangeInfo; answer it with our fixture.
    ex.fapiPublicGetExchangeInfo = lambda params=None: doc
    ex.set_markets(ex.fetch_markets())
    # nonce() = milliseconds() - options['timeDifference']; 0 is the default (no clock sync).
    ex.options["timeDifference"] = 0
    ex.options["recvWindow"] = RECV_WINDOW
    api = ["fapiPrivate"]

    def one(o: Order) -> str:
        side = "sell" if o.side is Side.SELL else "buy"
        if o.kind == 0:
            params = {
                "triggerPrice": o.trigger_f,
                "closePosition": True,
                "clientAlgoId": o.client_id,
            }
            type_, amount, price = "market", None, None
        else:
            params = {
                "takeProfitPrice": o.trigger_f,
                "reduceOnly": True,
                "clientAlgoId": o.client_id,
            }
            type_, amount, price = "limit", o.quantity_f, o.price_f
        # What create_order() does before it sends, minus the network call.
        is_algo = ex.is_conditional_order(params)
        request = ex.create_order_request(
            CCXT_SYMBOL, type_, side, amount, price, ex.extend(params, {"isAlgoOrder": is_algo})
        )
        request["algoType"] = "CONDITIONAL"
        signed = ex.sign("algoOrder", api, "POST", request)
        body: str = signed["body"]
        return body

    return one, ex, ccxt.__version__


# --- verification (untimed) -----------------------------------------------------------------


def _fields(body: str) -> dict[str, str]:
    fields = dict(parse_qsl(body, keep_blank_values=True))
    fields.pop("timestamp", None)
    fields.pop("signature", None)
    return fields


def _check_signature(body: str) -> bool:
    query, _, sig = body.rpartition("&signature=")
    mine = hmac.new(FAKE_SECRET.encode(), query.encode(), hashlib.sha256).hexdigest()
    return hmac.compare_digest(mine, sig)


def verify(
    orders: Sequence[Order],
    eg_one: Callable[[Order], str],
    cx_one: Callable[[Order], str] | None,
    ex: Any,
) -> dict[str, Any]:
    """Run every order once on both sides; the signed bodies must carry the same parameters."""
    mismatches: list[dict[str, Any]] = []
    n_mismatched = 0
    formatting: dict[str, dict[str, Any]] = {}  # same number, other text ("59700.0" / "59700")
    for o in orders:
        eg_body = eg_one(o)
        if not _check_signature(eg_body):
            raise RuntimeError(f"exitguard signature does not verify: {eg_body}")
        if cx_one is None:
            continue
        cx_body = cx_one(o)
        if not _check_signature(cx_body):
            raise RuntimeError(f"ccxt signature is not hex HMAC-SHA256 of its query: {cx_body}")
        a, b = _fields(eg_body), _fields(cx_body)
        if a == b:
            continue
        diff: dict[str, list[str | None]] = {}
        for k in sorted(set(a) | set(b)):
            x, y = a.get(k), b.get(k)
            if x == y:
                continue
            if x is not None and y is not None and _same_number(x, y):
                entry = formatting.setdefault(k, {"count": 0, "example": [x, y]})
                entry["count"] += 1
            else:
                diff[k] = [x, y]
        if diff:
            n_mismatched += 1
            if len(mismatches) < 5:
                mismatches.append({"kind": KINDS[o.kind], "exitguard_vs_ccxt": diff})
    if cx_one is not None and orders:
        for kind in range(len(KINDS)):
            o = next(x for x in orders if x.kind == kind)
            print(f"[{KINDS[kind]}] exitguard to_params(): {_eg_params(o)}", file=sys.stderr)
            print(f"[{KINDS[kind]}] ccxt request dict:    {_ccxt_request(ex, o)}", file=sys.stderr)
            print(f"[{KINDS[kind]}] exitguard body: {eg_one(o)}", file=sys.stderr)
            print(f"[{KINDS[kind]}] ccxt body:      {cx_one(o)}", file=sys.stderr)
    return {
        "checked": len(orders),
        "mismatched_requests": n_mismatched,
        "field_mismatches": mismatches,
        "numeric_text_differences": formatting,
    }


def _same_number(x: str, y: str) -> bool:
    try:
        return Decimal(x) == Decimal(y)
    except ArithmeticError:
        return False


def _eg_params(o: Order) -> dict[str, str]:
    return build_request(o).to_params()


def _ccxt_request(ex: Any, o: Order) -> dict[str, Any]:
    side = "sell" if o.side is Side.SELL else "buy"
    if o.kind == 0:
        params: dict[str, Any] = {"triggerPrice": o.trigger_f, "closePosition": True}
        args: tuple[Any, ...] = ("market", side, None, None)
    else:
        params = {"takeProfitPrice": o.trigger_f, "reduceOnly": True}
        args = ("limit", side, o.quantity_f, o.price_f)
    params["clientAlgoId"] = o.client_id
    request: dict[str, Any] = ex.create_order_request(
        CCXT_SYMBOL, *args, ex.extend(params, {"isAlgoOrder": True})
    )
    request["algoType"] = "CONDITIONAL"
    return request


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


EG_STAGES = ("build", "context", "validate", "to_params", "timestamp", "urlencode", "hmac")
CX_STAGES = ("create_order_request", "sign")


def _stage_report(
    orders: Sequence[Order], rows: list[list[int]], names: Sequence[str]
) -> dict[str, dict[str, float]]:
    """Median µs per stage, per kind; ``rows[i]`` holds request i's stage times in ns."""
    out: dict[str, dict[str, float]] = {}
    for k, kind in enumerate(KINDS):
        mine = [r for r, o in zip(rows, orders, strict=True) if o.kind == k]
        if mine:
            out[kind] = {
                name: round(statistics.median(r[j] for r in mine) / 1000, 3)
                for j, name in enumerate(names)
            }
    return out


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
            params = req.to_params()
            t4 = clock()
            params["timestamp"] = str(int(time.time() * 1000))
            params["recvWindow"] = str(RECV_WINDOW)
            t5 = clock()
            query = encode_query(params)
            t6 = clock()
            signer.sign(query)
            t7 = clock()
            rows.append([t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4, t6 - t5, t7 - t6])
    finally:
        gc.enable()
    return _stage_report(orders, rows, EG_STAGES)


def ccxt_stages(orders: Sequence[Order], ex: Any) -> dict[str, dict[str, float]]:
    """ccxt's split: building the request (incl. is_conditional_order) and ``sign()``
    (timestamp, recvWindow, urlencode, HMAC, headers)."""
    clock = time.perf_counter_ns
    api = ["fapiPrivate"]
    rows: list[list[int]] = []
    gc.collect()
    gc.disable()
    try:
        for o in orders:
            side = "sell" if o.side is Side.SELL else "buy"
            t0 = clock()
            if o.kind == 0:
                params = {
                    "triggerPrice": o.trigger_f,
                    "closePosition": True,
                    "clientAlgoId": o.client_id,
                }
                type_, amount, price = "market", None, None
            else:
                params = {
                    "takeProfitPrice": o.trigger_f,
                    "reduceOnly": True,
                    "clientAlgoId": o.client_id,
                }
                type_, amount, price = "limit", o.quantity_f, o.price_f
            is_algo = ex.is_conditional_order(params)
            request = ex.create_order_request(
                CCXT_SYMBOL, type_, side, amount, price, ex.extend(params, {"isAlgoOrder": is_algo})
            )
            request["algoType"] = "CONDITIONAL"
            t1 = clock()
            ex.sign("algoOrder", api, "POST", request)
            t2 = clock()
            rows.append([t1 - t0, t2 - t1])
    finally:
        gc.enable()
    return _stage_report(orders, rows, CX_STAGES)


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
    check = verify(orders, eg_one, cx_one, ex)  # untimed; doubles as the first warm-up
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
