"""The store is a safety component: check it before trusting it, refuse it in one line.

exitguard's store says which exits on the venue are its own (design: store). A store that is
damaged, read-only, on a full disk or held by another process must stop ``run``, ``plan`` and
``status`` *before* anything runs, with one line naming the file, the problem and the fix
(:class:`StoreUnavailable`), never with a traceback, and never half-working.

- :func:`check_store_file` runs the checks; :func:`open_store` checks, then opens an
  :class:`ExitStore`. A missing file is fine (``run`` creates it).
- :func:`read_only_copy` / :func:`copy_into` copy the store into memory for ``plan`` and
  ``status`` without writing anything next to the real file (not even ``-wal`` / ``-shm``).
- :func:`classify_sqlite_error` / :func:`is_disk_full` / :func:`unavailable` let the manager name
  a write failure while it runs (``'full'``, ``'readonly'``, ``'corrupt'``, ``'locked'``,
  ``'other'``).
- :class:`RunLock`: one ``exitguard run`` per store (see its docstring).

SQLite result codes: https://www.sqlite.org/rescode.html ; file format (the 100-byte header):
https://www.sqlite.org/fileformat.html ; WAL and read-only files: https://www.sqlite.org/wal.html
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import sqlite3
import time
from pathlib import Path
from typing import Literal

from exitguard.store.exits import _SCHEMA, ExitStore, _add_missing_columns

__all__ = [
    "INTEGRITY_CHECK_MAX_BYTES",
    "ErrorClass",
    "RunLock",
    "StoreUnavailable",
    "check_store_file",
    "classify_sqlite_error",
    "copy_into",
    "is_disk_full",
    "open_store",
    "read_only_copy",
    "run_lock_holder",
    "unavailable",
]

ErrorClass = Literal["full", "readonly", "corrupt", "locked", "other"]

# ``integrity_check`` also verifies that every index entry matches its table row (and UNIQUE /
# NOT NULL constraints): O(N log N) with random reads. On a store of a few MB that is
# milliseconds; on a large one (a long-lived journal) it could hold startup for seconds to
# minutes while positions wait for their exits. ``quick_check`` is O(N) and still verifies every
# page and b-tree (torn, truncated, overwritten pages: the usual damage), so it is used above this
# size. https://www.sqlite.org/pragma.html#pragma_integrity_check
INTEGRITY_CHECK_MAX_BYTES = 64 * 1024 * 1024
_MAX_ERRORS = 5  # integrity_check(N) stops after N problems: bounded work on a wrecked file
# Another process's write transaction is milliseconds long; waiting longer than this means it is
# holding the store, and the user must hear so now rather than after the default 5 s.
BUSY_TIMEOUT_S = 1.0
# Below this much free space, a run could not commit intents for long (the WAL alone grows to
# ~32 MB between checkpoints, see exits.WAL_CEILING_PAGES): refuse at startup, not mid-order.
MIN_FREE_BYTES = 1024 * 1024
_LOCK_ATTEMPTS = 5

_HEADER = b"SQLite format 3\x00"
_FRESH_STORE = (
    "restore it from a backup, or move it aside and restart: a fresh store adopts exitguard's "
    "open exg- exits from the venue (kept, resized or cancelled; never placed twice)"
)
_SQLITE_CODES: dict[int, ErrorClass] = {
    13: "full",  # SQLITE_FULL
    8: "readonly",  # SQLITE_READONLY
    3: "readonly",  # SQLITE_PERM
    11: "corrupt",  # SQLITE_CORRUPT
    26: "corrupt",  # SQLITE_NOTADB
    5: "locked",  # SQLITE_BUSY
    6: "locked",  # SQLITE_LOCKED
}
_ERRNOS: dict[int, ErrorClass] = {
    errno.ENOSPC: "full",
    errno.EDQUOT: "full",
    errno.EFBIG: "full",
    errno.EROFS: "readonly",
    errno.EACCES: "readonly",
    errno.EPERM: "readonly",
}
_MESSAGES: tuple[tuple[str, ErrorClass], ...] = (
    ("database or disk is full", "full"),
    ("readonly database", "readonly"),
    ("read-only", "readonly"),
    ("disk image is malformed", "corrupt"),
    ("file is not a database", "corrupt"),
    ("database is locked", "locked"),
    ("database table is locked", "locked"),
)


class StoreUnavailable(RuntimeError):
    """The store cannot be used; ``str()`` is one line: the file, the problem, the fix."""

    def __init__(self, path: str | Path, problem: str, fix: str) -> None:
        self.path = str(path) if str(path) == ":memory:" else os.path.abspath(path)
        self.problem = _one_line(problem)
        self.fix = _one_line(fix)
        super().__init__(f"store {self.path} {self.problem}: {self.fix}")


def _one_line(text: str) -> str:
    return "; ".join(part.strip() for part in str(text).splitlines() if part.strip())


# -- classifying errors -----------------------------------------------------------------------


def classify_sqlite_error(exc: BaseException) -> ErrorClass:
    """What kind of store failure ``exc`` is (or what it was raised from).

    'full' (SQLITE_FULL, ENOSPC), 'readonly' (SQLITE_READONLY, EROFS, EACCES), 'corrupt'
    (SQLITE_CORRUPT, SQLITE_NOTADB), 'locked' (SQLITE_BUSY, SQLITE_LOCKED), else 'other'.
    The ``__cause__`` / ``__context__`` chain is followed, so a wrapped error classifies too.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen and len(seen) < 8:
        seen.add(id(current))
        found = _classify_one(current)
        if found != "other":
            return found
        current = current.__cause__ or current.__context__
    return "other"


