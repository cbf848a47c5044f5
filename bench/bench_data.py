"""Benchmark: rows per second loading a data.binance.vision aggTrades zip, cold and from the cache.

Setup (untimed): one synthetic day of spot BTCUSDT aggTrades in the published format (zip + CSV +
``.CHECKSUM``, microsecond timestamps), about 1,000,000 rows, written to a temporary directory.

Timed, each the median of ``--repeat`` runs (``time.perf_counter_ns``, garbage collector off):

- ``cold``: :func:`exitguard.data.load.load_trades` with ``cache=False``: sha256 of the zip
  against its ``.CHECKSUM``, unzip, the compiled scan, exact integer units, checks, sort check;
- ``cold_and_store``: the same, plus writing the ``.npz`` cache (the first load of a file);
- ``cached``: ``load_trades`` when the ``.npz`` is fresh (stat check, ``np.load``);
- ``naive``: the baseline, :func:`exitguard.domain.market_data.parse_agg_trades` (per-row
  ``Decimal`` parsing, what the venue's replay feed uses), on the first ``--naive-rows`` rows of
  the same CSV text (unzip excluded), and its rows/s; the two parsers' prices are checked equal
  on those rows.

The numba kernel is compiled (or loaded from its cache) before timing. Goal from the brief:
> 1,000,000 rows/s cold. Speed is reported, not asserted. One JSON object goes to stdout.

Run: ``.venv/bin/python bench/bench_data.py [--trades-per-minute 700] [--repeat 5]``
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from exitguard.data.cache import cache_file
from exitguard.data.load import load_trades
from exitguard.data.series import units_to_decimal
from exitguard.data.synth import synth_archives
from exitguard.domain.market_data import parse_agg_trades


def timed(fn: Callable[[], Any], repeat: int, before: Callable[[], None] | None = None) -> float:
    """Median seconds of ``fn`` over ``repeat`` runs; ``before`` runs untimed each time."""
    samples = []
    for _ in range(repeat):
        if before is not None:
            before()
        gc.collect()
        gc.disable()
        try:
            t0 = time.perf_counter_ns()
            fn()
            samples.append((time.perf_counter_ns() - t0) / 1e9)
        finally:
            gc.enable()
    return statistics.median(samples)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--trades-per-minute", type=int, default=700)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--naive-rows", type=int, default=100_000)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="bench_data_") as tmp:
        t0 = time.perf_counter()
        (path,) = synth_archives(
            "BTCUSDT",
            "spot",
            "aggTrades",
            date(2025, 1, 1),
            1,
            seed=20260101,
            out_dir=Path(tmp),
            trades_per_minute=args.trades_per_minute,
        )
        synth_s = time.perf_counter() - t0
        npz = cache_file(path)

        def drop_cache() -> None:
            npz.unlink(missing_ok=True)

        series = load_trades(path, cache=False)  # warm-up: numba kernel compiled / loaded
        rows = len(series)
        cold = timed(lambda: load_trades(path, cache=False), args.repeat)
        store = timed(lambda: load_trades(path), args.repeat, before=drop_cache)
        load_trades(path)  # make sure the cache is there
        cached = timed(lambda: load_trades(path), args.repeat)
        assert load_trades(path).price.tolist() == series.price.tolist()

        with zipfile.ZipFile(path) as zf:
            text = zf.read(zf.namelist()[0]).decode("ascii")
        head = "\n".join(text.split("\n", args.naive_rows)[: args.naive_rows])
        ref: list[Any] = []
        naive = timed(lambda: ref.append(parse_agg_trades(head, "spot")), 1)
        naive_rows = len(ref[-1])
        same = [r.price for r in ref[-1]] == [
            units_to_decimal(int(v), series.price_exp) for v in series.price[:naive_rows]
        ]
        result = {
            "bench": "data",
            "python": platform.python_version(),
            "machine": platform.machine(),
            "cpus": os.cpu_count(),
            "file": {
                "name": path.name,
                "rows": rows,
                "zip_bytes": path.stat().st_size,
                "csv_bytes": len(text),
                "synth_seconds": round(synth_s, 3),
            },
            "repeat": args.repeat,
            "cold": {"seconds": round(cold, 4), "rows_per_s": round(rows / cold)},
            "cold_and_store": {"seconds": round(store, 4), "rows_per_s": round(rows / store)},
            "cached": {"seconds": round(cached, 4), "rows_per_s": round(rows / cached)},
            "naive_domain_parser": {
                "rows": naive_rows,
                "seconds": round(naive, 4),
                "rows_per_s": round(naive_rows / naive),
                "same_prices": same,
            },
            "speedup_cold_vs_naive": round((rows / cold) / (naive_rows / naive), 1),
            "goal_cold_rows_per_s": 1_000_000,
        }
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
