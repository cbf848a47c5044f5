"""SQLite (WAL) store: app-owned exits keyed by client id, the event journal, holds, scope state.

Why SQLite and why this shape (design: store):
- An intent row is committed *before* its request is sent, so a crash at any point leaves a row
  the next startup can resolve by querying the client id: nothing is lost and nothing is resent
  blindly. WAL with ``synchronous=NORMAL`` keeps every committed transaction across a process
  kill (``kill -9``); only an OS crash could drop the last ones, and startup reconciles anyway.
- Ownership = a row here. The client id itself is opaque (seed 001).
- Status changes are monotonic for stream evidence (a late NEW never reopens a CANCELED exit);
  REST hydration of *open* orders is current truth and may reopen a row (seed 001: "current open
  Algo state wins" over older terminal history).
- ``journal`` holds the dedupe keys of applied private events (exactly-once application);
  ``decisions`` is the audit trail: dry-run candidates, fallbacks, refusals, with reasons.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Collection, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from exitguard.domain.enums import PositionSide, Product, Side
from exitguard.planner.model import (
    BLOCKING_STATUSES,
    ExitKind,
    ExitStatus,
    KnownExit,
    Role,
    SlotKey,
)

from .progress import ProgressRecords
from .scope_records import ScopeRecords

if TYPE_CHECKING:
    from .overrides import OverrideBook

__all__ = ["ExitRow", "ExitStore", "StoreError"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS exits (
    client_id TEXT PRIMARY KEY,
    account TEXT NOT NULL, product TEXT NOT NULL, symbol TEXT NOT NULL,
    position_side TEXT NOT NULL, role TEXT NOT NULL,
    kind TEXT NOT NULL, side TEXT NOT NULL, quantity TEXT,
    status TEXT NOT NULL, venue_id INTEGER, child_order_id INTEGER,
    request TEXT NOT NULL, reason TEXT NOT NULL DEFAULT '',
    created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL, venue_time_ms INTEGER NOT NULL DEFAULT 0,
    policy_tag TEXT NOT NULL DEFAULT '',
    level INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS exits_status ON exits(status);
CREATE INDEX IF NOT EXISTS exits_child ON exits(child_order_id);
-- WITHOUT ROWID: one B-tree keyed by the dedupe key instead of a table plus its index, so
-- each batch's commit writes fewer pages (a file created earlier keeps its rowid table).
CREATE TABLE IF NOT EXISTS journal (key TEXT PRIMARY KEY, applied_ms INTEGER NOT NULL)
    WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS holds (
    slot TEXT PRIMARY KEY, fingerprint TEXT NOT NULL, reason TEXT NOT NULL, created_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS scopes (scope TEXT PRIMARY KEY, state TEXT NOT NULL, updated_ms INTEGER NOT NULL);
-- The protection supervisor's last verdict per managed position (``status`` reads it):
-- position = account/product/symbol/positionSide; state = protected | bare | degraded.
CREATE TABLE IF NOT EXISTS protection (
    position TEXT PRIMARY KEY, state TEXT NOT NULL, since_ms INTEGER NOT NULL,
    reason TEXT NOT NULL, updated_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS entries (
    key TEXT PRIMARY KEY, entry_price TEXT NOT NULL, amount TEXT NOT NULL, updated_ms INTEGER NOT NULL
);
-- Plans handed over at runtime through the API (store/overrides.py): a bot's protection for one
-- position, a policy override for a symbol, a paused scope. They survive restarts.
CREATE TABLE IF NOT EXISTS overrides (
    key TEXT PRIMARY KEY, kind TEXT NOT NULL, body TEXT NOT NULL, request_id TEXT NOT NULL,
    updated_ms INTEGER NOT NULL
);
-- What happened to each open position since it opened (store/progress.py): ladder levels
-- filled, one-shot exits sent, its size when the plan started. Forgotten when it closes.
CREATE TABLE IF NOT EXISTS progress (
    position TEXT PRIMARY KEY, opened_ms INTEGER NOT NULL, reference_size TEXT NOT NULL,
    amount TEXT NOT NULL, filled_levels TEXT NOT NULL DEFAULT '', fired TEXT NOT NULL DEFAULT '',
    updated_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS decisions (
    id INTEGER PRIMARY KEY AUTOINCREMENT, time_ms INTEGER NOT NULL, kind TEXT NOT NULL,
    slot TEXT NOT NULL, client_id TEXT NOT NULL, reason TEXT NOT NULL, details TEXT NOT NULL
);
"""

