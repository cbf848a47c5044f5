"""Sweep: a grid of exit policies over many entries, with the numba kernel, chunked over executors.

The grid is split into chunks of policies; each chunk is one kernel call (``prange`` over its
policies) on the precomputed :class:`KernelMarket` of its trigger source. Executors:

- ``local``: chunks run one after the other in this process (numba uses every core);
- ``processes``: a ``concurrent.futures.ProcessPoolExecutor``; each worker receives the markets
  and entries once (initializer) and runs chunks with one numba thread;
- ``ray``: the markets and entries go to the object store once (``ray.put``); chunks are Ray
  tasks. ``ray.init(address=...)`` joins a cluster, otherwise a local instance is started (and
  stopped afterwards); an already initialised Ray is used as is.

Every executor returns the same outcomes, in grid order.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

import numpy as np
import numpy.typing as npt

from exitguard.domain.enums import WorkingType

from .entries import Entries
from .kernel import block_tables, sweep_kernel
from .market import EntryPlan, Market, plan_entries
from .model import (
    MAX_LEVELS,
    BacktestInputError,
    Execution,
    ExitPolicy,
    FillModel,
    Level,
    Move,
    liquidation_price,
)
from .outcomes import Outcomes
from .plan_kernel import plan_kernel

__all__ = [
    "EXECUTORS",
    "Executor",
    "KernelMarket",
    "PolicyGrid",
    "entry_liquidation",
    "evaluate",
    "parse_ladders",
    "parse_optional_values",
    "parse_values",
    "policy_columns",
    "prepare_kernel",
    "run_sweep",
]

I64 = npt.NDArray[np.int64]
Executor = Literal["local", "processes", "ray"]
EXECUTORS: tuple[Executor, ...] = ("local", "processes", "ray")
Progress = Callable[[int, int], None]


def parse_values(text: str, field: str) -> list[int]:
    """``"50,100"``, ``"50:200:50"`` (start:stop:step, stop included) or a mix → sorted ints."""
    values: set[int] = set()
    for part in (p.strip() for p in text.split(",")):
        try:
            if ":" in part:
                bits = [int(b) for b in part.split(":")]
                if len(bits) != 3 or bits[2] <= 0 or bits[1] < bits[0]:
                    raise ValueError
                values.update(range(bits[0], bits[1] + 1, bits[2]))
            else:
                values.add(int(part))
        except ValueError:
            raise BacktestInputError(
                field,
                f"must be integers or start:stop:step ranges separated by commas, got {part!r}",
            ) from None
    return sorted(values)


def parse_ladders(text: str, field: str = "--ladder") -> list[tuple[Level, ...]]:
    """Ladders separated by ``;``, each ``none`` or ``BPS:PERCENT`` levels separated by commas,
    nearest first: ``"50:50,100:50;30:30,60:30,120:40;none"`` (percent with up to 2 decimals:
    33.33 % = 3,333 parts per 10,000). Each ladder is validated as a policy's would be."""
    out: list[tuple[Level, ...]] = []
    for alternative in (a.strip() for a in text.split(";")):
        if alternative.lower() in ("none", "0", ""):
            out.append(())
            continue
        levels: list[Level] = []
        for part in (p.strip() for p in alternative.split(",")):
            try:
                bps_text, pct_text = part.split(":")
                parts = Decimal(pct_text) * 100
                if parts != parts.to_integral_value():
                    raise ValueError
                levels.append(Level(int(bps_text), int(parts)))
            except (ValueError, ArithmeticError):
                raise BacktestInputError(
                    field,
                    f"levels are BPS:PERCENT (percent with at most 2 decimals), got {part!r}",
                ) from None
        try:
            ExitPolicy(ladder=tuple(levels)).validate()
        except BacktestInputError as exc:
            raise BacktestInputError(field, f"{alternative!r}: {exc}") from None
        out.append(tuple(levels))
    return list(dict.fromkeys(out))


