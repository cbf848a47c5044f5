"""Replay of data.binance.vision history as a venue price feed (aggTrades, trades, klines,
markPriceKlines; CSV or zip with its ``.CHECKSUM``), per ``trigger-semantics.md`` section 4."""

from __future__ import annotations

import bisect
import hashlib
import io
import re
import zipfile
from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path
from typing import Literal

from exitguard.domain.market_data import (
    Kline,
    Market,
    MarketDataError,
    parse_agg_trades,
    parse_klines,
    parse_trades,
)

from .steps import FeedError, PriceStep

__all__ = ["IntrabarRule", "ReplayFeed", "ReplayKind", "kline_path", "verify_checksum"]


ReplayKind = Literal["aggTrades", "trades", "markPriceKlines", "klines"]
IntrabarRule = Literal["nearest", "low_first", "high_first"]

_KINDS: tuple[ReplayKind, ...] = ("markPriceKlines", "aggTrades", "trades", "klines")
_KIND_IN_NAME = re.compile(r"-(aggTrades|trades)-")
_SHA256 = re.compile(r"[0-9a-fA-F]{64}")


def kline_path(k: Kline, rule: IntrabarRule = "nearest") -> list[tuple[int, Decimal]]:
    """The four ``(t_ms, price)`` points a bar is replayed as: open, two extremes, close.

    Open at ``open_time``; the first extreme at one third of the bar and the second at two thirds;
    close at ``close_time``. Which extreme comes first (the intrabar order is unknown; reference
    section 3, "Bar replay"):

    - ``nearest`` (default, neutral): the extreme nearer the open is visited first (the shortest
      path); on a tie, a bar that closes up visits low first (O-L-H-C), one that closes down
      visits high first (O-H-L-C).
    - ``low_first``: O-L-H-C always. Pessimistic for long positions (their stop-loss, below, is
      touched before their take-profit, above: vectorbt's SL-before-TP rule).
    - ``high_first``: O-H-L-C always. Pessimistic for short positions.
    """
    span = k.close_time_ms - k.open_time_ms
    t1 = k.open_time_ms + span // 3
    t2 = k.open_time_ms + (2 * span) // 3
    if rule == "low_first":
        high_first = False
    elif rule == "high_first":
        high_first = True
    elif rule == "nearest":
        up, down = k.high - k.open, k.open - k.low
        high_first = up < down or (up == down and k.close < k.open)
    else:
        raise ValueError(f"intrabar rule must be nearest, low_first or high_first, got {rule!r}")
    first, second = (k.high, k.low) if high_first else (k.low, k.high)
    return [(k.open_time_ms, k.open), (t1, first), (t2, second), (k.close_time_ms, k.close)]


class ReplayFeed:
    """Binance history replayed as steps (reference section 4, "Consequence for replay").

    - ``aggTrades`` / ``trades`` rows → ``PriceStep(last=price, qty=qty, mark=None)``, one per row.
    - ``markPriceKlines`` bars → ``PriceStep(mark=..., last=None)`` four times per bar, by
      :func:`kline_path`: open at ``open_time``, then the two extremes at 1/3 and 2/3 of the bar
      (order by ``intrabar``: ``nearest`` by default, or the pessimistic ``low_first`` /
      ``high_first``), then close at ``close_time``.
    - ``klines`` bars → the same four points as *last* prices (when no trades are at hand).

    Steps from all files are merged by time (stable; at equal times mark steps come before last
    steps). Times are the data's epoch milliseconds (µs files are floored to ms by the parser).
    """

    def __init__(self, steps: Iterable[PriceStep]) -> None:
        self._steps = sorted(steps, key=lambda s: (s.t_ms, s.last is not None))
        self._times = [s.t_ms for s in self._steps]
        self._cursor = 0

    @classmethod
    def from_paths(
        cls,
        paths: Iterable[str | Path | tuple[ReplayKind, str | Path]],
        symbol: str,
        market: Market,
        *,
        intrabar: IntrabarRule = "nearest",
    ) -> ReplayFeed:
        """Load data.binance.vision files (``.csv`` or ``.zip``), verify checksums, merge.

        Each path is a file or ``(kind, path)``. Without a kind it is read from the name
        (``SYMBOL-aggTrades-DATE``, ``SYMBOL-trades-DATE``) or from a parent directory named like
        the published layout (``.../markPriceKlines/SYMBOL/1m/SYMBOL-1m-DATE.zip``). A zip must hold
        exactly one ``.csv``. A sibling ``<file>.CHECKSUM`` (``<sha256>  <name>``) is verified when
        present; a mismatch is a :class:`FeedError`, as is any row the parser refuses.
        """
        steps: list[PriceStep] = []
        for entry in paths:
            kind, path = entry if isinstance(entry, tuple) else (_kind_of(Path(entry)), entry)
            if kind not in _KINDS:
                raise FeedError(f"unknown kind {kind!r}; use one of {', '.join(_KINDS)}")
            path = Path(path)
            _check_symbol(path, symbol)
            verify_checksum(path)
            steps.extend(_load(path, kind, symbol, market, intrabar))
        return cls(steps)

    def __len__(self) -> int:
        return len(self._steps)

    @property
    def remaining(self) -> int:
        return len(self._steps) - self._cursor

    @property
    def start_ms(self) -> int | None:
        return self._times[0] if self._times else None

    @property
    def end_ms(self) -> int | None:
        return self._times[-1] if self._times else None

    def steps_until(self, t_ms: int) -> list[PriceStep]:
        end = bisect.bisect_right(self._times, t_ms, lo=self._cursor)
        out = self._steps[self._cursor : end]
        self._cursor = max(end, self._cursor)
        return out


