"""Entries: the positions a backtest opens, from a CSV of (time, side, size) or a generator.

Every entry is an independent position (no netting): each is protected by the policy's exits on
its own, so a sweep measures the exits, not a portfolio's position sizing.
"""

from __future__ import annotations

import csv
import random
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt

from .model import BacktestInputError

__all__ = [
    "Entries",
    "SideMode",
    "every_entries",
    "parse_duration_ms",
    "random_entries",
    "read_entries_csv",
]

SideMode = Literal["long", "short", "both"]
I64 = npt.NDArray[np.int64]

_LONG = {"BUY", "LONG"}
_SHORT = {"SELL", "SHORT"}
_DURATION = re.compile(r"^(\d+)(ms|s|m|h|d)$")
_UNIT_MS = {"ms": 1, "s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}


@dataclass(frozen=True, slots=True)
class Entries:
    """Positions to open, sorted by time: ``side`` +1 long (BUY entry), -1 short (SELL entry)."""

    time_ms: I64
    side: npt.NDArray[np.int8]
    size: tuple[Decimal, ...]

    def __post_init__(self) -> None:
        n = self.time_ms.shape[0]
        if self.side.shape[0] != n or len(self.size) != n:
            raise ValueError("entries: time, side and size must have the same length")

    def __len__(self) -> int:
        return int(self.time_ms.shape[0])

    @classmethod
    def build(cls, rows: list[tuple[int, int, Decimal]]) -> Entries:
        """From ``(time_ms, side, size)`` rows, sorted by time (stable)."""
        rows = sorted(rows, key=lambda row: row[0])
        return cls(
            time_ms=np.array([r[0] for r in rows], dtype=np.int64),
            side=np.array([r[1] for r in rows], dtype=np.int8),
            size=tuple(r[2] for r in rows),
        )

    def size_array(self) -> npt.NDArray[np.float64]:
        """Sizes as floats, for the vectorised (reporting-only) summary statistics."""
        return np.array([float(s) for s in self.size], dtype=np.float64)


def parse_duration_ms(text: str, field: str = "--every") -> int:
    """``"15m"`` → 900000. Units ms, s, m, h, d; the number must be a positive integer."""
    match = _DURATION.match(text.strip())
    if match is None or int(match.group(1)) == 0:
        raise BacktestInputError(
            field, f"must be a positive duration like 30s, 15m, 1h or 1d, got {text!r}"
        )
    return int(match.group(1)) * _UNIT_MS[match.group(2)]


def _parse_time(text: str, where: str) -> int:
    text = text.strip()
    if re.fullmatch(r"-?\d+", text):
        value = int(text)
        if value < 0:
            raise BacktestInputError(where, f"time must not be negative, got {text}")
        # Same detection as the data files (microseconds from 2025 on spot): by magnitude.
        return value // 1000 if value >= 10**15 else value
    try:
        stamp = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise BacktestInputError(
            where, f"time must be epoch milliseconds or ISO 8601, got {text!r}"
        ) from None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)  # data.binance.vision times are UTC
    return int(stamp.timestamp() * 1000)


def _parse_side(text: str, where: str) -> int:
    word = text.strip().upper()
    if word in _LONG:
        return 1
    if word in _SHORT:
        return -1
    raise BacktestInputError(where, f"side must be BUY/LONG or SELL/SHORT, got {text!r}")


def _parse_size(text: str, where: str) -> Decimal:
    try:
        size = Decimal(text.strip())
    except InvalidOperation:
        raise BacktestInputError(where, f"size must be a decimal number, got {text!r}") from None
    if not size.is_finite() or size <= 0:
        raise BacktestInputError(where, f"size must be a positive number, got {text!r}")
    return size


def read_entries_csv(path: Path) -> Entries:
    """Entries from a CSV with columns time, side, size (a header row naming them is optional).

    time: epoch milliseconds (microseconds detected by magnitude) or ISO 8601 (UTC if no zone);
    side: BUY/LONG or SELL/SHORT (any case); size: a positive decimal (base asset quantity).
    Errors name the file, line and field.
    """
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise BacktestInputError("--entries", f"{path}: cannot be read ({exc.strerror})") from None
    rows: list[tuple[int, int, Decimal]] = []
    for number, record in enumerate(csv.reader(text.splitlines()), start=1):
        if not record or all(not cell.strip() for cell in record):
            continue
        if number == 1 and record[0].strip().lower() == "time":
            continue
        where = f"{path.name} line {number}"
        if len(record) != 3:
            raise BacktestInputError(
                where, f"expected 3 fields (time, side, size), got {len(record)}"
            )
        rows.append(
            (
                _parse_time(record[0], f"{where} field time"),
                _parse_side(record[1], f"{where} field side"),
                _parse_size(record[2], f"{where} field size"),
            )
        )
    if not rows:
        raise BacktestInputError("--entries", f"{path}: no entries")
    return Entries.build(rows)


def _sides(mode: SideMode, n: int, rng: random.Random | None) -> list[int]:
    if mode == "long":
        return [1] * n
    if mode == "short":
        return [-1] * n
    if mode != "both":
        raise BacktestInputError("--side", f"must be long, short or both, got {mode!r}")
    if rng is None:
        return [1 if i % 2 == 0 else -1 for i in range(n)]  # alternate, long first
    return [rng.choice((1, -1)) for _ in range(n)]


def every_entries(
    start_ms: int, end_ms: int, interval_ms: int, side: SideMode, size: Decimal
) -> Entries:
    """One entry every ``interval_ms`` from ``start_ms`` while ``time < end_ms``.

    ``side="both"`` alternates long and short, starting long.
    """
    if interval_ms <= 0:
        raise BacktestInputError("--every", "must be a positive duration")
    times = list(range(start_ms, end_ms, interval_ms))
    if not times:
        raise BacktestInputError("--every", "no entry fits inside the data's time range")
    sides = _sides(side, len(times), None)
    return Entries.build([(t, s, size) for t, s in zip(times, sides, strict=True)])


def random_entries(
    start_ms: int, end_ms: int, count: int, seed: int, side: SideMode, size: Decimal
) -> Entries:
    """``count`` entries at uniform random millisecond times in ``[start_ms, end_ms)``.

    Seeded (``random.Random(seed)``) so a run is reproducible; ``side="both"`` draws each side.
    """
    if count <= 0:
        raise BacktestInputError("--random", f"must be a positive count, got {count}")
    if end_ms <= start_ms:
        raise BacktestInputError("--random", "the data's time range is empty")
    rng = random.Random(seed)
    times = [rng.randrange(start_ms, end_ms) for _ in range(count)]
    sides = _sides(side, count, rng)
    return Entries.build([(t, s, size) for t, s in zip(times, sides, strict=True)])
