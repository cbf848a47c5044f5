"""Outcomes of (policy, entry) pairs, and the money and statistics derived from them.

The replay and the sweep kernel both produce :class:`Outcomes` (exact integers); everything here
is computed from outcomes alone, so the two paths report identical figures when their outcomes
are identical. Per-trade money is exact (Decimal); per-policy summaries are float64, computed
vectorised over thousands of policies, and are for reporting only.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import numpy as np
import numpy.typing as npt

from .entries import Entries
from .market import EntryPlan, Market
from .model import (
    BPS,
    FLAG_AMBIGUOUS_BAR,
    FLAG_LIMIT_UNFILLED,
    FLAG_MAKER,
    Execution,
    ExitReason,
    flag_names,
)

__all__ = [
    "Outcomes",
    "TradeMoney",
    "iso_ms",
    "max_drawdown",
    "open_at_end",
    "summarize",
    "trade_money",
    "trade_records",
]

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Outcomes:
    """Per (policy, entry), shape ``(policies, entries)``.

    ``reason``: :class:`ExitReason`; ``point``: the path index where an exit triggered (-1: none);
    ``trigger``: its trigger price in units (0: none; for a trailing stop the exact level
    ``H(1-r)`` rounded against the trader; for a time stop the print the market order met);
    ``exit_time``/``exit_price``: the fill; ``flags``: ``FLAG_*`` bits of every leg.

    A plan closes a position in *legs* (ladder levels, the liquidation-distance close, then the
    exit that closes the rest, or END at the end of the data). The fields above describe the
    last leg; ``legs`` counts them, ``exit_value`` is the sum over legs of fraction (parts per
    10,000) x fill price, exact (so ``exit_value / 10,000`` is the fraction-weighted average exit
    price), ``last_parts`` the fraction the last leg closed (an END leg's is the part still open
    at the end of the data: :attr:`end_parts`), ``filled_levels`` how many ladder levels filled.
    A plain policy has one leg: ``exit_value = exit_price * 10,000``.
    """

    reason: npt.NDArray[np.int8]
    point: I64
    trigger: I64
    exit_time: I64
    exit_price: I64
    flags: npt.NDArray[np.int8]
    legs: npt.NDArray[np.int8]
    exit_value: I64
    last_parts: npt.NDArray[np.int16]
    filled_levels: npt.NDArray[np.int8]

    @classmethod
    def empty(cls, policies: int, entries: int) -> Outcomes:
        shape = (policies, entries)
        return cls(
            np.full(shape, ExitReason.END, dtype=np.int8),
            np.full(shape, -1, dtype=np.int64),
            np.zeros(shape, dtype=np.int64),
            np.zeros(shape, dtype=np.int64),
            np.zeros(shape, dtype=np.int64),
            np.zeros(shape, dtype=np.int8),
            np.ones(shape, dtype=np.int8),
            np.zeros(shape, dtype=np.int64),
            np.full(shape, BPS, dtype=np.int16),
            np.zeros(shape, dtype=np.int8),
        )

    def single_leg(self) -> None:
        """Set the leg fields of one-leg outcomes from ``exit_price`` (the plain kernel's)."""
        self.legs[...] = 1
        np.multiply(self.exit_price, BPS, out=self.exit_value)
        self.last_parts[...] = BPS
        self.filled_levels[...] = 0

    @property
    def end_parts(self) -> npt.NDArray[np.int16]:
        """The fraction (parts per 10,000) still open at the end of the data (the END leg)."""
        return np.where(self.reason == ExitReason.END, self.last_parts, 0).astype(np.int16)

    @property
    def mean_exit_price(self) -> npt.NDArray[np.float64]:
        """The fraction-weighted average exit price in units (float, for reports)."""
        return self.exit_value.astype(np.float64) / BPS

    @classmethod
    def concat(cls, parts: list[Outcomes]) -> Outcomes:
        """Stack outcome blocks of policy chunks (in order) into one."""
        return cls(
            *(np.concatenate([getattr(p, f.name) for p in parts], axis=0) for f in fields(cls))
        )

    def take(self, rows: npt.NDArray[np.intp] | list[int]) -> Outcomes:
        """The outcomes of the given policy rows."""
        idx = np.asarray(rows, dtype=np.intp)
        return Outcomes(*(getattr(self, f.name)[idx] for f in fields(self)))

    def put(self, rows: npt.NDArray[np.intp], part: Outcomes) -> None:
        """Write ``part`` into the given policy rows (the arrays are mutable buffers)."""
        for f in fields(self):
            getattr(self, f.name)[rows] = getattr(part, f.name)

    @property
    def shape(self) -> tuple[int, int]:
        return (int(self.reason.shape[0]), int(self.reason.shape[1]))

    def equals(self, other: Outcomes) -> bool:
        """Exact equality of every field."""
        return all(
            np.array_equal(getattr(self, f.name), getattr(other, f.name)) for f in fields(self)
        )

    def first_difference(self, other: Outcomes) -> str | None:
        """A description of the first (policy, entry) where two outcome sets differ."""
        for f in fields(self):
            a, b = getattr(self, f.name), getattr(other, f.name)
            if a.shape != b.shape:
                return f"{f.name}: shape {a.shape} != {b.shape}"
            bad = np.argwhere(a != b)
            if bad.size:
                i, j = (int(x) for x in bad[0])
                return f"policy {i} entry {j}: {f.name} {a[i, j]} != {b[i, j]}"
        return None


def iso_ms(ms: int) -> str:
    """Epoch milliseconds as an ISO 8601 UTC timestamp with milliseconds."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="milliseconds")


def _money(
    out: Outcomes, plan: EntryPlan, sizes: F64, price_exp: int, execution: Execution
) -> tuple[F64, F64, F64]:
    # Legs: the average exit price weighted by fraction; only the last leg (a rested
    # stop-limit) can be a maker fill.
    scale = 10.0**-price_exp
    entry = plan.price.astype(np.float64) * scale
    exit_px = out.mean_exit_price * scale
    side = plan.side.astype(np.float64)
    gross = side * (exit_px - entry) * sizes
    taker = float(execution.taker_fee_bps) / BPS
    maker = float(execution.maker_fee_bps) / BPS
    maker_value = np.where(
        (out.flags & FLAG_MAKER) != 0,
        out.exit_price.astype(np.float64) * scale * out.last_parts / BPS,
        0.0,
    )
    fees = entry * sizes * taker + (exit_px * taker + maker_value * (maker - taker)) * sizes
    return gross, fees, gross - fees


def max_drawdown(net: F64, exit_time: I64) -> F64:
    """Per row: the largest fall of the realised equity curve (trades in exit-time order,
    starting at 0). A trade left out of the curve has its ``net`` set to 0 by the caller.
    Trades that exit at the same millisecond move the curve once, by their sum: the order in
    which they happen to be listed is no drawdown (a jump that stops one position and fills
    another's target would otherwise dip and recover in no time)."""
    order = np.argsort(exit_time, axis=1, kind="stable")
    equity = np.cumsum(np.take_along_axis(net, order, axis=1), axis=1)
    times = np.take_along_axis(exit_time, order, axis=1)
    settled = np.ones(times.shape, dtype=np.bool_)  # the last trade of each exit time
    settled[:, :-1] = times[:, 1:] != times[:, :-1]
    at_rest = np.where(settled, equity, 0.0)
    peak = np.maximum.accumulate(np.maximum(at_rest, 0.0), axis=1)  # the curve starts at 0
    fall = np.where(settled, peak - equity, 0.0)
    return np.asarray(fall.max(axis=1, initial=0.0), dtype=np.float64)


def open_at_end(out: Outcomes) -> npt.NDArray[np.bool_]:
    """Per (policy, entry): part of the trade was still open when the data ended (an END leg:
    no exit fired for it, or a triggered stop-limit never filled). That part's exit is a mark to
    market at the last print, as a market exit there would fill: a figure the data cut off, not
    one the policy earned (:mod:`exitguard.backtest.ranking` says how rankings treat it)."""
    return np.asarray(out.end_parts > 0, dtype=np.bool_)


@dataclass(frozen=True, slots=True)
class TradeMoney:
    """Per (policy, entry) float64 money for statistics (exact money: :func:`trade_records`).

    ``net`` = ``closed`` (the legs an exit closed) + ``open_net`` (the END leg, marked to
    market; 0 when nothing was open at the end); ``open``: :func:`open_at_end`; ``notional``:
    per entry, entry price x size (the base of per-trade returns)."""

    gross: F64
    fees: F64
    net: F64
    open_net: F64
    notional: F64
    open: npt.NDArray[np.bool_]
    exit_time: I64
    open_fraction: F64  # the END leg's share of the size (1: nothing closed before the end)

    @property
    def closed(self) -> F64:
        return np.asarray(self.net - self.open_net, dtype=np.float64)


def trade_money(
    out: Outcomes, plan: EntryPlan, entries: Entries, price_exp: int, execution: Execution
) -> TradeMoney:
    """Every trade's float money, its END leg's, its notional and whether it has an END leg."""
    sizes = entries.size_array()
    gross, fees, net = _money(out, plan, sizes, price_exp, execution)
    scale = 10.0**-price_exp
    entry = plan.price.astype(np.float64) * scale
    last = out.exit_price.astype(np.float64) * scale
    taker = float(execution.taker_fee_bps) / BPS
    open_size = sizes * out.end_parts.astype(np.float64) / BPS
    side = plan.side.astype(np.float64)
    # The END leg: a taker exit at the last print, with its share of the entry fee.
    open_net = (side * (last - entry) - (entry + last) * taker) * open_size
    notional = entry * sizes
    return TradeMoney(
        gross,
        fees,
        net,
        open_net,
        notional,
        open_at_end(out),
        out.exit_time,
        out.end_parts.astype(np.float64) / BPS,
    )


def summarize(
    out: Outcomes, plan: EntryPlan, entries: Entries, price_exp: int, execution: Execution
) -> dict[str, Any]:
    """Per-policy statistics (arrays of length ``policies``), float64, for reports and tables.

    - ``net_pnl`` = gross - fees (quote asset); ``fees``: taker on entries and market exits,
      maker on stop-limits that rested; ``max_drawdown``: of the realised equity curve (trades
      in exit-time order, starting at 0);
    - ``open_trades``: trades with a part still open at the data's end (an END leg);
      ``open_pnl``: those parts' net P&L, marked to market at the last print; ``closed_pnl``:
      the rest (``closed_pnl + open_pnl == net_pnl``); ``closed_trades``: trades with no END
      leg;
    - ``hit_sl``/``hit_tp``/``hit_trail``/``hit_time``/``hit_liq``/``hit_end``: fraction of
      trades by the reason of their last exit (they sum to 1);
    - ``mean_slippage_bps``: fill vs trigger price over triggered and filled exits, positive
      when the fill is worse than the trigger (NaN when nothing triggered);
    - ``mean_time_in_trade_s``: entry fill to exit fill.
    """
    money = trade_money(out, plan, entries, price_exp, execution)
    gross, fees, net, is_open = money.gross, money.fees, money.net, money.open
    open_net = money.open_net
    n = out.shape[1]
    triggered = (out.point >= 0) & ((out.flags & FLAG_LIMIT_UNFILLED) == 0)
    trig = np.where(triggered, out.trigger, 1).astype(np.float64)
    side = plan.side.astype(np.float64)
    slip = side * (trig - out.exit_price) / trig * BPS
    count = triggered.sum(axis=1)
    slip_sum = np.where(triggered, slip, 0.0).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_slip = np.where(count > 0, slip_sum / np.maximum(count, 1), np.nan)
    held = (out.exit_time - plan.time_ms).astype(np.float64) / 1000.0
    return {
        "trades": np.full(out.shape[0], n, dtype=np.int64),
        "net_pnl": net.sum(axis=1),
        "gross_pnl": gross.sum(axis=1),
        "fees": fees.sum(axis=1),
        "max_drawdown": max_drawdown(net, out.exit_time),
        "closed_trades": (~is_open).sum(axis=1),
        "closed_pnl": (net - open_net).sum(axis=1),
        "open_trades": is_open.sum(axis=1),
        "open_pnl": open_net.sum(axis=1),
        "win_rate": (net > 0).mean(axis=1),
        "hit_sl": (out.reason == ExitReason.SL).mean(axis=1),
        "hit_tp": (out.reason == ExitReason.TP).mean(axis=1),
        "hit_trail": (out.reason == ExitReason.TRAIL).mean(axis=1),
        "hit_time": (out.reason == ExitReason.TIME).mean(axis=1),
        "hit_liq": (out.reason == ExitReason.LIQ).mean(axis=1),
        "hit_end": (out.reason == ExitReason.END).mean(axis=1),
        "mean_slippage_bps": mean_slip,
        "mean_time_in_trade_s": held.mean(axis=1),
        "ambiguous_bars": ((out.flags & FLAG_AMBIGUOUS_BAR) != 0).sum(axis=1),
        "unfilled_limits": ((out.flags & FLAG_LIMIT_UNFILLED) != 0).sum(axis=1),
    }


def trade_records(
    out: Outcomes,
    row: int,
    plan: EntryPlan,
    entries: Entries,
    market: Market,
    execution: Execution,
) -> list[dict[str, Any]]:
    """One policy's trades with exact Decimal money, in entry order (the per-trade report).

    ``slippage_vs_trigger_bps`` is positive when the fill is worse than the trigger price.
    """
    taker, maker = execution.taker_fee_bps, execution.maker_fee_bps
    records: list[dict[str, Any]] = []
    for j in range(out.shape[1]):
        side = int(plan.side[j])
        size = entries.size[j]
        entry = market.to_decimal(int(plan.price[j]))
        last_px = market.to_decimal(int(out.exit_price[row, j]))
        # The legs' fraction-weighted average exit price, exact.
        exit_px = market.to_decimal(int(out.exit_value[row, j])) / BPS
        flags = int(out.flags[row, j])
        point = int(out.point[row, j])
        trigger = market.to_decimal(int(out.trigger[row, j])) if point >= 0 else None
        maker_value = (
            last_px * int(out.last_parts[row, j]) / BPS if flags & FLAG_MAKER else Decimal(0)
        )
        fees = (entry * taker + exit_px * taker + maker_value * (maker - taker)) * size / BPS
        gross = side * (exit_px - entry) * size
        # The END leg: its fraction of the size, marked at the last print (a taker exit), with
        # its share of the entry fee (semantics: a leg is fraction x (exit - entry) - its fees).
        end_fraction = Decimal(int(out.end_parts[row, j])) / BPS
        open_size = size * end_fraction
        open_pnl = (
            side * (last_px - entry) * open_size - (entry + last_px) * open_size * taker / BPS
        )
        exit_px = exit_px if int(out.legs[row, j]) > 1 else last_px
        slip = None
        if trigger is not None and not flags & FLAG_LIMIT_UNFILLED:
            slip = (side * (trigger - last_px) / trigger * BPS).quantize(Decimal("0.01"))
        entry_ms = int(plan.time_ms[j])
        exit_ms = int(out.exit_time[row, j])
        records.append(
            {
                "entry_time": iso_ms(entry_ms),
                "entry_time_ms": entry_ms,
                "side": "LONG" if side > 0 else "SHORT",
                "size": size,
                "entry_price": entry,
                "exit_time": iso_ms(exit_ms),
                "exit_time_ms": exit_ms,
                "exit_price": exit_px,
                "reason": ExitReason(int(out.reason[row, j])).name,
                "trigger_price": trigger,
                "slippage_vs_trigger_bps": slip,
                "fees": fees,
                "gross_pnl": gross,
                "pnl": gross - fees,
                "time_in_trade_s": Decimal(exit_ms - entry_ms) / 1000,
                "flags": flag_names(flags),
                "legs": int(out.legs[row, j]),
                "last_exit_price": last_px,
                "end_fraction": end_fraction,
                "levels_filled": int(out.filled_levels[row, j]),
                # The part still open when the data ended: a mark to market, not a fill.
                "open_at_end": end_fraction > 0,
                "open_pnl": open_pnl,
            }
        )
    return records