def parse_optional_values(text: str, field: str) -> list[int | None]:
    """:func:`parse_values` plus the word ``none`` (the element left out): ``"none,0,5,10"``."""
    words = [w.strip() for w in text.split(",")]
    numbers = [w for w in words if w.lower() != "none"]
    values: list[int | None] = [None] if len(numbers) < len(words) else []
    if numbers:
        values.extend(parse_values(",".join(numbers), field))
    return values


@dataclass(frozen=True, slots=True)
class PolicyGrid:
    """An ordered list of policies (the sweep's rows)."""

    policies: tuple[ExitPolicy, ...]

    def __len__(self) -> int:
        return len(self.policies)

    @classmethod
    def product(
        cls,
        stop_bps: Iterable[int] = (0,),
        take_profit_bps: Iterable[int] = (0,),
        trail_bps: Iterable[int] = (0,),
        activation_bps: Iterable[int] = (0,),
        sources: Iterable[WorkingType] = (WorkingType.CONTRACT_PRICE,),
        stop_limit_bps: int | None = None,
        ladders: Iterable[tuple[Level, ...]] = ((),),
        be_offsets_bps: Iterable[int | None] = (None,),
        be_after_level: int = 1,
        time_stops_ms: Iterable[int] = (0,),
    ) -> PolicyGrid:
        """The cartesian product, in that nesting order (sources outermost, time stops
        innermost). ``be_offsets_bps``: a stop move to break-even + offset after ladder level
        ``be_after_level`` (None: no move).

        Combinations a policy forbids are left out rather than rejected: an activation without
        a trailing stop, a stop-limit offset without a stop, a ladder with a take-profit, a
        break-even move without a stop or without that ladder level. Every value is validated.
        """
        out: list[ExitPolicy] = []
        ladders, be_offsets_bps, time_stops_ms = (
            list(ladders),
            list(be_offsets_bps),
            list(time_stops_ms),
        )
        for source, stop, tp, trail, act, ladder, be, time_ms in itertools.product(
            sources, stop_bps, take_profit_bps, trail_bps, activation_bps, ladders,
            be_offsets_bps, time_stops_ms,
        ):  # fmt: skip
            if act and not trail:
                continue
            if ladder and tp:
                continue
            moves: tuple[Move, ...] = ()
            if be is not None:
                if not stop or len(ladder) < be_after_level:
                    continue
                moves = (Move(be_after_level, be_offset_bps=be),)
            limit = stop_limit_bps if stop else None
            out.append(
                ExitPolicy(
                    stop, tp, trail, act, WorkingType(source), limit,
                    ladder=ladder, stop_moves=moves, time_stop_ms=time_ms,
                ).validate()
            )  # fmt: skip
        if not out:
            raise BacktestInputError("grid", "no valid policy in the grid")
        return cls(tuple(out))

    def arrays(self, rows: Sequence[int]) -> dict[str, I64]:
        """The kernels' int64 policy columns for ``rows`` (plan elements in fixed-size rows)."""
        return policy_columns([self.policies[i] for i in rows])


def policy_columns(picked: Sequence[ExitPolicy]) -> dict[str, I64]:
    """The kernels' int64 columns of ``picked``: one row per policy; ``plain`` is 1 for a policy
    without plan elements (the plain kernel's), the plan columns are (policies, MAX_LEVELS)."""
    count = len(picked)

    def col(values: Iterable[int]) -> I64:
        return np.fromiter(values, dtype=np.int64, count=count)

    wide = {
        name: np.full((count, MAX_LEVELS), fill, dtype=np.int64)
        for name, fill in (
            ("lev_bps", 0), ("lev_parts", 0), ("mv_be", -1), ("mv_to", 0),
            ("roi_ms", 0), ("roi_bps", 0),
        )
    }  # fmt: skip
    for r, p in enumerate(picked):
        for lv, level in enumerate(p.ladder):
            wide["lev_bps"][r, lv] = level.bps
            wide["lev_parts"][r, lv] = level.parts
        for move in p.stop_moves:
            if move.be_offset_bps is not None:
                wide["mv_be"][r, move.after_level - 1] = move.be_offset_bps
            else:
                wide["mv_to"][r, move.after_level - 1] = move.to_level or 0
        for step_no, step in enumerate(p.roi):
            wide["roi_ms"][r, step_no] = step.after_ms
            wide["roi_bps"][r, step_no] = step.tp_bps
    return {
        "plain": col(int(p.plain) for p in picked),
        "stop": col(p.stop_bps for p in picked),
        "tp": col(p.take_profit_bps for p in picked),
        "trail": col(p.trail_bps for p in picked),
        "act": col(p.activation_bps for p in picked),
        "limit": col(-1 if p.stop_limit_bps is None else p.stop_limit_bps for p in picked),
        "trail_after": col(p.trail_after_level for p in picked),
        "nlev": col(len(p.ladder) for p in picked),
        "nroi": col(len(p.roi) for p in picked),
        "time": col(p.time_stop_ms for p in picked),
        "liq_margin": col(-1 if p.liq_margin_bps is None else p.liq_margin_bps for p in picked),
        "liq_within": col(p.liq_close_within_bps for p in picked),
        "liq_parts": col(p.liq_close_parts for p in picked),
        **wide,
    }


