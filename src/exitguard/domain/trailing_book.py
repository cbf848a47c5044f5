"""Trailing stops in integer price units: USD-M TRAILING_STOP_MARKET and Spot trailingDelta.

Same contract as :mod:`exitguard.domain.trigger_book` (one book per symbol and price source, exact
integer arithmetic, path order on one price); not-yet-activated orders wait in a
:class:`~exitguard.domain.trigger_book.TriggerBook`. Rules: ``trigger-semantics.md`` §2a (USD-M
callbackRate/activatePrice) and §2b (Spot trailing-stop FAQ).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from heapq import heappop, heappush
from math import gcd, lcm

from .enums import Side
from .trigger_book import COMPACT_FLOOR, HeapEntry, TriggerBook, require_int
from .triggers import TriggerDirection

__all__ = ["TrailingBook", "TrailingUpdate"]


@dataclass(frozen=True, slots=True)
class TrailingUpdate:
    """What one price did to a :class:`TrailingBook`; falsy when nothing happened.

    ``activated``: keys whose activation condition held at this price (they start tracking here;
    the Spot ``executionReport`` trailing time ``D`` / the USD-M activation). Order: as
    :class:`TriggerBook` fires (FALLING activations by activation price descending, then RISING
    ascending, ties by placement order).
    ``fired``: keys that triggered and left the book, in path order (see :class:`TrailingBook`).
    """

    activated: tuple[int, ...] = ()
    fired: tuple[int, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.activated or self.fired)


_QUIET = TrailingUpdate()


class _Seg:
    """A run of a group's members sharing one extreme; also a union-find node for ``extreme()``."""

    __slots__ = ("count", "ext", "parent")

    def __init__(self, ext: int) -> None:
        self.ext = ext  # in q-space (see _Group)
        self.count = 0  # members in this run, tombstones included
        self.parent: _Seg | None = None


class _Group:
    """Active trailing orders sharing (side, rate), in q-space.

    q = price for SELL and -price for BUY, so both sides track a running *maximum* ``ext`` of q and
    fire when ``q * den <= ext * rhs``, with ``rhs = den - num`` (SELL) or ``den + num`` (BUY):
    SELL ``p*den <= H*(den-num)``; BUY ``p*den >= L*(den+num)`` is the same with q = -p, ext = -L.

    ``segs`` (front = most extreme) partitions ``members`` into runs of equal extreme, strictly
    decreasing from front to back. A new price q merges the back runs with ``ext <= q`` into one
    run at q; the runs that fire form a front prefix because the fire condition is monotone in ext.
    """

    __slots__ = ("den", "gid", "members", "num", "rhs", "segs", "side", "sign", "version")

    def __init__(self, gid: int, side: Side, num: int, den: int) -> None:
        self.gid = gid
        self.side = side
        self.num = num
        self.den = den
        self.sign = 1 if side is Side.SELL else -1
        self.rhs = den - num if side is Side.SELL else den + num
        self.segs: deque[_Seg] = deque()
        self.members: deque[_Trail] = deque()
        self.version = 0


class _Trail:
    __slots__ = ("group", "key", "live", "seg", "seq")

    def __init__(self, key: int, group: _Group, seq: int) -> None:
        self.key = key
        self.group = group
        self.seq = seq
        self.live = True
        self.seg: _Seg | None = None  # None while waiting for activation


def _root(seg: _Seg) -> _Seg:
    root = seg
    while root.parent is not None:
        root = root.parent
    while seg.parent is not None and seg.parent is not root:
        seg.parent, seg = root, seg.parent
    return root


