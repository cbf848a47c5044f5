"""Raw access to one archive: its sha256, its ``.CHECKSUM``, and the CSV bytes inside.

data.binance.vision publishes each ``X.zip`` with ``X.zip.CHECKSUM`` holding
``"<sha256>  X.zip"`` (``trigger-semantics.md`` section 4); a zip holds exactly one CSV with the
same stem. Errors name the file, so a user can delete or re-download exactly that one.
"""

from __future__ import annotations

import hashlib
import re
import zipfile
from pathlib import Path

__all__ = [
    "ChecksumError",
    "DataFileError",
    "read_checksum_file",
    "read_file_bytes",
    "sha256_file",
    "verify_checksum",
]

_SHA256 = re.compile(r"[0-9a-fA-F]{64}")


class DataFileError(ValueError):
    """A file that cannot be read as a data.binance.vision archive; the message names it."""

    def __init__(self, path: str | Path, rule: str) -> None:
        super().__init__(f"{path}: {rule}")
        self.path = str(path)
        self.rule = rule


class ChecksumError(DataFileError):
    """The file's sha256 differs from its ``.CHECKSUM`` (corrupt or partial download)."""


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_checksum_file(path: Path) -> str | None:
    """The expected sha256 from ``<path>.CHECKSUM``, or ``None`` when there is no such file."""
    checksum_path = path.with_name(path.name + ".CHECKSUM")
    try:
        text = checksum_path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataFileError(checksum_path, f"cannot read the checksum file ({exc})") from exc
    expected = text.split()[0] if text else ""
    if not _SHA256.fullmatch(expected):
        raise DataFileError(
            checksum_path, f"must start with a 64-hex-digit sha256 (got {text[:80]!r})"
        )
    return expected.lower()


def verify_checksum(path: Path) -> tuple[str, bool]:
    """``(sha256, verified)``: hash ``path`` and compare with its ``.CHECKSUM`` when present.

    Raises :class:`ChecksumError` naming the file on a mismatch.
    """
    expected = read_checksum_file(path)
    try:
        actual = sha256_file(path)
    except OSError as exc:
        raise DataFileError(path, f"cannot be read ({exc.strerror or exc})") from exc
    if expected is not None and actual != expected:
        raise ChecksumError(
            path,
            f"sha256 {actual} does not match {path.name}.CHECKSUM ({expected}); "
            "the file is corrupt or incomplete, download it again",
        )
    return actual, expected is not None


def read_file_bytes(path: Path) -> tuple[bytes, str]:
    """The CSV bytes of ``path`` (a ``.zip`` holding exactly one ``.csv``, or a CSV) and a label."""
    try:
        if path.suffix.lower() == ".zip":
            with zipfile.ZipFile(path) as zf:
                members = [n for n in zf.namelist() if not n.endswith("/")]
                if len(members) != 1 or not members[0].lower().endswith(".csv"):
                    raise DataFileError(path, f"a zip must hold exactly one .csv, found {members}")
                return zf.read(members[0]), f"{path}!{members[0]}"
        return path.read_bytes(), str(path)
    except zipfile.BadZipFile as exc:
        raise DataFileError(path, f"not a readable zip ({exc})") from exc
    except OSError as exc:
        raise DataFileError(path, f"cannot be read ({exc.strerror or exc})") from exc