JOURNAL_MEMORY = 200_000  # dedupe keys kept in memory (the rest are looked up in SQLite)
# WAL checkpoints copy the log into the database file and fsync it: the costly part of a commit
# under synchronous=NORMAL. SQLite's default runs one inside a commit every 1,000 pages, i.e.
# on the event loop in the middle of a burst. Instead the scopes checkpoint from a worker thread
# when their queue is idle (``checkpoint``), and the automatic one is kept only as a ceiling
# (~32 MB of log at 4 KiB pages) for a burst that never pauses.
WAL_CEILING_PAGES = 8_000
IDLE_CHECKPOINT_COMMITS = 32  # commits since the last checkpoint before an idle one is due

# Stream evidence only moves an exit forward along this order (terminal states share the top).
_RANK = {
    ExitStatus.INTENT: 0,
    ExitStatus.UNKNOWN: 1,
    ExitStatus.PENDING: 2,
    ExitStatus.OPEN: 3,
    ExitStatus.TRIGGERED: 4,
}
_TERMINAL_RANK = 5


def _rank(status: ExitStatus) -> int:
    return _RANK.get(status, _TERMINAL_RANK)


def _executed(row: ExitRow, status: ExitStatus) -> bool:
    """Whether ``status`` means the exit of ``row`` executed (an algo one: its child filled)."""
    return status is ExitStatus.FILLED or (
        status is ExitStatus.FINISHED and row.kind is ExitKind.ALGO
    )


class StoreError(RuntimeError):
    """The store refused an operation (e.g. a client id written twice)."""


@dataclass(frozen=True, slots=True)
class ExitRow:
    client_id: str
    slot: SlotKey
    kind: ExitKind
    side: Side
    quantity: Decimal | None
    status: ExitStatus
    venue_id: int | None
    child_order_id: int | None
    request: dict[str, str]
    reason: str
    created_ms: int
    updated_ms: int
    policy_tag: str = ""

    def known(self) -> KnownExit:
        return KnownExit(
            self.client_id,
            self.slot,
            self.kind,
            self.status,
            self.side,
            self.quantity,
            self.created_ms,
            self.policy_tag,
        )


def _slot_from(row: sqlite3.Row) -> SlotKey:
    return SlotKey(
        row["account"],
        Product(row["product"]),
        row["symbol"],
        PositionSide(row["position_side"]),
        Role(row["role"]),
        row["level"],
    )


def _row(row: sqlite3.Row) -> ExitRow:
    return ExitRow(
        client_id=row["client_id"],
        slot=_slot_from(row),
        kind=ExitKind(row["kind"]),
        side=Side(row["side"]),
        quantity=None if row["quantity"] is None else Decimal(row["quantity"]),
        status=ExitStatus(row["status"]),
        venue_id=row["venue_id"],
        child_order_id=row["child_order_id"],
        request=json.loads(row["request"]),
        reason=row["reason"],
        created_ms=row["created_ms"],
        updated_ms=row["updated_ms"],
        policy_tag=row["policy_tag"],
    )


def _add_missing_columns(db: sqlite3.Connection) -> None:
    """A file written by an older exitguard gets the columns added since (defaults apply)."""
    have = {r[1] for r in db.execute("PRAGMA table_info(exits)")}
    if "policy_tag" not in have:
        db.execute("ALTER TABLE exits ADD COLUMN policy_tag TEXT NOT NULL DEFAULT ''")
    if "level" not in have:  # ladder levels (SlotKey.level); older rows are level 0
        db.execute("ALTER TABLE exits ADD COLUMN level INTEGER NOT NULL DEFAULT 0")


