"""The short chaos soak: ``exitguard run`` (PAPER) against the paper venue, both as subprocesses,
under a fixed-seed scenario of price walks and jumps, position changes, Spot deposits and
withdrawals, every venue fault and ``kill -9`` of the manager (see :mod:`exitguard.soak`).

The invariants are the product's promise: no duplicate exit in a slot, no exit the store does not
own left behind, no exit alive for a flat position beyond the grace, no position flipped by an
exit, and no position bare for more than 10 s while the manager runs with no fault (counted from
the change, the restart's ready or the fault's clearing). On failure the report's headline and
worst episodes are in the assertion message and the whole report on stdout.

It runs about 100 s (75 s of scenario, venue and manager startups, shutdown) with two venues and
two managers: the longest test in the suite, on purpose — nothing shorter exercises restarts
under faults.
"""

from __future__ import annotations

import asyncio
import json
import sys

from exitguard.soak.runner import SoakOptions, run_soak

SECONDS = 75.0
SEED = 7
MIN_KILLS = 5


def _headline(report: dict) -> str:
    lanes = {}
    for name, lane in report["per_lane"].items():
        lanes[name] = {
            "bare_worst": lane["bare"]["worst"][:3],
            "stale_worst": lane["stale_exits"]["worst"][:3],
            "duplicates": lane["duplicates"]["per_slot"],
            "flips": lane["reduce_only_flips"]["events"][:3],
            "end": lane["end"],
        }
    return json.dumps(
        {
            "invariants": report["invariants"],
            "kills": report["kills"],
            "startup_s": report["startup_s"],
            "lanes": lanes,
        },
        indent=1,
    )


async def test_short_soak_keeps_every_invariant(tmp_path):
    opts = SoakOptions(seconds=SECONDS, seed=SEED, kill_every_s=8.0, workdir=tmp_path)
    async with asyncio.timeout(SECONDS + 240):
        report = await run_soak(opts, log=lambda m: print(m, file=sys.stderr))
    print(json.dumps(report, indent=1, default=str))
    inv = report["invariants"]
    why = _headline(report)
    assert report["kills"] >= MIN_KILLS, why
    assert inv["stores_read"], why
    assert inv["duplicate_exits"] == 0, why
    assert inv["unowned_exits_at_end"] == 0, why
    assert inv["flat_exits_beyond_grace"] == 0, why
    assert inv["reduce_only_flips"] == 0, why
    assert inv["max_up_bare_episode_s"] <= opts.bare_limit_s, why
