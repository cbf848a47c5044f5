"""Benchmark: how long the CLI takes to start. Prints one JSON object.

Each command runs ``--runs`` times as a fresh process (as a user types it), the commands taking
turns, in a fresh temporary directory with no config; the median wall time of each is printed
beside ``python -c pass`` in the same run, and ``above_bare_s`` is the difference (what exitguard
itself costs).

- ``version``: ``exitguard --version``
- ``check_order``: ``exitguard check-order --product usdm-algo --file <the bundled example>``
- ``config_check``: ``exitguard config check`` (built-in defaults: no config file)
- ``status``: ``exitguard status`` (no store yet: the empty-state answer)

Goal: ``--version`` and ``check-order`` at most 0.3 s above the bare interpreter.

Bytecode: by default each command runs once untimed first, with its bytecode cache in the
temporary directory (``PYTHONPYCACHEPREFIX``), so the timed runs see what a user sees from the
second run on (pip writes the caches at install). ``--no-bytecode`` keeps
``PYTHONDONTWRITEBYTECODE`` as the environment has it, so a source tree without caches is compiled
on every run (about 0.05 s more for ``check-order``); the JSON says which (``"bytecode"``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from importlib.resources import files
from pathlib import Path
from typing import Any

import exitguard

GOAL_ABOVE_BARE_S = 0.3


def _wall_s(argv: list[str], cwd: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def _medians_s(
    commands: dict[str, list[str]], cwd: Path, env: dict[str, str], runs: int
) -> dict[str, float]:
    """Round-robin over the commands (the machine is shared: a busy spell hits them all alike)."""
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, argv in commands.items():
            times[name].append(_wall_s(argv, cwd, env))
    return {name: statistics.median(t) for name, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument(
        "--no-bytecode",
        action="store_true",
        help="no warm-up and no bytecode cache of its own (the environment decides)",
    )
    args = parser.parse_args()
    example = str(files("exitguard.examples") / "algo_take_profit.json")
    cli = [sys.executable, "-m", "exitguard"]
    commands = {
        "bare": [sys.executable, "-c", "pass"],
        "version": [*cli, "--version"],
        "check_order": [*cli, "check-order", "--product", "usdm-algo", "--file", example],
        "config_check": [*cli, "config", "check"],
        "status": [*cli, "status"],
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EXITGUARD_", "BINANCE_"))}
    # The commands run in a temporary directory: a relative PYTHONPATH (``PYTHONPATH=src``) would
    # point nowhere there and the installed exitguard would be measured instead of this tree's.
    paths = env.get("PYTHONPATH", "").split(os.pathsep)
    env["PYTHONPATH"] = os.pathsep.join(str(Path(p).resolve()) for p in paths if p)
    with tempfile.TemporaryDirectory() as tmp:
        env["HOME"] = env["XDG_DATA_HOME"] = tmp  # no user config or state leaks in
        if not args.no_bytecode:
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            env["PYTHONPYCACHEPREFIX"] = str(Path(tmp) / "pycache")
            for argv in commands.values():  # untimed: writes the bytecode the timed runs read
                _wall_s(argv, Path(tmp), env)
        medians = _medians_s(commands, Path(tmp), env, args.runs)
    bare = medians["bare"]
    result: dict[str, Any] = {
        "bench": "cli",
        "exitguard": str(Path(exitguard.__file__).parent),
        "runs": args.runs,
        "bytecode": "environment" if args.no_bytecode else "cached",
        "bare_s": round(bare, 3),
    }
    for name in ("version", "check_order", "config_check", "status"):
        result[name] = {
            "median_s": round(medians[name], 3),
            "above_bare_s": round(medians[name] - bare, 3),
        }
    result["goal_met"] = all(
        result[name]["above_bare_s"] <= GOAL_ABOVE_BARE_S for name in ("version", "check_order")
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
