"""The ccxt side of bench_requests.py and the untimed check that both sides send the same thing.

ccxt (sync ``ccxt.binanceusdm``, no network): markets come from ``fetch_markets()`` with
``fapiPublicGetExchangeInfo`` replaced on the instance by a function that returns exitguard's
exchangeInfo fixture, then ``set_markets()``. Per request it does what ``create_order()`` does
before sending: ``is_conditional_order(params)``, then ``create_order_request(symbol, type, side,
amount, price, params + {isAlgoOrder: True})``, sets ``algoType=CONDITIONAL`` (create_order adds it
for linear conditional orders), then ``sign('algoOrder', ['fapiPrivate'], 'POST', request)``
(timestamp, recvWindow, urlencode, HMAC).
"""

from __future__ import annotations

import gc
import hashlib
import hmac
import sys
import time
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

from exitguard.domain import Side
from requests_common import (
    CCXT_SYMBOL,
    FAKE_API_KEY,
    FAKE_SECRET,
    KINDS,
    RECV_WINDOW,
    Order,
    stage_report,
)

CX_STAGES = ("create_order_request", "sign")


def _ccxt_args(o: Order) -> tuple[dict[str, Any], str, str, float | None, float | None]:
    """ccxt's params, type, side, amount and price for one bench order."""
    side = "sell" if o.side is Side.SELL else "buy"
    if o.kind == 0:
        params: dict[str, Any] = {
            "triggerPrice": o.trigger_f,
            "closePosition": True,
            "clientAlgoId": o.client_id,
        }
        return params, "market", side, None, None
    params = {
        "takeProfitPrice": o.trigger_f,
        "reduceOnly": True,
        "clientAlgoId": o.client_id,
    }
    return params, "limit", side, o.quantity_f, o.price_f


def ccxt_order_args(o: Order) -> tuple[str, str, float | None, float | None, dict[str, Any]]:
    """The arguments a ccxt user passes to ``create_order`` for one bench order: a market stop
    closing the position, or a reduce-only limit take-profit (side, type, amount, price,
    params)."""
    side = "sell" if o.side is Side.SELL else "buy"
    if o.kind == 0:
        params: dict[str, Any] = {
            "triggerPrice": o.trigger_f,
            "closePosition": True,
            "clientAlgoId": o.client_id,
        }
        return side, "market", None, None, params
    params = {"takeProfitPrice": o.trigger_f, "reduceOnly": True, "clientAlgoId": o.client_id}
    return side, "limit", o.quantity_f, o.price_f, params


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
        side, type_, amount, price, params = ccxt_order_args(o)
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
            t0 = clock()
            side, type_, amount, price, params = ccxt_order_args(o)
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
    return stage_report(orders, rows, CX_STAGES)


def _ccxt_request(ex: Any, o: Order) -> dict[str, Any]:
    params, type_, side, amount, price = _ccxt_args(o)
    request: dict[str, Any] = ex.create_order_request(
        CCXT_SYMBOL, type_, side, amount, price, ex.extend(params, {"isAlgoOrder": True})
    )
    request["algoType"] = "CONDITIONAL"
    return request


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


def _same_number(x: str, y: str) -> bool:
    try:
        return Decimal(x) == Decimal(y)
    except ArithmeticError:
        return False


def verify(
    orders: Sequence[Order],
    eg_one: Callable[[Order], str],
    eg_reference: Callable[[Order, str], str],
    eg_params: Callable[[Order], dict[str, str]],
    cx_one: Callable[[Order], str] | None,
    ex: Any,
) -> dict[str, Any]:
    """Run every order once on both sides; the signed bodies must carry the same parameters.

    exitguard's query must also be exactly ``eg_reference(order, body)``: the text the general
    path (``to_params`` + timestamp + recvWindow + ``encode_query``) makes for the same order.
    """
    mismatches: list[dict[str, Any]] = []
    n_mismatched = 0
    formatting: dict[str, dict[str, Any]] = {}  # same number, other text ("59700.0" / "59700")
    for o in orders:
        eg_body = eg_one(o)
        if not _check_signature(eg_body):
            raise RuntimeError(f"exitguard signature does not verify: {eg_body}")
        query = eg_body.rpartition("&signature=")[0]
        if query != eg_reference(o, eg_body):
            raise RuntimeError(f"exitguard query differs from encode_query(to_params()): {query}")
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
            print(f"[{KINDS[kind]}] exitguard to_params(): {eg_params(o)}", file=sys.stderr)
            print(f"[{KINDS[kind]}] ccxt request dict:    {_ccxt_request(ex, o)}", file=sys.stderr)
            print(f"[{KINDS[kind]}] exitguard body: {eg_one(o)}", file=sys.stderr)
            print(f"[{KINDS[kind]}] ccxt body:      {cx_one(o)}", file=sys.stderr)
    return {
        "checked": len(orders),
        "mismatched_requests": n_mismatched,
        "field_mismatches": mismatches,
        "numeric_text_differences": formatting,
    }
