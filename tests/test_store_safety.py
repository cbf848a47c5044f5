"""store.safety: a damaged, read-only, full, locked or taken store stops ``run``, ``plan`` and
``status`` with ONE line on stderr (the file, the problem, the fix) and exit code 2.

Every case is produced for real on a real store file and run through the real CLI (Typer's
CliRunner, in-process); only the disk-full case limits SQLite's page count instead of filling a
disk. Read-only as root: root ignores file modes, so the file or directory is made immutable
(``chattr +i``); as another user a plain ``chmod`` does it. Both skip where impossible.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from exitguard.cli import run_cmd
from exitguard.cli.main import app
from exitguard.domain.enums import PositionSide, Product, Side
from exitguard.planner.model import ExitKind, ExitStatus, Role, SlotKey
from exitguard.store import safety
from exitguard.store.exits import ExitStore
from exitguard.store.safety import (
    RunLock,
    StoreUnavailable,
    check_store_file,
    classify_sqlite_error,
    is_disk_full,
    open_store,
    read_only_copy,
    run_lock_holder,
    unavailable,
)

CONFIG = """
[manager]
account = "main"
products = ["usdm", "spot"]
state_db = "exitguard.db"
"""
runner = CliRunner(env={"COLUMNS": "80"})
COMMANDS = ["run", "plan", "status"]


def seed(path: Path, rows: int = 300) -> None:
    """A real store with enough rows to span many pages; one row ``expired`` (unique status)."""
    store = ExitStore(path)
    with store.transaction():
        for i in range(rows):
            slot = SlotKey("main", Product.USDM, f"S{i}USDT", PositionSide.BOTH, Role.STOP_LOSS)
            cid = f"exg-{i:022d}"
            store.record_intent(
                cid, slot, ExitKind.ALGO, Side.SELL, Decimal("1.5"), {"n": "x" * 40}, i, "why"
            )
            store.update(cid, ExitStatus.EXPIRED if i == rows // 2 else ExitStatus.OPEN, i + 1)
    store.close()  # the last connection checkpoints: every page is in the main file


@pytest.fixture(autouse=True)
def nothing_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past the store checks, run and plan would start a venue (run: until a signal). Here
    every store is refused before that: getting there fails the test at once, never hangs."""

    async def started(*_args: object) -> None:
        raise AssertionError("the store was not refused: the command went on")

    monkeypatch.setattr(run_cmd, "_run", started)
    monkeypatch.setattr(run_cmd, "_connection", started)


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = tmp_path_factory.mktemp("seed") / "exitguard.db"
    seed(path)
    assert not Path(f"{path}-wal").exists()
    return path.read_bytes()


@pytest.fixture
def work(tmp_path: Path, seeded: bytes) -> Path:
    (tmp_path / "exitguard.toml").write_text(CONFIG)
    (tmp_path / "exitguard.db").write_bytes(seeded)
    return tmp_path


def cli(work: Path, command: str, *args: str) -> Result:
    return runner.invoke(app, [command, "--config", str(work / "exitguard.toml"), *args])


def assert_refused(result: Result, db: Path, *needles: str) -> str:
    """Exit 2, nothing on stdout, exactly one line on stderr naming the file, no traceback."""
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"store {db} "), lines[0]
    assert "Traceback" not in result.stdout + result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def page_offsets(data: bytes, page_type: int) -> list[int]:
    """Offsets of the pages of one b-tree page type (0x0D table leaf, 0x0A index leaf)."""
    size = int.from_bytes(data[16:18], "big")
    return [o for o in range(size, len(data), size) if data[o] == page_type]


