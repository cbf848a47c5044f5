"""Price feeds for the paper venue: synthetic, scripted, or replayed Binance history.

Every feed answers :meth:`Feed.steps_until` with the :class:`PriceStep`\\ s whose time is
``<= t_ms`` and that it has not returned yet, in non-decreasing ``t_ms``. A step carries the new
last (contract) price and/or the new mark price of one symbol; ``None`` means "no update of that
price in this step" (a trade moves last only, a mark-price update moves mark only).

- :class:`SyntheticFeed`: a seeded random walk with calm/volatile regimes, jumps and a lagging mark.
- :class:`ScriptedFeed`: steps from a CSV / JSON-lines file or pushed by tests and the control API.
- :class:`ReplayFeed`: data.binance.vision ``aggTrades``/``trades`` (last + qty) and
  ``markPriceKlines`` (mark) files, CSV or zip, checksum-verified, merged by time.

Dependency rule: imports only ``exitguard.domain`` (plus the standard library and numpy).
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path

import numpy as np

from exitguard.domain.numbers import parse_decimal

__all__ = [
    "RELATIVE_T_LIMIT_MS",
    "Feed",
    "FeedError",
    "IntrabarRule",
    "PriceStep",
    "ReplayFeed",
    "ReplayKind",
    "ScriptedFeed",
    "SyntheticFeed",
    "SyntheticParams",
    "kline_path",
    "verify_checksum",
]


from .replay import IntrabarRule, ReplayFeed, ReplayKind, kline_path, verify_checksum
from .steps import Feed, FeedError, PriceStep

# --- synthetic --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SyntheticParams:
    """Knobs of :class:`SyntheticFeed`, in venue time so they do not depend on ``step_ms``.

    Volatilities are per square-root second; event rates are per hour (a step of ``dt`` hours
    sees an event with probability ``1 - exp(-rate * dt)``).
    """

    calm_vol: float = 0.0001  # ≈ 0.6 % per hour
    volatile_vol: float = 0.0006  # ≈ 3.6 % per hour
    calm_to_volatile_per_hour: float = 1.0
    volatile_to_calm_per_hour: float = 12.0  # volatile spells last about 5 minutes
    jumps_calm_per_hour: float = 0.2  # a gap of several percent in one step
    jumps_volatile_per_hour: float = 3.0
    jump_min: float = 0.02
    jump_max: float = 0.06
    mark_smoothing: float = 0.3  # EMA weight of the newest last price in the mark (lag)
    basis_vol: float = 0.0002  # AR(1) relative basis noise between mark and last, per step
    basis_reversion: float = 0.05
    qty_median: float = 0.05
    qty_decimals: int = 3


class SyntheticFeed:
    """Seeded random walk per symbol (``numpy.random.default_rng(seed)``), deterministic.

    - One step every ``step_ms`` for every symbol (in the insertion order of ``symbols``); step 0
      is the start price itself, at ``start_ms`` (default: the ``t_ms`` of the first
      :meth:`steps_until` call).
    - Log-price diffusion whose volatility depends on a calm/volatile regime that switches with a
      small probability per step; occasional jumps (gaps) of ``jump_min``..``jump_max`` (2–6 %)
      in one step, more often in the volatile regime (see :class:`SyntheticParams`).
    - ``last`` is rounded to the symbol's tick (``tick_sizes[symbol]``; default: the last decimal
      place of the start price, e.g. ``Decimal("65000.10")`` → ``0.01``), never below one tick.
    - ``mark`` is an exponential moving average of last (weight ``mark_smoothing``: it lags) times
      ``1 + basis``, the basis a mean-reverting noise; rounded to the tick too. So mark != last
      most of the time, as on Binance, and it follows jumps a few steps late.
    - ``qty`` is a log-normal trade size rounded to ``qty_decimals``.

    Random numbers are drawn in fixed blocks of steps, so the sequence does not depend on how the
    caller slices time: the same seed always yields the same steps.
    """

    BLOCK_STEPS = 256

    def __init__(
        self,
        symbols: Mapping[str, Decimal],
        seed: int,
        step_ms: int = 250,
        tick_sizes: Mapping[str, Decimal] | None = None,
        *,
        start_ms: int | None = None,
        params: SyntheticParams | None = None,
    ) -> None:
        if not symbols:
            raise ValueError("SyntheticFeed: symbols must name at least one symbol")
        if step_ms <= 0:
            raise ValueError(f"SyntheticFeed: step_ms must be > 0, got {step_ms}")
        self._symbols = list(symbols)
        self._ticks: list[Decimal] = []
        start_ticks: list[int] = []
        for sym in self._symbols:
            price = symbols[sym]
            if not (isinstance(price, Decimal) and price.is_finite() and price > 0):
                raise ValueError(f"SyntheticFeed: start price of {sym} must be a Decimal > 0")
            tick = tick_sizes[sym] if tick_sizes and sym in tick_sizes else _default_tick(price)
            if not (tick.is_finite() and tick > 0):
                raise ValueError(f"SyntheticFeed: tick size of {sym} must be > 0, got {tick}")
            self._ticks.append(tick)
            start_ticks.append(max(1, round(price / tick)))
        self._step_ms = step_ms
        self._start_ms = start_ms
        self._p = params or SyntheticParams()
        self._rng = np.random.default_rng(seed)
        n = len(self._symbols)
        self._tick_f = [float(t) for t in self._ticks]
        self._logp = [math.log(k * tf) for k, tf in zip(start_ticks, self._tick_f, strict=True)]
        self._mark_f = [k * tf for k, tf in zip(start_ticks, self._tick_f, strict=True)]
        self._basis = [0.0] * n
        self._volatile = [False] * n
        self._start_ticks = start_ticks
        self._next_step = 0  # index of the next step to generate
        self._pending: list[PriceStep] = []

    @property
    def start_ms(self) -> int | None:
        return self._start_ms

    @property
    def step_ms(self) -> int:
        return self._step_ms

    def steps_until(self, t_ms: int) -> list[PriceStep]:
        if self._start_ms is None:
            self._start_ms = t_ms
        if t_ms < self._start_ms:
            return []
        last_index = (t_ms - self._start_ms) // self._step_ms
        while self._next_step <= last_index:
            self._generate_block()
        end = 0
        while end < len(self._pending) and self._pending[end].t_ms <= t_ms:
            end += 1
        out = self._pending[:end]
        del self._pending[:end]
        return out

    def _generate_block(self) -> None:
        assert self._start_ms is not None
        p = self._p
        n = len(self._symbols)
        out = self._pending
        if self._next_step == 0:
            for i, sym in enumerate(self._symbols):
                price = Decimal(self._start_ticks[i]) * self._ticks[i]
                out.append(PriceStep(self._start_ms, sym, price, price, None))
            self._next_step = 1
        # Fixed-size draws per block keep the stream independent of the caller's slicing.
        uniforms = self._rng.random((self.BLOCK_STEPS, n, 4)).tolist()
        normals = self._rng.standard_normal((self.BLOCK_STEPS, n, 3)).tolist()
        dt_s = self._step_ms / 1000
        dt_h = dt_s / 3600
        sig = (p.calm_vol * math.sqrt(dt_s), p.volatile_vol * math.sqrt(dt_s))
        p_switch = (
            _chance(p.calm_to_volatile_per_hour, dt_h),
            _chance(p.volatile_to_calm_per_hour, dt_h),
        )
        p_jump = (_chance(p.jumps_calm_per_hour, dt_h), _chance(p.jumps_volatile_per_hour, dt_h))
        qty_unit = Decimal(1).scaleb(-p.qty_decimals)
        for b in range(self.BLOCK_STEPS):
            t = self._start_ms + self._next_step * self._step_ms
            for i, sym in enumerate(self._symbols):
                u_switch, u_jump, u_sign, u_size = uniforms[b][i]
                z_price, z_basis, z_qty = normals[b][i]
                vol = self._volatile[i]
                if u_switch < p_switch[vol]:
                    vol = not vol
                    self._volatile[i] = vol
                s = sig[vol]
                r = s * z_price - 0.5 * s * s
                if u_jump < p_jump[vol]:
                    size = p.jump_min + (p.jump_max - p.jump_min) * u_size
                    r += math.log1p(size if u_sign < 0.5 else -size)
                self._logp[i] += r
                tick_f = self._tick_f[i]
                last_ticks = max(1, round(math.exp(self._logp[i]) / tick_f))
                last_f = last_ticks * tick_f
                self._mark_f[i] += p.mark_smoothing * (last_f - self._mark_f[i])
                self._basis[i] = (1 - p.basis_reversion) * self._basis[i] + p.basis_vol * z_basis
                mark_ticks = max(1, round(self._mark_f[i] * (1 + self._basis[i]) / tick_f))
                qty_units = max(1, round(p.qty_median * math.exp(0.8 * z_qty) / float(qty_unit)))
                tick = self._ticks[i]
                out.append(
                    PriceStep(
                        t,
                        sym,
                        Decimal(last_ticks) * tick,
                        Decimal(mark_ticks) * tick,
                        Decimal(qty_units) * qty_unit,
                    )
                )
            self._next_step += 1


def _chance(rate_per_hour: float, dt_h: float) -> float:
    return -math.expm1(-rate_per_hour * dt_h)


def _default_tick(price: Decimal) -> Decimal:
    exponent = price.as_tuple().exponent
    assert isinstance(exponent, int)
    return Decimal(1).scaleb(min(exponent, 0))


# --- scripted ---------------------------------------------------------------------------------

RELATIVE_T_LIMIT_MS = 100_000_000_000
"""Script times below this (1e11 ms: about 3.2 years, or 1973-03-03 as epoch ms) are relative."""

_SCRIPT_KEYS = ("t", "symbol", "last", "mark", "qty")


class ScriptedFeed:
    """Steps given up front (a file or a list) or pushed later (:meth:`push`).

    **Times.** ``t`` is integer milliseconds. Values ``< RELATIVE_T_LIMIT_MS`` (1e11) are
    *relative* to the feed's origin: ``origin_ms`` if given, else the ``t_ms`` of the first
    :meth:`steps_until` call (so ``t=0`` fires at once). Values ``>= 1e11`` are *absolute* epoch
    milliseconds. One feed uses one kind: mixing them is a :class:`FeedError`. Times must be
    non-decreasing in the order given. Returned steps always carry absolute times.

    **Files** (:meth:`from_file`): CSV with a header naming some of ``t,symbol,last,mark,qty``
    (``t`` required, at least one of ``last``/``mark``; ``symbol``, ``mark`` and ``qty`` optional;
    any order), or JSON lines (one object per line with the same keys; JSON numbers are read as
    exact decimals). The format is sniffed: a first line starting with ``{`` means JSON lines.
    Blank lines and lines starting with ``#`` are skipped. An empty cell / ``null`` means "not
    given"; a missing symbol takes the ``symbol`` argument. Bad input raises :class:`FeedError`
    naming the file, the line and the rule.
    """

    def __init__(
        self,
        rows: Iterable[PriceStep] = (),
        *,
        origin_ms: int | None = None,
        source: str | None = None,
    ) -> None:
        self._steps: list[PriceStep] = []
        self._relative: bool | None = None
        self._origin_ms = origin_ms
        self._cursor = 0
        self._source = source
        for step in rows:
            self.push(step)

    @classmethod
    def from_file(
        cls, path: str | Path, *, symbol: str | None = None, origin_ms: int | None = None
    ) -> ScriptedFeed:
        path = Path(path)
        source = str(path)
        try:
            text = path.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise FeedError(f"cannot read the script: {exc}", source=source) from exc
        feed = cls(origin_ms=origin_ms, source=source)
        lines = [
            (n, line)
            for n, line in enumerate(text.splitlines(), start=1)
            if line.strip() and not line.lstrip().startswith("#")
        ]
        if not lines:
            return feed
        is_jsonl = lines[0][1].lstrip().startswith("{")
        rows = _jsonl_rows(lines, source) if is_jsonl else _csv_rows(lines, source)
        for n, row in rows:
            feed._push(_step_from_row(row, n, source, symbol), line=n)
        return feed

    @property
    def origin_ms(self) -> int | None:
        return self._origin_ms

    @property
    def relative(self) -> bool | None:
        """True for relative times, False for absolute, None while the feed is empty."""
        return self._relative

    def __len__(self) -> int:
        return len(self._steps)

    @property
    def remaining(self) -> int:
        return len(self._steps) - self._cursor

    def push(self, step: PriceStep) -> None:
        """Append a step (same time rules as a file row; ``t_ms`` relative or absolute)."""
        self._push(step, line=None)

    def _push(self, step: PriceStep, *, line: int | None) -> None:
        def fail(rule: str, column: str | None = None) -> FeedError:
            return FeedError(rule, source=self._source, line=line, column=column)

        t = step.t_ms
        if isinstance(t, bool) or not isinstance(t, int) or t < 0:
            raise fail(f"t must be an integer >= 0, got {t!r}", "t")
        if not isinstance(step.symbol, str) or not step.symbol:
            raise fail("symbol must be a non-empty string", "symbol")
        if step.last is None and step.mark is None:
            raise fail("a step needs last or mark (or both)")
        for name in ("last", "mark", "qty"):
            value = getattr(step, name)
            if value is not None and not (
                isinstance(value, Decimal) and value.is_finite() and value > 0
            ):
                raise fail(f"{name} must be a Decimal > 0, got {value!r}", name)
        relative = t < RELATIVE_T_LIMIT_MS
        if self._relative is None:
            self._relative = relative
        elif relative != self._relative:
            kinds = "relative (< 1e11)" if self._relative else "absolute (epoch ms >= 1e11)"
            raise fail(f"t must stay {kinds} like the earlier steps; got {t}", "t")
        if self._steps and t < self._steps[-1].t_ms:
            raise fail(f"t must be non-decreasing (previous {self._steps[-1].t_ms}, got {t})", "t")
        self._steps.append(step)

    def steps_until(self, t_ms: int) -> list[PriceStep]:
        if self._origin_ms is None:
            self._origin_ms = t_ms
        offset = self._origin_ms if self._relative else 0
        start = self._cursor
        end = start
        while end < len(self._steps) and self._steps[end].t_ms + offset <= t_ms:
            end += 1
        self._cursor = end
        if not offset:
            return self._steps[start:end]
        return [replace(s, t_ms=s.t_ms + offset) for s in self._steps[start:end]]


def _jsonl_rows(
    lines: list[tuple[int, str]], source: str
) -> Iterator[tuple[int, dict[str, object]]]:
    for n, line in lines:
        try:
            obj = json.loads(line, parse_float=Decimal)
        except json.JSONDecodeError as exc:
            raise FeedError(f"not valid JSON: {exc.msg}", source=source, line=n) from exc
        if not isinstance(obj, dict):
            raise FeedError("each line must be a JSON object", source=source, line=n)
        unknown = [k for k in obj if k not in _SCRIPT_KEYS]
        if unknown:
            raise FeedError(
                f"unknown key; allowed: {', '.join(_SCRIPT_KEYS)}",
                source=source,
                line=n,
                column=str(unknown[0]),
            )
        yield n, obj


def _csv_rows(lines: list[tuple[int, str]], source: str) -> Iterator[tuple[int, dict[str, object]]]:
    header_line, header_text = lines[0]
    header = [h.strip() for h in next(csv.reader([header_text]))]
    for name in header:
        if name not in _SCRIPT_KEYS:
            raise FeedError(
                f"unknown column in the header; allowed: {', '.join(_SCRIPT_KEYS)}",
                source=source,
                line=header_line,
                column=name,
            )
    if len(set(header)) != len(header):
        raise FeedError("a column is named twice in the header", source=source, line=header_line)
    if "t" not in header or not ({"last", "mark"} & set(header)):
        raise FeedError(
            "the header needs t and at least one of last, mark", source=source, line=header_line
        )
    for n, text in lines[1:]:
        cells = [c.strip() for c in next(csv.reader([text]))]
        if len(cells) != len(header):
            raise FeedError(
                f"row has {len(cells)} cells, the header has {len(header)}",
                source=source,
                line=n,
                value=text,
            )
        yield n, {k: (v if v != "" else None) for k, v in zip(header, cells, strict=True)}


def _step_from_row(
    row: Mapping[str, object], line: int, source: str, default_symbol: str | None
) -> PriceStep:
    t = row.get("t")
    if isinstance(t, str) and t.isascii() and t.isdigit():
        t = int(t)
    if isinstance(t, bool) or not isinstance(t, int) or t < 0:
        raise FeedError(
            "t must be an integer number of milliseconds >= 0",
            source=source,
            line=line,
            column="t",
            value=None if t is None else str(t),
        )
    symbol = row.get("symbol") or default_symbol
    if not isinstance(symbol, str) or not symbol:
        raise FeedError(
            "symbol is missing and no default symbol was given",
            source=source,
            line=line,
            column="symbol",
        )

    def price(name: str) -> Decimal | None:
        raw = row.get(name)
        if raw is None:
            return None
        value = parse_decimal(raw)
        if value is None or value <= 0:
            raise FeedError(
                "must be a decimal > 0", source=source, line=line, column=name, value=str(raw)
            )
        return value

    last, mark = price("last"), price("mark")
    if last is None and mark is None:
        raise FeedError("a step needs last or mark (or both)", source=source, line=line)
    return PriceStep(t, symbol, last, mark, price("qty"))
