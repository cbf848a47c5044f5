"""``python -m exitguard.soak --seconds N --seed S --out report.json``: run the chaos soak and
print its report (JSON) to stdout; progress goes to stderr. Exit status 0 when every invariant
held, 1 when one did not, 2 on bad arguments."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .generator import LANES
from .runner import SoakOptions, run_soak


def _parse(argv: list[str]) -> tuple[SoakOptions, Path | None, bool]:
    p = argparse.ArgumentParser(prog="python -m exitguard.soak", description=__doc__)
    p.add_argument("--seconds", type=float, default=600.0, help="whole run, settle included")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", type=Path, default=None, help="also write the report here")
    p.add_argument(
        "--lanes",
        default=",".join(lane.name for lane in LANES),
        help="comma-separated: oneway (USD-M one-way + Spot), hedge (USD-M hedge mode)",
    )
    p.add_argument(
        "--kill-every", type=float, default=20.0, help="mean seconds between kills, per lane"
    )
    p.add_argument("--settle", type=float, default=10.0, help="quiet seconds at the end")
    p.add_argument("--grace", type=float, default=3.0, help="grace for stale/duplicate exits")
    p.add_argument("--bare-limit", type=float, default=10.0, help="max bare seconds, manager up")
    p.add_argument("--workdir", type=Path, default=None, help="keep configs, logs, stores here")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    args = p.parse_args(argv)
    try:
        opts = SoakOptions(
            seconds=args.seconds,
            seed=args.seed,
            lanes=tuple(x.strip() for x in args.lanes.split(",") if x.strip()),
            kill_every_s=args.kill_every,
            settle_s=args.settle,
            grace_s=args.grace,
            bare_limit_s=args.bare_limit,
            workdir=args.workdir,
        )
    except ValueError as exc:
        p.error(str(exc))
    return opts, args.out, args.quiet


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


async def _run(opts: SoakOptions, log: Callable[[str], None] | None) -> dict[str, Any]:
    # SIGTERM cancels the soak like Ctrl-C does: its finally blocks kill every subprocess.
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    return await run_soak(opts, log)


def main(argv: list[str] | None = None) -> int:
    opts, out, quiet = _parse(sys.argv[1:] if argv is None else argv)
    log: Callable[[str], None] | None = None if quiet else _stderr
    try:
        report = asyncio.run(_run(opts, log))
    except (KeyboardInterrupt, asyncio.CancelledError):
        _stderr("soak interrupted; subprocesses killed")
        return 130
    text = json.dumps(report, indent=2, default=str)
    print(text)
    if out is not None:
        out.write_text(text + "\n")
    return 0 if report["invariants"]["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