class TrailingBook:
    """Trailing stops of one (symbol, price source): USD-M TRAILING_STOP_MARKET, Spot trailingDelta.

    Rules (``trigger-semantics.md`` §2a table, §2b "Trailing stop"; Binance New-Algo-Order page and
    Spot ``faqs/trailing-stop-faq.md``), with the rate as an exact fraction ``num/den`` (USD-M
    callbackRate 1.5 → 15/1000; Spot trailingDelta 100 BIPS → 100/10000):

    - SELL tracks the highest price H and fires when ``price * den <= H * (den - num)``;
      BUY tracks the lowest price L and fires when ``price * den >= L * (den + num)``.
      Equality fires ("equal to, or surpasses"). Integer arithmetic, exact.
    - Each price first updates the extreme, then the condition is checked. So the price that makes
      a new extreme (or activates the order) never fires it: with positive prices and a positive
      rate the formula cannot hold at ``price == extreme``. Activation and firing on the same price
      therefore never happen for Binance rates; the engine applies the formula as written either
      way (a zero rate, accepted for re-arming, fires on the next price, activation price too).

    Activation (the ``activation`` argument of :meth:`add`):

    - ``None``: active at once, tracking from ``reference_units``, the last price at placement.
      Spot without stopPrice (FAQ scenario E starts from the placement trade, 40,000) and USD-M
      with ``activatePrice`` omitted ("defaults to the latest price").
    - ``(direction, units)``: waits until the first price with
      ``condition_holds(direction, price, units)``; that price starts the extreme and moves before
      it are ignored. ``reference_units`` is then unused.
      Spot with stopPrice: direction = ``trigger_direction(type, side)`` (STOP_LOSS SELL and
      TAKE_PROFIT BUY FALLING; STOP_LOSS BUY and TAKE_PROFIT SELL RISING); "the first trade that
      meets this condition sets the lowest/highest price".
      USD-M with activatePrice: pass ``(RISING, activatePrice)`` for SELL and
      ``(FALLING, activatePrice)`` for BUY. Binance's wording tracks the extreme "since placement",
      not since activation, but the two coincide: Binance only accepts a SELL whose activatePrice
      is above the latest price (-2021 otherwise), so every price before the first one
      ``>= activatePrice`` is below it, the highest price since placement at that moment *is* that
      price, and from then on both extremes see the same prices (mirror for BUY). No flag needed.

    Fire order within one price: SELL orders first, by exact trigger level ``H*(den-num)/den``
    descending, then BUY orders by ``L*(den+num)/den`` ascending, ties by placement order: the
    path order of :class:`TriggerBook`.

    Structure (§3 option 2): active orders sharing (side, rate) form a group; a group is a deque
    of runs (segments) of equal extreme, most extreme first (an order activated earlier has seen a
    superset of prices, so its extreme is at least as extreme). A new extreme merges the back runs
    (each run is created once and merged at most once: amortised O(1)); firing pops runs from the
    front. Each group exposes two price thresholds (next new extreme, next fire) in two global
    heaps, and not-yet-active orders wait in a :class:`TriggerBook`, so a price at which nothing
    happens costs four heap peeks, independent of the number of orders *and* of groups. A price
    that changes k groups costs O(k log G + merges + activated log n + fired log fired).

    Removal is lazy: a removed active order stays in its group as a tombstone (skipped when its
    run fires); tombstones are swept once they outnumber live orders. Removing a waiting order
    removes it from the activation book.

    Placement out of order: an order added with ``activation=None`` whose reference is more
    extreme than the group's least extreme run (a reference the book has not seen as a price) is
    inserted at its sorted place in O(group size); with a reference equal to the last price fed to
    the book it joins the back in O(1).
    """

    __slots__ = (
        "_act_falling",
        "_act_rising",
        "_dead",
        "_down",
        "_group_index",
        "_groups",
        "_orders",
        "_pending",
        "_seq",
        "_up",
    )

    def __init__(self) -> None:
        self._pending = TriggerBook()
        self._act_rising = self._pending._rising
        self._act_falling = self._pending._falling
        self._orders: dict[int, _Trail] = {}
        self._groups: list[_Group] = []
        self._group_index: dict[tuple[Side, int, int], _Group] = {}
        # (threshold, gid, version): _up fires a group's event when price >= threshold; _down
        # stores -threshold and fires when price <= threshold. Stale versions are skipped.
        self._up: list[HeapEntry] = []
        self._down: list[HeapEntry] = []
        self._seq = 0
        self._dead = 0

    def add(
        self,
        key: int,
        side: Side,
        rate_num: int,
        rate_den: int,
        reference_units: int,
        activation: tuple[TriggerDirection, int] | None = None,
    ) -> None:
        """Rest a trailing order; see the class docstring for ``activation`` and the rate.

        Raises ``ValueError`` for a duplicate key or a rate outside ``0 <= num/den < 1``, and
        ``TypeError`` for non-int price units or rates. A zero rate is not a Binance value: such
        an order fires on the next price, whatever it is (the extreme is updated first, so
        ``price <= highest`` always holds); the paper venue uses it to re-arm an order that
        priceProtect held back.
        """
        if key in self._orders:
            raise ValueError(f"key {key} is already resting")
        for name, value in (("rate_num", rate_num), ("rate_den", rate_den)):
            require_int(name, value)
        require_int("reference_units", reference_units)
        if not 0 <= rate_num < rate_den:
            raise ValueError(f"rate {rate_num}/{rate_den} must satisfy 0 <= num < den")
        side = Side(side)
        act: tuple[TriggerDirection, int] | None = None
        if activation is not None:
            require_int("activation units", activation[1])
            act = (TriggerDirection(activation[0]), activation[1])
        common = gcd(rate_num, rate_den)
        group = self._group(side, rate_num // common, rate_den // common)
        order = _Trail(key, group, self._seq)
        self._seq += 1
        self._orders[key] = order
        if act is None:
            self._insert_active(group, order, group.sign * reference_units)
            self._refresh(group)
        else:
            self._pending.add(key, act[0], act[1])

    def remove(self, key: int) -> bool:
        """Cancel ``key``; ``True`` if it was resting (waiting or active), else ``False``."""
        order = self._orders.pop(key, None)
        if order is None:
            return False
        if order.seg is None:
            self._pending.remove(key)
            return True
        order.live = False
        self._dead += 1
        if self._dead > COMPACT_FLOOR and self._dead > len(self._orders):
            self._compact()
        return True

    def on_price(self, price_units: int) -> TrailingUpdate:
        """Feed one price: activate, track extremes, fire. Returns what happened (falsy if nothing).

        Fired keys leave the book.
        """
        up = self._up
        down = self._down
        act_r = self._act_rising
        act_f = self._act_falling
        neg = -price_units
        if (
            (up and up[0][0] <= price_units)
            or (down and down[0][0] <= neg)
            or (act_r and act_r[0][0] <= price_units)
            or (act_f and act_f[0][0] <= neg)
        ):
            return self._step(price_units)
        return _QUIET

    def extreme(self, key: int) -> int | None:
        """The tracked highest (SELL) or lowest (BUY) price of an active order; else ``None``."""
        order = self._orders.get(key)
        if order is None or order.seg is None:
            return None
        root = _root(order.seg)
        order.seg = root
        return order.group.sign * root.ext

    def is_active(self, key: int) -> bool:
        """Whether ``key`` rests and has activated (is tracking)."""
        order = self._orders.get(key)
        return order is not None and order.seg is not None

    def keys(self) -> list[int]:
        """Resting keys (waiting and active) in placement order."""
        return list(self._orders)

    def __len__(self) -> int:
        return len(self._orders)

    def __contains__(self, key: object) -> bool:
        return key in self._orders

    # -- internals -------------------------------------------------------------------------------

    def _group(self, side: Side, num: int, den: int) -> _Group:
        index = (side, num, den)
        group = self._group_index.get(index)
        if group is None:
            group = _Group(len(self._groups), side, num, den)
            self._groups.append(group)
            self._group_index[index] = group
        return group

    @staticmethod
    def _insert_active(group: _Group, order: _Trail, q: int) -> None:
        segs = group.segs
        members = group.members
        if not segs or segs[-1].ext >= q:  # the usual case: not more extreme than the back run
            if segs and segs[-1].ext == q:
                seg = segs[-1]
            else:
                seg = _Seg(q)
                segs.append(seg)
            members.append(order)
        else:
            i = len(segs) - 1
            pos = len(members)
            while i >= 0 and segs[i].ext < q:
                pos -= segs[i].count
                i -= 1
            if i >= 0 and segs[i].ext == q:
                seg = segs[i]
            else:
                seg = _Seg(q)
                segs.insert(i + 1, seg)
            members.insert(pos, order)
        seg.count += 1
        order.seg = seg

    def _refresh(self, group: _Group) -> None:
        """New version and heap thresholds for ``group`` after any change to its runs."""
        group.version += 1
        self._push_thresholds(group)
        if len(self._up) > 2 * len(self._groups) + COMPACT_FLOOR:
            self._rebuild_thresholds()

    def _push_thresholds(self, group: _Group) -> None:
        segs = group.segs
        if not segs:
            return
        new_extreme_q = segs[-1].ext + 1  # q >= this merges back runs
        fire_q = segs[0].ext * group.rhs // group.den  # q <= this fires the front run
        if group.sign > 0:
            up_p, down_p = new_extreme_q, fire_q
        else:  # q = -p flips both inequalities
            up_p, down_p = -fire_q, -new_extreme_q
        heappush(self._up, (up_p, group.gid, group.version))
        heappush(self._down, (-down_p, group.gid, group.version))

    def _rebuild_thresholds(self) -> None:
        """Drop stale heap entries: one current entry per non-empty group and heap."""
        self._up.clear()
        self._down.clear()
        for group in self._groups:
            self._push_thresholds(group)

    def _step(self, price: int) -> TrailingUpdate:
        groups = self._groups
        orders = self._orders
        activated = self._pending.fire(price)
        affected: set[int] = set()
        joining: dict[int, list[_Trail]] = {}
        for key in activated:
            order = orders[key]
            gid = order.group.gid
            affected.add(gid)
            joining.setdefault(gid, []).append(order)
        up = self._up
        while up and up[0][0] <= price:
            _, gid, version = heappop(up)
            if groups[gid].version == version:
                affected.add(gid)
        down = self._down
        neg = -price
        while down and down[0][0] <= neg:
            _, gid, version = heappop(down)
            if groups[gid].version == version:
                affected.add(gid)
        if not affected:
            return _QUIET
        fired: list[tuple[_Trail, int]] = []
        for gid in sorted(affected):
            self._process(groups[gid], price, joining.get(gid), fired)
        if len(fired) > 1:
            # Path order: SELL first, by level H*rhs/den descending; then BUY by L*rhs/den
            # ascending (H = ext, L = -ext in q-space, so both sort by -ext*rhs/den); exact
            # integers over the common denominator of the groups involved.
            common = lcm(*{order.group.den for order, _ in fired})
            fired.sort(
                key=lambda item: (
                    item[0].group.sign < 0,
                    -item[1] * item[0].group.rhs * (common // item[0].group.den),
                    item[0].seq,
                )
            )
        return TrailingUpdate(tuple(activated), tuple(order.key for order, _ in fired))

    def _process(
        self,
        group: _Group,
        price: int,
        joining: list[_Trail] | None,
        fired: list[tuple[_Trail, int]],
    ) -> None:
        q = price if group.sign > 0 else -price
        segs = group.segs
        members = group.members
        # 1. New extreme: every run less extreme than q takes q (a back suffix); union by size.
        if segs and segs[-1].ext < q:
            survivor = segs.pop()
            while segs and segs[-1].ext <= q:
                other = segs.pop()
                if other.count > survivor.count:
                    survivor, other = other, survivor
                other.parent = survivor
                survivor.count += other.count
            survivor.ext = q
            segs.append(survivor)
        # 2. Orders activated at this price start tracking here (all runs now have ext >= q).
        if joining:
            if segs and segs[-1].ext == q:
                seg = segs[-1]
            else:
                seg = _Seg(q)
                segs.append(seg)
            for order in joining:
                order.seg = seg
                members.append(order)
            seg.count += len(joining)
        # 3. Fire: the condition is monotone in ext, so the firing runs are a front prefix.
        lhs = q * group.den
        rhs = group.rhs
        while segs and lhs <= segs[0].ext * rhs:
            run = segs.popleft()
            for _ in range(run.count):
                order = members.popleft()
                if order.live:
                    order.live = False
                    del self._orders[order.key]
                    fired.append((order, run.ext))
                else:
                    self._dead -= 1
        self._refresh(group)

    def _compact(self) -> None:
        for group in self._groups:
            if not group.members:
                continue
            members: deque[_Trail] = deque()
            segs: deque[_Seg] = deque()
            old = iter(group.members)
            for run in group.segs:
                kept = 0
                for _ in range(run.count):
                    order = next(old)
                    if order.live:
                        members.append(order)
                        kept += 1
                if kept:
                    run.count = kept
                    segs.append(run)
            group.members = members
            group.segs = segs
        self._dead = 0
        self._rebuild_thresholds()
