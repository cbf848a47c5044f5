"""Resting-trigger engine in integer price units, shared by the paper venue and the backtester.

One book serves ONE (symbol, price source): USD-M ``workingType`` MARK_PRICE and CONTRACT_PRICE
orders of a symbol live in two different books, Spot orders (last trade only) in one. Callers turn
Decimal prices into integers with a per-symbol scale before calling (a MARK_PRICE feed must be
truncated *down* to the tick first, see :func:`exitguard.domain.triggers.truncate_mark_price`);
the engine never sees a Decimal, and every comparison is exact integer arithmetic.

- :class:`TriggerBook` holds static triggers (STOP / STOP_MARKET / STOP_LOSS* and TAKE_PROFIT*),
  following the tables in ``trigger-semantics.md`` §2a (USD-M New-Algo-Order, "Condition orders
  will be triggered when") and §2b (Spot trailing-stop FAQ table). Equality fires.
- :class:`~exitguard.domain.trailing_book.TrailingBook` (its own module) holds trailing stops:
  USD-M TRAILING_STOP_MARKET (callbackRate, activatePrice) and Spot trailingDelta orders.

Neither book validates placements against the market: Binance rejects an order whose condition
already holds (USD-M -2021, Spot -2010 "Order would trigger immediately."), and that check belongs
to validation. A book given such an order simply fires (or activates) it on the next price.

Fire order (deterministic, documented once here): on one price, the orders that fire are
reported in *path order*, the order in which a continuous move from the previous price would have
crossed them. Falling-side orders come first, highest trigger first (a falling price meets the
highest trigger first); then rising-side orders, lowest trigger first. Ties keep placement order.
Both sides fire on one price only when some order was placed already crossed, or on the first
price fed to a book.
"""

from __future__ import annotations

from heapq import heapify, heappop, heappush

from .triggers import TriggerDirection

__all__ = ["COMPACT_FLOOR", "HeapEntry", "TriggerBook", "require_int"]

# Tombstones are swept once they outnumber live entries (and exceed this floor), so memory stays
# O(live) and every sweep is paid for by at least as many removals: amortised O(1) per removal.
COMPACT_FLOOR = 64

HeapEntry = tuple[int, int, int]  # (stored trigger, seq, key); falling triggers stored negated


def require_int(name: str, value: object) -> None:
    if type(value) is not int:
        raise TypeError(f"{name} must be an int in price units, got {type(value).__name__}")


class TriggerBook:
    """Static stop / take-profit triggers of one (symbol, price source), in integer price units.

    Rules (``trigger-semantics.md`` §2a USD-M New-Algo-Order table, §2b Spot trailing-stop FAQ
    table): a RISING trigger fires when ``price >= trigger`` (USD-M STOP* BUY, TAKE_PROFIT* SELL;
    Spot STOP_LOSS* BUY, TAKE_PROFIT* SELL); a FALLING trigger fires when ``price <= trigger``
    (the mirror). Equality fires. Use :func:`exitguard.domain.triggers.trigger_direction` to map
    (type, side) to a direction.

    Structure (§3): two heaps of ``(trigger, seq, key)``: ``rising`` a min-heap, ``falling`` a
    max-heap stored negated. A price that crosses nothing costs two peeks, O(1) whatever the
    number of resting orders; each fired order costs O(log n).

    Fire order: every order whose condition holds fires in one :meth:`fire` call, FALLING ones
    first by trigger descending, then RISING ones by trigger ascending, ties by placement order
    (``seq``): the heaps' own pop order, and the order a continuous move would cross them.

    Removal is lazy: :meth:`remove` forgets the key and leaves a tombstone in its heap, skipped
    when it reaches the top. A key may be re-added after removal; the stale entry cannot be
    mistaken for it because entries carry the placement ``seq``. Tombstones are swept in place once
    they outnumber live orders.
    """

    __slots__ = ("_dead", "_falling", "_live", "_rising", "_seq")

    def __init__(self) -> None:
        # TrailingBook keeps references to these two lists: they are only ever mutated in place.
        self._rising: list[HeapEntry] = []
        self._falling: list[HeapEntry] = []
        self._live: dict[int, tuple[int, TriggerDirection, int]] = {}  # key -> (seq, dir, trig)
        self._seq = 0
        self._dead = 0

    def add(self, key: int, direction: TriggerDirection, trigger_units: int) -> None:
        """Rest ``key`` until the price satisfies ``direction`` against ``trigger_units``.

        Raises ``ValueError`` if ``key`` is already resting (fired or removed keys may be reused)
        and ``TypeError`` if ``trigger_units`` is not an int.
        """
        if key in self._live:
            raise ValueError(f"key {key} is already resting")
        require_int("trigger_units", trigger_units)
        direction = TriggerDirection(direction)
        seq = self._seq
        self._seq = seq + 1
        self._live[key] = (seq, direction, trigger_units)
        if direction is TriggerDirection.RISING:
            heappush(self._rising, (trigger_units, seq, key))
        else:
            heappush(self._falling, (-trigger_units, seq, key))

    def remove(self, key: int) -> bool:
        """Cancel ``key``; ``True`` if it was resting, ``False`` if unknown or already fired."""
        if self._live.pop(key, None) is None:
            return False
        self._dead += 1
        if self._dead > COMPACT_FLOOR and self._dead > len(self._live):
            self._compact()
        return True

    def fire(self, price_units: int) -> list[int]:
        """Pop and return every resting key whose condition holds at ``price_units``.

        Order: FALLING keys by trigger descending, then RISING keys by trigger ascending, ties by
        placement order. Fired keys leave the book. O(1) when nothing fires.
        """
        rising = self._rising
        falling = self._falling
        neg = -price_units
        if (not falling or falling[0][0] > neg) and (not rising or rising[0][0] > price_units):
            return []
        live = self._live
        fired: list[int] = []
        while falling and falling[0][0] <= neg:
            _, seq, key = heappop(falling)
            entry = live.get(key)
            if entry is not None and entry[0] == seq:
                del live[key]
                fired.append(key)
            else:
                self._dead -= 1
        while rising and rising[0][0] <= price_units:
            _, seq, key = heappop(rising)
            entry = live.get(key)
            if entry is not None and entry[0] == seq:
                del live[key]
                fired.append(key)
            else:
                self._dead -= 1
        return fired

    def trigger(self, key: int) -> tuple[TriggerDirection, int] | None:
        """``(direction, trigger_units)`` of a resting key, ``None`` if it is not resting."""
        entry = self._live.get(key)
        return None if entry is None else (entry[1], entry[2])

    def keys(self) -> list[int]:
        """Resting keys in placement order."""
        return list(self._live)

    def __len__(self) -> int:
        return len(self._live)

    def __contains__(self, key: object) -> bool:
        return key in self._live

    def _compact(self) -> None:
        live = self._live

        def alive(entry: HeapEntry) -> bool:
            found = live.get(entry[2])
            return found is not None and found[0] == entry[1]

        self._rising[:] = [e for e in self._rising if alive(e)]
        self._falling[:] = [e for e in self._falling if alive(e)]
        heapify(self._rising)
        heapify(self._falling)
        self._dead = 0
