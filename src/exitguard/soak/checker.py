"""The soak's invariant checker: reads ``/_venue/snapshot`` samples (about every 250 ms) of one
lane and keeps the books on what the manager is supposed to guarantee.

Vocabulary
----------
- An **exit** is a live order whose client id starts with ``exg-`` (the manager's prefix; other
  orders are the user's and never count): a USD-M regular order NEW/PARTIALLY_FILLED, a USD-M
  algo order not FINISHED/CANCELED/EXPIRED/REJECTED, a Spot order list EXECUTING (its
  ``listClientOrderId``; its legs are not exits of their own), or a Spot order outside a list.
- Its **role** comes from the order: STOP/STOP_MARKET → ``stop_loss``; TRAILING_STOP_MARKET →
  ``trailing``; LIMIT, TAKE_PROFIT, TAKE_PROFIT_MARKET → ``take_profit``; MARKET →
  ``market_exit``; a Spot OCO list → ``oco``; Spot STOP_LOSS(_LIMIT) → ``stop_loss`` (``trailing``
  with a ``trailingDelta``); Spot TAKE_PROFIT(_LIMIT), LIMIT, LIMIT_MAKER → ``take_profit``.
  Stop-type roles (the ones that protect): ``stop_loss``, ``trailing``, ``oco``.
- Its **target** is the position it closes: (product, symbol, positionSide, direction) with
  direction +1 for a long (a SELL in one-way mode, positionSide LONG in hedge mode; every Spot
  SELL) and -1 for a short. Its quantity is what is left of it; ``closePosition`` means "all".
  An OCO's quantity is its stop leg's.
- A **position** is a nonzero USD-M ``positionAmt`` per (symbol, positionSide), or a Spot holding
  (free + locked of the base asset of a managed symbol) of at least LOT_SIZE minQty.
- A position is **covered** at a sample when an exit of a stop-type role targets it (same
  symbol, positionSide, direction) with ``closePosition`` or a quantity >= its size. Otherwise it
  is **bare**.
- A **slot** is (product, symbol, positionSide, role); a **duplicate** is more than one exit in a
  slot at once.
- An exit is **stale** ("alive for a flat position") when its target is flat: no position on
  that (symbol, positionSide) in its direction (zero, or a one-way position of the other sign).

Time and states
---------------
The harness tells the checker when each manager process was spawned, when it printed its
startup line ``{"ready": ...}`` (startup recovery done, whatever the value), when it was killed
or stopped, and when each fault was injected and cleared (``close_user_streams`` and
``expire_listen_key`` act at once: injected, and cleared 1 ms later). At a time ``t`` the lane is

- **down**: no manager process;
- **starting**: spawned, not ready yet (interpreter start, imports, startup recovery), at most
  ``max_startup_ms`` (30 s) — a startup that takes longer counts as running from then on;
- **fault**: running with a fault injected and not yet cleared;
- **clean**: running, no fault.

"Manager up" is starting + fault + clean. ``clean_since(t)`` is the later of the process
becoming ready and the last fault clearing: the instant from which the manager is accountable.
How long startups take is reported on its own (``startup_s``): a restart's bare time before the
manager could act is real, but it is the cost of starting a process, not of self-healing.

The time between two samples is booked to the state at the first of them (left rectangles;
~250 ms resolution).

Episodes
--------
Bare positions, stale exits and duplicate slots are tracked as **episodes**: continuous runs of
samples in that condition for one key (position, exit client id, slot). An episode starts at its
first sample — for a bare position at the generator's order when one on that position falls
between the previous sample and this one — and ends at the first sample out of the condition
(or at the end of the run: ``open_at_end``). Each episode records its milliseconds per state
(``clean``, ``fault``, ``starting``, ``down``) and ``clean_run_ms``, the longest stretch during which it lasted
while the lane was clean, counted from the later of the episode's start and ``clean_since``:
"from when the position changed, the manager came back, or the fault cleared". ``up_run_ms``
is the longest stretch with the manager's process alive (starting, fault or clean), counted
from the later of the episode's start and the spawn: the strict view, startup included.

The rules (violations)
----------------------
- **bare**: an episode with ``clean_run_ms`` > ``bare_limit_ms`` (10 s: protected within 10 s
  of the change or of the fault clearing).
- **stale exits**: an episode with ``clean_run_ms`` > ``grace_ms`` (3 s).
- **duplicates**: an episode with ``clean_run_ms`` > ``grace_ms``. Replacing an exit places the
  new one before cancelling the old (design: protect first), so a duplicate that lasts one
  request is expected; one that outlives the grace is not.
- **reduce-only flips**: a USD-M position whose sign became nonzero and different from the
  previous sample's (a flip, or an opening from flat) with no generator order on that position,
  in that direction, between the two samples. The generator only sends non-reduce-only MARKET
  fills, so anything else that moved the position that way was an exit that was not reduce-only
  (or a closePosition that overshot). Spot holdings cannot go negative: not checked.
- **unowned exits at the end**: exits live in the final snapshot whose client id the manager's
  store (``exits`` table, read after the manager stopped) does not know.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from .episodes import STATES, Episode, Episodes, Timeline, percentile

__all__ = [
    "STOP_ROLES",
    "Checker",
    "Episode",
    "LiveExit",
    "Observation",
    "Timeline",
    "observe",
    "percentile",
]

PREFIX = "exg-"
STOP_ROLES = frozenset({"stop_loss", "trailing", "oco"})
_OPEN_ORDER = frozenset({"NEW", "PARTIALLY_FILLED"})
_TERMINAL_ALGO = frozenset({"FINISHED", "CANCELED", "EXPIRED", "REJECTED"})
_USDM_ROLE = {
    "STOP": "stop_loss",
    "STOP_MARKET": "stop_loss",
    "TRAILING_STOP_MARKET": "trailing",
    "TAKE_PROFIT": "take_profit",
    "TAKE_PROFIT_MARKET": "take_profit",
    "LIMIT": "take_profit",
    "MARKET": "market_exit",
}
_SPOT_ROLE = {
    "STOP_LOSS": "stop_loss",
    "STOP_LOSS_LIMIT": "stop_loss",
    "TAKE_PROFIT": "take_profit",
    "TAKE_PROFIT_LIMIT": "take_profit",
    "LIMIT": "take_profit",
    "LIMIT_MAKER": "take_profit",
    "MARKET": "market_exit",
}

PosKey = tuple[str, str, str]  # (product, symbol, positionSide); Spot's positionSide is "SPOT"
SlotKey = tuple[str, str, str, str]  # PosKey + role


def _key_text(key: Sequence[str]) -> str:
    return "/".join(key)


@dataclass(frozen=True, slots=True)
class LiveExit:
    client_id: str
    product: str  # usdm | spot
    symbol: str
    position_side: str  # BOTH | LONG | SHORT | SPOT
    role: str
    direction: int  # +1 closes a long, -1 a short
    qty: Decimal | None  # None: closePosition (the whole position)

    @property
    def pos_key(self) -> PosKey:
        return (self.product, self.symbol, self.position_side)

    @property
    def slot(self) -> SlotKey:
        return (self.product, self.symbol, self.position_side, self.role)


@dataclass(slots=True)
class Observation:
    """One snapshot seen through the rules above."""

    time_ms: int
    positions: dict[PosKey, Decimal]
    exits: list[LiveExit]
    bare: set[PosKey]
    stale: dict[str, LiveExit]  # client id -> exit
    duplicates: dict[SlotKey, list[str]]  # slot -> client ids

    def covered(self, key: PosKey) -> bool:
        return key in self.positions and key not in self.bare


def _dec(value: Any) -> Decimal:
    try:
        return Decimal(str(value)) if value not in (None, "") else Decimal(0)
    except ArithmeticError:
        return Decimal(0)


def _direction(side: str, position_side: str) -> int:
    if position_side == "LONG":
        return 1
    if position_side == "SHORT":
        return -1
    return 1 if side == "SELL" else -1


def _usdm_exits(snap: Mapping[str, Any]) -> Iterable[LiveExit]:
    for o in snap.get("orders", ()):
        cid = str(o.get("clientOrderId", ""))
        if not cid.startswith(PREFIX) or o.get("status") not in _OPEN_ORDER:
            continue
        qty = None if o.get("closePosition") else _dec(o["origQty"]) - _dec(o.get("executedQty"))
        ps = str(o.get("positionSide", "BOTH"))
        yield LiveExit(
            cid,
            "usdm",
            o["symbol"],
            ps,
            _USDM_ROLE.get(str(o.get("type")), "other"),
            _direction(str(o["side"]), ps),
            qty,
        )
    for a in snap.get("algoOrders", ()):
        cid = str(a.get("clientAlgoId", ""))
        if not cid.startswith(PREFIX) or a.get("algoStatus") in _TERMINAL_ALGO:
            continue
        ps = str(a.get("positionSide", "BOTH"))
        yield LiveExit(
            cid,
            "usdm",
            a["symbol"],
            ps,
            _USDM_ROLE.get(str(a.get("orderType")), "other"),
            _direction(str(a["side"]), ps),
            None if a.get("closePosition") else _dec(a.get("quantity")),
        )


def _spot_exits(spot: Mapping[str, Any]) -> Iterable[LiveExit]:
    orders = {o["orderId"]: o for o in spot.get("orders", ())}
    for lst in spot.get("orderLists", ()):
        cid = str(lst.get("listClientOrderId", ""))
        if not cid.startswith(PREFIX) or lst.get("listOrderStatus") != "EXECUTING":
            continue
        legs = [orders[x["orderId"]] for x in lst.get("orders", ()) if x["orderId"] in orders]
        stops = [leg for leg in legs if str(leg.get("type", "")).startswith("STOP_LOSS")] or legs
        qty = min((_dec(x["origQty"]) - _dec(x.get("executedQty")) for x in stops), default=None)
        side = str(legs[0]["side"]) if legs else "SELL"
        yield LiveExit(
            cid, "spot", lst["symbol"], "SPOT", "oco", _direction(side, "SPOT"), qty or Decimal(0)
        )
    for o in spot.get("orders", ()):
        cid = str(o.get("clientOrderId", ""))
        if not cid.startswith(PREFIX) or o.get("status") not in _OPEN_ORDER:
            continue
        if o.get("orderListId", -1) != -1:
            continue  # a leg of a list: the list is the exit
        role = _SPOT_ROLE.get(str(o.get("type")), "other")
        if role == "stop_loss" and "trailingDelta" in o:
            role = "trailing"
        yield LiveExit(
            cid,
            "spot",
            o["symbol"],
            "SPOT",
            role,
            _direction(str(o["side"]), "SPOT"),
            _dec(o["origQty"]) - _dec(o.get("executedQty")),
        )


def _positions(
    snap: Mapping[str, Any], spot_assets: Mapping[str, str], spot_min_qty: Mapping[str, Decimal]
) -> dict[PosKey, Decimal]:
    out: dict[PosKey, Decimal] = {}
    accounts = snap.get("accounts") or [{}]
    for p in accounts[0].get("positions", ()):
        amount = _dec(p.get("amount"))
        if amount:
            out[("usdm", p["symbol"], p["positionSide"])] = amount
    spot_accounts = (snap.get("spot") or {}).get("accounts") or [{}]
    balances = spot_accounts[0].get("balances", {})
    for symbol, asset in spot_assets.items():
        bal = balances.get(asset, {})
        held = _dec(bal.get("free")) + _dec(bal.get("locked"))
        if held > 0 and held >= spot_min_qty.get(symbol, Decimal(0)):
            out[("spot", symbol, "SPOT")] = held
    return out


def _fills_between(snap: Mapping[str, Any], key: PosKey, lo: int, hi: int) -> list[str]:
    """USD-M orders on ``key`` that executed between two samples: a flip's evidence."""
    out = []
    for o in snap.get("orders", ()):
        if (
            o.get("symbol") == key[1]
            and o.get("positionSide") == key[2]
            and _dec(o.get("executedQty")) > 0
            and lo - 50 <= int(o.get("updateTime", 0)) <= hi + 50
        ):
            out.append(
                f"{o.get('clientOrderId')} {o.get('type')} {o.get('side')} "
                f"qty={o.get('origQty')} executed={o.get('executedQty')} "
                f"reduceOnly={o.get('reduceOnly')} closePosition={o.get('closePosition')} "
                f"status={o.get('status')}"
            )
    return out