def flip_middle_page(data: bytes) -> bytes:
    """Garble the cells of the table leaf page nearest the middle of the file: SQLite still
    opens the file (the schema page is intact); only a check that walks the tree notices."""
    # A leaf with cells: an empty table's root page is a leaf too, all free space.
    leaves = [o for o in page_offsets(data, 0x0D) if int.from_bytes(data[o + 3 : o + 5], "big") > 4]
    off = min(leaves, key=lambda o: abs(o - len(data) // 2))
    out = bytearray(data)
    for i in range(off + 200, off + int.from_bytes(data[16:18], "big"), 7):
        out[i] ^= 0xFF
    return bytes(out)


def break_index_only(data: bytes) -> bytes:
    """Change the one ``expired`` status in its table row, not in the ``exits_status`` index:
    every page stays well-formed (quick_check passes), the index no longer matches the table
    (only integrity_check sees it)."""
    size = int.from_bytes(data[16:18], "big")
    out = bytearray(data)
    hits = 0
    for off in page_offsets(data, 0x0D):
        at = data.find(b"expired", off, off + size)
        if at >= 0:
            out[at : at + 7] = b"expirex"
            hits += 1
    assert hits == 1
    return bytes(out)


# -- the damaged files, through each command ---------------------------------------------------

DAMAGE: dict[str, tuple[Callable[[bytes], bytes], tuple[str, ...]]] = {
    "garbage": (lambda d: b"\x13not sqlite\x00" * 400, ("is not an SQLite database",)),
    "truncated": (lambda d: d[: len(d) // 2], ("is truncated",)),
    "flipped page": (flip_middle_page, ("is corrupt (integrity_check: ",)),
    "index mismatch": (break_index_only, ("is corrupt (integrity_check: ",)),
}


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("damage", list(DAMAGE))
def test_damaged_store_is_refused_in_one_line(work: Path, command: str, damage: str) -> None:
    db = work / "exitguard.db"
    mangle, needles = DAMAGE[damage]
    db.write_bytes(mangle(db.read_bytes()))
    before = db.read_bytes()
    line = assert_refused(cli(work, command), db, *needles)
    assert "move it aside" in line
    assert db.read_bytes() == before  # nothing tried to "repair" it
    assert not Path(f"{db}-wal").exists() or command == "run"


def test_flipped_page_still_opens(work: Path) -> None:
    """The flipped page is invisible to opening and to reading the schema: only the check
    catches it (else the test above would prove nothing about the check)."""
    db = work / "exitguard.db"
    db.write_bytes(flip_middle_page(db.read_bytes()))
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] > 5
    finally:
        conn.close()


def test_small_store_gets_integrity_check_large_quick_check(
    work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = work / "exitguard.db"
    db.write_bytes(break_index_only(db.read_bytes()))
    with pytest.raises(StoreUnavailable, match=r"integrity_check: .*exits_status"):
        check_store_file(db, write=False)
    # Above the threshold only quick_check runs: pages are sound, so it passes.
    monkeypatch.setattr(safety, "INTEGRITY_CHECK_MAX_BYTES", 0)
    assert check_store_file(db, write=False) is True


# -- read-only ---------------------------------------------------------------------------------


@contextlib.contextmanager
def read_only(path: Path) -> Iterator[None]:
    if os.geteuid() != 0:
        mode = path.stat().st_mode
        path.chmod(0o555 if path.is_dir() else 0o444)
        try:
            yield
        finally:
            path.chmod(mode)
        return
    done = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"root, and chattr +i is not possible here: {done.stderr.strip()}")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


def test_read_only_file_is_refused_by_run(work: Path) -> None:
    db = work / "exitguard.db"
    with read_only(db):
        assert_refused(cli(work, "run"), db, "is read-only", "not writable by this user")
        status = cli(work, "status")  # reading needs no write access
    assert status.exit_code == 0, status.stderr


def test_read_only_directory_is_refused_by_run(work: Path) -> None:
    db = work / "exitguard.db"
    with read_only(work):
        assert_refused(cli(work, "run"), db, f"its directory {work} is read-only")
        status = cli(work, "status")
    assert status.exit_code == 0, status.stderr
    assert not Path(f"{db}-wal").exists()


def test_sqlite_itself_reports_read_only(work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """When the permission checks cannot tell (ACLs, network file systems), the rolled-back
    write probe still finds out."""
    db = work / "exitguard.db"
    monkeypatch.setattr(safety.os, "access", lambda *_a, **_k: True)
    with read_only(db), pytest.raises(StoreUnavailable) as caught:
        check_store_file(db)
    assert "is read-only (attempt to write a readonly database)" in str(caught.value)


# -- disk full -----------------------------------------------------------------------------


@pytest.fixture
def no_room(monkeypatch: pytest.MonkeyPatch) -> None:
    """No file may grow by one page: SQLITE_FULL, as on a full disk (memory is not the disk)."""
    real = sqlite3.connect

    def capped(*args: object, **kwargs: object) -> sqlite3.Connection:
        conn = real(*args, **kwargs)  # type: ignore[arg-type]
        if str(args[0]) == ":memory:":
            return conn
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count = {max(pages, 1)}")
        return conn

    monkeypatch.setattr(sqlite3, "connect", capped)


def test_full_disk_is_refused_by_run(work: Path, no_room: None) -> None:
    db = work / "exitguard.db"
    assert_refused(cli(work, "run"), db, "the disk is full (database or disk is full)")
    assert cli(work, "status").exit_code == 0  # reading needs no room


def test_almost_no_free_space_is_refused(work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = os.statvfs

    class Tiny:
        def __init__(self, st: os.statvfs_result) -> None:
            self.f_flag, self.f_frsize, self.f_bavail = st.f_flag, 4096, 10

    monkeypatch.setattr(safety.os, "statvfs", lambda p: Tiny(real(p)))
    with pytest.raises(StoreUnavailable, match=r"the disk is full \(40960 bytes free"):
        check_store_file(work / "exitguard.db")


def test_write_failure_while_running_is_classified(tmp_path: Path) -> None:
    """What the manager sees when a commit hits a full disk mid-run."""
    path = tmp_path / "s.db"
    seed(path, rows=3)
    store = ExitStore(path)
    pages = store._db.execute("PRAGMA page_count").fetchone()[0]
    store._db.execute(f"PRAGMA max_page_count = {pages}")
    slot = SlotKey("main", Product.USDM, "BTCUSDT", PositionSide.BOTH, Role.TAKE_PROFIT)
    with pytest.raises(sqlite3.OperationalError) as caught, store.transaction():
        for i in range(200):
            store.record_intent(
                f"full-{i}", slot, ExitKind.ORDER, Side.SELL, None, {"p": "y" * 200}, 9, ""
            )
    store.close()
    assert is_disk_full(caught.value) and classify_sqlite_error(caught.value) == "full"
    wrapped = RuntimeError("commit failed")
    wrapped.__cause__ = caught.value
    assert is_disk_full(wrapped)
    message = str(unavailable(path, caught.value))
    assert message.startswith(f"store {path} cannot be written: the disk is full")
    assert "\n" not in message


def _error(action: Callable[[], object]) -> BaseException:
    try:
        action()
    except BaseException as exc:
        return exc
    raise AssertionError("no error")


def test_classify_real_errors(tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    seed(db, rows=2)
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("PRAGMA journal_mode=WAL")
    holder.execute("BEGIN EXCLUSIVE")
    other = sqlite3.connect(db, isolation_level=None, timeout=0.05)
    ro = sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True)
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"junk" * 100)
    try:
        assert classify_sqlite_error(_error(lambda: other.execute("BEGIN IMMEDIATE"))) == "locked"
        assert classify_sqlite_error(_error(lambda: ro.execute("DELETE FROM holds"))) == "readonly"
        bad = sqlite3.connect(junk)
        assert classify_sqlite_error(_error(lambda: bad.execute("SELECT 1 FROM x"))) == "corrupt"
        bad.close()
        assert classify_sqlite_error(_error(lambda: other.execute("SELEC"))) == "other"
    finally:
        holder.execute("ROLLBACK")
        for conn in (holder, other, ro):
            conn.close()
    assert classify_sqlite_error(OSError(errno.ENOSPC, "No space left on device")) == "full"
    assert classify_sqlite_error(OSError(errno.EROFS, "Read-only file system")) == "readonly"
    assert classify_sqlite_error(ValueError("x")) == "other"


# -- locked, taken, missing --------------------------------------------------------------------


def test_locked_store_is_refused_by_run_and_still_readable(
    work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(safety, "BUSY_TIMEOUT_S", 0.05)
    db = work / "exitguard.db"
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("PRAGMA journal_mode=WAL")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        assert_refused(cli(work, "run"), db, "is locked by another process (database is locked)")
        # WAL: a writer holding the store does not block readers; status still answers.
        assert cli(work, "status").exit_code == 0
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_second_run_on_one_store_is_refused(work: Path) -> None:
    db = work / "exitguard.db"
    assert run_lock_holder(db) is None
    with RunLock(db):
        assert run_lock_holder(db) == os.getpid()
        assert_refused(cli(work, "run"), db, f"in use by another exitguard run (pid {os.getpid()})")
    assert run_lock_holder(db) is None


def test_missing_store(tmp_path: Path) -> None:
    (tmp_path / "exitguard.toml").write_text(CONFIG)
    db = tmp_path / "exitguard.db"
    status = cli(tmp_path, "status")
    assert status.exit_code == 0
    assert status.stdout.strip() == f"no state yet at {db}: run `exitguard run` first"
    check = cli(tmp_path, "status", "--check")
    assert check.exit_code == 1 and "no state yet" in check.stdout
    assert not db.exists()
    assert check_store_file(db) is False  # run creates it
    open_store(db).close()
    assert db.exists()


def test_missing_directory(tmp_path: Path) -> None:
    (tmp_path / "exitguard.toml").write_text(CONFIG.replace('"exitguard.db"', '"no/dir/e.db"'))
    db = tmp_path / "no" / "dir" / "e.db"
    assert_refused(cli(tmp_path, "run"), db, f"directory {db.parent} does not exist")
    assert "no state yet" in cli(tmp_path, "status").stdout


def test_copy_reads_without_writing_next_to_the_file(work: Path) -> None:
    db = work / "exitguard.db"
    before = (db.read_bytes(), db.stat().st_mtime_ns, sorted(os.listdir(work)))
    copy = read_only_copy(db)
    assert copy is not None and len(copy.rows()) == 300
    copy.close()
    assert (db.read_bytes(), db.stat().st_mtime_ns, sorted(os.listdir(work))) == before
    assert read_only_copy(work / "absent.db") is None


def test_foreign_database_is_refused_and_empty_file_is_fine(tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE notes (x)")
    conn.commit()
    conn.close()
    with pytest.raises(StoreUnavailable, match="not an exitguard store"):
        check_store_file(other)
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    assert check_store_file(empty) is True
    copy = read_only_copy(empty)
    assert copy is not None and copy.rows() == [] and copy.protection() == {}
    copy.close()


def test_store_without_a_newer_table_still_reads(work: Path) -> None:
    """A store written before the protection table existed: status must not fail on it."""
    db = work / "exitguard.db"
    conn = sqlite3.connect(db)
    conn.execute("DROP TABLE protection")
    conn.commit()
    conn.close()
    result = cli(work, "status")
    assert result.exit_code == 0, result.stderr