@dataclass(frozen=True, slots=True)
class KernelMarket:
    """A :class:`Market` in the kernel's layout (q-space paths, block tables), built once."""

    source: WorkingType
    qs: I64
    tmax: I64
    tmin: I64
    off2: int
    off3: int
    cont: npt.NDArray[np.bool_]
    bars: bool
    path_t: I64
    next_fill: I64
    fill_t: I64
    fill_px: I64
    tick: int


def prepare_kernel(market: Market) -> KernelMarket:
    """q-space rows (long: price, short: -price) and their block maxima/minima."""
    path = market.path
    qs = np.ascontiguousarray(np.stack([path.long, -path.short]).astype(np.int64))
    long_max, long_min, offsets = block_tables(qs[0])
    short_max, short_min, _ = block_tables(qs[1])
    fills = market.fills
    return KernelMarket(
        source=path.source,
        qs=qs,
        tmax=np.ascontiguousarray(np.stack([long_max, short_max])),
        tmin=np.ascontiguousarray(np.stack([long_min, short_min])),
        off2=offsets[1],
        off3=offsets[2],
        cont=np.ascontiguousarray(path.continuous.astype(np.bool_)),
        bars=path.bars,
        path_t=np.ascontiguousarray(path.time_ms.astype(np.int64)),
        next_fill=np.ascontiguousarray(market.next_fill.astype(np.int64)),
        fill_t=np.ascontiguousarray(fills.time_ms.astype(np.int64)),
        fill_px=np.ascontiguousarray(np.stack([fills.sell, fills.buy]).astype(np.int64)),
        tick=int(market.tick),
    )


def entry_liquidation(km: KernelMarket, plan: EntryPlan, execution: Execution) -> I64:
    """Each entry's static liquidation price (:func:`liquidation_price`; 0 without leverage)."""
    if not execution.leverage:
        return np.zeros(len(plan), dtype=np.int64)
    return np.array(
        [
            liquidation_price(
                int(plan.price[j]),
                bool(plan.side[j] > 0),
                execution.leverage,
                execution.maint_margin_bps,
                km.tick,
            )
            for j in range(len(plan))
        ],
        dtype=np.int64,
    )


def evaluate(
    km: KernelMarket,
    plan: EntryPlan,
    columns: dict[str, I64],
    execution: Execution,
    plan_kernel_for_all: bool = False,
) -> Outcomes:
    """Run the kernels for the policies in ``columns`` (see :func:`policy_columns`): plain
    policies through :func:`sweep_kernel`, plans through :func:`plan_kernel` (every policy
    with ``plan_kernel_for_all``, which the tests use to check the two kernels agree)."""
    count = int(columns["stop"].shape[0])
    plain = columns["plain"] != 0 if not plan_kernel_for_all else np.zeros(count, dtype=np.bool_)
    if plain.all():
        return _evaluate_plain(km, plan, columns, execution)
    if not plain.any():
        return _evaluate_plan(km, plan, columns, execution)
    out = Outcomes.empty(count, len(plan))
    for mask, run in ((plain, _evaluate_plain), (~plain, _evaluate_plan)):
        rows = np.flatnonzero(mask)
        if rows.size:
            sub = {name: np.ascontiguousarray(col[rows]) for name, col in columns.items()}
            out.put(rows, run(km, plan, sub, execution))
    return out