def _classify_one(exc: BaseException) -> ErrorClass:
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int) and (code & 0xFF) in _SQLITE_CODES:
        return _SQLITE_CODES[code & 0xFF]  # the primary code is the low byte
    if isinstance(exc, OSError) and exc.errno in _ERRNOS:
        return _ERRNOS[exc.errno]
    if isinstance(exc, sqlite3.Error):
        text = str(exc).lower()
        for needle, kind in _MESSAGES:
            if needle in text:
                return kind
    return "other"


def is_disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` means the store's disk (or its quota) is full."""
    return classify_sqlite_error(exc) == "full"


def unavailable(path: str | Path, exc: BaseException) -> StoreUnavailable:
    """The one-line refusal for an error raised while opening or writing the store."""
    kind = classify_sqlite_error(exc)
    detail = _one_line(str(exc)) or type(exc).__name__
    directory = Path(os.path.abspath(path)).parent
    if kind == "full":
        return StoreUnavailable(
            path,
            f"cannot be written: the disk is full ({detail})",
            f"free space on the file system of {directory}, then restart",
        )
    if kind == "readonly":
        return StoreUnavailable(
            path,
            f"is read-only ({detail})",
            "make the file and its directory writable by this user, or set manager.state_db "
            "to a writable path",
        )
    if kind == "locked":
        return StoreUnavailable(
            path,
            f"is locked by another process ({detail})",
            "stop the process holding it (another exitguard, or a sqlite3 shell with an open "
            "transaction), or give this exitguard its own manager.state_db",
        )
    if kind == "corrupt":
        if "not a database" in detail:
            return StoreUnavailable(
                path,
                f"is not an SQLite database ({detail})",
                "check manager.state_db; " + _FRESH_STORE,
            )
        return StoreUnavailable(path, f"is corrupt ({detail})", _FRESH_STORE)
    return StoreUnavailable(
        path,
        f"cannot be opened ({type(exc).__name__}: {detail})",
        "check the file and manager.state_db",
    )


# -- checking the file ------------------------------------------------------------------------


def check_store_file(path: str | Path, *, write: bool = True) -> bool:
    """Check the store at ``path``; returns whether it exists. Raises :class:`StoreUnavailable`.

    Every existing file: its header (not SQLite / truncated) and its pages (integrity_check or
    quick_check, see :data:`INTEGRITY_CHECK_MAX_BYTES`). With ``write`` (``run``): permissions of
    the file, ``-wal``, ``-shm`` and directory, free space, and a write in a transaction that is
    rolled back (read-only, full, locked). Without ``write`` nothing is written next to the file.
    """
    if str(path) == ":memory:":
        return True
    p = Path(os.path.abspath(path))  # messages name absolute paths
    if not write and not p.exists():
        return False  # nothing to read yet: plan starts empty, status says so
    if not p.parent.is_dir():
        raise StoreUnavailable(
            p,
            f"cannot be created: directory {p.parent} does not exist",
            "create the directory, or set manager.state_db to a file in an existing one",
        )
    if p.exists() and not p.is_file():
        raise StoreUnavailable(p, "is not a regular file", "set manager.state_db to a file path")
    exists = p.exists()
    if write:
        _check_writable(p, exists)
    if not exists:
        return False
    if not os.access(p, os.R_OK):
        raise StoreUnavailable(p, "is not readable by this user", "fix its owner or permissions")
    _check_header(p)
    try:
        conn = _connect(p, write=write)
    except sqlite3.Error as exc:
        raise unavailable(p, exc) from None
    try:
        _check_pages(conn, p)
        if write:
            _probe_write(conn)
    except sqlite3.Error as exc:
        raise unavailable(p, exc) from None
    finally:
        conn.close()
    return True


def _check_writable(p: Path, exists: bool) -> None:
    """Permissions and space, before SQLite is asked (its own errors do not say which file)."""
    directory = p.parent
    with contextlib.suppress(OSError):
        fs = os.statvfs(directory)
        if fs.f_flag & os.ST_RDONLY:
            raise StoreUnavailable(
                p,
                f"is on a read-only file system ({directory})",
                "remount it read-write, or set manager.state_db to a writable path",
            )
        # f_bavail: what this user may use (root may also use the reserved blocks; still full).
        free = fs.f_bavail * fs.f_frsize
        if free < MIN_FREE_BYTES:
            raise StoreUnavailable(
                p,
                f"cannot be written: the disk is full ({free} bytes free on {directory})",
                f"free space on the file system of {directory}, then restart",
            )
    if not os.access(directory, os.W_OK | os.X_OK):
        raise StoreUnavailable(
            p,
            f"cannot be written: its directory {directory} is read-only for this user (SQLite "
            f"creates {p.name}-wal and {p.name}-shm there)",
            "make the directory writable by this user, or set manager.state_db to a writable path",
        )
    if not exists:
        return
    for file in (p, Path(f"{p}-wal"), Path(f"{p}-shm")):
        if file.exists() and not os.access(file, os.W_OK):
            raise StoreUnavailable(
                p,
                f"is read-only: {file.name} is not writable by this user",
                f"make {file} writable by the user running exitguard (its mode, owner or "
                "immutable flag), or set manager.state_db to a writable path",
            )


def _wal_has_frames(p: Path) -> bool:
    try:
        return os.path.getsize(f"{p}-wal") > 0
    except OSError:
        return False


def _check_header(p: Path) -> None:
    """Not a database / truncated, from the 100-byte header (fileformat.html, section 1.3)."""
    with p.open("rb") as f:
        header = f.read(100)
    size = p.stat().st_size
    if size == 0:
        return  # an empty file is an empty database to SQLite: run initialises it
    if len(header) < 100 or not header.startswith(_HEADER):
        raise StoreUnavailable(
            p,
            "is not an SQLite database (its first bytes are not the SQLite header)",
            "check manager.state_db; " + _FRESH_STORE,
        )
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    change_counter = int.from_bytes(header[24:28], "big")
    pages = int.from_bytes(header[28:32], "big")
    valid_for = int.from_bytes(header[92:96], "big")
    # The in-header size is valid only when version-valid-for equals the change counter. With WAL
    # frames pending, pages may legitimately live only in the -wal file: SQLite's check decides.
    if pages and valid_for == change_counter and not _wal_has_frames(p):
        expected = pages * page_size
        if size < expected:
            raise StoreUnavailable(
                p,
                f"is truncated ({size} bytes; its header says {pages} pages of {page_size} bytes "
                f"= {expected})",
                _FRESH_STORE,
            )


def _connect_read_only(p: Path) -> sqlite3.Connection:
    # Read-only and still no side files: opening a WAL database read-only creates -wal and -shm
    # when they are missing (wal.html, "Read-Only Databases"). With no -wal file every committed
    # page is in the main file, so ``immutable=1`` (no locks, no side files) reads all of it; with
    # one (a run is going, or was killed), ``mode=ro`` reads through it and creates nothing new.
    params = "mode=ro" if Path(f"{p}-wal").exists() else "mode=ro&immutable=1"
    uri = f"{p.resolve().as_uri()}?{params}"
    return sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_S, isolation_level=None)


def _connect(p: Path, *, write: bool) -> sqlite3.Connection:
    if not write:
        return _connect_read_only(p)
    uri = f"{p.resolve().as_uri()}?mode=rw"  # rw, never create: the file exists
    return sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_S, isolation_level=None)


def _check_pages(conn: sqlite3.Connection, p: Path) -> None:
    size = p.stat().st_size
    with contextlib.suppress(OSError):
        size += os.path.getsize(f"{p}-wal")
    check = "integrity_check" if size < INTEGRITY_CHECK_MAX_BYTES else "quick_check"
    try:
        rows = conn.execute(f"PRAGMA {check}({_MAX_ERRORS})").fetchall()
    except sqlite3.DatabaseError as exc:
        if classify_sqlite_error(exc) != "corrupt" or "not a database" in str(exc):
            raise  # named by unavailable()
        raise StoreUnavailable(p, f"is corrupt ({check}: {exc})", _FRESH_STORE) from None
    if rows != [("ok",)]:
        lines = [
            line.strip()
            for row in rows
            for line in str(row[0]).splitlines()
            if line.strip() and not line.startswith("***")
        ]
        detail = "; ".join(lines[:2]) + ("; ..." if len(lines) > 2 else "")
        raise StoreUnavailable(p, f"is corrupt ({check}: {detail})", _FRESH_STORE)
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if tables and "exits" not in tables:  # someone else's database: never write into it
        raise StoreUnavailable(
            p,
            "is an SQLite database but not an exitguard store (it has no exits table)",
            "check manager.state_db: it must name exitguard's own store file",
        )


def _probe_write(conn: sqlite3.Connection) -> None:
    """A real write, rolled back: takes the write lock (locked / read-only) and allocates a page
    (SQLITE_FULL when no page can be added). Nothing is committed."""
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("CREATE TABLE exitguard_write_probe (x)")
    finally:
        if conn.in_transaction:
            conn.execute("ROLLBACK")


def open_store(path: str | Path) -> ExitStore:
    """The checked store, opened for writing (created when missing)."""
    check_store_file(path, write=True)
    try:
        return ExitStore(path)
    except sqlite3.Error as exc:
        raise unavailable(path, exc) from None


# -- a copy for plan and status ---------------------------------------------------------------


def copy_into(store: ExitStore, path: str | Path) -> bool:
    """Fill the in-memory ``store`` with a checked copy of the store file at ``path``.

    The real file is only read (see :func:`_connect_read_only`): its bytes, its mtime and its
    directory stay as they were, and nothing is written to disk at all (``status`` must work on
    a full disk). Returns False, leaving ``store`` empty, when there is no store file yet.
    """
    if store.path != ":memory:":
        raise ValueError(f"copy_into: the target must be an in-memory store, not {store.path}")
    if str(path) == ":memory:" or not check_store_file(path, write=False):
        return False
    try:
        source = _connect_read_only(Path(path))
        try:
            # What ExitStore.copy_of does, but its source connection is read-write (it would
            # create -wal and -shm next to the real file). The backup replaces the whole
            # in-memory database, schema included: re-apply the schema (idempotent) so that a
            # store written by an older exitguard (without a newer table) still reads.
            source.backup(store._db)
        finally:
            source.close()
        store._db.executescript(_SCHEMA)
        _add_missing_columns(store._db)
        store._reload()
    except sqlite3.Error as exc:
        raise unavailable(path, exc) from None
    return True


def read_only_copy(path: str | Path) -> ExitStore | None:
    """An in-memory copy of the store at ``path`` (see :func:`copy_into`); None: no store yet."""
    store = ExitStore(":memory:")
    try:
        if copy_into(store, path):
            return store
    except BaseException:
        store.close()
        raise
    store.close()
    return None


# -- one run per store ------------------------------------------------------------------------


class RunLock:
    """An exclusive ``flock`` on ``<store>.lock`` for the life of ``exitguard run``.

    SQLite locks a store only during a transaction, so two runs on one store would both start
    and both place exits for the same positions. The kernel drops a ``flock`` when its process
    dies (even by ``kill -9``), so a held lock also tells ``status --check`` that a run is alive.
    The holder's pid is written in the file, for the message.
    """

    def __init__(self, store_path: str | Path) -> None:
        self.store_path = str(store_path)
        self.path = Path(f"{store_path}.lock")
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        for attempt in range(_LOCK_ATTEMPTS):
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                # ``status`` takes a shared lock for an instant (run_lock_holder): try again
                # briefly before calling the store taken.
                if attempt + 1 < _LOCK_ATTEMPTS:
                    time.sleep(0.05)
        else:
            os.close(fd)
            holder = run_lock_holder(self.store_path)
            who = "another exitguard run" + (f" (pid {holder})" if holder else "")
            raise StoreUnavailable(
                self.store_path,
                f"is in use by {who}",
                "stop it first, or give this exitguard its own manager.state_db",
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the flock; the file stays (another may hold it)
            self._fd = None

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.release()


def run_lock_holder(store_path: str | Path) -> int | None:
    """The pid of the ``exitguard run`` holding the store's :class:`RunLock` (0 when its pid is
    unreadable), or ``None`` when no run holds it. Reads only: never creates the lock file."""
    path = Path(f"{store_path}.lock")
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            # A shared lock is refused while the run holds its exclusive one. It is held for an
            # instant only, and RunLock.acquire retries past it.
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            text = os.read(fd, 32).decode("ascii", "replace").strip()
            return int(text) if text.isdigit() else 0
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)
