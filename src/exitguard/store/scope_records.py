"""What the store keeps beside the exits themselves: held slots, scope states, the supervisor's
protection verdicts, remembered Spot entry prices and the audit trail of decisions (the tables of
``exits._SCHEMA``). A mixin of :class:`~exitguard.store.exits.ExitStore`, on its one connection
and single writer."""

from __future__ import annotations

import json
import sqlite3
from decimal import Decimal
from typing import Any

from exitguard.planner.model import SlotKey

__all__ = ["ScopeRecords"]


class ScopeRecords:
    """Holds, scope states, verdicts, entries and decisions (module docstring)."""

    _db: sqlite3.Connection
    _holds: dict[str, tuple[str, str]] | None

    # -- holds ---------------------------------------------------------------------------

    def hold(self, slot: SlotKey, fingerprint: str, reason: str, now_ms: int) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO holds (slot, fingerprint, reason, created_ms) VALUES (?,?,?,?)",
            (slot.text(), fingerprint, reason, now_ms),
        )
        self._holds = None

    def release(self, slot: SlotKey) -> None:
        self.release_text(slot.text())

    def release_text(self, slot_text: str) -> None:
        self._db.execute("DELETE FROM holds WHERE slot=?", (slot_text,))
        self._holds = None

    def holds(self) -> dict[str, tuple[str, str]]:
        """slot text -> (position fingerprint, reason)."""
        if self._holds is None:
            self._holds = {
                r["slot"]: (r["fingerprint"], r["reason"])
                for r in self._db.execute("SELECT slot, fingerprint, reason FROM holds")
            }
        return dict(self._holds)

    # -- scope state and spot entries -----------------------------------------------------

    def set_scope_state(self, scope: str, state: str, now_ms: int) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO scopes (scope, state, updated_ms) VALUES (?,?,?)",
            (scope, state, now_ms),
        )

    def scope_states(self) -> dict[str, str]:
        return {r["scope"]: r["state"] for r in self._db.execute("SELECT scope, state FROM scopes")}

    def set_protection(
        self, position: str, state: str, since_ms: int, reason: str, now_ms: int
    ) -> None:
        """The supervisor's verdict for one position (``position`` = account/product/symbol/
        positionSide); ``since_ms`` is when the position entered ``state``."""
        self._db.execute(
            "INSERT OR REPLACE INTO protection (position, state, since_ms, reason, updated_ms)"
            " VALUES (?,?,?,?,?)",
            (position, state, since_ms, reason, now_ms),
        )

    def forget_protection(self, position: str) -> None:
        """The position is flat or no longer managed: it has no verdict."""
        self._db.execute("DELETE FROM protection WHERE position=?", (position,))

    def protection(self) -> dict[str, tuple[str, int, str, int]]:
        """position -> (state, since_ms, reason, updated_ms), the supervisor's last verdicts."""
        return {
            r["position"]: (r["state"], r["since_ms"], r["reason"], r["updated_ms"])
            for r in self._db.execute(
                "SELECT position, state, since_ms, reason, updated_ms FROM protection"
            )
        }

    def entry(self, key: str) -> tuple[Decimal, Decimal] | None:
        """(entry price, amount) remembered for a Spot holding."""
        row = self._db.execute(
            "SELECT entry_price, amount FROM entries WHERE key=?", (key,)
        ).fetchone()
        return None if row is None else (Decimal(row[0]), Decimal(row[1]))

    def set_entry(self, key: str, entry_price: Decimal, amount: Decimal, now_ms: int) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO entries (key, entry_price, amount, updated_ms) VALUES (?,?,?,?)",
            (key, str(entry_price), str(amount), now_ms),
        )

    # -- decisions (audit trail) ---------------------------------------------------------

    def record_decision(
        self,
        kind: str,
        slot: SlotKey | None,
        client_id: str,
        reason: str,
        now_ms: int,
        details: dict[str, Any] | None = None,
    ) -> None:
        self._db.execute(
            "INSERT INTO decisions (time_ms, kind, slot, client_id, reason, details)"
            " VALUES (?,?,?,?,?,?)",
            (
                now_ms,
                kind,
                "" if slot is None else slot.text(),
                client_id,
                reason,
                json.dumps(details or {}, sort_keys=True, default=str),
            ),
        )

    def decisions(self, kind: str | None = None) -> list[dict[str, Any]]:
        sql = "SELECT * FROM decisions"
        args: tuple[Any, ...] = ()
        if kind is not None:
            sql += " WHERE kind=?"
            args = (kind,)
        out = []
        for r in self._db.execute(sql + " ORDER BY id", args):
            d = dict(r)
            d["details"] = json.loads(d["details"])
            out.append(d)
        return out