class ExitStore(ScopeRecords, ProgressRecords):
    """One SQLite file (``":memory:"`` for tests). Single-writer: the manager's event loop."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        if self.path != ":memory:":
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(f"PRAGMA wal_autocheckpoint={WAL_CEILING_PAGES}")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._commits_since_checkpoint = 0
        self._checkpointer: sqlite3.Connection | None = None
        self._checkpoint_lock = threading.Lock()
        self._db.executescript(_SCHEMA)
        _add_missing_columns(self._db)
        self._depth = 0
        # Write-through cache of rows (single writer: this process). Blocking rows are what every
        # planning pass reads, so they are kept by client id without a query.
        self._cache: dict[str, ExitRow] = {}
        self._blocking: dict[str, ExitRow] = {}
        self._overrides: OverrideBook | None = None
        self._reload()

    @property
    def connection(self) -> sqlite3.Connection:
        """The connection, for the store's companion tables (``store.overrides``); writes go
        through it on the same single writer and inside :meth:`transaction` when one is open."""
        return self._db

    @property
    def overrides(self) -> OverrideBook:
        """The runtime plans (API overrides, pauses) kept in this store."""
        if self._overrides is None:
            from .overrides import OverrideBook

            self._overrides = OverrideBook(self)
        return self._overrides

    def _reload(self) -> None:
        self._overrides = None
        self._holds: dict[str, tuple[str, str]] | None = None
        self._progress = None  # read again on first use (a rollback may have changed it)
        self._journal_pending: list[tuple[str, int]] = []
        total = self._db.execute("SELECT COUNT(*) FROM journal").fetchone()[0]
        self._journal_keys: set[str] = {
            r[0]
            for r in self._db.execute(
                "SELECT key FROM journal ORDER BY applied_ms DESC LIMIT ?", (JOURNAL_MEMORY,)
            )
        }
        # When every key is in memory, a miss there is a miss: no SELECT per new event.
        self._journal_complete = total <= JOURNAL_MEMORY
        self._cache.clear()
        self._blocking.clear()
        for r in self._db.execute(
            f"SELECT * FROM exits WHERE status IN ({','.join('?' * len(BLOCKING_STATUSES))})",
            [st.value for st in BLOCKING_STATUSES],
        ):
            self._remember(_row(r))

    def close(self) -> None:
        with self._checkpoint_lock:  # never close under a running checkpoint
            if self._checkpointer is not None:
                self._checkpointer.close()
                self._checkpointer = None
        self._db.close()

    def checkpoint_due(self) -> bool:
        """Whether enough has been committed since the last checkpoint to run an idle one."""
        return self.path != ":memory:" and self._commits_since_checkpoint >= IDLE_CHECKPOINT_COMMITS

    def checkpoint(self) -> tuple[int, int, int]:
        """A PASSIVE WAL checkpoint on a connection of its own, so it may run in a worker thread
        while the event loop keeps committing (PASSIVE never blocks a writer, and a writer never
        blocks it). Returns SQLite's (busy, log frames, checkpointed frames)."""
        with self._checkpoint_lock:
            if self._checkpointer is None:
                self._checkpointer = sqlite3.connect(
                    self.path, isolation_level=None, check_same_thread=False
                )
                self._checkpointer.execute("PRAGMA synchronous=NORMAL")
            self._commits_since_checkpoint = 0
            row = self._checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            return int(row[0]), int(row[1]), int(row[2])

    @classmethod
    def copy_of(cls, path: str | Path) -> ExitStore:
        """An in-memory copy of the store at ``path``: read it, plan on it, change nothing."""
        copy = cls(":memory:")
        if Path(path).exists():
            source = sqlite3.connect(str(path))
            try:
                source.backup(copy._db)
            finally:
                source.close()
            # The backup replaced the schema: an older file gets the newer tables and columns.
            copy._db.executescript(_SCHEMA)
            _add_missing_columns(copy._db)
            copy._reload()
        return copy

    def _remember(self, row: ExitRow) -> None:
        self._cache[row.client_id] = row
        if row.status in BLOCKING_STATUSES:
            self._blocking[row.client_id] = row
        else:
            self._blocking.pop(row.client_id, None)

    @property
    def in_transaction(self) -> bool:
        return self._depth > 0

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All-or-nothing; re-entrant, so a batch of events can share one commit."""
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        self._db.execute("BEGIN IMMEDIATE")
        self._depth = 1
        try:
            yield
        except BaseException:
            self._depth = 0
            self._db.execute("ROLLBACK")
            self._reload()  # the cache may hold rolled-back writes
            raise
        self._depth = 0
        try:
            self._flush_journal()
        except BaseException:
            self._db.execute("ROLLBACK")
            self._reload()
            raise
        self._db.execute("COMMIT")
        self._commits_since_checkpoint += 1

    # -- exits ---------------------------------------------------------------------------

    def record_intent(
        self,
        client_id: str,
        slot: SlotKey,
        kind: ExitKind,
        side: Side,
        quantity: Decimal | None,
        request: dict[str, str],
        now_ms: int,
        reason: str = "",
        policy_tag: str = "",
    ) -> None:
        """Commit the intent before anything is sent (rule: a crash never loses an order)."""
        try:
            self._db.execute(
                "INSERT INTO exits (client_id, account, product, symbol, position_side, role, kind,"
                " side, quantity, status, request, reason, created_ms, updated_ms, policy_tag,"
                " level) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    client_id,
                    slot.account,
                    slot.product.value,
                    slot.symbol,
                    slot.position_side.value,
                    slot.role.value,
                    kind.value,
                    side.value,
                    None if quantity is None else str(quantity),
                    ExitStatus.INTENT.value,
                    json.dumps(request, sort_keys=True),
                    reason,
                    now_ms,
                    now_ms,
                    policy_tag,
                    slot.level,
                ),
            )
        except sqlite3.IntegrityError as exc:
            raise StoreError(f"client id {client_id!r} is already in the store") from exc
        self._remember(
            ExitRow(
                client_id,
                slot,
                kind,
                side,
                quantity,
                ExitStatus.INTENT,
                None,
                None,
                dict(request),
                reason,
                now_ms,
                now_ms,
                policy_tag,
            )
        )

    def get(self, client_id: str) -> ExitRow | None:
        cached = self._cache.get(client_id)
        if cached is not None:
            return cached
        row = self._db.execute("SELECT * FROM exits WHERE client_id=?", (client_id,)).fetchone()
        if row is None:
            return None
        found = _row(row)
        self._remember(found)
        return found

    def by_venue_id(self, kind: ExitKind, venue_id: int) -> ExitRow | None:
        row = self._db.execute(
            "SELECT * FROM exits WHERE kind=? AND venue_id=?", (kind.value, venue_id)
        ).fetchone()
        return None if row is None else _row(row)

    def by_child_order(self, order_id: int) -> ExitRow | None:
        """The algo exit whose triggered child is ``order_id`` (``actualOrderId`` link)."""
        row = self._db.execute("SELECT * FROM exits WHERE child_order_id=?", (order_id,)).fetchone()
        return None if row is None else _row(row)

    def update(
        self,
        client_id: str,
        status: ExitStatus,
        now_ms: int,
        *,
        venue_time_ms: int = 0,
        venue_id: int | None = None,
        child_order_id: int | None = None,
        reason: str | None = None,
        authoritative: bool = False,
        level_fill: bool = True,
    ) -> bool:
        """Move an exit to ``status``; returns whether the row changed.

        Stream evidence (``authoritative=False``) only moves forward (``_RANK``) and never
        applies evidence older than what was applied. ``authoritative=True`` (REST hydration or a
        query by client id) sets the state the venue reports now.

        A ladder level's exit (take-profit or Spot OCO with ``slot.level``) that becomes FILLED
        (an algo one: FINISHED) records the level as filled in its position's progress, in the
        same write, whatever path brought the news (stream, query, hydration): a re-plan never
        sees the fill without it. ``level_fill=False``: the fill was not the take-profit's (a
        Spot OCO's stop leg).
        """
        row = self.get(client_id)
        if row is None:
            return False
        # A row marked REJECTED because its send failed or it was not found after an unknown
        # outcome was never acknowledged by the venue (no venue id): if the venue now reports it
        # live, the request did arrive after all (late), and the row follows the evidence, so
        # the planner sees the duplicate and cancels it instead of leaving it unowned.
        revived = (
            row.status is ExitStatus.REJECTED
            and row.venue_id is None
            and status in (ExitStatus.OPEN, ExitStatus.TRIGGERED, ExitStatus.PENDING)
        )
        if not authoritative and not revived:
            if _rank(status) < _rank(row.status):
                return False
            if row.status.terminal and status is not row.status:
                return False
        if (
            status is row.status
            and (venue_id is None or venue_id == row.venue_id)
            and (child_order_id is None or child_order_id == row.child_order_id)
            and (reason is None or reason == row.reason)
        ):
            return False  # nothing new: no write (the hot path of repeated fills)
        sets = ["status=?", "updated_ms=?"]
        args: list[Any] = [status.value, now_ms]
        if venue_time_ms:
            sets.append("venue_time_ms=MAX(venue_time_ms, ?)")
            args.append(venue_time_ms)
        if venue_id is not None:
            sets.append("venue_id=?")
            args.append(venue_id)
        if child_order_id is not None:
            sets.append("child_order_id=?")
            args.append(child_order_id)
        if reason is not None:
            sets.append("reason=?")
            args.append(reason)
        changed = (
            status is not row.status
            or (venue_id is not None and venue_id != row.venue_id)
            or (child_order_id is not None and child_order_id != row.child_order_id)
        )
        args.append(client_id)
        self._db.execute(f"UPDATE exits SET {', '.join(sets)} WHERE client_id=?", args)
        if level_fill and row.slot.level and status is not row.status and _executed(row, status):
            self.record_filled_level(row.slot, now_ms)
        self._remember(
            replace(
                row,
                status=status,
                updated_ms=now_ms,
                venue_id=row.venue_id if venue_id is None else venue_id,
                child_order_id=row.child_order_id if child_order_id is None else child_order_id,
                reason=row.reason if reason is None else reason,
            )
        )
        return changed

    def rows(
        self,
        *,
        account: str | None = None,
        product: Product | None = None,
        statuses: Iterable[ExitStatus] | None = None,
    ) -> list[ExitRow]:
        sql = "SELECT * FROM exits WHERE 1=1"
        args: list[Any] = []
        if account is not None:
            sql += " AND account=?"
            args.append(account)
        if product is not None:
            sql += " AND product=?"
            args.append(product.value)
        if statuses is not None:
            wanted = [s.value for s in statuses]
            sql += f" AND status IN ({','.join('?' * len(wanted))})"
            args.extend(wanted)
        sql += " ORDER BY created_ms, client_id"
        return [_row(r) for r in self._db.execute(sql, args)]

    def blocking(
        self, account: str, product: Product, symbols: Collection[str] | None = None
    ) -> list[ExitRow]:
        """Open app-owned exits and pending confirmations: the only rows that block a slot
        (with ``symbols``, only theirs: a scoped planning pass filters before it sorts)."""
        rows = [
            r
            for r in self._blocking.values()
            if r.slot.account == account
            and r.slot.product is product
            and (symbols is None or r.slot.symbol in symbols)
        ]
        rows.sort(key=lambda r: (r.created_ms, r.client_id))
        return rows

    # -- journal (exactly-once application of private events) ----------------------------

    def seen(self, key: str) -> bool:
        if key in self._journal_keys:
            return True
        return self._db.execute("SELECT 1 FROM journal WHERE key=?", (key,)).fetchone() is not None

    def mark_applied(self, key: str, now_ms: int) -> bool:
        """Record ``key``; False when it was already there (the event was applied before).

        Keys are checked in memory (every key of this process plus the newest
        ``JOURNAL_MEMORY`` from earlier runs) and, for older ones, in SQLite; new keys are
        written with the transaction that applies their event (one ``executemany`` per batch).
        """
        if key in self._journal_keys:
            return False
        if not self._journal_complete and self.seen(key):
            self._journal_keys.add(key)
            return False
        self._journal_keys.add(key)
        self._journal_pending.append((key, now_ms))
        if not self._depth:
            self._flush_journal()
        return True

    def _flush_journal(self) -> None:
        if self._journal_pending:
            self._db.executemany(
                "INSERT OR IGNORE INTO journal (key, applied_ms) VALUES (?, ?)",
                self._journal_pending,
            )
            self._journal_pending.clear()