def verify_checksum(path: Path) -> None:
    """Check ``path`` against ``<path>.CHECKSUM`` if that file exists (sha256, section 4)."""
    checksum_path = path.with_name(path.name + ".CHECKSUM")
    if not checksum_path.exists():
        return
    try:
        text = checksum_path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise FeedError(f"cannot read the checksum: {exc}", source=str(checksum_path)) from exc
    expected = text.split()[0] if text else ""
    if not _SHA256.fullmatch(expected):
        raise FeedError(
            "checksum file must start with a 64-hex-digit sha256",
            source=str(checksum_path),
            line=1,
            value=text,
        )
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    actual = digest.hexdigest()
    if actual != expected.lower():
        raise FeedError(
            f"sha256 {actual} does not match {checksum_path.name} ({expected.lower()})",
            source=str(path),
        )


def _kind_of(path: Path) -> ReplayKind:
    m = _KIND_IN_NAME.search(path.name)
    if m:
        return "aggTrades" if m.group(1) == "aggTrades" else "trades"
    for part in reversed(path.parent.parts):
        for kind in _KINDS:
            if part == kind:
                return kind
    raise FeedError(
        "cannot tell the data type from the path; name it SYMBOL-aggTrades-DATE / "
        "SYMBOL-trades-DATE, keep it under a markPriceKlines/ or klines/ directory, or pass "
        "(kind, path)",
        source=str(path),
    )


def _check_symbol(path: Path, symbol: str) -> None:
    head = path.name.split("-", 1)[0]
    if head.isupper() and head.isalnum() and head != symbol:
        raise FeedError(f"file is for {head}, not for {symbol}", source=str(path))


def _load(
    path: Path, kind: ReplayKind, symbol: str, market: Market, intrabar: IntrabarRule
) -> list[PriceStep]:
    if path.suffix.lower() == ".zip":
        try:
            with zipfile.ZipFile(path) as zf:
                members = [n for n in zf.namelist() if not n.endswith("/")]
                if len(members) != 1 or not members[0].lower().endswith(".csv"):
                    raise FeedError(
                        f"a zip must hold exactly one .csv, found {members}", source=str(path)
                    )
                source = f"{path}!{members[0]}"
                with zf.open(members[0]) as raw:
                    text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
                    return _parse(text, source, kind, symbol, market, intrabar)
        except (zipfile.BadZipFile, OSError, UnicodeDecodeError) as exc:
            raise FeedError(f"cannot read the zip: {exc}", source=str(path)) from exc
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            return _parse(fh, str(path), kind, symbol, market, intrabar)
    except (OSError, UnicodeDecodeError) as exc:
        raise FeedError(f"cannot read the file: {exc}", source=str(path)) from exc


def _parse(
    lines: Iterable[str],
    source: str,
    kind: ReplayKind,
    symbol: str,
    market: Market,
    intrabar: IntrabarRule,
) -> list[PriceStep]:
    try:
        if kind == "aggTrades":
            return [
                PriceStep(a.time_ms, symbol, a.price, None, a.qty)
                for a in parse_agg_trades(lines, market, source=source)
            ]
        if kind == "trades":
            return [
                PriceStep(tr.time_ms, symbol, tr.price, None, tr.qty)
                for tr in parse_trades(lines, market, source=source)
            ]
        bars = parse_klines(lines, source=source)
    except MarketDataError as exc:
        raise FeedError(
            exc.rule, source=source, line=exc.line, column=exc.column, value=exc.value
        ) from exc
    mark = kind == "markPriceKlines"
    return [
        PriceStep(t, symbol, None if mark else p, p if mark else None, None)
        for bar in bars
        for t, p in kline_path(bar, intrabar)
    ]