def _sign(value: Decimal) -> int:
    return (value > 0) - (value < 0)


def observe(
    snap: Mapping[str, Any],
    spot_assets: Mapping[str, str] | None = None,
    spot_min_qty: Mapping[str, Decimal] | None = None,
) -> Observation:
    """Positions, exits, bare positions, stale exits and duplicate slots of one snapshot.
    ``spot_assets`` maps each managed Spot symbol to its base asset (``{"ETHUSDT": "ETH"}``)."""
    positions = _positions(snap, spot_assets or {}, spot_min_qty or {})
    exits = list(_usdm_exits(snap)) + list(_spot_exits(snap.get("spot") or {}))
    bare = set()
    for key, amount in positions.items():
        need, size = _sign(amount), abs(amount)
        if not any(
            e.pos_key == key
            and e.role in STOP_ROLES
            and e.direction == need
            and (e.qty is None or e.qty >= size)
            for e in exits
        ):
            bare.add(key)
    stale = {
        e.client_id: e for e in exits if _sign(positions.get(e.pos_key, Decimal(0))) != e.direction
    }
    slots: dict[SlotKey, list[str]] = {}
    for e in exits:
        slots.setdefault(e.slot, []).append(e.client_id)
    dups = {slot: sorted(ids) for slot, ids in slots.items() if len(ids) > 1}
    return Observation(int(snap.get("time", 0)), positions, exits, bare, stale, dups)


