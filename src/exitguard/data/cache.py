"""Columnar cache of parsed files: ``<archive>.npz`` next to the archive, keyed by its sha256.

Why next to the archive: the fetch cache already mirrors data.binance.vision, so the parsed
columns live where their source lives and disappear with it; no second index to keep in step.

Freshness: the ``.npz`` records the archive's sha256, its size and mtime, and the text of its
``.CHECKSUM`` at the time it was written. If size, mtime and checksum text are unchanged the
archive is the one that was parsed (and verified) then, so the cache is used without hashing
again; otherwise the archive is hashed (and verified against its ``.CHECKSUM``), and the cache is
used only if the digest still matches. Unwritable directories are not an error: the file is just
parsed every time.
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import platformdirs

from .names import DataType
from .read import Table, read_checksum_file, read_table, verify_checksum
from .series import Market

__all__ = ["CACHE_VERSION", "cache_file", "default_cache_dir", "read_cached"]

CACHE_VERSION = 1  # bump when Table columns or their meaning change


def default_cache_dir() -> Path:
    """Where ``exitguard data fetch`` keeps archives by default (the user cache directory)."""
    return Path(platformdirs.user_cache_dir("exitguard")) / "binance-vision"


def cache_file(path: Path) -> Path:
    return path.with_name(path.name + ".npz")


def read_cached(
    path: str | Path,
    data_type: DataType | None = None,
    market: Market | None = None,
    *,
    cache: bool = True,
) -> tuple[Table, bool]:
    """``(table, from_cache)``: the parsed file, from its ``.npz`` when that is fresh."""
    path = Path(path)
    if not cache:
        return read_table(path, data_type, market), False
    try:
        st = path.stat()
    except OSError:
        return read_table(path, data_type, market), False  # read_table names the problem
    hit = _load(path, st, data_type, market)
    if hit is not None:
        return hit, True
    table = read_table(path, data_type, market)
    _store(path, st, table)
    return table, False


def _load(
    path: Path, st: os.stat_result, data_type: DataType | None, market: Market | None
) -> Table | None:
    npz = cache_file(path)
    if not npz.exists():
        return None
    # A damaged or foreign .npz is ignored (and rewritten by the caller); a bad archive is not.
    try:
        z = np.load(npz, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile):
        return None
    with z:
        try:
            meta: dict[str, Any] = json.loads(str(z["meta"]))
            if not _matches(meta, data_type, market):
                return None
            same_file = (
                meta["size"] == st.st_size
                and meta["mtime_ns"] == st.st_mtime_ns
                and meta["checksum"] == read_checksum_file(path)
            )
        except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile):
            return None
        if not same_file:
            sha, verified = verify_checksum(path)  # raises on a mismatch, as a cold load would
            if sha != meta["sha256"]:
                return None
            meta["checksum_verified"] = verified
        try:
            columns = {k: z[k] for k in meta["columns"]}
            return Table(
                str(path),
                meta["data_type"],
                meta["market"],
                meta["header"],
                meta["time_unit"],
                meta["price_exp"],
                meta["qty_exp"],
                meta["sha256"],
                meta["checksum_verified"],
                columns,
            )
        except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile):
            return None


def _matches(meta: dict[str, Any], data_type: DataType | None, market: Market | None) -> bool:
    if meta.get("version") != CACHE_VERSION:
        return False
    if data_type is not None and meta.get("data_type") != data_type:
        return False
    return market is None or meta.get("market") == market


def _store(path: Path, st: os.stat_result, table: Table) -> None:
    meta = {
        "version": CACHE_VERSION,
        "sha256": table.sha256,
        "checksum": read_checksum_file(path),
        "size": st.st_size,
        "mtime_ns": st.st_mtime_ns,
        "data_type": table.data_type,
        "market": table.market,
        "header": table.header,
        "time_unit": table.time_unit,
        "price_exp": table.price_exp,
        "qty_exp": table.qty_exp,
        "checksum_verified": table.checksum_verified,
        "columns": list(table.columns),
    }
    npz = cache_file(path)
    tmp = npz.with_name(f"{npz.name}.{os.getpid()}.tmp")
    try:
        # Uncompressed on purpose: a reload is a memcpy, and the archive is the compact copy.
        with tmp.open("wb") as fh:
            np.savez(fh, meta=np.array(json.dumps(meta)), **table.columns)  # type: ignore[arg-type]
        os.replace(tmp, npz)  # atomic: a reader never sees half a cache file
    except OSError:
        tmp.unlink(missing_ok=True)