def _evaluate_plan(
    km: KernelMarket, plan: EntryPlan, columns: dict[str, I64], execution: Execution
) -> Outcomes:
    if (columns["liq_margin"] >= 0).any() and not execution.leverage:
        raise BacktestInputError("leverage", "a liquidation guard needs the run's leverage > 0")
    out = Outcomes.empty(int(columns["stop"].shape[0]), len(plan))
    plan_kernel(
        km.qs,
        km.tmax,
        km.tmin,
        km.off2,
        km.off3,
        km.cont,
        km.bars,
        km.path_t,
        km.next_fill,
        km.fill_t,
        km.fill_px,
        np.ascontiguousarray(plan.side.astype(np.int8)),
        np.ascontiguousarray(plan.start.astype(np.int64)),
        np.ascontiguousarray(plan.reference.astype(np.int64)),
        np.ascontiguousarray(plan.price.astype(np.int64)),
        np.ascontiguousarray(plan.time_ms.astype(np.int64)),
        entry_liquidation(km, plan, execution),
        columns["stop"],
        columns["tp"],
        columns["trail"],
        columns["act"],
        columns["limit"],
        columns["trail_after"],
        columns["nlev"],
        columns["lev_bps"],
        columns["lev_parts"],
        columns["mv_be"],
        columns["mv_to"],
        columns["nroi"],
        columns["roi_ms"],
        columns["roi_bps"],
        columns["time"],
        columns["liq_margin"],
        columns["liq_within"],
        columns["liq_parts"],
        km.tick,
        int(execution.slippage_bps),
        FillModel(execution.fill) is FillModel.TOUCH,
        out.reason,
        out.point,
        out.trigger,
        out.exit_time,
        out.exit_price,
        out.flags,
        out.legs,
        out.exit_value,
        out.last_parts,
        out.filled_levels,
    )
    return out


def _evaluate_plain(
    km: KernelMarket, plan: EntryPlan, columns: dict[str, I64], execution: Execution
) -> Outcomes:
    out = Outcomes.empty(int(columns["stop"].shape[0]), len(plan))
    sweep_kernel(
        km.qs,
        km.tmax,
        km.tmin,
        km.off2,
        km.off3,
        km.cont,
        km.bars,
        km.path_t,
        km.next_fill,
        km.fill_t,
        km.fill_px,
        np.ascontiguousarray(plan.side.astype(np.int8)),
        np.ascontiguousarray(plan.start.astype(np.int64)),
        np.ascontiguousarray(plan.reference.astype(np.int64)),
        np.ascontiguousarray(plan.price.astype(np.int64)),
        columns["stop"],
        columns["tp"],
        columns["trail"],
        columns["act"],
        columns["limit"],
        km.tick,
        int(execution.slippage_bps),
        FillModel(execution.fill) is FillModel.TOUCH,
        out.reason,
        out.point,
        out.trigger,
        out.exit_time,
        out.exit_price,
        out.flags,
    )
    out.single_leg()
    return out


# -- executors ---------------------------------------------------------------------------------

# (kernel markets by source, plans by source, execution): what every chunk needs.
State = tuple[dict[WorkingType, KernelMarket], dict[WorkingType, EntryPlan], Execution]
Chunk = tuple[WorkingType, list[int], dict[str, I64]]

_WORKER_STATE: State | None = None


def _init_worker(state: State) -> None:
    global _WORKER_STATE
    import numba

    numba.set_num_threads(1)  # one process per core: no nested thread pools
    _WORKER_STATE = state


def _run_chunk(state: State, chunk: Chunk) -> tuple[list[int], Outcomes]:
    kms, plans, execution = state
    source, rows, columns = chunk
    return rows, evaluate(kms[source], plans[source], columns, execution)


def _worker_chunk(chunk: Chunk) -> tuple[list[int], Outcomes]:
    assert _WORKER_STATE is not None, "worker not initialised"
    return _run_chunk(_WORKER_STATE, chunk)