class Checker:
    """The books of one lane. Feed it the timeline (``timeline.started`` ...), the generator's
    USD-M orders (:meth:`generator_order`) and samples (:meth:`sample`) in time order; then
    :meth:`finish` with the final snapshot and the store's client ids."""

    def __init__(
        self,
        lane: str,
        *,
        spot_assets: Mapping[str, str] | None = None,
        spot_min_qty: Mapping[str, Decimal] | None = None,
        grace_ms: int = 3_000,
        bare_limit_ms: int = 10_000,
    ) -> None:
        self.lane = lane
        self.spot_assets = dict(spot_assets or {})
        self.spot_min_qty = dict(spot_min_qty or {})
        self.grace_ms = grace_ms
        self.bare_limit_ms = bare_limit_ms
        self.timeline = Timeline()
        self.bare = Episodes(self.timeline)
        self.stale = Episodes(self.timeline)
        self.dups = Episodes(self.timeline)
        self.flips: list[dict[str, Any]] = []
        self.samples = 0
        self.t0: int | None = None
        self._prev: Observation | None = None
        self._gen: list[tuple[int, PosKey, int]] = []  # (venue time, position, direction)
        self.bare_ms: dict[str, dict[str, int]] = {}

    def generator_order(self, t: int, symbol: str, position_side: str, side: str) -> None:
        """The generator filled a non-reduce-only MARKET order at venue time ``t``."""
        self._gen.append((t, ("usdm", symbol, position_side), 1 if side == "BUY" else -1))

    def _generator_between(
        self, key: PosKey, lo: int, hi: int, direction: int | None
    ) -> int | None:
        times = [
            t for t, k, d in self._gen if k == key and lo <= t <= hi and direction in (None, d)
        ]
        return times[0] if times else None

    def sample(self, snap: Mapping[str, Any], t: int | None = None) -> Observation:
        obs = observe(snap, self.spot_assets, self.spot_min_qty)
        t = obs.time_ms if t is None else t
        obs.time_ms = t
        prev = self._prev
        prev_t = prev.time_ms if prev is not None else None
        if self.t0 is None:
            self.t0 = t
        self.samples += 1
        # Reduce-only flips: a new nonzero sign the generator did not cause.
        if prev is not None:
            for key in set(prev.positions) | set(obs.positions):
                if key[0] != "usdm":
                    continue
                s0 = _sign(prev.positions.get(key, Decimal(0)))
                s1 = _sign(obs.positions.get(key, Decimal(0)))
                if (
                    s1
                    and s1 != s0
                    and self._generator_between(key, prev.time_ms - 50, t + 50, s1) is None
                ):
                    self.flips.append(
                        {
                            "key": _key_text(key),
                            "t_s": round((t - self.t0) / 1000, 3),
                            "before": str(prev.positions.get(key, 0)),
                            "after": str(obs.positions[key]),
                            "exits_before": [
                                f"{e.client_id} {e.role} dir={e.direction} qty={e.qty}"
                                for e in prev.exits
                                if e.pos_key == key
                            ],
                            "fills_between": _fills_between(snap, key, prev.time_ms, t),
                        }
                    )
        # Bare seconds per position, by state.
        if prev is not None and prev_t is not None:
            state = self.timeline.state(prev_t)
            for key in prev.bare:
                per = self.bare_ms.setdefault(_key_text(key), dict.fromkeys(STATES, 0))
                per[state] += t - prev_t
        bare_keys = {_key_text(k): {"size": str(obs.positions[k])} for k in sorted(obs.bare)}
        starts = {}
        for k in obs.bare:
            if prev_t is not None:
                g = self._generator_between(k, prev_t, t, None)
                if g is not None:
                    starts[_key_text(k)] = g
        self.bare.step(t, prev_t, bare_keys, starts)
        self.stale.step(
            t,
            prev_t,
            {
                cid: {"exit": f"{_key_text(e.slot)} dir={e.direction} qty={e.qty}"}
                for cid, e in obs.stale.items()
            },
        )
        self.dups.step(
            t,
            prev_t,
            {_key_text(slot): {"client_ids": ids} for slot, ids in obs.duplicates.items()},
        )
        self._prev = obs
        return obs

    def finish(
        self, t: int, final: Mapping[str, Any] | None, store_ids: set[str] | None
    ) -> dict[str, Any]:
        """Close the open episodes at ``t``; judge the final snapshot against the store."""
        for eps in (self.bare, self.stale, self.dups):
            eps.close_all(t)
        t0 = self.t0 if self.t0 is not None else t
        end = observe(final, self.spot_assets, self.spot_min_qty) if final is not None else None
        unowned = []
        if end is not None and store_ids is not None:
            unowned = sorted(
                f"{e.client_id} {_key_text(e.slot)}"
                for e in end.exits
                if e.client_id not in store_ids
            )
        bare_eps = self.bare.done
        up_eps = [e for e in bare_eps if e.ms["clean"] or e.clean_run_ms]
        clean_runs = [e.clean_run_ms / 1000 for e in up_eps]
        bad_bare = [e for e in bare_eps if e.clean_run_ms > self.bare_limit_ms]
        bad_stale = [e for e in self.stale.done if e.clean_run_ms > self.grace_ms]
        bad_dups = [e for e in self.dups.done if e.clean_run_ms > self.grace_ms]
        per_slot: dict[str, dict[str, int]] = {}
        for e in self.dups.done:
            row = per_slot.setdefault(e.key, {"episodes": 0, "beyond_grace": 0, "max_live": 0})
            row["episodes"] += 1
            row["beyond_grace"] += e.clean_run_ms > self.grace_ms
            row["max_live"] = max(row["max_live"], len(e.detail.get("client_ids", ())))

        def top(eps: list[Episode], n: int = 10) -> list[dict[str, Any]]:
            ranked = sorted(eps, key=lambda e: (e.clean_run_ms, e.up_run_ms), reverse=True)
            return [e.to_json(t0) for e in ranked[:n]]

        def rnd(v: float | None) -> float | None:
            return None if v is None else round(v, 3)

        return {
            "lane": self.lane,
            "samples": self.samples,
            "manager_intervals_s": [
                [round((a - t0) / 1000, 3), None if b is None else round((b - t0) / 1000, 3)]
                for a, b in self.timeline.intervals
                if a is not None
            ],
            "startup_s": [round(ms / 1000, 3) for ms in self.timeline.readies],
            "faults": [
                {
                    "kind": f["kind"],
                    "on_s": round((f["on"] - t0) / 1000, 3),
                    "off_s": None if f["off"] is None else round((f["off"] - t0) / 1000, 3),
                    "body": f["body"],
                }
                for f in self.timeline.faults
            ],
            "bare": {
                "episodes": len(bare_eps),
                "episodes_with_clean_time": len(up_eps),
                "clean_run_max_s": rnd(max(clean_runs, default=None)),
                "clean_run_p50_s": rnd(percentile(clean_runs, 0.5)),
                "clean_run_p99_s": rnd(percentile(clean_runs, 0.99)),
                "up_run_max_s": rnd(max((e.up_run_ms / 1000 for e in bare_eps), default=None)),
                "beyond_limit": len(bad_bare),
                "per_position_s": {
                    k: {s: round(ms / 1000, 3) for s, ms in v.items()}
                    for k, v in sorted(self.bare_ms.items())
                },
                "worst": top(bare_eps),
            },
            "stale_exits": {
                "episodes": len(self.stale.done),
                "beyond_grace": len(bad_stale),
                "worst": top(self.stale.done),
            },
            "duplicates": {
                "episodes": len(self.dups.done),
                "beyond_grace": len(bad_dups),
                "per_slot": dict(sorted(per_slot.items())),
                "worst": top(self.dups.done),
            },
            "reduce_only_flips": {"count": len(self.flips), "events": self.flips[:20]},
            "end": {
                "unowned_exits": unowned,
                "positions": {
                    _key_text(k): str(v) for k, v in sorted((end.positions if end else {}).items())
                },
                "bare": sorted(_key_text(k) for k in (end.bare if end else ())),
                "stale": sorted(end.stale) if end else [],
                "duplicates": {
                    _key_text(s): ids for s, ids in (end.duplicates if end else {}).items()
                },
                "store_read": store_ids is not None,
            },
        }
