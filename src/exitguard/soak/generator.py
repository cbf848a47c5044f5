"""The soak's seeded scenario: every price step, position change, Spot balance move, fault and
kill, decided up front from one ``random.Random(seed)``.

The scenario is a time-ordered list of :class:`Event` (``at_ms`` from the start of the chaos
phase). Its decisions do not depend on how the run goes, so a seed names the same sequence of
intents every time. Position and balance events are *intents* ("partially close 40 %", "withdraw
30 % of the free balance"): :func:`resolve_position` and :func:`resolve_withdrawal` turn one into
a concrete order against the lane's latest snapshot when it is played, because exits may have
closed positions in the meantime.

What the generator does, per kind:

- ``price``: one step for every symbol (the same path on every lane): a mean-reverting random
  walk of the log price (small steps), and with probability ``JUMP_PROBABILITY`` a jump of 2.5 to
  6 % that crosses the policy's stops (2 % USD-M, 3 % Spot) and sometimes its take-profits.
  ``last`` and ``mark`` move together; prices sit on the USD-M tick (which is also on Spot's).
- ``position`` (USD-M, every lane): open / add / partial close / close / flip (one-way only) on
  one (symbol, positionSide). Every order the generator sends is a non-reduce-only MARKET fill
  through ``/_venue/position``: the checker's reduce-only-flip rule needs to know them.
- ``balance`` (lanes with Spot): deposit a multiple of the step of the base asset, or withdraw a
  part of the free balance (an OCO locks what it protects, so a withdrawal is often skipped).
- ``fault`` / ``clear``: one fault episode at a time per lane, each kind the venue can inject
  (``FAULT_KINDS``, every kind once per round in a random order) with random parameters, cleared (``{"clear": true}``) after a random duration.
  ``close_user_streams`` and ``expire_listen_key`` act at once; their episode still ends with a
  ``clear`` so the bookkeeping has one shape.
- ``kill``: ``kill -9`` of a lane's manager, every ``kill_every_ms`` on average per lane, and its
  restart ``down_ms`` (0.5-4 s) later. ``wait_ready`` (three kills in four) defers the kill until
  the manager has printed ready and then run ``run_ms`` (0.5-8 s) — a restart costs seconds of
  imports, and a manager killed whenever it starts would never be measured; the others strike
  ``run_ms`` after the spawn, whatever it is doing (imports, startup recovery, running). The harness plays a lane's kills in order, so a deferred kill delays the
  next ones.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal
from typing import Any

__all__ = [
    "FAULT_KINDS",
    "LANES",
    "SPOT_ASSET",
    "SPOT_SYMBOL",
    "START_PRICES",
    "USDM_SYMBOLS",
    "Event",
    "LaneSpec",
    "Scenario",
    "generate",
    "resolve_position",
    "resolve_withdrawal",
]

USDM_SYMBOLS = ("BTCUSDT", "ETHUSDT")
SPOT_SYMBOL = "ETHUSDT"
SPOT_ASSET = "ETH"
START_PRICES = {"BTCUSDT": Decimal("65000.00"), "ETHUSDT": Decimal("3000.00")}
# USD-M ticks (BTCUSDT 0.10, ETHUSDT 0.01 in the bundled exchangeInfo); Spot's 0.01 divides both.
TICKS = {"BTCUSDT": Decimal("0.10"), "ETHUSDT": Decimal("0.01")}
QTY_STEP = Decimal("0.001")  # USD-M LOT_SIZE stepSize of both symbols
SPOT_STEP = Decimal("0.0001")  # Spot ETHUSDT LOT_SIZE stepSize
# Sizes well above MIN_NOTIONAL (50 / 20 USDT) so partial closes stay tradable.
QTY_RANGE = {"BTCUSDT": (0.005, 0.05), "ETHUSDT": (0.05, 1.0)}
SPOT_DEPOSIT_RANGE = (0.05, 1.0)

FAULT_KINDS = (
    "latency",
    "lose_response",
    "status_429",
    "clock_skew",
    "close_user_streams",
    "expire_listen_key",
)
INSTANT_FAULTS = frozenset({"close_user_streams", "expire_listen_key"})
# Paths the manager's adapters call (method None = any); the Spot ones only matter with Spot.
LOSE_PATHS_USDM: tuple[tuple[str, str | None], ...] = (
    ("/fapi/v1/algoOrder", "POST"),
    ("/fapi/v1/algoOrder", "DELETE"),
    ("/fapi/v1/algoOrder", None),
    ("/fapi/v1/order", "POST"),
    ("/fapi/v1/order", "DELETE"),
    ("/fapi/v3/positionRisk", None),
    ("/fapi/v1/openAlgoOrders", None),
    ("/fapi/v1/openOrders", None),
)
LOSE_PATHS_SPOT: tuple[tuple[str, str | None], ...] = (
    ("/api/v3/orderList/oco", "POST"),
    ("/api/v3/orderList", "DELETE"),
    ("/api/v3/order", None),
    ("/api/v3/openOrderList", None),
    ("/api/v3/account", None),
)

PRICE_EVERY_MS = 300
JUMP_PROBABILITY = 0.012  # per symbol and step: a jump every ~25 s per symbol
STEP_SIGMA = 0.0007  # of the log price per step
REVERSION = 0.004  # pull of the log price back towards its start per step


@dataclass(frozen=True, slots=True)
class LaneSpec:
    """One venue + one manager. ``hedge``: the account is in hedge mode (LONG/SHORT)."""

    name: str
    hedge: bool
    spot: bool

    @property
    def position_sides(self) -> tuple[str, ...]:
        return ("LONG", "SHORT") if self.hedge else ("BOTH",)


# One account cannot be one-way and hedge at once (positionSide/dual is account-wide and refused
# while orders or positions exist), so the soak runs two lanes side by side.
LANES = (LaneSpec("oneway", hedge=False, spot=True), LaneSpec("hedge", hedge=True, spot=False))


@dataclass(frozen=True, slots=True)
class Event:
    at_ms: int
    kind: str  # price | position | balance | fault | clear | kill
    lane: str = ""  # "" for price (applies to every lane)
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Scenario:
    seed: int
    chaos_ms: int
    lanes: tuple[LaneSpec, ...]
    events: tuple[Event, ...]

    def count(self, kind: str) -> int:
        return sum(1 for e in self.events if e.kind == kind)


def _on_grid(value: float, step: Decimal) -> Decimal:
    return (Decimal(repr(value)) / step).to_integral_value(rounding=ROUND_DOWN) * step


def _qty(rng: random.Random, symbol: str) -> Decimal:
    low, high = QTY_RANGE[symbol]
    return max(QTY_STEP, _on_grid(rng.uniform(low, high), QTY_STEP))


def _prices(rng: random.Random, chaos_ms: int) -> list[Event]:
    out = []
    logs = {s: math.log(float(p)) for s, p in START_PRICES.items()}
    start = dict(logs)
    t = 0
    while t < chaos_ms:
        step: dict[str, str] = {}
        for symbol in USDM_SYMBOLS:
            x = logs[symbol]
            x += REVERSION * (start[symbol] - x) + rng.gauss(0.0, STEP_SIGMA)
            if rng.random() < JUMP_PROBABILITY:
                x += rng.choice((-1, 1)) * rng.uniform(0.025, 0.06)
            logs[symbol] = x
            step[symbol] = str(_on_grid(math.exp(x), TICKS[symbol]))
        out.append(Event(t, "price", data={"prices": step}))
        t += int(PRICE_EVERY_MS * rng.uniform(0.7, 1.3))
    return out


def _positions(rng: random.Random, lane: LaneSpec, chaos_ms: int) -> list[Event]:
    out = []
    # Every (symbol, side) starts open, in the first second, so there is something to protect.
    t = 0
    for symbol in USDM_SYMBOLS:
        for ps in lane.position_sides:
            side = {"LONG": "BUY", "SHORT": "SELL"}.get(ps) or rng.choice(("BUY", "SELL"))
            first = {"symbol": symbol, "position_side": ps, "op": "open", "side": side}
            out.append(Event(t, "position", lane.name, first | {"qty": str(_qty(rng, symbol))}))
            t += rng.randint(50, 300)
    ops = ["open_or_add", "partial", "close"] + ([] if lane.hedge else ["flip"])
    weights = [40, 30, 18] + ([] if lane.hedge else [12])
    t = 2_000
    while t < chaos_ms:
        symbol = rng.choice(USDM_SYMBOLS)
        ps = rng.choice(lane.position_sides)
        op = rng.choices(ops, weights)[0]
        data: dict[str, Any] = {"symbol": symbol, "position_side": ps, "op": op}
        data["qty"] = str(_qty(rng, symbol))
        data["side"] = {"LONG": "BUY", "SHORT": "SELL"}.get(ps) or rng.choice(("BUY", "SELL"))
        data["fraction"] = round(rng.uniform(0.2, 0.8), 3)
        out.append(Event(t, "position", lane.name, data))
        t += rng.randint(1_500, 4_000)
    return out


def _balances(rng: random.Random, lane: LaneSpec, chaos_ms: int) -> list[Event]:
    out = []
    t = rng.randint(1_000, 3_000)
    while t < chaos_ms:
        if rng.random() < 0.6:
            qty = max(SPOT_STEP, _on_grid(rng.uniform(*SPOT_DEPOSIT_RANGE), SPOT_STEP))
            data: dict[str, Any] = {"asset": SPOT_ASSET, "op": "deposit", "qty": str(qty)}
        else:
            data = {
                "asset": SPOT_ASSET,
                "op": "withdraw",
                "fraction": round(rng.uniform(0.2, 1), 3),
            }
        out.append(Event(t, "balance", lane.name, data))
        t += rng.randint(2_000, 5_000)
    return out


def _fault(rng: random.Random, lane: LaneSpec, kind: str) -> dict[str, Any]:
    if kind == "latency":
        return {"latency_ms": rng.randint(200, 2_500)}
    if kind == "status_429":
        return {"status_429": rng.randint(1, 30)}
    if kind == "clock_skew":
        # Beyond the +1000 / -recvWindow(5000) acceptance window, so signed requests get -1021.
        return {"clock_skew_ms": rng.choice((-1, 1)) * rng.randint(1_500, 15_000)}
    if kind == "lose_response":
        paths = LOSE_PATHS_USDM + (LOSE_PATHS_SPOT if lane.spot else ())
        path, method = rng.choice(paths)
        lost: dict[str, Any] = {"path": path, "count": rng.randint(1, 3)}
        if method is not None:
            lost["method"] = method
        if rng.random() < 0.3:
            lost["status"] = 408
        return {"lose_response": lost}
    return {kind: True}


def _faults(rng: random.Random, lane: LaneSpec, chaos_ms: int) -> list[Event]:
    out = []
    t = rng.randint(3_000, 8_000)
    kinds: list[str] = []
    while t < chaos_ms:
        if not kinds:  # every kind once per round, in a random order: a short run sees them all
            kinds = rng.sample(FAULT_KINDS, len(FAULT_KINDS))
        kind = kinds.pop()
        # An instant fault's episode still ends with a clear, 1 ms later (never before it).
        hold = 1 if kind in INSTANT_FAULTS else rng.randint(1_000, 6_000)
        end = min(t + hold, chaos_ms)
        out.append(Event(t, "fault", lane.name, {"kind": kind, "body": _fault(rng, lane, kind)}))
        out.append(Event(end, "clear", lane.name, {"kind": kind}))
        t = end + rng.randint(2_000, 8_000)
    return out


def _kills(rng: random.Random, lane: LaneSpec, chaos_ms: int, kill_every_ms: int) -> list[Event]:
    out = []
    t = int(kill_every_ms * rng.uniform(0.3, 1.0))
    while t < chaos_ms:
        down = rng.randint(500, 4_000)
        # Most kills wait until the manager is running (a restart takes seconds of imports; a
        # lane killed whenever it starts measures nothing); a quarter strike at any moment,
        # startup recovery included.
        wait_ready = rng.random() < 0.75
        run = rng.randint(500, 8_000)  # how long it runs after ready (or after the spawn)
        data = {"down_ms": down, "wait_ready": wait_ready, "run_ms": run}
        out.append(Event(t, "kill", lane.name, data))
        t += down + int(kill_every_ms * rng.uniform(0.5, 1.5))
    return out


_ORDER = {"clear": 0, "price": 1, "position": 2, "balance": 3, "fault": 4, "kill": 5}


def generate(
    seed: int,
    chaos_ms: int,
    lanes: tuple[LaneSpec, ...] = LANES,
    kill_every_ms: int = 20_000,
) -> Scenario:
    """The scenario of ``seed`` for a chaos phase of ``chaos_ms``; one stream of random numbers
    per part (derived from the seed), so adding a lane does not change the price path."""
    if chaos_ms <= 0:
        raise ValueError(f"chaos_ms must be > 0, got {chaos_ms}")
    if kill_every_ms <= 0:
        raise ValueError(f"kill_every_ms must be > 0, got {kill_every_ms}")

    def rng(part: str) -> random.Random:
        return random.Random(f"{seed}/{part}")

    events = _prices(rng("price"), chaos_ms)
    for lane in lanes:
        events += _positions(rng(f"position/{lane.name}"), lane, chaos_ms)
        if lane.spot:
            events += _balances(rng(f"balance/{lane.name}"), lane, chaos_ms)
        events += _faults(rng(f"fault/{lane.name}"), lane, chaos_ms)
        events += _kills(rng(f"kill/{lane.name}"), lane, chaos_ms, kill_every_ms)
    events.sort(key=lambda e: (e.at_ms, _ORDER[e.kind], e.lane))
    return Scenario(seed, chaos_ms, lanes, tuple(events))


def resolve_position(
    data: dict[str, Any], amount: Decimal, hedge: bool
) -> tuple[str, Decimal, str] | None:
    """``(side, qty, position_side)`` of the MARKET fill that carries out a position intent on a
    position of ``amount`` now (signed; LONG >= 0, SHORT <= 0), or None when there is nothing to
    do (closing a flat position). A partial close never goes through zero; a one-way ``flip``
    does, by the intent's ``qty``."""
    ps = data["position_side"]
    op = data["op"]
    qty = Decimal(data["qty"]) if "qty" in data else QTY_STEP
    size = abs(amount)
    closing = "SELL" if amount > 0 else "BUY"
    if op in ("open", "open_or_add") or (size == 0 and op != "close"):
        if size == 0 or op == "open":
            return data["side"], qty, ps
        # Add in the position's own direction.
        return ("BUY" if amount > 0 else "SELL"), qty, ps
    if size == 0:
        return None
    if op == "close":
        return closing, size, ps
    if op == "partial":
        part = (size * Decimal(str(data["fraction"])) / QTY_STEP).to_integral_value(
            rounding=ROUND_DOWN
        ) * QTY_STEP
        return (closing, part, ps) if 0 < part < size else (closing, size, ps)
    if op == "flip" and not hedge:
        return closing, size + qty, ps
    return None


def resolve_withdrawal(data: dict[str, Any], free: Decimal) -> Decimal | None:
    """How much of ``free`` a withdrawal intent takes (on the Spot step), or None for nothing."""
    part = (free * Decimal(str(data["fraction"])) / SPOT_STEP).to_integral_value(
        rounding=ROUND_DOWN
    ) * SPOT_STEP
    return part if part > 0 else None