def _chunks(grid: PolicyGrid, chunk_size: int) -> list[Chunk]:
    by_source: dict[WorkingType, list[int]] = {}
    for i, policy in enumerate(grid.policies):
        by_source.setdefault(WorkingType(policy.source), []).append(i)
    out: list[Chunk] = []
    for source, rows in by_source.items():
        for lo in range(0, len(rows), chunk_size):
            part = rows[lo : lo + chunk_size]
            out.append((source, part, grid.arrays(part)))
    return out


def _run_ray(
    state: State, chunks: list[Chunk], address: str | None, report: Progress
) -> list[tuple[list[int], Outcomes]]:
    try:
        import ray
    except ImportError:
        raise BacktestInputError(
            "--executor", "ray is not installed: pip install 'exitguard[ray]'"
        ) from None
    started = False
    if not ray.is_initialized():
        if address:
            ray.init(address=address)
        else:
            ray.init(num_cpus=os.cpu_count() or 1, include_dashboard=False)
        started = True
    try:

        @ray.remote(num_cpus=1)
        def task(state_ref: State, chunk: Chunk) -> tuple[list[int], Outcomes]:
            import numba

            numba.set_num_threads(1)
            return _run_chunk(state_ref, chunk)

        state_ref = ray.put(state)
        pending = [task.remote(state_ref, chunk) for chunk in chunks]
        results = []
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            for ref in ready:
                result = ray.get(ref)
                results.append(result)
                report(len(result[0]), 0)
        return results
    finally:
        if started:
            ray.shutdown()


def run_sweep(
    markets: dict[WorkingType, Market],
    entries: Entries,
    grid: PolicyGrid,
    execution: Execution,
    executor: Executor = "local",
    chunk_size: int = 64,
    workers: int | None = None,
    ray_address: str | None = None,
    progress: Progress | None = None,
) -> tuple[Outcomes, dict[WorkingType, EntryPlan]]:
    """Outcomes of every grid policy (rows, in grid order) over ``entries``, and the entry plans.

    ``markets`` must hold a market for every trigger source in the grid. ``progress(done,
    total)`` counts policies. Raises :class:`BacktestInputError` for a bad executor or chunk size.
    """
    execution.validate()
    if executor not in EXECUTORS:
        raise BacktestInputError("--executor", f"must be local, processes or ray, got {executor!r}")
    if chunk_size <= 0:
        raise BacktestInputError("--chunk-size", f"must be positive, got {chunk_size}")
    needed = {WorkingType(p.source) for p in grid.policies}
    missing = needed - set(markets)
    if missing:
        raise BacktestInputError("--source", f"no market data for {sorted(map(str, missing))}")
    plans = {s: plan_entries(markets[s], entries, execution.slippage_bps) for s in needed}
    state: State = ({s: prepare_kernel(markets[s]) for s in needed}, plans, execution)
    chunks = _chunks(grid, chunk_size)
    out = Outcomes.empty(len(grid), len(entries))
    total = len(grid)
    done = 0

    def report(count: int, _: int) -> None:
        nonlocal done
        done += count
        if progress is not None:
            progress(done, total)

    if executor == "local":
        for chunk in chunks:
            rows, part = _run_chunk(state, chunk)
            out.put(np.asarray(rows, dtype=np.intp), part)
            report(len(rows), total)
        return out, plans
    if executor == "processes":
        n_workers = workers or os.cpu_count() or 1
        # spawn, not fork: forking a process whose numba thread pool has run is not safe.
        with ProcessPoolExecutor(
            max_workers=n_workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=(state,),
        ) as pool:
            futures = [pool.submit(_worker_chunk, chunk) for chunk in chunks]
            for future in as_completed(futures):
                rows, part = future.result()
                out.put(np.asarray(rows, dtype=np.intp), part)
                report(len(rows), total)
        return out, plans
    for rows, part in _run_ray(state, chunks, ray_address, report):
        out.put(np.asarray(rows, dtype=np.intp), part)
    return out, plans
