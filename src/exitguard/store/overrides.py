"""Runtime plans in the store: what the API was told, kept across restarts.

Three kinds, one table (``overrides`` in :mod:`.exits`' schema):

- ``protection``: a bot's exit plan for one position (key: account/product/SYMBOL/positionSide).
  It lasts until that position closes; the scope forgets it then.
- ``policy``: a policy override for a symbol (key: account/product/SYMBOL), until replaced.
- ``pause``: a paused scope (key: account/product): no new placements; existing exits stay.

``body`` is JSON (a policy in :mod:`exitguard.planner.policy_codec`'s form, or ``{}``);
``request_id`` is the client's idempotency key for the request that set it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .exits import ExitStore

__all__ = ["Override", "OverrideBook", "decisions_page"]

KINDS = ("protection", "policy", "pause")


@dataclass(frozen=True, slots=True)
class Override:
    kind: str
    key: str
    body: dict[str, Any]
    request_id: str
    updated_ms: int


class OverrideBook:
    """Read and write the ``overrides`` table of ``store`` (kept in memory as well)."""

    def __init__(self, store: ExitStore) -> None:
        self._store = store
        self._rows: dict[tuple[str, str], Override] = {}
        for r in store.connection.execute(
            "SELECT kind, key, body, request_id, updated_ms FROM overrides"
        ):
            if r[0] in KINDS:
                self._rows[(r[0], r[1])] = Override(r[0], r[1], json.loads(r[2]), r[3], r[4])

    def get(self, kind: str, key: str) -> Override | None:
        return self._rows.get((kind, key))

    def of_kind(self, kind: str, prefix: str = "") -> list[Override]:
        return [
            o for (k, key), o in sorted(self._rows.items()) if k == kind and key.startswith(prefix)
        ]

    def put(self, kind: str, key: str, body: dict[str, Any], request_id: str, now_ms: int) -> None:
        assert kind in KINDS, kind
        self._store.connection.execute(
            "INSERT OR REPLACE INTO overrides (kind, key, body, request_id, updated_ms)"
            " VALUES (?,?,?,?,?)",
            (kind, key, json.dumps(body, sort_keys=True), request_id, now_ms),
        )
        self._rows[(kind, key)] = Override(kind, key, body, request_id, now_ms)

    def delete(self, kind: str, key: str) -> bool:
        if (kind, key) not in self._rows:
            return False
        self._store.connection.execute("DELETE FROM overrides WHERE kind=? AND key=?", (kind, key))
        del self._rows[(kind, key)]
        return True


def decisions_page(
    store: ExitStore,
    *,
    kind: str | None = None,
    symbol: str | None = None,
    since_ms: int | None = None,
    until_ms: int | None = None,
    after: int = 0,
    limit: int = 100,
) -> tuple[list[dict[str, Any]], int | None]:
    """The audit trail (``decisions``), oldest first from id > ``after``; and the next cursor."""
    sql = "SELECT * FROM decisions WHERE id > ?"
    args: list[Any] = [after]
    if kind is not None:
        sql += " AND kind = ?"
        args.append(kind)
    if symbol is not None:
        sql += " AND slot LIKE ?"
        args.append(f"%/{symbol}/%")
    if since_ms is not None:
        sql += " AND time_ms >= ?"
        args.append(since_ms)
    if until_ms is not None:
        sql += " AND time_ms <= ?"
        args.append(until_ms)
    sql += " ORDER BY id LIMIT ?"
    args.append(limit + 1)
    rows = []
    for r in store.connection.execute(sql, args):
        d = dict(r)
        d["details"] = json.loads(d["details"])
        rows.append(d)
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (rows[-1]["id"] if more and rows else None)
