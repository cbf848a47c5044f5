"""What the store remembers about each open position since it opened (the ``progress`` table of
``exits._SCHEMA``; docs: exit plans, "Progress"): when it was first seen open, its size when the
plan started (the ladder's fractions are of it), which ladder levels have filled and which
one-shot exits (``"time_stop"``, ``"liquidation"``) have been sent. A restart mid-ladder reads it
back, so a filled level is never placed again and a one-shot never fires twice.

How progress moves is the planner's (``exitguard.planner.progress``: the live plan, a restart
and the backtest move it the same way); this module keeps it. A mixin of
:class:`~exitguard.store.exits.ExitStore`, on its one connection and single writer:
written inside the transaction of the event that changed it (exactly once, like the event), or
on its own commit before a one-shot is sent (write-ahead). Forgotten when the position closes.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, replace
from decimal import Decimal

from exitguard.domain.enums import PositionSide, Product
from exitguard.planner.model import PositionKey, PositionProgress, SlotKey
from exitguard.planner.progress import level_filled, one_shot_name, one_shot_sent, resized, started

__all__ = ["ProgressRecords", "position_text"]


def position_text(key: PositionKey) -> str:
    """``account/product/symbol/positionSide``: the store's name of a position (as in
    ``protection``)."""
    account, product, symbol, side = key
    return "/".join((account, product, symbol, side))


def _key(text: str) -> PositionKey:
    account, product, symbol, side = text.split("/")
    return (account, Product(product), symbol, PositionSide(side))


@dataclass(frozen=True, slots=True)
class _Row:
    progress: PositionProgress
    amount: Decimal  # the signed amount last seen: tells a scale-in and a flip apart


def _levels(text: str) -> frozenset[int]:
    return frozenset(int(x) for x in text.split(",") if x)


def _names(text: str) -> frozenset[str]:
    return frozenset(x for x in text.split(",") if x)


class ProgressRecords:
    """Per-position progress (module docstring). Cached in memory; the cache is dropped on a
    rollback (``ExitStore._reload`` sets ``_progress`` to None)."""

    _db: sqlite3.Connection
    _progress: dict[str, _Row] | None

    def _progress_rows(self) -> dict[str, _Row]:
        if self._progress is None:
            self._progress = {
                r["position"]: _Row(
                    PositionProgress(
                        r["opened_ms"],
                        Decimal(r["reference_size"]),
                        _levels(r["filled_levels"]),
                        _names(r["fired"]),
                    ),
                    Decimal(r["amount"]),
                )
                for r in self._db.execute("SELECT * FROM progress")
            }
        return self._progress

    def _write_progress(self, text: str, row: _Row, now_ms: int) -> None:
        p = row.progress
        self._db.execute(
            "INSERT OR REPLACE INTO progress (position, opened_ms, reference_size, amount,"
            " filled_levels, fired, updated_ms) VALUES (?,?,?,?,?,?,?)",
            (
                text,
                p.opened_ms,
                str(p.reference_size),
                str(row.amount),
                ",".join(str(x) for x in sorted(p.filled_levels)),
                ",".join(sorted(p.fired)),
                now_ms,
            ),
        )
        self._progress_rows()[text] = row

    def progress_of(self, key: PositionKey) -> PositionProgress | None:
        row = self._progress_rows().get(position_text(key))
        return None if row is None else row.progress

    def progress_for(self, account: str, product: Product) -> dict[PositionKey, PositionProgress]:
        """Every remembered position of one account and product."""
        prefix = f"{account}/{product.value}/"
        return {
            _key(text): row.progress
            for text, row in self._progress_rows().items()
            if text.startswith(prefix)
        }

    def track_position(
        self, key: PositionKey, amount: Decimal, now_ms: int
    ) -> PositionProgress | None:
        """The position ``key`` is now ``amount`` (signed): open its progress when it is new (or
        flipped side), grow ``reference_size`` by the added amount on a scale-in, forget it when
        it closed (0). Returns the progress now. A partial close (a ladder level filling) keeps
        the reference: the fractions stay those of the size the plan started with."""
        text = position_text(key)
        known = self._progress_rows().get(text)
        if amount == 0:
            if known is not None:
                self.forget_progress(key)
            return None
        flipped = known is not None and (known.amount > 0) != (amount > 0)
        if known is None or flipped:
            row = _Row(started(amount, now_ms), amount)
        elif amount != known.amount:
            row = _Row(resized(known.progress, known.amount, amount), amount)
        else:
            return known.progress
        self._write_progress(text, row, now_ms)
        return row.progress

    def _move(self, slot: SlotKey, progress: PositionProgress, now_ms: int) -> bool:
        text = position_text(slot.position)
        known = self._progress_rows().get(text)
        if known is None or known.progress == progress:
            return False
        self._write_progress(text, replace(known, progress=progress), now_ms)
        return True

    def record_filled_level(self, slot: SlotKey, now_ms: int) -> bool:
        """The ladder level of ``slot`` (a take-profit or Spot OCO level) filled; False when it
        was known already, the slot is not a level, or the position has no progress row (it
        is not open)."""
        known = self.progress_of(slot.position)
        return known is not None and self._move(slot, level_filled(known, slot), now_ms)

    def record_fired(self, slot: SlotKey, now_ms: int) -> bool:
        """The one-shot close of ``slot`` (time stop, liquidation) is about to be sent: written
        (and, outside a transaction, committed) before the request leaves. False when it was
        recorded already or the position is not open."""
        known = self.progress_of(slot.position)
        return known is not None and self._move(slot, one_shot_sent(known, slot), now_ms)

    def unrecord_fired(self, slot: SlotKey, now_ms: int) -> None:
        """The one-shot was definitely not executed (refused, never sent): it may fire again."""
        name = one_shot_name(slot)
        text = position_text(slot.position)
        known = self._progress_rows().get(text)
        if name is None or known is None or name not in known.progress.fired:
            return
        fired = known.progress.fired - {name}
        self._write_progress(
            text, replace(known, progress=replace(known.progress, fired=fired)), now_ms
        )

    def forget_progress(self, key: PositionKey) -> None:
        """The position closed: its next opening starts the plan afresh."""
        text = position_text(key)
        self._db.execute("DELETE FROM progress WHERE position=?", (text,))
        self._progress_rows().pop(text, None)
