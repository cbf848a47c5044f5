"""What both sides of bench_requests.py share: the orders, the fixture, names and stage tables."""

from __future__ import annotations

import json
import random
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from importlib import resources
from typing import Any

from exitguard.domain import ClientAlgoId, ClientIdGenerator, Side

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


def stage_report(
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
